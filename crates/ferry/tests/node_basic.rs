//! A Node.js app behind the real `ferry` binary: routing, forwarded headers, keep-alive, HEAD,
//! chunked responses and chunked uploads.

use std::time::Duration;

use ferry_test_support::body;
use ferry_test_support::client::{self, Client, Conn};
use ferry_test_support::http::{Method, StatusCode};
use ferry_test_support::{apps, bounded, require_program, trace_init, Ferry};

const LIMIT: Duration = Duration::from_secs(60);

async fn start_node() -> Ferry {
    Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
        .spawn()
        .await
        .expect("ferry starts")
}

#[tokio::test]
async fn node_app_answers_hello() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let reply = client::get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "hello");
        // The app's stdout reaches Ferry's log.
        ferry
            .wait_for_log("node-test ready pid=", Duration::from_secs(10))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn forwarded_headers_reach_the_app() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let host = "ferry-test.example:8080";
        let reply = Client::new()
            .get_with(&ferry.url_for("/headers?x=1"), &[("host", host)])
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let h = &json["headers"];
        assert_eq!(json["method"], "GET");
        assert_eq!(json["url"], "/headers?x=1");
        assert_eq!(h["x-forwarded-for"], "127.0.0.1", "headers: {h}");
        assert_eq!(h["x-forwarded-proto"], "http", "headers: {h}");
        assert_eq!(h["x-forwarded-host"], host, "headers: {h}");
        assert_eq!(h["host"], host, "the Host header is passed on: {h}");
    })
    .await;
}

#[tokio::test]
async fn client_ip_is_appended_to_x_forwarded_for() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let reply = Client::new()
            .get_with(
                &ferry.url_for("/headers"),
                &[("x-forwarded-for", "10.1.2.3")],
            )
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        let xff = json["headers"]["x-forwarded-for"].as_str().unwrap_or("");
        let hops: Vec<&str> = xff.split(',').map(str::trim).collect();
        assert_eq!(hops, ["10.1.2.3", "127.0.0.1"], "X-Forwarded-For: {xff:?}");
    })
    .await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let mut conn = Conn::tcp(ferry.addr()).await.unwrap();
        for path in ["/hello", "/pid", "/hello", "/chunked", "/hello"] {
            let reply = conn.get(path).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            assert!(!conn.is_closed(), "connection closed after {path}");
        }
        assert_eq!(conn.get("/hello").await.unwrap().text(), "hello");
    })
    .await;
}

#[tokio::test]
async fn head_returns_headers_without_body() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let client = Client::new();
        let reply = client.head(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("content-length"), Some("5"));
        // The connection stays usable after a HEAD.
        let reply = client.get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(reply.text(), "hello");
    })
    .await;
}

#[tokio::test]
async fn chunked_response_arrives_intact() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let reply = client::get(&ferry.url_for("/chunked")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let expected: String = (0..5).map(|i| format!("chunk-{i}\n")).collect();
        assert_eq!(reply.text(), expected);
    })
    .await;
}

#[tokio::test]
async fn chunked_upload_reaches_the_app() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let len = 3 * 1024 * 1024 + 17;
        let reply = Client::new()
            .upload(
                Method::POST,
                &ferry.url_for("/upload"),
                body::pattern(len, true),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["bytes"], len, "{json}");
        assert_eq!(json["sha256"], body::pattern_sha256(len), "{json}");
    })
    .await;
}

#[tokio::test]
async fn content_length_upload_reaches_the_app() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let len = 1024 * 1024 + 3;
        let reply = Client::new()
            .upload(
                Method::PUT,
                &ferry.url_for("/upload"),
                body::pattern(len, false),
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(json["bytes"], len, "{json}");
        assert_eq!(json["sha256"], body::pattern_sha256(len), "{json}");
    })
    .await;
}

/// Ferry keeps its connection to the app between requests instead of opening one per request
/// (Passenger closes it every time). Sequential requests must arrive on the same app connection.
#[tokio::test]
async fn connections_to_the_app_are_reused() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let client = Client::new();
        let mut ports = std::collections::BTreeSet::new();
        for _ in 0..10 {
            let reply = client.get(&ferry.url_for("/conn")).await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            ports.insert(reply.text());
        }
        assert_eq!(ports.len(), 1, "one kept connection, got ports {ports:?}");
    })
    .await;
}

/// A client that sends `Expect: 100-continue` gets `100 Continue` before it sends its body,
/// then the app's answer to the full body.
#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = start_node().await;
        let mut stream = tokio::net::TcpStream::connect(ferry.addr()).await.unwrap();
        let body = b"expect-continue-body";
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut interim = Vec::new();
        while !interim.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(
                stream.read(&mut byte).await.unwrap(),
                1,
                "closed before 100 Continue"
            );
            interim.push(byte[0]);
        }
        let interim = String::from_utf8_lossy(&interim);
        assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
        stream.write_all(body).await.unwrap();
        let mut rest = String::new();
        stream.read_to_string(&mut rest).await.unwrap();
        assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
        assert!(
            rest.contains(&format!("\"bytes\":{}", body.len())),
            "{rest}"
        );
    })
    .await;
}
