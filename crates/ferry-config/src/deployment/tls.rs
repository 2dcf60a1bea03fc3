//! Issue 19, TLS: what a listening address speaks (TLS, HTTP/2) and a server's TLS settings, as
//! the runtime sees them. The certificate and key are paths: the front end reads them when it
//! starts (the process that needs a key reads it), and names the line each came from when one
//! cannot be used.
//!
//! `ssl_ciphers` is read here, from OpenSSL's cipher-list syntax to the TLS 1.2 suites rustls
//! has ([`TLS12_SUITES`]); TLS 1.3's suites are not chosen by `ssl_ciphers` (as in OpenSSL,
//! where `ssl_conf_command Ciphersuites` does it) and are always on.

use std::path::PathBuf;
use std::time::Duration;

/// What a listening address speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenProtocols {
    /// TLS (`listen ... ssl`, `ferry start --ssl`'s port).
    pub tls: bool,
    /// HTTP/2 as well as HTTP/1.1 (`listen ... http2`, `http2 on`): by ALPN over TLS, by the
    /// client's connection preface (prior knowledge) in cleartext.
    pub http2: bool,
}

/// A TLS protocol version Ferry speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// TLS 1.2 (`TLSv1.2`).
    Tls12,
    /// TLS 1.3 (`TLSv1.3`).
    Tls13,
}

/// A file the TLS settings name, with where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The file.
    pub path: PathBuf,
    /// Where it was named (`FILE:LINE`, or `--ssl-certificate`), for errors.
    pub origin: String,
}

/// A server's TLS settings: its certificate and key (chosen by SNI), and, for the server that is
/// the default one of a TLS address, how every handshake on that address goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The certificate chain, leaf first (`ssl_certificate`, PEM).
    pub certificate: TlsFile,
    /// Its private key (`ssl_certificate_key`, PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: TlsFile,
    /// The versions spoken (`ssl_protocols`).
    pub versions: Vec<TlsVersion>,
    /// The TLS 1.2 suites offered, by IANA name, in preference order (`ssl_ciphers`); TLS 1.3's
    /// are always on.
    pub tls12_suites: Vec<&'static str>,
    /// The server's order of suites wins over the client's (`ssl_prefer_server_ciphers`).
    pub prefer_server_ciphers: bool,
    /// Sessions kept for resumption by id (`ssl_session_cache`); 0: none.
    pub session_cache: usize,
    /// Session tickets for resumption (`ssl_session_tickets`).
    pub session_tickets: bool,
}

/// The TLS 1.2 suites rustls (ring provider) has: IANA name, then OpenSSL's name.
pub const TLS12_SUITES: &[(&str, &str)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// OpenSSL cipher classes none of rustls' suites belongs to: excluding them (`!aNULL`) changes
/// nothing, and naming them positively selects nothing.
const ABSENT_CLASSES: &[&str] = &[
    "aNULL", "eNULL", "NULL", "MD5", "RC4", "DES", "3DES", "EXP", "EXPORT", "LOW", "MEDIUM", "PSK",
    "SRP", "DSS", "CAMELLIA", "SEED", "IDEA", "ADH", "AECDH", "SHA1", "SHA", "DH", "EDH", "DHE",
    "kDHE", "kEDH", "CBC", "aPSK", "kRSA", "CCM", "ARIA",
];

/// The OpenSSL classes a suite (by OpenSSL name) belongs to.
fn classes(openssl: &str) -> Vec<&'static str> {
    let mut out = vec![
        "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "kECDHE", "kEECDH", "TLSv1.2", "AEAD",
    ];
    if openssl.contains("ECDSA") {
        out.extend(["aECDSA", "ECDSA"]);
    } else {
        out.extend(["aRSA", "RSA"]);
    }
    if openssl.contains("GCM") {
        out.extend(["AESGCM", "AES"]);
    }
    if openssl.contains("AES128") {
        out.extend(["AES128"]);
    }
    if openssl.contains("AES256") {
        out.extend(["AES256"]);
    }
    if openssl.contains("CHACHA20") {
        out.extend(["CHACHA20"]);
    }
    out.push(if openssl.ends_with("SHA384") {
        "SHA384"
    } else {
        "SHA256"
    });
    out
}

/// Whether suite `openssl` matches one term of a cipher list: a name, a class, or classes joined
/// by `+` (all of them).
fn matches(openssl: &str, term: &str) -> bool {
    let own = classes(openssl);
    term == openssl || term.split('+').all(|class| own.contains(&class))
}

/// Whether `term` (a class or `+` combination) is one OpenSSL knows and rustls has nothing of.
fn absent(term: &str) -> bool {
    term.split('+').any(|class| ABSENT_CLASSES.contains(&class))
}

