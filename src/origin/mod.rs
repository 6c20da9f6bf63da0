//! Origins: where the edge fetches what it does not have in cache.
//!
//! Every kind of origin implements [`Origin`], one object-safe trait
//! the pipeline holds as `Arc<dyn Origin>`:
//!
//! * [`HttpOrigin`]: a custom HTTP(S) origin (CloudFront's
//!   `CustomOriginConfig`), over a shared pooled
//!   [`OriginClient`] with CloudFront's connection attempts,
//!   connection timeout and response (read) timeout;
//! * [`S3Origin`]: an S3 bucket, virtual-hosted HTTPS or
//!   path-style against an endpoint override, signed with SigV4 when the distribution has an
//!   origin access control;
//! * [`LocalDirOrigin`]: a directory on disk, for the
//!   built-in demo.
//!
//! Bodies stream both ways: a request body goes to the origin as it arrives and a response
//! body reaches the caller chunk by chunk; nothing is buffered whole.

pub mod credentials;
pub mod http;
pub mod local;
pub mod s3;

use std::future::Future;
use std::pin::Pin;

use axum::body::Body;

pub use self::credentials::{CredentialsProvider, DefaultChain, StaticCredentials};
pub use self::http::{HttpOrigin, HttpOriginSettings, OriginClient, ProtocolPolicy};
pub use self::local::LocalDirOrigin;
pub use self::s3::{S3Origin, S3OriginSettings, parse_s3_domain};

/// The future an [`Origin`] returns: the origin's response head with a streaming body.
pub type OriginFuture<'a> =
    Pin<Box<dyn Future<Output = Result<::http::Response<Body>, OriginError>> + Send + 'a>>;

/// Something the edge can fetch from.
pub trait Origin: Send + Sync + std::fmt::Debug {
    /// Send one request to the origin. `req.path_and_query` is the raw viewer path+query (the
    /// origin prepends its OriginPath); `req.headers` are already filtered by the pipeline
    /// (User-Agent, Via, X-Amz-Cf-Id, X-Forwarded-For set); the origin sets its custom headers
    /// and any signature, and Host: a custom origin keeps a viewer `Host` the behavior forwards
    /// and otherwise sets its own domain, an S3 origin always sets the bucket's host (it signs
    /// it; CloudFront refuses to forward `Host` to S3).
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_>;
}

/// One request to an origin, as the pipeline prepared it.
#[derive(Debug)]
pub struct OriginRequest {
    /// The viewer's method.
    pub method: ::http::Method,
    /// The viewer path and forwarded query, starting with `/`, still percent-encoded.
    pub path_and_query: String,
    /// Headers to send (already filtered, with the viewer's `Host` when it is forwarded); the
    /// origin adds Host (see [`Origin::fetch`]), custom headers and signature.
    pub headers: ::http::HeaderMap,
    /// The request body, streamed to the origin.
    pub body: Body,
    /// Whether the viewer used HTTPS (for `match-viewer` origin protocol policies).
    pub viewer_https: bool,
}

/// Why an origin gave no response.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// No connection could be made (all connection attempts failed). The edge answers 502.
    #[error("cannot connect to the origin: {0}")]
    Connect(String),
    /// The origin did not answer within the response timeout. The edge answers 504.
    #[error("origin response timeout: {0}")]
    Timeout(String),
    /// The origin broke the protocol or the connection, or the request could not be formed.
    /// The edge answers 502.
    #[error("origin protocol error: {0}")]
    Protocol(String),
    /// The request was refused before reaching the origin (a local path escaping its root).
    /// The edge answers 403.
    #[error("request refused: {0}")]
    Refused(String),
}

/// `origin_path` + `path_and_query`: `/production` + `/a/b?x=1` → `/production/a/b?x=1`.
///
/// A trailing `/` on the origin path is ignored and a missing leading `/` is supplied on both.
pub(crate) fn join_origin_path(origin_path: &str, path_and_query: &str) -> String {
    let base = origin_path.trim_end_matches('/');
    let mut out = String::with_capacity(base.len() + path_and_query.len() + 2);
    if !base.is_empty() && !base.starts_with('/') {
        out.push('/');
    }
    out.push_str(base);
    if !path_and_query.starts_with('/') {
        out.push('/');
    }
    out.push_str(path_and_query);
    out
}

/// `name` and its sources, joined by `: `, for error messages.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    let mut depth = 0;
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_path_joins() {
        assert_eq!(join_origin_path("", "/a/b?x=1"), "/a/b?x=1");
        assert_eq!(
            join_origin_path("/production", "/acme/index.html"),
            "/production/acme/index.html"
        );
        assert_eq!(join_origin_path("/production/", "/x"), "/production/x");
        assert_eq!(join_origin_path("production", "x"), "/production/x");
        assert_eq!(join_origin_path("", ""), "/");
    }

    #[test]
    fn origin_is_object_safe() {
        fn takes(_: &std::sync::Arc<dyn Origin>) {}
        let o: std::sync::Arc<dyn Origin> =
            std::sync::Arc::new(LocalDirOrigin::new(std::env::temp_dir()).unwrap());
        takes(&o);
    }

    /// A listener whose accept queue is full: further connection attempts hang unanswered.
    async fn unanswering_port() -> (tokio::net::TcpListener, Vec<tokio::net::TcpStream>, u16) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for _ in 0..16 {
            let attempt = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(std::time::Duration::from_millis(300), attempt).await {
                Ok(Ok(s)) => held.push(s),
                Ok(Err(e)) => panic!("connect failed: {e}"),
                Err(_) => return (listener, held, addr.port()),
            }
        }
        panic!("the accept queue never filled up");
    }

    #[tokio::test]
    async fn connection_timeout_per_attempt() {
        let (_listener, _held, port) = unanswering_port().await;
        let settings = http::HttpOriginSettings {
            domain_name: "127.0.0.1".to_owned(),
            http_port: port,
            https_port: port,
            protocol_policy: ProtocolPolicy::HttpOnly,
            origin_path: String::new(),
            custom_headers: Vec::new(),
            connection_attempts: 2,
            connection_timeout: std::time::Duration::from_millis(200),
            read_timeout: std::time::Duration::from_secs(30),
            keepalive_timeout: std::time::Duration::from_secs(5),
        };
        let origin = HttpOrigin::new(settings, OriginClient::new());
        let req = OriginRequest {
            method: ::http::Method::GET,
            path_and_query: "/".to_owned(),
            headers: ::http::HeaderMap::new(),
            body: Body::empty(),
            viewer_https: false,
        };
        match origin.fetch(req).await {
            Err(OriginError::Connect(msg)) => {
                assert!(
                    msg.contains(
                        "2 connection attempt(s) failed, last: no connection within 200ms"
                    ),
                    "{msg}"
                )
            }
            other => panic!("expected Connect, got {other:?}"),
        }
    }
}
