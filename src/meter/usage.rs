//! Usage rollups with CloudFront's usage types, and the reports built from them.
//!
//! Each [`Entry`] is classified the way CloudFront's usage report classifies a request
//! (reference `usage-and-logs.md` §3.3) and added, in exact integer arithmetic, to a [`Rollup`]
//! keyed by hour × distribution × billing region × operation × usage type. A [`Query`] turns the
//! rollup into [`UsageRow`]s at hourly, daily or monthly granularity, which render as the AWS
//! usage report CSV ([`render_aws_csv`]), JSON ([`render_json`]) or, straight from the rollup,
//! CloudFront's console usage report ([`render_console_csv`]).
//!
//! The usage report carries two kinds of rows, as CloudFront's does: the billed aggregate usage
//! types (`US-Requests-Tier1`, `US-DataTransfer-Out-Bytes`, …) and, with [`Query::detail`], the
//! detail types that break them down (`US-Requests-HTTP-Static`, `US-Out-Bytes-HTTPS-Dynamic`,
//! …). Each aggregate equals the sum of its detail rows, so **summing every row of a detailed
//! report counts everything twice.**

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;

use super::record::{Entry, TtlClass};
use crate::config::BillingRegion;

const HOUR: i64 = 3_600;

/// The earliest entry time a rollup accepts: 1970-01-01T00:00:00Z.
const MIN_TIME: i64 = 0;
/// The latest entry time a rollup accepts: 9999-12-31T23:59:59Z (the reports print four-digit
/// years).
const MAX_TIME: i64 = 253_402_300_799;

/// The size of a report's time buckets. Buckets are aligned to UTC hours, days and calendar
/// months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Granularity {
    /// One bucket per UTC hour.
    #[default]
    Hour,
    /// One bucket per UTC day.
    Day,
    /// One bucket per UTC calendar month.
    Month,
}

