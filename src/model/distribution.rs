//! `DistributionConfig`: every member of CloudFront's distribution configuration, decoded from
//! a [`Tree`], written back in CloudFront's shape, and validated against CloudFront's rules
//! (caching.md §7, §15, §16, §18, §20, §21).
//!
//! Members edgegate implements have typed fields. Members it accepts but does not act on
//! (Lambda@Edge associations, field-level encryption, real-time logs,
//! response headers policies, WAF, Origin Shield, geo restriction, smooth streaming, continuous
//! deployment, gRPC, multi-tenant settings, viewer mTLS, Anycast IP lists, cache tags, VPC
//! origins, origin mTLS, …) are kept as written (a [`Tree`] or a plain value) so they survive
//! a round trip, and [`DistributionConfig::validate`] warns about each one that is set to
//! something other than its default. Nothing is dropped silently.
//!
//! Checks that need other resources (a cache policy or key group that exists) are the
//! caller's: see [`DistributionConfig::referenced_cache_policy_ids`] and friends.

use std::collections::HashSet;

use super::diag::Diagnostics;
use super::reader::{
    INVALID, ListReader, MapBuilder, MapReader, ModelEnum, NOT_IMPLEMENTED, leaf_enum, leaf_int,
    leaf_string, leaves, model_enum, wrapped,
};
use super::tree::Tree;

/// Alternate domain names per distribution.
pub const MAX_ALIASES: usize = 100;
/// Ordered cache behaviors per distribution (the default behavior not counted).
pub const MAX_CACHE_BEHAVIORS: usize = 75;
/// Origins per distribution.
pub const MAX_ORIGINS: usize = 100;
/// Origin groups per distribution.
pub const MAX_ORIGIN_GROUPS: usize = 10;
/// Custom headers per origin.
pub const MAX_CUSTOM_HEADERS: usize = 10;
/// Key groups per cache behavior.
pub const MAX_KEY_GROUPS_PER_BEHAVIOR: usize = 4;
/// Trusted signers (AWS accounts) per cache behavior.
pub const MAX_TRUSTED_SIGNERS: usize = 5;
/// Headers, cookie names or query strings in a legacy `ForwardedValues`.
pub const MAX_FORWARDED_NAMES: usize = 10;
/// Status codes an origin group may fail over on.
pub const FAILOVER_STATUS_CODES: &[u16] = &[400, 403, 404, 416, 500, 502, 503, 504];
/// Status codes a custom error response may be configured for.
pub const CUSTOM_ERROR_CODES: &[u16] = &[400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
/// Status codes a custom error response may answer with.
pub const CUSTOM_RESPONSE_CODES: &[u16] =
    &[200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
/// Regions where Origin Shield can run.
pub const ORIGIN_SHIELD_REGIONS: &[&str] = &[
    "us-east-2",
    "us-east-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
    "me-central-1",
];
/// Headers CloudFront refuses as origin custom headers (compared case-insensitively);
/// names starting `X-Amz-` or `X-Edge-` are refused too.
pub const FORBIDDEN_CUSTOM_HEADERS: &[&str] = &[
    "cache-control",
    "connection",
    "content-length",
    "cookie",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "request-range",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-real-ip",
];

model_enum!(
    /// How viewers may use HTTP and HTTPS on a behavior.
    ViewerProtocolPolicy { AllowAll = "allow-all", HttpsOnly = "https-only", RedirectToHttps = "redirect-to-https" }
);
model_enum!(
    /// An HTTP method in `AllowedMethods` / `CachedMethods`.
    Method { Get = "GET", Head = "HEAD", Post = "POST", Put = "PUT", Patch = "PATCH", Options = "OPTIONS", Delete = "DELETE" }
);
model_enum!(
    /// Which protocol CloudFront uses to a custom origin.
    OriginProtocolPolicy { HttpOnly = "http-only", MatchViewer = "match-viewer", HttpsOnly = "https-only" }
);
model_enum!(
    /// A TLS version CloudFront may use to a custom origin.
    SslProtocol { SslV3 = "SSLv3", TlsV1 = "TLSv1", TlsV1_1 = "TLSv1.1", TlsV1_2 = "TLSv1.2" }
);
model_enum!(
    /// Address family to a custom origin.
    IpAddressType { Ipv4 = "ipv4", Ipv6 = "ipv6", Dualstack = "dualstack" }
);
model_enum!(
    /// HTTP version to a custom origin.
    OriginHttpVersion { Http1_1 = "http1.1", Http2 = "http2" }
);
model_enum!(
    /// How an origin group picks its origin.
    OriginGroupSelectionCriteria { Default = "default", MediaQualityBased = "media-quality-based" }
);
model_enum!(
    /// Which edge locations serve the distribution.
    PriceClass { PriceClass100 = "PriceClass_100", PriceClass200 = "PriceClass_200", PriceClassAll = "PriceClass_All", None = "None" }
);
model_enum!(
    /// Highest HTTP version offered to viewers (CloudFront's default is `http2`).
    HttpVersion { Http1_1 = "http1.1", Http2 = "http2", Http3 = "http3", Http2And3 = "http2and3" }
);
model_enum!(
    /// How HTTPS is served for alternate domain names.
    SslSupportMethod { SniOnly = "sni-only", Vip = "vip", StaticIp = "static-ip" }
);
model_enum!(
    /// The viewer TLS security policy.
    MinimumProtocolVersion {
        SslV3 = "SSLv3", TlsV1 = "TLSv1", TlsV1_2016 = "TLSv1_2016", TlsV1_1_2016 = "TLSv1.1_2016",
        TlsV1_2_2018 = "TLSv1.2_2018", TlsV1_2_2019 = "TLSv1.2_2019", TlsV1_2_2021 = "TLSv1.2_2021",
        TlsV1_3_2025 = "TLSv1.3_2025", TlsV1_2_2025 = "TLSv1.2_2025",
    }
);
model_enum!(
    /// Where the viewer certificate comes from (deprecated member, still accepted).
    CertificateSource { Cloudfront = "cloudfront", Iam = "iam", Acm = "acm" }
);
model_enum!(
    /// Geo restriction mode.
    GeoRestrictionType { Blacklist = "blacklist", Whitelist = "whitelist", None = "none" }
);
model_enum!(
    /// Which cookies a legacy `ForwardedValues` forwards.
    ItemSelection { None = "none", Whitelist = "whitelist", All = "all" }
);
model_enum!(
    /// Multi-tenant connection mode.
    ConnectionMode { Direct = "direct", TenantOnly = "tenant-only" }
);

/// A distribution's configuration (CloudFront's `DistributionConfig`), member for member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionConfig {
    /// Unique per create request; reusing one is `DistributionAlreadyExists`.
    pub caller_reference: String,
    /// Alternate domain names (CNAMEs); at most [`MAX_ALIASES`].
    pub aliases: Vec<String>,
    /// Object served for `/` (no leading slash); empty means none.
    pub default_root_object: String,
    /// Origins (at least one, at most [`MAX_ORIGINS`]).
    pub origins: Vec<Origin>,
    /// Failover groups of two origins each.
    pub origin_groups: Vec<OriginGroup>,
    /// The behavior for paths no ordered behavior matches; its `path_pattern` is `*`.
    pub default_cache_behavior: CacheBehavior,
    /// Ordered cache behaviors, first match wins.
    pub cache_behaviors: Vec<CacheBehavior>,
    /// Custom error pages and error caching TTLs.
    pub custom_error_responses: Vec<CustomErrorResponse>,
    /// Free text, at most 128 characters.
    pub comment: String,
    /// Standard access logging.
    pub logging: Option<Logging>,
    /// Price class (no effect on a single edge).
    pub price_class: Option<PriceClass>,
    /// Whether the distribution serves requests.
    pub enabled: bool,
    /// Viewer certificate settings.
    pub viewer_certificate: Option<ViewerCertificate>,
    /// `Restrictions.GeoRestriction`, enforced with the `--geoip-db` database (`edge::viewer`).
    pub restrictions: Option<GeoRestriction>,
    /// WAF web ACL (accepted, not implemented).
    pub web_acl_id: Option<String>,
    /// Highest viewer HTTP version.
    pub http_version: Option<HttpVersion>,
    /// Whether IPv6 is enabled (no effect; edgegate listens where it is told).
    pub is_ipv6_enabled: Option<bool>,
    /// Continuous deployment policy (accepted, not implemented).
    pub continuous_deployment_policy_id: Option<String>,
    /// Whether this is a staging distribution (accepted, not implemented).
    pub staging: Option<bool>,
    /// Anycast static IP list (accepted, not implemented).
    pub anycast_ip_list_id: Option<String>,
    /// Multi-tenant parameters, verbatim (accepted, not implemented).
    pub tenant_config: Option<Tree>,
    /// Multi-tenant connection mode (accepted, not implemented).
    pub connection_mode: Option<ConnectionMode>,
    /// Viewer mutual TLS, verbatim (accepted, not implemented).
    pub viewer_mtls_config: Option<Tree>,
    /// Connection function, verbatim (accepted, not implemented).
    pub connection_function_association: Option<Tree>,
    /// Cache tag header, verbatim (accepted, not implemented).
    pub cache_tag_config: Option<Tree>,
}

/// One origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Unique id within the distribution; behaviors name it in `TargetOriginId`.
    pub id: String,
    /// Host name of the origin.
    pub domain_name: String,
    /// Prefix added to request paths (`/production`); empty for none.
    pub origin_path: String,
    /// Headers added to every origin request.
    pub custom_headers: Vec<OriginCustomHeader>,
    /// Set for an S3 REST endpoint.
    pub s3_origin_config: Option<S3OriginConfig>,
    /// Set for a custom (HTTP) origin, including S3 website endpoints.
    pub custom_origin_config: Option<CustomOriginConfig>,
    /// VPC origin, verbatim (accepted, not implemented).
    pub vpc_origin_config: Option<Tree>,
    /// Connection attempts, 1–3 (default 3).
    pub connection_attempts: u32,
    /// Connection timeout in seconds, 1–10 (default 10).
    pub connection_timeout: u32,
    /// Whole-response deadline in seconds; unset means none.
    pub response_completion_timeout: Option<u32>,
    /// Origin Shield: misses go through the edge that serves its region (`crate::edge::shield`).
    pub origin_shield: Option<OriginShield>,
    /// Origin access control id (SigV4 signing to S3); empty for none.
    pub origin_access_control_id: String,
}

