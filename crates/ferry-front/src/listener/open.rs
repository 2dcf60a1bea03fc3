//! Issue 19, TLS: what happens on a connection before its first request: the TLS handshake on
//! a socket that speaks TLS (the server picked by SNI, HTTP/2 chosen by ALPN), and on a
//! cleartext socket that speaks HTTP/2 the look at the first bytes that tells the HTTP/2
//! connection preface (prior knowledge) from an HTTP/1.1 request.
//!
//! Both happen within `client_header_timeout` of the accept, as nginx's handshake does, and
//! the connection is on the idle list only while it waits for its first byte.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;

use super::connection::{Connection, Kept, Opened};
use super::stream::Stream;
use super::Handler;

/// What an HTTP/2 client sends first (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a handshake may take when `client_header_timeout` sets no limit.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

// === impl Connection ===

impl<H: Handler> Connection<H> {
    /// The connection ready for its first request; `None` if it closed first (handshake failed
    /// or timed out, nothing came, Ferry stopping).
    pub(super) async fn open(&mut self, stream: Stream) -> Option<Opened> {
        let kept = Kept {
            stream,
            unread: Bytes::new(),
        };
        match (self.protocols.tls, self.protocols.http2) {
            (true, http2) => self.handshake(kept.stream, http2).await,
            (false, true) => self.sniff(kept).await,
            (false, false) => Some(Opened {
                kept,
                http2: false,
                ready: false,
            }),
        }
    }

    /// The TLS handshake, with the settings of the server the client names by SNI.
    async fn handshake(&mut self, stream: Stream, http2: bool) -> Option<Opened> {
        let timeout = self.settings.header_timeout;
        if !self.wait(&stream, timeout, true).await {
            return None;
        }
        let Stream::Tcp(tcp) = stream else {
            tracing::warn!("TLS is for TCP sockets: connection closed");
            return None;
        };
        let limit = timeout.unwrap_or(HANDSHAKE_TIMEOUT);
        let accepted = tokio::select! {
            accepted = tokio::time::timeout(limit, self.accept_tls(tcp, http2)) => accepted,
            () = self.stop.cancelled() => return None,
        };
        let peer = self.client.peer;
        match accepted {
            Ok(Ok(tls)) => {
                let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                self.client.tls = true;
                Some(Opened {
                    kept: Kept {
                        stream: Stream::Tls(Box::new(tls)),
                        unread: Bytes::new(),
                    },
                    http2,
                    // rustls may hold the first request already (it came with the
                    // handshake's last flight): no wait for a byte on the socket.
                    ready: true,
                })
            }
            Ok(Err(error)) => {
                tracing::debug!(?peer, %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(
                    ?peer,
                    "no TLS handshake within client_header_timeout: closed"
                );
                None
            }
        }
    }

    /// Reads the ClientHello, picks the server's settings by SNI, finishes the handshake.
    async fn accept_tls(
        &self,
        tcp: TcpStream,
        http2: bool,
    ) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
        let start = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
        let name = start.client_hello().server_name().map(str::to_owned);
        let config = self
            .handler
            .tls_config(self.index, self.client.local, name.as_deref(), http2)
            .ok_or_else(|| io::Error::other("no server with TLS settings for this address"))?;
        start.into_stream(config).await
    }

    /// On a cleartext socket that speaks HTTP/2: reads the first bytes while they are the
    /// HTTP/2 preface (an HTTP/1.1 request differs by its second byte at the latest), and
    /// hands them on to whichever protocol they belong to.
    async fn sniff(&mut self, mut kept: Kept) -> Option<Opened> {
        let timeout = self.settings.header_timeout;
        if !self.wait(&kept.stream, timeout, true).await {
            return None;
        }
        let mut got = Vec::with_capacity(PREFACE.len());
        let stream = &mut kept.stream;
        let read = async {
            let mut buf = [0u8; PREFACE.len()];
            loop {
                let n = stream.read(&mut buf[..PREFACE.len() - got.len()]).await?;
                got.extend_from_slice(&buf[..n]);
                if n == 0 || !PREFACE.starts_with(&got) || got.len() == PREFACE.len() {
                    return io::Result::Ok(());
                }
            }
        };
        let limit = timeout.unwrap_or(HANDSHAKE_TIMEOUT);
        let read = tokio::select! {
            read = tokio::time::timeout(limit, read) => read,
            () = self.stop.cancelled() => return None,
        };
        if !matches!(read, Ok(Ok(()))) || got.is_empty() {
            return None;
        }
        Some(Opened {
            http2: got == PREFACE,
            kept: Kept {
                stream: kept.stream,
                unread: Bytes::from(got),
            },
            ready: false,
        })
    }
}
