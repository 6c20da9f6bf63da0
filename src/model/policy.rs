//! Cache policies and origin request policies (caching.md §5.2, §5.4, §6): the
//! `CachePolicyConfig` and `OriginRequestPolicyConfig` documents with CloudFront's validation
//! and quotas, and the managed policies every account has, with their real ids and settings.

use time::OffsetDateTime;

use super::diag::Diagnostics;
use super::reader::{INVALID, MapBuilder, MapReader, ModelEnum, leaves, model_enum, wrapped};
use super::tree::Tree;

/// Headers, cookies or query strings per cache policy.
pub const MAX_CACHE_POLICY_NAMES: usize = 10;
/// Headers, cookies or query strings per origin request policy.
pub const MAX_ORIGIN_REQUEST_POLICY_NAMES: usize = 30;
/// Combined length of all header, cookie and query string names in one policy.
pub const MAX_COMBINED_NAME_LENGTH: usize = 1024;
/// Longest TTL CloudFront accepts (100 years), in seconds.
pub const MAX_TTL_SECONDS: u64 = 3_153_600_000;
/// The version tag (`ETag`) edgegate reports for managed policies. They never change, so one
/// fixed value serves every one of them.
pub const MANAGED_ETAG: &str = "E1MANAGED2020";
/// The `LastModifiedTime` edgegate reports for managed policies: a fixed instant (the API
/// version's date), since managed policies never change.
pub const MANAGED_LAST_MODIFIED: OffsetDateTime = time::macros::datetime!(2020-05-31 00:00 UTC);
/// CloudFront headers allowed only in origin request policies, never in a cache key.
pub const ORIGIN_REQUEST_ONLY_HEADERS: &[&str] = &[
    "cloudfront-viewer-address",
    "cloudfront-viewer-asn",
    "cloudfront-viewer-tls",
    "cloudfront-viewer-ja3-fingerprint",
    "cloudfront-viewer-ja4-fingerprint",
    // AWS does not say; treated like the other fingerprint headers (viewer-headers.md §10.3).
    "cloudfront-viewer-header-order",
    "cloudfront-viewer-header-count",
];

model_enum!(
    /// Which headers a cache policy puts in the key.
    CachePolicyHeaderBehavior { None = "none", Whitelist = "whitelist" }
);
model_enum!(
    /// Which cookies a cache policy puts in the key.
    CachePolicyCookieBehavior { None = "none", Whitelist = "whitelist", AllExcept = "allExcept", All = "all" }
);
model_enum!(
    /// Which query strings a cache policy puts in the key.
    CachePolicyQueryStringBehavior { None = "none", Whitelist = "whitelist", AllExcept = "allExcept", All = "all" }
);
model_enum!(
    /// Which headers an origin request policy forwards.
    OriginRequestPolicyHeaderBehavior {
        None = "none", Whitelist = "whitelist", AllViewer = "allViewer",
        AllViewerAndWhitelistCloudFront = "allViewerAndWhitelistCloudFront", AllExcept = "allExcept",
    }
);
model_enum!(
    /// Which cookies an origin request policy forwards.
    OriginRequestPolicyCookieBehavior { None = "none", Whitelist = "whitelist", All = "all", AllExcept = "allExcept" }
);
model_enum!(
    /// Which query strings an origin request policy forwards.
    OriginRequestPolicyQueryStringBehavior { None = "none", Whitelist = "whitelist", All = "all", AllExcept = "allExcept" }
);
model_enum!(
    /// Whether a policy is one of AWS's managed ones or the account's own.
    PolicyType { Managed = "managed", Custom = "custom" }
);

/// A behavior (`none`, `whitelist`, …) and the names it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameList<B> {
    /// The behavior.
    pub behavior: B,
    /// The names (empty for `none` and `all`).
    pub names: Vec<String>,
}

/// A cache policy's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicyConfig {
    /// Free text, at most 128 characters.
    pub comment: Option<String>,
    /// Unique name within the account.
    pub name: String,
    /// Default TTL in seconds; see [`Self::effective_default_ttl`].
    pub default_ttl: Option<u64>,
    /// Maximum TTL in seconds; see [`Self::effective_max_ttl`].
    pub max_ttl: Option<u64>,
    /// Minimum TTL in seconds.
    pub min_ttl: u64,
    /// What goes into the cache key (and so to the origin).
    pub parameters: CacheKeyParameters,
}

