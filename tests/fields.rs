//! No DistributionConfig field is silently ignored: every member that botocore's CloudFront
//! service model gives `DistributionConfig`, `CacheBehavior`, `DefaultCacheBehavior`, `Origin`,
//! `OriginGroup`, `S3OriginConfig` and `CustomOriginConfig` is listed below, either as acted on
//! (naming the test that shows it, which must exist in tests/ or src/) or as warned about (and
//! then a distribution with that member set to a non-default value must load with a warning
//! naming it). A member that a newer botocore adds fails the test until it is listed here.

use std::io::Read;
use std::path::{Path, PathBuf};

use edgegate::config::FileConfig;
use edgegate::config::declare;

/// Where in the test distribution a member's TOML goes.
#[derive(Debug, Clone, Copy)]
enum At {
    /// Top level of the distribution.
    Dist,
    /// The default cache behavior.
    DefaultBehavior,
    /// The ordered cache behavior.
    Behavior,
    /// The custom origin.
    Origin,
    /// The custom origin's `CustomOriginConfig`.
    Custom,
    /// The S3 origin's `S3OriginConfig`.
    S3,
    /// The origin group.
    Group,
    /// Appended after everything else (for whole extra tables).
    Tail,
}

/// How edgegate treats a member.
#[derive(Debug, Clone, Copy)]
enum How {
    /// Acted on; the named test shows it.
    Acted(&'static str),
    /// Acted on, but no test shows it end to end yet: the text names the code that acts on it,
    /// which must occur in src/ outside the model.
    Untested(&'static str),
    /// Not acted on: this TOML sets it to a non-default value, and loading must warn about it.
    Warns(At, &'static str),
}

use At::*;
use How::*;

const DISTRIBUTION_CONFIG: &[(&str, How)] = &[
    (
        "CallerReference",
        Acted("control_plane_crud_etags_and_errors_via_aws_cli"),
    ),
    ("Aliases", Acted("miss_then_hit_with_cloudfront_headers")),
    (
        "DefaultRootObject",
        Acted("default_root_object_and_routing_refusals"),
    ),
    ("Origins", Acted("miss_then_hit_with_cloudfront_headers")),
    (
        "OriginGroups",
        Acted("origin_groups_fail_over_on_their_status_codes"),
    ),
    (
        "DefaultCacheBehavior",
        Acted("miss_then_hit_with_cloudfront_headers"),
    ),
    (
        "CacheBehaviors",
        Acted("uncached_behavior_passes_methods_and_bodies"),
    ),
    (
        "CustomErrorResponses",
        Acted("custom_error_responses_serve_their_pages"),
    ),
    (
        "Comment",
        Acted("control_plane_crud_etags_and_errors_via_aws_cli"),
    ),
    (
        "Logging",
        Acted("two_billing_regions_deliver_to_one_bucket"),
    ),
    (
        "PriceClass",
        Warns(Dist, r#"price_class = "PriceClass_100""#),
    ),
    ("Enabled", Acted("disabled_distributions_are_refused")),
    (
        "ViewerCertificate",
        Warns(
            Dist,
            r#"viewer_certificate = { cloudfront_default_certificate = true, minimum_protocol_version = "TLSv1" }"#,
        ),
    ),
    ("Restrictions", Acted("geo_restriction_blocks_by_country")),
    (
        "WebACLId",
        Warns(
            Dist,
            r#"web_acl_id = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/w/1""#,
        ),
    ),
    ("HttpVersion", Warns(Dist, r#"http_version = "http1.1""#)),
    ("IsIPV6Enabled", Warns(Dist, "is_ipv6_enabled = false")),
    (
        "ContinuousDeploymentPolicyId",
        Warns(Dist, r#"continuous_deployment_policy_id = "cdp-1""#),
    ),
    ("Staging", Warns(Dist, "staging = true")),
    (
        "AnycastIpListId",
        Warns(Dist, r#"anycast_ip_list_id = "aip-1""#),
    ),
    (
        "TenantConfig",
        Warns(
            Dist,
            r#"tenant_config = { parameter_definitions = [{ name = "tenant", definition = { string_schema = { required = true } } }] }"#,
        ),
    ),
    (
        "ConnectionMode",
        Warns(Dist, r#"connection_mode = "tenant-only""#),
    ),
    (
        "ViewerMtlsConfig",
        Warns(Dist, r#"viewer_mtls_config = { mode = "required" }"#),
    ),
    (
        "ConnectionFunctionAssociation",
        Warns(
            Dist,
            r#"connection_function_association = { id = "cfa-1" }"#,
        ),
    ),
    (
        "CacheTagConfig",
        Warns(Dist, r#"cache_tag_config = { header_name = "X-Tag" }"#),
    ),
];

/// `CacheBehavior` members; for `DefaultCacheBehavior` the same entries (without
/// `PathPattern`) are checked in the default behavior.
const CACHE_BEHAVIOR: &[(&str, How)] = &[
    (
        "PathPattern",
        Acted("uncached_behavior_passes_methods_and_bodies"),
    ),
    (
        "TargetOriginId",
        Acted("miss_then_hit_with_cloudfront_headers"),
    ),
    (
        "TrustedSigners",
        Acted("key_pair_signed_urls_open_trusted_signer_behaviors"),
    ),
    (
        "TrustedKeyGroups",
        Acted("signed_urls_from_the_aws_cli_open_restricted_behaviors"),
    ),
    (
        "ViewerProtocolPolicy",
        Acted("default_root_object_and_routing_refusals"),
    ),
    (
        "AllowedMethods",
        Acted("uncached_behavior_passes_methods_and_bodies"),
    ),
    (
        "SmoothStreaming",
        Warns(Behavior, "smooth_streaming = true"),
    ),
    (
        "Compress",
        Acted("compress_brotli_and_gzip_variants_made_once_and_cached"),
    ),
    (
        "LambdaFunctionAssociations",
        Warns(
            Behavior,
            r#"lambda_function_associations = [{ lambda_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:f:1", event_type = "origin-request" }]"#,
        ),
    ),
    (
        "FunctionAssociations",
        Acted("viewer_functions_change_requests_and_responses_through_the_edge"),
    ),
    (
        "FieldLevelEncryptionId",
        Warns(Behavior, r#"field_level_encryption_id = "fle-1""#),
    ),
    (
        "RealtimeLogConfigArn",
        Warns(
            Behavior,
            r#"realtime_log_config_arn = "arn:aws:cloudfront::111122223333:realtime-log-config/r""#,
        ),
    ),
    (
        "CachePolicyId",
        Acted("uncached_behavior_passes_methods_and_bodies"),
    ),
    (
        "OriginRequestPolicyId",
        Acted("origin_request_policy_forwards_viewer_headers"),
    ),
    (
        "ResponseHeadersPolicyId",
        Acted("policies_act_on_hits_misses_and_the_edges_own_answers"),
    ),
    (
        "GrpcConfig",
        Warns(Behavior, "grpc_config = { enabled = true }"),
    ),
    (
        "ForwardedValues",
        Acted("legacy_forwarded_values_and_ttls_shape_the_cache"),
    ),
    (
        "MinTTL",
        Acted("legacy_forwarded_values_and_ttls_shape_the_cache"),
    ),
    (
        "DefaultTTL",
        Acted("legacy_forwarded_values_and_ttls_shape_the_cache"),
    ),
    (
        "MaxTTL",
        Acted("legacy_forwarded_values_and_ttls_shape_the_cache"),
    ),
];

const ORIGIN: &[(&str, How)] = &[
    ("Id", Acted("miss_then_hit_with_cloudfront_headers")),
    ("DomainName", Acted("miss_then_hit_with_cloudfront_headers")),
    ("OriginPath", Acted("origin_path_host_and_custom_headers")),
    (
        "CustomHeaders",
        Acted("origin_path_host_and_custom_headers"),
    ),
    (
        "S3OriginConfig",
        Acted("s3_origin_in_localstack_via_aws_cli_with_invalidation_and_restart"),
    ),
    (
        "CustomOriginConfig",
        Acted("miss_then_hit_with_cloudfront_headers"),
    ),
    (
        "VpcOriginConfig",
        Warns(
            Tail,
            "[[distributions.origins]]\nid = \"vpc\"\ndomain_name = \"vpc.example\"\nvpc_origin_config = { vpc_origin_id = \"vo_1\" }",
        ),
    ),
    (
        "ConnectionAttempts",
        Acted("closed_port_is_a_connect_error_after_all_attempts"),
    ),
    ("ConnectionTimeout", Acted("connection_timeout_per_attempt")),
    (
        "ResponseCompletionTimeout",
        Warns(Origin, "response_completion_timeout = 60"),
    ),
    (
        "OriginShield",
        Acted("two_hundred_misses_over_three_edges_reach_the_origin_once"),
    ),
    (
        "OriginAccessControlId",
        Acted("signing_behaviors_on_an_s3_origin_and_botocore_agrees_on_the_signature"),
    ),
];

const ORIGIN_GROUP: &[(&str, How)] = &[
    ("Id", Acted("origin_groups_fail_over_on_their_status_codes")),
    (
        "FailoverCriteria",
        Acted("status_codes_fail_over_only_when_configured"),
    ),
    (
        "Members",
        Acted("origin_groups_fail_over_on_their_status_codes"),
    ),
    (
        "SelectionCriteria",
        Warns(Group, r#"selection_criteria = "media-quality-based""#),
    ),
];

const S3_ORIGIN_CONFIG: &[(&str, How)] = &[
    (
        "OriginAccessIdentity",
        Acted("oai_crud_idempotency_and_signing_on_an_s3_origin"),
    ),
    ("OriginReadTimeout", Untested("s.origin_read_timeout")),
];

const CUSTOM_ORIGIN_CONFIG: &[(&str, How)] = &[
    ("HTTPPort", Acted("miss_then_hit_with_cloudfront_headers")),
    (
        "HTTPSPort",
        Acted("match_viewer_picks_the_viewers_protocol"),
    ),
    (
        "OriginProtocolPolicy",
        Acted("match_viewer_picks_the_viewers_protocol"),
    ),
    (
        "OriginSslProtocols",
        Warns(Custom, r#"origin_ssl_protocols = ["TLSv1.1", "TLSv1.2"]"#),
    ),
    (
        "OriginReadTimeout",
        Acted("slow_origin_times_out_and_only_get_head_are_retried"),
    ),
    (
        "OriginKeepaliveTimeout",
        Untested("custom.origin_keepalive_timeout"),
    ),
    (
        "IpAddressType",
        Warns(Custom, r#"ip_address_type = "dualstack""#),
    ),
    (
        "OriginMtlsConfig",
        Warns(
            Custom,
            r#"origin_mtls_config = { client_certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/c" }"#,
        ),
    ),
    (
        "OriginHttpVersion",
        Warns(Custom, r#"origin_http_version = "http2""#),
    ),
];

/// The test distribution, each placeholder replaced by the given TOML (or nothing).
fn distribution(at: Option<At>, toml: &str) -> String {
    let put = |here: At| {
        if at.is_some_and(|a| std::mem::discriminant(&a) == std::mem::discriminant(&here)) {
            toml
        } else {
            ""
        }
    };
    format!(
        r#"
[[distributions]]
id = "EFIELDS00001"
caller_reference = "fields"
comment = "fields"
enabled = true
{}

[[distributions.origins]]
id = "web"
domain_name = "origin.example"
{}

[distributions.origins.custom_origin_config]
http_port = 8080
origin_protocol_policy = "http-only"
{}

[[distributions.origins]]
id = "s3"
domain_name = "bucket.s3.amazonaws.com"

[distributions.origins.s3_origin_config]
origin_read_timeout = 30
{}

[[distributions.origin_groups]]
id = "group"
failover_criteria = {{ status_codes = [503] }}
members = [{{ origin_id = "web" }}, {{ origin_id = "s3" }}]
{}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
{}

[[distributions.cache_behaviors]]
path_pattern = "/b/*"
target_origin_id = "group"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
{}

{}
"#,
        put(Dist),
        put(Origin),
        put(Custom),
        put(S3),
        put(Group),
        put(DefaultBehavior),
        put(Behavior),
        put(Tail),
    )
}

/// The load warnings (and errors) of a config file with this text.
fn load(text: &str) -> (Vec<String>, Vec<String>) {
    let file: FileConfig = toml::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_, report) = declare::decode(&file, Path::new("fields.toml"), base);
    (report.warnings, report.errors)
}

/// botocore's CloudFront service model, from the test venv (`EDGEGATE_TEST_PYTHON`'s venv, else
/// tests/.venv), gzipped or not.
fn service_model() -> serde_json::Value {
    let venv = std::env::var_os("EDGEGATE_TEST_PYTHON")
        .map(PathBuf::from)
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/.venv"));
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/setup-test-env (or the suite with scripts/test)",
                lib.display()
            )
        })
        .filter_map(Result::ok)
        .map(|e| {
            e.path()
                .join("site-packages/botocore/data/cloudfront/2020-05-31/service-2.json")
        })
        .flat_map(|p| [p.with_extension("json.gz"), p])
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no botocore CloudFront model under {}", lib.display()));
    let raw = std::fs::read(&found).unwrap();
    let text = if found.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(raw).unwrap()
    };
    serde_json::from_str(&text).unwrap()
}

/// Every `fn NAME(` in the Rust sources of tests/ and src/.
fn test_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() && !p.ends_with(".venv") {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = String::new();
    walk(&root.join("tests"), &mut all);
    walk(&root.join("src"), &mut all);
    all
}

/// The non-model sources of src/ (where a setting is acted on).
fn acting_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() && !p.ends_with("model") {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut all = String::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    all
}

/// Whether a warning names `member` as a whole path segment.
fn names(warning: &str, member: &str) -> bool {
    warning.contains(&format!(".{member}:")) || warning.contains(&format!(".{member}."))
}

#[test]
fn every_distribution_config_member_is_acted_on_or_warned_about() {
    let model = service_model();
    let sources = test_sources();
    let acting = acting_sources();
    let (base_warnings, base_errors) = load(&distribution(None, ""));
    assert!(base_errors.is_empty(), "{base_errors:#?}");
    assert!(base_warnings.is_empty(), "{base_warnings:#?}");

    let default_behavior: Vec<(&str, How)> = CACHE_BEHAVIOR
        .iter()
        .filter(|(m, _)| *m != "PathPattern")
        .map(|(m, h)| match h {
            Warns(Behavior, t) => (*m, Warns(DefaultBehavior, t)),
            other => (*m, *other),
        })
        .collect();
    let shapes: [(&str, &[(&str, How)]); 7] = [
        ("DistributionConfig", DISTRIBUTION_CONFIG),
        ("CacheBehavior", CACHE_BEHAVIOR),
        ("DefaultCacheBehavior", &default_behavior),
        ("Origin", ORIGIN),
        ("OriginGroup", ORIGIN_GROUP),
        ("S3OriginConfig", S3_ORIGIN_CONFIG),
        ("CustomOriginConfig", CUSTOM_ORIGIN_CONFIG),
    ];
    let mut problems = Vec::new();
    let mut checked = 0;
    for (shape, table) in shapes {
        let members = model["shapes"][shape]["members"]
            .as_object()
            .unwrap_or_else(|| panic!("no shape {shape} in the service model"));
        for member in members.keys() {
            let Some((_, how)) = table.iter().find(|(m, _)| m == member) else {
                problems.push(format!(
                    "{shape}.{member} is in botocore's model but not in this test's table: act on it (and name the test) or warn about it"
                ));
                continue;
            };
            checked += 1;
            let warns = |at: At, toml: &str, problems: &mut Vec<String>| {
                let (warnings, errors) = load(&distribution(Some(at), toml));
                if !errors.is_empty() {
                    problems.push(format!(
                        "{shape}.{member}: {toml} does not load: {errors:?}"
                    ));
                } else if !warnings.iter().any(|w| names(w, member)) {
                    problems.push(format!(
                        "{shape}.{member}: {toml} loads without a warning naming {member}: {warnings:?}"
                    ));
                }
            };
            match *how {
                Acted(test) => {
                    if !sources.contains(&format!("fn {test}(")) {
                        problems.push(format!("{shape}.{member}: no test named {test}"));
                    }
                }
                Untested(code) => {
                    if !acting.contains(code) {
                        problems.push(format!(
                            "{shape}.{member}: {code:?} does not occur outside src/model"
                        ));
                    }
                }
                Warns(at, toml) => warns(at, toml, &mut problems),
            }
        }
        for (m, _) in table {
            if !members.contains_key(*m) {
                problems.push(format!(
                    "{shape}.{m} is in this test's table but not in botocore's model"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 90, "only {checked} members checked");
}

// === members acted on, end to end through the real edge ===

/// A distribution on two real origins (`web` and `backup`, the latter under `/backup`) whose
/// behaviors exercise origin groups, legacy `ForwardedValues` and TTLs, and an origin request
/// policy; plus a disabled distribution.
fn acted_config(web: u16, backup: u16) -> String {
    let fv = r#"forwarded_values = { query_string = true, query_string_cache_keys = ["v"], cookies = { forward = "none" } }"#;
    let custom = |port: u16| {
        format!(
            "custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = \"http-only\", origin_read_timeout = 2 }}"
        )
    };
    let legacy = |pattern: &str, min: u64, default: u64, max: u64| {
        format!(
            "[[distributions.cache_behaviors]]\npath_pattern = \"{pattern}\"\ntarget_origin_id = \"web\"\nviewer_protocol_policy = \"allow-all\"\n{fv}\nmin_ttl = {min}\ndefault_ttl = {default}\nmax_ttl = {max}\n"
        )
    };
    format!(
        r#"
[[distributions]]
id = "EACTED000001"
domain_name = "{host}"
caller_reference = "acted"
comment = "acted"
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
{web_origin}

[[distributions.origins]]
id = "backup"
domain_name = "localhost"
origin_path = "/backup"
connection_attempts = 1
connection_timeout = 2
{backup_origin}

[[distributions.origin_groups]]
id = "failover"
failover_criteria = {{ status_codes = [503] }}
members = [{{ origin_id = "web" }}, {{ origin_id = "backup" }}]

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/status/*"
target_origin_id = "failover"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"

[[distributions.cache_behaviors]]
path_pattern = "/headers/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
origin_request_policy_id = "216adef6-5c7f-47e4-b989-5492eafa07d3"

{fv_behavior}
{nostore_behavior}
{maxage_behavior}
{plain0_behavior}

[[distributions]]
id = "EDISABLED001"
domain_name = "ddisabled0001.cloudfront.localhost"
caller_reference = "disabled"
comment = "disabled"
enabled = false

[[distributions.origins]]
id = "web"
domain_name = "localhost"
{web_origin}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
"#,
        host = crate::common::HOST,
        web_origin = custom(web),
        backup_origin = custom(backup),
        fv_behavior = legacy("/fv/*", 0, 3600, 3600),
        nostore_behavior = legacy("/nostore/*", 3600, 3600, 3600),
        maxage_behavior = legacy("/maxage1/*", 0, 0, 0),
        plain0_behavior = legacy("/plain0/*", 0, 0, 0),
    )
}

async fn acted_edge() -> (
    crate::common::TestEdge,
    crate::common::origin::TestOrigin,
    crate::common::origin::TestOrigin,
) {
    let web = crate::common::origin::TestOrigin::start().await;
    let backup = crate::common::origin::TestOrigin::start().await;
    let edge =
        crate::common::TestEdge::start(&acted_config(web.addr.port(), backup.addr.port())).await;
    (edge, web, backup)
}

/// An origin group sends a request to its secondary member when the primary answers one of
/// the group's failover status codes, and not otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_groups_fail_over_on_their_status_codes() {
    use crate::common::{HOST, get};
    let (edge, web, backup) = acted_edge().await;
    let r = get(edge.viewer, HOST, "/status/503/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/backup/status/503/a");
    assert_eq!(web.hits_for("/status/503/a"), 1);
    assert_eq!(backup.hits_for("/backup/status/503/a"), 1);
    // 404 is not a failover code of this group: the primary's answer stands.
    let r = get(edge.viewer, HOST, "/status/404/b").await;
    assert_eq!(r.status, 404);
    assert_eq!(backup.hits(), 1);
    edge.stop().await;
}

/// Legacy `ForwardedValues` put only the whitelisted query strings in the cache key, and the
/// behavior's MinTTL, DefaultTTL and MaxTTL bound how long objects stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_forwarded_values_and_ttls_shape_the_cache() {
    use crate::common::{HOST, get};
    let (edge, web, _backup) = acted_edge().await;
    let xc = |r: &crate::common::Resp| r.header("x-cache").unwrap_or("").to_owned();
    // QueryStringCacheKeys ["v"]: v is in the key, x is not. DefaultTTL 3600 keeps the object.
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/fv/a?v=1").await),
        "Miss from cloudfront"
    );
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/fv/a?v=1&x=2").await),
        "Hit from cloudfront"
    );
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/fv/a?v=2").await),
        "Miss from cloudfront"
    );
    assert_eq!(web.hits_for("/fv/a"), 2);
    // DefaultTTL 0: an object without Cache-Control is not kept.
    get(edge.viewer, HOST, "/plain0/b").await;
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/plain0/b").await),
        "Miss from cloudfront"
    );
    // MinTTL 3600 keeps even a no-store object.
    get(edge.viewer, HOST, "/nostore/c").await;
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/nostore/c").await),
        "Hit from cloudfront"
    );
    // MaxTTL 0 caps the origin's max-age=1.
    get(edge.viewer, HOST, "/maxage1/d").await;
    assert_eq!(
        xc(&get(edge.viewer, HOST, "/maxage1/d").await),
        "Miss from cloudfront"
    );
    assert_eq!(web.hits_for("/maxage1/d"), 2);
    edge.stop().await;
}

/// An origin request policy (managed AllViewer) forwards viewer headers that a behavior
/// without one does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_request_policy_forwards_viewer_headers() {
    use crate::common::{HOST, send};
    let (edge, web, _backup) = acted_edge().await;
    let probe = [("x-probe", "1")];
    send(edge.viewer, "GET", HOST, "/headers/a", &probe, b"").await;
    assert_eq!(
        web.last().headers.get("x-probe").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    send(edge.viewer, "GET", HOST, "/plain/a", &probe, b"").await;
    assert_eq!(web.last().path_and_query, "/plain/a");
    assert!(web.last().headers.get("x-probe").is_none());
    edge.stop().await;
}

/// A distribution with `Enabled: false` serves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_distributions_are_refused() {
    use crate::common::get;
    let (edge, web, _backup) = acted_edge().await;
    let r = get(edge.viewer, "ddisabled0001.cloudfront.localhost", "/a").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("disabled"), "{}", r.text());
    assert_eq!(web.hits(), 0);
    edge.stop().await;
}
