//! Issue 19, TLS: the servers' certificates and rustls settings, loaded once at start, and the
//! handshake of a client connection.
//!
//! Each server with TLS settings gets two rustls `ServerConfig`s sharing its certificate,
//! session cache and ticketer: one offering `h2` then `http/1.1` by ALPN (addresses that speak
//! HTTP/2), one offering `http/1.1` only. A handshake reads the ClientHello first
//! (`LazyConfigAcceptor`), picks the server by SNI as nginx does (the address's name table,
//! else its default server) and continues with that server's settings.
//!
//! The crypto provider is ring: it builds with a C compiler alone and quickly (aws-lc-rs
//! builds a large C library, with cmake on some targets), and its handshakes are within the
//! same order as aws-lc-rs' for ECDSA P-256; it lacks post-quantum key exchange, which
//! docs/tls.md records as the cost.
//!
//! Private keys are read here, by the process that serves them, and never logged: errors name
//! the file and the line that named it, never its content.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_config::deployment::{Deployment, ServerTls, TlsFile, TlsVersion};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate expiring sooner than this is a warning at start.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The ALPN names offered where HTTP/2 is on, in preference order.
const ALPN_H2: &[&[u8]] = &[b"h2", b"http/1.1"];
/// The ALPN name offered elsewhere.
const ALPN_H1: &[&[u8]] = &[b"http/1.1"];

/// Every server's TLS settings, by server index (`None`: the server has none).
#[derive(Debug, Default, Clone)]
pub struct TlsConfigs {
    servers: Vec<Option<ServerConfigs>>,
    certificates: Vec<CertificateInfo>,
}

/// One server's rustls settings, with and without HTTP/2.
#[derive(Debug, Clone)]
struct ServerConfigs {
    h1: Arc<ServerConfig>,
    h2: Arc<ServerConfig>,
}

/// A certificate Ferry serves, for `ferry status` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The certificate file.
    pub file: PathBuf,
    /// Where it was named (`FILE:LINE` or `--ssl-certificate`).
    pub origin: String,
    /// The leaf's subject, as text.
    pub subject: String,
    /// When the leaf expires (its `notAfter`), in seconds since the epoch.
    pub not_after: i64,
}

/// Why a server's certificate or key cannot be served. Each names the file and where it was
/// named; none carries a key's bytes.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("{origin}: cannot read {path}: {source}")]
    Read {
        /// Where it was named.
        origin: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No PEM certificate in the certificate file.
    #[error("{origin}: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// Where it was named.
        origin: String,
        /// The file.
        path: PathBuf,
    },
    /// No PEM private key in the key file.
    #[error(
        "{origin}: {path} holds no PEM private key (PKCS#8, RSA or EC; an encrypted key cannot \
         be read)"
    )]
    NoKey {
        /// Where it was named.
        origin: String,
        /// The file.
        path: PathBuf,
    },
    /// The leaf certificate does not parse.
    #[error("{origin}: {path}: the certificate cannot be read: {why}")]
    BadCertificate {
        /// Where it was named.
        origin: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The leaf certificate has expired.
    #[error("{origin}: {path}: the certificate expired at {date}")]
    Expired {
        /// Where it was named.
        origin: String,
        /// The file.
        path: PathBuf,
        /// Its `notAfter`.
        date: String,
    },
    /// rustls refuses the key, or the key is not the certificate's.
    #[error("{origin}: {path}: {why}")]
    Key {
        /// Where the key was named.
        origin: String,
        /// The key file.
        path: PathBuf,
        /// What rustls says.
        why: String,
    },
}

// === impl TlsConfigs ===

impl TlsConfigs {
    /// Reads every server's certificate and key and builds its rustls settings. A certificate
    /// expiring within [`EXPIRY_WARNING`] is logged as a warning.
    ///
    /// # Errors
    ///
    /// The first certificate or key that cannot be served.
    pub fn load(deployment: &Deployment) -> Result<TlsConfigs, TlsError> {
        let mut configs = TlsConfigs::default();
        for server in &deployment.servers {
            let Some(tls) = &server.tls else {
                configs.servers.push(None);
                continue;
            };
            let (built, info) = build(tls)?;
            configs.servers.push(Some(built));
            if !configs.certificates.contains(&info) {
                configs.certificates.push(info);
            }
        }
        Ok(configs)
    }

    /// Whether any server speaks TLS.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// The certificates served, each once.
    pub fn certificates(&self) -> &[CertificateInfo] {
        &self.certificates
    }

