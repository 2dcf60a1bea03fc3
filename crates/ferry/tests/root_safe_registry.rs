//! Issue 17, the instance registry, through the real `ferry` binary run as root, in a shared
//! registry (root's, sticky and writable by all, like `/tmp`) where a real unprivileged user made
//! for the test does what they can: flock every lock file they can open, the moment it appears,
//! and plant `ferry.*` directories with links to a secret in place of password files, FIFOs in
//! place of locks, a lock they hold, and an admin socket of their own. Ferry still starts every
//! time, and root's `ferry status` finds only Ferry's instance: it reads none of the planted
//! files and never connects to the planted socket.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ferry_admin::registry::{
    Properties, ADMIN_SOCKET, FULL_PASSWORD_FILE, LAYOUT_VERSION, LOCK_FILE, PROPERTIES_FILE,
    READ_ONLY_PASSWORD_FILE,
};
use ferry_test_support::users::TestUser;
use ferry_test_support::{bounded, require, require_program, trace_init, Ferry, Requirement};

const LIMIT: Duration = Duration::from_secs(120);
/// How long one `ferry status` may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);
/// How many times Ferry starts under the attack.
const STARTS: usize = 3;

/// The user's side: holds an flock on every `ferry.*/lock*` it can open in the registry, as
/// soon as it can, for `SECONDS`.
const FLOCKER: &str = r#"import fcntl, glob, os, sys, time
registry, deadline = sys.argv[1], time.time() + float(sys.argv[2])
held = {}
while time.time() < deadline:
    for path in glob.glob(os.path.join(registry, "ferry.*", "lock*")):
        if path in held:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held[path] = fd
        except OSError:
            pass
    time.sleep(0.0002)
"#;

/// A `ferry.NAME` directory in `registry` made to look like a live instance of `pid`, whose
/// password files are links to `secret`, given to `user`.
fn plant(registry: &Path, name: &str, user: &TestUser, pid: u32, secret: &Path) -> PathBuf {
    let dir = registry.join(format!("ferry.{name}"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join(LOCK_FILE), "").unwrap();
    let properties = Properties {
        layout_version: LAYOUT_VERSION,
        name: name.into(),
        pid,
        version: "0".into(),
        description: "planted".into(),
        started_at: 0,
        listeners: vec![],
        config_file: None,
        admin_socket: dir.join(ADMIN_SOCKET),
        user: user.name.clone(),
        uid: user.uid,
    };
    std::fs::write(
        dir.join(PROPERTIES_FILE),
        serde_json::to_vec(&properties).unwrap(),
    )
    .unwrap();
    for file in [FULL_PASSWORD_FILE, READ_ONLY_PASSWORD_FILE] {
        std::os::unix::fs::symlink(secret, dir.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        user.chown(&entry.unwrap().path());
    }
    user.chown(&dir);
    dir
}

/// A directory of the user's with FIFOs where a reader would block.
fn plant_fifos(registry: &Path, user: &TestUser) {
    let dir = registry.join("ferry.fifos");
    std::fs::create_dir(&dir).unwrap();
    for file in [LOCK_FILE, PROPERTIES_FILE, FULL_PASSWORD_FILE] {
        let path = dir.join(file);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        user.chown(&path);
    }
    user.chown(&dir);
}

/// `ferry status --instance-registry-dir REGISTRY` as root: its exit status and output.
async fn status(registry: &Path) -> std::process::Output {
    let command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("status")
        .arg("--instance-registry-dir")
        .arg(registry)
        .stdin(Stdio::null())
        .output();
    tokio::time::timeout(COMMAND_LIMIT, command)
        .await
        .expect("ferry status does not hang")
        .expect("ferry status runs")
}

#[tokio::test]
async fn another_user_in_a_shared_registry_cannot_stop_ferry_nor_feed_root_s_status() {
    trace_init();
    require!(Requirement::Root);
    require_program!("python3");
    require_program!("setpriv");
    bounded(LIMIT, async {
        let user = TestUser::create();
        let registry = tempfile::tempdir().unwrap();
        std::fs::set_permissions(registry.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let secret_dir = tempfile::tempdir().unwrap();
        let secret = secret_dir.path().join("secret");
        std::fs::write(&secret, "SECRET-6029").unwrap();

        // The user flocks whatever they can, from before Ferry starts until after.
        let flocker = secret_dir.path().join("flocker.py");
        std::fs::write(&flocker, FLOCKER).unwrap();
        std::fs::set_permissions(secret_dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let mut attacker = tokio::process::Command::new("setpriv")
            .args([
                "--reuid",
                &user.uid.to_string(),
                "--regid",
                &user.gid.to_string(),
            ])
            .args(["--clear-groups", "python3"])
            .arg(&flocker)
            .arg(registry.path())
            .arg("60")
            .kill_on_drop(true)
            .spawn()
            .expect("start the user's flocker");
        let attacker_pid = attacker.id().expect("running");

        // Their planted directories: one that looks live (their flocker holds its lock), one
        // of FIFOs; the live-looking one has an admin socket of theirs.
        let planted = plant(registry.path(), "planted", &user, attacker_pid, &secret);
        let socket = UnixListener::bind(planted.join(ADMIN_SOCKET)).unwrap();
        socket.set_nonblocking(true).unwrap();
        user.chown(&planted.join(ADMIN_SOCKET));
        plant_fifos(registry.path(), &user);

        let app = ferry_test_support::apps::temp_dir();
        for _ in 0..STARTS {
            let ferry = Ferry::new(env!("CARGO_BIN_EXE_ferry"), app.path())
                .args(["--app-start-command", "true"])
                .arg("--instance-registry-dir")
                .arg(registry.path())
                .spawn()
                .await
                .expect("ferry starts despite the other user");
            let out = status(registry.path()).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{stderr}{stdout}");
            // Ferry's own instance answered, not the planted one.
            assert!(stdout.contains("Instance: "), "{stdout}");
            assert!(!stdout.contains("planted"), "{stdout}");
            assert!(!stdout.contains("SECRET-6029") && !stderr.contains("SECRET-6029"));
            drop(ferry);
        }
        // Root's `ferry status` never talked to the planted socket.
        assert_eq!(
            socket.accept().map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::WouldBlock)
        );
        // And left the other user's directories alone.
        assert!(planted.exists() && registry.path().join("ferry.fifos").exists());
        attacker.kill().await.unwrap();
    })
    .await;
}
