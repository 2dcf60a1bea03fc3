//! From a raw [`StartOptions`] to a validated [`Config`] and [`AppConfig`]: every option checked
//! (all problems reported in one run), defaults applied (each written once in
//! [`crate::defaults`]), the app directory resolved and the app type detected.

use std::path::PathBuf;
use std::time::Duration;

use crate::deployment::BodySettings;
use crate::deployment::ClientSettings;
use crate::deployment::ResponseSettings;
use crate::{
    defaults, invalid, lexical, sticky, AppConfig, AppType, Config, Error, Listen, Observability,
    PoolConfig, PreStart, Start, StartOptions, StickySessions, UserSwitchingConfig,
    MAX_PARALLEL_SPAWNS_LIMIT,
};

// === impl StartOptions ===

impl StartOptions {
    /// Validates the options, applies defaults and detects the app type.
    ///
    /// Every invalid option is reported, not only the first.
    pub fn resolve(self) -> Result<Config, Error> {
        let mut problems = Vec::new();
        let max_pool_size = self.max_pool_size.unwrap_or(defaults::MAX_POOL_SIZE);
        if max_pool_size == 0 {
            problems.push(invalid(
                "--max-pool-size",
                max_pool_size,
                "must be at least 1",
            ));
        }
        let log_level = self.log_level.unwrap_or(defaults::LOG_LEVEL);
        if log_level > 7 {
            problems.push(invalid("--log-level", log_level, "must be 0..=7"));
        }
        self.check_hooks(&mut problems);
        let max_parallel_spawns = self
            .max_parallel_spawns
            .unwrap_or(defaults::MAX_PARALLEL_SPAWNS);
        if !(1..=MAX_PARALLEL_SPAWNS_LIMIT).contains(&max_parallel_spawns) {
            problems.push(invalid(
                "--max-parallel-spawns",
                max_parallel_spawns,
                "must be 1..=16",
            ));
        }
        let pre_start = self.pre_start(&mut problems);
        // Issue 16, connection side:
        let client = self.client_settings(&mut problems);
        let max_connections = self.max_connections(&mut problems);
        let observability = self.observability(&mut problems);
        // Issue 18, health:
        let health_path = self.health_path(&mut problems);
        // Issue 19, TLS:
        let tls = self.tls(&mut problems);
        let app = match self.app_config(false) {
            Ok(app) => Some(app),
            Err(Error::Many(more)) => {
                problems.extend(more);
                None
            }
            Err(e) => {
                problems.push(e);
                None
            }
        };
        match (app, problems.len()) {
            (Some(app), 0) => Ok(Config {
                listen: self.listen(),
                app,
                pool: PoolConfig {
                    max_pool_size,
                    idle_time: seconds(
                        self.pool_idle_time.unwrap_or(defaults::POOL_IDLE_TIME_SECS),
                    ),
                    max_parallel_spawns,
                },
                log_level,
                hooks: self.hooks.clone(),
                pre_start,
                observability,
                disable_symlinks: self
                    .disable_symlinks
                    .unwrap_or(defaults::START_DISABLE_SYMLINKS),
                // Issue 16, request side:
                client_max_body_size: self.client_max_body_size(),
                request_body: self.request_body(),
                ignore_client_abort: self.ignore_client_abort.unwrap_or(false),
                client,
                max_connections,
                // Issue 18, health:
                health_path,
                shutdown_delay: Duration::from_secs(
                    self.shutdown_delay.unwrap_or(defaults::SHUTDOWN_DELAY_SECS),
                ),
                // Issue 19, TLS:
                tls,
            }),
            (_, 1) => Err(problems.remove(0)),
            _ => Err(Error::Many(problems)),
        }
    }

