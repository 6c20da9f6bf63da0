//! The journal's record format: a [`Line`] packed as raw bytes, so a request thread only copies
//! its record's values into a buffer, the journal writer appends them to disk as they are, and
//! escaping and number formatting happen only when the journal is read.
//!
//! The format is edgegate's own (journal files are `.rec`; a change of format gets a new
//! extension). A record is a fixed-size head and then its text values back to back. The head
//! holds the numbers as little-endian `u64`s (`i64` bits for the time, `u16`s for status and
//! port; an absent optional number is 0 with its flag clear), a flags byte (HTTPS, IPv6, and
//! which optional numbers are present), the client address in 16 bytes (an IPv4 address in the
//! first 4), and each text value's length as a `u32` (`u32::MAX` for an absent value). The head
//! is copied in one piece, so packing a record is one small array fill and a copy per text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::record::Line;

/// A text length that stands for an absent value.
const ABSENT: u32 = u32::MAX;
/// Text values per record, in [`texts`] order.
const TEXTS: usize = 21;
/// The fixed-size head of a record: 11 `u64`s, 2 `u16`s, a flags byte, 16 address bytes and
/// the [`TEXTS`] lengths.
const HEAD: usize = 11 * 8 + 2 * 2 + 1 + 16 + TEXTS * 4;
const TEXT_LENGTHS: usize = HEAD - TEXTS * 4;

const HTTPS: u8 = 1;
const V6: u8 = 2;
const CONTENT_LENGTH: u8 = 4;
const RANGE: u8 = 8;
const ORIGIN_LATENCY: u8 = 16;

/// The text values of `l`, in the order they are packed.
fn texts<'a>(l: &Line<'a>) -> [Option<&'a [u8]>; TEXTS] {
    [
        Some(l.pop),
        Some(l.method),
        l.distribution_domain,
        Some(l.path),
        l.referer,
        l.user_agent,
        l.query,
        l.cookie,
        Some(l.result_type),
        Some(l.request_id),
        l.host_header,
        l.forwarded_for,
        l.tls.map(|t| t.0),
        l.tls.map(|t| t.1),
        Some(l.response_result_type),
        Some(l.version),
        Some(l.detailed_result_type),
        l.content_type,
        l.distribution_id,
        Some(l.billing_region),
        Some(l.ttl_class),
    ]
}

/// Appends `l` to `out`: the head (numbers, flags, address and text lengths), then the texts.
pub fn pack(l: &Line<'_>, out: &mut Vec<u8>) {
    let texts = texts(l);
    let mut head = [0u8; HEAD];
    let mut flags = u8::from(l.https) * HTTPS;
    let numbers = [
        l.end_ms as u64,
        l.sc_bytes,
        l.cs_bytes,
        l.time_taken_us,
        l.ttfb_us,
        l.origin_bytes_out,
        l.origin_bytes_in,
        l.content_length.unwrap_or(0),
        l.range.map_or(0, |r| r.0),
        l.range.map_or(0, |r| r.1),
        l.origin_latency_us.unwrap_or(0),
    ];
    for (i, n) in numbers.into_iter().enumerate() {
        head[i * 8..i * 8 + 8].copy_from_slice(&n.to_le_bytes());
    }
    head[88..90].copy_from_slice(&l.status.to_le_bytes());
    head[90..92].copy_from_slice(&l.client_port.to_le_bytes());
    match l.client_ip {
        IpAddr::V4(v4) => head[93..97].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => {
            flags |= V6;
            head[93..109].copy_from_slice(&v6.octets());
        }
    }
    for (present, flag) in [
        (l.content_length.is_some(), CONTENT_LENGTH),
        (l.range.is_some(), RANGE),
        (l.origin_latency_us.is_some(), ORIGIN_LATENCY),
    ] {
        if present {
            flags |= flag;
        }
    }
    head[92] = flags;
    let mut total = 0;
    for (i, t) in texts.iter().enumerate() {
        // Text longer than 4 GiB cannot reach here: hyper limits request heads to far less.
        let len = t.map_or(ABSENT, |t| t.len().min(ABSENT as usize - 1) as u32);
        let at = TEXT_LENGTHS + i * 4;
        head[at..at + 4].copy_from_slice(&len.to_le_bytes());
        total += t.map_or(0, |t| t.len());
    }
    out.reserve(HEAD + total);
    out.extend_from_slice(&head);
    for t in texts.into_iter().flatten() {
        out.extend_from_slice(&t[..t.len().min(ABSENT as usize - 1)]);
    }
}

