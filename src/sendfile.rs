//! Zero-copy sends of cached bodies on plain-TCP connections.
//!
//! Writing a cached body with `writev` makes the kernel copy every byte into the socket's
//! buffers; at 64 KiB and above that copy is a fifth to a half of a cache hit's CPU time
//! (`benches/results/2026-12-02-compare.md`, the readings of the runs). `sendfile` from a file
//! skips it: the socket's buffers refer to the file's pages. So a cached body of [`MIN_BODY`]
//! bytes or more also gets a [`Mirror`]: a sealed, anonymous in-memory file (`memfd`) holding
//! the same bytes, made on a blocking thread when the object is stored and kept beside the body
//! for as long as the object is cached.
//!
//! hyper still builds every response as usual, and writes the body's `Bytes` through the
//! connection's I/O object. On plain TCP that object is a [`SendfileStream`]: when a buffer it is
//! asked to write lies inside the memory of a body whose mirror is alive, it sends the mirror's
//! bytes at the same offset with `sendfile` instead (the response head before it goes first, with
//! `MSG_MORE`, so head and body still leave in the same packets). A buffer is matched by its
//! address: while the mirror lives it holds a reference to the body's memory, so no other buffer
//! can occupy those addresses, and the body's bytes (immutable) and the mirror's (sealed) are the
//! same. Anything that does not match is written as before, so HTTP/2 frames, ranges (slices of
//! the body), TLS and stale lookups all stay correct; at worst a buffer is copied.
//!
//! Which mirrors a thread may be asked about is known from the cache hits it served: a response
//! served from the cache carries its object ([`crate::edge::ResponseBody::mirror`]), and the
//! connection ([`crate::server`]) [`announce`]s that mirror, into a small table of the thread's
//! own (weak references, no locks), before it writes the response. A worker thread serves its connections from start to
//! end, so the writes of its responses happen on the thread that announced their mirrors.
//!
//! A body a disk cache object keeps in its file is never read into memory
//! ([`crate::cache::disk`]): its mirror is a *token* ([`Mirror::token`]) that stands for the
//! file's bytes. When the connection announced it (a plain-TCP HTTP/1 connection), the body is
//! handed over in windows ([`Mirror::token_body`], [`TOKEN_WINDOW`] bytes each) of a reused
//! buffer whose own bytes are never sent: each window is a mirror of its own for its part of
//! the file, kept in a list every thread looks at until it dies, so every slice of a window a
//! connection writes is found and sent from the file (a thread's 16 recent announcements do
//! not limit it). Should
//! `sendfile` itself fail for a window, its bytes are read from the file and sent by copy.
//!
//! A disk cache file's pages may have left the page cache, and `sendfile` would then read them
//! from the disk on the event loop. So every send from a cache file first asks [`pagecache`]
//! whether its range is resident: a token window that is not is read into the page cache on a
//! blocking thread while the write waits ([`SendfileStream`] keeps the read it waits for), and
//! a body that is also in memory is written from memory instead ([`cold_sends`] counts both).
//!
//! A mirror costs its body's size again in memory (in the page cache, not in the process's
//! resident set), and the cache weighs objects with a mirror twice over, so `--cache-size` still
//! bounds what is held. `--sendfile off` turns mirrors off. The number of mirrors is kept under
//! half of the open-file limit (raised to its hard maximum at start-up), so they never starve
//! `accept`. `/metrics` shows the bytes held in mirrors ([`bytes_held`]), sent from them
//! ([`bytes_sent`]), and the cold sends.

use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

pub mod pagecache;

/// The smallest body given a mirror. Below it, the copy `sendfile` saves costs less than the
/// extra system call it takes (head and body are sent by two calls instead of one `writev`).
pub const MIN_BODY: usize = 16 * 1024;

/// Mirrors alive in the process, kept under [`mirror_limit`].
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Body bytes sent with `sendfile` since the process started.
static SENT: AtomicU64 = AtomicU64::new(0);

