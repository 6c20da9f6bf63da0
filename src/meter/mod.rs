//! Metering: one [`record::Record`] per viewer request, written durably to a journal, and
//! everything built from it — CloudFront standard access logs, usage rollups and the AWS usage
//! report, cost estimates, the console's reports and Prometheus metrics.
//!
//! Stages, in the order a record travels:
//!
//! 1. [`record`]: the record the data plane hands over, and the [`record::Entry`] reports read.
//! 2. [`w3c`]: CloudFront's W3C log line (33 fields, escaping, headers, file names), and the
//!    journal line (the same plus edgegate's extension fields).
//! 3. [`usage`]: CloudFront usage types per request, rollups by hour × distribution × region ×
//!    usage type, and the AWS / console CSV and JSON renderings.
//! 4. [`cost`]: prices from `policies/pricing.toml` applied to rollups.
//! 5. [`reports`]: cache statistics, popular objects, top referrers.

pub mod cost;
/// Edge location (IATA prefix of `x-edge-location`) → CloudFront billing region.
pub mod pops;
pub mod record;
pub mod reports;
pub mod usage;
pub mod w3c;
