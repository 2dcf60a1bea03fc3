//! The `session` protocol: how Ferry talks to Ruby and Python loaders (loaders/PROTOCOL.md §2,
//! reference §3).
//!
//! A request goes out as a length-prefixed frame of `KEY\0VALUE\0` CGI variables followed by the
//! body (chunked when its length is unknown), with a write half-close at its end. The response
//! comes back as an HTTP/1.x head ([`crate::response_head`]) and a body that is re-framed for the
//! client as it streams. A connection that carried no request body and got a length-delimited
//! response goes back to the process's idle list for the next request.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use ferry_spawn::Endpoint;
use http::{header, request, HeaderMap, Method, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf};
use tokio::net::{TcpStream, UnixStream};

use crate::response_head::{self, Chunked, Decoded, Framing, Head, HeadError};

/// How much is read from the app at a time.
const READ_SIZE: usize = 32 * 1024;

/// A connection to an app process's socket.
#[derive(Debug)]
pub(crate) enum AppStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AppStream {
    pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<AppStream> {
        Ok(match endpoint {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                AppStream::Tcp(stream)
            }
            Endpoint::Unix(path) => AppStream::Unix(UnixStream::connect(path).await?),
        })
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

/// How the request body travels to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// No body: nothing follows the frame and the connection stays usable.
    None,
    /// `CONTENT_LENGTH` bytes.
    Length(u64),
    /// Chunked, for a body whose length the client did not say.
    Chunked,
}

impl RequestBody {
    pub(crate) fn of(parts: &request::Parts, body: &Incoming) -> RequestBody {
        if body.is_end_stream() {
            return RequestBody::None;
        }
        match body.size_hint().exact() {
            Some(0) => RequestBody::None,
            Some(n) if parts.headers.contains_key(header::CONTENT_LENGTH) => RequestBody::Length(n),
            _ => RequestBody::Chunked,
        }
    }
}

/// What the frame says about the connection the request came on and the server it reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameContext<'a> {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) https: bool,
    /// The base URI the app is mounted at, without a trailing slash (`None` at the root).
    pub(crate) base_uri: Option<&'a str>,
    pub(crate) server_software: &'a str,
    pub(crate) connect_password: &'a str,
    /// Extra CGI variables, last so that they win (`passenger_set_cgi_param`).
    pub(crate) extra: &'a [(String, String)],
}

/// Builds the request frame: the 4-byte length, then the `KEY\0VALUE\0` pairs.
pub(crate) fn frame(
    parts: &request::Parts,
    body: RequestBody,
    upgrade: bool,
    cx: &FrameContext<'_>,
) -> Vec<u8> {
    let mut out = FrameBuf::with_capacity(1024);
    let mut pair = |key: &[u8], value: &[u8]| out.pair(key, value);
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let path = parts.uri.path();
    let (script_name, path_info) = split_base(path, cx.base_uri);
    pair(b"REQUEST_URI", target.as_bytes());
    pair(b"PATH_INFO", path_info.as_bytes());
    pair(b"SCRIPT_NAME", script_name.as_bytes());
    pair(
        b"QUERY_STRING",
        parts.uri.query().unwrap_or_default().as_bytes(),
    );
    pair(b"REQUEST_METHOD", parts.method.as_str().as_bytes());
    let (name, port) = server_name(&parts.headers, cx);
    pair(b"SERVER_NAME", name.as_bytes());
    pair(b"SERVER_PORT", port.as_bytes());
    pair(b"SERVER_SOFTWARE", cx.server_software.as_bytes());
    let protocol: &[u8] = if parts.version == Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    };
    pair(b"SERVER_PROTOCOL", protocol);
    match cx.peer {
        Some(peer) => {
            pair(b"REMOTE_ADDR", peer.ip().to_string().as_bytes());
            pair(b"REMOTE_PORT", peer.port().to_string().as_bytes());
        }
        None => {
            pair(b"REMOTE_ADDR", b"127.0.0.1");
            pair(b"REMOTE_PORT", b"0");
        }
    }
    if cx.https {
        pair(b"HTTPS", b"on");
    }
    if let Some(value) = parts.headers.get(header::CONTENT_TYPE) {
        pair(b"CONTENT_TYPE", value.as_bytes());
    }
    match body {
        RequestBody::Length(n) => pair(b"CONTENT_LENGTH", n.to_string().as_bytes()),
        RequestBody::Chunked => pair(b"HTTP_TRANSFER_ENCODING", b"chunked"),
        RequestBody::None => {}
    }
    pair(
        b"PASSENGER_CONNECT_PASSWORD",
        cx.connect_password.as_bytes(),
    );
    if upgrade {
        pair(b"HTTP_CONNECTION", b"upgrade");
    }
    let mut name_buf = Vec::with_capacity(64);
    for name in parts.headers.keys() {
        let name = name.as_str();
        if SKIPPED.contains(&name) || (name == "upgrade" && !upgrade) {
            continue;
        }
        // Only letters, digits and dashes: `X_Forwarded_For` must not pass as `X-Forwarded-For`.
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            continue;
        }
        name_buf.clear();
        name_buf.extend_from_slice(b"HTTP_");
        name_buf.extend(name.bytes().map(|b| match b {
            b'-' => b'_',
            b => b.to_ascii_uppercase(),
        }));
        if cx.extra.iter().any(|(key, _)| key.as_bytes() == name_buf) {
            continue;
        }
        let separator: &[u8] = if name == "cookie" { b"; " } else { b", " };
        let mut values = parts.headers.get_all(name).iter();
        let mut joined = values
            .next()
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        for more in values {
            joined.extend_from_slice(separator);
            joined.extend_from_slice(more.as_bytes());
        }
        pair(&name_buf, &joined);
    }
    for (key, value) in cx.extra {
        pair(key.as_bytes(), value.as_bytes());
    }
    out.finish()
}

