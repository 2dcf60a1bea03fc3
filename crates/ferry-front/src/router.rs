//! From a request to what answers it: the virtual server (by listening address and `Host`, with
//! Nginx's default-server rules), the location (Nginx's search order), then files, an app, or an
//! error page. The phases, each a function of its own module:
//!
//! ```text
//!  handle ─ hygiene::clean ──────── 400/414/431; Proxy and invalid header names dropped
//!         ├ names::find_server ──── connection's listener + local address ─Host─> server
//!         ├ normalize::normalize ── the path as locations see it (400 if it climbs above /)
//!         └ route ─ locations::find_location ── exact? longest prefix (+ nested)? regex (+ nested)?
//!                 ├ health::answer ──────────── a health location: Ferry's health (issue 18)
//!                 ├ check_body_size ─────────── 413 (Content-Length), or a limit for the proxy
//!                 ├ app::serve_app ──────────── Passenger on: base URI → Site → proxy::handle
//!                 │                             (CGI parameters: cgi::expand_cgi), then hidden
//!                 │                             headers, X-Accel-Redirect, intercepted errors
//!                 └ files::serve_files ──────── root/alias (+ index), 301, 403/404/405
//!                   error_page::error_page ──── the route's error_page for the status
//! ```
//!
//! Everything is worked out when the router is built: server names are hashed (wildcards and
//! regexes in lists), prefix locations are hashed by prefix with the set of prefix lengths at
//! hand, so finding a server and a location costs a few hash lookups however many servers and
//! locations there are (regex locations are tried in order, as in Nginx).

mod app;
mod cgi;
mod error_page;
mod files;
mod health;
mod locations;
mod names;
mod normalize;
mod request;

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_config::deployment::{
    ClientSettings, Deployment, ListenAddress, ListenProtocols, Mount, PassengerRoute,
};
use ferry_metrics::{AppId, Metrics};
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::access_log::{AccessLog, Entry, ServedBy};
use crate::body::Body;
use crate::error::status_page;
use crate::inflight::Inflight;
use crate::listener::{hygiene, ClientInfo, Handler};
use crate::proxy::BodyLimit;
use crate::site::Site;
// Issue 19, TLS:
use crate::TlsConfigs;

pub use health::{Health, HealthApp, HealthReport, HealthStatus};
pub use names::sockets;

use locations::{find_location, Route, Server};
use names::{host_of, ListenerNames};
use normalize::normalize;
use request::RequestInfo;

const SERVER: &str = concat!("Ferry/", env!("CARGO_PKG_VERSION"));

/// Every server and location of a deployment, ready to route requests.
pub struct Router {
    /// Per bound listener: the name tables of the addresses it serves.
    listeners: Vec<ListenerNames>,
    servers: Vec<Server>,
    metrics: Arc<Metrics>,
    access_log: Option<Arc<AccessLog>>,
    inflight: Arc<Inflight>,
    /// Per server (as `servers`): how its connections are read and kept (issue 16).
    clients: Vec<ClientSettings>,
    // Issue 18, health:
    /// What the health locations answer.
    health: Arc<Health>,
    // Issue 19, TLS:
    /// Per bound listener: what it speaks.
    protocols: Vec<ListenProtocols>,
    /// Per server: its TLS settings.
    tls: TlsConfigs,
}

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

// === impl Router ===

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("servers", &self.servers.len())
            .finish()
    }
}

impl Router {
    /// Builds the router of `deployment` for the sockets `bound` (see [`sockets`]); `site`
    /// makes the site of a mount in a route.
    pub fn new(
        deployment: &Deployment,
        bound: &[ListenAddress],
        observers: Observers,
        mut site: impl FnMut(&Mount, &PassengerRoute) -> Arc<Site>,
    ) -> Router {
        let Observers {
            metrics,
            access_log,
            inflight,
        } = observers;
        let servers = deployment
            .servers
            .iter()
            .map(|s| Server::new(s, &mut site))
            .collect();
        let listeners = bound
            .iter()
            .map(|socket| ListenerNames::new(deployment, socket))
            .collect();
        let clients = deployment.servers.iter().map(|s| s.client).collect();
        // Issue 19, TLS:
        let protocols = bound
            .iter()
            .map(|socket| names::protocols(deployment, socket))
            .collect();
        Router {
            listeners,
            servers,
            metrics,
            access_log,
            inflight,
            clients,
            // Issue 18, health:
            health: Arc::new(Health::default()),
            protocols,
            tls: TlsConfigs::default(),
        }
    }

    // Issue 18, health:
    /// The health its health locations answer with (without one: ready, no apps listed).
    pub fn set_health(&mut self, health: Arc<Health>) {
        self.health = health;
    }

    /// The app group a request for `target` (path and query) with `Host: host` (as the header
    /// says it) on the socket `listener` goes to, if an app serves it: what readiness waits for
    /// when a pre-start URL names it.
    pub fn app_group(
        &self,
        listener: usize,
        host: &str,
        target: &str,
    ) -> Option<ferry_pool::GroupId> {
        let path = target.split('?').next().unwrap_or_default();
        let uri = normalize(path)?;
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(host) {
            headers.insert(header::HOST, value);
        }
        let host = names::host_header(&headers);
        if listener >= self.listeners.len() {
            return None;
        }
        let server = self.server(listener, None, &host);
        let found = find_location(server, &uri);
        let site = found.route.passenger.as_ref()?.site(&uri)?;
        Some(site.group)
    }

    // Issue 19, TLS:
    /// The router with the servers' TLS settings ([`TlsConfigs::load`]).
    pub fn with_tls(mut self, tls: TlsConfigs) -> Router {
        self.tls = tls;
        self
    }

