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
    Behavior, Distribution, DistributionOrigins, ErrorResponse, Forwarding, GroupMember, MethodSet,
    OriginSlot, Routes, Target, ViewerProtocol,
};
use super::viewer::{GeoRule, HeaderSet, MANAGED_2022_06};
use crate::cache::key::{KeySpec, Selection};
use crate::cache::ttl::TtlBounds;
use crate::config::Settings;
use crate::config::key_pairs::{self, KeyPairs};
use crate::model::origin_access::SigningBehavior;
use crate::model::{self, ModelEnum};
use crate::origin::{
    CredentialsProvider, DefaultChain, HttpOrigin, HttpOriginSettings, LocalDirOrigin, Origin,
    OriginClient, ProtocolPolicy, S3Origin, S3OriginSettings, StaticCredentials, parse_s3_domain,
};
use crate::state::registry::State;

/// A behavior's `FunctionAssociations`, resolved to the functions' LIVE stages. The registry
/// refuses a distribution naming a function that is missing or unpublished, so a miss here
/// means state changed underneath: the distribution is left out rather than run without it.
fn function_associations(
    state: &State,
    b: &model::CacheBehavior,
) -> Result<crate::functions::Associations, CompileError> {
    use crate::functions::Stage;
    let mut out = crate::functions::Associations::default();
    for (arn, event) in b.function_association_list() {
        let script = state
            .functions
            .values()
            .find(|f| f.arn == arn)
            .and_then(|f| {
                let mut script = f.script(Stage::Live)?;
                let stores = &f.live.as_ref()?.key_value_stores;
                script.kvs = crate::functions::kvs::binding(&state.key_value_stores, stores);
                Some(script)
            })
            .ok_or_else(|| CompileError::NoFunction(arn.to_owned()))?;
        match event {
            "viewer-request" => out.viewer_request = Some(Arc::new(script)),
            "viewer-response" => out.viewer_response = Some(Arc::new(script)),
            _ => return Err(CompileError::NoFunction(arn.to_owned())),
        }
    }
    Ok(out)
}

/// The region of an origin's enabled Origin Shield.
fn shield_region(o: &model::Origin) -> Option<&str> {
    o.origin_shield
        .as_ref()
        .filter(|s| s.enabled)
        .and_then(|s| s.origin_shield_region.as_deref())
}

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
    /// Origin Shield: the region this edge serves and where the other regions' shields are.
    shield: super::shield::ShieldSettings,
    /// The account `self` means in `TrustedSigners` and key pairs.
    account_id: String,
    /// The warnings of the latest [`Compiler::routes`].
    last_warnings: Mutex<Vec<String>>,
    /// Whether a GeoIP database (`--geoip-db`) locates viewers.
    geoip: bool,
    /// The time origins read (Origin Shield requests are signed with it).
    clock: Arc<dyn crate::clock::Clock>,
}

