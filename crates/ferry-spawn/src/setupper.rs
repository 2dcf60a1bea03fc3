//! The SpawnEnvSetupper: the subprocess side of a spawn, between fork and the app (seed 004,
//! "The SpawnEnvSetupper").
//!
//! The `ferry` binary runs it as the hidden subcommand `ferry spawn-env-setupper WORKDIR --before`.
//! It is a fresh process, so it may allocate, set variables and call anything; Ferry's own process
//! does none of that between fork and exec.
//!
//! `--before` (as Ferry's user, usually root): record the first steps, set the default
//! environment (reference §11.2), apply ulimits, hand the work directory to the app's user and
//! become that user (initgroups, setgid, setuid), set `HOME`/`USER`/`LOGNAME`/`SHELL`, enter the
//! app root. Then, when `load_shell_envvars` is on and the user's shell is a Bourne-style login
//! shell, exec `SHELL -lc 'exec "$@"' … ferry spawn-env-setupper WORKDIR --after`; otherwise go on
//! with the `--after` part in the same process (one exec fewer).
//!
//! `--after`: re-apply the default environment (the shell may have changed it), then the
//! user-supplied variables (they win), enter the app root again, dump the environment into
//! `envdump/`, and exec `/bin/sh -c "exec START_COMMAND"`.
//!
//! A failure is written into `response/error/` with the failed step marked `STEP_ERRORED`, also
//! printed on stderr (which Ferry captures), and the setupper exits with status 1.
//!
//! The work directory is Ferry's until this process hands it to the app's user, right before it
//! switches to that user; everything it reads and writes there goes through one descriptor
//! without following links (`workdir::Writer`; see `workdir`'s module doc).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use serde_json::{Map, Value};

use crate::category::Category;
use crate::error::EnvDump;
use crate::journey::{Step, StepState};
use crate::user::{self, Account};
use crate::workdir::{ErrorReport, Writer};

/// The environment being built for the app.
type Env = BTreeMap<OsString, OsString>;

/// A failed setupper step.
struct Failure {
    step: Step,
    category: Category,
    summary: String,
    solution: Option<String>,
}

/// Runs the setupper. `args` are the arguments after the subcommand: `WORKDIR --before|--after`.
/// Returns only on failure, with the exit status to use.
pub fn run(args: &[OsString]) -> i32 {
    let (work_dir, after) = match args {
        [dir, mode] if mode == "--before" => (PathBuf::from(dir), false),
        [dir, mode] if mode == "--after" => (PathBuf::from(dir), true),
        _ => {
            eprintln!("usage: ferry spawn-env-setupper WORKDIR --before|--after");
            return 64;
        }
    };
    let mut wd = match Writer::open(&work_dir) {
        Ok(wd) => wd,
        Err(e) => {
            eprintln!(
                "ferry spawn-env-setupper: cannot open the work directory {}: {e}",
                work_dir.display()
            );
            return 1;
        }
    };
    let result = read_args(&wd).and_then(|args| {
        let mut env: Env = std::env::vars_os().collect();
        if after {
            run_after(&wd, &args, &mut env, true)
        } else {
            run_before(&mut wd, &args, &mut env)
        }
    });
    match result {
        Ok(never) => match never {},
        Err(failure) => report(&wd, failure),
    }
}

fn read_args(wd: &Writer) -> Result<Map<String, Value>, Failure> {
    let text = wd.read_args().map_err(|e| Failure {
        step: Step::SubprocessSpawnEnvSetupperBeforeShell,
        category: Category::FileSystem,
        summary: format!(
            "Cannot read the spawn arguments in {}: {e}",
            wd.path().display()
        ),
        solution: None,
    })?;
    serde_json::from_str(&text).map_err(|e| Failure {
        step: Step::SubprocessSpawnEnvSetupperBeforeShell,
        category: Category::Internal,
        summary: format!("The spawn arguments (args.json) are not valid JSON: {e}"),
        solution: None,
    })
}

