//! The body type every response leaving the front end uses.
//!
//! Responses come from three places (the app, a static file, an error page); boxing them into one
//! type keeps the hyper service signature simple. The box costs one allocation per response.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

/// Any error a response body can fail with while it streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of every front-end response.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body with nothing in it.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body held entirely in memory (error pages, small answers).
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}
