//! The front end's errors and the one place they become responses.

use ferry_pool::CheckoutError;
use http::{header, Response, StatusCode};

use crate::body::{self, Body};

/// Why a request could not be answered by the app.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No session could be had: queue full, spawn failure, shutting down.
    #[error("no app process available")]
    Checkout(#[from] CheckoutError),
    /// Every attempt to connect to an app process failed.
    #[error("could not connect to the app process at {endpoint}")]
    Connect {
        /// The process's address.
        endpoint: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Every process tried closed the connection before the request could be sent.
    #[error("could not send the request to an app process (last tried: {endpoint})")]
    Retries {
        /// The last process's address.
        endpoint: String,
    },
    /// The app took longer than `max_request_time` to answer; its process was stopped.
    #[error("the app did not answer within max_request_time ({limit:?})")]
    RequestTimeout {
        /// The limit.
        limit: std::time::Duration,
    },
    /// The app process failed before sending a complete response head.
    #[error("the app process at {endpoint} failed before responding")]
    Upstream {
        /// The process's address.
        endpoint: String,
        /// What went wrong on the connection.
        #[source]
        source: crate::body::BoxError,
    },
    /// The request body is longer than `client_max_body_size`.
    #[error("the request body is larger than client_max_body_size ({limit} bytes)")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    // Issue 16, response side:
    /// The app sent nothing for `passenger_read_timeout` before its response head; its process
    /// was stopped.
    #[error("the app sent nothing for {limit:?} (passenger_read_timeout)")]
    AppReadTimeout {
        /// The limit.
        limit: std::time::Duration,
    },
    /// The client stopped sending the request body.
    #[error("the client did not send the whole request body")]
    ClientBody {
        /// Why.
        #[source]
        source: crate::body::BoxError,
    },
    // Issue 16, request side:
    /// The client sent nothing for `client_body_timeout` while sending the request body.
    #[error("the client sent no request body for {limit:?} (client_body_timeout)")]
    ClientBodyTimeout {
        /// The limit.
        limit: std::time::Duration,
    },
    /// A request body longer than `client_body_buffer_size` could not be kept in its temp file
    /// (the directory is missing and cannot be made, the disk is full).
    #[error("could not keep the request body in a temp file")]
    BodyBuffer {
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The status the client gets for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Checkout(CheckoutError::QueueFull { .. } | CheckoutError::ShuttingDown) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::Checkout(CheckoutError::QueueTimeout { .. })
            | Error::RequestTimeout { .. }
            | Error::AppReadTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::Checkout(CheckoutError::Spawn(_)) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Connect { .. } | Error::Upstream { .. } | Error::Retries { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ClientBody { .. } => StatusCode::BAD_REQUEST,
            Error::ClientBodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::BodyBuffer { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The response for `error`. With `details`, a spawn error page shows the failed step and the
/// app's output (Passenger's friendly error page); without, only that something went wrong.
pub(crate) fn error_response(error: &Error, details: bool) -> Response<Body> {
    let status = error.status();
    let page = match error {
        Error::Checkout(CheckoutError::Spawn(spawn)) => spawn.page(details, "Ferry"),
        Error::Checkout(CheckoutError::QueueFull { .. } | CheckoutError::QueueTimeout { .. }) => {
            page(
                "This website is under heavy load",
                "<p>We're sorry, too many people are accessing this website at the same time. \
             We're working on this problem. Please try again later.</p>",
            )
        }
        Error::Checkout(CheckoutError::ShuttingDown) => page(
            "Server shutting down",
            "<p>Please try again in a moment.</p>",
        ),
        Error::RequestTimeout { .. } | Error::AppReadTimeout { .. } => page(
            "Gateway timeout",
            "<p>The application took too long to answer this request.</p>",
        ),
        Error::Connect { .. } | Error::Upstream { .. } | Error::Retries { .. } => page(
            "Bad gateway",
            "<p>The application did not answer this request properly. Please try again.</p>",
        ),
        Error::BodyTooLarge { .. } => page(
            "Request entity too large",
            "<p>The request body is larger than this server accepts.</p>",
        ),
        Error::ClientBody { .. } => page(
            "Bad request",
            "<p>The request body did not arrive whole.</p>",
        ),
        Error::ClientBodyTimeout { .. } => page(
            "Request timeout",
            "<p>The request body did not arrive in time.</p>",
        ),
        Error::BodyBuffer { .. } => page(
            "Internal server error",
            "<p>The request body could not be kept. Please try again later.</p>",
        ),
    };
    html(status, page)
}

/// 404 for a request outside the app's base URI.
pub(crate) fn not_found() -> Response<Body> {
    html(
        StatusCode::NOT_FOUND,
        page("Not found", "<p>There is nothing at this address.</p>"),
    )
}

/// A plain page for a status Ferry answers itself (400, 403, 404, 405, 413, ...).
pub(crate) fn status_page(status: StatusCode) -> Response<Body> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    html(status, page(&title, ""))
}

/// A redirect to `location`.
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut response = status_page(status);
    if let Ok(value) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(body::full(page));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}<hr><p><small>Ferry</small></p></body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_full_is_503_and_shutdown_is_503() {
        let full = Error::Checkout(CheckoutError::QueueFull {
            app: "a".into(),
            queued: 1,
            limit: 1,
        });
        assert_eq!(
            error_response(&full, false).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let down = Error::Checkout(CheckoutError::ShuttingDown);
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
