//! The object store of the edge cache: a byte-bounded moka cache, request collapsing, streaming
//! admission and invalidation (caching.md §12, §14).
//!
//! - **Capacity.** Entries are weighed in bytes (body + headers + key + a fixed overhead) and
//!   moka evicts to stay under the configured capacity; fill completions run its eviction
//!   once a 32nd of the capacity has been stored since the last run, so the objects held
//!   never exceed the capacity by much more than that. [`Cache::max_object_size`] is an eighth
//!   of it (and never above what a u32 weight can express); larger responses are passed through.
//! - **Staleness.** An object is held past its TTL only as long as something can still use
//!   it: its *keep* time, the larger of its `stale-while-revalidate` and `stale-if-error`
//!   windows (caching.md §3), where a missing `stale-if-error` counts as the longest
//!   ErrorCachingMinTTL a 5xx of its distribution has (10 s by default), the window in which
//!   CloudFront still serves an expired object on an origin error. While held, an expired
//!   object is revalidated with the origin (RefreshHit on 304) or served stale within its
//!   windows; after that, [`Cache::lookup`] treats it as a miss (by the edge's clock) and moka
//!   drops it (by its own). Lifetimes in moka are capped at [`MAX_RESIDENCY`]; freshness always
//!   uses the object's own TTL.
//! - **Collapsing.** [`Cache::begin_fill`] makes the first request for a key the leader;
//!   concurrent requests wait for its object. A leader whose fill fails abandons it (followers
//!   retry, one of them leading next); a leader whose response is not cacheable passes
//!   ([`FillGuard::pass`]) and followers go to the origin on their own instead of queueing
//!   one by one. The in-flight table is sharded and each shard is a std mutex held only for a
//!   map operation, never across an await.
//! - **Streaming to followers.** Once the leader's answer is being stored ([`tee`]) and its
//!   Content-Length is known (it is then within the size limit), the body is shared as it
//!   arrives: followers that asked with [`FillWaiter::wait_streaming`] get the head at once
//!   and a body ([`FillStream`]) that replays the bytes received so far and follows the origin,
//!   so every collapsed viewer gets the first byte when the leader's viewer does. The shared
//!   buffer is the fill's own (allocated at the announced size, which is within
//!   [`Cache::max_object_size`]), so sharing holds no more memory than filling does. When the
//!   origin's body breaks off (an error, `OriginReadTimeout` between chunks, a short body),
//!   every follower's body breaks off at once, as the leader's does. When the leader's viewer
//!   goes away while followers are streaming, the fill goes on for them in the background
//!   (and is stored); with no follower streaming, it is abandoned as before. A body without a
//!   Content-Length is not shared while it arrives: its followers wait for the stored object.
//!   The leader's viewer sets the pace: the origin is read as fast as the leader's connection
//!   takes it (a leader that stops reading is dropped after the send timeout, and the fill goes
//!   on in the background).
//! - **Objects for the disk tier only.** With a disk tier, a body above this tier's bound is
//!   never held whole: it is written to a file as it arrives ([`DiskTier::begin_fill`])
//!   instead of into the fill's buffer, followers stream it from that file, and the origin is
//!   read no faster than the disk takes it. A body without a Content-Length moves to a file
//!   once it outgrows the bound. The object handed over is a [`StoredBody::Disk`] (stored on
//!   disk only); the last byte goes out once its file is committed.
//! - **No collapsing.** Some requests are never collapsed (caching.md §12): the pipeline asks
//!   for a [`Cache::begin_solo`] fill (a behavior that forwards cookies), and a leader whose
//!   object said `private`, `no-store`, `no-cache` or `max-age=0` under MinTTL 0 ends with
//!   [`FillGuard::pass_uncollapsible`], which marks the key: for [`UNCOLLAPSIBLE_FOR`], or until
//!   a fill of the key stores an object, [`Cache::begin_fill`] hands out solo fills for it, so
//!   concurrent requests go to the origin together instead of waiting for each other. A solo
//!   fill still stores a cacheable answer; it only has no followers.
//! - **Background revalidation.** [`Cache::begin_revalidation`] leads a fill only when none is
//!   in flight for the key, so concurrent viewers served stale within `stale-while-revalidate`
//!   start one revalidation between them.
//! - **Admission.** [`tee`] streams the origin body to the viewer while collecting it; the
//!   object is stored only after a clean, complete body within the size limit. A viewer that
//!   disconnects abandons the fill (CloudFront does not cache cancelled requests either).
//! - **Invalidation.** [`Cache::invalidate`] removes every matching entry before it returns. A
//!   per-distribution generation, checked under a read/write gate when a fill completes, keeps a
//!   fill that began before an invalidation from storing its (possibly old) object afterwards.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use http_body::{Frame, SizeHint};
use tokio::sync::watch;

use super::disk::{Committed, DiskBody, DiskFill, DiskStats, DiskTier};
use super::key::CacheKey;
use super::ttl::StaleWindows;
use crate::sendfile::{MIN_BODY, Mirror};

/// The longest an entry stays in memory, whatever its TTL (about one year).
pub const MAX_RESIDENCY: Duration = Duration::from_secs(366 * 86_400);
/// Fixed bytes added to every entry's weight for bookkeeping.
const ENTRY_OVERHEAD: u64 = 256;
/// Bytes added per header for the map's own structures.
const HEADER_OVERHEAD: u64 = 32;
/// Shards of the in-flight table.
const SHARDS: usize = 16;
/// How long a key stays uncollapsible after an answer that forbids collapsing
/// ([`FillGuard::pass_uncollapsible`]), unless a fill stores an object for it sooner.
pub const UNCOLLAPSIBLE_FOR: Duration = Duration::from_secs(120);
/// Uncollapsible keys remembered per shard; past it, expired marks are dropped, and if that is
/// not enough, all of the shard's marks (they only ever cost a collapsed wait, never a wrong
/// answer).
const MARKS_PER_SHARD: usize = 4096;

/// A stored body: in memory, or in a disk cache file (an object on disk only, above the
/// memory tier's bound or not promoted into it; see [`super::disk`]).
#[derive(Debug, Clone)]
pub enum StoredBody {
    /// The bytes, in memory.
    Memory(Bytes),
    /// In a committed disk cache file, read from it (or sent with `sendfile`) when served.
    Disk(Arc<DiskBody>),
}

impl StoredBody {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            StoredBody::Memory(b) => b.len() as u64,
            StoredBody::Disk(d) => d.len(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are in memory.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match self {
            StoredBody::Memory(b) => Some(b),
            StoredBody::Disk(_) => None,
        }
    }
}

impl From<Bytes> for StoredBody {
    fn from(b: Bytes) -> Self {
        StoredBody::Memory(b)
    }
}

/// A body in memory equals the text with its bytes; a body in a file equals no text.
impl PartialEq<&str> for StoredBody {
    fn eq(&self, other: &&str) -> bool {
        self.in_memory().is_some_and(|b| b == other.as_bytes())
    }
}

