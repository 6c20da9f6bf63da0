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

// === the event object built in the engine, and the result read back ===
//
// The edge builds the event with the engine's own values and reads the result the same way,
// with no JSON in between. Both follow what `JSON.parse` of the JSON event above and
// `JSON.stringify` of the result would give: properties are defined (not assigned), only own
// enumerable string-keyed properties of the result are read, `undefined`, functions and
// symbols count as absent, `null` as absent where a field is optional, non-finite numbers
// as `null`, and a leaf with a `toJSON` method is read through it.

use rquickjs::object::{Filter, Property};
use rquickjs::{Array as JsArray, Ctx as JsCtx, Object as JsObject, Value as JsValue};

use super::engine::{EventIo, Hooks};

/// Defines `key` on `o` as `JSON.parse` would (writable, enumerable, configurable).
fn define<'js, K: rquickjs::IntoAtom<'js>, V: rquickjs::IntoJs<'js>>(
    o: &JsObject<'js>,
    key: K,
    v: V,
) -> rquickjs::Result<()> {
    o.prop(
        key,
        Property::from(v).writable().enumerable().configurable(),
    )
}

fn js_groups<'js>(ctx: &JsCtx<'js>, g: &Groups) -> rquickjs::Result<JsObject<'js>> {
    let o = JsObject::new(ctx.clone())?;
    if g.is_empty() {
        return Ok(o);
    }
    let value = rquickjs::Atom::from_str(ctx.clone(), "value")?;
    for (name, values) in g {
        let f = JsObject::new(ctx.clone())?;
        define(&f, value.clone(), values[0].as_str())?;
        if values.len() > 1 {
            let all = JsArray::new(ctx.clone())?;
            for (i, v) in values.iter().enumerate() {
                let e = JsObject::new(ctx.clone())?;
                define(&e, value.clone(), v.as_str())?;
                all.set(i, e)?;
            }
            define(&f, "multiValue", all)?;
        }
        define(&o, name, f)?;
    }
    Ok(o)
}

fn js_set_cookies<'js>(ctx: &JsCtx<'js>, g: &SetCookies) -> rquickjs::Result<JsObject<'js>> {
    let one = |(v, a): &(String, String)| -> rquickjs::Result<JsObject<'js>> {
        let e = JsObject::new(ctx.clone())?;
        define(&e, "value", v.as_str())?;
        if !a.is_empty() {
            define(&e, "attributes", a.as_str())?;
        }
        Ok(e)
    };
    let o = JsObject::new(ctx.clone())?;
    for (name, values) in g {
        let f = one(&values[0])?;
        if values.len() > 1 {
            let all = JsArray::new(ctx.clone())?;
            for (i, v) in values.iter().enumerate() {
                all.set(i, one(v)?)?;
            }
            define(&f, "multiValue", all)?;
        }
        define(&o, name, f)?;
    }
    Ok(o)
}

fn js_event<'js>(
    ctx: &JsCtx<'js>,
    hooks: &Hooks<'js>,
    cx: &EventContext<'_>,
    event_type: &str,
    req: &RequestView<'_>,
) -> rquickjs::Result<JsObject<'js>> {
    let mut ip = String::with_capacity(40);
    let _ = write!(ip, "{}", cx.viewer_ip);
    hooks.event(
        [
            event_type,
            cx.distribution_domain,
            cx.distribution_id,
            cx.request_id,
            &ip,
            req.method,
            req.uri,
        ],
        req.query,
        [
            js_groups(ctx, &query_groups(req.query))?,
            js_groups(ctx, &header_groups(req.headers, false))?,
            js_groups(ctx, &cookie_groups(req.headers))?,
        ],
    )
}

/// A viewer-request event, built in the engine ([`EventIo`]); its result is read back as a
/// [`FunctionResult`], or a validation error.
#[derive(Debug, Clone, Copy)]
pub struct RequestEvent<'a> {
    /// The event's `context` and `viewer`.
    pub cx: EventContext<'a>,
    /// The request.
    pub req: RequestView<'a>,
}

