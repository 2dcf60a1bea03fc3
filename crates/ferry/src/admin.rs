//! The admin commands: `ferry status`, `list-instances`, `restart-app`, `detach-process`,
//! `reopen-logs`, `log-level`, `backtraces`, `drain` and `undrain` (Passenger's `passenger-status` and
//! `passenger-config` verbs). Each finds the running Ferry in its instance registry
//! (`ferry_admin::registry`) and asks its admin API (`ferry_admin::client`); none needs root for
//! one's own apps.
//!
//! Exit codes: 0 done, 1 the instance refused or failed (the API's message is printed), 2 no
//! instance found (the message lists where Ferry looked), 64 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ferry_admin::client::status::{self, Format, Options, Show};
use ferry_admin::client::{Client, Level, Reply};
use ferry_admin::registry::{self, Instance, RegistryEnv};
use serde_json::json;

/// Where to find the instance: every admin command takes these.
#[derive(Debug, Args, Clone)]
pub(crate) struct InstanceArgs {
    /// The instance to talk to, by name or a prefix of it, when several run.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// Look for instances in this directory only (as `ferry start --instance-registry-dir`).
    #[arg(long, value_name = "DIR")]
    instance_registry_dir: Option<PathBuf>,
}

/// `ferry status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    instance: InstanceArgs,
    /// What to show.
    #[arg(long, value_enum, default_value_t = ShowArg::Pool)]
    show: ShowArg,
    /// How to show it.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Also show each process's URL and connect password (direct access, seed 000 §10.4).
    #[arg(short, long)]
    verbose: bool,
    /// Leave out the Version/Date/Instance header.
    #[arg(long)]
    no_header: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ShowArg {
    Pool,
    Server,
    Requests,
    Backtraces,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Xml,
}

/// `ferry list-instances`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Look in this directory only.
    #[arg(long, value_name = "DIR")]
    instance_registry_dir: Option<PathBuf>,
    /// One JSON array instead of text.
    #[arg(long)]
    json: bool,
}

/// `ferry restart-app`.
#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    #[command(flatten)]
    instance: InstanceArgs,
    /// The app: its root directory or its group name.
    app: String,
    /// Replace processes one at a time, new ones first, instead of all at once.
    #[arg(long)]
    rolling: bool,
}

/// `ferry detach-process` and `ferry backtraces`.
#[derive(Debug, Args)]
pub(crate) struct PidArgs {
    #[command(flatten)]
    instance: InstanceArgs,
    /// The app process.
    pid: u32,
}

/// `ferry log-level`.
#[derive(Debug, Args)]
pub(crate) struct LogLevelArgs {
    #[command(flatten)]
    instance: InstanceArgs,
    /// 0 (critical) .. 7 (debug3), Passenger's scale; 3 is notice, the default.
    #[arg(value_parser = clap::value_parser!(u8).range(0..=7))]
    level: u8,
}

const NO_INSTANCE: u8 = 2;

