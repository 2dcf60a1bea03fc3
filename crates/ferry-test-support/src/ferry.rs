//! Running the real `ferry` binary: start it, read where it listens, watch its log, signal it,
//! wait for it, and kill it with everything it spawned when the test is over.
//!
//! Ferry prints one `ferry: listening on ...` line per listener to stdout and logs to stderr.
//! Three threads per server copy stdout and stderr into buffers and wait for the exit status;
//! each event bumps a `watch` counter, so async waits ([`Ferry::wait_for_log`],
//! [`Ferry::wait_exit`]) wake on change instead of sleeping.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;

use crate::{procfs, Result};

/// The prefix of the line Ferry prints on stdout for each listener.
pub const LISTENING_PREFIX: &str = "ferry: listening on ";

/// The environment variable that, when set, names the `ferry` binary to run instead of the one
/// the test passes to [`Ferry::new`].
pub const BIN_OVERRIDE_ENV: &str = "FERRY_TEST_BIN";

/// How many trailing log lines are printed when a [`Ferry`] is dropped.
const LOG_TAIL_LINES: usize = 200;

/// Builds the command line of a `ferry start` run; see [`Ferry::new`].
#[derive(Clone, Debug)]
pub struct FerryBuilder {
    bin: PathBuf,
    app_dir: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    startup_timeout: Duration,
    /// `ferry start --config FILE` instead of `ferry start APP_DIR`.
    config: Option<PathBuf>,
}

/// A running `ferry start` process. Dropping it kills Ferry and all its descendants (SIGKILL)
/// and prints the tail of its log, which the test harness shows when the test fails.
pub struct Ferry {
    pid: u32,
    app_dir: PathBuf,
    listeners: Vec<Listener>,
    shared: Arc<Shared>,
}

/// Where Ferry listens, as announced on its stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listener {
    /// `ferry: listening on http://ADDR`
    Tcp(SocketAddr),
    /// `ferry: listening on unix:PATH`
    Unix(PathBuf),
}

/// State the reader and waiter threads share with the [`Ferry`] handle.
#[derive(Default)]
struct Shared {
    stdout: Mutex<String>,
    stderr: Mutex<String>,
    exit: Mutex<Option<ExitStatus>>,
    exited: Condvar,
    /// Bumped on every line read and on exit.
    events: watch::Sender<u64>,
}

// === impl FerryBuilder ===

impl FerryBuilder {
    /// Adds one argument after `ferry start APP_DIR`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for Ferry (and, through it, the apps it spawns).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// How long [`spawn`](Self::spawn) waits for the `listening on` line (default 20 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// The full argument list: `start APP_DIR [--address 127.0.0.1] [--port 0] ARGS...`.
    ///
    /// `--address 127.0.0.1` and `--port 0` are added unless the test passed them itself or
    /// asked for `--socket`. Apps run as the test's own user (`--user`, with `--allow-root-apps`
    /// since that user is root in CI) unless the test passed a user-switching flag: fixture apps
    /// live in private temporary directories, which the `nobody` account that user switching
    /// would pick cannot enter.
    pub fn command_line(&self) -> Vec<OsString> {
        if let Some(file) = &self.config {
            let mut line = vec![OsString::from("start"), "--config".into(), file.into()];
            line.extend(self.args.iter().cloned());
            return line;
        }
        let has = |flag: &str| self.args.iter().any(|a| a == flag);
        let mut line = vec![OsString::from("start"), self.app_dir.clone().into()];
        let users = ["--user", "--user-switching", "--default-user", "--group"];
        if !users.iter().any(|f| has(f)) {
            line.extend([OsString::from("--user"), current_user().into()]);
            line.push("--allow-root-apps".into());
        }
        if !has("--socket") {
            if !has("--address") {
                line.extend(["--address", "127.0.0.1"].map(OsString::from));
            }
            if !has("--port") {
                line.extend(["--port", "0"].map(OsString::from));
            }
        }
        line.extend(self.args.iter().cloned());
        line
    }

    /// Starts Ferry and waits until it announces a listener on stdout.
    ///
    /// Fails if Ferry exits first or prints nothing within the startup timeout; the error
    /// includes Ferry's stderr.
    pub async fn spawn(self) -> Result<Ferry> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(self.command_line())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches only the test runner.
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not run {}: {e}", self.bin.display()))?;
        let pid = child.id();
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        spawn_reader("stdout", stdout, Arc::clone(&shared), |s| &s.stdout)?;
        spawn_reader("stderr", stderr, Arc::clone(&shared), |s| &s.stderr)?;
        let waiter_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("ferry-{pid}-wait"))
            .spawn(move || {
                let status = child.wait().unwrap_or_else(|_| ExitStatus::from_raw(-1));
                *lock(&waiter_shared.exit) = Some(status);
                waiter_shared.exited.notify_all();
                waiter_shared.events.send_modify(|n| *n += 1);
            })?;
        let mut ferry = Ferry {
            pid,
            app_dir: self.app_dir,
            listeners: Vec::new(),
            shared,
        };
        ferry.listeners = ferry.wait_listening(self.startup_timeout).await?;
        Ok(ferry)
    }
}

