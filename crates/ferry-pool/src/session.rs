//! A session: one request in flight on one process; and a request waiting for one.

use std::sync::Arc;

use ferry_spawn::Endpoint;
use tokio::sync::oneshot;

use crate::config::GroupId;
use crate::error::CheckoutError;
use crate::process::{OobStart, Process};

/// Most idle connections kept per process; more are closed when returned.
const MAX_IDLE_CONNECTIONS: usize = 128;

/// Gives sessions back to the pool. Implemented by the pool's shared half (`crate::shared`),
/// which depends on this module: a trait object here keeps the arrow one way.
pub(crate) trait Release<C>: Send + Sync {
    fn release(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>, outcome: Outcome);
    /// Takes the process out of rotation and stops it at once, asking for a backtrace first.
    fn abort(self: Arc<Self>, group: GroupId, process: &Arc<Process<C>>);
    /// Asks for out-of-band work on the process.
    fn begin_oob(&self, group: GroupId, process: &Arc<Process<C>>) -> OobStart;
}

/// A request waiting for a session.
#[derive(Debug)]
pub(crate) struct Waiter<C> {
    pub(crate) tx: oneshot::Sender<Result<Session<C>, CheckoutError>>,
    /// The process the request wants to go back to (sticky sessions).
    pub(crate) sticky: Option<u64>,
}

/// What happened to a checked-out session, told to the pool when it is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The request completed (well or not); the process is fine.
    Done,
    /// The process could not be reached: take it out of rotation.
    ProcessFailed,
}

/// Aborts the process of a session that is taking too long (`max_request_time`), even after the
/// session itself has been given up.
pub struct AbortHandle<C> {
    release: Arc<dyn Release<C>>,
    group: GroupId,
    process: Arc<Process<C>>,
}

impl<C> std::fmt::Debug for AbortHandle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortHandle")
            .field("pid", &self.process.handle.pid())
            .finish_non_exhaustive()
    }
}

impl<C> AbortHandle<C> {
    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.process.handle.pid()
    }

    /// Detaches the process and stops it: SIGQUIT (its backtrace reaches the log), then SIGKILL.
    /// Requests it is serving fail; a replacement is spawned as the growth rules say.
    pub fn abort(self) {
        self.release.abort(self.group, &self.process);
    }
}

/// One request's claim on one process. Dropping it gives the process back to the pool.
pub struct Session<C> {
    release: Arc<dyn Release<C>>,
    group: GroupId,
    process: Arc<Process<C>>,
    outcome: Outcome,
}

impl<C> std::fmt::Debug for Session<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("group", &self.group)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl<C> Session<C> {
    pub(crate) fn new(
        release: Arc<dyn Release<C>>,
        group: GroupId,
        process: Arc<Process<C>>,
    ) -> Self {
        Session {
            release,
            group,
            process,
            outcome: Outcome::Done,
        }
    }

    /// Where to send the request.
    pub fn endpoint(&self) -> &ferry_spawn::Endpoint {
        &self.process.endpoint
    }

    /// The uid that must be serving the endpoint when it is a unix socket (`None`: unchecked).
    pub fn peer_uid(&self) -> Option<u32> {
        self.process.peer_uid
    }

    /// What the process speaks on its endpoint.
    pub fn protocol(&self) -> ferry_spawn::Protocol {
        self.process.protocol
    }

    /// The secret the process expects with every request.
    pub fn connect_password(&self) -> &str {
        &self.process.connect_password
    }

    /// The pid of the process serving this session.
    pub fn pid(&self) -> u32 {
        self.process.handle.pid()
    }

    /// The span of the process serving this session (`process{pid}`, under its `app{name}`):
    /// the parent of the request's span.
    pub fn span(&self) -> &tracing::Span {
        &self.process.span
    }

    /// The process's sticky session id: give it to [`crate::Pool::checkout_sticky`] to come
    /// back to this process.
    pub fn sticky_id(&self) -> u64 {
        self.process.id
    }

    /// Turns this session into the process's out-of-band work (seed §11.8), when the pool's
    /// rules allow it: the app has another process that takes requests, and no other process of
    /// the app is doing out-of-band work. No new request goes to the process from now on; the
    /// future completes when its other requests are done, with the session to send the work
    /// through. Dropping that session makes the process take requests again. `None`: not now
    /// (the session has been given back).
    pub async fn out_of_band_work(self) -> Option<Session<C>> {
        match self.release.begin_oob(self.group, &self.process) {
            OobStart::Refused => None,
            OobStart::Ready => Some(self),
            OobStart::Wait(rx) => match rx.await {
                Ok(true) => Some(self),
                _ => None,
            },
        }
    }

    /// An idle connection to this process kept from an earlier request, if any.
    pub fn take_connection(&self) -> Option<C> {
        self.process
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
    }

    /// Keeps a connection for a later request to this process. Dropped instead when the process
    /// is leaving the pool or enough connections are kept already.
    pub fn put_connection(&self, connection: C) {
        if self.process.is_retired() {
            return;
        }
        let mut idle = self.process.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }

    /// A handle that can abort this session's process later (when the request runs too long).
    pub fn abort_handle(&self) -> AbortHandle<C> {
        AbortHandle {
            release: Arc::clone(&self.release),
            group: self.group,
            process: Arc::clone(&self.process),
        }
    }

    /// Reports that the process could not be reached. It is taken out of rotation and stopped;
    /// the caller may check out another session and try again.
    pub fn process_failed(&mut self) {
        self.outcome = Outcome::ProcessFailed;
    }

    /// How to reach the process, for logs.
    pub fn describe_endpoint(&self) -> String {
        match self.endpoint() {
            Endpoint::Tcp(addr) => addr.to_string(),
            Endpoint::Unix(path) => format!("unix:{}", path.display()),
        }
    }
}

impl<C> Drop for Session<C> {
    fn drop(&mut self) {
        Arc::clone(&self.release).release(self.group, &self.process, self.outcome);
    }
}

// === impl Waiter ===

impl<C> Waiter<C> {
    /// Hands the result over. If the request gave up waiting, a session comes straight back.
    pub(crate) fn deliver(self, result: Result<Session<C>, CheckoutError>) {
        let _ = self.tx.send(result);
    }
}
