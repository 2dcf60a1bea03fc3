//! Forwarding a request to an app process and its response back, both streamed.
//!
//! A process speaks one of two protocols on its socket: plain HTTP/1.1 (Node and generic apps),
//! through hyper's client, or Passenger's `session` protocol (the Ruby and Python loaders), through
//! [`crate::session`]. Either way, connections are kept and reused when that is safe: after a
//! response body has been read to its end, the connection goes back to the process's idle list in
//! the pool. Upgraded connections (WebSocket) are relayed byte for byte until either side closes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_pool::Session;
use ferry_protocol::response_head::Framing;
use ferry_protocol::{Endpoint, Protocol};
use http::{header, request, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::body::{Body, BoxError};
use crate::error::{error_response, Error};
use crate::inflight::Tracked;
use crate::session::{self, AppStream, BodyDecoder, BodyRead, ExchangeError, Reader, RequestBody};
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
    kind: Conn,
    idle_since: Instant,
}

#[derive(Debug)]
enum Conn {
    Http(SendRequest<Body>),
    Session(AppStream),
}

/// What the client connection tells each request about itself.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The client's address (`None` on a unix socket).
    pub(crate) peer: Option<SocketAddr>,
    /// The address the client connected to.
    pub(crate) local: Option<SocketAddr>,
}

/// The request handler for one app: static file, else the app. `cgi` are extra CGI variables
/// (`passenger_set_cgi_param`, expanded).
pub(crate) async fn handle(
    site: Arc<Site>,
    client: ClientInfo,
    request: Request<Incoming>,
    cgi: Vec<(String, String)>,
    tracked: Option<&Tracked>,
) -> Response<Body> {
    let base = site.base_uri.as_deref();
    if let Some(base) = base {
        if !session::under_base(request.uri().path(), base) {
            return crate::error::not_found();
        }
    }
    if let Some(statics) = &site.statics {
        let outcome = match base {
            Some(base) => {
                let uri = strip_base(request.uri(), base);
                statics
                    .serve(request.method(), &uri, request.headers())
                    .await
            }
            None => {
                statics
                    .serve(request.method(), request.uri(), request.headers())
                    .await
            }
        };
        if let Outcome::Response(response) = outcome {
            return response;
        }
    }
    match forward_to(&site, client, request, cgi, None, tracked).await {
        Ok(response) => response,
        Err(error) if too_large(&error) => {
            tracing::info!("request body larger than client_max_body_size: 413");
            error_response(&Error::BodyTooLarge { limit: 0 }, false)
        }
        Err(error) => {
            log_error(&error);
            let mut response = error_response(&error, site.friendly_error_pages);
            if matches!(
                error,
                Error::Checkout(ferry_pool::CheckoutError::QueueFull { .. })
            ) {
                *response.status_mut() = site.queue_overflow_status;
            }
            response
        }
    }
}

/// Bodies of unannounced length are read whole before they are sent when their limit is at most
/// this (Nginx's default `client_max_body_size` is 1 MiB).
const BUFFER_LIMIT: u64 = 8 * 1024 * 1024;

/// The most a request body of unannounced length (chunked) may carry: put in the request's
/// extensions by the router (`client_max_body_size`; a `Content-Length` is checked there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) u64);