/// A request frame being built: room for the length, then `KEY\0VALUE\0` pairs.
struct FrameBuf(Vec<u8>);

impl FrameBuf {
    fn with_capacity(capacity: usize) -> FrameBuf {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(&[0; 4]);
        FrameBuf(bytes)
    }

    fn pair(&mut self, key: &[u8], value: &[u8]) {
        self.0.extend_from_slice(key);
        self.0.push(0);
        self.0.extend_from_slice(value);
        self.0.push(0);
    }

    /// The frame, with its length filled in.
    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.0.len() - 4).unwrap_or(u32::MAX);
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        self.0
    }
}

/// Headers that are not sent as `HTTP_*` variables: they have variables of their own, describe
/// only the hop to Ferry, or are answered by Ferry.
const SKIPPED: [&str; 10] = [
    "content-type",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "expect",
    "proxy-authorization",
];

/// Splits `path` into `SCRIPT_NAME` and `PATH_INFO` for an app mounted at `base`.
pub(crate) fn split_base<'p>(path: &'p str, base: Option<&'p str>) -> (&'p str, &'p str) {
    match base {
        Some(base) if under_base(path, base) => {
            let rest = &path[base.len()..];
            (base, if rest.is_empty() { "/" } else { rest })
        }
        _ => ("", if path.is_empty() { "/" } else { path }),
    }
}

/// Whether `path` is `base` or below it.
pub(crate) fn under_base(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `SERVER_NAME` and `SERVER_PORT`: from `Host`, else the address the client connected to.
fn server_name(headers: &HeaderMap, cx: &FrameContext<'_>) -> (String, String) {
    let default_port = if cx.https { "443" } else { "80" };
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        // `[::1]:8080`, `example.com:8080`, `example.com`
        let (name, port) = match host.rfind(':') {
            Some(colon) if !host[colon..].contains(']') => (&host[..colon], &host[colon + 1..]),
            _ => (host, default_port),
        };
        return (name.to_owned(), port.to_owned());
    }
    match cx.local {
        Some(addr) => (addr.ip().to_string(), addr.port().to_string()),
        None => ("localhost".into(), default_port.into()),
    }
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
}

