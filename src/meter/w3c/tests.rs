//! Tests for the W3C / journal line formatting and parsing.

use http::{HeaderValue, Version};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::meter::record::{Arrival, Departure, Line, protocol_version};

/// A hit over HTTPS/2 with every optional value present.
pub(crate) fn full_line() -> Line<'static> {
    Line {
        arrival: Arrival {
            pop: b"LAX1",
            method: b"GET",
            version: b"HTTP/2.0",
            path: b"/a%20b/index.html",
            query: Some(b"x=1&y=%7E"),
            host_header: Some(b"www.example.com"),
            referer: Some(b"https://ref.example/page?q=1"),
            user_agent: Some(b"Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            cookie: Some(b"a=1; b=\"2\""),
            forwarded_for: Some(b"198.51.100.1, 203.0.113.9"),
            request_id: b"SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
            tls: Some((b"TLSv1.2", b"ECDHE-RSA-AES128-GCM-SHA256")),
        },
        content_type: Some(b"text/html; charset=utf-8"),
        departure: Departure {
            // 2019-12-04T21:02:31.250Z
            end_ms: 1_575_493_351_250,
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)),
            client_port: 11040,
            https: true,
            status: 200,
            sc_bytes: 392,
            cs_bytes: 23,
            time_taken_us: 1_500,
            ttfb_us: 499,
            result_type: ResultType::Hit,
            response_result_type: ResultType::Hit,
            detailed_result_type: b"Hit",
            content_length: Some(78),
            range: None,
            distribution_id: Some(b"EDFDVBD6EXAMPLE"),
            distribution_domain: Some(b"d111111abcdef8.cloudfront.net"),
            billing_region: BillingRegion::Us,
            ttl_class: Some(TtlClass::Static),
            origin_bytes_out: 0,
            origin_bytes_in: 0,
            origin_latency_us: None,
            origin_failed_over: false,
            origin_shield: None,
        },
    }
}

/// A viewer that went away before any response, over plain HTTP/1.1, nothing optional.
pub(crate) fn bare_line() -> Line<'static> {
    Line {
        arrival: Arrival {
            pop: b"FRA56-P1",
            method: b"POST",
            version: b"HTTP/1.1",
            path: b"/",
            query: None,
            host_header: Some(b""),
            referer: None,
            user_agent: None,
            cookie: None,
            forwarded_for: None,
            request_id: b"abc",
            tls: None,
        },
        content_type: None,
        departure: Departure {
            end_ms: 0,
            client_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            client_port: 5,
            https: false,
            status: 0,
            sc_bytes: 0,
            cs_bytes: 120,
            time_taken_us: 0,
            ttfb_us: 1_234_567_890,
            result_type: ResultType::Error,
            response_result_type: ResultType::Miss,
            detailed_result_type: b"ClientHungUpRequest",
            content_length: None,
            range: Some((0, 99)),
            distribution_id: None,
            distribution_domain: None,
            billing_region: BillingRegion::Eu,
            ttl_class: None,
            origin_bytes_out: 300,
            origin_bytes_in: 0,
            origin_latency_us: Some(1_234_567),
            origin_failed_over: false,
            origin_shield: None,
        },
    }
}

fn line_of(r: &Line<'_>) -> String {
    let mut s = Vec::new();
    journal_line(r, &mut s);
    String::from_utf8(s).unwrap()
}

fn escaped(raw: &[u8]) -> String {
    let mut s = Vec::new();
    escape(raw, &mut s);
    String::from_utf8(s).unwrap()
}

#[test]
fn header_lines_are_exact() {
    assert_eq!(FIELDS_LINE, format!("#Fields: {}", FIELDS.join(" ")));
    assert_eq!(header(), format!("{VERSION_LINE}\n{FIELDS_LINE}\n"));
    assert!(header().starts_with("#Version: 1.0\n#Fields: date time x-edge-location sc-bytes "));
    assert!(header().ends_with(" sc-range-start sc-range-end\n"));
    assert_eq!(header().lines().count(), 2);
}

