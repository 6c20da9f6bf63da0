//! Tests for custom HTTP origins against real local servers on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::{any, get, post};
use futures_util::StreamExt;
use http::StatusCode;
use http_body_util::BodyExt;

use super::*;
use crate::origin::Origin;

/// Serves `app` on an ephemeral port; the server lives as long as the test's runtime.
pub(crate) async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Answers with the request line and headers as text, one `name: value` per line.
async fn echo(req: Request) -> String {
    let mut out = format!("{} {}\n", req.method(), req.uri());
    for (k, v) in req.headers() {
        out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    out
}

fn settings(port: u16) -> HttpOriginSettings {
    HttpOriginSettings {
        domain_name: "127.0.0.1".to_owned(),
        http_port: port,
        https_port: port,
        protocol_policy: ProtocolPolicy::HttpOnly,
        origin_path: String::new(),
        custom_headers: Vec::new(),
        connection_attempts: 3,
        connection_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(10),
        keepalive_timeout: Duration::from_secs(5),
    }
}

fn request(method: Method, path: &str) -> OriginRequest {
    OriginRequest {
        method,
        path_and_query: path.to_owned(),
        headers: HeaderMap::new(),
        body: Body::empty(),
        viewer_https: false,
    }
}

async fn text(resp: Response<Body>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn origin_path_host_and_custom_headers() {
    let addr = serve(Router::new().fallback(echo)).await;
    let mut s = settings(addr.port());
    s.origin_path = "/production".to_owned();
    s.custom_headers = vec![
        (
            HeaderName::from_static("x-origin-secret"),
            HeaderValue::from_static("s3cr3t"),
        ),
        (
            HeaderName::from_static("x-team"),
            HeaderValue::from_static("edge"),
        ),
    ];
    let origin = HttpOrigin::new(s, OriginClient::new());
    let mut req = request(Method::GET, "/acme/index.html?v=1&b=%20x");
    req.headers
        .insert("x-origin-secret", HeaderValue::from_static("from-viewer"));
    req.headers
        .insert("user-agent", HeaderValue::from_static("Amazon CloudFront"));
    let resp = origin.fetch(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = text(resp).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "GET /production/acme/index.html?v=1&b=%20x");
    assert!(
        lines.contains(&format!("host: 127.0.0.1:{}", addr.port()).as_str()),
        "{body}"
    );
    assert!(lines.contains(&"x-origin-secret: s3cr3t"), "{body}");
    assert!(
        !body.contains("from-viewer"),
        "viewer header of a custom name must be replaced: {body}"
    );
    assert!(lines.contains(&"x-team: edge"), "{body}");
    assert!(lines.contains(&"user-agent: Amazon CloudFront"), "{body}");
}

#[test]
fn authority_omits_default_ports_and_brackets_ipv6() {
    assert_eq!(authority("example.com", 80, false), "example.com");
    assert_eq!(authority("example.com", 443, true), "example.com");
    assert_eq!(authority("example.com", 443, false), "example.com:443");
    assert_eq!(authority("example.com", 8080, true), "example.com:8080");
    assert_eq!(authority("::1", 8080, false), "[::1]:8080");
    assert_eq!(authority("[::1]", 80, false), "[::1]");
}

#[tokio::test]
async fn pooled_connections_are_reused() {
    let app = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let addr = serve(app).await;
    let origin = HttpOrigin::new(settings(addr.port()), OriginClient::new());
    let first = text(origin.fetch(request(Method::GET, "/peer")).await.unwrap()).await;
    let second = text(origin.fetch(request(Method::GET, "/peer")).await.unwrap()).await;
    assert_eq!(
        first, second,
        "the second request should reuse the pooled connection"
    );
}

#[tokio::test]
async fn large_body_streams_without_buffering() {
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 64;
    // The server sends half the body, then waits until the test has *received* that half.
    // A client that buffered the whole response would never see it and the test would time out.
    let gate = Arc::new(tokio::sync::Notify::new());
    let server_gate = gate.clone();
    let app = Router::new().route(
        "/big",
        get(move || {
            let gate = server_gate.clone();
            async move {
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let gate = gate.clone();
                    async move {
                        if i == CHUNKS {
                            return None;
                        }
                        if i == CHUNKS / 2 {
                            gate.notified().await;
                        }
                        let chunk = Bytes::from(vec![i as u8; CHUNK]);
                        Some((Ok::<_, std::io::Error>(chunk), i + 1))
                    }
                });
                Body::from_stream(stream)
            }
        }),
    );
    let addr = serve(app).await;
    let origin = HttpOrigin::new(settings(addr.port()), OriginClient::new());
    let run = async {
        let resp = origin.fetch(request(Method::GET, "/big")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut received = 0usize;
        let mut released = false;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            for (offset, byte) in data.iter().enumerate() {
                assert_eq!(
                    usize::from(*byte),
                    (received + offset) / CHUNK,
                    "byte {}",
                    received + offset
                );
            }
            received += data.len();
            if !released && received >= CHUNK * CHUNKS / 2 {
                released = true;
                gate.notify_one();
            }
        }
        received
    };
    let received = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the body did not stream: the first half never reached the client");
    assert_eq!(received, CHUNK * CHUNKS);
}

