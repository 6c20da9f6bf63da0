//! The CloudFront console's other reports, built from log [`Entry`]s: cache statistics,
//! popular objects and top referrers (`edgegate report cache-stats | popular-objects |
//! top-referrers`).
//!
//! Each report is a pure function over entries, a [`ReportScope`] (a `[from, to)` range in Unix
//! seconds, an optional distribution and the generation time) and, for cache statistics, a
//! [`ReportGranularity`]. The result renders as the console's CSV download ([`to_csv`
//! methods](CacheStatsReport::to_csv)) or as JSON with the same names.
//!
//! Mapping from log fields, as CloudFront documents it:
//!
//! - Hit, Miss: `x-edge-response-result-type` `Hit` / `Miss`; Error: `Error`, `LimitExceeded`
//!   or `CapacityExceeded`; `RefreshHit` and `Redirect` count only in `RequestCount`.
//! - IncompleteDownloadCount: `sc-status` 200 with `x-edge-result-type` `Error`.
//! - HTTP2xx … HTTP5xx: by `sc-status` (`000` is in none of them).
//! - TotalBytes: Σ `sc-bytes`; BytesFromMisses: Σ `sc-bytes` where `x-edge-result-type` is `Miss`.
//! - FriendlyName: `cs(Host)`, the distribution's domain name as logged.
//! - ViewerLocation: edgegate does not know the viewer's continent, so it is always `All`.
//! - Object: the last 500 characters of `cs-uri-stem` (as logged, i.e. escaped).
//! - Referrer: the host name in `cs(Referer)`, lower-cased, without user, port or path;
//!   requests without a referrer are not listed but count in the total that `RequestsPct`
//!   divides by.
//!
//! CSV layout (CloudFront documents the names, not the exact layout, so this is inferred): one
//! `Name,Value` row per header item (`Version,1.0`, `Report,…`, `DistributionID,…` with `ALL`
//! when no distribution was chosen, `StartDateUTC`, `EndDateUTC`, `GeneratedTimeUTC` as RFC 3339
//! UTC, then `Granularity` (`Hourly`/`Daily`) and `ViewerLocation` for cache statistics), an
//! empty line, the column header row and the data rows. Percentages have two decimals. Time
//! buckets without requests are left out.
//!
//! Memory is bounded: popular objects and referrers keep at most [`MAX_TRACKED`] distinct keys
//! and, like CloudFront's running top lists, drop the least requested ones when that is
//! exceeded (the report then says `approximate`); cache statistics stop adding new rows after
//! [`MAX_ROWS`] (and say `truncated`).

use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::record::{Entry, ResultType};

/// Objects listed per distribution in the popular-objects report.
pub const TOP_OBJECTS: usize = 50;
/// Referrers listed per distribution in the top-referrers report.
pub const TOP_REFERRERS: usize = 25;
/// Characters of the URL stem kept as the popular-objects `Object`.
pub const OBJECT_CHARS: usize = 500;
/// Distinct objects or referrers tracked before the least requested are dropped.
pub const MAX_TRACKED: usize = 200_000;
/// Distinct (distribution, host, time bucket) rows in a cache-statistics report.
pub const MAX_ROWS: usize = 1_000_000;

/// How many keys survive a prune of a top-N map.
const PRUNE_TO: usize = MAX_TRACKED / 10;
/// Latest second a report prints (9999-12-31T23:59:59Z).
const MAX_SECS: i64 = 253_402_300_799;

/// One data point per hour or per day (the console's `Granularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportGranularity {
    /// One row per UTC hour.
    Hour,
    /// One row per UTC day.
    Day,
}

impl ReportGranularity {
    /// The console's spelling: `Hourly` or `Daily`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "Hourly",
            Self::Day => "Daily",
        }
    }

    /// Start of the bucket that contains `t` (Unix seconds).
    pub fn bucket_start(self, t: i64) -> i64 {
        let len = match self {
            Self::Hour => 3_600,
            Self::Day => 86_400,
        };
        t - t.rem_euclid(len)
    }
}