/// A header CloudFront adds to origin requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginCustomHeader {
    /// Header name.
    pub header_name: String,
    /// Header value.
    pub header_value: String,
}

/// Settings of an S3 REST origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3OriginConfig {
    /// Legacy OAI, `origin-access-identity/cloudfront/<ID>`, or empty.
    pub origin_access_identity: String,
    /// Response timeout in seconds, 1–120; CloudFront's default (30) when `None`, which is
    /// also left out when read back (CloudFront does not add it).
    pub origin_read_timeout: Option<u32>,
}

/// Settings of a custom origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOriginConfig {
    /// HTTP port: 80, 443 or 1024–65535 (default 80).
    pub http_port: u32,
    /// HTTPS port: 80, 443 or 1024–65535 (default 443).
    pub https_port: u32,
    /// Protocol to the origin.
    pub origin_protocol_policy: OriginProtocolPolicy,
    /// TLS versions allowed to the origin (default `TLSv1.2`).
    pub origin_ssl_protocols: Vec<SslProtocol>,
    /// Response timeout in seconds, 1–120 (default 30).
    pub origin_read_timeout: u32,
    /// Keep-alive timeout in seconds, 1–120 (default 5).
    pub origin_keepalive_timeout: u32,
    /// Address family to the origin.
    pub ip_address_type: Option<IpAddressType>,
    /// Origin mutual TLS, verbatim (accepted, not implemented).
    pub origin_mtls_config: Option<Tree>,
    /// HTTP version to the origin.
    pub origin_http_version: Option<OriginHttpVersion>,
}

/// Origin Shield settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginShield {
    /// Whether the shield is on.
    pub enabled: bool,
    /// Region code (`us-east-1`), required when enabled.
    pub origin_shield_region: Option<String>,
}

/// A failover pair of origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginGroup {
    /// Unique id; behaviors may target it.
    pub id: String,
    /// Status codes from the primary that trigger failover.
    pub failover_status_codes: Vec<u16>,
    /// Origin ids, primary first; exactly two.
    pub members: Vec<String>,
    /// Selection criteria.
    pub selection_criteria: Option<OriginGroupSelectionCriteria>,
}

/// `TrustedKeyGroups` or `TrustedSigners`: whether signed URLs are required and who signs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedList {
    /// Whether signed URLs or cookies are required.
    pub enabled: bool,
    /// Key group ids, or AWS account numbers for trusted signers.
    pub items: Vec<String>,
}

/// A cache behavior (ordered, or the default one with `path_pattern` `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheBehavior {
    /// Path pattern; `*` for the default behavior.
    pub path_pattern: String,
    /// The origin or origin group id requests go to.
    pub target_origin_id: String,
    /// Legacy trusted signers (AWS account numbers).
    pub trusted_signers: TrustedList,
    /// Trusted key groups.
    pub trusted_key_groups: TrustedList,
    /// HTTP/HTTPS policy.
    pub viewer_protocol_policy: ViewerProtocolPolicy,
    /// Allowed methods, as written (default `HEAD, GET`).
    pub allowed_methods: Vec<Method>,
    /// Cached methods, as written (default `HEAD, GET`).
    pub cached_methods: Vec<Method>,
    /// Smooth streaming (accepted, not implemented).
    pub smooth_streaming: Option<bool>,
    /// Whether edge compression is on.
    pub compress: bool,
    /// Lambda@Edge associations, verbatim (accepted, not implemented).
    pub lambda_function_associations: Option<Tree>,
    /// CloudFront Functions associations, verbatim (accepted, not implemented).
    pub function_associations: Option<Tree>,
    /// Field-level encryption (accepted, not implemented).
    pub field_level_encryption_id: Option<String>,
    /// Real-time log config (accepted, not implemented).
    pub realtime_log_config_arn: Option<String>,
    /// Cache policy id (xor `forwarded_values`).
    pub cache_policy_id: Option<String>,
    /// Origin request policy id.
    pub origin_request_policy_id: Option<String>,
    /// Response headers policy (accepted, not implemented).
    pub response_headers_policy_id: Option<String>,
    /// gRPC, verbatim (accepted, not implemented).
    pub grpc_config: Option<Tree>,
    /// Legacy cache key settings (xor `cache_policy_id`).
    pub forwarded_values: Option<ForwardedValues>,
    /// Legacy minimum TTL (seconds).
    pub min_ttl: Option<u64>,
    /// Legacy default TTL (seconds).
    pub default_ttl: Option<u64>,
    /// Legacy maximum TTL (seconds).
    pub max_ttl: Option<u64>,
}

/// Legacy cache key and forwarding settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedValues {
    /// Whether query strings are forwarded (and in the key).
    pub query_string: bool,
    /// Cookie forwarding.
    pub cookies: CookiePreference,
    /// Headers forwarded and in the key (`*` means all).
    pub headers: Vec<String>,
    /// Query string names in the key (all when empty and `query_string` is true).
    pub query_string_cache_keys: Vec<String>,
}

/// Legacy cookie forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePreference {
    /// Which cookies.
    pub forward: ItemSelection,
    /// Names for `whitelist` (wildcards `*` and `?` allowed).
    pub whitelisted_names: Vec<String>,
}

/// A custom error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomErrorResponse {
    /// The origin status this applies to.
    pub error_code: u16,
    /// Page to serve instead (`/errors/404.html`).
    pub response_page_path: Option<String>,
    /// Status to answer with (a string in CloudFront's model).
    pub response_code: Option<String>,
    /// How long to cache the error, in seconds.
    pub error_caching_min_ttl: Option<u64>,
}

/// Standard logging settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logging {
    /// Whether logs are written.
    pub enabled: bool,
    /// Whether cookies are logged.
    pub include_cookies: bool,
    /// `bucket-name.s3.amazonaws.com`.
    pub bucket: String,
    /// Key prefix.
    pub prefix: String,
}

/// Viewer certificate settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerCertificate {
    /// Use the `*.cloudfront.net` certificate.
    pub cloudfront_default_certificate: Option<bool>,
    /// IAM server certificate id.
    pub iam_certificate_id: Option<String>,
    /// ACM certificate ARN.
    pub acm_certificate_arn: Option<String>,
    /// SNI or dedicated IP.
    pub ssl_support_method: Option<SslSupportMethod>,
    /// Viewer TLS policy.
    pub minimum_protocol_version: Option<MinimumProtocolVersion>,
    /// Deprecated.
    pub certificate: Option<String>,
    /// Deprecated.
    pub certificate_source: Option<CertificateSource>,
}

/// Geo restriction (`Restrictions.GeoRestriction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoRestriction {
    /// Mode.
    pub restriction_type: GeoRestrictionType,
    /// ISO 3166-1 alpha-2 country codes.
    pub items: Vec<String>,
}

// === decoding ===

impl DistributionConfig {
    /// Decodes a `DistributionConfig` tree (root path `DistributionConfig`). Returns `None`
    /// when any error was recorded; all of them are in `d`.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        Self::from_tree_at(tree, "DistributionConfig", d)
    }

    /// Like [`Self::from_tree`], with the path prefix used in messages (for a config that sits
    /// inside a larger document, e.g. `distributions[0]`).
    pub fn from_tree_at(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let cfg = decode_distribution(tree, path, d);
        if d.errors.len() > before { None } else { cfg }
    }
}

