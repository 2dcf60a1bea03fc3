//! Ferry's validated configuration: what to serve and how.
//!
//! This crate knows nothing of sockets or processes. Each source of `ferry start`'s options (the
//! command line, `FERRY_*`/`PASSENGER_*` environment variables, the app's `Passengerfile.json`)
//! gives a raw [`StartOptions`]; [`layers::gather`] stacks them (command line > environment >
//! Passengerfile > built-in defaults, written down in [`layers`]) and [`StartOptions::resolve`]
//! checks and completes the result into a [`Config`]: defaults applied (Passenger's, each
//! written once in [`defaults`]), the app directory resolved, the app type detected. [`nginx`]
//! reads Nginx-syntax files. Either way Ferry ends up with a [`deployment::Deployment`], the
//! only configuration the runtime sees.

mod app_type;
pub mod defaults;
pub mod deployment;
pub mod diagnostic;
pub mod layers;
pub mod nginx;
pub mod passengerfile;
mod pre_start;
mod resolve;
mod spawn_method;
mod sticky;
pub mod units;

use std::path::PathBuf;
use std::time::Duration;

pub use app_type::AppType;
pub use layers::gather;
pub use passengerfile::Layer;
pub use pre_start::PreStart;
pub use spawn_method::SpawnMethod;
pub use sticky::StickySessions;

/// The most `--max-parallel-spawns` accepts.
pub const MAX_PARALLEL_SPAWNS_LIMIT: usize = 16;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The app directory does not exist or cannot be read.
    #[error("app directory {path:?} cannot be used")]
    AppDir {
        /// The directory as given.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: std::io::Error,
    },
    /// No app type was given and none could be detected.
    #[error(
        "cannot tell what kind of app {path:?} is: no app.js, config.ru, passenger_wsgi.py or \
         asgi.py; pass --app-type or --app-start-command"
    )]
    UndetectedAppType {
        /// The app directory.
        path: PathBuf,
    },
    /// An option has a value outside its range.
    #[error("{name}={value} is not valid: {reason}")]
    Invalid {
        /// The option's name as the user typed it.
        name: &'static str,
        /// The offending value.
        value: String,
        /// What is expected instead.
        reason: &'static str,
    },
    /// An option is smaller than another one it may not be smaller than.
    #[error("{name}={value} is not valid: must be at least {other}={other_value}")]
    Below {
        /// The option's name as the user typed it.
        name: &'static str,
        /// Its value.
        value: u64,
        /// The other option's name.
        other: &'static str,
        /// The other option's value.
        other_value: u64,
    },
    /// A configuration file exists but cannot be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// A JSON configuration file does not parse.
    #[error("{}: not valid JSON: {reason}", path.display())]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A JSON configuration file is not one object.
    #[error("{}: must hold one JSON object, {{\"option\": value, ...}}", path.display())]
    NotAnObject {
        /// The file.
        path: PathBuf,
    },
    /// A configuration file or environment variable gives an option a value of the wrong type.
    #[error("{origin}: {key} must be {expected}, not {got}")]
    WrongType {
        /// The file, or `environment`.
        origin: String,
        /// The key (`envvars.NAME` for an item) or the environment variable.
        key: String,
        /// What the value should be.
        expected: String,
        /// What it is.
        got: String,
    },
    /// Several problems at once.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Many(Vec<Error>),
}

/// Where Ferry accepts client connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address and port (port 0: the OS picks one).
    Tcp {
        /// Address to bind, e.g. `0.0.0.0`.
        address: String,
        /// Port to bind.
        port: u16,
    },
    /// A unix domain socket at this path.
    Unix(PathBuf),
}

