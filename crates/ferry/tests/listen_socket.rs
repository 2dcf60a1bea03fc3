//! `--socket PATH`: Ferry listens on a unix socket instead of TCP.

use std::time::Duration;

use ferry_test_support::client::Conn;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{apps, bounded, raw, require_program, trace_init, Ferry, Listener};

#[tokio::test]
async fn unix_socket_serves_requests() {
    trace_init();
    require_program!("node");
    bounded(Duration::from_secs(60), async {
        let dir = apps::temp_dir();
        let socket = dir.path().join("ferry.sock");
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), apps::node_test())
            .arg("--socket")
            .arg(&socket)
            .spawn()
            .await
            .expect("ferry starts");
        assert_eq!(ferry.listeners(), [Listener::Unix(socket.clone())]);

        let mut conn = Conn::unix(&socket).await.unwrap();
        for _ in 0..3 {
            let reply = conn.get("/hello").await.unwrap();
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.text(), "hello");
        }

        let reply = raw::exchange_unix(&socket, &raw::get_request("/pid"), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.head);
        let pid: u32 = String::from_utf8_lossy(&reply.body).trim().parse().unwrap();
        assert!(ferry.descendants().contains(&pid));
    })
    .await;
}
