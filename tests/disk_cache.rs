//! The disk cache tier (`disk_cache`, `disk_cache_size`) through the real server: objects
//! survive a restart as hits, a SIGKILL of the real binary in the middle of fills never leaves
//! a torn object that is served later, invalidations reach disk entries (also those made while
//! the edge was down), an unusable directory or a tiny disk size degrades without failing a
//! request, and an object above the memory tier's bound is cached on disk and served with
//! ranges.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::awscli::aws_json;
use crate::common::origin::{TestOrigin, big_body};
use crate::common::{HOST, TestEdge, custom_origin_config, get, send};

/// The test distribution in front of `port`, with a disk tier in `disk` and the given settings.
///
/// Without `sendfile`: tests/edge.rs counts the process-wide bytes sent with it and must be the
/// only test of this binary that moves the count. That disk hits leave through `sendfile` from
/// the cache file, and that the file stays open while hyper writes a body nothing else holds,
/// is shown by the unit tests of `cache::disk` and `sendfile`.
fn config(port: u16, disk: &Path, settings: &str) -> String {
    format!(
        "sendfile = false\ndisk_cache = {:?}\n{settings}\n{}",
        disk.display().to_string(),
        custom_origin_config(port)
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

async fn metrics(edge: &TestEdge) -> String {
    get(edge.admin, "localhost", "/metrics").await.text()
}

async fn invalidate(edge: &TestEdge, paths: &[&str]) {
    let mut args = vec![
        "--endpoint-url".to_owned(),
        format!("http://{}", edge.admin),
        "cloudfront".to_owned(),
        "create-invalidation".to_owned(),
        "--distribution-id".to_owned(),
        "ETEST0000001".to_owned(),
        "--paths".to_owned(),
    ];
    args.extend(paths.iter().map(|p| p.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        aws_json(&refs)
    })
    .await
    .unwrap();
    assert_eq!(out["Invalidation"]["Status"], "Completed");
}

#[tokio::test]
async fn objects_on_disk_are_hits_after_a_restart() {
    let origin = TestOrigin::start().await;
    let disk = tempfile::tempdir().unwrap();
    let cfg = config(origin.addr.port(), disk.path(), "");
    let edge = TestEdge::start(&cfg).await;
    for path in ["/big/70000/a.bin", "/small.txt"] {
        let r = get(edge.viewer, HOST, path).await;
        assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"), "{path}");
    }
    let r = get(edge.viewer, HOST, "/big/70000/a.bin").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits(), 2);
    edge.stop().await;

    // A new edge with a fresh data directory and an empty memory cache: the disk tier answers.
    let edge = TestEdge::start(&cfg).await;
    let r = get(edge.viewer, HOST, "/big/70000/a.bin").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(&r.body[..], &big_body(70_000)[..]);
    let r = get(edge.viewer, HOST, "/small.txt").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.text(), "origin:/small.txt");
    assert_eq!(origin.hits(), 2, "the origin was not asked again");
    let m = metrics(&edge).await;
    assert_eq!(metric(&m, "edgegate_disk_cache_entries"), 2.0);
    assert!(
        m.contains("edgegate_cache_tier_hits_total{tier=\"disk\"} 2"),
        "{m}"
    );
    // Promoted: the next hit comes from memory.
    get(edge.viewer, HOST, "/small.txt").await;
    let m = metrics(&edge).await;
    assert!(
        m.contains("edgegate_cache_tier_hits_total{tier=\"disk\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("edgegate_cache_tier_hits_total{tier=\"memory\"} 1"),
        "{m}"
    );
    edge.stop().await;
}

#[tokio::test]
async fn an_object_above_the_memory_bound_is_cached_on_disk_and_served_with_ranges() {
    let origin = TestOrigin::start().await;
    let disk = tempfile::tempdir().unwrap();
    // Memory tier 1 MiB: objects above 128 KiB were passed through uncached before.
    let cfg = config(
        origin.addr.port(),
        disk.path(),
        "cache_size = \"1MiB\"\ndisk_cache_size = \"64MiB\"",
    );
    let edge = TestEdge::start(&cfg).await;
    let n = 3_000_000;
    let want = big_body(n);
    let path = format!("/big/{n}/video.mp4");
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(&r.body[..], &want[..]);
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert!(r.body[..] == want[..]);
    edge.stop().await;

    // After a restart, from the cache file.
    let edge = TestEdge::start(&cfg).await;
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.body.len(), n);
    assert!(r.body[..] == want[..]);
    let r = send(
        edge.viewer,
        "GET",
        HOST,
        &path,
        &[("range", "bytes=1000000-1000999")],
        b"",
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(
        r.header("content-range"),
        Some("bytes 1000000-1000999/3000000")
    );
    assert_eq!(&r.body[..], &want[1_000_000..1_001_000]);
    assert_eq!(origin.hits(), 1);
    let m = metrics(&edge).await;
    assert_eq!(metric(&m, "edgegate_cache_entries"), 0.0, "not in memory");
    assert!(metric(&m, "edgegate_disk_cache_bytes") > n as f64, "{m}");
    assert!(
        m.contains("edgegate_cache_tier_hits_total{tier=\"disk\"} 2"),
        "{m}"
    );
    // Opened once after the restart; the range was served from the kept open file.
    assert_eq!(metric(&m, "edgegate_disk_cache_open_files"), 1.0, "{m}");
    edge.stop().await;
}

#[tokio::test]
async fn invalidations_reach_disk_entries_even_made_while_the_edge_was_down() {
    let origin = TestOrigin::start().await;
    let disk = tempfile::tempdir().unwrap();
    let cfg = config(origin.addr.port(), disk.path(), "");
    let edge = TestEdge::start(&cfg).await;
    for p in ["/doc/a", "/doc/b", "/img/c"] {
        get(edge.viewer, HOST, p).await;
    }
    assert_eq!(origin.hits(), 3);
    invalidate(&edge, &["/img/*"]).await;
    let data = edge.stop().await;

    // The disk entry is gone too: a restarted edge misses.
    let edge = TestEdge::start_in(&cfg, data).await;
    let r = get(edge.viewer, HOST, "/img/c").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(origin.hits(), 4);
    let data = edge.stop().await;

    // An edge on the same state but without the disk tier invalidates /doc/a while the disk
    // edge is down.
    let plain = custom_origin_config(origin.addr.port());
    let edge = TestEdge::start_in(&plain, data).await;
    invalidate(&edge, &["/doc/a"]).await;
    let data = edge.stop().await;

    let edge = TestEdge::start_in(&cfg, data).await;
    let r = get(edge.viewer, HOST, "/doc/a").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    let r = get(edge.viewer, HOST, "/doc/b").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits(), 5);
    // And an invalidation now reaches an object that is on disk only (evicted from memory by
    // the restart).
    invalidate(&edge, &["/doc/*"]).await;
    let r = get(edge.viewer, HOST, "/doc/b").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(origin.hits(), 6);
    edge.stop().await;
}

