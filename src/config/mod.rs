//! Settings for `edgegate serve`, parsed once into validated types.
//!
//! ```text
//!   flags  ─┐
//!   EDGEGATE_* env ─┼─▶ ServeArgs ─┐
//!   edgegate.toml ──▶ FileConfig ──┴─▶ Settings::resolve ─▶ Settings
//! ```
//!
//! ## How a value is chosen
//! 1. the command-line flag; 2. its `EDGEGATE_*` environment variable (clap reads both);
//! 3. the same key in the config file; 4. the default written on the field below.
//!
//! Every problem is collected before start-up fails, so one run reports them all.
//! Resolution is pure: no sockets are bound and no files but the config file itself are read.

pub mod declare;
pub mod key_pairs;
pub mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::meter::pops;
use serde::Deserialize;

pub use types::{AdminCredentials, BillingRegion, ByteSize, Cidr};

/// Default viewer HTTP listener.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default admin (control plane) listener.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default domain suffix of distribution domain names. `*.localhost` resolves to loopback in
/// curl and browsers, so `http://d…​.cloudfront.localhost:8080/` works without DNS set-up.
pub const DEFAULT_DOMAIN_SUFFIX: &str = "cloudfront.localhost";
/// Default account id used in ARNs (the same as LocalStack's default account).
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
/// Default in-memory cache size.
pub const DEFAULT_CACHE_SIZE: u64 = 512 << 20;
/// Default `--disk-cache-size`: 10 GiB.
pub const DEFAULT_DISK_CACHE_SIZE: u64 = 10 << 30;
/// Default seconds between access-log deliveries.
pub const DEFAULT_LOG_DELIVERY_INTERVAL_SECS: u64 = 60;

