//! Planning: which app each place serves, with what settings; and the apps that cannot be.

use std::path::Path;

use super::*;
use crate::deployment::{BodySettings, PassengerRoute, ResponseSettings};
use crate::nginx::{parse_str, resolve};
use crate::{AppType, StartOptions};

/// A directory with apps: `dirs` are created, `files` written (empty).
fn tree(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        if file.ends_with('/') {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
        }
    }
    dir
}

fn plan_in(dir: &Path, text: &str) -> Result<Deployment, Rejected> {
    let text = text.replace("$DIR", &dir.display().to_string());
    let tree = parse_str(&text, dir.join("ferry.conf")).unwrap_or_else(|e| panic!("{e:?}"));
    plan(&resolve(&tree).unwrap_or_else(|e| panic!("{e}")))
}

fn good(dir: &Path, text: &str) -> Deployment {
    plan_in(dir, text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(dir: &Path, text: &str) -> Vec<String> {
    match plan_in(dir, text) {
        Ok(_) => panic!("planned"),
        Err(e) => e
            .errors
            .iter()
            .map(|p| p.to_string().replace(&dir.display().to_string(), "$DIR"))
            .collect(),
    }
}

fn passenger(route: &Route) -> &PassengerRoute {
    route.passenger.as_ref().expect("passenger on")
}

#[test]
fn the_app_root_is_the_parent_of_root() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let d = good(
        dir.path(),
        "http { server { listen 127.0.0.1:0; server_name a.test; root $DIR/a/public; \
         passenger_enabled on; } }",
    );
    assert_eq!(d.apps.len(), 1);
    let app = &d.apps[0];
    assert_eq!(app.root, dir.path().join("a"));
    assert_eq!(app.group_name, dir.path().join("a").display().to_string());
    assert_eq!(app.app_type, AppType::Ruby);
    let fallback = passenger(&d.servers[0].route).fallback.as_ref().unwrap();
    assert_eq!(
        fallback.public_dir.as_deref(),
        Some(&*dir.path().join("a/public"))
    );
    assert_eq!(fallback.base_uri, None);
}

#[test]
fn symlinks_in_root_are_kept() {
    let dir = tree(&["releases/1/passenger_wsgi.py", "releases/1/public/"]);
    std::os::unix::fs::symlink(dir.path().join("releases/1"), dir.path().join("current")).unwrap();
    let d = good(
        dir.path(),
        "http { server { root $DIR/current/public; passenger_enabled on; } }",
    );
    assert_eq!(d.apps[0].root, dir.path().join("current"));
    assert_eq!(d.apps[0].app_type, AppType::Python);
}

#[test]
fn sub_uri_with_alias_and_app_root() {
    let dir = tree(&["site/", "rails/config.ru", "rails/public/"]);
    let d = good(
        dir.path(),
        r"http { server { root $DIR/site;
            location ~ ^/subapp(/.*|$) {
                alias $DIR/rails/public$1;
                passenger_base_uri /subapp;
                passenger_app_root $DIR/rails;
                passenger_document_root $DIR/rails/public;
                passenger_enabled on;
            } } }",
    );
    assert_eq!(d.apps.len(), 1, "the mount and the fallback are one app");
    let location = &d.servers[0].locations[0];
    assert!(d.servers[0].route.passenger.is_none());
    let p = passenger(&location.route);
    assert_eq!(p.mounts.len(), 1);
    assert_eq!(p.mounts[0].base_uri.as_deref(), Some("/subapp"));
    assert_eq!(
        p.mounts[0].public_dir.as_deref(),
        Some(&*dir.path().join("rails/public"))
    );
    assert_eq!(d.apps[0].base_uri, "/subapp");
    assert!(matches!(location.route.files, Files::Alias(ref t) if t.uses_captures()));
}

#[test]
fn a_base_uri_under_root_follows_its_symlink() {
    let dir = tree(&["site/", "blog/app.js", "blog/public/"]);
    std::os::unix::fs::symlink(dir.path().join("blog/public"), dir.path().join("site/blog"))
        .unwrap();
    let d = good(
        dir.path(),
        "http { server { root $DIR/site; passenger_enabled on; passenger_base_uri /blog; \
         passenger_app_root $DIR/blog; location /x { root $DIR/site; passenger_enabled on; \
         passenger_base_uri /blog; } } }",
    );
    let p = passenger(&d.servers[0].locations[0].route);
    let mount = &p.mounts[0];
    assert_eq!(d.apps[mount.app].root, dir.path().join("blog"));
    assert_eq!(d.apps[mount.app].app_type, AppType::Node);
}

