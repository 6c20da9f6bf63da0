//! Metering end to end: known traffic against real edges (in process and the real binary),
//! then the journal, `edgegate usage report`, `GET /usage`, `GET /metrics`, the access logs
//! delivered to LocalStack and GoAccess's reading of them, all checked to the exact request and
//! byte; crashes (SIGKILL, SIGTERM under load, a torn journal frame) and `--metering off`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::localstack::{create_bucket, s3_endpoint, unique_bucket};
use crate::common::meter::*;
use crate::common::origin::TestOrigin;
use crate::common::*;

/// What one request should add to the usage report.
#[derive(Debug)]
struct Sent {
    what: &'static str,
    method: &'static str,
    https: bool,
    /// Bytes the client received (for HTTP/1.1), or the journal's sc-bytes (HTTP/2).
    bytes: u64,
    /// Expected `x-ttl-class` (detail rows): `Static` or `Dynamic`.
    class: &'static str,
    /// The journal's x-origin-bytes-out.
    origin_out: u64,
    result: &'static str,
    status_class: &'static str,
}

/// Test 1: exact accounting over HTTP and HTTPS, every usage type, bytes as received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_accounting_http_and_https() {
    let origin = TestOrigin::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let top = format!(
        "pop = \"IAD89-C1\"\nbilling_region = \"US\"\nlisten_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    );
    let edge = TestEdge::start(&meter_config(origin.addr.port(), &top, None)).await;
    let (http, tls) = (edge.viewer, edge.viewer_tls.expect("TLS listener"));

    // (label, method, path, body, status, x-cache, class)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static [u8],
        u16,
        &'static str,
        &'static str,
    );
    let plain: [Case; 10] = [
        ("get miss", "GET", "/a.txt", b"", 200, "Miss", "Static"),
        ("get hit", "GET", "/a.txt", b"", 200, "Hit", "Static"),
        ("get hit 2", "GET", "/a.txt?", b"", 200, "Hit", "Static"),
        ("head hit", "HEAD", "/a.txt", b"", 200, "Hit", "Static"),
        ("head miss", "HEAD", "/h.txt", b"", 200, "Miss", "Dynamic"),
        (
            "post",
            "POST",
            "/api/p",
            b"hello world",
            200,
            "Miss",
            "Dynamic",
        ),
        ("put", "PUT", "/api/q", b"12345", 200, "Miss", "Dynamic"),
        (
            "origin 404",
            "GET",
            "/status/404/x",
            b"",
            404,
            "Error",
            "Dynamic",
        ),
        (
            "refused", "POST", "/a.txt", b"nope", 403, "Error", "Dynamic",
        ),
        (
            "redirect",
            "GET",
            "/redirect/r",
            b"",
            301,
            "Redirect",
            "Dynamic",
        ),
    ];
    let mut sent: Vec<(Sent, String, u64)> = Vec::new();
    for (what, method, path, body, status, x_cache, class) in plain {
        let w = raw_http(http, method, MHOST, path, body).await;
        assert_eq!(w.status, status, "{what}: {:?}", w.headers);
        assert_eq!(
            w.header("x-cache"),
            Some(format!("{x_cache} from cloudfront").as_str()),
            "{what}"
        );
        sent.push((
            Sent {
                what,
                method,
                https: false,
                bytes: w.total_bytes,
                class,
                origin_out: 0,
                result: x_cache,
                status_class: status_class(status),
            },
            w.request_id(),
            body.len() as u64,
        ));
    }
    // HTTPS, HTTP/1.1 (bytes as curl received them) and one HTTP/2 request.
    type TlsCase = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        u16,
        &'static str,
        &'static str,
    );
    let secure: [TlsCase; 6] = [
        (
            "https get hit",
            "--http1.1",
            "GET",
            "/a.txt",
            "",
            200,
            "Hit",
            "Static",
        ),
        (
            "https get miss",
            "--http1.1",
            "GET",
            "/b.txt",
            "",
            200,
            "Miss",
            "Static",
        ),
        (
            "https head hit",
            "--http1.1",
            "HEAD",
            "/b.txt",
            "",
            200,
            "Hit",
            "Static",
        ),
        (
            "https post",
            "--http1.1",
            "POST",
            "/api/s",
            "secure body",
            200,
            "Miss",
            "Dynamic",
        ),
        (
            "https redirect path",
            "--http1.1",
            "GET",
            "/redirect/r",
            "",
            200,
            "Miss",
            "Static",
        ),
        (
            "h2 get hit",
            "--http2",
            "GET",
            "/a.txt",
            "",
            200,
            "Hit",
            "Static",
        ),
    ];
    for (what, version, method, path, body, status, x_cache, class) in secure {
        let w = curl_https(tls, version, method, path, body).await;
        assert_eq!(w.status, status, "{what}: {:?}", w.headers);
        assert_eq!(
            w.header("x-cache"),
            Some(format!("{x_cache} from cloudfront").as_str()),
            "{what}"
        );
        sent.push((
            Sent {
                what,
                method,
                https: true,
                bytes: if version == "--http2" {
                    0
                } else {
                    w.total_bytes
                },
                class,
                origin_out: 0,
                result: x_cache,
                status_class: status_class(status),
            },
            w.request_id(),
            body.len() as u64,
        ));
    }

    // /metrics and /usage make the meter write everything first.
    let metrics = get(edge.admin, "localhost", "/metrics").await;
    assert_eq!(metrics.status, 200);
    let usage_api = get(edge.admin, "localhost", "/usage?detail=true").await;
    assert_eq!(usage_api.status, 200, "{}", usage_api.text());

    // The journal: one line per request, sc-bytes equal to what the client received.
    let lines = journal(edge.data_dir.path());
    assert_eq!(lines.len(), sent.len(), "one journal line per request");
    let mut wrong_bytes = Vec::new();
    let mut wire_total = 0u64;
    for (s, rid, body_len) in &mut sent {
        let l = journal_line(&lines, rid);
        assert_eq!(l[field::METHOD], s.method, "{}", s.what);
        assert_eq!(l[field::DIST], DIST, "{}", s.what);
        assert_eq!(l[field::REGION], "US", "{}", s.what);
        assert_eq!(
            l[field::PROTOCOL],
            if s.https { "https" } else { "http" },
            "{}",
            s.what
        );
        assert_eq!(l[field::RESULT], s.result, "{}", s.what);
        let logged: u64 = l[field::SC_BYTES].parse().unwrap();
        if s.bytes == 0 {
            // HTTP/2: counted as its HTTP/1.1 serialisation (not comparable with the wire).
            assert!(logged > 0, "{}", s.what);
            s.bytes = logged;
        } else if logged != s.bytes {
            wrong_bytes.push(format!(
                "{} ({}): client received {} bytes, journal sc-bytes {} (off by {})",
                s.what,
                if s.https { "https" } else { "http" },
                s.bytes,
                logged,
                logged as i64 - s.bytes as i64
            ));
        }
        wire_total += s.bytes;
        // The report is checked against the journal here and against the wire at the end.
        s.bytes = logged;
        let class = if l[field::TTL_CLASS] == "-" {
            "Dynamic"
        } else {
            l[field::TTL_CLASS].as_str()
        };
        assert_eq!(class, s.class, "{}: ttl class", s.what);
        s.origin_out = l[field::ORIGIN_OUT].parse().unwrap();
        let proxied = !matches!(s.method, "GET" | "HEAD");
        if proxied && s.status_class != "4xx" {
            assert!(
                s.origin_out > *body_len,
                "{}: {} bytes to the origin for a {body_len}-byte body",
                s.what,
                s.origin_out
            );
        }
        if s.what == "refused" {
            assert_eq!(
                s.origin_out, 0,
                "a refused request never reaches the origin"
            );
        }
    }

    // The usage report the CLI prints from the data directory, after a clean stop.
    let data = edge.stop().await;
    let dir = data.path().to_str().unwrap().to_owned();
    let cli = usage_report(&["--data-dir", &dir], &["--detail"]).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&usage_api.text()).unwrap(),
        cli,
        "GET /usage?detail=true equals `usage report --format json --detail`"
    );

    let expected = expected_usage("US", sent.iter().map(|(s, _, _)| s));
    let got = usage_totals(&cli);
    assert_eq!(got, expected, "usage rows (operation, usage type) → value");

    // /metrics counts the same totals.
    let m = metrics.text();
    let total_requests = sent.len() as u64;
    let total_bytes: u64 = sent.iter().map(|(s, _, _)| s.bytes).sum();
    let d = [("distribution", DIST), ("billing_region", "US")];
    assert_eq!(
        metric_sum(&m, "edgegate_requests_total", &d),
        total_requests
    );
    assert_eq!(
        metric_sum(&m, "edgegate_response_bytes_total", &d),
        total_bytes
    );
    for proto in ["http", "https"] {
        let want = sent
            .iter()
            .filter(|(s, _, _)| s.https == (proto == "https"))
            .count() as u64;
        assert_eq!(
            metric_sum(
                &m,
                "edgegate_requests_total",
                &[("distribution", DIST), ("protocol", proto)]
            ),
            want,
            "{proto}"
        );
    }
    for result in ["Hit", "Miss", "Error", "Redirect"] {
        let want = sent.iter().filter(|(s, _, _)| s.result == result).count() as u64;
        assert_eq!(
            metric_sum(
                &m,
                "edgegate_requests_total",
                &[("distribution", DIST), ("result_type", result)]
            ),
            want,
            "result type {result}"
        );
    }
    for class in ["2xx", "3xx", "4xx"] {
        let want = sent
            .iter()
            .filter(|(s, _, _)| s.status_class == class)
            .count() as u64;
        assert_eq!(
            metric_sum(
                &m,
                "edgegate_requests_total",
                &[("distribution", DIST), ("status_class", class)]
            ),
            want,
            "status class {class}"
        );
    }
    let origin_out: u64 = lines
        .iter()
        .map(|l| l[field::ORIGIN_OUT].parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        metric_sum(
            &m,
            "edgegate_origin_request_bytes_total",
            &[("distribution", DIST)]
        ),
        origin_out
    );
    // Last, the bytes on the wire: DataTransfer-Out-Bytes must be what the clients received.
    let reported: u64 = by_region(&got, "DataTransfer-Out-Bytes").values().sum();
    assert!(
        wrong_bytes.is_empty() && reported == wire_total,
        "DataTransfer-Out-Bytes {reported}, bytes received {wire_total}; sc-bytes differ from \
         the bytes received:\n{}",
        wrong_bytes.join("\n")
    );
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The usage rows (operation, usage type) → value that `sent` must produce, aggregate and
/// detail types, in billing region `r`.
fn expected_usage<'a>(
    r: &str,
    sent: impl Iterator<Item = &'a Sent>,
) -> BTreeMap<(String, String), u64> {
    let mut out: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut add = |op: &str, t: String, v: u64| {
        if v > 0 {
            *out.entry((op.to_owned(), t)).or_default() += v;
        }
    };
    for s in sent {
        let proto = if s.https { "HTTPS" } else { "HTTP" };
        add(s.method, format!("{r}-DataTransfer-Out-Bytes"), s.bytes);
        if matches!(s.method, "GET" | "HEAD") {
            let tier = if s.https {
                "Requests-Tier2-HTTPS"
            } else {
                "Requests-Tier1"
            };
            add(s.method, format!("{r}-{tier}"), 1);
            add(s.method, format!("{r}-Requests-{proto}-{}", s.class), 1);
            add(
                s.method,
                format!("{r}-Out-Bytes-{proto}-{}", s.class),
                s.bytes,
            );
        } else {
            add(s.method, format!("{r}-Requests-{proto}-Proxy"), 1);
            add(s.method, format!("{r}-Out-Bytes-{proto}-Proxy"), s.bytes);
            add(
                s.method,
                format!("{r}-DataTransfer-Out-OBytes"),
                s.origin_out,
            );
            add(
                s.method,
                format!("{r}-Out-OBytes-{proto}-Proxy"),
                s.origin_out,
            );
        }
    }
    out
}

