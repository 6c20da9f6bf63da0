//! Phase 10, the log: metering observes each finished request exactly once, whether it was
//! served, failed or abandoned by the viewer.
//!
//! [`LogEntry::open`] starts the request's record before the other phases run (the request's
//! values are copied into it then), and lends those phases the record's [`Summary`] to note
//! what they learn. [`LogEntry::respond`] notes the response head; the send phase's body
//! ([`super::send::ResponseBody`]) counts what it hands to the connection and finishes the
//! record when the last byte has gone, or when the viewer goes away first. Nothing of this
//! module appears in the other phases' types.
//!
//! Byte counts follow CloudFront's definitions: `sc-bytes` and `cs-bytes` include the status or
//! request line and headers. edgegate counts them as their HTTP/1.1 serialisation, also for
//! HTTP/2 (where HPACK makes the wire smaller), and counts a request body by its
//! `Content-Length`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::Body as _;

use super::headers::{XCache, header_line_bytes, parse_decimal};
use super::summary::Summary;
use crate::cache::store::CachedObject;
use crate::config::BillingRegion;
use crate::meter::Meter;
use crate::meter::journal::{Clock, Finished};
use crate::meter::packed::{Packer, Text};
use crate::meter::record::{Departure, ResultType, TtlClass, protocol_version};
use crate::server::ConnInfo;

/// What the edge knows about itself, for records. Aligned to its own cache lines so that the
/// reference counts of the per-shard copies (which different worker threads change on every
/// request) never share a line.
#[derive(Debug, Clone)]
#[repr(align(128))]
pub(crate) struct MeterContext {
    pub(crate) meter: Meter,
    pub(crate) pop: &'static str,
    pub(crate) region: BillingRegion,
}

/// A record waiting for its response to finish: the request's values are copied when it
/// arrives, so a request in flight holds no handle on the request's buffers; of the response
/// head it keeps the summary of the headers (a cached object's own, shared). When the response
/// ends, the request's thread notes the instant and hands the record over as it is
/// ([`Meter::submit`]); its departure, sizes and content type are worked out from these values
/// later, with other records in a batch ([`Finished::complete`]).
#[derive(Debug)]
pub(crate) struct Pending {
    /// Taken when the record is handed over, so a record waiting to be completed holds no
    /// reference to the meter (whose last reference ends the journal's writer).
    ctx: Option<Arc<MeterContext>>,
    region: BillingRegion,
    packer: Packer,
    client: std::net::SocketAddr,
    https: bool,
    /// The request line and declared body; the headers are added from the summary.
    cs_line_and_body: u64,
    started: Instant,
    /// What the phases learn; lent to them while the request runs.
    summary: Summary,
    /// Set once the response head is known.
    response: Option<ResponseFacts>,
    body_sent: u64,
    first_byte: Option<Instant>,
    /// When the response ended (or the viewer went away); set as the record is handed over.
    ended: Instant,
    /// The `Connection` header hyper will add to the response head for this request.
    connection_header: u64,
}

/// The response head as noted when it was known: the facts of its summary ([`HeadSummary`], a
/// cached object's or walked for this response), copied so that the record holds no reference
/// to a cached object, whose reference counts the worker threads would contend for. Its sizes
/// are worked out when the record is completed, in a batch.
#[derive(Debug)]
struct ResponseFacts {
    status: u16,
    head: HeadFacts,
    /// Bytes the headers hold beyond `head`'s (what decorating a cached object's added).
    added: u64,
    /// The body's length, when known up front.
    expected_body: Option<u64>,
    /// Sent over HTTP/2, where no `Content-Length` is added for a body of known length.
    http2: bool,
    x_cache: XCache,
}

/// What the record reads from the response head ([`ResponseFacts::measure`]).
struct Measured {
    /// Status line, headers (with those hyper adds) and the blank line.
    head_bytes: u64,
    content_length: Option<u64>,
    range: Option<(u64, u64)>,
}

