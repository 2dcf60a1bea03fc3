//! The Passenger part of a route: which app serves which URIs of a place with
//! `passenger_enabled on` (its base URIs' mounts and its fallback), and each app's settings.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{flag, in_force, is_on, number, seconds, symlinks, Planner};
use crate::deployment::{
    BodySettings, Files, Mount, PassengerRoute, ResponseSettings, SymlinkFrom, Symlinks, Template,
};
use crate::nginx::ast::Span;
use crate::nginx::resolve::{Problem, Settings};
use crate::{lexical, AppType, StartOptions};

/// What a place with `passenger_enabled on` says about where its apps are.
struct Place<'a> {
    settings: &'a Settings,
    files: &'a Files,
    /// Where `passenger_enabled` is written (or the place, if it is inherited): errors about the
    /// place's apps point there.
    enabled_at: Span,
    document_root: Option<PathBuf>,
    app_root: Option<PathBuf>,
    /// The location's pattern; `None` for a server.
    location: Option<&'a str>,
}

// === impl Planner ===

impl Planner<'_> {
    /// The Passenger part of the route of a place (`location`: its pattern, `None` for a server)
    /// whose own span is `span` and whose files are `files`.
    pub(super) fn passenger(
        &mut self,
        settings: &Settings,
        span: &Span,
        files: &Files,
        location: Option<&str>,
    ) -> PassengerRoute {
        let place = Place {
            settings,
            files,
            enabled_at: settings
                .get("passenger_enabled")
                .and_then(|s| s.span())
                .unwrap_or(span)
                .clone(),
            document_root: settings.value("passenger_document_root").map(PathBuf::from),
            app_root: settings.value("passenger_app_root").map(PathBuf::from),
            location,
        };
        let mounts = self.mounts(&place);
        let fallback = self.fallback(&place, !mounts.is_empty());
        let cgi_params = self.cgi_params(settings);
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
            request_body: body_settings(settings),
            ignore_client_abort: flag(settings, "passenger_ignore_client_abort"),
            // Issue 16, response side:
            response: response_settings(settings),
        }
    }

    /// One mount per `passenger_base_uri` whose app can be served, the longest base URI first.
    fn mounts(&mut self, place: &Place<'_>) -> Vec<Mount> {
        let mut mounts = Vec::new();
        if let Some(bases) = place.settings.get("passenger_base_uri") {
            for entry in bases.entries() {
                let base = entry.args[0].trim_end_matches('/');
                if base.is_empty() {
                    continue;
                }
                mounts.extend(self.base_uri_mount(place, base, &entry.span));
            }
        }
        mounts.sort_by_key(|m| std::cmp::Reverse(m.base_uri.as_ref().map_or(0, String::len)));
        mounts
    }

    /// The mount at `base` (written at `at`): its public directory is `passenger_document_root`,
    /// else `root` followed by `base`.
    fn base_uri_mount(&mut self, place: &Place<'_>, base: &str, at: &Span) -> Option<Mount> {
        let public = place.document_root.clone().or_else(|| match place.files {
            Files::Root(root) => Some(root.join(base.trim_start_matches('/'))),
            _ => None,
        });
        match base_uri_root(base, place.app_root.as_ref(), public.as_ref()) {
            Ok(root) => {
                let app = self.app(place.settings, &root, Some(base), at)?;
                Some(Mount {
                    base_uri: Some(base.to_owned()),
                    app,
                    public_dir: public,
                    disable_symlinks: mount_symlinks(place),
                })
            }
            Err(message) => {
                self.error(at, message);
                None
            }
        }
    }

    /// The app for URIs under none of the base URIs (`beside_mounts`: there are some), if the
    /// place has one.
    fn fallback(&mut self, place: &Place<'_>, beside_mounts: bool) -> Option<Mount> {
        let public = place.document_root.clone().or_else(|| match place.files {
            Files::Root(root) => Some(root.clone()),
            Files::Alias(alias) => alias.as_literal().map(PathBuf::from),
            Files::None => None,
        });
        let named_root = place.app_root.is_some();
        let root = place
            .app_root
            .clone()
            .or_else(|| public.as_deref().and_then(parent));
        match root {
            // Passenger's Nginx module declines a request whose app root, worked out from
            // `root`, holds no app it can detect, and Nginx serves files. Ferry allows that only
            // beside base URIs (a site whose apps are under them, seed 000 §8.5.13 example 2);
            // elsewhere a `root` that names no app is more likely a mistake.
            Some(root)
                if !named_root
                    && beside_mounts
                    && !holds_app(place.settings, &root, &place.enabled_at) =>
            {
                None
            }
            Some(root) => self
                .app(place.settings, &root, None, &place.enabled_at)
                .map(|app| Mount {
                    base_uri: None,
                    app,
                    public_dir: public,
                    disable_symlinks: mount_symlinks(place),
                }),
            None => {
                if !matches!(place.files, Files::None) {
                    // `root` and `alias` without variables always give a root; this is an
                    // alias with variables.
                    self.no_app_root(place);
                }
                None
            }
        }
    }

    fn no_app_root(&mut self, place: &Place<'_>) {
        let here = place
            .location
            .map_or("this server".to_owned(), |l| format!("location \"{l}\""));
        self.error(
            &place.enabled_at,
            format!(
                "passenger_enabled is on in {here}, whose alias has variables, so \
                 the app root cannot be told from it: set passenger_app_root (and \
                 passenger_document_root for its static files)"
            ),
        );
    }

    /// The `passenger_set_cgi_param`s, each value a template.
    fn cgi_params(&mut self, settings: &Settings) -> Vec<(String, Template)> {
        settings
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
            .unwrap_or_default()
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
            allow_root_apps: Some(self.allow_root),
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
            // Issue 22, ASGI:
            asgi_concurrency: number(s, "passenger_asgi_concurrency"),
            // Issue 22, refork:
            refork_after: number(s, "passenger_refork_after"),
            ..StartOptions::default()
        }
    }
}

