//! Forwarding a request to an app process and its response back, both streamed.
//!
//! Connections to app processes are kept and reused when the app allows keep-alive: after a
//! response body has been read to its end, the connection goes back to the process's idle list in
//! the pool. (Passenger closes the connection to HTTP apps after every request.)

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ferry_pool::Session;
use ferry_spawn::{Endpoint, Spawner};
use http::{header, HeaderValue, Method, Request, Response, Version};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::body::{Body, BoxError};
use crate::error::{error_response, Error};
use crate::static_files::Outcome;
use crate::{headers, Site};

/// How many processes a request tries before it gives up with 502.
const MAX_TRIES: usize = 3;
/// An idle connection older than this is not reused: the app may be about to close it (Node's
/// default keep-alive timeout is 5 s), and a request sent as it closes would be lost.
const REUSE_WINDOW: Duration = Duration::from_secs(2);

/// A kept connection to an app process.
#[derive(Debug)]
pub struct AppConnection {
    sender: SendRequest<Body>,
    idle_since: Instant,
}

/// What the client connection tells each request about itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientInfo {
    pub(crate) ip: Option<IpAddr>,
}

/// The request handler: static file, else the app.
pub(crate) async fn handle<S: Spawner>(
    site: Arc<Site<S>>,
    client: ClientInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    if let Some(statics) = &site.statics {
        if let Outcome::Response(response) = statics
            .serve(request.method(), request.uri(), request.headers())
            .await
        {
            return response;
        }
    }
    match forward(&site, client, request).await {
        Ok(response) => response,
        Err(error) => {
            log_error(&error);
            error_response(&error, site.friendly_error_pages)
        }
    }
}

fn log_error(error: &Error) {
    match error {
        // Spawn failures and full queues are logged where they happen, with their details.
        Error::Checkout(_) => {}
        other => {
            tracing::warn!(error = %other, cause = ?std::error::Error::source(other), "request failed")
        }
    }
}

/// checkout_session → send_request → forward_response, retrying on another process while the
/// request has not reached an app.
async fn forward<S: Spawner>(
    site: &Site<S>,
    client: ClientInfo,
    request: Request<Incoming>,
) -> Result<Response<Body>, Error> {
    let mut request = prepare_request(request, client);
    let replay = Replay::of(&request);
    let mut last_error = None;
    for _ in 0..MAX_TRIES {
        let mut session = site.pool.checkout(site.group).await?;
        let (mut conn, reused) = match connection(&session).await {
            Ok(found) => found,
            Err(source) => {
                // Refused: nothing listens there any more. Other errors (out of descriptors, ...)
                // say nothing about the process, which stays in rotation.
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                ) {
                    session.process_failed();
                }
                last_error = Some(Error::Connect {
                    endpoint: session.describe_endpoint(),
                    source,
                });
                continue;
            }
        };
        match conn.sender.try_send_request(request).await {
            Ok(response) => return Ok(forward_response(response, session, conn)),
            Err(mut failed) => {
                let endpoint = session.describe_endpoint();
                request = match (failed.take_message(), replay.rebuild(reused)) {
                    // Not sent at all: safe to send elsewhere.
                    (Some(unsent), _) => unsent,
                    // Sent on a kept connection the app had just closed; no body, idempotent.
                    (None, Some(again)) => again,
                    (None, None) => {
                        return Err(Error::Upstream {
                            endpoint,
                            source: failed.into_error(),
                        })
                    }
                };
                tracing::debug!(%endpoint, "retrying request on a new connection");
                last_error = Some(Error::Retries { endpoint });
            }
        }
    }
    Err(last_error.unwrap_or(Error::Retries {
        endpoint: "(none)".into(),
    }))
}

/// Turns the client's request into the one the app gets.
fn prepare_request(request: Request<Incoming>, client: ClientInfo) -> Request<Body> {
    let (mut parts, body) = request.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::add_forwarded(&mut parts.headers, client.ip, "http");
    parts.version = Version::HTTP_11;
    if let Some(path) = parts.uri.path_and_query() {
        parts.uri = path.as_str().parse().unwrap_or_default();
    }
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    Request::from_parts(parts, body.map_err(BoxError::from).boxed())
}

/// What is needed to send a request again, kept only for requests that may be replayed.
struct Replay(Option<(Method, http::Uri, http::HeaderMap)>);

impl Replay {
    fn of(request: &Request<Body>) -> Replay {
        let no_body = request.body().is_end_stream();
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        Replay((no_body && idempotent).then(|| {
            (
                request.method().clone(),
                request.uri().clone(),
                request.headers().clone(),
            )
        }))
    }

    /// A copy of the request, if it may be sent again after a failure on a kept connection.
    fn rebuild(&self, reused: bool) -> Option<Request<Body>> {
        let (method, uri, headers) = self.0.as_ref().filter(|_| reused)?;
        let mut request = Request::new(crate::body::empty());
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers.clone();
        Some(request)
    }
}

/// A kept connection to the session's process if one is fresh and ready, else a new one.
async fn connection(session: &Session<AppConnection>) -> std::io::Result<(AppConnection, bool)> {
    while let Some(conn) = session.take_connection() {
        if conn.idle_since.elapsed() < REUSE_WINDOW && conn.sender.is_ready() {
            return Ok((conn, true));
        }
    }
    let sender = connect(session.endpoint()).await?;
    Ok((
        AppConnection {
            sender,
            idle_since: Instant::now(),
        },
        false,
    ))
}

async fn connect(endpoint: &Endpoint) -> std::io::Result<SendRequest<Body>> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            handshake(stream).await
        }
        Endpoint::Unix(path) => handshake(tokio::net::UnixStream::connect(path).await?).await,
    }
}

async fn handshake<T>(stream: T) -> std::io::Result<SendRequest<Body>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection to app process ended");
        }
    });
    Ok(sender)
}

/// Streams the app's response to the client. The session (and the connection, for reuse) is
/// released when the body has been read to its end, or dropped when the client goes away.
fn forward_response(
    response: Response<Incoming>,
    session: Session<AppConnection>,
    conn: AppConnection,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let body = AppBody {
        inner: body,
        lease: Some((session, conn)),
    };
    Response::from_parts(parts, body.boxed())
}

/// The app's response body, holding the session until it ends.
struct AppBody {
    inner: Incoming,
    lease: Option<(Session<AppConnection>, AppConnection)>,
}

impl http_body::Body for AppBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            // hyper stops polling once `is_end_stream` is true, so the end is noticed after the
            // last frame as well as at `None`.
            Poll::Ready(None) => self.finish(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.finish(),
            // A broken body closes the connection; the session still ends.
            Poll::Ready(Some(Err(_))) => drop(self.lease.take()),
            _ => {}
        }
        polled.map_err(BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AppBody {
    fn drop(&mut self) {
        // A body that is empty from the start (HEAD, 204, 304) is never polled.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

impl AppBody {
    /// The body ended cleanly: the connection can serve another request.
    fn finish(&mut self) {
        if let Some((session, mut conn)) = self.lease.take() {
            conn.idle_since = Instant::now();
            session.put_connection(conn);
        }
    }
}
