//! The compiled form of the distributions the data plane serves, and the first stage of the
//! request path: Host → distribution, path → cache behavior.
//!
//! The control plane compiles every accepted distribution into a [`Distribution`] (behaviors with
//! compiled path patterns, origins already built, cache policies resolved) and publishes a new
//! [`Routes`] snapshot atomically; requests read the snapshot without locks.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use http::Method;

use super::pattern::PathPattern;
use super::viewer::{GeoRule, HeaderSet};
use crate::cache::key::{KeySpec, Selection};
use crate::cache::ttl::TtlBounds;
use crate::fold::FoldHasher;
use crate::origin::Origin;

/// `ViewerProtocolPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerProtocol {
    /// `allow-all`
    AllowAll,
    /// `https-only`: plain HTTP gets 403.
    HttpsOnly,
    /// `redirect-to-https`: 301 for GET/HEAD, 307 for others.
    RedirectToHttps,
}

/// A set of HTTP methods (`AllowedMethods`, `CachedMethods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodSet(u8);

impl MethodSet {
    const ALL: [(&'static str, u8); 7] = [
        ("GET", 1),
        ("HEAD", 2),
        ("OPTIONS", 4),
        ("PUT", 8),
        ("POST", 16),
        ("PATCH", 32),
        ("DELETE", 64),
    ];

    /// Builds a set from method names (unknown names are ignored; the model validated them).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut bits = 0;
        for n in names {
            if let Some((_, b)) = Self::ALL.iter().find(|(m, _)| m.eq_ignore_ascii_case(n)) {
                bits |= b;
            }
        }
        MethodSet(bits)
    }

    /// The names of the methods in the set, in CloudFront's order (`GET`, `HEAD`, `OPTIONS`,
    /// `PUT`, `POST`, `PATCH`, `DELETE`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .iter()
            .filter(move |(_, b)| self.0 & b != 0)
            .map(|(name, _)| *name)
    }

    /// Whether the set holds `m`.
    pub fn contains(self, m: &Method) -> bool {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == m.as_str())
            .is_some_and(|(_, b)| self.0 & b != 0)
    }
}

/// Where a behavior sends misses.
#[derive(Debug, Clone)]
pub enum Target {
    /// One origin.
    Origin(Arc<dyn Origin>),
    /// An origin group: every request goes to the primary; a GET, HEAD or OPTIONS goes on to
    /// the secondary when the primary answers one of `statuses`, cannot be connected to, or does
    /// not answer in time (caching.md §16).
    Group {
        /// The group's `Id`, for the log.
        id: Arc<str>,
        /// Primary origin (the first member).
        primary: GroupMember,
        /// Secondary origin (the second member).
        secondary: GroupMember,
        /// `FailoverCriteria.StatusCodes`.
        statuses: Vec<u16>,
    },
}

/// One member of an origin group.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// The member's origin `Id`, for the log.
    pub id: Arc<str>,
    /// The origin itself.
    pub origin: Arc<dyn Origin>,
}

/// What a behavior forwards to the origin: its cache key plus what its origin request policy
/// adds, combined once when the behavior is compiled.
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// Viewer headers forwarded (`Selection::All` = all viewer headers).
    pub headers: Selection,
    /// Cookies forwarded.
    pub cookies: Selection,
    /// Query strings forwarded, as a spec that selects only query strings.
    pub query: KeySpec,
}

/// A compiled cache behavior.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// The path pattern; `None` for the default behavior.
    pub pattern: Option<PathPattern>,
    /// Where misses go.
    pub target: Target,
    /// Viewer protocol policy.
    pub viewer_protocol: ViewerProtocol,
    /// Allowed methods.
    pub allowed: MethodSet,
    /// Cached methods.
    pub cached: MethodSet,
    /// What makes up the cache key (and is therefore forwarded).
    pub key: KeySpec,
    /// What goes to the origin (the cache key plus the origin request policy).
    pub forward: Forwarding,
    /// TTL bounds from the cache policy.
    pub ttl: TtlBounds,
    /// For a restricted behavior (TrustedKeyGroups or TrustedSigners), the ids of the public
    /// keys in its trusted key groups and of the key pairs of its trusted accounts; `None` when
    /// the behavior is public. An empty list denies every request.
    pub trusted_key_ids: Option<Vec<String>>,
    /// The `CloudFront-*` headers its cache and origin request policies ask CloudFront to add
    /// ([`super::viewer`]).
    pub cloudfront_headers: HeaderSet,
    /// `Compress`: answers are compressed at the edge with the encodings the cache key's
    /// normalised `Accept-Encoding` allows ([`super::compress`]).
    pub compress: bool,
    /// `ResponseHeadersPolicyId`, compiled once per snapshot and shared by the behaviors that
    /// use it; `None` costs a request nothing.
    pub response_headers: Option<Arc<super::response_headers::CompiledPolicy>>,
    /// `FunctionAssociations`: the CloudFront Functions it runs.
    pub functions: crate::functions::Associations,
}

