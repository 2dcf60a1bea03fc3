//! The admin API's view of a running Ferry: the [`AdminBackend`] over the pool, the logs and
//! the instance's facts. `Ferry::start` creates the instance directory, binds its socket and
//! serves the API with this backend (see `ferry_admin::server` for who may do what).

use std::sync::Arc;
use std::time::SystemTime;

use ferry_admin::pool::{LiveProc, PoolState, PreloaderState};
use ferry_admin::server::{AdminBackend, AdminError};
use ferry_admin::types::{RequestInfo, RestartMethod, ServerInfo, API_VERSION};
use ferry_front::{AccessLog, AppConnection, Health, Inflight};
use ferry_metrics::Metrics;
use ferry_pool::Pool;
use ferry_spawn::DirectSpawner;

/// The pool Ferry runs, keeping the front end's connections to its processes.
pub(crate) type FerryPool = Pool<AppConnection>;

/// What the admin API may do to Ferry's own log; `main` implements it over its logger.
pub trait LogControl: Send + Sync + 'static {
    /// The log level now, 0..=7 (Passenger's scale).
    fn level(&self) -> u8;
    /// Sets the log level.
    ///
    /// # Errors
    ///
    /// Why it could not be changed.
    fn set_level(&self, level: u8) -> Result<(), String>;
    /// Reopens the log file (after rotation); nothing to do when logging to stderr.
    ///
    /// # Errors
    ///
    /// Why it could not be reopened.
    fn reopen(&self) -> Result<(), String>;
}

/// The backend of the admin API.
pub(crate) struct Backend {
    pub(crate) pool: FerryPool,
    /// The pool's spawner (a clone sharing its state), for its preloaders.
    pub(crate) spawner: DirectSpawner,
    pub(crate) instance_name: String,
    pub(crate) started_at: u64,
    pub(crate) listeners: Vec<String>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) log: Arc<dyn LogControl>,
    pub(crate) access_log: Option<Arc<AccessLog>>,
    /// Where direct process access listens (every process's URL).
    pub(crate) direct_url: String,
    pub(crate) inflight: Arc<Inflight>,
    // Issue 18, health:
    /// What the health locations answer: `ferry drain` flips it.
    pub(crate) health: Arc<Health>,
    // Issue 19, TLS:
    /// The certificates served.
    pub(crate) certificates: Vec<ferry_admin::types::CertificateStatus>,
}

impl AdminBackend for Backend {
    fn pool_state(&self) -> PoolState {
        let mut state = PoolState::from_snapshot(
            env!("CARGO_PKG_VERSION"),
            self.pool.max_pool_size(),
            &self.pool.snapshot(),
            &LiveProc,
            SystemTime::now(),
        );
        // A process is reached directly through Ferry's direct-access address, with its
        // connect password (`ferry_front::DirectAccess`); its own socket is private.
        for process in state.groups.iter_mut().flat_map(|g| g.processes.iter_mut()) {
            process.url.clone_from(&self.direct_url);
        }
        for preloader in self.spawner.preloaders() {
            if let Some(group) = state
                .groups
                .iter_mut()
                .find(|g| g.name == preloader.app_group_name)
            {
                group.preloader = Some(PreloaderState {
                    pid: preloader.pid,
                    idle_secs: preloader.idle.as_secs(),
                    workers_spawned: preloader.workers_spawned,
                    generation: preloader.generation,
                    // Issue 22, refork:
                    reforked: preloader.template_generation > 0,
                    template_generation: preloader.template_generation,
                });
            }
        }
        state
    }

    fn server_info(&self) -> ServerInfo {
        ServerInfo {
            pid: std::process::id(),
            program_name: "ferry".into(),
            program_version: env!("CARGO_PKG_VERSION").into(),
            api_version: API_VERSION.into(),
            instance_name: self.instance_name.clone(),
            started_at: self.started_at,
            listeners: self.listeners.clone(),
            log_level: self.log.level(),
            metrics_enabled: self.metrics.is_enabled(),
            // Issue 18, health:
            draining: self.health.is_draining(),
            stopping: self.health.is_stopping(),
            // Issue 19, TLS:
            certificates: self.certificates.clone(),
        }
    }