/// Sums the values of the usage rows whose type ends with `suffix`, per billing region prefix.
fn by_region(totals: &BTreeMap<(String, String), u64>, suffix: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ((_, t), v) in totals {
        if let Some(region) = t.strip_suffix(suffix) {
            *out.entry(region.trim_end_matches('-').to_owned())
                .or_default() += v;
        }
    }
    out
}

fn object_name_ok(key: &str, prefix: &str) -> bool {
    let Some(rest) = key.strip_prefix(prefix) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    if parts.len() != 4 || parts[0] != DIST || parts[3] != "gz" {
        return false;
    }
    let date = parts[1].as_bytes();
    let shape_ok = date.len() == 13
        && date.iter().enumerate().all(|(i, b)| match i {
            4 | 7 | 10 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    let unique_ok = parts[2].len() == 13
        && parts[2]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    shape_ok && unique_ok
}

/// Keys under `prefix` in `bucket`.
fn list_keys(bucket: &str, prefix: &str) -> Vec<String> {
    let endpoint = s3_endpoint();
    let v = crate::common::awscli::aws_json(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        prefix,
    ]);
    let mut keys: Vec<String> = v["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["Key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Test 2: two edges in two billing regions deliver to one bucket; the report from the bucket
/// splits them by region, and GoAccess reads the delivered files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_billing_regions_deliver_to_one_bucket() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("meter-regions");
    create_bucket(&bucket);
    let origin = TestOrigin::start().await;
    let edge_config = |pop: &str, region: &str| {
        meter_config(
            origin.addr.port(),
            &format!(
                "pop = \"{pop}\"\nbilling_region = \"{region}\"\ns3_endpoint = \"{endpoint}\""
            ),
            Some((&bucket, "cf/")),
        )
    };
    let us = TestEdge::start(&edge_config("IAD89-C1", "US")).await;
    let eu = TestEdge::start(&edge_config("FRA56-C1", "EU")).await;

    // US: 3 GETs and 1 HEAD; EU: 2 GETs and 1 POST.
    let mut bytes: BTreeMap<&str, u64> = BTreeMap::new();
    for (edge, region, method, path, body) in [
        (&us, "US", "GET", "/one.txt", &b""[..]),
        (&us, "US", "GET", "/one.txt", b""),
        (&us, "US", "GET", "/two.txt", b""),
        (&us, "US", "HEAD", "/one.txt", b""),
        (&eu, "EU", "GET", "/one.txt", b""),
        (&eu, "EU", "GET", "/one.txt", b""),
        (&eu, "EU", "POST", "/api/form", b"a=1&b=2"),
    ] {
        let w = raw_http(edge.viewer, method, MHOST, path, body).await;
        assert_eq!(w.status, 200, "{region} {method} {path}");
        *bytes.entry(region).or_default() += w.total_bytes;
    }
    for edge in [&us, &eu] {
        let report = edge
            .running
            .as_ref()
            .unwrap()
            .deliver_logs()
            .await
            .expect("metering is on");
        assert_eq!(
            (report.uploaded, report.failed),
            (1, 0),
            "one file per edge delivered: {report:?}"
        );
    }
    let us_data = us.stop().await;
    let eu_data = eu.stop().await;
    // Stopping delivers again: nothing new to deliver, so no new object.
    let keys = list_keys(&bucket, "cf/");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in &keys {
        assert!(
            object_name_ok(k, "cf/"),
            "{k} is not cf/{DIST}.YYYY-MM-DD-HH.UNIQUE.gz"
        );
    }

    // Journal sc-bytes per edge (checked against the bytes received at the end).
    let mut logged: BTreeMap<String, u64> = BTreeMap::new();
    for (data, region) in [(&us_data, "US"), (&eu_data, "EU")] {
        let sum: u64 = journal(data.path())
            .iter()
            .map(|l| l[field::SC_BYTES].parse::<u64>().unwrap())
            .sum();
        logged.insert(region.to_owned(), sum);
    }

    let url = format!("s3://{bucket}/cf/");
    let report = usage_report(&["--from-bucket", &url, "--s3-endpoint", &endpoint], &[]).await;
    let totals = usage_totals(&report);
    let want: BTreeMap<(String, String), u64> = [
        (("GET", "US-Requests-Tier1"), 3),
        (("HEAD", "US-Requests-Tier1"), 1),
        (("GET", "EU-Requests-Tier1"), 2),
        (("POST", "EU-Requests-HTTP-Proxy"), 1),
    ]
    .into_iter()
    .map(|((o, t), v)| ((o.to_owned(), t.to_owned()), v))
    .collect();
    let requests: BTreeMap<(String, String), u64> = totals
        .iter()
        .filter(|((_, t), _)| t.contains("Requests"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(requests, want, "request rows from the bucket");
    // A key prefix that is not a folder selects keys as S3's prefix does; one that matches
    // nothing reports nothing.
    let partial = format!("s3://{bucket}/cf/{DIST}.");
    let same = usage_report(
        &["--from-bucket", &partial, "--s3-endpoint", &endpoint],
        &[],
    )
    .await;
    assert_eq!(usage_totals(&same), totals, "report from {partial}");
    let none = format!("s3://{bucket}/cf/E0THER");
    let empty = usage_report(&["--from-bucket", &none, "--s3-endpoint", &endpoint], &[]).await;
    assert!(
        usage_totals(&empty).is_empty(),
        "report from {none}: {empty}"
    );
    let out_bytes = by_region(&totals, "DataTransfer-Out-Bytes");
    assert_eq!(
        out_bytes, logged,
        "DataTransfer-Out-Bytes by region from the bucket equal the journals' sc-bytes"
    );

    // Download the objects and let GoAccess read them.
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (gz, _) = crate::common::localstack::get_object(&bucket, k);
        let text = gunzip(&gz);
        assert!(
            text.starts_with("#Version: 1.0\n#Fields: date time"),
            "{text}"
        );
        let path = dir.path().join(format!("log{i}.log"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let general = goaccess_general(&files, dir.path());
    assert_eq!(general["total_requests"], 7, "{general}");
    assert_eq!(general["valid_requests"], 7, "{general}");
    assert_eq!(
        general["bandwidth"],
        logged["US"] + logged["EU"],
        "{general}"
    );
    // Last, the wire: what the clients received.
    assert_eq!(
        logged,
        [
            ("EU".to_owned(), bytes["EU"]),
            ("US".to_owned(), bytes["US"])
        ]
        .into_iter()
        .collect(),
        "sc-bytes by region (journal, bucket and GoAccess agree) vs bytes the clients received"
    );
}

/// Test 3: a delivery that fails (no bucket yet) stays queued; once the bucket exists exactly
/// one object per file arrives, complete, and later runs add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_delivery_is_retried_without_duplicates() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("meter-retry");
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&meter_config(
        origin.addr.port(),
        &format!("pop = \"IAD89-C1\"\ns3_endpoint = \"{endpoint}\""),
        Some((&bucket, "logs/")),
    ))
    .await;
    let n = 5;
    for i in 0..n {
        let r = get(edge.viewer, MHOST, &format!("/r{i}.txt")).await;
        assert_eq!(r.status, 200);
    }
    let running = edge.running.as_ref().unwrap();
    let outbox = edge.data_dir.path().join("meter/outbox");
    let queued = || {
        std::fs::read_dir(&outbox)
            .map(|rd| rd.filter_map(Result::ok).count())
            .unwrap_or(0)
    };

    let r1 = running.deliver_logs().await.unwrap();
    assert_eq!(
        (r1.files_written, r1.lines, r1.uploaded, r1.failed),
        (1, n, 0, 1),
        "no bucket yet: {r1:?}"
    );
    assert!(
        r1.errors[0].starts_with(&format!("PUT s3://{bucket}/logs/{DIST}."))
            && r1.errors[0].contains("NoSuchBucket"),
        "S3's refusal, named: {:?}",
        r1.errors
    );
    assert_eq!(queued(), 1, "the file stays queued");

    create_bucket(&bucket);
    let r2 = running.deliver_logs().await.unwrap();
    assert_eq!(
        (r2.files_written, r2.uploaded, r2.failed),
        (0, 1, 0),
        "{r2:?}"
    );
    assert_eq!(queued(), 0);
    let keys = list_keys(&bucket, "logs/");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(object_name_ok(&keys[0], "logs/"), "{}", keys[0]);
    let (gz, _) = crate::common::localstack::get_object(&bucket, &keys[0]);
    let text = gunzip(&gz);
    let data_lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(data_lines.len() as u64, n, "{text}");
    for i in 0..n {
        let stem = format!("\t/r{i}.txt\t");
        assert_eq!(
            data_lines.iter().filter(|l| l.contains(&stem)).count(),
            1,
            "/r{i}.txt in {text}"
        );
    }

    let r3 = running.deliver_logs().await.unwrap();
    assert_eq!(
        (r3.files_written, r3.uploaded, r3.failed),
        (0, 0, 0),
        "{r3:?}"
    );
    assert_eq!(list_keys(&bucket, "logs/"), keys, "no new object");
    edge.stop().await;
    assert_eq!(
        list_keys(&bucket, "logs/"),
        keys,
        "nothing new on shutdown either"
    );
}

/// Requests counted by a JSON usage report (every request usage type, aggregates only).
fn requests_in(report: &serde_json::Value) -> u64 {
    usage_totals(report)
        .iter()
        .filter(|((_, t), _)| {
            t.ends_with("Requests-Tier1")
                || t.ends_with("Requests-Tier2-HTTPS")
                || t.ends_with("-Proxy")
        })
        .map(|(_, v)| v)
        .sum()
}

fn write_config(dir: &std::path::Path, origin_port: u16) -> std::path::PathBuf {
    let path = dir.join("edgegate.toml");
    std::fs::write(
        &path,
        meter_config(
            origin_port,
            "pop = \"IAD89-C1\"\nbilling_region = \"US\"",
            None,
        ),
    )
    .unwrap();
    path
}

/// Test 4a: responses that completed more than a second before SIGKILL are all counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_that_completed() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), origin.addr.port());
    let data = dir.path().join("data");
    let extra = ["--log-delivery-interval", "3600"];
    let edge = ServeProc::start(&config, &data, &extra);
    let n = 25;
    for i in 0..n {
        let r = get(edge.viewer, MHOST, &format!("/k{}.txt", i % 7)).await;
        assert_eq!(r.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    edge.kill9();
    // Restart (repairs the journal), then stop cleanly and read the report.
    let edge = ServeProc::start(&config, &data, &extra);
    assert!(edge.term(), "SIGTERM exits 0");
    let d = data.to_str().unwrap();
    let report = usage_report(&["--data-dir", d], &[]).await;
    assert_eq!(requests_in(&report), n);
}

/// Runs `clients` concurrent loops of GETs against `viewer` until `stop`; returns (sent,
/// completion times of the 200 responses received in full).
fn load(
    viewer: std::net::SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicU64>, Vec<tokio::task::JoinHandle<Vec<Instant>>>) {
    let sent = Arc::new(AtomicU64::new(0));
    let tasks = (0..clients)
        .map(|c| {
            let (sent, stop) = (sent.clone(), stop.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    sent.fetch_add(1, Ordering::SeqCst);
                    let path = format!("/load/{c}/{}.txt", i % 5);
                    match try_get(viewer, &path).await {
                        Some(200) => done.push(Instant::now()),
                        Some(s) => panic!("status {s} under load"),
                        None => {
                            // The edge went away: stop this client.
                            break;
                        }
                    }
                }
                done
            })
        })
        .collect();
    (sent, tasks)
}

/// A GET whose whole response was received: its status; `None` on any transport error.
async fn try_get(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {MHOST}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (raw.len() - split - 4 == len).then_some(status)
}

/// Test 4b: SIGKILL at a random moment under load: at least every response that completed more
/// than a second before the kill is counted, at most every request sent, no malformed line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), origin.addr.port());
    let data = dir.path().join("data");
    let extra = ["--log-delivery-interval", "3600"];
    let edge = ServeProc::start(&config, &data, &extra);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, tasks) = load(edge.viewer, 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(1500 + fastrand::u64(..1500))).await;
    let killed_at = Instant::now();
    let edge = tokio::task::spawn_blocking(move || {
        edge.kill9();
    });
    edge.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut completed = Vec::new();
    for t in tasks {
        completed.extend(t.await.unwrap());
    }
    let sent = sent.load(Ordering::SeqCst);
    let safe = completed
        .iter()
        .filter(|t| **t + Duration::from_secs(1) < killed_at)
        .count() as u64;
    assert!(safe > 50, "the load produced too little traffic: {safe}");
    let d = data.to_str().unwrap();
    // Read as the kill left it (a torn last frame is not counted and not an error) ...
    let before = requests_in(&usage_report(&["--data-dir", d], &[]).await);
    assert!(
        safe <= before && before <= sent,
        "before restart: counted {before}; completed >1 s before the kill {safe}; sent {sent}"
    );

    // ... and after a restart, which repairs the journal.
    let edge = ServeProc::start(&config, &data, &extra);
    assert!(edge.term());
    let report = usage_report(&["--data-dir", d], &[]).await;
    let counted = requests_in(&report);
    assert_eq!(counted, before, "the repair cuts only a torn frame");
    assert!(
        safe <= counted && counted <= sent,
        "counted {counted}; completed >1 s before the kill {safe}; completed {}; sent {sent}",
        completed.len()
    );
}

/// Test 4c: SIGTERM under load: every response received is counted, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_counts_exactly() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), origin.addr.port());
    let data = dir.path().join("data");
    let edge = ServeProc::start(&config, &data, &["--log-delivery-interval", "3600"]);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, tasks) = load(edge.viewer, 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(1000 + fastrand::u64(..1000))).await;
    let exited_ok = tokio::task::spawn_blocking(move || edge.term())
        .await
        .unwrap();
    assert!(exited_ok, "SIGTERM exits 0");
    stop.store(true, Ordering::Relaxed);
    let mut received = 0u64;
    for t in tasks {
        received += t.await.unwrap().len() as u64;
    }
    assert!(received > 50, "too little traffic: {received}");
    let d = data.to_str().unwrap();
    let report = usage_report(&["--data-dir", d], &[]).await;
    let counted = requests_in(&report);
    assert_eq!(
        counted,
        received,
        "responses received {received}, sent {}",
        sent.load(Ordering::SeqCst)
    );
    // No request was cut off by the drain: every journal line is a complete 200.
    let lines = journal(&data);
    assert!(
        lines
            .iter()
            .all(|l| l[field::STATUS] == "200" && l[field::RESULT] != "Error"),
        "a request was cut off"
    );
}

