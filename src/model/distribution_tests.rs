//! Tests for the distribution config: round trips through every syntax, and every
//! validation rule with its path and code.

use super::*;
use crate::model::tree::{from_json, from_toml, from_xml};

/// The CLI example of caching.md §20 (`DistributionConfig` only).
const EXAMPLE_JSON: &str = include_str!("fixtures/caching-md-example.json");
/// The same example serialised by botocore's REST-XML serializer for CreateDistribution.
const BOTOCORE_XML: &[u8] = include_bytes!("fixtures/create-distribution.xml");

fn example() -> DistributionConfig {
    let v: serde_json::Value = serde_json::from_str(EXAMPLE_JSON).unwrap();
    let mut d = Diagnostics::new();
    let cfg = DistributionConfig::from_tree(&from_json(&v).unwrap(), &mut d);
    assert!(d.errors.is_empty(), "{d}");
    cfg.unwrap()
}

fn decode_xml(xml: &[u8]) -> (Option<DistributionConfig>, Diagnostics) {
    let (root, t) = from_xml(xml).unwrap();
    assert_eq!(root, "DistributionConfig");
    let mut d = Diagnostics::new();
    (DistributionConfig::from_tree(&t, &mut d), d)
}

fn errors_of(cfg: &DistributionConfig) -> Vec<(String, &'static str)> {
    let mut d = Diagnostics::new();
    cfg.validate(&mut d);
    d.errors.into_iter().map(|i| (i.path, i.code)).collect()
}

#[track_caller]
fn assert_error(cfg: &DistributionConfig, path: &str, code: &str) {
    let errs = errors_of(cfg);
    assert!(
        errs.iter().any(|(p, c)| p == path && *c == code),
        "expected {code} at {path}; got {errs:?}"
    );
}

#[test]
fn reference_example_round_trips_json_tree_xml() {
    let cfg = example();
    assert_eq!(cfg.caller_reference, "cli-example");
    assert_eq!(cfg.aliases, ["www.example.com"]);
    assert_eq!(cfg.origins.len(), 2);
    assert_eq!(cfg.origins[0].origin_access_control_id, "E1U5SU53APK3RH");
    assert_eq!(
        cfg.origins[1].custom_headers[0].header_name,
        "X-Origin-Verify"
    );
    let custom = cfg.origins[1].custom_origin_config.as_ref().unwrap();
    assert_eq!(
        custom.origin_protocol_policy,
        OriginProtocolPolicy::HttpsOnly
    );
    assert_eq!(custom.origin_ssl_protocols, [SslProtocol::TlsV1_2]);
    assert_eq!(cfg.origin_groups[0].failover_status_codes, [502, 503]);
    assert_eq!(cfg.origin_groups[0].members, ["api", "s3-site"]);
    assert_eq!(cfg.default_cache_behavior.path_pattern, "*");
    assert_eq!(
        cfg.default_cache_behavior.allowed_methods,
        [Method::Head, Method::Get]
    );
    assert_eq!(cfg.cache_behaviors[0].allowed_methods.len(), 7);
    assert_eq!(
        cfg.custom_error_responses[0].response_code.as_deref(),
        Some("404")
    );
    assert_eq!(cfg.web_acl_id, None);
    assert_eq!(cfg.http_version, Some(HttpVersion::Http2And3));
    assert_eq!(
        cfg.restrictions,
        Some(GeoRestriction {
            restriction_type: GeoRestrictionType::Blacklist,
            items: vec!["KP".into()]
        })
    );

    // config → tree → XML → tree → config
    let xml = cfg.to_xml();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DistributionConfig xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"));
    assert!(xml.contains(
        "<Aliases><Quantity>1</Quantity><Items><CNAME>www.example.com</CNAME></Items></Aliases>"
    ));
    assert!(xml.contains("<Members><Quantity>2</Quantity><Items><OriginGroupMember><OriginId>api</OriginId></OriginGroupMember>"));
    assert!(xml.contains("<StatusCodes><Quantity>2</Quantity><Items><StatusCode>502</StatusCode><StatusCode>503</StatusCode></Items></StatusCodes>"));
    assert!(xml.contains("<CachedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items></CachedMethods>"));
    assert!(xml.contains("<GeoRestriction><RestrictionType>blacklist</RestrictionType><Quantity>1</Quantity><Items><Location>KP</Location></Items></GeoRestriction>"));
    assert!(xml.contains("<OriginCustomHeader><HeaderName>X-Origin-Verify</HeaderName>"));
    assert!(xml.contains("<CustomErrorResponse><ErrorCode>404</ErrorCode>"));
    let (back, d) = decode_xml(xml.as_bytes());
    assert!(d.errors.is_empty(), "{d}");
    assert_eq!(back.as_ref(), Some(&cfg));
    // and the tree itself is stable
    assert_eq!(back.unwrap().to_tree(), cfg.to_tree());
}

#[test]
fn botocore_serialised_xml_decodes_to_the_same_config() {
    let (cfg, d) = decode_xml(BOTOCORE_XML);
    assert!(d.errors.is_empty(), "{d}");
    assert_eq!(cfg, Some(example()));
}

