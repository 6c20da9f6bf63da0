//! Request collapsing as CloudFront does it (caching.md §12), through the real server against a
//! real, slow origin on loopback: concurrent misses collapse into one origin request, except with
//! CachingDisabled, with cookie forwarding, and for objects that said `private`, `no-store`,
//! `no-cache` or `max-age=0` under MinTTL 0; a viewer that leaves mid-fill and an origin body
//! that ends short of its length leave nothing in the cache.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::*;

/// How the origin answers the paths under a prefix.
#[derive(Debug, Clone, Default)]
struct Script {
    /// Extra response headers.
    headers: Vec<(String, String)>,
    /// The body sent.
    body: Vec<u8>,
    /// Wait this long before answering.
    delay: Duration,
    /// Hold each request until this many requests of its path are in flight at once (or 5 s).
    gather: Option<usize>,
    /// The Content-Length announced, when not the body's length.
    announced: Option<usize>,
    /// Send the body chunked, without its last chunk (an incomplete chunked body).
    chunked_cut: bool,
    /// Send this many body bytes, then wait this long before the rest.
    stall: Option<(usize, Duration)>,
    /// Send the head and this many body bytes, then hold the rest until the gate opens
    /// (`true`); with no bytes, hold the head too.
    gate: Option<(usize, tokio::sync::watch::Receiver<bool>)>,
}

/// A gate the test opens: what [`Script::gate`] waits on.
fn gate() -> (
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    tokio::sync::watch::channel(false)
}

/// A hand-written HTTP/1.1 origin (one request per connection) that counts requests per path
/// and how many were in flight at once.
#[derive(Clone)]
struct SlowOrigin {
    addr: SocketAddr,
    scripts: Arc<Mutex<Vec<(String, Script)>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
    max_in_flight: Arc<Mutex<HashMap<String, usize>>>,
    woken: Arc<tokio::sync::Notify>,
    connections: Arc<AtomicUsize>,
}

impl SlowOrigin {
    async fn start() -> SlowOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = SlowOrigin {
            addr: listener.local_addr().unwrap(),
            scripts: Arc::default(),
            hits: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            woken: Arc::default(),
            connections: Arc::default(),
        };
        let o = origin.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let o = o.clone();
                tokio::spawn(async move { o.serve(stream).await });
            }
        });
        origin
    }

    fn script(&self, prefix: &str, script: Script) {
        let mut s = self.scripts.lock().unwrap();
        s.retain(|(p, _)| p != prefix);
        s.push((prefix.to_owned(), script));
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn max_in_flight(&self, path: &str) -> usize {
        self.max_in_flight
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    async fn serve(&self, mut stream: TcpStream) {
        self.connections.fetch_add(1, Ordering::SeqCst);
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head);
        let target = line.split(' ').nth(1).unwrap_or("/").to_owned();
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let script = self
            .scripts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        {
            let mut f = self.in_flight.lock().unwrap();
            let now = f.entry(path.clone()).or_default();
            *now += 1;
            let mut m = self.max_in_flight.lock().unwrap();
            let max = m.entry(path.clone()).or_default();
            *max = (*max).max(*now);
        }
        self.woken.notify_waiters();
        if let Some(n) = script.gather {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let woken = self.woken.notified();
                if self.in_flight.lock().unwrap()[&path] >= n {
                    break;
                }
                if tokio::time::timeout_at(deadline, woken).await.is_err() {
                    break;
                }
            }
            // Let the others see the count too before anyone leaves.
            self.woken.notify_waiters();
        }
        tokio::time::sleep(script.delay).await;
        if let Some((0, mut gate)) = script.gate.clone() {
            let _ = gate.wait_for(|open| *open).await;
        }
        let body = &script.body;
        let mut resp = String::from("HTTP/1.1 200 OK\r\nconnection: close\r\n");
        for (k, v) in &script.headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        if script.chunked_cut {
            resp.push_str("transfer-encoding: chunked\r\n\r\n");
            resp.push_str(&format!("{:x}\r\n", body.len()));
        } else {
            let len = script.announced.unwrap_or(body.len());
            resp.push_str(&format!("content-length: {len}\r\n\r\n"));
        }
        let _ = stream.write_all(resp.as_bytes()).await;
        let split = (script.stall.map(|(n, _)| n)).or(script.gate.as_ref().map(|(n, _)| *n));
        let (first, rest) = match split {
            Some(n) => body.split_at(n.min(body.len())),
            None => (&body[..], &[][..]),
        };
        let _ = stream.write_all(first).await;
        let _ = stream.flush().await;
        if let Some((_, wait)) = script.stall {
            tokio::time::sleep(wait).await;
        }
        if let Some((_, mut gate)) = script.gate.clone() {
            let _ = gate.wait_for(|open| *open).await;
        }
        let _ = stream.write_all(rest).await;
        if script.chunked_cut {
            // The chunk's CRLF but never the terminating `0` chunk.
            let _ = stream.write_all(b"\r\n").await;
        }
        let _ = stream.flush().await;
        *self.in_flight.lock().unwrap().get_mut(&path).unwrap() -= 1;
        // Dropping the stream closes the connection, whatever was announced.
    }
}