/// Unpacks the record at the start of `buf`; returns it and what follows it. `None` if `buf`
/// does not start with a whole packed record.
pub fn unpack(buf: &[u8]) -> Option<(Line<'_>, &[u8])> {
    let (head, mut rest) = buf.split_first_chunk::<HEAD>()?;
    let u64_at = |i: usize| u64::from_le_bytes(head[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let u16_at = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]);
    let flags = head[92];
    let mut texts: [Option<&[u8]>; TEXTS] = [None; TEXTS];
    for (i, t) in texts.iter_mut().enumerate() {
        let at = TEXT_LENGTHS + i * 4;
        let len = u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        if len != ABSENT {
            let (text, after) = rest.split_at_checked(usize::try_from(len).ok()?)?;
            *t = Some(text);
            rest = after;
        }
    }
    let [
        pop,
        method,
        distribution_domain,
        path,
        referer,
        user_agent,
        query,
        cookie,
        result_type,
        request_id,
        host_header,
        forwarded_for,
        tls_protocol,
        tls_cipher,
        response_result_type,
        version,
        detailed_result_type,
        content_type,
        distribution_id,
        billing_region,
        ttl_class,
    ] = texts;
    let mut v6 = [0u8; 16];
    v6.copy_from_slice(&head[93..109]);
    let client_ip = if flags & V6 != 0 {
        IpAddr::V6(Ipv6Addr::from(v6))
    } else {
        IpAddr::V4(Ipv4Addr::new(v6[0], v6[1], v6[2], v6[3]))
    };
    let line = Line {
        end_ms: u64_at(0) as i64,
        pop: pop?,
        sc_bytes: u64_at(1),
        client_ip,
        method: method?,
        distribution_domain,
        path: path?,
        status: u16_at(88),
        referer,
        user_agent,
        query,
        cookie,
        result_type: result_type?,
        request_id: request_id?,
        host_header,
        https: flags & HTTPS != 0,
        cs_bytes: u64_at(2),
        time_taken_us: u64_at(3),
        forwarded_for,
        tls: tls_protocol.zip(tls_cipher),
        response_result_type: response_result_type?,
        version: version?,
        client_port: u16_at(90),
        ttfb_us: u64_at(4),
        detailed_result_type: detailed_result_type?,
        content_type,
        content_length: (flags & CONTENT_LENGTH != 0).then(|| u64_at(7)),
        range: (flags & RANGE != 0).then(|| (u64_at(8), u64_at(9))),
        distribution_id,
        billing_region: billing_region?,
        ttl_class: ttl_class?,
        origin_bytes_out: u64_at(5),
        origin_bytes_in: u64_at(6),
        origin_latency_us: (flags & ORIGIN_LATENCY != 0).then(|| u64_at(10)),
    };
    Some((line, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::w3c::tests::{bare_record, full_record};

    #[test]
    fn packed_lines_round_trip_back_to_back() {
        let (full, bare) = (full_record(), bare_record());
        let mut buf = Vec::new();
        pack(&full.line(), &mut buf);
        pack(&bare.line(), &mut buf);
        pack(&full.line(), &mut buf);
        let mut rest = &buf[..];
        for want in [&full, &bare, &full] {
            let (line, after) = unpack(rest).expect("a whole packed line");
            assert_eq!(line, want.line());
            rest = after;
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn a_cut_short_buffer_unpacks_to_none() {
        let mut buf = Vec::new();
        pack(&full_record().line(), &mut buf);
        for cut in 0..buf.len() {
            assert!(unpack(&buf[..cut]).is_none(), "cut at {cut}");
        }
        assert!(unpack(&[]).is_none());
    }
}
