//! GCRA rate limiting (the token bucket, kept as one timestamp per key).
//!
//! Each key stores its theoretical arrival time (TAT). A request at `now` is
//! admitted if `TAT - now <= tolerance`, where `tolerance = (burst - 1) *
//! interval`; admitting moves TAT one interval on. A fresh key admits exactly
//! `burst` requests at once, then one per interval. Keeping one number per
//! key is what lets the same algorithm run in a shared store when several
//! nodes must share one budget.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use campaignd_model::ApiKeyId;

use crate::runtime::cache::{Map, map};

/// The quota: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests admitted at once from a full bucket.
    pub burst: NonZeroU32,
}

/// The outcome of a check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    /// Whether the request may proceed.
    pub(crate) allowed: bool,
    /// The bucket size (`RateLimit-Limit`).
    pub(crate) limit: u32,
    /// Requests that could be made right now (`RateLimit-Remaining`).
    pub(crate) remaining: u32,
    /// Until the bucket is full again (`RateLimit-Reset`).
    pub(crate) reset: Duration,
    /// Until the next request would be admitted (`Retry-After`), if refused.
    pub(crate) retry_after: Duration,
}

/// Who a budget belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// An authenticated API key.
    Key(ApiKeyId),
    /// A client address whose requests failed authentication.
    Address(IpAddr),
}

/// Where budgets are kept: this process ([`LocalLimiter`]), or a store that
/// several nodes share. A check is a future, since a shared store is a
/// network call away; see [`Check`] for why it is not an `async fn`.
pub(crate) trait RateLimiter: Send + Sync + 'static {
    /// Spends one request of `subject`'s budget if it has one.
    fn check(&self, subject: Subject) -> Check<'_>;
    /// Reports `subject`'s budget without spending it.
    fn peek(&self, subject: Subject) -> Check<'_>;
    /// Forgets budgets that are full again, bounding memory.
    fn prune(&self);
    /// Whether a limiter meant to share budgets with other nodes decides
    /// alone for now (its shared store is unreachable).
    fn fallback(&self) -> bool {
        false
    }
}

/// A limiter's answer, now or later. A boxed future per request (what an
/// `async fn` in a trait object costs) is a measurable share of a cached
/// read, and the local limiter always knows at once.
pub(crate) enum Check<'a> {
    /// Decided.
    Ready(Decision),
    /// To be decided, e.g. by a shared store.
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Decision> + Send + 'a>>),
}

impl std::future::Future for Check<'_> {
    type Output = Decision;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Decision> {
        match self.get_mut() {
            Self::Ready(decision) => std::task::Poll::Ready(*decision),
            Self::Later(future) => future.as_mut().poll(cx),
        }
    }
}

impl RateLimiter for LocalLimiter {
    fn check(&self, subject: Subject) -> Check<'_> {
        Check::Ready(self.decide(subject, true, Instant::now()))
    }

    fn peek(&self, subject: Subject) -> Check<'_> {
        Check::Ready(self.decide(subject, false, Instant::now()))
    }

    fn prune(&self) {
        self.prune_at(Instant::now());
    }
}

const SHARDS: usize = 16;

/// An in-process keyed GCRA limiter.
pub(crate) struct LocalLimiter {
    quota: Quota,
    interval_ns: u64,
    tolerance_ns: u64,
    epoch: Instant,
    hasher: foldhash::fast::RandomState,
    shards: [Mutex<Map<Subject, u64>>; SHARDS],
}

impl std::fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl LocalLimiter {
    /// A limiter granting every subject `quota`.
    pub(crate) fn new(quota: Quota) -> Self {
        let interval_ns = (1_000_000_000 / u64::from(quota.per_second.get())).max(1);
        Self {
            quota,
            interval_ns,
            tolerance_ns: interval_ns * u64::from(quota.burst.get() - 1),
            epoch: Instant::now(),
            // Keyed per process: client addresses are the caller's choice.
            hasher: foldhash::fast::RandomState::default(),
            shards: std::array::from_fn(|_| Mutex::new(map())),
        }
    }

