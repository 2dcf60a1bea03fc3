//! Issue 16, the connection side, end to end through the real binary: what a request head may
//! carry (`Proxy` never reaches an app, one `Host`, header limits, nginx's rules for header
//! names), the client timeouts (`client_header_timeout`, `keepalive_timeout`, `send_timeout`),
//! and the cap on client connections that keeps file descriptors for spawns.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferry_test_support::ferry::parse_listeners;
use ferry_test_support::raw::{self, RawReply};
use ferry_test_support::{
    apps, bounded, config_user_directives, require_program, trace_init, Ferry, Listener,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(120);
/// How long a raw exchange may take.
const EXCHANGE: Duration = Duration::from_secs(30);

/// The TCP listeners of `ferry`, in the order they were written, once it has printed `n` of
/// them (`spawn` returns at the first line; the others follow on their own lines).
async fn addrs(ferry: &Ferry, n: usize) -> Vec<SocketAddr> {
    let printed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let listeners = parse_listeners(&ferry.stdout());
            if listeners.len() >= n {
                return listeners;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} listeners printed: {}", ferry.stdout()));
    printed
        .iter()
        .filter_map(|l| match l {
            Listener::Tcp(addr) => Some(*addr),
            Listener::Unix(_) => None,
        })
        .collect()
}

/// `GET target` with `headers` (raw lines) and `Connection: close`.
fn get(target: &str, headers: &[String]) -> Vec<u8> {
    let mut text = format!("GET {target} HTTP/1.1\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("Connection: close\r\n\r\n");
    text.into_bytes()
}

async fn send(addr: SocketAddr, request: &[u8]) -> RawReply {
    raw::exchange(addr, request, EXCHANGE)
        .await
        .unwrap_or_else(|e| panic!("exchange with {addr}: {e}"))
}

fn json(reply: &RawReply) -> serde_json::Value {
    assert_eq!(reply.status, 200, "{}", reply.head);
    serde_json::from_slice(&reply.body).expect("JSON body")
}

/// Reads from `stream` until the server closes it (or fails), within `limit`; what was read.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection was not closed within {limit:?}"
    );
    out
}

