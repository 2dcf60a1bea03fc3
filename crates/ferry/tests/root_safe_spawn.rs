//! Issue 17, the spawn side, through the real `ferry` binary run as root: an app's owner (a real
//! unprivileged user made for the test) plants links, FIFOs, devices and huge files where Ferry
//! reads the app's work directory. Each is a spawn error naming the file; nothing of the target
//! reaches the log, the error page, the saved report or the `spawn_failed` hook's environment;
//! and nothing hangs: while one FIFO per CPU core plus one is planted, another app and `ferry
//! status` keep answering.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_test_support::client::Client;
use ferry_test_support::http::StatusCode;
use ferry_test_support::users::TestUser;
use ferry_test_support::{bounded, require, require_program, trace_init, Ferry, Requirement};
use tempfile::TempDir;

const LIMIT: Duration = Duration::from_secs(120);
/// How long anything that must not hang may take.
const PROMPT: Duration = Duration::from_secs(20);

/// What must never show: a file only root may read, and `/etc/shadow`'s first line.
struct Secrets {
    _dir: TempDir,
    file: PathBuf,
    marker: String,
    shadow: Option<String>,
}

impl Secrets {
    fn new() -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        let marker = format!("SECRET-{}", ferry_test_support::unique_digits());
        let file = dir.path().join("secret");
        std::fs::write(&file, &marker).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Reachable, so that a link to it resolves; readable by root only.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let shadow = std::fs::read_to_string("/etc/shadow")
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned));
        Secrets {
            _dir: dir,
            file,
            marker,
            shadow,
        }
    }

    /// Panics if `text` (named `what`) holds a secret.
    fn assert_absent(&self, what: &str, text: &str) {
        assert!(!text.contains(&self.marker), "{what} leaks the secret file");
        if let Some(line) = &self.shadow {
            assert!(!text.contains(line.as_str()), "{what} leaks /etc/shadow");
        }
    }
}

/// One way to plant something: a shell snippet run as the app's user (`$W` is the work
/// directory, `$SECRET` the secret file), and the words the spawn error must name it with.
struct Attack {
    plant: &'static str,
    named: &'static str,
}

const ATTACKS: &[Attack] = &[
    Attack {
        plant: "ln -sf /etc/shadow \"$W/response/error/summary\"",
        named: "response/error/summary is a symbolic link",
    },
    Attack {
        plant: "ln -sf \"$SECRET\" \"$W/response/error/problem_description.txt\"",
        named: "response/error/problem_description.txt is a symbolic link",
    },
    Attack {
        plant: "mkfifo \"$W/response/error/category\"",
        named: "response/error/category is a FIFO",
    },
    Attack {
        plant: "ln -sf /dev/zero \"$W/envdump/envvars\"",
        named: "envdump/envvars is a symbolic link",
    },
    Attack {
        plant: "truncate -s 1G \"$W/response/error/advanced_problem_details\"",
        named: "response/error/advanced_problem_details is larger than",
    },
    Attack {
        plant: "ln -sf \"$SECRET\" \"$W/response/steps/subprocess_app_load_or_exec/state\"",
        named: "response/steps/subprocess_app_load_or_exec/state is a symbolic link",
    },
    Attack {
        plant: "T=\"$W/response/steps/subprocess_app_load_or_exec/begin_time_monotonic\"\n\
                rm -f \"$T\"; mkfifo \"$T\"",
        named: "response/steps/subprocess_app_load_or_exec/begin_time_monotonic is a FIFO",
    },
    Attack {
        plant: "mkfifo \"$W/response/error/solution_description.html\"",
        named: "response/error/solution_description.html is a FIFO",
    },
    Attack {
        plant: "ln -sf \"$SECRET\" \"$W/envdump/annotations/leak\"",
        named: "envdump/annotations/leak is a symbolic link",
    },
    Attack {
        plant: "rm -rf \"$W/envdump\"; ln -s \"${SECRET%/*}\" \"$W/envdump\"",
        named: "envdump is a symbolic link",
    },
    // The app says it is up: Ferry reads `properties.json` and the steps, and nothing else.
    Attack {
        plant: "ln -sf \"$SECRET\" \"$W/response/properties.json\"\n\
                printf 1 > \"$W/response/finish\"\nexec sleep 30",
        named: "response/properties.json is a symbolic link",
    },
];

