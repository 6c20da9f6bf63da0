//! Every error code edgegate's API can send carries the HTTP status botocore's service model
//! gives it: statically (every model code named in the source, and the generated table, against
//! the model) and through the real server (boto3 provoking each refusal and reading the code and
//! status it got).

use std::path::PathBuf;

use crate::common::*;

/// The test venv's Python (`EDGEGATE_TEST_PYTHON`, else `tests/.venv/bin/python`).
pub fn python() -> PathBuf {
    std::env::var_os("EDGEGATE_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.venv/bin/python"))
}

/// What every boto3 script starts with: `cf`, a CloudFront client on the edge's admin endpoint
/// (`EG_ENDPOINT`); `out`, a dict printed as JSON at the end; `err(name, fn, **kw)`, which
/// records the error code, HTTP status and message of a call (or `None` when it succeeded);
/// `model`, botocore's CloudFront service model; `dist(ref, origin_domain=..., **changes)`, a
/// minimal DistributionConfig.
pub const PRELUDE: &str = r#"
import json, os, sys
import boto3, botocore, botocore.session
from botocore.config import Config
cf = boto3.client("cloudfront", endpoint_url=os.environ["EG_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=Config(retries={"max_attempts": 1}))
model = botocore.session.get_session().get_component("data_loader").load_service_model("cloudfront", "service-2")
out = {}
def err(name, fn, **kw):
    try:
        fn(**kw)
        out[name] = {"code": None, "status": None, "message": None}
    except botocore.exceptions.ClientError as e:
        out[name] = {"code": e.response["Error"].get("Code"),
                     "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                     "message": e.response["Error"].get("Message")}
def dist(ref, origin_domain="origin.example.com", s3=False, **changes):
    origin = {"Id": "o1", "DomainName": origin_domain}
    if s3:
        origin["S3OriginConfig"] = {"OriginAccessIdentity": ""}
    else:
        origin["CustomOriginConfig"] = {"HTTPPort": 80, "HTTPSPort": 443,
                                        "OriginProtocolPolicy": "http-only"}
    cfg = {"CallerReference": ref, "Comment": "", "Enabled": True,
           "Origins": {"Quantity": 1, "Items": [origin]},
           "DefaultCacheBehavior": {"TargetOriginId": "o1", "ViewerProtocolPolicy": "allow-all",
                                    "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}
    cfg.update(changes)
    return cfg
"#;

/// Runs `PRELUDE` + `script` with the test venv's Python against `endpoint`; returns the JSON of
/// `out`. Runs on a blocking thread (the edge serves on this runtime).
pub async fn boto3(endpoint: &str, script: &str) -> serde_json::Value {
    let endpoint = endpoint.to_owned();
    let code = format!("{PRELUDE}\n{script}\nprint(json.dumps(out, default=str))\n");
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(python());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        let out = cmd
            .arg("-c")
            .arg(&code)
            .env("EG_ENDPOINT", endpoint)
            .env(
                "EG_PEM",
                concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"),
            )
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run the tests with scripts/test)",
                    python().display()
                )
            });
        assert!(
            out.status.success(),
            "boto3 script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "boto3 script printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    })
    .await
    .unwrap()
}

/// Every error code of the model with its HTTP status, as botocore reads it.
async fn model_errors() -> std::collections::BTreeMap<String, u16> {
    let v = boto3(
        "http://127.0.0.1:1",
        r#"
for name, shape in model["shapes"].items():
    if shape.get("exception"):
        e = shape.get("error", {})
        out[e.get("code", name)] = e.get("httpStatusCode", 400)
"#,
    )
    .await;
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, s)| (k.clone(), s.as_u64().unwrap() as u16))
        .collect()
}

