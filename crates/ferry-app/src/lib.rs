//! Wires Ferry together: configuration → spawner → pool → front end, and shuts it all down.
//!
//! `main` and the integration tests both start Ferry through [`Ferry::start`], so what the tests
//! exercise is what the binary runs.
//!
//! Shutdown order matters for "never drop a request": first stop accepting, then let every open
//! connection finish the request it is serving (bounded by the drain grace period), and only then
//! stop the app processes, which are reaped before [`Running::shutdown`] returns.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_config::{Config, Listen};
use ferry_front::{AppConnection, BoundListener, Listener, Site, SiteConfig};
use ferry_pool::{GroupConfig, Pool, PoolConfig};
use ferry_spawn::{DirectSpawner, SpawnOptions};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long in-flight requests may take to finish once shutdown begins.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// How long an app process may take to exit after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often, at most, `tmp/restart.txt` is looked at.
pub const RESTART_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Ferry could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not an IP address.
    #[error("cannot listen on {address:?}: not an IP address")]
    Address {
        /// The address as configured.
        address: String,
    },
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

/// Entry point.
#[derive(Debug)]
pub struct Ferry;

/// A running Ferry.
#[derive(Debug)]
pub struct Running {
    urls: Vec<String>,
    pool: Pool<DirectSpawner, AppConnection>,
    stop: CancellationToken,
    listeners: TaskTracker,
    connections: TaskTracker,
}

impl Ferry {
    /// Binds the listeners and starts serving. App processes start on the first request.
    pub async fn start(config: Config) -> Result<Running, Error> {
        let listener = bind(&config.listen).await?;
        let urls = vec![listener.url()];
        let pool = Pool::new(
            DirectSpawner::new(),
            PoolConfig {
                max_pool_size: config.pool.max_pool_size,
                stop_grace: STOP_GRACE,
            },
        );
        let group = pool.add_group(group_config(&config));
        let site = Site::new(
            pool.clone(),
            group,
            &SiteConfig {
                public_dir: Some(config.app.root.join("public")),
                friendly_error_pages: config.app.environment == "development",
            },
        );
        let stop = CancellationToken::new();
        let (listeners, connections) = (TaskTracker::new(), TaskTracker::new());
        listeners.spawn(listener.serve(site, stop.clone(), connections.clone()));
        listeners.close();
        Ok(Running {
            urls,
            pool,
            stop,
            listeners,
            connections,
        })
    }
}

impl Running {
    /// The URLs Ferry listens on (`http://127.0.0.1:3000`, `unix:/path`).
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Stops gracefully: no new connections; in-flight requests finish (at most `drain` long);
    /// then every app process is stopped and reaped.
    pub async fn shutdown(self, drain: Duration) {
        tracing::info!("shutting down: finishing in-flight requests");
        self.stop.cancel();
        self.listeners.wait().await;
        self.connections.close();
        if tokio::time::timeout(drain, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within {drain:?}; closing them");
        }
        tracing::info!("stopping app processes");
        self.pool.shutdown().await;
        tracing::info!("shutdown complete");
    }
}

async fn bind(listen: &Listen) -> Result<BoundListener, Error> {
    let listener = match listen {
        Listen::Tcp { address, port } => {
            let ip: IpAddr = address.parse().map_err(|_| Error::Address {
                address: address.clone(),
            })?;
            Listener::Tcp(SocketAddr::new(ip, *port))
        }
        Listen::Unix(path) => Listener::Unix(path.clone()),
    };
    ferry_front::bind(&listener)
        .await
        .map_err(|source| Error::Bind {
            what: match &listener {
                Listener::Tcp(addr) => addr.to_string(),
                Listener::Unix(path) => path.display().to_string(),
            },
            source,
        })
}

fn group_config(config: &Config) -> GroupConfig {
    let app = &config.app;
    GroupConfig {
        name: app.root.display().to_string(),
        spawn: SpawnOptions {
            app_root: app.root.clone(),
            start_command: app.start_command.clone(),
            environment: app.environment.clone(),
            start_timeout: app.start_timeout,
            env: Vec::new(),
        },
        min_instances: app.min_instances,
        max_queue: app.max_request_queue_size,
        restart_dir: Some(app.root.join("tmp")),
        restart_check_interval: RESTART_CHECK_INTERVAL,
    }
}
