//! Origin-facing and cache-facing header rules through the real server: Set-Cookie and Vary by
//! what a behavior forwards, Host, legacy `ForwardedValues` `*`, the origin's Age, 304 refreshes
//! and lenient HTTP dates (caching.md §2, §8, §9, §11; RFC 9111).

use std::time::{Duration, SystemTime};

use crate::common::origin::TestOrigin;
use crate::common::*;

/// Behaviors of the test distribution, on one custom origin:
/// - default: CachingOptimized (MinTTL 1), nothing forwarded;
/// - `/allviewer/*`: CachingOptimized + AllViewer; `/except-host/*`: + AllViewerExceptHostHeader;
///   `/cors/*`: + CORS-CustomOrigin (forwards `Origin`);
/// - legacy ForwardedValues, MinTTL 0: `/legacy/*` nothing forwarded, `/legacy-cookies/*` all
///   cookies, `/legacy-host/*` header `Host`, `/legacy-all/*` headers `*`.
fn config(port: u16) -> String {
    let legacy = |path: &str, cookies: &str, headers: &str| {
        format!(
            r#"
[[distributions.cache_behaviors]]
path_pattern = "{path}"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
min_ttl = 0
default_ttl = 86400
max_ttl = 31536000
forwarded_values = {{ query_string = false, cookies = {{ forward = "{cookies}" }}, headers = [{headers}] }}
"#
        )
    };
    let with_orp = |path: &str, orp: &str| {
        format!(
            r#"
[[distributions.cache_behaviors]]
path_pattern = "{path}"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
origin_request_policy_id = "{orp}"
"#
        )
    };
    format!(
        r#"
[[distributions]]
id = "EHDRS0000001"
domain_name = "{HOST}"
caller_reference = "headers"
comment = "headers"
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
{}{}{}{}{}{}{}
"#,
        with_orp("/allviewer/*", "216adef6-5c7f-47e4-b989-5492eafa07d3"),
        with_orp("/except-host/*", "b689b0a8-53d0-40ab-baf2-68738e2966ac"),
        with_orp("/cors/*", "59781a5b-3903-41f3-afcb-af62929ccde1"),
        legacy("/legacy/*", "none", ""),
        legacy("/legacy-cookies/*", "all", ""),
        legacy("/legacy-host/*", "none", "\"Host\""),
        legacy("/legacy-all/*", "none", "\"*\""),
    )
}

async fn setup() -> (TestEdge, TestOrigin) {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    (edge, origin)
}

