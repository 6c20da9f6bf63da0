//! Interop tests: requests signed by botocore's `CloudFrontSigner`, by `cryptography` following
//! CloudFront's rules and by `@aws-sdk/cloudfront-signer` (see `scripts/gen-signing-fixtures.py`),
//! each with the outcome CloudFront gives, plus mutation tests on top of them.

use std::net::IpAddr;

use serde::Deserialize;

use super::*;

const CASES: &str = include_str!("../../tests/fixtures/signing/cases.json");
const JS_CASES: &str = include_str!("../../tests/fixtures/signing/js-cases.json");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/signing/rsa-public.pem");
const EC_PUBLIC: &str = include_str!("../../tests/fixtures/signing/ec-public.pem");
const OTHER_PUBLIC: &str = include_str!("../../tests/fixtures/signing/other-rsa-public.pem");
const DEMO_PUBLIC: &str = include_str!("../../keys/demo-public.pem");

const RSA_ID: &str = "KRSADEMO2JCJMD";
const EC_ID: &str = "KECP256EXAMPLE";
const OTHER_ID: &str = "KOTHERGROUPKEY";

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
struct Case {
    name: String,
    url: String,
    #[serde(default)]
    cookies: Vec<String>,
    ip: String,
    now: i64,
    trusted: Vec<String>,
    expect: String,
    strip: Option<bool>,
    expires_at: Option<i64>,
}

fn ring() -> KeyRing {
    let mut r = KeyRing::new();
    r.insert(RSA_ID, RSA_PUBLIC).unwrap();
    r.insert(EC_ID, EC_PUBLIC).unwrap();
    r.insert(OTHER_ID, OTHER_PUBLIC).unwrap();
    r
}

/// Splits a URL as a server sees it: scheme, Host header, raw path, raw query.
fn split(url: &str) -> (&str, &str, &str, Option<&str>) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let slash = rest.find('/').unwrap_or(rest.len());
    let (host, pq) = rest.split_at(slash);
    match pq.split_once('?') {
        Some((p, q)) => (scheme, host, p, Some(q)),
        None => (scheme, host, pq, None),
    }
}

fn run(c: &Case, keys: &KeyRing, cache: Option<&VerifiedCache>) -> Result<Grant, Denial> {
    let (scheme, host, raw_path, raw_query) = split(&c.url);
    let cookies: Vec<&str> = c.cookies.iter().map(String::as_str).collect();
    let trusted: Vec<&str> = c.trusted.iter().map(String::as_str).collect();
    let req = RequestFacts {
        scheme,
        host,
        raw_path,
        raw_query,
        cookie_headers: &cookies,
        viewer_ip: c.ip.parse::<IpAddr>().unwrap(),
        now_epoch: c.now,
    };
    verify_cached(&req, &trusted, keys, cache)
}

fn outcome(r: &Result<Grant, Denial>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(d) => d.code(),
    }
}

fn all_cases() -> Vec<Case> {
    let mut v: Vec<Case> = serde_json::from_str::<File>(CASES).unwrap().cases;
    v.extend(serde_json::from_str::<File>(JS_CASES).unwrap().cases);
    v
}

#[test]
fn demo_key_fixture_is_the_repository_demo_key() {
    assert_eq!(RSA_PUBLIC.trim(), DEMO_PUBLIC.trim());
}

