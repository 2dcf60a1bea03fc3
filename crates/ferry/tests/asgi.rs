//! ASGI apps behind the real `ferry` binary (issue 22): FastAPI (found through its
//! `passenger_wsgi.py`; JSON, a path parameter, a dependency, a streaming response, a WebSocket
//! echo), Starlette with a lifespan that opens a resource (found as `asgi.py`), Django's ASGI
//! handler with an async view (`--startup-file mysite/asgi.py`), the three again in config mode
//! (`passenger_app_type asgi`), and the raw `asgi-stub`: a lifespan startup that
//! raises is a spawn error page with the traceback, a client that goes away mid-stream is an
//! `http.disconnect` for the app, and one process serves as many requests at once as
//! `--asgi-concurrency` says, no more.
//!
//! The frameworks come from `scripts/install-deps.sh` (pip); a test whose framework is missing
//! fails under CI and skips elsewhere (`ferry_test_support::require`).

use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::{self, Client, Reply};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{
    apps, body, bounded, config_user_directives, poll_until, require, trace_init, Ferry,
    Requirement, Signal,
};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(120);

fn fixture(name: &str) -> std::path::PathBuf {
    apps::fixtures_dir().join(name)
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", reply.text()))
}

async fn start(app: &Path, args: &[&str]) -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), app)
        .args(args)
        .spawn()
        .await
        .expect("ferry starts")
}

/// A WebSocket handshake through Ferry's upgrade path and two echoed text messages.
async fn check_websocket(ferry: &Ferry, path: &str) {
    let mut stream = tokio::net::TcpStream::connect(ferry.addr()).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}\n{}", ferry.log());
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for message in ["hello ferry", "second message"] {
        let mask = [7u8, 1, 3, 9];
        let mut frame = vec![0x81, 0x80 | message.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(message.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).await.unwrap();
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.unwrap();
        assert_eq!(header[0], 0x81, "a final text frame");
        let mut payload = vec![0u8; usize::from(header[1] & 0x7f)];
        stream.read_exact(&mut payload).await.unwrap();
        assert_eq!(payload, message.as_bytes());
    }
    // A close frame (code 1000): the app's echo loop ends with a WebSocketDisconnect.
    let mask = [0u8; 4];
    stream
        .write_all(&[0x88, 0x82, mask[0], mask[1], mask[2], mask[3], 0x03, 0xe8])
        .await
        .unwrap();
    let mut header = [0u8; 2];
    stream.read_exact(&mut header).await.unwrap();
    assert_eq!(header[0], 0x88, "the close frame is answered");
}

/// Everything the FastAPI fixture does, at `prefix` (empty, or a base URI).
async fn check_fastapi(ferry: &Ferry) {
    let client = Client::new();
    let root = client.get(&ferry.url_for("/")).await.unwrap();
    assert_eq!(
        root.status,
        StatusCode::OK,
        "{}\n{}",
        root.text(),
        ferry.log()
    );
    assert_eq!(json(&root)["message"], "Hello from FastAPI");
    assert_eq!(root.header("content-type"), Some("application/json"));

    let item = client
        .get_with(&ferry.url_for("/items/42?q=boat"), &[("x-caller", "tests")])
        .await
        .unwrap();
    assert_eq!(
        json(&item),
        serde_json::json!({"item_id": 42, "q": "boat", "caller": "tests"})
    );
    let invalid = client
        .get(&ferry.url_for("/items/forty-two"))
        .await
        .unwrap();
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);

    let post = client
        .request(client::request(
            Method::POST,
            &ferry.url_for("/items"),
            &[("content-type", "application/json")],
            body::full(r#"{"name": "ferry"}"#),
        ))
        .await
        .unwrap();
    assert_eq!(
        json(&post),
        serde_json::json!({"created": {"name": "ferry"}})
    );

    let stream = client.get(&ferry.url_for("/stream")).await.unwrap();
    assert_eq!(stream.text(), "chunk 0\nchunk 1\nchunk 2\n");
    // Streamed by the app (chunked on the wire) unless Ferry had the whole body by the time the
    // head went out, which response buffering then sends with its length (issue 16).
    let framing = (
        stream.header("transfer-encoding"),
        stream.header("content-length"),
    );
    assert!(
        matches!(framing, (Some("chunked"), None) | (None, Some("24"))),
        "{framing:?}"
    );

    check_websocket(ferry, "/ws").await;
}

