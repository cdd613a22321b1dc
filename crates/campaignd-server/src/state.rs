//! The application state: everything a request may touch, and every
//! operation on it that more than one route needs (bounded storage calls,
//! key lookup, the cached read paths, key-use flushing).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use campaignd_model::{ApiKeyToken, CampaignId, CampaignView, ContactCenterId, KeyHasher};
use campaignd_store::{CampaignFilter, KeyGrant, Page, Store, StoreError};

use crate::runtime::cache::{Caches, Rendered, Slot};
use crate::runtime::emulator::{Emulator, EmulatorConfig};
use crate::runtime::import_claims::ImportClaims;
use crate::runtime::key_use::KeyUse;
use crate::runtime::metrics::{CacheName, Metrics};
use crate::runtime::ratelimit::{LocalLimiter, Quota, RateLimiter};
use crate::runtime::shared_limit::{RedisLink, SharedLimiter};

/// Settings the request path needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Per-key quota of reads (and per-address, for failed
    /// authentication).
    pub quota: Quota,
    /// Per-key quota of writes and lifecycle actions, a budget apart from
    /// the reads': a burst of writes does not starve a key's reads, nor
    /// the reverse.
    pub write_quota: Quota,
    /// Byte budget of the rendered-body cache.
    pub cache_bytes: usize,
    /// Longest the storage work of a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// This deployment's cluster id, shown in the OpenAPI document.
    pub cluster_id: Option<String>,
    /// Redis, where every node keeps the rate-limit budgets they share;
    /// `None`: each node keeps its own.
    pub redis_url: Option<String>,
    /// Emulator mode (SPEC §12): the control API, faults and the journal;
    /// `None`: none of it exists.
    pub emulator: Option<EmulatorConfig>,
}

/// Everything a request may touch; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<App>);

/// See [`AppState`].
pub(crate) struct App {
    /// The storage backend.
    pub(crate) store: Arc<dyn Store>,
    /// Hashes presented keys for lookup.
    pub(crate) hasher: KeyHasher,
    /// Key grants and rendered bodies, and whether they are current.
    pub(crate) caches: Arc<Caches>,
    /// Per-key and per-address rate limits of reads.
    pub(crate) limiter: Box<dyn RateLimiter>,
    /// Per-key rate limits of writes.
    pub(crate) write_limiter: Box<dyn RateLimiter>,
    /// `RateLimit-Limit` of reads, the same on every read's response.
    pub(crate) limit_header: HeaderValue,
    /// `RateLimit-Limit` of writes.
    pub(crate) write_limit_header: HeaderValue,
    /// Last-use times waiting to be written.
    pub(crate) key_use: KeyUse,
    /// Request counts and latencies for `/metrics`.
    pub(crate) metrics: Metrics,
    /// Lead imports running on this node.
    pub(crate) lead_imports: Arc<ImportClaims>,
    /// Emulator mode's state, when it is on.
    pub(crate) emulator: Option<Emulator>,
    /// The served OpenAPI document, built on first request (it depends
    /// only on the build and the configuration).
    pub(crate) openapi: std::sync::OnceLock<bytes::Bytes>,
    /// Set once a shutdown signal arrives: `/readyz` answers 503 from then
    /// on, while requests are still served.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// Configuration.
    pub(crate) config: AppConfig,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Builds the state over `store`, reading its key secret.
    pub(crate) async fn new(
        store: Arc<dyn Store>,
        config: AppConfig,
    ) -> campaignd_store::Result<Self> {
        let secret = store.server_secret().await?;
        let (limiter, write_limiter): (Box<dyn RateLimiter>, Box<dyn RateLimiter>) = match &config
            .redis_url
        {
            Some(url) => {
                let link = RedisLink::new(url).map_err(campaignd_store::StoreError::Internal)?;
                let deployment = deployment_tag(&secret);
                (
                    Box::new(SharedLimiter::new(
                        config.quota,
                        &deployment,
                        "read",
                        Arc::clone(&link),
                    )),
                    Box::new(SharedLimiter::new(
                        config.write_quota,
                        &deployment,
                        "write",
                        link,
                    )),
                )
            }
            None => (
                Box::new(LocalLimiter::new(config.quota)),
                Box::new(LocalLimiter::new(config.write_quota)),
            ),
        };
        let emulator = config.emulator.as_ref().map(Emulator::new);
        Ok(Self(Arc::new(App {
            emulator,
            hasher: KeyHasher::new(&secret),
            caches: Arc::new(Caches::new(config.cache_bytes)),
            limiter,
            write_limiter,
            limit_header: HeaderValue::from(config.quota.burst.get()),
            write_limit_header: HeaderValue::from(config.write_quota.burst.get()),
            key_use: KeyUse::default(),
            metrics: Metrics::default(),
            lead_imports: Arc::default(),
            openapi: std::sync::OnceLock::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            store,
            config,
        })))
    }

    /// Runs storage call `name` within the request timeout: a store that is
    /// down or too slow is `Unavailable` (503) rather than holding the
    /// request.
    pub(crate) async fn storage<T, E: From<StoreError>>(
        &self,
        name: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        self.storage_by(self.storage_deadline(), name, call).await
    }