/// Test 5: half a frame of records appended to the journal while the edge is stopped is cut on
/// the next start, and the report reads everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_journal_frame_is_cut_on_start() {
    let origin = TestOrigin::start().await;
    let config = meter_config(origin.addr.port(), "pop = \"IAD89-C1\"", None);
    let edge = TestEdge::start(&config).await;
    for i in 0..3 {
        assert_eq!(
            get(edge.viewer, MHOST, &format!("/t{i}.txt")).await.status,
            200
        );
    }
    let data = edge.stop().await;
    let jdir = data.path().join("meter/journal");
    let file = std::fs::read_dir(&jdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    let good = std::fs::read(&file).unwrap();
    // Append the first frame again, cut off halfway through its records: a torn write.
    let first_len = u32::from_le_bytes(good[..4].try_into().unwrap()) as usize;
    let mut torn = good.clone();
    torn.extend_from_slice(&good[..4 + first_len / 2]);
    std::fs::write(&file, &torn).unwrap();

    let edge = TestEdge::start_in(&config, data).await;
    assert_eq!(
        std::fs::read(&file).unwrap(),
        good,
        "the torn frame is cut before anything is appended"
    );
    assert_eq!(get(edge.viewer, MHOST, "/t3.txt").await.status, 200);
    let data = edge.stop().await;
    let lines = journal(data.path());
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.len() == 40), "every line whole");
    // `edgegate usage journal` prints the same lines under a #Fields: line naming all 40.
    let (ok, out, err) = edgegate(
        [
            "usage",
            "journal",
            "--data-dir",
            data.path().to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(ok, "{err}");
    let mut printed = out.lines();
    let fields = printed.next().unwrap();
    assert!(
        fields.starts_with("#Fields: date time x-edge-location "),
        "{fields}"
    );
    assert!(
        fields.ends_with(" x-origin-bytes-in x-origin-latency x-origin-shield-billing-region"),
        "{fields}"
    );
    assert_eq!(fields.split(' ').count(), 41, "{fields}");
    let printed: Vec<Vec<String>> = printed
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    assert_eq!(printed, lines);
    let report = usage_report(&["--data-dir", data.path().to_str().unwrap()], &[]).await;
    assert_eq!(requests_in(&report), 4);
}

/// Test 6: `--metering off` keeps no journal, and `/metrics` and `/usage` say so with a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metering_off_keeps_nothing() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), origin.addr.port());
    let data = dir.path().join("data");
    let edge = ServeProc::start(&config, &data, &["--metering", "off"]);
    assert_eq!(get(edge.viewer, MHOST, "/x.txt").await.status, 200);
    for (path, what) in [("/metrics", "metrics"), ("/usage", "usage")] {
        let r = get(edge.admin, "localhost", path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.text().contains("metering is off") && r.text().contains(what),
            "{path}: {}",
            r.text()
        );
    }
    assert!(
        tokio::task::spawn_blocking(move || edge.term())
            .await
            .unwrap()
    );
    assert!(
        !data.join("meter").exists(),
        "no journal or outbox under {}",
        data.display()
    );
    assert!(!data.join("logs").exists(), "no access logs");
}