fn decode_distribution(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<DistributionConfig> {
    let mut r = MapReader::new(tree, path, d)?;
    let caller_reference = r.string_req("CallerReference", d);
    let aliases = r.strings("Aliases", d).unwrap_or_default();
    let default_root_object = r.string("DefaultRootObject", d).unwrap_or_default();
    let origins = r.list_req("Origins", d).map(|l| items(l, d, decode_origin));
    let origin_groups = r
        .list("OriginGroups", d)
        .map(|l| items(l, d, decode_origin_group));
    let default_cache_behavior = match r.take("DefaultCacheBehavior") {
        Some((t, p)) => decode_behavior(t, &p, true, d),
        None => {
            d.error(
                r.member_path("DefaultCacheBehavior"),
                "MalformedInput",
                "missing required field DefaultCacheBehavior",
            );
            None
        }
    };
    let cache_behaviors = r
        .list("CacheBehaviors", d)
        .map(|l| items(l, d, |t, p, d| decode_behavior(t, p, false, d)));
    let custom_error_responses = r
        .list("CustomErrorResponses", d)
        .map(|l| items(l, d, decode_error_response));
    let comment = r.string_req("Comment", d);
    let logging = r.map("Logging", d).map(|mut m| {
        let l = Logging {
            enabled: m.bool("Enabled", d).unwrap_or(false),
            include_cookies: m.bool("IncludeCookies", d).unwrap_or(false),
            bucket: m.string("Bucket", d).unwrap_or_default(),
            prefix: m.string("Prefix", d).unwrap_or_default(),
        };
        m.finish(d);
        l
    });
    let price_class = r.enumeration("PriceClass", d);
    let enabled = r.bool_req("Enabled", d);
    let viewer_certificate = r.map("ViewerCertificate", d).map(|mut m| {
        let v = ViewerCertificate {
            cloudfront_default_certificate: m.bool("CloudFrontDefaultCertificate", d),
            iam_certificate_id: m.string_nonempty("IAMCertificateId", d),
            acm_certificate_arn: m.string_nonempty("ACMCertificateArn", d),
            ssl_support_method: m.enumeration("SSLSupportMethod", d),
            minimum_protocol_version: m.enumeration("MinimumProtocolVersion", d),
            certificate: m.string_nonempty("Certificate", d),
            certificate_source: m.enumeration("CertificateSource", d),
        };
        m.finish(d);
        v
    });
    let restrictions = r.map("Restrictions", d).and_then(|mut m| {
        let geo = m.list_req("GeoRestriction", d).and_then(|mut l| {
            let t = l.rest.enum_req("RestrictionType", d);
            let codes = l
                .items
                .iter()
                .filter_map(|(p, t)| leaf_string(t, p, d))
                .collect();
            l.rest.finish(d);
            Some(GeoRestriction {
                restriction_type: t?,
                items: codes,
            })
        });
        m.finish(d);
        geo
    });
    let web_acl_id = r.string_nonempty("WebACLId", d);
    let http_version = r.enumeration("HttpVersion", d);
    let is_ipv6_enabled = r.bool("IsIPV6Enabled", d);
    let continuous_deployment_policy_id = r.string_nonempty("ContinuousDeploymentPolicyId", d);
    let staging = r.bool("Staging", d);
    let anycast_ip_list_id = r.string_nonempty("AnycastIpListId", d);
    let tenant_config = r.verbatim("TenantConfig", d);
    let connection_mode = r.enumeration("ConnectionMode", d);
    let viewer_mtls_config = r.verbatim("ViewerMtlsConfig", d);
    let connection_function_association = r.verbatim("ConnectionFunctionAssociation", d);
    let cache_tag_config = r.verbatim("CacheTagConfig", d);
    r.finish(d);
    Some(DistributionConfig {
        caller_reference: caller_reference?,
        aliases,
        default_root_object,
        origins: origins?,
        origin_groups: origin_groups.unwrap_or_default(),
        default_cache_behavior: default_cache_behavior?,
        cache_behaviors: cache_behaviors.unwrap_or_default(),
        custom_error_responses: custom_error_responses.unwrap_or_default(),
        comment: comment?,
        logging,
        price_class,
        enabled: enabled?,
        viewer_certificate,
        restrictions,
        web_acl_id,
        http_version,
        is_ipv6_enabled,
        continuous_deployment_policy_id,
        staging,
        anycast_ip_list_id,
        tenant_config,
        connection_mode,
        viewer_mtls_config,
        connection_function_association,
        cache_tag_config,
    })
}

/// Decodes every item of a list with `f`, then reports the wrapper's unknown members.
fn items<T>(
    l: ListReader<'_>,
    d: &mut Diagnostics,
    f: impl Fn(&Tree, &str, &mut Diagnostics) -> Option<T>,
) -> Vec<T> {
    let out = l.items.iter().filter_map(|(p, t)| f(t, p, d)).collect();
    l.rest.finish(d);
    out
}

fn decode_origin(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Origin> {
    let mut r = MapReader::new(tree, path, d)?;
    let id = r.string_req("Id", d);
    let domain_name = r.string_req("DomainName", d);
    let origin_path = r.string("OriginPath", d).unwrap_or_default();
    let custom_headers = r
        .list("CustomHeaders", d)
        .map(|l| {
            items(l, d, |t, p, d| {
                let mut m = MapReader::new(t, p, d)?;
                let name = m.string_req("HeaderName", d);
                let value = m.string_req("HeaderValue", d);
                m.finish(d);
                Some(OriginCustomHeader {
                    header_name: name?,
                    header_value: value?,
                })
            })
        })
        .unwrap_or_default();
    let s3_origin_config = r.map("S3OriginConfig", d).map(|mut m| {
        let c = S3OriginConfig {
            origin_access_identity: m.string("OriginAccessIdentity", d).unwrap_or_default(),
            origin_read_timeout: m.int("OriginReadTimeout", d),
        };
        m.finish(d);
        c
    });
    let custom_origin_config = r.map("CustomOriginConfig", d).and_then(|mut m| {
        let http_port = m.int("HTTPPort", d).unwrap_or(80);
        let https_port = m.int("HTTPSPort", d).unwrap_or(443);
        let policy = m.enum_req("OriginProtocolPolicy", d);
        let ssl = m
            .list("OriginSslProtocols", d)
            .map(|l| items(l, d, leaf_enum::<SslProtocol>));
        let c = CustomOriginConfig {
            http_port,
            https_port,
            origin_protocol_policy: policy.unwrap_or(OriginProtocolPolicy::HttpOnly),
            origin_ssl_protocols: ssl.unwrap_or_else(|| vec![SslProtocol::TlsV1_2]),
            origin_read_timeout: m.int("OriginReadTimeout", d).unwrap_or(30),
            origin_keepalive_timeout: m.int("OriginKeepaliveTimeout", d).unwrap_or(5),
            ip_address_type: m.enumeration("IpAddressType", d),
            origin_mtls_config: m.verbatim("OriginMtlsConfig", d),
            origin_http_version: m.enumeration("OriginHttpVersion", d),
        };
        m.finish(d);
        policy.map(|_| c)
    });
    let vpc_origin_config = r.verbatim("VpcOriginConfig", d);
    let connection_attempts = r.int("ConnectionAttempts", d).unwrap_or(3);
    let connection_timeout = r.int("ConnectionTimeout", d).unwrap_or(10);
    let response_completion_timeout = r.int("ResponseCompletionTimeout", d);
    let origin_shield = r.map("OriginShield", d).map(|mut m| {
        let s = OriginShield {
            enabled: m.bool("Enabled", d).unwrap_or(false),
            origin_shield_region: m.string_nonempty("OriginShieldRegion", d),
        };
        m.finish(d);
        s
    });
    let origin_access_control_id = r.string("OriginAccessControlId", d).unwrap_or_default();
    r.finish(d);
    Some(Origin {
        id: id?,
        domain_name: domain_name?,
        origin_path,
        custom_headers,
        s3_origin_config,
        custom_origin_config,
        vpc_origin_config,
        connection_attempts,
        connection_timeout,
        response_completion_timeout,
        origin_shield,
        origin_access_control_id,
    })
}

fn decode_origin_group(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<OriginGroup> {
    let mut r = MapReader::new(tree, path, d)?;
    let id = r.string_req("Id", d);
    let codes = r.map_req("FailoverCriteria", d).and_then(|mut m| {
        let codes = m
            .list_req("StatusCodes", d)
            .map(|l| items(l, d, leaf_int::<u16>));
        m.finish(d);
        codes
    });
    let members = r.list_req("Members", d).map(|l| {
        items(l, d, |t, p, d| {
            let mut m = MapReader::new(t, p, d)?;
            let id = m.string_req("OriginId", d);
            m.finish(d);
            id
        })
    });
    let selection_criteria = r.enumeration("SelectionCriteria", d);
    r.finish(d);
    Some(OriginGroup {
        id: id?,
        failover_status_codes: codes?,
        members: members?,
        selection_criteria,
    })
}

fn decode_trusted(r: &mut MapReader<'_>, name: &'static str, d: &mut Diagnostics) -> TrustedList {
    let Some(mut l) = r.list(name, d) else {
        return TrustedList::default();
    };
    let list: Vec<String> = l
        .items
        .iter()
        .filter_map(|(p, t)| leaf_string(t, p, d))
        .collect();
    let enabled = l.rest.bool("Enabled", d).unwrap_or(!list.is_empty());
    l.rest.finish(d);
    TrustedList {
        enabled,
        items: list,
    }
}

fn decode_behavior(
    tree: &Tree,
    path: &str,
    default: bool,
    d: &mut Diagnostics,
) -> Option<CacheBehavior> {
    let mut r = MapReader::new(tree, path, d)?;
    let path_pattern = if default {
        Some("*".to_owned())
    } else {
        r.string_req("PathPattern", d)
    };
    let target_origin_id = r.string_req("TargetOriginId", d);
    let trusted_signers = decode_trusted(&mut r, "TrustedSigners", d);
    let trusted_key_groups = decode_trusted(&mut r, "TrustedKeyGroups", d);
    let viewer_protocol_policy = r.enum_req("ViewerProtocolPolicy", d);
    let default_methods = || vec![Method::Head, Method::Get];
    let (allowed_methods, cached_methods) = match r.list("AllowedMethods", d) {
        None => (default_methods(), default_methods()),
        Some(mut l) => {
            let allowed = l
                .items
                .iter()
                .filter_map(|(p, t)| leaf_enum::<Method>(t, p, d))
                .collect();
            let cached = l
                .rest
                .list("CachedMethods", d)
                .map(|c| items(c, d, leaf_enum::<Method>))
                .unwrap_or_else(default_methods);
            l.rest.finish(d);
            (allowed, cached)
        }
    };
    let smooth_streaming = r.bool("SmoothStreaming", d);
    let compress = r.bool("Compress", d).unwrap_or(false);
    let lambda_function_associations = r.verbatim("LambdaFunctionAssociations", d);
    let function_associations = r.verbatim("FunctionAssociations", d);
    // Kept when empty: CloudFront reads back `FieldLevelEncryptionId: ""`.
    let field_level_encryption_id = r.string("FieldLevelEncryptionId", d);
    let realtime_log_config_arn = r.string_nonempty("RealtimeLogConfigArn", d);
    let cache_policy_id = r.string_nonempty("CachePolicyId", d);
    let origin_request_policy_id = r.string_nonempty("OriginRequestPolicyId", d);
    let response_headers_policy_id = r.string_nonempty("ResponseHeadersPolicyId", d);
    let grpc_config = r.verbatim("GrpcConfig", d);
    let forwarded_values = r.map("ForwardedValues", d).and_then(|mut m| {
        let query_string = m.bool_req("QueryString", d);
        let cookies = m.map_req("Cookies", d).and_then(|mut c| {
            let forward = c.enum_req("Forward", d);
            let names = c.strings("WhitelistedNames", d).unwrap_or_default();
            c.finish(d);
            Some(CookiePreference {
                forward: forward?,
                whitelisted_names: names,
            })
        });
        let headers = m.strings("Headers", d).unwrap_or_default();
        let qs_keys = m.strings("QueryStringCacheKeys", d).unwrap_or_default();
        m.finish(d);
        Some(ForwardedValues {
            query_string: query_string?,
            cookies: cookies?,
            headers,
            query_string_cache_keys: qs_keys,
        })
    });
    let min_ttl = r.int("MinTTL", d);
    let default_ttl = r.int("DefaultTTL", d);
    let max_ttl = r.int("MaxTTL", d);
    r.finish(d);
    Some(CacheBehavior {
        path_pattern: path_pattern?,
        target_origin_id: target_origin_id?,
        trusted_signers,
        trusted_key_groups,
        viewer_protocol_policy: viewer_protocol_policy?,
        allowed_methods,
        cached_methods,
        smooth_streaming,
        compress,
        lambda_function_associations,
        function_associations,
        field_level_encryption_id,
        realtime_log_config_arn,
        cache_policy_id,
        origin_request_policy_id,
        response_headers_policy_id,
        grpc_config,
        forwarded_values,
        min_ttl,
        default_ttl,
        max_ttl,
    })
}

fn decode_error_response(
    tree: &Tree,
    path: &str,
    d: &mut Diagnostics,
) -> Option<CustomErrorResponse> {
    let mut r = MapReader::new(tree, path, d)?;
    let error_code = r.int_req("ErrorCode", d);
    let response_page_path = r.string_nonempty("ResponsePagePath", d);
    let response_code = r.string_nonempty("ResponseCode", d);
    let error_caching_min_ttl = r.int("ErrorCachingMinTTL", d);
    r.finish(d);
    Some(CustomErrorResponse {
        error_code: error_code?,
        response_page_path,
        response_code,
        error_caching_min_ttl,
    })
}

// === encoding ===

impl DistributionConfig {
    /// The config as a REST-XML document with root `DistributionConfig`.
    pub fn to_xml(&self) -> String {
        self.to_tree().to_xml("DistributionConfig")
    }

    /// The config in CloudFront's shape (with `Quantity`/`Items` wrappers), ready for
    /// [`Tree::to_xml`] with root `DistributionConfig`.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("CallerReference", &self.caller_reference)
            .wrapped("Aliases", leaves(&self.aliases))
            .leaf("DefaultRootObject", &self.default_root_object)
            .wrapped(
                "Origins",
                self.origins.iter().map(Origin::to_tree).collect(),
            )
            .wrapped(
                "OriginGroups",
                self.origin_groups
                    .iter()
                    .map(OriginGroup::to_tree)
                    .collect(),
            )
            .node(
                "DefaultCacheBehavior",
                self.default_cache_behavior.to_tree_as(true),
            )
            .wrapped(
                "CacheBehaviors",
                self.cache_behaviors
                    .iter()
                    .map(|b| b.to_tree_as(false))
                    .collect(),
            )
            .wrapped(
                "CustomErrorResponses",
                self.custom_error_responses
                    .iter()
                    .map(CustomErrorResponse::to_tree)
                    .collect(),
            )
            .leaf("Comment", &self.comment)
            .opt_node("Logging", self.logging.as_ref().map(Logging::to_tree))
            .opt_leaf("PriceClass", self.price_class)
            .leaf("Enabled", self.enabled)
            .opt_node(
                "ViewerCertificate",
                self.viewer_certificate
                    .as_ref()
                    .map(ViewerCertificate::to_tree),
            )
            .opt_node(
                "Restrictions",
                self.restrictions.as_ref().map(|g| {
                    MapBuilder::new()
                        .node(
                            "GeoRestriction",
                            wrapped(
                                leaves(&g.items),
                                vec![("RestrictionType".into(), Tree::leaf(g.restriction_type))],
                            ),
                        )
                        .build()
                }),
            )
            .opt_leaf("WebACLId", self.web_acl_id.as_ref())
            .opt_leaf("HttpVersion", self.http_version)
            .opt_leaf("IsIPV6Enabled", self.is_ipv6_enabled)
            .opt_leaf(
                "ContinuousDeploymentPolicyId",
                self.continuous_deployment_policy_id.as_ref(),
            )
            .opt_leaf("Staging", self.staging)
            .opt_leaf("AnycastIpListId", self.anycast_ip_list_id.as_ref())
            .opt_node("TenantConfig", self.tenant_config.clone())
            .opt_leaf("ConnectionMode", self.connection_mode)
            .opt_node("ViewerMtlsConfig", self.viewer_mtls_config.clone())
            .opt_node(
                "ConnectionFunctionAssociation",
                self.connection_function_association.clone(),
            )
            .opt_node("CacheTagConfig", self.cache_tag_config.clone())
            .build()
    }
}

impl Origin {
    /// The origin in CloudFront's shape.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("Id", &self.id)
            .leaf("DomainName", &self.domain_name)
            .leaf("OriginPath", &self.origin_path)
            .wrapped(
                "CustomHeaders",
                self.custom_headers
                    .iter()
                    .map(|h| {
                        MapBuilder::new()
                            .leaf("HeaderName", &h.header_name)
                            .leaf("HeaderValue", &h.header_value)
                            .build()
                    })
                    .collect(),
            )
            .opt_node(
                "S3OriginConfig",
                self.s3_origin_config.as_ref().map(|s| {
                    MapBuilder::new()
                        .leaf("OriginAccessIdentity", &s.origin_access_identity)
                        .opt_leaf("OriginReadTimeout", s.origin_read_timeout)
                        .build()
                }),
            )
            .opt_node(
                "CustomOriginConfig",
                self.custom_origin_config.as_ref().map(|c| {
                    MapBuilder::new()
                        .leaf("HTTPPort", c.http_port)
                        .leaf("HTTPSPort", c.https_port)
                        .leaf("OriginProtocolPolicy", c.origin_protocol_policy)
                        .wrapped("OriginSslProtocols", leaves(&c.origin_ssl_protocols))
                        .leaf("OriginReadTimeout", c.origin_read_timeout)
                        .leaf("OriginKeepaliveTimeout", c.origin_keepalive_timeout)
                        .opt_leaf("IpAddressType", c.ip_address_type)
                        .opt_node("OriginMtlsConfig", c.origin_mtls_config.clone())
                        .opt_leaf("OriginHttpVersion", c.origin_http_version)
                        .build()
                }),
            )
            .opt_node("VpcOriginConfig", self.vpc_origin_config.clone())
            .leaf("ConnectionAttempts", self.connection_attempts)
            .leaf("ConnectionTimeout", self.connection_timeout)
            .opt_leaf(
                "ResponseCompletionTimeout",
                self.response_completion_timeout,
            )
            .opt_node(
                "OriginShield",
                self.origin_shield.as_ref().map(|s| {
                    MapBuilder::new()
                        .leaf("Enabled", s.enabled)
                        .opt_leaf("OriginShieldRegion", s.origin_shield_region.as_ref())
                        .build()
                }),
            )
            .leaf("OriginAccessControlId", &self.origin_access_control_id)
            .build()
    }
}

impl OriginGroup {
    /// The group in CloudFront's shape.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("Id", &self.id)
            .node(
                "FailoverCriteria",
                MapBuilder::new()
                    .wrapped("StatusCodes", leaves(&self.failover_status_codes))
                    .build(),
            )
            .wrapped(
                "Members",
                self.members
                    .iter()
                    .map(|m| MapBuilder::new().leaf("OriginId", m).build())
                    .collect(),
            )
            .opt_leaf("SelectionCriteria", self.selection_criteria)
            .build()
    }
}