fn run_before(
    wd: &mut Writer,
    args: &Map<String, Value>,
    env: &mut Env,
) -> Result<std::convert::Infallible, Failure> {
    die_with_ferry(args);
    wd.record_step(Step::SubprocessBeforeFirstExec, StepState::Performed);
    let step = Step::SubprocessSpawnEnvSetupperBeforeShell;
    wd.record_step(step, StepState::InProgress);
    let account = account(args);
    if account.switch {
        keep_inherited(env);
    }
    set_default_env(args, wd.path(), env);
    apply_ulimits(args)?;
    // Known before switching users: afterwards /proc/self/exe may not be readable.
    let setupper = setupper_command(args);
    if account.switch {
        switch_user(wd, &account)?;
        // A change of credentials clears the parent-death signal: set it again.
        die_with_ferry(args);
    }
    let passwd = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten();
    if account.switch {
        set_user_env(passwd.as_ref(), env);
    }
    enter_app_root(args, &account, env)?;
    wd.record_step(step, StepState::Performed);

    let shell = passwd.map(|p| p.shell);
    match shell.filter(|s| bool_arg(args, "load_shell_envvars") && is_login_shell(s)) {
        Some(shell) => exec_through_shell(wd, &shell, &setupper, env),
        None => run_after(wd, args, env, false),
    }
}

fn run_after(
    wd: &Writer,
    args: &Map<String, Value>,
    env: &mut Env,
    through_shell: bool,
) -> Result<std::convert::Infallible, Failure> {
    if through_shell {
        wd.record_step(Step::SubprocessOsShell, StepState::Performed);
    }
    let step = Step::SubprocessSpawnEnvSetupperAfterShell;
    wd.record_step(step, StepState::InProgress);
    set_default_env(args, wd.path(), env);
    if let Some(Value::Object(vars)) = args.get("environment_variables") {
        for (name, value) in vars {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            env.insert(name.into(), value.into());
        }
    }
    let account = account(args);
    enter_app_root(args, &account, env).map_err(|f| Failure { step, ..f })?;
    wd.write_envdump(&dump(env));
    wd.record_step(step, StepState::Performed);
    exec_app(wd, args, env)
}

/// The variables every app process gets (reference §11.2).
fn set_default_env(args: &Map<String, Value>, work_dir: &Path, env: &mut Env) {
    let mut set = |k: &str, v: &str| {
        env.insert(k.into(), v.into());
    };
    set("IN_PASSENGER", "1");
    set("PYTHONUNBUFFERED", "1");
    set("PASSENGER_SPAWN_WORK_DIR", &work_dir.to_string_lossy());
    let app_env = str_arg(args, "app_env").unwrap_or(ferry_config::defaults::APP_ENV);
    for name in [
        "PASSENGER_APP_ENV",
        "RAILS_ENV",
        "RACK_ENV",
        "WSGI_ENV",
        "NODE_ENV",
    ] {
        set(name, app_env);
    }
    if let Some(port) = args.get("expected_start_port").and_then(Value::as_u64) {
        set("PORT", &port.to_string());
    }
    if let Some(dir) = str_arg(args, "node_libdir") {
        set("NODE_PATH", dir);
    }
    if let Some(software) = str_arg(args, "server_software") {
        set("SERVER_SOFTWARE", software);
    }
    if bool_arg(args, "preload_bundler") {
        let rubyopt = env
            .get(std::ffi::OsStr::new("RUBYOPT"))
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        env.insert(
            "RUBYOPT".into(),
            format!("{rubyopt} -rbundler/setup").into(),
        );
    }
    let base_uri = str_arg(args, "base_uri").filter(|u| !u.is_empty() && *u != "/");
    for name in [
        "PASSENGER_BASE_URI",
        "RAILS_RELATIVE_URL_ROOT",
        "RACK_BASE_URI",
    ] {
        match base_uri {
            Some(uri) => env.insert(name.into(), uri.into()),
            None => env.remove(std::ffi::OsStr::new(name)),
        };
    }
}

/// Makes this process (and the app it becomes) die with SIGKILL when Ferry dies, so a `kill -9`
/// of Ferry orphans no app. Ferry cannot arrange this itself without running code between fork
/// and exec; here it costs one `prctl`. If Ferry died before that, the parent is no longer Ferry's
/// pid, and the spawn is abandoned.
fn die_with_ferry(args: &Map<String, Value>) {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let ferry = args.get("ferry_pid").and_then(Value::as_i64);
    if ferry.is_some_and(|pid| i64::from(nix::unistd::getppid().as_raw()) != pid) {
        std::process::exit(1);
    }
}

