//! Issue 19, TLS: an HTTP/2 client connection, served by hyper's HTTP/2 server for its whole
//! life (no rounds: an HTTP/2 connection multiplexes its requests, and hyper's state is what
//! keeps its streams and HPACK tables).
//!
//! Requests reach the handler as HTTP/1.1 ones do: the `:authority` becomes `Host` when the
//! client sent none, the target is the path and query, and the version stays HTTP/2
//! (`SERVER_PROTOCOL` is honest). Extended CONNECT (RFC 8441) is not offered, so WebSocket
//! clients open an HTTP/1.1 connection for it.
//!
//! Limits ([`H2Limits`]), against the known attacks: at most 128 concurrent streams (nginx's
//! `http2_max_concurrent_streams`); the decoded header list at most
//! `large_client_header_buffers`' total, which also bounds a header block's CONTINUATION frames
//! and an HPACK bomb (the h2 crate stops decoding past it); streams the client resets before
//! Ferry has seen them at most 20 pending (rapid reset, CVE-2023-44487) and streams Ferry had
//! to reset for the client's errors at most 256 per connection, past which the connection is
//! closed with GOAWAY; flow-control windows of 256 KiB per stream and 1 MiB per connection;
//! the socket's writes within `send_timeout` (a client that stops reading); a ping every
//! `keepalive_timeout` that must be answered within 20 s; and the connection closed (GOAWAY)
//! once no stream has been opened or open for `keepalive_timeout`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::HOST;
use http::{HeaderValue, Request, Uri};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::client_io::{ClientIo, Requests, Tracked};
use super::connection::{Connection, Kept};
use super::Handler;

/// HTTP/2's limits on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct H2Limits {
    /// Streams open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub(super) max_concurrent_streams: u32,
    /// The largest decoded header list (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub(super) max_header_list_size: u32,
    /// The flow-control window of one stream.
    pub(super) stream_window: u32,
    /// The flow-control window of the connection.
    pub(super) connection_window: u32,
    /// Streams the client reset before they were accepted, pending at once.
    pub(super) max_pending_accept_reset_streams: usize,
    /// Streams reset for the client's errors before the connection is closed.
    pub(super) max_local_error_reset_streams: usize,
    /// How long a ping may go unanswered.
    pub(super) ping_timeout: Duration,
}

/// When `keepalive_timeout` is 0 (no keep-alive): an HTTP/2 connection still needs an idle
/// timeout; nginx's default one.
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);

// === impl H2Limits ===

impl H2Limits {
    /// The limits for a connection whose largest request head is `header_max` bytes.
    pub(super) fn new(header_max: u64) -> H2Limits {
        H2Limits {
            max_concurrent_streams: 128,
            max_header_list_size: u32::try_from(header_max).unwrap_or(u32::MAX),
            stream_window: 256 * 1024,
            connection_window: 1024 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 256,
            ping_timeout: Duration::from_secs(20),
        }
    }
}

// === impl Connection ===

impl<H: Handler> Connection<H> {
    /// Serves an HTTP/2 connection until it closes: the client's GOAWAY or end, an error,
    /// idleness, or Ferry stopping (GOAWAY, then the open streams finish).
    pub(super) async fn serve_h2(self, kept: Kept) {
        let requests = Arc::new(Requests::default());
        let io = ClientIo::new(
            kept.stream,
            kept.unread,
            Arc::clone(&requests),
            (false, Duration::ZERO),
            self.settings.send_timeout,
        );
        let idle = self.settings.keepalive_timeout.unwrap_or(IDLE_TIMEOUT);
        let connection = self
            .h2_builder(idle)
            .serve_connection(TokioIo::new(io), self.h2_service(&requests));
        let mut connection = std::pin::pin!(connection);
        let mut closing = false;
        let mut seen = 0;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(peer = ?self.client.peer, %error, "HTTP/2 connection ended with an error");
                    }
                    return;
                }
                () = self.stop.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep(idle), if !closing => {
                    let started = requests.started();
                    if started == seen && requests.in_flight() == 0 {
                        tracing::debug!(peer = ?self.client.peer, "HTTP/2 connection idle for keepalive_timeout: closed");
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    seen = started;
                }
            }
        }
    }

    /// hyper's HTTP/2 server with the connection's limits.
    fn h2_builder(&self, idle: Duration) -> hyper::server::conn::http2::Builder<TokioExecutor> {
        let limits = H2Limits::new(self.settings.header_max);
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(limits.max_header_list_size)
            .initial_stream_window_size(limits.stream_window)
            .initial_connection_window_size(limits.connection_window)
            .max_pending_accept_reset_streams(limits.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(limits.max_local_error_reset_streams)
            .keep_alive_interval(idle)
            .keep_alive_timeout(limits.ping_timeout);
        builder
    }

    /// The service hyper calls for each stream: the request made to look as an HTTP/1.1 one,
    /// answered through the handler.
    fn h2_service(
        &self,
        requests: &Arc<Requests>,
    ) -> impl hyper::service::Service<
        Request<hyper::body::Incoming>,
        Response = http::Response<Tracked>,
        Error = Infallible,
        Future = impl std::future::Future<Output = Result<http::Response<Tracked>, Infallible>>
                     + Send
                     + 'static,
    > + Send
           + 'static {
        let handler = Arc::clone(&self.handler);
        let requests = Arc::clone(requests);
        let (index, client) = (self.index, self.client);
        service_fn(move |request: Request<hyper::body::Incoming>| {
            requests.start(false);
            let handler = Arc::clone(&handler);
            let requests = Arc::clone(&requests);
            async move {
                let response = handler.handle(index, client, as_origin_form(request)).await;
                Ok(response.map(|body| Tracked::new(body, requests)))
            }
        })
    }
}

/// `request` with `Host` from `:authority` (unless it has one) and its target in origin form.
fn as_origin_form<B>(mut request: Request<B>) -> Request<B> {
    let uri = request.uri().clone();
    if !request.headers().contains_key(HOST) {
        if let Some(value) = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers_mut().insert(HOST, value);
        }
    }
    if let Some(target) = uri.path_and_query() {
        if let Ok(origin) = Uri::try_from(target.as_str()) {
            *request.uri_mut() = origin;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_becomes_host_and_the_target_its_path() {
        let request = Request::get("https://example.com:8443/a/b?c=d")
            .version(http::Version::HTTP_2)
            .body(())
            .unwrap();
        let request = as_origin_form(request);
        assert_eq!(request.headers()[HOST], "example.com:8443");
        assert_eq!(request.uri(), "/a/b?c=d");
        assert_eq!(request.version(), http::Version::HTTP_2);
        let with_host = Request::get("https://a.test/")
            .header(HOST, "b.test")
            .body(())
            .unwrap();
        assert_eq!(as_origin_form(with_host).headers()[HOST], "b.test");
    }

    #[test]
    fn limits_follow_nginx_and_the_head_size() {
        let limits = H2Limits::new(32 * 1024);
        assert_eq!(limits.max_concurrent_streams, 128);
        assert_eq!(limits.max_header_list_size, 32 * 1024);
        assert!(limits.max_pending_accept_reset_streams <= 20);
    }
}