/// Bytes held in live mirrors.
static HELD: AtomicU64 = AtomicU64::new(0);

/// Sends from a cache file that found some of their bytes outside the page cache.
static COLD: AtomicU64 = AtomicU64::new(0);

/// Sends from a disk cache file that found some of their pages outside the page cache, so
/// they were read on a blocking thread first, or written from memory (see [`pagecache`]).
pub fn cold_sends() -> u64 {
    COLD.load(Ordering::Relaxed)
}

/// Bytes held in mirrors now (in memfds, outside the process's resident set).
pub fn bytes_held() -> u64 {
    HELD.load(Ordering::Relaxed)
}

/// Body bytes sent with `sendfile` (from mirrors) since the process started, by every
/// connection.
pub fn bytes_sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// A cached body's copy in a sealed memfd, from which [`SendfileStream`] sends it.
pub struct Mirror {
    file: OwnedFd,
    /// Where the body starts in `file`: 0 in a memfd, the body's offset in a disk cache file.
    start: u64,
    /// Whether `file` is a memfd made for the mirror (it weighs its length in memory).
    memfd: bool,
    /// A token (see the module docs): `_body` holds zeros, not the bytes, which are in `file`.
    token: bool,
    /// The body's address and length: the memory this mirror stands for.
    base: usize,
    len: usize,
    /// Keeps the body's memory alive (and so its addresses taken) as long as the mirror is.
    _body: Bytes,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// A mirror of `body`, if it is at least [`MIN_BODY`] bytes and one more mirror stays within
    /// the limit; `None` also when the memfd cannot be made (the body is then written as before).
    pub fn of(body: &Bytes) -> Option<Arc<Mirror>> {
        if body.len() < MIN_BODY {
            return None;
        }
        if LIVE.fetch_add(1, Ordering::Relaxed) >= mirror_limit() {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        match write_sealed(body) {
            Ok(file) => Some(Arc::new({
                HELD.fetch_add(body.len() as u64, Ordering::Relaxed);
                Mirror {
                    file,
                    start: 0,
                    memfd: true,
                    token: false,
                    base: body.as_ptr() as usize,
                    len: body.len(),
                    _body: body.clone(),
                }
            })),
            Err(error) => {
                LIVE.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(%error, "no memfd for a cached body; it is written by copy");
                None
            }
        }
    }

    /// A mirror of `body` that is the bytes of `file` from `start` on: a disk cache file
    /// ([`crate::cache::disk`]), which is never written again once committed, so its bytes
    /// and the body's stay the same. Takes no memory beyond the page cache; `None` past the
    /// limit on mirrors, or for a body below [`MIN_BODY`].
    pub fn of_file(file: OwnedFd, start: u64, body: &Bytes) -> Option<Arc<Mirror>> {
        if body.len() < MIN_BODY {
            return None;
        }
        if LIVE.fetch_add(1, Ordering::Relaxed) >= mirror_limit() {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Arc::new(Mirror {
            file,
            start,
            memfd: false,
            token: false,
            base: body.as_ptr() as usize,
            len: body.len(),
            _body: body.clone(),
        }))
    }

    /// A token (see the module docs) for the `len` bytes of `file` from `start`: a disk cache
    /// file's body that is not in memory. It stands for no memory itself; announced, it tells
    /// [`Mirror::token_body`] that the connection sends with `sendfile`. `None` below
    /// [`MIN_BODY`] (the body is then read from the file in chunks).
    pub fn token(file: OwnedFd, start: u64, len: u64) -> Option<Arc<Mirror>> {
        if len < MIN_BODY as u64 {
            return None;
        }
        LIVE.fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(Mirror {
            file,
            start,
            memfd: false,
            token: true,
            base: 0,
            len: 0,
            _body: Bytes::new(),
        }))
    }