    /// The app's settings: validated, defaults applied, the app directory resolved and the app
    /// type detected. With `keep_symlinks`, the app directory is made absolute without
    /// resolving symlinks (Passenger's rule for an app root taken from an Nginx `root`, so that
    /// `current/` of a Capistrano deploy stays `current/`); otherwise it is canonicalized.
    ///
    /// Every invalid app option is reported, not only the first.
    pub fn app_config(&self, keep_symlinks: bool) -> Result<AppConfig, Error> {
        let mut problems = Vec::new();
        let start_timeout = self.start_timeout.unwrap_or(defaults::START_TIMEOUT_SECS);
        if start_timeout == 0 {
            problems.push(invalid(
                "--start-timeout",
                start_timeout,
                "must be at least 1 second",
            ));
        }
        let overflow = self
            .request_queue_overflow_status_code
            .unwrap_or(defaults::QUEUE_OVERFLOW_STATUS);
        if !(100..=599).contains(&overflow) {
            problems.push(invalid(
                "--request-queue-overflow-status-code",
                overflow,
                "must be an HTTP status code (100..=599)",
            ));
        }
        let env = pairs("--envvar", &self.envvars, &mut problems);
        let spawn_args = pairs("--spawn-arg", &self.spawn_args, &mut problems);
        let (memory_limit, memory_hard_limit) = self.memory_limits(&mut problems);
        let sticky_sessions = self.sticky_sessions(&mut problems);
        let app = self
            .resolve_app(start_timeout, keep_symlinks)
            .map(|mut app| {
                app.env = env;
                app.spawn_args = spawn_args;
                app.memory_limit = memory_limit;
                app.memory_hard_limit = memory_hard_limit;
                app.sticky_sessions = sticky_sessions;
                app
            });
        match (app, problems.len()) {
            (Ok(app), 0) => Ok(app),
            (Ok(_), 1) => Err(problems.remove(0)),
            (Ok(_), _) => Err(Error::Many(problems)),
            (Err(e), 0) => Err(e),
            (Err(e), _) => {
                problems.push(e);
                Err(Error::Many(problems))
            }
        }
    }

    fn listen(&self) -> Listen {
        match &self.socket {
            Some(path) => Listen::Unix(path.clone()),
            None => Listen::Tcp {
                address: self
                    .address
                    .clone()
                    .unwrap_or_else(|| defaults::ADDRESS.into()),
                port: self.port.unwrap_or(defaults::PORT),
            },
        }
    }

