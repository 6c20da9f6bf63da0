//! The journal's record format: a [`Line`] packed as raw bytes, in the order the data plane
//! learns its values, so a request copies each value once, when it is known, the journal writer
//! appends records to disk as they are, and escaping and number formatting happen only when the
//! journal is read.
//!
//! The format is edgegate's own, version 2 (journal files are `.rec2`; a change of format gets a
//! new extension, so a journal written by another version is never misread). A record is:
//!
//! 1. the [`Arrival`]: a byte holding whether TLS values follow and the codes of the method and
//!    protocol version (0 when the text follows instead: an extension method), then its texts
//!    in [`Packer::arrive`]'s order;
//! 2. the content type;
//! 3. the [`Departure`]: a flags byte (HTTPS, IPv6, which optional numbers are present, and
//!    whether the detailed result type differs from the result type and so follows as text),
//!    one byte each for the result type, the response result type, the billing region and the
//!    TTL class, the status and the client port as little-endian `u16`s, the client address (4
//!    or 16 bytes), the numbers as LEB128 varints, then its texts.
//!
//! A text is a varint of its length plus one, then its bytes; an absent text is a single 0.
//! Packing is a copy per text and a few bytes per number; a typical cache hit packs to about
//! 200 bytes, which is what each request writes to the page cache.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::record::{Arrival, Departure, Line, ResultType, TtlClass};
use crate::config::BillingRegion;

/// Arrival flag: TLS protocol and cipher follow the other texts.
const TLS: u8 = 1;
/// Methods by code (1 for the first); bits 1–4 of the arrival byte.
const METHODS: [&[u8]; 9] = [
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
];
/// Protocol versions by code (1 for the first); bits 5–7 of the arrival byte.
const VERSIONS: [&[u8]; 5] = [
    b"HTTP/0.9",
    b"HTTP/1.0",
    b"HTTP/1.1",
    b"HTTP/2.0",
    b"HTTP/3.0",
];

const HTTPS: u8 = 1;
const V6: u8 = 2;
const CONTENT_LENGTH: u8 = 4;
const RANGE: u8 = 8;
const ORIGIN_LATENCY: u8 = 16;
const DETAILED_TEXT: u8 = 32;

/// The most a departure's fixed part and numbers take: flags, four codes, status, port, an
/// IPv6 address and eleven 10-byte varints.
const DEPARTURE_HEAD: usize = 1 + 4 + 2 + 2 + 16 + 11 * 10;

/// A record being packed as its request goes: [`Packer::arrive`] when the request comes in,
/// [`Packer::respond`] once the response head is known (skipped when there is no response),
/// then [`Packer::finish_into`] when the response has ended.
#[derive(Debug)]
pub struct Packer {
    buf: Vec<u8>,
    responded: bool,
}

impl Packer {
    /// Starts a record with the request's values (copied).
    pub fn arrive(a: &Arrival<'_>) -> Packer {
        let opt_len = |t: Option<&[u8]>| t.map_or(0, <[u8]>::len);
        let texts = a.pop.len()
            + a.method.len()
            + a.version.len()
            + a.path.len()
            + opt_len(a.query)
            + opt_len(a.host_header)
            + opt_len(a.referer)
            + opt_len(a.user_agent)
            + opt_len(a.cookie)
            + opt_len(a.forwarded_for)
            + a.request_id.len()
            + a.tls.map_or(0, |(p, c)| p.len() + c.len());
        // Room for the length prefixes, a content type and the departure, so the record is
        // built in one allocation.
        let mut buf = Vec::with_capacity(1 + texts + 13 * 5 + 64 + DEPARTURE_HEAD + 96);
        let (method, version) = (code(&METHODS, a.method), code(&VERSIONS, a.version));
        buf.push((u8::from(a.tls.is_some()) * TLS) | (method << 1) | (version << 5));
        put_text(Some(a.pop), &mut buf);
        if method == 0 {
            put_text(Some(a.method), &mut buf);
        }
        if version == 0 {
            put_text(Some(a.version), &mut buf);
        }
        for t in [
            Some(a.path),
            a.query,
            a.host_header,
            a.referer,
            a.user_agent,
            a.cookie,
            a.forwarded_for,
            Some(a.request_id),
        ] {
            put_text(t, &mut buf);
        }
        if let Some((protocol, cipher)) = a.tls {
            put_text(Some(protocol), &mut buf);
            put_text(Some(cipher), &mut buf);
        }
        Packer {
            buf,
            responded: false,
        }
    }