/// Directives for a configuration's `http` block that run apps as the test's own user (the
/// fixtures live in private temporary directories that `nobody` cannot enter; that user is
/// root in CI, hence `passenger_allow_root_apps`), without going through that user's login shell
/// (`passenger_load_shell_envvars` is on by default in a file, and a developer's profile can
/// take seconds: pyenv, nvm...), as `ferry start` does.
pub fn config_user_directives() -> String {
    format!(
        "passenger_user_switching off; passenger_default_user {}; \
         passenger_allow_root_apps on; passenger_load_shell_envvars off;",
        current_user()
    )
}

/// The name of the user the tests run as.
pub fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name)
}

fn spawn_reader(
    name: &str,
    pipe: impl Read + Send + 'static,
    shared: Arc<Shared>,
    buf: fn(&Shared) -> &Mutex<String>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("ferry-{name}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            // Ends at EOF, which comes at the latest when Ferry and its children exit.
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                lock(buf(&shared)).push_str(&String::from_utf8_lossy(&line));
                line.clear();
                shared.events.send_modify(|n| *n += 1);
            }
        })?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// === impl Ferry ===

impl Ferry {
    /// A builder for `BIN start APP_DIR --address 127.0.0.1 --port 0`.
    ///
    /// Tests pass `env!("CARGO_BIN_EXE_ferry")` as `bin`. The environment variable
    /// [`BIN_OVERRIDE_ENV`] (`FERRY_TEST_BIN`), when set, replaces it: to run the suite against
    /// another build (a release binary, an installed one).
    // Returns the builder, not `Self`: `Ferry::new(bin, dir).arg(..).spawn()` reads like the
    // scenario, and a `Ferry` only exists once the process runs.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(bin: impl Into<PathBuf>, app_dir: impl Into<PathBuf>) -> FerryBuilder {
        let bin = std::env::var_os(BIN_OVERRIDE_ENV).map_or_else(|| bin.into(), PathBuf::from);
        FerryBuilder {
            bin,
            app_dir: app_dir.into(),
            args: Vec::new(),
            envs: Vec::new(),
            startup_timeout: Duration::from_secs(20),
            config: None,
        }
    }

    /// A builder for `BIN start --config FILE`. The file says where Ferry listens and as whom
    /// apps run; [`config_user_directives`] gives the `http`-level lines that make apps run as
    /// the test's user.
    pub fn with_config(bin: impl Into<PathBuf>, file: impl Into<PathBuf>) -> FerryBuilder {
        let file = file.into();
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        FerryBuilder {
            config: Some(file),
            ..Ferry::new(bin, dir)
        }
    }

    /// Ferry's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The app directory Ferry was started with.
    pub fn app_dir(&self) -> &Path {
        &self.app_dir
    }

    /// Every listener Ferry announced before [`FerryBuilder::spawn`] returned.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// The first TCP address Ferry listens on.
    ///
    /// # Panics
    ///
    /// When Ferry announced no TCP listener (it was started with `--socket`).
    pub fn addr(&self) -> SocketAddr {
        Listener::first_tcp(&self.listeners)
    }

    /// `http://ADDR` of the first TCP listener, without a trailing slash.
    ///
    /// # Panics
    ///
    /// As [`addr`](Self::addr).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://ADDR` followed by `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// The path of the first unix socket Ferry listens on, if any.
    pub fn socket_path(&self) -> Option<&Path> {
        self.listeners.iter().find_map(|l| match l {
            Listener::Unix(p) => Some(p.as_path()),
            Listener::Tcp(_) => None,
        })
    }

    /// Everything Ferry has written to stderr so far.
    pub fn log(&self) -> String {
        lock(&self.shared.stderr).clone()
    }

    /// Everything Ferry has written to stdout so far.
    pub fn stdout(&self) -> String {
        lock(&self.shared.stdout).clone()
    }

    /// Waits until Ferry's stderr contains `needle`; fails after `timeout` or if Ferry exits
    /// without having logged it.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let found = self
            .wait_until(timeout, |s| {
                if lock(&s.stderr).contains(needle) {
                    Some(true)
                } else if lock(&s.exit).is_some() {
                    Some(false)
                } else {
                    None
                }
            })
            .await;
        match found {
            Some(true) => Ok(()),
            Some(false) => Err(format!("ferry exited without logging {needle:?}").into()),
            None => Err(format!("ferry did not log {needle:?} within {timeout:?}").into()),
        }
    }

    /// Sends `signal` to Ferry.
    ///
    /// Refuses once Ferry has been reaped, since its pid may then belong to another process.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        if let Some(status) = *lock(&self.shared.exit) {
            return Err(format!("ferry already exited ({status}); not sending {signal}").into());
        }
        kill(Pid::from_raw(self.pid as i32), signal)?;
        Ok(())
    }

    /// Waits until Ferry exits; fails after `timeout`.
    pub async fn wait_exit(&self, timeout: Duration) -> Result<ExitStatus> {
        self.wait_until(timeout, |s| *lock(&s.exit))
            .await
            .ok_or_else(|| format!("ferry did not exit within {timeout:?}").into())
    }

    /// The exit status, if Ferry has exited.
    pub fn try_exit_status(&self) -> Option<ExitStatus> {
        *lock(&self.shared.exit)
    }

    /// Every live descendant of Ferry: the app processes and whatever they spawned.
    pub fn descendants(&self) -> Vec<u32> {
        procfs::descendants(self.pid)
    }

    /// Ferry's peak resident memory so far, in KiB.
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        procfs::vm_hwm_kib(self.pid)
    }

    /// Evaluates `check` after every event (line read, exit) until it returns `Some`.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Shared) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.shared.events.subscribe();
        loop {
            // Mark the current state seen *before* checking, so no change is missed.
            events.borrow_and_update();
            if let Some(value) = check(&self.shared) {
                return Some(value);
            }
            // The sender lives in `shared`, which we hold: `changed` cannot fail.
            if tokio::time::timeout_at(deadline, events.changed())
                .await
                .is_err()
            {
                return check(&self.shared);
            }
        }
    }

    async fn wait_listening(&self, timeout: Duration) -> Result<Vec<Listener>> {
        let outcome = self
            .wait_until(timeout, |s| {
                let listeners = parse_listeners(&lock(&s.stdout));
                if !listeners.is_empty() {
                    Some(Ok(listeners))
                } else {
                    (*lock(&s.exit)).map(Err)
                }
            })
            .await;
        match outcome {
            Some(Ok(listeners)) => Ok(listeners),
            Some(Err(status)) => Err(format!(
                "ferry exited ({status}) before listening\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.log()
            )
            .into()),
            None => Err(format!(
                "ferry printed no `{LISTENING_PREFIX}` line within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout(),
                self.log()
            )
            .into()),
        }
    }

    fn kill_all(&self) {
        if lock(&self.shared.exit).is_some() {
            return;
        }
        // Collect before killing Ferry: once it dies, its children are re-parented.
        let descendants = self.descendants();
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        for pid in descendants {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let exit = lock(&self.shared.exit);
        let _ = self
            .shared
            .exited
            .wait_timeout_while(exit, Duration::from_secs(10), |e| e.is_none());
    }

    fn print_log_tail(&self) {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        eprintln!(
            "--- ferry pid {} ({}), last {} stderr lines ---\n{}\n--- end of ferry log ---",
            self.pid,
            self.try_exit_status()
                .map_or_else(|| "still running".to_owned(), |s| s.to_string()),
            tail.len(),
            tail.join("\n")
        );
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        self.kill_all();
        self.print_log_tail();
    }
}

