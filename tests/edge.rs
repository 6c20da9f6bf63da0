//! The data plane against a real custom origin: routing, behaviors, caching, collapsing, headers
//! and errors.

use crate::common::origin::TestOrigin;
use crate::common::*;

async fn setup() -> (TestEdge, TestOrigin) {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    (edge, origin)
}

#[tokio::test]
async fn miss_then_hit_with_cloudfront_headers() {
    let (edge, origin) = setup().await;
    let r1 = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r1.status, 200, "{}", r1.text());
    assert_eq!(r1.text(), "origin:/a.txt");
    assert_eq!(r1.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(r1.header("x-amz-cf-pop"), Some("IAD50-C1"));
    assert_eq!(r1.header("x-amz-cf-id").map(str::len), Some(56));
    assert!(
        r1.header("via")
            .unwrap()
            .ends_with(".cloudfront.net (CloudFront)")
    );
    assert!(
        r1.header("set-cookie").is_none(),
        "Set-Cookie is removed when cookies are not forwarded"
    );

    let r2 = get(edge.viewer, HOST, "/a.txt").await;
    assert_eq!(r2.status, 200);
    assert_eq!(r2.text(), "origin:/a.txt");
    assert_eq!(r2.header("x-cache"), Some("Hit from cloudfront"));
    assert!(r2.header("age").is_some());
    assert_ne!(r1.header("x-amz-cf-id"), r2.header("x-amz-cf-id"));
    assert_eq!(origin.hits_for("/a.txt"), 1);

    // The origin saw CloudFront's request headers.
    let seen = origin.last();
    assert_eq!(seen.headers["user-agent"], "Amazon CloudFront");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        seen.headers["x-amz-cf-id"].to_str().unwrap(),
        r1.header("x-amz-cf-id").unwrap()
    );
    assert!(
        seen.headers["via"]
            .to_str()
            .unwrap()
            .contains("cloudfront.net (CloudFront)")
    );

    // Query strings are not in CachingOptimized's key and not forwarded.
    let r3 = get(edge.viewer, HOST, "/a.txt?v=2").await;
    assert_eq!(r3.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits_for("/a.txt"), 1);

    // An alias reaches the same distribution and shares the cache.
    let r4 = get(edge.viewer, "www.example.test", "/a.txt").await;
    assert_eq!(r4.header("x-cache"), Some("Hit from cloudfront"));
    edge.stop().await;
}

#[tokio::test]
async fn conditional_and_range_from_cache() {
    let (edge, origin) = setup().await;
    get(edge.viewer, HOST, "/c.txt").await;
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/c.txt",
        &[("if-none-match", "\"v1\"")],
        b"",
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        "/c.txt",
        &[("range", "bytes=0-5")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "origin");
    assert_eq!(r.header("content-range"), Some("bytes 0-5/13"));
    assert_eq!(origin.hits_for("/c.txt"), 1);
    edge.stop().await;
}

#[tokio::test]
async fn default_root_object_and_routing_refusals() {
    let (edge, origin) = setup().await;
    let r = get(edge.viewer, HOST, "/").await;
    assert_eq!(r.text(), "origin:/index.html");

    let r = get(edge.viewer, "unknown.example", "/").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("The request could not be satisfied"));
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));

    let r = send(edge.viewer, "POST", HOST, "/a.txt", &[], b"x").await;
    assert_eq!(r.status, 403);
    assert!(
        r.text()
            .contains("not configured to allow the HTTP request method")
    );

    let r = send(edge.viewer, "GET", HOST, "/a.txt", &[], b"body").await;
    assert_eq!(r.status, 403, "a GET with a body");

    let r = get(edge.viewer, HOST, "/secure/x").await;
    assert_eq!(r.status, 403);

    let r = get(edge.viewer, HOST, "/redirect/x?y=1").await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(&*format!("https://{HOST}/redirect/x?y=1"))
    );
    assert_eq!(r.header("x-cache"), Some("Redirect from cloudfront"));
    assert_eq!(r.body.len(), 167);

    // The distribution's 403 rule answers a refused signed URL too (the SPA page, 200), and
    // the refused object never reaches the origin.
    let r = get(edge.viewer, HOST, "/private/report.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/errors/app.html");
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    assert_eq!(origin.hits_for("/private/"), 0);

    let long = format!("/{}", "a".repeat(9000));
    let r = get(edge.viewer, HOST, &long).await;
    assert_eq!(r.status, 413);
    let big = "b".repeat(21_000);
    let r = send(edge.viewer, "GET", HOST, "/a.txt", &[("x-big", &big)], b"").await;
    assert_eq!(r.status, 413);
    edge.stop().await;
}