/// `ParametersInCacheKeyAndForwardedToOrigin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKeyParameters {
    /// Normalised `Accept-Encoding: gzip` in the key.
    pub enable_accept_encoding_gzip: bool,
    /// Normalised `Accept-Encoding: br` in the key.
    pub enable_accept_encoding_brotli: bool,
    /// Headers in the key.
    pub headers: NameList<CachePolicyHeaderBehavior>,
    /// Cookies in the key.
    pub cookies: NameList<CachePolicyCookieBehavior>,
    /// Query strings in the key.
    pub query_strings: NameList<CachePolicyQueryStringBehavior>,
}

/// An origin request policy's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequestPolicyConfig {
    /// Free text, at most 128 characters.
    pub comment: Option<String>,
    /// Unique name within the account.
    pub name: String,
    /// Headers forwarded.
    pub headers: NameList<OriginRequestPolicyHeaderBehavior>,
    /// Cookies forwarded.
    pub cookies: NameList<OriginRequestPolicyCookieBehavior>,
    /// Query strings forwarded.
    pub query_strings: NameList<OriginRequestPolicyQueryStringBehavior>,
}

/// A stored cache policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// The policy id (a UUID).
    pub id: String,
    /// When it last changed.
    pub last_modified_time: OffsetDateTime,
    /// Its configuration.
    pub config: CachePolicyConfig,
}

/// A stored origin request policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRequestPolicy {
    /// The policy id (a UUID).
    pub id: String,
    /// When it last changed.
    pub last_modified_time: OffsetDateTime,
    /// Its configuration.
    pub config: OriginRequestPolicyConfig,
}

// === decoding ===

fn decode_names<B: ModelEnum>(
    r: &mut MapReader<'_>,
    config: &'static str,
    behavior: &'static str,
    list: &'static str,
    d: &mut Diagnostics,
) -> Option<NameList<B>> {
    let mut m = r.map_req(config, d)?;
    let b = m.enum_req::<B>(behavior, d);
    let names = m.strings(list, d).unwrap_or_default();
    m.finish(d);
    Some(NameList {
        behavior: b?,
        names,
    })
}

fn names_tree<B: ModelEnum>(behavior_member: &str, list_member: &str, n: &NameList<B>) -> Tree {
    let b = MapBuilder::new().leaf(behavior_member, n.behavior.as_str());
    if n.names.is_empty() {
        b.build()
    } else {
        b.node(list_member, wrapped(leaves(&n.names), Vec::new()))
            .build()
    }
}

