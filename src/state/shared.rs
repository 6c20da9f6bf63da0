//! Many edges, one bucket: how an edge follows the shared state and reports what it has applied.
//!
//! Every `--state-poll-interval` an edge on `--state s3://…`:
//!
//! 1. asks whether the [`GENERATION`](super::store::GENERATION) object changed (one
//!    conditional HEAD, `If-None-Match`; a 304 when nothing did) and, when it did or once a
//!    minute regardless, reloads the state (one LIST per kind, then a GET only for records
//!    whose ETag changed), republishes the routing snapshot and purges the cache for every
//!    invalidation it has not executed yet;
//! 2. writes its heartbeat, `edges/{edge-id}.json`: the ETag of every distribution it has
//!    applied, the invalidations (of the last hour) it has executed and, for an Origin Shield,
//!    its region and the URL other edges reach it at ([`ShieldBeacon`]). The body only changes
//!    when those do; S3's `LastModified` is the heartbeat's time;
//! 3. lists `edges/` and fetches the heartbeats whose ETag changed.
//!
//! An edge whose heartbeat is older than the dead-edge timeout (3 × the poll interval, at
//! least 10 s) relative to the newest heartbeat is dead and no longer counts (S3's clock on
//! both sides, so the edges' clocks need not agree). A distribution is `Deployed` when every
//! live edge has applied its current ETag, an invalidation `Completed` when every live edge has
//! executed it (or when it is more than an hour old). The live Origin Shields found this way
//! are handed to the edge ([`Fleet::on_shields`]), which sends its misses for shielded origins
//! without a `--shield-endpoint` to them; a dead shield drops out with its heartbeat.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::StateError;
use super::registry::{InvalidationEntry, Registry, State};
use super::store::{StateStore, StoreError};

/// How long after its creation an invalidation is `Completed` whatever the edges report (and
/// left out of the heartbeats).
pub const INVALIDATION_WINDOW: Duration = Duration::from_secs(3600);

/// How often the state is reloaded even when the generation object did not change (a writer
/// that died between its write and the generation bump is picked up this way).
const FULL_RELOAD: Duration = Duration::from_secs(60);

/// The prefix of the heartbeats.
const EDGES: &str = "edges";

/// Removes the cache entries of one invalidation on this edge: `(distribution id, paths)`.
pub type Purge = Arc<dyn Fn(String, Vec<String>) -> BoxFuture<'static, ()> + Send + Sync>;

/// The dead-edge timeout for a poll interval: 3 × the interval, at least 10 s.
pub fn dead_after(poll: Duration) -> Duration {
    (poll * 3).max(Duration::from_secs(10))
}

/// What one edge reports in `edges/{edge-id}.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The edge's id.
    pub edge: String,
    /// Distribution id → the ETag of the configuration this edge serves.
    pub applied: BTreeMap<String, String>,
    /// The invalidations (`{distribution id}/{invalidation id}`) this edge has executed, of the
    /// last [`INVALIDATION_WINDOW`].
    pub purged: BTreeSet<String>,
    /// When this edge is an Origin Shield: its region and the URL the other edges reach it at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shield: Option<ShieldBeacon>,
}

/// An Origin Shield's entry in its heartbeat (`crate::edge::shield`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShieldBeacon {
    /// The Origin Shield region it serves (`--shield-region`), e.g. `us-east-1`.
    pub region: String,
    /// Where the other edges send shield requests (`--shield-advertise`), e.g.
    /// `http://10.0.0.5:8080`.
    pub url: String,
}

/// Told the live Origin Shields (region → URL) after every listing of the heartbeats.
pub type OnShields = Arc<dyn Fn(BTreeMap<String, String>) + Send + Sync>;

/// One other edge as last listed.
#[derive(Debug, Clone)]
struct Peer {
    e_tag: Option<String>,
    last_modified: OffsetDateTime,
    beat: Heartbeat,
}

