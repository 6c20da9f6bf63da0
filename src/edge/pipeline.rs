//! The request path, stage by stage. [`Edge::handle`] is the whole data plane for one request:
//!
//! 1. limits (URL ≤ 8,192 bytes, request head ≤ 20,480 bytes, else 413);
//! 2. Host → distribution (unknown or disabled: 403 page);
//! 3. DefaultRootObject for `/`, then path → behavior (first match, default last);
//! 4. AllowedMethods (403), ViewerProtocolPolicy (301/307 redirect or 403);
//! 5. restricted behaviors (TrustedKeyGroups): signed URL or cookies, verified by [`crate::auth`];
//! 6. cache: key, lookup (hit, 304, range), collapsing of concurrent misses;
//! 7. origin fetch with CloudFront's origin headers; admission into the cache while streaming;
//! 8. CloudFront's response headers on everything, errors included.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::headers::{self, EdgeIdentity, XCache};
use super::metering::{
    AbortGuard, MeterContext, MeteredBody, Pending, Tally, content_length, header_bytes,
};
use super::pages;
use super::pattern;
use super::routing::{Behavior, Distribution, Routes, Target, ViewerProtocol};
use crate::auth::{self, RequestFacts, VerifiedCache};
use crate::cache::key::{self, Selection};
use crate::cache::store::{CachedObject, Fill, Lookup, Waited};
use crate::cache::{self as cache_mod, Cache};
use crate::config::{BillingRegion, Cidr};
use crate::meter::Meter;
use crate::origin::{OriginError, OriginRequest};
use crate::server::ConnInfo;

/// CloudFront's limit on the URL (path and query).
pub const MAX_URL_BYTES: usize = 8_192;
/// CloudFront's limit on the request line plus headers.
pub const MAX_HEAD_BYTES: usize = 20_480;

/// The data plane.
#[derive(Debug)]
pub struct Edge {
    routes: arc_swap::ArcSwap<Routes>,
    /// Signatures already verified (bounded; never past their policy's expiry).
    verified: VerifiedCache,
    cache: Cache,
    identity: EdgeIdentity,
    trusted_proxies: Vec<Cidr>,
    /// Where finished requests are recorded, one copy per lock shard of the meter so that the
    /// worker threads each count references on one of their own; `None` with `--metering off`.
    meter: Option<Vec<Arc<MeterContext>>>,
}

/// How a response came to be, for headers and (later) metering.
struct Outcome {
    x_cache: XCache,
    age: Option<u64>,
    /// Whether the response's headers are a cached object's.
    stored: Stored,
}

/// Whose headers a response carries.
enum Stored {
    /// Its own: made at the edge, or the origin's as fetched.
    No,
    /// A cached object's, which hold the edge's constant headers
    /// ([`headers::add_edge_headers`]) already. With the object when they are exactly as
    /// stored and the request is metered: its record reads the object's [`CachedObject::head`]
    /// instead of walking them.
    Object(Option<Arc<CachedObject>>),
}

impl Stored {
    /// The headers hold the edge's constant headers already.
    fn edge_headers(&self) -> bool {
        !matches!(self, Stored::No)
    }
}

impl Edge {
    /// A data plane with an empty routing table.
    pub fn new(cache: Cache, pop: &str, trusted_proxies: Vec<Cidr>) -> Self {
        Self {
            routes: arc_swap::ArcSwap::from_pointee(Routes::default()),
            verified: VerifiedCache::default(),
            cache,
            identity: EdgeIdentity::new(pop),
            trusted_proxies,
            meter: None,
        }
    }

    /// Records every request to `meter`, as served from `pop` in billing region `region`.
    pub fn with_meter(mut self, meter: Meter, pop: &str, region: BillingRegion) -> Self {
        let ctx = MeterContext {
            meter,
            pop: super::metering::intern_pop(pop),
            region,
        };
        self.meter = Some(
            (0..crate::meter::SHARDS)
                .map(|_| Arc::new(ctx.clone()))
                .collect(),
        );
        self
    }

    /// Publishes a new routing snapshot; requests in flight keep the one they started with.
    pub fn publish(&self, routes: Routes) {
        self.routes.store(Arc::new(routes));
    }

