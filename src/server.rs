//! Listeners and connection handling: viewer HTTP, viewer HTTPS (rustls, HTTP/1.1 and HTTP/2 by
//! ALPN) and graceful shutdown.
//!
//! Each accepted connection is served by hyper's auto (HTTP/1.1 or HTTP/2) connection builder and
//! watched by a [`GracefulShutdown`]: when the shutdown future resolves, the accept loops stop,
//! every connection finishes its in-flight requests (keep-alive connections are closed after the
//! current response), and the wait is bounded by the drain timeout.
//!
//! [`serve_on_workers`] runs that accept loop on `--workers` threads, each with its own
//! single-threaded runtime and its own listening socket of one `SO_REUSEPORT` group
//! ([`bind_group`]); a connection is served start to end by the thread that accepted it.
//!
//! What a connection may hold is bounded ([`Limits`]): a watchdog beside each connection closes
//! it when a request head takes longer than the header timeout, when it has had no request in
//! flight for the keep-alive timeout, or when a write has waited on a peer that does not read
//! for the send timeout. The listeners that share a [`Gate`] hold at most its number of
//! connections; at the limit, or when accepting fails for lack of descriptors, idle connections
//! are closed first and accepting pauses instead of spinning. Repeated warnings go through a
//! [`Throttle`].

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

mod cork;

/// What the request handler knows about the connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The viewer's socket address (the TCP peer).
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub https: bool,
    /// The negotiated TLS protocol, as CloudFront logs it (`TLSv1.3`), if TLS.
    pub tls_protocol: Option<&'static str>,
    /// The negotiated cipher suite in OpenSSL naming where known, if TLS.
    pub tls_cipher: Option<&'static str>,
    /// How this request's TLS connection was set up, as `CloudFront-Viewer-TLS` names it:
    /// `fullHandshake`, `sessionResumed`, or `connectionReused` for every request after the
    /// connection's first. `None` on plain HTTP.
    pub tls_handshake: Option<&'static str>,
}

/// What a handler's responses carry: a body hyper can send on HTTP/1 and HTTP/2 connections,
/// which may say that its bytes are also in a file mirror. On plain TCP the connection then
/// sends them from that file with `sendfile` ([`crate::sendfile`]).
pub trait SendBody:
    http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + Unpin
    + 'static
{
    /// The file mirror of the body's bytes, if there is one.
    fn mirror(&self) -> Option<&Arc<crate::sendfile::Mirror>> {
        None
    }
}

impl SendBody for crate::edge::ResponseBody {
    fn mirror(&self) -> Option<&Arc<crate::sendfile::Mirror>> {
        crate::edge::ResponseBody::mirror(self)
    }
}

/// Largest request head hyper will buffer. CloudFront's own limit (20,480 bytes of request line
/// and headers → 413) is enforced by the edge, so this only needs to be comfortably above it.
pub const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Why a certificate and key cannot make a TLS acceptor; the text names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The certificate file is not PEM.
    #[error("{}: not a PEM certificate chain: {error}", path.display())]
    Certificates {
        /// The certificate file.
        path: PathBuf,
        /// The parse error.
        #[source]
        error: std::io::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{}: no CERTIFICATE block found", .0.display())]
    NoCertificate(PathBuf),
    /// The key file is not PEM.
    #[error("{}: not a PEM private key: {error}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// The parse error.
        #[source]
        error: std::io::Error,
    },
    /// The key file holds no private key.
    #[error("{}: no PRIVATE KEY block found", .0.display())]
    NoKey(PathBuf),
    /// rustls refused the protocol versions.
    #[error("TLS: {0}")]
    Protocol(#[source] rustls::Error),
    /// The key does not belong to the certificate, or is of an unusable type.
    #[error("{}: certificate and key do not form a usable pair: {error}", path.display())]
    Pair {
        /// The certificate file.
        path: PathBuf,
        /// rustls's reason.
        #[source]
        error: rustls::Error,
    },
}