/// A stored response.
#[derive(Debug)]
pub struct CachedObject {
    /// The origin's status.
    pub status: StatusCode,
    /// The origin's headers as stored (already cleaned by the pipeline).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: StoredBody,
    /// The body's copy that plain-TCP connections send with `sendfile`, when it has one.
    pub mirror: Option<Arc<Mirror>>,
    /// When the response was received from the origin.
    pub stored_at: SystemTime,
    /// Freshness lifetime from [`super::ttl::decide`], counted from `stored_at`.
    pub ttl: Duration,
    /// The origin's `Age` when it arrived ([`super::ttl::origin_age`]): time it had spent in
    /// caches before this one.
    pub origin_age: Duration,
    /// Its `stale-while-revalidate` / `stale-if-error` windows ([`super::ttl::stale_windows`]).
    pub stale: StaleWindows,
    /// How long after expiry it is held (see the module documentation).
    pub keep: Duration,
    /// Until when (milliseconds since the Unix epoch; 0: not set) it answers in place of an
    /// origin that failed, without asking the origin again: the error's ErrorCachingMinTTL
    /// (caching.md §4). See [`CachedObject::note_origin_error`].
    pub error_cached_until: AtomicU64,
    /// One value another part of the edge derives from the object and keeps with it, made
    /// when first asked for ([`CachedObject::annex`]); the log phase keeps the summary of the
    /// stored headers here, so that a hit is measured without walking them again.
    pub annex: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl CachedObject {
    /// The object's annex of type `T`, made by `make` on first use. The annex holds one value
    /// for the object's lifetime: `None` when it was made as another type.
    pub fn annex<T: Any + Send + Sync>(&self, make: impl FnOnce(&CachedObject) -> T) -> Option<&T> {
        self.annex
            .get_or_init(|| Box::new(make(self)))
            .downcast_ref::<T>()
    }

    /// Time since it was stored (zero if the clock went backwards).
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.stored_at).unwrap_or(Duration::ZERO)
    }

    /// The `Age` a viewer is told (RFC 9111 §4.2.3): the origin's `Age` when it arrived plus the
    /// time since it was stored.
    pub fn current_age(&self, now: SystemTime) -> Duration {
        self.origin_age.saturating_add(self.age(now))
    }

    /// Whether it is still fresh at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.age(now) < self.ttl
    }

    /// How long ago it expired; `None` while it is fresh.
    pub fn expired_for(&self, now: SystemTime) -> Option<Duration> {
        self.age(now).checked_sub(self.ttl)
    }

    /// Whether it is still held at `now`: fresh, or expired for less than its keep time.
    pub fn is_held(&self, now: SystemTime) -> bool {
        self.expired_for(now).is_none_or(|e| e < self.keep)
    }

    /// Whether it is expired but within its `stale-while-revalidate` window at `now`.
    pub fn within_while_revalidate(&self, now: SystemTime) -> bool {
        self.expired_for(now)
            .is_some_and(|e| e < self.stale.while_revalidate)
    }

    /// Notes that it was served in place of an origin error, and is to be served so without
    /// asking the origin again until `until`, but never beyond its `stale-if-error` window
    /// (`default_window` without the directive, as for [`CachedObject::within_if_error`]).
    pub fn note_origin_error(&self, until: SystemTime, default_window: Duration) {
        let window = self.stale.if_error.unwrap_or(default_window);
        let window_end = self.stored_at + self.ttl.saturating_add(window);
        let until = until.min(window_end);
        let ms = until
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.error_cached_until.store(ms, Ordering::Relaxed);
    }

    /// Whether, at `now`, an origin error it answered is still cached
    /// ([`CachedObject::note_origin_error`]): it is served without asking the origin.
    pub fn origin_error_cached(&self, now: SystemTime) -> bool {
        let until = self.error_cached_until.load(Ordering::Relaxed);
        until != 0
            && now
                .duration_since(SystemTime::UNIX_EPOCH)
                .is_ok_and(|d| d.as_millis() < u128::from(until))
    }

    /// Whether it may be served in place of an origin error at `now`: expired for less than
    /// its `stale-if-error` window, or `default_window` without the directive.
    pub fn within_if_error(&self, now: SystemTime, default_window: Duration) -> bool {
        let window = self.stale.if_error.unwrap_or(default_window);
        self.expired_for(now).is_some_and(|e| e < window)
    }

    /// Bytes of body and headers, and the body's mirror again when it has one.
    pub fn size(&self) -> u64 {
        let headers: u64 = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().len() + v.len()) as u64 + HEADER_OVERHEAD)
            .sum();
        let mirror = self.mirror.as_ref().map_or(0, |m| m.weight() as u64);
        let body = self.body.in_memory().map_or(0, |b| b.len() as u64);
        body + mirror + headers
    }
}

/// Everything of a [`CachedObject`] but the body, known when the origin's head arrives.
#[derive(Debug, Clone)]
pub struct CachedObjectTemplate {
    /// The origin's status.
    pub status: StatusCode,
    /// The headers to store.
    pub headers: HeaderMap,
    /// When the response head arrived.
    pub stored_at: SystemTime,
    /// Freshness lifetime.
    pub ttl: Duration,
    /// Its stale windows.
    pub stale: StaleWindows,
    /// How long after expiry it is held.
    pub keep: Duration,
}

impl CachedObjectTemplate {
    /// The object with `body` (and its mirror, if any). The header values are copied out of
    /// whatever buffer they were parsed from (see `detached`); the origin's `Age` is read from
    /// them.
    pub fn into_object(
        self,
        body: impl Into<StoredBody>,
        mirror: Option<Arc<Mirror>>,
    ) -> CachedObject {
        CachedObject {
            origin_age: super::ttl::origin_age(&self.headers),
            status: self.status,
            headers: detached(&self.headers),
            body: body.into(),
            mirror,
            stored_at: self.stored_at,
            ttl: self.ttl,
            stale: self.stale,
            keep: self.keep,
            error_cached_until: AtomicU64::new(0),
            annex: OnceLock::new(),
        }
    }
}

/// A copy of `headers` whose values own their bytes.
///
/// hyper parses a response head without copying: every header value is a slice of the
/// connection's read buffer (up to about 400 KiB). Storing those values would pin that whole
/// buffer for as long as the object stays cached, which is many times the object's weight for
/// small objects; copying a few hundred bytes of headers once per stored object avoids it.
fn detached(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        out.append(name.clone(), detached_value(value));
    }
    out
}

/// A copy of `value` that owns its bytes, so it pins no read buffer (see [`detached`]).
pub(crate) fn detached_value(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()))
        .unwrap_or_else(|_| value.clone());
    copy.set_sensitive(value.is_sensitive());
    copy
}

/// The result of a cache lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A fresh object: serve it (Hit).
    Fresh(Arc<CachedObject>),
    /// An expired object still held (for revalidation, RefreshHit, or to be served stale).
    Stale(Arc<CachedObject>),
    /// Nothing stored.
    Miss,
}

/// Counters and sizes, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries (approximate until moka's pending work runs; see [`Cache::sync`]).
    pub entries: u64,
    /// Sum of entry weights in bytes (approximate likewise).
    pub weighted_bytes: u64,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Lookups that found a fresh object.
    pub hits: u64,
    /// Lookups that found an expired object.
    pub stale_hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Fills started as leader.
    pub fills: u64,
    /// Requests that waited for another request's fill.
    pub collapsed: u64,
    /// Fills abandoned (error, too large, cancelled).
    pub abandoned: u64,
    /// Fills ended with [`FillGuard::pass`] (response not cacheable).
    pub passed: u64,
    /// Objects stored.
    pub stored: u64,
    /// Entries removed by invalidations.
    pub invalidated: u64,
    /// Body bytes of the objects lookups found in memory.
    pub memory_hit_bytes: u64,
    /// The disk tier's, when there is one.
    pub disk: Option<DiskStats>,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    stale_hits: AtomicU64,
    misses: AtomicU64,
    fills: AtomicU64,
    collapsed: AtomicU64,
    abandoned: AtomicU64,
    passed: AtomicU64,
    stored: AtomicU64,
    invalidated: AtomicU64,
    memory_hit_bytes: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The state followers watch.
