//! Viewer conditional requests answered from the cache (caching.md §11; RFC 9110 §13.1.2,
//! §13.1.3).
//!
//! `If-None-Match` takes precedence: when present, `If-Modified-Since` is ignored. Entity tags are
//! compared weakly (`W/"x"` matches `"x"`), as RFC 9110 requires for If-None-Match, and `*`
//! matches any stored object. `If-Modified-Since` matches when the stored `Last-Modified` is not
//! later than the given date. Unparsable headers never produce a 304.

use std::time::SystemTime;

use http::header::{self, HeaderMap};

use super::store::CachedObject;

/// Calls `f` with the opaque part of every entity tag in a list (`W/"a", "b"` gives `a`, `b`).
/// Tags sent without quotes are accepted as they are. Returns true if the list is `*`.
fn for_each_tag(list: &str, mut f: impl FnMut(&str) -> bool) -> bool {
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return false;
        }
        if let Some(r) = rest.strip_prefix('*') {
            let r = r.trim_start();
            if r.is_empty() || r.starts_with(',') {
                // `*` matches everything.
                return f("*");
            }
        }
        let body = rest.strip_prefix("W/").unwrap_or(rest);
        if let Some(quoted) = body.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => {
                    if f(&quoted[..end]) {
                        return true;
                    }
                    rest = &quoted[end + 1..];
                }
                None => return false,
            }
        } else {
            let end = body.find(',').unwrap_or(body.len());
            let tag = body[..end].trim();
            if !tag.is_empty() && f(tag) {
                return true;
            }
            rest = &body[end..];
        }
    }
}

/// The opaque part of a stored ETag, if it has one.
fn stored_tag(headers: &HeaderMap) -> Option<&str> {
    let etag = headers.get(header::ETAG)?.to_str().ok()?.trim();
    let body = etag.strip_prefix("W/").unwrap_or(etag);
    Some(
        body.strip_prefix('"')
            .and_then(|b| b.strip_suffix('"'))
            .unwrap_or(body),
    )
}

fn http_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let v = headers.get(name)?.to_str().ok()?;
    super::date::parse_http_date(v)
}

/// Whether a viewer request with `req_headers` can be answered `304 Not Modified` from `cached`.
pub fn not_modified(req_headers: &HeaderMap, cached: &CachedObject) -> bool {
    let mut inm = req_headers.get_all(header::IF_NONE_MATCH).iter().peekable();
    if inm.peek().is_some() {
        let stored = stored_tag(&cached.headers);
        for value in inm {
            let Ok(value) = value.to_str() else { continue };
            let matched = for_each_tag(value, |tag| tag == "*" || stored == Some(tag));
            if matched {
                return true;
            }
        }
        return false;
    }
    // The stored date is parsed only when the request asks.
    http_date(req_headers, header::IF_MODIFIED_SINCE).is_some_and(|since| {
        http_date(&cached.headers, header::LAST_MODIFIED).is_some_and(|modified| modified <= since)
    })
}

