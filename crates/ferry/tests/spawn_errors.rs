//! The spawn failure matrix (issue 3): each way a spawn can fail, through the real `ferry` binary,
//! checking the error's category, the failed step, the captured output and the page the client
//! gets (friendly in development, terse in production), plus the `spawn_failed` hook.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, poll_until, require, require_program, trace_init, Ferry, Requirement,
};

const LIMIT: Duration = Duration::from_secs(60);

/// What the client got for a failed spawn, read from the friendly page's JSON spec.
#[derive(Debug)]
struct Failure {
    page: String,
    spec: serde_json::Value,
}

impl Failure {
    fn category(&self) -> &str {
        self.spec["category"].as_str().unwrap_or_default()
    }

    fn step(&self) -> &str {
        self.spec["failed_step"].as_str().unwrap_or_default()
    }

    fn id(&self) -> &str {
        self.spec["id"].as_str().unwrap_or_default()
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Starts Ferry on `dir` in development with `args`, requests `/`, and returns the error page.
async fn fail_with(dir: &Path, args: &[&str]) -> (Ferry, Failure) {
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .args(["--environment", "development", "--start-timeout", "20"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts");
    let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
    let page = reply.text();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
    assert!(
        page.contains("Web application could not be started"),
        "{page}"
    );
    let spec = spec_of(&page);
    let failure = Failure { page, spec };
    // The full report is logged under the same id.
    ferry
        .wait_for_log(
            &format!("Error ID: {}", failure.id()),
            Duration::from_secs(10),
        )
        .await
        .expect("the error id is logged");
    (ferry, failure)
}

/// The JSON spec the friendly page embeds.
fn spec_of(page: &str) -> serde_json::Value {
    let start_tag = r#"<script type="application/json" id="ferry-error-spec">"#;
    let start = page.find(start_tag).expect("friendly page with a spec") + start_tag.len();
    let end = start + page[start..].find("</script>").expect("end of spec");
    serde_json::from_str(&page[start..end]).expect("the spec is JSON")
}

fn write_script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn start_command_not_found() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let (_ferry, f) = fail_with(
            dir.path(),
            &[
                "--app-start-command",
                "ferry-no-such-command-1207 --port $PORT",
            ],
        )
        .await;
        assert_eq!(f.category(), "FILE_SYSTEM_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_APP_LOAD_OR_EXEC");
        assert!(f.page.contains("not found"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn app_exits_1_after_printing_to_stderr() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        write_script(
            dir.path(),
            "app.sh",
            "#!/bin/sh\necho 'db <unreachable> marker-4411' >&2\nexit 1\n",
        );
        let (_ferry, f) = fail_with(dir.path(), &["--app-start-command", "./app.sh"]).await;
        assert_eq!(f.category(), "INTERNAL_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_APP_LOAD_OR_EXEC");
        // The output is on the page, escaped.
        assert!(
            f.page.contains("db &lt;unreachable&gt; marker-4411"),
            "{}",
            f.page
        );
        assert!(f.page.contains("exited prematurely"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn app_never_listens_and_is_killed_at_the_timeout() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--environment", "development", "--start-timeout", "1"])
            .args(["--app-start-command", "echo napping-5512; exec sleep 600"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let page = reply.text();
        let spec = spec_of(&page);
        assert_eq!(spec["category"], "TIMEOUT_ERROR");
        assert_eq!(spec["failed_step"], "SUBPROCESS_APP_LOAD_OR_EXEC");
        assert!(page.contains("napping-5512"), "{page}");
        // SIGKILLed and reaped: Ferry has no child left, and none is a zombie.
        let gone = poll_until(Duration::from_secs(10), || {
            ferry.descendants().is_empty().then_some(())
        })
        .await;
        assert!(gone.is_some(), "left behind: {:?}", ferry.descendants());
    })
    .await;
}

/// A SpawningKit-enabled wrapper that fails and explains why in `response/error/`.
const FAILING_WRAPPER: &str = r#"#!/bin/sh
e="$PASSENGER_SPAWN_WORK_DIR/response/error"
s="$PASSENGER_SPAWN_WORK_DIR/response/steps/subprocess_app_load_or_exec"
echo IO_ERROR > "$e/category"
echo "The wrapper could not read config/database.yml" > "$e/summary"
echo '<p>custom-problem-<b>7781</b></p>' > "$e/problem_description.html"
echo 'Create config/database.yml, then restart.' > "$e/solution_description.txt"
echo STEP_ERRORED > "$s/state"
echo wrapper-output-7781
printf 0 > "$PASSENGER_SPAWN_WORK_DIR/response/finish"
exec sleep 600
"#;

#[tokio::test]
async fn wrapper_writes_0_to_finish_with_its_own_description() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        write_script(dir.path(), "wrapper.sh", FAILING_WRAPPER);
        let (ferry, f) = fail_with(
            dir.path(),
            &[
                "--app-start-command",
                "./wrapper.sh",
                "--app-supports-kuria-protocol",
            ],
        )
        .await;
        assert_eq!(f.category(), "IO_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_APP_LOAD_OR_EXEC");
        assert!(
            f.page.contains("<p>custom-problem-<b>7781</b></p>"),
            "{}",
            f.page
        );
        assert!(f.page.contains("Create config/database.yml, then restart."));
        assert!(f.page.contains("wrapper-output-7781"));
        assert!(ferry
            .log()
            .contains("The wrapper could not read config/database.yml"));
    })
    .await;
}

/// A SpawningKit-enabled app that writes `properties` and reports success.
fn properties_app(properties: &str) -> String {
    format!(
        "#!/bin/sh\nprintf '%s' '{properties}' > \"$PASSENGER_SPAWN_WORK_DIR/response/properties.json\"\n\
         printf 1 > \"$PASSENGER_SPAWN_WORK_DIR/response/finish\"\nexec sleep 600\n"
    )
}

#[tokio::test]
async fn properties_json_malformed_or_without_an_http_socket() {
    trace_init();
    bounded(LIMIT, async {
        let cases = [
            ("{\"sockets\": [", "not valid JSON"),
            (
                r#"{"sockets":[{"address":"tcp://127.0.0.1:9","protocol":"http","concurrency":1}]}"#,
                "accept_http_requests",
            ),
        ];
        for (properties, expected) in cases {
            let dir = apps::temp_dir();
            write_script(dir.path(), "app.sh", &properties_app(properties));
            let (_ferry, f) = fail_with(
                dir.path(),
                &["--app-start-command", "./app.sh", "--app-supports-kuria-protocol"],
            )
            .await;
            assert_eq!(f.category(), "INTERNAL_ERROR");
            assert_eq!(f.step(), "SPAWNING_KIT_HANDSHAKE_PERFORM");
            assert!(f.page.contains(expected), "{expected}: {}", f.page);
        }
    })
    .await;
}

#[tokio::test]
async fn app_root_unreadable_by_the_apps_user() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let root = dir.path().join("app");
        std::fs::create_dir(&root).unwrap();
        // As root: the app runs as `daemon`, who cannot enter a 0700 root-owned directory.
        // Otherwise the app runs as us, and mode 000 keeps us out.
        let (mode, user_args): (u32, Vec<&str>) = if is_root() {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            (0o700, vec!["--user", "daemon"])
        } else {
            (0o000, vec![])
        };
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut args = vec!["--app-start-command", "true"];
        args.extend(user_args);
        let (_ferry, f) = fail_with(&root, &args).await;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(f.category(), "FILE_SYSTEM_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_SPAWN_ENV_SETUPPER_BEFORE_SHELL");
        assert!(
            f.page.contains("Cannot enter the application directory"),
            "{}",
            f.page
        );
    })
    .await;
}

#[tokio::test]
async fn user_that_does_not_exist() {
    trace_init();
    // --user only applies when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let (_ferry, f) = fail_with(
            dir.path(),
            &[
                "--app-start-command",
                "true",
                "--user",
                "ferry-no-such-user",
            ],
        )
        .await;
        assert_eq!(f.category(), "OPERATING_SYSTEM_ERROR");
        assert_eq!(f.step(), "SPAWNING_KIT_PREPARATION");
        assert!(f.page.contains("ferry-no-such-user"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn ulimit_that_cannot_be_applied() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        // Above the kernel's nr_open, so even root is refused.
        let (_ferry, f) = fail_with(
            dir.path(),
            &[
                "--app-start-command",
                "true",
                "--app-file-descriptor-ulimit",
                "4294967295",
            ],
        )
        .await;
        assert_eq!(f.category(), "OPERATING_SYSTEM_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_SPAWN_ENV_SETUPPER_BEFORE_SHELL");
        assert!(f.page.contains("RLIMIT_NOFILE"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn production_shows_the_terse_page_with_the_error_id() {
    trace_init();
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--environment", "production"])
            .args(["--app-start-command", "echo secret-output-9001; exit 1"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let page = reply.text();
        assert!(page.contains("something went wrong"), "{page}");
        assert!(!page.contains("secret-output-9001"), "{page}");
        assert!(!page.contains("ferry-error-spec"), "{page}");
        let id = page
            .split("Error ID: ")
            .nth(1)
            .and_then(|rest| rest.get(..8))
            .expect("the page shows the error id")
            .to_owned();
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        // The full report is in the log under that id, output included.
        ferry
            .wait_for_log(&format!("Error ID: {id}"), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(ferry.log().contains("secret-output-9001"));
    })
    .await;
}

#[tokio::test]
async fn spawn_failed_hook_runs_with_the_error() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        let out = dir.path().join("hook-env");
        write_script(
            dir.path(),
            "hook.sh",
            &format!("#!/bin/sh\nenv > {}.tmp && mv {0}.tmp {0}\n", out.display()),
        );
        let hook = format!("spawn_failed={}", dir.path().join("hook.sh").display());
        let (_ferry, f) = fail_with(
            dir.path(),
            &[
                "--app-start-command",
                "echo hook-output-3141; exit 2",
                "--hook",
                &hook,
            ],
        )
        .await;
        let env = poll_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&out).ok()
        })
        .await
        .expect("the hook ran");
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for expected in [
            format!("PASSENGER_APP_ROOT={}", root.display()),
            format!("PASSENGER_APP_GROUP_NAME={}", root.display()),
            format!("PASSENGER_ERROR_ID={}", f.id()),
            "PASSENGER_HOOK_NAME=spawn_failed".to_owned(),
            "PASSENGER_ERROR_MESSAGE=The application process exited prematurely".to_owned(),
            "PASSENGER_APP_ERROR_MESSAGE=hook-output-3141".to_owned(),
            "PASSENGER_VERSION=".to_owned(),
            "PASSENGER_PASSENGER_ROOT=".to_owned(),
            "PASSENGER_SERVER_INSTANCE_DIR=".to_owned(),
        ] {
            assert!(env.contains(&expected), "{expected} not in:\n{env}");
        }
    })
    .await;
}

