use super::*;
use clap::CommandFactory;

#[test]
fn the_command_line_definition_is_valid() {
    Cli::command().debug_assert();
}

#[test]
fn memory_stats_takes_passenger_options_and_a_format() {
    let cli =
        Cli::try_parse_from(["ferry", "memory-stats", "--no-apache", "--format", "json"]).unwrap();
    let Command::MemoryStats(args) = cli.command else {
        panic!("not memory-stats: {:?}", cli.command);
    };
    assert!(args.no_apache && !args.no_nginx);
    assert_eq!(args.format, OutputFormat::Json);
    let cli = Cli::try_parse_from(["ferry", "memory-stats"]).unwrap();
    let Command::MemoryStats(args) = cli.command else {
        panic!("not memory-stats");
    };
    assert_eq!(args.format, OutputFormat::Text);
    assert!(Cli::try_parse_from(["ferry", "memory-stats", "--format", "xml"]).is_err());
}

#[test]
fn start_takes_passenger_names() {
    let cli = Cli::try_parse_from([
        "ferry",
        "start",
        "/srv/app",
        "--port",
        "0",
        "--max-pool-size",
        "2",
        "--app-type",
        "nodejs",
        "--app-start-command",
        "node server.js",
        "--start-timeout",
        "5",
    ])
    .expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts.port, Some(0));
    assert_eq!(opts.max_pool_size, Some(2));
    assert_eq!(opts.app_type, Some(AppType::Node));
    assert_eq!(opts.start_timeout, Some(5));
}

#[test]
fn smart_spawning_flags_parse() {
    let cli = Cli::try_parse_from([
        "ferry",
        "start",
        "--spawn-method",
        "direct",
        "--max-preloader-idle-time",
        "0",
        "--smart-fallback-to-direct",
    ])
    .expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts.spawn_method.as_deref(), Some("direct"));
    assert_eq!(opts.max_preloader_idle_time, Some(0));
    assert_eq!(opts.smart_fallback_to_direct, Some(true));
}

// Issue 22, refork:
#[test]
fn refork_after_parses() {
    let cli = Cli::try_parse_from(["ferry", "start", "--refork-after", "500"]).expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    assert_eq!(StartOptions::from(args).refork_after, Some(500));
    assert!(Cli::try_parse_from(["ferry", "start", "--refork-after", "soon"]).is_err());
}

#[test]
fn spawning_flags_parse() {
    let cli = Cli::try_parse_from([
        "ferry",
        "start",
        "--user",
        "daemon",
        "--user-switching",
        "off",
        "--friendly-error-pages",
        "--load-shell-envvars=off",
        "--hook",
        "spawn_failed=/bin/true",
        "--envvar",
        "A=1",
        "/srv/app",
    ])
    .expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts.user.as_deref(), Some("daemon"));
    assert_eq!(opts.user_switching, Some(false));
    assert_eq!(opts.friendly_error_pages, Some(true));
    assert_eq!(opts.load_shell_envvars, Some(false));
    assert_eq!(opts.hooks, vec!["spawn_failed=/bin/true".to_owned()]);
    assert_eq!(opts.app_dir, Some(PathBuf::from("/srv/app")));
}

#[test]
fn process_management_flags_parse() {
    let cli = Cli::try_parse_from([
        "ferry",
        "start",
        "--memory-limit",
        "200",
        "--memory-hard-limit",
        "400",
        "--rolling-restarts",
        "--resist-deployment-errors=off",
        "--max-parallel-spawns",
        "4",
        "--sticky-sessions=on",
        "--sticky-sessions-cookie-name",
        "route",
        "--pre-start",
        "/",
        "--pre-start",
        "http://example.com:8080/status",
    ])
    .expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts.memory_limit, Some(200));
    assert_eq!(opts.memory_hard_limit, Some(400));
    assert_eq!(opts.rolling_restarts, Some(true));
    assert_eq!(opts.resist_deployment_errors, Some(false));
    assert_eq!(opts.max_parallel_spawns, Some(4));
    assert_eq!(opts.sticky_sessions, Some(true));
    assert_eq!(opts.sticky_sessions_cookie_name.as_deref(), Some("route"));
    assert_eq!(opts.sticky_sessions_cookie_attributes, None);
    assert_eq!(opts.pre_start, ["/", "http://example.com:8080/status"]);
}

/// An option not typed is `None`, so the environment and the Passengerfile can set it;
/// `StartOptions::resolve` applies the defaults.
#[test]
fn options_not_typed_are_unset() {
    let cli = Cli::try_parse_from(["ferry", "start"]).expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts, StartOptions::default(), "every field is unset");
}

