//! The request path as CloudFront's phases. [`Edge::handle`] runs them for one request, and the
//! order is written there and nowhere else:
//!
//! | # | phase | module | its job |
//! |---|---|---|---|
//! | 1 | accept | `route` | CloudFront's limits: URL ≤ 8,192 bytes, request head ≤ 20,480 bytes (413) |
//! | 2 | route | `route` | Host → distribution, DefaultRootObject, path → cache behavior |
//! | 3 | viewer checks | `checks` | methods, a GET's body, viewer protocol policy, geo restriction, signed URL or cookies; then the `CloudFront-*` headers |
//! | 4 | viewer-request function | `function` | the behavior's CloudFront Function: may change the request or answer it |
//! | 5 | cache | `lookup` | key, lookup, conditional and range answers, collapsing of misses, revalidation |
//! | 6 | origin | `forward` | the origin request built and sent; failover in an origin group |
//! | 7 | response | `lookup` (admission), `respond`, [`headers::decorate_response`] | what is stored, custom error pages, CloudFront's response headers |
//! | 8 | viewer-response function | `function` | the behavior's CloudFront Function on responses below 400 |
//! | 9 | send | [`super::send`] | the body handed to the connection, which may send a cached body with `sendfile` |
//! | 10 | log | `metering` | observes the finished request's [`Summary`] exactly once: served, failed or abandoned |
//!
//! A phase that ends the request early returns an [`EdgeError`] (or a redirect), which decides
//! the response by who is to blame ([`super::error`]). Phases note what they learn in the
//! request's [`Summary`]; the log phase reads it when the response has ended. The time of day
//! comes from the edge's [`Clock`].

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Request, Response};

use super::error::EdgeError;
use super::headers::{self, EdgeIdentity, XCache};
use super::metering::{Log, LogEntry};
use super::routing::{Behavior, Distribution, Routes};
use super::send::ResponseBody;
use super::summary::Summary;
use super::viewer::{self, ViewerFacts};
use crate::auth::{self, VerifiedCache};
use crate::cache::Cache;
use crate::cache::store::CachedObject;
use crate::clock::Clock;
use crate::config::{BillingRegion, Cidr};
use crate::geo::GeoDb;
use crate::meter::Meter;
use crate::server::ConnInfo;

mod checks;
mod forward;
mod function;
mod lookup;
mod respond;
mod route;