/// Whether `error` comes from a body cut at its [`BodyLimit`].
fn too_large(error: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A direct request (seed 000 §10.4) to the process `pid`, whose sticky id is `sticky_id`: no
/// files, and no other process. 503 when the pool hands out another process (the one asked
/// for is busy leaving, or gone).
pub(crate) async fn handle_direct(
    site: Arc<Site>,
    client: ClientInfo,
    request: Request<Incoming>,
    sticky_id: u64,
    pid: u32,
) -> Response<Body> {
    match forward_to(
        &site,
        client,
        request,
        Vec::new(),
        Some((sticky_id, pid)),
        None,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => {
            log_error(&error);
            error_response(&error, site.friendly_error_pages)
        }
    }
}

/// `uri` with the base URI taken off its path, for the static file lookup.
fn strip_base(uri: &http::Uri, base: &str) -> http::Uri {
    let (_, path) = session::split_base(uri.path(), Some(base));
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    target.parse().unwrap_or_else(|_| uri.clone())
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

/// The request on its way, kept in a form that can be sent again while it has not reached an app.
struct Pending {
    parts: request::Parts,
    /// `None` once the body has been handed to a connection.
    body: Option<Body>,
    kind: RequestBody,
    upgrade: Option<OnUpgrade>,
    /// Whether the HTTP-protocol rewriting of the headers has been applied.
    rewritten: bool,
    /// Extra CGI variables: `session` apps get them all, HTTP apps the `HTTP_*` ones as headers.
    cgi: Vec<(String, String)>,
}

/// What one attempt on one process came to.
enum Tried {
    Done(Response<Body>),
    /// The request did not reach the app (or may safely be sent again): try another connection.
    Again(Error),
}

/// checkout_session → send_request → forward_response, retrying on another connection while the
/// request has not reached an app; only to the process `only` names (sticky id, pid) when
/// given. `tracked` learns which process took the request.
async fn forward_to(
    site: &Site,
    client: ClientInfo,
    mut request: Request<Incoming>,
    cgi: Vec<(String, String)>,
    only: Option<(u64, u32)>,
    tracked: Option<&Tracked>,
) -> Result<Response<Body>, Error> {
    let upgrade = session::is_upgrade_request(request.method(), request.headers())
        .then(|| hyper::upgrade::on(&mut request));
    let (mut parts, body) = request.into_parts();
    let mut kind = session::request_body(&parts, &body);
    let body = match parts.extensions.get::<BodyLimit>().copied() {
        // A body of unannounced length under `client_max_body_size`: read whole first, as
        // Nginx does, so that one too large gets 413 before the app sees any of it.
        Some(BodyLimit(limit)) if limit <= BUFFER_LIMIT => {
            let bytes = match http_body_util::Limited::new(body, limit as usize)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(Error::BodyTooLarge { limit })
                }
                Err(source) => return Err(Error::ClientBody { source }),
            };
            parts.headers.remove(header::TRANSFER_ENCODING);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            kind = if bytes.is_empty() {
                RequestBody::None
            } else {
                RequestBody::Length(bytes.len() as u64)
            };
            crate::body::full(bytes)
        }
        // Larger limits: streamed, and cut at the limit (the app sees a truncated body).
        Some(BodyLimit(limit)) => http_body_util::Limited::new(body, limit as usize)
            .map_err(BoxError::from)
            .boxed(),
        None => body.map_err(BoxError::from).boxed(),
    };
    let mut pending = Pending {
        parts,
        body: Some(body),
        kind,
        upgrade,
        rewritten: false,
        cgi,
    };
    let sticky = match only {
        Some((sticky_id, _)) => Some(sticky_id),
        None => site
            .sticky
            .as_ref()
            .and_then(|cookie| headers::sticky_id(&pending.parts.headers, &cookie.name)),
    };
    let mut last_error = None;
    for _ in 0..MAX_TRIES {
        let asked = site.metrics.is_enabled().then(Instant::now);
        let mut session = site.pool.checkout_sticky(site.group, sticky).await?;
        if let Some(asked) = asked {
            site.metrics
                .record_queue_wait(site.metrics_app, asked.elapsed());
        }
        if let Some(tracked) = tracked {
            tracked.in_app(session.pid());
        }
        if only.is_some_and(|(_, pid)| pid != session.pid()) {
            return Err(Error::Checkout(ferry_pool::CheckoutError::ShuttingDown));
        }
        let sticky_id = session.sticky_id();
        let served_by = crate::access_log::ServedBy {
            app: Arc::clone(&site.app_name),
            pid: session.pid(),
        };
        let (conn, reused) = match connection(&session).await {
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
        let abort = site
            .max_request_time
            .map(|limit| (limit, session.abort_handle()));
        let send = async {
            match conn.kind {
                Conn::Http(sender) => {
                    send_http(&mut pending, client, session, sender, reused).await
                }
                Conn::Session(stream) => {
                    send_session(site, &mut pending, client, session, stream, reused).await
                }
            }
        };
        let tried = match abort {
            None => send.await?,
            Some((limit, process)) => match tokio::time::timeout(limit, send).await {
                Ok(tried) => tried?,
                Err(_) => {
                    tracing::warn!(
                        pid = process.pid(),
                        "a request ran longer than max_request_time ({limit:?}); stopping its \
                         process (its backtrace follows in its output)"
                    );
                    process.abort();
                    return Err(Error::RequestTimeout { limit });
                }
            },
        };
        match tried {
            Tried::Done(mut response) => {
                response.extensions_mut().insert(served_by);
                if let Some(cookie) = &site.sticky {
                    headers::set_sticky_cookie(
                        &mut response,
                        cookie,
                        sticky_id,
                        site.base_uri.as_deref(),
                    );
                }
                return Ok(response);
            }
            Tried::Again(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(Error::Retries {
        endpoint: "(none)".into(),
    }))
}

/// A kept connection to the session's process if one is fresh and ready, else a new one.
async fn connection(session: &Session<AppConnection>) -> std::io::Result<(AppConnection, bool)> {
    let protocol = session.protocol();
    while let Some(conn) = session.take_connection() {
        let usable = match (&conn.kind, protocol) {
            (Conn::Http(sender), Protocol::Http) => {
                conn.idle_since.elapsed() < REUSE_WINDOW && sender.is_ready()
            }
            // Loaders keep a connection until Ferry closes it.
            (Conn::Session(_), Protocol::Session) => true,
            _ => false,
        };
        if usable {
            return Ok((conn, true));
        }
    }
    let kind = match protocol {
        Protocol::Http => Conn::Http(connect_http(session.endpoint()).await?),
        Protocol::Session => Conn::Session(AppStream::connect(session.endpoint()).await?),
    };
    Ok((
        AppConnection {
            kind,
            idle_since: Instant::now(),
        },
        false,
    ))
}

// === HTTP protocol ===

async fn connect_http(endpoint: &Endpoint) -> std::io::Result<SendRequest<Body>> {
    let stream = AppStream::connect(endpoint).await?;
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "connection to app process ended");
        }
    });
    Ok(sender)
}

