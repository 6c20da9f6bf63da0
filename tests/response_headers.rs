//! Response headers policies through the real server: created with boto3 and the AWS CLI
//! against the admin API, attached to a distribution created through the API, and observed on
//! the viewer side against a real loopback origin (response-headers-policies.md §13).

use std::path::PathBuf;

use crate::common::awscli::aws;
use crate::common::origin::TestOrigin;
use crate::common::*;

const SECURITY_HEADERS: &str = "67f7725c-6f97-4210-82d7-5512b31e9d03";
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";

/// Python with boto3, from the test venv.
fn python() -> PathBuf {
    std::env::var_os("EDGEGATE_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.venv/bin/python"))
}

/// Runs `script` with a boto3 CloudFront client `cf` on the edge's admin API, the helper
/// `err(fn, **kw)` (the error code and HTTP status of a refused call, `None` when it succeeds)
/// and a dict `out` that is printed as JSON at the end; returns `out`.
async fn boto3(endpoint: &str, script: &str) -> serde_json::Value {
    let prelude = format!(
        r#"
import json, boto3, botocore
cf = boto3.client("cloudfront", endpoint_url="{endpoint}", region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test",
                  config=botocore.config.Config(retries={{"max_attempts": 1}}))
def err(fn, **kw):
    try:
        fn(**kw)
        return None
    except botocore.exceptions.ClientError as e:
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
out = {{}}
"#
    );
    let code = format!("{prelude}{script}\nprint(json.dumps(out, default=str))\n");
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(python());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        cmd.arg("-c")
            .arg(code)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run the tests with scripts/test)",
                    python().display()
                )
            })
    })
    .await
    .unwrap();
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
}

/// The Python expression of a distribution config on `localhost:{port}`: the default behavior
/// has no policy, each `(path, policy id, allow OPTIONS, cache policy)` is a behavior, and a
/// 404 is answered with the page `/errors/404.html` (through the default behavior).
fn distribution_py(port: u16, caller: &str, behaviors: &[(&str, &str, bool, &str)]) -> String {
    let items: Vec<String> = behaviors
        .iter()
        .map(|(path, policy, options, cache)| {
            let methods = if *options {
                r#"{"Quantity": 3, "Items": ["GET", "HEAD", "OPTIONS"], "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}"#
            } else {
                r#"{"Quantity": 2, "Items": ["GET", "HEAD"], "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}"#
            };
            format!(
                r#"{{"PathPattern": "{path}", "TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
                   "AllowedMethods": {methods}, "CachePolicyId": "{cache}", "ResponseHeadersPolicyId": {policy}}}"#
            )
        })
        .collect();
    format!(
        r#"{{
    "CallerReference": "{caller}", "Comment": "rhp", "Enabled": True,
    "Origins": {{"Quantity": 1, "Items": [{{"Id": "web", "DomainName": "localhost",
        "CustomOriginConfig": {{"HTTPPort": {port}, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}}}]}},
    "DefaultCacheBehavior": {{"TargetOriginId": "web", "ViewerProtocolPolicy": "allow-all",
        "CachePolicyId": "{CACHING_OPTIMIZED}"}},
    "CacheBehaviors": {{"Quantity": {n}, "Items": [{items}]}},
    "CustomErrorResponses": {{"Quantity": 1, "Items": [{{"ErrorCode": 404,
        "ResponsePagePath": "/errors/404.html", "ResponseCode": "404", "ErrorCachingMinTTL": 0}}]}},
}}"#,
        n = items.len(),
        items = items.join(",")
    )
}

