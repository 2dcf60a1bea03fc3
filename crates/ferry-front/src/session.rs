//! The `session` protocol client: how Ferry talks to Ruby and Python loaders (loaders/PROTOCOL.md
//! §2, reference §3).
//!
//! A request goes out as a length-prefixed frame of `KEY\0VALUE\0` CGI variables followed by the
//! body (chunked when its length is unknown), with a write half-close at its end; a body that
//! fails on its way (its client left, timed out or passed its limit) resets the connection
//! instead, so the app never takes a cut body for a whole one. The response
//! comes back as an HTTP/1.x head and a body that is re-framed for the client as it streams. A
//! connection that carried no request body and got a length-delimited response goes back to the
//! process's idle list for the next request.
//!
//! What the bytes mean is [`ferry_protocol`]'s ([`ferry_protocol::session`] builds the frame,
//! [`ferry_protocol::response_head`] parses the head, [`ferry_protocol::response_body`] takes the
//! body off the buffer); this module does the connecting, writing and reading.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use ferry_protocol::response_body::{self, Piece};
use ferry_protocol::response_head::{self, Framing, Head, HeadError};
use ferry_protocol::Endpoint;
use http::request;
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

pub(crate) use ferry_protocol::session::{
    frame, is_upgrade_request, split_base, under_base, FrameContext, RequestBody,
};

/// How much is read from the app at a time.
const READ_SIZE: usize = 32 * 1024;

/// A connection to an app process's socket.
#[derive(Debug)]
pub(crate) enum AppStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AppStream {
    /// Connects to `endpoint`. A unix socket must be served by `peer_uid` when given (the
    /// app's user): its path lies where the app's user can write, and a path swapped for another
    /// service's socket (`/run/docker.sock`, ...) must never receive a client's request.
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        peer_uid: Option<u32>,
    ) -> io::Result<AppStream> {
        Ok(match endpoint {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                AppStream::Tcp(stream)
            }
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await?;
                if let Some(expected) = peer_uid {
                    let served_by = stream.peer_cred()?.uid();
                    if served_by != expected {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "{} is served by uid {served_by}, not by the app's user (uid \
                                 {expected})",
                                path.display()
                            ),
                        ));
                    }
                }
                AppStream::Unix(stream)
            }
        })
    }
}

// Issue 16, request side:
impl AppStream {
    /// A second handle on the connection's socket, with which the task writing the request body
    /// can reset it ([`Resetter::reset`]) whatever holds the other half.
    fn resetter(&self) -> io::Result<Resetter> {
        use std::os::fd::AsFd;
        Ok(match self {
            AppStream::Tcp(s) => Resetter::Tcp(s.as_fd().try_clone_to_owned()?.into()),
            AppStream::Unix(s) => Resetter::Unix(s.as_fd().try_clone_to_owned()?.into()),
        })
    }
}

