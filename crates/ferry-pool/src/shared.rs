//! The pool's shared half: its state behind the lock, its spawner and its tasks. It carries out
//! the [`Action`]s decided under the lock (spawning, stopping, waking, hooks), watches processes
//! for their exit, runs the idle cleaner and the memory checker, and takes sessions back.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferry_spawn::{
    ProcessHandle, ProcessRequest, ProcessStub, Promotion, SpawnService, Spawned, StopMode,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::action::Action;
use crate::config::{GroupId, PoolConfig};
use crate::process::{OobStart, Process};
use crate::session::{Outcome, Release};
use crate::state::{Limits, State};

/// How long a stuck process has to print its backtrace (after SIGQUIT) before SIGKILL.
const BACKTRACE_WAIT: Duration = Duration::from_secs(1);

/// What every clone of a [`crate::Pool`] shares.
pub(crate) struct Shared<C> {
    pub(crate) spawner: Arc<dyn SpawnService>,
    pub(crate) config: PoolConfig,
    pub(crate) state: Mutex<State<C>>,
    /// Spawn tasks and process watchers, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled at shutdown: ends the idle cleaner and the memory checker.
    pub(crate) stopping: CancellationToken,
    /// Whether the memory checker has been started.
    pub(crate) memory_watch: std::sync::atomic::AtomicBool,
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
    pub(crate) fn new(spawner: Arc<dyn SpawnService>, config: PoolConfig) -> Self {
        Shared {
            spawner,
            config,
            state: Mutex::new(State::new()),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
            memory_watch: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<C>> {
        // A panic while holding the lock would be a bug; the state stays usable regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_pool_size: self.config.max_pool_size,
            max_parallel_spawns: self.config.max_parallel_spawns.max(1),
        }
    }
}

impl<C: Send + 'static> Shared<C> {
    pub(crate) fn run(this: &Arc<Self>, actions: Vec<Action<C>>) {
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
                Action::Promote(group, process) => Self::start_promote(this, group, process),
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
    pub(crate) fn start_memory_checker(this: &Arc<Self>) {
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
    pub(crate) fn start_idle_cleaner(this: &Arc<Self>, idle: Duration) {
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
        let Some((options, app)) = this.lock().spawn_options(group) else {
            return;
        };
        let shared = Arc::clone(this);
        let spawn = async move {
            let result = shared.spawner.spawn(options).await;
            Self::spawned(&shared, group, generation, result);
        };
        this.tasks.spawn(spawn.instrument(app));
    }

    fn spawned(
        this: &Arc<Self>,
        group: GroupId,
        generation: u64,
        result: Result<Spawned, ferry_spawn::SpawnError>,
    ) {
        let release: Arc<dyn Release<C>> = this.clone();
        let (process, actions) = {
            let mut state = this.lock();
            state.attach(group, generation, result, &release, this.limits())
        };
        if let Some(process) = process {
            Self::watch_exit(this, group, process);
        }
        Self::run(this, actions);
    }

    /// Hands a drained process to the spawner to become its app's template (re-forking). The
    /// spawner gets a handle of its own on the process, relayed to the pool's (see
    /// [`Self::relay`]); the pool hears how it went.
    fn start_promote(this: &Arc<Self>, group: GroupId, process: Arc<Process<C>>) {
        let Some((options, app)) = this.lock().spawn_options(group) else {
            return;
        };
        let (handle, stub) = ProcessHandle::stub(process.handle.pid());
        Self::relay(this, Arc::clone(&process), stub);
        let worker = Promotion {
            endpoint: process.endpoint.clone(),
            connect_password: process.connect_password.clone(),
            peer_uid: process.peer_uid,
            handle,
        };
        let shared = Arc::clone(this);
        let promote = async move {
            let result = shared.spawner.promote(options, worker).await;
            let actions = shared
                .lock()
                .promoted(group, &process, result, shared.limits());
            Self::run(&shared, actions);
        };
        this.tasks.spawn(promote.instrument(app));
    }

    /// Plays the process for the handle the spawner holds on a template (`stub`'s side): its
    /// stops and backtrace requests go to the process's own handle, which the pool keeps (its
    /// supervisor alone signals it), and its exit comes back. At shutdown the template is
    /// stopped like every other process of the pool.
    fn relay(this: &Arc<Self>, process: Arc<Process<C>>, mut stub: ProcessStub) {
        let stopping = this.stopping.clone();
        let grace = this.config.stop_grace;
        let span = process.span.clone();
        let relay = async move {
            let exited = process.handle.exited();
            tokio::pin!(exited);
            let (mut listening, mut shut_down, mut stopped) = (true, false, false);
            loop {
                tokio::select! {
                    info = &mut exited => {
                        if !stopped && !shut_down {
                            tracing::warn!(
                                "the app's template {info}; later processes fork from a new \
                                 preloader"
                            );
                        }
                        stub.exit(info);
                        return;
                    }
                    request = stub.next_request(), if listening => match request {
                        Some(ProcessRequest::Stop(mode)) => {
                            stopped = true;
                            process.handle.stop(mode);
                        }
                        Some(ProcessRequest::Backtraces) => {
                            process.handle.backtraces();
                        }
                        None => {
                            // The handle was dropped, which asked for a stop first.
                            stopped = true;
                            listening = false;
                        }
                    },
                    () = stopping.cancelled(), if !shut_down => {
                        shut_down = true;
                        process.handle.stop(StopMode::Graceful(grace));
                    }
                }
            }
        };
        this.tasks.spawn(relay.instrument(span));
    }

    /// Notices when a process exits, expected or not, and removes it from the pool.
    fn watch_exit(this: &Arc<Self>, group: GroupId, process: Arc<Process<C>>) {
        let shared = Arc::clone(this);
        let exited = process.handle.exited();
        let span = process.span.clone();
        let watch = async move {
            let info = exited.await;
            let actions = shared
                .lock()
                .process_exited(group, &process, info, shared.limits());
            Self::run(&shared, actions);
        };
        this.tasks.spawn(watch.instrument(span));
    }
}

impl<C: Send + 'static> Release<C> for Shared<C> {
    fn release(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>, outcome: Outcome) {
        let release: Arc<dyn Release<C>> = self.clone();
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
