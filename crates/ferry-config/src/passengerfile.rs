//! `Passengerfile.json`: `passenger start`'s per-app configuration file, read by `ferry start`.
//!
//! The file sits in the app directory (fallback name `passenger-standalone.json`, as for
//! Passenger) and holds one JSON object whose keys are Passenger Standalone's option names:
//! `{"port": 4000, "max_pool_size": 2, "envvars": {"A": "b"}}`. `KEYS` lists every key Ferry
//! reads with its JSON type; the environment layer ([`crate::layers`]) reads the same names. Where
//! the file stands among the sources is written down once, in [`crate::layers`].
//!
//! * A key Ferry does not know, or a Passenger option Ferry does not implement yet, is a warning
//!   naming the file and the key, and is otherwise ignored (Passenger keeps unknown keys).
//! * A value of the wrong JSON type is an error naming the file, the key and the expected type.
//!   Every such error in the file is reported, not only the first. Ranges and cross-option rules
//!   (`max_pool_size` at least 1, ...) are checked later, by [`StartOptions::resolve`].
//! * Integers are JSON numbers, booleans JSON `true`/`false`. `envvars` values may be strings,
//!   numbers or booleans (taken as text).
//! * Paths are relative to the file's directory: `socket_file`, and `ruby`/`python`/`nodejs`
//!   when they contain a `/` (a bare name such as `python3` is looked up on `PATH`).
//!   `startup_file` stays relative to the app directory, which is the same directory.
//!
//! # A file the app's owner wrote
//!
//! The file sits in the app directory, which usually belongs to the app's owner, while Ferry
//! usually runs as root. So it is opened through [`ferry_sys::fs::Root`] without blocking (a
//! FIFO there must not hang startup), a regular file only, at most [`MAX_FILE`] bytes, its owner
//! taken from the descriptor it is read from; anything else is an error naming the file. When
//! Ferry runs as root a link is followed only when the link and its target have the same owner
//! (nginx's `disable_symlinks if_not_owner`: a Passengerfile linked from a Capistrano `shared/`
//! directory works, a link to another user's file does not). And when Ferry runs as root and the file is **not owned by root**, nothing in it may
//! choose what runs as root or where root writes: the keys of [`PRIVILEGED`] (who the app runs
//! as, where Ferry's log, instance directory and listening socket go, which interpreters the
//! server uses) are ignored, each with a warning naming the file and the key. The other keys
//! stay: `app_start_command` and `envvars` only shape the app's own process, which runs as the
//! app's user after privileges are dropped, as the app's own code (which the same owner
//! controls) does; the pool and request settings choose nothing on the machine.

use std::path::{Path, PathBuf};

use ferry_sys::fs::{DisableSymlinks, Found, Root, SymlinkPolicy};
use serde_json::Value as Json;

use crate::{AppType, Error, StartOptions};

/// The file names looked for in the app directory, first found wins.
pub const FILE_NAMES: [&str; 2] = ["Passengerfile.json", "passenger-standalone.json"];

/// Longest file read (Passenger's own are a few hundred bytes).
pub const MAX_FILE: u64 = 1024 * 1024;

/// Clears one option and says whether it was set.
pub type Clear = fn(&mut StartOptions) -> bool;

/// The keys a file not owned by root may not set when Ferry runs as root, each with what clears
/// it.
#[rustfmt::skip]
pub const PRIVILEGED: &[(&str, Clear)] = &[
    ("user", |o| o.user.take().is_some()),
    ("group", |o| o.group.take().is_some()),
    ("default_user", |o| o.default_user.take().is_some()),
    ("default_group", |o| o.default_group.take().is_some()),
    ("user_switching", |o| o.user_switching.take().is_some()),
    ("socket_file", |o| o.socket.take().is_some()),
    ("log_file", |o| o.log_file.take().is_some()),
    ("instance_registry_dir", |o| o.instance_registry_dir.take().is_some()),
    ("ruby", |o| o.ruby.take().is_some()),
    ("python", |o| o.python.take().is_some()),
    ("nodejs", |o| o.nodejs.take().is_some()),
    // Issue 16, request side: where request bodies are written.
    ("data_buffer_dir", |o| o.data_buffer_dir.take().is_some()),
];