/// The friendly page's text, Ferry's log, the saved report and the hook's environment for a
/// spawn of an app that runs `plant` as `user` and exits 1.
async fn fail_with(user: &TestUser, secrets: &Secrets, plant: &str) -> [(String, String); 4] {
    let app = user.app_dir();
    let script = format!(
        "#!/bin/sh\nW=\"$PASSENGER_SPAWN_WORK_DIR\"\nSECRET={}\n{plant}\necho planted\nexit 1\n",
        secrets.file.display()
    );
    user.script(&app.path().join("app.sh"), &script);
    let hook_dir = tempfile::tempdir().unwrap();
    let hook_env = hook_dir.path().join("env");
    let hook = format!(
        "spawn_failed=env > {0}.tmp && mv {0}.tmp {0}",
        hook_env.display()
    );
    let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app.path())
        .args(["--user-switching", "on", "--environment", "development"])
        .args(["--app-start-command", "./app.sh", "--start-timeout", "30"])
        .args(["--hook", &hook])
        .spawn()
        .await
        .expect("ferry starts");
    let reply = tokio::time::timeout(PROMPT, Client::new().get(&ferry.url_for("/")))
        .await
        .expect("the spawn fails without hanging")
        .unwrap();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let saved_at = "Error details saved to: ";
    ferry
        .wait_for_log(saved_at, PROMPT)
        .await
        .expect("the report is saved");
    let log = ferry.log();
    let saved = log
        .lines()
        .find_map(|l| l.split_once(saved_at).map(|(_, p)| p.trim().to_owned()))
        .unwrap();
    let report = std::fs::read_to_string(&saved).unwrap_or_default();
    let _ = std::fs::remove_file(&saved);
    let env = poll(|| std::fs::read_to_string(&hook_env).ok()).await;
    [
        ("the page".into(), reply.text()),
        ("the log".into(), log),
        ("the saved report".into(), report),
        ("the hook's environment".into(), env),
    ]
}

/// Polls `f` for at most [`PROMPT`].
async fn poll<T>(f: impl FnMut() -> Option<T>) -> T {
    ferry_test_support::poll_until(PROMPT, f)
        .await
        .expect("in time")
}

#[tokio::test]
async fn planted_links_fifos_devices_and_huge_files_are_named_never_read() {
    trace_init();
    require!(Requirement::Root);
    bounded(LIMIT * 2, async {
        let user = TestUser::create();
        let secrets = Secrets::new();
        for attack in ATTACKS {
            let seen = fail_with(&user, &secrets, attack.plant).await;
            for (what, text) in &seen {
                secrets.assert_absent(what, text);
            }
            for (what, text) in &seen[..3] {
                assert!(
                    text.contains(attack.named),
                    "{what} must name the file: {text}"
                );
            }
            let message = seen[3]
                .1
                .lines()
                .find(|l| l.starts_with("PASSENGER_ERROR_MESSAGE="))
                .unwrap_or_default();
            assert!(message.contains(attack.named), "{message}");
        }
    })
    .await;
}

/// A script that plants a FIFO wherever Ferry reads, then says it is up and waits.
const FIFOS: &str = r#"#!/bin/sh
W="$PASSENGER_SPAWN_WORK_DIR"
for f in response/properties.json response/error/summary response/error/category envdump/envvars; do
    rm -f "$W/$f"; mkfifo "$W/$f"