/// `edgegate serve` exits 0 on a SIGTERM that arrives as soon as it has printed its
/// "listening" banner (scripts and tests read the banner, then may stop it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_banner_exits_cleanly() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), origin.addr.port());
    let data = dir.path().join("data");
    let mut failed = Vec::new();
    for _ in 0..20 {
        let edge = ServeProc::start_at_banner(&config, &data, &["--log-delivery-interval", "3600"]);
        let status = edge.term_status();
        if !status.success() {
            failed.push(status);
        }
    }
    assert!(
        failed.is_empty(),
        "SIGTERM right after the banner: {} of 20 runs did not exit 0: {failed:?}",
        failed.len()
    );
}

/// Three edges, each told its billing region a different way (only `billing_region`, only
/// `pop`, both), deliver to one bucket; ONE report from the bucket, whose own fallback region
/// (`--billing-region CA`) none of them is in, bills every edge's requests and bytes in that
/// edge's region: the pop each edge writes in `x-edge-location` reads back as its region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_edges_one_bucket_one_report_exact_regions() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("meter-three");
    create_bucket(&bucket);
    let origin = TestOrigin::start().await;
    let edge_config = |top: &str| {
        meter_config(
            origin.addr.port(),
            &format!("{top}\ns3_endpoint = \"{endpoint}\""),
            Some((&bucket, "all/")),
        )
    };
    // (edge settings, the pop it must show, its region, GETs to send)
    let edges = [
        ("billing_region = \"EU\"", "FRA50-C1", "EU", 2u64),
        ("pop = \"NRT57-P3\"", "NRT57-P3", "JP", 3),
        (
            "pop = \"GRU3-C1\"\nbilling_region = \"SA\"",
            "GRU3-C1",
            "SA",
            4,
        ),
    ];
    let mut want_requests = BTreeMap::new();
    let mut want_bytes = BTreeMap::new();
    for (top, pop, region, gets) in edges {
        let edge = TestEdge::start(&edge_config(top)).await;
        let mut bytes = 0;
        for _ in 0..gets {
            let w = raw_http(edge.viewer, "GET", MHOST, "/one.txt", b"").await;
            assert_eq!(w.status, 200, "{region}");
            assert_eq!(w.header("x-amz-cf-pop"), Some(pop), "{top}");
            bytes += w.total_bytes;
        }
        let report = edge.running.as_ref().unwrap().deliver_logs().await.unwrap();
        assert_eq!(
            (report.uploaded, report.failed),
            (1, 0),
            "{region}: {report:?}"
        );
        let data = edge.stop().await;
        // Every journal line names this edge's pop and region.
        for l in journal(data.path()) {
            assert_eq!(l[field::REGION], region, "{l:?}");
        }
        want_requests.insert(region.to_owned(), gets);
        want_bytes.insert(region.to_owned(), bytes);
    }
    assert_eq!(list_keys(&bucket, "all/").len(), 3);

    let url = format!("s3://{bucket}/all/");
    let report = usage_report(
        &["--from-bucket", &url, "--s3-endpoint", &endpoint],
        &["--billing-region", "CA"],
    )
    .await;
    let totals = usage_totals(&report);
    assert_eq!(
        by_region(&totals, "Requests-Tier1"),
        want_requests,
        "requests per region from one report over the three edges' logs"
    );
    assert_eq!(
        by_region(&totals, "DataTransfer-Out-Bytes"),
        want_bytes,
        "bytes per region from the bucket vs bytes the clients received"
    );
}