#[derive(Debug, Clone)]
enum Outcome {
    /// The leader is still fetching.
    Pending,
    /// The leader's answer is being stored and its body arrives in this shared buffer: followers
    /// that stream join it ([`FillWaiter::wait_streaming`]); the others wait on.
    Streaming(Arc<Growing>),
    /// The leader completed with this object.
    Done(Arc<CachedObject>),
    /// The leader's response is not cacheable: followers go to the origin without collapsing.
    Pass,
}

/// What a follower learns from [`FillWaiter::wait_outcome`].
#[derive(Debug)]
pub enum Waited {
    /// The leader completed: serve this object (a collapsed Hit).
    Object(Arc<CachedObject>),
    /// The leader gave up (origin error, cancelled, too large): call [`Cache::begin_fill`]
    /// again; one of the retrying requests becomes the new leader.
    Retry,
    /// The leader's response is not cacheable ([`FillGuard::pass`]): fetch from the origin
    /// directly, without collapsing, so uncacheable objects are not fetched one request at a
    /// time (caching.md §12: no collapsing for `private`/`no-store`/`max-age=0` with MinTTL 0).
    Pass,
    /// Only from [`FillWaiter::wait_streaming`]: the leader's answer is arriving; answer with
    /// its head and stream its body as it comes.
    Stream(FillStream),
}

/// How a shared body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still arriving.
    Open,
    /// Every byte arrived and the object was handed over (stored, unless invalidated).
    Complete,
    /// The origin's body broke off: every reader's body breaks off too.
    Failed,
    /// The leader's viewer went away with nobody streaming: the fill was abandoned.
    Cancelled,
}

/// What a [`Growing`] body holds, under its lock.
struct GrowState {
    /// The bytes received so far, while the body arrives (the fill's own buffer).
    buf: BytesMut,
    /// The whole body once it has arrived (`buf` is then empty).
    whole: Option<Bytes>,
    end: End,
    /// Followers streaming it.
    readers: usize,
}

/// A fill's body as it arrives, shared between the leader's fill and the followers streaming it
/// (see the module documentation).
pub struct Growing {
    /// The head followers answer with.
    head: CachedObjectTemplate,
    /// The announced length.
    len: u64,
    state: Mutex<GrowState>,
    /// Bumped whenever bytes arrive or the body ends, to wake readers. For a body written to
    /// a file ([`DiskFill`]) it is the number of bytes in the file.
    arrived: Arc<watch::Sender<u64>>,
    /// The file a disk fill writes the body to and where the body starts in it, from which
    /// readers read it (`buf` is unused).
    file: Option<(Arc<std::fs::File>, u64)>,
}

impl fmt::Debug for Growing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Growing")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Largest frame a follower's body hands to its connection at once while the body arrives.
const STREAM_FRAME: usize = 256 * 1024;

impl Growing {
    /// A fill of `len` bytes with `head`, open, no readers yet: its bytes so far in `buf`, or,
    /// for a disk fill, in `file` (how many in `arrived`).
    fn new(
        head: &CachedObjectTemplate,
        len: u64,
        buf: BytesMut,
        arrived: Arc<watch::Sender<u64>>,
        file: Option<(Arc<std::fs::File>, u64)>,
    ) -> Arc<Growing> {
        Arc::new(Growing {
            head: head.clone(),
            len,
            state: Mutex::new(GrowState {
                buf,
                whole: None,
                end: End::Open,
                readers: 0,
            }),
            arrived,
            file,
        })
    }

    /// Joins as a reader; `None` when the fill was cancelled (the caller retries).
    fn join(self: &Arc<Self>) -> Option<FillStream> {
        let mut st = lock(&self.state);
        if st.end == End::Cancelled {
            return None;
        }
        st.readers += 1;
        drop(st);
        Some(FillStream {
            growing: Arc::clone(self),
            rx: self.arrived.subscribe(),
            offset: 0,
        })
    }

    fn ended(&self, end: End) {
        {
            let mut st = lock(&self.state);
            if st.end != End::Open {
                return;
            }
            st.end = end;
        }
        self.arrived.send_modify(|_| {});
    }
}

/// The writing side of a [`Growing`] body, owned by the fill: dropped before
/// [`Writer::complete`], the body has failed.
struct Writer(Arc<Growing>);

impl Writer {
    fn push(&self, data: &[u8]) {
        let n = {
            let mut st = lock(&self.0.state);
            st.buf.extend_from_slice(data);
            st.buf.len() as u64
        };
        self.0.arrived.send_replace(n);
    }

    /// The whole body, which readers now read without copying.
    fn take_body(&self) -> Bytes {
        let mut st = lock(&self.0.state);
        let body = exact_body(std::mem::take(&mut st.buf));
        st.whole = Some(body.clone());
        body
    }

    /// Marks the fill cancelled when nobody streams it; `false` (and nothing changes) when
    /// followers do.
    fn cancel_unless_read(&self) -> bool {
        let mut st = lock(&self.0.state);
        if st.readers > 0 {
            return false;
        }
        if st.end == End::Open {
            st.end = End::Cancelled;
        }
        true
    }

    fn complete(self) {
        self.0.ended(End::Complete);
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not completed: the origin's body broke off (no-op after `complete`).
        self.0.ended(End::Failed);
    }
}

/// A follower's view of a fill's body as it arrives ([`Waited::Stream`]): the head with
/// [`FillStream::head`], the body (from its first byte) with [`FillStream::into_body`].
pub struct FillStream {
    growing: Arc<Growing>,
    rx: watch::Receiver<u64>,
    offset: u64,
}

impl fmt::Debug for FillStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FillStream")
            .field("len", &self.growing.len)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

/// A shared body broke off: the origin's body failed, or the fill was abandoned.
#[derive(Debug, thiserror::Error)]
#[error("the collapsed fill this response streams from broke off")]
pub struct FillBrokeOff;

impl FillStream {
    /// The head of the object being filled: status and headers as they will be stored (with the
    /// edge's constant headers), its TTL and the time it arrived.
    pub fn head(&self) -> &CachedObjectTemplate {
        &self.growing.head
    }

    /// The body: every byte received so far, then the rest as it arrives. It ends when the
    /// object has been handed over (so that a viewer who has every byte finds it stored), and
    /// breaks off with [`FillBrokeOff`] when the fill fails.
    pub fn into_body(self) -> Body {
        let frames = futures_util::stream::unfold(self, |mut s| async move {
            let next = s.next().await?;
            Some((next, s))
        });
        Body::from_stream(frames)
    }