/// This edge's membership of the fleet sharing a bucket.
#[derive(Debug)]
pub struct Fleet {
    id: String,
    backend: Arc<dyn ObjectStore>,
    poll: Duration,
    dead_after: Duration,
    /// The other edges' last heartbeats, and the newest `LastModified` of the listing.
    peers: Mutex<(HashMap<String, Peer>, Option<OffsetDateTime>)>,
    /// The invalidations this edge has executed, with their creation time.
    purged: Mutex<BTreeMap<String, OffsetDateTime>>,
    /// What this edge advertises as an Origin Shield, if it is one.
    shield: Mutex<Option<ShieldBeacon>>,
    /// Told the live shields after every listing.
    on_shields: Mutex<Option<ShieldsHook>>,
}

/// An [`OnShields`] in a [`Fleet`] (which is `Debug`).
#[derive(Clone)]
struct ShieldsHook(OnShields);

impl std::fmt::Debug for ShieldsHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnShields")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The key of an invalidation in heartbeats.
fn key(inv: &InvalidationEntry) -> String {
    format!("{}/{}", inv.distribution_id, inv.id)
}

impl Fleet {
    /// Membership of the fleet on `store` (which must be shared) as `edge_id`.
    pub fn new(store: &StateStore, edge_id: &str, poll: Duration) -> Self {
        Self {
            id: edge_id.to_owned(),
            backend: Arc::clone(store.backend()),
            poll,
            dead_after: dead_after(poll),
            peers: Mutex::new((HashMap::new(), None)),
            purged: Mutex::new(BTreeMap::new()),
            shield: Mutex::new(None),
            on_shields: Mutex::new(None),
        }
    }

    /// Advertises this edge as the Origin Shield of `beacon.region` in its next heartbeats.
    pub fn advertise_shield(&self, beacon: ShieldBeacon) {
        *lock(&self.shield) = Some(beacon);
    }

    /// Calls `f` with the live Origin Shields (region → URL) after every listing of the
    /// heartbeats. Of two live shields of one region, the one with the smaller edge id is taken,
    /// so that every edge picks the same.
    pub fn on_shields(&self, f: OnShields) {
        *lock(&self.on_shields) = Some(ShieldsHook(f));
    }

    /// The live Origin Shields of the other edges: region → URL.
    pub fn live_shields(&self) -> BTreeMap<String, String> {
        let mut live: Vec<Heartbeat> = self.live_peers();
        live.sort_by(|a, b| b.edge.cmp(&a.edge));
        live.into_iter()
            .filter_map(|b| b.shield)
            .map(|s| (s.region, s.url))
            .collect()
    }

    /// This edge's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// Records that this edge has executed an invalidation.
    pub fn mark_purged(&self, inv: &InvalidationEntry) {
        lock(&self.purged).insert(key(inv), inv.created);
    }

    /// The other edges that count: those whose heartbeat is within the dead-edge timeout of
    /// the newest one.
    fn live_peers(&self) -> Vec<Heartbeat> {
        let peers = lock(&self.peers);
        let Some(newest) = peers.1 else {
            return Vec::new();
        };
        peers
            .0
            .values()
            .filter(|p| newest - p.last_modified <= self.dead_after)
            .map(|p| p.beat.clone())
            .collect()
    }

