//! send_request: the request goes to the session's process, over a kept or new connection, by
//! the process's protocol, until the answer's head is in; within `max_request_time`.
//!
//! * `http` (Node, generic apps): hop-by-hop headers stripped (`Upgrade` kept for an upgrade),
//!   `X-Forwarded-*` added, sent with hyper's `try_send_request`.
//! * `session` (Ruby, Python): the frame of CGI variables, then the body
//!   ([`crate::session::exchange`]), then the response head.
//!
//! A request that never left Ferry, or an idempotent one (bodiless, or with a buffered body) sent
//! on a kept connection the app had just closed, can be sent again: [`Sent::Again`].
//! An app that sends no response head within `passenger_read_timeout` gets its process
//! stopped, and the client 504.

use std::time::Duration;

use ferry_pool::{AbortHandle, Session};
use http::{header, HeaderValue, Method, Request, Response, Version};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use crate::body::Body;
use crate::connection::{self, AppConnection, Conn};
use crate::error::Error;
use crate::headers;
use crate::listener::ClientInfo;
use crate::session::{self, AppStream, ExchangeError, RequestBody};
use crate::site::Site;

use super::pending::Pending;

/// What sending the request on one process came to.
// An `Answer` (a response head) is large; a `Sent` is moved once per try and never stored, so
// boxing it would only add an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Sent {
    /// The app answered: its head is in, its body (if any) follows.
    Answered(Answer),
    /// The request did not reach the app (or may safely be sent again): try another connection.
    Again(Error),
}

/// An app's answer, with what its body needs: the session it holds, the connection it comes on.
pub(super) enum Answer {
    /// From an HTTP app, and the connection, to keep once the body has been read.
    Http {
        response: Response<Incoming>,
        session: Session<AppConnection>,
        conn: AppConnection,
    },
    /// From a `session` app; `sent` says how the request's body went (a half-closed connection is
    /// not kept).
    Session {
        exchange: session::Exchange,
        session: Session<AppConnection>,
        sent: RequestBody,
    },
}

// === impl Answer ===

impl Answer {
    /// The session the answer holds.
    pub(super) fn session(&self) -> &Session<AppConnection> {
        match self {
            Answer::Http { session, .. } | Answer::Session { session, .. } => session,
        }
    }
}

/// Sends `pending` to the session's process and reads the answer's head, within the site's
/// `max_request_time` (past it, the process is aborted: 504).
pub(super) async fn send_request(
    site: &Site,
    pending: &mut Pending,
    client: ClientInfo,
    mut session: Session<AppConnection>,
) -> Result<Sent, Error> {
    let (conn, reused) = match connection::connect(&session).await {
        Ok(found) => found,
        Err(source) => return Ok(Sent::Again(connect_failed(&mut session, source))),
    };
    let deadline = site
        .max_request_time
        .map(|limit| (limit, session.abort_handle()));
    // Issue 16, response side: passenger_read_timeout, until the head.
    let silence = site
        .response
        .app_read_timeout
        .map(|limit| (limit, session.abort_handle()));
    let send = async {
        match conn.kind {
            Conn::Http(sender) => send_http(pending, client, session, sender, reused).await,
            Conn::Session(stream) => {
                send_session(site, pending, client, session, stream, reused).await
            }
        }
    };
    // The timed forms are boxed: without limits (the default) a request's future stays as small
    // as `send` itself, and hyper moves that future once per request.
    match (deadline, silence) {
        (None, None) => send.await,
        (Some((limit, process)), None) => Box::pin(within(limit, process, send)).await,
        (None, Some((limit, process))) => {
            Box::pin(head_within(limit, process, &site.app_name, send)).await
        }
        (Some((limit, process)), Some((silence, silent))) => {
            let send = head_within(silence, silent, &site.app_name, send);
            Box::pin(within(limit, process, send)).await
        }
    }
}

/// The error of a failed connect. Refused: nothing listens there any more; permission denied:
/// the socket is not the app's (or not served by the app's user: `AppStream::connect`); either
/// way the process leaves the pool. Other errors (out of descriptors, ...) say nothing about the
/// process, which stays in rotation.
fn connect_failed(session: &mut Session<AppConnection>, source: std::io::Error) -> Error {
    use std::io::ErrorKind::{ConnectionRefused, NotFound, PermissionDenied};
    if matches!(
        source.kind(),
        ConnectionRefused | NotFound | PermissionDenied
    ) {
        if source.kind() == PermissionDenied {
            tracing::warn!(pid = session.pid(), error = %source, "app socket refused; detaching the process");
        }
        session.process_failed();
    }
    Error::Connect {
        endpoint: session.describe_endpoint(),
        source,
    }
}

/// `send`, unless it takes longer than `limit` (`max_request_time`): then the process is
/// stopped (its backtrace first) and the client gets 504.
async fn within(
    limit: Duration,
    process: AbortHandle<AppConnection>,
    send: impl std::future::Future<Output = Result<Sent, Error>>,
) -> Result<Sent, Error> {
    match tokio::time::timeout(limit, send).await {
        Ok(sent) => sent,
        Err(_) => {
            tracing::warn!(
                pid = process.pid(),
                "a request ran longer than max_request_time ({limit:?}); stopping its process (its \
                 backtrace follows in its output)"
            );
            process.abort();
            Err(Error::RequestTimeout { limit })
        }
    }
}

