//! Origin groups fail over as CloudFront documents (caching.md §16): a GET, HEAD or OPTIONS goes
//! on to the secondary origin when the primary answers one of the group's failover status codes,
//! cannot be connected to, or does not answer in time, whatever the status codes; other methods
//! stay with the primary. The secondary's answer is cached under the request's own key, and
//! `/metrics` counts the failovers. Every primary here really fails on loopback: a closed port,
//! an origin that never answers, an origin answering 500 or 503.

use crate::common::origin::{RefusedPort, SilentOrigin, TestOrigin};
use crate::common::{Resp, TestEdge, get, send};

const HOST: &str = "dfailover00001.cloudfront.localhost";
const DIST: &str = "EFAILOVER001";
/// CachingOptimized and CachingDisabled.
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";

/// A distribution whose behaviors all target origin groups of `primary` (port) then
/// `secondary` (port), both custom origins with one connection attempt and one-second timeouts:
/// - default behavior (cached): group `g500`, failover on 500 only;
/// - `/b/*` (cached): group `g503`, failover on 503 only;
/// - `/api/*` (not cached, every method): group `gapi`, failover on 500 and 503.
fn config(primary: u16, secondary: u16) -> String {
    let origin = |id: &str, port: u16| {
        format!(
            r#"
[[distributions.origins]]
id = "{id}"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 1
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 1 }}
"#
        )
    };
    let group = |id: &str, codes: &str| {
        format!(
            r#"
[[distributions.origin_groups]]
id = "{id}"
failover_criteria = {{ status_codes = [{codes}] }}
members = [{{ origin_id = "primary" }}, {{ origin_id = "secondary" }}]
"#
        )
    };
    format!(
        r#"
[[distributions]]
id = "{DIST}"
domain_name = "{HOST}"
caller_reference = "failover"
comment = "failover"
enabled = true
{primary_origin}
{secondary_origin}
{g500}
{g503}
{gapi}

[distributions.default_cache_behavior]
target_origin_id = "g500"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_OPTIMIZED}"

[[distributions.cache_behaviors]]
path_pattern = "/b/*"
target_origin_id = "g503"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_OPTIMIZED}"

[[distributions.cache_behaviors]]
path_pattern = "/api/*"
target_origin_id = "gapi"
viewer_protocol_policy = "allow-all"
cache_policy_id = "{CACHING_DISABLED}"
allowed_methods = {{ items = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"], cached_methods = ["GET", "HEAD"] }}
"#,
        primary_origin = origin("primary", primary),
        secondary_origin = origin("secondary", secondary),
        g500 = group("g500", "500"),
        g503 = group("g503", "503"),
        gapi = group("gapi", "500, 503"),
    )
}

fn x_cache(r: &Resp) -> &str {
    r.header("x-cache").unwrap_or("")
}

/// `edgegate_origin_failovers_total` for the test distribution. A record is counted when its
/// response has been handed to the connection, which may be a moment after the viewer read it.
async fn failovers(edge: &TestEdge, want: u64) -> u64 {
    let name = format!("edgegate_origin_failovers_total{{distribution=\"{DIST}\"}} ");
    let mut seen = 0;
    for _ in 0..100 {
        let metrics = get(edge.admin, "localhost", "/metrics").await.text();
        seen = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if seen >= want {
            break;
        }
        tokio::task::yield_now().await;
    }
    seen
}

/// A primary that refuses connections fails over even though the group's status codes (500)
/// do not include 503; the secondary's answer is cached, so the next request is a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_primary_fails_over_whatever_the_status_codes() {
    let secondary = TestOrigin::start().await;
    let refused = RefusedPort::new();
    let edge = TestEdge::start(&config(refused.port(), secondary.addr.port())).await;

    let r = get(edge.viewer, HOST, "/refused/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/refused/a");
    assert_eq!(x_cache(&r), "Miss from cloudfront");
    assert_eq!(secondary.hits_for("/refused/a"), 1);

    // Cached under the request's own key: a hit, and the secondary is not asked again.
    let r = get(edge.viewer, HOST, "/refused/a").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/refused/a");
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    assert_eq!(secondary.hits_for("/refused/a"), 1);

    // A request without an origin group's help (POST) gets the primary's failure: 502.
    let r = send(edge.viewer, "POST", HOST, "/api/refused", &[], b"x=1").await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(secondary.hits_for("/api/refused"), 0);

    assert_eq!(failovers(&edge, 1).await, 1);
    edge.stop().await;
}

/// A primary that accepts the connection and never answers fails over when its response
/// timeout (OriginReadTimeout, 1 s, one attempt) runs out, though 504 is not a failover code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_never_answers_fails_over_after_its_response_timeout() {
    let primary = SilentOrigin::start().await;
    let secondary = TestOrigin::start().await;
    let edge = TestEdge::start(&config(primary.addr.port(), secondary.addr.port())).await;

    let started = std::time::Instant::now();
    let r = get(edge.viewer, HOST, "/silent/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/silent/a");
    assert!(primary.accepted() >= 1, "the primary was never asked");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "failed over before the response timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(secondary.hits_for("/silent/a"), 1);

    let asked = primary.accepted();
    let r = get(edge.viewer, HOST, "/silent/a").await;
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    assert_eq!(primary.accepted(), asked);
    assert_eq!(secondary.hits_for("/silent/a"), 1);

    assert_eq!(failovers(&edge, 1).await, 1);
    edge.stop().await;
}