/// Why a distribution cannot be compiled. The distribution is then not served, and the
/// warning names it and this reason; the others are served as usual.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// A behavior targets an id that is neither an origin nor an origin group.
    #[error("no origin or origin group {0}")]
    NoTarget(String),
    /// An origin group lacks its primary or secondary member.
    #[error("origin group {group} has no member {index}")]
    NoGroupMember {
        /// The group's id.
        group: String,
        /// 0 for the primary, 1 for the secondary.
        index: usize,
    },
    /// A behavior names a CloudFront function that is not published (LIVE).
    #[error("no published CloudFront function {0}")]
    NoFunction(String),
    /// A custom header's name is not a valid header name.
    #[error("bad header name {0}")]
    HeaderName(String),
    /// A custom header's value is not a valid header value.
    #[error("bad value for header {0}")]
    HeaderValue(String),
    /// A local-directory origin names no configured directory.
    #[error("origin {origin}: no local_origins.{name} is configured")]
    NoLocalOrigin {
        /// The origin's id.
        origin: String,
        /// The name before `.edgegate.local`.
        name: String,
    },
    /// A local-directory origin's directory cannot be opened.
    #[error("origin {origin}: {}: {error}", root.display())]
    LocalRoot {
        /// The origin's id.
        origin: String,
        /// The directory.
        root: std::path::PathBuf,
        /// Why it cannot be opened.
        #[source]
        error: std::io::Error,
    },
    /// A port does not fit in 16 bits.
    #[error("origin {origin}: {what} {port} out of range")]
    Port {
        /// The origin's id.
        origin: String,
        /// `HTTPPort` or `HTTPSPort`.
        what: &'static str,
        /// The value given.
        port: u32,
    },
    /// An origin without a custom origin config whose domain is not an S3 bucket's.
    #[error("origin {origin}: {domain} is not an S3 bucket domain name (bucket.s3.amazonaws.com)")]
    NotS3 {
        /// The origin's id.
        origin: String,
        /// Its domain name.
        domain: String,
    },
    /// A behavior names a cache policy that does not exist.
    #[error("cache policy {0} does not exist")]
    NoCachePolicy(String),
    /// A behavior names an origin request policy that does not exist.
    #[error("origin request policy {0} does not exist")]
    NoOriginRequestPolicy(String),
    /// A behavior names a response headers policy that does not exist.
    #[error("response headers policy {0} does not exist")]
    NoResponseHeadersPolicy(String),
    /// A response headers policy cannot be compiled.
    #[error(transparent)]
    ResponseHeadersPolicy(#[from] super::response_headers::PolicyError),
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
            credentials: match &settings.origin_credentials {
                Some(c) => Arc::new(StaticCredentials(crate::sigv4::Credentials {
                    access_key_id: c.access_key_id.clone(),
                    secret_access_key: c.secret_access_key.clone(),
                    session_token: None,
                })),
                None => DefaultChain::shared(),
            },
            key_pairs: Arc::default(),
            shield: super::shield::ShieldSettings {
                own_region: settings.shield_region.clone(),
                endpoints: settings.shield_endpoints.clone(),
                key: settings.shield_key.as_deref().map(Arc::from),
                // On a shared state bucket, shields are found through their heartbeats.
                directory: settings
                    .state
                    .is_some()
                    .then(|| Arc::new(super::shield::ShieldDirectory::default())),
            },
            account_id: settings.account_id.clone(),
            last_warnings: Mutex::default(),
            geoip: settings.geoip_db.is_some(),
            clock: crate::clock::system(),
        }
    }

    /// The shields found through the shared state bucket (`None` without one), which the
    /// fleet's poll keeps up to date.
    pub fn shield_directory(&self) -> Option<Arc<super::shield::ShieldDirectory>> {
        self.shield.directory.clone()
    }

    /// The same compiler, its origins reading the time from `clock` (Origin Shield requests
    /// are signed with it).
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same compiler, trusting these legacy key pairs for `TrustedSigners`.
    pub fn with_key_pairs(mut self, key_pairs: Arc<KeyPairs>) -> Self {
        self.key_pairs = key_pairs;
        self
    }

    /// `origin` behind its Origin Shield when it has one in a region another edge serves
    /// (declared with `--shield-endpoint`, or found through the shared state bucket); counted
    /// as the shield's own when this edge is that shield; as it is when no shield serves the
    /// region (which [`Compiler::shield_warnings`] names).
    fn shielded(
        &self,
        origin: Arc<dyn Origin>,
        domain: &str,
        o: &model::Origin,
    ) -> Arc<dyn Origin> {
        let Some(region) = shield_region(o) else {
            return origin;
        };
        if self.shield.own_region.as_deref() == Some(region) {
            return Arc::new(super::shield::OwnShield::new(origin, region));
        }
        let endpoint = match (self.shield.endpoints.get(region), &self.shield.directory) {
            (Some(u), _) => super::shield::ShieldEndpoint::Declared(u.clone()),
            (None, Some(d)) => super::shield::ShieldEndpoint::Discovered(d.clone()),
            (None, None) => return origin,
        };
        match &self.shield.key {
            Some(key) => Arc::new(
                super::shield::ShieldOrigin::new(
                    endpoint,
                    self.client.clone(),
                    origin,
                    key.clone(),
                    domain,
                    &o.id,
                    region,
                )
                .with_clock(self.clock.clone()),
            ),
            None => origin,
        }
    }

    /// One warning per origin with Origin Shield enabled in a region no shield serves here.
    fn shield_warnings(&self, id: &str, cfg: &model::DistributionConfig) -> Vec<String> {
        cfg.origins
            .iter()
            .filter_map(|o| {
                let region = shield_region(o)?;
                if self.shield.own_region.as_deref() == Some(region) {
                    return None;
                }
                let known = self.shield.endpoints.contains_key(region) || self.shield.directory.is_some();
                let why = match (known, &self.shield.key) {
                    (true, Some(_)) => return None,
                    (false, _) => format!("no --shield-endpoint {region}=URL, no shared --state bucket to find a shield in, and this edge is not started with --shield-region {region}"),
                    (true, None) => "no --shield-key (or --admin-credentials) to sign shield requests with".to_owned(),
                };
                Some(format!(
                    "distribution {id}: origin {}: OriginShield in {region} is not used ({why}); misses go to the origin directly",
                    o.id
                ))
            })
            .collect()
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
        // Each response headers policy is compiled once and shared by every behavior using it.
        let mut policies = PolicyMemo::new();
        for d in state.distributions.values() {
            for u in key_pairs::unowned_signers(&d.v.config, &self.key_pairs, &self.account_id) {
                warnings.push(format!("distribution {}: {u}", d.v.id));
            }
            match self.distribution(state, &d.v.id, &d.domain_name, &d.v.config, &mut policies) {
                Ok(dist) => {
                    warnings.extend(self.viewer_warnings(&dist));
                    warnings.extend(s3_host_warnings(&d.v.id, &d.v.config, &dist));
                    warnings.extend(self.shield_warnings(&d.v.id, &d.v.config));
                    let hosts = std::iter::once(d.domain_name.clone())
                        .chain(d.v.config.aliases.iter().cloned());
                    routes.insert(hosts, Arc::new(dist));
                }
                Err(e) => warnings.push(format!("distribution {} is not served: {e}", d.v.id)),
            }
        }
        warnings.extend(key_value_store_warnings(state));
        *self
            .last_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = warnings.clone();
        (routes, warnings)
    }

    /// Warnings for what a compiled distribution asks of viewer handling that edgegate cannot
    /// do: CloudFront-* headers it does not generate, and a geo restriction without a GeoIP
    /// database (every viewer's location is then unknown, and unknown locations are served).
    fn viewer_warnings(&self, dist: &Distribution) -> Vec<String> {
        let mut out = Vec::new();
        if dist.geo.is_some() && !self.geoip {
            out.push(format!(
                "distribution {}: Restrictions.GeoRestriction has no effect without a GeoIP database (--geoip-db): viewers' locations are unknown and, as CloudFront does for unknown locations, every request is served",
                dist.id
            ));
        }
        let needs_location = dist
            .behaviors
            .iter()
            .any(|b| b.cloudfront_headers.needs_location());
        if needs_location && !self.geoip {
            out.push(format!(
                "distribution {}: CloudFront-Viewer-* location headers are never added without a GeoIP database (--geoip-db)",
                dist.id
            ));
        }
        for b in &dist.behaviors {
            let missing = b.cloudfront_headers.not_generated();
            if !missing.is_empty() {
                let at = b
                    .pattern
                    .as_ref()
                    .map_or("the default behavior", |p| p.as_str());
                out.push(format!(
                    "distribution {}: {at}: edgegate does not generate {}; these headers are never sent",
                    dist.id,
                    missing.join(", ")
                ));
            }
        }
        out
    }

    fn distribution(
        &self,
        state: &State,
        id: &str,
        domain: &str,
        cfg: &model::DistributionConfig,
        policies: &mut PolicyMemo,
    ) -> Result<Distribution, CompileError> {
        let mut origins: HashMap<&str, Arc<dyn Origin>> = HashMap::new();
        let mut slots = DistributionOrigins {
            by_id: HashMap::with_capacity(cfg.origins.len()),
            client: Some(self.client.clone()),
        };
        for o in &cfg.origins {
            let (origin, http) = self.origin(state, o)?;
            let origin = self.shielded(origin, domain, o);
            origins.insert(&o.id, origin.clone());
            slots
                .by_id
                .insert(o.id.clone(), OriginSlot { origin, http });
        }
        let target = |target_id: &str| -> Result<Target, CompileError> {
            if let Some(o) = origins.get(target_id) {
                return Ok(Target::Origin(o.clone()));
            }
            let g = cfg
                .origin_groups
                .iter()
                .find(|g| g.id == target_id)
                .ok_or_else(|| CompileError::NoTarget(target_id.to_owned()))?;
            let member = |i: usize| {
                g.members
                    .get(i)
                    .and_then(|m| {
                        origins.get(m.as_str()).map(|o| GroupMember {
                            id: m.as_str().into(),
                            origin: o.clone(),
                        })
                    })
                    .ok_or_else(|| CompileError::NoGroupMember {
                        group: g.id.clone(),
                        index: i,
                    })
            };
            Ok(Target::Group {
                id: g.id.as_str().into(),
                primary: member(0)?,
                secondary: member(1)?,
                statuses: g.failover_status_codes.clone(),
            })
        };
        let mut behaviors = Vec::with_capacity(cfg.cache_behaviors.len() + 1);
        for b in &cfg.cache_behaviors {
            behaviors.push(self.behavior(
                state,
                policies,
                b,
                Some(PathPattern::new(&b.path_pattern)),
                target(&b.target_origin_id)?,
            )?);
        }
        let d = &cfg.default_cache_behavior;
        behaviors.push(self.behavior(state, policies, d, None, target(&d.target_origin_id)?)?);
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
            geo: cfg
                .restrictions
                .as_ref()
                .and_then(|g| match g.restriction_type {
                    model::distribution::GeoRestrictionType::Whitelist => {
                        Some(GeoRule::Allow(g.items.clone()))
                    }
                    model::distribution::GeoRestrictionType::Blacklist => {
                        Some(GeoRule::Block(g.items.clone()))
                    }
                    model::distribution::GeoRestrictionType::None => None,
                }),
            origins: slots,
        })
    }

    fn behavior(
        &self,
        state: &State,
        policies: &mut PolicyMemo,
        b: &model::CacheBehavior,
        pattern: Option<PathPattern>,
        target: Target,
    ) -> Result<Behavior, CompileError> {
        let (key, ttl) = match &b.cache_policy_id {
            Some(id) => cache_policy(state, id)?,
            None => legacy_cache_settings(b),
        };
        let (extra_headers, extra_cookies, extra_query, orp_cloudfront) =
            match &b.origin_request_policy_id {
                Some(id) => origin_request_policy(state, id)?,
                None => (
                    Selection::None,
                    Selection::None,
                    Selection::None,
                    HeaderSet::default(),
                ),
            };
        let cloudfront_headers = HeaderSet::from_selection(&key.headers).union(orp_cloudfront);
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
            cloudfront_headers,
            compress: b.compress,
            response_headers: match &b.response_headers_policy_id {
                Some(id) => Some(response_headers_policy(state, policies, id)?),
                None => None,
            },
            functions: function_associations(state, b)?,
        })
    }

    /// An origin as built, and a custom origin's settings.
    fn origin(
        &self,
        state: &State,
        o: &model::Origin,
    ) -> Result<(Arc<dyn Origin>, Option<HttpOriginSettings>), CompileError> {
        let headers = o
            .custom_headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.header_name.as_bytes())
                    .map_err(|_| CompileError::HeaderName(h.header_name.clone()))?;
                let value = HeaderValue::from_str(&h.header_value)
                    .map_err(|_| CompileError::HeaderValue(h.header_name.clone()))?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, CompileError>>()?;
        let attempts = o.connection_attempts.clamp(1, 3) as u8;
        let connect = Duration::from_secs(u64::from(o.connection_timeout.clamp(1, 10)));
        let domain = o.domain_name.to_ascii_lowercase();
        if let Some(name) = domain.strip_suffix(LOCAL_ORIGIN_SUFFIX) {
            let root = self
                .local_origins
                .get(name)
                .ok_or_else(|| CompileError::NoLocalOrigin {
                    origin: o.id.clone(),
                    name: name.to_owned(),
                })?;
            let origin =
                LocalDirOrigin::new(root.clone()).map_err(|error| CompileError::LocalRoot {
                    origin: o.id.clone(),
                    root: root.clone(),
                    error,
                })?;
            return Ok((Arc::new(origin), None));
        }
        if let Some(custom) = &o.custom_origin_config {
            let port = |p: u32, what: &'static str| {
                u16::try_from(p).map_err(|_| CompileError::Port {
                    origin: o.id.clone(),
                    what,
                    port: p,
                })
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
            let origin = HttpOrigin::new(settings.clone(), self.client.clone());
            return Ok((Arc::new(origin), Some(settings)));
        }
        let (bucket, region) = parse_s3_domain(&domain).ok_or_else(|| CompileError::NotS3 {
            origin: o.id.clone(),
            domain: o.domain_name.clone(),
        })?;
        let read = o
            .s3_origin_config
            .as_ref()
            .and_then(|s| s.origin_read_timeout)
            .unwrap_or(30)
            .clamp(1, 120);
        // The registry admits only existing `s3` OACs; a missing one (never expected) signs
        // rather than sending anonymous requests. A legacy origin access identity signs every
        // request with the same credentials (`always`).
        let signing = if !o.origin_access_control_id.is_empty() {
            Some(
                state
                    .origin_access_controls
                    .get(&o.origin_access_control_id)
                    .map_or(SigningBehavior::Always, |v| v.config.signing_behavior),
            )
        } else {
            crate::state::registry::Registry::origin_access_identity_id(o)
                .map(|_| SigningBehavior::Always)
        };
        let settings = S3OriginSettings {
            bucket,
            region: region.unwrap_or_else(|| "us-east-1".to_owned()),
            endpoint: self.s3_endpoint.clone(),
            origin_path: o.origin_path.clone(),
            custom_headers: headers,
            connection_attempts: attempts,
            connection_timeout: connect,
            read_timeout: Duration::from_secs(u64::from(read)),
            credentials: signing
                .is_some_and(|b| b != SigningBehavior::Never)
                .then(|| self.credentials.clone()),
            keep_viewer_authorization: signing == Some(SigningBehavior::NoOverride),
        };
        Ok((Arc::new(S3Origin::new(settings, self.client.clone())), None))
    }
}

