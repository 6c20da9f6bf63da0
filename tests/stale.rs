//! Stale content through the real server (caching.md §3, §4, §11): `stale-while-revalidate`
//! serves the expired object at once while one background revalidation runs, `stale-if-error`
//! serves it when the origin is unreachable or answers 5xx, both capped by MaxTTL, and without
//! either directive an expired object answers an origin error only for the error's
//! ErrorCachingMinTTL. The edge's clock is moved forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use edgegate::clock::ManualClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::meter::{field, journal, journal_line};
use crate::common::origin::TestOrigin;
use crate::common::*;

/// A distribution on the programmable origin, with:
/// - default behavior: legacy TTLs 0 / 86400 / 31536000;
/// - `/capped/*`: DefaultTTL and MaxTTL 100;
/// - `/flaky/*`: the origin at `flaky_port` (one that can be switched off);
/// - a custom error response for 503 with ErrorCachingMinTTL 30 and no page.
fn config(port: u16, flaky_port: u16) -> String {
    let behavior = |path: &str, origin: &str, max: u64| {
        let default = max.min(86_400);
        format!(
            r#"
[[distributions.cache_behaviors]]
path_pattern = "{path}"
target_origin_id = "{origin}"
viewer_protocol_policy = "allow-all"
min_ttl = 0
default_ttl = {default}
max_ttl = {max}
forwarded_values = {{ query_string = false, cookies = {{ forward = "none" }}, headers = [] }}
"#
        )
    };
    let origin = |id: &str, port: u16| {
        format!(
            r#"
[[distributions.origins]]
id = "{id}"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}
"#
        )
    };
    format!(
        r#"
[[distributions]]
id = "ESTALE000001"
domain_name = "{HOST}"
caller_reference = "stale"
comment = "stale"
enabled = true
custom_error_responses = [
    {{ error_code = 503, error_caching_min_ttl = 30 }},
]
{}{}
[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
min_ttl = 0
default_ttl = 86400
max_ttl = 31536000
forwarded_values = {{ query_string = false, cookies = {{ forward = "none" }}, headers = [] }}
{}{}
"#,
        origin("web", port),
        origin("flaky", flaky_port),
        behavior("/capped/*", "web", 100),
        behavior("/flaky/*", "flaky", 31_536_000),
    )
}

/// An HTTP origin that answers every request with 200 and `cache_control`, closing each
/// connection, until it is switched off; then connections are refused.
struct Switchable {
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Switchable {
    async fn start(cache_control: &'static str) -> Switchable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = "flaky:v1";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: {cache_control}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Switchable { port, hits, task }
    }

    /// Stops listening: from now on connections are refused.
    async fn switch_off(&self) {
        self.task.abort();
        while !self.task.is_finished() {
            tokio::task::yield_now().await;
        }
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_err(),
            "the switched-off origin still accepts"
        );
    }
}

