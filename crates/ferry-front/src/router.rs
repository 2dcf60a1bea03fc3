//! From a request to what answers it: the virtual server (by listening address and `Host`, with
//! Nginx's default-server rules), the location (Nginx's search order), then files, an app, or an
//! error page.
//!
//! ```text
//!  connection's listener + local address ──> name table ──Host──> server
//!  normalized path ──exact? longest prefix (+ nested)? regex (+ nested)?──> location's route
//!  route ──> 413 (body too large)
//!        ├─> Passenger on: base URI → Site → static file or the app (proxy::handle)
//!        │     then: hidden headers, X-Accel-Redirect, intercepted errors → error_page
//!        └─> files: root/alias (+ index), 301 for a directory, 403/404/405 → error_page
//! ```
//!
//! Everything is worked out when the router is built: server names are hashed (wildcards and
//! regexes in lists), prefix locations are hashed by prefix with the set of prefix lengths at
//! hand, so finding a server and a location costs a few hash lookups however many servers and
//! locations there are (regex locations are tried in order, as in Nginx).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_config::deployment::{
    Deployment, ErrorPage, ErrorPageStatus, Files, ListenAddress, LocationMatch, Modifier, Mount,
    PassengerRoute, Route as RouteConfig, ServerName, Template, Var, VirtualLocation,
    VirtualServer,
};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use regex::Regex;

use crate::access_log::AccessLog;
use crate::body::Body;
use crate::error::{redirect, status_page};
use crate::inflight::{Inflight, TrackedBody};
use crate::proxy::{self, ClientInfo};
use crate::static_files::{self, FileOutcome, Outcome};
use crate::Observers;
use crate::Site;
use ferry_metrics::{AppId, Metrics};
use http_body_util::BodyExt;
use tokio::time::Instant;

/// Response headers an app may send for Ferry (as for Nginx) and that are not passed to the
/// client unless `passenger_pass_header` names them.
const HIDDEN: [&str; 5] = [
    "x-accel-redirect",
    "x-accel-expires",
    "x-accel-limit-rate",
    "x-accel-buffering",
    "x-accel-charset",
];
const X_ACCEL_REDIRECT: HeaderName = HeaderName::from_static("x-accel-redirect");
const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// Every server and location of a deployment, ready to route requests.
pub struct Router {
    /// Per bound listener: the name tables of the addresses it serves.
    listeners: Vec<ListenerNames>,
    servers: Vec<Server>,
    metrics: Arc<Metrics>,
    access_log: Option<Arc<AccessLog>>,
    inflight: Arc<Inflight>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("servers", &self.servers.len())
            .finish()
    }
}

/// The servers reachable through one bound socket: by the exact local address (a server that
/// listens on `127.0.0.1:80` while the socket is `*:80`), else the socket's own address.
struct ListenerNames {
    specific: Vec<(String, NameTable)>,
    own: NameTable,
}

/// One listening address's servers by name, in Nginx's order: exact name, longest leading
/// wildcard, longest trailing wildcard, first matching regex, default server.
#[derive(Default)]
struct NameTable {
    exact: HashMap<String, usize>,
    leading: Vec<(String, usize)>,
    trailing: Vec<(String, usize)>,
    regex: Vec<(Regex, usize)>,
    default: usize,
}

struct Server {
    /// `$server_name`: the first name.
    name: String,
    route: Route,
    locations: Level,
}

/// The locations of one level, indexed for search.
struct Level {
    nodes: Vec<Node>,
    exact: HashMap<String, usize>,
    prefix: HashMap<String, usize>,
    /// The lengths of the prefixes, longest first.
    prefix_lengths: Vec<usize>,
    regex: Vec<usize>,
}

struct Node {
    matcher: LocationMatch,
    route: Route,
    children: Level,
}

/// A route, with its apps' sites built.
struct Route {
    config: RouteConfig,
    /// For `alias` in a prefix location: the prefix it replaces.
    alias_prefix: Option<String>,
    passenger: Option<Passenger>,
}

