//! serve_files: Nginx's static module where Passenger is off (`root`, `alias`, `index`, the
//! route's MIME types; 301 for a directory, 403, 404, 405), and the internal redirect to a file
//! that `error_page` and `X-Accel-Redirect` answer with.
//!
//! Every file is opened through [`ferry_sys::fs::Root`] under the route's `disable_symlinks`
//! (no open by path; see `ferry_sys::fs` for the rules). A failed lookup is answered as nginx
//! answers the `errno` behind it ([`lookup_status`]): nothing there (or something that is not
//! a regular file or a directory: a FIFO, a socket, a device) is 404; a link the policy refuses
//! or a permission denied is 403; any other failure is 500.

use std::path::{Path, PathBuf};

use ferry_config::deployment::{Files, Route as RouteConfig, SymlinkFrom, Template, Var};
use ferry_sys::fs::{Found, OpenError, Root};
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::Body;
use crate::error::{redirect, status_page};
use crate::session::split_base;
use crate::site::Site;
use crate::static_files::{self, symlinks, Outcome};

use super::locations::{find_location, Route, Server};
use super::normalize::normalize;
use super::request::RequestInfo;

/// No names below a lookup's root: the root itself.
const ITSELF: &[&str] = &[];

/// What an internal redirect to a file came to.
pub(super) enum Redirected {
    /// The file's response.
    File(Response<Body>),
    /// No file to answer with: the status the target's location gives.
    Failed(StatusCode),
}

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
    let Some(root) = file_root(route, captures, &info.uri) else {
        return (status_page(StatusCode::NOT_FOUND), None);
    };
    if info.uri.ends_with('/') {
        return index_file(route, &root, info, headers).await;
    }
    match root.open(ITSELF) {
        Ok(Found::File(file)) => {
            let path = root.path().to_path_buf();
            (
                file_response(&info.method, headers, file, &path).await,
                Some(path),
            )
        }
        Ok(Found::Dir(_)) => {
            let query = info.target.split_once('?').map(|(_, q)| q);
            let location = match query {
                Some(q) => format!("{}/?{q}", info.uri),
                None => format!("{}/", info.uri),
            };
            (redirect(StatusCode::MOVED_PERMANENTLY, &location), None)
        }
        Err(error) => (status_page(lookup_status(&error)), None),
    }
}

/// The first of the route's `index` files in the directory `root`; 403 for a directory without
/// one, or as [`lookup_status`] says when the directory or an index cannot be looked at.
async fn index_file(
    route: &Route,
    root: &Root,
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
) -> (Response<Body>, Option<PathBuf>) {
    let dir = match root.open_dir(ITSELF) {
        Ok(dir) => dir,
        Err(error) => return (status_page(lookup_status(&error)), None),
    };
    for index in &route.config.index {
        let names: Vec<&str> = index.split('/').filter(|n| !n.is_empty()).collect();
        match dir.open_at(&names) {
            Ok(Found::File(file)) => {
                let path = root.path().join(index);
                return (
                    file_response(&info.method, headers, file, &path).await,
                    Some(path),
                );
            }
            // Not this one: the next index (nginx skips a missing one the same way).
            Ok(Found::Dir(_))
            | Err(
                OpenError::NotFound | OpenError::NotServable { .. } | OpenError::InvalidPath(_),
            ) => {}
            Err(error) => return (status_page(lookup_status(&error)), None),
        }
    }
    (status_page(StatusCode::FORBIDDEN), None)
}

/// The response for an opened file: its own, or 500 when it cannot be read.
async fn file_response(
    method: &Method,
    headers: &HeaderMap,
    file: ferry_sys::fs::OpenFile,
    path: &Path,
) -> Response<Body> {
    match static_files::serve_file(method, headers, file, path).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "file unreadable");
            status_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The status nginx answers a failed lookup with: 404 for nothing there (`ENOENT`, `ENOTDIR`)
