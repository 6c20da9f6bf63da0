//! Response headers policies (response-headers-policies.md): the `ResponseHeadersPolicyConfig`
//! document with CloudFront's validation and quotas, and the five managed policies every
//! account has, with their real ids.
//!
//! What a policy does to a response is the data plane's (`edge::response_headers`); this module
//! only decodes, validates and encodes the document.

use time::OffsetDateTime;

use super::diag::Diagnostics;
use super::policy::{MANAGED_LAST_MODIFIED, PolicyType};
use super::reader::{
    INVALID, ListReader, MapBuilder, MapReader, ModelEnum, leaf_enum, leaf_string, model_enum,
};
use super::reader::{leaves, wrapped};
use super::tree::Tree;

/// Custom headers per policy (quota, adjustable at AWS).
pub const MAX_CUSTOM_HEADERS: usize = 10;
/// Headers in a remove list. AWS publishes no number (reference §6); edgegate uses the custom
/// header quota.
pub const MAX_REMOVE_HEADERS: usize = 10;
/// Longest custom header name.
pub const MAX_CUSTOM_NAME: usize = 256;
/// Longest custom header value, `Content-Security-Policy` and `Access-Control-Allow-Origin`.
pub const MAX_HEADER_VALUE: usize = 1_783;
/// All custom header names and values together.
pub const MAX_CUSTOM_TOTAL: usize = 10_240;
/// Custom response headers policies per account (managed ones do not count).
pub const MAX_POLICIES: usize = 20;
/// Distributions associated with one response headers policy.
pub const MAX_DISTRIBUTIONS_PER_POLICY: usize = 100;

/// Response headers that a policy can neither remove nor set (reference §6; the same list is
/// refused for custom headers, §5). Entries ending in `-` are prefixes (`X-Amz-Cf-.*`).
pub const PROTECTED_HEADERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "warning",
    "x-accel-buffering",
    "x-accel-charset",
    "x-accel-limit-rate",
    "x-accel-redirect",
    "x-amz-cf-",
    "x-amzn-auth",
    "x-amzn-cf-billing",
    "x-amzn-cf-id",
    "x-amzn-cf-xff",
    "x-amzn-errortype",
    "x-amzn-fle-profile",
    "x-amzn-header-count",
    "x-amzn-header-order",
    "x-amzn-lambda-integration-tag",
    "x-amzn-requestid",
    "x-cache",
    "x-edge-",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Whether a header name is one a policy may not remove or set.
pub fn is_protected(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    PROTECTED_HEADERS.iter().any(|p| {
        if p.ends_with('-') {
            lower.starts_with(p)
        } else {
            lower == *p
        }
    })
}

model_enum!(
    /// A method in `AccessControlAllowMethods`.
    CorsMethod { Get = "GET", Post = "POST", Options = "OPTIONS", Put = "PUT", Delete = "DELETE", Patch = "PATCH", Head = "HEAD", All = "ALL" }
);
model_enum!(
    /// `X-Frame-Options`.
    FrameOption { Deny = "DENY", SameOrigin = "SAMEORIGIN" }
);
model_enum!(
    /// `Referrer-Policy`.
    ReferrerPolicyValue {
        NoReferrer = "no-referrer", NoReferrerWhenDowngrade = "no-referrer-when-downgrade",
        Origin = "origin", OriginWhenCrossOrigin = "origin-when-cross-origin",
        SameOrigin = "same-origin", StrictOrigin = "strict-origin",
        StrictOriginWhenCrossOrigin = "strict-origin-when-cross-origin", UnsafeUrl = "unsafe-url",
    }
);

/// A response headers policy's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHeadersPolicyConfig {
    /// Free text, at most 128 characters (kept as given, empty included).
    pub comment: Option<String>,
    /// Unique name within the account.
    pub name: String,
    /// `CorsConfig`.
    pub cors: Option<CorsConfig>,
    /// `SecurityHeadersConfig`.
    pub security: Option<SecurityHeadersConfig>,
    /// `ServerTimingHeadersConfig`.
    pub server_timing: Option<ServerTimingConfig>,
    /// `CustomHeadersConfig` (`Some(empty)` when given with `Quantity` 0).
    pub custom_headers: Option<Vec<CustomHeader>>,
    /// `RemoveHeadersConfig`: header names (`Some(empty)` when given with `Quantity` 0).
    pub remove_headers: Option<Vec<String>>,
}

