//! The layout of one disk cache file: a checksummed head (the key, the stored response head
//! and its cache metadata), the body as it is sent, and a trailer written last.
//!
//! ```text
//! magic "EGDISK01" | head length (u32 LE) | head | head CRC-32 (u32 LE) | body | trailer
//! trailer: body CRC-32 (u32 LE) | body length (u64 LE) | magic "EGDISKOK"
//! ```
//!
//! The head holds, in order: the key's bytes, the distribution id, the path and query (what
//! invalidations match), status, the times (milliseconds since the Unix epoch or durations in
//! milliseconds: stored, written, TTL, origin `Age`, `stale-while-revalidate`,
//! `stale-if-error` + 1 with 0 for none, keep), the body length and the headers. Every length
//! is checked against what is left, so a truncated or corrupted file is refused, never
//! misread; the body starts at a known offset, from which `sendfile` sends it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"EGDISK01";
/// The trailer's last bytes: present only once the whole file was written.
pub const END: &[u8; 8] = b"EGDISKOK";
/// Bytes of the trailer.
pub const TRAILER_LEN: u64 = 4 + 8 + 8;
/// Bytes before the head: magic and head length.
pub const PREFIX_LEN: u64 = 8 + 4;
/// The largest head read back (a stored response head is far smaller).
pub const MAX_HEAD: u32 = 1 << 20;

/// Why a file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Not a cache file of this version.
    #[error("not an edgegate cache file (bad magic)")]
    Magic,
    /// The head is cut short or its fields do not add up.
    #[error("truncated or malformed head")]
    Head,
    /// The head's checksum does not match.
    #[error("head checksum mismatch")]
    HeadChecksum,
    /// The trailer is missing or does not match the head (a torn write).
    #[error("missing or mismatched trailer")]
    Trailer,
    /// The body's checksum does not match.
    #[error("body checksum mismatch")]
    BodyChecksum,
    /// The file's length is not the head's and body's.
    #[error("file length does not match its head")]
    Length,
}

/// What a file's head says.
#[derive(Debug, Clone)]
pub struct Head {
    /// The cache key's bytes.
    pub key: Vec<u8>,
    /// The distribution.
    pub dist_id: String,
    /// The path and query invalidations match.
    pub path_and_query: String,
    /// The origin's status.
    pub status: StatusCode,
    /// When the response was received (the edge's clock).
    pub stored_at: SystemTime,
    /// When the file was written (the system's clock; compared with invalidations' times).
    pub written_at: SystemTime,
    /// Freshness lifetime.
    pub ttl: Duration,
    /// The origin's `Age` on arrival.
    pub origin_age: Duration,
    /// `stale-while-revalidate`.
    pub while_revalidate: Duration,
    /// `stale-if-error`, if given.
    pub if_error: Option<Duration>,
    /// How long it is held after expiry.
    pub keep: Duration,
    /// The body's length.
    pub body_len: u64,
    /// The stored headers.
    pub headers: HeaderMap,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, ms)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The file's bytes before the body: prefix, head and the head's checksum.
pub fn encode_head(h: &Head) -> Vec<u8> {
    let mut head = Vec::with_capacity(256 + h.key.len());
    put_bytes(&mut head, &h.key);
    put_bytes(&mut head, h.dist_id.as_bytes());
    put_bytes(&mut head, h.path_and_query.as_bytes());
    head.extend_from_slice(&h.status.as_u16().to_le_bytes());
    for v in [
        since_epoch(h.stored_at),
        since_epoch(h.written_at),
        ms(h.ttl),
        ms(h.origin_age),
        ms(h.while_revalidate),
        h.if_error.map_or(0, |d| ms(d).saturating_add(1)),
        ms(h.keep),
        h.body_len,
    ] {
        head.extend_from_slice(&v.to_le_bytes());
    }
    head.extend_from_slice(&(h.headers.len() as u32).to_le_bytes());
    for (name, value) in &h.headers {
        put_bytes(&mut head, name.as_str().as_bytes());
        put_bytes(&mut head, value.as_bytes());
    }
    let mut out = Vec::with_capacity(head.len() + PREFIX_LEN as usize + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&crc(&head).to_le_bytes());
    out
}

/// The trailer of a body of `len` bytes with checksum `body_crc`.
pub fn trailer(body_crc: u32, len: u64) -> [u8; TRAILER_LEN as usize] {
    let mut t = [0u8; TRAILER_LEN as usize];
    t[..4].copy_from_slice(&body_crc.to_le_bytes());
    t[4..12].copy_from_slice(&len.to_le_bytes());
    t[12..].copy_from_slice(END);
    t
}

/// CRC-32 of `bytes`.
pub fn crc(bytes: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(bytes);
    c.sum()
}

/// The head's length from the file's first [`PREFIX_LEN`] bytes.
pub fn head_len(prefix: &[u8]) -> Result<u32, FormatError> {
    if prefix.len() < PREFIX_LEN as usize || &prefix[..8] != MAGIC {
        return Err(FormatError::Magic);
    }
    let len = u32::from_le_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
    if len > MAX_HEAD {
        return Err(FormatError::Head);
    }
    Ok(len)
}

