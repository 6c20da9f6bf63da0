//! Phase 6, origin: the origin request built from the viewer's (what the behavior forwards, and
//! CloudFront's own headers), sent to the behavior's origin, with failover in an origin group;
//! a viewer-request function may have sent this request elsewhere ([`override_target`]).

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response};

use std::sync::Arc;
use std::time::Duration;

use super::super::headers::{self, XCache, content_length, header_bytes};
use super::super::routing::{DistributionOrigins, GroupMember, Target};
use super::super::summary::Summary;
use super::{Ctx, Edge, Outcome, fail};
use crate::cache::key::{self, Selection};
use crate::functions::FunctionError;
use crate::functions::origin_select::{OriginChange, OriginProtocol, OriginUpdate};
use crate::origin::{
    HttpOrigin, HttpOriginSettings, Origin, OriginError, OriginFuture, OriginRequest,
    ProtocolPolicy,
};

impl Edge {
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

/// Sends to the behavior's target, failing over inside an origin group (see [`failover`]), and
/// notes in the summary what went to and came from the origins, and whether the group failed
/// over.
pub(super) async fn fetch(
    target: &Target,
    req: OriginRequest,
    parts: &http::request::Parts,
    summary: &Summary,
) -> Result<Response<Body>, OriginError> {
    let sent = origin_request_bytes(&req);
    let started = std::time::Instant::now();
    let fetched = fetch_target(target, req, parts).await;
    let received = |r: &Response<Body>| {
        header_bytes(r.headers()) + 17 + content_length(r.headers()).unwrap_or(0)
    };
    // An Origin Shield's part in the answer ([`crate::edge::shield`]), for the log.
    let shield = |result: &Result<Response<Body>, OriginError>| {
        if let Some(used) = result
            .as_ref()
            .ok()
            .and_then(|r| r.extensions().get::<crate::edge::shield::ShieldUse>())
        {
            summary.shield(*used);
        }
    };
    match fetched {
        Fetched::Direct(result) => {
            summary.origin(sent, result.as_ref().map_or(0, received), started.elapsed());
            shield(&result);
            result
        }
        Fetched::FailedOver { primary, result } => {
            // The primary was sent the request unless no connection could be made; of an
            // answer it gave, its head was read (the body is not).
            let (primary_sent, primary_received) = match primary {
                Failover::Connect => (0, 0),
                Failover::Timeout | Failover::Broken => (sent, 0),
                Failover::Status { head_bytes, .. } => (sent, head_bytes),
            };
            summary.origin(
                primary_sent + sent,
                primary_received + result.as_ref().map_or(0, received),
                started.elapsed(),
            );
            summary.failed_over();
            shield(&result);
            result
        }
    }
}

/// The origin request's size as HTTP/1.1: request line, headers, declared body.
fn origin_request_bytes(req: &OriginRequest) -> u64 {
    let line = req.method.as_str().len() + req.path_and_query.len() + 13;
    (line + 2) as u64 + header_bytes(&req.headers) + content_length(&req.headers).unwrap_or(0)
}

/// What sending to a target came to.
enum Fetched {
    /// One origin was asked, and this is its answer.
    Direct(Result<Response<Body>, OriginError>),
    /// An origin group's primary failed this way, and the secondary answered this.
    FailedOver {
        primary: Failover,
        result: Result<Response<Body>, OriginError>,
    },
}

/// Why an origin group's primary was passed over for its secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failover {
    /// It answered one of the group's failover status codes; `head_bytes` is the size of the
    /// answer's head, which was read.
    Status { status: u16, head_bytes: u64 },
    /// No connection could be made: every connection attempt failed or timed out.
    Connect,
    /// It did not answer within its response timeout (`OriginReadTimeout`, after its attempts).
    Timeout,
    /// It broke the connection or the protocol before a usable answer, which the edge answers
    /// with 502, and 502 is one of the group's failover status codes.
    Broken,
}

impl Failover {
    /// The primary's failure as a short text for the log.
    fn describe(self) -> String {
        match self {
            Failover::Status { status, .. } => format!("answered {status}"),
            Failover::Connect => "could not be connected to".to_owned(),
            Failover::Timeout => "did not answer in time".to_owned(),
            Failover::Broken => "broke the connection (502)".to_owned(),
        }
    }
}

/// Whether an origin group fails over, given what its primary gave (caching.md §16, from
/// CloudFront's developer guide): it does when the primary answered one of the group's
/// failover status codes, when CloudFront "fails to connect to the primary origin", and when
/// "the response from the primary origin takes too long (times out)", whatever the status codes.
/// An answer the edge cannot use (a broken connection or protocol, which it answers with 502)
/// counts as that 502. A request the edge refused itself never fails over.
fn failover(first: &Result<Response<Body>, OriginError>, statuses: &[u16]) -> Option<Failover> {
    match first {
        Ok(r) => {
            let status = r.status().as_u16();
            statuses.contains(&status).then(|| Failover::Status {
                status,
                head_bytes: header_bytes(r.headers()) + 17,
            })
        }
        Err(OriginError::Connect(_)) => Some(Failover::Connect),
        Err(OriginError::Timeout(_)) => Some(Failover::Timeout),
        Err(OriginError::Protocol(_)) => statuses.contains(&502).then_some(Failover::Broken),
        Err(OriginError::Refused(_)) => None,
    }
}

