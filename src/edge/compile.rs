//! Compiles the control plane's state into the data plane's [`Routes`]: behaviors get compiled
//! path patterns and resolved cache and origin request policies, origins are built once (sharing
//! one pooled HTTP client), and every distribution is indexed by its domain name and aliases.
//!
//! Compilation runs after every accepted change, never per request. A distribution that cannot
//! be compiled (an origin that cannot be built, a policy deleted underneath it) is left out with
//! a warning rather than taking the other distributions down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::pattern::PathPattern;
use super::routing::{
    Behavior, Distribution, ErrorResponse, Forwarding, MethodSet, Routes, Target, ViewerProtocol,
};
use crate::cache::key::{KeySpec, Selection};
use crate::cache::ttl::TtlBounds;
use crate::config::Settings;
use crate::config::key_pairs::{self, KeyPairs};
use crate::model::{self, ModelEnum};
use crate::origin::{
    CredentialsProvider, DefaultChain, HttpOrigin, HttpOriginSettings, LocalDirOrigin, Origin,
    OriginClient, ProtocolPolicy, S3Origin, S3OriginSettings, parse_s3_domain,
};
use crate::state::registry::State;

/// The domain suffix that names a local-directory origin (`NAME.edgegate.local`).
pub const LOCAL_ORIGIN_SUFFIX: &str = ".edgegate.local";

/// Builds routing snapshots.
#[derive(Debug)]
pub struct Compiler {
    client: OriginClient,
    s3_endpoint: Option<http::Uri>,
    local_origins: HashMap<String, std::path::PathBuf>,
    credentials: Arc<dyn CredentialsProvider>,
    /// Legacy key pairs declared in the config file, trusted through `TrustedSigners`.
    key_pairs: Arc<KeyPairs>,
    /// The account `self` means in `TrustedSigners` and key pairs.
    account_id: String,
    /// The warnings of the latest [`Compiler::routes`].
    last_warnings: Mutex<Vec<String>>,
}

impl Compiler {
    /// A compiler for this edge's settings.
    pub fn new(settings: &Settings) -> Self {
        Self {
            client: OriginClient::new(),
            s3_endpoint: settings.s3_endpoint.clone(),
            local_origins: settings
                .local_origins
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            credentials: Arc::new(DefaultChain::new()),
            key_pairs: Arc::default(),
            account_id: settings.account_id.clone(),
            last_warnings: Mutex::default(),
        }
    }

    /// The same compiler, trusting these legacy key pairs for `TrustedSigners`.
    pub fn with_key_pairs(mut self, key_pairs: Arc<KeyPairs>) -> Self {
        self.key_pairs = key_pairs;
        self
    }

