//! Hook scripts: user commands Ferry runs at named events, as Passenger's `hook_<name>` options.
//!
//! A hook is configured as `NAME=COMMANDS` (`ferry start --hook NAME=COMMANDS`, repeatable;
//! `NAME` may carry Passenger's `hook_` prefix). `COMMANDS` is one or more commands separated by
//! `;`; each is trimmed and empty ones are ignored. Giving the same name again appends its
//! commands to the hook's list.
//!
//! Running a hook runs its commands one after another. A command fails if it cannot be started
//! or exits with a non-zero status; the remaining commands are then skipped and the hook counts
//! as failed. A command killed by a signal counts as *success*: that is what Passenger does, and
//! scripts written for it may rely on it.
//!
//! Passenger executes each command directly, with no arguments. Ferry does the same for a
//! command without whitespace (looked up in `PATH`), but runs a command containing whitespace
//! through `/bin/sh -c COMMAND`, so that `--hook 'spawn_failed=notify-admin --app foo'` works.
//! A `;` always separates commands, so shell commands cannot contain one.
//!
//! A hook process inherits Ferry's environment plus the base variables given to
//! [`Hooks::with_base_env`] (such as `PASSENGER_VERSION`), the caller's extra variables, and
//! finally `PASSENGER_HOOK_NAME=<name>`. Its stdin is `/dev/null`; each line it writes to stdout
//! or stderr is logged at info level.

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tracing::{info, warn, Instrument};

use crate::output;

/// How long to keep waiting for a hook's output after it exited. A hook that leaves a
/// background process holding its stdout open must not block whatever runs the hook; the rest
/// of that output is still logged, from a detached task.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Hook scripts by name.
///
/// Cheap to clone: the configuration is shared behind an [`Arc`].
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    inner: Arc<Inner>,
}

/// A malformed `--hook` spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookSpecError {
    /// The spec has no `=` between name and commands.
    #[error("hook spec `{spec}` has no `=`; expected NAME=COMMAND")]
    MissingEquals {
        /// The spec as given.
        spec: String,
    },
    /// The name before `=` is empty (or just `hook_`).
    #[error("hook spec `{spec}` has an empty name; expected NAME=COMMAND")]
    EmptyName {
        /// The spec as given.
        spec: String,
    },
    /// The name contains something other than ASCII letters, digits, `_` and `-`.
    #[error("hook name `{name}` in spec `{spec}` may only contain letters, digits, `_` and `-`")]
    InvalidName {
        /// The spec as given.
        spec: String,
        /// The offending name.
        name: String,
    },
    /// There is no command after `=` (only whitespace and `;`).
    #[error("hook spec `{spec}` has no command; expected NAME=COMMAND")]
    EmptyCommand {
        /// The spec as given.
        spec: String,
    },
}

#[derive(Debug, Clone, Default)]
struct Inner {
    commands: BTreeMap<String, Vec<String>>,
    base_env: Vec<(String, String)>,
}

/// One command of one hook, as named in log lines.
#[derive(Clone, Copy)]
struct Run<'a> {
    hook: &'a str,
    command: &'a str,
}

// === impl Hooks ===

