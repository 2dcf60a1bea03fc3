//! Issue 17, who an app runs as, through the real `ferry` binary run as root with a real
//! unprivileged user made for the test: a Passengerfile the app's owner wrote cannot make the app
//! run as root; a startup file of group root does not give gid 0; `--user root` is refused unless
//! `--allow-root-apps` says otherwise.

use std::path::Path;
use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::users::TestUser;
use ferry_test_support::{bounded, require, require_program, trace_init, Ferry, Requirement};

const LIMIT: Duration = Duration::from_secs(90);

/// A generic app that answers `{"uid": U, "gid": G}`: who it runs as.
const WHOAMI: &str = r#"import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"uid": os.getuid(), "gid": os.getgid()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Starts Ferry on `dir` (whose `app.py` is [`WHOAMI`]) with `args`; what `/` answered.
async fn whoami(dir: &Path, args: &[&str]) -> (Ferry, StatusCode, String) {
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), dir)
        .args(["--environment", "development", "--start-timeout", "30"])
        .args(["--app-start-command", "python3 app.py"])
        .args(args)
        .spawn()
        .await
        .expect("ferry starts");
    let reply = Client::new().get(&ferry.url_for("/")).await.unwrap();
    let (status, text) = (reply.status, reply.text());
    (ferry, status, text)
}

fn ids(body: &str) -> (u64, u64) {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    (json["uid"].as_u64().unwrap(), json["gid"].as_u64().unwrap())
}

#[tokio::test]
async fn a_passengerfile_of_the_apps_owner_cannot_make_it_run_as_root() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let app = user.app_dir();
        std::fs::write(app.path().join("app.py"), WHOAMI).unwrap();
        user.chown(&app.path().join("app.py"));
        let passengerfile = app.path().join("Passengerfile.json");
        let json = r#"{"user": "root", "group": "root", "user_switching": false,
                       "default_user": "root", "log_file": "/etc/ferry-owned.log"}"#;
        std::fs::write(&passengerfile, json).unwrap();
        user.chown(&passengerfile);

        let (ferry, status, body) = whoami(app.path(), &["--user-switching", "on"]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ids(&body), (u64::from(user.uid), u64::from(user.gid)));
        let warning = format!(
            "{}: user is ignored: the file belongs to uid {}",
            passengerfile.display(),
            user.uid
        );
        ferry
            .wait_for_log(&warning, Duration::from_secs(10))
            .await
            .expect("the ignored key is named in the log");
        assert!(!Path::new("/etc/ferry-owned.log").exists());
    })
    .await;
}

#[tokio::test]
async fn a_startup_file_of_group_root_does_not_give_gid_0() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let app = user.app_dir();
        std::fs::write(app.path().join("app.py"), WHOAMI).unwrap();
        user.chown(&app.path().join("app.py"));
        // A generic app's "startup file" is its root: alice:root.
        std::os::unix::fs::lchown(app.path(), Some(user.uid), Some(0)).unwrap();

        let (_ferry, status, body) = whoami(app.path(), &["--group", "!STARTUP_FILE!"]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        assert_eq!(
            ids(&body),
            (u64::from(user.uid), u64::from(nobody.gid.as_raw()))
        );
    })
    .await;
}

#[tokio::test]
async fn user_root_is_refused_unless_root_apps_are_allowed() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let dir = ferry_test_support::apps::temp_dir();
        std::fs::write(dir.path().join("app.py"), WHOAMI).unwrap();

        let (ferry, status, page) = whoami(dir.path(), &["--user", "root"]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
        let refusal = "--user / passenger_user names user `root` (uid 0); Ferry does not run \
                       apps as root (uid 0 or gid 0) unless it is started with --allow-root-apps";
        assert!(page.contains(refusal), "{page}");
        ferry
            .wait_for_log(refusal, Duration::from_secs(10))
            .await
            .expect("the refusal is logged");

        let (_ferry, status, body) =
            whoami(dir.path(), &["--user", "root", "--allow-root-apps"]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(ids(&body), (0, 0));
    })
    .await;
}

/// A line of `/proc/<pid>/status` (`Uid:`, `PPid:`), its first field.
fn proc_status(pid: u32, key: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line[key.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_worker_forked_by_a_preloader_runs_as_the_apps_owner_in_a_directory_handed_over() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let app = user.app_dir();
        let fixture = ferry_test_support::apps::fixtures_dir().join("wsgi-stub");
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            // Only the fixture's files (a `__pycache__/` left by a run in place is not).
            if !entry.file_type().unwrap().is_file() {
                continue;
            }
            let to = app.path().join(entry.file_name());
            std::fs::copy(entry.path(), &to).unwrap();
            user.chown(&to);
        }
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app.path())
            .args(["--user-switching", "on", "--spawn-method", "smart"])
            .spawn()
            .await
            .expect("ferry starts");
        let reply = Client::new().get(&ferry.url_for("/pid")).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let pid: u32 = reply.text().trim().parse().unwrap();
        assert_eq!(proc_status(pid, "Uid:"), user.uid);
        // Forked by the preloader, not started by Ferry.
        assert_ne!(proc_status(pid, "PPid:"), ferry.pid());
    })
    .await;
}
