//! forward_response: the client's response from the app's answer. The app's body (`HttpBody`,
//! `SessionBody`) holds the session; it is read as fast as the app writes it and relayed to the
//! client through a buffer ([`super::buffering`]), so that at its clean end, when the app has
//! written it all, the connection goes back to the process's idle list and the session is
//! released, however far the client has got (if the client goes away first, the session is
//! released and the connection closed). A 101 to an upgrade request is relayed instead
//! ([`super::upgrade`]); a response asking for out-of-band work starts it once it has ended
//! ([`super::oob`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use ferry_pool::Session;
use ferry_protocol::response_head::Framing;
use http::{Response, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;

use crate::access_log::ServedBy;
use crate::body::{Body, BoxError};
use crate::connection::{AppConnection, Conn};
use crate::headers;
use crate::session::{self, BodyDecoder, BodyRead, Reader, RequestBody};
use crate::site::Site;

use super::send::Answer;
use super::{buffering, oob, upgrade};

/// The client's response to `answer`; `upgrade` is the client's side of an upgrade it asked
/// for. The response says which process served it (for the access log) and, with sticky
/// sessions, carries the cookie that brings the client back to that process.
#[tracing::instrument(level = "trace", skip_all)]
pub(super) fn forward_response(
    site: &Site,
    answer: Answer,
    upgrade: Option<OnUpgrade>,
    tls: bool,
) -> Response<Body> {
    let served_by = ServedBy {
        app: Arc::clone(&site.app_name),
        pid: answer.session().pid(),
    };
    let sticky_id = answer.session().sticky_id();
    let mut response = match answer {
        Answer::Http {
            response,
            session,
            conn,
        } => http_response(site, response, session, conn, upgrade),
        Answer::Session {
            exchange,
            session,
            sent,
        } => session_response(site, exchange, session, sent, upgrade),
    };
    response.extensions_mut().insert(served_by);
    if let Some(cookie) = &site.sticky {
        headers::set_sticky_cookie(
            &mut response,
            cookie,
            sticky_id,
            site.base_uri.as_deref(),
            tls,
        );
    }
    response
}

// === HTTP protocol ===

/// What relaying a response of `session`'s needs: the site's buffering settings, and the
/// process to stop if the app stalls mid-body (only when `passenger_read_timeout` is set).
fn relay_settings(site: &Site, session: &Session<AppConnection>) -> buffering::Relay {
    buffering::Relay {
        whole: site.response.buffer_response,
        dir: Arc::clone(&site.response_buffer_dir),
        stall: site
            .response
            .app_read_timeout
            .map(|limit| buffering::Stall {
                limit,
                process: session.abort_handle(),
                app: Arc::clone(&site.app_name),
            }),
    }
}

/// What relaying an upgraded connection of `session`'s needs.
fn upgrade_settings(site: &Site, session: &Session<AppConnection>) -> upgrade::Idle {
    upgrade::Idle {
        limit: site.response.websocket_idle_timeout,
        app: Arc::clone(&site.app_name),
        pid: session.pid(),
    }
}

// === HTTP protocol ===

/// An HTTP app's response, its body relayed; a 101 to an upgrade request is relayed both ways.
fn http_response(
    site: &Site,
    response: Response<Incoming>,
    session: Session<AppConnection>,
    conn: AppConnection,
    upgrade: Option<OnUpgrade>,
) -> Response<Body> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_side) = upgrade {
            let idle = upgrade_settings(site, &session);
            return upgrade::relay_http(response, client_side, session, idle);
        }
    }
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    let relay = relay_settings(site, &session);
    let body = HttpBody {
        inner: body,
        lease: Some((session, conn)),
    };
    Response::from_parts(parts, buffering::relay(body, relay))
}

/// The HTTP app's response body, holding the session until it ends.
struct HttpBody {
    inner: Incoming,
    lease: Option<(Session<AppConnection>, AppConnection)>,
}

// === impl HttpBody ===

