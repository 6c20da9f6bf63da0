//! The disk tier under the memory cache (`--disk-cache DIR`, `--disk-cache-size BYTES`): one
//! file per object, an in-memory index loaded at start, CLOCK eviction, crash-safe commits.
//!
//! - **What goes to disk.** Every object the memory tier stores is also written to disk, in
//!   the background, by one writer thread (write-through, so the hot objects survive a restart
//!   too); writes are dropped (and counted) while [`MAX_QUEUED`] bytes of bodies wait for the
//!   writer (one larger object is taken when nothing waits), so a burst of fills holds bounded
//!   memory. Objects above the memory tier's bound (an eighth of `--cache-size`) but within a
//!   quarter of the disk size ([`DiskTier::max_object_size`]) are stored on disk only, and
//!   never held whole in memory: their fill is written to a file as it arrives
//!   ([`DiskTier::begin_fill`], [`stream`]), while the first viewer and the collapsed followers
//!   (who read the part already written from the file) are served.
//! - **Finding and serving.** The index maps each key to its file. A memory miss that the
//!   index knows opens the file on a blocking thread (never on an event loop) and checks its
//!   head, length, trailer and key. A body up to [`INLINE_BODY`] is read and checked with it
//!   and promoted into the memory tier at once. A larger body is not read: it is sent from the
//!   file ([`DiskBody`]: `sendfile` on plain-TCP HTTP/1, chunked reads on a blocking thread
//!   otherwise; a range is an offset into the file). Its checksum is verified once: by the
//!   writer, which computed it while writing, or, for the files found at start, on the first
//!   hit (read in chunks), before anything is sent; the index entry is then marked verified.
//!   Such an object's open file and parsed head are then kept in the open cache ([`open`],
//!   nginx's `open_file_cache`: at most 1,024, or an eighth of the open-file limit, CLOCK),
//!   so its next hits build the object on the calling thread with no file I/O and no hop to a
//!   blocking thread; removing an index entry (eviction, invalidation, replacement, expiry,
//!   damage) closes its open file before the file is deleted.
//!   A body that fits the memory tier is promoted when its last two reuse distances were both
//!   short: each time it was hit again before the tier had served as many bytes of other disk
//!   hits as the memory tier holds (so the memory tier would have kept it). One short distance
//!   is not enough: under uniform access over a working set four times the memory tier, a
//!   fifth of all reuses are that short by chance, and promoting them reads whole objects
//!   that are evicted again after a hit or two. It is read in the background
//!   ([`DiskTier::promoted`], at most a few at once), so that a hit never waits for a
//!   whole-object read; the memory tier's own admission (moka's TinyLFU) decides whether it
//!   stays. A promoted object's `sendfile` mirror is the cache file itself (from the body's
//!   offset), so it costs no memfd copy; should its pages leave the page cache, it is written
//!   from memory instead ([`crate::sendfile::pagecache`]).
//! - **Eviction.** CLOCK (FIFO with one reference bit, the second-chance core of S3-FIFO): a
//!   hit sets the bit; when room is needed the oldest file is evicted unless its bit is set,
//!   in which case the bit is cleared and it goes to the back of the queue.
//! - **Crash safety.** A file is written under `tmp/`, then `fdatasync`ed, then renamed into
//!   `objects/`: a name in `objects/` always stands for a whole file. Each file carries a
//!   checksummed head and a trailer written last ([`format`](mod@format)); the index load refuses (and
//!   deletes) files whose head, length or trailer do not match, and a body's CRC-32 is checked
//!   before it is first served (see above): a file that fails is deleted and the request is a
//!   miss. A fill written as it arrives lives under `tmp/` until it is whole, synced and
//!   renamed; `tmp/` is emptied at start. The directory is not fsynced per file: a crash can
//!   lose the last renames (a miss later), never tear an object. Committed files are never
//!   written again (bodies in them are sent while the index may already have dropped them).
//! - **Invalidation.** [`DiskTier::invalidate`] removes matching entries from the index at once
//!   (their files are deleted by the writer thread), and a per-distribution generation keeps a
//!   write queued before it from landing afterwards. Invalidations made while the edge was
//!   down are applied at start ([`DiskTier::invalidate`] with the invalidation's creation
//!   time): files written before it are dropped.
//! - **Failures degrade, never fail requests.** An unusable directory at start leaves the edge
//!   memory-only with a logged error; a failed write is logged (at most every 10 s) and
//!   counted; a permission or read-only error turns writes off; a full disk evicts and goes on.
//!
//! One edge per directory: two processes sharing one would evict each other's files.

pub mod format;
pub mod open;
pub mod stream;

pub use stream::{Committed, DiskBody, DiskFill};

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::key::CacheKey;
use super::store::{CachedObject, CachedObjectTemplate, StoredBody};
use super::ttl::StaleWindows;
use crate::sendfile::{MIN_BODY, Mirror};
use open::{OpenFiles, OpenObject};

/// Objects up to this fraction of the disk size (a quarter) are cached on disk.
pub const MAX_OBJECT_DIVISOR: u64 = 4;
/// Bytes of bodies that may wait for the writer thread; beyond it, new writes are dropped (an
/// object larger than this is taken only when nothing waits). The churn benchmark's peak RSS
/// was 581 MiB with a bound of 256 MiB (a 64 MiB memory tier).
pub const MAX_QUEUED: u64 = 64 << 20;
/// Bytes the index is reckoned to spend per entry beyond its key and path (for metrics).
const ENTRY_OVERHEAD: u64 = 160;
/// Bodies up to this size are read whole (and checked) on a disk hit, with the head; larger
/// ones are sent from the file ([`DiskBody`]).
pub const INLINE_BODY: u64 = 64 * 1024;
/// Promotions into the memory tier under way at once, at most; beyond, a hit is not promoted.
pub const PROMOTING: u64 = 4;

/// Why the disk tier could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The directory cannot be created, read or written.
    #[error("the disk cache directory {dir} is not usable: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// A file could not be read back.
    #[error("disk cache I/O error: {0}")]
    Io(#[from] io::Error),
    /// A file is damaged or does not hold the key asked for.
    #[error("damaged disk cache file: {0}")]
    Corrupt(#[from] format::FormatError),
    /// A file holds another key than its index entry says.
    #[error("disk cache file holds another key")]
    WrongKey,
}

/// Counters and sizes of the disk tier, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Objects in the index.
    pub entries: u64,
    /// Bytes of the files in the index.
    pub used_bytes: u64,
    /// `--disk-cache-size`.
    pub capacity_bytes: u64,
    /// Approximate bytes of memory the index takes.
    pub index_bytes: u64,
    /// Objects kept open, with their parsed heads, for hits without a blocking-thread hop
    /// ([`open`]).
    pub open_files: u64,
    /// Lookups answered from disk.
    pub hits: u64,
    /// Body bytes of the objects read back from disk.
    pub hit_bytes: u64,
    /// Objects written.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Writes that failed (logged).
    pub write_errors: u64,
    /// Writes dropped because the queue was full or writes are off.
    pub writes_dropped: u64,
    /// Objects evicted to make room.
    pub evictions: u64,
    /// Bytes evicted.
    pub evicted_bytes: u64,
    /// Objects removed by invalidations (at start too).
    pub invalidated: u64,
    /// Files refused when loading or reading (damaged, torn, mismatched).
    pub corrupt: u64,
    /// Milliseconds the index took to load at start.
    pub load_millis: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    hit_bytes: AtomicU64,
    writes: AtomicU64,
    write_bytes: AtomicU64,
    write_errors: AtomicU64,
    writes_dropped: AtomicU64,
    evictions: AtomicU64,
    evicted_bytes: AtomicU64,
    invalidated: AtomicU64,
    corrupt: AtomicU64,
    load_millis: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One object on disk, as the index knows it.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    file_len: u64,
    body_offset: u64,
    dist: Arc<str>,
    path_and_query: Box<str>,
    written_at: SystemTime,
    stored_at: SystemTime,
    ttl: Duration,
    keep: Duration,
    referenced: bool,
    /// [`Index::reuse_clock`] just after this object's last hit: the promotion rule measures
    /// its reuse distance from it.
    last_hit: Option<u64>,
    /// How many of its latest reuse distances in a row were short (the promotion rule).
    short_reuses: u8,
    /// The body's checksum was checked since the edge started (or the file was written by it).
    verified: bool,
}

