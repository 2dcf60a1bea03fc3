//! Issue 16, response side: a response travels back without holding its app process. The app's
//! response is read as fast as the app writes it (a client slower than the app gets the rest
//! from memory, then from an unlinked temp file), the process is free the moment the app has
//! finished; streamed responses still stream, and `--buffer-response` holds them back; a stalled
//! app is cut off by `--app-read-timeout`; a quiet WebSocket by `--websocket-idle-timeout`; bytes
//! an app writes past its Content-Length never reach another client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_test_support::body::pattern_sha256;
use ferry_test_support::client::{request, Client};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::raw::get_request;
use ferry_test_support::{apps, bounded, hex, poll_until, require_program, trace_init, Ferry};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(240);
const BIG: u64 = 50 * 1024 * 1024;

fn rack_response() -> PathBuf {
    apps::fixtures_dir().join("rack-response")
}

/// `ferry status --format json` of the Ferry whose registry is `registry`.
async fn status_json(registry: &Path) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["status", "--format", "json", "--instance-registry-dir"])
        .arg(registry)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The sessions of every process `ferry status` lists.
fn sessions(status: &serde_json::Value) -> Vec<u64> {
    status["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["processes"].as_array().unwrap())
        .map(|p| p["sessions"].as_u64().unwrap())
        .collect()
}

/// A connection whose receive buffer is small, so that Ferry's writes to it block early.
async fn small_window(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads a response head, byte by byte (nothing of the body is consumed).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Ferry's open files under `dir` (an unlinked temp file shows as `DIR/#INODE (deleted)`).
fn open_files_under(pid: u32, dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .map(|target| target.display().to_string())
                .filter(|target| target.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The regular files directly in `dir`.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_hold_the_process() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let (buffers, registry) = (apps::temp_dir(), apps::temp_dir());
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), rack_response())
            .args(["--max-pool-size", "1", "--instance-registry-dir"])
            .arg(registry.path())
            .arg("--data-buffer-dir")
            .arg(buffers.path())
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let pid = client.get(&ferry.url_for("/pid")).await.unwrap().text();

        // A client that reads 1 KiB a second.
        let mut slow = small_window(ferry.addr()).await;
        let path = format!("/big?bytes={BIG}");
        slow.write_all(&get_request(&path)).await.unwrap();
        let head = read_head(&mut slow).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut piece = [0u8; 1024];
        let written =
            ferry.wait_for_log("rack-response: big body written", Duration::from_secs(120));
        tokio::pin!(written);
        let app_done = loop {
            tokio::select! {
                done = &mut written => {
                    done.expect("the app finishes writing while the client reads 1 KiB/s");
                    break Instant::now();
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    let n = slow.read(&mut piece).await.unwrap();
                    hasher.update(&piece[..n]);
                    got += n as u64;
                }
            }
        };
        assert!(got < 1024 * 1024, "the client had read only {got} bytes");

        // The process is free within 1 s of the app finishing...
        let mut free = false;
        while !free && app_done.elapsed() < Duration::from_secs(1) {
            free = sessions(&status_json(registry.path()).await) == [0];
        }
        assert!(
            free,
            "ferry status still shows a session: {}",
            status_json(registry.path()).await
        );
        // ...and serves another request while the download goes on.
        let other = client.get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(other.status, StatusCode::OK);
        assert_eq!(other.text(), pid, "the same (only) process answers");
        // The rest waits in an unlinked temp file in the buffer directory.
        let open = open_files_under(ferry.pid(), buffers.path());
        assert!(
            open.iter().any(|f| f.ends_with("(deleted)")),
            "no unlinked temp file open: {open:?}"
        );
        assert_eq!(files_in(buffers.path()), Vec::<PathBuf>::new());

        // The client gets every byte (read fast from here on).
        let mut rest = vec![0u8; 256 * 1024];
        while got < BIG {
            let n = slow.read(&mut rest).await.unwrap();
            assert!(n > 0, "connection closed after {got} bytes");
            hasher.update(&rest[..n]);
            got += n as u64;
        }
        assert_eq!(got, BIG);
        assert_eq!(hex(&hasher.finalize()), pattern_sha256(BIG));
        drop(slow);
        let closed = poll_until(Duration::from_secs(10), || {
            open_files_under(ferry.pid(), buffers.path())
                .is_empty()
                .then_some(())
        })
        .await;
        assert!(closed.is_some(), "the temp file stays open");
        assert_eq!(files_in(buffers.path()), Vec::<PathBuf>::new());
    })
    .await;
}

