//! LocalStack's S3 for integration tests: [`s3_endpoint`] makes sure it is up (starting it with
//! `localstack/start.sh` when it is not, one starter across all test processes) and the helpers
//! make real S3 calls against it through the AWS CLI in `tests/.venv`.
//!
//! Every test shares the one LocalStack on 127.0.0.1:4566, so each test uses its own bucket:
//! take names from [`unique_bucket`].

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::awscli::{aws, aws_json, aws_ok};

/// The port LocalStack listens on for the tests.
pub const LOCALSTACK_PORT: u16 = 4566;

/// The S3 endpoint for tests, without a trailing slash: `EDGEGATE_TEST_S3_ENDPOINT` when set
/// (used as given), else `http://127.0.0.1:4566` after making sure LocalStack's S3 is healthy
/// there, starting it if needed. Panics, naming the log file, when it cannot be started.
pub fn s3_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(e) = std::env::var("EDGEGATE_TEST_S3_ENDPOINT")
                && !e.trim().is_empty()
            {
                return e.trim().trim_end_matches('/').to_string();
            }
            ensure_localstack(LOCALSTACK_PORT);
            format!("http://127.0.0.1:{LOCALSTACK_PORT}")
        })
        .clone()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of LocalStack's log for `port` (written by `localstack/start.sh`).
pub fn localstack_log(port: u16) -> PathBuf {
    repo_root().join(format!("localstack/.state/localstack-{port}.log"))
}

/// Makes sure LocalStack's S3 answers healthy on `port`; starts it under a cross-process lock.
fn ensure_localstack(port: u16) {
    if s3_healthy(port) {
        return;
    }
    let state = repo_root().join("localstack/.state");
    std::fs::create_dir_all(&state)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", state.display()));
    let lock_path = state.join(format!("ensure-{port}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Another process may have started it while this one waited for the lock.
    if s3_healthy(port) {
        return;
    }
    let script = match std::env::var_os("EDGEGATE_TEST_LOCALSTACK_START") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join("localstack/start.sh"),
    };
    let out = Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if !out.status.success() {
        panic!(
            "LocalStack S3 could not be started on 127.0.0.1:{port} ({} exited with {}).\n\
             Its log: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            script.display(),
            out.status,
            localstack_log(port).display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }
    // start.sh returns once healthy; confirm from here, briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s3_healthy(port) {
        if Instant::now() > deadline {
            panic!(
                "localstack/start.sh reported LocalStack up, but 127.0.0.1:{port} does not answer \
                 healthy; see {}",
                localstack_log(port).display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// True when `GET /_localstack/health` on 127.0.0.1:`port` reports S3 available or running.
pub fn s3_healthy(port: u16) -> bool {
    let Some((status, body)) = http_get(&format!("127.0.0.1:{port}"), "/_localstack/health") else {
        return false;
    };
    if status != 200 {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return false;
    };
    matches!(v["services"]["s3"].as_str(), Some("available" | "running"))
}

/// A tiny unauthenticated HTTP/1.0 GET to `authority` ("host:port"; `path` must already be
/// percent-encoded). Returns the status code and body (at most 16 MiB), or `None` when there is no
/// well-formed answer.
pub fn http_get(authority: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let addr: SocketAddr = authority.to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.take(16 << 20).read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse::<u16>().ok()?;
    Some((status, raw[split + 4..].to_vec()))
}

/// A bucket name no other test (in this or another process) uses: `prefix` (lowercased, other
/// characters than `a-z0-9-` turned into `-`, at most 30 of them) plus a unique suffix.
pub fn unique_bucket(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let clean: String = prefix
        .chars()
        .take(30)
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "test" } else { clean };
    format!(
        "{clean}-{}-{}-{:06x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..0x100_0000)
    )
}

/// Creates `name` in the test S3 (no error when this account already owns it).
pub fn create_bucket(name: &str) {
    let endpoint = s3_endpoint();
    let out = aws(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "create-bucket",
        "--bucket",
        name,
    ]);
    if out.status.success() {
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("BucketAlreadyOwnedByYou") {
        return;
    }
    panic!(
        "create-bucket {name} at {endpoint} failed ({}):\n{err}",
        out.status
    );
}

/// Stores `bytes` as `bucket`/`key` with the given Content-Type and optional Cache-Control.
/// Returns the ETag S3 answered (with its quotes, as S3 sends it).
pub fn put_object(
    bucket: &str,
    key: &str,
    bytes: &[u8],
    content_type: &str,
    cache_control: Option<&str>,
) -> String {
    let endpoint = s3_endpoint();
    let mut body = tempfile::NamedTempFile::new().expect("temp file for the object body");
    body.write_all(bytes).expect("write the object body");
    body.flush().expect("flush the object body");
    let body_path = body
        .path()
        .to_str()
        .expect("temp path is UTF-8")
        .to_string();
    let mut args = vec![
        "--endpoint-url",
        &endpoint,
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        key,
        "--body",
        &body_path,
        "--content-type",
        content_type,
    ];
    if let Some(cc) = cache_control {
        args.extend(["--cache-control", cc]);
    }
    let v = aws_json(&args);
    v["ETag"]
        .as_str()
        .unwrap_or_else(|| panic!("put-object {bucket}/{key}: no ETag in {v}"))
        .to_string()
}

/// Reads `bucket`/`key` back with `aws s3api get-object`: the body and the JSON metadata the CLI
/// printed (ContentType, CacheControl, ETag, ContentLength ...).
pub fn get_object(bucket: &str, key: &str) -> (Vec<u8>, serde_json::Value) {
    let endpoint = s3_endpoint();
    let dir = tempfile::tempdir().expect("temp dir for get-object");
    let out_path = dir.path().join("body");
    let out_str = out_path.to_str().expect("temp path is UTF-8");
    let meta = aws_json(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "get-object",
        "--bucket",
        bucket,
        "--key",
        key,
        out_str,
    ]);
    let body = std::fs::read(&out_path)
        .unwrap_or_else(|e| panic!("get-object {bucket}/{key}: cannot read the body: {e}"));
    (body, meta)
}

/// Attaches a bucket policy that lets anyone read `bucket`'s objects (s3:GetObject for
/// Principal "*"), as a public S3 origin has.
pub fn bucket_policy_public(bucket: &str) {
    let endpoint = s3_endpoint();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    })
    .to_string();
    aws_ok(&[
        "--endpoint-url",
        &endpoint,
        "s3api",
        "put-bucket-policy",
        "--bucket",
        bucket,
        "--policy",
        &policy,
    ]);
}