impl CachePolicyConfig {
    /// Decodes a `CachePolicyConfig` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = Self::decode(tree, "CachePolicyConfig", d);
        if d.errors.len() > before { None } else { out }
    }

    fn decode(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut r = MapReader::new(tree, path, d)?;
        let comment = r.string("Comment", d);
        let name = r.string_req("Name", d);
        let default_ttl = r.int("DefaultTTL", d);
        let max_ttl = r.int("MaxTTL", d);
        let min_ttl = r.int_req("MinTTL", d);
        let parameters = match r.map("ParametersInCacheKeyAndForwardedToOrigin", d) {
            None => Some(CacheKeyParameters::none()),
            Some(mut p) => {
                let gzip = p.bool_req("EnableAcceptEncodingGzip", d);
                let br = p.bool("EnableAcceptEncodingBrotli", d).unwrap_or(false);
                let headers = decode_names(&mut p, "HeadersConfig", "HeaderBehavior", "Headers", d);
                let cookies = decode_names(&mut p, "CookiesConfig", "CookieBehavior", "Cookies", d);
                let qs = decode_names(
                    &mut p,
                    "QueryStringsConfig",
                    "QueryStringBehavior",
                    "QueryStrings",
                    d,
                );
                p.finish(d);
                Some(CacheKeyParameters {
                    enable_accept_encoding_gzip: gzip?,
                    enable_accept_encoding_brotli: br,
                    headers: headers?,
                    cookies: cookies?,
                    query_strings: qs?,
                })
            }
        };
        r.finish(d);
        Some(Self {
            comment,
            name: name?,
            default_ttl,
            max_ttl,
            min_ttl: min_ttl?,
            parameters: parameters?,
        })
    }

    /// The config in CloudFront's shape (root element `CachePolicyConfig`).
    pub fn to_tree(&self) -> Tree {
        let p = &self.parameters;
        MapBuilder::new()
            .opt_leaf("Comment", self.comment.as_ref())
            .leaf("Name", &self.name)
            .opt_leaf("DefaultTTL", self.default_ttl)
            .opt_leaf("MaxTTL", self.max_ttl)
            .leaf("MinTTL", self.min_ttl)
            .node(
                "ParametersInCacheKeyAndForwardedToOrigin",
                MapBuilder::new()
                    .leaf("EnableAcceptEncodingGzip", p.enable_accept_encoding_gzip)
                    .leaf(
                        "EnableAcceptEncodingBrotli",
                        p.enable_accept_encoding_brotli,
                    )
                    .node(
                        "HeadersConfig",
                        names_tree("HeaderBehavior", "Headers", &p.headers),
                    )
                    .node(
                        "CookiesConfig",
                        names_tree("CookieBehavior", "Cookies", &p.cookies),
                    )
                    .node(
                        "QueryStringsConfig",
                        names_tree("QueryStringBehavior", "QueryStrings", &p.query_strings),
                    )
                    .build(),
            )
            .build()
    }

    /// DefaultTTL, or CloudFront's default: 86400, or MinTTL when that is larger.
    pub fn effective_default_ttl(&self) -> u64 {
        self.default_ttl.unwrap_or(self.min_ttl.max(86_400))
    }

    /// MaxTTL, or CloudFront's default: 31536000, or DefaultTTL when that is larger.
    pub fn effective_max_ttl(&self) -> u64 {
        self.max_ttl
            .unwrap_or(self.effective_default_ttl().max(31_536_000))
    }

    /// Checks CloudFront's rules and quotas.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "CachePolicyConfig";
        validate_name_comment(root, &self.name, self.comment.as_deref(), d);
        let (min, def, max) = (
            self.min_ttl,
            self.effective_default_ttl(),
            self.effective_max_ttl(),
        );
        for (n, v) in [("MinTTL", min), ("DefaultTTL", def), ("MaxTTL", max)] {
            if v > MAX_TTL_SECONDS {
                d.error(
                    format!("{root}.{n}"),
                    INVALID,
                    format!("{n} is more than {MAX_TTL_SECONDS} seconds (100 years)"),
                );
            }
        }
        if min > def || def > max {
            d.error(
                root,
                "InvalidTTLOrder",
                format!("TTLs must satisfy MinTTL ≤ DefaultTTL ≤ MaxTTL; got {min}, {def}, {max}"),
            );
        }
        let p = &self.parameters;
        let pp = format!("{root}.ParametersInCacheKeyAndForwardedToOrigin");
        use CachePolicyCookieBehavior as C;
        use CachePolicyQueryStringBehavior as Q;
        check_names(
            &format!("{pp}.HeadersConfig.Headers"),
            &p.headers.names,
            p.headers.behavior == CachePolicyHeaderBehavior::Whitelist,
            "HeaderBehavior",
            p.headers.behavior.as_str(),
            d,
        );
        check_names(
            &format!("{pp}.CookiesConfig.Cookies"),
            &p.cookies.names,
            matches!(p.cookies.behavior, C::Whitelist | C::AllExcept),
            "CookieBehavior",
            p.cookies.behavior.as_str(),
            d,
        );
        check_names(
            &format!("{pp}.QueryStringsConfig.QueryStrings"),
            &p.query_strings.names,
            matches!(p.query_strings.behavior, Q::Whitelist | Q::AllExcept),
            "QueryStringBehavior",
            p.query_strings.behavior.as_str(),
            d,
        );
        let quotas = [
            (
                &p.headers.names,
                "HeadersConfig.Headers",
                "TooManyHeadersInCachePolicy",
            ),
            (
                &p.cookies.names,
                "CookiesConfig.Cookies",
                "TooManyCookiesInCachePolicy",
            ),
            (
                &p.query_strings.names,
                "QueryStringsConfig.QueryStrings",
                "TooManyQueryStringsInCachePolicy",
            ),
        ];
        for (names, member, code) in quotas {
            if names.len() > MAX_CACHE_POLICY_NAMES {
                d.error(
                    format!("{pp}.{member}"),
                    code,
                    format!(
                        "{} names; a cache policy allows at most {MAX_CACHE_POLICY_NAMES}",
                        names.len()
                    ),
                );
            }
        }
        check_combined_length(
            &pp,
            [&p.headers.names, &p.cookies.names, &p.query_strings.names],
            d,
        );
        for (i, h) in p.headers.names.iter().enumerate() {
            let hp = format!("{pp}.HeadersConfig.Headers.Items[{i}]");
            let lower = h.to_ascii_lowercase();
            if lower == "accept-encoding"
                && (p.enable_accept_encoding_gzip || p.enable_accept_encoding_brotli)
            {
                d.error(&hp, INVALID, "don't list Accept-Encoding when EnableAcceptEncodingGzip or EnableAcceptEncodingBrotli is true; CloudFront adds the normalised header itself");
            }
            if ORIGIN_REQUEST_ONLY_HEADERS.contains(&lower.as_str()) {
                d.error(
                    &hp,
                    INVALID,
                    format!(
                        "{h} can be used only in an origin request policy, not in a cache policy"
                    ),
                );
            }
        }
        let keyed = p.enable_accept_encoding_gzip
            || p.enable_accept_encoding_brotli
            || p.headers.behavior != CachePolicyHeaderBehavior::None
            || p.cookies.behavior != C::None
            || p.query_strings.behavior != Q::None;
        if max == 0 && keyed {
            d.error(
                &pp,
                INVALID,
                "caching is disabled (MaxTTL 0), so the cache key can't include headers, cookies, query strings or Accept-Encoding; move them to an origin request policy",
            );
        }
    }
}

