//! Spawning app processes: Ferry's SpawningKit.
//!
//! This crate owns the life of every app process Ferry starts: it prepares the spawn, forks and
//! execs it through the environment setupper, performs the handshake until the process can take
//! requests, supervises it (capturing its output, reaping it) and stops it. It knows nothing of
//! HTTP or of the pool. A spawner in this process implements [`Spawner`]; the pool holds any
//! spawner as a [`SpawnService`], the object-safe seam that a fake drives in tests and that a
//! remote spawner (a privileged supervisor process) can implement later.
//!
//! A spawn walks a [`Journey`] of named [`Step`]s (SpawningKit's vocabulary, so logs, errors, error
//! pages and the work directory use the same words). Ferry and the subprocess talk through a
//! *work directory* (seed 004, "The work directory"): Ferry writes the spawn arguments there, the
//! subprocess answers with `response/finish`, `response/properties.json`, its steps and, when it
//! fails, `response/error/`. A failure is a [`SpawnError`], SpawningKit's error report, which
//! [`page`] renders as a friendly or terse HTML page.
//!
//! The subprocess side lives here too: [`setupper`] is the SpawnEnvSetupper that the `ferry`
//! binary runs (hidden subcommand `spawn-env-setupper`) between fork and the app.

// A `SpawnError` is a full report (journey, output, environment dumps): large, but built at most
// once per failed spawn, where its size costs nothing that matters.
#![allow(clippy::result_large_err)]

mod args;
mod attempt;
mod category;
mod descriptions;
mod direct;
mod error;
mod handle;
mod handshake;
pub mod hooks;
mod html;
mod journey;
mod launch;
mod output;
pub mod page;
mod pidfd;
mod preloader;
mod promote;
mod properties;
mod report;
pub mod setupper;
mod sys;
pub mod user;
mod workdir;

/// Entry points for the fuzz targets in `fuzz/`, kept in the crate so unit tests run them too
/// (not a stable API).
#[doc(hidden)]
pub mod fuzz_logic {
    /// Parses the files a subprocess writes into its work directory (a step's files,
    /// `response/error/*`, `envdump/*`, given as one input split at `0x1f` bytes), panicking if
    /// an invariant breaks (every time finite and bounded, summaries trimmed).
    pub fn work_dir_response(input: &[u8]) {
        crate::workdir::check_invariants(input);
    }
}

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use category::Category;
pub use direct::DirectSpawner;
pub use error::{Description, EnvDump, SpawnError};
pub use ferry_protocol::{Concurrency, Endpoint, Protocol};
pub use handle::{ExitInfo, ProcessHandle, ProcessRequest, ProcessStub, StopMode};
pub use hooks::Hooks;
pub use journey::{Actor, Journey, JourneyType, Step, StepRecord, StepState};
pub use output::OutputTail;
pub use preloader::PreloaderInfo;
pub use user::{Account, UserSwitching};

/// How the spawned program takes part in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    /// A generic app: it knows nothing of SpawningKit. Ferry gives it a port in `$PORT` and waits
    /// until the port accepts (or until it writes `finish` anyway).
    Generic,
    /// A SpawningKit-enabled start: a language loader (wrapper) or an app that writes
    /// `response/properties.json` and `response/finish` itself.
    SpawningKit {
        /// The start command runs a wrapper that loads the app from `startup_file`.
        wrapper: bool,
    },
}

/// How worker processes of an app are started (`passenger_spawn_method`, seed 000 §8.3.10, §15).
/// The configuration's value is `ferry_config::SpawnMethod`, which parses it; `ferry-app` maps
/// it to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpawnMethod {
    /// Load the app once in a *preloader*, then fork every worker from it: workers start in
    /// milliseconds and share the preloader's memory copy-on-write. Ferry's Ruby and Python
    /// loaders support it.
    Smart,
    /// Start every worker from its start command.
    #[default]
    Direct,
}

// === impl SpawnMethod ===

impl SpawnMethod {
    /// The configuration name: `smart` or `direct`.
    pub fn name(self) -> &'static str {
        match self {
            SpawnMethod::Smart => "smart",
            SpawnMethod::Direct => "direct",
        }
    }
}

