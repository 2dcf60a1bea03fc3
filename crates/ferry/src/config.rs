//! `ferry config check FILE` and `ferry config show FILE`: an Nginx-syntax configuration read and
//! resolved by `ferry_config::nginx`, reported for people.
//!
//! Both print every error and warning to stderr as `FILE:LINE: message` (warnings as
//! `FILE:LINE: warning: message`) and exit 64 when there is an error. `check` then says the
//! file is valid; `show` prints, per server and location, each setting in force with the line
//! that set it (`ferry_config::nginx::show`):
//!
//! ```text
//! http
//!   passenger_max_pool_size 6    # default
//! server www.example.com on *:80    # nginx.conf:3
//!   root /srv/app/public    # nginx.conf:6
//!   location ~ ^/sub(/.*|$)    # nginx.conf:8
//!     passenger_enabled on    # nginx.conf:9
//! ```

use std::path::Path;
use std::process::ExitCode;

use ferry_config::deployment::Deployment;
use ferry_config::nginx::{self, Problem, Rejected, ResolvedConfig};

use crate::cli::ConfigCommand;
use crate::EX_USAGE;

/// Runs a `ferry config` subcommand.
pub(crate) fn run(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Check { file } => check(&file),
        ConfigCommand::Show { file } => show(&file),
    }
}

fn check(file: &Path) -> ExitCode {
    let Some(config) = load(file) else {
        return ExitCode::from(EX_USAGE);
    };
    let deployment = match nginx::plan(&config) {
        Ok(deployment) => deployment,
        Err(rejected) => {
            invalid(file, &rejected);
            return ExitCode::from(EX_USAGE);
        }
    };
    print_warnings(&deployment.plan_warnings);
    println!(
        "{}: configuration is valid ({}, {}, {})",
        file.display(),
        count(config.server_count(), "server"),
        count(config.location_count(), "location"),
        count(
            config.warnings().len() + deployment.plan_warnings.len(),
            "warning"
        ),
    );
    ExitCode::SUCCESS
}

fn show(file: &Path) -> ExitCode {
    let Some(config) = load(file) else {
        return ExitCode::from(EX_USAGE);
    };
    print!("{}", nginx::show(&config));
    ExitCode::SUCCESS
}

/// Loads and resolves `file`, printing its warnings and errors; `None` if it has errors.
fn load(file: &Path) -> Option<ResolvedConfig> {
    match nginx::load(file) {
        Ok(config) => {
            print_warnings(config.warnings());
            Some(config)
        }
        Err(rejected) => {
            invalid(file, &rejected);
            None
        }
    }
}

/// What `ferry start --config` serves: `file` loaded, resolved and planned, its problems
/// printed like `ferry config check` prints them. `None` if it has errors.
pub(crate) fn deployment(file: &Path) -> Option<Deployment> {
    match Deployment::from_nginx_file(file) {
        Ok(deployment) => Some(deployment),
        Err(rejected) => {
            invalid(file, &rejected);
            None
        }
    }
}

/// Prints every error and warning of a refused file, then the count.
fn invalid(file: &Path, rejected: &Rejected) {
    for error in &rejected.errors {
        eprintln!("{error}");
    }
    print_warnings(&rejected.warnings);
    eprintln!(
        "{}: configuration is invalid ({}, {})",
        file.display(),
        count(rejected.errors.len(), "error"),
        count(rejected.warnings.len(), "warning"),
    );
}

fn print_warnings(warnings: &[Problem]) {
    for warning in warnings {
        eprintln!("{}: warning: {}", warning.location(), warning.message);
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
