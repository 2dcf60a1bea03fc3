//! The directive table against the seed and its own rules.
use std::collections::{BTreeMap, BTreeSet};

use super::*;

const SEED_000: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/seeds/000_c59b3cfdb90dacd8.txt"
);

/// Which rule of a seed section a table entry differs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    Contexts,
    Once,
    Default,
}

/// Where the table deliberately differs from seed 000 §8 (each has a comment in the
/// table). The test fails if one is no longer needed.
const EXCEPTIONS: &[(&str, Check)] = &[
    // No "at most once" in the seed; a second flag in one block is refused.
    ("passenger_enabled", Check::Once),
    // The interpreters' sections give no repeat rule, and §8.3.2/§8.3.3 no places (they
    // refer to passenger_ruby).
    ("passenger_ruby", Check::Once),
    ("passenger_python", Check::Contexts),
    ("passenger_python", Check::Once),
    ("passenger_nodejs", Check::Contexts),
    ("passenger_nodejs", Check::Once),
    // The default is the default user's primary group: not a value.
    ("passenger_default_group", Check::Default),
    // Passenger 6's levels: default 3 (notice), not the seed's 0.
    ("passenger_log_level", Check::Default),
    // "May only be specified in the http block", with no repeat rule; one directory.
    ("passenger_temp_dir", Check::Once),
];

/// One `8.x[.y]. passenger_...` section of the seed.
struct Section {
    number: String,
    name: String,
    lines: Vec<String>,
}

/// A heading line: `NUMBER. TITLE`, NUMBER being digits and dots.
fn heading(line: &str) -> Option<(&str, &str)> {
    let (number, title) = line.split_once(". ")?;
    let numeric = number
        .split('.')
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    numeric.then_some((number, title))
}

/// The seed's `passenger_*` sections of §8, or `None` when the seed is not beside the repo (the
/// test then skips, and fails under CI, where it always is).
fn seed_sections() -> Option<Vec<Section>> {
    let seed = ferry_test_support::Requirement::Path {
        what: "seed 000",
        path: SEED_000.into(),
        installs: "the project's shared/ directory beside the repository; CI lays it there",
    };
    if !ferry_test_support::require::require(&[seed]) {
        return None;
    }
    let text = std::fs::read_to_string(SEED_000).expect("read seed 000");
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<Section> = None;
    for line in text.lines() {
        if let Some((number, title)) = heading(line) {
            sections.extend(current.take());
            let name = title.split_whitespace().next().unwrap_or("").to_lowercase();
            if number.starts_with("8.") && name.starts_with("passenger_") {
                current = Some(Section {
                    number: number.to_owned(),
                    name,
                    lines: Vec::new(),
                });
            }
        } else if let Some(section) = current.as_mut() {
            section.lines.push(line.to_owned());
        }
    }
    sections.extend(current);
    Some(sections)
}

/// The places the section's "may occur in ..." sentences and lists name.
fn seed_contexts(lines: &[String]) -> BTreeSet<Context> {
    const INTROS: [&str; 4] = [
        "may occur in the following places",
        "may only occur",
        "may only be specified in",
        "may be specified in",
    ];
    const PLACES: [(&str, Context); 4] = [
        ("http configuration block", Http),
        ("server configuration block", Server),
        ("location configuration block", Location),
        ("if configuration scope", If),
    ];
    let mut found = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        for intro in INTROS {
            let Some(at) = line.find(intro) else { continue };
            let mut text = line[at..].to_owned();
            for next in &lines[i + 1..] {
                let next = next.trim();
                if !(next.is_empty() || next == "-" || next.starts_with("In ")) {
                    break;
                }
                text.push_str(next);
            }
            for (phrase, context) in PLACES {
                if text.contains(phrase) {
                    found.insert(context);
                }
            }
        }
    }
    found
}

fn seed_once(lines: &[String]) -> bool {
    lines
        .iter()
        .any(|l| l.contains("at most once") || l.contains("may only occur once"))
}

/// "The default value is X" (or "The default is X"), X up to the first `,`, ` (` or `. `.
fn seed_default(lines: &[String]) -> Option<String> {
    let line = lines
        .iter()
        .find(|l| l.contains("The default value is ") || l.contains("The default is "))?;
    let (_, rest) = line
        .split_once("The default value is ")
        .or_else(|| line.split_once("The default is "))?;
    let end = [", ", " (", ". "]
        .iter()
        .filter_map(|stop| rest.find(stop))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim().trim_end_matches('.').to_owned())
}