#[test]
fn escape_follows_cloudfront() {
    assert_eq!(
        escaped(b"a b%20c<>\"#%{}|\\^~[]`'()/;,=&?:@!$*+.-_"),
        "a%20b%2520c%3C%3E%22%23%25%7B%7D%7C%5C%5E%7E%5B%5D%60%27()/;,=&?:@!$*+.-_"
    );
    assert_eq!(
        escaped(b"\x00\x1f\t\r\n\x7f\xc3\xa9"),
        "%00%1F%09%0D%0A%7F%C3%A9"
    );
    let mut s = b"keep:".to_vec();
    escape(b"", &mut s);
    assert_eq!(s, b"keep:");
}

#[test]
fn full_journal_line_is_exact() {
    let expected = [
        "2019-12-04",
        "21:02:31",
        "LAX1",
        "392",
        "192.0.2.100",
        "GET",
        "d111111abcdef8.cloudfront.net",
        "/a%2520b/index.html",
        "200",
        "https://ref.example/page?q=1",
        "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)",
        "x=1&y=%257E",
        "a=1;%20b=%222%22",
        "Hit",
        "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
        "www.example.com",
        "https",
        "23",
        "0.002",
        "198.51.100.1,%20203.0.113.9",
        "TLSv1.2",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "Hit",
        "HTTP/2.0",
        "-",
        "-",
        "11040",
        "0.000",
        "Hit",
        "text/html;%20charset=utf-8",
        "78",
        "-",
        "-",
        "EDFDVBD6EXAMPLE",
        "US",
        "Static",
        "0",
        "0",
        "-",
        "-",
    ]
    .join("\t")
        + "\n";
    assert_eq!(line_of(&full_line()), expected);
}

#[test]
fn bare_journal_line_uses_dashes_and_000() {
    let expected = [
        "1970-01-01",
        "00:00:00",
        "FRA56-P1",
        "0",
        "::1",
        "POST",
        "-",
        "/",
        "000",
        "-",
        "-",
        "-",
        "-",
        "Error",
        "abc",
        "-",
        "http",
        "120",
        "0.000",
        "-",
        "-",
        "-",
        "Miss",
        "HTTP/1.1",
        "-",
        "-",
        "5",
        "1234.568",
        "ClientHungUpRequest",
        "-",
        "-",
        "0",
        "99",
        "-",
        "EU",
        "-",
        "300",
        "0",
        "1.234567",
        "-",
    ]
    .join("\t")
        + "\n";
    assert_eq!(line_of(&bare_line()), expected);
}