#[tokio::test]
async fn an_unusable_directory_or_a_full_disk_degrades_to_memory() {
    let origin = TestOrigin::start().await;
    // A regular file where the directory should be.
    let file = tempfile::NamedTempFile::new().unwrap();
    let cfg = config(origin.addr.port(), file.path(), "");
    let edge = TestEdge::start(&cfg).await;
    let r = get(edge.viewer, HOST, "/a").await;
    assert_eq!(r.status, 200);
    let r = get(edge.viewer, HOST, "/a").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    let m = metrics(&edge).await;
    assert!(!m.contains("edgegate_disk_cache_entries"), "{m}");
    edge.stop().await;

    // A 1 MiB disk tier filled several times over: it evicts and stays within its size, and
    // every request is answered.
    let disk = tempfile::tempdir().unwrap();
    let cfg = config(
        origin.addr.port(),
        disk.path(),
        "disk_cache_size = \"1MiB\"",
    );
    let edge = TestEdge::start(&cfg).await;
    for i in 0..20 {
        let r = get(edge.viewer, HOST, &format!("/big/200000/{i}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 200_000);
    }
    // Stopping waits for the queued disk writes.
    edge.stop().await;
    let edge = TestEdge::start(&cfg).await;
    let m = metrics(&edge).await;
    assert!(
        metric(&m, "edgegate_disk_cache_bytes") <= (1 << 20) as f64,
        "{m}"
    );
    assert!(metric(&m, "edgegate_disk_cache_entries") >= 3.0, "{m}");
    let r = get(edge.viewer, HOST, "/big/200000/19").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    edge.stop().await;
}

/// An origin for the SIGKILL and large-object tests: `/big/{n}/...` answers n bytes of
/// [`big_body`]; the first request under `/stall/{n}/` gets the head and half the body, then
/// nothing more; the first under `/cut/{n}/` gets half the body and the connection closes;
/// `/slow/{n}/...` sends its first MiB, waits 700 ms, then the rest. The counter counts
/// requests under `/stall/`, `/cut/` and `/slow/`.
async fn stalling_origin() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalls = Arc::new(AtomicUsize::new(0));
    let s = stalls.clone();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let s = s.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let n: usize = path
                        .split('/')
                        .nth(2)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(10);
                    // Large bodies are slices of one made once (see `big`).
                    let body: std::borrow::Cow<'static, [u8]> = if n > 4 << 20 {
                        big(n).into()
                    } else {
                        big_body(n).into()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncache-control: max-age=3600\r\ncontent-length: {n}\r\n\r\n"
                    );
                    let special = ["/stall/", "/cut/", "/slow/"]
                        .into_iter()
                        .find(|p| path.starts_with(p));
                    // The first request of each kind.
                    let first = special.is_some_and(|p| {
                        s.fetch_add(1, Ordering::SeqCst);
                        seen.lock().unwrap().insert(p)
                    });
                    let stall = first && path.starts_with("/stall/");
                    if path.starts_with("/chunked/") {
                        // No Content-Length: 1 MiB chunks.
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncache-control: max-age=3600\r\ntransfer-encoding: chunked\r\n\r\n";
                        let mut out = head.as_bytes().to_vec();
                        for part in body.chunks(1 << 20) {
                            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                            out.extend_from_slice(part);
                            out.extend_from_slice(b"\r\n");
                        }
                        out.extend_from_slice(b"0\r\n\r\n");
                        if conn.write_all(&out).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    if conn.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    if first && path.starts_with("/cut/") {
                        let _ = conn.write_all(&body[..n / 2]).await;
                        return;
                    }
                    if path.starts_with("/slow/") {
                        let head = n.min(1 << 20);
                        if conn.write_all(&body[..head]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                        if conn.write_all(&body[head..]).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    if stall {
                        let _ = conn.write_all(&body[..n / 2]).await;
                        tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                        return;
                    }
                    if conn.write_all(&body).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, stalls)
}

#[tokio::test]
async fn a_sigkill_during_fills_never_serves_a_torn_object() {
    let (port, _stalls) = stalling_origin().await;
    let disk = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(port, disk.path(), "");
    let (mut child, viewer, _) = spawn_edge(&cfg, data.path(), files.path());

    let sizes = [150_000, 600_000, 20_000, 1_000_000, 300_000, 2_000_000];
    for (i, n) in sizes.iter().enumerate() {
        let r = get(viewer, HOST, &format!("/big/{n}/{i}")).await;
        assert_eq!(r.body.len(), *n);
    }
    // A fill cut in the middle: the edge has half the body when it is killed.
    let mut conn = tokio::net::TcpStream::connect(viewer).await.unwrap();
    conn.write_all(format!("GET /stall/400000/s HTTP/1.1\r\nhost: {HOST}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 65536];
    while got < 150_000 {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the edge streamed part of the body");
        got += n;
    }
    // At least two files committed (the writer thread works behind the responses; one of them
    // is torn below), then the kill, with the later writes possibly in flight.
    let objects = disk.path().join("objects");
    for _ in 0..200 {
        if std::fs::read_dir(&objects).is_ok_and(|d| d.count() >= 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(conn);

    // A torn cache file beside the others (as if a write had been cut): refused at load.
    let committed: Vec<_> = std::fs::read_dir(&objects)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    if let Some(p) = committed.first() {
        let bytes = std::fs::read(p).unwrap();
        std::fs::write(p, &bytes[..bytes.len() - 7]).unwrap();
    }

    let edge = TestEdge::start(&config(port, disk.path(), "")).await;
    let mut hits = 0;
    for (i, n) in sizes.iter().enumerate() {
        let r = get(edge.viewer, HOST, &format!("/big/{n}/{i}")).await;
        assert_eq!(r.status, 200);
        assert!(
            r.body[..] == big_body(*n)[..],
            "object {i} is whole and right"
        );
        if r.header("x-cache") == Some("Hit from cloudfront") {
            hits += 1;
        }
    }
    let r = get(edge.viewer, HOST, "/stall/400000/s").await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert!(r.body[..] == big_body(400_000)[..]);
    let m = metrics(&edge).await;
    if !committed.is_empty() {
        assert!(hits >= 1, "the files committed before the kill are hits");
        assert!(hits < sizes.len(), "the torn file is not one of them");
        assert_eq!(metric(&m, "edgegate_disk_cache_refused_total"), 1.0, "{m}");
    }
    assert!(
        !committed.is_empty(),
        "fills were committed to disk before the kill"
    );
    edge.stop().await;
}

/// The real binary with `cfg` (written under `files`), state in `data`: the child and its
/// viewer and admin addresses.
fn spawn_edge(
    cfg: &str,
    data: &Path,
    files: &Path,
) -> (
    std::process::Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    let key = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem");
    let cfg_file = files.join("edge.toml");
    std::fs::write(&cfg_file, cfg.replace("keys/demo-public.pem", key)).unwrap();
    let edge = crate::common::process::spawn(
        crate::common::process::serve_command()
            .arg("--data-dir")
            .arg(data)
            .arg("--config")
            .arg(&cfg_file)
            .stderr(Stdio::null()),
        None,
    );
    (edge.child, edge.viewer, edge.admin)
}

/// The peak resident set of process `pid` in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib * 1024
}

/// A GET read off the socket as it arrives, never held whole, compared with `want` as it
/// comes: status, head (lower case), body length and whether every byte matched. `extra` is
/// added to the request's head (e.g. a Range).
async fn get_checked(
    viewer: std::net::SocketAddr,
    path: &str,
    extra: &str,
    want: &[u8],
) -> (u16, String, u64, bool) {
    let mut conn = tokio::net::TcpStream::connect(viewer).await.unwrap();
    conn.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n{extra}\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the head arrived");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let expect: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("a content-length");
    let mut same = true;
    let mut got = 0usize;
    let mut check = |bytes: &[u8], at: usize| {
        same &= want.get(at..at + bytes.len()) == Some(bytes);
    };
    check(&buf[head_end..], 0);
    got += buf.len() - head_end;
    while (got as u64) < expect {
        let n = match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        check(&chunk[..n], got);
        got += n;
    }
    (status, head, got as u64, same && got == want.len())
}

/// The first `n` bytes of [`big_body`] (up to [`LARGE`]), made once.
fn big(n: usize) -> &'static [u8] {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    &BIG.get_or_init(|| big_body(LARGE))[..n]
}

/// Size of the large object of the tests below: far above the memory tier's bound (1 MiB with
/// `cache_size = "8MiB"`), within the disk tier's (a quarter of 512 MiB), and small enough to
/// keep the suite fast.
const LARGE: usize = 64 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_object_is_filled_to_disk_while_streamed_and_hit_without_whole_object_memory() {
    // Made before any origin needs it (the origin's requests have a 2 s read timeout).
    tokio::task::spawn_blocking(|| big(LARGE)).await.unwrap();
    let (port, special_requests) = stalling_origin().await;
    // On a disk file system (not a tmpfs /tmp), whose pages can leave the page cache.
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // The real binary (its own peak RSS is measured), with sendfile on: hits leave from the
    // cache file.
    let cfg = format!(
        "cache_size = \"8MiB\"\ndisk_cache = {:?}\ndisk_cache_size = \"512MiB\"\n{}",
        disk.path().display().to_string(),
        custom_origin_config(port)
    );
    let (mut child, viewer, admin) = spawn_edge(&cfg, data.path(), files.path());
    let r = get(viewer, HOST, "/big/1000/warm").await;
    assert_eq!(r.status, 200);
    let before = peak_rss(child.id());

    let want = big(LARGE);
    let path = format!("/slow/{LARGE}/movie.mp4");
    // The leader and two followers collapsed on it (the origin pauses after its first MiB).
    let p = path.clone();
    let leader = tokio::spawn(async move { get_checked(viewer, &p, "", want).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let followers: Vec<_> = (0..2)
        .map(|_| {
            let p = path.clone();
            tokio::spawn(async move { get_checked(viewer, &p, "", want).await })
        })
        .collect();
    let (status, head, len, same) = leader.await.unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
    assert_eq!(len, LARGE as u64);
    assert!(same, "the leader's body is whole and right");
    for f in followers {
        let (status, head, len, same) = f.await.unwrap();
        assert_eq!(status, 200);
        assert!(
            head.contains("x-cache: hit from cloudfront"),
            "collapsed: {head}"
        );
        assert_eq!(len, LARGE as u64);
        assert!(same, "a follower's body is whole and right");
    }
    assert_eq!(
        special_requests.load(Ordering::SeqCst),
        1,
        "one origin fetch"
    );
    let filled = peak_rss(child.id());

    // Hits from the file: whole, a range in the middle, a range at the end.
    let (status, head, len, same) = get_checked(viewer, &path, "", want).await;
    assert_eq!(status, 200);
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");
    assert_eq!(len, LARGE as u64);
    assert!(same);
    for (from, to) in [(10_000_000, 30_000_000), (LARGE - 1000, LARGE - 1)] {
        let range = format!("range: bytes={from}-{to}\r\n");
        let (status, head, len, same) = get_checked(viewer, &path, &range, &want[from..=to]).await;
        assert_eq!(status, 206);
        assert!(
            head.contains(&format!("content-range: bytes {from}-{to}/{LARGE}")),
            "{head}"
        );
        assert_eq!(len, (to - from + 1) as u64);
        assert!(same, "the range's bytes");
    }
    assert_eq!(special_requests.load(Ordering::SeqCst), 1, "hits only");
    let hit = peak_rss(child.id());
    // The hits left from the cache file with sendfile.
    let m = get(admin, "localhost", "/metrics").await.text();
    let ranges = 20_000_001 + 1000;
    assert!(
        metric(&m, "edgegate_sendfile_bytes_total") >= (LARGE + ranges) as f64,
        "{m}"
    );
    // Pages that have left the page cache are read on a blocking thread before sendfile
    // sends them, never inside it on the event loop: still byte-exact, and counted.
    assert_eq!(
        metric(&m, "edgegate_sendfile_cold_total"),
        0.0,
        "all in the page cache"
    );
    for f in std::fs::read_dir(disk.path().join("objects")).unwrap() {
        let f = std::fs::File::open(f.unwrap().path()).unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }
    let (status, _, len, same) = get_checked(viewer, &path, "", want).await;
    assert_eq!((status, len), (200, LARGE as u64));
    assert!(same, "a hit of cold pages is whole and right");
    let m = get(admin, "localhost", "/metrics").await.text();
    assert!(metric(&m, "edgegate_sendfile_cold_total") >= 1.0, "{m}");
    child.kill().unwrap();
    child.wait().unwrap();
    // A whole-object buffer would add 64 MiB (three viewers and three hits: more).
    let bound = 24 << 20;
    assert!(
        filled.saturating_sub(before) < bound,
        "peak RSS grew by {} MiB during the fill",
        (filled - before) >> 20
    );
    assert!(
        hit.saturating_sub(before) < bound,
        "peak RSS grew by {} MiB with the hits",
        (hit - before) >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_fill_cut_by_the_origin_or_killed_leaves_no_object() {
    tokio::task::spawn_blocking(|| big(LARGE)).await.unwrap();
    let (port, _) = stalling_origin().await;
    let disk = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let settings = "cache_size = \"8MiB\"\ndisk_cache_size = \"512MiB\"";
    let n = 16 << 20;
    let want = big(n);

    // The origin closes the connection halfway: the viewer's body breaks off, nothing is
    // stored, the temporary file is deleted, the next request is a miss.
    let edge = TestEdge::start(&config(port, disk.path(), settings)).await;
    let cut = format!("/cut/{n}/a.bin");
    let (_, _, len, _) = get_checked(edge.viewer, &cut, "", want).await;
    assert!(len < n as u64, "the body broke off");
    let tmp = disk.path().join("tmp");
    for _ in 0..100 {
        if std::fs::read_dir(&tmp).unwrap().count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the partial file is deleted"
    );
    assert_eq!(
        std::fs::read_dir(disk.path().join("objects"))
            .unwrap()
            .count(),
        0
    );
    let m = metrics(&edge).await;
    assert_eq!(metric(&m, "edgegate_disk_cache_entries"), 0.0, "{m}");
    let (status, head, len, same) = get_checked(edge.viewer, &cut, "", want).await;
    assert_eq!(status, 200);
    assert!(head.contains("x-cache: miss from cloudfront"), "{head}");
    assert_eq!(len, n as u64);
    assert!(same);
    let (_, head, _, same) = get_checked(edge.viewer, &cut, "", want).await;
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");
    assert!(same);
    edge.stop().await;

    // A SIGKILL of the real binary while a large fill is being written to its file.
    let (mut child, viewer, _) = spawn_edge(
        &config(port, disk.path(), settings),
        data.path(),
        files.path(),
    );
    let stall = format!("/stall/{n}/b.bin");
    let mut conn = tokio::net::TcpStream::connect(viewer).await.unwrap();
    conn.write_all(format!("GET {stall} HTTP/1.1\r\nhost: {HOST}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = 0;
    let mut buf = vec![0u8; 65536];
    while got < n / 4 {
        let r = conn.read(&mut buf).await.unwrap();
        assert!(r > 0, "the edge streamed part of the body");
        got += r;
    }
    let written = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .max()
            .unwrap_or(0)
    };
    for _ in 0..100 {
        if written() >= (n / 4) as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        written() >= (n / 4) as u64,
        "the fill is being written to tmp/"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(conn);
    assert_eq!(
        std::fs::read_dir(disk.path().join("objects"))
            .unwrap()
            .count(),
        1,
        "only the whole object of before is committed"
    );

    let edge = TestEdge::start(&config(port, disk.path(), settings)).await;
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "leftovers removed at start"
    );
    let (status, head, len, same) = get_checked(edge.viewer, &stall, "", want).await;
    assert_eq!(status, 200);
    assert!(
        head.contains("x-cache: miss from cloudfront"),
        "a new fill: {head}"
    );
    assert_eq!(len, n as u64);
    assert!(same);
    let (_, head, len, same) = get_checked(edge.viewer, &stall, "", want).await;
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");
    assert_eq!(len, n as u64);
    assert!(same);
    // The object of before is still a hit after the restart (its checksum verified now).
    let (_, head, _, same) = get_checked(edge.viewer, &cut, "", want).await;
    assert!(head.contains("x-cache: hit from cloudfront"), "{head}");
    assert!(same);
    edge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_body_without_a_length_moves_to_a_file_and_is_a_disk_hit() {
    tokio::task::spawn_blocking(|| big(LARGE)).await.unwrap();
    let (port, _) = stalling_origin().await;
    let disk = tempfile::tempdir().unwrap();
    let settings = "cache_size = \"8MiB\"\ndisk_cache_size = \"512MiB\"";
    let edge = TestEdge::start(&config(port, disk.path(), settings)).await;
    let n = 12 << 20;
    let path = format!("/chunked/{n}/a.bin");
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.header("x-cache"), Some("Miss from cloudfront"));
    assert!(r.body[..] == big(n)[..]);
    let r = get(edge.viewer, HOST, &path).await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(r.header("content-length"), Some(&*n.to_string()));
    assert!(r.body[..] == big(n)[..]);
    let m = metrics(&edge).await;
    assert_eq!(metric(&m, "edgegate_cache_entries"), 0.0, "not in memory");
    assert_eq!(metric(&m, "edgegate_disk_cache_entries"), 1.0, "{m}");
    assert_eq!(
        std::fs::read_dir(disk.path().join("objects"))
            .unwrap()
            .count(),
        1
    );
    edge.stop().await;
}