fn trusted_tree(t: &TrustedList) -> Tree {
    wrapped(
        leaves(&t.items),
        vec![("Enabled".into(), Tree::leaf(t.enabled))],
    )
}

impl CacheBehavior {
    /// The behavior in CloudFront's shape; `default` leaves out `PathPattern`
    /// (`DefaultCacheBehavior` has none).
    pub fn to_tree_as(&self, default: bool) -> Tree {
        let mut b = MapBuilder::new();
        if !default {
            b = b.leaf("PathPattern", &self.path_pattern);
        }
        let allowed = MapBuilder::new()
            .leaf("Quantity", self.allowed_methods.len())
            .node("Items", Tree::List(leaves(&self.allowed_methods)))
            .wrapped("CachedMethods", leaves(&self.cached_methods))
            .build();
        b.leaf("TargetOriginId", &self.target_origin_id)
            .node("TrustedSigners", trusted_tree(&self.trusted_signers))
            .node("TrustedKeyGroups", trusted_tree(&self.trusted_key_groups))
            .leaf("ViewerProtocolPolicy", self.viewer_protocol_policy)
            .node("AllowedMethods", allowed)
            .opt_leaf("SmoothStreaming", self.smooth_streaming)
            .leaf("Compress", self.compress)
            .opt_node(
                "LambdaFunctionAssociations",
                self.lambda_function_associations.clone(),
            )
            .opt_node("FunctionAssociations", self.function_associations.clone())
            .opt_leaf(
                "FieldLevelEncryptionId",
                self.field_level_encryption_id.as_ref(),
            )
            .opt_leaf(
                "RealtimeLogConfigArn",
                self.realtime_log_config_arn.as_ref(),
            )
            .opt_leaf("CachePolicyId", self.cache_policy_id.as_ref())
            .opt_leaf(
                "OriginRequestPolicyId",
                self.origin_request_policy_id.as_ref(),
            )
            .opt_leaf(
                "ResponseHeadersPolicyId",
                self.response_headers_policy_id.as_ref(),
            )
            .opt_node("GrpcConfig", self.grpc_config.clone())
            .opt_node(
                "ForwardedValues",
                self.forwarded_values.as_ref().map(|f| {
                    MapBuilder::new()
                        .leaf("QueryString", f.query_string)
                        .node(
                            "Cookies",
                            {
                                // CloudFront writes WhitelistedNames only for a whitelist.
                                let c = MapBuilder::new().leaf("Forward", f.cookies.forward);
                                if f.cookies.forward == ItemSelection::Whitelist
                                    || !f.cookies.whitelisted_names.is_empty()
                                {
                                    c.wrapped(
                                        "WhitelistedNames",
                                        leaves(&f.cookies.whitelisted_names),
                                    )
                                } else {
                                    c
                                }
                            }
                            .build(),
                        )
                        .wrapped("Headers", leaves(&f.headers))
                        .wrapped("QueryStringCacheKeys", leaves(&f.query_string_cache_keys))
                        .build()
                }),
            )
            .opt_leaf("MinTTL", self.min_ttl)
            .opt_leaf("DefaultTTL", self.default_ttl)
            .opt_leaf("MaxTTL", self.max_ttl)
            .build()
    }

    /// Whether requests on this behavior must carry a signed URL or cookie.
    pub fn requires_signature(&self) -> bool {
        self.trusted_key_groups.enabled || self.trusted_signers.enabled
    }
}

impl CustomErrorResponse {
    /// The response in CloudFront's shape.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("ErrorCode", self.error_code)
            .opt_leaf("ResponsePagePath", self.response_page_path.as_ref())
            .opt_leaf("ResponseCode", self.response_code.as_ref())
            .opt_leaf("ErrorCachingMinTTL", self.error_caching_min_ttl)
            .build()
    }
}

