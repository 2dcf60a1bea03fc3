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
//! The pool knows nothing of HTTP. It starts processes through a [`SpawnService`] (so tests use a
//! fake, and spawning may later happen in another process) and keeps, per process, a cache of idle connections of an opaque type `C` that the front end
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
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_spawn::{SpawnOptions, SpawnService, Spawned, StopMode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::CheckoutError;
pub use group::{GroupSnapshot, ProcessSnapshot};
pub use session::{AbortHandle, Session};

use group::{Group, OobStart, Process};

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
    /// Most spawns of one group in progress at once (Passenger: 1). More than one only starts
    /// when requests are queued.
    pub max_parallel_spawns: usize,
    /// How often the memory of groups with a `memory_limit` is measured.
    pub memory_check_interval: Duration,
    /// Hook scripts: `attached_process`, `detached_process`, `after_initialize_supergroup`,
    /// `before_destroy_supergroup`, `queue_full_error` run from the pool.
    pub hooks: ferry_spawn::Hooks,
}

impl PoolConfig {
    /// Passenger's defaults: 6 processes, idle time 300 s.
    pub fn new(max_pool_size: usize) -> Self {
        PoolConfig {
            max_pool_size,
            stop_grace: Duration::from_secs(10),
            idle_time: Some(Duration::from_secs(300)),
            max_parallel_spawns: 1,
            memory_check_interval: Duration::from_secs(1),
            hooks: ferry_spawn::Hooks::default(),
        }
    }
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
    /// A process whose private dirty memory exceeds this many MB finishes its requests and is
    /// replaced (`memory_limit`; `None`: no limit).
    pub memory_limit: Option<u64>,
    /// A process whose private dirty memory exceeds this many MB is killed at once
    /// (`memory_hard_limit`; `None`: no limit).
    pub memory_hard_limit: Option<u64>,
    /// Restarts replace processes one by one, new ones first (`rolling_restarts`).
    pub rolling_restarts: bool,
    /// When a rolling restart cannot spawn the new version, old processes keep serving and the
    /// group stops spawning until the next restart (`resist_deployment_errors`).
    pub resist_deployment_errors: bool,
    /// Directory holding `restart.txt` and `always_restart.txt` (normally `<root>/tmp`).
    pub restart_dir: Option<std::path::PathBuf>,
    /// How often, at most, the restart files are looked at.
    pub restart_check_interval: Duration,
}

impl GroupConfig {
    /// A group with Passenger's defaults: `min_instances` 1, a queue of 100, no other limits.
    pub fn new(spawn: SpawnOptions) -> Self {
        GroupConfig {
            name: spawn.app_group_name.clone(),
            spawn,
            min_instances: 1,
            max_queue: 100,
            max_queue_time: None,
            max_instances: None,
            max_requests: None,
            memory_limit: None,
            memory_hard_limit: None,
            rolling_restarts: false,
            resist_deployment_errors: false,
            restart_dir: None,
            restart_check_interval: Duration::from_secs(1),
        }
    }
}

/// Identifies a group within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(usize);

/// The application pool. Cheap to clone: clones share the same pool.
#[derive(Debug)]
pub struct Pool<C> {
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    spawner: Arc<dyn SpawnService>,
    config: PoolConfig,
    state: Mutex<State<C>>,
    /// Spawn tasks and process watchers, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled at shutdown: ends the idle cleaner and the memory checker.
    stopping: CancellationToken,
    /// Whether the memory checker has been started.
    memory_watch: std::sync::atomic::AtomicBool,
}

/// Everything behind the pool lock.
#[derive(Debug)]
struct State<C> {
    groups: Vec<Group<C>>,
    shutting_down: bool,
    next_process_id: u64,
}

