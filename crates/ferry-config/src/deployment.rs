//! What a running Ferry serves: listeners, virtual servers with their location trees, and the
//! apps behind them. Both ways of starting Ferry end here: `ferry start` with one app
//! ([`Config::deployment`]) and `ferry start --config FILE` ([`crate::nginx::plan`]).
//!
//! A [`Route`] is what a server or location does with a request: serve files from a directory,
//! hand the request to an app ([`PassengerRoute`]), answer errors with `error_page`s. Apps are
//! listed once ([`Deployment::apps`]) and referred to by index, so that several locations and
//! servers can share one app and its processes.
//!
//! This module is the whole of the configuration the runtime (`ferry-app`, `ferry-front`) sees:
//! the addresses, names and location matchers it routes by ([`ListenAddress`], [`ServerName`],
//! [`LocationMatch`]) and the values it expands per request ([`Template`]) are defined here;
//! the Nginx reader builds them, and nothing at run time reads its types.

use std::path::PathBuf;
use std::time::Duration;

use crate::diagnostic::Problem;
use crate::{defaults, AppConfig, Config, Listen, Observability, PoolConfig, PreStart};

mod matching;
pub(crate) mod symlinks;
mod template;
// Issue 19, TLS:
mod tls;

pub use matching::{ListenAddress, LocationMatch, Modifier, ServerName};
pub use symlinks::{SymlinkFrom, SymlinkMode, Symlinks};
pub use template::{Part, Template, Var};
// Issue 19, TLS:
pub use tls::{
    session_cache, tls12_suites, ListenProtocols, ServerTls, TlsFile, TlsVersion, TICKET_LIFETIME,
    TLS12_SUITES,
};

/// Everything a running Ferry serves.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The addresses to listen on, each once, in the order first written.
    pub listens: Vec<ListenAddress>,
    /// The virtual servers, in file order.
    pub servers: Vec<VirtualServer>,
    /// The apps, each once (by app group name).
    pub apps: Vec<AppConfig>,
    /// Pool-wide limits.
    pub pool: PoolConfig,
    /// Passenger-style log level 0..=7.
    pub log_level: u8,
    /// Hook scripts, `NAME=COMMAND`.
    pub hooks: Vec<String>,
    /// Requests sent once Ferry listens.
    pub pre_start: Vec<PreStart>,
    /// Things worth logging at startup.
    pub warnings: Vec<String>,
    /// Of those, the ones the planner found in a configuration file (after the resolver's), with
    /// their place, for `ferry config check`.
    pub plan_warnings: Vec<Problem>,
    /// Logs, the instance registry, metrics.
    pub observability: Observability,
    // Issue 16, connection side:
    /// Most client connections open at once (`worker_connections`, `--max-connections`). `None`:
    /// [`defaults::max_connections`] of the open-files limit Ferry runs with.
    pub max_connections: Option<u64>,
    // Issue 18, health:
    /// After SIGTERM or SIGINT, Ferry keeps accepting and serving this long, its health
    /// locations answering 503, before it stops accepting (`passenger_shutdown_delay`,
    /// `--shutdown-delay`; zero: at once).
    pub shutdown_delay: Duration,
    // Issue 19, TLS:
    /// What each of `listens` speaks when not plain HTTP/1.1 (TLS, HTTP/2); an address not
    /// listed speaks HTTP/1.1 in cleartext.
    pub listen_protocols: Vec<(ListenAddress, ListenProtocols)>,
}

/// One `server`: where it listens, the names it answers to, and its routes.
#[derive(Debug, Clone)]
pub struct VirtualServer {
    /// Where it listens, and whether it is the default server there. Empty: `*:80`.
    pub listens: Vec<(ListenAddress, bool)>,
    /// Its names. Empty: the empty name (requests without `Host`).
    pub names: Vec<ServerName>,
    /// What requests no location takes get.
    pub route: Route,
    /// Its locations, in Nginx's search order.
    pub locations: Vec<VirtualLocation>,
    /// Where it was written (`FILE:LINE`), for logs.
    pub origin: String,
    // Issue 16, connection side:
    /// How client connections to its addresses are read and kept, when it is the default server
    /// of the address a connection came to.
    pub client: ClientSettings,
    // Issue 19, TLS:
    /// Its certificate and TLS settings, used on the addresses that speak TLS
    /// ([`Deployment::listen_protocols`]). `None`: it has none (a TLS address it listens on is
    /// then an error at start).
    pub tls: Option<ServerTls>,
}

