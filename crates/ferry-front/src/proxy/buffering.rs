//! Real-time response buffering (seed 000 §8.6.10, Passenger's "real-time disk-backed response
//! buffering"): the app's response is read as fast as the app writes it, so that a client slower
//! than the app never holds the app's process.
//!
//! ```text
//!  app body ──> pump task ──> Buffer: memory ≤ 128 KiB, then an unlinked temp file ──> channel ──> client
//!                 └─ the app's body ends: dropped at once, so its session is released and its
//!                    connection kept for the next request (HttpBody, SessionBody)
//! ```
//!
//! [`relay`] turns an app's response body into the client's. A body already whole when the
//! head is (small responses, read with their head) is answered from memory at once: no task, no
//! file. Any other gets a pump task of its own that reads the app, buffers what the client has
//! not taken yet and hands each piece to the client's connection as soon as it can take one,
//! so a streamed response (SSE, chunks with pauses) still reaches a fast client piece by piece.
//! With `passenger_buffer_response on` nothing goes to the client before the app has finished.
//!
//! Invariants: bytes reach the client in the order the app wrote them; a response keeps at
//! most [`spill::MEMORY_LIMIT`] bytes in memory (plus a piece being moved and the channel's
//! [`CHANNEL`] pieces), at most [`spill::HIGH_WATERMARK`] in all (past it the app waits);
//! when the client goes away the app's body is dropped (its connection closed, its session
//! released); `passenger_read_timeout` counts only while the pump waits on the app.

mod spill;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_pool::AbortHandle;
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::body::{Body, BoxError};
use crate::connection::AppConnection;
use crate::error::Error;

use spill::Buffer;

pub(crate) use spill::MEMORY_LIMIT;

/// Pieces handed to the client's connection ahead of the buffer: one being written, one ready.
const CHANNEL: usize = 2;

/// How a response is relayed, besides its body.
#[derive(Debug)]
pub(super) struct Relay {
    /// `passenger_buffer_response on`: nothing goes to the client before the app has finished.
    pub(super) whole: bool,
    /// Where the temp file goes.
    pub(super) dir: Arc<Path>,
    /// `passenger_read_timeout`, when set.
    pub(super) stall: Option<Stall>,
}

/// The app read timeout within a response body, and what it stops.
#[derive(Debug)]
pub(super) struct Stall {
    pub(super) limit: Duration,
    /// The process, stopped (after its backtrace) when the app is silent for `limit`.
    pub(super) process: AbortHandle<AppConnection>,
    /// The app's group name, for the log.
    pub(super) app: Arc<str>,
}

/// The client's body for the app's response body `app` (which releases its session when it is
/// dropped or ends): from memory when it is already whole, else relayed by a pump task.
pub(super) fn relay<B>(mut app: B, relay: Relay) -> Body
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static,
{
    if app.is_end_stream() {
        return crate::body::empty();
    }
    let hint = app.size_hint();
    match poll_now(&mut app) {
        Now::Whole(data) => {
            drop(app);
            crate::body::full(data)
        }
        Now::Started { data, end } => {
            let (tx, rx) = mpsc::channel(CHANNEL);
            let pump = Pump::new(app, relay, end);
            tokio::spawn(pump.run(data, tx));
            Relayed { rx, hint }.boxed()
        }
    }
}

/// What the app's body had ready at once.
enum Now {
    /// All of it.
    Whole(Bytes),
    /// Its first pieces, and its end if that came too (trailers or an error).
    Started { data: Vec<Bytes>, end: Option<End> },
}

/// How the app's body ended.
#[derive(Debug)]
enum End {
    /// Cleanly, perhaps with trailers.
    Clean(Option<HeaderMap>),
    /// Cut: the client's connection is closed after the bytes that came.
    Failed(BoxError),
}

/// The frames `app` has ready now (polled with a waker that does nothing), up to
/// [`MEMORY_LIMIT`] bytes.
fn poll_now<B>(app: &mut B) -> Now
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let mut cx = Context::from_waker(Waker::noop());
    let (mut data, mut len) = (Vec::new(), 0);
    let started = |data, end| Now::Started { data, end };
    while len < MEMORY_LIMIT {
        match Pin::new(&mut *app).poll_frame(&mut cx) {
            Poll::Pending => return started(data, None),
            Poll::Ready(None) => return Now::Whole(concat(data)),
            Poll::Ready(Some(Err(e))) => return started(data, Some(End::Failed(e))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(piece) => {
                    len += piece.len();
                    data.push(piece);
                    if app.is_end_stream() {
                        return Now::Whole(concat(data));
                    }
                }
                Err(frame) => {
                    let trailers = frame.into_trailers().ok();
                    return started(data, Some(End::Clean(trailers)));
                }
            },
        }
    }
    started(data, None)
}

fn concat(mut pieces: Vec<Bytes>) -> Bytes {
    match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
            pieces.iter().for_each(|p| all.extend_from_slice(p));
            all.freeze()
        }
    }
}

/// The client's side: the pieces the pump hands over.
struct Relayed {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
    /// The app body's size hint (every byte of it comes through here).
    hint: SizeHint,
}

// === impl Relayed ===

impl http_body::Body for Relayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// The task that reads the app's body into the buffer and the buffer into the client's channel.
struct Pump<B> {
    /// The app's body until it ends.
    app: Option<B>,
    buffer: Buffer,
    /// How the app's body ended, once it has.
    end: Option<End>,
    whole: bool,
    watch: Option<Watch>,
}