#[test]
fn disable_symlinks_reaches_routes_and_mounts_inherited_whole() {
    use crate::deployment::{SymlinkFrom, SymlinkMode, Symlinks};
    let dir = tree(&["site/", "blog/app.js", "blog/public/"]);
    std::os::unix::fs::symlink(dir.path().join("blog/public"), dir.path().join("site/blog"))
        .unwrap();
    let d = good(
        dir.path(),
        "http { disable_symlinks if_not_owner from=$document_root; \
         server { root $DIR/site; \
           location /files/ { } \
           location /strict/ { disable_symlinks on; } \
           location /blog { passenger_enabled on; passenger_base_uri /blog; \
             passenger_app_root $DIR/blog; } \
           location ~ ^/a(.*)$ { alias $DIR/site$1; } } \
         server { listen 8081; root $DIR/site; } }",
    );
    let server = &d.servers[0];
    let from_root = Some(Symlinks {
        mode: SymlinkMode::IfNotOwner,
        from: Some(SymlinkFrom::DocumentRoot),
    });
    assert_eq!(server.route.disable_symlinks, from_root);
    let route = |pattern: &str| {
        let location = server
            .locations
            .iter()
            .find(|l| l.matcher.pattern == pattern);
        location.expect(pattern).route.disable_symlinks.clone()
    };
    assert_eq!(route("/files/"), from_root, "inherited");
    assert_eq!(
        route("/strict/"),
        Some(Symlinks {
            mode: SymlinkMode::On,
            from: None,
        }),
        "a mode without from= has none: inherited whole, as nginx"
    );
    assert_eq!(route("^/a(.*)$"), from_root, "resolved per request");
    let blog = server
        .locations
        .iter()
        .find(|l| l.matcher.pattern == "/blog");
    let mount = &passenger(&blog.unwrap().route).mounts[0];
    assert_eq!(
        mount.disable_symlinks,
        Some(Symlinks {
            mode: SymlinkMode::IfNotOwner,
            from: Some(SymlinkFrom::Path(dir.path().join("site"))),
        }),
        "$document_root is root, above the link to the app's public directory"
    );
}

#[test]
fn without_disable_symlinks_the_default_is_left_to_the_start() {
    let dir = tree(&["a/app.js", "a/public/"]);
    let d = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; } }",
    );
    assert_eq!(d.servers[0].route.disable_symlinks, None);
    let fallback = passenger(&d.servers[0].route).fallback.as_ref().unwrap();
    assert_eq!(fallback.disable_symlinks, None);
}

#[test]
fn group_names_and_sharing() {
    let dir = tree(&["a/app.js", "a/public/"]);
    let d = good(
        dir.path(),
        "http {
            server { server_name one; root $DIR/a/public; passenger_enabled on; }
            server { server_name two; root $DIR/a/public; passenger_enabled on; }
            server { server_name three; root $DIR/a/public; passenger_enabled on;
                     passenger_app_env staging; }
            server { server_name four; root $DIR/a/public; passenger_enabled on;
                     passenger_app_group_name mine; }
        }",
    );
    let names: Vec<&str> = d.apps.iter().map(|a| a.group_name.as_str()).collect();
    let root = dir.path().join("a").display().to_string();
    assert_eq!(
        names,
        [root.clone(), format!("{root} (staging)"), "mine".into()]
    );
    assert_eq!(d.apps[1].environment, "staging");
}

