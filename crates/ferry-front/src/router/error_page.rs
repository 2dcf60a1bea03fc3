//! error_page: a response replaced by the route's `error_page` for its status (a file on the
//! server, found as an internal redirect, or a redirect elsewhere).

use ferry_config::deployment::{ErrorPage, ErrorPageStatus};
use http::{Response, StatusCode};

use crate::body::Body;
use crate::error::redirect;

use super::files::{internal_redirect, Redirected};
use super::locations::{Route, Server};
use super::request::RequestInfo;

/// `response`, or the route's `error_page` for its status.
#[tracing::instrument(level = "trace", skip_all, fields(status = response.status().as_u16()))]
pub(super) async fn error_page(
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
    let Redirected::File(mut page_response) = internal_redirect(server, target, info).await else {
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