/// `CorsConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// `AccessControlAllowOrigins`: exact origins, `*`, or patterns.
    pub allow_origins: Vec<String>,
    /// `AccessControlAllowHeaders`: names or patterns; `*` covers all but `Authorization`.
    pub allow_headers: Vec<String>,
    /// `AccessControlAllowMethods`.
    pub allow_methods: Vec<CorsMethod>,
    /// `AccessControlAllowCredentials`.
    pub allow_credentials: bool,
    /// `AccessControlExposeHeaders` (`None` when absent).
    pub expose_headers: Option<Vec<String>>,
    /// `AccessControlMaxAgeSec`.
    pub max_age_sec: Option<i64>,
    /// `OriginOverride`.
    pub origin_override: bool,
}

/// `SecurityHeadersConfig`: each header is optional and has its own `Override`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityHeadersConfig {
    /// `X-XSS-Protection`.
    pub xss_protection: Option<XssProtection>,
    /// `X-Frame-Options`: override flag and value.
    pub frame_options: Option<(bool, FrameOption)>,
    /// `Referrer-Policy`: override flag and value.
    pub referrer_policy: Option<(bool, ReferrerPolicyValue)>,
    /// `Content-Security-Policy`: override flag and value.
    pub content_security_policy: Option<(bool, String)>,
    /// `X-Content-Type-Options: nosniff`: the override flag.
    pub content_type_options: Option<bool>,
    /// `Strict-Transport-Security`.
    pub strict_transport_security: Option<StrictTransportSecurity>,
}

/// `XSSProtection`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XssProtection {
    /// `Override`.
    pub override_origin: bool,
    /// `Protection`: `1` or `0`.
    pub protection: bool,
    /// `ModeBlock`: `; mode=block`.
    pub mode_block: Option<bool>,
    /// `ReportUri`: `; report=<uri>`.
    pub report_uri: Option<String>,
}

/// `StrictTransportSecurity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrictTransportSecurity {
    /// `Override`.
    pub override_origin: bool,
    /// `IncludeSubdomains`.
    pub include_subdomains: Option<bool>,
    /// `Preload`.
    pub preload: Option<bool>,
    /// `AccessControlMaxAgeSec` (sic): the HSTS `max-age`.
    pub max_age_sec: i64,
}

/// `ServerTimingHeadersConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTimingConfig {
    /// `Enabled`.
    pub enabled: bool,
    /// `SamplingRate`: percent of responses, 0 to 100.
    pub sampling_rate: Option<f64>,
}

/// One `ResponseHeadersPolicyCustomHeader`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomHeader {
    /// `Header`.
    pub header: String,
    /// `Value` (may be empty).
    pub value: String,
    /// `Override`.
    pub override_origin: bool,
}

// === decoding ===

/// Reads a `{Quantity, Items}` list of strings.
fn string_list(l: ListReader<'_>, d: &mut Diagnostics) -> Vec<String> {
    let out = l
        .items
        .iter()
        .filter_map(|(p, t)| leaf_string(t, p, d))
        .collect();
    l.rest.finish(d);
    out
}

