//! Phase 5, cache: the key, the lookup, conditional and range answers, collapsing of concurrent
//! misses and revalidation of expired objects; on a miss it calls phase 6 (origin) and admits
//! what comes back (phase 7).
//!
//! Collapsing follows caching.md §12: none on a behavior that forwards cookies (solo fills), and
//! none for a while for an object whose answer forbade it under MinTTL 0
//! ([`crate::cache::store::FillGuard::pass_uncollapsible`]). A collapsed plain GET streams the
//! leader's answer as it arrives (when its length is known) and breaks off when it does; a
//! collapsed range or conditional request waits for the stored object. An origin that fails
//! before its head gives every collapsed request the leader's 502 or 504, cached or not.
//!
//! Expired objects (caching.md §3, §4, §11), while the cache still holds them:
//! - within `stale-while-revalidate`: served at once as `RefreshHit`, while one background
//!   revalidation (conditional when the object has a validator) runs for all viewers;
//! - otherwise revalidated by the request itself: a 304 serves it as `RefreshHit`; an origin
//!   that is unreachable or answers 5xx gets it served as `Hit` within its `stale-if-error`
//!   window, or without the directive within the error's ErrorCachingMinTTL (10 s by default;
//!   none when a custom error response with a page is configured for the status); after that
//!   the viewer gets the error (`Error`), which is cached as errors are;
//! - once served in place of an origin error, it keeps answering without the origin being asked
//!   for the error's ErrorCachingMinTTL (within the windows above), as CloudFront caches the
//!   error.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::super::error::EdgeError;
use super::super::headers::{self, EdgeIdentity, XCache, content_length};
use super::super::routing::{Behavior, Distribution};
use super::super::summary::Summary;
use super::forward::fetch;
use super::{Ctx, Edge, Head, Outcome, fail};
use crate::cache::key::{self, CacheKey};
use crate::cache::range::RangeForm;
use crate::cache::store::{CachedObject, Fill, FillGuard, Lookup, StoredBody, Waited};
use crate::cache::{self as cache_mod, Cache};
use crate::edge::compress::{self, Encoding};