#[test]
fn settings_reach_the_app_and_the_route() {
    let dir = tree(&["a/app.js", "a/public/"]);
    let d = good(
        dir.path(),
        r#"http {
            passenger_max_pool_size 15;
            passenger_pool_idle_time 10;
            passenger_ctl hook_attached_process /bin/true;
            passenger_pre_start http://foo.test/;
            server { listen 8081; server_name foo.test; root $DIR/a/public;
                passenger_enabled on;
                passenger_min_instances 3;
                passenger_max_instances 2;
                passenger_max_request_queue_size 7;
                passenger_env_var A b;
                passenger_set_cgi_param APP_NAME "my blog";
                passenger_set_cgi_param EXTRA method=$request_method;
                passenger_max_request_time 2;
                client_max_body_size 10k;
                location /slow { passenger_enabled on; passenger_max_request_time 10; }
            } }"#,
    );
    assert_eq!(d.pool.max_pool_size, 15);
    assert_eq!(d.pool.idle_time, Some(Duration::from_secs(10)));
    assert_eq!(d.hooks, ["attached_process=/bin/true"]);
    assert_eq!(d.pre_start[0].port, None);
    let app = &d.apps[0];
    assert_eq!(app.min_instances, 3);
    assert_eq!(app.max_instances, Some(2));
    assert_eq!(app.max_request_queue_size, 7);
    assert_eq!(
        app.env,
        [
            ("A".into(), "b".into()),
            ("APP_NAME".into(), "my blog".into())
        ]
    );
    let server = &d.servers[0];
    assert_eq!(server.route.client_max_body_size, Some(10 * 1024));
    let p = passenger(&server.route);
    assert_eq!(p.max_request_time, Some(Duration::from_secs(2)));
    assert_eq!(p.cgi_params.len(), 2);
    let slow = passenger(&server.locations[0].route);
    assert_eq!(slow.max_request_time, Some(Duration::from_secs(10)));
    assert!(slow.cgi_params.is_empty(), "not inherited (seed §8.6.1)");
    assert_eq!(d.listens.len(), 1);
}

#[test]
fn a_file_that_sets_nothing_gets_the_defaults_ferry_start_applies() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let d = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; } }",
    );
    let start = StartOptions {
        app_dir: Some(dir.path().join("a")),
        ..StartOptions::default()
    }
    .resolve()
    .unwrap();
    assert_eq!(d.pool.max_pool_size, start.pool.max_pool_size);
    assert_eq!(d.pool.idle_time, start.pool.idle_time);
    assert_eq!(d.pool.max_parallel_spawns, start.pool.max_parallel_spawns);
    assert_eq!(d.log_level, start.log_level);
    let (file, cli) = (&d.apps[0], &start.app);
    assert_eq!(file.environment, cli.environment);
    assert_eq!(file.threads, cli.threads);
    assert_eq!(file.min_instances, cli.min_instances);
    assert_eq!(file.start_timeout, cli.start_timeout);
    assert_eq!(file.max_request_queue_size, cli.max_request_queue_size);
    assert_eq!(file.max_request_queue_time, cli.max_request_queue_time);
    assert_eq!(file.queue_overflow_status, cli.queue_overflow_status);
    assert_eq!(file.max_instances, cli.max_instances);
    assert_eq!(file.max_requests, cli.max_requests);
    assert_eq!(file.max_request_time, cli.max_request_time);
    assert_eq!(file.memory_limit, cli.memory_limit);
    assert_eq!(file.spawn_method, cli.spawn_method);
    assert_eq!(file.max_preloader_idle_time, cli.max_preloader_idle_time);
    assert_eq!(file.user_switching, cli.user_switching);
    assert_eq!(file.sticky_sessions, cli.sticky_sessions);
    let route = &d.servers[0].route;
    assert_eq!(route.index, ["index.html"]);
    assert_eq!(route.default_type, "text/plain");
    assert_eq!(route.client_max_body_size, Some(1 << 20));
    assert!(route.show_version_in_header);
}

#[test]
fn error_pages_parse() {
    assert_eq!(
        error_page(&[
            "500".into(),
            "502".into(),
            "=200".into(),
            "/50x.html".into()
        ]),
        ErrorPage {
            codes: vec![500, 502],
            response: ErrorPageStatus::Code(200),
            target: "/50x.html".into()
        }
    );
    assert_eq!(
        error_page(&["404".into(), "=".into(), "@app".into()]).response,
        ErrorPageStatus::Target
    );
}

#[test]
fn sizes() {
    assert_eq!(size("1m"), Some(1 << 20));
    assert_eq!(size("64K"), Some(64 << 10));
    assert_eq!(size("0"), Some(0));
    assert_eq!(size("x"), None);
}