    /// Adds the response's content type (copied). Only the first call counts.
    pub fn respond(&mut self, content_type: Option<&[u8]>) {
        if !self.responded {
            self.responded = true;
            put_text(content_type, &mut self.buf);
        }
    }

    /// Appends the whole record to `out`: what it holds, then `d`.
    pub fn finish_into(&self, d: &Departure<'_>, out: &mut Vec<u8>) {
        out.reserve(self.buf.len() + 1 + DEPARTURE_HEAD + 64);
        out.extend_from_slice(&self.buf);
        if !self.responded {
            put_text(None, out);
        }
        put_departure(d, out);
    }
}

fn put_departure(d: &Departure<'_>, out: &mut Vec<u8>) {
    let detailed_text = d.detailed_result_type != d.result_type.as_str().as_bytes();
    let mut head = [0u8; DEPARTURE_HEAD];
    head[0] = (u8::from(d.https) * HTTPS)
        | (u8::from(matches!(d.client_ip, IpAddr::V6(_))) * V6)
        | (u8::from(d.content_length.is_some()) * CONTENT_LENGTH)
        | (u8::from(d.range.is_some()) * RANGE)
        | (u8::from(d.origin_latency_us.is_some()) * ORIGIN_LATENCY)
        | (u8::from(detailed_text) * DETAILED_TEXT);
    head[1] = result_code(d.result_type);
    head[2] = result_code(d.response_result_type);
    head[3] = region_code(d.billing_region);
    head[4] = match d.ttl_class {
        None => 0,
        Some(TtlClass::Static) => 1,
        Some(TtlClass::Dynamic) => 2,
    };
    head[5..7].copy_from_slice(&d.status.to_le_bytes());
    head[7..9].copy_from_slice(&d.client_port.to_le_bytes());
    let mut at = 9;
    match d.client_ip {
        IpAddr::V4(v4) => {
            head[at..at + 4].copy_from_slice(&v4.octets());
            at += 4;
        }
        IpAddr::V6(v6) => {
            head[at..at + 16].copy_from_slice(&v6.octets());
            at += 16;
        }
    }
    // The numbers, in order; the optional ones only when present (as the flags say).
    let mut put = |mut n: u64| {
        while n >= 0x80 {
            head[at] = n as u8 | 0x80;
            n >>= 7;
            at += 1;
        }
        head[at] = n as u8;
        at += 1;
    };
    put(d.end_ms as u64);
    put(d.sc_bytes);
    put(d.cs_bytes);
    put(d.time_taken_us);
    put(d.ttfb_us);
    put(d.origin_bytes_out);
    put(d.origin_bytes_in);
    if let Some(n) = d.content_length {
        put(n);
    }
    if let Some((start, end)) = d.range {
        put(start);
        put(end);
    }
    if let Some(n) = d.origin_latency_us {
        put(n);
    }
    out.extend_from_slice(&head[..at]);
    if detailed_text {
        put_text(Some(d.detailed_result_type), out);
    }
    put_text(d.distribution_id, out);
    put_text(d.distribution_domain, out);
}

/// Appends a text: its length plus one as a varint, then its bytes; an absent text is one 0.
#[inline(always)]
fn put_text(t: Option<&[u8]>, out: &mut Vec<u8>) {
    let Some(t) = t else {
        out.push(0);
        return;
    };
    let mut n = t.len() as u64 + 1;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(t);
}

