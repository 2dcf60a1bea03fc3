//! From checked blocks to [`ResolvedConfig`](super::ResolvedConfig)'s parts: inheritance,
//! servers, locations in search order, and the checks that look at more than one directive.

use std::collections::HashMap;

use super::super::ast::{Context, Span};
use super::super::directives::{self, Role};
use super::settings::Settings;
use super::walk::{Block, Child, Walker};
use super::{place, Listen, LocationConfig, ServerConfig};
use crate::deployment::{ListenAddress, ServerName};

/// The `http` settings and the servers.
pub(super) fn build(top: &Block, walker: &mut Walker) -> (Settings, Vec<ServerConfig>) {
    let main = Settings::default().inherit(&top.own, Context::Main);
    // Issue 16, connection side: the `events` block's settings (`worker_connections`) go with
    // the top level's, so the http settings carry them.
    let main = match top
        .children
        .iter()
        .find(|c| c.block.context == Context::Events)
    {
        Some(events) => main.inherit(&events.block.own, Context::Events),
        None => main,
    };
    // A second `http` block is already an error; the first one counts.
    let Some(http) = top
        .children
        .iter()
        .find(|c| c.block.context == Context::Http)
    else {
        return (main, Vec::new());
    };
    let settings = main.inherit(&http.block.own, Context::Http);
    let servers: Vec<ServerConfig> = http
        .block
        .children
        .iter()
        .map(|c| server(&settings, &c.block, walker))
        .collect();
    check_listens(&servers, walker);
    (settings, servers)
}

fn server(http: &Settings, block: &Block, walker: &mut Walker) -> ServerConfig {
    let settings = http.inherit(&block.own, Context::Server);
    let entries = |name| block.own.get(name).map_or(&[][..], |s| s.entries());
    let listens = entries("listen")
        .iter()
        .filter_map(|e| {
            Some(Listen {
                address: ListenAddress::parse(&e.args[0])?,
                default_server: e.args[1..]
                    .iter()
                    .any(|p| p == "default_server" || p == "default"),
                span: e.span.clone(),
                // Issue 19, TLS:
                ssl: e.args[1..].iter().any(|p| p == "ssl"),
                http2: e.args[1..].iter().any(|p| p == "http2"),
            })
        })
        .collect();
    let names = entries("server_name")
        .iter()
        .flat_map(|e| &e.args)
        .filter_map(|n| ServerName::parse(n).ok())
        .collect();
    check_app(&settings, block, None, walker);
    let locations = locations(&settings, &block.children, walker);
    ServerConfig {
        span: block.span.clone(),
        listens,
        names,
        settings,
        locations,
    }
}

/// The locations among `children`, inheriting from `parent`, in Nginx's search order.
fn locations(parent: &Settings, children: &[Child], walker: &mut Walker) -> Vec<LocationConfig> {
    let mut out: Vec<LocationConfig> = children
        .iter()
        .filter_map(|c| {
            let matcher = c.matcher.clone()?;
            let settings = parent.inherit(&c.block.own, Context::Location);
            check_location_enabled(&c.block, &settings, &matcher.to_string(), walker);
            check_app(&settings, &c.block, Some(&matcher.to_string()), walker);
            Some(LocationConfig {
                span: c.block.span.clone(),
                locations: locations(&settings, &c.block.children, walker),
                matcher,
                settings,
            })
        })
        .collect();
    // Stable: exact and regex locations keep their file order, prefixes go longest first.
    out.sort_by_key(|l| {
        let length = if l.matcher.is_prefix() {
            usize::MAX - l.matcher.pattern.len()
        } else {
            0
        };
        (l.matcher.modifier.rank(), length)
    });
    out
}

/// Seed 000 §8.2.1: a location starts with Passenger off. One that sets Passenger options
/// without `passenger_enabled on` most likely forgot it.
fn check_location_enabled(block: &Block, settings: &Settings, name: &str, walker: &mut Walker) {
    if settings.value("passenger_enabled").is_some_and(is_on) {
        return;
    }
    let passenger_option = block.own.iter().find(|(option, _)| {
        *option != "passenger_enabled"
            && directives::lookup(option).is_some_and(|s| s.role == Role::Passenger)
    });
    if let Some((option, _)) = passenger_option {
        walker.warn(
            &block.span,
            format!(
                "location \"{name}\" sets {option} but passenger_enabled is off in it: each \
                 location must say passenger_enabled on again (seed 000 §8.2.1)"
            ),
        );
    }
}

/// A place with Passenger on must say where the app is: `passenger_app_root`, or `root` (or
/// `alias`) whose parent is the app root. Reported at `passenger_enabled` when the block says
/// it itself, else at the block.
fn check_app(settings: &Settings, block: &Block, location: Option<&str>, walker: &mut Walker) {
    let Some(enabled) = settings.get("passenger_enabled") else {
        return;
    };
    let (Some(value), Some(at)) = (enabled.value(), enabled.span()) else {
        return;
    };
    let knows_app = ["passenger_app_root", "root", "alias"]
        .iter()
        .any(|name| settings.get(name).is_some());
    if !is_on(value) || knows_app {
        return;
    }
    let here = match location {
        Some(name) => format!("location \"{name}\""),
        None => format!("this {}", place(block.context)),
    };
    let own = block.own.get("passenger_enabled").is_some();
    let (span, enabled_at) = if own {
        (at, String::new())
    } else {
        (&block.span, format!(" (inherited from {at})"))
    };
    walker.error(
        span,
        format!(
            "passenger_enabled is on in {here}{enabled_at} but neither root nor \
             passenger_app_root is set, so there is no app to serve (the app root is the \
             parent of root)"
        ),
    );
}

fn is_on(value: &str) -> bool {
    value.eq_ignore_ascii_case("on")
}

/// Across servers: one `default_server` per address, the same address twice in one server,
/// and the same name on one address in two servers (a warning, as in Nginx).
fn check_listens(servers: &[ServerConfig], walker: &mut Walker) {
    let mut defaults: HashMap<&ListenAddress, &Span> = HashMap::new();
    let mut names: HashMap<(String, ListenAddress), &Span> = HashMap::new();
    for server in servers {
        let mut mine: HashMap<&ListenAddress, &Span> = HashMap::new();
        for listen in &server.listens {
            if let Some(first) = mine.insert(&listen.address, &listen.span) {
                walker.error(
                    &listen.span,
                    format!(
                        "duplicate listen {} in this server (first at {first})",
                        listen.address
                    ),
                );
                mine.insert(&listen.address, first);
            }
            if !listen.default_server {
                continue;
            }
            match defaults.get(&listen.address) {
                Some(first) => walker.error(
                    &listen.span,
                    format!(
                        "duplicate default_server for {} (the first is at {first})",
                        listen.address
                    ),
                ),
                None => {
                    defaults.insert(&listen.address, &listen.span);
                }
            }
        }
        let addresses: Vec<ListenAddress> = if server.listens.is_empty() {
            vec![ListenAddress::Tcp {
                host: "*".to_owned(),
                port: 80,
            }]
        } else {
            server.listens.iter().map(|l| l.address.clone()).collect()
        };
        for name in &server.names {
            for address in &addresses {
                let key = (name.key(), address.clone());
                match names.get(&key) {
                    Some(first) => walker.warn(
                        &server.span,
                        format!(
                            "conflicting server name \"{name}\" on {address} (also at {first}); \
                             the first server gets its requests"
                        ),
                    ),
                    None => {
                        names.insert(key, &server.span);
                    }
                }
            }
        }
    }
}
