//! Background upkeep: applying the store's change log to the caches,
//! flushing key last-use times, pruning idle rate-limit buckets.

use std::time::{Duration, Instant};

use campaignd_store::Change;

use crate::app::AppState;

/// How often the change log is polled. Revocations take effect within this
/// plus one poll's latency, well inside the 1 s SPEC asks for.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Most changes applied per poll; a backlog beyond this clears the caches.
const POLL_BATCH: u32 = 1000;

/// Where in the change log this node has got to.
#[derive(Debug)]
pub struct Watcher {
    app: AppState,
    seen: i64,
}

impl Watcher {
    /// Starts watching from the latest change: the caches are empty, so
    /// nothing before now can be stale in them.
    pub async fn start(app: AppState) -> anyhow::Result<Self> {
        let seen = app.store.latest_change().await?;
        app.freshness.confirm(Instant::now());
        Ok(Self { app, seen })
    }

    /// Polls once, applying what changed. On failure the caches lapse by
    /// themselves (see [`crate::cache::Freshness`]).
    pub async fn poll(&mut self) {
        let started = Instant::now();
        match self.app.store.changes_since(self.seen, POLL_BATCH).await {
            Ok(changes) => {
                if changes.len() == POLL_BATCH as usize {
                    // Too much to apply one by one: start afresh.
                    self.app.renders.clear();
                    self.app.keys.clear();
                } else {
                    for (_, change) in &changes {
                        self.apply(*change);
                    }
                }
                if let Some((seq, _)) = changes.last() {
                    self.seen = *seq;
                }
                self.app.freshness.confirm(started);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log; caches bypassed until it answers");
            }
        }
    }

    fn apply(&self, change: Change) {
        match change {
            Change::Campaign(center, id) => self.app.renders.invalidate_campaign(center, id),
            Change::Campaigns(center) => self.app.renders.invalidate_center(center),
            Change::ApiKey(_) => self.app.keys.clear(),
        }
    }

    /// Runs until the runtime shuts down: polls the change log, and every
    /// few seconds flushes key use and prunes the limiter.
    pub async fn run(mut self) {
        let mut ticks = 0u32;
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            self.poll().await;
            crate::telemetry::flush_logs();
            ticks = ticks.wrapping_add(1);
            if ticks.is_multiple_of(25) {
                self.flush_key_use().await;
                self.app.limiter.prune();
            }
        }
    }

    /// Writes batched key last-use times.
    pub async fn flush_key_use(&self) {
        self.app.flush_key_use().await;
    }
}

impl AppState {
    /// Writes the key last-use times noted since the last flush.
    pub async fn flush_key_use(&self) {
        let uses = self.key_use.take();
        if !uses.is_empty()
            && let Err(e) = self.store.record_key_use(&uses).await
        {
            tracing::warn!(error = %e, "cannot record key use");
        }
    }
}
