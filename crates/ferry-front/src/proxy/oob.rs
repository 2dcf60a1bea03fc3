//! Out-of-band work (seed §11.8): a response carrying `!~Request-OOB-Work` (or
//! `X-Passenger-Request-OOB-Work`) turns its session, once the response has ended, into the
//! process's out-of-band work.

use ferry_pool::Session;

use crate::connection::AppConnection;
use crate::session;

/// Starts the out-of-band work the app asked for, on a task of its own: the pool stops routing
/// to the process and hands the session back once the process's other requests are done (or
/// declines: last available process, or another process of the app at it); the task then closes
/// the process's kept connections, sends an `OOBW` frame on a new one and waits for the answer.
/// Dropping the session makes the process routable again.
pub(super) fn start(session: Session<AppConnection>) {
    tokio::spawn(async move {
        let pid = session.pid();
        let Some(session) = session.out_of_band_work().await else {
            return tracing::debug!(pid, "out-of-band work declined by the pool");
        };
        // A loader thread waiting on a kept connection would not see the new one.
        while session.take_connection().is_some() {}
        let endpoint = session.endpoint().clone();
        let oobw =
            session::out_of_band_work(&endpoint, session.peer_uid(), session.connect_password());
        match oobw.await {
            Ok(()) => tracing::debug!(pid, "out-of-band work done"),
            Err(e) => tracing::warn!(pid, error = %e, "out-of-band work failed"),
        }
    });
}
