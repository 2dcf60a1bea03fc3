//! The resolver: every bad configuration reported with its file and line (a table of them),
//! then inheritance, provenance, location order and warnings of good ones.
use std::path::Path;

use super::*;
use crate::deployment::Modifier;
use crate::nginx::directives::{Role, DIRECTIVES};
use crate::nginx::parse_str;

fn load_str(text: &str) -> Result<ResolvedConfig, Rejected> {
    let tree = parse_str(text, "bad.conf").unwrap_or_else(|e| panic!("{e:?}"));
    resolve(&tree)
}

fn good(text: &str) -> ResolvedConfig {
    load_str(text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match load_str(text) {
        Ok(_) => Vec::new(),
        Err(rejected) => rejected.errors.iter().map(ToString::to_string).collect(),
    }
}

fn warnings(config: &ResolvedConfig) -> Vec<String> {
    config.warnings.iter().map(ToString::to_string).collect()
}

/// A value and the line that set it (`None` for a default).
fn value_at(settings: &Settings, name: &str) -> Option<(String, u32)> {
    settings.get(name).map(|s| {
        (
            s.value().unwrap_or("").to_owned(),
            s.span().map_or(0, |s| s.line),
        )
    })
}

fn entries(settings: &Settings, name: &str) -> Vec<(String, u32)> {
    settings.get(name).map_or_else(Vec::new, |s| {
        s.entries()
            .iter()
            .map(|e| (e.args.join(" "), e.span.line))
            .collect()
    })
}

// === Bad configurations ===

/// Each configuration (as `bad.conf`) and exactly the errors it gets, in order.
const BAD: &[(&str, &[&str])] = &[
    (
        "foo;",
        &["bad.conf:1: unknown directive \"foo\""],
    ),
    (
        "http {\n  server {\n    passenger_enabled_on;\n  }\n}",
        &["bad.conf:3: unknown directive \"passenger_enabled_on\""],
    ),
    (
        "http {\n  server {\n    passenger_max_pool_size 4;\n  }\n}",
        &["bad.conf:3: passenger_max_pool_size is only allowed in the http block (found in server)"],
    ),
    (
        "passenger_enabled on;",
        &["bad.conf:1: passenger_enabled is allowed in http, server, location and if blocks (found at the top level)"],
    ),
    (
        "http {\n  passenger_set_cgi_param A b;\n}",
        &["bad.conf:2: passenger_set_cgi_param is allowed in server, location and if blocks (found in http)"],
    ),
    (
        "http {\n  server {\n    location / {\n      passenger_pre_start http://x/;\n    }\n  }\n}",
        &["bad.conf:4: passenger_pre_start is only allowed in the http block (found in location)"],
    ),
    (
        "http {\n  listen 80;\n}",
        &["bad.conf:2: listen is only allowed in the server block (found in http)"],
    ),
    (
        "http {\n  server {\n    alias /x;\n  }\n}",
        &["bad.conf:3: alias is only allowed in the location block (found in server)"],
    ),
    (
        "events {\n  gzip on;\n}",
        &["bad.conf:2: gzip is allowed in http, server, location and if blocks (found in events)"],
    ),
    (
        "http {\n  worker_processes 4;\n}",
        &["bad.conf:2: worker_processes is only allowed at the top level (found in http)"],
    ),
    (
        "http {\n  server {\n    if ($host = x) {\n      return 404;\n    }\n  }\n}",
        &["bad.conf:3: if: Ferry does not support if blocks (Nginx's own documentation calls them error-prone); use separate server or location blocks instead", "bad.conf:4: unknown directive \"return\""],
    ),
    (
        "http {\n  server {\n    location / {\n      if ($a) {\n        passenger_max_pool_size 3;\n      }\n    }\n  }\n}",
        &["bad.conf:4: if: Ferry does not support if blocks (Nginx's own documentation calls them error-prone); use separate server or location blocks instead", "bad.conf:5: passenger_max_pool_size is only allowed in the http block (found in if)"],
    ),
    // Issue 19, TLS:
    (
        "http {\n  ssl_stapling_verify on;\n}",
        &["bad.conf:2: ssl_stapling_verify: Ferry's TLS does not implement this directive (it implements listen ... ssl, ssl_certificate, ssl_certificate_key, ssl_protocols, ssl_ciphers, ssl_prefer_server_ciphers, ssl_session_cache, ssl_session_tickets and http2; see docs/tls.md): remove it, or terminate TLS in front of Ferry"],
    ),
    (
        "http {\n  server {\n    ssl_certificate acme;\n  }\n}",
        &["bad.conf:3: ssl_certificate expects the path of a PEM file, got \"acme\"; automatic certificates (ACME) are not implemented yet: give a certificate file (certbot's /etc/letsencrypt/live/NAME/fullchain.pem and privkey.pem)"],
    ),
    (
        "http {\n  server {\n    add_header X-Frame-Options DENY;\n  }\n}",
        &["bad.conf:3: add_header: Ferry does not add response headers; set them in the app, or in a proxy in front of Ferry (ignoring them would silently drop security headers)"],
    ),
    (
        "http {\n  passenger_max_pool_size;\n}",
        &["bad.conf:2: passenger_max_pool_size takes exactly 1 argument, got 0"],
    ),
    (
        "http {\n  passenger_max_pool_size 1 2;\n}",
        &["bad.conf:2: passenger_max_pool_size takes exactly 1 argument, got 2"],
    ),
    (
        "http {\n  passenger_max_pool_size 0;\n}",
        &["bad.conf:2: passenger_max_pool_size expects an integer ≥ 1, got \"0\""],
    ),
    (
        "http {\n  passenger_max_pool_size -1;\n}",
        &["bad.conf:2: passenger_max_pool_size expects an integer ≥ 1, got \"-1\""],
    ),
    (
        "http {\n  passenger_enabled yes;\n}",
        &["bad.conf:2: passenger_enabled expects on or off, got \"yes\""],
    ),
    (
        "http {\n  passenger_start_timeout 30s;\n}",
        &["bad.conf:2: passenger_start_timeout expects a number of seconds (an integer ≥ 1), got \"30s\""],
    ),
    (
        "http {\n  client_max_body_size 10x;\n}",
        &["bad.conf:2: client_max_body_size expects a size such as 1024, 64k, 10m or 1g, got \"10x\""],
    ),
    (
        "http {\n  passenger_base_uri blog;\n}",
        &["bad.conf:2: passenger_base_uri expects a URI path starting with /, such as /blog, got \"blog\""],
    ),
    (
        "http {\n  passenger_app_type rails;\n}",
        &["bad.conf:2: passenger_app_type expects one of rack, wsgi, node, ruby, python, nodejs, generic or asgi, got \"rails\""],
    ),
    (
        "http {\n  passenger_spawn_method fork;\n}",
        &["bad.conf:2: passenger_spawn_method expects smart or direct, got \"fork\""],
    ),
    (
        "http {\n  passenger_log_level 9;\n}",
        &["bad.conf:2: passenger_log_level expects an integer from 0 to 7, got \"9\""],
    ),
    (
        "http {\n  passenger_request_queue_overflow_status_code 700;\n}",
        &["bad.conf:2: passenger_request_queue_overflow_status_code expects an HTTP status code from 100 to 599, got \"700\""],
    ),
    (
        "http {\n  server {\n    passenger_set_cgi_param X-Forwarded-For 1.2.3.4;\n  }\n}",
        &["bad.conf:3: passenger_set_cgi_param expects a CGI variable name of letters, digits and _, such as HTTP_X_FORWARDED_FOR, got \"X-Forwarded-For\"; write header variables in CGI form: HTTP_X_FORWARDED_FOR, not X-Forwarded-For"],
    ),
    (
        "http {\n  passenger_env_var A=B c;\n}",
        &["bad.conf:2: passenger_env_var expects an environment variable name without = or NUL, got \"A=B\""],
    ),
    (
        "http {\n  passenger_ctl spawn_failed /bin/true;\n}",
        &["bad.conf:2: passenger_ctl expects hook_NAME (NAME of letters, digits, _ and -) followed by a command, got \"spawn_failed\"; Ferry's passenger_ctl only sets hooks (seed 000 §11.9)"],
    ),
    (
        "http {\n  passenger_pre_start ftp://x/;\n}",
        &["bad.conf:2: passenger_pre_start expects an http:// URL or a path starting with /, got \"ftp://x/\""],
    ),
    (
        "http {\n  passenger_ignore_headers X-Foo;\n}",
        &["bad.conf:2: passenger_ignore_headers expects one of X-Accel-Redirect, X-Accel-Expires, X-Accel-Limit-Rate, X-Accel-Buffering, X-Accel-Charset, Expires, Cache-Control, Set-Cookie or Vary, got \"X-Foo\""],
    ),
    (
        "http {\n  passenger_pass_header \"Bad Header\";\n}",
        &["bad.conf:2: passenger_pass_header expects an HTTP header name such as X-Accel-Redirect, got \"Bad Header\""],
    ),
    (
        "http {\n  passenger_sticky_sessions_cookie_name \"a b\";\n}",
        &["bad.conf:2: passenger_sticky_sessions_cookie_name expects a cookie name of letters, digits and !#$%&'*+-.^_`|~, got \"a b\""],
    ),
    (
        "http {\n  server {\n    passenger_enabled on;\n    root /a/public;\n    passenger_enabled off;\n  }\n}",
        &["bad.conf:5: duplicate passenger_enabled in this server block (first at bad.conf:3)"],
    ),
    (
        "http {\n  server {\n    rails_env development;\n    rack_env staging;\n  }\n}",
        &["bad.conf:4: duplicate rack_env in this server block (passenger_app_env is already set at bad.conf:3 by rails_env)"],
    ),
    (
        "http {\n  server {\n    root /a;\n    root /b;\n  }\n}",
        &["bad.conf:4: duplicate root in this server block (first at bad.conf:3)"],
    ),
    (
        "http {\n}\nhttp {\n}",
        &["bad.conf:3: duplicate http at the top level (first at bad.conf:1)"],
    ),
    (
        "http {\n  server;\n}",
        &["bad.conf:2: server must be followed by a { ... } block"],
    ),
    (
        "http {\n  server {\n    root /a {\n    }\n  }\n}",
        &["bad.conf:3: root does not take a { ... } block"],
    ),
    (
        "http {\n  server {\n    location {\n    }\n  }\n}",
        &["bad.conf:3: location takes 1 or 2 arguments, got 0"],
    ),
    (
        "http {\n  server {\n    location ~ {\n    }\n  }\n}",
        &["bad.conf:3: location expects a URI after the modifier, got \"~\""],
    ),
    (
        "http {\n  server {\n    location ^/x /y {\n    }\n  }\n}",
        &["bad.conf:3: location expects a modifier (=, ~, ~* or ^~) before the URI, got \"^/x\""],
    ),
    (
        "http {\n  server {\n    location ~ ^/(foo {\n    }\n  }\n}",
        &["bad.conf:3: invalid regular expression \"^/(foo\" in location: unclosed group"],
    ),
    (
        "http {\n  server {\n    location ~* \"(?=x)\" {\n    }\n  }\n}",
        &["bad.conf:3: invalid regular expression \"(?=x)\" in location: look-around, including look-ahead and look-behind, is not supported"],
    ),
    (
        "http {\n  server {\n    location ~ ^/a(b)\\1 {\n    }\n  }\n}",
        &["bad.conf:3: invalid regular expression \"^/a(b)\\1\" in location: backreferences are not supported"],
    ),
    (
        "http {\n  server {\n    location /a {\n      location /b {\n      }\n    }\n  }\n}",
        &["bad.conf:4: location \"/b\" is outside location \"/a\""],
    ),
    (
        "http {\n  server {\n    location = /a {\n      location /a/b {\n      }\n    }\n  }\n}",
        &["bad.conf:4: location \"/a/b\" cannot be inside the exact location \"= /a\""],
    ),
    (
        "http {\n  server {\n    location /a {\n      location @x {\n      }\n    }\n  }\n}",
        &["bad.conf:4: named location \"@x\" can only be at the server level"],
    ),
    (
        "http {\n  server {\n    location /a {\n    }\n    location /a {\n    }\n  }\n}",
        &["bad.conf:5: duplicate location \"/a\" (first at bad.conf:3)"],
    ),
    (
        "http {\n  server {\n    location /a {\n      root /x;\n      alias /y;\n    }\n  }\n}",
        &["bad.conf:5: root and alias cannot both be set in location \"/a\" (root at bad.conf:4); keep one"],
    ),
    (
        "http {\n  server {\n    location ~ ^/a(.*)$ {\n      alias /x$2;\n    }\n  }\n}",
        &["bad.conf:4: alias uses $2 but location \"~ ^/a(.*)$\" has 1 capture group"],
    ),
    (
        "http {\n  server {\n    location @named {\n      alias /x;\n    }\n  }\n}",
        &["bad.conf:4: alias cannot be used in a named location"],
    ),
    (
        "http {\n  server {\n    listen 80 default_server;\n  }\n  server {\n    listen *:80 default_server;\n  }\n}",
        &["bad.conf:6: duplicate default_server for *:80 (the first is at bad.conf:3)"],
    ),
    (
        "http {\n  server {\n    listen 8080;\n    listen 0.0.0.0:8080;\n  }\n}",
        &["bad.conf:4: duplicate listen *:8080 in this server (first at bad.conf:3)"],
    ),
    (
        "http {\n  server {\n    listen 99999;\n  }\n}",
        &["bad.conf:3: listen expects an address such as 80, 127.0.0.1:8080, [::1]:80 or unix:/path/to/socket, got \"99999\""],
    ),
    (
        "http {\n  server {\n    listen unix:;\n  }\n}",
        &["bad.conf:3: listen expects an address such as 80, 127.0.0.1:8080, [::1]:80 or unix:/path/to/socket, got \"unix:\""],
    ),
    (
        "http {\n  server {\n    listen 80 http3;\n  }\n}",
        &["bad.conf:3: listen expects a listen parameter such as default_server, backlog=N, ipv6only=on|off, reuseport, deferred or bind, got \"http3\"; Ferry does not support this listen parameter"],
    ),
    (
        "http {\n  server {\n    listen 80 foo;\n  }\n}",
        &["bad.conf:3: listen expects a listen parameter such as default_server, backlog=N, ipv6only=on|off, reuseport, deferred or bind, got \"foo\""],
    ),
    (
        "http {\n  server {\n    server_name \"~^(www\\.)?(.+$\";\n  }\n}",
        &["bad.conf:3: invalid regular expression \"^(www\\.)?(.+$\" in server_name: unclosed group"],
    ),
    (
        "http {\n  server {\n    server_name a.*.com;\n  }\n}",
        &["bad.conf:3: server_name expects a server name such as example.com, *.example.com, www.example.*, .example.com or ~regex, got \"a.*.com\""],
    ),
    (
        "http {\n  server {\n    server_name \"ex ample.com\";\n  }\n}",
        &["bad.conf:3: server_name expects a server name such as example.com, *.example.com, www.example.*, .example.com or ~regex, got \"ex ample.com\""],
    ),
    (
        "http {\n  server {\n    passenger_enabled on;\n  }\n}",
        &["bad.conf:3: passenger_enabled is on in this server but neither root nor passenger_app_root is set, so there is no app to serve (the app root is the parent of root)"],
    ),
    (
        "http {\n  passenger_enabled on;\n  server {\n    listen 80;\n  }\n}",
        &["bad.conf:3: passenger_enabled is on in this server (inherited from bad.conf:2) but neither root nor passenger_app_root is set, so there is no app to serve (the app root is the parent of root)"],
    ),
    (
        "http {\n  server {\n    root /a;\n    location /b {\n      passenger_enabled on;\n      passenger_enabled on;\n    }\n  }\n}",
        &["bad.conf:6: duplicate passenger_enabled in this location block (first at bad.conf:5)"],
    ),
    (
        "http {\n  server {\n    error_page 200 /x;\n  }\n}",
        &["bad.conf:3: error_page expects a status code from 300 to 599, got \"200\""],
    ),
    (
        "http {\n  error_log /x loud;\n}",
        &["bad.conf:2: error_log expects a log level: debug, info, notice, warn, error, crit, alert or emerg, got \"loud\""],
    ),
    (
        "http {\n  types {\n    text/html;\n  }\n}",
        &["bad.conf:3: types entry text/html needs at least one file extension after it"],
    ),
    (
        "http {\n  server {\n    server {\n    }\n  }\n}",
        &["bad.conf:3: server is only allowed in the http block (found in server)"],
    ),
    (
        "location / {\n}",
        &["bad.conf:1: location is allowed in server and location blocks (found at the top level)"],
    ),
    (
        "http {\n  server {\n    location /a {\n      server_name x;\n    }\n  }\n}",
        &["bad.conf:4: server_name is only allowed in the server block (found in location)"],
    ),
    (
        "http {\n  passenger_user_switching maybe;\n  passenger_max_pool_size 0;\n  bogus;\n  server {\n    passenger_max_pool_size 3;\n  }\n}",
        &["bad.conf:2: passenger_user_switching expects on or off, got \"maybe\"", "bad.conf:3: passenger_max_pool_size expects an integer ≥ 1, got \"0\"", "bad.conf:4: unknown directive \"bogus\"", "bad.conf:6: passenger_max_pool_size is only allowed in the http block (found in server)"],
    ),
];

#[test]
fn every_bad_configuration_gets_exactly_its_errors() {
    assert!(BAD.len() >= 40, "{} cases", BAD.len());
    let mut failures = Vec::new();
    for (text, expected) in BAD {
        let got = errors(text);
        if got != *expected {
            failures.push(format!("{text}\n  expected {expected:#?}\n  got {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn load_errors(path: &Path) -> Vec<String> {
    match load(path) {
        Ok(_) => Vec::new(),
        Err(rejected) => rejected.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn errors_in_included_files_name_the_included_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "nginx.conf",
        "http {\n    passenger_max_pool_size 4;\n    include sites/*.conf;\n}\n",
    );
    write(
        dir.path(),
        "sites/app.conf",
        "server {\n    listen 80;\n\n    passenger_max_pool_size 8;\n    root /srv/app/public;\n    \
         passenger_enabled maybe;\n}\n",
    );
    let site = dir.path().join("sites/app.conf").display().to_string();
    assert_eq!(
        load_errors(&dir.path().join("nginx.conf")),
        [
            format!(
                "{site}:4: passenger_max_pool_size is only allowed in the http block (found in \
                 server)"
            ),
            format!("{site}:6: passenger_enabled expects on or off, got \"maybe\""),
        ]
    );
}

#[test]
fn a_duplicate_across_an_include_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "nginx.conf",
        "http {\n    server {\n        listen 80 default_server;\n    }\n    include extra.conf;\n}\n",
    );
    write(
        dir.path(),
        "extra.conf",
        "# another site\nserver {\n    listen 0.0.0.0:80 default_server;\n    root /a;\n    \
         root /b;\n}\n",
    );
    let main = dir.path().join("nginx.conf").display().to_string();
    let extra = dir.path().join("extra.conf").display().to_string();
    assert_eq!(
        load_errors(&dir.path().join("nginx.conf")),
        [
            format!("{extra}:5: duplicate root in this server block (first at {extra}:4)"),
            format!("{extra}:3: duplicate default_server for *:80 (the first is at {main}:3)"),
        ]
    );
}

#[test]
fn parse_errors_come_through_load() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nginx.conf", "http {\n    server {\n");
    let file = dir.path().join("nginx.conf").display().to_string();
    assert_eq!(
        load_errors(&dir.path().join("nginx.conf")),
        [
            format!(
                "{file}:2: unexpected end of file, expecting \"}}\" to close the \"server\" block"
            ),
            format!(
                "{file}:1: unexpected end of file, expecting \"}}\" to close the \"http\" block"
            ),
        ]
    );
    let missing = dir.path().join("missing.conf");
    let errors = load_errors(&missing);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(&format!("{}: could not read", missing.display())),
        "{errors:?}"
    );
}

#[test]
fn every_problem_is_reported_with_the_warnings() {
    let text = "worker_processes 4;\nhttp {\n    gzip on;\n    bogus 1;\n    server {\n        \
                passenger_max_pool_size 2;\n    }\n}\n";
    let rejected = load_str(text).unwrap_err();
    assert_eq!(rejected.errors.len(), 2);
    assert_eq!(
        rejected
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "bad.conf:1: worker_processes is ignored: Ferry is one process and sizes its own \
             thread pool",
            "bad.conf:3: gzip is ignored: Ferry does not compress responses",
        ]
    );
}

// === Good configurations ===

const INHERITANCE: &str = "\
http {
    passenger_max_pool_size 4;
    passenger_ruby /usr/bin/ruby3;
    passenger_enabled on;
    passenger_env_var SHARED http;
    passenger_env_var ONLY_HTTP yes;
    passenger_pre_start http://a.example/;
    passenger_pre_start http://b.example/;
    client_max_body_size 20m;
    server {
        listen 8080;
        server_name www.example.com;
        root /srv/app/public;
        rails_env staging;
        passenger_env_var SHARED server;
        passenger_set_cgi_param APP_NAME blog;
        passenger_base_uri /a;
        index index.html index.htm;
        location /static {
            client_max_body_size 1k;
            passenger_base_uri /b;
        }
        location /app {
            passenger_enabled on;
            passenger_ruby /opt/ruby;
            passenger_set_cgi_param OTHER x;
            index home.html;
        }
    }
}
";

#[test]
fn servers_inherit_from_http_and_record_the_line() {
    let config = good(INHERITANCE);
    assert_eq!(
        value_at(&config.http, "passenger_max_pool_size"),
        Some(("4".into(), 2))
    );
    let server = &config.servers[0].settings;
    assert_eq!(
        value_at(server, "passenger_max_pool_size"),
        Some(("4".into(), 2))
    );
    assert_eq!(
        value_at(server, "passenger_ruby"),
        Some(("/usr/bin/ruby3".into(), 3))
    );
    // passenger_enabled goes from http into servers.
    assert_eq!(
        value_at(server, "passenger_enabled"),
        Some(("on".into(), 4))
    );
    assert_eq!(
        value_at(server, "root"),
        Some(("/srv/app/public".into(), 13))
    );
}

#[test]
fn aliases_land_on_passenger_app_env() {
    let config = good(INHERITANCE);
    let server = &config.servers[0].settings;
    assert_eq!(
        value_at(server, "passenger_app_env"),
        Some(("staging".into(), 14))
    );
    assert_eq!(
        server.get("rack_env").unwrap().entries()[0].written_as,
        "rails_env"
    );
    assert!(config.http.get("passenger_app_env").is_none());
}

#[test]
fn locations_inherit_from_their_server() {
    let config = good(INHERITANCE);
    let server = &config.servers[0];
    let app = server.find_location("/app/x").unwrap();
    assert_eq!(
        value_at(&app.settings, "passenger_ruby"),
        Some(("/opt/ruby".into(), 25))
    );
    assert_eq!(
        value_at(&app.settings, "passenger_app_env"),
        Some(("staging".into(), 14))
    );
    assert_eq!(
        value_at(&app.settings, "client_max_body_size"),
        Some(("20m".into(), 9))
    );
    let assets = server.find_location("/static/a.css").unwrap();
    assert_eq!(
        value_at(&assets.settings, "client_max_body_size"),
        Some(("1k".into(), 20))
    );
}

#[test]
fn passenger_enabled_is_off_in_each_location_unless_repeated() {
    let config = good(INHERITANCE);
    let server = &config.servers[0];
    let assets = server.find_location("/static/a.css").unwrap();
    assert_eq!(assets.settings.get("passenger_enabled"), None);
    let shown = assets.settings.effective(Context::Location);
    let enabled = shown
        .iter()
        .find(|e| e.name == "passenger_enabled")
        .unwrap();
    assert_eq!(
        (enabled.args.as_slice(), enabled.origin),
        (&["off"][..], Origin::Default)
    );
    let app = server.find_location("/app").unwrap();
    assert_eq!(
        value_at(&app.settings, "passenger_enabled"),
        Some(("on".into(), 24))
    );
}

#[test]
fn cgi_params_are_not_inherited() {
    let config = good(INHERITANCE);
    let server = &config.servers[0];
    assert_eq!(
        entries(&server.settings, "passenger_set_cgi_param"),
        [("APP_NAME blog".to_owned(), 16)]
    );
    let assets = server.find_location("/static").unwrap();
    assert_eq!(entries(&assets.settings, "passenger_set_cgi_param"), []);
    let app = server.find_location("/app").unwrap();
    assert_eq!(
        entries(&app.settings, "passenger_set_cgi_param"),
        [("OTHER x".to_owned(), 26)]
    );
}

#[test]
fn lists_keep_every_entry_and_merge_where_the_table_says() {
    let config = good(INHERITANCE);
    assert_eq!(
        entries(&config.http, "passenger_pre_start"),
        [
            ("http://a.example/".to_owned(), 7),
            ("http://b.example/".to_owned(), 8)
        ]
    );
    let server = &config.servers[0];
    // The server's SHARED replaces http's; ONLY_HTTP comes along.
    assert_eq!(
        entries(&server.settings, "passenger_env_var"),
        [
            ("ONLY_HTTP yes".to_owned(), 6),
            ("SHARED server".to_owned(), 15)
        ]
    );
    let assets = server.find_location("/static").unwrap();
    assert_eq!(
        entries(&assets.settings, "passenger_base_uri"),
        [("/a".to_owned(), 17), ("/b".to_owned(), 21)]
    );
    // `index` is a list that a block's own entries replace.
    assert_eq!(
        entries(&assets.settings, "index"),
        [("index.html index.htm".to_owned(), 18)]
    );
    let app = server.find_location("/app").unwrap();
    assert_eq!(
        entries(&app.settings, "index"),
        [("home.html".to_owned(), 27)]
    );
}

#[test]
fn effective_settings_add_defaults_only_where_nothing_is_written() {
    let config = good(INHERITANCE);
    let server = &config.servers[0].settings;
    let shown = server.effective(Context::Server);
    let find = |name: &str| shown.iter().find(|e| e.name == name).unwrap();
    assert_eq!(find("passenger_min_instances").origin, Origin::Default);
    assert_eq!(find("passenger_min_instances").args, ["1"]);
    assert_eq!(find("passenger_ruby").origin.line(), Some(3));
    // http-only settings are shown with http, not with servers.
    assert!(shown.iter().all(|e| e.name != "passenger_max_pool_size"));
    assert!(config
        .http
        .effective(Context::Http)
        .iter()
        .any(|e| e.name == "passenger_max_pool_size"));
}

const SEED_3_2: &str = "\
http {
    server {
        listen 80;
        server_name www.phusion.nl;
        root /websites/phusion;
        passenger_enabled on;
        location ~ ^/subapp(/.*|$) {
            alias /websites/rails/public$1;
            passenger_base_uri /subapp;
            passenger_app_root /websites/rails;
            passenger_document_root /websites/rails/public;
            passenger_enabled on;
        }
    }
}
";