#[test]
fn reference_example_validates_with_warnings_only() {
    let cfg = example();
    let mut d = Diagnostics::new();
    cfg.validate(&mut d);
    assert!(d.errors.is_empty(), "{d}");
    let warned: Vec<&str> = d.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        warned,
        [
            "DistributionConfig.ViewerCertificate",
            "DistributionConfig.HttpVersion",
        ]
    );
    assert!(d.warnings.iter().all(|w| {
        w.code == NOT_IMPLEMENTED
            && w.message
                .contains("accepted but not implemented by edgegate; it has no effect")
    }));
    assert_eq!(
        cfg.referenced_cache_policy_ids(),
        [
            "658327ea-f89d-4fab-a63d-7e88639e58f6",
            "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        ]
    );
    assert_eq!(
        cfg.referenced_origin_request_policy_ids(),
        ["b689b0a8-53d0-40ab-baf2-68738e2966ac"]
    );
    assert!(cfg.referenced_key_group_ids().is_empty());
}

const TOML_DIST: &str = r#"
caller_reference = "toml-1"
comment = "inline"
enabled = true
aliases = ["cdn.example.com", "*.img.example.com"]
default_root_object = "index.html"
http_version = "http2"

[[origins]]
id = "site"
domain_name = "bucket.s3.us-east-1.amazonaws.com"
s3_origin_config = { origin_access_identity = "" }
origin_access_control_id = "E1U5SU53APK3RH"

[[origins]]
id = "api"
domain_name = "api.example.com"
origin_path = "/v1"
connection_attempts = 2
custom_headers = [{ header_name = "X-Secret", header_value = "s" }]
[origins.custom_origin_config]
http_port = 8080
origin_protocol_policy = "https-only"
origin_ssl_protocols = ["TLSv1.2", "TLSv1.1"]
origin_read_timeout = 60

[[origin_groups]]
id = "failover"
failover_criteria = { status_codes = [500, 502, 503, 504] }
members = [{ origin_id = "api" }, { origin_id = "site" }]

[default_cache_behavior]
target_origin_id = "site"
viewer_protocol_policy = "redirect-to-https"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
compress = true
trusted_key_groups = ["kg-1"]

[[cache_behaviors]]
path_pattern = "/api/*"
target_origin_id = "failover"
viewer_protocol_policy = "https-only"
allowed_methods = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
min_ttl = 0
default_ttl = 60
forwarded_values = { query_string = true, cookies = { forward = "whitelist", whitelisted_names = ["session"] }, headers = ["Authorization"] }

[[custom_error_responses]]
error_code = 404
response_page_path = "/404.html"
response_code = "404"
error_caching_min_ttl = 30

[logging]
enabled = true
bucket = "logs.s3.amazonaws.com"
prefix = "cdn/"
"#;

fn toml_config() -> DistributionConfig {
    let v: toml::Value = toml::from_str(TOML_DIST).unwrap();
    let mut d = Diagnostics::new();
    let cfg = DistributionConfig::from_tree_at(&from_toml(&v), "distribution", &mut d);
    assert!(d.errors.is_empty(), "{d}");
    cfg.unwrap()
}

#[test]
fn toml_inline_distribution_without_wrappers() {
    let cfg = toml_config();
    assert_eq!(cfg.aliases, ["cdn.example.com", "*.img.example.com"]);
    let api = &cfg.origins[1];
    assert_eq!(api.connection_attempts, 2);
    assert_eq!(api.connection_timeout, 10);
    let c = api.custom_origin_config.as_ref().unwrap();
    assert_eq!(
        (
            c.http_port,
            c.https_port,
            c.origin_read_timeout,
            c.origin_keepalive_timeout
        ),
        (8080, 443, 60, 5)
    );
    assert_eq!(
        c.origin_ssl_protocols,
        [SslProtocol::TlsV1_2, SslProtocol::TlsV1_1]
    );
    assert_eq!(
        cfg.origins[0]
            .s3_origin_config
            .as_ref()
            .unwrap()
            .origin_read_timeout,
        None,
        "not given, so not invented (the edge uses CloudFront's 30 s)"
    );
    assert_eq!(
        cfg.default_cache_behavior.trusted_key_groups,
        TrustedList {
            enabled: true,
            items: vec!["kg-1".into()]
        }
    );
    assert!(cfg.default_cache_behavior.requires_signature());
    assert_eq!(
        cfg.default_cache_behavior.allowed_methods,
        [Method::Head, Method::Get]
    );
    let b = &cfg.cache_behaviors[0];
    assert_eq!(b.cached_methods, [Method::Head, Method::Get]);
    assert_eq!(
        (b.min_ttl, b.default_ttl, b.max_ttl),
        (Some(0), Some(60), None)
    );
    let f = b.forwarded_values.as_ref().unwrap();
    assert_eq!(f.cookies.whitelisted_names, ["session"]);
    assert_eq!(
        cfg.origin_groups[0].failover_status_codes,
        [500, 502, 503, 504]
    );
    assert_eq!(cfg.logging.as_ref().unwrap().prefix, "cdn/");
    assert_eq!(cfg.referenced_key_group_ids(), ["kg-1"]);

    let mut d = Diagnostics::new();
    cfg.validate(&mut d);
    // TLSv1.1 to the origin is not implemented: a warning, no error. Log delivery and
    // compression are.
    assert!(d.errors.is_empty(), "{d}");
    let warned: Vec<&str> = d.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        warned,
        ["DistributionConfig.Origins.Items[1].CustomOriginConfig.OriginSslProtocols"],
        "{d}"
    );

    // The TOML form writes out in CloudFront's shape and decodes back to the same value.
    let xml = cfg.to_xml();
    assert!(xml.contains("<TrustedKeyGroups><Enabled>true</Enabled><Quantity>1</Quantity><Items><KeyGroup>kg-1</KeyGroup></Items></TrustedKeyGroups>"));
    assert!(xml.contains("<WhitelistedNames><Quantity>1</Quantity><Items><Name>session</Name></Items></WhitelistedNames>"));
    let (back, d) = decode_xml(xml.as_bytes());
    assert!(d.errors.is_empty(), "{d}");
    assert_eq!(back, Some(cfg));
}