/// Every way the table differs from the seed's sections.
fn seed_mismatches(sections: &[Section]) -> BTreeMap<(String, Check), String> {
    let mut found = BTreeMap::new();
    for section in sections {
        let name = section.name.clone();
        let Some(spec) = lookup(&name) else {
            found.insert((name, Check::Contexts), "not in the table".to_owned());
            continue;
        };
        let contexts = seed_contexts(&section.lines);
        let ours: BTreeSet<Context> = spec.contexts.iter().copied().collect();
        if contexts != ours {
            let why = format!("seed {contexts:?}, table {ours:?}");
            found.insert((name.clone(), Check::Contexts), why);
        }
        if seed_once(&section.lines) == spec.repeatable {
            let why = format!("table repeatable = {}", spec.repeatable);
            found.insert((name.clone(), Check::Once), why);
        }
        if let Some(default) = seed_default(&section.lines) {
            if spec.default != Some(default.as_str()) {
                let why = format!("seed {default:?}, table {:?}", spec.default);
                found.insert((name.clone(), Check::Default), why);
            }
        }
    }
    found
}

#[test]
fn every_seed_directive_is_in_the_table_with_the_seeds_rules() {
    let Some(sections) = seed_sections() else {
        return;
    };
    assert!(
        sections.len() >= 50,
        "only {} sections found",
        sections.len()
    );
    let mismatches = seed_mismatches(&sections);
    let unexpected: Vec<_> = mismatches
        .iter()
        .filter(|((name, check), _)| !EXCEPTIONS.contains(&(name.as_str(), *check)))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    for (name, check) in EXCEPTIONS {
        let key = ((*name).to_owned(), *check);
        assert!(mismatches.contains_key(&key), "stale exception {key:?}");
    }
}

#[test]
fn seed_sections_in_the_table_are_the_seeds_headings() {
    let Some(sections) = seed_sections() else {
        return;
    };
    let headings: BTreeMap<&str, &str> = sections
        .iter()
        .map(|s| (s.name.as_str(), s.number.as_str()))
        .collect();
    for spec in DIRECTIVES {
        let Source::Seed(number) = spec.source else {
            continue;
        };
        if spec.name.starts_with("passenger_") && number.starts_with("8.") {
            assert_eq!(headings.get(spec.name), Some(&number), "{}", spec.name);
        }
    }
}

#[test]
fn names_are_unique_and_each_is_found() {
    let mut seen = BTreeSet::new();
    for spec in DIRECTIVES {
        assert!(seen.insert(spec.name), "{} twice", spec.name);
        if !spec.name.ends_with('*') {
            assert_eq!(lookup(spec.name), Some(spec));
        }
    }
    assert!(DIRECTIVES.len() > 100, "{}", DIRECTIVES.len());
}

#[test]
fn unknown_names_are_not_found() {
    for name in [
        "",
        "passenger",
        "passenger_enable",
        "proxy_pass",
        "Passenger_enabled",
    ] {
        assert_eq!(lookup(name), None, "{name}");
    }
}

// Issue 19, TLS: every `ssl*` directive is either implemented or refused with a reason.
#[test]
fn every_ssl_directive_is_implemented_or_refused_with_a_reason() {
    for name in [
        "ssl_certificate",
        "ssl_certificate_key",
        "ssl_protocols",
        "ssl_ciphers",
        "ssl_prefer_server_ciphers",
        "ssl_session_cache",
        "ssl_session_tickets",
        "http2",
    ] {
        assert_eq!(lookup(name).unwrap().role, Role::Core, "{name}");
    }
    for name in [
        "ssl_stapling_verify",
        "ssl_client_certificate",
        "ssl_early_data",
    ] {
        let spec = lookup(name).unwrap();
        assert_eq!(
            spec.role,
            Role::Unsupported {
                message: TLS_UNSUPPORTED
            },
            "{name}"
        );
    }
    for name in ["ssl", "ssl_session_timeout", "ssl_stapling", "ssl_dhparam"] {
        let role = lookup(name).unwrap().role;
        assert!(
            matches!(role, Role::Unsupported { message } if message != TLS_UNSUPPORTED),
            "{name}: {role:?}"
        );
    }
    assert_eq!(check("ssl_protocols", &["TLSv1.2", "TLSv1.3"]), "ok");
    assert!(check("ssl_protocols", &["TLSv1.1", "TLSv1.2"]).contains("RFC 8996"));
    assert!(check("ssl_certificate", &["acme"]).contains("not implemented yet"));
    assert!(check("ssl_certificate_key", &["data:xyz"]).contains("files only"));
}