impl EventIo for RequestEvent<'_> {
    type Output = Result<FunctionResult, FunctionError>;

    fn build<'js>(&self, ctx: &JsCtx<'js>, hooks: &Hooks<'js>) -> rquickjs::Result<JsValue<'js>> {
        Ok(js_event(ctx, hooks, &self.cx, "viewer-request", &self.req)?.into_value())
    }

    fn read<'js>(&self, result: JsValue<'js>) -> rquickjs::Result<Self::Output> {
        read_result(result)
    }
}

/// A viewer-response event, built in the engine ([`EventIo`]).
#[derive(Debug, Clone, Copy)]
pub struct ResponseEvent<'a> {
    /// The event's `context` and `viewer`.
    pub cx: EventContext<'a>,
    /// The request the response answers.
    pub req: RequestView<'a>,
    /// The response's status.
    pub status: StatusCode,
    /// The response's headers.
    pub headers: &'a HeaderMap,
}

impl EventIo for ResponseEvent<'_> {
    type Output = Result<FunctionResult, FunctionError>;

    fn build<'js>(&self, ctx: &JsCtx<'js>, hooks: &Hooks<'js>) -> rquickjs::Result<JsValue<'js>> {
        let ev = js_event(ctx, hooks, &self.cx, "viewer-response", &self.req)?;
        let r = JsObject::new(ctx.clone())?;
        define(&r, "statusCode", self.status.as_u16())?;
        define(
            &r,
            "statusDescription",
            self.status.canonical_reason().unwrap_or(""),
        )?;
        define(
            &r,
            "headers",
            js_groups(ctx, &header_groups(self.headers, true))?,
        )?;
        define(
            &r,
            "cookies",
            js_set_cookies(ctx, &set_cookie_groups(self.headers))?,
        )?;
        define(&ev, "response", r)?;
        Ok(ev.into_value())
    }

    fn read<'js>(&self, result: JsValue<'js>) -> rquickjs::Result<Self::Output> {
        read_result(result)
    }
}

/// Why a result could not be read: the engine failed (a getter threw, the run was
/// interrupted), or the result is not a valid request or response.
enum ReadError {
    Engine(rquickjs::Error),
    Invalid(FunctionError),
}

impl From<rquickjs::Error> for ReadError {
    fn from(e: rquickjs::Error) -> Self {
        ReadError::Engine(e)
    }
}

type Read<T> = Result<T, ReadError>;

fn read_result(v: JsValue<'_>) -> rquickjs::Result<Result<FunctionResult, FunctionError>> {
    match result_out(v) {
        Ok(out) => Ok(Ok(FunctionResult(out))),
        Err(ReadError::Invalid(e)) => Ok(Err(e)),
        Err(ReadError::Engine(e)) => Err(e),
    }
}

/// What `JSON.stringify` leaves out of an object: `undefined`, functions and symbols.
fn omitted(v: &JsValue<'_>) -> bool {
    v.is_undefined()
        || v.is_function()
        || v.is_symbol()
        || v.type_of() == rquickjs::Type::Uninitialized
}

/// A plain object (not an array, not a function).
fn plain<'a, 'js>(v: &'a JsValue<'js>) -> Option<&'a JsObject<'js>> {
    if v.is_array() || v.is_function() {
        return None;
    }
    v.as_object()
}

/// An object's own enumerable string-keyed properties, in `JSON.stringify`'s order.
fn for_each_own<'js>(
    o: &JsObject<'js>,
    mut f: impl FnMut(&str, JsValue<'js>) -> Read<()>,
) -> Read<()> {
    for atom in o.own_keys::<rquickjs::Atom<'js>>(Filter::new().string().enum_only()) {
        let atom = atom?;
        let key = js_text(&atom.to_js_string()?.into_value())?;
        let v: JsValue<'js> = o.get(atom)?;
        f(&key, v)?;
    }
    Ok(())
}

fn js_text(v: &JsValue<'_>) -> Read<String> {
    v.as_string()
        .and_then(|s| s.to_string().ok())
        .ok_or_else(|| ReadError::Invalid(invalid("a string in the result is not valid text")))
}

