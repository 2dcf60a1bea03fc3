//! Wires Ferry together: configuration → spawner → pool → front end, and shuts it all down.
//!
//! `main` and the integration tests both start Ferry through [`Ferry::start`], so what the tests
//! exercise is what the binary runs. It starts Ferry in stages, each a function:
//!
//! ```text
//!  bind_clients ── the client sockets (one per distinct address), their URLs
//!  open_access_log
//!  create_instance ── the instance directory (the registry `ferry status` reads)
//!  start_pool ── the runtime directory, metrics, the spawner, the pool with a group per app
//!  build_router ── every server and location, a Site per app mount, the health they report
//!  serve_direct ── direct process access on a loopback port
//!  serve_admin ── the admin API on the instance's socket, and the instance kept fresh
//!  serve_clients ── the client sockets served (at most --max-connections open at once, after
//!                   the open-files limit was raised at start), and the --pre-start requests sent
//!                   (and, with a health location, the apps readiness waits for started)
//! ```
//!
//! Stopping (issue 18): [`Running::delay_shutdown`] first, SIGTERM's shutdown delay, during which
//! the health locations answer 503 while everything is still served; then [`Running::shutdown`].
//!
//! Shutdown order matters for "never drop a request": first stop accepting, then let every open
//! connection finish the request it is serving (bounded by the drain grace period), and only then
//! stop the app processes, which are reaped before [`Running::shutdown`] returns.

mod admin;
mod error;
mod health;
mod open_files;
mod options;
mod pre_start;
mod runtime_dir;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_admin::registry::InstanceDir;
use ferry_config::deployment::{Deployment, ListenAddress, Mount, PassengerRoute};
use ferry_front::{
    AccessLog, BoundListener, ConnectionLimit, DirectAccess, Health, Inflight, Listener, Observers,
    Router, Site,
};
use ferry_metrics::{MeteredSpawner, Metrics};
use ferry_pool::{GroupId, Pool};
use ferry_spawn::DirectSpawner;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use admin::LogControl;
pub use error::Error;
pub use options::{Programs, RESTART_CHECK_INTERVAL, STOP_GRACE};

use admin::FerryPool;
use runtime_dir::RuntimeDir;

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Entry point.
#[derive(Debug)]
pub struct Ferry;

/// A running Ferry.
#[derive(Debug)]
pub struct Running {
    urls: Vec<String>,
    pool: FerryPool,
    runtime_dir: RuntimeDir,
    /// Held for Ferry's life; dropping it removes the instance directory.
    instance: InstanceDir,
    access_log: Option<Arc<AccessLog>>,
    serving: Serving,
    // Issue 18, health:
    /// What the health locations answer; stopping sets it to 503.
    health: Arc<Health>,
    /// How long to keep serving after SIGTERM, the health locations answering 503.
    shutdown_delay: Duration,
}

/// What Ferry needs besides the deployment to be observable.
#[derive(Clone)]
pub struct Admin {
    /// Ferry's own log, for `ferry log-level` and `ferry reopen-logs`.
    pub log: Arc<dyn LogControl>,
    /// The configuration file Ferry was started with, for `properties.json`.
    pub config_file: Option<PathBuf>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("config_file", &self.config_file)
            .finish_non_exhaustive()
    }
}

/// The client sockets, bound.
struct Clients {
    /// The addresses bound (a specific address a wildcard serves is not among them).
    sockets: Vec<ListenAddress>,
    bound: Vec<BoundListener>,
    /// Their URLs, as `ferry: listening on` prints them.
    urls: Vec<String>,
}

/// The app side: its runtime directory and the pool, with a group per app.
struct Apps {
    runtime_dir: RuntimeDir,
    metrics: Arc<Metrics>,
    /// The pool's spawner (a clone sharing its state), for the preloaders' status.
    spawner: DirectSpawner,
    pool: FerryPool,
    /// The pool group of each of the deployment's apps, in order.
    groups: Vec<GroupId>,
    /// Where request bodies beyond the memory buffer go by default (the instance's `tmp/`).
    body_temp_dir: PathBuf,
}

