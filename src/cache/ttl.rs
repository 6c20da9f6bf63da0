//! How long a response may be stored: pure decisions from the status, the origin's caching
//! headers and the behavior's TTL bounds (caching.md §2.2, §2.3, §4).
//!
//! For cacheable statuses:
//!
//! ```text
//! v   = s-maxage ?? max-age ?? (Expires − now)
//! ttl = v present ? min(max(v, MinTTL), MaxTTL) : max(MinTTL, DefaultTTL)
//! no-cache | no-store | private  ⇒  ttl = MinTTL
//! ttl = 0 ⇒ not stored
//! ```
//!
//! The origin's `Age` (RFC 9111 §4.2.3, §5.1) counts: a response that spent `Age` seconds in
//! caches before the edge has that much less of a lifetime given by `s-maxage`, `max-age` or the
//! DefaultTTL left, so `v` above (and the DefaultTTL) is reduced by it before MinTTL and MaxTTL
//! apply; an object whose `Age` is at least its `max-age` is stale on arrival and, with MinTTL 0,
//! not stored. `Expires` is an absolute time and is not reduced again. *Choice* (CloudFront's
//! pages say nothing about an origin's `Age`): MinTTL and MaxTTL bound the time the edge keeps
//! the object, counted from its arrival, as they do without `Age`.
//!
//! A response with `Vary: *` is never stored (RFC 9111 §4.1: it can never match a later
//! request), whatever the TTLs: every request for it goes to the origin.
//!
//! Which statuses are stored (CloudFront's documentation, with edgegate's choices marked):
//! - 200, 203, 300, 301, 302, 303: by the rules above. CloudFront "caches 3xx responses according
//!   to the settings in your CloudFront distribution and the headers in the response".
//! - 410: by the rules above. *Choice:* CloudFront's pages do not list it; it is cacheable by
//!   default in HTTP (RFC 9110 §15.5.11) and a permanent "gone" is worth keeping like a 200.
//! - 307, 308: by the rules above, but only when the origin sent a `Cache-Control` header
//!   (CloudFront's 3xx page).
//! - 404, 414, 500, 501, 502, 503, 504: always, for max(ErrorCachingMinTTL, v) with v capped by
//!   MaxTTL; ErrorCachingMinTTL defaults to 10 s. *Choice:* the documented S3 rule "501 with
//!   no-cache/no-store/private is not cached" is applied whatever the origin.
//! - 400, 403, 405, 412, 415: only when the origin sent `max-age` or `s-maxage`, for the same
//!   duration.
//! - 416 never; 304 never (it is a revalidation answer, not an object).
//! - *Choice:* 206 is not stored (edgegate serves ranges from whole cached objects; a partial
//!   body must not answer full requests), and neither are other statuses (201, 204, 401, 429, …)
//!   that CloudFront's pages do not list.
//!
//! A behavior whose TTLs are all zero (CachingDisabled) stores nothing, errors included. Only
//! responses to GET and HEAD (and cached OPTIONS) are candidates; the caller checks the method.
//! The S3 rule "an ErrorCachingMinTTL of 0 counts as 1 s" is the caller's to apply, since only it
//! knows the origin type.
//!
//! Stale content (caching.md §3, RFC 5861): [`stale_windows`] reads `stale-while-revalidate`
//! and `stale-if-error` (delta-seconds, the first valid occurrence of each) and caps each by
//! the behavior's MaxTTL ("up to the value of the directive or the value of the CloudFront
//! maximum TTL, whichever is less"). Both windows are counted from the moment the object
//! expires. Without `stale-if-error`, the window in which an expired object is still served on
//! an origin error is the ErrorCachingMinTTL of the error (§3, §4), which the caller knows.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use http::header::{self, HeaderMap};

/// How long errors are cached when no ErrorCachingMinTTL is configured.
pub const DEFAULT_ERROR_CACHING_MIN_TTL: Duration = Duration::from_secs(10);

