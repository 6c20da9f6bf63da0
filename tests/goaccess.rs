//! The standard access log as GoAccess reads it: records formatted by `meter::w3c`, written as a
//! CloudFront log file, parsed by the real `goaccess --log-format=CLOUDFRONT`, and its JSON
//! report checked against what was sent.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use edgegate::config::BillingRegion;
use edgegate::meter::record::{Arrival, Departure, Line, ResultType, TtlClass, protocol_version};
use edgegate::meter::w3c;
use http::{Method, Version};

struct Req {
    method: Method,
    uri: &'static str,
    status: u16,
    result: ResultType,
    https: bool,
    version: Version,
    sc_bytes: u64,
    user_agent: &'static str,
}

/// Request `i`'s record; `request_id` holds the text its id is borrowed from.
fn record<'a>(i: usize, r: &'a Req, request_id: &'a str) -> Line<'a> {
    let (path, query) = r
        .uri
        .split_once('?')
        .map_or((r.uri, None), |(p, q)| (p, Some(q)));
    Line {
        arrival: Arrival {
            pop: b"IAD89-C1",
            method: r.method.as_str().as_bytes(),
            version: protocol_version(r.version).as_bytes(),
            path: path.as_bytes(),
            query: query.map(str::as_bytes),
            host_header: Some(b"www.example.com"),
            referer: i
                .is_multiple_of(2)
                .then_some(b"https://ref.example/page".as_slice()),
            user_agent: Some(r.user_agent.as_bytes()),
            cookie: Some(b"session=secret"),
            forwarded_for: None,
            request_id: request_id.as_bytes(),
            tls: r
                .https
                .then_some((b"TLSv1.3".as_slice(), b"TLS_AES_128_GCM_SHA256".as_slice())),
        },
        content_type: Some(b"text/html"),
        departure: Departure {
            end_ms: 1_732_480_000_000 + i as i64 * 1_250,
            client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i as u8)),
            client_port: 40_000 + i as u16,
            https: r.https,
            status: r.status,
            sc_bytes: r.sc_bytes,
            cs_bytes: 200,
            time_taken_us: 1_500 + i as u64 * 1_000,
            ttfb_us: 900,
            result_type: r.result,
            response_result_type: r.result,
            detailed_result_type: r.result.as_str().as_bytes(),
            content_length: Some(r.sc_bytes / 2),
            range: None,
            distribution_id: Some(b"E2GOACCESS1"),
            distribution_domain: Some(b"d111111abcdef8.cloudfront.net"),
            billing_region: BillingRegion::Us,
            ttl_class: Some(TtlClass::Dynamic),
            origin_bytes_out: 0,
            origin_bytes_in: 0,
            origin_latency_us: None,
            origin_failed_over: false,
            origin_shield: None,
        },
    }
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

fn requests() -> Vec<Req> {
    use ResultType::*;
    let req = |method: Method,
               uri: &'static str,
               status: u16,
               result: ResultType,
               https: bool,
               version: Version,
               sc_bytes: u64| Req {
        method,
        uri,
        status,
        result,
        https,
        version,
        sc_bytes,
        user_agent: FIREFOX,
    };
    vec![
        req(
            Method::GET,
            "/index.html",
            200,
            Hit,
            true,
            Version::HTTP_2,
            1_000,
        ),
        req(
            Method::GET,
            "/index.html",
            200,
            Hit,
            false,
            Version::HTTP_11,
            1_001,
        ),
        req(
            Method::GET,
            "/img/logo.png",
            200,
            Miss,
            true,
            Version::HTTP_2,
            5_000,
        ),
        req(
            Method::GET,
            "/api/items?x=1&y=a%20b",
            200,
            Miss,
            true,
            Version::HTTP_11,
            700,
        ),
        req(
            Method::GET,
            "/missing",
            404,
            Error,
            false,
            Version::HTTP_11,
            400,
        ),
        // The viewer went away before a response was sent.
        req(Method::GET, "/slow", 0, Error, true, Version::HTTP_2, 0),
        req(
            Method::HEAD,
            "/index.html",
            304,
            RefreshHit,
            true,
            Version::HTTP_2,
            250,
        ),
        Req {
            user_agent: "curl/8.5.0",
            ..req(
                Method::POST,
                "/api/items",
                201,
                Miss,
                false,
                Version::HTTP_10,
                321,
            )
        },
    ]
}

