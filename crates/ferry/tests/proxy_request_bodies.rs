//! Request bodies behind the real `ferry` binary and real apps (issue 16, request side):
//! buffered before a process is chosen, so that slow, broken, oversized or abandoned uploads
//! never hold one or reach an app; `client_body_timeout` between two reads; bodies beyond the
//! memory buffer through an unlinked temp file; buffering off streaming bodies to the app as
//! they arrive; a buffered body replayed on another process.
//!
//! The fixture apps' `POST /consume?record=FILE` writes down in FILE how its body went
//! (`arrived`, `first-byte`, `complete N SHA256`, or `error ...`). With `--max-pool-size 1` and
//! one request per process at a time, a later request's answer proves that an earlier one would
//! have written its `arrived` by then: "the app saw nothing" is a file that does not exist
//! after a later request, never a wait. Uploads are raw bytes on a TCP connection
//! ([`ferry_test_support::raw`] style), so a test can stop, trickle or cut them; the trickle is a
//! timed write loop, and nothing waits for time to pass to synchronise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_test_support::client::{self, Client};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::raw::{self, RawReply};
use ferry_test_support::record::{consume_head, record_lines, wait_record};
use ferry_test_support::{apps, body, bounded, poll_until, require_program, trace_init, Ferry};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(90);
/// How long a test waits for something Ferry or an app does promptly.
const PROMPT: Duration = Duration::from_secs(20);

async fn start(app: &str, args: &[&str]) -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::fixtures_dir().join(app))
        .args(["--spawn-method", "direct"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts")
}

/// A complete, small upload to `/consume` through Ferry: when it is answered, every earlier
/// request to the one process has been through the app (see the module doc).
async fn consume_through(ferry: &Ferry, dir: &Path) {
    let record = dir.join("later");
    let url = ferry.url_for(&format!("/consume?record={}", record.display()));
    let reply = Client::new()
        .request(client::request(
            Method::POST,
            &url,
            &[],
            body::full(&b"later"[..]),
        ))
        .await
        .expect("a later upload");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(record_lines(&record)[0], "arrived");
}

/// Reads what Ferry sends until it closes the connection (bounded), as a response.
async fn read_reply(stream: &mut TcpStream) -> RawReply {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(PROMPT, stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "no end of the response within {PROMPT:?}");
    raw::parse(&buf).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&buf)))
}

fn sha256_hex(data: &[u8]) -> String {
    ferry_test_support::hex(&Sha256::digest(data))
}

// === Buffered (the default) ===

/// Six uploads trickling one byte a second against two processes: a normal request is answered
/// at once, and `--max-request-time` kills nothing, since no upload holds a process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_uploads_never_hold_a_process() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            "rack-stub",
            &["--max-pool-size", "2", "--max-request-time", "1"],
        )
        .await;
        let dir = apps::temp_dir();
        let client = Client::new();
        let pid = client.get(&ferry.url_for("/pid")).await.unwrap().text();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut trickles = Vec::new();
        for i in 0..6 {
            let head = consume_head(
                &dir.path().join(format!("t{i}")),
                "Content-Length: 1000000\r\n",
            );
            let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            let sent = Arc::clone(&sent);
            trickles.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if stream.write_all(b"x").await.is_err() {
                        return;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        poll_until(PROMPT, || (sent.load(Ordering::Relaxed) >= 6).then_some(()))
            .await
            .expect("the trickles run");
        let asked = Instant::now();
        let reply = client.get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "a GET beside six trickling uploads took {:?}",
            asked.elapsed()
        );
        // Past max_request_time twice over: still the same process, nothing stopped.
        poll_until(PROMPT, || {
            (sent.load(Ordering::Relaxed) >= 18).then_some(())
        })
        .await
        .expect("the trickles go on");
        assert_eq!(
            client.get(&ferry.url_for("/pid")).await.unwrap().text(),
            pid
        );
        assert!(
            !ferry.log().contains("max_request_time"),
            "a process was stopped:\n{}",
            ferry.log()
        );
        let reached: Vec<_> = (0..6)
            .filter(|i| dir.path().join(format!("t{i}")).exists())
            .collect();
        assert!(reached.is_empty(), "uploads {reached:?} reached the app");
        for trickle in trickles {
            trickle.abort();
        }
    })
    .await;
}

