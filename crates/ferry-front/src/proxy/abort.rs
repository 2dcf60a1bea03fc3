//! Client aborts with `passenger_ignore_client_abort on` (issue 16 item 7): the request runs to
//! its end.
//!
//! When a client goes away before its response is complete, hyper drops the request's future,
//! then its response body. Off (the default), that is the end of it: the app's connection is
//! closed at once (a request body that was still streaming resets it, `session::Writer`),
//! the session ends, and the app's next write fails. On, as in Passenger, the app's work is not
//! cut short and its process stays busy until the app is done:
//!
//! * [`send_detached`] sends the request and makes the response on a task of its own, which a
//!   client's going away does not stop; if nobody waits for the response any more, the task
//!   reads its body to the end and drops it;
//! * [`keep_reading`] wraps the response's body: dropped before its end, the rest is read on a
//!   task and dropped, so the app finishes writing (no EPIPE), and the connection goes back to
//!   the process, or closes, as after any complete response.
//!
//! Only sites with the setting pay for it: one task per try, one more if the client leaves.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use ferry_pool::Session;
use http::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::body::{Body, BoxError};
use crate::connection::AppConnection;
use crate::error::Error;
use crate::listener::ClientInfo;
use crate::site::Site;

use super::pending::Pending;
use super::send::{self, Sent};
use super::{respond, Tried};

/// `send_request` then `forward_response` on a task of their own, so that the client going
/// away does not stop them; `pending` comes back for another try.
pub(super) async fn send_detached(
    site: &Arc<Site>,
    pending: Pending,
    client: ClientInfo,
    session: Session<AppConnection>,
    span: tracing::Span,
) -> Result<(Pending, Tried), Error> {
    let (answer, answered) = oneshot::channel();
    let site = Arc::clone(site);
    tokio::spawn(async move {
        let mut pending = pending;
        let sent = send::send_request(&site, &mut pending, client, session)
            .instrument(span.clone())
            .await;
        let tried = match sent {
            Ok(Sent::Answered(app_answer)) => {
                let upgrade = pending.upgrade.take();
                let response = span
                    .in_scope(|| respond::forward_response(&site, app_answer, upgrade, client.tls));
                Ok(Tried::Answered(response))
            }
            Ok(Sent::Again(error)) => Ok(Tried::Again(error)),
            Err(error) => Err(error),
        };
        if let Err(Ok((_, Tried::Answered(response)))) = answer.send(tried.map(|t| (pending, t))) {
            tracing::debug!("client went away; reading the app's response to its end");
            drain(response.into_body()).await;
        }
    });
    answered.await.unwrap_or_else(|_| {
        Err(Error::Upstream {
            endpoint: "(unknown)".into(),
            source: "the request's task ended without an answer".into(),
        })
    })
}

/// `response` with a body that, dropped before its end (the client went away), is read to its
/// end on a task of its own.
pub(super) fn keep_reading(response: Response<Body>) -> Response<Body> {
    response.map(|inner| KeepReading { inner: Some(inner) }.boxed())
}

/// Reads `body` to its end, dropping what it carries.
async fn drain(mut body: Body) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            break;
        }
    }
}

/// A response body read to its end even when the client leaves first.
struct KeepReading {
    /// `None` once it has ended (or failed).
    inner: Option<Body>,
}

impl http_body::Body for KeepReading {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.inner = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl Drop for KeepReading {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take().filter(|inner| !inner.is_end_stream()) else {
            return;
        };
        // No runtime (Ferry is shutting down): the connection closes with the body.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            tracing::debug!("client went away; reading the app's response to its end");
            runtime.spawn(drain(inner));
        }
    }
}