// Issue 16, connection side:
/// How a client connection is read and kept: nginx's `client_header_timeout`,
/// `keepalive_timeout`, `send_timeout`, `large_client_header_buffers`, `underscores_in_headers`
/// and `ignore_invalid_headers`. They apply to a connection before its request has picked a
/// server, so, as in nginx, a connection takes them from the default server of the address it
/// came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    /// Longest time to receive a request head: the first one from the connection's start, a
    /// later one from its first byte. `None`: no limit (`0`).
    pub header_timeout: Option<Duration>,
    /// How long an idle kept-alive connection stays open. `None`: no keep-alive
    /// (`keepalive_timeout 0`): each connection serves one request.
    pub keepalive_timeout: Option<Duration>,
    /// `keepalive_timeout`'s second argument: sent as `Keep-Alive: timeout=N`.
    pub keepalive_header: Option<Duration>,
    /// Longest wait for the client to accept more of a response. `None`: no limit (`0`).
    pub send_timeout: Option<Duration>,
    /// The longest request line or header line, in bytes (`large_client_header_buffers`' size).
    pub header_line_max: u64,
    /// The largest request head, in bytes (`large_client_header_buffers`' number × size).
    pub header_max: u64,
    /// Request headers whose names hold `_` are kept (`underscores_in_headers on`).
    pub underscores_in_headers: bool,
    /// Request headers with invalid names are dropped (`ignore_invalid_headers on`).
    pub ignore_invalid_headers: bool,
}

/// One `location`.
#[derive(Debug, Clone)]
pub struct VirtualLocation {
    /// Which URIs it takes.
    pub matcher: LocationMatch,
    /// What it does with them.
    pub route: Route,
    /// The locations nested in it, in search order.
    pub locations: Vec<VirtualLocation>,
}

/// What a server or location does with a request.
#[derive(Debug, Clone)]
pub struct Route {
    /// Where its files are.
    pub files: Files,
    /// `index` files for a URI ending in `/` (where Passenger is off).
    pub index: Vec<String>,
    /// `types { MIME ext...; }`: extension (lowercase) → MIME type. Empty: Ferry's built-in
    /// table.
    pub mime_types: Vec<(String, String)>,
    /// `default_type`: the type of a file whose extension is not known.
    pub default_type: String,
    /// `error_page`s.
    pub error_pages: Vec<ErrorPage>,
    /// Largest request body (`client_max_body_size`); `None`: no limit.
    pub client_max_body_size: Option<u64>,
    /// `disable_symlinks`: which links a lookup of its files (`root`, `alias`, `index`,
    /// `X-Accel-Redirect` and `error_page` targets) follows. `None`: not written; the default is
    /// decided at start ([`Symlinks::in_force`]).
    pub disable_symlinks: Option<Symlinks>,
    /// `Server` and `X-Powered-By` name Ferry's version (`passenger_show_version_in_header`).
    pub show_version_in_header: bool,
    /// Passenger, when it is on here.
    pub passenger: Option<PassengerRoute>,
    // Issue 18, health:
    /// Ferry answers here itself with its health: 200 and a small JSON body while it is ready,
    /// 503 while it is not, is draining or is stopping (`passenger_health_check on`,
    /// `--health-path`). Nothing else of the route applies.
    pub health_check: bool,
}

/// Where a route's files are.
#[derive(Debug, Clone)]
pub enum Files {
    /// No `root` or `alias`: nothing is served from files.
    None,
    /// `root DIR`: the file for URI `/a/b` is `DIR/a/b`.
    Root(PathBuf),
    /// `alias`: in a prefix location, the location's prefix is replaced by it; in a regex
    /// location, it is the file's whole path (with `$1`... from the location's captures).
    Alias(Template),
}

