//! The admin API: HTTP/1.1 over the instance's unix socket (`admin.sock`, see
//! [`crate::registry`]). Endpoints, bodies and status codes are in `docs/admin-api.md`.
//!
//! The API knows Ferry only through [`AdminBackend`], so it is tested with a fake and wired to
//! the pool, the logger and the front end by `ferry-app`.
//!
//! **Who may do what** ([`authorize`]), decided per request:
//!
//! | caller | sees | may change |
//! |---|---|---|
//! | Basic `admin` + full password | everything | everything |
//! | Basic `ro_admin` + read-only password | everything but connect passwords | nothing (403) |
//! | no `Authorization`, peer uid 0 or Ferry's own uid | everything | everything |
//! | no `Authorization`, another peer uid | the groups whose processes run as that uid, and `/info.json` | restart those groups, detach their processes; anything else is 403 |
//!
//! An `Authorization` header that is present but wrong is 401 even for root: credentials a
//! client sends are checked as sent, so that a typo is noticed instead of hidden by peer
//! credentials. Peer credentials come from `SO_PEERCRED` ([`UnixStream::peer_cred`]).
//! This is Passenger's model (#1392: users see and restart their own apps without sudo).

mod auth;
mod backend;
mod gauges;
mod response;
mod routes;

use std::convert::Infallible;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_metrics::Metrics;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth::{authorize, Access};
pub use backend::{AdminBackend, AdminError};

/// The largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 128 * 1024;
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The API's own settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The password of user [`FULL_USER`](crate::types::FULL_USER).
    pub full_password: String,
    /// The password of user [`READ_ONLY_USER`](crate::types::READ_ONLY_USER).
    pub read_only_password: String,
    /// Ferry's effective uid: a peer with this uid (or 0) may do everything.
    pub ferry_uid: u32,
    /// Whether requests without credentials are authorized by the peer's uid (on by default;
    /// off makes every request need a password).
    pub peer_credentials: bool,
    /// Served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl ApiConfig {
    /// The settings for this instance: its passwords, Ferry's uid, peer credentials on.
    pub fn for_instance(instance: &crate::registry::InstanceDir, metrics: Arc<Metrics>) -> Self {
        ApiConfig {
            full_password: instance.full_password().to_owned(),
            read_only_password: instance.read_only_password().to_owned(),
            ferry_uid: instance.properties().uid,
            peer_credentials: true,
            metrics,
        }
    }
}

/// The admin API server: a backend and the API's settings.
#[derive(Debug)]
pub struct AdminServer<B> {
    backend: Arc<B>,
    config: ApiConfig,
}

/// The response type of every endpoint.
pub type Response = http::Response<Full<Bytes>>;

// === impl AdminServer ===

impl<B: AdminBackend> AdminServer<B> {
    /// A server answering from `backend`.
    pub fn new(backend: Arc<B>, config: ApiConfig) -> Arc<Self> {
        Arc::new(AdminServer { backend, config })
    }

    /// Answers one request from a caller whose peer uid is `peer_uid` (`None`: unknown). The
    /// body is read here, up to [`MAX_BODY`].
    pub async fn handle<Body>(
        &self,
        request: http::Request<Body>,
        peer_uid: Option<u32>,
    ) -> Response
    where
        Body: hyper::body::Body<Data = Bytes> + Send,
        Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let access = match authorize(
            request.headers().get(http::header::AUTHORIZATION),
            peer_uid,
            &self.config,
        ) {
            Ok(access) => access,
            Err(message) => return response::unauthorized(message),
        };
        routes::route(self, access, request).await
    }
}

// === Serving ===

/// Binds the admin socket at `path` (replacing a file left there by a Ferry that is gone) and
/// lets every user connect (mode 0666): who may do what is decided per request.
pub async fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by another server", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Serves the admin API on `listener` until `stop` is cancelled; then open connections finish
/// their request and close, and this returns once they have.
pub async fn serve<B: AdminBackend>(
    listener: UnixListener,
    server: Arc<AdminServer<B>>,
    stop: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(serve_connection(stream, Arc::clone(&server), stop.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin API: accept failed");
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    connections.close();
    connections.wait().await;
}

async fn serve_connection<B: AdminBackend>(
    stream: UnixStream,
    server: Arc<AdminServer<B>>,
    stop: CancellationToken,
) {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let service = service_fn(move |request| {
        let server = Arc::clone(&server);
        async move { Ok::<_, Infallible>(server.handle(request, peer_uid).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "admin API connection ended with an error");
    }
}

#[cfg(test)]
pub(crate) mod tests;
