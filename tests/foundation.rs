//! The foundation: listeners, health, start-up and shutdown.

use crate::common::*;

#[tokio::test]
async fn admin_health_and_graceful_stop() {
    let edge = TestEdge::start("").await;
    let r = get(edge.admin, "localhost", "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok\n");
    edge.stop().await;
}

/// The README's first command: `edgegate demo` serves its public area and refuses its private
/// area without a signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_demo_serves_public_and_guards_private() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edgegate"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let viewer: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("viewer=http://"))
        .expect("viewer address printed")
        .parse()
        .unwrap();
    let r = get(viewer, "localhost", "/public/hello.txt").await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Hello from the edge"));
    let r = get(viewer, "localhost", "/public/hello.txt").await;
    assert_eq!(r.header("x-cache"), Some("Hit from cloudfront"));
    let r = get(viewer, "localhost", "/").await;
    assert!(r.text().contains("edgegate demo"));
    let r = get(viewer, "localhost", "/private/report.txt").await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("MissingKey"));
    let r = get(viewer, "localhost", "/public/../../../etc/passwd").await;
    assert_ne!(r.status, 200);
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success(), "SIGTERM exits 0");
}