impl ResponseHeadersPolicyConfig {
    /// Decodes a `ResponseHeadersPolicyConfig` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = Self::decode(tree, "ResponseHeadersPolicyConfig", d);
        if d.errors.len() > before { None } else { out }
    }

    fn decode(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut r = MapReader::new(tree, path, d)?;
        let comment = r.string("Comment", d);
        let name = r.string_req("Name", d);
        let cors = r.map("CorsConfig", d).map(|m| decode_cors(m, d));
        let security = r
            .map("SecurityHeadersConfig", d)
            .map(|m| decode_security(m, d));
        let server_timing = r.map("ServerTimingHeadersConfig", d).map(|mut m| {
            let enabled = m.bool_req("Enabled", d);
            let rate = m.take("SamplingRate").and_then(|(t, p)| {
                let s = leaf_string(t, &p, d)?;
                parse_rate(&s, &p, d)
            });
            m.finish(d);
            enabled.map(|enabled| ServerTimingConfig {
                enabled,
                sampling_rate: rate,
            })
        });
        let custom_headers = r.list("CustomHeadersConfig", d).map(|l| {
            let mut out = Vec::new();
            for (p, t) in &l.items {
                let Some(mut m) = MapReader::new(t, p, d) else {
                    continue;
                };
                let header = m.string_req("Header", d);
                let value = m.string_req("Value", d);
                let over = m.bool_req("Override", d);
                m.finish(d);
                if let (Some(header), Some(value), Some(override_origin)) = (header, value, over) {
                    out.push(CustomHeader {
                        header,
                        value,
                        override_origin,
                    });
                }
            }
            l.rest.finish(d);
            out
        });
        let remove_headers = r.list("RemoveHeadersConfig", d).map(|l| {
            let mut out = Vec::new();
            for (p, t) in &l.items {
                let Some(mut m) = MapReader::new(t, p, d) else {
                    continue;
                };
                if let Some(h) = m.string_req("Header", d) {
                    out.push(h);
                }
                m.finish(d);
            }
            l.rest.finish(d);
            out
        });
        r.finish(d);
        Some(Self {
            comment,
            name: name?,
            cors: cors.flatten(),
            security: security.flatten(),
            server_timing: server_timing.flatten(),
            custom_headers,
            remove_headers,
        })
    }

    /// The config in CloudFront's shape (root element `ResponseHeadersPolicyConfig`).
    pub fn to_tree(&self) -> Tree {
        let custom = self.custom_headers.as_ref().map(|items| {
            wrapped(
                items
                    .iter()
                    .map(|h| {
                        MapBuilder::new()
                            .leaf("Header", &h.header)
                            .leaf("Value", &h.value)
                            .leaf("Override", h.override_origin)
                            .build()
                    })
                    .collect(),
                Vec::new(),
            )
        });
        let remove = self.remove_headers.as_ref().map(|items| {
            wrapped(
                items
                    .iter()
                    .map(|h| MapBuilder::new().leaf("Header", h).build())
                    .collect(),
                Vec::new(),
            )
        });
        MapBuilder::new()
            .opt_leaf("Comment", self.comment.as_ref())
            .leaf("Name", &self.name)
            .opt_node("CorsConfig", self.cors.as_ref().map(CorsConfig::to_tree))
            .opt_node(
                "SecurityHeadersConfig",
                self.security.as_ref().map(SecurityHeadersConfig::to_tree),
            )
            .opt_node(
                "ServerTimingHeadersConfig",
                self.server_timing.as_ref().map(|s| {
                    MapBuilder::new()
                        .leaf("Enabled", s.enabled)
                        .opt_leaf("SamplingRate", s.sampling_rate)
                        .build()
                }),
            )
            .opt_node("CustomHeadersConfig", custom)
            .opt_node("RemoveHeadersConfig", remove)
            .build()
    }

    /// Checks CloudFront's rules and quotas (response-headers-policies.md §2, §5, §6, §11).
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "ResponseHeadersPolicyConfig";
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            d.error(
                format!("{root}.Name"),
                INVALID,
                format!(
                    "{:?} is not a valid policy name: 1 to 128 letters, digits, hyphens and underscores",
                    self.name
                ),
            );
        }
        if self
            .comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > 128)
        {
            d.error(
                format!("{root}.Comment"),
                INVALID,
                "Comment is longer than 128 characters",
            );
        }
        if let Some(c) = &self.cors {
            c.validate(&format!("{root}.CorsConfig"), d);
        }
        if let Some(s) = &self.security {
            s.validate(&format!("{root}.SecurityHeadersConfig"), d);
        }
        if let Some(rate) = self.server_timing.as_ref().and_then(|s| s.sampling_rate)
            && !(0.0..=100.0).contains(&rate)
        {
            d.error(
                format!("{root}.ServerTimingHeadersConfig.SamplingRate"),
                INVALID,
                format!("SamplingRate {rate} is not between 0 and 100"),
            );
        }
        if let Some(items) = &self.custom_headers {
            let p = format!("{root}.CustomHeadersConfig");
            if items.len() > MAX_CUSTOM_HEADERS {
                d.error(
                    &p,
                    "TooManyCustomHeadersInResponseHeadersPolicy",
                    format!(
                        "{} custom headers; a response headers policy allows at most {MAX_CUSTOM_HEADERS}",
                        items.len()
                    ),
                );
            }
            let mut total = 0;
            let mut seen = std::collections::HashSet::new();
            for (i, h) in items.iter().enumerate() {
                let ip = format!("{p}.Items[{i}]");
                total += h.header.len() + h.value.len();
                check_header_name(&format!("{ip}.Header"), &h.header, d);
                if h.header.len() > MAX_CUSTOM_NAME {
                    d.error(
                        format!("{ip}.Header"),
                        INVALID,
                        format!("a custom header name is at most {MAX_CUSTOM_NAME} characters"),
                    );
                }
                if h.value.len() > MAX_HEADER_VALUE {
                    d.error(
                        format!("{ip}.Value"),
                        INVALID,
                        format!("a custom header value is at most {MAX_HEADER_VALUE} characters"),
                    );
                }
                if http::HeaderValue::from_str(&h.value).is_err() {
                    d.error(
                        format!("{ip}.Value"),
                        INVALID,
                        format!("{:?} is not a valid header value", h.value),
                    );
                }
                if is_protected(&h.header) {
                    d.error(
                        format!("{ip}.Header"),
                        INVALID,
                        format!(
                            "{} is a header CloudFront controls; a policy cannot set it",
                            h.header
                        ),
                    );
                }
                if !seen.insert(h.header.to_ascii_lowercase()) {
                    d.error(
                        format!("{ip}.Header"),
                        INVALID,
                        format!("{} is listed twice", h.header),
                    );
                }
            }
            if total > MAX_CUSTOM_TOTAL {
                d.error(&p, INVALID, format!("custom header names and values total {total} characters; the limit is {MAX_CUSTOM_TOTAL}"));
            }
        }
        if let Some(items) = &self.remove_headers {
            let p = format!("{root}.RemoveHeadersConfig");
            if items.len() > MAX_REMOVE_HEADERS {
                d.error(
                    &p,
                    "TooManyRemoveHeadersInResponseHeadersPolicy",
                    format!(
                        "{} headers to remove; a response headers policy allows at most {MAX_REMOVE_HEADERS}",
                        items.len()
                    ),
                );
            }
            let mut seen = std::collections::HashSet::new();
            for (i, h) in items.iter().enumerate() {
                let ip = format!("{p}.Items[{i}].Header");
                check_header_name(&ip, h, d);
                if is_protected(h) {
                    d.error(
                        &ip,
                        INVALID,
                        format!("{h} cannot be removed by a response headers policy"),
                    );
                }
                if !seen.insert(h.to_ascii_lowercase()) {
                    d.error(&ip, INVALID, format!("{h} is listed twice"));
                }
            }
        }
    }
}

