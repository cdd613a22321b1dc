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

use crate::runtime::packed::{Dictionary, Packed};

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
#[derive(Default)]
struct CenterEntries {
    /// Campaign bodies kept as they are sent.
    campaigns: Map<CampaignId, Rendered>,
    /// Campaign bodies kept packed.
    packed: Map<CampaignId, Packed>,
    lists: Map<Box<str>, Rendered>,
    /// Bytes of all three.
    bytes: usize,
    /// Bytes of `campaigns`.
    plain_bytes: usize,
}

/// Bytes a plain body is charged: its bytes, its tag and about what its
/// map entry and handles take.
fn plain_size(value: &Rendered) -> usize {
    value.body.len() + value.etag.len() + 64
}

/// Bytes a packed body is charged: its own, and its map entry's.
fn packed_size(value: &Packed) -> usize {
    value.size() + size_of::<CampaignId>() + 8
}

/// Bytes freed: in all, and of plain campaign bodies.
#[derive(Clone, Copy)]
struct Freed {
    all: usize,
    plain: usize,
}

impl CenterEntries {
    /// What dropping all of these frees.
    fn freed(&self) -> Freed {
        Freed {
            all: self.bytes,
            plain: self.plain_bytes,
        }
    }

    /// Drops campaign `id`'s body, in either form.
    fn forget_campaign(&mut self, id: CampaignId) -> Freed {
        let plain = self.campaigns.remove(&id).map_or(0, |old| plain_size(&old));
        let packed = self.packed.remove(&id).map_or(0, |old| packed_size(&old));
        self.bytes -= plain + packed;
        self.plain_bytes -= plain;
        Freed {
            all: plain + packed,
            plain,
        }
    }
}

/// Rendered bodies, per contact center, within a byte budget. Campaign
/// bodies, of all centers together, are kept as they are sent until they
/// take an eighth of the budget ([`PLAIN_SHARE`]), and packed after that
/// (`runtime::packed`), so the budget holds about three and a half times
/// as many: a hit on a packed body costs its unpacking, a fraction of a
/// microsecond; a miss, a storage read several times that. A body keeps
/// the form it was cached in: moving bodies between forms would free
/// memory of one size and take memory of another, and the allocator would
/// hold both.
pub(crate) struct RenderCache {
    budget: usize,
    used: AtomicUsize,
    /// Bytes of plain campaign bodies.
    plain_used: AtomicUsize,
    generation: AtomicU64,
    hasher: foldhash::fast::RandomState,
    dictionary: Dictionary,
    shards: [Mutex<Shard>; SHARDS],
    fills: [tokio::sync::Mutex<()>; FILL_STRIPES],
}

/// Stripes of [`RenderCache::fill_turn`].
const FILL_STRIPES: usize = 64;

/// The share of the budget plain campaign bodies may take (1 / this):
/// about 3,800 bodies in the default 20 MiB, whichever filled while there
/// was room.
const PLAIN_SHARE: usize = 8;

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

type Shard = Map<ContactCenterId, CenterEntries>;

impl RenderCache {
    /// A cache holding at most about `budget` bytes of bodies.
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            used: AtomicUsize::new(0),
            plain_used: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            hasher: foldhash::fast::RandomState::default(),
            dictionary: Dictionary::new(),
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

    fn lock(&self, center: ContactCenterId) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(self.hasher.hash_one(center) as usize) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation to pass to [`RenderCache::fill`] for a lookup starting now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached body, if any.
    pub(crate) fn get(&self, center: ContactCenterId, slot: Slot<'_>) -> Option<Rendered> {
        let packed = {
            let shard = self.lock(center);
            let entries = shard.get(&center)?;
            match slot {
                Slot::Campaign(id) => match entries.campaigns.get(&id) {
                    Some(plain) => return Some(plain.clone()),
                    None => entries.packed.get(&id)?.clone(),
                },
                Slot::List(query) => return entries.lists.get(query).cloned(),
            }
        };
        // Outside the lock: the handle shares the packed bytes.
        let (body, tag) = packed.unpack(&self.dictionary)?;
        Some(Rendered {
            body: Bytes::from(body),
            etag: HeaderValue::from_bytes(tag).ok()?,
        })
    }

    /// Caches `value` unless an invalidation ran since `generation` was read.
    pub(crate) fn fill(
        &self,
        generation: u64,
        center: ContactCenterId,
        slot: Slot<'_>,
        value: Rendered,
    ) {
        let size = plain_size(&value);
        if size > self.budget / 4 {
            return;
        }
        if let Slot::Campaign(id) = slot
            && self.plain_used.load(Ordering::Relaxed) + size > self.budget / PLAIN_SHARE
        {
            return self.fill_packed(generation, center, id, &value);
        }
        let mut shard = self.lock(center);
        // Checked under the shard lock, which invalidation also takes.
        if self.generation.load(Ordering::Acquire) != generation
            || !self.make_room(&mut shard, center, size)
        {
            return;
        }
        let entries = shard.entry(center).or_default();
        let freed = match slot {
            Slot::List(query) => {
                let all = entries
                    .lists
                    .insert(query.into(), value)
                    .map_or(0, |old| plain_size(&old));
                entries.bytes -= all;
                Freed { all, plain: 0 }
            }
            Slot::Campaign(id) => {
                let freed = entries.forget_campaign(id);
                entries.campaigns.insert(id, value);
                entries.plain_bytes += size;
                self.plain_used.fetch_add(size, Ordering::Relaxed);
                freed
            }
        };
        entries.bytes += size;
        self.used.fetch_add(size, Ordering::Relaxed);
        self.release(freed);
    }

