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
}

/// A limiter's answer, now or later. A boxed future per request (what an
/// `async fn` in a trait object costs) is a measurable share of a cached
/// read, and the local limiter always knows at once.
pub(crate) enum Check<'a> {
    /// Decided.
    Ready(Decision),
    /// To be decided, e.g. by a shared store.
    #[expect(
        dead_code,
        reason = "the shared-store limiter (issue 12) answers later"
    )]
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
        Check::Ready(self.decide(subject, true))
    }

    fn peek(&self, subject: Subject) -> Check<'_> {
        Check::Ready(self.decide(subject, false))
    }

    fn prune(&self) {
        LocalLimiter::prune(self);
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

    fn now_ns(&self) -> u64 {
        // Offset by one interval so a fresh subject's TAT (0) is never ahead.
        self.epoch.elapsed().as_nanos() as u64 + self.tolerance_ns + self.interval_ns
    }

    fn shard(&self, subject: &Subject) -> &Mutex<Map<Subject, u64>> {
        &self.shards[(self.hasher.hash_one(subject) as usize) % SHARDS]
    }

    /// Spends one request of `subject`'s budget if it has one.
    #[cfg(test)]
    pub(crate) fn check(&self, subject: Subject) -> Decision {
        self.decide(subject, true)
    }

    /// Reports `subject`'s budget without spending it.
    #[cfg(test)]
    pub(crate) fn peek(&self, subject: Subject) -> Decision {
        self.decide(subject, false)
    }

    fn decide(&self, subject: Subject, spend: bool) -> Decision {
        let now = self.now_ns();
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

    /// Forgets subjects whose buckets are full again, bounding memory.
    pub(crate) fn prune(&self) {
        let now = self.now_ns();
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
        // One request per 1000 s: nothing refills during the test.
        let l = LocalLimiter::new(Quota {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(5).unwrap(),
        });
        let slow = LocalLimiter {
            interval_ns: 1_000_000_000_000,
            tolerance_ns: 4_000_000_000_000,
            ..l
        };
        let mut remaining = Vec::new();
        for _ in 0..5 {
            let d = slow.check(key(1));
            assert!(d.allowed);
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let refused = slow.check(key(1));
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(refused.retry_after > Duration::from_secs(999));
        // Another subject is unaffected.
        assert!(slow.check(key(2)).allowed);
        assert!(
            slow.check(Subject::Address("127.0.0.1".parse().unwrap()))
                .allowed
        );
    }

    #[test]
    fn peeking_spends_nothing() {
        let l = limiter(1, 2);
        assert_eq!(l.peek(key(1)).remaining, 2);
        assert_eq!(l.peek(key(1)).remaining, 2);
        assert_eq!(l.check(key(1)).remaining, 1);
        assert_eq!(l.peek(key(1)).remaining, 1);
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let l = limiter(1000, 1);
        assert!(l.check(key(1)).allowed);
        let refused = l.check(key(1));
        assert!(!refused.allowed);
        assert!(refused.retry_after <= Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(2));
        assert!(l.check(key(1)).allowed);
    }

    #[test]
    fn prune_forgets_full_buckets_only() {
        let l = limiter(1000, 1);
        l.check(key(1));
        std::thread::sleep(Duration::from_millis(3));
        l.check(key(2));
        l.prune();
        let kept: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert_eq!(kept, 1);
    }
}