fn check_header_name(path: &str, name: &str, d: &mut Diagnostics) {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        d.error(
            path,
            INVALID,
            format!("{name:?} is not a valid header name"),
        );
    }
}

/// `SamplingRate`: a number from 0 to 100 with at most four decimal places.
fn parse_rate(s: &str, path: &str, d: &mut Diagnostics) -> Option<f64> {
    let t = s.trim();
    let Ok(v) = t.parse::<f64>() else {
        d.error(
            path,
            super::reader::MALFORMED,
            format!("{s:?} is not a number"),
        );
        return None;
    };
    let decimals = t
        .split_once('.')
        .map_or(0, |(_, f)| f.trim_end_matches('0').len());
    if !v.is_finite() || decimals > 4 || t.contains(['e', 'E']) {
        d.error(
            path,
            INVALID,
            format!(
                "SamplingRate {s} must be a number from 0 to 100 with at most four decimal places"
            ),
        );
        return None;
    }
    Some(v)
}

fn decode_cors(mut m: MapReader<'_>, d: &mut Diagnostics) -> Option<CorsConfig> {
    let origins = m
        .list_req("AccessControlAllowOrigins", d)
        .map(|l| string_list(l, d));
    let headers = m
        .list_req("AccessControlAllowHeaders", d)
        .map(|l| string_list(l, d));
    let methods = m.list_req("AccessControlAllowMethods", d).map(|l| {
        let out = l
            .items
            .iter()
            .filter_map(|(p, t)| leaf_enum::<CorsMethod>(t, p, d))
            .collect::<Vec<_>>();
        l.rest.finish(d);
        out
    });
    let credentials = m.bool_req("AccessControlAllowCredentials", d);
    let expose = m
        .list("AccessControlExposeHeaders", d)
        .map(|l| string_list(l, d));
    let max_age = m.int::<i64>("AccessControlMaxAgeSec", d);
    let origin_override = m.bool_req("OriginOverride", d);
    m.finish(d);
    Some(CorsConfig {
        allow_origins: origins?,
        allow_headers: headers?,
        allow_methods: methods?,
        allow_credentials: credentials?,
        expose_headers: expose,
        max_age_sec: max_age,
        origin_override: origin_override?,
    })
}

