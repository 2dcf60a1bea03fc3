//! From the configuration to each component's own options (STYLE §5, "components take their
//! own options"): the spawner's settings, each app's `SpawnOptions` and pool group, the pool's
//! settings, and the front end's settings for an app at one place.

use std::sync::Arc;
use std::time::Duration;

use ferry_config::deployment::{Deployment, Mount, PassengerRoute};
use ferry_config::{AppConfig, AppType, Start};
use ferry_front::{SiteConfig, StickyCookie};
use ferry_metrics::{AppId, Metrics};
use ferry_pool::{GroupConfig, PoolConfig};
use ferry_spawn::{AppKind, Hooks, SpawnOptions, SpawnerConfig, UserSwitching};

use crate::error::Error;
use crate::runtime_dir::RuntimeDir;

/// How long an app process may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = ferry_pool::DEFAULT_STOP_GRACE;
/// How often, at most, `tmp/restart.txt` is looked at.
pub const RESTART_CHECK_INTERVAL: Duration = ferry_pool::DEFAULT_RESTART_CHECK_INTERVAL;

/// The programs the spawner runs besides the apps: the SpawnEnvSetupper and the loaders.
///
/// `ferry start` uses [`Programs::current`]. A server started inside another program (the
/// in-process test harness) names the `ferry` binary itself, since that program cannot act as
/// the setupper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    /// The `ferry` binary: each app process starts as `SETUPPER spawn-env-setupper ...`.
    pub setupper: std::path::PathBuf,
    /// Ferry's root, which holds `loaders/`.
    pub root: std::path::PathBuf,
}

// === impl Programs ===

impl Programs {
    /// This process's own binary as the setupper, and the root found from it: `$FERRY_ROOT`
    /// when set, else the nearest directory above the binary holding `loaders/`.
    pub fn current() -> Programs {
        let exe = std::env::current_exe().unwrap_or_else(|_| "ferry".into());
        Programs {
            root: ferry_root(&exe),
            setupper: exe,
        }
    }
}

/// The pool's settings. Its hooks are the spawner's, with the same base environment: the pool
/// runs `attached_process`, `detached_process`, `after_initialize_supergroup`,
/// `before_destroy_supergroup` and `queue_full_error`.
pub(crate) fn pool_config(deployment: &Deployment, spawner: &SpawnerConfig) -> PoolConfig {
    PoolConfig {
        stop_grace: STOP_GRACE,
        idle_time: deployment.pool.idle_time,
        max_parallel_spawns: deployment.pool.max_parallel_spawns,
        hooks: spawner.hooks.clone(),
        ..PoolConfig::new(deployment.pool.max_pool_size)
    }
}

pub(crate) fn group_config(app: &AppConfig, spawn: SpawnOptions) -> GroupConfig {
    GroupConfig {
        name: app.group_name.clone(),
        min_instances: app.min_instances,
        max_queue: app.max_request_queue_size,
        max_queue_time: app.max_request_queue_time,
        max_instances: app.max_instances,
        max_requests: app.max_requests,
        memory_limit: app.memory_limit,
        memory_hard_limit: app.memory_hard_limit,
        rolling_restarts: app.rolling_restarts,
        resist_deployment_errors: app.resist_deployment_errors,
        restart_dir: Some(app.root.join("tmp")),
        restart_check_interval: RESTART_CHECK_INTERVAL,
        // Issue 22, refork:
        refork_after: app.refork_after,
        ..GroupConfig::new(spawn)
    }
}