    fn resolve_app(&self, start_timeout: u64, keep_symlinks: bool) -> Result<AppConfig, Error> {
        let dir = self.app_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let root = app_root(&dir, keep_symlinks).map_err(|source| Error::AppDir {
            path: dir.clone(),
            source,
        })?;
        let app_type = self.app_type_of(&root)?;
        let startup_file = self
            .startup_file
            .clone()
            .or_else(|| app_type.default_startup_file().map(PathBuf::from));
        // Issue 22, ASGI: `main.py:app` is the file `main.py` and its callable `app`.
        let (startup_file, app_callable) = match (&startup_file, app_type) {
            (Some(file), AppType::Asgi) => match AppType::split_callable(file) {
                (file, Some(name)) => (Some(file.to_path_buf()), Some(name.to_owned())),
                (_, None) => (startup_file, None),
            },
            _ => (startup_file, None),
        };
        let start = self.start(app_type)?;
        let spawn_method = self.spawn_method(app_type, &start)?;
        let (base_uri, threads) = match (self.base_uri(), self.threads()) {
            (Ok(base_uri), Ok(threads)) => (base_uri, threads),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(a), Err(b)) => return Err(Error::Many(vec![a, b])),
        };
        let environment = self
            .environment
            .clone()
            .unwrap_or_else(|| defaults::APP_ENV.into());
        let friendly_error_pages = self
            .friendly_error_pages
            .unwrap_or(!matches!(environment.as_str(), "staging" | "production"));
        Ok(AppConfig {
            group_name: root.display().to_string(),
            root,
            environment,
            app_type,
            startup_file,
            start,
            base_uri,
            threads,
            min_instances: self.min_instances.unwrap_or(defaults::MIN_INSTANCES),
            start_timeout: Duration::from_secs(start_timeout),
            max_request_queue_size: self
                .max_request_queue_size
                .unwrap_or(defaults::MAX_REQUEST_QUEUE_SIZE),
            max_request_queue_time: seconds(self.max_request_queue_time.unwrap_or(0)),
            queue_overflow_status: self
                .request_queue_overflow_status_code
                .unwrap_or(defaults::QUEUE_OVERFLOW_STATUS),
            max_instances: self.max_instances(),
            max_requests: self.max_requests.filter(|&n| n > 0),
            max_request_time: seconds(self.max_request_time.unwrap_or(0)),
            memory_limit: None,
            memory_hard_limit: None,
            rolling_restarts: self.rolling_restarts.unwrap_or(false),
            resist_deployment_errors: self.resist_deployment_errors.unwrap_or(false),
            sticky_sessions: None,
            user_switching: self.user_switching(),
            load_shell_envvars: self.load_shell_envvars.unwrap_or(false),
            friendly_error_pages,
            file_descriptor_ulimit: self.app_file_descriptor_ulimit,
            env: Vec::new(),
            spawn_args: Vec::new(),
            spawning_kit_aware: self.app_supports_kuria_protocol.unwrap_or(false),
            spawn_method,
            max_preloader_idle_time: Duration::from_secs(
                self.max_preloader_idle_time
                    .unwrap_or(defaults::MAX_PRELOADER_IDLE_TIME_SECS),
            ),
            smart_fallback_to_direct: self.smart_fallback_to_direct.unwrap_or(false),
            // Issue 22, ASGI:
            asgi_concurrency: self.asgi_concurrency.unwrap_or(defaults::ASGI_CONCURRENCY),
            app_callable,
            // Issue 16, response side:
            response: self.response_settings(),
            // Issue 22, refork:
            refork_after: self.refork_after(app_type, spawn_method)?,
        })
    }
}

// Issue 16, response side:
impl StartOptions {
    /// How the app's responses reach the client: `--buffer-response`, `--app-read-timeout` and
    /// `--websocket-idle-timeout` (0: none), defaults applied.
    fn response_settings(&self) -> ResponseSettings {
        ResponseSettings {
            buffer_response: self.buffer_response.unwrap_or(false),
            app_read_timeout: seconds(self.app_read_timeout.unwrap_or(0)),
            websocket_idle_timeout: seconds(
                self.websocket_idle_timeout
                    .unwrap_or(defaults::WEBSOCKET_IDLE_TIMEOUT_SECS),
            ),
        }
    }
}

impl StartOptions {
    /// The app type: as given, generic for a start command, else detected from the app's files.
    fn app_type_of(&self, root: &std::path::Path) -> Result<AppType, Error> {
        match (self.app_type, &self.app_start_command) {
            (Some(t), _) => Ok(t),
            (None, Some(_)) => Ok(AppType::Generic),
            (None, None) => AppType::detect(root, self.startup_file.as_deref()).ok_or_else(|| {
                Error::UndetectedAppType {
                    path: root.to_path_buf(),
                }
            }),
        }
    }

    /// `--max-instances` and `--max-instances-per-app`, whichever is lower (0: no limit).
    fn max_instances(&self) -> Option<usize> {
        [self.max_instances, self.max_instances_per_app]
            .into_iter()
            .flatten()
            .filter(|&n| n > 0)
            .min()
    }

    fn user_switching(&self) -> UserSwitchingConfig {
        UserSwitchingConfig {
            enabled: self.user_switching.unwrap_or(defaults::USER_SWITCHING),
            user: self.user.clone(),
            group: self.group.clone(),
            default_user: self
                .default_user
                .clone()
                .unwrap_or_else(|| defaults::DEFAULT_USER.into()),
            default_group: self.default_group.clone(),
            allow_root: self.allow_root_apps.unwrap_or(false),
        }
    }