/// Reads an OpenSSL cipher list (`ssl_ciphers`, nginx's default `HIGH:!aNULL:!MD5`) into the
/// TLS 1.2 suites rustls has, by IANA name, in the list's order.
///
/// # Errors
///
/// A term that names no suite or class rustls has, or a list that leaves no suite.
pub fn tls12_suites(list: &str) -> Result<Vec<&'static str>, String> {
    let mut chosen: Vec<&'static (&'static str, &'static str)> = Vec::new();
    let mut removed: Vec<&'static str> = Vec::new();
    for term in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        if term.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=N: orderings and levels, not suites.
        }
        let (exclude, name) = match term.as_bytes()[0] {
            b'!' | b'-' => (true, &term[1..]),
            b'+' => continue, // Moves suites to the end: the order is the list's anyway.
            _ => (false, term),
        };
        let found: Vec<_> = TLS12_SUITES
            .iter()
            .filter(|(_, openssl)| matches(openssl, name))
            .collect();
        if found.is_empty() && !absent(name) {
            let names: Vec<&str> = TLS12_SUITES.iter().map(|(_, o)| *o).collect();
            return Err(format!(
                "{name:?} is no cipher or class rustls has (its TLS 1.2 suites: {}; weak classes \
                 such as !aNULL or !MD5 may be excluded)",
                names.join(", ")
            ));
        }
        for suite in found {
            if exclude {
                removed.push(suite.0);
            } else if !chosen.contains(&suite) {
                chosen.push(suite);
            }
        }
    }
    let suites: Vec<&'static str> = chosen
        .into_iter()
        .map(|(iana, _)| *iana)
        .filter(|iana| !removed.contains(iana))
        .collect();
    if suites.is_empty() {
        return Err("the list leaves no TLS 1.2 cipher suite rustls has".to_owned());
    }
    Ok(suites)
}

/// `ssl_session_cache`'s arguments: how many sessions to keep. `off`/`none`: 0. `builtin[:N]`:
/// N (default 20480, nginx's); `shared:NAME:SIZE`: about 4000 per megabyte, as nginx says.
///
/// # Errors
///
/// An argument of another form.
pub fn session_cache(args: &[String]) -> Result<usize, String> {
    let mut total = 0usize;
    for arg in args {
        match arg.as_str() {
            "off" | "none" if args.len() == 1 => return Ok(0),
            "builtin" => total += 20480,
            other => {
                if let Some(n) = other.strip_prefix("builtin:") {
                    total += n
                        .parse::<usize>()
                        .map_err(|_| format!("builtin:{n}: not a number of sessions"))?;
                } else if let Some(rest) = other.strip_prefix("shared:") {
                    let size = rest
                        .split_once(':')
                        .and_then(|(_, size)| crate::units::size(size))
                        .ok_or_else(|| format!("{other}: expected shared:NAME:SIZE"))?;
                    total +=
                        usize::try_from(size / 1024 / 1024 * 4000 + size % (1024 * 1024) / 256)
                            .unwrap_or(usize::MAX);
                } else {
                    return Err(format!(
                        "{other:?}: expected off, none, builtin[:N] or shared:NAME:SIZE"
                    ));
                }
            }
        }
    }
    Ok(total)
}

// === impl ServerTls ===

impl ServerTls {
    /// Settings with nginx's defaults for `certificate` and `key`: TLS 1.2 and 1.3, every
    /// suite, the client's order, tickets on, no session cache (nginx's `none`).
    pub fn new(certificate: TlsFile, key: TlsFile) -> ServerTls {
        ServerTls {
            certificate,
            key,
            versions: vec![TlsVersion::Tls12, TlsVersion::Tls13],
            tls12_suites: TLS12_SUITES.iter().map(|(iana, _)| *iana).collect(),
            prefer_server_ciphers: false,
            session_cache: 0,
            session_tickets: true,
        }
    }
}

/// How long a session ticket is good for: rustls' ticketer's fixed lifetime.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(6 * 60 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_default_cipher_list_keeps_every_suite() {
        assert_eq!(tls12_suites("HIGH:!aNULL:!MD5").unwrap().len(), 6);
    }

    #[test]
    fn mozilla_intermediate_list_maps_in_order() {
        let list = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                    ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                    ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                    DHE-RSA-AES128-GCM-SHA256";
        let err = tls12_suites(list).unwrap_err();
        assert!(err.contains("DHE-RSA-AES128-GCM-SHA256"), "{err}");
        let suites = tls12_suites(&list[..list.rfind(':').unwrap()]).unwrap();
        assert_eq!(suites[0], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suites[1], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(suites.len(), 6);
    }

    #[test]
    fn classes_combine_and_exclude() {
        assert_eq!(
            tls12_suites("EECDH+AESGCM:!AES256").unwrap(),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(tls12_suites("RC4").is_err());
        assert!(tls12_suites("HIGH:!ECDHE").is_err());
    }

    #[test]
    fn session_cache_sizes() {
        let args = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(session_cache(&args("off")).unwrap(), 0);
        assert_eq!(session_cache(&args("none")).unwrap(), 0);
        assert_eq!(session_cache(&args("shared:SSL:10m")).unwrap(), 40000);
        assert_eq!(session_cache(&args("builtin:1000")).unwrap(), 1000);
        assert!(session_cache(&args("shared:SSL")).is_err());
    }
}
