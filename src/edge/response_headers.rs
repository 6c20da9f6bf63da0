//! Response headers policies on the data plane (response-headers-policies.md): a policy is
//! compiled once per routing snapshot into a [`CompiledPolicy`] that the behaviors using it
//! share, and the response phase applies it to every response of those behaviors, hits and
//! misses alike.
//!
//! The order is CloudFront's: the remove list first, then CORS, the security headers, the
//! custom headers and `Server-Timing`. A header both removed and set ends up with the policy's
//! value. Choices where AWS is silent (the reference's §12):
//!
//! - a CORS request is one with `Origin`; a preflight is `OPTIONS` with `Origin` and
//!   `Access-Control-Request-Method`. Preflights go to the origin (or the cache) like any request
//!   and their response is decorated; edgegate never answers one by itself;
//! - `Access-Control-Allow-Origin` is `*` when the list has `*` (and credentials are not
//!   allowed); otherwise the request's `Origin` is echoed when it matches an entry, with
//!   `Vary: Origin`, and a request whose origin matches nothing gets no CORS header at all;
//! - `Access-Control-Expose-Headers` goes on every CORS response, preflights included;
//!   `Access-Control-Allow-Headers`, `-Allow-Methods` and `-Max-Age` only on preflights.
//!   Allow-Headers lists the requested headers the policy allows (`*` never covers
//!   `Authorization`), or the policy's list when the preflight names none;
//! - with `OriginOverride` false, an origin response carrying any `Access-Control-*` header keeps
//!   its own CORS headers and gets none of the policy's (the current guide's rule);
//! - HSTS is written `max-age=<n>; includeSubDomains; preload`;
//! - `Pragma: server-timing` forces `Server-Timing` only while the section is enabled.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::headers::XCache;
use crate::model::ModelEnum;
use crate::model::response_headers::{
    CorsMethod, OriginPattern, ResponseHeadersPolicyConfig, glob,
};

/// Why a stored policy cannot be compiled (the model validated it, so this means a record
/// written by another version): the distribution is then not served.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A header name the HTTP library refuses.
    #[error("response headers policy: bad header name {0}")]
    HeaderName(String),
    /// A header value the HTTP library refuses.
    #[error("response headers policy: bad value for header {0}")]
    HeaderValue(String),
}

/// A header the policy sets, and whether it replaces the origin's copy.
#[derive(Debug, Clone)]
struct Set {
    name: HeaderName,
    value: HeaderValue,
    override_origin: bool,
}

/// The CORS section, ready to apply.
#[derive(Debug, Clone)]
struct Cors {
    /// `*` is in the allowed origins.
    any_origin: bool,
    origins: Vec<OriginPattern>,
    /// Allowed request headers, lower-case (patterns with `*`).
    allow_headers: Vec<String>,
    allow_headers_value: HeaderValue,
    allow_methods: HeaderValue,
    allow_credentials: bool,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    origin_override: bool,
}

/// A response headers policy compiled for the data plane.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// The policy's id (for logs and tests).
    pub id: Arc<str>,
    remove: Vec<HeaderName>,
    cors: Option<Cors>,
    security: Vec<Set>,
    custom: Vec<Set>,
    /// `Some(rate)` (percent) when `Server-Timing` is enabled.
    server_timing: Option<f64>,
}

static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
static ACAO: HeaderName = HeaderName::from_static("access-control-allow-origin");
static ACAC: HeaderName = HeaderName::from_static("access-control-allow-credentials");
static ACEH: HeaderName = HeaderName::from_static("access-control-expose-headers");
static ACAH: HeaderName = HeaderName::from_static("access-control-allow-headers");
static ACAM: HeaderName = HeaderName::from_static("access-control-allow-methods");
static ACMA: HeaderName = HeaderName::from_static("access-control-max-age");
static ACRM: HeaderName = HeaderName::from_static("access-control-request-method");
static ACRH: HeaderName = HeaderName::from_static("access-control-request-headers");

