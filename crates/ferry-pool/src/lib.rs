//! The application pool: which process serves which request, and when processes come and go.
//!
//! Structure, as in Passenger's ApplicationPool2:
//!
//! ```text
//!   Pool ─┬─ Group (one per app: root + environment) ─┬─ Process ── Session (one request in flight)
//!         │    queue of waiting checkouts             └─ Process ── ...
//!         └─ Group ...
//! ```
//!
//! A request *checks out* a [`Session`] on the least-busy process of its group, and the session goes
//! back when it is dropped. When every process is at its concurrency limit the pool spawns another
//! one if it has room, and the request waits in the group's bounded queue meanwhile.
//!
//! The pool knows nothing of HTTP. It starts processes through a [`Spawner`] (so tests use a fake)
//! and keeps, per process, a cache of idle connections of an opaque type `C` that the front end
//! chooses.
//!
//! **Locking.** All state sits behind one mutex, held only for short critical sections and never
//! across an `.await`. Decisions taken under the lock that have side effects (delivering a session to
//! a waiting request, starting a spawn, stopping a process) are collected as [`Action`]s and carried
//! out after the guard is dropped, as Passenger's "post-lock actions" are.

mod error;
mod group;
mod restart;
mod session;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_spawn::{SpawnOptions, Spawned, Spawner, StopMode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::CheckoutError;
pub use group::{GroupSnapshot, ProcessSnapshot};
pub use session::{AbortHandle, Session};

use group::{Group, Process};

/// How long a stuck process has to print its backtrace (after SIGQUIT) before SIGKILL.
const BACKTRACE_WAIT: Duration = Duration::from_secs(1);

/// Pool-wide settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Most processes alive at once over all groups (Passenger's `max_pool_size`).
    pub max_pool_size: usize,
    /// How long a stopping process may take after SIGTERM before it is killed.
    pub stop_grace: Duration,
    /// Processes idle this long are stopped, down to each group's `min_instances`
    /// (`pool_idle_time`; `None`: never).
    pub idle_time: Option<Duration>,
}

/// Settings of one group (one app).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// The group's name, used in logs (the app root).
    pub name: String,
    /// How to start a process of this app.
    pub spawn: SpawnOptions,
    /// Fewest processes kept once the app has started.
    pub min_instances: usize,
    /// Longest queue of waiting requests (0 = unbounded).
    pub max_queue: usize,
    /// Longest time a request may wait in the queue (`max_request_queue_time`; `None`: no limit).
    pub max_queue_time: Option<Duration>,
    /// Most processes of this app at once, spawning ones included (`max_instances`, and the
    /// global `max_instances_per_app`, whichever is lower; `None`: only `max_pool_size` limits).
    pub max_instances: Option<usize>,
    /// A process is replaced after serving this many requests (`max_requests`; `None`: never).
    pub max_requests: Option<u64>,
    /// Directory holding `restart.txt` and `always_restart.txt` (normally `<root>/tmp`).
    pub restart_dir: Option<std::path::PathBuf>,
    /// How often, at most, the restart files are looked at.
    pub restart_check_interval: Duration,
}

/// Identifies a group within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(usize);

/// The application pool. Cheap to clone: clones share the same pool.
#[derive(Debug)]
pub struct Pool<S, C> {
    shared: Arc<Shared<S, C>>,
}

#[derive(Debug)]
struct Shared<S, C> {
    spawner: S,
    config: PoolConfig,
    state: Mutex<State<C>>,
    /// Spawn tasks and process watchers, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled at shutdown: ends the idle cleaner.
    stopping: CancellationToken,
}

/// Everything behind the pool lock.
#[derive(Debug)]
struct State<C> {
    groups: Vec<Group<C>>,
    shutting_down: bool,
    next_process_id: u64,
}