fn apply_ulimits(args: &Map<String, Value>) -> Result<(), Failure> {
    let Some(limit) = args.get("file_descriptor_ulimit").and_then(Value::as_u64) else {
        return Ok(());
    };
    setrlimit(Resource::RLIMIT_NOFILE, limit, limit).map_err(|e| Failure {
        step: Step::SubprocessSpawnEnvSetupperBeforeShell,
        category: Category::OperatingSystem,
        summary: format!(
            "Unable to set the file descriptor ulimit (RLIMIT_NOFILE) to {limit}: {e}"
        ),
        solution: Some(format!(
            "The operating system refused the limit of {limit} open files asked for with \
             --app-file-descriptor-ulimit (passenger_app_file_descriptor_ulimit). Choose a value \
             no higher than the system's maximum (see /proc/sys/fs/nr_open and the hard limit, \
             `ulimit -Hn`)."
        )),
    })
}

fn account(args: &Map<String, Value>) -> Account {
    let num = |k| {
        args.get(k)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    };
    Account {
        uid: num("ferry_uid").unwrap_or_else(|| nix::unistd::getuid().as_raw()),
        gid: num("ferry_gid").unwrap_or_else(|| nix::unistd::getgid().as_raw()),
        user: str_arg(args, "user").unwrap_or_default().to_owned(),
        group: str_arg(args, "group").unwrap_or_default().to_owned(),
        home: None,
        shell: None,
        switch: bool_arg(args, "ferry_switch_user"),
        reason: String::new(),
        explicit_root: false,
    }
}

/// Hands the work directory to the app's user, then becomes that user. Until the hand-over the
/// directory is Ferry's alone; after it, this process writes there only through [`Writer`].
fn switch_user(wd: &mut Writer, account: &Account) -> Result<(), Failure> {
    if account.uid != nix::unistd::getuid().as_raw() {
        wd.hand_over(account.uid, account.gid)
            .map_err(|e| Failure {
                step: Step::SubprocessSpawnEnvSetupperBeforeShell,
                category: Category::of_io_error(&e),
                summary: format!(
                    "Unable to hand the work directory {} to user {} (uid {}): {e}",
                    wd.path().display(),
                    account.user,
                    account.uid
                ),
                solution: None,
            })?;
    }
    user::become_account(account).map_err(|e| Failure {
        step: Step::SubprocessSpawnEnvSetupperBeforeShell,
        category: Category::OperatingSystem,
        summary: format!(
            "Unable to switch to user {} (uid {}) and group {} (gid {}): {e}",
            account.user, account.uid, account.group, account.gid
        ),
        solution: None,
    })
}

/// What an app run as another user keeps of Ferry's own environment: the search path, the
/// locale and the time zone. Nothing else of a (usually root) Ferry's environment reaches another
/// user's process, where its owner could read it (secrets an init system or an operator's shell
/// exported for Ferry). The app's own variables (`--envvar`, `passenger_env_var`, its user's
/// `HOME`, `USER`, `SHELL`, `LOGNAME`, Passenger's variables) are added after this.
fn keep_inherited(env: &mut Env) {
    const KEPT: [&str; 4] = ["PATH", "LANG", "LANGUAGE", "TZ"];
    env.retain(|name, _| {
        let name = name.to_string_lossy();
        KEPT.contains(&name.as_ref()) || name.starts_with("LC_")
    });
}

fn set_user_env(passwd: Option<&nix::unistd::User>, env: &mut Env) {
    let names = ["USER", "LOGNAME", "SHELL", "HOME"];
    let Some(p) = passwd else {
        for name in names {
            env.remove(std::ffi::OsStr::new(name));
        }
        return;
    };
    env.insert("USER".into(), p.name.clone().into());
    env.insert("LOGNAME".into(), p.name.clone().into());
    env.insert("SHELL".into(), p.shell.clone().into());
    env.insert("HOME".into(), p.dir.clone().into());
}

fn enter_app_root(
    args: &Map<String, Value>,
    account: &Account,
    env: &mut Env,
) -> Result<(), Failure> {
    let root = str_arg(args, "app_root").unwrap_or(".");
    std::env::set_current_dir(root).map_err(|e| Failure {
        step: Step::SubprocessSpawnEnvSetupperBeforeShell,
        category: Category::of_io_error(&e),
        summary: format!(
            "Cannot enter the application directory {root} as user {} (uid {}): {e}",
            account.user,
            nix::unistd::getuid()
        ),
        solution: Some(format!(
            "The application runs as user {}, who must be able to read and enter {root} and \
             every directory above it. Fix the permissions (e.g. `chmod o+rx` on the directories \
             in the way, or change their owner), or run the application as another user with \
             --user (passenger_user).",
            account.user
        )),
    })?;
    env.insert("PWD".into(), root.into());
    Ok(())
}