/// [`config`] with the origin's OriginReadTimeout set to `read_timeout` seconds and a 504 not
/// cached (ErrorCachingMinTTL 0).
fn config_timeout(port: u16, read_timeout: u32) -> String {
    config(port)
        .replace(
            "origin_read_timeout = 10",
            &format!("origin_read_timeout = {read_timeout}"),
        )
        .replace(
            "enabled = true\n",
            "enabled = true\ncustom_error_responses = [{ error_code = 504, error_caching_min_ttl = 0 }]\n",
        )
}

/// A distribution on `port` with the default behavior (CachingOptimized, MinTTL 1 s) and:
/// `/api/*` CachingDisabled; `/nostore/*` UseOriginCacheControlHeaders (MinTTL 0); `/cookies/*`
/// CachingOptimized with the AllViewer origin request policy (every cookie forwarded).
fn config(port: u16) -> String {
    format!(
        r#"
[[distributions]]
id = "ETEST0000001"
domain_name = "{HOST}"
caller_reference = "test"
comment = "test"
enabled = true

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 10 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/api/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"

[[distributions.cache_behaviors]]
path_pattern = "/nostore/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "83da9c7e-98b4-4e11-a168-04f0df8e2c65"

[[distributions.cache_behaviors]]
path_pattern = "/cookies/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
origin_request_policy_id = "216adef6-5c7f-47e4-b989-5492eafa07d3"
"#
    )
}