#[test]
fn unknown_fields_are_reported_with_their_path() {
    let toml_src = TOML_DIST.replace(
        "domain_name = \"api.example.com\"",
        "domian_name = \"api.example.com\"",
    );
    let v: toml::Value = toml::from_str(&toml_src).unwrap();
    let mut d = Diagnostics::new();
    assert!(DistributionConfig::from_tree_at(&from_toml(&v), "distribution", &mut d).is_none());
    let got: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
    assert!(
        got.contains(&("distribution.origins[1].domian_name", "MalformedInput")),
        "{got:?}"
    );
    assert!(
        got.contains(&("distribution.origins[1].DomainName", "MalformedInput")),
        "{got:?}"
    );
    let unknown = d
        .errors
        .iter()
        .find(|e| e.path.ends_with("domian_name"))
        .unwrap();
    assert!(
        unknown
            .message
            .starts_with("unknown field domian_name; expected one of Id, DomainName, OriginPath")
    );

    let xml = String::from_utf8_lossy(BOTOCORE_XML)
        .replace(
            "<Comment>example</Comment>",
            "<Comment>example</Comment><Bogus>1</Bogus>",
        )
        .replace(
            "<OriginPath>/prod</OriginPath>",
            "<OriginPath>/prod</OriginPath><Extra/>",
        )
        .replace(
            "<Compress>true</Compress>",
            "<Compress>true</Compress><Nope>x</Nope>",
        );
    let (cfg, d) = decode_xml(xml.as_bytes());
    assert!(cfg.is_none());
    let paths: Vec<_> = d.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "DistributionConfig.Origins.Items[1].Extra",
            "DistributionConfig.DefaultCacheBehavior.Nope",
            "DistributionConfig.Bogus",
        ]
    );
}

#[test]
fn decoding_errors_accumulate() {
    let xml = br#"<DistributionConfig><Aliases><Quantity>2</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases><Origins><Quantity>1</Quantity><Items><Origin><Id>o</Id><DomainName>o.example.com</DomainName><ConnectionAttempts>three</ConnectionAttempts><CustomOriginConfig><OriginProtocolPolicy>tls-only</OriginProtocolPolicy></CustomOriginConfig></Origin></Items></Origins><DefaultCacheBehavior><TargetOriginId>o</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy><Compress>yes</Compress></DefaultCacheBehavior><Enabled>true</Enabled></DistributionConfig>"#;
    let (cfg, d) = decode_xml(xml);
    assert!(cfg.is_none());
    let got: Vec<_> = d.errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
    assert_eq!(
        got,
        [
            ("DistributionConfig.CallerReference", "MalformedInput"),
            (
                "DistributionConfig.Aliases.Quantity",
                "InconsistentQuantities"
            ),
            (
                "DistributionConfig.Origins.Items[0].CustomOriginConfig.OriginProtocolPolicy",
                "InvalidArgument"
            ),
            (
                "DistributionConfig.Origins.Items[0].ConnectionAttempts",
                "MalformedInput"
            ),
            (
                "DistributionConfig.DefaultCacheBehavior.Compress",
                "MalformedInput"
            ),
            ("DistributionConfig.Comment", "MalformedInput"),
        ]
    );
}

#[test]
fn empty_string_members_read_as_unset() {
    let mut cfg = example();
    cfg.cache_behaviors[0].field_level_encryption_id = None;
    let xml = cfg.to_xml().replace(
        "<CachePolicyId>4135ea2d-6df8-44a3-9df3-4b5a84be39ad</CachePolicyId>",
        "<CachePolicyId>4135ea2d-6df8-44a3-9df3-4b5a84be39ad</CachePolicyId><ResponseHeadersPolicyId></ResponseHeadersPolicyId>",
    );
    let (back, d) = decode_xml(xml.as_bytes());
    assert!(d.errors.is_empty(), "{d}");
    assert_eq!(
        back.unwrap().cache_behaviors[0].response_headers_policy_id,
        None
    );
}

// === validation rules, one by one ===

const D: &str = "DistributionConfig";

