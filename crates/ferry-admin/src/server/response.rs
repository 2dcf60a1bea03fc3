//! How the admin API answers: JSON bodies (errors as `{"error": ...}`), text, and the headers
//! every answer carries.

use bytes::Bytes;
use http::{header, StatusCode};
use http_body_util::Full;

use super::{AdminError, Response};

/// The JSON body of a request; 422 when it is not what the endpoint takes.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("invalid JSON body: {e}"),
        ))
    })
}

/// The status a backend's error maps to, with its message.
pub(super) fn backend_error(e: &AdminError) -> Response {
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

/// `{"error": message}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// `value` as pretty JSON and a line feed.
pub(super) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    text(status, "application/json", body)
}

/// A body of `content_type`, never to be cached.
pub(super) fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
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
