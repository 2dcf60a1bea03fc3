//! Where `ferry start`'s options come from, and which source wins.
//!
//! **Precedence** (highest first), for every option on its own:
//!
//! 1. the command line (`--max-pool-size 4`);
//! 2. the environment: `FERRY_<OPTION>`, then `PASSENGER_<OPTION>` (`FERRY_MAX_POOL_SIZE`,
//!    `PASSENGER_MAX_POOL_SIZE`), the option's Passengerfile name uppercased. `FERRY_` wins when
//!    both are set. Empty values count as unset. Only string, integer, boolean and path options
//!    are read this way, not `envvars` or `pre_start`. Booleans: `true|yes|on|1` or
//!    `false|no|off|0`, in any case. Paths are used as given (relative to Ferry's directory);
//! 3. `Passengerfile.json` (else `passenger-standalone.json`) in the app directory that the
//!    command line names ([`crate::passengerfile`]);
//! 4. the built-in defaults, applied by [`StartOptions::resolve`].
//!
//! Passenger's global `~/.passenger/standalone/config.json` is not read.
//!
//! Lists: the highest source that gives any items replaces lower sources' lists whole
//! (`pre_start`, `--hook`, `--spawn-arg`), except `envvars`, which are merged by name: a variable
//! set in a lower source stays unless a higher one sets the same name.
//!
//! The environment is read through a lookup function, so tests never touch the process
//! environment.

use std::path::PathBuf;

use crate::passengerfile::{self, Kind, Layer, Mismatch, Value, KEYS};
use crate::{Error, StartOptions};

/// The prefixes of the environment variables read, the stronger first.
pub const ENV_PREFIXES: [&str; 2] = ["FERRY_", "PASSENGER_"];