impl Granularity {
    /// `hour`, `day` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The start of the bucket holding the hour that starts at `hour_start`.
    fn bucket_start(self, hour_start: i64) -> i64 {
        match self {
            Self::Hour => hour_start,
            Self::Day => hour_start.div_euclid(86_400) * 86_400,
            Self::Month => {
                let (y, m, _) = civil_from_days(hour_start.div_euclid(86_400));
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The end (exclusive) of the bucket that starts at `start`.
    fn bucket_end(self, start: i64) -> i64 {
        match self {
            Self::Hour => start + HOUR,
            Self::Day => start + 86_400,
            Self::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(86_400));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The console report's spelling: `HOURLY`, `DAILY`, `MONTHLY`.
    fn console_name(self) -> &'static str {
        match self {
            Self::Hour => "HOURLY",
            Self::Day => "DAILY",
            Self::Month => "MONTHLY",
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A granularity other than hour, day or month (carries the text given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a granularity: use hour, day or month")]
pub struct UnknownGranularity(pub String);

impl FromStr for Granularity {
    type Err = UnknownGranularity;

    fn from_str(s: &str) -> Result<Self, UnknownGranularity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            _ => Err(UnknownGranularity(s.to_owned())),
        }
    }
}

/// HTTP or HTTPS to the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Proto {
    Http,
    Https,
}

impl Proto {
    fn of(https: bool) -> Self {
        if https { Self::Https } else { Self::Http }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }
}

/// A CloudFront usage type, without its region prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum UsageType {
    /// `Requests-Tier1`: HTTP GET and HEAD.
    RequestsTier1,
    /// `Requests-Tier2-HTTPS`: HTTPS GET and HEAD.
    RequestsTier2Https,
    /// `Requests-HTTP-Proxy`, `Requests-HTTPS-Proxy`: every other method (aggregate and
    /// detail at once, as CloudFront has no finer type).
    RequestsProxy(Proto),
    /// `DataTransfer-Out-Bytes`: bytes to viewers, all methods.
    OutBytes,
    /// `DataTransfer-Out-OBytes`: bytes to the origin for proxy methods.
    OutOBytes,
    /// `Invalidations`: paths invalidated (no region prefix).
    Invalidations,
    /// Detail: `Requests-{HTTP|HTTPS}-{Static|Dynamic}`.
    RequestsDetail(Proto, TtlClass),
    /// Detail: `Out-Bytes-{HTTP|HTTPS}-{Static|Dynamic}`.
    OutBytesDetail(Proto, TtlClass),
    /// Detail: `Out-Bytes-{HTTP|HTTPS}-Proxy`.
    OutBytesProxy(Proto),
    /// Detail: `Out-OBytes-{HTTP|HTTPS}-Proxy`.
    OutOBytesProxy(Proto),
    /// `Requests-OriginShield`: requests that went through an Origin Shield as an incremental
    /// layer, in the shield's billing region.
    RequestsOriginShield,
}

impl UsageType {
    /// Whether this type is billed (appears without `--detail`).
    fn is_aggregate(self) -> bool {
        matches!(
            self,
            Self::RequestsTier1
                | Self::RequestsTier2Https
                | Self::RequestsProxy(_)
                | Self::OutBytes
                | Self::OutOBytes
                | Self::Invalidations
                | Self::RequestsOriginShield
        )
    }

    /// The full name, with the region prefix where CloudFront puts one.
    fn name(self, region: Option<BillingRegion>) -> String {
        let rest = match self {
            Self::RequestsTier1 => "Requests-Tier1".to_owned(),
            Self::RequestsTier2Https => "Requests-Tier2-HTTPS".to_owned(),
            Self::RequestsProxy(p) => format!("Requests-{}-Proxy", p.as_str()),
            Self::OutBytes => "DataTransfer-Out-Bytes".to_owned(),
            Self::OutOBytes => "DataTransfer-Out-OBytes".to_owned(),
            Self::Invalidations => return "Invalidations".to_owned(),
            Self::RequestsDetail(p, c) => format!("Requests-{}-{}", p.as_str(), c.as_str()),
            Self::OutBytesDetail(p, c) => format!("Out-Bytes-{}-{}", p.as_str(), c.as_str()),
            Self::OutBytesProxy(p) => format!("Out-Bytes-{}-Proxy", p.as_str()),
            Self::OutOBytesProxy(p) => format!("Out-OBytes-{}-Proxy", p.as_str()),
            Self::RequestsOriginShield => "Requests-OriginShield".to_owned(),
        };
        match region {
            Some(r) => format!("{}-{rest}", r.code()),
            None => rest,
        }
    }
}

/// Distribution ids and operations, each stored once and referred to by number, so counting a
/// request allocates nothing once its distribution and method have been seen.
#[derive(Debug, Clone, Default)]
struct Names {
    ids: HashMap<String, usize>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> usize {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len();
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("", String::as_str)
    }
}

/// The key of one rollup value; `distribution` and `operation` index [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    hour: i64,
    distribution: usize,
    region: Option<BillingRegion>,
    operation: usize,
    usage_type: UsageType,
}

/// The key of one console-report cell: hour, distribution (a [`Names`] index), region, HTTPS.
type ConsoleKey = (i64, usize, BillingRegion, bool);

/// What the console report needs per hour × distribution × region × protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ConsoleCounts {
    /// Requests, all methods.
    requests: u64,
    /// Bytes to viewers (`sc-bytes`), all methods.
    bytes_out: u64,
    /// Bytes to the origin for proxy methods (the `Out-OBytes` types).
    bytes_to_origin: u64,
}

impl ConsoleCounts {
    fn merge(&mut self, o: &ConsoleCounts) {
        self.requests = self.requests.saturating_add(o.requests);
        self.bytes_out = self.bytes_out.saturating_add(o.bytes_out);
        self.bytes_to_origin = self.bytes_to_origin.saturating_add(o.bytes_to_origin);
    }
}

/// Usage counts by hour × distribution × billing region × operation × usage type, aggregate
/// and detail types both, plus what CloudFront's console usage report needs.
///
/// All arithmetic is on `u64` integers; a value that would pass `u64::MAX` (16 EiB in one
/// hour) stays at `u64::MAX` rather than wrapping.
///
/// Counting rules (reference §3.3):
///
/// - GET and HEAD count one `{R}-Requests-Tier1` (HTTP) or `{R}-Requests-Tier2-HTTPS` (HTTPS)
///   and add `sc-bytes` to `{R}-DataTransfer-Out-Bytes`, with detail types split by protocol
///   and TTL class (`Static` or `Dynamic`; an entry without a TTL class counts as `Dynamic`).
/// - Every other method counts one `{R}-Requests-{HTTP|HTTPS}-Proxy`, adds `sc-bytes` to
///   `{R}-DataTransfer-Out-Bytes` (detail `{R}-Out-Bytes-{HTTP|HTTPS}-Proxy`) and the bytes sent
///   to the origin to `{R}-DataTransfer-Out-OBytes` (detail `{R}-Out-OBytes-{HTTP|HTTPS}-Proxy`).
///   Byte types whose value would be zero get no row.
/// - A request that ended with status `000` (the viewer left before any response was sent)
///   still counts as a request, with whatever bytes it moved: CloudFront logs such requests,
///   the edge did the work of receiving and routing them, and counting them keeps the report
///   equal to the number of lines in the access log.
/// - The operation is the request method as logged.
/// - A request that counts as an Origin Shield request (the journal's
///   `x-origin-shield-billing-region`, see `crate::edge::shield`) also counts one
///   `{S}-Requests-OriginShield`, where S is the shield's billing region, not the edge's. A
///   CloudFront log line does not say, so reports from delivered logs have none.
#[derive(Debug, Clone, Default)]
pub struct Rollup {
    names: Names,
    values: HashMap<Key, u64>,
    friendly: BTreeMap<String, String>,
    console: HashMap<ConsoleKey, ConsoleCounts>,
    skipped: u64,
}

impl Rollup {
    /// An empty rollup.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing has been counted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Entries that were not counted: those with no distribution (`-` or empty: the request
    /// matched no distribution, so there is nothing to bill it to) and those whose time lies
    /// outside 1970–9999.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The friendly name of a distribution: the first `cs(Host)` seen for it.
    pub fn friendly_name(&self, distribution_id: &str) -> Option<&str> {
        self.friendly.get(distribution_id).map(String::as_str)
    }

    fn bump(&mut self, key: Key, v: u64) {
        let slot = self.values.entry(key).or_insert(0);
        *slot = slot.saturating_add(v);
    }

