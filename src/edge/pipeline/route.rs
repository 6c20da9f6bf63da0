//! Phases 1 and 2: accept (CloudFront's limits, and the HTTP rules every request must meet
//! before it is routed) and route (Host → distribution, path → cache behavior).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};

use super::super::error::{BadRequest, EdgeError};
use super::super::headers::header_bytes;
use super::super::pattern;
use super::super::routing::{Behavior, Distribution, Routes};
use super::super::summary::Summary;
use super::{MAX_HEAD_BYTES, MAX_URL_BYTES};

/// Phase 1, accept: CloudFront's limits on the URL and the request head (413), then the HTTP
/// rules (RFC 9112 §3.2, §6.1): an HTTP/1.1 request without `Host`, or with `Host` headers that
/// differ, is 400; a transfer coding other than `chunked` is 501. An absolute-form target's
/// authority (and HTTP/2's `:authority`) replaces `Host`, so that the request is routed and
/// forwarded by it. Also notes the head's size for the log.
pub(super) fn accept<B>(req: &mut Request<B>, summary: &Summary) -> Result<(), EdgeError> {
    let pq_len = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().len())
        .unwrap_or(0);
    let header_len = header_bytes(req.headers());
    summary.request_head(header_len);
    let head_len = pq_len + req.method().as_str().len() + header_len as usize;
    if pq_len > MAX_URL_BYTES || head_len > MAX_HEAD_BYTES {
        return Err(EdgeError::TooLarge);
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.any(|other| Some(other) != first) {
        return Err(EdgeError::BadRequest(BadRequest::ConflictingHost));
    }
    if first.is_none() && req.version() == Version::HTTP_11 {
        return Err(EdgeError::BadRequest(BadRequest::MissingHost));
    }
    for coding in req.headers().get_all(header::TRANSFER_ENCODING) {
        let supported = coding.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .all(|c| c.is_empty() || c.eq_ignore_ascii_case("chunked"))
        });
        if !supported {
            return Err(EdgeError::UnsupportedTransferCoding);
        }
    }
    if let Some(authority) = req.uri().authority()
        && first.is_some_and(|h| h.as_bytes() != authority.as_str().as_bytes())
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        req.headers_mut().insert(header::HOST, value);
    }
    Ok(())
}

/// The request's Host: the target's authority (absolute form, or HTTP/2's `:authority`), else
/// the header, else empty.
pub(super) fn host_of<B>(req: &Request<B>) -> &str {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
}

/// Whether the request is `OPTIONS *`, a question about the server rather than a resource.
pub(super) fn is_options_star<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS && req.uri().path() == "*"
}

/// The edge's own answer to `OPTIONS *`: 200 with `Allow` naming the methods `behavior` (the
/// one `*` routes to, normally the default) allows. It is not forwarded: `*` names no object.
pub(super) fn options_star(behavior: &Behavior) -> Response<Body> {
    let allow = behavior.allowed.names().collect::<Vec<_>>().join(", ");
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::OK;
    if let Ok(v) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(header::ALLOW, v);
    }
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// How the edge takes a viewer's request body before the origin request (`--request-body-buffer`,
/// `--max-request-body`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Bodies up to this many bytes are read whole first; larger ones are streamed after it.
    pub buffer: usize,
    /// Larger bodies get 413.
    pub max: Option<u64>,
    /// Longest wait for the next part of a body being read (408 beyond).
    pub idle: std::time::Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            buffer: 1 << 20,
            max: None,
            idle: std::time::Duration::from_secs(30),
        }
    }
}

/// How reading a viewer's body failed while it was streamed to the origin.
pub(super) const BODY_OK: u8 = 0;
/// The body could not be read (an invalid chunked encoding, a connection cut mid-body).
pub(super) const BODY_INVALID: u8 = 1;
/// The body passed `--max-request-body`.
pub(super) const BODY_TOO_LARGE: u8 = 2;
/// The viewer sent no part of the body for the idle limit (the header timeout) while it was
/// streamed: the origin's read timeout does not run until the body is sent, so this bounds it.
pub(super) const BODY_STALLED: u8 = 3;

