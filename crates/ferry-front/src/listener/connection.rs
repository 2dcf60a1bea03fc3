//! One client connection, from accept to close: Ferry waits for each request's first byte with
//! no buffer, then lets hyper serve the connection until its next idle point (a "round", see
//! [`super::client_io`]), and takes the socket back.
//!
//! ```text
//!  accepted ─ wait (client_header_timeout) ─┐   ┌─ wait (keepalive_timeout) ─┐
//!                                           └ round: hyper reads the head (client_header_timeout,
//!                                             408), serves requests, writes (send_timeout) ─┘
//! ```
//!
//! While it waits, a connection is on the [`ConnectionLimit`]'s idle list and holds only its
//! socket: no read or write buffer, no hyper state. Timeouts are nginx's: the first request head
//! must be complete within `client_header_timeout` of the accept, a later one within
//! `client_header_timeout` of its first byte; the wait for a later request is
//! `keepalive_timeout` (0: one request per connection).

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_config::deployment::{ClientSettings, ListenProtocols};
use http::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client_io::{is_send_timeout, ClientIo, HeadTimer, Requests, Tracked, LINGER};
use super::limits::ConnectionLimit;
use super::stream::Stream;
use super::{ClientInfo, Handler};

/// hyper's smallest allowed buffer bound.
const MIN_BUF_SIZE: u64 = 8192;

/// hyper's head timeout when `client_header_timeout` sets none: hyper's head timer must run
/// (it tells when hyper reads a head, see [`HeadTimer`]).
const NO_HEAD_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What nginx answers when a request head does not arrive in time.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Everything a connection needs besides its socket.
pub(super) struct Connection<H> {
    pub(super) handler: Arc<H>,
    /// The socket's place among the handler's sockets.
    pub(super) index: usize,
    pub(super) client: ClientInfo,
    pub(super) settings: ClientSettings,
    pub(super) stop: CancellationToken,
    pub(super) limit: Arc<ConnectionLimit>,
    /// Notified when the connection is chosen to close while idle.
    pub(super) evict: Arc<Notify>,
    // Issue 19, TLS:
    /// What the socket it came to speaks.
    pub(super) protocols: ListenProtocols,
}

/// A socket between two rounds, with the bytes read past the last request.
pub(super) struct Kept {
    pub(super) stream: Stream,
    pub(super) unread: Bytes,
}

// Issue 19, TLS:
/// A connection ready for its first request: its socket (after the TLS handshake), whether it
/// speaks HTTP/2, and whether a request may already be waiting in rustls (no wait for a byte).
pub(super) struct Opened {
    pub(super) kept: Kept,
    pub(super) http2: bool,
    pub(super) ready: bool,
}

// === impl Connection ===

impl<H: Handler> Connection<H> {
    /// Serves the connection until it closes; `_slot` is its place under the cap.
    pub(super) async fn serve(mut self, stream: Stream, _slot: OwnedSemaphorePermit) {
        let accepted = Instant::now();
        // Issue 19, TLS: the handshake, or the HTTP/2 preface in cleartext, first.
        let Some(opened) = self.open(stream).await else {
            return;
        };
        if opened.http2 {
            return self.serve_h2(opened.kept).await;
        }
        let mut ready = opened.ready;
        let mut kept = opened.kept;
        let requests = Arc::new(Requests::default());
        let mut first = true;
        loop {
            let head_timeout = if first {
                let timeout = self.settings.header_timeout;
                if !ready
                    && kept.unread.is_empty()
                    && !self.wait(&kept.stream, timeout, first).await
                {
                    return;
                }
                ready = false;
                timeout.map(|t| {
                    t.saturating_sub(accepted.elapsed())
                        .max(Duration::from_millis(1))
                })
            } else {
                let timeout = self.settings.keepalive_timeout;
                if kept.unread.is_empty() && !self.wait(&kept.stream, timeout, first).await {
                    return;
                }
                self.settings.header_timeout
            };
            requests.new_round();
            // Boxed: between rounds the task holds no hyper state.
            match Box::pin(self.round(kept, &requests, head_timeout)).await {
                Ok(next) => kept = next,
                Err(Some(stream)) => return Box::pin(stream.linger_close(&self.stop)).await,
                Err(None) => return,
            }
            first = false;
        }
    }