    /// Counts one request. `fallback` is the billing region used when the entry does not carry
    /// one (an entry read from a CloudFront log rather than the journal).
    pub fn add(&mut self, e: &Entry, fallback: BillingRegion) {
        if e.distribution_id.is_empty()
            || e.distribution_id == "-"
            || !(MIN_TIME..=MAX_TIME).contains(&e.time)
        {
            self.skipped += 1;
            return;
        }
        let hour = e.time.div_euclid(HOUR) * HOUR;
        let region = e.billing_region.unwrap_or(fallback);
        let proto = Proto::of(e.https);
        let named = self.friendly.contains_key(&e.distribution_id);
        if !named && !e.host.is_empty() && e.host != "-" {
            let name = e.host.clone();
            self.friendly.insert(e.distribution_id.clone(), name);
        }
        let cacheable = e.method == "GET" || e.method == "HEAD";
        let dist = self.names.id(&e.distribution_id);
        let op = self.names.id(&e.method);

        // Zero-valued byte types get no row.
        let mut count = |usage_type: UsageType, v: u64| {
            if v > 0 {
                self.bump(
                    Key {
                        hour,
                        distribution: dist,
                        region: Some(region),
                        operation: op,
                        usage_type,
                    },
                    v,
                );
            }
        };
        let to_origin = if cacheable {
            let class = e.ttl_class.unwrap_or(TtlClass::Dynamic);
            let tier = match proto {
                Proto::Http => UsageType::RequestsTier1,
                Proto::Https => UsageType::RequestsTier2Https,
            };
            count(tier, 1);
            count(UsageType::RequestsDetail(proto, class), 1);
            count(UsageType::OutBytes, e.sc_bytes);
            count(UsageType::OutBytesDetail(proto, class), e.sc_bytes);
            0
        } else {
            count(UsageType::RequestsProxy(proto), 1);
            count(UsageType::OutBytes, e.sc_bytes);
            count(UsageType::OutBytesProxy(proto), e.sc_bytes);
            count(UsageType::OutOBytes, e.origin_bytes_out);
            count(UsageType::OutOBytesProxy(proto), e.origin_bytes_out);
            e.origin_bytes_out
        };

        if let Some(shield) = e.origin_shield {
            self.bump(
                Key {
                    hour,
                    distribution: dist,
                    region: Some(shield),
                    operation: op,
                    usage_type: UsageType::RequestsOriginShield,
                },
                1,
            );
        }

        let c = self
            .console
            .entry((hour, dist, region, e.https))
            .or_default();
        c.merge(&ConsoleCounts {
            requests: 1,
            bytes_out: e.sc_bytes,
            bytes_to_origin: to_origin,
        });
    }

    /// Counts `paths` invalidated paths for a distribution at `time_unix` (usage type and
    /// operation `Invalidations`, no region). Times outside 1970–9999 are not counted.
    pub fn add_invalidations(&mut self, time_unix: i64, distribution_id: &str, paths: u64) {
        if paths == 0 {
            return;
        }
        if !(MIN_TIME..=MAX_TIME).contains(&time_unix) {
            self.skipped += 1;
            return;
        }
        let hour = time_unix.div_euclid(HOUR) * HOUR;
        let key = Key {
            hour,
            distribution: self.names.id(distribution_id),
            region: None,
            operation: self.names.id("Invalidations"),
            usage_type: UsageType::Invalidations,
        };
        self.bump(key, paths);
    }

    /// Adds another rollup's counts to this one (for reports over several journals or edges).
    /// Friendly names already known here win.
    pub fn merge(&mut self, other: Rollup) {
        // Other's name numbers → this rollup's.
        let map: Vec<usize> = other.names.names.iter().map(|n| self.names.id(n)).collect();
        let remap = |id: usize| map.get(id).copied().unwrap_or(id);
        for (mut k, v) in other.values {
            k.distribution = remap(k.distribution);
            k.operation = remap(k.operation);
            let slot = self.values.entry(k).or_insert(0);
            *slot = slot.saturating_add(v);
        }
        for (d, name) in other.friendly {
            self.friendly.entry(d).or_insert(name);
        }
        for ((hour, dist, region, https), c) in other.console {
            self.console
                .entry((hour, remap(dist), region, https))
                .or_default()
                .merge(&c);
        }
        self.skipped = self.skipped.saturating_add(other.skipped);
    }

    /// The report rows a query selects, summed into its buckets and sorted by (start,
    /// distribution, operation, usage type).
    ///
    /// Without [`Query::detail`] only the billed aggregate types appear (`Requests-Tier1`,
    /// `Requests-Tier2-HTTPS`, `Requests-HTTP-Proxy`, `Requests-HTTPS-Proxy`,
    /// `DataTransfer-Out-Bytes`, `DataTransfer-Out-OBytes`, `Invalidations`,
    /// `Requests-OriginShield`). With it the detail
    /// types appear too, as in CloudFront's usage report, so summing every row double counts.
    pub fn rows(&self, q: &Query) -> Vec<UsageRow> {
        let mut out: BTreeMap<(i64, &str, &str, String), u64> = BTreeMap::new();
        for (k, &v) in &self.values {
            let dist = self.names.name(k.distribution);
            if !q.selects(k.hour, dist) {
                continue;
            }
            // Proxy request types are both the billed item and their own detail.
            if !q.detail && !k.usage_type.is_aggregate() {
                continue;
            }
            let start = q.granularity.bucket_start(k.hour);
            let slot = out
                .entry((
                    start,
                    dist,
                    self.names.name(k.operation),
                    k.usage_type.name(k.region),
                ))
                .or_insert(0);
            *slot = slot.saturating_add(v);
        }
        out.into_iter()
            .map(|((start, dist, op, usage_type), value)| UsageRow {
                start,
                end: q.granularity.bucket_end(start),
                distribution_id: dist.to_owned(),
                operation: op.to_owned(),
                usage_type,
                value,
            })
            .collect()
    }
}

/// Which part of a rollup a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only hours starting at or after this Unix time.
    pub from: Option<i64>,
    /// Only hours starting before this Unix time.
    pub to: Option<i64>,
    /// The size of the report's buckets.
    pub granularity: Granularity,
    /// Only this distribution.
    pub distribution: Option<String>,
    /// Include the usage report's detail types as well as the billed aggregates.
    pub detail: bool,
}

