//! The request body's rules (issue 16, request side): how it is read
//! (`crate::site::BodySettings`), its limit (`client_max_body_size`: [`BodyLimit`]), the wait
//! allowed between two reads (`client_body_timeout`), and the client's errors ([`BodyError`])
//! with the answer each gets.
//!
//! A body that announces its length was checked against the limit by the router (413 before
//! anything is read); a body of unannounced length (chunked) carries a [`BodyLimit`] in the
//! request's extensions, enforced while it is read. With buffering on, the body is read whole
//! before a process is chosen ([`super::buffer`]); with it off, it streams to the app through a
//! [`StreamedBody`], which applies the same limit and timeout and, when one is broken, fails
//! with a [`BodyError`] so that the app's connection is reset (the app sees a cut body, never a
//! complete short one) and the client gets its answer: 413, 408, or 400.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;
use crate::error::Error;

/// The most a request body of unannounced length (chunked) may carry: put in the request's
/// extensions by the router (`client_max_body_size`; a `Content-Length` is checked there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) u64);

/// Why a request body could not be read: the client's doing, except [`BodyError::Spill`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Longer than `client_max_body_size`.
    #[error("the request body is larger than client_max_body_size ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Nothing arrived for `client_body_timeout`.
    #[error("the client sent nothing for {limit:?} while sending the request body")]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The client's connection failed or its body is malformed (a bad chunk, a body shorter
    /// than its `Content-Length` followed by a close).
    #[error("the request body did not arrive whole")]
    Client(#[source] hyper::Error),
    /// The part beyond the memory buffer could not be written to, or read back from, its temp
    /// file.
    #[error("the request body's temp file failed")]
    Spill(#[source] std::io::Error),
}

/// A request body streamed to the app as it arrives (buffering off), under the request's limit
/// and the wait allowed between two reads. The wait is counted only while the body is asked
/// for: an app slow to take the body does not make its client time out.
pub(crate) struct StreamedBody {
    inner: Incoming,
    limit: Option<u64>,
    received: u64,
    timeout: Option<Duration>,
    /// Armed when a wait for the client begins (created at the first one).
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether the last poll found nothing: the current wait has begun.
    waiting: bool,
}

// === impl BodyError ===

impl BodyError {
    /// The error the client's answer is made from.
    pub(crate) fn into_error(self) -> Error {
        match self {
            BodyError::TooLarge { limit } => Error::BodyTooLarge { limit },
            BodyError::Timeout { limit } => Error::ClientBodyTimeout { limit },
            BodyError::Client(source) => Error::ClientBody {
                source: Box::new(source),
            },
            BodyError::Spill(source) => Error::BodyBuffer { source },
        }
    }
}

/// The client's error in `source`'s chain, if a [`BodyError`] is there (a body streamed to the
/// app failed); else `source` back, an error of the app's side.
pub(crate) fn classify(source: BoxError) -> Result<Error, BoxError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*source);
    while let Some(e) = cause {
        // An `io::Error`'s own `source` skips the error it wraps.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if let Some(body) = inner.unwrap_or(e).downcast_ref::<BodyError>() {
            return Ok(match body {
                BodyError::TooLarge { limit } => Error::BodyTooLarge { limit: *limit },
                BodyError::Timeout { limit } => Error::ClientBodyTimeout { limit: *limit },
                BodyError::Client(_) => Error::ClientBody { source },
                BodyError::Spill(e) => Error::BodyBuffer {
                    source: std::io::Error::new(e.kind(), e.to_string()),
                },
            });
        }
        cause = e.source();
    }
    Err(source)
}

/// Whether `error` is the client's, from reading its body: answered with its status and the
/// connection closed (what is left of the body is not read).
pub(crate) fn is_client_body(error: &Error) -> bool {
    matches!(
        error,
        Error::BodyTooLarge { .. } | Error::ClientBodyTimeout { .. } | Error::ClientBody { .. }
    )
}

impl From<hyper::Error> for BodyError {
    fn from(e: hyper::Error) -> Self {
        BodyError::Client(e)
    }
}

impl From<std::convert::Infallible> for BodyError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

// === impl StreamedBody ===

impl StreamedBody {
    /// `body` under `limit` (`None`: none) and `timeout` between two reads (`None`: none).
    pub(crate) fn new(body: Incoming, limit: Option<u64>, timeout: Option<Duration>) -> Self {
        StreamedBody {
            inner: body,
            limit,
            received: 0,
            timeout,
            deadline: None,
            waiting: false,
        }
    }

    /// A frame arrived: counted against the limit; the next poll starts a new wait.
    fn arrived(&mut self, frame: &Frame<Bytes>) -> Result<(), BodyError> {
        self.waiting = false;
        let len = frame.data_ref().map_or(0, Bytes::len) as u64;
        self.received += len;
        match self.limit {
            Some(limit) if self.received > limit => Err(BodyError::TooLarge { limit }),
            _ => Ok(()),
        }
    }

    /// Nothing arrived: whether the wait has now lasted `timeout`.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> Option<BodyError> {
        let limit = self.timeout?;
        let starts = !self.waiting;
        self.waiting = true;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if starts {
            deadline.as_mut().reset(Instant::now() + limit);
        }
        deadline
            .as_mut()
            .poll(cx)
            .is_ready()
            .then_some(BodyError::Timeout { limit })
    }
}

impl http_body::Body for StreamedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(match this.arrived(&frame) {
                Ok(()) => Ok(frame),
                Err(e) => Err(e.into()),
            })),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Client(e).into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timed_out(cx) {
                Some(e) => Poll::Ready(Some(Err(e.into()))),
                None => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_in_a_chain_become_the_clients_answer() {
        let wrapped: BoxError = Box::new(std::io::Error::other(BodyError::Timeout {
            limit: Duration::from_secs(1),
        }));
        let error = classify(wrapped).expect("a body error");
        assert_eq!(error.status(), http::StatusCode::REQUEST_TIMEOUT);
        assert!(is_client_body(&error));
        let too_large: BoxError = Box::new(BodyError::TooLarge { limit: 10 });
        assert_eq!(
            classify(too_large).unwrap().status(),
            http::StatusCode::PAYLOAD_TOO_LARGE
        );
        let app: BoxError = Box::new(std::io::Error::other("broken pipe"));
        assert!(classify(app).is_err(), "an error of the app's side");
    }
}