/// Sends to one origin, or through an origin group: every request starts at the primary, and
/// only a GET, HEAD or OPTIONS without a body goes on to the secondary (a body already streamed
/// to the primary cannot be sent again).
async fn fetch_target(
    target: &Target,
    req: OriginRequest,
    parts: &http::request::Parts,
) -> Fetched {
    match target {
        Target::Origin(o) => Fetched::Direct(o.fetch(req).await),
        Target::Group {
            id,
            primary,
            secondary,
            statuses,
        } => {
            let can_fail_over =
                matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
                    && http_body::Body::size_hint(&req.body).exact() == Some(0);
            if !can_fail_over {
                return Fetched::Direct(primary.origin.fetch(req).await);
            }
            let retry = OriginRequest {
                method: req.method.clone(),
                path_and_query: req.path_and_query.clone(),
                headers: req.headers.clone(),
                body: Body::empty(),
                viewer_https: req.viewer_https,
            };
            let first = primary.origin.fetch(req).await;
            let Some(why) = failover(&first, statuses) else {
                return Fetched::Direct(first);
            };
            if let Err(e) = &first {
                tracing::debug!(group = %id, origin = %primary.id, error = %e, "primary origin failed");
            }
            // The primary's answer (if any) is dropped unread: its connection is closed rather
            // than reused.
            drop(first);
            let result = secondary.origin.fetch(retry).await;
            tracing::info!(
                group = %id,
                primary = %primary.id,
                secondary = %secondary.id,
                path = %parts.uri.path(),
                "origin group failed over: the primary {}, the secondary answered {}",
                why.describe(),
                match &result {
                    Ok(r) => r.status().as_str().to_owned(),
                    Err(e) => format!("nothing ({e})"),
                },
            );
            Fetched::FailedOver {
                primary: why,
                result,
            }
        }
    }
}

/// A viewer-request function's origin change (`cloudfront.updateRequestOrigin`,
/// `selectRequestOriginById`, `createRequestOriginGroup`) applied to where the behavior sends
/// this request: the target to use instead. An origin the distribution does not have, or a
/// change edgegate cannot make, is the function's validation error (502), never a silent
/// fallback to the behavior's own origin.
pub(super) fn override_target(
    change: &OriginChange,
    current: &Target,
    origins: &DistributionOrigins,
) -> Result<Target, FunctionError> {
    let slot = |id: &str| {
        origins.by_id.get(id).ok_or_else(|| {
            FunctionError::Validation(format!(
                "the function selected origin {id:?}, which the distribution does not have"
            ))
        })
    };
    let http_of = |o: &Arc<dyn Origin>| {
        origins
            .by_id
            .values()
            .find(|s| Arc::ptr_eq(&s.origin, o))
            .and_then(|s| s.http.as_ref())
    };
    match change {
        OriginChange::Update(u) => Ok(match current {
            Target::Origin(o) => Target::Origin(changed(o, http_of(o), u, origins)?),
            // Of a group, only the primary changes.
            Target::Group {
                id,
                primary,
                secondary,
                statuses,
            } => Target::Group {
                id: id.clone(),
                primary: GroupMember {
                    id: primary.id.clone(),
                    origin: changed(&primary.origin, http_of(&primary.origin), u, origins)?,
                },
                secondary: secondary.clone(),
                statuses: statuses.clone(),
            },
        }),
        OriginChange::Select { origin_id, update } => {
            let s = slot(origin_id)?;
            Ok(Target::Origin(changed(
                &s.origin,
                s.http.as_ref(),
                update,
                origins,
            )?))
        }
        OriginChange::Group {
            members,
            status_codes,
        } => {
            let member = |(id, u): &(String, OriginUpdate)| {
                let s = slot(id)?;
                Ok::<_, FunctionError>(GroupMember {
                    id: id.as_str().into(),
                    origin: changed(&s.origin, s.http.as_ref(), u, origins)?,
                })
            };
            Ok(Target::Group {
                id: "function-origin-group".into(),
                primary: member(&members[0])?,
                secondary: member(&members[1])?,
                statuses: status_codes.clone(),
            })
        }
    }
}