#[test]
fn rule_top_level() {
    let mut c = toml_config();
    c.caller_reference.clear();
    c.comment = "x".repeat(129);
    assert_error(&c, &format!("{D}.CallerReference"), "InvalidArgument");
    assert_error(&c, &format!("{D}.Comment"), "InvalidArgument");

    let mut c = toml_config();
    c.aliases = (0..101).map(|i| format!("a{i}.example.com")).collect();
    assert_error(&c, &format!("{D}.Aliases"), "TooManyDistributionCNAMEs");
    let mut c = toml_config();
    c.aliases = vec![
        "bad host.example.com".into(),
        "a.*.example.com".into(),
        "x.example.com".into(),
        "X.example.com".into(),
    ];
    assert_error(&c, &format!("{D}.Aliases.Items[0]"), "InvalidArgument");
    assert_error(&c, &format!("{D}.Aliases.Items[1]"), "InvalidArgument");
    assert_error(&c, &format!("{D}.Aliases.Items[3]"), "InvalidArgument");

    let mut c = toml_config();
    c.default_root_object = "/index.html".into();
    assert_error(
        &c,
        &format!("{D}.DefaultRootObject"),
        "InvalidDefaultRootObject",
    );
    c.default_root_object = "a".repeat(256);
    assert_error(
        &c,
        &format!("{D}.DefaultRootObject"),
        "InvalidDefaultRootObject",
    );
}

#[test]
fn rule_origins() {
    let mut c = toml_config();
    c.origins.clear();
    assert_error(&c, &format!("{D}.Origins.Quantity"), "InvalidArgument");
    let mut c = toml_config();
    c.origins = (0..101)
        .map(|i| Origin {
            id: format!("o{i}"),
            ..c.origins[0].clone()
        })
        .collect();
    assert_error(&c, &format!("{D}.Origins"), "TooManyOrigins");
    let mut c = toml_config();
    c.origins[1].id = "site".into();
    assert_error(&c, &format!("{D}.Origins.Items[1].Id"), "InvalidArgument");

    let o = format!("{D}.Origins.Items[1]");
    let mut c = toml_config();
    let api = &mut c.origins[1];
    api.domain_name = "bad domain".into();
    api.origin_path = "v1/".into();
    api.connection_attempts = 4;
    api.connection_timeout = 0;
    api.response_completion_timeout = Some(10);
    api.origin_shield = Some(OriginShield {
        enabled: true,
        origin_shield_region: None,
    });
    let cc = api.custom_origin_config.as_mut().unwrap();
    cc.http_port = 81;
    cc.https_port = 70000;
    cc.origin_ssl_protocols.clear();
    cc.origin_read_timeout = 121;
    cc.origin_keepalive_timeout = 0;
    assert_error(&c, &format!("{o}.DomainName"), "InvalidOrigin");
    assert_error(&c, &format!("{o}.OriginPath"), "InvalidArgument");
    assert_error(&c, &format!("{o}.ConnectionAttempts"), "InvalidArgument");
    assert_error(&c, &format!("{o}.ConnectionTimeout"), "InvalidArgument");
    assert_error(
        &c,
        &format!("{o}.ResponseCompletionTimeout"),
        "InvalidArgument",
    );
    assert_error(
        &c,
        &format!("{o}.OriginShield.OriginShieldRegion"),
        "InvalidArgument",
    );
    assert_error(
        &c,
        &format!("{o}.CustomOriginConfig.HTTPPort"),
        "InvalidArgument",
    );
    assert_error(
        &c,
        &format!("{o}.CustomOriginConfig.HTTPSPort"),
        "InvalidArgument",
    );
    assert_error(
        &c,
        &format!("{o}.CustomOriginConfig.OriginSslProtocols"),
        "InvalidArgument",
    );
    assert_error(
        &c,
        &format!("{o}.CustomOriginConfig.OriginReadTimeout"),
        "InvalidOriginReadTimeout",
    );
    assert_error(
        &c,
        &format!("{o}.CustomOriginConfig.OriginKeepaliveTimeout"),
        "InvalidOriginKeepaliveTimeout",
    );

    let mut c = toml_config();
    c.origins[1].origin_shield = Some(OriginShield {
        enabled: true,
        origin_shield_region: Some("mars-1".into()),
    });
    assert_error(
        &c,
        &format!("{o}.OriginShield.OriginShieldRegion"),
        "InvalidArgument",
    );

    // An S3OriginConfig on a domain that is not an S3 bucket's: InvalidArgument, as CloudFront.
    let mut c = toml_config();
    c.origins[1].s3_origin_config = c.origins[0].s3_origin_config.clone();
    c.origins[1].custom_origin_config = None;
    assert_error(
        &c,
        &format!("{D}.Origins.Items[1].DomainName"),
        "InvalidArgument",
    );
    let mut c = toml_config();
    c.origins[1].s3_origin_config = c.origins[0].s3_origin_config.clone();
    c.origins[1].custom_origin_config = None;
    c.origins[1].domain_name = "site.edgegate.local".into();
    let mut d = Diagnostics::default();
    c.validate(&mut d);
    assert!(d.errors.is_empty(), "{d}");

    let s = format!("{D}.Origins.Items[0]");
    let mut c = toml_config();
    c.origins[0].custom_origin_config = c.origins[1].custom_origin_config.clone();
    assert_error(&c, &s, "InvalidOrigin");
    let mut c = toml_config();
    c.origins[0].s3_origin_config = None;
    assert_error(&c, &s, "InvalidOrigin");
    let mut c = toml_config();
    let s3 = c.origins[0].s3_origin_config.as_mut().unwrap();
    s3.origin_read_timeout = Some(0);
    s3.origin_access_identity = "origin-access-identity/E123".into();
    assert_error(
        &c,
        &format!("{s}.S3OriginConfig.OriginReadTimeout"),
        "InvalidOriginReadTimeout",
    );
    assert_error(
        &c,
        &format!("{s}.S3OriginConfig.OriginAccessIdentity"),
        "InvalidOriginAccessIdentity",
    );
    assert_error(&c, &s, "IllegalOriginAccessConfiguration");
    let mut c = toml_config();
    c.origins[0].origin_access_control_id = "not an id".into();
    assert_error(
        &c,
        &format!("{s}.OriginAccessControlId"),
        "InvalidOriginAccessControl",
    );
}