impl Hooks {
    /// Parses `NAME=COMMAND` specs as given to `--hook`. `NAME` may be written with or without
    /// the `hook_` prefix and is stored without it.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Hooks, HookSpecError> {
        let mut commands = BTreeMap::<String, Vec<String>>::new();
        for spec in specs {
            let (name, list) = parse_spec(spec)?;
            commands.entry(name).or_default().extend(list);
        }
        let inner = Inner {
            commands,
            base_env: Vec::new(),
        };
        Ok(Hooks {
            inner: Arc::new(inner),
        })
    }

    /// Sets the variables every hook sees, e.g. `PASSENGER_VERSION`,
    /// `PASSENGER_PASSENGER_ROOT` and `PASSENGER_SERVER_INSTANCE_DIR`.
    #[must_use]
    pub fn with_base_env(mut self, vars: Vec<(String, String)>) -> Hooks {
        Arc::make_mut(&mut self.inner).base_env = vars;
        self
    }

    /// Whether a hook of this name is configured (`name` without the `hook_` prefix).
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.inner.commands.contains_key(name)
    }

    /// Runs the hook's commands in order and reports whether all succeeded (true when no hook
    /// of that name is configured). `extra_env` is added to the hook's environment.
    pub async fn run(&self, name: &str, extra_env: &[(String, String)]) -> bool {
        let Some(commands) = self.inner.commands.get(name) else {
            return true;
        };
        for command in commands {
            let run = Run {
                hook: name,
                command,
            };
            if !self.run_command(run, extra_env).await {
                return false;
            }
        }
        true
    }

    /// Runs the hook on a background task, for hooks whose result is ignored (`spawn_failed`,
    /// `attached_process`, ...). The handle resolves to what [`run`](Hooks::run) returned.
    ///
    /// # Panics
    ///
    /// Panics when called outside a Tokio runtime.
    pub fn run_in_background(
        &self,
        name: &str,
        extra_env: Vec<(String, String)>,
    ) -> JoinHandle<bool> {
        let hooks = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move { hooks.run(&name, &extra_env).await })
    }

    async fn run_command(&self, run: Run<'_>, extra_env: &[(String, String)]) -> bool {
        let Run { hook, command } = run;
        info!("Running {hook} hook: {command}");
        let mut child = match self.command(run, extra_env).spawn() {
            Ok(child) => child,
            Err(error) => {
                warn!(%error, "Hook {hook} command {command} could not be started");
                return false;
            }
        };
        let pid = child.id().unwrap_or_default();
        let span = tracing::info_span!("hook", name = hook, pid);
        let status = supervise(&mut child, run, pid)
            .instrument(span.clone())
            .await;
        span.in_scope(|| report(run, pid, status))
    }

    fn command(&self, run: Run<'_>, extra_env: &[(String, String)]) -> Command {
        let mut cmd = if run.command.contains(char::is_whitespace) {
            let mut sh = Command::new("/bin/sh");
            sh.arg("-c").arg(run.command);
            sh
        } else {
            Command::new(run.command)
        };
        cmd.envs(self.inner.base_env.iter().map(|(k, v)| (k, v)))
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .env("PASSENGER_HOOK_NAME", run.hook)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// Splits one spec into its name (without `hook_`) and its non-empty commands.
fn parse_spec(spec: &str) -> Result<(String, Vec<String>), HookSpecError> {
    let owned = || spec.to_owned();
    let (name, commands) = spec
        .split_once('=')
        .ok_or_else(|| HookSpecError::MissingEquals { spec: owned() })?;
    let name = name.trim();
    let name = name.strip_prefix("hook_").unwrap_or(name);
    if name.is_empty() {
        return Err(HookSpecError::EmptyName { spec: owned() });
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        let name = name.to_owned();
        return Err(HookSpecError::InvalidName {
            spec: owned(),
            name,
        });
    }
    let commands: Vec<String> = commands
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    if commands.is_empty() {
        return Err(HookSpecError::EmptyCommand { spec: owned() });
    }
    Ok((name.to_owned(), commands))
}

/// Logs the child's output while waiting for it to exit; `None` if waiting failed.
async fn supervise(child: &mut Child, run: Run<'_>, pid: u32) -> Option<ExitStatus> {
    let stdout = child.stdout.take().map(|out| log_lines(out, run, pid));
    let stderr = child.stderr.take().map(|err| log_lines(err, run, pid));
    let status = match child.wait().await {
        Ok(status) => Some(status),
        Err(error) => {
            warn!(%error, "Could not wait for hook {} (pid {pid})", run.hook);
            None
        }
    };
    let drained = async {
        for task in stdout.into_iter().chain(stderr) {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(OUTPUT_GRACE, drained).await.is_err() {
        info!(
            "Hook {} (pid {pid}) exited but something still holds its output open",
            run.hook
        );
    }
    status
}

/// Logs each line read from `stream` on a task of its own, until end of file. Lines are split at
/// the same length as an app's output, so that a hook printing without newlines (it may echo
/// what an app wrote) cannot make Ferry hold its whole output in memory.
fn log_lines(
    stream: impl AsyncRead + Unpin + Send + 'static,
    run: Run<'_>,
    pid: u32,
) -> JoinHandle<()> {
    let prefix = format!("Hook {} ({}, pid {pid}) output: ", run.hook, run.command);
    let task = async move {
        output::read_lines(stream, |line| {
            info!("{prefix}{}", String::from_utf8_lossy(line));
        })
        .await;
    };
    tokio::spawn(task.in_current_span())
}

/// Logs how the command ended and says whether it counts as success.
fn report(run: Run<'_>, pid: u32, status: Option<ExitStatus>) -> bool {
    let Run { hook, command } = run;
    let Some(status) = status else {
        return false;
    };
    match (status.code(), signal(status)) {
        (Some(0), _) => {
            info!("Hook {hook} command {command} (pid {pid}) exited with status 0");
            true
        }
        (Some(code), _) => {
            warn!("Hook {hook} command {command} (pid {pid}) exited with status {code}");
            false
        }
        // Passenger treats death by a signal as success; keep that for compatibility.
        (None, Some(sig)) => {
            info!("Hook {hook} command {command} (pid {pid}) exited with status signal {sig}");
            true
        }
        (None, None) => {
            warn!("Hook {hook} command {command} (pid {pid}) exited with status {status}");
            false
        }
    }
}

fn signal(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const LIMIT: Duration = Duration::from_secs(10);

    fn hooks(specs: &[&str]) -> Hooks {
        Hooks::parse(specs.iter().copied()).unwrap()
    }

    async fn run(hooks: &Hooks, name: &str, extra: &[(String, String)]) -> bool {
        tokio::time::timeout(LIMIT, hooks.run(name, extra))
            .await
            .expect("hook did not finish in time")
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn var(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[tokio::test]
    async fn hook_sees_name_base_and_extra_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let hooks = hooks(&[&format!("detached_process=env > {}", out.display())])
            .with_base_env(vec![var("PASSENGER_VERSION", "6.0.0-ferry")]);
        assert!(
            run(
                &hooks,
                "detached_process",
                &[var("PASSENGER_APP_ROOT", "/srv/a")]
            )
            .await
        );
        let env = read(&out);
        let lines: Vec<&str> = env.lines().collect();
        assert!(
            lines.contains(&"PASSENGER_HOOK_NAME=detached_process"),
            "{env}"
        );
        assert!(lines.contains(&"PASSENGER_VERSION=6.0.0-ferry"), "{env}");
        assert!(lines.contains(&"PASSENGER_APP_ROOT=/srv/a"), "{env}");
        assert!(
            lines.iter().any(|l| l.starts_with("PATH=")),
            "inherits Ferry's env: {env}"
        );
    }

    #[tokio::test]
    async fn commands_run_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("order");
        let f = out.display();
        let hooks = hooks(&[&format!("x=echo a >> {f}; ;echo b >> {f};")]);
        assert!(run(&hooks, "x", &[]).await);
        assert_eq!(read(&out), "a\nb\n");
    }

    #[tokio::test]
    async fn failing_command_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("after");
        let hooks = hooks(&[&format!("x=exit 3; touch {}", out.display())]);
        assert!(!run(&hooks, "x", &[]).await);
        assert!(!out.exists());
    }

    #[tokio::test]
    async fn unstartable_command_fails_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("after");
        let hooks = hooks(&[&format!(
            "x=/nonexistent/ferry-hook;touch {}",
            out.display()
        )]);
        assert!(!run(&hooks, "x", &[]).await);
        assert!(!out.exists());
    }

    #[tokio::test]
    async fn direct_command_without_whitespace() {
        assert!(run(&hooks(&["x=true"]), "x", &[]).await);
        assert!(!run(&hooks(&["x=false"]), "x", &[]).await);
    }

    #[tokio::test]
    async fn killed_by_signal_counts_as_success() {
        let hooks = hooks(&["x=kill -9 $$"]);
        assert!(run(&hooks, "x", &[]).await);
    }

    #[tokio::test]
    async fn unconfigured_hook_succeeds() {
        let hooks = hooks(&["x=false"]);
        assert!(!hooks.has("y"));
        assert!(run(&hooks, "y", &[]).await);
    }

    #[tokio::test]
    async fn output_does_not_block_on_lingering_processes() {
        // The background `sleep` keeps the hook's stdout open after the hook exits.
        let hooks = hooks(&["x=echo hi; sleep 5 & echo started"]);
        assert!(run(&hooks, "x", &[]).await);
    }

    #[tokio::test]
    async fn runs_in_background() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bg");
        let hooks = hooks(&[&format!("spawn_failed=echo $APP > {}", out.display())]);
        let handle = hooks.run_in_background("spawn_failed", vec![var("APP", "blog")]);
        let ok = tokio::time::timeout(LIMIT, handle).await.unwrap().unwrap();
        assert!(ok);
        assert_eq!(read(&out), "blog\n");
    }

    #[test]
    fn hook_prefix_is_optional() {
        let hooks = hooks(&["hook_attached_process=true", "queue_full_error = a ; b"]);
        assert!(hooks.has("attached_process"));
        assert!(hooks.has("queue_full_error"));
        assert!(!hooks.has("hook_attached_process"));
        assert_eq!(hooks.inner.commands["queue_full_error"], ["a", "b"]);
    }

    #[test]
    fn repeated_name_appends() {
        let hooks = hooks(&["x=a", "hook_x=b;c"]);
        assert_eq!(hooks.inner.commands["x"], ["a", "b", "c"]);
    }

    #[test]
    fn parse_errors() {
        let err = |spec: &str| Hooks::parse([spec]).unwrap_err();
        let spec = |s: &str| s.to_owned();
        assert_eq!(err("x"), HookSpecError::MissingEquals { spec: spec("x") });
        assert_eq!(
            err("=true"),
            HookSpecError::EmptyName {
                spec: spec("=true")
            }
        );
        assert_eq!(
            err("hook_=true"),
            HookSpecError::EmptyName {
                spec: spec("hook_=true")
            }
        );
        assert_eq!(
            err("x= ; "),
            HookSpecError::EmptyCommand {
                spec: spec("x= ; ")
            }
        );
        assert!(matches!(err("a b=true"), HookSpecError::InvalidName { .. }));
        assert_eq!(
            err("x").to_string(),
            "hook spec `x` has no `=`; expected NAME=COMMAND"
        );
    }
}