/// Options exactly as one source gave them, before validation: `ferry start`'s flags, the
/// environment or a Passengerfile. `None` (or an empty list) means "not given here".
///
/// Every field mirrors a `passenger start` option of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// The app's root directory (default: the current directory).
    pub app_dir: Option<PathBuf>,
    /// Address to listen on (default `0.0.0.0`).
    pub address: Option<String>,
    /// TCP port to listen on (default 3000; 0 picks a free port).
    pub port: Option<u16>,
    /// Listen on this unix socket instead of TCP.
    pub socket: Option<PathBuf>,
    /// `passenger_app_env` (default `production`).
    pub environment: Option<String>,
    /// Most app processes alive at once (default 6).
    pub max_pool_size: Option<usize>,
    /// Fewest processes kept per app once it has started (default 1).
    pub min_instances: Option<usize>,
    /// App type; detected from the startup file when absent.
    pub app_type: Option<AppType>,
    /// Startup file, relative to the app directory.
    pub startup_file: Option<PathBuf>,
    /// Shell command that starts a generic app listening on `$PORT`.
    pub app_start_command: Option<String>,
    /// Seconds a spawn may take before it is aborted (default 90).
    pub start_timeout: Option<u64>,
    /// Longest request queue per app (default 100; 0 = unbounded).
    pub max_request_queue_size: Option<usize>,
    /// Passenger-style log level 0..=7 (default 3).
    pub log_level: Option<u8>,
    /// `passenger_user`: run the app as this user.
    pub user: Option<String>,
    /// `passenger_group`: run the app with this group (`!STARTUP_FILE!`: the startup file's).
    pub group: Option<String>,
    /// `passenger_default_user` (default `nobody`).
    pub default_user: Option<String>,
    /// `passenger_default_group` (default: the default user's primary group).
    pub default_group: Option<String>,
    /// `passenger_user_switching` (default on).
    pub user_switching: Option<bool>,
    /// `--allow-root-apps` (`passenger_allow_root_apps`, a Ferry extension): apps may run as
    /// root, uid 0 or gid 0 (default off). Only root's command line or a root-owned
    /// configuration file sets it: no environment variable, no Passengerfile key.
    pub allow_root_apps: Option<bool>,
    /// `passenger_load_shell_envvars` (default off for `ferry start`, as for `passenger start`).
    pub load_shell_envvars: Option<bool>,
    /// `passenger_friendly_error_pages` (default: on unless the environment is staging or
    /// production).
    pub friendly_error_pages: Option<bool>,
    /// `passenger_app_file_descriptor_ulimit`.
    pub app_file_descriptor_ulimit: Option<u64>,
    /// `passenger_env_var` / `--envvar NAME=VALUE`, in order.
    pub envvars: Vec<String>,
    /// Hook scripts, `NAME=COMMAND` (`passenger_ctl hook_NAME COMMAND`).
    pub hooks: Vec<String>,
    /// Extra `args.json` entries, `KEY=VALUE` (VALUE is JSON if it parses, else a string).
    pub spawn_args: Vec<String>,
    /// The start command runs a SpawningKit-enabled program (Passengerfile's
    /// `app_supports_kuria_protocol`): wait for `finish`, not for a port (default off).
    pub app_supports_kuria_protocol: Option<bool>,
    /// `passenger_ruby`: the Ruby interpreter (default: `ruby` on `PATH`).
    pub ruby: Option<String>,
    /// `passenger_python`: the Python interpreter (default: `python3`, else `python`, on `PATH`).
    pub python: Option<String>,
    /// `passenger_nodejs`: the Node.js interpreter (default: `node`, else `nodejs`, on `PATH`).
    pub nodejs: Option<String>,
    /// `passenger_base_uri`: the URI the app is mounted at (default `/`).
    pub base_uri: Option<String>,
    /// `passenger_concurrency_model`: `process` (default) or `thread`.
    pub concurrency_model: Option<String>,
    /// `passenger_thread_count` (default 1), for the `thread` concurrency model.
    pub thread_count: Option<usize>,
    /// `passenger_pool_idle_time`, seconds (default 300; 0 = never).
    pub pool_idle_time: Option<u64>,
    /// `passenger_max_request_queue_time`, seconds (default 0 = no limit).
    pub max_request_queue_time: Option<u64>,
    /// `passenger_request_queue_overflow_status_code` (default 503).
    pub request_queue_overflow_status_code: Option<u16>,
    /// `passenger_max_instances`: most processes of this app (default 0 = no limit of its own).
    pub max_instances: Option<usize>,
    /// `passenger_max_instances_per_app`: most processes of any one app (default 0 = none).
    pub max_instances_per_app: Option<usize>,
    /// `passenger_max_requests`: replace a process after this many requests (default 0 = never).
    pub max_requests: Option<u64>,
    /// `passenger_max_request_time`, seconds (default 0 = no limit).
    pub max_request_time: Option<u64>,
    /// `passenger_memory_limit`, MB: a process using more is replaced (default 0 = no limit).
    pub memory_limit: Option<u64>,
    /// A process using more MB is killed at once (default 0 = no limit; at least
    /// `memory_limit` when both are set). Ferry's own; Passenger has only `memory_limit`.
    pub memory_hard_limit: Option<u64>,
    /// `passenger_rolling_restarts` (default off).
    pub rolling_restarts: Option<bool>,
    /// `passenger_resist_deployment_errors` (default off; needs `rolling_restarts`).
    pub resist_deployment_errors: Option<bool>,
    /// `passenger_sticky_sessions` (default off).
    pub sticky_sessions: Option<bool>,
    /// `passenger_sticky_sessions_cookie_name` (default `_passenger_route`).
    pub sticky_sessions_cookie_name: Option<String>,
    /// `passenger_sticky_sessions_cookie_attributes` (default `SameSite=Lax; Secure;`).
    pub sticky_sessions_cookie_attributes: Option<String>,
    /// Most spawns of one app at once (default 1, as Passenger; at most 16).
    pub max_parallel_spawns: Option<usize>,
    /// `passenger_pre_start` URLs, in order.
    pub pre_start: Vec<String>,
    /// `passenger_spawn_method`: `smart` (default for Ruby and Python) or `direct`.
    pub spawn_method: Option<String>,
    /// `passenger_max_preloader_idle_time`, seconds (default 300; 0 = never).
    pub max_preloader_idle_time: Option<u64>,
    /// When smart spawning fails, log it and spawn directly instead (default off). Ferry's own.
    pub smart_fallback_to_direct: Option<bool>,
    /// `--instance-registry-dir`: where this Ferry's instance directory goes (default
    /// `/run/ferry` as root, `$XDG_RUNTIME_DIR/ferry`, else the temp dir).
    pub instance_registry_dir: Option<PathBuf>,
    /// `--log-file`: log here (appending) instead of stderr.
    pub log_file: Option<PathBuf>,
    /// `--access-log`: one line per request here.
    pub access_log: Option<PathBuf>,
    /// `--log-format`: `text` (default) or `json`.
    pub log_format: Option<String>,
    /// `--disable-metrics`: no request counting (`/metrics` is empty).
    pub disable_metrics: Option<bool>,
    /// `--disable-symlinks`: which links in the app's `public/` are followed (default
    /// `if_not_owner`). Only from the command line: the Passengerfile is the app owner's to
    /// write, and the environment layer reads the Passengerfile's keys.
    pub disable_symlinks: Option<deployment::SymlinkMode>,
    // Issue 16, request side:
    /// `--client-max-body-size`, bytes: a larger request body gets 413 (default 1024m, as
    /// Passenger Standalone; 0 = no limit).
    pub client_max_body_size: Option<u64>,
    /// `--client-body-buffer-size`, bytes: the part of a request body held in memory; a longer
    /// body goes to an unlinked temp file (default 16k).
    pub client_body_buffer_size: Option<u64>,
    /// `--client-body-timeout`, seconds between two reads of a request body (default 60; 0 =
    /// no limit).
    pub client_body_timeout: Option<u64>,
    /// `--request-buffering` (`passenger_request_buffering`): read a request body whole before
    /// a process is chosen (default on).
    pub request_buffering: Option<bool>,
    /// `--ignore-client-abort` (`passenger_ignore_client_abort`): a request whose client goes
    /// away runs to its end (default off).
    pub ignore_client_abort: Option<bool>,
    /// `--data-buffer-dir` (Passenger Standalone's name): where request bodies longer than the
    /// buffer are kept (default: the instance directory's `tmp/`). It chooses where Ferry
    /// writes, so a Passengerfile not owned by root may not set it when Ferry runs as root.
    pub data_buffer_dir: Option<PathBuf>,
    // Issue 22, ASGI:
    /// `--asgi-concurrency`: requests one process of an ASGI app takes at once (default 256;
    /// 0 = no limit).
    pub asgi_concurrency: Option<usize>,
    // Issue 16, response side:
    /// `passenger_buffer_response`: the client gets a response's body only once the app has sent
    /// all of it (default off).
    pub buffer_response: Option<bool>,
    /// `passenger_read_timeout`, seconds: nothing from the app for this long while a request is
    /// in progress → 504 (or a closed connection) and the process is stopped (default 0 = none).
    pub app_read_timeout: Option<u64>,
    /// `passenger_websocket_idle_timeout`, seconds: a WebSocket with no byte either way for this
    /// long is closed (default 3600; 0 = never). Ferry's own.
    pub websocket_idle_timeout: Option<u64>,
    // Issue 16, connection side:
    /// `--client-header-timeout` (`client_header_timeout`), seconds to receive a request head
    /// (default 60; 0 = no limit).
    pub client_header_timeout: Option<u64>,
    /// `--keepalive-timeout` (`keepalive_timeout`), seconds an idle kept-alive connection stays
    /// open (default 75; 0 = no keep-alive).
    pub keepalive_timeout: Option<u64>,
    /// `--send-timeout` (`send_timeout`), seconds a client may take to accept more of a
    /// response (default 60; 0 = no limit).
    pub send_timeout: Option<u64>,
    /// `--max-connections` (`worker_connections`): most client connections open at once
    /// (default: half the open-files limit).
    pub max_connections: Option<u64>,
    /// `--underscores-in-headers` (`underscores_in_headers`): keep request headers whose names
    /// hold `_` (default off: they are dropped).
    pub underscores_in_headers: Option<bool>,
    /// `--large-client-header-buffers` (`large_client_header_buffers`), `NUMBER SIZE` as in
    /// nginx: the longest request or header line is SIZE, the largest head NUMBER × SIZE
    /// (default `4 8k`).
    pub large_client_header_buffers: Option<String>,
    // Issue 22, refork:
    /// `passenger_refork_after` / `--refork-after N`: after a process has served N requests it
    /// becomes the app's template, and later processes fork from it (default 0 = never). Ruby
    /// and Python apps spawned smart only.
    pub refork_after: Option<u64>,
    // Issue 18, health:
    /// `--health-path PATH`: a path on the serving port that answers 200 with a small JSON
    /// body while Ferry is ready, 503 while it is not, is draining or is stopping (default:
    /// none).
    pub health_path: Option<String>,
    /// `--shutdown-delay SECS`: after SIGTERM or SIGINT, keep accepting and serving this long
    /// with the health path answering 503, then stop as usual (default 0).
    pub shutdown_delay: Option<u64>,
    // Issue 19, TLS:
    /// `--ssl`: serve HTTPS (Passenger Standalone's name): on `--ssl-port` beside HTTP on
    /// `--port`, or on `--port` alone.
    pub ssl: Option<bool>,
    /// `--ssl-certificate`: the certificate chain, PEM, leaf first.
    pub ssl_certificate: Option<PathBuf>,
    /// `--ssl-certificate-key`: its private key, PEM.
    pub ssl_certificate_key: Option<PathBuf>,
    /// `--ssl-port`: HTTPS on this port, HTTP staying on `--port`.
    pub ssl_port: Option<u16>,
    /// `--ssl-acme DOMAIN`: automatic certificates (not yet: refused).
    pub ssl_acme: Option<String>,
}