/// Most viewer worker threads `--workers` accepts.
pub const MAX_WORKERS: usize = 1024;
/// How long a graceful shutdown waits for in-flight requests.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default seconds a connection has to deliver a whole request head (nginx's
/// `client_header_timeout` is 60).
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Default seconds an open connection may wait for its next request (nginx's
/// `keepalive_timeout` is 75).
pub const DEFAULT_KEEPALIVE_TIMEOUT_SECS: u64 = 60;
/// Default seconds a send may stall on a viewer that does not read (nginx's `send_timeout` is
/// 60).
pub const DEFAULT_SEND_TIMEOUT_SECS: u64 = 60;
/// Default size up to which a request body is read whole before the origin request is sent.
pub const DEFAULT_REQUEST_BODY_BUFFER: u64 = 1 << 20;
/// Largest `request_body_buffer` the settings accept.
pub const MAX_REQUEST_BODY_BUFFER: u64 = 64 << 20;
/// Longest timeout the settings accept, in seconds.
pub const MAX_TIMEOUT_SECS: u64 = 3_600;

/// The flags of `edgegate serve`. Every field is optional so that the config file can supply it;
/// defaults are applied in [`Settings::resolve`].
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML): settings plus declared keys, key groups, policies and distributions.
    #[arg(long, env = "EDGEGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Viewer HTTP listener [default: 127.0.0.1:8080].
    #[arg(long, env = "EDGEGATE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Viewer HTTPS listener (HTTP/1.1 and HTTP/2); needs --tls-cert and --tls-key.
    #[arg(long, env = "EDGEGATE_LISTEN_TLS", value_name = "ADDR")]
    pub listen_tls: Option<SocketAddr>,
    /// PEM certificate chain for --listen-tls.
    #[arg(long, env = "EDGEGATE_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --listen-tls.
    #[arg(long, env = "EDGEGATE_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Admin listener: the CloudFront API, /healthz [default: 127.0.0.1:9090].
    #[arg(long, env = "EDGEGATE_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Require SigV4-signed control-plane requests with these credentials (ACCESS_KEY_ID:SECRET).
    #[arg(
        long,
        env = "EDGEGATE_ADMIN_CREDENTIALS",
        value_name = "ID:SECRET",
        hide_env_values = true
    )]
    pub admin_credentials: Option<AdminCredentials>,
    /// Credentials edgegate signs origin requests with (S3 origins with an origin access
    /// control), as ACCESS_KEY_ID:SECRET [default: the AWS environment, shared files, instance role].
    #[arg(
        long,
        env = "EDGEGATE_ORIGIN_CREDENTIALS",
        value_name = "ID:SECRET",
        hide_env_values = true
    )]
    pub origin_credentials: Option<AdminCredentials>,
    /// Directory for state, logs and usage [default: ./data].
    #[arg(long, env = "EDGEGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Edge location code shown in X-Amz-Cf-Pop and logs; its airport prefix must not name
    /// another billing region than --billing-region [default: one of that region, IAD50-C1 for US].
    #[arg(long, env = "EDGEGATE_POP", value_name = "CODE")]
    pub pop: Option<String>,
    /// Billing region of this edge: US, CA, EU, ZA, ME, SA, JP, AU, AP or IN [default: the
    /// region of --pop's airport prefix, else US].
    #[arg(long, env = "EDGEGATE_BILLING_REGION", value_name = "CODE")]
    pub billing_region: Option<BillingRegion>,
    /// S3 endpoint for S3 origins and log buckets (LocalStack, MinIO), addressed path-style.
    #[arg(long, env = "EDGEGATE_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Keep the control-plane state in an S3 bucket shared by several edges, as
    /// s3://BUCKET/PREFIX (with --s3-endpoint for LocalStack or MinIO) [default: DATA_DIR/state].
    #[arg(long, env = "EDGEGATE_STATE", value_name = "s3://BUCKET/PREFIX")]
    pub state: Option<String>,
    /// Seconds between polls of a shared state bucket for other edges' changes [default: 2].
    #[arg(long, env = "EDGEGATE_STATE_POLL_INTERVAL", value_name = "SECONDS")]
    pub state_poll_interval: Option<u64>,
    /// Suffix of generated distribution domain names [default: cloudfront.localhost].
    #[arg(long, env = "EDGEGATE_DOMAIN_SUFFIX", value_name = "SUFFIX")]
    pub domain_suffix: Option<String>,
    /// In-memory cache size, e.g. 512MiB or 2GiB [default: 512MiB].
    #[arg(long, env = "EDGEGATE_CACHE_SIZE", value_name = "BYTES")]
    pub cache_size: Option<ByteSize>,
    /// 12-digit account id used in ARNs [default: 000000000000].
    #[arg(long, env = "EDGEGATE_ACCOUNT_ID", value_name = "ID")]
    pub account_id: Option<String>,
    /// Proxies whose X-Forwarded-For is believed (comma-separated CIDRs).
    #[arg(
        long,
        env = "EDGEGATE_TRUSTED_PROXIES",
        value_name = "CIDR,...",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<Cidr>>,
    /// MaxMind GeoIP2/GeoLite2 City or Country database (.mmdb) that locates viewers, for
    /// geo restriction and the CloudFront-Viewer-* location headers [default: none: every
    /// viewer's location is unknown].
    #[arg(long, env = "EDGEGATE_GEOIP_DB", value_name = "FILE")]
    pub geoip_db: Option<PathBuf>,
    /// Record every request (access logs, usage, metrics): on or off [default: on].
    #[arg(long, env = "EDGEGATE_METERING", value_name = "on|off")]
    pub metering: Option<Switch>,
    /// Send cached bodies of 16 KiB or more with sendfile on plain-HTTP connections, from an
    /// in-memory copy that counts against --cache-size: on or off [default: on].
    #[arg(long, env = "EDGEGATE_SENDFILE", value_name = "on|off")]
    pub sendfile: Option<Switch>,
    /// Seconds between access-log deliveries (local files and S3 buckets) [default: 60].
    #[arg(long, env = "EDGEGATE_LOG_DELIVERY_INTERVAL", value_name = "SECONDS")]
    pub log_delivery_interval: Option<u64>,
    /// Threads serving viewer connections, each with its own event loop [default: the number
    /// of CPUs].
    #[arg(long, env = "EDGEGATE_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Make this edge the Origin Shield for origins whose OriginShieldRegion is REGION (e.g.
    /// us-east-1).
    #[arg(long, env = "EDGEGATE_SHIELD_REGION", value_name = "REGION")]
    pub shield_region: Option<String>,
    /// Where the Origin Shield of REGION listens (its viewer listener, http://HOST:PORT);
    /// repeatable, comma-separated in the environment.
    #[arg(
        long = "shield-endpoint",
        env = "EDGEGATE_SHIELD_ENDPOINT",
        value_name = "REGION=URL",
        value_delimiter = ','
    )]
    pub shield_endpoints: Option<Vec<String>>,
    /// Secret shared by the edges and their shields that authenticates shield requests
    /// [default: derived from --admin-credentials; without either, no shield is used or served].
    #[arg(
        long,
        env = "EDGEGATE_SHIELD_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub shield_key: Option<String>,
    /// The URL other edges reach this Origin Shield at (http://HOST:PORT), advertised in its
    /// heartbeat on a shared --state bucket so that edges without --shield-endpoint find it
    /// [default: the viewer listener's address, when it is not a wildcard such as 0.0.0.0].
    #[arg(long, env = "EDGEGATE_SHIELD_ADVERTISE", value_name = "URL")]
    pub shield_advertise: Option<String>,
    /// Seconds a connection has to send a complete request head, from its first byte (or, on
    /// a new connection, from the accept) [default: 30].
    #[arg(long, env = "EDGEGATE_HEADER_TIMEOUT", value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
    /// Seconds an idle connection (HTTP/1.1 keep-alive or HTTP/2, no request in flight) is
    /// kept open waiting for its next request [default: 60].
    #[arg(long, env = "EDGEGATE_KEEPALIVE_TIMEOUT", value_name = "SECONDS")]
    pub keepalive_timeout: Option<u64>,
    /// Seconds a send may stall on a viewer that does not read before the connection is
    /// dropped [default: 60].
    #[arg(long, env = "EDGEGATE_SEND_TIMEOUT", value_name = "SECONDS")]
    pub send_timeout: Option<u64>,
    /// Most viewer connections open at once (HTTP and HTTPS together); beyond it new
    /// connections wait in the listen queue and idle ones are closed first [default: half of
    /// the open-file limit left after a reserve of 256 descriptors].
    #[arg(long, env = "EDGEGATE_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Request bodies up to this size are read whole before the origin request is sent, so
    /// that a slow upload holds no origin connection and OriginReadTimeout counts from the
    /// moment the request has been sent; larger ones are streamed [default: 1MiB].
    #[arg(long, env = "EDGEGATE_REQUEST_BODY_BUFFER", value_name = "BYTES")]
    pub request_body_buffer: Option<ByteSize>,
    /// Largest request body accepted; larger ones get 413 [default: no limit, as CloudFront].
    #[arg(long, env = "EDGEGATE_MAX_REQUEST_BODY", value_name = "BYTES")]
    pub max_request_body: Option<ByteSize>,
    /// Directory of the disk cache tier under the memory cache, kept across restarts
    /// [default: none: memory only].
    #[arg(long, env = "EDGEGATE_DISK_CACHE", value_name = "DIR")]
    pub disk_cache: Option<PathBuf>,
    /// Bytes the disk cache tier may hold, e.g. 10GiB; objects up to a quarter of it are
    /// cached [default: 10GiB].
    #[arg(long, env = "EDGEGATE_DISK_CACHE_SIZE", value_name = "BYTES")]
    pub disk_cache_size: Option<ByteSize>,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// The config file as written. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`ServeArgs::listen`].
    pub listen: Option<String>,
    /// See [`ServeArgs::listen_tls`].
    pub listen_tls: Option<String>,
    /// See [`ServeArgs::tls_cert`]; relative to the config file.
    pub tls_cert: Option<PathBuf>,
    /// See [`ServeArgs::tls_key`]; relative to the config file.
    pub tls_key: Option<PathBuf>,
    /// See [`ServeArgs::admin_listen`].
    pub admin_listen: Option<String>,
    /// See [`ServeArgs::admin_credentials`].
    pub admin_credentials: Option<String>,
    /// See [`ServeArgs::origin_credentials`].
    pub origin_credentials: Option<String>,
    /// See [`ServeArgs::data_dir`]; relative to the config file.
    pub data_dir: Option<PathBuf>,
    /// See [`ServeArgs::pop`].
    pub pop: Option<String>,
    /// See [`ServeArgs::billing_region`].
    pub billing_region: Option<String>,
    /// See [`ServeArgs::s3_endpoint`].
    pub s3_endpoint: Option<String>,
    /// See [`ServeArgs::state`].
    pub state: Option<String>,
    /// See [`ServeArgs::state_poll_interval`].
    pub state_poll_interval: Option<u64>,
    /// See [`ServeArgs::domain_suffix`].
    pub domain_suffix: Option<String>,
    /// See [`ServeArgs::cache_size`]; a string (`"512MiB"`) or a number of bytes.
    pub cache_size: Option<toml::Value>,
    /// See [`ServeArgs::account_id`].
    pub account_id: Option<String>,
    /// See [`ServeArgs::trusted_proxies`]; a list of CIDR strings.
    pub trusted_proxies: Option<Vec<String>>,
    /// See [`ServeArgs::geoip_db`]; relative to the config file.
    pub geoip_db: Option<PathBuf>,
    /// See [`ServeArgs::metering`]: `true` or `false`.
    pub metering: Option<bool>,
    /// See [`ServeArgs::sendfile`]: `true` or `false`.
    pub sendfile: Option<bool>,
    /// See [`ServeArgs::log_delivery_interval`].
    pub log_delivery_interval: Option<u64>,
    /// See [`ServeArgs::workers`].
    pub workers: Option<usize>,
    /// See [`ServeArgs::shield_region`].
    pub shield_region: Option<String>,
    /// See [`ServeArgs::shield_endpoints`]: a table of REGION = URL.
    #[serde(default)]
    pub shield_endpoints: BTreeMap<String, String>,
    /// See [`ServeArgs::shield_key`].
    pub shield_key: Option<String>,
    /// See [`ServeArgs::shield_advertise`].
    pub shield_advertise: Option<String>,
    /// Seconds a graceful shutdown waits for in-flight requests [default: 30].
    pub drain_timeout: Option<u64>,
    /// See [`ServeArgs::header_timeout`].
    pub header_timeout: Option<u64>,
    /// See [`ServeArgs::keepalive_timeout`].
    pub keepalive_timeout: Option<u64>,
    /// See [`ServeArgs::send_timeout`].
    pub send_timeout: Option<u64>,
    /// See [`ServeArgs::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`ServeArgs::request_body_buffer`]; a string (`"1MiB"`) or a number of bytes.
    pub request_body_buffer: Option<toml::Value>,
    /// See [`ServeArgs::max_request_body`]; a string (`"100MiB"`) or a number of bytes.
    pub max_request_body: Option<toml::Value>,
    /// See [`ServeArgs::disk_cache`]; relative to the config file.
    pub disk_cache: Option<PathBuf>,
    /// See [`ServeArgs::disk_cache_size`]; a string (`"10GiB"`) or a number of bytes.
    pub disk_cache_size: Option<toml::Value>,
    /// Local-directory origins by name: an origin whose DomainName is `NAME.edgegate.local` serves
    /// the files under the directory (relative to the config file).
    #[serde(default)]
    pub local_origins: BTreeMap<String, PathBuf>,
    /// Declared public keys (see the README's "Declarative start-up").
    #[serde(default)]
    pub public_keys: Vec<toml::Table>,
    /// Declared legacy CloudFront key pairs, trusted through `TrustedSigners`
    /// (see [`key_pairs`]).
    #[serde(default)]
    pub key_pairs: Vec<toml::Table>,
    /// Declared key groups.
    #[serde(default)]
    pub key_groups: Vec<toml::Table>,
    /// Declared cache policies.
    #[serde(default)]
    pub cache_policies: Vec<toml::Table>,
    /// Declared origin request policies.
    #[serde(default)]
    pub origin_request_policies: Vec<toml::Table>,
    /// Declared response headers policies.
    #[serde(default)]
    pub response_headers_policies: Vec<toml::Table>,
    /// Declared origin access controls (`[[origin_access_controls]]`).
    #[serde(default)]
    pub origin_access_controls: Vec<toml::Table>,
    /// Declared legacy origin access identities (`[[origin_access_identities]]`).
    #[serde(default)]
    pub origin_access_identities: Vec<toml::Table>,
    /// Declared distributions.
    #[serde(default)]
    pub distributions: Vec<toml::Table>,
}

