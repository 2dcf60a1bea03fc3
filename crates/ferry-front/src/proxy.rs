//! The request handler for one app ([`handle`]), in the phases of Passenger's controller and
//! pingora's proxy, each a function of its own module:
//!
//! ```text
//!  handle ── outside the base URI: 404
//!    ├─ files::serve_static ──────────── a file under public/: answered here
//!    └─ forward, up to MAX_TRIES times while the request has not reached an app:
//!         pending::Pending::read ─────── the body read whole first (buffer.rs: memory, then an
//!                                        unlinked temp file; 413/408/400 before any app sees
//!                                        it), or streamed under its limit and timeout (body.rs)
//!         checkout::checkout_session ─── a session on a process (pool), sticky or not
//!         send::send_request ─────────── a kept or new connection (connection.rs), the request
//!                                        sent over HTTP or the `session` protocol, the answer's
//!                                        head read; within max_request_time
//!         respond::forward_response ──── the client's response, its body read from the app as
//!                                        fast as the app writes it and relayed to the client
//!                                        through memory and a temp file (buffering.rs; the
//!                                        session ends when the app has written it all), an
//!                                        upgrade relayed (upgrade.rs), out-of-band work started
//!                                        (oob.rs)
//!         (passenger_ignore_client_abort on: the last two on a task of their own, and the
//!          response read to its end if the client leaves: abort.rs)
//! ```
//!
//! A process speaks one of two protocols on its socket: plain HTTP/1.1 (Node and generic apps),
//! through hyper's client, or Passenger's `session` protocol (the Ruby and Python loaders), through
//! [`crate::session`]. Either way, connections are kept and reused when that is safe: after a
//! response body has been read to its end, the connection goes back to the process's idle list in
//! the pool. Upgraded connections (WebSocket) are relayed byte for byte until either side closes.

mod abort;
mod body;
mod buffer;
mod buffering;
mod checkout;
mod files;
mod oob;
mod pending;
mod respond;
mod send;
mod temp_file;
mod upgrade;

use std::sync::Arc;

use ferry_pool::{CheckoutError, Session};
use http::{Request, Response};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::body::Body;
use crate::connection::AppConnection;
use crate::error::{error_response, not_found, Error};
use crate::inflight::Tracked;
use crate::listener::ClientInfo;
use crate::session::under_base;
use crate::site::Site;

pub(crate) use body::BodyLimit;

use pending::Pending;
use send::Sent;

/// How many processes a request tries before it gives up with 502.
const MAX_TRIES: usize = 3;

/// The request handler for one app: static file, else the app. `cgi` are extra CGI variables
/// (`passenger_set_cgi_param`, expanded); `tracked` learns which process took the request.
pub(crate) async fn handle(
    site: Arc<Site>,
    client: ClientInfo,
    request: Request<Incoming>,
    cgi: Vec<(String, String)>,
    tracked: Option<&Tracked>,
) -> Response<Body> {
    if let Some(base) = site.base_uri.as_deref() {
        if !under_base(request.uri().path(), base) {
            return not_found();
        }
    }
    if let Some(response) = files::serve_static(&site, &request).await {
        return response;
    }
    match forward(&site, client, request, cgi, None, tracked).await {
        Ok(response) => response,
        Err(error) => error_answer(&site, &error),
    }
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
    let only = Some((sticky_id, pid));
    match forward(&site, client, request, Vec::new(), only, None).await {
        Ok(response) => response,
        Err(error) if body::is_client_body(&error) => client_body_answer(&error),
        Err(error) => {
            log_error(&error);
            error_response(&error, site.friendly_error_pages)
        }
    }
}

/// checkout_session → send_request → forward_response, retrying on another connection while the
/// request has not reached an app; only to the process `only` names (sticky id, pid) when
/// given.
async fn forward(
    site: &Arc<Site>,
    client: ClientInfo,
    request: Request<Incoming>,
    cgi: Vec<(String, String)>,
    only: Option<(u64, u32)>,
    tracked: Option<&Tracked>,
) -> Result<Response<Body>, Error> {
    let mut pending = Pending::read(request, cgi, &site.body).await?;
    let sticky = checkout::sticky_id(site, only, &pending.parts.headers);
    let mut last_error = None;
    for _ in 0..MAX_TRIES {
        let session = checkout::checkout_session(site, sticky, only, tracked).await?;
        let (back, tried) = try_process(site, pending, client, session).await?;
        match tried {
            Tried::Answered(response) => return Ok(response),
            Tried::Again(error) => last_error = Some(error),
        }
        pending = back;
    }
    Err(last_error.unwrap_or(Error::Retries {
        endpoint: "(none)".into(),
    }))
}

/// What one try on a process came to.
enum Tried {
    /// The client's response.
    Answered(Response<Body>),
    /// The request did not reach the app (or may be sent again): try another connection.
    Again(Error),
}

/// send_request → forward_response on the session's process; `pending` comes back for another
/// try. With `passenger_ignore_client_abort`, both run on a task the client's going away does
/// not stop ([`abort::send_detached`]).
async fn try_process(
    site: &Arc<Site>,
    mut pending: Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
) -> Result<(Pending, Tried), Error> {
    let span = request_span(&session, &pending);
    if site.ignore_client_abort {
        // Boxed: only sites with the setting pay for its (large) future; the common path keeps
        // every request's future small (hyper moves it once per request).
        let (pending, tried) =
            Box::pin(abort::send_detached(site, pending, client, session, span)).await?;
        return Ok(match tried {
            Tried::Answered(response) => (pending, Tried::Answered(abort::keep_reading(response))),
            again => (pending, again),
        });
    }
    let sent = send::send_request(site, &mut pending, client, session);
    let tried = match sent.instrument(span.clone()).await? {
        Sent::Answered(answer) => {
            let upgrade = pending.upgrade.take();
            Tried::Answered(
                span.in_scope(|| respond::forward_response(site, answer, upgrade, client.tls)),
            )
        }
        Sent::Again(error) => Tried::Again(error),
    };
    Ok((pending, tried))
}

/// The request's span on the session's process: `request{method, path}` under
/// `app{name}` → `process{pid}`. Debug level: one per request (per try), so that it costs
/// nothing at the default level.
fn request_span(session: &Session<AppConnection>, pending: &Pending) -> tracing::Span {
    tracing::debug_span!(
        parent: session.span(),
        "request",
        method = %pending.parts.method,
        path = pending.parts.uri.path()
    )
}

/// The client's answer when the app could not give one: 413, 408 or 400 for its request body,
/// the site's status for a full queue, else the error's own page.
fn error_answer(site: &Site, error: &Error) -> Response<Body> {
    if body::is_client_body(error) {
        return client_body_answer(error);
    }
    log_error(error);
    let mut response = error_response(error, site.friendly_error_pages);
    if matches!(error, Error::Checkout(CheckoutError::QueueFull { .. })) {
        *response.status_mut() = site.queue_overflow_status;
    }
    response
}

/// The answer to a request body the client broke (over its limit, too slow, malformed or cut):
/// its status, logged, and the connection closed, since the rest of the body is not read.
fn client_body_answer(error: &Error) -> Response<Body> {
    tracing::info!(
        status = error.status().as_u16(),
        "request body refused: {error}"
    );
    let mut response = error_response(error, false);
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
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
