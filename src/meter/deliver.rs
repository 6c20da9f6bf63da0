//! Access-log delivery: turns new journal records into CloudFront standard log files, keeps them
//! under `{data-dir}/logs/`, and uploads them to each distribution's logging bucket.
//!
//! Every `--log-delivery-interval` (and once more on shutdown) [`Delivery::run_once`]:
//!
//! 1. reads each journal file from its cursor to its last whole frame
//!    ([`journal::read_records`]), formatting each record as CloudFront's log line;
//! 2. writes, per distribution and hour, one gzip file named as CloudFront names them,
//!    `{DistributionId}.YYYY-MM-DD-HH.{unique}.gz`, whose unique id is derived from the edge,
//!    the journal file and the starting offset — so redoing a step after a crash rewrites the
//!    same file instead of adding a second one;
//! 3. for distributions whose `Logging` is enabled, queues the file in `meter/outbox/`;
//! 4. moves the cursor (written atomically) past what was read;
//! 5. uploads every queued file to `{Prefix}{name}` in the bucket, removing it from the queue
//!    only once S3 accepted it. A failed upload stays queued and is retried next time; an upload
//!    repeated after a crash overwrites the same key, so S3 never holds a duplicate.
//!
//! Cookies are logged only when the distribution's `Logging.IncludeCookies` is true.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bucket::S3Client;
use super::journal;
use super::w3c;

/// Where one distribution's logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Whether files are uploaded (`Logging.Enabled`).
    pub enabled: bool,
    /// `Logging.IncludeCookies`.
    pub include_cookies: bool,
    /// The bucket name (from `Logging.Bucket`, `name.s3.amazonaws.com`).
    pub bucket: String,
    /// The bucket's region.
    pub region: String,
    /// `Logging.Prefix`, with a `/` appended when it is non-empty and lacks one.
    pub prefix: String,
}

