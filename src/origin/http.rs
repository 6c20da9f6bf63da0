//! Custom HTTP origins and the pooled client every network origin shares.
//!
//! CloudFront's origin settings map onto the client like this [caching.md §15.1]:
//!
//! * `ConnectionAttempts` (1–3) × `ConnectionTimeout`: the connector tries to connect (TCP and,
//!   for HTTPS, the TLS handshake) up to `attempts` times, each bounded by the timeout, and then
//!   gives up with [`OriginError::Connect`].
//! * `OriginReadTimeout`: bounds the wait for the response head once a connection is in hand
//!   and the request body (streamed from a viewer still uploading) has been sent, and every gap
//!   between body chunks. A timeout before the head is [`OriginError::Timeout`];
//!   GET and HEAD are then tried again, up to `ConnectionAttempts` times in all, other methods
//!   are not. A stall in the middle of a body ends the body stream with an error.
//! * `OriginKeepaliveTimeout`: how long an idle pooled connection is kept. Origins with the same
//!   keep-alive share one pool.
//!
//! The connection settings of the request being sent reach the connector through a task-local
//! (`CONNECT_POLICY`): hyper's connector only sees the URI, and the client (and its pool) is
//! shared by all origins.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::{OriginError, OriginFuture, OriginRequest, error_chain, join_origin_path};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which protocol the edge uses to reach a custom origin (`OriginProtocolPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolPolicy {
    /// `http-only`.
    HttpOnly,
    /// `https-only`.
    HttpsOnly,
    /// `match-viewer`: HTTPS when the viewer used HTTPS.
    MatchViewer,
}

/// Settings of one custom origin (`CustomOriginConfig` plus the origin's common fields).
#[derive(Debug, Clone)]
pub struct HttpOriginSettings {
    /// The origin's host name (or IP address).
    pub domain_name: String,
    /// Port for HTTP (80 by default).
    pub http_port: u16,
    /// Port for HTTPS (443 by default).
    pub https_port: u16,
    /// HTTP, HTTPS, or whatever the viewer used.
    pub protocol_policy: ProtocolPolicy,
    /// `OriginPath`: prepended to every request path (`/production`), or empty.
    pub origin_path: String,
    /// `CustomHeaders`: added to every origin request, replacing viewer headers of that name.
    pub custom_headers: Vec<(HeaderName, HeaderValue)>,
    /// `ConnectionAttempts`, 1 to 3.
    pub connection_attempts: u8,
    /// `ConnectionTimeout`, per attempt.
    pub connection_timeout: Duration,
    /// `OriginReadTimeout`: response head and gaps between body chunks.
    pub read_timeout: Duration,
    /// `OriginKeepaliveTimeout`: idle time before a pooled connection is closed.
    pub keepalive_timeout: Duration,
}

/// The connection and timeout limits of one origin, as the shared send path uses them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connection attempts (and GET/HEAD response attempts), clamped to 1..=3.
    pub(crate) attempts: u8,
    /// Per connection attempt.
    pub(crate) connection_timeout: Duration,
    /// Response head and body gaps.
    pub(crate) read_timeout: Duration,
    /// Pool idle timeout.
    pub(crate) keepalive: Duration,
}

impl Limits {
    fn normalized(self) -> Self {
        let floor = Duration::from_millis(1);
        Limits {
            attempts: self.attempts.clamp(1, 3),
            connection_timeout: self.connection_timeout.max(floor),
            read_timeout: self.read_timeout.max(floor),
            keepalive: self
                .keepalive
                .clamp(Duration::from_secs(1), Duration::from_secs(120)),
        }
    }
}

type HyperClient = Client<EdgeConnector, Body>;

/// Largest read buffer of one origin connection.
const ORIGIN_READ_BUFFER: usize = 64 * 1024;

/// The shared, pooled HTTP/1.1 client for origins (HTTP and HTTPS with native roots and ring).
///
/// Cheap to clone: clones share the connector, TLS configuration and connection pools.
#[derive(Clone)]
pub struct OriginClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    connector: EdgeConnector,
    /// One pool per keep-alive value in use (at most 120 distinct whole seconds, in practice 1–2).
    pools: Mutex<HashMap<Duration, HyperClient>>,
}

impl fmt::Debug for OriginClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginClient").finish_non_exhaustive()
    }
}