#[test]
fn aliases_mirror_their_directive() {
    for alias in ["rails_env", "rack_env"] {
        let spec = lookup(alias).unwrap();
        assert_eq!(spec.canonical_name(), "passenger_app_env");
        let target = lookup("passenger_app_env").unwrap();
        let renamed = Spec {
            name: target.name,
            role: target.role,
            ..*spec
        };
        assert_eq!(&renamed, target);
    }
    for spec in DIRECTIVES {
        if let Role::Alias { of } = spec.role {
            assert_eq!(lookup(of).map(|t| t.role), Some(Role::Passenger));
        }
    }
}

#[test]
fn passenger_6_names_and_hooks_are_accepted() {
    for name in [
        "passenger_env_var",
        "passenger_app_group_name",
        "passenger_max_request_queue_time",
        "passenger_app_start_command",
        "passenger_sticky_sessions_cookie_attributes",
    ] {
        let spec = lookup(name).unwrap();
        assert_eq!(spec.contexts, ALL_HTTP, "{name}");
        assert_eq!(spec.source, Source::Passenger6, "{name}");
    }
    for name in ["passenger_instance_registry_dir", "passenger_ctl"] {
        assert_eq!(lookup(name).unwrap().contexts, HTTP, "{name}");
    }
    for name in ["passenger_root", "passenger_fly_with"] {
        let spec = lookup(name).unwrap();
        assert!(matches!(spec.role, Role::NoEffect { .. }), "{name}");
    }
}

#[test]
fn the_core_directives_are_implemented() {
    for name in [
        "http",
        "events",
        "server",
        "location",
        "listen",
        "server_name",
        "root",
        "alias",
        "index",
        "error_page",
        "client_max_body_size",
        "default_type",
        "types",
        "access_log",
        "error_log",
        "include",
    ] {
        assert_eq!(lookup(name).map(|s| s.role), Some(Role::Core), "{name}");
    }
    let blocks: Vec<&str> = DIRECTIVES
        .iter()
        .filter(|s| s.block)
        .map(|s| s.name)
        .collect();
    assert_eq!(
        blocks,
        ["http", "events", "server", "location", "types", "if"]
    );
}

#[test]
fn if_blocks_are_rejected() {
    let spec = lookup("if").unwrap();
    assert!(matches!(spec.role, Role::Rejected { .. }));
    assert!(spec.block);
}

#[test]
fn common_nginx_tuning_is_ignored_with_a_warning() {
    for name in [
        "worker_processes",
        "multi_accept",
        "user",
        "pid",
        "gzip",
        "gzip_types",
        "sendfile",
        "tcp_nopush",
        "tcp_nodelay",
        "keepalive_requests",
        "server_tokens",
        "charset",
    ] {
        let spec = lookup(name).unwrap();
        assert!(
            matches!(spec.role, Role::Ignored { warning } if !warning.is_empty()),
            "{name}"
        );
        assert!(spec.check_args(&["anything", "at", "all"]).is_ok());
    }
}

#[test]
fn inheritance_follows_the_seed() {
    let inherit = |name| lookup(name).unwrap().inherit;
    assert_eq!(inherit("passenger_set_cgi_param"), Inherit::No);
    assert_eq!(inherit("passenger_enabled"), Inherit::NotIntoLocations);
    assert_eq!(inherit("passenger_env_var"), Inherit::Merge);
    assert_eq!(inherit("passenger_base_uri"), Inherit::Merge);
    assert_eq!(inherit("passenger_min_instances"), Inherit::Yes);
    assert_eq!(inherit("error_page"), Inherit::Yes);
}

#[test]
fn contexts_are_listed_in_order_and_not_empty() {
    for spec in DIRECTIVES {
        assert!(!spec.contexts.is_empty(), "{}", spec.name);
        assert!(
            spec.contexts.windows(2).all(|w| w[0] < w[1]),
            "{}",
            spec.name
        );
    }
}

#[test]
fn defaults_pass_their_own_checks() {
    for spec in DIRECTIVES {
        if let Some(default) = spec.default {
            let args: Vec<&str> = if spec.args == Arity::Exactly(1) {
                vec![default]
            } else {
                default.split_whitespace().collect()
            };
            assert_eq!(spec.check_args(&args), Ok(()), "{}", spec.name);
        }
    }
}

#[test]
fn app_types_are_ferrys() {
    for name in APP_TYPES {
        assert!(name.parse::<crate::AppType>().is_ok(), "{name}");
    }
}

#[test]
fn allowed_contexts_read_as_sentences() {
    let allowed = |name| lookup(name).unwrap().allowed_in();
    assert_eq!(
        allowed("passenger_max_pool_size"),
        "only allowed in the http block"
    );
    assert_eq!(
        allowed("passenger_min_instances"),
        "allowed in http, server, location and if blocks"
    );
    assert_eq!(
        allowed("passenger_set_cgi_param"),
        "allowed in server, location and if blocks"
    );
    assert_eq!(allowed("location"), "allowed in server and location blocks");
    assert_eq!(allowed("alias"), "only allowed in the location block");
    assert_eq!(allowed("worker_processes"), "only allowed at the top level");
    assert_eq!(
        allowed("error_log"),
        "allowed at the top level and in http, server and location blocks"
    );
    assert_eq!(allowed("include"), "allowed anywhere");
    let pool = lookup("passenger_max_pool_size").unwrap();
    assert!(pool.allows(Http) && !pool.allows(Server));
}

