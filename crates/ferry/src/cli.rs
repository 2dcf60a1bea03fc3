//! The command line: `ferry <command> [options]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ferry_config::{AppType, StartOptions};

/// Ferry: an application server for Ruby, Python, Node.js and any web app.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the app in APP_DIR (like `passenger start`).
    Start(StartArgs),
}

/// `ferry start`'s options; names and defaults follow `passenger start`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// The app's root directory.
    #[arg(default_value = ".")]
    app_dir: PathBuf,
    /// Address to listen on.
    #[arg(short = 'a', long, value_name = "HOST", default_value = "0.0.0.0")]
    address: String,
    /// TCP port to listen on; 0 picks a free port.
    #[arg(short = 'p', long, default_value_t = 3000)]
    port: u16,
    /// Listen on this unix domain socket instead of TCP.
    #[arg(short = 'S', long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The app's environment (PASSENGER_APP_ENV, RAILS_ENV, RACK_ENV, NODE_ENV, ...).
    #[arg(short = 'e', long, value_name = "ENV", default_value = "production")]
    environment: String,
    /// Most app processes alive at once.
    #[arg(long, value_name = "N", default_value_t = ferry_config::DEFAULT_MAX_POOL_SIZE)]
    max_pool_size: usize,
    /// Fewest processes kept per app once it has started.
    #[arg(long, value_name = "N", default_value_t = ferry_config::DEFAULT_MIN_INSTANCES)]
    min_instances: usize,
    /// Longest queue of requests waiting for a process (0 = unbounded).
    #[arg(long, value_name = "N", default_value_t = ferry_config::DEFAULT_MAX_REQUEST_QUEUE_SIZE)]
    max_request_queue_size: usize,
    /// The app's type: node, ruby, python or generic (default: detected).
    #[arg(long, value_name = "TYPE")]
    app_type: Option<AppType>,
    /// The app's startup file, relative to APP_DIR (default: app.js for Node).
    #[arg(long, value_name = "FILE")]
    startup_file: Option<PathBuf>,
    /// Command that starts a generic app listening on $PORT.
    #[arg(long, value_name = "CMD")]
    app_start_command: Option<String>,
    /// Seconds a process may take to start.
    #[arg(long, value_name = "SECS", default_value_t = ferry_config::DEFAULT_START_TIMEOUT_SECS)]
    start_timeout: u64,
    /// Log level 0 (errors only) to 7 (everything); 3 is Passenger's "notice".
    #[arg(long, value_name = "0..7", default_value_t = ferry_config::DEFAULT_LOG_LEVEL)]
    log_level: u8,
}

impl From<StartArgs> for StartOptions {
    fn from(args: StartArgs) -> Self {
        StartOptions {
            app_dir: Some(args.app_dir),
            address: Some(args.address),
            port: Some(args.port),
            socket: args.socket,
            environment: Some(args.environment),
            max_pool_size: Some(args.max_pool_size),
            min_instances: Some(args.min_instances),
            app_type: args.app_type,
            startup_file: args.startup_file,
            app_start_command: args.app_start_command,
            start_timeout: Some(args.start_timeout),
            max_request_queue_size: Some(args.max_request_queue_size),
            log_level: Some(args.log_level),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn start_takes_passenger_names() {
        let cli = Cli::try_parse_from([
            "ferry",
            "start",
            "/srv/app",
            "--port",
            "0",
            "--max-pool-size",
            "2",
            "--app-type",
            "nodejs",
            "--app-start-command",
            "node server.js",
            "--start-timeout",
            "5",
        ])
        .expect("parses");
        let Command::Start(args) = cli.command;
        let opts = StartOptions::from(args);
        assert_eq!(opts.port, Some(0));
        assert_eq!(opts.max_pool_size, Some(2));
        assert_eq!(opts.app_type, Some(AppType::Node));
        assert_eq!(opts.start_timeout, Some(5));
    }
}
