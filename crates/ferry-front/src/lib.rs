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
//!
//! `router` finds the server, the location and what answers (`serve_files`, `serve_app`,
//! `error_page`); `proxy` holds the phases of a request to an app, one module each.
//!
//! **Spans** (STYLE §4). The pool gives each app an `app{name}` span and each process a
//! `process{pid}` span below it (info level, created once per app and per process). A request
//! sent to a process runs in `request{method, path}` below that process's span, at debug level:
//! one per request, so it costs a level check and nothing more at the default level.
//! `send_request` runs inside it. The synchronous phases have trace-level spans of their own
//! (`forward_response`, and the router's `serve_files` and `error_page`); the asynchronous
//! phases on every request's path (`serve_static`, `checkout_session`, `send_request`,
//! `serve_app`) do not wrap their futures in spans: a wrapper moves the whole future once more
//! per request even when the span is disabled (measured: 2 % of a proxied request's
//! instructions). Their events carry the enclosing span.

mod access_log;
pub mod body;
mod connection;
mod direct;
mod error;
mod headers;
mod inflight;
mod listener;
mod proxy;
mod router;
mod session;
mod site;
mod static_files;

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
pub use connection::AppConnection;
pub use direct::DirectAccess;
pub use inflight::{Inflight, RequestView};
pub use listener::{bind, BoundListener, ClientInfo, ConnectionLimit, Handler, Listener};
pub use router::{sockets, Health, HealthApp, HealthReport, HealthStatus, Observers, Router};
// Issue 19, TLS:
pub use listener::tls::{CertificateInfo, TlsConfigs, TlsError, EXPIRY_WARNING};
pub use site::{Site, SiteConfig, StickyCookie};
