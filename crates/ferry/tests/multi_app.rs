//! Many apps in one Ferry (issue 6): two apps on two server names and a third on a sub-URI of
//! the first server, from one Nginx-style file, each served and each held to its own pool
//! limits, with the server's other URIs left to its own app and static files.
//!
//! - `a.test`: the WSGI stub, at most 1 process and a queue of 1. A request held open on
//!   `/stream?gate=…` keeps its only process busy, so the next request waits and the one after
//!   is turned away with 503.
//! - `b.test`: the Rack stub with `passenger_min_instances 2`: its first request leaves two
//!   processes.
//! - `a.test/sub`: the Node fixture, deployed as seed 000 §4.3 describes (regex location,
//!   `alias …$1`, `passenger_base_uri`, `passenger_app_root`, `passenger_document_root`), with
//!   an environment of its own.
//!
//! While `a.test`'s app is saturated, the other two answer at once: the limits are per app.

use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, config_user_directives, poll_until, procfs, require_program, trace_init, Ferry,
};

const LIMIT: Duration = Duration::from_secs(90);

fn config(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        r#"
http {{
    {users}
    passenger_max_pool_size 6;
    server {{
        listen 127.0.0.1:0;
        server_name a.test;
        root {d}/wsgi/public;
        passenger_enabled on;
        passenger_max_instances 1;
        passenger_max_request_queue_size 1;
        # Processes are counted by command line; a preloader would count too.
        passenger_spawn_method direct;
        location ~ ^/sub(/.*|$) {{
            alias {d}/node/public$1;
            passenger_base_uri /sub;
            passenger_app_root {d}/node;
            passenger_document_root {d}/node/public;
            passenger_enabled on;
            passenger_app_env staging;
        }}
    }}
    server {{
        listen 127.0.0.1:0;
        server_name b.test;
        root {d}/rack/public;
        passenger_enabled on;
        passenger_min_instances 2;
    }}
}}
"#,
        users = config_user_directives()
    )
}

/// The app processes under Ferry whose command line contains `needle`.
fn processes(ferry: &Ferry, needle: &str) -> usize {
    ferry
        .descendants()
        .into_iter()
        .filter(|&pid| procfs::cmdline(pid).is_some_and(|c| c.contains(needle)))
        .count()
}

#[tokio::test]
async fn three_apps_two_names_and_a_sub_uri_each_with_its_own_limits() {
    trace_init();
    require_program!("python3");
    require_program!("ruby");
    require_program!("node");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        for (fixture, name) in [
            ("wsgi-stub", "wsgi"),
            ("rack-stub", "rack"),
            ("node-test", "node"),
        ] {
            let copy = apps::copy_fixture(&apps::fixtures_dir().join(fixture)).unwrap();
            std::fs::rename(copy.path(), dir.path().join(name)).unwrap();
            std::fs::create_dir_all(dir.path().join(name).join("public")).unwrap();
        }
        std::fs::write(dir.path().join("node/public/asset.txt"), "node asset\n").unwrap();
        let file = dir.path().join("ferry.conf");
        std::fs::write(&file, config(dir.path())).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");
        let url = |path: &str| ferry.url_for(path);
        let client = Client::new();
        let a = [("host", "a.test")];
        let b = [("host", "b.test")];

        // Each name reaches its app.
        let reply = client.get_with(&url("/hello"), &a).await.unwrap();
        assert_eq!(reply.text(), "hello world");
        let wsgi_pid = client.get_with(&url("/pid"), &a).await.unwrap().text();
        let reply = client.get_with(&url("/env"), &b).await.unwrap();
        let env: serde_json::Value = serde_json::from_str(&reply.text()).unwrap();
        assert_eq!(env["SERVER_NAME"], "b.test");
        assert!(env["rack.multiprocess"].as_bool().is_some(), "{env}");

        // The sub-URI app: its own static files, its base URI, its own environment.
        let reply = client.get_with(&url("/sub/asset.txt"), &a).await.unwrap();
        assert_eq!(reply.text(), "node asset\n");
        // Node apps see the full URI (they read PASSENGER_BASE_URI themselves), so the
        // fixture's routes do not match under /sub: its own 404 shows who answered.
        let reply = client.get_with(&url("/sub/hello"), &a).await.unwrap();
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let node_pid = reply
            .header("x-pid")
            .expect("the node app answered")
            .to_owned();
        assert!(procfs::cmdline(node_pid.parse().unwrap())
            .unwrap()
            .contains("node"));
        let environ = std::fs::read(format!("/proc/{node_pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(environ.split('\0').any(|v| v == "NODE_ENV=staging"));
        assert!(environ.split('\0').any(|v| v == "PASSENGER_BASE_URI=/sub"));
        // Not a file and not under /sub: the first server's own app.
        let reply = client.get_with(&url("/subway/hello"), &a).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "wsgi's 404, not node's"
        );
        assert_eq!(reply.header("x-pid"), Some(wsgi_pid.as_str()));

        // b.test keeps two processes once started (passenger_min_instances 2).
        let two = poll_until(Duration::from_secs(30), || {
            (processes(&ferry, "RubyApp") == 2).then_some(())
        })
        .await;
        assert!(two.is_some(), "b.test has two processes");

        // a.test: one process, one queued request, then 503.
        let gate = dir.path().join("gate");
        let held = client
            .hold(
                &url(&format!("/stream?gate={}", gate.display())),
                &a,
                b"first\n",
            )
            .await
            .unwrap();
        // Two more at once: one waits in the queue (size 1), the other is turned away.
        let mut waiting = tokio::task::JoinSet::new();
        for path in ["/pid", "/pid"] {
            let (client, url) = (Client::new(), url(path));
            waiting.spawn(async move { client.get_with(&url, &[("host", "a.test")]).await });
        }
        let turned_away = waiting.join_next().await.unwrap().unwrap().unwrap();
        assert_eq!(turned_away.status, StatusCode::SERVICE_UNAVAILABLE);
        // Meanwhile the other apps answer at once.
        let reply = client.get_with(&url("/hello"), &b).await.unwrap();
        assert_eq!(reply.text(), "hello world");
        let reply = client.get_with(&url("/sub/hello"), &a).await.unwrap();
        assert_eq!(reply.header("x-pid"), Some(node_pid.as_str()));
        assert_eq!(processes(&ferry, "wsgi-loader"), 1, "max_instances 1");

        std::fs::write(&gate, "").unwrap();
        drop(held);
        let queued = waiting.join_next().await.unwrap().unwrap().unwrap();
        assert_eq!(queued.status, StatusCode::OK);
        assert_eq!(queued.text(), wsgi_pid, "served by the same single process");
    })
    .await;
}
