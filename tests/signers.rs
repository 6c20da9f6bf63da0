//! Legacy trusted signers through the real edge: `[[key_pairs]]` declare CloudFront key pairs,
//! URLs signed with them by the AWS CLI open behaviors whose `TrustedSigners` trusts their
//! account, everything else is refused with CloudFront's codes, a behavior whose accounts own no
//! key pair denies every request (with a load warning), and `get-distribution` reports
//! `ActiveTrustedSigners`.

use std::process::Command;

use crate::common::awscli::{aws_json, sign_with_demo_key};
use crate::common::origin::TestOrigin;
use crate::common::*;

const SELF_PAIR: &str = "APKAEDGEGATETEST0001";
const PARTNER_PAIR: &str = "APKAEDGEGATETEST0002";
const PARTNER: &str = "111122223333";
const ORPHAN: &str = "444455556666";
const DEMO_PRIVATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-private.pem");
const EC_PRIVATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/signing/ec-private.pem"
);
const OTHER_PRIVATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/signing/other-rsa-private.pem"
);

/// A distribution on a custom origin at `localhost:{port}` with:
/// - `/legacy/*` trusting `self` (key pair [`SELF_PAIR`], the demo RSA key),
/// - `/partner/*` trusting [`PARTNER`] (key pair [`PARTNER_PAIR`], the EC fixture key),
/// - `/orphan/*` trusting [`ORPHAN`], which owns no key pair,
/// - a public default behavior.
fn config(port: u16) -> String {
    format!(
        r#"
[[key_pairs]]
id = "{SELF_PAIR}"
public_key_file = "keys/demo-public.pem"
account = "self"

[[key_pairs]]
id = "{PARTNER_PAIR}"
public_key_file = "tests/fixtures/signing/ec-public.pem"
account = "{PARTNER}"

[[distributions]]
id = "ESIGNERS0001"
domain_name = "{HOST}"
caller_reference = "signers"
comment = "legacy trusted signers"
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/legacy/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_signers = ["self"]

[[distributions.cache_behaviors]]
path_pattern = "/partner/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_signers = ["{PARTNER}"]

[[distributions.cache_behaviors]]
path_pattern = "/orphan/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_signers = ["{ORPHAN}"]
"#
    )
}

/// A signed path and query for `path` on [`HOST`], valid until 2099. The demo key (PKCS#1) is
/// signed by `aws cloudfront sign` (botocore's CloudFrontSigner); the PKCS#8 fixture keys, which
/// the AWS CLI cannot read, by `edgegate sign url` (byte-identical to it, see tests/sign.rs).
async fn sign(path: &str, key_pair_id: &str, private_key: &str) -> String {
    let url = format!("http://{HOST}{path}");
    let signed = if private_key == DEMO_PRIVATE {
        sign_with_demo_key(&url, key_pair_id, "2099-01-01").await
    } else {
        let (key_pair_id, private_key) = (key_pair_id.to_owned(), private_key.to_owned());
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_edgegate"))
                .args(["sign", "url", "--url", &url, "--key-pair-id", &key_pair_id])
                .args(["--private-key", &private_key, "--expires", "4070908800"])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    signed
        .trim()
        .strip_prefix(&format!("http://{HOST}"))
        .unwrap()
        .to_owned()
}

async fn refused(edge: &TestEdge, path: &str, code: &str) {
    let r = get(edge.viewer, HOST, path).await;
    assert_eq!(r.status, 403, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("text/xml"), "{path}");
    assert!(
        r.text().contains(&format!("<Code>{code}</Code>")),
        "{path}: {}",
        r.text()
    );
}

/// A URL signed with a declared key pair opens a behavior that trusts the key pair's account
/// (`self` or a 12-digit id); unsigned requests, unknown key pairs, another account's key pair
/// and the wrong private key are refused with CloudFront's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pair_signed_urls_open_trusted_signer_behaviors() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port())).await;

    let good = sign("/legacy/a.txt", SELF_PAIR, DEMO_PRIVATE).await;
    let r = get(edge.viewer, HOST, &good).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/legacy/a.txt");
    // The signing parameters do not reach the origin.
    assert_eq!(origin.last().path_and_query, "/legacy/a.txt");

    let partner = sign("/partner/b.txt", PARTNER_PAIR, EC_PRIVATE).await;
    let r = get(edge.viewer, HOST, &partner).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/partner/b.txt");

    // Unsigned: the restriction holds (this served 200 before TrustedSigners was acted on).
    refused(&edge, "/legacy/a.txt", "MissingKey").await;
    refused(&edge, "/partner/b.txt", "MissingKey").await;
    // A key pair id edgegate does not know.
    let unknown = sign("/legacy/a.txt", "APKAUNKNOWNKEYPAIR01", OTHER_PRIVATE).await;
    refused(&edge, &unknown, "InvalidKey").await;
    // Another account's key pair is not trusted by `self`, nor `self`'s by the partner behavior.
    let crossed = sign("/legacy/a.txt", PARTNER_PAIR, EC_PRIVATE).await;
    refused(&edge, &crossed, "InvalidKey").await;
    let crossed = sign("/partner/b.txt", SELF_PAIR, DEMO_PRIVATE).await;
    refused(&edge, &crossed, "InvalidKey").await;
    // The right id with the wrong private key.
    let forged = sign("/legacy/a.txt", SELF_PAIR, OTHER_PRIVATE).await;
    refused(&edge, &forged, "AccessDenied").await;
    // The public default behavior stays public.
    assert_eq!(get(edge.viewer, HOST, "/open.txt").await.status, 200);
    assert_eq!(origin.hits_for("/legacy/a.txt"), 1);
    edge.stop().await;
}

