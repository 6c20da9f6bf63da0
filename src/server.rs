//! Listeners and connection handling: viewer HTTP, viewer HTTPS (rustls, HTTP/1.1 and HTTP/2 by
//! ALPN) and graceful shutdown.
//!
//! Each accepted connection is served by hyper's auto (HTTP/1.1 or HTTP/2) connection builder and
//! watched by a [`GracefulShutdown`]: when the shutdown future resolves, the accept loops stop,
//! every connection finishes its in-flight requests (keep-alive connections are closed after the
//! current response), and the wait is bounded by the drain timeout.
//!
//! [`serve_on_workers`] runs that accept loop on `--workers` threads, each with its own
//! single-threaded runtime and a clone of the listening socket; a connection is served start to
//! end by the thread that accepted it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

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

/// Serves viewer connections from `listener` until `shutdown` fires, then drains for at most
/// `drain`. With `tls` set, every connection is a TLS handshake first.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    shutdown: Shutdown,
    drain: Duration,
) where
    H: Fn(hyper::Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: SendBody,
{
    serve_worker(listener, tls, handler, shutdown, drain, Balance::new(1), 0).await;
}

/// Live connections per worker thread, so that the threads sharing a listening socket take
/// turns: a thread holding more connections than another leaves the next one to that thread.
///
/// Without it, whichever thread wakes first takes a burst of connections: with the 50
/// connections wrk opens at once, one of two threads did 62% of the work (by CPU time), and the
/// busier thread set the pace of the whole edge.
///
/// The check comes before a thread waits on the socket (tokio offers no way to wait for a
/// connection without accepting it), so it evens out connections that arrive together; a
/// thread still holding more after 2 ms waits in `accept` like the others. Handing
/// accepted connections from one thread to another would balance exactly, at the price of a
/// wake-up per hand-off.
#[derive(Debug)]
pub struct Balance {
    live: Vec<crate::meter::CacheAligned<AtomicUsize>>,
}

/// Longest a thread leaves a waiting connection to a less busy one (which may itself be busy
/// with a long task) before it accepts it itself.
const BALANCE_WAIT: Duration = Duration::from_millis(2);

impl Balance {
    /// Counters for `workers` threads.
    pub fn new(workers: usize) -> Arc<Balance> {
        Arc::new(Balance {
            live: (0..workers.max(1))
                .map(|_| crate::meter::CacheAligned(AtomicUsize::new(0)))
                .collect(),
        })
    }

    /// Whether thread `me` holds more connections than some other thread.
    fn crowded(&self, me: usize) -> bool {
        let mine = self.live[me].load(Ordering::Relaxed);
        self.live
            .iter()
            .enumerate()
            .any(|(i, n)| i != me && n.load(Ordering::Relaxed) < mine)
    }

    /// Counts a connection on thread `me` until the guard drops.
    fn hold(self: &Arc<Self>, me: usize) -> Held {
        self.live[me].fetch_add(1, Ordering::Relaxed);
        Held(self.clone(), me)
    }
}

/// One live connection of a worker thread (see [`Balance`]).
struct Held(Arc<Balance>, usize);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.live[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_worker<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    shutdown: Shutdown,
    drain: Duration,
    balance: Arc<Balance>,
    me: usize,
) where
    H: Fn(hyper::Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: SendBody,
{
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder.http2().max_concurrent_streams(128);
    let builder = Arc::new(builder);
    let stop = shutdown.clone().wait();
    tokio::pin!(stop);
    'accepting: loop {
        // Leave the next connection to a less busy thread, for a moment.
        let deadline = tokio::time::Instant::now() + BALANCE_WAIT;
        while balance.crowded(me) && tokio::time::Instant::now() < deadline {
            tokio::select! {
                () = &mut stop => break 'accepting,
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let held = balance.hold(me);
        let handler = handler.clone();
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _held = held;
            match tls {
                None => {
                    let info = ConnInfo {
                        peer,
                        https: false,
                        tls_protocol: None,
                        tls_cipher: None,
                        tls_handshake: None,
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let fut = handler(req, info);
                        async move {
                            let resp = fut.await;
                            // This connection may be asked to write the body's bytes: it
                            // sends them from the mirror instead (see `crate::sendfile`).
                            if let Some(m) = resp.body().mirror() {
                                crate::sendfile::announce(m);
                            }
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let conn = builder.serve_connection(
                        TokioIo::new(crate::sendfile::SendfileStream::new(stream)),
                        svc,
                    );
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    let Ok(Ok(tls_stream)) = handshake.await else {
                        return;
                    };
                    let (_, session) = tls_stream.get_ref();
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
                    // The connection's first request reports its handshake; later ones reuse it.
                    let served = Arc::new(AtomicUsize::new(0));
                    let svc = hyper::service::service_fn(move |req| {
                        let mut info = info;
                        if served.fetch_add(1, Ordering::Relaxed) > 0 {
                            info.tls_handshake = Some("connectionReused");
                        }
                        let fut = handler(req, info);
                        async move { Ok::<_, std::convert::Infallible>(fut.await) }
                    });
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
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

/// Serves `listener` on `workers` threads, each running its own single-threaded runtime with
/// its own accept loop on a clone of the listening socket (see [`serve`] for the rest).
///
/// A connection stays on the thread that accepted it, so a request never wakes another thread;
/// under tokio's work-stealing scheduler, waking idle workers took a measurable share of a small
/// cache hit's CPU time. The threads take connections in turns ([`Balance`]): one that holds
/// more than another leaves the next connection to it, for up to 2 ms. Returns a future that resolves once every thread has drained; fails at once if a
/// thread or runtime cannot be started.
pub fn serve_on_workers<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: H,
    shutdown: Shutdown,
    drain: Duration,
    workers: usize,
    name: &str,
) -> std::io::Result<impl Future<Output = ()> + Send + 'static>
where
    H: Fn(hyper::Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<B>> + Send + 'static,
    B: SendBody,
{
    let listener = listener.into_std()?;
    let mut done = Vec::with_capacity(workers);
    let balance = Balance::new(workers);
    for i in 0..workers.max(1) {
        let balance = balance.clone();
        let socket = listener.try_clone()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (tls, handler, shutdown) = (tls.clone(), handler.clone(), shutdown.clone());
        std::thread::Builder::new()
            .name(format!("edgegate-{name}-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(socket) {
                        Ok(l) => serve_worker(l, tls, handler, shutdown, drain, balance, i).await,
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
mod balance_tests {
    use super::Balance;

    #[test]
    fn a_thread_with_more_connections_than_another_is_crowded() {
        let b = Balance::new(3);
        assert!(!b.crowded(0) && !b.crowded(1) && !b.crowded(2));
        let first = b.hold(0);
        assert!(b.crowded(0), "0 holds one, 1 and 2 none");
        assert!(!b.crowded(1) && !b.crowded(2));
        let second = b.hold(1);
        assert!(b.crowded(0) && b.crowded(1), "2 still holds none");
        let _third = b.hold(2);
        assert!(!b.crowded(0) && !b.crowded(1) && !b.crowded(2));
        drop(first);
        drop(second);
        assert!(b.crowded(2) && !b.crowded(0) && !b.crowded(1));
    }

    #[test]
    fn a_single_thread_is_never_crowded() {
        let b = Balance::new(1);
        let _held = b.hold(0);
        assert!(!b.crowded(0));
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