impl std::fmt::Debug for Ferry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ferry")
            .field("pid", &self.pid)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

/// Every listener announced in `stdout`.
pub fn parse_listeners(stdout: &str) -> Vec<Listener> {
    stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix(LISTENING_PREFIX))
        .filter_map(Listener::from_url)
        .collect()
}

// === impl Listener ===

impl Listener {
    /// The first TCP address among `listeners`.
    ///
    /// # Panics
    ///
    /// When there is none (Ferry was started with a unix socket only).
    pub fn first_tcp(listeners: &[Listener]) -> SocketAddr {
        listeners
            .iter()
            .find_map(|l| match l {
                Listener::Tcp(a) => Some(*a),
                Listener::Unix(_) => None,
            })
            .expect("ferry listens on no TCP address")
    }

    /// The listener a URL as Ferry prints it names: `http://ADDR`, `https://ADDR` or
    /// `unix:PATH`.
    pub fn from_url(url: &str) -> Option<Listener> {
        // Issue 19, TLS: an `https://` listener is a TCP one too.
        if let Some(addr) = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
        {
            addr.trim_end_matches('/').parse().ok().map(Listener::Tcp)
        } else {
            url.strip_prefix("unix:")
                .map(|p| Listener::Unix(PathBuf::from(p)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_lines() {
        let out = "ferry: listening on http://127.0.0.1:41234\nother\nferry: listening on unix:/tmp/x.sock\n";
        assert_eq!(
            parse_listeners(out),
            vec![
                Listener::Tcp("127.0.0.1:41234".parse().unwrap()),
                Listener::Unix("/tmp/x.sock".into())
            ]
        );
    }

    #[test]
    fn default_command_line() {
        let b = Ferry::new("/bin/ferry", "/app")
            .arg("--max-pool-size")
            .arg("2");
        let line: Vec<String> = b
            .command_line()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            line,
            [
                "start",
                "/app",
                "--user",
                &current_user(),
                "--allow-root-apps",
                "--address",
                "127.0.0.1",
                "--port",
                "0",
                "--max-pool-size",
                "2"
            ]
        );
        let b = Ferry::new("/bin/ferry", "/app").args(["--socket", "/s"]);
        assert_eq!(b.command_line().len(), 7);
    }
}