#[test]
fn the_seeds_sub_uri_example_resolves() {
    let config = good(SEED_3_2);
    assert_eq!(warnings(&config), Vec::<String>::new());
    let server = &config.servers[0];
    assert_eq!(server.listens[0].address.to_string(), "*:80");
    assert!(server.names[0].matches("WWW.phusion.nl"));
    let sub = server.find_location("/subapp/users").unwrap();
    assert_eq!(sub.matcher.modifier, Modifier::Regex);
    assert_eq!(sub.matcher.captures(), 1);
    assert_eq!(
        value_at(&sub.settings, "passenger_app_root"),
        Some(("/websites/rails".into(), 10))
    );
    // `alias` replaces the server's `root` (one setting in Nginx).
    assert_eq!(value_at(&sub.settings, "root"), None);
    assert_eq!(
        value_at(&sub.settings, "alias"),
        Some(("/websites/rails/public$1".into(), 8))
    );
    assert_eq!(
        value_at(&server.settings, "root"),
        Some(("/websites/phusion".into(), 5))
    );
    assert!(server.find_location("/subapp").is_some());
    assert!(server.find_location("/subapplication").is_none());
    assert!(server.find_location("/").is_none());
    assert_eq!(config.location_count(), 1);
}

const ORDER: &str = "\
http {
    server {
        location ~ \\.php$ { }
        location / { }
        location = / { }
        location ^~ /static/ { }
        location /images/ {
            location ~* \\.JPG$ { }
        }
        location ~* \\.(gif|jpg)$ { }
        location /images/icons/ { }
        location @fallback { }
    }
}
";

