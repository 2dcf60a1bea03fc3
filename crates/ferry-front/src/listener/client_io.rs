//! What hyper reads and writes a client through for one round (see [`super::connection`]):
//! the socket, the bytes already read but not yet parsed, `send_timeout`, and the point where
//! the connection goes idle and is handed back.
//!
//! **Handing back.** hyper keeps a connection's read and write buffers (8 KiB each) for as long
//! as it serves it, idle or not. So that an idle kept-alive connection holds no buffer, the round
//! ends at an idle point: hyper is reading a request head (its head timer, made by
//! [`HeadTimer`], is running), the socket has no bytes for it, every response it was given has
//! been handed over (hyper has dropped its body) and flushed to the socket, none asked to switch
//! protocols, and that has lasted a moment (the linger, at most [`LINGER`]: a busy connection
//! whose next request follows at once stays with hyper, at no cost per request). hyper is then
//! told the client closed (a read of 0 bytes). With nothing of the next head read, it takes that
//! as a clean end and "shuts down" the socket, which is not passed on; with part of a head read
//! (a head arriving in pieces), it ends with an incomplete-message error and keeps the part in
//! its read buffer. Either way the connection loop takes the socket back with the bytes hyper
//! read past its last request and waits on it with no buffer. A request body still coming is
//! never cut this way (hyper reads no head meanwhile), nor is a response hyper has not written
//! out: never a desynchronised stream.
//!
//! **`send_timeout`.** A write the client does not accept (the socket is full) starts a timer;
//! any progress stops it. If it fires, the write fails with [`SendTimedOut`] and hyper closes the
//! connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::rt::{Sleep as HyperSleep, Timer};
use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::stream::Stream;
use crate::body::{Body, BoxError};

/// How long a connection stays with hyper, idle, before it is handed back.
pub(super) const LINGER: Duration = Duration::from_millis(20);

/// What the connection's service tells its I/O: responses hyper still holds, requests started
/// in the current round, and whether one asked to switch protocols.
#[derive(Debug, Default)]
pub(super) struct Requests {
    /// Responses whose body hyper has not dropped yet.
    in_flight: AtomicUsize,
    /// Requests that reached the service in the current round.
    started: AtomicUsize,
    /// A request asked to switch protocols (an upgrade): the socket is hyper's to the end.
    upgrade: AtomicBool,
    /// hyper's task, when it waited for bytes while a response was in flight.
    reader: AtomicWaker,
    /// hyper's head timers alive: hyper is reading a request head (see [`HeadTimer`]).
    heads: AtomicUsize,
}

/// hyper's timer for a round, which tells [`Requests`] when hyper reads a request head: hyper
/// uses its timer only for the head timeout (`header_read_timeout`), from the start of each
/// head to its end, so a sleep of this timer is alive exactly while a head is being read.
pub(super) struct HeadTimer {
    requests: Arc<Requests>,
}

/// A sleep of [`HeadTimer`]: counted in [`Requests::heads`] while it lives.
struct HeadSleep {
    inner: Pin<Box<dyn HyperSleep>>,
    requests: Arc<Requests>,
}

/// A response body that tells [`Requests`] when hyper is done with it.
pub(super) struct Tracked {
    body: Body,
    requests: Arc<Requests>,
}

/// The socket as hyper sees it during one round.
pub(super) struct ClientIo {
    stream: Stream,
    /// Read before this round and not parsed yet (a pipelined request), given to hyper first.
    unread: Bytes,
    requests: Arc<Requests>,
    /// Keep-alive is on: the round may end at an idle point.
    keep: bool,
    /// The round ended at an idle point: reads are ends, and the shutdown is not passed on.
    released: bool,
    /// How long an idle point must last before the round ends.
    linger: Duration,
    /// Wakes hyper's task when an idle point may have lasted the linger. Reset only once it
    /// has fired (at most once a linger), not at each idle point: a busy connection reaches
    /// one after every response, and a timer reset costs more than a clock read.
    linger_timer: Option<Pin<Box<Sleep>>>,
    /// When the present idle point began.
    idle_since: Option<Instant>,
    send_timeout: Option<Duration>,
    /// Armed while a write waits for the client.
    send_timer: Option<Pin<Box<Sleep>>>,
    stalled: bool,
    /// Everything hyper wrote has been flushed: hyper flushes its socket only once its own
    /// write buffer is empty, so nothing of a response waits in hyper.
    flushed: bool,
}

/// A write the client did not accept within `send_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the client accepted nothing for send_timeout ({0:?})")]
pub(super) struct SendTimedOut(pub(super) Duration);

// === impl Requests ===

impl Requests {
    /// A request reached the service (`upgrade`: it asks to switch protocols).
    pub(super) fn start(&self, upgrade: bool) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        if upgrade {
            self.upgrade.store(true, Ordering::Relaxed);
        }
    }

    /// A new round begins: no request started in it yet.
    pub(super) fn new_round(&self) {
        self.started.store(0, Ordering::Relaxed);
    }

    /// How many requests reached the service in this round.
    pub(super) fn started(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// How many responses hyper still holds.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// hyper dropped a response's body; when it was the last, wake hyper's task so that it asks
    /// for the next request (and finds the idle point).
    fn finish(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.reader.wake();
        }
    }

    /// hyper reads a request head, every response of the round has been handed over, at least
    /// one request was served, and none switched protocols.
    fn idle(&self) -> bool {
        self.heads.load(Ordering::Relaxed) > 0
            && self.in_flight() == 0
            && self.started() > 0
            && !self.upgrade.load(Ordering::Relaxed)
    }
}