    /// `at` on the limiter's clock: nanoseconds since its epoch, offset by
    /// one interval so a fresh subject's TAT (0) is never ahead. Tests pass
    /// instants of their own; the server passes the present.
    fn ns_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
            + self.tolerance_ns
            + self.interval_ns
    }

    fn shard(&self, subject: &Subject) -> &Mutex<Map<Subject, u64>> {
        &self.shards[(self.hasher.hash_one(subject) as usize) % SHARDS]
    }

    /// Spends one request of `subject`'s budget if it has one, at `at`.
    #[cfg(test)]
    pub(crate) fn check_at(&self, subject: Subject, at: Instant) -> Decision {
        self.decide(subject, true, at)
    }

    /// Reports `subject`'s budget at `at` without spending it.
    #[cfg(test)]
    pub(crate) fn peek_at(&self, subject: Subject, at: Instant) -> Decision {
        self.decide(subject, false, at)
    }

    fn decide(&self, subject: Subject, spend: bool, at: Instant) -> Decision {
        let now = self.ns_at(at);
        let mut shard = self
            .shard(&subject)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let stored = shard.get(&subject).copied().unwrap_or(0);
        let tat = stored.max(now);
        let allow_at = tat.saturating_sub(self.tolerance_ns);
        let allowed = now >= allow_at;
        let new_tat = if allowed && spend {
            tat + self.interval_ns
        } else {
            tat
        };
        if allowed && spend {
            shard.insert(subject, new_tat);
        }
        drop(shard);
        self.decision(now, new_tat, allowed, allow_at.saturating_sub(now))
    }

    fn decision(&self, now: u64, tat: u64, allowed: bool, retry_ns: u64) -> Decision {
        let headroom = (now + self.tolerance_ns + self.interval_ns).saturating_sub(tat);
        Decision {
            allowed,
            limit: self.quota.burst.get(),
            remaining: (headroom / self.interval_ns).min(u64::from(self.quota.burst.get())) as u32,
            reset: Duration::from_nanos(tat.saturating_sub(now)),
            retry_after: Duration::from_nanos(retry_ns),
        }
    }

    /// Forgets subjects whose buckets are full again at `at`, bounding
    /// memory.
    pub(crate) fn prune_at(&self, at: Instant) {
        let now = self.ns_at(at);
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, tat| *tat > now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32) -> LocalLimiter {
        LocalLimiter::new(Quota {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        })
    }

    fn key(id: i64) -> Subject {
        Subject::Key(ApiKeyId::new(id).unwrap())
    }

    #[test]
    fn a_fresh_subject_gets_exactly_its_burst() {
        // Every check at one instant: nothing refills in between.
        let slow = limiter(1, 5);
        let t0 = Instant::now();
        let mut remaining = Vec::new();
        for _ in 0..5 {
            let d = slow.check_at(key(1), t0);
            assert!(d.allowed);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let refused = slow.check_at(key(1), t0);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        // Another subject is unaffected.
        assert!(slow.check_at(key(2), t0).allowed);
        assert!(
            slow.check_at(Subject::Address("127.0.0.1".parse().unwrap()), t0)
                .allowed
        );
    }

    #[test]
    fn peeking_spends_nothing() {
        let l = limiter(1, 2);
        let t0 = Instant::now();
        assert_eq!(l.peek_at(key(1), t0).remaining, 2);
        assert_eq!(l.peek_at(key(1), t0).remaining, 2);
        assert_eq!(l.check_at(key(1), t0).remaining, 1);
        assert_eq!(l.peek_at(key(1), t0).remaining, 1);
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let l = limiter(1000, 1);
        let t0 = Instant::now();
        assert!(l.check_at(key(1), t0).allowed);
        let refused = l.check_at(key(1), t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(1));
        assert!(!l.check_at(key(1), t0 + Duration::from_micros(999)).allowed);
        assert!(l.check_at(key(1), t0 + Duration::from_millis(1)).allowed);
    }

    #[test]
    fn prune_forgets_full_buckets_only() {
        let l = limiter(1000, 1);
        let t0 = Instant::now();
        l.check_at(key(1), t0);
        let later = t0 + Duration::from_millis(3);
        l.check_at(key(2), later);
        // Key 1's bucket refilled 2 ms before `later`; key 2's is still
        // spent.
        l.prune_at(later);
        let kept: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(kept, 1);
    }
}