struct Passenger {
    config: PassengerRoute,
    mounts: Vec<(String, Arc<Site>)>,
    fallback: Option<Arc<Site>>,
}

/// The location search's result.
struct Found<'a> {
    route: &'a Route,
    captures: Vec<Option<String>>,
}

// === impl Router ===

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
            .map(|s| Server {
                name: s.names.first().map(ToString::to_string).unwrap_or_default(),
                route: Route::new(&s.route, None, &mut site),
                locations: Level::new(&s.locations, &mut site),
            })
            .collect();
        let listeners = bound
            .iter()
            .map(|socket| ListenerNames {
                specific: deployment
                    .listens
                    .iter()
                    .filter(|a| *a != socket && serves(socket, a))
                    .filter_map(|a| match a {
                        ListenAddress::Tcp { host, .. } => {
                            Some((host.clone(), NameTable::new(&deployment.servers, a)))
                        }
                        ListenAddress::Unix(_) => None,
                    })
                    .collect(),
                own: NameTable::new(&deployment.servers, socket),
            })
            .collect();
        Router {
            listeners,
            servers,
            metrics,
            access_log,
            inflight,
        }
    }

    fn server(&self, listener: usize, local: Option<SocketAddr>, host: &str) -> &Server {
        let names = &self.listeners[listener];
        let table = local
            .map(|addr| addr.ip().to_string())
            .and_then(|ip| names.specific.iter().find(|(host, _)| *host == ip))
            .map_or(&names.own, |(_, table)| table);
        &self.servers[table.find(host)]
    }
}

/// The sockets to bind for `listens`: each address once, except that a specific address on a
/// port where a wildcard (`*:PORT`, `[::]:PORT`) is also listened on is served by the
/// wildcard's socket, as Nginx does.
pub fn sockets(listens: &[ListenAddress]) -> Vec<ListenAddress> {
    let mut out: Vec<ListenAddress> = Vec::new();
    for address in listens {
        let covered = listens
            .iter()
            .any(|other| other != address && serves(other, address));
        if !covered && !out.contains(address) {
            out.push(address.clone());
        }
    }
    out
}

/// Whether a socket bound to `socket` receives connections for `address`.
fn serves(socket: &ListenAddress, address: &ListenAddress) -> bool {
    match (socket, address) {
        (
            ListenAddress::Tcp { host, port },
            ListenAddress::Tcp {
                host: other,
                port: other_port,
            },
        ) => {
            port == other_port
                && (host == other
                    || ((host == "*" || host == "::") && other != "*" && other != "::"))
        }
        (a, b) => a == b,
    }
}

// === impl NameTable ===

impl NameTable {
    fn new(servers: &[VirtualServer], address: &ListenAddress) -> NameTable {
        let mut table = NameTable::default();
        let mut default = None;
        let mut first = None;
        for (index, server) in servers.iter().enumerate() {
            let Some((_, is_default)) = server.listens.iter().find(|(a, _)| a == address) else {
                continue;
            };
            first.get_or_insert(index);
            if *is_default && default.is_none() {
                default = Some(index);
            }
            for name in &server.names {
                match name {
                    ServerName::Exact(n) => {
                        table.exact.entry(n.clone()).or_insert(index);
                    }
                    ServerName::Domain(d) => {
                        table.exact.entry(d.clone()).or_insert(index);
                        table.leading.push((format!(".{d}"), index));
                    }
                    ServerName::LeadingWildcard(suffix) => {
                        table.leading.push((suffix.clone(), index))
                    }
                    ServerName::TrailingWildcard(prefix) => {
                        table.trailing.push((prefix.clone(), index))
                    }
                    ServerName::Regex(regex) => table.regex.push((regex.clone(), index)),
                }
            }
        }
        table
            .leading
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        table
            .trailing
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        table.default = default.or(first).unwrap_or(0);
        table
    }