fn name(s: &str) -> Result<HeaderName, PolicyError> {
    HeaderName::from_bytes(s.as_bytes()).map_err(|_| PolicyError::HeaderName(s.to_owned()))
}

fn value(header: &str, v: &str) -> Result<HeaderValue, PolicyError> {
    HeaderValue::from_str(v).map_err(|_| PolicyError::HeaderValue(header.to_owned()))
}

/// The methods `ALL` stands for, in the order AWS lists them.
const ALL_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

impl CompiledPolicy {
    /// Compiles a policy's configuration.
    pub fn new(id: &str, cfg: &ResponseHeadersPolicyConfig) -> Result<Self, PolicyError> {
        let remove = cfg
            .remove_headers
            .iter()
            .flatten()
            .map(|h| name(h))
            .collect::<Result<Vec<_>, _>>()?;
        let cors = match &cfg.cors {
            None => None,
            Some(c) => {
                let methods = if c.allow_methods.contains(&CorsMethod::All) {
                    ALL_METHODS.to_owned()
                } else {
                    c.allow_methods
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                Some(Cors {
                    any_origin: c.allow_origins.iter().any(|o| o == "*"),
                    origins: c
                        .allow_origins
                        .iter()
                        .filter_map(|o| OriginPattern::parse(o).ok())
                        .collect(),
                    allow_headers: c
                        .allow_headers
                        .iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect(),
                    allow_headers_value: value(
                        "Access-Control-Allow-Headers",
                        &c.allow_headers.join(", "),
                    )?,
                    allow_methods: value("Access-Control-Allow-Methods", &methods)?,
                    allow_credentials: c.allow_credentials,
                    expose: c
                        .expose_headers
                        .as_ref()
                        .filter(|e| !e.is_empty())
                        .map(|e| value("Access-Control-Expose-Headers", &e.join(", ")))
                        .transpose()?,
                    max_age: c.max_age_sec.map(HeaderValue::from),
                    origin_override: c.origin_override,
                })
            }
        };
        let mut security = Vec::new();
        if let Some(s) = &cfg.security {
            let mut push = |n: &'static str, v: String, o: bool| -> Result<(), PolicyError> {
                security.push(Set {
                    name: HeaderName::from_static(n),
                    value: value(n, &v)?,
                    override_origin: o,
                });
                Ok(())
            };
            if let Some(x) = &s.xss_protection {
                let mut v = if x.protection { "1" } else { "0" }.to_owned();
                if x.protection && x.mode_block == Some(true) {
                    v.push_str("; mode=block");
                }
                if let (true, Some(uri)) = (x.protection, &x.report_uri) {
                    v.push_str("; report=");
                    v.push_str(uri);
                }
                push("x-xss-protection", v, x.override_origin)?;
            }
            if let Some((o, f)) = s.frame_options {
                push("x-frame-options", f.as_str().to_owned(), o)?;
            }
            if let Some((o, r)) = s.referrer_policy {
                push("referrer-policy", r.as_str().to_owned(), o)?;
            }
            if let Some((o, csp)) = &s.content_security_policy {
                push("content-security-policy", csp.clone(), *o)?;
            }
            if let Some(o) = s.content_type_options {
                push("x-content-type-options", "nosniff".to_owned(), o)?;
            }
            if let Some(h) = &s.strict_transport_security {
                let mut v = format!("max-age={}", h.max_age_sec);
                if h.include_subdomains == Some(true) {
                    v.push_str("; includeSubDomains");
                }
                if h.preload == Some(true) {
                    v.push_str("; preload");
                }
                push("strict-transport-security", v, h.override_origin)?;
            }
        }
        let custom = cfg
            .custom_headers
            .iter()
            .flatten()
            .map(|h| {
                Ok(Set {
                    name: name(&h.header)?,
                    value: value(&h.header, &h.value)?,
                    override_origin: h.override_origin,
                })
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        Ok(Self {
            id: id.into(),
            remove,
            cors,
            security,
            custom,
            server_timing: cfg
                .server_timing
                .as_ref()
                .filter(|s| s.enabled)
                .map(|s| s.sampling_rate.unwrap_or(0.0)),
        })
    }
}

/// What the policy needs to know of the viewer's request, taken before the request is
/// consumed by the later phases.
#[derive(Debug)]
pub struct PolicyRequest {
    origin: Option<HeaderValue>,
    preflight: bool,
    request_headers: Option<HeaderValue>,
    /// `Server-Timing` goes on this response (sampled, or forced by `Pragma`).
    timing: bool,
    started: Instant,
}

impl PolicyRequest {
    /// The facts of `method` and `headers` that `policy` acts on.
    pub fn new(policy: &CompiledPolicy, method: &Method, headers: &HeaderMap) -> Self {
        let origin = policy
            .cors
            .as_ref()
            .and_then(|_| headers.get(header::ORIGIN).cloned());
        let preflight =
            origin.is_some() && *method == Method::OPTIONS && headers.contains_key(&ACRM);
        let timing = policy.server_timing.is_some_and(|rate| {
            let forced = headers.get_all(header::PRAGMA).iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("server-timing"))
                })
            });
            forced || (rate > 0.0 && fastrand::f64() * 100.0 < rate)
        });
        Self {
            origin,
            preflight,
            request_headers: if preflight {
                headers.get(&ACRH).cloned()
            } else {
                None
            },
            timing,
            started: Instant::now(),
        }
    }
}

