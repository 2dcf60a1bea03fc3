//! The endpoints: [`ROUTES`] lists each one once (method, path, who may call it, handler), and
//! routing, 404 and 405 (with its `Allow` list) all derive from that table. What each answers
//! is in `docs/admin-api.md`.

use bytes::Bytes;
use ferry_metrics::Metrics;
use http::{header, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::response::{backend_error, error, json, parse, text};
use super::{Access, AdminBackend, AdminServer, Response};
use crate::pool::PoolState;
use crate::types::{RestartMethod, ServerState};

/// One endpoint.
struct Route {
    method: Method,
    path: &'static str,
    needs: Needs,
    handler: fn(&Call<'_>) -> Response,
}

/// Who may call an endpoint, once [`super::authorize`] has let them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Anyone (a user sees only the groups running as them).
    Anyone,
    /// The full or the read-only password, root or Ferry's own user: whoever sees everything.
    SeesAll,
    /// Full access: the full password, root or Ferry's own user.
    Full,
    /// Anything but the read-only password: full access, or a user acting on their own groups.
    Changes,
}

/// What a handler is given: the request, read whole, and whom it comes from.
struct Call<'a> {
    backend: &'a dyn AdminBackend,
    metrics: &'a Metrics,
    access: Access,
    query: &'a str,
    body: Bytes,
}

/// Every endpoint, once. A path listed with several methods answers 405 to the others, with
/// `Allow` naming them in this order.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    endpoint(Method::GET,  "/ping.json",                   Needs::Anyone,  ping),
    endpoint(Method::GET,  "/info.json",                   Needs::Anyone,  info),
    endpoint(Method::GET,  "/version.json",                Needs::Anyone,  info),
    endpoint(Method::GET,  "/pool.json",                   Needs::Anyone,  pool_json),
    endpoint(Method::GET,  "/pool.xml",                    Needs::Anyone,  pool_xml),
    endpoint(Method::GET,  "/pool.txt",                    Needs::Anyone,  pool_txt),
    endpoint(Method::GET,  "/server.json",                 Needs::SeesAll, server_state),
    endpoint(Method::GET,  "/backtraces.txt",              Needs::SeesAll, backtraces),
    endpoint(Method::GET,  "/metrics",                     Needs::SeesAll, metrics),
    endpoint(Method::GET,  "/config.json",                 Needs::SeesAll, get_config),
    endpoint(Method::PUT,  "/config.json",                 Needs::Full,    put_config),
    endpoint(Method::POST, "/pool/restart_app_group.json", Needs::Changes, restart_app_group),
    endpoint(Method::POST, "/pool/detach_process.json",    Needs::Changes, detach_process),
    endpoint(Method::POST, "/pool/backtraces.json",        Needs::Changes, process_backtraces),
    endpoint(Method::POST, "/reopen_logs.json",            Needs::Full,    reopen_logs),
    // Issue 18, health: the whole server, so not for a user acting on their own apps.
    endpoint(Method::POST, "/drain.json",                  Needs::Full,    drain),
    endpoint(Method::POST, "/undrain.json",                Needs::Full,    undrain),
];

const fn endpoint(
    method: Method,
    path: &'static str,
    needs: Needs,
    handler: fn(&Call<'_>) -> Response,
) -> Route {
    Route {
        method,
        path,
        needs,
        handler,
    }
}

/// The request body of `POST /pool/restart_app_group.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartRequest {
    /// A group name or an app root.
    name: String,
    #[serde(default)]
    restart_method: RestartMethod,
}

/// The request body of `POST /pool/detach_process.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetachRequest {
    pid: u32,
}

/// The request body of `PUT /config.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    log_level: Option<u8>,
}

// === Routing ===

/// Answers one request from a caller already let in with `access`: 404 for a path no route
/// has, 405 for a method its routes lack, then the body is read (413 past
/// [`super::MAX_BODY`]), then 403 when `access` falls short of the route's [`Needs`].
pub(super) async fn route<B, Body>(
    server: &AdminServer<B>,
    access: Access,
    request: http::Request<Body>,
) -> Response
where
    B: AdminBackend,
    Body: hyper::body::Body<Data = Bytes> + Send,
    Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let routes: Vec<&Route> = ROUTES.iter().filter(|r| r.path == path).collect();
    if routes.is_empty() {
        return error(StatusCode::NOT_FOUND, "no such endpoint");
    }
    let Some(route) = routes.iter().find(|r| r.method == parts.method) else {
        return method_not_allowed(&routes);
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(response) => return *response,
    };
    if !route.needs.allows(access) {
        return forbidden(access);
    }
    (route.handler)(&Call {
        backend: &*server.backend,
        metrics: &server.config.metrics,
        access,
        query: parts.uri.query().unwrap_or_default(),
        body,
    })
}