impl Logging {
    /// The logging settings in CloudFront's shape.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .leaf("Enabled", self.enabled)
            .leaf("IncludeCookies", self.include_cookies)
            .leaf("Bucket", &self.bucket)
            .leaf("Prefix", &self.prefix)
            .build()
    }
}

impl ViewerCertificate {
    /// The certificate settings in CloudFront's shape.
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .opt_leaf(
                "CloudFrontDefaultCertificate",
                self.cloudfront_default_certificate,
            )
            .opt_leaf("IAMCertificateId", self.iam_certificate_id.as_ref())
            .opt_leaf("ACMCertificateArn", self.acm_certificate_arn.as_ref())
            .opt_leaf("SSLSupportMethod", self.ssl_support_method)
            .opt_leaf("MinimumProtocolVersion", self.minimum_protocol_version)
            .opt_leaf("Certificate", self.certificate.as_ref())
            .opt_leaf("CertificateSource", self.certificate_source)
            .build()
    }
}

// === referenced resources ===

impl DistributionConfig {
    /// The default behavior followed by the ordered ones.
    pub fn behaviors(&self) -> impl Iterator<Item = &CacheBehavior> {
        std::iter::once(&self.default_cache_behavior).chain(self.cache_behaviors.iter())
    }

    /// Cache policy ids used by any behavior, each once, in order of first use.
    pub fn referenced_cache_policy_ids(&self) -> Vec<&str> {
        unique(
            self.behaviors()
                .filter_map(|b| b.cache_policy_id.as_deref()),
        )
    }

    /// Origin request policy ids used by any behavior, each once.
    pub fn referenced_origin_request_policy_ids(&self) -> Vec<&str> {
        unique(
            self.behaviors()
                .filter_map(|b| b.origin_request_policy_id.as_deref()),
        )
    }

    /// Response headers policy ids used by any behavior, each once.
    pub fn referenced_response_headers_policy_ids(&self) -> Vec<&str> {
        unique(
            self.behaviors()
                .filter_map(|b| b.response_headers_policy_id.as_deref()),
        )
    }

    /// Key group ids trusted by any behavior, each once.
    pub fn referenced_key_group_ids(&self) -> Vec<&str> {
        unique(
            self.behaviors()
                .flat_map(|b| b.trusted_key_groups.items.iter().map(String::as_str)),
        )
    }
}

// === CloudFront Functions associations ===

/// `FunctionAssociation.EventType`s a CloudFront Function can have.
const FUNCTION_EVENTS: [&str; 2] = ["viewer-request", "viewer-response"];

impl CacheBehavior {
    /// `FunctionAssociations` as (FunctionARN, EventType) pairs, in order.
    pub fn function_association_list(&self) -> Vec<(&str, &str)> {
        let Some(items) = self
            .function_associations
            .as_ref()
            .and_then(|t| t.get("Items"))
            .and_then(Tree::as_list)
        else {
            return Vec::new();
        };
        items
            .iter()
            .map(|i| {
                let field = |k| i.get(k).and_then(Tree::as_str).unwrap_or("");
                (field("FunctionARN"), field("EventType"))
            })
            .collect()
    }

    /// CloudFront's rules for `FunctionAssociations`: viewer events only, one function per
    /// event type (`InvalidFunctionAssociation`), at most two (`TooManyFunctionAssociations`).
    /// Whether each function exists and is published is the registry's check.
    fn validate_function_associations(&self, p: &str, d: &mut Diagnostics) {
        let list = self.function_association_list();
        let path = format!("{p}.FunctionAssociations");
        if list.len() > FUNCTION_EVENTS.len() {
            d.error(
                path.clone(),
                "TooManyFunctionAssociations",
                "A cache behavior can have at most one function per event type (viewer-request, viewer-response).",
            );
        }
        let mut seen = HashSet::new();
        for (i, (arn, event)) in list.iter().enumerate() {
            let at = format!("{path}.Items[{i}]");
            if !arn.starts_with("arn:aws:cloudfront::") || !arn.contains(":function/") {
                d.error(
                    format!("{at}.FunctionARN"),
                    "InvalidFunctionAssociation",
                    format!("{arn:?} is not the ARN of a CloudFront function."),
                );
            }
            if !FUNCTION_EVENTS.contains(event) {
                d.error(
                    format!("{at}.EventType"),
                    "InvalidFunctionAssociation",
                    format!("CloudFront Functions can be associated only with viewer-request and viewer-response events, not {event:?}."),
                );
            } else if !seen.insert(*event) {
                d.error(
                    format!("{at}.EventType"),
                    "InvalidFunctionAssociation",
                    format!("Only one function can be associated with the {event} event of a cache behavior."),
                );
            }
        }
    }
}

impl DistributionConfig {
    /// Function ARNs associated with any behavior, each once.
    pub fn referenced_function_arns(&self) -> Vec<&str> {
        unique(self.behaviors().flat_map(|b| {
            b.function_association_list()
                .into_iter()
                .map(|(arn, _)| arn)
        }))
    }
}

fn unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    it.filter(|s| seen.insert(*s)).collect()
}

// === validation ===

const ROOT: &str = "DistributionConfig";

fn not_implemented(d: &mut Diagnostics, path: impl Into<String>, what: &str) {
    d.warn(
        path,
        NOT_IMPLEMENTED,
        format!("{what} is accepted but not implemented by edgegate; it has no effect"),
    );
}

/// Whether a verbatim setting is at its default: every value empty, `0` or `false`.
fn is_inert(t: &Tree) -> bool {
    match t {
        Tree::Leaf(s) => matches!(s.as_str(), "" | "0" | "false"),
        Tree::Map(m) => m.iter().all(|(_, v)| is_inert(v)),
        Tree::List(l) => l.is_empty(),
    }
}

impl DistributionConfig {
    /// Checks CloudFront's rules that span members, and warns about accepted settings that
    /// have no effect. Errors carry CloudFront's error code.
    pub fn validate(&self, d: &mut Diagnostics) {
        if self.caller_reference.is_empty() {
            d.error(
                format!("{ROOT}.CallerReference"),
                INVALID,
                "CallerReference must not be empty",
            );
        }
        if self.comment.chars().count() > 128 {
            d.error(
                format!("{ROOT}.Comment"),
                INVALID,
                "Comment is longer than 128 characters",
            );
        }
        self.validate_aliases(d);
        self.validate_root_object(d);
        self.validate_origins(d);
        self.validate_groups(d);
        self.validate_behaviors(d);
        self.validate_error_responses(d);
        self.validate_misc(d);
    }

    fn validate_aliases(&self, d: &mut Diagnostics) {
        let p = format!("{ROOT}.Aliases");
        if self.aliases.len() > MAX_ALIASES {
            d.error(
                &p,
                "TooManyDistributionCNAMEs",
                format!(
                    "{} alternate domain names; the limit is {MAX_ALIASES}",
                    self.aliases.len()
                ),
            );
        }
        let mut seen = HashSet::new();
        for (i, a) in self.aliases.iter().enumerate() {
            let ip = format!("{p}.Items[{i}]");
            if !valid_alias(a) {
                d.error(&ip, INVALID, format!("{a:?} is not a valid domain name (a wildcard is allowed only as the first label, *.example.com)"));
            }
            if !seen.insert(a.to_ascii_lowercase()) {
                d.error(
                    &ip,
                    INVALID,
                    format!("alternate domain name {a:?} is listed twice"),
                );
            }
        }
    }

    fn validate_root_object(&self, d: &mut Diagnostics) {
        let o = &self.default_root_object;
        if o.is_empty() {
            return;
        }
        let p = format!("{ROOT}.DefaultRootObject");
        if o.starts_with('/') {
            d.error(&p, "InvalidDefaultRootObject", "DefaultRootObject can't begin with a forward slash (/); write index.html, not /index.html");
        }
        if o.len() > 255 {
            d.error(
                &p,
                "InvalidDefaultRootObject",
                "DefaultRootObject is longer than 255 characters",
            );
        }
        if o.chars().any(|c| c.is_control() || c == ' ') {
            d.error(
                &p,
                "InvalidDefaultRootObject",
                "DefaultRootObject contains spaces or control characters",
            );
        }
    }

    fn validate_origins(&self, d: &mut Diagnostics) {
        let p = format!("{ROOT}.Origins");
        if self.origins.is_empty() {
            d.error(
                format!("{p}.Quantity"),
                INVALID,
                "a distribution needs at least one origin",
            );
        }
        if self.origins.len() > MAX_ORIGINS {
            d.error(
                &p,
                "TooManyOrigins",
                format!("{} origins; the limit is {MAX_ORIGINS}", self.origins.len()),
            );
        }
        let mut ids = HashSet::new();
        for (i, o) in self.origins.iter().enumerate() {
            let op = format!("{p}.Items[{i}]");
            if o.id.is_empty() {
                d.error(format!("{op}.Id"), INVALID, "origin Id must not be empty");
            } else if !ids.insert(o.id.as_str()) {
                d.error(
                    format!("{op}.Id"),
                    INVALID,
                    format!(
                        "origin Id {:?} is used twice; origin ids must be unique",
                        o.id
                    ),
                );
            }
            o.validate(&op, d);
        }
    }

