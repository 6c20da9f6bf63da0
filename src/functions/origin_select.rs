//! The origin-selection helpers of the `cloudfront` module (functions.md §5.4):
//! `cf.updateRequestOrigin(params)`, `cf.selectRequestOriginById(id[, params])` (alias
//! `cf.overrideRequestOrigin`) and `cf.createRequestOriginGroup(params)`.
//!
//! A call is checked when the function makes it (a bad argument throws a `TypeError` in the
//! function) and kept for the edge, which sends THIS request where it says
//! (`edge::pipeline::forward`). What edgegate checks but does not act on (`originShield`,
//! `originAccessControlConfig`, `sni`, `allowedCertificateNames`,
//! `timeouts.responseCompletionTimeout`, `customOriginConfig.sslProtocols` and
//! `.ipAddressType`, `selectionCriteria: "media-quality-based"`, unknown parameters) is named
//! in a line of the function's logs, never ignored silently.
//!
//! Chosen where AWS is silent or inconsistent (functions.md §12, point 7): `originIds` may be
//! strings or `{originId, originOverrides}` objects, `failoverCriteria` an array of status codes
//! or `{statusCodes: [...]}`; `originAccessControlConfig.region` is accepted; the last call of a
//! run wins; the cache key does not change (as CloudFront's cache key has no origin in it).

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// A helper called with arguments it cannot take: the message the function's `TypeError` has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OriginArgError(String);

/// `customOriginConfig.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginProtocol {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

/// Changes to one origin for this request (`updateRequestOrigin`, an `originOverrides`, or
/// the `hostHeader` of `selectRequestOriginById`). `None` keeps the origin's own setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginUpdate {
    /// `domainName`.
    pub domain_name: Option<String>,
    /// `hostHeader`: the `Host` the origin is sent.
    pub host_header: Option<HeaderValue>,
    /// `originPath`.
    pub origin_path: Option<String>,
    /// `customHeaders` (`{}` clears the origin's).
    pub custom_headers: Option<Vec<(HeaderName, HeaderValue)>>,
    /// `connectionAttempts`.
    pub connection_attempts: Option<u8>,
    /// `timeouts.readTimeout`.
    pub read_timeout: Option<Duration>,
    /// `timeouts.keepAliveTimeout`.
    pub keepalive_timeout: Option<Duration>,
    /// `timeouts.connectionTimeout`.
    pub connection_timeout: Option<Duration>,
    /// `customOriginConfig.port`.
    pub port: Option<u16>,
    /// `customOriginConfig.protocol`.
    pub protocol: Option<OriginProtocol>,
}

impl OriginUpdate {
    /// Whether it changes only the `Host` header (or nothing).
    pub fn only_host(&self) -> bool {
        *self
            == OriginUpdate {
                host_header: self.host_header.clone(),
                ..OriginUpdate::default()
            }
    }
}

/// Where a viewer-request function sends this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginChange {
    /// `updateRequestOrigin`: the behavior's origin, changed (for an origin group, its primary).
    Update(OriginUpdate),
    /// `selectRequestOriginById`: another origin of the distribution, by `Id` (its
    /// `hostHeader` in `update`).
    Select {
        /// The origin's `Id`.
        origin_id: String,
        /// Its `hostHeader`, if given.
        update: OriginUpdate,
    },
    /// `createRequestOriginGroup`: a failover group of two of the distribution's origins.
    Group {
        /// Primary and secondary: `Id` and overrides.
        members: Box<[(String, OriginUpdate); 2]>,
        /// The status codes that fail over.
        status_codes: Vec<u16>,
    },
}

/// One recorded call: the change, and the lines logged about what is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginCall {
    /// The change.
    pub change: OriginChange,
    /// What edgegate checked but does not act on (also in the function's logs).
    pub warnings: Vec<String>,
}

thread_local! {
    static CALLED: RefCell<Option<OriginCall>> = const { RefCell::new(None) };
}

/// Forgets any call recorded on this thread (at the start of an invocation).
pub fn clear() {
    CALLED.with(|c| c.borrow_mut().take());
}

/// The call the invocation on this thread made, if any (taken).
pub fn take() -> Option<OriginCall> {
    CALLED.with(|c| c.borrow_mut().take())
}

