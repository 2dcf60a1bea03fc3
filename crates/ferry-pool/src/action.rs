//! The side effects the pool decides under its lock, carried out once the lock is released
//! (Passenger's post-lock actions; see [`crate::shared`] for who carries them out).

use std::sync::Arc;

use tokio::time::Instant;

use crate::config::GroupId;
use crate::error::CheckoutError;
use crate::process::Process;
use crate::session::{Session, Waiter};

/// A side effect decided under the lock, carried out after it is released.
pub(crate) enum Action<C> {
    /// Hand a checkout result to a waiting request.
    Deliver(Waiter<C>, Result<Session<C>, CheckoutError>),
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
    /// Hand a drained process to the spawner to become its app's template (re-forking).
    Promote(GroupId, Arc<Process<C>>),
}