impl Edge {
    /// The cache path for GET/HEAD (and cached OPTIONS).
    pub(super) async fn cached(
        &self,
        mut parts: http::request::Parts,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        if parts.version == http::Version::HTTP_10 {
            // CloudFront removes an HTTP/1.0 viewer's Accept-Encoding (caching.md §13): it gets
            // the identity variant, and nothing is compressed for it.
            parts.headers.remove(header::ACCEPT_ENCODING);
        }
        let encoding = edge_encoding(&parts, ctx.behavior);
        let drop_query = ctx.drop_query();
        let cache_key = key::build(
            &ctx.dist.id,
            parts.method == Method::OPTIONS,
            ctx.path,
            ctx.query,
            &parts.headers,
            &ctx.behavior.key,
            &drop_query,
        );
        let no_collapsing = headers::forwards_cookies(&ctx.behavior.forward.cookies);
        // What a miss does with a Range (caching.md §10): one range of an object stored as it
        // comes goes to the origin as it is, and the whole object is filled behind it
        // ([`Edge::range_miss`]); several ranges pass through; an invalid Range is a request
        // for the whole object. A range of a variant the edge compresses is answered from the
        // whole compressed object, as ranges apply to the compressed bytes.
        let range = match parts.method {
            Method::GET => parts.headers.get(header::RANGE).map(cache_mod::range::form),
            _ => None,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = self.clock.now();
            let stale = match self.cache.lookup(&cache_key, now).await {
                Lookup::Fresh(obj) => {
                    return serve_cached(obj, &parts, now, XCache::Hit, ctx.summary);
                }
                Lookup::Stale(obj) if obj.within_while_revalidate(now) => {
                    // stale-while-revalidate (caching.md §3): served at once, while one
                    // revalidation runs in the background; logged as RefreshHit, the object
                    // being expired and the origin contacted to revalidate it.
                    self.revalidate_in_background(&obj, &cache_key, &parts, ctx);
                    return serve_cached(obj, &parts, now, XCache::RefreshHit, ctx.summary);
                }
                Lookup::Stale(obj) if obj.origin_error_cached(now) => {
                    // The origin failed lately: the error is cached for its ErrorCachingMinTTL,
                    // and the expired copy answers meanwhile without asking it (caching.md §4).
                    return serve_cached(obj, &parts, now, XCache::Hit, ctx.summary);
                }
                Lookup::Stale(obj) => Some(obj),
                Lookup::Miss => None,
            };
            if stale.is_none() && range == Some(RangeForm::Single) && encoding.is_none() {
                return self
                    .range_miss(parts, ctx, &cache_key, no_collapsing, request_id)
                    .await;
            }
            if attempts > 3 || range == Some(RangeForm::Multiple) || parts.method == Method::HEAD {
                // A HEAD miss, or one for several ranges, is passed through uncached. Repeated
                // abandoned fills also stop collapsing. An expired copy still answers in place
                // of the origin's error.
                let Some(old) = stale else {
                    let req = Request::from_parts(parts, Body::empty());
                    return self.pass_parts(req, ctx, request_id).await;
                };
                let req = Request::from_parts(parts.clone(), Body::empty());
                let (resp, outcome) = self.pass_parts(req, ctx, request_id).await;
                let now = self.clock.now();
                if resp.status().is_server_error() && stale_on_error(&old, resp.status(), ctx, now)
                {
                    note_origin_error(&old, resp.status(), ctx, now);
                    return serve_cached(old, &parts, now, XCache::Hit, ctx.summary);
                }
                return (resp, outcome);
            }
            // No collapsing for a behavior that forwards cookies (caching.md §12): every miss
            // fetches on its own, and a cacheable answer is still stored.
            let fill = if no_collapsing {
                Fill::Leader(self.cache.begin_solo(&cache_key))
            } else {
                self.cache.begin_fill(&cache_key)
            };
            match fill {
                Fill::Follower(waiter) => match wait(waiter, &parts).await {
                    Waited::Stream(stream) => {
                        return serve_streaming(stream, self.clock.now(), ctx.summary);
                    }
                    // Collapsed requests are logged as hits, as CloudFront does.
                    Waited::Object(obj) => {
                        return serve_cached(
                            obj,
                            &parts,
                            self.clock.now(),
                            XCache::Hit,
                            ctx.summary,
                        );
                    }
                    Waited::Retry => continue,
                    Waited::Pass => {
                        let req = Request::from_parts(parts, Body::empty());
                        return self.pass_parts(req, ctx, request_id).await;
                    }
                },
                Fill::Leader(guard) => {
                    let mut origin_req = self.origin_request(&parts, ctx, true);
                    if let Some(old) = &stale {
                        // Revalidate the expired copy (caching.md §11).
                        add_validators(&mut origin_req.headers, old);
                    }
                    let resp =
                        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.summary).await {
                            Ok(r) => r,
                            Err(e) => {
                                // An origin that does not answer counts as a 5xx (caching.md
                                // §4): the expired copy is served within its stale-if-error
                                // window.
                                let e: EdgeError = e.into();
                                let now = self.clock.now();
                                if let Some(old) = &stale
                                    && stale_on_error(old, e.status(), ctx, now)
                                {
                                    return serve_stale_on_error(
                                        old,
                                        e.status(),
                                        guard,
                                        &parts,
                                        now,
                                        ctx,
                                    )
                                    .await;
                                }
                                return self.failed_fill(e, guard, ctx, request_id).await;
                            }
                        };
                    if let Some(old) = &stale {
                        if resp.status() == StatusCode::NOT_MODIFIED {
                            let now = self.clock.now();
                            let obj = refreshed_object(
                                old,
                                resp.headers(),
                                guard,
                                ctx.behavior,
                                ctx.dist,
                                now,
                            )
                            .await;
                            return serve_cached(obj, &parts, now, XCache::RefreshHit, ctx.summary);
                        }
                        let now = self.clock.now();
                        if resp.status().is_server_error()
                            && stale_on_error(old, resp.status(), ctx, now)
                        {
                            return serve_stale_on_error(
                                old,
                                resp.status(),
                                guard,
                                &parts,
                                now,
                                ctx,
                            )
                            .await;
                        }
                    }
                    let resp = admit(
                        &self.cache,
                        &self.identity,
                        self.clock.now(),
                        ctx.behavior,
                        ctx.dist,
                        ctx.summary,
                        resp,
                        guard,
                        encoding,
                    )
                    .await;
                    return (resp, Outcome::own(XCache::Miss));
                }
            }
        }
    }

    /// The origin could not be reached or did not answer in time, and no expired copy can stand
    /// in: the edge's 502 or 504 is cached for the distribution's ErrorCachingMinTTL for that
    /// status (10 s by default), as an origin's 502 or 504 would be (caching.md §4: an origin that
    /// does not respond counts as a 5xx), so that followers and the requests after it do not
    /// retry a failing origin one by one. An ErrorCachingMinTTL of 0 stores nothing.
    async fn failed_fill(
        &self,
        e: super::EdgeError,
        guard: cache_mod::store::FillGuard,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        use http_body_util::BodyExt;
        let status = e.status();
        let (resp, outcome) = fail(e, request_id, ctx.summary);
        let ttl = error_caching_min_ttl(status, ctx);
        if !status.is_server_error() {
            guard.abandon();
            return (resp, outcome);
        }
        let (parts, body) = resp.into_parts();
        // The edge's own page, already whole in memory.
        let Ok(collected) = body.collect().await else {
            guard.abandon();
            return (Response::from_parts(parts, Body::empty()), outcome);
        };
        let bytes = collected.to_bytes();
        let mut stored = parts.headers.clone();
        headers::add_edge_headers(&mut stored, &self.identity);
        let template = cache_mod::store::CachedObjectTemplate {
            status,
            headers: stored,
            stored_at: self.clock.now(),
            ttl,
            // The edge's own error page is never served in place of another error.
            stale: cache_mod::ttl::StaleWindows {
                while_revalidate: Duration::ZERO,
                if_error: Some(Duration::ZERO),
            },
            keep: Duration::ZERO,
        };
        ctx.summary.ttl(ttl);
        let obj = Arc::new(template.into_object(bytes.clone(), None));
        if ttl.is_zero() {
            // Not cached, but the requests collapsed on this fill get the same answer now
            // rather than trying the failing origin again one after another.
            guard.share(obj);
        } else {
            guard.complete(obj).await;
        }
        (Response::from_parts(parts, Body::from(bytes)), outcome)
    }

    /// Starts the background revalidation of `old`, served within its
    /// `stale-while-revalidate` window, unless a fill or revalidation of `key` is already under
    /// way (concurrent viewers start one between them). It holds nothing of the viewer's
    /// request: the origin's answer is admitted as a miss's would be (a 304 refreshes the
    /// object; a 5xx or an unreachable origin leaves the stale object in place).
    fn revalidate_in_background(
        &self,
        old: &Arc<CachedObject>,
        key: &CacheKey,
        parts: &http::request::Parts,
        ctx: &Ctx<'_>,
    ) {
        if let Some(guard) = self.cache.begin_revalidation(key) {
            self.fill_in_background(guard, Some(old), parts, ctx);
        }
    }

    /// A miss for one range (caching.md §10): the range goes to the origin as the viewer asked
    /// for it, so that its answer comes at once however large the object, and when the origin
    /// answers 206 for an object the cache can store, the whole object is filled in the
    /// background for the ranges after it. An origin that ignores the range answers 200 with
    /// the whole object, which is stored and sent as a miss's would be. Requests collapse on
    /// this fill; a range that finds another fill under way goes to the origin on its own.
    async fn range_miss(
        &self,
        parts: http::request::Parts,
        ctx: &Ctx<'_>,
        key: &CacheKey,
        no_collapsing: bool,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let fill = if no_collapsing {
            Fill::Leader(self.cache.begin_solo(key))
        } else {
            self.cache.begin_fill(key)
        };
        let Fill::Leader(guard) = fill else {
            let req = Request::from_parts(parts, Body::empty());
            return self.pass_parts(req, ctx, request_id).await;
        };
        let origin_req = self.origin_request(&parts, ctx, false);
        let resp = match fetch(&ctx.behavior.target, origin_req, &parts, ctx.summary).await {
            Ok(resp) => resp,
            Err(e) => return self.failed_fill(e.into(), guard, ctx, request_id).await,
        };
        let now = self.clock.now();
        match resp.status() {
            StatusCode::OK => {
                let resp = admit(
                    &self.cache,
                    &self.identity,
                    now,
                    ctx.behavior,
                    ctx.dist,
                    ctx.summary,
                    resp,
                    guard,
                    None,
                )
                .await;
                return (resp, Outcome::own(XCache::Miss));
            }
            StatusCode::PARTIAL_CONTENT => {
                let whole = content_range_total(resp.headers());
                let ttl = &ctx.behavior.ttl;
                match cache_mod::ttl::decide(now, StatusCode::OK, resp.headers(), ttl, None) {
                    cache_mod::ttl::Storage::Store { .. }
                        if whole.is_some_and(|n| n <= self.cache.max_object_size()) =>
                    {
                        self.fill_in_background(guard, None, &parts, ctx);
                    }
                    _ if cache_mod::ttl::forbids_collapsing(resp.headers(), ttl) => {
                        guard.pass_uncollapsible();
                    }
                    _ => guard.pass(),
                }
            }
            _ => guard.pass(),
        }
        let (mut rparts, body) = resp.into_parts();
        headers::clean_for(&mut rparts.headers, &ctx.behavior.forward);
        (
            Response::from_parts(rparts, body),
            Outcome::own(XCache::Miss),
        )
    }

    /// Fills `guard`'s object with a GET of the whole object sent by the edge itself, in the
    /// background: the revalidation of `old` (conditional when it has validators), or the fill
    /// behind a range miss. It holds nothing of the viewer's request and is not logged. A 304
    /// refreshes `old`; a 5xx or an unreachable origin leaves the cache as it was, as does any
    /// answer but 200 to a fill behind a range; anything else is admitted as a miss's answer.
    fn fill_in_background(
        &self,
        guard: FillGuard,
        old: Option<&Arc<CachedObject>>,
        parts: &http::request::Parts,
        ctx: &Ctx<'_>,
    ) {
        let Some(index) = ctx
            .dist
            .behaviors
            .iter()
            .position(|b| std::ptr::eq(b, ctx.behavior))
        else {
            guard.abandon();
            return;
        };
        let mut origin_req = self.origin_request(parts, ctx, true);
        // The whole object, whatever the viewer's method.
        origin_req.method = Method::GET;
        if let Some(old) = old {
            add_validators(&mut origin_req.headers, old);
        }
        let (get, ()) = Request::get("/").body(()).unwrap_or_default().into_parts();
        let dist = Arc::clone(ctx.dist);
        let old = old.cloned();
        let cache = self.cache.clone();
        let identity = self.identity.clone();
        let clock = Arc::clone(&self.clock);
        let encoding = edge_encoding(parts, ctx.behavior);
        tokio::spawn(async move {
            let behavior = &dist.behaviors[index];
            let summary = Summary::default();
            let Ok(resp) = fetch(&behavior.target, origin_req, &get, &summary).await else {
                guard.abandon();
                return;
            };
            let now = clock.now();
            match &old {
                Some(old) if resp.status() == StatusCode::NOT_MODIFIED => {
                    refreshed_object(old, resp.headers(), guard, behavior, &dist, now).await;
                    return;
                }
                None if resp.status() != StatusCode::OK => {
                    guard.abandon();
                    return;
                }
                _ if resp.status().is_server_error() => {
                    guard.abandon();
                    return;
                }
                _ => {}
            }
            let resp = admit(
                &cache, &identity, now, behavior, &dist, &summary, resp, guard, encoding,
            )
            .await;
            // Read to its end so that the object is stored.
            let mut body = resp.into_body();
            while let Some(Ok(_)) = body.frame().await {}
        });
    }
}