impl ResponseFacts {
    fn measure(&self, connection_header: u64) -> Measured {
        let h = &self.head;
        let mut head = status_line_bytes(self.status) + h.bytes + self.added + 2;
        if !h.date {
            head += DATE_HEADER_BYTES;
        }
        if !h.connection {
            head += connection_header;
        }
        if h.content_length.is_none()
            && let Some(n) = self.expected_body
            && !self.http2
        {
            // `content-length: N\r\n`
            head += 16 + u64::from(n.checked_ilog10().unwrap_or(0) + 1) + 2;
        }
        Measured {
            head_bytes: head,
            content_length: h.content_length.or(self.expected_body),
            range: h.content_range,
        }
    }
}

/// A response's headers summed up in one walk: their size as HTTP/1.1 writes them and the
/// values a request's record reads from them. A cached object keeps its own in its annex, so
/// that a hit is measured without walking the headers again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeadSummary {
    /// Everything but the content type: what a record copies as it is.
    pub(crate) facts: HeadFacts,
    /// The first `Content-Type`.
    pub(crate) content_type: Option<HeaderValue>,
}

/// The numbers and flags of a [`HeadSummary`], plain values that a record copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeadFacts {
    /// The headers' size as HTTP/1.1 writes them: `name: value\r\n` each.
    pub(crate) bytes: u64,
    /// A `Date` header is present (else hyper adds one).
    pub(crate) date: bool,
    /// A `Connection` header is present (else hyper may add one).
    pub(crate) connection: bool,
    /// The first `Content-Length`, when it is a decimal number ([`parse_decimal`]).
    pub(crate) content_length: Option<u64>,
    /// The first and last byte of the first `Content-Range` (`bytes 0-99/1000` gives (0, 99)).
    pub(crate) content_range: Option<(u64, u64)>,
}

impl HeadSummary {
    /// Sums up `h` in one pass over it (no lookup per header).
    pub(crate) fn of(h: &HeaderMap) -> HeadSummary {
        let mut out = HeadSummary::default();
        let f = &mut out.facts;
        let (mut length, mut range) = (None, None);
        for (name, value) in h {
            f.bytes += header_line_bytes(name, value);
            if name == header::CONTENT_TYPE {
                out.content_type.get_or_insert_with(|| value.clone());
            } else if name == header::CONTENT_LENGTH {
                length.get_or_insert(value);
            } else if name == header::DATE {
                f.date = true;
            } else if name == header::CONNECTION {
                f.connection = true;
            } else if name == header::CONTENT_RANGE {
                range.get_or_insert(value);
            }
        }
        f.content_length = length.and_then(parse_decimal);
        f.content_range = range
            .and_then(|v| v.to_str().ok())
            .and_then(parse_content_range);
        out
    }
}

/// A `Content-Range` value's first and last byte: `bytes 0-99/1000` gives (0, 99).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let range = v.strip_prefix("bytes ")?.split('/').next()?;
    let (a, b) = range.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// `x-forwarded-for`, parsed once.
static X_FORWARDED_FOR: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");

/// The process-wide copy of an edge location name, so that records carry a `&'static str`
/// instead of bumping a reference count that every worker thread shares. One copy per distinct
/// name is kept for the life of the process.
pub(crate) fn intern_pop(pop: &str) -> &'static str {
    static POPS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut pops = POPS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(p) = pops.iter().find(|p| **p == pop) {
        return p;
    }
    let p: &'static str = Box::leak(pop.to_owned().into_boxed_str());
    pops.push(p);
    p
}