    /// The server for a request to `local` for `host`, on the socket `listener`.
    fn server(&self, listener: usize, local: Option<SocketAddr>, host: &str) -> &Server {
        &self.servers[self.listeners[listener].find_server(local, host)]
    }
}

impl Handler for Router {
    fn handle(
        self: Arc<Self>,
        listener: usize,
        client: ClientInfo,
        request: Request<Incoming>,
    ) -> impl std::future::Future<Output = Response<Body>> + Send {
        handle(self, listener, client, request)
    }

    fn client_settings(&self, listener: usize, local: Option<SocketAddr>) -> ClientSettings {
        self.clients[self.listeners[listener].default_server(local)]
    }

    // Issue 19, TLS:
    fn protocols(&self, listener: usize) -> ListenProtocols {
        self.protocols.get(listener).copied().unwrap_or_default()
    }

    /// The settings of the server SNI names on this address, else of its default server.
    fn tls_config(
        &self,
        listener: usize,
        local: Option<SocketAddr>,
        server_name: Option<&str>,
        http2: bool,
    ) -> Option<Arc<rustls::ServerConfig>> {
        let names = &self.listeners[listener];
        let default = names.default_server(local);
        let named = server_name.map(|n| names.find_server(local, &n.to_ascii_lowercase()));
        named
            .and_then(|index| self.tls.server(index, http2))
            .or_else(|| self.tls.server(default, http2))
    }
}

// === the request ===

/// Routes and answers one request, then counts it, logs it, and names Ferry in `Server`.
async fn handle(
    router: Arc<Router>,
    listener: usize,
    client: ClientInfo,
    mut request: Request<Incoming>,
) -> Response<Body> {
    let entry = router
        .access_log
        .as_ref()
        .map(|_| Entry::of(&request, client.peer));
    let arrived = (router.metrics.is_enabled() || entry.is_some()).then(Instant::now);
    // Before the server is chosen: the Host it goes by is checked here (issue 16).
    let clean = hygiene::clean(&mut request, &client.headers);
    let host = host_of(&request);
    let server = router.server(listener, client.local, &host);
    let (mut response, app) = match (clean, normalize(request.uri().path())) {
        (Err(status), _) => (hygiene::refused(status), AppId::NONE),
        (Ok(()), Some(uri)) => route(&router, server, uri, client, request).await,
        (Ok(()), None) => (status_page(StatusCode::BAD_REQUEST), AppId::NONE),
    };
    if let Some(arrived) = arrived {
        observe(&router, entry.as_ref(), app, &response, arrived);
    }
    if !response.headers().contains_key(header::SERVER) {
        response
            .headers_mut()
            .insert(header::SERVER, HeaderValue::from_static(SERVER));
    }
    response
}

/// Counts the response for `app` in the metrics and writes its access log line.
fn observe(
    router: &Router,
    entry: Option<&Entry>,
    app: AppId,
    response: &Response<Body>,
    arrived: Instant,
) {
    let took = arrived.elapsed();
    let status = response.status().as_u16();
    router.metrics.record_response(app, status, took);
    if let (Some(log), Some(entry)) = (&router.access_log, entry) {
        let served = response.extensions().get::<ServedBy>();
        log.record(entry, status, response.headers(), served, took);
    }
}

/// The response, and the app it is counted for ([`AppId::NONE`]: Ferry answered alone).
async fn route(
    router: &Router,
    server: &Server,
    uri: String,
    client: ClientInfo,
    mut request: Request<Incoming>,
) -> (Response<Body>, AppId) {
    let found = find_location(server, &uri);
    let route = found.route;
    // Issue 18, health: answered here, before any body limit or app.
    if route.config.health_check {
        return (
            health::answer(&router.health, request.method()),
            AppId::NONE,
        );
    }
    let info = RequestInfo {
        server: &server.name,
        inflight: &router.inflight,
        uri,
        method: request.method().clone(),
        version: request.version(),
        target: request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        client,
    };
    if let Err(limit) = check_body_size(route, &mut request) {
        tracing::info!(
            uri = %info.uri,
            limit,
            "request body larger than client_max_body_size: 413"
        );
        let page = status_page(StatusCode::PAYLOAD_TOO_LARGE);
        let mut response = error_page::error_page(server, route, &info, page).await;
        // The body is not read: the connection cannot carry another request (nginx closes too).
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return (response, AppId::NONE);
    }
    // No app here (Passenger off, or Passenger's module declines, seed 000 §8.5.13 example 2):
    // files.
    let app = route
        .passenger
        .as_ref()
        .and_then(|p| Some((p, p.site(&info.uri)?)));
    let Some((passenger, site)) = app else {
        let response = files::serve_files(route, &found.captures, &info, request.headers()).await;
        return (
            error_page::error_page(server, route, &info, response).await,
            AppId::NONE,
        );
    };
    let response = app::serve_app(server, passenger, site, &found, info, request).await;
    (response, site.metrics_app)
}

/// The route's `client_max_body_size` against the request: `Err(limit)` when its
/// `Content-Length` is over it (413); a body of unannounced length (chunked) gets a
/// [`BodyLimit`] for the proxy to enforce.
fn check_body_size(route: &Route, request: &mut Request<Incoming>) -> Result<(), u64> {
    let Some(limit) = route.config.client_max_body_size else {
        return Ok(());
    };
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body of unannounced length (chunked); a request without a body has neither.
    if length.is_none() && request.headers().contains_key(header::TRANSFER_ENCODING) {
        request.extensions_mut().insert(BodyLimit(limit));
    }
    match length {
        Some(n) if n > limit => Err(limit),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