/// The message for `args` given to `name`, or "ok".
fn check(name: &str, args: &[&str]) -> String {
    match lookup(name).unwrap().check_args(args) {
        Ok(()) => "ok".to_owned(),
        Err(invalid) => invalid.to_string(),
    }
}

#[test]
fn argument_counts_and_blocks() {
    assert_eq!(
        check("passenger_enabled", &["on", "off"]),
        "passenger_enabled takes exactly 1 argument, got 2"
    );
    assert_eq!(
        check("passenger_env_var", &["A"]),
        "passenger_env_var takes exactly 2 arguments, got 1"
    );
    assert_eq!(check("http", &["x"]), "http takes no arguments, got 1");
    assert_eq!(
        check("listen", &[]),
        "listen takes at least 1 argument, got 0"
    );
    assert_eq!(
        check("location", &["=", "/a", "b"]),
        "location takes 1 or 2 arguments, got 3"
    );
    let server = lookup("server").unwrap();
    assert_eq!(
        server.check_block(false).unwrap_err().to_string(),
        "server must be followed by a { ... } block"
    );
    assert_eq!(server.check_block(true), Ok(()));
    let root = lookup("root").unwrap();
    assert_eq!(
        root.check_block(true).unwrap_err().to_string(),
        "root does not take a { ... } block"
    );
}

#[test]
fn flags() {
    assert_eq!(check("passenger_enabled", &["on"]), "ok");
    assert_eq!(check("passenger_enabled", &["OFF"]), "ok");
    assert_eq!(
        check("passenger_enabled", &["yes"]),
        "passenger_enabled expects on or off, got \"yes\""
    );
}

#[test]
fn integers() {
    assert_eq!(check("passenger_max_pool_size", &["12"]), "ok");
    assert_eq!(
        check("passenger_max_pool_size", &["abc"]),
        "passenger_max_pool_size expects an integer ≥ 1, got \"abc\""
    );
    assert_eq!(
        check("passenger_max_pool_size", &["0"]),
        "passenger_max_pool_size expects an integer ≥ 1, got \"0\""
    );
    assert_eq!(check("passenger_min_instances", &["0"]), "ok");
    for bad in ["-1", "+1", " 1", "1.5", "", "99999999999999999999999"] {
        assert_ne!(check("passenger_min_instances", &[bad]), "ok", "{bad:?}");
    }
    assert_eq!(check("passenger_log_level", &["7"]), "ok");
    assert_eq!(
        check("passenger_log_level", &["8"]),
        "passenger_log_level expects an integer from 0 to 7, got \"8\""
    );
}

#[test]
fn seconds() {
    assert_eq!(check("passenger_pool_idle_time", &["0"]), "ok");
    assert_eq!(check("passenger_start_timeout", &["90"]), "ok");
    assert_eq!(
        check("passenger_start_timeout", &["0"]),
        "passenger_start_timeout expects a number of seconds (an integer ≥ 1), got \"0\""
    );
    assert_eq!(
        check("passenger_max_request_time", &["5m"]),
        "passenger_max_request_time expects a number of seconds (an integer ≥ 0), got \"5m\""
    );
}

#[test]
fn sizes() {
    for good in ["0", "1024", "64k", "10M", "1g"] {
        assert_eq!(check("client_max_body_size", &[good]), "ok", "{good}");
    }
    assert_eq!(
        check("client_max_body_size", &["10mb"]),
        "client_max_body_size expects a size such as 1024, 64k, 10m or 1g, got \"10mb\""
    );
    assert_ne!(check("client_max_body_size", &["m"]), "ok");
}

#[test]
fn strings_paths_and_uris() {
    assert_eq!(check("passenger_user", &["app"]), "ok");
    assert_eq!(
        check("passenger_user", &[""]),
        "passenger_user expects a non-empty value, got \"\""
    );
    assert_eq!(check("passenger_app_root", &["/srv/app"]), "ok");
    assert_eq!(
        check("passenger_app_root", &[""]),
        "passenger_app_root expects a path, got \"\""
    );
    assert_eq!(check("passenger_base_uri", &["/blog"]), "ok");
    assert_eq!(
        check("passenger_base_uri", &["blog"]),
        "passenger_base_uri expects a URI path starting with /, such as /blog, got \"blog\""
    );
}