    async fn next(&mut self) -> Option<Result<Bytes, FillBrokeOff>> {
        loop {
            let on_disk = *self.rx.borrow_and_update();
            let mut from_file = None;
            {
                let st = lock(&self.growing.state);
                let have = match (&self.growing.file, &st.whole) {
                    (Some(_), _) if st.end == End::Complete => self.growing.len,
                    (Some(_), _) => on_disk,
                    (None, Some(whole)) => whole.len() as u64,
                    (None, None) => st.buf.len() as u64,
                };
                // The last byte waits until the object is handed over, as the leader's does.
                let limit = if st.end == End::Complete {
                    have
                } else {
                    have.min(self.growing.len.saturating_sub(1))
                };
                if self.offset < limit
                    && let Some((file, body_offset)) = &self.growing.file
                {
                    let n = usize::try_from(limit - self.offset)
                        .unwrap_or(STREAM_FRAME)
                        .min(STREAM_FRAME);
                    from_file = Some((Arc::clone(file), body_offset + self.offset, n));
                } else if self.offset < limit {
                    let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
                    let end = usize::try_from(limit)
                        .unwrap_or(usize::MAX)
                        .min(start.saturating_add(STREAM_FRAME));
                    let chunk = match &st.whole {
                        Some(whole) => whole.slice(start..end),
                        None => Bytes::copy_from_slice(&st.buf[start..end]),
                    };
                    self.offset = end as u64;
                    return Some(Ok(chunk));
                }
                if from_file.is_none() {
                    match st.end {
                        End::Complete => return None,
                        End::Failed | End::Cancelled => return Some(Err(FillBrokeOff)),
                        End::Open => {}
                    }
                }
            }
            if let Some((file, at, n)) = from_file {
                // Written already: read on a blocking thread, never on the event loop.
                let read = tokio::task::spawn_blocking(move || {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0u8; n];
                    file.read_exact_at(&mut buf, at).map(|()| Bytes::from(buf))
                })
                .await;
                return match read {
                    Ok(Ok(chunk)) => {
                        self.offset += n as u64;
                        Some(Ok(chunk))
                    }
                    _ => Some(Err(FillBrokeOff)),
                };
            }
            // The sender lives in `growing`, which this reader holds: `changed` cannot fail.
            let _ = self.rx.changed().await;
        }
    }
}

impl Drop for FillStream {
    fn drop(&mut self) {
        let mut st = lock(&self.growing.state);
        st.readers = st.readers.saturating_sub(1);
    }
}

/// One in-flight fill: its id (to tell it from a later fill of the same key) and a receiver
/// followers clone.
type Slot = (u64, watch::Receiver<Outcome>);

/// Moka lifetimes: TTL plus the keep time, each capped.
struct Lifetime;

impl Lifetime {
    fn of(obj: &CachedObject) -> Duration {
        obj.ttl.min(MAX_RESIDENCY) + obj.keep.min(MAX_RESIDENCY)
    }
}

impl moka::Expiry<CacheKey, Arc<CachedObject>> for Lifetime {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        value: &Arc<CachedObject>,
        _: Instant,
    ) -> Option<Duration> {
        Some(Self::of(value))
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        value: &Arc<CachedObject>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(Self::of(value))
    }
}

fn weigh(key: &CacheKey, value: &Arc<CachedObject>) -> u32 {
    let w = key.size() as u64 + value.size() + ENTRY_OVERHEAD;
    u32::try_from(w).unwrap_or(u32::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the maps inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Inner {
    store: moka::future::Cache<CacheKey, Arc<CachedObject>>,
    capacity: u64,
    inflight: Box<[Mutex<HashMap<CacheKey, Slot>>]>,
    /// Keys not collapsed until the instant given (sharded like `inflight`).
    uncollapsible: Box<[Mutex<HashMap<CacheKey, Instant>>]>,
    hasher: RandomState,
    next_fill: AtomicU64,
    generations: Mutex<HashMap<Arc<str>, u64>>,
    /// Fill completions hold it shared while they check the generation and insert;
    /// invalidations hold it exclusively while they bump the generation.
    gate: tokio::sync::RwLock<()>,
    counters: Counters,
    /// Weight stored since moka last evicted, towards [`MAINTAIN_EVERY`].
    unmaintained: AtomicU64,
    /// Stored bodies get a [`Mirror`] for `sendfile`.
    mirrors: bool,
    /// The disk tier under this one, if any (see the section at the end of the file).
    disk: Option<DiskTier>,
}

/// moka evicts when 64 writes have queued up (or on a timer), so without a nudge the cache could
/// hold 64 objects beyond its capacity: 16 MiB of 256 KiB objects, a quarter of a 64 MiB cache.
/// A fill completion runs the eviction itself once the weight stored since the last one passes
/// this share of the capacity.
const MAINTAIN_EVERY: u64 = 32;

impl Inner {
    fn shard_of(&self, key: &CacheKey) -> usize {
        (self.hasher.hash_one(key) as usize) % self.inflight.len()
    }

    fn shard(&self, key: &CacheKey) -> &Mutex<HashMap<CacheKey, Slot>> {
        &self.inflight[self.shard_of(key)]
    }

    fn marks(&self, key: &CacheKey) -> &Mutex<HashMap<CacheKey, Instant>> {
        &self.uncollapsible[self.shard_of(key)]
    }

    /// Whether `key` is marked uncollapsible now (an expired mark is removed).
    fn is_uncollapsible(&self, key: &CacheKey) -> bool {
        let mut marks = lock(self.marks(key));
        match marks.get(key) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                marks.remove(key);
                false
            }
            None => false,
        }
    }

    fn mark_uncollapsible(&self, key: &CacheKey) {
        let now = Instant::now();
        let mut marks = lock(self.marks(key));
        if marks.len() >= MARKS_PER_SHARD && !marks.contains_key(key) {
            marks.retain(|_, until| *until > now);
            if marks.len() >= MARKS_PER_SHARD {
                marks.clear();
            }
        }
        marks.insert(key.clone(), now + UNCOLLAPSIBLE_FOR);
    }

    fn unmark(&self, key: &CacheKey) {
        let mut marks = lock(self.marks(key));
        if !marks.is_empty() {
            marks.remove(key);
        }
    }

    fn generation(&self, dist_id: &str) -> u64 {
        lock(&self.generations).get(dist_id).copied().unwrap_or(0)
    }

    /// Removes the in-flight slot of fill `id`, if it is still the current one for `key`.
    fn remove_slot(&self, key: &CacheKey, id: u64) {
        let mut map = lock(self.shard(key));
        if map.get(key).is_some_and(|(slot_id, _)| *slot_id == id) {
            map.remove(key);
        }
    }
}

/// The edge cache. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.inner.capacity)
            .field("entries", &self.inner.store.entry_count())
            .finish_non_exhaustive()
    }
}

/// Whether the caller leads a fill or waits for one.
#[derive(Debug)]
pub enum Fill {
    /// Fetch from the origin, then [`FillGuard::complete`] or abandon.
    Leader(FillGuard),
    /// Wait for the leader with [`FillWaiter::wait`].
    Follower(FillWaiter),
}

/// The leader's handle on a fill. Dropping it abandons the fill: followers get `None`.
pub struct FillGuard {
    inner: Arc<Inner>,
    key: CacheKey,
    id: u64,
    generation: u64,
    tx: Option<watch::Sender<Outcome>>,
}

