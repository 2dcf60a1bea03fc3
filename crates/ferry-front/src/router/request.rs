//! What the router knows of a request once it has its server: for variables, files and error
//! pages.

use std::sync::Arc;

use http::Method;

use crate::inflight::Inflight;
use crate::listener::ClientInfo;

/// What a request is, for variables and error pages.
pub(super) struct RequestInfo<'a> {
    /// The server's name (`$server_name`).
    pub(super) server: &'a str,
    pub(super) inflight: &'a Arc<Inflight>,
    /// The normalized path (`$uri`).
    pub(super) uri: String,
    pub(super) method: Method,
    pub(super) version: http::Version,
    /// The path and query as sent (`$request_uri`).
    pub(super) target: String,
    pub(super) client: ClientInfo,
}
