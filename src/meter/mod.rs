//! Metering: one record ([`record::Line`]) per viewer request, written durably to a journal, and
//! everything built from it — CloudFront standard access logs, usage rollups and the AWS usage
//! report, cost estimates, the console's reports and Prometheus metrics.
//!
//! Stages, in the order a record travels:
//!
//! 1. [`record`]: the record the data plane builds, and the [`record::Entry`] reports read.
//! 2. [`w3c`]: CloudFront's W3C log line (33 fields, escaping, headers, file names), and the
//!    journal line (the same plus edgegate's extension fields).
//! 3. [`usage`]: CloudFront usage types per request, rollups by hour × distribution × region ×
//!    usage type, and the AWS / console CSV and JSON renderings.
//! 4. [`cost`]: prices from `policies/pricing.toml` applied to rollups.
//! 5. [`reports`]: cache statistics, popular objects, top referrers.
//!
//! Around them: [`journal`] (the durable per-request journal, which stores [`packed`] records
//! and formats them only when read, and the [`Meter`] handle), [`metrics`] (Prometheus), [`deliver`] (access-log files and their upload to S3) and
//! [`bucket`] (the small S3 client delivery and `--from-bucket` use), and [`cli`] (the
//! `usage` and `report` commands and `GET /usage`).

pub mod bucket;
pub mod cli;
pub mod cost;
pub mod deliver;
pub mod journal;
pub mod metrics;
pub mod packed;
pub mod pops;
pub mod record;
pub mod reports;
pub mod usage;
pub mod w3c;

pub use journal::Meter;

/// How many lock shards the journal's hand-over buffers and the metrics' counters each have.
/// Each thread that submits records keeps to one of them, so request threads rarely meet on a
/// lock.
pub(crate) const SHARDS: usize = 8;

/// A value alone on its own cache lines (128 bytes: two lines, for CPUs that fetch lines in
/// pairs), so that threads writing neighbouring shards do not pass lines back and forth.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CacheAligned<T>(pub(crate) T);

impl<T> std::ops::Deref for CacheAligned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The shard of the calling thread: threads take the shards in turn, on first use.
pub(crate) fn thread_shard() -> usize {
    thread_local! {
        static SHARD: usize = {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SHARDS
        };
    }
    SHARD.with(|s| *s)
}
