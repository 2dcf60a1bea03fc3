//! serve_app: a request where Passenger is on goes to its app's [`Site`] (`proxy::handle`), and
//! the app's answer gets Ferry's headers, loses the hidden `X-Accel-*` ones, and may be replaced
//! by the file `X-Accel-Redirect` names or by an `error_page` (intercepted errors).

use std::sync::Arc;

use http::{header, HeaderName, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::Body;
use crate::error::status_page;
use crate::inflight::TrackedBody;
use crate::proxy;
use crate::site::Site;

use super::cgi::expand_cgi;
use super::error_page::error_page;
use super::files::{internal_redirect, Redirected};
use super::locations::{Found, Passenger, Server};
use super::request::RequestInfo;

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
const POWERED_BY: &str = concat!("Ferry ", env!("CARGO_PKG_VERSION"));

/// The app's answer, with Ferry's headers, `X-Accel-Redirect` and intercepted errors. The
/// request is listed among the requests in progress until its response body has been sent.
pub(super) async fn serve_app(
    server: &Server,
    passenger: &Passenger,
    site: &Arc<Site>,
    found: &Found<'_>,
    info: RequestInfo<'_>,
    request: Request<Incoming>,
) -> Response<Body> {
    let (tracked, guard) = info.inflight.track(
        Arc::clone(&site.app_name),
        info.method.clone(),
        info.target.clone(),
    );
    let cgi = expand_cgi(&passenger.config, &info, request.headers(), found, site);
    let response = proxy::handle(Arc::clone(site), info.client, request, cgi, Some(&tracked)).await;
    tracked.sending();
    let mut response = response.map(|inner| {
        TrackedBody {
            inner,
            guard: Some(guard),
        }
        .boxed()
    });
    powered_by(&mut response, found.route.config.show_version_in_header);
    let accel = hide_headers(&mut response, passenger);
    if let Some(target) = accel.as_ref().and_then(|v| v.to_str().ok()) {
        // The app answered with a file for Ferry to send (Nginx's X-Accel-Redirect).
        return match internal_redirect(server, target, &info).await {
            Redirected::File(file) => file,
            Redirected::Failed(status) => status_page(status),
        };
    }
    if passenger.config.intercept_errors && response.status().as_u16() >= 400 {
        return error_page(server, found.route, &info, response).await;
    }
    response
}

/// `X-Powered-By`, and a bare `Server: Ferry` unless the version is shown.
fn powered_by(response: &mut Response<Body>, show_version: bool) {
    let powered = if show_version { POWERED_BY } else { "Ferry" };
    response
        .headers_mut()
        .append(X_POWERED_BY, HeaderValue::from_static(powered));
    if !show_version && !response.headers().contains_key(header::SERVER) {
        response
            .headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("Ferry"));
    }
}

/// Takes the hidden headers off (those `passenger_pass_header` does not name), and returns the
/// `X-Accel-Redirect` target unless `passenger_ignore_headers` names it.
fn hide_headers(response: &mut Response<Body>, passenger: &Passenger) -> Option<HeaderValue> {
    let config = &passenger.config;
    let named = |list: &[String], name: &str| list.iter().any(|p| p.eq_ignore_ascii_case(name));
    let accel = (!named(&config.ignore_headers, "X-Accel-Redirect"))
        .then(|| response.headers().get(X_ACCEL_REDIRECT).cloned())
        .flatten();
    for name in HIDDEN {
        if !named(&config.pass_headers, name) {
            response.headers_mut().remove(name);
        }
    }
    accel
}
