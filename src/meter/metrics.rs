//! Prometheus metrics, rendered in the text exposition format at `GET /metrics` on the admin
//! listener.
//!
//! The journal counts every record as it packs it ([`Counter::observe`], a batch of records
//! under one lock), into a per-thread shard of counters, so the counts agree exactly with the
//! journal and the request threads rarely share a lock. Label sets
//! are bounded: distribution ids (the configured ones, or `-`), billing region, protocol,
//! CloudFront result type and status class; never a path, a key or an address.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::record::{Departure, ResultType};
use crate::cache::store::CacheStats;
use crate::config::BillingRegion;

/// Latency histogram bucket bounds, seconds (OpenTelemetry's advice for HTTP servers).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// [`BUCKETS`] in microseconds, so that an observation is placed without floating point.
const BUCKETS_US: [u64; BUCKETS.len()] = {
    let mut us = [0; BUCKETS.len()];
    let mut i = 0;
    while i < BUCKETS.len() {
        us[i] = (BUCKETS[i] * 1e6 + 0.5) as u64;
        i += 1;
    }
    us
};

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations per bucket: `counts[i]` holds those above `BUCKETS[i - 1]` and at most
    /// `BUCKETS[i]` (the exposition's cumulative counts are summed when rendering).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_us: u64,
}

impl Histogram {
    fn observe_us(&mut self, us: u64) {
        if let Some(i) = BUCKETS_US.iter().position(|b| us <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum_us += us;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let lb = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{lb} {}", self.sum_us as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{lb} {}", self.count);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    distribution: Option<Arc<str>>,
    region: BillingRegion,
    https: bool,
    result: ResultType,
    status_class: u8,
}

#[derive(Debug, Default, Clone, Copy)]
struct RequestCounts {
    requests: u64,
    response_bytes: u64,
    request_bytes: u64,
}

#[derive(Debug, Default, Clone)]
struct OriginCounts {
    requests: u64,
    /// Requests an origin group's secondary answered after its primary failed.
    failovers: u64,
    bytes_out: u64,
    bytes_in: u64,
    latency: Histogram,
}

#[derive(Debug, Default)]
struct State {
    requests: BTreeMap<RequestKey, RequestCounts>,
    origin: BTreeMap<Option<Arc<str>>, OriginCounts>,
    duration: Histogram,
    ttfb: Histogram,
}

/// One thread's counters. Label sets are looked up by comparing fields in place, starting with
/// the one the thread counted last, so counting a record clones no shared `Arc` and hashes
/// nothing; there are only as many entries as label combinations seen.
#[derive(Debug, Default)]
struct Shard {
    requests: Vec<(RequestKey, RequestCounts)>,
    /// Index in `requests` of the label set counted last.
    last: usize,
    origin: Vec<(Option<Arc<str>>, OriginCounts)>,
    duration: Histogram,
    ttfb: Histogram,
}

impl RequestKey {
    fn matches(&self, r: &Departure<'_>, status_class: u8) -> bool {
        self.status_class == status_class
            && self.result == r.result_type
            && self.https == r.https
            && self.region == r.billing_region
            && self.distribution.as_deref().map(str::as_bytes) == r.distribution_id
    }
}

impl Shard {
    fn requests_for(&mut self, r: &Departure<'_>) -> &mut RequestCounts {
        let class = (r.status / 100) as u8;
        let found = if self
            .requests
            .get(self.last)
            .is_some_and(|(k, _)| k.matches(r, class))
        {
            Some(self.last)
        } else {
            self.requests.iter().position(|(k, _)| k.matches(r, class))
        };
        let i = found.unwrap_or_else(|| {
            self.requests.push((
                RequestKey {
                    distribution: label(r.distribution_id),
                    region: r.billing_region,
                    https: r.https,
                    result: r.result_type,
                    status_class: class,
                },
                RequestCounts::default(),
            ));
            self.requests.len() - 1
        });
        self.last = i;
        &mut self.requests[i].1
    }