/// The options one source gave, and the warnings to log once logging is up.
#[derive(Debug, Default)]
pub struct Layer {
    /// The options the source set (all others `None`/empty).
    pub options: StartOptions,
    /// Keys that were ignored, each naming its source.
    pub warnings: Vec<String>,
}

/// The type of an option's value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A string.
    Str,
    /// A file name, relative to the file's directory.
    Path,
    /// A command name, or a path (relative to the file's directory) when it contains a `/`.
    Program,
    /// A boolean.
    Bool,
    /// A non-negative integer, at most this.
    Int(u64),
    /// An app type name (`node`, `nodejs`, `ruby`, `rack`, `python`, `wsgi`, `generic`, `asgi`).
    AppType,
    /// An object of `NAME: value`, taken as `NAME=value` items. Not read from the environment.
    Map,
    /// An array of strings. Not read from the environment.
    List,
    // Issue 16, request side:
    /// A size in bytes: a JSON number, or a string in nginx's syntax (`"10m"`).
    Size,
}

/// A value that passed its [`Kind`]'s check.
#[derive(Debug)]
pub(crate) enum Value {
    Str(String),
    Path(PathBuf),
    Bool(bool),
    Int(u64),
    AppType(AppType),
    List(Vec<String>),
}

/// One option a Passengerfile (and the environment) may set.
pub(crate) struct Key {
    /// Passenger's option name.
    pub(crate) name: &'static str,
    /// Its value's type.
    pub(crate) kind: Kind,
    /// Stores a checked value in the options.
    pub(crate) set: fn(&mut StartOptions, Value),
}

/// A value that does not have its key's type.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// The key, with `.NAME` or `[INDEX]` for an item of an object or array.
    pub(crate) key: String,
    /// What the value should be, e.g. `an integer 0..=65535`.
    pub(crate) expected: String,
    /// What it is, e.g. `"abc"` or `an array`.
    pub(crate) got: String,
}

const fn key(name: &'static str, kind: Kind, set: fn(&mut StartOptions, Value)) -> Key {
    Key { name, kind, set }
}

const U8: Kind = Kind::Int(u8::MAX as u64);
const U16: Kind = Kind::Int(u16::MAX as u64);
const U64: Kind = Kind::Int(u64::MAX);
const USIZE: Kind = Kind::Int(usize::MAX as u64);