impl http_body::Body for HttpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            // hyper stops polling once `is_end_stream` is true, so the end is noticed after the
            // last frame as well as at `None`.
            Poll::Ready(None) => self.finish(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.finish(),
            // A broken body closes the connection; the session still ends.
            Poll::Ready(Some(Err(_))) => drop(self.lease.take()),
            _ => {}
        }
        polled.map_err(BoxError::from)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for HttpBody {
    fn drop(&mut self) {
        // A body that is empty from the start (HEAD, 204, 304) is never polled.
        if self.inner.is_end_stream() {
            self.finish();
        }
    }
}

impl HttpBody {
    /// The body ended cleanly: the connection can serve another request.
    fn finish(&mut self) {
        if let Some((session, mut conn)) = self.lease.take() {
            conn.idle_since = Instant::now();
            session.put_connection(conn);
        }
    }
}

// === session protocol ===

/// A `session` app's response from its head; the body is relayed from the connection, or comes
/// from memory when it arrived whole with the head. An upgrade answered is relayed both ways.
fn session_response(
    site: &Site,
    exchange: session::Exchange,
    session: Session<AppConnection>,
    sent: RequestBody,
    upgrade: Option<OnUpgrade>,
) -> Response<Body> {
    if exchange.head.upgrade {
        if let Some(client_side) = upgrade {
            let idle = upgrade_settings(site, &session);
            return upgrade::relay_session(exchange, client_side, session, idle);
        }
    }
    let session::Exchange {
        head,
        reader,
        mut buffered,
    } = exchange;
    let mut response = Response::new(crate::body::empty());
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    let decoder = BodyDecoder::new(head.framing);
    // A connection is reused only when nothing was half-closed and the app said it may be.
    let reusable = head.keep_alive && sent == RequestBody::None;
    if decoder.complete_in(&buffered) {
        // The whole body arrived with the head (small responses): answer from memory, no task.
        let data = match head.framing {
            Framing::Length(n) => buffered.split_to(n as usize).freeze(),
            _ => Bytes::new(),
        };
        let leftover = !buffered.is_empty();
        let lease = Lease {
            session: Some(session),
            oob: head.wants_oob_work,
        };
        lease.finish(reader, reusable && !leftover);
        *response.body_mut() = crate::body::full(data);
        return response;
    }
    let relay = relay_settings(site, &session);
    let lease = Lease {
        session: Some(session),
        oob: head.wants_oob_work,
    };
    let body = SessionBody {
        decoder,
        reader: Some(reader),
        buffered,
        reusable,
        lease: Some(lease),
    };
    *response.body_mut() = buffering::relay(body, relay);
    response
}

/// The session and what ending it involves.
struct Lease {
    session: Option<Session<AppConnection>>,
    /// The app asked for out-of-band work.
    oob: bool,
}

// === impl Lease ===

impl Lease {
    /// The response is complete: keep the connection if it can serve another request, then ask
    /// the pool for out-of-band work if the app wants it, and release the process.
    fn finish(mut self, reader: Reader, reusable: bool) {
        let Some(session) = self.session.take() else {
            return;
        };
        if let (true, Reader::Whole(stream)) = (reusable, reader) {
            session.put_connection(AppConnection::new(Conn::Session(stream)));
        }
        if self.oob {
            oob::start(session);
        }
    }
}

/// A `session` response body streaming from the app's connection.
struct SessionBody {
    decoder: BodyDecoder,
    reader: Option<Reader>,
    buffered: BytesMut,
    reusable: bool,
    lease: Option<Lease>,
}

// === impl SessionBody ===

impl http_body::Body for SessionBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let Some(reader) = this.reader.as_mut() else {
            return Poll::Ready(None);
        };
        match this.decoder.poll_read(cx, reader, &mut this.buffered) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(BodyRead::Data(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Poll::Ready(Ok(BodyRead::End { reusable })) => {
                let reader = this.reader.take();
                if let (Some(lease), Some(reader)) = (this.lease.take(), reader) {
                    let leftover = !this.buffered.is_empty();
                    lease.finish(reader, reusable && this.reusable && !leftover);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                // The connection is dropped with the body; the session ends.
                this.reader = None;
                this.lease = None;
                Poll::Ready(Some(Err(e.into())))
            }
        }
    }
}