/// Reads one response with a `Content-Length` body from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed before a whole response: {data:?}");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("Content-Length");
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_are_checked_and_cleaned_before_any_app() {
    trace_init();
    require_program!("node");
    require_program!("python3");
    bounded(LIMIT, async {
        let node = apps::copy_fixture(&apps::fixtures_dir().join("node-test")).unwrap();
        let wsgi = apps::copy_fixture(&apps::fixtures_dir().join("wsgi-stub")).unwrap();
        let dir = apps::temp_dir();
        let config = dir.path().join("ferry.conf");
        let (n, w) = (node.path().display(), wsgi.path().display());
        std::fs::write(
            &config,
            format!(
                "http {{ {users} passenger_python python3;
                    server {{ listen 127.0.0.1:0; root {n}/public; passenger_enabled on; }}
                    server {{ listen 127.0.0.2:0; root {w}/public; passenger_enabled on; }}
                    server {{ listen 127.0.0.3:0; root {n}/public; passenger_enabled on;
                              underscores_in_headers on; large_client_header_buffers 2 1k; }}
                }}",
                users = config_user_directives(),
            ),
        )
        .unwrap();
        std::fs::create_dir_all(wsgi.path().join("public")).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &config)
            .spawn()
            .await
            .expect("ferry starts");
        let [node_addr, wsgi_addr, open_addr] = addrs(&ferry, 3).await[..] else {
            panic!("three listeners: {:?}", ferry.listeners());
        };
        let headers = |host: &str| {
            vec![
                format!("Host: {host}"),
                "Proxy: http://evil.example:8080".to_owned(),
                "X_Under: 1".to_owned(),
                "X-Fine: 1".to_owned(),
            ]
        };

        // An HTTP app never sees Proxy, nor (by default) a name with `_`.
        let seen = json(&send(node_addr, &get("/headers", &headers("a"))).await);
        let seen = &seen["headers"];
        assert!(seen.get("proxy").is_none(), "{seen}");
        assert!(seen.get("x_under").is_none(), "{seen}");
        assert_eq!(seen["x-fine"], "1", "{seen}");

        // Nor does a session-protocol app, as HTTP_PROXY.
        let env = json(&send(wsgi_addr, &get("/env", &headers("b"))).await);
        assert!(env.get("HTTP_PROXY").is_none(), "{env}");
        assert!(env.get("HTTP_X_UNDER").is_none(), "{env}");
        assert_eq!(env["HTTP_X_FINE"], "1", "{env}");

        // underscores_in_headers on keeps `_` names; Proxy still goes.
        let seen = json(&send(open_addr, &get("/headers", &headers("c"))).await);
        let seen = &seen["headers"];
        assert_eq!(seen["x_under"], "1", "{seen}");
        assert!(seen.get("proxy").is_none(), "{seen}");

        // Two Host headers, or a Host against an absolute-form target: 400.
        let two_hosts = get("/headers", &["Host: a".into(), "Host: b".into()]);
        assert_eq!(send(node_addr, &two_hosts).await.status, 400);
        let absolute = get("http://a/headers", &["Host: b".into()]);
        assert_eq!(send(node_addr, &absolute).await.status, 400);
        let agreeing = get("http://a/headers", &["Host: a".into()]);
        assert_eq!(send(node_addr, &agreeing).await.status, 200);

        // A 20 KiB header line: 431 (nginx: 400); a 40 KiB head: 431; 101 headers: 431.
        let long_line = format!("X-Long: {}", "a".repeat(20 * 1024));
        let reply = send(node_addr, &get("/headers", &["Host: a".into(), long_line])).await;
        assert_eq!(reply.status, 431, "{}", reply.head);
        let big_head: Vec<String> = std::iter::once("Host: a".to_owned())
            .chain((0..6).map(|i| format!("X-Part-{i}: {}", "b".repeat(7 * 1024))))
            .collect();
        let reply = send(node_addr, &get("/headers", &big_head)).await;
        assert_eq!(reply.status, 431, "{}", reply.head);
        let many: Vec<String> = std::iter::once("Host: a".to_owned())
            .chain((0..100).map(|i| format!("X-H{i}: {i}")))
            .collect();
        let reply = send(node_addr, &get("/headers", &many)).await;
        assert_eq!(reply.status, 431, "{}", reply.head);
        let fewer = &many[..90];
        assert_eq!(send(node_addr, &get("/headers", fewer)).await.status, 200);

        // large_client_header_buffers 2 1k: a 1.5 KiB line is too long, a 3 KiB head too big,
        // and a request line over 1k is 414.
        let line = format!("X-Mid: {}", "c".repeat(1536));
        let reply = send(open_addr, &get("/headers", &["Host: c".into(), line])).await;
        assert_eq!(reply.status, 431, "{}", reply.head);
        let lines: Vec<String> = std::iter::once("Host: c".to_owned())
            .chain((0..4).map(|i| format!("X-Q{i}: {}", "d".repeat(800))))
            .collect();
        assert_eq!(send(open_addr, &get("/headers", &lines)).await.status, 431);
        let target = format!("/headers?{}", "e".repeat(1100));
        let reply = send(open_addr, &get(&target, &["Host: c".into()])).await;
        assert_eq!(reply.status, 414, "{}", reply.head);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_header_and_keepalive_timeouts_close_connections() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--client-header-timeout", "1", "--keepalive-timeout", "3"])
            .spawn()
            .await
            .expect("ferry starts");
        let addr = ferry.addr();

        // Half a head, then nothing: 408 and closed once client_header_timeout passes.
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut half, Duration::from_secs(20)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        ferry
            .wait_for_log("client_header_timeout: 408", Duration::from_secs(10))
            .await
            .expect("logged");

        // Nothing at all: closed without an answer.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(read_to_close(&mut silent, Duration::from_secs(20))
            .await
            .is_empty());

        // A kept-alive connection serves several requests (static file, then the app), then is
        // closed once it has been idle for keepalive_timeout (3 s), not client_header_timeout
        // (1 s): the two waits are distinct, as in nginx.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        for path in ["/static.txt", "/hello", "/hello"] {
            let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
            kept.write_all(request.as_bytes()).await.unwrap();
            let response = read_response(&mut kept).await;
            assert!(response.starts_with("HTTP/1.1 200"), "{response}");
            assert!(!response.to_ascii_lowercase().contains("connection: close"));
        }
        let idle = Instant::now();
        assert!(read_to_close(&mut kept, Duration::from_secs(20))
            .await
            .is_empty());
        let waited = idle.elapsed();
        assert!(
            waited >= Duration::from_millis(2900),
            "closed after {waited:?}, before keepalive_timeout"
        );

        // A later request's head is held to client_header_timeout again once it has begun:
        // half a head after a served request gets 408.
        let mut later = TcpStream::connect(addr).await.unwrap();
        later
            .write_all(b"GET /static.txt HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        assert!(read_response(&mut later).await.starts_with("HTTP/1.1 200"));
        later.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
        let answer = read_to_close(&mut later, Duration::from_secs(20)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    })
    .await;
}