/// The pool-wide limits the decisions under the lock need.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_pool_size: usize,
    max_parallel_spawns: usize,
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
    /// Kill a process at once (memory hard limit).
    Kill(Arc<Process<C>>),
    /// Run a hook script with these extra variables.
    Hook(&'static str, Vec<(String, String)>),
    /// At this instant a group's spawn back-off ends: spawn then if requests wait.
    Wake(GroupId, Instant),
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

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Send + 'static> Pool<C> {
    /// A new, empty pool that starts processes through `spawner`. Its idle cleaner (when
    /// `idle_time` is set) runs on the current tokio runtime.
    pub fn new(spawner: Arc<dyn SpawnService>, config: PoolConfig) -> Self {
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
                memory_watch: std::sync::atomic::AtomicBool::new(false),
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
        let watch_memory = config.memory_limit.is_some() || config.memory_hard_limit.is_some();
        let id = {
            let mut state = self.shared.lock();
            let id = GroupId(state.groups.len());
            state.groups.push(Group::new(id, config));
            id
        };
        if watch_memory
            && tokio::runtime::Handle::try_current().is_ok()
            && !self
                .shared
                .memory_watch
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            Shared::start_memory_checker(&self.shared);
        }
        id
    }

    /// Checks out a session on the least-busy process of `group`, waiting if none has room.
    pub async fn checkout(&self, group: GroupId) -> Result<Session<C>, CheckoutError> {
        self.checkout_sticky(group, None).await
    }

    /// [`Pool::checkout`] for a request that names the process it wants to go back to (its
    /// sticky session id, [`Session::sticky_id`]): that process while it is in the pool, even
    /// if the request must wait for it; otherwise the usual choice.
    pub async fn checkout_sticky(
        &self,
        group: GroupId,
        sticky: Option<u64>,
    ) -> Result<Session<C>, CheckoutError> {
        self.check_restart(group);
        let (ready, actions) = {
            let mut state = self.shared.lock();
            let now = Instant::now();
            let shared: Arc<dyn session::Release<C>> = self.shared.clone();
            state.checkout(group, sticky, now, &shared, self.shared.limits())
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

    /// Restarts `group` the way its configuration says (`rolling_restarts`).
    pub fn restart(&self, group: GroupId) {
        let rolling = self
            .shared
            .lock()
            .groups
            .get(group.0)
            .is_some_and(|g| g.config.rolling_restarts);
        self.restart_with(group, rolling);
    }

    /// Restarts `group`. Blocking: its processes finish their requests and stop, and new ones are
    /// spawned. Rolling: new processes are spawned one at a time, and each retires an old one
    /// when it is up.
    pub fn restart_with(&self, group: GroupId, rolling: bool) {
        let actions = self
            .shared
            .lock()
            .restart(group, rolling, self.shared.limits());
        self.run(actions);
    }

    /// A snapshot of every group, for status output and tests.
    pub fn snapshot(&self) -> Vec<group::GroupSnapshot> {
        let state = self.shared.lock();
        let now = Instant::now();
        state
            .groups
            .iter()
            .map(|g| {
                let mut snapshot = g.snapshot(now);
                snapshot.shutting_down = state.shutting_down;
                snapshot
            })
            .collect()
    }

    /// The pool's `max_pool_size`.
    pub fn max_pool_size(&self) -> usize {
        self.shared.config.max_pool_size
    }

    /// Whether [`Pool::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.lock().shutting_down
    }

    /// The group with this name ([`GroupConfig::name`]).
    pub fn group_by_name(&self, name: &str) -> Option<GroupId> {
        self.shared
            .lock()
            .groups
            .iter()
            .find(|g| g.config.name == name)
            .map(|g| g.id)
    }

    /// Restarts the group with this name (see [`Pool::restart_with`]); `false` if there is none.
    pub fn restart_by_name(&self, name: &str, rolling: bool) -> bool {
        match self.group_by_name(name) {
            Some(group) => {
                self.restart_with(group, rolling);
                true
            }
            None => false,
        }
    }

    /// Takes the process with this pid out of rotation: it finishes its requests and stops, and
    /// its group spawns a replacement if it needs one (Passenger's `detach_process`). `false` if
    /// no process taking requests has this pid.
    pub fn detach_pid(&self, pid: u32) -> bool {
        let (found, actions) = self.shared.lock().detach_pid(pid, self.shared.limits());
        self.run(actions);
        found
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

impl<C: std::fmt::Debug> std::fmt::Debug for Shared<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<C> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock would be a bug; the state stays usable regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limits(&self) -> Limits {
        Limits {
            max_pool_size: self.config.max_pool_size,
            max_parallel_spawns: self.config.max_parallel_spawns.max(1),
        }
    }
}

impl<C: Send + 'static> Shared<C> {
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
                Action::Kill(process) => process.handle.stop(StopMode::Kill),
                Action::Wake(group, at) => {
                    let weak = Arc::downgrade(this);
                    let stopping = this.stopping.clone();
                    this.tasks.spawn(async move {
                        tokio::select! {
                            () = stopping.cancelled() => {}
                            () = tokio::time::sleep_until(at) => {
                                if let Some(shared) = weak.upgrade() {
                                    let actions = shared.lock().backoff_over(group, shared.limits());
                                    Self::run(&shared, actions);
                                }
                            }
                        }
                    });
                }
                Action::Hook(name, env) => {
                    if this.config.hooks.has(name) {
                        let hooks = this.config.hooks.clone();
                        this.tasks.spawn(async move { hooks.run(name, &env).await });
                    }
                }
            }
        }
    }

    /// Every `memory_check_interval`, measures the private dirty memory of the processes of
    /// groups with a memory limit, and retires or kills those over it.
    fn start_memory_checker(this: &Arc<Self>) {
        let tick = this
            .config
            .memory_check_interval
            .max(Duration::from_millis(100));
        Self::every(this, tick, |shared| {
            let watched = shared.lock().memory_watched();
            // Read outside the lock: each is a small /proc file.
            let readings: Vec<_> = watched
                .into_iter()
                .filter_map(|(group, id, pid)| {
                    ferry_sys::proc::private_dirty_kib(pid).map(|kib| (group, id, kib))
                })
                .collect();
            shared.lock().memory_measured(&readings, shared.limits())
        });
    }

    /// Every so often, stops processes idle for `idle` (down to `min_instances`).
    fn start_idle_cleaner(this: &Arc<Self>, idle: Duration) {
        let tick = (idle / 2).clamp(Duration::from_millis(250), Duration::from_secs(10));
        Self::every(this, tick, move |shared| {
            shared
                .lock()
                .clean_idle(Instant::now(), idle, shared.limits())
        });
    }

    /// A task that runs `step` every `tick` and carries out the actions it returns. It holds
    /// the pool only weakly, and ends at shutdown.
    fn every(
        this: &Arc<Self>,
        tick: Duration,
        step: impl Fn(&Arc<Self>) -> Vec<Action<C>> + Send + 'static,
    ) {
        let weak = Arc::downgrade(this);
        let stopping = this.stopping.clone();
        this.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = stopping.cancelled() => return,
                    () = tokio::time::sleep(tick) => {}
                }
                let Some(shared) = weak.upgrade() else { return };
                let actions = step(&shared);
                Self::run(&shared, actions);
            }
        });
    }

    fn start_spawn(this: &Arc<Self>, group: GroupId, generation: u64) {
        let Some(mut options) = this.lock().spawn_options(group) else {
            return;
        };
        // A restart raises the generation; a smart spawner then replaces the app's preloader.
        options.restart_generation = generation;
        let shared = Arc::clone(this);
        this.tasks.spawn(async move {
            let result = shared.spawner.spawn(options).await;
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
            state.attach(group, generation, result, &release, this.limits())
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
            let actions = shared
                .lock()
                .process_exited(group, &process, info, shared.limits());
            Self::run(&shared, actions);
        });
    }
}

impl<C: Send + 'static> session::Release<C> for Shared<C> {
    fn release(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>, outcome: Outcome) {
        let release: Arc<dyn session::Release<C>> = self.clone();
        let actions = {
            let mut state = self.lock();
            state.release(
                group,
                process,
                outcome,
                Instant::now(),
                &release,
                self.limits(),
            )
        };
        Self::run(&self, actions);
    }

    fn abort(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>) {
        let actions = {
            let mut state = self.lock();
            state.abort(group, process, self.limits())
        };
        Self::run(&self, actions);
    }

    fn begin_oob(&self, group: GroupId, process: &Arc<Process<C>>) -> OobStart {
        self.lock().begin_oob(group, process)
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
