//! Ferry's HTTP front end, on hyper.
//!
//! It accepts client connections, answers what it can itself (static files, error pages), and
//! forwards the rest to an app process checked out of the pool. The request lifecycle's phases
//! have functions of their own, named as in pingora and Passenger's controller:
//!
//! ```text
//!  accept ──> serve_static? ──> checkout_session ──> send_request ──> forward_response
//!                 │                    │                  │               (streamed; the session
//!                 └── 200/206/304/400  └── 500/503 page   └── 502         ends with the body)
//! ```

mod access_log;
pub mod body;
mod direct;
mod error;
mod headers;
mod inflight;
mod listener;
mod proxy;
mod router;
mod session;
mod static_files;

use std::path::PathBuf;
use std::sync::Arc;

use ferry_metrics::{AppId, Metrics};
use ferry_pool::{GroupId, Pool};

pub use error::Error;

/// Entry points for the fuzz targets in `fuzz/`, kept in the crate so unit tests run them too.
#[doc(hidden)]
pub mod fuzz_logic {
    /// Cleans a request path and parses a `Range` value, panicking if an invariant breaks:
    /// no cleaned path leaves `public/`, no range leaves the file.
    pub fn static_path_and_range(path: &str, range: &str, len: u64) {
        crate::static_files::check_invariants(path, range, len);
    }
}
pub use access_log::AccessLog;
pub use direct::DirectAccess;
pub use inflight::{Inflight, RequestView};
pub use listener::{bind, BoundListener, Handler, Listener};
pub use proxy::{AppConnection, ClientInfo};
pub use router::{sockets, Router};

/// What watches the requests: metrics, the access log, the requests in progress.
#[derive(Debug, Clone)]
pub struct Observers {
    /// Request counts and durations.
    pub metrics: Arc<Metrics>,
    /// One line per request (`None`: off).
    pub access_log: Option<Arc<AccessLog>>,
    /// Requests in progress.
    pub inflight: Arc<Inflight>,
}

/// The front end's settings for one app.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// The app's `public/` directory, served as static files when it exists.
    pub public_dir: Option<PathBuf>,
    /// Whether error pages show details (spawn output and the failed step). Passenger's
    /// `friendly_error_pages`: detailed spawn error pages (else a terse page with the error id).
    pub friendly_error_pages: bool,
    /// The URI the app is mounted at (`/blog`); requests outside it get 404. `None`: the root.
    pub base_uri: Option<String>,
    /// `SERVER_SOFTWARE` for `session`-protocol apps.
    pub server_software: String,
    /// The status of a request turned away by a full queue (`request_queue_overflow_status_code`).
    pub queue_overflow_status: u16,
    /// A request whose response head takes longer gets 504 and its process is stopped
    /// (`max_request_time`; `None`: no limit).
    pub max_request_time: Option<std::time::Duration>,
    /// Sticky sessions (`sticky_sessions`): route a client back to the process that served it,
    /// through a cookie. `None`: off.
    pub sticky_sessions: Option<StickyCookie>,
    /// Serve files through symlinks that lead out of `public_dir` (Nginx's way); otherwise
    /// such a request goes to the app.
    pub follow_symlinks: bool,
    /// Where this app's request counts and queue waits go.
    pub metrics: Arc<Metrics>,
    /// The app's id in `metrics`.
    pub metrics_app: AppId,
    /// The app's group name, for the access log.
    pub app_name: String,
}

/// The cookie that carries a sticky session's process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickyCookie {
    /// The cookie's name (`sticky_sessions_cookie_name`, default `_passenger_route`).
    pub name: String,
    /// Attributes after `Path` (`sticky_sessions_cookie_attributes`, default
    /// `SameSite=Lax; Secure;`).
    pub attributes: String,
}

impl Default for StickyCookie {
    fn default() -> Self {
        StickyCookie {
            name: ferry_config::defaults::STICKY_SESSIONS_COOKIE_NAME.into(),
            attributes: ferry_config::defaults::STICKY_SESSIONS_COOKIE_ATTRIBUTES.into(),
        }
    }
}

/// Everything a connection needs to serve requests for one app.
#[derive(Debug)]
pub struct Site {
    pool: Pool<AppConnection>,
    group: GroupId,
    statics: Option<static_files::StaticFiles>,
    public_dir: Option<PathBuf>,
    friendly_error_pages: bool,
    base_uri: Option<String>,
    server_software: String,
    queue_overflow_status: http::StatusCode,
    max_request_time: Option<std::time::Duration>,
    sticky: Option<StickyCookie>,
    metrics: Arc<Metrics>,
    metrics_app: AppId,
    app_name: Arc<str>,
}

impl Site {
    /// A site that sends requests to `group` of `pool`.
    pub fn new(pool: Pool<AppConnection>, group: GroupId, config: &SiteConfig) -> Arc<Self> {
        let statics = config
            .public_dir
            .as_deref()
            .and_then(|dir| static_files::StaticFiles::new(dir, config.follow_symlinks));
        Arc::new(Site {
            pool,
            group,
            statics,
            public_dir: config.public_dir.clone(),
            friendly_error_pages: config.friendly_error_pages,
            base_uri: config
                .base_uri
                .as_deref()
                .map(|b| b.trim_end_matches('/'))
                .filter(|b| !b.is_empty())
                .map(str::to_owned),
            server_software: config.server_software.clone(),
            queue_overflow_status: http::StatusCode::from_u16(config.queue_overflow_status)
                .unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE),
            max_request_time: config.max_request_time,
            sticky: config.sticky_sessions.clone(),
            metrics_app: config.metrics_app,
            app_name: config.app_name.as_str().into(),
            metrics: Arc::clone(&config.metrics),
        })
    }
}