/// Between two requests a kept-alive connection leaves hyper (its buffers are freed); a head
/// that arrives in pieces across that point, or a request body still coming after its response,
/// never puts the connection out of step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_stay_in_step_between_requests() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        // Request bodies streamed, so that the app can answer a POST before its body is all
        // there (buffered, the app would see nothing before the whole body).
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--request-buffering", "off"])
            .spawn()
            .await
            .expect("ferry starts");
        // The client pauses are the slow client under test, longer than the moment a
        // connection stays with hyper once idle.
        let pause = Duration::from_millis(400);

        // A second request's head in two pieces, a pause between them: served.
        let mut kept = TcpStream::connect(ferry.addr()).await.unwrap();
        kept.write_all(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
        kept.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
        tokio::time::sleep(pause).await;
        kept.write_all(b"Host: a\r\n\r\n").await.unwrap();
        let second = read_response(&mut kept).await;
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        assert!(second.ends_with("hello"), "{second}");

        // The app answers a POST before its body is all sent; the rest of the body, after a
        // pause, looks like a request: it is body, never a request of its own.
        let smuggled = b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n";
        let length = 4096;
        let mut rest = smuggled.to_vec();
        rest.resize(length - 10, b'x');
        let mut early = TcpStream::connect(ferry.addr()).await.unwrap();
        let head = format!("POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: {length}\r\n\r\n");
        early.write_all(head.as_bytes()).await.unwrap();
        early.write_all(&[b'y'; 10]).await.unwrap();
        let answer = read_response(&mut early).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(pause).await;
        // The connection may have been closed meanwhile (the body was no longer wanted).
        let _ = early.write_all(&rest).await;
        let _ = early.write_all(&raw::get_request("/hello")).await;
        let after = read_to_close(&mut early, Duration::from_secs(20)).await;
        let after = String::from_utf8_lossy(&after);
        assert!(
            !after.contains("httpVersion"),
            "a body became a request: {after}"
        );
    })
    .await;
}