/// Ferry's complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to accept clients.
    pub listen: Listen,
    /// The app to serve.
    pub app: AppConfig,
    /// Pool-wide limits.
    pub pool: PoolConfig,
    /// Passenger-style log level 0..=7.
    pub log_level: u8,
    /// Hook scripts, `NAME=COMMAND`.
    pub hooks: Vec<String>,
    /// Requests sent once Ferry listens, to start the app before its first visitor.
    pub pre_start: Vec<PreStart>,
    /// Logs, the instance registry and metrics.
    pub observability: Observability,
    /// Which links in the app's `public/` are followed (`--disable-symlinks`).
    pub disable_symlinks: deployment::SymlinkMode,
    // Issue 16, request side:
    /// Largest request body (`--client-max-body-size`); `None`: no limit.
    pub client_max_body_size: Option<u64>,
    /// How request bodies are read before they go to the app.
    pub request_body: deployment::BodySettings,
    /// A request whose client goes away runs to its end (`--ignore-client-abort`).
    pub ignore_client_abort: bool,
    // Issue 16, connection side:
    /// How client connections are read and kept.
    pub client: deployment::ClientSettings,
    /// Most client connections open at once (`None`: derived from the open-files limit).
    pub max_connections: Option<u64>,
    // Issue 18, health:
    /// The health path (`--health-path`), an exact path on the serving port; `None`: none.
    pub health_path: Option<String>,
    /// How long Ferry keeps serving after SIGTERM before it stops accepting
    /// (`--shutdown-delay`).
    pub shutdown_delay: Duration,
    // Issue 19, TLS:
    /// HTTPS (`--ssl`): the port it is served on and the server's TLS settings.
    pub tls: Option<(u16, deployment::ServerTls)>,
}

