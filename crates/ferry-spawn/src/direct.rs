//! The spawner: [`DirectSpawner`] chooses each spawn's route and walks the one without a
//! preloader itself (the `SpawnDirectly` journey, through [`crate::launch`]).
//!
//! A spawn whose options ask for smart spawning goes to its app's preloader
//! ([`crate::preloader`]); when that fails and `smart_fallback_to_direct` is on, the worker is
//! spawned directly instead. Every failure is reported (logged, saved as a page, the
//! `spawn_failed` hook) here, once per route tried.

use std::sync::Arc;

use tracing::Instrument;

use crate::attempt::Attempt;
use crate::error::SpawnError;
use crate::journey::{JourneyType, Step};
use crate::launch::{Launcher, Started};
use crate::preloader::{PreloaderInfo, Preloaders};
use crate::properties::RequestSocket;
use crate::{report, Promoted, Promotion, SpawnOptions, Spawned, Spawner, SpawnerConfig};

/// Starts app processes: directly from their start command, or, for an app whose options ask for
/// smart spawning, by forking them from the app's preloader (see the `preloader` module). The pool
/// knows one spawner type; the route is chosen per spawn from [`SpawnOptions::spawn_method`].
///
/// Clones share their state: shutting one down shuts down all.
#[derive(Debug, Clone)]
pub struct DirectSpawner {
    launcher: Launcher,
    /// The running preloaders, one per app.
    preloaders: Arc<Preloaders>,
}

// === impl DirectSpawner ===

impl DirectSpawner {
    /// A new spawner.
    pub fn new(config: SpawnerConfig) -> Self {
        let launcher = Launcher::new(config);
        DirectSpawner {
            preloaders: Arc::new(Preloaders::new(launcher.clone())),
            launcher,
        }
    }

    /// The spawner's settings.
    pub fn config(&self) -> &SpawnerConfig {
        &self.launcher.config
    }

    /// The preloaders running now (for `ferry status` and `memory-stats`).
    pub fn preloaders(&self) -> Vec<PreloaderInfo> {
        self.preloaders.list()
    }

    /// Spawns a worker without a preloader.
    async fn spawn_direct(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let mut attempt = Attempt::new(options, JourneyType::SpawnDirectly);
        let started: Started<RequestSocket> = self.launcher.start_process(&mut attempt).await?;
        record_step(Step::Finish);
        let socket = started.answer;
        tracing::info!(pid = started.handle.pid(), endpoint = ?socket.endpoint, "app process is up");
        Ok(Spawned {
            endpoint: socket.endpoint,
            protocol: socket.protocol,
            concurrency: socket.concurrency,
            peer_uid: Some(attempt.app_uid()),
            connect_password: attempt.connect_password,
            handle: started.handle,
            journey: started.journey,
        })
    }

    /// Spawns a worker through the app's preloader, falling back to a direct spawn when that
    /// fails and the options allow it. Every failure is reported here.
    async fn spawn_smart(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let error = match self.preloaders.spawn(options).await {
            Ok(spawned) => {
                record_step(Step::Finish);
                return Ok(spawned);
            }
            Err(error) => error,
        };
        record_step(error.step());
        report::spawn_failed(&error, options, self.config());
        if !options.smart_fallback_to_direct {
            return Err(error);
        }
        tracing::warn!(
            app = %options.app_group_name,
            error_id = error.id(),
            "smart spawning failed; spawning directly instead (smart_fallback_to_direct is on)"
        );
        self.spawn_direct_reported(options).await
    }

    /// [`Self::spawn_direct`], its failure reported.
    async fn spawn_direct_reported(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let result = self.spawn_direct(options).await;
        if let Err(error) = &result {
            record_step(error.step());
            report::spawn_failed(error, options, self.config());
        }
        result
    }
}

impl Spawner for DirectSpawner {
    async fn shutdown(&self) {
        self.launcher.cancel.cancel();
        self.preloaders.stop_all();
        self.launcher.supervisors.close();
        self.launcher.supervisors.wait().await;
    }

    /// Spawns under a `spawn{app, step}` span (info level: one per spawn). `step` is recorded
    /// when the journey ends, before it is logged: the step that failed, or `finish`.
    async fn spawn(&self, options: &SpawnOptions) -> Result<Spawned, SpawnError> {
        let span = tracing::info_span!(
            "spawn",
            app = %options.app_group_name,
            step = tracing::field::Empty
        );
        let route = async {
            if options.uses_preloader() {
                self.spawn_smart(options).await
            } else {
                self.spawn_direct_reported(options).await
            }
        };
        route.instrument(span).await
    }

    /// Makes a drained worker its app's template (see `Preloaders::promote`), under a
    /// `promote{app, pid}` span.
    async fn promote(&self, options: &SpawnOptions, worker: Promotion) -> Result<Promoted, String> {
        let span = tracing::info_span!(
            "promote",
            app = %options.app_group_name,
            pid = worker.handle.pid()
        );
        if !options.uses_preloader() {
            return Err("the app is not spawned through a preloader".into());
        }
        self.preloaders
            .promote(options, worker)
            .instrument(span)
            .await
    }
}

/// Records where the spawn's journey ended in the current `spawn` span.
fn record_step(step: Step) {
    tracing::Span::current().record("step", step.name());
}