/// What the response phase knows of how the response came to be, for `Server-Timing`.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The response's `X-Cache` outcome (before errors are labelled `Error`).
    pub x_cache: XCache,
    /// The POP (`X-Amz-Cf-Pop`).
    pub pop: &'a HeaderValue,
    /// The request id (`X-Amz-Cf-Id`).
    pub request_id: &'a HeaderValue,
    /// Time from the origin request being sent to its response head, in microseconds, when
    /// the origin was contacted for this response.
    pub upstream_us: Option<u64>,
    /// The edge's time of day (for the `Date` CloudFront writes when the origin's is removed).
    pub now: SystemTime,
}

impl CompiledPolicy {
    /// Applies the policy to a response's headers.
    pub fn apply(&self, h: &mut HeaderMap, req: &PolicyRequest, served: &Served<'_>) {
        // 1. Remove. `Server` and `Date` are replaced by CloudFront's own.
        for n in &self.remove {
            h.remove(n);
            if *n == header::SERVER {
                h.insert(header::SERVER, HeaderValue::from_static("CloudFront"));
            } else if *n == header::DATE {
                let date = httpdate::fmt_http_date(served.now);
                if let Ok(v) = HeaderValue::from_str(&date) {
                    h.insert(header::DATE, v);
                }
            }
        }
        // 2. CORS.
        if let (Some(c), Some(origin)) = (&self.cors, &req.origin) {
            self.apply_cors(c, origin, h, req);
        }
        // 3. Security headers, 4. custom headers.
        for s in self.security.iter().chain(&self.custom) {
            if s.override_origin || !h.contains_key(&s.name) {
                h.insert(s.name.clone(), s.value.clone());
            }
        }
        // 5. Server-Timing.
        if req.timing {
            self.server_timing(h, req, served);
        }
    }

