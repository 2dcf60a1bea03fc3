//! Listening sockets and the per-connection HTTP/1.1 server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
}

/// What the client connection tells each request about itself.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo {
    /// The client's address (`None` on a unix socket).
    pub(crate) peer: Option<SocketAddr>,
    /// The address the client connected to.
    pub(crate) local: Option<SocketAddr>,
}

/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

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
        match self {
            BoundListener::Tcp(l) => match l.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "http://(unknown)".into(),
            },
            BoundListener::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// Accepts connections until `stop` is cancelled, serving each on its own task tracked by
    /// `connections`. Once stopped, open connections finish their current request and close.
    /// `index` is this socket's place among the sockets `handler` was built for.
    pub async fn serve<H: Handler>(
        self,
        handler: Arc<H>,
        index: usize,
        stop: CancellationToken,
        connections: TaskTracker,
    ) {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = self.accept() => accepted,
            };
            match accepted {
                Ok((io, client)) => {
                    connections.spawn(serve_connection(
                        io,
                        client,
                        Arc::clone(&handler),
                        index,
                        stop.clone(),
                    ));
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

    async fn accept(&self) -> std::io::Result<(Box<dyn Io>, ClientInfo)> {
        match self {
            BoundListener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                stream.set_nodelay(true)?;
                let local = stream.local_addr().ok();
                Ok((
                    Box::new(stream),
                    ClientInfo {
                        peer: Some(peer),
                        local,
                    },
                ))
            }
            BoundListener::Unix(l, _) => {
                let (stream, _) = l.accept().await?;
                Ok((
                    Box::new(stream),
                    ClientInfo {
                        peer: None,
                        local: None,
                    },
                ))
            }
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

async fn serve_connection<H: Handler>(
    io: Box<dyn Io>,
    client: ClientInfo,
    handler: Arc<H>,
    index: usize,
    stop: CancellationToken,
) {
    let service = service_fn(move |request| {
        let handler = Arc::clone(&handler);
        async move { Ok::<_, std::convert::Infallible>(handler.handle(index, client, request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Issue 16, request side: hyper's read buffer grows to its max_buf_size (~400 KiB) on a
        // fast upload and is kept while the body waits for a process; bounded, 1,000
        // concurrent uploads stay under 200 MiB. (The connection side bounds it by the header
        // limits instead.)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}