/// Loads a PEM certificate chain and private key into a TLS acceptor offering h2 and http/1.1.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|error| TlsError::Read {
            path: p.to_owned(),
            error,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Certificates {
            path: cert.to_owned(),
            error,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|error| TlsError::Key {
            path: key.to_owned(),
            error,
        })?
        .ok_or_else(|| TlsError::NoKey(key.to_owned()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TlsError::Protocol)?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|error| TlsError::Pair {
        path: cert.to_owned(),
        error,
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A signal that fires once, shared by every accept loop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Creates the trigger and the signal.
    pub fn new() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    /// Resolves once shutdown has been requested (or the trigger was dropped).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

/// Timeouts and limits of a listener's connections (the settings of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time a connection has to send a complete request head: from the head's first byte, or
    /// from the accept while a new connection has sent nothing.
    pub header_timeout: Duration,
    /// Time a connection with no request in flight waits for the next one (HTTP/1.1
    /// keep-alive and HTTP/2 alike).
    pub keepalive_timeout: Duration,
    /// Time a write may stay blocked on a peer that does not read.
    pub send_timeout: Duration,
    /// Most connections open at once on the listeners sharing a [`Gate`].
    pub max_connections: usize,
}

/// Open-file descriptors kept back from viewer connections for the journal, the logs, the
/// state store, TLS files, and the admin listener.
pub const FD_RESERVE: u64 = 256;

/// Most connections the admin listener holds at once.
pub const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Longest a TLS handshake may take (bounded further by the header timeout).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of encrypted records a TLS connection holds for a socket that is not taking them
/// (rustls's default is 64 KiB): a 64 KiB body with its head goes out in one write.
const TLS_SEND_BUFFER: usize = 128 * 1024;

/// The default of `--max-connections`: half of the open-file limit (each viewer connection may
/// hold an origin connection too) left after [`FD_RESERVE`], and at least 16.
pub fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 21);
    let n = limit.saturating_sub(FD_RESERVE) / 2;
    usize::try_from(n.clamp(16, 1 << 20)).unwrap_or(1 << 20)
}

/// The listen backlog: the system's maximum (`/proc/sys/net/core/somaxconn`, which the kernel
/// caps any backlog at), or 4096 where it cannot be read.
pub fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .map_or(4096, |n| n.clamp(128, 65_535))
}

/// Binds `n` listening sockets to `addr`, one per worker thread, in one `SO_REUSEPORT` group:
/// the kernel spreads new connections over them, so no worker waits on another. Each has the
/// [`listen_backlog`].
///
/// With a fixed port the address is first bound alone (without `SO_REUSEPORT`), so that an
/// address already in use (another edgegate) fails as a plain bind would, instead of the two
/// sharing the port.
pub fn bind_group(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        let probe = socket_for(addr)?;
        rustix::net::bind(&probe, &addr)?;
    }
    let first = listen_socket(addr)?;
    let actual = first.local_addr()?;
    let mut all = Vec::with_capacity(n.max(1));
    all.push(first);
    for _ in 1..n.max(1) {
        all.push(listen_socket(actual)?);
    }
    Ok(all)
}

fn socket_for(addr: SocketAddr) -> std::io::Result<rustix::fd::OwnedFd> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
    Ok(fd)
}

fn listen_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let fd = socket_for(addr)?;
    rustix::net::sockopt::set_socket_reuseport(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, listen_backlog())?;
    Ok(std::net::TcpListener::from(fd))
}

/// A warning logged at most once per interval, with the number left out since the last one:
/// one attacking client per connection must not write one log line per connection.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: std::sync::Mutex<Option<std::time::Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    /// At most one warning per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            last: std::sync::Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether to log this warning now: `Some` with the number of similar warnings suppressed
    /// since the last one logged, or `None` (counted) while the interval has not passed.
    pub fn admit(&self) -> Option<Suppressed> {
        let now = std::time::Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match *last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(Suppressed(self.suppressed.swap(0, Ordering::Relaxed)))
            }
        }
    }
}