#[test]
fn rule_custom_headers() {
    let h = |n: &str, v: &str| OriginCustomHeader {
        header_name: n.into(),
        header_value: v.into(),
    };
    let p = format!("{D}.Origins.Items[1].CustomHeaders");
    let mut c = toml_config();
    c.origins[1].custom_headers = (0..11).map(|i| h(&format!("X-H{i}"), "v")).collect();
    assert_error(&c, &p, "TooManyOriginCustomHeaders");
    let mut c = toml_config();
    c.origins[1].custom_headers = vec![
        h("Host", "x"),
        h("bad name", "x"),
        h("X-Amz-Date", "x"),
        h("X-A", "x"),
        h("x-a", "y"),
        h("X-Long", &"v".repeat(1784)),
    ];
    assert_error(&c, &format!("{p}.Items[0].HeaderName"), "InvalidArgument");
    assert_error(&c, &format!("{p}.Items[1].HeaderName"), "InvalidArgument");
    assert_error(&c, &format!("{p}.Items[2].HeaderName"), "InvalidArgument");
    assert_error(&c, &format!("{p}.Items[4].HeaderName"), "InvalidArgument");
    assert_error(&c, &format!("{p}.Items[5].HeaderValue"), "InvalidArgument");
    let mut c = toml_config();
    c.origins[1].custom_headers = (0..7)
        .map(|i| h(&format!("X-H{i}"), &"v".repeat(1500)))
        .collect();
    assert_error(&c, &p, "InvalidArgument");
}

#[test]
fn rule_origin_groups() {
    let g = format!("{D}.OriginGroups.Items[0]");
    let mut c = toml_config();
    c.origin_groups = (0..11)
        .map(|i| OriginGroup {
            id: format!("g{i}"),
            ..c.origin_groups[0].clone()
        })
        .collect();
    assert_error(
        &c,
        &format!("{D}.OriginGroups"),
        "TooManyOriginGroupsPerDistribution",
    );
    let mut c = toml_config();
    c.origin_groups[0].members = vec!["api".into(), "nope".into(), "site".into()];
    c.origin_groups[0].failover_status_codes = vec![501];
    assert_error(&c, &format!("{g}.Members"), "InvalidArgument");
    assert_error(
        &c,
        &format!("{g}.Members.Items[1].OriginId"),
        "NoSuchOrigin",
    );
    assert_error(
        &c,
        &format!("{g}.FailoverCriteria.StatusCodes.Items[0]"),
        "InvalidArgument",
    );
    let mut c = toml_config();
    c.origin_groups[0].failover_status_codes.clear();
    c.origin_groups[0].id = "api".into();
    c.origin_groups[0].members = vec!["site".into(), "site".into()];
    assert_error(
        &c,
        &format!("{g}.FailoverCriteria.StatusCodes"),
        "InvalidArgument",
    );
    assert_error(&c, &format!("{g}.Id"), "InvalidArgument");
    assert_error(&c, &format!("{g}.Members"), "InvalidArgument");
}

#[test]
fn rule_behaviors() {
    let b = format!("{D}.CacheBehaviors.Items[0]");
    let mut c = toml_config();
    let base = c.cache_behaviors[0].clone();
    c.cache_behaviors = (0..76)
        .map(|i| CacheBehavior {
            path_pattern: format!("/p{i}/*"),
            ..base.clone()
        })
        .collect();
    assert_error(&c, &format!("{D}.CacheBehaviors"), "TooManyCacheBehaviors");

    let mut c = toml_config();
    c.cache_behaviors[0].path_pattern = "/a b/*".into();
    c.cache_behaviors[0].target_origin_id = "ghost".into();
    assert_error(&c, &format!("{b}.PathPattern"), "InvalidArgument");
    assert_error(&c, &format!("{b}.TargetOriginId"), "NoSuchOrigin");
    let mut c = toml_config();
    c.cache_behaviors[0].path_pattern = format!("/{}", "a".repeat(255));
    assert_error(&c, &format!("{b}.PathPattern"), "InvalidArgument");
    let mut c = toml_config();
    c.cache_behaviors.push(CacheBehavior {
        path_pattern: "api/*".into(),
        ..c.cache_behaviors[0].clone()
    });
    assert_error(
        &c,
        &format!("{D}.CacheBehaviors.Items[1].PathPattern"),
        "InvalidArgument",
    );
    let mut c = toml_config();
    c.cache_behaviors[0].path_pattern = "/img/?.jpg&x@:+~$'\"".into();
    assert!(errors_of(&c).is_empty(), "{:?}", errors_of(&c));

    let mut c = toml_config();
    c.cache_behaviors[0].allowed_methods = vec![Method::Get, Method::Post];
    c.cache_behaviors[0].cached_methods = vec![Method::Get];
    assert_error(&c, &format!("{b}.AllowedMethods"), "InvalidArgument");
    assert_error(
        &c,
        &format!("{b}.AllowedMethods.CachedMethods"),
        "InvalidArgument",
    );
    let mut c = toml_config();
    c.default_cache_behavior.cached_methods = vec![Method::Get, Method::Head, Method::Options];
    assert_error(
        &c,
        &format!("{D}.DefaultCacheBehavior.AllowedMethods.CachedMethods"),
        "InvalidArgument",
    );
}