    fn origin_for(&mut self, r: &Departure<'_>) -> &mut OriginCounts {
        let d = r.distribution_id;
        let i = match self
            .origin
            .iter()
            .position(|(k, _)| k.as_deref().map(str::as_bytes) == d)
        {
            Some(i) => i,
            None => {
                self.origin.push((label(d), OriginCounts::default()));
                self.origin.len() - 1
            }
        };
        &mut self.origin[i].1
    }
}

/// One thread's counters, locked ([`Metrics::counter`]).
pub struct Counter<'a>(MutexGuard<'a, Shard>);

impl Counter<'_> {
    /// Counts one record.
    pub fn observe(&mut self, r: &Departure<'_>) {
        let s = &mut *self.0;
        let c = s.requests_for(r);
        c.requests += 1;
        c.response_bytes += r.sc_bytes;
        c.request_bytes += r.cs_bytes;
        if let Some(lat) = r.origin_latency_us {
            let o = s.origin_for(r);
            o.requests += 1;
            o.failovers += u64::from(r.origin_failed_over);
            o.bytes_out += r.origin_bytes_out;
            o.bytes_in += r.origin_bytes_in;
            o.latency.observe_us(lat);
        }
        s.duration.observe_us(r.time_taken_us);
        s.ttfb.observe_us(r.ttfb_us);
    }
}

/// A distribution id as a label value, made once per label set. Ids are ASCII letters and
/// digits; anything else is shown lossily rather than dropped.
fn label(id: Option<&[u8]>) -> Option<Arc<str>> {
    id.map(|b| Arc::from(String::from_utf8_lossy(b)))
}

/// A counter family: name, help, and the value it reads.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

/// Counters and histograms fed from records.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Each thread counts into its own shard ([`super::thread_shard`]); [`Metrics::render`]
    /// adds them up.
    shards: [super::CacheAligned<Mutex<Shard>>; super::SHARDS],
}

impl Histogram {
    fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.sum_us += o.sum_us;
    }
}

impl State {
    fn merge(&mut self, o: &Shard) {
        for (k, c) in &o.requests {
            let m = self.requests.entry(k.clone()).or_default();
            m.requests += c.requests;
            m.response_bytes += c.response_bytes;
            m.request_bytes += c.request_bytes;
        }
        for (d, c) in &o.origin {
            let m = self.origin.entry(d.clone()).or_default();
            m.requests += c.requests;
            m.failovers += c.failovers;
            m.bytes_out += c.bytes_out;
            m.bytes_in += c.bytes_in;
            m.latency.merge(&c.latency);
        }
        self.duration.merge(&o.duration);
        self.ttfb.merge(&o.ttfb);
    }
}