fn js_number(f: f64) -> Option<Value> {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if !f.is_finite() {
        None
    } else if f.fract() == 0.0 && (0.0..TWO_64).contains(&f) {
        Some(Value::from(f as u64))
    } else if f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        Some(Value::from(f as i64))
    } else {
        serde_json::Number::from_f64(f).map(Value::Number)
    }
}

/// A leaf (`value`, `attributes`, `statusCode`, `uri`, ...) as JSON would carry it; `None`
/// when it is absent or `null`. Objects and arrays come back as empty ones (no leaf may be
/// one), after a `toJSON` method if they have one.
fn leaf(v: JsValue<'_>) -> Read<Option<Value>> {
    leaf_in(v, true)
}

fn leaf_in(v: JsValue<'_>, to_json: bool) -> Read<Option<Value>> {
    if omitted(&v) || v.is_null() {
        return Ok(None);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Some(Value::Bool(b)));
    }
    if let Some(i) = v.as_int() {
        return Ok(Some(Value::from(i)));
    }
    if let Some(f) = v.as_float() {
        return Ok(js_number(f));
    }
    if v.is_string() {
        return js_text(&v).map(|s| Some(Value::String(s)));
    }
    if let Some(o) = v.as_object() {
        if to_json && let Ok(f) = o.get::<_, rquickjs::Function<'_>>("toJSON") {
            let r: JsValue<'_> = f.call((rquickjs::function::This(o.clone()), ""))?;
            return leaf_in(r, false);
        }
        return Ok(Some(if v.is_array() {
            Value::Array(Vec::new())
        } else {
            Value::Object(serde_json::Map::new())
        }));
    }
    // A BigInt, which JSON cannot carry.
    Err(ReadError::Invalid(invalid(
        "the result holds a value that is not a string, number or object",
    )))
}

