//! CloudFront's standard access-log line (W3C extended format, 33 TAB-separated fields) and
//! edgegate's journal line (the same 33 fields followed by [`EXT_FIELDS`]).
//!
//! Everything here is pure formatting and parsing, no I/O. [`journal_line`] runs for every
//! record whenever the journal is read (log delivery, reports), so it only appends bytes to the
//! caller's buffer: digits come from `itoa` and escaping copies unescaped runs whole.
//!
//! Escaping follows CloudFront (RFC 1738 style): bytes 0x00–0x20, 0x7F and above, and
//! ``<>"#%{}|\^~[]`'`` become `%XX` with uppercase hex; everything else, including `( ) ; , /`,
//! stays literal. A `%` already in a URL is escaped again, which is why CloudFront logs show
//! `%2520` for an encoded space; edgegate keeps that. Because TAB, CR and LF are always escaped,
//! a field can never break the line apart.

use std::net::IpAddr;

use super::record::{EXT_FIELDS, Entry, Line, ResultType, TtlClass};
use super::usage::{civil_from_days, days_from_civil};
use crate::config::BillingRegion;

/// The first header line of a CloudFront standard log file.
pub const VERSION_LINE: &str = "#Version: 1.0";

/// The second header line: the 33 field names, separated by single spaces.
pub const FIELDS_LINE: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

/// The 33 standard-log fields, in CloudFront's order.
pub const FIELDS: [&str; 33] = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
];

/// Number of fields on a journal line: the 33 standard fields and the 6 extension fields.
const JOURNAL_FIELDS: usize = FIELDS.len() + EXT_FIELDS.len();

/// Latest instant a log line can carry (9999-12-31T23:59:59.999Z), so dates stay four digits.
const MAX_MS: i64 = 253_402_300_799_999;

/// Longest field value quoted back in a [`ParseError`].
const MAX_QUOTED: usize = 64;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether CloudFront writes this byte as `%XX`.
const fn escapes(b: u8) -> bool {
    b <= 0x20
        || b >= 0x7F
        || matches!(
            b,
            b'<' | b'>'
                | b'"'
                | b'#'
                | b'%'
                | b'{'
                | b'}'
                | b'|'
                | b'\\'
                | b'^'
                | b'~'
                | b'['
                | b']'
                | b'`'
                | b'\''
        )
}

/// [`escapes`] as a table, one lookup per byte.
const ESCAPE_TABLE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = escapes(i as u8);
        i += 1;
    }
    t
};

fn needs_escape(b: u8) -> bool {
    ESCAPE_TABLE[usize::from(b)]
}

/// Appends `raw` with CloudFront's escaping: bytes 0x00–0x20, ≥ 0x7F and ``<>"#%{}|\^~[]`'``
/// become `%XX` (uppercase hex); everything else is copied literally. What it appends is always
/// ASCII.
pub fn escape(raw: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        // Eight bytes at a time while none of them needs escaping (the common case).
        if let Some(chunk) = raw[i..].first_chunk::<8>() {
            let mut any = false;
            for &b in chunk {
                any |= needs_escape(b);
            }
            if !any {
                i += 8;
                continue;
            }
        }
        let b = raw[i];
        if needs_escape(b) {
            out.extend_from_slice(&raw[start..i]);
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0F)]]);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&raw[start..]);
}

/// Appends an escaped free-text value, or `-` when it is absent or empty.
fn push_text(raw: Option<&[u8]>, out: &mut Vec<u8>) {
    match raw {
        Some(v) if !v.is_empty() => escape(v, out),
        _ => out.push(b'-'),
    }
}

