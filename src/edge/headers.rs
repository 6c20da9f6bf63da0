//! Header rules at the two edges of the proxy: what a viewer request carries to the origin, and
//! what CloudFront adds to, or strips from, every response (caching.md §8, §9).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::routing::Forwarding;
use crate::cache::key::Selection;

// CloudFront's own header names, validated once at compile time rather than on every response.
static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
static X_AMZ_CF_POP: HeaderName = HeaderName::from_static("x-amz-cf-pop");
static X_AMZ_CF_ID: HeaderName = HeaderName::from_static("x-amz-cf-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Viewer headers CloudFront forwards as they are, whatever the cache and origin request policies
/// say (caching.md §9, "Forwarded as-is"). Conditional and range headers are handled by the
/// pipeline, which drops them when it fetches a whole object for the cache.
pub const FORWARDED_AS_IS: &[&str] = &[
    "cache-control",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "from",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "origin",
    "pragma",
    "range",
    "request-range",
    "warning",
];

/// Hop-by-hop headers that never cross the proxy (RFC 9110 §7.6.1), in either direction.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What identifies this edge in headers.
#[derive(Debug, Clone)]
pub struct EdgeIdentity {
    /// `1.1 {label}.cloudfront.net (CloudFront)`.
    pub via: HeaderValue,
    /// `X-Amz-Cf-Pop`.
    pub pop: HeaderValue,
}

impl EdgeIdentity {
    /// Builds the identity of the edge at `pop`.
    pub fn new(pop: &str) -> Self {
        let label = crate::ids::via_label(pop);
        Self {
            via: HeaderValue::from_str(&format!("1.1 {label}.cloudfront.net (CloudFront)"))
                .unwrap_or(HeaderValue::from_static("1.1 cloudfront.net (CloudFront)")),
            pop: HeaderValue::from_str(pop).unwrap_or(HeaderValue::from_static("-")),
        }
    }
}

/// Adds the headers CloudFront puts on every origin request: `User-Agent: Amazon CloudFront`
/// (unless the viewer's is forwarded), `Via` appended, `X-Amz-Cf-Id`, and the viewer address
/// appended to `X-Forwarded-For`.
pub fn add_origin_request_headers(
    out: &mut HeaderMap,
    viewer: &HeaderMap,
    edge: &EdgeIdentity,
    request_id: &HeaderValue,
    viewer_ip: std::net::IpAddr,
) {
    if !out.contains_key(header::USER_AGENT) {
        out.insert(
            header::USER_AGENT,
            HeaderValue::from_static("Amazon CloudFront"),
        );
    }
    let via = match viewer.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => HeaderValue::from_str(&format!(
            "{prev}, {}",
            edge.via.to_str().unwrap_or_default()
        ))
        .unwrap_or_else(|_| edge.via.clone()),
        _ => edge.via.clone(),
    };
    out.insert(header::VIA, via);
    out.insert(X_AMZ_CF_ID.clone(), request_id.clone());
    let xff_name = X_FORWARDED_FOR.clone();
    let xff = match viewer.get(&xff_name).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{},{viewer_ip}", prev.trim()),
        _ => viewer_ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        out.insert(xff_name, v);
    }
}

/// Whether a cookie selection sends any cookie to the origin (a whitelist of no names sends
/// none).
pub fn forwards_cookies(cookies: &Selection) -> bool {
    match cookies {
        Selection::None => false,
        Selection::Whitelist(names) => !names.is_empty(),
        Selection::All | Selection::AllExcept(_) => true,
    }
}

/// Cleans an origin response's headers for a behavior that forwards `forward` (its cache key
/// and origin request policy together, or its legacy `ForwardedValues`), with
/// [`clean_origin_response`]: `Set-Cookie` is kept exactly when cookies are forwarded, and
/// `Vary` keeps `Accept-Encoding`, `Cookie` when cookies are forwarded, the names of forwarded
/// headers, and `User-Agent` when a device-type header is forwarded.
pub fn clean_for(headers: &mut HeaderMap, forward: &Forwarding) {
    let sel = &forward.headers;
    let forwarded = |name: &str| {
        sel.selects_ignore_case(name)
            // `Vary: User-Agent` is kept when a device-type header is forwarded (caching.md §8).
            || (name == "user-agent"
                && super::viewer::DEVICE_HEADERS
                    .iter()
                    .any(|d| sel.selects_ignore_case(d)))
    };
    clean_origin_response(headers, forwards_cookies(&forward.cookies), &forwarded);
}

