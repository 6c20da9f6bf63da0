//! The event object (functions.md §3, §4): an HTTP request (and response) turned into the JSON
//! a function receives, and the function's result turned back into changes to apply.
//!
//! - Query parameters, headers and cookies are `{value}` objects, with `multiValue` when a name
//!   repeats; query values are not percent-decoded; header names are lower case; `Cookie` and
//!   `Set-Cookie` appear only as `cookies`.
//! - Headers a function may not see (`Connection`, `X-Amz-Cf-*`, …) are left out of the event
//!   and kept as they were; adding one, changing a read-only header (`Host`, `Content-Length`,
//!   `Transfer-Encoding`, `Via`, and `Warning` in responses) or adding
//!   `CloudFront-Viewer-Country` is a validation error (502).
//! - Write-back: a modified `multiValue` wins; otherwise a changed `value` replaces the first
//!   value and later duplicates stay. `querystring` may be assigned a string.
//! - A viewer-request function's result with a `statusCode` is a generated response.

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::FunctionError;

/// The `context` and `viewer` members of an event.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// The distribution's `*.cloudfront.net`-style domain name.
    pub distribution_domain: &'a str,
    /// The distribution's id.
    pub distribution_id: &'a str,
    /// The request id (`X-Amz-Cf-Id`).
    pub request_id: &'a str,
    /// The viewer's address.
    pub viewer_ip: IpAddr,
}

/// A request as a function sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as received.
    pub uri: &'a str,
    /// The query string as received, without `?`.
    pub query: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
}

/// Headers a function never sees and cannot add (functions.md §4).
fn hidden(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "expect"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "trailer"
            | "upgrade"
            | "x-accel-buffering"
            | "x-accel-charset"
            | "x-accel-limit-rate"
            | "x-accel-redirect"
            | "x-amzn-auth"
            | "x-amzn-cf-billing"
            | "x-amzn-cf-id"
            | "x-amzn-cf-xff"
            | "x-amzn-errortype"
            | "x-amzn-fle-profile"
            | "x-amzn-header-count"
            | "x-amzn-header-order"
            | "x-amzn-lambda-integration-tag"
            | "x-amzn-requestid"
            | "x-cache"
            | "x-forwarded-proto"
            | "x-real-ip"
    ) || name.starts_with("x-amz-cf-")
        || name.starts_with("x-edge-")
}

/// Whether a header is read-only for the event type.
fn read_only(name: &str, response: bool) -> bool {
    if response {
        matches!(name, "warning" | "via")
    } else {
        matches!(
            name,
            "content-length" | "host" | "transfer-encoding" | "via"
        )
    }
}

type Groups = Vec<(String, Vec<String>)>;

fn push_group(groups: &mut Groups, name: &str, value: String) {
    match groups.iter_mut().find(|(n, _)| n == name) {
        Some((_, vs)) => vs.push(value),
        None => groups.push((name.to_owned(), vec![value])),
    }
}

/// Header bytes as text: ISO-8859-1 (and so any byte) becomes UTF-8.
fn latin1(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => b.iter().map(|&c| c as char).collect(),
    }
}

/// The query parameters as the event shows them (not decoded).
pub fn query_groups(query: Option<&str>) -> Groups {
    let mut g = Groups::new();
    for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        push_group(&mut g, k, v.to_owned());
    }
    g
}

/// The visible headers (without cookies), grouped by lower-case name.
fn header_groups(h: &HeaderMap, response: bool) -> Groups {
    let mut g = Groups::new();
    for (name, value) in h {
        let n = name.as_str();
        if hidden(n) || n == "cookie" || (response && (n == "set-cookie" || n == "via")) {
            continue;
        }
        push_group(&mut g, n, latin1(value.as_bytes()));
    }
    g
}

/// The request cookies, from every `Cookie` header.
fn cookie_groups(h: &HeaderMap) -> Groups {
    let mut g = Groups::new();
    for v in h.get_all(http::header::COOKIE) {
        for part in latin1(v.as_bytes()).split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            push_group(&mut g, k.trim(), v.trim().to_owned());
        }
    }
    g
}

/// A response cookie: value and attributes.
type SetCookies = Vec<(String, Vec<(String, String)>)>;

