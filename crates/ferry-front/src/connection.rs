//! Connections to app processes, kept by the pool between requests ([`AppConnection`], the
//! pool's `C`): a kept one when it is fresh, ready and clean, else a new one.
//!
//! **Clean**: a kept connection carries nothing past the response it last carried, so that bytes
//! an app wrote past its response's end (a body longer than its `Content-Length`) can never be
//! read as another client's response. For the `session` protocol Ferry reads the stream itself:
//! a connection is kept only when no byte was read past the body, and before it is reused the
//! socket is peeked without waiting: a byte waiting, or the app's end of the connection closed,
//! and it is dropped instead. For HTTP apps hyper's client connection does the same: bytes in an
//! idle connection (read with the body, or arriving later) are an error that closes it, and its
//! `SendRequest` stops being ready; a request it had not yet written comes back to be sent on
//! another connection.

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
        if reusable(&conn, protocol, session.pid()) {
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

/// Whether a kept connection can take another request now (`pid`: its process, for the log).
fn reusable(conn: &AppConnection, protocol: Protocol, pid: u32) -> bool {
    match (&conn.kind, protocol) {
        (Conn::Http(sender), Protocol::Http) => {
            conn.idle_since.elapsed() < REUSE_WINDOW && sender.is_ready()
        }
        // Loaders keep a connection until Ferry closes it; a loader thread may still close it.
        (Conn::Session(stream), Protocol::Session) => match waiting(stream) {
            Waiting::Nothing => true,
            Waiting::Closed => false,
            Waiting::Bytes => {
                tracing::warn!(
                    pid,
                    "the app wrote past the end of a response on a kept connection; the \
                     connection is closed, the bytes dropped"
                );
                false
            }
        },
        _ => false,
    }
}

/// What a kept connection holds, looked at without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Nothing: it is at a request boundary.
    Nothing,
    /// The app's end is closed (or the socket failed).
    Closed,
    /// Bytes nobody asked for.
    Bytes,
}

/// Peeks at `stream` (`recv(MSG_PEEK | MSG_DONTWAIT)`: nothing is consumed, nothing waits).
/// The kernel is asked, not tokio's readiness, which may not have seen bytes that just came.
fn waiting(stream: &AppStream) -> Waiting {
    use rustix::net::{recv, RecvFlags};
    use std::os::fd::AsFd;
    let fd = match stream {
        AppStream::Tcp(s) => s.as_fd(),
        AppStream::Unix(s) => s.as_fd(),
    };
    let mut byte = [0u8; 1];
    match recv(fd, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Err(rustix::io::Errno::AGAIN) => Waiting::Nothing,
        Err(rustix::io::Errno::INTR) => waiting(stream),
        Ok((_, 0)) | Err(_) => Waiting::Closed,
        Ok(_) => Waiting::Bytes,
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::UnixStream;

    #[tokio::test]
    async fn a_kept_session_connection_is_clean_until_bytes_or_a_close_arrive() {
        let (ferry, mut app) = UnixStream::pair().unwrap();
        let stream = AppStream::Unix(ferry);
        assert_eq!(waiting(&stream), Waiting::Nothing);
        app.write_all(b"EXTRA").await.unwrap();
        assert_eq!(waiting(&stream), Waiting::Bytes);
        assert_eq!(waiting(&stream), Waiting::Bytes, "peeking consumes nothing");
        let conn = AppConnection::new(Conn::Session(stream));
        assert!(!reusable(&conn, Protocol::Session, 1));

        let (ferry, app) = UnixStream::pair().unwrap();
        let stream = AppStream::Unix(ferry);
        drop(app);
        assert_eq!(waiting(&stream), Waiting::Closed);
        let conn = AppConnection::new(Conn::Session(stream));
        assert!(!reusable(&conn, Protocol::Session, 1));
    }
}
