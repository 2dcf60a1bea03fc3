//! Ferry started inside the test process, through `ferry_app::Ferry` as `main` starts it
//! (linkerd's `app` crate pattern): no binary to run, no stdout to parse.
//!
//! [`Builder`] takes what `ferry start APP_DIR` takes, as [`StartOptions`], and builds the
//! `Deployment` the way `ferry start` does (`ferry_config::gather` over the options, the
//! environment and the app's `Passengerfile.json`, then `resolve`). [`Ferry`] serves it on a
//! tokio runtime of its own, on a thread of its own, with its own log:
//!
//! - it listens on an OS-chosen port on 127.0.0.1, with its instance directory in a temporary
//!   registry, and runs apps as the test's own user, unless the test says otherwise;
//! - its log (what the binary writes to stderr) is kept for [`Ferry::log`] and
//!   [`Ferry::wait_for_log`], and its tail printed when it is dropped;
//! - dropping it shuts it down gracefully: in-flight requests finish, app processes are stopped
//!   and reaped. Every wait is bounded.
//!
//! App processes still start through the SpawnEnvSetupper, the `ferry` binary's hidden
//! `spawn-env-setupper` subcommand: a test executable cannot play that part, so the caller
//! names the binary (`env!("CARGO_BIN_EXE_ferry")` in the `ferry` crate's tests). The loaders are
//! this source tree's.
//!
//! What stays on the binary ([`crate::Ferry`]): tests of the command line, exit codes, the
//! `listening on` lines, signals, and anything measuring Ferry's own process (its memory, its
//! descendants: here those would be the test process's).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use ferry_app::{Programs, Running};
use ferry_config::deployment::Deployment;
use ferry_config::StartOptions;
use tokio::sync::{oneshot, watch};

use self::log::{dispatch, Log};

use crate::ferry::current_user;
use crate::{Listener, Result};

mod log;

/// How long in-flight requests may take to finish when a [`Ferry`] is dropped.
const DROP_DRAIN: Duration = Duration::from_secs(5);

/// How long dropping a [`Ferry`] waits for its shutdown: the drain, then stopping the apps
/// (`ferry_app::STOP_GRACE`, after which they are killed), with room to spare.
const DROP_WAIT: Duration = Duration::from_secs(30);

/// How many trailing log lines are printed when a [`Ferry`] is dropped.
const LOG_TAIL_LINES: usize = 200;

/// Builds an in-process Ferry; see [`Ferry::new`].
#[derive(Debug, Clone)]
pub struct Builder {
    setupper: PathBuf,
    options: StartOptions,
    env: Vec<(String, String)>,
    startup_timeout: Duration,
}

/// A Ferry running inside the test process. Dropping it shuts it down (in-flight requests
/// finish, apps are stopped and reaped) and prints the tail of its log, which the test harness
/// shows when the test fails.
pub struct Ferry {
    app_dir: PathBuf,
    deployment: Deployment,
    listeners: Vec<Listener>,
    instance_dir: PathBuf,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<Duration>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The instance registry; removed after Ferry is gone.
    _registry: Option<tempfile::TempDir>,
}

/// What the server's thread shares with the [`Ferry`] handle.
#[derive(Default)]
struct Shared {
    log: Mutex<String>,
    finished: Mutex<bool>,
    finished_cond: Condvar,
    /// Bumped on every log write and when the server's thread ends.
    events: watch::Sender<u64>,
}

/// The server's thread tells whether Ferry started, and where it listens.
type Started = std::result::Result<(Vec<String>, PathBuf), String>;

// === impl Builder ===

impl Builder {
    /// Changes the options, as `ferry start`'s flags would: `o.max_pool_size = Some(2)`.
    pub fn options(mut self, change: impl FnOnce(&mut StartOptions)) -> Self {
        change(&mut self.options);
        self
    }

