//! The change watcher: applies the store's change log to this node's caches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use campaignd_store::{Change, ChangeCursor, Store};

use crate::runtime::cache::Caches;

/// How often the change log is polled. Revocations take effect within this
/// plus one poll's latency, well inside the 1 s SPEC asks for.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Most changes applied per poll; a backlog beyond this clears the caches.
const POLL_BATCH: u32 = 1000;

/// A watcher that could not read the log for this long may have missed
/// changes since pruned ([`campaignd_store::CHANGE_RETENTION`] is far
/// longer), so it starts afresh rather than trust what it holds.
const LONG_OUTAGE: Duration = Duration::from_mins(5);

/// Where in the change log this node has got to.
pub(crate) struct Watcher {
    store: Arc<dyn Store>,
    caches: Arc<Caches>,
    seen: ChangeCursor,
    /// When the last good poll was.
    last_good: Instant,
}

impl Watcher {
    /// Starts watching from the latest change: the caches are empty, so
    /// nothing before now can be stale in them.
    pub(crate) async fn start(
        store: Arc<dyn Store>,
        caches: Arc<Caches>,
    ) -> campaignd_store::Result<Self> {
        let seen = store.latest_change().await?;
        caches.freshness.confirm(Instant::now());
        Ok(Self {
            store,
            caches,
            seen,
            last_good: Instant::now(),
        })
    }

    /// Polls once, applying what changed. On failure the caches lapse by
    /// themselves (see [`crate::runtime::cache::Freshness`]).
    pub(crate) async fn poll(&mut self) {
        let started = Instant::now();
        let result = if started.duration_since(self.last_good) > LONG_OUTAGE {
            self.start_afresh().await
        } else {
            self.follow().await
        };
        match result {
            Ok(()) => {
                self.last_good = started;
                self.caches.freshness.confirm(started);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log; caches bypassed until it answers");
            }
        }
    }

    /// Applies the changes since the last poll.
    async fn follow(&mut self) -> campaignd_store::Result<()> {
        let batch = self.store.changes_since(&self.seen, POLL_BATCH).await?;
        if batch.truncated {
            // Too much to apply one by one (a burst of writes): start
            // afresh, or this node would fall further behind each poll.
            return self.start_afresh().await;
        }
        for change in &batch.changes {
            self.apply(*change);
        }
        self.seen = batch.next;
        Ok(())
    }

    /// Empties the caches and follows the log from its end. The end is
    /// read first: whatever commits after it is applied by the next poll,
    /// and a fill that read older data before the clear is dropped by the
    /// caches' generation check.
    async fn start_afresh(&mut self) -> campaignd_store::Result<()> {
        let latest = self.store.latest_change().await?;
        self.caches.renders.clear();
        self.caches.keys.clear();
        self.seen = latest;
        Ok(())
    }

    fn apply(&self, change: Change) {
        match change {
            Change::Campaign(center, id) => self.caches.renders.invalidate_campaign(center, id),
            Change::Campaigns(center) => self.caches.renders.invalidate_center(center),
            Change::ApiKey(_) => self.caches.keys.clear(),
            Change::Reset => {
                self.caches.renders.clear();
                self.caches.keys.clear();
            }
        }
    }
}