/// An upload that stops sending gets 408 once `client_body_timeout` passes with nothing read,
/// and its connection is closed; buffered, the app never sees it.
#[tokio::test]
async fn an_upload_that_stops_gets_408_after_client_body_timeout() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            "rack-stub",
            &["--max-pool-size", "1", "--client-body-timeout", "1"],
        )
        .await;
        let dir = apps::temp_dir();
        let record = dir.path().join("stopped");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = consume_head(&record, "Content-Length: 1000\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 10]).await.unwrap();
        let stopped = Instant::now();
        let reply = read_reply(&mut stream).await;
        assert_eq!(reply.status, 408, "{}", reply.head);
        assert!(
            stopped.elapsed() >= Duration::from_secs(1),
            "{:?}",
            stopped.elapsed()
        );
        assert!(reply
            .head
            .to_ascii_lowercase()
            .contains("connection: close"));
        // The log line may be written just after the answer.
        ferry
            .wait_for_log("client_body_timeout", Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", ferry.log()));
        consume_through(&ferry, dir.path()).await;
        assert!(!record.exists(), "the app saw {:?}", record_lines(&record));
    })
    .await;
}

/// A chunked body over `client_max_body_size` gets 413 before the app sees any of it, and so
/// does a `Content-Length` over it; a body cut short by a close, and a malformed chunk (400),
/// never reach the app either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_oversized_bodies_never_reach_the_app() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            "rack-stub",
            &["--max-pool-size", "1", "--client-max-body-size", "20m"],
        )
        .await;
        let dir = apps::temp_dir();

        // 30 MiB chunked, written while the answer is read.
        let record = dir.path().join("chunked");
        let stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let head = consume_head(&record, "Transfer-Encoding: chunked\r\n");
        let writer = tokio::spawn(async move {
            write.write_all(head.as_bytes()).await?;
            let piece = vec![b'x'; 64 * 1024];
            let framed = [
                format!("{:x}\r\n", piece.len()).into_bytes(),
                piece,
                b"\r\n".to_vec(),
            ]
            .concat();
            for _ in 0..(30 * 16) {
                write.write_all(&framed).await?;
            }
            write.write_all(b"0\r\n\r\n").await
        });
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(PROMPT, read.read_to_end(&mut buf)).await;
        let reply = raw::parse(&buf).expect("an answer");
        assert_eq!(reply.status, 413, "{}", reply.head);
        let _ = writer.await;

        // 30 MiB announced.
        let announced = dir.path().join("announced");
        let head = consume_head(&announced, &format!("Content-Length: {}\r\n", 30 << 20));
        let reply = raw::exchange(ferry.addr(), head.as_bytes(), PROMPT)
            .await
            .unwrap();
        assert_eq!(reply.status, 413, "{}", reply.head);

        // 500 of 1000 bytes, then a close.
        let cut = dir.path().join("cut");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream
            .write_all(consume_head(&cut, "Content-Length: 1000\r\n").as_bytes())
            .await
            .unwrap();
        stream.write_all(&[b'x'; 500]).await.unwrap();
        drop(stream);

        // A bad chunk size.
        let bad = dir.path().join("bad");
        let request = [
            consume_head(&bad, "Transfer-Encoding: chunked\r\n").as_bytes(),
            b"5\r\nhello\r\nzz\r\nnope\r\n0\r\n\r\n",
        ]
        .concat();
        let reply = raw::exchange(ferry.addr(), &request, PROMPT).await.unwrap();
        assert_eq!(reply.status, 400, "{}", reply.head);

        consume_through(&ferry, dir.path()).await;
        for record in [&record, &announced, &cut, &bad] {
            assert!(!record.exists(), "the app saw {:?}", record_lines(record));
        }
    })
    .await;
}

/// The open descriptors of `pid` that lead into `dir`.
fn open_files_in(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}