impl Pending {
    /// Starts the request's record before the pipeline consumes the request: its values are
    /// copied into the record now, in one pass over the headers. The record is boxed once here,
    /// so that handing it from the request to the response body and on to [`Pending::finish`]
    /// moves a pointer, not the record.
    pub(crate) fn new<B>(
        ctx: &Arc<MeterContext>,
        req: &Request<B>,
        conn: &ConnInfo,
        request_id: &HeaderValue,
    ) -> Box<Pending> {
        let uri = req.uri();
        let path = uri.path();
        let method = req.method().as_str();
        let tls = conn.tls_protocol.zip(conn.tls_cipher);
        // The request line's texts, the request id and room for the headers the record keeps
        // and the response's content type, so the texts mostly take one allocation.
        let mut packer = Packer::begin(
            method.as_bytes(),
            protocol_version(req.version()).as_bytes(),
            tls.is_some(),
            ctx.pop.len() + path.len() + request_id.len() + 256,
        );
        packer.text(Text::Pop, ctx.pop.as_bytes());
        packer.text(Text::Path, path.as_bytes());
        if let Some(q) = uri.query() {
            packer.text(Text::Query, q.as_bytes());
        }
        packer.text(Text::RequestId, request_id.as_bytes());
        if let Some((protocol, cipher)) = tls {
            packer.text(Text::TlsProtocol, protocol.as_bytes());
            packer.text(Text::TlsCipher, cipher.as_bytes());
        }
        let h = scan_request_headers(req.headers(), &mut packer);
        let pq = uri.path_and_query().map_or(1, |pq| pq.as_str().len());
        let cs_line_and_body = (method.len() + 1 + pq + 11) as u64 + 2 + h.body_len;
        let started = Instant::now();
        Box::new(Pending {
            ctx: Some(ctx.clone()),
            region: ctx.region,
            packer,
            client: conn.peer,
            https: conn.https,
            cs_line_and_body,
            connection_header: added_connection_header(req.version(), h.close, h.keep_alive),
            started,
            summary: Summary::default(),
            response: None,
            body_sent: 0,
            first_byte: None,
            ended: started,
        })
    }

    /// Notes the response head (after CloudFront's headers were added). `stored` is the
    /// summary of a cached object's headers and the bytes decorating added, when the response
    /// carries exactly those; otherwise the headers are walked.
    pub(crate) fn respond(
        &mut self,
        resp: &Response<Body>,
        x_cache: XCache,
        stored: Option<(&CachedObject, u64)>,
    ) {
        let walked;
        let summed = stored.and_then(|(obj, added)| {
            let head = obj.annex(|o| HeadSummary::of(&o.headers))?;
            Some((head, added))
        });
        let (head, added) = match summed {
            Some(s) => s,
            None => {
                walked = walk(resp.headers());
                (&walked, 0)
            }
        };
        debug_assert!(
            {
                let w = HeadSummary::of(resp.headers());
                w == HeadSummary {
                    facts: HeadFacts {
                        bytes: head.facts.bytes + added,
                        ..head.facts
                    },
                    content_type: head.content_type.clone(),
                }
            },
            "a stored head's summary differs from the response's headers"
        );
        self.packer
            .respond(head.content_type.as_ref().map(HeaderValue::as_bytes));
        self.response = Some(ResponseFacts {
            status: resp.status().as_u16(),
            head: head.facts,
            added,
            expected_body: resp.body().size_hint().exact(),
            http2: resp.version() == Version::HTTP_2,
            x_cache,
        });
    }

    /// Counts `n` body bytes handed to the connection; `ended` when they were the last.
    pub(crate) fn sent(&mut self, n: u64, ended: bool) {
        if self.first_byte.is_none() && n > 0 && !ended {
            self.first_byte = Some(Instant::now());
        }
        self.body_sent += n;
    }

    /// Notes when the response ended and hands the record over to be completed.
    pub(crate) fn finish(mut self: Box<Self>) {
        self.ended = Instant::now();
        if let Some(ctx) = self.ctx.take() {
            ctx.meter.submit(self);
        }
    }
}

