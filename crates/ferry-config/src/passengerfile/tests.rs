use super::*;

const DIR: &str = "/srv/app";
const FILE: &str = "/srv/app/Passengerfile.json";

fn parse_ok(text: &str) -> Layer {
    parse(text, Path::new(FILE), Path::new(DIR)).expect("valid")
}

fn parse_err(text: &str) -> String {
    parse(text, Path::new(FILE), Path::new(DIR))
        .expect_err("invalid")
        .to_string()
}

#[test]
fn every_key_sets_its_option() {
    let layer = parse_ok(
        r#"{
            "address": "127.0.0.1",
            "port": 4000,
            "socket_file": "tmp/ferry.sock",
            "log_level": 5,
            "user": "app",
            "group": "staff",
            "default_user": "daemon",
            "default_group": "daemon",
            "user_switching": false,
            "environment": "staging",
            "ruby": "/usr/bin/ruby3",
            "python": "python3.12",
            "nodejs": "bin/node",
            "app_type": "wsgi",
            "startup_file": "main.py",
            "app_start_command": "./server --port $PORT",
            "app_supports_kuria_protocol": true,
            "base_uri": "/blog",
            "friendly_error_pages": true,
            "load_shell_envvars": true,
            "app_file_descriptor_ulimit": 4096,
            "envvars": {"A": "b", "N": 2, "T": true},
            "max_pool_size": 8,
            "min_instances": 2,
            "max_instances": 5,
            "max_instances_per_app": 4,
            "pool_idle_time": 60,
            "start_timeout": 30,
            "max_parallel_spawns": 3,
            "concurrency_model": "thread",
            "thread_count": 16,
            "memory_limit": 512,
            "memory_hard_limit": 1024,
            "rolling_restarts": true,
            "resist_deployment_errors": true,
            "max_requests": 1000,
            "max_request_time": 20,
            "max_request_queue_size": 50,
            "max_request_queue_time": 10,
            "request_queue_overflow_status_code": 429,
            "sticky_sessions": true,
            "sticky_sessions_cookie_name": "route",
            "sticky_sessions_cookie_attributes": "SameSite=Strict;",
            "spawn_method": "direct",
            "max_preloader_idle_time": 60,
            "smart_fallback_to_direct": true,
            "instance_registry_dir": "/srv/run",
            "log_file": "/srv/app/log/ferry.log",
            "pre_start": ["/", "/status"],
            "client_max_body_size": "20m",
            "client_body_buffer_size": 65536,
            "client_body_timeout": 5,
            "request_buffering": false,
            "ignore_client_abort": true,
            "data_buffer_dir": "tmp/bodies",
            "asgi_concurrency": 64,
            "buffer_response": true,
            "app_read_timeout": 30,
            "websocket_idle_timeout": 600,
            "client_header_timeout": 10,
            "keepalive_timeout": 0,
            "send_timeout": 30,
            "max_connections": 5000,
            "underscores_in_headers": true,
            "large_client_header_buffers": "8 16k",
            "refork_after": 100,
            "health_path": "/healthz",
            "shutdown_delay": 5
        }"#,
    );
    assert!(layer.warnings.is_empty(), "{:?}", layer.warnings);
    let expected = StartOptions {
        app_dir: None,
        address: Some("127.0.0.1".into()),
        port: Some(4000),
        socket: Some("/srv/app/tmp/ferry.sock".into()),
        log_level: Some(5),
        user: Some("app".into()),
        group: Some("staff".into()),
        default_user: Some("daemon".into()),
        default_group: Some("daemon".into()),
        user_switching: Some(false),
        environment: Some("staging".into()),
        ruby: Some("/usr/bin/ruby3".into()),
        python: Some("python3.12".into()),
        nodejs: Some("/srv/app/bin/node".into()),
        app_type: Some(AppType::Python),
        startup_file: Some("main.py".into()),
        app_start_command: Some("./server --port $PORT".into()),
        app_supports_kuria_protocol: Some(true),
        base_uri: Some("/blog".into()),
        friendly_error_pages: Some(true),
        load_shell_envvars: Some(true),
        app_file_descriptor_ulimit: Some(4096),
        envvars: vec!["A=b".into(), "N=2".into(), "T=true".into()],
        hooks: Vec::new(),
        spawn_args: Vec::new(),
        max_pool_size: Some(8),
        min_instances: Some(2),
        max_instances: Some(5),
        max_instances_per_app: Some(4),
        pool_idle_time: Some(60),
        start_timeout: Some(30),
        max_parallel_spawns: Some(3),
        concurrency_model: Some("thread".into()),
        thread_count: Some(16),
        memory_limit: Some(512),
        memory_hard_limit: Some(1024),
        rolling_restarts: Some(true),
        resist_deployment_errors: Some(true),
        max_requests: Some(1000),
        max_request_time: Some(20),
        max_request_queue_size: Some(50),
        max_request_queue_time: Some(10),
        request_queue_overflow_status_code: Some(429),
        sticky_sessions: Some(true),
        sticky_sessions_cookie_name: Some("route".into()),
        sticky_sessions_cookie_attributes: Some("SameSite=Strict;".into()),
        pre_start: vec!["/".into(), "/status".into()],
        spawn_method: Some("direct".into()),
        max_preloader_idle_time: Some(60),
        smart_fallback_to_direct: Some(true),
        instance_registry_dir: Some("/srv/run".into()),
        log_file: Some("/srv/app/log/ferry.log".into()),
        access_log: None,
        log_format: None,
        disable_metrics: None,
        allow_root_apps: None,
        disable_symlinks: None,
        client_max_body_size: Some(20 << 20),
        client_body_buffer_size: Some(65536),
        client_body_timeout: Some(5),
        request_buffering: Some(false),
        ignore_client_abort: Some(true),
        data_buffer_dir: Some("/srv/app/tmp/bodies".into()),
        // Issue 22, ASGI:
        asgi_concurrency: Some(64),
        // Issue 16, response side:
        buffer_response: Some(true),
        app_read_timeout: Some(30),
        websocket_idle_timeout: Some(600),
        // Issue 16, connection side:
        client_header_timeout: Some(10),
        keepalive_timeout: Some(0),
        send_timeout: Some(30),
        max_connections: Some(5000),
        underscores_in_headers: Some(true),
        large_client_header_buffers: Some("8 16k".into()),
        // Issue 22, refork:
        refork_after: Some(100),
        // Issue 18, health:
        health_path: Some("/healthz".into()),
        shutdown_delay: Some(5),
        // Issue 19, TLS: not Passengerfile keys (a file the app's owner writes names no key
        // file root would read).
        ssl: None,
        ssl_certificate: None,
        ssl_certificate_key: None,
        ssl_port: None,
        ssl_acme: None,
    };
    assert_eq!(layer.options, expected);
}