/// A body longer than `client_body_buffer_size` reaches the app whole, through a temp file in
/// the data buffer directory that has no name while Ferry holds it and is gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_beyond_the_buffer_reaches_the_app_whole_through_an_unlinked_temp_file() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let buffers = apps::temp_dir();
        let dir = buffers.path().join("bodies");
        let ferry = start(
            "rack-stub",
            &[
                "--max-pool-size",
                "1",
                "--data-buffer-dir",
                dir.to_str().unwrap(),
            ],
        )
        .await;
        let records = apps::temp_dir();
        let record = records.path().join("large");
        let data: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = consume_head(&record, &format!("Content-Length: {}\r\n", data.len()));
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&data[..512 * 1024]).await.unwrap();
        let held = poll_until(PROMPT, || {
            let open = open_files_in(ferry.pid(), &dir);
            (!open.is_empty()).then_some(open)
        })
        .await
        .expect("Ferry holds a temp file in the data buffer directory");
        assert!(
            held.iter()
                .all(|p| p.to_string_lossy().ends_with("(deleted)")),
            "unlinked: {held:?}"
        );
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "no name in {dir:?}"
        );
        assert!(!record.exists(), "the app saw the body before its end");
        stream.write_all(&data[512 * 1024..]).await.unwrap();
        let reply = read_reply_of(&mut stream).await;
        assert_eq!(reply.status, 200, "{}", reply.head);
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["sha256"], sha256_hex(&data).as_str(), "{json}");
        poll_until(PROMPT, || {
            open_files_in(ferry.pid(), &dir).is_empty().then_some(())
        })
        .await
        .expect("the temp file is closed once the request is done");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    })
    .await;
}

/// Reads one response with a `Content-Length` (the connection stays open).
async fn read_reply_of(stream: &mut TcpStream) -> RawReply {
    let mut buf = Vec::new();
    let complete = |buf: &[u8]| {
        let text = String::from_utf8_lossy(buf);
        let end = text.find("\r\n\r\n")?;
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })?
            .parse()
            .ok()?;
        (buf.len() >= end + 4 + length).then_some(())
    };
    while complete(&buf).is_none() {
        let mut piece = [0u8; 64 * 1024];
        let n = tokio::time::timeout(PROMPT, stream.read(&mut piece))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&piece[..n]);
    }
    raw::parse(&buf).unwrap()
}

/// A buffered body is sent again on another process when the first cannot be reached: its
/// socket is gone, the process leaves the pool, a new one gets the body whole.
#[tokio::test]
async fn a_buffered_body_is_replayed_on_another_process_when_a_connect_fails() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start("rack-stub", &["--max-pool-size", "1"]).await;
        let client = Client::new();
        let first = client.get(&ferry.url_for("/pid")).await.unwrap().text();
        let socket = listening_socket(first.trim().parse().unwrap())
            .expect("the app process listens on a unix socket");
        std::fs::remove_file(&socket).unwrap();

        let dir = apps::temp_dir();
        let record = dir.path().join("replayed");
        let data = vec![b'r'; 200 * 1024];
        let url = ferry.url_for(&format!("/consume?record={}", record.display()));
        let reply = client
            .request(client::request(
                Method::POST,
                &url,
                &[],
                body::full(data.clone()),
            ))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["sha256"], sha256_hex(&data).as_str());
        let second = client.get(&ferry.url_for("/pid")).await.unwrap().text();
        assert_ne!(first, second, "served by a new process");
    })
    .await;
}

/// The path of the unix socket `pid` listens on (its app socket in Ferry's runtime directory),
/// from its descriptors and `/proc/net/unix`.
fn listening_socket(pid: u32) -> Option<PathBuf> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.ok()?.path()).ok()?;
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    table.lines().skip(1).find_map(|line| {
        // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000: listening.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let listening = u32::from_str_radix(fields.get(3)?, 16).ok()? & 0x10000 != 0;
        let path = fields.get(7)?;
        (listening && inodes.iter().any(|i| i == fields[6]) && path.starts_with('/'))
            .then(|| PathBuf::from(path))
    })
}

// === Buffering off ===

