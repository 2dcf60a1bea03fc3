//! What an app process sees: its user (seed 001's user-switching rules, as root), the
//! environment variables of reference §11.2, its login shell's profile with
//! `--load-shell-envvars`, and Passenger's own Node loader completing the handshake.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::{
    apps, bounded, require, require_program, trace_init, unique_digits, Ferry, Requirement,
};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// A generic app that answers every request with its uid, gid, cwd and environment as JSON.
const ENV_APP: &str = r#"
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(),
                           "env": dict(os.environ)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// A world-readable app directory holding the env app, whose startup file `app.py` belongs to
/// `owner` (when running as root).
fn env_app(owner: Option<&str>) -> tempfile::TempDir {
    let dir = apps::temp_dir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("app.py");
    std::fs::write(&file, ENV_APP).unwrap();
    if let Some(name) = owner {
        let user = nix::unistd::User::from_name(name).unwrap().expect(name);
        std::os::unix::fs::chown(&file, Some(user.uid.as_raw()), Some(user.gid.as_raw())).unwrap();
    }
    dir
}

/// Starts Ferry on `dir` with `args` and returns what the app reports about itself.
async fn app_view(dir: &Path, args: &[&str]) -> Value {
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .args([
            "--app-start-command",
            "python3 app.py",
            "--startup-file",
            "app.py",
        ])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts");
    let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}\n{}",
        reply.text(),
        ferry.log()
    );
    serde_json::from_str(&reply.text()).expect("json")
}

fn user(view: &Value) -> (u64, &str, &str) {
    (
        view["uid"].as_u64().unwrap_or(u64::MAX),
        view["env"]["USER"].as_str().unwrap_or(""),
        view["env"]["HOME"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn startup_file_owned_by_daemon_runs_as_daemon() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = env_app(Some("daemon"));
        let view = app_view(dir.path(), &["--user-switching", "on"]).await;
        assert_eq!(user(&view), (1, "daemon", "/usr/sbin"));
        assert_eq!(view["env"]["LOGNAME"], "daemon");
    })
    .await;
}

#[tokio::test]
async fn startup_file_owned_by_root_runs_as_nobody() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = env_app(Some("root"));
        let view = app_view(dir.path(), &["--user-switching", "on"]).await;
        assert_eq!(user(&view), (65534, "nobody", "/nonexistent"));
        let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
        assert_eq!(view["gid"].as_u64(), Some(u64::from(nogroup.gid.as_raw())));
    })
    .await;
}

#[tokio::test]
async fn user_flag_overrides_the_owner() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = env_app(Some("root"));
        let view = app_view(dir.path(), &["--user", "daemon"]).await;
        assert_eq!(user(&view), (1, "daemon", "/usr/sbin"));
    })
    .await;
}

#[tokio::test]
async fn user_switching_off_runs_as_the_default_user() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = env_app(Some("daemon"));
        let view = app_view(dir.path(), &["--user-switching", "off"]).await;
        assert_eq!(user(&view), (65534, "nobody", "/nonexistent"));
    })
    .await;
}

#[tokio::test]
async fn the_app_sees_the_passenger_environment() {
    trace_init();
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = env_app(None);
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let view = app_view(
            dir.path(),
            &[
                "--environment",
                "staging",
                "--envvar",
                "FERRY_CUSTOM=custom value",
                "--envvar",
                "RACK_ENV=overridden",
            ],
        )
        .await;
        let env = &view["env"];
        let root_str = root.to_str().unwrap();
        assert_eq!(env["IN_PASSENGER"], "1");
        assert_eq!(env["PYTHONUNBUFFERED"], "1");
        for name in ["PASSENGER_APP_ENV", "RAILS_ENV", "WSGI_ENV", "NODE_ENV"] {
            assert_eq!(env[name], "staging", "{name}");
        }
        // User-supplied variables come last and win.
        assert_eq!(env["RACK_ENV"], "overridden");
        assert_eq!(env["FERRY_CUSTOM"], "custom value");
        assert!(env["PORT"]
            .as_str()
            .is_some_and(|p| p.parse::<u16>().is_ok()));
        assert!(env["PASSENGER_SPAWN_WORK_DIR"]
            .as_str()
            .is_some_and(|p| p.contains("ferry.spawn.")));
        assert!(env["NODE_PATH"].is_string());
        assert!(env["SERVER_SOFTWARE"]
            .as_str()
            .is_some_and(|s| s.starts_with("Ferry/")));
        assert_eq!(env["PWD"], root_str);
        assert_eq!(view["cwd"], root_str);
        for name in ["USER", "LOGNAME", "HOME", "SHELL"] {
            assert!(env[name].is_string(), "{name} missing");
        }
        // The base URI is `/`: its variables are not set.
        for name in [
            "PASSENGER_BASE_URI",
            "RAILS_RELATIVE_URL_ROOT",
            "RACK_BASE_URI",
        ] {
            assert!(env[name].is_null(), "{name} is set");
        }
    })
    .await;
}

/// A file in `/etc/profile.d` for the duration of a test; its content only acts for one
/// app environment, so nothing else on the machine is affected while it exists.
struct ProfileSnippet(std::path::PathBuf);

impl Drop for ProfileSnippet {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn load_shell_envvars_brings_the_profiles_variables() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let tag = unique_digits();
        let environment = format!("shelltest{tag}");
        let snippet = ProfileSnippet(format!("/etc/profile.d/ferry-test-{tag}.sh").into());
        std::fs::write(
            &snippet.0,
            format!(
                "if [ \"$PASSENGER_APP_ENV\" = \"{environment}\" ]; then export FERRY_FROM_PROFILE=yes-{tag}; export RACK_ENV=clobbered; fi\n"
            ),
        )
        .unwrap();
        let dir = env_app(None);
        // root's login shell is bash; run as root explicitly so the shell is a login shell.
        let args = [
            "--user",
            "root",
            "--allow-root-apps",
            "--environment",
            &environment,
        ];
        let without = app_view(dir.path(), &args).await;
        assert!(without["env"]["FERRY_FROM_PROFILE"].is_null());
        let mut args = args.to_vec();
        args.push("--load-shell-envvars");
        let with = app_view(dir.path(), &args).await;
        assert_eq!(with["env"]["FERRY_FROM_PROFILE"], format!("yes-{tag}"));
        // Ferry's own variables are re-applied after the shell.
        assert_eq!(with["env"]["RACK_ENV"], environment.as_str());
    })
    .await;
}

#[tokio::test]
async fn an_app_run_as_another_user_sees_none_of_ferrys_own_environment() {
    trace_init();
    require_program!("python3");
    // User switching only happens when Ferry runs as root.
    require!(Requirement::Root);
    bounded(LIMIT, async {
        let dir = env_app(Some("daemon"));
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir.path())
            .args(["--app-start-command", "python3 app.py"])
            .args(["--startup-file", "app.py", "--user-switching", "on"])
            .args(["--envvar", "CONFIGURED=yes"])
            .env("FERRYS_OWN_SECRET", "hush")
            .env("LC_TIME", "C")
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", ferry.log());
        let view: Value = serde_json::from_str(&reply.text()).expect("json");
        let env = &view["env"];
        assert_eq!(
            env["FERRYS_OWN_SECRET"],
            Value::Null,
            "Ferry's variable leaked"
        );
        assert_eq!(env["CONFIGURED"], "yes", "--envvar still applies");
        assert_eq!(env["LC_TIME"], "C", "the locale is kept");
        assert!(env["PATH"].as_str().is_some_and(|p| !p.is_empty()));
        assert_eq!(env["USER"], "daemon");
    })
    .await;
}
