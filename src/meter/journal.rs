//! The journal: every [`Record`] as one line in an hourly, append-only file under
//! `{data-dir}/meter/journal/`, named `YYYY-MM-DD-HH.log` after the hour the request finished.
//!
//! The data plane never waits for the disk: [`Meter::submit`] copies the record's values
//! ([`packed::pack`]) into one of a few lock-sharded buffers (no wake-up per record), and one
//! writer thread drains them, formats the lines ([`w3c::journal_line`]) a batch at a time and
//! appends them to the files. The writer writes
//! whatever it holds at least every [`WRITE_INTERVAL`] (so a record is in the kernel's page cache,
//! which survives SIGKILL, well within a second of its response finishing). A second thread
//! calls `fdatasync` at least every [`SYNC_INTERVAL`] and on shutdown, so a slow disk delays only
//! the flush to the device: the writer keeps draining the buffers meanwhile, and they stay the
//! size of one write interval's lines however long a flush takes. Counting is exact: every
//! record is one line and nothing is sampled.
//!
//! A crash can leave the last line of a file half-written. [`repair`] runs before the writer
//! opens the directory and cuts every file back to its last complete line, so a torn record
//! never reaches a report; readers also skip (and count) any line that does not parse.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use super::record::Record;
use super::{packed, w3c};

/// Longest a finished record waits in memory before it is written.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(100);
/// Longest written records wait for `fsync`.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Capacity the writer's spare buffer keeps between writes; a burst's larger buffer is let go.
const SPARE_CAPACITY: usize = 1 << 20;

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
    name.push_str(".log");
    name
}

/// The hour (Unix seconds) a journal file name stands for.
pub fn parse_file_name(name: &str) -> Option<i64> {
    w3c::parse_hour_stamp(name.strip_suffix(".log")?)
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

/// Cuts every journal file back to its last complete line (a crash can tear the last one).
/// Returns how many bytes were cut.
pub fn repair(dir: &Path) -> io::Result<u64> {
    let mut cut = 0;
    for (_, path) in files(dir)? {
        let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = f.metadata()?.len();
        if len == 0 {
            continue;
        }
        // Walk back from the end in blocks to the last newline.
        let mut end = len;
        let mut keep = 0;
        let mut block = vec![0u8; 64 * 1024];
        'scan: while end > 0 {
            let start = end.saturating_sub(block.len() as u64);
            let n = (end - start) as usize;
            f.seek(SeekFrom::Start(start))?;
            f.read_exact(&mut block[..n])?;
            if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
                keep = start + i as u64 + 1;
                break 'scan;
            }
            end = start;
        }
        if keep < len {
            f.set_len(keep)?;
            f.sync_all()?;
            cut += len - keep;
            tracing::warn!(file = %path.display(), bytes = len - keep, "cut a torn record from the journal");
        }
    }
    Ok(cut)
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

    /// Hands a finished request to the writer. Never blocks.
    ///
    /// The request's thread only copies the record's values; the writer escapes and formats
    /// them, many records in a row, which keeps the request path short.
    pub fn submit(&self, record: Record) {
        self.metrics.observe(&record);
        let hour = record.end_ms.div_euclid(3_600_000) * 3_600;
        let shard = super::thread_shard();
        let mut lines = lock(&self.queue.shards[shard]);
        if lines.hour != hour && !lines.packed.is_empty() {
            let done = std::mem::take(&mut lines.packed);
            let done_hour = lines.hour;
            lines.earlier.push((done_hour, done));
        }
        lines.hour = hour;
        packed::pack(&record.line(), &mut lines.packed);
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

/// Open journal files by hour, each with the lines a failed write left behind.
struct Files {
    dir: PathBuf,
    open: BTreeMap<i64, (File, Vec<u8>)>,
    dirty: bool,
}

impl Files {
    /// Appends `text` (whole lines) to the hour's file, straight from the caller's buffer. If
    /// the write fails, the lines are kept and retried by the next [`Files::write`].
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

    /// Retries the lines earlier writes failed on.
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
    let mut spare = Vec::new();
    let mut text = Vec::new();
    // Formats a batch of packed records and appends the lines to the hour's file.
    let mut append = |files: &mut Files, hour: i64, mut batch: &[u8]| {
        text.clear();
        while !batch.is_empty() {
            let Some((line, rest)) = packed::unpack(batch) else {
                // Only this process packs these buffers; a record that does not unpack is a
                // bug, and the rest of the batch cannot be framed.
                tracing::error!(
                    bytes = batch.len(),
                    "dropped an unreadable batch of journal records"
                );
                break;
            };
            w3c::journal_line(&line, &mut text);
            batch = rest;
        }
        report(files.append(hour, &text));
        text.shrink_to(SPARE_CAPACITY);
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
        for shard in &queue.shards {
            let (hour, earlier) = {
                let mut lines = lock(shard);
                std::mem::swap(&mut lines.packed, &mut spare);
                (lines.hour, std::mem::take(&mut lines.earlier))
            };
            for (h, batch) in earlier {
                append(&mut files, h, &batch);
            }
            if !spare.is_empty() {
                append(&mut files, hour, &spare);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let hour = 1_795_550_400; // 2026-11-24T20:00:00Z
        assert_eq!(file_name(hour), "2026-11-24-20.log");
        assert_eq!(parse_file_name(&file_name(hour)), Some(hour));
        assert_eq!(parse_file_name("2026-11-24-24.log"), None);
        assert_eq!(parse_file_name("2026-11-24-20.txt"), None);
    }
}
