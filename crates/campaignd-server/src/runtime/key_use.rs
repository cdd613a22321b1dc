//! Key last-use times, batched so that authentication never writes.

use std::sync::{Mutex, PoisonError};

use campaignd_model::{ApiKeyId, Timestamp};

use crate::runtime::cache::{Map, map};

/// Last-use times noted since the last flush.
#[derive(Debug)]
pub(crate) struct KeyUse(Mutex<Map<ApiKeyId, Timestamp>>);

impl Default for KeyUse {
    fn default() -> Self {
        Self(Mutex::new(map()))
    }
}

impl KeyUse {
    /// Notes that `key` was used now.
    pub(crate) fn record(&self, key: ApiKeyId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Timestamp::now());
    }

    /// Puts back times whose write failed (the lock was busy, storage was
    /// down), so the next flush retries them; a use noted since wins.
    pub(crate) fn restore(&self, uses: Vec<(ApiKeyId, Timestamp)>) {
        let mut noted = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, at) in uses {
            let entry = noted.entry(key).or_insert(at);
            *entry = (*entry).max(at);
        }
    }

    /// Takes everything recorded so far.
    pub(crate) fn take(&self) -> Vec<(ApiKeyId, Timestamp)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_times_are_retried_and_never_move_a_use_back() {
        let uses = KeyUse::default();
        let (a, b) = (ApiKeyId::new(1).unwrap(), ApiKeyId::new(2).unwrap());
        let old = Timestamp::from_unix_millis(1_000).unwrap();
        uses.record(a);
        let taken = uses.take();
        assert!(uses.take().is_empty());
        // a is used again while the write of `taken` fails...
        uses.record(a);
        let newer = uses.take()[0].1;
        uses.record(a);
        // ...and the failed times come back: b's is kept, a's newer one wins.
        uses.restore(vec![(a, old), (b, old)]);
        let mut again = uses.take();
        again.sort_by_key(|(k, _)| k.get());
        assert_eq!(again.len(), 2);
        assert!(again[0].0 == a && again[0].1 >= newer && again[0].1 >= taken[0].1);
        assert_eq!(again[1], (b, old));
    }
}
