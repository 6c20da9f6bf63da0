//! The journal's record format: a [`Line`] packed as raw bytes, so a request thread only copies
//! its record's values into a buffer, the journal writer appends them to disk as they are, and
//! escaping and number formatting happen only when the journal is read.
//!
//! The format is edgegate's own (journal files are `.rec`; a change of format gets a new
//! extension): numbers are little-endian `u64`s
//! (`i64` for the time, `u16` for status and port), a text value is a `u32` length and its
//! bytes (length `u32::MAX` for an absent value), an address is a family byte (4 or 6) and its
//! octets, and optional numbers are a presence byte and the number.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::record::Line;

const ABSENT: u32 = u32::MAX;

/// Appends `l` to `out`.
pub fn pack(l: &Line<'_>, out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.i64(l.end_ms);
    w.text(l.pop);
    w.u64(l.sc_bytes);
    w.ip(l.client_ip);
    w.text(l.method);
    w.opt_text(l.distribution_domain);
    w.text(l.path);
    w.u16(l.status);
    w.opt_text(l.referer);
    w.opt_text(l.user_agent);
    w.opt_text(l.query);
    w.opt_text(l.cookie);
    w.text(l.result_type);
    w.text(l.request_id);
    w.opt_text(l.host_header);
    w.0.push(u8::from(l.https));
    w.u64(l.cs_bytes);
    w.u64(l.time_taken_us);
    w.opt_text(l.forwarded_for);
    w.opt_text(l.tls.map(|t| t.0));
    w.opt_text(l.tls.map(|t| t.1));
    w.text(l.response_result_type);
    w.text(l.version);
    w.u16(l.client_port);
    w.u64(l.ttfb_us);
    w.text(l.detailed_result_type);
    w.opt_text(l.content_type);
    w.opt_u64(l.content_length);
    w.opt_u64(l.range.map(|r| r.0));
    w.opt_u64(l.range.map(|r| r.1));
    w.opt_text(l.distribution_id);
    w.text(l.billing_region);
    w.text(l.ttl_class);
    w.u64(l.origin_bytes_out);
    w.u64(l.origin_bytes_in);
    w.opt_u64(l.origin_latency_us);
}

/// Unpacks the line at the start of `buf`; returns it and what follows it. `None` if `buf` does
/// not start with a whole packed line.
pub fn unpack(buf: &[u8]) -> Option<(Line<'_>, &[u8])> {
    let mut r = Reader(buf);
    let end_ms = r.i64()?;
    let pop = r.text()?;
    let sc_bytes = r.u64()?;
    let client_ip = r.ip()?;
    let method = r.text()?;
    let distribution_domain = r.opt_text()?;
    let path = r.text()?;
    let status = r.u16()?;
    let referer = r.opt_text()?;
    let user_agent = r.opt_text()?;
    let query = r.opt_text()?;
    let cookie = r.opt_text()?;
    let result_type = r.text()?;
    let request_id = r.text()?;
    let host_header = r.opt_text()?;
    let https = r.byte()? != 0;
    let cs_bytes = r.u64()?;
    let time_taken_us = r.u64()?;
    let forwarded_for = r.opt_text()?;
    let tls = r.opt_text()?.zip(r.opt_text()?);
    let response_result_type = r.text()?;
    let version = r.text()?;
    let client_port = r.u16()?;
    let ttfb_us = r.u64()?;
    let detailed_result_type = r.text()?;
    let content_type = r.opt_text()?;
    let content_length = r.opt_u64()?;
    let range = r.opt_u64()?.zip(r.opt_u64()?);
    let distribution_id = r.opt_text()?;
    let billing_region = r.text()?;
    let ttl_class = r.text()?;
    let origin_bytes_out = r.u64()?;
    let origin_bytes_in = r.u64()?;
    let origin_latency_us = r.opt_u64()?;
    let line = Line {
        end_ms,
        pop,
        sc_bytes,
        client_ip,
        method,
        distribution_domain,
        path,
        status,
        referer,
        user_agent,
        query,
        cookie,
        result_type,
        request_id,
        host_header,
        https,
        cs_bytes,
        time_taken_us,
        forwarded_for,
        tls,
        response_result_type,
        version,
        client_port,
        ttfb_us,
        detailed_result_type,
        content_type,
        content_length,
        range,
        distribution_id,
        billing_region,
        ttl_class,
        origin_bytes_out,
        origin_bytes_in,
        origin_latency_us,
    };
    Some((line, r.0))
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn i64(&mut self, n: i64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn u16(&mut self, n: u16) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn opt_u64(&mut self, n: Option<u64>) {
        match n {
            Some(n) => {
                self.0.push(1);
                self.u64(n);
            }
            None => self.0.push(0),
        }
    }

    /// Text longer than 4 GiB cannot reach here: hyper limits request heads to far less.
    fn text(&mut self, t: &[u8]) {
        let len = u32::try_from(t.len()).unwrap_or(ABSENT - 1).min(ABSENT - 1);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(&t[..len as usize]);
    }

    fn opt_text(&mut self, t: Option<&[u8]>) {
        match t {
            Some(t) => self.text(t),
            None => self.0.extend_from_slice(&ABSENT.to_le_bytes()),
        }
    }

    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.0.push(4);
                self.0.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.0.push(6);
                self.0.extend_from_slice(&v6.octets());
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    fn opt_u64(&mut self) -> Option<Option<u64>> {
        match self.byte()? {
            0 => Some(None),
            _ => self.u64().map(Some),
        }
    }

    fn opt_text(&mut self) -> Option<Option<&'a [u8]>> {
        let len = u32::from_le_bytes(self.take()?);
        if len == ABSENT {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        if self.0.len() < len {
            return None;
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(Some(text))
    }

    fn text(&mut self) -> Option<&'a [u8]> {
        self.opt_text()?
    }

    fn ip(&mut self) -> Option<IpAddr> {
        match self.byte()? {
            4 => self.take::<4>().map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            6 => self.take::<16>().map(|o| IpAddr::V6(Ipv6Addr::from(o))),
            _ => None,
        }
    }
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
