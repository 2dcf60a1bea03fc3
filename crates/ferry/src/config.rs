//! `ferry config check FILE` and `ferry config show FILE`: an Nginx-syntax configuration read and
//! resolved by `ferry_config::nginx`, reported for people.
//!
//! Both print every error and warning to stderr as `FILE:LINE: message` (warnings as
//! `FILE:LINE: warning: message`) and exit 64 when there is an error. `check` then says the
//! file is valid; `show` prints, per server and location, each setting in force with the line
//! that set it:
//!
//! ```text
//! http
//!   passenger_max_pool_size 6    # default
//! server www.example.com on *:80    # nginx.conf:3
//!   root /srv/app/public    # nginx.conf:6
//!   location ~ ^/sub(/.*|$)    # nginx.conf:8
//!     passenger_enabled on    # nginx.conf:9
//! ```

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ferry_config::deployment::Deployment;
use ferry_config::nginx::resolve::{LocationConfig, Origin, Settings};
use ferry_config::nginx::{self, directives, Context, Problem, Rejected, ResolvedConfig};

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
        count(config.servers.len(), "server"),
        count(config.location_count(), "location"),
        count(
            config.warnings.len() + deployment.plan_warnings.len(),
            "warning"
        ),
    );
    ExitCode::SUCCESS
}

fn show(file: &Path) -> ExitCode {
    let Some(config) = load(file) else {
        return ExitCode::from(EX_USAGE);
    };
    print!("{}", render(&config));
    ExitCode::SUCCESS
}

/// Loads and resolves `file`, printing its warnings and errors; `None` if it has errors.
fn load(file: &Path) -> Option<ResolvedConfig> {
    match nginx::load(file) {
        Ok(config) => {
            print_warnings(&config.warnings);
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
    let config = match nginx::load(file) {
        Ok(config) => config,
        Err(rejected) => {
            invalid(file, &rejected);
            return None;
        }
    };
    match nginx::plan(&config) {
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

/// The text `ferry config show` prints.
fn render(config: &ResolvedConfig) -> String {
    // The http block lists what only it may set (pool size, pre-starts, hooks, ...); the rest
    // is listed, inherited, in each server and location.
    let mut out = String::from("http\n");
    settings(&mut out, &config.http, Context::Http, 1);
    for server in &config.servers {
        let names = if server.names.is_empty() {
            "\"\"".to_owned()
        } else {
            join(server.names.iter().map(ToString::to_string), " ")
        };
        let listens = if server.listens.is_empty() {
            "*:80".to_owned()
        } else {
            join(server.listens.iter().map(ToString::to_string), ", ")
        };
        let _ = writeln!(out, "server {names} on {listens}    # {}", server.span);
        settings(&mut out, &server.settings, Context::Server, 1);
        locations(&mut out, &server.locations, 1);
    }
    out
}

fn locations(out: &mut String, locations: &[LocationConfig], depth: usize) {
    for location in locations {
        let indent = "  ".repeat(depth);
        let _ = writeln!(
            out,
            "{indent}location {}    # {}",
            location.matcher, location.span
        );
        settings(out, &location.settings, Context::Location, depth + 1);
        self::locations(out, &location.locations, depth + 1);
    }
}

fn settings(out: &mut String, settings: &Settings, context: Context, depth: usize) {
    let indent = "  ".repeat(depth);
    let http_only = |name: &str| {
        directives::lookup(name)
            .is_some_and(|s| !s.allows(Context::Server) && !s.allows(Context::Location))
    };
    for setting in settings.effective(context) {
        if context == Context::Http && !http_only(setting.name) {
            continue;
        }
        let value = join(setting.args.iter().map(|a| quote(a)), " ");
        let origin = match setting.origin {
            Origin::Written(span) => span.to_string(),
            Origin::Default => "default".to_owned(),
        };
        let _ = writeln!(out, "{indent}{} {value}    # {origin}", setting.name);
    }
}

fn join(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

/// An argument as it would be written in a file: quoted when it has to be.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\''));
    if plain {
        arg.to_owned()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}
