//! What `ferry config show` prints: per server and location, each setting in force with the line
//! that set it (or `# default`, the directive table's default), indented by nesting:
//!
//! ```text
//! http
//!   passenger_max_pool_size 6    # default
//! server www.example.com on *:80    # nginx.conf:3
//!   root /srv/app/public    # nginx.conf:6
//!   location ~ ^/sub(/.*|$)    # nginx.conf:8
//!     passenger_enabled on    # nginx.conf:9
//! ```
//!
//! The `http` block lists only what no server or location may set (pool size, pre-starts,
//! hooks, ...); everything else is listed, inherited, in each server and location.

use std::fmt::Write as _;

use super::ast::Context;
use super::directives;
use super::resolve::{LocationConfig, Origin, ResolvedConfig, Settings};

/// The text `ferry config show` prints for `config`.
pub fn show(config: &ResolvedConfig) -> String {
    let mut out = String::from("http\n");
    settings(&mut out, &config.http, Context::Http, 1);
    for server in &config.servers {
        let names = if server.names.is_empty() {
            "\"\"".to_owned()
        } else {
            join(server.names.iter().map(ToString::to_string), " ")
        };
        let listens = if server.listens.is_empty() {
            "*:80".to_owned()
        } else {
            join(server.listens.iter().map(ToString::to_string), ", ")
        };
        let _ = writeln!(out, "server {names} on {listens}    # {}", server.span);
        settings(&mut out, &server.settings, Context::Server, 1);
        locations(&mut out, &server.locations, 1);
    }
    out
}

fn locations(out: &mut String, locations: &[LocationConfig], depth: usize) {
    for location in locations {
        let indent = "  ".repeat(depth);
        let _ = writeln!(
            out,
            "{indent}location {}    # {}",
            location.matcher, location.span
        );
        settings(out, &location.settings, Context::Location, depth + 1);
        self::locations(out, &location.locations, depth + 1);
    }
}

fn settings(out: &mut String, settings: &Settings, context: Context, depth: usize) {
    let indent = "  ".repeat(depth);
    let http_only = |name: &str| {
        directives::lookup(name)
            .is_some_and(|s| !s.allows(Context::Server) && !s.allows(Context::Location))
    };
    for setting in settings.effective(context) {
        if context == Context::Http && !http_only(setting.name) {
            continue;
        }
        let value = join(setting.args.iter().map(|a| quote(a)), " ");
        let note = directives::lookup(setting.name).and_then(|s| s.default_note);
        let origin = match (setting.origin, note) {
            (Origin::Written(span), _) => span.to_string(),
            (Origin::Default, None) => "default".to_owned(),
            (Origin::Default, Some(note)) => format!("default ({note})"),
        };
        let _ = writeln!(out, "{indent}{} {value}    # {origin}", setting.name);
    }
}

fn join(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

/// An argument as it would be written in a file: quoted when it has to be.
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"' | '\''));
    if plain {
        arg.to_owned()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::{parse_str, resolve};

    #[test]
    fn each_setting_shows_the_line_that_set_it_or_default() {
        let text = "http {
  passenger_max_pool_size 12;
  server {
    listen 8080;
    location /a {
      passenger_env_var K \"two words\";
    }
  }
}
";
        let tree = parse_str(text, "t.conf").unwrap();
        let shown = show(&resolve(&tree).unwrap());
        let lines: Vec<&str> = shown.lines().collect();
        let position = |line: &str| {
            lines
                .iter()
                .position(|l| *l == line)
                .unwrap_or_else(|| panic!("no line {line:?} in\n{shown}"))
        };
        assert_eq!(position("http"), 0);
        let pool = position("  passenger_max_pool_size 12    # t.conf:2");
        let log_level = position("  passenger_log_level 3    # default");
        let server = position("server \"\" on *:8080    # t.conf:3");
        let location = position("  location /a    # t.conf:5");
        let env_var = position("    passenger_env_var K \"two words\"    # t.conf:6");
        assert!(pool < server && log_level < server && server < location && location < env_var);
        // A default that depends on how Ferry runs says so.
        assert!(
            lines[server..].contains(
                &"  disable_symlinks if_not_owner    # default (if_not_owner as root, off otherwise)"
            ),
            "{shown}"
        );
        // The http block lists only what servers and locations cannot set.
        assert!(!lines[..server].iter().any(|l| l.contains("passenger_ruby")));
        assert!(lines[server..].iter().any(|l| l.contains("passenger_ruby")));
    }
}