pub(crate) fn status(args: &StatusArgs) -> ExitCode {
    let options = Options {
        show: match args.show {
            ShowArg::Pool => Show::Pool,
            ShowArg::Server => Show::Server,
            ShowArg::Requests => Show::Requests,
            ShowArg::Backtraces => Show::Backtraces,
        },
        format: match args.format {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Xml => Format::Xml,
        },
        verbose: args.verbose,
        header: !args.no_header,
    };
    let level = if args.verbose {
        Level::Full
    } else {
        Level::ReadOnly
    };
    with_client(&args.instance, level, |client, instance| async move {
        match status::fetch_and_render(&client, &instance, options).await {
            Ok(text) => {
                out(&text);
                if !text.ends_with('\n') {
                    out("\n");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        }
    })
}

pub(crate) fn list_instances(args: &ListArgs) -> ExitCode {
    let dirs = search_dirs(args.instance_registry_dir.as_ref());
    let listing = registry::list_all(&dirs);
    for (path, why) in &listing.not_cleaned {
        eprintln!(
            "ferry: stale instance directory {} not removed: {why}",
            path.display()
        );
    }
    if args.json {
        let all: Vec<_> = listing
            .instances
            .iter()
            .map(|i| json!({"path": i.path, "properties": i.properties}))
            .collect();
        out(&format!("{:#}\n", serde_json::Value::Array(all)));
        return ExitCode::SUCCESS;
    }
    if listing.instances.is_empty() {
        eprintln!("{}", registry::no_instance_message(&dirs));
        return ExitCode::from(NO_INSTANCE);
    }
    let mut table = format!(
        "{:<12} {:>8}  {:<28} Listening on\n",
        "Name", "PID", "Description"
    );
    for i in &listing.instances {
        let p = &i.properties;
        table.push_str(&format!(
            "{:<12} {:>8}  {:<28} {}\n",
            p.name,
            p.pid,
            p.description,
            p.listeners.join(" ")
        ));
    }
    out(&table);
    ExitCode::SUCCESS
}

pub(crate) fn restart_app(args: &RestartArgs) -> ExitCode {
    let method = if args.rolling { "rolling" } else { "blocking" };
    let body = json!({"name": args.app, "restart_method": method});
    call(&args.instance, "restarted", |client| async move {
        client
            .post_json("/pool/restart_app_group.json", &body)
            .await
    })
}

pub(crate) fn detach_process(args: &PidArgs) -> ExitCode {
    let body = json!({"pid": args.pid});
    call(&args.instance, "detached", |client| async move {
        client.post_json("/pool/detach_process.json", &body).await
    })
}

pub(crate) fn reopen_logs(args: &InstanceArgs) -> ExitCode {
    call(args, "logs reopened", |client| async move {
        client.post_json("/reopen_logs.json", &json!({})).await
    })
}

pub(crate) fn log_level(args: &LogLevelArgs) -> ExitCode {
    let body = json!({"log_level": args.level});
    call(&args.instance, "log level set", |client| async move {
        client.put_json("/config.json", &body).await
    })
}

// Issue 18, health:
pub(crate) fn drain(args: &InstanceArgs) -> ExitCode {
    call(
        args,
        "draining: the health path answers 503; requests are still served",
        |client| async move { client.post_json("/drain.json", &json!({})).await },
    )
}

pub(crate) fn undrain(args: &InstanceArgs) -> ExitCode {
    call(
        args,
        "undrained: the health path answers 200 again once ready",
        |client| async move { client.post_json("/undrain.json", &json!({})).await },
    )
}

pub(crate) fn backtraces(args: &PidArgs) -> ExitCode {
    let body = json!({"pid": args.pid});
    call(
        &args.instance,
        "backtraces requested",
        |client| async move { client.post_json("/pool/backtraces.json", &body).await },
    )
}

/// Sends one change to the instance and prints its JSON answer's message, or `done`.
fn call<F, Fut>(args: &InstanceArgs, done: &'static str, send: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, ferry_admin::client::ClientError>>,
{
    with_client(args, Level::Full, |client, _| async move {
        match send(client).await {
            Ok(reply) if reply.status.is_success() => {
                let answer = reply.json::<serde_json::Value>().ok();
                // `{"detached": false}`: no process of this instance has that pid.
                if answer.as_ref().and_then(|v| v.get("detached")) == Some(&json!(false)) {
                    return fail("no app process of this instance has that pid");
                }
                let message = answer
                    .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned));
                out(&format!("{}\n", message.unwrap_or_else(|| done.to_owned())));
                ExitCode::SUCCESS
            }
            Ok(reply) => fail(&reply.error_message()),
            Err(e) => fail(&e.to_string()),
        }
    })
}

/// Finds the instance, builds a client for it and runs `f` on a small runtime.
fn with_client<F, Fut>(args: &InstanceArgs, level: Level, f: F) -> ExitCode
where
    F: FnOnce(Client, Instance) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let dirs = search_dirs(args.instance_registry_dir.as_ref());
    let listing = registry::list_all(&dirs);
    let instance = match registry::select(&listing.instances, args.instance.as_deref()) {
        Ok(instance) => instance.clone(),
        Err(registry::SelectError::NoneRunning) => {
            eprintln!("{}", registry::no_instance_message(&dirs));
            return ExitCode::from(NO_INSTANCE);
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(NO_INSTANCE);
        }
    };
    let client = match Client::for_instance(&instance, level) {
        Ok(client) => client,
        Err(e) => {
            return fail(&format!(
                "cannot use instance {}: {e}",
                instance.path.display()
            ))
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(f(client, instance))
}

fn search_dirs(given: Option<&PathBuf>) -> Vec<PathBuf> {
    match given {
        Some(dir) => vec![std::path::absolute(dir).unwrap_or_else(|_| dir.clone())],
        None => RegistryEnv::from_process().search_dirs(),
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
fn out(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ferry: {message}");
    ExitCode::FAILURE
}