#[tokio::test]
async fn uncached_behavior_passes_methods_and_bodies() {
    let (edge, origin) = setup().await;
    let r = send(
        edge.viewer,
        "POST",
        HOST,
        "/api/items?x=1",
        &[("content-type", "application/json")],
        b"{\"a\":1}",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let seen = origin.last();
    assert_eq!(seen.method, "POST");
    get(edge.viewer, HOST, "/api/x").await;
    get(edge.viewer, HOST, "/api/x").await;
    assert_eq!(origin.hits_for("/api/x"), 2, "CachingDisabled never stores");
    // no-store from the origin is not cached when MinTTL is 0 (UseOriginCacheControlHeaders);
    // under CachingOptimized (MinTTL 1) CloudFront would keep it for one second.
    get(edge.viewer, HOST, "/nostore/y").await;
    let r = get(edge.viewer, HOST, "/nostore/y").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(origin.hits_for("/nostore/y"), 2);
    edge.stop().await;
}

#[tokio::test]
async fn concurrent_misses_collapse_into_one_origin_request() {
    let (edge, origin) = setup().await;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let addr = edge.viewer;
        tasks.push(tokio::spawn(async move {
            get(addr, HOST, "/delay-ms/300/cold.bin").await
        }));
    }
    let mut misses = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "origin:/delay-ms/300/cold.bin");
        if r.header("x-cache") == Some("Miss from cloudfront") {
            misses += 1;
        }
    }
    assert_eq!(origin.hits_for("/delay-ms/300/cold.bin"), 1);
    assert_eq!(misses, 1);
    edge.stop().await;
}

#[tokio::test]
async fn origin_errors_are_cloudfront_errors() {
    let (edge, origin) = setup().await;
    let r = get(edge.viewer, HOST, "/status/404/missing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));

    let r = get(edge.viewer, HOST, "/slow/x").await;
    assert_eq!(r.status, 504);
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    assert!(r.text().contains("504 ERROR"));
    drop(origin);

    // A distribution whose origin port is closed: 502.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let edge2 = TestEdge::start(&custom_origin_config(closed)).await;
    let r = get(edge2.viewer, HOST, "/x").await;
    assert_eq!(r.status, 502);
    assert!(r.text().contains("502 ERROR"));
    edge.stop().await;
    edge2.stop().await;
}

/// Viewer HTTPS with rustls, over HTTP/1.1 and HTTP/2, with curl as the client; the
/// https-only behavior serves over TLS and `redirect-to-https` stops redirecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_https_http1_and_http2() {
    let origin = TestOrigin::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let config = format!(
        "listen_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{}",
        cert.display(),
        key.display(),
        custom_origin_config(origin.addr.port())
    );
    let edge = TestEdge::start(&config).await;
    let tls = edge.viewer_tls.expect("TLS listener bound");
    let curl = |version: &'static str, path: &'static str| {
        let url = format!("https://{HOST}:{}{path}", tls.port());
        let resolve = format!("{HOST}:{}:127.0.0.1", tls.port());
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("curl")
                .args([
                    "-sk",
                    "-o",
                    "/dev/null",
                    "-D",
                    "-",
                    version,
                    "--resolve",
                    &resolve,
                    &url,
                ])
                .output()
                .expect("curl is installed");
            String::from_utf8_lossy(&out.stdout).to_lowercase()
        })
    };
    let h2 = curl("--http2", "/secure/a").await.unwrap();
    assert!(h2.starts_with("http/2 200"), "{h2}");
    assert!(h2.contains("x-cache: miss from cloudfront"), "{h2}");
    let h1 = curl("--http1.1", "/secure/a").await.unwrap();
    assert!(h1.starts_with("http/1.1 200"), "{h1}");
    assert!(h1.contains("x-cache: hit from cloudfront"), "{h1}");
    let r = curl("--http2", "/redirect/b").await.unwrap();
    assert!(r.starts_with("http/2 200"), "{r}");
    edge.stop().await;
}