#[test]
fn every_fixture_gets_the_expected_outcome() {
    let keys = ring();
    let cases = all_cases();
    assert!(cases.len() > 100);
    let mut failures = Vec::new();
    for c in &cases {
        let r = run(c, &keys, None);
        if outcome(&r) != c.expect {
            failures.push(format!(
                "{}: got {}, want {}",
                c.name,
                outcome(&r),
                c.expect
            ));
        }
        if let Ok(g) = &r {
            if let Some(s) = c.strip {
                assert_eq!(g.strip_query, s, "{}", c.name);
            }
            if let Some(e) = c.expires_at {
                assert_eq!(g.expires_at, e, "{}", c.name);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_code_is_exercised() {
    let cases = all_cases();
    for code in [
        "ok",
        "MissingKey",
        "InvalidKey",
        "MalformedSignature",
        "MalformedPolicy",
        "AccessDenied",
    ] {
        assert!(cases.iter().any(|c| c.expect == code), "{code}");
    }
}

#[test]
fn the_cache_gives_the_same_answers_and_skips_nothing_it_should_not() {
    let keys = ring();
    let cache = VerifiedCache::new(1000);
    // Twice through, so the second pass answers from the cache where it can.
    for _ in 0..2 {
        for c in all_cases() {
            assert_eq!(
                outcome(&run(&c, &keys, Some(&cache))),
                c.expect,
                "{}",
                c.name
            );
        }
    }
    assert!(!cache.is_empty());
    // A cached signature still expires with its policy.
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "boto canned with query")
        .unwrap();
    let mut late = c.clone();
    late.now = c.now + 3600;
    assert_eq!(run(&late, &keys, Some(&cache)), Err(Denial::AccessDenied));
}

#[test]
fn a_key_replaced_under_the_same_id_is_not_answered_from_the_cache() {
    let cache = VerifiedCache::new(100);
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "boto canned with query")
        .unwrap();
    assert!(run(&c, &ring(), Some(&cache)).is_ok());
    let mut swapped = ring();
    swapped.insert(RSA_ID, OTHER_PUBLIC).unwrap();
    assert_eq!(run(&c, &swapped, Some(&cache)), Err(Denial::AccessDenied));
}

/// Changing any single character of the signature of a good URL never yields a grant and
/// never panics.
#[test]
fn every_single_character_change_of_a_signature_is_refused() {
    let keys = ring();
    for name in [
        "EC-SHA256 canned",
        "boto custom, wildcard, window, IP range",
    ] {
        let c = all_cases().into_iter().find(|c| c.name == name).unwrap();
        let start = c.url.find("Signature=").unwrap() + "Signature=".len();
        let end = c.url[start..].find('&').map_or(c.url.len(), |e| start + e);
        for i in start..end {
            for repl in ['A', '-', '~', '_', '%', '!'] {
                let mut m = c.clone();
                let orig = &c.url[i..i + 1];
                if orig == repl.to_string() {
                    continue;
                }
                m.url = format!("{}{}{}", &c.url[..i], repl, &c.url[i + 1..]);
                let r = run(&m, &keys, None);
                assert!(r.is_err(), "{name}: byte {i} -> {repl} granted");
            }
        }
    }
}

/// Truncating a good URL anywhere never panics and never grants more than the original.
#[test]
fn truncated_urls_never_panic() {
    let keys = ring();
    for c in all_cases()
        .into_iter()
        .filter(|c| c.expect == "ok")
        .take(20)
    {
        let q = c.url.find('?').unwrap_or(c.url.len());
        for cut in q..c.url.len() {
            let mut m = c.clone();
            m.url.truncate(cut);
            let _ = run(&m, &keys, None);
        }
    }
}

#[test]
fn arbitrary_junk_in_every_field_is_a_denial() {
    let keys = ring();
    let junk = [
        "",
        "=",
        "&&&",
        "Policy",
        "Policy=&Signature=&Key-Pair-Id=",
        "Policy=%FF%FE&Signature=AAAA&Key-Pair-Id=KRSADEMO2JCJMD",
        "Expires=1&Signature=%00&Key-Pair-Id=KRSADEMO2JCJMD",
        "Expires=1&Signature=AAAA&Key-Pair-Id=KRSADEMO2JCJMD&Hash-Algorithm=%FF",
        "Key-Pair-Id=%F0%9F%92%A9",
    ];
    for q in junk {
        for cookie in [
            "",
            "CloudFront-Policy=; CloudFront-Key-Pair-Id=KRSADEMO2JCJMD",
            ";;;=;",
        ] {
            let cookies = [cookie];
            let req = RequestFacts {
                scheme: "https",
                host: "h",
                raw_path: "/",
                raw_query: Some(q),
                cookie_headers: &cookies,
                viewer_ip: "192.0.2.1".parse().unwrap(),
                now_epoch: 0,
            };
            assert!(verify(&req, &[RSA_ID], &keys).is_err(), "{q} / {cookie}");
        }
    }
    let long = format!(
        "Policy={}&Signature=AAAA&Key-Pair-Id={RSA_ID}",
        "A".repeat(1 << 20)
    );
    let req = RequestFacts {
        scheme: "https",
        host: "h",
        raw_path: "/",
        raw_query: Some(&long),
        cookie_headers: &[],
        viewer_ip: "192.0.2.1".parse().unwrap(),
        now_epoch: 0,
    };
    assert_eq!(verify(&req, &[RSA_ID], &keys), Err(Denial::MalformedPolicy));
}

#[test]
fn empty_key_ring_or_trust_list_is_invalid_key() {
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "boto canned with query")
        .unwrap();
    assert_eq!(run(&c, &KeyRing::new(), None), Err(Denial::InvalidKey));
    let mut none = c.clone();
    none.trusted.clear();
    assert_eq!(run(&none, &ring(), None), Err(Denial::InvalidKey));
}

/// OpenSSL, Node and Python do not normalise ECDSA `s`, so about half of real signatures are
/// "high-S": both forms of the same signature must verify.
#[test]
fn ecdsa_high_and_low_s_are_both_accepted() {
    let keys = ring();
    let c = all_cases()
        .into_iter()
        .find(|c| c.name == "EC-SHA256 canned")
        .unwrap();
    let start = c.url.find("Signature=").unwrap() + "Signature=".len();
    let end = c.url[start..].find('&').map_or(c.url.len(), |e| start + e);
    let der = base64::decode(&c.url[start..end], 512).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    let flipped = p256::ecdsa::Signature::from_scalars(sig.r(), -sig.s()).unwrap();
    assert_ne!(flipped, sig);
    for s in [sig, flipped] {
        let mut m = c.clone();
        let enc = base64::encode(s.to_der().as_bytes());
        m.url = format!("{}{}{}", &c.url[..start], enc, &c.url[end..]);
        assert!(run(&m, &keys, None).is_ok(), "{}", m.url);
    }
}