fn set_cookie_groups(h: &HeaderMap) -> SetCookies {
    let mut g: SetCookies = Vec::new();
    for v in h.get_all(http::header::SET_COOKIE) {
        let text = latin1(v.as_bytes());
        let (pair, attrs) = text.split_once(';').unwrap_or((&text, ""));
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let entry = (v.trim().to_owned(), attrs.trim().to_owned());
        match g.iter_mut().find(|(n, _)| n == k.trim()) {
            Some((_, vs)) => vs.push(entry),
            None => g.push((k.trim().to_owned(), vec![entry])),
        }
    }
    g
}

fn json_str(out: &mut String, s: &str) {
    // Strings always serialise.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_groups(out: &mut String, g: &Groups) {
    out.push('{');
    for (i, (name, values)) in g.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, name);
        out.push_str(":{\"value\":");
        json_str(out, &values[0]);
        if values.len() > 1 {
            out.push_str(",\"multiValue\":[");
            for (j, v) in values.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"value\":");
                json_str(out, v);
                out.push('}');
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push('}');
}

fn write_set_cookies(out: &mut String, g: &SetCookies) {
    out.push('{');
    for (i, (name, values)) in g.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, name);
        let one = |out: &mut String, (v, a): &(String, String)| {
            out.push_str("{\"value\":");
            json_str(out, v);
            if !a.is_empty() {
                out.push_str(",\"attributes\":");
                json_str(out, a);
            }
            out.push('}');
        };
        out.push(':');
        // The first value, then all of them when the name repeats.
        let mut first = String::new();
        one(&mut first, &values[0]);
        if values.len() > 1 {
            first.pop();
            first.push_str(",\"multiValue\":[");
            for (j, v) in values.iter().enumerate() {
                if j > 0 {
                    first.push(',');
                }
                one(&mut first, v);
            }
            first.push_str("]}");
        }
        out.push_str(&first);
    }
    out.push('}');
}

fn write_head(out: &mut String, cx: &EventContext<'_>, event_type: &str) {
    out.push_str("{\"version\":\"1.0\",\"context\":{\"distributionDomainName\":");
    json_str(out, cx.distribution_domain);
    out.push_str(",\"distributionId\":");
    json_str(out, cx.distribution_id);
    out.push_str(",\"eventType\":");
    json_str(out, event_type);
    out.push_str(",\"requestId\":");
    json_str(out, cx.request_id);
    out.push_str("},\"viewer\":{\"ip\":\"");
    let _ = write!(out, "{}", cx.viewer_ip);
    out.push_str("\"}");
}

fn write_request(out: &mut String, req: &RequestView<'_>) {
    out.push_str(",\"request\":{\"method\":");
    json_str(out, req.method);
    out.push_str(",\"uri\":");
    json_str(out, req.uri);
    out.push_str(",\"querystring\":");
    write_groups(out, &query_groups(req.query));
    out.push_str(",\"headers\":");
    write_groups(out, &header_groups(req.headers, false));
    out.push_str(",\"cookies\":");
    write_groups(out, &cookie_groups(req.headers));
    out.push('}');
}

/// The viewer-request event.
pub fn request_event(cx: &EventContext<'_>, req: &RequestView<'_>) -> String {
    let mut out = String::with_capacity(512);
    write_head(&mut out, cx, "viewer-request");
    write_request(&mut out, req);
    out.push('}');
    out
}

/// The viewer-response event.
pub fn response_event(
    cx: &EventContext<'_>,
    req: &RequestView<'_>,
    status: StatusCode,
    headers: &HeaderMap,
) -> String {
    let mut out = String::with_capacity(1024);
    write_head(&mut out, cx, "viewer-response");
    write_request(&mut out, req);
    let _ = write!(out, ",\"response\":{{\"statusCode\":{}", status.as_u16());
    out.push_str(",\"statusDescription\":");
    json_str(&mut out, status.canonical_reason().unwrap_or(""));
    out.push_str(",\"headers\":");
    write_groups(&mut out, &header_groups(headers, true));
    out.push_str(",\"cookies\":");
    write_set_cookies(&mut out, &set_cookie_groups(headers));
    out.push_str("}}");
    out
}

// === results ===

/// An object's members in document order.
#[derive(Debug, Default)]
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct FieldOut {
    #[serde(default)]
    value: Option<Value>,
    #[serde(default, rename = "multiValue")]
    multi_value: Option<Vec<FieldOut>>,
    #[serde(default)]
    attributes: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum QueryOut {
    Text(String),
    Fields(Ordered<FieldOut>),
}

#[derive(Debug, Deserialize)]
struct ResultOut {
    #[serde(default, rename = "statusCode")]
    status_code: Option<Value>,
    #[serde(default)]
    uri: Option<Value>,
    #[serde(default)]
    querystring: Option<QueryOut>,
    #[serde(default)]
    headers: Option<Ordered<FieldOut>>,
    #[serde(default)]
    cookies: Option<Ordered<FieldOut>>,
    #[serde(default)]
    body: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> FunctionError {
    FunctionError::Validation(msg.into())
}

fn text(v: &Value, what: &str) -> Result<String, FunctionError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(invalid(format!("{what} must be a string"))),
    }
}