/// Reads a response from the app: either the whole connection (no request body) or its read
/// half (a body is being written by another task).
#[derive(Debug)]
pub(crate) enum Reader {
    Whole(AppStream),
    Half(ReadHalf<AppStream>),
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Reader::Whole(s) => Pin::new(s).poll_read(cx, buf),
            Reader::Half(s) => Pin::new(s).poll_read(cx, buf),
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
    let mut reader = match kind {
        RequestBody::None => {
            stream
                .write_all(&frame)
                .await
                .map_err(ExchangeError::Send)?;
            Reader::Whole(stream)
        }
        RequestBody::Length(_) | RequestBody::Chunked => {
            let (read, mut write) = tokio::io::split(stream);
            write.write_all(&frame).await.map_err(ExchangeError::Send)?;
            let body = body.take().unwrap_or_else(crate::body::empty);
            tokio::spawn(async move {
                if let Err(e) = send_body(&mut write, body, kind == RequestBody::Chunked).await {
                    tracing::debug!(error = %e, "request body not sent in full");
                }
                // End of the body for the app, in every case: a short body reads as truncated.
                let _ = write.shutdown().await;
            });
            Reader::Half(read)
        }
    };
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
        match tokio::io::AsyncReadExt::read_buf(&mut reader, &mut buffered).await {
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

async fn send_body<W: AsyncWrite + Unpin>(
    write: &mut W,
    mut body: crate::body::Body,
    chunked: bool,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers are not forwarded
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            let size = format!("{:x}\r\n", data.len());
            write.write_all(size.as_bytes()).await?;
            write.write_all(&data).await?;
            write.write_all(b"\r\n").await?;
        } else {
            write.write_all(&data).await?;
        }
    }
    if chunked {
        write.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// Sends an out-of-band-work request on a fresh connection and waits (bounded) until the process
/// says it is done or closes.
pub(crate) async fn out_of_band_work(
    endpoint: &Endpoint,
    connect_password: &str,
) -> io::Result<()> {
    let mut stream = AppStream::connect(endpoint).await?;
    let mut frame = FrameBuf::with_capacity(64);
    frame.pair(b"REQUEST_METHOD", b"OOBW");
    frame.pair(b"PASSENGER_CONNECT_PASSWORD", connect_password.as_bytes());
    let frame = frame.finish();
    stream.write_all(&frame).await?;
    let mut sink = Vec::new();
    let wait = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut sink);
    match tokio::time::timeout(std::time::Duration::from_secs(60), wait).await {
        Ok(result) => result.map(drop),
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in 60 s")),
    }
}

/// Decodes the response body after the head, as the head's framing says.
#[derive(Debug)]
pub(crate) struct BodyDecoder {
    framing: Framing,
    chunked: Chunked,
    remaining: u64,
}

/// One step of reading the body.
#[derive(Debug)]
pub(crate) enum BodyRead {
    Data(Bytes),
    /// The body is complete; `reusable`: the connection is at a request boundary.
    End {
        reusable: bool,
    },
}

impl BodyDecoder {
    pub(crate) fn new(framing: Framing) -> BodyDecoder {
        BodyDecoder {
            framing,
            chunked: Chunked::Size,
            remaining: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
        }
    }

    /// Reads the next piece of body from `buffered`, then from `reader`.
    pub(crate) fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        buffered: &mut BytesMut,
    ) -> Poll<io::Result<BodyRead>> {
        loop {
            match self.framing {
                Framing::Empty => return Poll::Ready(Ok(BodyRead::End { reusable: true })),
                Framing::Length(_) if self.remaining == 0 => {
                    return Poll::Ready(Ok(BodyRead::End { reusable: true }))
                }
                Framing::Length(_) if !buffered.is_empty() => {
                    let n = (buffered.len() as u64).min(self.remaining) as usize;
                    self.remaining -= n as u64;
                    return Poll::Ready(Ok(BodyRead::Data(buffered.split_to(n).freeze())));
                }
                Framing::Eof if !buffered.is_empty() => {
                    return Poll::Ready(Ok(BodyRead::Data(buffered.split().freeze())));
                }
                Framing::Chunked => {
                    if self.chunked == Chunked::Done {
                        return Poll::Ready(Ok(BodyRead::End { reusable: true }));
                    }
                    match self.chunked.step(buffered).map_err(io::Error::other)? {
                        Decoded::Skip(n) => {
                            buffered.advance(n);
                            continue;
                        }
                        Decoded::Data { start, len } => {
                            buffered.advance(start);
                            return Poll::Ready(Ok(BodyRead::Data(
                                buffered.split_to(len).freeze(),
                            )));
                        }
                        Decoded::More => {}
                    }
                }
                _ => {}
            }
            buffered.reserve(READ_SIZE);
            let n = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut *reader),
                cx,
                buffered
            ))?;
            if n == 0 {
                return Poll::Ready(match self.framing {
                    Framing::Eof => Ok(BodyRead::End { reusable: false }),
                    _ => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the app closed the connection before the response body was complete",
                    )),
                });
            }
        }
    }

    /// Whether the whole body is already in `buffered` (small responses).
    pub(crate) fn complete_in(&self, buffered: &BytesMut) -> bool {
        match self.framing {
            Framing::Empty => true,
            Framing::Length(n) => buffered.len() as u64 >= n,
            _ => false,
        }
    }
}