/// Checks and records a helper's call: `helper` is its name, `args` its arguments as a JSON
/// array. Gives the log lines for what is not acted on, or why the call is refused.
pub fn record(helper: &str, args: &str) -> Result<Vec<String>, OriginArgError> {
    let args: Vec<Value> = serde_json::from_str(args).map_err(|_| {
        err(format!(
            "cloudfront.{helper}: arguments must be plain values"
        ))
    })?;
    let mut w = Warnings {
        helper: helper.to_owned(),
        lines: Vec::new(),
    };
    let change = match helper {
        "updateRequestOrigin" => {
            let params = object(args.first(), helper, "its argument")?;
            OriginChange::Update(update(params, &mut w, UPDATE_KEYS)?)
        }
        "selectRequestOriginById" | "overrideRequestOrigin" => {
            let origin_id = match args.first() {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(err(format!(
                        "cloudfront.{helper}: the first argument must be an origin Id (a non-empty string)"
                    )));
                }
            };
            let update = match args.get(1) {
                None | Some(Value::Null) => OriginUpdate::default(),
                other => update(
                    object(other, helper, "its second argument")?,
                    &mut w,
                    SELECT_KEYS,
                )?,
            };
            OriginChange::Select { origin_id, update }
        }
        "createRequestOriginGroup" => group(object(args.first(), helper, "its argument")?, &mut w)?,
        _ => return Err(err(format!("cloudfront.{helper} is not a helper"))),
    };
    let lines = w.lines;
    CALLED.with(|c| {
        *c.borrow_mut() = Some(OriginCall {
            change,
            warnings: lines.clone(),
        })
    });
    Ok(lines)
}

struct Warnings {
    helper: String,
    lines: Vec<String>,
}

impl Warnings {
    fn not_acted_on(&mut self, what: &str, why: &str) {
        self.lines.push(format!(
            "edgegate: cloudfront.{}: {what} is not acted on ({why})",
            self.helper
        ));
    }
}

fn err(msg: String) -> OriginArgError {
    OriginArgError(msg)
}

fn object<'a>(
    v: Option<&'a Value>,
    helper: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, OriginArgError> {
    v.and_then(Value::as_object)
        .ok_or_else(|| err(format!("cloudfront.{helper}: {what} must be an object")))
}

const UPDATE_KEYS: &[&str] = &[
    "domainName",
    "hostHeader",
    "originPath",
    "customHeaders",
    "connectionAttempts",
    "originShield",
    "originAccessControlConfig",
    "timeouts",
    "customOriginConfig",
    "sni",
    "allowedCertificateNames",
];
const SELECT_KEYS: &[&str] = &["hostHeader", "sni", "allowedCertificateNames"];

fn int_in(v: &Value, lo: u64, hi: u64, what: &str, helper: &str) -> Result<u64, OriginArgError> {
    v.as_u64().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| {
        err(format!(
            "cloudfront.{helper}: {what} must be an integer from {lo} to {hi}"
        ))
    })
}

fn string<'a>(v: &'a Value, what: &str, helper: &str) -> Result<&'a str, OriginArgError> {
    v.as_str()
        .ok_or_else(|| err(format!("cloudfront.{helper}: {what} must be a string")))
}

