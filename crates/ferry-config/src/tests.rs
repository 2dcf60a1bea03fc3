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