impl fmt::Debug for FillGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FillGuard")
            .field("key", &self.key)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl FillGuard {
    /// The key being filled.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// Stores `obj` (unless the distribution was invalidated since the fill began) and hands it
    /// to every follower.
    pub async fn complete(self, obj: Arc<CachedObject>) {
        self.complete_in(obj, false).await;
    }

    /// [`FillGuard::complete`], for an object whose file the disk tier has committed already
    /// when `on_disk`.
    async fn complete_in(mut self, obj: Arc<CachedObject>, on_disk: bool) {
        {
            let _shared = self.inner.gate.read().await;
            if self.inner.generation(self.key.dist_id()) == self.generation
                && !on_disk
                && let Some(disk) = &self.inner.disk
            {
                disk.store(
                    &self.key,
                    Arc::clone(&obj),
                    disk.generation(self.key.dist_id()),
                );
            }
            // Objects above the memory tier's bound are stored on disk only, as are bodies that
            // stay in their file.
            let fits = obj.body.in_memory().is_some()
                && obj.body.len() <= self.inner.memory_max_object_size();
            if on_disk && self.inner.generation(self.key.dist_id()) == self.generation {
                bump(&self.inner.counters.stored);
                self.inner.unmark(&self.key);
            }
            if fits && self.inner.generation(self.key.dist_id()) == self.generation {
                let weight = u64::from(weigh(&self.key, &obj));
                self.inner
                    .store
                    .insert(self.key.clone(), Arc::clone(&obj))
                    .await;
                bump(&self.inner.counters.stored);
                // The key gave a cacheable answer: collapse its misses again.
                self.inner.unmark(&self.key);
                let since = self.inner.unmaintained.fetch_add(weight, Ordering::Relaxed) + weight;
                if since > self.inner.capacity / MAINTAIN_EVERY {
                    self.inner.unmaintained.store(0, Ordering::Relaxed);
                    self.inner.store.run_pending_tasks().await;
                }
            }
        }
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Outcome::Done(obj));
        }
        // Drop removes the slot; followers that already hold a receiver see the object.
    }

    /// Hands `obj` to every follower without storing it: the edge's own error page for an
    /// origin that failed before its head when the error is not cached (ErrorCachingMinTTL 0),
    /// so that collapsed viewers fail together with the same answer instead of retrying the
    /// origin one after another.
    pub fn share(mut self, obj: Arc<CachedObject>) {
        self.inner.remove_slot(&self.key, self.id);
        if let Some(tx) = self.tx.take() {
            bump(&self.inner.counters.abandoned);
            tx.send_replace(Outcome::Done(obj));
        }
    }

    /// Offers the body arriving in `growing` to followers that stream ([`Waited::Stream`]).
    fn publish(&self, growing: &Arc<Growing>) {
        if let Some(tx) = &self.tx {
            tx.send_replace(Outcome::Streaming(Arc::clone(growing)));
        }
    }

    /// Gives up: nothing is stored and followers get `None` / [`Waited::Retry`] (they then
    /// call [`Cache::begin_fill`] again, one of them becoming the new leader). Use it when the
    /// origin failed or the transfer was cut; dropping the guard does the same.
    pub fn abandon(self) {
        drop(self);
    }

    /// Ends the fill because the origin's response is not cacheable (e.g. [`super::ttl::decide`]
    /// said [`super::ttl::Storage::DoNotStore`]): nothing is stored and followers get `None`
    /// from [`FillWaiter::wait`] or [`Waited::Pass`] from [`FillWaiter::wait_outcome`], telling
    /// them to go to the origin themselves rather than queue behind a new leader.
    pub fn pass(mut self) {
        self.inner.remove_slot(&self.key, self.id);
        bump(&self.inner.counters.passed);
        if let Some(tx) = self.tx.take() {
            tx.send_replace(Outcome::Pass);
        }
    }

    /// Like [`FillGuard::pass`], for an answer that forbids collapsing (caching.md §12:
    /// `private`, `no-store`, `no-cache`, `max-age=0` or `s-maxage=0` with MinTTL 0): the key
    /// is also marked, so that for [`UNCOLLAPSIBLE_FOR`], or until a fill stores an object for
    /// it, its misses are solo fills that do not wait for one another.
    pub fn pass_uncollapsible(self) {
        self.inner.mark_uncollapsible(&self.key);
        self.pass();
    }
}

impl Drop for FillGuard {
    fn drop(&mut self) {
        // Remove the slot before waking followers, so a woken follower that calls
        // `begin_fill` again can become the new leader.
        self.inner.remove_slot(&self.key, self.id);
        if let Some(tx) = self.tx.take() {
            bump(&self.inner.counters.abandoned);
            drop(tx);
        }
    }
}

/// A follower's handle on someone else's fill.
#[derive(Debug)]
pub struct FillWaiter {
    rx: watch::Receiver<Outcome>,
}

impl FillWaiter {
    /// Waits for the leader: `Some(object)` when it completed, `None` when it abandoned or
    /// passed (see [`FillWaiter::wait_outcome`] to tell those apart).
    pub async fn wait(self) -> Option<Arc<CachedObject>> {
        match self.wait_outcome().await {
            Waited::Object(obj) => Some(obj),
            Waited::Retry | Waited::Pass | Waited::Stream(_) => None,
        }
    }

    /// Waits for the leader's object and says what to do next (never [`Waited::Stream`]).
    pub async fn wait_outcome(mut self) -> Waited {
        let settled = self
            .rx
            .wait_for(|o| matches!(o, Outcome::Done(_) | Outcome::Pass))
            .await
            .map(|o| o.clone());
        match settled {
            Ok(Outcome::Done(obj)) => Waited::Object(obj),
            Ok(Outcome::Pass) => Waited::Pass,
            // The sender was dropped without a result: the fill was abandoned.
            Ok(Outcome::Pending | Outcome::Streaming(_)) | Err(_) => Waited::Retry,
        }
    }

    /// Like [`FillWaiter::wait_outcome`], but as soon as the leader's answer is being stored
    /// with a known length, returns [`Waited::Stream`]: its head, and its body as it arrives
    /// (see the module documentation). A fill cancelled before this follower joined it is
    /// [`Waited::Retry`].
    pub async fn wait_streaming(mut self) -> Waited {
        let settled = self
            .rx
            .wait_for(|o| !matches!(o, Outcome::Pending))
            .await
            .map(|o| o.clone());
        match settled {
            Ok(Outcome::Done(obj)) => Waited::Object(obj),
            Ok(Outcome::Pass) => Waited::Pass,
            Ok(Outcome::Streaming(growing)) => match growing.join() {
                Some(stream) => Waited::Stream(stream),
                None => Waited::Retry,
            },
            Ok(Outcome::Pending) | Err(_) => Waited::Retry,
        }
    }
}

/// Matches invalidation paths (caching.md §14.1): exact, or a prefix when the path ends in `*`
/// (`*` anywhere else is literal).
struct PathMatcher<'a> {
    exact: HashSet<&'a str>,
    prefixes: Vec<&'a str>,
}

impl<'a> PathMatcher<'a> {
    fn new(paths: &'a [String]) -> Self {
        let mut exact = HashSet::new();
        let mut prefixes = Vec::new();
        for p in paths {
            match p.strip_suffix('*') {
                Some(prefix) => prefixes.push(prefix),
                None => {
                    exact.insert(p.as_str());
                }
            }
        }
        Self { exact, prefixes }
    }

    fn matches(&self, path_and_query: &str) -> bool {
        self.exact.contains(path_and_query)
            || self.prefixes.iter().any(|p| path_and_query.starts_with(p))
    }
}

impl Cache {
    /// A cache holding at most `capacity_bytes` (by entry weight), without mirrors.
    pub fn new(capacity_bytes: u64) -> Self {
        Self::with_mirrors(capacity_bytes, false)
    }

    /// A cache holding at most `capacity_bytes` (by entry weight), which gives the bodies it
    /// stores a [`Mirror`] (see [`crate::sendfile`]) when `mirrors` is true.
    pub fn with_mirrors(capacity_bytes: u64, mirrors: bool) -> Self {
        Self::with_tiers(capacity_bytes, mirrors, None)
    }

