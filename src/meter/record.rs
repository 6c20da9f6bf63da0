//! What the meter knows about one request, in two shapes.
//!
//! [`Line`] is one request's record, as the data plane learns it: [`Arrival`] when the request
//! comes in, the content type with the response head, [`Departure`] when the response has
//! ended. The data plane packs each part into the record's bytes as soon as it is known
//! ([`super::packed::Packer`]), so a request in flight holds no handle on the request's or the
//! cache's buffers. Read back from the journal, a record becomes one journal line: CloudFront's
//! 33 standard-log fields, escaped as CloudFront escapes them, followed by [`EXT_FIELDS`],
//! edgegate's extension fields that billing needs and the standard log does not carry.
//!
//! [`Entry`] is what reports read back: parsed from a journal line (every field known) or from a
//! delivered CloudFront log line (the extension fields unknown).

use std::net::IpAddr;

use http::Version;

use crate::config::BillingRegion;

/// Objects whose TTL is at least this many seconds are `Static` in usage reports (else
/// `Dynamic`), as CloudFront's usage report splits them.
pub const STATIC_TTL_SECS: u64 = 3_600;

/// The extension fields that follow the 33 standard fields on a journal line, in order:
/// the distribution id, the billing region (`US` …), the TTL class (`Static`, `Dynamic` or `-`),
/// bytes sent to the origin (request line, headers and body), bytes received from the origin,
/// the origin's time to first byte in seconds (`-` when the origin was not contacted), and the
/// billing region of the Origin Shield the request counts at as an Origin Shield request (`-`
/// when it does not; `crate::edge::shield`).
pub const EXT_FIELDS: [&str; 7] = [
    "x-distribution-id",
    "x-billing-region",
    "x-ttl-class",
    "x-origin-bytes-out",
    "x-origin-bytes-in",
    "x-origin-latency",
    "x-origin-shield-billing-region",
];

/// CloudFront's result types (`x-edge-result-type`, `x-edge-response-result-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResultType {
    /// Served from the cache.
    Hit,
    /// In the cache but expired; revalidated with the origin.
    RefreshHit,
    /// Forwarded to the origin.
    Miss,
    /// A 4xx/5xx, or a response the viewer did not receive in full.
    Error,
    /// An HTTP→HTTPS redirect required by the behavior.
    Redirect,
    /// A limit was exceeded.
    LimitExceeded,
    /// 503 for lack of capacity.
    CapacityExceeded,
}

impl ResultType {
    /// Every value, for bounded metric labels.
    pub const ALL: [ResultType; 7] = [
        Self::Hit,
        Self::RefreshHit,
        Self::Miss,
        Self::Error,
        Self::Redirect,
        Self::LimitExceeded,
        Self::CapacityExceeded,
    ];

    /// CloudFront's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "Hit",
            Self::RefreshHit => "RefreshHit",
            Self::Miss => "Miss",
            Self::Error => "Error",
            Self::Redirect => "Redirect",
            Self::LimitExceeded => "LimitExceeded",
            Self::CapacityExceeded => "CapacityExceeded",
        }
    }

    /// Parses CloudFront's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Static (TTL ≥ [`STATIC_TTL_SECS`]) or Dynamic, for GET/HEAD usage detail rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TtlClass {
    /// TTL of an hour or more.
    Static,
    /// Shorter TTL, or not cacheable.
    Dynamic,
}

impl TtlClass {
    /// From the TTL the response was (or would have been) cached with.
    pub fn from_ttl_secs(ttl: u64) -> Self {
        if ttl >= STATIC_TTL_SECS {
            Self::Static
        } else {
            Self::Dynamic
        }
    }

    /// `Static` or `Dynamic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "Static",
            Self::Dynamic => "Dynamic",
        }
    }
}

/// One request as read back from a journal line or a delivered CloudFront log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `date` and `time`, as Unix seconds (UTC).
    pub time: i64,
    /// `x-edge-location`.
    pub pop: String,
    /// `sc-bytes`.
    pub sc_bytes: u64,
    /// `c-ip`.
    pub client_ip: String,
    /// `cs-method`.
    pub method: String,
    /// `cs(Host)`: the distribution's domain name.
    pub host: String,
    /// `cs-uri-stem`, as logged (escaped).
    pub uri_stem: String,
    /// `sc-status` (`0` for `000`).
    pub status: u16,
    /// `cs(Referer)` as logged, `None` for `-`.
    pub referer: Option<String>,
    /// `x-edge-result-type`.
    pub result_type: Option<ResultType>,
    /// `cs-protocol` is `https` (or `wss`/`grpcs`).
    pub https: bool,
    /// `cs-bytes`.
    pub cs_bytes: u64,
    /// `x-edge-response-result-type`.
    pub response_result_type: Option<ResultType>,
    /// From the journal: the distribution id. From a CloudFront log: taken from the file name.
    pub distribution_id: String,
    /// From the journal; `None` when read from a CloudFront log.
    pub billing_region: Option<BillingRegion>,
    /// From the journal (`None` for `-`, or when read from a CloudFront log).
    pub ttl_class: Option<TtlClass>,
    /// From the journal (0 when read from a CloudFront log).
    pub origin_bytes_out: u64,
    /// From the journal: the billing region of the Origin Shield this request counts at
    /// (`None` for `-`, and when read from a CloudFront log, whose format does not say).
    pub origin_shield: Option<BillingRegion>,
}