#[test]
fn pre_start_urls() {
    assert_eq!(
        check("passenger_pre_start", &["http://foo.com:3500/"]),
        "ok"
    );
    assert_eq!(check("passenger_pre_start", &["/status"]), "ok");
    assert_eq!(
        check("passenger_pre_start", &["ftp://foo.com/"]),
        "passenger_pre_start expects an http:// URL or a path starting with /, \
         got \"ftp://foo.com/\""
    );
    assert!(check("passenger_pre_start", &["https://foo.com/"]).contains("https is not supported"));
}

#[test]
fn status_codes() {
    assert_eq!(
        check("passenger_request_queue_overflow_status_code", &["429"]),
        "ok"
    );
    for bad in ["99", "600", "5O3", "0503"] {
        assert_eq!(
            check("passenger_request_queue_overflow_status_code", &[bad]),
            format!(
                "passenger_request_queue_overflow_status_code expects an HTTP status code \
                 from 100 to 599, got {bad:?}"
            )
        );
    }
}

#[test]
fn choices() {
    assert_eq!(check("passenger_spawn_method", &["direct"]), "ok");
    assert_eq!(
        check("passenger_spawn_method", &["conservative"]),
        "passenger_spawn_method expects smart or direct, got \"conservative\""
    );
    assert_eq!(check("passenger_app_type", &["rack"]), "ok");
    assert_eq!(
        check("passenger_app_type", &["meteor"]),
        "passenger_app_type expects one of rack, wsgi, node, ruby, python, nodejs, generic \
         or asgi, got \"meteor\""
    );
}

#[test]
fn headers() {
    assert_eq!(check("passenger_pass_header", &["X-Accel-Redirect"]), "ok");
    assert_eq!(
        check("passenger_pass_header", &["X Accel"]),
        "passenger_pass_header expects an HTTP header name such as X-Accel-Redirect, \
         got \"X Accel\""
    );
    assert_eq!(
        check(
            "passenger_ignore_headers",
            &["set-cookie", "X-Accel-Expires"]
        ),
        "ok"
    );
    assert_eq!(
        check("passenger_ignore_headers", &["Vary", "X-Custom"]),
        "passenger_ignore_headers expects one of X-Accel-Redirect, X-Accel-Expires, \
         X-Accel-Limit-Rate, X-Accel-Buffering, X-Accel-Charset, Expires, Cache-Control, \
         Set-Cookie or Vary, got \"X-Custom\""
    );
}

#[test]
fn name_value_pairs() {
    assert_eq!(check("passenger_env_var", &["DB_URL", ""]), "ok");
    assert_eq!(
        check("passenger_env_var", &["A=B", "c"]),
        "passenger_env_var expects an environment variable name without = or NUL, \
         got \"A=B\""
    );
    assert_eq!(
        check(
            "passenger_set_cgi_param",
            &["HTTP_X_FORWARDED_FOR", "127.0.0.2"]
        ),
        "ok"
    );
    assert_eq!(
        check("passenger_set_cgi_param", &["X-Forwarded-For", "127.0.0.2"]),
        "passenger_set_cgi_param expects a CGI variable name of letters, digits and _, \
         such as HTTP_X_FORWARDED_FOR, got \"X-Forwarded-For\"; write header variables \
         in CGI form: HTTP_X_FORWARDED_FOR, not X-Forwarded-For"
    );
}

#[test]
fn cookies() {
    assert_eq!(
        check("passenger_sticky_sessions_cookie_name", &["route"]),
        "ok"
    );
    assert_eq!(
        check("passenger_sticky_sessions_cookie_name", &["a b"]),
        "passenger_sticky_sessions_cookie_name expects a cookie name of letters, digits \
         and !#$%&'*+-.^_`|~, got \"a b\""
    );
    assert_eq!(
        check(
            "passenger_sticky_sessions_cookie_attributes",
            &["SameSite=Strict;"]
        ),
        "ok"
    );
    assert_eq!(
        check("passenger_sticky_sessions_cookie_attributes", &["a\r\nb"]),
        "passenger_sticky_sessions_cookie_attributes expects cookie attributes in \
         printable ASCII, such as \"SameSite=Lax; Secure;\", got \"a\\r\\nb\""
    );
}

#[test]
fn hooks() {
    assert_eq!(
        check(
            "passenger_ctl",
            &["hook_attached_process", "/home/phusion/attached.sh"]
        ),
        "ok"
    );
    assert_eq!(
        check("passenger_ctl", &["max_pool_size", "3"]),
        "passenger_ctl expects hook_NAME (NAME of letters, digits, _ and -) followed by a \
         command, got \"max_pool_size\"; Ferry's passenger_ctl only sets hooks \
         (seed 000 §11.9)"
    );
    assert_ne!(check("passenger_ctl", &["hook_", "x"]), "ok");
    assert_eq!(
        check("passenger_ctl", &["hook_spawn_failed", " "]),
        "passenger_ctl expects a command, got \" \""
    );
}