/// Stored headers that a 304 never changes (RFC 9111 §3.2): those the stored body depends on
/// (`Content-Length`, `Content-Encoding`, `Content-Range`, `Transfer-Encoding`), and the edge's
/// own headers, which the stored object holds already.
const KEPT_ON_REFRESH: &[&str] = &[
    "content-length",
    "content-encoding",
    "content-range",
    "transfer-encoding",
    "via",
    "x-amz-cf-pop",
    "x-amz-cf-id",
    "x-cache",
];

/// The headers of a stored object after the origin answered its revalidation with 304 (RFC 9111
/// §4.3.4, §3.2): every header the 304 carries, cleaned like any origin response for `forward`,
/// replaces the stored header of that name (all its values), except those the stored body depends
/// on (`Content-Length`, `Content-Encoding`, `Content-Range`, `Transfer-Encoding`) and the edge's
/// own (`Via`, `X-Amz-Cf-Pop`, …). The stored `Age` goes in any case: the object's age starts
/// again from the 304, whose own `Age` (if any) is kept.
pub fn refreshed(stored: &HeaderMap, not_modified: &HeaderMap, forward: &Forwarding) -> HeaderMap {
    let mut fresh = not_modified.clone();
    clean_for(&mut fresh, forward);
    let mut out = stored.clone();
    out.remove(header::AGE);
    for name in fresh.keys() {
        if KEPT_ON_REFRESH.contains(&name.as_str()) {
            continue;
        }
        out.remove(name);
        for value in fresh.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Cleans an origin response's headers before they are cached or sent: hop-by-hop headers and
/// `Via` go, `Set-Cookie` goes unless `cookies_forwarded`, and `Vary` keeps only
/// `Accept-Encoding`, `*`, `Cookie` when `cookies_forwarded`, and the names `forwarded` accepts
/// (given in lower case).
pub fn clean_origin_response(
    headers: &mut HeaderMap,
    cookies_forwarded: bool,
    forwarded: &dyn Fn(&str) -> bool,
) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    headers.remove(header::VIA);
    if !cookies_forwarded {
        headers.remove(header::SET_COOKIE);
    }
    if headers.contains_key(header::VARY) {
        // Every Vary line counts; unreadable ones are dropped. The names kept are written as
        // one line.
        let kept: Vec<String> = headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| {
                n.eq_ignore_ascii_case("accept-encoding")
                    || *n == "*"
                    || (cookies_forwarded && n.eq_ignore_ascii_case("cookie"))
                    || (!n.is_empty()
                        && !n.eq_ignore_ascii_case("cookie")
                        && forwarded(&n.to_ascii_lowercase()))
            })
            .map(str::to_owned)
            .collect();
        headers.remove(header::VARY);
        if let Ok(v) = HeaderValue::from_str(&kept.join(", "))
            && !kept.is_empty()
        {
            headers.insert(header::VARY, v);
        }
    }
}

/// CloudFront's `X-Cache` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XCache {
    /// `Error from cloudfront`: any 4xx/5xx.
    Error,
    /// `Hit from cloudfront`.
    Hit,
    /// `Miss from cloudfront`.
    Miss,
    /// `Redirect from cloudfront`: a viewer-protocol redirect.
    Redirect,
    /// `RefreshHit from cloudfront`: an expired object revalidated with the origin.
    RefreshHit,
    /// `FunctionGeneratedResponse from cloudfront`: a viewer-request function answered.
    FunctionGeneratedResponse,
    /// `FunctionExecutionError from cloudfront`: a function threw (503).
    FunctionExecutionError,
    /// `FunctionThrottledError from cloudfront`: a function went past its budget (503).
    FunctionThrottledError,
    /// `FunctionValidationError from cloudfront`: a function returned an invalid object (502).
    FunctionValidationError,
}

