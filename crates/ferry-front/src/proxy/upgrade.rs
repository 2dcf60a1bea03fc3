//! Upgraded connections (WebSocket): the client gets the app's 101, then a task relays bytes
//! both ways and holds the session until either side closes.

use ferry_pool::Session;
use http::Response;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::body::Body;
use crate::connection::AppConnection;
use crate::session::{self, Reader};

/// Answers the client with an HTTP app's 101 and relays bytes between the two upgraded
/// connections on a task that holds the session until both sides are done.
pub(super) fn relay_http(
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

/// Answers the client with a `session` app's 101 and relays bytes between the client's upgraded
/// connection and the app's socket, on a task that holds the session until both sides are done.
pub(super) fn relay_session(
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