#[test]
fn locations_are_kept_in_nginx_search_order() {
    let config = good(ORDER);
    let order: Vec<String> = config.servers[0]
        .locations
        .iter()
        .map(|l| l.matcher.to_string())
        .collect();
    assert_eq!(
        order,
        [
            "= /",
            "/images/icons/",
            "^~ /static/",
            "/images/",
            "/",
            "~ \\.php$",
            "~* \\.(gif|jpg)$",
            "@fallback",
        ]
    );
    assert_eq!(config.location_count(), 9);
}

#[test]
fn find_location_follows_nginx() {
    let config = good(ORDER);
    let server = &config.servers[0];
    let found = |uri: &str| server.find_location(uri).map(|l| l.matcher.to_string());
    assert_eq!(found("/").as_deref(), Some("= /"));
    assert_eq!(found("/index.html").as_deref(), Some("/"));
    assert_eq!(found("/a.php").as_deref(), Some("~ \\.php$"));
    // ^~ stops the regex search.
    assert_eq!(found("/static/a.php").as_deref(), Some("^~ /static/"));
    // A nested regex beats the outer ones.
    assert_eq!(found("/images/a.jpg").as_deref(), Some("~* \\.JPG$"));
    assert_eq!(found("/img/a.GIF").as_deref(), Some("~* \\.(gif|jpg)$"));
    // The longest prefix when no regex matches.
    assert_eq!(
        found("/images/icons/a.png").as_deref(),
        Some("/images/icons/")
    );
    assert_eq!(
        found("/images/icons/a.gif").as_deref(),
        Some("~* \\.(gif|jpg)$")
    );
}

