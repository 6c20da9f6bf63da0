//! Phase 3, viewer checks: methods, a GET's body, the viewer protocol policy, geo restriction
//! and signed URLs or cookies, in CloudFront's order, before the cache.

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::super::error::EdgeError;
use super::super::pages;
use super::super::routing::{Routes, ViewerProtocol};
use super::super::viewer::{self, GeoVerdict};
use super::{Ctx, Edge, Stop};
use crate::auth::{self, RequestFacts};
use crate::geo::Location;
use crate::server::ConnInfo;

impl Edge {
    /// Phase 3, viewer checks, in CloudFront's order: allowed methods, a GET's body, the
    /// viewer protocol policy, the distribution's geo restriction (with the viewer located
    /// when the restriction or the behavior's headers need it), and on restricted behaviors a
    /// signed URL or signed cookies, verified against the behavior's trusted keys, all before
    /// the cache is consulted.
    pub(super) fn viewer_checks(
        &self,
        req: &Request<hyper::body::Incoming>,
        conn: &ConnInfo,
        host: &str,
        ctx: &Ctx<'_>,
        routes: &Routes,
    ) -> Result<Checked, Stop> {
        let behavior = ctx.behavior;
        if !behavior.allowed.contains(req.method()) {
            return Err(EdgeError::MethodNotAllowed.into());
        }
        // CloudFront refuses a GET that carries a body (caching.md §7.7).
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if *req.method() == Method::GET && has_body {
            return Err(EdgeError::GetWithBody.into());
        }
        if !conn.https {
            match behavior.viewer_protocol {
                ViewerProtocol::AllowAll => {}
                ViewerProtocol::HttpsOnly => return Err(EdgeError::HttpsOnly.into()),
                ViewerProtocol::RedirectToHttps => {
                    let resp = redirect(req.method(), req.version(), host, req.uri())?;
                    return Err(Stop::Redirect(Box::new(resp)));
                }
            }
        }
        let viewer_ip = ctx.viewer_ip;
        let geo = ctx.dist.geo.as_ref();
        let location = viewer::locate(
            self.geo.as_deref(),
            geo,
            behavior.cloudfront_headers,
            viewer_ip,
        );
        if viewer::check_geo(geo, location.as_ref()) == GeoVerdict::Blocked {
            return Err(EdgeError::GeoBlocked.into());
        }
        let mut strip_signing = false;
        if let Some(key_ids) = &behavior.trusted_key_ids {
            let cookies: Vec<&str> = req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let facts = RequestFacts {
                scheme: if conn.https { "https" } else { "http" },
                host,
                raw_path: req.uri().path(),
                raw_query: req.uri().query(),
                cookie_headers: &cookies,
                viewer_ip,
                now_epoch: self.clock.epoch_secs(),
            };
            let grant = auth::verify_cached(&facts, key_ids, &routes.keys, Some(&self.verified))
                .map_err(EdgeError::SignatureRefused)?;
            strip_signing = grant.strip_query;
        }
        Ok(Checked {
            location,
            strip_signing,
        })
    }
}

/// What the viewer checks established.
pub(super) struct Checked {
    /// Where the viewer is, when it was looked up.
    pub(super) location: Option<Location>,
    /// A signed URL granted the request: its signing parameters are neither part of the cache
    /// key nor sent to the origin.
    pub(super) strip_signing: bool,
}

pub(super) fn redirect(
    method: &Method,
    version: http::Version,
    host: &str,
    uri: &http::Uri,
) -> Result<Response<Body>, EdgeError> {
    let (status, body) = match *method {
        Method::GET | Method::HEAD => (StatusCode::MOVED_PERMANENTLY, pages::MOVED_PERMANENTLY),
        _ if version >= http::Version::HTTP_11 => {
            (StatusCode::TEMPORARY_REDIRECT, pages::TEMPORARY_REDIRECT)
        }
        _ => return Err(EdgeError::NotRedirectable(StatusCode::FORBIDDEN)),
    };
    let host_no_port = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = HeaderValue::from_str(&format!("https://{host_no_port}{pq}"))
        .map_err(|_| EdgeError::NotRedirectable(StatusCode::BAD_REQUEST))?;
    let mut resp = pages::response(status, "text/html", body.to_owned());
    resp.headers_mut().insert(header::LOCATION, location);
    Ok(resp)
}
