//! Origin Shield (caching.md §17) through real servers on loopback: a shield edge
//! (`shield_region`) and three edges that send their misses for the shielded origin to it
//! (`shield_endpoints`), all declaring the same distribution. Concurrent misses over the three
//! edges reach the origin once; the edge logs a hit on the shield as `OriginShieldHit` and the
//! shield logs nothing of the edges' requests; one usage report over every journal counts each
//! viewer request once and each Origin Shield request once; an unreachable shield sends the
//! edges to the origin; a forged shield request is refused.

use std::time::Duration;

use crate::common::meter::{journal, usage_report, usage_totals};
use crate::common::origin::{RefusedPort, TestOrigin};
use crate::common::process::FleetEdge;
use crate::common::*;

const KEY: &str = "shield-test-key";
/// `x-edge-detailed-result-type` in a journal line (CloudFront's 29th standard field).
const DETAILED: usize = 28;
/// `x-edge-result-type`.
const RESULT_TYPE: usize = 13;
const STEM: usize = 7;
/// `x-origin-shield-billing-region`, the journal's 7th extension field.
const SHIELD_REGION: usize = 39;
/// The shield's answer to an edge, which no viewer sees.
const RESULT: &str = "x-edgegate-shield-result";

/// The test distribution with its origin behind an Origin Shield in us-east-1, after `top`.
fn shielded_config(origin_port: u16, top: &str) -> String {
    let base = custom_origin_config(origin_port).replacen(
        "connection_timeout = 2\n",
        "connection_timeout = 2\norigin_shield = { enabled = true, origin_shield_region = \"us-east-1\" }\n",
        1,
    );
    assert!(base.contains("origin_shield"), "the origin is shielded");
    format!("{top}\n{base}")
}

async fn shield_for(origin: &TestOrigin) -> TestEdge {
    TestEdge::start(&shielded_config(
        origin.addr.port(),
        &format!("shield_region = \"us-east-1\"\nshield_key = \"{KEY}\"\n"),
    ))
    .await
}

async fn edge_behind(origin: &TestOrigin, shield: &str) -> TestEdge {
    TestEdge::start(&shielded_config(
        origin.addr.port(),
        &format!("shield_key = \"{KEY}\"\n[shield_endpoints]\n\"us-east-1\" = \"{shield}\"\n"),
    ))
    .await
}

