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
use time::OffsetDateTime;

use super::error::StateError;
use super::record::Envelope;
use super::store::{Kind, StateStore};
use crate::model::origin_access::{
    CloudFrontOriginAccessIdentityConfig, MAX_ORIGIN_ACCESS_CONTROLS, MAX_ORIGIN_ACCESS_IDENTITIES,
    OAI_PREFIX, OriginAccessControlConfig, OriginAccessControlOriginType,
};
use crate::model::tags::{MAX_TAGS, Tag};
use crate::model::{
    CachePolicyConfig, Diagnostics, DistributionConfig, Document, InvalidationBatch,
    KeyGroupConfig, OriginRequestPolicyConfig, PublicKeyConfig, ResponseHeadersPolicyConfig,
};

/// CloudFront's default quota of custom cache policies per account.
const MAX_CACHE_POLICIES: usize = 20;

/// The quota of a kind of named resource: how many there may be, and the error beyond it.
type Quota = Option<(usize, fn(usize) -> StateError)>;

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
    /// Its tags (TagResource, CreateDistributionWithTags), in the order they were added.
    pub tags: Vec<Tag>,
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
    /// Custom response headers policies by id.
    pub response_headers_policies: BTreeMap<String, Versioned<ResponseHeadersPolicyConfig>>,
    /// Origin access controls by id.
    pub origin_access_controls: BTreeMap<String, Versioned<OriginAccessControlConfig>>,
    /// Legacy origin access identities by id.
    pub origin_access_identities: BTreeMap<String, Versioned<CloudFrontOriginAccessIdentityConfig>>,
    /// CloudFront Functions by name (changed through [`Registry::change_function`]).
    pub functions: BTreeMap<String, crate::functions::FunctionEntry>,
    /// KeyValueStores by name (changed through [`Registry::change_key_value_store`]).
    pub key_value_stores: BTreeMap<String, crate::functions::kvs::StoreEntry>,
}

/// What a change to one key value store writes ([`Registry::change_key_value_store`]).
#[derive(Debug)]
pub enum StoreChange {
    /// Store this resource (created, or its comment changed) with its current items.
    Put(Box<crate::functions::kvs::StoreEntry>),
    /// Replace the items of the store (a data-plane write); the routes are not recompiled.
    Items(Box<crate::functions::kvs::StoreData>),
    /// Delete the store.
    Delete,
}

/// What a change to one function writes ([`Registry::change_function`]).
#[derive(Debug)]
pub enum FunctionChange {
    /// Store this version of the function.
    Put(Box<crate::functions::FunctionEntry>),
    /// Delete the function.
    Delete,
}

/// Hook run after every change with the new state (publishes routes to the data plane).
pub type OnChange = Arc<dyn Fn(&State) + Send + Sync>;

/// The registry.
pub struct Registry {
    store: StateStore,
    /// This edge's membership of the fleet, on a shared store (`state::shared`).
    fleet: std::sync::OnceLock<Arc<super::shared::Fleet>>,
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

/// A document the registry persists, and where.
pub trait Stored: Document {
    /// Where it is stored.
    const KIND: Kind;
}

/// A document kept as one [`Versioned`] map of the [`State`], with the CRUD rules CloudFront
/// gives public keys, key groups and policies.
pub trait Collection: Stored {
    /// Its map in the state.
    fn map(state: &State) -> &BTreeMap<String, Versioned<Self>>;
    /// Its map in the state, for changes.
    fn map_mut(state: &mut State) -> &mut BTreeMap<String, Versioned<Self>>;
}

/// The error for an unknown id of a document kind.
fn not_found<C: Stored>(id: &str) -> StateError {
    StateError::not_found(C::KIND, id)
}

macro_rules! stored {
    ($($ty:ty => $kind:expr),+ $(,)?) => {$(
        impl Stored for $ty {
            const KIND: Kind = $kind;
        }
    )+};
}

macro_rules! collection {
    ($ty:ty, $field:ident) => {
        impl Collection for $ty {
            fn map(state: &State) -> &BTreeMap<String, Versioned<Self>> {
                &state.$field
            }
            fn map_mut(state: &mut State) -> &mut BTreeMap<String, Versioned<Self>> {
                &mut state.$field
            }
        }
    };
}

/// A policy kind (cache, origin request, response headers): named, with managed policies
/// CloudFront owns, used by distributions' behaviors, and for some a quota.
pub trait Policy: Collection {
    /// Its name.
    fn name(&self) -> &str;
    /// Whether `name` is a managed policy's.
    fn is_managed_name(name: &str) -> bool;
    /// Whether `id` is a managed policy's.
    fn is_managed_id(id: &str) -> bool;
    /// The ids of this kind a distribution's behaviors use.
    fn used_by(cfg: &DistributionConfig) -> Vec<&str>;
    /// The account's limit of custom policies of this kind, and its error.
    fn quota() -> Quota;
}

impl Policy for CachePolicyConfig {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_managed_name(name: &str) -> bool {
        crate::model::managed_cache_policies()
            .iter()
            .any(|m| m.name == name)
    }
    fn is_managed_id(id: &str) -> bool {
        crate::model::managed_cache_policies()
            .iter()
            .any(|m| m.id == id)
    }
    fn used_by(cfg: &DistributionConfig) -> Vec<&str> {
        cfg.referenced_cache_policy_ids()
    }
    fn quota() -> Quota {
        Some((MAX_CACHE_POLICIES, |limit| {
            StateError::TooManyCachePolicies { limit }
        }))
    }
}

impl Policy for OriginRequestPolicyConfig {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_managed_name(name: &str) -> bool {
        crate::model::managed_origin_request_policies()
            .iter()
            .any(|m| m.name == name)
    }
    fn is_managed_id(id: &str) -> bool {
        crate::model::managed_origin_request_policies()
            .iter()
            .any(|m| m.id == id)
    }
    fn used_by(cfg: &DistributionConfig) -> Vec<&str> {
        cfg.referenced_origin_request_policy_ids()
    }
    fn quota() -> Quota {
        None
    }
}

impl Policy for ResponseHeadersPolicyConfig {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_managed_name(name: &str) -> bool {
        crate::model::managed_response_headers_policies()
            .iter()
            .any(|m| m.name == name)
    }
    fn is_managed_id(id: &str) -> bool {
        crate::model::managed_response_headers_policies()
            .iter()
            .any(|m| m.id == id)
    }
    fn used_by(cfg: &DistributionConfig) -> Vec<&str> {
        cfg.referenced_response_headers_policy_ids()
    }
    fn quota() -> Quota {
        Some((crate::model::response_headers::MAX_POLICIES, |limit| {
            StateError::TooManyResponseHeadersPolicies { limit }
        }))
    }
}

stored!(
    DistributionConfig => Kind::Distribution,
    InvalidationBatch => Kind::Invalidation,
    PublicKeyConfig => Kind::PublicKey,
    KeyGroupConfig => Kind::KeyGroup,
    CachePolicyConfig => Kind::CachePolicy,
    OriginRequestPolicyConfig => Kind::OriginRequestPolicy,
    ResponseHeadersPolicyConfig => Kind::ResponseHeadersPolicy,
    OriginAccessControlConfig => Kind::OriginAccessControl,
    CloudFrontOriginAccessIdentityConfig => Kind::OriginAccessIdentity,
);
collection!(PublicKeyConfig, public_keys);
collection!(KeyGroupConfig, key_groups);
collection!(CachePolicyConfig, cache_policies);
collection!(OriginRequestPolicyConfig, origin_request_policies);
collection!(ResponseHeadersPolicyConfig, response_headers_policies);
collection!(OriginAccessControlConfig, origin_access_controls);
collection!(
    CloudFrontOriginAccessIdentityConfig,
    origin_access_identities
);

/// Every stored record of a document kind, decoded. A record that cannot be read names itself.
async fn load<C: Stored>(store: &StateStore) -> Result<Vec<(Envelope, C)>, StateError> {
    let mut out = Vec::new();
    for (id, bytes) in store.load_all(C::KIND).await? {
        let corrupt = |problem: String| StateError::CorruptRecord {
            record: format!("{}/{id}", C::KIND.prefix()),
            problem,
        };
        let e: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("unreadable record: {e}")))?;
        let (_, tree) = crate::model::tree::from_xml(e.config_xml.as_bytes())
            .map_err(|err| corrupt(err.to_string()))?;
        let mut d = Diagnostics::default();
        match C::decode(&tree, &mut d) {
            Some(c) if d.errors.is_empty() => out.push((e, c)),
            _ => return Err(corrupt(format!("stored config does not decode: {d}"))),
        }
    }
    Ok(out)
}

