//! Request bodies for the client: in memory, or generated on the fly chunk by chunk.
//!
//! Large uploads are generated, never held in memory: [`generator`] calls a closure for each
//! chunk, and [`pattern`] streams the deterministic byte pattern the fixture app's `/download`
//! route also produces (`byte[i] = i % 251`), so a test knows the expected SHA-256 up front.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use sha2::{Digest, Sha256};

/// The modulus of the test byte pattern: `byte[i] = i % PATTERN_MODULUS`.
pub const PATTERN_MODULUS: usize = 251;

/// Size of one generated pattern chunk: a whole number of periods, close to 64 KiB.
const PATTERN_CHUNK: usize = PATTERN_MODULUS * 261;

/// Any error a request body can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request body type of every client in this crate.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body with nothing in it.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A body held entirely in memory.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body produced by calling `next` until it returns `None`.
///
/// With `len: Some(n)` the body announces its exact length (the client sends
/// `Content-Length: n`, and `next` must produce exactly `n` bytes); with `None` the length is
/// unknown and the client uses chunked transfer encoding.
pub fn generator<F>(len: Option<u64>, next: F) -> Body
where
    F: FnMut() -> Option<Bytes> + Send + Sync + Unpin + 'static,
{
    Generated {
        next,
        exact: len,
        done: false,
    }
    .map_err(|never| match never {})
    .boxed()
}

/// `len` bytes of the test pattern, generated in chunks of about 64 KiB.
///
/// `chunked: false` announces the length (`Content-Length`), `true` leaves it unknown
/// (`Transfer-Encoding: chunked`).
pub fn pattern(len: u64, chunked: bool) -> Body {
    let chunk = pattern_chunk();
    let mut remaining = len;
    generator((!chunked).then_some(len), move || {
        if remaining == 0 {
            return None;
        }
        let n = remaining.min(chunk.len() as u64);
        remaining -= n;
        // `n` fits in usize: it is at most chunk.len().
        Some(chunk.slice(..n as usize))
    })
}

/// One chunk of the test pattern starting at offset 0, a whole number of periods long.
pub fn pattern_chunk() -> Bytes {
    (0..PATTERN_CHUNK)
        .map(|i| (i % PATTERN_MODULUS) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The hex SHA-256 of the first `len` bytes of the test pattern.
pub fn pattern_sha256(len: u64) -> String {
    let chunk = pattern_chunk();
    let mut hasher = Sha256::new();
    let mut remaining = len;
    while remaining > 0 {
        let n = remaining.min(chunk.len() as u64);
        hasher.update(&chunk[..n as usize]);
        remaining -= n;
    }
    crate::hex(&hasher.finalize())
}

// === impl Generated ===

/// The body behind [`generator`].
struct Generated<F> {
    next: F,
    exact: Option<u64>,
    done: bool,
}

impl<F> http_body::Body for Generated<F>
where
    F: FnMut() -> Option<Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match (this.next)() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.exact == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_hash_matches_python_reference() {
        // python3 -c "import hashlib; print(hashlib.sha256(bytes(i%251 for i in range(1000000))).hexdigest())"
        assert_eq!(
            pattern_sha256(1_000_000),
            "2c030d49ec131bfbbb446ad21e7a2f12cdb4f2f4f3fda3ac709dd2e68a4646c7"
        );
    }
}
