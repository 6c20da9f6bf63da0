//! Phases 4 and 8: the behavior's CloudFront Functions (functions.md §1, §4).
//!
//! - **Viewer-request**, after the viewer checks and the `CloudFront-*` headers, before the
//!   cache: the function may change the URI, query string, headers and cookies (the behavior
//!   and origin stay those matched on the original URI; headers it adds reach the origin and
//!   the cache key only as the behavior's policies select them), or answer with its own
//!   response (`X-Cache: FunctionGeneratedResponse`, no cache lookup, no origin request, no
//!   custom error page).
//! - **Viewer-response**, before send, except for status ≥ 400, custom error pages and
//!   responses a viewer-request function generated.
//! - A function that throws, runs past its compute budget or returns an invalid object is
//!   answered with 503 (`FunctionExecutionError`, `FunctionThrottledError`) or 502
//!   (`FunctionValidationError`), in `X-Cache` and the log's detailed result type.

use axum::body::Body;
use http::header::HeaderMap;
use http::{Method, Response};

use super::{Ctx, Edge, Head, Outcome};
use crate::edge::error::EdgeError;
use crate::edge::headers::XCache;
use crate::edge::routing::Target;
use crate::functions::FunctionError;
use crate::functions::engine::{self, EdgeLocation, Script};
use crate::functions::event::{
    self, EventContext, RequestEvent, RequestOutcome, RequestView, ResponseEvent,
};

/// What a viewer-request function decided.
pub(super) enum RequestStep {
    /// Go on, with a new path and/or query string, and to another origin, when `Some`.
    Continue {
        uri: Option<String>,
        query: Option<String>,
        target: Option<Target>,
    },
    /// Answer with this response.
    Respond(Box<Response<Body>>),
}

/// What the viewer-response function needs of the request, kept from before the cache phase.
pub(super) struct ResponseFn {
    pub(super) script: std::sync::Arc<Script>,
    pub(super) method: Method,
    pub(super) headers: HeaderMap,
}

impl Edge {
    fn location(&self) -> EdgeLocation {
        let pop = self.identity.pop.to_str().unwrap_or("");
        EdgeLocation {
            name: pop.get(..3).unwrap_or(pop).to_owned(),
            empty: false,
        }
    }

    fn now_ms(&self) -> f64 {
        self.clock
            .now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    }