fn versioned<C>(e: &Envelope, config: C) -> Versioned<C> {
    Versioned {
        id: e.id.clone(),
        etag: e.etag.clone(),
        created: e.created,
        last_modified: e.last_modified,
        declared: e.declared,
        config,
    }
}

async fn load_collection<C: Collection>(
    store: &StateStore,
    state: &mut State,
) -> Result<(), StateError> {
    for (e, config) in load::<C>(store).await? {
        C::map_mut(state).insert(e.id.clone(), versioned(&e, config));
    }
    Ok(())
}

impl Registry {
    /// Opens the registry: loads every stored record. A record that cannot be read is an error
    /// naming it (writes are atomic, so this means outside interference, not a crash).
    pub async fn open(
        store: StateStore,
        domain_suffix: &str,
        on_change: OnChange,
    ) -> Result<Self, StateError> {
        let state = Self::load_state(&store, domain_suffix).await?;
        on_change(&state);
        Ok(Self {
            store,
            fleet: std::sync::OnceLock::new(),
            state: tokio::sync::Mutex::new(state),
            domain_suffix: domain_suffix.to_owned(),
            on_change,
        })
    }

    /// Every stored record, decoded into a [`State`].
    async fn load_state(store: &StateStore, domain_suffix: &str) -> Result<State, StateError> {
        let mut state = State::default();
        for (e, config) in load::<DistributionConfig>(store).await? {
            let domain_name = e
                .domain_name
                .clone()
                .unwrap_or_else(|| crate::ids::domain_name(domain_suffix));
            state.distributions.insert(
                e.id.clone(),
                DistributionEntry {
                    tags: e.tags.clone(),
                    v: versioned(&e, config),
                    domain_name,
                },
            );
        }
        for (e, batch) in load::<InvalidationBatch>(store).await? {
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
        load_collection::<PublicKeyConfig>(store, &mut state).await?;
        load_collection::<KeyGroupConfig>(store, &mut state).await?;
        load_collection::<CachePolicyConfig>(store, &mut state).await?;
        load_collection::<OriginRequestPolicyConfig>(store, &mut state).await?;
        load_collection::<ResponseHeadersPolicyConfig>(store, &mut state).await?;
        for (id, bytes) in store.load_all(Kind::Function).await? {
            let f: crate::functions::FunctionEntry =
                serde_json::from_slice(&bytes).map_err(|e| StateError::CorruptRecord {
                    record: format!("{}/{id}", Kind::Function.prefix()),
                    problem: format!("unreadable record: {e}"),
                })?;
            state.functions.insert(f.name.clone(), f);
        }
        for (id, bytes) in store.load_all(Kind::KeyValueStore).await? {
            let r: crate::functions::kvs::StoreRecord =
                serde_json::from_slice(&bytes).map_err(|e| StateError::CorruptRecord {
                    record: format!("{}/{id}", Kind::KeyValueStore.prefix()),
                    problem: format!("unreadable record: {e}"),
                })?;
            state.key_value_stores.insert(
                r.meta.name.clone(),
                crate::functions::kvs::StoreEntry::new(r.meta, r.data),
            );
        }
        load_collection::<OriginAccessControlConfig>(store, &mut state).await?;
        load_collection::<CloudFrontOriginAccessIdentityConfig>(store, &mut state).await?;
        Ok(state)
    }

    /// Reloads every record from the store (on a shared store: only the changed ones are
    /// fetched) and publishes the result, as another edge's change requires.
    pub async fn reload(&self) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let before = self.store.fingerprint();
        let fresh = Self::load_state(&self.store, &self.domain_suffix).await?;
        if before.is_some() && self.store.fingerprint() == before {
            return Ok(());
        }
        *state = fresh;
        tracing::info!("state reloaded from the store; routes rebuilt");
        (self.on_change)(&state);
        Ok(())
    }

    /// The store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// Joins the fleet sharing this registry's store (once; later calls are ignored).
    pub fn set_fleet(&self, fleet: Arc<super::shared::Fleet>) {
        let _ = self.fleet.set(fleet);
    }

    /// This edge's membership of a fleet, on a shared store.
    pub fn fleet(&self) -> Option<&Arc<super::shared::Fleet>> {
        self.fleet.get()
    }

