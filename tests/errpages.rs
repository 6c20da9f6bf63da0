//! Custom error responses wherever CloudFront applies them (caching.md §18, §4): origin errors,
//! origin failures, geo refusals (tests/geo.rs) and refused signed URLs or cookies; CloudFront's
//! own page for requests it cannot serve as asked.

use std::time::Duration;

use edgegate::clock::ManualClock;

use crate::common::origin::TestOrigin;
use crate::common::*;

/// A distribution on `app_port` whose `/pages/*` behavior is served by the origin on
/// `pages_port`, with a restricted `/private/*` and custom error responses for 403 (page
/// `/pages/403.html`, status 403), 502 and 503 (page `/pages/5xx.html`, status 200;
/// ErrorCachingMinTTL 30 s for 503).
fn config(app_port: u16, pages_port: u16) -> String {
    format!(
        r#"
[[public_keys]]
id = "KTESTKEY00001"
name = "test-key"
encoded_key_file = "keys/demo-public.pem"

[[key_groups]]
id = "5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"
name = "test-group"
items = ["KTESTKEY00001"]

[[distributions]]
id = "ETEST0000001"
domain_name = "{HOST}"
caller_reference = "test"
comment = "test"
enabled = true
custom_error_responses = [
    {{ error_code = 403, response_page_path = "/pages/403.html", response_code = "403", error_caching_min_ttl = 0 }},
    {{ error_code = 502, response_page_path = "/pages/5xx.html", response_code = "200", error_caching_min_ttl = 0 }},
    {{ error_code = 503, response_page_path = "/pages/5xx.html", response_code = "200", error_caching_min_ttl = 30 }},
]

[[distributions.origins]]
id = "app"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {app_port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}

[[distributions.origins]]
id = "pages"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {pages_port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}

[distributions.default_cache_behavior]
target_origin_id = "app"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/pages/*"
target_origin_id = "pages"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/private/*"
target_origin_id = "app"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_key_groups = ["5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"]

[[distributions.cache_behaviors]]
path_pattern = "/secure/*"
target_origin_id = "app"
viewer_protocol_policy = "https-only"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
"#
    )
}

/// A refused signed URL or signed cookie is answered with the distribution's 403 page, fetched
/// through the behavior that matches the page's path (another origin) and cached there; the
/// refused object never reaches any origin.
#[tokio::test]
async fn a_refused_signed_url_gets_the_custom_page_and_never_reaches_the_origin() {
    let app = TestOrigin::start().await;
    let pages = TestOrigin::start().await;
    let edge = TestEdge::start(&config(app.addr.port(), pages.addr.port())).await;
    let refusals = [
        // No signature at all (MissingKey).
        ("/private/report.txt", vec![]),
        // A forged canned-policy signature (refused however it is read).
        (
            "/private/report.txt?Expires=4102444800&Signature=AAAA&Key-Pair-Id=KTESTKEY00001",
            vec![],
        ),
        // Signed cookies with an unknown key.
        (
            "/private/report.txt",
            vec![(
                "cookie",
                "CloudFront-Expires=4102444800; CloudFront-Signature=AAAA; CloudFront-Key-Pair-Id=KNOPE",
            )],
        ),
    ];
    for (path, headers) in &refusals {
        let r = send(edge.viewer, "GET", HOST, path, headers, b"").await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.text(), "origin:/pages/403.html", "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain"), "{path}");
        assert_eq!(r.header("x-cache"), Some("Error from cloudfront"), "{path}");
        assert!(
            !r.text().contains("<Code>"),
            "{path}: the XML refusal leaked"
        );
    }
    // The page came from the pages origin once (then from the cache); the app origin, which
    // holds the refused object, was never asked for anything.
    assert_eq!(pages.hits_for("/pages/403.html"), 1);
    assert_eq!(app.hits(), 0, "{:?}", app.seen_for("/"));
    edge.stop().await;
}

/// When the page cannot be fetched, the viewer gets what the page's origin answered, and still
/// not the refused object.
#[tokio::test]
async fn a_missing_page_gives_the_page_origins_status() {
    let app = TestOrigin::start().await;
    let pages = TestOrigin::start().await;
    pages.program("/pages/403.html", 404, &[("content-type", "text/plain")]);
    let edge = TestEdge::start(&config(app.addr.port(), pages.addr.port())).await;
    let r = get(edge.viewer, HOST, "/private/report.txt").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "origin:/pages/403.html");
    assert_eq!(app.hits(), 0);
    edge.stop().await;
}

/// An origin that cannot be reached (502, made by the edge) and an origin's 503 get the 5xx page
/// with the rule's code. The 503 is cached for its ErrorCachingMinTTL (30 s): the origin is
/// asked again only once the edge's clock has moved past it.
#[tokio::test]
async fn origin_failures_and_errors_get_their_pages_for_error_caching_min_ttl() {
    let pages = TestOrigin::start().await;
    // A port nothing listens on: bound, then closed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let edge = TestEdge::start(&config(closed, pages.addr.port())).await;
    let r = get(edge.viewer, HOST, "/down.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/pages/5xx.html");
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    edge.stop().await;

    let app = TestOrigin::start().await;
    let clock = ManualClock::new();
    let edge =
        TestEdge::start_clocked(&config(app.addr.port(), pages.addr.port()), clock.clone()).await;
    for _ in 0..2 {
        let r = get(edge.viewer, HOST, "/status/503/x").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "origin:/pages/5xx.html");
    }
    assert_eq!(app.hits_for("/status/503/x"), 1, "the 503 is cached");
    clock.advance(Duration::from_secs(29));
    get(edge.viewer, HOST, "/status/503/x").await;
    assert_eq!(app.hits_for("/status/503/x"), 1, "still within 30 s");
    clock.advance(Duration::from_secs(2));
    let r = get(edge.viewer, HOST, "/status/503/x").await;
    assert_eq!(r.text(), "origin:/pages/5xx.html");
    assert_eq!(app.hits_for("/status/503/x"), 2, "asked again after 30 s");
    edge.stop().await;
}

/// A request CloudFront cannot serve as asked keeps CloudFront's own page even with a 403 rule:
/// a method the behavior does not allow, a GET with a body, plain HTTP on an https-only
/// behavior.
#[tokio::test]
async fn requests_served_wrongly_keep_cloudfronts_page() {
    let app = TestOrigin::start().await;
    let pages = TestOrigin::start().await;
    let edge = TestEdge::start(&config(app.addr.port(), pages.addr.port())).await;
    let r = send(edge.viewer, "POST", HOST, "/a.txt", &[], b"x").await;
    assert_eq!(r.status, 403);
    assert!(
        r.text()
            .contains("not configured to allow the HTTP request method"),
        "{}",
        r.text()
    );
    let r = send(edge.viewer, "GET", HOST, "/a.txt", &[], b"body").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("The request could not be satisfied"));
    let r = get(edge.viewer, HOST, "/secure/x").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("only accepts HTTPS"), "{}", r.text());
    assert_eq!(pages.hits(), 0);
    assert_eq!(app.hits(), 0);
    edge.stop().await;
}

/// An origin that accepts connections and closes them at once; counts them.
async fn dropping_origin() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// The edge's 502 for an origin that fails is cached like an origin's 502 (caching.md §4): for
/// the 10 s default without a rule, not at all with an ErrorCachingMinTTL of 0.
#[tokio::test]
async fn an_origin_failure_is_cached_for_error_caching_min_ttl() {
    use std::sync::atomic::Ordering::SeqCst;
    let pages = TestOrigin::start().await;
    let (port, accepted) = dropping_origin().await;
    let clock = ManualClock::new();
    let no_502_rule = config(port, pages.addr.port()).replace(
        "    { error_code = 502, response_page_path = \"/pages/5xx.html\", response_code = \"200\", error_caching_min_ttl = 0 },\n",
        "",
    );
    assert!(!no_502_rule.contains("error_code = 502"));
    let edge = TestEdge::start_clocked(&no_502_rule, clock.clone()).await;
    let r = get(edge.viewer, HOST, "/down.txt").await;
    assert_eq!(r.status, 502);
    assert!(r.text().contains("The request could not be satisfied"));
    assert_eq!(accepted.load(SeqCst), 1);
    let r = get(edge.viewer, HOST, "/down.txt").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    assert_eq!(accepted.load(SeqCst), 1, "the 502 is cached for 10 s");
    clock.advance(Duration::from_secs(11));
    assert_eq!(get(edge.viewer, HOST, "/down.txt").await.status, 502);
    assert_eq!(accepted.load(SeqCst), 2, "asked again after 10 s");
    edge.stop().await;

    // ErrorCachingMinTTL 0 for 502: every request tries the origin (and gets the page).
    let edge = TestEdge::start(&config(port, pages.addr.port())).await;
    for n in 3..=4 {
        let r = get(edge.viewer, HOST, "/down.txt").await;
        assert_eq!(r.text(), "origin:/pages/5xx.html");
        assert_eq!(accepted.load(SeqCst), n);
    }
    edge.stop().await;
}
