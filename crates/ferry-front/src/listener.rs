//! Listening sockets and the client connections they accept.
//!
//! Each accepted connection gets a slot under the [`ConnectionLimit`] and a task of its own
//! (`connection`), which waits for requests with no buffer and lets hyper's HTTP/1.1 server
//! serve them (`client_io`), with the timeouts and header limits of the default server of the
//! address it came to (`ClientSettings`, through [`Handler::client_settings`]). `hygiene`
//! checks each request head before the handler sees it; `stream` is the socket, TCP or unix.

mod client_io;
mod connection;
pub(crate) mod hygiene;
mod limits;
mod stream;
// Issue 19, TLS:
mod h2;
mod open;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_config::deployment::{ClientSettings, ListenProtocols};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use limits::ConnectionLimit;

use connection::Connection;
use hygiene::HeaderRules;
use stream::Stream;

/// What answers the requests of a listening socket: the [`Router`](crate::Router) for clients,
/// [`DirectAccess`](crate::DirectAccess) for direct process access.
pub trait Handler: Send + Sync + 'static {
    /// The response to `request`, which came on socket `listener` from `client`.
    fn handle(
        self: Arc<Self>,
        listener: usize,
        client: ClientInfo,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = hyper::Response<crate::body::Body>> + Send;

    /// How a connection accepted on socket `listener`, to the local address `local`, is read
    /// and kept: the default server's settings for that address (nginx's rule). Default:
    /// nginx's defaults.
    fn client_settings(&self, listener: usize, local: Option<SocketAddr>) -> ClientSettings {
        let _ = (listener, local);
        ClientSettings::default()
    }

    // Issue 19, TLS:
    /// What socket `listener` speaks. Default: cleartext HTTP/1.1.
    fn protocols(&self, listener: usize) -> ListenProtocols {
        let _ = listener;
        ListenProtocols::default()
    }

    /// The TLS settings for a handshake on socket `listener` to the local address `local`, for
    /// the name the client asked for by SNI (`None`: none); `http2`: offer HTTP/2 by ALPN.
    /// `None`: no server there has TLS settings (the connection is closed). Default: none.
    fn tls_config(
        &self,
        listener: usize,
        local: Option<SocketAddr>,
        server_name: Option<&str>,
        http2: bool,
    ) -> Option<Arc<rustls::ServerConfig>> {
        let _ = (listener, local, server_name, http2);
        None
    }
}

/// What the client connection tells each request about itself.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The client's address (`None` on a unix socket).
    pub(crate) peer: Option<SocketAddr>,
    /// The address the client connected to.
    pub(crate) local: Option<SocketAddr>,
    /// What its default server says about request headers (issue 16).
    pub(crate) headers: HeaderRules,
    // Issue 19, TLS:
    /// The connection is TLS: the request's scheme is `https`.
    pub(crate) tls: bool,
}

/// Where to listen.
#[derive(Debug, Clone)]
pub enum Listener {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix socket path.
    Unix(PathBuf),
}

/// A bound listening socket.
#[derive(Debug)]
pub enum BoundListener {
    /// Bound TCP socket.
    Tcp(TcpListener),
    /// Bound unix socket, and its path (removed when Ferry stops).
    Unix(UnixListener, PathBuf),
}

/// Binds `listener`. A unix socket file left by a Ferry that is gone is replaced; one that still
/// accepts connections is an error (another server is using it).
pub async fn bind(listener: &Listener) -> std::io::Result<BoundListener> {
    match listener {
        Listener::Tcp(addr) => Ok(BoundListener::Tcp(TcpListener::bind(addr).await?)),
        Listener::Unix(path) => {
            if path.exists() {
                if tokio::net::UnixStream::connect(path).await.is_ok() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        format!("{} is in use by another server", path.display()),
                    ));
                }
                std::fs::remove_file(path)?;
            }
            Ok(BoundListener::Unix(UnixListener::bind(path)?, path.clone()))
        }
    }
}

impl BoundListener {
    /// The URL clients use, as printed in the `ferry: listening on ...` line.
    pub fn url(&self) -> String {
        self.url_with(false)
    }

    // Issue 19, TLS:
    /// The URL clients use, `https://` when the socket speaks TLS.
    pub fn url_with(&self, tls: bool) -> String {
        let scheme = if tls { "https" } else { "http" };
        match self {
            BoundListener::Tcp(l) => match l.local_addr() {
                Ok(addr) => format!("{scheme}://{addr}"),
                Err(_) => format!("{scheme}://(unknown)"),
            },
            BoundListener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// Accepts connections until `stop` is cancelled, serving each on its own task tracked by
    /// `connections`, within `limit`. Once stopped, open connections finish their current
    /// request and close. `index` is this socket's place among the sockets `handler` was built
    /// for.
    pub async fn serve<H: Handler>(
        self,
        handler: Arc<H>,
        index: usize,
        stop: CancellationToken,
        connections: TaskTracker,
        limit: Arc<ConnectionLimit>,
    ) {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = self.accept() => accepted,
            };
            match accepted {
                Ok((stream, mut client)) => {
                    // A slot under the cap, made by closing the longest idle connection if need
                    // be; none accepted meanwhile.
                    let Some(slot) = limit.admit(&stop).await else {
                        break;
                    };
                    let settings = handler.client_settings(index, client.local);
                    client.headers = HeaderRules::of(&settings);
                    // Issue 19, TLS:
                    let protocols = handler.protocols(index);
                    let connection = Connection {
                        protocols,
                        handler: Arc::clone(&handler),
                        index,
                        client,
                        settings,
                        stop: stop.clone(),
                        limit: Arc::clone(&limit),
                        evict: Arc::new(Notify::new()),
                    };
                    connections.spawn(connection.serve(stream, slot));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        if let BoundListener::Unix(_, path) = &self {
            let _ = std::fs::remove_file(path);
        }
    }

    async fn accept(&self) -> std::io::Result<(Stream, ClientInfo)> {
        match self {
            BoundListener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                stream.set_nodelay(true)?;
                let local = stream.local_addr().ok();
                Ok((
                    Stream::Tcp(stream),
                    ClientInfo {
                        peer: Some(peer),
                        local,
                        headers: HeaderRules::default(),
                        tls: false,
                    },
                ))
            }
            BoundListener::Unix(l, _) => {
                let (stream, _) = l.accept().await?;
                Ok((
                    Stream::Unix(stream),
                    ClientInfo {
                        peer: None,
                        local: None,
                        headers: HeaderRules::default(),
                        tls: false,
                    },
                ))
            }
        }
    }
}