fn method_not_allowed(routes: &[&Route]) -> Response {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    let allow: Vec<&str> = routes.iter().map(|r| r.method.as_str()).collect();
    if let Ok(value) = allow.join(", ").parse() {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

async fn read_body<Body>(body: Body) -> Result<Bytes, Box<Response>>
where
    Body: hyper::body::Body<Data = Bytes> + Send,
    Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, super::MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(Box::new(
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            } else {
                error(StatusCode::BAD_REQUEST, "could not read the request body")
            },
        )),
    }
}

fn forbidden(access: Access) -> Response {
    error(
        StatusCode::FORBIDDEN,
        match access {
            Access::ReadOnly => "the read-only password does not allow this",
            _ => "only root, Ferry's own user and the admin password may do this",
        },
    )
}

// === impl Needs ===

impl Needs {
    fn allows(self, access: Access) -> bool {
        match self {
            Needs::Anyone => true,
            Needs::SeesAll => matches!(access, Access::Full | Access::ReadOnly),
            Needs::Full => access == Access::Full,
            Needs::Changes => access != Access::ReadOnly,
        }
    }
}

// === impl Call ===

impl Call<'_> {
    /// Whether the query has `name=true` or `name=1`.
    fn flag(&self, name: &str) -> bool {
        self.query
            .split('&')
            .any(|kv| kv == format!("{name}=true") || kv == format!("{name}=1"))
    }

    /// The pool as the caller may see it, with connect passwords when asked (`secrets` or
    /// `verbose`) and allowed.
    fn pool(&self) -> Result<PoolState, Box<Response>> {
        let secrets = self.flag("secrets") || self.flag("verbose");
        visible_pool(self.backend, self.access, secrets)
    }
}

// === Handlers ===

fn ping(_: &Call<'_>) -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

fn info(call: &Call<'_>) -> Response {
    json(StatusCode::OK, &call.backend.server_info())
}

fn pool_json(call: &Call<'_>) -> Response {
    match call.pool() {
        Ok(pool) => json(StatusCode::OK, &pool),
        Err(response) => *response,
    }
}

fn pool_xml(call: &Call<'_>) -> Response {
    let secrets = call.flag("secrets") || call.flag("verbose");
    match call.pool() {
        Ok(pool) => text(StatusCode::OK, "application/xml", pool.to_xml(secrets)),
        Err(response) => *response,
    }
}

fn pool_txt(call: &Call<'_>) -> Response {
    match call.pool() {
        Ok(pool) => text(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            pool.to_text(call.flag("verbose")),
        ),
        Err(response) => *response,
    }
}

fn server_state(call: &Call<'_>) -> Response {
    json(
        StatusCode::OK,
        &ServerState {
            info: call.backend.server_info(),
            requests: call.backend.requests(),
        },
    )
}

fn backtraces(call: &Call<'_>) -> Response {
    match call.backend.backtraces() {
        Ok(body) => text(StatusCode::OK, "text/plain; charset=utf-8", body),
        Err(e) => backend_error(&e),
    }
}

fn metrics(call: &Call<'_>) -> Response {
    if !call.metrics.is_enabled() {
        return error(StatusCode::NOT_FOUND, "metrics are off");
    }
    let pool = call.backend.pool_state();
    // Issue 19, TLS: the certificates' expiry too.
    let certificates = call.backend.server_info().certificates;
    text(
        StatusCode::OK,
        ferry_metrics::CONTENT_TYPE,
        super::gauges::render(call.metrics, &pool, &certificates),
    )
}

fn get_config(call: &Call<'_>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "log_level": call.backend.server_info().log_level }),
    )
}

fn put_config(call: &Call<'_>) -> Response {
    let request: ConfigRequest = match parse(&call.body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    if let Some(level) = request.log_level {
        if level > 7 {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "log_level must be 0 to 7");
        }
        if let Err(e) = call.backend.set_log_level(level) {
            return backend_error(&e);
        }
    }
    get_config(call)
}

fn reopen_logs(call: &Call<'_>) -> Response {
    match call.backend.reopen_logs() {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        Err(e) => backend_error(&e),
    }
}

// Issue 18, health:
fn drain(call: &Call<'_>) -> Response {
    set_draining(call, true)
}

fn undrain(call: &Call<'_>) -> Response {
    set_draining(call, false)
}

fn set_draining(call: &Call<'_>, draining: bool) -> Response {
    match call.backend.set_draining(draining) {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({ "draining": draining })),
        Err(e) => backend_error(&e),
    }
}