/// Every key Ferry reads, in the order they are applied (an alias before its main name, so the
/// main name wins when both are given).
#[rustfmt::skip]
pub(crate) static KEYS: &[Key] = &[
    // Server.
    key("address", Kind::Str, |o, v| o.address = v.string()),
    key("port", U16, |o, v| o.port = v.int()),
    key("socket_file", Kind::Path, |o, v| o.socket = v.path()),
    key("log_level", U8, |o, v| o.log_level = v.int()),
    key("user", Kind::Str, |o, v| o.user = v.string()),
    key("group", Kind::Str, |o, v| o.group = v.string()),
    key("default_user", Kind::Str, |o, v| o.default_user = v.string()),
    key("default_group", Kind::Str, |o, v| o.default_group = v.string()),
    key("user_switching", Kind::Bool, |o, v| o.user_switching = v.bool()),
    // Application loading.
    key("environment", Kind::Str, |o, v| o.environment = v.string()),
    key("ruby", Kind::Program, |o, v| o.ruby = v.string()),
    key("python", Kind::Program, |o, v| o.python = v.string()),
    key("nodejs", Kind::Program, |o, v| o.nodejs = v.string()),
    key("app_type", Kind::AppType, |o, v| o.app_type = v.app_type()),
    key("startup_file", Kind::Str, |o, v| o.startup_file = v.string().map(PathBuf::from)),
    key("app_start_command", Kind::Str, |o, v| o.app_start_command = v.string()),
    key("app_support_kuria_protocol", Kind::Bool, |o, v| o.app_supports_kuria_protocol = v.bool()),
    key("app_supports_kuria_protocol", Kind::Bool, |o, v| o.app_supports_kuria_protocol = v.bool()),
    key("base_uri", Kind::Str, |o, v| o.base_uri = v.string()),
    key("friendly_error_pages", Kind::Bool, |o, v| o.friendly_error_pages = v.bool()),
    key("load_shell_envvars", Kind::Bool, |o, v| o.load_shell_envvars = v.bool()),
    key("app_file_descriptor_ulimit", U64, |o, v| o.app_file_descriptor_ulimit = v.int()),
    key("envvars", Kind::Map, |o, v| o.envvars = v.list()),
    // Process management.
    key("max_pool_size", USIZE, |o, v| o.max_pool_size = v.int()),
    key("min_instances", USIZE, |o, v| o.min_instances = v.int()),
    key("max_instances", USIZE, |o, v| o.max_instances = v.int()),
    key("max_instances_per_app", USIZE, |o, v| o.max_instances_per_app = v.int()),
    key("pool_idle_time", U64, |o, v| o.pool_idle_time = v.int()),
    key("start_timeout", U64, |o, v| o.start_timeout = v.int()),
    key("max_parallel_spawns", USIZE, |o, v| o.max_parallel_spawns = v.int()),
    key("concurrency_model", Kind::Str, |o, v| o.concurrency_model = v.string()),
    key("thread_count", USIZE, |o, v| o.thread_count = v.int()),
    key("memory_limit", U64, |o, v| o.memory_limit = v.int()),
    key("memory_hard_limit", U64, |o, v| o.memory_hard_limit = v.int()),
    key("rolling_restarts", Kind::Bool, |o, v| o.rolling_restarts = v.bool()),
    key("resist_deployment_errors", Kind::Bool, |o, v| o.resist_deployment_errors = v.bool()),
    key("spawn_method", Kind::Str, |o, v| o.spawn_method = v.string()),
    key("max_preloader_idle_time", U64, |o, v| o.max_preloader_idle_time = v.int()),
    key("smart_fallback_to_direct", Kind::Bool, |o, v| o.smart_fallback_to_direct = v.bool()),
    // Request handling.
    key("max_requests", U64, |o, v| o.max_requests = v.int()),
    key("max_request_time", U64, |o, v| o.max_request_time = v.int()),
    key("max_request_queue_size", USIZE, |o, v| o.max_request_queue_size = v.int()),
    key("max_request_queue_time", U64, |o, v| o.max_request_queue_time = v.int()),
    key("request_queue_overflow_status_code", U16, |o, v| o.request_queue_overflow_status_code = v.int()),
    key("sticky_sessions", Kind::Bool, |o, v| o.sticky_sessions = v.bool()),
    key("sticky_sessions_cookie_name", Kind::Str, |o, v| o.sticky_sessions_cookie_name = v.string()),
    key("sticky_sessions_cookie_attributes", Kind::Str, |o, v| o.sticky_sessions_cookie_attributes = v.string()),
    key("pre_start", Kind::List, |o, v| o.pre_start = v.list()),
    // Logs and the instance registry.
    key("instance_registry_dir", Kind::Path, |o, v| o.instance_registry_dir = v.path()),
    key("log_file", Kind::Path, |o, v| o.log_file = v.path()),
    // Issue 16, request side: request bodies.
    key("client_max_body_size", Kind::Size, |o, v| o.client_max_body_size = v.int()),
    key("client_body_buffer_size", Kind::Size, |o, v| o.client_body_buffer_size = v.int()),
    key("client_body_timeout", U64, |o, v| o.client_body_timeout = v.int()),
    key("request_buffering", Kind::Bool, |o, v| o.request_buffering = v.bool()),
    key("ignore_client_abort", Kind::Bool, |o, v| o.ignore_client_abort = v.bool()),
    key("data_buffer_dir", Kind::Path, |o, v| o.data_buffer_dir = v.path()),
    // Issue 22, ASGI:
    key("asgi_concurrency", USIZE, |o, v| o.asgi_concurrency = v.int()),
    // Issue 16, response side: how responses reach the client (harmless in a file the app's
    // owner writes: they shape only that app's own responses).
    key("buffer_response", Kind::Bool, |o, v| o.buffer_response = v.bool()),
    key("app_read_timeout", U64, |o, v| o.app_read_timeout = v.int()),
    key("websocket_idle_timeout", U64, |o, v| o.websocket_idle_timeout = v.int()),
    // Issue 16, connection side: client connections.
    key("client_header_timeout", U64, |o, v| o.client_header_timeout = v.int()),
    key("keepalive_timeout", U64, |o, v| o.keepalive_timeout = v.int()),
    key("send_timeout", U64, |o, v| o.send_timeout = v.int()),
    key("max_connections", U64, |o, v| o.max_connections = v.int()),
    key("underscores_in_headers", Kind::Bool, |o, v| o.underscores_in_headers = v.bool()),
    key("large_client_header_buffers", Kind::Str, |o, v| o.large_client_header_buffers = v.string()),
    // Issue 22, refork:
    key("refork_after", U64, |o, v| o.refork_after = v.int()),
    // Issue 18, health:
    key("health_path", Kind::Str, |o, v| o.health_path = v.string()),
    key("shutdown_delay", U64, |o, v| o.shutdown_delay = v.int()),
];