#[test]
fn listen() {
    for good in [
        &["80"][..],
        &["127.0.0.1:8080", "default_server"],
        &["[::]:80", "ipv6only=on"],
        &["[::1]"],
        &["*:3000"],
        &["localhost:0"],
        &["unix:/run/ferry.sock", "backlog=1024"],
    ] {
        assert_eq!(check("listen", good), "ok", "{good:?}");
    }
    for bad in ["", "70000", "[::1", "[nope]:80", "host:", "unix:", "a/b:80"] {
        assert_eq!(
            check("listen", &[bad]),
            format!("listen expects {LISTEN_ADDRESS}, got {bad:?}")
        );
    }
    // Issue 19, TLS:
    assert_eq!(check("listen", &["443", "ssl"]), "ok");
    assert_eq!(check("listen", &["80", "http2"]), "ok");
    assert_eq!(
        check("listen", &["80", "http3"]),
        format!(
            "listen expects {LISTEN_PARAMETER}, got \"http3\"; Ferry does not support \
             this listen parameter"
        )
    );
    assert_eq!(
        check("listen", &["80", "backlog="]),
        format!("listen expects {LISTEN_PARAMETER}, got \"backlog=\"")
    );
}

#[test]
fn server_names() {
    assert_eq!(
        check(
            "server_name",
            &[
                "example.com",
                "*.example.com",
                "www.example.*",
                ".example.org",
                "~^a(b)$",
                "",
                "_"
            ]
        ),
        "ok"
    );
    for bad in ["a*.example.com", "*.example.*", "ex ample.com", "~"] {
        assert_eq!(
            check("server_name", &["ok.com", bad]),
            format!("server_name expects {SERVER_NAME}, got {bad:?}")
        );
    }
}

#[test]
fn locations() {
    for good in [
        &["/"][..],
        &["=", "/"],
        &["~*", "\\.png$"],
        &["^~", "/img/"],
        &["@app"],
        &["=/exact"],
    ] {
        assert_eq!(check("location", good), "ok", "{good:?}");
    }
    assert_eq!(
        check("location", &["~"]),
        "location expects a URI after the modifier, got \"~\""
    );
    assert_eq!(
        check("location", &["/a", "/b"]),
        "location expects a modifier (=, ~, ~* or ^~) before the URI, got \"/a\""
    );
}

#[test]
fn error_pages() {
    for good in [
        &["404", "/404.html"][..],
        &["500", "502", "503", "504", "/50x.html"],
        &["404", "=200", "/empty.gif"],
        &["404", "=", "/fallback"],
        &["503", "@maintenance"],
    ] {
        assert_eq!(check("error_page", good), "ok", "{good:?}");
    }
    assert_eq!(
        check("error_page", &["200", "/x"]),
        "error_page expects a status code from 300 to 599, got \"200\""
    );
    assert_eq!(
        check("error_page", &["404", "=abc", "/x"]),
        "error_page expects = or =CODE with a status code from 100 to 599, got \"=abc\""
    );
    assert_eq!(
        check("error_page", &["=200", "/x"]),
        "error_page expects a status code from 300 to 599, got \"=200\""
    );
    assert_eq!(
        check("error_page", &["404", ""]),
        "error_page expects a URI, got \"\""
    );
}

#[test]
fn disable_symlinks_takes_a_mode_and_an_optional_from() {
    for good in [
        &["off"][..],
        &["on"],
        &["if_not_owner"],
        &["on", "from=/srv/www"],
        &["if_not_owner", "from=$document_root"],
        &["from=$document_root", "on"],
    ] {
        assert_eq!(check("disable_symlinks", good), "ok", "{good:?}");
    }
    let modes = "off, on or if_not_owner, then optionally from=PATH (absolute) or \
                 from=$document_root";
    assert_eq!(
        check("disable_symlinks", &["yes"]),
        format!("disable_symlinks expects {modes}, got \"yes\"")
    );
    assert_eq!(
        check("disable_symlinks", &["from=/srv"]),
        format!("disable_symlinks expects {modes}, got \"from=/srv\"")
    );
    assert_eq!(
        check("disable_symlinks", &["off", "from=/srv"]),
        "disable_symlinks expects on or if_not_owner, got \"off\"; from= cannot be used with off"
    );
    assert_eq!(
        check("disable_symlinks", &["on", "from=srv"]),
        "disable_symlinks expects from=PATH (absolute) or from=$document_root, got \"from=srv\""
    );
    assert_eq!(
        check("disable_symlinks", &["on", "if_not_owner"]),
        "disable_symlinks expects one mode at most, got \"if_not_owner\""
    );
    assert_eq!(
        check("disable_symlinks", &["on", "from=/a", "from=/b"]),
        "disable_symlinks takes 1 or 2 arguments, got 3"
    );
    let spec = lookup("disable_symlinks").unwrap();
    assert_eq!(spec.role, Role::Core);
    assert_eq!(spec.inherit, Inherit::Yes);
    assert_eq!(spec.contexts, &[Http, Server, Location]);
    assert_eq!(
        spec.default,
        Some(defaults::DISABLE_SYMLINKS_AS_ROOT.name()),
        "the root case, with a note for the rest"
    );
    assert_eq!(
        spec.default_note,
        Some("if_not_owner as root, off otherwise")
    );
}

