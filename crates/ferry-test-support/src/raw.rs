//! Raw HTTP/1.1 exchanges: bytes out, bytes back.
//!
//! For requests the `http` crate would normalise or refuse (`GET /../secret`, `%2f` in a path),
//! a test writes the request bytes itself over a `TcpStream` or `UnixStream` and reads until the
//! server closes the connection (so the request should carry `Connection: close`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Result;

/// What came back: the status, the head as text and the (de-chunked) body.
#[derive(Clone, Debug)]
pub struct RawReply {
    /// The status code from the status line.
    pub status: u16,
    /// Status line and headers, as text.
    pub head: String,
    /// The body, with chunked framing removed when the response was chunked.
    pub body: Vec<u8>,
}

/// A GET request for `target` (sent verbatim) with `Connection: close`.
pub fn get_request(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Writes `request` to a new TCP connection to `addr` and reads until EOF or `timeout`.
pub async fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> Result<RawReply> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    exchange_on(stream, request, timeout).await
}

/// Writes `request` to a new connection to the unix socket `path` and reads until EOF.
pub async fn exchange_unix(path: &Path, request: &[u8], timeout: Duration) -> Result<RawReply> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    exchange_on(stream, request, timeout).await
}

async fn exchange_on<S>(mut stream: S, request: &[u8], timeout: Duration) -> Result<RawReply>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = async {
        stream.write_all(request).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| format!("no complete response within {timeout:?}"))??;
    parse(&buf)
}

/// Splits a complete response into status, head and body.
pub fn parse(buf: &[u8]) -> Result<RawReply> {
    let end = find(buf, b"\r\n\r\n").ok_or("response has no end of head")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let raw_body = &buf[end + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(raw_body)?
    } else {
        raw_body.to_vec()
    };
    Ok(RawReply { status, head, body })
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // Each iteration consumes one chunk, so the loop is bounded by the input length.
    loop {
        let line_end = find(raw, b"\r\n").ok_or("truncated chunk size line")?;
        let size_text = std::str::from_utf8(&raw[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl RawReply {
    /// Whether the body contains `needle`.
    pub fn body_contains(&self, needle: &[u8]) -> bool {
        find(&self.body, needle).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked() {
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn parses_plain() {
        let r = parse(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"no");
    }
}
