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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::ast::Span;
use super::directives;
use super::resolve::{LocationConfig, Problem, Rejected, ResolvedConfig, ServerConfig, Settings};
use crate::deployment::{
    Deployment, ErrorPage, ErrorPageStatus, Files, ListenAddress, Mount, PassengerRoute, Route,
    Template, VirtualLocation, VirtualServer,
};
use crate::{defaults, lexical, AppConfig, AppType, PoolConfig, PreStart, StartOptions};

/// Works out what `config` serves.
///
/// # Errors
///
/// Every app that cannot be served (no such directory, no startup file, an option out of range)
/// and every value that cannot be used, each with the line it comes from.
pub fn plan(config: &ResolvedConfig) -> Result<Deployment, Rejected> {
    let mut planner = Planner {
        http: &config.http,
        apps: Vec::new(),
        by_group: HashMap::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut listens = Vec::new();
    let mut servers = Vec::new();
    for server in &config.servers {
        let planned = planner.server(server);
        for (address, _) in &planned.listens {
            if !listens.contains(address) {
                listens.push(address.clone());
            }
        }
        servers.push(planned);
    }
    let http = &config.http;
    let pool = PoolConfig {
        max_pool_size: number(http, "passenger_max_pool_size").unwrap_or(defaults::MAX_POOL_SIZE),
        idle_time: seconds(http, "passenger_pool_idle_time"),
        max_parallel_spawns: defaults::MAX_PARALLEL_SPAWNS,
    };
    let hooks = http
        .get("passenger_ctl")
        .map(|s| {
            s.entries()
                .iter()
                .filter_map(|e| {
                    let name = e.args[0].strip_prefix("hook_")?;
                    Some(format!("{name}={}", e.args[1]))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut pre_start = Vec::new();
    if let Some(setting) = http.get("passenger_pre_start") {
        for entry in setting.entries() {
            match PreStart::parse(&entry.args[0]) {
                Ok(url) => pre_start.push(url),
                Err(reason) => planner.error(
                    &entry.span,
                    format!("passenger_pre_start {}: {reason}", entry.args[0]),
                ),
            }
        }
    }
    if !planner.errors.is_empty() {
        return Err(Rejected {
            errors: planner.errors,
            warnings: config.warnings.clone(),
        });
    }
    let mut warnings: Vec<String> = config
        .warnings
        .iter()
        .chain(&planner.warnings)
        .map(ToString::to_string)
        .collect();
    for app in &planner.apps {
        if app.resist_deployment_errors && !app.rolling_restarts {
            warnings.push(format!(
                "{}: passenger_resist_deployment_errors only has an effect with \
                 passenger_rolling_restarts",
                app.group_name
            ));
        }
    }
    // Ferry's own log: passenger_debug_log_file, else the first error_log of the top level or
    // http (a path; `stderr` is the default anyway).
    let log_file = http
        .value("passenger_debug_log_file")
        .or_else(|| http.value("error_log").filter(|p| *p != "stderr"))
        .map(PathBuf::from);
    let access_log = http
        .value("access_log")
        .filter(|p| *p != "off")
        .map(PathBuf::from);
    let observability = crate::Observability {
        instance_registry_dir: http
            .value("passenger_instance_registry_dir")
            .or_else(|| http.value("passenger_temp_dir"))
            .map(PathBuf::from),
        log_file,
        access_log,
        ..crate::Observability::default()
    };
    Ok(Deployment {
        plan_warnings: planner.warnings,
        observability,
        listens,
        servers,
        apps: planner.apps,
        pool,
        log_level: number(http, "passenger_log_level").unwrap_or(defaults::LOG_LEVEL),
        hooks,
        pre_start,
        warnings,
    })
}

struct Planner<'a> {
    http: &'a Settings,
    apps: Vec<AppConfig>,
    by_group: HashMap<String, usize>,
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Planner<'_> {
    fn error(&mut self, span: &Span, message: String) {
        self.errors.push(Problem {
            span: span.clone(),
            message,
        });
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
        VirtualServer {
            listens,
            names: server.names.clone(),
            route: self.route(&server.settings, &server.span, None),
            locations: self.locations(&server.locations),
            origin: server.span.to_string(),
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
        let files = match (settings.get("alias"), settings.value("root")) {
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
        };
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
        let mime_types = settings
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
            .unwrap_or_default();
        let default_type = in_force(settings, "default_type")
            .unwrap_or_default()
            .to_owned();
        Route {
            files,
            index,
            mime_types,
            default_type,
            error_pages,
            client_max_body_size,
            show_version_in_header: flag(settings, "passenger_show_version_in_header"),
            passenger,
        }
    }

    fn passenger(
        &mut self,
        settings: &Settings,
        span: &Span,
        files: &Files,
        location: Option<&str>,
    ) -> PassengerRoute {
        let enabled_at = settings
            .get("passenger_enabled")
            .and_then(|s| s.span())
            .unwrap_or(span)
            .clone();
        let document_root = settings.value("passenger_document_root").map(PathBuf::from);
        let app_root = settings.value("passenger_app_root").map(PathBuf::from);
        let mut mounts = Vec::new();
        if let Some(bases) = settings.get("passenger_base_uri") {
            for entry in bases.entries() {
                let base = entry.args[0].trim_end_matches('/');
                if base.is_empty() {
                    continue;
                }
                let public = document_root.clone().or_else(|| match files {
                    Files::Root(root) => Some(root.join(base.trim_start_matches('/'))),
                    _ => None,
                });
                let root = match (&app_root, &public) {
                    (Some(root), _) => Ok(root.clone()),
                    (None, Some(public)) => std::fs::canonicalize(public)
                        .map(|p| p.parent().map(Path::to_path_buf).unwrap_or(p))
                        .map_err(|e| {
                            format!(
                                "passenger_base_uri {base}: {} cannot be used ({e}); make it a \
                                 symlink to the app's public directory, or set \
                                 passenger_app_root and passenger_document_root",
                                public.display()
                            )
                        }),
                    (None, None) => Err(format!(
                        "passenger_base_uri {base} needs root, passenger_document_root or \
                         passenger_app_root to find its app"
                    )),
                };
                match root {
                    Ok(root) => {
                        if let Some(app) = self.app(settings, &root, Some(base), &entry.span) {
                            mounts.push(Mount {
                                base_uri: Some(base.to_owned()),
                                app,
                                public_dir: public,
                                follow_symlinks: true,
                            });
                        }
                    }
                    Err(message) => self.error(&entry.span, message),
                }
            }
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.base_uri.as_ref().map_or(0, String::len)));
        let public = document_root.or_else(|| match files {
            Files::Root(root) => Some(root.clone()),
            Files::Alias(alias) => alias.as_literal().map(PathBuf::from),
            Files::None => None,
        });
        let named_root = app_root.is_some();
        let root = app_root.or_else(|| public.as_deref().and_then(parent));
        let fallback = match root {
            // Passenger's Nginx module declines a request whose app root, worked out from
            // `root`, holds no app it can detect, and Nginx serves files. Ferry allows that only
            // beside base URIs (a site whose apps are under them, seed 000 §8.5.13 example 2);
            // elsewhere a `root` that names no app is more likely a mistake.
            Some(root)
                if !named_root
                    && !mounts.is_empty()
                    && !holds_app(settings, &root, &enabled_at) =>
            {
                None
            }
            Some(root) => self
                .app(settings, &root, None, &enabled_at)
                .map(|app| Mount {
                    base_uri: None,
                    app,
                    public_dir: public,
                    follow_symlinks: true,
                }),
            None => {
                if !matches!(files, Files::None) {
                    // `root` and `alias` without variables always give a root; this is an
                    // alias with variables.
                    let here =
                        location.map_or("this server".to_owned(), |l| format!("location \"{l}\""));
                    self.error(
                        &enabled_at,
                        format!(
                            "passenger_enabled is on in {here}, whose alias has variables, so \
                             the app root cannot be told from it: set passenger_app_root (and \
                             passenger_document_root for its static files)"
                        ),
                    );
                }
                None
            }
        };
        let cgi_params = settings
            .get("passenger_set_cgi_param")
            .map(|s| {
                s.entries()
                    .iter()
                    .filter_map(|e| match Template::parse(&e.args[1]) {
                        Ok(t) => Some((e.args[0].clone(), t)),
                        Err(message) => {
                            self.errors.push(Problem {
                                span: e.span.clone(),
                                message: format!(
                                    "passenger_set_cgi_param {}: {message}",
                                    e.args[0]
                                ),
                            });
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let list = |name| -> Vec<String> {
            settings
                .get(name)
                .map(|s| s.entries().iter().flat_map(|e| e.args.clone()).collect())
                .unwrap_or_default()
        };
        PassengerRoute {
            mounts,
            fallback,
            cgi_params,
            intercept_errors: flag(settings, "passenger_intercept_errors"),
            pass_headers: list("passenger_pass_header"),
            ignore_headers: list("passenger_ignore_headers"),
            max_request_time: seconds(settings, "passenger_max_request_time"),
        }
    }

    /// The index of the app with root `root` as `settings` describe it, added if new. `None`
    /// when it cannot be served (the error is recorded at `at`).
    fn app(
        &mut self,
        settings: &Settings,
        root: &Path,
        base_uri: Option<&str>,
        at: &Span,
    ) -> Option<usize> {
        let absolute = if root.is_absolute() {
            root.to_path_buf()
        } else {
            // Nginx reads a relative root against its prefix; Ferry against the file's directory.
            at.file.parent().unwrap_or(Path::new("/")).join(root)
        };
        let environment = settings.value("passenger_app_env");
        let group = match settings.value("passenger_app_group_name") {
            Some(name) => name.to_owned(),
            None => {
                let root = lexical(&absolute);
                match environment {
                    Some(env) => format!("{} ({env})", root.display()),
                    None => root.display().to_string(),
                }
            }
        };
        if let Some(&index) = self.by_group.get(&group) {
            return Some(index);
        }
        let options = self.start_options(settings, &absolute, base_uri);
        match options.app_config(true) {
            Ok(mut app) => {
                app.group_name = group.clone();
                let index = self.apps.len();
                self.apps.push(app);
                self.by_group.insert(group, index);
                Some(index)
            }
            Err(error) => {
                let message = match error {
                    crate::Error::Many(all) => {
                        all.iter().map(error_message).collect::<Vec<_>>().join("; ")
                    }
                    other => error_message(&other),
                };
                self.error(at, format!("app {}: {message}", absolute.display()));
                None
            }
        }
    }

    /// The app's options, as `ferry start` would have them, from the directives in force.
    fn start_options(&self, s: &Settings, root: &Path, base_uri: Option<&str>) -> StartOptions {
        let http = self.http;
        // Text as written: where none is, `ferry start`'s rules decide (they look further than
        // the table's default for an interpreter, say). Numbers and flags are those in force.
        let text = |name: &str| s.value(name).map(str::to_owned);
        let mut envvars: Vec<String> = s
            .get("passenger_env_var")
            .map(|e| {
                e.entries()
                    .iter()
                    .map(|e| format!("{}={}", e.args[0], e.args[1]))
                    .collect()
            })
            .unwrap_or_default();
        // Seed 000 §8.6.1: CGI parameters are also environment variables at spawn. Only
        // values without variables: there is no request to take them from at spawn time.
        if let Some(params) = s.get("passenger_set_cgi_param") {
            for e in params.entries() {
                if let Ok(Some(value)) = Template::parse(&e.args[1]).map(|t| t.as_literal()) {
                    envvars.push(format!("{}={value}", e.args[0]));
                }
            }
        }
        StartOptions {
            app_dir: Some(root.to_path_buf()),
            environment: text("passenger_app_env"),
            max_pool_size: None,
            min_instances: number(s, "passenger_min_instances"),
            app_type: s
                .value("passenger_app_type")
                .and_then(|t| AppType::from_str(t).ok()),
            startup_file: s.value("passenger_startup_file").map(PathBuf::from),
            app_start_command: text("passenger_app_start_command"),
            start_timeout: number(s, "passenger_start_timeout"),
            max_request_queue_size: number(s, "passenger_max_request_queue_size"),
            user: text("passenger_user"),
            group: text("passenger_group"),
            default_user: http.value("passenger_default_user").map(str::to_owned),
            default_group: http.value("passenger_default_group").map(str::to_owned),
            user_switching: Some(flag(http, "passenger_user_switching")),
            load_shell_envvars: Some(flag(s, "passenger_load_shell_envvars")),
            friendly_error_pages: s.value("passenger_friendly_error_pages").map(is_on),
            envvars,
            ruby: text("passenger_ruby"),
            python: text("passenger_python"),
            nodejs: text("passenger_nodejs"),
            base_uri: base_uri.map(str::to_owned),
            concurrency_model: text("passenger_concurrency_model"),
            thread_count: number(s, "passenger_thread_count"),
            max_request_queue_time: number(s, "passenger_max_request_queue_time"),
            request_queue_overflow_status_code: number(
                s,
                "passenger_request_queue_overflow_status_code",
            ),
            max_instances: number(s, "passenger_max_instances"),
            max_instances_per_app: number(http, "passenger_max_instances_per_app"),
            max_requests: number(s, "passenger_max_requests"),
            memory_limit: number(s, "passenger_memory_limit"),
            rolling_restarts: Some(flag(s, "passenger_rolling_restarts")),
            resist_deployment_errors: Some(flag(s, "passenger_resist_deployment_errors")),
            sticky_sessions: Some(flag(s, "passenger_sticky_sessions")),
            sticky_sessions_cookie_name: text("passenger_sticky_sessions_cookie_name"),
            sticky_sessions_cookie_attributes: text("passenger_sticky_sessions_cookie_attributes"),
            spawn_method: text("passenger_spawn_method"),
            max_preloader_idle_time: number(s, "passenger_max_preloader_idle_time"),
            ..StartOptions::default()
        }
    }
}

/// A `ferry start` error in words that fit a configuration file: option names without `--`.
fn error_message(error: &crate::Error) -> String {
    let mut message = error.to_string().replace("--", "");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
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

/// Whether `root` (relative: to the file of `at`) holds an app: its type or start command is
/// given, or a startup file says what it is.
fn holds_app(settings: &Settings, root: &Path, at: &Span) -> bool {
    let root = at.file.parent().unwrap_or(Path::new("/")).join(root);
    let startup_file = settings.value("passenger_startup_file").map(Path::new);
    ["passenger_app_type", "passenger_app_start_command"]
        .iter()
        .any(|name| settings.value(name).is_some())
        || AppType::detect(&root, startup_file).is_some()
}

/// The parent directory of `public`, lexically.
fn parent(public: &Path) -> Option<PathBuf> {
    lexical(public).parent().map(Path::to_path_buf)
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
    let (digits, unit) = match value.as_bytes().last()? {
        b'k' | b'K' => (&value[..value.len() - 1], 1 << 10),
        b'm' | b'M' => (&value[..value.len() - 1], 1 << 20),
        b'g' | b'G' => (&value[..value.len() - 1], 1 << 30),
        _ => (value, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests;