impl Finished for Pending {
    fn complete(&mut self, clock: &Clock, f: &mut dyn FnMut(&Packer, &Departure<'_>)) {
        let taken = self.ended.saturating_duration_since(self.started);
        let detailed = self.summary.detailed_result();
        let t = &self.summary;
        let dist = t.dist();
        let (origin_bytes_out, origin_bytes_in) = t.origin_bytes();
        let mut d = Departure {
            end_ms: clock.wall_ms(self.ended),
            client_ip: self.client.ip(),
            client_port: self.client.port(),
            https: self.https,
            // The viewer went away before a response was ready: status 000.
            status: 0,
            sc_bytes: 0,
            cs_bytes: self.cs_line_and_body + t.request_head_bytes(),
            time_taken_us: micros(taken),
            ttfb_us: micros(
                self.first_byte
                    .map_or(taken, |t| t.saturating_duration_since(self.started)),
            ),
            result_type: ResultType::Error,
            response_result_type: ResultType::Error,
            detailed_result_type: b"ClientHungUpRequest",
            content_length: None,
            range: None,
            distribution_id: dist.map(|d| d.id.as_bytes()),
            distribution_domain: dist.map(|d| d.domain.as_bytes()),
            billing_region: self.region,
            ttl_class: t.ttl_secs().map(TtlClass::from_ttl_secs),
            origin_bytes_out,
            origin_bytes_in,
            origin_latency_us: t.origin_latency_us(),
            origin_failed_over: t.origin_failed_over(),
            origin_shield: t.origin_shield(),
        };
        if let Some(resp) = &self.response {
            let m = resp.measure(self.connection_header);
            d.status = resp.status;
            d.sc_bytes = m.head_bytes + self.body_sent;
            d.content_length = m.content_length;
            d.range = m.range;
            let response_type = if resp.status >= 400 {
                ResultType::Error
            } else {
                match resp.x_cache {
                    XCache::Hit => ResultType::Hit,
                    XCache::RefreshHit => ResultType::RefreshHit,
                    XCache::Miss => ResultType::Miss,
                    XCache::Redirect => ResultType::Redirect,
                    XCache::Error => ResultType::Error,
                    // A function's own answer below 400: the log's result types have no
                    // FunctionGeneratedResponse, so it is recorded as a Miss.
                    XCache::FunctionGeneratedResponse => ResultType::Miss,
                    XCache::FunctionExecutionError
                    | XCache::FunctionThrottledError
                    | XCache::FunctionValidationError => ResultType::Error,
                }
            };
            let complete = resp.expected_body.is_none_or(|n| self.body_sent >= n);
            d.response_result_type = response_type;
            if complete {
                d.result_type = response_type;
                d.detailed_result_type = match response_type {
                    ResultType::Error => detailed
                        .filter(|d| *d != super::shield::SHIELD_HIT)
                        .unwrap_or("Error"),
                    // Served by the Origin Shield's cache: a Miss here, `OriginShieldHit` in
                    // the detailed result type only.
                    ResultType::Miss if detailed == Some(super::shield::SHIELD_HIT) => {
                        super::shield::SHIELD_HIT
                    }
                    other => other.as_str(),
                }
                .as_bytes();
            } else {
                d.result_type = ResultType::Error;
                d.detailed_result_type = b"ClientCommError";
            }
        }
        f(&self.packer, &d);
    }
}

/// Finishes the record as `000` if the request is dropped before its response was built.
/// The log phase of an edge: where finished requests are recorded, one copy of its context
/// per lock shard of the meter, so that the worker threads each count references on one of
/// their own.
#[derive(Debug)]
pub(crate) struct Log {
    shards: Vec<Arc<MeterContext>>,
}

impl Log {
    /// Records to `meter`, as served from `pop` in billing region `region`.
    pub(crate) fn new(meter: Meter, pop: &str, region: BillingRegion) -> Self {
        let ctx = MeterContext {
            meter,
            pop: intern_pop(pop),
            region,
        };
        Log {
            shards: (0..crate::meter::SHARDS)
                .map(|_| Arc::new(ctx.clone()))
                .collect(),
        }
    }
}

/// One request's record while the other phases run. Dropped before [`LogEntry::respond`]
/// (the viewer went away, or the request's future was dropped), it records the request as
/// abandoned.
#[derive(Debug)]
pub(crate) struct LogEntry(Option<Box<Pending>>);

impl LogEntry {
    /// Opens the request's record, when `log` is on.
    pub(crate) fn open<B>(
        log: Option<&Log>,
        req: &Request<B>,
        conn: &ConnInfo,
        request_id: &HeaderValue,
    ) -> Self {
        LogEntry(log.map(|l| {
            Pending::new(
                &l.shards[crate::meter::thread_shard()],
                req,
                conn,
                request_id,
            )
        }))
    }

    /// The summary the other phases note what they learn in, when the request is recorded.
    pub(crate) fn summary(&self) -> Option<&Summary> {
        self.0.as_ref().map(|p| &p.summary)
    }

