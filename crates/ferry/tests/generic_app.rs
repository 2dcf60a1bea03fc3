//! Generic apps started with `--app-start-command`: one that serves, one that exits at once, and
//! one that never listens (killed after `--start-timeout`, and reaped).

use std::time::{Duration, Instant};

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, poll_until, procfs, require_program, trace_init, unique_digits, Ferry,
};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn python_http_server_is_served() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let content = format!("generic app file {}\n", unique_digits());
        std::fs::write(dir.path().join("hello-generic.txt"), &content).unwrap();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args([
                "--app-start-command",
                "python3 -m http.server $PORT --bind 127.0.0.1",
            ])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        let reply = client
            .get(&ferry.url_for("/hello-generic.txt"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.text(), content);
        let listing = client.get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(listing.status, StatusCode::OK);
        assert!(
            listing.text().contains("hello-generic.txt"),
            "{}",
            listing.text()
        );
    })
    .await;
}

#[tokio::test]
async fn app_exiting_at_once_gives_500_and_its_output_in_the_log() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let tag = unique_digits();
        // The output (`boom-<tag>`) differs from the command text, so finding it in the log
        // proves the app's output was captured, not just the command echoed. Ferry runs
        // `exec CMD`, so an inner shell is needed to run every statement, not just the first.
        let script =
            format!("printf 'boom-%s\\n' {tag}; printf 'boom-%s-on-stderr\\n' {tag} >&2; exit 3");
        let command = format!("sh -c \"{script}\"");
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--app-start-command", &command, "--start-timeout", "10"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        ferry
            .wait_for_log(&format!("boom-{tag}"), Duration::from_secs(10))
            .await
            .unwrap();
        ferry
            .wait_for_log(&format!("boom-{tag}-on-stderr"), Duration::from_secs(10))
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn app_never_listening_is_killed_after_start_timeout() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let needle = format!("sleep 987{}", unique_digits());
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args([
                "--app-start-command",
                // Ferry runs `/bin/sh -c "exec CMD"` itself: `exec exec ...` would fail.
                &needle,
                "--start-timeout",
                "2",
            ])
            .spawn()
            .await
            .expect("ferry starts");
        let url = ferry.url_for("/");
        let started = Instant::now();
        let request = tokio::spawn(async move { Client::new().get(&url).await });

        // Ferry's own command line contains the needle too: leave it out.
        let ferry_pid = ferry.pid();
        let app_pids = poll_until(Duration::from_secs(10), || {
            let pids: Vec<u32> = procfs::find_processes_by_cmdline(&needle)
                .into_iter()
                .filter(|&p| p != ferry_pid)
                .collect();
            (!pids.is_empty()).then_some(pids)
        })
        .await
        .expect("the app process is started on the first request");

        let reply = request.await.unwrap().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(elapsed < Duration::from_secs(20), "500 after {elapsed:?}");
        // The log is read from Ferry's stderr as it comes: give the line a moment to arrive.
        let mentioned = poll_until(Duration::from_secs(10), || {
            let log = ferry.log().to_lowercase();
            (log.contains("timeout") || log.contains("timed out")).then_some(())
        })
        .await;
        assert!(
            mentioned.is_some(),
            "the log does not mention the timeout: {}",
            ferry.log()
        );

        let gone = poll_until(Duration::from_secs(10), || {
            let leftovers: Vec<u32> = procfs::find_processes_by_cmdline(&needle)
                .into_iter()
                .filter(|&p| p != ferry_pid)
                .chain(
                    app_pids
                        .iter()
                        .copied()
                        .filter(|&p| procfs::process_exists(p)),
                )
                .collect();
            leftovers.is_empty().then_some(())
        })
        .await;
        let zombies: Vec<u32> = app_pids
            .iter()
            .copied()
            .filter(|&p| procfs::is_zombie(p))
            .collect();
        assert!(
            gone.is_some(),
            "app processes {app_pids:?} still exist 10 s after the 500 (zombies: {zombies:?})"
        );
    })
    .await;
}
