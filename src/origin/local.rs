//! A local directory as an origin, for the built-in demo and for tests.
//!
//! Behaviour, chosen to resemble an S3 bucket:
//! * GET and HEAD of a regular file: 200 with `Content-Type` (by extension, default
//!   `application/octet-stream`), `Content-Length`, `Last-Modified`, a strong `ETag` from size
//!   and modification time, and the body streamed in 64 KiB chunks. `If-None-Match` and
//!   `If-Modified-Since` are honoured with 304 (so the edge can revalidate). `Range` is ignored.
//! * A missing file, or a directory: 404 with a small S3-style XML `NoSuchKey` body.
//! * Any other method: 405 with `Allow: GET, HEAD` and an XML `MethodNotAllowed` body.
//! * A path that could leave the root is refused with [`OriginError::Refused`] (the edge answers
//!   403): the path is percent-decoded exactly once, and `.`/`..` segments, encoded slashes
//!   (`%2F`, `%5C`), backslashes, NUL bytes, and anything whose canonical path is not inside the
//!   canonical root (a symlink pointing out) are refused. So are paths the file system will not
//!   resolve (a symlink loop, no permission); a name too long to exist is a 404.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use percent_encoding::percent_decode_str;
use tokio::io::AsyncReadExt;

use super::{OriginError, OriginFuture, OriginRequest};

/// Size of the chunks a file body is read in.
const CHUNK: usize = 64 * 1024;

/// Serves the files under one directory.
#[derive(Debug, Clone)]
pub struct LocalDirOrigin {
    root: PathBuf,
}

impl LocalDirOrigin {
    /// An origin serving `root`, which must be an existing directory (it is canonicalized).
    pub fn new(root: PathBuf) -> io::Result<Self> {
        let root = std::fs::canonicalize(&root).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("local origin directory {}: {e}", root.display()),
            )
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("local origin {} is not a directory", root.display()),
            ));
        }
        Ok(LocalDirOrigin { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a request path names, or why it is refused. `Ok(None)`: does not exist.
    async fn resolve(&self, path_and_query: &str) -> Result<Option<PathBuf>, OriginError> {
        let relative = safe_relative_path(path_and_query)?;
        let joined = self.root.join(&relative);
        let canonical = match tokio::fs::canonicalize(&joined).await {
            Ok(p) => p,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::NotADirectory
                        | io::ErrorKind::InvalidFilename
                ) =>
            {
                // Missing, a file used as a directory, or a name too long to exist: 404.
                return Ok(None);
            }
            // A symlink loop, no permission, and the like: the path cannot be served (403).
            Err(e) => return Err(OriginError::Refused(format!("{path_and_query:?}: {e}"))),
        };
        if !canonical.starts_with(&self.root) {
            return Err(OriginError::Refused(format!(
                "{path_and_query:?} resolves outside the origin directory"
            )));
        }
        Ok(Some(canonical))
    }

    async fn fetch_inner(&self, req: OriginRequest) -> Result<Response<Body>, OriginError> {
        if !matches!(req.method, Method::GET | Method::HEAD) {
            return Ok(error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                &req.method,
            ));
        }
        let Some(path) = self.resolve(&req.path_and_query).await? else {
            return Ok(not_found(&req.method));
        };
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(not_found(&req.method)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(OriginError::Refused(format!("{}: {e}", path.display())));
            }
            Err(e) => {
                return Err(OriginError::Protocol(format!(
                    "local origin: {}: {e}",
                    path.display()
                )));
            }
        };
        let meta = file
            .metadata()
            .await
            .map_err(|e| OriginError::Protocol(format!("local origin: {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Ok(not_found(&req.method));
        }
        let len = meta.len();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mtime = modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let etag = format!(
            "\"{len:x}-{:x}-{:x}\"",
            mtime.as_secs(),
            mtime.subsec_nanos()
        );
        let last_modified = httpdate::fmt_http_date(modified);

        let mut builder = Response::builder()
            .header(header::ETAG, &etag)
            .header(header::LAST_MODIFIED, &last_modified)
            .header(header::CONTENT_TYPE, content_type(&path));
        if not_modified(&req.headers, &etag, modified) {
            let resp = builder.status(StatusCode::NOT_MODIFIED).body(Body::empty());
            return resp.map_err(|e| OriginError::Protocol(e.to_string()));
        }
        builder = builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len);
        let body = if req.method == Method::HEAD {
            Body::empty()
        } else {
            stream_file(file, len)
        };
        builder
            .body(body)
            .map_err(|e| OriginError::Protocol(e.to_string()))
    }
}

impl super::Origin for LocalDirOrigin {
    fn fetch(&self, req: OriginRequest) -> OriginFuture<'_> {
        Box::pin(self.fetch_inner(req))
    }
}

/// The relative path a request names, after the safety checks of the module docs.
fn safe_relative_path(path_and_query: &str) -> Result<PathBuf, OriginError> {
    let refuse = |why: &str| {
        Err(OriginError::Refused(format!(
            "path {path_and_query:?}: {why}"
        )))
    };
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return refuse("encoded slashes are not allowed");
    }
    if path.contains('\\') {
        return refuse("backslashes are not allowed");
    }
    let Ok(decoded) = percent_decode_str(path).decode_utf8() else {
        return refuse("the path is not UTF-8 once decoded");
    };
    if decoded.contains('\0') {
        return refuse("NUL is not allowed");
    }
    if decoded.contains('\\') {
        return refuse("backslashes are not allowed");
    }
    let mut out = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." | ".." => return refuse("'.' and '..' segments are not allowed"),
            s => out.push(s),
        }
    }
    Ok(out)
}

/// Whether the viewer's validators match (`If-None-Match` wins over `If-Modified-Since`).
fn not_modified(headers: &http::HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag);
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        && let Ok(since) = httpdate::parse_http_date(ims)
    {
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        return secs(modified) <= secs(since);
    }
    false
}

/// The file's bytes, exactly `len` of them, in chunks of up to 64 KiB.
fn stream_file(file: tokio::fs::File, len: u64) -> Body {
    let stream = futures_util::stream::unfold((file, len), |(mut file, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        let want = usize::try_from(remaining.min(CHUNK as u64)).unwrap_or(CHUNK);
        let mut buf = BytesMut::zeroed(want);
        match file.read(&mut buf).await {
            Ok(0) => Some((
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while being sent",
                )),
                (file, 0),
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<Bytes, io::Error>(buf.freeze()),
                    (file, remaining - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Body::from_stream(stream)
}

fn not_found(method: &Method) -> Response<Body> {
    error_page(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
        method,
    )
}

/// A small S3-style XML error.
fn error_page(status: StatusCode, code: &str, message: &str, method: &Method) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    );
    let mut resp = Response::new(if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(xml.clone())
    });
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(xml.len()));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    resp
}

/// Content-Type by file extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "md" => "text/markdown",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "pdf" => "application/pdf",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests;