impl Entry {
    fn held(&self, now: SystemTime) -> bool {
        let age = now.duration_since(self.stored_at).unwrap_or(Duration::ZERO);
        age < self.ttl.saturating_add(self.keep)
    }

    fn weight(&self, key_len: usize) -> u64 {
        key_len as u64 + self.path_and_query.len() as u64 + ENTRY_OVERHEAD
    }
}

#[derive(Debug, Default)]
struct Index {
    map: HashMap<Bytes, Entry>,
    /// The CLOCK queue: keys with the id they had when queued (stale pairs are skipped).
    clock: VecDeque<(Bytes, u64)>,
    used: u64,
    index_bytes: u64,
    generations: HashMap<Arc<str>, u64>,
    /// Objects queued for writing, found here until their file is committed (an object above
    /// the memory tier's bound is nowhere else meanwhile).
    pending: HashMap<CacheKey, Arc<CachedObject>>,
    /// The file bytes of all disk hits so far: the clock reuse distances are measured on.
    reuse_clock: u64,
    /// The opened objects of entries above [`INLINE_BODY`], by file id ([`open`]): every
    /// removal of an entry removes (and closes) its open file.
    open: OpenFiles,
}

impl Index {
    fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.used += entry.file_len;
        self.index_bytes += entry.weight(key.len());
        self.clock.push_back((key.clone(), entry.id));
        let old = self.map.insert(key.clone(), entry);
        if let Some(o) = &old {
            self.used -= o.file_len;
            self.index_bytes -= o.weight(key.len());
            self.open.remove(o.id);
        }
        old
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.used -= e.file_len;
        self.index_bytes -= e.weight(key.len());
        self.open.remove(e.id);
        Some(e)
    }

    /// Removes the entry of `key` only if it is still file `id`.
    fn remove_id(&mut self, key: &[u8], id: u64) -> Option<Entry> {
        if self.map.get(key).is_some_and(|e| e.id == id) {
            self.remove(key)
        } else {
            None
        }
    }

    /// CLOCK: the next victim, or `None` when the index is empty.
    fn evict_one(&mut self) -> Option<Entry> {
        while let Some((key, id)) = self.clock.pop_front() {
            let Some(e) = self.map.get_mut(&key) else {
                continue;
            };
            if e.id != id {
                continue;
            }
            if e.referenced {
                e.referenced = false;
                self.clock.push_back((key, id));
                continue;
            }
            return self.remove(&key);
        }
        None
    }

    fn generation(&self, dist: &str) -> u64 {
        self.generations.get(dist).copied().unwrap_or(0)
    }
}

enum Job {
    Write {
        key: CacheKey,
        obj: Arc<CachedObject>,
        generation: u64,
    },
    Unlink(Vec<u64>),
    Flush(mpsc::Sender<()>),
}

struct Inner {
    dir: PathBuf,
    objects: PathBuf,
    tmp: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    queued: AtomicU64,
    writes_off: AtomicBool,
    last_error_log: Mutex<Option<Instant>>,
    counters: Counters,
    /// Promotions into the memory tier under way.
    promoting: AtomicU64,
}

/// A new file id (file names are ids in hex).
fn next_id() -> u64 {
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU64::new(fastrand::u64(..) >> 8))
        .fetch_add(1, Ordering::Relaxed)
}

/// The disk tier. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct DiskTier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DiskTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskTier")
            .field("dir", &self.inner.dir)
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn file_name(id: u64) -> String {
    format!("{id:016x}")
}

impl DiskTier {
    /// Opens (creating it if needed) the tier in `dir`, holding at most `capacity` bytes of
    /// files, and loads its index; `now` (the edge's clock) drops objects no longer held. A
    /// directory that cannot be created or written is an error: the caller goes on without
    /// the tier.
    pub fn open(dir: &Path, capacity: u64, now: SystemTime) -> Result<DiskTier, DiskError> {
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        let dir_err = |source| DiskError::Dir {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(&objects).map_err(dir_err)?;
        fs::create_dir_all(&tmp).map_err(dir_err)?;
        // Leftovers of writes a crash interrupted; and a probe that the directory is writable.
        for e in fs::read_dir(&tmp).map_err(dir_err)?.flatten() {
            let _ = fs::remove_file(e.path());
        }
        let probe = tmp.join("probe");
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"probe"))
            .map_err(dir_err)?;
        let _ = fs::remove_file(&probe);

