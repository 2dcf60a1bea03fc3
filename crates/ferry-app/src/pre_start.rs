//! `--pre-start URL` (Passenger's `passenger_pre_start`): once Ferry listens, a background task
//! sends `HEAD <path> HTTP/1.1` for each URL in turn, so the app's first process starts before the
//! first visitor arrives. The request goes through the front end like any other (base URI, static
//! files, queueing), which is why it is an HTTP request rather than a call into the pool.
//!
//! Startup neither waits for these requests nor fails because of them: each outcome is logged
//! (`pre-start request to URL: 200 OK` at info, failures and timeouts at warn).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ferry_config::PreStart;
use ferry_front::BoundListener;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::sync::CancellationToken;

/// How long one pre-start request may take, the app's spawn included.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

/// The largest response head read; anything longer is not an answer worth waiting for.
const MAX_HEAD: usize = 16 * 1024;

/// Where a pre-start request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A TCP address on this machine.
    Tcp(SocketAddr),
    /// A unix socket.
    Unix(PathBuf),
}

// === impl Target ===

impl Target {
    /// Ferry's own listener, as reached from this machine: an unspecified address (0.0.0.0, ::)
    /// becomes loopback.
    pub(crate) fn own(listener: &BoundListener) -> io::Result<Target> {
        match listener {
            BoundListener::Tcp(l) => {
                let mut addr = l.local_addr()?;
                if addr.ip().is_unspecified() {
                    addr.set_ip(match addr.ip() {
                        IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                        IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                    });
                }
                Ok(Target::Tcp(addr))
            }
            BoundListener::Unix(_, path) => Ok(Target::Unix(path.clone())),
        }
    }

    /// Where `pre_start` goes: 127.0.0.1 at its port, else Ferry's own listener (`self`).
    fn for_url(&self, pre_start: &PreStart) -> Target {
        match pre_start.port {
            Some(port) => Target::Tcp(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port)),
            None => self.clone(),
        }
    }

    /// The `Host` header for a request that names no host.
    fn host(&self) -> String {
        match self {
            Target::Tcp(addr) => addr.to_string(),
            Target::Unix(_) => "localhost".into(),
        }
    }
}

/// Sends every pre-start request in order, each bounded by [`TIMEOUT`]; stops early when `stop`
/// is cancelled (Ferry is shutting down).
pub(crate) async fn run(urls: Vec<PreStart>, own: Target, stop: CancellationToken) {
    for pre_start in urls {
        let target = own.for_url(&pre_start);
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = tokio::time::timeout(TIMEOUT, send(&pre_start, &target)) => outcome,
        };
        let url = &pre_start.url;
        match outcome {
            Ok(Ok(status)) => tracing::info!("pre-start request to {url}: {status}"),
            Ok(Err(error)) => {
                tracing::warn!(%error, "pre-start request to {url} failed");
            }
            Err(_) => tracing::warn!("pre-start request to {url} timed out after {TIMEOUT:?}"),
        }
    }
}

/// Sends `HEAD` for `pre_start` to `target` and returns the response's status and reason,
/// e.g. `200 OK`.
async fn send(pre_start: &PreStart, target: &Target) -> io::Result<String> {
    let host = pre_start.host.clone().unwrap_or_else(|| target.host());
    let request = http::Request::head(pre_start.path.as_str())
        .header(http::header::HOST, host)
        .header(http::header::CONNECTION, "close")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    match target {
        Target::Tcp(addr) => exchange(TcpStream::connect(addr).await?, request).await,
        Target::Unix(path) => exchange(UnixStream::connect(path).await?, request).await,
    }
}

/// Sends `request` over `stream` with hyper's HTTP/1.1 client and returns the answer's status.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> io::Result<String> {
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .max_buf_size(MAX_HEAD)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(into_io)?;
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await;
    driver.abort();
    let response = answer.map_err(into_io)?;
    let code = response.status().as_u16();
    // The app's own reason phrase when it sent one hyper does not know, else the standard one.
    let reason = match response.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(phrase) => String::from_utf8_lossy(phrase.as_bytes()).into_owned(),
        None => response
            .status()
            .canonical_reason()
            .unwrap_or("")
            .to_owned(),
    };
    Ok(match reason.is_empty() {
        true => code.to_string(),
        false => format!("{code} {reason}"),
    })
}

