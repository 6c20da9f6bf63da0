//! Phases 1 and 2: accept (CloudFront's limits) and route (Host → distribution, path →
//! cache behavior).

use std::sync::Arc;

use http::Request;
use http::header;

use super::super::error::EdgeError;
use super::super::headers::header_bytes;
use super::super::pattern;
use super::super::routing::{Behavior, Distribution, Routes};
use super::super::summary::Summary;
use super::{MAX_HEAD_BYTES, MAX_URL_BYTES};

/// Phase 1, accept: CloudFront's limits on the URL and the request head. Also notes the
/// head's size for the log.
pub(super) fn accept<B>(req: &Request<B>, summary: &Summary) -> Result<(), EdgeError> {
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
    Ok(())
}

/// The request's Host: the header, else the URI's authority (HTTP/2), else empty.
pub(super) fn host_of<B>(req: &Request<B>) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
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