    /// Like [`Cache::with_mirrors`], over the disk tier `disk` when given.
    pub fn with_tiers(capacity_bytes: u64, mirrors: bool, disk: Option<DiskTier>) -> Self {
        let store = moka::future::Cache::builder()
            .name("edgegate-objects")
            .max_capacity(capacity_bytes)
            .weigher(weigh)
            .expire_after(Lifetime)
            .build();
        let inflight = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        let uncollapsible = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            inner: Arc::new(Inner {
                store,
                capacity: capacity_bytes,
                inflight,
                uncollapsible,
                hasher: RandomState::new(),
                next_fill: AtomicU64::new(1),
                generations: Mutex::new(HashMap::new()),
                gate: tokio::sync::RwLock::new(()),
                counters: Counters::default(),
                unmaintained: AtomicU64::new(0),
                mirrors,
                disk,
            }),
        }
    }

    /// The largest body stored: an eighth of the capacity, so one object cannot flush most of
    /// the cache, and at most what a moka weight (u32) can hold after overheads.
    /// With a disk tier, the larger of that and the disk tier's bound
    /// ([`DiskTier::max_object_size`]): larger objects are stored on disk only.
    pub fn max_object_size(&self) -> u64 {
        let memory = self.inner.memory_max_object_size();
        self.inner
            .disk
            .as_ref()
            .map_or(memory, |d| memory.max(d.max_object_size()))
    }

    /// Looks `key` up at `now`.
    pub async fn lookup(&self, key: &CacheKey, now: SystemTime) -> Lookup {
        let found = match self.inner.store.get(key).await {
            Some(obj) => {
                self.inner
                    .counters
                    .memory_hit_bytes
                    .fetch_add(obj.body.len(), Ordering::Relaxed);
                Some(obj)
            }
            None => self.lookup_disk(key, now).await,
        };
        match found {
            Some(obj) if obj.is_fresh(now) => {
                bump(&self.inner.counters.hits);
                Lookup::Fresh(obj)
            }
            Some(obj) if obj.is_held(now) => {
                bump(&self.inner.counters.stale_hits);
                Lookup::Stale(obj)
            }
            // Past its keep time by the edge's clock (moka's own may not have caught up).
            Some(_) | None => {
                bump(&self.inner.counters.misses);
                Lookup::Miss
            }
        }
    }

    /// Joins the fill of `key` in progress, or starts one as its leader (caching.md §12).
    ///
    /// A leader should [`Cache::lookup`] once more before contacting the origin: another
    /// leader may have completed between the caller's miss and this call.
    ///
    /// A key marked by [`FillGuard::pass_uncollapsible`] gets a [`Cache::begin_solo`] fill
    /// instead, while the mark lasts.
    pub fn begin_fill(&self, key: &CacheKey) -> Fill {
        let inner = &self.inner;
        if inner.is_uncollapsible(key) {
            return Fill::Leader(self.begin_solo(key));
        }
        let (tx, id) = {
            let mut map = lock(inner.shard(key));
            if let Some((_, rx)) = map.get(key) {
                bump(&inner.counters.collapsed);
                return Fill::Follower(FillWaiter { rx: rx.clone() });
            }
            let (tx, rx) = watch::channel(Outcome::Pending);
            let id = inner.next_fill.fetch_add(1, Ordering::Relaxed);
            map.insert(key.clone(), (id, rx));
            (tx, id)
        };
        bump(&inner.counters.fills);
        // Read after the slot is published and before the caller contacts the origin: an
        // invalidation that bumps it later makes `complete` discard the object.
        let generation = inner.generation(key.dist_id());
        Fill::Leader(FillGuard {
            inner: Arc::clone(inner),
            key: key.clone(),
            id,
            generation,
            tx: Some(tx),
        })
    }

    /// A fill nobody can join (caching.md §12: no collapsing): it is not published in the
    /// in-flight table, so concurrent requests for `key` fetch on their own; it still stores a
    /// cacheable object through [`FillGuard::complete`] or [`tee`].
    pub fn begin_solo(&self, key: &CacheKey) -> FillGuard {
        let inner = &self.inner;
        bump(&inner.counters.fills);
        FillGuard {
            inner: Arc::clone(inner),
            key: key.clone(),
            // Never in the in-flight table, so removing its slot removes nothing.
            id: inner.next_fill.fetch_add(1, Ordering::Relaxed),
            generation: inner.generation(key.dist_id()),
            tx: None,
        }
    }

    /// Leads a fill of `key` only when none is in flight: the background revalidation of an
    /// object served within `stale-while-revalidate`, which concurrent viewers do not repeat.
    /// `None` when another fill or revalidation of the key is under way.
    pub fn begin_revalidation(&self, key: &CacheKey) -> Option<FillGuard> {
        if lock(self.inner.shard(key)).contains_key(key) {
            return None;
        }
        match self.begin_fill(key) {
            Fill::Leader(guard) => Some(guard),
            // Another request began one between the check and the call.
            Fill::Follower(_) => None,
        }
    }

    /// Removes every entry of `dist_id` whose path (with the query kept in its key) equals one
    /// of `paths`, or starts with it when it ends in `*`. Returns how many entries were removed.
    ///
    /// When it returns, no matching entry is stored and none can be stored by a fill that began
    /// earlier; fills in progress for matching keys are detached, so new requests fetch afresh.
    /// (Any fill of the distribution that was in progress is discarded, matching or not.)
    pub async fn invalidate(&self, dist_id: &str, paths: &[String]) -> u64 {
        let inner = &self.inner;
        {
            let _exclusive = inner.gate.write().await;
            // Before the generation moves on, so that a lookup that reads the new generation
            // no longer finds the entries on disk (see `lookup_disk`).
            if let Some(disk) = &inner.disk {
                let m = PathMatcher::new(paths);
                let removed = disk.invalidate(dist_id, &|p| m.matches(p), None);
                inner
                    .counters
                    .invalidated
                    .fetch_add(removed, Ordering::Relaxed);
            }
            let mut gens = lock(&inner.generations);
            match gens.get_mut(dist_id) {
                Some(g) => *g += 1,
                None => {
                    gens.insert(Arc::from(dist_id), 1);
                }
            }
        }
        let matcher = PathMatcher::new(paths);
        let hit = |k: &CacheKey| k.dist_id() == dist_id && matcher.matches(k.path_and_query());
        for shard in inner.inflight.iter() {
            lock(shard).retain(|k, _| !hit(k));
        }
        let victims: Vec<Arc<CacheKey>> = inner
            .store
            .iter()
            .filter(|(k, _)| hit(k))
            .map(|(k, _)| k)
            .collect();
        let mut removed = 0;
        for k in victims {
            if inner.store.remove(&*k).await.is_some() {
                removed += 1;
            }
        }
        inner
            .counters
            .invalidated
            .fetch_add(removed, Ordering::Relaxed);
        removed
    }

    /// Runs moka's pending maintenance (evictions, expirations, counts).
    pub async fn sync(&self) {
        self.inner.store.run_pending_tasks().await;
    }

    /// Current counters and sizes.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            entries: self.inner.store.entry_count(),
            weighted_bytes: self.inner.store.weighted_size(),
            capacity_bytes: self.inner.capacity,
            hits: get(&c.hits),
            stale_hits: get(&c.stale_hits),
            misses: get(&c.misses),
            fills: get(&c.fills),
            collapsed: get(&c.collapsed),
            abandoned: get(&c.abandoned),
            passed: get(&c.passed),
            stored: get(&c.stored),
            invalidated: get(&c.invalidated),
            memory_hit_bytes: get(&c.memory_hit_bytes),
            disk: self.inner.disk.as_ref().map(DiskTier::stats),
        }
    }
}

// === the disk tier (src/cache/disk): the hooks of the memory tier ===

