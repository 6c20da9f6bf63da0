//! Tests for S3 origins: domain parsing, URL shapes, and signed requests against a local server.

use std::sync::Mutex;

use axum::Router;
use axum::extract::Request as AxumRequest;
use axum::routing::any;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;

use super::*;
use crate::origin::Origin;
use crate::origin::credentials::StaticCredentials;
use crate::sigv4::Credentials;

#[test]
fn domain_parsing() {
    let ok = |d: &str, bucket: &str, region: Option<&str>| {
        assert_eq!(
            parse_s3_domain(d),
            Some((bucket.to_owned(), region.map(str::to_owned))),
            "{d}"
        );
    };
    ok("my-bucket.s3.amazonaws.com", "my-bucket", None);
    ok("My-Bucket.S3.amazonaws.com.", "my-bucket", None);
    ok(
        "media.s3.eu-west-3.amazonaws.com",
        "media",
        Some("eu-west-3"),
    );
    ok(
        "media.s3-eu-west-1.amazonaws.com",
        "media",
        Some("eu-west-1"),
    );
    ok(
        "media.s3-external-1.amazonaws.com",
        "media",
        Some("us-east-1"),
    );
    ok(
        "media.s3.dualstack.ap-south-1.amazonaws.com",
        "media",
        Some("ap-south-1"),
    );
    ok(
        "logs.example.com.s3.us-west-2.amazonaws.com",
        "logs.example.com",
        Some("us-west-2"),
    );
    ok(
        "data.s3.cn-north-1.amazonaws.com.cn",
        "data",
        Some("cn-north-1"),
    );
    for bad in [
        "example.com",
        "s3.amazonaws.com",
        "s3.us-east-1.amazonaws.com",
        "site.s3-website-us-east-1.amazonaws.com",
        "site.s3-website.eu-west-1.amazonaws.com",
        "bucket.s3-accelerate.amazonaws.com",
        "ab.s3.amazonaws.com",
        "bad_bucket.s3.amazonaws.com",
        "bucket.s3.eu west.amazonaws.com",
        "bucket.s4.amazonaws.com",
        "bucket.s3.amazonaws.com.evil.com",
    ] {
        assert_eq!(parse_s3_domain(bad), None, "{bad}");
    }
}

fn settings(bucket: &str, endpoint: Option<&str>) -> S3OriginSettings {
    S3OriginSettings {
        bucket: bucket.to_owned(),
        region: "eu-west-3".to_owned(),
        endpoint: endpoint.map(|e| e.parse().unwrap()),
        origin_path: String::new(),
        custom_headers: Vec::new(),
        connection_attempts: 1,
        connection_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(10),
        credentials: None,
        keep_viewer_authorization: false,
    }
}

#[test]
fn url_shapes() {
    let o = S3Origin::new(settings("media", None), OriginClient::new());
    assert_eq!(
        o.url("/a/b.jpg?x=1"),
        "https://media.s3.eu-west-3.amazonaws.com/a/b.jpg?x=1"
    );
    let o = S3Origin::new(settings("media.example.com", None), OriginClient::new());
    assert_eq!(
        o.url("/a"),
        "https://s3.eu-west-3.amazonaws.com/media.example.com/a"
    );
    let mut s = settings("media", Some("http://127.0.0.1:4566"));
    s.origin_path = "/v2".to_owned();
    let o = S3Origin::new(s, OriginClient::new());
    assert_eq!(
        o.url("/a%20b.txt"),
        "http://127.0.0.1:4566/media/v2/a%20b.txt"
    );
    let o = S3Origin::new(
        settings("media", Some("https://minio.local:9000/s3/")),
        OriginClient::new(),
    );
    assert_eq!(o.url("/k"), "https://minio.local:9000/s3/media/k");
}

/// What the local S3 stand-in saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
}