async fn setup(flaky_cc: &'static str) -> (TestEdge, TestOrigin, Switchable, Arc<ManualClock>) {
    let origin = TestOrigin::start().await;
    let flaky = Switchable::start(flaky_cc).await;
    let clock = ManualClock::new();
    let edge =
        TestEdge::start_clocked(&config(origin.addr.port(), flaky.port), clock.clone()).await;
    (edge, origin, flaky, clock)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn x_cache(r: &Resp) -> &str {
    r.header("x-cache").unwrap_or("-")
}

/// Stops the edge and checks that each response's journal line (found by its `X-Amz-Cf-Id`)
/// has the result type its `X-Cache` header named, and the expected one.
async fn assert_logged(edge: TestEdge, expected: &[(&Resp, &str)]) {
    let data = edge.stop().await;
    let lines = journal(data.path());
    for (r, result) in expected {
        let line = journal_line(&lines, r.header("x-amz-cf-id").expect("a request id"));
        assert_eq!(line[field::RESULT], *result);
        assert_eq!(x_cache(r), format!("{result} from cloudfront"));
        assert_eq!(line[field::STATUS], r.status.to_string());
    }
}

/// Waits (on the wall clock, for a background task, not for a TTL) until the origin has seen
/// `n` requests under `prefix`, for at most five seconds.
async fn until_hits(origin: &TestOrigin, prefix: &str, n: usize) {
    for _ in 0..500 {
        if origin.hits_for(prefix) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the origin saw {} requests, not {n}",
        origin.hits_for(prefix)
    );
}

/// Within `stale-while-revalidate`, every concurrent viewer gets the stale object at once
/// (RefreshHit), and exactly one conditional revalidation goes to the origin; its 304 makes the
/// object fresh again.
#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_revalidates_once() {
    let (edge, origin, _flaky, clock) = setup("max-age=10").await;
    let cc = ("cache-control", "max-age=10, stale-while-revalidate=60");
    origin.program("/swr/", 200, &[cc, ("etag", "\"v1\"")]);
    origin.program_revalidation("/swr/", &[cc, ("etag", "\"v1\"")]);
    let r = get(edge.viewer, HOST, "/swr/a").await;
    assert_eq!(x_cache(&r), "Miss from cloudfront");
    // The revalidation takes a while, so every viewer below arrives while it is in flight.
    origin.program_delay("/swr/", Duration::from_millis(500));
    clock.advance(secs(30));
    let viewers = (0..20).map(|_| get(edge.viewer, HOST, "/swr/a"));
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all(viewers).await;
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "viewers waited for the revalidation: {:?}",
        started.elapsed()
    );
    for r in &answers {
        assert_eq!(r.status, 200);
        assert_eq!(x_cache(r), "RefreshHit from cloudfront");
        assert_eq!(r.text(), "origin:/swr/a");
        assert_eq!(r.header("age"), Some("30"));
    }
    until_hits(&origin, "/swr/a", 2).await;
    let seen = origin.seen_for("/swr/a");
    assert_eq!(seen[1].headers["if-none-match"], "\"v1\"");
    // The 304 refreshed the object: fresh again, no further origin request.
    for _ in 0..50 {
        let r = get(edge.viewer, HOST, "/swr/a").await;
        if x_cache(&r) == "Hit from cloudfront" {
            break;
        }
        assert_eq!(x_cache(&r), "RefreshHit from cloudfront");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = get(edge.viewer, HOST, "/swr/a").await;
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    assert_eq!(r.header("age"), Some("0"));
    assert_eq!(origin.hits_for("/swr/a"), 2);
    // Past the window (10 s fresh + 60 s) nothing can use the object any more: it is gone.
    clock.advance(secs(75));
    origin.program_delay("/swr/", Duration::ZERO);
    let r = get(edge.viewer, HOST, "/swr/a").await;
    assert_eq!(x_cache(&r), "Miss from cloudfront");
    assert_eq!(origin.hits_for("/swr/a"), 3);
    assert!(
        !origin.seen_for("/swr/a")[2]
            .headers
            .contains_key("if-none-match")
    );
    edge.stop().await;
}

/// A background revalidation answered with a new object replaces the stale one.
#[tokio::test]
async fn stale_while_revalidate_stores_a_new_object() {
    let (edge, origin, _flaky, clock) = setup("max-age=10").await;
    origin.program(
        "/swr-new/",
        200,
        &[("cache-control", "max-age=10, stale-while-revalidate=60")],
    );
    assert_eq!(
        x_cache(&get(edge.viewer, HOST, "/swr-new/a").await),
        "Miss from cloudfront"
    );
    clock.advance(secs(20));
    origin.program(
        "/swr-new/",
        200,
        &[("cache-control", "max-age=100"), ("x-v", "2")],
    );
    let r = get(edge.viewer, HOST, "/swr-new/a").await;
    assert_eq!(x_cache(&r), "RefreshHit from cloudfront");
    assert_eq!(r.header("x-v"), None);
    until_hits(&origin, "/swr-new/a", 2).await;
    let mut r = get(edge.viewer, HOST, "/swr-new/a").await;
    for _ in 0..50 {
        if r.header("x-v").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        r = get(edge.viewer, HOST, "/swr-new/a").await;
    }
    assert_eq!(r.header("x-v"), Some("2"));
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    assert_eq!(origin.hits_for("/swr-new/a"), 2);
    edge.stop().await;
}

