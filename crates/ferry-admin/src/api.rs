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
use serde::{Deserialize, Serialize};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::pool::PoolState;

/// The version of the API, in `/info.json`.
pub const API_VERSION: &str = "1.0";
/// The largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 128 * 1024;
/// The user name going with the full password.
pub const FULL_USER: &str = "admin";
/// The user name going with the read-only password.
pub const READ_ONLY_USER: &str = "ro_admin";
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the admin API needs from the running Ferry. Every method is called on a runtime worker
/// and must return quickly: start long work (a restart) and return, do not wait for it.
pub trait AdminBackend: Send + Sync + 'static {
    /// The live pool, connect passwords included (the API takes them out for callers who may
    /// not see them). Build it with [`PoolState::from_snapshot`] from `Pool::snapshot()`, and
    /// fill in `GroupState::uid` for groups without processes when the app's account is known,
    /// so that its owner can see and restart it.
    fn pool_state(&self) -> PoolState;

    /// Who this Ferry is.
    fn server_info(&self) -> ServerInfo;

    /// Requests being handled now, for `ferry status --show=requests`. None by default.
    fn requests(&self) -> Vec<RequestInfo> {
        Vec::new()
    }

    /// Restarts the group with exactly this name (the API has matched names and app roots and
    /// checked the caller's rights): `Pool::restart_by_name(group, method == Rolling)`.
    fn restart_app(&self, group: &str, method: RestartMethod) -> Result<(), AdminError>;

    /// Detaches the process `pid` (`Pool::detach_pid`): `Ok(false)` if no process has it.
    fn detach_process(&self, pid: u32) -> Result<bool, AdminError>;

    /// Reopens the log files (after rotation), as SIGUSR1 does.
    fn reopen_logs(&self) -> Result<(), AdminError>;

    /// Sets the log level, 0 (critical only) to 7 (everything), Passenger's scale.
    fn set_log_level(&self, level: u8) -> Result<(), AdminError>;

    /// Backtraces of Ferry's threads or tasks, as text. Not supported by default.
    /// Makes app process `pid` (known to be in the pool) print its threads' backtraces to
    /// its output, which Ferry logs; returns a message saying where they went.
    fn process_backtraces(&self, pid: u32) -> Result<String, AdminError> {
        Err(AdminError::Unsupported(format!(
            "backtraces of process {pid} are not available"
        )))
    }

    /// Ferry's own backtraces, for `ferry status --show=backtraces`.
    fn backtraces(&self) -> Result<String, AdminError> {
        Err(AdminError::Unsupported(
            "backtraces of Ferry itself are not available".into(),
        ))
    }
}

/// How to restart an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RestartMethod {
    /// Every process finishes its requests and stops; new ones are spawned.
    #[default]
    Blocking,
    /// New processes are spawned one at a time, each replacing an old one when it is up.
    Rolling,
}

/// Why a backend could not do what was asked.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    /// The thing named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is understood but its values are not acceptable (422).
    #[error("{0}")]
    Invalid(String),
    /// This Ferry cannot do that (501).
    #[error("{0}")]
    Unsupported(String),
    /// It went wrong (500).
    #[error("{0}")]
    Failed(String),
}

/// `/info.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Ferry's pid.
    pub pid: u32,
    /// `ferry`.
    pub program_name: String,
    /// Ferry's version.
    pub program_version: String,
    /// [`API_VERSION`].
    pub api_version: String,
    /// The instance name.
    pub instance_name: String,
    /// When Ferry started, in seconds since the Unix epoch.
    pub started_at: u64,
    /// The URLs Ferry listens on.
    pub listeners: Vec<String>,
    /// The log level now (0..=7).
    pub log_level: u8,
    /// Whether `/metrics` has anything to say.
    pub metrics_enabled: bool,
}

/// One request being handled, in `/server.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// The app group it is for (empty: none yet, or static).
    pub app: String,
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Where it is: `queued`, `in_app`, `sending_response`, ...
    pub state: String,
    /// The process serving it, once it has one.
    pub pid: Option<u32>,
    /// Seconds since it arrived.
    pub age_secs: f64,
}

/// `/server.json`: the server's info and its requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// As `/info.json`.
    pub info: ServerInfo,
    /// Requests being handled.
    pub requests: Vec<RequestInfo>,
}

/// The API's own settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The password of user [`FULL_USER`].
    pub full_password: String,
    /// The password of user [`READ_ONLY_USER`].
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

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything.
    Full,
    /// Read everything but secrets; change nothing.
    ReadOnly,
    /// See and restart the groups running as this uid.
    User(u32),
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
            Err(message) => return routes::unauthorized(message),
        };
        routes::route(self, access, request).await
    }
}

/// Decides what the caller may do (see the module docs); `Err` is a 401 with its reason.
pub fn authorize(
    header: Option<&http::HeaderValue>,
    peer_uid: Option<u32>,
    config: &ApiConfig,
) -> Result<Access, &'static str> {
    if let Some(header) = header {
        let (user, password) = basic_credentials(header).ok_or("malformed Authorization header")?;
        return if user == FULL_USER && constant_time_eq(&password, &config.full_password) {
            Ok(Access::Full)
        } else if user == READ_ONLY_USER && constant_time_eq(&password, &config.read_only_password)
        {
            Ok(Access::ReadOnly)
        } else {
            Err("wrong user name or password")
        };
    }
    match peer_uid {
        Some(uid) if config.peer_credentials => {
            if uid == 0 || uid == config.ferry_uid {
                Ok(Access::Full)
            } else {
                Ok(Access::User(uid))
            }
        }
        _ => Err("credentials required"),
    }
}

fn basic_credentials(header: &http::HeaderValue) -> Option<(String, String)> {
    let value = header.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(crate::base64::decode(encoded)?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.trim().to_owned()))
}

/// Compares without leaking, through timing, how much of a password was right.
fn constant_time_eq(given: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, &x) in b.iter().enumerate() {
        diff |= usize::from(x ^ a.get(i).copied().unwrap_or(0));
    }
    diff == 0
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