/// A custom error response rule.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    /// Origin status it applies to.
    pub error_code: u16,
    /// Page to serve instead, fetched through the matching behavior.
    pub page_path: Option<String>,
    /// Status to answer with instead.
    pub response_code: Option<u16>,
    /// How long the error is cached.
    pub caching_min_ttl: std::time::Duration,
}

/// A compiled distribution.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// Distribution id.
    pub id: Arc<str>,
    /// The distribution's own domain name (`cs(Host)` in logs).
    pub domain: Arc<str>,
    /// Whether it serves at all (disabled: 403).
    pub enabled: bool,
    /// `DefaultRootObject`, without a leading `/`.
    pub default_root_object: Option<String>,
    /// Ordered behaviors; the default behavior is last.
    pub behaviors: Vec<Behavior>,
    /// Custom error responses by origin status.
    pub error_responses: Vec<ErrorResponse>,
    /// `Restrictions.GeoRestriction`; `None` when there is none (type `none`).
    pub geo: Option<GeoRule>,
    /// Its origins by `Id`, for the origin-selection helpers of CloudFront Functions.
    pub origins: DistributionOrigins,
}

/// A distribution's origins by `Id`, and the client a function-changed custom origin sends
/// through (`cloudfront.updateRequestOrigin` and friends).
#[derive(Debug, Clone, Default)]
pub struct DistributionOrigins {
    /// The origins by `Id`.
    pub by_id: HashMap<String, OriginSlot>,
    /// The shared origin client; `None` where none was built (tests).
    pub client: Option<crate::origin::OriginClient>,
}

/// One origin of a distribution.
#[derive(Debug, Clone)]
pub struct OriginSlot {
    /// The origin as built.
    pub origin: Arc<dyn Origin>,
    /// A custom origin's settings (`None` for S3 and local origins).
    pub http: Option<crate::origin::HttpOriginSettings>,
}

impl Distribution {
    /// The custom error response rule for an error with `status`, if one is configured.
    pub fn error_response(&self, status: http::StatusCode) -> Option<&ErrorResponse> {
        self.error_responses
            .iter()
            .find(|r| r.error_code == status.as_u16())
    }

    /// The first behavior whose pattern matches the normalised path; the default otherwise.
    pub fn behavior(&self, normalized_path: &str) -> Option<&Behavior> {
        self.behaviors.iter().find(|b| {
            b.pattern
                .as_ref()
                .is_none_or(|p| p.matches(normalized_path))
        })
    }
}

/// The routing snapshot: distributions by Host (domain name and aliases, lower-case).
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_host: HashMap<String, Arc<Distribution>, BuildHasherDefault<FoldHasher>>,
    wildcard: Vec<(String, Arc<Distribution>)>,
    /// Every parsed public key, for signed URLs and cookies.
    pub keys: Arc<crate::auth::KeyRing>,
}

impl Routes {
    /// Adds a distribution under its hosts. An alias `*.example.com` matches one extra label.
    pub fn insert(&mut self, hosts: impl IntoIterator<Item = String>, dist: Arc<Distribution>) {
        for h in hosts {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix("*.") {
                Some(suffix) => self.wildcard.push((format!(".{suffix}"), dist.clone())),
                None => {
                    self.by_host.insert(h, dist.clone());
                }
            }
        }
    }

    /// The distribution for a Host header value (port and trailing dot ignored, any case).
    pub fn lookup(&self, host: &str) -> Option<&Arc<Distribution>> {
        let name = strip_port(host).trim_end_matches('.');
        if let Some(d) = self.by_host.get(name) {
            return Some(d);
        }
        let lower = name.to_ascii_lowercase();
        if let Some(d) = self.by_host.get(&lower) {
            return Some(d);
        }
        self.wildcard.iter().find_map(|(suffix, d)| {
            lower
                .strip_suffix(suffix.as_str())
                .filter(|label| !label.is_empty() && !label.contains('.'))
                .map(|_| d)
        })
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map(|(h, _)| &host[..h.len() + 1])
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods() {
        let s = MethodSet::from_names(["GET", "HEAD"]);
        assert!(s.contains(&Method::GET) && s.contains(&Method::HEAD));
        assert!(!s.contains(&Method::POST));
        assert!(!s.contains(&Method::from_bytes(b"BREW").unwrap()));
    }

    #[test]
    fn host_lookup() {
        let d = Arc::new(Distribution {
            id: "E1".into(),
            domain: "d1.cloudfront.localhost".into(),
            enabled: true,
            default_root_object: None,
            behaviors: vec![],
            error_responses: vec![],
            geo: None,
            origins: Default::default(),
        });
        let mut r = Routes::default();
        r.insert(
            [
                "dabc.cloudfront.localhost".to_owned(),
                "*.example.com".to_owned(),
            ],
            d,
        );
        assert!(r.lookup("dabc.cloudfront.localhost:8080").is_some());
        assert!(r.lookup("DABC.cloudfront.localhost.").is_some());
        assert!(r.lookup("www.example.com").is_some());
        assert!(r.lookup("a.b.example.com").is_none());
        assert!(r.lookup("example.com").is_none());
        assert!(r.lookup("other").is_none());
    }
}
