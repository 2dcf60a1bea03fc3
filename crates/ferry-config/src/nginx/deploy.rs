//! From a resolved configuration to a [`Deployment`]: which app each server and location hands
//! requests to, where its files are, and the settings of each app, all worked out before the
//! first request so that a mistake is an error with its file and line, not a 500 later.
//!
//! Apps are found as Passenger's Nginx module finds them (seed 000 §3–§5, §8.2, §8.3.7):
//!
//! - A place with `passenger_enabled on` serves an app. For a URI under one of its
//!   `passenger_base_uri`s, the app's public directory is `passenger_document_root`, else `root`
//!   followed by the base URI (usually a symlink to the app's `public/`), and the app root is
//!   `passenger_app_root`, else the parent of the public directory with symlinks resolved.
//! - For any other URI, the public directory is `passenger_document_root`, else `root` (or a
//!   literal `alias`), and the app root is `passenger_app_root`, else the public directory's
//!   parent *without* resolving symlinks.
//! - The app's group name is `passenger_app_group_name`, else the app root followed by
//!   ` (ENV)` when `passenger_app_env` is written. Places that come to the same group name
//!   share one app and its processes; its settings come from the first place in the file.

mod passenger;
// Issue 19, TLS:
mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::ast::Span;
use super::directives;
use super::resolve::{LocationConfig, Problem, Rejected, ResolvedConfig, ServerConfig, Settings};
use crate::deployment::{
    ClientSettings, Deployment, ErrorPage, ErrorPageStatus, Files, ListenAddress, Route, Symlinks,
    Template, VirtualLocation, VirtualServer,
};
use crate::{defaults, AppConfig, Observability, PoolConfig, PreStart};

/// Works out what `config` serves.
///
/// # Errors
///
/// Every app that cannot be served (no such directory, no startup file, an option out of range)
/// and every value that cannot be used, each with the line it comes from.
pub fn plan(config: &ResolvedConfig) -> Result<Deployment, Rejected> {
    let http = &config.http;
    let mut planner = Planner {
        http,
        apps: Vec::new(),
        by_group: HashMap::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        allow_root: false,
    };
    planner.allow_root = planner.allow_root_apps();
    // Issue 19, TLS:
    let listen_protocols = Planner::listen_protocols(&config.servers);
    let (listens, servers) = planner.servers(&config.servers, &listen_protocols);
    let pool = pool(http);
    let hooks = hooks(http);
    let pre_start = planner.pre_start(http);
    if !planner.errors.is_empty() {
        return Err(Rejected {
            errors: planner.errors,
            warnings: config.warnings.clone(),
        });
    }
    let warnings = planner.all_warnings(&config.warnings);
    Ok(Deployment {
        plan_warnings: planner.warnings,
        observability: observability(http),
        listens,
        servers,
        apps: planner.apps,
        pool,
        log_level: number(http, "passenger_log_level").unwrap_or(defaults::LOG_LEVEL),
        hooks,
        pre_start,
        warnings,
        // Issue 16, connection side:
        max_connections: number(http, "worker_connections"),
        // Issue 18, health:
        shutdown_delay: in_force(http, "passenger_shutdown_delay")
            .and_then(crate::units::time)
            .unwrap_or_default(),
        // Issue 19, TLS:
        listen_protocols,
    })
}

/// The planning of one configuration: the apps found so far (each once, by group name) and the
/// problems.
struct Planner<'a> {
    http: &'a Settings,
    apps: Vec<AppConfig>,
    by_group: HashMap<String, usize>,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    /// `passenger_allow_root_apps on`, from a file root owns (see [`Planner::allow_root_apps`]).
    allow_root: bool,
}

/// The pool-wide limits, from the `http` block.
fn pool(http: &Settings) -> PoolConfig {
    PoolConfig {
        max_pool_size: number(http, "passenger_max_pool_size").unwrap_or(defaults::MAX_POOL_SIZE),
        idle_time: seconds(http, "passenger_pool_idle_time"),
        max_parallel_spawns: defaults::MAX_PARALLEL_SPAWNS,
    }
}