impl Serialize for ReportGranularity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which entries a report covers, and when it was generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportScope {
    /// First second included (Unix seconds, UTC).
    pub from: i64,
    /// First second excluded.
    pub to: i64,
    /// Only this distribution; `None` for all (`ALL` in the report).
    pub distribution: Option<String>,
    /// When the report is generated (`GeneratedTimeUTC`), Unix seconds.
    pub generated_at: i64,
}

impl ReportScope {
    fn includes(&self, e: &Entry) -> bool {
        e.time >= self.from
            && e.time < self.to
            && self
                .distribution
                .as_deref()
                .is_none_or(|d| d == e.distribution_id)
    }

    fn header(&self, report: &'static str) -> ReportHeader {
        ReportHeader {
            version: "1.0",
            report,
            distribution_id: self
                .distribution
                .clone()
                .unwrap_or_else(|| "ALL".to_string()),
            start: self.from,
            end: self.to,
            generated: self.generated_at,
        }
    }
}

/// The rows every console report starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportHeader {
    /// Format version, `1.0`.
    #[serde(rename = "Version")]
    pub version: &'static str,
    /// `CacheStatistics`, `PopularObjects` or `TopReferrers`.
    #[serde(rename = "Report")]
    pub report: &'static str,
    /// The distribution, or `ALL`.
    #[serde(rename = "DistributionID")]
    pub distribution_id: String,
    /// Start of the range, Unix seconds (RFC 3339 in JSON and CSV).
    #[serde(rename = "StartDateUTC", serialize_with = "ser_time")]
    pub start: i64,
    /// End of the range (exclusive).
    #[serde(rename = "EndDateUTC", serialize_with = "ser_time")]
    pub end: i64,
    /// When the report was generated.
    #[serde(rename = "GeneratedTimeUTC", serialize_with = "ser_time")]
    pub generated: i64,
}

impl ReportHeader {
    fn write_csv(&self, out: &mut String) {
        push_row(out, &["Version", self.version]);
        push_row(out, &["Report", self.report]);
        push_row(out, &["DistributionID", &self.distribution_id]);
        push_row(out, &["StartDateUTC", &rfc3339(self.start)]);
        push_row(out, &["EndDateUTC", &rfc3339(self.end)]);
        push_row(out, &["GeneratedTimeUTC", &rfc3339(self.generated)]);
    }
}

/// RFC 3339 UTC with a `Z`, clamped to years 1970–9999.
fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t.clamp(0, MAX_SECS))
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn ser_time<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Percentage with two decimals.
fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 10_000.0 / whole as f64).round() / 100.0
}

/// Appends one CSV row, quoting fields that need it.
fn push_row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push('\n');
}

/// The request, result and byte counters the cache-statistics and popular-objects rows share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests of every status and method.
    #[serde(rename = "RequestCount")]
    pub request_count: u64,
    /// `x-edge-response-result-type` `Hit`.
    #[serde(rename = "HitCount")]
    pub hit_count: u64,
    /// `x-edge-response-result-type` `Miss`.
    #[serde(rename = "MissCount")]
    pub miss_count: u64,
    /// `x-edge-response-result-type` `Error`, `LimitExceeded` or `CapacityExceeded`.
    #[serde(rename = "ErrorCount")]
    pub error_count: u64,
    /// `sc-status` 200 with `x-edge-result-type` `Error`.
    #[serde(rename = "IncompleteDownloadCount")]
    pub incomplete_download_count: u64,
    /// Status 2xx.
    #[serde(rename = "HTTP2xx")]
    pub http_2xx: u64,
    /// Status 3xx.
    #[serde(rename = "HTTP3xx")]
    pub http_3xx: u64,
    /// Status 4xx.
    #[serde(rename = "HTTP4xx")]
    pub http_4xx: u64,
    /// Status 5xx.
    #[serde(rename = "HTTP5xx")]
    pub http_5xx: u64,
    /// Σ `sc-bytes`.
    #[serde(rename = "TotalBytes")]
    pub total_bytes: u64,
    /// Σ `sc-bytes` where `x-edge-result-type` is `Miss`.
    #[serde(rename = "BytesFromMisses")]
    pub bytes_from_misses: u64,
}