/// The viewer HTTPS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListen {
    /// Address to bind.
    pub addr: SocketAddr,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Validated settings of a running edge.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Viewer HTTP listener.
    pub listen: SocketAddr,
    /// Viewer HTTPS listener, if any.
    pub listen_tls: Option<TlsListen>,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Credentials control-plane requests must be signed with; `None` = unauthenticated, which
    /// is only allowed on a loopback admin address.
    pub admin_credentials: Option<AdminCredentials>,
    /// Credentials for signing origin requests; `None` = the AWS default chain.
    pub origin_credentials: Option<AdminCredentials>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Edge location code.
    pub pop: String,
    /// Billing region of this edge.
    pub billing_region: BillingRegion,
    /// S3 endpoint override (path-style addressing), e.g. `http://127.0.0.1:4566`.
    pub s3_endpoint: Option<http::Uri>,
    /// The shared state bucket (`s3://BUCKET/PREFIX`), or `None` for `DATA_DIR/state`.
    pub state: Option<String>,
    /// How often a shared state bucket is polled.
    pub state_poll_interval: Duration,
    /// Suffix of generated distribution domain names.
    pub domain_suffix: String,
    /// Cache capacity in bytes.
    pub cache_size: u64,
    /// Account id for ARNs.
    pub account_id: String,
    /// Networks whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The GeoIP database that locates viewers, if any (opened when the edge starts).
    pub geoip_db: Option<PathBuf>,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Local-directory origins by name.
    pub local_origins: BTreeMap<String, PathBuf>,
    /// The Origin Shield region this edge serves (`--shield-region`), if any.
    pub shield_region: Option<String>,
    /// Declared Origin Shield endpoints by region (`--shield-endpoint REGION=URL`).
    pub shield_endpoints: BTreeMap<String, http::Uri>,
    /// The key that authenticates shield requests, if any ([`crate::edge::shield`]).
    pub shield_key: Option<Vec<u8>>,
    /// The URL this Origin Shield advertises to the other edges (`--shield-advertise`), if
    /// declared; else the viewer listener's address when it is not a wildcard.
    pub shield_advertise: Option<http::Uri>,
    /// Whether requests are metered (journal, access logs, usage, metrics).
    pub metering: bool,
    /// Whether cached bodies get a mirror sent with `sendfile` ([`crate::sendfile`]).
    pub sendfile: bool,
    /// How often access logs are written out and delivered.
    pub log_delivery_interval: Duration,
    /// Threads serving viewer connections.
    pub workers: usize,
    /// Time a connection has to send a complete request head (viewer and admin listeners).
    pub header_timeout: Duration,
    /// Time an idle connection waits for its next request (viewer and admin listeners).
    pub keepalive_timeout: Duration,
    /// Time a send may stall on a peer that does not read (viewer and admin listeners).
    pub send_timeout: Duration,
    /// Most viewer connections open at once; `None`: derived from the open-file limit when
    /// the edge starts ([`crate::server::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// Request bodies up to this many bytes are read whole before the origin request.
    pub request_body_buffer: u64,
    /// The disk cache tier's directory and size, when there is one ([`crate::cache::disk`]).
    pub disk_cache: Option<(PathBuf, u64)>,
    /// Largest request body accepted (413 beyond), if limited.
    pub max_request_body: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self::resolve(
            &ServeArgs::default(),
            &FileConfig::default(),
            Path::new("."),
        )
        .unwrap_or_else(|errors| unreachable!("defaults are valid: {errors:?}"))
    }
}