    /// The server for `host` (lowercase, no port).
    fn find(&self, host: &str) -> usize {
        if let Some(&index) = self.exact.get(host) {
            return index;
        }
        if let Some((_, index)) = self
            .leading
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
        {
            return *index;
        }
        if let Some((_, index)) = self
            .trailing
            .iter()
            .find(|(prefix, _)| host.len() > prefix.len() && host.starts_with(prefix.as_str()))
        {
            return *index;
        }
        if !host.is_empty() {
            if let Some((_, index)) = self.regex.iter().find(|(r, _)| r.is_match(host)) {
                return *index;
            }
        }
        self.default
    }
}

// === impl Level ===

impl Level {
    fn new(
        locations: &[VirtualLocation],
        site: &mut impl FnMut(&Mount, &PassengerRoute) -> Arc<Site>,
    ) -> Level {
        let mut level = Level {
            nodes: Vec::new(),
            exact: HashMap::new(),
            prefix: HashMap::new(),
            prefix_lengths: Vec::new(),
            regex: Vec::new(),
        };
        for location in locations {
            let index = level.nodes.len();
            let matcher = &location.matcher;
            match matcher.modifier {
                Modifier::Exact => {
                    level.exact.entry(matcher.pattern.clone()).or_insert(index);
                }
                Modifier::Prefix | Modifier::PrefixNoRegex => {
                    level.prefix.entry(matcher.pattern.clone()).or_insert(index);
                    if !level.prefix_lengths.contains(&matcher.pattern.len()) {
                        level.prefix_lengths.push(matcher.pattern.len());
                    }
                }
                Modifier::Regex | Modifier::RegexCaseless => level.regex.push(index),
                Modifier::Named => {}
            }
            let alias_prefix = matcher.is_prefix().then(|| matcher.pattern.clone());
            level.nodes.push(Node {
                matcher: matcher.clone(),
                route: Route::new(&location.route, alias_prefix, site),
                children: Level::new(&location.locations, site),
            });
        }
        level.prefix_lengths.sort_unstable_by(|a, b| b.cmp(a));
        level
    }
}

impl Level {
    /// Nginx's search (`ngx_http_core_find_location`): an exact match ends it; the longest
    /// prefix is remembered and its nested locations searched; unless that prefix is `^~`,
    /// this level's regexes are tried in order and the first match (then its nested
    /// locations) wins; else the longest prefix. The flag says whether the search is over.
    fn find<'a>(
        &'a self,
        uri: &str,
        captures: &mut Vec<Option<String>>,
    ) -> (Option<&'a Node>, bool) {
        if let Some(&index) = self.exact.get(uri) {
            return (Some(&self.nodes[index]), true);
        }
        let longest = self
            .prefix_lengths
            .iter()
            .filter(|&&len| len <= uri.len() && uri.is_char_boundary(len))
            .find_map(|&len| self.prefix.get(&uri[..len]))
            .map(|&index| &self.nodes[index]);
        let mut found = longest;
        if let Some(prefix) = longest {
            let (inner, done) = prefix.children.find(uri, captures);
            if done {
                return (inner, true);
            }
            found = inner.or(found);
            if prefix.matcher.modifier == Modifier::PrefixNoRegex {
                return (found, true);
            }
        }
        for &index in &self.regex {
            let node = &self.nodes[index];
            let Some(caps) = node.matcher.regex.as_ref().and_then(|r| r.captures(uri)) else {
                continue;
            };
            *captures = caps
                .iter()
                .map(|m| m.map(|m| m.as_str().to_owned()))
                .collect();
            let (inner, _) = node.children.find(uri, captures);
            return (Some(inner.unwrap_or(node)), true);
        }
        (found, false)
    }
}

// === impl Route ===

impl Route {
    fn new(
        config: &RouteConfig,
        alias_prefix: Option<String>,
        site: &mut impl FnMut(&Mount, &PassengerRoute) -> Arc<Site>,
    ) -> Route {
        let passenger = config.passenger.as_ref().map(|p| Passenger {
            mounts: p
                .mounts
                .iter()
                .filter_map(|m| Some((m.base_uri.clone()?, site(m, p))))
                .collect(),
            fallback: p.fallback.as_ref().map(|m| site(m, p)),
            config: p.clone(),
        });
        Route {
            config: config.clone(),
            alias_prefix,
            passenger,
        }
    }
}