/// Many HTTP/2 streams on one TLS connection, with bodies around the 16 KiB of a TLS record and
/// an h2 frame, as misses and then as hits: every body arrives whole and in order, though an h2
/// connection's frames are sealed in whole records and sent at the end of its turn
/// (`server::cork`), and a lone small response still leaves without waiting for more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_streams_arrive_whole() {
    const SIZES: [usize; 12] = [
        1, 100, 16_375, 16_383, 16_384, 16_385, 16_393, 32_768, 40_000, 65_536, 100_001, 300_000,
    ];
    let origin = TestOrigin::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    // No mirrors: `large_cached_bodies_leave_through_sendfile_unchanged` counts them process-wide.
    let config = format!(
        "sendfile = false\nlisten_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{}",
        cert.display(),
        key.display(),
        custom_origin_config(origin.addr.port())
    );
    let edge = TestEdge::start(&config).await;
    let tls = edge.viewer_tls.expect("TLS listener bound");
    // One curl, every URL as a stream of one HTTP/2 connection; `copies` of each.
    let fetch = |copies: usize| {
        let out = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "-sk",
            "--http2",
            "--parallel",
            "--parallel-max",
            "64",
            "--max-time",
            "30",
            "-w",
            "%{http_version} %{num_connects}\\n",
            "--resolve",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("{HOST}:{}:127.0.0.1", tls.port()));
        for n in SIZES {
            for c in 0..copies {
                args.push(format!("https://{HOST}:{}/big/{n}/h2.bin", tls.port()));
                args.push("-o".into());
                args.push(out.path().join(format!("{n}-{c}")).display().to_string());
            }
        }
        tokio::task::spawn_blocking(move || {
            let run = std::process::Command::new("curl")
                .args(&args)
                .output()
                .expect("curl is installed");
            assert!(run.status.success(), "curl: {:?}", run.status);
            (out, String::from_utf8_lossy(&run.stdout).into_owned())
        })
    };
    for copies in [1, 4] {
        let (out, written) = fetch(copies).await.unwrap();
        assert!(
            written.lines().all(|l| l.starts_with("2 ")),
            "every stream over HTTP/2: {written}"
        );
        // Streams after the first share its connection (curl counts the connects it made).
        let connects: usize = written
            .lines()
            .filter_map(|l| l.split(' ').nth(1)?.parse::<usize>().ok())
            .sum();
        assert_eq!(connects, 1, "one connection: {written}");
        for n in SIZES {
            let want = crate::common::origin::big_body(n);
            for c in 0..copies {
                let got = std::fs::read(out.path().join(format!("{n}-{c}"))).unwrap();
                assert!(
                    got == want,
                    "body of {n} bytes, copy {c}: {} bytes",
                    got.len()
                );
            }
        }
    }
    // The second round was all hits.
    for n in SIZES {
        assert_eq!(origin.hits_for(&format!("/big/{n}/h2.bin")), 1, "{n} bytes");
    }
    // A single small answer on a connection of its own is not held back.
    let started = std::time::Instant::now();
    let url = format!("https://{HOST}:{}/big/100/h2.bin", tls.port());
    let resolve = format!("{HOST}:{}:127.0.0.1", tls.port());
    let one = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "-sk",
                "--http2",
                "--max-time",
                "10",
                "--resolve",
                &resolve,
                &url,
            ])
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    assert!(one.status.success(), "curl: {:?}", one.status);
    assert_eq!(one.stdout, crate::common::origin::big_body(100));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    edge.stop().await;
}

/// An expired object is revalidated with the origin: a 304 makes it a `RefreshHit` and it is
/// fresh again for the TTL the 304 carried.
#[tokio::test]
async fn expired_objects_are_revalidated_as_refresh_hits() {
    let origin = TestOrigin::start().await;
    let clock = edgegate::clock::ManualClock::new();
    let config = custom_origin_config(origin.addr.port());
    let edge = TestEdge::start_clocked(&config, clock.clone()).await;
    let r = get(edge.viewer, HOST, "/maxage1/x").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    // The edge's clock moves past the one-second TTL: no waiting.
    clock.advance(std::time::Duration::from_secs(2));
    let r = get(edge.viewer, HOST, "/maxage1/x").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("RefreshHit from cloudfront"));
    assert_eq!(r.text(), "origin:/maxage1/x");
    assert_eq!(origin.last().headers["if-none-match"], "\"v1\"");
    let r = get(edge.viewer, HOST, "/maxage1/x").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits_for("/maxage1/x"), 2);
    edge.stop().await;
}