impl Query {
    fn selects(&self, hour: i64, distribution: &str) -> bool {
        self.from.is_none_or(|f| hour >= f)
            && self.to.is_none_or(|t| hour < t)
            && self
                .distribution
                .as_deref()
                .is_none_or(|d| d == distribution)
    }
}

/// One row of the usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// Start of the bucket, Unix seconds (UTC).
    pub start: i64,
    /// End of the bucket (exclusive), Unix seconds (UTC).
    pub end: i64,
    /// The distribution id.
    pub distribution_id: String,
    /// The HTTP method, or `Invalidations`.
    pub operation: String,
    /// The CloudFront usage type, e.g. `US-Requests-Tier1`.
    pub usage_type: String,
    /// Requests, bytes or paths.
    pub value: u64,
}

/// The distribution's ARN, as the usage report's `Resource`.
pub fn distribution_arn(account_id: &str, distribution_id: &str) -> String {
    format!("arn:aws:cloudfront::{account_id}:distribution/{distribution_id}")
}

/// Writes the AWS usage report for CloudFront as CSV: CloudFront's exact header (with a space
/// after each comma, in the header only), then one line per row with times as
/// `MM/DD/YY HH:MM:SS` UTC and values in bytes or counts.
pub fn render_aws_csv(rows: &[UsageRow], account_id: &str, out: &mut impl Write) -> io::Result<()> {
    out.write_all(b"Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n")?;
    for r in rows {
        writeln!(
            out,
            "AmazonCloudFront,{},{},{},{},{},{}",
            csv_field(&r.operation),
            csv_field(&r.usage_type),
            csv_field(&distribution_arn(account_id, &r.distribution_id)),
            aws_time(r.start),
            aws_time(r.end),
            r.value
        )?;
    }
    Ok(())
}

/// One row of the JSON usage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRow {
    /// Always `AmazonCloudFront`.
    pub service: &'static str,
    /// The HTTP method, or `Invalidations`.
    pub operation: String,
    /// The CloudFront usage type.
    pub usage_type: String,
    /// The distribution's ARN.
    pub resource: String,
    /// Bucket start, RFC 3339 UTC.
    pub start_time: String,
    /// Bucket end (exclusive), RFC 3339 UTC.
    pub end_time: String,
    /// Requests, bytes or paths.
    pub value: u64,
}

/// The JSON usage report: `{"rows":[…]}`. The admin `/usage` endpoint serves the same value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonReport {
    /// The rows, in report order.
    pub rows: Vec<JsonRow>,
}

impl JsonReport {
    /// The JSON shape of `rows` for an account.
    pub fn new(rows: &[UsageRow], account_id: &str) -> Self {
        Self {
            rows: rows
                .iter()
                .map(|r| JsonRow {
                    service: "AmazonCloudFront",
                    operation: r.operation.clone(),
                    usage_type: r.usage_type.clone(),
                    resource: distribution_arn(account_id, &r.distribution_id),
                    start_time: rfc3339(r.start),
                    end_time: rfc3339(r.end),
                    value: r.value,
                })
                .collect(),
        }
    }
}

/// Writes the usage report as JSON (see [`JsonReport`]), followed by a newline.
pub fn render_json(rows: &[UsageRow], account_id: &str, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &JsonReport::new(rows, account_id))
        .map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Writes CloudFront's console usage report as CSV: the header rows (`Version`, `Report`,
/// `DistributionID`, `StartDateUTC`, `EndDateUTC`, `GeneratedTimeUTC`, `Granularity`,
/// `BillingRegion`, each as `Name,Value`), then the column line and one line per bucket ×
/// distribution × billing region:
///
/// - `HTTP`, `HTTPS`: requests, all methods;
/// - `HTTPBytes`, `HTTPSBytes`: bytes to viewers plus bytes to the origin, by protocol;
/// - `BytesIn`: bytes to the origin for DELETE, OPTIONS, PATCH, POST and PUT (the `Out-OBytes`
///   types);
/// - `BytesOut`: bytes to viewers, all methods.
///
/// So `HTTPBytes + HTTPSBytes = BytesIn + BytesOut` on every line. `FriendlyName` is the first
/// `cs(Host)` seen for the distribution. The report covers every billing region (`ALL`);
/// times are written `YYYY-MM-DDTHH:MM:SSZ`. `generated` (Unix seconds) is the
/// `GeneratedTimeUTC`. The start and end are the query's, or else the first and last bucket's.
pub fn render_console_csv(
    rollup: &Rollup,
    q: &Query,
    generated: i64,
    out: &mut impl Write,
) -> io::Result<()> {
    type Cell = (ConsoleCounts, ConsoleCounts);
    let mut cells: BTreeMap<(i64, &str, BillingRegion), Cell> = BTreeMap::new();
    for ((hour, dist, region, https), c) in &rollup.console {
        let dist = rollup.names.name(*dist);
        if !q.selects(*hour, dist) {
            continue;
        }
        let start = q.granularity.bucket_start(*hour);
        let cell = cells.entry((start, dist, *region)).or_default();
        if *https {
            cell.1.merge(c)
        } else {
            cell.0.merge(c)
        }
    }
    let first = cells.keys().next().map(|k| k.0);
    let last = cells
        .keys()
        .next_back()
        .map(|k| q.granularity.bucket_end(k.0));
    let start = q.from.or(first).map(rfc3339).unwrap_or_default();
    let end = q.to.or(last).map(rfc3339).unwrap_or_default();

    writeln!(out, "Version,1.0")?;
    writeln!(out, "Report,Usage")?;
    writeln!(
        out,
        "DistributionID,{}",
        csv_field(q.distribution.as_deref().unwrap_or("ALL"))
    )?;
    writeln!(out, "StartDateUTC,{start}")?;
    writeln!(out, "EndDateUTC,{end}")?;
    writeln!(out, "GeneratedTimeUTC,{}", rfc3339(generated))?;
    writeln!(out, "Granularity,{}", q.granularity.console_name())?;
    writeln!(out, "BillingRegion,ALL")?;
    writeln!(
        out,
        "DistributionID,FriendlyName,BillingRegion,TimeBucket,HTTP,HTTPS,HTTPBytes,HTTPSBytes,BytesIn,BytesOut"
    )?;
    for ((start, dist, region), (http, https)) in cells {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            csv_field(dist),
            csv_field(rollup.friendly_name(dist).unwrap_or("")),
            region.code(),
            rfc3339(start),
            http.requests,
            https.requests,
            http.bytes_out.saturating_add(http.bytes_to_origin),
            https.bytes_out.saturating_add(https.bytes_to_origin),
            http.bytes_to_origin.saturating_add(https.bytes_to_origin),
            http.bytes_out.saturating_add(https.bytes_out),
        )?;
    }
    Ok(())
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