/// The values of one returned field, by the write-back rules.
fn field_values(
    name: &str,
    f: &FieldOut,
    original: Option<&Vec<String>>,
) -> Result<Vec<String>, FunctionError> {
    let value = f.value.as_ref().map(|v| text(v, name)).transpose()?;
    if let Some(mv) = &f.multi_value {
        let mut values = mv
            .iter()
            .filter_map(|m| m.value.as_ref().map(|v| text(v, name)))
            .collect::<Result<Vec<_>, _>>()?;
        // An unmodified multiValue with a changed value: the value replaces the first one.
        if original.is_some_and(|o| *o == values)
            && let Some(v) = value
            && values.first() != Some(&v)
            && !values.is_empty()
        {
            values[0] = v;
        }
        return Ok(values);
    }
    match (value, original) {
        (Some(v), Some(o)) if o.len() > 1 => {
            let mut values = o.clone();
            values[0] = v;
            Ok(values)
        }
        (Some(v), _) => Ok(vec![v]),
        (None, _) => Err(invalid(format!("{name} has no value"))),
    }
}

fn groups_of(
    fields: &Ordered<FieldOut>,
    original: &Groups,
    lower: bool,
) -> Result<Groups, FunctionError> {
    let mut g = Groups::new();
    for (name, f) in &fields.0 {
        let name = if lower {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        let orig = original.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        let values = field_values(&name, f, orig)?;
        if !values.is_empty() {
            g.push((name, values));
        }
    }
    Ok(g)
}

fn header_name(n: &str) -> Result<HeaderName, FunctionError> {
    HeaderName::from_bytes(n.as_bytes()).map_err(|_| invalid(format!("invalid header name {n:?}")))
}

fn header_value(n: &str, v: &str) -> Result<HeaderValue, FunctionError> {
    HeaderValue::from_str(v).map_err(|_| invalid(format!("invalid value for header {n}")))
}

/// Rebuilds headers: the hidden ones as they were, then the function's.
fn rebuild_headers(
    original: &HeaderMap,
    before: &Groups,
    after: &Groups,
    response: bool,
    cookies: Option<Vec<HeaderValue>>,
) -> Result<HeaderMap, FunctionError> {
    for (name, values) in after {
        if hidden(name) || (response && name == "via") {
            return Err(invalid(format!(
                "The CloudFront function tried to add, delete, or change a disallowed header: {name}"
            )));
        }
        let was = before.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        if read_only(name, response) && was != Some(values) {
            return Err(invalid(format!(
                "The CloudFront function tried to add, delete, or change a read-only header: {name}"
            )));
        }
        if !response && name == "cloudfront-viewer-country" && was.is_none() {
            return Err(invalid(
                "The CloudFront function tried to add the CloudFront-Viewer-Country header",
            ));
        }
    }
    for (name, _) in before {
        if read_only(name, response) && !after.iter().any(|(n, _)| n == name) {
            return Err(invalid(format!(
                "The CloudFront function tried to add, delete, or change a read-only header: {name}"
            )));
        }
    }
    let mut h = HeaderMap::with_capacity(original.len() + after.len());
    for (name, value) in original {
        let n = name.as_str();
        if hidden(n) || (response && n == "via") {
            h.append(name.clone(), value.clone());
        }
    }
    for (name, values) in after {
        let hn = header_name(name)?;
        for v in values {
            h.append(hn.clone(), header_value(name, v)?);
        }
    }
    if let Some(cookies) = cookies {
        let name = if response {
            http::header::SET_COOKIE
        } else {
            http::header::COOKIE
        };
        for c in cookies {
            h.append(name.clone(), c);
        }
    }
    Ok(h)
}

/// `Set-Cookie` values from returned response cookies.
fn set_cookies(fields: &Ordered<FieldOut>) -> Result<Vec<HeaderValue>, FunctionError> {
    let mut out = Vec::new();
    for (name, f) in &fields.0 {
        let one = |f: &FieldOut| -> Result<Option<HeaderValue>, FunctionError> {
            let Some(v) = f.value.as_ref() else {
                return Ok(None);
            };
            let mut s = format!("{name}={}", text(v, name)?);
            if let Some(a) = f.attributes.as_ref().map(|a| text(a, name)).transpose()?
                && !a.is_empty()
            {
                s.push_str("; ");
                s.push_str(&a);
            }
            header_value("set-cookie", &s).map(Some)
        };
        match &f.multi_value {
            Some(mv) if !mv.is_empty() => {
                for m in mv {
                    out.extend(one(m)?);
                }
            }
            _ => out.extend(one(f)?),
        }
    }
    Ok(out)
}

fn body_of(v: &Value) -> Result<Bytes, FunctionError> {
    match v {
        Value::String(s) => Ok(Bytes::from(s.clone())),
        Value::Object(o) => {
            let data = o.get("data").and_then(Value::as_str).unwrap_or("");
            match o.get("encoding").and_then(Value::as_str).unwrap_or("text") {
                "text" => Ok(Bytes::from(data.to_owned())),
                "base64" => {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .map(Bytes::from)
                        .map_err(|_| invalid("body.data is not valid base64"))
                }
                other => Err(invalid(format!("unknown body encoding {other:?}"))),
            }
        }
        _ => Err(invalid("body must be a string or {encoding, data}")),
    }
}

/// A response a function made or changed.
#[derive(Debug)]
pub struct ResponseOut {
    /// Its status.
    pub status: StatusCode,
    /// Its headers, complete.
    pub headers: HeaderMap,
    /// A new body, if the function set one.
    pub body: Option<Bytes>,
}

/// What a viewer-request function decided.
#[derive(Debug)]
pub enum RequestOutcome {
    /// Go on with the request, changed where the fields are `Some`.
    Continue {
        /// A new path.
        uri: Option<String>,
        /// A new query string (empty: none).
        query: Option<String>,
        /// New headers, complete (including `Cookie`).
        headers: Option<HeaderMap>,
    },
    /// Answer with this response (no cache lookup, no origin request).
    Respond(ResponseOut),
}

fn parse_result(output: &str) -> Result<ResultOut, FunctionError> {
    serde_json::from_str::<ResultOut>(output)
        .map_err(|_| invalid("The function must return the request or a response object"))
}

fn status_of(v: &Value) -> Result<StatusCode, FunctionError> {
    v.as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| invalid("statusCode must be an integer from 100 to 599"))
}