/// One request's record, borrowed: text as the bytes that get escaped (raw, as the request
/// carried them), the rest as numbers and enums. It is packed in three steps as the request
/// goes ([`super::packed::Packer`]): what is known when the request arrives, the response's
/// content type, and what is known when the response has ended. Readers unpack it and format
/// its journal line ([`super::w3c::journal_line`]) or CloudFront's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// Known when the request arrives.
    pub arrival: Arrival<'a>,
    /// `sc-content-type`: known once the response head is.
    pub content_type: Option<&'a [u8]>,
    /// Known when the response has ended, or the viewer went away.
    pub departure: Departure<'a>,
}

/// A record's values known when its request arrives: all text, copied once into the record as
/// the request comes in, so the request path keeps no handle on the request's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival<'a> {
    /// `x-edge-location`: this edge's `--pop`.
    pub pop: &'a [u8],
    /// `cs-method`.
    pub method: &'a [u8],
    /// `cs-protocol-version` ([`protocol_version`]).
    pub version: &'a [u8],
    /// `cs-uri-stem`, as received.
    pub path: &'a [u8],
    /// `cs-uri-query`, as received.
    pub query: Option<&'a [u8]>,
    /// `x-host-header`: the Host header as sent.
    pub host_header: Option<&'a [u8]>,
    /// `cs(Referer)`.
    pub referer: Option<&'a [u8]>,
    /// `cs(User-Agent)`.
    pub user_agent: Option<&'a [u8]>,
    /// `cs(Cookie)`: every `Cookie` header, joined by `; `. Always kept; a standard log carries
    /// it only when the distribution's logging includes cookies.
    pub cookie: Option<&'a [u8]>,
    /// `x-forwarded-for`, as received.
    pub forwarded_for: Option<&'a [u8]>,
    /// `x-edge-request-id`: the `X-Amz-Cf-Id` sent to the viewer.
    pub request_id: &'a [u8],
    /// `ssl-protocol` and `ssl-cipher`, for TLS.
    pub tls: Option<(&'a [u8], &'a [u8])>,
}

/// A record's values known when the response has ended (or the viewer went away first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure<'a> {
    /// When the last byte was sent (or the viewer went away), Unix milliseconds.
    pub end_ms: i64,
    /// `c-ip`.
    pub client_ip: IpAddr,
    /// `c-port`.
    pub client_port: u16,
    /// `cs-protocol` is `https`.
    pub https: bool,
    /// `sc-status`; `0` when the viewer went away before a response was sent (logged `000`).
    pub status: u16,
    /// `sc-bytes`: bytes sent to the viewer, status line and headers included.
    pub sc_bytes: u64,
    /// `cs-bytes`: bytes received from the viewer, request line and headers included.
    pub cs_bytes: u64,
    /// `time-taken`: from the request's arrival to the last byte (or abandonment), µs.
    pub time_taken_us: u64,
    /// `time-to-first-byte`: to the first body byte (or the head for an empty body), µs.
    pub ttfb_us: u64,
    /// `x-edge-result-type`: after the last byte.
    pub result_type: ResultType,
    /// `x-edge-response-result-type`: just before the response was sent.
    pub response_result_type: ResultType,
    /// `x-edge-detailed-result-type` (CloudFront's names, e.g. `OriginConnectError`).
    pub detailed_result_type: &'a [u8],
    /// `sc-content-len`: the response's length as sent, when known.
    pub content_length: Option<u64>,
    /// `sc-range-start` and `sc-range-end`, of a `Content-Range` response.
    pub range: Option<(u64, u64)>,
    /// `x-distribution-id`; `None` (logged `-`) when no distribution matched the Host.
    pub distribution_id: Option<&'a [u8]>,
    /// `cs(Host)`: the distribution's domain name; `None` when none matched.
    pub distribution_domain: Option<&'a [u8]>,
    /// `x-billing-region`: this edge's `--billing-region`.
    pub billing_region: BillingRegion,
    /// `x-ttl-class`: Static or Dynamic, from the TTL the object was cached with (`None`,
    /// logged `-`, for refusals, redirects and errors generated at the edge).
    pub ttl_class: Option<TtlClass>,
    /// `x-origin-bytes-out`: bytes sent to the origin (request line, headers and body).
    pub origin_bytes_out: u64,
    /// `x-origin-bytes-in`: bytes received from the origin (headers and body).
    pub origin_bytes_in: u64,
    /// `x-origin-latency`: the origin's time to first byte, µs, when it was contacted.
    pub origin_latency_us: Option<u64>,
    /// An origin group's primary origin failed and the request went on to its secondary (not
    /// a field of CloudFront's log; counted in `edgegate_origin_failovers_total`).
    pub origin_failed_over: bool,
    /// `x-origin-shield-billing-region`: the request counts as an Origin Shield request, in this
    /// billing region (the shield's).
    pub origin_shield: Option<BillingRegion>,
}

/// `HTTP/1.1` and so on, as `cs-protocol-version` writes them.
pub fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "-",
    }
}
