//! What happens once a spawn has failed: the report is logged under its error id, saved as a
//! friendly HTML page, and the `spawn_failed` hook runs in the background.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::error::SpawnError;
use crate::user::Account;
use crate::{page, SpawnOptions, SpawnerConfig};

/// Logs `error`, saves its page and fires the `spawn_failed` hook.
pub(crate) fn spawn_failed(error: &SpawnError, options: &SpawnOptions, config: &SpawnerConfig) {
    let saved = save_page(error, config);
    let mut log = format!(
        "Could not spawn process for application {}: {}\n  Error ID: {}\n  Failed step: {} ({})",
        options.app_group_name,
        error.summary(),
        error.id(),
        error.step(),
        error.step().describe(),
    );
    if let Some(path) = &saved {
        let _ = write!(log, "\n  Error details saved to: {}", path.display());
    }
    let output = error.output().trim_end();
    let output = if output.is_empty() { "(none)" } else { output };
    let _ = write!(log, "\n  App output:\n{}", indent(output));
    tracing::error!("{log}");

    if config.hooks.has("spawn_failed") {
        drop(
            config
                .hooks
                .run_in_background("spawn_failed", hook_env(error, options)),
        );
    }
}

/// The `spawn_failed` hook's variables. The error message and the output come from the app: a
/// NUL byte in them (which no environment can hold) is written `\0`, so that an app cannot keep
/// the hook from running by printing one.
fn hook_env(error: &SpawnError, options: &SpawnOptions) -> Vec<(String, String)> {
    let vars = [
        ("PASSENGER_APP_ROOT", options.app_root.display().to_string()),
        ("PASSENGER_APP_GROUP_NAME", options.app_group_name.clone()),
        ("PASSENGER_ERROR_MESSAGE", error.summary().to_owned()),
        ("PASSENGER_ERROR_ID", error.id().to_owned()),
        ("PASSENGER_APP_ERROR_MESSAGE", error.output().to_owned()),
    ];
    vars.into_iter()
        .map(|(name, value)| (name.to_owned(), value.replace('\0', "\\0")))
        .collect()
}

/// Writes the friendly page to `<error_dir>/ferry-error-<id>.html`, readable only by Ferry's user.
fn save_page(error: &SpawnError, config: &SpawnerConfig) -> Option<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = config.error_dir.as_ref()?;
    let path = dir.join(format!("ferry-error-{}.html", error.id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(page::render_friendly(error, "Ferry").as_bytes()));
    match written {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not save the error report");
            None
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The spawn's settings as shown on the error page.
pub(crate) fn config_snapshot(
    options: &SpawnOptions,
    account: Option<&Account>,
) -> Vec<(String, String)> {
    let mut config = vec![
        ("app_root", options.app_root.display().to_string()),
        ("app_group_name", options.app_group_name.clone()),
        (
            "app_type",
            if options.app_type.is_empty() {
                "generic".to_owned()
            } else {
                options.app_type.clone()
            },
        ),
        ("environment", options.environment.clone()),
        ("start_command", options.start_command.clone()),
        ("spawn_method", options.spawn_method.name().to_owned()),
        (
            "start_timeout",
            options.start_timeout.as_secs_f64().to_string(),
        ),
        ("load_shell_envvars", options.load_shell_envvars.to_string()),
    ];
    if let Some(file) = &options.startup_file {
        config.push(("startup_file", file.display().to_string()));
    }
    if let Some(account) = account {
        config.push(("user", account.user.clone()));
        config.push(("group", account.group.clone()));
        config.push(("user_reason", account.reason.clone()));
    }
    config.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