    /// The warnings of the latest compilation (empty before the first).
    pub fn last_warnings(&self) -> Vec<String> {
        self.last_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Compiles every distribution; returns the routes and warnings for what was left out.
    pub fn routes(&self, state: &State) -> (Routes, Vec<String>) {
        let mut routes = Routes::default();
        let mut warnings = Vec::new();
        let mut keys = crate::auth::KeyRing::new();
        for (id, k) in &state.public_keys {
            if let Err(e) = keys.insert(id, &k.config.encoded_key) {
                warnings.push(format!("public key {id} cannot verify signatures: {e}"));
            }
        }
        for p in self.key_pairs.iter() {
            if keys.remove(&p.id) {
                // One id, two keys: neither is trusted (deny rather than guess).
                warnings.push(format!(
                    "key pair {0} has the id of a public key; neither verifies signatures",
                    p.id
                ));
            } else if let Err(e) = keys.insert(&p.id, &p.public_key) {
                warnings.push(format!("key pair {} cannot verify signatures: {e}", p.id));
            }
        }
        routes.keys = Arc::new(keys);
        for d in state.distributions.values() {
            for u in key_pairs::unowned_signers(&d.v.config, &self.key_pairs, &self.account_id) {
                warnings.push(format!("distribution {}: {u}", d.v.id));
            }
            match self.distribution(state, &d.v.id, &d.domain_name, &d.v.config) {
                Ok(dist) => {
                    let hosts = std::iter::once(d.domain_name.clone())
                        .chain(d.v.config.aliases.iter().cloned());
                    routes.insert(hosts, Arc::new(dist));
                }
                Err(e) => warnings.push(format!("distribution {} is not served: {e}", d.v.id)),
            }
        }
        *self
            .last_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = warnings.clone();
        (routes, warnings)
    }

    fn distribution(
        &self,
        state: &State,
        id: &str,
        domain: &str,
        cfg: &model::DistributionConfig,
    ) -> Result<Distribution, String> {
        let mut origins: HashMap<&str, Arc<dyn Origin>> = HashMap::new();
        for o in &cfg.origins {
            origins.insert(&o.id, self.origin(o)?);
        }
        let target = |target_id: &str| -> Result<Target, String> {
            if let Some(o) = origins.get(target_id) {
                return Ok(Target::Origin(o.clone()));
            }
            let g = cfg
                .origin_groups
                .iter()
                .find(|g| g.id == target_id)
                .ok_or_else(|| format!("no origin or origin group {target_id}"))?;
            let member = |i: usize| {
                g.members
                    .get(i)
                    .and_then(|m| origins.get(m.as_str()).cloned())
                    .ok_or_else(|| format!("origin group {} has no member {i}", g.id))
            };
            Ok(Target::Group {
                primary: member(0)?,
                secondary: member(1)?,
                statuses: g.failover_status_codes.clone(),
            })
        };
        let mut behaviors = Vec::with_capacity(cfg.cache_behaviors.len() + 1);
        for b in &cfg.cache_behaviors {
            behaviors.push(self.behavior(
                state,
                b,
                Some(PathPattern::new(&b.path_pattern)),
                target(&b.target_origin_id)?,
            )?);
        }
        let d = &cfg.default_cache_behavior;
        behaviors.push(self.behavior(state, d, None, target(&d.target_origin_id)?)?);
        let error_responses = cfg
            .custom_error_responses
            .iter()
            .map(|e| ErrorResponse {
                error_code: e.error_code,
                page_path: e.response_page_path.clone().filter(|p| !p.is_empty()),
                response_code: e.response_code.as_deref().and_then(|c| c.parse().ok()),
                caching_min_ttl: Duration::from_secs(e.error_caching_min_ttl.unwrap_or(10)),
            })
            .collect();
        Ok(Distribution {
            id: id.into(),
            domain: domain.into(),
            enabled: cfg.enabled,
            default_root_object: Some(cfg.default_root_object.trim_start_matches('/').to_owned())
                .filter(|r| !r.is_empty()),
            behaviors,
            error_responses,
        })
    }

    fn behavior(
        &self,
        state: &State,
        b: &model::CacheBehavior,
        pattern: Option<PathPattern>,
        target: Target,
    ) -> Result<Behavior, String> {
        let (key, ttl) = match &b.cache_policy_id {
            Some(id) => cache_policy(state, id)?,
            None => legacy_cache_settings(b),
        };
        let (extra_headers, extra_cookies, extra_query) = match &b.origin_request_policy_id {
            Some(id) => origin_request_policy(state, id)?,
            None => (Selection::None, Selection::None, Selection::None),
        };
        let methods = |m: &[model::Method]| MethodSet::from_names(m.iter().map(|m| m.as_str()));
        let allowed = if b.allowed_methods.is_empty() {
            MethodSet::from_names(["GET", "HEAD"])
        } else {
            methods(&b.allowed_methods)
        };
        let cached = if b.cached_methods.is_empty() {
            MethodSet::from_names(["GET", "HEAD"])
        } else {
            methods(&b.cached_methods)
        };
        // Restricted by key groups or by legacy trusted signers (AWS accounts): the trusted ids
        // are the union of the groups' public keys and the accounts' key pairs. Restricted with
        // no id at all denies every request (fail closed).
        let restricted = b.trusted_key_groups.enabled
            || !b.trusted_key_groups.items.is_empty()
            || b.trusted_signers.enabled;
        let trusted_key_ids = restricted.then(|| {
            let mut ids: Vec<String> = b
                .trusted_key_groups
                .items
                .iter()
                .filter_map(|g| state.key_groups.get(g))
                .flat_map(|g| g.config.items.iter().cloned())
                .collect();
            for id in self.key_pairs.trusted_by(b, &self.account_id) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            ids
        });
        // Signed cookies are credentials, not content: never in the cache key or to the origin.
        let (key, extra_cookies) = if restricted {
            let mut key = key;
            key.cookies = without_signing_cookies(key.cookies);
            (key, without_signing_cookies(extra_cookies))
        } else {
            (key, extra_cookies)
        };
        let forward = Forwarding {
            headers: union(&key.headers, &extra_headers),
            cookies: union(&key.cookies, &extra_cookies),
            query: KeySpec {
                query_strings: union(&key.query_strings, &extra_query),
                headers: Selection::None,
                cookies: Selection::None,
                gzip: false,
                brotli: false,
            },
        };
        Ok(Behavior {
            pattern,
            target,
            viewer_protocol: match b.viewer_protocol_policy {
                model::ViewerProtocolPolicy::AllowAll => ViewerProtocol::AllowAll,
                model::ViewerProtocolPolicy::HttpsOnly => ViewerProtocol::HttpsOnly,
                model::ViewerProtocolPolicy::RedirectToHttps => ViewerProtocol::RedirectToHttps,
            },
            allowed,
            cached,
            key,
            forward,
            ttl,
            trusted_key_ids,
        })
    }

    fn origin(&self, o: &model::Origin) -> Result<Arc<dyn Origin>, String> {
        let headers = o
            .custom_headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.header_name.as_bytes())
                    .map_err(|_| format!("bad header name {}", h.header_name))?;
                let value = HeaderValue::from_str(&h.header_value)
                    .map_err(|_| format!("bad value for header {}", h.header_name))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let attempts = o.connection_attempts.clamp(1, 3) as u8;
        let connect = Duration::from_secs(u64::from(o.connection_timeout.clamp(1, 10)));
        let domain = o.domain_name.to_ascii_lowercase();
        if let Some(name) = domain.strip_suffix(LOCAL_ORIGIN_SUFFIX) {
            let root = self
                .local_origins
                .get(name)
                .ok_or_else(|| format!("origin {}: no local_origins.{name} is configured", o.id))?;
            let origin = LocalDirOrigin::new(root.clone())
                .map_err(|e| format!("origin {}: {}: {e}", o.id, root.display()))?;
            return Ok(Arc::new(origin));
        }
        if let Some(custom) = &o.custom_origin_config {
            let port = |p: u32, what: &str| {
                u16::try_from(p).map_err(|_| format!("origin {}: {what} {p} out of range", o.id))
            };
            let settings = HttpOriginSettings {
                domain_name: o.domain_name.clone(),
                http_port: port(custom.http_port, "HTTPPort")?,
                https_port: port(custom.https_port, "HTTPSPort")?,
                protocol_policy: match custom.origin_protocol_policy {
                    model::OriginProtocolPolicy::HttpOnly => ProtocolPolicy::HttpOnly,
                    model::OriginProtocolPolicy::HttpsOnly => ProtocolPolicy::HttpsOnly,
                    model::OriginProtocolPolicy::MatchViewer => ProtocolPolicy::MatchViewer,
                },
                origin_path: o.origin_path.clone(),
                custom_headers: headers,
                connection_attempts: attempts,
                connection_timeout: connect,
                read_timeout: Duration::from_secs(u64::from(
                    custom.origin_read_timeout.clamp(1, 120),
                )),
                keepalive_timeout: Duration::from_secs(u64::from(
                    custom.origin_keepalive_timeout.clamp(1, 120),
                )),
            };
            return Ok(Arc::new(HttpOrigin::new(settings, self.client.clone())));
        }
        let (bucket, region) = parse_s3_domain(&domain).ok_or_else(|| {
            format!(
                "origin {}: {} is not an S3 bucket domain name (bucket.s3.amazonaws.com)",
                o.id, o.domain_name
            )
        })?;
        let read = o
            .s3_origin_config
            .as_ref()
            .map(|s| s.origin_read_timeout)
            .unwrap_or(30)
            .clamp(1, 120);
        let settings = S3OriginSettings {
            bucket,
            region: region.unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint: self.s3_endpoint.clone(),
            origin_path: o.origin_path.clone(),
            custom_headers: headers,
            connection_attempts: attempts,
            connection_timeout: connect,
            read_timeout: Duration::from_secs(u64::from(read)),
            credentials: (!o.origin_access_control_id.is_empty()).then(|| self.credentials.clone()),
        };
        Ok(Arc::new(S3Origin::new(settings, self.client.clone())))
    }
}

