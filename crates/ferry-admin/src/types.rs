//! What the admin API's server and its clients both speak: the user names going with the
//! passwords, the API's version, and the bodies of `/info.json`, `/server.json` and
//! `POST /pool/restart_app_group.json` (the pool's own, [`crate::pool::PoolState`], has a module
//! of its own). `server` and `client` build on this module; it knows neither.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

/// The version of the API, in `/info.json`.
pub const API_VERSION: &str = "1.0";
/// The user name going with the full password.
pub const FULL_USER: &str = "admin";
/// The user name going with the read-only password.
pub const READ_ONLY_USER: &str = "ro_admin";

/// The base64 of HTTP Basic credentials (RFC 7617), which the client writes and the server
/// reads: the standard alphabet with its padding, required when decoding. Stray bits in the last
/// symbol are ignored, as Ferry's first, hand-written decoder did.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// How to restart an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RestartMethod {
    /// Every process finishes its requests and stops; new ones are spawned.
    #[default]
    Blocking,
    /// New processes are spawned one at a time, each replacing an old one when it is up.
    Rolling,
}

/// `/info.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Ferry's pid.
    pub pid: u32,
    /// `ferry`.
    pub program_name: String,
    /// Ferry's version.
    pub program_version: String,
    /// [`API_VERSION`].
    pub api_version: String,
    /// The instance name.
    pub instance_name: String,
    /// When Ferry started, in seconds since the Unix epoch.
    pub started_at: u64,
    /// The URLs Ferry listens on.
    pub listeners: Vec<String>,
    /// The log level now (0..=7).
    pub log_level: u8,
    /// Whether `/metrics` has anything to say.
    pub metrics_enabled: bool,
    // Issue 18, health:
    /// `ferry drain` is in force: the health path answers 503 (every request is still served).
    #[serde(default)]
    pub draining: bool,
    /// Ferry is stopping (SIGTERM's shutdown delay, then the drain of in-flight requests).
    #[serde(default)]
    pub stopping: bool,
    // Issue 19, TLS:
    /// The certificates served over TLS (none without TLS).
    #[serde(default)]
    pub certificates: Vec<CertificateStatus>,
}

// Issue 19, TLS:
/// A certificate Ferry serves, in `/info.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateStatus {
    /// The certificate file.
    pub file: String,
    /// Where it was named (`FILE:LINE`, or `--ssl-certificate`).
    pub origin: String,
    /// The leaf's subject.
    pub subject: String,
    /// When the leaf expires, in seconds since the Unix epoch.
    pub not_after: i64,
}

/// One request being handled, in `/server.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// The app group it is for (empty: none yet, or static).
    pub app: String,
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Where it is: `queued`, `in_app`, `sending_response`, ...
    pub state: String,
    /// The process serving it, once it has one.
    pub pid: Option<u32>,
    /// Seconds since it arrived.
    pub age_secs: f64,
}

/// `/server.json`: the server's info and its requests in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// As `/info.json`.
    pub info: ServerInfo,
    /// Requests being handled.
    pub requests: Vec<RequestInfo>,
}

#[cfg(test)]
pub(crate) mod tests;