    /// The cache (for invalidations and stats).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The viewer address: the socket peer, or the last untrusted X-Forwarded-For hop when the
    /// peer is a trusted proxy.
    pub fn viewer_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.trusted_proxies.iter().any(|c| c.contains(peer)) {
            return peer;
        }
        let Some(xff) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) else {
            return peer;
        };
        let mut ip = peer;
        for hop in xff.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(h) => {
                    ip = h;
                    if !self.trusted_proxies.iter().any(|c| c.contains(h)) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        ip
    }

    /// Handles one viewer request end to end. Never panics on input; every outcome is a response.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
        conn: ConnInfo,
    ) -> Response<MeteredBody> {
        let request_id = crate::ids::request_id();
        let rid = HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-"));
        // If the viewer leaves before the response is ready, the guard records a `000`.
        let (pending, measured_header_bytes) = match &self.meter {
            Some(m) => {
                let (p, n) = Pending::new(&m[crate::meter::thread_shard()], &req, &conn, &rid);
                (Some(p), Some(n))
            }
            None => (None, None),
        };
        let mut guard = AbortGuard(pending);
        // Routing and fetching note what they learn in the record's tally (or, without
        // metering, in one on the stack).
        let local;
        let tally: &Tally = match &guard.0 {
            Some(p) => &p.tally,
            None => {
                local = Tally::default();
                &local
            }
        };
        let (mut resp, outcome) = self
            .route(req, measured_header_bytes, &conn, &rid, &request_id, tally)
            .await;
        let status = resp.status();
        let added = headers::decorate_response(
            resp.headers_mut(),
            status,
            outcome.x_cache,
            &self.identity,
            &rid,
            outcome.age,
            outcome.stored.edge_headers(),
        );
        let pending = guard.0.take().map(|mut pending| {
            // A cached object's headers as stored, plus what decorating added, are measured from
            // the object's summary instead of walking them again.
            let stored = match (&outcome.stored, added) {
                (Stored::Object(Some(obj)), Some(added)) => Some((obj.head(), added)),
                _ => None,
            };
            pending.respond(&resp, outcome.x_cache, stored);
            pending
        });
        resp.map(|b| MeteredBody::new(b, pending))
    }

    /// `measured_header_bytes` is the request headers' size, when metering has measured it.
    async fn route(
        &self,
        req: Request<hyper::body::Incoming>,
        measured_header_bytes: Option<u64>,
        conn: &ConnInfo,
        rid: &HeaderValue,
        request_id: &str,
        tally: &Tally,
    ) -> (Response<Body>, Outcome) {
        let error = |status: StatusCode, reason: &str| edge_error(status, reason, request_id);
        // 1. Limits.
        let pq_len = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().len())
            .unwrap_or(0);
        let header_len =
            measured_header_bytes.unwrap_or_else(|| header_bytes(req.headers())) as usize;
        let head_len = pq_len + req.method().as_str().len() + header_len;
        if pq_len > MAX_URL_BYTES || head_len > MAX_HEAD_BYTES {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Bad request: the request line or headers are too large.",
            );
        }
        // 2. Host → distribution.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("")
            .to_owned();
        let routes = self.routes.load();
        let Some(dist) = routes.lookup(&host) else {
            return error(
                StatusCode::FORBIDDEN,
                "Bad request. We can't connect to the server for this app or website at this time. There might be too much traffic or a configuration error. Try again later, or contact the app or website owner.",
            );
        };
        // The tally keeps the reference and lends it back: the one reference count this request
        // takes on the distribution, held until its record is written.
        let dist = tally.distribution(dist.clone());
        if !dist.enabled {
            return error(
                StatusCode::FORBIDDEN,
                "Bad request. The distribution for this request is disabled.",
            );
        }
        // 3. Path → behavior.
        // The URI is shared (a reference count), so the path and query borrow from it after
        // the request has been taken apart.
        let uri = req.uri().clone();
        let root_path;
        let path = match (&dist.default_root_object, uri.path()) {
            (Some(root), "/") => {
                root_path = format!("/{root}");
                root_path.as_str()
            }
            (_, raw_path) => raw_path,
        };
        let raw_query = uri.query();
        let normalized = pattern::normalize(path);
        let Some(behavior) = dist.behavior(&normalized) else {
            return error(
                StatusCode::FORBIDDEN,
                "Bad request. No cache behavior matches this request.",
            );
        };
        // 4. Methods and protocol.
        if !behavior.allowed.contains(req.method()) {
            return error(
                StatusCode::FORBIDDEN,
                "This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.",
            );
        }
        // CloudFront refuses a GET that carries a body (caching.md §7.7).
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if *req.method() == Method::GET && has_body {
            return error(
                StatusCode::FORBIDDEN,
                "Bad request. A GET request cannot carry a body.",
            );
        }
        if !conn.https {
            match behavior.viewer_protocol {
                ViewerProtocol::AllowAll => {}
                ViewerProtocol::HttpsOnly => {
                    return error(
                        StatusCode::FORBIDDEN,
                        "Bad request. This distribution only accepts HTTPS requests.",
                    );
                }
                ViewerProtocol::RedirectToHttps => {
                    return redirect(req.method(), req.version(), &host, req.uri(), request_id);
                }
            }
        }
        // 5. Restricted behaviors: a signed URL or signed cookies, verified against the public
        // keys of the behavior's trusted key groups, before the cache is consulted.
        let viewer_ip = self.viewer_ip(req.headers(), conn.peer.ip());
        let mut strip_signing = false;
        if let Some(key_ids) = &behavior.trusted_key_ids {
            let cookies: Vec<&str> = req
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            let now_epoch = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let facts = RequestFacts {
                scheme: if conn.https { "https" } else { "http" },
                host: &host,
                raw_path: req.uri().path(),
                raw_query: req.uri().query(),
                cookie_headers: &cookies,
                viewer_ip,
                now_epoch,
            };
            match auth::verify_cached(&facts, key_ids, &routes.keys, Some(&self.verified)) {
                Ok(grant) => strip_signing = grant.strip_query,
                Err(denial) => {
                    return (
                        pages::response(StatusCode::FORBIDDEN, "text/xml", denial.error_body()),
                        Outcome {
                            x_cache: XCache::Error,
                            age: None,
                            stored: Stored::No,
                        },
                    );
                }
            }
        }
        let ctx = Ctx {
            dist,
            behavior,
            path,
            query: raw_query,
            viewer_ip,
            https: conn.https,
            rid,
            strip_signing,
            tally,
        };
        // 6./7. Cache or pass through.
        let cacheable_method = matches!(*req.method(), Method::GET | Method::HEAD)
            || (*req.method() == Method::OPTIONS && behavior.cached.contains(&Method::OPTIONS));
        let ranged = req.headers().contains_key(header::RANGE);
        if cacheable_method && !behavior.ttl.caching_disabled() {
            let (parts, _body) = req.into_parts();
            let (resp, outcome) = self.cached(parts, &ctx, ranged, request_id).await;
            return self.custom_error(resp, outcome, &ctx, request_id).await;
        }
        let (resp, outcome) = self.pass(req, &ctx, request_id).await;
        self.custom_error(resp, outcome, &ctx, request_id).await
    }

    /// CustomErrorResponses: an origin error with a rule that names a page is answered with that
    /// page, fetched through the behavior its path matches (and cached like any object), with the
    /// rule's ResponseCode. If the page cannot be fetched, the viewer gets what the page's origin
    /// answered (caching.md §18).
    async fn custom_error(
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
        let Some(rule) = ctx
            .dist
            .error_responses
            .iter()
            .find(|r| r.error_code == status.as_u16())
        else {
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
            self.cached(parts, &page_ctx, false, request_id).await
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
        (
            page_resp,
            Outcome {
                x_cache: XCache::Error,
                age: None,
                stored: Stored::No,
            },
        )
    }

    /// The cache path for GET/HEAD (and cached OPTIONS).
    async fn cached(
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
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = SystemTime::now();
            let stale = match self.cache.lookup(&cache_key, now).await {
                Lookup::Fresh(obj) => {
                    return serve_cached(&obj, &parts, now, XCache::Hit, ctx.tally);
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
            match self.cache.begin_fill(&cache_key) {
                Fill::Follower(waiter) => match waiter.wait_outcome().await {
                    // Collapsed requests are logged as hits, as CloudFront does.
                    Waited::Object(obj) => {
                        return serve_cached(
                            &obj,
                            &parts,
                            SystemTime::now(),
                            XCache::Hit,
                            ctx.tally,
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
                        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.tally).await {
                            Ok(r) => r,
                            Err(e) => {
                                guard.abandon();
                                // An origin that does not answer counts as a 5xx: the expired copy
                                // is served instead (caching.md §4).
                                if let Some(old) = &stale {
                                    return serve_cached(
                                        old,
                                        &parts,
                                        SystemTime::now(),
                                        XCache::Hit,
                                        ctx.tally,
                                    );
                                }
                                return origin_error(e, request_id, ctx.tally);
                            }
                        };
                    if let Some(old) = &stale {
                        if resp.status() == StatusCode::NOT_MODIFIED {
                            return self.refresh(old, resp, guard, &parts, ctx).await;
                        }
                        if resp.status().is_server_error() {
                            guard.abandon();
                            return serve_cached(
                                old,
                                &parts,
                                SystemTime::now(),
                                XCache::Hit,
                                ctx.tally,
                            );
                        }
                    }
                    let (mut rparts, body) = resp.into_parts();
                    // Hook (headers): Set-Cookie and Vary by what the behavior forwards.
                    headers::clean_for(&mut rparts.headers, &ctx.behavior.forward);
                    let now = SystemTime::now();
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
                    ctx.tally.ttl(match decision {
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
                        _ => {
                            guard.pass();
                            body
                        }
                    };
                    let resp = Response::from_parts(rparts, body);
                    return (
                        resp,
                        Outcome {
                            x_cache: XCache::Miss,
                            age: None,
                            stored: Stored::No,
                        },
                    );
                }
            }
        }
    }

    /// A 304 answered the revalidation of an expired copy: the copy gets the new validators and
    /// freshness and is served as `RefreshHit`.
    async fn refresh(
        &self,
        old: &Arc<CachedObject>,
        resp: Response<Body>,
        guard: cache_mod::store::FillGuard,
        parts: &http::request::Parts,
        ctx: &Ctx<'_>,
    ) -> (Response<Body>, Outcome) {
        // Hook (headers): every header of the 304 updates the stored one (RFC 9111 §4.3.4).
        let headers = headers::refreshed(&old.headers, resp.headers(), &ctx.behavior.forward);
        let now = SystemTime::now();
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
        serve_cached(&obj, parts, now, XCache::RefreshHit, ctx.tally)
    }

    async fn pass(
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
    async fn pass_parts(
        &self,
        req: Request<Body>,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let (parts, body) = req.into_parts();
        let mut origin_req = self.origin_request(&parts, ctx, false);
        origin_req.body = body;
        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.tally).await {
            Ok(resp) => {
                let (mut rparts, body) = resp.into_parts();
                // Hook (headers): Set-Cookie and Vary by what the behavior forwards.
                headers::clean_for(&mut rparts.headers, &ctx.behavior.forward);
                (
                    Response::from_parts(rparts, body),
                    Outcome {
                        x_cache: XCache::Miss,
                        age: None,
                        stored: Stored::No,
                    },
                )
            }
            Err(e) => origin_error(e, request_id, ctx.tally),
        }
    }

    /// Builds the origin request: forwarded headers, query and CloudFront's own headers. With
    /// `for_cache`, viewer conditionals and ranges are left out so the whole object comes back.
    fn origin_request(
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
                // Hook (headers): Host too, when forwarded (the origin sets its own otherwise),
                // and Accept-Encoding as it is when the cache policy does not normalise it.
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

/// CloudFront's HTML error page as a response, with `X-Cache: Error`.
fn edge_error(status: StatusCode, reason: &str, request_id: &str) -> (Response<Body>, Outcome) {
    (
        pages::response(
            status,
            "text/html",
            pages::error_page(status, reason, request_id),
        ),
        Outcome {
            x_cache: XCache::Error,
            age: None,
            stored: Stored::No,
        },
    )
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

/// Per-request facts shared by the stages.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    dist: &'a Arc<Distribution>,
    behavior: &'a Behavior,
    path: &'a str,
    query: Option<&'a str>,
    viewer_ip: IpAddr,
    https: bool,
    rid: &'a HeaderValue,
    /// The request was granted by a signed URL: its signing parameters are neither part of the
    /// cache key nor sent to the origin.
    strip_signing: bool,
    /// What metering learns on the way.
    tally: &'a Tally,
}

impl Ctx<'_> {
    /// Which query parameters are left out of the cache key and the origin request.
    fn drop_query(&self) -> fn(&str) -> bool {
        if self.strip_signing {
            auth::is_signing_param
        } else {
            |_| false
        }
    }
}

/// Sends to the behavior's target, failing over inside an origin group for GET/HEAD/OPTIONS.
async fn fetch(
    target: &Target,
    req: OriginRequest,
    parts: &http::request::Parts,
    tally: &Tally,
) -> Result<Response<Body>, OriginError> {
    let sent = origin_request_bytes(&req);
    let started = std::time::Instant::now();
    let result = fetch_target(target, req, parts).await;
    let received = result.as_ref().map_or(0, |r| {
        header_bytes(r.headers()) + 17 + content_length(r.headers()).unwrap_or(0)
    });
    tally.origin(sent, received, started.elapsed());
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

fn origin_error(e: OriginError, request_id: &str, tally: &Tally) -> (Response<Body>, Outcome) {
    tally.detailed(match &e {
        OriginError::Timeout(_) => "OriginCommError",
        OriginError::Refused(_) => "OriginError",
        OriginError::Connect(_) => "OriginConnectError",
        OriginError::Protocol(_) => "OriginInvalidResponseError",
    });
    let (status, reason) = match &e {
        OriginError::Timeout(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "CloudFront attempted to establish a connection with the origin, but either the attempt failed or the origin closed the connection.",
        ),
        OriginError::Refused(_) => (StatusCode::FORBIDDEN, "Bad request."),
        OriginError::Connect(_) | OriginError::Protocol(_) => (
            StatusCode::BAD_GATEWAY,
            "CloudFront wasn't able to connect to the origin.",
        ),
    };
    tracing::warn!(error = %e, %status, "origin request failed");
    edge_error(status, reason, request_id)
}

/// Serves a cached object: 304 for a matching conditional, 206 for a satisfiable single range,
/// the whole object otherwise.
fn serve_cached(
    obj: &Arc<CachedObject>,
    parts: &http::request::Parts,
    now: SystemTime,
    x_cache: XCache,
    tally: &Tally,
) -> (Response<Body>, Outcome) {
    tally.ttl(obj.ttl);
    // Hook (headers): the origin's Age counts in the Age a viewer sees.
    let age = Some(obj.current_age(now).as_secs());
    let outcome = |stored| Outcome {
        x_cache,
        age,
        stored,
    };
    if obj.status == StatusCode::OK && cache_mod::conditional::not_modified(&parts.headers, obj) {
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
        return (resp, outcome(Stored::No));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = obj.status;
    *resp.headers_mut() = obj.headers.clone();
    if let Some(m) = &obj.mirror {
        crate::sendfile::announce(m);
    }
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
    let summed = (!changed && tally.metered()).then(|| obj.clone());
    (resp, outcome(Stored::Object(summed)))
}

fn redirect(
    method: &Method,
    version: http::Version,
    host: &str,
    uri: &http::Uri,
    request_id: &str,
) -> (Response<Body>, Outcome) {
    let error = |status| edge_error(status, "Bad request.", request_id);
    let (status, body) = match *method {
        Method::GET | Method::HEAD => (StatusCode::MOVED_PERMANENTLY, pages::MOVED_PERMANENTLY),
        _ if version >= http::Version::HTTP_11 => {
            (StatusCode::TEMPORARY_REDIRECT, pages::TEMPORARY_REDIRECT)
        }
        _ => return error(StatusCode::FORBIDDEN),
    };
    let host_no_port = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut resp = pages::response(status, "text/html", body.to_owned());
    match HeaderValue::from_str(&format!("https://{host_no_port}{pq}")) {
        Ok(loc) => {
            resp.headers_mut().insert(header::LOCATION, loc);
        }
        Err(_) => return error(StatusCode::BAD_REQUEST),
    }
    (
        resp,
        Outcome {
            x_cache: XCache::Redirect,
            age: None,
            stored: Stored::No,
        },
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_address_believes_only_trusted_proxies() {
        let edge = Edge::new(
            Cache::new(1 << 20),
            "TST1-C1",
            vec!["10.0.0.0/8".parse().unwrap()],
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.4, 10.1.1.1"),
        );
        // From a trusted proxy: the last hop that is not itself trusted.
        assert_eq!(
            edge.viewer_ip(&h, "10.9.9.9".parse().unwrap()),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
        // From anyone else: the socket peer, whatever the header says.
        assert_eq!(
            edge.viewer_ip(&h, "192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // A malformed header from a trusted proxy: the proxy itself.
        h.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(
            edge.viewer_ip(&h, "10.9.9.9".parse().unwrap()),
            "10.9.9.9".parse::<IpAddr>().unwrap()
        );
    }
}