    /// Drops the record unwritten: the request is another edge's shield request, which that
    /// edge logs and counts.
    pub(crate) fn discard(&mut self) {
        self.0 = None;
    }

    /// Notes the response head (after CloudFront's headers were added) and hands the record
    /// on to the send phase. `stored` is a cached object whose headers, plus the bytes
    /// decorating added, are exactly the response's; otherwise the headers are walked.
    pub(crate) fn respond(
        &mut self,
        resp: &Response<Body>,
        x_cache: XCache,
        stored: Option<(&CachedObject, u64)>,
    ) -> Option<Box<Pending>> {
        let mut pending = self.0.take()?;
        pending.respond(resp, x_cache, stored);
        Some(pending)
    }
}

impl Drop for LogEntry {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.finish();
        }
    }
}

const DATE_HEADER_BYTES: u64 = 37;

/// The `Connection` header hyper adds to an HTTP/1 response: `connection: close` when the
/// request asked to close (HTTP/1.1 `Connection: close`, or HTTP/1.0 without keep-alive), and
/// `connection: keep-alive` for an HTTP/1.0 request that asked to keep the connection. A
/// connection closed because the edge is shutting down also gets `connection: close`; that case
/// is not counted.
fn added_connection_header(version: Version, asks_close: bool, asks_keep_alive: bool) -> u64 {
    match version {
        Version::HTTP_11 if asks_close => "connection: close\r\n".len() as u64,
        Version::HTTP_10 if asks_keep_alive => "connection: keep-alive\r\n".len() as u64,
        Version::HTTP_10 => "connection: close\r\n".len() as u64,
        _ => 0,
    }
}

/// What the request's headers tell beyond the texts a record keeps of them.
#[derive(Debug, Default)]
struct RequestHeaders {
    /// The request body's declared length (0 when absent or not a number).
    body_len: u64,
    /// A `Connection` token asks to close, or to keep alive.
    close: bool,
    keep_alive: bool,
}

/// One pass over the request's headers: gives `packer` the texts a record keeps (the first
/// `Host`, `Referer`, `User-Agent` and `X-Forwarded-For`, and every `Cookie`, joined with `; `
/// as one header would carry them), and sums up the rest.
fn scan_request_headers(h: &HeaderMap, packer: &mut Packer) -> RequestHeaders {
    let mut out = RequestHeaders::default();
    let mut content_length = None;
    let first = |packer: &mut Packer, field: Text, value: &HeaderValue| {
        if !packer.has(field) {
            packer.text(field, value.as_bytes());
        }
    };
    for (name, value) in h {
        if name == header::HOST {
            first(packer, Text::Host, value);
        } else if name == header::USER_AGENT {
            first(packer, Text::UserAgent, value);
        } else if name == header::REFERER {
            first(packer, Text::Referer, value);
        } else if name == header::COOKIE {
            packer.join(Text::Cookie, b"; ", value.as_bytes());
        } else if name == header::CONTENT_LENGTH {
            content_length.get_or_insert(value);
        } else if name == header::CONNECTION {
            connection_tokens(value, &mut out);
        } else if name == X_FORWARDED_FOR {
            first(packer, Text::ForwardedFor, value);
        }
    }
    out.body_len = content_length.and_then(parse_decimal).unwrap_or(0);
    out
}

/// Notes whether a `Connection` header asks to close or to keep alive.
#[cold]
fn connection_tokens(value: &HeaderValue, out: &mut RequestHeaders) {
    for token in value.as_bytes().split(|&b| b == b',') {
        let token = token.trim_ascii();
        out.close |= token.eq_ignore_ascii_case(b"close");
        out.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
    }
}

/// The declared `Content-Length`, when it is a number.
fn status_line_bytes(status: u16) -> u64 {
    // "HTTP/1.1 200 OK\r\n"
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    (9 + 3 + 1 + reason.map_or(0, str::len) + 2) as u64
}

/// The response headers' summary, for a response that is not a stored object's: walked out of
/// line, so a cache hit's record does not carry this code through the instruction cache.
#[cold]
#[inline(never)]
fn walk(h: &HeaderMap) -> HeadSummary {
    HeadSummary::of(h)
}