impl Passenger {
    /// The site for `uri`: the longest base URI it is under, else the fallback.
    fn site(&self, uri: &str) -> Option<&Arc<Site>> {
        self.mounts
            .iter()
            .find(|(base, _)| crate::session::under_base(uri, base))
            .map(|(_, site)| site)
            .or(self.fallback.as_ref())
    }
}

// === the request ===

/// What a request is, for variables and error pages.
struct RequestInfo<'a> {
    server: &'a str,
    inflight: &'a Arc<Inflight>,
    uri: String,
    method: Method,
    version: http::Version,
    target: String,
    client: ClientInfo,
}

/// Routes and answers one request.
pub(crate) async fn handle(
    router: Arc<Router>,
    listener: usize,
    client: ClientInfo,
    request: Request<Incoming>,
) -> Response<Body> {
    let entry = router
        .access_log
        .as_ref()
        .map(|_| crate::access_log::Entry::of(&request, client.peer));
    let arrived = (router.metrics.is_enabled() || entry.is_some()).then(Instant::now);
    let host = host_of(&request);
    let server = router.server(listener, client.local, &host);
    let (mut response, app) = match normalize(request.uri().path()) {
        Some(uri) => route(server, &router.inflight, uri, client, request).await,
        None => (status_page(StatusCode::BAD_REQUEST), AppId::NONE),
    };
    if let Some(arrived) = arrived {
        let took = arrived.elapsed();
        let status = response.status().as_u16();
        router.metrics.record_response(app, status, took);
        if let (Some(log), Some(entry)) = (&router.access_log, &entry) {
            let served = response.extensions().get::<crate::access_log::ServedBy>();
            log.record(entry, status, response.headers(), served, took);
        }
    }
    if !response.headers().contains_key(header::SERVER) {
        response
            .headers_mut()
            .insert(header::SERVER, HeaderValue::from_static(SERVER));
    }
    response
}

const SERVER: &str = concat!("Ferry/", env!("CARGO_PKG_VERSION"));
const POWERED_BY: &str = concat!("Ferry ", env!("CARGO_PKG_VERSION"));

/// The response, and the app it is counted for ([`AppId::NONE`]: Ferry answered alone).
async fn route(
    server: &Server,
    inflight: &Arc<Inflight>,
    uri: String,
    client: ClientInfo,
    mut request: Request<Incoming>,
) -> (Response<Body>, AppId) {
    let mut captures = Vec::new();
    let route = match server.locations.find(&uri, &mut captures).0 {
        Some(node) => &node.route,
        None => &server.route,
    };
    let found = Found { route, captures };
    let info = RequestInfo {
        server: &server.name,
        inflight,
        uri,
        method: request.method().clone(),
        version: request.version(),
        target: request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        client,
    };
    if let Some(limit) = route.config.client_max_body_size {
        let length = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // A body of unannounced length (chunked); a request without a body has neither.
        if length.is_none() && request.headers().contains_key(header::TRANSFER_ENCODING) {
            request
                .extensions_mut()
                .insert(crate::proxy::BodyLimit(limit));
        }
        if length.is_some_and(|n| n > limit) {
            tracing::info!(
                uri = %info.uri,
                limit,
                "request body larger than client_max_body_size: 413"
            );
            let page = status_page(StatusCode::PAYLOAD_TOO_LARGE);
            return (error_page(server, route, &info, page).await, AppId::NONE);
        }
    }
    let Some(passenger) = &route.passenger else {
        let response = files(route, &found.captures, &info, request.headers()).await;
        return (
            error_page(server, route, &info, response).await,
            AppId::NONE,
        );
    };
    let Some(site) = passenger.site(&info.uri) else {
        // No app here (Passenger's module declines, seed 000 §8.5.13 example 2): files.
        let response = files(route, &found.captures, &info, request.headers()).await;
        return (
            error_page(server, route, &info, response).await,
            AppId::NONE,
        );
    };
    (
        serve_app(server, route, passenger, site, &found, info, request).await,
        site.metrics_app,
    )
}

