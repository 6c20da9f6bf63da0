//! Phase 7, response: custom error responses. (Admission into the cache happens as the
//! origin's answer streams, in phase 5; CloudFront's response headers are added by
//! [`super::Edge::handle`] on every outcome.)

use axum::body::Body;
use http::header;
use http::{Request, Response, StatusCode};

use super::super::error::EdgeError;
use super::super::headers::XCache;
use super::super::pattern;
use super::{Ctx, Edge, Outcome};

/// Whether a refusal made by the viewer checks is answered with the distribution's custom
/// error response for its status, as an origin's error is (caching.md §18, §19;
/// signed-urls.md §10): a geo restriction's 403 and a refused signed URL or cookie's 403 are
/// (the rule covers the whole distribution, so CloudFront's XML refusal is replaced too; the
/// page is fetched on its own, so the refused object never reaches the origin).
///
/// A request CloudFront cannot serve as asked keeps CloudFront's own page: a method the
/// behavior does not allow, a GET with a body, plain HTTP on an `https-only` behavior, a
/// request that cannot be redirected. A page answered with the rule's code (often 200) would
/// tell a client that sent a write, or used the wrong scheme, that it succeeded. Errors before
/// a distribution is known (413, an unknown or disabled Host) have no rules to apply. Origin
/// failures (502, 504) are answered after the cache phase and do get the page.
pub(super) fn custom_page_applies(e: &EdgeError) -> bool {
    matches!(e, EdgeError::GeoBlocked | EdgeError::SignatureRefused(_))
}

impl Edge {
    /// CustomErrorResponses: an origin error (or a refusal [`custom_page_applies`] to) with a
    /// rule that names a page is answered with that page, fetched through the behavior its path
    /// matches (and cached like any object), with the rule's ResponseCode. If the page cannot be
    /// fetched, the viewer gets what the page's origin answered (caching.md §18).
    pub(super) async fn custom_error(
        &self,
        resp: Response<Body>,
        outcome: Outcome,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let status = resp.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return (resp, outcome);
        }
        let Some(rule) = ctx.dist.error_response(status) else {
            return (resp, outcome);
        };
        let Some(page) = rule.page_path.as_deref() else {
            return (resp, outcome);
        };
        let Some(behavior) = ctx.dist.behavior(&pattern::normalize(page)) else {
            return (resp, outcome);
        };
        let Ok(page_req) = Request::get(page).body(()) else {
            return (resp, outcome);
        };
        let (parts, ()) = page_req.into_parts();
        let page_ctx = Ctx {
            behavior,
            path: page,
            query: None,
            ..*ctx
        };
        let (mut page_resp, _) = if behavior.ttl.caching_disabled() {
            self.pass_parts(
                Request::from_parts(parts, Body::empty()),
                &page_ctx,
                request_id,
            )
            .await
        } else {
            self.cached(parts, &page_ctx, request_id).await
        };
        if page_resp.status().is_success() {
            // The origin's error body is not sent, but it is read (up to a bound) so that the
            // error itself is cached for ErrorCachingMinTTL, as CloudFront caches it.
            tokio::spawn(drain(resp.into_body(), ERROR_BODY_DRAIN_LIMIT));
            *page_resp.status_mut() = rule
                .response_code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(status);
            page_resp.headers_mut().remove(header::AGE);
        }
        (page_resp, Outcome::own(XCache::Error))
    }
}

/// How much of an origin error body replaced by a custom error page is still read.
const ERROR_BODY_DRAIN_LIMIT: usize = 1 << 20;

/// Reads a body to its end, or until `limit` bytes, and drops it.
async fn drain(mut body: Body, limit: usize) {
    use http_body_util::BodyExt;
    let mut seen = 0;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > limit {
            break;
        }
    }
}
