//! The registry: every control-plane resource in memory, written through to the [`StateStore`]
//! before a change is acknowledged.
//!
//! Writes are serialised by one async mutex (the control plane is low-volume; correctness of
//! ETags, CallerReference idempotency and referential checks matters more than write
//! concurrency). After each change the `on_change` hook receives the new state so the data plane
//! can publish a fresh routing snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use time::OffsetDateTime;

use super::record::Envelope;
use super::store::{Kind, StateStore};
use crate::control::error::ApiError;
use crate::model::{
    CachePolicyConfig, Diagnostics, DistributionConfig, InvalidationBatch, KeyGroupConfig,
    OriginRequestPolicyConfig, PublicKeyConfig,
};

/// A stored resource: metadata plus its configuration.
#[derive(Debug, Clone)]
pub struct Versioned<C> {
    /// Resource id.
    pub id: String,
    /// Current version.
    pub etag: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last modification.
    pub last_modified: OffsetDateTime,
    /// Declared in the config file.
    pub declared: bool,
    /// The configuration.
    pub config: C,
}

/// A distribution with its domain name.
#[derive(Debug, Clone)]
pub struct DistributionEntry {
    /// Metadata and config.
    pub v: Versioned<DistributionConfig>,
    /// `d…​.{suffix}`.
    pub domain_name: String,
}

/// An invalidation.
#[derive(Debug, Clone)]
pub struct InvalidationEntry {
    /// Invalidation id.
    pub id: String,
    /// Distribution id.
    pub distribution_id: String,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Always `Completed` once stored: the edge removes matching entries before acknowledging.
    pub status: String,
    /// The paths.
    pub batch: InvalidationBatch,
}

/// Everything the control plane holds.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Distributions by id.
    pub distributions: BTreeMap<String, DistributionEntry>,
    /// Invalidations by distribution id, oldest first.
    pub invalidations: BTreeMap<String, Vec<InvalidationEntry>>,
    /// Public keys by id.
    pub public_keys: BTreeMap<String, Versioned<PublicKeyConfig>>,
    /// Key groups by id.
    pub key_groups: BTreeMap<String, Versioned<KeyGroupConfig>>,
    /// Custom cache policies by id.
    pub cache_policies: BTreeMap<String, Versioned<CachePolicyConfig>>,
    /// Custom origin request policies by id.
    pub origin_request_policies: BTreeMap<String, Versioned<OriginRequestPolicyConfig>>,
}

/// Hook run after every change with the new state (publishes routes to the data plane).
pub type OnChange = Arc<dyn Fn(&State) + Send + Sync>;

/// The registry.
pub struct Registry {
    store: StateStore,
    state: tokio::sync::Mutex<State>,
    domain_suffix: String,
    on_change: OnChange,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("domain_suffix", &self.domain_suffix)
            .finish_non_exhaustive()
    }
}

