//! Re-forking: asking a warmed worker to become its app's template (PROTOCOL.md §6.4).
//!
//! ```text
//!   Ferry                                       worker (no request in flight: the pool drained it)
//!   connect to its request socket (SO_PEERCRED: the app's uid)
//!   PROMOTE frame (session protocol) ─────────>  stops accepting requests, joins its threads,
//!                                                fires `promoted_to_template`, prepares the heap,
//!                                                listens on a new preloader socket
//!   answer line  <──────────────────────────────  {"result":"ok","socket":"unix:PATH"}
//! ```
//!
//! From then on the worker serves the preloader protocol on PATH exactly as a preloader does:
//! [`crate::preloader`] makes it the app's preloader and forks later workers from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_protocol::preloader::{answer_line, parse_promote_answer, MAX_ANSWER};
use ferry_protocol::session::promote_frame;
use ferry_protocol::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Sends the `PROMOTE` frame to the worker at `endpoint` and returns the preloader socket it
/// answers with. `owner`: the uid that must serve the worker's socket (and the template's).
/// Bounded by `timeout` as a whole.
pub(crate) async fn ask(
    endpoint: &Endpoint,
    connect_password: &str,
    owner: Option<u32>,
    timeout: Duration,
) -> Result<PathBuf, String> {
    let Endpoint::Unix(path) = endpoint else {
        return Err("the worker does not listen on a unix socket".into());
    };
    match tokio::time::timeout(timeout, talk(path, connect_password, owner)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "the worker did not answer within {} s",
            timeout.as_secs_f64()
        )),
    }
}

async fn talk(path: &Path, connect_password: &str, owner: Option<u32>) -> Result<PathBuf, String> {
    let mut stream = UnixStream::connect(path)
        .await
        .map_err(|e| format!("cannot connect to its socket {}: {e}", path.display()))?;
    if let Some(owner) = owner {
        let peer = stream
            .peer_cred()
            .map_err(|e| format!("cannot tell who serves its socket: {e}"))?
            .uid();
        if peer != owner {
            return Err(format!(
                "its socket is served by uid {peer}, not by the app's user (uid {owner})"
            ));
        }
    }
    stream
        .write_all(&promote_frame(connect_password))
        .await
        .map_err(|e| format!("cannot send the PROMOTE frame: {e}"))?;
    let mut bytes = Vec::new();
    let mut limited = (&mut stream).take(MAX_ANSWER);
    let mut buf = [0u8; 1024];
    loop {
        let n = limited
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read its answer: {e}"))?;
        bytes.extend_from_slice(&buf[..n]);
        if n == 0 || bytes.contains(&b'\n') {
            break;
        }
    }
    let line = answer_line(&bytes)?;
    match parse_promote_answer(&line)? {
        Ok(socket) => Ok(socket),
        Err(message) => Err(format!("it refused: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A worker stand-in: reads the frame, checks it, answers `answer`.
    async fn worker(answer: &'static str) -> (tempfile::TempDir, Endpoint) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut len = [0u8; 4];
            s.read_exact(&mut len).await.unwrap();
            let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut frame).await.unwrap();
            assert!(frame.starts_with(b"REQUEST_METHOD\0PROMOTE\0"));
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        (dir, Endpoint::Unix(path))
    }

    #[tokio::test]
    async fn the_answer_names_the_template_socket() {
        let (_dir, endpoint) = worker("{\"result\":\"ok\",\"socket\":\"unix:/tmp/p.1\"}\n").await;
        let me = nix::unistd::geteuid().as_raw();
        let socket = ask(&endpoint, "pw", Some(me), Duration::from_secs(5)).await;
        assert_eq!(socket.unwrap(), PathBuf::from("/tmp/p.1"));
    }

    #[tokio::test]
    async fn a_refusal_or_a_wrong_owner_is_an_error() {
        let (_dir, endpoint) = worker("{\"result\":\"error\",\"message\":\"no\"}\n").await;
        let err = ask(&endpoint, "pw", None, Duration::from_secs(5)).await;
        assert_eq!(err.unwrap_err(), "it refused: no");
        let (_dir, endpoint) = worker("{}\n").await;
        let me = nix::unistd::geteuid().as_raw();
        let err = ask(&endpoint, "pw", Some(me + 1), Duration::from_secs(5)).await;
        assert!(err.unwrap_err().contains("not by the app's user"));
    }
}