impl Inner {
    /// The memory tier's largest object: an eighth of its capacity, so one object cannot
    /// flush most of it, and at most what a moka weight (u32) can hold after overheads.
    fn memory_max_object_size(&self) -> u64 {
        (self.capacity / 8).min(u64::from(u32::MAX) - 64 * 1024)
    }
}

impl Cache {
    /// A memory miss: the object from the disk tier, if it has it, promoted into memory when
    /// it fits there (unless an invalidation came in between).
    async fn lookup_disk(&self, key: &CacheKey, now: SystemTime) -> Option<Arc<CachedObject>> {
        let inner = &self.inner;
        let disk = inner.disk.as_ref()?;
        // Read before the disk index: an invalidation removes disk entries before it moves the
        // generation on, so an object found here is either still valid or refused below.
        let generation = inner.generation(key.dist_id());
        let (obj, again) = disk.load(key, now, inner.mirrors, inner.capacity).await?;
        if obj.body.len() > inner.memory_max_object_size() {
            return Some(obj);
        }
        match &obj.body {
            // Read whole with its head (a small body): promoted at once.
            StoredBody::Memory(_) => self.promote(key, Arc::clone(&obj), generation).await,
            // Served from its file; promoted in the background when hit again within the memory
            // tier's size of disk-hit bytes, so that a hit never waits for a whole-object read.
            StoredBody::Disk(_) if again => {
                let cache = self.clone();
                let key = key.clone();
                let from = Arc::clone(&obj);
                tokio::spawn(async move {
                    let Some(disk) = &cache.inner.disk else {
                        return;
                    };
                    if let Some(read) = disk.promoted(&from, cache.inner.mirrors).await {
                        cache.promote(&key, Arc::new(read), generation).await;
                    }
                });
            }
            StoredBody::Disk(_) => {}
        }
        Some(obj)
    }

    /// Inserts `obj`, read back from the disk tier, into the memory tier, unless an
    /// invalidation came after `generation` was read.
    async fn promote(&self, key: &CacheKey, obj: Arc<CachedObject>, generation: u64) {
        let inner = &self.inner;
        let _shared = inner.gate.read().await;
        if inner.generation(key.dist_id()) == generation {
            inner.store.insert(key.clone(), obj).await;
        }
    }

    /// Removes the disk entries of `dist_id` matching `paths` that were written before
    /// `created`: an invalidation made while this edge was down. Returns how many.
    pub fn invalidate_disk_before(
        &self,
        dist_id: &str,
        paths: &[String],
        created: SystemTime,
    ) -> u64 {
        let Some(disk) = &self.inner.disk else {
            return 0;
        };
        let m = PathMatcher::new(paths);
        disk.invalidate(dist_id, &|p| m.matches(p), Some(created))
    }

    /// Waits for the disk tier's queued writes (shutdown, tests); nothing without one.
    pub async fn flush_disk(&self) {
        if let Some(disk) = &self.inner.disk {
            disk.flush().await;
        }
    }

    /// Whether there is a disk tier.
    pub fn has_disk(&self) -> bool {
        self.inner.disk.is_some()
    }
}

/// The part of a [`tee`] body that is still filling the cache.
///
/// The body is copied into `buf` as it arrives rather than kept as the origin's chunks: those
/// are slices of the origin connection's read buffer, and a stored slice would pin that whole
/// buffer (often several times the object's size) for as long as the object is cached.
struct Filling {
    guard: FillGuard,
    template: CachedObjectTemplate,
    /// The body so far, unless it is shared.
    buf: BytesMut,
    /// The body so far, shared with followers that stream it (a collapsible fill of known
    /// length); `buf` is then unused.
    shared: Option<Writer>,
    /// The file the body is written to as it arrives: an object for the disk tier only
    /// (above the memory tier's bound); `buf` is then unused, and `shared` reads the file.
    disk: Option<DiskFill>,
    received: u64,
}

impl Filling {
    /// Moves a fill of unknown length to a file ([`DiskTier::begin_fill`]) with the bytes
    /// received so far; `false` when it cannot be (no disk tier, the file cannot be made, or
    /// an invalidation came since the fill began): the fill is then abandoned.
    fn move_to_disk(&mut self) -> bool {
        let Some(disk) = self.guard.inner.disk.clone() else {
            return false;
        };
        let Some(generation) = disk_generation(&self.guard, &disk) else {
            return false;
        };
        let progress = Box::new(|_| {});
        let Some(mut fill) =
            disk.begin_fill(&self.guard.key, &self.template, None, generation, progress)
        else {
            return false;
        };
        let so_far = std::mem::take(&mut self.buf).freeze();
        if !fill.send(so_far) {
            return false;
        }
        self.disk = Some(fill);
        true
    }
}

/// The disk tier's generation for a fill of `guard` written to a file, or `None` when an
/// invalidation came since the fill began. Read before the memory tier's (an invalidation
/// moves the disk tier's first), so that an invalidation either shows here or discards the
/// file when it is committed.
fn disk_generation(guard: &FillGuard, disk: &DiskTier) -> Option<u64> {
    let generation = disk.generation(guard.key.dist_id());
    (guard.inner.generation(guard.key.dist_id()) == guard.generation).then_some(generation)
}

/// Initial capacity of a fill buffer when the origin sent no Content-Length.
const UNSIZED_FILL_START: usize = 16 * 1024;

/// The stored body: `buf` itself when it is (nearly) exactly sized, else an exact copy, so a
/// cached object never holds more memory than its weight says.
fn exact_body(buf: BytesMut) -> Bytes {
    if buf.capacity() - buf.len() <= buf.len() / 64 {
        buf.freeze()
    } else {
        Bytes::copy_from_slice(&buf)
    }
}

type Completion = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A body that passes the origin's body through and fills the cache from it.
struct Tee {
    inner: Body,
    fill: Option<Filling>,
    limit: u64,
    expected: Option<u64>,
    completing: Option<Completion>,
    /// The last frame of a body of known length, held until its object is stored, so that a
    /// viewer who has every byte can count on the next request finding the object.
    held: Option<Frame<Bytes>>,
}

impl Tee {
    /// Passes `inner` through while `fill` collects it (see [`tee`]).
    fn new(inner: Body, fill: Option<Filling>, limit: u64, expected: Option<u64>) -> Tee {
        Tee {
            inner,
            fill,
            limit,
            expected,
            completing: None,
            held: None,
        }
    }

    fn on_data(&mut self, data: &Bytes) {
        let Some(fill) = self.fill.as_mut() else {
            return;
        };
        fill.received += data.len() as u64;
        let too_long =
            fill.received > self.limit || self.expected.is_some_and(|l| fill.received > l);
        if too_long {
            // Dropping the guard abandons the fill; the viewer still gets every byte.
            self.fill = None;
        } else if let Some(disk) = fill.disk.as_mut() {
            if !data.is_empty() && !disk.send(data.clone()) {
                // The writer failed: nothing is stored.
                self.fill = None;
            }
        } else if !data.is_empty() {
            match &fill.shared {
                Some(shared) => shared.push(data),
                None => {
                    fill.buf.extend_from_slice(data);
                    // A body without a length that outgrows the memory tier's bound goes on in
                    // a file (the disk tier's bound is `limit` then).
                    if self.expected.is_none()
                        && fill.buf.len() as u64 > fill.guard.inner.memory_max_object_size()
                        && !fill.move_to_disk()
                    {
                        self.fill = None;
                    }
                }
            }
        }
    }