    fn requests(&self) -> Vec<RequestInfo> {
        self.inflight
            .snapshot()
            .into_iter()
            .map(|r| RequestInfo {
                app: r.app,
                method: r.method,
                path: r.path,
                state: r.state.to_owned(),
                pid: r.pid,
                age_secs: r.age.as_secs_f64(),
            })
            .collect()
    }

    fn restart_app(&self, group: &str, method: RestartMethod) -> Result<(), AdminError> {
        tracing::info!(group, ?method, "restart requested through the admin API");
        if self
            .pool
            .restart_by_name(group, method == RestartMethod::Rolling)
        {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!(
                "no app group is named {group}"
            )))
        }
    }

    fn detach_process(&self, pid: u32) -> Result<bool, AdminError> {
        tracing::info!(pid, "detach requested through the admin API");
        Ok(self.pool.detach_pid(pid))
    }

    fn reopen_logs(&self) -> Result<(), AdminError> {
        self.log.reopen().map_err(AdminError::Failed)?;
        if let Some(access_log) = &self.access_log {
            access_log
                .reopen()
                .map_err(|e| AdminError::Failed(format!("cannot reopen the access log: {e}")))?;
        }
        tracing::info!("log files reopened");
        Ok(())
    }

    // Issue 18, health:
    fn set_draining(&self, draining: bool) -> Result<(), AdminError> {
        let was = self.health.set_draining(draining);
        match (was, draining) {
            (false, true) => {
                tracing::info!("draining (ferry drain): the health path answers 503, requests are still served");
            }
            (true, false) => {
                tracing::info!("undrained (ferry undrain): the health path answers as before")
            }
            _ => tracing::info!(draining, "drain state unchanged"),
        }
        Ok(())
    }

    fn set_log_level(&self, level: u8) -> Result<(), AdminError> {
        self.log.set_level(level).map_err(AdminError::Failed)?;
        tracing::info!(level, "log level changed through the admin API");
        Ok(())
    }

    /// Ferry has no stack traces of its async tasks to give; what tells where it is stuck is
    /// each thread's name, state and kernel wait channel, from `/proc/self/task`, plus the
    /// requests in progress.
    fn backtraces(&self) -> Result<String, AdminError> {
        use ferry_sys::proc::{own_threads, Task};
        use std::fmt::Write as _;
        let mut out = String::from("Ferry's threads (from /proc/self/task):\n");
        let tids = own_threads()
            .map_err(|e| AdminError::Failed(format!("cannot read /proc/self/task: {e}")))?;
        for tid in tids {
            let task = Task::own_thread(tid);
            let unknown = || "?".to_owned();
            let state = task
                .stat()
                .map_or_else(unknown, |stat| stat.state.to_string());
            let _ = writeln!(
                out,
                "  thread {tid:<8} {:<16} state {state}   waiting in {}",
                task.comm().unwrap_or_else(unknown),
                task.wchan().unwrap_or_else(unknown)
            );
        }
        let requests = self.requests();
        let _ = writeln!(out, "\nRequests in progress: {}", requests.len());
        for r in requests {
            let pid = r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "  {} {} ({}, {}, process {pid}, {:.1}s)",
                r.method, r.path, r.app, r.state, r.age_secs
            );
        }
        Ok(out)
    }

    /// Through the pool and the process's handle: its supervisor sends the SIGQUIT, and never
    /// once it has reaped the process, so a recycled pid is never signalled.
    fn process_backtraces(&self, pid: u32) -> Result<String, AdminError> {
        let pool = self.pool_state();
        let group = pool
            .group_of_pid(pid)
            .ok_or_else(|| AdminError::NotFound(format!("no app process has pid {pid}")))?;
        if !matches!(group.app_type.as_str(), "ruby" | "python") {
            return Err(AdminError::Unsupported(format!(
                "process {pid} is a {} app; only Ruby and Python apps print backtraces",
                group.app_type
            )));
        }
        if !self.pool.backtraces(pid) {
            return Err(AdminError::NotFound(format!(
                "process {pid} has left the pool"
            )));
        }
        tracing::info!(pid, "asked for backtraces (SIGQUIT)");
        Ok(format!(
            "process {pid} ({}) was sent SIGQUIT: its threads' backtraces follow in Ferry's log \
             as \"App {pid} output:\" lines",
            group.name
        ))
    }
}