    /// The next bytes from `start` (up to `end`, at most [`TOKEN_WINDOW`]) of the body `token`
    /// stands for, to hand to a connection, when the token was announced on this thread
    /// ([`announce`]: a plain-TCP connection, which sends them with `sendfile` from the file);
    /// `None` otherwise (the caller reads the file instead), or past the limit on mirrors.
    /// The bytes are a window of a reused buffer, announced too, whose addresses stand for the
    /// file's bytes for as long as they are alive; its own bytes never leave.
    pub fn token_body(token: &Arc<Mirror>, start: u64, end: u64) -> Option<Bytes> {
        if !token.token || start >= end {
            return None;
        }
        let me = Arc::as_ptr(token);
        let announced = TOKENS.with(|t| t.borrow().iter().any(|w| std::ptr::eq(w.as_ptr(), me)));
        if !announced {
            return None;
        }
        let len = usize::try_from(end - start)
            .unwrap_or(TOKEN_WINDOW)
            .min(TOKEN_WINDOW);
        if LIVE.fetch_add(1, Ordering::Relaxed) >= mirror_limit() {
            LIVE.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let file = match token.file.try_clone() {
            Ok(f) => f,
            Err(_) => {
                LIVE.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
        };
        let window = lock_pool()
            .pop()
            .unwrap_or_else(|| Bytes::from(vec![0u8; TOKEN_WINDOW]));
        let mirror = Arc::new(Mirror {
            file,
            start: token.start + start,
            memfd: false,
            token: true,
            base: window.as_ptr() as usize,
            len,
            _body: window,
        });
        register_window(&mirror);
        Some(Mirror::pinned_body(&mirror).slice(..len))
    }

    /// The mirrored body as a `Bytes` that keeps `mirror` alive (the same memory): for a body
    /// nothing else holds (a disk cache object above the memory tier's bound), so that the
    /// mirror still lives when hyper writes the bytes after dropping the response's body.
    pub fn pinned_body(mirror: &Arc<Mirror>) -> Bytes {
        Bytes::from_owner(Pinned(Arc::clone(mirror)))
    }

    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// What the mirror adds to its object's weight: its length for a memfd, nothing for a disk
    /// cache file (whose pages the kernel may drop at any time).
    pub fn weight(&self) -> usize {
        if self.memfd { self.len } else { 0 }
    }

    /// False but for a token (which stands for no memory itself): mirrors are made of bodies
    /// of [`MIN_BODY`] bytes or more.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A mirror's body that holds the mirror ([`Mirror::pinned_body`]).
struct Pinned(Arc<Mirror>);

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        &self.0._body
    }
}

/// Where `slice` starts in the `len` bytes at address `base`, if it lies wholly inside them.
fn offset_in(base: usize, len: usize, slice: &[u8]) -> Option<u64> {
    let start = (slice.as_ptr() as usize).checked_sub(base)?;
    (start.checked_add(slice.len())? <= len).then_some(start as u64)
}

impl Drop for Mirror {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        if self.memfd {
            HELD.fetch_sub(self.len as u64, Ordering::Relaxed);
        }
        // A token's window goes back to the pool (nothing else holds it once the mirror dies).
        if self.token && self._body.len() == TOKEN_WINDOW {
            WINDOW_COUNT.fetch_sub(1, Ordering::Relaxed);
            let mut pool = lock_pool();
            if pool.len() < TOKEN_POOL {
                pool.push(std::mem::take(&mut self._body));
            }
        }
    }
}

/// Bytes of a token's window ([`Mirror::token_body`]): a frame sent with `sendfile`.
pub const TOKEN_WINDOW: usize = 1 << 20;
/// Windows kept for reuse.
const TOKEN_POOL: usize = 64;

/// Live token windows, known to every thread: a window's bytes must never be written as they
/// are, so it is found wherever its connection writes it (tokio's multi-threaded runtime may
/// move a task between threads; edgegate's viewer runtimes do not).
static WINDOWS: std::sync::Mutex<Vec<Weak<Mirror>>> = std::sync::Mutex::new(Vec::new());
/// How many windows are alive: [`find`] looks at [`WINDOWS`] only when some are.
static WINDOW_COUNT: AtomicUsize = AtomicUsize::new(0);