/// Whether a viewer's `Range` applies to `cached` given its `If-Range` (RFC 9110 §13.1.5): with
/// no `If-Range` it does; an entity tag must match the stored one strongly (neither weak), a
/// date must equal the stored `Last-Modified` exactly. Otherwise, or when unreadable, the whole
/// object is sent.
pub fn range_applies(req_headers: &HeaderMap, cached: &CachedObject) -> bool {
    let Some(value) = req_headers.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with("W/") {
        return false;
    }
    if let Some(tag) = value.strip_prefix('"') {
        let Some(etag) = cached.headers.get(header::ETAG) else {
            return false;
        };
        let Ok(etag) = etag.to_str() else {
            return false;
        };
        let etag = etag.trim();
        return !etag.starts_with("W/") && etag.strip_prefix('"') == Some(tag);
    }
    let Some(since) = super::date::parse_http_date(value) else {
        return false;
    };
    http_date(&cached.headers, header::LAST_MODIFIED) == Some(since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderValue, StatusCode};
    use std::time::Duration;

    fn object(pairs: &[(&str, &str)]) -> CachedObject {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        CachedObject {
            status: StatusCode::OK,
            headers,
            body: Bytes::from_static(b"x").into(),
            mirror: None,
            stored_at: SystemTime::UNIX_EPOCH,
            ttl: Duration::from_secs(60),
            origin_age: Duration::ZERO,
            stale: Default::default(),
            keep: Duration::ZERO,
            error_cached_until: Default::default(),
            annex: Default::default(),
        }
    }

    fn req(pairs: &[(&str, &str)]) -> HeaderMap {
        object(pairs).headers
    }

    const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";
    const BEFORE: &str = "Tue, 15 Nov 1994 12:45:25 GMT";
    const AFTER: &str = "Wed, 16 Nov 1994 00:00:00 GMT";

    #[test]
    fn if_none_match_strong_and_weak() {
        let obj = object(&[("etag", "\"abc\"")]);
        assert!(not_modified(&req(&[("if-none-match", "\"abc\"")]), &obj));
        assert!(not_modified(&req(&[("if-none-match", "W/\"abc\"")]), &obj));
        assert!(!not_modified(&req(&[("if-none-match", "\"abd\"")]), &obj));
        let weak = object(&[("etag", "W/\"abc\"")]);
        assert!(not_modified(&req(&[("if-none-match", "\"abc\"")]), &weak));
    }

    #[test]
    fn if_none_match_lists_and_star() {
        let obj = object(&[("etag", "\"b,c\"")]);
        assert!(not_modified(
            &req(&[("if-none-match", "\"a\", W/\"b,c\" , \"d\"")]),
            &obj
        ));
        assert!(not_modified(
            &req(&[("if-none-match", "\"x\""), ("if-none-match", "\"b,c\"")]),
            &obj
        ));
        assert!(!not_modified(
            &req(&[("if-none-match", "\"b\", \"c\"")]),
            &obj
        ));
        assert!(not_modified(&req(&[("if-none-match", "*")]), &obj));
        // `*` matches even an object without an ETag.
        assert!(not_modified(
            &req(&[("if-none-match", " * ")]),
            &object(&[])
        ));
        // A tag without an ETag stored never matches.
        assert!(!not_modified(
            &req(&[("if-none-match", "\"abc\"")]),
            &object(&[])
        ));
        // Malformed lists do not panic or match.
        assert!(!not_modified(
            &req(&[("if-none-match", "\"unterminated")]),
            &obj
        ));
        assert!(!not_modified(&req(&[("if-none-match", ",,, W/")]), &obj));
    }

    #[test]
    fn if_none_match_takes_precedence() {
        let obj = object(&[("etag", "\"abc\""), ("last-modified", LM)]);
        // Tag differs, date would match: the tag decides.
        assert!(!not_modified(
            &req(&[("if-none-match", "\"zzz\""), ("if-modified-since", AFTER)]),
            &obj
        ));
        assert!(not_modified(
            &req(&[("if-none-match", "\"abc\""), ("if-modified-since", BEFORE)]),
            &obj
        ));
    }

    #[test]
    fn if_modified_since() {
        let obj = object(&[("last-modified", LM)]);
        assert!(not_modified(&req(&[("if-modified-since", LM)]), &obj));
        assert!(not_modified(&req(&[("if-modified-since", AFTER)]), &obj));
        assert!(!not_modified(&req(&[("if-modified-since", BEFORE)]), &obj));
        assert!(!not_modified(
            &req(&[("if-modified-since", "yesterday")]),
            &obj
        ));
        assert!(!not_modified(
            &req(&[("if-modified-since", AFTER)]),
            &object(&[])
        ));
        assert!(!not_modified(&req(&[]), &obj));
    }

    #[test]
    fn if_range() {
        let obj = object(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 02 Jan 2023 03:04:05 GMT"),
        ]);
        let req = |v: Option<&str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = v {
                h.insert(header::IF_RANGE, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert!(range_applies(&req(None), &obj));
        assert!(range_applies(&req(Some("\"v1\"")), &obj));
        assert!(!range_applies(&req(Some("\"v2\"")), &obj));
        assert!(!range_applies(&req(Some("W/\"v1\"")), &obj));
        assert!(range_applies(
            &req(Some("Mon, 02 Jan 2023 03:04:05 GMT")),
            &obj
        ));
        assert!(!range_applies(
            &req(Some("Mon, 02 Jan 2023 03:04:06 GMT")),
            &obj
        ));
        assert!(!range_applies(&req(Some("junk")), &obj));
        let weak = object(&[("etag", "W/\"v1\"")]);
        assert!(!range_applies(&req(Some("\"v1\"")), &weak));
    }
}