fn decode_security(mut m: MapReader<'_>, d: &mut Diagnostics) -> Option<SecurityHeadersConfig> {
    let xss = m.map("XSSProtection", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        let p = x.bool_req("Protection", d);
        let mb = x.bool("ModeBlock", d);
        let uri = x.string("ReportUri", d);
        x.finish(d);
        Some(XssProtection {
            override_origin: o?,
            protection: p?,
            mode_block: mb,
            report_uri: uri,
        })
    });
    let frame = m.map("FrameOptions", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        let v = x.enum_req::<FrameOption>("FrameOption", d);
        x.finish(d);
        Some((o?, v?))
    });
    let referrer = m.map("ReferrerPolicy", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        let v = x.enum_req::<ReferrerPolicyValue>("ReferrerPolicy", d);
        x.finish(d);
        Some((o?, v?))
    });
    let csp = m.map("ContentSecurityPolicy", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        let v = x.string_req("ContentSecurityPolicy", d);
        x.finish(d);
        Some((o?, v?))
    });
    let cto = m.map("ContentTypeOptions", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        x.finish(d);
        o
    });
    let hsts = m.map("StrictTransportSecurity", d).and_then(|mut x| {
        let o = x.bool_req("Override", d);
        let sub = x.bool("IncludeSubdomains", d);
        let pre = x.bool("Preload", d);
        let age = x.int_req::<i64>("AccessControlMaxAgeSec", d);
        x.finish(d);
        Some(StrictTransportSecurity {
            override_origin: o?,
            include_subdomains: sub,
            preload: pre,
            max_age_sec: age?,
        })
    });
    m.finish(d);
    Some(SecurityHeadersConfig {
        xss_protection: xss,
        frame_options: frame,
        referrer_policy: referrer,
        content_security_policy: csp,
        content_type_options: cto,
        strict_transport_security: hsts,
    })
}

impl CorsConfig {
    fn to_tree(&self) -> Tree {
        let methods: Vec<&str> = self.allow_methods.iter().map(|m| m.as_str()).collect();
        MapBuilder::new()
            .node(
                "AccessControlAllowOrigins",
                wrapped(leaves(&self.allow_origins), Vec::new()),
            )
            .node(
                "AccessControlAllowHeaders",
                wrapped(leaves(&self.allow_headers), Vec::new()),
            )
            .node(
                "AccessControlAllowMethods",
                wrapped(leaves(&methods), Vec::new()),
            )
            .leaf("AccessControlAllowCredentials", self.allow_credentials)
            .opt_node(
                "AccessControlExposeHeaders",
                self.expose_headers
                    .as_ref()
                    .map(|e| wrapped(leaves(e), Vec::new())),
            )
            .opt_leaf("AccessControlMaxAgeSec", self.max_age_sec)
            .leaf("OriginOverride", self.origin_override)
            .build()
    }

    fn validate(&self, p: &str, d: &mut Diagnostics) {
        for (list, member) in [
            (&self.allow_origins, "AccessControlAllowOrigins"),
            (&self.allow_headers, "AccessControlAllowHeaders"),
        ] {
            if list.is_empty() {
                d.error(
                    format!("{p}.{member}"),
                    INVALID,
                    format!("{member} needs at least one item"),
                );
            }
        }
        if self.allow_methods.is_empty() {
            d.error(
                format!("{p}.AccessControlAllowMethods"),
                INVALID,
                "AccessControlAllowMethods needs at least one item",
            );
        }
        for (i, o) in self.allow_origins.iter().enumerate() {
            if let Err(why) = OriginPattern::parse(o) {
                d.error(
                    format!("{p}.AccessControlAllowOrigins.Items[{i}]"),
                    INVALID,
                    format!("{o:?} is not a valid origin: {why}"),
                );
            }
        }
        let joined: usize = self.allow_origins.iter().map(|o| o.len() + 2).sum();
        if joined > MAX_HEADER_VALUE + 2 {
            d.error(
                format!("{p}.AccessControlAllowOrigins"),
                INVALID,
                format!("the allowed origins total more than {MAX_HEADER_VALUE} characters"),
            );
        }
        let lists = [
            (Some(&self.allow_headers), "AccessControlAllowHeaders"),
            (self.expose_headers.as_ref(), "AccessControlExposeHeaders"),
        ];
        for (list, member) in lists {
            for (i, h) in list.into_iter().flatten().enumerate() {
                let ok = !h.is_empty()
                    && h.bytes()
                        .all(|b| b == b'*' || (b.is_ascii_graphic() && !b",;\"".contains(&b)));
                if !ok {
                    d.error(
                        format!("{p}.{member}.Items[{i}]"),
                        INVALID,
                        format!("{h:?} is not a valid header name or pattern"),
                    );
                }
            }
        }
        if self.max_age_sec.is_some_and(|a| a < 0) {
            d.error(
                format!("{p}.AccessControlMaxAgeSec"),
                INVALID,
                "AccessControlMaxAgeSec cannot be negative",
            );
        }
    }
}

