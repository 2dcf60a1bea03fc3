//! The `ferry` binary: parse the command line, set up logging, run a subcommand.
//!
//! Exit codes: 0 after a clean shutdown (or a valid `ferry config` file), 64 (`EX_USAGE`) for an
//! invalid configuration, 1 when Ferry cannot start.

mod cli;
mod config;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ferry_config::StartOptions;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

pub(crate) const EX_USAGE: u8 = 64;

/// The hidden subcommand the spawner runs in each new app process (see `ferry_spawn::setupper`).
/// It is dispatched before clap and before any runtime exists, to keep spawns fast.
const SETUPPER: &str = "spawn-env-setupper";

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == SETUPPER) {
        let status = ferry_spawn::setupper::run(&argv[2..]);
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Start(mut args) => match args.config.take() {
            Some(file) => start_file(&file, args.into()),
            None => start(args.into()),
        },
        cli::Command::Config(args) => config::run(args.command),
        cli::Command::MemoryStats(args) => memory_stats(&args),
    }
}

/// `ferry memory-stats`: names are cut to `$COLUMNS` characters per row, else 120.
fn memory_stats(args: &cli::MemoryStatsArgs) -> ExitCode {
    use ferry_admin::memory_stats::{render_text, Options, Report};
    let options = Options {
        apache: !args.no_apache,
        nginx: !args.no_nginx,
    };
    let report = Report::collect(env!("CARGO_PKG_VERSION"), options);
    match args.format {
        cli::OutputFormat::Json => println!("{:#}", report.to_json()),
        cli::OutputFormat::Text => {
            let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
            print!("{}", render_text(&report, width.unwrap_or(120)));
        }
    }
    ExitCode::SUCCESS
}

/// `ferry start --config FILE`: everything the file defines. Options of `ferry start`'s single
/// app are refused rather than silently ignored.
fn start_file(file: &std::path::Path, rest: StartOptions) -> ExitCode {
    if rest != StartOptions::default() {
        eprintln!(
            "ferry: invalid configuration: with --config, set options in {} (passenger_* \
             directives); only --config may be given",
            file.display()
        );
        return ExitCode::from(EX_USAGE);
    }
    let Some(deployment) = config::deployment(file) else {
        return ExitCode::from(EX_USAGE);
    };
    init_tracing(deployment.log_level);
    run(deployment)
}

/// `ferry start`: the command line's options over `FERRY_*`/`PASSENGER_*` environment variables
/// over the app's `Passengerfile.json` over the defaults (`ferry_config::layers`).
fn start(cli: StartOptions) -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let config = match ferry_config::gather(cli, &env)
        .and_then(|layer| Ok((layer.options.resolve()?, layer.warnings)))
    {
        Ok(config) => config,
        Err(e) => {
            let chain = anyhow::Error::from(e)
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>();
            eprintln!("ferry: invalid configuration: {}", chain.join(": "));
            return ExitCode::from(EX_USAGE);
        }
    };
    let (config, warnings) = config;
    init_tracing(config.log_level);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    run(config.deployment())
}

/// Serves `deployment` until SIGTERM or SIGINT.
fn run(deployment: ferry_config::deployment::Deployment) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(deployment))
}

async fn serve(deployment: ferry_config::deployment::Deployment) -> ExitCode {
    // Install the handlers before announcing the listeners: a signal sent right after the
    // announcement must be handled, not kill the process.
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("ferry: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let running = match ferry_app::Ferry::start(deployment).await {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(
                "{}",
                anyhow::Error::from(e)
                    .chain()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ")
            );
            return ExitCode::FAILURE;
        }
    };
    for url in running.urls() {
        println!("ferry: listening on {url}");
    }
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = int.recv() => tracing::info!("received SIGINT"),
    }
    running.shutdown(ferry_app::DRAIN_GRACE).await;
    ExitCode::SUCCESS
}

/// Logs go to stderr. Passenger's levels map onto tracing's: 0–1 error, 2 warn, 3 info
/// (Passenger's "notice"), 4–5 debug, 6–7 trace. `RUST_LOG`, when set, wins.
fn init_tracing(log_level: u8) {
    let level = match log_level {
        0 | 1 => "error",
        2 => "warn",
        3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