    /// Waits for the next request's first byte, on the idle list; `false` if the connection is
    /// to close (timeout, chosen to make room, Ferry stopping, socket error).
    pub(super) async fn wait(
        &self,
        stream: &Stream,
        timeout: Option<Duration>,
        first: bool,
    ) -> bool {
        let idle = self.limit.idle(&self.evict);
        let timer = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => pending().await,
            }
        };
        let readable = tokio::select! {
            readable = stream.readable() => readable.is_ok(),
            () = timer => {
                let why = if first { "client_header_timeout" } else { "keepalive_timeout" };
                tracing::debug!(peer = ?self.client.peer, "nothing received within {why}: closed");
                false
            }
            () = self.evict.notified() => {
                tracing::debug!(peer = ?self.client.peer, "idle connection closed to make room");
                false
            }
            () = self.stop.cancelled() => false,
        };
        readable && idle.leave()
    }

    /// Lets hyper serve the connection until its next idle point; the socket back if it is to be
    /// kept, else the socket to close (with a lingering close), or nothing (upgraded, or closed
    /// already).
    async fn round(
        &self,
        kept: Kept,
        requests: &Arc<Requests>,
        head_timeout: Option<Duration>,
    ) -> Result<Kept, Option<Stream>> {
        let io = ClientIo::new(
            kept.stream,
            kept.unread,
            Arc::clone(requests),
            (self.settings.keepalive_timeout.is_some(), self.linger()),
            self.settings.send_timeout,
        );
        let mut connection = self
            .builder(head_timeout, requests)
            .serve_connection(TokioIo::new(io), self.service(requests))
            .with_upgrades();
        let result = tokio::select! {
            result = &mut connection => result,
            () = self.stop.cancelled() => {
                std::pin::Pin::new(&mut connection).graceful_shutdown();
                (&mut connection).await
            }
        };
        // `None` after an upgrade: the socket went to the upgraded connection.
        let parts = connection.into_parts();
        match (result, parts) {
            (Ok(()), Some(parts)) => {
                let (stream, unread) = parts
                    .io
                    .into_inner()
                    .into_kept(parts.read_buf)
                    .map_err(Some)?;
                Ok(Kept { stream, unread })
            }
            (Ok(()), None) => Err(None),
            // Handed back with part of the next head read: hyper keeps the part.
            (Err(error), Some(parts))
                if error.is_incomplete_message() && parts.io.inner().released() =>
            {
                let (stream, unread) = parts
                    .io
                    .into_inner()
                    .into_kept(parts.read_buf)
                    .map_err(Some)?;
                Ok(Kept { stream, unread })
            }
            (Err(error), parts) => {
                Err(self.ended(&error, parts.map(|p| p.io.into_inner()), requests))
            }
        }
    }

    /// How long an idle point lasts before the round ends: [`LINGER`], and less than the
    /// keep-alive timeout and half the head timeout (hyper's head timer runs meanwhile).
    fn linger(&self) -> Duration {
        let settings = &self.settings;
        [
            Some(LINGER),
            settings.keepalive_timeout,
            settings.header_timeout.map(|t| t / 2),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(LINGER)
    }

    /// hyper's HTTP/1.1 server for one round, with the connection's limits.
    fn builder(
        &self,
        head_timeout: Option<Duration>,
        requests: &Arc<Requests>,
    ) -> hyper::server::conn::http1::Builder {
        let settings = &self.settings;
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(HeadTimer::new(Arc::clone(requests)))
            .keep_alive(settings.keepalive_timeout.is_some())
            .header_read_timeout(head_timeout.unwrap_or(NO_HEAD_TIMEOUT))
            .max_header_size(usize::try_from(settings.header_max).unwrap_or(usize::MAX))
            .max_buf_size(
                usize::try_from(settings.header_max.max(MIN_BUF_SIZE)).unwrap_or(usize::MAX),
            );
        builder
    }

    /// The service hyper calls for each request: counts it for the round and answers through
    /// the handler.
    fn service(
        &self,
        requests: &Arc<Requests>,
    ) -> impl hyper::service::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<Tracked>,
        Error = Infallible,
        Future = impl Send,
    > + Send
           + 'static {
        let handler = Arc::clone(&self.handler);
        let requests = Arc::clone(requests);
        let (index, client) = (self.index, self.client);
        let keep_alive = keep_alive_header(&self.settings);
        service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let upgrade = request
                .extensions()
                .get::<hyper::upgrade::OnUpgrade>()
                .is_some();
            requests.start(upgrade);
            let handler = Arc::clone(&handler);
            let requests = Arc::clone(&requests);
            let keep_alive = keep_alive.clone();
            // Boxed where it is made: hyper keeps the request's future and moves it there, and
            // the router's future is several KiB; a box moves as a pointer.
            Box::pin(async move {
                let mut response = handler.handle(index, client, request).await;
                if let Some(value) = keep_alive {
                    response.headers_mut().insert(KEEP_ALIVE, value);
                }
                Ok(response.map(|body| Tracked::new(body, requests)))
            })
        })
    }

    /// Logs why hyper ended the connection; a request head that did not arrive in time gets
    /// 408, as nginx answers, when every response before it has been written out. The socket
    /// back for a lingering close, unless the client stopped reading (`send_timeout`).
    fn ended(
        &self,
        error: &hyper::Error,
        io: Option<ClientIo>,
        requests: &Requests,
    ) -> Option<Stream> {
        let peer = self.client.peer;
        if error.is_timeout() {
            tracing::info!(
                ?peer,
                "the client sent no complete request head within client_header_timeout: 408"
            );
            if let (Some(io), 0) = (io.as_ref().filter(|io| io.flushed()), requests.in_flight()) {
                let _ = io.stream().try_write(REQUEST_TIMEOUT);
            }
        } else if is_send_timeout(error) {
            tracing::info!(
                ?peer,
                "the client accepted no more of the response within send_timeout: closed"
            );
            return None;
        } else {
            tracing::debug!(?peer, %error, "client connection ended with an error");
        }
        io.map(ClientIo::into_stream)
    }
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// `Keep-Alive: timeout=N` for `keepalive_timeout`'s second argument.
fn keep_alive_header(settings: &ClientSettings) -> Option<HeaderValue> {
    settings.keepalive_timeout?;
    let timeout = settings.keepalive_header?;
    HeaderValue::from_str(&format!("timeout={}", timeout.as_secs())).ok()
}