    /// Records each `--hook` that is not `NAME=COMMAND`.
    fn check_hooks(&self, problems: &mut Vec<Error>) {
        for hook in &self.hooks {
            if !hook
                .split_once('=')
                .is_some_and(|(n, c)| !n.trim().is_empty() && !c.trim().is_empty())
            {
                problems.push(invalid("--hook", hook, "must be NAME=COMMAND"));
            }
        }
    }

    /// Logs, the instance registry and metrics; `--log-format` checked.
    fn observability(&self, problems: &mut Vec<Error>) -> Observability {
        let log_json = match self.log_format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                problems.push(invalid("--log-format", other, "must be text or json"));
                false
            }
        };
        Observability {
            instance_registry_dir: self.instance_registry_dir.clone(),
            log_file: self.log_file.clone(),
            access_log: self.access_log.clone(),
            log_json,
            metrics: !self.disable_metrics.unwrap_or(false),
        }
    }

    /// How a process of the app starts: its start command, or its type's loader.
    fn start(&self, app_type: AppType) -> Result<Start, Error> {
        if let Some(cmd) = &self.app_start_command {
            return Ok(Start::Command(cmd.clone()));
        }
        let (given, candidates): (_, &[&str]) = match app_type {
            AppType::Ruby => (&self.ruby, &["ruby"]),
            AppType::Python | AppType::Asgi => (&self.python, &["python3", "python"]),
            AppType::Node => (&self.nodejs, &["node", "nodejs"]),
            AppType::Generic => {
                return Err(Error::Invalid {
                    name: "--app-start-command",
                    value: String::new(),
                    reason: "a generic app needs a start command",
                })
            }
        };
        if let Some(interpreter) = given {
            return Ok(Start::Loader {
                interpreter: interpreter.clone(),
            });
        }
        // The name, not the path: the app's own `PATH` (its login shell's, with rbenv, pyenv,
        // nvm...) decides which one runs. When none is on Ferry's `PATH` either, the spawn fails
        // with "command not found" at the exec step, which names the command.
        let interpreter = candidates
            .iter()
            .find(|name| on_path(name))
            .unwrap_or(&candidates[0]);
        Ok(Start::Loader {
            interpreter: (*interpreter).to_owned(),
        })
    }

    /// The `--pre-start` URLs, each checked.
    fn pre_start(&self, problems: &mut Vec<Error>) -> Vec<PreStart> {
        let mut out = Vec::new();
        for url in &self.pre_start {
            match PreStart::parse(url) {
                Ok(pre_start) => out.push(pre_start),
                Err(reason) => problems.push(invalid("--pre-start", url.escape_debug(), reason)),
            }
        }
        out
    }

    /// `--memory-limit` and `--memory-hard-limit` in MB, `None` for 0; the hard limit may not be
    /// below the soft one.
    fn memory_limits(&self, problems: &mut Vec<Error>) -> (Option<u64>, Option<u64>) {
        let soft = self.memory_limit.filter(|&mb| mb > 0);
        let hard = self.memory_hard_limit.filter(|&mb| mb > 0);
        if let (Some(soft), Some(hard)) = (soft, hard) {
            if hard < soft {
                problems.push(Error::Below {
                    name: "--memory-hard-limit",
                    value: hard,
                    other: "--memory-limit",
                    other_value: soft,
                });
            }
        }
        (soft, hard)
    }

    /// The sticky-session cookie when `--sticky-sessions` is on. Its name and attributes are
    /// checked either way: a typo should not wait until sticky sessions are turned on.
    fn sticky_sessions(&self, problems: &mut Vec<Error>) -> Option<StickySessions> {
        let cookie_name = self
            .sticky_sessions_cookie_name
            .clone()
            .unwrap_or_else(|| defaults::STICKY_SESSIONS_COOKIE_NAME.into());
        if let Err(reason) = sticky::check_cookie_name(&cookie_name) {
            problems.push(invalid(
                "--sticky-sessions-cookie-name",
                cookie_name.escape_debug(),
                reason,
            ));
        }
        let cookie_attributes = self
            .sticky_sessions_cookie_attributes
            .clone()
            .unwrap_or_else(|| defaults::STICKY_SESSIONS_COOKIE_ATTRIBUTES.into());
        if let Err(reason) = sticky::check_cookie_attributes(&cookie_attributes) {
            problems.push(invalid(
                "--sticky-sessions-cookie-attributes",
                cookie_attributes.escape_debug(),
                reason,
            ));
        }
        self.sticky_sessions
            .unwrap_or(false)
            .then_some(StickySessions {
                cookie_name,
                cookie_attributes,
            })
    }

    fn base_uri(&self) -> Result<String, Error> {
        let Some(base) = &self.base_uri else {
            return Ok("/".into());
        };
        if !base.starts_with('/') || base.contains(['?', '#', ' ']) {
            return Err(invalid(
                "--base-uri",
                base,
                "must be a path starting with /, e.g. /blog",
            ));
        }
        let trimmed = base.trim_end_matches('/');
        Ok(if trimmed.is_empty() { "/" } else { trimmed }.to_owned())
    }

    fn threads(&self) -> Result<usize, Error> {
        let count = self.thread_count.unwrap_or(defaults::THREAD_COUNT);
        if count == 0 {
            return Err(invalid("--thread-count", count, "must be at least 1"));
        }
        match self.concurrency_model.as_deref() {
            None | Some("process") => Ok(1),
            Some("thread") => Ok(count),
            Some(other) => Err(invalid(
                "--concurrency-model",
                other,
                "must be process or thread",
            )),
        }
    }
}