/// The front end's settings for `app` mounted at `mount` in a route. Request bodies beyond the
/// memory buffer, and responses a client is slower to take than the app to write, go to unlinked
/// files in `body_temp_dir` unless the route names a directory (`client_body_temp_path`).
pub(crate) fn site_config(
    app: &AppConfig,
    mount: &Mount,
    route: &PassengerRoute,
    body_temp_dir: &std::path::Path,
) -> SiteConfig {
    let body = &route.request_body;
    let temp_dir = body
        .temp_dir
        .clone()
        .unwrap_or_else(|| body_temp_dir.to_owned());
    SiteConfig {
        public_dir: mount.public_dir.clone(),
        friendly_error_pages: app.friendly_error_pages,
        base_uri: mount.base_uri.clone(),
        server_software: server_software(),
        queue_overflow_status: app.queue_overflow_status,
        max_request_time: route.max_request_time,
        disable_symlinks: mount.disable_symlinks.clone(),
        metrics: Arc::new(Metrics::disabled()),
        metrics_app: AppId::NONE,
        app_name: app.group_name.clone(),
        sticky_sessions: app.sticky_sessions.as_ref().map(|sticky| StickyCookie {
            name: sticky.cookie_name.clone(),
            attributes: sticky.cookie_attributes.clone(),
        }),
        // Issue 16, request side:
        request_buffering: body.buffering,
        client_body_buffer_size: body.buffer_size,
        client_body_timeout: body.timeout,
        client_body_temp_dir: temp_dir.clone(),
        ignore_client_abort: route.ignore_client_abort,
        // Issue 16, response side:
        response: route.response.clone(),
        response_buffer_dir: temp_dir,
    }
}

/// Where request bodies beyond the memory buffer go by default: `tmp/` in the instance
/// directory (Ferry's own, not writable by others), made when the first body needs it.
pub(crate) fn body_temp_dir(instance: &std::path::Path) -> std::path::PathBuf {
    instance.join("tmp")
}

/// `SERVER_SOFTWARE` for the apps.
fn server_software() -> String {
    format!("Ferry/{}", env!("CARGO_PKG_VERSION"))
}

/// How one process of the app is started. `ferry_root` holds `loaders/`.
pub(crate) fn spawn_options(
    app: &AppConfig,
    log_level: u8,
    ferry_root: &std::path::Path,
) -> SpawnOptions {
    let (passenger_type, loader, title) = match app.app_type {
        AppType::Node => ("nodejs", "node/node-loader.js", "Ferry NodeApp"),
        AppType::Ruby => ("ruby", "ruby/rack-loader.rb", "Ferry RubyApp"),
        AppType::Python => ("python", "python/wsgi-loader.py", "Ferry PythonApp"),
        AppType::Generic => ("", "", "Ferry App"),
        AppType::Asgi => ("asgi", "python/asgi-loader.py", "Ferry PythonApp"),
    };
    let start_command = match &app.start {
        Start::Command(cmd) => cmd.clone(),
        Start::Loader { interpreter } => {
            let loader = ferry_root.join("loaders").join(loader);
            format!(
                "{} {}",
                ferry_config::shell_quote(interpreter),
                ferry_config::shell_quote(&loader.to_string_lossy())
            )
        }
    };
    let mut options = SpawnOptions::generic(&app.root, start_command);
    options.app_group_name = app.group_name.clone();
    options.app_type = passenger_type.to_owned();
    options.startup_file = app.startup_file.as_ref().map(|f| app.root.join(f));
    options.process_title = Some(title.to_owned());
    options.base_uri = app.base_uri.clone();
    if matches!(app.start, Start::Loader { .. }) {
        options.kind = AppKind::SpawningKit { wrapper: true };
    } else if app.spawning_kit_aware {
        // A start command for a typed app is a loader of its own (Passenger's, say).
        let wrapper = app.app_type != AppType::Generic;
        options.kind = AppKind::SpawningKit { wrapper };
    }
    options.environment = app.environment.clone();
    options.start_timeout = app.start_timeout;
    options.env = app.env.clone();
    let users = &app.user_switching;
    options.user_switching = UserSwitching {
        enabled: users.enabled,
        user: users.user.clone(),
        group: users.group.clone(),
        default_user: users.default_user.clone(),
        default_group: users.default_group.clone(),
        allow_root: users.allow_root,
    };
    options.load_shell_envvars = app.load_shell_envvars;
    options.file_descriptor_ulimit = app.file_descriptor_ulimit;
    options.log_level = log_level;
    options.spawn_method = match app.spawn_method {
        ferry_config::SpawnMethod::Smart => ferry_spawn::SpawnMethod::Smart,
        ferry_config::SpawnMethod::Direct => ferry_spawn::SpawnMethod::Direct,
    };
    options.max_preloader_idle_time = app.max_preloader_idle_time;
    options.smart_fallback_to_direct = app.smart_fallback_to_direct;
    let model = if app.threads > 1 { "thread" } else { "process" };
    options.extra_args = vec![
        ("concurrency_model".into(), model.into()),
        ("thread_count".into(), app.threads.into()),
    ];
    // Issue 22, ASGI: a Python app's loader serves an ASGI app it finds as the ASGI loader does.
    if matches!(app.app_type, AppType::Asgi | AppType::Python) {
        options
            .extra_args
            .push(("asgi_concurrency".into(), app.asgi_concurrency.into()));
    }
    if let Some(name) = &app.app_callable {
        options
            .extra_args
            .push(("app_callable".into(), name.as_str().into()));
    }
    options
        .extra_args
        .extend(app.spawn_args.iter().map(|(k, v)| {
            let value = serde_json::from_str(v).unwrap_or_else(|_| v.clone().into());
            (k.clone(), value)
        }));
    options
}