/// One `error_page CODES [=[RESPONSE]] TARGET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// The statuses it handles.
    pub codes: Vec<u16>,
    /// The status of the answer.
    pub response: ErrorPageStatus,
    /// A URI on this server, `@name`, or a URL (answered with a redirect).
    pub target: String,
}

/// The status an `error_page` answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPageStatus {
    /// No `=`: the original status.
    Original,
    /// `=`: the status of the page's own response.
    Target,
    /// `=CODE`.
    Code(u16),
}

/// Passenger in a route: which app serves which URIs, and how.
#[derive(Debug, Clone)]
pub struct PassengerRoute {
    /// The `passenger_base_uri` mounts, longest base URI first.
    pub mounts: Vec<Mount>,
    /// The app for URIs under none of the base URIs. `None`: those get 404.
    pub fallback: Option<Mount>,
    /// `passenger_set_cgi_param`s: name and value, expanded per request.
    pub cgi_params: Vec<(String, Template)>,
    /// Answer app errors with `error_page`s (`passenger_intercept_errors`).
    pub intercept_errors: bool,
    /// Response headers passed on although Ferry would hide them (`passenger_pass_header`).
    pub pass_headers: Vec<String>,
    /// Response headers whose special meaning is ignored (`passenger_ignore_headers`).
    pub ignore_headers: Vec<String>,
    /// Longest time a request may take (`passenger_max_request_time`).
    pub max_request_time: Option<Duration>,
    // Issue 16, request side:
    /// How request bodies are read before they go to the app.
    pub request_body: BodySettings,
    /// A request whose client goes away runs to its end: the app's response is read and dropped
    /// (`passenger_ignore_client_abort`). Off: the app's connection is closed at once.
    pub ignore_client_abort: bool,
    // Issue 16, response side:
    /// How the app's responses reach the client.
    pub response: ResponseSettings,
}

/// How a place reads request bodies before an app gets them (issue 16). The largest body
/// allowed is the route's ([`Route::client_max_body_size`]): it is checked wherever the request
/// goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodySettings {
    /// Read the whole body before a process is chosen, so that a slow or broken upload never
    /// holds one (`passenger_request_buffering`). Off: the body streams to the app as it comes.
    pub buffering: bool,
    /// The most of a body held in memory (`client_body_buffer_size`); a longer body goes whole
    /// to an unlinked temp file.
    pub buffer_size: u64,
    /// The longest wait between two reads of a body (`client_body_timeout`): past it the client
    /// gets 408 and its connection is closed. `None`: no limit (written as 0).
    pub timeout: Option<Duration>,
    /// Where a body longer than `buffer_size` is kept (`client_body_temp_path`, or `ferry start
    /// --data-buffer-dir`). `None`: the instance directory's `tmp/`.
    pub temp_dir: Option<PathBuf>,
}

// Issue 16, response side:
/// How an app's responses reach the client. Whatever these say, Ferry reads a response as fast as
/// the app writes it and releases the process when the app has written it all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSettings {
    /// Send the body only once the app has sent all of it (`passenger_buffer_response`,
    /// nginx-level buffering); off: each piece goes to the client as soon as it can take it.
    pub buffer_response: bool,
    /// Nothing from the app for this long while a request is in progress: 504 before the
    /// response head, a closed connection after it, and the process is stopped
    /// (`passenger_read_timeout`; `None`: no limit).
    pub app_read_timeout: Option<Duration>,
    /// An upgraded connection (WebSocket) with no byte either way for this long is closed
    /// (`passenger_websocket_idle_timeout`; `None`: never).
    pub websocket_idle_timeout: Option<Duration>,
}

/// An app mounted at a base URI.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The base URI (`/subapp`); `None`: the root.
    pub base_uri: Option<String>,
    /// The app, an index into [`Deployment::apps`].
    pub app: usize,
    /// The app's public directory, whose files are served without the app.
    pub public_dir: Option<PathBuf>,
    /// `disable_symlinks` for the files of `public_dir`. `None`: not written; the default is
    /// decided at start ([`Symlinks::in_force`]). `ferry start` always writes one
    /// (`--disable-symlinks`, default `if_not_owner`).
    pub disable_symlinks: Option<Symlinks>,
}