impl Metrics {
    /// The calling thread's counters, held for as long as the result lives: a batch of records
    /// is counted under one lock.
    pub fn counter(&self) -> Counter<'_> {
        Counter(
            self.shards[super::thread_shard()]
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The text exposition, with the cache's gauges.
    pub fn render(&self, cache: &CacheStats) -> String {
        let mut s = State::default();
        for shard in &self.shards {
            s.merge(&shard.lock().unwrap_or_else(PoisonError::into_inner));
        }
        let mut out = String::with_capacity(4096);
        let families: [Family<RequestCounts>; 3] = [
            (
                "edgegate_requests_total",
                "Viewer requests, by distribution, billing region, protocol, CloudFront result type and status class.",
                |c| c.requests,
            ),
            (
                "edgegate_response_bytes_total",
                "Bytes sent to viewers, headers included (CloudFront's sc-bytes).",
                |c| c.response_bytes,
            ),
            (
                "edgegate_request_bytes_total",
                "Bytes received from viewers, headers included (CloudFront's cs-bytes).",
                |c| c.request_bytes,
            ),
        ];
        for (name, help, get) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (k, c) in &s.requests {
                let _ = writeln!(
                    out,
                    "{name}{{distribution=\"{}\",billing_region=\"{}\",protocol=\"{}\",result_type=\"{}\",status_class=\"{}xx\"}} {}",
                    escape(k.distribution.as_deref().unwrap_or("-")),
                    k.region,
                    if k.https { "https" } else { "http" },
                    k.result.as_str(),
                    k.status_class,
                    get(c)
                );
            }
        }
        let origin: [Family<OriginCounts>; 4] = [
            (
                "edgegate_origin_requests_total",
                "Requests sent to origins.",
                |o| o.requests,
            ),
            (
                "edgegate_origin_failovers_total",
                "Viewer requests an origin group sent on to its secondary origin after its primary failed (a failover status code, no connection, or a timeout).",
                |o| o.failovers,
            ),
            (
                "edgegate_origin_request_bytes_total",
                "Bytes sent to origins (request line, headers and body).",
                |o| o.bytes_out,
            ),
            (
                "edgegate_origin_response_bytes_total",
                "Bytes received from origins (headers and body).",
                |o| o.bytes_in,
            ),
        ];
        for (name, help, get) in origin {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (d, o) in &s.origin {
                let _ = writeln!(
                    out,
                    "{name}{{distribution=\"{}\"}} {}",
                    escape(d.as_deref().unwrap_or("-")),
                    get(o)
                );
            }
        }
        let name = "edgegate_origin_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from sending a request to an origin to its response head.\n# TYPE {name} histogram"
        );
        for (d, o) in &s.origin {
            o.latency.render(
                &mut out,
                name,
                &format!("distribution=\"{}\"", escape(d.as_deref().unwrap_or("-"))),
            );
        }
        for (name, help, h) in [
            (
                "edgegate_request_duration_seconds",
                "Time from a viewer request's arrival to its last byte (CloudFront's time-taken).",
                &s.duration,
            ),
            (
                "edgegate_time_to_first_byte_seconds",
                "Time from a viewer request's arrival to the first byte of the response.",
                &s.ttfb,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            h.render(&mut out, name, "");
        }
        let (hits, looked) =
            s.requests
                .iter()
                .fold((0u64, 0u64), |(h, n), (k, c)| match k.result {
                    ResultType::Hit | ResultType::RefreshHit => (h + c.requests, n + c.requests),
                    ResultType::Miss => (h, n + c.requests),
                    _ => (h, n),
                });
        let ratio = if looked == 0 {
            0.0
        } else {
            hits as f64 / looked as f64
        };
        for (name, kind, help, v) in [
            (
                "edgegate_cache_entries",
                "gauge",
                "Objects in the cache.",
                cache.entries as f64,
            ),
            (
                "edgegate_cache_bytes",
                "gauge",
                "Bytes held by the cache.",
                cache.weighted_bytes as f64,
            ),
            (
                "edgegate_cache_capacity_bytes",
                "gauge",
                "The cache's capacity (--cache-size).",
                cache.capacity_bytes as f64,
            ),
            (
                "edgegate_cache_hit_ratio",
                "gauge",
                "(Hit + RefreshHit) / (Hit + RefreshHit + Miss) over viewer requests since start.",
                ratio,
            ),
            (
                "edgegate_cache_lookups_total",
                "counter",
                "Cache lookups (fresh, stale and missing).",
                (cache.hits + cache.stale_hits + cache.misses) as f64,
            ),
            (
                "edgegate_cache_collapsed_total",
                "counter",
                "Requests that waited for another request's origin fetch.",
                cache.collapsed as f64,
            ),
            (
                "edgegate_cache_invalidated_total",
                "counter",
                "Objects removed by invalidations.",
                cache.invalidated as f64,
            ),
            (
                "edgegate_cache_mirror_bytes",
                "gauge",
                "Bytes of cached bodies held again in memfd mirrors for sendfile (counted in edgegate_cache_bytes).",
                crate::sendfile::bytes_held() as f64,
            ),
            (
                "edgegate_sendfile_bytes_total",
                "counter",
                "Cached body bytes sent to viewers with sendfile from their mirrors.",
                crate::sendfile::bytes_sent() as f64,
            ),
            (
                "edgegate_sendfile_cold_total",
                "counter",
                "Sends from a disk cache file that found pages outside the page cache: read on a blocking thread first, or written from memory.",
                crate::sendfile::cold_sends() as f64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        render_tiers(&mut out, cache);
        out
    }
}

/// The cache's metrics by tier (memory, disk) and the disk tier's own.
fn render_tiers(out: &mut String, cache: &CacheStats) {
    let disk = cache.disk.unwrap_or_default();
    let found = cache.hits + cache.stale_hits;
    for (name, help, memory, on_disk) in [
        (
            "edgegate_cache_tier_hits_total",
            "Lookups that found an object (fresh or stale), by the tier it came from.",
            found.saturating_sub(disk.hits),
            disk.hits,
        ),
        (
            "edgegate_cache_tier_hit_bytes_total",
            "Body bytes of the objects lookups found, by tier.",
            cache.memory_hit_bytes,
            disk.hit_bytes,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let _ = writeln!(out, "{name}{{tier=\"memory\"}} {memory}");
        if cache.disk.is_some() {
            let _ = writeln!(out, "{name}{{tier=\"disk\"}} {on_disk}");
        }
    }
    for (name, help, v) in [
        (
            "edgegate_cache_fills_total",
            "Origin fetches led to fill the cache.",
            cache.fills,
        ),
        (
            "edgegate_cache_stored_total",
            "Objects stored in the memory tier.",
            cache.stored,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let Some(d) = cache.disk else {
        return;
    };
    for (name, kind, help, v) in [
        (
            "edgegate_disk_cache_entries",
            "gauge",
            "Objects in the disk tier's index.",
            d.entries as f64,
        ),
        (
            "edgegate_disk_cache_bytes",
            "gauge",
            "Bytes of the disk tier's files.",
            d.used_bytes as f64,
        ),
        (
            "edgegate_disk_cache_capacity_bytes",
            "gauge",
            "The disk tier's capacity (--disk-cache-size).",
            d.capacity_bytes as f64,
        ),
        (
            "edgegate_disk_cache_index_bytes",
            "gauge",
            "Approximate memory taken by the disk tier's index.",
            d.index_bytes as f64,
        ),
        (
            "edgegate_disk_cache_open_files",
            "gauge",
            "Disk tier objects kept open with their parsed heads (hits without a blocking-thread hop).",
            d.open_files as f64,
        ),
        (
            "edgegate_disk_cache_load_seconds",
            "gauge",
            "Time the disk tier's index took to load at start.",
            d.load_millis as f64 / 1000.0,
        ),
        (
            "edgegate_disk_cache_writes_total",
            "counter",
            "Objects written to the disk tier (fills).",
            d.writes as f64,
        ),
        (
            "edgegate_disk_cache_write_bytes_total",
            "counter",
            "Bytes written to the disk tier.",
            d.write_bytes as f64,
        ),
        (
            "edgegate_disk_cache_write_errors_total",
            "counter",
            "Disk tier writes that failed (logged; the object stays in memory).",
            d.write_errors as f64,
        ),
        (
            "edgegate_disk_cache_writes_dropped_total",
            "counter",
            "Disk tier writes dropped (queue full, or writes turned off after an error).",
            d.writes_dropped as f64,
        ),
        (
            "edgegate_disk_cache_evictions_total",
            "counter",
            "Objects evicted from the disk tier to make room.",
            d.evictions as f64,
        ),
        (
            "edgegate_disk_cache_evicted_bytes_total",
            "counter",
            "Bytes evicted from the disk tier.",
            d.evicted_bytes as f64,
        ),
        (
            "edgegate_disk_cache_invalidated_total",
            "counter",
            "Disk tier objects removed by invalidations.",
            d.invalidated as f64,
        ),
        (
            "edgegate_disk_cache_refused_total",
            "counter",
            "Disk tier files refused as damaged or torn (and deleted).",
            d.corrupt as f64,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsecond_bounds_place_observations_as_the_bounds_in_seconds_do() {
        let edges = BUCKETS_US.iter().flat_map(|&b| [b - 1, b, b + 1]);
        for us in (0..20_000_000u64).step_by(997).chain(edges) {
            let by_secs = BUCKETS.iter().position(|b| us as f64 / 1e6 <= *b);
            let by_us = BUCKETS_US.iter().position(|b| us <= *b);
            assert_eq!(by_us, by_secs, "{us} µs");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        for us in [300, 500, 2_000, 20_000_000] {
            h.observe_us(us);
        }
        let mut out = String::new();
        h.render(&mut out, "t", "d=\"x\"");
        let value = |le: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("t_bucket{{d=\"x\",le=\"{le}\"}} ")))
                .and_then(|l| l.rsplit(' ').next())
                .map(|v| v.parse::<u64>().unwrap())
        };
        assert_eq!(value("0.0005"), Some(2), "{out}");
        assert_eq!(value("0.001"), Some(2));
        assert_eq!(value("0.0025"), Some(3));
        assert_eq!(value("10"), Some(3));
        assert_eq!(value("+Inf"), Some(4));
        assert!(out.contains("t_count{d=\"x\"} 4\n"), "{out}");
        assert!(out.contains("t_sum{d=\"x\"} 20.0028\n"), "{out}");
    }

    #[test]
    fn counts_every_record_under_its_label_set() {
        use crate::meter::w3c::tests::{bare_line, full_line};
        let m = Metrics::default();
        let hit = full_line().departure;
        let mut miss = hit;
        miss.result_type = ResultType::Miss;
        miss.origin_latency_us = Some(2_000);
        miss.origin_bytes_out = 100;
        // The same label values from other bytes: counted together, by value.
        let id = b"EDFDVBD6EXAMPLE".to_vec();
        let mut other_bytes = hit;
        other_bytes.distribution_id = Some(&id);
        let none = bare_line().departure;
        {
            let mut counter = m.counter();
            for r in [&hit, &miss, &hit, &none, &other_bytes, &miss, &hit] {
                counter.observe(r);
            }
        }
        let out = m.render(&CacheStats::default());
        let value = |prefix: &str| -> Vec<u64> {
            out.lines()
                .filter(|l| l.starts_with(prefix))
                .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
                .collect()
        };
        let hits = "edgegate_requests_total{distribution=\"EDFDVBD6EXAMPLE\",billing_region=\"US\",protocol=\"https\",result_type=\"Hit\",status_class=\"2xx\"}";
        assert_eq!(value(hits), vec![4], "{out}");
        assert_eq!(
            value(&hits.replace("\"Hit\"", "\"Miss\"")),
            vec![2],
            "{out}"
        );
        assert_eq!(
            value("edgegate_requests_total{distribution=\"-\""),
            vec![1],
            "{out}"
        );
        assert_eq!(
            value("edgegate_response_bytes_total{distribution=\"EDFDVBD6EXAMPLE\""),
            vec![4 * 392, 2 * 392],
            "{out}"
        );
        assert_eq!(
            value("edgegate_origin_request_bytes_total{distribution=\"EDFDVBD6EXAMPLE\"}"),
            vec![200]
        );
        assert_eq!(
            value("edgegate_origin_requests_total{distribution=\"-\"}"),
            vec![1]
        );
        assert!(
            out.contains("edgegate_request_duration_seconds_count 7\n"),
            "{out}"
        );
    }
}