/// With `--request-buffering off` the app reads the body as it arrives: its first byte is in
/// the app before the client has sent the rest.
#[tokio::test]
async fn with_buffering_off_the_app_sees_the_body_as_it_arrives() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start("node-stub", &["--request-buffering", "off"]).await;
        let dir = apps::temp_dir();
        let record = dir.path().join("streamed");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = consume_head(&record, "Content-Length: 10\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let lines = wait_record(&record, "first-byte", PROMPT).await;
        assert_eq!(lines, ["arrived", "first-byte"]);
        stream.write_all(b"world").await.unwrap();
        let reply = read_reply_of(&mut stream).await;
        assert_eq!(reply.status, 200, "{}", reply.head);
        let done = wait_record(&record, "complete", PROMPT).await;
        assert_eq!(
            done[2],
            format!("complete 10 {}", sha256_hex(b"helloworld"))
        );
    })
    .await;
}

/// With buffering off, an upload that stops still gets 408 after `client_body_timeout`, and the
/// app, which was reading it, sees an error rather than a short body.
#[tokio::test]
async fn with_buffering_off_a_stopped_upload_gets_408_and_the_app_an_error() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start(
            "rack-stub",
            &["--request-buffering", "off", "--client-body-timeout", "1"],
        )
        .await;
        let dir = apps::temp_dir();
        let record = dir.path().join("stopped");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = consume_head(&record, "Content-Length: 1000\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 10]).await.unwrap();
        let reply = read_reply(&mut stream).await;
        assert_eq!(reply.status, 408, "{}", reply.head);
        let lines = wait_record(&record, "error", PROMPT).await;
        assert!(
            lines.iter().any(|l| l.contains("ClientDisconnected")),
            "{lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.starts_with("complete")),
            "{lines:?}"
        );
    })
    .await;
}

/// The same settings from a configuration file: `passenger_request_buffering off` and nginx's
/// `client_body_timeout` with its time syntax, in a server block.
#[tokio::test]
async fn a_configuration_file_sets_buffering_and_the_body_timeout() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let app = apps::copy_fixture(&apps::fixtures_dir().join("rack-stub")).unwrap();
        std::fs::create_dir_all(app.path().join("public")).unwrap();
        let dir = apps::temp_dir();
        let file = dir.path().join("ferry.conf");
        let config = format!(
            "http {{ {users} server {{ listen 127.0.0.1:0; root {root}/public; \
             passenger_enabled on; passenger_spawn_method direct; \
             passenger_request_buffering off; client_body_timeout 1s; }} }}",
            users = ferry_test_support::config_user_directives(),
            root = app.path().display(),
        );
        std::fs::write(&file, config).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");
        let record = dir.path().join("stopped");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = consume_head(&record, "Content-Length: 1000\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 10]).await.unwrap();
        let reply = read_reply(&mut stream).await;
        assert_eq!(reply.status, 408, "{}", reply.head);
        // Streamed: the app was reading it, and saw it cut.
        let lines = wait_record(&record, "error", PROMPT).await;
        assert!(
            lines.iter().any(|l| l.contains("ClientDisconnected")),
            "{lines:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_body_sent_whole_before_reading_still_gets_its_answer() {
    // Ferry answers 413 from the head; the client, like curl without `Expect`, sends the whole
    // body before it reads. A close with the body unread would make the kernel reset the
    // connection and the client would lose the 413: Ferry's lingering close reads and drops the
    // rest first.
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let ferry = start("rack-stub", &["--client-max-body-size", "1m"]).await;
        let dir = apps::temp_dir();
        let record = dir.path().join("refused");
        let size = 4 << 20;
        let head = consume_head(&record, &format!("Content-Length: {size}\r\n"));
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let piece = vec![b'x'; 64 * 1024];
        for _ in 0..(size / piece.len()) {
            stream
                .write_all(&piece)
                .await
                .expect("Ferry reads the body it refused");
        }
        let reply = read_reply(&mut stream).await;
        assert_eq!(reply.status, 413, "{}", reply.head);
        assert!(reply
            .head
            .to_ascii_lowercase()
            .contains("connection: close"));
        consume_through(&ferry, dir.path()).await;
        assert!(!record.exists(), "the app saw {:?}", record_lines(&record));
    })
    .await;
}