    /// Adds `NAME=VALUE` to the apps' environment (`--envvar`).
    pub fn envvar(mut self, name_value: impl Into<String>) -> Self {
        self.options.envvars.push(name_value.into());
        self
    }

    /// Sets an environment variable as Ferry's configuration reads it (`FERRY_*`,
    /// `PASSENGER_*`), over the test process's own. The apps do not see it: use
    /// [`envvar`](Self::envvar) for them.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// How long [`start`](Self::start) may take (default 20 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The options Ferry starts with: the test's, and where it left them unset, 127.0.0.1 on an
    /// OS-chosen port (unless it asked for a unix socket), apps run as the test's own user
    /// (unless it set a user-switching option: fixture apps live in private temporary
    /// directories, which `nobody` cannot enter), as [`crate::FerryBuilder::command_line`]
    /// does, and the instance directory in `registry`.
    fn effective_options(&self, registry: Option<&Path>) -> StartOptions {
        let mut o = self.options.clone();
        let users = o.user.is_some()
            || o.user_switching.is_some()
            || o.default_user.is_some()
            || o.group.is_some();
        if !users {
            o.user = Some(current_user());
            // That user is root in CI.
            o.allow_root_apps = Some(true);
        }
        if o.socket.is_none() {
            o.address.get_or_insert_with(|| "127.0.0.1".into());
            o.port.get_or_insert(0);
        }
        if o.instance_registry_dir.is_none() {
            o.instance_registry_dir = registry.map(Path::to_path_buf);
        }
        o
    }

    /// `ferry start`'s configuration: the options over the environment over the app's
    /// `Passengerfile.json`, resolved; and the warnings to log.
    fn deployment(&self, options: StartOptions) -> Result<(Deployment, Vec<String>)> {
        let lookup = |name: &str| {
            self.env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(name).ok())
        };
        let layer = ferry_config::gather(options, &lookup).map_err(chain)?;
        let config = layer.options.resolve().map_err(chain)?;
        Ok((config.deployment(), layer.warnings))
    }

    /// Starts Ferry and waits until it listens.
    ///
    /// Fails if the configuration is invalid (with `ferry start`'s message) or Ferry cannot
    /// start within the startup timeout; the error includes its log.
    pub async fn start(self) -> Result<Ferry> {
        let registry = match self.options.instance_registry_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("ferry-test-registry-")
                    .tempdir()?,
            ),
        };
        let options = self.effective_options(registry.as_ref().map(tempfile::TempDir::path));
        let app_dir = options.app_dir.clone().unwrap_or_default();
        let (deployment, warnings) = self.deployment(options)?;
        let shared = Arc::new(Shared::default());
        let (started_tx, started_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = spawn_server(
            deployment.clone(),
            warnings,
            Programs {
                setupper: self.setupper,
                root: source_root(),
            },
            Arc::clone(&shared),
            started_tx,
            stop_rx,
        )?;
        let mut ferry = Ferry {
            app_dir,
            deployment,
            listeners: Vec::new(),
            instance_dir: PathBuf::new(),
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
            _registry: registry,
        };
        let started = tokio::time::timeout(self.startup_timeout, started_rx).await;
        let (urls, instance_dir) = match started {
            Ok(Ok(Ok(started))) => started,
            Ok(Ok(Err(error))) => {
                return Err(format!("ferry did not start: {error}\n{}", ferry.log()).into())
            }
            Ok(Err(_)) => return Err(format!("ferry's thread ended\n{}", ferry.log()).into()),
            Err(_) => {
                return Err(format!(
                    "ferry did not start within {:?}\n{}",
                    self.startup_timeout,
                    ferry.log()
                )
                .into())
            }
        };
        ferry.listeners = urls.iter().filter_map(|u| Listener::from_url(u)).collect();
        ferry.instance_dir = instance_dir;
        Ok(ferry)
    }
}

/// The source tree holding `loaders/`: the in-process server runs this tree's code, so it runs
/// this tree's loaders too.
fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A configuration error as `ferry start` prints it: the whole chain of causes.
fn chain(error: impl std::error::Error) -> crate::Error {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    format!("invalid configuration: {text}").into()
}