/// A behavior's TTL bounds (cache policy MinTTL, DefaultTTL, MaxTTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlBounds {
    /// MinTTL.
    pub min: Duration,
    /// DefaultTTL: used when the origin sends none of max-age, s-maxage, Expires.
    pub default: Duration,
    /// MaxTTL.
    pub max: Duration,
}

impl TtlBounds {
    /// CachingDisabled: 0 / 0 / 0.
    pub const DISABLED: TtlBounds = TtlBounds {
        min: Duration::ZERO,
        default: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// Whether these bounds disable caching (MaxTTL 0, hence all three 0).
    pub fn caching_disabled(&self) -> bool {
        self.max.is_zero()
    }
}

impl Default for TtlBounds {
    /// CloudFront's defaults: 0 / 86400 / 31536000 seconds.
    fn default() -> Self {
        TtlBounds {
            min: Duration::ZERO,
            default: Duration::from_secs(86_400),
            max: Duration::from_secs(31_536_000),
        }
    }
}

/// Whether and how long to keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Store it, fresh for `ttl`.
    Store {
        /// Freshness lifetime.
        ttl: Duration,
    },
    /// Do not store it.
    DoNotStore,
}

/// The caching directives of a response.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Directives {
    has_cache_control: bool,
    max_age: Option<u64>,
    s_maxage: Option<u64>,
    no_cache: bool,
    no_store: bool,
    private: bool,
    stale_while_revalidate: Option<u64>,
    stale_if_error: Option<u64>,
}

impl Directives {
    fn forbids(&self) -> bool {
        self.no_cache || self.no_store || self.private
    }
}

/// Splits on commas that are not inside a quoted string.
fn split_outside_quotes(s: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pieces = Vec::new();
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                pieces.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&s[start..]);
    pieces.into_iter()
}

/// Parses delta-seconds; values too large to represent saturate (RFC 9111 §1.2.2). Anything but
/// digits (optionally quoted) is invalid.
fn delta_seconds(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().unwrap_or(u64::MAX))
}

fn parse_cache_control(headers: &HeaderMap) -> Directives {
    let mut d = Directives::default();
    for value in headers.get_all(header::CACHE_CONTROL) {
        d.has_cache_control = true;
        let Ok(value) = value.to_str() else { continue };
        for item in split_outside_quotes(value) {
            let (name, arg) = match item.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a)),
                None => (item.trim(), None),
            };
            if name.eq_ignore_ascii_case("max-age") {
                // The first valid occurrence wins.
                if d.max_age.is_none() {
                    d.max_age = arg.and_then(delta_seconds);
                }
            } else if name.eq_ignore_ascii_case("s-maxage") {
                if d.s_maxage.is_none() {
                    d.s_maxage = arg.and_then(delta_seconds);
                }
            } else if name.eq_ignore_ascii_case("stale-while-revalidate") {
                if d.stale_while_revalidate.is_none() {
                    d.stale_while_revalidate = arg.and_then(delta_seconds);
                }
            } else if name.eq_ignore_ascii_case("stale-if-error") {
                if d.stale_if_error.is_none() {
                    d.stale_if_error = arg.and_then(delta_seconds);
                }
            } else if name.eq_ignore_ascii_case("no-cache") {
                // Qualified forms (`no-cache="Set-Cookie"`) are treated like the plain one.
                d.no_cache = true;
            } else if name.eq_ignore_ascii_case("no-store") {
                d.no_store = true;
            } else if name.eq_ignore_ascii_case("private") {
                d.private = true;
            }
        }
    }
    d
}

/// How long after it expires a stored object may still be served (caching.md §3).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StaleWindows {
    /// `stale-while-revalidate`, capped by MaxTTL: served at once while one background
    /// revalidation runs. Zero without the directive.
    pub while_revalidate: Duration,
    /// `stale-if-error`, capped by MaxTTL: served when the origin is unreachable or answers
    /// 5xx. `None` without the directive (then the error's ErrorCachingMinTTL applies).
    pub if_error: Option<Duration>,
}

