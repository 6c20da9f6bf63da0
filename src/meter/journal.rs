//! The journal: every request's record ([`Line`]) in an hourly, append-only file under
//! `{data-dir}/meter/journal/`, named `YYYY-MM-DD-HH.rec2` after the hour the request finished.
//! (Journals of other formats, `.rec` and `.log` from earlier builds, are left alone and not
//! read.)
//!
//! The data plane never waits for the disk: [`Meter::submit`] copies the packed record
//! ([`packed::Packer`]) into one of a few lock-sharded buffers (no wake-up per record), and one
//! writer thread drains them and appends each buffer to the hour's file as one frame: a
//! little-endian `u32` length, then that many bytes of packed records. Nothing is escaped or
//! formatted on the way in; the text of a record (the journal line of [`w3c::journal_line`]) is
//! made only when something reads the journal: log delivery (at a lower CPU priority), reports
//! and [`text_lines`]. The writer writes whatever it holds at least every [`WRITE_INTERVAL`] (so
//! a record is in the kernel's page cache, which survives SIGKILL, well within a second of its
//! response finishing). A second thread calls `fdatasync` at least every [`SYNC_INTERVAL`] and
//! on shutdown, so a slow disk delays only the flush to the device: the writer keeps draining the
//! buffers meanwhile, and they stay the size of one write interval's records however long a flush
//! takes. Counting is exact: every record is written once and nothing is sampled.
//!
//! A crash can leave the last frame of a file half-written. [`repair`] runs before the writer
//! opens the directory and cuts every file back to its last whole frame, so a torn record never
//! reaches a report; readers ([`read_records`]) stop at a frame that is not whole yet (one being
//! written) and at one that does not unpack.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use super::record::{Departure, Line};
use super::{packed, w3c};

/// Longest a finished record waits in memory before it is written.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest written records wait for `fsync`.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Capacity each shard's spare buffer keeps between writes; a burst's larger buffer is let go.
const SPARE_CAPACITY: usize = 1 << 20;
/// Largest frame the writer writes (a larger batch is split at record boundaries) and readers
/// accept.
const MAX_FRAME: usize = 64 << 20;
/// A journal file's extension.
const EXTENSION: &str = ".rec2";

/// The hand-over between request threads and the writer.
#[derive(Debug)]
struct Queue {
    /// A request thread pushes into its own shard ([`super::thread_shard`]), so the writer
    /// never has to be woken per record.
    shards: [super::CacheAligned<Mutex<Lines>>; super::SHARDS],
    /// Sync requests: the writer answers each after writing and fsyncing.
    syncs: Mutex<Vec<mpsc::SyncSender<()>>>,
    wake: Condvar,
    stopped: AtomicBool,
}

/// Records packed by request threads ([`packed`]), waiting for the writer.
#[derive(Debug, Default)]
struct Lines {
    /// The hour `packed` belongs to.
    hour: i64,
    /// Empty, or [`FRAME_HEAD`] bytes that the writer fills in with the frame's length,
    /// followed by records: a batch is written to the file as it is, without a copy.
    packed: Vec<u8>,
    /// Records of earlier hours (a shard that saw the hour change before the writer came by).
    earlier: Vec<(i64, Vec<u8>)>,
}

/// The meter's front door: cheap to clone, never blocks the caller for more than a push.
#[derive(Clone)]
pub struct Meter {
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    dir: Arc<PathBuf>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").field("dir", &self.dir).finish()
    }
}

/// The journal directory under a data directory.
pub fn journal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("meter").join("journal")
}

/// The journal file for the hour starting at `hour_start` (Unix seconds).
pub fn file_name(hour_start: i64) -> String {
    let mut name = String::with_capacity(17);
    w3c::push_hour_stamp(hour_start, &mut name);
    name.push_str(EXTENSION);
    name
}

/// The hour (Unix seconds) a journal file name stands for.
pub fn parse_file_name(name: &str) -> Option<i64> {
    w3c::parse_hour_stamp(name.strip_suffix(EXTENSION)?)
}