/// A behavior whose trusted accounts own no declared key pair denies every request, signed or
/// not, and the edge says so when it loads the distribution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_signers_without_key_pairs_deny_every_request() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    refused(&edge, "/orphan/c.txt", "MissingKey").await;
    for (pair, key) in [(SELF_PAIR, DEMO_PRIVATE), (PARTNER_PAIR, EC_PRIVATE)] {
        let signed = sign("/orphan/c.txt", pair, key).await;
        refused(&edge, &signed, "InvalidKey").await;
    }
    assert_eq!(origin.hits_for("/orphan/c.txt"), 0);
    let warnings = edge.running.as_ref().unwrap().warnings();
    let warned: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("TrustedSigners"))
        .collect();
    assert_eq!(warned.len(), 1, "{warnings:#?}");
    assert!(
        warned[0].contains("ESIGNERS0001")
            && warned[0].contains("CacheBehaviors.Items[2].TrustedSigners")
            && warned[0].contains("/orphan/*")
            && warned[0].contains(ORPHAN)
            && warned[0].contains("denied"),
        "{}",
        warned[0]
    );
    edge.stop().await;

    // With no key pair declared at all, `self` owns none either: the whole default behavior
    // is closed.
    let closed = config(origin.addr.port())
        .split("[[distributions]]")
        .nth(1)
        .unwrap()
        .replace(
            "[distributions.default_cache_behavior]\n",
            "[distributions.default_cache_behavior]\ntrusted_signers = [\"self\"]\n",
        );
    let edge = TestEdge::start(&format!("[[distributions]]{closed}")).await;
    refused(&edge, "/open.txt", "MissingKey").await;
    let signed = sign("/legacy/a.txt", SELF_PAIR, DEMO_PRIVATE).await;
    refused(&edge, &signed, "InvalidKey").await;
    let warnings = edge.running.as_ref().unwrap().warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("DefaultCacheBehavior.TrustedSigners")),
        "{warnings:#?}"
    );
    edge.stop().await;
}

