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
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
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
        (HeaderName::from_static("x-origin-secret"), HeaderValue::from_static("s3cr3t")),
        (HeaderName::from_static("x-team"), HeaderValue::from_static("edge")),
    ];
    let origin = HttpOrigin::new(s, OriginClient::new());
    let mut req = request(Method::GET, "/acme/index.html?v=1&b=%20x");
    req.headers.insert("x-origin-secret", HeaderValue::from_static("from-viewer"));
    req.headers.insert("user-agent", HeaderValue::from_static("Amazon CloudFront"));
    let resp = origin.fetch(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = text(resp).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "GET /production/acme/index.html?v=1&b=%20x");
    assert!(lines.contains(&format!("host: 127.0.0.1:{}", addr.port()).as_str()), "{body}");
    assert!(lines.contains(&"x-origin-secret: s3cr3t"), "{body}");
    assert!(!body.contains("from-viewer"), "viewer header of a custom name must be replaced: {body}");
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