/// Where Ferry reports what it does: its log, the access log, the instance directory that
/// `ferry status` finds it by, and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observability {
    /// Where the instance directory goes (`None`: the default place).
    pub instance_registry_dir: Option<PathBuf>,
    /// The log file (`None`: stderr).
    pub log_file: Option<PathBuf>,
    /// The access log (`None`: none).
    pub access_log: Option<PathBuf>,
    /// Log lines as JSON objects.
    pub log_json: bool,
    /// Count requests for `/metrics`.
    pub metrics: bool,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            instance_registry_dir: None,
            log_file: None,
            access_log: None,
            log_json: false,
            metrics: true,
        }
    }
}

/// Pool-wide limits.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most app processes alive at once, over all apps.
    pub max_pool_size: usize,
    /// Processes idle this long are stopped, down to `min_instances` (`None`: never).
    pub idle_time: Option<Duration>,
    /// Most spawns of one app in progress at once (1..=16).
    pub max_parallel_spawns: usize,
}

/// Everything about one app.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The app group's name, which identifies the app in the pool, the logs and `ferry status`:
    /// `passenger_app_group_name`, else the app root (with ` (ENV)` after it when an Nginx-style
    /// configuration sets the environment, as Passenger's Nginx module does).
    pub group_name: String,
    /// Canonical absolute path of the app's root directory.
    pub root: PathBuf,
    /// The app's environment (`production`, `development`, ...).
    pub environment: String,
    /// What kind of app this is.
    pub app_type: AppType,
    /// Startup file, relative to `root` (e.g. `app.js`).
    pub startup_file: Option<PathBuf>,
    /// How a process of the app is started.
    pub start: Start,
    /// The URI the app is mounted at: `/`, or e.g. `/blog` (no trailing slash).
    pub base_uri: String,
    /// Requests one process handles at once: 1 (`process` model) or the thread count.
    pub threads: usize,
    /// Fewest processes kept once the app has started.
    pub min_instances: usize,
    /// Longest time a spawn may take.
    pub start_timeout: Duration,
    /// Longest request queue (0 = unbounded).
    pub max_request_queue_size: usize,
    /// Longest wait in the request queue before 504 (`None`: no limit).
    pub max_request_queue_time: Option<Duration>,
    /// The status of a request turned away by a full queue.
    pub queue_overflow_status: u16,
    /// Most processes of the app at once (`max_instances` and `max_instances_per_app`,
    /// whichever is lower; `None`: only the pool size limits).
    pub max_instances: Option<usize>,
    /// Replace a process after this many requests (`None`: never).
    pub max_requests: Option<u64>,
    /// Longest time a request may take before 504 and its process is stopped (`None`: no limit).
    pub max_request_time: Option<Duration>,
    /// A process using more than this many MB is replaced (`None`: no limit).
    pub memory_limit: Option<u64>,
    /// A process using more than this many MB is killed (`None`: no limit).
    pub memory_hard_limit: Option<u64>,
    /// Restarts replace processes one by one, new ones first.
    pub rolling_restarts: bool,
    /// A rolling restart that cannot spawn the new version keeps the old processes serving.
    pub resist_deployment_errors: bool,
    /// The sticky-session cookie (`None`: sticky sessions off).
    pub sticky_sessions: Option<StickySessions>,
    /// Which account the app runs as.
    pub user_switching: UserSwitchingConfig,
    /// Run the app through the user's login shell.
    pub load_shell_envvars: bool,
    /// Show detailed spawn error pages.
    pub friendly_error_pages: bool,
    /// `RLIMIT_NOFILE` for app processes.
    pub file_descriptor_ulimit: Option<u64>,
    /// Environment variables for app processes, applied last.
    pub env: Vec<(String, String)>,
    /// Extra `args.json` entries.
    pub spawn_args: Vec<(String, String)>,
    /// The start command speaks SpawningKit's handshake itself.
    pub spawning_kit_aware: bool,
    /// How workers start: `Smart` only for Ruby and Python apps started by Ferry's loader.
    pub spawn_method: SpawnMethod,
    /// A preloader idle this long is stopped (zero: never).
    pub max_preloader_idle_time: Duration,
    /// A failed smart spawn is retried as a direct spawn.
    pub smart_fallback_to_direct: bool,
    // Issue 22, ASGI:
    /// Requests one process takes at once when the app is an ASGI app (0: no limit). Also
    /// given to a Python app's loader, which serves an ASGI app found in `passenger_wsgi.py`.
    pub asgi_concurrency: usize,
    /// The callable's name for an ASGI startup file written `FILE.py:NAME` (`startup_file` is
    /// then `FILE.py`); `None`: the file's `application`, else its `app`.
    pub app_callable: Option<String>,
    // Issue 16, response side:
    /// How its responses reach the client (`ferry start`'s; in a configuration file each place
    /// has its own, in its `PassengerRoute`).
    pub response: deployment::ResponseSettings,
    // Issue 22, refork:
    /// Re-forking: the first process to serve this many requests becomes the app's template
    /// (`None`: never). Only for an app spawned through a preloader.
    pub refork_after: Option<u64>,
}