/// When each piece of `path`'s body arrived, after the response head.
async fn arrivals(ferry: &Ferry, path: &str) -> (Vec<Duration>, String) {
    let client = Client::new();
    let response = client
        .send(request(
            Method::GET,
            &ferry.url_for(path),
            &[],
            ferry_test_support::body::empty(),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let start = Instant::now();
    let mut body = response.into_body();
    let (mut times, mut text) = (Vec::new(), String::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            times.push(start.elapsed());
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    (times, text)
}

fn pieces(n: usize) -> String {
    (0..n).map(|i| format!("piece {i}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_pieces_arrive_one_by_one_unless_the_response_is_buffered() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), rack_response())
            .spawn()
            .await
            .expect("ferry starts");
        let (times, text) = arrivals(&ferry, "/stream?n=10&gap=0.1").await;
        assert_eq!(text, pieces(10));
        assert_eq!(times.len(), 10, "one piece at a time: {times:?}");
        // Spread over the app's 0.9 s, each about 100 ms after the one before.
        let spread = times[9] - times[0];
        assert!(spread >= Duration::from_millis(800), "{times:?}");
        let gaps = times
            .windows(2)
            .filter(|w| w[1] - w[0] >= Duration::from_millis(50));
        assert!(gaps.count() >= 8, "{times:?}");
        drop(ferry);

        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), rack_response())
            .arg("--buffer-response")
            .spawn()
            .await
            .expect("ferry starts");
        let (times, text) = arrivals(&ferry, "/stream?n=10&gap=0.1").await;
        assert_eq!(text, pieces(10));
        let spread = *times.last().unwrap() - times[0];
        assert!(spread < Duration::from_millis(50), "all at once: {times:?}");
        assert!(
            times[0] >= Duration::from_millis(800),
            "nothing before the app has finished: {times:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_stalls_is_cut_off_by_the_app_read_timeout() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), rack_response())
            .args(["--max-pool-size", "1", "--app-read-timeout", "1"])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let first_pid = client.get(&ferry.url_for("/pid")).await.unwrap().text();

        // The head and 10 bytes, then nothing: the client's connection is closed.
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream.write_all(&get_request("/stall")).await.unwrap();
        let started = Instant::now();
        let mut all = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all));
        let _ = read.await.expect("the connection closes");
        let waited = started.elapsed();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("\r\n\r\n0123456789"), "{text:?}");
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
        ferry
            .wait_for_log(
                "(passenger_read_timeout) in the middle of a response",
                Duration::from_secs(5),
            )
            .await
            .expect("the stall is logged");
        // The stalled process is replaced.
        let after = client.get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(after.status, StatusCode::OK);
        assert_ne!(after.text(), first_pid);

        // No head at all within the limit: 504.
        let reply = client
            .get(&ferry.url_for("/slow-head?secs=30"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
        ferry
            .wait_for_log(
                "no response head from the app within 1s",
                Duration::from_secs(5),
            )
            .await
            .expect("the 504 is logged");
        let last = client.get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(last.status, StatusCode::OK);
        assert_ne!(last.text(), after.text(), "replaced again");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_app_that_stalls_mid_body_is_cut_off_too() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("node-response"),
        )
        .args(["--app-read-timeout", "1"])
        .spawn()
        .await
        .expect("ferry starts");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream.write_all(&get_request("/stall")).await.unwrap();
        let mut all = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all));
        let _ = read.await.expect("the connection closes");
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("0123456789"), "{text:?}");
    })
    .await;
}

/// GET `path` (an `/overrun`) then `/pid`, each on a new connection, `rounds` times: the second
/// never sees what the app wrote past the first's Content-Length.
async fn check_overrun(ferry: &Ferry, path: &str, rounds: usize) {
    let client = Client::new();
    let pid = client.get(&ferry.url_for("/pid")).await.unwrap().text();
    for round in 0..rounds {
        let fresh = Client::new();
        let first = fresh.get(&ferry.url_for(path)).await.unwrap();
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.text(), "hello", "round {round}");
        let next = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(next.status, StatusCode::OK, "round {round}");
        assert_eq!(next.text(), pid, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rack_body_longer_than_its_content_length_never_reaches_the_next_client() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), rack_response())
            .args(["--max-pool-size", "1"])
            .spawn()
            .await
            .expect("ferry starts");
        check_overrun(&ferry, "/overrun", 20).await;
        // The excess comes while the next request is already on its way.
        check_overrun(&ferry, "/overrun?late=0.2", 3).await;
        // The loader's warning reaches Ferry's log through its output pipe, maybe a little later.
        ferry
            .wait_for_log("the excess is dropped", Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", ferry.log()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_body_longer_than_its_content_length_never_reaches_the_next_client() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("node-response"),
        )
        .spawn()
        .await
        .expect("ferry starts");
        check_overrun(&ferry, "/overrun", 20).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_websocket_is_closed_after_the_idle_timeout() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("rack-stub"),
        )
        .args(["--max-pool-size", "1", "--websocket-idle-timeout", "1"])
        .spawn()
        .await
        .expect("ferry starts");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n\
                  Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            )
            .await
            .unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let opened = Instant::now();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest));
        let _ = read.await.expect("Ferry closes the quiet WebSocket");
        assert!(opened.elapsed() >= Duration::from_millis(900));
        ferry
            .wait_for_log("passenger_websocket_idle_timeout", Duration::from_secs(5))
            .await
            .expect("the close is logged");
        // The process the WebSocket held serves again.
        let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
}