#[tokio::test]
async fn custom_error_responses_serve_their_pages() {
    let (edge, origin) = setup().await;
    let r = get(edge.viewer, HOST, "/status/404/gone").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "origin:/errors/404.html");
    assert_eq!(r.header("x-cache"), Some("Error from cloudfront"));
    // The 404 itself is cached (ErrorCachingMinTTL 5 s) and so is the page.
    let r = get(edge.viewer, HOST, "/status/404/gone").await;
    assert_eq!(r.text(), "origin:/errors/404.html");
    assert_eq!(origin.hits_for("/status/404/gone"), 1);
    assert_eq!(origin.hits_for("/errors/404.html"), 1);
    // A rule may change the status: the single-page-app pattern.
    let r = get(edge.viewer, HOST, "/status/403/deep/link").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/errors/app.html");
    edge.stop().await;
}

/// Cached bodies of 16 KiB or more leave plain-HTTP connections through `sendfile` from their
/// in-memory mirror: whole, as ranges and over HTTP/2 (h2c) they arrive unchanged, and so they do
/// over TLS, which copies. With `sendfile = false` nothing is sent that way.
///
/// The only test in this binary that serves bodies of 16 KiB or more from the cache, so the
/// process-wide count of bytes sent with `sendfile` moves only with it.
#[tokio::test]
async fn large_cached_bodies_leave_through_sendfile_unchanged() {
    const LEN: usize = 300_000;
    let want = crate::common::origin::big_body(LEN);
    let origin = TestOrigin::start().await;
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let curl = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-o", "-"])
                .args(&args)
                .output()
                .expect("curl is installed");
            assert!(out.status.success(), "curl {args:?}: {:?}", out.status);
            out.stdout
        })
    };
    for sendfile in [false, true] {
        let config = format!(
            "sendfile = {sendfile}\nlisten_tls = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{}",
            cert.display(),
            key.display(),
            custom_origin_config(origin.addr.port())
        );
        let edge = TestEdge::start(&config).await;
        let path = format!("/big/{LEN}/{sendfile}.bin");
        let miss = get(edge.viewer, HOST, &path).await;
        assert_eq!(miss.header("x-cache"), Some("Miss from cloudfront"));
        assert!(miss.body == want[..], "the miss's body");

        let before = edgegate::sendfile::bytes_sent();
        let hit = get(edge.viewer, HOST, &path).await;
        assert_eq!(hit.header("x-cache"), Some("Hit from cloudfront"));
        assert!(hit.body == want[..], "the hit's body (sendfile {sendfile})");
        let range = send(
            edge.viewer,
            "GET",
            HOST,
            &path,
            &[("range", "bytes=1000-200999")],
            b"",
        )
        .await;
        assert_eq!(range.status, 206);
        assert!(
            range.body == want[1000..201_000],
            "the range's body (sendfile {sendfile})"
        );
        let head = send(edge.viewer, "HEAD", HOST, &path, &[], b"").await;
        assert_eq!(head.header("content-length"), Some("300000"));
        assert!(head.body.is_empty());
        let url = format!("http://127.0.0.1:{}{path}", edge.viewer.port());
        let h2c = curl(vec![
            "--http2-prior-knowledge".into(),
            "-H".into(),
            format!("host: {HOST}"),
            url,
        ]);
        assert!(
            h2c.await.unwrap() == want,
            "the h2c hit's body (sendfile {sendfile})"
        );
        let sent = edgegate::sendfile::bytes_sent() - before;
        let metrics = get(edge.admin, "localhost", "/metrics").await.text();
        let metric = |name: &str| -> u64 {
            let line = metrics.lines().find(|l| l.starts_with(&format!("{name} ")));
            line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in /metrics:\n{metrics}"))
        };
        if sendfile {
            // The whole hit and the range at least (h2c frames as well, unless all were copied).
            assert!(
                sent >= (LEN + 200_000) as u64,
                "{sent} bytes sent with sendfile"
            );
            assert!(metric("edgegate_sendfile_bytes_total") >= sent);
            assert!(metric("edgegate_cache_mirror_bytes") >= LEN as u64);
        } else {
            assert_eq!(sent, 0, "sendfile = false still sent with sendfile");
            assert_eq!(metric("edgegate_sendfile_bytes_total"), 0);
            assert_eq!(metric("edgegate_cache_mirror_bytes"), 0);
        }

        let tls = edge.viewer_tls.expect("TLS listener bound");
        for version in ["--http1.1", "--http2"] {
            let got = curl(vec![
                "-k".into(),
                version.into(),
                "--resolve".into(),
                format!("{HOST}:{}:127.0.0.1", tls.port()),
                format!("https://{HOST}:{}{path}", tls.port()),
            ]);
            assert!(got.await.unwrap() == want, "the TLS {version} hit's body");
        }
        assert_eq!(origin.hits_for(&path), 1);
        edge.stop().await;
    }
}