/// The serving tasks, and how to stop them.
#[derive(Debug)]
struct Serving {
    /// Cancelled at shutdown: the listeners stop accepting.
    stop: CancellationToken,
    /// The accept loops (and the admin API, the instance's upkeep, the pre-start requests).
    listeners: TaskTracker,
    /// The client connections (direct process access included).
    connections: TaskTracker,
    /// The cap on client connections, shared by every client socket (issue 16).
    limit: Arc<ConnectionLimit>,
}

// === impl Ferry ===

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
        // Issue 16, connection side: before any socket is opened.
        let open_files = open_files::raise();
        // Issue 19, TLS: certificates and keys read before any socket is opened.
        let tls = ferry_front::TlsConfigs::load(&deployment)?;
        let certificates = certificate_statuses(&tls);
        let clients = bind_clients(&deployment).await?;
        let access_log = open_access_log(&deployment)?;
        let instance = create_instance(&deployment, &admin, &clients.urls)?;
        let apps = start_pool(&deployment, &instance, programs)?;
        let inflight = Arc::new(Inflight::default());
        let observers = Observers {
            metrics: Arc::clone(&apps.metrics),
            access_log: access_log.clone(),
            inflight: Arc::clone(&inflight),
        };
        let (router, health, to_start) =
            build_router(&deployment, &clients.sockets, &apps, observers, tls);
        let serving = Serving {
            stop: CancellationToken::new(),
            listeners: TaskTracker::new(),
            connections: TaskTracker::new(),
            limit: ConnectionLimit::new(open_files::max_connections(
                open_files,
                deployment.max_connections,
            )),
        };
        let direct_url = serve_direct(&deployment, &apps, &serving).await?;
        let backend = admin::Backend {
            pool: apps.pool.clone(),
            spawner: apps.spawner.clone(),
            instance_name: instance.name().to_owned(),
            started_at: instance.properties().started_at,
            listeners: clients.urls.clone(),
            metrics: Arc::clone(&apps.metrics),
            log: admin.log,
            access_log: access_log.clone(),
            direct_url: direct_url.clone(),
            inflight,
            // Issue 18, health:
            health: Arc::clone(&health),
            // Issue 19, TLS:
            certificates,
        };
        serve_admin(&instance, backend, &apps.metrics, &serving).await?;
        serve_clients(clients.bound, router, &deployment, &serving);
        // Issue 18, health:
        for group in to_start {
            serving.listeners.spawn(health::start_app(
                apps.pool.clone(),
                group,
                serving.stop.clone(),
            ));
        }
        serving.listeners.close();
        tracing::info!(
            instance = instance.name(),
            dir = %instance.path().display(),
            direct = %direct_url,
            "admin socket ready (ferry status); direct process access on the loopback address"
        );
        Ok(Running {
            urls: clients.urls,
            pool: apps.pool,
            runtime_dir: apps.runtime_dir,
            instance,
            access_log,
            serving,
            // Issue 18, health:
            health,
            shutdown_delay: deployment.shutdown_delay,
        })
    }
}

// === the stages of Ferry::start ===

/// Binds one socket per distinct client address.
async fn bind_clients(deployment: &Deployment) -> Result<Clients, Error> {
    let sockets = ferry_front::sockets(&deployment.listens);
    let mut bound = Vec::with_capacity(sockets.len());
    for socket in &sockets {
        bound.push(bind(socket).await?);
    }
    // Issue 19, TLS: `https://` for a socket that speaks TLS.
    let urls = bound
        .iter()
        .zip(&sockets)
        .map(|(listener, socket)| listener.url_with(deployment.protocols(socket).tls))
        .collect();
    Ok(Clients {
        sockets,
        bound,
        urls,
    })
}

