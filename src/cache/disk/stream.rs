//! Disk-tier bodies that never sit whole in memory: [`DiskBody`], the body of an object in a
//! committed cache file, sent from the file; and [`DiskFill`], a fill written to a file under
//! `tmp/` as it arrives (objects above the memory tier's bound).
//!
//! - **Sending a [`DiskBody`].** On a plain-TCP HTTP/1 connection that announced the object's
//!   token mirror ([`crate::sendfile`]), the bytes leave with `sendfile` from the file, from the
//!   body's offset (a range is an offset into it); anywhere else (TLS, HTTP/2, no mirrors) they
//!   are read in [`CHUNK`]-byte chunks on a blocking thread, one chunk ahead of the connection.
//!   A file that turns out shorter than its index entry says (removed by hand) breaks the body
//!   off, so a viewer never gets a torn answer as a whole one.
//! - **A [`DiskFill`].** The fill hands the origin's chunks to a blocking task through a
//!   channel of [`FILL_QUEUE`] chunks: a disk slower than the origin slows the origin's reading
//!   (the fill's memory stays a few MiB whatever the object's size). The task writes them
//!   after a placeholder head, keeps the body's CRC-32, and reports how many bytes are in the
//!   file, from which collapsed followers read. At the end it writes the trailer and the real
//!   head, `fdatasync`s, renames the file into `objects/` and enters it in the index, marked
//!   verified (its checksum is the one it computed). A short body, an origin error, a
//!   cancelled fill or a write error deletes the temporary file and stores nothing.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::sendfile::Mirror;

/// Bytes read from a cache file at a time when a body cannot be sent with `sendfile`, and when
/// a file's checksum is verified.
pub const CHUNK: usize = 256 * 1024;
/// Chunks of a [`DiskFill`] that may wait for its writer.
pub const FILL_QUEUE: usize = 8;

/// The body of an object in a committed cache file: `len` bytes from `offset`.
pub struct DiskBody {
    file: File,
    offset: u64,
    len: u64,
}

impl std::fmt::Debug for DiskBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskBody")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The file ended before the body it should hold.
fn short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "disk cache file is short")
}

impl DiskBody {
    /// The body of `len` bytes at `offset` in `file`.
    pub(super) fn new(file: File, offset: u64, len: u64) -> DiskBody {
        DiskBody { file, offset, len }
    }

    /// The body's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file itself (the body starts at the offset it was made with).
    pub(super) fn into_file(self) -> File {
        self.file
    }

    /// The file (another handle on it) and where the body starts in it.
    pub fn file(&self) -> io::Result<(File, u64)> {
        Ok((self.file.try_clone()?, self.offset))
    }

    /// Reads `n` bytes of the body from `at` (blocking).
    pub fn read_chunk(&self, at: u64, n: usize) -> io::Result<Bytes> {
        if at.saturating_add(n as u64) > self.len {
            return Err(short());
        }
        let mut buf = vec![0u8; n];
        self.file
            .read_exact_at(&mut buf, self.offset + at)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    short()
                } else {
                    e
                }
            })?;
        Ok(Bytes::from(buf))
    }

    /// Bytes `start..end` of the body as a response body: from `token` (the object's token
    /// mirror) with `sendfile` when the connection announced it, else read in [`CHUNK`]s on a
    /// blocking thread (see the module docs).
    pub fn body(self: &Arc<Self>, start: u64, end: u64, token: Option<Arc<Mirror>>) -> Body {
        let end = end.min(self.len);
        let state = (Arc::clone(self), start, end, token);
        let frames = futures_util::stream::unfold(state, |(file, at, end, token)| async move {
            if at >= end {
                return None;
            }
            if let Some(t) = &token
                && let Some(bytes) = Mirror::token_body(t, at, end)
            {
                let next = at + bytes.len() as u64;
                return Some((Ok(bytes), (file, next, end, token)));
            }
            let n = usize::try_from(end - at).unwrap_or(CHUNK).min(CHUNK);
            let f = Arc::clone(&file);
            let read = tokio::task::spawn_blocking(move || f.read_chunk(at, n)).await;
            match read {
                Ok(Ok(bytes)) => Some((Ok(bytes), (file, at + n as u64, end, token))),
                Ok(Err(e)) => Some((Err(e), (file, end, end, token))),
                Err(e) => Some((Err(io::Error::other(e)), (file, end, end, token))),
            }
        });
        Body::from_stream(frames)
    }

    /// The whole body read into memory, checked against `crc` (blocking).
    pub(super) fn read_all(&self) -> io::Result<Bytes> {
        let n = usize::try_from(self.len).map_err(|_| short())?;
        self.read_chunk(0, n)
    }

    /// The body's CRC-32, read in [`CHUNK`]s (blocking).
    pub(super) fn crc(&self) -> io::Result<u32> {
        let mut c = flate2::Crc::new();
        self.each_chunk(|b| {
            c.update(b);
            Ok(())
        })?;
        Ok(c.sum())
    }

    /// Calls `f` with the body's bytes, [`CHUNK`] at a time (blocking).
    pub(super) fn each_chunk(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(self.len).unwrap_or(CHUNK))];
        let mut at = 0;
        while at < self.len {
            let n = usize::try_from(self.len - at)
                .unwrap_or(CHUNK)
                .min(buf.len());
            self.file
                .read_exact_at(&mut buf[..n], self.offset + at)
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        short()
                    } else {
                        e
                    }
                })?;
            f(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }
}