/// Appends `l`, packed, to `out`. The request path packs in steps instead ([`Packer`]); this is
/// the same packing in one go.
pub fn pack(l: &Line<'_>, out: &mut Vec<u8>) {
    let mut p = Packer::arrive(&l.arrival);
    p.respond(l.content_type);
    p.finish_into(&l.departure, out);
}

/// `v`'s code in `table`: its position plus one, or 0 when it is not there.
fn code(table: &[&[u8]], v: &[u8]) -> u8 {
    table
        .iter()
        .position(|t| *t == v)
        .map_or(0, |i| i as u8 + 1)
}

/// The value coded `code` in `table`, or (code 0) the text at the start of `buf`; and what
/// follows.
fn take_coded<'a>(
    table: &[&'static [u8]],
    code: u8,
    buf: &'a [u8],
) -> Option<(&'a [u8], &'a [u8])> {
    match code {
        0 => match take_text(buf)? {
            (Some(t), rest) => Some((t, rest)),
            (None, _) => None,
        },
        c => Some((table.get(usize::from(c) - 1)?, buf)),
    }
}

fn result_code(r: ResultType) -> u8 {
    ResultType::ALL.iter().position(|x| *x == r).unwrap_or(0) as u8
}

fn region_code(r: BillingRegion) -> u8 {
    BillingRegion::ALL.iter().position(|x| *x == r).unwrap_or(0) as u8
}

/// A LEB128 varint at the start of `buf`, and what follows it.
fn take_varint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None;
        }
        n |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, &buf[i + 1..]));
        }
    }
    None
}

/// A text at the start of `buf` (`Some(None)` for an absent one), and what follows it.
fn take_text(buf: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let (n, rest) = take_varint(buf)?;
    if n == 0 {
        return Some((None, rest));
    }
    let len = usize::try_from(n - 1).ok()?;
    let (text, rest) = rest.split_at_checked(len)?;
    Some((Some(text), rest))
}

/// Reads texts from `buf` into `out`, in order.
fn take_texts<'a, const N: usize>(
    mut buf: &'a [u8],
    out: &mut [Option<&'a [u8]>; N],
) -> Option<&'a [u8]> {
    for t in out.iter_mut() {
        let (text, rest) = take_text(buf)?;
        *t = text;
        buf = rest;
    }
    Some(buf)
}