    /// [`RenderCache::fill`] of a campaign body kept packed. Packing takes
    /// a microsecond or so: it is done only once room for it is likely, and
    /// outside the shard's lock.
    fn fill_packed(
        &self,
        generation: u64,
        center: ContactCenterId,
        id: CampaignId,
        value: &Rendered,
    ) {
        let likely = value.body.len() / 3 + size_of::<Packed>();
        if self.generation.load(Ordering::Acquire) != generation
            || !self.make_room(&mut self.lock(center), center, likely)
        {
            return;
        }
        let Some(packed) = Packed::pack(&value.body, value.etag.as_bytes(), &self.dictionary)
        else {
            return;
        };
        let size = packed_size(&packed);
        let mut shard = self.lock(center);
        if self.generation.load(Ordering::Acquire) != generation
            || !self.make_room(&mut shard, center, size)
        {
            return;
        }
        let entries = shard.entry(center).or_default();
        let freed = entries.forget_campaign(id);
        entries.packed.insert(id, packed);
        entries.bytes += size;
        self.used.fetch_add(size, Ordering::Relaxed);
        self.release(freed);
    }

    /// Evicts until `size` more bytes fit; false if they cannot. Only other
    /// contact centers' entries are evicted, a center at a time: from this
    /// shard if it has one (`HashMap` order is arbitrary, as good as random
    /// here), else from any shard not locked right now (never wait on a
    /// second lock: that could deadlock with another fill).
    fn make_room(&self, shard: &mut Shard, center: ContactCenterId, size: usize) -> bool {
        while self.used.load(Ordering::Relaxed) + size > self.budget {
            if let Some(victim) = shard.keys().find(|c| **c != center).copied() {
                let gone = shard.remove(&victim).expect("key just seen");
                self.release(gone.freed());
                continue;
            }
            let evicted = self.shards.iter().any(|other| {
                let Ok(mut other) = other.try_lock() else {
                    return false;
                };
                let Some(victim) = other.keys().next().copied() else {
                    return false;
                };
                let gone = other.remove(&victim).expect("key just seen");
                self.release(gone.freed());
                true
            });
            if !evicted {
                return false;
            }
        }
        true
    }

    /// Takes bytes no longer cached off the totals.
    fn release(&self, freed: Freed) {
        self.used.fetch_sub(freed.all, Ordering::Relaxed);
        self.plain_used.fetch_sub(freed.plain, Ordering::Relaxed);
    }

    /// Drops one campaign's body and every list of its center.
    pub(crate) fn invalidate_campaign(&self, center: ContactCenterId, id: CampaignId) {
        let mut shard = self.lock(center);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = shard.get_mut(&center) {
            let mut freed = entries.forget_campaign(id);
            let lists: usize = entries.lists.drain().map(|(_, old)| plain_size(&old)).sum();
            entries.bytes -= lists;
            freed.all += lists;
            self.release(freed);
        }
    }

