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
        Kind::Size => crate::units::size(text).map(Value::Int),
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

/// `StartOptions { FIELD: RULE(higher.FIELD, lower.FIELD), ... }` for the fields listed. The
/// struct literal must name every field once, so a field added to [`StartOptions`] does not
/// compile until it is given its rule here.
macro_rules! layered {
    ($higher:ident over $lower:ident { $($field:ident: $rule:ident,)* }) => {
        StartOptions {
            $($field: $rule($higher.$field, $lower.$field),)*
        }
    };
}

// === impl StartOptions ===

impl StartOptions {
    /// These options over `lower`: each option this value leaves unset is taken from `lower`.
    /// Lists replace `lower`'s whole when non-empty; `envvars` merge by name (see the module doc).
    pub fn layer(self, lower: StartOptions) -> StartOptions {
        let higher = self;
        // One line per field: the field and how the two layers' values combine.
        layered! { higher over lower {
            app_dir: or,
            address: or,
            port: or,
            socket: or,
            environment: or,
            max_pool_size: or,
            min_instances: or,
            app_type: or,
            startup_file: or,
            app_start_command: or,
            start_timeout: or,
            max_request_queue_size: or,
            log_level: or,
            user: or,
            group: or,
            default_user: or,
            default_group: or,
            user_switching: or,
            allow_root_apps: or,
            load_shell_envvars: or,
            friendly_error_pages: or,
            app_file_descriptor_ulimit: or,
            envvars: merge_envvars,
            hooks: whole,
            spawn_args: whole,
            app_supports_kuria_protocol: or,
            ruby: or,
            python: or,
            nodejs: or,
            base_uri: or,
            concurrency_model: or,
            thread_count: or,
            pool_idle_time: or,
            max_request_queue_time: or,
            request_queue_overflow_status_code: or,
            max_instances: or,
            max_instances_per_app: or,
            max_requests: or,
            max_request_time: or,
            memory_limit: or,
            memory_hard_limit: or,
            rolling_restarts: or,
            resist_deployment_errors: or,
            sticky_sessions: or,
            sticky_sessions_cookie_name: or,
            sticky_sessions_cookie_attributes: or,
            max_parallel_spawns: or,
            pre_start: whole,
            spawn_method: or,
            max_preloader_idle_time: or,
            smart_fallback_to_direct: or,
            instance_registry_dir: or,
            log_file: or,
            access_log: or,
            log_format: or,
            disable_metrics: or,
            disable_symlinks: or,
            // Issue 16, request side:
            client_max_body_size: or,
            client_body_buffer_size: or,
            client_body_timeout: or,
            request_buffering: or,
            ignore_client_abort: or,
            data_buffer_dir: or,
            // Issue 22, ASGI:
            asgi_concurrency: or,
            // Issue 16, response side:
            buffer_response: or,
            app_read_timeout: or,
            websocket_idle_timeout: or,
            // Issue 16, connection side:
            client_header_timeout: or,
            keepalive_timeout: or,
            send_timeout: or,
            max_connections: or,
            underscores_in_headers: or,
            large_client_header_buffers: or,
            // Issue 22, refork:
            refork_after: or,
            // Issue 18, health:
            health_path: or,
            shutdown_delay: or,
            // Issue 19, TLS:
            ssl: or,
            ssl_certificate: or,
            ssl_certificate_key: or,
            ssl_port: or,
            ssl_acme: or,
        } }
    }
}

/// `higher` if set, else `lower`.
fn or<T>(higher: Option<T>, lower: Option<T>) -> Option<T> {
    higher.or(lower)
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
