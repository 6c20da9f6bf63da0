//! Hardening of the listeners (issue 26): timeouts, the connection limit, HTTP conformance at
//! the edge and operations, each driven through the real server by a misbehaving client on a
//! raw `TcpStream`. Timeouts are configured short (1–2 s) and every wait is bounded.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::origin::TestOrigin;
use crate::common::{HOST, TestEdge, custom_origin_config};

/// Short timeouts for the tests: 1 s for a request head, 2 s of keep-alive, 1 s of stalled send.
const SHORT: &str = "header_timeout = 1\nkeepalive_timeout = 2\nsend_timeout = 1\n";

/// An edge with `settings` (such as [`SHORT`]) in front of a test origin.
async fn edge_with(settings: &str) -> (TestEdge, TestOrigin) {
    let origin = TestOrigin::start().await;
    let config = format!("{settings}{}", custom_origin_config(origin.addr.port()));
    (TestEdge::start(&config).await, origin)
}

/// Reads and discards until the peer closes the connection (EOF or reset); returns the bytes
/// read and how long it took, or `None` if it is still open after `bound`.
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> Option<(usize, Duration)> {
    let start = Instant::now();
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = bound.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((total, start.elapsed())),
            Ok(Ok(n)) => total += n,
        }
    }
}

/// Sends `request` and reads one response head and its `Content-Length` body, bounded by 5 s:
/// (status, head text, body).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (u16, String, Vec<u8>) {
    stream.write_all(request).await.expect("request written");
    read_response(stream).await
}

async fn read_response(stream: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let work = async {
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut buf).await.expect("response read");
            assert!(n > 0, "connection closed before a response head: {data:?}");
            data.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = data[head_end..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut buf).await.expect("body read");
            assert!(n > 0, "connection closed mid-body");
            body.extend_from_slice(&buf[..n]);
        }
        (status, head, body)
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .expect("a response within 5 s")
}

fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_after_the_header_timeout() {
    let (edge, _origin) = edge_with(SHORT).await;
    let mut silent = TcpStream::connect(edge.viewer).await.unwrap();
    let (_, took) = until_closed(&mut silent, Duration::from_secs(5))
        .await
        .expect("a silent connection is closed");
    assert!(
        took >= Duration::from_millis(800),
        "not before the header timeout: {took:?}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_request_head_sent_a_byte_at_a_time_is_cut_off_by_the_header_timeout() {
    let (edge, _origin) = edge_with(SHORT).await;
    let mut slow = TcpStream::connect(edge.viewer).await.unwrap();
    let head = format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ");
    slow.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    // One more byte every 200 ms: each resets nothing.
    let closed = loop {
        if start.elapsed() > Duration::from_secs(5) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b"a").await.is_err() {
            break true;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => break true,
            Err(_) => {}
        }
    };
    assert!(closed, "a slowloris head is still open after 5 s");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    edge.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout() {
    let (edge, _origin) = edge_with(SHORT).await;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let (status, _, body) = exchange(&mut conn, &get_request(HOST, "/a.txt")).await;
    assert_eq!((status, body.as_slice()), (200, &b"origin:/a.txt"[..]));
    // Still open well within the keep-alive timeout (2 s), longer than the header timeout.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let (status, _, _) = exchange(&mut conn, &get_request(HOST, "/b.txt")).await;
    assert_eq!(
        status, 200,
        "the connection was kept alive past the header timeout"
    );
    let (_, took) = until_closed(&mut conn, Duration::from_secs(6))
        .await
        .expect("an idle keep-alive connection is closed");
    // The keep-alive timeout (2 s from the end of the response), not the header timeout (1 s).
    assert!(took >= Duration::from_millis(1_400), "{took:?}");
    edge.stop().await;
}

#[tokio::test]
async fn an_idle_h2c_connection_is_closed() {
    let (edge, _origin) = edge_with(SHORT).await;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let (read, _) = until_closed(&mut conn, Duration::from_secs(5))
        .await
        .expect("an idle HTTP/2 connection is closed");
    assert!(
        read > 0,
        "the edge spoke HTTP/2 (its SETTINGS) before closing"
    );
    edge.stop().await;
}

#[tokio::test]
async fn a_viewer_that_stops_reading_is_dropped_after_the_send_timeout() {
    let (edge, _origin) = edge_with(SHORT).await;
    let size = 48 << 20;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let path = format!("/big/{size}/stalled");
    conn.write_all(&get_request(HOST, &path)).await.unwrap();
    // Read nothing for 3 s: the edge fills the socket buffers, then its send stalls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (read, _) = until_closed(&mut conn, Duration::from_secs(10))
        .await
        .expect("the connection ends");
    assert!(
        read < size,
        "the stalled viewer was dropped before the whole body ({read} of {size} bytes)"
    );
    edge.stop().await;
}

#[tokio::test]
async fn the_admin_listener_closes_silent_connections_too() {
    let (edge, _origin) = edge_with(SHORT).await;
    let mut silent = TcpStream::connect(edge.admin).await.unwrap();
    assert!(
        until_closed(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a silent admin connection is closed"
    );
    edge.stop().await;
}

#[tokio::test]
async fn at_the_connection_limit_idle_connections_make_room_for_new_ones() {
    let (edge, _origin) =
        edge_with("header_timeout = 1\nkeepalive_timeout = 60\nmax_connections = 3\n").await;
    // Three idle keep-alive connections fill the limit.
    let mut idle = Vec::new();
    for i in 0..3 {
        let mut c = TcpStream::connect(edge.viewer).await.unwrap();
        let (status, _, _) = exchange(&mut c, &get_request(HOST, &format!("/idle/{i}"))).await;
        assert_eq!(status, 200);
        idle.push(c);
    }
    // A fourth viewer is still served: the idle ones are closed to make room.
    let mut fourth = TcpStream::connect(edge.viewer).await.unwrap();
    let (status, _, body) = exchange(&mut fourth, &get_request(HOST, "/fourth")).await;
    assert_eq!((status, body.as_slice()), (200, &b"origin:/fourth"[..]));
    let mut closed = 0;
    for c in &mut idle {
        if until_closed(c, Duration::from_millis(500)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 1, "an idle connection made room");
    edge.stop().await;
}

/// Sends raw `request` bytes on a new connection and reads one response.
async fn raw(edge: &TestEdge, request: &str) -> (u16, String, Vec<u8>) {
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    exchange(&mut conn, request.as_bytes()).await
}

#[tokio::test]
async fn host_headers_that_differ_or_are_missing_get_400() {
    let (edge, origin) = edge_with(SHORT).await;
    let (status, _, _) = raw(
        &edge,
        &format!("GET /x HTTP/1.1\r\nHost: {HOST}\r\nHost: www.other.test\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 400, "two differing Host headers");
    let (status, _, _) = raw(&edge, "GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n").await;
    assert_eq!(status, 400, "HTTP/1.1 without Host");
    // HTTP/1.0 may leave Host out: it is then simply not routed.
    let (status, _, _) = raw(&edge, "GET /x HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, 403, "HTTP/1.0 without Host routes nowhere");
    // The same Host twice is not ambiguous.
    let (status, _, _) = raw(
        &edge,
        &format!("GET /same HTTP/1.1\r\nHost: {HOST}\r\nHost: {HOST}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        origin.hits(),
        1,
        "only the unambiguous request reached the origin"
    );
    edge.stop().await;
}

#[tokio::test]
async fn an_absolute_form_target_is_routed_by_its_authority() {
    let (edge, origin) = edge_with(SHORT).await;
    let (status, _, body) = raw(
        &edge,
        &format!("GET http://{HOST}/abs.txt HTTP/1.1\r\nHost: www.unknown.test\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, b"origin:/abs.txt");
    // And the other way round: the Host header does not route an unknown authority.
    let (status, _, _) = raw(
        &edge,
        &format!("GET http://www.unknown.test/abs2.txt HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(origin.hits_for("/abs2.txt"), 0);
    edge.stop().await;
}

#[tokio::test]
async fn an_invalid_chunked_body_is_the_viewers_error_400() {
    let (edge, _origin) = edge_with(SHORT).await;
    let (status, _, _) = raw(
        &edge,
        &format!(
            "POST /api/upload HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\nzz\r\nnot a chunk\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 400, "not 502: the origin is not to blame");
    edge.stop().await;
}

#[tokio::test]
async fn a_transfer_coding_other_than_chunked_gets_501() {
    let (edge, origin) = edge_with(SHORT).await;
    let (status, _, _) = raw(
        &edge,
        &format!(
            "POST /api/gz HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(status, 501);
    assert_eq!(origin.hits_for("/api/gz"), 0, "not forwarded");
    // Plain chunked is fine.
    let (status, _, body) = raw(
        &edge,
        &format!(
            "POST /api/ok HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!((status, body.as_slice()), (200, &b"origin:/api/ok"[..]));
    edge.stop().await;
}

#[tokio::test]
async fn options_star_is_answered_at_the_edge() {
    let (edge, origin) = edge_with(SHORT).await;
    let (status, head, body) = raw(
        &edge,
        &format!("OPTIONS * HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{head}");
    let allow = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("allow: ")
                .or_else(|| l.strip_prefix("Allow: "))
        })
        .expect("an Allow header");
    assert_eq!(allow, "GET, HEAD", "the default behavior's methods");
    assert!(body.is_empty());
    assert_eq!(origin.hits(), 0, "not forwarded");
    edge.stop().await;
}

#[tokio::test]
async fn a_second_edge_on_the_same_data_directory_is_refused() {
    let (edge, _origin) = edge_with(SHORT).await;
    let dir = edge.data_dir.path().to_path_buf();
    // In process: start fails with the lock's holder named.
    let args = edgegate::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.clone()),
        ..Default::default()
    };
    let file = edgegate::config::FileConfig::default();
    let settings = edgegate::config::Settings::resolve(&args, &file, &dir).unwrap();
    let Err(e) = edgegate::app::start(settings, file, None).await else {
        panic!("a second edge must not open a data directory in use");
    };
    let text = e.to_string();
    assert!(
        text.contains("is in use by another edgegate")
            && text.contains(&format!("(pid {})", std::process::id())),
        "{text}"
    );
    // The binary: a clear message and a failing exit status, without serving.
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edgegate"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("edgegate runs");
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("the second edgegate kept running");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is in use by another edgegate"), "{stderr}");
    // Once the first has stopped, the directory is free again.
    let dir = edge.stop().await;
    let again = TestEdge::start_in(SHORT, dir).await;
    again.stop().await;
}

/// Runs curl against `url` with `auth` arguments; returns the HTTP status.
async fn curl_status(url: String, auth: &'static [&'static str]) -> u16 {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .args(auth)
            .arg(&url)
            .output()
            .expect("curl runs")
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .parse()
        .expect("a status")
}

#[tokio::test]
async fn off_loopback_metrics_and_usage_need_the_admin_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file: edgegate::config::FileConfig =
        toml::from_str("admin_credentials = \"AKIDHARDENING:s3cr3t\"\n").unwrap();
    let args = edgegate::config::ServeArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("0.0.0.0:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let settings = edgegate::config::Settings::resolve(&args, &file, dir.path()).unwrap();
    let running = edgegate::app::start(settings, file, None).await.unwrap();
    let admin = format!("http://127.0.0.1:{}", running.admin.port());
    for path in ["/metrics", "/usage"] {
        let url = format!("{admin}{path}");
        assert_eq!(
            curl_status(url.clone(), &[]).await,
            401,
            "{path} without credentials"
        );
        assert_eq!(
            curl_status(url.clone(), &["-u", "AKIDHARDENING:wrong"]).await,
            403,
            "{path} with a wrong secret"
        );
        assert_eq!(
            curl_status(url.clone(), &["-u", "AKIDHARDENING:s3cr3t"]).await,
            200,
            "{path} with HTTP Basic"
        );
        assert_eq!(
            curl_status(
                url.clone(),
                &[
                    "--aws-sigv4",
                    "aws:amz:us-east-1:cloudfront",
                    "--user",
                    "AKIDHARDENING:s3cr3t"
                ]
            )
            .await,
            200,
            "{path} signed with SigV4"
        );
        assert_eq!(
            curl_status(
                url,
                &[
                    "--aws-sigv4",
                    "aws:amz:us-east-1:cloudfront",
                    "--user",
                    "AKIDHARDENING:other"
                ]
            )
            .await,
            403,
            "{path} signed with the wrong secret"
        );
    }
    assert_eq!(curl_status(format!("{admin}/healthz"), &[]).await, 200);
    running.shutdown().await;
}

#[tokio::test]
async fn on_loopback_metrics_stay_open() {
    let edge = TestEdge::start("admin_credentials = \"AKIDHARDENING:s3cr3t\"\n").await;
    let url = format!("http://{}/metrics", edge.admin);
    assert_eq!(curl_status(url, &[]).await, 200);
    edge.stop().await;
}

#[tokio::test]
async fn out_of_descriptors_the_edge_closes_idle_connections_and_keeps_serving() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = custom_origin_config(origin.addr.port()).replace(
        "keys/demo-public.pem",
        concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem"),
    );
    let config_path = dir.path().join("edgegate.toml");
    std::fs::write(&config_path, config).unwrap();
    // 64 descriptors in all, and a connection limit far above them: accepting runs out of
    // descriptors, which must neither spin nor stop the edge.
    let script = format!(
        "ulimit -n 64 && exec \"$0\" serve --workers 1 --max-connections 1000 \
         --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --config {} --data-dir {}",
        config_path.display(),
        dir.path().join("data").display()
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_edgegate"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("edgegate runs");
    let stdout = child.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        line
    });
    let banner = tokio::time::timeout(Duration::from_secs(20), banner)
        .await
        .expect("edgegate starts within 20 s")
        .unwrap();
    let viewer: std::net::SocketAddr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("viewer=http://"))
        .unwrap_or_else(|| panic!("a banner: {banner:?}"))
        .parse()
        .unwrap();
    // More silent connections than the edge has descriptors.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(viewer).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut served = 0;
    for i in 0..5 {
        let mut conn = TcpStream::connect(viewer).await.unwrap();
        let (status, _, body) = exchange(&mut conn, &get_request(HOST, &format!("/fd/{i}"))).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("origin:/fd/{i}").into_bytes());
        served += 1;
    }
    assert_eq!(served, 5);
    let mut closed = 0;
    for c in &mut idle {
        if until_closed(c, Duration::from_millis(20)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed > 0, "idle connections gave their descriptors back");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let accept_lines = stderr
        .lines()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert!(
        (1..=3).contains(&accept_lines),
        "running out of descriptors is logged, once per 10 s: {accept_lines} lines\n{stderr}"
    );
}

#[tokio::test]
async fn a_slow_upload_holds_no_origin_connection_and_does_not_time_the_origin_out() {
    // The origin's OriginReadTimeout is 2 s; the upload takes longer, each part within the
    // 2 s header timeout that also bounds a body's parts.
    let (edge, origin) =
        edge_with("header_timeout = 2\nkeepalive_timeout = 2\nsend_timeout = 1\n").await;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let head =
        format!("POST /api/slow-upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 4000\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    for _ in 0..4 {
        conn.write_all(&[b'u'; 1000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        if start.elapsed() < Duration::from_millis(3_000) {
            assert_eq!(
                origin.hits_for("/api/slow-upload"),
                0,
                "no origin request while the viewer is still uploading"
            );
        }
    }
    assert!(start.elapsed() > Duration::from_secs(3));
    let (status, _, body) = read_response(&mut conn).await;
    assert_eq!(
        status, 200,
        "the origin answered at once once the body was there"
    );
    assert_eq!(body, b"origin:/api/slow-upload");
    let seen = origin.seen_for("/api/slow-upload");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers.get("content-length").map(|v| v.as_bytes()),
        Some(&b"4000"[..])
    );
    edge.stop().await;
}

#[tokio::test]
async fn request_bodies_over_the_limit_get_413_and_a_stalled_one_408() {
    let (edge, origin) = edge_with(&format!(
        "{SHORT}request_body_buffer = \"1KiB\"\nmax_request_body = 4000\n"
    ))
    .await;
    // Too long by its Content-Length: refused before anything is read.
    let (status, _, _) = raw(
        &edge,
        &format!("POST /api/big HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5000\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(origin.hits_for("/api/big"), 0);
    let chunked = |path: &str, chunks: usize| {
        let mut r =
            format!("POST {path} HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n");
        for _ in 0..chunks {
            r.push_str(&format!("3e8\r\n{}\r\n", "c".repeat(1000)));
        }
        r.push_str("0\r\n\r\n");
        r
    };
    // Within the limit, longer than the buffer: streamed on after the first KiB.
    let (status, _, _) = raw(&edge, &chunked("/api/streamed", 3)).await;
    assert_eq!(status, 200);
    let seen = origin.seen_for("/api/streamed");
    assert_eq!(seen.len(), 1);
    // Over the limit while streamed: 413, not an origin error.
    let (status, _, _) = raw(&edge, &chunked("/api/too-long", 5)).await;
    assert_eq!(status, 413);
    // A body that stops coming: 408 after the header timeout.
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let head =
        format!("POST /api/stalled HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100\r\n\r\nabc");
    let start = Instant::now();
    let (status, _, _) = exchange(&mut conn, head.as_bytes()).await;
    assert_eq!(status, 408);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(origin.hits_for("/api/stalled"), 0);
    edge.stop().await;
}

#[tokio::test]
async fn a_silent_https_connection_is_closed_within_the_header_timeout() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = crate::common::self_signed(certs.path());
    let tls = format!(
        "listen_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let (edge, _origin) = edge_with(&format!("{SHORT}{tls}")).await;
    let mut silent = TcpStream::connect(edge.viewer_tls.expect("an HTTPS listener"))
        .await
        .unwrap();
    let (_, took) = until_closed(&mut silent, Duration::from_secs(5))
        .await
        .expect("a connection that never starts its TLS handshake is closed");
    assert!(took < Duration::from_secs(3), "{took:?}");
    edge.stop().await;
}

/// An origin that reads the whole request body before it answers, and answers with its length;
/// the bodies it received, in order.
async fn body_reading_origin() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use axum::body::Bytes;
    let bodies: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Default::default();
    let kept = bodies.clone();
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let kept = kept.clone();
        async move {
            let len = body.len();
            kept.lock().unwrap().push(body.to_vec());
            format!("received {len}")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, bodies)
}

/// An upload larger than `--request-body-buffer`, from a viewer slower in total than the
/// origin's OriginReadTimeout (2 s), to a healthy origin: the part past the buffer streams on,
/// the read timeout counts from the end of the send, and the origin gets every byte (200).
#[tokio::test]
async fn a_slow_upload_larger_than_the_buffer_streams_and_is_not_timed_out() {
    let (port, bodies) = body_reading_origin().await;
    let settings = "header_timeout = 2\nkeepalive_timeout = 2\nsend_timeout = 1\n\
                    request_body_buffer = \"1KiB\"\n";
    let config = format!("{settings}{}", custom_origin_config(port));
    assert!(config.contains("origin_read_timeout = 2"), "{config}");
    let edge = TestEdge::start(&config).await;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let head =
        format!("POST /api/big-upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 6000\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let sent: Vec<u8> = (0..6000u32).map(|i| (i * 7 % 251) as u8).collect();
    let start = Instant::now();
    for part in sent.chunks(1000) {
        conn.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Slower in total than the origin's read timeout.
    assert!(start.elapsed() > Duration::from_secs(3));
    let (status, _, body) = read_response(&mut conn).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, b"received 6000");
    let received = bodies.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0], sent, "the origin received every byte");
    edge.stop().await;
}

/// A body larger than the buffer that stops coming while it streams to the origin: 408 after
/// the idle limit (the header timeout), not a wait without end for an origin that waits too.
#[tokio::test]
async fn a_streamed_upload_that_stalls_gets_408() {
    let (port, bodies) = body_reading_origin().await;
    let settings = "header_timeout = 1\nkeepalive_timeout = 2\nsend_timeout = 1\n\
                    request_body_buffer = \"1KiB\"\n";
    let edge = TestEdge::start(&format!("{settings}{}", custom_origin_config(port))).await;
    let mut conn = TcpStream::connect(edge.viewer).await.unwrap();
    let head = format!("POST /api/stalls HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 6000\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&[b's'; 2000]).await.unwrap();
    let (status, _, _) = read_response(&mut conn).await;
    assert_eq!(status, 408);
    assert!(
        bodies.lock().unwrap().is_empty(),
        "the origin got no whole body"
    );
    edge.stop().await;
}