impl LogTarget {
    /// From a distribution's `Logging` settings; `None` when logging is off or the bucket is
    /// not an S3 bucket domain.
    pub fn from_logging(l: &crate::model::distribution::Logging) -> Option<LogTarget> {
        if !l.enabled {
            return None;
        }
        let (bucket, region) = crate::origin::parse_s3_domain(&l.bucket)?;
        let mut prefix = l.prefix.clone();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Some(LogTarget {
            enabled: true,
            include_cookies: l.include_cookies,
            bucket,
            region: region.unwrap_or_else(|| "us-east-1".into()),
            prefix,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Queued {
    bucket: String,
    region: String,
    key: String,
    file: String,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Log files written under `logs/`.
    pub files_written: usize,
    /// Journal lines turned into log lines.
    pub lines: u64,
    /// Files uploaded to buckets.
    pub uploaded: usize,
    /// Uploads that failed and stay queued.
    pub failed: usize,
    /// Why each failed upload failed (the object, where it was sent, S3's answer or the
    /// connection's failure), as logged.
    pub errors: Vec<String>,
}

/// The delivery worker's state.
#[derive(Debug, Clone)]
pub struct Delivery {
    data_dir: PathBuf,
    pop: String,
    s3: S3Client,
}

/// Largest slice of one journal file turned into log files per run (streamed, not held).
const MAX_READ_PER_RUN: u64 = 1 << 30;

impl Delivery {
    /// A worker for the data directory of the edge at `pop`.
    pub fn new(data_dir: &Path, pop: &str, s3: S3Client) -> Self {
        Delivery {
            data_dir: data_dir.to_path_buf(),
            pop: pop.to_owned(),
            s3,
        }
    }

    /// Local log files.
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    fn outbox(&self) -> PathBuf {
        self.data_dir.join("meter").join("outbox")
    }

    fn cursor_path(&self) -> PathBuf {
        self.data_dir.join("meter").join("delivery-cursor.json")
    }

    /// One full run: write new log files, then upload what is queued.
    pub async fn run_once(&self, targets: &HashMap<String, LogTarget>) -> DeliveryReport {
        let me = self.clone();
        let targets_owned = targets.clone();
        // A thread of its own, at a lower CPU priority: turning a minute of traffic into gzip
        // files is batch work, and must not take the cores from requests being served. When
        // the cores are idle it runs at full speed.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("edgegate-logs".into())
            .spawn(move || {
                lower_thread_priority();
                let _ = tx.send(me.write_files(&targets_owned));
            });
        let written = match spawned {
            Ok(_) => rx
                .await
                .map_err(|_| io::Error::other("the access-log writer panicked")),
            Err(e) => Err(e),
        };
        let mut report = match written.and_then(|r| r) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot write access logs");
                DeliveryReport::default()
            }
        };
        let (up, errors) = self.upload_queued().await;
        report.uploaded = up;
        report.failed = errors.len();
        report.errors = errors;
        report
    }

    /// Steps 1–4 (blocking).
    pub fn write_files(&self, targets: &HashMap<String, LogTarget>) -> io::Result<DeliveryReport> {
        let logs = self.logs_dir();
        fs::create_dir_all(&logs)?;
        fs::create_dir_all(self.outbox())?;
        let mut cursor: BTreeMap<String, u64> = match fs::read(self.cursor_path()) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "delivery cursor unreadable; starting over (files are rewritten, not duplicated)");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let mut report = DeliveryReport::default();
        for (hour, path) in journal::files(&journal::journal_dir(&self.data_dir))? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let start = cursor.get(&name).copied().unwrap_or(0);
            let format = journal::format_of(&path);
            let mut f = fs::File::open(&path)?;
            let len = f.metadata()?.len();
            if len <= start {
                continue;
            }
            f.seek(SeekFrom::Start(start))?;
            // Streamed a frame at a time into one gzip writer per distribution, so memory stays
            // bounded however much the journal grew since the last run.
            let mut reader = BufReader::with_capacity(1 << 20, f.take(len - start));
            let mut open: BTreeMap<String, OpenLog> = BTreeMap::new();
            let mut out = Vec::with_capacity(1024);
            let scan = journal::read_records(&mut reader, format, MAX_READ_PER_RUN, |line| {
                // Distribution ids are ASCII letters and digits; anything else (only a damaged
                // journal could hold it) must not reach a file name.
                let Some(dist) = line
                    .departure
                    .distribution_id
                    .filter(|d| !d.is_empty() && d.iter().all(u8::is_ascii_alphanumeric))
                    .and_then(|d| std::str::from_utf8(d).ok())
                else {
                    return Ok(());
                };
                if !open.contains_key(dist) {
                    let unique = unique_id(&self.pop, &name, start);
                    let file_name = w3c::object_name("", dist, hour, &unique);
                    let include_cookies = targets.get(dist).is_some_and(|t| t.include_cookies);
                    let log = OpenLog::create(&logs, file_name, include_cookies)?;
                    open.insert(dist.to_owned(), log);
                }
                if let Some(log) = open.get_mut(dist) {
                    out.clear();
                    w3c::standard_line_of(line, log.include_cookies, &mut out);
                    log.gz.write_all(&out)?;
                    log.lines += 1;
                }
                Ok(())
            })?;
            if scan.unreadable {
                tracing::error!(file = %path.display(), offset = start + scan.consumed, "an unreadable journal frame stops log delivery from this file until the next start repairs it");
            }
            let consumed = scan.consumed;
            for (dist, log) in open {
                let (file_name, lines) = log.finish()?;
                report.files_written += 1;
                report.lines += lines;
                if let Some(t) = targets.get(&dist).filter(|t| t.enabled) {
                    let q = Queued {
                        bucket: t.bucket.clone(),
                        region: t.region.clone(),
                        key: format!("{}{file_name}", t.prefix),
                        file: file_name.clone(),
                    };
                    let json = serde_json::to_vec(&q).map_err(io::Error::other)?;
                    write_atomically(&self.outbox().join(format!("{file_name}.json")), &json)?;
                }
            }
            if consumed == 0 {
                continue;
            }
            cursor.insert(name, start + consumed);
            let json = serde_json::to_vec(&cursor).map_err(io::Error::other)?;
            write_atomically(&self.cursor_path(), &json)?;
        }
        Ok(report)
    }