/// Every quoted string in the crate's source that is an error code of the model.
fn codes_in_source(model: &std::collections::BTreeMap<String, u16>) -> Vec<String> {
    fn walk(dir: &std::path::Path, files: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, files);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut found = std::collections::BTreeSet::new();
    for f in files {
        // The generated table lists every code of the model; it is checked on its own below.
        if f.ends_with("control/model_table.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, part) in text.split('"').enumerate() {
            if i % 2 == 1 && model.contains_key(part) {
                found.insert(part.to_owned());
            }
        }
    }
    found.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_in_the_source_has_the_models_status() {
    let model = model_errors().await;
    assert!(
        model.len() > 100,
        "the model has {} error codes",
        model.len()
    );
    // The generated table is the model's, code for code.
    let table: std::collections::BTreeMap<String, u16> = edgegate::control::model_table::ERRORS
        .iter()
        .map(|(c, s)| (c.to_string(), *s))
        .collect();
    assert_eq!(
        table, model,
        "src/control/model_table.rs is stale: run tests/.venv/bin/python scripts/gen-api-table"
    );
    let codes = codes_in_source(&model);
    for must in [
        "NoSuchOrigin",
        "InvalidArgument",
        "PreconditionFailed",
        "InvalidTagging",
    ] {
        assert!(codes.iter().any(|c| c == must), "{must} not found in src");
    }
    for code in &codes {
        // Whatever status a call site passes, the error carries the model's.
        let e = edgegate::control::ApiError::new(http::StatusCode::IM_A_TEAPOT, leak(code), "x");
        assert_eq!(
            e.status.as_u16(),
            model[code],
            "{code}: edgegate sends {}, the model says {}",
            e.status,
            model[code]
        );
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_through_boto3_carry_the_models_code_and_status() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let v = boto3(
        &ep,
        r#"
errors = {}
for name, shape in model["shapes"].items():
    if shape.get("exception"):
        errors[shape.get("error", {}).get("code", name)] = shape.get("error", {}).get("httpStatusCode", 400)
out["_model"] = errors
acct = "123456789012"
err("NoSuchDistribution", cf.get_distribution, Id="ENOSUCH")
bad_target = dist("r-target")
bad_target["DefaultCacheBehavior"]["TargetOriginId"] = "nope"
err("NoSuchOrigin", cf.create_distribution, DistributionConfig=bad_target)
err("InvalidArgument:s3", cf.create_distribution,
    DistributionConfig=dist("r-s3", origin_domain="www.example.com", s3=True))
qty = dist("r-qty")
qty["Origins"]["Quantity"] = 2
err("InconsistentQuantities", cf.create_distribution, DistributionConfig=qty)
ttl = dist("r-ttl")
del ttl["DefaultCacheBehavior"]["CachePolicyId"]
ttl["DefaultCacheBehavior"].update({"MinTTL": 100, "DefaultTTL": 10, "MaxTTL": 1000,
    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}})
err("InvalidTTLOrder", cf.create_distribution, DistributionConfig=ttl)
nopol = dist("r-nopol")
nopol["DefaultCacheBehavior"]["CachePolicyId"] = "00000000-0000-0000-0000-000000000000"
err("NoSuchCachePolicy:ref", cf.create_distribution, DistributionConfig=nopol)

d = cf.create_distribution(DistributionConfig=dist("r-1", Aliases={"Quantity": 1, "Items": ["a.example.test"]}))
did, etag = d["Distribution"]["Id"], d["ETag"]
err("DistributionAlreadyExists", cf.create_distribution, DistributionConfig=dist("r-1", Comment="other"))
err("CNAMEAlreadyExists", cf.create_distribution,
    DistributionConfig=dist("r-2", Aliases={"Quantity": 1, "Items": ["a.example.test"]}))
err("PreconditionFailed", cf.update_distribution, Id=did, IfMatch="E0STALE", DistributionConfig=dist("r-1"))
err("IllegalUpdate:callerref", cf.update_distribution, Id=did, IfMatch=etag, DistributionConfig=dist("r-other"))
err("DistributionNotDisabled", cf.delete_distribution, Id=did, IfMatch=etag)
inv = cf.create_invalidation(DistributionId=did, InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/a"]}, "CallerReference": "i1"})
err("InvalidationBatchAlreadyExists", cf.create_invalidation, DistributionId=did,
    InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/b"]}, "CallerReference": "i1"})
err("NoSuchInvalidation", cf.get_invalidation, DistributionId=did, Id="INOSUCH")

err("NoSuchCachePolicy", cf.get_cache_policy, Id="nope")
err("NoSuchOriginRequestPolicy", cf.get_origin_request_policy, Id="nope")
err("IllegalDelete", cf.delete_cache_policy, Id="658327ea-f89d-4fab-a63d-7e88639e58f6", IfMatch="x")
cp_cfg = {"Name": "cp1", "MinTTL": 0, "DefaultTTL": 60, "MaxTTL": 600,
          "ParametersInCacheKeyAndForwardedToOrigin": {"EnableAcceptEncodingGzip": False,
              "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
              "QueryStringsConfig": {"QueryStringBehavior": "none"}}}
err("IllegalUpdate", cf.update_cache_policy, Id="658327ea-f89d-4fab-a63d-7e88639e58f6", IfMatch="x",
    CachePolicyConfig=cp_cfg)
cp = cf.create_cache_policy(CachePolicyConfig=cp_cfg)
err("CachePolicyAlreadyExists", cf.create_cache_policy, CachePolicyConfig=cp_cfg)
uses = dist("r-uses")
uses["DefaultCacheBehavior"]["CachePolicyId"] = cp["CachePolicy"]["Id"]
cf.create_distribution(DistributionConfig=uses)
err("CachePolicyInUse", cf.delete_cache_policy, Id=cp["CachePolicy"]["Id"], IfMatch=cp["ETag"])

pem = open(os.environ["EG_PEM"]).read()
pk = cf.create_public_key(PublicKeyConfig={"CallerReference": "pk1", "Name": "pk1", "EncodedKey": pem})
err("PublicKeyAlreadyExists", cf.create_public_key,
    PublicKeyConfig={"CallerReference": "pk1", "Name": "pk2", "EncodedKey": pem})
cf.create_key_group(KeyGroupConfig={"Name": "kg", "Items": [pk["PublicKey"]["Id"]]})
err("PublicKeyInUse", cf.delete_public_key, Id=pk["PublicKey"]["Id"], IfMatch=pk["ETag"])
err("NoSuchPublicKey", cf.get_public_key, Id="KNOSUCH")
err("NoSuchResource:keygroup", cf.get_key_group, Id="nope")

arn = "arn:aws:cloudfront::%s:distribution/%s" % (acct, did)
err("InvalidTagging", cf.tag_resource, Resource=arn, Tags={"Items": [{"Key": "a*b", "Value": "x"}]})
err("NoSuchResource:tags", cf.list_tags_for_resource, Resource="arn:aws:cloudfront::%s:distribution/ENOSUCH" % acct)
err("InvalidArgument:arn", cf.list_tags_for_resource, Resource="arn:aws:s3:::bucket")
err("NoSuchCachePolicy:list", cf.list_distributions_by_cache_policy_id, CachePolicyId="nope")
err("NoSuchResponseHeadersPolicy", cf.list_distributions_by_response_headers_policy_id,
    ResponseHeadersPolicyId="nope")
err("UnsupportedOperation", cf.list_streaming_distributions)
err("InvalidArgument:maxitems", cf.list_distributions, MaxItems="0")
"#
        .replace("123456789012", &account_of(&edge, &ep).await)
        .as_str(),
    )
    .await;
    let model = v["_model"].as_object().unwrap();
    let mut checked = 0;
    for (name, got) in v.as_object().unwrap() {
        if name == "_model" {
            continue;
        }
        let want = name.split(':').next().unwrap();
        assert_eq!(
            got["code"].as_str(),
            Some(want),
            "{name}: got {got} (message {})",
            got["message"]
        );
        // InvalidationBatchAlreadyExists is documented (InvalidationBatch.CallerReference) but
        // not in the model; a client error outside the model is a 400.
        let status = model.get(want).and_then(|s| s.as_u64()).unwrap_or(400);
        assert_eq!(
            got["status"].as_u64(),
            Some(status),
            "{name}: status {} where the model says {status}",
            got["status"]
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} refusals checked");
    edge.stop().await;
}

/// The account id the edge puts in ARNs (read from a distribution's ARN).
pub async fn account_of(_edge: &TestEdge, ep: &str) -> String {
    let v = boto3(
        ep,
        r#"
d = cf.create_distribution(DistributionConfig=dist("account-probe"))
out["arn"] = d["Distribution"]["ARN"]
"#,
    )
    .await;
    let arn = v["arn"].as_str().unwrap();
    arn.split(':').nth(4).unwrap().to_owned()
}
