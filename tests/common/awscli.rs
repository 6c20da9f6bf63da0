//! The AWS CLI from `tests/.venv` (installed by `scripts/setup-test-env`), run as a child process
//! with dummy credentials and no access to the user's AWS configuration. The isolation is set on
//! the child only; the test process's environment is never changed.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Path of the `aws` executable: `EDGEGATE_TEST_AWS`, else `tests/.venv/bin/aws` in this crate.
/// Panics, saying how to install it, when it is missing.
pub fn aws_path() -> PathBuf {
    let path = match std::env::var_os("EDGEGATE_TEST_AWS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/.venv/bin/aws"),
    };
    if !path.is_file() {
        panic!(
            "AWS CLI not found at {}: run scripts/setup-test-env (or run the suite with scripts/test)",
            path.display()
        );
    }
    path
}

/// The credentials the CLI uses: `EDGEGATE_TEST_S3_ACCESS_KEY` / `EDGEGATE_TEST_S3_SECRET_KEY`
/// when set (for another S3, such as MinIO), else LocalStack's dummy `test` / `test`.
pub fn credentials() -> (String, String) {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    (
        get("EDGEGATE_TEST_S3_ACCESS_KEY").unwrap_or_else(|| "test".to_string()),
        get("EDGEGATE_TEST_S3_SECRET_KEY").unwrap_or_else(|| "test".to_string()),
    )
}

/// A `Command` for the AWS CLI with the test [`credentials`], region us-east-1, no pager, no
/// config or credentials files, no instance-metadata lookups and no inherited AWS settings.
pub fn aws_command(args: &[&str]) -> Command {
    let (access_key, secret_key) = credentials();
    let mut cmd = Command::new(aws_path());
    // Drop every AWS_* variable the test process inherited (profiles, endpoints, tokens ...).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&key);
        }
    }
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", secret_key)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_PAGER", "")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "2");
    cmd
}

/// Runs the AWS CLI with `args` and returns its output, whatever its exit status.
pub fn aws(args: &[&str]) -> Output {
    let mut cmd = aws_command(args);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", aws_path().display()))
}

/// Runs the AWS CLI with `args`; panics with its stderr unless it exits 0.
pub fn aws_ok(args: &[&str]) -> Output {
    let out = aws(args);
    if !out.status.success() {
        panic!(
            "aws {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    out
}

/// `url` signed by `aws cloudfront sign` (botocore's CloudFrontSigner) with the demo key
/// (`keys/demo-private.pem`) under `key_pair_id`, valid until `date_less_than` (a date or Unix
/// seconds, as the CLI takes it). Panics unless the CLI succeeds.
pub async fn sign_with_demo_key(url: &str, key_pair_id: &str, date_less_than: &str) -> String {
    let key = concat!(
        "file://",
        env!("CARGO_MANIFEST_DIR"),
        "/keys/demo-private.pem"
    );
    let args = [
        "cloudfront",
        "sign",
        "--url",
        url,
        "--key-pair-id",
        key_pair_id,
        "--private-key",
        key,
        "--date-less-than",
        date_less_than,
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || aws_ok(&args.each_ref().map(String::as_str)))
        .await
        .expect("the AWS CLI ran");
    String::from_utf8(out.stdout)
        .expect("a URL")
        .trim()
        .to_owned()
}

/// Runs the AWS CLI with `args` (JSON output is forced); panics unless it exits 0. Returns the
/// parsed JSON it printed, or `Value::Null` when it printed nothing.
pub fn aws_json(args: &[&str]) -> serde_json::Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--output", "json"]);
    let out = aws_ok(&all);
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("aws {}: output is not JSON ({e}):\n{text}", args.join(" ")))
}

/// Runs the AWS CLI on a blocking thread (for tests whose edge runs on the same runtime):
/// `args` with `--output json`, and `env` set on the child after the isolation of
/// [`aws_command`]. Returns the output whatever its exit status.
pub async fn aws_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--output", "json"]);
        let mut cmd = aws_command(&all);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", aws_path().display()))
    })
    .await
    .expect("the AWS CLI ran")
}

/// The JSON a CLI run printed (`Value::Null` for nothing), asserting it exited 0; `what`
/// names the command in the failure.
pub fn json_of(out: &Output, what: &str) -> serde_json::Value {
    assert!(
        out.status.success(),
        "aws {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("aws {what}: output is not JSON ({e}):\n{text}"))
}

/// The error text of a CLI run, asserting it failed.
pub fn err_of(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "aws {what} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `content` to `dir/name` and returns it as a CLI blob argument (`fileb://`).
pub fn blob_arg(dir: &std::path::Path, name: &str, content: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    format!("fileb://{}", p.display())
}