/// Applies a viewer-request function's result (JSON) to the request it was given.
pub fn apply_request(output: &str, req: &RequestView<'_>) -> Result<RequestOutcome, FunctionError> {
    let out = parse_result(output)?;
    if let Some(code) = &out.status_code {
        let status = status_of(code)?;
        let empty = HeaderMap::new();
        let after = match &out.headers {
            Some(h) => groups_of(h, &Groups::new(), true)?,
            None => Groups::new(),
        };
        let cookies = out.cookies.as_ref().map(set_cookies).transpose()?;
        let headers = rebuild_headers(&empty, &Groups::new(), &after, true, cookies)?;
        let body = out.body.as_ref().map(body_of).transpose()?;
        return Ok(RequestOutcome::Respond(ResponseOut {
            status,
            headers,
            body,
        }));
    }
    let uri = match &out.uri {
        Some(Value::String(u)) if u == req.uri => None,
        Some(Value::String(u)) => {
            if !u.starts_with('/')
                || u.bytes()
                    .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
            {
                return Err(invalid(
                    "uri must start with / and contain no spaces or control characters",
                ));
            }
            Some(u.clone())
        }
        None => None,
        Some(_) => return Err(invalid("uri must be a string")),
    };
    let before_q = query_groups(req.query);
    let query = match &out.querystring {
        None => None,
        Some(QueryOut::Text(s)) => {
            let s = s.strip_prefix('?').unwrap_or(s);
            (Some(s) != req.query).then(|| s.to_owned())
        }
        Some(QueryOut::Fields(f)) => {
            let after = groups_of(f, &before_q, false)?;
            (after != before_q).then(|| {
                let mut q = String::new();
                for (k, vs) in &after {
                    for v in vs {
                        if !q.is_empty() {
                            q.push('&');
                        }
                        q.push_str(k);
                        q.push('=');
                        q.push_str(v);
                    }
                }
                q
            })
        }
    };
    if let Some(q) = &query
        && q.bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'#' || b >= 0x80)
    {
        return Err(invalid(
            "querystring must contain no spaces, control characters or #",
        ));
    }
    let len = uri.as_deref().unwrap_or(req.uri).len()
        + query.as_deref().or(req.query).map_or(0, |q| q.len() + 1);
    if len >= crate::edge::pipeline::MAX_URL_BYTES {
        return Err(invalid(
            "the URI with its query string must be shorter than 8,192 characters",
        ));
    }
    let before_h = header_groups(req.headers, false);
    let before_c = cookie_groups(req.headers);
    let after_h = match &out.headers {
        Some(h) => groups_of(h, &before_h, true)?,
        None => before_h.clone(),
    };
    let after_c = match &out.cookies {
        Some(c) => groups_of(c, &before_c, false)?,
        None => before_c.clone(),
    };
    let headers = if after_h != before_h || after_c != before_c {
        let cookie = if after_c.is_empty() {
            None
        } else {
            let mut line = String::new();
            for (k, vs) in &after_c {
                for v in vs {
                    if !line.is_empty() {
                        line.push_str("; ");
                    }
                    line.push_str(k);
                    line.push('=');
                    line.push_str(v);
                }
            }
            Some(vec![header_value("cookie", &line)?])
        };
        Some(rebuild_headers(
            req.headers,
            &before_h,
            &after_h,
            false,
            cookie,
        )?)
    } else {
        None
    };
    Ok(RequestOutcome::Continue {
        uri,
        query,
        headers,
    })
}

