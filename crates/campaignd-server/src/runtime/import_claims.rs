//! Lead imports running on this node, by campaign (SPEC §10: an import into
//! a campaign that already has one running is refused, not queued).
//!
//! A claim is taken as soon as a request is authorised, before its body is
//! read, and held until its write has finished: "running" covers the
//! upload and the parse as well as the commit, and a write still queued
//! when its caller was answered 503 holds the campaign until it is done.
//! A claim is owned, so the task that finishes such a write can keep it.
//!
//! Nodes sharing a store also claim the campaign through it
//! ([`ImportClaims::claim_everywhere`]), after the node's own claim, so an
//! import through one node refuses a second through another.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use campaignd_model::{CampaignId, ContactCenterId};
use campaignd_store::Store;

type Key = (ContactCenterId, CampaignId);

/// The campaigns with an import running here, and how many of those hold
/// their campaign everywhere (the claim through the store taken too).
#[derive(Debug, Default)]
pub(crate) struct ImportClaims(Mutex<HashSet<Key>>, Arc<AtomicUsize>);

/// Counts an import as running while it lives.
#[derive(Debug)]
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

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

    /// How many imports run here holding their campaign everywhere.
    pub(crate) fn running(&self) -> usize {
        self.1.load(Ordering::Relaxed)
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

/// A running import's hold on its campaign here and through the store.
/// [`SharedClaim::release`] ends it; dropped unreleased (an early answer),
/// the store's claim is released by a task of its own.
pub(crate) struct SharedClaim {
    /// Dropped after the store's claim is released, so no import on this
    /// node meets a claim of its own node in the store.
    local: Option<ImportClaim>,
    store: Arc<dyn Store>,
    holder: Option<i64>,
    /// Set once the claim holds everywhere.
    running: Option<Running>,
}

impl ImportClaims {
    /// Claims the campaign here, then for every node through `store`, for
    /// at most `ttl`; `None` if an import holds it anywhere.
    pub(crate) async fn claim_everywhere(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        center: ContactCenterId,
        campaign: CampaignId,
        ttl: Duration,
    ) -> campaignd_store::Result<Option<SharedClaim>> {
        let Some(local) = self.claim(center, campaign) else {
            return Ok(None);
        };
        let holder = new_holder();
        // Built before the store is asked: if this future is dropped once
        // the claim has committed (a timeout, a client gone), dropping it
        // releases the claim.
        let mut claim = SharedClaim {
            local: Some(local),
            store: Arc::clone(store),
            holder: Some(holder),
            running: None,
        };
        if !store
            .claim_lead_import(center, campaign, holder, ttl)
            .await?
        {
            claim.holder = None;
            return Ok(None);
        }
        self.1.fetch_add(1, Ordering::Relaxed);
        claim.running = Some(Running(Arc::clone(&self.1)));
        Ok(Some(claim))
    }
}

impl std::fmt::Debug for SharedClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedClaim")
            .field("local", &self.local)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl SharedClaim {
    /// Ends the claim everywhere. Forgotten only once the store has let go
    /// of it: if this is dropped first, or the store fails or takes longer
    /// than a second, dropping the claim tries again in the background.
    pub(crate) async fn release(mut self) {
        let Some(holder) = self.holder else { return };
        let (center, campaign) = self.local.as_ref().expect("held until dropped").key;
        let release = self.store.release_lead_import(center, campaign, holder);
        match tokio::time::timeout(RELEASE_WAIT, release).await {
            Ok(Ok(())) => self.holder = None,
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot release a lead import's claim yet"),
            Err(_) => {
                tracing::warn!(
                    "releasing a lead import's claim is slow; retried in the background"
                );
            }
        }
    }
}

impl Drop for SharedClaim {
    fn drop(&mut self) {
        let (Some(holder), Some(local)) = (self.holder.take(), self.local.take()) else {
            return;
        };
        // Outside a runtime (it is shutting down) the claim expires instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let (center, campaign) = local.key;
        runtime.spawn(async move {
            if let Err(e) = store.release_lead_import(center, campaign, holder).await {
                tracing::warn!(error = %e, "a lead import's claim is left to expire");
            }
            drop(local);
        });
    }
}

/// Longest an import's answer waits for its claim's release.
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// A name no other import of any node has: random.
fn new_holder() -> i64 {
    let mut bytes = [0u8; 8];
    // Without randomness, claims still exclude one another; only a claim
    // left to expire could be taken over by a later import with the same
    // name, which a clock-derived name makes as unlikely.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()) as u64)
            .to_ne_bytes();
    }
    i64::from_ne_bytes(bytes)
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