#[test]
fn logs() {
    assert_eq!(
        check(
            "access_log",
            &["/var/log/app.log", "combined", "buffer=32k"]
        ),
        "ok"
    );
    assert_eq!(check("access_log", &["off"]), "ok");
    assert_eq!(
        check("access_log", &["off", "combined"]),
        "access_log expects nothing after off, got \"combined\""
    );
    assert_eq!(check("error_log", &["/var/log/error.log", "warn"]), "ok");
    assert_eq!(
        check("error_log", &["/var/log/error.log", "loud"]),
        "error_log expects a log level: debug, info, notice, warn, error, crit, alert or \
         emerg, got \"loud\""
    );
}

#[test]
fn arity_reads_as_a_phrase() {
    assert_eq!(Arity::Exactly(0).to_string(), "no arguments");
    assert_eq!(Arity::Exactly(2).to_string(), "exactly 2 arguments");
    assert_eq!(Arity::AtLeast(0).to_string(), "any number of arguments");
    assert_eq!(Arity::AtLeast(2).to_string(), "at least 2 arguments");
    assert_eq!(Arity::Range(1, 3).to_string(), "1 to 3 arguments");
    assert!(Arity::Range(1, 3).allows(3) && !Arity::Range(1, 3).allows(0));
}

#[test]
fn numeric_defaults_are_written_out_in_decimal() {
    assert_eq!(decimal!(0), "0");
    assert_eq!(decimal!(7_u8), "7");
    assert_eq!(decimal!(10_usize), "10");
    assert_eq!(decimal!(503_u16), "503");
    assert_eq!(decimal!(u64::MAX), "18446744073709551615");
    let default = |name| lookup(name).and_then(|s| s.default);
    assert_eq!(
        default("passenger_max_pool_size"),
        Some(defaults::MAX_POOL_SIZE.to_string().as_str())
    );
    assert_eq!(default("passenger_user_switching"), Some("on"));
    assert_eq!(default("passenger_spawn_method"), Some("smart"));
}

// Issue 16, request side:

#[test]
fn request_body_directives_are_implemented() {
    for good in ["60", "60s", "1m30s", "500ms", "0"] {
        assert_eq!(check("client_body_timeout", &[good]), "ok", "{good}");
    }
    assert_eq!(
        check("client_body_timeout", &["10x"]),
        "client_body_timeout expects a time such as 60, 60s, 1m or 500ms, got \"10x\""
    );
    assert_eq!(check("client_body_buffer_size", &["64k"]), "ok");
    assert_ne!(check("client_body_buffer_size", &["64kb"]), "ok");
    assert_eq!(check("client_body_temp_path", &["/tmp/b", "1", "2"]), "ok");
    assert_eq!(check("passenger_request_buffering", &["off"]), "ok");
    for name in [
        "client_body_timeout",
        "client_body_buffer_size",
        "client_body_temp_path",
    ] {
        let spec = lookup(name).unwrap();
        assert_eq!(spec.role, Role::Core, "{name}");
        assert_eq!(spec.contexts, HTTP_SERVER_LOCATION, "{name}");
    }
    let buffering = lookup("passenger_request_buffering").unwrap();
    assert_eq!(
        (buffering.contexts, buffering.default),
        (ALL_HTTP, Some("on"))
    );
    let abort = lookup("passenger_ignore_client_abort").unwrap();
    assert_eq!((abort.role, abort.default), (Role::Passenger, Some("off")));
    assert_eq!(lookup("client_body_timeout").unwrap().default, Some("60"));
    assert_eq!(
        lookup("client_body_buffer_size").unwrap().default,
        Some("16k")
    );
}