/// A pop whose airport code names another region than `--billing-region` is refused at start,
/// by `serve` and by `config check`, with both named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pop_of_another_region_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--pop",
        "LHR61-P5",
        "--billing-region",
        "US",
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([dir.path().display().to_string()])
    .collect();
    let (ok, _, err) = edgegate(args).await;
    assert!(!ok, "serve started with a EU pop billed in US");
    assert!(
        err.contains("LHR61-P5") && err.contains("billing region EU"),
        "{err}"
    );

    let file = dir.path().join("edgegate.toml");
    std::fs::write(&file, "pop = \"SIN2-P1\"\nbilling_region = \"IN\"\n").unwrap();
    let (ok, out, err) = edgegate(vec![
        "config".into(),
        "check".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(!ok, "config check passed a AP pop billed in IN");
    let all = format!("{out}{err}");
    assert!(all.contains("SIN2-P1") && all.contains("BOM50-C1"), "{all}");
}

/// A log bucket that cannot be reached: the delivery report (and the log) names the object,
/// where it was sent and why it failed; the file stays queued, a shutdown keeps it, and the
/// next start on the same data directory with a reachable bucket delivers every line once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_log_bucket_is_named_and_loses_nothing() {
    let endpoint = s3_endpoint();
    let bucket = unique_bucket("meter-unreach");
    let refused = crate::common::origin::RefusedPort::new();
    let dead = format!("http://127.0.0.1:{}", refused.port());
    let origin = TestOrigin::start().await;
    let config = |s3: &str| {
        meter_config(
            origin.addr.port(),
            &format!("pop = \"IAD89-C1\"\ns3_endpoint = \"{s3}\""),
            Some((&bucket, "logs/")),
        )
    };
    let edge = TestEdge::start(&config(&dead)).await;
    let n = 4;
    for i in 0..n {
        let r = get(edge.viewer, MHOST, &format!("/u{i}.txt")).await;
        assert_eq!(r.status, 200);
    }
    let running = edge.running.as_ref().unwrap();
    let r1 = running.deliver_logs().await.unwrap();
    assert_eq!(
        (r1.files_written, r1.lines, r1.uploaded, r1.failed),
        (1, n, 0, 1),
        "{r1:?}"
    );
    let e = &r1.errors[0];
    assert!(
        e.starts_with(&format!("PUT s3://{bucket}/logs/{DIST}.")),
        "names the object: {e}"
    );
    assert!(
        e.contains(&format!(" at {dead} failed: ")),
        "names where: {e}"
    );
    assert!(e.contains("Connection refused"), "says why: {e}");
    let r2 = running.deliver_logs().await.unwrap();
    assert_eq!(
        (r2.files_written, r2.uploaded, r2.failed),
        (0, 0, 1),
        "still queued, not rewritten: {r2:?}"
    );
    let data_dir = edge.stop().await;
    let queued: Vec<_> = std::fs::read_dir(data_dir.path().join("meter/outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(
        queued.len(),
        1,
        "the shutdown's delivery failed too; still queued"
    );

    create_bucket(&bucket);
    let edge = TestEdge::start_in(&config(&endpoint), data_dir).await;
    let r3 = edge.running.as_ref().unwrap().deliver_logs().await.unwrap();
    assert_eq!(
        (r3.files_written, r3.uploaded, r3.failed),
        (0, 1, 0),
        "{r3:?}"
    );
    let keys = list_keys(&bucket, "logs/");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (gz, _) = crate::common::localstack::get_object(&bucket, &keys[0]);
    let text = gunzip(&gz);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len() as u64, n, "{text}");
    for i in 0..n {
        let stem = format!("\t/u{i}.txt\t");
        assert_eq!(
            lines.iter().filter(|l| l.contains(&stem)).count(),
            1,
            "{text}"
        );
    }
    edge.stop().await;
}

/// `usage report --from-bucket` against a bucket that cannot be reached fails with a message
/// naming the listing, where it was sent and why, not a panic or an empty report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_from_an_unreachable_bucket_says_why() {
    let refused = crate::common::origin::RefusedPort::new();
    let dead = format!("http://127.0.0.1:{}", refused.port());
    let args = [
        "usage",
        "report",
        "--from-bucket",
        "s3://gone/cf/",
        "--s3-endpoint",
        &dead,
    ];
    let (ok, stdout, stderr) = edgegate(args.iter().map(|s| s.to_string()).collect()).await;
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!("LIST s3://gone/cf/ at {dead} failed: "))
            && stderr.contains("Connection refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