/// Whether the client asked to switch protocols (`Connection: upgrade` and an `Upgrade` header).
pub(crate) fn is_upgrade_request(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(frame: &[u8]) -> Vec<(String, String)> {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let fields: Vec<&[u8]> = frame[4..].split(|&b| b == 0).collect();
        assert_eq!(fields.last().map(|f| f.len()), Some(0), "ends with NUL");
        fields[..fields.len() - 1]
            .chunks(2)
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv[0]).into_owned(),
                    String::from_utf8_lossy(kv[1]).into_owned(),
                )
            })
            .collect()
    }

    fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn context(base: Option<&str>) -> FrameContext<'_> {
        FrameContext {
            peer: Some(([10, 1, 2, 3], 4567).into()),
            local: Some(([127, 0, 0, 1], 3000).into()),
            https: false,
            base_uri: base,
            server_software: "Ferry/test",
            extra: &[],
            connect_password: "secret",
        }
    }

    fn parts(text: &str) -> request::Parts {
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let mut builder = http::Request::builder()
            .method(first.next().unwrap())
            .uri(first.next().unwrap());
        for line in lines.filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(": ").unwrap();
            builder = builder.header(k, v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn frames_carry_the_cgi_variables() {
        let p = parts("POST /blog/posts/1?x=%20y HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nX-Custom-Thing: a\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: x\r\nAccept: y\r\nConnection: keep-alive\r\n");
        let f = pairs(&frame(
            &p,
            RequestBody::Length(3),
            false,
            &context(Some("/blog")),
        ));
        assert_eq!(get(&f, "REQUEST_URI"), Some("/blog/posts/1?x=%20y"));
        assert_eq!(get(&f, "SCRIPT_NAME"), Some("/blog"));
        assert_eq!(get(&f, "PATH_INFO"), Some("/posts/1"));
        assert_eq!(get(&f, "QUERY_STRING"), Some("x=%20y"));
        assert_eq!(get(&f, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(get(&f, "SERVER_NAME"), Some("example.com"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("8080"));
        assert_eq!(get(&f, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(get(&f, "REMOTE_ADDR"), Some("10.1.2.3"));
        assert_eq!(get(&f, "REMOTE_PORT"), Some("4567"));
        assert_eq!(get(&f, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&f, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(get(&f, "PASSENGER_CONNECT_PASSWORD"), Some("secret"));
        assert_eq!(get(&f, "HTTP_X_CUSTOM_THING"), Some("a"));
        assert_eq!(get(&f, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(get(&f, "HTTP_ACCEPT"), Some("x, y"));
        assert_eq!(get(&f, "HTTP_HOST"), Some("example.com:8080"));
        for absent in [
            "HTTP_CONTENT_TYPE",
            "HTTP_CONTENT_LENGTH",
            "HTTP_CONNECTION",
            "HTTPS",
        ] {
            assert_eq!(get(&f, absent), None, "{absent}");
        }
    }

    #[test]
    fn bodies_of_unknown_length_are_announced_as_chunked() {
        let p = parts("PUT /x HTTP/1.1\r\n");
        let f = pairs(&frame(&p, RequestBody::Chunked, false, &context(None)));
        assert_eq!(get(&f, "HTTP_TRANSFER_ENCODING"), Some("chunked"));
        assert_eq!(get(&f, "CONTENT_LENGTH"), None);
        assert_eq!(get(&f, "SCRIPT_NAME"), Some(""));
        assert_eq!(get(&f, "PATH_INFO"), Some("/x"));
        assert_eq!(get(&f, "SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("3000"));
    }

    #[test]
    fn header_names_that_could_be_confused_are_dropped() {
        let p = parts("GET / HTTP/1.1\r\nX_Forwarded_For: evil\r\nX-Forwarded-For: 1.2.3.4\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        let forwarded: Vec<_> = f
            .iter()
            .filter(|(k, _)| k == "HTTP_X_FORWARDED_FOR")
            .collect();
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[0].1, "1.2.3.4");
    }

    #[test]
    fn upgrades_carry_connection_and_upgrade() {
        let p = parts("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n");
        assert!(is_upgrade_request(&p.method, &p.headers));
        let f = pairs(&frame(&p, RequestBody::None, true, &context(None)));
        assert_eq!(get(&f, "HTTP_CONNECTION"), Some("upgrade"));
        assert_eq!(get(&f, "HTTP_UPGRADE"), Some("websocket"));
        assert_eq!(get(&f, "HTTP_SEC_WEBSOCKET_KEY"), Some("k"));
        let p = parts("GET / HTTP/1.1\r\nUpgrade: h2c\r\n");
        assert!(!is_upgrade_request(&p.method, &p.headers));
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "HTTP_UPGRADE"), None);
    }

    #[test]
    fn base_uris_split_only_at_segment_boundaries() {
        assert_eq!(split_base("/blog", Some("/blog")), ("/blog", "/"));
        assert_eq!(split_base("/blog/", Some("/blog")), ("/blog", "/"));
        assert_eq!(split_base("/blog/a", Some("/blog")), ("/blog", "/a"));
        assert_eq!(split_base("/blogs", Some("/blog")), ("", "/blogs"));
        assert_eq!(split_base("/a", None), ("", "/a"));
    }

    #[test]
    fn host_headers_with_ipv6_addresses_keep_their_brackets() {
        let p = parts("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("8080"));
        let p = parts("GET / HTTP/1.1\r\nHost: [::1]\r\n");
        let f = pairs(&frame(&p, RequestBody::None, false, &context(None)));
        assert_eq!(get(&f, "SERVER_NAME"), Some("[::1]"));
        assert_eq!(get(&f, "SERVER_PORT"), Some("80"));
    }

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