// Issue 16, connection side:
impl StartOptions {
    /// How client connections are read and kept: the settings given, nginx's defaults for the
    /// rest (a 0 timeout is no limit; a 0 keep-alive timeout turns keep-alive off).
    fn client_settings(&self, problems: &mut Vec<Error>) -> ClientSettings {
        let defaults = ClientSettings::default();
        let given = |secs: Option<u64>, default| secs.map_or(default, seconds);
        let (header_line_max, header_max) = self
            .header_buffers(problems)
            .unwrap_or((defaults.header_line_max, defaults.header_max));
        ClientSettings {
            header_timeout: given(self.client_header_timeout, defaults.header_timeout),
            keepalive_timeout: given(self.keepalive_timeout, defaults.keepalive_timeout),
            send_timeout: given(self.send_timeout, defaults.send_timeout),
            underscores_in_headers: self
                .underscores_in_headers
                .unwrap_or(defaults.underscores_in_headers),
            header_line_max,
            header_max,
            ..defaults
        }
    }

    /// `--large-client-header-buffers NUMBER SIZE`: the longest line and the largest head.
    fn header_buffers(&self, problems: &mut Vec<Error>) -> Option<(u64, u64)> {
        let value = self.large_client_header_buffers.as_deref()?;
        match crate::nginx::header_buffers(value) {
            Some((number, size)) => Some((size, number.saturating_mul(size))),
            None => {
                problems.push(invalid(
                    "--large-client-header-buffers",
                    value,
                    "a number of buffers and a size, such as \"4 16k\"",
                ));
                None
            }
        }
    }

    /// `--max-connections`, at least 1.
    fn max_connections(&self, problems: &mut Vec<Error>) -> Option<u64> {
        let max = self.max_connections?;
        if max == 0 {
            problems.push(invalid("--max-connections", max, "must be at least 1"));
        }
        Some(max)
    }
}

/// `dir` as an absolute path: canonical, or (with `keep_symlinks`) only made absolute and rid
/// of `.` and `..` lexically. Either way it must be a directory.
fn app_root(dir: &std::path::Path, keep_symlinks: bool) -> std::io::Result<PathBuf> {
    if !keep_symlinks {
        return std::fs::canonicalize(dir);
    }
    let clean = lexical(&std::path::absolute(dir)?);
    if !std::fs::metadata(&clean)?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(clean)
}

