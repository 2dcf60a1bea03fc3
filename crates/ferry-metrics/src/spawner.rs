//! [`MeteredSpawner`]: times the spawns of the spawner it wraps.

use std::sync::Arc;

use ferry_spawn::{BoxFuture, SpawnError, SpawnOptions, SpawnService, Spawned};

use crate::Metrics;

/// A [`SpawnService`] that times every spawn of the one it wraps and counts failures: wrap the
/// real spawner with it before handing it to the pool.
pub struct MeteredSpawner {
    inner: Arc<dyn SpawnService>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MeteredSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredSpawner")
            .field("metrics_enabled", &self.metrics.is_enabled())
            .finish_non_exhaustive()
    }
}

// === impl MeteredSpawner ===

impl MeteredSpawner {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SpawnService>, metrics: Arc<Metrics>) -> Self {
        MeteredSpawner { inner, metrics }
    }
}

impl SpawnService for MeteredSpawner {
    fn spawn(&self, options: SpawnOptions) -> BoxFuture<'_, Result<Spawned, SpawnError>> {
        if !self.metrics.is_enabled() {
            return self.inner.spawn(options);
        }
        let app = self.metrics.app(&options.app_group_name);
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let result = self.inner.spawn(options).await;
            self.metrics
                .record_spawn(app, started.elapsed(), result.is_ok());
            result
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.inner.shutdown()
    }

    fn promote(
        &self,
        options: SpawnOptions,
        worker: ferry_spawn::Promotion,
    ) -> BoxFuture<'_, Result<ferry_spawn::Promoted, String>> {
        self.inner.promote(options, worker)
    }
}
