//! The request path as CloudFront's phases. [`Edge::handle`] runs them for one request, and the
//! order is written there and nowhere else:
//!
//! | # | phase | where | its job |
//! |---|---|---|---|
//! | 1 | accept | `accept` | CloudFront's limits: URL ≤ 8,192 bytes, request head ≤ 20,480 bytes (413) |
//! | 2 | route | `route` | Host → distribution, DefaultRootObject, path → cache behavior |
//! | 3 | viewer checks | `Edge::viewer_checks` | methods, a GET's body, viewer protocol policy, signed URL or cookies |
//! | 4 | viewer-request function | | (CloudFront Functions: not yet) |
//! | 5 | cache | `Edge::cached` | key, lookup, conditional and range answers, collapsing of misses, revalidation |
//! | 6 | origin | `Edge::origin_request`, `fetch` | the origin request built and sent; failover in an origin group |
//! | 7 | response | `Edge::cached` (admission), `Edge::custom_error`, [`headers::decorate_response`] | what is stored, custom error pages, CloudFront's response headers |
//! | 8 | viewer-response function | | (CloudFront Functions: not yet) |
//! | 9 | send | [`ResponseBody`] | the body handed to the connection, which may send a cached body with `sendfile` |
//! | 10 | log | `metering` | observes the finished request's [`Summary`] exactly once: served, failed or abandoned |
//!
//! A phase that ends the request early returns an [`EdgeError`] (or a redirect), which decides
//! the response by who is to blame ([`super::error`]). Phases note what they learn in the
//! request's [`Summary`]; the log phase reads it when the response has ended. The time of day
//! comes from the edge's [`Clock`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use super::error::EdgeError;
use super::headers::{self, EdgeIdentity, XCache, content_length, header_bytes};
use super::metering::{Log, LogEntry};
use super::pages;
use super::pattern;
use super::routing::{Behavior, Distribution, Routes, Target, ViewerProtocol};
use super::send::ResponseBody;
use super::summary::Summary;
use crate::auth::{self, RequestFacts, VerifiedCache};
use crate::cache::key::{self, Selection};
use crate::cache::store::{CachedObject, Fill, Lookup, Waited};
use crate::cache::{self as cache_mod, Cache};
use crate::clock::Clock;
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
    clock: Arc<dyn Clock>,
    /// The log phase; `None` with `--metering off`.
    log: Option<Log>,
}

/// How a response came to be, for the response and log phases.
struct Outcome {
    x_cache: XCache,
    age: Option<u64>,
    head: Head,
}

impl Outcome {
    /// A response whose headers are its own.
    fn own(x_cache: XCache) -> Self {
        Outcome {
            x_cache,
            age: None,
            head: Head::Own,
        }
    }
}

/// Whose headers a response carries.
enum Head {
    /// Its own: made at the edge, or the origin's as fetched.
    Own,
    /// A cached object's, which hold the edge's constant headers
    /// ([`headers::add_edge_headers`]) already; `exact` when they are exactly as stored, so
    /// that the log phase can measure them from the object instead of walking them. The object
    /// goes on with the body to the connection, which may send it from its file mirror.
    Cached { obj: Arc<CachedObject>, exact: bool },
}

/// How a phase ends a request before the cache.
enum Stop {
    /// An error, answered by [`EdgeError::into_response`].
    Fail(EdgeError),
    /// A viewer protocol redirect.
    Redirect(Box<Response<Body>>),
}

impl From<EdgeError> for Stop {
    fn from(e: EdgeError) -> Self {
        Stop::Fail(e)
    }
}

impl Edge {
    /// A data plane with an empty routing table, on the system clock.
    pub fn new(cache: Cache, pop: &str, trusted_proxies: Vec<Cidr>) -> Self {
        Self {
            routes: arc_swap::ArcSwap::from_pointee(Routes::default()),
            verified: VerifiedCache::default(),
            cache,
            identity: EdgeIdentity::new(pop),
            trusted_proxies,
            clock: crate::clock::system(),
            log: None,
        }
    }

