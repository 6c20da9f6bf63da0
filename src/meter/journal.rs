//! The journal: every request's record ([`Line`]) in an hourly, append-only file under
//! `{data-dir}/meter/journal/`, named `YYYY-MM-DD-HH.rec3` after the hour the request finished.
//! `.rec2` files, written by earlier builds in the format before ([`packed::Format`]), are read
//! as well, so an upgraded edge still delivers and counts what it served before; journals of
//! older formats (`.rec` and `.log`) are left alone and not read.
//!
//! The data plane never waits for the disk, nor does more for a record than it must while the
//! request's values are at hand: [`Meter::submit`] pushes the finished request ([`Finished`]: its
//! arrival's texts already copied into a [`packed::Packer`], the rest as plain values and the
//! instant it ended) onto its thread's lock shard, a pointer per record and no wake-up. Once 64
//! records wait there, the same thread completes them one after the other: builds each one's
//! departure, counts it in the [`Metrics`] and packs it into the shard's buffer. Doing that in a
//! row keeps its code in the cache, where once per request, between everything else a request
//! runs, it missed; and each record is read and freed by the core that wrote it. One writer
//! thread completes whatever is left in the shards when it comes by, and appends each shard's
//! buffer to the hour's file as one frame: a little-endian `u32` length, then that many bytes of
//! packed records. Nothing is escaped or
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
/// Largest frame readers accept. A shard starts a new frame once its batch reaches
/// [`FRAME_TARGET`], so only a record larger than the difference (far beyond any request head
/// the listeners accept) could make a larger one.
const MAX_FRAME: usize = 64 << 20;
/// Size at which a shard's batch is closed and the next record starts a new frame.
const FRAME_TARGET: usize = 16 << 20;
/// A journal file's extension.
const EXTENSION: &str = ".rec3";
/// The extension of journal files in the format before ([`packed::Format::V2`]), still read.
const EXTENSION_V2: &str = ".rec2";

/// A request whose response has ended (or whose viewer went away), handed over as it is
/// ([`Meter::submit`]) and completed later, in a batch: one reading of the clocks per batch
/// ([`Clock`]) and the record's own values give its departure.
pub trait Finished: Send {
    /// Calls `f` with the record's packer (arrival and content type) and its departure.
    fn complete(&mut self, clock: &Clock, f: &mut dyn FnMut(&packed::Packer, &Departure<'_>));
}

/// A reading of both clocks, taken once per batch of records completed: a record that ended at
/// a monotonic instant gets its wall-clock end time from it, so a request reads one clock, once,
/// when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    mono: Instant,
    wall_ms: i64,
}

impl Clock {
    /// Both clocks, now.
    pub fn now() -> Clock {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                d.as_secs() as i64 * 1_000 + i64::from(d.subsec_millis())
            });
        Clock {
            mono: Instant::now(),
            wall_ms: wall,
        }
    }

    /// The wall-clock time (Unix milliseconds) of `at`, an instant at or before this reading.
    pub fn wall_ms(&self, at: Instant) -> i64 {
        let ago = self.mono.saturating_duration_since(at).as_millis();
        self.wall_ms - i64::try_from(ago).unwrap_or(i64::MAX / 2)
    }
}

/// Finished requests handed over, not yet completed.
type Handed = Vec<Box<dyn Finished>>;

/// How many finished requests a request thread lets wait in its shard before it completes them
/// itself, one after the other: in a row, the code that builds, counts and packs a record stays
/// in the cache, and each record is still in the cache of the core that made it, which frees it.
/// The writer completes what is left when it comes by.
const BATCH: usize = 64;

/// One lock shard of the hand-over: finished requests waiting to be completed, and records
/// completed and packed, waiting for the writer.
#[derive(Default)]
struct Shard {
    handed: Handed,
    lines: Lines,
}

impl Shard {
    /// Completes every handed-over record, counts it and packs it into `lines`.
    fn complete(&mut self, metrics: &Metrics) {
        if self.handed.is_empty() {
            return;
        }
        let clock = Clock::now();
        let mut counter = metrics.counter();
        let lines = &mut self.lines;
        for mut record in self.handed.drain(..) {
            record.complete(&clock, &mut |packer, departure| {
                counter.observe(departure);
                let hour = departure.end_ms.div_euclid(3_600_000) * 3_600;
                lines.push(hour, packer, departure, FRAME_TARGET);
            });
        }
    }
}

/// The hand-over between request threads and the writer.
struct Queue {
    /// A request thread pushes into its own shard ([`super::thread_shard`]), so the writer
    /// never has to be woken per record.
    shards: [super::CacheAligned<Mutex<Shard>>; super::SHARDS],
    /// Sync requests: the writer answers each after writing and fsyncing.
    syncs: Mutex<Vec<mpsc::SyncSender<()>>>,
    wake: Condvar,
    stopped: AtomicBool,
}

