//! Lead imports running on this node, by campaign (SPEC §10: an import into
//! a campaign that already has one running is refused, not queued).
//!
//! A claim is taken as soon as a request is authorised, before its body is
//! read, and held until its write has finished: "running" covers the
//! upload and the parse as well as the commit, and a write still queued
//! when its caller was answered 503 holds the campaign until it is done.
//! A claim is owned, so the task that finishes such a write can keep it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use campaignd_model::{CampaignId, ContactCenterId};

type Key = (ContactCenterId, CampaignId);

/// The campaigns with an import running here.
#[derive(Debug, Default)]
pub(crate) struct ImportClaims(Mutex<HashSet<Key>>);

/// A running import's hold on its campaign, released when dropped.
#[derive(Debug)]
pub(crate) struct ImportClaim {
    claims: Arc<ImportClaims>,
    key: Key,
}

impl ImportClaims {
    /// Claims the campaign for an import; `None` if one is running.
    pub(crate) fn claim(
        self: &Arc<Self>,
        center: ContactCenterId,
        campaign: CampaignId,
    ) -> Option<ImportClaim> {
        let key = (center, campaign);
        // Not `then_some`: a claim built eagerly and dropped on refusal
        // would free the running import's campaign.
        let free = self.lock().insert(key);
        free.then(|| ImportClaim {
            claims: Arc::clone(self),
            key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Key>> {
        // The set is left consistent by every operation, so a panic while
        // it was held changes nothing.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ImportClaim {
    fn drop(&mut self) {
        self.claims.lock().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_campaign_has_one_claim_at_a_time_and_dropping_frees_it() {
        let claims = Arc::new(ImportClaims::default());
        let (acme, other) = (
            ContactCenterId::new(1).unwrap(),
            ContactCenterId::new(2).unwrap(),
        );
        let one = CampaignId::new(1).unwrap();
        let first = claims.claim(acme, one).expect("free");
        assert!(claims.claim(acme, one).is_none(), "taken");
        assert!(
            claims.claim(acme, one).is_none(),
            "a refused claim leaves the running one in place"
        );
        let elsewhere = claims
            .claim(other, one)
            .expect("another center's campaign 1");
        drop(first);
        assert!(claims.claim(acme, one).is_some(), "freed");
        drop(elsewhere);
    }
}