/// One warning per behavior that forwards the viewer's `Host` to an S3 origin (or an origin
/// group with one). CloudFront refuses that configuration (`InvalidHeadersForS3Origin`);
/// edgegate serves it, but sends the bucket's own host, which its SigV4 signature covers.
fn s3_host_warnings(id: &str, cfg: &model::DistributionConfig, dist: &Distribution) -> Vec<String> {
    let is_s3 = |origin_id: &str| {
        cfg.origins.iter().any(|o| {
            o.id == origin_id
                && o.custom_origin_config.is_none()
                && !o
                    .domain_name
                    .to_ascii_lowercase()
                    .ends_with(LOCAL_ORIGIN_SUFFIX)
        })
    };
    let targets_s3 = |target: &str| {
        is_s3(target)
            || cfg
                .origin_groups
                .iter()
                .any(|g| g.id == target && g.members.iter().any(|m| is_s3(m)))
    };
    let declared = cfg
        .cache_behaviors
        .iter()
        .map(|b| (b.path_pattern.as_str(), b.target_origin_id.as_str()))
        .chain(std::iter::once((
            "default",
            cfg.default_cache_behavior.target_origin_id.as_str(),
        )));
    declared
        .zip(&dist.behaviors)
        .filter(|((_, target), b)| {
            targets_s3(target) && b.forward.headers.selects_ignore_case("host")
        })
        .map(|((path, _), _)| {
            format!(
                "distribution {id}: cache behavior {path} forwards the viewer's Host header to an \
                 S3 origin, which CloudFront refuses (InvalidHeadersForS3Origin); edgegate sends \
                 the bucket's own Host instead"
            )
        })
        .collect()
}