impl Settings {
    /// Layers flags/env over the file over defaults and validates the result. `base` is the
    /// directory relative paths in the file are taken from. Returns every problem found.
    pub fn resolve(args: &ServeArgs, file: &FileConfig, base: &Path) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let rel = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };

        let listen = pick_parsed(
            args.listen,
            &file.listen,
            "listen",
            DEFAULT_LISTEN,
            &mut errors,
        );
        let admin_listen = pick_parsed(
            args.admin_listen,
            &file.admin_listen,
            "admin_listen",
            DEFAULT_ADMIN_LISTEN,
            &mut errors,
        );
        let listen_tls_addr: Option<SocketAddr> = match (args.listen_tls, &file.listen_tls) {
            (Some(a), _) => Some(a),
            (None, Some(s)) => parse_or_report(s, "listen_tls", &mut errors),
            (None, None) => None,
        };
        let tls_cert = args
            .tls_cert
            .clone()
            .or_else(|| file.tls_cert.as_ref().map(&rel));
        let tls_key = args
            .tls_key
            .clone()
            .or_else(|| file.tls_key.as_ref().map(&rel));
        let listen_tls = match (listen_tls_addr, tls_cert, tls_key) {
            (Some(addr), Some(cert), Some(key)) => Some(TlsListen { addr, cert, key }),
            (Some(_), _, _) => {
                errors.push(
                    "listen_tls needs both tls_cert and tls_key (--tls-cert, --tls-key)".into(),
                );
                None
            }
            (None, Some(_), _) | (None, _, Some(_)) => {
                errors.push("tls_cert/tls_key are set but listen_tls (--listen-tls) is not".into());
                None
            }
            (None, None, None) => None,
        };

        let admin_credentials = match (&args.admin_credentials, &file.admin_credentials) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(s)) => parse_or_report(s, "admin_credentials", &mut errors),
            (None, None) => None,
        };
        let origin_credentials = match (&args.origin_credentials, &file.origin_credentials) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(s)) => parse_or_report(s, "origin_credentials", &mut errors),
            (None, None) => None,
        };
        if admin_credentials.is_none() && !admin_listen.ip().is_loopback() {
            errors.push(format!(
                "admin_listen {admin_listen} is not a loopback address: set admin credentials \
                 (--admin-credentials ACCESS_KEY_ID:SECRET) before exposing the control plane"
            ));
        }

        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.as_ref().map(&rel))
            .unwrap_or_else(|| PathBuf::from("./data"));

        let given_pop = args.pop.clone().or_else(|| file.pop.clone());
        let given_region = match (args.billing_region, &file.billing_region) {
            (Some(r), _) => Some(r),
            (None, Some(s)) => parse_or_report(s, "billing_region", &mut errors),
            (None, None) => None,
        };
        // The two are tied so that a log line's x-edge-location reads back as this edge's
        // region (meter::pops): each defaults from the other, and a contradiction is refused.
        let billing_region = given_region
            .or_else(|| given_pop.as_deref().and_then(pops::billing_region))
            .unwrap_or(BillingRegion::Us);
        let pop = given_pop.unwrap_or_else(|| pops::default_pop(billing_region).to_owned());
        if pop.is_empty()
            || pop.len() > 32
            || !pop.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            errors.push(format!(
                "pop {pop:?} must be 1-32 letters, digits or '-' (like CloudFront's IAD89-C1)"
            ));
        } else if let pops::PopRegion::Conflicts(other) = pops::check_pop(&pop, billing_region) {
            errors.push(format!(
                "pop {pop:?} is an edge location in billing region {other}, but billing_region \
                 (--billing-region) is {billing_region}: `usage report --from-bucket` reads the \
                 region from the pop's airport code, so name the pop after a city of \
                 {billing_region} (e.g. {}) or leave it out",
                pops::default_pop(billing_region)
            ));
        }

        let s3_endpoint = match args.s3_endpoint.as_ref().or(file.s3_endpoint.as_ref()) {
            None => None,
            Some(s) => match s.parse::<http::Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http" | "https"))
                        && u.authority().is_some() =>
                {
                    Some(u)
                }
                _ => {
                    errors.push(format!(
                        "s3_endpoint {s:?} must be an http:// or https:// URL such as http://127.0.0.1:4566"
                    ));
                    None
                }
            },
        };

        let domain_suffix = args
            .domain_suffix
            .clone()
            .or_else(|| file.domain_suffix.clone())
            .unwrap_or_else(|| DEFAULT_DOMAIN_SUFFIX.to_owned())
            .trim_matches('.')
            .to_ascii_lowercase();
        if domain_suffix.is_empty()
            || !domain_suffix.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            errors.push(format!(
                "domain_suffix {domain_suffix:?} is not a valid domain name"
            ));
        }

        let cache_size = match (args.cache_size, &file.cache_size) {
            (Some(s), _) => s.0,
            (None, Some(toml::Value::Integer(n))) if *n > 0 => *n as u64,
            (None, Some(toml::Value::String(s))) => match s.parse::<ByteSize>() {
                Ok(b) => b.0,
                Err(e) => {
                    errors.push(format!("cache_size: {e}"));
                    DEFAULT_CACHE_SIZE
                }
            },
            (None, Some(other)) => {
                errors.push(format!(
                    "cache_size must be a size such as \"512MiB\", not {}",
                    other.type_str()
                ));
                DEFAULT_CACHE_SIZE
            }
            (None, None) => DEFAULT_CACHE_SIZE,
        };
        if cache_size < (1 << 20) {
            errors.push(format!(
                "cache_size {cache_size} is below the minimum of 1MiB"
            ));
        }

        let account_id = args
            .account_id
            .clone()
            .or_else(|| file.account_id.clone())
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_owned());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(format!(
                "account_id {account_id:?} must be exactly 12 digits"
            ));
        }

        let trusted_proxies = match (&args.trusted_proxies, &file.trusted_proxies) {
            (Some(v), _) => v.clone(),
            (None, Some(list)) => list
                .iter()
                .filter_map(|s| parse_or_report(s, "trusted_proxies", &mut errors))
                .collect(),
            (None, None) => Vec::new(),
        };

        let geoip_db = args
            .geoip_db
            .clone()
            .or_else(|| file.geoip_db.as_ref().map(&rel));

        let drain_timeout = file
            .drain_timeout
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT);

        let metering = match (args.metering, file.metering) {
            (Some(s), _) => s == Switch::On,
            (None, Some(b)) => b,
            (None, None) => true,
        };
        let sendfile = match (args.sendfile, file.sendfile) {
            (Some(s), _) => s == Switch::On,
            (None, Some(b)) => b,
            (None, None) => true,
        };
        let state = args.state.clone().or_else(|| file.state.clone());
        if let Some(url) = &state {
            let bucket = url
                .strip_prefix("s3://")
                .map(|r| r.split('/').next().unwrap_or(""));
            if bucket.is_none_or(str::is_empty) {
                errors.push(format!(
                    "state {url:?} must be s3://BUCKET or s3://BUCKET/PREFIX (without it the state is kept in the data directory)"
                ));
            }
        }
        let state_poll_interval = args
            .state_poll_interval
            .or(file.state_poll_interval)
            .unwrap_or(2);
        if state_poll_interval == 0 || state_poll_interval > 3600 {
            errors.push(format!(
                "state_poll_interval {state_poll_interval} must be 1 to 3600 seconds"
            ));
        }
        let state_poll_interval = Duration::from_secs(state_poll_interval.clamp(1, 3600));

        let log_delivery_interval = args
            .log_delivery_interval
            .or(file.log_delivery_interval)
            .unwrap_or(DEFAULT_LOG_DELIVERY_INTERVAL_SECS);
        if log_delivery_interval == 0 || log_delivery_interval > 86_400 {
            errors.push(format!(
                "log_delivery_interval {log_delivery_interval} must be 1 to 86400 seconds"
            ));
        }
        let log_delivery_interval = Duration::from_secs(log_delivery_interval.clamp(1, 86_400));
        let workers = args.workers.or(file.workers).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if workers == 0 || workers > MAX_WORKERS {
            errors.push(format!("workers {workers} must be 1 to {MAX_WORKERS}"));
        }

        let mut timeout = |flag: Option<u64>, file: Option<u64>, key: &str, default: u64| {
            let secs = flag.or(file).unwrap_or(default);
            if secs == 0 || secs > MAX_TIMEOUT_SECS {
                errors.push(format!(
                    "{key} {secs} must be 1 to {MAX_TIMEOUT_SECS} seconds"
                ));
            }
            Duration::from_secs(secs.clamp(1, MAX_TIMEOUT_SECS))
        };
        let header_timeout = timeout(
            args.header_timeout,
            file.header_timeout,
            "header_timeout",
            DEFAULT_HEADER_TIMEOUT_SECS,
        );
        let keepalive_timeout = timeout(
            args.keepalive_timeout,
            file.keepalive_timeout,
            "keepalive_timeout",
            DEFAULT_KEEPALIVE_TIMEOUT_SECS,
        );
        let send_timeout = timeout(
            args.send_timeout,
            file.send_timeout,
            "send_timeout",
            DEFAULT_SEND_TIMEOUT_SECS,
        );
        let max_connections = args.max_connections.or(file.max_connections);
        if max_connections == Some(0) {
            errors.push("max_connections must be at least 1".into());
        }

        let request_body_buffer = byte_size(
            args.request_body_buffer,
            &file.request_body_buffer,
            "request_body_buffer",
            &mut errors,
        )
        .unwrap_or(DEFAULT_REQUEST_BODY_BUFFER);
        if request_body_buffer > MAX_REQUEST_BODY_BUFFER {
            errors.push(format!(
                "request_body_buffer {request_body_buffer} is above the maximum of 64MiB"
            ));
        }
        let max_request_body = byte_size(
            args.max_request_body,
            &file.max_request_body,
            "max_request_body",
            &mut errors,
        );

        let disk_cache_size = byte_size(
            args.disk_cache_size,
            &file.disk_cache_size,
            "disk_cache_size",
            &mut errors,
        )
        .unwrap_or(DEFAULT_DISK_CACHE_SIZE);
        if disk_cache_size < (1 << 20) {
            errors.push(format!(
                "disk_cache_size {disk_cache_size} is below the minimum of 1MiB"
            ));
        }
        let disk_cache = args
            .disk_cache
            .clone()
            .or_else(|| file.disk_cache.as_ref().map(&rel))
            .map(|dir| (dir, disk_cache_size));

        let mut local_origins = BTreeMap::new();
        for (name, dir) in &file.local_origins {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                errors.push(format!(
                    "local_origins.{name}: names are letters, digits and '-' (the origin's DomainName is NAME.edgegate.local)"
                ));
            }
            local_origins.insert(name.to_ascii_lowercase(), rel(dir));
        }

        let shield_region = args.shield_region.clone().or(file.shield_region.clone());
        let mut shield_endpoints = BTreeMap::new();
        let declared: Vec<(String, String)> = match &args.shield_endpoints {
            Some(list) => list
                .iter()
                .map(|e| match e.split_once('=') {
                    Some((r, u)) => (r.trim().to_owned(), u.trim().to_owned()),
                    None => (e.clone(), String::new()),
                })
                .collect(),
            None => file
                .shield_endpoints
                .iter()
                .map(|(r, u)| (r.clone(), u.clone()))
                .collect(),
        };
        for (region, url) in declared {
            match url.parse::<http::Uri>() {
                Ok(u) if !region.is_empty() && u.scheme().is_some() && u.authority().is_some() => {
                    shield_endpoints.insert(region, u);
                }
                _ => errors.push(format!(
                    "shield_endpoint {region}={url}: expected REGION=http://HOST:PORT"
                )),
            }
        }
        let shield_advertise = match args
            .shield_advertise
            .as_ref()
            .or(file.shield_advertise.as_ref())
        {
            None => None,
            Some(url) => match url.parse::<http::Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http" | "https"))
                        && u.host().is_some_and(|h| !h.is_empty()) =>
                {
                    Some(u)
                }
                _ => {
                    errors.push(format!(
                        "shield_advertise {url}: expected a URL such as http://10.0.0.5:8080"
                    ));
                    None
                }
            },
        };
        let shield_key = args
            .shield_key
            .clone()
            .or(file.shield_key.clone())
            .map(String::into_bytes)
            .or_else(|| {
                admin_credentials
                    .as_ref()
                    .map(|c| crate::edge::shield::derive_key(&c.secret_access_key))
            });

        if errors.is_empty() {
            Ok(Settings {
                shield_region,
                shield_endpoints,
                shield_key,
                shield_advertise,
                listen,
                listen_tls,
                admin_listen,
                admin_credentials,
                origin_credentials,
                data_dir,
                pop,
                billing_region,
                s3_endpoint,
                state,
                state_poll_interval,
                domain_suffix,
                cache_size,
                account_id,
                metering,
                sendfile,
                log_delivery_interval,
                workers,
                header_timeout,
                keepalive_timeout,
                send_timeout,
                max_connections,
                request_body_buffer,
                max_request_body,
                disk_cache,
                trusted_proxies,
                geoip_db,
                drain_timeout,
                local_origins,
            })
        } else {
            Err(errors)
        }
    }

    /// A warning when this edge's pop has no airport code of the table in `meter::pops`: usage
    /// reports read from a bucket then bill its lines in the report's `--billing-region`.
    pub fn pop_warning(&self) -> Option<String> {
        (pops::check_pop(&self.pop, self.billing_region) == pops::PopRegion::Unknown).then(|| {
            format!(
                "pop {:?} does not start with a known edge location code: `usage report \
                 --from-bucket` will bill this edge's log lines in the report's \
                 --billing-region, not in {}; name the pop after a city of {} (e.g. {}) to \
                 make it exact",
                self.pop,
                self.billing_region,
                self.billing_region,
                pops::default_pop(self.billing_region)
            )
        })
    }

    /// Whether X-Forwarded-For from `peer` is believed.
    pub fn trusts_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(peer))
    }
}