/// A duplicate of an app connection's socket, kept to reset the connection.
#[derive(Debug)]
enum Resetter {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Resetter {
    /// Shuts the connection down both ways at once, so the app sees its request end early (an
    /// end of input, or a read error, in the middle of the body), never a complete body; and
    /// its writes fail.
    fn reset(&self) {
        let shut = match self {
            Resetter::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Resetter::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
        if let Err(e) = shut {
            tracing::debug!(error = %e, "could not reset an app connection");
        }
    }
}

impl AsyncRead for AppStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AppStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            AppStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AppStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AppStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            AppStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            AppStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            AppStream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AppStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            AppStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            AppStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            AppStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// How `body` goes out after the frame of the request it came with.
pub(crate) fn request_body(parts: &request::Parts, body: &Incoming) -> RequestBody {
    RequestBody::from_hints(parts, body.is_end_stream(), body.size_hint().exact())
}

/// Why a `session` exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// Writing the frame failed: the request did not reach the app.
    #[error("could not send the request")]
    Send(#[source] io::Error),
    /// The app closed or failed before the response head was complete.
    #[error("incomplete response received from application")]
    Incomplete {
        /// Whether any response byte arrived (a request with none may be sent again).
        got_bytes: bool,
        #[source]
        source: Option<io::Error>,
    },
    /// The response head could not be parsed.
    #[error(transparent)]
    BadHead(#[from] HeadError),
    // Issue 16, request side:
    /// The request body, streaming from the client, failed before the response head came: the
    /// connection was reset.
    #[error("the request body could not be read from the client")]
    Body(#[source] crate::body::BoxError),
}

/// Reads a response from the app: either the whole connection (no request body) or its read
/// half (a body is being written by another task).
#[derive(Debug)]
pub(crate) enum Reader {
    Whole(AppStream),
    Half(HalfReader),
}

/// The read half of a connection whose other half writes the request body on a task of its
/// own ([`Writer::write_body`]). While it lives the body is written; dropped (the response is over, or
/// the client went away), the writer stops, so the connection closes without the half-close
/// that would tell the app its body ended.
#[derive(Debug)]
pub(crate) struct HalfReader {
    read: ReadHalf<AppStream>,
    /// The writer's report of a request body that failed (the connection is reset by then).
    /// `None` once the writer has finished.
    body_failed: Option<oneshot::Receiver<crate::body::BoxError>>,
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Reader::Whole(s) => Pin::new(s).poll_read(cx, buf),
            Reader::Half(s) => Pin::new(&mut s.read).poll_read(cx, buf),
        }
    }
}

/// A response head from the app, and what was read past it.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) head: Head,
    pub(crate) reader: Reader,
    pub(crate) buffered: BytesMut,
}

/// Sends the request on `stream` and reads the response head. With a body, the body is streamed
/// by a task of its own, which half-closes the connection at its end.
///
/// `body` is taken only once the frame is written: when writing the frame fails, the request can
/// still go to another connection whole.
pub(crate) async fn exchange(
    mut stream: AppStream,
    frame: Vec<u8>,
    body: &mut Option<crate::body::Body>,
    kind: RequestBody,
    head_request: bool,
) -> Result<Exchange, ExchangeError> {
    let reader = match kind {
        RequestBody::None => {
            stream
                .write_all(&frame)
                .await
                .map_err(ExchangeError::Send)?;
            Reader::Whole(stream)
        }
        RequestBody::Length(_) | RequestBody::Chunked => {
            let resetter = stream.resetter();
            let (read, mut write) = tokio::io::split(stream);
            write.write_all(&frame).await.map_err(ExchangeError::Send)?;
            let body = body.take().unwrap_or_else(crate::body::empty);
            let (failed, body_failed) = oneshot::channel();
            let writer = Writer {
                write,
                resetter: resetter.ok(),
                chunked: kind == RequestBody::Chunked,
                failed,
            };
            tokio::spawn(writer.write_body(body));
            Reader::Half(HalfReader {
                read,
                body_failed: Some(body_failed),
            })
        }
    };
    read_head(reader, head_request).await
}

/// Reads the response head off `reader`; a request body that fails meanwhile resets the
/// connection and ends the exchange with [`ExchangeError::Body`].
async fn read_head(mut reader: Reader, head_request: bool) -> Result<Exchange, ExchangeError> {
    let mut buffered = BytesMut::with_capacity(READ_SIZE);
    loop {
        if let Some(head) = response_head::parse(&buffered, head_request)? {
            buffered.advance(head.len);
            if head.status.is_informational() && !head.upgrade {
                // `100 Continue`, `103 Early Hints`: the final response follows.
                continue;
            }
            return Ok(Exchange {
                head,
                reader,
                buffered,
            });
        }
        buffered.reserve(READ_SIZE);
        let got_bytes = !buffered.is_empty();
        let read = match read_or_fail(&mut reader, &mut buffered).await {
            Ok(read) => read,
            Err(failure) => return Err(ExchangeError::Body(failure)),
        };
        match read {
            Ok(0) => {
                return Err(ExchangeError::Incomplete {
                    got_bytes,
                    source: None,
                })
            }
            Ok(_) => {}
            Err(e) => {
                return Err(ExchangeError::Incomplete {
                    got_bytes,
                    source: Some(e),
                })
            }
        }
    }
}

/// One read into `buffered`, or the writer's report that the request body failed first.
async fn read_or_fail(
    reader: &mut Reader,
    buffered: &mut BytesMut,
) -> Result<io::Result<usize>, crate::body::BoxError> {
    let Reader::Half(half) = reader else {
        return Ok(tokio::io::AsyncReadExt::read_buf(reader, buffered).await);
    };
    let Some(body_failed) = half.body_failed.as_mut() else {
        return Ok(tokio::io::AsyncReadExt::read_buf(&mut half.read, buffered).await);
    };
    tokio::select! {
        read = tokio::io::AsyncReadExt::read_buf(&mut half.read, buffered) => Ok(read),
        failed = body_failed => match failed {
            Ok(failure) => Err(failure),
            // The writer finished (the body is sent): wait for the head alone.
            Err(_) => {
                half.body_failed = None;
                Ok(tokio::io::AsyncReadExt::read_buf(&mut half.read, buffered).await)
            }
        },
    }
}

/// The task that writes a request body to the app, with what it needs to end it.
struct Writer {
    write: WriteHalf<AppStream>,
    /// `None` if the socket could not be duplicated (out of descriptors): a failed body then
    /// only closes the writer's half, without the half-close that would end the body.
    resetter: Option<Resetter>,
    chunked: bool,
    /// To the reader: the body failed.
    failed: oneshot::Sender<crate::body::BoxError>,
}

impl Writer {
    /// Writes the body, then half-closes the connection: the end of the body for the app. A
    /// body that fails (the client's error) resets the connection instead, never a half-close,
    /// which would read as a complete body, and is reported to the reader. The writer stops at
    /// once when the reader is dropped (the client went away, or the response is over).
    async fn write_body(mut self, body: crate::body::Body) {
        let sent = tokio::select! {
            sent = send_body(&mut self.write, body, self.chunked) => sent,
            () = self.failed.closed() => return,
        };
        match sent {
            Ok(()) => {
                let _ = self.write.shutdown().await;
            }
            Err(SendBodyError::Body(error)) => {
                tracing::debug!(%error, "request body failed; resetting the app's connection");
                if let Some(resetter) = &self.resetter {
                    resetter.reset();
                }
                // Unreported when the head is already in: the reset ends the response too.
                let _ = self.failed.send(error);
            }
            // The app stopped reading the body (it answered early, or failed): its response, or
            // the end of the connection, tells the rest.
            Err(SendBodyError::Write(e)) => {
                tracing::debug!(error = %e, "request body not sent in full");
            }
        }
    }
}

/// Why sending a request body stopped.
enum SendBodyError {
    /// The body itself failed (the client's error).
    Body(crate::body::BoxError),
    /// Writing to the app failed.
    Write(io::Error),
}

async fn send_body<W: AsyncWrite + Unpin>(
    write: &mut W,
    mut body: crate::body::Body,
    chunked: bool,
) -> Result<(), SendBodyError> {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame.map_err(SendBodyError::Body)?.into_data() else {
            continue; // trailers are not forwarded
        };
        if data.is_empty() {
            continue;
        }
        write_piece(write, &data, chunked)
            .await
            .map_err(SendBodyError::Write)?;
    }
    if chunked {
        write
            .write_all(b"0\r\n\r\n")
            .await
            .map_err(SendBodyError::Write)?;
    }
    Ok(())
}