/// How many similar warnings a [`Throttle`] left out; displays as
/// `" (N similar warnings suppressed)"`, or nothing when none were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed(pub u64);

impl std::fmt::Display for Suppressed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(" (1 similar warning suppressed)"),
            n => write!(f, " ({n} similar warnings suppressed)"),
        }
    }
}

/// How often a repeated per-connection warning is logged.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

static ACCEPT_FAILED: Throttle = Throttle::new(WARN_INTERVAL);
static AT_CAPACITY: Throttle = Throttle::new(WARN_INTERVAL);

/// The connections of the listeners that share a limit: counts them, and asks idle ones to
/// close when the limit is reached or descriptors run short.
#[derive(Debug)]
pub struct Gate {
    live: AtomicUsize,
    max: usize,
    /// Wakes every connection's watchdog to close its connection if idle.
    reap: tokio::sync::Notify,
    /// Wakes accept loops waiting for a connection to end.
    freed: tokio::sync::Notify,
}

impl Gate {
    /// A limit of `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Gate> {
        Arc::new(Gate {
            live: AtomicUsize::new(0),
            max: max.max(1),
            reap: tokio::sync::Notify::new(),
            freed: tokio::sync::Notify::new(),
        })
    }

    /// Connections open now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// A place for one more connection, if the limit allows.
    fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

/// One connection's place under a [`Gate`]'s limit.
struct Slot(Arc<Gate>);

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) >= self.0.max {
            self.0.freed.notify_waiters();
        }
    }
}

/// What a connection is doing, for its watchdog: times in milliseconds since its accept.
#[derive(Debug)]
struct Activity {
    base: std::time::Instant,
    /// Requests whose response has not been sent to its end.
    in_flight: AtomicUsize,
    /// Requests received.
    served: AtomicU64,
    /// When the last request in flight ended (0: the accept).
    idle_since: AtomicU64,
    /// When the first byte arrived while no request was in flight, plus one; 0: none.
    head_since: AtomicU64,
    /// When a write started waiting for the peer to read, plus one; 0: not waiting.
    blocked_since: AtomicU64,
}