/// Key and TTLs of a behavior that uses the legacy `ForwardedValues` and its own TTLs.
fn legacy_cache_settings(b: &model::CacheBehavior) -> (KeySpec, TtlBounds) {
    let fv = b.forwarded_values.as_ref();
    let query_strings = match fv {
        Some(f) if f.query_string && f.query_string_cache_keys.is_empty() => Selection::All,
        Some(f) if f.query_string => Selection::Whitelist(f.query_string_cache_keys.clone()),
        _ => Selection::None,
    };
    let headers = match fv {
        Some(f) if !f.headers.is_empty() => {
            Selection::Whitelist(f.headers.iter().filter(|h| *h != "*").cloned().collect())
        }
        _ => Selection::None,
    };
    let cookies = match fv.map(|f| (&f.cookies.forward, &f.cookies.whitelisted_names)) {
        Some((model::ItemSelection::All, _)) => Selection::All,
        Some((model::ItemSelection::Whitelist, names)) => Selection::Whitelist(names.clone()),
        _ => Selection::None,
    };
    let min = b.min_ttl.unwrap_or(0);
    let default = b.default_ttl.unwrap_or(86_400.max(min));
    let max = b.max_ttl.unwrap_or(31_536_000.max(default));
    let ttl = TtlBounds {
        min: Duration::from_secs(min),
        default: Duration::from_secs(default),
        max: Duration::from_secs(max),
    };
    (
        KeySpec {
            query_strings,
            headers,
            cookies,
            gzip: false,
            brotli: false,
        },
        ttl,
    )
}

