//! Fuzzes the viewer request path end to end: arbitrary bytes are sent to a real edgegate (the
//! built-in demo's distribution on its local-directory origin, in this process, on a loopback
//! port) as one connection, and the answer is read back. Whatever the bytes, the edge
//! answers with HTTP (or closes the connection), never with a 500, never panics anywhere (a
//! panic in any thread aborts the run), and keeps answering the next connection.

#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use edgegate::config::{FileConfig, ServeArgs, Settings};
use libfuzzer_sys::fuzz_target;

/// Starts the edge once, on a runtime of its own; returns its viewer address.
fn edge() -> SocketAddr {
    static EDGE: OnceLock<SocketAddr> = OnceLock::new();
    *EDGE.get_or_init(|| {
        // A panic on any of the edge's threads is a finding, not a caught task failure.
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default_hook(info);
            std::process::abort();
        }));
        let config =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/demo/edgegate.toml");
        let file: FileConfig = edgegate::config::load_file(&config).expect("the demo config loads");
        let data_dir =
            std::env::temp_dir().join(format!("edgegate-fuzz-viewer-{}", std::process::id()));
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(data_dir),
            ..Default::default()
        };
        let base = config.parent().unwrap().to_path_buf();
        let settings = Settings::resolve(&args, &file, &base).expect("the demo settings resolve");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let running = edgegate::app::start(settings, file, Some(&config))
                    .await
                    .expect("the edge starts");
                tx.send(running.viewer).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("the edge reports its address")
    })
}

/// Sends `bytes` on a new connection and reads what comes back until the edge closes the
/// connection, or until nothing more has come for `idle` (a keep-alive connection waiting for
/// the next request), within 1 MiB. The sending side stays open: the edge does not answer a
/// request whose connection the client half-closed.
fn exchange(addr: SocketAddr, bytes: &[u8], idle: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("the edge accepts connections");
    s.set_read_timeout(Some(idle)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    while out.len() < 1 << 20 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let addr = edge();
    let answer = exchange(addr, data, Duration::from_millis(100));
    // Every answer is HTTP, and none is the edge's own failure.
    // A connection that opens with HTTP/2's preface (h2c with prior knowledge) is answered in
    // HTTP/2 frames.
    let h2 = data.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    if !answer.is_empty() && !h2 {
        assert!(
            answer.starts_with(b"HTTP/1."),
            "not HTTP: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
        if answer.starts_with(b"HTTP/1.1 500") || find(&answer, b"\nHTTP/1.1 500").is_some() {
            panic!("a 500: {:?}", String::from_utf8_lossy(&answer));
        }
    }
    // The edge still serves a plain request (given time: a starved run can be slow).
    let probe = exchange(
        addr,
        b"GET /public/hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        Duration::from_secs(20),
    );
    assert!(
        probe.starts_with(b"HTTP/1.1 200"),
        "the edge stopped serving: {:?}",
        String::from_utf8_lossy(&probe)
    );
});

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