#[test]
fn apps_that_cannot_be_served_are_errors_with_their_line() {
    let dir = tree(&["empty/public/", "site/"]);
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nroot $DIR/missing/public;\npassenger_enabled on;\n}\n}"
        ),
        [
            "$DIR/ferry.conf:4: app $DIR/missing: app directory \"$DIR/missing\" cannot be \
             used: No such file or directory (os error 2)"
        ]
    );
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nroot $DIR/empty/public;\npassenger_enabled on;\n}\n}"
        ),
        [
            "$DIR/ferry.conf:4: app $DIR/empty: cannot tell what kind of app \"$DIR/empty\" \
             is: no app.js, config.ru, passenger_wsgi.py or asgi.py; pass app-type or app-start-command"
        ]
    );
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nroot $DIR/site;\npassenger_enabled on;\npassenger_app_root \
             $DIR/empty;\npassenger_base_uri /nope;\n}\n}"
        )[0],
        "$DIR/ferry.conf:6: app $DIR/empty: cannot tell what kind of app \"$DIR/empty\" is: \
         no app.js, config.ru, passenger_wsgi.py or asgi.py; pass app-type or app-start-command"
    );
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nroot $DIR/site;\npassenger_enabled on;\npassenger_base_uri \
             /nope;\npassenger_app_type node;\n}\n}"
        ),
        [
            "$DIR/ferry.conf:5: passenger_base_uri /nope: $DIR/site/nope cannot be used (No \
             such file or directory (os error 2)); make it a symlink to the app's public \
             directory, or set passenger_app_root and passenger_document_root",
        ]
    );
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nlocation ~ ^/x(.*) {\nalias $DIR/site$1;\npassenger_enabled \
             on;\n}\n}\n}"
        ),
        [
            "$DIR/ferry.conf:5: passenger_enabled is on in location \"^/x(.*)\", whose alias \
             has variables, so the app root cannot be told from it: set passenger_app_root \
             (and passenger_document_root for its static files)"
        ]
    );
    let dir = tree(&["a/app.js", "a/public/"]);
    assert_eq!(
        errors(
            dir.path(),
            "http {\nserver {\nroot $DIR/a/public;\npassenger_enabled on;\n\
             passenger_set_cgi_param A x$nope;\n}\n}"
        )[0]
        .split(';')
        .next()
        .unwrap(),
        "$DIR/ferry.conf:5: passenger_set_cgi_param A: unknown variable \"$nope\""
    );
}

#[test]
fn logs_are_the_http_blocks() {
    let dir = tree(&["site/"]);
    let d = good(
        dir.path(),
        "http {\naccess_log $DIR/a.log;\npassenger_temp_dir $DIR/tmp;\nserver {\nroot $DIR/site;\n\
         access_log $DIR/b.log;\nlocation /x { }\n}\n}",
    );
    assert_eq!(d.observability.access_log, Some(dir.path().join("a.log")));
    assert_eq!(
        d.observability.instance_registry_dir,
        Some(dir.path().join("tmp")),
        "passenger_temp_dir, without passenger_instance_registry_dir"
    );
    let warnings: Vec<String> = d.plan_warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings.len(),
        1,
        "once, not again for the location: {warnings:?}"
    );
    assert!(warnings[0].ends_with(
        ":6: access_log here has no effect of its own: Ferry keeps one log of each kind, the one \
         set in the http block"
    ));
}

#[test]
fn root_apps_are_allowed_only_by_a_file_root_owns() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let text = "http { passenger_allow_root_apps on; server { listen 127.0.0.1:0; \
                root $DIR/a/public; passenger_enabled on; } }";
    // The file exists and belongs to whoever runs the test.
    std::fs::write(dir.path().join("ferry.conf"), "").unwrap();
    let d = good(dir.path(), text);
    assert!(d.apps[0].user_switching.allow_root);
    let off = good(
        dir.path(),
        &text.replace(" passenger_allow_root_apps on;", ""),
    );
    assert!(!off.apps[0].user_switching.allow_root);

    if !ferry_test_support::require::require(&[ferry_test_support::Requirement::Root]) {
        return;
    }
    std::os::unix::fs::chown(dir.path().join("ferry.conf"), Some(1), None).unwrap();
    assert_eq!(
        errors(dir.path(), text),
        [
            "$DIR/ferry.conf:1: passenger_allow_root_apps on is in a file that belongs to uid 1, \
          not to root: only root's own configuration may let apps run as root"
        ]
    );
}

// Issue 16, request side:

#[test]
fn request_body_settings_are_read_per_place() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let d = good(
        dir.path(),
        r#"http {
            client_body_timeout 1m30s;
            server { listen 8081; root $DIR/a/public;
                passenger_enabled on;
                client_body_buffer_size 64k;
                client_body_temp_path /var/spool/ferry 1 2;
                location /stream {
                    passenger_enabled on;
                    passenger_request_buffering off;
                    passenger_ignore_client_abort on;
                    client_body_timeout 0;
                }
            } }"#,
    );
    let server = passenger(&d.servers[0].route);
    assert_eq!(
        server.request_body,
        BodySettings {
            buffering: true,
            buffer_size: 64 * 1024,
            timeout: Some(Duration::from_secs(90)),
            temp_dir: Some(PathBuf::from("/var/spool/ferry")),
        }
    );
    assert!(!server.ignore_client_abort);
    let stream = passenger(&d.servers[0].locations[0].route);
    assert!(!stream.request_body.buffering);
    assert_eq!(stream.request_body.buffer_size, 64 * 1024, "inherited");
    assert_eq!(stream.request_body.timeout, None, "0: no limit");
    assert!(stream.ignore_client_abort);
}