pub(crate) fn spawner_config(
    hooks: &[String],
    runtime: &RuntimeDir,
    instance: &std::path::Path,
    programs: Programs,
) -> Result<SpawnerConfig, Error> {
    let mut spawner =
        SpawnerConfig::new(vec![programs.setupper.into(), "spawn-env-setupper".into()]);
    spawner.ferry_root = programs.root;
    spawner.socket_dir = runtime.apps_dir();
    spawner.instance_dir = Some(runtime.path.clone());
    spawner.error_dir = Some(std::env::temp_dir());
    spawner.hooks = Hooks::parse(hooks.iter().map(String::as_str))?.with_base_env(vec![
        ("PASSENGER_VERSION".into(), spawner.version.clone()),
        (
            "PASSENGER_PASSENGER_ROOT".into(),
            spawner.ferry_root.display().to_string(),
        ),
        (
            "PASSENGER_SERVER_INSTANCE_DIR".into(),
            instance.display().to_string(),
        ),
    ]);
    Ok(spawner)
}

/// Ferry's root: `$FERRY_ROOT` when set (a binary built or installed away from the source
/// tree), else the nearest directory above the binary that holds `loaders/`, else the binary's
/// own directory.
fn ferry_root(exe: &std::path::Path) -> std::path::PathBuf {
    if let Some(root) = std::env::var_os("FERRY_ROOT").filter(|r| !r.is_empty()) {
        return root.into();
    }
    let dir = exe.parent().unwrap_or(std::path::Path::new("/"));
    dir.ancestors()
        .find(|d| d.join("loaders").is_dir())
        .unwrap_or(dir)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_config::StartOptions;

    fn arg<'a>(options: &'a SpawnOptions, key: &str) -> Option<&'a serde_json::Value> {
        options
            .extra_args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    // Issue 22, ASGI:
    #[test]
    fn an_asgi_app_runs_the_asgi_loader_with_its_concurrency_and_callable() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let app = StartOptions {
            app_dir: Some(root.to_owned()),
            startup_file: Some("main.py:app".into()),
            asgi_concurrency: Some(12),
            python: Some("python3".into()),
            ..StartOptions::default()
        }
        .app_config(false)
        .unwrap();
        let options = spawn_options(&app, 3, std::path::Path::new("/opt/ferry"));
        assert_eq!(
            options.start_command,
            "python3 /opt/ferry/loaders/python/asgi-loader.py"
        );
        assert_eq!(options.app_type, "asgi");
        assert_eq!(options.startup_file, Some(app.root.join("main.py")));
        assert!(options.uses_preloader());
        assert_eq!(arg(&options, "asgi_concurrency"), Some(&12.into()));
        assert_eq!(arg(&options, "app_callable"), Some(&"app".into()));
        // A WSGI app's loader is told the concurrency too: it serves an ASGI app it finds.
        let wsgi = StartOptions {
            app_dir: Some(root.to_owned()),
            app_type: Some(AppType::Python),
            ..StartOptions::default()
        }
        .app_config(false)
        .unwrap();
        let options = spawn_options(&wsgi, 3, std::path::Path::new("/opt/ferry"));
        assert!(options.start_command.ends_with("python/wsgi-loader.py"));
        let default = ferry_config::defaults::ASGI_CONCURRENCY;
        assert_eq!(arg(&options, "asgi_concurrency"), Some(&default.into()));
        assert_eq!(arg(&options, "app_callable"), None);
    }
}
