//! Wall-clock time for the data plane, behind one small interface so that tests control it.
//!
//! Everything on the request path that compares against the time of day reads it from a
//! [`Clock`]: freshness and `Age` of cached objects, revalidation, and the expiry of signed URLs
//! and cookies. Production uses [`SystemClock`]; tests give the edge a [`ManualClock`] and move it
//! forward instead of sleeping until a TTL runs out. Durations measured for logs (time taken,
//! time to first byte, origin latency) are not wall-clock comparisons and use the monotonic
//! clock directly.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A source of the current time of day.
pub trait Clock: Debug + Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch (0 before it).
    fn epoch_secs(&self) -> i64 {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock that runs with the system clock plus an offset that tests move forward with
/// [`ManualClock::advance`]. Time never goes backwards.
#[derive(Debug, Default)]
pub struct ManualClock {
    /// Milliseconds added to the system clock.
    ahead_ms: AtomicU64,
}

impl ManualClock {
    /// A clock that starts at the system's time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_forward_by_what_it_is_told() {
        let c = ManualClock::new();
        let before = SystemTime::now();
        c.advance(Duration::from_secs(3600));
        let now = c.now();
        assert!(now >= before + Duration::from_secs(3600));
        assert!(now < SystemTime::now() + Duration::from_secs(3601));
        assert!(c.epoch_secs() >= SystemClock.epoch_secs() + 3599);
    }
}