    /// Step 5: (uploaded, why each failure failed).
    async fn upload_queued(&self) -> (usize, Vec<String>) {
        let Ok(rd) = fs::read_dir(self.outbox()) else {
            return (0, Vec::new());
        };
        let mut queued: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        queued.sort();
        let (mut ok, mut failed) = (0, Vec::new());
        for marker in queued {
            let q: Queued = match fs::read(&marker)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(q) => q,
                None => {
                    tracing::warn!(file = %marker.display(), "dropping an unreadable delivery marker");
                    let _ = fs::remove_file(&marker);
                    continue;
                }
            };
            let body = match fs::read(self.logs_dir().join(&q.file)) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    tracing::warn!(file = %q.file, error = %e, "queued log file is gone; not delivering it");
                    let _ = fs::remove_file(&marker);
                    continue;
                }
            };
            match self.s3.put(&q.bucket, &q.region, &q.key, body).await {
                Ok(()) => {
                    let _ = fs::remove_file(&marker);
                    ok += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "log delivery failed; the file stays queued and is retried at the next delivery");
                    failed.push(e.to_string());
                }
            }
        }
        (ok, failed)
    }
}

/// A CloudFront-looking unique id (13 upper-case letters and digits), fixed for one edge,
/// journal file and starting offset.
fn unique_id(pop: &str, journal_file: &str, offset: u64) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::new()
        .chain_update(pop.as_bytes())
        .chain_update([0])
        .chain_update(journal_file.as_bytes())
        .chain_update(offset.to_be_bytes())
        .finalize();
    let mut bits = u128::from_be_bytes(digest[..16].try_into().unwrap_or([0; 16]));
    (0..13)
        .map(|_| {
            let c = ALPHABET[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}

/// A log file being written: gzip into a temporary file, renamed into place when finished so
/// that neither the uploader nor a reader ever sees half a file.
struct OpenLog {
    /// Lines are gathered before they reach the compressor, which costs per call.
    gz: io::BufWriter<flate2::write::GzEncoder<io::BufWriter<fs::File>>>,
    include_cookies: bool,
    lines: u64,
    tmp: PathBuf,
    path: PathBuf,
    file_name: String,
}

impl OpenLog {
    fn create(dir: &Path, file_name: String, include_cookies: bool) -> io::Result<OpenLog> {
        let path = dir.join(&file_name);
        let tmp = path.with_extension("tmp");
        let file = fs::File::create(&tmp)?;
        // The fastest level: delivery compresses every line the edge serves, on the same cores
        // as the requests, and logs compress well even so.
        let mut gz = flate2::write::GzEncoder::new(
            io::BufWriter::with_capacity(64 * 1024, file),
            flate2::Compression::fast(),
        );
        gz.write_all(w3c::header().as_bytes())?;
        Ok(OpenLog {
            gz: io::BufWriter::with_capacity(64 * 1024, gz),
            include_cookies,
            lines: 0,
            tmp,
            path,
            file_name,
        })
    }

    /// Completes the file; returns its name and line count.
    fn finish(self) -> io::Result<(String, u64)> {
        let gz = self.gz.into_inner().map_err(|e| e.into_error())?;
        let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok((self.file_name, self.lines))
    }
}

/// Nice value of the access-log writer thread (0 is normal, 19 the lowest priority).
const LOG_WRITER_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`LOG_WRITER_NICE`]. On Linux the nice value
/// belongs to the thread, so the request threads keep theirs. Best effort: without it the
/// writer runs at normal priority.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::process::setpriority_process(None, LOG_WRITER_NICE) {
        tracing::debug!(%error, "cannot lower the access-log writer's priority");
    }
}

/// Writes `path` via a temporary file, fsync and rename, so readers never see half a file.
fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_are_stable_and_distinct() {
        let a = unique_id("LCL50-C1", "2026-11-24-20.log", 0);
        assert_eq!(a.len(), 13);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(a, unique_id("LCL50-C1", "2026-11-24-20.log", 0));
        assert_ne!(a, unique_id("LCL50-C1", "2026-11-24-20.log", 1));
        assert_ne!(a, unique_id("FRA1", "2026-11-24-20.log", 0));
    }

    #[test]
    fn logging_targets() {
        let l = crate::model::distribution::Logging {
            enabled: true,
            include_cookies: true,
            bucket: "my-logs.s3.amazonaws.com".into(),
            prefix: "cf".into(),
        };
        let t = LogTarget::from_logging(&l).unwrap();
        assert_eq!((t.bucket.as_str(), t.prefix.as_str()), ("my-logs", "cf/"));
        assert_eq!(t.region, "us-east-1");
        let off = crate::model::distribution::Logging {
            enabled: false,
            ..l
        };
        assert!(LogTarget::from_logging(&off).is_none());
    }
}
