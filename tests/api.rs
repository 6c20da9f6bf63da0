//! The control plane through a real AWS client (the AWS CLI), the S3 origin through a real S3
//! (LocalStack), durability across restarts and SIGKILL, and `config check`.

use std::process::{Command, Stdio};

use crate::common::awscli::{aws, aws_command, aws_json};
use crate::common::localstack::{create_bucket, put_object, s3_endpoint, unique_bucket};
use crate::common::origin::TestOrigin;
use crate::common::*;

fn fixture_config(bucket: &str, caller: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/s3-distribution.json"
    ))
    .unwrap();
    let text = text.replace("BUCKET", bucket).replace("CALLER_REF", caller);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["DistributionConfig"].clone()
}

fn write_json(dir: &std::path::Path, name: &str, v: &serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    format!("file://{}", p.display())
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the CLI on a blocking thread (the edge runs on the same runtime).
async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws(&refs)
    })
    .await
    .unwrap()
}

async fn cli_json(args: Vec<String>) -> serde_json::Value {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws_json(&refs)
    })
    .await
    .unwrap()
}

fn cf(endpoint: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--endpoint-url".to_owned(),
        endpoint.to_owned(),
        "cloudfront".to_owned(),
    ];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// `aws cloudfront sign` (botocore's CloudFrontSigner) with the demo private key: the signed URL.