/// A config with every section, as the reference's §2 example has it.
const FULL_PY: &str = r#"{
    "Name": "full-policy", "Comment": "every section",
    "CorsConfig": {
        "AccessControlAllowOrigins": {"Quantity": 1, "Items": ["https://a.example"]},
        "AccessControlAllowHeaders": {"Quantity": 1, "Items": ["*"]},
        "AccessControlAllowMethods": {"Quantity": 2, "Items": ["GET", "OPTIONS"]},
        "AccessControlAllowCredentials": False,
        "AccessControlExposeHeaders": {"Quantity": 1, "Items": ["ETag"]},
        "AccessControlMaxAgeSec": 600, "OriginOverride": True},
    "SecurityHeadersConfig": {
        "XSSProtection": {"Override": True, "Protection": True, "ModeBlock": True},
        "FrameOptions": {"Override": True, "FrameOption": "DENY"},
        "ReferrerPolicy": {"Override": True, "ReferrerPolicy": "strict-origin-when-cross-origin"},
        "ContentSecurityPolicy": {"Override": True, "ContentSecurityPolicy": "default-src 'self'"},
        "ContentTypeOptions": {"Override": True},
        "StrictTransportSecurity": {"Override": False, "IncludeSubdomains": True, "Preload": True,
                                    "AccessControlMaxAgeSec": 31536000}},
    "ServerTimingHeadersConfig": {"Enabled": True, "SamplingRate": 12.5},
    "CustomHeadersConfig": {"Quantity": 1, "Items": [{"Header": "X-Env", "Value": "prod", "Override": False}]},
    "RemoveHeadersConfig": {"Quantity": 1, "Items": [{"Header": "X-Powered-By"}]},
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_crud_errors_and_managed_policies_via_boto3_and_the_aws_cli() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let ep = format!("http://{}", edge.admin);
    let dist = distribution_py(
        origin.addr.port(),
        "rhp-api",
        &[("/x/*", "pid", false, CACHING_OPTIMIZED)],
    );
    let unknown = distribution_py(
        origin.addr.port(),
        "rhp-unknown",
        &[(
            "/x/*",
            "\"00000000-0000-4000-8000-000000000000\"",
            false,
            CACHING_OPTIMIZED,
        )],
    );
    let out = boto3(
        &ep,
        &format!(
            r#"
full = {FULL_PY}
# §13.8: Quantity 2 with one item.
out["inconsistent"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig={{"Name": "bad",
    "CustomHeadersConfig": {{"Quantity": 2, "Items": [{{"Header": "X-A", "Value": "1", "Override": False}}]}}}})
long_csp = dict(full, Name="long-csp", SecurityHeadersConfig={{"ContentSecurityPolicy": {{"Override": True, "ContentSecurityPolicy": "a" * 1784}}}})
out["long_csp"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig=long_csp)
out["forbidden_remove"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig={{"Name": "rm-bad",
    "RemoveHeadersConfig": {{"Quantity": 1, "Items": [{{"Header": "X-Amz-Cf-Pop"}}]}}}})
out["too_many_custom"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig={{"Name": "many",
    "CustomHeadersConfig": {{"Quantity": 11, "Items": [{{"Header": "X-H%d" % i, "Value": "v", "Override": False}} for i in range(11)]}}}})

r = cf.create_response_headers_policy(ResponseHeadersPolicyConfig=full)
pid, etag = r["ResponseHeadersPolicy"]["Id"], r["ETag"]
out["create_status"] = r["ResponseMetadata"]["HTTPStatusCode"]
out["location"] = r["Location"]
out["pid"] = pid
out["created_equal"] = r["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"] == full
g = cf.get_response_headers_policy(Id=pid)
out["get_equal"] = g["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"] == full
out["get_etag"] = g["ETag"] == etag
gc = cf.get_response_headers_policy_config(Id=pid)
out["config_equal"] = gc["ResponseHeadersPolicyConfig"] == full
out["config_read_back"] = gc["ResponseHeadersPolicyConfig"]
out["duplicate"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig=full)
out["managed_name"] = err(cf.create_response_headers_policy, ResponseHeadersPolicyConfig={{"Name": "Managed-SimpleCORS"}})

out["stale"] = err(cf.update_response_headers_policy, Id=pid, IfMatch="ESTALE", ResponseHeadersPolicyConfig=full)
out["no_if_match"] = err(cf.update_response_headers_policy, Id=pid, ResponseHeadersPolicyConfig=full)
u = cf.update_response_headers_policy(Id=pid, IfMatch=etag, ResponseHeadersPolicyConfig=dict(full, Comment="v2"))
out["updated_comment"] = u["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]["Comment"]
out["new_etag"] = u["ETag"] != etag
etag = u["ETag"]
out["old_etag_now_stale"] = err(cf.delete_response_headers_policy, Id=pid, IfMatch=r["ETag"])

out["illegal_delete"] = err(cf.delete_response_headers_policy, Id="{SECURITY_HEADERS}", IfMatch="E1MANAGED2020")
out["illegal_update"] = err(cf.update_response_headers_policy, Id="{SECURITY_HEADERS}", IfMatch="E1MANAGED2020", ResponseHeadersPolicyConfig=full)
out["no_such"] = err(cf.get_response_headers_policy, Id="00000000-0000-4000-8000-000000000000")
out["bad_type"] = err(cf.list_response_headers_policies, Type="other")

m = cf.list_response_headers_policies(Type="managed")["ResponseHeadersPolicyList"]
out["managed"] = sorted((i["Type"], i["ResponseHeadersPolicy"]["Id"], i["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]["Name"]) for i in m["Items"])
sec = cf.get_response_headers_policy(Id="{SECURITY_HEADERS}")["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]
out["managed_security"] = sec["SecurityHeadersConfig"]

second = cf.create_response_headers_policy(ResponseHeadersPolicyConfig={{"Name": "second", "Comment": ""}})
out["empty_comment"] = second["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"].get("Comment")
p1 = cf.list_response_headers_policies(Type="custom", MaxItems="1")["ResponseHeadersPolicyList"]
p2 = cf.list_response_headers_policies(Type="custom", MaxItems="1", Marker=p1["NextMarker"])["ResponseHeadersPolicyList"]
out["pages"] = [[i["ResponseHeadersPolicy"]["Id"] for i in p["Items"]] for p in (p1, p2)]
out["last_page_marker"] = p2.get("NextMarker")
out["all_count"] = cf.list_response_headers_policies()["ResponseHeadersPolicyList"]["Quantity"]

out["unknown_in_distribution"] = err(cf.create_distribution, DistributionConfig={unknown})
d = cf.create_distribution(DistributionConfig={dist_with_pid})
out["in_use"] = err(cf.delete_response_headers_policy, Id=pid, IfMatch=etag)
dc = cf.get_distribution_config(Id=d["Distribution"]["Id"])
out["behavior_policy"] = dc["DistributionConfig"]["CacheBehaviors"]["Items"][0]["ResponseHeadersPolicyId"]
s = second["ResponseHeadersPolicy"]["Id"]
cf.delete_response_headers_policy(Id=s, IfMatch=second["ETag"])
out["deleted_gone"] = err(cf.get_response_headers_policy, Id=s)
"#,
            dist_with_pid = dist
        ),
    )
    .await;
    let code = |k: &str| out[k].clone();
    let j = |c: &str, s: u16| serde_json::json!([c, s]);
    assert_eq!(
        code("inconsistent"),
        j("InconsistentQuantities", 400),
        "{out}"
    );
    assert_eq!(
        code("long_csp"),
        j("TooLongCSPInResponseHeadersPolicy", 400)
    );
    assert_eq!(code("forbidden_remove"), j("InvalidArgument", 400));
    assert_eq!(
        code("too_many_custom"),
        j("TooManyCustomHeadersInResponseHeadersPolicy", 400)
    );
    assert_eq!(out["create_status"], 201);
    let pid = out["pid"].as_str().unwrap();
    assert_eq!(
        out["location"],
        format!("https://cloudfront.amazonaws.com/2020-05-31/response-headers-policy/{pid}")
    );
    for k in ["created_equal", "get_equal", "get_etag", "config_equal"] {
        assert_eq!(out[k], true, "{k}: read back {}", out["config_read_back"]);
    }
    assert_eq!(
        code("duplicate"),
        j("ResponseHeadersPolicyAlreadyExists", 409)
    );
    assert_eq!(
        code("managed_name"),
        j("ResponseHeadersPolicyAlreadyExists", 409)
    );
    assert_eq!(code("stale"), j("PreconditionFailed", 412));
    assert_eq!(code("no_if_match"), j("InvalidIfMatchVersion", 400));
    assert_eq!(out["updated_comment"], "v2");
    assert_eq!(out["new_etag"], true);
    assert_eq!(code("old_etag_now_stale"), j("PreconditionFailed", 412));
    assert_eq!(code("illegal_delete"), j("IllegalDelete", 400));
    assert_eq!(code("illegal_update"), j("IllegalUpdate", 400));
    assert_eq!(code("no_such"), j("NoSuchResponseHeadersPolicy", 404));
    assert_eq!(code("bad_type"), j("InvalidArgument", 400));
    let managed: Vec<(String, String)> = out["managed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            assert_eq!(t[0], "managed");
            (
                t[1].as_str().unwrap().to_owned(),
                t[2].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        managed,
        [
            (
                "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
                "Managed-CORS-With-Preflight"
            ),
            ("60669652-455b-4ae9-85a4-c4c02393f86c", "Managed-SimpleCORS"),
            (SECURITY_HEADERS, "Managed-SecurityHeadersPolicy"),
            (
                "e61eb60c-9c35-4d20-a928-2b84e02af89c",
                "Managed-CORS-and-SecurityHeadersPolicy"
            ),
            (
                "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
                "Managed-CORS-with-preflight-and-SecurityHeadersPolicy"
            ),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let sec = &out["managed_security"];
    assert_eq!(sec["ContentTypeOptions"]["Override"], true);
    assert_eq!(sec["FrameOptions"]["FrameOption"], "SAMEORIGIN");
    assert_eq!(
        sec["StrictTransportSecurity"]["AccessControlMaxAgeSec"],
        31_536_000
    );
    assert_eq!(out["empty_comment"], "");
    let pages = out["pages"].as_array().unwrap();
    assert_eq!(pages[0].as_array().unwrap().len(), 1);
    assert_eq!(pages[1].as_array().unwrap().len(), 1);
    assert_ne!(pages[0], pages[1]);
    assert!(out["last_page_marker"].is_null(), "{out}");
    assert_eq!(out["all_count"], 7);
    assert_eq!(
        code("unknown_in_distribution"),
        j("NoSuchResponseHeadersPolicy", 404)
    );
    assert_eq!(code("in_use"), j("ResponseHeadersPolicyInUse", 409));
    assert_eq!(out["behavior_policy"], pid);
    assert_eq!(code("deleted_gone"), j("NoSuchResponseHeadersPolicy", 404));

    // The AWS CLI reads the same policy and gets the managed refusal.
    let cli = |args: &[&str]| {
        let mut v = vec!["--endpoint-url", &ep, "cloudfront"];
        v.extend_from_slice(args);
        let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                aws(&refs)
            })
            .await
            .unwrap()
        }
    };
    let got = cli(&[
        "get-response-headers-policy",
        "--id",
        pid,
        "--output",
        "json",
    ])
    .await;
    assert!(got.status.success(), "{got:?}");
    let v: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(
        v["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]["Name"],
        "full-policy"
    );
    let del = cli(&[
        "delete-response-headers-policy",
        "--id",
        SECURITY_HEADERS,
        "--if-match",
        "E1MANAGED2020",
    ])
    .await;
    assert!(!del.status.success());
    assert!(
        String::from_utf8_lossy(&del.stderr).contains("IllegalDelete"),
        "{del:?}"
    );
}

/// Creates the §13 policies with boto3 and one distribution using them through the API; the
/// answer has the distribution's `domain` and the `rm` policy's id, ETag and config.
async fn setup_data_plane(edge: &TestEdge, origin: &TestOrigin) -> serde_json::Value {
    let ep = format!("http://{}", edge.admin);
    let dist = distribution_py(
        origin.addr.port(),
        "rhp-data",
        &[
            (
                "/sec/*",
                &format!("\"{SECURITY_HEADERS}\""),
                false,
                CACHING_OPTIMIZED,
            ),
            ("/cors/*", "cors", true, CACHING_DISABLED),
            ("/scheme/*", "scheme", false, CACHING_OPTIMIZED),
            ("/rm/*", "rm", false, CACHING_OPTIMIZED),
            ("/timing/*", "timing", false, CACHING_OPTIMIZED),
        ],
    );
    boto3(
        &ep,
        &format!(
            r#"
def create(cfg):
    r = cf.create_response_headers_policy(ResponseHeadersPolicyConfig=cfg)
    return r["ResponseHeadersPolicy"]["Id"], r["ETag"]
def cors_cfg(name, origins, override, expose):
    c = {{"AccessControlAllowOrigins": {{"Quantity": len(origins), "Items": origins}},
         "AccessControlAllowHeaders": {{"Quantity": 1, "Items": ["*"]}},
         "AccessControlAllowMethods": {{"Quantity": 3, "Items": ["GET", "HEAD", "OPTIONS"]}},
         "AccessControlAllowCredentials": False, "AccessControlMaxAgeSec": 600,
         "OriginOverride": override}}
    if expose:
        c["AccessControlExposeHeaders"] = {{"Quantity": len(expose), "Items": expose}}
    return {{"Name": name, "CorsConfig": c}}
cors, _ = create(cors_cfg("cors-no-override", ["*"], False, ["ETag"]))
scheme, _ = create(cors_cfg("cors-scheme", ["http://*.example.org"], True, []))
rm_cfg = {{"Name": "remove-and-add",
    "RemoveHeadersConfig": {{"Quantity": 2, "Items": [{{"Header": "Server"}}, {{"Header": "X-Powered-By"}}]}},
    "CustomHeadersConfig": {{"Quantity": 1, "Items": [{{"Header": "X-Powered-By", "Value": "edge", "Override": False}}]}}}}
rm, rm_etag = create(rm_cfg)
timing, _ = create({{"Name": "timing", "ServerTimingHeadersConfig": {{"Enabled": True, "SamplingRate": 0.0}}}})
d = cf.create_distribution(DistributionConfig={dist})
out["domain"] = d["Distribution"]["DomainName"]
out["rm"] = rm
out["rm_etag"] = rm_etag
out["rm_cfg"] = rm_cfg
"#
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_act_on_hits_misses_and_the_edges_own_answers() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let setup = setup_data_plane(&edge, &origin).await;
    let host = setup["domain"].as_str().unwrap().to_owned();
    let v = edge.viewer;

    // §13.1: SecurityHeadersPolicy keeps the origin's X-Frame-Options, overrides
    // X-Content-Type-Options, and adds the rest; on the miss and on the hit.
    origin.program(
        "/sec/",
        200,
        &[
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "foo"),
            ("cache-control", "max-age=60"),
        ],
    );
    for want in ["Miss from cloudfront", "Hit from cloudfront"] {
        let r = get(v, &host, "/sec/a").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-cache"), Some(want));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.header("referrer-policy"),
            Some("strict-origin-when-cross-origin")
        );
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000")
        );
        assert_eq!(r.header("x-xss-protection"), Some("1; mode=block"));
    }
    assert_eq!(origin.hits_for("/sec/"), 1);
    // The edge's own refusal on that behavior (a method it does not allow) gets them too.
    let r = send(v, "DELETE", &host, "/sec/a", &[], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // So does a custom error page, fetched through a behavior without a policy: the policy is
    // the one of the behavior the viewer's request matched.
    origin.program("/sec/missing", 404, &[]);
    let r = get(v, &host, "/sec/missing").await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().starts_with("origin:/errors/404.html"),
        "{}",
        r.text()
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
    // A behavior without a policy gets none of it.
    let r = get(v, &host, "/plain").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-content-type-options"), None);
    assert_eq!(r.header("strict-transport-security"), None);

    // §13.2: OriginOverride false and an origin CORS header: only the origin's.
    origin.program(
        "/cors/acao/",
        200,
        &[("access-control-allow-origin", "https://x.example")],
    );
    let o = [("origin", "https://a.example")];
    let r = send(v, "GET", &host, "/cors/acao/1", &o, b"").await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://x.example")
    );
    assert_eq!(r.header("access-control-expose-headers"), None);
    // §13.3: no origin CORS header: the policy's; without Origin: none.
    let r = send(v, "GET", &host, "/cors/plain/1", &o, b"").await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        None,
        "not a preflight"
    );
    let r = get(v, &host, "/cors/plain/1").await;
    assert!(
        !r.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        r.headers
    );
    // A preflight goes to the origin, and its answer gets the preflight headers.
    let pre = [
        ("origin", "https://a.example"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "x-custom, authorization"),
    ];
    let r = send(v, "OPTIONS", &host, "/cors/plain/pre", &pre, b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(origin.last().method, "OPTIONS");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS")
    );
    assert_eq!(r.header("access-control-allow-headers"), Some("x-custom"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));

    // §13.4: http://*.example.org does not match an https origin; http does, echoed with Vary.
    let r = send(
        v,
        "GET",
        &host,
        "/scheme/1",
        &[("origin", "https://test.example.org")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = send(
        v,
        "GET",
        &host,
        "/scheme/1",
        &[("origin", "http://test.example.org")],
        b"",
    )
    .await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://test.example.org")
    );
    assert!(
        r.header("vary").is_some_and(|v| v.contains("Origin")),
        "{:?}",
        r.headers
    );

    // §13.5 and §13.6: Server is replaced by CloudFront's; X-Powered-By removed, then added.
    origin.program(
        "/rm/",
        200,
        &[
            ("server", "nginx/1.25"),
            ("x-powered-by", "PHP/8"),
            ("cache-control", "max-age=60"),
        ],
    );
    for _ in 0..2 {
        let r = get(v, &host, "/rm/1").await;
        assert_eq!(r.header("server"), Some("CloudFront"));
        assert_eq!(r.header("x-powered-by"), Some("edge"));
        assert!(r.header("date").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_timing_and_policy_updates_apply_at_once() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start("").await;
    let setup = setup_data_plane(&edge, &origin).await;
    let host = setup["domain"].as_str().unwrap().to_owned();
    let v = edge.viewer;

    // §13.7: sampling rate 0; Pragma: server-timing forces the header.
    origin.program("/timing/", 200, &[("cache-control", "max-age=60")]);
    let pragma = [("pragma", "server-timing")];
    let metrics = |r: &Resp| -> Vec<String> {
        r.header("server-timing")
            .unwrap_or_else(|| panic!("no Server-Timing: {:?}", r.headers))
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let r = send(v, "GET", &host, "/timing/a", &pragma, b"").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let m = metrics(&r);
    let rid = r.header("x-amz-cf-id").unwrap();
    let pop = r.header("x-amz-cf-pop").unwrap();
    assert!(m.contains(&format!("cdn-rid;desc=\"{rid}\"")), "{m:?}");
    assert!(m.contains(&format!("cdn-pop;desc=\"{pop}\"")), "{m:?}");
    assert!(
        m.iter().any(|x| x.starts_with("cdn-downstream-fbl;dur=")),
        "{m:?}"
    );
    assert!(
        m.iter().any(|x| x.starts_with("cdn-upstream-fbl;dur=")),
        "{m:?}"
    );
    assert!(
        m.contains(&"cdn-upstream-layer;desc=\"EDGE\"".to_owned()),
        "{m:?}"
    );
    let outcomes = |m: &[String]| -> Vec<String> {
        m.iter()
            .filter(|x| {
                ["cdn-cache-hit", "cdn-cache-miss", "cdn-cache-refresh"].contains(&x.as_str())
            })
            .cloned()
            .collect()
    };
    assert_eq!(outcomes(&m), ["cdn-cache-miss"]);
    let r = send(v, "GET", &host, "/timing/a", &pragma, b"").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    let m = metrics(&r);
    assert_eq!(outcomes(&m), ["cdn-cache-hit"]);
    assert!(
        m.contains(&"cdn-hit-layer;desc=\"EDGE\"".to_owned()),
        "{m:?}"
    );
    assert!(!m.iter().any(|x| x.starts_with("cdn-upstream")), "{m:?}");
    let r = get(v, &host, "/timing/a").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.header("server-timing"), None);
    // On a miss the origin's own entries follow CloudFront's; a hit does not replay them.
    origin.program(
        "/timing/merge/",
        200,
        &[
            ("server-timing", "db;dur=53"),
            ("cache-control", "max-age=60"),
        ],
    );
    let r = send(v, "GET", &host, "/timing/merge/1", &pragma, b"").await;
    let m = metrics(&r);
    assert_eq!(m.last().map(String::as_str), Some("db;dur=53"), "{m:?}");
    let r = send(v, "GET", &host, "/timing/merge/1", &pragma, b"").await;
    assert!(!metrics(&r).contains(&"db;dur=53".to_owned()));

    // An update through the AWS CLI reaches the data plane before the API answers.
    origin.program(
        "/rm/",
        200,
        &[("x-powered-by", "PHP/8"), ("cache-control", "max-age=60")],
    );
    let r = get(v, &host, "/rm/u").await;
    assert_eq!(r.header("x-powered-by"), Some("edge"));
    let mut cfg = setup["rm_cfg"].clone();
    cfg["CustomHeadersConfig"]["Items"][0]["Value"] = "edge-v2".into();
    cfg["CustomHeadersConfig"]["Items"][0]["Override"] = true.into();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rm.json");
    std::fs::write(&file, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let ep = format!("http://{}", edge.admin);
    let args: Vec<String> = [
        "--endpoint-url",
        &ep,
        "cloudfront",
        "update-response-headers-policy",
        "--id",
        setup["rm"].as_str().unwrap(),
        "--if-match",
        setup["rm_etag"].as_str().unwrap(),
        "--response-headers-policy-config",
        &format!("file://{}", file.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws(&refs)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = get(v, &host, "/rm/u").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.header("x-powered-by"), Some("edge-v2"));
}

#[tokio::test]
async fn a_policy_declared_in_the_config_file_serves_from_the_first_request() {
    let origin = TestOrigin::start().await;
    origin.program(
        "/",
        200,
        &[("x-frame-options", "SAMEORIGIN"), ("server", "origin/1")],
    );
    let port = origin.addr.port();
    let config = format!(
        r#"
[[response_headers_policies]]
id = "1f6e2f3a-0b1c-4d5e-8f90-a1b2c3d4e5f6"
name = "declared"
comment = "from the config file"
security_headers_config = {{ frame_options = {{ override = true, frame_option = "DENY" }}, strict_transport_security = {{ override = false, access_control_max_age_sec = 63072000, include_subdomains = true, preload = true }} }}
custom_headers_config = [{{ header = "X-Declared", value = "yes", override = false }}]
remove_headers_config = [{{ header = "Server" }}]

[[distributions]]
id = "ERHP00000001"
domain_name = "{HOST}"
caller_reference = "declared-rhp"
comment = ""
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only" }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_OPTIMIZED}"
response_headers_policy_id = "1f6e2f3a-0b1c-4d5e-8f90-a1b2c3d4e5f6"
"#
    );
    let edge = TestEdge::start(&config).await;
    let r = get(edge.viewer, HOST, "/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains; preload")
    );
    assert_eq!(r.header("x-declared"), Some("yes"));
    assert_eq!(r.header("server"), Some("CloudFront"));
    // The API reads the declared policy back in CloudFront's shape.
    let api = send(
        edge.admin,
        "GET",
        "localhost",
        "/2020-05-31/response-headers-policy/1f6e2f3a-0b1c-4d5e-8f90-a1b2c3d4e5f6/config",
        &[],
        b"",
    )
    .await;
    assert_eq!(api.status, 200);
    let body = api.text();
    assert!(body.contains("<Name>declared</Name>"), "{body}");
    assert!(
        body.contains("<CustomHeadersConfig><Quantity>1</Quantity><Items><ResponseHeadersPolicyCustomHeader><Header>X-Declared</Header>"),
        "{body}"
    );
}
