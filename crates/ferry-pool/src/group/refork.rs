//! Re-forking (issue 22): a group's turn to make one of its processes the app's template, and
//! the bookkeeping of that promotion (`Refork`'s states: waiting, draining, promoting, done).

use std::sync::Arc;

use super::{Entry, Group, Oob, Refork};
use crate::action::Action;
use crate::process::Process;

// === impl Group: re-forking ===

impl<C> Group<C> {
    /// Whether the enabled process at `i` should become the app's template now: the group
    /// re-forks, its workers come from a preloader, this restart generation has had no promotion,
    /// no roll or deployment error is under way, and the process (of the newest generation, not
    /// doing out-of-band work) has served `refork_after` requests.
    pub(crate) fn wants_promotion(&self, i: usize) -> bool {
        let Some(after) = self.config.refork_after else {
            return false;
        };
        let entry = &self.enabled[i];
        self.refork == Refork::Waiting
            && self.config.spawn.uses_preloader()
            && self.to_replace == 0
            && self.parked.is_none()
            && self.resisting.is_none()
            && entry.processed >= after
            && entry.process.generation == self.generation
            && matches!(entry.oob, Oob::None)
    }

    /// After a session on the enabled process at `i` ended: chooses it as the template when it
    /// qualifies (routing to it stops at once), and hands it over once its last request is done.
    pub(crate) fn refork_turn(&mut self, i: usize, actions: &mut Vec<Action<C>>) {
        if !self.enabled[i].draining && self.wants_promotion(i) {
            let entry = &mut self.enabled[i];
            entry.draining = true;
            self.refork = Refork::Draining(entry.process.id);
            tracing::info!(
                app = %self.config.name,
                pid = entry.process.handle.pid(),
                processed = entry.processed,
                "app process served refork_after requests; it becomes the template once its \
                 requests are done"
            );
        }
        if self.enabled[i].draining && self.enabled[i].sessions == 0 {
            self.begin_promotion(i, actions);
        }
    }

    /// Hands the drained process at `i` to the spawner, and starts the roll that replaces the
    /// other processes, one at a time, with workers forked from it (plus one to take its place).
    /// Spawns asked for from now on wait for the promotion and fork from the template.
    fn begin_promotion(&mut self, i: usize, actions: &mut Vec<Action<C>>) {
        let mut entry = self.enabled.remove(i);
        entry.draining = false;
        entry.process.retire();
        self.refork = Refork::Promoting(entry.process.id);
        actions.push(Action::Promote(self.id, Arc::clone(&entry.process)));
        self.generation += 1;
        self.spawning = 0;
        self.spawn_started.clear();
        self.unpark();
        self.to_replace = self.enabled.len() + 1;
        tracing::info!(
            app = %self.config.name,
            pid = entry.process.handle.pid(),
            generation = self.generation,
            processes = self.to_replace,
            "promoting a warmed process to template; its peers are replaced one at a time"
        );
        self.promoting = Some(entry);
    }

    /// The spawner is done with the promotion of `process`. A template leaves the pool (the
    /// spawner has its handle); a process that could not become one is stopped.
    pub(crate) fn promoted(
        &mut self,
        process: &Process<C>,
        result: Result<ferry_spawn::Promoted, String>,
        actions: &mut Vec<Action<C>>,
    ) {
        if self.refork == Refork::Promoting(process.id) {
            self.refork = Refork::Done;
        }
        let entry = match &self.promoting {
            Some(e) if e.process.id == process.id => self.promoting.take(),
            _ => None,
        };
        match result {
            Ok(promoted) => tracing::info!(
                app = %self.config.name,
                pid = promoted.pid,
                template_generation = promoted.template_generation,
                "the app's template is a warmed worker now"
            ),
            Err(why) => {
                tracing::warn!(app = %self.config.name, pid = process.handle.pid(), "re-forking failed: {why}; the process is stopped and workers keep coming from the preloader");
                if let Some(entry) = entry {
                    actions.push(Action::Stop(Arc::clone(&entry.process)));
                    self.detached.push(entry);
                }
            }
        }
    }

    /// A restart: the new restart generation may promote again; a process chosen but not yet
    /// handed over takes requests again.
    pub(crate) fn reset_refork(&mut self) {
        self.restarts += 1;
        self.refork = Refork::Waiting;
        for entry in &mut self.enabled {
            entry.draining = false;
        }
    }

    /// `entry` leaves rotation for another reason: if it was chosen as the template, another
    /// process may be.
    pub(super) fn forget_draining(&mut self, entry: &Entry<C>) {
        if entry.draining && self.refork == Refork::Draining(entry.process.id) {
            self.refork = Refork::Waiting;
        }
    }
}