/// Why a config file cannot be loaded; both name the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The file is not valid TOML of the config's shape (the message names the key and line).
    #[error("{}: {error}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        #[source]
        error: toml::de::Error,
    },
}

/// Reads and parses a config file. Errors name the file.
pub fn load_file(path: &Path) -> Result<FileConfig, ConfigFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    toml::from_str(&text).map_err(|error| ConfigFileError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

fn parse_or_report<T: std::str::FromStr>(s: &str, key: &str, errors: &mut Vec<String>) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match s.parse::<T>() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(format!("{key}: {s:?}: {e}"));
            None
        }
    }
}

/// A size from its flag, else from the config file (a string such as `"1MiB"` or a number of
/// bytes), else `None`.
fn byte_size(
    flag: Option<ByteSize>,
    file: &Option<toml::Value>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<u64> {
    match (flag, file) {
        (Some(s), _) => Some(s.0),
        (None, Some(toml::Value::Integer(n))) if *n >= 0 => Some(*n as u64),
        (None, Some(toml::Value::String(s))) => match s.parse::<ByteSize>() {
            Ok(b) => Some(b.0),
            Err(e) => {
                errors.push(format!("{key}: {e}"));
                None
            }
        },
        (None, Some(other)) => {
            errors.push(format!(
                "{key} must be a size such as \"1MiB\", not {}",
                other.type_str()
            ));
            None
        }
        (None, None) => None,
    }
}

fn pick_parsed(
    flag: Option<SocketAddr>,
    file: &Option<String>,
    key: &str,
    default: &str,
    errors: &mut Vec<String>,
) -> SocketAddr {
    let fallback = || {
        default
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
    };
    match (flag, file) {
        (Some(a), _) => a,
        (None, Some(s)) => parse_or_report(s, key, errors).unwrap_or_else(fallback),
        (None, None) => fallback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults() {
        let s = Settings::default();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.admin_listen.to_string(), DEFAULT_ADMIN_LISTEN);
        assert_eq!(s.billing_region, BillingRegion::Us);
        assert_eq!(s.cache_size, DEFAULT_CACHE_SIZE);
        assert_eq!(s.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn the_disk_cache_is_off_unless_a_directory_is_given() {
        assert_eq!(Settings::default().disk_cache, None);
        let base = Path::new("/etc/edgegate");
        let s = Settings::resolve(
            &ServeArgs::default(),
            &file("disk_cache = \"cache\"\ndisk_cache_size = \"2GiB\""),
            base,
        )
        .unwrap();
        assert_eq!(s.disk_cache, Some((base.join("cache"), 2 << 30)));
        let flags = ServeArgs {
            disk_cache: Some("/var/cache/edgegate".into()),
            ..ServeArgs::default()
        };
        let s = Settings::resolve(&flags, &FileConfig::default(), base).unwrap();
        assert_eq!(
            s.disk_cache,
            Some(("/var/cache/edgegate".into(), DEFAULT_DISK_CACHE_SIZE))
        );
        let errors =
            Settings::resolve(&flags, &file("disk_cache_size = \"1KiB\""), base).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains("disk_cache_size")),
            "{errors:?}"
        );
    }

    #[test]
    fn sendfile_is_on_unless_turned_off() {
        assert!(Settings::default().sendfile);
        let off = file("sendfile = false");
        assert!(
            !Settings::resolve(&ServeArgs::default(), &off, Path::new("."))
                .unwrap()
                .sendfile
        );
        let args = ServeArgs {
            sendfile: Some(Switch::On),
            ..Default::default()
        };
        assert!(
            Settings::resolve(&args, &off, Path::new("."))
                .unwrap()
                .sendfile
        );
    }

    #[test]
    fn shared_state_is_an_s3_url_polled_every_few_seconds() {
        let s = Settings::default();
        assert_eq!(s.state, None);
        assert_eq!(s.state_poll_interval, Duration::from_secs(2));
        let f = file("state = \"s3://edge-state/prod\"\nstate_poll_interval = 5");
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap();
        assert_eq!(s.state.as_deref(), Some("s3://edge-state/prod"));
        assert_eq!(s.state_poll_interval, Duration::from_secs(5));
        let args = ServeArgs {
            state: Some("s3://other".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&args, &f, Path::new(".")).unwrap();
        assert_eq!(s.state.as_deref(), Some("s3://other"));

        let bad = file("state = \"/var/lib/edgegate\"\nstate_poll_interval = 0");
        let errors = Settings::resolve(&ServeArgs::default(), &bad, Path::new("."))
            .unwrap_err()
            .join("\n");
        assert!(
            errors.contains("state \"/var/lib/edgegate\" must be s3://BUCKET"),
            "{errors}"
        );
        assert!(
            errors.contains("state_poll_interval 0 must be 1 to 3600"),
            "{errors}"
        );
        let no_bucket = file("state = \"s3:///prefix\"");
        assert!(Settings::resolve(&ServeArgs::default(), &no_bucket, Path::new(".")).is_err());
    }

    #[test]
    fn flags_win_over_file() {
        let f = file(
            "listen = \"127.0.0.1:1111\"\npop = \"FRA1-C1\"\ncache_size = \"2GiB\"\nbilling_region = \"EU\"",
        );
        let args = ServeArgs {
            listen: Some("127.0.0.1:2222".parse().unwrap()),
            ..Default::default()
        };
        let s = Settings::resolve(&args, &f, Path::new("/etc/edgegate")).unwrap();
        assert_eq!(s.listen.port(), 2222);
        assert_eq!(s.pop, "FRA1-C1");
        assert_eq!(s.cache_size, 2 << 30);
        assert_eq!(s.billing_region, BillingRegion::Eu);
    }

    #[test]
    fn pop_and_billing_region_read_back_as_each_other() {
        let resolve =
            |text: &str| Settings::resolve(&ServeArgs::default(), &file(text), Path::new("."));
        // Neither: US, and a US code.
        let s = resolve("").unwrap();
        assert_eq!(
            (s.pop.as_str(), s.billing_region),
            ("IAD50-C1", BillingRegion::Us)
        );
        assert_eq!(s.pop_warning(), None);
        // Only the region: a pop of that region.
        let s = resolve("billing_region = \"JP\"").unwrap();
        assert_eq!(
            (s.pop.as_str(), s.billing_region),
            ("NRT50-C1", BillingRegion::Jp)
        );
        // Only the pop: its region.
        let s = resolve("pop = \"SYD4-C2\"").unwrap();
        assert_eq!(
            (s.pop.as_str(), s.billing_region),
            ("SYD4-C2", BillingRegion::Au)
        );
        // Both, agreeing.
        assert!(resolve("pop = \"LHR61-P5\"\nbilling_region = \"EU\"").is_ok());
        // Both, disagreeing: refused, naming both and a way out.
        let errs = resolve("pop = \"LHR61-P5\"\nbilling_region = \"US\"").unwrap_err();
        let e = errs.join("\n");
        for needle in ["LHR61-P5", "region EU", "is US", "IAD50-C1"] {
            assert!(e.contains(needle), "{needle} in {e}");
        }
        // A flag disagreeing with the file's pop is refused the same way.
        let args = ServeArgs {
            billing_region: Some(BillingRegion::Ap),
            ..Default::default()
        };
        assert!(Settings::resolve(&args, &file("pop = \"FRA1\""), Path::new(".")).is_err());
        // A code not in the table: allowed, with a warning naming the consequence.
        let s = resolve("pop = \"edge-a\"\nbilling_region = \"EU\"").unwrap();
        let w = s.pop_warning().expect("a warning");
        assert!(w.contains("edge-a") && w.contains("FRA50-C1"), "{w}");
    }

    #[test]
    fn every_error_reported() {
        let f = file(
            "listen = \"nope\"\nbilling_region = \"XX\"\naccount_id = \"12\"\ncache_size = \"1KiB\"\n\
             s3_endpoint = \"ftp://x\"\nadmin_listen = \"0.0.0.0:9090\"\nlisten_tls = \"127.0.0.1:8443\"",
        );
        let errs = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap_err();
        let all = errs.join("\n");
        for needle in [
            "listen:",
            "billing_region",
            "account_id",
            "cache_size",
            "s3_endpoint",
            "loopback",
            "tls_cert",
        ] {
            assert!(all.contains(needle), "missing {needle} in {all}");
        }
    }

    #[test]
    fn shield_region_endpoints_and_key() {
        let f = file(
            "shield_region = \"us-east-1\"\nshield_key = \"k\"\n[shield_endpoints]\n\"eu-west-1\" = \"http://10.0.0.5:8080\"",
        );
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap();
        assert_eq!(s.shield_region.as_deref(), Some("us-east-1"));
        assert_eq!(s.shield_key.as_deref(), Some(&b"k"[..]));
        assert_eq!(
            s.shield_endpoints["eu-west-1"].to_string(),
            "http://10.0.0.5:8080/"
        );
        // Flags win; a bad endpoint is an error naming it.
        let args = ServeArgs {
            shield_endpoints: Some(vec!["us-east-2=http://a:1".into(), "nope".into()]),
            ..Default::default()
        };
        let errs = Settings::resolve(&args, &f, Path::new(".")).unwrap_err();
        assert!(errs.join("\n").contains("shield_endpoint nope"), "{errs:?}");
        let f = file("shield_advertise = \"http://10.0.0.5:8080\"");
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap();
        assert_eq!(
            s.shield_advertise.map(|u| u.to_string()).as_deref(),
            Some("http://10.0.0.5:8080/")
        );
        let f = file("shield_advertise = \"10.0.0.5\"");
        let errs = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap_err();
        assert!(errs.join("\n").contains("shield_advertise"), "{errs:?}");
        // Without --shield-key, the key comes from the admin credentials.
        let f = file("admin_credentials = \"AKID:secret\"");
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap();
        assert_eq!(
            s.shield_key,
            Some(crate::edge::shield::derive_key("secret"))
        );
        assert!(Settings::default().shield_key.is_none());
    }

    #[test]
    fn workers() {
        assert!(Settings::default().workers >= 1);
        let f = file("workers = 3");
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).unwrap();
        assert_eq!(s.workers, 3);
        let args = ServeArgs {
            workers: Some(1),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&args, &f, Path::new("."))
                .unwrap()
                .workers,
            1
        );
        for bad in ["workers = 0", "workers = 5000"] {
            let errs = Settings::resolve(&ServeArgs::default(), &file(bad), Path::new("."))
                .unwrap_err()
                .join("\n");
            assert!(
                errs.contains("workers") && errs.contains("1 to 1024"),
                "{errs}"
            );
        }
    }

    #[test]
    fn connection_timeouts_and_limit() {
        let s = Settings::default();
        assert_eq!(s.header_timeout, Duration::from_secs(30));
        assert_eq!(s.keepalive_timeout, Duration::from_secs(60));
        assert_eq!(s.send_timeout, Duration::from_secs(60));
        assert_eq!(s.max_connections, None);
        assert_eq!(s.request_body_buffer, 1 << 20);
        assert_eq!(s.max_request_body, None);
        let sizes = file("request_body_buffer = \"64KiB\"\nmax_request_body = 1000");
        let s = Settings::resolve(&ServeArgs::default(), &sizes, Path::new(".")).unwrap();
        assert_eq!(
            (s.request_body_buffer, s.max_request_body),
            (64 << 10, Some(1000))
        );
        let errs = Settings::resolve(
            &ServeArgs::default(),
            &file("request_body_buffer = \"1GiB\"\nmax_request_body = true"),
            Path::new("."),
        )
        .unwrap_err()
        .join("\n");
        assert!(
            errs.contains("request_body_buffer")
                && errs.contains("max_request_body must be a size"),
            "{errs}"
        );
        let f = file(
            "header_timeout = 5\nkeepalive_timeout = 7\nsend_timeout = 9\nmax_connections = 100",
        );
        let args = ServeArgs {
            keepalive_timeout: Some(2),
            ..Default::default()
        };
        let s = Settings::resolve(&args, &f, Path::new(".")).unwrap();
        assert_eq!(s.header_timeout, Duration::from_secs(5));
        assert_eq!(s.keepalive_timeout, Duration::from_secs(2));
        assert_eq!(s.send_timeout, Duration::from_secs(9));
        assert_eq!(s.max_connections, Some(100));
        let bad = file("header_timeout = 0\nsend_timeout = 99999\nmax_connections = 0");
        let errs = Settings::resolve(&ServeArgs::default(), &bad, Path::new("."))
            .unwrap_err()
            .join("\n");
        for needle in ["header_timeout 0", "send_timeout 99999", "max_connections"] {
            assert!(errs.contains(needle), "missing {needle} in {errs}");
        }
    }

    #[test]
    fn non_loopback_admin_allowed_with_credentials() {
        let f = file("admin_listen = \"0.0.0.0:9090\"\nadmin_credentials = \"AK:SK\"");
        assert!(Settings::resolve(&ServeArgs::default(), &f, Path::new(".")).is_ok());
    }

    #[test]
    fn unknown_keys_rejected() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let f = file("data_dir = \"state\"\n[local_origins]\ndemo = \"site\"");
        let s = Settings::resolve(&ServeArgs::default(), &f, Path::new("/srv/eg")).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv/eg/state"));
        assert_eq!(s.local_origins["demo"], PathBuf::from("/srv/eg/site"));
    }
}