fn is_login_shell(shell: &Path) -> bool {
    let name = shell.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "bash" | "zsh" | "ksh" | "sh")
}

/// How to run this setupper again (`--after`) from the shell.
fn setupper_command(args: &Map<String, Value>) -> Vec<OsString> {
    let given: Vec<OsString> = match args.get("ferry_setupper") {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(Value::as_str)
            .map(OsString::from)
            .collect(),
        _ => Vec::new(),
    };
    if !given.is_empty() {
        return given;
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ferry"));
    vec![exe.into(), "spawn-env-setupper".into()]
}

fn exec_through_shell(
    wd: &Writer,
    shell: &Path,
    setupper: &[OsString],
    env: &Env,
) -> Result<std::convert::Infallible, Failure> {
    wd.record_step(Step::SubprocessOsShell, StepState::InProgress);
    let _ = wd.write(Path::new(""), "execute_through_os_shell", b"");
    let program = Path::new(&setupper[0]);
    if nix::unistd::access(program, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(Failure {
            step: Step::SubprocessOsShell,
            category: Category::FileSystem,
            summary: format!(
                "The login shell could not run Ferry's environment setupper {}: the user (uid \
                 {}) may not execute it",
                program.display(),
                nix::unistd::getuid()
            ),
            solution: Some(
                "With --load-shell-envvars the app's user must be able to execute the ferry \
                 binary. Install Ferry where every user can run it (e.g. /usr/local/bin), or \
                 turn load_shell_envvars off."
                    .to_owned(),
            ),
        });
    }
    let error = std::process::Command::new(shell)
        .arg("-lc")
        .arg("exec \"$@\"")
        .arg("SpawnEnvSetupperShell")
        .args(setupper)
        .arg(wd.path())
        .arg("--after")
        .env_clear()
        .envs(env)
        .exec();
    Err(Failure {
        step: Step::SubprocessOsShell,
        category: Category::of_io_error(&error),
        summary: format!(
            "Unable to execute the login shell {}: {error}",
            shell.display()
        ),
        solution: None,
    })
}

fn exec_app(
    wd: &Writer,
    args: &Map<String, Value>,
    env: &Env,
) -> Result<std::convert::Infallible, Failure> {
    let wrapper = bool_arg(args, "starts_using_wrapper");
    let step = if wrapper {
        Step::SubprocessExecWrapper
    } else {
        Step::SubprocessAppLoadOrExec
    };
    wd.record_step(step, StepState::InProgress);
    let command = str_arg(args, "start_command").unwrap_or_default();
    let error = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(shell_script(command))
        .env_clear()
        .envs(env)
        .exec();
    Err(Failure {
        step,
        category: Category::of_io_error(&error),
        summary: format!("Unable to execute /bin/sh to run `{command}`: {error}"),
        solution: None,
    })
}

/// The script `/bin/sh -c` runs. A simple command is prefixed with `exec`, as Passenger does, so the
/// app itself is the process Ferry supervises (its pid is the one `ferry status` shows). A compound
/// command (`cd x && node app.js`, `a; b`) runs as written: `exec` would apply to its first part
/// only; the shell then stays the group leader and stopping the group still reaches the app.
pub fn shell_script(command: &str) -> String {
    let trimmed = command.trim_start();
    if trimmed.starts_with("exec ") || is_compound(trimmed) {
        command.to_owned()
    } else {
        format!("exec {command}")
    }
}

/// Whether `command` has shell control operators outside quotes.
fn is_compound(command: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in command.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ';' | '&' | '|' | '\n' | '(' | ')' if !single && !double => return true,
            _ => {}
        }
    }
    false
}

/// Records the failure in the work directory and on stderr; returns the exit status.
fn report(wd: &Writer, failure: Failure) -> i32 {
    eprintln!("ferry spawn-env-setupper: {}", failure.summary);
    wd.record_step(failure.step, StepState::Errored);
    wd.write_error(&ErrorReport {
        category: failure.category,
        summary: &failure.summary,
        problem: None,
        solution: failure.solution.as_deref(),
        advanced: None,
    });
    let env: Env = std::env::vars_os().collect();
    wd.write_envdump(&dump(&env));
    1
}

fn dump(env: &Env) -> EnvDump {
    let mut envvars = String::new();
    for (k, v) in env {
        let _ = writeln!(envvars, "{}={}", k.to_string_lossy(), v.to_string_lossy());
    }
    EnvDump {
        pid: Some(std::process::id()),
        envvars: Some(envvars),
        user_info: Some(user_info()),
        ulimits: Some(ulimits()),
        annotations: Vec::new(),
    }
}

