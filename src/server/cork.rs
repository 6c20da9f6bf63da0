//! HTTP/2 over TLS with the socket corked for the length of one turn of the connection.
//!
//! h2 writes one DATA frame at a time and flushes after each one, and tokio-rustls turns every
//! write into a TLS record and a `writev` of its own: a 64 KiB response took five records and
//! five syscalls, and each 16 KiB frame with its 9-byte head was sealed as two records (16,384
//! and 9 bytes), TLS's largest record being 16 KiB of plaintext.
//!
//! Here the connection's stream is shared between hyper and the task driving the connection
//! ([`drive`]). hyper's writes are sealed into records that rustls keeps, and hyper's flushes
//! return at once; when hyper's turn ends (its connection future returns), the driver seals
//! what is left and hands every record to the socket in one `writev`. Plaintext is sealed in
//! whole 16 KiB records: what does not fill one waits (copied, at most 16 KiB - 1) for the next
//! write or the end of the turn. At most [`CORK_LIMIT`] bytes wait for the socket: beyond that a
//! write sends them first, and waits, as an ordinary write would, while the viewer is not
//! reading.
//!
//! Nothing waits beyond the turn that wrote it, so a response is on the wire as soon as it was
//! without the cork; shutdown seals and sends everything before the TLS close.

use std::future::Future;
use std::io::{self, IoSlice, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

/// Plaintext bytes of a full TLS record (TLS's maximum fragment length).
const RECORD: usize = 16 * 1024;

/// Most bytes of sealed records held for the socket before a write waits for the socket: what
/// an HTTP/1.1 connection's rustls holds (`TLS_SEND_BUFFER`), so a viewer that does not read
/// pins no more memory over HTTP/2.
pub(super) const CORK_LIMIT: usize = 128 * 1024;

/// Most of hyper's buffers considered in one write; it writes the rest again.
const MAX_IOV: usize = 32;

/// The state hyper and the driver share.
struct State<IO> {
    tls: TlsStream<IO>,
    /// Plaintext that does not fill a record yet, sealed by the next write or the turn's end.
    tail: Vec<u8>,
    /// Bytes sealed since the socket last took every record.
    sealed: usize,
}

fn lock<IO>(state: &Mutex<State<IO>>) -> MutexGuard<'_, State<IO>> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> State<IO> {
    /// Hands every sealed record to the socket.
    fn poll_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tls.get_ref().1.wants_write() {
            ready!(Pin::new(&mut self.tls).poll_flush(cx))?;
        }
        self.sealed = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals the tail (a record shorter than the others) and hands everything to the socket.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.tail.is_empty() {
            let n = self.tls.get_mut().1.writer().write(&self.tail)?;
            self.sealed += n;
            self.tail.drain(..n);
            if !self.tail.is_empty() {
                return Poll::Ready(Err(io::Error::other("TLS session refused plaintext")));
            }
        }
        self.poll_records(cx)
    }

    /// Seals what hyper wrote, in whole records, keeping the rest in the tail.
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.sealed >= CORK_LIMIT {
            ready!(self.poll_records(cx))?;
        }
        let bufs = &bufs[..bufs.len().min(MAX_IOV - 1)];
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let total = self.tail.len() + len;
        let seal = total - total % RECORD;
        if seal == 0 {
            for b in bufs {
                self.tail.extend_from_slice(b);
            }
            return Poll::Ready(Ok(len));
        }
        // The tail, then hyper's bytes up to `seal`; the tail is shorter than a record, so it
        // is all in.
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut k = 0;
        let mut left = seal;
        if !self.tail.is_empty() {
            iov[0] = IoSlice::new(&self.tail);
            k = 1;
            left -= self.tail.len();
        }
        // Where sealing stopped: in which buffer, and after how many of its bytes.
        let (mut stop, mut cut) = (0, 0);
        for (i, b) in bufs.iter().enumerate() {
            let t = b.len().min(left);
            iov[k] = IoSlice::new(&b[..t]);
            k += 1;
            left -= t;
            (stop, cut) = (i, t);
            if left == 0 {
                break;
            }
        }
        let n = self.tls.get_mut().1.writer().write_vectored(&iov[..k])?;
        if n != seal {
            return Poll::Ready(Err(io::Error::other("TLS session refused plaintext")));
        }
        self.sealed += n;
        self.tail.clear();
        // What did not fill a record: the rest of the buffer sealing stopped in, and after it.
        self.tail.extend_from_slice(&bufs[stop][cut..]);
        for b in &bufs[stop + 1..] {
            self.tail.extend_from_slice(b);
        }
        Poll::Ready(Ok(len))
    }
}

/// hyper's side of a corked connection: reads go to TLS, writes are sealed and held, flushes
/// wait for the turn's end ([`drive`]).
pub(super) struct Corked<IO>(Arc<Mutex<State<IO>>>);

/// The driver's side of a corked connection (see [`drive`]).
pub(super) struct Sender<IO>(Arc<Mutex<State<IO>>>);

/// Corks an established TLS connection: hyper gets the first half, [`drive`] the second.
pub(super) fn cork<IO>(mut tls: TlsStream<IO>) -> (Corked<IO>, Sender<IO>) {
    // The cork bounds what waits for the socket ([`CORK_LIMIT`]), so rustls takes every write.
    tls.get_mut().1.set_buffer_limit(None);
    let state = Arc::new(Mutex::new(State {
        tls,
        tail: Vec::new(),
        sealed: 0,
    }));
    (Corked(state.clone()), Sender(state))
}

/// Drives `conn` (hyper's connection, served over the [`Corked`] half) and, after each of its
/// turns, sends what it wrote. Resolves when the connection has ended and its last bytes are
/// with the socket, or at once when the socket fails.
pub(super) async fn drive<F: Future, IO: AsyncRead + AsyncWrite + Unpin>(
    conn: F,
    sender: Sender<IO>,
) {
    let mut conn = std::pin::pin!(conn);
    let mut done = false;
    std::future::poll_fn(|cx| {
        if !done && conn.as_mut().poll(cx).is_ready() {
            done = true;
        }
        match lock(&sender.0).poll_send(cx) {
            Poll::Ready(Err(error)) => {
                tracing::debug!(%error, "TLS connection failed while sending");
                Poll::Ready(())
            }
            Poll::Ready(Ok(())) if done => Poll::Ready(()),
            _ => Poll::Pending,
        }
    })
    .await
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Corked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut lock(&self.0).tls).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Corked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_write(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Returns at once: [`drive`] sends at the end of the turn.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = lock(&self.0);
        ready!(state.poll_send(cx))?;
        Pin::new(&mut state.tls).poll_shutdown(cx)
    }
}
