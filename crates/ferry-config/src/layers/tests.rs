use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::AppType;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn from(vars: &[(&str, &str)]) -> Result<StartOptions, Error> {
    from_env(&env(vars))
}

#[test]
fn every_scalar_key_is_read_from_passenger_variables() {
    let o = from(&[
        ("PASSENGER_ADDRESS", "127.0.0.1"),
        ("PASSENGER_PORT", "4000"),
        ("PASSENGER_SOCKET_FILE", "run/f.sock"),
        ("PASSENGER_LOG_LEVEL", "5"),
        ("PASSENGER_USER", "app"),
        ("PASSENGER_GROUP", "staff"),
        ("PASSENGER_DEFAULT_USER", "daemon"),
        ("PASSENGER_DEFAULT_GROUP", "daemon"),
        ("PASSENGER_USER_SWITCHING", "off"),
        ("PASSENGER_ENVIRONMENT", "staging"),
        ("PASSENGER_RUBY", "ruby3"),
        ("PASSENGER_PYTHON", "venv/bin/python"),
        ("PASSENGER_NODEJS", "node20"),
        ("PASSENGER_APP_TYPE", "rack"),
        ("PASSENGER_STARTUP_FILE", "config.ru"),
        ("PASSENGER_APP_START_COMMAND", "./run"),
        ("PASSENGER_APP_SUPPORTS_KURIA_PROTOCOL", "yes"),
        ("PASSENGER_BASE_URI", "/blog"),
        ("PASSENGER_FRIENDLY_ERROR_PAGES", "1"),
        ("PASSENGER_LOAD_SHELL_ENVVARS", "TRUE"),
        ("PASSENGER_APP_FILE_DESCRIPTOR_ULIMIT", "4096"),
        ("PASSENGER_MAX_POOL_SIZE", "8"),
        ("PASSENGER_MIN_INSTANCES", "2"),
        ("PASSENGER_MAX_INSTANCES", "5"),
        ("PASSENGER_MAX_INSTANCES_PER_APP", "4"),
        ("PASSENGER_POOL_IDLE_TIME", "60"),
        ("PASSENGER_START_TIMEOUT", "30"),
        ("PASSENGER_MAX_PARALLEL_SPAWNS", "3"),
        ("PASSENGER_CONCURRENCY_MODEL", "thread"),
        ("PASSENGER_THREAD_COUNT", "16"),
        ("PASSENGER_MEMORY_LIMIT", "512"),
        ("PASSENGER_MEMORY_HARD_LIMIT", "1024"),
        ("PASSENGER_ROLLING_RESTARTS", "on"),
        ("PASSENGER_RESIST_DEPLOYMENT_ERRORS", "true"),
        ("PASSENGER_MAX_REQUESTS", "1000"),
        ("PASSENGER_MAX_REQUEST_TIME", "20"),
        ("PASSENGER_MAX_REQUEST_QUEUE_SIZE", "50"),
        ("PASSENGER_MAX_REQUEST_QUEUE_TIME", "10"),
        ("PASSENGER_REQUEST_QUEUE_OVERFLOW_STATUS_CODE", "429"),
        ("PASSENGER_STICKY_SESSIONS", "yes"),
        ("PASSENGER_STICKY_SESSIONS_COOKIE_NAME", "route"),
        (
            "PASSENGER_STICKY_SESSIONS_COOKIE_ATTRIBUTES",
            "SameSite=Strict;",
        ),
        ("PASSENGER_SPAWN_METHOD", "direct"),
        ("PASSENGER_MAX_PRELOADER_IDLE_TIME", "0"),
        ("PASSENGER_SMART_FALLBACK_TO_DIRECT", "on"),
        // Maps and lists are not read from the environment.
        ("PASSENGER_ENVVARS", "A=b"),
        ("PASSENGER_PRE_START", "/"),
    ])
    .expect("valid");
    let expected = StartOptions {
        address: Some("127.0.0.1".into()),
        port: Some(4000),
        socket: Some("run/f.sock".into()),
        log_level: Some(5),
        user: Some("app".into()),
        group: Some("staff".into()),
        default_user: Some("daemon".into()),
        default_group: Some("daemon".into()),
        user_switching: Some(false),
        environment: Some("staging".into()),
        ruby: Some("ruby3".into()),
        python: Some("venv/bin/python".into()),
        nodejs: Some("node20".into()),
        app_type: Some(AppType::Ruby),
        startup_file: Some("config.ru".into()),
        app_start_command: Some("./run".into()),
        app_supports_kuria_protocol: Some(true),
        base_uri: Some("/blog".into()),
        friendly_error_pages: Some(true),
        load_shell_envvars: Some(true),
        app_file_descriptor_ulimit: Some(4096),
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
        spawn_method: Some("direct".into()),
        max_preloader_idle_time: Some(0),
        smart_fallback_to_direct: Some(true),
        ..StartOptions::default()
    };
    assert_eq!(o, expected);
}

#[test]
fn ferry_variables_beat_passenger_variables() {
    let o = from(&[
        ("PASSENGER_MAX_POOL_SIZE", "3"),
        ("FERRY_MAX_POOL_SIZE", "4"),
        ("PASSENGER_MIN_INSTANCES", "2"),
    ])
    .unwrap();
    assert_eq!(o.max_pool_size, Some(4));
    assert_eq!(o.min_instances, Some(2));
}