/// The hooks, `NAME=COMMAND`, from `passenger_ctl hook_NAME COMMAND`.
fn hooks(http: &Settings) -> Vec<String> {
    http.get("passenger_ctl")
        .map(|s| {
            s.entries()
                .iter()
                .filter_map(|e| {
                    let name = e.args[0].strip_prefix("hook_")?;
                    Some(format!("{name}={}", e.args[1]))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Ferry's own log: passenger_debug_log_file, else the first error_log of the top level or http
/// (a path; `stderr` is the default anyway); the access log; the instance registry.
fn observability(http: &Settings) -> Observability {
    let log_file = http
        .value("passenger_debug_log_file")
        .or_else(|| http.value("error_log").filter(|p| *p != "stderr"))
        .map(PathBuf::from);
    let access_log = http
        .value("access_log")
        .filter(|p| *p != "off")
        .map(PathBuf::from);
    Observability {
        instance_registry_dir: http
            .value("passenger_instance_registry_dir")
            .or_else(|| http.value("passenger_temp_dir"))
            .map(PathBuf::from),
        log_file,
        access_log,
        ..Observability::default()
    }
}

// === impl Planner ===

impl Planner<'_> {
    /// Whether apps may run as root: `passenger_allow_root_apps on` (a Ferry extension), taken
    /// only from a file root owns when Ferry runs as root. A file another user may write (an
    /// `include`d one, say) may name `passenger_user root`, which is then refused at spawn; it
    /// may not lift that refusal. The directive in such a file is an error.
    fn allow_root_apps(&mut self) -> bool {
        const NAME: &str = "passenger_allow_root_apps";
        if !flag(self.http, NAME) {
            return false;
        }
        let Some(span) = self.http.get(NAME).and_then(|s| s.span()).cloned() else {
            return false;
        };
        if !rustix::process::geteuid().is_root() {
            return true;
        }
        let owner = std::fs::metadata(&*span.file).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid()
        });
        match owner {
            Ok(0) => true,
            Ok(uid) => {
                let message = format!(
                    "{NAME} on is in a file that belongs to uid {uid}, not to root: only root's \
                     own configuration may let apps run as root"
                );
                self.error(&span, message);
                false
            }
            Err(e) => {
                self.error(&span, format!("{NAME}: cannot tell who owns the file: {e}"));
                false
            }
        }
    }

    fn error(&mut self, span: &Span, message: String) {
        self.errors.push(Problem {
            span: span.clone(),
            message,
        });
    }

    /// Every server planned, and the addresses they listen on (each once, in order).
    fn servers(
        &mut self,
        servers: &[ServerConfig],
        protocols: &[(ListenAddress, tls::Protocols)],
    ) -> (Vec<ListenAddress>, Vec<VirtualServer>) {
        let mut listens = Vec::new();
        let mut planned_servers = Vec::new();
        for server in servers {
            let mut planned = self.server(server);
            // Issue 19, TLS:
            planned.tls = self.server_tls(server, protocols);
            for (address, _) in &planned.listens {
                if !listens.contains(address) {
                    listens.push(address.clone());
                }
            }
            planned_servers.push(planned);
        }
        (listens, planned_servers)
    }

    /// The `passenger_pre_start` URLs, each checked.
    fn pre_start(&mut self, http: &Settings) -> Vec<PreStart> {
        let mut pre_start = Vec::new();
        if let Some(setting) = http.get("passenger_pre_start") {
            for entry in setting.entries() {
                match PreStart::parse(&entry.args[0]) {
                    Ok(url) => pre_start.push(url),
                    Err(reason) => self.error(
                        &entry.span,
                        format!("passenger_pre_start {}: {reason}", entry.args[0]),
                    ),
                }
            }
        }
        pre_start
    }

    /// The resolver's warnings, the planner's, and settings that will not do what they say.
    fn all_warnings(&self, resolved: &[Problem]) -> Vec<String> {
        let mut warnings: Vec<String> = resolved
            .iter()
            .chain(&self.warnings)
            .map(ToString::to_string)
            .collect();
        for app in &self.apps {
            if app.resist_deployment_errors && !app.rolling_restarts {
                warnings.push(format!(
                    "{}: passenger_resist_deployment_errors only has an effect with \
                     passenger_rolling_restarts",
                    app.group_name
                ));
            }
        }
        warnings
    }

    fn server(&mut self, server: &ServerConfig) -> VirtualServer {
        let listens = if server.listens.is_empty() {
            vec![(
                ListenAddress::Tcp {
                    host: "*".to_owned(),
                    port: 80,
                },
                false,
            )]
        } else {
            server
                .listens
                .iter()
                .map(|l| (l.address.clone(), l.default_server))
                .collect()
        };
        self.warn_location_timeouts(&server.settings, &server.locations);
        VirtualServer {
            listens,
            names: server.names.clone(),
            route: self.route(&server.settings, &server.span, None),
            locations: self.locations(&server.locations),
            origin: server.span.to_string(),
            client: client_settings(&server.settings),
            // Issue 19, TLS: set by `servers`.
            tls: None,
        }
    }

    fn locations(&mut self, locations: &[LocationConfig]) -> Vec<VirtualLocation> {
        locations
            .iter()
            .map(|l| VirtualLocation {
                matcher: l.matcher.clone(),
                route: self.route(&l.settings, &l.span, Some(&l.matcher.pattern)),
                locations: self.locations(&l.locations),
            })
            .collect()
    }

    /// The route of a server (`prefix` `None`) or a location.
    fn route(&mut self, settings: &Settings, span: &Span, prefix: Option<&str>) -> Route {
        self.warn_local_logs(settings, span);
        let files = self.files(settings, span);
        let index = match settings.get("index") {
            Some(s) => s.entries().iter().flat_map(|e| e.args.clone()).collect(),
            None => default_of("index").map(str::to_owned).into_iter().collect(),
        };
        let error_pages = settings
            .get("error_page")
            .map(|s| s.entries().iter().map(|e| error_page(&e.args)).collect())
            .unwrap_or_default();
        let client_max_body_size = in_force(settings, "client_max_body_size")
            .and_then(size)
            .filter(|&n| n > 0);
        let passenger = flag(settings, "passenger_enabled")
            .then(|| self.passenger(settings, span, &files, prefix));
        let default_type = in_force(settings, "default_type")
            .unwrap_or_default()
            .to_owned();
        Route {
            files,
            index,
            mime_types: mime_types(settings),
            default_type,
            error_pages,
            client_max_body_size,
            disable_symlinks: symlinks(settings),
            show_version_in_header: flag(settings, "passenger_show_version_in_header"),
            passenger,
            // Issue 18, health:
            health_check: flag(settings, "passenger_health_check"),
        }
    }

    /// Warns (once per line) of an `access_log` or `error_log` below the `http` block: Ferry has
    /// one log of each kind.
    fn warn_local_logs(&mut self, settings: &Settings, span: &Span) {
        for log in ["access_log", "error_log"] {
            let here = settings.get(log).and_then(|s| s.span());
            let warned = |p: &Problem| Some(&p.span) == here;
            if here.is_some()
                && here != self.http.get(log).and_then(|s| s.span())
                && !self.warnings.iter().any(warned)
            {
                self.warnings.push(Problem {
                    span: here.cloned().unwrap_or_else(|| span.clone()),
                    message: format!(
                        "{log} here has no effect of its own: Ferry keeps one log of each kind, \
                         the one set in the http block"
                    ),
                });
            }
        }
    }

    /// Where the place's files are: a literal or templated `alias`, else `root`.
    fn files(&mut self, settings: &Settings, span: &Span) -> Files {
        match (settings.get("alias"), settings.value("root")) {
            (Some(alias), _) => {
                let text = alias.value().unwrap_or_default();
                match Template::parse(text) {
                    Ok(template) => Files::Alias(template),
                    Err(message) => {
                        self.error(alias.span().unwrap_or(span), format!("alias: {message}"));
                        Files::None
                    }
                }
            }
            (None, Some(root)) => Files::Root(PathBuf::from(root)),
            (None, None) => Files::None,
        }
    }
}

// Issue 16, connection side:
impl Planner<'_> {
    /// Warns (once per line) of a `keepalive_timeout` or `send_timeout` written in a location:
    /// a connection takes them from the default server of its address, before any location.
    fn warn_location_timeouts(&mut self, server: &Settings, locations: &[LocationConfig]) {
        for location in locations {
            for name in ["keepalive_timeout", "send_timeout"] {
                let here = location.settings.get(name).and_then(|s| s.span());
                let warned = |p: &Problem| Some(&p.span) == here;
                if let Some(span) = here {
                    if Some(span) != server.get(name).and_then(|s| s.span())
                        && !self.warnings.iter().any(warned)
                    {
                        self.warnings.push(Problem {
                            span: span.clone(),
                            message: format!(
                                "{name} in a location has no effect of its own: a connection \
                                 takes it from the default server of the address it came to"
                            ),
                        });
                    }
                }
            }
            self.warn_location_timeouts(server, &location.locations);
        }
    }
}

/// How a server's connections are read and kept, from its settings in force (the table's
/// defaults are nginx's, written in [`defaults`]).
fn client_settings(settings: &Settings) -> ClientSettings {
    let time = |name| {
        in_force(settings, name)
            .and_then(crate::units::time)
            .filter(|d| !d.is_zero())
    };
    let keepalive = settings.get("keepalive_timeout").map(|s| s.entries());
    let keepalive_header = keepalive
        .and_then(|entries| entries.first()?.args.get(1).cloned())
        .and_then(|t| crate::units::time(&t));
    let (number, line) = settings
        .get("large_client_header_buffers")
        .and_then(|s| directives::header_buffers(&s.entries().first()?.args).ok())
        .unwrap_or((
            defaults::LARGE_CLIENT_HEADER_BUFFERS,
            defaults::LARGE_CLIENT_HEADER_BUFFER_SIZE,
        ));
    ClientSettings {
        header_timeout: time("client_header_timeout"),
        keepalive_timeout: time("keepalive_timeout"),
        keepalive_header,
        send_timeout: time("send_timeout"),
        header_line_max: line,
        header_max: number.saturating_mul(line),
        underscores_in_headers: flag(settings, "underscores_in_headers"),
        ignore_invalid_headers: flag(settings, "ignore_invalid_headers"),
    }
}

/// The `types` block: lower-case extension to MIME type.
fn mime_types(settings: &Settings) -> Vec<(String, String)> {
    settings
        .get("types")
        .map(|s| {
            s.entries()
                .iter()
                .flat_map(|e| {
                    e.args[1..]
                        .iter()
                        .map(|ext| (ext.to_ascii_lowercase(), e.args[0].clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn error_page(args: &[String]) -> ErrorPage {
    let target = args.last().cloned().unwrap_or_default();
    let mut codes = &args[..args.len().saturating_sub(1)];
    let mut response = ErrorPageStatus::Original;
    if let Some(last) = codes.last().and_then(|c| c.strip_prefix('=')) {
        response = match last.parse() {
            Ok(code) => ErrorPageStatus::Code(code),
            Err(_) => ErrorPageStatus::Target,
        };
        codes = &codes[..codes.len() - 1];
    }
    ErrorPage {
        codes: codes.iter().filter_map(|c| c.parse().ok()).collect(),
        response,
        target,
    }
}

/// The `disable_symlinks` written (here or in an enclosing block); `None` leaves the default to
/// be decided at start (it depends on whether Ferry runs as root), so not [`in_force`].
fn symlinks(settings: &Settings) -> Option<Symlinks> {
    let entry = settings.get("disable_symlinks")?.entries().first()?;
    directives::disable_symlinks(&entry.args).ok()
}

/// The directive table's default for `name` (one of [`crate::defaults`], written out).
fn default_of(name: &str) -> Option<&'static str> {
    directives::lookup(name).and_then(|s| s.default)
}

/// The value in force: written (here or in an enclosing block), else the table's default.
fn in_force<'a>(settings: &'a Settings, name: &str) -> Option<&'a str> {
    settings.value(name).or_else(|| default_of(name))
}

fn is_on(value: &str) -> bool {
    value.eq_ignore_ascii_case("on")
}

/// A flag in force.
fn flag(settings: &Settings, name: &str) -> bool {
    in_force(settings, name).is_some_and(is_on)
}

/// A number in force (the table has checked it), as the type it is used as.
fn number<T: FromStr>(settings: &Settings, name: &str) -> Option<T> {
    in_force(settings, name).and_then(|v| v.parse().ok())
}

/// Seconds in force, `None` for 0 (no limit) or unset.
fn seconds(settings: &Settings, name: &str) -> Option<Duration> {
    number(settings, name)
        .filter(|&n: &u64| n > 0)
        .map(Duration::from_secs)
}

/// An Nginx size: bytes, or with `k`, `m` or `g`.
fn size(value: &str) -> Option<u64> {
    crate::units::size(value)
}

#[cfg(test)]
mod tests;
