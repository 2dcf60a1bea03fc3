//! The request on its way to an app, kept in a form that can be sent again while it has not
//! reached one.

use http::{request, Method, Request};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::body::Body;
use crate::error::Error;
use crate::session::{self, RequestBody};

use super::body::limit_body;

/// The request on its way, kept in a form that can be sent again while it has not reached an app.
pub(super) struct Pending {
    pub(super) parts: request::Parts,
    /// `None` once the body has been handed to a connection.
    pub(super) body: Option<Body>,
    pub(super) kind: RequestBody,
    /// The client's side of an upgrade it asked for (WebSocket).
    pub(super) upgrade: Option<OnUpgrade>,
    /// Whether the HTTP-protocol rewriting of the headers has been applied.
    pub(super) rewritten: bool,
    /// Extra CGI variables: `session` apps get them all, HTTP apps the `HTTP_*` ones as headers.
    pub(super) cgi: Vec<(String, String)>,
}

// === impl Pending ===

impl Pending {
    /// Takes the client's request apart for sending, its body under its limit
    /// ([`super::body::limit_body`]).
    pub(super) async fn read(
        mut request: Request<Incoming>,
        cgi: Vec<(String, String)>,
    ) -> Result<Pending, Error> {
        let upgrade = session::is_upgrade_request(request.method(), request.headers())
            .then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        let mut kind = session::request_body(&parts, &body);
        let body = limit_body(&mut parts, body, &mut kind).await?;
        Ok(Pending {
            parts,
            body: Some(body),
            kind,
            upgrade,
            rewritten: false,
            cgi,
        })
    }

    /// Whether the request can be sent again after it may have reached the app: no body,
    /// idempotent.
    pub(super) fn replayable(&self) -> bool {
        self.kind == RequestBody::None
            && matches!(
                self.parts.method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
            )
    }
}
