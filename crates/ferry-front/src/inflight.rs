//! Requests in progress, for `ferry status --show=requests`: each request that goes to an app is
//! tracked from routing until its response body has been sent (or the client left), with its
//! state and, once it has one, the process serving it.
//!
//! A request costs two short lock holds (in and out) on one map; nothing else is shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use tokio::time::Instant;

/// Every tracked request.
#[derive(Debug, Default)]
pub struct Inflight {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Tracked>>>,
}

/// One request being handled.
#[derive(Debug)]
pub(crate) struct Tracked {
    app: Arc<str>,
    method: Method,
    path: String,
    started: Instant,
    /// The serving process (0: none yet).
    pid: AtomicU32,
    stage: AtomicU8,
}

/// What [`Inflight::snapshot`] tells about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    /// Its app group.
    pub app: String,
    /// Its method.
    pub method: String,
    /// Its path and query.
    pub path: String,
    /// `queued` (waiting for a process), `in_app` (sent to it, no answer yet) or
    /// `sending_response`.
    pub state: &'static str,
    /// The process serving it, once it has one.
    pub pid: Option<u32>,
    /// Time since it arrived.
    pub age: Duration,
}

/// Removes its request from the map when dropped.
#[derive(Debug)]
pub(crate) struct Guard {
    inflight: Arc<Inflight>,
    id: u64,
}

const QUEUED: u8 = 0;
const IN_APP: u8 = 1;
const SENDING: u8 = 2;

impl Inflight {
    /// Starts tracking a request for `app`.
    pub(crate) fn track(
        self: &Arc<Self>,
        app: Arc<str>,
        method: Method,
        path: String,
    ) -> (Arc<Tracked>, Guard) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let tracked = Arc::new(Tracked {
            app,
            method,
            path,
            started: Instant::now(),
            pid: AtomicU32::new(0),
            stage: AtomicU8::new(QUEUED),
        });
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, Arc::clone(&tracked));
        let guard = Guard {
            inflight: Arc::clone(self),
            id,
        };
        (tracked, guard)
    }

    /// The requests in progress, oldest first.
    pub fn snapshot(&self) -> Vec<RequestView> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<RequestView> = map
            .values()
            .map(|t| {
                let pid = t.pid.load(Ordering::Relaxed);
                RequestView {
                    app: t.app.to_string(),
                    method: t.method.to_string(),
                    path: t.path.clone(),
                    state: match t.stage.load(Ordering::Relaxed) {
                        QUEUED => "queued",
                        IN_APP => "in_app",
                        _ => "sending_response",
                    },
                    pid: (pid != 0).then_some(pid),
                    age: t.started.elapsed(),
                }
            })
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.age));
        out
    }
}

impl Tracked {
    /// A process took the request.
    pub(crate) fn in_app(&self, pid: u32) {
        self.pid.store(pid, Ordering::Relaxed);
        self.stage.store(IN_APP, Ordering::Relaxed);
    }

    /// The response head is out; the body follows.
    pub(crate) fn sending(&self) {
        self.stage.store(SENDING, Ordering::Relaxed);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.inflight
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// A response body that keeps its request tracked until it ends or is dropped.
pub(crate) struct TrackedBody {
    pub(crate) inner: crate::body::Body,
    pub(crate) guard: Option<Guard>,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tracked_until_their_guard_goes() {
        let inflight = Arc::new(Inflight::default());
        let (a, guard_a) = inflight.track("app".into(), Method::GET, "/a".into());
        let (_b, guard_b) = inflight.track("app".into(), Method::POST, "/b".into());
        a.in_app(42);
        let seen = inflight.snapshot();
        assert_eq!(seen.len(), 2);
        let first = seen.iter().find(|r| r.path == "/a").unwrap();
        assert_eq!((first.state, first.pid), ("in_app", Some(42)));
        let second = seen.iter().find(|r| r.path == "/b").unwrap();
        assert_eq!((second.state, second.pid), ("queued", None));
        a.sending();
        assert_eq!(
            inflight
                .snapshot()
                .iter()
                .find(|r| r.path == "/a")
                .unwrap()
                .state,
            "sending_response"
        );
        drop(guard_a);
        drop(guard_b);
        assert!(inflight.snapshot().is_empty());
    }
}
