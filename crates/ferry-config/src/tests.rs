use super::*;

fn app_dir(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        std::fs::write(dir.path().join(f), "").expect("write");
    }
    dir
}

fn opts(dir: &tempfile::TempDir) -> StartOptions {
    StartOptions {
        app_dir: Some(dir.path().to_owned()),
        ..StartOptions::default()
    }
}

#[test]
fn defaults_follow_passenger_standalone() {
    let dir = app_dir(&["app.js"]);
    let cfg = opts(&dir).resolve().expect("valid");
    assert_eq!(
        cfg.listen,
        Listen::Tcp {
            address: "0.0.0.0".into(),
            port: 3000
        }
    );
    assert_eq!(cfg.pool.max_pool_size, 6);
    assert_eq!(cfg.app.min_instances, 1);
    assert_eq!(cfg.app.environment, "production");
    assert_eq!(cfg.app.start_timeout, Duration::from_secs(90));
    assert_eq!(cfg.app.app_type, AppType::Node);
    assert_eq!(
        cfg.app.start,
        Start::Loader {
            interpreter: "node".into()
        }
    );
    assert_eq!(cfg.app.base_uri, "/");
    assert_eq!(cfg.app.threads, 1);
    assert_eq!(cfg.log_level, 3);
}

#[test]
fn start_command_makes_a_generic_app() {
    let dir = app_dir(&["app.js"]);
    let cfg = StartOptions {
        app_start_command: Some("python3 -m http.server $PORT".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.app.app_type, AppType::Generic);
    assert_eq!(
        cfg.app.start,
        Start::Command("python3 -m http.server $PORT".into())
    );
}

#[test]
fn each_language_gets_its_interpreter() {
    for (file, app_type) in [
        ("config.ru", AppType::Ruby),
        ("passenger_wsgi.py", AppType::Python),
    ] {
        let dir = app_dir(&[file]);
        let cfg = opts(&dir).resolve().expect("valid");
        assert_eq!(cfg.app.app_type, app_type);
        assert!(matches!(cfg.app.start, Start::Loader { .. }));
    }
    let dir = app_dir(&["config.ru"]);
    let cfg = StartOptions {
        ruby: Some("/opt/ruby/bin/ruby".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(
        cfg.app.start,
        Start::Loader {
            interpreter: "/opt/ruby/bin/ruby".into()
        }
    );
}

#[test]
fn base_uri_and_threads_are_checked() {
    let dir = app_dir(&["config.ru"]);
    let cfg = StartOptions {
        base_uri: Some("/blog/".into()),
        concurrency_model: Some("thread".into()),
        thread_count: Some(8),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.app.base_uri, "/blog");
    assert_eq!(cfg.app.threads, 8);
    let err = StartOptions {
        base_uri: Some("blog".into()),
        concurrency_model: Some("fibers".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("--base-uri") && text.contains("--concurrency-model"),
        "{text}"
    );
}

#[test]
fn undetectable_app_is_an_error_naming_the_dir() {
    let dir = app_dir(&[]);
    let err = opts(&dir).resolve().expect_err("no startup file");
    assert!(matches!(err, Error::UndetectedAppType { .. }), "{err}");
    assert!(err.to_string().contains("--app-start-command"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let dir = app_dir(&["app.js"]);
    let err = StartOptions {
        max_pool_size: Some(0),
        log_level: Some(9),
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("--max-pool-size=0"), "{text}");
    assert!(text.contains("--log-level=9"), "{text}");
}

#[test]
fn app_type_names_and_aliases() {
    assert_eq!("nodejs".parse::<AppType>().ok(), Some(AppType::Node));
    assert_eq!("rack".parse::<AppType>().ok(), Some(AppType::Ruby));
    assert_eq!("wsgi".parse::<AppType>().ok(), Some(AppType::Python));
    assert!("cobol".parse::<AppType>().is_err());
}

#[test]
fn shell_quote_keeps_words_whole() {
    assert_eq!(shell_quote("app.js"), "app.js");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn friendly_error_pages_default_by_environment() {
    let dir = app_dir(&["app.js"]);
    let friendly = |env: &str| {
        StartOptions {
            environment: Some(env.into()),
            ..opts(&dir)
        }
        .resolve()
        .expect("valid")
        .app
        .friendly_error_pages
    };
    assert!(!friendly("production"));
    assert!(!friendly("staging"));
    assert!(friendly("development"));
    assert!(friendly("test"));
    let forced = StartOptions {
        friendly_error_pages: Some(true),
        ..opts(&dir)
    };
    assert!(forced.resolve().expect("valid").app.friendly_error_pages);
}

#[test]
fn user_switching_defaults_follow_the_seed() {
    let dir = app_dir(&["app.js"]);
    let cfg = opts(&dir).resolve().expect("valid");
    assert!(cfg.app.user_switching.enabled);
    assert_eq!(cfg.app.user_switching.default_user, "nobody");
    assert_eq!(cfg.app.user_switching.user, None);
    assert!(!cfg.app.load_shell_envvars);
}

#[test]
fn malformed_pairs_and_hooks_are_all_reported() {
    let dir = app_dir(&["app.js"]);
    let err = StartOptions {
        envvars: vec!["NOEQUALS".into(), "A=1".into()],
        hooks: vec!["spawn_failed".into()],
        spawn_args: vec!["=x".into()],
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("--envvar=NOEQUALS"), "{text}");
    assert!(text.contains("--hook=spawn_failed"), "{text}");
    assert!(text.contains("--spawn-arg==x"), "{text}");
}

#[test]
fn process_management_defaults_follow_passenger() {
    let dir = app_dir(&["app.js"]);
    let cfg = opts(&dir).resolve().expect("valid");
    assert_eq!(cfg.pool.max_parallel_spawns, 1);
    assert_eq!(cfg.app.memory_limit, None);
    assert_eq!(cfg.app.memory_hard_limit, None);
    assert!(!cfg.app.rolling_restarts);
    assert!(!cfg.app.resist_deployment_errors);
    assert_eq!(cfg.app.sticky_sessions, None);
    assert!(cfg.pre_start.is_empty());
    assert!(cfg.warnings().is_empty());
}

#[test]
fn memory_limits_of_zero_mean_none() {
    let dir = app_dir(&["app.js"]);
    let limits = |soft, hard| {
        let cfg = StartOptions {
            memory_limit: Some(soft),
            memory_hard_limit: Some(hard),
            ..opts(&dir)
        }
        .resolve()
        .expect("valid");
        (cfg.app.memory_limit, cfg.app.memory_hard_limit)
    };
    assert_eq!(limits(0, 0), (None, None));
    assert_eq!(limits(200, 0), (Some(200), None));
    assert_eq!(limits(0, 100), (None, Some(100)));
    assert_eq!(limits(200, 200), (Some(200), Some(200)));
    assert_eq!(limits(200, 300), (Some(200), Some(300)));
}

#[test]
fn a_hard_memory_limit_below_the_soft_one_is_an_error_naming_both() {
    let dir = app_dir(&["app.js"]);
    let err = StartOptions {
        memory_limit: Some(300),
        memory_hard_limit: Some(200),
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    assert!(matches!(err, Error::Below { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "--memory-hard-limit=200 is not valid: must be at least --memory-limit=300"
    );
}

#[test]
fn max_parallel_spawns_is_1_to_16() {
    let dir = app_dir(&["app.js"]);
    let spawns = |n| {
        StartOptions {
            max_parallel_spawns: Some(n),
            ..opts(&dir)
        }
        .resolve()
        .map(|cfg| cfg.pool.max_parallel_spawns)
    };
    assert_eq!(spawns(1).expect("valid"), 1);
    assert_eq!(spawns(16).expect("valid"), 16);
    for bad in [0, 17] {
        let text = spawns(bad).expect_err("out of range").to_string();
        assert!(
            text.contains(&format!("--max-parallel-spawns={bad}")),
            "{text}"
        );
    }
}

#[test]
fn sticky_sessions_carry_their_cookie() {
    let dir = app_dir(&["app.js"]);
    let on = StartOptions {
        sticky_sessions: Some(true),
        ..opts(&dir)
    };
    assert_eq!(
        on.clone().resolve().expect("valid").app.sticky_sessions,
        Some(StickySessions {
            cookie_name: "_passenger_route".into(),
            cookie_attributes: "SameSite=Lax; Secure;".into(),
        })
    );
    let custom = StartOptions {
        sticky_sessions_cookie_name: Some("route".into()),
        sticky_sessions_cookie_attributes: Some("SameSite=Strict; HttpOnly".into()),
        ..on
    };
    assert_eq!(
        custom.resolve().expect("valid").app.sticky_sessions,
        Some(StickySessions {
            cookie_name: "route".into(),
            cookie_attributes: "SameSite=Strict; HttpOnly".into(),
        })
    );
    let off = StartOptions {
        sticky_sessions: Some(false),
        sticky_sessions_cookie_name: Some("route".into()),
        ..opts(&dir)
    };
    assert_eq!(off.resolve().expect("valid").app.sticky_sessions, None);
}

#[test]
fn a_bad_sticky_cookie_is_an_error_even_with_sticky_sessions_off() {
    let dir = app_dir(&["app.js"]);
    let err = StartOptions {
        sticky_sessions_cookie_name: Some("my route".into()),
        sticky_sessions_cookie_attributes: Some("Secure;\r\nX: y".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("--sticky-sessions-cookie-name=my route"),
        "{text}"
    );
    assert!(
        text.contains(r"--sticky-sessions-cookie-attributes=Secure;\r\nX: y"),
        "{text}"
    );
}

#[test]
fn resisting_deployment_errors_without_rolling_restarts_warns() {
    let dir = app_dir(&["app.js"]);
    let warnings = |rolling| {
        StartOptions {
            rolling_restarts: Some(rolling),
            resist_deployment_errors: Some(true),
            ..opts(&dir)
        }
        .resolve()
        .expect("valid")
        .warnings()
    };
    let alone = warnings(false);
    assert_eq!(alone.len(), 1, "{alone:?}");
    assert!(alone[0].contains("--rolling-restarts"), "{alone:?}");
    assert!(warnings(true).is_empty());
}

#[test]
fn pre_start_urls_are_kept_in_order() {
    let dir = app_dir(&["app.js"]);
    let cfg = StartOptions {
        pre_start: vec!["/".into(), "http://bar.com:3500/store".into()],
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(
        cfg.pre_start,
        [
            PreStart {
                url: "/".into(),
                host: None,
                port: None,
                path: "/".into(),
            },
            PreStart {
                url: "http://bar.com:3500/store".into(),
                host: Some("bar.com:3500".into()),
                port: Some(3500),
                path: "/store".into(),
            },
        ]
    );
}

#[test]
fn bad_pre_start_urls_are_all_reported() {
    let dir = app_dir(&["app.js"]);
    let err = StartOptions {
        pre_start: vec!["https://foo.com/".into(), "foo.com".into(), "/ok".into()],
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("--pre-start=https://foo.com/ is not valid: https is not supported"),
        "{text}"
    );
    assert!(text.contains("--pre-start=foo.com is not valid"), "{text}");
    assert!(!text.contains("/ok"), "{text}");
}

#[test]
fn public_links_are_followed_if_not_owner_unless_the_command_line_says() {
    use deployment::{SymlinkMode, Symlinks};
    let dir = app_dir(&["app.js"]);
    let mount_symlinks = |options: StartOptions| {
        let deployment = options.resolve().expect("valid").deployment();
        let route = &deployment.servers[0].route;
        let fallback = route.passenger.as_ref().and_then(|p| p.fallback.clone());
        fallback.expect("the app").disable_symlinks
    };
    let with = |mode| Symlinks { mode, from: None };
    assert_eq!(
        mount_symlinks(opts(&dir)),
        Some(with(SymlinkMode::IfNotOwner)),
        "whoever Ferry runs as"
    );
    let on = StartOptions {
        disable_symlinks: Some(SymlinkMode::On),
        ..opts(&dir)
    };
    assert_eq!(mount_symlinks(on), Some(with(SymlinkMode::On)));
    assert_eq!(
        Symlinks::in_force(None, true),
        with(SymlinkMode::IfNotOwner)
    );
    assert_eq!(Symlinks::in_force(None, false), with(SymlinkMode::Off));
    let written = with(SymlinkMode::On);
    assert_eq!(Symlinks::in_force(Some(&written), false), written);
}

// Issue 16, request side:

#[test]
fn request_body_options_become_the_routes_settings() {
    let dir = app_dir(&["app.js"]);
    let cfg = StartOptions {
        client_max_body_size: Some(0),
        client_body_buffer_size: Some(4096),
        client_body_timeout: Some(0),
        request_buffering: Some(false),
        ignore_client_abort: Some(true),
        data_buffer_dir: Some("/var/tmp/ferry".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.client_max_body_size, None, "0 = no limit");
    let expected = deployment::BodySettings {
        buffering: false,
        buffer_size: 4096,
        timeout: None,
        temp_dir: Some("/var/tmp/ferry".into()),
    };
    assert_eq!(cfg.request_body, expected);
    let deployment = cfg.deployment();
    let route = &deployment.servers[0].route;
    assert_eq!(route.client_max_body_size, None);
    let passenger = route.passenger.as_ref().unwrap();
    assert_eq!(passenger.request_body, expected);
    assert!(passenger.ignore_client_abort);
}

// Issue 22, ASGI:

#[test]
fn asgi_apps_from_asgi_py_or_file_colon_name() {
    // asgi.py is found after passenger_wsgi.py, so a Passenger app keeps its type.
    let dir = app_dir(&["asgi.py"]);
    let cfg = opts(&dir).resolve().expect("valid");
    assert_eq!(cfg.app.app_type, AppType::Asgi);
    assert_eq!(cfg.app.startup_file, Some(PathBuf::from("asgi.py")));
    assert_eq!(cfg.app.app_callable, None);
    assert_eq!(cfg.app.asgi_concurrency, defaults::ASGI_CONCURRENCY);
    assert_eq!(cfg.app.spawn_method, SpawnMethod::Smart);
    assert!(matches!(cfg.app.start, Start::Loader { .. }));
    let dir = app_dir(&["asgi.py", "passenger_wsgi.py"]);
    assert_eq!(opts(&dir).resolve().unwrap().app.app_type, AppType::Python);
    // FILE.py:NAME names the callable, and is an ASGI app whatever else is there.
    let cfg = StartOptions {
        startup_file: Some("main.py:app".into()),
        asgi_concurrency: Some(32),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.app.app_type, AppType::Asgi);
    assert_eq!(cfg.app.startup_file, Some(PathBuf::from("main.py")));
    assert_eq!(cfg.app.app_callable.as_deref(), Some("app"));
    assert_eq!(cfg.app.asgi_concurrency, 32);
    let cfg = StartOptions {
        app_type: Some(AppType::Asgi),
        startup_file: Some("mysite/asgi.py".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.app.startup_file, Some(PathBuf::from("mysite/asgi.py")));
    assert_eq!(cfg.app.app_callable, None);
}

#[test]
fn asgi_callable_names_are_python_names() {
    let split = |f: &str| {
        let (file, name) = AppType::split_callable(std::path::Path::new(f));
        (file.display().to_string(), name.map(str::to_owned))
    };
    assert_eq!(split("main.py:app"), ("main.py".into(), Some("app".into())));
    assert_eq!(
        split("src/web.py:api.app"),
        ("src/web.py".into(), Some("api.app".into()))
    );
    assert_eq!(split("main.py"), ("main.py".into(), None));
    assert_eq!(split("main.py:"), ("main.py:".into(), None));
    assert_eq!(split("main.py:1app"), ("main.py:1app".into(), None));
    assert_eq!(split("app.js:x"), ("app.js:x".into(), None));
    assert_eq!("asgi".parse::<AppType>().ok(), Some(AppType::Asgi));
    assert_eq!(AppType::Asgi.to_string(), "asgi");
}

// Issue 16, connection side:

#[test]
fn client_connection_options_reach_the_deployment() {
    use crate::deployment::ClientSettings;
    let dir = app_dir(&["app.js"]);
    let cfg = opts(&dir).resolve().expect("valid");
    assert_eq!(cfg.client, ClientSettings::default());
    assert_eq!(cfg.max_connections, None);
    let cfg = StartOptions {
        client_header_timeout: Some(0),
        keepalive_timeout: Some(0),
        send_timeout: Some(7),
        max_connections: Some(100),
        underscores_in_headers: Some(true),
        large_client_header_buffers: Some("2 16k".into()),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid");
    assert_eq!(cfg.client.header_line_max, 16 * 1024);
    assert_eq!(cfg.client.header_max, 32 * 1024);
    assert_eq!(cfg.client.header_timeout, None, "0: no limit");
    assert_eq!(cfg.client.keepalive_timeout, None, "0: no keep-alive");
    assert_eq!(cfg.client.send_timeout, Some(Duration::from_secs(7)));
    assert!(cfg.client.underscores_in_headers);
    let deployment = cfg.deployment();
    assert_eq!(deployment.max_connections, Some(100));
    assert_eq!(
        deployment.servers[0].client.send_timeout,
        Some(Duration::from_secs(7))
    );
    let err = StartOptions {
        max_connections: Some(0),
        ..opts(&dir)
    }
    .resolve()
    .expect_err("invalid");
    assert!(err.to_string().contains("--max-connections=0"), "{err}");
    for bad in ["16k", "0 8k", "4 0", "4 8x", "4 8k 1"] {
        let err = StartOptions {
            large_client_header_buffers: Some(bad.into()),
            ..opts(&dir)
        }
        .resolve()
        .expect_err(bad);
        assert!(
            err.to_string().contains("--large-client-header-buffers"),
            "{err}"
        );
    }
}

// Issue 18, health:

#[test]
fn the_health_path_becomes_an_exact_location_and_the_delay_reaches_the_deployment() {
    use crate::deployment::Modifier;
    let dir = app_dir(&["app.js"]);
    let deployment = opts(&dir).resolve().expect("valid").deployment();
    assert!(deployment.servers[0].locations.is_empty());
    assert_eq!(deployment.shutdown_delay, Duration::ZERO);
    let deployment = StartOptions {
        health_path: Some("/healthz".into()),
        shutdown_delay: Some(5),
        ..opts(&dir)
    }
    .resolve()
    .expect("valid")
    .deployment();
    assert_eq!(deployment.shutdown_delay, Duration::from_secs(5));
    let server = &deployment.servers[0];
    assert!(!server.route.health_check);
    let [health] = server.locations.as_slice() else {
        panic!("one location: {:?}", server.locations);
    };
    assert_eq!(health.matcher.modifier, Modifier::Exact);
    assert_eq!(health.matcher.pattern, "/healthz");
    assert!(health.route.health_check);
    assert!(health.route.passenger.is_none());
    for bad in ["healthz", "/a/../b", "/h?x=1", "/./h"] {
        let err = StartOptions {
            health_path: Some(bad.into()),
            ..opts(&dir)
        }
        .resolve()
        .expect_err(bad);
        assert!(err.to_string().contains("--health-path"), "{err}");
    }
}