/// One piece of the body, in chunked framing when the body's length is unknown.
async fn write_piece<W: AsyncWrite + Unpin>(
    write: &mut W,
    data: &[u8],
    chunked: bool,
) -> io::Result<()> {
    if chunked {
        let size = format!("{:x}\r\n", data.len());
        write.write_all(size.as_bytes()).await?;
        write.write_all(data).await?;
        write.write_all(b"\r\n").await
    } else {
        write.write_all(data).await
    }
}

/// Sends an out-of-band-work request on a fresh connection and waits (bounded) until the process
/// says it is done or closes.
pub(crate) async fn out_of_band_work(
    endpoint: &Endpoint,
    peer_uid: Option<u32>,
    connect_password: &str,
) -> io::Result<()> {
    let mut stream = AppStream::connect(endpoint, peer_uid).await?;
    let frame = ferry_protocol::session::oobw_frame(connect_password);
    stream.write_all(&frame).await?;
    let mut sink = Vec::new();
    let wait = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink);
    match tokio::time::timeout(std::time::Duration::from_secs(60), wait).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in 60 s")),
    }
}

/// Reads the response body after the head off the connection, as the head's framing says.
#[derive(Debug)]
pub(crate) struct BodyDecoder(response_body::Decoder);

/// One step of reading the body.
#[derive(Debug)]
pub(crate) enum BodyRead {
    Data(Bytes),
    /// The body is complete; `reusable`: the connection is at a request boundary.
    End {
        reusable: bool,
    },
}