/// The app root of the mount at `base`: `passenger_app_root`, else the parent of the public
/// directory with symlinks resolved. The error says what to set.
fn base_uri_root(
    base: &str,
    app_root: Option<&PathBuf>,
    public: Option<&PathBuf>,
) -> Result<PathBuf, String> {
    match (app_root, public) {
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

/// The place's `disable_symlinks` for its apps' public directories, with `from=$document_root`
/// made the place's `root` (or literal `alias`), which is nginx's `$document_root`: for an app
/// under a base URI, the directory above the link to its public directory, so that the link is
/// checked. Without either, `$document_root` stays, and means the public directory itself.
fn mount_symlinks(place: &Place<'_>) -> Option<Symlinks> {
    let mut written = symlinks(place.settings)?;
    if written.from == Some(SymlinkFrom::DocumentRoot) {
        let document_root = match place.files {
            Files::Root(root) => Some(root.clone()),
            Files::Alias(alias) => alias.as_literal().map(PathBuf::from),
            Files::None => None,
        };
        if let Some(root) = document_root {
            written.from = Some(SymlinkFrom::Path(root));
        }
    }
    Some(written)
}

// Issue 16, response side:
/// How the place's responses reach the client: `passenger_buffer_response`,
/// `passenger_read_timeout` and `passenger_websocket_idle_timeout` in force (a time of 0: none).
fn response_settings(settings: &Settings) -> ResponseSettings {
    let time = |name| {
        in_force(settings, name)
            .and_then(crate::units::time)
            .filter(|t| !t.is_zero())
    };
    ResponseSettings {
        buffer_response: flag(settings, "passenger_buffer_response"),
        app_read_timeout: time("passenger_read_timeout"),
        websocket_idle_timeout: time("passenger_websocket_idle_timeout"),
    }
}

/// The parent directory of `public`, lexically.
fn parent(public: &Path) -> Option<PathBuf> {
    lexical(public).parent().map(Path::to_path_buf)
}

// Issue 16, request side: request bodies.

/// How the place reads request bodies: `passenger_request_buffering`, `client_body_buffer_size`,
/// `client_body_timeout` (0: no limit) and `client_body_temp_path` (its levels ignored), each
/// in force here or the table's default.
fn body_settings(settings: &Settings) -> BodySettings {
    let default = BodySettings::default();
    BodySettings {
        buffering: flag(settings, "passenger_request_buffering"),
        buffer_size: in_force(settings, "client_body_buffer_size")
            .and_then(crate::units::size)
            .unwrap_or(default.buffer_size),
        timeout: in_force(settings, "client_body_timeout")
            .and_then(crate::units::time)
            .filter(|t| !t.is_zero()),
        temp_dir: settings.value("client_body_temp_path").map(PathBuf::from),
    }
}