#[tokio::test]
async fn fastapi_app_found_through_passenger_wsgi_py() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("fastapi")
    );
    bounded(LIMIT, async {
        let ferry = start(&fixture("fastapi"), &[]).await;
        check_fastapi(&ferry).await;
    })
    .await;
}

#[tokio::test]
async fn fastapi_app_in_config_mode() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("fastapi")
    );
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = start_config(
            dir.path(),
            "fastapi",
            "passenger_startup_file main.py:app;\n    passenger_asgi_concurrency 16;",
        )
        .await;
        check_fastapi(&ferry).await;
    })
    .await;
}

#[tokio::test]
async fn starlette_and_django_apps_in_config_mode() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("starlette"),
        Requirement::PythonModule("django")
    );
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let log = dir.path().join("lifespan.log");
        let ferry = start_config(
            dir.path(),
            "starlette",
            &format!("passenger_env_var LIFESPAN_LOG {};", log.display()),
        )
        .await;
        let client = Client::new();
        for n in 1..=2 {
            let reply = client.get(&ferry.url_for("/visit")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", ferry.log());
            let visit = json(&reply);
            assert_eq!(visit["visits"], n, "the database the lifespan opened");
            assert_eq!(visit["root_path"], "");
        }
        drop(ferry);

        let ferry = start_config(
            dir.path(),
            "django-asgi",
            "passenger_startup_file mysite/asgi.py;",
        )
        .await;
        let reply = client.get(&ferry.url_for("/hello/config/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", ferry.log());
        assert_eq!(json(&reply)["hello"], "config");
        assert_eq!(json(&reply)["async"], true);
    })
    .await;
}

/// Ferry in config mode: one server block serving the fixture `app` as `passenger_app_type
/// asgi`, with `more` directives; the config file goes into `dir`.
async fn start_config(dir: &Path, app: &str, more: &str) -> Ferry {
    let file = dir.join(format!("{app}.conf"));
    let config = format!(
        "http {{\n  {users}\n  server {{\n    listen 127.0.0.1:0;\n    \
         passenger_enabled on;\n    passenger_app_root {root};\n    \
         passenger_app_type asgi;\n    {more}\n  }}\n}}\n",
        users = config_user_directives(),
        root = fixture(app).display(),
    );
    std::fs::write(&file, config).unwrap();
    Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
        .spawn()
        .await
        .expect("ferry starts")
}

#[tokio::test]
async fn starlette_lifespan_opens_a_resource_and_closes_it_on_stop() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("starlette")
    );
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let log = dir.path().join("lifespan.log");
        let envvar = format!("LIFESPAN_LOG={}", log.display());
        let ferry = start(
            &fixture("starlette"),
            &["--envvar", &envvar, "--base-uri", "/sub"],
        )
        .await;
        let client = Client::new();
        for n in 1..=2 {
            let reply = client.get(&ferry.url_for("/sub/visit")).await.unwrap();
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{}\n{}",
                reply.text(),
                ferry.log()
            );
            let visit = json(&reply);
            assert_eq!(visit["visits"], n, "the database the lifespan opened");
            assert_eq!(visit["root_path"], "/sub");
            assert_eq!(visit["path"], "/sub/visit");
        }
        let pid = json(&client.get(&ferry.url_for("/sub/visit")).await.unwrap())["pid"].clone();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("opened {pid}\n"),
            "the lifespan startup ran once, in the process that serves"
        );
        ferry.signal(Signal::SIGTERM).unwrap();
        let status = ferry.wait_exit(Duration::from_secs(60)).await.unwrap();
        assert_eq!(status.code(), Some(0));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("opened {pid}\nclosed {pid}\n"),
            "the lifespan shutdown ran on the graceful stop\n{}",
            ferry.log()
        );
    })
    .await;
}