fn update(
    p: &Map<String, Value>,
    w: &mut Warnings,
    allowed: &[&str],
) -> Result<OriginUpdate, OriginArgError> {
    let h = w.helper.clone();
    let h = h.as_str();
    let mut u = OriginUpdate::default();
    for (key, v) in p {
        if !allowed.contains(&key.as_str()) {
            w.not_acted_on(key, "not a parameter of this helper");
            continue;
        }
        if v.is_null() {
            continue;
        }
        match key.as_str() {
            "domainName" => {
                let d = string(v, "domainName", h)?;
                if d.is_empty()
                    || d.len() > 253
                    || d.contains(':')
                    || d.parse::<IpAddr>().is_ok()
                    || d.bytes()
                        .any(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
                {
                    return Err(err(format!(
                        "cloudfront.{h}: domainName must be a host name of at most 253 characters, with no port and no IP address"
                    )));
                }
                u.domain_name = Some(d.to_ascii_lowercase());
            }
            "hostHeader" => {
                let s = string(v, "hostHeader", h)?;
                u.host_header = Some(
                    HeaderValue::from_str(s)
                        .ok()
                        .filter(|_| !s.is_empty())
                        .ok_or_else(|| {
                            err(format!("cloudfront.{h}: hostHeader is not a valid Host"))
                        })?,
                );
            }
            "originPath" => {
                let s = string(v, "originPath", h)?;
                if !s.is_empty() && (!s.starts_with('/') || s.ends_with('/')) {
                    return Err(err(format!(
                        "cloudfront.{h}: originPath must start with / and not end with /"
                    )));
                }
                if s.bytes()
                    .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
                {
                    return Err(err(format!(
                        "cloudfront.{h}: originPath is not a valid path"
                    )));
                }
                u.origin_path = Some(s.to_owned());
            }
            "customHeaders" => {
                let m = v.as_object().ok_or_else(|| {
                    err(format!(
                        "cloudfront.{h}: customHeaders must be an object of names to values"
                    ))
                })?;
                let mut out = Vec::with_capacity(m.len());
                for (name, value) in m {
                    let value = string(value, &format!("customHeaders.{name}"), h)?;
                    let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) else {
                        return Err(err(format!(
                            "cloudfront.{h}: customHeaders.{name} is not a valid header"
                        )));
                    };
                    out.push((n, v));
                }
                u.custom_headers = Some(out);
            }
            "connectionAttempts" => {
                u.connection_attempts = Some(int_in(v, 1, 3, "connectionAttempts", h)? as u8);
            }
            "originShield" if v.get("enabled").and_then(Value::as_bool) == Some(true) => {
                w.not_acted_on("originShield", "edgegate has no Origin Shield layer");
            }
            "originAccessControlConfig" => {
                if !v.is_object() {
                    return Err(err(format!(
                        "cloudfront.{h}: originAccessControlConfig must be an object"
                    )));
                }
                w.not_acted_on(
                    "originAccessControlConfig",
                    "requests are signed as the distribution's own origin access control says",
                );
            }
            "timeouts" => {
                let t = v
                    .as_object()
                    .ok_or_else(|| err(format!("cloudfront.{h}: timeouts must be an object")))?;
                let secs = |n: u64| Some(Duration::from_secs(n));
                for (k, v) in t {
                    match k.as_str() {
                        "readTimeout" => {
                            u.read_timeout = secs(int_in(v, 1, 120, "timeouts.readTimeout", h)?)
                        }
                        "keepAliveTimeout" => {
                            u.keepalive_timeout =
                                secs(int_in(v, 1, 120, "timeouts.keepAliveTimeout", h)?)
                        }
                        "connectionTimeout" => {
                            u.connection_timeout =
                                secs(int_in(v, 1, 10, "timeouts.connectionTimeout", h)?)
                        }
                        "responseCompletionTimeout" => {
                            int_in(
                                v,
                                1,
                                u64::from(u32::MAX),
                                "timeouts.responseCompletionTimeout",
                                h,
                            )?;
                            w.not_acted_on(
                                "timeouts.responseCompletionTimeout",
                                "edgegate bounds a response by its read timeout only",
                            );
                        }
                        other => w.not_acted_on(
                            &format!("timeouts.{other}"),
                            "not a timeout CloudFront has",
                        ),
                    }
                }
                if let (Some(read), Some(done)) = (
                    u.read_timeout,
                    t.get("responseCompletionTimeout").and_then(Value::as_u64),
                ) && done < read.as_secs()
                {
                    return Err(err(format!(
                        "cloudfront.{h}: timeouts.responseCompletionTimeout must be at least readTimeout"
                    )));
                }
            }
            "customOriginConfig" => {
                let c = v.as_object().ok_or_else(|| {
                    err(format!(
                        "cloudfront.{h}: customOriginConfig must be an object"
                    ))
                })?;
                for (k, v) in c {
                    match k.as_str() {
                        "port" => {
                            u.port = Some(int_in(v, 1, 65535, "customOriginConfig.port", h)? as u16)
                        }
                        "protocol" => {
                            u.protocol = Some(match v.as_str() {
                                Some("http") => OriginProtocol::Http,
                                Some("https") => OriginProtocol::Https,
                                _ => {
                                    return Err(err(format!(
                                        "cloudfront.{h}: customOriginConfig.protocol must be \"http\" or \"https\""
                                    )));
                                }
                            })
                        }
                        "sslProtocols" | "ipAddressType" => w.not_acted_on(
                            &format!("customOriginConfig.{k}"),
                            "edgegate's origin client chooses these itself",
                        ),
                        other => w.not_acted_on(
                            &format!("customOriginConfig.{other}"),
                            "not a setting CloudFront has",
                        ),
                    }
                }
            }
            "sni" => {
                string(v, "sni", h)?;
                w.not_acted_on("sni", "TLS to the origin names the origin's domain");
            }
            "allowedCertificateNames" => {
                let names = v.as_array().ok_or_else(|| {
                    err(format!(
                        "cloudfront.{h}: allowedCertificateNames must be an array"
                    ))
                })?;
                if names.len() > 20
                    || names
                        .iter()
                        .any(|n| n.as_str().is_none_or(|s| s.is_empty() || s.len() > 64))
                {
                    return Err(err(format!(
                        "cloudfront.{h}: allowedCertificateNames takes at most 20 names of at most 64 characters"
                    )));
                }
                w.not_acted_on(
                    "allowedCertificateNames",
                    "the origin's certificate is checked against its domain name",
                );
            }
            _ => {}
        }
    }
    Ok(u)
}