/// Turns the client's request into the one an HTTP app gets (once).
fn rewrite_for_http(pending: &mut Pending, client: ClientInfo) {
    if pending.rewritten {
        return;
    }
    pending.rewritten = true;
    let parts = &mut pending.parts;
    let upgrade_to = pending
        .upgrade
        .is_some()
        .then(|| parts.headers.get(header::UPGRADE).cloned())
        .flatten();
    headers::strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = upgrade_to {
        parts.headers.insert(header::UPGRADE, protocol);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    headers::add_forwarded(&mut parts.headers, client.peer.map(|p| p.ip()), "http");
    parts.version = Version::HTTP_11;
    if let Some(path) = parts.uri.path_and_query() {
        parts.uri = path.as_str().parse().unwrap_or_default();
    }
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    for (name, value) in &pending.cgi {
        let Some(header_name) = name.strip_prefix("HTTP_") else {
            continue;
        };
        let header_name = header_name.replace('_', "-").to_ascii_lowercase();
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(header_name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            parts.headers.insert(n, v);
        }
    }
}

async fn send_http(
    pending: &mut Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
    mut sender: SendRequest<Body>,
    reused: bool,
) -> Result<Tried, Error> {
    rewrite_for_http(pending, client);
    let body = pending.body.take().unwrap_or_else(crate::body::empty);
    // The head is moved into the request; a copy is kept only when the request could have to be
    // sent again after it left (a bodiless idempotent request on a kept connection).
    let replay = (reused && replayable(pending)).then(|| pending.parts.clone());
    let parts = std::mem::replace(&mut pending.parts, Request::new(()).into_parts().0);
    let request = Request::from_parts(parts, body);
    match sender.try_send_request(request).await {
        Ok(response) => {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                if let Some(client_side) = pending.upgrade.take() {
                    return Ok(Tried::Done(relay_http_upgrade(
                        response,
                        client_side,
                        session,
                    )));
                }
            }
            let conn = AppConnection {
                kind: Conn::Http(sender),
                idle_since: Instant::now(),
            };
            Ok(Tried::Done(forward_http_response(response, session, conn)))
        }
        Err(mut failed) => {
            let endpoint = session.describe_endpoint();
            match (failed.take_message(), replay) {
                // Not sent at all: safe to send elsewhere.
                (Some(unsent), _) => {
                    let (parts, body) = unsent.into_parts();
                    pending.parts = parts;
                    pending.body = Some(body);
                }
                // Sent on a kept connection the app had just closed; no body, idempotent.
                (None, Some(parts)) => {
                    pending.parts = parts;
                    pending.body = Some(crate::body::empty());
                }
                (None, None) => {
                    return Err(Error::Upstream {
                        endpoint,
                        source: failed.into_error().into(),
                    })
                }
            }
            tracing::debug!(%endpoint, "retrying request on a new connection");
            Ok(Tried::Again(Error::Retries { endpoint }))
        }
    }
}

