//! Unit tests for the signer: policy bytes, time parsing, key parsing.

use super::*;

const DEMO_PRIVATE: &str = include_str!("../../keys/demo-private.pem");
const EC_PRIVATE: &str = include_str!("../../tests/fixtures/signing/ec-private.pem");

fn opts(url: &str) -> SignOptions {
    SignOptions {
        url: url.into(),
        key_pair_id: "K1".into(),
        expires: Some(1893456000),
        ..Default::default()
    }
}

#[test]
fn canned_policy_bytes_are_canonical() {
    let (p, canned) = build_policy(&opts("https://d1.example/a?x=1&y=2")).unwrap();
    assert!(canned);
    assert_eq!(
        p,
        r#"{"Statement":[{"Resource":"https://d1.example/a?x=1&y=2","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000}}}]}"#
    );
}

#[test]
fn custom_condition_order_follows_the_reference_signer() {
    let mut o = opts("https://d1.example/a");
    o.not_before = Some(1);
    o.ip = Some("10.0.0.1".into());
    let (p, canned) = build_policy(&o).unwrap();
    assert!(!canned);
    assert_eq!(
        p,
        r#"{"Statement":[{"Resource":"https://d1.example/a","Condition":{"DateLessThan":{"AWS:EpochTime":1893456000},"IpAddress":{"AWS:SourceIp":"10.0.0.1/32"},"DateGreaterThan":{"AWS:EpochTime":1}}}]}"#
    );
    o.hash = HashAlgorithm::Sha256;
    let (p, _) = build_policy(&o).unwrap();
    assert!(p.ends_with(r#""DateGreaterThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":"10.0.0.1/32"}}}]}"#), "{p}");
    // A wildcard URL cannot be canned.
    let (_, canned) = build_policy(&opts("https://d1.example/*")).unwrap();
    assert!(!canned);
}

#[test]
fn json_escaping_matches_python_and_javascript() {
    let mut py = String::new();
    json_string(&mut py, "a\"\\/ü😀\u{1}\u{7f}", true);
    assert_eq!(py, r#""a\"\\/\u00fc\ud83d\ude00\u0001\u007f""#);
    let mut js = String::new();
    json_string(&mut js, "a\"\\/ü😀\u{1}\u{7f}", false);
    assert_eq!(js, "\"a\\\"\\\\/ü😀\\u0001\u{7f}\"");
}

#[test]
fn times() {
    assert_eq!(parse_time("1893456000", 0).unwrap(), 1893456000);
    assert_eq!(parse_time("2030-01-01T00:00:00Z", 0).unwrap(), 1893456000);
    assert_eq!(
        parse_time("2030-01-01T01:00:00.9+01:00", 0).unwrap(),
        1893456000
    );
    assert_eq!(parse_time("+1h", 100).unwrap(), 3700);
    assert_eq!(parse_time("+30m", 0).unwrap(), 1800);
    assert_eq!(parse_time("+7d", 0).unwrap(), 604800);
    for bad in [
        "",
        "+",
        "+1",
        "+1y",
        "+h",
        "tomorrow",
        "2030-01-01",
        "+99999999999999w",
        "-5",
    ] {
        let e = parse_time(bad, 0).unwrap_err();
        assert!(e.0.contains("bad time"), "{bad}: {e}");
    }
}

#[test]
fn bad_inputs_are_refused() {
    let key = PrivateKey::from_pem(DEMO_PRIVATE).unwrap();
    let mut o = opts("https://d1.example/a");
    o.ip = Some("10.0.0.0/33".into());
    assert!(sign(&o, &key).unwrap_err().0.contains("--ip"));
    o.ip = Some("2001:db8::/32".into());
    assert!(sign(&o, &key).unwrap_err().0.contains("IPv4"));
    let mut o = opts("ftp://x/a");
    assert!(sign(&o, &key).unwrap_err().0.contains("http"));
    o.url = "https://x/a?Expires=1".into();
    assert!(sign(&o, &key).unwrap_err().0.contains("Expires"));
    let mut o = opts("https://x/a");
    o.expires = None;
    assert!(sign(&o, &key).unwrap_err().0.contains("--expires"));
    let mut o = opts("https://x/a");
    o.not_before = Some(1893456000);
    assert!(sign(&o, &key).unwrap_err().0.contains("earlier"));
    let mut o = opts("https://x/a");
    o.key_pair_id = "bad id".into();
    assert!(sign(&o, &key).unwrap_err().0.contains("key pair id"));
    assert!(PrivateKey::from_pem("hello").unwrap_err().0.contains("PEM"));
    let public = include_str!("../../keys/demo-public.pem");
    assert!(
        PrivateKey::from_pem(public)
            .unwrap_err()
            .0
            .contains("not a private key")
    );
}

#[test]
fn ec_keys_sign_verifiable_der() {
    let key = PrivateKey::from_pem(EC_PRIVATE).unwrap();
    let sig = key.sign(HashAlgorithm::Sha256, b"x").unwrap();
    assert!(p256::ecdsa::Signature::from_der(&sig).is_ok());
}

#[test]
fn key_config_json_is_valid_and_ordered() {
    let j = public_key_config_json(
        "n",
        "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n",
        "ref-1",
    );
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["Name"], "n");
    assert_eq!(v["CallerReference"], "ref-1");
    assert!(j.find("CallerReference").unwrap() < j.find("EncodedKey").unwrap());
}