// === impl HeadTimer ===

impl HeadTimer {
    pub(super) fn new(requests: Arc<Requests>) -> HeadTimer {
        HeadTimer { requests }
    }

    fn counted(&self, inner: Pin<Box<dyn HyperSleep>>) -> Pin<Box<dyn HyperSleep>> {
        self.requests.heads.fetch_add(1, Ordering::Relaxed);
        Box::pin(HeadSleep {
            inner,
            requests: Arc::clone(&self.requests),
        })
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn HyperSleep>> {
        self.counted(TokioTimer::new().sleep(duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn HyperSleep>> {
        self.counted(TokioTimer::new().sleep_until(deadline))
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl HyperSleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        self.requests.heads.fetch_sub(1, Ordering::Relaxed);
    }
}

// === impl Tracked ===

impl Tracked {
    pub(super) fn new(body: Body, requests: Arc<Requests>) -> Tracked {
        Tracked { body, requests }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.requests.finish();
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

// === impl ClientIo ===

impl ClientIo {
    /// hyper's view of `stream` for a round: `unread` first; `keep`: keep-alive is on, and the
    /// round ends once an idle point has lasted `linger`.
    pub(super) fn new(
        stream: Stream,
        unread: Bytes,
        requests: Arc<Requests>,
        (keep, linger): (bool, Duration),
        send_timeout: Option<Duration>,
    ) -> ClientIo {
        ClientIo {
            stream,
            unread,
            requests,
            keep,
            released: false,
            linger,
            linger_timer: None,
            idle_since: None,
            send_timeout,
            send_timer: None,
            stalled: false,
            flushed: true,
        }
    }

    /// The socket, when the round ended at an idle point, with what hyper read past its last
    /// request (`read_buf`) and anything it never asked for.
    pub(super) fn into_kept(self, read_buf: Bytes) -> Result<(Stream, Bytes), Stream> {
        if !self.released {
            return Err(self.stream);
        }
        // Copied out: `read_buf` shares hyper's whole read buffer (8 KiB), even when empty.
        let unread = match (read_buf.is_empty(), self.unread.is_empty()) {
            (true, true) => Bytes::new(),
            (false, true) => Bytes::copy_from_slice(&read_buf),
            (true, false) => self.unread,
            (false, false) => [read_buf, self.unread].concat().into(),
        };
        Ok((self.stream, unread))
    }

    /// The socket, to answer on after hyper gave up (408).
    pub(super) fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The socket, to close.
    pub(super) fn into_stream(self) -> Stream {
        self.stream
    }

    /// Nothing hyper wrote waits to be flushed.
    pub(super) fn flushed(&self) -> bool {
        self.flushed
    }

    /// The round ended at an idle point (hyper was told the client closed).
    pub(super) fn released(&self) -> bool {
        self.released
    }

    /// Whether the idle point has lasted the linger; if not, the task is woken by then.
    fn lingered(&mut self, cx: &mut Context<'_>) -> bool {
        if self.linger.is_zero() {
            return true;
        }
        let now = Instant::now();
        let deadline = *self.idle_since.get_or_insert(now) + self.linger;
        if now >= deadline {
            return true;
        }
        let timer = self
            .linger_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        // A timer from an earlier idle point fires before `deadline`, and is reset then.
        if timer.deadline() <= now {
            timer.as_mut().reset(deadline);
        }
        // Pending (its deadline is ahead): the task is woken at it.
        let _ = timer.as_mut().poll(cx);
        false
    }

    /// Starts or checks the send timer after a write the client did not accept; `Err` once it
    /// has run out.
    fn stall(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let Some(limit) = self.send_timeout else {
            return Ok(());
        };
        let timer = match &mut self.send_timer {
            Some(timer) if self.stalled => timer,
            Some(timer) => {
                timer.as_mut().reset(Instant::now() + limit);
                timer
            }
            None => self
                .send_timer
                .insert(Box::pin(tokio::time::sleep_until(Instant::now() + limit))),
        };
        self.stalled = true;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::TimedOut, SendTimedOut(limit))),
            Poll::Pending => Ok(()),
        }
    }

    /// Notes a write that took bytes: they are flushed once hyper flushes the socket.
    fn wrote(&mut self, polled: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = polled {
            if *n > 0 {
                self.flushed = false;
            }
        }
    }

    /// A write's outcome, with `send_timeout` applied.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => match self.stall(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.stalled = false;
                ready
            }
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.released {
            return Poll::Ready(Ok(()));
        }
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread[..n]);
            this.unread.advance(n);
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending if this.keep && this.flushed && this.requests.idle() => {
                if this.lingered(cx) {
                    this.released = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            Poll::Pending => {
                this.idle_since = None;
                this.requests.reader.register(cx.waker());
                Poll::Pending
            }
            ready => {
                this.idle_since = None;
                ready
            }
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(&polled);
        this.watch(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(&polled);
        this.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            if !this.flushed {
                // hyper may have looked for the idle point before this flush: look again.
                this.requests.reader.wake();
            }
            this.flushed = true;
        }
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.released {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Whether `error` (hyper's, or anything in its sources) is a [`SendTimedOut`].
pub(super) fn is_send_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<SendTimedOut>()) {
                return true;
            }
        }
        source = e.source();
    }
    false
}
