//! Why a checkout failed.

use std::sync::Arc;

use ferry_spawn::SpawnError;

/// A request could not get a session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckoutError {
    /// The group's request queue is full.
    #[error("request queue of {app} is full ({queued} waiting, limit {limit})")]
    QueueFull {
        /// The group's name.
        app: String,
        /// Requests waiting when this one arrived.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request waited in the queue longer than `max_request_queue_time`.
    #[error("request waited {waited:?} in the queue of {app} without getting a process ({queued} still waiting)")]
    QueueTimeout {
        /// The group's name.
        app: String,
        /// How long it waited (the limit).
        waited: std::time::Duration,
        /// Requests still waiting.
        queued: usize,
    },
    /// Spawning a process for the group failed.
    #[error("could not spawn a process for the application")]
    Spawn(#[source] Arc<SpawnError>),
    /// Ferry is shutting down.
    #[error("ferry is shutting down")]
    ShuttingDown,
}

impl CheckoutError {
    /// The spawn error, if spawning failed.
    pub fn spawn_error(&self) -> Option<&SpawnError> {
        match self {
            CheckoutError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