/// Key and TTLs from a cache policy (managed or custom).
fn cache_policy(state: &State, id: &str) -> Result<(KeySpec, TtlBounds), String> {
    let cfg = match model::policy::managed_cache_policy(id) {
        Some(m) => m.config(),
        None => state
            .cache_policies
            .get(id)
            .map(|v| v.config.clone())
            .ok_or_else(|| format!("cache policy {id} does not exist"))?,
    };
    use model::policy::{
        CachePolicyCookieBehavior as C, CachePolicyHeaderBehavior as H,
        CachePolicyQueryStringBehavior as Q,
    };
    let p = &cfg.parameters;
    let headers = match p.headers.behavior {
        H::None => Selection::None,
        H::Whitelist => Selection::Whitelist(p.headers.names.clone()),
    };
    let cookies = match p.cookies.behavior {
        C::None => Selection::None,
        C::Whitelist => Selection::Whitelist(p.cookies.names.clone()),
        C::AllExcept => Selection::AllExcept(p.cookies.names.clone()),
        C::All => Selection::All,
    };
    let query_strings = match p.query_strings.behavior {
        Q::None => Selection::None,
        Q::Whitelist => Selection::Whitelist(p.query_strings.names.clone()),
        Q::AllExcept => Selection::AllExcept(p.query_strings.names.clone()),
        Q::All => Selection::All,
    };
    let ttl = TtlBounds {
        min: Duration::from_secs(cfg.min_ttl),
        default: Duration::from_secs(cfg.effective_default_ttl()),
        max: Duration::from_secs(cfg.effective_max_ttl()),
    };
    let key = KeySpec {
        query_strings,
        headers,
        cookies,
        gzip: p.enable_accept_encoding_gzip,
        brotli: p.enable_accept_encoding_brotli,
    };
    Ok((key, ttl))
}