fn register_window(window: &Arc<Mirror>) {
    let mut w = WINDOWS.lock().unwrap_or_else(|e| e.into_inner());
    w.retain(|m| m.strong_count() > 0);
    w.push(Arc::downgrade(window));
    WINDOW_COUNT.fetch_add(1, Ordering::Relaxed);
}

/// Token windows not in use: their addresses are free to stand for other files' bytes.
fn lock_pool() -> std::sync::MutexGuard<'static, Vec<Bytes>> {
    static POOL: std::sync::Mutex<Vec<Bytes>> = std::sync::Mutex::new(Vec::new());
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_sealed(body: &[u8]) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(
        "edgegate-cached-body",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    let mut file = File::from(fd);
    file.write_all(body)?;
    let fd = OwnedFd::from(file);
    rustix::fs::fcntl_add_seals(
        &fd,
        SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )?;
    Ok(fd)
}

/// How many mirrors may be alive: half the open-file limit, so sockets keep the other half.
fn mirror_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(1 << 20);
        usize::try_from(soft / 2).unwrap_or(usize::MAX)
    })
}

/// Raises the soft open-file limit to the hard one, as servers do (nginx's
/// `worker_rlimit_nofile`): viewer connections and mirrors both take descriptors. Call once at
/// start-up, before the first mirror is made; failure leaves the limit as it was.
pub fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current != now.maximum {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        );
    }
}

/// How many announced mirrors a thread remembers. A response's body is normally written within
/// the same poll that produced it, long before 16 other objects are served.
const RECENT: usize = 16;

thread_local! {
    /// Tokens announced on this thread and still alive: the connections that send with
    /// `sendfile` on this thread (see the module docs).
    static TOKENS: RefCell<Vec<Weak<Mirror>>> = const { RefCell::new(Vec::new()) };
    static ANNOUNCED: RefCell<Announced> = const { RefCell::new(Announced { slots: [const { None }; RECENT], next: 0 }) };
}

struct Announced {
    /// Each mirror's body address and length beside it, so that a buffer is matched against
    /// them before any mirror's reference count (shared with other threads) is touched.
    slots: [Option<(usize, usize, Weak<Mirror>)>; RECENT],
    next: usize,
}

/// Tells this thread's [`SendfileStream`]s that `mirror`'s body may be written soon.
pub fn announce(mirror: &Arc<Mirror>) {
    if mirror.token {
        TOKENS.with(|t| {
            let mut t = t.borrow_mut();
            let me = Arc::as_ptr(mirror);
            if !t.iter().any(|w| std::ptr::eq(w.as_ptr(), me)) {
                t.retain(|w| w.strong_count() > 0);
                t.push(Arc::downgrade(mirror));
            }
        });
        return;
    }
    ANNOUNCED.with(|a| {
        let mut a = a.borrow_mut();
        let me = Arc::as_ptr(mirror);
        if a.slots.iter().flatten().any(|(_, _, w)| w.as_ptr() == me) {
            return;
        }
        let i = a.next;
        a.slots[i] = Some((mirror.base, mirror.len, Arc::downgrade(mirror)));
        a.next = (i + 1) % RECENT;
    });
}

/// The live mirror `slice` lies in, and where in it, among those announced on this thread.
fn find(slice: &[u8]) -> Option<(Arc<Mirror>, u64)> {
    // Token windows first, whatever the slice's length: their bytes must never be written as
    // they are.
    if WINDOW_COUNT.load(Ordering::Relaxed) > 0 {
        let windows = WINDOWS.lock().unwrap_or_else(|e| e.into_inner());
        let found = windows.iter().find_map(|w| {
            let m = w.upgrade()?;
            let at = offset_in(m.base, m.len, slice)?;
            Some((m, at))
        });
        drop(windows);
        if found.is_some() {
            return found;
        }
    }
    if slice.len() < MIN_BODY / 4 {
        return None;
    }
    ANNOUNCED.with(|a| {
        let a = a.borrow();
        a.slots.iter().flatten().find_map(|(base, len, w)| {
            let at = offset_in(*base, *len, slice)?;
            // Alive, the mirror holds the body, so nothing else can sit at these addresses.
            Some((w.upgrade()?, at))
        })
    })
}

