//! The spawn arguments: what Ferry tells the subprocess through `args.json` and `args/`.
//!
//! Key names are the ones Passenger's SpawningKit writes (reference §4.3), so loaders written for
//! Passenger find what they look for. The setupper ([`crate::setupper`]) reads the same document.

use ferry_sys::secret::{self, Unavailable, ALNUM};
use serde_json::{json, Map, Value};

use crate::journey::JourneyType;
use crate::user::Account;
use crate::{AppKind, SpawnOptions, SpawnerConfig};

/// `sizeof(sockaddr_un.sun_path) - 1` on Linux.
const UNIX_PATH_MAX: u64 = 107;

/// Builds the arguments of one spawn. Fails when the kernel gives no randomness for the connect
/// password and the ids: a predictable password is worse than no spawn.
pub(crate) fn build(
    options: &SpawnOptions,
    config: &SpawnerConfig,
    account: &Account,
    port: Option<u16>,
) -> Result<Map<String, Value>, Unavailable> {
    let mut args = Map::new();
    let password = secret::string(ALNUM, 16)?;
    installation(&mut args, config);
    args.insert("gupid".into(), json!(gupid()?));
    connection(&mut args, config, port, &password);
    app(&mut args, options);
    process(&mut args, options, account);
    args.insert("group_uuid".into(), json!(secret::string(ALNUM, 20)?));
    if let Some(limit) = options.file_descriptor_ulimit {
        args.insert("file_descriptor_ulimit".into(), json!(limit));
    }
    ferry_keys(&mut args, config, account);
    for (key, value) in &options.extra_args {
        args.insert(key.clone(), value.clone());
    }
    Ok(args)
}

/// Where Ferry is installed and which version it is, for loaders that load Passenger's code.
fn installation(args: &mut Map<String, Value>, config: &SpawnerConfig) {
    let mut set = |key: &str, value: Value| {
        args.insert(key.to_owned(), value);
    };
    set("passenger_root", json!(config.ferry_root));
    set("passenger_version", json!(config.version));
    set(
        "passenger_agent_path",
        json!(config.setupper.first().map(|s| s.to_string_lossy())),
    );
    set(
        "ruby_libdir",
        json!(config.ferry_root.join("loaders/ruby/lib")),
    );
    set(
        "node_libdir",
        json!(config.ferry_root.join("loaders/node/lib")),
    );
    set("integration_mode", json!("standalone"));
}

/// How the process is reached: the port it should listen on, its sockets' directory, and the
/// password requests must carry.
fn connection(
    args: &mut Map<String, Value>,
    config: &SpawnerConfig,
    port: Option<u16>,
    password: &str,
) {
    let mut set = |key: &str, value: Value| {
        args.insert(key.to_owned(), value);
    };
    set("UNIX_PATH_MAX", json!(UNIX_PATH_MAX));
    if let Some(port) = port {
        set("expected_start_port", json!(port));
    }
    set("connect_password", json!(password));
    set("api_key", json!(password));
    if let Some(dir) = &config.instance_dir {
        set("instance_dir", json!(dir));
    }
    set("socket_dir", json!(config.socket_dir));
}

/// The app: where it is, what it is and how it starts.
fn app(args: &mut Map<String, Value>, options: &SpawnOptions) {
    let mut set = |key: &str, value: Value| {
        args.insert(key.to_owned(), value);
    };
    set("app_group_name", json!(options.app_group_name));
    set("app_root", json!(options.app_root));
    set("log_level", json!(options.log_level));
    set("generic_app", json!(options.kind == AppKind::Generic));
    if let AppKind::SpawningKit { wrapper } = options.kind {
        set("starts_using_wrapper", json!(wrapper));
        if wrapper {
            set("wrapper_supplied_by_third_party", json!(false));
        }
    }
    set("load_shell_envvars", json!(options.load_shell_envvars));
    set("start_command", json!(options.start_command));
    if let Some(file) = &options.startup_file {
        set("startup_file", json!(file));
    }
    if let Some(title) = &options.process_title {
        set("process_title", json!(title));
    }
    set("app_type", json!(options.app_type));
    set("app_env", json!(options.environment));
    set("spawn_method", json!("direct"));
    set("bind_address", json!("127.0.0.1"));
    set("base_uri", json!(options.base_uri));
}