// Issue 16, connection side:
#[test]
fn client_connection_flags_parse() {
    let cli = Cli::try_parse_from([
        "ferry",
        "start",
        "--client-header-timeout",
        "5",
        "--keepalive-timeout",
        "0",
        "--send-timeout",
        "9",
        "--max-connections",
        "1000",
        "--underscores-in-headers",
        "--large-client-header-buffers",
        "4 16k",
    ])
    .expect("parses");
    let Command::Start(args) = cli.command else {
        panic!("not start")
    };
    let opts = StartOptions::from(args);
    assert_eq!(opts.client_header_timeout, Some(5));
    assert_eq!(opts.keepalive_timeout, Some(0));
    assert_eq!(opts.send_timeout, Some(9));
    assert_eq!(opts.max_connections, Some(1000));
    assert_eq!(opts.underscores_in_headers, Some(true));
    assert_eq!(opts.large_client_header_buffers.as_deref(), Some("4 16k"));
}

#[test]
fn disable_symlinks_takes_nginx_modes() {
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(args)?;
        let Command::Start(args) = cli.command else {
            panic!("not start")
        };
        Ok::<_, clap::Error>(StartOptions::from(args).disable_symlinks)
    };
    let on = ["ferry", "start", "--disable-symlinks", "on"];
    assert_eq!(parse(&on).unwrap(), Some(SymlinkMode::On));
    let if_not_owner = ["ferry", "start", "--disable-symlinks=if_not_owner"];
    assert_eq!(parse(&if_not_owner).unwrap(), Some(SymlinkMode::IfNotOwner));
    assert!(parse(&["ferry", "start", "--disable-symlinks", "yes"]).is_err());
}

#[test]
fn kuria_protocol_flag_is_on_off() {
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Start(args) = cli.command else {
            panic!("not start")
        };
        StartOptions::from(args).app_supports_kuria_protocol
    };
    assert_eq!(parse(&["ferry", "start"]), None);
    let flag = [
        "ferry",
        "start",
        "--app-supports-kuria-protocol",
        "/srv/app",
    ];
    assert_eq!(parse(&flag), Some(true));
    let off = ["ferry", "start", "--app-supports-kuria-protocol=off"];
    assert_eq!(parse(&off), Some(false));
}

/// The help of `ferry start`'s option `id`.
fn start_help(id: &str) -> String {
    let cli = Cli::command();
    let start = cli.find_subcommand("start").expect("start");
    let arg = start
        .get_arguments()
        .find(|a| a.get_id() == id)
        .unwrap_or_else(|| panic!("no option {id}"));
    arg.get_help().map(ToString::to_string).unwrap_or_default()
}