/// Where the body starts in a file whose head is `head_len` bytes.
pub fn body_offset(head_len: u32) -> u64 {
    PREFIX_LEN + u64::from(head_len) + 4
}

/// Reads a head: `bytes` is the head followed by its checksum.
pub fn decode_head(bytes: &[u8]) -> Result<Head, FormatError> {
    let split = bytes.len().checked_sub(4).ok_or(FormatError::Head)?;
    let (head, sum) = bytes.split_at(split);
    if crc(head).to_le_bytes() != sum {
        return Err(FormatError::HeadChecksum);
    }
    let mut r = Reader(head);
    let key = r.bytes()?.to_vec();
    let dist_id = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| FormatError::Head)?;
    let path_and_query = String::from_utf8(r.bytes()?.to_vec()).map_err(|_| FormatError::Head)?;
    let status =
        StatusCode::from_u16(u16::from_le_bytes(r.array::<2>()?)).map_err(|_| FormatError::Head)?;
    let mut n = || r.u64();
    let stored_at = UNIX_EPOCH + Duration::from_millis(n()?);
    let written_at = UNIX_EPOCH + Duration::from_millis(n()?);
    let ttl = Duration::from_millis(n()?);
    let origin_age = Duration::from_millis(n()?);
    let while_revalidate = Duration::from_millis(n()?);
    let if_error = match n()? {
        0 => None,
        v => Some(Duration::from_millis(v - 1)),
    };
    let keep = Duration::from_millis(n()?);
    let body_len = n()?;
    let count = u32::from_le_bytes(r.array::<4>()?);
    let mut headers = HeaderMap::new();
    for _ in 0..count {
        let name = HeaderName::from_bytes(r.bytes()?).map_err(|_| FormatError::Head)?;
        let value = HeaderValue::from_bytes(r.bytes()?).map_err(|_| FormatError::Head)?;
        headers.append(name, value);
    }
    if !r.0.is_empty() {
        return Err(FormatError::Head);
    }
    Ok(Head {
        key,
        dist_id,
        path_and_query,
        status,
        stored_at,
        written_at,
        ttl,
        origin_age,
        while_revalidate,
        if_error,
        keep,
        body_len,
        headers,
    })
}

/// Checks a trailer against the head's body length; returns the body's checksum.
pub fn check_trailer(t: &[u8], body_len: u64) -> Result<u32, FormatError> {
    if t.len() != TRAILER_LEN as usize || &t[12..] != END {
        return Err(FormatError::Trailer);
    }
    let len = u64::from_le_bytes(t[4..12].try_into().map_err(|_| FormatError::Trailer)?);
    if len != body_len {
        return Err(FormatError::Trailer);
    }
    Ok(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(FormatError::Head);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        self.take(N)?.try_into().map_err(|_| FormatError::Head)
    }

    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array::<8>()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], FormatError> {
        let n = u32::from_le_bytes(self.array::<4>()?) as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Head {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        Head {
            key: b"3:D1|/a".to_vec(),
            dist_id: "D1".into(),
            path_and_query: "/a?x=1".into(),
            status: StatusCode::OK,
            stored_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            written_at: UNIX_EPOCH + Duration::from_millis(1_700_000_000_456),
            ttl: Duration::from_secs(86_400),
            origin_age: Duration::from_secs(3),
            while_revalidate: Duration::from_secs(5),
            if_error: Some(Duration::ZERO),
            keep: Duration::from_secs(10),
            body_len: 42,
            headers,
        }
    }

    #[test]
    fn a_head_reads_back_field_for_field() {
        let bytes = encode_head(&sample());
        let len = head_len(&bytes).unwrap();
        assert_eq!(body_offset(len), bytes.len() as u64);
        let back = decode_head(&bytes[PREFIX_LEN as usize..]).unwrap();
        let s = sample();
        assert_eq!(back.key, s.key);
        assert_eq!(back.path_and_query, s.path_and_query);
        assert_eq!(back.stored_at, s.stored_at);
        assert_eq!(back.if_error, Some(Duration::ZERO));
        assert_eq!(back.headers, s.headers);
        assert_eq!(back.body_len, 42);
    }

    #[test]
    fn a_damaged_head_or_trailer_is_refused() {
        let bytes = encode_head(&sample());
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert_eq!(
            decode_head(&bad[PREFIX_LEN as usize..]).unwrap_err(),
            FormatError::HeadChecksum
        );
        assert_eq!(
            decode_head(&bytes[PREFIX_LEN as usize..bytes.len() - 9]).unwrap_err(),
            FormatError::HeadChecksum
        );
        assert_eq!(
            head_len(b"EGDISK00\0\0\0\0").unwrap_err(),
            FormatError::Magic
        );
        let t = trailer(7, 42);
        assert_eq!(check_trailer(&t, 42), Ok(7));
        assert_eq!(check_trailer(&t, 41), Err(FormatError::Trailer));
        assert_eq!(check_trailer(&t[..19], 42), Err(FormatError::Trailer));
    }
}
