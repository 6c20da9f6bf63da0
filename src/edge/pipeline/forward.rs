//! Phase 6, origin: the origin request built from the viewer's (what the behavior forwards, and
//! CloudFront's own headers), sent to the behavior's origin, with failover in an origin group.

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response};

use super::super::headers::{self, XCache, content_length, header_bytes};
use super::super::routing::Target;
use super::super::summary::Summary;
use super::{Ctx, Edge, Outcome, fail};
use crate::cache::key::{self, Selection};
use crate::origin::{OriginError, OriginRequest};

impl Edge {
    pub(super) async fn pass(
        &self,
        req: Request<hyper::body::Incoming>,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let (parts, body) = req.into_parts();
        self.pass_parts(Request::from_parts(parts, Body::new(body)), ctx, request_id)
            .await
    }

    /// Sends the request to the origin and streams the answer back, caching nothing.
    pub(super) async fn pass_parts(
        &self,
        req: Request<Body>,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let (parts, body) = req.into_parts();
        let mut origin_req = self.origin_request(&parts, ctx, false);
        origin_req.body = body;
        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.summary).await {
            Ok(resp) => {
                let (mut rparts, body) = resp.into_parts();
                headers::clean_for(&mut rparts.headers, &ctx.behavior.forward);
                (
                    Response::from_parts(rparts, body),
                    Outcome::own(XCache::Miss),
                )
            }
            Err(e) => fail(e.into(), request_id, ctx.summary),
        }
    }

    /// Builds the origin request: forwarded headers, query and CloudFront's own headers. With
    /// `for_cache`, viewer conditionals and ranges are left out so the whole object comes back.
    pub(super) fn origin_request(
        &self,
        parts: &http::request::Parts,
        ctx: &Ctx<'_>,
        for_cache: bool,
    ) -> OriginRequest {
        let b = ctx.behavior;
        let mut out = HeaderMap::new();
        for (name, value) in &parts.headers {
            let n = name.as_str();
            let wanted = headers::FORWARDED_AS_IS.contains(&n)
                || (n == "authorization" && !matches!(parts.method, Method::GET | Method::HEAD))
                // Host too, when forwarded (the origin sets its own otherwise), and
                // Accept-Encoding as it is when the cache policy does not normalise it.
                || (n != "cookie"
                    && (n != "accept-encoding" || !b.key.normalizes_encoding())
                    && b.forward.headers.selects_ignore_case(n));
            let dropped = headers::HOP_BY_HOP.contains(&n)
                || n == "x-forwarded-for"
                || (for_cache
                    && matches!(
                        n,
                        "if-none-match"
                            | "if-modified-since"
                            | "if-match"
                            | "if-unmodified-since"
                            | "if-range"
                            | "range"
                    ));
            if wanted && !dropped {
                out.append(name.clone(), value.clone());
            }
        }
        if let Some(ae) = key::normalized_accept_encoding(&parts.headers, &b.key) {
            out.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(ae));
        }
        if let Some(cookie) = forwarded_cookies(&parts.headers, &b.forward.cookies) {
            out.insert(header::COOKIE, cookie);
        }
        headers::add_origin_request_headers(
            &mut out,
            &parts.headers,
            &self.identity,
            ctx.rid,
            ctx.viewer_ip,
        );
        let query = key::forwarded_query(ctx.query, &b.forward.query, &ctx.drop_query());
        let path_and_query = match query {
            Some(q) if !q.is_empty() => format!("{}?{q}", ctx.path),
            _ => ctx.path.to_owned(),
        };
        OriginRequest {
            method: parts.method.clone(),
            path_and_query,
            headers: out,
            body: Body::empty(),
            viewer_https: ctx.https,
        }
    }
}

/// Sends to the behavior's target, failing over inside an origin group for GET/HEAD/OPTIONS.
pub(super) async fn fetch(
    target: &Target,
    req: OriginRequest,
    parts: &http::request::Parts,
    summary: &Summary,
) -> Result<Response<Body>, OriginError> {
    let sent = origin_request_bytes(&req);
    let started = std::time::Instant::now();
    let result = fetch_target(target, req, parts).await;
    let received = result.as_ref().map_or(0, |r| {
        header_bytes(r.headers()) + 17 + content_length(r.headers()).unwrap_or(0)
    });
    summary.origin(sent, received, started.elapsed());
    result
}

/// The origin request's size as HTTP/1.1: request line, headers, declared body.
fn origin_request_bytes(req: &OriginRequest) -> u64 {
    let line = req.method.as_str().len() + req.path_and_query.len() + 13;
    (line + 2) as u64 + header_bytes(&req.headers) + content_length(&req.headers).unwrap_or(0)
}

async fn fetch_target(
    target: &Target,
    req: OriginRequest,
    parts: &http::request::Parts,
) -> Result<Response<Body>, OriginError> {
    match target {
        Target::Origin(o) => o.fetch(req).await,
        Target::Group {
            primary,
            secondary,
            statuses,
        } => {
            let can_fail_over =
                matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            if !can_fail_over {
                return primary.fetch(req).await;
            }
            let retry = OriginRequest {
                method: req.method.clone(),
                path_and_query: req.path_and_query.clone(),
                headers: req.headers.clone(),
                body: Body::empty(),
                viewer_https: req.viewer_https,
            };
            let first = primary.fetch(req).await;
            let fail_status = match &first {
                Ok(r) => r.status().as_u16(),
                Err(OriginError::Timeout(_)) => 504,
                Err(_) => 503,
            };
            if statuses.contains(&fail_status) {
                secondary.fetch(retry).await
            } else {
                first
            }
        }
    }
}

/// The Cookie header for the origin: selected cookies (case-sensitive names), sorted by name.
fn forwarded_cookies(headers: &HeaderMap, sel: &Selection) -> Option<HeaderValue> {
    if matches!(sel, Selection::None) {
        return None;
    }
    let mut pairs: Vec<(&str, &str)> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .filter(|(n, _)| sel.selects_exact(n.as_bytes()))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined = pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    HeaderValue::from_str(&joined).ok()
}
