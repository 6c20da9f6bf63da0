//! A second SDK against the API: the AWS SDK for JavaScript v3 (`@aws-sdk/client-cloudfront`,
//! installed into `tests/node` by `scripts/setup-test-env`) creates a cache policy, a response
//! headers policy and a distribution that uses both, and reads them back; boto3 reads the same
//! resources. Two independent serialisers and parsers must agree with each other and with what
//! was sent.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::api_codes::boto3;
use crate::common::TestEdge;

/// Runs `tests/node/roundtrip.mjs` against `endpoint`; returns what it printed.
async fn node_roundtrip(endpoint: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let sdk = dir.join("node_modules/@aws-sdk/client-cloudfront/package.json");
    assert!(
        sdk.is_file(),
        "{} is missing: run scripts/setup-test-env (or the suite with scripts/test)",
        sdk.display()
    );
    let endpoint = endpoint.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new("node");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        let out = cmd
            .arg(dir.join("roundtrip.mjs"))
            .current_dir(&dir)
            .env("EG_ENDPOINT", endpoint)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap_or_else(|e| panic!("node: {e} (scripts/setup-test-env installs it)"));
        assert!(
            out.status.success(),
            "the JavaScript SDK script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "the JavaScript SDK script printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_sdk_and_boto3_agree_on_what_they_wrote_and_read() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let js = node_roundtrip(&ep).await;
    let ids = &js["ids"];
    // What the JavaScript SDK sent is what it reads back, on create and on get.
    for what in ["cp", "rhp", "dist"] {
        assert_eq!(
            js["created"][what], js["get"][what],
            "{what}: create and get differ"
        );
    }
    let cp = &js["get"]["cp"];
    assert_eq!(cp["DefaultTTL"], 60);
    assert_eq!(cp["Comment"], "");
    let key = &cp["ParametersInCacheKeyAndForwardedToOrigin"];
    assert_eq!(
        key["HeadersConfig"]["Headers"],
        json!({"Quantity": 1, "Items": ["Origin"]})
    );
    assert_eq!(
        key["QueryStringsConfig"]["QueryStrings"]["Items"],
        json!(["utm"])
    );
    let rhp = &js["get"]["rhp"];
    assert_eq!(rhp["ServerTimingHeadersConfig"]["SamplingRate"], 12.5);
    assert_eq!(
        rhp["CustomHeadersConfig"]["Items"],
        json!([{"Header": "X-Env", "Value": "", "Override": false}])
    );
    assert_eq!(
        rhp["CorsConfig"]["AccessControlAllowMethods"]["Items"],
        json!(["GET", "OPTIONS"])
    );
    let dist = &js["get"]["dist"];
    assert_eq!(
        dist["DefaultCacheBehavior"]["ResponseHeadersPolicyId"],
        ids["rhp"]
    );
    assert_eq!(dist["DefaultCacheBehavior"]["CachePolicyId"], ids["cp"]);
    assert_eq!(js["by_rhp"], json!([ids["dist"]]));
    // boto3 reads the same three configs, field for field.
    let script = format!(
        r#"
out["cp"] = cf.get_cache_policy_config(Id="{cp}")["CachePolicyConfig"]
out["rhp"] = cf.get_response_headers_policy_config(Id="{rhp}")["ResponseHeadersPolicyConfig"]
out["dist"] = cf.get_distribution_config(Id="{dist}")["DistributionConfig"]
"#,
        cp = ids["cp"].as_str().unwrap(),
        rhp = ids["rhp"].as_str().unwrap(),
        dist = ids["dist"].as_str().unwrap(),
    );
    let py = boto3(&ep, &script).await;
    for what in ["cp", "rhp", "dist"] {
        assert_eq!(
            py[what], js["get"][what],
            "{what}: boto3 and the JavaScript SDK read it differently"
        );
    }
    edge.stop().await;
}