#[test]
fn every_key_is_covered_by_the_test_above() {
    // A key added to the table must be added to `every_key_sets_its_option` too.
    let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names.len(), 69, "{names:?}");
}

#[test]
fn passengers_spelling_of_the_kuria_key_works_too() {
    let layer = parse_ok(r#"{"app_support_kuria_protocol": true}"#);
    assert_eq!(layer.options.app_supports_kuria_protocol, Some(true));
    // With both, the main name wins.
    let layer =
        parse_ok(r#"{"app_supports_kuria_protocol": false, "app_support_kuria_protocol": true}"#);
    assert_eq!(layer.options.app_supports_kuria_protocol, Some(false));
}

#[test]
fn wrong_types_name_the_file_key_and_expected_type() {
    let cases = [
        (
            r#"{"port": "abc"}"#,
            r#"/srv/app/Passengerfile.json: port must be an integer 0..=65535, not "abc""#,
        ),
        (
            r#"{"port": 70000}"#,
            "/srv/app/Passengerfile.json: port must be an integer 0..=65535, not 70000",
        ),
        (
            r#"{"max_pool_size": -1}"#,
            "/srv/app/Passengerfile.json: max_pool_size must be a non-negative integer, not -1",
        ),
        (
            r#"{"max_pool_size": 2.5}"#,
            "/srv/app/Passengerfile.json: max_pool_size must be a non-negative integer, not 2.5",
        ),
        (
            r#"{"log_level": 300}"#,
            "/srv/app/Passengerfile.json: log_level must be an integer 0..=255, not 300",
        ),
        (
            r#"{"sticky_sessions": "yes"}"#,
            r#"/srv/app/Passengerfile.json: sticky_sessions must be true or false, not "yes""#,
        ),
        (
            r#"{"address": 127}"#,
            "/srv/app/Passengerfile.json: address must be a string, not 127",
        ),
        (
            r#"{"socket_file": null}"#,
            "/srv/app/Passengerfile.json: socket_file must be a string, not null",
        ),
        (
            r#"{"app_type": "php"}"#,
            r#"/srv/app/Passengerfile.json: app_type must be one of node, ruby, python, generic, not "php""#,
        ),
        (
            r#"{"envvars": ["A=b"]}"#,
            "/srv/app/Passengerfile.json: envvars must be an object, not an array",
        ),
        (
            r#"{"envvars": {"A": {"b": 1}}}"#,
            "/srv/app/Passengerfile.json: envvars.A must be a string, number or boolean, not an object",
        ),
        (
            r#"{"client_max_body_size": "10mb"}"#,
            r#"/srv/app/Passengerfile.json: client_max_body_size must be a number of bytes or a size such as "64k" or "10m", not "10mb""#,
        ),
        (
            r#"{"pre_start": "/"}"#,
            r#"/srv/app/Passengerfile.json: pre_start must be an array of strings, not "/""#,
        ),
        (
            r#"{"pre_start": ["/", 1]}"#,
            "/srv/app/Passengerfile.json: pre_start[1] must be a string, not 1",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(parse_err(text), message, "{text}");
    }
}

#[test]
fn every_wrong_type_is_reported() {
    assert_eq!(
        parse_err(r#"{"port": "x", "max_pool_size": "two", "bogus": 1}"#),
        "/srv/app/Passengerfile.json: port must be an integer 0..=65535, not \"x\"; \
         /srv/app/Passengerfile.json: max_pool_size must be a non-negative integer, not \"two\""
    );
}

#[test]
fn a_file_that_is_not_a_json_object_is_an_error() {
    assert_eq!(
        parse_err("[1, 2]"),
        r#"/srv/app/Passengerfile.json: must hold one JSON object, {"option": value, ...}"#
    );
    assert_eq!(
        parse_err("{\"port\": 3000,\n}"),
        "/srv/app/Passengerfile.json: not valid JSON: trailing comma at line 2 column 1"
    );
}

#[test]
fn unknown_and_unsupported_keys_are_warnings() {
    let layer =
        parse_ok(r#"{"port": 4000, "colour": "blue", "daemonize": true, "admin_panel_url": "x"}"#);
    assert_eq!(layer.options.port, Some(4000));
    assert_eq!(
        layer.warnings,
        [
            "/srv/app/Passengerfile.json: admin_panel_url is not supported yet; ignored",
            "/srv/app/Passengerfile.json: unknown option \"colour\"; ignored",
            "/srv/app/Passengerfile.json: daemonize is not supported yet; ignored",
        ]
    );
}

#[test]
fn spawn_method_and_preloader_keys_are_read() {
    let layer = parse_ok(
        r#"{"spawn_method": "smart", "max_preloader_idle_time": 0,
            "smart_fallback_to_direct": true}"#,
    );
    assert!(layer.warnings.is_empty(), "{:?}", layer.warnings);
    assert_eq!(layer.options.spawn_method.as_deref(), Some("smart"));
    assert_eq!(layer.options.max_preloader_idle_time, Some(0));
    assert_eq!(layer.options.smart_fallback_to_direct, Some(true));
    assert_eq!(
        parse_err(r#"{"max_preloader_idle_time": "soon"}"#),
        "/srv/app/Passengerfile.json: max_preloader_idle_time must be a non-negative integer, \
         not \"soon\""
    );
}

#[test]
fn paths_are_relative_to_the_files_directory() {
    let layer = parse_ok(
        r#"{"socket_file": "ferry.sock", "python": "venv/bin/python", "ruby": "ruby",
            "startup_file": "src/app.js"}"#,
    );
    let o = layer.options;
    assert_eq!(o.socket, Some(PathBuf::from("/srv/app/ferry.sock")));
    assert_eq!(o.python.as_deref(), Some("/srv/app/venv/bin/python"));
    // A bare name is a command looked up on PATH.
    assert_eq!(o.ruby.as_deref(), Some("ruby"));
    // Relative to the app directory, which is the file's.
    assert_eq!(o.startup_file, Some(PathBuf::from("src/app.js")));
    let abs = parse_ok(r#"{"socket_file": "/run/ferry.sock"}"#);
    assert_eq!(abs.options.socket, Some(PathBuf::from("/run/ferry.sock")));
}

#[test]
fn read_finds_the_file_or_its_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let read_port = || read(dir.path()).expect("valid").options.port;
    assert_eq!(read_port(), None, "no file: nothing set");
    std::fs::write(
        dir.path().join("passenger-standalone.json"),
        r#"{"port": 1}"#,
    )
    .unwrap();
    assert_eq!(read_port(), Some(1));
    std::fs::write(dir.path().join("Passengerfile.json"), r#"{"port": 2}"#).unwrap();
    assert_eq!(read_port(), Some(2), "Passengerfile.json comes first");
}

#[test]
fn read_resolves_paths_against_the_real_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Passengerfile.json"),
        r#"{"socket_file": "s.sock"}"#,
    )
    .unwrap();
    let real = std::fs::canonicalize(dir.path()).unwrap();
    let layer = read(dir.path()).unwrap();
    assert_eq!(layer.options.socket, Some(real.join("s.sock")));
}

#[test]
fn a_missing_app_dir_has_no_file() {
    let layer = read(Path::new("/nonexistent/ferry-app")).expect("no file");
    assert_eq!(layer.options, StartOptions::default());
}

/// A file of every privileged key and two others, in `dir`.
fn write_privileged(dir: &Path) -> PathBuf {
    let path = dir.join("Passengerfile.json");
    std::fs::write(
        &path,
        r#"{"user": "root", "group": "root", "default_user": "root", "default_group": "root",
            "user_switching": false, "socket_file": "s.sock", "log_file": "/etc/cron.d/x",
            "instance_registry_dir": "/etc", "ruby": "/tmp/ruby", "python": "py",
            "nodejs": "node", "app_start_command": "./run", "envvars": {"A": "1"},
            "data_buffer_dir": "/etc"}"#,
    )
    .unwrap();
    path
}

#[test]
fn a_file_not_owned_by_root_cannot_choose_what_runs_as_root_or_where_root_writes() {
    let dir = tempfile::tempdir().unwrap();
    write_privileged(dir.path());
    // A file owned by Ferry's own user is trusted whole.
    let me = rustix::process::geteuid().as_raw();
    let mut layer = read_as(dir.path(), me).unwrap();
    assert!(layer.warnings.is_empty(), "{:?}", layer.warnings);
    assert_eq!(layer.options.user.as_deref(), Some("root"));

    // The same file owned by another user: every privileged key is dropped, with a warning
    // naming the file and the key; the others stay.
    let path = dir.path().join("Passengerfile.json");
    restrict(&mut layer, &path, 1000);
    let o = &layer.options;
    assert_eq!(
        (&o.user, &o.group, &o.default_user, &o.default_group),
        (&None, &None, &None, &None)
    );
    assert_eq!(
        (o.user_switching, &o.socket, &o.log_file),
        (None, &None, &None)
    );
    assert_eq!(o.instance_registry_dir, None);
    assert_eq!((&o.ruby, &o.python, &o.nodejs), (&None, &None, &None));
    assert_eq!(o.data_buffer_dir, None);
    assert_eq!(o.app_start_command.as_deref(), Some("./run"));
    assert_eq!(o.envvars, ["A=1"]);
    assert_eq!(layer.warnings.len(), PRIVILEGED.len());
    for (key, _) in PRIVILEGED {
        let prefix = format!(
            "{}: {key} is ignored: the file belongs to uid 1000",
            path.display()
        );
        assert!(
            layer.warnings.iter().any(|w| w.starts_with(&prefix)),
            "{key}: {:?}",
            layer.warnings
        );
    }
}

#[test]
fn a_file_not_owned_by_root_is_restricted_when_ferry_runs_as_root() {
    if !ferry_test_support::require::require(&[ferry_test_support::Requirement::Root]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write_privileged(dir.path());
    std::os::unix::fs::chown(&path, Some(1), Some(1)).unwrap();
    let layer = read_as(dir.path(), 0).unwrap();
    assert_eq!(layer.options.user, None);
    assert_eq!(layer.options.app_start_command.as_deref(), Some("./run"));
    assert!(
        layer.warnings[0].contains("belongs to uid 1"),
        "{:?}",
        layer.warnings
    );
    // Not root: nothing to protect, the file is read whole.
    let layer = read_as(dir.path(), 1).unwrap();
    assert_eq!(layer.options.user.as_deref(), Some("root"));
}

#[test]
fn a_fifo_a_link_or_a_huge_file_is_an_error_naming_the_file_never_a_wait() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), r#"{"port": 1234}"#).unwrap();
    let fifo = tempfile::tempdir().unwrap();
    let path = fifo.path().join("Passengerfile.json");
    nix_mkfifo(&path);
    let huge = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(huge.path().join("passenger-standalone.json")).unwrap();
    file.set_len(MAX_FILE + 1).unwrap();
    let mut cases = vec![
        (fifo.path().to_owned(), "Passengerfile.json is a FIFO"),
        (
            huge.path().to_owned(),
            "passenger-standalone.json is larger than 1 MiB",
        ),
    ];
    // As root, a link to another user's file is refused (`disable_symlinks if_not_owner`).
    let foreign = tempfile::tempdir().unwrap();
    if ferry_test_support::require::require_for(
        "a link to another user's file",
        &[ferry_test_support::Requirement::Root],
    ) {
        let target = foreign.path().join("theirs.json");
        std::fs::write(&target, r#"{"port": 1234}"#).unwrap();
        std::os::unix::fs::chown(&target, Some(54321), Some(54321)).unwrap();
        let link = foreign.path().join("Passengerfile.json");
        std::os::unix::fs::symlink(&target, link).unwrap();
        cases.push((
            foreign.path().to_owned(),
            "Passengerfile.json is a symbolic link",
        ));
    }
    for (dir, says) in &cases {
        let err = read_as(dir, 0).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.starts_with("cannot read "), "{chain}");
        assert!(chain.contains(says), "{chain}");
        assert!(!chain.contains("1234"), "{chain}");
    }
}

#[test]
fn a_link_to_a_file_of_the_same_owner_is_read_as_capistrano_shares_it() {
    let shared = tempfile::tempdir().unwrap();
    let target = shared.path().join("Passengerfile.json");
    std::fs::write(&target, r#"{"port": 1234}"#).unwrap();
    let app = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, app.path().join("Passengerfile.json")).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    for ferry_uid in [0, uid] {
        let layer = read_as(app.path(), ferry_uid).unwrap();
        assert_eq!(layer.options.port, Some(1234));
    }
}

fn nix_mkfifo(path: &Path) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        c.as_c_str(),
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
}