    /// Builds the object at a clean end; `None` (abandon) when Content-Length was not met.
    fn finish(&mut self) -> Option<Completion> {
        let fill = self.fill.take()?;
        if self.expected.is_some_and(|l| l != fill.received) {
            return None;
        }
        let Filling {
            guard,
            template,
            buf,
            shared,
            disk,
            ..
        } = fill;
        if let Some(disk) = disk {
            let mirrors = guard.inner.mirrors;
            return Some(Box::pin(async move {
                // Committed (synced, renamed, indexed) before the last byte goes out.
                let body = match disk.finish().await {
                    Committed::Stored(body) => body,
                    Committed::NotStored => {
                        // Nothing stored (waiting followers retry), but the body is whole in
                        // the file: the followers streaming it get their last byte.
                        drop(guard);
                        if let Some(shared) = shared {
                            shared.complete();
                        }
                        return;
                    }
                    // Dropping the guard and the shared body abandons the fill.
                    Committed::Failed => return,
                };
                let token = if mirrors {
                    body.file()
                        .ok()
                        .and_then(|(f, at)| Mirror::token(f.into(), at, body.len()))
                } else {
                    None
                };
                let obj = template.into_object(StoredBody::Disk(body), token);
                guard.complete_in(Arc::new(obj), true).await;
                if let Some(shared) = shared {
                    shared.complete();
                }
            }));
        }
        let body = match &shared {
            Some(shared) => shared.take_body(),
            None => exact_body(buf),
        };
        let mirrored = guard.inner.mirrors
            && body.len() >= MIN_BODY
            && body.len() as u64 <= guard.inner.memory_max_object_size();
        Some(Box::pin(async move {
            // Copying the body into its mirror takes time in proportion to its size (a
            // millisecond for a few MiB): on a blocking thread, not the event loop.
            let mirror = if mirrored {
                let b = body.clone();
                tokio::task::spawn_blocking(move || Mirror::of(&b))
                    .await
                    .ok()
                    .flatten()
            } else {
                None
            };
            guard
                .complete(Arc::new(template.into_object(body, mirror)))
                .await;
            // Streaming followers get their last byte once the object is handed over.
            if let Some(shared) = shared {
                shared.complete();
            }
        }))
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Some(fut) = this.completing.as_mut() {
            ready!(fut.as_mut().poll(cx));
            this.completing = None;
            return Poll::Ready(this.held.take().map(Ok));
        }
        // A fill written to a file reads the origin no faster than the disk takes it.
        if let Some(disk) = this.fill.as_mut().and_then(|f| f.disk.as_mut())
            && !ready!(disk.poll_ready(cx))
        {
            this.fill = None;
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.on_data(data);
                }
                // With a Content-Length, the server stops polling (and drops the body) as soon
                // as that many bytes went out, so the object is handed over with the last
                // byte rather than at a final `None` that may never be asked for: the last
                // frame is held until the insert is done (or finished in the background from
                // `Drop`, if the viewer goes away meanwhile).
                let complete = match (&this.fill, this.expected) {
                    (Some(fill), Some(len)) => fill.received == len,
                    _ => false,
                };
                if complete
                    && let Some(mut fut) = this.finish()
                    && fut.as_mut().poll(cx).is_pending()
                {
                    this.completing = Some(fut);
                    this.held = Some(frame);
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.fill = None;
                Poll::Ready(Some(Err(e)))
            }
            None => {
                if let Some(mut fut) = this.finish()
                    && fut.as_mut().poll(cx).is_pending()
                {
                    this.completing = Some(fut);
                    return Poll::Pending;
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Not before the end has been seen and the object handed over.
        self.fill.is_none()
            && self.completing.is_none()
            && self.held.is_none()
            && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // The viewer got every byte but went away while the object was being stored: finish
        // storing it in the background. (A fill still in `self.fill` is abandoned by its drop.)
        if let Some(fut) = self.completing.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(fut);
        }
        // The viewer went away mid-body while followers stream the fill: it goes on for them
        // in the background, bounded by the origin's read timeout between chunks.
        let streamed = self
            .fill
            .as_ref()
            .and_then(|f| f.shared.as_ref())
            .is_some_and(|w| !w.cancel_unless_read());
        if streamed && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let mut rest = Tee::new(
                std::mem::replace(&mut self.inner, Body::empty()),
                self.fill.take(),
                self.limit,
                self.expected,
            );
            handle.spawn(async move {
                use http_body_util::BodyExt;
                while let Some(Ok(_)) = rest.frame().await {}
            });
        }
    }
}

/// Streams `body` to the viewer unchanged while collecting it; at a clean end the collected
/// object is stored through `guard` and handed to followers. The fill is abandoned (nothing
/// stored, followers fetch themselves) when the body errors, exceeds `limit` bytes, does not
/// match its Content-Length, or is dropped before its end (caching.md §12).
///
/// Only for responses whose body is the object: not for answers to HEAD (their Content-Length
/// describes a body that is not sent, so the fill would always be abandoned).
pub fn tee(body: Body, guard: FillGuard, template: CachedObjectTemplate, limit: u64) -> Body {
    let expected = template
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if expected.is_some_and(|l| l > limit) {
        guard.abandon();
        return body;
    }
    // Above the memory tier's bound: written to a file as it arrives, never held whole.
    if let Some(len) = expected
        && len > guard.inner.memory_max_object_size()
        && let Some(disk) = guard.inner.disk.clone()
    {
        return tee_to_disk(body, guard, template, limit, len, &disk);
    }
    // Exactly the announced size (already checked against `limit`), so the buffer never
    // grows by doubling; without a length, start small and let it grow.
    let buf = BytesMut::with_capacity(
        expected.map_or(UNSIZED_FILL_START, |l| usize::try_from(l).unwrap_or(0)),
    );
    // A collapsible fill of known length shares its buffer with followers as it arrives.
    let (buf, shared) = match expected {
        Some(len) if guard.tx.is_some() => {
            let growing = Growing::new(&template, len, buf, Arc::new(watch::Sender::new(0)), None);
            guard.publish(&growing);
            (BytesMut::new(), Some(Writer(growing)))
        }
        _ => (buf, None),
    };
    let fill = Filling {
        guard,
        template,
        buf,
        shared,
        disk: None,
        received: 0,
    };
    Body::new(Tee::new(body, Some(fill), limit, expected))
}

/// [`tee`] for a body of `len` bytes above the memory tier's bound: written to a file as it
/// arrives ([`DiskTier::begin_fill`]), from which collapsed followers stream it; stored on disk
/// only. When the file cannot be made, the fill is abandoned (the body passes through).
fn tee_to_disk(
    body: Body,
    guard: FillGuard,
    template: CachedObjectTemplate,
    limit: u64,
    len: u64,
    disk: &DiskTier,
) -> Body {
    let arrived = Arc::new(watch::Sender::new(0));
    let progress = {
        let arrived = Arc::clone(&arrived);
        Box::new(move |n: u64| {
            arrived.send_replace(n);
        })
    };
    let Some(fill) = disk_generation(&guard, disk)
        .and_then(|g| disk.begin_fill(&guard.key, &template, Some(len), g, progress))
    else {
        guard.abandon();
        return body;
    };
    let shared = guard.tx.is_some().then(|| {
        let growing = Growing::new(
            &template,
            len,
            BytesMut::new(),
            arrived,
            Some(fill.reader()),
        );
        guard.publish(&growing);
        Writer(growing)
    });
    let fill = Filling {
        guard,
        template,
        buf: BytesMut::new(),
        shared,
        disk: Some(fill),
        received: 0,
    };
    Body::new(Tee::new(body, Some(fill), limit, Some(len)))
}
