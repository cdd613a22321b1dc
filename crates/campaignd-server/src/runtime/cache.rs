//! In-process caches on the read path: rendered campaign and list bodies, and
//! API key grants.
//!
//! Correctness rests on invalidation, not expiry: every committed write is
//! in the store's change log, which the change watcher (`runtime::watch`) polls and
//! applies here. While the watcher is behind (storage unreachable), the
//! caches are bypassed: [`Freshness`] says whether they may be trusted.
//!
//! A fill races with invalidation (read old row, write lands, invalidation
//! runs, stale fill inserted). Every fill therefore carries the generation
//! read before its lookup, and is dropped if an invalidation ran since.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use bytes::Bytes;
use campaignd_model::{ApiKeyToken, CampaignId, ContactCenterId, EntityTag};
use campaignd_store::KeyGrant;

const SHARDS: usize = 16;

/// The maps' hasher: foldhash, seeded per process. Several times cheaper
/// than the standard `SipHash` on these small keys, and still keyed, so
/// nobody can choose ids or queries that collide.
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An empty [`Map`].
pub(crate) fn map<K, V>() -> Map<K, V> {
    HashMap::with_hasher(foldhash::fast::RandomState::default())
}

/// A rendered response body and its strong entity tag.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// The JSON body.
    pub(crate) body: Bytes,
    /// The `ETag` value, quotes included.
    pub(crate) etag: HeaderValue,
}

impl Rendered {
    /// Wraps `body`, computing its entity tag (the same a write's store
    /// checks `If-Match` against).
    pub(crate) fn new(body: Vec<u8>) -> Self {
        let etag = EntityTag::of(&body);
        Self {
            body: Bytes::from(body),
            etag: HeaderValue::from_bytes(etag.as_bytes()).expect("quotes and hex digits"),
        }
    }
}

/// Everything cached for one contact center.
struct CenterEntries {
    campaigns: Map<CampaignId, Rendered>,
    lists: Map<Box<str>, Rendered>,
    bytes: usize,
}

impl Default for CenterEntries {
    fn default() -> Self {
        Self {
            campaigns: map(),
            lists: map(),
            bytes: 0,
        }
    }
}

/// Rendered bodies, per contact center, within a byte budget.
pub(crate) struct RenderCache {
    budget: usize,
    used: AtomicUsize,
    generation: AtomicU64,
    hasher: foldhash::fast::RandomState,
    shards: [Mutex<Map<ContactCenterId, CenterEntries>>; SHARDS],
    fills: [tokio::sync::Mutex<()>; FILL_STRIPES],
}

