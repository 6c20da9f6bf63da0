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
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let viewer: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("viewer=http://"))
        .expect("viewer address printed")
        .parse()
        .unwrap();
    // The banner prints a ready-to-use signed URL for the private area.
    let printed = loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "no signed URL in the banner"
        );
        if l.contains("Signature=") {
            break l.trim().to_owned();
        }
    };
    let path = printed
        .split_once(&format!(":{}", viewer.port()))
        .unwrap()
        .1
        .to_owned();
    let host = format!("localhost:{}", viewer.port());
    let r = send(viewer, "GET", &host, &path, &[], b"").await;
    assert_eq!(r.status, 200, "{printed}: {}", r.text());
    assert!(r.text().contains("Quarterly report"));
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
    // The banner's signing command opens it.
    let url = format!("http://localhost:{}/private/report.txt", viewer.port());
    let signed =
        crate::common::awscli::sign_with_demo_key(&url, "K2EDGEGATEDEMO", "2099-01-01").await;
    let path = signed
        .trim()
        .split_once(&format!(":{}", viewer.port()))
        .unwrap()
        .1
        .to_owned();
    let r = send(
        viewer,
        "GET",
        &format!("localhost:{}", viewer.port()),
        &path,
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Quarterly report"));
    let r = get(viewer, "localhost", "/public/../../../etc/passwd").await;
    assert_ne!(r.status, 200);
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    assert!(child.wait().unwrap().success(), "SIGTERM exits 0");
}

/// Settings come from flags, then `EDGEGATE_*` variables, then the file: a flag wins over the
/// environment, which wins over the config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_win_over_environment_over_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edgegate.toml");
    std::fs::write(&file, "pop = \"FILE1-C1\"\nbilling_region = \"EU\"\n").unwrap();
    let run = |flag: Option<&str>| {
        let mut cmd = crate::common::process::serve_command();
        cmd.arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("EDGEGATE_POP", "ENV1-C1")
            .stderr(std::process::Stdio::null());
        if let Some(f) = flag {
            cmd.args(["--pop", f]);
        }
        let edge = crate::common::process::spawn(&mut cmd, None);
        (edge.child, edge.viewer)
    };
    for (flag, want) in [(None, "ENV1-C1"), (Some("FLAG1-C1"), "FLAG1-C1")] {
        let (mut child, viewer) = run(flag);
        let r = get(viewer, "nobody.example", "/").await;
        assert_eq!(r.header("x-amz-cf-pop"), Some(want));
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        assert!(child.wait().unwrap().success());
    }
}

/// SIGTERM-style shutdown stops accepting but lets a request in flight finish.
#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let origin = crate::common::origin::TestOrigin::start().await;
    let edge = TestEdge::start(&custom_origin_config(origin.addr.port())).await;
    let addr = edge.viewer;
    let slow = tokio::spawn(async move { get(addr, HOST, "/delay-ms/800/drain").await });
    // Wait until the request has reached the origin, then shut down.
    while origin.hits_for("/delay-ms/800/drain") == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    edge.stop().await;
    let r = slow.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "origin:/delay-ms/800/drain");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
