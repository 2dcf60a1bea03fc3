//! The endpoints: which method and path, who may call it, what it answers.

use bytes::Bytes;
use http::{header, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

use super::{Access, AdminBackend, AdminError, AdminServer, Response};
use crate::pool::PoolState;
use crate::types::{RestartMethod, ServerState};

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
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let flag = |name: &str| {
        query
            .split('&')
            .any(|kv| kv == format!("{name}=true") || kv == format!("{name}=1"))
    };
    let backend = &*server.backend;
    let method = parts.method;
    let allowed: &[Method] = match path.as_str() {
        "/ping.json" | "/info.json" | "/version.json" | "/pool.json" | "/pool.xml"
        | "/pool.txt" | "/server.json" | "/backtraces.txt" | "/metrics" => &[Method::GET],
        "/config.json" => &[Method::GET, Method::PUT],
        "/pool/restart_app_group.json"
        | "/pool/detach_process.json"
        | "/pool/backtraces.json"
        | "/reopen_logs.json" => &[Method::POST],
        _ => return error(StatusCode::NOT_FOUND, "no such endpoint"),
    };
    if !allowed.contains(&method) {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        if let Ok(value) = allow.join(", ").parse() {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    }
    let body = match Limited::new(body, super::MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            } else {
                error(StatusCode::BAD_REQUEST, "could not read the request body")
            };
        }
    };
    let sees_all = matches!(access, Access::Full | Access::ReadOnly);
    match (method, path.as_str()) {
        (_, "/ping.json") => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        (_, "/info.json" | "/version.json") => json(StatusCode::OK, &backend.server_info()),
        (_, "/pool.json" | "/pool.xml" | "/pool.txt") => {
            let secrets = flag("secrets") || flag("verbose");
            let pool = match visible_pool(backend, access, secrets) {
                Ok(pool) => pool,
                Err(response) => return *response,
            };
            match path.as_str() {
                "/pool.json" => json(StatusCode::OK, &pool),
                "/pool.xml" => text(StatusCode::OK, "application/xml", pool.to_xml(secrets)),
                _ => text(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    pool.to_text(flag("verbose")),
                ),
            }
        }
        (_, "/server.json") if sees_all => json(
            StatusCode::OK,
            &ServerState {
                info: backend.server_info(),
                requests: backend.requests(),
            },
        ),
        (_, "/backtraces.txt") if sees_all => match backend.backtraces() {
            Ok(body) => text(StatusCode::OK, "text/plain; charset=utf-8", body),
            Err(e) => backend_error(&e),
        },
        (_, "/metrics") if sees_all => {
            let metrics = &server.config.metrics;
            if !metrics.is_enabled() {
                return error(StatusCode::NOT_FOUND, "metrics are off");
            }
            let pool = backend.pool_state();
            text(
                StatusCode::OK,
                ferry_metrics::CONTENT_TYPE,
                super::gauges::render(metrics, &pool),
            )
        }
        (Method::GET, "/config.json") if sees_all => json(
            StatusCode::OK,
            &serde_json::json!({ "log_level": backend.server_info().log_level }),
        ),
        (Method::PUT, "/config.json") if access == Access::Full => {
            let request: ConfigRequest = match parse(&body) {
                Ok(r) => r,
                Err(response) => return *response,
            };
            if let Some(level) = request.log_level {
                if level > 7 {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "log_level must be 0 to 7");
                }
                if let Err(e) = backend.set_log_level(level) {
                    return backend_error(&e);
                }
            }
            json(
                StatusCode::OK,
                &serde_json::json!({ "log_level": backend.server_info().log_level }),
            )
        }
        (_, "/reopen_logs.json") if access == Access::Full => match backend.reopen_logs() {
            Ok(()) => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
            Err(e) => backend_error(&e),
        },
        (_, "/pool/restart_app_group.json") if access != Access::ReadOnly => {
            let request: RestartRequest = match parse(&body) {
                Ok(r) => r,
                Err(response) => return *response,
            };
            restart(backend, access, &request)
        }
        (_, "/pool/detach_process.json") if access != Access::ReadOnly => {
            let request: DetachRequest = match parse(&body) {
                Ok(r) => r,
                Err(response) => return *response,
            };
            detach(backend, access, request.pid)
        }
        (_, "/pool/backtraces.json") if access != Access::ReadOnly => {
            let request: DetachRequest = match parse(&body) {
                Ok(r) => r,
                Err(response) => return *response,
            };
            process_backtraces(backend, access, request.pid)
        }
        _ => error(
            StatusCode::FORBIDDEN,
            match access {
                Access::ReadOnly => "the read-only password does not allow this",
                _ => "only root, Ferry's own user and the admin password may do this",
            },
        ),
    }
}

/// The pool as `access` may see it.
fn visible_pool<B: AdminBackend>(
    backend: &B,
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

fn restart<B: AdminBackend>(backend: &B, access: Access, request: &RestartRequest) -> Response {
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

fn detach<B: AdminBackend>(backend: &B, access: Access, pid: u32) -> Response {
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
fn process_backtraces<B: AdminBackend>(backend: &B, access: Access, pid: u32) -> Response {
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

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("invalid JSON body: {e}"),
        ))
    })
}

fn backend_error(e: &AdminError) -> Response {
    let status = match e {
        AdminError::NotFound(_) => StatusCode::NOT_FOUND,
        AdminError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        AdminError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        AdminError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}

/// 401 with the headers Passenger's API sends.
pub(super) fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    let headers = response.headers_mut();
    headers.insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"api\""),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    text(status, "application/json", body)
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    response
}
