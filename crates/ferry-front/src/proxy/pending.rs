//! The request on its way to an app, kept in a form that can be sent again while it has not
//! reached one.

use http::{request, Method, Request};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::body::Body;
use crate::error::Error;
use crate::session::{self, RequestBody};

use super::body::{BodyLimit, StreamedBody};
use super::buffer::{self, Buffered};
use crate::site::BodySettings;

/// The request on its way, kept in a form that can be sent again while it has not reached an app.
pub(super) struct Pending {
    pub(super) parts: request::Parts,
    /// The body for the next try; `None` once it has been handed to a connection (a buffered
    /// body is made again from `buffered`, a bodiless request sends an empty one).
    pub(super) body: Option<Body>,
    /// The whole body when it was buffered: every try sends it from its start.
    buffered: Option<Buffered>,
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
    /// Takes the client's request apart for sending. A request without a body costs nothing
    /// more. With `settings.buffering`, the body is read whole first ([`buffer::read_whole`]:
    /// 413, 408 or 400 before any app sees it); otherwise it streams to the app under its limit
    /// and timeout ([`StreamedBody`]).
    pub(super) async fn read(
        mut request: Request<Incoming>,
        cgi: Vec<(String, String)>,
        settings: &BodySettings,
    ) -> Result<Pending, Error> {
        let upgrade = session::is_upgrade_request(request.method(), request.headers())
            .then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        let mut kind = session::request_body(&parts, &body);
        let limit = |parts: &request::Parts| parts.extensions.get::<BodyLimit>().map(|l| l.0);
        let (body, buffered) = match kind {
            RequestBody::None => (None, None),
            _ if settings.buffering => {
                let limit = limit(&parts);
                let whole =
                    buffer::read_whole(&mut parts, body, &mut kind, limit, settings).await?;
                (None, Some(whole))
            }
            _ => {
                let streamed = StreamedBody::new(body, limit(&parts), settings.timeout);
                (Some(http_body_util::BodyExt::boxed(streamed)), None)
            }
        };
        Ok(Pending {
            parts,
            body,
            buffered,
            kind,
            upgrade,
            rewritten: false,
            cgi,
        })
    }

    /// The body slot for this try: a buffered body is made again from its start when the last
    /// try took it.
    pub(super) fn body_for_try(&mut self) -> &mut Option<Body> {
        if self.body.is_none() {
            self.body = self.buffered.as_ref().map(Buffered::body);
        }
        &mut self.body
    }

    /// Whether the request can be sent again after it may have reached the app: idempotent, and
    /// without a body or with a buffered one (which is sent again whole).
    pub(super) fn replayable(&self) -> bool {
        (self.kind == RequestBody::None || self.buffered.is_some())
            && matches!(
                self.parts.method,
                Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
            )
    }
}