impl CacheKeyParameters {
    /// Nothing in the key, no compression.
    pub fn none() -> Self {
        Self {
            enable_accept_encoding_gzip: false,
            enable_accept_encoding_brotli: false,
            headers: NameList {
                behavior: CachePolicyHeaderBehavior::None,
                names: Vec::new(),
            },
            cookies: NameList {
                behavior: CachePolicyCookieBehavior::None,
                names: Vec::new(),
            },
            query_strings: NameList {
                behavior: CachePolicyQueryStringBehavior::None,
                names: Vec::new(),
            },
        }
    }
}

impl OriginRequestPolicyConfig {
    /// Decodes an `OriginRequestPolicyConfig` tree. `None` when any error was recorded.
    pub fn from_tree(tree: &Tree, d: &mut Diagnostics) -> Option<Self> {
        let before = d.errors.len();
        let out = Self::decode(tree, "OriginRequestPolicyConfig", d);
        if d.errors.len() > before { None } else { out }
    }

    fn decode(tree: &Tree, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let mut r = MapReader::new(tree, path, d)?;
        let comment = r.string("Comment", d);
        let name = r.string_req("Name", d);
        let headers = decode_names(&mut r, "HeadersConfig", "HeaderBehavior", "Headers", d);
        let cookies = decode_names(&mut r, "CookiesConfig", "CookieBehavior", "Cookies", d);
        let qs = decode_names(
            &mut r,
            "QueryStringsConfig",
            "QueryStringBehavior",
            "QueryStrings",
            d,
        );
        r.finish(d);
        Some(Self {
            comment,
            name: name?,
            headers: headers?,
            cookies: cookies?,
            query_strings: qs?,
        })
    }

    /// The config in CloudFront's shape (root element `OriginRequestPolicyConfig`).
    pub fn to_tree(&self) -> Tree {
        MapBuilder::new()
            .opt_leaf("Comment", self.comment.as_ref())
            .leaf("Name", &self.name)
            .node(
                "HeadersConfig",
                names_tree("HeaderBehavior", "Headers", &self.headers),
            )
            .node(
                "CookiesConfig",
                names_tree("CookieBehavior", "Cookies", &self.cookies),
            )
            .node(
                "QueryStringsConfig",
                names_tree("QueryStringBehavior", "QueryStrings", &self.query_strings),
            )
            .build()
    }