impl Counts {
    fn add(&mut self, e: &Entry) {
        self.request_count += 1;
        match e.response_result_type {
            Some(ResultType::Hit) => self.hit_count += 1,
            Some(ResultType::Miss) => self.miss_count += 1,
            Some(ResultType::Error | ResultType::LimitExceeded | ResultType::CapacityExceeded) => {
                self.error_count += 1
            }
            _ => {}
        }
        if e.status == 200 && e.result_type == Some(ResultType::Error) {
            self.incomplete_download_count += 1;
        }
        match e.status {
            200..=299 => self.http_2xx += 1,
            300..=399 => self.http_3xx += 1,
            400..=499 => self.http_4xx += 1,
            500..=599 => self.http_5xx += 1,
            _ => {}
        }
        self.total_bytes = self.total_bytes.saturating_add(e.sc_bytes);
        if e.result_type == Some(ResultType::Miss) {
            self.bytes_from_misses = self.bytes_from_misses.saturating_add(e.sc_bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cache statistics

/// Column header of the cache-statistics data rows.
pub const CACHE_STATS_COLUMNS: [&str; 15] = [
    "DistributionID",
    "FriendlyName",
    "ViewerLocation",
    "TimeBucket",
    "RequestCount",
    "HitCount",
    "MissCount",
    "ErrorCount",
    "IncompleteDownloadCount",
    "HTTP2xx",
    "HTTP3xx",
    "HTTP4xx",
    "HTTP5xx",
    "TotalBytes",
    "BytesFromMisses",
];

/// One cache-statistics row: a distribution and host in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheStatsRow {
    /// The distribution.
    #[serde(rename = "DistributionID")]
    pub distribution_id: String,
    /// `cs(Host)`.
    #[serde(rename = "FriendlyName")]
    pub friendly_name: String,
    /// Always `All` (edgegate does not locate viewers).
    #[serde(rename = "ViewerLocation")]
    pub viewer_location: &'static str,
    /// Start of the hour or day, Unix seconds (RFC 3339 in JSON and CSV).
    #[serde(rename = "TimeBucket", serialize_with = "ser_time")]
    pub time_bucket: i64,
    /// The counters.
    #[serde(flatten)]
    pub counts: Counts,
}

/// The cache-statistics report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheStatsReport {
    /// The header rows.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// `Hourly` or `Daily`.
    #[serde(rename = "Granularity")]
    pub granularity: ReportGranularity,
    /// Always `All`.
    #[serde(rename = "ViewerLocation")]
    pub viewer_location: &'static str,
    /// Rows sorted by distribution, host and time.
    #[serde(rename = "Rows")]
    pub rows: Vec<CacheStatsRow>,
    /// More than [`MAX_ROWS`] rows were needed; requests for the rest were not counted.
    #[serde(rename = "Truncated", skip_serializing_if = "is_false")]
    pub truncated: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Builds the cache-statistics report.
pub fn cache_statistics(
    entries: impl IntoIterator<Item = Entry>,
    scope: &ReportScope,
    granularity: ReportGranularity,
) -> CacheStatsReport {
    let mut rows: BTreeMap<(String, String, i64), Counts> = BTreeMap::new();
    let mut truncated = false;
    for e in entries {
        if !scope.includes(&e) {
            continue;
        }
        let bucket = granularity.bucket_start(e.time);
        let key = (e.distribution_id.clone(), e.host.clone(), bucket);
        if let Some(c) = rows.get_mut(&key) {
            c.add(&e);
        } else if rows.len() < MAX_ROWS {
            rows.entry(key).or_default().add(&e);
        } else {
            truncated = true;
        }
    }
    CacheStatsReport {
        header: scope.header("CacheStatistics"),
        granularity,
        viewer_location: "All",
        rows: rows
            .into_iter()
            .map(
                |((distribution_id, friendly_name, time_bucket), counts)| CacheStatsRow {
                    distribution_id,
                    friendly_name,
                    viewer_location: "All",
                    time_bucket,
                    counts,
                },
            )
            .collect(),
        truncated,
    }
}

impl CacheStatsReport {
    /// The console's CSV download.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        self.header.write_csv(&mut out);
        push_row(&mut out, &["Granularity", self.granularity.as_str()]);
        push_row(&mut out, &["ViewerLocation", self.viewer_location]);
        out.push('\n');
        push_row(&mut out, &CACHE_STATS_COLUMNS);
        for r in &self.rows {
            let c = &r.counts;
            let nums = [
                c.request_count,
                c.hit_count,
                c.miss_count,
                c.error_count,
                c.incomplete_download_count,
                c.http_2xx,
                c.http_3xx,
                c.http_4xx,
                c.http_5xx,
                c.total_bytes,
                c.bytes_from_misses,
            ]
            .map(|n| n.to_string());
            let mut fields: Vec<&str> =
                vec![&r.distribution_id, &r.friendly_name, r.viewer_location];
            let bucket = rfc3339(r.time_bucket);
            fields.push(&bucket);
            fields.extend(nums.iter().map(String::as_str));
            push_row(&mut out, &fields);
        }
        out
    }

    /// The same report as pretty-printed JSON.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Popular objects

/// Column header of the popular-objects data rows.
pub const POPULAR_OBJECTS_COLUMNS: [&str; 14] = [
    "DistributionID",
    "FriendlyName",
    "Object",
    "RequestCount",
    "HitCount",
    "MissCount",
    "HitCountPct",
    "BytesFromMisses",
    "TotalBytes",
    "IncompleteDownloadCount",
    "HTTP2xx",
    "HTTP3xx",
    "HTTP4xx",
    "HTTP5xx",
];

/// One popular object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopularObjectRow {
    /// The distribution.
    #[serde(rename = "DistributionID")]
    pub distribution_id: String,
    /// `cs(Host)`.
    #[serde(rename = "FriendlyName")]
    pub friendly_name: String,
    /// The last 500 characters of the URL stem.
    #[serde(rename = "Object")]
    pub object: String,
    /// `HitCount` as a percentage of `RequestCount`, two decimals.
    #[serde(rename = "HitCountPct")]
    pub hit_count_pct: f64,
    /// The counters (`ErrorCount` is not a column of this report).
    #[serde(flatten)]
    pub counts: Counts,
}

/// The popular-objects report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopularObjectsReport {
    /// The header rows.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// Up to [`TOP_OBJECTS`] rows per distribution, most requested first.
    #[serde(rename = "Rows")]
    pub rows: Vec<PopularObjectRow>,
    /// Less requested objects were dropped while counting (see [`MAX_TRACKED`]), so counts near
    /// the bottom may be low.
    #[serde(rename = "Approximate", skip_serializing_if = "is_false")]
    pub approximate: bool,
}

/// The last [`OBJECT_CHARS`] characters of a URL stem.
fn object_of(stem: &str) -> &str {
    match stem.char_indices().rev().nth(OBJECT_CHARS - 1) {
        Some((i, _)) => &stem[i..],
        None => stem,
    }
}

/// Keeps only the `keep` largest values of `map` (by `weight`, ties by key).
fn prune<K: Ord + Clone + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    keep: usize,
    weight: impl Fn(&V) -> u64,
) {
    let mut ranked: Vec<(u64, K)> = map.iter().map(|(k, v)| (weight(v), k.clone())).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, k) in ranked.into_iter().skip(keep) {
        map.remove(&k);
    }
}