    fn validate_groups(&self, d: &mut Diagnostics) {
        let p = format!("{ROOT}.OriginGroups");
        if self.origin_groups.len() > MAX_ORIGIN_GROUPS {
            d.error(
                &p,
                "TooManyOriginGroupsPerDistribution",
                format!(
                    "{} origin groups; the limit is {MAX_ORIGIN_GROUPS}",
                    self.origin_groups.len()
                ),
            );
        }
        let origin_ids: HashSet<&str> = self.origins.iter().map(|o| o.id.as_str()).collect();
        let mut ids = HashSet::new();
        for (i, g) in self.origin_groups.iter().enumerate() {
            let gp = format!("{p}.Items[{i}]");
            if g.id.is_empty() {
                d.error(
                    format!("{gp}.Id"),
                    INVALID,
                    "origin group Id must not be empty",
                );
            } else if origin_ids.contains(g.id.as_str()) || !ids.insert(g.id.as_str()) {
                d.error(
                    format!("{gp}.Id"),
                    INVALID,
                    format!(
                        "Id {:?} is already used by another origin or origin group",
                        g.id
                    ),
                );
            }
            if g.members.len() != 2 {
                d.error(
                    format!("{gp}.Members"),
                    INVALID,
                    format!(
                        "an origin group has exactly 2 members (primary, then secondary); found {}",
                        g.members.len()
                    ),
                );
            }
            for (j, m) in g.members.iter().enumerate() {
                if !origin_ids.contains(m.as_str()) {
                    d.error(
                        format!("{gp}.Members.Items[{j}].OriginId"),
                        "NoSuchOrigin",
                        format!("origin group member {m:?} is not the Id of an origin in this distribution"),
                    );
                }
            }
            if g.selection_criteria == Some(OriginGroupSelectionCriteria::MediaQualityBased) {
                d.warn(
                    format!("{gp}.SelectionCriteria"),
                    NOT_IMPLEMENTED,
                    "SelectionCriteria media-quality-based is not applied: edgegate sends every request to the primary origin and fails over as with default (FailoverCriteria.StatusCodes, connection failures and timeouts)",
                );
            }
            if g.members.len() == 2 && g.members[0] == g.members[1] {
                d.error(
                    format!("{gp}.Members"),
                    INVALID,
                    "the two members of an origin group must be different origins",
                );
            }
            let cp = format!("{gp}.FailoverCriteria.StatusCodes");
            if g.failover_status_codes.is_empty() {
                d.error(
                    &cp,
                    INVALID,
                    "an origin group needs at least one failover status code",
                );
            }
            for (j, c) in g.failover_status_codes.iter().enumerate() {
                if !FAILOVER_STATUS_CODES.contains(c) {
                    d.error(
                        format!("{cp}.Items[{j}]"),
                        INVALID,
                        format!("{c} is not a failover status code; allowed: 400, 403, 404, 416, 500, 502, 503, 504"),
                    );
                }
            }
        }
    }

    fn validate_behaviors(&self, d: &mut Diagnostics) {
        let p = format!("{ROOT}.CacheBehaviors");
        if self.cache_behaviors.len() > MAX_CACHE_BEHAVIORS {
            d.error(
                &p,
                "TooManyCacheBehaviors",
                format!(
                    "{} cache behaviors; the limit is {MAX_CACHE_BEHAVIORS}",
                    self.cache_behaviors.len()
                ),
            );
        }
        let targets: HashSet<&str> = self
            .origins
            .iter()
            .map(|o| o.id.as_str())
            .chain(self.origin_groups.iter().map(|g| g.id.as_str()))
            .collect();
        self.default_cache_behavior.validate(
            &format!("{ROOT}.DefaultCacheBehavior"),
            true,
            &targets,
            d,
        );
        let mut patterns = HashSet::new();
        for (i, b) in self.cache_behaviors.iter().enumerate() {
            let bp = format!("{p}.Items[{i}]");
            b.validate(&bp, false, &targets, d);
            let norm = b.path_pattern.strip_prefix('/').unwrap_or(&b.path_pattern);
            if !patterns.insert(norm.to_owned()) {
                d.error(
                    format!("{bp}.PathPattern"),
                    INVALID,
                    format!(
                        "path pattern {:?} is used by an earlier cache behavior",
                        b.path_pattern
                    ),
                );
            }
        }
    }

    fn validate_error_responses(&self, d: &mut Diagnostics) {
        let p = format!("{ROOT}.CustomErrorResponses");
        let mut seen = HashSet::new();
        for (i, e) in self.custom_error_responses.iter().enumerate() {
            let ep = format!("{p}.Items[{i}]");
            if !CUSTOM_ERROR_CODES.contains(&e.error_code) {
                d.error(
                    format!("{ep}.ErrorCode"),
                    "InvalidErrorCode",
                    format!("{} can't have a custom error response; allowed: 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504", e.error_code),
                );
            }
            if !seen.insert(e.error_code) {
                d.error(
                    format!("{ep}.ErrorCode"),
                    INVALID,
                    format!("ErrorCode {} is configured twice", e.error_code),
                );
            }
            match (&e.response_page_path, &e.response_code) {
                (Some(_), None) | (None, Some(_)) => d.error(
                    &ep,
                    INVALID,
                    "ResponsePagePath and ResponseCode must be given together (or neither)",
                ),
                _ => {}
            }
            if let Some(path) = &e.response_page_path
                && (!path.starts_with('/')
                    || path.len() > 4000
                    || path.chars().any(char::is_control))
            {
                d.error(
                    format!("{ep}.ResponsePagePath"),
                    "InvalidRelativePath",
                    "ResponsePagePath must begin with a slash (/), be URL-encoded and be at most 4000 characters",
                );
            }
            if let Some(code) = &e.response_code {
                let ok = code
                    .parse::<u16>()
                    .map(|c| CUSTOM_RESPONSE_CODES.contains(&c))
                    .unwrap_or(false);
                if !ok {
                    d.error(
                        format!("{ep}.ResponseCode"),
                        "InvalidResponseCode",
                        format!("{code:?} is not a valid ResponseCode; allowed: 200, 400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504"),
                    );
                }
            }
            if e.error_caching_min_ttl.is_some_and(|t| t > 31_536_000) {
                d.error(
                    format!("{ep}.ErrorCachingMinTTL"),
                    INVALID,
                    "ErrorCachingMinTTL is more than 31536000 seconds",
                );
            }
        }
    }

    fn validate_misc(&self, d: &mut Diagnostics) {
        if let Some(l) = &self.logging
            && l.enabled
            && !valid_log_bucket(&l.bucket)
        {
            d.error(
                format!("{ROOT}.Logging.Bucket"),
                INVALID,
                format!(
                    "{:?} is not a logging bucket; write it as bucket-name.s3.amazonaws.com",
                    l.bucket
                ),
            );
        }
        if let Some(v) = &self.viewer_certificate {
            let vp = format!("{ROOT}.ViewerCertificate");
            let custom = v.acm_certificate_arn.is_some() || v.iam_certificate_id.is_some();
            if custom && v.cloudfront_default_certificate == Some(true) {
                d.error(&vp, "InvalidViewerCertificate", "CloudFrontDefaultCertificate can't be true together with ACMCertificateArn or IAMCertificateId");
            }
            if v.acm_certificate_arn.is_some() && v.iam_certificate_id.is_some() {
                d.error(
                    &vp,
                    "InvalidViewerCertificate",
                    "give ACMCertificateArn or IAMCertificateId, not both",
                );
            }
            if custom && v.ssl_support_method.is_none() {
                d.error(
                    format!("{vp}.SSLSupportMethod"),
                    "InvalidViewerCertificate",
                    "SSLSupportMethod is required with a custom certificate",
                );
            }
            if custom {
                not_implemented(
                    d,
                    &vp,
                    "a custom viewer certificate (ACM or IAM); edgegate serves the certificates from its own configuration and",
                );
            }
            if let Some(m) = v.minimum_protocol_version
                && m != MinimumProtocolVersion::TlsV1_2_2021
            {
                d.warn(
                    format!("{vp}.MinimumProtocolVersion"),
                    NOT_IMPLEMENTED,
                    format!(
                        "MinimumProtocolVersion {} is not applied: edgegate's HTTPS listener accepts TLS 1.2 and TLS 1.3 with ECDHE and AEAD ciphers (as TLSv1.2_2021 does) for every distribution",
                        m.as_str()
                    ),
                );
            }
        }
        if let Some(pc) = self.price_class
            && pc != PriceClass::PriceClassAll
        {
            d.warn(
                format!("{ROOT}.PriceClass"),
                NOT_IMPLEMENTED,
                format!(
                    "PriceClass {} is not applied: edgegate is one edge location that serves every request itself, and its usage is priced in its own --billing-region",
                    pc.as_str()
                ),
            );
        }
        if self.is_ipv6_enabled == Some(false) {
            d.warn(
                format!("{ROOT}.IsIPV6Enabled"),
                NOT_IMPLEMENTED,
                "IsIPV6Enabled false is not applied: edgegate serves IPv6 viewers on any IPv6 address it listens on",
            );
        }
        if let Some(g) = &self.restrictions {
            let gp = format!("{ROOT}.Restrictions.GeoRestriction");
            match g.restriction_type {
                GeoRestrictionType::None if !g.items.is_empty() => {
                    d.error(
                        &gp,
                        "InvalidGeoRestrictionParameter",
                        "RestrictionType none takes no locations",
                    );
                }
                GeoRestrictionType::Blacklist | GeoRestrictionType::Whitelist
                    if g.items.is_empty() =>
                {
                    d.error(
                        &gp,
                        "InvalidGeoRestrictionParameter",
                        "a blacklist or whitelist needs at least one location",
                    );
                }
                _ => {}
            }
            for (i, c) in g.items.iter().enumerate() {
                if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                    d.error(
                        format!("{gp}.Items[{i}]"),
                        "InvalidLocationCode",
                        format!("{c:?} is not an ISO 3166-1 alpha-2 country code such as US"),
                    );
                }
            }
        }
        if let Some(w) = &self.web_acl_id {
            not_implemented(
                d,
                format!("{ROOT}.WebACLId"),
                &format!("WebACLId {w:?} (AWS WAF)"),
            );
        }
        if matches!(
            self.http_version,
            Some(HttpVersion::Http3 | HttpVersion::Http2And3)
        ) {
            not_implemented(d, format!("{ROOT}.HttpVersion"), "HTTP/3");
        }
        if self.http_version == Some(HttpVersion::Http1_1) {
            d.warn(
                format!("{ROOT}.HttpVersion"),
                NOT_IMPLEMENTED,
                "HttpVersion http1.1 is not applied: edgegate offers HTTP/2 (ALPN h2) as well as HTTP/1.1 to every viewer",
            );
        }
        if self.continuous_deployment_policy_id.is_some() {
            not_implemented(
                d,
                format!("{ROOT}.ContinuousDeploymentPolicyId"),
                "Continuous deployment",
            );
        }
        if self.staging == Some(true) {
            not_implemented(d, format!("{ROOT}.Staging"), "A staging distribution");
        }
        if self.anycast_ip_list_id.is_some() {
            not_implemented(
                d,
                format!("{ROOT}.AnycastIpListId"),
                "An Anycast static IP list",
            );
        }
        if self.connection_mode == Some(ConnectionMode::TenantOnly) {
            not_implemented(
                d,
                format!("{ROOT}.ConnectionMode"),
                "ConnectionMode tenant-only (multi-tenant distributions)",
            );
        }
        for (name, v) in [
            ("TenantConfig", &self.tenant_config),
            ("ViewerMtlsConfig", &self.viewer_mtls_config),
            (
                "ConnectionFunctionAssociation",
                &self.connection_function_association,
            ),
            ("CacheTagConfig", &self.cache_tag_config),
        ] {
            if v.as_ref().is_some_and(|t| !is_inert(t)) {
                not_implemented(d, format!("{ROOT}.{name}"), name);
            }
        }
    }
}