    /// Drops everything cached for a center.
    pub(crate) fn invalidate_center(&self, center: ContactCenterId) {
        let mut shard = self.lock(center);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(gone) = shard.remove(&center) {
            self.release(gone.freed());
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            self.generation.fetch_add(1, Ordering::AcqRel);
            for (_, gone) in shard.drain() {
                self.release(gone.freed());
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

    /// A Get campaign body of the usual size, different for each `id`.
    fn body(id: i64) -> Vec<u8> {
        format!(
            r#"{{"campaign":{{"id":{id},"name":"Outbound {id}","status":"paused","strategy":"simple","dial_level":1.5,"dial_level_override":null,"max_dial_time":60,"max_wait_time":5,"max_dial_attempts":3,"amd_enabled":false,"amd_voicemail_message":null,"caller_id_sets":[{{"phone_numbers":["1415555{id:04}"]}}],"use_local_caller_id":false,"asr_optimization_enabled":false,"follow_up_mode":null,"created_at":"2026-02-01T09:00:00.000Z","updated_at":"2026-02-01T09:00:00.000Z"}}}}"#
        )
        .into_bytes()
    }

    impl RenderCache {
        /// How many of `center`'s campaign bodies are plain, and packed.
        fn forms(&self, center: ContactCenterId) -> (usize, usize) {
            self.lock(center)
                .get(&center)
                .map_or((0, 0), |e| (e.campaigns.len(), e.packed.len()))
        }

        /// Checks every byte count against the entries themselves.
        fn check_counts(&self) {
            let (mut total, mut plain) = (0, 0);
            for shard in &self.shards {
                for (center, e) in shard.lock().unwrap().iter() {
                    let bytes = e.campaigns.values().map(plain_size).sum::<usize>()
                        + e.packed.values().map(packed_size).sum::<usize>()
                        + e.lists.values().map(plain_size).sum::<usize>();
                    assert_eq!(e.bytes, bytes, "center {center:?}");
                    let plain_bytes = e.campaigns.values().map(plain_size).sum::<usize>();
                    assert_eq!(e.plain_bytes, plain_bytes, "center {center:?}");
                    total += bytes;
                    plain += plain_bytes;
                }
            }
            assert_eq!(self.used(), total);
            assert_eq!(self.plain_used.load(Ordering::Relaxed), plain);
            // Exact only without concurrent fills, which may each pass the
            // share's unlocked check: these tests fill from one thread.
            assert!(plain <= self.budget / PLAIN_SHARE, "{plain} plain");
            assert!(total <= self.budget, "{total} over {}", self.budget);
        }
    }

    /// Fills center 1's campaigns `ids` with their [`body`], each at the
    /// current generation.
    fn fill_bodies(cache: &RenderCache, ids: std::ops::RangeInclusive<i64>) {
        for i in ids {
            cache.fill(
                cache.generation(),
                center(1),
                Slot::Campaign(campaign(i)),
                Rendered::new(body(i)),
            );
            assert!(cache.used() <= cache.budget, "{} after {i}", cache.used());
        }
    }

    #[test]
    fn a_small_working_set_stays_plain() {
        let cache = RenderCache::new(1 << 20);
        fill_bodies(&cache, 1..=100);
        assert_eq!(cache.forms(center(1)), (100, 0));
    }

    #[test]
    fn bodies_that_do_not_fit_plain_are_packed_and_come_back_whole() {
        let cache = RenderCache::new(200_000);
        fill_bodies(&cache, 1..=2000);
        cache.check_counts();
        // Kept plain, about 370 would fit.
        let (plain, packed) = cache.forms(center(1));
        assert!(plain + packed > 1000, "{plain} plain and {packed} packed");
        // Every body held is served, whole, with its tag.
        let mut hits = 0;
        for i in 1..=2000 {
            if let Some(hit) = cache.get(center(1), Slot::Campaign(campaign(i))) {
                assert_eq!(&hit.body[..], body(i), "campaign {i}");
                assert_eq!(hit.etag, Rendered::new(body(i)).etag, "campaign {i}");
                hits += 1;
            }
        }
        assert_eq!(hits, plain + packed);
    }

    #[test]
    fn a_packed_fill_after_an_invalidation_is_dropped() {
        let cache = RenderCache::new(20_000);
        let fill = |generation, id| {
            cache.fill(
                generation,
                center(1),
                Slot::Campaign(campaign(id)),
                Rendered::new(body(id)),
            );
        };
        fill_bodies(&cache, 1..=200);
        assert!(cache.forms(center(1)).1 > 0, "some are packed");
        // The budget is full: the write that drops campaign 1 makes room.
        assert!(cache.get(center(1), Slot::Campaign(campaign(1))).is_some());
        let generation = cache.generation();
        cache.invalidate_campaign(center(1), campaign(1));
        fill(generation, 500);
        assert!(
            cache
                .get(center(1), Slot::Campaign(campaign(500)))
                .is_none()
        );
        fill(cache.generation(), 500);
        assert_eq!(
            &cache
                .get(center(1), Slot::Campaign(campaign(500)))
                .unwrap()
                .body[..],
            body(500)
        );
    }

    #[test]
    fn byte_counts_stay_exact_through_any_sequence() {
        let cache = RenderCache::new(30_000);
        // A fixed pseudo-random sequence (xorshift), so a failure repeats.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for step in 0..20_000 {
            let c = center(next(3) as i64 + 1);
            let id = next(300) as i64 + 1;
            match next(100) {
                0..70 => {
                    // Now and then a changed body for the same id.
                    let version = id + 1000 * next(2) as i64;
                    cache.fill(
                        cache.generation(),
                        c,
                        Slot::Campaign(campaign(id)),
                        Rendered::new(body(version)),
                    );
                }
                70..80 => cache.fill(
                    cache.generation(),
                    c,
                    Slot::List("limit=100"),
                    Rendered::new(vec![b'l'; 500]),
                ),
                80..95 => cache.invalidate_campaign(c, campaign(id)),
                95..99 => cache.invalidate_center(c),
                _ => cache.clear(),
            }
            if step % 97 == 0 {
                cache.check_counts();
            }
        }
        cache.check_counts();
        cache.clear();
        assert_eq!(cache.used(), 0);
        assert_eq!(cache.plain_used.load(Ordering::Relaxed), 0);
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