#[test]
fn seconds_round_half_up() {
    let cases = [
        (0, "0.000"),
        (499, "0.000"),
        (500, "0.001"),
        (1_499, "0.001"),
        (1_500, "0.002"),
        (82_000, "0.082"),
        (999_500, "1.000"),
        (61_000_000, "61.000"),
    ];
    for (us, want) in cases {
        let mut s = Vec::new();
        push_secs_3(us, &mut s);
        assert_eq!(s, want.as_bytes(), "{us} µs");
    }
    let mut s = Vec::new();
    push_secs_6(7, &mut s);
    assert_eq!(s, b"0.000007");
    for (ip, want) in [
        ("192.0.2.10", "192.0.2.10"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"),
    ] {
        let mut s = Vec::new();
        push_ip(ip.parse().unwrap(), &mut s);
        assert_eq!(s, want.as_bytes());
    }
    let mut s = Vec::new();
    push_padded(7, 3, &mut s);
    push_padded(12_345, 2, &mut s);
    push_padded(u64::MAX, 1, &mut s);
    assert_eq!(s, b"0071234518446744073709551615");
}

#[test]
fn protocol_versions() {
    let mut r = bare_line();
    for (v, want) in [
        (Version::HTTP_09, "HTTP/0.9"),
        (Version::HTTP_10, "HTTP/1.0"),
        (Version::HTTP_11, "HTTP/1.1"),
        (Version::HTTP_2, "HTTP/2.0"),
        (Version::HTTP_3, "HTTP/3.0"),
    ] {
        r.arrival.version = protocol_version(v).as_bytes();
        let line = line_of(&r);
        assert_eq!(line.split('\t').nth(23), Some(want));
    }
}

#[test]
fn dates_across_years_and_leap_days() {
    let mut r = bare_line();
    for (ms, date, time) in [
        (951_782_400_000, "2000-02-29", "00:00:00"),
        (1_577_836_799_999, "2019-12-31", "23:59:59"),
        (1_577_836_800_000, "2020-01-01", "00:00:00"),
        (4_107_542_400_000, "2100-03-01", "00:00:00"),
        (-5, "1970-01-01", "00:00:00"),
        (i64::MAX, "9999-12-31", "23:59:59"),
        // The same second twice, then the next: the thread's remembered stamp is reused only
        // for its own second.
        (1_577_836_799_000, "2019-12-31", "23:59:59"),
        (1_577_836_799_500, "2019-12-31", "23:59:59"),
        (1_577_836_800_001, "2020-01-01", "00:00:00"),
        (1_577_836_799_999, "2019-12-31", "23:59:59"),
    ] {
        r.departure.end_ms = ms;
        let line = line_of(&r);
        let mut f = line.split('\t');
        assert_eq!((f.next(), f.next()), (Some(date), Some(time)), "{ms}");
    }
}

#[test]
fn standard_line_drops_cookies_unless_asked() {
    let full = full_line();
    let journal = line_of(&full);
    let mut out = b"x".to_vec();
    standard_line_of(&full, false, &mut out);
    let out = String::from_utf8(out).unwrap();
    let line = out.strip_prefix('x').unwrap();
    assert!(line.ends_with("\t-\t-\n"));
    let fields: Vec<&str> = line.trim_end_matches('\n').split('\t').collect();
    assert_eq!(fields.len(), 33);
    assert_eq!(fields[12], "-");
    assert_eq!(fields[..12], journal.split('\t').collect::<Vec<_>>()[..12]);

    let mut out = Vec::new();
    standard_line_of(&full, true, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.split('\t').nth(12), Some("a=1;%20b=%222%22"));
    assert_eq!(out.split('\t').count(), 33);

    // The journal line carries the extension fields after the 33 standard ones.
    let fields: Vec<&str> = journal.trim_end_matches('\n').split('\t').collect();
    assert_eq!(fields.len(), 40);
    assert_eq!(fields[33], "EDFDVBD6EXAMPLE");
    assert_eq!(fields[0], "2019-12-04");
    assert_eq!(fields[38], "-");
    let bare = line_of(&bare_line());
    assert_eq!(bare.trim_end_matches('\n').split('\t').nth(33), Some("-"));
}

#[test]
fn journal_round_trip() {
    let e = parse_journal(&line_of(&full_line())).unwrap();
    assert_eq!(
        e,
        Entry {
            time: 1_575_493_351,
            pop: "LAX1".into(),
            sc_bytes: 392,
            client_ip: "192.0.2.100".into(),
            method: "GET".into(),
            host: "d111111abcdef8.cloudfront.net".into(),
            uri_stem: "/a%2520b/index.html".into(),
            status: 200,
            referer: Some("https://ref.example/page?q=1".into()),
            result_type: Some(ResultType::Hit),
            https: true,
            cs_bytes: 23,
            response_result_type: Some(ResultType::Hit),
            distribution_id: "EDFDVBD6EXAMPLE".into(),
            billing_region: Some(BillingRegion::Us),
            ttl_class: Some(TtlClass::Static),
            origin_bytes_out: 0,
            origin_shield: None,
        }
    );
    let e = parse_journal(&line_of(&bare_line())).unwrap();
    assert_eq!(e.status, 0);
    assert_eq!(e.time, 0);
    assert!(!e.https);
    assert_eq!(e.referer, None);
    assert_eq!(e.result_type, Some(ResultType::Error));
    assert_eq!(e.response_result_type, Some(ResultType::Miss));
    assert_eq!(e.billing_region, Some(BillingRegion::Eu));
    assert_eq!(e.ttl_class, None);
    assert_eq!(e.origin_bytes_out, 300);
    assert_eq!(e.distribution_id, "-");
}

const CF_ERROR_LINE: &str = "2019-12-13\t22:36:27\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/favicon.ico\t502\thttp://www.example.com/\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)%20AppleWebKit/537.36%20(KHTML,%20like%20Gecko)%20Chrome/78.0.3904.108%20Safari/537.36\t-\t-\tError\t1pkpNfBQ39sYMnjjUQjmH2w1wdJnbHYTbag21o_3OfcQgPzdL2RSSQ==\twww.example.com\thttp\t675\t0.102\t-\t-\t-\tError\tHTTP/1.1\t-\t-\t25260\t0.102\tOriginDnsError\ttext/html\t507\t-\t-";

#[test]
fn parses_cloudfront_example_line() {
    let e = parse_standard(CF_ERROR_LINE, "EMLARXS9EXAMPLE").unwrap();
    assert_eq!(e.time, 1_576_276_587);
    assert_eq!(e.pop, "SEA19-C1");
    assert_eq!(e.sc_bytes, 900);
    assert_eq!(e.status, 502);
    assert_eq!(e.referer.as_deref(), Some("http://www.example.com/"));
    assert_eq!(e.result_type, Some(ResultType::Error));
    assert_eq!(e.cs_bytes, 675);
    assert!(!e.https);
    assert_eq!(e.distribution_id, "EMLARXS9EXAMPLE");
    assert_eq!(e.billing_region, None);
    assert_eq!(e.ttl_class, None);
    assert_eq!(e.origin_bytes_out, 0);
    // Extra trailing fields (distribution-tenant-id, connection-id) are ignored.
    let longer = format!("{CF_ERROR_LINE}\t-\t-\n");
    assert_eq!(parse_standard(&longer, "EMLARXS9EXAMPLE").unwrap(), e);
    // Result types edgegate never writes are unknown, not errors, in CloudFront logs...
    let lambda = CF_ERROR_LINE.replace("\tError\t1pkp", "\tLambdaExecutionError\t1pkp");
    assert_eq!(parse_standard(&lambda, "D").unwrap().result_type, None);
    // ...but a journal line must hold one of ours.
    let journal = line_of(&full_line()).replacen("\tHit\t", "\tLambdaExecutionError\t", 1);
    assert!(matches!(
        parse_journal(&journal),
        Err(ParseError::Field {
            field: "x-edge-result-type",
            ..
        })
    ));
}

#[test]
fn parse_errors_name_the_field() {
    let good = line_of(&full_line());
    let fields: Vec<&str> = good.trim_end().split('\t').collect();
    let with = |i: usize, v: &str| {
        let mut f = fields.clone();
        f[i] = v;
        f.join("\t")
    };
    let cases = [
        (0, "2019-13-01", "date"),
        (0, "2019-02-29", "date"),
        (1, "24:00:00", "time"),
        (3, "-1", "sc-bytes"),
        (8, "20", "sc-status"),
        (16, "ftp", "cs-protocol"),
        (17, "", "cs-bytes"),
        (34, "MX", "x-billing-region"),
        (35, "static", "x-ttl-class"),
        (36, "1e3", "x-origin-bytes-out"),
        (37, "99999999999999999999999", "x-origin-bytes-in"),
        (38, "1", "x-origin-latency"),
    ];
    for (i, v, name) in cases {
        match parse_journal(&with(i, v)) {
            Err(ParseError::Field { field, value, .. }) => {
                assert_eq!((field, value.as_str()), (name, v));
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(
        parse_journal("a\tb"),
        Err(ParseError::FieldCount {
            expected: "40",
            found: 2
        })
    );
    assert!(matches!(
        parse_standard(&fields[..32].join("\t"), "D"),
        Err(ParseError::FieldCount { found: 32, .. })
    ));
    let msg = parse_journal(&with(3, "x")).unwrap_err().to_string();
    assert!(msg.contains("sc-bytes") && msg.contains("integer"), "{msg}");
}

#[test]
fn mutated_lines_never_panic() {
    let seeds = [
        line_of(&full_line()),
        line_of(&bare_line()),
        CF_ERROR_LINE.to_string(),
    ];
    let alphabet: &[char] = &['\t', '-', '0', '9', ':', '.', 'é', '\n', '#', 'a', ' ', '€'];
    let mut rng = fastrand::Rng::with_seed(4);
    let mut ok = 0;
    for i in 0..5_000 {
        let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..rng.usize(1..6) {
            let at = rng.usize(0..=chars.len());
            match rng.u8(0..3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = alphabet[rng.usize(0..alphabet.len())],
                _ => chars.insert(at, alphabet[rng.usize(0..alphabet.len())]),
            }
        }
        let line: String = chars.into_iter().collect();
        ok += usize::from(parse_journal(&line).is_ok());
        ok += usize::from(parse_standard(&line, "D").is_ok());
        let _ = parse_object_name(&line);
    }
    // Some mutations hit free-text fields and still parse.
    assert!(ok > 0);
}

#[test]
fn object_names() {
    // 2019-11-14T20:00:00Z
    let hour = 1_573_761_600;
    assert_eq!(
        object_name("example-prefix", "EMLARXS9EXAMPLE", hour, "RT4KCN4SGK9"),
        "example-prefix/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz"
    );
    assert_eq!(
        object_name("logs/", "E1", hour + 3_599, "u"),
        "logs/E1.2019-11-14-20.u.gz"
    );
    assert_eq!(object_name("", "E1", hour, "u"), "E1.2019-11-14-20.u.gz");
    assert_eq!(
        parse_object_name("example-prefix/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz"),
        Some(("EMLARXS9EXAMPLE".to_string(), hour))
    );
    assert_eq!(
        parse_object_name("a.b/c/E1.2019-11-14-20.u.gz"),
        Some(("E1".to_string(), hour))
    );
    for bad in [
        "E1.2019-11-14-20.u",
        "E1.2019-11-14-24.u.gz",
        "E1.2019-11-14.u.gz",
        "E1.2019-11-14-20..gz",
        ".2019-11-14-20.u.gz",
        "E-1.2019-11-14-20.u.gz",
        "E1.2019-11-1é-2.u.gz",
        "E1.2019-02-30-20.u.gz",
        "E1/",
        "",
    ] {
        assert_eq!(parse_object_name(bad), None, "{bad}");
    }
}

#[test]
fn random_header_values_keep_the_line_whole() {
    let mut rng = fastrand::Rng::with_seed(39);
    for _ in 0..2_000 {
        let mut value = || {
            let len = rng.usize(0..24);
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            HeaderValue::from_bytes(&bytes).ok()
        };
        let values: [Option<HeaderValue>; 6] = std::array::from_fn(|_| value());
        let v = |i: usize| values[i].as_ref().map(HeaderValue::as_bytes);
        let mut r = full_line();
        r.arrival.user_agent = v(0);
        r.arrival.referer = v(1);
        r.arrival.cookie = v(2);
        r.arrival.host_header = v(3);
        r.arrival.forwarded_for = v(4);
        r.content_type = v(5);
        let line = line_of(&r);
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        assert_eq!(line.split('\t').count(), 40, "{line:?}");
        assert!(
            line.bytes()
                .all(|b| b.is_ascii_graphic() || b == b'\t' || b == b'\n')
        );
        let e = parse_journal(&line).unwrap();
        let mut want = String::new();
        match r.arrival.referer {
            Some(v) if !v.is_empty() => want.push_str(&escaped(v)),
            _ => want.push('-'),
        }
        assert_eq!(e.referer.as_deref().unwrap_or("-"), want);
        let mut std = Vec::new();
        standard_line_of(&r, true, &mut std);
        assert!(parse_standard(std::str::from_utf8(&std).unwrap(), "D").is_ok());
    }
}

#[test]
fn standard_line_of_a_record_is_its_journal_line_cut_to_33_fields() {
    for r in [full_line(), bare_line()] {
        let journal = line_of(&r);
        let journal: Vec<&str> = journal.trim_end_matches('\n').split('\t').collect();
        for cookies in [false, true] {
            let mut direct = b"x".to_vec();
            standard_line_of(&r, cookies, &mut direct);
            let mut want: Vec<&str> = journal[..33].to_vec();
            if !cookies {
                want[12] = "-";
            }
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                format!("x{}\n", want.join("\t")),
                "cookies {cookies}"
            );
        }
    }
}

#[test]
fn escape_matches_a_byte_at_a_time_reference_at_every_length_and_position() {
    fn reference(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in raw {
            if escapes(b) {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            } else {
                out.push(b);
            }
        }
        out
    }
    let specials = [b' ', b'%', b'\t', 0xC3, b'~', 0x7F, b'"'];
    for len in 0..40usize {
        let plain: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut cases = vec![plain.clone()];
        for pos in 0..len {
            for &s in &specials {
                let mut c = plain.clone();
                c[pos] = s;
                cases.push(c);
            }
        }
        cases.push(plain.iter().map(|_| b'#').collect());
        for c in cases {
            let mut out = b"prefix".to_vec();
            escape(&c, &mut out);
            assert_eq!(&out[6..], &reference(&c)[..], "{c:?}");
        }
    }
}
