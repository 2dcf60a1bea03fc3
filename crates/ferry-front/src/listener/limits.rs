//! How many client connections may be open at once, and which one to close first when a new
//! one arrives at the cap: the one idle the longest (waiting for its first request or between
//! two), as nginx does when it runs out of connections.
//!
//! The cap (`--max-connections`, `worker_connections`) leaves the rest of Ferry's file
//! descriptors to app sockets, spawns and buffer files, so that a flood of clients never makes
//! a spawn fail: at the cap with no idle connection to close, Ferry stops accepting (new clients
//! wait in the listen backlog) until one closes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The cap on open client connections, shared by every client socket.
#[derive(Debug)]
pub struct ConnectionLimit {
    max: usize,
    slots: Arc<Semaphore>,
    /// The idle connections, oldest idle first, each with what tells it to close.
    idle: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next: AtomicU64,
    /// A warning was logged for the present stretch at the cap with nothing idle.
    full: AtomicBool,
}

/// A connection's place in the idle list while it waits for a request; leaving the wait without
/// [`Idle::leave`] takes it off the list.
pub(super) struct Idle<'a> {
    limit: &'a ConnectionLimit,
    key: u64,
}

// === impl ConnectionLimit ===

impl ConnectionLimit {
    /// At most `max` client connections at once (at least 1).
    pub fn new(max: usize) -> Arc<ConnectionLimit> {
        let max = max.max(1);
        Arc::new(ConnectionLimit {
            max,
            slots: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            full: AtomicBool::new(false),
        })
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for a connection just accepted: at once if there is one; else the connection idle
    /// the longest is told to close and its slot (or the first one freed) is taken. `None` once
    /// `stop` is cancelled.
    pub(super) async fn admit(&self, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
            self.full.store(false, Ordering::Relaxed);
            return Some(slot);
        }
        if self.evict_oldest() {
            tracing::debug!(
                max = self.max,
                "at the client connection cap: closing the connection idle the longest"
            );
        } else if !self.full.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                max = self.max,
                "at the client connection cap (--max-connections, worker_connections) and none \
                 is idle: not accepting until one closes"
            );
        }
        tokio::select! {
            slot = Arc::clone(&self.slots).acquire_owned() => slot.ok(),
            () = stop.cancelled() => None,
        }
    }

    /// Puts a connection on the idle list; `evict` is notified if it is chosen to close.
    pub(super) fn idle(&self, evict: &Arc<Notify>) -> Idle<'_> {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.list().insert(key, Arc::clone(evict));
        Idle { limit: self, key }
    }

    /// How many connections are idle.
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.list().len()
    }

    /// Tells the connection idle the longest to close; `false` if none is idle.
    fn evict_oldest(&self) -> bool {
        let oldest = self.list().pop_first();
        oldest.map(|(_, evict)| evict.notify_one()).is_some()
    }

    fn list(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Notify>>> {
        // The list is valid whatever a panicking holder left half done: entries are independent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl Idle ===

impl Idle<'_> {
    /// The connection has a request to read: off the list. `false` if it was chosen to close
    /// meanwhile (its slot is promised to a new connection).
    pub(super) fn leave(self) -> bool {
        let kept = self.limit.list().remove(&self.key).is_some();
        std::mem::forget(self);
        kept
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.limit.list().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_is_told_to_close() {
        let limit = ConnectionLimit::new(2);
        let stop = CancellationToken::new();
        let first = limit.admit(&stop).await.expect("slot");
        let second = limit.admit(&stop).await.expect("slot");
        let (old, young) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let old_idle = limit.idle(&old);
        let young_idle = limit.idle(&young);
        assert_eq!(limit.idle_count(), 2);
        let admitting = tokio::spawn({
            let limit = Arc::clone(&limit);
            let stop = stop.clone();
            async move { limit.admit(&stop).await.is_some() }
        });
        old.notified().await;
        assert!(!old_idle.leave(), "chosen to close");
        assert!(young_idle.leave(), "still kept");
        drop(first);
        assert!(
            admitting.await.unwrap(),
            "the freed slot goes to the new connection"
        );
        assert_eq!(limit.idle_count(), 0);
        drop(second);
    }

    #[tokio::test]
    async fn with_nothing_idle_a_new_connection_waits_until_stop() {
        let limit = ConnectionLimit::new(1);
        let stop = CancellationToken::new();
        let _busy = limit.admit(&stop).await.expect("slot");
        let waiting = tokio::spawn({
            let limit = Arc::clone(&limit);
            let stop = stop.clone();
            async move { limit.admit(&stop).await.is_none() }
        });
        stop.cancel();
        assert!(waiting.await.unwrap(), "no slot once stopped");
    }

    #[tokio::test]
    async fn an_idle_wait_that_ends_otherwise_leaves_the_list() {
        let limit = ConnectionLimit::new(4);
        let evict = Arc::new(Notify::new());
        drop(limit.idle(&evict));
        assert_eq!(limit.idle_count(), 0);
        assert!(!limit.evict_oldest());
    }
}
