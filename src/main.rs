//! The `edgegate` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgegate::config::ServeArgs;

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
        .init();
    match cli.command {
        Command::Config(ConfigCommand::Check { file }) => {
            match edgegate::app::check_config(&file) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(report) => {
                    eprint!("{report}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => run(args, false),
        Command::Demo(args) => run(args, true),
    }
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