/// The app's answer, with Ferry's headers, `X-Accel-Redirect` and intercepted errors.
async fn serve_app(
    server: &Server,
    route: &Route,
    passenger: &Passenger,
    site: &Arc<Site>,
    found: &Found<'_>,
    info: RequestInfo<'_>,
    request: Request<Incoming>,
) -> Response<Body> {
    let client = info.client;
    let (tracked, guard) = info.inflight.track(
        Arc::clone(&site.app_name),
        info.method.clone(),
        info.target.clone(),
    );
    let cgi = passenger
        .config
        .cgi_params
        .iter()
        .map(|(name, value)| {
            let expanded = expand(value, &info, request.headers(), found, site);
            (name.clone(), expanded)
        })
        .collect();
    let response = proxy::handle(Arc::clone(site), client, request, cgi, Some(&tracked)).await;
    tracked.sending();
    let mut response = response.map(|inner| {
        TrackedBody {
            inner,
            guard: Some(guard),
        }
        .boxed()
    });
    let powered = if route.config.show_version_in_header {
        POWERED_BY
    } else {
        "Ferry"
    };
    response
        .headers_mut()
        .append(X_POWERED_BY, HeaderValue::from_static(powered));
    if !route.config.show_version_in_header && !response.headers().contains_key(header::SERVER) {
        response
            .headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("Ferry"));
    }
    let config = &passenger.config;
    let passes = |name: &str| {
        config
            .pass_headers
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    };
    let ignores = |name: &str| {
        config
            .ignore_headers
            .iter()
            .any(|p| p.eq_ignore_ascii_case(name))
    };
    let accel = (!ignores("X-Accel-Redirect"))
        .then(|| response.headers().get(X_ACCEL_REDIRECT).cloned())
        .flatten();
    for name in HIDDEN {
        if !passes(name) {
            response.headers_mut().remove(name);
        }
    }
    if let Some(target) = accel.as_ref().and_then(|v| v.to_str().ok()) {
        // The app answered with a file for Ferry to send (Nginx's X-Accel-Redirect).
        return match internal(server, target, &info).await {
            Some(file) => file,
            None => status_page(StatusCode::NOT_FOUND),
        };
    }
    if config.intercept_errors && response.status().as_u16() >= 400 {
        return error_page(server, route, &info, response).await;
    }
    response
}

/// Nginx's static module for a route where Passenger is off, with the route's MIME types.
async fn files(
    route: &Route,
    captures: &[Option<String>],
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
) -> Response<Body> {
    let (mut response, served) = find_file(route, captures, info, headers).await;
    if let Some(mime) = served.and_then(|path| mime_type(&route.config, &path)) {
        response.headers_mut().insert(header::CONTENT_TYPE, mime);
    }
    response
}

/// The type the route's `types` and `default_type` give `path`; `None`: the built-in table's
/// (which knows the extension).
fn mime_type(config: &RouteConfig, path: &std::path::Path) -> Option<HeaderValue> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let found = if config.mime_types.is_empty() {
        // Ferry's built-in table; `default_type` for what it does not know.
        if ext
            .as_deref()
            .is_some_and(|e| mime_guess::from_ext(e).first().is_some())
        {
            return None;
        }
        None
    } else {
        ext.and_then(|e| config.mime_types.iter().find(|(x, _)| *x == e))
            .map(|(_, t)| t.as_str())
    };
    HeaderValue::from_str(found.unwrap_or(&config.default_type)).ok()
}