/// Builds the popular-objects report.
pub fn popular_objects(
    entries: impl IntoIterator<Item = Entry>,
    scope: &ReportScope,
) -> PopularObjectsReport {
    let mut objects: HashMap<(String, String, String), Counts> = HashMap::new();
    let mut approximate = false;
    for e in entries {
        if !scope.includes(&e) {
            continue;
        }
        let key = (
            e.distribution_id.clone(),
            e.host.clone(),
            object_of(&e.uri_stem).to_string(),
        );
        objects.entry(key).or_default().add(&e);
        if objects.len() > MAX_TRACKED {
            prune(&mut objects, PRUNE_TO, |c| c.request_count);
            approximate = true;
        }
    }
    let mut ranked: Vec<((String, String, String), Counts)> = objects.into_iter().collect();
    ranked.sort_by(|(ka, a), (kb, b)| {
        ka.0.cmp(&kb.0)
            .then(b.request_count.cmp(&a.request_count))
            .then_with(|| ka.cmp(kb))
    });
    let mut rows = Vec::new();
    let mut per_dist = 0;
    let mut last_dist: Option<String> = None;
    for ((distribution_id, friendly_name, object), counts) in ranked {
        if last_dist.as_deref() != Some(distribution_id.as_str()) {
            last_dist = Some(distribution_id.clone());
            per_dist = 0;
        }
        per_dist += 1;
        if per_dist > TOP_OBJECTS {
            continue;
        }
        rows.push(PopularObjectRow {
            distribution_id,
            friendly_name,
            object,
            hit_count_pct: pct(counts.hit_count, counts.request_count),
            counts,
        });
    }
    PopularObjectsReport {
        header: scope.header("PopularObjects"),
        rows,
        approximate,
    }
}