    fn apply_cors(&self, c: &Cors, origin: &HeaderValue, h: &mut HeaderMap, req: &PolicyRequest) {
        if !c.origin_override && h.keys().any(|k| k.as_str().starts_with("access-control-")) {
            return;
        }
        let origin_str = origin.to_str().unwrap_or("");
        let allow_origin = if c.any_origin && !c.allow_credentials {
            HeaderValue::from_static("*")
        } else if c.any_origin || c.origins.iter().any(|p| p.matches(origin_str)) {
            append_vary_origin(h);
            origin.clone()
        } else {
            return;
        };
        let mut set = |n: &HeaderName, v: HeaderValue| {
            if c.origin_override || !h.contains_key(n) {
                h.insert(n.clone(), v);
            }
        };
        set(&ACAO, allow_origin);
        if c.allow_credentials {
            set(&ACAC, HeaderValue::from_static("true"));
        }
        if let Some(e) = &c.expose {
            set(&ACEH, e.clone());
        }
        if req.preflight {
            let requested = req.request_headers.as_ref().and_then(|v| v.to_str().ok());
            let allowed = match requested {
                Some(list) if !list.trim().is_empty() => {
                    let ok: Vec<&str> = list
                        .split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty() && header_allowed(&c.allow_headers, r))
                        .collect();
                    HeaderValue::from_str(&ok.join(", ")).ok()
                }
                _ => Some(c.allow_headers_value.clone()),
            };
            if let Some(v) = allowed.filter(|v| !v.is_empty()) {
                set(&ACAH, v);
            }
            set(&ACAM, c.allow_methods.clone());
            if let Some(m) = &c.max_age {
                set(&ACMA, m.clone());
            }
        }
    }

    fn server_timing(&self, h: &mut HeaderMap, req: &PolicyRequest, served: &Served<'_>) {
        use std::fmt::Write;
        let ms = |us: u64| us / 1000;
        let mut v = String::with_capacity(200);
        let from_cache = matches!(served.x_cache, XCache::Hit | XCache::RefreshHit);
        let upstream = served.upstream_us.filter(|_| served.x_cache != XCache::Hit);
        if !from_cache && let Some(us) = upstream {
            let _ = write!(
                v,
                "cdn-upstream-layer;desc=\"EDGE\",cdn-upstream-fbl;dur={},",
                ms(us)
            );
        }
        match served.x_cache {
            XCache::Hit => v.push_str("cdn-cache-hit,"),
            XCache::RefreshHit => v.push_str("cdn-cache-refresh,"),
            XCache::Miss => v.push_str("cdn-cache-miss,"),
            // A response the edge made itself: from the origin if it was asked, else neither.
            // A function's own answer or failure never reached the cache or the origin.
            XCache::FunctionGeneratedResponse
            | XCache::FunctionExecutionError
            | XCache::FunctionThrottledError
            | XCache::FunctionValidationError => {}
            XCache::Error | XCache::Redirect if upstream.is_some() => v.push_str("cdn-cache-miss,"),
            XCache::Error | XCache::Redirect => {}
        }
        let _ = write!(
            v,
            "cdn-pop;desc=\"{}\",cdn-rid;desc=\"{}\",",
            served.pop.to_str().unwrap_or("-"),
            served.request_id.to_str().unwrap_or("-")
        );
        if from_cache {
            v.push_str("cdn-hit-layer;desc=\"EDGE\",");
        }
        let down = u64::try_from(req.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = write!(v, "cdn-downstream-fbl;dur={}", ms(down));
        // On a miss the origin's own entries follow CloudFront's; a cached copy's are not
        // replayed.
        if !from_cache {
            let origin: Vec<&str> = h
                .get_all(&SERVER_TIMING)
                .iter()
                .filter_map(|x| x.to_str().ok())
                .filter(|x| !x.trim().is_empty())
                .collect();
            for o in origin {
                v.push(',');
                v.push_str(o);
            }
        }
        if let Ok(value) = HeaderValue::from_str(&v) {
            h.insert(SERVER_TIMING.clone(), value);
        }
    }
}

/// Whether a requested header is allowed: a bare `*` allows every header but `Authorization`;
/// other entries are names or `*` patterns.
fn header_allowed(allowed: &[String], requested: &str) -> bool {
    let r = requested.to_ascii_lowercase();
    allowed.iter().any(|a| {
        if a == "*" {
            r != "authorization"
        } else {
            glob(a.as_bytes(), r.as_bytes())
        }
    })
}

