//! `ferry config check` and `ferry config show`, run as the real binary: a bad file gets every
//! error with its file and line and exit 64, and `show` prints inherited values with the line
//! that set them. The seed's examples are checked (and served) in `seed_examples.rs`.

use std::path::Path;
use std::process::{Command, Output};

const EX_USAGE: i32 = 64;

fn ferry_config(args: &[&str], file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("config")
        .args(args)
        .arg(file)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const BAD: &str = "\
worker_processes 4;
http {
    passenger_max_pool_size 0;
    server {
        listen 80;
        passenger_max_pool_size 4;
        passenger_enabled maybe;
        root /srv/a/public;
        root /srv/b/public;
        location ~ ^/(oops {
        }
        if ($host) {
        }
        include site.conf;
    }
}
";

#[test]
fn a_bad_file_gets_every_error_and_exit_64() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nginx.conf");
    std::fs::write(&file, BAD).unwrap();
    std::fs::write(dir.path().join("site.conf"), "\n\nbogus_directive on;\n").unwrap();
    let out = ferry_config(&["check"], &file);
    assert_eq!(out.status.code(), Some(EX_USAGE));
    assert_eq!(text(&out.stdout), "");
    let f = file.display();
    let site = dir.path().join("site.conf").display().to_string();
    let expected = [
        format!("{f}:3: passenger_max_pool_size expects an integer ≥ 1, got \"0\""),
        format!(
            "{f}:6: passenger_max_pool_size is only allowed in the http block (found in server)"
        ),
        format!("{f}:7: passenger_enabled expects on or off, got \"maybe\""),
        format!("{f}:9: duplicate root in this server block (first at {f}:8)"),
        format!("{f}:10: invalid regular expression \"^/(oops\" in location: unclosed group"),
        format!(
            "{f}:12: if: Ferry does not support if blocks (Nginx's own documentation calls them \
             error-prone); use separate server or location blocks instead"
        ),
        format!("{site}:3: unknown directive \"bogus_directive\""),
        format!(
            "{f}:1: warning: worker_processes is ignored: Ferry is one process and sizes its own \
             thread pool"
        ),
        format!("{f}: configuration is invalid (7 errors, 1 warning)"),
    ];
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected, "{stderr}");
    // `show` refuses the same file the same way.
    let out = ferry_config(&["show"], &file);
    assert_eq!(out.status.code(), Some(EX_USAGE));
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn show_prints_inherited_values_with_the_line_that_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nginx.conf");
    std::fs::write(
        &file,
        "http {
    passenger_max_pool_size 12;
    passenger_ruby /opt/ruby/bin/ruby;
    server {
        listen 127.0.0.1:8080 default_server;
        server_name www.example.com .example.org;
        root /srv/app/public;
        passenger_enabled on;
        rails_env staging;
        location /admin {
            passenger_enabled on;
            passenger_env_var SECRET \"two words\";
        }
    }
}
",
    )
    .unwrap();
    let out = ferry_config(&["show"], &file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let f = file.display();
    let lines: Vec<&str> = stdout.lines().collect();
    let position = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in\n{stdout}"))
    };
    let http = position("http");
    let pool = position(&format!("  passenger_max_pool_size 12    # {f}:2"));
    let server = position(&format!(
        "server www.example.com .example.org on 127.0.0.1:8080 default_server    # {f}:4"
    ));
    let server_ruby = position(&format!("  passenger_ruby /opt/ruby/bin/ruby    # {f}:3"));
    let location = position(&format!("  location /admin    # {f}:10"));
    // Inherited from http, through the server, into the location.
    let location_ruby = position(&format!("    passenger_ruby /opt/ruby/bin/ruby    # {f}:3"));
    let location_env = position(&format!("    passenger_app_env staging    # {f}:9"));
    let location_root = position(&format!("    root /srv/app/public    # {f}:7"));
    let location_enabled = position(&format!("    passenger_enabled on    # {f}:11"));
    let env_var = position(&format!(
        "    passenger_env_var SECRET \"two words\"    # {f}:12"
    ));
    let defaulted = position("    passenger_min_instances 1    # default");
    assert!(http < pool && pool < server && server < server_ruby && server_ruby < location);
    for line in [
        location_ruby,
        location_env,
        location_root,
        location_enabled,
        env_var,
        defaulted,
    ] {
        assert!(line > location, "{stdout}");
    }
}
