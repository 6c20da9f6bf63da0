//! What the phases learn about one request on the way, for the log phase to read once the
//! request has finished: the distribution that matched, the request head's size, the TTL the
//! object was (or would have been) cached with, what the origin was sent and answered, whether an
//! origin group failed over, and the detailed reason of an error.
//!
//! The phases write through a shared reference across awaits, hence atomics. The summary knows
//! nothing of how it is recorded: the log phase (`metering`) owns one per metered
//! request and lends it to the phases; without metering the pipeline keeps one on its stack.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use super::routing::Distribution;
use super::shield::{SHIELD_HIT, ShieldUse};
use crate::config::BillingRegion;

/// What a request's phases learnt; see the module docs.
#[derive(Debug, Default)]
pub struct Summary {
    /// The distribution that matched the Host; routing borrows it from here, so the summary
    /// holds the one reference routing took.
    dist: OnceLock<Arc<Distribution>>,
    /// The request's headers as HTTP/1.1 writes them, as the accept phase measured them.
    head_bytes: AtomicU64,
    /// Seconds + 1; 0 while unknown.
    ttl: AtomicU64,
    origin_out: AtomicU64,
    origin_in: AtomicU64,
    /// Microseconds + 1; 0 when the origin was not contacted.
    origin_latency: AtomicU64,
    detailed: Mutex<Option<&'static str>>,
    /// An origin group's primary failed and the request went on to its secondary.
    failed_over: AtomicBool,
    /// The billing region of the Origin Shield the request counts at, as its index in
    /// [`BillingRegion::ALL`] + 1; 0 when none.
    origin_shield: AtomicU8,
    /// This is a shield request from another edge: that edge logs it, this one does not.
    for_edge: AtomicBool,
}

impl Summary {
    /// Keeps the distribution that matched the Host (the first one given) and lends it back
    /// for as long as the summary lives.
    pub fn distribution(&self, dist: Arc<Distribution>) -> &Arc<Distribution> {
        self.dist.get_or_init(|| dist)
    }

    /// The request's headers' size as HTTP/1.1 writes them.
    pub fn request_head(&self, bytes: u64) {
        self.head_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The TTL the object was (or would have been) cached with.
    pub fn ttl(&self, ttl: Duration) {
        self.ttl
            .store(ttl.as_secs().saturating_add(1), Ordering::Relaxed);
    }

    /// An origin request: bytes sent, bytes received (head and declared length) and latency.
    pub fn origin(&self, sent: u64, received: u64, latency: Duration) {
        self.origin_out.fetch_add(sent, Ordering::Relaxed);
        self.origin_in.fetch_add(received, Ordering::Relaxed);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX - 1);
        self.origin_latency.store(us + 1, Ordering::Relaxed);
    }

    /// CloudFront's `x-edge-detailed-result-type` for an error (e.g. `OriginConnectError`).
    pub fn detailed(&self, name: &'static str) {
        *self.detailed.lock().unwrap_or_else(PoisonError::into_inner) = Some(name);
    }

    /// An origin group's primary failed and the request went on to its secondary origin.
    pub fn failed_over(&self) {
        self.failed_over.store(true, Ordering::Relaxed);
    }

    /// The origin request went through an Origin Shield (or counts as if it had): it is an
    /// Origin Shield request, and a hit there is logged as `OriginShieldHit`.
    pub fn shield(&self, used: ShieldUse) {
        let code = BillingRegion::ALL
            .iter()
            .position(|r| *r == used.billing_region)
            .map_or(0, |i| i as u8 + 1);
        self.origin_shield.store(code, Ordering::Relaxed);
        if used.hit {
            self.detailed(SHIELD_HIT);
        }
    }

    /// This request is a shield request from another edge, which logs it.
    pub fn for_edge(&self) {
        self.for_edge.store(true, Ordering::Relaxed);
    }

    // === read by the log phase ===

    /// The billing region of the Origin Shield this request counts at, if any.
    pub fn origin_shield(&self) -> Option<BillingRegion> {
        let code = self.origin_shield.load(Ordering::Relaxed);
        BillingRegion::ALL
            .get(usize::from(code.checked_sub(1)?))
            .copied()
    }

    /// Whether this is a shield request from another edge (not logged here).
    pub fn is_for_edge(&self) -> bool {
        self.for_edge.load(Ordering::Relaxed)
    }

    /// Whether an origin group failed over to its secondary origin for this request.
    pub fn origin_failed_over(&self) -> bool {
        self.failed_over.load(Ordering::Relaxed)
    }

    /// The distribution, once routing found one.
    pub fn dist(&self) -> Option<&Arc<Distribution>> {
        self.dist.get()
    }

    /// The request headers' size.
    pub fn request_head_bytes(&self) -> u64 {
        self.head_bytes.load(Ordering::Relaxed)
    }

    /// The TTL in seconds, once known.
    pub fn ttl_secs(&self) -> Option<u64> {
        self.ttl.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Bytes sent to and received from the origin.
    pub fn origin_bytes(&self) -> (u64, u64) {
        (
            self.origin_out.load(Ordering::Relaxed),
            self.origin_in.load(Ordering::Relaxed),
        )
    }

    /// The origin's latency in microseconds, when it was contacted.
    pub fn origin_latency_us(&self) -> Option<u64> {
        self.origin_latency.load(Ordering::Relaxed).checked_sub(1)
    }

    /// The detailed result type of an error, when a phase named one.
    pub fn detailed_result(&mut self) -> Option<&'static str> {
        *self
            .detailed
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