fn utc(ts: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(ts).ok()
}

/// `MM/DD/YY HH:MM:SS`, UTC, as the AWS usage report writes times.
fn aws_time(ts: i64) -> String {
    match utc(ts) {
        Some(t) => format!(
            "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
            u8::from(t.month()),
            t.day(),
            t.year().rem_euclid(100),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => ts.to_string(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(ts: i64) -> String {
    match utc(ts) {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => ts.to_string(),
    }
}

pub(crate) use crate::civil::{civil_from_days, days_from_civil};

#[cfg(test)]
mod tests {
    use super::*;

    const H1: i64 = 1_795_550_400; // 2026-11-24T20:00:00Z
    const H2: i64 = H1 + HOUR;

    #[allow(clippy::too_many_arguments)]
    fn entry(
        time: i64,
        method: &str,
        https: bool,
        region: Option<BillingRegion>,
        ttl: Option<TtlClass>,
        sc_bytes: u64,
        origin_bytes_out: u64,
        status: u16,
    ) -> Entry {
        Entry {
            time,
            pop: "IAD89-C1".into(),
            sc_bytes,
            client_ip: "192.0.2.1".into(),
            method: method.into(),
            host: "d111111abcdef8.cloudfront.net".into(),
            uri_stem: "/a".into(),
            status,
            referer: None,
            result_type: None,
            https,
            cs_bytes: 100,
            response_result_type: None,
            distribution_id: "E1".into(),
            billing_region: region,
            ttl_class: ttl,
            origin_bytes_out,
            origin_shield: None,
        }
    }

    use BillingRegion::{Eu, Jp, Us};
    use TtlClass::{Dynamic, Static};

    #[test]
    fn origin_shield_requests_count_in_the_shields_region() {
        let mut r = Rollup::new();
        let mut via_shield = entry(H1 + 1, "GET", true, Some(Jp), None, 500, 0, 200);
        via_shield.origin_shield = Some(Us);
        r.add(&via_shield, Us);
        r.add(&entry(H1 + 2, "GET", true, Some(Jp), None, 500, 0, 200), Us);
        let rows = r.rows(&Query::default());
        let shield: Vec<_> = rows
            .iter()
            .filter(|row| row.usage_type.ends_with("OriginShield"))
            .map(|row| (row.usage_type.as_str(), row.value))
            .collect();
        assert_eq!(shield, [("US-Requests-OriginShield", 1)]);
        // The viewer requests still count where the edge is, once each.
        let tier2: u64 = rows
            .iter()
            .filter(|row| row.usage_type == "JP-Requests-Tier2-HTTPS")
            .map(|row| row.value)
            .sum();
        assert_eq!(tier2, 2);
    }

    fn sample() -> Rollup {
        let entries = [
            entry(H1 + 5, "GET", false, Some(Us), Some(Static), 1_000, 0, 200),
            entry(H1 + 10, "GET", true, Some(Us), Some(Dynamic), 2_000, 0, 200),
            entry(H1 + 20, "HEAD", true, Some(Us), None, 300, 0, 200),
            entry(H1 + 30, "POST", false, Some(Us), None, 500, 700, 201),
            // The viewer left before any response: a request, no bytes.
            entry(H1 + 40, "PUT", true, Some(Eu), None, 0, 0, 0),
            entry(H2 + 1, "GET", true, Some(Eu), Some(Static), 4_000, 0, 200),
            entry(H2 + 2, "GET", true, Some(Eu), Some(Static), 6_000, 0, 200),
            entry(H2 + 3, "POST", true, Some(Eu), None, 100, 50, 200),
            // Read from a CloudFront log: no region, the caller's fallback applies.
            entry(H2 + 4, "GET", false, None, Some(Static), 10, 0, 200),
        ];
        let mut r = Rollup::new();
        for e in &entries {
            r.add(e, Jp);
        }
        r.add_invalidations(H2 + 100, "E1", 3);
        r
    }

    fn triples(rows: &[UsageRow]) -> Vec<(i64, &str, &str, u64)> {
        rows.iter()
            .map(|r| {
                assert_eq!(r.distribution_id, "E1");
                (
                    r.start,
                    r.operation.as_str(),
                    r.usage_type.as_str(),
                    r.value,
                )
            })
            .collect()
    }

    #[test]
    fn aggregate_rows_to_the_request_and_byte() {
        let r = sample();
        let rows = r.rows(&Query::default());
        let want = vec![
            (H1, "GET", "US-DataTransfer-Out-Bytes", 3_000),
            (H1, "GET", "US-Requests-Tier1", 1),
            (H1, "GET", "US-Requests-Tier2-HTTPS", 1),
            (H1, "HEAD", "US-DataTransfer-Out-Bytes", 300),
            (H1, "HEAD", "US-Requests-Tier2-HTTPS", 1),
            (H1, "POST", "US-DataTransfer-Out-Bytes", 500),
            (H1, "POST", "US-DataTransfer-Out-OBytes", 700),
            (H1, "POST", "US-Requests-HTTP-Proxy", 1),
            (H1, "PUT", "EU-Requests-HTTPS-Proxy", 1),
            (H2, "GET", "EU-DataTransfer-Out-Bytes", 10_000),
            (H2, "GET", "EU-Requests-Tier2-HTTPS", 2),
            (H2, "GET", "JP-DataTransfer-Out-Bytes", 10),
            (H2, "GET", "JP-Requests-Tier1", 1),
            (H2, "Invalidations", "Invalidations", 3),
            (H2, "POST", "EU-DataTransfer-Out-Bytes", 100),
            (H2, "POST", "EU-DataTransfer-Out-OBytes", 50),
            (H2, "POST", "EU-Requests-HTTPS-Proxy", 1),
        ];
        assert_eq!(triples(&rows), want);
        assert!(rows.iter().all(|row| row.end == row.start + HOUR));
        assert_eq!(r.skipped(), 0);
        assert_eq!(r.friendly_name("E1"), Some("d111111abcdef8.cloudfront.net"));
    }

    #[test]
    fn detail_rows_for_one_hour() {
        let r = sample();
        let q = Query {
            to: Some(H2),
            detail: true,
            ..Query::default()
        };
        let want = vec![
            (H1, "GET", "US-DataTransfer-Out-Bytes", 3_000),
            (H1, "GET", "US-Out-Bytes-HTTP-Static", 1_000),
            (H1, "GET", "US-Out-Bytes-HTTPS-Dynamic", 2_000),
            (H1, "GET", "US-Requests-HTTP-Static", 1),
            (H1, "GET", "US-Requests-HTTPS-Dynamic", 1),
            (H1, "GET", "US-Requests-Tier1", 1),
            (H1, "GET", "US-Requests-Tier2-HTTPS", 1),
            (H1, "HEAD", "US-DataTransfer-Out-Bytes", 300),
            (H1, "HEAD", "US-Out-Bytes-HTTPS-Dynamic", 300),
            (H1, "HEAD", "US-Requests-HTTPS-Dynamic", 1),
            (H1, "HEAD", "US-Requests-Tier2-HTTPS", 1),
            (H1, "POST", "US-DataTransfer-Out-Bytes", 500),
            (H1, "POST", "US-DataTransfer-Out-OBytes", 700),
            (H1, "POST", "US-Out-Bytes-HTTP-Proxy", 500),
            (H1, "POST", "US-Out-OBytes-HTTP-Proxy", 700),
            (H1, "POST", "US-Requests-HTTP-Proxy", 1),
            (H1, "PUT", "EU-Requests-HTTPS-Proxy", 1),
        ];
        assert_eq!(triples(&r.rows(&q)), want);
    }

    #[test]
    fn from_to_and_distribution_select_hours() {
        let mut r = sample();
        let mut other = entry(H2, "GET", false, Some(Us), None, 7, 0, 200);
        other.distribution_id = "E2".into();
        r.add(&other, Us);
        let q = Query {
            from: Some(H2),
            distribution: Some("E2".into()),
            ..Query::default()
        };
        let rows = r.rows(&q);
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|x| x.distribution_id == "E2" && x.start == H2)
        );
        let q = Query {
            from: Some(H1 + 1),
            to: Some(H2),
            ..Query::default()
        };
        assert!(
            r.rows(&q).is_empty(),
            "the hour starting before `from` is not selected"
        );
    }

    #[test]
    fn no_distribution_and_absurd_times_are_skipped() {
        let mut r = Rollup::new();
        let mut e = entry(H1, "GET", false, Some(Us), None, 7, 0, 200);
        e.distribution_id = "-".into();
        r.add(&e, Us);
        let e = entry(-5, "GET", false, Some(Us), None, 7, 0, 200);
        r.add(&e, Us);
        let e = entry(i64::MAX, "GET", false, Some(Us), None, 7, 0, 200);
        r.add(&e, Us);
        r.add_invalidations(i64::MIN, "E1", 4);
        assert!(r.is_empty());
        assert_eq!(r.skipped(), 4);
    }

    #[test]
    fn day_and_month_buckets() {
        const NOV_30_23H: i64 = 1_796_079_600;
        const DEC_1: i64 = 1_796_083_200;
        const NOV_1: i64 = 1_793_491_200;
        const JAN_1_2027: i64 = 1_798_761_600;
        const NOV_24: i64 = 1_795_478_400;
        const NOV_30: i64 = 1_795_996_800;
        let mut r = Rollup::new();
        for t in [H1 + 1, H2 + 5, NOV_30_23H + 59, DEC_1 + 3_599] {
            r.add(&entry(t, "GET", false, Some(Us), None, 10, 0, 200), Us);
        }
        let rows = |g| {
            let q = Query {
                granularity: g,
                ..Query::default()
            };
            r.rows(&q)
                .into_iter()
                .filter(|x| x.usage_type == "US-Requests-Tier1")
                .map(|x| (x.start, x.end, x.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            rows(Granularity::Day),
            vec![
                (NOV_24, NOV_24 + 86_400, 2),
                (NOV_30, DEC_1, 1),
                (DEC_1, DEC_1 + 86_400, 1)
            ]
        );
        assert_eq!(
            rows(Granularity::Month),
            vec![(NOV_1, DEC_1, 3), (DEC_1, JAN_1_2027, 1)]
        );
        assert_eq!(rows(Granularity::Hour).len(), 4);
        assert_eq!("Month".parse(), Ok(Granularity::Month));
        assert_eq!("day".parse(), Ok(Granularity::Day));
        assert_eq!("hour".parse(), Ok(Granularity::Hour));
        assert_eq!(
            "week".parse::<Granularity>().unwrap_err().to_string(),
            "\"week\" is not a granularity: use hour, day or month"
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 20_513, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }

    #[test]
    fn aws_csv_byte_for_byte() {
        let rows = vec![
            UsageRow {
                start: 1_614_628_800,
                end: 1_614_632_400,
                distribution_id: "D157R18U710N".into(),
                operation: "GET".into(),
                usage_type: "EU-Requests-HTTP-Static".into(),
                value: 7,
            },
            UsageRow {
                start: 1_614_628_800,
                end: 1_614_632_400,
                distribution_id: "D157R18U710N".into(),
                operation: "Invalidations".into(),
                usage_type: "Invalidations".into(),
                value: 1,
            },
        ];
        let mut out = Vec::new();
        render_aws_csv(&rows, "111111111111", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n\
             AmazonCloudFront,GET,EU-Requests-HTTP-Static,arn:aws:cloudfront::111111111111:distribution/D157R18U710N,03/01/21 20:00:00,03/01/21 21:00:00,7\n\
             AmazonCloudFront,Invalidations,Invalidations,arn:aws:cloudfront::111111111111:distribution/D157R18U710N,03/01/21 20:00:00,03/01/21 21:00:00,1\n"
        );
    }

    #[test]
    fn aws_csv_of_a_rollup() {
        let rows = sample().rows(&Query {
            to: Some(H2),
            distribution: Some("E1".into()),
            ..Query::default()
        });
        let mut out = Vec::new();
        render_aws_csv(&rows[..2], "123456789012", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Service, Operation, UsageType, Resource, StartTime, EndTime, UsageValue\n\
             AmazonCloudFront,GET,US-DataTransfer-Out-Bytes,arn:aws:cloudfront::123456789012:distribution/E1,11/24/26 20:00:00,11/24/26 21:00:00,3000\n\
             AmazonCloudFront,GET,US-Requests-Tier1,arn:aws:cloudfront::123456789012:distribution/E1,11/24/26 20:00:00,11/24/26 21:00:00,1\n"
        );
    }

    #[test]
    fn json_rows() {
        let rows = sample().rows(&Query::default());
        let mut out = Vec::new();
        render_json(&rows[..1], "123456789012", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"rows":[{"service":"AmazonCloudFront","operation":"GET","usageType":"US-DataTransfer-Out-Bytes","resource":"arn:aws:cloudfront::123456789012:distribution/E1","startTime":"2026-11-24T20:00:00Z","endTime":"2026-11-24T21:00:00Z","value":3000}]}"#
                .to_owned()
                + "\n"
        );
    }

    #[test]
    fn console_csv_byte_for_byte() {
        let r = sample();
        let q = Query {
            granularity: Granularity::Hour,
            ..Query::default()
        };
        let mut out = Vec::new();
        render_console_csv(&r, &q, H2 + 7_200, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Version,1.0\n\
             Report,Usage\n\
             DistributionID,ALL\n\
             StartDateUTC,2026-11-24T20:00:00Z\n\
             EndDateUTC,2026-11-24T22:00:00Z\n\
             GeneratedTimeUTC,2026-11-24T23:00:00Z\n\
             Granularity,HOURLY\n\
             BillingRegion,ALL\n\
             DistributionID,FriendlyName,BillingRegion,TimeBucket,HTTP,HTTPS,HTTPBytes,HTTPSBytes,BytesIn,BytesOut\n\
             E1,d111111abcdef8.cloudfront.net,EU,2026-11-24T20:00:00Z,0,1,0,0,0,0\n\
             E1,d111111abcdef8.cloudfront.net,US,2026-11-24T20:00:00Z,2,2,2200,2300,700,3800\n\
             E1,d111111abcdef8.cloudfront.net,EU,2026-11-24T21:00:00Z,0,3,0,10150,50,10100\n\
             E1,d111111abcdef8.cloudfront.net,JP,2026-11-24T21:00:00Z,1,0,10,0,0,10\n"
        );

        let q = Query {
            from: Some(H1),
            to: Some(H1 + 86_400),
            granularity: Granularity::Day,
            distribution: Some("E1".into()),
            detail: false,
        };
        let mut out = Vec::new();
        render_console_csv(&r, &q, H2 + 7_200, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "DistributionID,E1");
        assert_eq!(lines[3], "StartDateUTC,2026-11-24T20:00:00Z");
        assert_eq!(lines[4], "EndDateUTC,2026-11-25T20:00:00Z");
        assert_eq!(lines[6], "Granularity,DAILY");
        assert_eq!(
            &lines[9..],
            [
                "E1,d111111abcdef8.cloudfront.net,EU,2026-11-24T00:00:00Z,0,4,0,10150,50,10100",
                "E1,d111111abcdef8.cloudfront.net,JP,2026-11-24T00:00:00Z,1,0,10,0,0,10",
                "E1,d111111abcdef8.cloudfront.net,US,2026-11-24T00:00:00Z,2,2,2200,2300,700,3800",
            ]
        );
    }

    #[test]
    fn csv_fields_with_commas_are_quoted() {
        assert_eq!(csv_field("a,b\"c"), "\"a,b\"\"c\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    /// The family an aggregate or detail usage type belongs to, and whether it is the
    /// aggregate. Proxy request types are both, so they are left out.
    fn family(usage_type: &str) -> Option<(String, &'static str, bool)> {
        let (region, rest) = usage_type.split_once('-')?;
        let (fam, agg) = match rest {
            "Requests-Tier1" => ("req-http", true),
            "Requests-HTTP-Static" | "Requests-HTTP-Dynamic" => ("req-http", false),
            "Requests-Tier2-HTTPS" => ("req-https", true),
            "Requests-HTTPS-Static" | "Requests-HTTPS-Dynamic" => ("req-https", false),
            "DataTransfer-Out-Bytes" => ("bytes", true),
            r if r.starts_with("Out-Bytes-") => ("bytes", false),
            "DataTransfer-Out-OBytes" => ("obytes", true),
            r if r.starts_with("Out-OBytes-") => ("obytes", false),
            _ => return None,
        };
        Some((region.to_owned(), fam, agg))
    }

    #[test]
    fn aggregates_equal_the_sum_of_their_detail_rows() {
        const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for round in 0..20 {
            let mut whole = Rollup::new();
            let mut halves = (Rollup::new(), Rollup::new());
            let (mut requests, mut sc, mut proxy_origin) = (0u64, 0u64, 0u64);
            for i in 0..rng.usize(1..400) {
                let region = if rng.bool() {
                    Some(BillingRegion::ALL[rng.usize(..BillingRegion::ALL.len())])
                } else {
                    None
                };
                let ttl = [None, Some(Static), Some(Dynamic)][rng.usize(..3)];
                let method = METHODS[rng.usize(..METHODS.len())];
                let mut e = entry(
                    H1 + rng.i64(0..6 * 86_400),
                    method,
                    rng.bool(),
                    region,
                    ttl,
                    rng.u64(0..5_000_000),
                    if rng.bool() { 0 } else { rng.u64(0..1_000) },
                    [0, 200, 304, 404, 502][rng.usize(..5)],
                );
                e.distribution_id = ["E1", "E2", "E3"][rng.usize(..3)].into();
                requests += 1;
                sc += e.sc_bytes;
                if method != "GET" && method != "HEAD" {
                    proxy_origin += e.origin_bytes_out;
                }
                whole.add(&e, Us);
                if i % 2 == 0 {
                    &mut halves.0
                } else {
                    &mut halves.1
                }
                .add(&e, Us);
            }
            let mut merged = halves.0;
            merged.merge(halves.1);
            for g in [Granularity::Hour, Granularity::Month] {
                let q = Query {
                    granularity: g,
                    detail: true,
                    ..Query::default()
                };
                assert_eq!(
                    merged.rows(&q),
                    whole.rows(&q),
                    "round {round}: merge = add all"
                );
                let (mut a, mut b) = (Vec::new(), Vec::new());
                render_console_csv(&merged, &q, H1, &mut a).unwrap();
                render_console_csv(&whole, &q, H1, &mut b).unwrap();
                assert_eq!(a, b, "round {round}");
            }
            assert_eq!(merged.skipped(), whole.skipped());

            for g in [Granularity::Hour, Granularity::Day, Granularity::Month] {
                let q = Query {
                    granularity: g,
                    detail: true,
                    ..Query::default()
                };
                let rows = whole.rows(&q);
                // (start, distribution, operation, region, family) → (aggregate, Σ detail)
                type Group = (i64, String, String, String, &'static str);
                let mut sums: BTreeMap<Group, (u64, u64)> = BTreeMap::new();
                for row in &rows {
                    if let Some((region, fam, agg)) = family(&row.usage_type) {
                        let s = sums
                            .entry((
                                row.start,
                                row.distribution_id.clone(),
                                row.operation.clone(),
                                region,
                                fam,
                            ))
                            .or_default();
                        if agg {
                            s.0 += row.value
                        } else {
                            s.1 += row.value
                        }
                    }
                }
                for (k, (agg, detail)) in &sums {
                    assert_eq!(agg, detail, "round {round} {g}: {k:?}");
                }
                let aggregate = whole.rows(&Query {
                    granularity: g,
                    ..Query::default()
                });
                let total = |pred: &dyn Fn(&str) -> bool| -> u64 {
                    aggregate
                        .iter()
                        .filter(|r| pred(&r.usage_type))
                        .map(|r| r.value)
                        .sum()
                };
                assert_eq!(total(&|u| u.contains("-Requests-")), requests);
                assert_eq!(total(&|u| u.ends_with("-DataTransfer-Out-Bytes")), sc);
                assert_eq!(
                    total(&|u| u.ends_with("-DataTransfer-Out-OBytes")),
                    proxy_origin
                );
            }

            let mut out = Vec::new();
            render_console_csv(&whole, &Query::default(), H1, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            let (mut http_https_req, mut bytes_out) = (0u64, 0u64);
            for line in text.lines().skip(9) {
                let f: Vec<u64> = line
                    .split(',')
                    .skip(4)
                    .map(|v| v.parse().unwrap())
                    .collect();
                assert_eq!(f[2] + f[3], f[4] + f[5], "{line}");
                http_https_req += f[0] + f[1];
                bytes_out += f[5];
            }
            assert_eq!(http_https_req, requests);
            assert_eq!(bytes_out, sc);
        }
    }
}