async fn s3_stand_in() -> (std::net::SocketAddr, std::sync::Arc<Mutex<Vec<Seen>>>) {
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let router = Router::new().fallback(any(move |req: AxumRequest| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(Seen {
                method: req.method().clone(),
                uri: req.uri().clone(),
                headers: req.headers().clone(),
            });
            (
                [("content-type", "text/plain"), ("etag", "\"abc\"")],
                "object body",
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, seen)
}

const KEY: &str = "AKIAEDGEGATEOAC00001";
const SECRET: &str = "oac/secret+key/for-tests";

fn request(method: Method, path: &str) -> OriginRequest {
    OriginRequest {
        method,
        path_and_query: path.to_owned(),
        headers: HeaderMap::new(),
        body: Body::empty(),
        viewer_https: true,
    }
}

#[tokio::test]
async fn signed_path_style_request_verifies() {
    let (addr, seen) = s3_stand_in().await;
    let mut s = settings("media", Some(&format!("http://{addr}")));
    s.origin_path = "/v1".to_owned();
    s.custom_headers = vec![(
        HeaderName::from_static("x-origin-tag"),
        HeaderValue::from_static("edge"),
    )];
    s.credentials = Some(Arc::new(StaticCredentials(Credentials {
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        session_token: Some("session".into()),
    })));
    let origin = S3Origin::new(s, OriginClient::new());
    let mut req = request(Method::GET, "/photos/a%20b+c.jpg?versionId=7&x");
    req.headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer viewer-token"),
    );
    req.headers
        .insert("range", HeaderValue::from_static("bytes=0-99"));
    req.headers
        .insert("x-amz-cf-id", HeaderValue::from_static("cfid=="));
    let resp = origin.fetch(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"object body");

    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::GET);
    assert_eq!(seen.uri.path(), "/media/v1/photos/a%20b+c.jpg");
    assert_eq!(seen.uri.query(), Some("versionId=7&x"));
    assert_eq!(seen.headers["host"], addr.to_string());
    assert_eq!(seen.headers["x-origin-tag"], "edge");
    assert_eq!(seen.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(seen.headers["x-amz-security-token"], "session");
    let auth = seen.headers["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={KEY}/")),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-3/s3/aws4_request"), "{auth}");
    assert!(auth.contains("SignedHeaders=host;range;x-amz-cf-id;x-amz-content-sha256;x-amz-date;x-amz-security-token"), "{auth}");

    // What the server received verifies as an S3 request, and only with the right secret.
    let lookup = |k: &str| (k == KEY).then(|| SECRET.to_owned());
    let now = time::OffsetDateTime::now_utc();
    let check = |headers: &HeaderMap, lookup: &dyn Fn(&str) -> Option<String>| {
        sigv4::verify(
            &seen.method,
            &seen.uri,
            headers,
            sigv4::EMPTY_SHA256,
            lookup,
            "s3",
            now,
        )
    };
    assert_eq!(check(&seen.headers, &lookup), Ok(()));
    assert_eq!(
        check(&seen.headers, &|_| Some("wrong".to_owned()))
            .unwrap_err()
            .code(),
        "SignatureDoesNotMatch"
    );
    let mut tampered = seen.headers.clone();
    tampered.insert("range", HeaderValue::from_static("bytes=0-"));
    assert_eq!(
        check(&tampered, &lookup).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );
}

#[tokio::test]
async fn anonymous_requests_carry_no_signature() {
    let (addr, seen) = s3_stand_in().await;
    let origin = S3Origin::new(
        settings("media", Some(&format!("http://{addr}/"))),
        OriginClient::new(),
    );
    let resp = origin
        .fetch(request(Method::HEAD, "/index.html"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::HEAD);
    assert_eq!(seen.uri.path(), "/media/index.html");
    assert!(!seen.headers.contains_key("authorization"));
    assert!(!seen.headers.contains_key("x-amz-date"));
}

/// A provider that always fails, as the chain does on a machine without credentials.
#[derive(Debug)]
struct NoCredentials;

impl CredentialsProvider for NoCredentials {
    fn credentials(&self) -> crate::origin::credentials::CredentialsFuture<'_> {
        Box::pin(async {
            Err(crate::origin::credentials::CredentialsError::Provider(
                "no AWS credentials found".to_owned(),
            ))
        })
    }
}

#[tokio::test]
async fn credential_failure_is_a_protocol_error_and_sends_nothing() {
    let (addr, seen) = s3_stand_in().await;
    let mut s = settings("media", Some(&format!("http://{addr}")));
    s.credentials = Some(Arc::new(NoCredentials));
    let origin = S3Origin::new(s, OriginClient::new());
    match origin.fetch(request(Method::GET, "/a")).await {
        Err(OriginError::Protocol(msg)) => assert!(
            msg.contains("bucket media") && msg.contains("no AWS credentials"),
            "{msg}"
        ),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(seen.lock().unwrap().is_empty());
}