/// One origin with a function's changes: a custom origin built from the original's settings
/// (or, for an S3 or local origin given a `domainName`, from CloudFront's custom-origin
/// defaults: HTTPS on 443, 3 attempts, 10 s to connect, 30 s to read, 5 s keep-alive).
fn changed(
    origin: &Arc<dyn Origin>,
    http: Option<&HttpOriginSettings>,
    u: &OriginUpdate,
    origins: &DistributionOrigins,
) -> Result<Arc<dyn Origin>, FunctionError> {
    let refuse = |why: &str| Err(FunctionError::Validation(why.to_owned()));
    if u.host_header.is_some() && http.is_none() && u.domain_name.is_none() {
        return refuse(
            "hostHeader cannot change the Host of an S3 or local origin (S3 requests are signed for the bucket's host)",
        );
    }
    let base: Arc<dyn Origin> = if u.only_host() {
        origin.clone()
    } else {
        let Some(client) = &origins.client else {
            return refuse("edgegate cannot build a changed origin here");
        };
        let mut s = match (http, &u.domain_name) {
            (Some(s), _) => s.clone(),
            (None, Some(_)) => HttpOriginSettings {
                domain_name: String::new(),
                http_port: 80,
                https_port: 443,
                protocol_policy: ProtocolPolicy::HttpsOnly,
                origin_path: String::new(),
                custom_headers: Vec::new(),
                connection_attempts: 3,
                connection_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(30),
                keepalive_timeout: Duration::from_secs(5),
            },
            (None, None) => {
                return refuse(
                    "updateRequestOrigin can change an S3 or local origin only with a domainName (which makes it a custom origin for this request)",
                );
            }
        };
        if let Some(d) = &u.domain_name {
            s.domain_name = d.clone();
        }
        if let Some(p) = &u.origin_path {
            s.origin_path = p.clone();
        }
        if let Some(h) = &u.custom_headers {
            s.custom_headers = h.clone();
        }
        if let Some(a) = u.connection_attempts {
            s.connection_attempts = a;
        }
        if let Some(t) = u.read_timeout {
            s.read_timeout = t;
        }
        if let Some(t) = u.keepalive_timeout {
            s.keepalive_timeout = t;
        }
        if let Some(t) = u.connection_timeout {
            s.connection_timeout = t;
        }
        match u.protocol {
            Some(OriginProtocol::Http) => s.protocol_policy = ProtocolPolicy::HttpOnly,
            Some(OriginProtocol::Https) => s.protocol_policy = ProtocolPolicy::HttpsOnly,
            None => {}
        }
        if let Some(port) = u.port {
            match s.protocol_policy {
                ProtocolPolicy::HttpOnly => s.http_port = port,
                ProtocolPolicy::HttpsOnly => s.https_port = port,
                ProtocolPolicy::MatchViewer => {
                    s.http_port = port;
                    s.https_port = port;
                }
            }
        }
        Arc::new(HttpOrigin::new(s, client.clone()))
    };
    Ok(match &u.host_header {
        Some(host) => Arc::new(WithHost {
            inner: base,
            host: host.clone(),
        }),
        None => base,
    })
}

/// An origin sent a function's `hostHeader` as `Host` (a custom origin keeps a `Host` it is
/// given).
#[derive(Debug)]
struct WithHost {
    inner: Arc<dyn Origin>,
    host: HeaderValue,
}

impl Origin for WithHost {
    fn fetch(&self, mut req: OriginRequest) -> OriginFuture<'_> {
        req.headers.insert(header::HOST, self.host.clone());
        self.inner.fetch(req)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> Result<Response<Body>, OriginError> {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        Ok(r)
    }

    #[test]
    fn a_group_fails_over_on_its_codes_and_on_connection_failures_and_timeouts() {
        let codes = [500, 404];
        assert!(matches!(
            failover(&answer(500), &codes),
            Some(Failover::Status { status: 500, .. })
        ));
        assert!(matches!(
            failover(&answer(404), &codes),
            Some(Failover::Status { status: 404, .. })
        ));
        for status in [200, 304, 403, 502, 503, 504] {
            assert_eq!(failover(&answer(status), &codes), None, "{status}");
        }
        // Whatever the codes: CloudFront fails over when it cannot connect or times out.
        let connect = Err(OriginError::Connect("refused".into()));
        let timeout = Err(OriginError::Timeout("late".into()));
        assert_eq!(failover(&connect, &codes), Some(Failover::Connect));
        assert_eq!(failover(&timeout, &codes), Some(Failover::Timeout));
        // A broken answer counts as the 502 the edge would give.
        let broken = || Err(OriginError::Protocol("reset".into()));
        assert_eq!(failover(&broken(), &codes), None);
        assert_eq!(failover(&broken(), &[502]), Some(Failover::Broken));
        // A request the edge refused itself never goes on.
        let refused = Err(OriginError::Refused("escapes its root".into()));
        assert_eq!(failover(&refused, &[403, 500, 502, 503, 504]), None);
    }
}