done
for d in "$W"/response/steps/*; do rm -f "$d/state"; mkfifo "$d/state"; done
printf 1 > "$W/response/finish"
exec sleep 60
"#;

/// An app that answers: Python's static file server on `$PORT`.
const GOOD: &str = "#!/bin/sh\nexec python3 -m http.server \"$PORT\" --bind 127.0.0.1\n";

fn config(dir: &Path, bad: usize, registry: &Path) -> String {
    let d = dir.display();
    let mut servers = String::new();
    for i in 0..=bad {
        let name = if i == bad {
            "good".to_owned()
        } else {
            format!("bad{i}")
        };
        let script = if i == bad { "./good.sh" } else { "./fifos.sh" };
        servers.push_str(&format!(
            "    server {{ listen 127.0.0.1:0; server_name {name}.test; root {d}/{name}/public; \
             passenger_enabled on; passenger_app_start_command {script}; \
             passenger_app_env development; }}\n"
        ));
    }
    format!(
        "http {{\n    passenger_load_shell_envvars off;\n    passenger_max_pool_size {};\n    \
         passenger_instance_registry_dir {};\n{servers}}}\n",
        bad + 2,
        registry.display()
    )
}

#[tokio::test]
async fn fifos_in_more_work_directories_than_cores_freeze_nothing() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let bad = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
        let apps = user.app_dir();
        for i in 0..=bad {
            let name = if i == bad {
                "good".to_owned()
            } else {
                format!("bad{i}")
            };
            let root = apps.path().join(&name);
            std::fs::create_dir_all(root.join("public")).unwrap();
            user.chown(&root);
            user.chown(&root.join("public"));
            user.script(&root.join("fifos.sh"), FIFOS);
            user.script(&root.join("good.sh"), GOOD);
        }
        let conf = tempfile::tempdir().unwrap();
        let registry = conf.path().join("registry");
        std::fs::create_dir(&registry).unwrap();
        let file = conf.path().join("ferry.conf");
        std::fs::write(&file, config(apps.path(), bad, &registry)).unwrap();
        let ferry = Ferry::with_config(env!("CARGO_BIN_EXE_ferry"), &file)
            .spawn()
            .await
            .expect("ferry starts");

        // Every bad app at once, and meanwhile the good app and `ferry status`.
        let client = Client::new();
        let url = ferry.url_for("/");
        let bad_replies = (0..bad).map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let host = format!("bad{i}.test");
                client.get_with(&url, &[("host", host.as_str())]).await
            })
        });
        let bad_replies: Vec<_> = bad_replies.collect();
        let good = tokio::time::timeout(PROMPT, client.get_with(&url, &[("host", "good.test")]))
            .await
            .expect("the good app answers while the others fail")
            .unwrap();
        assert_eq!(good.status, StatusCode::OK, "{}", good.text());
        let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("status")
            .arg("--instance-registry-dir")
            .arg(&registry)
            .output();
        let status = tokio::time::timeout(PROMPT, status)
            .await
            .expect("ferry status answers")
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        for reply in bad_replies {
            let reply = tokio::time::timeout(PROMPT, reply)
                .await
                .expect("a FIFO is an error, not a wait")
                .unwrap()
                .unwrap();
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
            let page = reply.text();
            assert!(
                page.contains("response/properties.json is a FIFO"),
                "{page}"
            );
        }
    })
    .await;
}

/// An app that does SpawningKit's handshake itself: it serves HTTP on a unix socket of its own,
/// reports it in `properties.json`, says it is up, waits until Ferry has removed the work
/// directory (the socket was checked by then), and swaps its socket's path for a link to
/// `$OTHER`, a socket root serves.
const SWAPPER: &str = r#"#!/bin/sh
W="$PASSENGER_SPAWN_WORK_DIR"
S="$PWD/app.sock"
rm -f "$S"
python3 - "$S" <<'PY' &
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"app")
    def log_message(self, *a): pass
class S(socketserver.UnixStreamServer):
    def get_request(self):
        conn, _ = super().get_request(); return conn, ("app", 0)
S(sys.argv[1], H).serve_forever()
PY
while [ ! -S "$S" ]; do sleep 0.02; done
printf '{"sockets":[{"name":"main","address":"unix:%s","protocol":"http","concurrency":0,"accept_http_requests":true}]}' "$S" > "$W/response/properties.json"
printf 1 > "$W/response/finish"
while [ -e "$W" ]; do sleep 0.02; done
ln -sf "$OTHER" "$S.swap" && mv -f "$S.swap" "$S"
echo swapped
wait
"#;

#[tokio::test]
async fn an_app_socket_swapped_for_another_services_socket_never_gets_a_request() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let app = user.app_dir();
        user.script(&app.path().join("app.sh"), SWAPPER);
        // Another service's socket, served by root: it must never read a byte of a request.
        let other_dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(other_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let other = other_dir.path().join("service.sock");
        let listener = tokio::net::UnixListener::bind(&other).unwrap();
        let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&received);
        let service = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let seen = std::sync::Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = conn.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app.path())
            .args(["--user-switching", "on", "--app-start-command", "./app.sh"])
            .args(["--app-supports-kuria-protocol", "--start-timeout", "30"])
            .args(["--max-pool-size", "1"])
            .args(["--envvar", &format!("OTHER={}", other.display())])
            .spawn()
            .await
            .expect("ferry starts");
        let client = Client::new();
        // The first request starts the app, which may answer before it has swapped its socket;
        // after the swap every new connection is refused, and the process is detached.
        let first = client.get(&ferry.url_for("/")).await.unwrap();
        assert!(first.status == StatusCode::OK || first.status.is_server_error());
        ferry
            .wait_for_log("swapped", PROMPT)
            .await
            .expect("the app swaps its socket");
        for _ in 0..5 {
            let reply = client.get(&ferry.url_for("/")).await.unwrap();
            assert!(
                reply.status == StatusCode::OK && reply.text() == "app"
                    || reply.status.is_server_error(),
                "{} {}",
                reply.status,
                reply.text()
            );
        }
        ferry
            .wait_for_log("not by the app's user", PROMPT)
            .await
            .expect("the refused socket is logged");
        assert_eq!(
            received.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the other service's socket got a request"
        );
        service.abort();
    })
    .await;
}