/// A side effect decided under the lock, carried out after it is released.
enum Action<C> {
    /// Hand a checkout result to a waiting request.
    Deliver(group::Waiter<C>, Result<Session<C>, CheckoutError>),
    /// Start spawning a process for a group.
    Spawn(GroupId, u64),
    /// Stop a process that no longer takes requests.
    Stop(Arc<Process<C>>),
    /// Stop a stuck process at once, after asking for its backtrace.
    Abort(Arc<Process<C>>),
}

/// What happened to a checked-out session, told to the pool when it is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The request completed (well or not); the process is fine.
    Done,
    /// The process could not be reached: take it out of rotation.
    ProcessFailed,
}

// === impl Pool ===

impl<S, C> Clone for Pool<S, C> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Spawner, C: Send + 'static> Pool<S, C> {
    /// A new, empty pool. Its idle cleaner (when `idle_time` is set) runs on the current tokio
    /// runtime.
    pub fn new(spawner: S, config: PoolConfig) -> Self {
        let pool = Pool {
            shared: Arc::new(Shared {
                spawner,
                config,
                state: Mutex::new(State {
                    groups: Vec::new(),
                    shutting_down: false,
                    next_process_id: 1,
                }),
                tasks: TaskTracker::new(),
                stopping: CancellationToken::new(),
            }),
        };
        if let Some(idle) = pool.shared.config.idle_time {
            if tokio::runtime::Handle::try_current().is_ok() {
                Shared::start_idle_cleaner(&pool.shared, idle);
            }
        }
        pool
    }

    /// Adds a group. Its processes are spawned on its first checkout.
    pub fn add_group(&self, config: GroupConfig) -> GroupId {
        let mut state = self.shared.lock();
        let id = GroupId(state.groups.len());
        state.groups.push(Group::new(id, config));
        id
    }

    /// Checks out a session on the least-busy process of `group`, waiting if none has room.
    pub async fn checkout(&self, group: GroupId) -> Result<Session<C>, CheckoutError> {
        self.check_restart(group);
        let (ready, actions) = {
            let mut state = self.shared.lock();
            let now = Instant::now();
            let shared: Arc<dyn session::Release<C>> = self.shared.clone();
            state.checkout(group, now, &shared, self.shared.config.max_pool_size)
        };
        self.run(actions);
        match ready {
            group::Checkout::Ready(session) => Ok(session),
            group::Checkout::Rejected(error) => Err(error),
            group::Checkout::Wait(rx, None) => rx.await.unwrap_or(Err(CheckoutError::ShuttingDown)),
            group::Checkout::Wait(rx, Some(limit)) => match tokio::time::timeout(limit, rx).await {
                Ok(result) => result.unwrap_or(Err(CheckoutError::ShuttingDown)),
                Err(_) => {
                    // Our place in the queue is dropped with the receiver.
                    let error = self.shared.lock().queue_timeout(group, limit);
                    tracing::warn!(%error, "rejecting request");
                    Err(error)
                }
            },
        }
    }

    /// Restarts `group`: its processes finish their requests and stop, and new ones are spawned.
    pub fn restart(&self, group: GroupId) {
        let actions = self
            .shared
            .lock()
            .restart(group, self.shared.config.max_pool_size);
        self.run(actions);
    }

    /// A snapshot of every group, for status output and tests.
    pub fn snapshot(&self) -> Vec<group::GroupSnapshot> {
        let state = self.shared.lock();
        state.groups.iter().map(Group::snapshot).collect()
    }

    /// Stops every process, fails every waiting request, and returns once all processes have been
    /// reaped. Sessions still out are left to finish for at most the stop grace period.
    pub async fn shutdown(&self) {
        self.shared.stopping.cancel();
        let actions = self.shared.lock().shutdown();
        self.run(actions);
        self.shared.tasks.close();
        let grace = self.shared.config.stop_grace;
        if tokio::time::timeout(grace * 2, self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("app processes are still stopping; killing them");
            for process in self.shared.lock().all_processes() {
                process.handle.stop(StopMode::Kill);
            }
        }
        self.shared.spawner.shutdown().await;
    }

    fn check_restart(&self, group: GroupId) {
        let watch = self.shared.lock().restart_watch(group);
        if let Some(watch) = watch {
            if watch.needs_restart(Instant::now()) {
                tracing::info!(
                    group = group.0,
                    "restart requested through the restart files"
                );
                self.restart(group);
            }
        }
    }

    fn run(&self, actions: Vec<Action<C>>) {
        Shared::run(&self.shared, actions);
    }
}

