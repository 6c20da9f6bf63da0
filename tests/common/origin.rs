//! A real HTTP origin on loopback that counts and records what it receives.
//!
//! Paths choose the behaviour:
//! - `/slow/...` waits 5 s before answering;
//! - `/status/{code}/...` answers with that status;
//! - `/nostore/...` answers with `Cache-Control: no-store`;
//! - `/delay-ms/{n}/...` waits n milliseconds (for collapsing tests);
//! - `/maxage1/...` answers with `max-age=1`, and 304 (`max-age=60`) to `If-None-Match: "v1"`;
//! - `/big/{n}/...` answers n bytes of [`big_body`];
//! - a path under a prefix given to [`TestOrigin::program`] (the longest that matches): the
//!   programmed status and headers,
//!   body `origin:{path}?{query}`; with [`TestOrigin::program_revalidation`], a request that
//!   carries `If-None-Match` or `If-Modified-Since` gets 304 with the programmed headers, and
//!   with [`TestOrigin::program_delay`] the answer comes after a delay;
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

/// A programmed answer for the paths under a prefix.
#[derive(Debug, Clone, Default)]
struct Program {
    status: u16,
    headers: Vec<(String, String)>,
    /// Headers of the 304 sent to a conditional request, when programmed.
    not_modified: Option<Vec<(String, String)>>,
    /// How long to wait before answering, when programmed.
    delay: Option<Duration>,
}

type Programs = Arc<Mutex<Vec<(String, Program)>>>;

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A running origin.
#[derive(Clone)]
pub struct TestOrigin {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    programs: Programs,
}

impl TestOrigin {
    pub async fn start() -> TestOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind origin");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let programs: Programs = Arc::default();
        let (h, s, p) = (hits.clone(), seen.clone(), programs.clone());
        let app = axum::Router::new().fallback(move |req: Request| {
            let (h, s, p) = (h.clone(), s.clone(), p.clone());
            async move { answer(req, h, s, p).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestOrigin {
            addr,
            hits,
            seen,
            programs,
        }
    }

    /// Paths under `prefix` are answered with `status` and exactly `headers` (in order, names
    /// may repeat), body `origin:{path}?{query}`.
    pub fn program(&self, prefix: &str, status: u16, headers: &[(&str, &str)]) {
        let mut programs = self.programs.lock().unwrap();
        programs.retain(|(p, _)| p != prefix);
        programs.push((
            prefix.to_owned(),
            Program {
                status,
                headers: owned(headers),
                not_modified: None,
                delay: None,
            },
        ));
    }

    /// From now on, a request under `prefix` (already [`TestOrigin::program`]med) that carries
    /// `If-None-Match` or `If-Modified-Since` is answered 304 with exactly `headers`.
    pub fn program_revalidation(&self, prefix: &str, headers: &[(&str, &str)]) {
        let mut programs = self.programs.lock().unwrap();
        let (_, p) = programs
            .iter_mut()
            .find(|(p, _)| p == prefix)
            .expect("program the prefix first");
        p.not_modified = Some(owned(headers));
    }

    /// From now on, requests under `prefix` (already [`TestOrigin::program`]med) are answered
    /// after `delay`.
    pub fn program_delay(&self, prefix: &str, delay: Duration) {
        let mut programs = self.programs.lock().unwrap();
        let (_, p) = programs
            .iter_mut()
            .find(|(p, _)| p == prefix)
            .expect("program the prefix first");
        p.delay = Some(delay);
    }

    /// Every request received whose path starts with `prefix`.
    pub fn seen_for(&self, prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path_and_query.starts_with(prefix))
            .cloned()
            .collect()
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

async fn answer(
    req: Request,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    programs: Programs,
) -> Response {
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
    let program = programs
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| path.starts_with(p.as_str()))
        .max_by_key(|(p, _)| p.len())
        .map(|(_, p)| p.clone());
    if let Some(p) = program {
        if let Some(delay) = p.delay {
            tokio::time::sleep(delay).await;
        }
        let conditional = req.headers().contains_key("if-none-match")
            || req.headers().contains_key("if-modified-since");
        let (status, headers, body) = match &p.not_modified {
            Some(h) if conditional => (304, h, Body::empty()),
            _ => (p.status, &p.headers, Body::from(format!("origin:{pq}"))),
        };
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(k.as_str(), v.as_str());
        }
        return b.body(body).unwrap();
    }
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

/// A loopback port on which connections are refused: a socket bound to it but never listening,
/// so that no other server of the test run can be given the port while a test uses it (a port
/// merely closed again can be, and then the "refused" origin answers). Keep it alive for as
/// long as the port is used.
pub struct RefusedPort {
    socket: tokio::net::TcpSocket,
}

impl RefusedPort {
    pub fn new() -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        // No SO_REUSEADDR: a listener asking for this port is refused while it is held.
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("bind a port to refuse connections on");
        RefusedPort { socket }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("bound").port()
    }
}

/// An origin that accepts connections and reads what it is sent, but never answers: the edge's
/// response timeout runs out.
#[derive(Clone)]
pub struct SilentOrigin {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl SilentOrigin {
    pub async fn start() -> SilentOrigin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind silent origin");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 4096];
                    // Read until the edge gives up and closes; answer nothing.
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                });
            }
        });
        SilentOrigin { addr, accepted }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}