/// Takes the viewer's request body before the origin request: a body up to `limits.buffer`
/// bytes is read whole (each part within `limits.idle`), so that the origin request is sent at
/// once, with its length; a larger one is sent on as it arrives, after what was read. A body
/// longer than `limits.max` (by `Content-Length`, or as read) is 413. While streamed, a read
/// failure is noted in `failed` ([`BODY_INVALID`], [`BODY_TOO_LARGE`]).
pub(super) async fn take_body(
    headers: &http::HeaderMap,
    mut body: hyper::body::Incoming,
    limits: &BodyLimits,
    failed: Arc<AtomicU8>,
) -> Result<Body, EdgeError> {
    use http_body::Body as _;
    use http_body_util::BodyExt;
    if let (Some(max), Some(len)) = (limits.max, super::super::headers::content_length(headers))
        && len > max
    {
        return Err(EdgeError::BodyTooLarge);
    }
    if body.is_end_stream() {
        return Ok(Body::empty());
    }
    let mut buf = bytes::BytesMut::new();
    while buf.len() <= limits.buffer {
        match tokio::time::timeout(limits.idle, body.frame()).await {
            Err(_) => return Err(EdgeError::BodyTimeout),
            Ok(None) => return Ok(Body::from(buf.freeze())),
            Ok(Some(Err(_))) => return Err(EdgeError::BadRequest(BadRequest::InvalidBody)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
                if limits.max.is_some_and(|max| buf.len() as u64 > max) {
                    return Err(EdgeError::BodyTooLarge);
                }
            }
        }
    }
    let seen = buf.len() as u64;
    Ok(Body::new(ViewerBody {
        first: Some(buf.freeze()),
        inner: body,
        failed,
        seen,
        max: limits.max,
        idle: limits.idle,
        stall: Box::pin(tokio::time::sleep(limits.idle)),
    }))
}

/// The rest of a viewer's request body on its way to the origin, after the part already read,
/// which notes why reading it failed (an invalid chunked encoding, a connection cut mid-body,
/// more than `--max-request-body`), so that the failure is answered as the viewer's (400, 413)
/// and not as the origin's (502).
struct ViewerBody {
    first: Option<Bytes>,
    inner: hyper::body::Incoming,
    failed: Arc<AtomicU8>,
    seen: u64,
    max: Option<u64>,
    /// Longest wait for the next part.
    idle: std::time::Duration,
    stall: Pin<Box<tokio::time::Sleep>>,
}

/// Why a viewer's body stopped: the edge's own reason, for the origin client to carry.
#[derive(Debug, thiserror::Error)]
#[error("the viewer's request body failed")]
struct ViewerBodyFailed;

impl http_body::Body for ViewerBody {
    type Data = Bytes;
    type Error = ViewerBodyFailed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, ViewerBodyFailed>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(first))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(Some(Err(_))) => {
                self.failed.store(BODY_INVALID, Ordering::Relaxed);
                Poll::Ready(Some(Err(ViewerBodyFailed)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.idle;
                self.stall.as_mut().reset(next);
                self.seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if self.max.is_some_and(|max| self.seen > max) {
                    self.failed.store(BODY_TOO_LARGE, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(ViewerBodyFailed)));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.stall.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.failed.store(BODY_STALLED, Ordering::Relaxed);
                    Poll::Ready(Some(Err(ViewerBodyFailed)))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let rest = self.inner.size_hint();
        let first = self.first.as_ref().map_or(0, |b| b.len() as u64);
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(rest.lower() + first);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

/// What routing found.
pub(super) struct Route<'a> {
    pub(super) dist: &'a Arc<Distribution>,
    pub(super) behavior: &'a Behavior,
    /// The path the behavior serves (`/` replaced by the DefaultRootObject).
    pub(super) path: &'a str,
}

/// Phase 2, route: Host → distribution (unknown or disabled: 403), DefaultRootObject for `/`,
/// then path → behavior (first match, default last).
pub(super) fn route<'a>(
    routes: &'a Routes,
    summary: &'a Summary,
    host: &str,
    uri: &'a http::Uri,
    root_path: &'a mut String,
) -> Result<Route<'a>, EdgeError> {
    let dist = routes.lookup(host).ok_or(EdgeError::UnknownHost)?;
    // The summary keeps the reference and lends it back: the one reference count this request
    // takes on the distribution, held until the log has read it.
    let dist = summary.distribution(dist.clone());
    if !dist.enabled {
        return Err(EdgeError::DistributionDisabled);
    }
    let path = match (&dist.default_root_object, uri.path()) {
        (Some(root), "/") => {
            *root_path = format!("/{root}");
            root_path.as_str()
        }
        (_, raw_path) => raw_path,
    };
    let behavior = dist
        .behavior(&pattern::normalize(path))
        .ok_or(EdgeError::NoBehavior)?;
    Ok(Route {
        dist,
        behavior,
        path,
    })
}