impl std::fmt::Display for SpawnMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything needed to start one process of an app.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// The app's root directory; the process's working directory.
    pub app_root: PathBuf,
    /// The app group's name (normally the app root, plus the environment when configured).
    pub app_group_name: String,
    /// Passenger's app type name: `nodejs`, `ruby`, `python`, or empty for generic apps.
    pub app_type: String,
    /// The command that starts the app (or its wrapper), run as `/bin/sh -c "exec <command>"`.
    pub start_command: String,
    /// The app's startup file, absolute (`config.ru`, `passenger_wsgi.py`, `app.js`).
    pub startup_file: Option<PathBuf>,
    /// How the started program takes part in the handshake.
    pub kind: AppKind,
    /// The app's environment (`production`, ...), exported as `PASSENGER_APP_ENV` and friends.
    pub environment: String,
    /// The URI the app is mounted at (`/` for the root).
    pub base_uri: String,
    /// Longest time the whole journey may take.
    pub start_timeout: Duration,
    /// Extra environment variables, applied last (they override Ferry's own).
    pub env: Vec<(String, String)>,
    /// Which account the process runs as.
    pub user_switching: UserSwitching,
    /// Run the app through the user's login shell so that its profile's variables apply.
    pub load_shell_envvars: bool,
    /// `RLIMIT_NOFILE` for the process, if set.
    pub file_descriptor_ulimit: Option<u64>,
    /// The process title a loader should set (`Passenger RubyApp`, ...).
    pub process_title: Option<String>,
    /// Passenger-style log level 0..=7, passed to loaders.
    pub log_level: u8,
    /// Extra or overriding `args.json` entries (e.g. `node_libdir` to run Passenger's own loader).
    pub extra_args: Vec<(String, serde_json::Value)>,
    /// Direct, or through a preloader (only for a SpawningKit start with a wrapper: Ferry's Ruby
    /// and Python loaders).
    pub spawn_method: SpawnMethod,
    /// A preloader idle this long is stopped; a later spawn starts a new one. Zero: never.
    pub max_preloader_idle_time: Duration,
    /// When a smart spawn fails, log it and try a direct spawn instead of failing.
    pub smart_fallback_to_direct: bool,
    /// The app's restart generation (the pool's counter, raised by every restart). A preloader
    /// started for an older generation is replaced, so a restart reloads the app's code.
    pub restart_generation: u64,
}

/// Passenger's default `max_preloader_idle_time`: five minutes.
pub const DEFAULT_MAX_PRELOADER_IDLE_TIME: Duration =
    Duration::from_secs(ferry_config::defaults::MAX_PRELOADER_IDLE_TIME_SECS);

/// Settings shared by every spawn of one Ferry.
#[derive(Debug, Clone)]
pub struct SpawnerConfig {
    /// The program and leading arguments that run the environment setupper in the child, e.g.
    /// `["/usr/bin/ferry", "spawn-env-setupper"]`; the work directory and `--before` follow.
    pub setupper: Vec<OsString>,
    /// Where work directories are created (default: `/dev/shm` when usable, else the system
    /// temp dir).
    pub spawn_dir: PathBuf,
    /// Where loaders create their unix sockets (`socket_dir`); must be writable by app users.
    pub socket_dir: PathBuf,
    /// This Ferry's instance directory, if it has one.
    pub instance_dir: Option<PathBuf>,
    /// Ferry's root (where `loaders/` live), `passenger_root` to loaders and hooks.
    pub ferry_root: PathBuf,
    /// Ferry's version, `passenger_version` to loaders and hooks.
    pub version: String,
    /// `SERVER_SOFTWARE` for app processes.
    pub server_software: String,
    /// Hook scripts (`spawn_failed` fires here).
    pub hooks: Hooks,
    /// Where the full report of a failed spawn is saved as HTML (`None`: not saved).
    pub error_dir: Option<PathBuf>,
}

/// A process that finished its journey and can take requests.
#[derive(Debug)]
pub struct Spawned {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// What it speaks there.
    pub protocol: Protocol,
    /// How many requests it takes at once.
    pub concurrency: Concurrency,
    /// The secret the process expects in every request (`PASSENGER_CONNECT_PASSWORD` in the
    /// `session` protocol, `X-Passenger-Connect-Password` for direct access).
    pub connect_password: String,
    /// The uid that must be serving a unix-socket endpoint (the app's account): checked
    /// (`SO_PEERCRED`) on every new connection, because the socket's path lies in a directory the
    /// app's user can write, and a path swapped for another service's socket must never receive
    /// a client's request. `None`: not checked (TCP endpoints; fakes in tests).
    pub peer_uid: Option<u32>,
    /// Controls the process: stop it, learn when it exits.
    pub handle: ProcessHandle,
    /// The journey it walked, with step timings.
    pub journey: Journey,
}