#[test]
fn empty_variables_count_as_unset() {
    let o = from(&[("FERRY_PORT", ""), ("PASSENGER_PORT", "5000")]).unwrap();
    assert_eq!(o.port, Some(5000));
    let o = from(&[("PASSENGER_PORT", ""), ("PASSENGER_ADDRESS", "")]).unwrap();
    assert_eq!(o, StartOptions::default());
}

#[test]
fn booleans_take_passengers_words() {
    for (text, value) in [
        ("true", true),
        ("Yes", true),
        ("on", true),
        ("1", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
        ("0", false),
    ] {
        let o = from(&[("PASSENGER_STICKY_SESSIONS", text)]).unwrap();
        assert_eq!(o.sticky_sessions, Some(value), "{text}");
    }
}

#[test]
fn wrong_values_name_the_variable_and_expected_type() {
    let cases = [
        (
            ("PASSENGER_PORT", "http"),
            r#"environment: PASSENGER_PORT must be an integer 0..=65535, not "http""#,
        ),
        (
            ("FERRY_MAX_POOL_SIZE", "-2"),
            r#"environment: FERRY_MAX_POOL_SIZE must be a non-negative integer, not "-2""#,
        ),
        (
            ("PASSENGER_ROLLING_RESTARTS", "maybe"),
            "environment: PASSENGER_ROLLING_RESTARTS must be true, yes, on, 1, false, no, off \
             or 0, not \"maybe\"",
        ),
        (
            ("FERRY_APP_TYPE", "php"),
            r#"environment: FERRY_APP_TYPE must be one of node, ruby, python, generic, not "php""#,
        ),
    ];
    for (var, message) in cases {
        assert_eq!(from(&[var]).unwrap_err().to_string(), message);
    }
}

#[test]
fn layer_takes_unset_options_from_below() {
    let high = StartOptions {
        port: Some(1),
        pre_start: vec!["/a".into()],
        envvars: vec!["A=high".into(), "C=high".into()],
        ..StartOptions::default()
    };
    let low = StartOptions {
        port: Some(2),
        max_pool_size: Some(3),
        pre_start: vec!["/b".into(), "/c".into()],
        hooks: vec!["spawn_failed=/bin/true".into()],
        envvars: vec!["A=low".into(), "B=low".into()],
        ..StartOptions::default()
    };
    let o = high.layer(low);
    assert_eq!(o.port, Some(1));
    assert_eq!(o.max_pool_size, Some(3));
    assert_eq!(o.pre_start, ["/a"], "a list replaces the lower one whole");
    assert_eq!(
        o.hooks,
        ["spawn_failed=/bin/true"],
        "an empty list does not"
    );
    assert_eq!(
        o.envvars,
        ["B=low", "A=high", "C=high"],
        "envvars merge by name"
    );
}

/// One option set at every level: each level wins over the ones below it.
#[test]
fn command_line_beats_environment_beats_passengerfile_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.js"), "").unwrap();
    let cli = |n: Option<usize>| StartOptions {
        app_dir: Some(dir.path().to_owned()),
        max_pool_size: n,
        ..StartOptions::default()
    };
    let pool_size = |cli: StartOptions, vars: &[(&str, &str)]| {
        let layer = gather(cli, &env(vars)).expect("valid");
        layer
            .options
            .resolve()
            .expect("resolves")
            .pool
            .max_pool_size
    };
    let env_vars = [("PASSENGER_MAX_POOL_SIZE", "3")];
    assert_eq!(pool_size(cli(None), &[]), 6, "default");
    std::fs::write(
        dir.path().join("Passengerfile.json"),
        r#"{"max_pool_size": 2}"#,
    )
    .unwrap();
    assert_eq!(pool_size(cli(None), &[]), 2, "Passengerfile over default");
    assert_eq!(pool_size(cli(None), &env_vars), 3, "environment over file");
    assert_eq!(
        pool_size(cli(Some(4)), &env_vars),
        4,
        "command line over all"
    );
}

#[test]
fn gather_reports_environment_and_file_errors_together() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Passengerfile.json");
    std::fs::write(&file, r#"{"port": "x", "colour": 1}"#).unwrap();
    let cli = StartOptions {
        app_dir: Some(dir.path().to_owned()),
        ..StartOptions::default()
    };
    let err = gather(cli.clone(), &env(&[("FERRY_LOG_LEVEL", "loud")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "environment: FERRY_LOG_LEVEL must be an integer 0..=255, not \"loud\"; \
             {}: port must be an integer 0..=65535, not \"x\"",
            file.display()
        )
    );
    std::fs::write(&file, r#"{"port": 4000, "colour": 1}"#).unwrap();
    let layer = gather(cli, &env(&[])).unwrap();
    assert_eq!(layer.options.port, Some(4000));
    assert_eq!(
        layer.warnings,
        [format!(
            "{}: unknown option \"colour\"; ignored",
            file.display()
        )]
    );
}

#[test]
fn gather_reads_the_file_in_the_default_app_dir() {
    // No app_dir: the current directory, which has no Passengerfile in the crate's tests.
    let layer = gather(StartOptions::default(), &env(&[])).unwrap();
    assert_eq!(layer.options, StartOptions::default());
    assert!(Path::new(".")
        .join("Passengerfile.json")
        .metadata()
        .is_err());
}