/// A primary's status fails over only when it is one of the group's codes: 500 in `g500`, 503
/// in `g503`; the other code is the viewer's answer. The secondary's answer is cached under the
/// request's key: the next request is a hit and neither origin is asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_fail_over_only_when_configured() {
    let primary = TestOrigin::start().await;
    let secondary = TestOrigin::start().await;
    for p in ["/p500/", "/b/p500/", "/api/p500/"] {
        primary.program(p, 500, &[("content-type", "text/plain")]);
    }
    for p in ["/p503/", "/b/p503/", "/api/p503/"] {
        primary.program(p, 503, &[("content-type", "text/plain")]);
    }
    let edge = TestEdge::start(&config(primary.addr.port(), secondary.addr.port())).await;

    // g500: 500 fails over.
    let r = get(edge.viewer, HOST, "/p500/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/p500/a");
    assert_eq!(x_cache(&r), "Miss from cloudfront");
    assert_eq!(primary.hits_for("/p500/a"), 1);
    assert_eq!(secondary.hits_for("/p500/a"), 1);
    // The secondary got the same request the primary got.
    let (p, s) = (primary.last(), secondary.last());
    assert_eq!(
        (p.method.as_str(), p.path_and_query.as_str()),
        ("GET", "/p500/a")
    );
    assert_eq!(
        (s.method.as_str(), s.path_and_query.as_str()),
        ("GET", "/p500/a")
    );
    assert_eq!(p.headers.get("x-amz-cf-id"), s.headers.get("x-amz-cf-id"));
    let r = get(edge.viewer, HOST, "/p500/a").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/p500/a");
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    assert_eq!(primary.hits_for("/p500/a"), 1);
    assert_eq!(secondary.hits_for("/p500/a"), 1);

    // g500: 503 is not one of its codes; the primary's answer stands.
    let r = get(edge.viewer, HOST, "/p503/a").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), "origin:/p503/a");
    assert_eq!(secondary.hits_for("/p503/"), 0);

    // g503: the other way round.
    let r = get(edge.viewer, HOST, "/b/p503/a").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/b/p503/a");
    assert_eq!(secondary.hits_for("/b/p503/a"), 1);
    let r = get(edge.viewer, HOST, "/b/p500/a").await;
    assert_eq!(r.status, 500);
    assert_eq!(secondary.hits_for("/b/p500/"), 0);

    assert_eq!(failovers(&edge, 2).await, 2);
    edge.stop().await;
}

/// Only GET, HEAD and OPTIONS fail over: a POST (or PUT, DELETE) gets the primary's answer, and
/// the secondary never sees it. Nor does an OPTIONS that carries a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_get_head_and_options_fail_over() {
    let primary = TestOrigin::start().await;
    let secondary = TestOrigin::start().await;
    primary.program("/api/p500/", 500, &[("content-type", "text/plain")]);
    let edge = TestEdge::start(&config(primary.addr.port(), secondary.addr.port())).await;

    for method in ["POST", "PUT", "DELETE"] {
        let path = format!("/api/p500/{method}");
        let r = send(edge.viewer, method, HOST, &path, &[], b"body").await;
        assert_eq!(r.status, 500, "{method}: {}", r.text());
        assert_eq!(primary.hits_for(&path), 1, "{method}");
        assert_eq!(secondary.hits_for(&path), 0, "{method}");
    }
    for method in ["GET", "HEAD", "OPTIONS"] {
        let path = format!("/api/p500/{method}");
        let r = send(edge.viewer, method, HOST, &path, &[], b"").await;
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        assert_eq!(primary.hits_for(&path), 1, "{method}");
        assert_eq!(secondary.hits_for(&path), 1, "{method}");
        assert_eq!(secondary.last().method, method);
    }
    // An OPTIONS with a body stays with the primary: the body went to it as it arrived and
    // cannot be sent again.
    let path = "/api/p500/options-with-body";
    let r = send(edge.viewer, "OPTIONS", HOST, path, &[], b"body").await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(primary.hits_for(path), 1);
    assert_eq!(secondary.hits_for(path), 0);
    assert_eq!(failovers(&edge, 3).await, 3);
    edge.stop().await;
}

/// When the secondary fails too, the viewer gets the secondary's failure (502 for a refused
/// connection, with CloudFront's error page), cached like any 5xx for its ErrorCachingMinTTL
/// (10 s by default, caching.md §4): the next request is answered without asking either origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_both_members_fail_the_viewer_gets_the_secondarys_failure() {
    let primary = TestOrigin::start().await;
    primary.program("/p500/", 500, &[("content-type", "text/plain")]);
    let refused = RefusedPort::new();
    let edge = TestEdge::start(&config(primary.addr.port(), refused.port())).await;

    for _ in 0..2 {
        let r = get(edge.viewer, HOST, "/p500/both").await;
        assert_eq!(r.status, 502, "{}", r.text());
        assert!(r.text().contains("could not be satisfied"), "{}", r.text());
        assert_eq!(x_cache(&r), "Error from cloudfront");
    }
    // The error was cached: the primary was asked once, and one request failed over.
    assert_eq!(primary.hits_for("/p500/both"), 1);
    assert_eq!(failovers(&edge, 1).await, 1);
    edge.stop().await;
}
