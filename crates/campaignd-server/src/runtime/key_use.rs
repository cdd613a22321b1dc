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

    /// Takes everything recorded so far.
    pub(crate) fn take(&self) -> Vec<(ApiKeyId, Timestamp)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect()
    }
}