// === impl Shared ===

impl<S, C> Shared<S, C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock would be a bug; the state stays usable regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<S: Spawner, C: Send + 'static> Shared<S, C> {
    fn run(this: &Arc<Self>, actions: Vec<Action<C>>) {
        for action in actions {
            match action {
                Action::Deliver(waiter, result) => waiter.deliver(result),
                Action::Spawn(group, generation) => Self::start_spawn(this, group, generation),
                Action::Stop(process) => {
                    process
                        .handle
                        .stop(StopMode::Graceful(this.config.stop_grace));
                }
                Action::Abort(process) => process.handle.stop(StopMode::Abort(BACKTRACE_WAIT)),
            }
        }
    }

    /// Every so often, stops processes idle for `idle` (down to `min_instances`). Holds the pool
    /// only weakly, and ends at shutdown.
    fn start_idle_cleaner(this: &Arc<Self>, idle: Duration) {
        let tick = (idle / 2).clamp(Duration::from_millis(250), Duration::from_secs(10));
        let weak = Arc::downgrade(this);
        let stopping = this.stopping.clone();
        this.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return,
                    () = tokio::time::sleep(tick) => {}
                }
                let Some(shared) = weak.upgrade() else { return };
                let actions = shared.lock().clean_idle(Instant::now(), idle);
                Self::run(&shared, actions);
            }
        });
    }

    fn start_spawn(this: &Arc<Self>, group: GroupId, generation: u64) {
        let Some(options) = this.lock().spawn_options(group) else {
            return;
        };
        let shared = Arc::clone(this);
        this.tasks.spawn(async move {
            let result = shared.spawner.spawn(&options).await;
            Self::spawned(&shared, group, generation, result);
        });
    }

    fn spawned(
        this: &Arc<Self>,
        group: GroupId,
        generation: u64,
        result: Result<Spawned, ferry_spawn::SpawnError>,
    ) {
        let release: Arc<dyn session::Release<C>> = this.clone();
        let (process, actions) = {
            let mut state = this.lock();
            let max = this.config.max_pool_size;
            state.attach(group, generation, result, &release, max)
        };
        if let Some(process) = process {
            Self::watch_exit(this, group, process);
        }
        Self::run(this, actions);
    }

    /// Notices when a process exits, expected or not, and removes it from the pool.
    fn watch_exit(this: &Arc<Self>, group: GroupId, process: Arc<Process<C>>) {
        let shared = Arc::clone(this);
        let exited = process.handle.exited();
        this.tasks.spawn(async move {
            let info = exited.await;
            let actions =
                shared
                    .lock()
                    .process_exited(group, &process, info, shared.config.max_pool_size);
            Self::run(&shared, actions);
        });
    }
}

impl<S: Spawner, C: Send + 'static> session::Release<C> for Shared<S, C> {
    fn release(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>, outcome: Outcome) {
        let release: Arc<dyn session::Release<C>> = self.clone();
        let actions = {
            let mut state = self.lock();
            let max = self.config.max_pool_size;
            state.release(group, process, outcome, Instant::now(), &release, max)
        };
        Self::run(&self, actions);
    }

    fn abort(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>) {
        let actions = {
            let mut state = self.lock();
            let max = self.config.max_pool_size;
            state.abort(group, process, max)
        };
        Self::run(&self, actions);
    }
}

#[cfg(test)]
mod tests;
