//! The `ferry` binary: parse the command line, set up logging, run a subcommand.
//!
//! Exit codes: 0 after a clean shutdown (or a valid `ferry config` file), 64 (`EX_USAGE`) for an
//! invalid configuration, 1 when Ferry cannot start.

mod admin;
mod cli;
mod config;
mod logging;

use std::process::ExitCode;

use clap::Parser;
use ferry_config::StartOptions;
use tokio::signal::unix::{signal, SignalKind};

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
        cli::Command::Status(args) => admin::status(&args),
        cli::Command::ListInstances(args) => admin::list_instances(&args),
        cli::Command::RestartApp(args) => admin::restart_app(&args),
        cli::Command::DetachProcess(args) => admin::detach_process(&args),
        cli::Command::ReopenLogs(args) => admin::reopen_logs(&args),
        cli::Command::LogLevel(args) => admin::log_level(&args),
        cli::Command::Backtraces(args) => admin::backtraces(&args),
        // Issue 18, health:
        cli::Command::Drain(args) => admin::drain(&args),
        cli::Command::Undrain(args) => admin::undrain(&args),
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
/// app are refused rather than silently ignored; those about logs and the instance registry
/// apply over the file's.
fn start_file(file: &std::path::Path, rest: StartOptions) -> ExitCode {
    let observability = StartOptions {
        instance_registry_dir: rest.instance_registry_dir.clone(),
        log_file: rest.log_file.clone(),
        access_log: rest.access_log.clone(),
        log_format: rest.log_format.clone(),
        disable_metrics: rest.disable_metrics,
        ..StartOptions::default()
    };
    if rest != observability {
        eprintln!(
            "ferry: invalid configuration: with --config, set app and server options in {} \
             (passenger_* directives); only the log, access log, metrics and instance registry \
             options may be given beside it",
            file.display()
        );
        return ExitCode::from(EX_USAGE);
    }
    let log_json = match rest.log_format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            eprintln!("ferry: invalid configuration: --log-format={other} is not valid: must be text or json");
            return ExitCode::from(EX_USAGE);
        }
    };
    let Some(mut deployment) = config::deployment(file) else {
        return ExitCode::from(EX_USAGE);
    };
    let o = &mut deployment.observability;
    o.instance_registry_dir = rest
        .instance_registry_dir
        .or(o.instance_registry_dir.take());
    o.log_file = rest.log_file.or(o.log_file.take());
    o.access_log = rest.access_log.or(o.access_log.take());
    o.log_json |= log_json;
    o.metrics &= !rest.disable_metrics.unwrap_or(false);
    let config_file = std::path::absolute(file).ok();
    run(deployment, config_file)
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
    run_with_warnings(config.deployment(), None, warnings)
}

fn run(
    deployment: ferry_config::deployment::Deployment,
    config_file: Option<std::path::PathBuf>,
) -> ExitCode {
    run_with_warnings(deployment, config_file, Vec::new())
}

/// Sets up the log, then serves `deployment` until SIGTERM or SIGINT (and, after either, for
/// the shutdown delay).
fn run_with_warnings(
    deployment: ferry_config::deployment::Deployment,
    config_file: Option<std::path::PathBuf>,
    warnings: Vec<String>,
) -> ExitCode {
    let o = &deployment.observability;
    let log = match logging::init(deployment.log_level, o.log_file.as_deref(), o.log_json) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::FAILURE;
        }
    };
    for warning in warnings {
        tracing::warn!("{warning}");
    }
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
    let admin = ferry_app::Admin {
        log: log.clone(),
        config_file,
    };
    runtime.block_on(serve(deployment, admin, log))
}

async fn serve(
    deployment: ferry_config::deployment::Deployment,
    admin: ferry_app::Admin,
    log: std::sync::Arc<logging::Logging>,
) -> ExitCode {
    use ferry_app::LogControl;
    // Install the handlers before announcing the listeners: a signal sent right after the
    // announcement must be handled, not kill the process.
    let (Ok(mut term), Ok(mut int), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::user_defined1()),
    ) else {
        eprintln!("ferry: cannot install signal handlers");
        return ExitCode::FAILURE;
    };
    let running = match ferry_app::Ferry::start(deployment, admin).await {
        Ok(running) => running,
        // Issue 19, TLS: a certificate or key that cannot be served is a configuration error.
        Err(e) if e.is_config() => {
            eprintln!("ferry: invalid configuration: {e}");
            return ExitCode::from(EX_USAGE);
        }
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
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("received SIGTERM"); break }
            _ = int.recv() => { tracing::info!("received SIGINT"); break }
            _ = usr1.recv() => {
                match log.reopen().and_then(|()| running.reopen_access_log()) {
                    Ok(()) => tracing::info!("received SIGUSR1: log files reopened"),
                    Err(e) => tracing::warn!("received SIGUSR1: {e}"),
                }
            }
        }
    }
    // Issue 18, health: the shutdown delay first (a second SIGTERM or SIGINT cuts it short).
    running
        .delay_shutdown(async {
            tokio::select! {
                _ = term.recv() => tracing::info!("received SIGTERM again"),
                _ = int.recv() => tracing::info!("received SIGINT again"),
            }
        })
        .await;
    running.shutdown(ferry_app::DRAIN_GRACE).await;
    ExitCode::SUCCESS
}