/// In config mode a connection takes its settings from the default server of the address it
/// came to, as in nginx (they are needed before a request names its server), and
/// `worker_connections` caps client connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_mode_connections_follow_the_default_server_of_their_address() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let node = apps::copy_fixture(&apps::fixtures_dir().join("node-test")).unwrap();
        let dir = apps::temp_dir();
        let config = dir.path().join("ferry.conf");
        let n = node.path().display();
        std::fs::write(
            &config,
            format!(
                "events {{ worker_connections 50; }}
                http {{ {users}
                    server {{ listen 127.0.0.1:0; server_name a.test; root {n}/public;
                              passenger_enabled on; keepalive_timeout 1s; }}
                    server {{ listen 127.0.0.1:0; server_name b.test; root {n}/public;
                              passenger_enabled on; keepalive_timeout 60s; }}
                }}",
                users = config_user_directives(),
            ),
        )
        .unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &config)
            .spawn()
            .await
            .expect("ferry starts");
        ferry
            .wait_for_log("client connections at most max=50", Duration::from_secs(5))
            .await
            .expect("worker_connections is the cap");

        // Both servers `listen 127.0.0.1:0`: one socket, a.test its default server.
        // A request for b.test, on a connection to the address whose default server is a.test:
        // the idle connection closes after a.test's keepalive_timeout (1 s), not b.test's (60 s).
        let mut kept = TcpStream::connect(ferry.addr()).await.unwrap();
        kept.write_all(b"GET /hello HTTP/1.1\r\nHost: b.test\r\n\r\n")
            .await
            .unwrap();
        let response = read_response(&mut kept).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let idle = Instant::now();
        assert!(read_to_close(&mut kept, Duration::from_secs(20))
            .await
            .is_empty());
        let waited = idle.elapsed();
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(20),
            "closed after {waited:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_timeout_0_serves_one_request_per_connection() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--keepalive-timeout", "0"])
            .spawn()
            .await
            .expect("ferry starts");
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        stream
            .write_all(b"GET /static.txt HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut stream, Duration::from_secs(20)).await;
        let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(answer.starts_with("http/1.1 200"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_timeout_closes_a_client_that_stops_reading() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .args(["--send-timeout", "1"])
            .spawn()
            .await
            .expect("ferry starts");
        const BYTES: usize = 256 * 1024 * 1024;
        let mut stream = TcpStream::connect(ferry.addr()).await.unwrap();
        let request = format!("GET /download?bytes={BYTES} HTTP/1.1\r\nHost: a\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        // The client reads nothing: once Ferry has filled the socket, it waits send_timeout.
        ferry
            .wait_for_log("within send_timeout: closed", Duration::from_secs(60))
            .await
            .expect("send_timeout logged");
        let received = read_to_close(&mut stream, Duration::from_secs(60)).await;
        assert!(
            received.len() < BYTES,
            "the connection was closed before the whole response ({} bytes)",
            received.len()
        );
        // Ferry and the app go on serving.
        let reply = send(ferry.addr(), &raw::get_request("/hello")).await;
        assert_eq!(reply.status, 200);
    })
    .await;
}

/// With `ulimit -n 256` and 400 idle client sockets, a first request to an app that has not
/// started yet still spawns it and gets 200: the cap on client connections (half the limit)
/// closes the longest idle ones for new ones and leaves descriptors for the spawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_at_a_low_fd_limit_never_make_a_spawn_fail() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let wrapper = dir.path().join("ferry-ulimit-256");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nulimit -n 256 || exit 1\nexec {} \"$@\"\n",
                env!("CARGO_BIN_EXE_ferry")
            ),
        )
        .unwrap();
        let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&wrapper, executable).unwrap();
        let ferry = Ferry::new(&wrapper, apps::node_test())
            .spawn()
            .await
            .expect("ferry starts");
        ferry
            .wait_for_log("client connections at most max=128", Duration::from_secs(5))
            .await
            .expect("the cap is half of 256");
        let mut idle = Vec::new();
        for _ in 0..400 {
            idle.push(TcpStream::connect(ferry.addr()).await.expect("connect"));
        }
        let reply = send(ferry.addr(), &raw::get_request("/hello")).await;
        assert_eq!(reply.status, 200, "{}", reply.head);
        assert_eq!(reply.body, b"hello");
        assert!(
            !ferry.log().contains("Too many open files"),
            "{}",
            ferry.log()
        );
        drop(idle);
    })
    .await;
}