impl Default for OriginClient {
    fn default() -> Self {
        Self::new()
    }
}

impl OriginClient {
    /// A client trusting the system's root certificates. When none can be loaded, HTTPS origins
    /// fail their certificate checks (logged here) and HTTP origins still work.
    pub fn new() -> Self {
        let provider = rustls::crypto::ring::default_provider();
        match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider) {
            Ok(builder) => Self::from_builder(builder),
            Err(e) => {
                tracing::warn!(error = %e, "no system root certificates; HTTPS origins will fail certificate checks");
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports rustls' default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
                Self::with_tls_config(config)
            }
        }
    }

    /// A client with an explicit TLS configuration (custom roots, e.g. in tests).
    pub fn with_tls_config(config: rustls::ClientConfig) -> Self {
        Self::from_builder(hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config))
    }

    fn from_builder(
        builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = builder.https_or_http().enable_http1().wrap_connector(http);
        OriginClient {
            inner: Arc::new(ClientInner {
                connector: EdgeConnector { inner: https },
                pools: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The client whose pool closes idle connections after `keepalive`.
    fn pool(&self, keepalive: Duration) -> HyperClient {
        let mut pools = self.inner.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .entry(keepalive)
            .or_insert_with(|| {
                Client::builder(TokioExecutor::new())
                    // Each pooled connection's read buffer grows up to this size; hyper's default
                    // (about 400 KiB) times the connections to busy origins is memory the cache
                    // size does not account for.
                    .http1_max_buf_size(ORIGIN_READ_BUFFER)
                    .pool_idle_timeout(keepalive)
                    .pool_timer(hyper_util::rt::TokioTimer::new())
                    .build(self.inner.connector.clone())
            })
            .clone()
    }
}

/// Where a request's connection stands, for the response-timeout clock.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No new connection started (a pooled one may be in use).
    Idle,
    /// The connector is connecting.
    Connecting,
    /// The connector finished (successfully or not) at this instant.
    Done(Instant),
}

/// Shared between one request's send loop and the connector serving it.
#[derive(Debug)]
struct Probe {
    phase: Mutex<Phase>,
    /// Where the request body is: `None` when nothing is streamed, `Some(None)` while it is
    /// being sent, `Some(Some(at))` once it was.
    body: Mutex<Option<Option<Instant>>>,
    changed: Notify,
}

impl Probe {
    fn new() -> Self {
        Probe {
            phase: Mutex::new(Phase::Idle),
            body: Mutex::new(None),
            changed: Notify::new(),
        }
    }

    fn set_body(&self, body: Option<Option<Instant>>) {
        *self.body.lock().unwrap_or_else(|p| p.into_inner()) = body;
        self.changed.notify_waiters();
    }

    fn body(&self) -> Option<Option<Instant>> {
        *self.body.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When waiting for the head gives up: `read_timeout` after the connection is in hand (or
    /// from `start`, or after the connect budget while connecting) and after the request body
    /// has been sent; `None` while the body is still being sent (the viewer's idle limit bounds
    /// that).
    fn deadline(
        &self,
        start: Instant,
        read_timeout: Duration,
        connect_budget: Duration,
    ) -> Option<Instant> {
        let connected = match self.get() {
            Phase::Idle => start + read_timeout,
            Phase::Connecting => start + connect_budget + read_timeout,
            Phase::Done(at) => at + read_timeout,
        };
        match self.body() {
            None => Some(connected),
            Some(None) => None,
            Some(Some(sent)) => Some(connected.max(sent + read_timeout)),
        }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
        self.changed.notify_waiters();
    }

    fn get(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The connection settings of the request being sent, read by [`EdgeConnector`].
#[derive(Debug, Clone)]
struct ConnectPolicy {
    attempts: u8,
    timeout: Duration,
    probe: Arc<Probe>,
}

tokio::task_local! {
    /// Set around each origin request so the shared connector applies that origin's limits.
    static CONNECT_POLICY: ConnectPolicy;
}

/// An error from the connector after every attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConnectFailed(String);

/// Wraps the HTTPS-or-HTTP connector with CloudFront's connection attempts and timeout.
#[derive(Clone)]
struct EdgeConnector {
    inner: HttpsConnector<HttpConnector>,
}

impl tower_service::Service<Uri> for EdgeConnector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is checked per attempt on a clone in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Runs inside the request's task (hyper starts connecting on first poll), so the
        // task-local is visible here; the future below carries what it needs.
        let policy = CONNECT_POLICY.try_with(Clone::clone).ok();
        let inner = self.inner.clone();
        Box::pin(async move {
            let (attempts, timeout) = match &policy {
                Some(p) => (p.attempts.clamp(1, 3), p.timeout),
                None => (1, Duration::from_secs(10)),
            };
            if let Some(p) = &policy {
                p.probe.set(Phase::Connecting);
            }
            let mut last = String::new();
            for attempt in 1..=attempts {
                let mut conn = inner.clone();
                let result = tokio::time::timeout(timeout, async {
                    std::future::poll_fn(|cx| tower_service::Service::poll_ready(&mut conn, cx))
                        .await?;
                    tower_service::Service::call(&mut conn, uri.clone()).await
                })
                .await;
                match result {
                    Ok(Ok(io)) => {
                        if let Some(p) = &policy {
                            p.probe.set(Phase::Done(Instant::now()));
                        }
                        return Ok(io);
                    }
                    Ok(Err(e)) => last = error_chain(&*e),
                    Err(_) => last = format!("no connection within {timeout:?}"),
                }
                tracing::debug!(%uri, attempt, error = %last, "origin connection attempt failed");
            }
            if let Some(p) = &policy {
                p.probe.set(Phase::Done(Instant::now()));
            }
            let host = uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default();
            Err(Box::new(ConnectFailed(format!(
                "{host}: {attempts} connection attempt(s) failed, last: {last}"
            ))) as BoxError)
        })
    }
}

/// Sends one request with the origin's limits; shared by HTTP and S3 origins.
///
/// `headers` must be complete (Host, custom headers, signature). GET and HEAD are sent again
/// (with an empty body) after a response timeout, up to `limits.attempts` times in all.
pub(crate) async fn send(
    client: &OriginClient,
    limits: Limits,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response<Body>, OriginError> {
    let limits = limits.normalized();
    let pool = client.pool(limits.keepalive);
    let tries = if matches!(method, Method::GET | Method::HEAD) {
        limits.attempts
    } else {
        1
    };
    let connect_budget = limits.connection_timeout * u32::from(limits.attempts);
    let mut body = Some(body);
    for attempt in 1..=tries {
        let probe = Arc::new(Probe::new());
        let sent = match body.take() {
            // A body still arriving from the viewer: the read timeout starts once it is sent.
            Some(b) if !http_body::Body::is_end_stream(&b) => {
                probe.set_body(Some(None));
                Body::new(SendingBody {
                    inner: b,
                    probe: Arc::clone(&probe),
                })
            }
            Some(b) => b,
            None => Body::empty(),
        };
        let mut req = Request::new(sent);
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers.clone();
        let policy = ConnectPolicy {
            attempts: limits.attempts,
            timeout: limits.connection_timeout,
            probe: probe.clone(),
        };
        let fut = CONNECT_POLICY.scope(policy, pool.request(req));
        match await_head(fut, &probe, limits.read_timeout, connect_budget).await {
            Some(Ok(resp)) => {
                let read_timeout = limits.read_timeout;
                return Ok(resp.map(|b| Body::new(IdleTimeoutBody::new(b, read_timeout))));
            }
            Some(Err(e)) => return Err(classify(&e)),
            None => tracing::debug!(%uri, attempt, "origin response timeout"),
        }
    }
    Err(OriginError::Timeout(format!(
        "{} did not answer {method} within {:?} ({tries} attempt(s))",
        uri.authority().map(|a| a.as_str()).unwrap_or(""),
        limits.read_timeout
    )))
}

/// Waits for the response head: `read_timeout` from when a connection is in hand.
///
/// `None` on timeout. While the connector is still connecting, the wait is bounded by the
/// whole connect budget plus the read timeout.
async fn await_head<F>(
    fut: F,
    probe: &Probe,
    read_timeout: Duration,
    connect_budget: Duration,
) -> Option<F::Output>
where
    F: Future,
{
    let start = Instant::now();
    let mut fut = std::pin::pin!(fut);
    loop {
        let changed = probe.changed.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let deadline = probe.deadline(start, read_timeout, connect_budget);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = &mut fut => return Some(out),
            () = expired => {
                // The phase may have moved on just now; only give up if it has not.
                let again = probe.deadline(start, read_timeout, connect_budget);
                if again.is_some_and(|at| at <= Instant::now()) {
                    return None;
                }
            }
            () = &mut changed => {}
        }
    }
}

/// A request body streamed to the origin that notes in its [`Probe`] when it has all been sent,
/// from which the read timeout counts.
struct SendingBody {
    inner: Body,
    probe: Arc<Probe>,
}

impl http_body::Body for SendingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let sent = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if sent && self.probe.body() == Some(None) {
            self.probe.set_body(Some(Some(Instant::now())));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Maps a client error to [`OriginError`].
fn classify(e: &hyper_util::client::legacy::Error) -> OriginError {
    let text = error_chain(e);
    if e.is_connect() {
        OriginError::Connect(text)
    } else {
        OriginError::Protocol(text)
    }
}

/// A response body whose every wait for the origin is bounded by the read timeout.
///
/// The clock runs only while the consumer is waiting on the origin, so a slow viewer does not
/// count against the origin.
struct IdleTimeoutBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    failed: bool,
}

impl IdleTimeoutBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        IdleTimeoutBody {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
            failed: false,
        }
    }
}

/// The error a stalled origin body ends with.
#[derive(Debug, thiserror::Error)]
#[error("origin sent nothing for {0:?} in the middle of the response body")]
struct BodyStalled(Duration);

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if !this.waiting {
            this.waiting = true;
            let deadline = Instant::now() + this.timeout;
            this.sleep.as_mut().reset(deadline);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.waiting = false;
                Poll::Ready(frame.map(|r| r.map_err(|e| Box::new(e) as BoxError)))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.failed = true;
                    Poll::Ready(Some(Err(Box::new(BodyStalled(this.timeout)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `host` or `host:port` when the port is not the scheme's default; IPv6 in brackets.
pub(crate) fn authority(host: &str, port: u16, https: bool) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let default = if https { 443 } else { 80 };
    if port == default {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// Replaces viewer headers named like a custom header, then adds the custom headers.
pub(crate) fn apply_custom_headers(headers: &mut HeaderMap, custom: &[(HeaderName, HeaderValue)]) {
    for (name, _) in custom {
        headers.remove(name);
    }
    for (name, value) in custom {
        headers.append(name.clone(), value.clone());
    }
}

/// A custom HTTP(S) origin.
#[derive(Debug)]
pub struct HttpOrigin {
    settings: HttpOriginSettings,
    client: OriginClient,
}

impl HttpOrigin {
    /// An origin sending through the shared `client`.
    pub fn new(settings: HttpOriginSettings, client: OriginClient) -> Self {
        HttpOrigin { settings, client }
    }

    async fn fetch_inner(&self, req: OriginRequest) -> Result<Response<Body>, OriginError> {
        let s = &self.settings;
        let https = match s.protocol_policy {
            ProtocolPolicy::HttpOnly => false,
            ProtocolPolicy::HttpsOnly => true,
            ProtocolPolicy::MatchViewer => req.viewer_https,
        };
        let port = if https { s.https_port } else { s.http_port };
        let host = authority(&s.domain_name, port, https);
        let target = join_origin_path(&s.origin_path, &req.path_and_query);
        let scheme = if https { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{host}{target}").parse().map_err(|e| {
            OriginError::Protocol(format!("cannot form an origin URL for {target:?}: {e}"))
        })?;
        let mut headers = req.headers;
        let host_value = HeaderValue::from_str(&host).map_err(|_| {
            OriginError::Protocol(format!("origin host {host:?} is not a valid Host header"))
        })?;
        // A viewer Host the behavior forwards is kept; otherwise the origin's own.
        headers.entry(HOST).or_insert(host_value);
        apply_custom_headers(&mut headers, &s.custom_headers);
        let limits = Limits {
            attempts: s.connection_attempts,
            connection_timeout: s.connection_timeout,
            read_timeout: s.read_timeout,
            keepalive: s.keepalive_timeout,
        };
        send(&self.client, limits, req.method, uri, headers, req.body).await
    }
}

impl super::Origin for HttpOrigin {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(self.fetch_inner(req))
    }
}

#[cfg(test)]
pub(crate) mod tests;