// === impl Config ===

impl Config {
    /// The deployment of `ferry start`'s single app: one server on one listener that takes every
    /// request, files from `public/` and the rest to the app (or 404 outside its base URI).
    pub fn deployment(self) -> Deployment {
        let warnings = self.warnings();
        let listen = match &self.listen {
            Listen::Tcp { address, port } => ListenAddress::Tcp {
                host: if address == "0.0.0.0" {
                    "*".to_owned()
                } else {
                    address.clone()
                },
                port: *port,
            },
            Listen::Unix(path) => ListenAddress::Unix(path.clone()),
        };
        let app = &self.app;
        let mount = Mount {
            base_uri: (app.base_uri != "/").then(|| app.base_uri.clone()),
            app: 0,
            public_dir: Some(app.root.join("public")),
            disable_symlinks: Some(Symlinks {
                mode: self.disable_symlinks,
                from: None,
            }),
        };
        let (mounts, fallback) = if mount.base_uri.is_some() {
            (vec![mount], None)
        } else {
            (Vec::new(), Some(mount))
        };
        let route = Route {
            files: Files::None,
            index: Vec::new(),
            mime_types: Vec::new(),
            default_type: "application/octet-stream".to_owned(),
            error_pages: Vec::new(),
            client_max_body_size: self.client_max_body_size,
            disable_symlinks: None,
            show_version_in_header: defaults::SHOW_VERSION_IN_HEADER,
            passenger: Some(PassengerRoute {
                mounts,
                fallback,
                cgi_params: Vec::new(),
                intercept_errors: false,
                pass_headers: Vec::new(),
                ignore_headers: Vec::new(),
                max_request_time: app.max_request_time,
                request_body: self.request_body.clone(),
                ignore_client_abort: self.ignore_client_abort,
                response: app.response.clone(),
            }),
            // Issue 18, health:
            health_check: false,
        };
        // Issue 18, health: `location = PATH { passenger_health_check on; }`.
        let locations = self
            .health_path
            .iter()
            .map(|path| VirtualLocation {
                matcher: LocationMatch {
                    modifier: Modifier::Exact,
                    pattern: path.clone(),
                    regex: None,
                },
                route: Route {
                    passenger: None,
                    health_check: true,
                    ..route.clone()
                },
                locations: Vec::new(),
            })
            .collect();
        // Issue 19, TLS: HTTPS on its own port beside HTTP, or on the one port.
        let (listens, listen_protocols, tls) = match (self.tls, &listen) {
            (Some((port, tls)), ListenAddress::Tcp { host, .. }) => {
                let https = ListenAddress::Tcp {
                    host: host.clone(),
                    port,
                };
                let secure = ListenProtocols {
                    tls: true,
                    http2: true,
                };
                let listens = if https == listen {
                    vec![https.clone()]
                } else {
                    vec![listen.clone(), https.clone()]
                };
                (listens, vec![(https, secure)], Some(tls))
            }
            _ => (vec![listen.clone()], Vec::new(), None),
        };
        Deployment {
            servers: vec![VirtualServer {
                listens: listens.iter().map(|l| (l.clone(), true)).collect(),
                names: Vec::new(),
                route,
                locations,
                origin: "the command line".to_owned(),
                client: self.client,
                tls,
            }],
            listens,
            apps: vec![self.app],
            pool: self.pool,
            log_level: self.log_level,
            hooks: self.hooks,
            pre_start: self.pre_start,
            warnings,
            plan_warnings: Vec::new(),
            observability: self.observability,
            max_connections: self.max_connections,
            // Issue 18, health:
            shutdown_delay: self.shutdown_delay,
            listen_protocols,
        }
    }
}

// === impl Mount ===

impl Mount {
    /// The mount direct process access uses: no base URI, no files.
    pub fn direct() -> Mount {
        Mount {
            base_uri: None,
            app: 0,
            public_dir: None,
            disable_symlinks: None,
        }
    }
}

