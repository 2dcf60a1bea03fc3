//! The request body's limit (`client_max_body_size`) for a body of unannounced length: one that
//! announces its length was checked by the router, which puts a [`BodyLimit`] in the request's
//! extensions otherwise.

use http::{header, request, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{Body, BoxError};
use crate::error::Error;
use crate::session::RequestBody;

/// Bodies of unannounced length are read whole before they are sent when their limit is at most
/// this (Nginx's default `client_max_body_size` is 1 MiB).
const BUFFER_LIMIT: u64 = 8 * 1024 * 1024;

/// The most a request body of unannounced length (chunked) may carry: put in the request's
/// extensions by the router (`client_max_body_size`; a `Content-Length` is checked there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) u64);

/// The body to send, under the request's [`BodyLimit`] if it has one. Up to [`BUFFER_LIMIT`] it
/// is read whole first, as Nginx does, so that one too large gets 413 before the app sees any of
/// it (and `parts` and `kind` then announce its length); above, it is streamed and cut at the
/// limit (the app sees a truncated body).
pub(super) async fn limit_body(
    parts: &mut request::Parts,
    body: Incoming,
    kind: &mut RequestBody,
) -> Result<Body, Error> {
    match parts.extensions.get::<BodyLimit>().copied() {
        Some(BodyLimit(limit)) if limit <= BUFFER_LIMIT => {
            read_whole(parts, body, kind, limit).await
        }
        Some(BodyLimit(limit)) => Ok(http_body_util::Limited::new(body, limit as usize)
            .map_err(BoxError::from)
            .boxed()),
        None => Ok(body.map_err(BoxError::from).boxed()),
    }
}

/// Reads a body of unannounced length whole, at most `limit` bytes, and announces its length.
async fn read_whole(
    parts: &mut request::Parts,
    body: Incoming,
    kind: &mut RequestBody,
    limit: u64,
) -> Result<Body, Error> {
    let bytes = match http_body_util::Limited::new(body, limit as usize)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(Error::BodyTooLarge { limit })
        }
        Err(source) => return Err(Error::ClientBody { source }),
    };
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    *kind = if bytes.is_empty() {
        RequestBody::None
    } else {
        RequestBody::Length(bytes.len() as u64)
    };
    Ok(crate::body::full(bytes))
}

/// Whether `error` comes from a body cut at its [`BodyLimit`] while it streamed.
pub(super) fn too_large(error: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}