#[test]
fn listens_and_server_names_take_every_form() {
    let config = good(
        "http {
    server {
        listen 127.0.0.1:8080 default_server;
        listen [::1]:81;
        listen unix:/run/ferry.sock;
        listen 8000 default;
        server_name example.com *.example.org www.example.* .example.net ~^app(\\d+)\\.io$ \"\";
    }
    server {
        listen 8080;
        listen *:8000;
    }
}
",
    );
    let listens: Vec<String> = config.servers[0]
        .listens
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        listens,
        [
            "127.0.0.1:8080 default_server",
            "[::1]:81",
            "unix:/run/ferry.sock",
            "*:8000 default_server",
        ]
    );
    let names = &config.servers[0].names;
    let matching = |host: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| n.matches(host))
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(matching("example.com"), ["example.com"]);
    assert_eq!(matching("a.example.org"), ["*.example.org"]);
    assert!(matching("example.org").is_empty());
    assert_eq!(matching("www.example.de"), ["www.example.*"]);
    assert_eq!(matching("example.net"), [".example.net"]);
    assert_eq!(matching("x.y.example.net"), [".example.net"]);
    assert!(matching("badexample.net").is_empty());
    assert_eq!(matching("app12.io"), ["~^app(\\d+)\\.io$"]);
    assert_eq!(matching(""), ["\"\""]);
}