/// What an origin request policy (managed or custom) adds to the origin request: headers,
/// cookies and query strings.
fn origin_request_policy(
    state: &State,
    id: &str,
) -> Result<(Selection, Selection, Selection), String> {
    let cfg = match model::policy::managed_origin_request_policy(id) {
        Some(m) => m.config(),
        None => state
            .origin_request_policies
            .get(id)
            .map(|v| v.config.clone())
            .ok_or_else(|| format!("origin request policy {id} does not exist"))?,
    };
    use model::policy::{
        OriginRequestPolicyCookieBehavior as C, OriginRequestPolicyHeaderBehavior as H,
        OriginRequestPolicyQueryStringBehavior as Q,
    };
    let headers = match cfg.headers.behavior {
        H::None => Selection::None,
        H::Whitelist => Selection::Whitelist(cfg.headers.names.clone()),
        // The CloudFront-* headers of allViewerAndWhitelistCloudFront are not generated yet.
        H::AllViewer | H::AllViewerAndWhitelistCloudFront => Selection::All,
        H::AllExcept => Selection::AllExcept(cfg.headers.names.clone()),
    };
    let cookies = match cfg.cookies.behavior {
        C::None => Selection::None,
        C::Whitelist => Selection::Whitelist(cfg.cookies.names.clone()),
        C::All => Selection::All,
        C::AllExcept => Selection::AllExcept(cfg.cookies.names.clone()),
    };
    let query_strings = match cfg.query_strings.behavior {
        Q::None => Selection::None,
        Q::Whitelist => Selection::Whitelist(cfg.query_strings.names.clone()),
        Q::All => Selection::All,
        Q::AllExcept => Selection::AllExcept(cfg.query_strings.names.clone()),
    };
    Ok((headers, cookies, query_strings))
}

/// Union of what the cache key and the origin request policy select.
fn union(a: &Selection, b: &Selection) -> Selection {
    use Selection::*;
    match (a, b) {
        (All, _) | (_, All) => All,
        (None, x) | (x, None) => x.clone(),
        (Whitelist(x), Whitelist(y)) => Whitelist(x.iter().chain(y).cloned().collect()),
        (AllExcept(x), AllExcept(y)) => {
            AllExcept(x.iter().filter(|n| y.contains(n)).cloned().collect())
        }
        (Whitelist(w), AllExcept(e)) | (AllExcept(e), Whitelist(w)) => AllExcept(
            e.iter()
                .filter(|n| !w.iter().any(|x| x.eq_ignore_ascii_case(n)))
                .cloned()
                .collect(),
        ),
    }
}

/// The names of CloudFront's signed-cookie credentials.
const SIGNING_COOKIES: [&str; 5] = [
    "CloudFront-Expires",
    "CloudFront-Policy",
    "CloudFront-Signature",
    "CloudFront-Key-Pair-Id",
    "CloudFront-Hash-Algorithm",
];

/// A cookie selection that never includes the signed-cookie credentials.
fn without_signing_cookies(sel: Selection) -> Selection {
    let signing = || SIGNING_COOKIES.iter().map(|c| (*c).to_owned());
    match sel {
        Selection::None => Selection::None,
        Selection::All => Selection::AllExcept(signing().collect()),
        Selection::AllExcept(mut names) => {
            names.extend(signing());
            Selection::AllExcept(names)
        }
        Selection::Whitelist(names) => Selection::Whitelist(
            names
                .into_iter()
                .filter(|n| !SIGNING_COOKIES.contains(&n.as_str()))
                .collect(),
        ),
    }
}