fn body(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// `n` concurrent GETs of `path`; their responses.
async fn concurrently(edge: &TestEdge, path: &str, n: usize) -> Vec<Resp> {
    let viewer = edge.viewer;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let path = path.to_owned();
            tokio::spawn(async move { get(viewer, HOST, &path).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Concurrent misses of a cacheable object wait for the first one's origin request: one origin
/// request, one `Miss` and the rest `Hit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_collapse_into_one_origin_request() {
    let origin = SlowOrigin::start().await;
    origin.script(
        "/slow",
        Script {
            body: body("slow object"),
            delay: Duration::from_millis(400),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let rs = concurrently(&edge, "/slow/a.txt", 6).await;
    assert!(
        rs.iter()
            .all(|r| r.status == 200 && r.text() == "slow object")
    );
    let misses = rs
        .iter()
        .filter(|r| r.header("x-cache") == Some("Miss from cloudfront"))
        .count();
    assert_eq!(misses, 1);
    assert_eq!(origin.hits("/slow/a.txt"), 1);
    edge.stop().await;
}

/// CachingDisabled: every request goes to the origin at once, none waits for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_disabled_is_never_collapsed() {
    let origin = SlowOrigin::start().await;
    origin.script(
        "/api/",
        Script {
            body: body("api"),
            gather: Some(4),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let rs = concurrently(&edge, "/api/x", 4).await;
    assert!(rs.iter().all(|r| r.status == 200 && r.text() == "api"));
    assert_eq!(origin.hits("/api/x"), 4);
    assert_eq!(
        origin.max_in_flight("/api/x"),
        4,
        "requests waited for each other"
    );
    edge.stop().await;
}

/// A behavior that forwards cookies never collapses ("CloudFront doesn't support request
/// collapsing if you enable cookie forwarding"), yet still caches a cacheable answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_forwarding_is_never_collapsed_but_still_caches() {
    let origin = SlowOrigin::start().await;
    origin.script(
        "/cookies/",
        Script {
            body: body("with cookies"),
            gather: Some(4),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let rs = concurrently(&edge, "/cookies/x", 4).await;
    assert!(
        rs.iter()
            .all(|r| r.status == 200 && r.text() == "with cookies")
    );
    assert_eq!(origin.hits("/cookies/x"), 4);
    assert_eq!(origin.max_in_flight("/cookies/x"), 4);
    let r = get(edge.viewer, HOST, "/cookies/x").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.text(), "with cookies");
    assert_eq!(origin.hits("/cookies/x"), 4);
    edge.stop().await;
}

/// Under MinTTL 0, an object that said `private`, `no-store`, `no-cache`, `max-age=0` or
/// `s-maxage=0` is not collapsed: once the edge has seen it, concurrent requests all reach the
/// origin together. Under MinTTL 1 s (CachingOptimized) the same `no-store` object is cached for
/// a second, and concurrent misses collapse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncacheable_objects_under_min_ttl_0_are_not_collapsed() {
    let origin = SlowOrigin::start().await;
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    for (i, cc) in ["private", "no-store", "no-cache", "max-age=0", "s-maxage=0"]
        .into_iter()
        .enumerate()
    {
        let path = format!("/nostore/{i}");
        let mut script = Script {
            headers: vec![("cache-control".into(), cc.into())],
            body: body(cc),
            ..Default::default()
        };
        origin.script(&path, script.clone());
        // The edge learns what the object says.
        assert_eq!(get(edge.viewer, HOST, &path).await.text(), cc);
        script.gather = Some(4);
        origin.script(&path, script);
        let rs = concurrently(&edge, &path, 4).await;
        assert!(rs.iter().all(|r| r.status == 200 && r.text() == cc), "{cc}");
        assert_eq!(origin.hits(&path), 5, "{cc}");
        assert_eq!(origin.max_in_flight(&path), 4, "{cc}: requests waited");
    }
    // MinTTL 1 s: cached despite no-store, so misses collapse.
    origin.script(
        "/min1/",
        Script {
            headers: vec![("cache-control".into(), "no-store".into())],
            body: body("min1"),
            delay: Duration::from_millis(400),
            ..Default::default()
        },
    );
    let rs = concurrently(&edge, "/min1/x", 4).await;
    assert!(rs.iter().all(|r| r.text() == "min1"));
    assert_eq!(origin.hits("/min1/x"), 1);
    edge.stop().await;
}

/// Reads one response from the edge on a raw connection until `want` bytes of it have arrived
/// (or the connection ends); returns them.
async fn read_some(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

async fn raw_get(edge: &TestEdge, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(edge.viewer).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: {HOST}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

/// A viewer that leaves while the object is still arriving leaves no partial object: the next
/// request is not served a truncated copy, and the object is fetched again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_leaves_mid_fill_leaves_nothing_partial() {
    let origin = SlowOrigin::start().await;
    // Under 16 KiB, so that no cached body is sent with `sendfile` (tests/edge.rs counts the
    // process-wide bytes sent that way).
    let whole: Vec<u8> = (0..12_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    origin.script(
        "/trickle/",
        Script {
            body: whole.clone(),
            stall: Some((1_000, Duration::from_millis(1_500))),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let mut a = raw_get(&edge, "/trickle/x").await;
    let seen = read_some(&mut a, 1_000).await;
    assert!(
        seen.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    drop(a);
    // The next viewer gets the whole object. Either the edge noticed the first viewer leave
    // before it arrived (the fill was abandoned, nothing stored: a Miss and a second origin
    // request), or it joined the fill while the first connection was still open (the fill went
    // on for it: a Hit from the one origin request). Which one is a race of the test's sockets.
    let r = get(edge.viewer, HOST, "/trickle/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), whole.len());
    assert_eq!(&r.body[..], &whole[..]);
    let fetches = match r.header("x-cache") {
        Some("Miss from cloudfront") => 2,
        Some("Hit from cloudfront") => 1,
        other => panic!("unexpected X-Cache {other:?}"),
    };
    assert_eq!(
        origin.hits("/trickle/x"),
        fetches,
        "the cancelled fill was not stored"
    );
    // Whatever the race, what is stored is the whole object.
    let r = get(edge.viewer, HOST, "/trickle/x").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(origin.hits("/trickle/x"), fetches);
    edge.stop().await;
}

/// An origin body that ends short of its Content-Length, or a chunked body cut before its last
/// chunk, is never cached: the next request goes to the origin again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_short_of_its_length_is_never_cached() {
    let origin = SlowOrigin::start().await;
    origin.script(
        "/short/",
        Script {
            body: body("only half of it"),
            announced: Some(100),
            ..Default::default()
        },
    );
    origin.script(
        "/cut/",
        Script {
            body: body("a chunk and no end"),
            chunked_cut: true,
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    for path in ["/short/x", "/cut/x"] {
        for round in 1..=3 {
            let mut s = raw_get(&edge, path).await;
            let got = read_some(&mut s, usize::MAX).await;
            let text = String::from_utf8_lossy(&got);
            assert!(
                !text.contains("Hit from cloudfront"),
                "{path}, round {round}: a truncated body was cached: {text}"
            );
            assert_eq!(origin.hits(path), round, "{path}");
        }
    }
    edge.stop().await;
}

/// Reads a response head and then body bytes until at least `want` of them have arrived, the
/// connection ends, or 10 s pass: (head, body so far).
async fn head_and_body(stream: &mut TcpStream, want: usize) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() - (end + 4) >= want
        {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    match got.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => (
            String::from_utf8_lossy(&got[..end]).into_owned(),
            got[end + 4..].to_vec(),
        ),
        None => (String::from_utf8_lossy(&got).into_owned(), Vec::new()),
    }
}

/// Reads until the edge closes the connection (or 10 s pass); the bytes read, and whether it
/// closed.
async fn rest_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Err(_) => return (got, false),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn x_cache(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("x-cache")
            .then(|| v.trim().to_owned())
    })
}

/// Eight viewers collapsed onto one miss whose origin sends its head and part of the body and
/// then stalls: every one of them has the head and the partial body while the origin still
/// holds the rest (the followers stream the leader's answer as it arrives, rather than waiting
/// for the whole object), and all get the whole body, from one origin request, once it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_viewers_stream_the_body_as_it_arrives() {
    let origin = SlowOrigin::start().await;
    let whole: Vec<u8> = (0..12_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (open, gated) = gate();
    origin.script(
        "/stream/",
        Script {
            body: whole.clone(),
            gate: Some((5_000, gated)),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let mut viewers = Vec::new();
    for _ in 0..8 {
        viewers.push(raw_get(&edge, "/stream/x").await);
    }
    let mut heads = Vec::new();
    for (i, v) in viewers.iter_mut().enumerate() {
        let (head, partial) = head_and_body(v, 5_000).await;
        assert!(head.starts_with("HTTP/1.1 200"), "viewer {i}: {head}");
        assert_eq!(partial.len(), 5_000, "viewer {i} has the partial body");
        assert_eq!(&partial[..], &whole[..5_000], "viewer {i}");
        heads.push((head, partial));
    }
    // Nobody had to wait for the origin to finish.
    assert!(!*open.borrow());
    assert_eq!(origin.hits("/stream/x"), 1);
    open.send_replace(true);
    let mut misses = 0;
    for (i, (v, (head, mut body))) in viewers.iter_mut().zip(heads).enumerate() {
        let more = read_some(v, whole.len() - body.len()).await;
        body.extend_from_slice(&more);
        assert_eq!(body.len(), whole.len(), "viewer {i}");
        assert_eq!(&body[..], &whole[..], "viewer {i}");
        match x_cache(&head).as_deref() {
            Some("Miss from cloudfront") => misses += 1,
            Some("Hit from cloudfront") => {}
            other => panic!("viewer {i}: X-Cache {other:?}"),
        }
    }
    assert_eq!(
        misses, 1,
        "one viewer led the fill, the others were collapsed"
    );
    assert_eq!(origin.hits("/stream/x"), 1);
    // The object was stored whole.
    let r = get(edge.viewer, HOST, "/stream/x").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(origin.hits("/stream/x"), 1);
    edge.stop().await;
}

/// The origin sends its head and part of the body and then stalls past OriginReadTimeout: all
/// eight collapsed viewers have the partial body, and all see the connection cut short, from
/// the one origin request (before, the followers retried the origin one after another, each
/// waiting out the timeout again). Nothing is cached: the next request fetches afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_viewers_fail_together_when_the_body_stalls() {
    let origin = SlowOrigin::start().await;
    let whole: Vec<u8> = (0..12_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (open, gated) = gate();
    origin.script(
        "/stall/",
        Script {
            body: whole.clone(),
            gate: Some((5_000, gated)),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config_timeout(origin.addr.port(), 1)).await;
    let mut viewers = Vec::new();
    for _ in 0..8 {
        viewers.push(raw_get(&edge, "/stall/x").await);
    }
    let mut failed = 0;
    for (i, v) in viewers.iter_mut().enumerate() {
        let (head, partial) = head_and_body(v, 5_000).await;
        assert!(head.starts_with("HTTP/1.1 200"), "viewer {i}: {head}");
        assert_eq!(&partial[..], &whole[..5_000], "viewer {i}");
        let (rest, closed) = rest_until_closed(v).await;
        assert!(closed, "viewer {i}: the connection is cut");
        assert!(rest.is_empty(), "viewer {i}: {} bytes more", rest.len());
        failed += 1;
    }
    assert_eq!(failed, 8);
    // All eight failed from the one origin request, before the gate opened.
    assert!(!*open.borrow());
    assert_eq!(origin.hits("/stall/x"), 1);
    open.send_replace(true);
    let r = get(edge.viewer, HOST, "/stall/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(origin.hits("/stall/x"), 2);
    edge.stop().await;
}

/// The origin never sends its head: the leader's 504 (not cached: ErrorCachingMinTTL 0) is the
/// answer of every viewer collapsed on it, from the one origin request, instead of each
/// follower trying the stalled origin again in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collapsed_viewers_get_the_same_504_when_the_origin_times_out() {
    let origin = SlowOrigin::start().await;
    let (open, gated) = gate();
    origin.script(
        "/silent/",
        Script {
            body: body("late"),
            gate: Some((0, gated)),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config_timeout(origin.addr.port(), 1)).await;
    let rs = concurrently(&edge, "/silent/x", 8).await;
    for r in &rs {
        assert_eq!(r.status, 504);
        assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    }
    assert!(!*open.borrow());
    assert_eq!(
        origin.hits("/silent/x"),
        1,
        "one origin request for all eight"
    );
    // The 504 was not cached.
    open.send_replace(true);
    let r = get(edge.viewer, HOST, "/silent/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "late");
    assert_eq!(origin.hits("/silent/x"), 2);
    edge.stop().await;
}

/// The leader's viewer goes away while collapsed viewers stream the fill: the fill goes on for
/// them, they get the whole body, and the object is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fill_goes_on_for_followers_when_the_leader_leaves() {
    let origin = SlowOrigin::start().await;
    let whole: Vec<u8> = (0..12_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (open, gated) = gate();
    origin.script(
        "/leave/",
        Script {
            body: whole.clone(),
            gate: Some((5_000, gated)),
            ..Default::default()
        },
    );
    let edge = TestEdge::start(&config(origin.addr.port())).await;
    let mut leader = raw_get(&edge, "/leave/x").await;
    let (head, _) = head_and_body(&mut leader, 5_000).await;
    assert_eq!(x_cache(&head).as_deref(), Some("Miss from cloudfront"));
    let mut followers = Vec::new();
    for _ in 0..3 {
        let mut f = raw_get(&edge, "/leave/x").await;
        let (head, partial) = head_and_body(&mut f, 5_000).await;
        assert_eq!(x_cache(&head).as_deref(), Some("Hit from cloudfront"));
        followers.push((f, partial));
    }
    drop(leader);
    open.send_replace(true);
    for (i, (mut f, mut body)) in followers.into_iter().enumerate() {
        body.extend_from_slice(&read_some(&mut f, whole.len() - body.len()).await);
        assert_eq!(&body[..], &whole[..], "follower {i}");
    }
    assert_eq!(origin.hits("/leave/x"), 1);
    let r = get(edge.viewer, HOST, "/leave/x").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(&r.body[..], &whole[..]);
    assert_eq!(origin.hits("/leave/x"), 1);
    edge.stop().await;
}
