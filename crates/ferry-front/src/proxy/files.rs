//! serve_static: a GET or HEAD naming a file under the app's public directory is answered here,
//! without the app.

use http::{Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::Body;
use crate::session::split_base;
use crate::site::Site;
use crate::static_files::Outcome;

/// The file the request names under the site's public directory (its base URI taken off), if
/// there is one to answer with; `None`: the app answers.
pub(super) async fn serve_static(
    site: &Site,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    let statics = site.statics.as_ref()?;
    let outcome = match site.base_uri.as_deref() {
        Some(base) => {
            let uri = strip_base(request.uri(), base);
            statics
                .serve(request.method(), &uri, request.headers())
                .await
        }
        None => {
            statics
                .serve(request.method(), request.uri(), request.headers())
                .await
        }
    };
    match outcome {
        Outcome::Response(response) => Some(response),
        Outcome::NotStatic => None,
    }
}

/// `uri` with the base URI taken off its path, for the static file lookup.
fn strip_base(uri: &Uri, base: &str) -> Uri {
    let (_, path) = split_base(uri.path(), Some(base));
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    target.parse().unwrap_or_else(|_| uri.clone())
}
