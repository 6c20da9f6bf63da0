//! Edge compression (caching.md §13): gzip and Brotli, as CloudFront compresses.
//!
//! A behavior with `Compress` on whose cache policy enables an encoding compresses an origin
//! answer when CloudFront would: status 200, 403 or 404, no `Content-Encoding` from the
//! origin, a `Content-Length` between 1,000 and 10,000,000 bytes and one of CloudFront's
//! compressible content types. The encoding is the one the normalised `Accept-Encoding` of the
//! cache key names (Brotli when the viewer accepts both), so each variant is compressed once,
//! when its fill completes, and cached under its own key.
//!
//! The work itself ([`compress`]) is synchronous and CPU-bound; the pipeline runs it on a
//! blocking thread, never on a worker's event loop.

use std::io::Write;

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

/// The smallest body CloudFront compresses, in bytes.
pub const MIN_SIZE: u64 = 1_000;
/// The largest body CloudFront compresses, in bytes.
pub const MAX_SIZE: u64 = 10_000_000;

/// gzip level: zlib's default, most of level 9's ratio at a fraction of its time.
const GZIP_LEVEL: u32 = 6;
/// Brotli quality: 5 compresses better than gzip 6 at a comparable speed; 11 costs tens of
/// times more per byte on a miss for a few per cent.
const BROTLI_QUALITY: u32 = 5;
/// Brotli window (log2 of its size), the encoder's usual default.
const BROTLI_WINDOW: u32 = 22;

/// The content types CloudFront compresses (caching.md §13), sorted for binary search.
const COMPRESSIBLE: &[&str] = &[
    "application/dash+xml",
    "application/eot",
    "application/font",
    "application/font-sfnt",
    "application/javascript",
    "application/json",
    "application/opentype",
    "application/otf",
    "application/pdf",
    "application/pkcs7-mime",
    "application/protobuf",
    "application/rss+xml",
    "application/truetype",
    "application/ttf",
    "application/vnd.apple.mpegurl",
    "application/vnd.mapbox-vector-tile",
    "application/vnd.ms-fontobject",
    "application/wasm",
    "application/x-font-opentype",
    "application/x-font-truetype",
    "application/x-font-ttf",
    "application/x-httpd-cgi",
    "application/x-javascript",
    "application/x-mpegurl",
    "application/x-opentype",
    "application/x-otf",
    "application/x-perl",
    "application/x-ttf",
    "application/xhtml+xml",
    "application/xml",
    "font/eot",
    "font/opentype",
    "font/otf",
    "font/ttf",
    "image/svg+xml",
    "text/css",
    "text/csv",
    "text/html",
    "text/javascript",
    "text/js",
    "text/plain",
    "text/richtext",
    "text/tab-separated-values",
    "text/x-component",
    "text/x-java-source",
    "text/x-script",
    "text/xml",
    "vnd.apple.mpegurl",
];

/// An encoding the edge compresses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }

    /// The encoding a viewer gets from a behavior that compresses, given the normalised
    /// `Accept-Encoding` of its cache key (`br,gzip`, `br`, `gzip` or `identity`, already
    /// limited to what the cache policy enables): Brotli when it is named, else gzip.
    pub fn for_key(normalized: Option<&str>) -> Option<Encoding> {
        match normalized? {
            "br,gzip" | "br" => Some(Encoding::Brotli),
            "gzip" => Some(Encoding::Gzip),
            _ => None,
        }
    }
}

/// Why a body could not be compressed.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// The encoder failed to write.
    #[error("compressing with {0}: {1}")]
    Encode(&'static str, #[source] std::io::Error),
}

/// Whether CloudFront compresses an origin answer with this status and these headers
/// (caching.md §13).
pub fn eligible(status: StatusCode, headers: &HeaderMap) -> bool {
    if !matches!(status.as_u16(), 200 | 403 | 404) || headers.contains_key(header::CONTENT_ENCODING)
    {
        return false;
    }
    let Some(len) = super::headers::content_length(headers) else {
        return false;
    };
    (MIN_SIZE..=MAX_SIZE).contains(&len)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(compressible_type)
}

/// Whether a `Content-Type` value names one of CloudFront's compressible types (parameters and
/// case ignored).
pub fn compressible_type(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    COMPRESSIBLE.binary_search(&media.as_str()).is_ok()
}

/// Compresses `body` with `encoding`. CPU-bound: run it on a blocking thread.
pub fn compress(encoding: Encoding, body: &[u8]) -> Result<Vec<u8>, CompressError> {
    let out = Vec::with_capacity(body.len() / 3 + 64);
    match encoding {
        Encoding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            enc.write_all(body)
                .and_then(|()| enc.finish())
                .map_err(|e| CompressError::Encode("gzip", e))
        }
        Encoding::Brotli => {
            let mut enc =
                brotli::CompressorWriter::new(out, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
            enc.write_all(body)
                .and_then(|()| enc.flush())
                .map_err(|e| CompressError::Encode("br", e))?;
            Ok(enc.into_inner())
        }
    }
}

/// Rewrites the origin's headers for the compressed body of `len` bytes: `Content-Encoding`,
/// `Content-Length`, a weak `ETag` (caching.md §8, §13) and `Vary: Accept-Encoding`.
pub fn mark(headers: &mut HeaderMap, encoding: Encoding, len: usize) {
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding.token()),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(etag) = headers.get(header::ETAG)
        && !etag.as_bytes().starts_with(b"W/")
    {
        let mut weak = b"W/".to_vec();
        weak.extend_from_slice(etag.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&weak) {
            headers.insert(header::ETAG, v);
        }
    }
    let varies = headers.get_all(header::VARY).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|t| {
            t.trim_ascii().eq_ignore_ascii_case(b"accept-encoding") || t.trim_ascii() == b"*"
        })
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// After a 304 refreshed a stored object's headers: when the stored ETag is the weak form the
/// edge gave a compressed variant (`W/"x"`) and the 304 brought back the origin's strong `"x"`,
/// the weak one is kept, since the stored bytes are still the compressed ones.
pub fn keep_weak_etag(stored: &HeaderMap, refreshed: &mut HeaderMap) {
    let (Some(old), Some(new)) = (stored.get(header::ETAG), refreshed.get(header::ETAG)) else {
        return;
    };
    if old.as_bytes().strip_prefix(b"W/") == Some(new.as_bytes()) {
        let old = old.clone();
        refreshed.insert(header::ETAG, old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_sorted_and_matched_without_parameters() {
        assert!(COMPRESSIBLE.windows(2).all(|w| w[0] < w[1]));
        assert!(compressible_type("Text/JavaScript; charset=utf-8"));
        assert!(!compressible_type("image/png"));
    }

    #[test]
    fn eligibility_follows_cloudfront() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(5_000));
        assert!(eligible(StatusCode::OK, &h));
        assert!(eligible(StatusCode::NOT_FOUND, &h));
        assert!(!eligible(StatusCode::INTERNAL_SERVER_ERROR, &h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(999));
        assert!(!eligible(StatusCode::OK, &h));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(10_000_001));
        assert!(!eligible(StatusCode::OK, &h));
    }

    #[test]
    fn mark_weakens_and_varies() {
        let mut h = HeaderMap::new();
        h.insert(header::ETAG, HeaderValue::from_static("\"abc\""));
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        mark(&mut h, Encoding::Brotli, 42);
        assert_eq!(h[header::ETAG], "W/\"abc\"");
        assert_eq!(h[header::CONTENT_LENGTH], "42");
        assert_eq!(h[header::CONTENT_ENCODING], "br");
        assert_eq!(h.get_all(header::VARY).iter().count(), 2);
    }
}