fn set_cookies(r: &Resp) -> Vec<&str> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Problem 1: Set-Cookie is kept exactly when the behavior forwards cookies (legacy
/// ForwardedValues or an origin request policy), on the miss and on the hit.
#[tokio::test]
async fn set_cookie_is_kept_when_cookies_are_forwarded() {
    let (edge, origin) = setup().await;
    let cookies = [("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2")];
    for prefix in ["/legacy-cookies/", "/allviewer/", "/legacy/", "/plain/"] {
        let mut h = vec![("cache-control", "max-age=600")];
        h.extend(cookies);
        origin.program(prefix, 200, &h);
    }
    for path in ["/legacy-cookies/x", "/allviewer/x"] {
        let miss = get(edge.viewer, HOST, path).await;
        assert_eq!(
            miss.header("x-cache"),
            Some("Miss from cloudfront"),
            "{path}"
        );
        assert_eq!(set_cookies(&miss), ["a=1; Path=/", "b=2"], "{path}");
        let hit = get(edge.viewer, HOST, path).await;
        assert_eq!(hit.header("x-cache"), Some("Hit from cloudfront"), "{path}");
        assert_eq!(set_cookies(&hit), ["a=1; Path=/", "b=2"], "{path}");
    }
    // The viewer's cookies reach the origin on those behaviors.
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/legacy-cookies/y",
        &[("cookie", "session=s1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(origin.last().headers["cookie"], "session=s1");
    // Without cookie forwarding, no Set-Cookie, cached or not.
    for path in ["/legacy/x", "/plain/x"] {
        for _ in 0..2 {
            let r = get(edge.viewer, HOST, path).await;
            assert_eq!(r.status, 200);
            assert!(set_cookies(&r).is_empty(), "{path}: {:?}", r.headers);
        }
    }
    edge.stop().await;
}

/// Problem 2: Vary keeps Accept-Encoding, Cookie when cookies are forwarded, and forwarded
/// headers; `Vary: *` is never served from the cache.
#[tokio::test]
async fn vary_keeps_forwarded_headers_and_star_is_never_cached() {
    let (edge, origin) = setup().await;
    let vary = [
        ("cache-control", "max-age=600"),
        ("vary", "Accept-Encoding, Origin, Cookie"),
        ("vary", "X-Other"),
    ];
    for prefix in ["/cors/", "/plain/", "/legacy-cookies/"] {
        origin.program(prefix, 200, &vary);
    }
    for (path, expected) in [
        ("/cors/v", "Accept-Encoding, Origin"),
        ("/plain/v", "Accept-Encoding"),
        ("/legacy-cookies/v", "Accept-Encoding, Cookie"),
    ] {
        for x_cache in ["Miss from cloudfront", "Hit from cloudfront"] {
            let r = get(edge.viewer, HOST, path).await;
            assert_eq!(r.header("x-cache"), Some(x_cache), "{path}");
            let got: Vec<_> = r.headers.get_all("vary").iter().collect();
            assert_eq!(got, [expected], "{path}");
        }
    }
    // The CORS behavior forwards Origin.
    send(
        edge.viewer,
        "GET",
        HOST,
        "/cors/other",
        &[("origin", "https://a.example")],
        b"",
    )
    .await;
    assert_eq!(origin.last().headers["origin"], "https://a.example");

    origin.program(
        "/plain/star",
        200,
        &[("cache-control", "max-age=600"), ("vary", "*")],
    );
    for _ in 0..3 {
        let r = get(edge.viewer, HOST, "/plain/star").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
        assert_eq!(r.header("vary"), Some("*"));
    }
    assert_eq!(
        origin.hits_for("/plain/star"),
        3,
        "every request goes to the origin"
    );
    edge.stop().await;
}

/// Problem 3: the viewer's Host reaches a custom origin when the behavior forwards it;
/// otherwise the origin's own domain is sent.
#[tokio::test]
async fn host_is_forwarded_when_the_policy_includes_it() {
    let (edge, origin) = setup().await;
    let own = format!("localhost:{}", origin.addr.port());
    for (path, expected) in [
        ("/allviewer/h", HOST.to_owned()),
        ("/legacy-host/h", HOST.to_owned()),
        ("/legacy-all/h", HOST.to_owned()),
        ("/except-host/h", own.clone()),
        ("/plain/h", own.clone()),
        ("/legacy/h", own.clone()),
    ] {
        let r = get(edge.viewer, HOST, path).await;
        assert_eq!(r.status, 200, "{path}");
        let seen = origin.seen_for(path);
        assert_eq!(seen.len(), 1, "{path}");
        assert_eq!(seen[0].headers["host"], expected.as_str(), "{path}");
    }
    edge.stop().await;
}

/// Problem 4: legacy ForwardedValues `Headers: ["*"]` forwards every viewer header and caches
/// nothing.
#[tokio::test]
async fn legacy_forward_all_headers_forwards_everything_and_caches_nothing() {
    let (edge, origin) = setup().await;
    origin.program("/legacy-all/", 200, &[("cache-control", "max-age=600")]);
    let viewer = [
        ("x-custom", "1"),
        ("accept-language", "fr"),
        ("referer", "https://r.example/"),
        ("user-agent", "test-agent"),
        ("accept-encoding", "gzip, deflate"),
    ];
    for _ in 0..2 {
        let r = send(edge.viewer, "GET", HOST, "/legacy-all/a", &viewer, b"").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
        let seen = origin.last();
        for (k, v) in viewer {
            assert_eq!(seen.headers[k], v, "{k}");
        }
    }
    assert_eq!(origin.hits_for("/legacy-all/a"), 2, "nothing is cached");
    edge.stop().await;
}

/// Problem 5: the origin's Age counts in freshness and in the Age viewers see.
#[tokio::test]
async fn origin_age_counts_in_freshness_and_in_age() {
    let (edge, origin) = setup().await;
    origin.program(
        "/legacy/stale",
        200,
        &[("cache-control", "max-age=100"), ("age", "100")],
    );
    origin.program(
        "/legacy/aged",
        200,
        &[("cache-control", "max-age=600"), ("age", "50")],
    );
    // Stale on arrival: not stored (MinTTL 0).
    for _ in 0..2 {
        let r = get(edge.viewer, HOST, "/legacy/stale").await;
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    }
    assert_eq!(origin.hits_for("/legacy/stale"), 2);
    // Fresh: the hit's Age is the origin's plus the time in this cache.
    let miss = get(edge.viewer, HOST, "/legacy/aged").await;
    assert_eq!(
        miss.header("age"),
        Some("50"),
        "the origin's Age passes on a miss"
    );
    let hit = get(edge.viewer, HOST, "/legacy/aged").await;
    assert_eq!(hit.header("x-cache"), Some("Hit from cloudfront"));
    let age: u64 = hit.header("age").unwrap().parse().unwrap();
    assert!((50..55).contains(&age), "Age {age}");
    assert_eq!(origin.hits_for("/legacy/aged"), 1);
    edge.stop().await;
}

/// Problem 6: a 304 from the origin updates every stored header it carries (but not
/// Content-Length), and the refreshed object is served from then on.
#[tokio::test]
async fn a_304_refreshes_every_header_it_carries() {
    let origin = TestOrigin::start().await;
    let clock = edgegate::clock::ManualClock::new();
    let edge = TestEdge::start_clocked(&config(origin.addr.port()), clock.clone()).await;
    origin.program(
        "/plain/r",
        200,
        &[
            ("content-type", "text/plain"),
            ("cache-control", "max-age=1"),
            ("etag", "\"r1\""),
            ("x-version", "1"),
            ("x-kept", "k"),
        ],
    );
    let first = get(edge.viewer, HOST, "/plain/r").await;
    assert_eq!(first.header("x-version"), Some("1"));
    origin.program_revalidation(
        "/plain/r",
        &[
            ("cache-control", "max-age=600"),
            ("etag", "\"r1\""),
            ("x-version", "2"),
            ("x-added", "yes"),
            ("content-length", "0"),
        ],
    );
    // The stored object has a one-second lifetime (MinTTL 1): the edge's clock moves past it.
    clock.advance(Duration::from_secs(2));
    let refreshed = get(edge.viewer, HOST, "/plain/r").await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(
        refreshed.header("x-cache"),
        Some("RefreshHit from cloudfront")
    );
    let seen = origin.last();
    assert_eq!(seen.headers["if-none-match"], "\"r1\"");
    for r in [&refreshed, &get(edge.viewer, HOST, "/plain/r").await] {
        assert_eq!(r.text(), "origin:/plain/r");
        assert_eq!(r.header("x-version"), Some("2"));
        assert_eq!(r.header("x-added"), Some("yes"));
        assert_eq!(r.header("x-kept"), Some("k"));
        assert_eq!(r.header("cache-control"), Some("max-age=600"));
        assert_eq!(r.header("content-length"), Some("15"));
    }
    assert_eq!(
        origin.hits_for("/plain/r"),
        2,
        "the refreshed copy is fresh"
    );
    edge.stop().await;
}

/// An HTTP date as an origin with a sloppy clock library writes it: the weekday wrong, the
/// month and zone in lower case, extra spaces.
fn sloppy_date(t: SystemTime) -> String {
    let proper = httpdate::fmt_http_date(t);
    let (weekday, rest) = proper.split_once(", ").unwrap();
    let wrong = if weekday == "Mon" { "Tue" } else { "Mon" };
    format!("{wrong},  {}", rest.to_ascii_lowercase())
}

/// Problem 7: Expires and If-Modified-Since are read leniently; an Expires that is no date at
/// all means already expired.
#[tokio::test]
async fn http_dates_are_read_leniently() {
    let (edge, origin) = setup().await;
    let expires = sloppy_date(SystemTime::now() + Duration::from_secs(600));
    origin.program(
        "/legacy/sloppy",
        200,
        &[
            ("expires", &expires),
            ("last-modified", "Mon, 02 Jan 2023 03:04:05 GMT"),
        ],
    );
    origin.program("/legacy/garbage", 200, &[("expires", "soon")]);
    let miss = get(edge.viewer, HOST, "/legacy/sloppy").await;
    assert_eq!(miss.header("expires"), Some(expires.as_str()));
    let hit = get(edge.viewer, HOST, "/legacy/sloppy").await;
    assert_eq!(
        hit.header("x-cache"),
        Some("Hit from cloudfront"),
        "Expires {expires:?} is in the future"
    );
    assert_eq!(origin.hits_for("/legacy/sloppy"), 1);
    // A lenient If-Modified-Since is answered from the cache.
    for ims in [
        "tue, 02 jan 2023 03:04:05 gmt",
        "Monday, 02-Jan-23 03:04:05 GMT",
        "Mon Jan  2 03:04:05 2023",
    ] {
        let r = send(
            edge.viewer,
            "GET",
            HOST,
            "/legacy/sloppy",
            &[("if-modified-since", ims)],
            b"",
        )
        .await;
        assert_eq!(r.status, 304, "{ims}");
    }
    // Not a date: already expired, so not stored with MinTTL 0.
    for _ in 0..2 {
        let r = get(edge.viewer, HOST, "/legacy/garbage").await;
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    }
    edge.stop().await;
}

/// Problem 3, S3 side: an S3 origin always gets the bucket endpoint's own Host (which SigV4
/// signs), even when the behavior forwards every viewer header. Here a loopback server stands
/// in for the S3 endpoint.
#[tokio::test]
async fn s3_origins_get_their_own_host_even_with_all_viewer() {
    let origin = TestOrigin::start().await;
    let endpoint = format!("127.0.0.1:{}", origin.addr.port());
    let config = format!(
        r#"
s3_endpoint = "http://{endpoint}"

[[distributions]]
id = "EHDRS0000002"
domain_name = "{HOST}"
caller_reference = "headers-s3"
comment = "headers-s3"
enabled = true

[[distributions.origins]]
id = "bucket"
domain_name = "media.s3.amazonaws.com"
s3_origin_config = {{ origin_access_identity = "" }}

[distributions.default_cache_behavior]
target_origin_id = "bucket"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
origin_request_policy_id = "216adef6-5c7f-47e4-b989-5492eafa07d3"
"#
    );
    let edge = TestEdge::start(&config).await;
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/k.txt",
        &[("x-custom", "1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = origin.last();
    assert_eq!(seen.path_and_query, "/media/k.txt");
    assert_eq!(seen.headers["host"], endpoint.as_str());
    assert_eq!(
        seen.headers["x-custom"], "1",
        "other viewer headers are forwarded"
    );
    edge.stop().await;
}