/// Starts the server's thread: a runtime of its own whose threads all log to `shared`; Ferry
/// serves until `stop` says to shut down (or its sender is dropped), then the thread marks
/// itself finished.
fn spawn_server(
    deployment: Deployment,
    warnings: Vec<String>,
    programs: Programs,
    shared: Arc<Shared>,
    started: oneshot::Sender<Started>,
    stop: oneshot::Receiver<Duration>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (dispatch, log) = dispatch(deployment.log_level, &shared);
    std::thread::Builder::new()
        .name("ferry-in-process".into())
        .spawn(move || {
            let _default = tracing::dispatcher::set_default(&dispatch);
            for warning in warnings {
                tracing::warn!("{warning}");
            }
            match runtime(dispatch) {
                Ok(runtime) => {
                    runtime.block_on(serve(deployment, programs, log, started, stop));
                    runtime.shutdown_timeout(Duration::from_secs(5));
                }
                Err(error) => {
                    let _ = started.send(Err(format!("cannot start a runtime: {error}")));
                }
            }
            *lock(&shared.finished) = true;
            shared.finished_cond.notify_all();
            shared.events.send_modify(|n| *n += 1);
        })
}

/// A multi-threaded runtime, as `main`'s, whose threads log through `dispatch`.
fn runtime(dispatch: tracing::Dispatch) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ferry-in-process")
        .enable_all()
        .on_thread_start(move || {
            // For the thread's whole life (it ends with the runtime): never restored.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
}

async fn serve(
    deployment: Deployment,
    programs: Programs,
    log: Arc<Log>,
    started: oneshot::Sender<Started>,
    stop: oneshot::Receiver<Duration>,
) {
    let admin = ferry_app::Admin {
        log,
        config_file: None,
    };
    let running: Running = match ferry_app::Ferry::start_with(deployment, admin, programs).await {
        Ok(running) => running,
        Err(error) => {
            let _ = started.send(Err(chain(error).to_string()));
            return;
        }
    };
    let facts = (running.urls().to_vec(), running.instance_dir().to_owned());
    if started.send(Ok(facts)).is_err() {
        // The test gave up waiting.
        running.shutdown(Duration::ZERO).await;
        return;
    }
    let drain = stop.await.unwrap_or(DROP_DRAIN);
    running.shutdown(drain).await;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// === impl Ferry ===

impl Ferry {
    /// A builder for what `ferry start APP_DIR` would serve, its spawns run through `setupper`
    /// (the `ferry` binary: `env!("CARGO_BIN_EXE_ferry")`).
    // Returns the builder, as `crate::Ferry::new` does: `Ferry::new(..).start()` reads like the
    // scenario, and a `Ferry` only exists once it serves.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(setupper: impl Into<PathBuf>, app_dir: impl Into<PathBuf>) -> Builder {
        Builder {
            setupper: setupper.into(),
            options: StartOptions {
                app_dir: Some(app_dir.into()),
                ..StartOptions::default()
            },
            env: Vec::new(),
            startup_timeout: Duration::from_secs(20),
        }
    }

    /// The app directory Ferry was started with.
    pub fn app_dir(&self) -> &Path {
        &self.app_dir
    }

    /// What Ferry serves, as its configuration resolved it.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Where Ferry listens.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// The instance directory (`ferry status --instance-registry-dir` finds Ferry by it).
    pub fn instance_dir(&self) -> &Path {
        &self.instance_dir
    }

    /// The first TCP address Ferry listens on.
    ///
    /// # Panics
    ///
    /// When Ferry listens on no TCP address (it was started with a unix socket).
    pub fn addr(&self) -> std::net::SocketAddr {
        Listener::first_tcp(&self.listeners)
    }

    /// `http://ADDR` of the first TCP listener, without a trailing slash.
    ///
    /// # Panics
    ///
    /// As [`addr`](Self::addr).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://ADDR` followed by `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// Everything Ferry has logged so far.
    pub fn log(&self) -> String {
        lock(&self.shared.log).clone()
    }

    /// Waits until Ferry's log contains `needle`; fails after `timeout` or if Ferry stopped
    /// without having logged it.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let found = self
            .wait_until(timeout, |s| {
                if lock(&s.log).contains(needle) {
                    Some(true)
                } else if *lock(&s.finished) {
                    Some(false)
                } else {
                    None
                }
            })
            .await;
        match found {
            Some(true) => Ok(()),
            Some(false) => Err(format!("ferry stopped without logging {needle:?}").into()),
            None => Err(format!("ferry did not log {needle:?} within {timeout:?}").into()),
        }
    }

    /// Shuts Ferry down as SIGTERM does: no new connections, in-flight requests finish (at
    /// most `drain` long), then every app process is stopped and reaped. Fails if that takes
    /// longer than `timeout`.
    pub async fn shutdown(mut self, drain: Duration, timeout: Duration) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(drain);
        }
        self.wait_until(timeout, |s| lock(&s.finished).then_some(()))
            .await
            .ok_or_else(|| format!("ferry did not shut down within {timeout:?}").into())
    }

    /// Evaluates `check` after every event (log write, end of the server) until it returns
    /// `Some`, or until `timeout`.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Shared) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.shared.events.subscribe();
        loop {
            // Mark the current state seen *before* checking, so no change is missed.
            events.borrow_and_update();
            if let Some(value) = check(&self.shared) {
                return Some(value);
            }
            // The sender lives in `shared`, which we hold: `changed` cannot fail.
            if tokio::time::timeout_at(deadline, events.changed())
                .await
                .is_err()
            {
                return check(&self.shared);
            }
        }
    }

    /// Stops the server (if still running) and waits, bounded, for its thread.
    fn stop_and_wait(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(DROP_DRAIN);
        }
        let finished = lock(&self.shared.finished);
        let (finished, _) = self
            .shared
            .finished_cond
            .wait_timeout_while(finished, DROP_WAIT, |f| !*f)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let done = *finished;
        drop(finished);
        match self.thread.take() {
            Some(thread) if done => {
                let _ = thread.join();
            }
            Some(_) => eprintln!("ferry (in-process) did not shut down within {DROP_WAIT:?}"),
            None => {}
        }
    }

    fn print_log_tail(&self) {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        eprintln!(
            "--- ferry (in-process) at {:?}, last {} log lines ---\n{}\n--- end of ferry log ---",
            self.listeners,
            tail.len(),
            tail.join("\n")
        );
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        self.stop_and_wait();
        self.print_log_tail();
    }
}

impl std::fmt::Debug for Ferry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("in_process::Ferry")
            .field("listeners", &self.listeners)
            .field("instance_dir", &self.instance_dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_as_the_binary_harness_has_them() {
        let builder = Ferry::new("/bin/ferry", "/app");
        let o = builder.effective_options(Some(Path::new("/registry")));
        assert_eq!(o.app_dir.as_deref(), Some(Path::new("/app")));
        assert_eq!(o.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(o.port, Some(0));
        assert_eq!(o.user, Some(current_user()));
        assert_eq!(
            o.instance_registry_dir.as_deref(),
            Some(Path::new("/registry"))
        );
    }

    #[test]
    fn the_tests_own_options_win() {
        let builder = Ferry::new("/bin/ferry", "/app").options(|o| {
            o.socket = Some("/s".into());
            o.user_switching = Some(true);
            o.instance_registry_dir = Some("/mine".into());
        });
        let o = builder.effective_options(Some(Path::new("/registry")));
        assert_eq!((o.address, o.port, o.user), (None, None, None));
        assert_eq!(o.instance_registry_dir.as_deref(), Some(Path::new("/mine")));
    }
}