// === impl BodyDecoder ===

impl BodyDecoder {
    pub(crate) fn new(framing: Framing) -> BodyDecoder {
        BodyDecoder(response_body::Decoder::new(framing))
    }

    /// Reads the next piece of body from `buffered`, then from `reader`.
    pub(crate) fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        buffered: &mut BytesMut,
    ) -> Poll<io::Result<BodyRead>> {
        loop {
            match self.0.next(buffered).map_err(io::Error::other)? {
                Piece::Data(data) => return Poll::Ready(Ok(BodyRead::Data(data))),
                Piece::End { reusable } => return Poll::Ready(Ok(BodyRead::End { reusable })),
                Piece::NeedMore => {}
            }
            buffered.reserve(READ_SIZE);
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut *reader),
                cx,
                buffered
            ))?;
            if n == 0 {
                return Poll::Ready(match self.0.at_eof() {
                    Ok(()) => Ok(BodyRead::End { reusable: false }),
                    Err(cut) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, cut)),
                });
            }
        }
    }

    /// Whether the whole body is already in `buffered` (small responses).
    pub(crate) fn complete_in(&self, buffered: &BytesMut) -> bool {
        self.0.complete_in(buffered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn interim_responses_are_skipped() {
        let (ferry, mut app) = UnixStream::pair().unwrap();
        let answer = tokio::spawn(async move {
            let mut frame = [0u8; 64];
            let _ = tokio::io::AsyncReadExt::read(&mut app, &mut frame)
                .await
                .unwrap();
            app.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            )
            .await
            .unwrap();
            app.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            app
        });
        let mut body = None;
        let exchange = exchange(
            AppStream::Unix(ferry),
            b"frame".to_vec(),
            &mut body,
            RequestBody::None,
            false,
        )
        .await
        .unwrap();
        assert_eq!(exchange.head.status, 200);
        assert_eq!(&exchange.buffered[..], b"ok");
        drop(answer.await.unwrap());
    }

    #[tokio::test]
    async fn bodies_are_decoded_across_reads() {
        let (mut app, ferry) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for piece in ["5\r\nhel", "lo\r\n3\r", "\nabc\r\n0\r\n\r\n"] {
                app.write_all(piece.as_bytes()).await.unwrap();
            }
            app
        });
        let mut reader = ferry;
        let mut decoder = BodyDecoder::new(Framing::Chunked);
        let mut buffered = BytesMut::new();
        let mut out = Vec::new();
        loop {
            match std::future::poll_fn(|cx| decoder.poll_read(cx, &mut reader, &mut buffered))
                .await
                .unwrap()
            {
                BodyRead::Data(d) => out.extend_from_slice(&d),
                BodyRead::End { reusable } => {
                    assert!(reusable);
                    break;
                }
            }
        }
        assert_eq!(out, b"helloabc");
        drop(writer.await.unwrap());
    }
}