    /// Checks CloudFront's rules and quotas.
    pub fn validate(&self, d: &mut Diagnostics) {
        let root = "OriginRequestPolicyConfig";
        validate_name_comment(root, &self.name, self.comment.as_deref(), d);
        use OriginRequestPolicyCookieBehavior as C;
        use OriginRequestPolicyHeaderBehavior as H;
        use OriginRequestPolicyQueryStringBehavior as Q;
        let hp = format!("{root}.HeadersConfig.Headers");
        check_names(
            &hp,
            &self.headers.names,
            matches!(
                self.headers.behavior,
                H::Whitelist | H::AllExcept | H::AllViewerAndWhitelistCloudFront
            ),
            "HeaderBehavior",
            self.headers.behavior.as_str(),
            d,
        );
        if self.headers.behavior == H::AllViewerAndWhitelistCloudFront {
            for (i, h) in self.headers.names.iter().enumerate() {
                if !h.to_ascii_lowercase().starts_with("cloudfront-") {
                    d.error(format!("{hp}.Items[{i}]"), INVALID, format!("with allViewerAndWhitelistCloudFront only CloudFront-* headers are listed; {h:?} is not one"));
                }
            }
        }
        check_names(
            &format!("{root}.CookiesConfig.Cookies"),
            &self.cookies.names,
            matches!(self.cookies.behavior, C::Whitelist | C::AllExcept),
            "CookieBehavior",
            self.cookies.behavior.as_str(),
            d,
        );
        check_names(
            &format!("{root}.QueryStringsConfig.QueryStrings"),
            &self.query_strings.names,
            matches!(self.query_strings.behavior, Q::Whitelist | Q::AllExcept),
            "QueryStringBehavior",
            self.query_strings.behavior.as_str(),
            d,
        );
        let quotas = [
            (
                &self.headers.names,
                "HeadersConfig.Headers",
                "TooManyHeadersInOriginRequestPolicy",
            ),
            (
                &self.cookies.names,
                "CookiesConfig.Cookies",
                "TooManyCookiesInOriginRequestPolicy",
            ),
            (
                &self.query_strings.names,
                "QueryStringsConfig.QueryStrings",
                "TooManyQueryStringsInOriginRequestPolicy",
            ),
        ];
        for (names, member, code) in quotas {
            if names.len() > MAX_ORIGIN_REQUEST_POLICY_NAMES {
                d.error(format!("{root}.{member}"), code, format!("{} names; an origin request policy allows at most {MAX_ORIGIN_REQUEST_POLICY_NAMES}", names.len()));
            }
        }
        check_combined_length(
            root,
            [
                &self.headers.names,
                &self.cookies.names,
                &self.query_strings.names,
            ],
            d,
        );
    }
}

fn validate_name_comment(root: &str, name: &str, comment: Option<&str>, d: &mut Diagnostics) {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        d.error(format!("{root}.Name"), INVALID, format!("{name:?} is not a valid policy name: 1 to 128 letters, digits, hyphens and underscores"));
    }
    if comment.is_some_and(|c| c.chars().count() > 128) {
        d.error(
            format!("{root}.Comment"),
            INVALID,
            "Comment is longer than 128 characters",
        );
    }
}

fn check_names(
    path: &str,
    names: &[String],
    needs_names: bool,
    member: &str,
    behavior: &str,
    d: &mut Diagnostics,
) {
    if needs_names && names.is_empty() {
        d.error(
            path,
            INVALID,
            format!("{member} {behavior} needs at least one name"),
        );
    }
    if !needs_names && !names.is_empty() {
        d.error(
            path,
            INVALID,
            format!("{member} {behavior} takes no names; remove them or change the behavior"),
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || n.chars().any(|c| c.is_control() || c == ' ') {
            d.error(
                format!("{path}.Items[{i}]"),
                INVALID,
                format!("{n:?} is not a valid name"),
            );
        }
        if !seen.insert(n.to_ascii_lowercase()) {
            d.error(
                format!("{path}.Items[{i}]"),
                INVALID,
                format!("{n:?} is listed twice"),
            );
        }
    }
}

fn check_combined_length(path: &str, lists: [&Vec<String>; 3], d: &mut Diagnostics) {
    let total: usize = lists.iter().flat_map(|l| l.iter()).map(String::len).sum();
    if total > MAX_COMBINED_NAME_LENGTH {
        d.error(path, INVALID, format!("header, cookie and query string names total {total} characters; the limit is {MAX_COMBINED_NAME_LENGTH}"));
    }
}

// === managed policies ===

/// One of AWS's managed cache policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedCachePolicy {
    /// Its permanent id.
    pub id: &'static str,
    /// Its name as the API returns it (`Managed-CachingOptimized`).
    pub name: &'static str,
    /// Its comment.
    pub comment: &'static str,
    /// Minimum TTL, seconds.
    pub min_ttl: u64,
    /// Default TTL, seconds.
    pub default_ttl: u64,
    /// Maximum TTL, seconds.
    pub max_ttl: u64,
    /// Normalised gzip in the key.
    pub gzip: bool,
    /// Normalised Brotli in the key.
    pub brotli: bool,
    /// Header behavior.
    pub header_behavior: CachePolicyHeaderBehavior,
    /// Header names.
    pub headers: &'static [&'static str],
    /// Cookie behavior.
    pub cookie_behavior: CachePolicyCookieBehavior,
    /// Query string behavior.
    pub query_string_behavior: CachePolicyQueryStringBehavior,
    /// Query string names.
    pub query_strings: &'static [&'static str],
}