// Issue 16, response side:
/// `send`, unless the app's response head has not come after `limit` (`passenger_read_timeout`):
/// then the process is stopped (its backtrace first) and the client gets 504. The clock runs from
/// the moment the request is sent, its body included.
async fn head_within(
    limit: Duration,
    process: AbortHandle<AppConnection>,
    app: &str,
    send: impl std::future::Future<Output = Result<Sent, Error>>,
) -> Result<Sent, Error> {
    match tokio::time::timeout(limit, send).await {
        Ok(sent) => sent,
        Err(_) => {
            tracing::warn!(
                app,
                pid = process.pid(),
                "no response head from the app within {limit:?} (passenger_read_timeout); \
                 stopping its process (its backtrace follows in its output)"
            );
            process.abort();
            Err(Error::AppReadTimeout { limit })
        }
    }
}

// === HTTP protocol ===

async fn send_http(
    pending: &mut Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
    mut sender: SendRequest<Body>,
    reused: bool,
) -> Result<Sent, Error> {
    rewrite_for_http(pending, client);
    let body = pending
        .body_for_try()
        .take()
        .unwrap_or_else(crate::body::empty);
    // The head is moved into the request; a copy is kept only when the request could have to be
    // sent again after it left (a bodiless idempotent request on a kept connection).
    let replay = (reused && pending.replayable()).then(|| pending.parts.clone());
    let parts = std::mem::replace(&mut pending.parts, Request::new(()).into_parts().0);
    let request = Request::from_parts(parts, body);
    match sender.try_send_request(request).await {
        Ok(response) => Ok(Sent::Answered(Answer::Http {
            response,
            session,
            conn: AppConnection::new(Conn::Http(sender)),
        })),
        Err(mut failed) => {
            let endpoint = session.describe_endpoint();
            match (failed.take_message(), replay) {
                // Not sent at all: safe to send elsewhere.
                (Some(unsent), _) => {
                    let (parts, body) = unsent.into_parts();
                    pending.parts = parts;
                    pending.body = Some(body);
                }
                // Sent on a kept connection the app had just closed; idempotent, with no body or
                // a buffered one (made again for the next try).
                (None, Some(parts)) => {
                    pending.parts = parts;
                    pending.body = None;
                }
                // A body streamed from the client failed (its error is the client's answer), or
                // the app did.
                (None, None) => {
                    return Err(super::body::classify(failed.into_error().into())
                        .unwrap_or_else(|source| Error::Upstream { endpoint, source }))
                }
            }
            tracing::debug!(%endpoint, "retrying request on a new connection");
            Ok(Sent::Again(Error::Retries { endpoint }))
        }
    }
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
    // Issue 19, TLS: the scheme the client used.
    let scheme = if client.tls { "https" } else { "http" };
    headers::add_forwarded(&mut parts.headers, client.peer.map(|p| p.ip()), scheme);
    parts.version = Version::HTTP_11;
    if let Some(path) = parts.uri.path_and_query() {
        parts.uri = path.as_str().parse().unwrap_or_default();
    }
    if !parts.headers.contains_key(header::HOST) {
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    add_cgi_headers(&mut parts.headers, &pending.cgi);
}

/// The `HTTP_*` CGI variables (`passenger_set_cgi_param`) as request headers.
fn add_cgi_headers(headers: &mut http::HeaderMap, cgi: &[(String, String)]) {
    for (name, value) in cgi {
        let Some(header_name) = name.strip_prefix("HTTP_") else {
            continue;
        };
        let header_name = header_name.replace('_', "-").to_ascii_lowercase();
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(header_name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
}

// === session protocol ===

async fn send_session(
    site: &Site,
    pending: &mut Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
    stream: AppStream,
    reused: bool,
) -> Result<Sent, Error> {
    let frame = session::frame(
        &pending.parts,
        pending.kind,
        pending.upgrade.is_some(),
        &session::FrameContext {
            peer: client.peer,
            local: client.local,
            // Issue 19, TLS:
            https: client.tls,
            base_uri: site.base_uri.as_deref(),
            server_software: &site.server_software,
            connect_password: session.connect_password(),
            extra: &pending.cgi,
        },
    );
    let head_request = pending.parts.method == Method::HEAD;
    let kind = pending.kind;
    let sent = session::exchange(stream, frame, pending.body_for_try(), kind, head_request);
    match sent.await {
        Ok(exchange) => Ok(Sent::Answered(Answer::Session {
            exchange,
            session,
            sent: pending.kind,
        })),
        Err(error) => exchange_failed(&session, pending, reused, error),
    }
}

/// What a failed `session` exchange leaves: another try when the request cannot have reached the
/// app, else the error.
fn exchange_failed(
    session: &Session<AppConnection>,
    pending: &Pending,
    reused: bool,
    error: ExchangeError,
) -> Result<Sent, Error> {
    let endpoint = session.describe_endpoint();
    match error {
        // The frame did not go out, so neither did the body: send it elsewhere.
        ExchangeError::Send(source) => {
            tracing::debug!(%endpoint, error = %source, "retrying request on a new connection");
            Ok(Sent::Again(Error::Upstream {
                endpoint,
                source: source.into(),
            }))
        }
        ExchangeError::Incomplete {
            got_bytes: false, ..
        } if reused && pending.replayable() => {
            tracing::debug!(%endpoint, "kept connection was closed; retrying");
            Ok(Sent::Again(Error::Retries { endpoint }))
        }
        // The body streamed from the client failed: the connection was reset (the app sees a
        // cut body), and the client gets the answer to its error.
        ExchangeError::Body(source) => Err(super::body::classify(source)
            .unwrap_or_else(|source| Error::Upstream { endpoint, source })),
        error => Err(Error::Upstream {
            endpoint,
            source: error.into(),
        }),
    }
}
