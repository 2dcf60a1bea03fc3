//! The in-process harness (`ferry_test_support::in_process`): Ferry started inside the test
//! process serves what `ferry start` would, with `ferry start`'s configuration precedence, logs
//! to a log of its own, and leaves nothing behind when it shuts down.

use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::in_process::Ferry;
use ferry_test_support::{apps, bounded, procfs, require_program, trace_init};

const LIMIT: Duration = Duration::from_secs(60);

async fn app_pid(client: &Client, ferry: &Ferry) -> u32 {
    let reply = client.get(&ferry.url_for("/pid")).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", ferry.log());
    reply.text().trim().parse().expect("a pid")
}

#[tokio::test]
async fn serves_an_app_and_reaps_it_at_shutdown() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("node-stub"),
        )
        .start()
        .await
        .expect("ferry starts");
        assert!(ferry.addr().ip().is_loopback(), "{:?}", ferry.listeners());
        let instance = ferry.instance_dir().to_owned();
        assert!(instance.join("properties.json").is_file(), "{instance:?}");
        let client = Client::new();
        let hello = client.get(&ferry.url_for("/hello")).await.unwrap();
        assert_eq!(hello.status, StatusCode::OK);
        assert_eq!(hello.text(), "hello world");
        let pid = app_pid(&client, &ferry).await;
        assert!(procfs::process_exists(pid));
        ferry
            .shutdown(Duration::from_secs(5), Duration::from_secs(30))
            .await
            .expect("a graceful shutdown");
        // Stopped and reaped (not even a zombie), and the instance directory removed.
        assert!(
            !procfs::process_exists(pid),
            "app process {pid} left behind"
        );
        assert!(!instance.exists(), "{instance:?} left behind");
    })
    .await;
}

#[tokio::test]
async fn dropping_it_stops_its_apps() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let ferry = Ferry::new(
            env!("CARGO_BIN_EXE_ferry"),
            apps::fixtures_dir().join("node-stub"),
        )
        .start()
        .await
        .expect("ferry starts");
        let pid = app_pid(&Client::new(), &ferry).await;
        drop(ferry);
        assert!(
            !procfs::process_exists(pid),
            "app process {pid} left behind"
        );
    })
    .await;
}

/// Options over the environment over the Passengerfile, as `ferry start` has it; the
/// environment the harness is given is the configuration's only, not the apps'.
#[tokio::test]
async fn the_configuration_is_ferry_starts() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = apps::copy_fixture(&apps::fixtures_dir().join("wsgi-stub")).unwrap();
        std::fs::write(
            dir.path().join("Passengerfile.json"),
            r#"{"max_pool_size": 3, "min_instances": 3, "environment": "staging"}"#,
        )
        .unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .env("PASSENGER_MIN_INSTANCES", "2")
            .env("PASSENGER_MAX_POOL_SIZE", "4")
            .options(|o| o.max_pool_size = Some(5))
            .envvar("FERRY_IN_PROCESS=yes")
            .start()
            .await
            .expect("ferry starts");
        let deployment = ferry.deployment();
        let app = &deployment.apps[0];
        assert_eq!(deployment.pool.max_pool_size, 5, "the option wins");
        assert_eq!(app.min_instances, 2, "the environment wins over the file");
        assert_eq!(
            app.environment, "staging",
            "the file sets what nothing else does"
        );
        let pid = app_pid(&Client::new(), &ferry).await;
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
        assert!(environ.contains(&&b"FERRY_IN_PROCESS=yes"[..]));
        let passenger_min = |e: &&[u8]| e.starts_with(b"PASSENGER_MIN_INSTANCES=");
        assert!(!environ.iter().any(passenger_min), "the apps' only");

        let invalid = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .options(|o| o.max_pool_size = Some(0))
            .start()
            .await
            .expect_err("an invalid option");
        assert!(invalid.to_string().contains("--max-pool-size"), "{invalid}");
    })
    .await;
}

/// Two servers in one test process: each logs to its own log.
#[tokio::test]
async fn each_server_has_its_own_log() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let (a, b) = (apps::node_test_copy(), apps::node_test_copy());
        let start = |dir: &std::path::Path| {
            Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir).options(|o| o.log_level = Some(4))
        };
        let (a_ferry, b_ferry) = (start(a.path()).start(), start(b.path()).start());
        let (a_ferry, b_ferry) = (a_ferry.await.unwrap(), b_ferry.await.unwrap());
        let client = Client::new();
        for ferry in [&a_ferry, &b_ferry] {
            app_pid(&client, ferry).await;
        }
        let (a_name, b_name) = (
            a.path().file_name().unwrap().to_string_lossy(),
            b.path().file_name().unwrap().to_string_lossy(),
        );
        for (ferry, own, other) in [(&a_ferry, &a_name, &b_name), (&b_ferry, &b_name, &a_name)] {
            ferry
                .wait_for_log(own, Duration::from_secs(10))
                .await
                .expect("its own app in its log");
            assert!(!ferry.log().contains(other.as_ref()), "{}", ferry.log());
        }
    })
    .await;
}
