//! Application state and the router.

use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use campaignd_model::{ApiKeyId, KeyHasher, Timestamp};
use campaignd_store::Store;

use crate::cache::{Freshness, KeyCache, Map, RenderCache, map};
use crate::error::ApiError;
use crate::handlers;
use crate::metrics::Metrics;
use crate::ratelimit::{LocalLimiter, Quota};

/// Settings the request path needs.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Per-key (and per-address, for failed authentication) quota.
    pub quota: Quota,
    /// Byte budget of the rendered-body cache.
    pub cache_bytes: usize,
    /// Longest the storage work of a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// This deployment's cluster id, shown in the OpenAPI document.
    pub cluster_id: Option<String>,
}

/// Everything a request may touch; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<App>);

/// See [`AppState`].
pub struct App {
    /// The storage backend.
    pub store: Arc<dyn Store>,
    /// Hashes presented keys for lookup.
    pub hasher: KeyHasher,
    /// Key grants seen recently.
    pub keys: KeyCache,
    /// Rendered bodies.
    pub renders: RenderCache,
    /// Whether the caches are known to be current.
    pub freshness: Freshness,
    /// Per-key and per-address rate limits.
    pub limiter: LocalLimiter,
    /// Last-use times waiting to be written.
    pub key_use: KeyUse,
    /// Request counts and latencies for `/metrics`.
    pub metrics: Metrics,
    /// Configuration.
    pub config: AppConfig,
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
    pub async fn new(store: Arc<dyn Store>, config: AppConfig) -> anyhow::Result<Self> {
        let secret = store.server_secret().await?;
        Ok(Self(Arc::new(App {
            hasher: KeyHasher::new(&secret),
            keys: KeyCache::new(100_000),
            renders: RenderCache::new(config.cache_bytes),
            freshness: Freshness::new(Duration::from_secs(1)),
            limiter: LocalLimiter::new(config.quota),
            key_use: KeyUse::default(),
            metrics: Metrics::default(),
            store,
            config,
        })))
    }
}

/// Batches "key last used" times so authentication never writes.
#[derive(Debug)]
pub struct KeyUse(Mutex<Map<ApiKeyId, Timestamp>>);

impl Default for KeyUse {
    fn default() -> Self {
        Self(Mutex::new(map()))
    }
}

impl KeyUse {
    /// Notes that `key` was used now.
    pub fn record(&self, key: ApiKeyId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Timestamp::now());
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<(ApiKeyId, Timestamp)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect()
    }
}

/// Every route served, as `(method, path)`; the OpenAPI document must list
/// exactly these (a test checks).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v4/campaigns"),
    ("get", "/api/v4/campaigns/{campaign_id}"),
    ("get", "/api/v4/openapi.json"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/readyz"),
];

/// What the access log says of a response beyond its status: the route
/// template, and the key that authenticated it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The route template, e.g. `/api/v4/campaigns/{campaign_id}`.
    pub template: &'static str,
    /// The authenticating key's id, if a key authenticated.
    pub key: Option<ApiKeyId>,
}

impl Route {
    /// A route answered without a key.
    pub const fn open(template: &'static str) -> Self {
        Self {
            template,
            key: None,
        }
    }
}

impl AppState {
    /// Runs a storage call within the request timeout: a store that is down
    /// or too slow answers 503 rather than holding the request.
    pub async fn storage<T>(
        &self,
        call: impl Future<Output = Result<T, campaignd_store::StoreError>>,
    ) -> Result<T, ApiError> {
        self.storage_by(self.storage_deadline(), call).await
    }

    /// When storage work starting now must be done by.
    pub fn storage_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.config.request_timeout
    }

    /// [`AppState::storage`] against a deadline set earlier, for a request
    /// whose storage work has more than one step (waiting for its turn to
    /// fill a cache entry, then the read).
    pub async fn storage_by<T>(
        &self,
        deadline: tokio::time::Instant,
        call: impl Future<Output = Result<T, campaignd_store::StoreError>>,
    ) -> Result<T, ApiError> {
        // Past the deadline, do not start work only to drop it.
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!("storage deadline passed before the call");
            return Err(ApiError::Unavailable);
        }
        if let Ok(result) = tokio::time::timeout_at(deadline, call).await {
            Ok(result?)
        } else {
            tracing::warn!("storage call timed out");
            Err(ApiError::Unavailable)
        }
    }
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

/// The routes, each answering for itself; [`crate::front::Front`] puts the
/// request id, panic safety and access log around them (and calls the read
/// handlers directly for `GET`).
pub fn router(app: AppState) -> Router {
    Router::new()
        .route(
            "/api/v4/campaigns",
            get(handlers::campaigns::list_campaigns),
        )
        .route(
            "/api/v4/campaigns/{campaign_id}",
            get(handlers::campaigns::get_campaign),
        )
        .route("/api/v4/openapi.json", get(handlers::openapi::openapi_json))
        .route("/healthz", get(handlers::health::healthz))
        .route("/readyz", get(handlers::health::readyz))
        .route("/metrics", get(handlers::health::metrics))
        .fallback(not_found)
        .with_state(app)
}
