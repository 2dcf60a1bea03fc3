//! Issue 19, TLS: what each address speaks (`listen ... ssl`/`http2`, `http2 on`) and each
//! server's TLS settings, checked where they are written. The files themselves are read when
//! Ferry starts, by the front end.
//!
//! As in nginx, `ssl` and `http2` belong to an address: one server's `listen 443 ssl` makes
//! every server on `*:443` speak TLS, so each of them needs a certificate. `http2 on` in a
//! server offers HTTP/2 on each address it listens on.

use std::path::{Path, PathBuf};

use super::{flag, in_force, Planner};
use crate::deployment::{
    session_cache, tls12_suites, ListenAddress, ListenProtocols, ServerTls, TlsFile, TlsVersion,
};
use crate::nginx::ast::Span;
use crate::nginx::resolve::{ServerConfig, Settings};

/// What an address speaks.
pub(super) type Protocols = ListenProtocols;

// === impl Planner ===

impl Planner<'_> {
    /// What each address the servers listen on speaks, where it is more than cleartext
    /// HTTP/1.1.
    pub(super) fn listen_protocols(
        servers: &[ServerConfig],
    ) -> Vec<(ListenAddress, ListenProtocols)> {
        let mut out: Vec<(ListenAddress, ListenProtocols)> = Vec::new();
        for server in servers {
            let http2_on = flag(&server.settings, "http2");
            for listen in &server.listens {
                let index = match out.iter().position(|(a, _)| *a == listen.address) {
                    Some(index) => index,
                    None => {
                        out.push((listen.address.clone(), ListenProtocols::default()));
                        out.len() - 1
                    }
                };
                let protocols = &mut out[index].1;
                protocols.tls |= listen.ssl;
                protocols.http2 |= listen.http2 || http2_on;
            }
        }
        out.retain(|(_, p)| *p != ListenProtocols::default());
        out
    }

    /// A server's TLS settings, when it listens on an address that speaks TLS (`None`
    /// otherwise). Without `ssl_certificate` and `ssl_certificate_key` that is an error, as in
    /// nginx.
    pub(super) fn server_tls(
        &mut self,
        server: &ServerConfig,
        protocols: &[(ListenAddress, ListenProtocols)],
    ) -> Option<ServerTls> {
        let tls_listen = server.listens.iter().find(|l| {
            protocols
                .iter()
                .any(|(a, p)| *a == l.address && p.tls)
        })?;
        let settings = &server.settings;
        let certificate = tls_file(settings, "ssl_certificate");
        let key = tls_file(settings, "ssl_certificate_key");
        let (Some(certificate), Some(key)) = (certificate, key) else {
            self.error(
                &tls_listen.span,
                format!(
                    "no ssl_certificate and ssl_certificate_key for the TLS address {} (every \
                     server on an address that says ssl needs both)",
                    tls_listen.address
                ),
            );
            return None;
        };
        let mut tls = ServerTls::new(certificate, key);
        tls.versions = versions(settings);
        tls.prefer_server_ciphers = flag(settings, "ssl_prefer_server_ciphers");
        tls.session_tickets = flag(settings, "ssl_session_tickets");
        let ciphers = in_force(settings, "ssl_ciphers").unwrap_or_default();
        match tls12_suites(ciphers) {
            Ok(suites) => tls.tls12_suites = suites,
            Err(why) => self.error(
                span_of(settings, "ssl_ciphers", &server.span),
                format!("ssl_ciphers {ciphers}: {why}"),
            ),
        }
        if let Some(setting) = settings.get("ssl_session_cache") {
            let args = setting.entries().first().map(|e| e.args.clone());
            match session_cache(&args.unwrap_or_default()) {
                Ok(n) => tls.session_cache = n,
                Err(why) => self.error(
                    span_of(settings, "ssl_session_cache", &server.span),
                    format!("ssl_session_cache: {why}"),
                ),
            }
        }
        Some(tls)
    }
}

/// `name`'s file, relative paths taken from the directory of the file that names it (nginx takes
/// them from its prefix, which Ferry does not have).
fn tls_file(settings: &Settings, name: &str) -> Option<TlsFile> {
    let setting = settings.get(name)?;
    let span = setting.span()?;
    let written = PathBuf::from(setting.value()?);
    let path = if written.is_absolute() {
        written
    } else {
        span.file
            .parent()
            .unwrap_or(Path::new("."))
            .join(written)
    };
    Some(TlsFile {
        path: std::path::absolute(&path).unwrap_or(path),
        origin: span.to_string(),
    })
}

/// `ssl_protocols` in force (the table has checked each word).
fn versions(settings: &Settings) -> Vec<TlsVersion> {
    let words: Vec<String> = match settings.get("ssl_protocols") {
        Some(s) => s
            .entries()
            .first()
            .map(|e| e.args.clone())
            .unwrap_or_default(),
        None => in_force(settings, "ssl_protocols")
            .unwrap_or_default()
            .split(' ')
            .map(str::to_owned)
            .collect(),
    };
    let mut versions: Vec<TlsVersion> = words
        .iter()
        .filter_map(|w| match w.as_str() {
            "TLSv1.2" => Some(TlsVersion::Tls12),
            "TLSv1.3" => Some(TlsVersion::Tls13),
            _ => None,
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// Where `name` was written, else `fallback`.
fn span_of<'a>(settings: &'a Settings, name: &str, fallback: &'a Span) -> &'a Span {
    settings
        .get(name)
        .and_then(|s| s.span())
        .unwrap_or(fallback)
}