/// A worker handed to the spawner to become its app's template (re-forking, `refork_after`):
/// later workers of the app are forked from it instead of from the cold preloader.
#[derive(Debug)]
pub struct Promotion {
    /// Where the worker takes requests (a unix socket: Ferry's loaders).
    pub endpoint: Endpoint,
    /// The secret the worker expects (`Spawned::connect_password`).
    pub connect_password: String,
    /// The uid that must serve the worker's socket (`Spawned::peer_uid`).
    pub peer_uid: Option<u32>,
    /// Controls the worker. The spawner keeps it as the template's handle: stopping the template
    /// (idle, replaced, shutdown) stops the worker; dropping it, when the promotion fails, too.
    pub handle: ProcessHandle,
}

/// The template a promotion made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promoted {
    /// Its pid (the former worker's).
    pub pid: u32,
    /// How many workers have been promoted since the app's cold preloader started (1 for the
    /// first template).
    pub template_generation: u64,
}

/// Something that starts app processes in this process.
///
/// Implemented by [`DirectSpawner`] for real processes, and by fakes in the pool's tests. Every
/// `Spawner` is also a [`SpawnService`], which is what the pool holds.
pub trait Spawner: Send + Sync + 'static {
    /// Starts one process and waits until it can take requests or the spawn fails.
    fn spawn(
        &self,
        options: &SpawnOptions,
    ) -> impl Future<Output = Result<Spawned, SpawnError>> + Send;

    /// Aborts spawns in progress and waits until every process this spawner started has been
    /// reaped. Called once, when Ferry shuts down, after the pool has asked its processes to stop.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;

    /// Makes `worker`, a process of `options`' app that serves no request now, the app's template:
    /// it stops taking requests and becomes the preloader later spawns fork from. The error says
    /// why not (the worker's handle has then been dropped, which stops it). Spawners without
    /// preloaders cannot.
    fn promote(
        &self,
        options: &SpawnOptions,
        worker: Promotion,
    ) -> impl Future<Output = Result<Promoted, String>> + Send {
        let _ = options;
        drop(worker);
        std::future::ready(Err("this spawner cannot re-fork".to_owned()))
    }
}

/// A future boxed so that a trait object can return it, as [`SpawnService`] does.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The spawner as the pool holds it (`Arc<dyn SpawnService>`): object-safe, so that neither the
/// pool nor the front end is generic over the spawner, and shaped so that spawning can move out
/// of this process.
///
/// Every [`Spawner`] is a `SpawnService` (a blanket impl boxes its futures; one allocation per
/// spawn). Wrappers such as `ferry_metrics::MeteredSpawner` hold another `Arc<dyn SpawnService>`.
///
/// # What an implementation provides
///
/// The inputs are owned plain data and the outputs are values or channels, so that an
/// implementation may be a client of a spawner in another process (the privileged supervisor of
/// a later design, reached over a unix socket). Such a remote implementation must:
///
/// - **spawn**: send the [`SpawnOptions`] (paths, strings, numbers, durations and JSON values:
///   serializable as they are) and complete with the process's [`Spawned`] once it can take
///   requests, or with the [`SpawnError`] report (journey, output, descriptions) when it cannot.
///   The report has already been logged and saved by the side that spawned; the pool only shows
///   it to clients.
/// - **control each process through its [`ProcessHandle`]**: make the handle with
///   [`ProcessHandle::stub`] and play the [`ProcessStub`]'s side: forward every [`ProcessRequest`]
///   ([`ProcessStub::next_request`]: stops, escalations, backtraces) to the process's
///   supervisor, which alone signals the process and never once it has reaped it; and report
///   the exit ([`ProcessStub::exit`]) only once the supervisor has reaped the process, since
///   the pool frees the process's place on that report. When the connection to the remote
///   side is lost, that side must kill and reap the processes it started for this client, and
///   the client reports them exited: a process nobody controls must not live on (as when a
///   handle is dropped).
/// - **shutdown**: abort the spawns in progress and complete only when every process it started
///   has been reaped. The pool calls it once, after asking its processes to stop.
///
/// Dropping a spawn's future (Ferry stopping) may abandon the spawn; shutdown still reaps what
/// it started.
pub trait SpawnService: Send + Sync + 'static {
    /// Starts one process of `options`' app and completes when it can take requests or the
    /// spawn has failed.
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Spawned, SpawnError>>;

    /// Aborts spawns in progress and completes once every process this service started has been
    /// reaped.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// [`Spawner::promote`]: makes a drained worker its app's template. A remote implementation
    /// plays the worker's handle ([`Promotion::handle`]) as its new owner and keeps forwarding
    /// its stops. The default cannot (and drops the handle, which stops the worker).
    fn promote(
        &self,
        options: SpawnOptions,
        worker: Promotion,
    ) -> BoxFuture<'_, Result<Promoted, String>> {
        let _ = options;
        drop(worker);
        Box::pin(std::future::ready(Err(
            "this spawner cannot re-fork".to_owned()
        )))
    }
}

