//! A [`Site`]: everything the front end needs to serve one app at one place (its pool group,
//! static files, base URI, error-page and queue settings, sticky sessions, metrics).

use std::path::PathBuf;
use std::sync::Arc;

use ferry_config::deployment::{ResponseSettings, Symlinks};
use ferry_metrics::{AppId, Metrics};
use ferry_pool::{GroupId, Pool};

use crate::connection::AppConnection;
use crate::static_files;

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
    /// `disable_symlinks` for `public_dir`: which links a static file lookup follows; a request
    /// for a file behind a refused link goes to the app. `None`: the default, `if_not_owner`
    /// when Ferry runs as root, `off` otherwise. `from=$document_root` is `public_dir`.
    pub disable_symlinks: Option<Symlinks>,
    /// Where this app's request counts and queue waits go.
    pub metrics: Arc<Metrics>,
    /// The app's id in `metrics`.
    pub metrics_app: AppId,
    /// The app's group name, for the access log.
    pub app_name: String,
    // Issue 16, request side:
    /// Read a request body whole before a process is chosen (`passenger_request_buffering`);
    /// off: the body streams to the app as it comes.
    pub request_buffering: bool,
    /// The most of a request body held in memory (`client_body_buffer_size`); a longer body goes
    /// whole to an unlinked temp file in `client_body_temp_dir`.
    pub client_body_buffer_size: u64,
    /// The longest wait between two reads of a request body (`client_body_timeout`): past it
    /// the client gets 408. `None`: no limit.
    pub client_body_timeout: Option<std::time::Duration>,
    /// Where request bodies longer than `client_body_buffer_size` are kept (created, mode 0700,
    /// when missing).
    pub client_body_temp_dir: PathBuf,
    /// A request whose client goes away runs to its end, its response read and dropped
    /// (`passenger_ignore_client_abort`); off: the app's connection is closed at once.
    pub ignore_client_abort: bool,
    // Issue 16, response side:
    /// How the app's responses reach the client: `passenger_buffer_response`,
    /// `passenger_read_timeout`, `passenger_websocket_idle_timeout`.
    pub response: ResponseSettings,
    /// Where a response goes past its first 128 KiB while its client is slower than the app:
    /// an unlinked temp file in this directory (Passenger's `data_buffer_dir`).
    pub response_buffer_dir: PathBuf,
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

// === impl StickyCookie ===

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
    pub(crate) pool: Pool<AppConnection>,
    pub(crate) group: GroupId,
    pub(crate) statics: Option<static_files::StaticFiles>,
    pub(crate) public_dir: Option<PathBuf>,
    pub(crate) friendly_error_pages: bool,
    pub(crate) base_uri: Option<String>,
    pub(crate) server_software: String,
    pub(crate) queue_overflow_status: http::StatusCode,
    pub(crate) max_request_time: Option<std::time::Duration>,
    pub(crate) sticky: Option<StickyCookie>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) metrics_app: AppId,
    pub(crate) app_name: Arc<str>,
    // Issue 16, request side:
    pub(crate) body: BodySettings,
    pub(crate) ignore_client_abort: bool,
    // Issue 16, response side:
    pub(crate) response: ResponseSettings,
    pub(crate) response_buffer_dir: Arc<std::path::Path>,
}

// === impl Site ===

impl Site {
    /// A site that sends requests to `group` of `pool`.
    pub fn new(pool: Pool<AppConnection>, group: GroupId, config: &SiteConfig) -> Arc<Self> {
        let statics = config.public_dir.as_deref().and_then(|dir| {
            let symlinks = static_files::symlinks::in_force(config.disable_symlinks.as_ref());
            let policy = static_files::symlinks::policy(&symlinks, Some(dir));
            static_files::StaticFiles::new(dir, policy)
        });
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
            body: body_settings(config),
            ignore_client_abort: config.ignore_client_abort,
            // Issue 16, response side:
            response: config.response.clone(),
            response_buffer_dir: config.response_buffer_dir.as_path().into(),
        })
    }
}

/// How a site reads request bodies, from its settings.
fn body_settings(config: &SiteConfig) -> BodySettings {
    BodySettings {
        buffering: config.request_buffering,
        buffer_size: config.client_body_buffer_size,
        timeout: config.client_body_timeout,
        temp_dir: Arc::from(config.client_body_temp_dir.as_path()),
    }
}

/// How a site reads request bodies.
#[derive(Debug, Clone)]
pub(crate) struct BodySettings {
    /// Read the whole body before a process is chosen.
    pub(crate) buffering: bool,
    /// The most of a body held in memory; a longer one goes whole to a temp file.
    pub(crate) buffer_size: u64,
    /// The longest wait between two reads (`None`: no limit).
    pub(crate) timeout: Option<std::time::Duration>,
    /// Where the temp files are made (unlinked at once).
    pub(crate) temp_dir: Arc<std::path::Path>,
}