    fn event_context<'a>(ctx: &'a Ctx<'a>, request_id: &'a str) -> EventContext<'a> {
        EventContext {
            distribution_domain: &ctx.dist.domain,
            distribution_id: &ctx.dist.id,
            request_id,
            viewer_ip: ctx.viewer_ip,
        }
    }

    /// Phase 4: runs the viewer-request function on the request; its header changes are
    /// applied to `headers` here.
    pub(super) fn viewer_request_function(
        &self,
        script: &Script,
        method: &Method,
        uri: &http::Uri,
        headers: &mut HeaderMap,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> Result<RequestStep, EdgeError> {
        let view = RequestView {
            method: method.as_str(),
            uri: uri.path(),
            query: uri.query(),
            headers,
        };
        let ev = RequestEvent {
            cx: Self::event_context(ctx, request_id),
            req: view,
        };
        let out = engine::invoke_with(script, &ev, self.now_ms(), &self.location())
            .inspect(|out| console(&script.name, request_id, &out.logs))
            .map_err(|f| {
                console(&script.name, request_id, &f.logs);
                failed(script, f.error)
            })?;
        let applied = out
            .output
            .and_then(|result| event::apply_request_result(&result, &view));
        match applied.map_err(|e| failed(script, e))? {
            RequestOutcome::Continue {
                uri,
                query,
                headers: new_headers,
            } => {
                // Where the function sent the request (cloudfront.updateRequestOrigin and
                // friends); the cache key does not change.
                let target = match &out.origin {
                    Some(call) => {
                        if !call.warnings.is_empty()
                            && let Some(suppressed) = ORIGIN_WARNINGS.admit()
                        {
                            tracing::warn!(function = %script.name, "{}{suppressed}", call.warnings.join("; "));
                        }
                        let t = super::forward::override_target(
                            &call.change,
                            &ctx.behavior.target,
                            &ctx.dist.origins,
                        )
                        .map_err(|e| failed(script, e))?;
                        Some(t)
                    }
                    None => None,
                };
                if let Some(h) = new_headers {
                    *headers = h;
                }
                Ok(RequestStep::Continue { uri, query, target })
            }
            RequestOutcome::Respond(r) => {
                let mut resp = Response::new(Body::from(r.body.unwrap_or_default()));
                *resp.status_mut() = r.status;
                *resp.headers_mut() = r.headers;
                if let Some(reason) = r.reason {
                    resp.extensions_mut().insert(reason);
                }
                Ok(RequestStep::Respond(Box::new(resp)))
            }
        }
    }

    /// Phase 8: runs the viewer-response function, unless CloudFront would not (status ≥ 400,
    /// custom error pages, generated responses). A failure replaces the response.
    pub(super) fn viewer_response_function(
        &self,
        f: ResponseFn,
        resp: Response<Body>,
        outcome: Outcome,
        ctx: &Ctx<'_>,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        if resp.status().as_u16() >= 400
            || matches!(
                outcome.x_cache,
                XCache::Error | XCache::FunctionGeneratedResponse
            )
        {
            return (resp, outcome);
        }
        let view = RequestView {
            method: f.method.as_str(),
            uri: ctx.path,
            query: ctx.query,
            headers: &f.headers,
        };
        let ev = ResponseEvent {
            cx: Self::event_context(ctx, request_id),
            req: view,
            status: resp.status(),
            headers: resp.headers(),
        };
        // `cf.edgeLocation` is empty in viewer-response functions.
        let nowhere = EdgeLocation {
            empty: true,
            ..EdgeLocation::default()
        };
        let applied = engine::invoke_with(&f.script, &ev, self.now_ms(), &nowhere)
            .map_err(|fail| {
                console(&f.script.name, request_id, &fail.logs);
                fail.error
            })
            .and_then(|out| {
                console(&f.script.name, request_id, &out.logs);
                if out.origin.is_some()
                    && let Some(suppressed) = ORIGIN_WARNINGS.admit()
                {
                    tracing::warn!(function = %f.script.name, "the origin-selection helpers have no effect in a viewer-response function{suppressed}");
                }
                out.output
            })
            .and_then(|result| {
                event::apply_response_result(&result, resp.status(), resp.headers())
            });
        match applied {
            Ok(None) => (resp, outcome),
            Ok(Some(change)) => {
                let (mut parts, body) = resp.into_parts();
                parts.status = change.status;
                parts.headers = change.headers;
                if let Some(reason) = change.reason {
                    parts.extensions.insert(reason);
                }
                let mut outcome = outcome;
                let body = match change.body {
                    Some(b) => {
                        // The body is no longer the cached object's.
                        outcome.head = Head::Own;
                        Body::from(b)
                    }
                    None => {
                        if let Head::Cached { exact, .. } = &mut outcome.head {
                            *exact = false;
                        }
                        body
                    }
                };
                (Response::from_parts(parts, body), outcome)
            }
            Err(e) => {
                let e = failed(&f.script, e);
                let x_cache = x_cache_of(&e);
                let (resp, _) = super::fail(e, request_id, ctx.summary);
                (resp, Outcome::own(x_cache))
            }
        }
    }
}

/// One warning line per [`crate::server::WARN_INTERVAL`] at most about origin changes a
/// function asked for and edgegate does not act on (every request may ask).
static ORIGIN_WARNINGS: crate::server::Throttle =
    crate::server::Throttle::new(crate::server::WARN_INTERVAL);

/// A function's `console.log` lines, where CloudFront sends them to CloudWatch Logs: to the
/// edge's log, target `cloudfront_function` (`EDGEGATE_LOG=info,cloudfront_function=off`
/// mutes them), with the function's name and the request's id.
fn console(function: &str, request_id: &str, lines: &[String]) {
    for line in lines {
        tracing::info!(target: "cloudfront_function", function, request_id, "{line}");
    }
}

/// A function's failure as the edge's error (logged with the function's name).
fn failed(script: &Script, e: FunctionError) -> EdgeError {
    tracing::warn!(function = %script.name, error = %e, "CloudFront function failed");
    EdgeError::Function(e)
}

/// The `X-Cache` label of a function's failure.
pub(super) fn x_cache_of(e: &EdgeError) -> XCache {
    match e {
        EdgeError::Function(FunctionError::Validation(_)) => XCache::FunctionValidationError,
        EdgeError::Function(FunctionError::Execution(_)) => XCache::FunctionExecutionError,
        EdgeError::Function(_) => XCache::FunctionThrottledError,
        _ => XCache::Error,
    }
}