    /// Reads the time of day from `clock` (tests move it forward instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records every request to `meter`, as served from `pop` in billing region `region`.
    pub fn with_meter(mut self, meter: Meter, pop: &str, region: BillingRegion) -> Self {
        self.log = Some(Log::new(meter, pop, region));
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

    /// Handles one viewer request end to end: every phase, in order. Never panics on input;
    /// every outcome is a response.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
        conn: ConnInfo,
    ) -> Response<ResponseBody> {
        let request_id = crate::ids::request_id();
        let rid = HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-"));
        // 10. Log: opened first, so that it also observes a request abandoned in any phase
        // (if the viewer leaves before the response is ready, the entry records a `000`).
        let mut entry = LogEntry::open(self.log.as_ref(), &req, &conn, &rid);
        let local;
        let summary: &Summary = match entry.summary() {
            Some(s) => s,
            None => {
                local = Summary::default();
                &local
            }
        };
        // 1. to 7.
        let (mut resp, outcome) = match self.phases(req, &conn, &rid, &request_id, summary).await {
            Ok(done) => done,
            Err(Stop::Fail(e)) => fail(e, &request_id, summary),
            Err(Stop::Redirect(resp)) => (*resp, Outcome::own(XCache::Redirect)),
        };
        // 7. Response: CloudFront's headers, on every outcome.
        let status = resp.status();
        let added = headers::decorate_response(
            resp.headers_mut(),
            status,
            outcome.x_cache,
            &self.identity,
            &rid,
            outcome.age,
            !matches!(outcome.head, Head::Own),
        );
        // A cached object's headers as stored, plus what decorating added, are measured from
        // the object instead of walking them again.
        let stored = match (&outcome.head, added) {
            (Head::Cached { obj, exact: true }, Some(added)) => Some((&**obj, added)),
            _ => None,
        };
        let record = entry.respond(&resp, outcome.x_cache, stored);
        // 9. Send (and 10. log, when the body has been handed to the connection).
        let source = match outcome.head {
            Head::Cached { obj, .. } => Some(obj),
            Head::Own => None,
        };
        resp.map(|body| ResponseBody::new(body, record, source))
    }

    /// Phases 1 to 7 up to the response headers. An early end is a [`Stop`].
    async fn phases(
        &self,
        req: Request<hyper::body::Incoming>,
        conn: &ConnInfo,
        rid: &HeaderValue,
        request_id: &str,
        summary: &Summary,
    ) -> Result<(Response<Body>, Outcome), Stop> {
        // 1. Accept.
        accept(&req, summary)?;
        // 2. Route.
        let routes = self.routes.load();
        let host = host_of(&req);
        // The URI is shared (a reference count), so the path and query borrow from it after
        // the request has been taken apart.
        let uri = req.uri().clone();
        let mut root_path = String::new();
        let route = route(&routes, summary, host, &uri, &mut root_path)?;
        // 3. Viewer checks.
        let checked = self.viewer_checks(&req, conn, host, &route, &routes)?;
        // 4. Viewer-request function: not yet.
        let ctx = Ctx {
            dist: route.dist,
            behavior: route.behavior,
            path: route.path,
            query: uri.query(),
            viewer_ip: checked.viewer_ip,
            https: conn.https,
            rid,
            strip_signing: checked.strip_signing,
            summary,
        };
        // 5. Cache (which calls 6. origin on a miss, and admits what comes back), or 6. origin
        // alone for what is never cached.
        let behavior = route.behavior;
        let cacheable_method = matches!(*req.method(), Method::GET | Method::HEAD)
            || (*req.method() == Method::OPTIONS && behavior.cached.contains(&Method::OPTIONS));
        let (resp, outcome) = if cacheable_method && !behavior.ttl.caching_disabled() {
            let ranged = req.headers().contains_key(header::RANGE);
            let (parts, _body) = req.into_parts();
            self.cached(parts, &ctx, ranged, request_id).await
        } else {
            self.pass(req, &ctx, request_id).await
        };
        // 7. Response: custom error pages.
        Ok(self.custom_error(resp, outcome, &ctx, request_id).await)
    }