fn restart_app_group(call: &Call<'_>) -> Response {
    match parse::<RestartRequest>(&call.body) {
        Ok(request) => restart_groups(call.backend, call.access, &request),
        Err(response) => *response,
    }
}

fn detach_process(call: &Call<'_>) -> Response {
    match parse::<DetachRequest>(&call.body) {
        Ok(request) => detach_pid(call.backend, call.access, request.pid),
        Err(response) => *response,
    }
}

fn process_backtraces(call: &Call<'_>) -> Response {
    match parse::<DetachRequest>(&call.body) {
        Ok(request) => backtraces_of_pid(call.backend, call.access, request.pid),
        Err(response) => *response,
    }
}

/// The pool as `access` may see it.
fn visible_pool(
    backend: &dyn AdminBackend,
    access: Access,
    secrets: bool,
) -> Result<PoolState, Box<Response>> {
    let pool = backend.pool_state();
    Ok(match access {
        Access::Full if secrets => pool,
        Access::Full => pool.without_secrets(),
        Access::ReadOnly if secrets => {
            return Err(Box::new(error(
                StatusCode::FORBIDDEN,
                "connect passwords need the full admin password",
            )))
        }
        Access::ReadOnly => pool.without_secrets(),
        // A user's own apps' secrets are theirs.
        Access::User(uid) if secrets => pool.only_uid(uid),
        Access::User(uid) => pool.only_uid(uid).without_secrets(),
    })
}

fn restart_groups(
    backend: &dyn AdminBackend,
    access: Access,
    request: &RestartRequest,
) -> Response {
    let pool = backend.pool_state();
    let groups = pool.find_groups(&request.name);
    if groups.is_empty() {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "restarted": false,
                "error": format!("no app group is named or rooted at {}", request.name),
            }),
        );
    }
    if let Access::User(uid) = access {
        if groups.iter().any(|g| g.uid != Some(uid)) {
            return error(StatusCode::FORBIDDEN, "this app does not run as your user");
        }
    }
    let mut restarted = Vec::new();
    for group in groups {
        if let Err(e) = backend.restart_app(&group.name, request.restart_method) {
            return backend_error(&e);
        }
        restarted.push(group.name.clone());
    }
    json(
        StatusCode::OK,
        &serde_json::json!({ "restarted": true, "groups": restarted }),
    )
}

fn detach_pid(backend: &dyn AdminBackend, access: Access, pid: u32) -> Response {
    if let Access::User(uid) = access {
        let pool = backend.pool_state();
        match pool.group_of_pid(pid) {
            Some(group) if group.uid == Some(uid) => {}
            Some(_) => {
                return error(
                    StatusCode::FORBIDDEN,
                    "this process does not run as your user",
                )
            }
            // Do not tell other users which pids exist.
            None => return json(StatusCode::OK, &serde_json::json!({ "detached": false })),
        }
    }
    match backend.detach_process(pid) {
        Ok(detached) => json(StatusCode::OK, &serde_json::json!({ "detached": detached })),
        Err(e) => backend_error(&e),
    }
}

/// Asks process `pid` for its threads' backtraces (they go to its output, hence Ferry's log).
fn backtraces_of_pid(backend: &dyn AdminBackend, access: Access, pid: u32) -> Response {
    let pool = backend.pool_state();
    match pool.group_of_pid(pid) {
        Some(group) if matches!(access, Access::User(uid) if group.uid != Some(uid)) => error(
            StatusCode::FORBIDDEN,
            "this process does not run as your user",
        ),
        Some(_) => match backend.process_backtraces(pid) {
            Ok(message) => json(StatusCode::OK, &serde_json::json!({ "message": message })),
            Err(e) => backend_error(&e),
        },
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no app process has pid {pid}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with('/'), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn the_allow_list_comes_from_the_table() {
        let config: Vec<&Route> = ROUTES.iter().filter(|r| r.path == "/config.json").collect();
        let response = method_not_allowed(&config);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response.headers().get(header::ALLOW).map(|v| v.as_bytes()),
            Some(&b"GET, PUT"[..])
        );
    }

    #[test]
    fn who_each_need_lets_in() {
        let callers = [Access::Full, Access::ReadOnly, Access::User(1000)];
        let allowed = |needs: Needs| callers.map(|a| needs.allows(a));
        assert_eq!(allowed(Needs::Anyone), [true, true, true]);
        assert_eq!(allowed(Needs::SeesAll), [true, true, false]);
        assert_eq!(allowed(Needs::Full), [true, false, false]);
        assert_eq!(allowed(Needs::Changes), [true, false, true]);
    }
}