impl StaleWindows {
    /// How long after expiry the object is worth keeping: the larger window, where a missing
    /// `stale-if-error` counts as `default_if_error` (the longest ErrorCachingMinTTL a 5xx of
    /// the distribution can have).
    pub fn keep(&self, default_if_error: Duration) -> Duration {
        self.while_revalidate
            .max(self.if_error.unwrap_or(default_if_error))
    }
}

/// The stale windows a response's `Cache-Control` gives it, each capped by `bounds.max`.
/// Directives without a valid delta-seconds value are ignored.
pub fn stale_windows(headers: &HeaderMap, bounds: &TtlBounds) -> StaleWindows {
    let d = parse_cache_control(headers);
    let cap = |v: u64| secs(v).min(bounds.max);
    StaleWindows {
        while_revalidate: d.stale_while_revalidate.map_or(Duration::ZERO, cap),
        if_error: d.stale_if_error.map(cap),
    }
}

/// Seconds until `Expires`, zero if it is in the past or unparsable (RFC 9111 §5.3: an invalid
/// date, such as `0`, means already expired). `None` without an Expires header.
fn expires_in(now: SystemTime, headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::EXPIRES)?;
    let at = value.to_str().ok().and_then(super::date::parse_http_date);
    Some(
        at.and_then(|at| at.duration_since(now).ok())
            .unwrap_or(Duration::ZERO),
    )
}

/// The origin's `Age` (RFC 9111 §5.1): the first member of the first `Age` header, in seconds;
/// zero when there is none or it is not delta-seconds.
pub fn origin_age(headers: &HeaderMap) -> Duration {
    headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(delta_seconds)
        .map_or(Duration::ZERO, secs)
}

/// Whether a `Vary` header of the response lists `*`.
pub fn varies_on_everything(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|n| n.trim() == "*")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// How a status is treated.
enum Class {
    Regular,
    RegularWithCacheControl,
    ErrorAlways,
    ErrorWithMaxAge,
    Never,
}

fn classify(status: StatusCode) -> Class {
    match status.as_u16() {
        200 | 203 | 300 | 301 | 302 | 303 | 410 => Class::Regular,
        307 | 308 => Class::RegularWithCacheControl,
        404 | 414 | 500 | 501 | 502 | 503 | 504 => Class::ErrorAlways,
        400 | 403 | 405 | 412 | 415 => Class::ErrorWithMaxAge,
        _ => Class::Never,
    }
}

fn store(ttl: Duration) -> Storage {
    if ttl.is_zero() {
        Storage::DoNotStore
    } else {
        Storage::Store { ttl }
    }
}

/// Whether an answer forbids collapsing the misses of its object (caching.md §12): MinTTL 0
/// and `private`, `no-store`, `no-cache`, `max-age=0` or `s-maxage=0`.
pub fn forbids_collapsing(headers: &HeaderMap, bounds: &TtlBounds) -> bool {
    if !bounds.min.is_zero() {
        return false;
    }
    let d = parse_cache_control(headers);
    d.forbids() || d.max_age == Some(0) || d.s_maxage == Some(0)
}

