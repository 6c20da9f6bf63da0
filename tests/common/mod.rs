//! Shared test harness: a real edge on ephemeral ports, real origin servers on loopback, and a
//! tiny HTTP client. Tests read like scripts: start an edge from a config, send requests, assert.

#![allow(dead_code)]

pub mod awscli;
pub mod localstack;
pub mod meter;
pub mod origin;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use edgegate::app::Running;
use edgegate::clock::ManualClock;
use edgegate::config::{FileConfig, ServeArgs, Settings};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A running edge with its data directory.
pub struct TestEdge {
    pub running: Option<Running>,
    pub viewer: SocketAddr,
    pub admin: SocketAddr,
    pub viewer_tls: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
}

impl TestEdge {
    /// Starts an edge from config-file text (settings and declarations). Listeners are forced to
    /// ephemeral loopback ports and the data directory to a fresh temporary one.
    pub async fn start(config_toml: &str) -> TestEdge {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(config_toml, data_dir).await
    }

    /// Like [`TestEdge::start`], on a clock the test moves forward instead of sleeping.
    pub async fn start_clocked(config_toml: &str, clock: Arc<ManualClock>) -> TestEdge {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_with(config_toml, data_dir, clock).await
    }

    /// Like [`TestEdge::start`] with an existing data directory (restart tests).
    pub async fn start_in(config_toml: &str, data_dir: tempfile::TempDir) -> TestEdge {
        Self::start_with(config_toml, data_dir, edgegate::clock::system()).await
    }

    async fn start_with(
        config_toml: &str,
        data_dir: tempfile::TempDir,
        clock: Arc<dyn edgegate::clock::Clock>,
    ) -> TestEdge {
        let file: FileConfig = toml::from_str(config_toml).expect("test config parses");
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(data_dir.path().to_path_buf()),
            ..Default::default()
        };
        let base = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let settings = Settings::resolve(&args, &file, &base).expect("test settings valid");
        let running = edgegate::app::start_with_clock(settings, file, None, clock)
            .await
            .expect("edge starts");
        TestEdge {
            viewer: running.viewer,
            admin: running.admin,
            viewer_tls: running.viewer_tls,
            running: Some(running),
            data_dir,
        }
    }

    /// Stops the edge gracefully and hands back its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.data_dir
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request with a Host header; the body is read whole.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request");
    let resp = client.request(req).await.expect("request sent");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body read").to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// GET with a Host header.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Resp {
    send(addr, "GET", host, path, &[], b"").await
}

/// The Host of the test distribution declared by [`custom_origin_config`].
pub const HOST: &str = "dtest000000001.cloudfront.localhost";

/// A config declaring distribution `ETEST0000001` (Host [`HOST`], alias `www.example.test`) on a
/// custom origin at `localhost:{port}`, with:
/// - default behavior: CachingOptimized, GET/HEAD, allow-all;
/// - `/api/*`: CachingDisabled, all methods;
/// - `/nostore/*`: UseOriginCacheControlHeaders (MinTTL 0); `/secure/*`: https-only; `/redirect/*`: redirect-to-https;
/// - `/private/*`: trusted key group (restricted);
/// - DefaultRootObject `index.html`;
/// - custom error responses: 404 → `/errors/404.html` (404), 403 → `/errors/app.html` (200).
pub fn custom_origin_config(port: u16) -> String {
    format!(
        r#"
[[public_keys]]
id = "KTESTKEY00001"
name = "test-key"
encoded_key_file = "keys/demo-public.pem"

[[key_groups]]
id = "5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"
name = "test-group"
items = ["KTESTKEY00001"]

[[distributions]]
id = "ETEST0000001"
domain_name = "{HOST}"
caller_reference = "test"
comment = "test"
enabled = true
aliases = ["www.example.test"]
default_root_object = "index.html"
custom_error_responses = [
    {{ error_code = 404, response_page_path = "/errors/404.html", response_code = "404", error_caching_min_ttl = 5 }},
    {{ error_code = 403, response_page_path = "/errors/app.html", response_code = "200", error_caching_min_ttl = 0 }},
]

[[distributions.origins]]
id = "web"
domain_name = "localhost"
connection_attempts = 1
connection_timeout = 2
custom_origin_config = {{ http_port = {port}, https_port = 443, origin_protocol_policy = "http-only", origin_read_timeout = 2 }}

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
path_pattern = "/nostore/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "83da9c7e-98b4-4e11-a168-04f0df8e2c65"

[[distributions.cache_behaviors]]
path_pattern = "/secure/*"
target_origin_id = "web"
viewer_protocol_policy = "https-only"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/redirect/*"
target_origin_id = "web"
viewer_protocol_policy = "redirect-to-https"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

[[distributions.cache_behaviors]]
path_pattern = "/private/*"
target_origin_id = "web"
viewer_protocol_policy = "allow-all"
cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
trusted_key_groups = ["5b0f3c1e-8d2a-4f6b-9c7d-1a2b3c4d5e6f"]
"#
    )
}

/// [`custom_origin_config`] without its 403 custom error response, for tests of the edge's own
/// 403 answers: with the rule, CloudFront answers every 403 of the distribution (signed-URL
/// refusals included) with the rule's page.
pub fn without_403_page(config: &str) -> String {
    let rule = "    {{ error_code = 403, response_page_path = \"/errors/app.html\", response_code = \"200\", error_caching_min_ttl = 0 }},\n";
    let rule = rule.replace("{{", "{").replace("}}", "}");
    assert!(config.contains(&rule), "the config has the 403 rule");
    config.replace(&rule, "")
}

/// A self-signed certificate and key made with `openssl`, in `dir`: (cert, key).
pub fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=edgegate-test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/setup-test-env installs it)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