/// `aws cloudfront get-distribution` and `create-distribution` report `ActiveTrustedSigners`:
/// each trusted account with the ids of its declared key pairs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_distribution_reports_active_trusted_signers() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let ep = format!("http://{}", edge.admin);
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            aws_json(&refs)
        })
    };
    let got = run([
        "--endpoint-url",
        &ep,
        "cloudfront",
        "get-distribution",
        "--id",
        "ESIGNERS0001",
    ]
    .map(String::from)
    .to_vec())
    .await
    .unwrap();
    let active = &got["Distribution"]["ActiveTrustedSigners"];
    assert_eq!(active["Enabled"], true, "{active}");
    assert_eq!(active["Quantity"], 3, "{active}");
    let signer = |account: &str| {
        active["Items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["AwsAccountNumber"] == account)
            .unwrap_or_else(|| panic!("no signer {account} in {active}"))
            .clone()
    };
    assert_eq!(
        signer("self")["KeyPairIds"],
        serde_json::json!({"Quantity": 1, "Items": [SELF_PAIR]})
    );
    assert_eq!(
        signer(PARTNER)["KeyPairIds"],
        serde_json::json!({"Quantity": 1, "Items": [PARTNER_PAIR]})
    );
    assert_eq!(signer(ORPHAN)["KeyPairIds"]["Quantity"], 0);

    // A distribution created through the API is answered the same way.
    let mut cfg = got["Distribution"]["DistributionConfig"].clone();
    cfg["CallerReference"] = "signers-created".into();
    cfg["CacheBehaviors"] = serde_json::json!({"Quantity": 0});
    cfg["DefaultCacheBehavior"]["TrustedSigners"] =
        serde_json::json!({"Enabled": true, "Quantity": 1, "Items": ["000000000000"]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cfg.json");
    std::fs::write(&file, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let created = run(vec![
        "--endpoint-url".into(),
        ep.clone(),
        "cloudfront".into(),
        "create-distribution".into(),
        "--distribution-config".into(),
        format!("file://{}", file.display()),
    ])
    .await
    .unwrap();
    let active = &created["Distribution"]["ActiveTrustedSigners"];
    assert_eq!(
        active,
        &serde_json::json!({
            "Enabled": true,
            "Quantity": 1,
            "Items": [{"AwsAccountNumber": "000000000000", "KeyPairIds": {"Quantity": 1, "Items": [SELF_PAIR]}}]
        })
    );
    edge.stop().await;
}

/// Bad `[[key_pairs]]` stop start-up, each problem named with its place in the file.
#[test]
fn bad_key_pair_declarations_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs.toml");
    let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"))
        .unwrap();
    std::fs::write(
        &file,
        format!(
            r#"
[[public_keys]]
id = "APKASHARED0000000001"
name = "clash"
encoded_key = '''{pem}'''

[[key_pairs]]
id = "APKAMISSINGFILE00001"
public_key_file = "nope/missing.pem"

[[key_pairs]]
id = "APKABADPEM0000000001"
public_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"

[[key_pairs]]
id = "APKAGOOD000000000001"
public_key = '''{pem}'''

[[key_pairs]]
id = "APKAGOOD000000000001"
public_key = '''{pem}'''

[[key_pairs]]
id = "APKABADACCOUNT000001"
public_key = '''{pem}'''
account = "12345"

[[key_pairs]]
id = "APKASHARED0000000001"
public_key = '''{pem}'''
"#
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for needle in [
        "key_pairs[0]: public_key_file",
        "missing.pem",
        "key_pairs[1]: the public key cannot verify signatures",
        "key_pairs[3]: id \"APKAGOOD000000000001\" is declared more than once",
        "key_pairs[4]: account \"12345\" must be self or a 12-digit AWS account id",
        "key_pairs[5]: id \"APKASHARED0000000001\" is declared more than once",
        "5 error(s)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// `edgegate config check` names a behavior whose trusted accounts own no key pair, and passes
/// once a key pair for the account is declared.
#[test]
fn config_check_warns_about_trusted_signers_without_key_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("signers.toml");
    let body = config(8080)
        .split("[[distributions]]")
        .nth(1)
        .unwrap()
        .to_owned();
    let check = |text: String| {
        std::fs::write(&file, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_edgegate"))
            .args(["config", "check"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = check(format!("[[distributions]]{body}"));
    for pattern in ["/legacy/*", "/partner/*", "/orphan/*"] {
        assert!(
            text.lines().any(|l| l.starts_with("warning:")
                && l.contains(pattern)
                && l.contains("TrustedSigners")),
            "no warning for {pattern}:\n{text}"
        );
    }
    let pem = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem");
    let text = check(format!(
        "[[key_pairs]]\nid = \"{SELF_PAIR}\"\npublic_key_file = \"{pem}\"\n\n[[key_pairs]]\nid = \"{PARTNER_PAIR}\"\npublic_key_file = \"{pem}\"\naccount = \"{PARTNER}\"\n\n[[distributions]]{body}"
    ));
    assert!(!text.contains("/legacy/*"), "{text}");
    assert!(!text.contains("/partner/*"), "{text}");
    assert!(text.contains("/orphan/*"), "{text}");
}
