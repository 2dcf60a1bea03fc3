//! The command line: `ferry <command> [options]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ferry_config::deployment::SymlinkMode;
use ferry_config::{AppType, StartOptions};

/// Ferry: an application server for Ruby, Python, Node.js and any web app.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

// Parsed once per run: the size of `Start` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the app in APP_DIR (like `passenger start`).
    Start(StartArgs),
    /// Check an Nginx-syntax configuration file (`passenger_*` directives), or show what it
    /// sets where.
    Config(ConfigArgs),
    /// Show the memory use of Ferry's processes, its apps' and the web servers' (like
    /// `passenger-memory-stats`).
    MemoryStats(MemoryStatsArgs),
    /// Show what a running Ferry is doing: its apps, processes and queues (like
    /// `passenger-status`).
    Status(crate::admin::StatusArgs),
    /// List the running Ferry instances.
    ListInstances(crate::admin::ListArgs),
    /// Restart an app, by app root or group name (like `passenger-config restart-app`).
    RestartApp(crate::admin::RestartArgs),
    /// Detach a process from its app: it finishes its requests and stops.
    DetachProcess(crate::admin::PidArgs),
    /// Reopen the log files (after rotating them).
    ReopenLogs(crate::admin::InstanceArgs),
    /// Change the log level of a running Ferry (0: critical only .. 7: everything).
    LogLevel(crate::admin::LogLevelArgs),
    /// Print the backtraces of an app process's threads (Ruby and Python apps).
    Backtraces(crate::admin::PidArgs),
    // Issue 18, health:
    /// Take this Ferry out of its load balancers: the health path answers 503 (every request
    /// is still served) until `ferry undrain`.
    Drain(crate::admin::InstanceArgs),
    /// Put a drained Ferry back: the health path answers 200 again once ready.
    Undrain(crate::admin::InstanceArgs),
}

/// `ferry memory-stats`' options; names follow `passenger-memory-stats`.
#[derive(Debug, Args)]
pub(crate) struct MemoryStatsArgs {
    /// Leave out Apache processes.
    #[arg(long)]
    pub(crate) no_apache: bool,
    /// Leave out Nginx processes.
    #[arg(long)]
    pub(crate) no_nginx: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) format: OutputFormat,
}

/// How a report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable tables.
    Text,
    /// One JSON object.
    Json,
}

/// `ferry config`'s subcommands.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    #[command(subcommand)]
    pub(crate) command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Report every error and warning in FILE (and the files it includes) as FILE:LINE:
    /// message; exit 64 if there is an error.
    Check {
        /// The configuration file.
        file: PathBuf,
    },
    /// Print the settings in force in each server and location, each with the line that set
    /// it (or "default").
    Show {
        /// The configuration file.
        file: PathBuf,
    },
}