/// The access log, when one is configured.
fn open_access_log(deployment: &Deployment) -> Result<Option<Arc<AccessLog>>, Error> {
    let Some(path) = &deployment.observability.access_log else {
        return Ok(None);
    };
    let log = AccessLog::open(path).map_err(|source| Error::AccessLog {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Some(Arc::new(log)))
}

/// The instance directory, where `ferry status` finds this Ferry.
fn create_instance(
    deployment: &Deployment,
    admin: &Admin,
    urls: &[String],
) -> Result<InstanceDir, Error> {
    let instance = InstanceDir::create(
        &ferry_admin::registry::InstanceOptions {
            registry_dir: deployment.observability.instance_registry_dir.clone(),
            name: None,
            version: env!("CARGO_PKG_VERSION").into(),
            description: describe(deployment, admin.config_file.as_deref()),
            listeners: urls.to_vec(),
            config_file: admin.config_file.clone(),
        },
        &ferry_admin::registry::RegistryEnv::from_process(),
    )?;
    Ok(instance)
}

/// The runtime directory, the metrics, the spawner (running `programs`, timed for the metrics)
/// and the pool, with a group per app. No process starts yet.
fn start_pool(
    deployment: &Deployment,
    instance: &InstanceDir,
    programs: Programs,
) -> Result<Apps, Error> {
    let runtime_dir = RuntimeDir::create()?;
    let spawner_config =
        options::spawner_config(&deployment.hooks, &runtime_dir, instance.path(), programs)?;
    let pool_config = options::pool_config(deployment, &spawner_config);
    let ferry_root = spawner_config.ferry_root.clone();
    let metrics = Arc::new(if deployment.observability.metrics {
        Metrics::new(deployment.apps.iter().map(|a| a.group_name.clone()))
    } else {
        Metrics::disabled()
    });
    let spawner = DirectSpawner::new(spawner_config);
    let metered = MeteredSpawner::new(Arc::new(spawner.clone()), Arc::clone(&metrics));
    let pool = Pool::new(Arc::new(metered), pool_config);
    let groups = deployment
        .apps
        .iter()
        .map(|app| {
            let spawn = options::spawn_options(app, deployment.log_level, &ferry_root);
            pool.add_group(options::group_config(app, spawn))
        })
        .collect();
    Ok(Apps {
        runtime_dir,
        metrics,
        spawner,
        pool,
        groups,
        body_temp_dir: options::body_temp_dir(instance.path()),
    })
}

/// The router of every server and location, with a site for each app mount; the health its
/// health locations report, and the groups to start at once for it.
fn build_router(
    deployment: &Deployment,
    sockets: &[ListenAddress],
    apps: &Apps,
    observers: Observers,
    tls: ferry_front::TlsConfigs,
) -> (Arc<Router>, Arc<Health>, Vec<GroupId>) {
    let metrics = &apps.metrics;
    let mut router = Router::new(deployment, sockets, observers, |mount, route| {
        let app = &deployment.apps[mount.app];
        let mut config = options::site_config(app, mount, route, &apps.body_temp_dir);
        config.metrics = Arc::clone(metrics);
        config.metrics_app = metrics.app(&app.group_name);
        Site::new(apps.pool.clone(), apps.groups[mount.app], &config)
    })
    .with_tls(tls);
    // Issue 18, health:
    let (health, to_start) = health::build(deployment, &router, sockets, &apps.pool, &apps.groups);
    router.set_health(Arc::clone(&health));
    (Arc::new(router), health, to_start)
}

/// Direct process access (seed 000 §10.4) on a loopback port of its own; its URL.
async fn serve_direct(
    deployment: &Deployment,
    apps: &Apps,
    serving: &Serving,
) -> Result<String, Error> {
    let listener = bind(&ListenAddress::Tcp {
        host: "127.0.0.1".into(),
        port: 0,
    })
    .await?;
    let url = listener.url();
    let direct = Arc::new(DirectAccess::new(
        apps.pool.clone(),
        direct_sites(deployment, apps),
    ));
    serving.listeners.spawn(listener.serve(
        direct,
        0,
        serving.stop.clone(),
        serving.connections.clone(),
        Arc::clone(&serving.limit),
    ));
    Ok(url)
}

/// A site per app group for direct access: no files, no base URI.
fn direct_sites(deployment: &Deployment, apps: &Apps) -> HashMap<String, Arc<Site>> {
    deployment
        .apps
        .iter()
        .zip(&apps.groups)
        .map(|(app, &group)| {
            let direct = PassengerRoute::direct();
            let mut config =
                options::site_config(app, &Mount::direct(), &direct, &apps.body_temp_dir);
            config.public_dir = None;
            let site = Site::new(apps.pool.clone(), group, &config);
            (app.group_name.clone(), site)
        })
        .collect()
}

/// The admin API on the instance's socket, served by `backend`; and the instance directory kept
/// fresh.
async fn serve_admin(
    instance: &InstanceDir,
    backend: admin::Backend,
    metrics: &Arc<Metrics>,
    serving: &Serving,
) -> Result<(), Error> {
    let socket = instance.admin_socket_path().to_path_buf();
    let listener =
        ferry_admin::server::bind(&socket)
            .await
            .map_err(|source| Error::AdminSocket {
                path: socket.display().to_string(),
                source,
            })?;
    let api = ferry_admin::server::AdminServer::new(
        Arc::new(backend),
        ferry_admin::server::ApiConfig::for_instance(instance, Arc::clone(metrics)),
    );
    let stop = serving.stop.clone();
    serving
        .listeners
        .spawn(ferry_admin::server::serve(listener, api, stop.clone()));
    serving
        .listeners
        .spawn(keep_fresh(instance.path().to_path_buf(), stop));
    Ok(())
}

/// Serves the client sockets through `router`, and sends the `--pre-start` requests (to the
/// first socket) in the background.
fn serve_clients(
    bound: Vec<BoundListener>,
    router: Arc<Router>,
    deployment: &Deployment,
    serving: &Serving,
) {
    let own = match (deployment.pre_start.is_empty(), bound.first()) {
        (false, Some(first)) => Some(pre_start::Target::own(first)),
        _ => None,
    };
    for (index, listener) in bound.into_iter().enumerate() {
        serving.listeners.spawn(listener.serve(
            Arc::clone(&router),
            index,
            serving.stop.clone(),
            serving.connections.clone(),
            Arc::clone(&serving.limit),
        ));
    }
    match own {
        Some(Ok(own)) => {
            serving.listeners.spawn(pre_start::run(
                deployment.pre_start.clone(),
                own,
                serving.stop.clone(),
            ));
        }
        Some(Err(error)) => tracing::warn!(%error, "cannot send the pre-start requests"),
        None => {}
    }
}

// Issue 19, TLS:
/// The certificates served, as `ferry status` and `/metrics` show them.
fn certificate_statuses(
    tls: &ferry_front::TlsConfigs,
) -> Vec<ferry_admin::types::CertificateStatus> {
    tls.certificates()
        .iter()
        .map(|c| ferry_admin::types::CertificateStatus {
            file: c.file.display().to_string(),
            origin: c.origin.clone(),
            subject: c.subject.clone(),
            not_after: c.not_after,
        })
        .collect()
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

// === impl Running ===

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

    // Issue 18, health:
    /// The first phase of stopping: the health locations answer 503 from now on, and for the
    /// shutdown delay (`--shutdown-delay`, `passenger_shutdown_delay`) Ferry keeps accepting and
    /// serving, so that load balancers stop sending first; `skip` ending (a second SIGTERM) cuts
    /// the delay short. Then call [`shutdown`](Self::shutdown).
    pub async fn delay_shutdown(&self, skip: impl std::future::Future<Output = ()>) {
        self.health.begin_stopping();
        let delay = self.shutdown_delay;
        if delay.is_zero() {
            return;
        }
        tracing::info!(
            "shutdown delay: the health path answers 503; still accepting and serving for {delay:?}"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => tracing::info!("shutdown delay over"),
            () = skip => tracing::info!("shutdown delay cut short by a second signal"),
        }
    }

    /// Stops gracefully: no new connections; in-flight requests finish (at most `drain` long);
    /// then every app process is stopped and reaped.
    pub async fn shutdown(self, drain: Duration) {
        tracing::info!("shutting down: finishing in-flight requests");
        // Issue 18, health: 503 while in-flight requests finish, whatever came before.
        self.health.begin_stopping();
        let Serving {
            stop,
            listeners,
            connections,
            limit: _,
        } = self.serving;
        stop.cancel();
        listeners.wait().await;
        connections.close();
        if tokio::time::timeout(drain, connections.wait())
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
