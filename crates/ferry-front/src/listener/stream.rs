//! A client's socket, TCP or unix, as one type: the connection loop waits on it for readability
//! without a buffer, and hyper reads and writes it through [`ClientIo`](super::client_io).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{recv, MsgFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// nginx's `lingering_time`: the longest a closing connection reads what its client still sends.
const LINGERING_TIME: std::time::Duration = std::time::Duration::from_secs(30);
/// nginx's `lingering_timeout`: the longest wait for more of it.
const LINGERING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An accepted client socket.
#[derive(Debug)]
pub(super) enum Stream {
    /// From a TCP listener.
    Tcp(TcpStream),
    /// From a unix socket listener.
    Unix(UnixStream),
    // Issue 19, TLS:
    /// A TCP connection after its TLS handshake. Between rounds rustls holds no plaintext (a
    /// round ends only when a read found none and the socket empty), so waiting on the TCP
    /// socket is waiting for the next request; what the idle connection keeps is rustls'
    /// connection state (see docs/tls.md for its measured size).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

// === impl Stream ===

impl Stream {
    /// Waits until the socket has something to read (bytes, or the client's end). tokio's
    /// readiness alone is not enough (a socket just accepted is reported readable): a one-byte
    /// peek confirms it, and clears the readiness when there is nothing.
    pub(super) async fn readable(&self) -> io::Result<()> {
        loop {
            let peeked = match self {
                Stream::Tcp(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_raw_fd()))
                }
                Stream::Unix(s) => {
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_raw_fd()))
                }
                Stream::Tls(s) => {
                    let s = s.get_ref().0;
                    s.readable().await?;
                    s.try_io(Interest::READABLE, || peek(s.as_raw_fd()))
                }
            };
            match peeked {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Closes the connection as nginx's lingering close does: the write side is shut (the client
    /// sees the end of Ferry's answer), then whatever the client still sends — the rest of a body
    /// Ferry refused, a pipelined request — is read and dropped until the client closes, nothing
    /// comes for [`LINGERING_TIMEOUT`], or [`LINGERING_TIME`] has passed. Closing at once with
    /// unread bytes would make the kernel send a reset, which can destroy the answer (a 413, a
    /// 408) before the client has read it.
    /// Ferry stopping ends it at once.
    pub(super) async fn linger_close(mut self, stop: &tokio_util::sync::CancellationToken) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if self.shutdown().await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + LINGERING_TIME;
        // On the heap, and only here: an idle connection's task stays small.
        let mut sink = vec![0u8; 4096];
        loop {
            let wait = LINGERING_TIMEOUT
                .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            tokio::select! {
                read = tokio::time::timeout(wait, self.read(&mut sink)) => match read {
                    Ok(Ok(n)) if n > 0 => continue,
                    _ => return,
                },
                () = stop.cancelled() => return,
            }
        }
    }

    /// Writes what fits of `bytes` now, without waiting. Over TLS nothing is written (a
    /// record cannot be written part way without waiting): the connection just closes.
    pub(super) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(bytes),
            Stream::Unix(s) => s.try_write(bytes),
            Stream::Tls(_) => Ok(0),
        }
    }
}

/// Whether `fd` has a byte to read (or is at its end), without taking it or waiting.
fn peek(fd: RawFd) -> io::Result<()> {
    let mut byte = [0u8; 1];
    recv(fd, &mut byte, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT)
        .map(|_| ())
        .map_err(io::Error::from)
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_is_readable_once_it_sent_something() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let stream = Stream::Tcp(stream);
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(300), stream.readable()).await;
        assert!(waited.is_err(), "readable: {waited:?}");
        tokio::io::AsyncWriteExt::write_all(&mut client, b"G")
            .await
            .unwrap();
        stream.readable().await.expect("readable once a byte came");
        drop(client);
        stream
            .readable()
            .await
            .expect("still readable: the byte was only peeked");
    }
}