/// Why a watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// No complete request head within the header timeout.
    Head,
    /// No new request within the keep-alive timeout.
    Idle,
    /// A write blocked for the send timeout.
    Send,
    /// Idle while connections or descriptors ran short.
    Reaped,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity::fresh())
    }

    fn fresh() -> Activity {
        Activity {
            base: std::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX / 2)
    }

    fn read(&self, n: usize) {
        if n > 0
            && self.head_since.load(Ordering::Relaxed) == 0
            && self.in_flight.load(Ordering::Acquire) == 0
        {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    fn write<T>(&self, result: &Poll<T>) {
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        match (result.is_pending(), blocked) {
            (true, 0) => self.blocked_since.store(self.now() + 1, Ordering::Relaxed),
            (false, b) if b != 0 => self.blocked_since.store(0, Ordering::Relaxed),
            _ => {}
        }
    }

    fn begin(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    fn end(&self) {
        self.idle_since.store(self.now(), Ordering::Release);
        self.head_since.store(0, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// The time until the next check, or why the connection is to be closed now.
    fn verdict(&self, limits: &Limits) -> Result<Duration, Closed> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        let now = self.now();
        let mut next = now
            + ms(limits
                .header_timeout
                .min(limits.keepalive_timeout)
                .min(limits.send_timeout));
        let blocked = self.blocked_since.load(Ordering::Relaxed);
        if blocked != 0 {
            let deadline = blocked - 1 + ms(limits.send_timeout);
            if now >= deadline {
                return Err(Closed::Send);
            }
            next = next.min(deadline);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let head = self.head_since.load(Ordering::Relaxed);
            let (deadline, why) = if head != 0 {
                (head - 1 + ms(limits.header_timeout), Closed::Head)
            } else if self.served.load(Ordering::Relaxed) == 0 {
                (ms(limits.header_timeout), Closed::Head)
            } else {
                (
                    self.idle_since.load(Ordering::Acquire) + ms(limits.keepalive_timeout),
                    Closed::Idle,
                )
            };
            if now >= deadline {
                return Err(why);
            }
            next = next.min(deadline);
        }
        Ok(Duration::from_millis(next.saturating_sub(now).max(1)))
    }

    /// Whether the connection may be closed to make room: no request in flight, and no
    /// request head arriving for less than a second. A new connection's first request is on
    /// its way from the accept on (its bytes may not have been read yet), so it gets that
    /// second too: closing it would reset a viewer that has just sent its request.
    fn reapable(&self) -> bool {
        let mut head = self.head_since.load(Ordering::Relaxed);
        if head == 0 && self.served.load(Ordering::Relaxed) == 0 {
            head = 1;
        }
        self.in_flight.load(Ordering::Acquire) == 0 && (head == 0 || self.now() >= head + 1_000)
    }
}

/// Watches a connection until one of its timeouts runs out, or it is idle when the [`Gate`]
/// asks for room; returns why it is to be closed.
async fn watchdog(activity: &Activity, limits: &Limits, gate: &Gate) -> Closed {
    loop {
        let wait = match activity.verdict(limits) {
            Ok(wait) => wait,
            Err(why) => return why,
        };
        let reap = gate.reap.notified();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = reap => if activity.reapable() {
                return Closed::Reaped;
            },
        }
    }
}

/// A connection's byte stream, noting reads and blocked writes in its [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.write(&polled);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request in flight on a connection, from its head until its response body has ended or
/// been dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.begin();
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request counted as in flight until it ends.
struct Counted<B> {
    body: B,
    in_flight: Option<InFlight>,
}

impl<B: SendBody> http_body::Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl<B: SendBody> SendBody for Counted<B> {
    fn mirror(&self) -> Option<&Arc<crate::sendfile::Mirror>> {
        self.body.mirror()
    }
}

impl SendBody for axum::body::Body {}

/// The hyper connection builder. Its own header timeout is off: it runs from the moment the
/// connection waits for a request, so it would also cut keep-alive connections short; each
/// connection's watchdog keeps the header and keep-alive timeouts instead.
fn conn_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().max_concurrent_streams(128);
    builder
}

/// Whether an accept failed for lack of descriptors or kernel memory.
fn out_of_resources(error: &std::io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
        .iter()
        .any(|e| error.raw_os_error() == Some(e.raw_os_error()))
}

/// First and longest pause of the accept loop after a failed accept; the pause doubles while
/// accepts keep failing.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Serves connections from `listener` on the current runtime until `shutdown` fires, then
/// drains for at most `drain`. With `tls` set, every connection is a TLS handshake first.
/// The connections count against `gate`, and are closed by the timeouts of `limits`.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    shutdown: Shutdown,
    drain: Duration,
    limits: Limits,
    gate: Arc<Gate>,
) where
    H: Fn(hyper::Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: SendBody,
{
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(conn_builder());
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut backoff = ACCEPT_BACKOFF.0;
    'accepting: loop {
        // A place under the limit first. At the limit, idle connections are asked to close
        // and new ones wait in the listen queue until one has.
        let slot = loop {
            let freed = gate.freed.notified();
            if let Some(slot) = gate.try_take() {
                break slot;
            }
            gate.reap.notify_waiters();
            if let Some(n) = AT_CAPACITY.admit() {
                tracing::warn!(
                    max = gate.max,
                    "connection limit reached: closing idle connections, new ones wait{n}"
                );
            }
            tokio::select! {
                () = &mut stop => break 'accepting,
                () = freed => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = ACCEPT_BACKOFF.0;
                    a
                }
                Err(error) => {
                    drop(slot);
                    // Out of descriptors: idle connections give theirs back, and the loop
                    // pauses (longer each time) instead of spinning on the same error.
                    if out_of_resources(&error) {
                        gate.reap.notify_waiters();
                    }
                    if let Some(n) = ACCEPT_FAILED.admit() {
                        tracing::warn!(%error, "accept failed; pausing accepts{n}");
                    }
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        let gate = gate.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let activity = Activity::new();
            match tls {
                None => {
                    let info = ConnInfo {
                        peer,
                        https: false,
                        tls_protocol: None,
                        tls_cipher: None,
                        tls_handshake: None,
                    };
                    let counting = activity.clone();
                    let svc = hyper::service::service_fn(move |req| {
                        let in_flight = InFlight::new(&counting);
                        let fut = handler(req, info);
                        async move {
                            let resp = fut.await;
                            // This connection may be asked to write the body's bytes: it
                            // sends them from the mirror instead (see `crate::sendfile`).
                            if let Some(m) = resp.body().mirror() {
                                crate::sendfile::announce(m);
                            }
                            Ok::<_, std::convert::Infallible>(resp.map(|body| Counted {
                                body,
                                in_flight: Some(in_flight),
                            }))
                        }
                    });
                    let io = Watched {
                        inner: crate::sendfile::SendfileStream::new(stream),
                        activity: activity.clone(),
                    };
                    let conn = builder.serve_connection(TokioIo::new(io), svc);
                    let served = watcher.watch(conn.into_owned());
                    tokio::select! {
                        _ = served => {}
                        why = watchdog(&activity, &limits, &gate) => {
                            tracing::debug!(%peer, ?why, "connection closed");
                        }
                    }
                }
                Some(acceptor) => {
                    let io = Watched {
                        inner: stream,
                        activity: activity.clone(),
                    };
                    let handshake = tokio::time::timeout(
                        limits.header_timeout.min(TLS_HANDSHAKE_TIMEOUT),
                        acceptor.accept(io),
                    );
                    let Ok(Ok(mut tls_stream)) = handshake.await else {
                        return;
                    };
                    // Room for a whole 64 KiB body and its head in one write: with rustls's
                    // default (64 KiB of records waiting for the socket) such a response takes
                    // a second write, record and syscall for its last kilobyte. (An HTTP/2
                    // connection's cork bounds what waits for the socket itself.)
                    tls_stream
                        .get_mut()
                        .1
                        .set_buffer_limit(Some(TLS_SEND_BUFFER));
                    let (_, session) = tls_stream.get_ref();
                    let h2 = session.alpn_protocol() == Some(b"h2".as_slice());
                    let info = ConnInfo {
                        peer,
                        https: true,
                        tls_protocol: session.protocol_version().map(tls_protocol_name),
                        tls_cipher: session
                            .negotiated_cipher_suite()
                            .map(|s| cipher_name(s.suite())),
                        tls_handshake: Some(match session.handshake_kind() {
                            Some(rustls::HandshakeKind::Resumed) => "sessionResumed",
                            _ => "fullHandshake",
                        }),
                    };
                    // The handshake's bytes are not a request head.
                    activity.head_since.store(0, Ordering::Relaxed);
                    // The connection's first request reports its handshake; later ones reuse it.
                    let served = Arc::new(AtomicUsize::new(0));
                    let counting = activity.clone();
                    // The request's future, boxed or not (`$wrap`). Over HTTP/2 hyper spawns a
                    // task per stream that holds this future and moves it several times on the
                    // way: boxed, what moves is a pointer, not the pipeline's whole state (from
                    // 208k to 74k instructions per 1 KiB hit over h2). Over HTTP/1.1 the box
                    // costs more than it saves (hyper keeps the future in place): not boxed.
                    macro_rules! service {
                        ($wrap:path) => {
                            hyper::service::service_fn(move |req| {
                                let mut info = info;
                                if served.fetch_add(1, Ordering::Relaxed) > 0 {
                                    info.tls_handshake = Some("connectionReused");
                                }
                                let in_flight = InFlight::new(&counting);
                                let fut = handler(req, info);
                                $wrap(async move {
                                    let resp = fut.await;
                                    Ok::<_, std::convert::Infallible>(resp.map(|body| Counted {
                                        body,
                                        in_flight: Some(in_flight),
                                    }))
                                })
                            })
                        };
                    }
                    macro_rules! until_closed {
                        ($served:expr) => {
                            tokio::select! {
                                _ = $served => {}
                                why = watchdog(&activity, &limits, &gate) => {
                                    tracing::debug!(%peer, ?why, "connection closed");
                                }
                            }
                        };
                    }
                    if h2 {
                        // h2 writes and flushes a frame at a time: its writes wait for the end
                        // of the connection's turn and leave in whole records, in one write
                        // (see `cork`).
                        let (io, sender) = cork::cork(tls_stream);
                        let conn = builder.serve_connection(TokioIo::new(io), service!(Box::pin));
                        until_closed!(cork::drive(watcher.watch(conn.into_owned()), sender));
                    } else {
                        // hyper writes an HTTP/1.1 response's head and body in one write.
                        let conn = builder.serve_connection(
                            TokioIo::new(tls_stream),
                            service!(std::convert::identity),
                        );
                        until_closed!(watcher.watch(conn.into_owned()));
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "drain timeout: closing connections with requests still in flight"
        );
    }
}

/// Serves `listeners` (from [`bind_group`]) on as many threads, each running its own
/// single-threaded runtime with its own accept loop on its own socket (see [`serve`] for the
/// rest). The connections of every thread count against one `gate`.
///
/// A connection stays on the thread that accepted it, so a request never wakes another thread;
/// under tokio's work-stealing scheduler, waking idle workers took a measurable share of a small
/// cache hit's CPU time. The kernel spreads new connections over the threads' sockets
/// (`SO_REUSEPORT`), so no thread waits for another. Returns a future that resolves once every
/// thread has drained; fails at once if a thread or runtime cannot be started.
#[allow(clippy::too_many_arguments)]
pub fn serve_on_workers<H, F, B>(
    listeners: Vec<std::net::TcpListener>,
    tls: Option<TlsAcceptor>,
    handler: H,
    shutdown: Shutdown,
    drain: Duration,
    limits: Limits,
    gate: Arc<Gate>,
    name: &str,
) -> std::io::Result<impl Future<Output = ()> + Send + 'static>
where
    H: Fn(hyper::Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: SendBody,
{
    let mut done = Vec::with_capacity(listeners.len());
    for (i, socket) in listeners.into_iter().enumerate() {
        socket.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (tls, handler, shutdown, gate) =
            (tls.clone(), handler.clone(), shutdown.clone(), gate.clone());
        std::thread::Builder::new()
            .name(format!("edgegate-{name}-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(socket) {
                        Ok(l) => serve(l, tls, handler, shutdown, drain, limits, gate).await,
                        Err(error) => tracing::error!(%error, "worker cannot listen"),
                    }
                });
                // Connection tasks still running after the drain are dropped with the runtime.
                drop(runtime);
                let _ = tx.send(());
            })?;
        done.push(rx);
    }
    Ok(async move {
        for rx in done {
            let _ = rx.await;
        }
    })
}

fn tls_protocol_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        _ => "TLSv1",
    }
}

