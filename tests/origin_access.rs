//! Origin access controls through the real server (origin-access.md §3–§6, §10): the API with
//! boto3 and the AWS CLI, distributions that name an OAC, and each `SigningBehavior` observed
//! on a real loopback origin standing in for S3 (`s3_endpoint`), with the signature edgegate
//! sent compared byte for byte with botocore's for the same request. Legacy origin access
//! identities: their API, and edgegate signing for them.

use crate::api_codes::{boto3, python};
use crate::common::awscli::aws_json;
use crate::common::origin::TestOrigin;
use crate::common::*;

/// An OAC config as Python, named `name`, with `behavior`.
fn oac_py(name: &str, behavior: &str) -> String {
    format!(
        r#"{{"Name": "{name}", "Description": "", "SigningProtocol": "sigv4", "SigningBehavior": "{behavior}", "OriginAccessControlOriginType": "s3"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oac_crud_paging_and_errors_via_boto3_and_the_aws_cli() {
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let a = oac_py("oac-a", "always");
    let b = oac_py("oac-b", "no-override");
    let c = oac_py("oac-c", "never");
    let script = format!(
        r#"
empty = cf.list_origin_access_controls()["OriginAccessControlList"]
out["empty_has_items"] = "Items" in empty
out["empty_quantity"] = empty["Quantity"]
r = cf.create_origin_access_control(OriginAccessControlConfig={a})
out["create_status"] = r["ResponseMetadata"]["HTTPStatusCode"]
out["location"] = r["Location"]
out["etag"] = r["ETag"]
oac = r["OriginAccessControl"]
ida = oac["Id"]
out["id"] = ida
out["created"] = oac["OriginAccessControlConfig"]
g = cf.get_origin_access_control(Id=ida)
out["get_etag"] = g["ETag"]
out["get"] = g["OriginAccessControl"]
gc = cf.get_origin_access_control_config(Id=ida)
out["get_config"] = gc["OriginAccessControlConfig"]
err("dup_name", cf.create_origin_access_control, OriginAccessControlConfig={a})
err("unknown", cf.get_origin_access_control, Id="ENOSUCHOAC12345")
err("unknown_config", cf.get_origin_access_control_config, Id="ENOSUCHOAC12345")
err("sigv4a", cf.create_origin_access_control, OriginAccessControlConfig=dict({a}, Name="x", SigningProtocol="sigv4a"))
err("amz_auth_s3", cf.create_origin_access_control, OriginAccessControlConfig=dict({a}, Name="y", SigningBehavior="always-amz-auth"))
err("long_name", cf.create_origin_access_control, OriginAccessControlConfig=dict({a}, Name="n" * 65))
err("stale", cf.update_origin_access_control, Id=ida, IfMatch="ESTALE", OriginAccessControlConfig={a})
err("no_if_match", cf.update_origin_access_control, Id=ida, OriginAccessControlConfig={a})
u = cf.update_origin_access_control(Id=ida, IfMatch=g["ETag"], OriginAccessControlConfig=dict({a}, SigningBehavior="no-override", Description="changed"))
out["updated"] = u["OriginAccessControl"]["OriginAccessControlConfig"]
out["update_etag_changed"] = u["ETag"] != g["ETag"]
idb = cf.create_origin_access_control(OriginAccessControlConfig={b})["OriginAccessControl"]["Id"]
err("rename_taken", cf.update_origin_access_control, Id=idb, IfMatch=cf.get_origin_access_control(Id=idb)["ETag"], OriginAccessControlConfig=dict({b}, Name="oac-a"))
idc = cf.create_origin_access_control(OriginAccessControlConfig={c})["OriginAccessControl"]["Id"]
p1 = cf.list_origin_access_controls(MaxItems="2")["OriginAccessControlList"]
p2 = cf.list_origin_access_controls(MaxItems="2", Marker=p1["NextMarker"])["OriginAccessControlList"]
out["page1"] = [i["Id"] for i in p1["Items"]]
out["page1_truncated"] = p1["IsTruncated"]
out["page2"] = [i["Id"] for i in p2["Items"]]
out["page2_truncated"] = p2["IsTruncated"]
out["page2_has_next"] = "NextMarker" in p2
out["summary"] = p1["Items"][0]
out["all_ids"] = sorted([ida, idb, idc])

# Distributions: an unknown OAC, OAC with OAI, and a real one that holds the OAC in use.
s3 = "bucket-one.s3.us-east-1.amazonaws.com"
def with_origin(ref, **origin):
    cfg = dist(ref, origin_domain=s3, s3=True)
    cfg["Origins"]["Items"][0].update(origin)
    return cfg
err("dist_unknown_oac", cf.create_distribution, DistributionConfig=with_origin("d1", OriginAccessControlId="ENOSUCHOAC12345"))
err("dist_oac_and_oai", cf.create_distribution, DistributionConfig=with_origin("d2", OriginAccessControlId=idb,
    S3OriginConfig={{"OriginAccessIdentity": "origin-access-identity/cloudfront/E74FTE3AEXAMPLE"}}))
d = cf.create_distribution(DistributionConfig=with_origin("d3", OriginAccessControlId=idb))
out["dist_oac"] = d["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]["OriginAccessControlId"]
err("delete_in_use", cf.delete_origin_access_control, Id=idb, IfMatch=cf.get_origin_access_control(Id=idb)["ETag"])
err("delete_stale", cf.delete_origin_access_control, Id=idc, IfMatch="ESTALE")
err("delete_no_if_match", cf.delete_origin_access_control, Id=idc)
err("delete_unknown", cf.delete_origin_access_control, Id="ENOSUCHOAC12345", IfMatch="E1")
r = cf.delete_origin_access_control(Id=idc, IfMatch=cf.get_origin_access_control(Id=idc)["ETag"])
out["delete_status"] = r["ResponseMetadata"]["HTTPStatusCode"]
err("deleted_get", cf.get_origin_access_control, Id=idc)
"#
    );
    let out = boto3(&ep, &script).await;
    let code = |name: &str| {
        (
            out[name]["code"].as_str().unwrap_or("(none)").to_owned(),
            out[name]["status"].as_u64().unwrap_or(0),
        )
    };

    assert_eq!(out["empty_has_items"], false, "{out}");
    assert_eq!(out["empty_quantity"], 0);
    assert_eq!(out["create_status"], 201);
    let id = out["id"].as_str().unwrap();
    assert_eq!(
        out["location"],
        format!("https://cloudfront.amazonaws.com/2020-05-31/origin-access-control/{id}")
    );
    assert_eq!(out["get_etag"], out["etag"]);
    let want = serde_json::json!({"Name": "oac-a", "Description": "", "SigningProtocol": "sigv4",
        "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"});
    assert_eq!(out["created"], want);
    assert_eq!(out["get"]["OriginAccessControlConfig"], want);
    assert_eq!(out["get_config"], want);

    assert_eq!(
        code("dup_name"),
        ("OriginAccessControlAlreadyExists".into(), 409)
    );
    assert_eq!(code("unknown"), ("NoSuchOriginAccessControl".into(), 404));
    assert_eq!(
        code("unknown_config"),
        ("NoSuchOriginAccessControl".into(), 404)
    );
    assert_eq!(code("sigv4a"), ("InvalidArgument".into(), 400));
    assert_eq!(code("amz_auth_s3"), ("InvalidArgument".into(), 400));
    assert_eq!(code("long_name"), ("InvalidArgument".into(), 400));
    assert_eq!(code("stale"), ("PreconditionFailed".into(), 412));
    assert_eq!(code("no_if_match"), ("InvalidIfMatchVersion".into(), 400));
    assert_eq!(out["updated"]["SigningBehavior"], "no-override");
    assert_eq!(out["updated"]["Description"], "changed");
    assert_eq!(out["update_etag_changed"], true);
    assert_eq!(
        code("rename_taken"),
        ("OriginAccessControlAlreadyExists".into(), 409)
    );

    let all: Vec<&str> = out["all_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(out["page1"], serde_json::json!(all[..2]));
    assert_eq!(out["page1_truncated"], true);
    assert_eq!(out["page2"], serde_json::json!(all[2..]));
    assert_eq!(out["page2_truncated"], false);
    assert_eq!(out["page2_has_next"], false);
    let summary = out["summary"].as_object().unwrap();
    for k in [
        "Id",
        "Description",
        "Name",
        "SigningProtocol",
        "SigningBehavior",
        "OriginAccessControlOriginType",
    ] {
        assert!(summary.contains_key(k), "summary lacks {k}: {summary:?}");
    }

    assert_eq!(
        code("dist_unknown_oac"),
        ("InvalidOriginAccessControl".into(), 400)
    );
    assert_eq!(
        code("dist_oac_and_oai"),
        ("IllegalOriginAccessConfiguration".into(), 400)
    );
    assert!(out["dist_oac"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        code("delete_in_use"),
        ("OriginAccessControlInUse".into(), 409)
    );
    assert_eq!(code("delete_stale"), ("PreconditionFailed".into(), 412));
    assert_eq!(
        code("delete_no_if_match"),
        ("InvalidIfMatchVersion".into(), 400)
    );
    assert_eq!(
        code("delete_unknown"),
        ("NoSuchOriginAccessControl".into(), 404)
    );
    assert_eq!(out["delete_status"], 204);
    assert_eq!(
        code("deleted_get"),
        ("NoSuchOriginAccessControl".into(), 404)
    );

    // The AWS CLI reads the same list.
    let listed = aws_json(&[
        "--endpoint-url",
        &ep,
        "cloudfront",
        "list-origin-access-controls",
        "--no-paginate",
    ]);
    let list = &listed["OriginAccessControlList"];
    assert_eq!(list["Quantity"], 2, "{listed}");
    assert_eq!(list["IsTruncated"], false);
    let names: Vec<&str> = list["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"oac-a") && names.contains(&"oac-b"),
        "{names:?}"
    );
}

/// botocore's S3 SigV4 `Authorization` for the request the origin saw: same method, path,
/// query, `Host` and `x-amz-*` headers, same date, same credentials, unsigned payload.
fn botocore_authorization(seen: &origin::Seen, access_key: &str, secret: &str) -> String {
    let host = seen.headers["host"].to_str().unwrap().to_owned();
    let amz_date = seen.headers["x-amz-date"].to_str().unwrap().to_owned();
    let mut extra = serde_json::Map::new();
    for (name, value) in &seen.headers {
        let n = name.as_str();
        let ours = matches!(n, "x-amz-date" | "x-amz-content-sha256");
        if (n.starts_with("x-amz-") && !ours) || n == "range" {
            extra.insert(n.to_owned(), value.to_str().unwrap().into());
        }
    }
    let input = serde_json::json!({
        "method": seen.method, "url": format!("https://{host}{}", seen.path_and_query),
        "host": host, "date": amz_date, "extra": extra, "ak": access_key, "sk": secret,
    });
    let script = r#"
import json, sys, datetime
import botocore.auth, botocore.config
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
i = json.loads(sys.argv[1])
when = datetime.datetime.strptime(i["date"], "%Y%m%dT%H%M%SZ")
botocore.auth.get_current_datetime = lambda *a, **k: when
headers = {"Host": i["host"]}
headers.update(i["extra"])
req = AWSRequest(method=i["method"], url=i["url"], headers=headers)
# S3 over HTTPS with payload signing off: the payload hash is UNSIGNED-PAYLOAD.
req.context["client_config"] = botocore.config.Config(s3={"payload_signing_enabled": False})
S3SigV4Auth(Credentials(i["ak"], i["sk"]), "s3", "us-east-1").add_auth(req)
print(json.dumps({"authorization": req.headers["Authorization"],
                  "sha": req.headers["X-Amz-Content-SHA256"]}))
"#;
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(input.to_string())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "botocore failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sha"], "UNSIGNED-PAYLOAD");
    v["authorization"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_behaviors_on_an_s3_origin_and_botocore_agrees_on_the_signature() {
    let s3 = TestOrigin::start().await;
    let (ak, sk) = ("AKIDOACTEST", "oac-test-secret/key+1");
    let config = format!(
        "s3_endpoint = \"http://{}\"\norigin_credentials = \"{ak}:{sk}\"\n",
        s3.addr
    );
    let edge = TestEdge::start(&config).await;
    let ep = format!("http://{}", edge.admin);
    // A cache policy with Authorization in the key: the viewer's header reaches the origin on
    // GET (the condition for `no-override` to pass it through).
    let script = format!(
        r#"
cp = cf.create_cache_policy(CachePolicyConfig={{"Name": "with-auth", "MinTTL": 1, "DefaultTTL": 60, "MaxTTL": 600,
    "ParametersInCacheKeyAndForwardedToOrigin": {{"EnableAcceptEncodingGzip": False,
        "HeadersConfig": {{"HeaderBehavior": "whitelist", "Headers": {{"Quantity": 1, "Items": ["Authorization"]}}}},
        "CookiesConfig": {{"CookieBehavior": "none"}}, "QueryStringsConfig": {{"QueryStringBehavior": "all"}}}}}})
r = cf.create_origin_access_control(OriginAccessControlConfig={oac})
oac = r["OriginAccessControl"]
cfg = dist("sig", origin_domain="photos.s3.us-east-1.amazonaws.com", s3=True)
cfg["Origins"]["Items"][0]["OriginAccessControlId"] = oac["Id"]
cfg["DefaultCacheBehavior"]["CachePolicyId"] = cp["CachePolicy"]["Id"]
d = cf.create_distribution(DistributionConfig=cfg)
out["domain"] = d["Distribution"]["DomainName"]
out["oac"] = oac["Id"]
out["etag"] = r["ETag"]
"#,
        oac = oac_py("sig", "always")
    );
    let out = boto3(&ep, &script).await;
    let host = out["domain"].as_str().unwrap().to_owned();
    let oac_id = out["oac"].as_str().unwrap().to_owned();
    let mut etag = out["etag"].as_str().unwrap().to_owned();
    let set_behavior = |behavior: &str, etag: &str| {
        format!(
            "r = cf.update_origin_access_control(Id=\"{oac_id}\", IfMatch=\"{etag}\", OriginAccessControlConfig={})\nout[\"etag\"] = r[\"ETag\"]\n",
            oac_py("sig", behavior)
        )
    };
    let viewer_auth = "AWS4-HMAC-SHA256 Credential=VIEWER/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc";

    // always: signed, the viewer's Authorization replaced.
    let r = send(
        edge.viewer,
        "GET",
        &host,
        "/a/one.txt?x=1&b=a%20b",
        &[("authorization", viewer_auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s3.last();
    assert_eq!(seen.path_and_query, "/photos/a/one.txt?x=1&b=a%20b");
    let auth = seen.headers["authorization"].to_str().unwrap().to_owned();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ak}/")),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
    assert_eq!(seen.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    // botocore computes the same Authorization, byte for byte.
    let ours = tokio::task::spawn_blocking({
        let seen = seen.clone();
        move || botocore_authorization(&seen, ak, sk)
    })
    .await
    .unwrap();
    assert_eq!(auth, ours);
    // Without a viewer Authorization: signed too.
    let r = get(edge.viewer, &host, "/a/two.txt").await;
    assert_eq!(r.status, 200);
    let seen = s3.last();
    assert!(
        seen.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDOACTEST/")
    );
    let ours = tokio::task::spawn_blocking({
        let seen = seen.clone();
        move || botocore_authorization(&seen, ak, sk)
    })
    .await
    .unwrap();
    assert_eq!(seen.headers["authorization"].to_str().unwrap(), ours);

    // no-override (an OAC update reaches the data plane at once): the viewer's Authorization
    // is forwarded unchanged and nothing is signed; without one, edgegate signs.
    let out = boto3(&ep, &set_behavior("no-override", &etag)).await;
    etag = out["etag"].as_str().unwrap().to_owned();
    let r = send(
        edge.viewer,
        "GET",
        &host,
        "/b/one.txt",
        &[("authorization", viewer_auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = s3.last();
    assert_eq!(seen.headers["authorization"], viewer_auth);
    assert!(
        seen.headers.get("x-amz-date").is_none(),
        "{:?}",
        seen.headers
    );
    let r = get(edge.viewer, &host, "/b/two.txt").await;
    assert_eq!(r.status, 200);
    let seen = s3.last();
    assert!(
        seen.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDOACTEST/")
    );
    assert!(seen.headers.get("x-amz-date").is_some());

    // never: nothing signed; the viewer's header follows the ordinary forwarding rules (here
    // the cache policy forwards it).
    boto3(&ep, &set_behavior("never", &etag)).await;
    let r = get(edge.viewer, &host, "/c/one.txt").await;
    assert_eq!(r.status, 200);
    let seen = s3.last();
    assert!(
        seen.headers.get("authorization").is_none(),
        "{:?}",
        seen.headers
    );
    assert!(seen.headers.get("x-amz-date").is_none());
    assert!(seen.headers.get("x-amz-content-sha256").is_none());
    let r = send(
        edge.viewer,
        "GET",
        &host,
        "/c/two.txt",
        &[("authorization", viewer_auth)],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(s3.last().headers["authorization"], viewer_auth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oai_crud_idempotency_and_signing_on_an_s3_origin() {
    let s3 = TestOrigin::start().await;
    let (ak, sk) = ("AKIDOAITEST", "oai-secret");
    let config = format!(
        "s3_endpoint = \"http://{}\"\norigin_credentials = \"{ak}:{sk}\"\n",
        s3.addr
    );
    let edge = TestEdge::start(&config).await;
    let ep = format!("http://{}", edge.admin);
    let script = r#"
empty = cf.list_cloud_front_origin_access_identities()["CloudFrontOriginAccessIdentityList"]
out["empty_has_items"] = "Items" in empty
r = cf.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "first"})
out["status"] = r["ResponseMetadata"]["HTTPStatusCode"]
out["location"] = r["Location"]
oai = r["CloudFrontOriginAccessIdentity"]
out["oai"] = oai
again = cf.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "first"})
out["replay_status"] = again["ResponseMetadata"]["HTTPStatusCode"]
out["replay_same"] = again["CloudFrontOriginAccessIdentity"]["Id"] == oai["Id"] and again["ETag"] == r["ETag"]
err("reuse", cf.create_cloud_front_origin_access_identity, CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "other"})
err("unknown", cf.get_cloud_front_origin_access_identity, Id="ENOSUCHOAI1234")
err("stale", cf.update_cloud_front_origin_access_identity, Id=oai["Id"], IfMatch="ESTALE", CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "x"})
err("no_if_match", cf.update_cloud_front_origin_access_identity, Id=oai["Id"], CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "x"})
err("change_ref", cf.update_cloud_front_origin_access_identity, Id=oai["Id"], IfMatch=r["ETag"], CloudFrontOriginAccessIdentityConfig={"CallerReference": "r2", "Comment": "x"})
u = cf.update_cloud_front_origin_access_identity(Id=oai["Id"], IfMatch=r["ETag"], CloudFrontOriginAccessIdentityConfig={"CallerReference": "r1", "Comment": "renamed"})
out["updated_comment"] = u["CloudFrontOriginAccessIdentity"]["CloudFrontOriginAccessIdentityConfig"]["Comment"]
g = cf.get_cloud_front_origin_access_identity_config(Id=oai["Id"])
out["config"] = g["CloudFrontOriginAccessIdentityConfig"]
second = cf.create_cloud_front_origin_access_identity(CloudFrontOriginAccessIdentityConfig={"CallerReference": "r2", "Comment": ""})["CloudFrontOriginAccessIdentity"]["Id"]
p1 = cf.list_cloud_front_origin_access_identities(MaxItems="1")["CloudFrontOriginAccessIdentityList"]
p2 = cf.list_cloud_front_origin_access_identities(MaxItems="1", Marker=p1["NextMarker"])["CloudFrontOriginAccessIdentityList"]
out["pages"] = [p1["Items"][0]["Id"], p2["Items"][0]["Id"], p1["IsTruncated"], p2["IsTruncated"]]
out["summary"] = p1["Items"][0]
out["ids"] = sorted([oai["Id"], second])
oai_ref = "origin-access-identity/cloudfront/" + oai["Id"]
cfg = dist("oai", origin_domain="photos.s3.us-east-1.amazonaws.com", s3=True)
err("dist_unknown", cf.create_distribution, DistributionConfig=dict(cfg, CallerReference="oai-x",
    Origins={"Quantity": 1, "Items": [dict(cfg["Origins"]["Items"][0], S3OriginConfig={"OriginAccessIdentity": "origin-access-identity/cloudfront/ENOSUCHOAI1234"})]}))
cfg["Origins"]["Items"][0]["S3OriginConfig"]["OriginAccessIdentity"] = oai_ref
d = cf.create_distribution(DistributionConfig=cfg)
out["domain"] = d["Distribution"]["DomainName"]
out["dist_oai"] = d["Distribution"]["DistributionConfig"]["Origins"]["Items"][0]["S3OriginConfig"]["OriginAccessIdentity"]
etag = cf.get_cloud_front_origin_access_identity(Id=oai["Id"])["ETag"]
err("in_use", cf.delete_cloud_front_origin_access_identity, Id=oai["Id"], IfMatch=etag)
r = cf.delete_cloud_front_origin_access_identity(Id=second, IfMatch=cf.get_cloud_front_origin_access_identity(Id=second)["ETag"])
out["delete_status"] = r["ResponseMetadata"]["HTTPStatusCode"]
err("deleted", cf.get_cloud_front_origin_access_identity, Id=second)
"#;
    let out = boto3(&ep, script).await;
    let code = |name: &str| {
        (
            out[name]["code"].as_str().unwrap_or("(none)").to_owned(),
            out[name]["status"].as_u64().unwrap_or(0),
        )
    };
    assert_eq!(out["empty_has_items"], false, "{out}");
    assert_eq!(out["status"], 201);
    let oai = &out["oai"];
    let id = oai["Id"].as_str().unwrap();
    assert_eq!(
        out["location"],
        format!(
            "https://cloudfront.amazonaws.com/2020-05-31/origin-access-identity/cloudfront/{id}"
        )
    );
    let canonical = oai["S3CanonicalUserId"].as_str().unwrap();
    assert_eq!(canonical.len(), 64);
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(
        oai["CloudFrontOriginAccessIdentityConfig"],
        serde_json::json!({"CallerReference": "r1", "Comment": "first"})
    );
    assert_eq!(out["replay_status"], 201);
    assert_eq!(out["replay_same"], true);
    assert_eq!(
        code("reuse"),
        ("CloudFrontOriginAccessIdentityAlreadyExists".into(), 409)
    );
    assert_eq!(
        code("unknown"),
        ("NoSuchCloudFrontOriginAccessIdentity".into(), 404)
    );
    assert_eq!(code("stale"), ("PreconditionFailed".into(), 412));
    assert_eq!(code("no_if_match"), ("InvalidIfMatchVersion".into(), 400));
    assert_eq!(code("change_ref"), ("IllegalUpdate".into(), 400));
    assert_eq!(out["updated_comment"], "renamed");
    assert_eq!(
        out["config"],
        serde_json::json!({"CallerReference": "r1", "Comment": "renamed"})
    );
    let ids = out["ids"].as_array().unwrap();
    assert_eq!(
        out["pages"],
        serde_json::json!([ids[0], ids[1], true, false])
    );
    let summary = out["summary"].as_object().unwrap();
    assert!(summary.contains_key("S3CanonicalUserId") && summary.contains_key("Comment"));
    assert_eq!(
        code("dist_unknown"),
        ("InvalidOriginAccessIdentity".into(), 400)
    );
    assert_eq!(
        out["dist_oai"],
        format!("origin-access-identity/cloudfront/{id}")
    );
    assert_eq!(
        code("in_use"),
        ("CloudFrontOriginAccessIdentityInUse".into(), 409)
    );
    assert_eq!(out["delete_status"], 204);
    assert_eq!(
        code("deleted"),
        ("NoSuchCloudFrontOriginAccessIdentity".into(), 404)
    );

    // edgegate signs for the OAI with its origin credentials, always, replacing a viewer's
    // Authorization; botocore computes the same signature.
    let host = out["domain"].as_str().unwrap();
    let r = send(
        edge.viewer,
        "GET",
        host,
        "/k/x.txt",
        &[("authorization", "Bearer viewer")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s3.last();
    assert_eq!(seen.path_and_query, "/photos/k/x.txt");
    let auth = seen.headers["authorization"].to_str().unwrap().to_owned();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDOAITEST/"),
        "{auth}"
    );
    let ours = tokio::task::spawn_blocking(move || botocore_authorization(&seen, ak, sk))
        .await
        .unwrap();
    assert_eq!(auth, ours);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_origin_access_control_signs_and_reads_back_through_the_api() {
    let s3 = TestOrigin::start().await;
    let config = format!(
        r#"
s3_endpoint = "http://{addr}"
origin_credentials = "AKIDDECLARED:declared-secret"

[[origin_access_controls]]
id = "EDECLAREDOAC01"
name = "declared"
signing_protocol = "sigv4"
signing_behavior = "always"
origin_access_control_origin_type = "s3"

[[origin_access_identities]]
id = "EDECLAREDOAI01"
caller_reference = "declared-oai"
comment = "from the config file"

[[distributions]]
id = "EDECLOAC00001"
domain_name = "ddecloac00001.cloudfront.localhost"
caller_reference = "declared-oac"
comment = ""
enabled = true

[[distributions.origins]]
id = "bucket"
domain_name = "photos.s3.us-east-1.amazonaws.com"
origin_access_control_id = "EDECLAREDOAC01"
s3_origin_config = {{ origin_access_identity = "" }}

[distributions.default_cache_behavior]
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
"#,
        addr = s3.addr
    );
    let edge = TestEdge::start(&config).await;
    let r = get(edge.viewer, "ddecloac00001.cloudfront.localhost", "/p.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = s3.last();
    assert_eq!(seen.path_and_query, "/photos/p.txt");
    assert!(
        seen.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDDECLARED/")
    );
    let ep = format!("http://{}", edge.admin);
    let out = boto3(
        &ep,
        r#"
out["oac"] = cf.get_origin_access_control(Id="EDECLAREDOAC01")["OriginAccessControl"]
out["oai"] = cf.get_cloud_front_origin_access_identity(Id="EDECLAREDOAI01")["CloudFrontOriginAccessIdentity"]["CloudFrontOriginAccessIdentityConfig"]
err("in_use", cf.delete_origin_access_control, Id="EDECLAREDOAC01",
    IfMatch=cf.get_origin_access_control(Id="EDECLAREDOAC01")["ETag"])
"#,
    )
    .await;
    assert_eq!(
        out["oac"]["OriginAccessControlConfig"],
        serde_json::json!({"Name": "declared", "Description": "", "SigningProtocol": "sigv4",
            "SigningBehavior": "always", "OriginAccessControlOriginType": "s3"})
    );
    assert_eq!(
        out["oai"],
        serde_json::json!({"CallerReference": "declared-oai", "Comment": "from the config file"})
    );
    assert_eq!(out["in_use"]["code"], "OriginAccessControlInUse");
}