impl SecurityHeadersConfig {
    fn to_tree(&self) -> Tree {
        let pair = |over: bool, name: &str, v: &str| {
            MapBuilder::new()
                .leaf("Override", over)
                .leaf(name, v)
                .build()
        };
        MapBuilder::new()
            .opt_node(
                "XSSProtection",
                self.xss_protection.as_ref().map(|x| {
                    MapBuilder::new()
                        .leaf("Override", x.override_origin)
                        .leaf("Protection", x.protection)
                        .opt_leaf("ModeBlock", x.mode_block)
                        .opt_leaf("ReportUri", x.report_uri.as_ref())
                        .build()
                }),
            )
            .opt_node(
                "FrameOptions",
                self.frame_options
                    .map(|(o, v)| pair(o, "FrameOption", v.as_str())),
            )
            .opt_node(
                "ReferrerPolicy",
                self.referrer_policy
                    .map(|(o, v)| pair(o, "ReferrerPolicy", v.as_str())),
            )
            .opt_node(
                "ContentSecurityPolicy",
                self.content_security_policy
                    .as_ref()
                    .map(|(o, v)| pair(*o, "ContentSecurityPolicy", v)),
            )
            .opt_node(
                "ContentTypeOptions",
                self.content_type_options
                    .map(|o| MapBuilder::new().leaf("Override", o).build()),
            )
            .opt_node(
                "StrictTransportSecurity",
                self.strict_transport_security.as_ref().map(|h| {
                    MapBuilder::new()
                        .leaf("Override", h.override_origin)
                        .opt_leaf("IncludeSubdomains", h.include_subdomains)
                        .opt_leaf("Preload", h.preload)
                        .leaf("AccessControlMaxAgeSec", h.max_age_sec)
                        .build()
                }),
            )
            .build()
    }

    fn validate(&self, p: &str, d: &mut Diagnostics) {
        if let Some(x) = &self.xss_protection {
            if x.mode_block == Some(true) && x.report_uri.is_some() {
                d.error(
                    format!("{p}.XSSProtection"),
                    INVALID,
                    "ModeBlock true and ReportUri cannot be used together",
                );
            }
            if let Some(u) = &x.report_uri
                && http::HeaderValue::from_str(u).is_err()
            {
                d.error(
                    format!("{p}.XSSProtection.ReportUri"),
                    INVALID,
                    format!("{u:?} is not a valid header value"),
                );
            }
        }
        if let Some((_, csp)) = &self.content_security_policy {
            if csp.chars().count() > MAX_HEADER_VALUE {
                d.error(
                    format!("{p}.ContentSecurityPolicy.ContentSecurityPolicy"),
                    "TooLongCSPInResponseHeadersPolicy",
                    format!(
                        "the Content-Security-Policy value is {} characters; the limit is {MAX_HEADER_VALUE}",
                        csp.chars().count()
                    ),
                );
            } else if http::HeaderValue::from_str(csp).is_err() {
                d.error(
                    format!("{p}.ContentSecurityPolicy.ContentSecurityPolicy"),
                    INVALID,
                    "the Content-Security-Policy value is not a valid header value",
                );
            }
        }
        if self
            .strict_transport_security
            .as_ref()
            .is_some_and(|h| h.max_age_sec < 0)
        {
            d.error(
                format!("{p}.StrictTransportSecurity.AccessControlMaxAgeSec"),
                INVALID,
                "the Strict-Transport-Security max-age cannot be negative",
            );
        }
    }
}

// === origin patterns (reference §3.2) ===

