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
        let tls_listen = server
            .listens
            .iter()
            .find(|l| protocols.iter().any(|(a, p)| *a == l.address && p.tls))?;
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
        span.file.parent().unwrap_or(Path::new(".")).join(written)
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

#[cfg(test)]
mod tests {
    use crate::deployment::{Deployment, ListenAddress, ListenProtocols, TlsVersion};

    fn plan(text: &str) -> Result<Deployment, String> {
        Deployment::from_nginx_str(text, "/etc/ferry/t.conf").map_err(|e| e.to_string())
    }

    fn tcp(port: u16) -> ListenAddress {
        ListenAddress::Tcp {
            host: "*".into(),
            port,
        }
    }

    #[test]
    fn ssl_and_http2_belong_to_the_address_and_settings_to_the_server() {
        let deployment = plan(
            "http {\n  ssl_certificate /c/http.pem;\n  ssl_certificate_key k.pem;\n  \
             server {\n    listen 443 ssl;\n    listen 80;\n    server_name a.test;\n    \
             http2 on;\n    ssl_protocols TLSv1.3;\n    ssl_prefer_server_ciphers on;\n  }\n  \
             server {\n    listen 443;\n    server_name b.test;\n    \
             ssl_session_cache shared:SSL:1m;\n    ssl_session_tickets off;\n  }\n  \
             server {\n    listen 8080 http2;\n  }\n}\n",
        )
        .unwrap();
        let both = ListenProtocols {
            tls: true,
            http2: true,
        };
        assert_eq!(deployment.protocols(&tcp(443)), both);
        assert_eq!(
            deployment.protocols(&tcp(80)),
            ListenProtocols {
                tls: false,
                http2: true
            }
        );
        assert!(deployment.protocols(&tcp(8080)).http2);
        let a = deployment.servers[0].tls.as_ref().unwrap();
        assert_eq!(a.certificate.path, std::path::Path::new("/c/http.pem"));
        assert_eq!(a.certificate.origin, "/etc/ferry/t.conf:2");
        assert_eq!(a.key.path, std::path::Path::new("/etc/ferry/k.pem"));
        assert_eq!(a.versions, [TlsVersion::Tls13]);
        assert!(a.prefer_server_ciphers && a.session_tickets);
        let b = deployment.servers[1].tls.as_ref().unwrap();
        assert_eq!(b.versions, [TlsVersion::Tls12, TlsVersion::Tls13]);
        assert_eq!((b.session_cache, b.session_tickets), (4000, false));
        assert!(deployment.servers[2].tls.is_none());
    }

    #[test]
    fn a_tls_server_without_a_certificate_or_with_a_cipher_rustls_lacks_is_an_error() {
        let error = plan("http {\n  server {\n    listen 443 ssl;\n  }\n}\n").unwrap_err();
        assert!(
            error.contains("t.conf:3: no ssl_certificate and ssl_certificate_key"),
            "{error}"
        );
        let error = plan(
            "http {\n  server {\n    listen 443 ssl;\n    ssl_certificate c;\n    \
             ssl_certificate_key k;\n    ssl_ciphers DHE-RSA-AES128-SHA;\n  }\n}\n",
        )
        .unwrap_err();
        assert!(error.contains("t.conf:6: ssl_ciphers"), "{error}");
        assert!(error.contains("DHE-RSA-AES128-SHA"), "{error}");
    }
}
