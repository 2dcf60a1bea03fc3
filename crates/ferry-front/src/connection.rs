//! Connections to app processes, kept by the pool between requests ([`AppConnection`], the
//! pool's `C`): a kept one when it is fresh and ready, else a new one.

use std::time::Duration;

use ferry_pool::Session;
use ferry_protocol::{Endpoint, Protocol};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::body::Body;
use crate::session::AppStream;

/// An idle connection older than this is not reused: the app may be about to close it (Node's
/// default keep-alive timeout is 5 s), and a request sent as it closes would be lost.
const REUSE_WINDOW: Duration = Duration::from_secs(2);

/// A kept connection to an app process.
#[derive(Debug)]
pub struct AppConnection {
    pub(crate) kind: Conn,
    pub(crate) idle_since: Instant,
}

/// The connection, by the process's protocol.
#[derive(Debug)]
pub(crate) enum Conn {
    Http(SendRequest<Body>),
    Session(AppStream),
}

// === impl AppConnection ===

impl AppConnection {
    /// A connection that has just been used.
    pub(crate) fn new(kind: Conn) -> Self {
        AppConnection {
            kind,
            idle_since: Instant::now(),
        }
    }
}

/// A kept connection to the session's process if one is fresh and ready, else a new one; and
/// whether it was kept.
pub(crate) async fn connect(
    session: &Session<AppConnection>,
) -> std::io::Result<(AppConnection, bool)> {
    let protocol = session.protocol();
    while let Some(conn) = session.take_connection() {
        if reusable(&conn, protocol) {
            return Ok((conn, true));
        }
    }
    let kind = match protocol {
        Protocol::Http => Conn::Http(connect_http(session.endpoint(), session.peer_uid()).await?),
        Protocol::Session => {
            Conn::Session(AppStream::connect(session.endpoint(), session.peer_uid()).await?)
        }
    };
    Ok((AppConnection::new(kind), false))
}

/// Whether a kept connection can take another request now.
fn reusable(conn: &AppConnection, protocol: Protocol) -> bool {
    match (&conn.kind, protocol) {
        (Conn::Http(sender), Protocol::Http) => {
            conn.idle_since.elapsed() < REUSE_WINDOW && sender.is_ready()
        }
        // Loaders keep a connection until Ferry closes it.
        (Conn::Session(_), Protocol::Session) => true,
        _ => false,
    }
}

/// A new HTTP/1.1 connection, its driver on a task of its own (upgrades allowed).
async fn connect_http(
    endpoint: &Endpoint,
    peer_uid: Option<u32>,
) -> std::io::Result<SendRequest<Body>> {
    let stream = AppStream::connect(endpoint, peer_uid).await?;
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
