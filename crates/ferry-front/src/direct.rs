//! Direct access to one app process (seed 000 §10.4): for debugging a process that misbehaves,
//! a request can be sent to exactly that process, bypassing the pool's choice.
//!
//! Ferry listens on one loopback address for this (`ferry status --verbose` shows it as every
//! process's URL, with the process's connect password). A request there must carry
//! `X-Passenger-Connect-Password`: the password names the process (each process has its own,
//! random one) and proves the caller may see it. A missing or unknown password is 401. The
//! request then goes to that process like any other request to its app (the `session` protocol
//! for Ruby and Python, HTTP for Node and generic apps), waiting for it when it is busy; the
//! password header itself is not passed on. A process that is leaving the pool (restart,
//! detach) no longer takes direct requests: 503.
//!
//! This works the same for every loader, so none of them opens a debug socket of its own.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_pool::Pool;
use http::{HeaderName, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::Body;
use crate::connection::AppConnection;
use crate::error::status_page;
use crate::listener::{ClientInfo, Handler};
use crate::proxy;
use crate::site::Site;

const PASSWORD: HeaderName = HeaderName::from_static("x-passenger-connect-password");

/// The direct-access handler: the pool, and a site per app group (no files, no base URI).
pub struct DirectAccess {
    pool: Pool<AppConnection>,
    sites: HashMap<String, Arc<Site>>,
}

impl std::fmt::Debug for DirectAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectAccess")
            .field("apps", &self.sites.len())
            .finish()
    }
}

impl DirectAccess {
    /// Direct access to the processes of `pool`, whose groups are served through `sites`
    /// (by group name).
    pub fn new(pool: Pool<AppConnection>, sites: HashMap<String, Arc<Site>>) -> Self {
        DirectAccess { pool, sites }
    }

    async fn answer(&self, client: ClientInfo, mut request: Request<Incoming>) -> Response<Body> {
        if let Err(status) = crate::listener::hygiene::clean(&mut request, &client.headers) {
            return crate::listener::hygiene::refused(status);
        }
        let Some(password) = request
            .headers_mut()
            .remove(PASSWORD)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
        else {
            return unauthorized("X-Passenger-Connect-Password is missing");
        };
        let found = self.pool.snapshot().into_iter().find_map(|group| {
            let process = group.processes.iter().find(|p| {
                // In constant time: the password is a secret (issue 17).
                let known = p.connect_password.as_bytes();
                !password.is_empty()
                    && ferry_sys::secret::constant_time_eq(known, password.as_bytes())
            })?;
            Some((
                group.name.clone(),
                process.sticky_id,
                process.pid,
                process.detached,
            ))
        });
        let Some((group, sticky_id, pid, detached)) = found else {
            return unauthorized("no app process has this connect password");
        };
        if detached {
            return status_page(StatusCode::SERVICE_UNAVAILABLE);
        }
        let Some(site) = self.sites.get(&group) else {
            return status_page(StatusCode::NOT_FOUND);
        };
        tracing::debug!(pid, group, "direct request");
        proxy::handle_direct(Arc::clone(site), client, request, sticky_id, pid).await
    }
}

impl Handler for DirectAccess {
    async fn handle(
        self: Arc<Self>,
        _listener: usize,
        client: ClientInfo,
        request: Request<Incoming>,
    ) -> Response<Body> {
        self.answer(client, request).await
    }
}

fn unauthorized(why: &str) -> Response<Body> {
    tracing::debug!(why, "direct request refused");
    status_page(StatusCode::UNAUTHORIZED)
}