/// An `AccessControlAllowOrigins` entry, parsed: `*`, or an optional scheme, a host that may
/// start with `*.`, and an optional port that may contain `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    /// `*`: every origin.
    Any,
    /// A scheme, host and port pattern.
    Pattern {
        /// `http` or `https`; `None` matches both.
        scheme: Option<String>,
        /// `true` when the host is `*.suffix` (matches any name ending in `.suffix`).
        wildcard: bool,
        /// The host, lower-case, without the `*.` prefix.
        host: String,
        /// The port pattern (`*`, digits, digits with `*`); `None` means the default port only.
        port: Option<String>,
    },
}

impl OriginPattern {
    /// Parses an entry, saying what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, &'static str> {
        if entry == "*" {
            return Ok(Self::Any);
        }
        let (scheme, rest) = match entry.split_once("://") {
            Some((s, r)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err("the scheme must be http or https");
                }
                (Some(s), r)
            }
            None => (None, entry),
        };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
                    return Err("the port must be digits, * or digits with *");
                }
                (h, Some(p.to_owned()))
            }
            None => (rest, None),
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, host),
        };
        if host.is_empty() {
            return Err("the host is empty");
        }
        if host.contains('*') {
            return Err("* may only stand as the leftmost label of the host (*.example.org)");
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'[' || b == b']')
        {
            return Err("the host has characters a host name cannot have");
        }
        Ok(Self::Pattern {
            scheme,
            wildcard,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a request's `Origin` (`scheme://host[:port]`) matches.
    pub fn matches(&self, origin: &str) -> bool {
        let Self::Pattern {
            scheme,
            wildcard,
            host,
            port,
        } = self
        else {
            return true;
        };
        let Some((o_scheme, o_rest)) = origin.split_once("://") else {
            return false;
        };
        let o_scheme = o_scheme.to_ascii_lowercase();
        if scheme.as_ref().is_some_and(|s| *s != o_scheme) {
            return false;
        }
        let (o_host, o_port) = match o_rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || o_rest.starts_with('[') => (h, Some(p)),
            _ => (o_rest, None),
        };
        let default = match o_scheme.as_str() {
            "http" => "80",
            "https" => "443",
            _ => "",
        };
        let o_port = o_port.filter(|p| *p != default);
        let o_host = o_host.to_ascii_lowercase();
        let host_ok = if *wildcard {
            o_host
                .strip_suffix(host.as_str())
                .is_some_and(|label| label.ends_with('.'))
        } else {
            o_host == *host
        };
        if !host_ok {
            return false;
        }
        match (port.as_deref(), o_port) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some("*"), _) => true,
            (Some(_), None) => false,
            (Some(pat), Some(p)) => glob(pat.as_bytes(), p.as_bytes()),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself,
/// ASCII case-insensitively. Linear backtracking, so a pattern with many `*` against a long
/// viewer-supplied name costs at most `pattern × text` steps.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

// === stored and managed policies ===

/// A stored response headers policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHeadersPolicy {
    /// The policy id (a UUID).
    pub id: String,
    /// When it last changed.
    pub last_modified_time: OffsetDateTime,
    /// Its configuration.
    pub config: ResponseHeadersPolicyConfig,
}

/// A `ResponseHeadersPolicy` (root element `ResponseHeadersPolicy`).
pub fn policy_tree(
    id: &str,
    last_modified: OffsetDateTime,
    cfg: &ResponseHeadersPolicyConfig,
) -> Tree {
    super::responses::with_id(id, last_modified, cfg)
}

/// A `ResponseHeadersPolicyList` (root element `ResponseHeadersPolicyList`).
pub fn policy_list_tree(
    next_marker: Option<&str>,
    max_items: u32,
    items: &[(
        PolicyType,
        String,
        OffsetDateTime,
        ResponseHeadersPolicyConfig,
    )],
) -> Tree {
    super::responses::policy_list(
        next_marker,
        max_items,
        "ResponseHeadersPolicy",
        items,
        policy_tree,
    )
}

/// One of AWS's managed response headers policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedResponseHeadersPolicy {
    /// Its permanent id.
    pub id: &'static str,
    /// Its name as the API returns it (`Managed-SimpleCORS`).
    pub name: &'static str,
    /// Its comment.
    pub comment: &'static str,
    /// Its CORS section: `None`, simple (`Some(false)`) or with preflight (`Some(true)`).
    pub cors_preflight: Option<bool>,
    /// Whether it has the SecurityHeadersPolicy headers.
    pub security: bool,
}