#[test]
fn warnings_cover_ignored_directives_no_effect_and_forgotten_passenger_enabled() {
    let config = good(
        "worker_processes auto;
events {
    multi_accept on;
}
http {
    passenger_root /opt/passenger;
    server {
        server_name a.example;
        root /srv/a/public;
        passenger_enabled on;
        location /admin {
            passenger_min_instances 2;
        }
    }
    server {
        server_name a.example;
    }
}
",
    );
    assert_eq!(
        warnings(&config),
        [
            "bad.conf:1: worker_processes is ignored: Ferry is one process and sizes its own \
             thread pool",
            "bad.conf:3: multi_accept is ignored: Ferry's accept loop is not tunable",
            "bad.conf:6: passenger_root has no effect: Ferry ships its own loaders and finds them \
             itself; it needs no Passenger install",
            "bad.conf:11: location \"/admin\" sets passenger_min_instances but passenger_enabled \
             is off in it: each location must say passenger_enabled on again (seed 000 §8.2.1)",
            "bad.conf:15: conflicting server name \"a.example\" on *:80 (also at bad.conf:7); the \
             first server gets its requests",
        ]
    );
}

#[test]
fn a_file_without_http_has_no_servers() {
    let config = good("worker_processes 1;\n");
    assert!(config.servers.is_empty());
    assert_eq!(config.location_count(), 0);
}

// === Documentation ===

const CONFIG_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");

#[test]
fn docs_list_every_ignored_and_refused_directive() {
    let docs = std::fs::read_to_string(CONFIG_MD).unwrap();
    let missing: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|s| {
            matches!(
                s.role,
                Role::Ignored { .. } | Role::Rejected { .. } | Role::Unsupported { .. }
            )
        })
        .map(|s| s.name)
        .filter(|name| !docs.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/config.md does not mention {missing:?}"
    );
}