/// The response for the route's file, and the file it came from when it is one.
async fn find_file(
    route: &Route,
    captures: &[Option<String>],
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
) -> (Response<Body>, Option<PathBuf>) {
    if info.method != Method::GET && info.method != Method::HEAD {
        return (status_page(StatusCode::METHOD_NOT_ALLOWED), None);
    }
    let Some(path) = file_path(route, captures, &info.uri) else {
        return (status_page(StatusCode::NOT_FOUND), None);
    };
    if info.uri.ends_with('/') {
        for index in &route.config.index {
            let file = path.join(index);
            if let FileOutcome::Response(r) =
                static_files::serve_path(&info.method, &file, headers).await
            {
                return (r, Some(file));
            }
        }
        let refused = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => StatusCode::FORBIDDEN,
            _ => StatusCode::NOT_FOUND,
        };
        return (status_page(refused), None);
    }
    let response = match static_files::serve_path(&info.method, &path, headers).await {
        FileOutcome::Response(response) => return (response, Some(path)),
        FileOutcome::Directory => {
            let query = info.target.split_once('?').map(|(_, q)| q);
            let location = match query {
                Some(q) => format!("{}/?{q}", info.uri),
                None => format!("{}/", info.uri),
            };
            redirect(StatusCode::MOVED_PERMANENTLY, &location)
        }
        FileOutcome::Missing => status_page(StatusCode::NOT_FOUND),
        FileOutcome::Forbidden => status_page(StatusCode::FORBIDDEN),
    };
    (response, None)
}

/// The file for `uri` by the route's `root` or `alias`.
fn file_path(route: &Route, captures: &[Option<String>], uri: &str) -> Option<PathBuf> {
    match &route.config.files {
        Files::None => None,
        Files::Root(root) => Some(root.join(uri.trim_start_matches('/'))),
        Files::Alias(alias) => {
            let base = alias.expand(|var, out| {
                if let Var::Capture(n) = var {
                    out.push_str(captures.get(*n).cloned().flatten().as_deref().unwrap_or(""));
                }
            });
            match &route.alias_prefix {
                Some(prefix) => {
                    let rest = uri.strip_prefix(prefix.as_str()).unwrap_or("");
                    Some(PathBuf::from(format!("{base}{rest}")))
                }
                None => Some(PathBuf::from(base)),
            }
        }
    }
}

/// `response`, or the route's `error_page` for its status.
async fn error_page(
    server: &Server,
    route: &Route,
    info: &RequestInfo<'_>,
    response: Response<Body>,
) -> Response<Body> {
    let status = response.status().as_u16();
    let Some(page) = route.config.error_page(status) else {
        return response;
    };
    let ErrorPage {
        response: answer,
        target,
        ..
    } = page;
    if target.contains("://") {
        let code = match answer {
            ErrorPageStatus::Code(c @ (301 | 302 | 303 | 307 | 308)) => *c,
            _ => 302,
        };
        return redirect(
            StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND),
            target,
        );
    }
    if target.starts_with('@') {
        tracing::warn!(%target, "error_page to a named location is not supported; sending the original response");
        return response;
    }
    let Some(mut page_response) = internal(server, target, info).await else {
        tracing::warn!(%target, status, "error_page target not found; sending the original response");
        return response;
    };
    let code = match answer {
        ErrorPageStatus::Original => status,
        ErrorPageStatus::Code(c) => *c,
        ErrorPageStatus::Target => page_response.status().as_u16(),
    };
    *page_response.status_mut() = StatusCode::from_u16(code).unwrap_or(response.status());
    page_response
}

/// Answers `target` (a URI on `server`) from files, as an internal redirect does: the
/// location it falls in decides where the file is. `None` when there is no such file.
async fn internal(server: &Server, target: &str, info: &RequestInfo<'_>) -> Option<Response<Body>> {
    let path = normalize(target.split('?').next().unwrap_or(target))?;
    let mut captures = Vec::new();
    let route = match server.locations.find(&path, &mut captures).0 {
        Some(node) => &node.route,
        None => &server.route,
    };
    let method = if info.method == Method::HEAD {
        Method::HEAD
    } else {
        Method::GET
    };
    let headers = HeaderMap::new();
    if let Some(site) = route.passenger.as_ref().and_then(|p| p.site(&path)) {
        let statics = site.statics.as_ref()?;
        let uri: http::Uri = site_path(site, &path).parse().ok()?;
        return match statics.serve(&method, &uri, &headers).await {
            Outcome::Response(r) if r.status().is_success() => Some(r),
            _ => None,
        };
    }
    let file = file_path(route, &captures, &path)?;
    match static_files::serve_path(&method, &file, &headers).await {
        FileOutcome::Response(r) => Some(r),
        _ => None,
    }
}

