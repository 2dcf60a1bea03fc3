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
//! fake, and spawning may later happen in another process) and keeps, per process, a cache of idle
//! connections of an opaque type `C` that the front end chooses.
//!
//! Modules, each importing only those below it: `config` (settings, [`GroupId`]) and `process`
//! (a process, out-of-band answers) at the bottom; `session` (sessions, waiters); `action`
//! (side effects decided under the lock); `group` (one app's processes, queue and routing);
//! `state` (every decision under the lock); `shared` (the lock, the spawner, the tasks carrying
//! out actions); this file, the public [`Pool`].

mod action;
mod config;
mod error;
mod group;
mod process;
mod restart;
mod session;
mod shared;
mod state;

use std::sync::Arc;

use ferry_spawn::{SpawnService, StopMode};
use tokio::time::Instant;

pub use config::{
    GroupConfig, GroupId, PoolConfig, DEFAULT_RESTART_CHECK_INTERVAL, DEFAULT_STOP_GRACE,
};
pub use error::CheckoutError;
pub use group::{GroupSnapshot, ProcessSnapshot};
pub use session::{AbortHandle, Session};

use action::Action;
use group::{Checkout, Group};
use session::Release;
use shared::Shared;

/// The application pool. Cheap to clone: clones share the same pool.
#[derive(Debug)]
pub struct Pool<C> {
    shared: Arc<Shared<C>>,
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
            shared: Arc::new(Shared::new(spawner, config)),
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
            let shared: Arc<dyn Release<C>> = self.shared.clone();
            state.checkout(group, sticky, now, &shared, self.shared.limits())
        };
        self.run(actions);
        match ready {
            Checkout::Ready(session) => Ok(session),
            Checkout::Rejected(error) => Err(error),
            Checkout::Wait(rx, None) => rx.await.unwrap_or(Err(CheckoutError::ShuttingDown)),
            Checkout::Wait(rx, Some(limit)) => match tokio::time::timeout(limit, rx).await {
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
    pub fn snapshot(&self) -> Vec<GroupSnapshot> {
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

    /// The span of `group`'s app (`app{name}`, at info level), for work done on its behalf;
    /// the spans of its processes (`process{pid}`, [`Session::span`]) are its children.
    pub fn app_span(&self, group: GroupId) -> tracing::Span {
        self.shared.lock().app_span(group)
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

    /// Asks the process with this pid to print its threads' backtraces to its output (which
    /// Ferry logs), through its handle: its supervisor signals it, and only while it has not
    /// reaped it, so a pid that was reused cannot be hit. `false` if no process of the pool has
    /// this pid, or it has exited.
    pub fn backtraces(&self, pid: u32) -> bool {
        let process = self.shared.lock().process_by_pid(pid);
        process.is_some_and(|process| process.handle.backtraces())
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

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod refork_tests;
#[cfg(test)]
mod tests;