/// Journal files in `dir`, oldest first, with the hour each covers.
pub fn files(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(hour) = name.to_str().and_then(parse_file_name) {
            out.push((hour, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Cuts every journal file back to its last whole frame of records (a crash can tear the last
/// one). Returns how many bytes were cut.
pub fn repair(dir: &Path) -> io::Result<u64> {
    let mut cut = 0;
    for (_, path) in files(dir)? {
        let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = f.metadata()?.len();
        let scan = read_records(
            &mut io::BufReader::with_capacity(1 << 20, &mut f),
            u64::MAX,
            |_| Ok(()),
        )?;
        if scan.consumed < len {
            f.set_len(scan.consumed)?;
            f.sync_all()?;
            cut += len - scan.consumed;
            tracing::warn!(file = %path.display(), bytes = len - scan.consumed, "cut a torn record from the journal");
        }
    }
    Ok(cut)
}

/// What [`read_records`] got through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Bytes of whole, readable frames: where the next read starts.
    pub consumed: u64,
    /// Reading stopped at a frame that is whole but does not unpack (only a crash that
    /// [`repair`] has not yet seen leaves one).
    pub unreadable: bool,
}

/// Reads the frames of a journal file from `r` (positioned at a frame boundary) and calls
/// `each` with every record of every whole frame, in order, until the end of the input, a
/// frame not yet whole (still being written, or torn), or an unreadable one. Stops after the
/// frame that takes it to `limit` bytes or past. Every frame is checked whole before any of
/// its records is handed out, so a torn frame is never half-counted.
pub fn read_records(
    r: &mut impl Read,
    limit: u64,
    mut each: impl FnMut(&Line<'_>) -> io::Result<()>,
) -> io::Result<Scan> {
    let mut scan = Scan {
        consumed: 0,
        unreadable: false,
    };
    let mut frame = Vec::new();
    while scan.consumed < limit {
        let mut head = [0u8; 4];
        if !read_whole(r, &mut head)? {
            break;
        }
        let len = u32::from_le_bytes(head) as usize;
        if len == 0 || len > MAX_FRAME {
            scan.unreadable = true;
            break;
        }
        frame.resize(len, 0);
        if !read_whole(r, &mut frame)? {
            break;
        }
        // Checked whole first, then read again record by record: holding the unpacked
        // records of a frame would take more memory than the frame itself.
        let mut rest = &frame[..];
        while let Some((_, after)) = packed::unpack(rest) {
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
        if !rest.is_empty() {
            scan.unreadable = true;
            break;
        }
        let mut rest = &frame[..];
        while let Some((line, after)) = packed::unpack(rest) {
            each(&line)?;
            rest = after;
        }
        scan.consumed += 4 + len as u64;
    }
    Ok(scan)
}

/// Fills `buf` from `r`; false if the input ended first.
fn read_whole(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Writes every record of the journal under `data_dir` to `out` as its journal line
/// ([`w3c::journal_line`]), oldest file first; returns how many. A frame still being written is
/// left out.
pub fn write_text(data_dir: &Path, out: &mut impl Write) -> io::Result<u64> {
    let mut n = 0;
    let mut text = Vec::with_capacity(1024);
    for (_, path) in files(&journal_dir(data_dir))? {
        let mut f = io::BufReader::with_capacity(1 << 20, File::open(&path)?);
        read_records(&mut f, u64::MAX, |line| {
            text.clear();
            w3c::journal_line(line, &mut text);
            n += 1;
            out.write_all(&text)
        })?;
    }
    Ok(n)
}

/// The journal under `data_dir` as journal lines (without their `\n`); see [`write_text`].
pub fn text_lines(data_dir: &Path) -> io::Result<Vec<String>> {
    let mut text = Vec::new();
    write_text(data_dir, &mut text)?;
    // Journal lines are escaped, hence ASCII.
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .map(str::to_owned)
        .collect())
}

impl Meter {
    /// Repairs the journal under `data_dir` and starts the writer and flusher threads.
    pub fn start(data_dir: &Path, metrics: Arc<Metrics>) -> io::Result<Meter> {
        let dir = journal_dir(data_dir);
        fs::create_dir_all(&dir)?;
        repair(&dir)?;
        let queue = Arc::new(Queue {
            shards: std::array::from_fn(|_| super::CacheAligned(Mutex::new(Lines::default()))),
            syncs: Mutex::new(Vec::new()),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let (flush_tx, flush_rx) = mpsc::channel();
        let flushing = std::thread::Builder::new()
            .name("edgegate-fsync".into())
            .spawn(move || flusher(flush_rx))?;
        let writer_dir = dir.clone();
        let writer_queue = queue.clone();
        std::thread::Builder::new()
            .name("edgegate-meter".into())
            .spawn(move || writer(writer_dir, writer_queue, flush_tx, flushing))?;
        Ok(Meter {
            queue,
            metrics,
            dir: Arc::new(dir),
        })
    }

    /// Hands a finished request to the writer: what `record` packed so far, then `departure`.
    /// Never blocks.
    ///
    /// The request's thread only copies the record's bytes; the writer appends them to the
    /// journal as they are, and readers format them.
    pub fn submit(&self, record: &packed::Packer, departure: &Departure<'_>) {
        self.metrics.observe(departure);
        let hour = departure.end_ms.div_euclid(3_600_000) * 3_600;
        let shard = super::thread_shard();
        let mut lines = lock(&self.queue.shards[shard]);
        if lines.hour != hour && !lines.packed.is_empty() {
            let done = std::mem::take(&mut lines.packed);
            let done_hour = lines.hour;
            lines.earlier.push((done_hour, done));
        }
        lines.hour = hour;
        if lines.packed.is_empty() {
            lines.packed.extend_from_slice(&[0; FRAME_HEAD]);
        }
        record.finish_into(departure, &mut lines.packed);
    }

    /// Waits until everything submitted before this call is written, fsynced and counted in
    /// the metrics. Blocks; call from a blocking context.
    pub fn sync(&self) {
        if self.queue.stopped.load(Ordering::Acquire) {
            return;
        }
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        lock(&self.queue.syncs).push(ack_tx);
        self.queue.wake.notify_one();
        let _ = ack_rx.recv_timeout(Duration::from_secs(30));
    }

    /// [`Meter::sync`] from async code.
    pub async fn sync_async(&self) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.sync()).await;
    }

    /// The live metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes and fsyncs everything received so far (used on shutdown).
    pub fn close(&self) {
        self.sync();
    }
}

/// Open journal files by hour, each with the frames a failed write left behind.
struct Files {
    dir: PathBuf,
    open: BTreeMap<i64, (File, Vec<u8>)>,
    dirty: bool,
}

impl Files {
    /// Appends `text` (whole frames) to the hour's file, straight from the caller's buffer. If
    /// the write fails, the frames are kept and retried by the next [`Files::write`].
    fn append(&mut self, hour: i64, text: &[u8]) -> io::Result<()> {
        if !self.open.contains_key(&hour) {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(file_name(hour)))?;
            self.open.insert(hour, (f, Vec::new()));
            // Keep at most the two most recent hours open.
            while self.open.len() > 2 {
                let Some((&oldest, _)) = self.open.iter().next() else {
                    break;
                };
                if let Some((mut f, backlog)) = self.open.remove(&oldest) {
                    f.write_all(&backlog)?;
                    f.sync_data()?;
                }
            }
        }
        let Some((f, backlog)) = self.open.get_mut(&hour) else {
            return Ok(());
        };
        self.dirty = true;
        if backlog.is_empty() {
            if let Err(e) = f.write_all(text) {
                backlog.extend_from_slice(text);
                return Err(e);
            }
        } else {
            backlog.extend_from_slice(text);
        }
        Ok(())
    }

    /// Retries the frames earlier writes failed on.
    fn write(&mut self) -> io::Result<()> {
        for (f, backlog) in self.open.values_mut() {
            if !backlog.is_empty() {
                f.write_all(backlog)?;
                backlog.clear();
                self.dirty = true;
            }
        }
        Ok(())
    }

    /// Retries failed writes and hands the files written since the last flush (as duplicated
    /// handles) to the flusher, with the sync requests to answer once they are on the device.
    fn flush_in_background(
        &mut self,
        flusher: &mpsc::Sender<Flush>,
        acks: Vec<mpsc::SyncSender<()>>,
    ) -> io::Result<()> {
        let written = self.write();
        let mut files = Vec::new();
        if self.dirty {
            for (f, _) in self.open.values() {
                files.push(f.try_clone()?);
            }
            self.dirty = false;
        }
        if !files.is_empty() || !acks.is_empty() {
            // The flusher only stops once the writer has; a send cannot fail before then.
            let _ = flusher.send(Flush { files, acks });
        }
        written
    }
}

/// Files to flush to the device, and who waits for it.
struct Flush {
    files: Vec<File>,
    acks: Vec<mpsc::SyncSender<()>>,
}

/// The flusher thread: `fdatasync` for what the writer hands over, then the acknowledgements.
/// Requests that queued up while a flush ran are served by one pass.
fn flusher(jobs: mpsc::Receiver<Flush>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        for job in &batch {
            for f in &job.files {
                if let Err(e) = f.sync_data() {
                    tracing::error!(error = %e, "cannot flush the usage journal to disk");
                }
            }
        }
        for ack in batch.into_iter().flat_map(|job| job.acks) {
            let _ = ack.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn writer(
    dir: PathBuf,
    queue: Arc<Queue>,
    flush_tx: mpsc::Sender<Flush>,
    flushing: std::thread::JoinHandle<()>,
) {
    let mut files = Files {
        dir,
        open: BTreeMap::new(),
        dirty: false,
    };
    let mut last_sync = Instant::now();
    let report = |r: io::Result<()>| {
        if let Err(e) = r {
            tracing::error!(error = %e, "cannot write the usage journal");
        }
    };
    // One spare buffer per shard, swapped with the shard's on each write: a shard's next batch
    // goes into the capacity its last batch grew, instead of growing a new buffer (a
    // reallocation and a copy of everything so far at each doubling) every write interval.
    let mut spares: [Vec<u8>; super::SHARDS] = std::array::from_fn(|_| Vec::new());
    let mut framed = Vec::new();
    let mut append = |files: &mut Files, hour: i64, batch: &mut [u8]| {
        report(write_batch(files, hour, batch, &mut framed, MAX_FRAME));
        framed.shrink_to(SPARE_CAPACITY);
    };
    loop {
        // Sleep until the next write is due, or a sync is asked for.
        let syncs: Vec<mpsc::SyncSender<()>> = {
            let mut pending = lock(&queue.syncs);
            if pending.is_empty() {
                pending = queue
                    .wake
                    .wait_timeout(pending, WRITE_INTERVAL)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            std::mem::take(&mut *pending)
        };
        // Checked before draining: once no Meter is left, nothing can be submitted after the
        // drain below.
        let stopping = Arc::strong_count(&queue) == 1;
        for (shard, spare) in queue.shards.iter().zip(&mut spares) {
            let (hour, earlier) = {
                let mut lines = lock(shard);
                std::mem::swap(&mut lines.packed, spare);
                (lines.hour, std::mem::take(&mut lines.earlier))
            };
            for (h, mut batch) in earlier {
                append(&mut files, h, &mut batch);
            }
            if !spare.is_empty() {
                append(&mut files, hour, spare);
                spare.clear();
                spare.shrink_to(SPARE_CAPACITY);
            }
        }
        if stopping || !syncs.is_empty() || last_sync.elapsed() >= SYNC_INTERVAL {
            report(files.flush_in_background(&flush_tx, syncs));
            last_sync = Instant::now();
        } else {
            report(files.write());
        }
        if stopping {
            // Every Meter is gone and everything submitted was drained above: wait for the
            // flusher to put it all on the device.
            queue.stopped.store(true, Ordering::Release);
            drop(flush_tx);
            let _ = flushing.join();
            return;
        }
    }
}

/// Bytes of a frame's length.
const FRAME_HEAD: usize = 4;

/// Appends a shard's batch ([`FRAME_HEAD`] bytes, then whole packed records) to the hour's file
/// as one frame, its length written into the head in place; a batch of more than `max` bytes
/// of records is copied into `framed` as several frames instead ([`frame_at_most`]).
fn write_batch(
    files: &mut Files,
    hour: i64,
    batch: &mut [u8],
    framed: &mut Vec<u8>,
    max: usize,
) -> io::Result<()> {
    let Some((head, records)) = batch.split_at_mut_checked(FRAME_HEAD) else {
        return Ok(());
    };
    if records.is_empty() {
        return Ok(());
    }
    match u32::try_from(records.len()) {
        Ok(len) if records.len() <= max => {
            head.copy_from_slice(&len.to_le_bytes());
            files.append(hour, batch)
        }
        _ => {
            framed.clear();
            frame_at_most(max, records, framed);
            files.append(hour, framed)
        }
    }
}

/// Appends `batch` (whole packed records) to `out` as journal frames: one, unless it is larger
/// than [`MAX_FRAME`], when it is split between records.
#[cfg(test)]
fn frame(batch: &[u8], out: &mut Vec<u8>) {
    frame_at_most(MAX_FRAME, batch, out);
}

fn frame_at_most(max: usize, mut batch: &[u8], out: &mut Vec<u8>) {
    while !batch.is_empty() {
        let mut len = batch.len();
        if len > max {
            len = 0;
            let mut rest = batch;
            while let Some((_, after)) = packed::unpack(rest) {
                let next = batch.len() - after.len();
                if next > max && len > 0 {
                    break;
                }
                len = next;
                rest = after;
            }
            if len == 0 {
                // Only this process packs these buffers; a record that does not unpack is a
                // bug, and the rest of the batch cannot be framed.
                tracing::error!(
                    bytes = batch.len(),
                    "dropped an unreadable batch of journal records"
                );
                return;
            }
        }
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&batch[..len]);
        batch = &batch[len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let hour = 1_795_550_400; // 2026-11-24T20:00:00Z
        assert_eq!(file_name(hour), "2026-11-24-20.rec2");
        assert_eq!(parse_file_name(&file_name(hour)), Some(hour));
        assert_eq!(parse_file_name("2026-11-24-24.rec2"), None);
        // Journals in the formats of earlier builds are not read.
        assert_eq!(parse_file_name("2026-11-24-20.rec"), None);
        assert_eq!(parse_file_name("2026-11-24-20.log"), None);
    }

    use crate::meter::w3c::tests::{bare_line, full_line};

    fn batch(n: usize) -> Vec<u8> {
        let (full, bare) = (full_line(), bare_line());
        let mut buf = Vec::new();
        for i in 0..n {
            let r = if i % 2 == 0 { &full } else { &bare };
            packed::pack(r, &mut buf);
        }
        buf
    }

    fn read_all(mut bytes: &[u8]) -> (Scan, Vec<String>) {
        let mut lines = Vec::new();
        let scan = read_records(&mut bytes, u64::MAX, |l| {
            let mut t = Vec::new();
            w3c::journal_line(l, &mut t);
            lines.push(String::from_utf8(t).unwrap());
            Ok(())
        })
        .unwrap();
        (scan, lines)
    }

    fn expected(n: usize) -> Vec<String> {
        let (full, bare) = (full_line(), bare_line());
        (0..n)
            .map(|i| {
                let mut t = Vec::new();
                w3c::journal_line(if i % 2 == 0 { &full } else { &bare }, &mut t);
                String::from_utf8(t).unwrap()
            })
            .collect()
    }

    #[test]
    fn frames_read_back_record_for_record() {
        let mut file = Vec::new();
        frame(&batch(3), &mut file);
        frame(&batch(2), &mut file);
        let (scan, lines) = read_all(&file);
        assert_eq!(
            scan,
            Scan {
                consumed: file.len() as u64,
                unreadable: false
            }
        );
        let mut want = expected(3);
        want.extend(expected(2));
        assert_eq!(lines, want);
    }

    #[test]
    fn a_frame_cut_anywhere_is_left_whole_or_not_at_all() {
        let mut file = Vec::new();
        frame(&batch(2), &mut file);
        let first = file.len();
        frame(&batch(3), &mut file);
        for cut in 0..file.len() {
            let (scan, lines) = read_all(&file[..cut]);
            assert!(!scan.unreadable, "cut at {cut}");
            if cut < first {
                assert_eq!((scan.consumed, lines.len()), (0, 0), "cut at {cut}");
            } else {
                assert_eq!(scan.consumed, first as u64, "cut at {cut}");
                assert_eq!(lines, expected(2), "cut at {cut}");
            }
        }
    }

    #[test]
    fn garbage_and_empty_frames_stop_the_reader() {
        let mut good = Vec::new();
        frame(&batch(1), &mut good);
        for bad in [
            &[3, 0, 0, 0, 1, 2, 3][..],
            &[0, 0, 0, 0][..],
            &[255, 255, 255, 255][..],
        ] {
            let mut file = good.clone();
            file.extend_from_slice(bad);
            file.extend_from_slice(&good);
            let (scan, lines) = read_all(&file);
            assert!(scan.unreadable, "{bad:?}");
            assert_eq!(scan.consumed, good.len() as u64, "{bad:?}");
            assert_eq!(lines.len(), 1, "{bad:?}");
        }
    }

    #[test]
    fn the_limit_stops_after_the_frame_that_reaches_it() {
        let mut file = Vec::new();
        frame(&batch(2), &mut file);
        let first = file.len() as u64;
        frame(&batch(2), &mut file);
        let mut n = 0;
        let scan = read_records(&mut &file[..], 1, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((scan.consumed, n), (first, 2));
    }

    #[test]
    fn a_large_batch_is_split_between_records() {
        let b = batch(5);
        let one = {
            let mut one = Vec::new();
            packed::pack(&full_line(), &mut one);
            one.len()
        };
        let mut file = Vec::new();
        frame_at_most(one * 2, &b, &mut file);
        // Five records, at most two (full ones are the larger) per frame: three frames.
        let mut frames = 0;
        let mut rest = &file[..];
        while let Some((head, after)) = rest.split_first_chunk::<4>() {
            let len = u32::from_le_bytes(*head) as usize;
            assert!(len <= one * 2);
            rest = &after[len..];
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(read_all(&file).1, expected(5));
    }

    #[test]
    fn a_shard_batch_is_written_as_one_frame_in_place_or_split_when_large() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 1_795_550_400;
        let mut files = Files {
            dir: dir.path().to_path_buf(),
            open: BTreeMap::new(),
            dirty: false,
        };
        let mut framed = Vec::new();
        let shard_batch = |n| {
            let mut b = vec![0; FRAME_HEAD];
            b.extend_from_slice(&batch(n));
            b
        };
        // In place: the head gets the length, the batch is the frame.
        let mut b = shard_batch(3);
        write_batch(&mut files, hour, &mut b, &mut framed, MAX_FRAME).unwrap();
        assert!(framed.is_empty(), "a batch within the limit is not copied");
        let mut one = Vec::new();
        frame(&batch(3), &mut one);
        assert_eq!(b, one);
        // Over the limit: split between records through `framed`.
        let mut b = shard_batch(5);
        write_batch(&mut files, hour, &mut b, &mut framed, 1).unwrap();
        assert!(!framed.is_empty());
        // Nothing to write: neither a bare head nor an empty buffer makes a frame.
        write_batch(
            &mut files,
            hour,
            &mut [0; FRAME_HEAD],
            &mut framed,
            MAX_FRAME,
        )
        .unwrap();
        write_batch(&mut files, hour, &mut [], &mut framed, MAX_FRAME).unwrap();
        drop(files);
        let file = std::fs::read(dir.path().join(file_name(hour))).unwrap();
        let mut want = expected(3);
        want.extend(expected(5));
        let (scan, lines) = read_all(&file);
        assert_eq!(lines, want);
        assert_eq!(scan.consumed, file.len() as u64);
    }

    #[test]
    fn repair_cuts_each_file_back_to_its_last_whole_frame() {
        let dir = tempfile::tempdir().unwrap();
        let mut whole = Vec::new();
        frame(&batch(2), &mut whole);
        frame(&batch(1), &mut whole);
        let mut torn = whole.clone();
        let mut next = Vec::new();
        frame(&batch(3), &mut next);
        torn.extend_from_slice(&next[..next.len() - 1]);
        let hour = 1_795_550_400;
        std::fs::write(dir.path().join(file_name(hour)), &torn).unwrap();
        std::fs::write(dir.path().join(file_name(hour + 3600)), &whole).unwrap();
        assert_eq!(repair(dir.path()).unwrap(), (next.len() - 1) as u64);
        for h in [hour, hour + 3600] {
            assert_eq!(std::fs::read(dir.path().join(file_name(h))).unwrap(), whole);
        }
        assert_eq!(repair(dir.path()).unwrap(), 0);
    }
}