fn now() -> OffsetDateTime {
    // CloudFront's timestamps carry milliseconds.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// The outcome of applying an `If-Match` header to a stored version.
fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<(), ApiError> {
    match if_match.map(str::trim) {
        None | Some("") => Err(ApiError::missing_if_match()),
        Some(m) if m.trim_matches('"') == etag => Ok(()),
        Some(_) => Err(ApiError::precondition_failed()),
    }
}

/// Turns model diagnostics into the API's first error (all messages joined).
pub fn diagnostics_error(d: &Diagnostics) -> Option<ApiError> {
    let first = d.errors.first()?;
    let message = d
        .errors
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect::<Vec<_>>()
        .join("; ");
    Some(ApiError::new(StatusCode::BAD_REQUEST, first.code, message))
}

macro_rules! decode_config {
    ($ty:ty, $xml:expr, $what:expr) => {{
        let (_, tree) =
            crate::model::tree::from_xml($xml.as_bytes()).map_err(|e| format!("{}: {e}", $what))?;
        let mut d = Diagnostics::default();
        let cfg = <$ty>::from_tree(&tree, &mut d);
        match cfg {
            Some(c) if d.errors.is_empty() => c,
            _ => {
                return Err(format!(
                    "{}: stored config does not decode: {:?}",
                    $what, d.errors
                ));
            }
        }
    }};
}

impl Registry {
    /// Opens the registry: loads every stored record. A record that cannot be read is an error
    /// naming it (writes are atomic, so this means outside interference, not a crash).
    pub async fn open(
        store: StateStore,
        domain_suffix: &str,
        on_change: OnChange,
    ) -> Result<Self, String> {
        let mut state = State::default();
        let env = |kind: Kind, id: &str, bytes: &Bytes| -> Result<Envelope, String> {
            serde_json::from_slice(bytes)
                .map_err(|e| format!("{}/{id}: unreadable record: {e}", kind.prefix()))
        };
        let ver = |e: &Envelope| {
            (
                e.id.clone(),
                e.etag.clone(),
                e.created,
                e.last_modified,
                e.declared,
            )
        };
        for (id, bytes) in store
            .load_all(Kind::Distribution)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::Distribution, &id, &bytes)?;
            let config = decode_config!(
                DistributionConfig,
                e.config_xml,
                format!("distribution {id}")
            );
            let (id, etag, created, last_modified, declared) = ver(&e);
            let domain_name = e
                .domain_name
                .clone()
                .unwrap_or_else(|| crate::ids::domain_name(domain_suffix));
            state.distributions.insert(
                id.clone(),
                DistributionEntry {
                    v: Versioned {
                        id,
                        etag,
                        created,
                        last_modified,
                        declared,
                        config,
                    },
                    domain_name,
                },
            );
        }
        for (id, bytes) in store
            .load_all(Kind::Invalidation)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::Invalidation, &id, &bytes)?;
            let batch = decode_config!(
                InvalidationBatch,
                e.config_xml,
                format!("invalidation {id}")
            );
            let dist = e.distribution_id.clone().unwrap_or_default();
            state
                .invalidations
                .entry(dist.clone())
                .or_default()
                .push(InvalidationEntry {
                    id: e.id,
                    distribution_id: dist,
                    created: e.created,
                    status: e.status.unwrap_or_else(|| "Completed".into()),
                    batch,
                });
        }
        for list in state.invalidations.values_mut() {
            list.sort_by_key(|i| i.created);
        }
        for (id, bytes) in store
            .load_all(Kind::PublicKey)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::PublicKey, &id, &bytes)?;
            let config = decode_config!(PublicKeyConfig, e.config_xml, format!("public key {id}"));
            let (id, etag, created, last_modified, declared) = ver(&e);
            state.public_keys.insert(
                id.clone(),
                Versioned {
                    id,
                    etag,
                    created,
                    last_modified,
                    declared,
                    config,
                },
            );
        }
        for (id, bytes) in store
            .load_all(Kind::KeyGroup)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::KeyGroup, &id, &bytes)?;
            let config = decode_config!(KeyGroupConfig, e.config_xml, format!("key group {id}"));
            let (id, etag, created, last_modified, declared) = ver(&e);
            state.key_groups.insert(
                id.clone(),
                Versioned {
                    id,
                    etag,
                    created,
                    last_modified,
                    declared,
                    config,
                },
            );
        }
        for (id, bytes) in store
            .load_all(Kind::CachePolicy)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::CachePolicy, &id, &bytes)?;
            let config = decode_config!(
                CachePolicyConfig,
                e.config_xml,
                format!("cache policy {id}")
            );
            let (id, etag, created, last_modified, declared) = ver(&e);
            state.cache_policies.insert(
                id.clone(),
                Versioned {
                    id,
                    etag,
                    created,
                    last_modified,
                    declared,
                    config,
                },
            );
        }
        for (id, bytes) in store
            .load_all(Kind::OriginRequestPolicy)
            .await
            .map_err(|e| e.to_string())?
        {
            let e = env(Kind::OriginRequestPolicy, &id, &bytes)?;
            let config = decode_config!(
                OriginRequestPolicyConfig,
                e.config_xml,
                format!("origin request policy {id}")
            );
            let (id, etag, created, last_modified, declared) = ver(&e);
            state.origin_request_policies.insert(
                id.clone(),
                Versioned {
                    id,
                    etag,
                    created,
                    last_modified,
                    declared,
                    config,
                },
            );
        }
        on_change(&state);
        Ok(Self {
            store,
            state: tokio::sync::Mutex::new(state),
            domain_suffix: domain_suffix.to_owned(),
            on_change,
        })
    }

    /// A copy of the current state (for reads and listings).
    pub async fn snapshot(&self) -> State {
        self.state.lock().await.clone()
    }

    async fn persist(&self, kind: Kind, env: &Envelope) -> Result<(), ApiError> {
        let id = match kind {
            Kind::Invalidation => format!(
                "{}/{}",
                env.distribution_id.as_deref().unwrap_or("-"),
                env.id
            ),
            _ => env.id.clone(),
        };
        let bytes = serde_json::to_vec(env).map_err(ApiError::internal)?;
        self.store
            .put(kind, &id, Bytes::from(bytes))
            .await
            .map_err(ApiError::internal)
    }

    fn envelope<C>(v: &Versioned<C>, config_xml: String) -> Envelope {
        Envelope {
            id: v.id.clone(),
            etag: v.etag.clone(),
            created: v.created,
            last_modified: v.last_modified,
            domain_name: None,
            distribution_id: None,
            status: None,
            declared: v.declared,
            config_xml,
        }
    }

    // === distributions ===

    fn check_distribution_refs(
        state: &State,
        cfg: &DistributionConfig,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        for id in cfg.referenced_cache_policy_ids() {
            let managed = crate::model::managed_cache_policies()
                .iter()
                .any(|m| m.id == id);
            if !managed && !state.cache_policies.contains_key(id) {
                return Err(ApiError::not_found(
                    "NoSuchCachePolicy",
                    format!("The cache policy {id} does not exist."),
                ));
            }
        }
        for id in cfg.referenced_origin_request_policy_ids() {
            let managed = crate::model::managed_origin_request_policies()
                .iter()
                .any(|m| m.id == id);
            if !managed && !state.origin_request_policies.contains_key(id) {
                return Err(ApiError::not_found(
                    "NoSuchOriginRequestPolicy",
                    format!("The origin request policy {id} does not exist."),
                ));
            }
        }
        for id in cfg.referenced_key_group_ids() {
            if !state.key_groups.contains_key(id) {
                return Err(ApiError::invalid_argument(format!(
                    "The key group {id} does not exist."
                )));
            }
        }
        for alias in &cfg.aliases {
            let taken = state.distributions.values().any(|d| {
                Some(d.v.id.as_str()) != except
                    && d.v
                        .config
                        .aliases
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(alias))
            });
            if taken {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "CNAMEAlreadyExists",
                    format!(
                        "One or more of the CNAMEs you provided are already associated with a different resource: {alias}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// CreateDistribution. Returns the entry and whether it was newly created (an identical
    /// repeat of a CallerReference returns the existing one).
    pub async fn create_distribution(
        &self,
        cfg: DistributionConfig,
        fixed: Option<(String, Option<String>)>,
        declared: bool,
    ) -> Result<(DistributionEntry, bool), ApiError> {
        let mut state = self.state.lock().await;
        if let Some(existing) = state.distributions.values().find(|d| {
            d.v.config.caller_reference == cfg.caller_reference
                && fixed.as_ref().is_none_or(|(id, _)| *id == d.v.id)
        }) {
            if existing.v.config == cfg {
                return Ok((existing.clone(), false));
            }
            if fixed.is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "DistributionAlreadyExists",
                    format!(
                        "The caller reference that you are using to create a distribution is associated with another distribution: {}",
                        existing.v.id
                    ),
                ));
            }
        }
        Self::check_distribution_refs(&state, &cfg, fixed.as_ref().map(|(id, _)| id.as_str()))?;
        let t = now();
        let (id, domain) = match fixed {
            Some((id, domain)) => {
                let domain = domain
                    .or_else(|| state.distributions.get(&id).map(|d| d.domain_name.clone()))
                    .unwrap_or_else(|| crate::ids::domain_name(&self.domain_suffix));
                (id, domain)
            }
            None => (
                crate::ids::distribution_id(),
                crate::ids::domain_name(&self.domain_suffix),
            ),
        };
        let created = state
            .distributions
            .get(&id)
            .map(|d| d.v.created)
            .unwrap_or(t);
        let entry = DistributionEntry {
            v: Versioned {
                id: id.clone(),
                etag: crate::ids::etag(),
                created,
                last_modified: t,
                declared,
                config: cfg,
            },
            domain_name: domain,
        };
        let mut env = Self::envelope(
            &entry.v,
            entry.v.config.to_tree().to_xml("DistributionConfig"),
        );
        env.domain_name = Some(entry.domain_name.clone());
        self.persist(Kind::Distribution, &env).await?;
        state.distributions.insert(id, entry.clone());
        (self.on_change)(&state);
        Ok((entry, true))
    }

    /// GetDistribution.
    pub async fn distribution(&self, id: &str) -> Result<DistributionEntry, ApiError> {
        self.state
            .lock()
            .await
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(no_such_distribution)
    }

    /// UpdateDistribution (`If-Match` required; the CallerReference cannot change).
    pub async fn update_distribution(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: DistributionConfig,
    ) -> Result<DistributionEntry, ApiError> {
        let mut state = self.state.lock().await;
        let current = state
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(no_such_distribution)?;
        check_if_match(if_match, &current.v.etag)?;
        if current.v.config.caller_reference != cfg.caller_reference {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "IllegalUpdate",
                "The CallerReference of a distribution cannot be changed.",
            ));
        }
        Self::check_distribution_refs(&state, &cfg, Some(id))?;
        let mut entry = current;
        entry.v.config = cfg;
        entry.v.etag = crate::ids::etag();
        entry.v.last_modified = now();
        let mut env = Self::envelope(
            &entry.v,
            entry.v.config.to_tree().to_xml("DistributionConfig"),
        );
        env.domain_name = Some(entry.domain_name.clone());
        self.persist(Kind::Distribution, &env).await?;
        state.distributions.insert(id.to_owned(), entry.clone());
        (self.on_change)(&state);
        Ok(entry)
    }

    /// DeleteDistribution: only a disabled distribution, with the current `If-Match`.
    pub async fn delete_distribution(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        let current = state
            .distributions
            .get(id)
            .ok_or_else(no_such_distribution)?;
        check_if_match(if_match, &current.v.etag)?;
        if current.v.config.enabled {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "DistributionNotDisabled",
                "The distribution you are trying to delete has not been disabled.",
            ));
        }
        self.store
            .delete(Kind::Distribution, id)
            .await
            .map_err(ApiError::internal)?;
        for inv in state.invalidations.remove(id).unwrap_or_default() {
            let _ = self
                .store
                .delete(Kind::Invalidation, &format!("{id}/{}", inv.id))
                .await;
        }
        state.distributions.remove(id);
        (self.on_change)(&state);
        Ok(())
    }

    // === invalidations ===

    /// CreateInvalidation: the caller has already removed matching entries from the edge cache,
    /// so the invalidation is stored as `Completed`. Returns `(entry, created)`.
    pub async fn create_invalidation(
        &self,
        distribution_id: &str,
        batch: InvalidationBatch,
    ) -> Result<(InvalidationEntry, bool), ApiError> {
        let mut state = self.state.lock().await;
        if !state.distributions.contains_key(distribution_id) {
            return Err(no_such_distribution());
        }
        if let Some(existing) = state.invalidations.get(distribution_id).and_then(|l| {
            l.iter()
                .find(|i| i.batch.caller_reference == batch.caller_reference)
        }) {
            if existing.batch.paths == batch.paths {
                return Ok((existing.clone(), false));
            }
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidationBatchAlreadyExists",
                format!(
                    "An invalidation with CallerReference {} already exists with different paths.",
                    batch.caller_reference
                ),
            ));
        }
        let entry = InvalidationEntry {
            id: crate::ids::invalidation_id(),
            distribution_id: distribution_id.to_owned(),
            created: now(),
            status: "Completed".into(),
            batch,
        };
        let env = Envelope {
            id: entry.id.clone(),
            etag: String::new(),
            created: entry.created,
            last_modified: entry.created,
            domain_name: None,
            distribution_id: Some(distribution_id.to_owned()),
            status: Some(entry.status.clone()),
            declared: false,
            config_xml: entry.batch.to_tree().to_xml("InvalidationBatch"),
        };
        self.persist(Kind::Invalidation, &env).await?;
        state
            .invalidations
            .entry(distribution_id.to_owned())
            .or_default()
            .push(entry.clone());
        Ok((entry, true))
    }

    // === public keys ===

    /// CreatePublicKey (CallerReference idempotent).
    pub async fn create_public_key(
        &self,
        cfg: PublicKeyConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<(Versioned<PublicKeyConfig>, bool), ApiError> {
        let mut state = self.state.lock().await;
        if let Some(existing) = state
            .public_keys
            .values()
            .find(|k| k.config.caller_reference == cfg.caller_reference)
        {
            if existing.config == cfg && fixed_id.as_ref().is_none_or(|id| *id == existing.id) {
                return Ok((existing.clone(), false));
            }
            if fixed_id.as_ref() != Some(&existing.id) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "PublicKeyAlreadyExists",
                    format!(
                        "A public key with CallerReference {} already exists: {}",
                        cfg.caller_reference, existing.id
                    ),
                ));
            }
        }
        if state
            .public_keys
            .values()
            .any(|k| k.config.name == cfg.name && fixed_id.as_ref() != Some(&k.id))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "PublicKeyAlreadyExists",
                format!("A public key named {} already exists.", cfg.name),
            ));
        }
        let t = now();
        let id = fixed_id.unwrap_or_else(crate::ids::public_key_id);
        let created = state.public_keys.get(&id).map(|k| k.created).unwrap_or(t);
        let v = Versioned {
            id: id.clone(),
            etag: crate::ids::etag(),
            created,
            last_modified: t,
            declared,
            config: cfg,
        };
        self.persist(
            Kind::PublicKey,
            &Self::envelope(&v, v.config.to_tree().to_xml("PublicKeyConfig")),
        )
        .await?;
        state.public_keys.insert(id, v.clone());
        (self.on_change)(&state);
        Ok((v, true))
    }

    /// GetPublicKey.
    pub async fn public_key(&self, id: &str) -> Result<Versioned<PublicKeyConfig>, ApiError> {
        self.state
            .lock()
            .await
            .public_keys
            .get(id)
            .cloned()
            .ok_or_else(no_such_public_key)
    }

    /// UpdatePublicKey: only Comment may change (CloudFront: the key itself is immutable).
    pub async fn update_public_key(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: PublicKeyConfig,
    ) -> Result<Versioned<PublicKeyConfig>, ApiError> {
        let mut state = self.state.lock().await;
        let mut v = state
            .public_keys
            .get(id)
            .cloned()
            .ok_or_else(no_such_public_key)?;
        check_if_match(if_match, &v.etag)?;
        if v.config.encoded_key.trim() != cfg.encoded_key.trim()
            || v.config.caller_reference != cfg.caller_reference
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "CannotChangeImmutablePublicKeyFields",
                "You can't change the value of a public key.",
            ));
        }
        v.config = cfg;
        v.etag = crate::ids::etag();
        v.last_modified = now();
        self.persist(
            Kind::PublicKey,
            &Self::envelope(&v, v.config.to_tree().to_xml("PublicKeyConfig")),
        )
        .await?;
        state.public_keys.insert(id.to_owned(), v.clone());
        (self.on_change)(&state);
        Ok(v)
    }

    /// DeletePublicKey: refused while a key group uses it.
    pub async fn delete_public_key(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        let v = state.public_keys.get(id).ok_or_else(no_such_public_key)?;
        check_if_match(if_match, &v.etag)?;
        if state
            .key_groups
            .values()
            .any(|g| g.config.items.iter().any(|k| *k == id))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "PublicKeyInUse",
                format!(
                    "The public key {id} is used by a key group; remove it from the group first."
                ),
            ));
        }
        self.store
            .delete(Kind::PublicKey, id)
            .await
            .map_err(ApiError::internal)?;
        state.public_keys.remove(id);
        (self.on_change)(&state);
        Ok(())
    }

    // === key groups ===

    fn check_key_group(
        state: &State,
        cfg: &KeyGroupConfig,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        for k in &cfg.items {
            if !state.public_keys.contains_key(k) {
                return Err(ApiError::not_found(
                    "NoSuchPublicKey",
                    format!("The public key {k} does not exist."),
                ));
            }
        }
        if state
            .key_groups
            .values()
            .any(|g| g.config.name == cfg.name && Some(g.id.as_str()) != except)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "KeyGroupAlreadyExists",
                format!("A key group named {} already exists.", cfg.name),
            ));
        }
        Ok(())
    }

    /// CreateKeyGroup.
    pub async fn create_key_group(
        &self,
        cfg: KeyGroupConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<KeyGroupConfig>, ApiError> {
        let mut state = self.state.lock().await;
        Self::check_key_group(&state, &cfg, fixed_id.as_deref())?;
        let t = now();
        let id = fixed_id.unwrap_or_else(crate::ids::uuid);
        let created = state.key_groups.get(&id).map(|g| g.created).unwrap_or(t);
        let v = Versioned {
            id: id.clone(),
            etag: crate::ids::etag(),
            created,
            last_modified: t,
            declared,
            config: cfg,
        };
        self.persist(
            Kind::KeyGroup,
            &Self::envelope(&v, v.config.to_tree().to_xml("KeyGroupConfig")),
        )
        .await?;
        state.key_groups.insert(id, v.clone());
        (self.on_change)(&state);
        Ok(v)
    }

    /// GetKeyGroup.
    pub async fn key_group(&self, id: &str) -> Result<Versioned<KeyGroupConfig>, ApiError> {
        self.state
            .lock()
            .await
            .key_groups
            .get(id)
            .cloned()
            .ok_or_else(no_such_key_group)
    }

    /// UpdateKeyGroup (key rotation: takes effect on the next request).
    pub async fn update_key_group(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: KeyGroupConfig,
    ) -> Result<Versioned<KeyGroupConfig>, ApiError> {
        let mut state = self.state.lock().await;
        let mut v = state
            .key_groups
            .get(id)
            .cloned()
            .ok_or_else(no_such_key_group)?;
        check_if_match(if_match, &v.etag)?;
        Self::check_key_group(&state, &cfg, Some(id))?;
        v.config = cfg;
        v.etag = crate::ids::etag();
        v.last_modified = now();
        self.persist(
            Kind::KeyGroup,
            &Self::envelope(&v, v.config.to_tree().to_xml("KeyGroupConfig")),
        )
        .await?;
        state.key_groups.insert(id.to_owned(), v.clone());
        (self.on_change)(&state);
        Ok(v)
    }

    /// DeleteKeyGroup: refused while a distribution trusts it.
    pub async fn delete_key_group(&self, id: &str, if_match: Option<&str>) -> Result<(), ApiError> {
        let mut state = self.state.lock().await;
        let v = state.key_groups.get(id).ok_or_else(no_such_key_group)?;
        check_if_match(if_match, &v.etag)?;
        if state
            .distributions
            .values()
            .any(|d| d.v.config.referenced_key_group_ids().contains(&id))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ResourceInUse",
                format!(
                    "The key group {id} is trusted by a distribution; remove it from the cache behaviors first."
                ),
            ));
        }
        self.store
            .delete(Kind::KeyGroup, id)
            .await
            .map_err(ApiError::internal)?;
        state.key_groups.remove(id);
        (self.on_change)(&state);
        Ok(())
    }

    // === policies ===

    /// CreateCachePolicy.
    pub async fn create_cache_policy(
        &self,
        cfg: CachePolicyConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<CachePolicyConfig>, ApiError> {
        let mut state = self.state.lock().await;
        let managed = crate::model::managed_cache_policies()
            .iter()
            .any(|m| m.name == cfg.name);
        if managed
            || state
                .cache_policies
                .values()
                .any(|p| p.config.name == cfg.name && fixed_id.as_ref() != Some(&p.id))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "CachePolicyAlreadyExists",
                format!("A cache policy named {} already exists.", cfg.name),
            ));
        }
        let custom = state.cache_policies.len();
        if fixed_id.is_none() && custom >= 20 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "TooManyCachePolicies",
                "You have reached the maximum number of cache policies (20).",
            ));
        }
        let t = now();
        let id = fixed_id.unwrap_or_else(crate::ids::uuid);
        let created = state
            .cache_policies
            .get(&id)
            .map(|p| p.created)
            .unwrap_or(t);
        let v = Versioned {
            id: id.clone(),
            etag: crate::ids::etag(),
            created,
            last_modified: t,
            declared,
            config: cfg,
        };
        self.persist(
            Kind::CachePolicy,
            &Self::envelope(&v, v.config.to_tree().to_xml("CachePolicyConfig")),
        )
        .await?;
        state.cache_policies.insert(id, v.clone());
        (self.on_change)(&state);
        Ok(v)
    }

    /// CreateOriginRequestPolicy.
    pub async fn create_origin_request_policy(
        &self,
        cfg: OriginRequestPolicyConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<OriginRequestPolicyConfig>, ApiError> {
        let mut state = self.state.lock().await;
        let managed = crate::model::managed_origin_request_policies()
            .iter()
            .any(|m| m.name == cfg.name);
        if managed
            || state
                .origin_request_policies
                .values()
                .any(|p| p.config.name == cfg.name && fixed_id.as_ref() != Some(&p.id))
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "OriginRequestPolicyAlreadyExists",
                format!(
                    "An origin request policy named {} already exists.",
                    cfg.name
                ),
            ));
        }
        let t = now();
        let id = fixed_id.unwrap_or_else(crate::ids::uuid);
        let created = state
            .origin_request_policies
            .get(&id)
            .map(|p| p.created)
            .unwrap_or(t);
        let v = Versioned {
            id: id.clone(),
            etag: crate::ids::etag(),
            created,
            last_modified: t,
            declared,
            config: cfg,
        };
        self.persist(
            Kind::OriginRequestPolicy,
            &Self::envelope(&v, v.config.to_tree().to_xml("OriginRequestPolicyConfig")),
        )
        .await?;
        state.origin_request_policies.insert(id, v.clone());
        (self.on_change)(&state);
        Ok(v)
    }
}

fn no_such_distribution() -> ApiError {
    ApiError::not_found(
        "NoSuchDistribution",
        "The specified distribution does not exist.",
    )
}

fn no_such_public_key() -> ApiError {
    ApiError::not_found(
        "NoSuchPublicKey",
        "The specified public key does not exist.",
    )
}

fn no_such_key_group() -> ApiError {
    ApiError::not_found("NoSuchResource", "The specified key group does not exist.")
}