impl Origin {
    fn validate(&self, p: &str, d: &mut Diagnostics) {
        if !valid_host(&self.domain_name) {
            d.error(
                format!("{p}.DomainName"),
                "InvalidOrigin",
                format!("{:?} is not a valid origin domain name", self.domain_name),
            );
        }
        let op = &self.origin_path;
        if !op.is_empty()
            && (!op.starts_with('/')
                || op.ends_with('/')
                || op.len() > 255
                || op
                    .chars()
                    .any(|c| c.is_control() || c == ' ' || c == '?' || c == '#'))
        {
            d.error(
                format!("{p}.OriginPath"),
                INVALID,
                "OriginPath must begin with a slash (/), not end with one, and be at most 255 characters without spaces, ? or #",
            );
        }
        if !(1..=3).contains(&self.connection_attempts) {
            d.error(
                format!("{p}.ConnectionAttempts"),
                INVALID,
                format!(
                    "ConnectionAttempts is {}; allowed 1 to 3",
                    self.connection_attempts
                ),
            );
        }
        if !(1..=10).contains(&self.connection_timeout) {
            d.error(
                format!("{p}.ConnectionTimeout"),
                INVALID,
                format!(
                    "ConnectionTimeout is {}; allowed 1 to 10 seconds",
                    self.connection_timeout
                ),
            );
        }
        let kinds = usize::from(self.s3_origin_config.is_some())
            + usize::from(self.custom_origin_config.is_some())
            + usize::from(self.vpc_origin_config.is_some());
        if kinds != 1 {
            d.error(p, "InvalidOrigin", "an origin needs exactly one of S3OriginConfig, CustomOriginConfig or VpcOriginConfig");
        }
        let mut read_timeout = 30;
        if let Some(s) = &self.s3_origin_config {
            // CloudFront: "The parameter Origin DomainName does not refer to a valid S3 bucket."
            // Local-directory origins (`{name}.edgegate.local`) are edgegate's own S3-like kind.
            let domain = self.domain_name.to_ascii_lowercase();
            if valid_host(&self.domain_name)
                && crate::origin::parse_s3_domain(&domain).is_none()
                && !domain.ends_with(crate::edge::compile::LOCAL_ORIGIN_SUFFIX)
            {
                d.error(
                    format!("{p}.DomainName"),
                    INVALID,
                    format!(
                        "The parameter Origin DomainName does not refer to a valid S3 bucket: {:?} (an S3OriginConfig needs bucket.s3.amazonaws.com or bucket.s3.REGION.amazonaws.com; use a CustomOriginConfig for other origins, including S3 website endpoints)",
                        self.domain_name
                    ),
                );
            }
            read_timeout = s.origin_read_timeout.unwrap_or(30);
            if !(1..=120).contains(&read_timeout) {
                d.error(
                    format!("{p}.S3OriginConfig.OriginReadTimeout"),
                    "InvalidOriginReadTimeout",
                    "OriginReadTimeout must be 1 to 120 seconds",
                );
            }
            let oai = &s.origin_access_identity;
            if !oai.is_empty() {
                let ok = oai
                    .strip_prefix("origin-access-identity/cloudfront/")
                    .is_some_and(|id| {
                        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
                    });
                if !ok {
                    d.error(format!("{p}.S3OriginConfig.OriginAccessIdentity"), "InvalidOriginAccessIdentity", "OriginAccessIdentity must be empty or origin-access-identity/cloudfront/<ID>");
                }
                // Without an OAC, edgegate signs for the OAI with its origin credentials.
                if !self.origin_access_control_id.is_empty() {
                    d.error(p, "IllegalOriginAccessConfiguration", "an origin can't use both an origin access control and an origin access identity; set OriginAccessIdentity to \"\"");
                }
            }
        }
        if !self.origin_access_control_id.is_empty()
            && (self.origin_access_control_id.len() > 64
                || !self
                    .origin_access_control_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric()))
        {
            d.error(
                format!("{p}.OriginAccessControlId"),
                "InvalidOriginAccessControl",
                format!(
                    "{:?} is not an origin access control id",
                    self.origin_access_control_id
                ),
            );
        }
        if let Some(c) = &self.custom_origin_config {
            let cp = format!("{p}.CustomOriginConfig");
            read_timeout = c.origin_read_timeout;
            for (name, port) in [("HTTPPort", c.http_port), ("HTTPSPort", c.https_port)] {
                if !(port == 80 || port == 443 || (1024..=65535).contains(&port)) {
                    d.error(
                        format!("{cp}.{name}"),
                        INVALID,
                        format!("port {port} is not allowed; use 80, 443 or 1024 to 65535"),
                    );
                }
            }
            if c.origin_ssl_protocols.is_empty() {
                d.error(
                    format!("{cp}.OriginSslProtocols"),
                    INVALID,
                    "OriginSslProtocols needs at least one protocol",
                );
            } else if c.origin_ssl_protocols != [SslProtocol::TlsV1_2] {
                let listed: Vec<&str> = c.origin_ssl_protocols.iter().map(|v| v.as_str()).collect();
                d.warn(
                    format!("{cp}.OriginSslProtocols"),
                    NOT_IMPLEMENTED,
                    format!(
                        "OriginSslProtocols [{}] is not applied: edgegate connects to HTTPS origins with TLS 1.2 or TLS 1.3 only, as with the default [TLSv1.2]",
                        listed.join(", ")
                    ),
                );
            }
            if !(1..=120).contains(&c.origin_read_timeout) {
                d.error(
                    format!("{cp}.OriginReadTimeout"),
                    "InvalidOriginReadTimeout",
                    "OriginReadTimeout must be 1 to 120 seconds",
                );
            }
            if !(1..=120).contains(&c.origin_keepalive_timeout) {
                d.error(
                    format!("{cp}.OriginKeepaliveTimeout"),
                    "InvalidOriginKeepaliveTimeout",
                    "OriginKeepaliveTimeout must be 1 to 120 seconds",
                );
            }
            if c.origin_mtls_config.as_ref().is_some_and(|t| !is_inert(t)) {
                not_implemented(d, format!("{cp}.OriginMtlsConfig"), "Origin mutual TLS");
            }
            if let Some(t) = c.ip_address_type {
                d.warn(
                    format!("{cp}.IpAddressType"),
                    NOT_IMPLEMENTED,
                    format!(
                        "IpAddressType {} is not applied: edgegate connects to the addresses the origin's name resolves to, in the resolver's order",
                        t.as_str()
                    ),
                );
            }
            if c.origin_http_version == Some(OriginHttpVersion::Http2) {
                not_implemented(d, format!("{cp}.OriginHttpVersion"), "HTTP/2 to origins");
            }
        }
        if let Some(t) = self.response_completion_timeout {
            if t < read_timeout {
                d.error(
                    format!("{p}.ResponseCompletionTimeout"),
                    INVALID,
                    format!("ResponseCompletionTimeout ({t}) must be at least OriginReadTimeout ({read_timeout})"),
                );
            } else {
                not_implemented(
                    d,
                    format!("{p}.ResponseCompletionTimeout"),
                    &format!(
                        "ResponseCompletionTimeout ({t} s; edgegate bounds each origin read by OriginReadTimeout, not the whole response)"
                    ),
                );
            }
        }
        if self.vpc_origin_config.is_some() {
            not_implemented(d, format!("{p}.VpcOriginConfig"), "A VPC origin");
        }
        if let Some(s) = &self.origin_shield {
            let sp = format!("{p}.OriginShield");
            match &s.origin_shield_region {
                None if s.enabled => d.error(
                    format!("{sp}.OriginShieldRegion"),
                    INVALID,
                    "OriginShieldRegion is required when Origin Shield is enabled",
                ),
                Some(r) if !ORIGIN_SHIELD_REGIONS.contains(&r.as_str()) => d.error(
                    format!("{sp}.OriginShieldRegion"),
                    INVALID,
                    format!(
                        "{r:?} is not an Origin Shield region; use a region code such as us-east-1"
                    ),
                ),
                _ => {}
            }
        }
        self.validate_headers(p, d);
    }

    fn validate_headers(&self, p: &str, d: &mut Diagnostics) {
        let hp = format!("{p}.CustomHeaders");
        if self.custom_headers.len() > MAX_CUSTOM_HEADERS {
            d.error(
                &hp,
                "TooManyOriginCustomHeaders",
                format!(
                    "{} custom headers; the limit is {MAX_CUSTOM_HEADERS}",
                    self.custom_headers.len()
                ),
            );
        }
        let mut total = 0usize;
        let mut seen = HashSet::new();
        for (i, h) in self.custom_headers.iter().enumerate() {
            let ip = format!("{hp}.Items[{i}]");
            let lower = h.header_name.to_ascii_lowercase();
            total += h.header_name.len() + h.header_value.len();
            if !valid_token(&h.header_name) || h.header_name.len() > 256 {
                d.error(
                    format!("{ip}.HeaderName"),
                    INVALID,
                    format!(
                        "{:?} is not a valid header name (at most 256 token characters)",
                        h.header_name
                    ),
                );
            } else if FORBIDDEN_CUSTOM_HEADERS.contains(&lower.as_str())
                || lower.starts_with("x-amz-")
                || lower.starts_with("x-edge-")
            {
                d.error(
                    format!("{ip}.HeaderName"),
                    INVALID,
                    format!(
                        "CloudFront can't add the header {:?} to origin requests",
                        h.header_name
                    ),
                );
            }
            if !seen.insert(lower) {
                d.error(
                    format!("{ip}.HeaderName"),
                    INVALID,
                    format!("custom header {:?} is given twice", h.header_name),
                );
            }
            if h.header_value.len() > 1783
                || h.header_value.chars().any(|c| c.is_control() && c != '\t')
            {
                d.error(
                    format!("{ip}.HeaderValue"),
                    INVALID,
                    "a custom header value is at most 1783 characters without control characters",
                );
            }
        }
        if total > 10_240 {
            d.error(
                &hp,
                INVALID,
                format!(
                    "custom header names and values total {total} characters; the limit is 10240"
                ),
            );
        }
    }
}

