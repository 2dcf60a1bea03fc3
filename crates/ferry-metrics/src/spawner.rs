//! [`MeteredSpawner`]: times the spawns of the spawner it wraps.

use std::sync::Arc;

use ferry_spawn::{SpawnError, SpawnOptions, Spawned, Spawner};

use crate::Metrics;

/// A [`Spawner`] that times every spawn of the one it wraps and counts failures: wrap the real
/// spawner with it before handing it to the pool.
#[derive(Debug)]
pub struct MeteredSpawner<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> MeteredSpawner<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, metrics: Arc<Metrics>) -> Self {
        MeteredSpawner { inner, metrics }
    }

    /// The wrapped spawner.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Spawner> Spawner for MeteredSpawner<S> {
    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        if !self.metrics.is_enabled() {
            return self.inner.spawn(options).await;
        }
        let app = self.metrics.app(&options.app_group_name);
        let started = tokio::time::Instant::now();
        let result = self.inner.spawn(options).await;
        self.metrics
            .record_spawn(app, started.elapsed(), result.is_ok());
        result
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}