/// Adds `Origin` to `Vary` unless it (or `*`) is there already.
fn append_vary_origin(h: &mut HeaderMap) {
    let present = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("origin"))
        })
    });
    if !present {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Diagnostics;
    use crate::model::response_headers::managed_response_headers_policy;

    fn policy(xml: &str) -> CompiledPolicy {
        let (_, t) = crate::model::tree::from_xml(xml.as_bytes()).unwrap();
        let mut d = Diagnostics::new();
        let c = ResponseHeadersPolicyConfig::from_tree(&t, &mut d).unwrap();
        c.validate(&mut d);
        assert!(d.errors.is_empty(), "{d}");
        CompiledPolicy::new("p", &c).unwrap()
    }

    fn request(p: &CompiledPolicy, method: Method, headers: &[(&str, &str)]) -> PolicyRequest {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        PolicyRequest::new(p, &method, &h)
    }

    fn served(x_cache: XCache) -> (HeaderValue, HeaderValue, XCache) {
        (
            HeaderValue::from_static("TST1-C1"),
            HeaderValue::from_static("rid=="),
            x_cache,
        )
    }

    fn apply(
        p: &CompiledPolicy,
        req: &PolicyRequest,
        origin: &[(&str, &str)],
        x: XCache,
    ) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in origin {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (pop, rid, x_cache) = served(x);
        p.apply(
            &mut h,
            req,
            &Served {
                x_cache,
                pop: &pop,
                request_id: &rid,
                upstream_us: Some(12_000),
                now: SystemTime::UNIX_EPOCH,
            },
        );
        h
    }

    const CORS: &str = r#"<ResponseHeadersPolicyConfig><Name>c</Name><CorsConfig><AccessControlAllowOrigins><Quantity>1</Quantity><Items><Origin>https://*.example.org</Origin></Items></AccessControlAllowOrigins><AccessControlAllowHeaders><Quantity>2</Quantity><Items><Header>*</Header><Header>x-amz-*</Header></Items></AccessControlAllowHeaders><AccessControlAllowMethods><Quantity>1</Quantity><Items><Method>ALL</Method></Items></AccessControlAllowMethods><AccessControlAllowCredentials>true</AccessControlAllowCredentials><AccessControlMaxAgeSec>600</AccessControlMaxAgeSec><OriginOverride>true</OriginOverride></CorsConfig></ResponseHeadersPolicyConfig>"#;

    #[test]
    fn cors_echoes_a_matching_origin_and_answers_preflights() {
        let p = policy(CORS);
        let o = [("origin", "https://a.example.org")];
        let h = apply(&p, &request(&p, Method::GET, &o), &[], XCache::Miss);
        assert_eq!(h["access-control-allow-origin"], "https://a.example.org");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["vary"], "Origin");
        assert!(!h.contains_key("access-control-allow-methods"));

        let pre = request(
            &p,
            Method::OPTIONS,
            &[
                ("origin", "https://a.example.org"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "x-amz-date, authorization, content-type",
                ),
            ],
        );
        let h = apply(
            &p,
            &pre,
            &[("access-control-allow-origin", "x")],
            XCache::Miss,
        );
        assert_eq!(h["access-control-allow-origin"], "https://a.example.org");
        assert_eq!(h["access-control-allow-methods"], ALL_METHODS);
        // `*` never covers Authorization.
        assert_eq!(
            h["access-control-allow-headers"],
            "x-amz-date, content-type"
        );
        assert_eq!(h["access-control-max-age"], "600");

        // Another scheme does not match: no CORS header at all.
        let other = request(&p, Method::GET, &[("origin", "http://a.example.org")]);
        let h = apply(&p, &other, &[], XCache::Miss);
        assert!(!h.keys().any(|k| k.as_str().starts_with("access-control-")));
    }

    #[test]
    fn managed_security_headers_keep_the_origins_except_nosniff() {
        let m = managed_response_headers_policy("67f7725c-6f97-4210-82d7-5512b31e9d03").unwrap();
        let p = CompiledPolicy::new(m.id, &m.config()).unwrap();
        let req = request(&p, Method::GET, &[]);
        let h = apply(
            &p,
            &req,
            &[
                ("x-frame-options", "DENY"),
                ("x-content-type-options", "foo"),
            ],
            XCache::Hit,
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["strict-transport-security"], "max-age=31536000");
        assert_eq!(h["x-xss-protection"], "1; mode=block");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert!(!h.contains_key("server-timing"));
    }

    #[test]
    fn server_timing_reports_what_the_request_did() {
        let p = policy(
            "<ResponseHeadersPolicyConfig><Name>t</Name><ServerTimingHeadersConfig><Enabled>true</Enabled><SamplingRate>0</SamplingRate></ServerTimingHeadersConfig><RemoveHeadersConfig><Quantity>2</Quantity><Items><ResponseHeadersPolicyRemoveHeader><Header>Server</Header></ResponseHeadersPolicyRemoveHeader><ResponseHeadersPolicyRemoveHeader><Header>Date</Header></ResponseHeadersPolicyRemoveHeader></Items></RemoveHeadersConfig></ResponseHeadersPolicyConfig>",
        );
        let forced = request(&p, Method::GET, &[("pragma", "no-cache, server-timing")]);
        let h = apply(
            &p,
            &forced,
            &[
                ("server-timing", "db;dur=53"),
                ("server", "nginx"),
                ("date", "x"),
            ],
            XCache::Miss,
        );
        let st = h["server-timing"].to_str().unwrap();
        assert!(
            st.starts_with("cdn-upstream-layer;desc=\"EDGE\",cdn-upstream-fbl;dur=12,cdn-cache-miss,cdn-pop;desc=\"TST1-C1\",cdn-rid;desc=\"rid==\",cdn-downstream-fbl;dur="),
            "{st}"
        );
        assert!(st.ends_with(",db;dur=53"), "{st}");
        assert_eq!(h["server"], "CloudFront");
        assert_eq!(h["date"], "Thu, 01 Jan 1970 00:00:00 GMT");

        let h = apply(&p, &forced, &[("server-timing", "db;dur=53")], XCache::Hit);
        let st = h["server-timing"].to_str().unwrap();
        assert!(st.starts_with("cdn-cache-hit,cdn-pop;"), "{st}");
        assert!(st.contains("cdn-hit-layer;desc=\"EDGE\""), "{st}");
        assert!(!st.contains("db;dur"), "{st}");

        let unsampled = request(&p, Method::GET, &[]);
        assert!(!apply(&p, &unsampled, &[], XCache::Miss).contains_key("server-timing"));

        // A rate of 100 % samples every response; 50 % some and not others.
        let rate = |r: &str| {
            let p = policy(&format!(
                "<ResponseHeadersPolicyConfig><Name>t</Name><ServerTimingHeadersConfig><Enabled>true</Enabled><SamplingRate>{r}</SamplingRate></ServerTimingHeadersConfig></ResponseHeadersPolicyConfig>"
            ));
            (0..200)
                .filter(|_| {
                    let req = request(&p, Method::GET, &[]);
                    apply(&p, &req, &[], XCache::Hit).contains_key("server-timing")
                })
                .count()
        };
        assert_eq!(rate("100"), 200);
        let half = rate("50");
        assert!((40..=160).contains(&half), "{half} of 200 at 50 %");
        // Disabled: Pragma does not force it.
        let off = policy(
            "<ResponseHeadersPolicyConfig><Name>t</Name><ServerTimingHeadersConfig><Enabled>false</Enabled><SamplingRate>100</SamplingRate></ServerTimingHeadersConfig></ResponseHeadersPolicyConfig>",
        );
        let req = request(&off, Method::GET, &[("pragma", "server-timing")]);
        assert!(!apply(&off, &req, &[], XCache::Hit).contains_key("server-timing"));
    }
}
