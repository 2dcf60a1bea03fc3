//! An HTTP/1.1 client for talking to Ferry: pooled keep-alive connections, or one pinned
//! connection, with streamed uploads and hashed streamed downloads.
//!
//! Built on hyper-util's legacy client (connection pool, keep-alive) and hyper's `conn` API
//! (a single connection, TCP or unix socket). Nothing here holds a large body in memory unless
//! asked to: [`Client::download`] hashes the body frame by frame.

use std::path::Path;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};

use crate::body::{self, Body};
use crate::Result;

/// A pooled HTTP/1.1 client: keeps connections alive between requests.
#[derive(Clone, Debug)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpConnector, Body>,
}

/// A complete response: status, headers and the whole body.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole response body.
    pub body: Bytes,
}

/// A response whose body was streamed through a hasher instead of being kept.
#[derive(Clone, Debug)]
pub struct Download {
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// How many body bytes arrived.
    pub len: u64,
    /// Hex SHA-256 of the body.
    pub sha256: String,
    /// The largest single body frame received, in bytes.
    pub max_frame: usize,
}

/// One HTTP/1.1 connection: every request sent through it uses the same socket.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Body>,
    driver: tokio::task::JoinHandle<()>,
}

/// Sends a GET with a fresh client.
pub async fn get(url: &str) -> Result<Reply> {
    Client::new().get(url).await
}

/// Builds a request with `headers` added.
///
/// # Panics
///
/// When `url` or a header is malformed: those come from the test's source code.
pub fn request(method: Method, url: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .expect("valid request URL");
    for (name, value) in headers {
        req.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_str(value).expect("valid header value"),
        );
    }
    req
}

// === impl Client ===

impl Client {
    /// A client with an empty connection pool.
    pub fn new() -> Self {
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build_http();
        Client { inner }
    }

    /// Sends `req` and returns as soon as the response head arrives; the body streams after.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>> {
        Ok(self.inner.request(req).await?)
    }

    /// Sends `req` and reads the whole response body.
    pub async fn request(&self, req: Request<Body>) -> Result<Reply> {
        Reply::read(self.send(req).await?).await
    }

    /// GET `url`.
    pub async fn get(&self, url: &str) -> Result<Reply> {
        self.get_with(url, &[]).await
    }

    /// GET `url` with extra request headers.
    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply> {
        self.request(request(Method::GET, url, headers, body::empty()))
            .await
    }

    /// HEAD `url`.
    pub async fn head(&self, url: &str) -> Result<Reply> {
        self.request(request(Method::HEAD, url, &[], body::empty()))
            .await
    }

    /// Sends `body` with `method` to `url` and reads the whole (small) response.
    pub async fn upload(&self, method: Method, url: &str, body: Body) -> Result<Reply> {
        self.request(request(method, url, &[], body)).await
    }

    /// GET `url` (a streamed endpoint whose first chunk is `first`, such as the stubs'
    /// `/stream?gate=…`) and return once that chunk has arrived, with the rest of the body: the
    /// process serving it stays busy until the body ends.
    pub async fn hold(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        first: &[u8],
    ) -> Result<Incoming> {
        let response = self
            .send(request(Method::GET, url, headers, body::empty()))
            .await?;
        if response.status() != StatusCode::OK {
            return Err(format!("{url}: status {}", response.status()).into());
        }
        let mut body = response.into_body();
        let chunk = match body.frame().await {
            Some(frame) => frame?.into_data().unwrap_or_default(),
            None => Bytes::new(),
        };
        if chunk != first {
            return Err(format!("{url}: first chunk {chunk:?}, expected {first:?}").into());
        }
        Ok(body)
    }

    /// GET `url`, hashing the body as it streams; never holds more than one frame.
    pub async fn download(&self, url: &str) -> Result<Download> {
        Download::read(
            self.send(request(Method::GET, url, &[], body::empty()))
                .await?,
        )
        .await
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

// === impl Reply ===

impl Reply {
    /// Reads the whole body of `res`.
    pub async fn read(res: Response<Incoming>) -> Result<Reply> {
        let (parts, incoming) = res.into_parts();
        let body = incoming.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name`, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

// === impl Download ===

impl Download {
    /// Streams the body of `res` through SHA-256.
    pub async fn read(res: Response<Incoming>) -> Result<Download> {
        let (parts, mut incoming) = res.into_parts();
        let mut hasher = Sha256::new();
        let (mut len, mut max_frame) = (0u64, 0usize);
        while let Some(frame) = incoming.frame().await {
            if let Ok(data) = frame?.into_data() {
                hasher.update(&data);
                len += data.len() as u64;
                max_frame = max_frame.max(data.len());
            }
        }
        Ok(Download {
            status: parts.status,
            headers: parts.headers,
            len,
            sha256: crate::hex(&hasher.finalize()),
            max_frame,
        })
    }
}

// === impl Conn ===

impl Conn {
    /// Opens one TCP connection to `addr` (`127.0.0.1:PORT`).
    pub async fn tcp(addr: std::net::SocketAddr) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        Conn::handshake(TokioIo::new(stream)).await
    }

    /// Opens one connection to the unix socket at `path`.
    pub async fn unix(path: &Path) -> Result<Conn> {
        let stream = tokio::net::UnixStream::connect(path).await?;
        Conn::handshake(TokioIo::new(stream)).await
    }

    async fn handshake<T>(io: T) -> Result<Conn>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender, driver })
    }

    /// Sends `req` on this connection and reads the whole response.
    ///
    /// `req` needs a `Host` header and a path-only URI (`/hello`), as on the wire.
    pub async fn request(&mut self, req: Request<Body>) -> Result<Reply> {
        self.sender.ready().await?;
        Reply::read(self.sender.send_request(req).await?).await
    }

    /// GET `path` on this connection, with `Host: localhost`.
    pub async fn get(&mut self, path: &str) -> Result<Reply> {
        let req = request(Method::GET, path, &[("host", "localhost")], body::empty());
        self.request(req).await
    }

    /// Whether the connection is closed (by either side).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