/// Runs GoAccess on `log`; returns its JSON report and the lines it rejected.
fn goaccess_json(log: &std::path::Path, dir: &std::path::Path) -> (serde_json::Value, String) {
    let out = dir.join("report.json");
    let invalid = dir.join("invalid.log");
    let result = Command::new("goaccess")
        .arg(log)
        .args(["--log-format=CLOUDFRONT", "--no-global-config", "-o"])
        .arg(&out)
        .arg(format!("--invalid-requests={}", invalid.display()))
        .output();
    let output = match result {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!(
                "goaccess is not installed: run scripts/setup-test-env (it installs Debian's goaccess package)"
            )
        }
        Err(e) => panic!("could not run goaccess: {e}"),
    };
    assert!(
        output.status.success(),
        "goaccess failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out).expect("goaccess wrote its JSON report");
    let rejected = std::fs::read_to_string(invalid).unwrap_or_default();
    (
        serde_json::from_str(&text).expect("goaccess's report is JSON"),
        rejected,
    )
}

/// `data` → hit count of a GoAccess panel (items that differ only by method or protocol are
/// added up).
fn panel(report: &serde_json::Value, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let items = report[name]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("panel {name} in {report}"));
    for item in items {
        let key = item["data"].as_str().unwrap().to_string();
        *out.entry(key).or_default() += item["hits"]["count"].as_u64().unwrap();
    }
    out
}

#[test]
fn goaccess_reads_the_standard_log() {
    let reqs = requests();
    let mut log = w3c::header();
    for (i, r) in reqs.iter().enumerate() {
        let mut standard = Vec::new();
        let id = format!("req{i}==");
        w3c::standard_line_of(&record(i, r, &id), false, &mut standard);
        log.push_str(std::str::from_utf8(&standard).unwrap());
    }
    assert!(!log.contains("secret"), "cookies are left out");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("E2GOACCESS1.2024-11-24-20.test.log");
    std::fs::write(&path, &log).unwrap();

    let (report, rejected) = goaccess_json(&path, dir.path());
    let general = &report["general"];
    let total: u64 = reqs.iter().map(|r| r.sc_bytes).sum();
    assert_eq!(general["total_requests"], reqs.len() as u64, "{general}");
    // GoAccess accepts only statuses 100–599, so it rejects a `000` line (a viewer that left
    // before any response) as it does in CloudFront's own logs; every other line is valid.
    let aborted: Vec<&str> = log.lines().filter(|l| l.contains("\t000\t")).collect();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        rejected.lines().collect::<Vec<_>>(),
        aborted,
        "GoAccess rejected other lines"
    );
    assert_eq!(general["failed_requests"], 1, "{general}");
    assert_eq!(
        general["valid_requests"],
        reqs.len() as u64 - 1,
        "{general}"
    );
    // The rejected line carries no bytes, so the bandwidth is every byte sent.
    assert_eq!(general["bandwidth"], total, "{general}");

    // Requested files: GoAccess appends `?` and cs-uri-query (CloudFront's `-` when there is
    // none) and URL-decodes once, so the log's `%2520` (CloudFront's double encoding of the
    // viewer's `%20`) reads as `%20`, as in CloudFront's own logs. Static files and 404s have
    // their own panels.
    let mut files = panel(&report, "requests");
    for (file, hits) in panel(&report, "static_requests")
        .into_iter()
        .chain(panel(&report, "not_found"))
    {
        *files.entry(file).or_default() += hits;
    }
    let expected: BTreeMap<String, u64> = [
        ("/index.html?-", 3),
        ("/img/logo.png?-", 1),
        ("/api/items?x=1&y=a%20b", 1),
        ("/missing?-", 1),
        ("/api/items?-", 1),
    ]
    .into_iter()
    .map(|(f, n)| (f.to_string(), n))
    .collect();
    assert_eq!(files, expected);

    // GoAccess counts only CloudFront's `Hit` and `Miss` as cache statuses.
    let cache = panel(&report, "cache_status");
    assert_eq!(cache.get("Hit"), Some(&2), "{cache:?}");
    assert_eq!(cache.get("Miss"), Some(&3), "{cache:?}");
    assert_eq!(cache.len(), 2, "{cache:?}");

    let vhosts = panel(&report, "vhosts");
    assert_eq!(
        vhosts.get("d111111abcdef8.cloudfront.net"),
        Some(&(reqs.len() as u64 - 1))
    );

    // The escaped user agent (spaces, parentheses, semicolons) is decoded and recognised.
    assert_eq!(panel(&report, "browsers").get("Firefox"), Some(&6));
    assert_eq!(panel(&report, "os").get("Linux"), Some(&6));
    // ssl-protocol is read for the HTTPS lines only.
    let tls = panel(&report, "tls_type");
    assert_eq!(tls.get("TLSv1.3"), Some(&4), "{tls:?}");
    assert_eq!(tls.len(), 1, "{tls:?}");
}