/// Stripes of [`RenderCache::fill_turn`].
const FILL_STRIPES: usize = 64;

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("budget", &self.budget)
            .field("used", &self.used.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Which cached body a lookup or fill is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    /// Get campaign.
    Campaign(CampaignId),
    /// A list page, by its normalised query.
    List(&'a str),
}

impl RenderCache {
    /// A cache holding at most about `budget` bytes of bodies.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            used: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            hasher: foldhash::fast::RandomState::default(),
            shards: std::array::from_fn(|_| Mutex::new(map())),
            fills: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
        }
    }

    /// Waits for the turn to fill `slot` after a miss, so that many
    /// requests missing the same body at once (a list evicted while clients
    /// poll it) make one storage read, not one each: the first fills, the
    /// others look again once it is done and find the body. Slots share 64
    /// stripes.
    pub(crate) async fn fill_turn(
        &self,
        center: ContactCenterId,
        slot: Slot<'_>,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        let hash = match slot {
            Slot::Campaign(id) => self.hasher.hash_one((center, id)),
            Slot::List(query) => self.hasher.hash_one((center, query)),
        };
        self.fills[(hash as usize) % FILL_STRIPES].lock().await
    }

    fn shard(&self, center: ContactCenterId) -> &Mutex<Map<ContactCenterId, CenterEntries>> {
        &self.shards[(self.hasher.hash_one(center) as usize) % SHARDS]
    }

    /// The generation to pass to [`RenderCache::fill`] for a lookup starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached body, if any.
    pub(crate) fn get(&self, center: ContactCenterId, slot: Slot<'_>) -> Option<Rendered> {
        let shard = self
            .shard(center)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entries = shard.get(&center)?;
        match slot {
            Slot::Campaign(id) => entries.campaigns.get(&id).cloned(),
            Slot::List(query) => entries.lists.get(query).cloned(),
        }
    }

    /// Caches `value` unless an invalidation ran since `generation` was read.
    pub(crate) fn fill(
        &self,
        generation: u64,
        center: ContactCenterId,
        slot: Slot<'_>,
        value: Rendered,
    ) {
        let size = value.body.len() + value.etag.len() + 64;
        if size > self.budget / 4 {
            return;
        }
        let mut shard = self
            .shard(center)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the shard lock, which invalidation also takes.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        while self.used.load(Ordering::Relaxed) + size > self.budget {
            // Evict another contact center's entries: from this shard if it
            // has one (HashMap order is arbitrary, as good as random here),
            // else from any shard not locked right now (never wait on a
            // second lock: that could deadlock with another fill).
            if let Some(victim) = shard.keys().find(|c| **c != center).copied() {
                let gone = shard.remove(&victim).expect("key just seen");
                self.used.fetch_sub(gone.bytes, Ordering::Relaxed);
                continue;
            }
            let mut freed = false;
            for other in &self.shards {
                if let Ok(mut other) = other.try_lock()
                    && let Some(victim) = other.keys().next().copied()
                {
                    let gone = other.remove(&victim).expect("key just seen");
                    self.used.fetch_sub(gone.bytes, Ordering::Relaxed);
                    freed = true;
                    break;
                }
            }
            if !freed {
                return;
            }
        }
        let entries = shard.entry(center).or_default();
        let old = match slot {
            Slot::Campaign(id) => entries.campaigns.insert(id, value),
            Slot::List(query) => entries.lists.insert(query.into(), value),
        };
        let freed = old.map_or(0, |o| o.body.len() + o.etag.len() + 64);
        entries.bytes = entries.bytes + size - freed;
        self.used.fetch_add(size, Ordering::Relaxed);
        self.used.fetch_sub(freed, Ordering::Relaxed);
    }

    /// Drops one campaign's body and every list of its center.
    pub(crate) fn invalidate_campaign(&self, center: ContactCenterId, id: CampaignId) {
        let mut shard = self
            .shard(center)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = shard.get_mut(&center) {
            let mut freed = 0;
            if let Some(old) = entries.campaigns.remove(&id) {
                freed += old.body.len() + old.etag.len() + 64;
            }
            for (_, old) in entries.lists.drain() {
                freed += old.body.len() + old.etag.len() + 64;
            }
            entries.bytes -= freed;
            self.used.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Drops everything cached for a center.
    pub(crate) fn invalidate_center(&self, center: ContactCenterId) {
        let mut shard = self
            .shard(center)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(gone) = shard.remove(&center) {
            self.used.fetch_sub(gone.bytes, Ordering::Relaxed);
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            self.generation.fetch_add(1, Ordering::AcqRel);
            for (_, gone) in shard.drain() {
                self.used.fetch_sub(gone.bytes, Ordering::Relaxed);
            }
        }
    }

    /// Bytes currently cached (approximate).
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// Grants of keys seen recently, by the presented token itself, so a hit
/// costs one keyed hash instead of the HMAC that storage lookups need. The tokens live only in this process's
/// memory, like the requests that carry them; revocations clear the cache.
pub(crate) struct KeyCache {
    capacity: usize,
    generation: AtomicU64,
    map: Mutex<Map<Box<str>, KeyGrant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// A cache of at most `capacity` grants.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            generation: AtomicU64::new(0),
            map: Mutex::new(map()),
        }
    }

    /// The generation to pass to [`KeyCache::fill`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached grant for the presented key `token`.
    pub(crate) fn get(&self, token: &str) -> Option<KeyGrant> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .copied()
    }

    /// Caches a grant unless a revocation ran since `generation` was read.
    pub(crate) fn fill(&self, generation: u64, token: &ApiKeyToken, grant: KeyGrant) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(token.expose().into(), grant);
    }

    /// Drops every grant.
    pub(crate) fn clear(&self) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }
}

/// The caches a node keeps, which the change watcher invalidates.
#[derive(Debug)]
pub(crate) struct Caches {
    /// Key grants seen recently.
    pub(crate) keys: KeyCache,
    /// Rendered bodies.
    pub(crate) renders: RenderCache,
    /// Whether the caches are known to be current.
    pub(crate) freshness: Freshness,
}

impl Caches {
    /// Empty caches; rendered bodies within `render_bytes`.
    pub(crate) fn new(render_bytes: usize) -> Self {
        Self {
            keys: KeyCache::new(100_000),
            renders: RenderCache::new(render_bytes),
            freshness: Freshness::new(Duration::from_secs(1)),
        }
    }
}

/// Whether the caches reflect every change up to a recent poll of the
/// change log.
#[derive(Debug)]
pub(crate) struct Freshness {
    epoch: Instant,
    valid_until_ms: AtomicU64,
    window: Duration,
}