/// Appends `n` in decimal without allocating.
fn push_u64(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` with at least `width` digits, zero-padded.
fn push_padded(n: u64, width: usize, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

/// Appends microseconds as seconds with exactly three decimals, rounding half up.
fn push_secs_3(us: u64, out: &mut Vec<u8>) {
    let ms = us / 1_000 + u64::from(us % 1_000 >= 500);
    push_u64(ms / 1_000, out);
    out.push(b'.');
    push_padded(ms % 1_000, 3, out);
}

/// Appends microseconds as seconds with exactly six decimals.
fn push_secs_6(us: u64, out: &mut Vec<u8>) {
    push_u64(us / 1_000_000, out);
    out.push(b'.');
    push_padded(us % 1_000_000, 6, out);
}

/// Appends an address as `Display` writes it; IPv4 by hand, as nearly every viewer has one.
fn push_ip(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(u64::from(octet), out);
            }
        }
        IpAddr::V6(_) => {
            use std::io::Write as _;
            let _ = write!(out, "{ip}");
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Appends `YYYY-MM-DD` for a day number.
fn push_date(days: i64, out: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days(days);
    push_padded(y.clamp(0, 9_999) as u64, 4, out);
    out.push(b'-');
    push_padded(u64::from(m), 2, out);
    out.push(b'-');
    push_padded(u64::from(d), 2, out);
}

/// Appends `YYYY-MM-DD<TAB>HH:MM:SS<TAB>` for `secs` (Unix seconds, 0 to 9999-12-31). Each
/// thread keeps the last second it formatted, as consecutive records nearly always share it.
fn push_date_time(secs: i64, out: &mut Vec<u8>) {
    const LEN: usize = 20;
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; LEN])> = const { std::cell::Cell::new((-1, [0; LEN])) };
    }
    let (last, text) = LAST.get();
    if last == secs {
        out.extend_from_slice(&text);
        return;
    }
    let start = out.len();
    push_date(secs.div_euclid(86_400), out);
    out.push(b'\t');
    let sod = secs.rem_euclid(86_400) as u64;
    push_padded(sod / 3_600, 2, out);
    out.push(b':');
    push_padded(sod / 60 % 60, 2, out);
    out.push(b':');
    push_padded(sod % 60, 2, out);
    out.push(b'\t');
    if let Ok(text) = <[u8; LEN]>::try_from(&out[start..]) {
        LAST.set((secs, text));
    }
}

/// Appends the journal line of `r` (a record read back from the journal): the 33 standard
/// fields, then the 7 [`EXT_FIELDS`], all TAB-separated, ending with `\n`.
pub fn journal_line(r: &Line<'_>, out: &mut Vec<u8>) {
    push_line(r, true, true, out);
}

/// Appends CloudFront's standard log line for `r`: the first 33 fields of its journal line,
/// with `cs(Cookie)` as `-` unless `include_cookies`, ending with `\n`.
pub fn standard_line_of(r: &Line<'_>, include_cookies: bool, out: &mut Vec<u8>) {
    push_line(r, include_cookies, false, out);
}

fn push_line(r: &Line<'_>, cookie: bool, extension: bool, out: &mut Vec<u8>) {
    let (a, d) = (&r.arrival, &r.departure);
    let ms = d.end_ms.clamp(0, MAX_MS);
    let tab = |out: &mut Vec<u8>| out.push(b'\t');

    // 1 date, 2 time
    push_date_time(ms / 1_000, out);
    // 3 x-edge-location
    push_text(Some(a.pop), out);
    tab(out);
    // 4 sc-bytes
    push_u64(d.sc_bytes, out);
    tab(out);
    // 5 c-ip (an IpAddr only ever prints hex digits, dots and colons)
    push_ip(d.client_ip, out);
    tab(out);
    // 6 cs-method
    push_text(Some(a.method), out);
    tab(out);
    // 7 cs(Host)
    push_text(d.distribution_domain, out);
    tab(out);
    // 8 cs-uri-stem
    push_text(Some(a.path), out);
    tab(out);
    // 9 sc-status
    push_padded(u64::from(d.status), 3, out);
    tab(out);
    // 10 cs(Referer), 11 cs(User-Agent), 12 cs-uri-query, 13 cs(Cookie)
    for v in [
        a.referer,
        a.user_agent,
        a.query,
        a.cookie.filter(|_| cookie),
    ] {
        push_text(v, out);
        tab(out);
    }
    // 14 x-edge-result-type, 15 x-edge-request-id, 16 x-host-header
    push_text(Some(d.result_type.as_str().as_bytes()), out);
    tab(out);
    push_text(Some(a.request_id), out);
    tab(out);
    push_text(a.host_header, out);
    tab(out);
    // 17 cs-protocol, 18 cs-bytes, 19 time-taken, 20 x-forwarded-for
    out.extend_from_slice(if d.https { b"https" } else { b"http" });
    tab(out);
    push_u64(d.cs_bytes, out);
    tab(out);
    push_secs_3(d.time_taken_us, out);
    tab(out);
    push_text(a.forwarded_for, out);
    tab(out);
    // 21 ssl-protocol, 22 ssl-cipher
    match a.tls {
        Some((proto, cipher)) => {
            push_text(Some(proto), out);
            tab(out);
            push_text(Some(cipher), out);
        }
        None => out.extend_from_slice(b"-\t-"),
    }
    tab(out);
    // 23 x-edge-response-result-type, 24 cs-protocol-version, 25 fle-status,
    // 26 fle-encrypted-fields
    push_text(Some(d.response_result_type.as_str().as_bytes()), out);
    tab(out);
    push_text(Some(a.version), out);
    out.extend_from_slice(b"\t-\t-\t");
    // 27 c-port, 28 time-to-first-byte, 29 x-edge-detailed-result-type
    push_u64(u64::from(d.client_port), out);
    tab(out);
    push_secs_3(d.ttfb_us, out);
    tab(out);
    push_text(Some(d.detailed_result_type), out);
    tab(out);
    // 30 sc-content-type, 31 sc-content-len
    push_text(r.content_type, out);
    tab(out);
    match d.content_length {
        Some(n) => push_u64(n, out),
        None => out.push(b'-'),
    }
    tab(out);
    // 32 sc-range-start, 33 sc-range-end
    match d.range {
        Some((first, last)) => {
            push_u64(first, out);
            tab(out);
            push_u64(last, out);
        }
        None => out.extend_from_slice(b"-\t-"),
    }
    if !extension {
        out.push(b'\n');
        return;
    }
    tab(out);

    // Extension fields.
    push_text(d.distribution_id, out);
    tab(out);
    push_text(Some(d.billing_region.code().as_bytes()), out);
    tab(out);
    push_text(
        Some(d.ttl_class.map_or("-", TtlClass::as_str).as_bytes()),
        out,
    );
    tab(out);
    push_u64(d.origin_bytes_out, out);
    tab(out);
    push_u64(d.origin_bytes_in, out);
    tab(out);
    match d.origin_latency_us {
        Some(us) => push_secs_6(us, out),
        None => out.push(b'-'),
    }
    tab(out);
    push_text(d.origin_shield.map(|r| r.code().as_bytes()), out);
    out.push(b'\n');
}

/// The `#Fields:` line of the journal as text (`edgegate usage journal`): the 33 standard fields,
/// then [`EXT_FIELDS`], ending with `\n`.
pub fn journal_fields_line() -> String {
    let mut s = String::from(FIELDS_LINE);
    for f in EXT_FIELDS {
        s.push(' ');
        s.push_str(f);
    }
    s.push('\n');
    s
}

/// The two header lines of a standard log file, each ending with `\n`.
pub fn header() -> String {
    format!("{VERSION_LINE}\n{FIELDS_LINE}\n")
}

/// Why a log or journal line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line has the wrong number of TAB-separated fields.
    #[error("expected {expected} tab-separated fields, found {found}")]
    FieldCount {
        /// What was expected (`39`, `at least 33`).
        expected: &'static str,
        /// How many fields the line has.
        found: usize,
    },
    /// One field holds a value that cannot be read.
    #[error("field {field} is {value:?}: {reason}")]
    Field {
        /// The field's name (`sc-bytes`, `x-billing-region`, …).
        field: &'static str,
        /// The value found (cut to 64 characters).
        value: String,
        /// What was expected instead.
        reason: &'static str,
    },
}

