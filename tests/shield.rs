//! Origin Shield (caching.md §17) through real servers on loopback: a shield edge
//! (`shield_region`) and three edges that send their misses for the shielded origin to it
//! (`shield_endpoints`), all declaring the same distribution. Concurrent misses over the three
//! edges reach the origin once; the shield logs its hits as `OriginShieldHit`; an unreachable
//! shield sends the edges to the origin; a forged shield request is refused.

use std::time::Duration;

use crate::common::meter::journal;
use crate::common::origin::{RefusedPort, TestOrigin};
use crate::common::*;

const KEY: &str = "shield-test-key";
/// `x-edge-detailed-result-type` in a journal line (CloudFront's 29th standard field).
const DETAILED: usize = 28;
const STEM: usize = 7;

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
    let lines = journal_for(&shield, "/shared/second.txt").await;
    let detailed: Vec<&str> = lines.iter().map(|l| l[DETAILED].as_str()).collect();
    assert_eq!(detailed, ["Miss", "OriginShieldHit"], "{lines:?}");
    // The edges log their own misses as misses.
    let on_edge = journal_for(&edges[1], "/shared/second.txt").await;
    assert_eq!(on_edge.len(), 1);
    assert_eq!(on_edge[0][DETAILED], "Miss");
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
async fn a_forged_shield_request_is_refused() {
    let origin = TestOrigin::start().await;
    origin.program("/forged/", 200, &[("cache-control", "max-age=600")]);
    let shield = shield_for(&origin).await;
    let wrong_key = edgegate::edge::shield::sign(
        b"not the key",
        HOST,
        "web",
        &http::Method::GET,
        "/forged/a.txt",
    );
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
    ] {
        let r = send(shield.viewer, "GET", HOST, "/forged/a.txt", &headers, b"").await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.text());
        assert!(r.text().contains("AccessDenied"), "{}", r.text());
    }
    assert_eq!(origin.hits_for("/forged/"), 0);
    // Signed with the shared key, the same request is served.
    let good = edgegate::edge::shield::sign(
        KEY.as_bytes(),
        HOST,
        "web",
        &http::Method::GET,
        "/forged/a.txt",
    );
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