/// Records completed and packed ([`packed`]), waiting to be written.
#[derive(Debug, Default)]
struct Lines {
    /// The hour `packed` belongs to.
    hour: i64,
    /// Empty, or [`FRAME_HEAD`] bytes that the writer fills in with the frame's length,
    /// followed by records: a batch is written to the file as it is, without a copy.
    packed: Vec<u8>,
    /// Records of earlier hours (a shard that saw the hour change before the writer came by),
    /// or of the same hour when a batch reached [`FRAME_TARGET`].
    earlier: Vec<(i64, Vec<u8>)>,
    /// The texts of the frame in `packed` that later records may refer to.
    recent: packed::Recent,
}

impl Lines {
    /// Appends a record for `hour`: to the frame being built, or to a new one when the hour
    /// changed or the frame reached `target` bytes (the one before waits in `earlier`).
    fn push(
        &mut self,
        hour: i64,
        record: &packed::Packer,
        departure: &Departure<'_>,
        target: usize,
    ) {
        if !self.packed.is_empty() && (self.hour != hour || self.packed.len() >= target) {
            let done = std::mem::take(&mut self.packed);
            self.earlier.push((self.hour, done));
        }
        self.hour = hour;
        if self.packed.is_empty() {
            self.packed.extend_from_slice(&[0; FRAME_HEAD]);
            self.recent = packed::Recent::new();
        }
        record.finish_into(departure, &mut self.packed, &mut self.recent);
    }
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

/// The hour (Unix seconds) a journal file name stands for, in either format read.
pub fn parse_file_name(name: &str) -> Option<i64> {
    w3c::parse_hour_stamp(
        name.strip_suffix(EXTENSION)
            .or_else(|| name.strip_suffix(EXTENSION_V2))?,
    )
}

/// The format of the journal file at `path`, by its extension.
pub fn format_of(path: &Path) -> packed::Format {
    if path.extension().is_some_and(|e| e == &EXTENSION_V2[1..]) {
        packed::Format::V2
    } else {
        packed::Format::V3
    }
}

/// Journal files in `dir`, oldest first (for one hour, a `.rec2` file before the `.rec3` one),
/// with the hour each covers.
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
            format_of(&path),
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

/// Reads the frames of a journal file of `format` from `r` (positioned at a frame boundary) and calls
/// `each` with every record of every whole frame, in order, until the end of the input, a
/// frame not yet whole (still being written, or torn), or an unreadable one. Stops after the
/// frame that takes it to `limit` bytes or past. Every frame is checked whole before any of
/// its records is handed out, so a torn frame is never half-counted.
pub fn read_records(
    r: &mut impl Read,
    format: packed::Format,
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
        let mut check = packed::Unpacker::new(format);
        while let Some((_, after)) = check.unpack(rest) {
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
        let mut records = packed::Unpacker::new(format);
        while let Some((line, after)) = records.unpack(rest) {
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
        read_records(&mut f, format_of(&path), u64::MAX, |line| {
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
            shards: std::array::from_fn(|_| super::CacheAligned(Mutex::new(Shard::default()))),
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
        let writer_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("edgegate-meter".into())
            .spawn(move || {
                writer(
                    writer_dir,
                    writer_queue,
                    &writer_metrics,
                    flush_tx,
                    flushing,
                )
            })?;
        Ok(Meter {
            queue,
            metrics,
            dir: Arc::new(dir),
        })
    }

    /// Hands a finished request over to be completed, counted in the metrics and packed into
    /// the journal ([`Finished`]): by this thread once 64 (`BATCH`) are waiting in its shard, or
    /// else by the writer when it comes by. Never blocks for more than that.
    pub fn submit(&self, record: Box<dyn Finished>) {
        let mut shard = lock(&self.queue.shards[super::thread_shard()]);
        shard.handed.push(record);
        if shard.handed.len() >= BATCH {
            shard.complete(&self.metrics);
        }
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
    metrics: &Metrics,
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
    let append = |files: &mut Files, hour: i64, batch: &mut [u8]| {
        report(write_batch(files, hour, batch, MAX_FRAME));
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
                let mut shard = lock(shard);
                shard.complete(metrics);
                let lines = &mut shard.lines;
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
/// as one frame, its length written into the head in place. A batch cannot be split (its records
/// may refer to texts of the ones before them), so one of more than `max` bytes of records is
/// not written and is reported as an error; shards close their batches well before that
/// ([`FRAME_TARGET`]).
fn write_batch(files: &mut Files, hour: i64, batch: &mut [u8], max: usize) -> io::Result<()> {
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
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "dropped a batch of {} bytes of records, larger than a frame may be ({max})",
                records.len()
            ),
        )),
    }
}

/// Appends `batch` (whole packed records of one frame) to `out` as a journal frame.
#[cfg(test)]
fn frame(batch: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    out.extend_from_slice(batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let hour = 1_795_550_400; // 2026-11-24T20:00:00Z
        assert_eq!(file_name(hour), "2026-11-24-20.rec3");
        assert_eq!(parse_file_name(&file_name(hour)), Some(hour));
        assert_eq!(parse_file_name("2026-11-24-20.rec2"), Some(hour));
        assert_eq!(parse_file_name("2026-11-24-24.rec3"), None);
        // Journals in the formats of earlier builds are not read.
        assert_eq!(parse_file_name("2026-11-24-20.rec"), None);
        assert_eq!(parse_file_name("2026-11-24-20.log"), None);
    }

    use crate::meter::w3c::tests::{bare_line, full_line};

    /// `n` records of one frame, full and bare in turn (so later ones refer to earlier texts).
    fn batch(n: usize) -> Vec<u8> {
        let (full, bare) = (full_line(), bare_line());
        let mut buf = Vec::new();
        let mut recent = packed::Recent::new();
        for i in 0..n {
            let r = if i % 2 == 0 { &full } else { &bare };
            packed::pack_in_frame(r, &mut buf, &mut recent);
        }
        buf
    }

    fn read_all(mut bytes: &[u8]) -> (Scan, Vec<String>) {
        let mut lines = Vec::new();
        let scan = read_records(&mut bytes, packed::Format::V3, u64::MAX, |l| {
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

    /// A finished request as the data plane hands one over: completing it packs its line, with
    /// the end time the batch's clock gives for the instant the request ended.
    struct TestRecord {
        line: Line<'static>,
        ended: Instant,
    }

    impl Finished for TestRecord {
        fn complete(&mut self, clock: &Clock, f: &mut dyn FnMut(&packed::Packer, &Departure<'_>)) {
            let mut p = packed::Packer::arrive(&self.line.arrival);
            p.respond(self.line.content_type);
            let mut d = self.line.departure;
            d.end_ms = clock.wall_ms(self.ended);
            f(&p, &d);
        }
    }

    fn wall_ms_now() -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        d.as_millis() as i64
    }

    #[test]
    fn the_clock_dates_an_instant_by_how_long_before_its_reading_it_was() {
        let c = Clock::now();
        assert!((c.wall_ms - wall_ms_now()).abs() < 1_000);
        let earlier = c.mono - Duration::from_millis(1_500);
        assert_eq!(c.wall_ms(earlier), c.wall_ms - 1_500);
        assert_eq!(c.wall_ms(c.mono), c.wall_ms);
        // An instant after the reading (not handed over yet when the clocks were read) is
        // dated at the reading, never in the future.
        assert_eq!(c.wall_ms(c.mono + Duration::from_millis(20)), c.wall_ms);
    }

    #[test]
    fn records_handed_over_by_many_threads_are_all_written_and_counted_once_synced() {
        let data = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::default());
        let meter = Meter::start(data.path(), metrics.clone()).unwrap();
        let before = wall_ms_now();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let m = meter.clone();
                s.spawn(move || {
                    for i in 0..250 {
                        let line = if i % 2 == 0 { full_line() } else { bare_line() };
                        let ended = Instant::now();
                        m.submit(Box::new(TestRecord { line, ended }));
                    }
                });
            }
        });
        meter.sync();
        let after = wall_ms_now();
        let lines = text_lines(data.path()).unwrap();
        assert_eq!(lines.len(), 1_000);
        assert_eq!(lines.iter().filter(|l| l.contains("LAX1")).count(), 500);
        let mut ends = Vec::new();
        for (_, path) in files(&journal_dir(data.path())).unwrap() {
            let mut f = File::open(&path).unwrap();
            read_records(&mut f, format_of(&path), u64::MAX, |l| {
                ends.push(l.departure.end_ms);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(ends.len(), 1_000);
        // Dated by the clock of the batch each was completed in (by its own thread or the
        // writer), within the time the records were handed over (the wall clock is read to the
        // millisecond, so allow one either side).
        assert!(
            ends.iter().all(|&e| before - 1 <= e && e <= after + 1),
            "{before}..{after}: {ends:?}"
        );
        let text = metrics.render(&crate::cache::store::CacheStats::default());
        let counted: u64 = text
            .lines()
            .filter(|l| l.starts_with("edgegate_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, 1_000, "{text}");
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
        let scan = read_records(&mut &file[..], packed::Format::V3, 1, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((scan.consumed, n), (first, 2));
    }

    #[test]
    fn a_shard_starts_a_new_frame_at_its_size_target_and_at_a_new_hour() {
        let hour = 1_795_550_400;
        let (full, bare) = (full_line(), bare_line());
        let mut lines = Lines::default();
        let push = |lines: &mut Lines, hour: i64, l: &Line<'_>, target: usize| {
            let mut p = packed::Packer::arrive(&l.arrival);
            p.respond(l.content_type);
            lines.push(hour, &p, &l.departure, target);
        };
        // Three records within the target share a frame: the third repeats the first's
        // texts by reference, so it packs smaller.
        for l in [&full, &bare, &full] {
            push(&mut lines, hour, l, 1 << 20);
        }
        let alone = {
            let mut one = Vec::new();
            packed::pack(&full, &mut one);
            one.len()
        };
        assert!(lines.packed.len() < FRAME_HEAD + 2 * alone + 64);
        assert!(lines.earlier.is_empty());
        // Past the target, the next record starts a new frame (referring to nothing before).
        let target = lines.packed.len();
        push(&mut lines, hour, &full, target);
        assert_eq!(lines.earlier.len(), 1);
        assert_eq!(lines.packed.len(), FRAME_HEAD + alone);
        // A new hour starts a new frame too.
        push(&mut lines, hour + 3600, &bare, 1 << 20);
        assert_eq!(lines.earlier.len(), 2);
        assert_eq!(lines.earlier[1].0, hour);
        assert_eq!(lines.hour, hour + 3600);
        let mut file = Vec::new();
        for mut b in lines
            .earlier
            .drain(..)
            .map(|(_, b)| b)
            .chain([lines.packed])
        {
            let len = (b.len() - FRAME_HEAD) as u32;
            b[..FRAME_HEAD].copy_from_slice(&len.to_le_bytes());
            file.extend_from_slice(&b);
        }
        let (scan, got) = read_all(&file);
        assert_eq!(scan.consumed, file.len() as u64);
        let mut want = expected(3);
        want.extend(expected(1));
        want.extend(expected(2).into_iter().skip(1));
        assert_eq!(got, want);
    }

    #[test]
    fn a_shard_batch_is_written_as_one_frame_in_place_and_never_split() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 1_795_550_400;
        let mut files = Files {
            dir: dir.path().to_path_buf(),
            open: BTreeMap::new(),
            dirty: false,
        };
        let shard_batch = |n| {
            let mut b = vec![0; FRAME_HEAD];
            b.extend_from_slice(&batch(n));
            b
        };
        // In place: the head gets the length, the batch is the frame.
        let mut b = shard_batch(3);
        write_batch(&mut files, hour, &mut b, MAX_FRAME).unwrap();
        let mut one = Vec::new();
        frame(&batch(3), &mut one);
        assert_eq!(b, one);
        // Over the limit: an error, and nothing written (its records could not be read apart).
        let mut b = shard_batch(5);
        let e = write_batch(&mut files, hour, &mut b, 1).unwrap_err();
        assert!(e.to_string().contains("larger than a frame may be"), "{e}");
        // Nothing to write: neither a bare head nor an empty buffer makes a frame.
        write_batch(&mut files, hour, &mut [0; FRAME_HEAD], MAX_FRAME).unwrap();
        write_batch(&mut files, hour, &mut [], MAX_FRAME).unwrap();
        drop(files);
        let file = std::fs::read(dir.path().join(file_name(hour))).unwrap();
        let (scan, lines) = read_all(&file);
        assert_eq!(lines, expected(3));
        assert_eq!(scan.consumed, file.len() as u64);
    }

    #[test]
    fn journals_of_the_format_before_are_still_read_first_in_their_hour() {
        let data = tempfile::tempdir().unwrap();
        let dir = journal_dir(data.path());
        std::fs::create_dir_all(&dir).unwrap();
        let hour = 1_795_550_400;
        assert_eq!(file_name(hour), "2026-11-24-20.rec3");
        let v2_name = "2026-11-24-20.rec2";
        assert_eq!(parse_file_name(v2_name), Some(hour));
        assert_eq!(format_of(&dir.join(v2_name)), packed::Format::V2);
        assert_eq!(format_of(&dir.join(file_name(hour))), packed::Format::V3);
        // What an earlier build wrote for the two test records, then this build's frame.
        let mut v2 = Vec::new();
        frame(&packed::tests::v2_bytes(), &mut v2);
        std::fs::write(dir.join(v2_name), &v2).unwrap();
        let mut v3 = Vec::new();
        frame(&batch(2), &mut v3);
        std::fs::write(dir.join(file_name(hour)), &v3).unwrap();
        let mut out = Vec::new();
        assert_eq!(write_text(data.path(), &mut out).unwrap(), 4);
        let mut want = expected(2);
        want.extend(expected(2));
        assert_eq!(String::from_utf8(out).unwrap(), want.concat());
        assert_eq!(repair(&dir).unwrap(), 0, "both formats read whole");
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