fn result_out(v: JsValue<'_>) -> Read<ResultOut> {
    let Some(o) = plain(&v) else {
        return Err(ReadError::Invalid(not_a_result()));
    };
    let mut out = ResultOut::default();
    for_each_own(o, |key, v| {
        match key {
            "statusCode" => out.status_code = leaf(v)?,
            "statusDescription" => out.status_description = leaf(v)?,
            "method" => out.method = leaf(v)?,
            "uri" => out.uri = leaf(v)?,
            "querystring" => {
                out.querystring = if omitted(&v) || v.is_null() {
                    None
                } else if v.is_string() {
                    Some(QueryOut::Text(js_text(&v)?))
                } else if let Some(q) = plain(&v) {
                    Some(QueryOut::Fields(fields(q)?))
                } else {
                    return Err(ReadError::Invalid(not_a_result()));
                }
            }
            "headers" | "cookies" => {
                let f = if omitted(&v) || v.is_null() {
                    None
                } else if let Some(f) = plain(&v) {
                    Some(fields(f)?)
                } else {
                    return Err(ReadError::Invalid(not_a_result()));
                };
                if key == "headers" {
                    out.headers = f;
                } else {
                    out.cookies = f;
                }
            }
            "body" => out.body = body(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(out)
}

fn body(v: JsValue<'_>) -> Read<Option<Value>> {
    let Some(o) = plain(&v).filter(|_| !omitted(&v)) else {
        return leaf_in(v, false);
    };
    let mut m = serde_json::Map::new();
    for_each_own(o, |key, v| {
        if matches!(key, "data" | "encoding")
            && let Some(l) = leaf(v)?
        {
            m.insert(key.to_owned(), l);
        }
        Ok(())
    })?;
    Ok(Some(Value::Object(m)))
}

fn fields(o: &JsObject<'_>) -> Read<Ordered<FieldOut>> {
    let mut out = Vec::new();
    for_each_own(o, |key, v| {
        if omitted(&v) {
            return Ok(());
        }
        out.push((key.to_owned(), field(&v)?));
        Ok(())
    })?;
    Ok(Ordered(out))
}

fn field(v: &JsValue<'_>) -> Read<FieldOut> {
    let Some(o) = plain(v) else {
        return Err(ReadError::Invalid(not_a_result()));
    };
    let mut f = FieldOut::default();
    for_each_own(o, |key, v| {
        match key {
            "value" => f.value = leaf(v)?,
            "attributes" => f.attributes = leaf(v)?,
            "multiValue" => {
                f.multi_value = if omitted(&v) || v.is_null() {
                    None
                } else if let Some(a) = v.as_array() {
                    let mut all = Vec::with_capacity(a.len());
                    for i in 0..a.len() {
                        all.push(field(&a.get::<JsValue<'_>>(i)?)?);
                    }
                    Some(all)
                } else {
                    return Err(ReadError::Invalid(not_a_result()));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(f)
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

#[derive(Debug, Default, Deserialize)]
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

#[derive(Debug, Default, Deserialize)]
struct ResultOut {
    #[serde(default, rename = "statusCode")]
    status_code: Option<Value>,
    #[serde(default, rename = "statusDescription")]
    status_description: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
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
    /// The reason phrase for HTTP/1.1 (`statusDescription`), when it is not the status's
    /// canonical one.
    pub reason: Option<hyper::ext::ReasonPhrase>,
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
    serde_json::from_str::<ResultOut>(output).map_err(|_| not_a_result())
}

fn not_a_result() -> FunctionError {
    invalid("The function must return the request or a response object")
}

/// What a function returned, read into the fields the edge applies: from the engine directly
/// ([`RequestEvent`], [`ResponseEvent`]) or from JSON ([`FunctionResult::from_json`]).
#[derive(Debug, Default)]
pub struct FunctionResult(ResultOut);

impl FunctionResult {
    /// Reads a result given as JSON (what `JSON.stringify` makes of the returned object).
    pub fn from_json(output: &str) -> Result<Self, FunctionError> {
        parse_result(output).map(FunctionResult)
    }
}

/// The reason phrase a returned `statusDescription` asks for: `None` when it is absent or is
/// the canonical phrase of `status`.
fn reason_of(
    v: Option<&Value>,
    status: StatusCode,
) -> Result<Option<hyper::ext::ReasonPhrase>, FunctionError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let text = text(v, "statusDescription")?;
    if status.canonical_reason() == Some(text.as_str()) {
        return Ok(None);
    }
    hyper::ext::ReasonPhrase::try_from(text.into_bytes())
        .map(Some)
        .map_err(|_| invalid("statusDescription must be a valid HTTP reason phrase"))
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
    apply_request_result(&FunctionResult::from_json(output)?, req)
}

/// Applies a viewer-request function's result to the request it was given.
pub fn apply_request_result(
    out: &FunctionResult,
    req: &RequestView<'_>,
) -> Result<RequestOutcome, FunctionError> {
    let out = &out.0;
    if let Some(code) = &out.status_code {
        let status = status_of(code)?;
        let reason = reason_of(out.status_description.as_ref(), status)?;
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
            reason,
            headers,
            body,
        }));
    }
    // `method` is the request's only read-only field: changing it is refused like changing a
    // read-only header (CloudFront does not say; it would otherwise be silently ignored).
    match &out.method {
        None => {}
        Some(Value::String(m)) if m == req.method => {}
        Some(_) => {
            return Err(invalid(format!(
                "The CloudFront function tried to change the read-only request method {}",
                req.method
            )));
        }
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
    apply_response_result(&FunctionResult::from_json(output)?, status, headers)
}

/// Applies a viewer-response function's result to the response it was given: `None` when
/// nothing changed. A `statusDescription` is sent only when the function changed it.
pub fn apply_response_result(
    out: &FunctionResult,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Option<ResponseOut>, FunctionError> {
    let out = &out.0;
    let new_status = match &out.status_code {
        Some(code) => status_of(code)?,
        None => status,
    };
    let reason = match &out.status_description {
        Some(Value::String(d)) if Some(d.as_str()) == status.canonical_reason() => None,
        d => reason_of(d.as_ref(), new_status)?,
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
    if new_status == status
        && reason.is_none()
        && after_h == before_h
        && !cookies_changed
        && body.is_none()
    {
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
        reason,
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
        bad["method"] = "DELETE".into();
        let e = apply_request(&bad.to_string(), &req).unwrap_err();
        assert!(e.to_string().contains("read-only request method"), "{e}");
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

    use crate::functions::JsRuntime;
    use crate::functions::engine::{self, EdgeLocation, Script};

    fn script(body: &str, runtime: JsRuntime) -> Script {
        Script {
            name: "t".into(),
            arn: format!("arn:aws:cloudfront::123456789012:function/e{}", body.len()).into(),
            etag: crate::ids::etag().into(),
            runtime,
            code: format!("function handler(event) {{ {body} }}").into(),
            kvs: None,
        }
    }

    fn busy_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("example.com"));
        h.append("accept", HeaderValue::from_static("a, b"));
        h.append("x-multi", HeaderValue::from_static("1"));
        h.append("x-multi", HeaderValue::from_static("2"));
        h.append("cookie", HeaderValue::from_static("a=1; b=2; a=3"));
        h.append("connection", HeaderValue::from_static("close"));
        h.append("set-cookie", HeaderValue::from_static("s=1; Path=/"));
        h.append("set-cookie", HeaderValue::from_static("s=2"));
        h
    }

    /// What the engine path (event built and result read with QuickJS values) and the JSON
    /// path (the event as JSON, the result through `JSON.stringify`) make of a handler.
    fn both_ways(body: &str, query: Option<&str>) -> (String, String) {
        let h = busy_headers();
        let req = RequestView {
            method: "GET",
            uri: "/p/%E5%AE%B6",
            query,
            headers: &h,
        };
        let s = script(body, JsRuntime::V2);
        let at = 1_700_000_000_000.0;
        let loc = EdgeLocation::default();
        let json = engine::invoke(&s, &request_event(&cx(), &req), at, &loc)
            .map_err(|f| f.error)
            .and_then(|out| apply_request(&out.output, &req));
        let ev = RequestEvent { cx: cx(), req };
        let direct = engine::invoke_with(&s, &ev, at, &loc)
            .map_err(|f| f.error)
            .and_then(|out| out.output)
            .and_then(|r| apply_request_result(&r, &req));
        (format!("{json:?}"), format!("{direct:?}"))
    }

    #[test]
    fn the_engine_path_reads_what_json_would() {
        for body in [
            "return event.request;",
            "event.request.headers['x-fn'] = {value: '1'}; return event.request;",
            "var r = event.request; r.querystring = 'z=1&y=2'; return r;",
            "var r = event.request; r.querystring.a.multiValue.push({value: '3'}); return r;",
            "var r = event.request; r.querystring.a.value = 'x'; return r;",
            "var r = event.request; r.headers['x-multi'].value = 'x'; return r;",
            "var r = event.request; r.cookies = {s: {value: 'v'}}; r.uri = '/q'; return r;",
            "var r = event.request; delete r.cookies.a; return r;",
            "var r = event.request; r.headers['x-n'] = {value: 5}; r.headers['x-f'] = {value: 1.5}; r.headers['x-g'] = {value: -0}; r.headers['x-big'] = {value: 1e21}; r.headers['x-b'] = {value: true}; return r;",
            "var r = event.request; r.headers['x-u'] = {value: undefined}; return r;",
            "var r = event.request; r.headers['x-d'] = {value: new Date(0)}; return r;",
            "var r = event.request; r.headers['x-o'] = {value: {}}; return r;",
            "var r = event.request; r.headers.host = {value: 'evil'}; return r;",
            "var r = event.request; r.headers['x-null'] = null; return r;",
            "var r = event.request; r.headers['x-fn'] = function () {}; return r;",
            "var r = event.request; r.headers['x-mv'] = {value: 'a', multiValue: null}; return r;",
            "var r = event.request; r.headers['x-mv'] = {multiValue: [{value: 'a'}, {value: 'b'}]}; return r;",
            "var r = event.request; r.headers['x-mv'] = {value: 'a', multiValue: 'b'}; return r;",
            "var r = event.request; r.headers['x-mv'] = {value: 'a', multiValue: [null]}; return r;",
            "var r = event.request; r.headers = null; r.cookies = undefined; return r;",
            "var r = event.request; r.headers = 'x'; return r;",
            "var r = event.request; r.querystring = 5; return r;",
            "var r = event.request; r.querystring = null; return r;",
            "var r = event.request; r.uri = 5; return r;",
            "var r = event.request; r.uri = 'no-slash'; return r;",
            "var r = event.request; r.method = 'POST'; return r;",
            "var r = event.request; r.method = 'GET'; return r;",
            "var r = event.request; delete r.method; return r;",
            "return {statusCode: 302, statusDescription: 'Found', headers: {location: {value: 'https://x/'}}, cookies: {a: {value: '1', attributes: 'Path=/'}}};",
            "return {statusCode: 200, body: 'hi'};",
            "return {statusCode: 200, body: {encoding: 'base64', data: 'aGk='}};",
            "return {statusCode: 200, body: {encoding: 'base64', data: '!!'}};",
            "return {statusCode: 200, body: {encoding: 'rot13', data: 'x'}};",
            "return {statusCode: 200, body: {data: 5}};",
            "return {statusCode: 200, body: [1]};",
            "return {statusCode: 200, body: 5};",
            "return {statusCode: '200'};",
            "return {statusCode: 299.5};",
            "return {statusCode: NaN};",
            "return {statusCode: 700};",
            "return {statusCode: 418, statusDescription: 'I am a teapot, really'};",
            "return {statusCode: 200, statusDescription: 'bad\\nphrase'};",
            "return {statusCode: 200, statusDescription: 7};",
            "return 5;",
            "return null;",
            "return undefined;",
            "return 'x';",
            "return function () {};",
            "var o = Object.create({uri: '/inherited'}); o.headers = {}; return o;",
            "var r = event.request; Object.defineProperty(r, 'uri', {value: '/hidden', enumerable: false}); return r;",
            "var r = event.request; r.headers['__proto__'] = {value: 'p'}; return r;",
        ] {
            for query in [None, Some("a=1&a=2&b=%20")] {
                let (json, direct) = both_ways(body, query);
                assert_eq!(json, direct, "{body} with query {query:?}");
            }
        }
    }

    #[test]
    fn the_engine_builds_the_event_json_describes() {
        let h = busy_headers();
        let req = RequestView {
            method: "GET",
            uri: "/p",
            query: Some("q=%20x&a=1&a=2&flag"),
            headers: &h,
        };
        let show = "return {statusCode: 200, headers: {'x-ev': {value: JSON.stringify(event)}}};";
        let s = script(show, JsRuntime::V2);
        let loc = EdgeLocation::default();
        let built = |io: &dyn Fn() -> Result<FunctionResult, FunctionError>| match io() {
            Ok(r) => match apply_request_result(&r, &req).unwrap() {
                RequestOutcome::Respond(r) => r.headers["x-ev"].to_str().unwrap().to_owned(),
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e}"),
        };
        let request = built(&|| {
            engine::invoke_with(&s, &RequestEvent { cx: cx(), req }, 1.0, &loc)
                .map_err(|f| f.error)
                .and_then(|o| o.output)
        });
        let as_json: Value = serde_json::from_str(&request_event(&cx(), &req)).unwrap();
        let as_built: Value = serde_json::from_str(&request).unwrap();
        assert_eq!(as_built, as_json);
        // Member order too (serde_json's maps sort, so compare the text).
        assert_eq!(request, request_event(&cx(), &req));
        let response = built(&|| {
            let ev = ResponseEvent {
                cx: cx(),
                req,
                status: StatusCode::OK,
                headers: &h,
            };
            engine::invoke_with(&s, &ev, 1.0, &loc)
                .map_err(|f| f.error)
                .and_then(|o| o.output)
        });
        let as_json: Value =
            serde_json::from_str(&response_event(&cx(), &req, StatusCode::OK, &h)).unwrap();
        let as_built: Value = serde_json::from_str(&response).unwrap();
        assert_eq!(as_built, as_json);
        assert_eq!(
            as_built["response"]["cookies"]["s"]["multiValue"][1],
            serde_json::json!({"value": "2"})
        );
    }

    #[test]
    fn raw_query_string_is_the_query_as_received() {
        let h = HeaderMap::new();
        let code = "return {statusCode: 200, headers: {'x-raw': {value: String(event.request.rawQueryString && event.request.rawQueryString())}, 'x-keys': {value: Object.keys(event.request).join(',') + ' ' + JSON.stringify(event.request).indexOf('raw')}}};";
        let run = |query: Option<&str>, runtime| {
            let req = RequestView {
                method: "GET",
                uri: "/",
                query,
                headers: &h,
            };
            let out = engine::invoke_with(
                &script(code, runtime),
                &RequestEvent { cx: cx(), req },
                1.0,
                &EdgeLocation::default(),
            )
            .unwrap();
            match apply_request_result(&out.output.unwrap(), &req).unwrap() {
                RequestOutcome::Respond(r) => (
                    r.headers["x-raw"].to_str().unwrap().to_owned(),
                    r.headers["x-keys"].to_str().unwrap().to_owned(),
                ),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            run(Some("b=2&a=%20&a"), JsRuntime::V2),
            (
                "b=2&a=%20&a".to_owned(),
                "method,uri,querystring,headers,cookies -1".to_owned()
            )
        );
        assert_eq!(run(Some(""), JsRuntime::V2).0, "");
        assert_eq!(run(None, JsRuntime::V2).0, "undefined");
        // A 1.0 request has no such method.
        assert_eq!(run(Some("a=1"), JsRuntime::V1).0, "undefined");
        // TestFunction (JSON) events: the querystring joined back.
        let out = engine::invoke(
            &script(code, JsRuntime::V2),
            r#"{"request":{"uri":"/","querystring":{"a":{"value":"1","multiValue":[{"value":"1"},{"value":"2"}]},"b":{"value":""}}}}"#,
            1.0,
            &EdgeLocation::default(),
        )
        .unwrap();
        assert!(
            out.output.contains(r#""x-raw":{"value":"a=1&a=2&b="}"#),
            "{}",
            out.output
        );
    }

    #[test]
    fn a_generated_status_description_is_the_reason_phrase() {
        let h = HeaderMap::new();
        let req = RequestView {
            method: "GET",
            uri: "/",
            query: None,
            headers: &h,
        };
        let RequestOutcome::Respond(r) = apply_request(
            r#"{"statusCode":302,"statusDescription":"Moved Along"}"#,
            &req,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(r.reason.unwrap().as_bytes(), b"Moved Along");
        let RequestOutcome::Respond(r) =
            apply_request(r#"{"statusCode":302,"statusDescription":"Found"}"#, &req).unwrap()
        else {
            panic!()
        };
        assert!(r.reason.is_none());
        // A viewer-response function's description counts only when it changed it.
        let mut rh = HeaderMap::new();
        rh.insert("content-type", HeaderValue::from_static("text/plain"));
        let same = r#"{"statusCode":200,"statusDescription":"OK","headers":{"content-type":{"value":"text/plain"}}}"#;
        assert!(apply_response(same, StatusCode::OK, &rh).unwrap().is_none());
        let moved = r#"{"statusCode":404,"statusDescription":"OK","headers":{"content-type":{"value":"text/plain"}}}"#;
        let out = apply_response(moved, StatusCode::OK, &rh).unwrap().unwrap();
        assert_eq!((out.status.as_u16(), out.reason), (404, None));
        let told = r#"{"statusCode":200,"statusDescription":"Fine","headers":{"content-type":{"value":"text/plain"}}}"#;
        let out = apply_response(told, StatusCode::OK, &rh).unwrap().unwrap();
        assert_eq!(out.reason.unwrap().as_bytes(), b"Fine");
    }
}