pub use route::BodyLimits;
use route::{accept, host_of, is_options_star, options_star, route, take_body};

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
    /// The GeoIP database that locates viewers (`--geoip-db`), if any.
    geo: Option<Arc<GeoDb>>,
    clock: Arc<dyn Clock>,
    /// The log phase; `None` with `--metering off`.
    log: Option<Log>,
    /// How request bodies are taken before the origin request.
    body_limits: BodyLimits,
    /// The key shield requests from other edges are verified with ([`super::shield`]).
    shield_key: Option<Arc<[u8]>>,
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
            geo: None,
            clock: crate::clock::system(),
            log: None,
            body_limits: BodyLimits::default(),
            shield_key: None,
        }
    }

    /// The same edge, accepting shield requests signed with `key` (`--shield-key`).
    pub fn with_shield_key(mut self, key: Option<Arc<[u8]>>) -> Self {
        self.shield_key = key;
        self
    }

    /// Takes request bodies as `limits` say (`--request-body-buffer`, `--max-request-body`).
    pub fn with_body_limits(mut self, limits: BodyLimits) -> Self {
        self.body_limits = limits;
        self
    }

    /// Reads the time of day from `clock` (tests move it forward instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Locates viewers with `db` (geo restriction, CloudFront-Viewer-* location headers).
    pub fn with_geoip(mut self, db: Arc<GeoDb>) -> Self {
        self.geo = Some(db);
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
        // 1. to 7. Routing notes the behavior's response headers policy, if any.
        let mut policy = None;
        let phases = self.phases(req, &conn, &rid, &request_id, summary, &mut policy);
        let (mut resp, outcome) = match phases.await {
            Ok(done) => done,
            Err(Stop::Fail(e)) => fail(e, &request_id, summary),
            Err(Stop::Redirect(resp)) => (*resp, Outcome::own(XCache::Redirect)),
        };
        // A shield request from another edge: that edge logs the request and counts it, so
        // this one only tells it whether its cache answered (`super::shield`).
        let for_edge = summary.is_for_edge();
        if for_edge {
            let result = if matches!(outcome.x_cache, XCache::Hit) {
                "Hit"
            } else {
                "Miss"
            };
            resp.headers_mut().insert(
                super::shield::RESULT_HEADER,
                HeaderValue::from_static(result),
            );
        }
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
        // 7. Response: the behavior's response headers policy, on every outcome once routed.
        let added = match &policy {
            Some(policy) => {
                respond::response_headers_policy(&mut resp, policy, &outcome, &self, &rid, summary);
                None
            }
            None => added,
        };
        // A cached object's headers as stored, plus what decorating added, are measured from
        // the object instead of walking them again.
        let stored = match (&outcome.head, added) {
            (Head::Cached { obj, exact: true }, Some(added)) => Some((&**obj, added)),
            _ => None,
        };
        if for_edge {
            entry.discard();
        }
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
        mut req: Request<hyper::body::Incoming>,
        conn: &ConnInfo,
        rid: &HeaderValue,
        request_id: &str,
        summary: &Summary,
        policy: &mut Option<respond::Policy>,
    ) -> Result<(Response<Body>, Outcome), Stop> {
        // 1. Accept.
        accept(&mut req, summary)?;
        // 2. Route.
        let routes = self.routes.load();
        let host = host_of(&req);
        // The URI is shared (a reference count), so the path and query borrow from it after
        // the request has been taken apart.
        let uri = req.uri().clone();
        let mut root_path = String::new();
        let route = route(&routes, summary, host, &uri, &mut root_path)?;
        *policy = respond::policy_for(route.behavior, &req);
        if is_options_star(&req) {
            return Ok((options_star(route.behavior), Outcome::own(XCache::Miss)));
        }
        // What a viewer-request function changes the path and query to, and where it sends
        // the request (phase 4).
        let fn_path: String;
        let fn_query: String;
        let fn_behavior: Behavior;
        // 3. Viewer checks. A geo or signature refusal may be answered with a custom error
        // page, as an origin's error is (`respond::custom_page_applies`).
        let viewer_ip = self.viewer_ip(req.headers(), conn.peer.ip());
        let mut ctx = Ctx {
            dist: route.dist,
            behavior: route.behavior,
            path: route.path,
            query: uri.query(),
            viewer_ip,
            https: conn.https,
            rid,
            strip_signing: false,
            summary,
        };
        // A shield request from another edge (its viewer checks and functions are done there)
        // is served as the edge would fetch it; a forged one is refused.
        let shielded = self.shield_request(&req, host, summary)?;
        let location = match self.viewer_checks(&req, conn, host, &ctx, &routes) {
            _ if shielded => None,
            Ok(checked) => {
                ctx.strip_signing = checked.strip_signing;
                checked.location
            }
            Err(Stop::Fail(e)) if respond::custom_page_applies(&e) => {
                let (resp, outcome) = fail(e, request_id, summary);
                return Ok(self.custom_error(resp, outcome, &ctx, request_id).await);
            }
            Err(stop) => return Err(stop),
        };
        // The CloudFront-* headers the behavior asks for replace any the viewer sent, before
        // the cache key is built.
        let facts = ViewerFacts::new(conn, viewer_ip, req.version(), location.as_ref());
        viewer::rewrite_headers(req.headers_mut(), ctx.behavior.cloudfront_headers, &facts);
        if shielded {
            let h = req.headers_mut();
            h.remove(super::shield::ORIGIN_HEADER);
            h.remove(super::shield::SIGNATURE_HEADER);
        }
        // 4. Viewer-request function (CloudFront Functions).
        let behavior = route.behavior;
        if let Some(script) = &behavior.functions.viewer_request
            && !shielded
        {
            let method = req.method().clone();
            match self.viewer_request_function(
                script,
                &method,
                &uri,
                req.headers_mut(),
                &ctx,
                request_id,
            ) {
                Ok(function::RequestStep::Continue { uri, query, target }) => {
                    if let Some(target) = target {
                        fn_behavior = Behavior {
                            target,
                            ..behavior.clone()
                        };
                        ctx.behavior = &fn_behavior;
                    }
                    if let Some(u) = uri {
                        fn_path = u;
                        ctx.path = &fn_path;
                    }
                    if let Some(q) = query {
                        fn_query = q;
                        ctx.query = Some(fn_query.as_str()).filter(|q| !q.is_empty());
                    }
                }
                Ok(function::RequestStep::Respond(resp)) => {
                    return Ok((*resp, Outcome::own(XCache::FunctionGeneratedResponse)));
                }
                Err(e) => {
                    let x_cache = function::x_cache_of(&e);
                    let (resp, _) = fail(e, request_id, summary);
                    return Ok((resp, Outcome::own(x_cache)));
                }
            }
        }
        // What the viewer-response function (phase 8) will need of the request.
        let response_fn = behavior
            .functions
            .viewer_response
            .as_ref()
            .filter(|_| !shielded)
            .map(|script| function::ResponseFn {
                script: script.clone(),
                method: req.method().clone(),
                headers: req.headers().clone(),
            });
        // 5. Cache (which calls 6. origin on a miss, and admits what comes back), or 6. origin
        // alone for what is never cached.
        let cacheable_method = matches!(*req.method(), Method::GET | Method::HEAD)
            || (*req.method() == Method::OPTIONS && behavior.cached.contains(&Method::OPTIONS));
        let (resp, outcome) = if cacheable_method && !behavior.ttl.caching_disabled() {
            let (parts, _body) = req.into_parts();
            self.cached(parts, &ctx, request_id).await
        } else {
            // The body is read first (up to --request-body-buffer), so that a slow upload
            // holds no origin connection. A body the viewer fails to deliver whole is the
            // viewer's fault (400, 413), even when the origin request is what notices it.
            let failed = Arc::new(std::sync::atomic::AtomicU8::new(route::BODY_OK));
            let (parts, body) = req.into_parts();
            let body = take_body(&parts.headers, body, &self.body_limits, failed.clone()).await?;
            let passed = self
                .pass_parts(Request::from_parts(parts, body), &ctx, request_id)
                .await;
            match failed.load(std::sync::atomic::Ordering::Relaxed) {
                route::BODY_INVALID => fail(
                    EdgeError::BadRequest(super::error::BadRequest::InvalidBody),
                    request_id,
                    summary,
                ),
                route::BODY_TOO_LARGE => fail(EdgeError::BodyTooLarge, request_id, summary),
                route::BODY_STALLED => fail(EdgeError::BodyTimeout, request_id, summary),
                _ => passed,
            }
        };
        // 7. Response: custom error pages.
        let (resp, outcome) = self.custom_error(resp, outcome, &ctx, request_id).await;
        // 8. Viewer-response function (CloudFront Functions).
        Ok(match response_fn {
            Some(f) => self.viewer_response_function(f, resp, outcome, &ctx, request_id),
            None => (resp, outcome),
        })
    }
}