    /// Server `index`'s settings, with HTTP/2 offered or not.
    pub(crate) fn server(&self, index: usize, http2: bool) -> Option<Arc<ServerConfig>> {
        let configs = self.servers.get(index)?.as_ref()?;
        Some(Arc::clone(if http2 { &configs.h2 } else { &configs.h1 }))
    }
}

/// One server's two rustls settings and its certificate's description.
fn build(tls: &ServerTls) -> Result<(ServerConfigs, CertificateInfo), TlsError> {
    let chain = read_chain(&tls.certificate)?;
    let info = describe(&tls.certificate, &chain[0])?;
    let key = read_key(&tls.key)?;
    let provider = Arc::new(provider(tls));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = tls
        .versions
        .iter()
        .map(|v| match v {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let key_error = |e: rustls::Error| TlsError::Key {
        origin: tls.key.origin.clone(),
        path: tls.key.path.clone(),
        why: match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "the key is not the one of the certificate {}",
                tls.certificate.path.display()
            ),
            other => format!("rustls cannot use the key with the certificate: {other}"),
        },
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(key_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(key_error)?;
    config.ignore_client_order = tls.prefer_server_ciphers;
    config.session_storage = if tls.session_cache > 0 {
        ServerSessionMemoryCache::new(tls.session_cache)
    } else {
        Arc::new(NoServerSessionStorage {})
    };
    if tls.session_tickets {
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(key_error)?;
    } else if tls.session_cache == 0 {
        config.send_tls13_tickets = 0;
    }
    let mut h1 = config.clone();
    h1.alpn_protocols = ALPN_H1.iter().map(|p| p.to_vec()).collect();
    config.alpn_protocols = ALPN_H2.iter().map(|p| p.to_vec()).collect();
    Ok((
        ServerConfigs {
            h1: Arc::new(h1),
            h2: Arc::new(config),
        },
        info,
    ))
}

/// ring, with the TLS 1.2 suites `ssl_ciphers` chose (in its order) after TLS 1.3's. rustls
/// 0.23.48 deprecates ring's provider because it has no post-quantum key exchange
/// (X25519MLKEM768, which aws-lc-rs has): the known cost of the choice (docs/tls.md).
#[allow(deprecated)]
fn provider(tls: &ServerTls) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    let all = std::mem::take(&mut provider.cipher_suites);
    let tls13 = all.iter().filter(|s| s.tls13().is_some()).copied();
    let tls12 = tls.tls12_suites.iter().filter_map(|name| {
        all.iter()
            .find(|s| s.suite().as_str() == Some(name))
            .copied()
    });
    provider.cipher_suites = tls13.chain(tls12).collect();
    provider
}

/// The file's bytes.
fn read(file: &TlsFile) -> Result<Vec<u8>, TlsError> {
    std::fs::read(&file.path).map_err(|source| TlsError::Read {
        origin: file.origin.clone(),
        path: file.path.clone(),
        source,
    })
}

/// The certificate chain, leaf first.
fn read_chain(file: &TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(file)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            origin: file.origin.clone(),
            path: file.path.clone(),
            why: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: file.origin.clone(),
            path: file.path.clone(),
        });
    }
    Ok(chain)
}

/// The private key (the first in the file).
fn read_key(file: &TlsFile) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(file)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        origin: file.origin.clone(),
        path: file.path.clone(),
    })
}

/// The leaf's subject and expiry; an expired leaf is an error, one expiring soon a warning.
fn describe(file: &TlsFile, leaf: &CertificateDer<'_>) -> Result<CertificateInfo, TlsError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(leaf).map_err(|e| TlsError::BadCertificate {
            origin: file.origin.clone(),
            path: file.path.clone(),
            why: e.to_string(),
        })?;
    let not_after = parsed.validity().not_after;
    let info = CertificateInfo {
        file: file.path.clone(),
        origin: file.origin.clone(),
        subject: parsed.subject().to_string(),
        not_after: not_after.timestamp(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if info.not_after <= now {
        return Err(TlsError::Expired {
            origin: file.origin.clone(),
            path: file.path.clone(),
            date: not_after.to_string(),
        });
    }
    let left = u64::try_from(info.not_after - now).unwrap_or(0);
    if left < EXPIRY_WARNING.as_secs() {
        tracing::warn!(
            file = %file.path.display(),
            origin = %file.origin,
            expires = %not_after,
            "the certificate expires in less than 14 days ({} hours)",
            left / 3600
        );
    }
    Ok(info)
}

#[cfg(test)]
mod tests;