#[test]
fn rule_trusted_key_groups_and_signers() {
    let p = format!("{D}.DefaultCacheBehavior");
    let mut c = toml_config();
    c.default_cache_behavior.trusted_key_groups.items = (0..5).map(|i| format!("kg{i}")).collect();
    assert_error(
        &c,
        &format!("{p}.TrustedKeyGroups"),
        "TooManyKeyGroupsAssociatedToDistribution",
    );
    c.default_cache_behavior.trusted_key_groups = TrustedList {
        enabled: true,
        items: vec![],
    };
    assert_error(&c, &format!("{p}.TrustedKeyGroups"), "InvalidArgument");
    c.default_cache_behavior.trusted_key_groups = TrustedList {
        enabled: false,
        items: vec!["kg".into()],
    };
    assert_error(&c, &format!("{p}.TrustedKeyGroups"), "InvalidArgument");

    let mut c = toml_config();
    c.default_cache_behavior.trusted_signers = TrustedList {
        enabled: true,
        items: (0..6).map(|i| format!("11112222333{i}")).collect(),
    };
    assert_error(&c, &format!("{p}.TrustedSigners"), "TooManyTrustedSigners");
    c.default_cache_behavior.trusted_signers = TrustedList {
        enabled: true,
        items: vec!["self".into(), "123".into()],
    };
    assert_error(
        &c,
        &format!("{p}.TrustedSigners.Items[1]"),
        "InvalidArgument",
    );
    assert_eq!(errors_of(&c).len(), 1);
}

#[test]
fn rule_cache_policy_xor_forwarded_values() {
    let b = format!("{D}.CacheBehaviors.Items[0]");
    let mut c = toml_config();
    let fv = c.cache_behaviors[0].forwarded_values.clone();
    c.default_cache_behavior.forwarded_values = fv.clone();
    assert_error(&c, &format!("{D}.DefaultCacheBehavior"), "InvalidArgument");
    let mut c = toml_config();
    c.default_cache_behavior.cache_policy_id = None;
    assert_error(&c, &format!("{D}.DefaultCacheBehavior"), "InvalidArgument");
    let mut c = toml_config();
    c.default_cache_behavior.max_ttl = Some(5);
    assert_error(&c, &format!("{D}.DefaultCacheBehavior"), "InvalidArgument");
    let mut c = toml_config();
    c.default_cache_behavior.cache_policy_id = None;
    c.default_cache_behavior.origin_request_policy_id =
        Some("216adef6-5c7f-47e4-b989-5492eafa07d3".into());
    assert_error(
        &c,
        &format!("{D}.DefaultCacheBehavior.OriginRequestPolicyId"),
        "InvalidArgument",
    );

    let mut c = toml_config();
    c.cache_behaviors[0].min_ttl = None;
    assert_error(&c, &format!("{b}.MinTTL"), "InvalidArgument");
    let mut c = toml_config();
    c.cache_behaviors[0].min_ttl = Some(100);
    assert_error(&c, &b, "InvalidTTLOrder");
    let mut c = toml_config();
    c.cache_behaviors[0].min_ttl = Some(1);
    c.cache_behaviors[0]
        .forwarded_values
        .as_mut()
        .unwrap()
        .headers = vec!["*".into()];
    assert_error(&c, &format!("{b}.MinTTL"), "InvalidArgument");

    let f = format!("{b}.ForwardedValues");
    let mut c = toml_config();
    let fv = c.cache_behaviors[0].forwarded_values.as_mut().unwrap();
    fv.headers = (0..11).map(|i| format!("X-{i}")).collect();
    fv.cookies.whitelisted_names = (0..11).map(|i| format!("c{i}")).collect();
    fv.query_string_cache_keys = (0..11).map(|i| format!("q{i}")).collect();
    assert_error(
        &c,
        &format!("{f}.Headers"),
        "TooManyHeadersInForwardedValues",
    );
    assert_error(
        &c,
        &format!("{f}.Cookies.WhitelistedNames"),
        "TooManyCookieNamesInWhiteList",
    );
    assert_error(
        &c,
        &format!("{f}.QueryStringCacheKeys"),
        "TooManyQueryStringParameters",
    );
    let mut c = toml_config();
    let fv = c.cache_behaviors[0].forwarded_values.as_mut().unwrap();
    fv.cookies.whitelisted_names.clear();
    fv.query_string = false;
    fv.query_string_cache_keys = vec!["q".into()];
    fv.headers = vec!["bad header".into()];
    assert_error(&c, &format!("{f}.Cookies"), "InvalidForwardCookies");
    assert_error(
        &c,
        &format!("{f}.QueryStringCacheKeys"),
        "InvalidQueryStringParameters",
    );
    assert_error(&c, &format!("{f}.Headers.Items[0]"), "InvalidArgument");
    let mut c = toml_config();
    c.cache_behaviors[0]
        .forwarded_values
        .as_mut()
        .unwrap()
        .cookies
        .forward = ItemSelection::All;
    assert_error(&c, &format!("{f}.Cookies"), "InvalidForwardCookies");
}