/// A plain-TCP viewer connection that sends the bytes of announced mirrors with `sendfile`
/// (see the module docs); everything else passes through to the socket.
#[derive(Debug)]
pub struct SendfileStream {
    inner: TcpStream,
    /// A read of cold cache-file pages under way on a blocking thread ([`pagecache::warm`]),
    /// with the file offset and length it covers: the write that found them cold waits for it.
    warming: Option<(tokio::task::JoinHandle<()>, u64, usize)>,
}

impl SendfileStream {
    /// Wraps an accepted connection.
    pub fn new(inner: TcpStream) -> Self {
        SendfileStream {
            inner,
            warming: None,
        }
    }

    /// Sends `head` (with `MSG_MORE`, when any) and then up to `body.len()` bytes of `mirror`
    /// from `offset` (the bytes of `body`). Returns the bytes sent, counting the head's; once
    /// some are sent, a failure to send more is left for the next call to meet. Should the
    /// kernel refuse `sendfile` itself (anything but a full socket buffer), `body` is written by
    /// copy instead, so a response never fails for want of `sendfile`.
    fn send(
        &self,
        head: &[IoSlice<'_>],
        mirror: &Mirror,
        offset: u64,
        body: &[u8],
    ) -> io::Result<usize> {
        let head_len: usize = head.iter().map(|s| s.len()).sum();
        let mut sent = 0;
        if head_len > 0 {
            sent = rustix::net::sendmsg(
                &self.inner,
                head,
                &mut SendAncillaryBuffer::default(),
                SendFlags::MORE | SendFlags::NOSIGNAL,
            )?;
            if sent < head_len {
                return Ok(sent);
            }
        }
        let mut at = mirror.start + offset;
        match rustix::fs::sendfile(self.inner.as_fd(), &mirror.file, Some(&mut at), body.len()) {
            Ok(n) => {
                SENT.fetch_add(n as u64, Ordering::Relaxed);
                Ok(sent + n)
            }
            Err(_) if sent > 0 => Ok(sent),
            Err(rustix::io::Errno::AGAIN) => Err(io::ErrorKind::WouldBlock.into()),
            Err(_) if mirror.token => {
                // A token's bytes are zeros: read the real ones from the file.
                let mut buf = vec![0u8; body.len().min(64 * 1024)];
                let n = rustix::io::pread(&mirror.file, &mut buf, mirror.start + offset)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(rustix::net::send(
                    &self.inner,
                    &buf[..n],
                    SendFlags::NOSIGNAL,
                )?)
            }
            Err(_) => Ok(rustix::net::send(&self.inner, body, SendFlags::NOSIGNAL)?),
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    /// One buffer is a vectored write of one: the mirror lookup is made once, there.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some((i, mirror, offset)) = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| find(b).map(|(m, at)| (i, m, at)))
        else {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        };
        let head = &bufs[..i];
        let body: &[u8] = &bufs[i];
        // A cache file's pages may have left the page cache, and `sendfile` would read them
        // from the disk here, on the event loop (see `pagecache`). A memfd's never do.
        if !mirror.memfd {
            let at = mirror.start + offset;
            let mut warmed = false;
            if let Some((task, from, len)) = &mut self.warming {
                let _ = ready!(Pin::new(task).poll(cx));
                warmed = *from == at && *len == body.len();
                self.warming = None;
            }
            if !warmed && !pagecache::resident(mirror.file.as_fd(), at, body.len() as u64) {
                COLD.fetch_add(1, Ordering::Relaxed);
                if !mirror.token {
                    // The same bytes are in memory: write them instead.
                    return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
                }
                let file = File::from(mirror.file.try_clone()?);
                let len = body.len();
                let mut task = tokio::task::spawn_blocking(move || {
                    if let Err(error) = pagecache::warm(&file, at, len as u64) {
                        tracing::debug!(%error, "reading a cache file's pages ahead failed");
                    }
                });
                if Pin::new(&mut task).poll(cx).is_pending() {
                    self.warming = Some((task, at, len));
                    return Poll::Pending;
                }
            }
        }
        loop {
            ready!(self.inner.poll_write_ready(cx))?;
            let this = &*self;
            match this.inner.try_io(Interest::WRITABLE, || {
                this.send(head, &mirror, offset, body)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn body(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    fn file_bytes(m: &Mirror) -> Vec<u8> {
        let f = File::from(m.file.try_clone().unwrap());
        let mut out = vec![0; m.len() + 1];
        let n = f.read_at(&mut out, 0).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn small_bodies_get_no_mirror_and_large_ones_a_sealed_copy() {
        assert!(Mirror::of(&body(MIN_BODY - 1)).is_none());
        let b = body(MIN_BODY * 3 + 5);
        let m = Mirror::of(&b).expect("a mirror");
        assert_eq!(m.len(), b.len());
        assert_eq!(file_bytes(&m), b);
        let seals = rustix::fs::fcntl_get_seals(&m.file).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW));
        let f = File::from(m.file.try_clone().unwrap());
        assert!(
            f.write_at(b"x", 0).is_err(),
            "a sealed mirror cannot change"
        );
    }

    #[test]
    fn a_slice_matches_only_wholly_inside_its_body() {
        let b = body(MIN_BODY * 2);
        let m = Mirror::of(&b).unwrap();
        assert_eq!(offset_in(m.base, m.len, &b), Some(0));
        assert_eq!(offset_in(m.base, m.len, &b[100..5000]), Some(100));
        assert_eq!(
            offset_in(m.base, m.len, &b[b.len() - 1..]),
            Some(b.len() as u64 - 1)
        );
        let other = body(MIN_BODY * 2);
        assert_eq!(offset_in(m.base, m.len, &other), None);
        // A slice that would run past the body's end (made from a longer buffer's view).
        let longer = body(MIN_BODY * 4);
        let m2 = Mirror::of(&longer.slice(..MIN_BODY * 2)).unwrap();
        assert_eq!(
            offset_in(m2.base, m2.len, &longer[MIN_BODY..MIN_BODY * 3]),
            None
        );
        assert_eq!(offset_in(m2.base, m2.len, &longer[MIN_BODY * 3..]), None);
    }

    /// A connected pair: the edge's end wrapped, the viewer's end plain.
    async fn pair() -> (SendfileStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let viewer = TcpStream::connect(l.local_addr().unwrap());
        let (edge, viewer) = tokio::join!(l.accept(), viewer);
        (SendfileStream::new(edge.unwrap().0), viewer.unwrap())
    }

    /// Writes `parts` as hyper does: vectored, advancing past what each call reports written.
    async fn write_all(s: &mut SendfileStream, mut parts: Vec<&[u8]>) {
        while !parts.is_empty() {
            let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
            let mut n = s.write_vectored(&slices).await.unwrap();
            assert!(n > 0);
            while n > 0 {
                let take = n.min(parts[0].len());
                parts[0] = &parts[0][take..];
                n -= take;
                if parts[0].is_empty() {
                    parts.remove(0);
                }
            }
        }
        s.flush().await.unwrap();
    }

    async fn read_exact(v: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        v.read_exact(&mut got).await.unwrap();
        got
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_announced_body_and_its_slices_leave_through_sendfile_unchanged() {
        let b = body(8 << 20);
        let m = Mirror::of(&b).unwrap();
        announce(&m);
        let (mut edge, mut viewer) = pair().await;
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 8388608\r\n\r\n";
        let before = bytes_sent();
        // 8 MiB is far more than the socket buffers hold: the reader drains while the writer
        // meets partial sends and would-blocks.
        let reader = async { read_exact(&mut viewer, head.len() + b.len()).await };
        let ((), got) = tokio::join!(write_all(&mut edge, vec![head, &b]), reader);
        assert_eq!(&got[..head.len()], head);
        assert!(got[head.len()..] == b[..], "the body arrived unchanged");
        assert!(bytes_sent() - before >= b.len() as u64);

        // A range: a slice inside the body, after a head of its own.
        let range = b.slice(1_000_003..1_300_000);
        let before = bytes_sent();
        let reader = async { read_exact(&mut viewer, 3 + range.len()).await };
        let ((), got) = tokio::join!(write_all(&mut edge, vec![b"abc", &range]), reader);
        assert_eq!(&got[..3], b"abc");
        assert!(got[3..] == range[..]);
        assert!(bytes_sent() - before >= range.len() as u64);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_file_mirror_sends_from_the_bodys_offset_in_the_file() {
        let b = body(MIN_BODY * 5 + 7);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"a head of 17 bytes").unwrap();
        f.write_all(&b).unwrap();
        f.write_all(b"trailer").unwrap();
        let m = Mirror::of_file(OwnedFd::from(f), 18, &b).unwrap();
        assert_eq!(m.weight(), 0, "the page cache is not the process's memory");
        announce(&m);
        let (mut edge, mut viewer) = pair().await;
        let before = bytes_sent();
        let part = b.slice(100..MIN_BODY * 3);
        for x in [&b, &part] {
            let reader = async { read_exact(&mut viewer, 2 + x.len()).await };
            let ((), got) = tokio::join!(write_all(&mut edge, vec![b"hd", x]), reader);
            assert!(got[2..] == x[..], "sent from the right offset");
        }
        assert!(bytes_sent() - before >= (b.len() + part.len()) as u64);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_token_sends_its_file_in_windows_once_announced() {
        let b = body(TOKEN_WINDOW * 2 + 12_345);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"head").unwrap();
        f.write_all(&b).unwrap();
        let token = Mirror::token(OwnedFd::from(f), 4, b.len() as u64).unwrap();
        assert!(
            Mirror::token_body(&token, 0, b.len() as u64).is_none(),
            "not announced: the caller reads the file"
        );
        announce(&token);
        let (mut edge, mut viewer) = pair().await;
        let before = bytes_sent();
        // A range from an offset to the end, window by window.
        let (from, end) = (1000u64, b.len() as u64);
        let mut at = from;
        let mut got = Vec::new();
        while at < end {
            let w = Mirror::token_body(&token, at, end).unwrap();
            assert!(w.len() <= TOKEN_WINDOW);
            at += w.len() as u64;
            let reader = async { read_exact(&mut viewer, w.len()).await };
            let ((), part) = tokio::join!(write_all(&mut edge, vec![&w]), reader);
            got.extend_from_slice(&part);
        }
        assert!(
            got[..] == b[from as usize..],
            "the file's bytes, not the window's"
        );
        assert!(bytes_sent() - before >= end - from);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cold_cache_file_pages_are_read_on_a_blocking_thread_or_written_from_memory() {
        let b = body(TOKEN_WINDOW + 5000);
        let mut bytes = b"head".to_vec();
        bytes.extend_from_slice(&b);
        let (_dir, f) = pagecache::cold_file(&bytes);
        let len = b.len() as u64;
        let (mut edge, mut viewer) = pair().await;

        // A token: its window's pages are read into the page cache off the event loop first,
        // then sent with sendfile.
        let token = Mirror::token(f.try_clone().unwrap().into(), 4, len).unwrap();
        announce(&token);
        let (cold, sent) = (cold_sends(), bytes_sent());
        let mut got = Vec::new();
        let mut at = 0;
        while at < len {
            let w = Mirror::token_body(&token, at, len).unwrap();
            at += w.len() as u64;
            let reader = async { read_exact(&mut viewer, w.len()).await };
            let ((), part) = tokio::join!(write_all(&mut edge, vec![&w]), reader);
            got.extend_from_slice(&part);
        }
        assert!(got[..] == b[..], "the file's bytes");
        assert!(cold_sends() > cold, "the cold pages were seen");
        assert!(bytes_sent() - sent >= len, "and then sent from the file");
        assert!(
            pagecache::resident(f.as_fd(), 4, len),
            "read into the page cache"
        );

        // A file mirror of a body that is in memory too: written from memory, the file is not
        // read at all.
        pagecache::drop_pages(&f);
        let m = Mirror::of_file(f.try_clone().unwrap().into(), 4, &b).unwrap();
        announce(&m);
        let cold = cold_sends();
        let reader = async { read_exact(&mut viewer, 2 + b.len()).await };
        let ((), got) = tokio::join!(write_all(&mut edge, vec![b"hd", &b]), reader);
        assert!(got[2..] == b[..]);
        assert!(cold_sends() > cold);
        assert!(
            !pagecache::resident(f.as_fd(), 4, len),
            "the file's pages stayed out of the page cache"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn bodies_without_a_live_announced_mirror_are_written_by_copy() {
        let (mut edge, mut viewer) = pair().await;
        // Never announced on this thread.
        let quiet = body(MIN_BODY * 4);
        let _m = Mirror::of(&quiet).unwrap();
        // Announced, then dropped: the body lives on (a response still holds it), the mirror not.
        let gone = body(MIN_BODY * 4);
        announce(&Mirror::of(&gone).unwrap());
        for b in [&quiet, &gone] {
            let reader = async { read_exact(&mut viewer, 2 + b.len()).await };
            let ((), got) = tokio::join!(write_all(&mut edge, vec![b"hd", b]), reader);
            assert!(got[2..] == b[..]);
        }
        assert!(find(&quiet).is_none() && find(&gone).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_mirror_the_kernel_will_not_send_from_is_written_by_copy() {
        let b = body(MIN_BODY * 8);
        // A directory: `sendfile` refuses it (EINVAL), as it would a file system without
        // support for it.
        LIVE.fetch_add(1, Ordering::Relaxed);
        HELD.fetch_add(b.len() as u64, Ordering::Relaxed);
        let m = Arc::new(Mirror {
            file: OwnedFd::from(File::open("/").unwrap()),
            start: 0,
            memfd: true,
            token: false,
            base: b.as_ptr() as usize,
            len: b.len(),
            _body: b.clone(),
        });
        announce(&m);
        assert!(find(&b).is_some());
        let (mut edge, mut viewer) = pair().await;
        let reader = async { read_exact(&mut viewer, 4 + b.len()).await };
        let ((), got) = tokio::join!(write_all(&mut edge, vec![b"head", &b]), reader);
        assert_eq!(&got[..4], b"head");
        assert!(got[4..] == b[..], "the body arrived by copy");
    }

    #[test]
    fn a_thread_remembers_its_most_recent_announcements() {
        let bodies: Vec<Bytes> = (0..RECENT + 1).map(|_| body(MIN_BODY)).collect();
        let mirrors: Vec<_> = bodies.iter().map(|b| Mirror::of(b).unwrap()).collect();
        for m in &mirrors {
            announce(m);
            announce(m); // once only
        }
        assert!(find(&bodies[0]).is_none(), "the oldest was replaced");
        for b in &bodies[1..] {
            assert!(find(b).is_some());
        }
        // Another thread knows none of them.
        let b = bodies[1].clone();
        assert!(
            std::thread::spawn(move || find(&b).is_none())
                .join()
                .unwrap()
        );
    }
}
