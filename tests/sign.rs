//! `edgegate sign url|cookies` and `edgegate keygen`, run as the real binary: byte-identical
//! output against the AWS CLI (botocore's signer) for RSA-SHA1 and against the
//! `@aws-sdk/cloudfront-signer` fixtures for SHA-256, and keygen → sign → verify round trips.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Output};

use edgegate::auth::{KeyRing, RequestFacts, verify};

use crate::common::awscli::aws_ok;

const DEMO_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-private.pem");
const DEMO_PUBLIC: &str = include_str!("../keys/demo-public.pem");
const EC_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/signing/ec-private.pem"
);
const EC_PUBLIC: &str = include_str!("fixtures/signing/ec-public.pem");
const END: i64 = 1893456000;

fn edgegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args(args)
        .output()
        .expect("run edgegate")
}

fn edgegate_ok(args: &[&str]) -> String {
    let out = edgegate(args);
    assert!(
        out.status.success(),
        "edgegate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn edgegate_err(args: &[&str]) -> String {
    let out = edgegate(args);
    assert!(!out.status.success(), "edgegate {args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

fn aws_sign(args: &[&str]) -> String {
    let out = aws_ok(&[&["cloudfront", "sign"], args].concat());
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// Splits a signed URL into the verifier's request facts and checks it.
fn verify_url(url: &str, key_id: &str, public_pem: &str, ip: &str, now: i64) -> bool {
    let rest = url.strip_prefix("https://").unwrap();
    let (host, path_query) = rest.split_at(rest.find('/').unwrap());
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let mut ring = KeyRing::new();
    ring.insert(key_id, public_pem).unwrap();
    let facts = RequestFacts {
        scheme: "https",
        host,
        raw_path: path,
        raw_query: query,
        cookie_headers: &[],
        viewer_ip: ip.parse::<IpAddr>().unwrap(),
        now_epoch: now,
    };
    verify(&facts, &[key_id], &ring).is_ok()
}

fn verify_cookie(
    url: &str,
    cookie: &str,
    key_id: &str,
    public_pem: &str,
    now: i64,
) -> Result<(), String> {
    let rest = url.strip_prefix("https://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut ring = KeyRing::new();
    ring.insert(key_id, public_pem).unwrap();
    let cookies = [cookie];
    let facts = RequestFacts {
        scheme: "https",
        host,
        raw_path: path,
        raw_query: None,
        cookie_headers: &cookies,
        viewer_ip: "192.0.2.1".parse().unwrap(),
        now_epoch: now,
    };
    verify(&facts, &[key_id], &ring)
        .map(|_| ())
        .map_err(|d| format!("{d:?}"))
}

#[test]
fn canned_urls_are_byte_identical_to_the_aws_cli() {
    for url in [
        "https://d111111abcdef8.cloudfront.net/index.html",
        "https://d111111abcdef8.cloudfront.net/a%20b/%C3%BC.jpg?x=1%202&y=a+b&z=%2F",
        "http://cdn.example.com:8080/p?q=1",
    ] {
        let theirs = aws_sign(&[
            "--url",
            url,
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            &format!("file://{DEMO_KEY}"),
            "--date-less-than",
            "1893456000",
        ]);
        for expires in [
            "1893456000",
            "2030-01-01T00:00:00Z",
            "2030-01-01T01:00:00+01:00",
        ] {
            let ours = edgegate_ok(&[
                "sign",
                "url",
                "--url",
                url,
                "--key-pair-id",
                "K2JCJMDEHXQW5F",
                "--private-key",
                DEMO_KEY,
                "--expires",
                expires,
            ]);
            assert_eq!(ours, format!("{theirs}\n"), "url {url}, expires {expires}");
        }
        assert!(theirs.contains("Expires=1893456000&Signature="));
    }
}

#[test]
fn custom_urls_are_byte_identical_to_the_aws_cli() {
    let url = "https://d111111abcdef8.cloudfront.net/video/a.mp4?v=2";
    for (ip, start) in [
        (Some("192.0.2.0/24"), Some("1700000000")),
        (Some("192.0.2.7"), None),
        (None, Some("1700000000")),
    ] {
        let mut aws = vec![
            "--url".to_owned(),
            url.into(),
            "--key-pair-id".into(),
            "K2JCJMDEHXQW5F".into(),
            "--private-key".into(),
            format!("file://{DEMO_KEY}"),
            "--date-less-than".into(),
            END.to_string(),
        ];
        let mut ours: Vec<String> = [
            "sign",
            "url",
            "--url",
            url,
            "--key-pair-id",
            "K2JCJMDEHXQW5F",
            "--private-key",
            DEMO_KEY,
            "--expires",
            "1893456000",
        ]
        .map(String::from)
        .to_vec();
        if let Some(ip) = ip {
            aws.extend(["--ip-address".into(), ip.into()]);
            ours.extend(["--ip".into(), ip.into()]);
        }
        if let Some(start) = start {
            aws.extend(["--date-greater-than".into(), start.into()]);
            ours.extend(["--not-before".into(), start.into()]);
        }
        let aws: Vec<&str> = aws.iter().map(String::as_str).collect();
        let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
        let theirs = aws_sign(&aws);
        let mine = edgegate_ok(&ours);
        assert_eq!(mine, format!("{theirs}\n"), "ip {ip:?}, start {start:?}");
        assert!(mine.contains("?v=2&Policy="));
        // And the verifier accepts it from inside the range, after the start.
        assert!(verify_url(
            mine.trim_end(),
            "K2JCJMDEHXQW5F",
            DEMO_PUBLIC,
            "192.0.2.7",
            1800000000
        ));
        assert!(!verify_url(
            mine.trim_end(),
            "K2JCJMDEHXQW5F",
            DEMO_PUBLIC,
            "192.0.2.7",
            END
        ));
    }
}

fn js_case(name: &str) -> serde_json::Value {
    let text = include_str!("fixtures/signing/js-cases.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no js case {name:?}"))
        .clone()
}

#[test]
fn sha256_urls_and_cookies_are_byte_identical_to_the_js_signer() {
    // RSA PKCS#1 v1.5 is deterministic, so the JS signer's fixtures compare byte for byte.
    let expected = js_case("js canned RSA-SHA256")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let ours = edgegate_ok(&[
        "sign",
        "url",
        "--url",
        "https://d111111abcdef8.cloudfront.net/s.txt?a=1",
        "--key-pair-id",
        "KRSADEMO2JCJMD",
        "--private-key",
        DEMO_KEY,
        "--expires",
        "1893456000",
        "--hash-algorithm",
        "SHA256",
    ]);
    assert_eq!(ours, format!("{expected}\n"));

    let case = js_case("js cookies canned RSA-SHA1");
    let expected = case["cookies"][0].as_str().unwrap();
    let ours = edgegate_ok(&[
        "sign",
        "cookies",
        "--url",
        "https://d111111abcdef8.cloudfront.net/k.txt",
        "--key-pair-id",
        "KRSADEMO2JCJMD",
        "--private-key",
        DEMO_KEY,
        "--expires",
        "1893456000",
        "--format",
        "curl",
    ]);
    assert_eq!(ours, format!("{expected}\n"));
}

#[test]
fn ecdsa_urls_and_cookies_verify() {
    for hash in ["SHA1", "SHA256"] {
        let url = edgegate_ok(&[
            "sign",
            "url",
            "--url",
            "https://d111111abcdef8.cloudfront.net/e.txt",
            "--key-pair-id",
            "KECP256EXAMPLE",
            "--private-key",
            EC_KEY,
            "--expires",
            "1893456000",
            "--hash-algorithm",
            hash,
        ]);
        assert!(verify_url(
            url.trim_end(),
            "KECP256EXAMPLE",
            EC_PUBLIC,
            "192.0.2.1",
            END - 10
        ));
        assert!(!verify_url(
            url.trim_end(),
            "KECP256EXAMPLE",
            EC_PUBLIC,
            "192.0.2.1",
            END
        ));

        let cookie = edgegate_ok(&[
            "sign",
            "cookies",
            "--url",
            "https://d111111abcdef8.cloudfront.net/dir/*",
            "--key-pair-id",
            "KECP256EXAMPLE",
            "--private-key",
            EC_KEY,
            "--expires",
            "1893456000",
            "--hash-algorithm",
            hash,
            "--format",
            "curl",
        ]);
        assert!(cookie.contains("CloudFront-Policy="), "{cookie}");
        assert_eq!(
            cookie.contains("CloudFront-Hash-Algorithm=SHA256"),
            hash == "SHA256"
        );
        let c = cookie.trim_end();
        let base = "https://d111111abcdef8.cloudfront.net";
        verify_cookie(
            &format!("{base}/dir/a/b.txt"),
            c,
            "KECP256EXAMPLE",
            EC_PUBLIC,
            END - 10,
        )
        .unwrap();
        assert_eq!(
            verify_cookie(
                &format!("{base}/other/x"),
                c,
                "KECP256EXAMPLE",
                EC_PUBLIC,
                END - 10
            ),
            Err("AccessDenied".into())
        );
    }
}

fn keygen(dir: &Path, alg: &str, name: &str) -> serde_json::Value {
    let out = edgegate_ok(&[
        "keygen",
        "--algorithm",
        alg,
        "--out-dir",
        dir.to_str().unwrap(),
        "--name",
        name,
    ]);
    serde_json::from_str(&out).expect("keygen prints JSON")
}

#[test]
fn keygen_then_sign_then_verify() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for (alg, name, label) in [
        ("rsa", "rsa-key", "-----BEGIN RSA PRIVATE KEY-----"),
        ("ecdsa", "ec-key", "-----BEGIN EC PRIVATE KEY-----"),
    ] {
        let config = keygen(dir.path(), alg, name);
        let private = dir.path().join(format!("{name}-private.pem"));
        let public =
            std::fs::read_to_string(dir.path().join(format!("{name}-public.pem"))).unwrap();
        assert_eq!(config["Name"], name);
        assert_eq!(config["EncodedKey"], public.as_str());
        assert!(
            config["CallerReference"]
                .as_str()
                .unwrap()
                .starts_with(name)
        );
        assert!(config["Comment"].is_string());
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{alg} private key mode");
        assert!(
            std::fs::read_to_string(&private)
                .unwrap()
                .starts_with(label)
        );

        let private = private.to_str().unwrap();
        for hash in ["SHA1", "SHA256"] {
            let url = edgegate_ok(&[
                "sign",
                "url",
                "--url",
                "https://d111111abcdef8.cloudfront.net/k/x.bin?a=1",
                "--key-pair-id",
                "KGEN",
                "--private-key",
                private,
                "--expires",
                "+1h",
                "--ip",
                "192.0.2.0/24",
                "--hash-algorithm",
                hash,
            ]);
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            assert!(
                verify_url(url.trim_end(), "KGEN", &public, "192.0.2.9", now),
                "{alg} {hash}"
            );
            assert!(!verify_url(
                url.trim_end(),
                "KGEN",
                &public,
                "198.51.100.1",
                now
            ));
        }
        if alg == "rsa" {
            // The AWS CLI's signer accepts the PKCS#1 key and produces the same URL.
            let url = "https://d111111abcdef8.cloudfront.net/k/x.bin";
            let theirs = aws_sign(&[
                "--url",
                url,
                "--key-pair-id",
                "KGEN",
                "--private-key",
                &format!("file://{private}"),
                "--date-less-than",
                "1893456000",
            ]);
            let ours = edgegate_ok(&[
                "sign",
                "url",
                "--url",
                url,
                "--key-pair-id",
                "KGEN",
                "--private-key",
                private,
                "--expires",
                "1893456000",
            ]);
            assert_eq!(ours, format!("{theirs}\n"));
        }
        // Never overwrites.
        let e = edgegate_err(&[
            "keygen",
            "--algorithm",
            alg,
            "--out-dir",
            dir.path().to_str().unwrap(),
            "--name",
            name,
        ]);
        assert!(e.contains("already exists"), "{e}");
    }
}

#[test]
fn cookie_output_formats() {
    let base = [
        "sign",
        "cookies",
        "--url",
        "https://d111111abcdef8.cloudfront.net/k.txt",
        "--key-pair-id",
        "KRSADEMO2JCJMD",
        "--private-key",
        DEMO_KEY,
        "--expires",
        "1893456000",
    ];
    let lines = edgegate_ok(&base);
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 3);
    for (line, name) in lines.iter().zip([
        "CloudFront-Key-Pair-Id=KRSADEMO2JCJMD;",
        "CloudFront-Signature=",
        "CloudFront-Expires=1893456000;",
    ]) {
        assert!(line.starts_with(&format!("Set-Cookie: {name}")), "{line}");
        assert!(line.ends_with("; Domain=d111111abcdef8.cloudfront.net; Path=/; Secure; HttpOnly"));
    }
    let json = edgegate_ok(&[&base[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["CloudFront-Expires"], "1893456000");
    assert_eq!(v["CloudFront-Key-Pair-Id"], "KRSADEMO2JCJMD");
    assert_eq!(v.as_object().unwrap().len(), 3);
    // The same signature in every format.
    let curl = edgegate_ok(&[&base[..], &["--format", "curl"]].concat());
    let sig = v["CloudFront-Signature"].as_str().unwrap();
    assert!(curl.contains(&format!("CloudFront-Signature={sig};")));
    assert!(lines[1].contains(sig));
    // A policy file, signed as is.
    let dir = tempfile::tempdir().unwrap();
    let policy = r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/dir/*","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000}}}]}"#;
    let path = dir.path().join("policy.json");
    std::fs::write(&path, format!("{policy}\n")).unwrap();
    let json = edgegate_ok(&[
        "sign",
        "cookies",
        "--url",
        "https://d111111abcdef8.cloudfront.net/dir/",
        "--key-pair-id",
        "KRSADEMO2JCJMD",
        "--private-key",
        DEMO_KEY,
        "--policy",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let expected_policy = js_case("js cookies custom EC-SHA256")["cookies"][0]
        .as_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("CloudFront-Policy="))
        .unwrap()
        .to_owned();
    // The JS signer's policy bytes for the same document (it pads differently: none here).
    assert_eq!(
        v["CloudFront-Policy"]
            .as_str()
            .unwrap()
            .trim_end_matches('_'),
        expected_policy.trim_end_matches('_')
    );
}

#[test]
fn bad_inputs_fail_with_a_clear_message() {
    let sign = |extra: &[&str]| {
        let mut args = vec![
            "sign",
            "url",
            "--url",
            "https://d111111abcdef8.cloudfront.net/x",
            "--key-pair-id",
            "K1",
        ];
        args.extend_from_slice(extra);
        edgegate_err(&args)
    };
    let e = sign(&["--private-key", "/nonexistent/key.pem", "--expires", "+1h"]);
    assert!(
        e.contains("cannot read the private key /nonexistent/key.pem"),
        "{e}"
    );
    let e = sign(&["--private-key", DEMO_KEY, "--expires", "next week"]);
    assert!(e.contains("--expires") && e.contains("RFC 3339"), "{e}");
    let e = sign(&["--private-key", DEMO_KEY, "--expires", "+5y"]);
    assert!(e.contains("unit"), "{e}");
    let e = sign(&[
        "--private-key",
        DEMO_KEY,
        "--expires",
        "+1h",
        "--ip",
        "10.0.0.0/33",
    ]);
    assert!(e.contains("--ip") && e.contains("10.0.0.0/33"), "{e}");
    let e = sign(&[
        "--private-key",
        DEMO_KEY,
        "--expires",
        "+1h",
        "--ip",
        "::1/128",
    ]);
    assert!(e.contains("IPv4"), "{e}");
    let e = sign(&[
        "--private-key",
        concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"),
        "--expires",
        "+1h",
    ]);
    assert!(e.contains("not a private key"), "{e}");
    let e = sign(&["--private-key", DEMO_KEY]);
    assert!(e.contains("--expires"), "{e}");
    let e = edgegate_err(&["keygen", "--algorithm", "dsa", "--out-dir", "/nonexistent"]);
    assert!(e.contains("rsa or ecdsa"), "{e}");
}