// Issue 16, response side:
#[test]
fn times_read_as_nginx_reads_them() {
    use std::time::Duration;
    for (text, millis) in [
        ("0", 0),
        ("60", 60_000),
        ("60s", 60_000),
        ("500ms", 500),
        ("3000ms", 3_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1m30s", 90_000),
        ("1h30", 3_630_000),
        ("2d", 172_800_000),
    ] {
        assert_eq!(
            crate::units::time(text),
            Some(Duration::from_millis(millis)),
            "{text}"
        );
        assert_eq!(check("passenger_read_timeout", &[text]), "ok", "{text}");
    }
    for bad in [
        "",
        "s",
        "1x",
        "30s1m",
        "1m1m",
        "-1",
        "1.5s",
        "99999999999999999999y",
    ] {
        assert_eq!(crate::units::time(bad), None, "{bad}");
    }
    assert_eq!(
        check("passenger_websocket_idle_timeout", &["soon"]),
        "passenger_websocket_idle_timeout expects a time such as 60, 60s, 1m or 500ms, got \
         \"soon\""
    );
    let spec = lookup("passenger_read_timeout").unwrap();
    assert_eq!(
        (spec.source, spec.contexts),
        (Source::Passenger6, HTTP_SERVER_LOCATION)
    );
    let spec = lookup("passenger_websocket_idle_timeout").unwrap();
    assert_eq!(spec.source, Source::Ferry);
    assert_eq!(
        spec.default,
        Some(defaults::WEBSOCKET_IDLE_TIMEOUT_SECS.to_string().as_str())
    );
    let buffer = lookup("passenger_buffer_response").unwrap();
    assert_eq!(
        (buffer.role, buffer.default),
        (Role::Passenger, Some("off"))
    );
}

// Issue 16, connection side:

#[test]
fn times_are_read_as_nginx_reads_them() {
    let ms = |v: &str| crate::units::time(v).map(|d| d.as_millis());
    assert_eq!(ms("60"), Some(60_000));
    assert_eq!(ms("60s"), Some(60_000));
    assert_eq!(ms("500ms"), Some(500));
    assert_eq!(ms("1m30s"), Some(90_000));
    assert_eq!(ms("2h"), Some(7_200_000));
    assert_eq!(ms("0"), Some(0));
    for bad in ["", "s", "1x", "1 s", "-1", "1.5s", "99999999999999999999"] {
        assert_eq!(ms(bad), None, "{bad:?}");
    }
    let spec = lookup("keepalive_timeout").unwrap();
    assert_eq!(spec.role, Role::Core);
    assert!(spec.check_args(&["75s", "60"]).is_ok());
    assert!(spec.check_args(&["forever"]).is_err());
    assert!(spec.check_args(&["1", "2", "3"]).is_err());
}

#[test]
fn large_client_header_buffers_takes_a_number_and_a_size() {
    assert_eq!(header_buffers(&["4", "8k"]).ok(), Some((4, 8192)));
    assert_eq!(header_buffers(&["1", "100"]).ok(), Some((1, 100)));
    for bad in [["0", "8k"], ["4", "0"], ["x", "8k"], ["4", "8q"]] {
        assert!(header_buffers(&bad).is_err(), "{bad:?}");
    }
    // The table writes nginx's default, which must be `defaults`' numbers.
    let default = lookup("large_client_header_buffers")
        .unwrap()
        .default
        .unwrap();
    let args: Vec<&str> = default.split_whitespace().collect();
    assert_eq!(
        header_buffers(&args).ok(),
        Some((
            defaults::LARGE_CLIENT_HEADER_BUFFERS,
            defaults::LARGE_CLIENT_HEADER_BUFFER_SIZE
        ))
    );
    let buffer = lookup("client_header_buffer_size")
        .unwrap()
        .default
        .unwrap();
    assert_eq!(
        crate::units::size(buffer),
        Some(defaults::CLIENT_HEADER_BUFFER_SIZE)
    );
}

#[test]
fn connection_directives_are_implemented_where_nginx_allows_them() {
    use crate::nginx::ast::Context::{Events, Http, Location, Server};
    let places = |name| lookup(name).unwrap().contexts.to_vec();
    assert_eq!(places("worker_connections"), [Events]);
    assert_eq!(places("client_header_timeout"), [Http, Server]);
    assert_eq!(places("keepalive_timeout"), [Http, Server, Location]);
    assert_eq!(places("send_timeout"), [Http, Server, Location]);
    assert_eq!(places("large_client_header_buffers"), [Http, Server]);
    assert_eq!(places("underscores_in_headers"), [Http, Server]);
    assert_eq!(places("ignore_invalid_headers"), [Http, Server]);
    assert!(matches!(
        lookup("client_header_buffer_size").unwrap().role,
        Role::NoEffect { .. }
    ));
}