/// The methods the managed preflight policies allow, in the order AWS lists them.
const PREFLIGHT_METHODS: [CorsMethod; 7] = [
    CorsMethod::Delete,
    CorsMethod::Get,
    CorsMethod::Head,
    CorsMethod::Options,
    CorsMethod::Patch,
    CorsMethod::Post,
    CorsMethod::Put,
];

impl ManagedResponseHeadersPolicy {
    /// Its `LastModifiedTime`.
    pub fn last_modified(&self) -> OffsetDateTime {
        MANAGED_LAST_MODIFIED
    }

    /// The policy as a [`ResponseHeadersPolicyConfig`]. Where AWS's tables are silent (Allow
    /// Headers, credentials, OriginOverride), the reference's §12.8 choice: `*`, false, false.
    pub fn config(&self) -> ResponseHeadersPolicyConfig {
        let cors = self.cors_preflight.map(|preflight| CorsConfig {
            allow_origins: vec!["*".into()],
            allow_headers: vec!["*".into()],
            allow_methods: if preflight {
                PREFLIGHT_METHODS.to_vec()
            } else {
                vec![CorsMethod::All]
            },
            allow_credentials: false,
            expose_headers: preflight.then(|| vec!["*".into()]),
            max_age_sec: None,
            origin_override: false,
        });
        let security = self.security.then_some(SecurityHeadersConfig {
            xss_protection: Some(XssProtection {
                override_origin: false,
                protection: true,
                mode_block: Some(true),
                report_uri: None,
            }),
            frame_options: Some((false, FrameOption::SameOrigin)),
            referrer_policy: Some((false, ReferrerPolicyValue::StrictOriginWhenCrossOrigin)),
            content_security_policy: None,
            content_type_options: Some(true),
            strict_transport_security: Some(StrictTransportSecurity {
                override_origin: false,
                include_subdomains: Some(false),
                preload: Some(false),
                max_age_sec: 31_536_000,
            }),
        });
        ResponseHeadersPolicyConfig {
            comment: Some(self.comment.to_owned()),
            name: self.name.to_owned(),
            cors,
            security,
            server_timing: None,
            custom_headers: None,
            remove_headers: None,
        }
    }
}

static MANAGED: [ManagedResponseHeadersPolicy; 5] = [
    ManagedResponseHeadersPolicy {
        id: "60669652-455b-4ae9-85a4-c4c02393f86c",
        name: "Managed-SimpleCORS",
        comment: "Allows all origins for simple CORS requests",
        cors_preflight: Some(false),
        security: false,
    },
    ManagedResponseHeadersPolicy {
        id: "5cc3b908-e619-4b99-88e5-2cf7f45965bd",
        name: "Managed-CORS-With-Preflight",
        comment: "Allows all origins for CORS requests, including preflight requests",
        cors_preflight: Some(true),
        security: false,
    },
    ManagedResponseHeadersPolicy {
        id: "67f7725c-6f97-4210-82d7-5512b31e9d03",
        name: "Managed-SecurityHeadersPolicy",
        comment: "Adds a set of security headers to every response",
        cors_preflight: None,
        security: true,
    },
    ManagedResponseHeadersPolicy {
        id: "e61eb60c-9c35-4d20-a928-2b84e02af89c",
        name: "Managed-CORS-and-SecurityHeadersPolicy",
        comment: "Allows all origins for simple CORS requests and adds security headers",
        cors_preflight: Some(false),
        security: true,
    },
    ManagedResponseHeadersPolicy {
        id: "eaab4381-ed33-4a86-88ca-d9558dc6cd63",
        name: "Managed-CORS-with-preflight-and-SecurityHeadersPolicy",
        comment: "Allows all origins for CORS requests, including preflight requests, and adds security headers",
        cors_preflight: Some(true),
        security: true,
    },
];

/// AWS's managed response headers policies (reference §9).
pub fn managed_response_headers_policies() -> &'static [ManagedResponseHeadersPolicy] {
    &MANAGED
}

/// The managed response headers policy with this id.
pub fn managed_response_headers_policy(id: &str) -> Option<&'static ManagedResponseHeadersPolicy> {
    MANAGED.iter().find(|p| p.id == id)
}

#[cfg(test)]
#[path = "response_headers_tests.rs"]
mod tests;