#[test]
fn request_body_defaults_match_ferry_start_but_for_the_limit() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let d = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; } }",
    );
    let start = StartOptions {
        app_dir: Some(dir.path().join("a")),
        ..StartOptions::default()
    }
    .resolve()
    .unwrap();
    let route = &d.servers[0].route;
    let p = passenger(route);
    assert_eq!(p.request_body, start.request_body);
    assert_eq!(p.request_body, BodySettings::default());
    assert_eq!(p.ignore_client_abort, start.ignore_client_abort);
    // nginx's 1m in a file; Passenger Standalone's 1024m for `ferry start`.
    assert_eq!(route.client_max_body_size, Some(1 << 20));
    assert_eq!(start.client_max_body_size, Some(1 << 30));
    let start_route = &start.deployment().servers[0].route;
    assert_eq!(start_route.client_max_body_size, Some(1 << 30));
}

// Issue 22, ASGI:

#[test]
fn asgi_apps_with_their_concurrency() {
    let dir = tree(&["api/main.py", "api/public/", "chat/asgi.py", "chat/public/"]);
    let d = good(
        dir.path(),
        "http { passenger_asgi_concurrency 40; \
         server { listen 127.0.0.1:0; server_name api.test; root $DIR/api/public; \
         passenger_enabled on; passenger_app_type asgi; passenger_startup_file main.py:app; } \
         server { listen 127.0.0.1:0; server_name chat.test; root $DIR/chat/public; \
         passenger_enabled on; passenger_asgi_concurrency 0; } }",
    );
    let api = d.apps.iter().find(|a| a.root.ends_with("api")).unwrap();
    assert_eq!(api.app_type, AppType::Asgi);
    assert_eq!(api.startup_file.as_deref(), Some(Path::new("main.py")));
    assert_eq!(api.app_callable.as_deref(), Some("app"));
    assert_eq!(api.asgi_concurrency, 40);
    let chat = d.apps.iter().find(|a| a.root.ends_with("chat")).unwrap();
    assert_eq!(chat.app_type, AppType::Asgi);
    assert_eq!(chat.asgi_concurrency, 0);
}

// Issue 16, response side:
#[test]
fn response_settings_belong_to_each_place_and_default_as_ferry_start_does() {
    let dir = tree(&["a/config.ru", "a/public/"]);
    let d = good(
        dir.path(),
        r#"http { passenger_read_timeout 3000ms;
            server { root $DIR/a/public; passenger_enabled on;
                location /stream { passenger_enabled on; passenger_buffer_response on;
                    passenger_read_timeout 0; passenger_websocket_idle_timeout 1m30s; }
            } }"#,
    );
    let server = passenger(&d.servers[0].route);
    assert_eq!(
        server.response,
        ResponseSettings {
            buffer_response: false,
            app_read_timeout: Some(Duration::from_secs(3)),
            websocket_idle_timeout: Some(Duration::from_secs(3600)),
        }
    );
    let stream = passenger(&d.servers[0].locations[0].route);
    assert_eq!(
        stream.response,
        ResponseSettings {
            buffer_response: true,
            app_read_timeout: None,
            websocket_idle_timeout: Some(Duration::from_secs(90)),
        }
    );
    let start = StartOptions {
        app_dir: Some(dir.path().join("a")),
        ..StartOptions::default()
    }
    .resolve()
    .unwrap();
    assert_eq!(start.app.response, ResponseSettings::default());
    let plain = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; } }",
    );
    assert_eq!(
        passenger(&plain.servers[0].route).response,
        start.app.response
    );
    let deployment = start.deployment();
    let route = deployment.servers[0].route.passenger.as_ref().unwrap();
    assert_eq!(route.response, ResponseSettings::default());
}

// Issue 16, connection side:

#[test]
fn client_connection_settings_come_from_each_server_with_nginx_defaults() {
    let dir = tree(&["site/"]);
    let d = good(
        dir.path(),
        "events { worker_connections 300; }
         http {
             client_header_timeout 10s;
             large_client_header_buffers 2 1k;
             server { listen 127.0.0.1:0; root $DIR/site;
                      keepalive_timeout 0; send_timeout 1m30s; underscores_in_headers on; }
             server { listen 127.0.0.2:0; root $DIR/site; keepalive_timeout 5 4;
                      ignore_invalid_headers off; client_header_timeout 500ms; }
         }",
    );
    assert_eq!(d.max_connections, Some(300));
    let first = &d.servers[0].client;
    assert_eq!(first.header_timeout, Some(Duration::from_secs(10)));
    assert_eq!(first.keepalive_timeout, None, "0 turns keep-alive off");
    assert_eq!(first.send_timeout, Some(Duration::from_secs(90)));
    assert_eq!((first.header_line_max, first.header_max), (1024, 2048));
    assert!(first.underscores_in_headers && first.ignore_invalid_headers);
    let second = &d.servers[1].client;
    assert_eq!(second.header_timeout, Some(Duration::from_millis(500)));
    assert_eq!(second.keepalive_timeout, Some(Duration::from_secs(5)));
    assert_eq!(second.keepalive_header, Some(Duration::from_secs(4)));
    assert_eq!(second.send_timeout, Some(Duration::from_secs(60)));
    assert!(!second.underscores_in_headers && !second.ignore_invalid_headers);
    let plain = good(
        dir.path(),
        "http { server { listen 127.0.0.1:0; root $DIR/site; } }",
    );
    assert_eq!(
        plain.max_connections, None,
        "derived from the open-files limit"
    );
    assert_eq!(plain.servers[0].client, ClientSettings::default());
    assert_eq!(
        ClientSettings::default().keepalive_timeout,
        Some(Duration::from_secs(75))
    );
}

#[test]
fn a_location_keepalive_or_send_timeout_is_a_warning() {
    let dir = tree(&["site/"]);
    let d = good(
        dir.path(),
        "http { send_timeout 5; server { listen 127.0.0.1:0; root $DIR/site;
             location /a/ { keepalive_timeout 3; location /a/b/ { } }
             location /c/ { } } }",
    );
    let warnings: Vec<String> = d.plan_warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("keepalive_timeout in a location has no effect of its own"),
        "{warnings:?}"
    );
    assert_eq!(
        d.servers[0].client.send_timeout,
        Some(Duration::from_secs(5))
    );
}

// Issue 22, refork:
#[test]
fn refork_after_reaches_a_preloaded_app_and_is_refused_without_a_preloader() {
    let dir = tree(&["a/config.ru", "a/public/", "n/app.js", "n/public/"]);
    let d = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; \
         passenger_refork_after 50; } }",
    );
    assert_eq!(d.apps[0].refork_after, Some(50));
    let d = good(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; } }",
    );
    assert_eq!(d.apps[0].refork_after, None, "off by default");
    let direct = errors(
        dir.path(),
        "http { server { root $DIR/a/public; passenger_enabled on; \
         passenger_spawn_method direct; passenger_refork_after 50; } }",
    );
    assert!(
        direct.iter().any(|e| e.contains("spawn_method smart")),
        "{direct:?}"
    );
    let node = errors(
        dir.path(),
        "http { server { root $DIR/n/public; passenger_enabled on; \
         passenger_refork_after 50; } }",
    );
    assert!(node.iter().any(|e| e.contains("no fork model")), "{node:?}");
}

// Issue 18, health:
#[test]
fn a_health_location_and_the_shutdown_delay() {
    let dir = tree(&["a/app.js", "a/public/"]);
    let d = good(
        dir.path(),
        "http { passenger_shutdown_delay 1m; server { listen 127.0.0.1:0; root $DIR/a/public; \
         passenger_enabled on; location /healthz { passenger_health_check on; \
         location /healthz/nested { } } location /other { } } }",
    );
    assert_eq!(d.shutdown_delay, std::time::Duration::from_secs(60));
    let server = &d.servers[0];
    assert!(!server.route.health_check);
    let health = &server.locations[0];
    assert_eq!(health.matcher.pattern, "/healthz");
    assert!(health.route.health_check);
    assert!(
        !health.locations[0].route.health_check,
        "not inherited by a nested location"
    );
    assert!(!server.locations[1].route.health_check);
    let d = good(
        dir.path(),
        "http { server { listen 127.0.0.1:0; root $DIR/a/public; passenger_enabled on; } }",
    );
    assert_eq!(d.shutdown_delay, std::time::Duration::ZERO);
}
