//! Wires Ferry together: configuration → spawner → pool → front end, and shuts it all down.
//!
//! `main` and the integration tests both start Ferry through [`Ferry::start`], so what the tests
//! exercise is what the binary runs.
//!
//! Shutdown order matters for "never drop a request": first stop accepting, then let every open
//! connection finish the request it is serving (bounded by the drain grace period), and only then
//! stop the app processes, which are reaped before [`Running::shutdown`] returns.

mod admin;
mod pre_start;

pub use admin::LogControl;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferry_config::deployment::{Deployment, ListenAddress, Mount, PassengerRoute};
use ferry_config::{AppConfig, AppType, Start};
use ferry_front::{
    AccessLog, BoundListener, DirectAccess, Inflight, Listener, Observers, Router, Site,
    SiteConfig, StickyCookie,
};
use ferry_metrics::{AppId, MeteredSpawner, Metrics};
use ferry_pool::{GroupConfig, Pool, PoolConfig};
use ferry_spawn::{AppKind, DirectSpawner, Hooks, SpawnOptions, SpawnerConfig, UserSwitching};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// How long an app process may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often, at most, `tmp/restart.txt` is looked at.
pub const RESTART_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Ferry could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not an IP address.
    #[error("cannot listen on {address:?}: not an IP address")]
    Address {
        /// The address as configured.
        address: String,
    },
    /// A `--hook` is malformed.
    #[error("invalid hook")]
    Hook(#[from] ferry_spawn::hooks::HookSpecError),
    /// The runtime directory (app sockets) could not be created.
    #[error("cannot create the runtime directory in {dir}")]
    RuntimeDir {
        /// The parent directory.
        dir: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The instance directory (for `ferry status`) could not be made.
    #[error("cannot create the instance directory")]
    Registry(#[from] ferry_admin::registry::RegistryError),
    /// The admin API's socket could not be bound.
    #[error("cannot listen on the admin socket {path}")]
    AdminSocket {
        /// The socket.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log {path}")]
    AccessLog {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {what}")]
    Bind {
        /// The address or socket path.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Entry point.
#[derive(Debug)]
pub struct Ferry;

/// A running Ferry.
#[derive(Debug)]
pub struct Running {
    urls: Vec<String>,
    pool: admin::FerryPool,
    runtime_dir: RuntimeDir,
    /// Held for Ferry's life; dropping it removes the instance directory.
    instance: ferry_admin::registry::InstanceDir,
    access_log: Option<Arc<AccessLog>>,
    stop: CancellationToken,
    listeners: TaskTracker,
    connections: TaskTracker,
}

/// What Ferry needs besides the deployment to be observable.
#[derive(Clone)]
pub struct Admin {
    /// Ferry's own log, for `ferry log-level` and `ferry reopen-logs`.
    pub log: Arc<dyn LogControl>,
    /// The configuration file Ferry was started with, for `properties.json`.
    pub config_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("config_file", &self.config_file)
            .finish_non_exhaustive()
    }
}

/// The programs the spawner runs besides the apps: the SpawnEnvSetupper and the loaders.
///
/// `ferry start` uses [`Programs::current`]. A server started inside another program (the
/// in-process test harness) names the `ferry` binary itself, since that program cannot act as
/// the setupper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    /// The `ferry` binary: each app process starts as `SETUPPER spawn-env-setupper ...`.
    pub setupper: std::path::PathBuf,
    /// Ferry's root, which holds `loaders/`.
    pub root: std::path::PathBuf,
}

impl Programs {
    /// This process's own binary as the setupper, and the root found from it: `$FERRY_ROOT`
    /// when set, else the nearest directory above the binary holding `loaders/`.
    pub fn current() -> Programs {
        let exe = std::env::current_exe().unwrap_or_else(|_| "ferry".into());
        Programs {
            root: ferry_root(&exe),
            setupper: exe,
        }
    }
}

impl Ferry {
    /// Binds the listeners, creates the instance directory and its admin socket, and starts
    /// serving. App processes start on the first request, or on the first `--pre-start`
    /// request, which is sent in the background.
    pub async fn start(deployment: Deployment, admin: Admin) -> Result<Running, Error> {
        Ferry::start_with(deployment, admin, Programs::current()).await
    }

    /// As [`start`](Self::start), with the spawner running `programs`.
    pub async fn start_with(
        deployment: Deployment,
        admin: Admin,
        programs: Programs,
    ) -> Result<Running, Error> {
        for warning in &deployment.warnings {
            tracing::warn!("{warning}");
        }
        let sockets = ferry_front::sockets(&deployment.listens);
        let mut bound = Vec::with_capacity(sockets.len());
        for socket in &sockets {
            bound.push(bind(socket).await?);
        }
        let urls: Vec<String> = bound.iter().map(BoundListener::url).collect();
        let observability = &deployment.observability;
        let access_log = match &observability.access_log {
            Some(path) => Some(Arc::new(AccessLog::open(path).map_err(|source| {
                Error::AccessLog {
                    path: path.display().to_string(),
                    source,
                }
            })?)),
            None => None,
        };
        let instance = ferry_admin::registry::InstanceDir::create(
            &ferry_admin::registry::InstanceOptions {
                registry_dir: observability.instance_registry_dir.clone(),
                name: None,
                version: env!("CARGO_PKG_VERSION").into(),
                description: describe(&deployment, admin.config_file.as_deref()),
                listeners: urls.clone(),
                config_file: admin.config_file.clone(),
            },
            &ferry_admin::registry::RegistryEnv::from_process(),
        )?;
        let runtime_dir = RuntimeDir::create()?;
        let spawner_config =
            spawner_config(&deployment.hooks, &runtime_dir, instance.path(), programs)?;
        let pool_config = pool_config(&deployment, &spawner_config);
        let ferry_root = spawner_config.ferry_root.clone();
        let metrics = Arc::new(if observability.metrics {
            Metrics::new(deployment.apps.iter().map(|a| a.group_name.clone()))
        } else {
            Metrics::disabled()
        });
        let spawner = MeteredSpawner::new(DirectSpawner::new(spawner_config), Arc::clone(&metrics));
        let pool = Pool::new(spawner, pool_config);
        let groups: Vec<_> = deployment
            .apps
            .iter()
            .map(|app| {
                let spawn = spawn_options(app, deployment.log_level, &ferry_root);
                pool.add_group(group_config(app, spawn))
            })
            .collect();
        let inflight = Arc::new(Inflight::default());
        let observers = Observers {
            metrics: Arc::clone(&metrics),
            access_log: access_log.clone(),
            inflight: Arc::clone(&inflight),
        };
        let router = Arc::new(Router::new(
            &deployment,
            &sockets,
            observers,
            |mount, route| {
                let app = &deployment.apps[mount.app];
                let mut config = site_config(app, mount, route);
                config.metrics = Arc::clone(&metrics);
                config.metrics_app = metrics.app(&app.group_name);
                Site::new(pool.clone(), groups[mount.app], &config)
            },
        ));
        let stop = CancellationToken::new();
        let (listeners, connections) = (TaskTracker::new(), TaskTracker::new());
        // Direct process access (seed 000 §10.4) on a loopback port of its own.
        let direct_listener = bind(&ListenAddress::Tcp {
            host: "127.0.0.1".into(),
            port: 0,
        })
        .await?;
        let direct_url = direct_listener.url();
        let direct_sites = deployment
            .apps
            .iter()
            .zip(&groups)
            .map(|(app, &group)| {
                let mut config = site_config(app, &Mount::direct(), &PassengerRoute::direct());
                config.public_dir = None;
                (
                    app.group_name.clone(),
                    Site::new(pool.clone(), group, &config),
                )
            })
            .collect();
        let direct = Arc::new(DirectAccess::new(pool.clone(), direct_sites));
        listeners.spawn(direct_listener.serve(direct, 0, stop.clone(), connections.clone()));
        let admin_socket = instance.admin_socket_path().to_path_buf();
        let admin_listener = ferry_admin::server::bind(&admin_socket)
            .await
            .map_err(|source| Error::AdminSocket {
                path: admin_socket.display().to_string(),
                source,
            })?;
        let backend = Arc::new(admin::Backend {
            pool: pool.clone(),
            instance_name: instance.name().to_owned(),
            started_at: instance.properties().started_at,
            listeners: urls.clone(),
            metrics: Arc::clone(&metrics),
            log: admin.log,
            access_log: access_log.clone(),
            direct_url: direct_url.clone(),
            inflight,
        });
        let api = ferry_admin::server::AdminServer::new(
            backend,
            ferry_admin::server::ApiConfig::for_instance(&instance, metrics),
        );
        listeners.spawn(ferry_admin::server::serve(
            admin_listener,
            api,
            stop.clone(),
        ));
        listeners.spawn(keep_fresh(instance.path().to_path_buf(), stop.clone()));
        let own = match (deployment.pre_start.is_empty(), bound.first()) {
            (false, Some(first)) => Some(pre_start::Target::own(first)),
            _ => None,
        };
        for (index, listener) in bound.into_iter().enumerate() {
            listeners.spawn(listener.serve(
                Arc::clone(&router),
                index,
                stop.clone(),
                connections.clone(),
            ));
        }
        match own {
            Some(Ok(own)) => {
                listeners.spawn(pre_start::run(
                    deployment.pre_start.clone(),
                    own,
                    stop.clone(),
                ));
            }
            Some(Err(error)) => tracing::warn!(%error, "cannot send the pre-start requests"),
            None => {}
        }
        listeners.close();
        tracing::info!(
            instance = instance.name(),
            dir = %instance.path().display(),
            direct = %direct_url,
            "admin socket ready (ferry status); direct process access on the loopback address"
        );
        Ok(Running {
            urls,
            pool,
            runtime_dir,
            instance,
            access_log,
            stop,
            listeners,
            connections,
        })
    }
}

/// `properties.json`'s description: what this Ferry serves.
fn describe(deployment: &Deployment, config_file: Option<&std::path::Path>) -> String {
    match config_file {
        Some(file) => format!(
            "{} ({} apps)",
            file.file_name().unwrap_or_default().to_string_lossy(),
            deployment.apps.len()
        ),
        None => deployment
            .apps
            .first()
            .map(|a| a.group_name.clone())
            .unwrap_or_default(),
    }
}

/// Touches the instance directory every hour, so that temp-dir cleaners (tmpreaper,
/// systemd-tmpfiles) never see it as old (Passenger #2209).
async fn keep_fresh(dir: std::path::PathBuf, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    every.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {
                let now = std::time::SystemTime::now();
                if let Err(error) = std::fs::File::open(&dir).and_then(|d| d.set_modified(now)) {
                    tracing::debug!(%error, "cannot touch the instance directory");
                }
            }
        }
    }
}

impl Running {
    /// Reopens the access log, if there is one (SIGUSR1).
    ///
    /// # Errors
    ///
    /// Why it could not be reopened.
    pub fn reopen_access_log(&self) -> Result<(), String> {
        match &self.access_log {
            Some(log) => log
                .reopen()
                .map_err(|e| format!("cannot reopen the access log: {e}")),
            None => Ok(()),
        }
    }

    /// The instance directory (`ferry status` finds this Ferry by it).
    pub fn instance_dir(&self) -> &std::path::Path {
        self.instance.path()
    }

    /// The URLs Ferry listens on (`http://127.0.0.1:3000`, `unix:/path`).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Stops gracefully: no new connections; in-flight requests finish (at most `drain` long);
    /// then every app process is stopped and reaped.
    pub async fn shutdown(self, drain: Duration) {
        tracing::info!("shutting down: finishing in-flight requests");
        self.stop.cancel();
        self.listeners.wait().await;
        self.connections.close();
        if tokio::time::timeout(drain, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within {drain:?}; closing them");
        }
        tracing::info!("stopping app processes");
        self.pool.shutdown().await;
        drop(self.runtime_dir);
        drop(self.instance);
        tracing::info!("shutdown complete");
    }
}

async fn bind(address: &ListenAddress) -> Result<BoundListener, Error> {
    let listener = match address {
        ListenAddress::Tcp { host, port } => {
            let ip: IpAddr = match host.as_str() {
                "*" => Ipv4Addr::UNSPECIFIED.into(),
                "::" => Ipv6Addr::UNSPECIFIED.into(),
                other => match other.parse() {
                    Ok(ip) => ip,
                    Err(_) => tokio::net::lookup_host((other, *port))
                        .await
                        .ok()
                        .and_then(|mut found| found.next())
                        .map(|addr| addr.ip())
                        .ok_or_else(|| Error::Address {
                            address: other.to_owned(),
                        })?,
                },
            };
            Listener::Tcp(SocketAddr::new(ip, *port))
        }
        ListenAddress::Unix(path) => Listener::Unix(path.clone()),
    };
    ferry_front::bind(&listener)
        .await
        .map_err(|source| Error::Bind {
            what: match &listener {
                Listener::Tcp(addr) => addr.to_string(),
                Listener::Unix(path) => path.display().to_string(),
            },
            source,
        })
}

/// The pool's settings. Its hooks are the spawner's, with the same base environment: the pool
/// runs `attached_process`, `detached_process`, `after_initialize_supergroup`,
/// `before_destroy_supergroup` and `queue_full_error`.
fn pool_config(deployment: &Deployment, spawner: &SpawnerConfig) -> PoolConfig {
    PoolConfig {
        stop_grace: STOP_GRACE,
        idle_time: deployment.pool.idle_time,
        max_parallel_spawns: deployment.pool.max_parallel_spawns,
        hooks: spawner.hooks.clone(),
        ..PoolConfig::new(deployment.pool.max_pool_size)
    }
}

fn group_config(app: &AppConfig, spawn: SpawnOptions) -> GroupConfig {
    GroupConfig {
        name: app.group_name.clone(),
        min_instances: app.min_instances,
        max_queue: app.max_request_queue_size,
        max_queue_time: app.max_request_queue_time,
        max_instances: app.max_instances,
        max_requests: app.max_requests,
        memory_limit: app.memory_limit,
        memory_hard_limit: app.memory_hard_limit,
        rolling_restarts: app.rolling_restarts,
        resist_deployment_errors: app.resist_deployment_errors,
        restart_dir: Some(app.root.join("tmp")),
        restart_check_interval: RESTART_CHECK_INTERVAL,
        ..GroupConfig::new(spawn)
    }
}

/// The front end's settings for `app` mounted at `mount` in a route.
fn site_config(app: &AppConfig, mount: &Mount, route: &PassengerRoute) -> SiteConfig {
    SiteConfig {
        public_dir: mount.public_dir.clone(),
        friendly_error_pages: app.friendly_error_pages,
        base_uri: mount.base_uri.clone(),
        server_software: server_software(),
        queue_overflow_status: app.queue_overflow_status,
        max_request_time: route.max_request_time,
        follow_symlinks: mount.follow_symlinks,
        metrics: Arc::new(Metrics::disabled()),
        metrics_app: AppId::NONE,
        app_name: app.group_name.clone(),
        sticky_sessions: app.sticky_sessions.as_ref().map(|sticky| StickyCookie {
            name: sticky.cookie_name.clone(),
            attributes: sticky.cookie_attributes.clone(),
        }),
    }
}

/// `SERVER_SOFTWARE` for the apps.
fn server_software() -> String {
    format!("Ferry/{}", env!("CARGO_PKG_VERSION"))
}

/// How one process of the app is started. `ferry_root` holds `loaders/`.
fn spawn_options(app: &AppConfig, log_level: u8, ferry_root: &std::path::Path) -> SpawnOptions {
    let (passenger_type, loader, title) = match app.app_type {
        AppType::Node => ("nodejs", "node/node-loader.js", "Ferry NodeApp"),
        AppType::Ruby => ("ruby", "ruby/rack-loader.rb", "Ferry RubyApp"),
        AppType::Python => ("python", "python/wsgi-loader.py", "Ferry PythonApp"),
        AppType::Generic => ("", "", "Ferry App"),
    };
    let start_command = match &app.start {
        Start::Command(cmd) => cmd.clone(),
        Start::Loader { interpreter } => {
            let loader = ferry_root.join("loaders").join(loader);
            format!(
                "{} {}",
                ferry_config::shell_quote(interpreter),
                ferry_config::shell_quote(&loader.to_string_lossy())
            )
        }
    };
    let mut options = SpawnOptions::generic(&app.root, start_command);
    options.app_group_name = app.group_name.clone();
    options.app_type = passenger_type.to_owned();
    options.startup_file = app.startup_file.as_ref().map(|f| app.root.join(f));
    options.process_title = Some(title.to_owned());
    options.base_uri = app.base_uri.clone();
    if matches!(app.start, Start::Loader { .. }) {
        options.kind = AppKind::SpawningKit { wrapper: true };
    } else if app.spawning_kit_aware {
        // A start command for a typed app is a loader of its own (Passenger's, say).
        let wrapper = app.app_type != AppType::Generic;
        options.kind = AppKind::SpawningKit { wrapper };
    }
    options.environment = app.environment.clone();
    options.start_timeout = app.start_timeout;
    options.env = app.env.clone();
    let users = &app.user_switching;
    options.user_switching = UserSwitching {
        enabled: users.enabled,
        user: users.user.clone(),
        group: users.group.clone(),
        default_user: users.default_user.clone(),
        default_group: users.default_group.clone(),
        allow_root: users.allow_root,
    };
    options.load_shell_envvars = app.load_shell_envvars;
    options.file_descriptor_ulimit = app.file_descriptor_ulimit;
    options.log_level = log_level;
    options.spawn_method = match app.spawn_method {
        ferry_config::SpawnMethod::Smart => ferry_spawn::SpawnMethod::Smart,
        ferry_config::SpawnMethod::Direct => ferry_spawn::SpawnMethod::Direct,
    };
    options.max_preloader_idle_time = app.max_preloader_idle_time;
    options.smart_fallback_to_direct = app.smart_fallback_to_direct;
    let model = if app.threads > 1 { "thread" } else { "process" };
    options.extra_args = vec![
        ("concurrency_model".into(), model.into()),
        ("thread_count".into(), app.threads.into()),
    ];
    options
        .extra_args
        .extend(app.spawn_args.iter().map(|(k, v)| {
            let value = serde_json::from_str(v).unwrap_or_else(|_| v.clone().into());
            (k.clone(), value)
        }));
    options
}

fn spawner_config(
    hooks: &[String],
    runtime: &RuntimeDir,
    instance: &std::path::Path,
    programs: Programs,
) -> Result<SpawnerConfig, Error> {
    let mut spawner =
        SpawnerConfig::new(vec![programs.setupper.into(), "spawn-env-setupper".into()]);
    spawner.ferry_root = programs.root;
    spawner.socket_dir = runtime.apps_dir();
    spawner.instance_dir = Some(runtime.path.clone());
    spawner.error_dir = Some(std::env::temp_dir());
    spawner.hooks = Hooks::parse(hooks.iter().map(String::as_str))?.with_base_env(vec![
        ("PASSENGER_VERSION".into(), spawner.version.clone()),
        (
            "PASSENGER_PASSENGER_ROOT".into(),
            spawner.ferry_root.display().to_string(),
        ),
        (
            "PASSENGER_SERVER_INSTANCE_DIR".into(),
            instance.display().to_string(),
        ),
    ]);
    Ok(spawner)
}

/// Ferry's root: `$FERRY_ROOT` when set (a binary built or installed away from the source
/// tree), else the nearest directory above the binary that holds `loaders/`, else the binary's
/// own directory.
fn ferry_root(exe: &std::path::Path) -> std::path::PathBuf {
    if let Some(root) = std::env::var_os("FERRY_ROOT").filter(|r| !r.is_empty()) {
        return root.into();
    }
    let dir = exe.parent().unwrap_or(std::path::Path::new("/"));
    dir.ancestors()
        .find(|d| d.join("loaders").is_dir())
        .unwrap_or(dir)
        .to_owned()
}

/// A directory that lives as long as this Ferry: `apps.s/` holds the apps' unix sockets.
#[derive(Debug)]
struct RuntimeDir {
    path: std::path::PathBuf,
}

impl RuntimeDir {
    fn create() -> Result<RuntimeDir, Error> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let tmp = std::env::temp_dir();
        let fail = |source| Error::RuntimeDir {
            dir: tmp.display().to_string(),
            source,
        };
        let path = tmp.join(format!("ferry.{}.{}", std::process::id(), unique_suffix()));
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(fail)?;
        let dir = RuntimeDir { path };
        let apps = dir.apps_dir();
        std::fs::create_dir(&apps).map_err(fail)?;
        // Apps running as other users create their sockets here: writable by all, sticky.
        std::fs::set_permissions(&apps, std::fs::Permissions::from_mode(0o1733)).map_err(fail)?;
        Ok(dir)
    }

    fn apps_dir(&self) -> std::path::PathBuf {
        self.path.join("apps.s")
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{nanos:08x}")
}