    /// A distribution's `Status`: `Deployed` at once on a store of its own (changes apply here
    /// before the API answers); on a shared store, once every live edge serves this version.
    pub fn distribution_status(&self, d: &DistributionEntry) -> &'static str {
        match self.fleet() {
            Some(f) => f.distribution_status(&d.v.id, &d.v.etag),
            None => "Deployed",
        }
    }

    /// How many of a distribution's invalidations are `InProgress` (always 0 on a store of its
    /// own: an invalidation is executed before it is stored).
    pub fn invalidations_in_progress(&self, distribution_id: &str) -> u32 {
        self.fleet()
            .map_or(0, |f| f.invalidations_in_progress(distribution_id))
    }

    /// An invalidation's `Status`: as stored on a store of its own (`Completed`); on a shared
    /// store, `Completed` once every live edge has executed it.
    pub fn invalidation_status(&self, inv: &InvalidationEntry) -> String {
        match self.fleet() {
            Some(f) => f.invalidation_status(inv).to_owned(),
            None => inv.status.clone(),
        }
    }

    /// A copy of the current state (for reads and listings).
    pub async fn snapshot(&self) -> State {
        self.state.lock().await.clone()
    }

    async fn persist(&self, kind: Kind, env: &Envelope) -> Result<(), StateError> {
        let id = match kind {
            Kind::Invalidation => format!(
                "{}/{}",
                env.distribution_id.as_deref().unwrap_or("-"),
                env.id
            ),
            _ => env.id.clone(),
        };
        let bytes = serde_json::to_vec(env)?;
        Ok(self.store.put(kind, &id, Bytes::from(bytes)).await?)
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
            tags: Vec::new(),
        }
    }

    /// Writes a distribution's record (config, domain name and tags).
    async fn persist_distribution(&self, entry: &DistributionEntry) -> Result<(), StateError> {
        let mut env = Self::envelope(
            &entry.v,
            entry.v.config.to_tree().to_xml("DistributionConfig"),
        );
        env.domain_name = Some(entry.domain_name.clone());
        env.tags = entry.tags.clone();
        self.persist(Kind::Distribution, &env).await
    }

    // === CloudFront Functions (the operations are in `control::functions`) ===

    /// Changes the function `name` under the write lock: `f` sees the current state and
    /// decides the change (or refuses with its own error); the change is persisted before it
    /// is applied and published.
    pub async fn change_function<R, E: From<StateError>>(
        &self,
        name: &str,
        f: impl FnOnce(&State) -> Result<(FunctionChange, R), E>,
    ) -> Result<R, E> {
        let mut state = self.state.lock().await;
        let (change, out) = f(&state)?;
        match change {
            FunctionChange::Put(entry) => {
                let bytes = serde_json::to_vec(&entry).map_err(StateError::from)?;
                self.store
                    .put(Kind::Function, name, Bytes::from(bytes))
                    .await
                    .map_err(StateError::from)?;
                state.functions.insert(name.to_owned(), *entry);
            }
            FunctionChange::Delete => {
                self.store
                    .delete(Kind::Function, name)
                    .await
                    .map_err(StateError::from)?;
                state.functions.remove(name);
            }
        }
        (self.on_change)(&state);
        Ok(out)
    }

    /// Changes the key value store `name` under the write lock, as
    /// [`Registry::change_function`] does. A change of the items is persisted, then swapped
    /// into the store's cell, where the next invocation of every associated function reads it.
    pub async fn change_key_value_store<R, E: From<StateError>>(
        &self,
        name: &str,
        f: impl FnOnce(&State) -> Result<(StoreChange, R), E>,
    ) -> Result<R, E> {
        let mut state = self.state.lock().await;
        let (change, out) = f(&state)?;
        let put = |record: crate::functions::kvs::StoreRecord| async move {
            let bytes = serde_json::to_vec(&record).map_err(StateError::from)?;
            self.store
                .put(Kind::KeyValueStore, name, Bytes::from(bytes))
                .await
                .map_err(StateError::from)
        };
        match change {
            StoreChange::Put(entry) => {
                put(entry.record(&entry.data.load())).await?;
                state.key_value_stores.insert(name.to_owned(), *entry);
            }
            StoreChange::Items(data) => {
                let entry = state.key_value_stores.get(name).cloned().ok_or_else(|| {
                    StateError::NotFound {
                        kind: Kind::KeyValueStore,
                        id: name.to_owned(),
                    }
                })?;
                put(entry.record(&data)).await?;
                entry.data.store(std::sync::Arc::new(*data));
                return Ok(out);
            }
            StoreChange::Delete => {
                self.store
                    .delete(Kind::KeyValueStore, name)
                    .await
                    .map_err(StateError::from)?;
                state.key_value_stores.remove(name);
            }
        }
        (self.on_change)(&state);
        Ok(out)
    }

    // === distributions ===

    fn check_distribution_refs(
        state: &State,
        cfg: &DistributionConfig,
        except: Option<&str>,
    ) -> Result<(), StateError> {
        for id in cfg.referenced_cache_policy_ids() {
            let managed = crate::model::managed_cache_policies()
                .iter()
                .any(|m| m.id == id);
            if !managed && !state.cache_policies.contains_key(id) {
                return Err(StateError::MissingReference {
                    kind: Kind::CachePolicy,
                    id: id.to_owned(),
                });
            }
        }
        for id in cfg.referenced_origin_request_policy_ids() {
            let managed = crate::model::managed_origin_request_policies()
                .iter()
                .any(|m| m.id == id);
            if !managed && !state.origin_request_policies.contains_key(id) {
                return Err(StateError::MissingReference {
                    kind: Kind::OriginRequestPolicy,
                    id: id.to_owned(),
                });
            }
        }
        for id in cfg.referenced_response_headers_policy_ids() {
            let managed = crate::model::response_headers::managed_response_headers_policy(id);
            if managed.is_none() && !state.response_headers_policies.contains_key(id) {
                return Err(StateError::MissingReference {
                    kind: Kind::ResponseHeadersPolicy,
                    id: id.to_owned(),
                });
            }
            let limit = crate::model::response_headers::MAX_DISTRIBUTIONS_PER_POLICY;
            let users = state
                .distributions
                .values()
                .filter(|d| Some(d.v.id.as_str()) != except)
                .filter(|d| {
                    d.v.config
                        .referenced_response_headers_policy_ids()
                        .contains(&id)
                })
                .count();
            if users >= limit {
                return Err(StateError::TooManyDistributionsForResponseHeadersPolicy {
                    id: id.to_owned(),
                    limit,
                });
            }
        }
        Self::check_origin_access(state, cfg)?;
        for id in cfg.referenced_key_group_ids() {
            if !state.key_groups.contains_key(id) {
                return Err(StateError::MissingReference {
                    kind: Kind::KeyGroup,
                    id: id.to_owned(),
                });
            }
        }
        // CloudFront Functions: only published (LIVE) ones can be associated.
        for arn in cfg.referenced_function_arns() {
            if !state
                .functions
                .values()
                .any(|f| f.arn == arn && f.live.is_some())
            {
                return Err(StateError::MissingReference {
                    kind: Kind::Function,
                    id: arn.to_owned(),
                });
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
                return Err(StateError::CnameTaken {
                    alias: alias.clone(),
                });
            }
        }
        Ok(())
    }

    /// CreateDistribution. Returns the entry and whether it was newly created. A CallerReference
    /// already used is `CallerReferenceReused` (CloudFront's DistributionAlreadyExists), whatever
    /// the config; with `fixed` (a declared distribution re-applied at start) an unchanged
    /// config returns the existing entry and a changed one replaces it.
    pub async fn create_distribution(
        &self,
        cfg: DistributionConfig,
        fixed: Option<(String, Option<String>)>,
        declared: bool,
    ) -> Result<(DistributionEntry, bool), StateError> {
        self.create_distribution_with_tags(cfg, Vec::new(), fixed, declared)
            .await
    }

    /// CreateDistributionWithTags: [`Registry::create_distribution`] with the distribution's
    /// first tags.
    pub async fn create_distribution_with_tags(
        &self,
        cfg: DistributionConfig,
        tags: Vec<Tag>,
        fixed: Option<(String, Option<String>)>,
        declared: bool,
    ) -> Result<(DistributionEntry, bool), StateError> {
        let mut state = self.state.lock().await;
        if let Some(existing) = state.distributions.values().find(|d| {
            d.v.config.caller_reference == cfg.caller_reference
                && fixed.as_ref().is_none_or(|(id, _)| *id == d.v.id)
        }) {
            // A declared distribution re-applied unchanged at start is left as it is. Through
            // the API a CallerReference is never reused, even with the same config: the current
            // model documents DistributionAlreadyExists for any repeat.
            if fixed.is_some() && existing.v.config == cfg {
                return Ok((existing.clone(), false));
            }
            if declared {
                self.warn_redeclared(Kind::Distribution, &existing.v.id);
            }
            if fixed.is_none() {
                return Err(StateError::CallerReferenceReused {
                    kind: Kind::Distribution,
                    caller_reference: cfg.caller_reference.clone(),
                    existing: existing.v.id.clone(),
                });
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
            // A declared distribution re-applied at start keeps the tags it was given.
            tags: if tags.is_empty() {
                state
                    .distributions
                    .get(&id)
                    .map(|d| d.tags.clone())
                    .unwrap_or_default()
            } else {
                tags
            },
        };
        self.persist_distribution(&entry).await?;
        state.distributions.insert(id, entry.clone());
        (self.on_change)(&state);
        Ok((entry, true))
    }

    /// GetDistribution.
    pub async fn distribution(&self, id: &str) -> Result<DistributionEntry, StateError> {
        self.state
            .lock()
            .await
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<DistributionConfig>(id))
    }

    /// UpdateDistribution (`If-Match` required; the CallerReference cannot change).
    pub async fn update_distribution(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: DistributionConfig,
    ) -> Result<DistributionEntry, StateError> {
        let mut state = self.state.lock().await;
        let current = state
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<DistributionConfig>(id))?;
        StateError::check_if_match(if_match, &current.v.etag)?;
        if current.v.config.caller_reference != cfg.caller_reference {
            return Err(StateError::CallerReferenceChanged {
                kind: Kind::Distribution,
            });
        }
        Self::check_distribution_refs(&state, &cfg, Some(id))?;
        let mut entry = current;
        entry.v.config = cfg;
        entry.v.etag = crate::ids::etag();
        entry.v.last_modified = now();
        self.persist_distribution(&entry).await?;
        state.distributions.insert(id.to_owned(), entry.clone());
        (self.on_change)(&state);
        Ok(entry)
    }

    /// DeleteDistribution: only a disabled distribution, with the current `If-Match`.
    pub async fn delete_distribution(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let current = state
            .distributions
            .get(id)
            .ok_or_else(|| not_found::<DistributionConfig>(id))?;
        StateError::check_if_match(if_match, &current.v.etag)?;
        if current.v.config.enabled {
            return Err(StateError::DistributionNotDisabled { id: id.to_owned() });
        }
        self.store.delete(Kind::Distribution, id).await?;
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

    /// TagResource on a distribution: adds the tags, replacing the value of a key it already
    /// has. The distribution's ETag does not change (tags are not part of its config).
    pub async fn tag_distribution(&self, id: &str, tags: Vec<Tag>) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let mut entry = state
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<DistributionConfig>(id))?;
        for t in tags {
            match entry.tags.iter_mut().find(|o| o.key == t.key) {
                Some(o) => o.value = t.value,
                None => entry.tags.push(t),
            }
        }
        if entry.tags.len() > MAX_TAGS {
            return Err(StateError::TooManyTags {
                limit: MAX_TAGS,
                count: entry.tags.len(),
            });
        }
        self.persist_distribution(&entry).await?;
        state.distributions.insert(id.to_owned(), entry);
        Ok(())
    }

    /// UntagResource on a distribution: removes the keys it has (unknown keys are ignored).
    pub async fn untag_distribution(&self, id: &str, keys: &[String]) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let mut entry = state
            .distributions
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<DistributionConfig>(id))?;
        entry.tags.retain(|t| !keys.contains(&t.key));
        self.persist_distribution(&entry).await?;
        state.distributions.insert(id.to_owned(), entry);
        Ok(())
    }

    // === invalidations ===

    /// CreateInvalidation: the caller has already removed matching entries from the edge cache,
    /// so the invalidation is stored as `Completed`. Returns `(entry, created)`.
    pub async fn create_invalidation(
        &self,
        distribution_id: &str,
        batch: InvalidationBatch,
    ) -> Result<(InvalidationEntry, bool), StateError> {
        let mut state = self.state.lock().await;
        if !state.distributions.contains_key(distribution_id) {
            return Err(not_found::<DistributionConfig>(distribution_id));
        }
        if let Some(existing) = state.invalidations.get(distribution_id).and_then(|l| {
            l.iter()
                .find(|i| i.batch.caller_reference == batch.caller_reference)
        }) {
            if existing.batch.paths == batch.paths {
                return Ok((existing.clone(), false));
            }
            return Err(StateError::CallerReferenceReused {
                kind: Kind::Invalidation,
                caller_reference: batch.caller_reference,
                existing: existing.id.clone(),
            });
        }
        let entry = InvalidationEntry {
            id: crate::ids::invalidation_id(),
            distribution_id: distribution_id.to_owned(),
            created: now(),
            // On a shared store the other edges execute it when they see it.
            status: if self.store.is_shared() {
                "InProgress".into()
            } else {
                "Completed".into()
            },
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
            tags: Vec::new(),
        };
        self.persist(Kind::Invalidation, &env).await?;
        if let Some(f) = self.fleet() {
            f.mark_purged(&entry);
        }
        state
            .invalidations
            .entry(distribution_id.to_owned())
            .or_default()
            .push(entry.clone());
        Ok((entry, true))
    }

    // === collections: public keys, key groups, policies ===

    /// Persists a version of a collection document, then makes it current and publishes it.
    async fn put<C: Collection>(
        &self,
        state: &mut State,
        v: Versioned<C>,
    ) -> Result<Versioned<C>, StateError> {
        self.persist(
            C::KIND,
            &Self::envelope(&v, v.config.encode().to_xml(C::ROOT)),
        )
        .await?;
        C::map_mut(state).insert(v.id.clone(), v.clone());
        (self.on_change)(state);
        Ok(v)
    }

    /// A declaration re-applied at start: the current version when it is unchanged (nothing is
    /// written, so restarting a fleet does not churn the shared state), else `None`. On a
    /// shared store a changed one is logged, since it replaces what the API or another edge's
    /// config file made.
    fn redeclared<C: Collection>(
        &self,
        state: &State,
        fixed_id: Option<&str>,
        cfg: &C,
        declared: bool,
    ) -> Option<Versioned<C>> {
        let existing = C::map(state).get(fixed_id?)?;
        if !declared {
            return None;
        }
        if existing.config == *cfg {
            return Some(existing.clone());
        }
        self.warn_redeclared(C::KIND, &existing.id);
        None
    }

    /// The warning of [`Registry::redeclared`] for a declaration that replaces a shared copy.
    fn warn_redeclared(&self, kind: Kind, id: &str) {
        if self.store.is_shared() {
            tracing::warn!(
                "declared {} {id} differs from its copy in the shared state (changed through \
                 the API, or declared differently by another edge): this edge's declaration \
                 replaces it; give every edge the same declarations",
                kind.noun()
            );
        }
    }

    /// A new version of `id`, keeping its creation time when it already exists.
    fn version<C: Collection>(
        state: &State,
        id: String,
        declared: bool,
        config: C,
    ) -> Versioned<C> {
        let t = now();
        let created = C::map(state).get(&id).map(|v| v.created).unwrap_or(t);
        Versioned {
            id,
            etag: crate::ids::etag(),
            created,
            last_modified: t,
            declared,
            config,
        }
    }

    async fn get<C: Collection>(&self, id: &str) -> Result<Versioned<C>, StateError> {
        C::map(&*self.state.lock().await)
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<C>(id))
    }

    /// An update: `If-Match` must name the current version, then `check` sees the current and
    /// the new config.
    async fn update<C: Collection>(
        &self,
        id: &str,
        if_match: Option<&str>,
        config: C,
        check: impl FnOnce(&State, &Versioned<C>, &C) -> Result<(), StateError>,
    ) -> Result<Versioned<C>, StateError> {
        let mut state = self.state.lock().await;
        let current = C::map(&state)
            .get(id)
            .cloned()
            .ok_or_else(|| not_found::<C>(id))?;
        StateError::check_if_match(if_match, &current.etag)?;
        check(&state, &current, &config)?;
        let v = Self::version(&state, id.to_owned(), current.declared, config);
        self.put(&mut state, v).await
    }

    /// A delete: `If-Match` must name the current version and `in_use` must allow it.
    async fn delete<C: Collection>(
        &self,
        id: &str,
        if_match: Option<&str>,
        in_use: impl FnOnce(&State) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let mut state = self.state.lock().await;
        let v = C::map(&state).get(id).ok_or_else(|| not_found::<C>(id))?;
        StateError::check_if_match(if_match, &v.etag)?;
        in_use(&state)?;
        self.store.delete(C::KIND, id).await?;
        C::map_mut(&mut state).remove(id);
        (self.on_change)(&state);
        Ok(())
    }

    /// Refuses a name already used by another document of the collection (or a managed one).
    fn unique_name<C: Collection>(
        state: &State,
        name: impl Fn(&C) -> &str,
        wanted: &str,
        except: Option<&str>,
        managed: bool,
    ) -> Result<(), StateError> {
        let taken = C::map(state)
            .values()
            .any(|v| name(&v.config) == wanted && Some(v.id.as_str()) != except);
        if managed || taken {
            return Err(StateError::NameTaken {
                kind: C::KIND,
                name: wanted.to_owned(),
            });
        }
        Ok(())
    }

    /// Creates a named resource: its name unique among its kind and not a managed resource's
    /// (`managed`), at most `limit` of them (a declared one that replaces itself does not count),
    /// and a new id from `new_id` unless the declaration fixes one.
    #[allow(clippy::too_many_arguments)]
    async fn create_named<C: Collection>(
        &self,
        cfg: C,
        name: impl Fn(&C) -> &str,
        fixed_id: Option<String>,
        declared: bool,
        managed: bool,
        limit: Quota,
        new_id: fn() -> String,
    ) -> Result<Versioned<C>, StateError> {
        let mut state = self.state.lock().await;
        if let Some(v) = self.redeclared(&state, fixed_id.as_deref(), &cfg, declared) {
            return Ok(v);
        }
        Self::unique_name::<C>(&state, &name, name(&cfg), fixed_id.as_deref(), managed)?;
        let map = C::map(&state);
        let replacing = fixed_id.as_ref().is_some_and(|id| map.contains_key(id));
        if let Some((limit, too_many)) = limit
            && !replacing
            && map.len() >= limit
        {
            return Err(too_many(limit));
        }
        let id = fixed_id.unwrap_or_else(new_id);
        let v = Self::version(&state, id, declared, cfg);
        self.put(&mut state, v).await
    }

    /// CreatePublicKey (CallerReference idempotent).
    pub async fn create_public_key(
        &self,
        cfg: PublicKeyConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<(Versioned<PublicKeyConfig>, bool), StateError> {
        let mut state = self.state.lock().await;
        if let Some(v) = self.redeclared(&state, fixed_id.as_deref(), &cfg, declared) {
            return Ok((v, false));
        }
        if let Some(existing) = state
            .public_keys
            .values()
            .find(|k| k.config.caller_reference == cfg.caller_reference)
        {
            if existing.config == cfg && fixed_id.as_ref().is_none_or(|id| *id == existing.id) {
                return Ok((existing.clone(), false));
            }
            if fixed_id.as_ref() != Some(&existing.id) {
                return Err(StateError::CallerReferenceReused {
                    kind: Kind::PublicKey,
                    caller_reference: cfg.caller_reference.clone(),
                    existing: existing.id.clone(),
                });
            }
        }
        Self::unique_name::<PublicKeyConfig>(
            &state,
            |c| &c.name,
            &cfg.name,
            fixed_id.as_deref(),
            false,
        )?;
        let id = fixed_id.unwrap_or_else(crate::ids::public_key_id);
        let v = Self::version(&state, id, declared, cfg);
        Ok((self.put(&mut state, v).await?, true))
    }

    /// GetPublicKey.
    pub async fn public_key(&self, id: &str) -> Result<Versioned<PublicKeyConfig>, StateError> {
        self.get(id).await
    }

    /// UpdatePublicKey: only Comment may change (CloudFront: the key itself is immutable).
    pub async fn update_public_key(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: PublicKeyConfig,
    ) -> Result<Versioned<PublicKeyConfig>, StateError> {
        self.update(id, if_match, cfg, |_, current, new| {
            if current.config.encoded_key.trim() != new.encoded_key.trim()
                || current.config.caller_reference != new.caller_reference
            {
                return Err(StateError::ImmutablePublicKey { id: id.to_owned() });
            }
            Ok(())
        })
        .await
    }

    /// DeletePublicKey: refused while a key group uses it.
    pub async fn delete_public_key(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        self.delete::<PublicKeyConfig>(id, if_match, |state| {
            if state
                .key_groups
                .values()
                .any(|g| g.config.items.iter().any(|k| k == id))
            {
                return Err(StateError::InUse {
                    kind: Kind::PublicKey,
                    id: id.to_owned(),
                });
            }
            Ok(())
        })
        .await
    }

    fn check_key_group(
        state: &State,
        cfg: &KeyGroupConfig,
        except: Option<&str>,
    ) -> Result<(), StateError> {
        if let Some(k) = cfg
            .items
            .iter()
            .find(|k| !state.public_keys.contains_key(*k))
        {
            return Err(StateError::MissingReference {
                kind: Kind::PublicKey,
                id: k.clone(),
            });
        }
        Self::unique_name::<KeyGroupConfig>(state, |c| &c.name, &cfg.name, except, false)
    }

    /// CreateKeyGroup.
    pub async fn create_key_group(
        &self,
        cfg: KeyGroupConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<KeyGroupConfig>, StateError> {
        let mut state = self.state.lock().await;
        if let Some(v) = self.redeclared(&state, fixed_id.as_deref(), &cfg, declared) {
            return Ok(v);
        }
        Self::check_key_group(&state, &cfg, fixed_id.as_deref())?;
        let id = fixed_id.unwrap_or_else(crate::ids::uuid);
        let v = Self::version(&state, id, declared, cfg);
        self.put(&mut state, v).await
    }

    /// GetKeyGroup.
    pub async fn key_group(&self, id: &str) -> Result<Versioned<KeyGroupConfig>, StateError> {
        self.get(id).await
    }

    /// UpdateKeyGroup (key rotation: takes effect on the next request).
    pub async fn update_key_group(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: KeyGroupConfig,
    ) -> Result<Versioned<KeyGroupConfig>, StateError> {
        self.update(id, if_match, cfg, |state, _, new| {
            Self::check_key_group(state, new, Some(id))
        })
        .await
    }

    /// DeleteKeyGroup: refused while a distribution trusts it.
    pub async fn delete_key_group(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        self.delete::<KeyGroupConfig>(id, if_match, |state| {
            if state
                .distributions
                .values()
                .any(|d| d.v.config.referenced_key_group_ids().contains(&id))
            {
                return Err(StateError::InUse {
                    kind: Kind::KeyGroup,
                    id: id.to_owned(),
                });
            }
            Ok(())
        })
        .await
    }

    // === the three policy kinds ===

    /// CreateCachePolicy, CreateOriginRequestPolicy, CreateResponseHeadersPolicy: the name unique
    /// among the kind's policies and not a managed one's, within the kind's quota.
    pub async fn create_policy<P: Policy>(
        &self,
        cfg: P,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<P>, StateError> {
        let managed = P::is_managed_name(cfg.name());
        self.create_named(
            cfg,
            P::name,
            fixed_id,
            declared,
            managed,
            P::quota(),
            crate::ids::uuid,
        )
        .await
    }

    /// UpdateCachePolicy and its kin (`If-Match` required; a managed policy cannot be changed;
    /// the name stays unique). Distributions using the policy see the change on their next
    /// request (the change hook recompiles them).
    pub async fn update_policy<P: Policy>(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: P,
    ) -> Result<Versioned<P>, StateError> {
        if P::is_managed_id(id) {
            return Err(StateError::ManagedUpdate {
                kind: P::KIND,
                id: id.to_owned(),
            });
        }
        self.update(id, if_match, cfg, |state, _, new| {
            let managed = P::is_managed_name(new.name());
            Self::unique_name::<P>(state, P::name, new.name(), Some(id), managed)
        })
        .await
    }

    /// DeleteCachePolicy and its kin: not a managed one, and not while a distribution uses it.
    pub async fn delete_policy<P: Policy>(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        if P::is_managed_id(id) {
            return Err(StateError::ManagedDelete {
                kind: P::KIND,
                id: id.to_owned(),
            });
        }
        self.delete::<P>(id, if_match, |state| {
            if state
                .distributions
                .values()
                .any(|d| P::used_by(&d.v.config).contains(&id))
            {
                return Err(StateError::InUse {
                    kind: P::KIND,
                    id: id.to_owned(),
                });
            }
            Ok(())
        })
        .await
    }

    // === origin access controls ===

    /// Every origin's `OriginAccessControlId` names an existing OAC that edgegate can apply:
    /// type `s3` on an S3 origin (edgegate signs S3 origins only).
    fn check_origin_access(state: &State, cfg: &DistributionConfig) -> Result<(), StateError> {
        for id in cfg
            .origins
            .iter()
            .filter_map(Self::origin_access_identity_id)
        {
            if !state.origin_access_identities.contains_key(id) {
                return Err(StateError::MissingReference {
                    kind: Kind::OriginAccessIdentity,
                    id: id.to_owned(),
                });
            }
        }
        for o in &cfg.origins {
            let id = o.origin_access_control_id.as_str();
            if id.is_empty() {
                continue;
            }
            let oac = state.origin_access_controls.get(id).ok_or_else(|| {
                StateError::MissingReference {
                    kind: Kind::OriginAccessControl,
                    id: id.to_owned(),
                }
            })?;
            let refuse = |why: String| StateError::OriginAccessControlNotForOrigin {
                id: id.to_owned(),
                origin: o.id.clone(),
                why,
            };
            if oac.config.origin_type != OriginAccessControlOriginType::S3 {
                return Err(refuse(format!(
                    "its OriginAccessControlOriginType is {}; edgegate signs only s3 origins",
                    oac.config.origin_type
                )));
            }
            if o.custom_origin_config.is_some() {
                return Err(refuse(
                    "an s3 origin access control needs an S3 origin (S3OriginConfig)".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// The ids of the origin access controls a distribution's origins name.
    fn origin_access_control_ids(cfg: &DistributionConfig) -> impl Iterator<Item = &str> {
        cfg.origins
            .iter()
            .map(|o| o.origin_access_control_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// CreateOriginAccessControl: names are unique, at most [`MAX_ORIGIN_ACCESS_CONTROLS`].
    pub async fn create_origin_access_control(
        &self,
        cfg: OriginAccessControlConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<Versioned<OriginAccessControlConfig>, StateError> {
        let too_many = |limit| StateError::TooManyOriginAccessControls { limit };
        let limit = Some((
            MAX_ORIGIN_ACCESS_CONTROLS,
            too_many as fn(usize) -> StateError,
        ));
        let new_id = crate::ids::distribution_id;
        self.create_named(cfg, |c| &c.name, fixed_id, declared, false, limit, new_id)
            .await
    }

    /// UpdateOriginAccessControl (`If-Match` required; the name stays unique; an OAC in use
    /// keeps a type edgegate can apply to its origins). Distributions whose origins use it are
    /// recompiled by the change hook, so a new `SigningBehavior` applies to the next request.
    pub async fn update_origin_access_control(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: OriginAccessControlConfig,
    ) -> Result<Versioned<OriginAccessControlConfig>, StateError> {
        self.update(id, if_match, cfg, |state, _, new| {
            Self::unique_name::<OriginAccessControlConfig>(
                state,
                |c| &c.name,
                &new.name,
                Some(id),
                false,
            )?;
            let used = state
                .distributions
                .values()
                .any(|d| Self::origin_access_control_ids(&d.v.config).any(|o| o == id));
            if used && new.origin_type != OriginAccessControlOriginType::S3 {
                return Err(StateError::OriginAccessControlTypeInUse { id: id.to_owned() });
            }
            Ok(())
        })
        .await
    }

    /// DeleteOriginAccessControl: refused while a distribution's origin names it.
    pub async fn delete_origin_access_control(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        self.delete::<OriginAccessControlConfig>(id, if_match, |state| {
            if state
                .distributions
                .values()
                .any(|d| Self::origin_access_control_ids(&d.v.config).any(|o| o == id))
            {
                return Err(StateError::InUse {
                    kind: Kind::OriginAccessControl,
                    id: id.to_owned(),
                });
            }
            Ok(())
        })
        .await
    }

    // === origin access identities (legacy) ===

    /// The OAI id an origin's `S3OriginConfig.OriginAccessIdentity` names, if any.
    pub fn origin_access_identity_id(o: &crate::model::Origin) -> Option<&str> {
        o.s3_origin_config
            .as_ref()
            .and_then(|s| s.origin_access_identity.strip_prefix(OAI_PREFIX))
            .filter(|id| !id.is_empty())
    }

    /// CreateCloudFrontOriginAccessIdentity. A CallerReference already used with the same
    /// config returns the existing OAI (`false`: not new); with another config it is
    /// `CloudFrontOriginAccessIdentityAlreadyExists`.
    pub async fn create_origin_access_identity(
        &self,
        cfg: CloudFrontOriginAccessIdentityConfig,
        fixed_id: Option<String>,
        declared: bool,
    ) -> Result<(Versioned<CloudFrontOriginAccessIdentityConfig>, bool), StateError> {
        let mut state = self.state.lock().await;
        if let Some(v) = self.redeclared(&state, fixed_id.as_deref(), &cfg, declared) {
            return Ok((v, false));
        }
        if let Some(existing) = state
            .origin_access_identities
            .values()
            .find(|v| v.config.caller_reference == cfg.caller_reference)
        {
            if existing.config == cfg && fixed_id.as_ref().is_none_or(|id| *id == existing.id) {
                return Ok((existing.clone(), false));
            }
            if fixed_id.as_ref() != Some(&existing.id) {
                return Err(StateError::CallerReferenceReused {
                    kind: Kind::OriginAccessIdentity,
                    caller_reference: cfg.caller_reference.clone(),
                    existing: existing.id.clone(),
                });
            }
        }
        let replacing = fixed_id
            .as_ref()
            .is_some_and(|id| state.origin_access_identities.contains_key(id));
        if !replacing && state.origin_access_identities.len() >= MAX_ORIGIN_ACCESS_IDENTITIES {
            return Err(StateError::TooManyOriginAccessIdentities {
                limit: MAX_ORIGIN_ACCESS_IDENTITIES,
            });
        }
        let id = fixed_id.unwrap_or_else(crate::ids::distribution_id);
        let v = Self::version(&state, id, declared, cfg);
        Ok((self.put(&mut state, v).await?, true))
    }

    /// UpdateCloudFrontOriginAccessIdentity (`If-Match` required; only `Comment` may change).
    pub async fn update_origin_access_identity(
        &self,
        id: &str,
        if_match: Option<&str>,
        cfg: CloudFrontOriginAccessIdentityConfig,
    ) -> Result<Versioned<CloudFrontOriginAccessIdentityConfig>, StateError> {
        self.update(id, if_match, cfg, |_, current, new| {
            if current.config.caller_reference != new.caller_reference {
                return Err(StateError::CallerReferenceChanged {
                    kind: Kind::OriginAccessIdentity,
                });
            }
            Ok(())
        })
        .await
    }

    /// DeleteCloudFrontOriginAccessIdentity: refused while a distribution's S3 origin names it.
    pub async fn delete_origin_access_identity(
        &self,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), StateError> {
        self.delete::<CloudFrontOriginAccessIdentityConfig>(id, if_match, |state| {
            let used = state.distributions.values().any(|d| {
                d.v.config
                    .origins
                    .iter()
                    .any(|o| Self::origin_access_identity_id(o) == Some(id))
            });
            if used {
                return Err(StateError::InUse {
                    kind: Kind::OriginAccessIdentity,
                    id: id.to_owned(),
                });
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = include_str!("../../keys/demo-public.pem");

    async fn open(dir: &std::path::Path) -> Result<Registry, StateError> {
        Registry::open(
            StateStore::local(dir)?,
            "edgegate.test",
            Arc::new(|_: &State| {}),
        )
        .await
    }

    #[tokio::test]
    async fn an_unchanged_declaration_is_not_written_again() {
        let bucket: Arc<dyn object_store::ObjectStore> =
            Arc::new(object_store::memory::InMemory::new());
        let open_shared = || async {
            Registry::open(
                StateStore::shared(bucket.clone()),
                "edgegate.test",
                Arc::new(|_: &State| {}),
            )
            .await
            .unwrap()
        };
        let a = open_shared().await;
        let k = a
            .create_public_key(key("k", "ref"), Some("K1".into()), true)
            .await
            .unwrap()
            .0;
        let g = a
            .create_key_group(group("g", &["K1"]), Some("G1".into()), true)
            .await
            .unwrap();
        let c = a
            .create_policy(rhp("p"), Some("P1".into()), true)
            .await
            .unwrap();
        // A second edge starting with the same declarations writes nothing: same versions.
        let b = open_shared().await;
        let generation = b.store().generation_changed().await.unwrap();
        assert!(generation, "the first poll");
        let k2 = b
            .create_public_key(key("k", "ref"), Some("K1".into()), true)
            .await
            .unwrap();
        assert_eq!((k2.0.etag, k2.1), (k.etag, false));
        let g2 = b
            .create_key_group(group("g", &["K1"]), Some("G1".into()), true)
            .await
            .unwrap();
        assert_eq!(g2.etag, g.etag);
        let c2 = b
            .create_policy(rhp("p"), Some("P1".into()), true)
            .await
            .unwrap();
        assert_eq!(c2.etag, c.etag);
        assert!(
            !b.store().generation_changed().await.unwrap(),
            "nothing was written"
        );
        // A changed declaration is applied (and warned about on a shared store).
        let g3 = b
            .create_key_group(group("g2", &["K1"]), Some("G1".into()), true)
            .await
            .unwrap();
        assert_ne!(g3.etag, g.etag);
        assert_eq!(g3.config.name, "g2");
    }

    fn key(name: &str, reference: &str) -> PublicKeyConfig {
        PublicKeyConfig {
            caller_reference: reference.into(),
            name: name.into(),
            encoded_key: PEM.into(),
            comment: None,
        }
    }

    fn group(name: &str, items: &[&str]) -> KeyGroupConfig {
        KeyGroupConfig {
            name: name.into(),
            items: items.iter().map(|s| s.to_string()).collect(),
            comment: None,
        }
    }

    #[tokio::test]
    async fn refusals_say_what_is_wrong_with_which_resource() {
        let dir = tempfile::tempdir().unwrap();
        let r = open(dir.path()).await.unwrap();

        let e = r.create_key_group(group("g", &["K1"]), None, false).await;
        assert!(
            matches!(&e, Err(StateError::MissingReference { kind: Kind::PublicKey, id }) if id == "K1"),
            "{e:?}"
        );
        let (k, created) = r
            .create_public_key(key("k", "ref-1"), None, false)
            .await
            .unwrap();
        assert!(created);
        let e = r
            .create_public_key(key("other", "ref-1"), None, false)
            .await;
        assert!(
            matches!(&e, Err(StateError::CallerReferenceReused { kind: Kind::PublicKey, existing, .. }) if *existing == k.id),
            "{e:?}"
        );
        let e = r.create_public_key(key("k", "ref-2"), None, false).await;
        assert!(
            matches!(&e, Err(StateError::NameTaken { kind: Kind::PublicKey, name }) if name == "k"),
            "{e:?}"
        );
        let g = r
            .create_key_group(group("g", &[&k.id]), None, false)
            .await
            .unwrap();

        let e = r.delete_public_key(&k.id, None).await;
        assert!(matches!(e, Err(StateError::MissingIfMatch)), "{e:?}");
        let e = r.delete_public_key(&k.id, Some("stale")).await;
        assert!(matches!(e, Err(StateError::PreconditionFailed)), "{e:?}");
        let e = r.delete_public_key(&k.id, Some(&k.etag)).await;
        assert!(
            matches!(&e, Err(StateError::InUse { kind: Kind::PublicKey, id }) if *id == k.id),
            "{e:?}"
        );
        let e = r.key_group("no-such-group").await;
        assert!(
            matches!(&e, Err(StateError::NotFound { kind: Kind::KeyGroup, id }) if id == "no-such-group"),
            "{e:?}"
        );

        // What was acknowledged is there after a reopen.
        drop(r);
        let again = open(dir.path()).await.unwrap();
        assert_eq!(
            again.key_group(&g.id).await.unwrap().config.items,
            [k.id.as_str()]
        );
    }

    fn distribution(reference: &str, policy: &str) -> DistributionConfig {
        let toml: toml::Value = toml::from_str(&format!(
            r#"
caller_reference = "{reference}"
comment = ""
enabled = true
[[origins]]
id = "web"
domain_name = "origin.example"
custom_origin_config = {{ http_port = 80, https_port = 443, origin_protocol_policy = "http-only" }}
[default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
response_headers_policy_id = "{policy}"
"#
        ))
        .unwrap();
        let mut d = Diagnostics::default();
        let cfg = DistributionConfig::decode(&crate::model::Tree::from_toml(&toml), &mut d);
        assert!(d.errors.is_empty(), "{d}");
        cfg.unwrap()
    }

    fn rhp(name: &str) -> ResponseHeadersPolicyConfig {
        ResponseHeadersPolicyConfig {
            comment: None,
            name: name.into(),
            cors: None,
            security: None,
            server_timing: None,
            custom_headers: None,
            remove_headers: None,
        }
    }

    #[tokio::test]
    async fn response_headers_policy_quotas_and_use() {
        use crate::model::response_headers::{MAX_DISTRIBUTIONS_PER_POLICY, MAX_POLICIES};
        let dir = tempfile::tempdir().unwrap();
        let r = open(dir.path()).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..MAX_POLICIES {
            ids.push(
                r.create_policy(rhp(&format!("p{i}")), None, false)
                    .await
                    .unwrap(),
            );
        }
        let e = r.create_policy(rhp("one-more"), None, false).await;
        assert!(
            matches!(
                e,
                Err(StateError::TooManyResponseHeadersPolicies { limit: 20 })
            ),
            "{e:?}"
        );
        let e = r
            .create_policy(rhp("Managed-SimpleCORS"), None, false)
            .await;
        assert!(
            matches!(
                &e,
                Err(StateError::NameTaken {
                    kind: Kind::ResponseHeadersPolicy,
                    ..
                })
            ),
            "{e:?}"
        );

        let p = &ids[0];
        for i in 0..MAX_DISTRIBUTIONS_PER_POLICY {
            r.create_distribution(distribution(&format!("d{i}"), &p.id), None, false)
                .await
                .unwrap();
        }
        let e = r
            .create_distribution(distribution("too-many", &p.id), None, false)
            .await;
        assert!(
            matches!(&e, Err(StateError::TooManyDistributionsForResponseHeadersPolicy { id, limit: 100 }) if *id == p.id),
            "{e:?}"
        );
        let e = r
            .create_distribution(distribution("unknown", "nope"), None, false)
            .await;
        assert!(
            matches!(&e, Err(StateError::MissingReference { kind: Kind::ResponseHeadersPolicy, id }) if id == "nope"),
            "{e:?}"
        );
        let e = r
            .delete_policy::<ResponseHeadersPolicyConfig>(&p.id, Some(&p.etag))
            .await;
        assert!(
            matches!(
                &e,
                Err(StateError::InUse {
                    kind: Kind::ResponseHeadersPolicy,
                    ..
                })
            ),
            "{e:?}"
        );
        r.delete_policy::<ResponseHeadersPolicyConfig>(&ids[1].id, Some(&ids[1].etag))
            .await
            .unwrap();

        // What was acknowledged is there after a reopen.
        drop(r);
        let again = open(dir.path()).await.unwrap();
        let snap = again.snapshot().await;
        assert_eq!(snap.response_headers_policies.len(), MAX_POLICIES - 1);
        assert!(!snap.response_headers_policies.contains_key(&ids[1].id));
    }

    #[tokio::test]
    async fn a_corrupt_record_stops_loading_and_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let r = open(dir.path()).await.unwrap();
        let (k, _) = r
            .create_public_key(key("k", "ref-1"), None, false)
            .await
            .unwrap();
        drop(r);
        std::fs::write(
            dir.path().join(format!("public-keys/{}.json", k.id)),
            b"{ not json",
        )
        .unwrap();
        let e = open(dir.path()).await.unwrap_err();
        let record = format!("public-keys/{}", k.id);
        assert!(
            matches!(&e, StateError::CorruptRecord { record: r, .. } if *r == record),
            "{e:?}"
        );
        assert!(e.is_internal());
        assert!(
            e.to_string()
                .starts_with(&format!("{record}: unreadable record: ")),
            "{e}"
        );
    }
}