/// This process's identity, as `id -a` prints it.
pub fn user_info() -> String {
    use nix::unistd::{getegid, geteuid, getgroups, Group, User};
    let uid = geteuid();
    let gid = getegid();
    let user = User::from_uid(uid).ok().flatten().map(|u| u.name);
    let group = |g: nix::unistd::Gid| {
        let name = Group::from_gid(g).ok().flatten().map(|g| g.name);
        format!("{}({})", g, name.unwrap_or_else(|| "?".into()))
    };
    let groups: Vec<String> = getgroups()
        .unwrap_or_default()
        .into_iter()
        .map(group)
        .collect();
    format!(
        "uid={}({}) gid={} groups={}",
        uid,
        user.unwrap_or_else(|| "?".into()),
        group(gid),
        groups.join(",")
    )
}

/// This process's resource limits, one per line, like `ulimit -a`.
pub fn ulimits() -> String {
    let limits = [
        ("core file size (blocks)", Resource::RLIMIT_CORE),
        ("data seg size (kbytes)", Resource::RLIMIT_DATA),
        ("file size (blocks)", Resource::RLIMIT_FSIZE),
        ("max locked memory (kbytes)", Resource::RLIMIT_MEMLOCK),
        ("open files", Resource::RLIMIT_NOFILE),
        ("stack size (kbytes)", Resource::RLIMIT_STACK),
        ("cpu time (seconds)", Resource::RLIMIT_CPU),
        ("max user processes", Resource::RLIMIT_NPROC),
        ("virtual memory (kbytes)", Resource::RLIMIT_AS),
    ];
    let show = |v: u64| {
        if v == nix::sys::resource::RLIM_INFINITY {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    let mut out = String::new();
    for (name, resource) in limits {
        if let Ok((soft, hard)) = getrlimit(resource) {
            let _ = writeln!(out, "{name:<28} {} (hard {})", show(soft), show(hard));
        }
    }
    out
}

fn str_arg<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn bool_arg(args: &Map<String, Value>, key: &str) -> bool {
    args.get(key).and_then(Value::as_bool).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_get_exec_and_compound_ones_do_not() {
        assert_eq!(shell_script("node app.js"), "exec node app.js");
        assert_eq!(shell_script("exec node app.js"), "exec node app.js");
        assert_eq!(shell_script("cd x && node app.js"), "cd x && node app.js");
        assert_eq!(shell_script("echo 'a;b'"), "exec echo 'a;b'");
    }

    #[test]
    fn an_app_of_another_user_keeps_only_the_path_locale_and_time_zone_of_ferrys_environment() {
        let mut env = Env::new();
        for (k, v) in [
            ("PATH", "/usr/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("TZ", "UTC"),
            ("AWS_SECRET_ACCESS_KEY", "hush"),
            ("SUDO_USER", "admin"),
            ("HOME", "/root"),
        ] {
            env.insert(k.into(), v.into());
        }
        keep_inherited(&mut env);
        let names: Vec<_> = env
            .keys()
            .map(|k| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["LANG", "LC_ALL", "PATH", "TZ"]);
    }

    #[test]
    fn default_env_follows_reference_11_2() {
        let args: Map<String, Value> = serde_json::from_str(
            r#"{"app_env":"staging","expected_start_port":5000,"node_libdir":"/n",
                "base_uri":"/","server_software":"Ferry/1"}"#,
        )
        .unwrap();
        let mut env = Env::new();
        env.insert("PASSENGER_BASE_URI".into(), "/stale".into());
        set_default_env(&args, Path::new("/wd"), &mut env);
        let get = |k: &str| env.get(std::ffi::OsStr::new(k)).cloned();
        assert_eq!(get("IN_PASSENGER"), Some("1".into()));
        assert_eq!(get("RACK_ENV"), Some("staging".into()));
        assert_eq!(get("NODE_ENV"), Some("staging".into()));
        assert_eq!(get("PORT"), Some("5000".into()));
        assert_eq!(get("NODE_PATH"), Some("/n".into()));
        assert_eq!(get("PASSENGER_SPAWN_WORK_DIR"), Some("/wd".into()));
        assert_eq!(get("PASSENGER_BASE_URI"), None);
    }

    #[test]
    fn login_shells_are_bourne_style() {
        assert!(is_login_shell(Path::new("/bin/bash")));
        assert!(!is_login_shell(Path::new("/usr/sbin/nologin")));
    }
}