impl Edge {
    /// Whether `req` is a shield request from another edge, verified (it is then not logged
    /// here: the edge that sent it logs it);
    /// a request carrying shield headers that do not verify is refused with 403.
    fn shield_request<B>(
        &self,
        req: &Request<B>,
        host: &str,
        summary: &Summary,
    ) -> Result<bool, Stop> {
        let h = req.headers();
        let (origin, signature) = (
            h.get(super::shield::ORIGIN_HEADER),
            h.get(super::shield::SIGNATURE_HEADER),
        );
        if origin.is_none() && signature.is_none() {
            return Ok(false);
        }
        let host = host.split(':').next().unwrap_or_default();
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let valid = match (&self.shield_key, origin, signature) {
            (Some(key), Some(o), Some(s)) => super::shield::verify(
                key,
                super::shield::ShieldRequest {
                    host,
                    origin_id: o.to_str().unwrap_or_default(),
                    method: req.method(),
                    path,
                },
                s.to_str().unwrap_or_default(),
                self.clock.epoch_secs(),
            ),
            _ => false,
        };
        if !valid {
            return Err(Stop::Fail(EdgeError::SignatureRefused(
                crate::auth::Denial::AccessDenied,
            )));
        }
        summary.for_edge();
        Ok(true)
    }
}

/// One "request failed" line per [`crate::server::WARN_INTERVAL`] at most: an attack can make
/// every request fail.
static REQUEST_FAILED: crate::server::Throttle =
    crate::server::Throttle::new(crate::server::WARN_INTERVAL);

/// An error's response: notes its detailed result type for the log, and logs origin failures.
fn fail(e: EdgeError, request_id: &str, summary: &Summary) -> (Response<Body>, Outcome) {
    if let Some(detailed) = e.detailed_result() {
        summary.detailed(detailed);
    }
    if e.blame() != super::error::Blame::Viewer
        && let Some(suppressed) = REQUEST_FAILED.admit()
    {
        tracing::warn!(error = %e, status = %e.status(), "request failed{suppressed}");
    }
    (e.into_response(request_id), Outcome::own(XCache::Error))
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
