//! Ferry's own loaders behind the real `ferry` binary: a Rack, a WSGI and a Node stub app, each
//! run unmodified, answering the same endpoints (see each stub's source for its routes). Rack and
//! WSGI go through the `session` protocol, Node through HTTP.
//!
//! Every endpoint is also checked with the Rack stub wrapped in `Rack::Lint` and the WSGI stub
//! in `wsgiref.validate` (`FERRY_TEST_LINT=1`), so the environments the loaders build are valid.

use std::time::Duration;

use ferry_test_support::body;
use ferry_test_support::client::{self, Client};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::require::require;
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry, Requirement};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Rack,
    Wsgi,
    Node,
}

impl Lang {
    fn fixture(self) -> std::path::PathBuf {
        apps::fixtures_dir().join(match self {
            Lang::Rack => "rack-stub",
            Lang::Wsgi => "wsgi-stub",
            Lang::Node => "node-stub",
        })
    }

    fn program(self) -> &'static str {
        match self {
            Lang::Rack => "ruby",
            Lang::Wsgi => "python3",
            Lang::Node => "node",
        }
    }
}

/// Ferry serving `lang`'s stub, or `None` when its interpreter is missing (which fails the
/// test under CI; see `ferry_test_support::require`).
async fn start(lang: Lang, extra: &[&str]) -> Option<Ferry> {
    if !require(&[Requirement::Program(lang.program())]) {
        return None;
    }
    // check_endpoints sends a 12 KiB header line: over nginx's (and Ferry's) default 8k.
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), lang.fixture())
        .args(["--large-client-header-buffers", "4 16k"])
        .args(extra)
        .spawn()
        .await
        .expect("ferry starts");
    Some(ferry)
}

fn json(reply: &client::Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", reply.text()))
}

/// The request's variables as the app saw them, in CGI names for every language.
fn cgi(lang: Lang, reply: &client::Reply) -> serde_json::Value {
    let env = json(reply);
    if lang != Lang::Node {
        return env;
    }
    // Node sees an HTTP request: map what the test looks at.
    let mut out = serde_json::Map::new();
    out.insert("REQUEST_METHOD".into(), env["method"].clone());
    out.insert("REQUEST_URI".into(), env["url"].clone());
    if let Some(headers) = env["headers"].as_object() {
        for (k, v) in headers {
            out.insert(
                format!("HTTP_{}", k.to_uppercase().replace('-', "_")),
                v.clone(),
            );
        }
    }
    serde_json::Value::Object(out)
}

/// Every endpoint that needs no special client.
async fn check_endpoints(lang: Lang, ferry: &Ferry) {
    let client = Client::new();
    let hello = client.get(&ferry.url_for("/hello")).await.unwrap();
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.text(), "hello world");

    // Variables.
    let reply = client
        .get_with(
            &ferry.url_for("/env?a=1&b=%20x"),
            &[("x-ferry-test", "yes"), ("cookie", "c=1")],
        )
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let env = cgi(lang, &reply);
    assert_eq!(env["REQUEST_METHOD"], "GET", "{env}");
    assert_eq!(env["HTTP_X_FERRY_TEST"], "yes", "{env}");
    assert_eq!(env["HTTP_COOKIE"], "c=1", "{env}");
    if lang == Lang::Node {
        assert_eq!(env["REQUEST_URI"], "/env?a=1&b=%20x", "{env}");
    } else {
        assert_eq!(env["REQUEST_URI"], "/env?a=1&b=%20x", "{env}");
        assert_eq!(env["PATH_INFO"], "/env", "{env}");
        assert_eq!(env["SCRIPT_NAME"], "", "{env}");
        assert_eq!(env["QUERY_STRING"], "a=1&b=%20x", "{env}");
        assert_eq!(env["SERVER_NAME"], "127.0.0.1", "{env}");
        assert_eq!(env["SERVER_PORT"], ferry.addr().port().to_string(), "{env}");
        assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.1", "{env}");
        assert_eq!(env["REMOTE_ADDR"], "127.0.0.1", "{env}");
        assert!(env.get("PASSENGER_CONNECT_PASSWORD").is_none(), "{env}");
        let scheme = if lang == Lang::Rack {
            "rack.url_scheme"
        } else {
            "wsgi.url_scheme"
        };
        assert_eq!(env[scheme], "http", "{env}");
    }

    // Several cookies stay several headers.
    let reply = client.get(&ferry.url_for("/cookies")).await.unwrap();
    let cookies: Vec<_> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2", "c=3"]);

    // Bodiless statuses and HEAD.
    for code in [204, 304] {
        let reply = client
            .get(&ferry.url_for(&format!("/status/{code}")))
            .await
            .unwrap();
        assert_eq!(reply.status.as_u16(), code);
        assert!(reply.body.is_empty());
    }
    let head = client.head(&ferry.url_for("/hello")).await.unwrap();
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("11"));

    // Large headers, both ways (12 KiB in: Node's own limit is 16 KiB, nginx's default 8 KiB).
    let big = "y".repeat(12 * 1024);
    let reply = client
        .get_with(&ferry.url_for("/env"), &[("x-big", big.as_str())])
        .await
        .unwrap();
    assert_eq!(cgi(lang, &reply)["HTTP_X_BIG"], big.as_str());
    let reply = client
        .get(&ferry.url_for("/large-header?size=60000"))
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-large").map(str::len), Some(60000));

    // An exception: 500, and the backtrace in Ferry's log.
    let reply = client.get(&ferry.url_for("/error")).await.unwrap();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    ferry
        .wait_for_log("ferry-test-boom", Duration::from_secs(10))
        .await
        .expect("the exception is logged");

    // The connection to the app is reused across requests and the app keeps answering.
    for _ in 0..20 {
        let pid = client.get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(pid.status, StatusCode::OK);
    }
}