impl PopularObjectsReport {
    /// The console's CSV download.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        self.header.write_csv(&mut out);
        out.push('\n');
        push_row(&mut out, &POPULAR_OBJECTS_COLUMNS);
        for r in &self.rows {
            let c = &r.counts;
            let fields = [
                r.distribution_id.clone(),
                r.friendly_name.clone(),
                r.object.clone(),
                c.request_count.to_string(),
                c.hit_count.to_string(),
                c.miss_count.to_string(),
                format!("{:.2}", r.hit_count_pct),
                c.bytes_from_misses.to_string(),
                c.total_bytes.to_string(),
                c.incomplete_download_count.to_string(),
                c.http_2xx.to_string(),
                c.http_3xx.to_string(),
                c.http_4xx.to_string(),
                c.http_5xx.to_string(),
            ];
            push_row(&mut out, &fields.each_ref().map(String::as_str));
        }
        out
    }

    /// The same report as pretty-printed JSON (`ErrorCount` included as an extra field).
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Top referrers

/// Column header of the top-referrers data rows.
pub const TOP_REFERRERS_COLUMNS: [&str; 5] = [
    "DistributionID",
    "FriendlyName",
    "Referrer",
    "RequestCount",
    "RequestsPct",
];

/// One referrer domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopReferrerRow {
    /// The distribution.
    #[serde(rename = "DistributionID")]
    pub distribution_id: String,
    /// `cs(Host)`.
    #[serde(rename = "FriendlyName")]
    pub friendly_name: String,
    /// The referrer's domain name.
    #[serde(rename = "Referrer")]
    pub referrer: String,
    /// Requests with this referrer.
    #[serde(rename = "RequestCount")]
    pub request_count: u64,
    /// `RequestCount` as a percentage of all the distribution's requests in the range (with or
    /// without a referrer), two decimals.
    #[serde(rename = "RequestsPct")]
    pub requests_pct: f64,
}

/// The top-referrers report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopReferrersReport {
    /// The header rows.
    #[serde(flatten)]
    pub header: ReportHeader,
    /// Up to [`TOP_REFERRERS`] rows per distribution, most requests first.
    #[serde(rename = "Rows")]
    pub rows: Vec<TopReferrerRow>,
    /// Less frequent referrers were dropped while counting (see [`MAX_TRACKED`]).
    #[serde(rename = "Approximate", skip_serializing_if = "is_false")]
    pub approximate: bool,
}

