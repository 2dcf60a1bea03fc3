use super::*;

fn options(cmd: &str, timeout: Duration) -> SpawnOptions {
    SpawnOptions {
        app_root: std::env::temp_dir(),
        start_command: cmd.into(),
        environment: "production".into(),
        start_timeout: timeout,
        env: vec![("FERRY_TEST_VAR".into(), "yes".into())],
    }
}

fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok()
}

#[tokio::test]
async fn a_generic_app_is_up_once_its_port_accepts() {
    if !python_available() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let cmd = "python3 -m http.server $PORT --bind 127.0.0.1";
    let spawned = DirectSpawner::new()
        .spawn(&options(cmd, Duration::from_secs(20)))
        .await
        .expect("spawn");
    let Endpoint::Tcp(addr) = spawned.endpoint else {
        panic!("tcp endpoint")
    };
    TcpStream::connect(addr).await.expect("app accepts");
    assert_eq!(spawned.concurrency, Concurrency::Unlimited);
    spawned
        .handle
        .stop(StopMode::Graceful(Duration::from_secs(5)));
    let info = spawned.handle.wait().await;
    assert!(info.code.is_some() || info.signal.is_some());
}

#[tokio::test]
async fn an_app_that_exits_reports_its_output_and_status() {
    let err = DirectSpawner::new()
        .spawn(&options(
            "echo out-marker; echo err-marker >&2; echo $FERRY_TEST_VAR $NODE_ENV; exit 3",
            Duration::from_secs(20),
        ))
        .await
        .expect_err("must fail");
    assert_eq!(err.step(), Step::HandshakePerform);
    assert!(
        err.summary().contains("exited with status 3"),
        "{}",
        err.summary()
    );
    assert!(err.output().contains("out-marker"), "{:?}", err.output());
    assert!(err.output().contains("err-marker"), "{:?}", err.output());
    assert!(
        err.output().contains("yes production"),
        "{:?}",
        err.output()
    );
}

#[tokio::test]
async fn an_app_that_never_listens_is_killed_at_the_timeout() {
    let err = DirectSpawner::new()
        .spawn(&options(
            "echo waiting-forever; exec sleep 600",
            Duration::from_millis(300),
        ))
        .await
        .expect_err("must time out");
    assert!(err.is_timeout());
    assert_eq!(err.journey().failed_step(), Some(Step::HandshakePerform));
    assert!(err.output().contains("waiting-forever"));
}

#[tokio::test]
async fn a_missing_directory_fails_at_fork() {
    let mut opts = options("true", Duration::from_secs(5));
    opts.app_root = "/nonexistent/ferry/app".into();
    let err = DirectSpawner::new()
        .spawn(&opts)
        .await
        .expect_err("must fail");
    assert_eq!(err.step(), Step::ForkSubprocess);
}

#[test]
fn simple_commands_are_execed_and_compound_ones_kept() {
    assert_eq!(shell_script("node app.js"), "exec node app.js");
    assert_eq!(shell_script("FOO=1 node app.js"), "exec FOO=1 node app.js");
    assert_eq!(shell_script("exec node app.js"), "exec node app.js");
    assert_eq!(
        shell_script("cd web && node app.js"),
        "cd web && node app.js"
    );
    assert_eq!(shell_script("echo a; exit 3"), "echo a; exit 3");
    assert_eq!(
        shell_script("node -e 'a(); b()'"),
        "exec node -e 'a(); b()'"
    );
    assert_eq!(shell_script(r"echo a\;b"), r"exec echo a\;b");
}

#[tokio::test]
async fn shutdown_aborts_a_spawn_in_progress_and_reaps_it() {
    let spawner = DirectSpawner::new();
    let opts = options("exec sleep 600", Duration::from_secs(600));
    let spawning = spawner.spawn(&opts);
    let stopping = async {
        // Give the spawn a moment to fork; shutdown must work whatever state it is in.
        tokio::task::yield_now().await;
        spawner.shutdown().await;
    };
    let (result, ()) = tokio::join!(spawning, stopping);
    let err = result.expect_err("aborted");
    assert!(err.summary().contains("shutting down"), "{}", err.summary());
}