#[tokio::test]
async fn django_async_view_through_django_core_asgi() {
    trace_init();
    require!(
        Requirement::Program("python3"),
        Requirement::PythonModule("django")
    );
    bounded(LIMIT, async {
        let ferry = start(
            &fixture("django-asgi"),
            &[
                "--app-type",
                "asgi",
                "--startup-file",
                "mysite/asgi.py",
                "--spawn-method",
                "direct",
            ],
        )
        .await;
        let reply = Client::new()
            .get(&ferry.url_for("/hello/ferry/"))
            .await
            .unwrap();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}\n{}",
            reply.text(),
            ferry.log()
        );
        assert_eq!(
            json(&reply),
            serde_json::json!({"hello": "ferry", "path": "/hello/ferry/", "script_name": "",
                               "method": "GET", "async": true})
        );
        let missing = Client::new().get(&ferry.url_for("/nope/")).await.unwrap();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_lifespan_startup_that_raises_is_a_spawn_error_page_with_the_traceback() {
    trace_init();
    require!(Requirement::Program("python3"));
    bounded(LIMIT, async {
        let ferry = start(
            &fixture("asgi-stub"),
            &[
                "--envvar",
                "ASGI_LIFESPAN=raise",
                "--environment",
                "development",
            ],
        )
        .await;
        let reply = Client::new().get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let page = reply.text();
        for needle in [
            "lifespan startup went wrong",
            "RuntimeError",
            "Traceback",
            "asgi.py",
        ] {
            assert!(page.contains(needle), "{needle:?} not in the page:\n{page}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_client_gone_mid_stream_is_an_http_disconnect_for_the_app() {
    trace_init();
    require!(Requirement::Program("python3"));
    bounded(LIMIT, async {
        let record = apps::temp_dir();
        let envvar = format!("ASGI_RECORD_DIR={}", record.path().display());
        let ferry = start(&fixture("asgi-stub"), &["--envvar", &envvar]).await;
        for (method, id) in [(Method::GET, "get"), (Method::POST, "post")] {
            let url = ferry.url_for(&format!("/wait-disconnect?id={id}"));
            let body = if method == Method::POST {
                body::full("a body")
            } else {
                body::empty()
            };
            let response = Client::new()
                .send(client::request(method, &url, &[], body))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let mut body = response.into_body();
            let first = body.frame().await.expect("a frame").unwrap();
            assert_eq!(first.into_data().unwrap(), "first\n");
            drop(body); // the client goes away
            let file = record.path().join(format!("disconnect-{id}"));
            let seen = poll_until(Duration::from_secs(30), || {
                std::fs::read_to_string(&file)
                    .ok()
                    .filter(|t| !t.is_empty())
            })
            .await;
            assert_eq!(
                seen.as_deref(),
                Some(r#"{"type": "http.disconnect"}"#),
                "{id}\n{}",
                ferry.log()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn one_process_serves_asgi_concurrency_requests_at_once() {
    trace_init();
    require!(Requirement::Program("python3"));
    bounded(LIMIT, async {
        // The default: many at once. Five requests that each wait for all five to arrive.
        let ferry = start(&fixture("asgi-stub"), &["--max-pool-size", "1"]).await;
        let gates: Vec<_> = (0..5)
            .map(|_| {
                let url = ferry.url_for("/gate?name=five&n=5");
                tokio::spawn(async move { Client::new().get(&url).await.unwrap() })
            })
            .collect();
        let mut pids = Vec::new();
        for gate in gates {
            let reply = gate.await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            pids.push(reply.text());
        }
        pids.dedup();
        assert_eq!(pids.len(), 1, "one process answered them all: {pids:?}");
        drop(ferry);

        // --asgi-concurrency 2: with two streams open the process is full; of two more
        // requests one waits in the queue (size 1), the other is turned away.
        let ferry = start(
            &fixture("asgi-stub"),
            &[
                "--max-pool-size",
                "1",
                "--asgi-concurrency",
                "2",
                "--max-request-queue-size",
                "1",
            ],
        )
        .await;
        let mut streams = Vec::new();
        for id in ["a", "b"] {
            let url = ferry.url_for(&format!("/wait-disconnect?id={id}"));
            let response = Client::new()
                .send(client::request(Method::GET, &url, &[], body::empty()))
                .await
                .unwrap();
            let mut body = response.into_body();
            body.frame().await.expect("a frame").unwrap();
            streams.push(body);
        }
        let more: Vec<_> = (0..2)
            .map(|_| {
                let url = ferry.url_for("/hello");
                tokio::spawn(async move { Client::new().get(&url).await.unwrap().status })
            })
            .collect();
        let overflow = poll_until(Duration::from_secs(30), || {
            more.iter().any(|m| m.is_finished()).then_some(())
        })
        .await;
        assert!(overflow.is_some(), "no request was turned away");
        streams.pop(); // a stream ends: the queued request gets its turn
        let mut statuses = Vec::new();
        for m in more {
            statuses.push(m.await.unwrap().as_u16());
        }
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 503], "{}", ferry.log());
    })
    .await;
}