/// How a process of an app is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Ferry's loader for the app type, run by this interpreter (an absolute path, or the name
    /// given by the user).
    Loader {
        /// The interpreter.
        interpreter: String,
    },
    /// A shell command, run by `/bin/sh -c "exec ..."`.
    Command(String),
}

/// The user-switching settings (seed 001, "User Switching").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSwitchingConfig {
    /// Whether user switching is on (it only matters when Ferry runs as root).
    pub enabled: bool,
    /// Explicit user.
    pub user: Option<String>,
    /// Explicit group.
    pub group: Option<String>,
    /// The user when the startup file belongs to root or an unknown user, or switching is off.
    pub default_user: String,
    /// The default user's group, if not its primary group.
    pub default_group: Option<String>,
    /// Whether an app may run as root (uid 0 or gid 0): `--allow-root-apps`.
    pub allow_root: bool,
}

// === impl Config ===

impl Config {
    /// Settings that are valid but will not do what they say, to be logged at startup.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.app.resist_deployment_errors && !self.app.rolling_restarts {
            warnings.push(
                "--resist-deployment-errors only has an effect with --rolling-restarts".to_owned(),
            );
        }
        warnings
    }
}

/// An [`Error::Invalid`] for option `name`.
fn invalid(name: &'static str, value: impl ToString, reason: &'static str) -> Error {
    Error::Invalid {
        name,
        value: value.to_string(),
        reason,
    }
}

/// `path` with `.` and `..` and a trailing `/` taken out, without looking at the disk (so
/// symlinks stay as they are).
pub(crate) fn lexical(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Quotes `s` for `/bin/sh` so it stays one word.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests;
