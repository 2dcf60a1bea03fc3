//! The CGI parameters of a request to an app (`passenger_set_cgi_param`), their `$variables`
//! expanded.

use ferry_config::deployment::{Files, PassengerRoute, Template, Var};
use http::{header, HeaderMap};

use crate::site::Site;

use super::locations::Found;
use super::names::host_header;
use super::request::RequestInfo;

/// What a variable may refer to: the request, its headers, the location found, the app's site.
struct Scope<'a> {
    info: &'a RequestInfo<'a>,
    headers: &'a HeaderMap,
    found: &'a Found<'a>,
    site: &'a Site,
}

/// The route's `passenger_set_cgi_param`s for this request, expanded.
pub(super) fn expand_cgi(
    passenger: &PassengerRoute,
    info: &RequestInfo<'_>,
    headers: &HeaderMap,
    found: &Found<'_>,
    site: &Site,
) -> Vec<(String, String)> {
    let scope = Scope {
        info,
        headers,
        found,
        site,
    };
    passenger
        .cgi_params
        .iter()
        .map(|(name, value)| (name.clone(), scope.expand(value)))
        .collect()
}

// === impl Scope ===

impl Scope<'_> {
    /// A `passenger_set_cgi_param` value for this request.
    fn expand(&self, value: &Template) -> String {
        value.expand(|var, out| self.push(var, out))
    }

    /// Appends the value of `var` to `out`.
    fn push(&self, var: &Var, out: &mut String) {
        let info = self.info;
        match var {
            Var::RequestMethod => out.push_str(info.method.as_str()),
            Var::Host => {
                let host = host_header(self.headers);
                out.push_str(if host.is_empty() { info.server } else { &host });
            }
            // Issue 19, TLS:
            Var::Scheme => out.push_str(if info.client.tls { "https" } else { "http" }),
            Var::RequestUri => out.push_str(&info.target),
            Var::Uri => out.push_str(&info.uri),
            Var::Args => out.push_str(self.query()),
            Var::IsArgs => {
                if info.target.contains('?') {
                    out.push('?');
                }
            }
            Var::ServerName => out.push_str(info.server),
            Var::ServerProtocol => out.push_str(match info.version {
                http::Version::HTTP_10 => "HTTP/1.0",
                // Issue 19, TLS:
                http::Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            }),
            Var::DocumentRoot => self.push_document_root(out),
            Var::ContentType => out.push_str(&self.header("content-type")),
            Var::ContentLength => out.push_str(&self.header("content-length")),
            Var::Http(name) => self.push_header(name, out),
            Var::Cookie(name) => out.push_str(self.cookie(name).as_deref().unwrap_or("")),
            Var::Arg(name) => out.push_str(self.arg(name).as_deref().unwrap_or("")),
            Var::Capture(n) => {
                if let Some(Some(text)) = self.found.captures.get(*n) {
                    out.push_str(text);
                }
            }
            Var::RemoteAddr | Var::RemotePort | Var::ServerAddr | Var::ServerPort => {
                self.push_address(var, out);
            }
        }
    }

    /// `$remote_addr`, `$remote_port`, `$server_addr`, `$server_port`: from the connection.
    fn push_address(&self, var: &Var, out: &mut String) {
        let client = self.info.client;
        let text = match var {
            Var::RemoteAddr => client.peer.map(|p| p.ip().to_string()),
            Var::RemotePort => client.peer.map(|p| p.port().to_string()),
            Var::ServerAddr => client.local.map(|l| l.ip().to_string()),
            Var::ServerPort => client.local.map(|l| l.port().to_string()),
            _ => None,
        };
        if let Some(text) = text {
            out.push_str(&text);
        }
    }

    /// `$document_root`: the app's public directory, else the route's `root`.
    fn push_document_root(&self, out: &mut String) {
        if let Some(dir) = &self.site.public_dir {
            out.push_str(&dir.display().to_string());
        } else if let Files::Root(root) = &self.found.route.config.files {
            out.push_str(&root.display().to_string());
        }
    }

    /// `$http_NAME`: every value of the header, joined by `, `.
    fn push_header(&self, name: &str, out: &mut String) {
        let name = name.replace('_', "-");
        let values: Vec<&str> = self
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        out.push_str(&values.join(", "));
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }

    /// The query string (`$args`).
    fn query(&self) -> &str {
        self.info.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// `$cookie_NAME`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_owned())
    }

    /// `$arg_NAME`.
    fn arg(&self, name: &str) -> Option<String> {
        self.query()
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_owned())
    }
}
