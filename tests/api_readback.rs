//! Read-back fidelity: what the AWS CLI and boto3 get back from Create/Get/Update/List is the
//! complete config as CloudFront returns it, with CloudFront's defaults for what the request left
//! out, empty strings kept, and nothing invented.

use crate::api_codes::boto3;
use crate::common::awscli::aws;
use crate::common::*;

async fn cli_json(args: Vec<String>) -> serde_json::Value {
    let out = tokio::task::spawn_blocking({
        let args = args.clone();
        move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            aws(&refs)
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "aws {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs the CLI expecting a refusal; returns its stderr.
async fn cli_err(args: Vec<String>) -> String {
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws(&refs)
    })
    .await
    .unwrap();
    assert!(!out.status.success(), "expected a refusal");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn cf(endpoint: &str, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--endpoint-url".to_owned(),
        endpoint.to_owned(),
        "--output".to_owned(),
        "json".to_owned(),
        "cloudfront".to_owned(),
    ];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

/// Compares two JSON documents member by member, naming every difference by its path.
fn diff(path: &str, want: &serde_json::Value, got: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value as V;
    match (want, got) {
        (V::Object(w), V::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing (want {wv})")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: not expected (got {})", g[k]));
            }
        }
        (V::Array(w), V::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                diff(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: want {want}, got {got}")),
    }
}

fn assert_same(what: &str, want: &serde_json::Value, got: &serde_json::Value) {
    let mut out = Vec::new();
    diff(what, want, got, &mut out);
    assert!(out.is_empty(), "{what} differs:\n{}", out.join("\n"));
}

/// A minimal request: the required members only, an S3 origin without `OriginReadTimeout`, an
/// empty `FieldLevelEncryptionId`.
fn minimal(caller: &str) -> serde_json::Value {
    serde_json::json!({
        "CallerReference": caller,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": "bucket.s3.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6", "FieldLevelEncryptionId": ""},
        "Comment": "",
        "Enabled": true
    })
}

/// What CloudFront reads back for [`minimal`] (the AWS CLI's documented outputs).
fn minimal_read_back(caller: &str) -> serde_json::Value {
    serde_json::json!({
        "CallerReference": caller,
        "Aliases": {"Quantity": 0},
        "DefaultRootObject": "",
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "s3", "DomainName": "bucket.s3.amazonaws.com", "OriginPath": "",
            "CustomHeaders": {"Quantity": 0},
            "S3OriginConfig": {"OriginAccessIdentity": ""},
            "ConnectionAttempts": 3, "ConnectionTimeout": 10,
            "OriginShield": {"Enabled": false}, "OriginAccessControlId": ""}]},
        "OriginGroups": {"Quantity": 0},
        "DefaultCacheBehavior": {
            "TargetOriginId": "s3",
            "TrustedSigners": {"Enabled": false, "Quantity": 0},
            "TrustedKeyGroups": {"Enabled": false, "Quantity": 0},
            "ViewerProtocolPolicy": "allow-all",
            "AllowedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"],
                "CachedMethods": {"Quantity": 2, "Items": ["HEAD", "GET"]}},
            "SmoothStreaming": false, "Compress": false,
            "LambdaFunctionAssociations": {"Quantity": 0}, "FunctionAssociations": {"Quantity": 0},
            "FieldLevelEncryptionId": "",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            "GrpcConfig": {"Enabled": false}},
        "CacheBehaviors": {"Quantity": 0},
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": "",
        "Logging": {"Enabled": false, "IncludeCookies": false, "Bucket": "", "Prefix": ""},
        "PriceClass": "PriceClass_All",
        "Enabled": true,
        "ViewerCertificate": {"CloudFrontDefaultCertificate": true, "SSLSupportMethod": "vip",
            "MinimumProtocolVersion": "TLSv1", "CertificateSource": "cloudfront"},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
        "WebACLId": "",
        "HttpVersion": "http2",
        "IsIPV6Enabled": true,
        "ContinuousDeploymentPolicyId": "",
        "Staging": false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_and_maximal_configs_read_back_as_cloudfront_returns_them_via_aws_cli() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &serde_json::Value| {
        let p = tmp.path().join(name);
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        format!("file://{}", p.display())
    };

    // Minimal: every default filled in, on create, get, get-config, update and list.
    let file = write("min.json", &minimal("min-cli"));
    let created = cli_json(cf(
        &ep,
        &["create-distribution", "--distribution-config", &file],
    ))
    .await;
    let want = minimal_read_back("min-cli");
    assert_same(
        "create",
        &want,
        &created["Distribution"]["DistributionConfig"],
    );
    let id = created["Distribution"]["Id"].as_str().unwrap().to_owned();
    let got = cli_json(cf(&ep, &["get-distribution", "--id", &id])).await;
    assert_same("get", &want, &got["Distribution"]["DistributionConfig"]);
    let got = cli_json(cf(&ep, &["get-distribution-config", "--id", &id])).await;
    assert_same("get-config", &want, &got["DistributionConfig"]);
    // The same request again is refused, as the current model documents CallerReference
    // (DistributionAlreadyExists, even with an identical config), also after a restart; the
    // read-back is the same after the restart.
    let again = cli_err(cf(
        &ep,
        &["create-distribution", "--distribution-config", &file],
    ))
    .await;
    assert!(
        again.contains("DistributionAlreadyExists") && again.contains(&id),
        "{again}"
    );
    let data = edge.stop().await;
    let edge = TestEdge::start_in("", data).await;
    let ep = format!("http://{}", edge.admin);
    let again = cli_err(cf(
        &ep,
        &["create-distribution", "--distribution-config", &file],
    ))
    .await;
    assert!(again.contains("DistributionAlreadyExists"), "{again}");
    let got = cli_json(cf(&ep, &["get-distribution-config", "--id", &id])).await;
    assert_same(
        "get-config after restart",
        &want,
        &got["DistributionConfig"],
    );
    // Sending the read-back unchanged is an update that changes nothing.
    let etag = got["ETag"].as_str().unwrap().to_owned();
    let file = write("back.json", &got["DistributionConfig"]);
    let updated = cli_json(cf(
        &ep,
        &[
            "update-distribution",
            "--id",
            &id,
            "--if-match",
            &etag,
            "--distribution-config",
            &file,
        ],
    ))
    .await;
    assert_same(
        "update",
        &want,
        &updated["Distribution"]["DistributionConfig"],
    );
    let list = cli_json(cf(&ep, &["list-distributions"])).await;
    let row = &list["DistributionList"]["Items"][0];
    assert_eq!(
        row["HttpVersion"], "HTTP2",
        "as the CLI's list-distributions example"
    );
    for k in [
        "PriceClass",
        "ViewerCertificate",
        "Restrictions",
        "WebACLId",
        "IsIPV6Enabled",
        "Staging",
        "Origins",
        "DefaultCacheBehavior",
    ] {
        assert_same(&format!("list.{k}"), &want[k], &row[k]);
    }

    // Maximal: caching.md's example, every member given, reads back as sent, plus the
    // `CloudFrontDefaultCertificate: false` CloudFront adds beside an ACM certificate.
    let mut example: serde_json::Value = serde_json::from_str(include_str!(
        "../src/model/fixtures/caching-md-example.json"
    ))
    .unwrap();
    // Its S3 origin names an origin access control, which must exist.
    let oac = cli_json(cf(
        &ep,
        &[
            "create-origin-access-control",
            "--origin-access-control-config",
            "Name=readback,SigningProtocol=sigv4,SigningBehavior=always,OriginAccessControlOriginType=s3",
        ],
    ))
    .await;
    example["Origins"]["Items"][0]["OriginAccessControlId"] =
        oac["OriginAccessControl"]["Id"].clone();
    let file = write("max.json", &example);
    example["ViewerCertificate"]["CloudFrontDefaultCertificate"] = false.into();
    let created = cli_json(cf(
        &ep,
        &["create-distribution", "--distribution-config", &file],
    ))
    .await;
    assert_same(
        "maximal create",
        &example,
        &created["Distribution"]["DistributionConfig"],
    );
    let id = created["Distribution"]["Id"].as_str().unwrap().to_owned();
    let got = cli_json(cf(&ep, &["get-distribution-config", "--id", &id])).await;
    assert_same("maximal get-config", &example, &got["DistributionConfig"]);

    // A public key's empty Comment is kept; a left-out one stays out.
    let pem = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"))
        .unwrap();
    let file = write(
        "pk.json",
        &serde_json::json!({"CallerReference": "pk", "Name": "pk", "EncodedKey": pem, "Comment": ""}),
    );
    let pk = cli_json(cf(
        &ep,
        &["create-public-key", "--public-key-config", &file],
    ))
    .await;
    let pk_id = pk["PublicKey"]["Id"].as_str().unwrap().to_owned();
    let got = cli_json(cf(&ep, &["get-public-key-config", "--id", &pk_id])).await;
    assert_eq!(got["PublicKeyConfig"]["Comment"], "");
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_back_the_same_defaults() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let script = format!(
        r#"
cfg = json.loads('''{cfg}''')
d = cf.create_distribution(DistributionConfig=cfg)
out["create"] = d["Distribution"]["DistributionConfig"]
out["get"] = cf.get_distribution_config(Id=d["Distribution"]["Id"])["DistributionConfig"]
legacy = dict(cfg, CallerReference="legacy", CustomErrorResponses={{"Quantity": 1, "Items": [{{"ErrorCode": 404}}]}})
legacy["DefaultCacheBehavior"] = {{"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
    "ForwardedValues": {{"QueryString": False, "Cookies": {{"Forward": "none"}}}}}}
l = cf.create_distribution(DistributionConfig=legacy)["Distribution"]["DistributionConfig"]
out["legacy_behavior"] = l["DefaultCacheBehavior"]
out["legacy_errors"] = l["CustomErrorResponses"]
cp = cf.create_cache_policy(CachePolicyConfig={{"Name": "min", "Comment": "", "MinTTL": 5,
    "ParametersInCacheKeyAndForwardedToOrigin": {{"EnableAcceptEncodingGzip": False,
    "HeadersConfig": {{"HeaderBehavior": "none"}}, "CookiesConfig": {{"CookieBehavior": "none"}},
    "QueryStringsConfig": {{"QueryStringBehavior": "none"}}}}}})
out["cp_create"] = cp["CachePolicy"]["CachePolicyConfig"]
out["cp_get_config"] = cf.get_cache_policy_config(Id=cp["CachePolicy"]["Id"])["CachePolicyConfig"]
arn = d["Distribution"]["ARN"]
out["no_tags"] = cf.list_tags_for_resource(Resource=arn)["Tags"]
"#,
        cfg = minimal("min-boto3")
    );
    let v = boto3(&ep, &script).await;
    let want = minimal_read_back("min-boto3");
    assert_same("boto3 create", &want, &v["create"]);
    assert_same("boto3 get", &want, &v["get"]);
    // The legacy cache settings get CloudFront's TTL defaults; an error response its defaults.
    let b = &v["legacy_behavior"];
    assert_eq!(
        (&b["MinTTL"], &b["DefaultTTL"], &b["MaxTTL"]),
        (&0.into(), &86400.into(), &31536000.into())
    );
    assert_eq!(b["ForwardedValues"]["Headers"]["Quantity"], 0);
    assert_same(
        "legacy cookies",
        &serde_json::json!({"Forward": "none"}),
        &b["ForwardedValues"]["Cookies"],
    );
    assert_same(
        "legacy errors",
        &serde_json::json!({"Quantity": 1, "Items": [
            {"ErrorCode": 404, "ResponsePagePath": "", "ResponseCode": "", "ErrorCachingMinTTL": 10}]}),
        &v["legacy_errors"],
    );
    // A cache policy: left-out TTLs come back as CloudFront's values, the empty Comment kept.
    let cp = serde_json::json!({"Name": "min", "Comment": "", "MinTTL": 5,
        "DefaultTTL": 86400, "MaxTTL": 31536000,
        "ParametersInCacheKeyAndForwardedToOrigin": {"EnableAcceptEncodingGzip": false,
            "EnableAcceptEncodingBrotli": false,
            "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"}}});
    assert_same("cache policy create", &cp, &v["cp_create"]);
    assert_same("cache policy get-config", &cp, &v["cp_get_config"]);
    assert_same("untagged", &serde_json::json!({"Items": []}), &v["no_tags"]);
    edge.stop().await;
}