/// `ferry start`'s options; names and defaults follow `passenger start`.
#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Serve every server and app of this Nginx-syntax configuration file (seed 000 §3–§8)
    /// instead of one app; the other options then belong in the file.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The app's root directory [default: .]
    app_dir: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0]
    #[arg(short = 'a', long, value_name = "HOST")]
    address: Option<String>,
    /// TCP port to listen on; 0 picks a free port [default: 3000]
    #[arg(short = 'p', long)]
    port: Option<u16>,
    /// Listen on this unix domain socket instead of TCP.
    #[arg(short = 'S', long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The app's environment (PASSENGER_APP_ENV, RAILS_ENV, RACK_ENV, NODE_ENV, ...)
    /// [default: production]
    #[arg(short = 'e', long, value_name = "ENV")]
    environment: Option<String>,
    /// Most app processes alive at once [default: 6]
    #[arg(long, value_name = "N")]
    max_pool_size: Option<usize>,
    /// Fewest processes kept per app once it has started [default: 1]
    #[arg(long, value_name = "N")]
    min_instances: Option<usize>,
    /// Longest queue of requests waiting for a process (0 = unbounded) [default: 100]
    #[arg(long, value_name = "N")]
    max_request_queue_size: Option<usize>,
    /// The app's type: node, ruby, python, asgi or generic (default: detected).
    #[arg(long, value_name = "TYPE")]
    app_type: Option<AppType>,
    /// The app's startup file, relative to APP_DIR (default: app.js for Node).
    #[arg(long, value_name = "FILE")]
    startup_file: Option<PathBuf>,
    /// Command that starts a generic app listening on $PORT.
    #[arg(long, value_name = "CMD")]
    app_start_command: Option<String>,
    /// Seconds a process may take to start [default: 90]
    #[arg(long, value_name = "SECS")]
    start_timeout: Option<u64>,
    /// Log level 0 (errors only) to 7 (everything); 3 is Passenger's "notice" [default: 3]
    #[arg(long, value_name = "0..7")]
    log_level: Option<u8>,
    /// Run the app as this user (when Ferry runs as root).
    #[arg(long, value_name = "NAME", help_heading = "Users")]
    user: Option<String>,
    /// Run the app with this group; `!STARTUP_FILE!` means the startup file's group.
    #[arg(long, value_name = "NAME", help_heading = "Users")]
    group: Option<String>,
    /// The user for apps whose startup file belongs to root or to an unknown user
    /// [default: nobody]
    #[arg(long, value_name = "NAME", help_heading = "Users")]
    default_user: Option<String>,
    /// The group for such apps (default: the default user's primary group).
    #[arg(long, value_name = "NAME", help_heading = "Users")]
    default_group: Option<String>,
    /// Run each app as the owner of its startup file (when Ferry runs as root) [default: on]
    #[arg(long, value_name = "on|off", value_parser = on_off, help_heading = "Users")]
    user_switching: Option<bool>,
    /// Let apps run as root (uid 0 or gid 0), e.g. with `--user root`. Without it such a user
    /// or group is refused. Only this command line (or a root-owned configuration file) sets it.
    #[arg(long, help_heading = "Users")]
    allow_root_apps: bool,
    /// Start apps through the user's login shell (bash -l) so its profile's variables apply.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    load_shell_envvars: Option<bool>,
    /// Show detailed error pages when an app cannot start (default: on unless the environment
    /// is staging or production).
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    friendly_error_pages: Option<bool>,
    /// The open-files limit (RLIMIT_NOFILE) of app processes.
    #[arg(long, value_name = "N")]
    app_file_descriptor_ulimit: Option<u64>,
    /// An environment variable for the app, NAME=VALUE (repeatable).
    #[arg(long = "envvar", value_name = "NAME=VALUE")]
    envvars: Vec<String>,
    /// A hook script, NAME=COMMAND (repeatable); e.g. spawn_failed=/usr/local/bin/alert.
    #[arg(long = "hook", value_name = "NAME=COMMAND")]
    hooks: Vec<String>,
    /// The start command speaks SpawningKit's handshake itself (writes properties.json and
    /// response/finish): wait for that instead of a port.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    app_supports_kuria_protocol: Option<bool>,
    /// An extra entry for the spawn arguments (args.json), KEY=VALUE; VALUE is JSON if it
    /// parses, else a string. For running loaders written for Passenger.
    #[arg(long = "spawn-arg", value_name = "KEY=VALUE")]
    spawn_args: Vec<String>,
    /// The Ruby interpreter for Rack apps (default: ruby on PATH).
    #[arg(long, value_name = "PATH", help_heading = "Languages")]
    ruby: Option<String>,
    /// The Python interpreter for WSGI apps (default: python3, else python, on PATH).
    #[arg(long, value_name = "PATH", help_heading = "Languages")]
    python: Option<String>,
    /// The Node.js interpreter (default: node, else nodejs, on PATH).
    #[arg(long, value_name = "PATH", help_heading = "Languages")]
    nodejs: Option<String>,
    /// The URI the app is mounted at, e.g. /blog; requests outside it get 404.
    #[arg(long, value_name = "URI")]
    base_uri: Option<String>,
    /// Concurrency within one Ruby or Python process: process (one request at a time) or
    /// thread (--thread-count requests at once).
    #[arg(long, value_name = "process|thread")]
    concurrency_model: Option<String>,
    /// Threads per process with --concurrency-model thread.
    #[arg(long, value_name = "N")]
    thread_count: Option<usize>,
    /// Seconds a process may stay idle before it is stopped, down to --min-instances
    /// (0 = never) [default: 300]
    #[arg(long, value_name = "SECS")]
    pool_idle_time: Option<u64>,
    /// Seconds a request may wait in the queue before it gets 504 (0 = no limit) [default: 0]
    #[arg(long, value_name = "SECS")]
    max_request_queue_time: Option<u64>,
    /// Most processes of this app at once (0 = no limit of its own) [default: 0]
    #[arg(long, value_name = "N")]
    max_instances: Option<usize>,
    /// Most processes of any one app at once (0 = no limit) [default: 0]
    #[arg(long, value_name = "N")]
    max_instances_per_app: Option<usize>,
    /// Replace a process after it has served this many requests (0 = never) [default: 0]
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// Seconds a request may run before it gets 504 and its process is stopped, after printing
    /// its backtrace (0 = no limit) [default: 0]
    #[arg(long, value_name = "SECS")]
    max_request_time: Option<u64>,
    /// The status of a request turned away because the queue is full [default: 503]
    #[arg(long, value_name = "CODE")]
    request_queue_overflow_status_code: Option<u16>,
    /// Replace a process that uses more than this many MB of private memory, once its requests
    /// are done (0 = no limit) [default: 0]
    #[arg(long, value_name = "MB")]
    memory_limit: Option<u64>,
    /// Kill a process that uses more than this many MB of private memory at once; at least
    /// --memory-limit (0 = no limit) [default: 0]
    #[arg(long, value_name = "MB")]
    memory_hard_limit: Option<u64>,
    /// Restart (tmp/restart.txt) by replacing processes one at a time, new ones first, so no
    /// request waits for a spawn.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    rolling_restarts: Option<bool>,
    /// When a rolling restart cannot start the new version, keep the old processes serving
    /// (needs --rolling-restarts).
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    resist_deployment_errors: Option<bool>,
    /// Most processes of the app being started at once (1..=16) [default: 1]
    #[arg(long, value_name = "N")]
    max_parallel_spawns: Option<usize>,
    /// How Ruby and Python processes start: smart (fork them from a preloader that loaded the
    /// app once) or direct (load the app in each). Other apps always start directly.
    /// [default: smart]
    #[arg(long, value_name = "smart|direct")]
    spawn_method: Option<String>,
    /// Seconds a preloader may stay idle before it is stopped (0 = never) [default: 300]
    #[arg(long, value_name = "SECS")]
    max_preloader_idle_time: Option<u64>,
    /// When smart spawning fails, log it and start the process directly instead.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    smart_fallback_to_direct: Option<bool>,
    // Issue 22, refork:
    /// After a Ruby or Python process has served N requests, it becomes the app's template:
    /// later processes fork from it, and the others are replaced one at a time (0 = never;
    /// needs --spawn-method smart) [default: 0]
    #[arg(long, value_name = "N")]
    refork_after: Option<u64>,
    // Issue 19, TLS:
    /// Serve HTTPS: on --ssl-port beside HTTP on --port, else on --port alone (HTTP/2 by ALPN)
    #[arg(long, help_heading = "TLS")]
    ssl: bool,
    /// The certificate chain for --ssl: a PEM file, leaf first (certbot's fullchain.pem)
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    ssl_certificate: Option<PathBuf>,
    /// Its private key: a PEM file (certbot's privkey.pem)
    #[arg(long, value_name = "PATH", help_heading = "TLS")]
    ssl_certificate_key: Option<PathBuf>,
    /// Serve HTTPS on this port, HTTP staying on --port
    #[arg(long, value_name = "PORT", help_heading = "TLS")]
    ssl_port: Option<u16>,
    /// Automatic certificates for DOMAIN (ACME): not implemented yet, refused
    #[arg(long, value_name = "DOMAIN", help_heading = "TLS")]
    ssl_acme: Option<String>,
    /// Where this Ferry's instance directory goes, for `ferry status` and the other admin
    /// commands [default: /run/ferry as root, $XDG_RUNTIME_DIR/ferry, else the temp dir]
    #[arg(long, value_name = "DIR", help_heading = "Logs and administration")]
    instance_registry_dir: Option<PathBuf>,
    /// Log to this file (appending; reopened by `ferry reopen-logs` or SIGUSR1) instead of
    /// stderr.
    #[arg(long, value_name = "PATH", help_heading = "Logs and administration")]
    log_file: Option<PathBuf>,
    /// Write one line per request to this file: client, request, status, size, referrer,
    /// user agent, time taken, the app and the process that served it.
    #[arg(long, value_name = "PATH", help_heading = "Logs and administration")]
    access_log: Option<PathBuf>,
    /// Log lines as text or as JSON objects [default: text]
    #[arg(
        long,
        value_name = "text|json",
        help_heading = "Logs and administration"
    )]
    log_format: Option<String>,
    /// Do not count requests for the admin API's /metrics.
    #[arg(long, help_heading = "Logs and administration")]
    disable_metrics: bool,
    /// Which symbolic links under the app's public/ are followed for static files: none (on),
    /// all (off), or only those whose owner owns what they lead to (if_not_owner)
    /// [default: if_not_owner]
    #[arg(long, value_name = "off|on|if_not_owner")]
    disable_symlinks: Option<SymlinkMode>,
    /// Send each client back to the process that served it, through a cookie.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off, help_heading = "Sticky sessions")]
    sticky_sessions: Option<bool>,
    /// The sticky-session cookie's name [default: _passenger_route]
    #[arg(long, value_name = "NAME", help_heading = "Sticky sessions")]
    sticky_sessions_cookie_name: Option<String>,
    /// The sticky-session cookie's attributes after its Path [default: "SameSite=Lax; Secure;"]
    #[arg(long, value_name = "ATTRS", help_heading = "Sticky sessions")]
    sticky_sessions_cookie_attributes: Option<String>,
    /// Once listening, send `HEAD` for this URL so the app starts before its first visitor
    /// (repeatable). The request goes to 127.0.0.1 at the URL's port with the URL's host as
    /// `Host`; a URL without a port, or just a path such as /status, goes to Ferry's own listener.
    /// http:// only.
    #[arg(long = "pre-start", value_name = "URL")]
    pre_start: Vec<String>,
    // Issue 16, request side:
    /// Largest request body: a larger one gets 413 before the app sees any of it (0 = no
    /// limit) [default: 1024m]
    #[arg(long, value_name = "SIZE", value_parser = size, help_heading = "Request bodies")]
    client_max_body_size: Option<u64>,
    /// How much of a request body is held in memory; a longer body goes to an unlinked temp
    /// file [default: 16k]
    #[arg(long, value_name = "SIZE", value_parser = size, help_heading = "Request bodies")]
    client_body_buffer_size: Option<u64>,
    /// Seconds a client may pause between two reads of its request body before it gets 408
    /// and is disconnected (0 = no limit) [default: 60]
    #[arg(long, value_name = "SECS", help_heading = "Request bodies")]
    client_body_timeout: Option<u64>,
    /// Read each request body whole before a process is chosen, so that slow uploads never
    /// hold one; off streams bodies to the app as they arrive [default: on]
    #[arg(long, value_name = "on|off", value_parser = on_off, help_heading = "Request bodies")]
    request_buffering: Option<bool>,
    /// When a client goes away before its response is complete, let the request run to its
    /// end (the app's response is read and dropped) instead of closing the app's connection.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off, help_heading = "Request bodies")]
    ignore_client_abort: Option<bool>,
    /// Where request bodies longer than --client-body-buffer-size are kept, in files unlinked
    /// as soon as they are created [default: the instance directory's tmp/]
    #[arg(long, value_name = "DIR", help_heading = "Request bodies")]
    data_buffer_dir: Option<PathBuf>,
    // Issue 22, ASGI:
    /// Requests one process of an ASGI app takes at once before Ferry routes elsewhere, starts
    /// another process or queues (0 = no limit) [default: 256]
    #[arg(long, value_name = "N")]
    asgi_concurrency: Option<usize>,
    // Issue 16, response side:
    /// Send a response's body to the client only once the app has sent all of it (streaming
    /// responses then arrive at once). Off or on, Ferry reads the app's response as fast as the
    /// app writes it, so a slow client never holds a process.
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off)]
    buffer_response: Option<bool>,
    /// Seconds without a byte from the app while a request is in progress before the client
    /// gets 504 (or, once the response has begun, its connection is closed) and the process is
    /// stopped after printing its backtrace (0 = no limit) [default: 0]
    #[arg(long, value_name = "SECS")]
    app_read_timeout: Option<u64>,
    /// Seconds without a byte either way before a WebSocket (an upgraded connection) is closed
    /// (0 = never) [default: 3600]
    #[arg(long, value_name = "SECS")]
    websocket_idle_timeout: Option<u64>,
    // Issue 16, connection side:
    /// Seconds a client may take to send a request head (the first one from the connection's
    /// start, a later one from its first byte); past it: 408 and close. 0 = no limit
    /// [default: 60]
    #[arg(long, value_name = "SECS", help_heading = "Client connections")]
    client_header_timeout: Option<u64>,
    /// Seconds an idle kept-alive connection stays open; 0 = no keep-alive [default: 75]
    #[arg(long, value_name = "SECS", help_heading = "Client connections")]
    keepalive_timeout: Option<u64>,
    /// Seconds a client may take to accept more of a response; past it the connection is
    /// closed. 0 = no limit [default: 60]
    #[arg(long, value_name = "SECS", help_heading = "Client connections")]
    send_timeout: Option<u64>,
    /// Most client connections open at once; at the limit the longest-idle one is closed for a
    /// new one, and none is accepted while all are busy (default: half the open-files limit).
    #[arg(long, value_name = "N", help_heading = "Client connections")]
    max_connections: Option<u64>,
    /// Keep request headers whose names contain `_` (off: they are dropped, as nginx does)
    /// [default: off]
    #[arg(long, value_name = "on|off", num_args = 0..=1, require_equals = true,
          default_missing_value = "on", value_parser = on_off, help_heading = "Client connections")]
    underscores_in_headers: Option<bool>,
    /// "NUMBER SIZE": a request line or header line may be at most SIZE (else 414 or 431), a
    /// request head at most NUMBER × SIZE (else 431) [default: "4 8k"]
    #[arg(long, value_name = "NUMBER SIZE", help_heading = "Client connections")]
    large_client_header_buffers: Option<String>,
    // Issue 18, health:
    /// Answer Ferry's health at this path on the serving port, before any app: 200 and a JSON
    /// body while every app with min_instances > 0 or a pre-start URL has a live process
    /// (Ferry starts them at once), 503 while not, after `ferry drain` and while stopping
    /// [default: none]
    #[arg(long, value_name = "PATH", help_heading = "Behind a load balancer")]
    health_path: Option<String>,
    /// On SIGTERM or SIGINT, keep accepting and serving this long with the health path
    /// answering 503, then stop as usual; a second signal cuts it short [default: 0]
    #[arg(long, value_name = "SECS", help_heading = "Behind a load balancer")]
    shutdown_delay: Option<u64>,
}