/// Whether a request that may have reached the app can be sent again: no body, idempotent.
fn replayable(pending: &Pending) -> bool {
    pending.kind == RequestBody::None
        && matches!(
            pending.parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        )
}

/// Streams the app's response to the client. The session (and the connection, for reuse) is
/// released when the body has been read to its end, or dropped when the client goes away.
fn forward_http_response(
    response: Response<Incoming>,
    session: Session<AppConnection>,
    conn: AppConnection,
) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let body = HttpBody {
        inner: body,
        lease: Some((session, conn)),
    };
    Response::from_parts(parts, body.boxed())
}

/// The HTTP app's response body, holding the session until it ends.
struct HttpBody {
    inner: Incoming,
    lease: Option<(Session<AppConnection>, AppConnection)>,
}

impl http_body::Body for HttpBody {
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

impl Drop for HttpBody {
    fn drop(&mut self) {
        // A body that is empty from the start (HEAD, 204, 304) is never polled.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

impl HttpBody {
    /// The body ended cleanly: the connection can serve another request.
    fn finish(&mut self) {
        if let Some((session, mut conn)) = self.lease.take() {
            conn.idle_since = Instant::now();
            session.put_connection(conn);
        }
    }
}

/// Answers the client with the app's 101 and relays bytes between the two upgraded connections
/// on a task that holds the session until both sides are done.
fn relay_http_upgrade(
    mut response: Response<Incoming>,
    client_side: OnUpgrade,
    session: Session<AppConnection>,
) -> Response<Body> {
    let app_side = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let _session = session;
        match tokio::try_join!(client_side, app_side) {
            Ok((client, app)) => {
                let (mut client, mut app) = (TokioIo::new(client), TokioIo::new(app));
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut app).await {
                    tracing::debug!(error = %e, "upgraded connection ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, crate::body::empty())
}

// === session protocol ===

async fn send_session(
    site: &Site,
    pending: &mut Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
    stream: AppStream,
    reused: bool,
) -> Result<Tried, Error> {
    let frame = session::frame(
        &pending.parts,
        pending.kind,
        pending.upgrade.is_some(),
        &session::FrameContext {
            peer: client.peer,
            local: client.local,
            https: false,
            base_uri: site.base_uri.as_deref(),
            server_software: &site.server_software,
            connect_password: session.connect_password(),
            extra: &pending.cgi,
        },
    );
    let head_request = pending.parts.method == Method::HEAD;
    let endpoint = || session.describe_endpoint();
    let sent = session::exchange(stream, frame, &mut pending.body, pending.kind, head_request);
    let exchange = match sent.await {
        Ok(exchange) => exchange,
        // The frame did not go out, so neither did the body: send it elsewhere.
        Err(ExchangeError::Send(source)) => {
            tracing::debug!(endpoint = %endpoint(), error = %source, "retrying request on a new connection");
            return Ok(Tried::Again(Error::Upstream {
                endpoint: endpoint(),
                source: source.into(),
            }));
        }
        Err(ExchangeError::Incomplete {
            got_bytes: false, ..
        }) if reused && replayable(pending) => {
            tracing::debug!(endpoint = %endpoint(), "kept connection was closed; retrying");
            return Ok(Tried::Again(Error::Retries {
                endpoint: endpoint(),
            }));
        }
        Err(e) => {
            return Err(Error::Upstream {
                endpoint: endpoint(),
                source: e.into(),
            })
        }
    };
    if exchange.head.upgrade {
        if let Some(client_side) = pending.upgrade.take() {
            return Ok(Tried::Done(relay_session_upgrade(
                exchange,
                client_side,
                session,
            )));
        }
    }
    Ok(Tried::Done(session_response(
        exchange,
        session,
        pending.kind,
    )))
}

/// Builds the client's response from the app's head; the body streams from the connection.
fn session_response(
    exchange: session::Exchange,
    session: Session<AppConnection>,
    sent: RequestBody,
) -> Response<Body> {
    let session::Exchange {
        head,
        reader,
        mut buffered,
    } = exchange;
    let mut response = Response::new(crate::body::empty());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    let decoder = BodyDecoder::new(head.framing);
    let lease = Lease {
        session: Some(session),
        oob: head.wants_oob_work,
    };
    // A connection is reused only when nothing was half-closed and the app said it may be.
    let reusable = head.keep_alive && sent == RequestBody::None;
    if decoder.complete_in(&buffered) {
        // The whole body arrived with the head (small responses): answer without streaming.
        let data = match head.framing {
            Framing::Length(n) => buffered.split_to(n as usize).freeze(),
            _ => Bytes::new(),
        };
        let leftover = !buffered.is_empty();
        lease.finish(reader, reusable && !leftover);
        *response.body_mut() = crate::body::full(data);
        return response;
    }
    *response.body_mut() = SessionBody {
        decoder,
        reader: Some(reader),
        buffered,
        reusable,
        lease: Some(lease),
    }
    .boxed();
    response
}

/// The session and what ending it involves.
struct Lease {
    session: Option<Session<AppConnection>>,
    /// The app asked for out-of-band work.
    oob: bool,
}

impl Lease {
    /// The response is complete: keep the connection if it can serve another request, then ask
    /// the pool for out-of-band work if the app wants it, and release the process.
    fn finish(mut self, reader: Reader, reusable: bool) {
        let Some(session) = self.session.take() else {
            return;
        };
        if let (true, Reader::Whole(stream)) = (reusable, reader) {
            session.put_connection(AppConnection {
                kind: Conn::Session(stream),
                idle_since: Instant::now(),
            });
        }
        if !self.oob {
            return;
        }
        tokio::spawn(async move {
            // The pool stops routing to the process and hands the session back once the
            // process's other requests are done (or declines: last process, another at it).
            let pid = session.pid();
            let Some(session) = session.out_of_band_work().await else {
                return tracing::debug!(pid, "out-of-band work declined by the pool");
            };
            // A loader thread waiting on a kept connection would not see the new one.
            while session.take_connection().is_some() {}
            let endpoint = session.endpoint().clone();
            match session::out_of_band_work(&endpoint, session.connect_password()).await {
                Ok(()) => tracing::debug!(pid, "out-of-band work done"),
                Err(e) => tracing::warn!(pid, error = %e, "out-of-band work failed"),
            }
        });
    }
}

/// A `session` response body streaming from the app's connection.
struct SessionBody {
    decoder: BodyDecoder,
    reader: Option<Reader>,
    buffered: BytesMut,
    reusable: bool,
    lease: Option<Lease>,
}

impl http_body::Body for SessionBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(reader) = this.reader.as_mut() else {
            return Poll::Ready(None);
        };
        match this.decoder.poll_read(cx, reader, &mut this.buffered) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(BodyRead::Data(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Ok(BodyRead::End { reusable })) => {
                let reader = this.reader.take();
                if let (Some(lease), Some(reader)) = (this.lease.take(), reader) {
                    let leftover = !this.buffered.is_empty();
                    lease.finish(reader, reusable && this.reusable && !leftover);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                // The connection is dropped with the body; the session ends.
                this.reader = None;
                this.lease = None;
                Poll::Ready(Some(Err(e.into())))
            }
        }
    }
}

/// Answers the client with the app's 101 and relays bytes between the client's upgraded
/// connection and the app's socket, on a task that holds the session until both sides are done.
fn relay_session_upgrade(
    exchange: session::Exchange,
    client_side: OnUpgrade,
    session: Session<AppConnection>,
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
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut app).await {
            tracing::debug!(error = %e, "upgraded connection ended");
        }
    });
    let mut response = Response::new(crate::body::empty());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    response
}