    /// Phase 3, viewer checks: allowed methods, a GET's body, the viewer protocol policy, and
    /// on restricted behaviors a signed URL or signed cookies, verified against the behavior's
    /// trusted keys before the cache is consulted.
    fn viewer_checks(
        &self,
        req: &Request<hyper::body::Incoming>,
        conn: &ConnInfo,
        host: &str,
        route: &Route<'_>,
        routes: &Routes,
    ) -> Result<Checked, Stop> {
        let behavior = route.behavior;
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
        let viewer_ip = self.viewer_ip(req.headers(), conn.peer.ip());
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
            viewer_ip,
            strip_signing,
        })
    }
}

/// Phase 1, accept: CloudFront's limits on the URL and the request head. Also notes the
/// head's size for the log.
fn accept<B>(req: &Request<B>, summary: &Summary) -> Result<(), EdgeError> {
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
fn host_of<B>(req: &Request<B>) -> &str {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// What routing found.
struct Route<'a> {
    dist: &'a Arc<Distribution>,
    behavior: &'a Behavior,
    /// The path the behavior serves (`/` replaced by the DefaultRootObject).
    path: &'a str,
}

/// Phase 2, route: Host → distribution (unknown or disabled: 403), DefaultRootObject for `/`,
/// then path → behavior (first match, default last).
fn route<'a>(
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

/// What the viewer checks established.
struct Checked {
    viewer_ip: IpAddr,
    /// A signed URL granted the request: its signing parameters are neither part of the cache
    /// key nor sent to the origin.
    strip_signing: bool,
}

/// An error's response: notes its detailed result type for the log, and logs origin failures.
fn fail(e: EdgeError, request_id: &str, summary: &Summary) -> (Response<Body>, Outcome) {
    if let Some(detailed) = e.detailed_result() {
        summary.detailed(detailed);
    }
    if e.blame() != super::error::Blame::Viewer {
        tracing::warn!(error = %e, status = %e.status(), "request failed");
    }
    (e.into_response(request_id), Outcome::own(XCache::Error))
}

impl Edge {
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
        (page_resp, Outcome::own(XCache::Error))
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
            match self.cache.begin_fill(&cache_key) {
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
                                guard.abandon();
                                // An origin that does not answer counts as a 5xx: the expired copy
                                // is served instead (caching.md §4).
                                if let Some(old) = &stale {
                                    return serve_cached(
                                        old.clone(),
                                        &parts,
                                        self.clock.now(),
                                        XCache::Hit,
                                        ctx.summary,
                                    );
                                }
                                return fail(e.into(), request_id, ctx.summary);
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
                    headers::clean_origin_response(&mut rparts.headers, false, &|_| false);
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
        let mut headers = old.headers.clone();
        for name in [
            header::CACHE_CONTROL,
            header::EXPIRES,
            header::ETAG,
            header::LAST_MODIFIED,
            header::DATE,
        ] {
            if let Some(v) = resp.headers().get(&name) {
                headers.insert(name, v.clone());
            }
        }
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
        match fetch(&ctx.behavior.target, origin_req, &parts, ctx.summary).await {
            Ok(resp) => {
                let (mut rparts, body) = resp.into_parts();
                headers::clean_origin_response(&mut rparts.headers, false, &|_| false);
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
                || (n != "host"
                    && n != "cookie"
                    && n != "accept-encoding"
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
    /// What the phases learn, for the log.
    summary: &'a Summary,
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

/// Serves a cached object: 304 for a matching conditional, 206 for a satisfiable single range,
/// the whole object otherwise.
fn serve_cached(
    obj: Arc<CachedObject>,
    parts: &http::request::Parts,
    now: SystemTime,
    x_cache: XCache,
    summary: &Summary,
) -> (Response<Body>, Outcome) {
    summary.ttl(obj.ttl);
    let age = Some(obj.age(now).as_secs());
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

fn redirect(
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
