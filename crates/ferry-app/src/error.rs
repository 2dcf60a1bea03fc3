//! Why Ferry could not start.

/// Ferry could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not an IP address.
    #[error("cannot listen on {address:?}: not an IP address")]
    Address {
        /// The address as configured.
        address: String,
    },
    /// A `--hook` is malformed.
    #[error("invalid hook")]
    Hook(#[from] ferry_spawn::hooks::HookSpecError),
    /// The runtime directory (app sockets) could not be created.
    #[error("cannot create the runtime directory in {dir}")]
    RuntimeDir {
        /// The parent directory.
        dir: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The instance directory (for `ferry status`) could not be made.
    #[error("cannot create the instance directory")]
    Registry(#[from] ferry_admin::registry::RegistryError),
    /// The admin API's socket could not be bound.
    #[error("cannot listen on the admin socket {path}")]
    AdminSocket {
        /// The socket.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The access log could not be opened.
    #[error("cannot open the access log {path}")]
    AccessLog {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    // Issue 19, TLS:
    /// A server's certificate or key cannot be served (a configuration error: `ferry` exits 64).
    #[error(transparent)]
    Tls(#[from] ferry_front::TlsError),
    /// Binding the listening socket failed.
    #[error("cannot listen on {what}")]
    Bind {
        /// The address or socket path.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

// === impl Error ===

impl Error {
    /// Whether the configuration is at fault (exit 64, `EX_USAGE`) rather than the system.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Tls(_))
    }
}
