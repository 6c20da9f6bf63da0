//! The `edgegate` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgegate::config::ServeArgs;

/// mimalloc instead of the system allocator: a request allocates and frees a few dozen blocks
/// (header maps, futures, buffers), on which glibc's malloc spent about 4k instructions per
/// 1 KiB cache hit; mimalloc takes 3.2k fewer (`benches/instructions.sh`), and 64 KiB hits ran
/// faster too. It is built without transparent huge pages (the `no_thp` feature), which had
/// added about 25 MiB of resident memory under churn.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A CloudFront-compatible edge gateway.
#[derive(Debug, Parser)]
#[command(name = "edgegate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the edge: viewer listeners, the CloudFront API on the admin listener.
    Serve(ServeArgs),
    /// Run the built-in demo: a local-directory origin with a public and a private area.
    Demo(ServeArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Make CloudFront signed URLs and signed cookies.
    #[command(subcommand)]
    Sign(SignCommand),
    /// Generate a key pair for signed URLs and print the JSON for CreatePublicKey.
    Keygen(KeygenArgs),
    /// Usage reports (the AWS usage report, the console's) and cost estimates.
    #[command(subcommand)]
    Usage(edgegate::meter::cli::UsageCommand),
    /// The console's other reports: cache statistics, popular objects, top referrers.
    #[command(subcommand)]
    Report(edgegate::meter::cli::ReportCommand),
}

#[derive(Debug, Subcommand)]
enum SignCommand {
    /// Print a signed URL.
    Url(SignArgs),
    /// Print signed cookies (Set-Cookie lines, a curl -b string or JSON).
    Cookies {
        #[command(flatten)]
        args: SignArgs,
        /// Output: set-cookie (default), curl or json.
        #[arg(long, default_value = "set-cookie")]
        format: edgegate::sign::CookieFormat,
    },
}

#[derive(Debug, clap::Args)]
struct SignArgs {
    /// The URL viewers will request, already percent-encoded.
    #[arg(long)]
    url: String,
    /// The CloudFront public key id (Key-Pair-Id).
    #[arg(long)]
    key_pair_id: String,
    /// The PEM private key file (RSA PKCS#1/PKCS#8 or EC P-256 SEC1/PKCS#8).
    #[arg(long, value_name = "PEM")]
    private_key: String,
    /// Expiry: Unix seconds, RFC 3339 or +DURATION (+30m, +1h, +7d).
    #[arg(long, required_unless_present = "policy")]
    expires: Option<String>,
    /// Start of validity (custom policy), same formats as --expires.
    #[arg(long)]
    not_before: Option<String>,
    /// Allowed viewer IPv4 address or CIDR range (custom policy).
    #[arg(long, value_name = "CIDR")]
    ip: Option<String>,
    /// Resource pattern, may contain `*` (custom policy; default: the URL).
    #[arg(long, value_name = "PATTERN")]
    resource: Option<String>,
    /// A complete policy document to sign as is.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["expires", "not_before", "ip", "resource"])]
    policy: Option<String>,
    /// SHA1 (default) or SHA256.
    #[arg(long, default_value = "SHA1")]
    hash_algorithm: edgegate::sign::HashAlgorithm,
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// rsa (RSA-2048, PKCS#1) or ecdsa (P-256, SEC1).
    #[arg(long, default_value = "rsa")]
    algorithm: edgegate::sign::KeyAlgorithm,
    /// Directory for NAME-private.pem and NAME-public.pem.
    #[arg(long, default_value = ".")]
    out_dir: std::path::PathBuf,
    /// Key name (file prefix and CloudFront public key name).
    #[arg(long, default_value = "edgegate-key")]
    name: String,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a config file and report every error with its file and field path.
    Check {
        /// The config file (TOML).
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGEGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or a collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => {
            match edgegate::app::check_config(&file) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(failed) => {
                    eprint!("{}", failed.report);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sign(SignCommand::Url(args)) => report(
            sign_options(&args).and_then(|(opts, key)| edgegate::sign::signed_url(&opts, &key)),
            |url| println!("{url}"),
        ),
        Command::Sign(SignCommand::Cookies { args, format }) => report(
            sign_options(&args).and_then(|(opts, key)| {
                let cookies = edgegate::sign::signed_cookies(&opts, &key)?;
                Ok(edgegate::sign::format_cookies(&cookies, &opts.url, format))
            }),
            |text| print!("{text}"),
        ),
        Command::Keygen(args) => report(keygen(&args), |json| print!("{json}")),
        Command::Usage(cmd) => {
            offline(edgegate::meter::cli::run_usage(cmd, &mut std::io::stdout()))
        }
        Command::Report(cmd) => offline(edgegate::meter::cli::run_report(
            cmd,
            &mut std::io::stdout(),
        )),
        Command::Serve(args) => run(args, false),
        Command::Demo(args) => run(args, true),
    }
}

/// Runs a reporting command on a small runtime.
fn offline<E: std::fmt::Display>(
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgegate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgegate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report<T>(result: Result<T, edgegate::sign::SignError>, ok: impl FnOnce(T)) -> ExitCode {
    match result {
        Ok(v) => {
            ok(v);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgegate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sign_options(
    a: &SignArgs,
) -> Result<(edgegate::sign::SignOptions, edgegate::sign::PrivateKey), edgegate::sign::SignError> {
    use edgegate::sign::{SignError, parse_time, read_small_file};
    let now = now_epoch();
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_time(s, now).map_err(|e| SignError(format!("--{flag}: {e}"))))
            .transpose()
    };
    let opts = edgegate::sign::SignOptions {
        url: a.url.clone(),
        key_pair_id: a.key_pair_id.clone(),
        expires: time("expires", &a.expires)?,
        not_before: time("not-before", &a.not_before)?,
        ip: a.ip.clone(),
        resource: a.resource.clone(),
        policy: a
            .policy
            .as_deref()
            .map(|p| read_small_file(p, "policy file"))
            .transpose()?,
        hash: a.hash_algorithm,
    };
    if let Some(expires) = opts.expires
        && expires <= now
    {
        eprintln!(
            "edgegate: warning: --expires is in the past; CloudFront will refuse this signature"
        );
    }
    let key = edgegate::sign::read_private_key(&a.private_key)?;
    Ok((opts, key))
}

fn keygen(a: &KeygenArgs) -> Result<String, edgegate::sign::SignError> {
    edgegate::sign::check_key_name(&a.name)?;
    let pair = edgegate::sign::generate_key(a.algorithm)?;
    let (private, public) = edgegate::sign::write_key_pair(&a.out_dir, &a.name, &pair)?;
    eprintln!(
        "edgegate: wrote {} (keep it secret, mode 0600) and {}",
        private.display(),
        public.display()
    );
    let reference = format!("{}-{}", a.name, now_epoch());
    Ok(edgegate::sign::public_key_config_json(
        &a.name,
        &pair.public_pem,
        &reference,
    ))
}

fn run(args: ServeArgs, demo: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgegate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(edgegate::app::serve(
        args,
        demo,
        edgegate::app::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgegate: {e}");
            ExitCode::FAILURE
        }
    }
}
