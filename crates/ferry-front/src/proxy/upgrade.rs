//! Upgraded connections (WebSocket): the client gets the app's 101, then a task relays bytes
//! both ways, unbuffered, and holds the session until either side closes, or until no byte has
//! gone either way for `passenger_websocket_idle_timeout`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ferry_pool::Session;
use http::Response;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

use crate::body::Body;
use crate::connection::AppConnection;
use crate::session::{self, Reader};

/// The idle limit of an upgraded connection, and what its log line names.
#[derive(Debug)]
pub(super) struct Idle {
    /// `passenger_websocket_idle_timeout` (`None`: never).
    pub(super) limit: Option<Duration>,
    /// The app's group name.
    pub(super) app: Arc<str>,
    /// The process at the other end.
    pub(super) pid: u32,
}

/// Answers the client with an HTTP app's 101 and relays bytes between the two upgraded
/// connections on a task that holds the session until both sides are done.
pub(super) fn relay_http(
    mut response: Response<Incoming>,
    client_side: OnUpgrade,
    session: Session<AppConnection>,
    idle: Idle,
) -> Response<Body> {
    let app_side = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let _session = session;
        match tokio::try_join!(client_side, app_side) {
            Ok((client, app)) => {
                let (mut client, mut app) = (TokioIo::new(client), TokioIo::new(app));
                relay(&mut client, &mut app, &idle).await;
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, crate::body::empty())
}

/// Answers the client with a `session` app's 101 and relays bytes between the client's upgraded
/// connection and the app's socket, on a task that holds the session until both sides are done.
pub(super) fn relay_session(
    exchange: session::Exchange,
    client_side: OnUpgrade,
    session: Session<AppConnection>,
    idle: Idle,
) -> Response<Body> {
    let session::Exchange {
        head,
        reader,
        buffered,
    } = exchange;
    tokio::spawn(async move {
        let _session = session;
        let Reader::Whole(mut app) = reader else {
            return; // an upgrade request has no body, so the connection is never split
        };
        let client = match client_side.await {
            Ok(upgraded) => upgraded,
            Err(e) => return tracing::debug!(error = %e, "upgrade failed"),
        };
        let mut client = TokioIo::new(client);
        if !buffered.is_empty() {
            if let Err(e) = client.write_all(&buffered).await {
                return tracing::debug!(error = %e, "upgraded connection ended");
            }
        }
        relay(&mut client, &mut app, &idle).await;
    });
    let mut response = Response::new(crate::body::empty());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    response
}

/// Copies bytes both ways until either side closes, or until nothing has moved for the idle
/// limit (then both are closed, with a log line).
async fn relay<C, A>(client: &mut C, app: &mut A, idle: &Idle)
where
    C: AsyncRead + AsyncWrite + Unpin,
    A: AsyncRead + AsyncWrite + Unpin,
{
    let Some(limit) = idle.limit else {
        if let Err(e) = tokio::io::copy_bidirectional(client, app).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
        return;
    };
    let activity = Activity::new();
    let (mut client, mut app) = (activity.watch(client), activity.watch(app));
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut app) => {
            if let Err(e) = copied {
                tracing::debug!(error = %e, "upgraded connection ended");
            }
        }
        () = activity.idle_for(limit) => tracing::info!(
            app = %idle.app,
            pid = idle.pid,
            "no data either way on an upgraded connection (WebSocket) for {limit:?} \
             (passenger_websocket_idle_timeout); closing it"
        ),
    }
}

/// When a byte last went either way.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last byte read on either side.
    last: AtomicU64,
}

/// One side of a relay, telling its [`Activity`] of every byte read from it.
struct Watched<'a, S> {
    inner: &'a mut S,
    activity: &'a Activity,
}

// === impl Activity ===

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn watch<'a, S>(&'a self, inner: &'a mut S) -> Watched<'a, S> {
        Watched {
            inner,
            activity: self,
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// Completes once nothing has been read for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = self.start + last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

// === impl Watched ===

impl<S: AsyncRead + Unpin> AsyncRead for Watched<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut *this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn idle(limit: Option<Duration>) -> Idle {
        Idle {
            limit,
            app: "app".into(),
            pid: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_closed_after_the_idle_limit_and_a_busy_one_is_not() {
        let (mut client, mut client_end) = tokio::io::duplex(64);
        let (mut app, mut app_end) = tokio::io::duplex(64);
        let limit = Duration::from_secs(10);
        let started = Instant::now();
        let relay = tokio::spawn(async move {
            relay(&mut client_end, &mut app_end, &idle(Some(limit))).await;
        });
        // Bytes every 6 s keep it open past the limit.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client.write_all(b"ping").await.unwrap();
            let mut got = [0; 4];
            app.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
        }
        assert!(!relay.is_finished());
        relay.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(18 + 10));
        // Both sides are closed.
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
        assert_eq!(app.read_to_end(&mut rest).await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_limit_only_a_close_ends_the_relay() {
        let (client, mut client_end) = tokio::io::duplex(64);
        let (app, mut app_end) = tokio::io::duplex(64);
        let relay = tokio::spawn(async move {
            relay(&mut client_end, &mut app_end, &idle(None)).await;
        });
        tokio::time::sleep(Duration::from_secs(100_000)).await;
        assert!(!relay.is_finished());
        drop((client, app));
        tokio::time::timeout(Duration::from_secs(1), relay)
            .await
            .expect("the relay ends when both sides close")
            .unwrap();
    }
}
