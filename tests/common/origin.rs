//! A real HTTP origin on loopback that counts and records what it receives.
//!
//! Paths choose the behaviour:
//! - `/slow/...` waits 5 s before answering;
//! - `/status/{code}/...` answers with that status;
//! - `/nostore/...` answers with `Cache-Control: no-store`;
//! - `/delay-ms/{n}/...` waits n milliseconds (for collapsing tests);
//! - `/maxage1/...` answers with `max-age=1`, and 304 (`max-age=60`) to `If-None-Match: "v1"`;
//! - `/big/{n}/...` answers n bytes of [`big_body`];
//! - anything else: 200, `text/plain`, body `origin:{path}?{query}`, an ETag and Last-Modified.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;

/// What the origin saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
}

/// A running origin.
#[derive(Clone)]
pub struct TestOrigin {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestOrigin {
    pub async fn start() -> TestOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind origin");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (hits.clone(), seen.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (h, s) = (h.clone(), s.clone());
            async move { answer(req, h, s).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestOrigin { addr, hits, seen }
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Requests received whose path starts with `prefix`.
    pub fn hits_for(&self, prefix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path_and_query.starts_with(prefix))
            .count()
    }

    /// The last request received.
    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("origin saw a request")
    }
}

async fn answer(req: Request, hits: Arc<AtomicUsize>, seen: Arc<Mutex<Vec<Seen>>>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path_and_query: pq.clone(),
        headers: req.headers().clone(),
    });
    let path = req.uri().path().to_owned();
    let mut status = 200u16;
    let mut cache_control = None;
    if path.starts_with("/slow/") {
        tokio::time::sleep(Duration::from_secs(5)).await;
    } else if let Some(rest) = path.strip_prefix("/status/") {
        status = rest
            .split('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(500);
    } else if path.starts_with("/nostore/") {
        cache_control = Some("no-store");
    } else if let Some(rest) = path.strip_prefix("/delay-ms/") {
        let ms: u64 = rest
            .split('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if path.starts_with("/maxage1/") {
        cache_control = Some("max-age=1");
        if req
            .headers()
            .get("if-none-match")
            .is_some_and(|v| v == "\"v1\"")
        {
            return Response::builder()
                .status(304)
                .header("etag", "\"v1\"")
                .header("cache-control", "max-age=60")
                .body(Body::empty())
                .unwrap();
        }
    }
    if let Some(rest) = path.strip_prefix("/big/") {
        let n = rest
            .split('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return Response::builder()
            .header("content-type", "application/octet-stream")
            .body(Body::from(big_body(n)))
            .unwrap();
    }
    let body = format!("origin:{pq}");
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("etag", "\"v1\"")
        .header("last-modified", "Mon, 02 Jan 2023 03:04:05 GMT")
        .header("set-cookie", "origin=1");
    if let Some(cc) = cache_control {
        b = b.header("cache-control", cc);
    }
    b.body(Body::from(body)).unwrap()
}

/// The body `/big/{n}/...` answers: n bytes of a pattern that repeats every 251 bytes.
pub fn big_body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}