/// How a [`DiskFill`] ended ([`DiskFill::finish`]).
#[derive(Debug)]
pub enum Committed {
    /// Committed and in the index: the object's body.
    Stored(Arc<DiskBody>),
    /// The whole body is in the (deleted) file, whose readers may finish reading it, but it was
    /// not stored: an invalidation came meanwhile, or the commit failed (logged).
    NotStored,
    /// The body is not whole (a write failed, or it is shorter than announced).
    Failed,
}

/// What a fill's writer task is handed.
pub(super) enum FillMsg {
    /// The next bytes of the body.
    Data(Bytes),
    /// The body is complete: commit it and answer with the committed body.
    Finish(oneshot::Sender<Committed>),
}

type Reserving = Pin<
    Box<dyn Future<Output = Result<mpsc::OwnedPermit<FillMsg>, mpsc::error::SendError<()>>> + Send>,
>;

/// A fill being written to a temporary file as it arrives (see the module docs). Dropped
/// before [`DiskFill::finish`], the file is deleted and nothing is stored.
pub struct DiskFill {
    tx: Option<mpsc::Sender<FillMsg>>,
    reserving: Option<Reserving>,
    permit: Option<mpsc::OwnedPermit<FillMsg>>,
    /// A handle on the temporary file, from which followers read what has been written.
    reader: Arc<File>,
    /// Where the body starts in the file.
    body_offset: u64,
    /// The temporary file (for messages).
    pub(super) tmp: PathBuf,
}

impl std::fmt::Debug for DiskFill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskFill")
            .field("tmp", &self.tmp)
            .finish_non_exhaustive()
    }
}

impl DiskFill {
    pub(super) fn new(
        tx: mpsc::Sender<FillMsg>,
        reader: File,
        body_offset: u64,
        tmp: PathBuf,
    ) -> DiskFill {
        DiskFill {
            tx: Some(tx),
            reserving: None,
            permit: None,
            reader: Arc::new(reader),
            body_offset,
            tmp,
        }
    }

    /// A handle on the file being written and where the body starts in it: the body's bytes
    /// below what the writer reported are there.
    pub fn reader(&self) -> (Arc<File>, u64) {
        (Arc::clone(&self.reader), self.body_offset)
    }

    /// Ready when the writer can take one more chunk; `Ready(false)` when it has failed (the
    /// fill is then to be abandoned).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.permit.is_some() {
            return Poll::Ready(true);
        }
        if self.reserving.is_none() {
            let Some(tx) = self.tx.clone() else {
                return Poll::Ready(false);
            };
            self.reserving = Some(Box::pin(tx.reserve_owned()));
        }
        let Some(fut) = self.reserving.as_mut() else {
            return Poll::Ready(false);
        };
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.reserving = None;
                match r {
                    Ok(permit) => {
                        self.permit = Some(permit);
                        Poll::Ready(true)
                    }
                    Err(_) => {
                        self.tx = None;
                        Poll::Ready(false)
                    }
                }
            }
        }
    }

    /// Hands `data` to the writer; `false` when it cannot take it (the writer failed, or no
    /// room was made ready with [`DiskFill::poll_ready`] and the queue is full).
    pub fn send(&mut self, data: Bytes) -> bool {
        if let Some(permit) = self.permit.take() {
            permit.send(FillMsg::Data(data));
            return true;
        }
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(FillMsg::Data(data)).is_ok())
    }

    /// Commits the file: the body, once written, synced, renamed and entered in the index
    /// (see [`Committed`]).
    pub async fn finish(mut self) -> Committed {
        let (reply, answer) = oneshot::channel();
        self.permit = None;
        self.reserving = None;
        let Some(tx) = self.tx.take() else {
            return Committed::Failed;
        };
        if tx.send(FillMsg::Finish(reply)).await.is_err() {
            return Committed::Failed;
        }
        drop(tx);
        answer.await.unwrap_or(Committed::Failed)
    }
}