/// The status codes an origin group may fail over on (`FailoverCriteria.StatusCodes`).
const FAILOVER_CODES: [u16; 8] = [400, 403, 404, 416, 500, 502, 503, 504];

fn group(p: &Map<String, Value>, w: &mut Warnings) -> Result<OriginChange, OriginArgError> {
    let h = "createRequestOriginGroup";
    for key in p.keys() {
        if !matches!(
            key.as_str(),
            "originIds" | "failoverCriteria" | "selectionCriteria"
        ) {
            w.not_acted_on(key, "not a parameter of this helper");
        }
    }
    let ids = p
        .get("originIds")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .ok_or_else(|| {
            err(format!(
                "cloudfront.{h}: originIds must be an array of two origins"
            ))
        })?;
    let mut members = Vec::with_capacity(2);
    for m in ids {
        members.push(match m {
            Value::String(id) if !id.is_empty() => (id.clone(), OriginUpdate::default()),
            Value::Object(o) => {
                let id = o
                    .get("originId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err(format!("cloudfront.{h}: each member needs an originId")))?;
                let overrides = match o.get("originOverrides") {
                    None | Some(Value::Null) => OriginUpdate::default(),
                    Some(Value::Object(ov)) => update(ov, w, UPDATE_KEYS)?,
                    Some(_) => {
                        return Err(err(format!(
                            "cloudfront.{h}: originOverrides must be an object"
                        )));
                    }
                };
                (id.to_owned(), overrides)
            }
            _ => {
                return Err(err(format!(
                    "cloudfront.{h}: each of originIds must be an origin Id or {{originId, originOverrides}}"
                )));
            }
        });
    }
    let codes = match p.get("failoverCriteria") {
        Some(Value::Array(a)) => a,
        Some(Value::Object(o)) => {
            o.get("statusCodes")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    err(format!(
                        "cloudfront.{h}: failoverCriteria.statusCodes must be an array"
                    ))
                })?
        }
        _ => {
            return Err(err(format!(
                "cloudfront.{h}: failoverCriteria must be an array of status codes or {{statusCodes: [...]}}"
            )));
        }
    };
    let mut status_codes = Vec::with_capacity(codes.len());
    for c in codes {
        match c.as_u64().and_then(|c| u16::try_from(c).ok()) {
            Some(c) if FAILOVER_CODES.contains(&c) => status_codes.push(c),
            _ => {
                return Err(err(format!(
                    "cloudfront.{h}: failover status codes must be among 400, 403, 404, 416, 500, 502, 503 and 504"
                )));
            }
        }
    }
    if status_codes.is_empty() {
        return Err(err(format!(
            "cloudfront.{h}: failoverCriteria needs at least one status code"
        )));
    }
    match p.get("selectionCriteria") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "default" => {}
        Some(Value::String(s)) if s == "media-quality-based" => w.not_acted_on(
            "selectionCriteria \"media-quality-based\"",
            "the primary is always asked first",
        ),
        Some(_) => {
            return Err(err(format!(
                "cloudfront.{h}: selectionCriteria must be \"default\" or \"media-quality-based\""
            )));
        }
    }
    let secondary = members.pop().unwrap_or_default();
    let primary = members.pop().unwrap_or_default();
    Ok(OriginChange::Group {
        members: Box::new([primary, secondary]),
        status_codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(helper: &str, args: &str) -> Result<OriginCall, OriginArgError> {
        clear();
        let lines = record(helper, args)?;
        let call = take().expect("recorded");
        assert_eq!(call.warnings, lines);
        Ok(call)
    }

    #[test]
    fn update_takes_the_documented_fields() {
        let c = call(
            "updateRequestOrigin",
            r#"[{"domainName":"Example.COM","originPath":"/v2","hostHeader":"h.example","customHeaders":{"x-k":"v"},
                "connectionAttempts":2,"timeouts":{"readTimeout":5,"connectionTimeout":2,"keepAliveTimeout":9,"responseCompletionTimeout":10},
                "customOriginConfig":{"port":8443,"protocol":"https","sslProtocols":["TLSv1.2"]},
                "originShield":{"enabled":true,"region":"us-east-1"},"sni":"x","allowedCertificateNames":["a"],
                "originAccessControlConfig":{"enabled":true,"region":"us-east-1"}}]"#,
        )
        .unwrap();
        let OriginChange::Update(u) = c.change else {
            panic!()
        };
        assert_eq!(u.domain_name.as_deref(), Some("example.com"));
        assert_eq!(u.origin_path.as_deref(), Some("/v2"));
        assert_eq!(u.host_header.unwrap(), "h.example");
        assert_eq!(u.custom_headers.unwrap()[0].1, "v");
        assert_eq!(u.connection_attempts, Some(2));
        assert_eq!(u.read_timeout, Some(Duration::from_secs(5)));
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.protocol, Some(OriginProtocol::Https));
        for what in [
            "timeouts.responseCompletionTimeout is not acted on",
            "customOriginConfig.sslProtocols is not acted on",
            "originShield is not acted on",
            "sni is not acted on",
            "allowedCertificateNames is not acted on",
            "originAccessControlConfig is not acted on",
        ] {
            assert!(
                c.warnings
                    .iter()
                    .any(|l| l
                        .starts_with(&format!("edgegate: cloudfront.updateRequestOrigin: {what}"))),
                "{what} in {:?}",
                c.warnings
            );
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        for (helper, args) in [
            ("updateRequestOrigin", "[]"),
            ("updateRequestOrigin", r#"[{"domainName":"127.0.0.1"}]"#),
            (
                "updateRequestOrigin",
                r#"[{"domainName":"a.example:8080"}]"#,
            ),
            ("updateRequestOrigin", r#"[{"connectionAttempts":4}]"#),
            (
                "updateRequestOrigin",
                r#"[{"timeouts":{"connectionTimeout":11}}]"#,
            ),
            (
                "updateRequestOrigin",
                r#"[{"timeouts":{"readTimeout":30,"responseCompletionTimeout":10}}]"#,
            ),
            ("updateRequestOrigin", r#"[{"originPath":"v2"}]"#),
            (
                "updateRequestOrigin",
                r#"[{"customOriginConfig":{"protocol":"ftp"}}]"#,
            ),
            ("selectRequestOriginById", "[]"),
            ("selectRequestOriginById", "[5]"),
            (
                "createRequestOriginGroup",
                r#"[{"originIds":["a"],"failoverCriteria":[500]}]"#,
            ),
            (
                "createRequestOriginGroup",
                r#"[{"originIds":["a","b"],"failoverCriteria":[200]}]"#,
            ),
            ("createRequestOriginGroup", r#"[{"originIds":["a","b"]}]"#),
        ] {
            clear();
            assert!(record(helper, args).is_err(), "{helper}({args})");
            assert!(take().is_none(), "{helper}({args}) recorded");
        }
    }

    #[test]
    fn groups_take_both_documented_forms() {
        let strings = call(
            "createRequestOriginGroup",
            r#"[{"originIds":["a","b"],"failoverCriteria":[500,502]}]"#,
        )
        .unwrap();
        let objects = call(
            "createRequestOriginGroup",
            r#"[{"originIds":[{"originId":"a"},{"originId":"b","originOverrides":{"originPath":"/x"}}],
                 "failoverCriteria":{"statusCodes":[500,502]},"selectionCriteria":"media-quality-based"}]"#,
        )
        .unwrap();
        let OriginChange::Group {
            members,
            status_codes,
        } = objects.change
        else {
            panic!()
        };
        assert_eq!(status_codes, [500, 502]);
        assert_eq!(members[0].0, "a");
        assert_eq!(members[1].1.origin_path.as_deref(), Some("/x"));
        assert!(strings.warnings.is_empty());
        assert_eq!(objects.warnings.len(), 1, "{:?}", objects.warnings);
        let alias = call(
            "overrideRequestOrigin",
            r#"["b",{"hostHeader":"b.example"}]"#,
        )
        .unwrap();
        assert!(
            matches!(alias.change, OriginChange::Select { ref origin_id, .. } if origin_id == "b")
        );
    }
}