/// Waits for the fill a request collapsed onto. A plain GET (no range, no conditional) streams
/// the leader's answer as it arrives ([`Waited::Stream`]); the others wait for the stored
/// object, which their range or conditional is answered from.
async fn wait(waiter: cache_mod::store::FillWaiter, parts: &http::request::Parts) -> Waited {
    let plain = parts.method == Method::GET
        && ![
            header::RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_MATCH,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
        ]
        .iter()
        .any(|h| parts.headers.contains_key(h));
    if plain {
        waiter.wait_streaming().await
    } else {
        waiter.wait_outcome().await
    }
}

/// Answers a request collapsed onto a fill whose answer is arriving: the head the object will
/// be stored with, and the body as it comes, logged as a `Hit` as collapsed requests are. When
/// the fill breaks off, so does this body, as the leader's does.
fn serve_streaming(
    stream: cache_mod::store::FillStream,
    now: SystemTime,
    summary: &Summary,
) -> (Response<Body>, Outcome) {
    let head = stream.head();
    summary.ttl(head.ttl);
    let age = cache_mod::ttl::origin_age(&head.headers)
        .saturating_add(now.duration_since(head.stored_at).unwrap_or_default());
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = head.status;
    *resp.headers_mut() = head.headers.clone();
    *resp.body_mut() = stream.into_body();
    (
        resp,
        Outcome {
            x_cache: XCache::Hit,
            age: Some(age.as_secs()),
            head: Head::Own,
        },
    )
}