/// The journal lines of an edge whose path is `stem`, after the meter has written them.
async fn journal_for(edge: &TestEdge, stem: &str) -> Vec<Vec<String>> {
    assert_eq!(get(edge.admin, "localhost", "/metrics").await.status, 200);
    journal(edge.data_dir.path())
        .into_iter()
        .filter(|l| l[STEM] == stem)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_misses_over_three_edges_reach_the_origin_once() {
    let origin = TestOrigin::start().await;
    origin.program("/shared/", 200, &[("cache-control", "max-age=600")]);
    origin.program_delay("/shared/", Duration::from_millis(300));
    let shield = shield_for(&origin).await;
    let url = format!("http://{}", shield.viewer);
    let edges = [
        edge_behind(&origin, &url).await,
        edge_behind(&origin, &url).await,
        edge_behind(&origin, &url).await,
    ];
    for e in &edges {
        let warnings = e.running.as_ref().unwrap().warnings();
        assert!(
            !warnings.iter().any(|w| w.contains("OriginShield")),
            "{warnings:?}"
        );
    }

    let mut tasks = Vec::new();
    for i in 0..200 {
        let addr = edges[i % 3].viewer;
        tasks.push(tokio::spawn(async move {
            get(addr, HOST, "/shared/object.txt").await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), "origin:/shared/object.txt");
    }
    assert_eq!(origin.hits_for("/shared/object.txt"), 1, "one origin fetch");
    // The shield's own headers never reach the origin.
    let seen = origin.seen_for("/shared/object.txt");
    assert!(seen[0].headers.get("x-edgegate-shield-origin").is_none());
    assert!(seen[0].headers.get("x-edgegate-shield-signature").is_none());

    // A miss on edge 0 fills the shield; the same miss on edge 1 is a hit on the shield.
    let first = get(edges[0].viewer, HOST, "/shared/second.txt").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("Miss from cloudfront"));
    let second = get(edges[1].viewer, HOST, "/shared/second.txt").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache"), Some("Miss from cloudfront"));
    assert_eq!(second.text(), "origin:/shared/second.txt");
    assert_eq!(origin.hits_for("/shared/second.txt"), 1);
    assert!(
        second.header(RESULT).is_none(),
        "the shield's answer is not the viewer's"
    );
    // The shield logs none of the edges' requests; the edges log theirs: a miss on the
    // shield as a Miss, a hit on the shield as a Miss with OriginShieldHit.
    assert!(journal_for(&shield, "/shared/second.txt").await.is_empty());
    let on_first = journal_for(&edges[0], "/shared/second.txt").await;
    assert_eq!(on_first.len(), 1);
    assert_eq!(
        (
            on_first[0][RESULT_TYPE].as_str(),
            on_first[0][DETAILED].as_str()
        ),
        ("Miss", "Miss")
    );
    let on_second = journal_for(&edges[1], "/shared/second.txt").await;
    assert_eq!(on_second.len(), 1);
    assert_eq!(
        (
            on_second[0][RESULT_TYPE].as_str(),
            on_second[0][DETAILED].as_str()
        ),
        ("Miss", "OriginShieldHit")
    );
}

/// N viewer requests over three edges and the shield, then one usage report over the four
/// journals: N viewer requests, each billed once where its edge is, and one Origin Shield
/// request (in the shield's billing region) for each request an edge sent to the shield.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_usage_report_over_the_edges_and_the_shield_counts_each_request_once() {
    let origin = TestOrigin::start().await;
    origin.program("/u/", 200, &[("cache-control", "max-age=600")]);
    origin.program("/api/", 200, &[]);
    let shield = shield_for(&origin).await;
    let url = format!("http://{}", shield.viewer);
    // The edges bill in Europe, the shield (us-east-1) in the United States.
    let config = shielded_config(
        origin.addr.port(),
        &format!(
            "pop = \"FRA56-P1\"\nbilling_region = \"EU\"\nshield_key = \"{KEY}\"\n[shield_endpoints]\n\"us-east-1\" = \"{url}\"\n"
        ),
    );
    let edges = [
        TestEdge::start(&config).await,
        TestEdge::start(&config).await,
        TestEdge::start(&config).await,
    ];

    const OBJECTS: usize = 4;
    let mut viewer_requests = 0;
    for k in 0..OBJECTS {
        let path = format!("/u/{k}.txt");
        // A miss on every edge in turn (the first fills the shield), then a hit on the first.
        for (i, e) in edges.iter().enumerate() {
            let r = get(e.viewer, HOST, &path).await;
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(
                r.header("x-cache"),
                Some("Miss from cloudfront"),
                "edge {i}"
            );
            assert!(r.header(RESULT).is_none());
            viewer_requests += 1;
        }
        let r = get(edges[0].viewer, HOST, &path).await;
        assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
        viewer_requests += 1;
        assert_eq!(origin.hits_for(&path), 1, "{path}: one origin fetch");
    }
    // A viewer of the shield itself: a hit there, and no Origin Shield request.
    let r = get(shield.viewer, HOST, "/u/0.txt").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    viewer_requests += 1;
    // A POST: straight to the origin, but an Origin Shield request as CloudFront bills it.
    let r = send(edges[2].viewer, "POST", HOST, "/api/post", &[], b"body").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(origin.hits_for("/api/post"), 1);
    viewer_requests += 1;

    let mut dirs = Vec::new();
    for e in edges {
        dirs.push(e.stop().await);
    }
    let shield_dir = shield.stop().await;

    // The logs: only the viewer's edge writes a line; a shield hit is OriginShieldHit there.
    let shield_lines = journal(shield_dir.path());
    assert_eq!(shield_lines.len(), 1, "{shield_lines:?}");
    assert_eq!(shield_lines[0][DETAILED], "Hit");
    assert_eq!(shield_lines[0][SHIELD_REGION], "-");
    for (i, d) in dirs.iter().enumerate() {
        for k in 0..OBJECTS {
            let stem = format!("/u/{k}.txt");
            let lines: Vec<Vec<String>> = journal(d.path())
                .into_iter()
                .filter(|l| l[STEM] == stem)
                .collect();
            // Journal order is not request order (records are written per lock shard).
            let mut seen: Vec<(&str, &str, &str)> = lines
                .iter()
                .map(|l| {
                    (
                        l[RESULT_TYPE].as_str(),
                        l[DETAILED].as_str(),
                        l[SHIELD_REGION].as_str(),
                    )
                })
                .collect();
            seen.sort();
            let expected: &[(&str, &str, &str)] = match i {
                0 => &[("Hit", "Hit", "-"), ("Miss", "Miss", "US")],
                _ => &[("Miss", "OriginShieldHit", "US")],
            };
            assert_eq!(seen, expected, "edge {i}, {stem}");
        }
    }

    // One report over the four journals.
    let mut source = Vec::new();
    for d in dirs.iter().chain([&shield_dir]) {
        source.push("--data-dir".to_owned());
        source.push(d.path().to_str().unwrap().to_owned());
    }
    let source: Vec<&str> = source.iter().map(String::as_str).collect();
    let totals = usage_totals(&usage_report(&source, &[]).await);
    let requests: u64 = totals
        .iter()
        .filter(|((_, t), _)| {
            t.ends_with("-Requests-Tier1")
                || t.ends_with("-Requests-Tier2-HTTPS")
                || t.ends_with("-Proxy")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(requests, viewer_requests, "{totals:?}");
    let at = |op: &str, t: &str| {
        totals
            .get(&(op.to_owned(), t.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(at("GET", "EU-Requests-Tier1"), (OBJECTS * 4) as u64);
    assert_eq!(at("GET", "US-Requests-Tier1"), 1, "the shield's own viewer");
    assert_eq!(at("POST", "EU-Requests-HTTP-Proxy"), 1);
    // Every edge's first miss of each object went to the shield; the shield's own misses and
    // the edges' hits did not; the POST counts as CloudFront counts a proxy method.
    assert_eq!(at("GET", "US-Requests-OriginShield"), (OBJECTS * 3) as u64);
    assert_eq!(at("POST", "US-Requests-OriginShield"), 1);
    let shield_rows: u64 = totals
        .iter()
        .filter(|((_, t), _)| t.contains("OriginShield"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(shield_rows, (OBJECTS * 3 + 1) as u64, "{totals:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_shield_sends_the_edge_to_the_origin() {
    let origin = TestOrigin::start().await;
    origin.program("/down/", 200, &[("cache-control", "max-age=600")]);
    let refused = RefusedPort::new();
    let edge = edge_behind(&origin, &format!("http://127.0.0.1:{}", refused.port())).await;
    let r = get(edge.viewer, HOST, "/down/a.txt").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "origin:/down/a.txt");
    assert_eq!(origin.hits_for("/down/a.txt"), 1);
    let again = get(edge.viewer, HOST, "/down/a.txt").await;
    assert_eq!(again.header("x-cache"), Some("Hit from cloudfront"));
    assert_eq!(origin.hits_for("/down/a.txt"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_replayed_shield_request_is_refused() {
    let origin = TestOrigin::start().await;
    origin.program("/forged/", 200, &[("cache-control", "max-age=600")]);
    let shield = shield_for(&origin).await;
    let request = edgegate::edge::shield::ShieldRequest {
        host: HOST,
        origin_id: "web",
        method: &http::Method::GET,
        path: "/forged/a.txt",
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let wrong_key = edgegate::edge::shield::sign(b"not the key", now, request);
    // A request signed with the right key ten minutes ago (captured, replayed) is refused too.
    let replayed = edgegate::edge::shield::sign(KEY.as_bytes(), now - 600, request);
    for headers in [
        vec![
            ("x-edgegate-shield-origin", "web"),
            ("x-edgegate-shield-signature", wrong_key.as_str()),
        ],
        vec![("x-edgegate-shield-origin", "web")],
        vec![("x-edgegate-shield-signature", wrong_key.as_str())],
        vec![
            ("x-edgegate-shield-origin", "web"),
            ("x-edgegate-shield-signature", "not hex"),
        ],
        vec![
            ("x-edgegate-shield-origin", "web"),
            ("x-edgegate-shield-signature", replayed.as_str()),
        ],
    ] {
        let r = send(shield.viewer, "GET", HOST, "/forged/a.txt", &headers, b"").await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert!(r.text().contains("AccessDenied"), "{}", r.text());
    }
    assert_eq!(origin.hits_for("/forged/"), 0);
    // Signed with the shared key, the same request is served.
    let good = edgegate::edge::shield::sign(KEY.as_bytes(), now, request);
    let r = send(
        shield.viewer,
        "GET",
        HOST,
        "/forged/a.txt",
        &[
            ("x-edgegate-shield-origin", "web"),
            ("x-edgegate-shield-signature", good.as_str()),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(origin.hits_for("/forged/"), 1);
}

#[tokio::test]
async fn an_origin_shield_no_edge_serves_is_named_in_a_warning() {
    let origin = TestOrigin::start().await;
    let edge = TestEdge::start(&shielded_config(origin.addr.port(), "")).await;
    let warnings = edge.running.as_ref().unwrap().warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("OriginShield in us-east-1 is not used")),
        "{warnings:?}"
    );
    // Misses still reach the origin directly.
    origin.program("/w/", 200, &[]);
    assert_eq!(get(edge.viewer, HOST, "/w/a").await.status, 200);
    assert_eq!(origin.hits_for("/w/a"), 1);
}

/// Polls `check` every 200 ms until it is true, or fails naming `what` after a minute (the
/// bucket is polled every second; a dead edge counts for 10 s).
async fn until(what: &str, log: impl Fn() -> String, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen; the edge's log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// On a shared state bucket an edge with no --shield-endpoint finds the shield through the
/// shield's heartbeat (its region and viewer URL), sends its misses there, and stops when the
/// shield dies (SIGKILL: its heartbeat times out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_finds_the_shield_through_the_state_bucket_and_drops_a_dead_one() {
    let bucket = crate::common::localstack::unique_bucket("shield-disc");
    crate::common::localstack::create_bucket(&bucket);
    let origin = TestOrigin::start().await;
    origin.program("/disc/", 200, &[("cache-control", "max-age=600")]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("edgegate.toml");
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/keys/demo-public.pem");
    std::fs::write(
        &config,
        shielded_config(origin.addr.port(), "").replace("keys/demo-public.pem", keys),
    )
    .unwrap();
    let start = |name: &str, extra: &[&str]| {
        let flags = [&["--config", config.to_str().unwrap()], extra].concat();
        FleetEdge::start(
            &dir.path().join(name),
            dir.path().join(format!("{name}.log")),
            &bucket,
            name,
            &flags,
        )
    };
    let shield = start(
        "IAD89-C1",
        &["--shield-region", "us-east-1", "--shield-key", KEY],
    );
    let edge = start("IAD55-C2", &["--shield-key", KEY]);
    assert!(
        shield.log().contains("advertising this Origin Shield"),
        "{}",
        shield.log()
    );

    // Each try: a new object through the edge, then from the shield itself. Once the edge
    // uses the shield, the shield has the object already and the origin saw it once.
    let mut n = 0;
    let found = std::cell::Cell::new(None);
    until(
        "the edge using the shield",
        || edge.log(),
        async || {
            n += 1;
            let path = format!("/disc/{n}.txt");
            assert_eq!(get(edge.viewer, HOST, &path).await.status, 200);
            let on_shield = get(shield.viewer, HOST, &path).await;
            let hit = on_shield.header("x-cache") == Some("Hit from cloudfront");
            if hit {
                found.set(Some(path));
            }
            hit
        },
    )
    .await;
    let path = found.take().unwrap();
    assert_eq!(origin.hits_for(&path), 1, "{path} reached the origin once");
    let advertised = format!("\"us-east-1\": http://{}/", shield.viewer);
    assert!(edge.log().contains(&advertised), "{}", edge.log());

    // A shield killed outright leaves its heartbeat, which stops counting after the dead-edge
    // timeout; the edge then stops sending to it and goes to the origin.
    drop(shield);
    until(
        "the dead shield dropping out",
        || edge.log(),
        async || {
            edge.log()
                .contains("Origin Shields found through the state bucket shields={}")
        },
    )
    .await;
    let r = get(edge.viewer, HOST, "/disc/after.txt").await;
    assert_eq!(r.status, 200);
    assert_eq!(origin.hits_for("/disc/after.txt"), 1);
}