impl XCache {
    /// The header value.
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            XCache::Error => "Error from cloudfront",
            XCache::Hit => "Hit from cloudfront",
            XCache::Miss => "Miss from cloudfront",
            XCache::Redirect => "Redirect from cloudfront",
            XCache::RefreshHit => "RefreshHit from cloudfront",
            XCache::FunctionGeneratedResponse => "FunctionGeneratedResponse from cloudfront",
            XCache::FunctionExecutionError => "FunctionExecutionError from cloudfront",
            XCache::FunctionThrottledError => "FunctionThrottledError from cloudfront",
            XCache::FunctionValidationError => "FunctionValidationError from cloudfront",
        })
    }

    /// The result-type name used in logs (`x-edge-result-type`).
    pub fn result_type(self) -> &'static str {
        match self {
            XCache::Error => "Error",
            XCache::Hit => "Hit",
            XCache::Miss => "Miss",
            XCache::Redirect => "Redirect",
            XCache::RefreshHit => "RefreshHit",
            XCache::FunctionGeneratedResponse => "FunctionGeneratedResponse",
            XCache::FunctionExecutionError => "FunctionExecutionError",
            XCache::FunctionThrottledError => "FunctionThrottledError",
            XCache::FunctionValidationError => "FunctionValidationError",
        }
    }

    /// Whether a CloudFront function decided the response (its label stands whatever the
    /// status).
    pub fn from_function(self) -> bool {
        matches!(
            self,
            XCache::FunctionGeneratedResponse
                | XCache::FunctionExecutionError
                | XCache::FunctionThrottledError
                | XCache::FunctionValidationError
        )
    }
}

/// Adds the response headers that are the same on every response of this edge: `Via`,
/// `X-Amz-Cf-Pop`, and `Server: CloudFront` when the origin sent none. A cached object stores
/// them with its headers, so that a hit does not add them again.
pub fn add_edge_headers(headers: &mut HeaderMap, edge: &EdgeIdentity) {
    headers.insert(header::VIA, edge.via.clone());
    headers.insert(X_AMZ_CF_POP.clone(), edge.pop.clone());
    if !headers.contains_key(header::SERVER) {
        headers.insert(header::SERVER, HeaderValue::from_static("CloudFront"));
    }
}

/// Adds CloudFront's response headers: `X-Cache` (an error status always reads `Error`),
/// `X-Amz-Cf-Id`, `Age` when given, and unless `edge_headers_present` (the headers came from a
/// cached object, which stores them) those of [`add_edge_headers`].
///
/// Returns how many bytes the headers grew by as HTTP/1.1 writes them, when that is known
/// exactly: every header it set was new, and the edge's constant headers were present.
pub fn decorate_response(
    headers: &mut HeaderMap,
    status: http::StatusCode,
    x_cache: XCache,
    edge: &EdgeIdentity,
    request_id: &HeaderValue,
    age: Option<u64>,
    edge_headers_present: bool,
) -> Option<u64> {
    let x_cache =
        if (status.is_client_error() || status.is_server_error()) && !x_cache.from_function() {
            XCache::Error
        } else {
            x_cache
        };
    // What the headers grow by, as HTTP/1.1 writes them, while every insert is a new header.
    let x_cache = x_cache.header();
    let mut added =
        header_line_bytes(&X_CACHE, &x_cache) + header_line_bytes(&X_AMZ_CF_ID, request_id);
    let mut replaced = headers.insert(X_CACHE.clone(), x_cache).is_some();
    replaced |= headers
        .insert(X_AMZ_CF_ID.clone(), request_id.clone())
        .is_some();
    if let Some(age) = age {
        let age = HeaderValue::from(age);
        added += header_line_bytes(&header::AGE, &age);
        replaced |= headers.insert(header::AGE, age).is_some();
    }
    if !edge_headers_present {
        add_edge_headers(headers, edge);
        return None;
    }
    (!replaced).then_some(added)
}

/// One header's size as HTTP/1.1 writes it: `name: value\r\n`.
pub fn header_line_bytes(name: &HeaderName, value: &HeaderValue) -> u64 {
    (name.as_str().len() + 2 + value.len() + 2) as u64
}

/// Headers' size as HTTP/1.1 writes them.
pub fn header_bytes(h: &HeaderMap) -> u64 {
    h.iter().map(|(k, v)| header_line_bytes(k, v)).sum()
}

/// The `Content-Length`, when it is a decimal number.
pub fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH).and_then(parse_decimal)
}