/// Whether an executable file named `name` is in `$PATH`.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// `secs` seconds, `None` for 0 (Passenger's "no limit").
fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Splits `NAME=VALUE` items, recording the malformed ones.
fn pairs(name: &'static str, items: &[String], problems: &mut Vec<Error>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_owned(), v.to_owned())),
            _ => problems.push(invalid(name, item, "must be NAME=VALUE")),
        }
    }
    out
}

// Issue 16, request side: request bodies.
impl StartOptions {
    /// `--client-max-body-size` (default [`defaults::START_CLIENT_MAX_BODY_SIZE`]); `None` for
    /// 0, nginx's "no limit".
    fn client_max_body_size(&self) -> Option<u64> {
        self.client_max_body_size
            .or_else(|| crate::units::size(defaults::START_CLIENT_MAX_BODY_SIZE))
            .filter(|&n| n > 0)
    }

    /// How request bodies are read: buffering, the memory part, the timeout between reads and
    /// where longer bodies go.
    fn request_body(&self) -> BodySettings {
        let default = BodySettings::default();
        BodySettings {
            buffering: self.request_buffering.unwrap_or(default.buffering),
            buffer_size: self.client_body_buffer_size.unwrap_or(default.buffer_size),
            timeout: match self.client_body_timeout {
                Some(secs) => seconds(secs),
                None => default.timeout,
            },
            temp_dir: self.data_buffer_dir.clone(),
        }
    }
}

// Issue 18, health:
impl StartOptions {
    /// `--health-path`: an absolute path without a query, `..` or `.` segments (it is matched
    /// exactly, as nginx's `location = PATH`).
    fn health_path(&self, problems: &mut Vec<Error>) -> Option<String> {
        let path = self.health_path.as_deref()?;
        let clean = path.starts_with('/')
            && !path.contains(['?', '#', ' '])
            && !path
                .split('/')
                .any(|segment| segment == "." || segment == "..");
        if clean {
            Some(path.to_owned())
        } else {
            problems.push(invalid(
                "--health-path",
                path,
                "must be a path starting with /, without a query or . and .. segments",
            ));
            None
        }
    }
}

// Issue 19, TLS:
impl StartOptions {
    /// `--ssl` with its certificate, key and port: the HTTPS port and the server's TLS settings
    /// (the files are read when Ferry starts). `None` without `--ssl`.
    fn tls(&self, problems: &mut Vec<Error>) -> Option<(u16, crate::deployment::ServerTls)> {
        use crate::deployment::{ServerTls, TlsFile};
        if let Some(domain) = &self.ssl_acme {
            problems.push(invalid(
                "--ssl-acme",
                domain,
                "automatic certificates (ACME) are not implemented yet: give --ssl \
                 --ssl-certificate and --ssl-certificate-key",
            ));
        }
        if !self.ssl.unwrap_or(false) {
            if self.ssl_certificate.is_some() || self.ssl_certificate_key.is_some() {
                problems.push(invalid(
                    "--ssl-certificate",
                    "(given)",
                    "needs --ssl (HTTPS is off without it)",
                ));
            }
            return None;
        }
        let mut file = |path: &Option<PathBuf>, flag: &'static str| match path {
            Some(path) => Some(TlsFile {
                path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
                origin: flag.to_owned(),
            }),
            None => {
                problems.push(invalid(flag, "(missing)", "--ssl needs it"));
                None
            }
        };
        let certificate = file(&self.ssl_certificate, "--ssl-certificate");
        let key = file(&self.ssl_certificate_key, "--ssl-certificate-key");
        if self.socket.is_some() {
            problems.push(invalid(
                "--ssl",
                "on",
                "is for TCP ports, not with --socket",
            ));
        }
        let port = self
            .ssl_port
            .unwrap_or_else(|| self.port.unwrap_or(defaults::PORT));
        Some((port, ServerTls::new(certificate?, key?)))
    }
}
