//! What the meter knows about one request, in two shapes.
//!
//! [`Record`] is built by the data plane when a response finishes (or is abandoned) and handed
//! to the meter; it owns cheap handles (`Uri`, `HeaderValue`) so the hot path copies nothing.
//! The journal stores its values ([`Line`], packed); read back, a record becomes one journal
//! line: CloudFront's 33 standard-log fields,
//! escaped as CloudFront escapes them, followed by [`EXT_FIELDS`], edgegate's extension fields
//! that billing needs and the standard log does not carry.
//!
//! [`Entry`] is what reports read back: parsed from a journal line (every field known) or from a
//! delivered CloudFront log line (the extension fields unknown).

use std::net::IpAddr;

use http::{HeaderValue, Method, Uri, Version};

use crate::config::BillingRegion;

/// Objects whose TTL is at least this many seconds are `Static` in usage reports (else
/// `Dynamic`), as CloudFront's usage report splits them.
pub const STATIC_TTL_SECS: u64 = 3_600;

/// The extension fields that follow the 33 standard fields on a journal line, in order:
/// the distribution id, the billing region (`US` …), the TTL class (`Static`, `Dynamic` or `-`),
/// bytes sent to the origin (request line, headers and body), bytes received from the origin,
/// and the origin's time to first byte in seconds (`-` when the origin was not contacted).
pub const EXT_FIELDS: [&str; 6] = [
    "x-distribution-id",
    "x-billing-region",
    "x-ttl-class",
    "x-origin-bytes-out",
    "x-origin-bytes-in",
    "x-origin-latency",
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

/// One finished (or abandoned) viewer request, as the data plane saw it.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the last byte was sent (or the viewer went away), Unix milliseconds.
    pub end_ms: i64,
    /// The distribution id; `None` (logged `-`) when no distribution matched the Host.
    pub distribution_id: Option<std::sync::Arc<str>>,
    /// The distribution's domain name (`cs(Host)`); `None` (logged `-`) when none matched.
    pub distribution_domain: Option<std::sync::Arc<str>>,
    /// `--pop` (`x-edge-location`).
    pub pop: &'static str,
    /// `--billing-region`.
    pub billing_region: BillingRegion,
    /// The viewer address (`c-ip`) and source port (`c-port`).
    pub client_ip: IpAddr,
    /// The viewer's source port.
    pub client_port: u16,
    /// TLS to the viewer.
    pub https: bool,
    /// Negotiated TLS protocol and cipher, if TLS.
    pub tls: Option<(&'static str, &'static str)>,
    /// HTTP version of the request.
    pub version: Version,
    /// Request method.
    pub method: Method,
    /// The request URI as received (path and query are logged raw, then escaped).
    pub uri: Uri,
    /// The Host header as sent (`x-host-header`).
    pub host_header: Option<HeaderValue>,
    /// `Referer`.
    pub referer: Option<HeaderValue>,
    /// `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// `Cookie` (all values joined by `; `), always captured; the log writer drops it unless the
    /// distribution's logging includes cookies.
    pub cookie: Option<HeaderValue>,
    /// `X-Forwarded-For` as received.
    pub forwarded_for: Option<HeaderValue>,
    /// Status sent; `0` when the viewer went away before a response was sent (logged `000`).
    pub status: u16,
    /// Bytes sent to the viewer, status line and headers included (`sc-bytes`).
    pub sc_bytes: u64,
    /// Bytes received from the viewer, request line and headers included (`cs-bytes`).
    pub cs_bytes: u64,
    /// Bytes sent to the origin (request line, headers and body); 0 when not contacted.
    pub origin_bytes_out: u64,
    /// Bytes received from the origin (headers and body); 0 when not contacted.
    pub origin_bytes_in: u64,
    /// The origin's time to first byte, microseconds, when the origin was contacted.
    pub origin_latency_us: Option<u64>,
    /// Time from the request's arrival to the last byte (or abandonment), microseconds.
    pub time_taken_us: u64,
    /// Time from the request's arrival to the first body byte (or the head for an empty
    /// body), microseconds.
    pub ttfb_us: u64,
    /// `x-edge-result-type`: after the last byte.
    pub result_type: ResultType,
    /// `x-edge-response-result-type`: just before the response was sent.
    pub response_result_type: ResultType,
    /// `x-edge-detailed-result-type` (CloudFront's names, e.g. `OriginConnectError`).
    pub detailed_result_type: &'static str,
    /// `Content-Type` of the response.
    pub content_type: Option<HeaderValue>,
    /// `Content-Length` of the response as sent, when known.
    pub content_length: Option<u64>,
    /// First and last byte of a `Content-Range` response.
    pub range: Option<(u64, u64)>,
    /// `x-edge-request-id`, the `X-Amz-Cf-Id` sent to the viewer.
    pub request_id: HeaderValue,
    /// Static or Dynamic, from the TTL the object was cached with (`None` for refusals,
    /// redirects and errors generated at the edge).
    pub ttl_class: Option<TtlClass>,
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
}