/// Defaults are no longer clap's, so the help text names them; they must match the ones
/// `StartOptions::resolve` applies.
#[test]
fn help_shows_the_defaults_resolve_applies() {
    use ferry_config::defaults as d;
    let on_off = |on: bool| if on { "on" } else { "off" }.to_owned();
    let expected: &[(&str, String)] = &[
        ("app_dir", ".".into()),
        ("address", d::ADDRESS.into()),
        ("port", d::PORT.to_string()),
        ("environment", d::APP_ENV.into()),
        ("max_pool_size", d::MAX_POOL_SIZE.to_string()),
        ("min_instances", d::MIN_INSTANCES.to_string()),
        (
            "max_request_queue_size",
            d::MAX_REQUEST_QUEUE_SIZE.to_string(),
        ),
        ("start_timeout", d::START_TIMEOUT_SECS.to_string()),
        ("log_level", d::LOG_LEVEL.to_string()),
        ("default_user", d::DEFAULT_USER.into()),
        ("user_switching", on_off(d::USER_SWITCHING)),
        ("pool_idle_time", d::POOL_IDLE_TIME_SECS.to_string()),
        ("max_request_queue_time", "0".into()),
        ("max_instances", "0".into()),
        ("max_instances_per_app", "0".into()),
        ("max_requests", "0".into()),
        ("max_request_time", "0".into()),
        (
            "request_queue_overflow_status_code",
            d::QUEUE_OVERFLOW_STATUS.to_string(),
        ),
        ("memory_limit", "0".into()),
        ("memory_hard_limit", "0".into()),
        ("max_parallel_spawns", d::MAX_PARALLEL_SPAWNS.to_string()),
        ("spawn_method", d::SPAWN_METHOD.to_string()),
        (
            "max_preloader_idle_time",
            d::MAX_PRELOADER_IDLE_TIME_SECS.to_string(),
        ),
        (
            "sticky_sessions_cookie_name",
            d::STICKY_SESSIONS_COOKIE_NAME.to_string(),
        ),
        (
            "sticky_sessions_cookie_attributes",
            format!("{:?}", d::STICKY_SESSIONS_COOKIE_ATTRIBUTES),
        ),
        ("disable_symlinks", d::START_DISABLE_SYMLINKS.to_string()),
        // Issue 16, request side:
        (
            "client_max_body_size",
            d::START_CLIENT_MAX_BODY_SIZE.to_string(),
        ),
        (
            "client_body_buffer_size",
            d::CLIENT_BODY_BUFFER_SIZE.to_string(),
        ),
        (
            "client_body_timeout",
            d::CLIENT_BODY_TIMEOUT_SECS.to_string(),
        ),
        ("request_buffering", on_off(d::REQUEST_BUFFERING)),
        // Issue 16, response side:
        ("app_read_timeout", "0".into()),
        (
            "websocket_idle_timeout",
            d::WEBSOCKET_IDLE_TIMEOUT_SECS.to_string(),
        ),
        // Issue 16, connection side:
        (
            "client_header_timeout",
            d::CLIENT_HEADER_TIMEOUT_SECS.to_string(),
        ),
        ("keepalive_timeout", d::KEEPALIVE_TIMEOUT_SECS.to_string()),
        ("send_timeout", d::SEND_TIMEOUT_SECS.to_string()),
        ("underscores_in_headers", on_off(d::UNDERSCORES_IN_HEADERS)),
        (
            "large_client_header_buffers",
            format!(
                "\"{} {}k\"",
                d::LARGE_CLIENT_HEADER_BUFFERS,
                d::LARGE_CLIENT_HEADER_BUFFER_SIZE / 1024
            ),
        ),
    ];
    for (id, default) in expected {
        let help = start_help(id);
        assert!(
            help.ends_with(&format!("[default: {default}]")),
            "--{id}: {help:?}"
        );
    }
}

#[test]
fn rendered_help_lists_defaults() {
    let mut cli = Cli::command();
    let start = cli.find_subcommand_mut("start").expect("start");
    let help = start.render_help().to_string();
    for needle in ["[default: 3000]", "[default: 0.0.0.0]", "[default: 6]"] {
        assert!(help.contains(needle), "{needle} missing from\n{help}");
    }
}

#[test]
fn config_takes_check_and_show() {
    let cli = Cli::try_parse_from(["ferry", "config", "check", "a.conf"]).unwrap();
    let Command::Config(ConfigArgs {
        command: ConfigCommand::Check { file },
    }) = cli.command
    else {
        panic!("not config check")
    };
    assert_eq!(file, PathBuf::from("a.conf"));
    let cli = Cli::try_parse_from(["ferry", "config", "show", "b.conf"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Config(ConfigArgs {
            command: ConfigCommand::Show { .. }
        })
    ));
    assert!(Cli::try_parse_from(["ferry", "config", "check"]).is_err());
}

// Issue 16, request side:
#[test]
fn request_body_flags_parse() {
    let parse = |args: &[&str]| {
        let cli = Cli::try_parse_from(args)?;
        let Command::Start(args) = cli.command else {
            panic!("not start")
        };
        Ok::<_, clap::Error>(StartOptions::from(args))
    };
    let opts = parse(&[
        "ferry",
        "start",
        "--client-max-body-size",
        "20m",
        "--client-body-buffer-size=64k",
        "--client-body-timeout",
        "5",
        "--request-buffering",
        "off",
        "--ignore-client-abort",
        "--data-buffer-dir",
        "/var/tmp/ferry",
    ])
    .unwrap();
    assert_eq!(opts.client_max_body_size, Some(20 << 20));
    assert_eq!(opts.client_body_buffer_size, Some(64 << 10));
    assert_eq!(opts.client_body_timeout, Some(5));
    assert_eq!(opts.request_buffering, Some(false));
    assert_eq!(opts.ignore_client_abort, Some(true));
    assert_eq!(opts.data_buffer_dir, Some(PathBuf::from("/var/tmp/ferry")));
    let off = parse(&["ferry", "start", "--ignore-client-abort=off"]).unwrap();
    assert_eq!(off.ignore_client_abort, Some(false));
    assert!(parse(&["ferry", "start", "--client-max-body-size", "10mb"]).is_err());
    assert!(parse(&["ferry", "start", "--request-buffering", "maybe"]).is_err());
}