// === failures inside the loaders (issue 4) ===

#[tokio::test]
async fn rack_app_with_a_syntax_error() {
    trace_init();
    require_program!("ruby");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        std::fs::write(
            dir.path().join("config.ru"),
            "run lambda { |env| [200, {}, [\"x\"]\n",
        )
        .unwrap();
        let (_ferry, f) = fail_with(dir.path(), &[]).await;
        assert_eq!(f.category(), "INTERNAL_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_APP_LOAD_OR_EXEC");
        assert!(f.page.contains("SyntaxError"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn wsgi_app_without_an_application() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = apps::temp_dir();
        std::fs::write(dir.path().join("passenger_wsgi.py"), "app = None\n").unwrap();
        let (_ferry, f) = fail_with(dir.path(), &[]).await;
        assert_eq!(f.step(), "SUBPROCESS_APP_LOAD_OR_EXEC");
        assert!(f.page.contains("application"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn node_app_that_never_listens() {
    trace_init();
    require_program!("node");
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("node-no-listen");
        let started = std::time::Instant::now();
        let (_ferry, f) = fail_with(&app, &[]).await;
        // Promptly, not at the start timeout.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(f.step(), "SUBPROCESS_LISTEN");
        assert!(f.page.contains("listen()"), "{}", f.page);
    })
    .await;
}

#[tokio::test]
async fn interpreter_that_does_not_exist() {
    trace_init();
    bounded(LIMIT, async {
        let app = apps::fixtures_dir().join("wsgi-stub");
        let (_ferry, f) = fail_with(&app, &["--python", "/nonexistent/python9"]).await;
        assert_eq!(f.category(), "FILE_SYSTEM_ERROR");
        assert_eq!(f.step(), "SUBPROCESS_EXEC_WRAPPER");
        assert!(f.page.contains("/nonexistent/python9"), "{}", f.page);
    })
    .await;
}