    /// `Deployed` when every live edge serves `etag` for distribution `id` (this edge serves
    /// what it stores), else `InProgress`.
    pub fn distribution_status(&self, id: &str, etag: &str) -> &'static str {
        let all = self
            .live_peers()
            .iter()
            .all(|b| b.applied.get(id).map(String::as_str) == Some(etag));
        if all { "Deployed" } else { "InProgress" }
    }

    /// `Completed` when every live edge (this one included) has executed the invalidation, or
    /// it is older than [`INVALIDATION_WINDOW`]; else `InProgress`.
    pub fn invalidation_status(&self, inv: &InvalidationEntry) -> &'static str {
        let here = lock(&self.purged).contains_key(&key(inv));
        self.status_of(&key(inv), inv.created, here, &self.live_peers())
    }

    fn status_of(
        &self,
        k: &str,
        created: OffsetDateTime,
        here: bool,
        peers: &[Heartbeat],
    ) -> &'static str {
        if OffsetDateTime::now_utc() - created > INVALIDATION_WINDOW {
            return "Completed";
        }
        if here && peers.iter().all(|b| b.purged.contains(k)) {
            "Completed"
        } else {
            "InProgress"
        }
    }

    /// How many of a distribution's invalidations are `InProgress` (those this edge has
    /// executed and some live edge has not).
    pub fn invalidations_in_progress(&self, distribution_id: &str) -> u32 {
        let peers = self.live_peers();
        let head = format!("{distribution_id}/");
        let purged = lock(&self.purged).clone();
        let n = purged
            .iter()
            .filter(|(k, _)| k.starts_with(&head))
            .filter(|(k, created)| self.status_of(k, **created, true, &peers) == "InProgress")
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// This edge's heartbeat for `state`.
    fn heartbeat(&self, state: &State) -> Heartbeat {
        let now = OffsetDateTime::now_utc();
        let mut purged = lock(&self.purged);
        purged.retain(|_, created| now - *created <= INVALIDATION_WINDOW);
        Heartbeat {
            edge: self.id.clone(),
            applied: state
                .distributions
                .iter()
                .map(|(id, d)| (id.clone(), d.v.etag.clone()))
                .collect(),
            purged: purged.keys().cloned().collect(),
            shield: lock(&self.shield).clone(),
        }
    }

    fn path(id: &str) -> ObjectPath {
        ObjectPath::from(format!("{EDGES}/{id}.json"))
    }

    /// Writes this edge's heartbeat.
    async fn beat(&self, state: &State) -> Result<(), StoreError> {
        let body = serde_json::to_vec(&self.heartbeat(state)).unwrap_or_default();
        let path = Self::path(&self.id);
        self.backend
            .put(&path, PutPayload::from(Bytes::from(body)))
            .await
            .map(|_| ())
            .map_err(|error| StoreError::Object {
                op: "writing",
                path: path.to_string(),
                error: Box::new(error),
            })
    }

    /// Lists the heartbeats and fetches those that changed.
    async fn refresh_peers(&self) -> Result<(), StoreError> {
        let prefix = ObjectPath::from(EDGES);
        let err = |op: &'static str, path: String| {
            move |error| StoreError::Object {
                op,
                path,
                error: Box::new(error),
            }
        };
        let metas: Vec<_> = self
            .backend
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(err("listing", prefix.to_string()))?;
        let newest = metas
            .iter()
            .map(|m| OffsetDateTime::from_unix_timestamp(m.last_modified.timestamp()))
            .filter_map(Result::ok)
            .max();
        let old = lock(&self.peers).0.clone();
        let mut peers = HashMap::new();
        for meta in metas {
            let Some(id) = meta
                .location
                .as_ref()
                .strip_prefix("edges/")
                .and_then(|r| r.strip_suffix(".json"))
            else {
                continue;
            };
            if id == self.id {
                continue;
            }
            let Ok(last_modified) =
                OffsetDateTime::from_unix_timestamp(meta.last_modified.timestamp())
            else {
                continue;
            };
            let beat = match old.get(id) {
                Some(p) if p.e_tag.is_some() && p.e_tag == meta.e_tag => p.beat.clone(),
                _ => {
                    let loc = meta.location.to_string();
                    let bytes = match self.backend.get(&meta.location).await {
                        Ok(r) => r.bytes().await.map_err(err("reading", loc.clone()))?,
                        // Deleted between the listing and the read: the edge stopped.
                        Err(object_store::Error::NotFound { .. }) => continue,
                        Err(e) => return Err(err("reading", loc)(e)),
                    };
                    match serde_json::from_slice(&bytes) {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(heartbeat = %loc, error = %e, "unreadable heartbeat ignored");
                            continue;
                        }
                    }
                }
            };
            peers.insert(
                id.to_owned(),
                Peer {
                    e_tag: meta.e_tag,
                    last_modified,
                    beat,
                },
            );
        }
        *lock(&self.peers) = (peers, newest);
        let on_shields = lock(&self.on_shields).clone();
        if let Some(ShieldsHook(f)) = on_shields {
            f(self.live_shields());
        }
        Ok(())
    }

    /// Removes this edge's heartbeat (a graceful stop: the others stop waiting for it at once).
    /// Bounded to 5 s: a bucket that does not answer does not hold the shutdown up (the edge
    /// then stops counting after the dead-edge timeout instead).
    pub async fn leave(&self) {
        let path = Self::path(&self.id);
        match tokio::time::timeout(Duration::from_secs(5), self.backend.delete(&path)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not remove this edge's heartbeat"),
            Err(_) => tracing::warn!(
                "the state bucket did not answer; this edge's heartbeat stays until it times out"
            ),
        }
    }

    /// One poll: reload when the state changed, purge new invalidations, heartbeat, peers.
    pub async fn poll_once(
        &self,
        registry: &Registry,
        purge: &Purge,
        full: bool,
    ) -> Result<(), StateError> {
        let changed = registry.store().generation_changed().await?;
        if changed || full {
            registry.reload().await?;
        }
        let state = registry.snapshot().await;
        let fresh: Vec<InvalidationEntry> = {
            let purged = lock(&self.purged);
            state
                .invalidations
                .values()
                .flatten()
                .filter(|i| !purged.contains_key(&key(i)))
                .cloned()
                .collect()
        };
        let now = OffsetDateTime::now_utc();
        for inv in fresh {
            if now - inv.created <= INVALIDATION_WINDOW {
                purge(inv.distribution_id.clone(), inv.batch.paths.clone()).await;
                tracing::info!(
                    distribution = %inv.distribution_id,
                    invalidation = %inv.id,
                    "invalidation from another edge executed"
                );
            }
            self.mark_purged(&inv);
        }
        self.beat(&state).await?;
        Ok(self.refresh_peers().await?)
    }

    /// Polls until the process ends.
    pub async fn run(self: Arc<Self>, registry: Arc<Registry>, purge: Purge) {
        let mut last_full = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let full = last_full.elapsed() >= FULL_RELOAD;
            if full {
                last_full = tokio::time::Instant::now();
            }
            if let Err(e) = self.poll_once(&registry, &purge, full).await {
                tracing::warn!(error = %e, "shared state poll failed; retrying at the next one");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Diagnostics, DistributionConfig, Document, InvalidationBatch};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn distribution(reference: &str) -> DistributionConfig {
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
"#
        ))
        .unwrap();
        let mut d = Diagnostics::default();
        let cfg = DistributionConfig::decode(&crate::model::Tree::from_toml(&toml), &mut d);
        assert!(d.errors.is_empty(), "{d}");
        cfg.unwrap()
    }

    /// An edge on the shared in-memory bucket: its registry, its fleet membership, and how many
    /// purges it has run.
    async fn edge(
        bucket: &Arc<dyn ObjectStore>,
        id: &str,
    ) -> (Registry, Arc<Fleet>, Purge, Arc<AtomicUsize>) {
        let store = StateStore::shared(Arc::clone(bucket));
        let registry = Registry::open(store, "edgegate.test", Arc::new(|_: &State| {}))
            .await
            .unwrap();
        let fleet = Arc::new(Fleet::new(registry.store(), id, Duration::from_secs(2)));
        registry.set_fleet(fleet.clone());
        let purges = Arc::new(AtomicUsize::new(0));
        let counter = purges.clone();
        let purge: Purge = Arc::new(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        });
        (registry, fleet, purge, purges)
    }

    #[tokio::test]
    async fn a_change_is_in_progress_until_every_edge_has_applied_it() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let (ra, fa, pa, purged_a) = edge(&bucket, "a").await;
        let (rb, fb, pb, purged_b) = edge(&bucket, "b").await;
        fa.poll_once(&ra, &pa, false).await.unwrap();
        fb.poll_once(&rb, &pb, false).await.unwrap();

        let (d, _) = ra
            .create_distribution(distribution("one"), None, false)
            .await
            .unwrap();
        // B has not seen it yet: A knows, from B's heartbeat.
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(ra.distribution_status(&d), "InProgress");
        // B picks it up at its next poll, and A sees that in B's heartbeat.
        fb.poll_once(&rb, &pb, false).await.unwrap();
        let on_b = rb.distribution(&d.v.id).await.unwrap();
        assert_eq!(on_b.v.etag, d.v.etag);
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(ra.distribution_status(&d), "Deployed");

        // An update through B with A's stale view of nothing: B's write wins, and a write from
        // A on the version it had is refused once B's is stored.
        let updated = rb
            .update_distribution(&d.v.id, Some(&d.v.etag), distribution("one"))
            .await
            .unwrap();
        let lost = ra
            .update_distribution(&d.v.id, Some(&d.v.etag), distribution("one"))
            .await
            .unwrap_err();
        assert!(matches!(lost, StateError::PreconditionFailed), "{lost}");
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(
            ra.distribution(&d.v.id).await.unwrap().v.etag,
            updated.v.etag
        );

        // An invalidation through A is executed by B at its next poll, then Completed.
        let batch = InvalidationBatch {
            paths: vec!["/x/*".into()],
            caller_reference: "inv".into(),
        };
        let (inv, _) = ra.create_invalidation(&d.v.id, batch).await.unwrap();
        assert_eq!(ra.invalidation_status(&inv), "InProgress");
        assert_eq!(fa.invalidations_in_progress(&d.v.id), 1);
        assert_eq!(purged_b.load(Ordering::SeqCst), 0);
        fb.poll_once(&rb, &pb, false).await.unwrap();
        assert_eq!(purged_b.load(Ordering::SeqCst), 1);
        assert_eq!(
            rb.invalidation_status(&inv),
            "InProgress",
            "B has not heard from A"
        );
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(ra.invalidation_status(&inv), "Completed");
        assert_eq!(fa.invalidations_in_progress(&d.v.id), 0);
        // A executed it itself before storing it (the API does): its poll does not run it again.
        assert_eq!(purged_a.load(Ordering::SeqCst), 0);
        fb.poll_once(&rb, &pb, false).await.unwrap();
        assert_eq!(purged_b.load(Ordering::SeqCst), 1, "executed once");
        assert_eq!(rb.invalidation_status(&inv), "Completed");

        // A stopped edge leaves: it no longer holds a change up.
        fb.leave().await;
        let again = ra
            .update_distribution(&d.v.id, Some(&updated.v.etag), distribution("one"))
            .await
            .unwrap();
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(ra.distribution_status(&again), "Deployed");
    }

    #[tokio::test]
    async fn a_shield_is_found_through_its_heartbeat_until_it_leaves() {
        let bucket: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let (rs, fs, ps, _) = edge(&bucket, "shield").await;
        let (ra, fa, pa, _) = edge(&bucket, "a").await;
        let seen: Arc<Mutex<Vec<BTreeMap<String, String>>>> = Arc::default();
        let log = seen.clone();
        fa.on_shields(Arc::new(move |live| lock(&log).push(live)));
        fs.advertise_shield(ShieldBeacon {
            region: "us-east-1".into(),
            url: "http://10.0.0.5:8080".into(),
        });
        fs.poll_once(&rs, &ps, false).await.unwrap();
        fa.poll_once(&ra, &pa, false).await.unwrap();
        let want = BTreeMap::from([("us-east-1".to_owned(), "http://10.0.0.5:8080".to_owned())]);
        assert_eq!(lock(&seen).last(), Some(&want));
        // An edge that is not a shield advertises nothing.
        assert!(fs.live_shields().is_empty());
        // A stopped shield leaves: the edge stops using it at its next poll.
        fs.leave().await;
        fa.poll_once(&ra, &pa, false).await.unwrap();
        assert_eq!(lock(&seen).last(), Some(&BTreeMap::new()));
    }

    #[test]
    fn the_dead_edge_timeout_is_three_polls_and_at_least_ten_seconds() {
        assert_eq!(dead_after(Duration::from_secs(2)), Duration::from_secs(10));
        assert_eq!(dead_after(Duration::from_secs(5)), Duration::from_secs(15));
    }
}
