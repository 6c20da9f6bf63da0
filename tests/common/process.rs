//! `edgegate serve` as a real child process on ephemeral loopback ports: the command, and its
//! start-up banner (`edgegate listening viewer=http://… admin=http://…`) read back for the
//! addresses.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `edgegate serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0`; the caller adds its flags,
/// environment and stderr.
pub fn serve_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgegate"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    cmd
}

/// Drops every `AWS_*` variable the test process has from `cmd`'s environment, then gives it
/// the test credentials ([`super::awscli::credentials`], LocalStack's), region `us-east-1` and
/// no instance-metadata lookups: the child sees only what the test gives it.
pub fn test_aws_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    let (key_id, secret) = super::awscli::credentials();
    cmd.env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

/// A started edge: the process and its listeners.
#[derive(Debug)]
pub struct Served {
    /// The process (the caller stops it).
    pub child: Child,
    /// The viewer listener.
    pub viewer: SocketAddr,
    /// The admin listener (the CloudFront API).
    pub admin: SocketAddr,
}

/// Spawns `cmd` with its stdout piped here and reads the banner. When there is none, panics
/// with `log` (the child's stderr file, if the caller sent it to one).
pub fn spawn(cmd: &mut Command, log: Option<&Path>) -> Served {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("the edgegate binary starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = |prefix: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(prefix))
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| {
                let log = log
                    .map(|p| std::fs::read_to_string(p).unwrap_or_default())
                    .unwrap_or_default();
                panic!("edgegate did not start (banner {line:?}):\n{log}")
            })
    };
    let (viewer, admin) = (addr("viewer=http://"), addr("admin=http://"));
    Served {
        child,
        viewer,
        admin,
    }
}

/// One edge of a fleet on a shared state bucket in LocalStack (`--state s3://BUCKET/state`,
/// a poll every second, `--pop NAME`, one worker, metering off, the test AWS environment),
/// with `extra` flags; its stderr is kept in a file. Killed when dropped.
#[derive(Debug)]
pub struct FleetEdge {
    /// The process.
    pub child: Child,
    /// The viewer listener.
    pub viewer: SocketAddr,
    /// The admin listener (the CloudFront API).
    pub admin: SocketAddr,
    log: std::path::PathBuf,
}

impl FleetEdge {
    /// Starts an edge with data in `data_dir` and its stderr in `log`.
    pub fn start<S: AsRef<std::ffi::OsStr>>(
        data_dir: &Path,
        log: std::path::PathBuf,
        bucket: &str,
        name: &str,
        extra: &[S],
    ) -> FleetEdge {
        let err = std::fs::File::create(&log).expect("log file");
        let mut cmd = serve_command();
        test_aws_env(&mut cmd);
        cmd.args(["--metering", "off", "--workers", "1"])
            .args(["--state-poll-interval", "1"])
            .args(["--s3-endpoint", &super::localstack::s3_endpoint()])
            .args(["--state", &format!("s3://{bucket}/state"), "--pop", name])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(err);
        let edge = spawn(&mut cmd, Some(&log));
        FleetEdge {
            child: edge.child,
            viewer: edge.viewer,
            admin: edge.admin,
            log,
        }
    }

    /// The admin listener's URL, for the AWS clients' endpoint.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends it `sig` (`-STOP`, `-CONT`, …) with `kill`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig}");
    }

    /// SIGKILLs it and reaps it.
    pub fn sigkill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for FleetEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