/// Combines the command line's options with the environment (read through `lookup`) and the
/// Passengerfile in the app directory the command line names; see the module doc for the order.
///
/// Errors from the environment and the file are reported together.
pub fn gather(cli: StartOptions, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Layer, Error> {
    let app_dir = cli.app_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let (env, file) = (from_env(lookup), passengerfile::read(&app_dir));
    match (env, file) {
        (Ok(env), Ok(file)) => Ok(Layer {
            options: cli.layer(env).layer(file.options),
            warnings: file.warnings,
        }),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(Error::Many(flatten([a, b]))),
    }
}

/// The options set by `FERRY_*` / `PASSENGER_*` variables, read through `lookup`.
pub fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<StartOptions, Error> {
    let mut options = StartOptions::default();
    let mut problems = Vec::new();
    for key in KEYS.iter().filter(|k| k.kind.is_scalar()) {
        let upper = key.name.to_ascii_uppercase();
        let found = ENV_PREFIXES.iter().find_map(|prefix| {
            let var = format!("{prefix}{upper}");
            lookup(&var).filter(|v| !v.is_empty()).map(|v| (var, v))
        });
        let Some((var, text)) = found else {
            continue;
        };
        match parse_env(key.kind, &text) {
            Ok(value) => (key.set)(&mut options, value),
            Err(expected) => problems.push(
                Mismatch {
                    key: var,
                    expected,
                    got: format!("{text:?}"),
                }
                .into_error("environment"),
            ),
        }
    }
    match problems.len() {
        0 => Ok(options),
        1 => Err(problems.remove(0)),
        _ => Err(Error::Many(problems)),
    }
}

/// An environment variable's text as a value of `kind`, or what was expected.
fn parse_env(kind: Kind, text: &str) -> Result<Value, String> {
    let value = match kind {
        Kind::Str | Kind::Program => Some(Value::Str(text.to_owned())),
        Kind::Path => Some(Value::Path(PathBuf::from(text))),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        Kind::Int(max) => text
            .parse::<u64>()
            .ok()
            .filter(|&n| n <= max)
            .map(Value::Int),
        Kind::AppType => text.parse().ok().map(Value::AppType),
        Kind::Map | Kind::List => None,
    };
    value.ok_or_else(|| match kind {
        Kind::Bool => "true, yes, on, 1, false, no, off or 0".to_owned(),
        other => other.expected(),
    })
}

fn flatten(errors: [Error; 2]) -> Vec<Error> {
    errors
        .into_iter()
        .flat_map(|e| match e {
            Error::Many(many) => many,
            one => vec![one],
        })
        .collect()
}

// === impl StartOptions ===

impl StartOptions {
    /// These options over `lower`: each option this value leaves unset is taken from `lower`.
    /// Lists replace `lower`'s whole when non-empty; `envvars` merge by name (see the module doc).
    pub fn layer(self, lower: StartOptions) -> StartOptions {
        // Destructured, so that a new field cannot be forgotten here.
        let StartOptions {
            app_dir,
            address,
            port,
            socket,
            environment,
            max_pool_size,
            min_instances,
            app_type,
            startup_file,
            app_start_command,
            start_timeout,
            max_request_queue_size,
            log_level,
            user,
            group,
            default_user,
            default_group,
            user_switching,
            load_shell_envvars,
            friendly_error_pages,
            app_file_descriptor_ulimit,
            envvars,
            hooks,
            spawn_args,
            app_supports_kuria_protocol,
            ruby,
            python,
            nodejs,
            base_uri,
            concurrency_model,
            thread_count,
            pool_idle_time,
            max_request_queue_time,
            request_queue_overflow_status_code,
            max_instances,
            max_instances_per_app,
            max_requests,
            max_request_time,
            memory_limit,
            memory_hard_limit,
            rolling_restarts,
            resist_deployment_errors,
            sticky_sessions,
            sticky_sessions_cookie_name,
            sticky_sessions_cookie_attributes,
            max_parallel_spawns,
            pre_start,
            spawn_method,
            max_preloader_idle_time,
            smart_fallback_to_direct,
            instance_registry_dir,
            log_file,
            access_log,
            log_format,
            disable_metrics,
        } = self;
        StartOptions {
            app_dir: app_dir.or(lower.app_dir),
            address: address.or(lower.address),
            port: port.or(lower.port),
            socket: socket.or(lower.socket),
            environment: environment.or(lower.environment),
            max_pool_size: max_pool_size.or(lower.max_pool_size),
            min_instances: min_instances.or(lower.min_instances),
            app_type: app_type.or(lower.app_type),
            startup_file: startup_file.or(lower.startup_file),
            app_start_command: app_start_command.or(lower.app_start_command),
            start_timeout: start_timeout.or(lower.start_timeout),
            max_request_queue_size: max_request_queue_size.or(lower.max_request_queue_size),
            log_level: log_level.or(lower.log_level),
            user: user.or(lower.user),
            group: group.or(lower.group),
            default_user: default_user.or(lower.default_user),
            default_group: default_group.or(lower.default_group),
            user_switching: user_switching.or(lower.user_switching),
            load_shell_envvars: load_shell_envvars.or(lower.load_shell_envvars),
            friendly_error_pages: friendly_error_pages.or(lower.friendly_error_pages),
            app_file_descriptor_ulimit: app_file_descriptor_ulimit
                .or(lower.app_file_descriptor_ulimit),
            envvars: merge_envvars(envvars, lower.envvars),
            hooks: whole(hooks, lower.hooks),
            spawn_args: whole(spawn_args, lower.spawn_args),
            app_supports_kuria_protocol: app_supports_kuria_protocol
                .or(lower.app_supports_kuria_protocol),
            ruby: ruby.or(lower.ruby),
            python: python.or(lower.python),
            nodejs: nodejs.or(lower.nodejs),
            base_uri: base_uri.or(lower.base_uri),
            concurrency_model: concurrency_model.or(lower.concurrency_model),
            thread_count: thread_count.or(lower.thread_count),
            pool_idle_time: pool_idle_time.or(lower.pool_idle_time),
            max_request_queue_time: max_request_queue_time.or(lower.max_request_queue_time),
            request_queue_overflow_status_code: request_queue_overflow_status_code
                .or(lower.request_queue_overflow_status_code),
            max_instances: max_instances.or(lower.max_instances),
            max_instances_per_app: max_instances_per_app.or(lower.max_instances_per_app),
            max_requests: max_requests.or(lower.max_requests),
            max_request_time: max_request_time.or(lower.max_request_time),
            memory_limit: memory_limit.or(lower.memory_limit),
            memory_hard_limit: memory_hard_limit.or(lower.memory_hard_limit),
            rolling_restarts: rolling_restarts.or(lower.rolling_restarts),
            resist_deployment_errors: resist_deployment_errors.or(lower.resist_deployment_errors),
            sticky_sessions: sticky_sessions.or(lower.sticky_sessions),
            sticky_sessions_cookie_name: sticky_sessions_cookie_name
                .or(lower.sticky_sessions_cookie_name),
            sticky_sessions_cookie_attributes: sticky_sessions_cookie_attributes
                .or(lower.sticky_sessions_cookie_attributes),
            max_parallel_spawns: max_parallel_spawns.or(lower.max_parallel_spawns),
            pre_start: whole(pre_start, lower.pre_start),
            spawn_method: spawn_method.or(lower.spawn_method),
            max_preloader_idle_time: max_preloader_idle_time.or(lower.max_preloader_idle_time),
            smart_fallback_to_direct: smart_fallback_to_direct.or(lower.smart_fallback_to_direct),
            instance_registry_dir: instance_registry_dir.or(lower.instance_registry_dir),
            log_file: log_file.or(lower.log_file),
            access_log: access_log.or(lower.access_log),
            log_format: log_format.or(lower.log_format),
            disable_metrics: disable_metrics.or(lower.disable_metrics),
        }
    }
}

/// `higher` if it has any items, else `lower`.
fn whole(higher: Vec<String>, lower: Vec<String>) -> Vec<String> {
    if higher.is_empty() {
        lower
    } else {
        higher
    }
}

/// `lower`'s `NAME=VALUE` items whose NAME `higher` does not set, then `higher`'s.
fn merge_envvars(higher: Vec<String>, lower: Vec<String>) -> Vec<String> {
    let name = |item: &String| item.split_once('=').map(|(n, _)| n.to_owned());
    let overridden: Vec<String> = higher.iter().filter_map(name).collect();
    lower
        .into_iter()
        .filter(|item| name(item).is_none_or(|n| !overridden.contains(&n)))
        .chain(higher)
        .collect()
}

#[cfg(test)]
mod tests;