/// and for what is neither a regular file nor a directory (nginx: "is not a regular file",
/// 404); 403 for a link the policy refuses (`ELOOP`) or a permission denied (`EACCES`); 500 for
/// anything else.
pub(super) fn lookup_status(error: &OpenError) -> StatusCode {
    match error {
        OpenError::NotFound | OpenError::InvalidPath(_) => StatusCode::NOT_FOUND,
        OpenError::NotServable { .. } => {
            tracing::debug!(%error, "not a regular file or a directory: 404");
            StatusCode::NOT_FOUND
        }
        OpenError::Refused { .. } | OpenError::PermissionDenied { .. } => {
            tracing::debug!(%error, "refused: 403");
            StatusCode::FORBIDDEN
        }
        OpenError::Io { .. } => {
            tracing::warn!(%error, "file lookup failed: 500");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The lookup root of the file for `uri` (its full path) under the route's `disable_symlinks`.
fn file_root(route: &Route, captures: &[Option<String>], uri: &str) -> Option<Root> {
    let path = file_path(route, captures, uri)?;
    let document_root = match route.symlinks.from {
        Some(SymlinkFrom::DocumentRoot) => document_root(route, captures),
        _ => None,
    };
    let policy = symlinks::policy(&route.symlinks, document_root.as_deref());
    Root::new(symlinks::absolute(&path), policy).ok()
}

/// The file for `uri` by the route's `root` or `alias`.
pub(super) fn file_path(route: &Route, captures: &[Option<String>], uri: &str) -> Option<PathBuf> {
    match &route.config.files {
        Files::None => None,
        Files::Root(root) => Some(root.join(uri.trim_start_matches('/'))),
        Files::Alias(alias) => {
            let base = expand_alias(alias, captures);
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

/// The route's `$document_root`: its `root`, or its `alias` with the location's captures.
fn document_root(route: &Route, captures: &[Option<String>]) -> Option<PathBuf> {
    match &route.config.files {
        Files::None => None,
        Files::Root(root) => Some(root.clone()),
        Files::Alias(alias) => Some(PathBuf::from(expand_alias(alias, captures))),
    }
}

/// `alias` with `$1`... from the location's captures.
fn expand_alias(alias: &Template, captures: &[Option<String>]) -> String {
    alias.expand(|var, out| {
        if let Var::Capture(n) = var {
            out.push_str(captures.get(*n).cloned().flatten().as_deref().unwrap_or(""));
        }
    })
}

/// Answers `target` (a URI on `server`) from files, as an internal redirect does: the
/// location it falls in decides where the file is (an app's public directory where Passenger
/// is on, where anything but a file is 404).
pub(super) async fn internal_redirect(
    server: &Server,
    target: &str,
    info: &RequestInfo<'_>,
) -> Redirected {
    let Some(path) = normalize(target.split('?').next().unwrap_or(target)) else {
        return Redirected::Failed(StatusCode::NOT_FOUND);
    };
    let found = find_location(server, &path);
    let method = if info.method == Method::HEAD {
        Method::HEAD
    } else {
        Method::GET
    };
    let headers = HeaderMap::new();
    if let Some(site) = found.route.passenger.as_ref().and_then(|p| p.site(&path)) {
        return match public_file(site, &path, &method, &headers).await {
            Some(response) => Redirected::File(response),
            None => Redirected::Failed(StatusCode::NOT_FOUND),
        };
    }
    let Some(root) = file_root(found.route, &found.captures, &path) else {
        return Redirected::Failed(StatusCode::NOT_FOUND);
    };
    match root.open(ITSELF) {
        Ok(Found::File(file)) => {
            let response = file_response(&method, &headers, file, root.path()).await;
            Redirected::File(response)
        }
        Ok(Found::Dir(_)) => Redirected::Failed(StatusCode::NOT_FOUND),
        Err(error) => Redirected::Failed(lookup_status(&error)),
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