/// Passenger Standalone options Ferry knows but does not implement (yet): a warning, not an
/// "unknown option" one. `admin_panel_*` keys are treated the same way.
const NOT_SUPPORTED: &[&str] = &[
    "socket_backlog",
    "ssl",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_port",
    "daemonize",
    "pid_file",
    "core_file_descriptor_ulimit",
    "meteor_app_settings",
    "rackup",
    "direct_instance_request_address",
    "static_files_dir",
    "restart_dir",
    "custom_error_page",
    "preload_bundler",
    "debugger",
    "force_max_concurrent_requests_per_process",
    "vary_turbocache_by_cookie",
    "disable_turbocaching",
    "unlimited_concurrency_paths",
    "abort_websockets_on_process_shutdown",
    "nginx_bin",
    "nginx_version",
    "nginx_tarball",
    "nginx_config_template",
    "debug_nginx_config",
    "disable_security_update_check",
    "security_update_check_proxy",
    "disable_anonymous_telemetry",
    "anonymous_telemetry_proxy",
    "engine",
    "disable_log_prefix",
    "auto",
    "ctls",
    "binaries_url_root",
    "runtime_check_only",
    "dont_install_runtime",
    "dont_compile_runtime",
];

/// Reads `Passengerfile.json` (else `passenger-standalone.json`) in `app_dir`. No file: an empty
/// layer. See the module doc for how the file is opened and what a file not owned by root may
/// set when Ferry runs as root.
pub fn read(app_dir: &Path) -> Result<Layer, Error> {
    read_as(app_dir, rustix::process::geteuid().as_raw())
}

/// [`read`], for a Ferry whose effective uid is `ferry_uid`.
pub fn read_as(app_dir: &Path, ferry_uid: u32) -> Result<Layer, Error> {
    let Some((path, text, owner)) = find(app_dir, ferry_uid)? else {
        return Ok(Layer::default());
    };
    // Relative paths in the file are relative to its directory, whatever Ferry's own directory.
    let dir = std::fs::canonicalize(app_dir).unwrap_or_else(|_| app_dir.to_owned());
    let mut layer = parse(&text, &path, &dir)?;
    if ferry_uid == 0 && owner != 0 {
        restrict(&mut layer, &path, owner);
    }
    Ok(layer)
}

/// Drops the [`PRIVILEGED`] keys from the layer of `path`, a file owned by `owner`, not root.
pub fn restrict(layer: &mut Layer, path: &Path, owner: u32) {
    for (key, clear) in PRIVILEGED {
        if clear(&mut layer.options) {
            layer.warnings.push(format!(
                "{}: {key} is ignored: the file belongs to uid {owner}, not to root, and Ferry \
                 runs as root (a file the app's owner wrote may not choose what runs as root \
                 or where root writes; set it on the command line instead)",
                path.display()
            ));
        }
    }
}