/// CloudFront logs ciphers in OpenSSL naming (`ECDHE-RSA-AES128-GCM-SHA256`, and the IANA name
/// for TLS 1.3 suites such as `TLS_AES_128_GCM_SHA256`).
fn cipher_name(s: rustls::CipherSuite) -> &'static str {
    use rustls::CipherSuite as C;
    match s {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        _ => "-",
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_millis(300),
            keepalive_timeout: Duration::from_millis(600),
            send_timeout: Duration::from_millis(400),
            max_connections: 2,
        }
    }

    /// An activity whose clock reads `ms` milliseconds later than it does.
    fn later(a: &mut Activity, ms: u64) {
        a.base -= Duration::from_millis(ms);
    }

    #[test]
    fn a_silent_connection_gets_the_header_timeout_then_the_keepalive_one() {
        let l = limits();
        let mut a = Activity::fresh();
        assert!(a.verdict(&l).unwrap() <= l.header_timeout);
        later(&mut a, 350);
        assert_eq!(a.verdict(&l), Err(Closed::Head));
        // A request came and went: the keep-alive timeout, from its end.
        a.begin();
        assert!(a.verdict(&l).is_ok(), "a request in flight is not idle");
        a.end();
        later(&mut a, 500);
        assert!(
            a.verdict(&l).is_ok(),
            "idle for less than the keep-alive timeout"
        );
        later(&mut a, 200);
        assert_eq!(a.verdict(&l), Err(Closed::Idle));
    }

    #[test]
    fn a_new_connection_is_not_reaped_before_its_first_request_could_arrive() {
        let mut a = Activity::fresh();
        assert!(!a.reapable(), "just accepted: its request may be unread");
        later(&mut a, 1_001);
        assert!(a.reapable(), "silent for a second after the accept");
        let b = Activity::fresh();
        b.begin();
        b.end();
        assert!(b.reapable(), "idle after a request");
    }

    #[test]
    fn a_partial_head_is_bounded_by_the_header_timeout() {
        let mut a = Activity::fresh();
        a.begin();
        a.end();
        a.read(1);
        assert!(!a.reapable(), "a head is arriving");
        later(&mut a, 310);
        assert_eq!(a.verdict(&limits()), Err(Closed::Head));
        later(&mut a, 1_000);
        assert!(a.reapable(), "a head pending for over a second");
    }

    #[test]
    fn a_blocked_write_is_bounded_by_the_send_timeout_even_mid_request() {
        let mut a = Activity::fresh();
        a.begin();
        a.write(&Poll::<()>::Pending);
        assert!(a.verdict(&limits()).is_ok());
        later(&mut a, 410);
        assert_eq!(a.verdict(&limits()), Err(Closed::Send));
        a.write(&Poll::Ready(()));
        assert!(a.verdict(&limits()).is_ok(), "the write went through");
        assert!(!a.reapable(), "a request is in flight");
    }

    #[test]
    fn the_gate_counts_connections_up_to_its_limit() {
        let g = Gate::new(2);
        let one = g.try_take().unwrap();
        let _two = g.try_take().unwrap();
        assert!(g.try_take().is_none());
        assert_eq!(g.live(), 2);
        drop(one);
        assert!(g.try_take().is_some());
    }

    #[test]
    fn a_throttle_counts_what_it_leaves_out() {
        let t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.admit(), Some(Suppressed(0)));
        for _ in 0..5 {
            assert_eq!(t.admit(), None);
        }
        assert_eq!(
            Suppressed(5).to_string(),
            " (5 similar warnings suppressed)"
        );
        assert_eq!(Suppressed(0).to_string(), "");
        let t = Throttle::new(Duration::ZERO);
        assert_eq!(t.admit(), Some(Suppressed(0)));
        assert_eq!(t.admit(), Some(Suppressed(0)));
    }

    #[test]
    fn a_bound_group_shares_one_port_and_refuses_a_second_owner() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = group[0].local_addr().unwrap().port();
        assert!(group.iter().all(|l| l.local_addr().unwrap().port() == port));
        let Err(e) = bind_group(SocketAddr::from(([127, 0, 0, 1], port)), 2) else {
            panic!("a second group on a port in use must not bind");
        };
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
        assert!(listen_backlog() >= 128);
        assert!(default_max_connections() >= 16);
    }
}

#[cfg(test)]
mod tls_tests {
    use super::{TlsError, tls_acceptor};

    #[test]
    fn bad_certificate_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let Err(e) = tls_acceptor(&missing, &missing) else {
            panic!("a missing file is an error")
        };
        assert!(matches!(&e, TlsError::Read { path, .. } if *path == missing));
        assert!(e.to_string().contains("missing.pem: cannot read"), "{e}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let Err(e) = tls_acceptor(&empty, &empty) else {
            panic!("a file without a certificate is an error")
        };
        assert!(
            matches!(&e, TlsError::NoCertificate(p) if *p == empty),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("empty.pem: no CERTIFICATE block found"),
            "{e}"
        );
    }
}