#[test]
fn rule_custom_error_responses() {
    let e = |code: u16, path: Option<&str>, resp: Option<&str>| CustomErrorResponse {
        error_code: code,
        response_page_path: path.map(str::to_owned),
        response_code: resp.map(str::to_owned),
        error_caching_min_ttl: Some(10),
    };
    let p = format!("{D}.CustomErrorResponses");
    let mut c = toml_config();
    c.custom_error_responses = vec![
        e(412, None, None),
        e(404, Some("/a.html"), None),
        e(404, Some("a.html"), Some("299")),
        CustomErrorResponse {
            error_caching_min_ttl: Some(40_000_000),
            ..e(500, None, None)
        },
    ];
    assert_error(&c, &format!("{p}.Items[0].ErrorCode"), "InvalidErrorCode");
    assert_error(&c, &format!("{p}.Items[1]"), "InvalidArgument");
    assert_error(&c, &format!("{p}.Items[2].ErrorCode"), "InvalidArgument");
    assert_error(
        &c,
        &format!("{p}.Items[2].ResponsePagePath"),
        "InvalidRelativePath",
    );
    assert_error(
        &c,
        &format!("{p}.Items[2].ResponseCode"),
        "InvalidResponseCode",
    );
    assert_error(
        &c,
        &format!("{p}.Items[3].ErrorCachingMinTTL"),
        "InvalidArgument",
    );
}

#[test]
fn rule_logging_certificate_geo() {
    let mut c = toml_config();
    c.logging.as_mut().unwrap().bucket = "logs".into();
    assert_error(&c, &format!("{D}.Logging.Bucket"), "InvalidArgument");
    c.logging.as_mut().unwrap().enabled = false;
    assert!(errors_of(&c).is_empty());

    let v = format!("{D}.ViewerCertificate");
    let mut c = toml_config();
    c.viewer_certificate = Some(ViewerCertificate {
        cloudfront_default_certificate: Some(true),
        acm_certificate_arn: Some("arn:aws:acm:us-east-1:111122223333:certificate/x".into()),
        iam_certificate_id: Some("ASCA".into()),
        ..Default::default()
    });
    assert_error(&c, &v, "InvalidViewerCertificate");
    assert_error(
        &c,
        &format!("{v}.SSLSupportMethod"),
        "InvalidViewerCertificate",
    );
    assert_eq!(errors_of(&c).iter().filter(|(p, _)| *p == v).count(), 2);

    let g = format!("{D}.Restrictions.GeoRestriction");
    let mut c = toml_config();
    c.restrictions = Some(GeoRestriction {
        restriction_type: GeoRestrictionType::None,
        items: vec!["US".into()],
    });
    assert_error(&c, &g, "InvalidGeoRestrictionParameter");
    c.restrictions = Some(GeoRestriction {
        restriction_type: GeoRestrictionType::Whitelist,
        items: vec![],
    });
    assert_error(&c, &g, "InvalidGeoRestrictionParameter");
    c.restrictions = Some(GeoRestriction {
        restriction_type: GeoRestrictionType::Whitelist,
        items: vec!["usa".into()],
    });
    assert_error(&c, &format!("{g}.Items[0]"), "InvalidLocationCode");
}

#[test]
fn unimplemented_members_warn_and_round_trip() {
    let mut c = toml_config();
    let lambda = Tree::Map(vec![
        ("Quantity".into(), Tree::leaf(1)),
        (
            "Items".into(),
            Tree::List(vec![Tree::Map(vec![
                (
                    "LambdaFunctionARN".into(),
                    Tree::leaf("arn:aws:lambda:us-east-1:1:function:f:1"),
                ),
                ("EventType".into(), Tree::leaf("origin-request")),
                ("IncludeBody".into(), Tree::leaf(false)),
            ])]),
        ),
    ]);
    let b = &mut c.cache_behaviors[0];
    b.lambda_function_associations = Some(lambda);
    b.function_associations = Some(Tree::Map(vec![("Quantity".into(), Tree::leaf(0))]));
    b.smooth_streaming = Some(true);
    b.field_level_encryption_id = Some("FLE1".into());
    b.realtime_log_config_arn = Some("arn:rt".into());
    b.response_headers_policy_id = Some("rhp".into());
    b.grpc_config = Some(Tree::Map(vec![("Enabled".into(), Tree::leaf(true))]));
    c.web_acl_id = Some("arn:waf".into());
    c.staging = Some(true);
    c.continuous_deployment_policy_id = Some("cdp".into());
    c.anycast_ip_list_id = Some("ip".into());
    c.connection_mode = Some(ConnectionMode::TenantOnly);
    c.cache_tag_config = Some(Tree::Map(vec![("HeaderName".into(), Tree::leaf("X-Tags"))]));
    c.viewer_mtls_config = Some(Tree::Map(vec![("Mode".into(), Tree::leaf("required"))]));
    c.origins[1].vpc_origin_config = None;
    c.origins[1]
        .custom_origin_config
        .as_mut()
        .unwrap()
        .origin_http_version = Some(OriginHttpVersion::Http2);

    let mut d = Diagnostics::new();
    c.validate(&mut d);
    assert!(d.errors.is_empty(), "{d}");
    let warned: Vec<&str> = d.warnings.iter().map(|w| w.path.as_str()).collect();
    let b = format!("{D}.CacheBehaviors.Items[0]");
    for want in [
        format!("{b}.SmoothStreaming"),
        format!("{b}.LambdaFunctionAssociations"),
        format!("{b}.GrpcConfig"),
        format!("{b}.FieldLevelEncryptionId"),
        format!("{b}.RealtimeLogConfigArn"),
        format!("{D}.WebACLId"),
        format!("{D}.Staging"),
        format!("{D}.ContinuousDeploymentPolicyId"),
        format!("{D}.AnycastIpListId"),
        format!("{D}.ConnectionMode"),
        format!("{D}.CacheTagConfig"),
        format!("{D}.ViewerMtlsConfig"),
        format!("{D}.Origins.Items[1].CustomOriginConfig.OriginHttpVersion"),
    ] {
        assert!(
            warned.contains(&want.as_str()),
            "no warning at {want}: {warned:?}"
        );
    }
    // FunctionAssociations with Quantity 0 is the default and is not warned about.
    assert!(
        !warned
            .iter()
            .any(|w| w.ends_with("FunctionAssociations") && !w.contains("Lambda"))
    );

    let xml = c.to_xml();
    assert!(xml.contains("<LambdaFunctionAssociations><Quantity>1</Quantity><Items><LambdaFunctionAssociation><LambdaFunctionARN>"));
    let (back, d) = decode_xml(xml.as_bytes());
    assert!(d.errors.is_empty(), "{d}");
    assert_eq!(back, Some(c));
}