/// The app read timeout's clock: armed while the pump waits on the app.
struct Watch {
    stall: Stall,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

// === impl Pump ===

impl<B> Pump<B>
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static,
{
    fn new(app: B, relay: Relay, end: Option<End>) -> Self {
        let mut pump = Pump {
            app: Some(app),
            buffer: Buffer::new(relay.dir),
            end: None,
            whole: relay.whole,
            watch: relay.stall.map(|stall| Watch {
                timer: Box::pin(tokio::time::sleep(stall.limit)),
                stall,
                armed: false,
            }),
        };
        if let Some(end) = end {
            pump.finish(end);
        }
        pump
    }

    /// Moves the response, `first` its pieces already read, to the client's side of `tx` until
    /// the client has all of it, or is gone. (`tx` is not a field: a permit borrows it while the
    /// pump changes.)
    async fn run(mut self, first: Vec<Bytes>, tx: mpsc::Sender<Result<Frame<Bytes>, BoxError>>) {
        for piece in first {
            if let Err(e) = self.buffer.push(piece).await {
                self.finish(End::Failed(e.into()));
            }
        }
        loop {
            let (output, read) = (self.has_output(), self.wants_app());
            if let Some(watch) = &mut self.watch {
                watch.arm(read);
            }
            tokio::select! {
                biased;
                permit = tx.reserve(), if output => match permit {
                    Ok(permit) => {
                        if !self.deliver(permit).await {
                            return;
                        }
                    }
                    Err(_) => return self.client_gone(),
                },
                frame = next_frame(&mut self.app), if read => self.take(frame).await,
                () = expired(&mut self.watch), if read => self.stalled(),
                () = tx.closed(), if !output => return self.client_gone(),
            }
        }
    }

    /// Whether something can go to the client: buffered bytes (unless the whole response is
    /// awaited and still fits), or the end.
    fn has_output(&self) -> bool {
        let ended = self.app.is_none();
        let full = self.buffer.len() >= self.buffer.limit();
        ((ended || !self.whole || full) && !self.buffer.is_empty()) || (ended && self.end.is_some())
    }

    /// Whether the app is to be read: it has not ended, and the buffer has room.
    fn wants_app(&self) -> bool {
        self.app.is_some() && self.buffer.len() < self.buffer.limit()
    }

    /// Hands the next buffered piece (or, once none is left, the end) to the client's
    /// connection; `false` once the response is over.
    async fn deliver(&mut self, permit: mpsc::Permit<'_, Result<Frame<Bytes>, BoxError>>) -> bool {
        match self.buffer.pop().await {
            Ok(Some(data)) => {
                permit.send(Ok(Frame::data(data)));
                true
            }
            Ok(None) => {
                match self.end.take() {
                    Some(End::Clean(Some(trailers))) => permit.send(Ok(Frame::trailers(trailers))),
                    Some(End::Failed(e)) => permit.send(Err(e)),
                    Some(End::Clean(None)) | None => {}
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read back a buffered response; closing it");
                permit.send(Err(e.into()));
                false
            }
        }
    }

    /// Takes in what the app's body gave.
    async fn take(&mut self, frame: Option<Result<Frame<Bytes>, BoxError>>) {
        if let Some(watch) = &mut self.watch {
            watch.armed = false;
        }
        let frame = match frame {
            None => return self.finish(End::Clean(None)),
            Some(Err(e)) => return self.finish(End::Failed(e)),
            Some(Ok(frame)) => frame,
        };
        match frame.into_data() {
            Ok(data) => {
                if let Err(e) = self.buffer.push(data).await {
                    return self.finish(End::Failed(e.into()));
                }
                if self.app.as_ref().is_some_and(|app| app.is_end_stream()) {
                    self.finish(End::Clean(None));
                }
            }
            Err(frame) => self.finish(End::Clean(frame.into_trailers().ok())),
        }
    }

    /// The app's body has ended: dropping it releases the session (and keeps the connection
    /// when it ended cleanly) at once, whatever the client has taken yet.
    fn finish(&mut self, end: End) {
        self.app = None;
        self.end = Some(end);
    }

    /// The app sent nothing for `passenger_read_timeout` in the middle of the body: its process
    /// is stopped (backtrace first) and the client's connection closed after what came.
    fn stalled(&mut self) {
        let Some(watch) = self.watch.take() else {
            return;
        };
        let Stall {
            limit,
            process,
            app,
        } = watch.stall;
        tracing::warn!(
            app = %app,
            pid = process.pid(),
            "no data from the app for {limit:?} (passenger_read_timeout) in the middle of a \
             response; closing the client's connection and stopping the process (its backtrace \
             follows in its output)"
        );
        self.finish(End::Failed(Error::AppReadTimeout { limit }.into()));
        process.abort();
    }

    /// The client went away: the app's body is dropped (its connection closed, the session
    /// released).
    fn client_gone(self) {
        if self.app.is_some() {
            tracing::debug!("client went away before the response was complete");
        }
    }
}

/// The app body's next frame; never, once it has ended.
async fn next_frame<B>(app: &mut Option<B>) -> Option<Result<Frame<Bytes>, BoxError>>
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    match app {
        Some(body) => body.frame().await,
        None => std::future::pending().await,
    }
}

/// Completes when the app read timeout expires; never when it is off or not armed.
async fn expired(watch: &mut Option<Watch>) {
    match watch {
        Some(watch) if watch.armed => watch.timer.as_mut().await,
        _ => std::future::pending().await,
    }
}

// === impl Watch ===

impl Watch {
    /// Starts the clock when the pump begins waiting on the app (`reading`); stops it when it
    /// does not (the buffer is full, or the app has ended).
    fn arm(&mut self, reading: bool) {
        if !reading {
            self.armed = false;
        } else if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.stall.limit);
            self.armed = true;
        }
    }
}

#[cfg(test)]
mod tests;