/// Key and TTLs of a behavior that uses the legacy `ForwardedValues` and its own TTLs.
///
/// `Headers` `*` forwards every viewer header and, as in CloudFront ("CloudFront doesn't cache
/// the objects associated with this cache behavior"), disables caching whatever the TTLs say.
fn legacy_cache_settings(b: &model::CacheBehavior) -> (KeySpec, TtlBounds) {
    let fv = b.forwarded_values.as_ref();
    let query_strings = match fv {
        Some(f) if f.query_string && f.query_string_cache_keys.is_empty() => Selection::All,
        Some(f) if f.query_string => Selection::Whitelist(f.query_string_cache_keys.clone()),
        _ => Selection::None,
    };
    let all_headers = fv.is_some_and(|f| f.headers.iter().any(|h| h == "*"));
    let headers = match fv {
        _ if all_headers => Selection::All,
        Some(f) if !f.headers.is_empty() => Selection::Whitelist(f.headers.clone()),
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
    let ttl = if all_headers {
        TtlBounds::DISABLED
    } else {
        TtlBounds {
            min: Duration::from_secs(min),
            default: Duration::from_secs(default),
            max: Duration::from_secs(max),
        }
    };
    (
        KeySpec {
            query_strings,
            headers,
            cookies,
            // Legacy settings with Compress on: gzip only (Brotli needs a cache policy), the
            // normalised Accept-Encoding in the key as a policy with gzip puts it.
            gzip: b.compress,
            brotli: false,
        },
        ttl,
    )
}

/// Key and TTLs from a cache policy (managed or custom).
fn cache_policy(state: &State, id: &str) -> Result<(KeySpec, TtlBounds), CompileError> {
    let cfg = match model::policy::managed_cache_policy(id) {
        Some(m) => m.config(),
        None => state
            .cache_policies
            .get(id)
            .map(|v| v.config.clone())
            .ok_or_else(|| CompileError::NoCachePolicy(id.to_owned()))?,
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
/// cookies and query strings, and the CloudFront-* headers it asks CloudFront to add.
fn origin_request_policy(
    state: &State,
    id: &str,
) -> Result<(Selection, Selection, Selection, HeaderSet), CompileError> {
    let cfg = match model::policy::managed_origin_request_policy(id) {
        Some(m) => m.config(),
        None => state
            .origin_request_policies
            .get(id)
            .map(|v| v.config.clone())
            .ok_or_else(|| CompileError::NoOriginRequestPolicy(id.to_owned()))?,
    };
    use model::policy::{
        OriginRequestPolicyCookieBehavior as C, OriginRequestPolicyHeaderBehavior as H,
        OriginRequestPolicyQueryStringBehavior as Q,
    };
    let headers = match cfg.headers.behavior {
        H::None => Selection::None,
        H::Whitelist => Selection::Whitelist(cfg.headers.names.clone()),
        // The CloudFront-* headers are generated from `cloudfront` below; viewer copies of
        // them never pass (edge::viewer).
        H::AllViewer | H::AllViewerAndWhitelistCloudFront => Selection::All,
        H::AllExcept => Selection::AllExcept(cfg.headers.names.clone()),
    };
    let mut cloudfront = match cfg.headers.behavior {
        H::Whitelist | H::AllViewerAndWhitelistCloudFront => {
            HeaderSet::from_names(cfg.headers.names.iter().map(String::as_str))
        }
        H::None | H::AllViewer | H::AllExcept => HeaderSet::default(),
    };
    // The current guide says AllViewerExceptHostHeader also carries the CloudFront headers for
    // protocol, HTTP version, TLS, device type and location: the 2022-06 list is used.
    if id == MANAGED_ALL_VIEWER_EXCEPT_HOST {
        cloudfront = cloudfront.union(HeaderSet::from_names(MANAGED_2022_06));
    }
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
    Ok((headers, cookies, query_strings, cloudfront))
}

/// The id of the managed AllViewerExceptHostHeader origin request policy.
const MANAGED_ALL_VIEWER_EXCEPT_HOST: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

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

/// Response headers policies compiled so far in one compilation, by id.
type PolicyMemo = HashMap<String, Arc<super::response_headers::CompiledPolicy>>;

/// A behavior's response headers policy, managed or custom, compiled for the data plane (once
/// per compilation: later behaviors share the first one's).
fn response_headers_policy(
    state: &State,
    memo: &mut PolicyMemo,
    id: &str,
) -> Result<Arc<super::response_headers::CompiledPolicy>, CompileError> {
    use super::response_headers::CompiledPolicy;
    if let Some(p) = memo.get(id) {
        return Ok(p.clone());
    }
    let compiled = match model::response_headers::managed_response_headers_policy(id) {
        Some(m) => CompiledPolicy::new(id, &m.config())?,
        None => {
            let v = state
                .response_headers_policies
                .get(id)
                .ok_or_else(|| CompileError::NoResponseHeadersPolicy(id.to_owned()))?;
            CompiledPolicy::new(id, &v.config)?
        }
    };
    let compiled = Arc::new(compiled);
    memo.insert(id.to_owned(), compiled.clone());
    Ok(compiled)
}

/// A published function associated with a key value store that does not exist (the API refuses
/// such an association and the deletion of a store in use, so only a damaged data directory
/// gets here): named in a warning; in the function, every read of the store rejects.
fn key_value_store_warnings(state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for f in state.functions.values() {
        let Some(live) = &f.live else { continue };
        for arn in &live.key_value_stores {
            if !state.key_value_stores.values().any(|s| s.meta.arn == *arn) {
                out.push(format!(
                    "function {}: its key value store {arn} does not exist; every kvs() read \
                     in it rejects",
                    f.name
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::diag::Diagnostics;
    use crate::model::tree::from_toml;

    #[test]
    fn a_geo_restriction_without_a_database_is_named_in_a_warning() {
        let dist = Distribution {
            id: "EGEO1".into(),
            domain: "d.example".into(),
            enabled: true,
            default_root_object: None,
            behaviors: vec![],
            error_responses: vec![],
            geo: Some(GeoRule::Allow(vec!["US".into()])),
            origins: Default::default(),
        };
        let without = Compiler::new(&Settings::default());
        let warnings = without.viewer_warnings(&dist);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("EGEO1") && warnings[0].contains("--geoip-db"),
            "{warnings:?}"
        );
        let with = Compiler::new(&Settings {
            geoip_db: Some("/db.mmdb".into()),
            ..Settings::default()
        });
        assert!(with.viewer_warnings(&dist).is_empty());
        let open = Distribution { geo: None, ..dist };
        assert!(without.viewer_warnings(&open).is_empty());
    }

    /// A distribution with an S3 origin and a custom one, and behaviors forwarding Host or not.
    const DIST: &str = r#"
caller_reference = "compile-test"
comment = "compile"
enabled = true

[[origins]]
id = "bucket"
domain_name = "media.s3.amazonaws.com"
s3_origin_config = { origin_access_identity = "" }

[[origins]]
id = "web"
domain_name = "app.example.com"
custom_origin_config = { http_port = 80, https_port = 443, origin_protocol_policy = "http-only" }

[default_cache_behavior]
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[cache_behaviors]]
path_pattern = "/all/*"
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
origin_request_policy_id = "216adef6-5c7f-47e4-b989-5492eafa07d3"

[[cache_behaviors]]
path_pattern = "/except/*"
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
origin_request_policy_id = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

[[cache_behaviors]]
path_pattern = "/legacy-star/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
min_ttl = 0
default_ttl = 600
forwarded_values = { query_string = false, cookies = { forward = "none" }, headers = ["*"] }

[[cache_behaviors]]
path_pattern = "/legacy-host/*"
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
min_ttl = 0
forwarded_values = { query_string = false, cookies = { forward = "none" }, headers = ["Host"] }
"#;

    fn compiled() -> (model::DistributionConfig, Distribution) {
        let v: toml::Value = toml::from_str(DIST).unwrap();
        let mut d = Diagnostics::new();
        let cfg = model::DistributionConfig::from_tree_at(&from_toml(&v), "d", &mut d);
        assert!(d.errors.is_empty(), "{d}");
        let cfg = cfg.unwrap();
        let compiler = Compiler::new(&Settings::default());
        let dist = compiler
            .distribution(
                &State::default(),
                "ECOMPILE1",
                "d.example",
                &cfg,
                &mut PolicyMemo::new(),
            )
            .unwrap();
        (cfg, dist)
    }

    #[test]
    fn legacy_forward_all_headers_selects_all_and_disables_caching() {
        let (_, dist) = compiled();
        let star = &dist.behaviors[2];
        assert!(matches!(star.forward.headers, Selection::All));
        assert!(star.forward.headers.selects_ignore_case("x-anything"));
        assert!(star.ttl.caching_disabled());
        let host = &dist.behaviors[3];
        assert!(host.forward.headers.selects_ignore_case("host"));
        assert!(!host.ttl.caching_disabled());
    }

    #[test]
    fn forwarding_host_to_s3_is_warned_about() {
        let (cfg, dist) = compiled();
        let warnings = s3_host_warnings("ECOMPILE1", &cfg, &dist);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("/all/*"), "{}", warnings[0]);
        assert!(warnings[1].contains("/legacy-host/*"), "{}", warnings[1]);
        assert!(
            warnings
                .iter()
                .all(|w| w.contains("InvalidHeadersForS3Origin"))
        );
    }

    #[test]
    fn a_published_function_naming_a_missing_key_value_store_is_named_in_a_warning() {
        let stage = |stores: &[&str]| crate::functions::record::StageVersion {
            etag: "E1".into(),
            runtime: crate::functions::JsRuntime::V2,
            comment: String::new(),
            key_value_stores: stores.iter().map(|s| (*s).to_owned()).collect(),
            code: "function handler(e) { return e.request; }".into(),
            last_modified: time::OffsetDateTime::UNIX_EPOCH,
        };
        let kvs = "arn:aws:cloudfront::000000000000:key-value-store/k";
        let mut state = State::default();
        for (name, live) in [
            ("with-kvs", Some(stage(&[kvs]))),
            ("plain", Some(stage(&[]))),
            ("unpublished", None),
        ] {
            let f = crate::functions::FunctionEntry {
                name: name.into(),
                arn: format!("arn:aws:cloudfront::000000000000:function/{name}"),
                created: time::OffsetDateTime::UNIX_EPOCH,
                development: stage(&[kvs]),
                live,
            };
            state.functions.insert(name.into(), f);
        }
        let warnings = key_value_store_warnings(&state);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("with-kvs") && warnings[0].contains("does not exist"),
            "{warnings:?}"
        );
        // Once the store exists, nothing is said.
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let meta = crate::functions::kvs::StoreMeta {
            name: "k".into(),
            id: "k".into(),
            arn: kvs.into(),
            comment: String::new(),
            created: now,
            last_modified: now,
            etag: "E1".into(),
        };
        state.key_value_stores.insert(
            "k".into(),
            crate::functions::kvs::StoreEntry::new(
                meta,
                crate::functions::kvs::StoreData::empty(now),
            ),
        );
        assert_eq!(key_value_store_warnings(&state), Vec::<String>::new());
    }
}