fn micros(d: std::time::Duration) -> u64 {
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::headers::header_bytes;

    fn test_packer() -> Packer {
        Packer::begin(b"GET", b"HTTP/1.1", false, 0)
    }

    #[test]
    fn content_range_and_sizes() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(status_line_bytes(200), "HTTP/1.1 200 OK\r\n".len() as u64);
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("b"));
        assert_eq!(header_bytes(&h), "x-a: b\r\n".len() as u64);
        let mut close = HeaderMap::new();
        close.insert(
            header::CONNECTION,
            HeaderValue::from_static("Upgrade, Close"),
        );
        let c = scan_request_headers(&close, &mut test_packer());
        assert!(c.close && !c.keep_alive);
        assert_eq!(
            added_connection_header(Version::HTTP_11, c.close, c.keep_alive),
            19
        );
        assert_eq!(added_connection_header(Version::HTTP_11, false, false), 0);
        assert_eq!(added_connection_header(Version::HTTP_10, false, false), 19);
        assert_eq!(added_connection_header(Version::HTTP_10, false, true), 24);
        assert_eq!(added_connection_header(Version::HTTP_2, true, false), 0);
        assert_eq!(
            DATE_HEADER_BYTES,
            "date: Tue, 24 Nov 2026 20:21:54 GMT\r\n".len() as u64
        );
    }

    #[test]
    fn one_pass_header_scans_match_lookups() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("d111.cloudfront.net"),
        );
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl/8"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
        h.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("192.0.2.1"),
        );
        let mut p = test_packer();
        let r = scan_request_headers(&h, &mut p);
        let get = |n| h.get(n).map(HeaderValue::as_bytes);
        assert_eq!(p.held(Text::Host), get(&header::HOST));
        assert_eq!(p.held(Text::UserAgent), get(&header::USER_AGENT));
        assert_eq!(p.held(Text::Referer), None);
        assert_eq!(p.held(Text::ForwardedFor), get(&X_FORWARDED_FOR));
        assert_eq!(p.held(Text::Cookie), Some(&b"a=1; b=2"[..]));
        assert_eq!(r.body_len, 42);
        assert!(!r.close && !r.keep_alive);

        let mut resp = HeaderMap::new();
        resp.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        resp.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        resp.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-99/1000"),
        );
        let s = HeadSummary::of(&resp);
        assert_eq!(s.content_type.as_ref(), resp.get(header::CONTENT_TYPE));
        let s = s.facts;
        assert_eq!(s.bytes, header_bytes(&resp));
        assert_eq!(s.content_length, Some(100));
        assert_eq!(s.content_range, Some((0, 99)));
        assert!(!s.date && !s.connection);
    }

    #[test]
    fn a_head_summary_keeps_the_first_length_and_range_and_none_it_cannot_read() {
        let mut resp = HeaderMap::new();
        resp.append(header::CONTENT_LENGTH, HeaderValue::from_static("12a"));
        resp.append(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        resp.append(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes */1000"),
        );
        resp.append(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 0-99/1000"),
        );
        let s = HeadSummary::of(&resp).facts;
        assert_eq!(s.content_length, None);
        assert_eq!(s.content_range, None);
        assert_eq!(s.bytes, header_bytes(&resp));

        let mut resp = HeaderMap::new();
        resp.append(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
        resp.append(header::CONTENT_LENGTH, HeaderValue::from_static("7"));
        resp.append(
            header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 100-199/1000"),
        );
        let s = HeadSummary::of(&resp).facts;
        assert_eq!(s.content_length, Some(100));
        assert_eq!(s.content_range, Some((100, 199)));
    }

    #[test]
    fn decimal_header_values() {
        let d = |s: &'static str| parse_decimal(&HeaderValue::from_static(s));
        assert_eq!(d("0"), Some(0));
        assert_eq!(d("1048576"), Some(1_048_576));
        assert_eq!(d("9999999999999999999"), Some(9_999_999_999_999_999_999));
        assert_eq!(d(""), None);
        assert_eq!(d("12a"), None);
        assert_eq!(d("-1"), None);
        assert_eq!(d(" 1"), None);
        assert_eq!(d("10000000000000000000"), None);
    }
}