impl Freshness {
    /// Caches trusted for `window` after each successful poll.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            valid_until_ms: AtomicU64::new(0),
            window,
        }
    }

    /// Records a successful poll that started at `started`.
    pub(crate) fn confirm(&self, started: Instant) {
        let until = started.duration_since(self.epoch) + self.window;
        self.valid_until_ms
            .fetch_max(until.as_millis() as u64, Ordering::AcqRel);
    }

    /// True while the caches may be used.
    pub(crate) fn is_fresh(&self) -> bool {
        self.is_fresh_at(Instant::now())
    }

    /// Whether the caches may be used at `at`.
    fn is_fresh_at(&self, at: Instant) -> bool {
        (at.saturating_duration_since(self.epoch).as_millis() as u64)
            < self.valid_until_ms.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn center(id: i64) -> ContactCenterId {
        ContactCenterId::new(id).unwrap()
    }

    fn campaign(id: i64) -> CampaignId {
        CampaignId::new(id).unwrap()
    }

    #[test]
    fn fills_after_an_invalidation_are_dropped() {
        let cache = RenderCache::new(1 << 20);
        let generation = cache.generation();
        cache.invalidate_campaign(center(1), campaign(3));
        cache.fill(
            generation,
            center(1),
            Slot::Campaign(campaign(3)),
            Rendered::new(b"old".to_vec()),
        );
        assert!(cache.get(center(1), Slot::Campaign(campaign(3))).is_none());
        cache.fill(
            cache.generation(),
            center(1),
            Slot::Campaign(campaign(3)),
            Rendered::new(b"new".to_vec()),
        );
        assert_eq!(
            &cache
                .get(center(1), Slot::Campaign(campaign(3)))
                .unwrap()
                .body[..],
            b"new"
        );
    }

    #[test]
    fn a_campaign_write_drops_its_body_and_its_centers_lists_only() {
        let cache = RenderCache::new(1 << 20);
        let g = cache.generation();
        cache.fill(
            g,
            center(1),
            Slot::Campaign(campaign(3)),
            Rendered::new(b"c3".to_vec()),
        );
        cache.fill(
            g,
            center(1),
            Slot::Campaign(campaign(4)),
            Rendered::new(b"c4".to_vec()),
        );
        cache.fill(
            g,
            center(1),
            Slot::List("limit=100"),
            Rendered::new(b"list".to_vec()),
        );
        cache.fill(
            g,
            center(2),
            Slot::List("limit=100"),
            Rendered::new(b"other".to_vec()),
        );
        cache.invalidate_campaign(center(1), campaign(3));
        assert!(cache.get(center(1), Slot::Campaign(campaign(3))).is_none());
        assert!(cache.get(center(1), Slot::List("limit=100")).is_none());
        assert!(cache.get(center(1), Slot::Campaign(campaign(4))).is_some());
        assert!(cache.get(center(2), Slot::List("limit=100")).is_some());
        cache.invalidate_center(center(2));
        assert!(cache.get(center(2), Slot::List("limit=100")).is_none());
    }

    #[test]
    fn the_byte_budget_is_respected() {
        let cache = RenderCache::new(10_000);
        for i in 1..=1000 {
            let g = cache.generation();
            cache.fill(
                g,
                center(i),
                Slot::Campaign(campaign(1)),
                Rendered::new(vec![b'x'; 100]),
            );
            assert!(cache.used() <= 10_000, "{} after {i}", cache.used());
        }
        assert!(cache.used() > 5_000, "the cache is used: {}", cache.used());
        cache.clear();
        assert_eq!(cache.used(), 0);
    }

    #[test]
    fn entity_tags_follow_the_bytes() {
        let a = Rendered::new(b"{\"a\":1}".to_vec());
        let b = Rendered::new(b"{\"a\":2}".to_vec());
        assert_ne!(a.etag, b.etag);
        assert_eq!(a.etag, Rendered::new(b"{\"a\":1}".to_vec()).etag);
        assert_eq!(a.etag, EntityTag::of(b"{\"a\":1}").as_str());
    }

    #[test]
    fn freshness_lapses_without_polls() {
        let f = Freshness::new(Duration::from_millis(50));
        assert!(!f.is_fresh(), "never polled");
        let polled = Instant::now();
        f.confirm(polled);
        assert!(f.is_fresh_at(polled));
        assert!(f.is_fresh_at(polled + Duration::from_millis(48)));
        assert!(!f.is_fresh_at(polled + Duration::from_millis(51)));
        // A later poll extends it; an earlier one (finishing late) does not
        // shorten it.
        f.confirm(polled + Duration::from_millis(40));
        assert!(f.is_fresh_at(polled + Duration::from_millis(80)));
        f.confirm(polled);
        assert!(f.is_fresh_at(polled + Duration::from_millis(80)));
    }
}