async fn cli_sign(url: &str, key_id: &str, until: &str, extra: &[&str]) -> String {
    let key = concat!(
        "file://",
        env!("CARGO_MANIFEST_DIR"),
        "/keys/demo-private.pem"
    );
    let mut args: Vec<String> = ["cloudfront", "sign", "--url", url, "--key-pair-id", key_id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--private-key", key, "--date-less-than", until].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = cli(args).await;
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_origin_in_localstack_via_aws_cli_with_invalidation_and_restart() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("eg-dist");
    create_bucket(&bucket);
    put_object(&bucket, "index.html", b"<h1>home</h1>", "text/html", None);
    put_object(
        &bucket,
        "img/logo.txt",
        b"logo-v1",
        "text/plain",
        Some("max-age=3600"),
    );

    let config = format!("s3_endpoint = \"{endpoint}\"\n");
    let edge = TestEdge::start(&config).await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_json(tmp.path(), "dist.json", &fixture_config(&bucket, "s3-test"));

    let created = cli_json(cf(
        &ep,
        &["create-distribution", "--distribution-config", &cfg],
    ))
    .await;
    let dist = &created["Distribution"];
    let id = dist["Id"].as_str().unwrap().to_owned();
    let domain = dist["DomainName"].as_str().unwrap().to_owned();
    assert!(id.starts_with('E') && id.len() == 14, "{id}");
    let label = domain
        .strip_suffix(".cloudfront.localhost")
        .expect("domain suffix");
    assert!(label.len() == 14 && label.starts_with('d'), "{domain}");
    assert!(
        label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert!(created["ETag"].as_str().is_some());
    assert_eq!(
        dist["DistributionConfig"]["Origins"]["Items"][0]["DomainName"],
        format!("{bucket}.s3.amazonaws.com")
    );

    // Served from the bucket; the second request is a hit.
    let r = get(edge.viewer, &domain, "/img/logo.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "logo-v1");
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let r = get(edge.viewer, &domain, "/img/logo.txt").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    let r = get(edge.viewer, &domain, "/").await;
    assert_eq!(r.text(), "<h1>home</h1>");
    let r = get(edge.viewer, &domain, "/nope.txt").await;
    assert!(
        r.status == 403 || r.status == 404,
        "S3 answers a missing key with 403/404: {}",
        r.status
    );
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));

    // A new version in the bucket is not seen until an invalidation.
    put_object(
        &bucket,
        "img/logo.txt",
        b"logo-v2",
        "text/plain",
        Some("max-age=3600"),
    );
    assert_eq!(
        get(edge.viewer, &domain, "/img/logo.txt").await.text(),
        "logo-v1"
    );
    let inv = cli_json(cf(
        &ep,
        &[
            "create-invalidation",
            "--distribution-id",
            &id,
            "--paths",
            "/img/*",
        ],
    ))
    .await;
    assert_eq!(inv["Invalidation"]["Status"], "Completed");
    let inv_id = inv["Invalidation"]["Id"].as_str().unwrap().to_owned();
    let r = get(edge.viewer, &domain, "/img/logo.txt").await;
    assert_eq!(r.text(), "logo-v2");
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));

    // Everything survives a restart.
    let data = edge.stop().await;
    let edge = TestEdge::start_in(&config, data).await;
    let ep = format!("http://{}", edge.admin);
    let got = cli_json(cf(&ep, &["get-distribution", "--id", &id])).await;
    assert_eq!(got["Distribution"]["DomainName"], domain.as_str());
    let got = cli_json(cf(
        &ep,
        &[
            "get-invalidation",
            "--distribution-id",
            &id,
            "--id",
            &inv_id,
        ],
    ))
    .await;
    assert_eq!(
        got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"][0],
        "/img/*"
    );
    let r = get(edge.viewer, &domain, "/img/logo.txt").await;
    assert_eq!(r.text(), "logo-v2");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_crud_etags_and_errors_via_aws_cli() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();

    // Managed policies are listed with their real ids.
    let policies = cli_json(cf(&ep, &["list-cache-policies", "--type", "managed"])).await;
    let ids: Vec<&str> = policies["CachePolicyList"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["CachePolicy"]["Id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"658327ea-f89d-4fab-a63d-7e88639e58f6"),
        "{ids:?}"
    );
    assert!(ids.contains(&"4135ea2d-6df8-44a3-9df3-4b5a84be39ad"));
    let orp = cli_json(cf(
        &ep,
        &[
            "get-origin-request-policy",
            "--id",
            "216adef6-5c7f-47e4-b989-5492eafa07d3",
        ],
    ))
    .await;
    assert_eq!(
        orp["OriginRequestPolicy"]["OriginRequestPolicyConfig"]["Name"],
        "Managed-AllViewer"
    );

    // Public key, idempotent on CallerReference.
    let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"))
        .unwrap();
    let key_cfg = serde_json::json!({"CallerReference": "k1", "Name": "key-one", "EncodedKey": pem, "Comment": "test"});
    let key_file = write_json(tmp.path(), "key.json", &key_cfg);
    let k1 = cli_json(cf(
        &ep,
        &["create-public-key", "--public-key-config", &key_file],
    ))
    .await;
    let key_id = k1["PublicKey"]["Id"].as_str().unwrap().to_owned();
    let again = cli_json(cf(
        &ep,
        &["create-public-key", "--public-key-config", &key_file],
    ))
    .await;
    assert_eq!(again["PublicKey"]["Id"], key_id.as_str());

    // Key group over it; the key cannot be deleted while grouped.
    let kg_file = write_json(
        tmp.path(),
        "kg.json",
        &serde_json::json!({"Name": "group-one", "Items": [key_id]}),
    );
    let kg = cli_json(cf(
        &ep,
        &["create-key-group", "--key-group-config", &kg_file],
    ))
    .await;
    let kg_id = kg["KeyGroup"]["Id"].as_str().unwrap().to_owned();
    let key_etag = cli_json(cf(&ep, &["get-public-key", "--id", &key_id])).await["ETag"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = cli(cf(
        &ep,
        &[
            "delete-public-key",
            "--id",
            &key_id,
            "--if-match",
            &key_etag,
        ],
    ))
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PublicKeyInUse"), "{}", stderr(&out));
    let groups = cli_json(cf(&ep, &["list-key-groups"])).await;
    assert_eq!(groups["KeyGroupList"]["Quantity"], 1);

    // A distribution on a custom origin, trusting the key group on one behavior.
    let dist_cfg = serde_json::json!({
        "CallerReference": "d1", "Comment": "api test", "Enabled": true,
        "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "localhost",
            "CustomOriginConfig": {"HTTPPort": origin.addr.port(), "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        "CacheBehaviors": {"Quantity": 1, "Items": [{"PathPattern": "/private/*", "TargetOriginId": "web",
            "ViewerProtocolPolicy": "allow-all", "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            "TrustedKeyGroups": {"Enabled": true, "Quantity": 1, "Items": [kg_id]}}]}
    });
    let dist_file = write_json(tmp.path(), "d.json", &dist_cfg);
    let d = cli_json(cf(
        &ep,
        &["create-distribution", "--distribution-config", &dist_file],
    ))
    .await;
    let id = d["Distribution"]["Id"].as_str().unwrap().to_owned();
    let domain = d["Distribution"]["DomainName"].as_str().unwrap().to_owned();
    assert_eq!(
        get(edge.viewer, &domain, "/hello").await.text(),
        "origin:/hello"
    );
    assert_eq!(get(edge.viewer, &domain, "/private/x").await.status, 403);

    // CallerReference reuse with a different config.
    let mut other = dist_cfg.clone();
    other["Comment"] = "changed".into();
    let other_file = write_json(tmp.path(), "d2.json", &other);
    let out = cli(cf(
        &ep,
        &["create-distribution", "--distribution-config", &other_file],
    ))
    .await;
    assert!(
        stderr(&out).contains("DistributionAlreadyExists"),
        "{}",
        stderr(&out)
    );

    // ETag / If-Match.
    let conf = cli_json(cf(&ep, &["get-distribution-config", "--id", &id])).await;
    let etag = conf["ETag"].as_str().unwrap().to_owned();
    let mut disabled = conf["DistributionConfig"].clone();
    disabled["Enabled"] = false.into();
    let disabled_file = write_json(tmp.path(), "d3.json", &disabled);
    let out = cli(cf(
        &ep,
        &[
            "update-distribution",
            "--id",
            &id,
            "--if-match",
            "EWRONG",
            "--distribution-config",
            &disabled_file,
        ],
    ))
    .await;
    assert!(
        stderr(&out).contains("PreconditionFailed"),
        "{}",
        stderr(&out)
    );
    let out = cli(cf(
        &ep,
        &[
            "update-distribution",
            "--id",
            &id,
            "--distribution-config",
            &disabled_file,
        ],
    ))
    .await;
    assert!(
        stderr(&out).contains("InvalidIfMatchVersion"),
        "{}",
        stderr(&out)
    );
    let out = cli(cf(
        &ep,
        &["delete-distribution", "--id", &id, "--if-match", &etag],
    ))
    .await;
    assert!(
        stderr(&out).contains("DistributionNotDisabled"),
        "{}",
        stderr(&out)
    );
    let upd = cli_json(cf(
        &ep,
        &[
            "update-distribution",
            "--id",
            &id,
            "--if-match",
            &etag,
            "--distribution-config",
            &disabled_file,
        ],
    ))
    .await;
    let etag2 = upd["ETag"].as_str().unwrap().to_owned();
    assert_ne!(etag, etag2);
    // Disabled: the data plane refuses it.
    assert_eq!(get(edge.viewer, &domain, "/hello").await.status, 403);
    let out = cli(cf(
        &ep,
        &["delete-distribution", "--id", &id, "--if-match", &etag2],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(cf(&ep, &["get-distribution", "--id", &id])).await;
    assert!(
        stderr(&out).contains("NoSuchDistribution"),
        "{}",
        stderr(&out)
    );

    // Validation errors name the field.
    let bad = serde_json::json!({"CallerReference": "bad", "Comment": "", "Enabled": true,
        "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "localhost",
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "nowhere", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}});
    let bad_file = write_json(tmp.path(), "bad.json", &bad);
    let out = cli(cf(
        &ep,
        &["create-distribution", "--distribution-config", &bad_file],
    ))
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("TargetOriginId"), "{}", stderr(&out));
    edge.stop().await;
}

#[tokio::test]
async fn malformed_api_requests_get_xml_errors_not_500s() {
    let edge = TestEdge::start("").await;
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        ("POST", "/2020-05-31/distribution", b"<DistributionConfig><Oops>", 400, "MalformedInput"),
        ("POST", "/2020-05-31/distribution", b"", 400, "MissingBody"),
        ("POST", "/2020-05-31/distribution", b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><DistributionConfig>&e;</DistributionConfig>", 400, "MalformedInput"),
        ("POST", "/2020-05-31/public-key", b"<PublicKeyConfig xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Name>x</Name></PublicKeyConfig>", 400, ""),
        ("GET", "/2020-05-31/distribution/ENOPE", b"", 404, "NoSuchDistribution"),
        ("DELETE", "/2020-05-31/distribution/ENOPE", b"", 404, "NoSuchDistribution"),
        ("GET", "/2020-05-31/streaming-distribution", b"", 400, "UnsupportedOperation"),
        ("GET", "/2020-05-31/distribution?MaxItems=abc", b"", 400, "InvalidArgument"),
    ];
    for (method, path, body, status, code) in cases {
        let r = send(edge.admin, method, "localhost", path, &[], body).await;
        assert_eq!(r.status, *status, "{method} {path}: {}", r.text());
        assert!(r.text().contains("<ErrorResponse"), "{}", r.text());
        assert!(r.text().contains(code), "{method} {path}: {}", r.text());
    }
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let r = send(
        edge.admin,
        "POST",
        "localhost",
        "/2020-05-31/distribution",
        &[],
        deep.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 400);
    let huge = vec![b'x'; 2 << 20];
    let r = send(
        edge.admin,
        "POST",
        "localhost",
        "/2020-05-31/distribution",
        &[],
        &huge,
    )
    .await;
    assert_eq!(r.status, 400);
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_credentials_require_sigv4() {
    let edge = TestEdge::start("admin_credentials = \"AKIDEDGEGATETEST:s3cr3t-key\"\n").await;
    let ep = format!("http://{}", edge.admin);
    let run = |id: &'static str, secret: &'static str| {
        let ep = ep.clone();
        tokio::task::spawn_blocking(move || {
            aws_command(&["--endpoint-url", &ep, "cloudfront", "list-distributions"])
                .env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret)
                .output()
                .unwrap()
        })
    };
    let ok = run("AKIDEDGEGATETEST", "s3cr3t-key").await.unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let wrong = run("AKIDEDGEGATETEST", "nope").await.unwrap();
    assert!(
        stderr(&wrong).contains("SignatureDoesNotMatch"),
        "{}",
        stderr(&wrong)
    );
    let unknown = run("AKIDUNKNOWN", "s3cr3t-key").await.unwrap();
    assert!(
        stderr(&unknown).contains("InvalidClientTokenId"),
        "{}",
        stderr(&unknown)
    );
    let r = get(edge.admin, "localhost", "/2020-05-31/distribution").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("MissingAuthenticationToken"));
    edge.stop().await;
}

/// Starts the real binary and returns it with its admin endpoint (`http://…`).
fn spawn_binary(data_dir: &std::path::Path) -> (std::process::Child, String) {
    let edge = crate::common::process::spawn(
        crate::common::process::serve_command()
            .arg("--data-dir")
            .arg(data_dir)
            .stderr(Stdio::null()),
        None,
    );
    (edge.child, format!("http://{}", edge.admin))
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, ep) = spawn_binary(dir.path());
    let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"))
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let f = write_json(
            tmp.path(),
            &format!("k{i}.json"),
            &serde_json::json!({"CallerReference": format!("kill-{i}"), "Name": format!("kill-{i}"), "EncodedKey": pem}),
        );
        let refs = [
            "--endpoint-url",
            &ep,
            "cloudfront",
            "create-public-key",
            "--public-key-config",
            &f,
        ];
        ids.push(
            aws_json(&refs)["PublicKey"]["Id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (mut child, ep) = spawn_binary(dir.path());
    let list = aws_json(&["--endpoint-url", &ep, "cloudfront", "list-public-keys"]);
    let got: Vec<&str> = list["PublicKeyList"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Id"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(
            got.contains(&id.as_str()),
            "{id} lost after SIGKILL: {got:?}"
        );
    }
    sigterm_and_wait(&mut child);
}

fn sigterm_and_wait(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
}

#[test]
fn config_check_reports_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"
billing_region = "XX"
[[distributions]]
caller_reference = "x"
comment = "bad"
enabled = true
[[distributions.origins]]
id = "o"
domain_name = "localhost"
[distributions.default_cache_behavior]
target_origin_id = "o"
viewer_protocol_policy = "sometimes"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions]]
caller_reference = "y"
comment = "bad too"
enabled = true
[[distributions.origins]]
id = "o"
domain_name = "localhost"
connection_attempts = 9
custom_origin_config = { http_port = 8081, https_port = 443, origin_protocol_policy = "http-only" }
[distributions.default_cache_behavior]
target_origin_id = "missing"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "bad.toml",
        "billing_region",
        "distributions[0]",
        "viewer_protocol_policy",
        "distributions[1]",
        "ConnectionAttempts is 9",
        "TargetOriginId \"missing\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/edgegate.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args(["config", "check", good])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A config file can declare a distribution by pointing at the JSON that
/// `aws cloudfront get-distribution-config` printed, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_distribution_from_get_distribution_config_json() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "CallerReference": "json-export", "Comment": "exported", "Enabled": true,
        "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "localhost",
            "CustomOriginConfig": {"HTTPPort": origin.addr.port(), "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}
    });
    let file = write_json(tmp.path(), "in.json", &cfg);
    let created = cli_json(cf(
        &ep,
        &["create-distribution", "--distribution-config", &file],
    ))
    .await;
    let id = created["Distribution"]["Id"].as_str().unwrap().to_owned();
    let out = cli(cf(&ep, &["get-distribution-config", "--id", &id])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let exported = tmp.path().join("exported.json");
    std::fs::write(&exported, &out.stdout).unwrap();
    edge.stop().await;

    let config = format!(
        "[[distributions]]\nid = \"EDECLARED0001\"\ndomain_name = \"declared.example.test\"\nconfig_file = \"{}\"\n",
        exported.display()
    );
    let edge = TestEdge::start(&config).await;
    let r = get(edge.viewer, "declared.example.test", "/from-json").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/from-json");
    let got = cli_json(cf(
        &format!("http://{}", edge.admin),
        &["get-distribution", "--id", "EDECLARED0001"],
    ))
    .await;
    assert_eq!(
        got["Distribution"]["DistributionConfig"]["Comment"],
        "exported"
    );
    edge.stop().await;
}

/// Signed URLs made by the AWS CLI's `cloudfront sign` (botocore's CloudFrontSigner) open the
/// restricted behavior; tampered, expired and unknown-key URLs are refused with CloudFront's
/// codes; signing parameters stay out of the cache key and the origin request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_from_the_aws_cli_open_restricted_behaviors() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&without_403_page(&custom_origin_config(origin.addr.port()))).await;
    let sign = |url: &str, key_id: &str, until: &str| {
        let (url, key_id, until) = (url.to_owned(), key_id.to_owned(), until.to_owned());
        async move {
            let signed = cli_sign(&url, &key_id, &until, &[]).await;
            signed
                .strip_prefix(&format!("http://{HOST}"))
                .unwrap()
                .to_owned()
        }
    };
    let url = format!("http://{HOST}/private/report.txt");
    let good = sign(&url, "KTESTKEY00001", "2099-01-01").await;
    let r = get(edge.viewer, HOST, &good).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/private/report.txt");
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    // Another viewer's signature for the same object shares the cached copy.
    let other = sign(&url, "KTESTKEY00001", "2098-06-01").await;
    assert_ne!(good, other);
    let r = get(edge.viewer, HOST, &other).await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits_for("/private/report.txt"), 1);

    let refused = |path: String, code: &'static str| {
        let addr = edge.viewer;
        async move {
            let r = get(addr, HOST, &path).await;
            assert_eq!(r.status, 403, "{path}");
            assert_eq!(r.header("content-type"), Some("text/xml"));
            assert!(
                r.text().contains(&format!("<Code>{code}</Code>")),
                "{path}: {}",
                r.text()
            );
        }
    };
    // One character of the signature changed (still valid CloudFront base64).
    let at = good.find("Signature=").unwrap() + "Signature=".len() + 10;
    let flipped = if &good[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &good[..at], &good[at + 1..]);
    refused(tampered, "AccessDenied").await;
    refused(
        good.replace("Signature=", "Signature=%%%"),
        "MalformedSignature",
    )
    .await;
    refused(
        sign(&url, "KTESTKEY00001", "2001-01-01").await,
        "AccessDenied",
    )
    .await;
    refused(
        sign(&url, "KUNKNOWNKEY01", "2099-01-01").await,
        "InvalidKey",
    )
    .await;
    refused("/private/report.txt".to_owned(), "MissingKey").await;
    // A URL signed for one object does not open another.
    refused(good.replace("report.txt", "other.txt"), "AccessDenied").await;
    edge.stop().await;
}

/// Signed cookies carry the same three values as a custom-policy signed URL; the AWS CLI's
/// custom-policy URL, turned into `CloudFront-*` cookies, opens the restricted behavior, and the
/// cookies never reach the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cookies_open_restricted_behaviors() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&without_403_page(&custom_origin_config(origin.addr.port()))).await;
    let url = format!("http://{HOST}/private/cookie.txt");
    let signed = cli_sign(
        &url,
        "KTESTKEY00001",
        "2099-01-01",
        &["--date-greater-than", "2001-01-01"],
    )
    .await;
    let query = signed.trim().split_once('?').unwrap().1.to_owned();
    let cookie: Vec<String> = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            format!("CloudFront-{k}={v}")
        })
        .collect();
    assert!(cookie.iter().any(|c| c.starts_with("CloudFront-Policy=")));
    let cookie = cookie.join("; ");
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/private/cookie.txt",
        &[("cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        origin.last().headers.get("cookie").is_none(),
        "signed cookies reach the origin"
    );
    let bad = cookie.replace(
        "CloudFront-Key-Pair-Id=KTESTKEY00001",
        "CloudFront-Key-Pair-Id=KNOPE",
    );
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/private/cookie.txt",
        &[("cookie", &bad)],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("InvalidKey"), "{}", r.text());
    edge.stop().await;
}

/// Key rotation through the API takes effect on the next request, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_through_the_api_applies_at_once() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&without_403_page(&custom_origin_config(origin.addr.port()))).await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://{HOST}/private/rotate.txt");
    let signed = cli_sign(&url, "KTESTKEY00001", "2099-01-01", &[]).await;
    let path = signed
        .trim()
        .strip_prefix(&format!("http://{HOST}"))
        .unwrap()
        .to_owned();
    assert_eq!(get(edge.viewer, HOST, &path).await.status, 200);

    // Rotate: a new key joins the group and the old one leaves it.
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/signing/other-rsa-public.pem"
    ))
    .unwrap();
    let kf = write_json(
        tmp.path(),
        "k.json",
        &serde_json::json!({"CallerReference": "rot", "Name": "rotated", "EncodedKey": pem}),
    );
    let k = cli_json(cf(&ep, &["create-public-key", "--public-key-config", &kf])).await;
    let new_id = k["PublicKey"]["Id"].as_str().unwrap().to_owned();
    let group = "5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f";
    let current = cli_json(cf(&ep, &["get-key-group-config", "--id", group])).await;
    let etag = current["ETag"].as_str().unwrap().to_owned();
    let gf = write_json(
        tmp.path(),
        "g.json",
        &serde_json::json!({"Name": "test-group", "Items": [new_id]}),
    );
    let out = cli(cf(
        &ep,
        &[
            "update-key-group",
            "--id",
            group,
            "--if-match",
            &etag,
            "--key-group-config",
            &gf,
        ],
    ))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("InvalidKey"), "{}", r.text());
    edge.stop().await;
}