        let started = Instant::now();
        let (mut index, corrupt) = load_index(&objects, now).map_err(dir_err)?;
        index.open.set_capacity(open::open_file_bound());
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            objects,
            tmp,
            capacity,
            index: Mutex::new(index),
            jobs: Mutex::new(None),
            queued: AtomicU64::new(0),
            writes_off: AtomicBool::new(false),
            last_error_log: Mutex::new(None),
            counters: Counters::default(),
            promoting: AtomicU64::new(0),
        });
        add(&inner.counters.corrupt, corrupt);
        // A smaller size than last time: evict down to it.
        let victims = {
            let mut index = lock(&inner.index);
            let mut v = Vec::new();
            while index.used > capacity {
                match index.evict_one() {
                    Some(e) => v.push(e),
                    None => break,
                }
            }
            v
        };
        inner.evicted(&victims);
        for e in &victims {
            let _ = fs::remove_file(inner.objects.join(file_name(e.id)));
        }
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        inner.counters.load_millis.store(millis, Ordering::Relaxed);

        let (tx, rx) = mpsc::channel();
        *lock(&inner.jobs) = Some(tx);
        let worker = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("edgegate-disk-cache".into())
            .spawn(move || worker.run(rx))
            .map_err(dir_err)?;
        let tier = DiskTier { inner };
        let s = tier.stats();
        tracing::info!(
            dir = %dir.display(),
            objects = s.entries,
            bytes = s.used_bytes,
            refused = corrupt,
            millis,
            "disk cache loaded"
        );
        Ok(tier)
    }

    /// The largest object cached on disk: a quarter of the disk size.
    pub fn max_object_size(&self) -> u64 {
        self.inner.capacity / MAX_OBJECT_DIVISOR
    }

    /// The distribution's write generation, to pass to [`DiskTier::store`].
    pub fn generation(&self, dist_id: &str) -> u64 {
        lock(&self.inner.index).generation(dist_id)
    }

    /// Queues `obj` to be written under `key`; `generation` is [`DiskTier::generation`] read
    /// when the object was accepted, so that an invalidation in between discards the write.
    /// Dropped (and counted) when too large, when writes are off, or when the queue is full.
    pub fn store(&self, key: &CacheKey, obj: Arc<CachedObject>, generation: u64) {
        let inner = &self.inner;
        if obj.body.len() > self.max_object_size() {
            return;
        }
        // What the queue holds in memory: nothing for a body that is in a file already.
        let size = obj.body.in_memory().map_or(0, |b| b.len() as u64);
        let queued = inner.queued.load(Ordering::Relaxed);
        if inner.writes_off.load(Ordering::Relaxed) || (queued > 0 && queued + size > MAX_QUEUED) {
            add(&inner.counters.writes_dropped, 1);
            return;
        }
        inner.queued.fetch_add(size, Ordering::Relaxed);
        lock(&inner.index)
            .pending
            .insert(key.clone(), Arc::clone(&obj));
        let job = Job::Write {
            key: key.clone(),
            obj,
            generation,
        };
        if !inner.send(job) {
            lock(&inner.index).pending.remove(key);
            inner.queued.fetch_sub(size, Ordering::Relaxed);
            add(&inner.counters.writes_dropped, 1);
        }
    }

    /// Looks `key` up at `now` and opens its object (on a blocking thread): a body up to
    /// [`INLINE_BODY`] is read and checked with the head; a larger one stays in the file
    /// ([`StoredBody::Disk`], sent from it), its checksum verified once, on its first hit since
    /// the edge started (a file this edge wrote is verified already). The object's mirror is
    /// the cache file when `mirrors` is on (a token for a body in the file). `None` when it is
    /// not on disk, no longer held, or damaged (then it is removed). The flag is the promotion
    /// rule (see [`DiskTier::promoted`]): whether the object's last two reuse distances were
    /// both short, fewer than `promote_within` bytes of other disk hits (a memory tier of that
    /// size would have kept it both times).
    pub async fn load(
        &self,
        key: &CacheKey,
        now: SystemTime,
        mirrors: bool,
        promote_within: u64,
    ) -> Option<(Arc<CachedObject>, bool)> {
        let inner = &self.inner;
        let (entry, again, opened) = {
            let mut index = lock(&inner.index);
            if let Some(obj) = index.pending.get(key) {
                let obj = obj.is_held(now).then(|| Arc::clone(obj))?;
                add(&inner.counters.hits, 1);
                add(&inner.counters.hit_bytes, obj.body.len());
                return Some((obj, false));
            }
            let clock = index.reuse_clock;
            let e = index.map.get_mut(key.as_bytes())?;
            if !e.held(now) {
                let id = e.id;
                index.remove_id(key.as_bytes(), id);
                drop(index);
                inner.send(Job::Unlink(vec![id]));
                return None;
            }
            let short = e
                .last_hit
                .is_some_and(|t| clock.saturating_sub(t) < promote_within);
            e.short_reuses = if short {
                e.short_reuses.saturating_add(1)
            } else {
                0
            };
            let again = e.short_reuses >= 2;
            // Its own bytes are not part of the distance to its next hit.
            let clock = clock.saturating_add(e.file_len);
            e.last_hit = Some(clock);
            e.referenced = true;
            let e = e.clone();
            index.reuse_clock = clock;
            let opened = index.open.get(e.id);
            (e, again, opened)
        };
        // Opened before: built here, with no file I/O (a failed `dup` falls back to opening).
        if let Some(obj) = opened.and_then(|o| o.object(mirrors).ok()) {
            add(&inner.counters.hits, 1);
            add(&inner.counters.hit_bytes, obj.body.len());
            return Some((Arc::new(obj), again));
        }
        let id = entry.id;
        let path = inner.objects.join(file_name(id));
        let want = Bytes::copy_from_slice(key.as_bytes());
        let read =
            tokio::task::spawn_blocking(move || open_object(&path, &entry, &want, mirrors)).await;
        match read {
            Ok(Ok((obj, open))) => {
                {
                    let mut index = lock(&inner.index);
                    // Kept open only while its entry is still this file (verified now); any
                    // later removal of the entry removes it (see `Index::remove`).
                    if let Some(e) = index.map.get_mut(key.as_bytes())
                        && e.id == id
                    {
                        e.verified = true;
                        if let Some(open) = open {
                            index.open.insert(id, Arc::new(open));
                        }
                    }
                }
                add(&inner.counters.hits, 1);
                add(&inner.counters.hit_bytes, obj.body.len());
                Some((Arc::new(obj), again))
            }
            Ok(Err(error)) => {
                // Removed, or damaged: either way it is gone from the index.
                if lock(&inner.index).remove_id(key.as_bytes(), id).is_some() {
                    inner.send(Job::Unlink(vec![id]));
                }
                if !matches!(&error, DiskError::Io(e) if e.kind() == io::ErrorKind::NotFound) {
                    add(&inner.counters.corrupt, 1);
                    inner.log_error("a disk cache file was refused and deleted", &error);
                }
                None
            }
            Err(_) => None,
        }
    }

    /// `obj` (an object [`DiskTier::load`] left in its file) read into memory, to be promoted
    /// into the memory tier: `None` when it is in memory already, when [`PROMOTING`]
    /// promotions are under way, or when the read fails. Its mirror is the cache file when
    /// `mirrors` is on.
    pub async fn promoted(&self, obj: &CachedObject, mirrors: bool) -> Option<CachedObject> {
        let StoredBody::Disk(body) = &obj.body else {
            return None;
        };
        let promoting = &self.inner.promoting;
        if promoting.fetch_add(1, Ordering::Relaxed) >= PROMOTING {
            promoting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let body = Arc::clone(body);
        let read = tokio::task::spawn_blocking(move || {
            let bytes = body.read_all()?;
            let (file, offset) = body.file()?;
            let mirror = if mirrors {
                Mirror::of_file(file.into(), offset, &bytes)
            } else {
                None
            };
            let bytes = mirror.as_ref().map_or(bytes, Mirror::pinned_body);
            Ok::<_, io::Error>((bytes, mirror))
        })
        .await;
        promoting.fetch_sub(1, Ordering::Relaxed);
        let (bytes, mirror) = read.ok()?.ok()?;
        Some(CachedObject {
            status: obj.status,
            headers: obj.headers.clone(),
            body: StoredBody::Memory(bytes),
            mirror,
            stored_at: obj.stored_at,
            ttl: obj.ttl,
            origin_age: obj.origin_age,
            stale: obj.stale,
            keep: obj.keep,
            error_cached_until: AtomicU64::new(obj.error_cached_until.load(Ordering::Relaxed)),
            annex: OnceLock::new(),
        })
    }

    /// Starts writing a fill of `key` to a file as it arrives (see [`stream`]): the object
    /// will have `template`'s head and, when known, `len` bytes; `generation` is
    /// [`DiskTier::generation`] read when the fill began, so that an invalidation in between
    /// discards it. `progress` is told how many body bytes are in the file after each write.
    /// `None` when writes are off or the temporary file cannot be made (the fill then stores
    /// nothing).
    pub fn begin_fill(
        &self,
        key: &CacheKey,
        template: &CachedObjectTemplate,
        len: Option<u64>,
        generation: u64,
        progress: Box<dyn Fn(u64) + Send>,
    ) -> Option<DiskFill> {
        let inner = &self.inner;
        if inner.writes_off.load(Ordering::Relaxed)
            || len.is_some_and(|l| l > self.max_object_size())
        {
            add(&inner.counters.writes_dropped, 1);
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let id = next_id();
        let tmp = inner.tmp.join(file_name(id));
        let opened = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)
            .and_then(|f| Ok((f.try_clone()?, f)));
        let (file, reader) = match opened {
            Ok(pair) => pair,
            Err(error) => {
                add(&inner.counters.write_errors, 1);
                inner.failed_write(&error);
                return None;
            }
        };
        let head = format::Head {
            key: key.as_bytes().to_vec(),
            dist_id: key.dist_id().to_owned(),
            path_and_query: key.path_and_query().to_owned(),
            status: template.status,
            stored_at: template.stored_at,
            written_at: SystemTime::now(),
            ttl: template.ttl,
            origin_age: super::ttl::origin_age(&template.headers),
            while_revalidate: template.stale.while_revalidate,
            if_error: template.stale.if_error,
            keep: template.keep,
            body_len: len.unwrap_or(0),
            headers: template.headers.clone(),
        };
        // The head is written again at the end with the same length (its fields are fixed-size
        // but for the strings, which do not change).
        let placeholder = format::encode_head(&head);
        let body_offset = placeholder.len() as u64;
        let (tx, rx) = tokio::sync::mpsc::channel(stream::FILL_QUEUE);
        let worker = Arc::clone(inner);
        let fill = FileFill {
            placeholder,
            file,
            tmp: tmp.clone(),
            id,
            key: Bytes::copy_from_slice(key.as_bytes()),
            head,
            len,
            generation,
        };
        runtime.spawn_blocking(move || worker.run_fill(fill, rx, progress));
        Some(DiskFill::new(tx, reader, body_offset, tmp))
    }

    /// Removes every entry of `dist_id` whose path and query `matches`, written before
    /// `before` when given (an invalidation made while the edge was down), and discards
    /// writes of the distribution queued earlier. Returns how many entries were removed.
    pub fn invalidate(
        &self,
        dist_id: &str,
        matches: &dyn Fn(&str) -> bool,
        before: Option<SystemTime>,
    ) -> u64 {
        let inner = &self.inner;
        let ids: Vec<u64> = {
            let mut index = lock(&inner.index);
            let victims: Vec<Bytes> = index
                .map
                .iter()
                .filter(|(_, e)| {
                    &*e.dist == dist_id
                        && matches(&e.path_and_query)
                        && before.is_none_or(|t| e.written_at < t)
                })
                .map(|(k, _)| k.clone())
                .collect();
            if before.is_none() {
                index
                    .pending
                    .retain(|k, _| !(k.dist_id() == dist_id && matches(k.path_and_query())));
                match index.generations.get_mut(dist_id) {
                    Some(g) => *g += 1,
                    None => {
                        index.generations.insert(Arc::from(dist_id), 1);
                    }
                }
            }
            victims
                .iter()
                .filter_map(|k| index.remove(k).map(|e| e.id))
                .collect()
        };
        let n = ids.len() as u64;
        add(&inner.counters.invalidated, n);
        if !ids.is_empty() && !inner.send(Job::Unlink(ids.clone())) {
            for id in ids {
                let _ = fs::remove_file(inner.objects.join(file_name(id)));
            }
        }
        n
    }

    /// Waits until every write and deletion queued so far is done (shutdown, tests).
    pub async fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.inner.send(Job::Flush(tx)) {
            let _ = tokio::task::spawn_blocking(move || rx.recv()).await;
        }
    }

    /// Current counters and sizes.
    pub fn stats(&self) -> DiskStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (entries, used, index_bytes, open_files) = {
            let i = lock(&self.inner.index);
            (
                i.map.len() as u64,
                i.used,
                i.index_bytes,
                i.open.len() as u64,
            )
        };
        DiskStats {
            entries,
            used_bytes: used,
            capacity_bytes: self.inner.capacity,
            index_bytes,
            open_files,
            hits: get(&c.hits),
            hit_bytes: get(&c.hit_bytes),
            writes: get(&c.writes),
            write_bytes: get(&c.write_bytes),
            write_errors: get(&c.write_errors),
            writes_dropped: get(&c.writes_dropped),
            evictions: get(&c.evictions),
            evicted_bytes: get(&c.evicted_bytes),
            invalidated: get(&c.invalidated),
            corrupt: get(&c.corrupt),
            load_millis: get(&c.load_millis),
        }
    }
}