async fn check_uploads(ferry: &Ferry) {
    let client = Client::new();
    let len = 50 * 1024 * 1024;
    for chunked in [false, true] {
        let reply = client
            .upload(
                Method::POST,
                &ferry.url_for("/upload"),
                body::pattern(len, chunked),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let got = json(&reply);
        assert_eq!(got["length"], len, "chunked={chunked}: {got}");
        assert_eq!(
            got["sha256"],
            body::pattern_sha256(len),
            "chunked={chunked}"
        );
    }
}

/// The first chunk reaches the client while the app is still waiting for the gate file.
async fn check_streaming(ferry: &Ferry, path: &str) {
    let dir = apps::temp_dir();
    let gate = dir.path().join("gate");
    let url = ferry.url_for(&format!("{path}?gate={}", gate.display()));
    let response = Client::new()
        .send(client::request(Method::GET, &url, &[], body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut got = Vec::new();
    while !got.ends_with(b"first\n") {
        let frame = body.frame().await.expect("a frame").unwrap();
        if let Ok(data) = frame.into_data() {
            got.extend_from_slice(&data);
        }
    }
    assert!(
        !gate.exists(),
        "the first chunk came before the gate opened"
    );
    std::fs::write(&gate, b"").unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    got.extend_from_slice(&rest);
    assert_eq!(got, b"first\nlast\n");
}

/// A WebSocket handshake and two echoed messages over a raw connection.
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
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    for message in ["hello ferry", "second message"] {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | message.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(message.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        stream.write_all(&frame).await.unwrap();
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.unwrap();
        assert_eq!(header[0], 0x81, "a final text frame");
        let len = usize::from(header[1] & 0x7f);
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        assert_eq!(payload, message.as_bytes());
    }
    // Close: masked close frame with no payload.
    stream.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await.unwrap();
}

async fn check_base_uri(lang: Lang, extra: &[&str]) {
    let mut args = vec!["--base-uri", "/sub"];
    args.extend_from_slice(extra);
    let Some(ferry) = start(lang, &args).await else {
        return;
    };
    let client = Client::new();
    let reply = client.get(&ferry.url_for("/sub/env?x=1")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    let env = json(&reply);
    match lang {
        Lang::Node => {
            assert_eq!(env["url"], "/sub/env?x=1", "{env}");
            assert_eq!(env["base_uri"], "/sub", "{env}");
        }
        _ => {
            assert_eq!(env["SCRIPT_NAME"], "/sub", "{env}");
            assert_eq!(env["PATH_INFO"], "/env", "{env}");
            assert_eq!(env["REQUEST_URI"], "/sub/env?x=1", "{env}");
        }
    }
    let outside = client.get(&ferry.url_for("/env")).await.unwrap();
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
}

macro_rules! loader_tests {
    ($lang:expr, $module:ident) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn endpoints() {
                trace_init();
                bounded(LIMIT, async {
                    let Some(ferry) = start($lang, &[]).await else {
                        return;
                    };
                    check_endpoints($lang, &ferry).await;
                })
                .await;
            }

            #[tokio::test]
            async fn uploads_of_50_mb() {
                trace_init();
                bounded(LIMIT, async {
                    let Some(ferry) = start($lang, &[]).await else {
                        return;
                    };
                    check_uploads(&ferry).await;
                })
                .await;
            }

            #[tokio::test]
            async fn streamed_responses() {
                trace_init();
                bounded(LIMIT, async {
                    let Some(ferry) = start($lang, &[]).await else {
                        return;
                    };
                    check_streaming(&ferry, "/stream").await;
                })
                .await;
            }

            #[tokio::test]
            async fn base_uri() {
                trace_init();
                bounded(LIMIT, check_base_uri($lang, &[])).await;
            }
        }
    };
}

loader_tests!(Lang::Rack, rack);
loader_tests!(Lang::Wsgi, wsgi);
loader_tests!(Lang::Node, node);

#[tokio::test]
async fn rack_websocket_with_full_and_partial_hijack() {
    trace_init();
    bounded(LIMIT, async {
        let Some(ferry) = start(Lang::Rack, &["--max-pool-size", "2"]).await else {
            return;
        };
        check_websocket(&ferry, "/ws").await;
        check_websocket(&ferry, "/ws-partial").await;
    })
    .await;
}

#[tokio::test]
async fn rack_callable_bodies_stream() {
    trace_init();
    bounded(LIMIT, async {
        let Some(ferry) = start(Lang::Rack, &[]).await else {
            return;
        };
        check_streaming(&ferry, "/stream-callable").await;
    })
    .await;
}

#[tokio::test]
async fn node_websocket_upgrade() {
    trace_init();
    bounded(LIMIT, async {
        let Some(ferry) = start(Lang::Node, &[]).await else {
            return;
        };
        check_websocket(&ferry, "/ws").await;
    })
    .await;
}

#[tokio::test]
async fn rack_under_rack_lint() {
    trace_init();
    bounded(LIMIT, async {
        let Some(ferry) = start(Lang::Rack, &["--envvar", "FERRY_TEST_LINT=1"]).await else {
            return;
        };
        check_endpoints(Lang::Rack, &ferry).await;
        check_uploads(&ferry).await;
        check_streaming(&ferry, "/stream").await;
        check_websocket(&ferry, "/ws").await;
        check_base_uri(Lang::Rack, &["--envvar", "FERRY_TEST_LINT=1"]).await;
    })
    .await;
}

#[tokio::test]
async fn wsgi_under_wsgiref_validate() {
    trace_init();
    bounded(LIMIT, async {
        let Some(ferry) = start(Lang::Wsgi, &["--envvar", "FERRY_TEST_LINT=1"]).await else {
            return;
        };
        check_endpoints(Lang::Wsgi, &ferry).await;
        check_uploads(&ferry).await;
        check_streaming(&ferry, "/stream").await;
        let client = Client::new();
        for path in ["/write", "/file"] {
            let reply = client.get(&ferry.url_for(path)).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert!(!reply.body.is_empty(), "{path}");
        }
        check_base_uri(Lang::Wsgi, &["--envvar", "FERRY_TEST_LINT=1"]).await;
    })
    .await;
}

#[tokio::test]
async fn thread_model_serves_requests_in_parallel() {
    trace_init();
    for lang in [Lang::Rack, Lang::Wsgi] {
        bounded(LIMIT, async {
            let args = [
                "--concurrency-model",
                "thread",
                "--thread-count",
                "4",
                "--max-pool-size",
                "1",
            ];
            let Some(ferry) = start(lang, &args).await else {
                return;
            };
            // Four streams held open at once by one process: only possible with four threads.
            let dir = apps::temp_dir();
            let gate = dir.path().join("gate");
            let url = ferry.url_for(&format!("/stream?gate={}", gate.display()));
            let mut bodies = Vec::new();
            for _ in 0..4 {
                let response = Client::new()
                    .send(client::request(Method::GET, &url, &[], body::empty()))
                    .await
                    .unwrap();
                let mut body = response.into_body();
                let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
                assert_eq!(&first[..], b"first\n", "{lang:?}");
                bodies.push(body);
            }
            std::fs::write(&gate, b"").unwrap();
            for body in bodies {
                let rest = body.collect().await.unwrap().to_bytes();
                assert_eq!(&rest[..], b"last\n");
            }
        })
        .await;
    }
}

#[tokio::test]
async fn node_es_modules() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        // `"type": "module"` with top-level await, and an `.mjs` startup file: Passenger's own
        // loader `require()`s the startup file and fails on both.
        for (fixture, args, expected) in [
            ("node-esm", &[][..], "esm ok"),
            ("node-mjs", &["--startup-file", "app.mjs"][..], "mjs ok"),
        ] {
            let ferry = Ferry::new(
                env!("CARGO_BIN_EXE_ferry"),
                apps::fixtures_dir().join(fixture),
            )
            .args(args)
            .spawn()
            .await
            .expect("ferry starts");
            let reply = client::get(&ferry.url_for("/")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{fixture}: {}", ferry.log());
            assert_eq!(reply.text(), expected);
        }
    })
    .await;
}

#[tokio::test]
async fn interpreters_can_be_named() {
    trace_init();
    bounded(LIMIT, async {
        for (lang, flag) in [
            (Lang::Rack, "--ruby"),
            (Lang::Wsgi, "--python"),
            (Lang::Node, "--nodejs"),
        ] {
            if !require(&[Requirement::Program(lang.program())]) {
                continue;
            }
            let path = which(lang.program()).expect("on PATH, since it runs");
            let Some(ferry) = start(lang, &[flag, &path]).await else {
                continue;
            };
            let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{lang:?}: {}", ferry.log());
        }
    })
    .await;
}

/// The absolute path of `program` on `PATH`.
fn which(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}