/// A size in nginx's syntax: `1024`, `64k`, `10m`, `1g`.
fn size(value: &str) -> Result<u64, String> {
    ferry_config::units::size(value)
        .ok_or_else(|| format!("expected a size such as 1024, 64k, 10m or 1g, not {value:?}"))
}

fn on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        other => Err(format!("expected on or off, not {other:?}")),
    }
}

impl From<StartArgs> for StartOptions {
    fn from(args: StartArgs) -> Self {
        StartOptions {
            app_dir: args.app_dir,
            address: args.address,
            port: args.port,
            socket: args.socket,
            environment: args.environment,
            max_pool_size: args.max_pool_size,
            min_instances: args.min_instances,
            app_type: args.app_type,
            startup_file: args.startup_file,
            app_start_command: args.app_start_command,
            start_timeout: args.start_timeout,
            max_request_queue_size: args.max_request_queue_size,
            log_level: args.log_level,
            user: args.user,
            group: args.group,
            default_user: args.default_user,
            default_group: args.default_group,
            user_switching: args.user_switching,
            allow_root_apps: args.allow_root_apps.then_some(true),
            load_shell_envvars: args.load_shell_envvars,
            friendly_error_pages: args.friendly_error_pages,
            app_file_descriptor_ulimit: args.app_file_descriptor_ulimit,
            envvars: args.envvars,
            hooks: args.hooks,
            spawn_args: args.spawn_args,
            app_supports_kuria_protocol: args.app_supports_kuria_protocol,
            ruby: args.ruby,
            python: args.python,
            nodejs: args.nodejs,
            base_uri: args.base_uri,
            concurrency_model: args.concurrency_model,
            thread_count: args.thread_count,
            pool_idle_time: args.pool_idle_time,
            max_request_queue_time: args.max_request_queue_time,
            request_queue_overflow_status_code: args.request_queue_overflow_status_code,
            max_instances: args.max_instances,
            max_instances_per_app: args.max_instances_per_app,
            max_requests: args.max_requests,
            max_request_time: args.max_request_time,
            memory_limit: args.memory_limit,
            memory_hard_limit: args.memory_hard_limit,
            rolling_restarts: args.rolling_restarts,
            resist_deployment_errors: args.resist_deployment_errors,
            sticky_sessions: args.sticky_sessions,
            sticky_sessions_cookie_name: args.sticky_sessions_cookie_name,
            sticky_sessions_cookie_attributes: args.sticky_sessions_cookie_attributes,
            max_parallel_spawns: args.max_parallel_spawns,
            pre_start: args.pre_start,
            spawn_method: args.spawn_method,
            max_preloader_idle_time: args.max_preloader_idle_time,
            smart_fallback_to_direct: args.smart_fallback_to_direct,
            instance_registry_dir: args.instance_registry_dir,
            log_file: args.log_file,
            access_log: args.access_log,
            log_format: args.log_format,
            disable_metrics: args.disable_metrics.then_some(true),
            disable_symlinks: args.disable_symlinks,
            // Issue 16, request side:
            client_max_body_size: args.client_max_body_size,
            client_body_buffer_size: args.client_body_buffer_size,
            client_body_timeout: args.client_body_timeout,
            request_buffering: args.request_buffering,
            ignore_client_abort: args.ignore_client_abort,
            data_buffer_dir: args.data_buffer_dir,
            // Issue 22, ASGI:
            asgi_concurrency: args.asgi_concurrency,
            // Issue 16, response side:
            buffer_response: args.buffer_response,
            app_read_timeout: args.app_read_timeout,
            websocket_idle_timeout: args.websocket_idle_timeout,
            // Issue 16, connection side:
            client_header_timeout: args.client_header_timeout,
            keepalive_timeout: args.keepalive_timeout,
            send_timeout: args.send_timeout,
            max_connections: args.max_connections,
            underscores_in_headers: args.underscores_in_headers,
            large_client_header_buffers: args.large_client_header_buffers,
            // Issue 22, refork:
            refork_after: args.refork_after,
            // Issue 18, health:
            health_path: args.health_path,
            shutdown_delay: args.shutdown_delay,
            // Issue 19, TLS:
            ssl: args.ssl.then_some(true),
            ssl_certificate: args.ssl_certificate,
            ssl_certificate_key: args.ssl_certificate_key,
            ssl_port: args.ssl_port,
            ssl_acme: args.ssl_acme,
        }
    }
}

#[cfg(test)]
mod tests;