impl Inner {
    fn send(&self, job: Job) -> bool {
        lock(&self.jobs)
            .as_ref()
            .is_some_and(|tx| tx.send(job).is_ok())
    }

    fn evicted(&self, victims: &[Entry]) {
        add(&self.counters.evictions, victims.len() as u64);
        add(
            &self.counters.evicted_bytes,
            victims.iter().map(|e| e.file_len).sum(),
        );
    }

    /// Logs a disk error, at most once every 10 s.
    fn log_error(&self, what: &str, error: &dyn std::fmt::Display) {
        let mut last = lock(&self.last_error_log);
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::error!(dir = %self.dir.display(), %error, "{what}");
        }
    }

    /// The writer thread: writes, deletions and flushes, in order.
    fn run(self: Arc<Self>, rx: mpsc::Receiver<Job>) {
        while let Ok(job) = rx.recv() {
            match job {
                Job::Write {
                    key,
                    obj,
                    generation,
                } => {
                    let size = obj.body.in_memory().map_or(0, |b| b.len() as u64);
                    let id = next_id();
                    self.write(&key, &obj, generation, id);
                    // Committed (or failed): no longer found among the pending ones.
                    let mut index = lock(&self.index);
                    if index
                        .pending
                        .get(&key)
                        .is_some_and(|p| Arc::ptr_eq(p, &obj))
                    {
                        index.pending.remove(&key);
                    }
                    drop(index);
                    self.queued.fetch_sub(size, Ordering::Relaxed);
                }
                Job::Unlink(ids) => {
                    for id in ids {
                        let _ = fs::remove_file(self.objects.join(file_name(id)));
                    }
                }
                Job::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Evicts until `need` more bytes fit; deletes the victims' files.
    fn make_room(&self, need: u64) {
        let victims = {
            let mut index = lock(&self.index);
            let mut v = Vec::new();
            while index.used + need > self.capacity {
                match index.evict_one() {
                    Some(e) => v.push(e),
                    None => break,
                }
            }
            v
        };
        self.evicted(&victims);
        for e in &victims {
            let _ = fs::remove_file(self.objects.join(file_name(e.id)));
        }
    }

    fn write(&self, key: &CacheKey, obj: &CachedObject, generation: u64, id: u64) {
        let head = format::Head {
            key: key.as_bytes().to_vec(),
            dist_id: key.dist_id().to_owned(),
            path_and_query: key.path_and_query().to_owned(),
            status: obj.status,
            stored_at: obj.stored_at,
            written_at: SystemTime::now(),
            ttl: obj.ttl,
            origin_age: obj.origin_age,
            while_revalidate: obj.stale.while_revalidate,
            if_error: obj.stale.if_error,
            keep: obj.keep,
            body_len: obj.body.len(),
            headers: obj.headers.clone(),
        };
        let head_bytes = format::encode_head(&head);
        let file_len = head_bytes.len() as u64 + head.body_len + format::TRAILER_LEN;
        self.make_room(file_len);
        let tmp = self.tmp.join(file_name(id));
        let done = self.objects.join(file_name(id));
        let mut result = write_file(&tmp, &head_bytes, &obj.body, &done);
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::StorageFull
        {
            // The file system is fuller than our own count says: evict an eighth more, retry
            // once.
            self.make_room(file_len + self.capacity / 8);
            result = write_file(&tmp, &head_bytes, &obj.body, &done);
        }
        if let Err(error) = result {
            let _ = fs::remove_file(&tmp);
            add(&self.counters.write_errors, 1);
            self.failed_write(&error);
            return;
        }
        let entry = Entry {
            id,
            file_len,
            body_offset: head_bytes.len() as u64,
            dist: Arc::from(head.dist_id.as_str()),
            path_and_query: head.path_and_query.into_boxed_str(),
            written_at: head.written_at,
            stored_at: head.stored_at,
            ttl: head.ttl,
            keep: head.keep,
            referenced: false,
            last_hit: None,
            short_reuses: 0,
            verified: true,
        };
        self.enter(Bytes::copy_from_slice(key.as_bytes()), entry, generation);
    }

    /// Logs a failed write; a permission or read-only error turns writes off.
    fn failed_write(&self, error: &io::Error) {
        let off = matches!(
            error.kind(),
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
        );
        if off {
            self.writes_off.store(true, Ordering::Relaxed);
            self.log_error(
                "disk cache writes turned off (the edge goes on with the memory cache and the objects already on disk)",
                error,
            );
        } else {
            self.log_error(
                "a disk cache write failed; the object stays in memory only",
                error,
            );
        }
    }

    /// Enters a committed file in the index, unless `generation` is no longer the
    /// distribution's (invalidated meanwhile: the file is deleted). Returns whether it was.
    fn enter(&self, key: Bytes, entry: Entry, generation: u64) -> bool {
        let id = entry.id;
        let file_len = entry.file_len;
        let dist = Arc::clone(&entry.dist);
        let (entered, stale) = {
            let mut index = lock(&self.index);
            if index.generation(&dist) == generation {
                (true, index.insert(key, entry).map(|old| old.id))
            } else {
                (false, Some(id))
            }
        };
        if let Some(old) = stale {
            let _ = fs::remove_file(self.objects.join(file_name(old)));
        }
        if entered {
            add(&self.counters.writes, 1);
            add(&self.counters.write_bytes, file_len);
        }
        entered
    }

    /// The task of a [`DiskFill`] (see [`stream`]): writes the chunks as they come, then
    /// commits the file on [`stream::FillMsg::Finish`]; deletes it when the fill ends any
    /// other way.
    fn run_fill(
        &self,
        mut fill: FileFill,
        mut rx: tokio::sync::mpsc::Receiver<stream::FillMsg>,
        progress: Box<dyn Fn(u64) + Send>,
    ) {
        let placeholder = std::mem::take(&mut fill.placeholder);
        let body_offset = placeholder.len() as u64;
        if let Some(len) = fill.len {
            self.make_room(body_offset + len + format::TRAILER_LEN);
        }
        let mut crc = flate2::Crc::new();
        let mut written: u64 = 0;
        let mut received = || -> io::Result<Option<tokio::sync::oneshot::Sender<_>>> {
            fill.file.write_all_at(&placeholder, 0)?;
            while let Some(msg) = rx.blocking_recv() {
                match msg {
                    stream::FillMsg::Data(bytes) => {
                        fill.file.write_all_at(&bytes, body_offset + written)?;
                        crc.update(&bytes);
                        written += bytes.len() as u64;
                        if written > self.capacity / MAX_OBJECT_DIVISOR {
                            return Err(io::Error::other("the body outgrew the disk tier's bound"));
                        }
                        progress(written);
                    }
                    stream::FillMsg::Finish(reply) => return Ok(Some(reply)),
                }
            }
            Ok(None)
        };
        let outcome = received();
        rx.close();
        let reply = match outcome {
            Ok(Some(reply)) => reply,
            // Abandoned: a short body, an origin error, a cancelled fill.
            Ok(None) => {
                let _ = fs::remove_file(&fill.tmp);
                return;
            }
            Err(error) => {
                let _ = fs::remove_file(&fill.tmp);
                add(&self.counters.write_errors, 1);
                self.failed_write(&error);
                return;
            }
        };
        let committed = self.commit_fill(fill, body_offset, written, crc.sum());
        let _ = reply.send(committed);
    }

    /// Ends a [`FileFill`] of `written` body bytes with checksum `sum`: trailer, real head,
    /// `fdatasync`, rename, index.
    fn commit_fill(
        &self,
        mut fill: FileFill,
        body_offset: u64,
        written: u64,
        sum: u32,
    ) -> Committed {
        if fill.len.is_some_and(|l| l != written) {
            let _ = fs::remove_file(&fill.tmp);
            return Committed::Failed;
        }
        fill.head.body_len = written;
        fill.head.written_at = SystemTime::now();
        let head_bytes = format::encode_head(&fill.head);
        let file_len = body_offset + written + format::TRAILER_LEN;
        let done = self.objects.join(file_name(fill.id));
        let result = (|| {
            if head_bytes.len() as u64 != body_offset {
                return Err(io::Error::other("a cache file's head changed length"));
            }
            fill.file
                .write_all_at(&format::trailer(sum, written), body_offset + written)?;
            fill.file.write_all_at(&head_bytes, 0)?;
            fill.file.sync_data()?;
            self.make_room(file_len);
            fs::rename(&fill.tmp, &done)
        })();
        if let Err(error) = result {
            let _ = fs::remove_file(&fill.tmp);
            add(&self.counters.write_errors, 1);
            self.failed_write(&error);
            return Committed::NotStored;
        }
        let entry = Entry {
            id: fill.id,
            file_len,
            body_offset,
            dist: Arc::from(fill.head.dist_id.as_str()),
            path_and_query: std::mem::take(&mut fill.head.path_and_query).into_boxed_str(),
            written_at: fill.head.written_at,
            stored_at: fill.head.stored_at,
            ttl: fill.head.ttl,
            keep: fill.head.keep,
            referenced: false,
            last_hit: None,
            short_reuses: 0,
            verified: true,
        };
        if !self.enter(fill.key, entry, fill.generation) {
            return Committed::NotStored;
        }
        Committed::Stored(Arc::new(DiskBody::new(fill.file, body_offset, written)))
    }
}

/// A fill being written by [`Inner::run_fill`].
struct FileFill {
    /// The head written first (the real one replaces it at the end).
    placeholder: Vec<u8>,
    file: File,
    tmp: PathBuf,
    id: u64,
    key: Bytes,
    head: format::Head,
    len: Option<u64>,
    generation: u64,
}

/// Writes `head`, `body` and the trailer to `tmp`, syncs the data and renames it to `done`. A
/// body in a file (an object refreshed by a 304) is copied from it chunk by chunk.
fn write_file(tmp: &Path, head: &[u8], body: &StoredBody, done: &Path) -> io::Result<()> {
    let mut f = File::create(tmp)?;
    f.write_all(head)?;
    let sum = match body {
        StoredBody::Memory(bytes) => {
            f.write_all(bytes)?;
            format::crc(bytes)
        }
        StoredBody::Disk(file) => {
            let mut c = flate2::Crc::new();
            file.each_chunk(|b| {
                c.update(b);
                f.write_all(b)
            })?;
            c.sum()
        }
    };
    f.write_all(&format::trailer(sum, body.len()))?;
    f.sync_data()?;
    drop(f);
    fs::rename(tmp, done)
}

/// Reads a file's head and checks its length and trailer (not the body).
fn read_entry(path: &Path) -> Result<(format::Head, Entry, u32), DiskError> {
    read_entry_of(&File::open(path)?, path)
}

/// [`read_entry`] of the open file `f` at `path`; also returns the body's checksum from the
/// trailer.
fn read_entry_of(f: &File, path: &Path) -> Result<(format::Head, Entry, u32), DiskError> {
    let file_len = f.metadata()?.len();
    let mut prefix = [0u8; format::PREFIX_LEN as usize];
    f.read_exact_at(&mut prefix, 0)?;
    let head_len = format::head_len(&prefix)?;
    let mut head = vec![0u8; head_len as usize + 4];
    f.read_exact_at(&mut head, format::PREFIX_LEN)?;
    let head = format::decode_head(&head)?;
    let body_offset = format::body_offset(head_len);
    if body_offset + head.body_len + format::TRAILER_LEN != file_len {
        return Err(format::FormatError::Length.into());
    }
    let mut trailer = [0u8; format::TRAILER_LEN as usize];
    f.read_exact_at(&mut trailer, body_offset + head.body_len)?;
    let sum = format::check_trailer(&trailer, head.body_len)?;
    let id = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| u64::from_str_radix(n, 16).ok())
        .ok_or(format::FormatError::Magic)?;
    let entry = Entry {
        id,
        file_len,
        body_offset,
        dist: Arc::from(head.dist_id.as_str()),
        path_and_query: head.path_and_query.clone().into_boxed_str(),
        written_at: head.written_at,
        stored_at: head.stored_at,
        ttl: head.ttl,
        keep: head.keep,
        referenced: false,
        last_hit: None,
        short_reuses: 0,
        verified: false,
    };
    Ok((head, entry, sum))
}

/// Opens an object for a hit (see [`DiskTier::load`]): head, length, trailer and key are
/// checked; a body up to [`INLINE_BODY`] is read and its checksum checked; a larger one stays
/// in the file, its checksum checked (read in chunks) unless the entry is verified, and is
/// also returned as an [`OpenObject`] for the open cache.
fn open_object(
    path: &Path,
    entry: &Entry,
    key: &[u8],
    mirrors: bool,
) -> Result<(CachedObject, Option<OpenObject>), DiskError> {
    let f = File::open(path)?;
    let (head, e, sum) = read_entry_of(&f, path)?;
    if head.key != key || e.file_len != entry.file_len {
        return Err(DiskError::WrongKey);
    }
    if head.body_len > INLINE_BODY {
        let disk = DiskBody::new(f, e.body_offset, head.body_len);
        if !entry.verified && disk.crc()? != sum {
            return Err(format::FormatError::BodyChecksum.into());
        }
        let open = OpenObject::new(disk.into_file(), e.body_offset, head);
        return Ok((open.object(mirrors)?, Some(open)));
    }
    let disk = DiskBody::new(f, e.body_offset, head.body_len);
    let bytes = disk.read_all()?;
    if format::crc(&bytes) != sum {
        return Err(format::FormatError::BodyChecksum.into());
    }
    let mirror = if mirrors && bytes.len() >= MIN_BODY {
        let (file, offset) = disk.file()?;
        Mirror::of_file(file.into(), offset, &bytes)
    } else {
        None
    };
    // The body keeps its mirror alive while any part of it is being sent, even when the
    // object itself is not kept.
    let bytes = mirror.as_ref().map_or(bytes, Mirror::pinned_body);
    let obj = CachedObject {
        status: head.status,
        headers: head.headers,
        body: StoredBody::Memory(bytes),
        mirror,
        stored_at: head.stored_at,
        ttl: head.ttl,
        origin_age: head.origin_age,
        stale: StaleWindows {
            while_revalidate: head.while_revalidate,
            if_error: head.if_error,
        },
        keep: head.keep,
        error_cached_until: AtomicU64::new(0),
        annex: OnceLock::new(),
    };
    Ok((obj, None))
}

/// Threads that read the index at start.
const LOADERS: usize = 4;

/// Reads every file's head in `objects` (on [`LOADERS`] threads); damaged, torn or no longer
/// held files are deleted. Returns the index and how many files were refused as damaged.
fn load_index(objects: &Path, now: SystemTime) -> io::Result<(Index, u64)> {
    let paths: Vec<PathBuf> = fs::read_dir(objects)?.flatten().map(|e| e.path()).collect();
    let chunk = paths.len().div_ceil(LOADERS).max(1);
    let loaded: Vec<(Vec<(Bytes, Entry)>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut ok = Vec::with_capacity(part.len());
                    let mut refused = 0;
                    for p in part {
                        match read_entry(p) {
                            Ok((head, entry, _)) if entry.held(now) => {
                                ok.push((Bytes::from(head.key), entry));
                            }
                            Ok(_) => {
                                let _ = fs::remove_file(p);
                            }
                            Err(error) => {
                                refused += 1;
                                tracing::warn!(file = %p.display(), %error, "damaged disk cache file deleted");
                                let _ = fs::remove_file(p);
                            }
                        }
                    }
                    (ok, refused)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut all = Vec::with_capacity(paths.len());
    let mut refused = 0;
    for (ok, r) in loaded {
        all.extend(ok);
        refused += r;
    }
    // Oldest first: the CLOCK queue's order.
    all.sort_by_key(|(_, e)| e.written_at);
    let mut index = Index::default();
    for (key, entry) in all {
        // A key written twice (a crash between a rename and the old file's deletion): the
        // newer one stays.
        if let Some(old) = index.insert(key, entry) {
            let _ = fs::remove_file(objects.join(file_name(old.id)));
        }
    }
    Ok((index, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::key::{KeySpec, build};
    use http::{HeaderMap, StatusCode};

    fn key(path: &str) -> CacheKey {
        build(
            "D1",
            false,
            path,
            None,
            &HeaderMap::new(),
            &KeySpec::default(),
            &|_| false,
        )
    }

    fn object(body: &[u8], now: SystemTime) -> Arc<CachedObject> {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        Arc::new(CachedObject {
            status: StatusCode::OK,
            headers,
            body: Bytes::copy_from_slice(body).into(),
            mirror: None,
            stored_at: now,
            ttl: Duration::from_secs(3600),
            origin_age: Duration::ZERO,
            stale: StaleWindows::default(),
            keep: Duration::ZERO,
            error_cached_until: AtomicU64::new(0),
            annex: OnceLock::new(),
        })
    }

    #[tokio::test]
    async fn objects_survive_a_reopen_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 1 << 20, now).unwrap();
        let (a, b) = (key("/a"), key("/b"));
        tier.store(&a, object(b"alpha", now), tier.generation("D1"));
        tier.store(&b, object(&[7u8; 20_000], now), tier.generation("D1"));
        tier.flush().await;
        assert_eq!(tier.stats().entries, 2);
        let (got, _) = tier
            .load(&a, now, true, u64::MAX)
            .await
            .expect("a is on disk");
        assert_eq!(got.body, "alpha");
        assert!(got.mirror.is_none(), "too small for a mirror");
        drop(tier);
        let tier = DiskTier::open(dir.path(), 1 << 20, now).unwrap();
        let (got, _) = tier
            .load(&b, now, true, u64::MAX)
            .await
            .expect("b is on disk");
        assert_eq!(got.body.len(), 20_000);
        let mirror = Arc::downgrade(got.mirror.as_ref().expect("its mirror is the cache file"));
        // A range of the body, all that is left once the response's object is dropped, keeps
        // the mirror (and so the open file) alive until it is written.
        let range = got.body.in_memory().unwrap().slice(100..MIN_BODY + 100);
        drop(got);
        assert!(mirror.upgrade().is_some());
        drop(range);
        assert!(mirror.upgrade().is_none());
        drop(tier);

        // Damage b's body: the index still loads it (head and trailer are intact), but the
        // read refuses it and deletes it.
        let objects = dir.path().join("objects");
        let files: Vec<_> = fs::read_dir(&objects).unwrap().flatten().collect();
        assert_eq!(files.len(), 2);
        for f in &files {
            let p = f.path();
            let bytes = fs::read(&p).unwrap();
            if bytes.windows(3).any(|w| w == [7, 7, 7]) {
                let mut bytes = bytes;
                let n = bytes.len();
                bytes[n - 100] ^= 0xff;
                fs::write(&p, bytes).unwrap();
            }
        }
        // And a torn file (no trailer) and a stray temporary file.
        fs::write(objects.join(file_name(99)), b"EGDISK01\x05\0\0\0abc").unwrap();
        fs::write(dir.path().join("tmp").join("x"), b"partial").unwrap();
        let tier = DiskTier::open(dir.path(), 1 << 20, now).unwrap();
        assert_eq!(tier.stats().entries, 2, "the torn file is refused at load");
        assert_eq!(tier.stats().corrupt, 1);
        assert!(
            tier.load(&b, now, false, u64::MAX).await.is_none(),
            "a damaged body is never served"
        );
        assert_eq!(tier.stats().corrupt, 2);
        assert_eq!(tier.stats().entries, 1);
        assert!(tier.load(&a, now, false, u64::MAX).await.is_some());
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    /// The bytes of a body kept in its file, read back in chunks.
    async fn disk_bytes(obj: &CachedObject) -> Vec<u8> {
        let StoredBody::Disk(d) = &obj.body else {
            panic!("a body in memory");
        };
        let d = Arc::clone(d);
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            d.each_chunk(|b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .map(|()| out)
        })
        .await
        .unwrap()
        .unwrap()
    }

    #[tokio::test]
    async fn a_large_body_stays_in_its_file_verified_once_and_refused_when_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 16 << 20, now).unwrap();
        let k = key("/large");
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        tier.store(&k, object(&body, now), 0);
        tier.flush().await;
        let (got, again) = tier.load(&k, now, true, u64::MAX).await.expect("on disk");
        assert!(!again);
        assert!(got.body.in_memory().is_none(), "not read into memory");
        assert_eq!(got.body.len(), body.len() as u64);
        assert!(got.mirror.is_some(), "a token for sendfile");
        assert_eq!(disk_bytes(&got).await, body);
        let (_, again) = tier.load(&k, now, true, u64::MAX).await.unwrap();
        assert!(!again, "one short reuse distance is not enough to promote");
        drop(tier);

        // After a restart the body's checksum is checked on its first hit: a damaged byte in
        // the middle of the body makes it a miss, and the file is deleted.
        let objects = dir.path().join("objects");
        let file = fs::read_dir(&objects)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = fs::read(&file).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        fs::write(&file, bytes).unwrap();
        let tier = DiskTier::open(dir.path(), 16 << 20, now).unwrap();
        assert_eq!(tier.stats().entries, 1, "head and trailer are intact");
        assert!(tier.load(&k, now, false, u64::MAX).await.is_none());
        assert_eq!(tier.stats().corrupt, 1);
        assert_eq!(tier.stats().entries, 0);
    }

    #[tokio::test]
    async fn promotion_needs_two_short_reuse_distances_in_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 16 << 20, now).unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (k, other) = (key("/k"), key("/other"));
        tier.store(&k, object(&body, now), 0);
        tier.store(&other, object(&body, now), 0);
        tier.flush().await;
        // A memory tier of `within` bytes would not have kept k while the other object's
        // file (300,000 bytes and its head) was hit in between; one of twice that would.
        let within = body.len() as u64;
        let hit = |key: &CacheKey, window: u64| {
            let tier = tier.clone();
            let key = key.clone();
            async move { tier.load(&key, now, true, window).await.expect("on disk").1 }
        };
        assert!(!hit(&k, within).await, "a first hit");
        assert!(
            !hit(&k, within).await,
            "one short reuse distance is not enough"
        );
        assert!(hit(&k, within).await, "two in a row: promoted");
        hit(&other, within).await;
        assert!(
            !hit(&k, within).await,
            "a long distance starts the count again"
        );
        assert!(!hit(&k, within).await);
        assert!(hit(&k, within).await, "two short ones again: promoted");
        hit(&other, 2 * within).await;
        assert!(
            hit(&k, 2 * within).await,
            "in a larger memory tier the distance is short"
        );
    }

    #[tokio::test]
    async fn a_fill_written_as_it_arrives_is_committed_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 64 << 20, now).unwrap();
        let template = CachedObjectTemplate {
            status: http::StatusCode::OK,
            headers: HeaderMap::new(),
            stored_at: now,
            ttl: Duration::from_secs(60),
            stale: StaleWindows::default(),
            keep: Duration::ZERO,
        };
        let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 241) as u8).collect();
        let seen = Arc::new(AtomicU64::new(0));
        let progress = {
            let seen = Arc::clone(&seen);
            Box::new(move |n| seen.store(n, Ordering::Relaxed))
        };
        let k = key("/fill");
        let mut fill = tier
            .begin_fill(&k, &template, Some(body.len() as u64), 0, progress)
            .unwrap();
        for part in body.chunks(100_000) {
            std::future::poll_fn(|cx| fill.poll_ready(cx)).await;
            assert!(fill.send(Bytes::copy_from_slice(part)));
        }
        let (reader, offset) = fill.reader();
        let Committed::Stored(committed) = fill.finish().await else {
            panic!("not committed");
        };
        assert_eq!(seen.load(Ordering::Relaxed), body.len() as u64);
        let mut first = vec![0u8; 1000];
        reader.read_exact_at(&mut first, offset).unwrap();
        assert_eq!(
            first,
            body[..1000],
            "followers read the body from its offset"
        );
        assert_eq!(committed.len(), body.len() as u64);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let (got, _) = tier.load(&k, now, false, u64::MAX).await.expect("a hit");
        assert_eq!(disk_bytes(&got).await, body);

        // Dropped before its end, or shorter than announced: nothing is stored.
        let k2 = key("/cut");
        let mut cut = tier
            .begin_fill(&k2, &template, Some(10), 0, Box::new(|_| {}))
            .unwrap();
        assert!(cut.send(Bytes::from_static(b"12345")));
        drop(cut);
        let short = tier
            .begin_fill(&k2, &template, Some(10), 0, Box::new(|_| {}))
            .unwrap();
        assert!(matches!(short.finish().await, Committed::Failed));
        tier.flush().await;
        for _ in 0..100 {
            if fs::read_dir(dir.path().join("tmp")).unwrap().count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert!(tier.load(&k2, now, false, u64::MAX).await.is_none());
        assert_eq!(tier.stats().entries, 1);
    }

    #[tokio::test]
    async fn clock_eviction_keeps_referenced_objects_and_the_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        // 4 files of about 100 KiB fit in 450 KiB.
        let tier = DiskTier::open(dir.path(), 450 << 10, now).unwrap();
        let body = vec![1u8; 100 << 10];
        let keys: Vec<CacheKey> = (0..4).map(|i| key(&format!("/o{i}"))).collect();
        for k in &keys {
            tier.store(k, object(&body, now), 0);
        }
        tier.flush().await;
        assert!(tier.load(&keys[0], now, false, u64::MAX).await.is_some());
        let extra = key("/o4");
        tier.store(&extra, object(&body, now), 0);
        tier.flush().await;
        let s = tier.stats();
        assert!(s.used_bytes <= 450 << 10, "{s:?}");
        assert_eq!(s.evictions, 1);
        assert!(
            tier.load(&keys[0], now, false, u64::MAX).await.is_some(),
            "referenced: kept"
        );
        assert!(
            tier.load(&keys[1], now, false, u64::MAX).await.is_none(),
            "oldest unreferenced: evicted"
        );
    }

    #[tokio::test]
    async fn invalidation_removes_entries_and_discards_queued_writes() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 1 << 20, now).unwrap();
        let (a, b) = (key("/img/a"), key("/doc/b"));
        let g = tier.generation("D1");
        tier.store(&a, object(b"a", now), g);
        tier.store(&b, object(b"b", now), g);
        tier.flush().await;
        assert_eq!(tier.invalidate("D1", &|p| p.starts_with("/img/"), None), 1);
        // A write accepted before an invalidation and queued until after it never lands.
        tier.store(&a, object(b"a", now), g);
        tier.flush().await;
        assert!(tier.load(&a, now, false, u64::MAX).await.is_none());
        assert!(tier.load(&b, now, false, u64::MAX).await.is_some());
        // An invalidation made while the edge was down applies to older files only.
        let later = SystemTime::now() + Duration::from_secs(1);
        assert_eq!(
            tier.invalidate("D1", &|_| true, Some(now - Duration::from_secs(60))),
            0
        );
        assert_eq!(tier.invalidate("D1", &|_| true, Some(later)), 1);
    }

    /// Descriptors of this process open on files under `dir` (deleted ones too).
    fn fds_under(dir: &Path) -> usize {
        let dir = dir.canonicalize().unwrap();
        fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t.starts_with(&dir)))
            .count()
    }

    fn large_body(seed: u32) -> Vec<u8> {
        (0..100_000u32)
            .map(|i| (i.wrapping_mul(seed | 1) % 251) as u8)
            .collect()
    }

    /// A repeated hit of a large body comes from the open cache: no re-open. Like nginx's
    /// open_file_cache, a file whose name is deleted behind the tier's back still serves the
    /// bytes it was verified with while it is kept open (the edge never deletes a name without
    /// removing the entry, which closes the file).
    #[tokio::test]
    async fn a_repeated_hit_of_a_large_body_needs_no_open() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 16 << 20, now).unwrap();
        let (k, small) = (key("/large"), key("/small"));
        let body = large_body(7);
        tier.store(&k, object(&body, now), 0);
        tier.store(&small, object(&[3u8; 1000], now), 0);
        tier.flush().await;
        assert_eq!(tier.stats().open_files, 0);
        let (got, _) = tier.load(&k, now, true, u64::MAX).await.expect("on disk");
        assert_eq!(disk_bytes(&got).await, body);
        drop(got);
        assert!(tier.load(&small, now, true, u64::MAX).await.is_some());
        assert_eq!(
            tier.stats().open_files,
            1,
            "only the large body is kept open"
        );
        assert_eq!(fds_under(dir.path()), 1);

        for f in fs::read_dir(dir.path().join("objects")).unwrap().flatten() {
            fs::remove_file(f.path()).unwrap();
        }
        for mirrors in [true, false] {
            let (got, _) = tier
                .load(&k, now, mirrors, u64::MAX)
                .await
                .expect("served from the open file");
            assert_eq!(got.mirror.is_some(), mirrors, "a sendfile token as before");
            assert_eq!(got.status, StatusCode::OK);
            assert_eq!(got.headers["content-type"], "text/plain");
            assert_eq!(got.ttl, Duration::from_secs(3600));
            assert_eq!(disk_bytes(&got).await, body, "byte-exact");
        }
        assert_eq!(tier.stats().hits, 4);
        // The small body is read on every hit: its deleted file is a miss.
        assert!(tier.load(&small, now, true, u64::MAX).await.is_none());
    }

    /// Every way an index entry goes away closes its open file, so no descriptor holds a
    /// deleted file's space.
    #[tokio::test]
    async fn removing_an_entry_closes_its_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        // Five files of about 100 KiB fit.
        let tier = DiskTier::open(dir.path(), 550 << 10, now).unwrap();
        let open = |k: CacheKey, at: SystemTime| {
            let tier = tier.clone();
            async move { tier.load(&k, at, true, u64::MAX).await.map(|_| ()) }
        };
        let (a, b, c) = (key("/img/a"), key("/doc/b"), key("/doc/c"));
        for (i, k) in [&a, &b, &c].into_iter().enumerate() {
            tier.store(k, object(&large_body(i as u32), now), 0);
        }
        tier.flush().await;
        for k in [&a, &b, &c] {
            open(k.clone(), now).await.unwrap();
        }
        assert_eq!(tier.stats().open_files, 3);
        assert_eq!(fds_under(dir.path()), 3);

        // Invalidation.
        assert_eq!(tier.invalidate("D1", &|p| p.starts_with("/img/"), None), 1);
        assert_eq!(tier.stats().open_files, 2);
        assert_eq!(fds_under(dir.path()), 2);

        // Expiry: found no longer held.
        let later = now + Duration::from_secs(7200);
        assert!(open(b.clone(), later).await.is_none());
        assert_eq!(tier.stats().open_files, 1);
        assert_eq!(fds_under(dir.path()), 1);

        // Replacement by a newer write of the same key.
        let g = tier.generation("D1");
        tier.store(&c, object(&large_body(9), now), g);
        tier.flush().await;
        assert_eq!(tier.stats().open_files, 0);
        assert_eq!(fds_under(dir.path()), 0);
        let (got, _) = tier.load(&c, now, false, u64::MAX).await.unwrap();
        assert_eq!(
            disk_bytes(&got).await,
            large_body(9),
            "the new file's bytes"
        );
        drop(got);
        assert_eq!(fds_under(dir.path()), 1);

        // Eviction by the writer: c is the oldest (its reference bit is cleared first).
        for i in 0..12 {
            let k = key(&format!("/filler/{i}"));
            tier.store(&k, object(&large_body(i), now), g);
            tier.flush().await;
        }
        assert!(tier.stats().evictions >= 7, "{:?}", tier.stats());
        assert!(
            tier.load(&c, now, false, u64::MAX).await.is_none(),
            "evicted"
        );
        assert_eq!(tier.stats().open_files, 0);
        assert_eq!(fds_under(dir.path()), 0, "no deleted file is held open");
        let files = fs::read_dir(dir.path().join("objects")).unwrap().count() as u64;
        assert_eq!(files, tier.stats().entries, "evicted files are gone");
    }

    #[tokio::test]
    async fn the_open_cache_is_bounded() {
        let bound = open::open_file_bound();
        assert!((1..=open::MAX_OPEN_FILES).contains(&bound), "{bound}");
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let tier = DiskTier::open(dir.path(), 16 << 20, now).unwrap();
        assert_eq!(lock(&tier.inner.index).open.capacity(), bound);
        lock(&tier.inner.index).open.set_capacity(3);
        let keys: Vec<CacheKey> = (0..8).map(|i| key(&format!("/o{i}"))).collect();
        for (i, k) in keys.iter().enumerate() {
            tier.store(k, object(&large_body(i as u32), now), 0);
        }
        tier.flush().await;
        for k in &keys {
            assert!(tier.load(k, now, true, u64::MAX).await.is_some());
            assert!(tier.stats().open_files <= 3, "{:?}", tier.stats());
        }
        assert_eq!(tier.stats().open_files, 3);
        assert_eq!(fds_under(dir.path()), 3, "evicted open files are closed");
        // The last three are kept; an older one is opened again and replaces one of them.
        for (i, k) in keys.iter().enumerate() {
            let (got, _) = tier.load(k, now, false, u64::MAX).await.unwrap();
            assert_eq!(disk_bytes(&got).await, large_body(i as u32));
        }
        assert_eq!(tier.stats().open_files, 3);
        assert_eq!(tier.stats().entries, 8);
    }

    /// 10,000 objects by default; `EDGEGATE_DISK_INDEX_OBJECTS=100000` for the figure in
    /// docs/performance.md (writing the files is what takes most of the test's time).
    #[test]
    fn the_index_of_many_objects_loads_in_seconds() {
        let count: u64 = std::env::var("EDGEGATE_DISK_INDEX_OBJECTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        fs::create_dir_all(&objects).unwrap();
        let now = SystemTime::now();
        let obj = object(&[5u8; 512], now);
        for i in 0..count {
            let k = key(&format!("/objects/{i}"));
            let head = format::encode_head(&format::Head {
                key: k.as_bytes().to_vec(),
                dist_id: "D1".into(),
                path_and_query: k.path_and_query().into(),
                status: obj.status,
                stored_at: now,
                written_at: now,
                ttl: obj.ttl,
                origin_age: Duration::ZERO,
                while_revalidate: Duration::ZERO,
                if_error: None,
                keep: Duration::ZERO,
                body_len: obj.body.len(),
                headers: obj.headers.clone(),
            });
            let mut bytes = head;
            let body = obj.body.in_memory().unwrap();
            bytes.extend_from_slice(body);
            bytes.extend_from_slice(&format::trailer(format::crc(body), 512));
            fs::write(objects.join(file_name(i + 1)), bytes).unwrap();
        }
        let started = Instant::now();
        let tier = DiskTier::open(dir.path(), 1 << 30, now).unwrap();
        let took = started.elapsed();
        assert_eq!(tier.stats().entries, count);
        eprintln!("index of {count} objects loaded in {took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}