#[test]
fn verbatim_members_from_toml_are_canonicalised() {
    let src = format!(
        "{TOML_DIST}\n[cache_tag_config]\nheader_name = \"X-Tag\"\n",
    )
    .replace(
        "compress = true\n",
        "compress = true\nfunction_associations = [{ function_arn = \"arn:f\", event_type = \"viewer-request\" }]\n",
    );
    let v: toml::Value = toml::from_str(&src).unwrap();
    let mut d = Diagnostics::new();
    let c = DistributionConfig::from_tree(&from_toml(&v), &mut d).unwrap();
    let fa = c
        .default_cache_behavior
        .function_associations
        .as_ref()
        .unwrap();
    assert_eq!(fa.get("Quantity"), Some(&Tree::leaf(1)));
    assert_eq!(
        fa.get("Items").unwrap().as_list().unwrap()[0].get("FunctionARN"),
        Some(&Tree::leaf("arn:f"))
    );
    assert_eq!(
        c.cache_tag_config.as_ref().unwrap().get("HeaderName"),
        Some(&Tree::leaf("X-Tag"))
    );
    let xml = c.to_xml();
    assert!(
        xml.contains("<FunctionAssociations><Quantity>1</Quantity><Items><FunctionAssociation>")
    );
    assert!(xml.contains("<FunctionARN>arn:f</FunctionARN>"));

    let bad = src.replace("header_name = \"X-Tag\"", "header = \"X-Tag\"");
    let v: toml::Value = toml::from_str(&bad).unwrap();
    let mut d = Diagnostics::new();
    assert!(DistributionConfig::from_tree(&from_toml(&v), &mut d).is_none());
    assert_eq!(
        d.errors[0].path,
        "DistributionConfig.cache_tag_config.header"
    );
}

/// The shape the integration harness declares (`[[distributions]]` in the config file, with
/// `id` and `domain_name` already taken out by the declaration loader): snake_case, bare
/// lists, `allowed_methods` as `{items, cached_methods}` and `trusted_key_groups` as a bare
/// list of ids.
#[test]
fn harness_style_toml_declaration_decodes_cleanly() {
    let src = r#"
caller_reference = "test"
comment = "test"
enabled = true
aliases = ["www.example.test"]
default_root_object = "index.html"

[[origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = { http_port = 8080, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }

[default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[cache_behaviors]]
path_pattern = "/api/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
allowed_methods = { items = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"], cached_methods = ["GET", "HEAD"] }

[[cache_behaviors]]
path_pattern = "/private/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_key_groups = ["5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"]
"#;
    let v: toml::Value = toml::from_str(src).unwrap();
    let mut d = Diagnostics::new();
    let cfg = DistributionConfig::from_tree(&from_toml(&v), &mut d).expect("decodes");
    cfg.validate(&mut d);
    assert!(d.errors.is_empty(), "{d}");
    assert!(d.warnings.is_empty(), "{d}");
    assert_eq!(cfg.aliases, ["www.example.test"]);
    assert_eq!(
        cfg.referenced_key_group_ids(),
        ["5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"]
    );
    assert!(cfg.cache_behaviors[1].requires_signature());
    assert!(!cfg.cache_behaviors[0].requires_signature());
    // The canonical form decodes back to the same value through XML.
    let xml = cfg.to_tree().to_xml("DistributionConfig");
    let (back, d2) = decode_xml(xml.as_bytes());
    assert!(d2.errors.is_empty(), "{d2}");
    assert_eq!(back.as_ref(), Some(&cfg));
}