/// Applies a viewer-response function's result (JSON) to the response it was given: `None`
/// when nothing changed.
pub fn apply_response(
    output: &str,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Option<ResponseOut>, FunctionError> {
    let out = parse_result(output)?;
    let new_status = match &out.status_code {
        Some(code) => status_of(code)?,
        None => status,
    };
    let before_h = header_groups(headers, true);
    let after_h = match &out.headers {
        Some(h) => groups_of(h, &before_h, true)?,
        None => before_h.clone(),
    };
    let before_c = set_cookie_groups(headers);
    let new_cookies = match &out.cookies {
        Some(c) => Some(set_cookies(c)?),
        None => None,
    };
    let cookies_changed = new_cookies.as_ref().is_some_and(|c| {
        let old: Vec<&[u8]> = headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let new: Vec<&[u8]> = c.iter().map(|v| v.as_bytes()).collect();
        old != new
    });
    let body = out.body.as_ref().map(body_of).transpose()?;
    if new_status == status && after_h == before_h && !cookies_changed && body.is_none() {
        return Ok(None);
    }
    let cookies = match new_cookies {
        Some(c) => c,
        None => headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .cloned()
            .collect(),
    };
    let _ = before_c;
    let mut h = rebuild_headers(headers, &before_h, &after_h, true, Some(cookies))?;
    if body.is_some() {
        h.remove(http::header::CONTENT_LENGTH);
        h.remove(http::header::TRANSFER_ENCODING);
    }
    Ok(Some(ResponseOut {
        status: new_status,
        headers: h,
        body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> EventContext<'static> {
        EventContext {
            distribution_domain: "d1.cloudfront.net",
            distribution_id: "E1",
            request_id: "rid",
            viewer_ip: "192.0.2.1".parse().unwrap(),
        }
    }

    #[test]
    fn request_event_shape() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com"));
        h.append("accept", HeaderValue::from_static("a, b"));
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        h.append("cookie", HeaderValue::from_static("a=1; b=2"));
        h.append("connection", HeaderValue::from_static("close"));
        let req = RequestView {
            method: "GET",
            uri: "/p/%E5%AE%B6",
            query: Some("q=%20x&a=1&a=2&flag"),
            headers: &h,
        };
        let ev: Value = serde_json::from_str(&request_event(&cx(), &req)).unwrap();
        assert_eq!(ev["context"]["eventType"], "viewer-request");
        assert_eq!(ev["viewer"]["ip"], "192.0.2.1");
        assert_eq!(ev["request"]["uri"], "/p/%E5%AE%B6");
        assert_eq!(ev["request"]["querystring"]["q"]["value"], "%20x");
        assert_eq!(
            ev["request"]["querystring"]["a"]["multiValue"][1]["value"],
            "2"
        );
        assert_eq!(ev["request"]["querystring"]["flag"]["value"], "");
        assert_eq!(
            ev["request"]["headers"]["accept"],
            serde_json::json!({"value": "a, b"})
        );
        assert_eq!(
            ev["request"]["headers"]["x-multi"]["multiValue"][0]["value"],
            "1"
        );
        assert!(ev["request"]["headers"].get("cookie").is_none());
        assert!(ev["request"]["headers"].get("connection").is_none());
        assert_eq!(ev["request"]["cookies"]["b"]["value"], "2");
    }

    #[test]
    fn unchanged_request_changes_nothing_and_edits_apply() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com"));
        h.insert("connection", HeaderValue::from_static("close"));
        let req = RequestView {
            method: "GET",
            uri: "/a",
            // (Sorted: serde_json's maps here sort their keys, as a function's output does not.)
            query: Some("a=1&b=2"),
            headers: &h,
        };
        let ev: Value = serde_json::from_str(&request_event(&cx(), &req)).unwrap();
        let same = apply_request(&ev["request"].to_string(), &req).unwrap();
        assert!(
            matches!(
                same,
                RequestOutcome::Continue {
                    uri: None,
                    query: None,
                    headers: None
                }
            ),
            "{same:?}"
        );
        let mut r = ev["request"].clone();
        r["uri"] = "/a/index.html".into();
        r["querystring"] = "b=2&a=1".into();
        r["headers"]["x-added"] = serde_json::json!({"value": "yes"});
        r["cookies"] = serde_json::json!({"ab": {"value": "b"}});
        let RequestOutcome::Continue {
            uri,
            query,
            headers,
        } = apply_request(&r.to_string(), &req).unwrap()
        else {
            panic!("not a request");
        };
        assert_eq!(uri.as_deref(), Some("/a/index.html"));
        assert_eq!(query.as_deref(), Some("b=2&a=1"));
        let headers = headers.unwrap();
        assert_eq!(headers["x-added"], "yes");
        assert_eq!(headers["connection"], "close");
        assert_eq!(headers["cookie"], "ab=b");
        // Read-only and disallowed headers.
        let mut bad = ev["request"].clone();
        bad["headers"]["host"] = serde_json::json!({"value": "evil"});
        assert!(matches!(
            apply_request(&bad.to_string(), &req),
            Err(FunctionError::Validation(_))
        ));
        let mut bad = ev["request"].clone();
        bad["headers"]["x-forwarded-proto"] = serde_json::json!({"value": "https"});
        assert!(matches!(
            apply_request(&bad.to_string(), &req),
            Err(FunctionError::Validation(_))
        ));
    }

    #[test]
    fn generated_response() {
        let h = HeaderMap::new();
        let req = RequestView {
            method: "GET",
            uri: "/",
            query: None,
            headers: &h,
        };
        let out = r#"{"statusCode":302,"statusDescription":"Found","headers":{"location":{"value":"https://x/"}},"cookies":{"s":{"value":"1","attributes":"Path=/"}}}"#;
        let RequestOutcome::Respond(r) = apply_request(out, &req).unwrap() else {
            panic!()
        };
        assert_eq!(r.status, 302);
        assert_eq!(r.headers["location"], "https://x/");
        assert_eq!(r.headers["set-cookie"], "s=1; Path=/");
        assert!(apply_request(r#"{"statusCode":"x"}"#, &req).is_err());
        assert!(apply_request("null", &req).is_err());
    }

    #[test]
    fn response_round_trip() {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("text/html"));
        h.append("set-cookie", HeaderValue::from_static("a=1; Path=/"));
        h.insert("via", HeaderValue::from_static("1.1 x (CloudFront)"));
        let req = RequestView {
            method: "GET",
            uri: "/",
            query: None,
            headers: &h,
        };
        let ev: Value =
            serde_json::from_str(&response_event(&cx(), &req, StatusCode::OK, &h)).unwrap();
        assert_eq!(
            ev["response"]["cookies"]["a"],
            serde_json::json!({"value": "1", "attributes": "Path=/"})
        );
        assert!(
            apply_response(&ev["response"].to_string(), StatusCode::OK, &h)
                .unwrap()
                .is_none()
        );
        let mut r = ev["response"].clone();
        r["headers"]["x-frame-options"] = serde_json::json!({"value": "DENY"});
        let out = apply_response(&r.to_string(), StatusCode::OK, &h)
            .unwrap()
            .unwrap();
        assert_eq!(out.headers["x-frame-options"], "DENY");
        assert_eq!(out.headers["set-cookie"], "a=1; Path=/");
        assert_eq!(out.headers["via"], "1.1 x (CloudFront)");
    }
}