impl CacheBehavior {
    fn validate(&self, p: &str, default: bool, targets: &HashSet<&str>, d: &mut Diagnostics) {
        if !default {
            let pp = &self.path_pattern;
            if pp.is_empty() || pp.len() > 255 || !pp.chars().all(valid_pattern_char) {
                d.error(
                    format!("{p}.PathPattern"),
                    INVALID,
                    format!("{pp:?} is not a valid path pattern: 1 to 255 characters from A-Z a-z 0-9 _ - . * ? $ / ~ \" ' @ : + &"),
                );
            }
        }
        if !targets.contains(self.target_origin_id.as_str()) {
            d.error(
                format!("{p}.TargetOriginId"),
                "NoSuchOrigin",
                format!("TargetOriginId {:?} is not the Id of an origin or origin group in this distribution", self.target_origin_id),
            );
        }
        self.validate_methods(p, d);
        self.validate_function_associations(p, d);
        self.validate_trust(p, d);
        self.validate_cache_settings(p, d);
        if self.smooth_streaming == Some(true) {
            not_implemented(d, format!("{p}.SmoothStreaming"), "Smooth streaming");
        }
        for (name, v) in [
            (
                "LambdaFunctionAssociations",
                &self.lambda_function_associations,
            ),
            ("GrpcConfig", &self.grpc_config),
        ] {
            if v.as_ref().is_some_and(|t| !is_inert(t)) {
                not_implemented(d, format!("{p}.{name}"), name);
            }
        }
        for (name, v) in [
            (
                "FieldLevelEncryptionId",
                &self
                    .field_level_encryption_id
                    .clone()
                    .filter(|s| !s.is_empty()),
            ),
            ("RealtimeLogConfigArn", &self.realtime_log_config_arn),
        ] {
            if v.is_some() {
                not_implemented(d, format!("{p}.{name}"), name);
            }
        }
    }

    fn validate_methods(&self, p: &str, d: &mut Diagnostics) {
        use Method::*;
        let set = |m: &[Method]| {
            let mut v: Vec<&str> = m.iter().map(|m| m.as_str()).collect();
            v.sort_unstable();
            v
        };
        let allowed = set(&self.allowed_methods);
        let cached = set(&self.cached_methods);
        let two = set(&[Get, Head]);
        let three = set(&[Get, Head, Options]);
        let seven = set(&[Get, Head, Options, Put, Post, Patch, Delete]);
        if allowed != two && allowed != three && allowed != seven {
            d.error(
                format!("{p}.AllowedMethods"),
                INVALID,
                "AllowedMethods must be exactly GET, HEAD or GET, HEAD, OPTIONS or GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE",
            );
        }
        if cached != two && cached != three {
            d.error(
                format!("{p}.AllowedMethods.CachedMethods"),
                INVALID,
                "CachedMethods must be exactly GET, HEAD or GET, HEAD, OPTIONS",
            );
        } else if cached == three && allowed == two {
            d.error(
                format!("{p}.AllowedMethods.CachedMethods"),
                INVALID,
                "CachedMethods includes OPTIONS but AllowedMethods does not",
            );
        }
    }

    fn validate_trust(&self, p: &str, d: &mut Diagnostics) {
        let kp = format!("{p}.TrustedKeyGroups");
        let kg = &self.trusted_key_groups;
        if kg.items.len() > MAX_KEY_GROUPS_PER_BEHAVIOR {
            d.error(&kp, "TooManyKeyGroupsAssociatedToDistribution", format!("{} key groups; a cache behavior can trust at most {MAX_KEY_GROUPS_PER_BEHAVIOR}", kg.items.len()));
        }
        if kg.enabled && kg.items.is_empty() {
            d.error(
                &kp,
                INVALID,
                "TrustedKeyGroups is enabled but lists no key groups",
            );
        }
        if !kg.enabled && !kg.items.is_empty() {
            d.error(
                &kp,
                INVALID,
                "TrustedKeyGroups lists key groups but Enabled is false",
            );
        }
        if has_duplicates(&kg.items) {
            d.error(&kp, INVALID, "a key group is listed twice");
        }
        let sp = format!("{p}.TrustedSigners");
        let ts = &self.trusted_signers;
        if ts.items.len() > MAX_TRUSTED_SIGNERS {
            d.error(
                &sp,
                "TooManyTrustedSigners",
                format!(
                    "{} trusted signers; the limit is {MAX_TRUSTED_SIGNERS}",
                    ts.items.len()
                ),
            );
        }
        if ts.enabled && ts.items.is_empty() {
            d.error(
                &sp,
                INVALID,
                "TrustedSigners is enabled but lists no accounts",
            );
        }
        if !ts.enabled && !ts.items.is_empty() {
            d.error(
                &sp,
                INVALID,
                "TrustedSigners lists accounts but Enabled is false",
            );
        }
        for (i, a) in ts.items.iter().enumerate() {
            if a != "self" && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
                d.error(
                    format!("{sp}.Items[{i}]"),
                    INVALID,
                    format!("{a:?} is not an AWS account number (12 digits) or self"),
                );
            }
        }
    }

    fn validate_cache_settings(&self, p: &str, d: &mut Diagnostics) {
        let ttls_set =
            self.min_ttl.is_some() || self.default_ttl.is_some() || self.max_ttl.is_some();
        match (&self.cache_policy_id, &self.forwarded_values) {
            (Some(_), Some(_)) => d.error(
                p,
                INVALID,
                "a cache behavior has either CachePolicyId or the legacy ForwardedValues, not both",
            ),
            (None, None) => d.error(
                p,
                INVALID,
                "a cache behavior needs CachePolicyId, or the legacy ForwardedValues with MinTTL",
            ),
            (Some(_), None) if ttls_set => d.error(
                p,
                INVALID,
                "MinTTL, DefaultTTL and MaxTTL belong to the legacy settings; with CachePolicyId set them in the cache policy",
            ),
            (None, Some(f)) => {
                if self.min_ttl.is_none() {
                    d.error(format!("{p}.MinTTL"), INVALID, "MinTTL is required with ForwardedValues");
                }
                let min = self.min_ttl.unwrap_or(0);
                let def = self.default_ttl.unwrap_or(86_400.max(min));
                let max = self.max_ttl.unwrap_or(31_536_000.max(def));
                if min > def || def > max {
                    d.error(p, "InvalidTTLOrder", format!("TTLs must satisfy MinTTL ≤ DefaultTTL ≤ MaxTTL; got {min}, {def}, {max}"));
                }
                let fp = format!("{p}.ForwardedValues");
                if f.headers.iter().any(|h| h == "*") && min != 0 {
                    d.error(format!("{p}.MinTTL"), INVALID, "MinTTL must be 0 when all headers (*) are forwarded");
                }
                if f.headers.len() > MAX_FORWARDED_NAMES {
                    d.error(format!("{fp}.Headers"), "TooManyHeadersInForwardedValues", format!("{} headers; the limit is {MAX_FORWARDED_NAMES}", f.headers.len()));
                }
                for (i, h) in f.headers.iter().enumerate() {
                    if h != "*" && !valid_token(h) {
                        d.error(format!("{fp}.Headers.Items[{i}]"), INVALID, format!("{h:?} is not a valid header name"));
                    }
                }
                let cp = format!("{fp}.Cookies");
                let names = &f.cookies.whitelisted_names;
                match f.cookies.forward {
                    ItemSelection::Whitelist if names.is_empty() => d.error(&cp, "InvalidForwardCookies", "Forward whitelist needs at least one cookie name"),
                    ItemSelection::None | ItemSelection::All if !names.is_empty() => {
                        d.error(&cp, "InvalidForwardCookies", "WhitelistedNames is only allowed with Forward whitelist")
                    }
                    _ => {}
                }
                if names.len() > MAX_FORWARDED_NAMES {
                    d.error(format!("{cp}.WhitelistedNames"), "TooManyCookieNamesInWhiteList", format!("{} cookie names; the limit is {MAX_FORWARDED_NAMES}", names.len()));
                }
                let qp = format!("{fp}.QueryStringCacheKeys");
                if f.query_string_cache_keys.len() > MAX_FORWARDED_NAMES {
                    d.error(&qp, "TooManyQueryStringParameters", format!("{} query string names; the limit is {MAX_FORWARDED_NAMES}", f.query_string_cache_keys.len()));
                }
                if !f.query_string && !f.query_string_cache_keys.is_empty() {
                    d.error(&qp, "InvalidQueryStringParameters", "QueryStringCacheKeys is only allowed when QueryString is true");
                }
            }
            (Some(_), None) => {}
        }
        if self.origin_request_policy_id.is_some() && self.cache_policy_id.is_none() {
            d.error(format!("{p}.OriginRequestPolicyId"), INVALID, "an origin request policy can only be used together with a cache policy (CachePolicyId)");
        }
    }
}

fn has_duplicates(items: &[String]) -> bool {
    let mut seen = HashSet::new();
    items.iter().any(|i| !seen.insert(i))
}

/// HTTP token characters (RFC 9110).
pub(crate) fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_pattern_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.*?$/~\"'@:+&".contains(c)
}

fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn valid_alias(s: &str) -> bool {
    let rest = s.strip_prefix("*.").unwrap_or(s);
    !rest.contains('*') && rest.contains('.') && valid_host(rest)
}

fn valid_log_bucket(s: &str) -> bool {
    s.strip_suffix(".s3.amazonaws.com").is_some_and(|b| {
        (3..=63).contains(&b.len())
            && b.bytes().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.' || c == b'_'
            })
    })
}

#[cfg(test)]
#[path = "distribution_tests.rs"]
mod tests;
