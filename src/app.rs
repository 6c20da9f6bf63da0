//! Start-up and shutdown: turns [`ServeArgs`] into a running edge.
//!
//! `serve` resolves the settings, opens the state store, binds every listener (failing before
//! anything is served if one cannot be bound), and runs the viewer and admin listeners until the
//! shutdown future resolves; then it stops accepting, drains in-flight requests for at most the
//! drain timeout, flushes, and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;

use crate::config::{self, FileConfig, ServeArgs, Settings};
use crate::server::{self, Shutdown};
use crate::state::StateStore;

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
pub fn load_settings(args: &ServeArgs) -> Result<(Settings, FileConfig), String> {
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
    let settings = Settings::resolve(args, &file, &base).map_err(|errors| {
        let mut msg = String::from("invalid settings:");
        for e in errors {
            msg.push_str("\n  - ");
            msg.push_str(&e);
        }
        msg
    })?;
    Ok((settings, file))
}

/// `edgegate config check FILE`: returns the report to print, `Err` when there are errors.
pub fn check_config(path: &Path) -> Result<String, String> {
    let args = ServeArgs {
        config: Some(path.to_path_buf()),
        ..Default::default()
    };
    load_settings(&args)
        .map(|_| format!("{}: OK\n", path.display()))
        .map_err(|e| format!("{}: {e}\n", path.display()))
}

async fn bind(addr: std::net::SocketAddr, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
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
    trigger: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Running {
    /// Stops accepting, drains in-flight requests (bounded by the drain timeout) and flushes.
    pub async fn shutdown(mut self) {
        let _ = self.trigger.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Binds every listener and starts serving; returns once the edge accepts requests.
pub async fn start(settings: Settings, file: FileConfig, demo: bool) -> Result<Running, String> {
    let _ = (demo, &file);
    let _store = StateStore::local(&settings.data_dir.join("state")).map_err(|e| e.to_string())?;

    let viewer = bind(settings.listen, "viewer HTTP").await?;
    let admin = bind(settings.admin_listen, "admin").await?;
    let viewer_tls = match &settings.listen_tls {
        Some(t) => Some((
            bind(t.addr, "viewer HTTPS").await?,
            server::tls_acceptor(&t.cert, &t.key)?,
        )),
        None => None,
    };
    let local = |l: &TcpListener| l.local_addr().map_err(|e| format!("listener address: {e}"));
    let viewer_addr = local(&viewer)?;
    let admin_addr = local(&admin)?;
    let tls_addr = match &viewer_tls {
        Some((l, _)) => Some(local(l)?),
        None => None,
    };

    let (trigger, stop) = Shutdown::new();
    let drain = settings.drain_timeout;
    let handler = |_req: hyper::Request<hyper::body::Incoming>, _conn: server::ConnInfo| async move {
        crate::edge::pages::response(http::StatusCode::FORBIDDEN, "text/html", String::new())
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(server::serve(viewer, None, handler, stop.clone(), drain));
    if let Some((l, acceptor)) = viewer_tls {
        tasks.spawn(server::serve(
            l,
            Some(acceptor),
            handler,
            stop.clone(),
            drain,
        ));
    }
    let admin_router =
        axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok\n" }));
    let admin_stop = stop.clone();
    tasks.spawn(async move {
        let _ = axum::serve(admin, admin_router)
            .with_graceful_shutdown(admin_stop.wait())
            .await;
    });
    Ok(Running {
        viewer: viewer_addr,
        viewer_tls: tls_addr,
        admin: admin_addr,
        trigger,
        tasks,
    })
}

/// Runs an edge until `shutdown` resolves. Prints one line with the bound addresses on stdout
/// (`edgegate listening viewer=… admin=…`) so scripts and tests can find ephemeral ports.
pub async fn serve(
    args: ServeArgs,
    demo: bool,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let (settings, file) = load_settings(&args)?;
    let running = start(settings, file, demo).await?;
    let tls = running
        .viewer_tls
        .map(|a| format!(" viewer_tls=https://{a}"))
        .unwrap_or_default();
    println!(
        "edgegate listening viewer=http://{}{tls} admin=http://{}",
        running.viewer, running.admin
    );
    tracing::info!(viewer = %running.viewer, admin = %running.admin, "edgegate serving");
    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}