/// A [`Record`]'s journal-line values, borrowed: text as the bytes that get escaped, enums as
/// the names the line carries. Request threads pack it into the journal's buffers
/// ([`super::packed`]), the writer appends those to the journal as they are, and readers unpack
/// it and format the line ([`super::w3c::journal_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// [`Record::end_ms`].
    pub end_ms: i64,
    /// `x-edge-location`.
    pub pop: &'a [u8],
    /// `sc-bytes`.
    pub sc_bytes: u64,
    /// `c-ip`.
    pub client_ip: IpAddr,
    /// `cs-method`.
    pub method: &'a [u8],
    /// `cs(Host)`: the distribution's domain.
    pub distribution_domain: Option<&'a [u8]>,
    /// `cs-uri-stem`.
    pub path: &'a [u8],
    /// `sc-status`.
    pub status: u16,
    /// `cs(Referer)`.
    pub referer: Option<&'a [u8]>,
    /// `cs(User-Agent)`.
    pub user_agent: Option<&'a [u8]>,
    /// `cs-uri-query`.
    pub query: Option<&'a [u8]>,
    /// `cs(Cookie)`.
    pub cookie: Option<&'a [u8]>,
    /// `x-edge-result-type`.
    pub result_type: &'a [u8],
    /// `x-edge-request-id`.
    pub request_id: &'a [u8],
    /// `x-host-header`.
    pub host_header: Option<&'a [u8]>,
    /// `cs-protocol` is `https`.
    pub https: bool,
    /// `cs-bytes`.
    pub cs_bytes: u64,
    /// `time-taken`, microseconds.
    pub time_taken_us: u64,
    /// `x-forwarded-for`.
    pub forwarded_for: Option<&'a [u8]>,
    /// `ssl-protocol` and `ssl-cipher`.
    pub tls: Option<(&'a [u8], &'a [u8])>,
    /// `x-edge-response-result-type`.
    pub response_result_type: &'a [u8],
    /// `cs-protocol-version`.
    pub version: &'a [u8],
    /// `c-port`.
    pub client_port: u16,
    /// `time-to-first-byte`, microseconds.
    pub ttfb_us: u64,
    /// `x-edge-detailed-result-type`.
    pub detailed_result_type: &'a [u8],
    /// `sc-content-type`.
    pub content_type: Option<&'a [u8]>,
    /// `sc-content-len`.
    pub content_length: Option<u64>,
    /// `sc-range-start` and `sc-range-end`.
    pub range: Option<(u64, u64)>,
    /// `x-distribution-id`.
    pub distribution_id: Option<&'a [u8]>,
    /// `x-billing-region`.
    pub billing_region: &'a [u8],
    /// `x-ttl-class` (`-` when unknown).
    pub ttl_class: &'a [u8],
    /// `x-origin-bytes-out`.
    pub origin_bytes_out: u64,
    /// `x-origin-bytes-in`.
    pub origin_bytes_in: u64,
    /// `x-origin-latency`, microseconds.
    pub origin_latency_us: Option<u64>,
}

/// `HTTP/1.1` and so on, as `cs-protocol-version` writes them.
fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "-",
    }
}

impl Record {
    /// The values of this record's journal line.
    pub fn line(&self) -> Line<'_> {
        fn header(v: &Option<HeaderValue>) -> Option<&[u8]> {
            v.as_ref().map(HeaderValue::as_bytes)
        }
        Line {
            end_ms: self.end_ms,
            pop: self.pop.as_bytes(),
            sc_bytes: self.sc_bytes,
            client_ip: self.client_ip,
            method: self.method.as_str().as_bytes(),
            distribution_domain: self.distribution_domain.as_deref().map(str::as_bytes),
            path: self.uri.path().as_bytes(),
            status: self.status,
            referer: header(&self.referer),
            user_agent: header(&self.user_agent),
            query: self.uri.query().map(str::as_bytes),
            cookie: header(&self.cookie),
            result_type: self.result_type.as_str().as_bytes(),
            request_id: self.request_id.as_bytes(),
            host_header: header(&self.host_header),
            https: self.https,
            cs_bytes: self.cs_bytes,
            time_taken_us: self.time_taken_us,
            forwarded_for: header(&self.forwarded_for),
            tls: self.tls.map(|(p, c)| (p.as_bytes(), c.as_bytes())),
            response_result_type: self.response_result_type.as_str().as_bytes(),
            version: protocol_version(self.version).as_bytes(),
            client_port: self.client_port,
            ttfb_us: self.ttfb_us,
            detailed_result_type: self.detailed_result_type.as_bytes(),
            content_type: header(&self.content_type),
            content_length: self.content_length,
            range: self.range,
            distribution_id: self.distribution_id.as_deref().map(str::as_bytes),
            billing_region: self.billing_region.code().as_bytes(),
            ttl_class: self.ttl_class.map_or("-", TtlClass::as_str).as_bytes(),
            origin_bytes_out: self.origin_bytes_out,
            origin_bytes_in: self.origin_bytes_in,
            origin_latency_us: self.origin_latency_us,
        }
    }
}