/// The process's account and environment.
fn process(args: &mut Map<String, Value>, options: &SpawnOptions, account: &Account) {
    let mut set = |key: &str, value: Value| {
        args.insert(key.to_owned(), value);
    };
    set("user", json!(account.user));
    set("group", json!(account.group));
    set("environment_variables", env_object(&options.env));
    set("log_file", json!(""));
}

/// Ferry's own keys, for its setupper.
fn ferry_keys(args: &mut Map<String, Value>, config: &SpawnerConfig, account: &Account) {
    let mut set = |key: &str, value: Value| {
        args.insert(key.to_owned(), value);
    };
    set("server_software", json!(config.server_software));
    set("ferry_uid", json!(account.uid));
    set("ferry_gid", json!(account.gid));
    set("ferry_switch_user", json!(account.switch));
    set("ferry_pid", json!(std::process::id()));
    let setupper: Vec<String> = config
        .setupper
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    set("ferry_setupper", json!(setupper));
}

/// Marks the arguments with the spawn's route: `spawn_method` (Passenger's key), and for a
/// preloader `preloader: true` (the loader loads the app and waits for spawn commands instead of
/// serving requests) and its process title.
pub(crate) fn set_route(args: &mut Map<String, Value>, route: JourneyType) {
    match route {
        JourneyType::SpawnDirectly => {}
        JourneyType::StartPreloader => {
            args.insert("spawn_method".into(), json!("smart"));
            args.insert("preloader".into(), json!(true));
            args.insert("process_title".into(), json!(PRELOADER_TITLE));
        }
        JourneyType::SpawnThroughPreloader => {
            args.insert("spawn_method".into(), json!("smart"));
        }
    }
}

/// The title of a preloader's process: `Ferry AppPreloader: <app>` in `ps`.
pub(crate) const PRELOADER_TITLE: &str = "Ferry AppPreloader";

fn env_object(env: &[(String, String)]) -> Value {
    Value::Object(
        env.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A globally unique process id: minutes since the epoch in hex, a dash, 10 random characters.
fn gupid() -> Result<String, Unavailable> {
    let minutes = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or_default();
    Ok(format!("{minutes:x}-{}", secret::string(ALNUM, 10)?))
}

/// The text of `args/<key>` for a scalar argument, or `None` for arrays and objects (those go to
/// `args/<key>.json`).
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn account() -> Account {
        Account {
            uid: 1,
            gid: 1,
            user: "daemon".into(),
            group: "daemon".into(),
            home: None,
            shell: None,
            switch: true,
            reason: "test".into(),
            explicit_root: false,
        }
    }

    #[test]
    fn passenger_keys_are_written() {
        let mut options = SpawnOptions::generic("/srv/app", "node app.js");
        options.env.push(("A".into(), "b".into()));
        options.extra_args.push(("node_libdir".into(), json!("/x")));
        let config = SpawnerConfig::new(vec!["/usr/bin/ferry".into()]);
        let args = build(&options, &config, &account(), Some(5000)).expect("randomness");
        assert_eq!(args["app_root"], json!(PathBuf::from("/srv/app")));
        assert_eq!(args["expected_start_port"], json!(5000));
        assert_eq!(args["generic_app"], json!(true));
        assert_eq!(args["app_env"], json!("production"));
        assert_eq!(args["user"], json!("daemon"));
        assert_eq!(args["environment_variables"], json!({"A": "b"}));
        assert_eq!(args["node_libdir"], json!("/x"));
        assert_eq!(args["connect_password"].as_str().map(str::len), Some(16));
        assert!(!args.contains_key("starts_using_wrapper"));
    }

    #[test]
    fn the_route_marks_preloaders() {
        let options = SpawnOptions::generic("/srv/app", "ruby loader.rb");
        let config = SpawnerConfig::new(vec!["/usr/bin/ferry".into()]);
        let mut args = build(&options, &config, &account(), None).expect("randomness");
        assert_eq!(args["spawn_method"], json!("direct"));
        set_route(&mut args, JourneyType::StartPreloader);
        assert_eq!(args["spawn_method"], json!("smart"));
        assert_eq!(args["preloader"], json!(true));
        assert_eq!(args["process_title"], json!("Ferry AppPreloader"));
    }

    #[test]
    fn scalars_become_text_and_structures_do_not() {
        assert_eq!(scalar_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar_text(&json!(3)).as_deref(), Some("3"));
        assert_eq!(scalar_text(&json!(null)).as_deref(), Some(""));
        assert_eq!(scalar_text(&json!({"a": 1})), None);
    }
}
