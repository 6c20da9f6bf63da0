//! Phases 1 and 2: accept (CloudFront's limits, and the HTTP rules every request must meet
//! before it is routed) and route (Host → distribution, path → cache behavior).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A viewer's request body on its way to the origin, which notes whether reading it failed
/// (an invalid chunked encoding, a connection cut mid-body), so that the failure is answered
/// as the viewer's (400) and not as the origin's (502).
pub(super) struct ViewerBody {
    inner: hyper::body::Incoming,
    failed: Arc<AtomicBool>,
}

impl ViewerBody {
    /// Wraps `inner`; `failed` is set when a read of it fails.
    pub(super) fn new(inner: hyper::body::Incoming, failed: Arc<AtomicBool>) -> Self {
        ViewerBody { inner, failed }
    }
}

impl http_body::Body for ViewerBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.failed.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
