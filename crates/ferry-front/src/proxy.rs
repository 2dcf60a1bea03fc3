//! The request handler for one app ([`handle`]), in the phases of Passenger's controller and
//! pingora's proxy, each a function of its own module:
//!
//! ```text
//!  handle ── outside the base URI: 404
//!    ├─ files::serve_static ──────────── a file under public/: answered here
//!    └─ forward, up to MAX_TRIES times while the request has not reached an app:
//!         pending::Pending::read ─────── the body under client_max_body_size (body.rs)
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
//! ```
//!
//! A process speaks one of two protocols on its socket: plain HTTP/1.1 (Node and generic apps),
//! through hyper's client, or Passenger's `session` protocol (the Ruby and Python loaders), through
//! [`crate::session`]. Either way, connections are kept and reused when that is safe: after a
//! response body has been read to its end, the connection goes back to the process's idle list in
//! the pool. Upgraded connections (WebSocket) are relayed byte for byte until either side closes.

mod body;
mod buffering;
mod checkout;
mod files;
mod oob;
mod pending;
mod respond;
mod send;
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
    site: &Site,
    client: ClientInfo,
    request: Request<Incoming>,
    cgi: Vec<(String, String)>,
    only: Option<(u64, u32)>,
    tracked: Option<&Tracked>,
) -> Result<Response<Body>, Error> {
    let mut pending = Pending::read(request, cgi).await?;
    let sticky = checkout::sticky_id(site, only, &pending.parts.headers);
    let mut last_error = None;
    for _ in 0..MAX_TRIES {
        let session = checkout::checkout_session(site, sticky, only, tracked).await?;
        let span = request_span(&session, &pending);
        let sent = send::send_request(site, &mut pending, client, session);
        match sent.instrument(span.clone()).await? {
            Sent::Answered(answer) => {
                let upgrade = pending.upgrade.take();
                return Ok(span.in_scope(|| respond::forward_response(site, answer, upgrade)));
            }
            Sent::Again(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or(Error::Retries {
        endpoint: "(none)".into(),
    }))
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

/// The client's answer when the app could not give one: 413 for a body cut at its limit, the
/// site's status for a full queue, else the error's own page.
fn error_answer(site: &Site, error: &Error) -> Response<Body> {
    if body::too_large(error) {
        tracing::info!("request body larger than client_max_body_size: 413");
        return error_response(&Error::BodyTooLarge { limit: 0 }, false);
    }
    log_error(error);
    let mut response = error_response(error, site.friendly_error_pages);
    if matches!(error, Error::Checkout(CheckoutError::QueueFull { .. })) {
        *response.status_mut() = site.queue_overflow_status;
    }
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