#[tokio::test]
async fn closed_port_is_a_connect_error_after_all_attempts() {
    let mut s = settings(closed_port());
    s.connection_attempts = 2;
    let origin = HttpOrigin::new(s, OriginClient::new());
    match origin.fetch(request(Method::GET, "/x")).await {
        Err(OriginError::Connect(msg)) => assert!(msg.contains("2 connection attempt(s)"), "{msg}"),
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_origin_times_out_and_only_get_head_are_retried() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/slow",
        any(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(60)).await;
                "too late"
            }
        }),
    );
    let addr = serve(app).await;
    let mut s = settings(addr.port());
    s.read_timeout = Duration::from_millis(500);
    let origin = HttpOrigin::new(s, OriginClient::new());

    match origin.fetch(request(Method::GET, "/slow")).await {
        Err(OriginError::Timeout(msg)) => assert!(msg.contains("3 attempt(s)"), "{msg}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "GET is tried connection_attempts times"
    );

    hits.store(0, Ordering::SeqCst);
    match origin.fetch(request(Method::POST, "/slow")).await {
        Err(OriginError::Timeout(msg)) => assert!(msg.contains("1 attempt(s)"), "{msg}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "POST is not retried");
}

#[tokio::test]
async fn stall_in_the_middle_of_a_body_ends_the_stream_with_an_error() {
    let app = Router::new().route(
        "/stall",
        get(|| async {
            let first = futures_util::stream::once(async {
                Ok::<_, std::io::Error>(Bytes::from_static(b"hello"))
            });
            let never = futures_util::stream::pending();
            Body::from_stream(first.chain(never))
        }),
    );
    let addr = serve(app).await;
    let mut s = settings(addr.port());
    s.read_timeout = Duration::from_millis(300);
    let origin = HttpOrigin::new(s, OriginClient::new());
    let resp = origin.fetch(request(Method::GET, "/stall")).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"hello");
    let err = body
        .frame()
        .await
        .expect("an error frame")
        .expect_err("the stall must be an error");
    assert!(err.to_string().contains("sent nothing"), "{err}");
}

#[tokio::test]
async fn post_body_streams_both_ways() {
    // The server echoes the request body as it arrives; each chunk must come back before the
    // next is sent, so neither direction can be buffered whole.
    let app = Router::new().route(
        "/echo",
        post(|req: Request| async move { Response::new(req.into_body()) }),
    );
    let addr = serve(app).await;
    let origin = HttpOrigin::new(settings(addr.port()), OriginClient::new());
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let mut req = request(Method::POST, "/echo");
    req.body = Body::from_stream(stream);
    let run = async {
        tx.send(Bytes::from_static(b"first ")).await.unwrap();
        let resp = origin.fetch(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut got = Vec::new();
        for chunk in [&b"second "[..], b"third"] {
            let before = got.len();
            while got.len() == before {
                let frame = body.frame().await.unwrap().unwrap();
                if let Ok(data) = frame.into_data() {
                    got.extend_from_slice(&data);
                }
            }
            tx.send(Bytes::from_static(chunk)).await.unwrap();
        }
        drop(tx);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                got.extend_from_slice(&data);
            }
        }
        got
    };
    let got = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the request body was not streamed");
    assert_eq!(got, b"first second third");
}

#[tokio::test]
async fn match_viewer_picks_the_viewers_protocol() {
    let addr = serve(Router::new().fallback(echo)).await;
    let mut s = settings(addr.port());
    s.protocol_policy = ProtocolPolicy::MatchViewer;
    s.connection_attempts = 1;
    let origin = HttpOrigin::new(s, OriginClient::new());
    let resp = origin.fetch(request(Method::GET, "/plain")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The viewer used HTTPS, so the origin is spoken to in TLS: this plain-HTTP server cannot
    // complete the handshake, which is a connection failure.
    let mut req = request(Method::GET, "/tls");
    req.viewer_https = true;
    match origin.fetch(req).await {
        Err(OriginError::Connect(_)) => {}
        other => panic!("expected a TLS connection failure, got {other:?}"),
    }
}