impl ManagedCachePolicy {
    /// Its `LastModifiedTime` ([`MANAGED_LAST_MODIFIED`]).
    pub fn last_modified(&self) -> OffsetDateTime {
        MANAGED_LAST_MODIFIED
    }

    /// The policy as a [`CachePolicyConfig`].
    pub fn config(&self) -> CachePolicyConfig {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        CachePolicyConfig {
            comment: Some(self.comment.to_owned()),
            name: self.name.to_owned(),
            default_ttl: Some(self.default_ttl),
            max_ttl: Some(self.max_ttl),
            min_ttl: self.min_ttl,
            parameters: CacheKeyParameters {
                enable_accept_encoding_gzip: self.gzip,
                enable_accept_encoding_brotli: self.brotli,
                headers: NameList {
                    behavior: self.header_behavior,
                    names: v(self.headers),
                },
                cookies: NameList {
                    behavior: self.cookie_behavior,
                    names: Vec::new(),
                },
                query_strings: NameList {
                    behavior: self.query_string_behavior,
                    names: v(self.query_strings),
                },
            },
        }
    }
}

const YEAR: u64 = 31_536_000;

/// Shorthand for the table below (one argument per column keeps the table readable).
#[allow(clippy::too_many_arguments)]
const fn cp(
    id: &'static str,
    name: &'static str,
    comment: &'static str,
    ttls: (u64, u64, u64),
    compression: (bool, bool),
    headers: &'static [&'static str],
    cookie_behavior: CachePolicyCookieBehavior,
    query_string_behavior: CachePolicyQueryStringBehavior,
    query_strings: &'static [&'static str],
) -> ManagedCachePolicy {
    ManagedCachePolicy {
        id,
        name,
        comment,
        min_ttl: ttls.0,
        default_ttl: ttls.1,
        max_ttl: ttls.2,
        gzip: compression.0,
        brotli: compression.1,
        header_behavior: if headers.is_empty() {
            CachePolicyHeaderBehavior::None
        } else {
            CachePolicyHeaderBehavior::Whitelist
        },
        headers,
        cookie_behavior,
        query_string_behavior,
        query_strings,
    }
}

static MANAGED_CACHE_POLICIES: [ManagedCachePolicy; 11] = {
    use CachePolicyCookieBehavior as C;
    use CachePolicyQueryStringBehavior as Q;
    const ORIGIN_CC_HEADERS: &[&str] = &[
        "host",
        "origin",
        "x-http-method",
        "x-http-method-override",
        "x-method-override",
    ];
    [
        cp(
            "658327ea-f89d-4fab-a63d-7e88639e58f6",
            "Managed-CachingOptimized",
            "Policy with caching enabled. Supports Gzip and Brotli compression.",
            (1, 86_400, YEAR),
            (true, true),
            &[],
            C::None,
            Q::None,
            &[],
        ),
        cp(
            "b2884449-e4de-46a7-ac36-70bc7f1ddd6d",
            "Managed-CachingOptimizedForUncompressedObjects",
            "Default policy when compression is disabled",
            (1, 86_400, YEAR),
            (false, false),
            &[],
            C::None,
            Q::None,
            &[],
        ),
        cp(
            "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            "Managed-CachingDisabled",
            "Policy with caching disabled",
            (0, 0, 0),
            (false, false),
            &[],
            C::None,
            Q::None,
            &[],
        ),
        cp(
            "08627262-05a9-4f76-9ded-b50ca2e3a84f",
            "Managed-Elemental-MediaPackage",
            "Policy for Elemental MediaPackage Origin",
            (0, 86_400, YEAR),
            (true, false),
            &["origin"],
            C::None,
            Q::Whitelist,
            &["aws.manifestfilter", "end", "m", "start"],
        ),
        cp(
            "83da9c7e-98b4-4e11-a168-04f0df8e2c65",
            "UseOriginCacheControlHeaders",
            "Policy for origins that return Cache-Control headers. Query strings are not included in the cache key.",
            (0, 0, YEAR),
            (true, true),
            ORIGIN_CC_HEADERS,
            C::All,
            Q::None,
            &[],
        ),
        cp(
            "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
            "UseOriginCacheControlHeaders-QueryStrings",
            "Policy for origins that return Cache-Control headers and serve different content based on values present in the query string.",
            (0, 0, YEAR),
            (true, true),
            ORIGIN_CC_HEADERS,
            C::All,
            Q::All,
            &[],
        ),
        cp(
            "2e54312d-136d-493c-8eb9-b001f22f67d2",
            "Managed-Amplify",
            "Policy for Amplify Origin",
            (2, 2, 600),
            (true, true),
            &["Authorization", "CloudFront-Viewer-Country", "Host"],
            C::All,
            Q::All,
            &[],
        ),
        cp(
            "4d1d2f1d-3a71-49ad-9e08-7ea5d843a556",
            "Managed-Amplify-Default",
            "Default Amplify cache policy",
            (0, 0, YEAR),
            (true, true),
            &[
                "Accept",
                "Authorization",
                "CloudFront-Viewer-Country",
                "Host",
            ],
            C::All,
            Q::All,
            &[],
        ),
        cp(
            "a6bad946-36c3-4c33-aa98-362c74a7fb13",
            "Managed-Amplify-DefaultNoCookies",
            "Default Amplify cache policy without cookies",
            (0, 0, YEAR),
            (true, true),
            &[
                "Accept",
                "Authorization",
                "CloudFront-Viewer-Country",
                "Host",
            ],
            C::None,
            Q::All,
            &[],
        ),
        cp(
            "1c6db51a-a33f-469a-8245-dae26771f530",
            "Managed-Amplify-ImageOptimization",
            "Amplify cache policy for image optimization",
            (0, 0, YEAR),
            (true, true),
            &["Accept", "Authorization", "Host"],
            C::None,
            Q::All,
            &[],
        ),
        cp(
            "7e5fad67-ee98-4ad0-b05a-394999eefc1a",
            "Managed-Amplify-StaticContent",
            "Amplify cache policy for static content",
            (0, 0, YEAR),
            (true, true),
            &["Authorization", "Host"],
            C::None,
            Q::None,
            &[],
        ),
    ]
};