/// The first of [`FILE_NAMES`] in `app_dir`: its path, text and owner.
fn find(app_dir: &Path, ferry_uid: u32) -> Result<Option<(PathBuf, String, u32)>, Error> {
    let Ok(dir) = std::path::absolute(app_dir) else {
        // A missing app directory is reported where the directory is checked.
        return Ok(None);
    };
    for name in FILE_NAMES {
        let path = app_dir.join(name);
        let fail = |source| Error::ReadFile {
            path: path.clone(),
            source,
        };
        if let Some((text, owner)) = read_untrusted(&dir, name, ferry_uid).map_err(fail)? {
            return Ok(Some((path, text, owner)));
        }
    }
    Ok(None)
}

/// Reads `name` in `dir` (absolute), with the owner of what was read.
///
/// The file is opened without blocking (a FIFO is refused, never waited on) and must be a
/// regular file of at most [`MAX_FILE`] bytes; its owner comes from the descriptor it is read
/// from, so a file swapped between two looks cannot lend its owner to another's text. When Ferry
/// runs as root a link is followed only when the link and what it leads to have the same owner
/// (nginx's `disable_symlinks if_not_owner`), so a Passengerfile linked from a Capistrano
/// `shared/` directory of the same owner works and a link to another user's file does not;
/// otherwise links are followed as the kernel does (Ferry can only read what its own user may).
fn read_untrusted(
    dir: &Path,
    name: &str,
    ferry_uid: u32,
) -> std::io::Result<Option<(String, u32)>> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let disable = match ferry_uid {
        0 => DisableSymlinks::IfNotOwner,
        _ => DisableSymlinks::Off,
    };
    let root = Root::new(dir, SymlinkPolicy::new(disable, Some(dir.to_owned())))
        .map_err(std::io::Error::other)?;
    let file = match root.open(&[name]) {
        Ok(Found::File(file)) => file,
        Ok(Found::Dir(_)) => {
            return Err(std::io::Error::other(format!(
                "{name} is a directory, not a regular file"
            )))
        }
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    if file.metadata.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "{name} is larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    let mut bytes = Vec::new();
    file.file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "{name} is larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{name} is not UTF-8"),
        )
    })?;
    Ok(Some((text, file.metadata.uid())))
}

/// Parses the text of the file `path`; relative paths in it are relative to `dir`.
pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Layer, Error> {
    let json: Json = serde_json::from_str(text).map_err(|e| Error::InvalidJson {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let Json::Object(map) = json else {
        return Err(Error::NotAnObject {
            path: path.to_owned(),
        });
    };
    let origin = path.display().to_string();
    let mut layer = Layer::default();
    let mut problems = Vec::new();
    for key in KEYS {
        let Some(json) = map.get(key.name) else {
            continue;
        };
        match check(key, json, dir) {
            Ok(value) => (key.set)(&mut layer.options, value),
            Err(m) => problems.push(m.into_error(&origin)),
        }
    }
    for name in map.keys() {
        if let Some(warning) = ignored(name) {
            layer.warnings.push(format!("{origin}: {warning}; ignored"));
        }
    }
    match problems.len() {
        0 => Ok(layer),
        1 => Err(problems.remove(0)),
        _ => Err(Error::Many(problems)),
    }
}

/// Why the key `name` is ignored, if it is.
fn ignored(name: &str) -> Option<String> {
    if KEYS.iter().any(|k| k.name == name) {
        return None;
    }
    if NOT_SUPPORTED.contains(&name) || name.starts_with("admin_panel_") {
        return Some(format!("{name} is not supported yet"));
    }
    Some(format!("unknown option {name:?}"))
}

/// Checks `json` against `key`'s kind.
fn check(key: &Key, json: &Json, dir: &Path) -> Result<Value, Mismatch> {
    let mismatch = |expected: String| Mismatch {
        key: key.name.to_owned(),
        expected,
        got: describe(json),
    };
    match (key.kind, json) {
        (Kind::Str, Json::String(s)) => Ok(Value::Str(s.clone())),
        (Kind::Path, Json::String(s)) => Ok(Value::Path(dir.join(s))),
        (Kind::Program, Json::String(s)) if s.contains('/') => {
            Ok(Value::Str(dir.join(s).to_string_lossy().into_owned()))
        }
        (Kind::Program, Json::String(s)) => Ok(Value::Str(s.clone())),
        (Kind::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Kind::Int(max), Json::Number(n)) => match n.as_u64() {
            Some(n) if n <= max => Ok(Value::Int(n)),
            _ => Err(mismatch(key.kind.expected())),
        },
        (Kind::AppType, Json::String(s)) => s
            .parse()
            .map(Value::AppType)
            .map_err(|_| mismatch(key.kind.expected())),
        (Kind::Map, Json::Object(map)) => map_items(key.name, map),
        (Kind::List, Json::Array(items)) => list_items(key.name, items),
        (Kind::Size, Json::Number(n)) => n
            .as_u64()
            .map(Value::Int)
            .ok_or_else(|| mismatch(key.kind.expected())),
        (Kind::Size, Json::String(s)) => crate::units::size(s)
            .map(Value::Int)
            .ok_or_else(|| mismatch(key.kind.expected())),
        _ => Err(mismatch(key.kind.expected())),
    }
}

/// An object's `NAME: value` entries as `NAME=value`.
fn map_items(name: &str, map: &serde_json::Map<String, Json>) -> Result<Value, Mismatch> {
    let mut out = Vec::new();
    for (k, v) in map {
        let text = match v {
            Json::String(s) => s.clone(),
            Json::Number(_) | Json::Bool(_) => v.to_string(),
            _ => {
                return Err(Mismatch {
                    key: format!("{name}.{k}"),
                    expected: "a string, number or boolean".into(),
                    got: describe(v),
                })
            }
        };
        out.push(format!("{k}={text}"));
    }
    Ok(Value::List(out))
}

fn list_items(name: &str, items: &[Json]) -> Result<Value, Mismatch> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Json::String(s) = item else {
            return Err(Mismatch {
                key: format!("{name}[{i}]"),
                expected: "a string".into(),
                got: describe(item),
            });
        };
        out.push(s.clone());
    }
    Ok(Value::List(out))
}