/// A header value that is a decimal number (at most 19 digits, so it fits), as
/// `Content-Length` carries one.
pub fn parse_decimal(v: &HeaderValue) -> Option<u64> {
    let digits = v.as_bytes();
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_request_headers() {
        let edge = EdgeIdentity::new("IAD89-C1");
        let mut viewer = HeaderMap::new();
        viewer.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.4"));
        let mut out = HeaderMap::new();
        let id = HeaderValue::from_static("abc==");
        add_origin_request_headers(
            &mut out,
            &viewer,
            &edge,
            &id,
            "198.51.100.7".parse().unwrap(),
        );
        assert_eq!(out["user-agent"], "Amazon CloudFront");
        assert_eq!(out["x-forwarded-for"], "192.0.2.4,198.51.100.7");
        assert_eq!(out["x-amz-cf-id"], "abc==");
        assert!(
            out["via"]
                .to_str()
                .unwrap()
                .ends_with(".cloudfront.net (CloudFront)")
        );
    }

    #[test]
    fn response_cleaning_and_decoration() {
        let mut h = HeaderMap::new();
        h.insert("set-cookie", HeaderValue::from_static("a=b"));
        h.insert(
            "vary",
            HeaderValue::from_static("Accept-Encoding, X-Custom, Origin"),
        );
        h.insert("connection", HeaderValue::from_static("close, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        clean_origin_response(&mut h, false, &|n| n == "origin");
        assert!(
            !h.contains_key("set-cookie")
                && !h.contains_key("connection")
                && !h.contains_key("x-hop")
        );
        assert_eq!(h["vary"], "Accept-Encoding, Origin");

        let edge = EdgeIdentity::new("IAD89-C1");
        let id = HeaderValue::from_static("abc==");
        decorate_response(
            &mut h,
            http::StatusCode::NOT_FOUND,
            XCache::Miss,
            &edge,
            &id,
            None,
            false,
        );
        assert_eq!(h["x-cache"], "Error from cloudfront");
        assert_eq!(h["x-amz-cf-pop"], "IAD89-C1");
        assert_eq!(h["server"], "CloudFront");
        decorate_response(
            &mut h,
            http::StatusCode::OK,
            XCache::Hit,
            &edge,
            &id,
            Some(14),
            false,
        );
        assert_eq!(h["x-cache"], "Hit from cloudfront");
        assert_eq!(h["age"], "14");
        // Headers of a cached object carry the edge's own already; they are not added again.
        let mut stored = HeaderMap::new();
        stored.insert(header::SERVER, HeaderValue::from_static("AmazonS3"));
        stored.insert(header::VIA, HeaderValue::from_static("1.1 origin-proxy"));
        add_edge_headers(&mut stored, &edge);
        assert_eq!(stored[header::VIA], edge.via);
        assert_eq!(stored["x-amz-cf-pop"], "IAD89-C1");
        assert_eq!(
            stored[header::SERVER],
            "AmazonS3",
            "the origin's Server is kept"
        );
        let [hit, full] = [true, false].map(|present| {
            let mut h = stored.clone();
            let ok = http::StatusCode::OK;
            decorate_response(&mut h, ok, XCache::Hit, &edge, &id, Some(3), present);
            h
        });
        assert_eq!(hit, full, "both ways give the same headers");
    }

    fn forwarding(headers: Selection, cookies: Selection) -> Forwarding {
        use crate::cache::key::KeySpec;
        Forwarding {
            headers,
            cookies,
            query: KeySpec {
                query_strings: Selection::None,
                headers: Selection::None,
                cookies: Selection::None,
                gzip: false,
                brotli: false,
            },
        }
    }

    fn origin_headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn cleaning_follows_what_the_behavior_forwards() {
        let origin = || {
            origin_headers(&[
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("vary", "Accept-Encoding, Cookie, Origin"),
                ("vary", "X-Device, User-Agent"),
            ])
        };
        let set_cookies = |h: &HeaderMap| h.get_all("set-cookie").iter().count();
        // Nothing forwarded: no Set-Cookie, Vary keeps Accept-Encoding only.
        let mut h = origin();
        clean_for(&mut h, &forwarding(Selection::None, Selection::None));
        assert_eq!(set_cookies(&h), 0);
        assert_eq!(h["vary"], "Accept-Encoding");
        // Cookies forwarded (any way), and Origin: both Set-Cookie lines, Cookie and Origin.
        for cookies in [
            Selection::All,
            Selection::Whitelist(vec!["a".into()]),
            Selection::AllExcept(vec!["z".into()]),
        ] {
            let mut h = origin();
            let sel = Selection::Whitelist(vec!["Origin".into()]);
            clean_for(&mut h, &forwarding(sel, cookies));
            assert_eq!(set_cookies(&h), 2);
            assert_eq!(h["vary"], "Accept-Encoding, Cookie, Origin");
        }
        // A whitelist of no cookies forwards none.
        let mut h = origin();
        clean_for(
            &mut h,
            &forwarding(Selection::None, Selection::Whitelist(vec![])),
        );
        assert_eq!(set_cookies(&h), 0);
        // A device-type header keeps User-Agent; all headers keep every name, and `*`.
        let mut h = origin();
        let sel = Selection::Whitelist(vec!["CloudFront-Is-Mobile-Viewer".into()]);
        clean_for(&mut h, &forwarding(sel, Selection::None));
        assert_eq!(h["vary"], "Accept-Encoding, User-Agent");
        let mut h = origin();
        clean_for(&mut h, &forwarding(Selection::All, Selection::None));
        assert_eq!(h["vary"], "Accept-Encoding, Origin, X-Device, User-Agent");
        let mut h = origin_headers(&[("vary", "*")]);
        clean_for(&mut h, &forwarding(Selection::None, Selection::None));
        assert_eq!(h["vary"], "*");
        // A Vary with nothing left goes.
        let mut h = origin_headers(&[("vary", "X-Other")]);
        clean_for(&mut h, &forwarding(Selection::None, Selection::None));
        assert!(!h.contains_key("vary"));
    }

    #[test]
    fn a_304_updates_every_stored_header_it_carries() {
        let edge = EdgeIdentity::new("IAD89-C1");
        let mut stored = origin_headers(&[
            ("content-type", "text/plain"),
            ("content-length", "13"),
            ("content-encoding", "gzip"),
            ("cache-control", "max-age=1"),
            ("etag", "\"v1\""),
            ("x-version", "1"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("age", "100"),
            ("x-untouched", "same"),
        ]);
        add_edge_headers(&mut stored, &edge);
        let not_modified = origin_headers(&[
            ("cache-control", "max-age=60"),
            ("etag", "\"v2\""),
            ("x-version", "2"),
            ("x-multi", "c"),
            ("content-length", "0"),
            ("content-encoding", "br"),
            ("via", "1.1 upstream"),
            ("connection", "close"),
            ("set-cookie", "s=1"),
            ("x-new", "yes"),
        ]);
        let none = forwarding(Selection::None, Selection::None);
        let h = refreshed(&stored, &not_modified, &none);
        assert_eq!(h["cache-control"], "max-age=60");
        assert_eq!(h["etag"], "\"v2\"");
        assert_eq!(h["x-version"], "2");
        assert_eq!(h["x-new"], "yes");
        assert_eq!(h.get_all("x-multi").iter().collect::<Vec<_>>(), ["c"]);
        assert_eq!(h["x-untouched"], "same");
        // What the body depends on, and the edge's own headers, stay; hop-by-hop never arrive.
        assert_eq!(h["content-length"], "13");
        assert_eq!(h["content-encoding"], "gzip");
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h[header::VIA], edge.via);
        assert_eq!(h["x-amz-cf-pop"], "IAD89-C1");
        assert!(!h.contains_key("connection"));
        // The 304 is cleaned first: no Set-Cookie unless cookies are forwarded.
        assert!(!h.contains_key("set-cookie"));
        let cookies = forwarding(Selection::None, Selection::All);
        assert_eq!(
            refreshed(&stored, &not_modified, &cookies)["set-cookie"],
            "s=1"
        );
        // The stored Age goes; the 304's own is kept.
        assert!(!h.contains_key("age"));
        let aged = origin_headers(&[("age", "7")]);
        assert_eq!(refreshed(&stored, &aged, &none)["age"], "7");
    }

    #[test]
    fn decorating_says_exactly_how_much_it_added() {
        let edge = EdgeIdentity::new("IAD89-C1");
        let id = HeaderValue::from_static("abc==");
        let mut stored = HeaderMap::new();
        stored.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        add_edge_headers(&mut stored, &edge);
        let ok = http::StatusCode::OK;
        for age in [None, Some(0), Some(86_400)] {
            let mut h = stored.clone();
            let added = decorate_response(&mut h, ok, XCache::Hit, &edge, &id, age, true);
            assert_eq!(added, Some(header_bytes(&h) - header_bytes(&stored)));
        }
        // A header decorating replaces (here an origin's Age) makes the growth unknown.
        let mut with_age = stored.clone();
        with_age.insert(header::AGE, HeaderValue::from_static("5"));
        let added = decorate_response(&mut with_age, ok, XCache::Hit, &edge, &id, Some(7), true);
        assert_eq!(added, None);
        // So does adding the edge's constant headers.
        let mut bare = HeaderMap::new();
        assert_eq!(
            decorate_response(&mut bare, ok, XCache::Miss, &edge, &id, None, false),
            None
        );
    }
}