/// AWS's managed cache policies (caching.md §5.4, Amplify ones included).
pub fn managed_cache_policies() -> &'static [ManagedCachePolicy] {
    &MANAGED_CACHE_POLICIES
}

/// The managed cache policy with this id.
pub fn managed_cache_policy(id: &str) -> Option<&'static ManagedCachePolicy> {
    MANAGED_CACHE_POLICIES.iter().find(|p| p.id == id)
}

/// One of AWS's managed origin request policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedOriginRequestPolicy {
    /// Its permanent id.
    pub id: &'static str,
    /// Its name as the API returns it (`Managed-AllViewer`).
    pub name: &'static str,
    /// Its comment.
    pub comment: &'static str,
    /// Header behavior.
    pub header_behavior: OriginRequestPolicyHeaderBehavior,
    /// Header names.
    pub headers: &'static [&'static str],
    /// Cookie behavior.
    pub cookie_behavior: OriginRequestPolicyCookieBehavior,
    /// Query string behavior.
    pub query_string_behavior: OriginRequestPolicyQueryStringBehavior,
}

impl ManagedOriginRequestPolicy {
    /// Its `LastModifiedTime` ([`MANAGED_LAST_MODIFIED`]).
    pub fn last_modified(&self) -> OffsetDateTime {
        MANAGED_LAST_MODIFIED
    }

    /// The policy as an [`OriginRequestPolicyConfig`].
    pub fn config(&self) -> OriginRequestPolicyConfig {
        OriginRequestPolicyConfig {
            comment: Some(self.comment.to_owned()),
            name: self.name.to_owned(),
            headers: NameList {
                behavior: self.header_behavior,
                names: self.headers.iter().map(|s| (*s).to_owned()).collect(),
            },
            cookies: NameList {
                behavior: self.cookie_behavior,
                names: Vec::new(),
            },
            query_strings: NameList {
                behavior: self.query_string_behavior,
                names: Vec::new(),
            },
        }
    }
}