/// A JSON value as an error message shows it: scalars as written, containers by their type.
fn describe(json: &Json) -> String {
    match json {
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
        scalar => scalar.to_string(),
    }
}

// === impl Kind ===

impl Kind {
    /// What a value of this kind is, for error messages.
    pub(crate) fn expected(self) -> String {
        match self {
            Kind::Str | Kind::Path | Kind::Program => "a string".into(),
            Kind::Bool => "true or false".into(),
            Kind::Int(u64::MAX) => "a non-negative integer".into(),
            Kind::Int(max) => format!("an integer 0..={max}"),
            Kind::AppType => "one of node, ruby, python, generic".into(),
            Kind::Map => "an object".into(),
            Kind::List => "an array of strings".into(),
            Kind::Size => "a number of bytes or a size such as \"64k\" or \"10m\"".into(),
        }
    }

    /// Whether the environment may set an option of this kind (Passenger: strings, integers,
    /// booleans and paths only).
    pub(crate) fn is_scalar(self) -> bool {
        !matches!(self, Kind::Map | Kind::List)
    }
}

// === impl Value ===

impl Value {
    fn string(self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn path(self) -> Option<PathBuf> {
        match self {
            Value::Path(p) => Some(p),
            _ => None,
        }
    }

    fn bool(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The integer; its range was checked against the key's [`Kind::Int`], which matches `T`.
    fn int<T: TryFrom<u64>>(self) -> Option<T> {
        match self {
            Value::Int(n) => T::try_from(n).ok(),
            _ => None,
        }
    }

    fn app_type(self) -> Option<AppType> {
        match self {
            Value::AppType(t) => Some(t),
            _ => None,
        }
    }

    fn list(self) -> Vec<String> {
        match self {
            Value::List(items) => items,
            _ => Vec::new(),
        }
    }
}

// === impl Mismatch ===

impl Mismatch {
    pub(crate) fn into_error(self, origin: &str) -> Error {
        Error::WrongType {
            origin: origin.to_owned(),
            key: self.key,
            expected: self.expected,
            got: self.got,
        }
    }
}

#[cfg(test)]
mod tests;
