//! Helpers for the metering tests: a config with the behaviours the tests need, a raw
//! HTTP/1.1 client that counts every byte it receives, curl for HTTPS, the journal read back
//! field by field, the real `edgegate` binary (as `serve` and as `usage report`), Prometheus
//! text parsing and GoAccess.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The distribution id of [`meter_config`].
pub const DIST: &str = "EMETER000001";
/// The Host of [`meter_config`]'s distribution.
pub const MHOST: &str = "dmeter00000001.cloudfront.localhost";

/// Field positions on a journal line (CloudFront's 33 standard fields, then the extensions).
pub mod field {
    pub const SC_BYTES: usize = 3;
    pub const METHOD: usize = 5;
    pub const STEM: usize = 7;
    pub const STATUS: usize = 8;
    pub const RESULT: usize = 13;
    pub const REQUEST_ID: usize = 14;
    pub const PROTOCOL: usize = 16;
    pub const CS_BYTES: usize = 17;
    pub const DIST: usize = 33;
    pub const REGION: usize = 34;
    pub const TTL_CLASS: usize = 35;
    pub const ORIGIN_OUT: usize = 36;
}

/// A config declaring [`DIST`] on a custom origin at `localhost:{origin_port}`:
/// - default behavior: CachingOptimized, GET/HEAD only (other methods are refused with 403);
/// - `/api/*`: CachingDisabled, every method;
/// - `/redirect/*`: redirect-to-https;
///
/// no custom error responses. `top` is put first (settings such as `pop`); `logging`, when
/// given as (bucket, prefix), enables standard logging to `bucket.s3.amazonaws.com`.
pub fn meter_config(origin_port: u16, top: &str, logging: Option<(&str, &str)>) -> String {
    let logging = logging
        .map(|(b, p)| {
            format!(
                "logging = {{ enabled = true, include_cookies = false, bucket = \"{b}.s3.amazonaws.com\", prefix = \"{p}\" }}\n"
            )
        })
        .unwrap_or_default();
    format!(
        r#"{top}

[[distributions]]
id = "{DIST}"
domain_name = "{MHOST}"
caller_reference = "meter"
comment = "metering tests"
enabled = true
{logging}
[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {origin_port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 5 }}

[distributions.default_cache_behavior]
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/api/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
allowed_methods = {{ items = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"], cached_methods = ["GET", "HEAD"] }}

[[distributions.cache_behaviors]]
path_pattern = "/redirect/*"
target_origin_id = "web"
viewer_protocol_policy = "redirect-to-https"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
"#
    )
}

/// One response as a client received it, with exact byte counts.
#[derive(Debug, Clone)]
pub struct Wire {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Every byte received (status line, headers, blank line and body).
    pub total_bytes: u64,
    pub body: Vec<u8>,
}

impl Wire {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    /// The `x-amz-cf-id` (the journal's x-edge-request-id).
    pub fn request_id(&self) -> String {
        self.header("x-amz-cf-id")
            .unwrap_or_else(|| panic!("no x-amz-cf-id in {:?}", self.headers))
            .to_owned()
    }
}

fn parse_head(head: &str) -> (u16, BTreeMap<String, String>) {
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Sends one HTTP/1.1 request written by hand (`Connection: close`) over a plain TCP stream
/// and reads to EOF, counting every byte received.
pub async fn raw_http(addr: SocketAddr, method: &str, host: &str, path: &str, body: &[u8]) -> Wire {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the edge");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read to EOF");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let (status, headers) = parse_head(&head);
    Wire {
        status,
        headers,
        total_bytes: raw.len() as u64,
        body: raw[split + 4..].to_vec(),
    }
}

/// One request with curl over HTTPS (`--http1.1` or `--http2`) to `tls` with Host [`MHOST`]
/// (curl sends `Host: MHOST:port`); bytes are curl's `size_header + size_download`.
pub async fn curl_https(
    tls: SocketAddr,
    version: &'static str,
    method: &'static str,
    path: &str,
    body: &'static str,
) -> Wire {
    let url = format!("https://{MHOST}:{}{path}", tls.port());
    let resolve = format!("{MHOST}:{}:127.0.0.1", tls.port());
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let (hdr, out) = (dir.path().join("h"), dir.path().join("b"));
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", version, "--resolve", &resolve, "-D"])
            .arg(&hdr)
            .arg("-o")
            .arg(&out)
            .args(["-w", "%{size_header} %{size_download}"]);
        match method {
            "GET" => {}
            "HEAD" => {
                cmd.arg("-I");
            }
            m => {
                cmd.args(["-X", m, "--data-binary", body]);
            }
        }
        let o = cmd.arg(&url).output().expect("curl is installed");
        assert!(o.status.success(), "curl {url}: {o:?}");
        let counts = String::from_utf8_lossy(&o.stdout).into_owned();
        let (h, b) = counts.split_once(' ').unwrap();
        let (h, b): (u64, u64) = (h.parse().unwrap(), b.parse().unwrap());
        let head = std::fs::read_to_string(&hdr).unwrap();
        let (status, headers) = parse_head(head.trim_end());
        Wire {
            status,
            headers,
            total_bytes: h + b,
            body: std::fs::read(&out).unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

/// The journal under a data directory as journal lines, each split into its fields.
pub fn journal(data_dir: &Path) -> Vec<Vec<String>> {
    edgegate::meter::journal::text_lines(data_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", data_dir.display()))
        .iter()
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The journal line of the request with this `x-edge-request-id`.
pub fn journal_line<'a>(lines: &'a [Vec<String>], request_id: &str) -> &'a [String] {
    let found: Vec<&Vec<String>> = lines
        .iter()
        .filter(|l| l[field::REQUEST_ID] == request_id)
        .collect();
    assert_eq!(found.len(), 1, "journal lines for {request_id}: {found:?}");
    found[0]
}

/// Runs the real `edgegate` with `args` (and the LocalStack test credentials in its
/// environment); returns (exit success, stdout, stderr).
pub async fn edgegate(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let (key, secret) = super::awscli::credentials();
        let o = Command::new(env!("CARGO_BIN_EXE_edgegate"))
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("EDGEGATE_S3_ENDPOINT")
            .output()
            .expect("run edgegate");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `edgegate usage report --format json` with `source` args (e.g. `--data-dir D`) and `extra`
/// (e.g. `--detail`): the parsed JSON and stderr. Panics when it fails or warns about
/// malformed lines.
pub async fn usage_report(source: &[&str], extra: &[&str]) -> serde_json::Value {
    let args: Vec<String> = ["usage", "report", "--format", "json"]
        .iter()
        .chain(source)
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    let (ok, out, err) = edgegate(args.clone()).await;
    assert!(ok, "edgegate {args:?} failed:\n{err}");
    assert!(
        !err.contains("malformed"),
        "edgegate {args:?} skipped lines:\n{err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// A JSON usage report's values added up by (operation, usage type) over every time bucket.
pub fn usage_totals(report: &serde_json::Value) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for row in report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {report}"))
    {
        let key = (
            row["operation"].as_str().unwrap().to_owned(),
            row["usageType"].as_str().unwrap().to_owned(),
        );
        *out.entry(key).or_default() += row["value"].as_u64().unwrap();
    }
    out
}

/// Sums the samples of metric `name` whose labels contain every `(label, value)` in `want`.
pub fn metric_sum(text: &str, name: &str, want: &[(&str, &str)]) -> u64 {
    let mut sum = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").unwrap();
        let ok = want
            .iter()
            .all(|(k, v)| labels.split(',').any(|l| l == format!("{k}=\"{v}\"")));
        if ok {
            sum += value.trim().parse::<u64>().unwrap();
        }
    }
    sum
}

/// A running `edgegate serve` child process.
pub struct ServeProc {
    pub child: Child,
    pub viewer: SocketAddr,
    pub admin: SocketAddr,
}

impl ServeProc {
    /// Starts `edgegate serve --config CONFIG --data-dir DATA` on ephemeral ports with `extra`
    /// flags, waits for its banner, then for `/healthz` to answer on the admin listener (so the
    /// process has gone on to wait for its shutdown signal).
    pub fn start(config: &Path, data_dir: &Path, extra: &[&str]) -> ServeProc {
        let p = Self::start_at_banner(config, data_dir, extra);
        let (status, _) = super::localstack::http_get(&p.admin.to_string(), "/healthz")
            .expect("/healthz answers");
        assert_eq!(status, 200);
        p
    }

    /// Like [`ServeProc::start`], returning as soon as the banner is printed.
    pub fn start_at_banner(config: &Path, data_dir: &Path, extra: &[&str]) -> ServeProc {
        let edge = super::process::spawn(
            super::process::serve_command()
                .arg("--config")
                .arg(config)
                .arg("--data-dir")
                .arg(data_dir)
                .args(extra)
                .env_remove("EDGEGATE_S3_ENDPOINT")
                .stderr(Stdio::null()),
            None,
        );
        ServeProc {
            child: edge.child,
            viewer: edge.viewer,
            admin: edge.admin,
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    /// SIGTERM; returns whether it exited 0.
    pub fn term(self) -> bool {
        self.term_status().success()
    }

    /// SIGTERM; returns how it exited.
    pub fn term_status(mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
        self.child.wait().unwrap()
    }
}

/// Runs GoAccess (`--log-format=CLOUDFRONT`) over `logs`; returns its JSON report's `general`
/// section.
pub fn goaccess_general(logs: &[PathBuf], dir: &Path) -> serde_json::Value {
    let out = dir.join("goaccess.json");
    let o = Command::new("goaccess")
        .args(logs)
        .args(["--log-format=CLOUDFRONT", "--no-global-config", "-o"])
        .arg(&out)
        .output();
    let o = match o {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run goaccess ({e}): run scripts/setup-test-env (it installs Debian's goaccess package)"
        ),
    };
    assert!(
        o.status.success(),
        "goaccess failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["general"].clone()
}

/// Gunzips a delivered log file.
pub fn gunzip(gz: &[u8]) -> String {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut s)
        .expect("a gzip text file");
    s
}