/// Decides whether a response with `status` and `headers`, received at `now`, is stored and for
/// how long. `error_caching_min_ttl` is the distribution's ErrorCachingMinTTL for this status
/// (`None`: the 10 s default). See the module documentation for the rules.
pub fn decide(
    now: SystemTime,
    status: StatusCode,
    headers: &HeaderMap,
    bounds: &TtlBounds,
    error_caching_min_ttl: Option<Duration>,
) -> Storage {
    if bounds.caching_disabled() {
        return Storage::DoNotStore;
    }
    if varies_on_everything(headers) {
        return Storage::DoNotStore;
    }
    let d = parse_cache_control(headers);
    let age = origin_age(headers);
    let class = classify(status);
    match class {
        Class::Never => Storage::DoNotStore,
        Class::RegularWithCacheControl if !d.has_cache_control => Storage::DoNotStore,
        Class::Regular | Class::RegularWithCacheControl => {
            if d.forbids() {
                return store(bounds.min);
            }
            let v = d
                .s_maxage
                .or(d.max_age)
                .map(|v| secs(v).saturating_sub(age))
                .or_else(|| expires_in(now, headers));
            let ttl = match v {
                Some(v) => v.max(bounds.min).min(bounds.max),
                None => bounds.min.max(bounds.default.saturating_sub(age)),
            };
            store(ttl)
        }
        Class::ErrorAlways | Class::ErrorWithMaxAge => {
            let explicit = d.s_maxage.or(d.max_age).map(secs);
            let remaining = explicit.map(|v| v.saturating_sub(age));
            if matches!(class, Class::ErrorWithMaxAge) && explicit.is_none() {
                return Storage::DoNotStore;
            }
            if status == StatusCode::NOT_IMPLEMENTED && d.forbids() {
                return Storage::DoNotStore;
            }
            let floor = error_caching_min_ttl.unwrap_or(DEFAULT_ERROR_CACHING_MIN_TTL);
            let v = remaining
                .or_else(|| expires_in(now, headers))
                .map(|v| v.min(bounds.max));
            store(v.map_or(floor, |v| v.max(floor)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn hdrs(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn expires_at(delta: i64) -> String {
        let t = if delta >= 0 {
            now() + Duration::from_secs(delta as u64)
        } else {
            now() - Duration::from_secs((-delta) as u64)
        };
        httpdate::fmt_http_date(t)
    }

    fn b(min: u64, default: u64, max: u64) -> TtlBounds {
        TtlBounds {
            min: secs(min),
            default: secs(default),
            max: secs(max),
        }
    }

    fn ok(pairs: &[(&str, &str)], bounds: TtlBounds) -> Storage {
        decide(now(), StatusCode::OK, &hdrs(pairs), &bounds, None)
    }

    fn st(s: u64) -> Storage {
        Storage::Store { ttl: secs(s) }
    }

    // §2.2 row "max-age", MinTTL = 0: lesser of max-age and MaxTTL.
    #[test]
    fn max_age_with_min_zero() {
        assert_eq!(
            ok(&[("cache-control", "max-age=600")], b(0, 86400, 3600)),
            st(600)
        );
        assert_eq!(
            ok(&[("cache-control", "max-age=7200")], b(0, 86400, 3600)),
            st(3600)
        );
    }

    // §2.2 row "max-age", MinTTL > 0: clamp into [Min, Max].
    #[test]
    fn max_age_with_min_positive() {
        let bounds = b(100, 86400, 1000);
        assert_eq!(ok(&[("cache-control", "max-age=500")], bounds), st(500));
        assert_eq!(ok(&[("cache-control", "max-age=50")], bounds), st(100));
        assert_eq!(ok(&[("cache-control", "max-age=5000")], bounds), st(1000));
    }

    // §2.2 row "none of max-age, s-maxage, Expires".
    #[test]
    fn no_headers_uses_default() {
        assert_eq!(ok(&[], b(0, 86400, 31_536_000)), st(86400));
        // Min > 0: greater of Min and Default.
        assert_eq!(ok(&[], b(500, 100, 1000)), st(500));
        assert_eq!(ok(&[], b(50, 100, 1000)), st(100));
        // Unrelated directives do not count as TTL headers.
        assert_eq!(
            ok(
                &[("cache-control", "public, must-revalidate")],
                b(0, 300, 1000)
            ),
            st(300)
        );
    }

    // §2.2 row "max-age and s-maxage": s-maxage wins, clamped.
    #[test]
    fn s_maxage_wins_over_max_age() {
        let h = [("cache-control", "max-age=10, s-maxage=900")];
        assert_eq!(ok(&h, b(0, 86400, 3600)), st(900));
        assert_eq!(ok(&h, b(0, 86400, 600)), st(600));
        assert_eq!(
            ok(
                &[("cache-control", "s-maxage=5, max-age=10")],
                b(60, 86400, 600)
            ),
            st(60)
        );
    }

    // §2.2 row "Expires".
    #[test]
    fn expires_rows() {
        let e = expires_at(1200);
        assert_eq!(ok(&[("expires", &e)], b(0, 86400, 3600)), st(1200));
        assert_eq!(ok(&[("expires", &e)], b(0, 86400, 600)), st(600));
        assert_eq!(ok(&[("expires", &e)], b(2000, 86400, 5000)), st(2000));
        // In the past or invalid: expired now; stored only when MinTTL > 0.
        assert_eq!(
            ok(&[("expires", &expires_at(-10))], b(0, 86400, 3600)),
            Storage::DoNotStore
        );
        assert_eq!(
            ok(&[("expires", "0")], b(0, 86400, 3600)),
            Storage::DoNotStore
        );
        assert_eq!(ok(&[("expires", "0")], b(30, 86400, 3600)), st(30));
    }

    // §2.3: with both max-age and Expires, only max-age counts.
    #[test]
    fn max_age_beats_expires() {
        let e = expires_at(5000);
        assert_eq!(
            ok(
                &[("cache-control", "max-age=60"), ("expires", &e)],
                b(0, 86400, 86400)
            ),
            st(60)
        );
    }

    // §2.2 row "no-cache, no-store and/or private".
    #[test]
    fn no_cache_family() {
        for cc in [
            "no-cache",
            "no-store",
            "private",
            "max-age=600, private",
            "no-cache=\"set-cookie, x\"",
        ] {
            assert_eq!(
                ok(&[("cache-control", cc)], b(0, 86400, 3600)),
                Storage::DoNotStore,
                "{cc}"
            );
            assert_eq!(
                ok(&[("cache-control", cc)], b(45, 86400, 3600)),
                st(45),
                "{cc}"
            );
        }
    }

    #[test]
    fn max_age_zero() {
        assert_eq!(
            ok(&[("cache-control", "max-age=0")], b(0, 86400, 3600)),
            Storage::DoNotStore
        );
        assert_eq!(
            ok(
                &[("cache-control", "s-maxage=0, max-age=60")],
                b(0, 86400, 3600)
            ),
            Storage::DoNotStore
        );
        assert_eq!(
            ok(&[("cache-control", "max-age=0")], b(5, 86400, 3600)),
            st(5)
        );
    }

    #[test]
    fn cache_control_parsing_edge_cases() {
        // Case-insensitive names, spaces, quoted values, several header lines, huge values.
        assert_eq!(
            ok(
                &[
                    ("cache-control", "Public"),
                    ("cache-control", " MAX-AGE = \"120\" ")
                ],
                b(0, 1, 3600)
            ),
            st(120)
        );
        assert_eq!(
            ok(
                &[("cache-control", "max-age=99999999999999999999999")],
                b(0, 1, 3600)
            ),
            st(3600)
        );
        // Invalid max-age is ignored: the default applies.
        assert_eq!(
            ok(&[("cache-control", "max-age=abc")], b(0, 77, 3600)),
            st(77)
        );
        assert_eq!(
            ok(&[("cache-control", "max-age=-5")], b(0, 77, 3600)),
            st(77)
        );
        // A comma inside quotes does not split directives.
        assert_eq!(
            ok(
                &[("cache-control", "ext=\"a,max-age=5\", max-age=9")],
                b(0, 77, 3600)
            ),
            st(9)
        );
    }

    #[test]
    fn caching_disabled_stores_nothing() {
        for status in [200, 404, 500, 403] {
            let s = decide(
                now(),
                StatusCode::from_u16(status).unwrap(),
                &hdrs(&[("cache-control", "max-age=600")]),
                &TtlBounds::DISABLED,
                Some(secs(300)),
            );
            assert_eq!(s, Storage::DoNotStore, "{status}");
        }
    }

    #[test]
    fn redirects_and_other_statuses() {
        let bounds = b(0, 100, 3600);
        let d = |status: u16, pairs: &[(&str, &str)]| {
            decide(
                now(),
                StatusCode::from_u16(status).unwrap(),
                &hdrs(pairs),
                &bounds,
                None,
            )
        };
        for status in [203, 300, 301, 302, 303, 410] {
            assert_eq!(d(status, &[]), st(100), "{status}");
            assert_eq!(d(status, &[("cache-control", "max-age=30")]), st(30));
            assert_eq!(
                d(status, &[("cache-control", "no-store")]),
                Storage::DoNotStore
            );
        }
        // 307/308 only with Cache-Control.
        assert_eq!(d(307, &[]), Storage::DoNotStore);
        assert_eq!(d(308, &[("expires", &expires_at(50))]), Storage::DoNotStore);
        assert_eq!(d(307, &[("cache-control", "max-age=30")]), st(30));
        assert_eq!(d(308, &[("cache-control", "public")]), st(100));
        for status in [201, 204, 206, 304, 401, 416, 429, 505] {
            assert_eq!(
                d(status, &[("cache-control", "max-age=30")]),
                Storage::DoNotStore,
                "{status}"
            );
        }
    }

    // §4: 404, 414, 500-504 are cached whatever the headers, for 10 s by default.
    #[test]
    fn collapsing_forbidden_only_under_min_ttl_0() {
        let zero = TtlBounds {
            min: Duration::ZERO,
            ..TtlBounds::default()
        };
        for cc in [
            "private",
            "no-store",
            "no-cache",
            "max-age=0",
            "s-maxage=0, max-age=60",
        ] {
            let h = hdrs(&[("cache-control", cc)]);
            assert!(forbids_collapsing(&h, &zero), "{cc}");
            let one = TtlBounds {
                min: Duration::from_secs(1),
                ..zero
            };
            assert!(!forbids_collapsing(&h, &one), "{cc}");
        }
        for cc in ["max-age=60", "public", "must-revalidate"] {
            assert!(
                !forbids_collapsing(&hdrs(&[("cache-control", cc)]), &zero),
                "{cc}"
            );
        }
        assert!(!forbids_collapsing(&HeaderMap::new(), &zero));
    }

    #[test]
    fn errors_always_cached() {
        let bounds = b(0, 86400, 31_536_000);
        for status in [404, 414, 500, 501, 502, 503, 504] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                decide(now(), s, &HeaderMap::new(), &bounds, None),
                st(10),
                "{status}"
            );
            assert_eq!(
                decide(now(), s, &HeaderMap::new(), &bounds, Some(secs(60))),
                st(60),
                "{status}"
            );
            // Zero ErrorCachingMinTTL and no headers: not cached.
            assert_eq!(
                decide(now(), s, &HeaderMap::new(), &bounds, Some(Duration::ZERO)),
                Storage::DoNotStore
            );
            // Other directives: the minimum.
            let h = hdrs(&[("cache-control", "must-revalidate")]);
            assert_eq!(decide(now(), s, &h, &bounds, Some(secs(20))), st(20));
        }
    }

    // §4: duration = max(ErrorCachingMinTTL, max-age / s-maxage / Expires), capped by MaxTTL.
    #[test]
    fn error_duration_from_headers() {
        let bounds = b(0, 86400, 600);
        let d = |pairs: &[(&str, &str)], min: Option<Duration>| {
            decide(now(), StatusCode::NOT_FOUND, &hdrs(pairs), &bounds, min)
        };
        assert_eq!(d(&[("cache-control", "max-age=300")], None), st(300));
        assert_eq!(d(&[("cache-control", "max-age=3")], None), st(10));
        assert_eq!(
            d(
                &[("cache-control", "s-maxage=120, max-age=3")],
                Some(secs(5))
            ),
            st(120)
        );
        assert_eq!(d(&[("cache-control", "max-age=3000")], None), st(600));
        assert_eq!(d(&[("expires", &expires_at(200))], None), st(200));
        // no-store on a 404 is not honoured: ErrorCachingMinTTL applies.
        assert_eq!(d(&[("cache-control", "no-store")], None), st(10));
    }

    // §4: 400, 403, 405, 412, 415 only with max-age or s-maxage.
    #[test]
    fn errors_cached_only_with_max_age() {
        let bounds = b(0, 86400, 31_536_000);
        for status in [400, 403, 405, 412, 415] {
            let s = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                decide(now(), s, &HeaderMap::new(), &bounds, None),
                Storage::DoNotStore,
                "{status}"
            );
            let e = hdrs(&[("expires", &expires_at(300))]);
            assert_eq!(
                decide(now(), s, &e, &bounds, None),
                Storage::DoNotStore,
                "{status}"
            );
            let h = hdrs(&[("cache-control", "max-age=120")]);
            assert_eq!(decide(now(), s, &h, &bounds, None), st(120), "{status}");
            let h = hdrs(&[("cache-control", "s-maxage=2")]);
            assert_eq!(
                decide(now(), s, &h, &bounds, Some(secs(30))),
                st(30),
                "{status}"
            );
        }
    }

    // RFC 9111 §4.2.3: the origin's Age is time already spent in caches.
    #[test]
    fn origin_age_counts() {
        let bounds = b(0, 600, 3600);
        let cc = ("cache-control", "max-age=100");
        assert_eq!(ok(&[cc, ("age", "30")], bounds), st(70));
        // Stale on arrival: not stored with MinTTL 0, kept for MinTTL otherwise.
        assert_eq!(ok(&[cc, ("age", "100")], bounds), Storage::DoNotStore);
        assert_eq!(ok(&[cc, ("age", "5000")], bounds), Storage::DoNotStore);
        assert_eq!(ok(&[cc, ("age", "5000")], b(20, 600, 3600)), st(20));
        // s-maxage the same way; MaxTTL caps what is left.
        let s = ("cache-control", "s-maxage=5000, max-age=1");
        assert_eq!(ok(&[s, ("age", "1000")], bounds), st(3600));
        assert_eq!(ok(&[s, ("age", "4000")], bounds), st(1000));
        // The DefaultTTL is a lifetime too.
        assert_eq!(ok(&[("age", "100")], bounds), st(500));
        // Expires is absolute: Age does not shorten it again.
        let e = expires_at(300);
        assert_eq!(ok(&[("expires", &e), ("age", "100")], bounds), st(300));
        // Invalid Age values count as none; a list counts by its first member.
        for bad in ["-5", "abc", "1.5", ""] {
            assert_eq!(ok(&[cc, ("age", bad)], bounds), st(100), "{bad:?}");
        }
        assert_eq!(ok(&[cc, ("age", "10, 50")], bounds), st(90));
        // Errors: what is left, floored by ErrorCachingMinTTL.
        let h = hdrs(&[("cache-control", "max-age=300"), ("age", "200")]);
        let d = decide(now(), StatusCode::NOT_FOUND, &h, &bounds, Some(secs(30)));
        assert_eq!(d, st(100));
        let h = hdrs(&[("cache-control", "max-age=300"), ("age", "290")]);
        let d = decide(now(), StatusCode::NOT_FOUND, &h, &bounds, Some(secs(30)));
        assert_eq!(d, st(30));
    }

    #[test]
    fn vary_star_is_never_stored() {
        let bounds = b(60, 600, 3600);
        for vary in ["*", "Accept-Encoding, *", " * "] {
            let h = [("cache-control", "max-age=100"), ("vary", vary)];
            assert_eq!(ok(&h, bounds), Storage::DoNotStore, "{vary}");
        }
        let h = hdrs(&[("vary", "*")]);
        let d = decide(now(), StatusCode::NOT_FOUND, &h, &bounds, None);
        assert_eq!(d, Storage::DoNotStore);
        assert_eq!(ok(&[("vary", "Accept-Encoding, X-Star*")], bounds), st(600));
    }

    // RFC 9110 §5.6.7 dates are read leniently (crate::cache::date).
    #[test]
    fn lenient_expires() {
        let bounds = b(0, 86400, 86400);
        // now() is Tue, 14 Nov 2023 22:13:20 GMT.
        for e in [
            "Tue, 14 Nov 2023 22:23:20 GMT",
            "Mon, 14 Nov 2023 22:23:20 GMT",
            "tue, 14 nov 2023 22:23:20 gmt",
            "Tuesday, 14-Nov-23 22:23:20 GMT",
            "Tue Nov 14 22:23:20 2023",
            "Tue,  14  Nov 2023  22:23:20 GMT",
        ] {
            assert_eq!(ok(&[("expires", e)], bounds), st(600), "{e:?}");
        }
        // Not a date at all: already expired.
        assert_eq!(
            ok(&[("expires", "Tue, 14 Nov 2023 25:23:20 GMT")], bounds),
            Storage::DoNotStore
        );
    }

    // §4: 416 is never cached.
    #[test]
    fn range_not_satisfiable_never_cached() {
        let h = hdrs(&[("cache-control", "max-age=600")]);
        let s = decide(
            now(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            &h,
            &b(60, 86400, 3600),
            Some(secs(60)),
        );
        assert_eq!(s, Storage::DoNotStore);
    }

    // §3: stale-while-revalidate and stale-if-error, capped by MaxTTL.
    #[test]
    fn stale_directives() {
        let bounds = b(0, 86400, 1000);
        let none = StaleWindows::default();
        let w = |swr: u64, sie: Option<u64>| StaleWindows {
            while_revalidate: secs(swr),
            if_error: sie.map(secs),
        };
        let table: &[(&[&str], StaleWindows)] = &[
            (&[], none),
            (&["max-age=60"], none),
            (&["max-age=60, stale-while-revalidate=30"], w(30, None)),
            (&["stale-if-error=120"], w(0, Some(120))),
            (
                &["max-age=1, stale-while-revalidate=5, stale-if-error=7"],
                w(5, Some(7)),
            ),
            // Case, spaces and quotes as for max-age; several header lines.
            (
                &["Stale-While-Revalidate = \"40\"", "STALE-IF-ERROR=50"],
                w(40, Some(50)),
            ),
            // stale-if-error=0 turns serving stale on errors off.
            (&["stale-if-error=0"], w(0, Some(0))),
            // Capped by MaxTTL; huge values saturate and are capped too.
            (
                &["stale-while-revalidate=5000, stale-if-error=99999999999999999999999"],
                w(1000, Some(1000)),
            ),
            // Invalid values and bare names are ignored; the first valid occurrence wins.
            (&["stale-while-revalidate=abc, stale-if-error"], none),
            (&["stale-while-revalidate=-1"], none),
            (
                &["stale-while-revalidate=10, stale-while-revalidate=20"],
                w(10, None),
            ),
            // Inside a quoted string it is not a directive.
            (&["ext=\"a, stale-if-error=9\""], none),
        ];
        for (lines, want) in table {
            let pairs: Vec<(&str, &str)> = lines.iter().map(|l| ("cache-control", *l)).collect();
            assert_eq!(stale_windows(&hdrs(&pairs), &bounds), *want, "{lines:?}");
        }
        // The directives do not change the TTL.
        assert_eq!(
            ok(
                &[("cache-control", "max-age=60, stale-while-revalidate=30")],
                bounds
            ),
            st(60)
        );
    }

    #[test]
    fn stale_keep_is_the_larger_window() {
        let ten = secs(10);
        let w = |swr: u64, sie: Option<u64>| StaleWindows {
            while_revalidate: secs(swr),
            if_error: sie.map(secs),
        };
        assert_eq!(w(0, None).keep(ten), ten);
        assert_eq!(w(30, None).keep(ten), secs(30));
        assert_eq!(w(3, Some(0)).keep(ten), secs(3));
        assert_eq!(w(3, Some(60)).keep(ten), secs(60));
        assert_eq!(w(0, Some(0)).keep(ten), Duration::ZERO);
    }

    // §2.3: 501 with no-cache/no-store/private is not cached even with MinTTL > 0.
    #[test]
    fn not_implemented_with_no_cache() {
        for cc in ["no-cache", "no-store", "private"] {
            let h = hdrs(&[("cache-control", cc)]);
            let s = decide(
                now(),
                StatusCode::NOT_IMPLEMENTED,
                &h,
                &b(60, 86400, 3600),
                None,
            );
            assert_eq!(s, Storage::DoNotStore, "{cc}");
        }
    }
}