fn field_error(field: &'static str, value: &str, reason: &'static str) -> ParseError {
    let mut end = value.len().min(MAX_QUOTED);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    ParseError::Field {
        field,
        value: value[..end].to_string(),
        reason,
    }
}

fn strip_eol(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Parses a run of ASCII digits (no sign, no spaces) of at most `max_len` characters.
fn parse_digits(s: &str, max_len: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_u64(field: &'static str, s: &str) -> Result<u64, ParseError> {
    parse_digits(s, 20).ok_or_else(|| field_error(field, s, "expected a non-negative integer"))
}

/// Parses `YYYY-MM-DD` into a day number.
fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || !s.is_ascii() || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = parse_digits(&s[0..4], 4)? as i64;
    let month = parse_digits(&s[5..7], 2)? as u32;
    let day = parse_digits(&s[8..10], 2)? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses `HH:MM:SS` into seconds of the day.
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 8 || !s.is_ascii() || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = parse_digits(&s[0..2], 2)?;
    let m = parse_digits(&s[3..5], 2)?;
    let sec = parse_digits(&s[6..8], 2)?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some((h * 3_600 + m * 60 + sec) as i64)
}

fn parse_result(
    field: &'static str,
    s: &str,
    strict: bool,
) -> Result<Option<ResultType>, ParseError> {
    if s == "-" {
        return Ok(None);
    }
    match ResultType::parse(s) {
        Some(r) => Ok(Some(r)),
        None if strict => Err(field_error(field, s, "not a CloudFront result type")),
        // CloudFront has values edgegate never writes (LambdaExecutionError, …).
        None => Ok(None),
    }
}

/// Reads the 33 standard fields into an [`Entry`] with the extension values unknown.
/// `strict` (journal lines) also rejects result types edgegate does not write.
fn parse_standard_fields(
    f: &[&str],
    distribution_id: &str,
    strict: bool,
) -> Result<Entry, ParseError> {
    let day = parse_date(f[0]).ok_or_else(|| field_error("date", f[0], "expected YYYY-MM-DD"))?;
    let sod = parse_time(f[1]).ok_or_else(|| field_error("time", f[1], "expected HH:MM:SS"))?;
    let status = match parse_digits(f[8], 3) {
        Some(n) if f[8].len() == 3 => n as u16,
        _ => return Err(field_error("sc-status", f[8], "expected three digits")),
    };
    let https = match f[16] {
        "https" | "wss" | "grpcs" => true,
        "http" | "ws" | "grpc" => false,
        other => return Err(field_error("cs-protocol", other, "expected http or https")),
    };
    let referer = (f[9] != "-").then(|| f[9].to_string());
    Ok(Entry {
        time: day * 86_400 + sod,
        pop: f[2].to_string(),
        sc_bytes: parse_u64("sc-bytes", f[3])?,
        client_ip: f[4].to_string(),
        method: f[5].to_string(),
        host: f[6].to_string(),
        uri_stem: f[7].to_string(),
        status,
        referer,
        result_type: parse_result("x-edge-result-type", f[13], strict)?,
        https,
        cs_bytes: parse_u64("cs-bytes", f[17])?,
        response_result_type: parse_result("x-edge-response-result-type", f[22], strict)?,
        distribution_id: distribution_id.to_string(),
        billing_region: None,
        ttl_class: None,
        origin_bytes_out: 0,
        origin_shield: None,
    })
}

/// Parses a journal line (40 fields; a trailing `\n` is allowed). Lines starting with `#` are
/// not journal lines; the caller skips them.
pub fn parse_journal(line: &str) -> Result<Entry, ParseError> {
    let line = strip_eol(line);
    let mut fields = [""; JOURNAL_FIELDS];
    let mut found = 0;
    for field in line.split('\t') {
        if found < JOURNAL_FIELDS {
            fields[found] = field;
        }
        found += 1;
    }
    if found != JOURNAL_FIELDS {
        return Err(ParseError::FieldCount {
            expected: "40",
            found,
        });
    }
    let ext = &fields[FIELDS.len()..];
    let distribution_id = ext[0];
    if distribution_id.is_empty() {
        return Err(field_error(
            EXT_FIELDS[0],
            distribution_id,
            "expected an id or -",
        ));
    }
    let mut entry = parse_standard_fields(&fields[..FIELDS.len()], distribution_id, true)?;
    entry.billing_region = match ext[1] {
        "-" => None,
        code => Some(
            code.parse::<BillingRegion>()
                .map_err(|_| field_error(EXT_FIELDS[1], code, "not a billing region code"))?,
        ),
    };
    entry.ttl_class = match ext[2] {
        "-" => None,
        "Static" => Some(TtlClass::Static),
        "Dynamic" => Some(TtlClass::Dynamic),
        other => {
            return Err(field_error(
                EXT_FIELDS[2],
                other,
                "expected Static, Dynamic or -",
            ));
        }
    };
    entry.origin_bytes_out = parse_u64(EXT_FIELDS[3], ext[3])?;
    parse_u64(EXT_FIELDS[4], ext[4])?;
    if ext[5] != "-" && !is_decimal(ext[5]) {
        return Err(field_error(
            EXT_FIELDS[5],
            ext[5],
            "expected seconds (e.g. 0.012345) or -",
        ));
    }
    entry.origin_shield = match ext[6] {
        "-" => None,
        code => Some(
            code.parse::<BillingRegion>()
                .map_err(|_| field_error(EXT_FIELDS[6], code, "not a billing region code"))?,
        ),
    };
    Ok(entry)
}

/// `digits.digits`, as written for seconds.
fn is_decimal(s: &str) -> bool {
    match s.split_once('.') {
        Some((i, f)) => parse_digits(i, 20).is_some() && parse_digits(f, 9).is_some(),
        None => false,
    }
}

/// Parses a line of a CloudFront standard log (33 or more fields; later fields are ignored).
/// `distribution_id` comes from the file name ([`parse_object_name`]). The extension values
/// are unknown: no billing region, no TTL class, 0 origin bytes. Lines starting with `#` are
/// headers; the caller skips them.
pub fn parse_standard(line: &str, distribution_id: &str) -> Result<Entry, ParseError> {
    let line = strip_eol(line);
    let mut fields = [""; FIELDS.len()];
    let mut found = 0;
    for field in line.split('\t') {
        if found < FIELDS.len() {
            fields[found] = field;
        }
        found = found.saturating_add(1);
    }
    if found < FIELDS.len() {
        return Err(ParseError::FieldCount {
            expected: "at least 33",
            found,
        });
    }
    parse_standard_fields(&fields, distribution_id, false)
}

/// The object key of a standard log file: `{prefix}{DIST}.YYYY-MM-DD-HH.{unique}.gz`, for the
/// hour that contains `hour_start_unix` (UTC). A non-empty prefix that does not end with `/`
/// gets one, as CloudFront does.
pub fn object_name(
    prefix: &str,
    distribution_id: &str,
    hour_start_unix: i64,
    unique: &str,
) -> String {
    let mut out = String::with_capacity(prefix.len() + distribution_id.len() + unique.len() + 20);
    out.push_str(prefix);
    if !prefix.is_empty() && !prefix.ends_with('/') {
        out.push('/');
    }
    out.push_str(distribution_id);
    out.push('.');
    push_hour_stamp(hour_start_unix, &mut out);
    out.push('.');
    out.push_str(unique);
    out.push_str(".gz");
    out
}

/// Reads a standard log file's key (only its last `/` segment is looked at): the distribution
/// id and the start of its hour (Unix seconds). `None` when the name is not
/// `DIST.YYYY-MM-DD-HH.UNIQUE.gz`.
pub fn parse_object_name(key: &str) -> Option<(String, i64)> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".gz")?;
    let (dist, rest) = stem.split_once('.')?;
    let (date_hour, unique) = rest.split_once('.')?;
    if dist.is_empty() || !dist.bytes().all(|b| b.is_ascii_alphanumeric()) || unique.is_empty() {
        return None;
    }
    Some((dist.to_string(), parse_hour_stamp(date_hour)?))
}

/// Appends `YYYY-MM-DD-HH` (UTC) for the hour holding `unix` (seconds), as CloudFront's log
/// file names and edgegate's journal files spell an hour.
pub fn push_hour_stamp(unix: i64, out: &mut String) {
    let secs = unix.clamp(0, MAX_MS / 1_000);
    let mut stamp = Vec::with_capacity(13);
    push_date(secs.div_euclid(86_400), &mut stamp);
    stamp.push(b'-');
    push_padded((secs.rem_euclid(86_400) / 3_600) as u64, 2, &mut stamp);
    // Digits and dashes only.
    out.push_str(std::str::from_utf8(&stamp).unwrap_or("0000-00-00-00"));
}

/// Parses `YYYY-MM-DD-HH` (UTC) into the hour's start, Unix seconds.
pub fn parse_hour_stamp(s: &str) -> Option<i64> {
    if s.len() != 13 || !s.is_ascii() || s.as_bytes()[10] != b'-' {
        return None;
    }
    let day = parse_date(&s[..10])?;
    let hour = parse_digits(&s[11..], 2)?;
    if hour > 23 {
        return None;
    }
    Some(day * 86_400 + hour as i64 * 3_600)
}

#[cfg(test)]
pub(crate) mod tests;