/// `path` with the site's base URI taken off.
fn site_path(site: &Site, path: &str) -> String {
    let (_, rest) = crate::session::split_base(path, site.base_uri.as_deref());
    rest.to_owned()
}

/// A `passenger_set_cgi_param` value for this request.
fn expand(
    value: &Template,
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
    found: &Found<'_>,
    site: &Site,
) -> String {
    value.expand(|var, out| {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let query = || info.target.split_once('?').map_or("", |(_, q)| q);
        match var {
            Var::RequestMethod => out.push_str(info.method.as_str()),
            Var::Host => {
                let host = host_header(headers);
                out.push_str(if host.is_empty() { info.server } else { &host });
            }
            Var::RemoteAddr => {
                if let Some(peer) = info.client.peer {
                    out.push_str(&peer.ip().to_string());
                }
            }
            Var::RemotePort => {
                if let Some(peer) = info.client.peer {
                    out.push_str(&peer.port().to_string());
                }
            }
            Var::Scheme => out.push_str("http"),
            Var::RequestUri => out.push_str(&info.target),
            Var::Uri => out.push_str(&info.uri),
            Var::Args => out.push_str(query()),
            Var::IsArgs => {
                if info.target.contains('?') {
                    out.push('?');
                }
            }
            Var::ServerName => out.push_str(info.server),
            Var::ServerPort => {
                if let Some(local) = info.client.local {
                    out.push_str(&local.port().to_string());
                }
            }
            Var::ServerAddr => {
                if let Some(local) = info.client.local {
                    out.push_str(&local.ip().to_string());
                }
            }
            Var::ServerProtocol => out.push_str(if info.version == http::Version::HTTP_10 {
                "HTTP/1.0"
            } else {
                "HTTP/1.1"
            }),
            Var::DocumentRoot => {
                if let Some(dir) = &site.public_dir {
                    out.push_str(&dir.display().to_string());
                } else if let Files::Root(root) = &found.route.config.files {
                    out.push_str(&root.display().to_string());
                }
            }
            Var::ContentType => out.push_str(&header("content-type")),
            Var::ContentLength => out.push_str(&header("content-length")),
            Var::Http(name) => {
                let name = name.replace('_', "-");
                let values: Vec<&str> = headers
                    .get_all(name.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                out.push_str(&values.join(", "));
            }
            Var::Cookie(name) => {
                let value = headers
                    .get_all(header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_owned());
                out.push_str(value.as_deref().unwrap_or(""));
            }
            Var::Arg(name) => {
                let value = query()
                    .split('&')
                    .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_owned());
                out.push_str(value.as_deref().unwrap_or(""));
            }
            Var::Capture(n) => {
                if let Some(Some(text)) = found.captures.get(*n) {
                    out.push_str(text);
                }
            }
        }
    })
}

/// The request's host name: the URI's (absolute form), else `Host`'s, lowercased, without
/// its port or a trailing dot. Empty when there is none.
fn host_of<B>(request: &Request<B>) -> String {
    match request.uri().host() {
        Some(host) => host.trim_end_matches('.').to_ascii_lowercase(),
        None => host_header(request.headers()),
    }
}

fn host_header(headers: &HeaderMap) -> String {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return String::new();
    };
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The path as locations see it (Nginx's `$uri`): percent-decoded, `//` merged, `.` and `..`
/// resolved. `None` when it climbs above `/`, holds a NUL, or does not start with `/`.
pub(crate) fn normalize(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    if decoded.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    let directory = decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    if out.is_empty() || (directory && !out.ends_with('/')) {
        out.push('/');
    }
    Some(out)
}

#[cfg(test)]
mod tests;
