//! Finding the virtual server: by the socket the request came on and the local address, then by
//! `Host` in the address's name table, in Nginx's order (exact name, longest leading wildcard,
//! longest trailing wildcard, first matching regex, default server).

use std::collections::HashMap;
use std::net::SocketAddr;

use ferry_config::deployment::{
    Deployment, ListenAddress, ListenProtocols, ServerName, VirtualServer,
};
use http::{header, HeaderMap, Request};
use regex::Regex;

/// The servers reachable through one bound socket: by the exact local address (a server that
/// listens on `127.0.0.1:80` while the socket is `*:80`), else the socket's own address.
pub(super) struct ListenerNames {
    /// By IP address (a `listen` host that is a name never equals a local address).
    specific: Vec<(std::net::IpAddr, NameTable)>,
    own: NameTable,
}

/// One listening address's servers by name, in Nginx's order: exact name, longest leading
/// wildcard, longest trailing wildcard, first matching regex, default server.
#[derive(Default)]
struct NameTable {
    exact: HashMap<String, usize>,
    leading: Vec<(String, usize)>,
    trailing: Vec<(String, usize)>,
    regex: Vec<(Regex, usize)>,
    default: usize,
}

// === impl ListenerNames ===

impl ListenerNames {
    /// The name tables of the socket bound to `socket`.
    pub(super) fn new(deployment: &Deployment, socket: &ListenAddress) -> ListenerNames {
        ListenerNames {
            specific: deployment
                .listens
                .iter()
                .filter(|a| *a != socket && serves(socket, a))
                .filter_map(|a| match a {
                    ListenAddress::Tcp { host, .. } => {
                        let ip = host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse()
                            .ok()?;
                        Some((ip, NameTable::new(&deployment.servers, a)))
                    }
                    ListenAddress::Unix(_) => None,
                })
                .collect(),
            own: NameTable::new(&deployment.servers, socket),
        }
    }

    /// find_server: the index of the server for a request to the local address `local` for
    /// `host` (lowercase, no port).
    pub(super) fn find_server(&self, local: Option<SocketAddr>, host: &str) -> usize {
        self.table(local).find(host)
    }

    /// The index of the default server of the local address `local` (issue 16: a connection
    /// takes its settings from it, as in nginx).
    pub(super) fn default_server(&self, local: Option<SocketAddr>) -> usize {
        self.table(local).default
    }

    /// The name table of the local address `local`.
    fn table(&self, local: Option<SocketAddr>) -> &NameTable {
        local
            .and_then(|addr| self.specific.iter().find(|(ip, _)| *ip == addr.ip()))
            .map_or(&self.own, |(_, table)| table)
    }
}

/// The sockets to bind for `listens`: each address once, except that a specific address on a
/// port where a wildcard (`*:PORT`, `[::]:PORT`) is also listened on is served by the
/// wildcard's socket, as Nginx does.
pub fn sockets(listens: &[ListenAddress]) -> Vec<ListenAddress> {
    let mut out: Vec<ListenAddress> = Vec::new();
    for address in listens {
        let covered = listens
            .iter()
            .any(|other| other != address && serves(other, address));
        if !covered && !out.contains(address) {
            out.push(address.clone());
        }
    }
    out
}

// Issue 19, TLS:
/// What socket `socket` speaks: what the addresses it receives connections for speak.
pub(super) fn protocols(deployment: &Deployment, socket: &ListenAddress) -> ListenProtocols {
    let mut out = ListenProtocols::default();
    for (address, protocols) in &deployment.listen_protocols {
        if address == socket || serves(socket, address) {
            out.tls |= protocols.tls;
            out.http2 |= protocols.http2;
        }
    }
    out
}

/// Whether a socket bound to `socket` receives connections for `address`.
fn serves(socket: &ListenAddress, address: &ListenAddress) -> bool {
    match (socket, address) {
        (
            ListenAddress::Tcp { host, port },
            ListenAddress::Tcp {
                host: other,
                port: other_port,
            },
        ) => {
            port == other_port
                && (host == other
                    || ((host == "*" || host == "::") && other != "*" && other != "::"))
        }
        (a, b) => a == b,
    }
}

// === impl NameTable ===

impl NameTable {
    fn new(servers: &[VirtualServer], address: &ListenAddress) -> NameTable {
        let mut table = NameTable::default();
        let mut default = None;
        let mut first = None;
        for (index, server) in servers.iter().enumerate() {
            let Some((_, is_default)) = server.listens.iter().find(|(a, _)| a == address) else {
                continue;
            };
            first.get_or_insert(index);
            if *is_default && default.is_none() {
                default = Some(index);
            }
            for name in &server.names {
                table.add(name, index);
            }
        }
        table
            .leading
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        table
            .trailing
            .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        table.default = default.or(first).unwrap_or(0);
        table
    }

    /// Files `name` of the server at `index` (the first server with a name keeps it).
    fn add(&mut self, name: &ServerName, index: usize) {
        match name {
            ServerName::Exact(n) => {
                self.exact.entry(n.clone()).or_insert(index);
            }
            ServerName::Domain(d) => {
                self.exact.entry(d.clone()).or_insert(index);
                self.leading.push((format!(".{d}"), index));
            }
            ServerName::LeadingWildcard(suffix) => self.leading.push((suffix.clone(), index)),
            ServerName::TrailingWildcard(prefix) => self.trailing.push((prefix.clone(), index)),
            ServerName::Regex(regex) => self.regex.push((regex.clone(), index)),
        }
    }

    /// The server for `host` (lowercase, no port).
    fn find(&self, host: &str) -> usize {
        if let Some(&index) = self.exact.get(host) {
            return index;
        }
        if let Some((_, index)) = self
            .leading
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
        {
            return *index;
        }
        if let Some((_, index)) = self
            .trailing
            .iter()
            .find(|(prefix, _)| host.len() > prefix.len() && host.starts_with(prefix.as_str()))
        {
            return *index;
        }
        if !host.is_empty() {
            if let Some((_, index)) = self.regex.iter().find(|(r, _)| r.is_match(host)) {
                return *index;
            }
        }
        self.default
    }
}

/// The request's host name: the URI's (absolute form), else `Host`'s, lowercased, without
/// its port or a trailing dot. Empty when there is none.
pub(super) fn host_of<B>(request: &Request<B>) -> String {
    match request.uri().host() {
        Some(host) => host.trim_end_matches('.').to_ascii_lowercase(),
        None => host_header(request.headers()),
    }
}

/// The `Host` header's name, lowercased, without its port or a trailing dot.
pub(super) fn host_header(headers: &HeaderMap) -> String {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return String::new();
    };
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}
