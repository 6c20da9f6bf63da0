//! Start-up and shutdown: turns [`ServeArgs`] into a running edge.
//!
//! `serve` resolves the settings, opens the state store, binds every listener (failing before
//! anything is served if one cannot be bound), and runs the viewer and admin listeners until the
//! shutdown future resolves; then it stops accepting, drains in-flight requests for at most the
//! drain timeout, flushes, and returns.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::cache::Cache;
use crate::config::{self, FileConfig, ServeArgs, Settings, declare};
use crate::control::{self, AdminState};
use crate::edge::{Edge, compile};
use crate::meter::Meter;
use crate::meter::bucket::S3Client;
use crate::meter::deliver::{Delivery, DeliveryReport, LogTarget};
use crate::meter::metrics::Metrics;
use crate::server::{self, Shutdown, TlsError};
use crate::sign::SignError;
use crate::state::registry::{OnChange, Registry, State};
use crate::state::shared::{Fleet, Purge};
use crate::state::{StateError, StateStore};

/// Why the edge could not start (or the demo could not be set up); the text is what the
/// operator reads after `edgegate:`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file cannot be read or parsed.
    #[error(transparent)]
    ConfigFile(#[from] config::ConfigFileError),
    /// The settings (flags, environment and config file together) are invalid; every problem.
    #[error("invalid settings:{}", list(.0))]
    Settings(Vec<String>),
    /// The demo's settings are invalid (the demo's config is built in, so this means bad flags).
    #[error("{}", .0.join("; "))]
    DemoSettings(Vec<String>),
    /// The config file's declarations are invalid; every problem.
    #[error("invalid configuration:{}", list(.0))]
    Declarations(Vec<String>),
    /// The usage journal cannot be opened.
    #[error("cannot open the usage journal in {}: {error}", dir.display())]
    Journal {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The control-plane state cannot be opened or loaded.
    #[error(transparent)]
    State(#[from] StateError),
    /// The shared state bucket (`--state s3://…`) cannot be configured.
    #[error(transparent)]
    SharedState(#[from] crate::state::S3StoreError),
    /// The edge id file in the data directory cannot be read or written.
    #[error("cannot read or write the edge id {}: {error}", path.display())]
    EdgeId {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The GeoIP database (`--geoip-db`) cannot be read.
    #[error(transparent)]
    GeoIp(#[from] crate::geo::GeoDbError),
    /// The registry refused a declared resource.
    #[error("declared {what}: {error}")]
    Declared {
        /// The resource, e.g. `public key demo-key`.
        what: String,
        /// Why it was refused.
        #[source]
        error: StateError,
    },
    /// A listener cannot be bound.
    #[error("cannot listen on {addr} ({what}): {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Which listener.
        what: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The HTTPS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A bound listener has no local address.
    #[error("listener address: {0}")]
    ListenerAddress(#[source] std::io::Error),
    /// The accept workers cannot start.
    #[error("cannot start the {name} workers: {error}")]
    Workers {
        /// `http` or `https`.
        name: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// Another edgegate holds the data directory's lock.
    #[error(
        "the data directory {} is in use by another edgegate{}: stop it, or give this one another --data-dir",
        dir.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    DataDirLocked {
        /// The data directory.
        dir: PathBuf,
        /// The process id the lock file names, if it names one.
        holder: Option<u32>,
    },
    /// The data directory or its lock file cannot be created or locked.
    #[error("cannot lock the data directory {}: {error}", dir.display())]
    DataDirLock {
        /// The data directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The demo's site files cannot be written.
    #[error("{}: {error}", path.display())]
    DemoFiles {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The built-in demo config does not parse (a build defect).
    #[error("demo config: {0}")]
    DemoConfig(#[source] toml::de::Error),
}

/// One `\n  - ` line per problem.
fn list(problems: &[String]) -> String {
    problems
        .iter()
        .map(|p| {
            format!(
                "
  - {p}"
            )
        })
        .collect()
}

/// `edgegate config check` found errors; the report lists them (and any warnings).
#[derive(Debug, thiserror::Error)]
#[error("{report}")]
pub struct CheckFailed {
    /// The whole report, one `warning:`/`error:` line each and a count.
    pub report: String,
}

/// Resolves SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Loads the config file named by `args` (if any) and resolves the settings.
pub fn load_settings(args: &ServeArgs) -> Result<(Settings, FileConfig), StartError> {
    let (file, base) = match &args.config {
        Some(path) => (
            config::load_file(path)?,
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => (
            FileConfig::default(),
            std::env::current_dir().unwrap_or_default(),
        ),
    };
    let settings = Settings::resolve(args, &file, &base).map_err(StartError::Settings)?;
    Ok((settings, file))
}

/// `edgegate config check FILE`: returns the report to print, `Err` when there are errors.
pub fn check_config(path: &Path) -> Result<String, CheckFailed> {
    let file = config::load_file(path).map_err(|e| CheckFailed {
        report: format!("error: {e}\n"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut out = String::new();
    let (mut errors, account_id) = match Settings::resolve(&ServeArgs::default(), &file, &base) {
        Ok(s) => {
            if let Some(w) = s.pop_warning() {
                out.push_str(&format!("warning: {}: {w}\n", path.display()));
            }
            (Vec::new(), s.account_id)
        }
        Err(es) => (
            es.into_iter()
                .map(|e| format!("{}: {e}", path.display()))
                .collect(),
            config::DEFAULT_ACCOUNT_ID.to_owned(),
        ),
    };
    let (declared, report) = declare::decode(&file, path, &base);
    errors.extend(report.errors);
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for (i, d) in declared.distributions.iter().enumerate() {
        for u in config::key_pairs::unowned_signers(&d.d.config, &declared.key_pairs, &account_id) {
            out.push_str(&format!(
                "warning: {}: distributions[{i}]: {u}\n",
                path.display()
            ));
        }
    }
    if !errors.is_empty() {
        for e in &errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out.push_str(&format!("{} error(s)\n", errors.len()));
        return Err(CheckFailed { report: out });
    }
    out.push_str(&format!(
        "{}: OK ({} distributions, {} public keys, {} key groups, {} cache policies, {} origin request policies, {} response headers policies)\n",
        path.display(),
        declared.distributions.len(),
        declared.public_keys.len(),
        declared.key_groups.len(),
        declared.cache_policies.len(),
        declared.origin_request_policies.len(),
        declared.response_headers_policies.len()
    ));
    Ok(out)
}

/// The URL an Origin Shield advertises to the other edges: `--shield-advertise`, else its viewer
/// listener's address unless that is a wildcard (0.0.0.0, ::), which names no host to reach.
fn shield_url(declared: Option<&http::Uri>, viewer: SocketAddr) -> Option<String> {
    if let Some(u) = declared {
        return Some(u.to_string().trim_end_matches('/').to_owned());
    }
    (!viewer.ip().is_unspecified()).then(|| format!("http://{viewer}"))
}

/// Binds `n` sockets to `addr` in one `SO_REUSEPORT` group ([`server::bind_group`]).
fn bind(
    addr: SocketAddr,
    n: usize,
    what: &'static str,
) -> Result<Vec<std::net::TcpListener>, StartError> {
    server::bind_group(addr, n).map_err(|error| StartError::Bind { addr, what, error })
}

/// The lock file in the data directory that one edgegate at a time holds (`flock`), with the
/// holder's process id in it.
pub const LOCK_FILE: &str = "edgegate.lock";

/// Takes the data directory's lock ([`LOCK_FILE`]), creating the directory if needed. The
/// lock lasts as long as the returned file is open, and goes with the process however it ends.
pub fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StartError> {
    use std::io::{Read, Seek, Write};
    let failed = |error| StartError::DataDirLock {
        dir: dir.to_owned(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(failed)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(StartError::DataDirLocked {
                dir: dir.to_owned(),
                holder: text.trim().parse().ok(),
            });
        }
        Err(e) => return Err(failed(e.into())),
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(failed)?;
    Ok(file)
}

/// A started edge: its bound addresses and the means to stop it.
#[derive(Debug)]
pub struct Running {
    /// The viewer HTTP address actually bound (useful with port 0).
    pub viewer: SocketAddr,
    /// The viewer HTTPS address, if any.
    pub viewer_tls: Option<SocketAddr>,
    /// The admin address.
    pub admin: SocketAddr,
    /// The control-plane state.
    pub registry: Arc<Registry>,
    /// The meter, unless `--metering off`.
    pub meter: Option<Meter>,
    /// The config file's warnings, printed at start-up.
    declaration_warnings: Vec<String>,
    compiler: Arc<compile::Compiler>,
    delivery: Option<Delivery>,
    trigger: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    /// The data directory's lock, released when the edge is dropped.
    _lock: std::fs::File,
    /// The cache, whose disk writes are waited for at shutdown.
    cache: Cache,
}

impl Running {
    /// The load warnings printed so far: the config file's, then those of the latest
    /// compilation of the distributions (settings edgegate does not act on, behaviors that deny
    /// every request, ...).
    pub fn warnings(&self) -> Vec<String> {
        let mut all = self.declaration_warnings.clone();
        all.extend(self.compiler.last_warnings());
        all
    }

    /// Stops accepting, drains in-flight requests (bounded by the drain timeout), then writes
    /// every usage record and delivers the access logs one last time.
    pub async fn shutdown(mut self) {
        let _ = self.trigger.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.cache.flush_disk().await;
        if let Some(meter) = &self.meter {
            meter.sync_async().await;
        }
        if let Some(d) = &self.delivery {
            let targets = log_targets(&self.registry).await;
            let report = d.run_once(&targets).await;
            if report.failed > 0 {
                tracing::warn!(
                    failed = report.failed,
                    "some access logs could not be delivered; they stay queued for the next start"
                );
            }
        }
    }

    /// Delivers access logs now (as the periodic task does), after writing pending records.
    pub async fn deliver_logs(&self) -> Option<DeliveryReport> {
        let meter = self.meter.as_ref()?;
        meter.sync_async().await;
        let d = self.delivery.as_ref()?;
        Some(d.run_once(&log_targets(&self.registry).await).await)
    }
}

/// This edge's id in a shared state bucket: kept in `DATA_DIR/edge-id`, so that an edge restarted
/// on the same data directory takes its own place again; a new one is `{pop}-{16 hex digits}`.
fn edge_id(data_dir: &Path, pop: &str) -> Result<String, StartError> {
    let path = data_dir.join("edge-id");
    let fail = |error| StartError::EdgeId {
        path: path.clone(),
        error,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let id = format!("{}-{:016x}", pop.to_ascii_lowercase(), fastrand::u64(..));
    std::fs::write(&path, format!("{id}\n")).map_err(fail)?;
    Ok(id)
}

/// Every distribution's access-log destination.
async fn log_targets(registry: &Registry) -> HashMap<String, LogTarget> {
    registry
        .snapshot()
        .await
        .distributions
        .values()
        .filter_map(|d| {
            let t = LogTarget::from_logging(d.v.config.logging.as_ref()?)?;
            Some((d.v.id.clone(), t))
        })
        .collect()
}

/// Binds every listener and starts serving; returns once the edge accepts requests.
///
/// Order: open the state store and load the registry (a state that cannot be loaded stops
/// start-up with the record's name), apply the config file's declarations, bind every
/// listener, then serve.
pub async fn start(
    settings: Settings,
    file: FileConfig,
    config_path: Option<&Path>,
) -> Result<Running, StartError> {
    start_with_clock(settings, file, config_path, crate::clock::system()).await
}

/// [`start`], with the data plane reading the time of day from `clock` (tests move a
/// [`crate::clock::ManualClock`] forward instead of waiting for a TTL to run out).
pub async fn start_with_clock(
    settings: Settings,
    file: FileConfig,
    config_path: Option<&Path>,
    clock: Arc<dyn crate::clock::Clock>,
) -> Result<Running, StartError> {
    let base = config_path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let shown = config_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| "<config>".into());
    let (declared, report) = declare::decode(&file, &shown, &base);
    if let Some(w) = settings.pop_warning() {
        tracing::warn!("{w}");
    }
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if !report.errors.is_empty() {
        return Err(StartError::Declarations(report.errors));
    }

    let lock = lock_data_dir(&settings.data_dir)?;
    if settings.sendfile {
        crate::sendfile::raise_open_file_limit();
    }
    let disk = match settings.disk_cache.clone() {
        Some((dir, size)) => open_disk_cache(dir, size, clock.now()).await,
        None => None,
    };
    let cache = Cache::with_tiers(settings.cache_size, settings.sendfile, disk);
    let mut edge = Edge::new(
        cache.clone(),
        &settings.pop,
        settings.trusted_proxies.clone(),
    )
    .with_clock(clock.clone())
    .with_body_limits(crate::edge::pipeline::BodyLimits {
        buffer: usize::try_from(settings.request_body_buffer).unwrap_or(usize::MAX),
        max: settings.max_request_body,
        idle: settings.header_timeout,
    })
    // Only a shield (--shield-region) accepts shield requests from other edges.
    .with_shield_key(
        settings
            .shield_region
            .as_ref()
            .and(settings.shield_key.as_deref())
            .map(Arc::from),
    );
    if let Some(path) = &settings.geoip_db {
        let db = crate::geo::GeoDb::open(path)?;
        tracing::info!(path = %path.display(), kind = db.kind(), "GeoIP database loaded");
        edge = edge.with_geoip(Arc::new(db));
    }
    let meter = if settings.metering {
        let m =
            Meter::start(&settings.data_dir, Arc::new(Metrics::default())).map_err(|error| {
                StartError::Journal {
                    dir: settings.data_dir.clone(),
                    error,
                }
            })?;
        edge = edge.with_meter(m.clone(), &settings.pop, settings.billing_region);
        Some(m)
    } else {
        None
    };
    let edge = Arc::new(edge);
    let delivery = meter.as_ref().map(|_| {
        let creds: Arc<dyn crate::origin::CredentialsProvider> =
            crate::origin::DefaultChain::shared();
        Delivery::new(
            &settings.data_dir,
            &settings.pop,
            S3Client::new(settings.s3_endpoint.clone(), creds),
        )
    });
    let key_pairs = Arc::new(declared.key_pairs.clone());
    let builder = Arc::new(
        compile::Compiler::new(&settings)
            .with_key_pairs(Arc::clone(&key_pairs))
            .with_clock(clock.clone()),
    );
    let on_change: OnChange = {
        let edge = edge.clone();
        let builder = builder.clone();
        Arc::new(move |state: &State| {
            let (routes, warnings) = builder.routes(state);
            for w in warnings {
                tracing::warn!("{w}");
            }
            edge.publish(routes);
        })
    };
    let store = match &settings.state {
        Some(url) => {
            let endpoint = settings.s3_endpoint.as_ref().map(ToString::to_string);
            crate::state::store::s3(
                url,
                endpoint.as_deref(),
                Some(Arc::new(crate::s3::BridgedCredentials(
                    crate::origin::DefaultChain::shared(),
                ))),
            )?
        }
        None => StateStore::local(&settings.data_dir.join("state")).map_err(StateError::from)?,
    };
    let registry = Arc::new(Registry::open(store, &settings.domain_suffix, on_change).await?);
    apply_declarations(&registry, declared).await?;
    let fleet = if registry.store().is_shared() {
        let id = edge_id(&settings.data_dir, &settings.pop)?;
        let fleet = Arc::new(Fleet::new(
            registry.store(),
            &id,
            settings.state_poll_interval,
        ));
        registry.set_fleet(fleet.clone());
        // Shields advertised in the other edges' heartbeats serve the regions without a
        // declared --shield-endpoint.
        if let Some(directory) = builder.shield_directory() {
            fleet.on_shields(Arc::new(move |live| directory.set(live)));
        }
        let purge: Purge = {
            let edge = edge.clone();
            Arc::new(move |dist: String, paths: Vec<String>| {
                let edge = edge.clone();
                Box::pin(async move {
                    edge.cache().invalidate(&dist, &paths).await;
                })
            })
        };
        // Registered (and caught up) before serving, so the fleet counts this edge at once.
        fleet.poll_once(&registry, &purge, true).await?;
        tracing::info!(edge = %id, state = settings.state.as_deref().unwrap_or(""), "joined the edges sharing the state bucket");
        Some((fleet, purge))
    } else {
        None
    };
    if cache.has_disk() {
        apply_past_invalidations(&cache, &registry).await;
    }

    let workers = settings.workers;
    let viewer = bind(settings.listen, workers, "viewer HTTP")?;
    let mut admin = bind(settings.admin_listen, 1, "admin")?;
    let viewer_tls = match &settings.listen_tls {
        Some(t) => Some((
            bind(t.addr, workers, "viewer HTTPS")?,
            server::tls_acceptor(&t.cert, &t.key)?,
        )),
        None => None,
    };
    let local = |l: &[std::net::TcpListener]| match l.first() {
        Some(l) => l.local_addr().map_err(StartError::ListenerAddress),
        None => Err(StartError::ListenerAddress(
            std::io::ErrorKind::NotFound.into(),
        )),
    };
    let viewer_addr = local(&viewer)?;
    let admin_addr = local(&admin)?;
    let tls_addr = match &viewer_tls {
        Some((l, _)) => Some(local(l)?),
        None => None,
    };
    let mut shield_warnings = Vec::new();
    if let (Some((fleet, _)), Some(region)) = (&fleet, &settings.shield_region) {
        match shield_url(settings.shield_advertise.as_ref(), viewer_addr) {
            Some(url) => {
                tracing::info!(%region, %url, "advertising this Origin Shield in the state bucket");
                fleet.advertise_shield(crate::state::shared::ShieldBeacon {
                    region: region.clone(),
                    url,
                });
            }
            None => {
                let w = format!(
                    "this Origin Shield ({region}) is not advertised in the state bucket: the viewer listener {viewer_addr} is a wildcard address; give --shield-advertise http://HOST:PORT, or the other edges --shield-endpoint {region}=URL"
                );
                tracing::warn!("{w}");
                shield_warnings.push(w);
            }
        }
    }
    let admin = admin
        .pop()
        .ok_or(StartError::ListenerAddress(
            std::io::ErrorKind::NotFound.into(),
        ))
        .and_then(|l| {
            l.set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(l))
                .map_err(StartError::ListenerAddress)
        })?;
    let limits = server::Limits {
        header_timeout: settings.header_timeout,
        keepalive_timeout: settings.keepalive_timeout,
        send_timeout: settings.send_timeout,
        max_connections: settings
            .max_connections
            .unwrap_or_else(server::default_max_connections),
    };
    let admin_limits = server::Limits {
        max_connections: server::ADMIN_MAX_CONNECTIONS,
        ..limits
    };
    let gate = server::Gate::new(limits.max_connections);

    let (trigger, stop) = Shutdown::new();
    let drain = settings.drain_timeout;
    let handler = {
        let edge = edge.clone();
        move |req: hyper::Request<hyper::body::Incoming>, conn: server::ConnInfo| {
            edge.clone().handle(req, conn)
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    let on_workers = |l, tls, name| {
        server::serve_on_workers(
            l,
            tls,
            handler.clone(),
            stop.clone(),
            drain,
            limits,
            gate.clone(),
            name,
        )
        .map_err(|error| StartError::Workers { name, error })
    };
    tasks.spawn(on_workers(viewer, None, "http")?);
    if let Some((l, acceptor)) = viewer_tls {
        tasks.spawn(on_workers(l, Some(acceptor), "https")?);
    }
    let admin_state = Arc::new(AdminState {
        registry: registry.clone(),
        edge: edge.clone(),
        credentials: settings.admin_credentials.clone(),
        account_id: settings.account_id.clone(),
        key_pairs,
        meter: meter.clone(),
        data_dir: settings.data_dir.clone(),
        s3: S3Client::new(
            settings.s3_endpoint.clone(),
            match &settings.origin_credentials {
                Some(c) => Arc::new(crate::origin::StaticCredentials(
                    crate::sigv4::Credentials {
                        access_key_id: c.access_key_id.clone(),
                        secret_access_key: c.secret_access_key.clone(),
                        session_token: None,
                    },
                )),
                None => crate::origin::DefaultChain::shared(),
            },
        ),
    });
    let admin_router = control::router(admin_state);
    // Off loopback, /metrics and /usage need the admin credentials as the API does.
    let guard = (!settings.admin_listen.ip().is_loopback())
        .then(|| settings.admin_credentials.clone())
        .flatten()
        .map(Arc::new);
    let admin_handler = move |req: hyper::Request<hyper::body::Incoming>, _: server::ConnInfo| {
        let mut router = admin_router.clone();
        let refused = guard
            .as_deref()
            .and_then(|creds| reports_refusal(&req, creds));
        async move {
            if let Some(refused) = refused {
                return refused;
            }
            match tower_service::Service::call(&mut router, req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    };
    tasks.spawn(server::serve(
        admin,
        None,
        admin_handler,
        stop.clone(),
        drain,
        admin_limits,
        server::Gate::new(admin_limits.max_connections),
    ));
    if let Some((fleet, purge)) = &fleet {
        let (fleet, purge, registry) = (fleet.clone(), purge.clone(), registry.clone());
        let stop = stop.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = fleet.clone().run(registry, purge) => {}
                () = stop.wait() => {}
            }
            fleet.leave().await;
        });
    }
    if let Some(d) = delivery.clone() {
        let registry = registry.clone();
        let meter = meter.clone();
        let stop = stop.clone();
        let interval = settings.log_delivery_interval;
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = stop.clone().wait() => return,
                }
                if let Some(m) = &meter {
                    m.sync_async().await;
                }
                d.run_once(&log_targets(&registry).await).await;
            }
        });
    }
    Ok(Running {
        meter,
        declaration_warnings: report.warnings.into_iter().chain(shield_warnings).collect(),
        compiler: builder,
        delivery,
        viewer: viewer_addr,
        viewer_tls: tls_addr,
        admin: admin_addr,
        registry,
        trigger,
        tasks,
        _lock: lock,
        cache,
    })
}

/// The admin listener's report endpoints, which show traffic and cost.
const REPORTS: [&str; 2] = ["/metrics", "/usage"];

/// The refusal of a request for a report endpoint (`/metrics`, `/usage`) that does not carry the admin
/// credentials, either as a SigV4 signature (service `cloudfront`, as the API takes them; `curl
/// --aws-sigv4 aws:amz:us-east-1:cloudfront --user ID:SECRET`) or as HTTP Basic (`curl -u
/// ID:SECRET`, what Prometheus's `basic_auth` sends); `None` when it may go on.
pub fn reports_refusal<B>(
    req: &hyper::Request<B>,
    creds: &config::AdminCredentials,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    if !REPORTS.contains(&req.uri().path()) {
        return None;
    }
    let Some(auth) = req.headers().get(http::header::AUTHORIZATION) else {
        return Some(
            (
                http::StatusCode::UNAUTHORIZED,
                [(
                    http::header::WWW_AUTHENTICATE,
                    "Basic realm=\"edgegate admin\"",
                )],
                "this report needs the admin credentials (SigV4 or HTTP Basic)\n",
            )
                .into_response(),
        );
    };
    let basic = auth
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .map(|b64| {
            use base64::Engine;
            let expected = format!("{}:{}", creds.access_key_id, creds.secret_access_key);
            let given = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap_or_default();
            // Compared in full whatever the first difference, as a signature is.
            given.len() == expected.len()
                && given
                    .iter()
                    .zip(expected.as_bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
    let verdict = match basic {
        Some(true) => Ok(()),
        Some(false) => Err("the credentials are not the admin credentials".to_owned()),
        None => crate::sigv4::verify(
            req.method(),
            req.uri(),
            req.headers(),
            &crate::sigv4::sha256_hex(b""),
            |id| (id == creds.access_key_id).then(|| creds.secret_access_key.clone()),
            "cloudfront",
            time::OffsetDateTime::now_utc(),
        )
        .map_err(|e| e.to_string()),
    };
    verdict
        .err()
        .map(|why| (http::StatusCode::FORBIDDEN, format!("{why}\n")).into_response())
}

/// Upserts declared resources in dependency order: keys, groups, policies, distributions.
async fn apply_declarations(
    registry: &Registry,
    d: declare::Declarations,
) -> Result<(), StartError> {
    let fail = |what: String, error: StateError| StartError::Declared { what, error };
    for k in d.public_keys {
        let name = k.config.name.clone();
        registry
            .create_public_key(k.config, k.id, true)
            .await
            .map_err(|e| fail(format!("public key {name}"), e))?;
    }
    for g in d.key_groups {
        let name = g.config.name.clone();
        registry
            .create_key_group(g.config, g.id, true)
            .await
            .map_err(|e| fail(format!("key group {name}"), e))?;
    }
    for p in d.cache_policies {
        let name = p.config.name.clone();
        registry
            .create_policy(p.config, p.id, true)
            .await
            .map_err(|e| fail(format!("cache policy {name}"), e))?;
    }
    for p in d.origin_request_policies {
        let name = p.config.name.clone();
        registry
            .create_policy(p.config, p.id, true)
            .await
            .map_err(|e| fail(format!("origin request policy {name}"), e))?;
    }
    for p in d.response_headers_policies {
        let name = p.config.name.clone();
        registry
            .create_policy(p.config, p.id, true)
            .await
            .map_err(|e| fail(format!("response headers policy {name}"), e))?;
    }
    for o in d.origin_access_controls {
        let name = o.config.name.clone();
        registry
            .create_origin_access_control(o.config, o.id, true)
            .await
            .map_err(|e| fail(format!("origin access control {name}"), e))?;
    }
    for o in d.origin_access_identities {
        let what = o.config.caller_reference.clone();
        registry
            .create_origin_access_identity(o.config, o.id, true)
            .await
            .map_err(|e| fail(format!("origin access identity {what}"), e))?;
    }
    for dist in d.distributions {
        let what = dist
            .d
            .id
            .clone()
            .unwrap_or_else(|| dist.d.config.caller_reference.clone());
        let fixed = dist.d.id.map(|id| (id, dist.domain_name));
        registry
            .create_distribution(dist.d.config, fixed, true)
            .await
            .map_err(|e| fail(format!("distribution {what}"), e))?;
    }
    Ok(())
}

/// The built-in demo: its config and the files of its local-directory origin.
pub mod demo {
    use std::path::Path;

    use super::{SignError, StartError};

    /// The id of the demo's public key (declared in its config).
    pub const KEY_ID: &str = "K2EDGEGATEDEMO";
    /// The demo's config file (also `examples/demo/edgegate.toml`).
    pub const CONFIG: &str = include_str!("../examples/demo/edgegate.toml");
    /// The demo key pair's public half (`keys/demo-public.pem`).
    pub const PUBLIC_KEY: &str = include_str!("../keys/demo-public.pem");
    /// The demo key pair's private half: public knowledge, for the demo only.
    pub const PRIVATE_KEY: &str = include_str!("../keys/demo-private.pem");
    /// The demo site, as (path, bytes).
    pub const SITE: &[(&str, &[u8])] = &[
        (
            "index.html",
            include_bytes!("../examples/demo/site/index.html"),
        ),
        (
            "public/style.css",
            include_bytes!("../examples/demo/site/public/style.css"),
        ),
        (
            "public/hello.txt",
            include_bytes!("../examples/demo/site/public/hello.txt"),
        ),
        (
            "private/report.txt",
            include_bytes!("../examples/demo/site/private/report.txt"),
        ),
    ];

    /// A signed URL (canned policy, valid for 24 hours) for the demo's private object.
    pub fn signed_url(port: u16) -> Result<String, SignError> {
        let key = crate::sign::PrivateKey::from_pem(PRIVATE_KEY)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let opts = crate::sign::SignOptions {
            url: format!("http://localhost:{port}/private/report.txt"),
            key_pair_id: KEY_ID.to_owned(),
            expires: Some(now + 86_400),
            not_before: None,
            ip: None,
            resource: None,
            policy: None,
            hash: crate::sign::HashAlgorithm::Sha1,
        };
        crate::sign::signed_url(&opts, &key)
    }

    /// Writes the site under `dir` and returns the demo config with its paths pointing there.
    pub fn materialize(dir: &Path) -> Result<super::FileConfig, StartError> {
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |error| StartError::DemoFiles { path, error }
        };
        for (rel, bytes) in SITE {
            let path = dir.join("site").join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(failed(parent))?;
            }
            std::fs::write(&path, bytes).map_err(failed(&path))?;
        }
        let mut file: super::FileConfig = toml::from_str(CONFIG).map_err(StartError::DemoConfig)?;
        file.local_origins.insert("demo".into(), dir.join("site"));
        for key in &mut file.public_keys {
            key.remove("encoded_key_file");
            key.insert(
                "encoded_key".into(),
                toml::Value::String(PUBLIC_KEY.to_owned()),
            );
        }
        Ok(file)
    }
}

/// Runs an edge until `shutdown` resolves. Prints one line with the bound addresses on stdout
/// (`edgegate listening viewer=… admin=…`) so scripts and tests can find ephemeral ports.
pub async fn serve(
    args: ServeArgs,
    demo: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    // Poll the shutdown future once now, so that its signal handlers are installed before the
    // banner tells anyone the edge is up: a SIGTERM from then on drains and flushes.
    let mut shutdown = std::pin::pin!(shutdown);
    if futures_util::poll!(shutdown.as_mut()).is_ready() {
        return Ok(());
    }
    let (settings, file) = if demo {
        let data_dir = args.data_dir.clone().unwrap_or_else(|| "./data".into());
        let file = demo::materialize(&data_dir.join("demo"))?;
        let settings =
            Settings::resolve(&args, &file, Path::new(".")).map_err(StartError::DemoSettings)?;
        (settings, file)
    } else {
        load_settings(&args)?
    };
    let running = start(
        settings.clone(),
        file,
        if demo { None } else { args.config.as_deref() },
    )
    .await?;
    // Written with errors ignored: a reader that has gone away must not stop the edge.
    let tls = running
        .viewer_tls
        .map(|a| format!(" viewer_tls=https://{a}"))
        .unwrap_or_default();
    let mut banner = format!(
        "edgegate listening viewer=http://{}{tls} admin=http://{}\n",
        running.viewer, running.admin
    );
    if demo {
        let port = running.viewer.port();
        let signed = demo::signed_url(port).unwrap_or_else(|e| format!("(cannot sign: {e})"));
        banner.push_str(&format!(
            "\nedgegate demo is up:\n  public:  http://localhost:{port}/public/hello.txt\n  \
             private: http://localhost:{port}/private/report.txt  (403 MissingKey without a signature)\n  \
             signed (valid 24 h):\n    {signed}\n  \
             or sign it with the AWS CLI: aws cloudfront sign --url http://localhost:{port}/private/report.txt \\\n    \
             --key-pair-id {key} --private-key file://keys/demo-private.pem --date-less-than 2030-01-01\n  \
             API:     aws --endpoint-url http://{admin} cloudfront list-distributions\n  \
             usage:   curl http://{admin}/usage   metrics: curl http://{admin}/metrics\n",
            admin = running.admin,
            key = demo::KEY_ID,
        ));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes());
        let _ = out.flush();
    }
    tracing::info!(viewer = %running.viewer, admin = %running.admin, "edgegate serving");
    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the disk cache tier; an unusable directory is logged and the edge goes on with the
/// memory cache only.
async fn open_disk_cache(
    dir: PathBuf,
    size: u64,
    now: std::time::SystemTime,
) -> Option<crate::cache::disk::DiskTier> {
    let opened =
        tokio::task::spawn_blocking(move || crate::cache::disk::DiskTier::open(&dir, size, now))
            .await;
    match opened {
        Ok(Ok(tier)) => Some(tier),
        Ok(Err(error)) => {
            tracing::error!(%error, "disk cache off: serving from the memory cache only");
            None
        }
        Err(error) => {
            tracing::error!(%error, "disk cache off: its loader failed");
            None
        }
    }
}

/// Applies to the disk tier the invalidations it may have missed while the edge was down:
/// files written before an invalidation's creation that match it are dropped.
async fn apply_past_invalidations(cache: &Cache, registry: &Registry) {
    let state = registry.snapshot().await;
    let mut removed = 0;
    for list in state.invalidations.values() {
        for inv in list {
            let created: std::time::SystemTime = inv.created.into();
            removed +=
                cache.invalidate_disk_before(&inv.distribution_id, &inv.batch.paths, created);
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "disk cache: objects invalidated while the edge was down"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shield_advertises_its_declared_url_else_a_listener_that_is_not_a_wildcard() {
        let declared: http::Uri = "http://10.0.0.5:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        assert_eq!(
            shield_url(Some(&declared), any).as_deref(),
            Some("http://10.0.0.5:8080")
        );
        assert_eq!(
            shield_url(None, lo).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(shield_url(None, any), None);
        assert_eq!(shield_url(None, "[::]:80".parse().unwrap()), None);
    }

    #[test]
    fn problem_lists_keep_one_line_each() {
        let e = StartError::Settings(vec!["a: bad".into(), "b: worse".into()]);
        assert_eq!(e.to_string(), "invalid settings:\n  - a: bad\n  - b: worse");
        let e = StartError::Declarations(vec!["x".into()]);
        assert_eq!(e.to_string(), "invalid configuration:\n  - x");
        assert_eq!(
            StartError::DemoSettings(vec!["a".into(), "b".into()]).to_string(),
            "a; b"
        );
    }

    #[tokio::test]
    async fn a_declared_key_group_with_an_unknown_key_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let file: FileConfig = toml::from_str(
            r#"
[[key_groups]]
id = "3c8b9a52-5d4e-4c1a-9a57-6e6d2b0d9e01"
name = "orphan"
items = ["K2NOSUCHKEY"]
"#,
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let settings = Settings::resolve(&args, &file, dir.path()).unwrap();
        let Err(e) = start(settings, file, None).await else {
            panic!("an edge with a dangling key group must not start")
        };
        assert!(
            matches!(
                &e,
                StartError::Declared {
                    error: StateError::MissingReference { id, .. },
                    ..
                } if id == "K2NOSUCHKEY"
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "declared key group orphan: The public key K2NOSUCHKEY does not exist."
        );
    }
}
