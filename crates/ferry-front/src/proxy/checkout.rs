//! checkout_session: a session on a process of the site's app, from the pool.

use ferry_pool::{CheckoutError, Session};
use http::HeaderMap;
use tokio::time::Instant;

use crate::connection::AppConnection;
use crate::error::Error;
use crate::headers;
use crate::inflight::Tracked;
use crate::site::Site;

/// The process the request asks to go back to: the one a direct request names, else the one
/// its sticky-session cookie names (when the site has sticky sessions).
pub(super) fn sticky_id(site: &Site, only: Option<(u64, u32)>, headers: &HeaderMap) -> Option<u64> {
    match only {
        Some((sticky_id, _)) => Some(sticky_id),
        None => site
            .sticky
            .as_ref()
            .and_then(|cookie| headers::sticky_id(headers, &cookie.name)),
    }
}

/// Checks out a session on the site's app (`Pool::checkout_sticky`), waiting in its queue if
/// every process is busy; the wait is measured, and `tracked` learns the process. With `only`
/// (sticky id, pid), another process than the one named is refused (503).
pub(super) async fn checkout_session(
    site: &Site,
    sticky: Option<u64>,
    only: Option<(u64, u32)>,
    tracked: Option<&Tracked>,
) -> Result<Session<AppConnection>, Error> {
    let asked = site.metrics.is_enabled().then(Instant::now);
    let session = site.pool.checkout_sticky(site.group, sticky).await?;
    if let Some(asked) = asked {
        site.metrics
            .record_queue_wait(site.metrics_app, asked.elapsed());
    }
    if let Some(tracked) = tracked {
        tracked.in_app(session.pid());
    }
    if only.is_some_and(|(_, pid)| pid != session.pid()) {
        return Err(Error::Checkout(CheckoutError::ShuttingDown));
    }
    Ok(session)
}