/// hyper's error as an I/O error whose kind says what went wrong: no answer at all, or not HTTP.
fn into_io(error: hyper::Error) -> io::Error {
    let kind = if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        io::ErrorKind::UnexpectedEof
    } else if error.is_parse() || error.is_parse_too_large() || error.is_parse_status() {
        io::ErrorKind::InvalidData
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn pre_start(url: &str) -> PreStart {
        PreStart::parse(url).expect("valid")
    }

    #[test]
    fn urls_without_a_port_go_to_ferrys_own_listener() {
        let own = Target::Tcp("127.0.0.1:4000".parse().unwrap());
        assert_eq!(own.for_url(&pre_start("/")), own);
        assert_eq!(own.for_url(&pre_start("http://foo.com/")), own);
        assert_eq!(
            own.for_url(&pre_start("http://foo.com:3500/")),
            Target::Tcp("127.0.0.1:3500".parse().unwrap())
        );
        let unix = Target::Unix("/run/ferry.sock".into());
        assert_eq!(unix.for_url(&pre_start("/")), unix);
        assert_eq!(unix.host(), "localhost");
        assert_eq!(own.host(), "127.0.0.1:4000");
    }

    /// Reads a request head from `conn`, answers `response`, and returns the request.
    async fn answer(mut conn: impl AsyncRead + AsyncWrite + Unpin, response: &str) -> String {
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        conn.write_all(response.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    }

    /// Accepts one connection and [`answer`]s it.
    async fn one_exchange(listener: TcpListener, response: &'static str) -> String {
        let (conn, _) = listener.accept().await.unwrap();
        answer(conn, response).await
    }

    #[tokio::test]
    async fn sends_head_with_the_urls_host_and_reads_the_status() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::Tcp(listener.local_addr().unwrap());
        let server = tokio::spawn(one_exchange(listener, "HTTP/1.1 200 OK\r\n\r\n"));
        let status = send(&pre_start("http://myblog.com/store?x=1"), &target).await;
        assert_eq!(status.unwrap(), "200 OK");
        assert_eq!(
            server.await.unwrap(),
            "HEAD /store?x=1 HTTP/1.1\r\nHost: myblog.com\r\nConnection: close\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn a_bare_path_is_sent_with_the_listeners_address_as_host() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(one_exchange(listener, "HTTP/1.1 404 Not Found\r\n\r\n"));
        let status = send(&pre_start("/status"), &Target::Tcp(addr)).await;
        assert_eq!(status.unwrap(), "404 Not Found");
        let request = server.await.unwrap();
        assert!(
            request.starts_with("HEAD /status HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: {addr}\r\n")),
            "{request}"
        );
    }

    #[tokio::test]
    async fn the_apps_own_reason_phrase_is_reported() {
        for (answer, expected) in [
            ("HTTP/1.1 299 Quite Fine\r\n\r\n", "299 Quite Fine"),
            ("HTTP/1.0 404 Not Found\r\n\r\n", "404 Not Found"),
            ("HTTP/1.1 599\r\n\r\n", "599"),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let target = Target::Tcp(listener.local_addr().unwrap());
            tokio::spawn(one_exchange(listener, answer));
            let status = send(&pre_start("/"), &target).await.unwrap();
            assert_eq!(status, expected, "{answer:?}");
        }
    }

    #[tokio::test]
    async fn a_non_http_answer_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::Tcp(listener.local_addr().unwrap());
        tokio::spawn(one_exchange(listener, "hello\r\n"));
        let err = send(&pre_start("/"), &target).await.expect_err("not HTTP");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn a_hang_up_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::Tcp(listener.local_addr().unwrap());
        // It reads the request first, so the close is a FIN, not a reset.
        tokio::spawn(one_exchange(listener, ""));
        let err = send(&pre_start("/"), &target).await.expect_err("no answer");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn a_unix_socket_listener_is_reached_through_its_socket() {
        let path =
            std::env::temp_dir().join(format!("ferry-pre-start-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            answer(conn, "HTTP/1.1 200 OK\r\n\r\n").await
        });
        let status = send(&pre_start("/"), &Target::Unix(path.clone())).await;
        let _ = std::fs::remove_file(&path);
        assert_eq!(status.unwrap(), "200 OK");
        let request = server.await.unwrap();
        assert!(request.contains("\r\nHost: localhost\r\n"), "{request}");
    }
}
