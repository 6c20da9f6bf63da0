//! Phase 5, cache: the key, the lookup, conditional and range answers, collapsing of concurrent
//! misses and revalidation of expired objects; on a miss it calls phase 6 (origin) and admits
//! what comes back (phase 7).
//!
//! Collapsing follows caching.md §12: none on a behavior that forwards cookies (solo fills), and
//! none for a while for an object whose answer forbade it under MinTTL 0
//! ([`crate::cache::store::FillGuard::pass_uncollapsible`]).

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::super::headers::{self, XCache, content_length};
use super::super::summary::Summary;
use super::forward::fetch;
use super::{Ctx, Edge, Head, Outcome, fail};
use crate::cache::key;
use crate::cache::store::{CachedObject, Fill, Lookup, Waited};
use crate::cache::{self as cache_mod};

impl Edge {
    /// The cache path for GET/HEAD (and cached OPTIONS).
    pub(super) async fn cached(
        &self,
        parts: http::request::Parts,
        ctx: &Ctx<'_>,
        ranged: bool,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
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
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = self.clock.now();
            let stale = match self.cache.lookup(&cache_key, now).await {
                Lookup::Fresh(obj) => {
                    return serve_cached(obj, &parts, now, XCache::Hit, ctx.summary);
                }
                Lookup::Stale(obj) => Some(obj),
                Lookup::Miss => None,
            };
            if attempts > 3 || ranged || parts.method == Method::HEAD {
                // A range or HEAD miss is passed through uncached (CloudFront may widen a range;
                // edgegate forwards it as is). Repeated abandoned fills also stop collapsing.
                let req = Request::from_parts(parts, Body::empty());
                return self.pass_parts(req, ctx, request_id).await;
            }
            // No collapsing for a behavior that forwards cookies (caching.md §12): every miss
            // fetches on its own, and a cacheable answer is still stored.
            let fill = if no_collapsing {
                Fill::Leader(self.cache.begin_solo(&cache_key))
            } else {
                self.cache.begin_fill(&cache_key)
            };
            match fill {
                Fill::Follower(waiter) => match waiter.wait_outcome().await {
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
                        if let Some(etag) = old.headers.get(header::ETAG) {
                            origin_req
                                .headers
                                .insert(header::IF_NONE_MATCH, etag.clone());
                        }
                        if let Some(lm) = old.headers.get(header::LAST_MODIFIED) {
                            origin_req
                                .headers
                                .insert(header::IF_MODIFIED_SINCE, lm.clone());
                        }
                    }
                    let resp =
                        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.summary).await {
                            Ok(r) => r,
                            Err(e) => {
                                // An origin that does not answer counts as a 5xx: the expired copy
                                // is served instead (caching.md §4).
                                if let Some(old) = &stale {
                                    guard.abandon();
                                    return serve_cached(
                                        old.clone(),
                                        &parts,
                                        self.clock.now(),
                                        XCache::Hit,
                                        ctx.summary,
                                    );
                                }
                                return self.failed_fill(e.into(), guard, ctx, request_id).await;
                            }
                        };
                    if let Some(old) = &stale {
                        if resp.status() == StatusCode::NOT_MODIFIED {
                            return self.refresh(old, resp, guard, &parts, ctx).await;
                        }
                        if resp.status().is_server_error() {
                            guard.abandon();
                            return serve_cached(
                                old.clone(),
                                &parts,
                                self.clock.now(),
                                XCache::Hit,
                                ctx.summary,
                            );
                        }
                    }
                    let (mut rparts, body) = resp.into_parts();
                    headers::clean_for(&mut rparts.headers, &ctx.behavior.forward);
                    let now = self.clock.now();
                    let error_caching_min_ttl = ctx
                        .dist
                        .error_responses
                        .iter()
                        .find(|r| r.error_code == rparts.status.as_u16())
                        .map(|r| r.caching_min_ttl);
                    let decision = cache_mod::ttl::decide(
                        now,
                        rparts.status,
                        &rparts.headers,
                        &ctx.behavior.ttl,
                        error_caching_min_ttl,
                    );
                    ctx.summary.ttl(match decision {
                        cache_mod::ttl::Storage::Store { ttl } => ttl,
                        cache_mod::ttl::Storage::DoNotStore => std::time::Duration::ZERO,
                    });
                    let len = content_length(&rparts.headers);
                    let limit = self.cache.max_object_size();
                    let body = match decision {
                        cache_mod::ttl::Storage::Store { ttl }
                            if len.is_none_or(|l| l <= limit) =>
                        {
                            let mut stored = rparts.headers.clone();
                            headers::add_edge_headers(&mut stored, &self.identity);
                            let template = cache_mod::store::CachedObjectTemplate {
                                status: rparts.status,
                                headers: stored,
                                stored_at: now,
                                ttl,
                            };
                            cache_mod::store::tee(body, guard, template, limit)
                        }
                        cache_mod::ttl::Storage::DoNotStore
                            if cache_mod::ttl::forbids_collapsing(
                                &rparts.headers,
                                &ctx.behavior.ttl,
                            ) =>
                        {
                            // Later misses of this object are not collapsed either.
                            guard.pass_uncollapsible();
                            body
                        }
                        _ => {
                            guard.pass();
                            body
                        }
                    };
                    let resp = Response::from_parts(rparts, body);
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
        let ttl = ctx
            .dist
            .error_responses
            .iter()
            .find(|r| r.error_code == status.as_u16())
            .map_or(cache_mod::ttl::DEFAULT_ERROR_CACHING_MIN_TTL, |r| {
                r.caching_min_ttl
            });
        if !status.is_server_error() || ttl.is_zero() {
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
        };
        ctx.summary.ttl(ttl);
        guard
            .complete(Arc::new(template.into_object(bytes.clone(), None)))
            .await;
        (Response::from_parts(parts, Body::from(bytes)), outcome)
    }

