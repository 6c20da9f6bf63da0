//! The disk tier's cache of opened objects (nginx's `open_file_cache`): for a body above
//! [`INLINE_BODY`](super::INLINE_BODY), the open cache file and its parsed head, keyed by the
//! file's id, so that a repeated disk hit builds its object on the calling thread with no file
//! I/O and no hop to a blocking thread.
//!
//! - **What is kept.** An `OpenObject` holds the open file, the head's fields a
//!   [`CachedObject`] needs (status, headers, times, TTL, stale windows, keep) and where the
//!   body lies in the file. A hit duplicates the descriptor (`dup`, which never waits on the
//!   disk) for the body and, when mirrors are on, for the `sendfile` token, exactly as the
//!   first open did.
//! - **Bounded.** At most [`open_file_bound`] entries (1,024, or an eighth of the open-file
//!   limit when that is lower); beyond it, CLOCK evicts (a hit sets an entry's reference bit;
//!   the oldest entry without one goes, the others lose their bit and go to the back of the
//!   queue).
//! - **Never outlives its file.** The open cache lives in the disk index, under the index's
//!   mutex (one lock per hit, as before), and every removal of an index entry (eviction,
//!   invalidation, replacement, expiry, damage) removes the id's open file with it, closing
//!   it before the writer thread unlinks the file, so a cached descriptor never holds the
//!   space of a deleted file. An entry is added only while its index entry is present and
//!   verified. The file's name can go away behind the tier's back (deleted by hand): the open
//!   file still serves the bytes it was verified with until the entry is evicted, as nginx's
//!   open file cache does.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use super::stream::DiskBody;
use crate::cache::store::{CachedObject, StoredBody};
use crate::cache::ttl::StaleWindows;
use crate::sendfile::Mirror;

/// The most open files the cache keeps, whatever the open-file limit.
pub const MAX_OPEN_FILES: usize = 1024;

/// How many files the open cache may keep: [`MAX_OPEN_FILES`], or an eighth of the soft
/// open-file limit when that is lower (viewer connections take half of what is left after a
/// reserve, `sendfile` mirrors up to half; see `crate::sendfile::raise_open_file_limit`).
pub fn open_file_bound() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(soft / 8)
        .unwrap_or(usize::MAX)
        .min(MAX_OPEN_FILES)
}

/// An opened disk object minus its per-hit parts (see the module docs).
#[derive(Debug)]
pub(super) struct OpenObject {
    file: File,
    body_offset: u64,
    body_len: u64,
    status: StatusCode,
    headers: HeaderMap,
    stored_at: SystemTime,
    ttl: Duration,
    origin_age: Duration,
    stale: StaleWindows,
    keep: Duration,
}

impl OpenObject {
    /// The opened object of `file`, whose checked `head` says its body is `head.body_len`
    /// bytes from `body_offset`.
    pub(super) fn new(file: File, body_offset: u64, head: super::format::Head) -> OpenObject {
        OpenObject {
            file,
            body_offset,
            body_len: head.body_len,
            status: head.status,
            stored_at: head.stored_at,
            ttl: head.ttl,
            origin_age: head.origin_age,
            stale: StaleWindows {
                while_revalidate: head.while_revalidate,
                if_error: head.if_error,
            },
            keep: head.keep,
            headers: head.headers,
        }
    }

    /// A cached object served from the file ([`StoredBody::Disk`]), with a `sendfile` token as
    /// its mirror when `mirrors` is on. No file I/O: the descriptor is duplicated.
    pub(super) fn object(&self, mirrors: bool) -> io::Result<CachedObject> {
        let disk = DiskBody::new(self.file.try_clone()?, self.body_offset, self.body_len);
        let token = if mirrors {
            let (file, offset) = disk.file()?;
            Mirror::token(file.into(), offset, self.body_len)
        } else {
            None
        };
        Ok(CachedObject {
            status: self.status,
            headers: self.headers.clone(),
            body: StoredBody::Disk(Arc::new(disk)),
            mirror: token,
            stored_at: self.stored_at,
            ttl: self.ttl,
            origin_age: self.origin_age,
            stale: self.stale,
            keep: self.keep,
            error_cached_until: AtomicU64::new(0),
            annex: OnceLock::new(),
        })
    }
}

/// The bounded map of file id → [`OpenObject`] with CLOCK eviction. Not locked itself: it
/// lives in the disk index, under its mutex.
#[derive(Debug, Default)]
pub(super) struct OpenFiles {
    /// The open objects with their reference bits.
    map: HashMap<u64, (Arc<OpenObject>, bool)>,
    /// The CLOCK queue of ids; ids no longer in `map` are skipped (and compacted away).
    clock: VecDeque<u64>,
    /// The most entries kept (0: none).
    capacity: usize,
}

impl OpenFiles {
    /// Sets how many entries are kept, evicting down to it.
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.map.len() > capacity {
            self.evict_one();
        }
    }

    /// How many entries are kept at most.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many open files are kept.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The open object of file `id`, its reference bit set.
    pub(super) fn get(&mut self, id: u64) -> Option<Arc<OpenObject>> {
        let (obj, referenced) = self.map.get_mut(&id)?;
        *referenced = true;
        Some(Arc::clone(obj))
    }

    /// Keeps `obj` as the open object of file `id` (evicting another when full).
    pub(super) fn insert(&mut self, id: u64, obj: Arc<OpenObject>) {
        if self.capacity == 0 {
            return;
        }
        if self.map.insert(id, (obj, false)).is_none() {
            self.clock.push_back(id);
        }
        while self.map.len() > self.capacity {
            self.evict_one();
        }
    }

    /// Forgets (and so closes, unless a hit in progress still holds it) file `id`.
    pub(super) fn remove(&mut self, id: u64) {
        if self.map.remove(&id).is_none() {
            return;
        }
        // Removed ids stay in the queue until popped; keep it within twice the entries.
        if self.clock.len() > 2 * self.map.len() + 16 {
            let map = &self.map;
            self.clock.retain(|id| map.contains_key(id));
        }
    }

    /// CLOCK: drops the oldest entry without its reference bit.
    fn evict_one(&mut self) {
        while let Some(id) = self.clock.pop_front() {
            let Some((_, referenced)) = self.map.get_mut(&id) else {
                continue;
            };
            if *referenced {
                *referenced = false;
                self.clock.push_back(id);
                continue;
            }
            self.map.remove(&id);
            return;
        }
    }
}