    /// When storage work starting now must be done by.
    pub(crate) fn storage_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.config.request_timeout
    }

    /// [`AppState::storage`] against a deadline set earlier, for a request
    /// whose storage work has more than one step (waiting for its turn to
    /// fill a cache entry, then the read).
    pub(crate) async fn storage_by<T, E: From<StoreError>>(
        &self,
        deadline: tokio::time::Instant,
        name: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = tokio::time::Instant::now();
        // Past the deadline, do not start work only to drop it.
        if started >= deadline {
            return Err(StoreError::Unavailable(
                "the request's storage deadline passed before the call".into(),
            )
            .into());
        }
        let result = tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable("storage call timed out".into()).into())
            });
        self.metrics.record_storage(name, started.elapsed());
        result
    }

    /// The grant of a presented key, from the cache or storage. Only what
    /// was once a valid key can be in the cache, so a hit needs no parsing;
    /// anything else must be a well-formed key before it costs an HMAC and
    /// a lookup.
    pub(crate) async fn grant(
        &self,
        presented: &str,
        fresh: bool,
    ) -> Result<Option<KeyGrant>, StoreError> {
        if fresh && let Some(grant) = self.caches.keys.get(presented) {
            self.metrics.record_lookup(CacheName::Keys, true);
            return Ok(Some(grant));
        }
        self.metrics.record_lookup(CacheName::Keys, false);
        let Ok(token) = presented.parse::<ApiKeyToken>() else {
            return Ok(None);
        };
        let generation = self.caches.keys.generation();
        let hash = self.hasher.hash(&token);
        let grant = self
            .storage("authenticate", self.store.authenticate(&hash))
            .await?;
        if let (true, Some(grant)) = (fresh, grant) {
            self.caches.keys.fill(generation, &token, grant);
        }
        Ok(grant)
    }

    /// The rendered `{"campaign": ...}` body, if the campaign exists in
    /// `center`.
    pub(crate) async fn campaign_body(
        &self,
        center: ContactCenterId,
        id: CampaignId,
        fresh: bool,
    ) -> Result<Option<Rendered>, StoreError> {
        let renders = &self.caches.renders;
        if fresh && let Some(hit) = renders.get(center, Slot::Campaign(id)) {
            self.metrics.record_lookup(CacheName::Renders, true);
            return Ok(Some(hit));
        }
        self.metrics.record_lookup(CacheName::Renders, false);
        let generation = renders.generation();
        let Some(body) = self
            .storage(
                "get_campaign_body",
                self.store.get_campaign_body(center, id),
            )
            .await?
        else {
            return Ok(None);
        };
        let rendered = Rendered::new(body);
        if fresh {
            renders.fill(generation, center, Slot::Campaign(id), rendered.clone());
        }
        Ok(Some(rendered))
    }

    /// The rendered list page `{"campaigns": [...], "metadata": {...}}` for
    /// `filter` and `page`; `key` is their canonical form, the page's cache
    /// key. Concurrent misses of one page take turns, so only the first
    /// reads storage.
    pub(crate) async fn campaign_list(
        &self,
        center: ContactCenterId,
        filter: &CampaignFilter,
        page: Page,
        key: &str,
        fresh: bool,
    ) -> Result<Rendered, StoreError> {
        let renders = &self.caches.renders;
        if fresh && let Some(hit) = renders.get(center, Slot::List(key)) {
            self.metrics.record_lookup(CacheName::Renders, true);
            return Ok(hit);
        }
        self.metrics.record_lookup(CacheName::Renders, false);
        // The wait for the turn and the read share the request's storage time.
        let deadline = self.storage_deadline();
        let _turn = if fresh {
            let turn = self
                .storage_by(deadline, "wait_for_fill", async {
                    Ok::<_, StoreError>(renders.fill_turn(center, Slot::List(key)).await)
                })
                .await?;
            if let Some(hit) = renders.get(center, Slot::List(key)) {
                return Ok(hit);
            }
            Some(turn)
        } else {
            None
        };
        let generation = renders.generation();
        let found = self
            .storage_by(
                deadline,
                "list_campaigns",
                self.store.list_campaigns(center, filter, page),
            )
            .await?;
        let mut body = Vec::with_capacity(64 + found.campaigns.len() * 900);
        body.extend_from_slice(br#"{"campaigns":["#);
        for (i, campaign) in found.campaigns.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, &campaign.view(CampaignView::ListItem))
                .map_err(|e| StoreError::Internal(format!("cannot render a campaign: {e}")))?;
        }
        body.extend_from_slice(br#"],"metadata":{"total":"#);
        body.extend_from_slice(found.total.to_string().as_bytes());
        body.extend_from_slice(b"}}");
        let rendered = Rendered::new(body);
        if fresh {
            renders.fill(generation, center, Slot::List(key), rendered.clone());
        }
        Ok(rendered)
    }

    /// Writes the key last-use times noted since the last flush; false if
    /// that failed, and then they are kept for the next flush: a busy lock
    /// loses nothing.
    pub(crate) async fn flush_key_use(&self) -> bool {
        let uses = self.key_use.take();
        if uses.is_empty() {
            return true;
        }
        match self.store.record_key_use(&uses).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, keys = uses.len(), "cannot record key use yet; will retry");
                self.key_use.restore(uses);
                false
            }
        }
    }
}

/// A short name of this deployment, the same on each of its nodes and
/// different from another's: a hash of its key secret, from which the
/// secret cannot be learned.
fn deployment_tag(secret: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::new()
        .chain_update(b"campaignd rate-limit keys\0")
        .chain_update(secret)
        .finalize();
    hash[..6]
        .iter()
        .fold(String::with_capacity(12), |mut tag, b| {
            use std::fmt::Write as _;
            let _ = write!(tag, "{b:02x}");
            tag
        })
}