    /// A 304 answered the revalidation of an expired copy: the copy gets the new validators and
    /// freshness and is served as `RefreshHit`.
    pub(super) async fn refresh(
        &self,
        old: &Arc<CachedObject>,
        resp: Response<Body>,
        guard: cache_mod::store::FillGuard,
        parts: &http::request::Parts,
        ctx: &Ctx<'_>,
    ) -> (Response<Body>, Outcome) {
        // Every header of the 304 updates the stored one (RFC 9111 §4.3.4).
        let headers = headers::refreshed(&old.headers, resp.headers(), &ctx.behavior.forward);
        let now = self.clock.now();
        let template = |ttl| cache_mod::store::CachedObjectTemplate {
            status: old.status,
            headers: headers.clone(),
            stored_at: now,
            ttl,
        };
        let obj = match cache_mod::ttl::decide(now, old.status, &headers, &ctx.behavior.ttl, None) {
            cache_mod::ttl::Storage::Store { ttl } => {
                let obj = Arc::new(template(ttl).into_object(old.body.clone(), old.mirror.clone()));
                guard.complete(obj.clone()).await;
                obj
            }
            cache_mod::ttl::Storage::DoNotStore => {
                guard.pass();
                Arc::new(
                    template(std::time::Duration::ZERO)
                        .into_object(old.body.clone(), old.mirror.clone()),
                )
            }
        };
        serve_cached(obj, parts, now, XCache::RefreshHit, ctx.summary)
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
    let len = obj.body.len() as u64;
    let mut body = obj.body.clone();
    let mut changed = false;
    if obj.status == StatusCode::OK
        && let Some(range) = parts.headers.get(header::RANGE)
    {
        {
            match cache_mod::range::parse(range, len) {
                cache_mod::range::RangeOutcome::Full => {}
                cache_mod::range::RangeOutcome::Partial(start, end) => {
                    body = obj.body.slice(start as usize..=end as usize);
                    changed = true;
                    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                        resp.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                }
                cache_mod::range::RangeOutcome::Unsatisfiable => {
                    *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                    body = bytes::Bytes::new();
                    changed = true;
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                        resp.headers_mut().insert(header::CONTENT_RANGE, v);
                    }
                }
            }
        }
    }
    // The stored Content-Length is kept when it already states what is sent (formatting a
    // new one costs an allocation per response).
    if body.len() as u64 != len || content_length(&obj.headers) != Some(len) {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        changed = true;
    }
    if parts.method != Method::HEAD {
        *resp.body_mut() = Body::from(body);
    }
    (
        resp,
        outcome(Head::Cached {
            obj,
            exact: !changed,
        }),
    )
}