/// Unpacks the record at the start of `buf`; returns it and what follows it. `None` if `buf`
/// does not start with a whole, well-formed packed record.
pub fn unpack(buf: &[u8]) -> Option<(Line<'_>, &[u8])> {
    let (&arrival, rest) = buf.split_first()?;
    let (pop, rest) = take_text(rest)?;
    let (method, rest) = take_coded(&METHODS, (arrival >> 1) & 0xf, rest)?;
    let (version, rest) = take_coded(&VERSIONS, arrival >> 5, rest)?;
    let mut texts = [None; 8];
    let rest = take_texts(rest, &mut texts)?;
    let [
        path,
        query,
        host_header,
        referer,
        user_agent,
        cookie,
        forwarded_for,
        request_id,
    ] = texts;
    let (tls, rest) = if arrival & TLS != 0 {
        let mut t = [None; 2];
        let rest = take_texts(rest, &mut t)?;
        (Some((t[0]?, t[1]?)), rest)
    } else {
        (None, rest)
    };
    let (content_type, rest) = take_text(rest)?;
    let (&flags, rest) = rest.split_first()?;
    if flags & !(HTTPS | V6 | CONTENT_LENGTH | RANGE | ORIGIN_LATENCY | DETAILED_TEXT) != 0 {
        return None;
    }
    let (codes, mut rest) = rest.split_first_chunk::<8>()?;
    let result = |c: u8| ResultType::ALL.get(usize::from(c)).copied();
    let result_type = result(codes[0])?;
    let response_result_type = result(codes[1])?;
    let billing_region = BillingRegion::ALL.get(usize::from(codes[2])).copied()?;
    let ttl_class = match codes[3] {
        0 => None,
        1 => Some(TtlClass::Static),
        2 => Some(TtlClass::Dynamic),
        _ => return None,
    };
    let status = u16::from_le_bytes([codes[4], codes[5]]);
    let client_port = u16::from_le_bytes([codes[6], codes[7]]);
    let client_ip = if flags & V6 != 0 {
        let (v6, after) = rest.split_first_chunk::<16>()?;
        rest = after;
        IpAddr::V6(Ipv6Addr::from(*v6))
    } else {
        let (v4, after) = rest.split_first_chunk::<4>()?;
        rest = after;
        IpAddr::V4(Ipv4Addr::from(*v4))
    };
    let mut number = || {
        let (n, after) = take_varint(rest)?;
        rest = after;
        Some(n)
    };
    let end_ms = number()? as i64;
    let sc_bytes = number()?;
    let cs_bytes = number()?;
    let time_taken_us = number()?;
    let ttfb_us = number()?;
    let origin_bytes_out = number()?;
    let origin_bytes_in = number()?;
    let content_length = if flags & CONTENT_LENGTH != 0 {
        Some(number()?)
    } else {
        None
    };
    let range = if flags & RANGE != 0 {
        Some((number()?, number()?))
    } else {
        None
    };
    let origin_latency_us = if flags & ORIGIN_LATENCY != 0 {
        Some(number()?)
    } else {
        None
    };
    let (detailed_result_type, rest) = if flags & DETAILED_TEXT != 0 {
        match take_text(rest)? {
            (Some(t), rest) => (t, rest),
            (None, _) => return None,
        }
    } else {
        (result_type.as_str().as_bytes(), rest)
    };
    let mut t = [None; 2];
    let rest = take_texts(rest, &mut t)?;
    let [distribution_id, distribution_domain] = t;
    let line = Line {
        arrival: Arrival {
            pop: pop?,
            method,
            version,
            path: path?,
            query,
            host_header,
            referer,
            user_agent,
            cookie,
            forwarded_for,
            request_id: request_id?,
            tls,
        },
        content_type,
        departure: Departure {
            end_ms,
            client_ip,
            client_port,
            https: flags & HTTPS != 0,
            status,
            sc_bytes,
            cs_bytes,
            time_taken_us,
            ttfb_us,
            result_type,
            response_result_type,
            detailed_result_type,
            content_length,
            range,
            distribution_id,
            distribution_domain,
            billing_region,
            ttl_class,
            origin_bytes_out,
            origin_bytes_in,
            origin_latency_us,
        },
    };
    Some((line, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::w3c::tests::{bare_line, full_line};

    #[test]
    fn packed_lines_round_trip_back_to_back() {
        let (full, bare) = (full_line(), bare_line());
        let mut buf = Vec::new();
        pack(&full, &mut buf);
        pack(&bare, &mut buf);
        pack(&full, &mut buf);
        let mut rest = &buf[..];
        for want in [&full, &bare, &full] {
            let (line, after) = unpack(rest).expect("a whole packed line");
            assert_eq!(&line, want);
            rest = after;
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn every_value_survives_packing() {
        // Extremes of every number, both address families, every code and optional value.
        let mut l = full_line();
        let cookie = vec![b'c'; 70_000];
        l.arrival.cookie = Some(&cookie);
        l.arrival.tls = None;
        // An extension method and a version outside the table travel as text.
        l.arrival.method = b"PROPFIND";
        l.arrival.version = b"-";
        for (i, (n, ip)) in [
            (0, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            (
                u64::MAX,
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            ),
            (127, IpAddr::V4(Ipv4Addr::BROADCAST)),
            (128, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        ]
        .into_iter()
        .enumerate()
        {
            let d = &mut l.departure;
            d.end_ms = n as i64;
            (d.sc_bytes, d.cs_bytes, d.time_taken_us, d.ttfb_us) = (n, n, n, n);
            (d.origin_bytes_out, d.origin_bytes_in) = (n, n);
            d.content_length = (i % 2 == 0).then_some(n);
            d.range = (i % 2 == 1).then_some((n, n / 2));
            d.origin_latency_us = (i < 2).then_some(n);
            d.client_ip = ip;
            d.status = n as u16;
            d.client_port = !(n as u16);
            d.https = i % 2 == 0;
            d.result_type = ResultType::ALL[i];
            d.response_result_type = ResultType::ALL[6 - i];
            d.billing_region = BillingRegion::ALL[i * 3];
            d.ttl_class = [None, Some(TtlClass::Static), Some(TtlClass::Dynamic), None][i];
            d.distribution_id = (i != 3).then_some(b"E1".as_slice());
            let mut buf = Vec::new();
            pack(&l, &mut buf);
            assert_eq!(unpack(&buf), Some((l, &[][..])), "case {i}");
        }
    }

    #[test]
    fn a_record_packed_in_steps_is_the_record_packed_at_once() {
        for l in [full_line(), bare_line()] {
            let mut p = Packer::arrive(&l.arrival);
            if l.content_type.is_some() {
                p.respond(l.content_type);
                // A second content type is ignored.
                p.respond(Some(b"x/y"));
            }
            let mut stepped = Vec::new();
            p.finish_into(&l.departure, &mut stepped);
            let mut once = Vec::new();
            pack(&l, &mut once);
            assert_eq!(stepped, once);
        }
    }

    #[test]
    fn the_format_is_the_one_journals_were_written_in() {
        // `.rec2` files written by earlier builds must keep reading back the same: these bytes
        // are what they hold for the two test records.
        let hex = |h: &str| -> Vec<u8> {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
                .collect()
        };
        for (line, golden) in [
            (
                full_line(),
                concat!(
                    "83054c415831122f61253230622f696e6465782e68746d6c0a783d3126793d253745107777772e65",
                    "78616d706c652e636f6d1d68747470733a2f2f7265662e6578616d706c652f706167653f713d312a",
                    "4d6f7a696c6c612f352e30202857696e646f7773204e542031302e303b2057696e36343b20783634",
                    "290b613d313b20623d2232221a3139382e35312e3130302e312c203230332e302e3131332e393953",
                    "4f583478776e34585636513472676237586956474f486d735f42476c544143344b79486d7572655a",
                    "6d424e726a4764524c694e49513d3d08544c5376312e321c45434448452d5253412d414553313238",
                    "2d47434d2d53484132353619746578742f68746d6c3b20636861727365743d7574662d3805000000",
                    "01c800202bc0000264d2eee295ed2d880317dc0bf30300004e1045444644564244364558414d504c",
                    "451e64313131313131616263646566382e636c6f756466726f6e742e6e6574",
                ),
            ),
            (
                bare_line(),
                concat!(
                    "660946524135362d5031022f00010000000004616263003a03020200000005000000000000000000",
                    "000000000000000100007800d285d8cc04ac0200006387ad4b14436c69656e7448756e6755705265",
                    "71756573740000",
                ),
            ),
        ] {
            let mut buf = Vec::new();
            pack(&line, &mut buf);
            assert_eq!(buf, hex(golden));
            assert_eq!(unpack(&buf), Some((line, &[][..])));
        }
    }

    #[test]
    fn a_cut_short_or_damaged_buffer_unpacks_to_none() {
        let mut buf = Vec::new();
        pack(&full_line(), &mut buf);
        for cut in 0..buf.len() {
            assert!(unpack(&buf[..cut]).is_none(), "cut at {cut}");
        }
        assert!(unpack(&[]).is_none());
        // A code outside its table is not read as something else.
        let mut bad_code = buf.clone();
        bad_code[0] = 0xff;
        assert!(unpack(&bad_code).is_none());
        // A varint longer than 64 bits.
        assert_eq!(take_varint(&[0xff; 10]), None);
        assert_eq!(
            take_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Some((u64::MAX, &[][..]))
        );
    }
}
