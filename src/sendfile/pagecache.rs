//! Whether a file's bytes are in the page cache, and bringing them there off the event loop.
//!
//! `sendfile` from a file reads any page that has left the page cache from the disk inside the
//! system call, on the calling thread: for a viewer connection that is an event loop, stalled
//! for every connection it serves. So before a connection sends from a disk cache file it asks
//! [`resident`] whether the bytes are all in the page cache. When they are not, it has them
//! read on a blocking thread first ([`warm`]), or, when the same bytes are in memory anyway (a
//! promoted object), writes those instead.
//!
//! [`resident`] is `cachestat(2)` (Linux 6.5): one system call that counts the cached pages of
//! a range without reading or mapping anything. No safe wrapper exists (rustix lists it as not
//! implemented), so this module holds edgegate's only `unsafe` block, the system call itself.
//! Where the kernel lacks it, every send from a cache file is treated as cold (read on a
//! blocking thread first, or written from memory), with one warning, so a read still never
//! blocks an event loop.
//!
//! [`warm`] moves the bytes into the page cache with `sendfile` to `/dev/null`: the kernel
//! reads the pages (from the disk when it must) and discards them without copying them to user
//! space. Should that fail, they are read into a buffer instead.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// `cachestat`'s system call number: new system calls share one number on every architecture
/// Linux has added them to since 5.1 (the libc crate does not define it for every target yet).
const SYS_CACHESTAT: libc::c_long = 451;

/// `struct cachestat_range` of `<linux/mman.h>`.
#[repr(C)]
struct Range {
    off: u64,
    len: u64,
}

/// `struct cachestat` of `<linux/mman.h>`.
#[repr(C)]
#[derive(Default)]
struct Stat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Set once `cachestat` turned out to be missing (or refused): every range is then cold.
static MISSING: AtomicBool = AtomicBool::new(false);

fn cachestat(fd: BorrowedFd<'_>, off: u64, len: u64) -> io::Result<Stat> {
    let range = Range { off, len };
    let mut stat = Stat::default();
    // SAFETY: `fd` is a descriptor borrowed for the duration of the call; the kernel reads
    // `range` and writes `stat`, both live, properly aligned `repr(C)` values of the layouts
    // `cachestat(2)` defines; the flags argument must be 0. Nothing else is touched.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut Stat,
            0 as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(stat)
    }
}

/// Whether all of the `len` bytes of `fd` from `off` are in the page cache, so that a
/// `sendfile` of them reads nothing from the disk. `false` when unsure (no `cachestat`).
pub fn resident(fd: BorrowedFd<'_>, off: u64, len: u64) -> bool {
    if len == 0 {
        return true;
    }
    if MISSING.load(Ordering::Relaxed) {
        return false;
    }
    match cachestat(fd, off, len) {
        Ok(stat) => {
            let page = rustix::param::page_size() as u64;
            let pages = off.saturating_add(len).div_ceil(page) - off / page;
            stat.nr_cache >= pages
        }
        Err(error) => {
            if !MISSING.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    %error,
                    "cachestat(2) is unavailable (it needs Linux 6.5): every send from a disk \
                     cache file is read on a blocking thread first, or written from memory"
                );
            }
            false
        }
    }
}

/// Reads the `len` bytes of `file` from `off` into the page cache (blocking: call it on a
/// blocking thread). Stops early at the end of the file.
pub fn warm(file: &File, off: u64, len: u64) -> io::Result<()> {
    static NULL: OnceLock<Option<File>> = OnceLock::new();
    let null = NULL.get_or_init(|| {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()
    });
    let end = off.saturating_add(len);
    let mut at = off;
    if let Some(null) = null {
        while at < end {
            let want = usize::try_from(end - at).unwrap_or(usize::MAX);
            match rustix::fs::sendfile(null.as_fd(), file.as_fd(), Some(&mut at), want) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => break,
            }
        }
        if at >= end {
            return Ok(());
        }
    }
    let mut buf = vec![0u8; 256 * 1024];
    while at < end {
        let n = usize::try_from(end - at)
            .unwrap_or(buf.len())
            .min(buf.len());
        match rustix::io::pread(file, &mut buf[..n], at) {
            Ok(0) => return Ok(()),
            Ok(read) => at += read as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A file holding `bytes` on the disk (in the repository: not tmpfs, whose pages never leave
/// memory), written back and dropped from the page cache, in a directory removed on drop.
#[cfg(test)]
pub(crate) fn cold_file(bytes: &[u8]) -> (tempfile::TempDir, File) {
    use std::io::Write;
    let dir = tempfile::Builder::new()
        .prefix(".pagecache-test-")
        .tempdir_in(env!("CARGO_MANIFEST_DIR"))
        .unwrap();
    let path = dir.path().join("f");
    let mut f = File::create(&path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let f = File::open(&path).unwrap();
    drop_pages(&f);
    (dir, f)
}

/// Drops `f`'s (clean) pages from the page cache.
#[cfg(test)]
pub(crate) fn drop_pages(f: &File) {
    rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_file_is_cold_until_warmed_and_then_resident() {
        let (_dir, f) = cold_file(&vec![7u8; 1 << 20]);
        assert!(
            !resident(f.as_fd(), 0, 1 << 20),
            "dropped from the page cache (this needs a disk file system under the repository)"
        );
        warm(&f, 4096, 64 * 1024).unwrap();
        assert!(resident(f.as_fd(), 4096, 64 * 1024), "the warmed range");
        assert!(!resident(f.as_fd(), 0, 1 << 20), "not the rest");
        warm(&f, 0, 1 << 20).unwrap();
        assert!(resident(f.as_fd(), 0, 1 << 20));
        assert!(resident(f.as_fd(), 12_345, 1), "a part of a page");
        assert!(resident(f.as_fd(), 0, 0), "nothing");
    }
}
