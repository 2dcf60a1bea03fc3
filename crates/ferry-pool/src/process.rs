//! A running app process as the pool keeps it: where it listens, its handle, its kept
//! connections; and the answer to a request for out-of-band work on it.
//!
//! Below both [`crate::group`] (which routes to processes) and [`crate::session`] (which holds
//! one), so that neither imports the other back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use ferry_spawn::{Concurrency, Endpoint, ProcessHandle, Protocol, Spawned};
use tokio::sync::oneshot;

/// A running app process, shared with the sessions on it.
#[derive(Debug)]
pub(crate) struct Process<C> {
    /// Unique within the pool, never reused; also the sticky session id.
    pub(crate) id: u64,
    /// The group generation (restart count) it was spawned under.
    pub(crate) generation: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) protocol: Protocol,
    pub(crate) connect_password: String,
    /// The uid that must serve a unix-socket endpoint (`Spawned::peer_uid`).
    pub(crate) peer_uid: Option<u32>,
    pub(crate) concurrency: Concurrency,
    pub(crate) handle: ProcessHandle,
    pub(crate) idle: Mutex<Vec<C>>,
    pub(crate) retired: AtomicBool,
    /// `process{pid}`, under its group's `app{name}`: the parent of the requests it serves.
    pub(crate) span: tracing::Span,
}

/// The answer to a request for out-of-band work.
pub(crate) enum OobStart {
    /// Not now: another process is at it, or this is the last available process.
    Refused,
    /// The asker's session is the only one on the process: go ahead.
    Ready,
    /// Wait until the process's other requests are done (`true`), or the work is off (`false`).
    Wait(oneshot::Receiver<bool>),
}

// === impl Process ===

impl<C> Process<C> {
    /// The process `spawned`, known in the pool as `id`, of restart generation `generation`,
    /// of the app whose span is `app`.
    pub(crate) fn new(id: u64, generation: u64, spawned: Spawned, app: &tracing::Span) -> Self {
        let span = tracing::info_span!(parent: app, "process", pid = spawned.handle.pid());
        Process {
            id,
            generation,
            endpoint: spawned.endpoint,
            protocol: spawned.protocol,
            connect_password: spawned.connect_password,
            peer_uid: spawned.peer_uid,
            concurrency: spawned.concurrency,
            handle: spawned.handle,
            idle: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
            span,
        }
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// Takes the process out of rotation: idle connections to it are closed.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