/// The whole object's length from a 206's `Content-Range: bytes a-b/N`.
fn content_range_total(headers: &http::HeaderMap) -> Option<u64> {
    let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let (_, total) = v.strip_prefix("bytes ")?.rsplit_once('/')?;
    total.trim().parse().ok()
}

/// The request headers that revalidate `old` with the origin (caching.md §11).
fn add_validators(headers: &mut http::HeaderMap, old: &CachedObject) {
    if let Some(etag) = old.headers.get(header::ETAG) {
        headers.insert(header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(lm) = old.headers.get(header::LAST_MODIFIED) {
        headers.insert(header::IF_MODIFIED_SINCE, lm.clone());
    }
}

/// Whether the expired `old` answers in place of an origin error with `status` (an
/// unreachable origin counts as its 502 or 504) at `now`: within its `stale-if-error` window
/// (caching.md §3), or without the directive within the error's ErrorCachingMinTTL (§4, 10 s by
/// default), unless a custom error response with a page is configured for the status, which is
/// then served instead (§3).
fn stale_on_error(old: &CachedObject, status: StatusCode, ctx: &Ctx<'_>, now: SystemTime) -> bool {
    old.within_if_error(now, default_if_error(status, ctx))
}

/// The window in which an expired object without `stale-if-error` answers an origin error with
/// `status`: the error's ErrorCachingMinTTL, or none when a custom error response with a page
/// is configured for it (caching.md §3).
fn default_if_error(status: StatusCode, ctx: &Ctx<'_>) -> Duration {
    match ctx.dist.error_response(status) {
        Some(r) if r.page_path.is_some() => Duration::ZERO,
        Some(r) => r.caching_min_ttl,
        None => cache_mod::ttl::DEFAULT_ERROR_CACHING_MIN_TTL,
    }
}

/// Notes on `old` that it answered an origin error with `status` at `now`: the error is cached
/// for its ErrorCachingMinTTL, within the object's window.
fn note_origin_error(old: &CachedObject, status: StatusCode, ctx: &Ctx<'_>, now: SystemTime) {
    old.note_origin_error(
        now + error_caching_min_ttl(status, ctx),
        default_if_error(status, ctx),
    );
}

/// Serves `old` in place of an origin error with `status`, logged as a `Hit` (served from the
/// cache; the origin confirmed nothing). The error is cached for its ErrorCachingMinTTL: until
/// then (within the object's keep time) `old` answers without the origin being asked again.
/// Requests collapsed on this fill get it too.
async fn serve_stale_on_error(
    old: &Arc<CachedObject>,
    status: StatusCode,
    guard: FillGuard,
    parts: &http::request::Parts,
    now: SystemTime,
    ctx: &Ctx<'_>,
) -> (Response<Body>, Outcome) {
    note_origin_error(old, status, ctx, now);
    guard.complete(Arc::clone(old)).await;
    serve_cached(Arc::clone(old), parts, now, XCache::Hit, ctx.summary)
}

/// The ErrorCachingMinTTL of an origin error with `status`: its custom error response's, or
/// 10 s.
fn error_caching_min_ttl(status: StatusCode, ctx: &Ctx<'_>) -> Duration {
    ctx.dist
        .error_response(status)
        .map_or(cache_mod::ttl::DEFAULT_ERROR_CACHING_MIN_TTL, |r| {
            r.caching_min_ttl
        })
}

/// How long past its TTL a new object of `dist` is held when it has no `stale-if-error`: the
/// longest ErrorCachingMinTTL one of its 5xx errors can have.
fn default_error_window(dist: &Distribution) -> Duration {
    dist.error_responses
        .iter()
        .filter(|r| (500..600).contains(&r.error_code))
        .map(|r| r.caching_min_ttl)
        .fold(cache_mod::ttl::DEFAULT_ERROR_CACHING_MIN_TTL, Duration::max)
}

/// The encoding the edge compresses a fill of this request with: the one its cache key's
/// normalised Accept-Encoding names, when the behavior compresses (caching.md §13).
fn edge_encoding(parts: &http::request::Parts, behavior: &Behavior) -> Option<Encoding> {
    if !behavior.compress {
        return None;
    }
    Encoding::for_key(key::normalized_accept_encoding(
        &parts.headers,
        &behavior.key,
    ))
}

/// Compresses an eligible origin answer (caching.md §13) with `encoding`: the whole body
/// (at most 10,000,000 bytes, as its Content-Length says) is collected, compressed on a
/// blocking thread, and the answer's headers rewritten for it. A body that breaks off is
/// returned as an error, for the fill to be abandoned; an encoder that fails leaves the answer
/// as the origin sent it (CloudFront compresses on a best-effort basis).
async fn compressed(
    rparts: &mut http::response::Parts,
    body: Body,
    encoding: Encoding,
) -> Result<Body, axum::Error> {
    let Some(len) = content_length(&rparts.headers) else {
        return Ok(body);
    };
    let limit = usize::try_from(len).unwrap_or(usize::MAX);
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(axum::Error::new)?
        .to_bytes();
    if bytes.len() as u64 != len {
        return Err(axum::Error::new(ShortBody));
    }
    let work = bytes.clone();
    match tokio::task::spawn_blocking(move || compress::compress(encoding, &work)).await {
        Ok(Ok(out)) => {
            compress::mark(&mut rparts.headers, encoding, out.len());
            Ok(Body::from(out))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "edge compression failed; serving uncompressed");
            Ok(Body::from(bytes))
        }
        Err(e) => {
            tracing::warn!(error = %e, "edge compression task failed; serving uncompressed");
            Ok(Body::from(bytes))
        }
    }
}

/// The origin's body ended before its Content-Length.
#[derive(Debug, thiserror::Error)]
#[error("the origin's body ended before its Content-Length")]
struct ShortBody;

/// Admission (phase 7): the origin's answer to a fill is compressed when the behavior and the
/// viewer's variant call for it ([`compressed`]), decided on and, when it is to be stored,
/// streamed through [`cache_mod::store::tee`]; otherwise the fill passes.
#[allow(clippy::too_many_arguments)]
async fn admit(
    cache: &Cache,
    identity: &EdgeIdentity,
    now: SystemTime,
    behavior: &Behavior,
    dist: &Distribution,
    summary: &Summary,
    resp: Response<Body>,
    guard: FillGuard,
    encoding: Option<Encoding>,
) -> Response<Body> {
    let (mut rparts, body) = resp.into_parts();
    headers::clean_for(&mut rparts.headers, &behavior.forward);
    let body = match encoding {
        Some(enc) if compress::eligible(rparts.status, &rparts.headers) => {
            match compressed(&mut rparts, body, enc).await {
                Ok(body) => body,
                Err(e) => {
                    // The origin's body broke off: nothing is stored, and the viewer's answer
                    // breaks off too, as a streamed one would.
                    guard.abandon();
                    let failed =
                        futures_util::stream::once(async move { Err::<bytes::Bytes, _>(e) });
                    return Response::from_parts(rparts, Body::from_stream(failed));
                }
            }
        }
        _ => body,
    };
    let error_caching_min_ttl = dist
        .error_response(rparts.status)
        .map(|r| r.caching_min_ttl);
    let decision = cache_mod::ttl::decide(
        now,
        rparts.status,
        &rparts.headers,
        &behavior.ttl,
        error_caching_min_ttl,
    );
    summary.ttl(match decision {
        cache_mod::ttl::Storage::Store { ttl } => ttl,
        cache_mod::ttl::Storage::DoNotStore => Duration::ZERO,
    });
    let len = content_length(&rparts.headers);
    let limit = cache.max_object_size();
    let body = match decision {
        cache_mod::ttl::Storage::Store { ttl } if len.is_none_or(|l| l <= limit) => {
            let stale = cache_mod::ttl::stale_windows(&rparts.headers, &behavior.ttl);
            let mut stored = rparts.headers.clone();
            headers::add_edge_headers(&mut stored, identity);
            let template = cache_mod::store::CachedObjectTemplate {
                status: rparts.status,
                headers: stored,
                stored_at: now,
                ttl,
                stale,
                keep: stale.keep(default_error_window(dist)),
            };
            cache_mod::store::tee(body, guard, template, limit)
        }
        cache_mod::ttl::Storage::DoNotStore
            if cache_mod::ttl::forbids_collapsing(&rparts.headers, &behavior.ttl) =>
        {
            // Later misses of this object are not collapsed either (caching.md §12).
            guard.pass_uncollapsible();
            body
        }
        _ => {
            guard.pass();
            body
        }
    };
    Response::from_parts(rparts, body)
}

/// A 304 answered the revalidation of an expired copy: the copy gets the new validators,
/// freshness and stale windows (every header of the 304 updates the stored one, RFC 9111
/// §4.3.4), is stored through `guard` and returned, to be served as `RefreshHit`.
async fn refreshed_object(
    old: &Arc<CachedObject>,
    not_modified: &http::HeaderMap,
    guard: FillGuard,
    behavior: &Behavior,
    dist: &Distribution,
    now: SystemTime,
) -> Arc<CachedObject> {
    let mut headers = headers::refreshed(&old.headers, not_modified, &behavior.forward);
    compress::keep_weak_etag(&old.headers, &mut headers);
    let stale = cache_mod::ttl::stale_windows(&headers, &behavior.ttl);
    let template = |ttl| cache_mod::store::CachedObjectTemplate {
        status: old.status,
        headers: headers.clone(),
        stored_at: now,
        ttl,
        stale,
        keep: stale.keep(default_error_window(dist)),
    };
    match cache_mod::ttl::decide(now, old.status, &headers, &behavior.ttl, None) {
        cache_mod::ttl::Storage::Store { ttl } => {
            let obj = Arc::new(template(ttl).into_object(old.body.clone(), old.mirror.clone()));
            guard.complete(obj.clone()).await;
            obj
        }
        cache_mod::ttl::Storage::DoNotStore => {
            guard.pass();
            Arc::new(template(Duration::ZERO).into_object(old.body.clone(), old.mirror.clone()))
        }
    }
}

/// Serves a cached object: 304 for a matching conditional, 206 for a satisfiable single range,
/// the whole object otherwise.
pub(super) fn serve_cached(
    obj: Arc<CachedObject>,
    parts: &http::request::Parts,
    now: SystemTime,
    x_cache: XCache,
    summary: &Summary,
) -> (Response<Body>, Outcome) {
    summary.ttl(obj.ttl);
    // The origin's Age counts in the Age a viewer sees.
    let age = Some(obj.current_age(now).as_secs());
    let outcome = |head| Outcome { x_cache, age, head };
    if obj.status == StatusCode::OK && cache_mod::conditional::not_modified(&parts.headers, &obj) {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [
            header::ETAG,
            header::LAST_MODIFIED,
            header::CACHE_CONTROL,
            header::EXPIRES,
            header::VARY,
            header::DATE,
        ] {
            if let Some(v) = obj.headers.get(&name) {
                resp.headers_mut().insert(name, v.clone());
            }
        }
        // A 304 carries only some of the stored headers.
        return (resp, outcome(Head::Own));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = obj.status;
    *resp.headers_mut() = obj.headers.clone();
    let len = obj.body.len();
    // The bytes sent: `start..end` of the body.
    let (mut start, mut end) = (0, len);
    let mut changed = false;
    if obj.status == StatusCode::OK
        && let Some(range) = parts.headers.get(header::RANGE)
        && cache_mod::conditional::range_applies(&parts.headers, &obj)
    {
        match cache_mod::range::parse(range, len) {
            cache_mod::range::RangeOutcome::Full => {}
            cache_mod::range::RangeOutcome::Partial(first, last) => {
                (start, end) = (first, last + 1);
                changed = true;
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            cache_mod::range::RangeOutcome::Unsatisfiable => {
                *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                (start, end) = (0, 0);
                changed = true;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
        }
    }
    let sent = end - start;
    // The stored Content-Length is kept when it already states what is sent (formatting a
    // new one costs an allocation per response).
    if sent != len || content_length(&obj.headers) != Some(len) {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(sent));
        changed = true;
    }
    if parts.method != Method::HEAD && sent > 0 {
        *resp.body_mut() = match &obj.body {
            StoredBody::Memory(bytes) if sent == len => Body::from(bytes.clone()),
            StoredBody::Memory(bytes) => Body::from(bytes.slice(start as usize..end as usize)),
            // A body in a disk cache file: sent from the file (with `sendfile` through the
            // object's token mirror on an HTTP/1 connection that announces it).
            StoredBody::Disk(file) => {
                let token = (parts.version <= http::Version::HTTP_11)
                    .then(|| obj.mirror.clone())
                    .flatten();
                file.body(start, end, token)
            }
        };
    }
    (
        resp,
        outcome(Head::Cached {
            obj,
            exact: !changed,
        }),
    )
}