/// Within `stale-if-error`, an origin 5xx gets the stale object (Hit); after the window the
/// viewer gets the error, which is then cached for ErrorCachingMinTTL.
#[tokio::test]
async fn stale_if_error_serves_stale_on_5xx_until_the_window_ends() {
    let (edge, origin, _flaky, clock) = setup("max-age=10").await;
    origin.program(
        "/sie/",
        200,
        &[("cache-control", "max-age=10, stale-if-error=60")],
    );
    let miss = get(edge.viewer, HOST, "/sie/a").await;
    assert_eq!(x_cache(&miss), "Miss from cloudfront");
    origin.program("/sie/", 500, &[]);
    clock.advance(secs(40));
    let stale = get(edge.viewer, HOST, "/sie/a").await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.text(), "origin:/sie/a");
    assert_eq!(x_cache(&stale), "Hit from cloudfront");
    assert_eq!(origin.hits_for("/sie/a"), 2, "the origin was asked");
    // For the error's ErrorCachingMinTTL (10 s) the stale copy answers without the origin
    // being asked, HEAD and ranges included.
    let head = || send(edge.viewer, "HEAD", HOST, "/sie/a", &[], b"");
    let range = || {
        send(
            edge.viewer,
            "GET",
            HOST,
            "/sie/a",
            &[("range", "bytes=0-5")],
            b"",
        )
    };
    let h = head().await;
    assert_eq!((h.status, x_cache(&h)), (200, "Hit from cloudfront"));
    let r = range().await;
    assert_eq!((r.status, x_cache(&r)), (206, "Hit from cloudfront"));
    assert_eq!(r.text(), "origin");
    assert_eq!(origin.hits_for("/sie/a"), 2);
    // After it (51 s after storing), HEAD, passed through on its own, asks the origin, gets the
    // 500 and the stale copy instead; the error is cached again.
    clock.advance(secs(11));
    let h = head().await;
    assert_eq!((h.status, x_cache(&h)), (200, "Hit from cloudfront"));
    assert_eq!(origin.hits_for("/sie/a"), 3);
    let r = range().await;
    assert_eq!((r.status, x_cache(&r)), (206, "Hit from cloudfront"));
    assert_eq!(origin.hits_for("/sie/a"), 3);
    // 62 s after storing: asked again, still within the window.
    clock.advance(secs(11));
    assert_eq!(get(edge.viewer, HOST, "/sie/a").await.status, 200);
    assert_eq!(origin.hits_for("/sie/a"), 4);
    // 10 s + 60 s after it was stored: the window is over (and so is the error cached at
    // 62 s, which never outlasts it).
    clock.advance(secs(8));
    let error = get(edge.viewer, HOST, "/sie/a").await;
    assert_eq!(error.status, 500);
    assert_eq!(x_cache(&error), "Error from cloudfront");
    let hits = origin.hits_for("/sie/a");
    // The 500 is cached for the default ErrorCachingMinTTL (10 s).
    let r = get(edge.viewer, HOST, "/sie/a").await;
    assert_eq!(r.status, 500);
    assert_eq!(origin.hits_for("/sie/a"), hits);
    assert_logged(
        edge,
        &[
            (&miss, "Miss"),
            (&stale, "Hit"),
            (&error, "Error"),
            (&r, "Error"),
        ],
    )
    .await;
}

/// An origin that refuses connections counts as a 5xx: the stale object is served within
/// `stale-if-error`, and after it the viewer gets 502.
#[tokio::test]
async fn stale_if_error_serves_stale_when_the_origin_refuses() {
    let (edge, _origin, flaky, clock) = setup("max-age=10, stale-if-error=60").await;
    let r = get(edge.viewer, HOST, "/flaky/a").await;
    assert_eq!(x_cache(&r), "Miss from cloudfront");
    assert_eq!(r.text(), "flaky:v1");
    flaky.switch_off().await;
    clock.advance(secs(30));
    let r = get(edge.viewer, HOST, "/flaky/a").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "flaky:v1");
    assert_eq!(x_cache(&r), "Hit from cloudfront");
    clock.advance(secs(45));
    let r = get(edge.viewer, HOST, "/flaky/a").await;
    assert_eq!(r.status, 502);
    assert_eq!(x_cache(&r), "Error from cloudfront");
    assert_eq!(flaky.hits.load(Ordering::SeqCst), 1);
    edge.stop().await;
}