impl PassengerRoute {
    /// The route direct process access uses: nothing added, no time limit.
    pub fn direct() -> PassengerRoute {
        PassengerRoute {
            mounts: Vec::new(),
            fallback: None,
            cgi_params: Vec::new(),
            intercept_errors: false,
            pass_headers: Vec::new(),
            ignore_headers: Vec::new(),
            max_request_time: None,
            request_body: BodySettings::default(),
            ignore_client_abort: false,
            response: ResponseSettings::default(),
        }
    }
}

// === impl BodySettings ===

impl Default for BodySettings {
    /// The defaults of [`crate::defaults`]: buffering on, 16k in memory, 60 s between reads, the
    /// instance directory's `tmp/`.
    fn default() -> Self {
        BodySettings {
            buffering: defaults::REQUEST_BUFFERING,
            // The defaults parse (a unit test says so).
            buffer_size: crate::units::size(defaults::CLIENT_BODY_BUFFER_SIZE).unwrap_or(0),
            timeout: Some(Duration::from_secs(defaults::CLIENT_BODY_TIMEOUT_SECS)),
            temp_dir: None,
        }
    }
}

// === impl ResponseSettings ===

impl Default for ResponseSettings {
    /// Streamed, no read timeout, WebSockets closed after
    /// [`defaults::WEBSOCKET_IDLE_TIMEOUT_SECS`].
    fn default() -> Self {
        ResponseSettings {
            buffer_response: false,
            app_read_timeout: None,
            websocket_idle_timeout: Some(Duration::from_secs(
                defaults::WEBSOCKET_IDLE_TIMEOUT_SECS,
            )),
        }
    }
}

// === impl Symlinks ===

impl Symlinks {
    /// The setting in force where `written` is what the configuration says (`None`: nothing):
    /// when nothing is written, `if_not_owner` if Ferry runs as root (`as_root`), else nginx's
    /// `off` ([`defaults::DISABLE_SYMLINKS_AS_ROOT`], [`defaults::DISABLE_SYMLINKS`]).
    pub fn in_force(written: Option<&Symlinks>, as_root: bool) -> Symlinks {
        match written {
            Some(symlinks) => symlinks.clone(),
            None => Symlinks {
                mode: if as_root {
                    defaults::DISABLE_SYMLINKS_AS_ROOT
                } else {
                    defaults::DISABLE_SYMLINKS
                },
                from: None,
            },
        }
    }
}

// === impl ClientSettings ===

impl Default for ClientSettings {
    /// nginx's defaults, written in [`defaults`].
    fn default() -> Self {
        ClientSettings {
            header_timeout: Some(Duration::from_secs(defaults::CLIENT_HEADER_TIMEOUT_SECS)),
            keepalive_timeout: Some(Duration::from_secs(defaults::KEEPALIVE_TIMEOUT_SECS)),
            keepalive_header: None,
            send_timeout: Some(Duration::from_secs(defaults::SEND_TIMEOUT_SECS)),
            header_line_max: defaults::LARGE_CLIENT_HEADER_BUFFER_SIZE,
            header_max: defaults::LARGE_CLIENT_HEADER_BUFFERS
                * defaults::LARGE_CLIENT_HEADER_BUFFER_SIZE,
            underscores_in_headers: defaults::UNDERSCORES_IN_HEADERS,
            ignore_invalid_headers: defaults::IGNORE_INVALID_HEADERS,
        }
    }
}

// === impl Deployment ===

// Issue 19, TLS:
impl Deployment {
    /// What `address` speaks.
    pub fn protocols(&self, address: &ListenAddress) -> ListenProtocols {
        self.listen_protocols
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, p)| *p)
            .unwrap_or_default()
    }
}

// === impl Route ===

impl Route {
    /// The `error_page` for `status`, if any.
    pub fn error_page(&self, status: u16) -> Option<&ErrorPage> {
        self.error_pages.iter().find(|p| p.codes.contains(&status))
    }
}