/// The domain of a logged `cs(Referer)`: after the scheme, before any path, query, fragment,
/// user or port, lower-cased. `None` when there is none.
pub fn referrer_domain(referer: &str) -> Option<String> {
    let rest = referer.split_once("://").map_or(referer, |(_, r)| r);
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let mut authority = &rest[..end];
    // The log escapes `#` as `%23`; treat it as the end too.
    if let Some(i) = authority.find("%23") {
        authority = &authority[..i];
    }
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with("%5B") || host.starts_with('[') {
        // IPv6 literal: keep the brackets' content and drop any port after them.
        match host
            .find("%5D")
            .map(|i| i + 3)
            .or(host.find(']').map(|i| i + 1))
        {
            Some(end) => &host[..end],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty() && host != "-").then(|| host.to_ascii_lowercase())
}

/// Builds the top-referrers report.
pub fn top_referrers(
    entries: impl IntoIterator<Item = Entry>,
    scope: &ReportScope,
) -> TopReferrersReport {
    // Requests per (distribution, host), and per (distribution, host, referrer domain).
    let mut totals: HashMap<(String, String), u64> = HashMap::new();
    let mut referrers: HashMap<(String, String, String), u64> = HashMap::new();
    let mut approximate = false;
    for e in entries {
        if !scope.includes(&e) {
            continue;
        }
        let domain = e.referer.as_deref().and_then(referrer_domain);
        let Entry {
            distribution_id,
            host,
            ..
        } = e;
        if let Some(t) = totals.get_mut(&(distribution_id.clone(), host.clone())) {
            *t += 1;
        } else if totals.len() < MAX_TRACKED {
            totals.insert((distribution_id.clone(), host.clone()), 1);
        } else {
            approximate = true;
        }
        if let Some(domain) = domain {
            *referrers
                .entry((distribution_id, host, domain))
                .or_default() += 1;
            if referrers.len() > MAX_TRACKED {
                prune(&mut referrers, PRUNE_TO, |n| *n);
                approximate = true;
            }
        }
    }
    let mut ranked: Vec<((String, String, String), u64)> = referrers.into_iter().collect();
    ranked.sort_by(|(ka, a), (kb, b)| ka.0.cmp(&kb.0).then(b.cmp(a)).then_with(|| ka.cmp(kb)));
    let mut rows = Vec::new();
    let mut per_dist = 0;
    let mut last_dist: Option<String> = None;
    for ((distribution_id, friendly_name, referrer), request_count) in ranked {
        if last_dist.as_deref() != Some(distribution_id.as_str()) {
            last_dist = Some(distribution_id.clone());
            per_dist = 0;
        }
        per_dist += 1;
        if per_dist > TOP_REFERRERS {
            continue;
        }
        let total = totals
            .get(&(distribution_id.clone(), friendly_name.clone()))
            .copied()
            .unwrap_or(request_count)
            .max(request_count);
        rows.push(TopReferrerRow {
            distribution_id,
            friendly_name,
            referrer,
            request_count,
            requests_pct: pct(request_count, total),
        });
    }
    TopReferrersReport {
        header: scope.header("TopReferrers"),
        rows,
        approximate,
    }
}

impl TopReferrersReport {
    /// The console's CSV download.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        self.header.write_csv(&mut out);
        out.push('\n');
        push_row(&mut out, &TOP_REFERRERS_COLUMNS);
        for r in &self.rows {
            let count = r.request_count.to_string();
            let pct = format!("{:.2}", r.requests_pct);
            push_row(
                &mut out,
                &[
                    &r.distribution_id,
                    &r.friendly_name,
                    &r.referrer,
                    &count,
                    &pct,
                ],
            );
        }
        out
    }

    /// The same report as pretty-printed JSON.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests;