/// Without either directive, an expired object answers an origin error only within the
/// error's ErrorCachingMinTTL (10 s by default, 30 s for the configured 503); after that the
/// viewer gets the error. `stale-if-error=0` turns it off.
#[tokio::test]
async fn without_directives_stale_lasts_the_error_caching_min_ttl() {
    let (edge, origin, _flaky, clock) = setup("max-age=10").await;
    for prefix in ["/plain/", "/plain503/", "/sie0/"] {
        let cc = if prefix == "/sie0/" {
            "max-age=10, stale-if-error=0"
        } else {
            "max-age=10"
        };
        origin.program(prefix, 200, &[("cache-control", cc)]);
        let r = get(edge.viewer, HOST, &format!("{prefix}a")).await;
        assert_eq!(x_cache(&r), "Miss from cloudfront");
    }
    origin.program("/plain/", 500, &[]);
    origin.program("/plain503/", 503, &[]);
    origin.program("/sie0/", 500, &[]);
    clock.advance(secs(15));
    for prefix in ["/plain/", "/plain503/"] {
        let r = get(edge.viewer, HOST, &format!("{prefix}a")).await;
        assert_eq!(
            (r.status, x_cache(&r)),
            (200, "Hit from cloudfront"),
            "{prefix}"
        );
    }
    let r = get(edge.viewer, HOST, "/sie0/a").await;
    assert_eq!((r.status, x_cache(&r)), (500, "Error from cloudfront"));
    // 21 s after storing: past 10 + 10 s for the 500, within 10 + 30 s for the 503.
    clock.advance(secs(6));
    let r = get(edge.viewer, HOST, "/plain/a").await;
    assert_eq!((r.status, x_cache(&r)), (500, "Error from cloudfront"));
    let hits = origin.hits_for("/plain503/a");
    let r = get(edge.viewer, HOST, "/plain503/a").await;
    assert_eq!((r.status, x_cache(&r)), (200, "Hit from cloudfront"));
    assert_eq!(
        origin.hits_for("/plain503/a"),
        hits,
        "the 503 is cached for 30 s"
    );
    clock.advance(secs(20));
    let r = get(edge.viewer, HOST, "/plain503/a").await;
    assert_eq!((r.status, x_cache(&r)), (503, "Error from cloudfront"));
    // The 503 is cached for its ErrorCachingMinTTL.
    let hits = origin.hits_for("/plain503/a");
    clock.advance(secs(25));
    assert_eq!(get(edge.viewer, HOST, "/plain503/a").await.status, 503);
    assert_eq!(origin.hits_for("/plain503/a"), hits);
    edge.stop().await;
}

/// Both windows are capped by the behavior's MaxTTL (100 s here).
#[tokio::test]
async fn stale_windows_are_capped_by_max_ttl() {
    let (edge, origin, _flaky, clock) = setup("max-age=10").await;
    origin.program(
        "/capped/sie/",
        200,
        &[("cache-control", "max-age=10, stale-if-error=1000")],
    );
    origin.program(
        "/capped/swr/",
        200,
        &[("cache-control", "max-age=10, stale-while-revalidate=1000")],
    );
    for path in ["/capped/sie/a", "/capped/swr/a"] {
        assert_eq!(
            x_cache(&get(edge.viewer, HOST, path).await),
            "Miss from cloudfront"
        );
    }
    origin.program("/capped/sie/", 500, &[]);
    clock.advance(secs(105));
    let r = get(edge.viewer, HOST, "/capped/sie/a").await;
    assert_eq!((r.status, x_cache(&r)), (200, "Hit from cloudfront"));
    // The swr object is still within its capped window.
    let r = get(edge.viewer, HOST, "/capped/swr/a").await;
    assert_eq!(x_cache(&r), "RefreshHit from cloudfront");
    until_hits(&origin, "/capped/swr/a", 2).await;
    // 10 s + 100 s after storing: both windows are over.
    clock.advance(secs(6));
    let r = get(edge.viewer, HOST, "/capped/sie/a").await;
    assert_eq!((r.status, x_cache(&r)), (500, "Error from cloudfront"));
    edge.stop().await;
}
