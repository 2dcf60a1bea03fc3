//! serve_files: Nginx's static module where Passenger is off (`root`, `alias`, `index`, the
//! route's MIME types; 301 for a directory, 403, 404, 405), and the internal redirect to a file
//! that `error_page` and `X-Accel-Redirect` answer with.

use std::path::{Path, PathBuf};

use ferry_config::deployment::{Files, Route as RouteConfig, Var};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::Body;
use crate::error::{redirect, status_page};
use crate::session::split_base;
use crate::site::Site;
use crate::static_files::{self, FileOutcome, Outcome};

use super::locations::{find_location, Route, Server};
use super::normalize::normalize;
use super::request::RequestInfo;

/// The route's file for the request, with the route's MIME type.
#[tracing::instrument(level = "trace", skip_all, fields(uri = %info.uri))]
pub(super) async fn serve_files(
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
fn mime_type(config: &RouteConfig, path: &Path) -> Option<HeaderValue> {
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
        return index_file(route, &path, info, headers).await;
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

/// The first of the route's `index` files in the directory `dir`; 403 for a directory without
/// one, 404 when there is no directory.
async fn index_file(
    route: &Route,
    dir: &Path,
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
) -> (Response<Body>, Option<PathBuf>) {
    for index in &route.config.index {
        let file = dir.join(index);
        if let FileOutcome::Response(r) =
            static_files::serve_path(&info.method, &file, headers).await
        {
            return (r, Some(file));
        }
    }
    let refused = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => StatusCode::FORBIDDEN,
        _ => StatusCode::NOT_FOUND,
    };
    (status_page(refused), None)
}

/// The file for `uri` by the route's `root` or `alias`.
pub(super) fn file_path(route: &Route, captures: &[Option<String>], uri: &str) -> Option<PathBuf> {
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

/// Answers `target` (a URI on `server`) from files, as an internal redirect does: the
/// location it falls in decides where the file is (an app's public directory where Passenger
/// is on). `None` when there is no such file.
pub(super) async fn internal_redirect(
    server: &Server,
    target: &str,
    info: &RequestInfo<'_>,
) -> Option<Response<Body>> {
    let path = normalize(target.split('?').next().unwrap_or(target))?;
    let found = find_location(server, &path);
    let method = if info.method == Method::HEAD {
        Method::HEAD
    } else {
        Method::GET
    };
    let headers = HeaderMap::new();
    if let Some(site) = found.route.passenger.as_ref().and_then(|p| p.site(&path)) {
        return public_file(site, &path, &method, &headers).await;
    }
    let file = file_path(found.route, &found.captures, &path)?;
    match static_files::serve_path(&method, &file, &headers).await {
        FileOutcome::Response(r) => Some(r),
        _ => None,
    }
}

/// The file at `path` in `site`'s public directory, if it answers with success.
async fn public_file(
    site: &Site,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    let statics = site.statics.as_ref()?;
    let (_, rest) = split_base(path, site.base_uri.as_deref());
    let uri: http::Uri = rest.parse().ok()?;
    match statics.serve(method, &uri, headers).await {
        Outcome::Response(r) if r.status().is_success() => Some(r),
        _ => None,
    }
}