static MANAGED_ORIGIN_REQUEST_POLICIES: [ManagedOriginRequestPolicy; 8] = {
    use OriginRequestPolicyCookieBehavior as C;
    use OriginRequestPolicyHeaderBehavior as H;
    use OriginRequestPolicyQueryStringBehavior as Q;
    const fn orp(
        id: &'static str,
        name: &'static str,
        comment: &'static str,
        header_behavior: H,
        headers: &'static [&'static str],
        cookie_behavior: C,
        query_string_behavior: Q,
    ) -> ManagedOriginRequestPolicy {
        ManagedOriginRequestPolicy {
            id,
            name,
            comment,
            header_behavior,
            headers,
            cookie_behavior,
            query_string_behavior,
        }
    }
    const CLOUDFRONT_HEADERS: &[&str] = &[
        "CloudFront-Viewer-Address",
        "CloudFront-Viewer-ASN",
        "CloudFront-Viewer-City",
        "CloudFront-Viewer-Country",
        "CloudFront-Viewer-Country-Name",
        "CloudFront-Viewer-Country-Region",
        "CloudFront-Viewer-Country-Region-Name",
        "CloudFront-Viewer-Header-Count",
        "CloudFront-Viewer-Header-Order",
        "CloudFront-Viewer-Http-Version",
        "CloudFront-Viewer-JA3-Fingerprint",
        "CloudFront-Viewer-Latitude",
        "CloudFront-Viewer-Longitude",
        "CloudFront-Viewer-Metro-Code",
        "CloudFront-Viewer-Postal-Code",
        "CloudFront-Viewer-Time-Zone",
        "CloudFront-Viewer-TLS",
        "CloudFront-Forwarded-Proto",
        "CloudFront-Is-Android-Viewer",
        "CloudFront-Is-Desktop-Viewer",
        "CloudFront-Is-IOS-Viewer",
        "CloudFront-Is-Mobile-Viewer",
        "CloudFront-Is-SmartTV-Viewer",
        "CloudFront-Is-Tablet-Viewer",
    ];
    [
        orp(
            "216adef6-5c7f-47e4-b989-5492eafa07d3",
            "Managed-AllViewer",
            "Policy to forward all parameters in viewer requests",
            H::AllViewer,
            &[],
            C::All,
            Q::All,
        ),
        orp(
            "33f36d7e-f396-46d9-90e0-52428a34d9dc",
            "Managed-AllViewerAndCloudFrontHeaders-2022-06",
            "Policy to forward all parameters in viewer requests and all CloudFront headers",
            H::AllViewerAndWhitelistCloudFront,
            CLOUDFRONT_HEADERS,
            C::All,
            Q::All,
        ),
        orp(
            "b689b0a8-53d0-40ab-baf2-68738e2966ac",
            "Managed-AllViewerExceptHostHeader",
            "Policy to forward all parameters in viewer requests except for the Host header",
            H::AllExcept,
            &["host"],
            C::All,
            Q::All,
        ),
        orp(
            "59781a5b-3903-41f3-afcb-af62929ccde1",
            "Managed-CORS-CustomOrigin",
            "Policy for Custom Origin CORS requests",
            H::Whitelist,
            &["origin"],
            C::None,
            Q::None,
        ),
        orp(
            "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
            "Managed-CORS-S3Origin",
            "Policy for S3 origin with CORS",
            H::Whitelist,
            &[
                "origin",
                "access-control-request-headers",
                "access-control-request-method",
            ],
            C::None,
            Q::None,
        ),
        orp(
            "775133bc-15f2-49f9-abea-afb2e0bf67d2",
            "Managed-Elemental-MediaTailor-PersonalizedManifests",
            "Policy for Elemental MediaTailor Personalized Manifests",
            H::Whitelist,
            &[
                "origin",
                "access-control-request-headers",
                "x-forwarded-for",
                "access-control-request-method",
                "user-agent",
            ],
            C::None,
            Q::All,
        ),
        orp(
            "bf0718e1-ba1e-49d1-88b1-f726733018ae",
            "Managed-HostHeaderOnly",
            "Policy to forward only the Host header",
            H::Whitelist,
            &["host"],
            C::None,
            Q::None,
        ),
        orp(
            "acba4595-bd28-49b8-b9fe-13317c0390fa",
            "Managed-UserAgentRefererHeaders",
            "Policy to forward User-Agent and Referer headers",
            H::Whitelist,
            &["user-agent", "referer"],
            C::None,
            Q::All,
        ),
    ]
};

/// AWS's managed origin request policies (caching.md §6).
pub fn managed_origin_request_policies() -> &'static [ManagedOriginRequestPolicy] {
    &MANAGED_ORIGIN_REQUEST_POLICIES
}

/// The managed origin request policy with this id.
pub fn managed_origin_request_policy(id: &str) -> Option<&'static ManagedOriginRequestPolicy> {
    MANAGED_ORIGIN_REQUEST_POLICIES.iter().find(|p| p.id == id)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