impl<S: Spawner> SpawnService for S {
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Spawned, SpawnError>> {
        Box::pin(async move { Spawner::spawn(self, &options).await })
    }

    fn promote(
        &self,
        options: SpawnOptions,
        worker: Promotion,
    ) -> BoxFuture<'_, Result<Promoted, String>> {
        Box::pin(async move { Spawner::promote(self, &options, worker).await })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Spawner::shutdown(self))
    }
}

// === impl SpawnError ===

impl SpawnError {
    /// This error's page, for a client whose request it failed ([`page`]): with `details`, the
    /// friendly page (the failed step, the app's output); without, the terse page with the error
    /// id. `program` is the product name shown on it, normally `"Ferry"`.
    pub fn page(&self, details: bool, program: &str) -> String {
        if details {
            page::render_friendly(self, program)
        } else {
            page::render_terse(self, program)
        }
    }
}

// === impl SpawnOptions ===

impl SpawnOptions {
    /// Options for a generic app started by `start_command` in `app_root`, with Passenger's
    /// defaults for everything else.
    pub fn generic(app_root: impl Into<PathBuf>, start_command: impl Into<String>) -> Self {
        let app_root = app_root.into();
        SpawnOptions {
            app_group_name: app_root.display().to_string(),
            app_root,
            app_type: String::new(),
            start_command: start_command.into(),
            startup_file: None,
            kind: AppKind::Generic,
            environment: ferry_config::defaults::APP_ENV.into(),
            base_uri: "/".into(),
            start_timeout: Duration::from_secs(ferry_config::defaults::START_TIMEOUT_SECS),
            env: Vec::new(),
            user_switching: UserSwitching::default(),
            load_shell_envvars: false,
            file_descriptor_ulimit: None,
            process_title: None,
            log_level: ferry_config::defaults::LOG_LEVEL,
            extra_args: Vec::new(),
            spawn_method: SpawnMethod::Direct,
            max_preloader_idle_time: DEFAULT_MAX_PRELOADER_IDLE_TIME,
            smart_fallback_to_direct: false,
            restart_generation: 0,
        }
    }

    /// Whether a spawn with these options goes through a preloader: smart spawning was asked for
    /// and the start command is a language loader (a generic app cannot be preloaded).
    pub fn uses_preloader(&self) -> bool {
        self.spawn_method == SpawnMethod::Smart
            && matches!(self.kind, AppKind::SpawningKit { wrapper: true })
    }

    /// The file whose owner decides the app's user: the startup file, or the app root when
    /// there is none (generic apps).
    pub fn owner_path(&self) -> &std::path::Path {
        self.startup_file.as_deref().unwrap_or(&self.app_root)
    }
}

// === impl SpawnerConfig ===

impl SpawnerConfig {
    /// Settings for a spawner whose setupper is run as `setupper...`.
    pub fn new(setupper: Vec<OsString>) -> Self {
        let tmp = std::env::temp_dir();
        SpawnerConfig {
            setupper,
            socket_dir: tmp,
            spawn_dir: default_spawn_dir(),
            instance_dir: None,
            ferry_root: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .components()
                .collect(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            server_software: format!("Ferry/{}", env!("CARGO_PKG_VERSION")),
            hooks: Hooks::default(),
            error_dir: None,
        }
    }
}

/// Work directories are created and deleted at every spawn: a memory file system (`/dev/shm`,
/// world-writable and sticky like `/tmp`) makes that cheap; the system temp dir otherwise.
fn default_spawn_dir() -> PathBuf {
    use nix::unistd::{access, AccessFlags};
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && access(&shm, AccessFlags::W_OK | AccessFlags::X_OK).is_ok() {
        shm
    } else {
        std::env::temp_dir()
    }
}
