//! campaignd's storage: the [`Store`] trait, one method per use case, and its
//! backends.
//!
//! Callers (the server, the admin CLI) hold an `Arc<dyn Store>` and never see
//! SQL or a driver error: every backend maps its failures onto [`StoreError`].
//! The SQLite backend ([`SqliteStore`]) is the embedded default; a PostgreSQL
//! backend implements the same trait. [`contract`] holds the behaviour every
//! backend must show, written once and run against each.

use std::sync::Arc;

use async_trait::async_trait;
use campaignd_model::{
    ApiKeyId, ApiKeyToken, Campaign, CampaignDocument, CampaignId, ContactCenterId,
    ContactCenterName, KeyHash, KeyHasher, Method, SERVER_SECRET_LEN, Scopes, Status, Strategy,
    Timestamp,
};

pub mod contract;
mod sqlite;

pub use sqlite::{DEFAULT_READERS, SqliteStore};

/// Most active (unrevoked) API keys one contact center may hold.
pub const MAX_ACTIVE_KEYS: usize = 50;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A contact center with this name exists already.
    #[error("a contact center named {0:?} already exists")]
    CenterExists(String),
    /// The contact center holds [`MAX_ACTIVE_KEYS`] active keys already.
    #[error("the contact center already has {MAX_ACTIVE_KEYS} active API keys; revoke one first")]
    KeyLimit,
    /// An import was refused; nothing of it is visible.
    #[error("{} record(s) conflict with each other or with existing campaigns", .0.len())]
    ImportRejected(Vec<ImportProblem>),
    /// The database holds a schema newer than this build knows.
    #[error(
        "the database schema is at version {found}, newer than this build's {supported}; upgrade campaignd"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Storage cannot be reached or is locked: worth retrying later (503).
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data (500).
    #[error("storage error: {0}")]
    Internal(String),
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One reason an import record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    /// Zero-based position of the record in the import.
    pub index: usize,
    /// The field at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// A contact center, with counts for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCenter {
    /// Its id.
    pub id: ContactCenterId,
    /// Its unique name.
    pub name: ContactCenterName,
    /// When it was created.
    pub created_at: Timestamp,
    /// Campaigns it holds.
    pub campaigns: u64,
    /// Unrevoked API keys.
    pub active_keys: u64,
}

/// An API key to store: only its hash and last 4 characters.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The contact center it acts for.
    pub contact_center_id: ContactCenterId,
    /// A label for people.
    pub name: Option<String>,
    /// The keyed hash of the key.
    pub hash: KeyHash,
    /// The key's last 4 characters, for listings.
    pub last4: String,
    /// What it may do.
    pub scopes: Scopes,
}

/// An API key as listings show it. Never holds the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Its id.
    pub id: ApiKeyId,
    /// The contact center it acts for.
    pub contact_center_id: ContactCenterId,
    /// A label for people.
    pub name: Option<String>,
    /// The key's last 4 characters.
    pub last4: String,
    /// What it may do.
    pub scopes: Scopes,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// When it last authenticated a request, as last recorded.
    pub last_used_at: Option<Timestamp>,
}

/// What an active key authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGrant {
    /// The key's id (for logs and audit; never the key).
    pub key_id: ApiKeyId,
    /// The contact center it acts for.
    pub contact_center_id: ContactCenterId,
    /// What it may do.
    pub scopes: Scopes,
}

/// The list filters of SPEC §5. `None` means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignFilter {
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    /// Exact status.
    pub status: Option<Status>,
    /// Exact strategy.
    pub strategy: Option<Strategy>,
    /// Exact method.
    pub method: Option<Method>,
    /// Exact `live` flag.
    pub live: Option<bool>,
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most items to return.
    pub limit: u32,
    /// Items to skip.
    pub offset: u64,
}

impl Page {
    /// The largest page the API serves.
    pub const MAX_LIMIT: u32 = 100;
}

impl Default for Page {
    /// The API's default page: the first 100, as large as a page gets.
    fn default() -> Self {
        Self {
            limit: Self::MAX_LIMIT,
            offset: 0,
        }
    }
}

/// One page of campaigns and the size of the whole filtered set.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignPage {
    /// The campaigns of the page, by id ascending.
    pub campaigns: Vec<Campaign>,
    /// Every campaign matching the filter.
    pub total: u64,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Campaigns written.
    pub imported: usize,
    /// Smallest and largest id written, if any.
    pub id_range: Option<(CampaignId, CampaignId)>,
}

/// Records per [`Store::stage_import`] batch that [`Store::import_campaigns`]
/// and the CLI send: a batch is one transaction, which other writers wait
/// behind, so it is kept to tens of milliseconds.
pub const IMPORT_BATCH: usize = 1000;

/// An import in progress, from [`Store::begin_import`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImportId(pub i64);

impl std::fmt::Display for ImportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One record of an import, with its zero-based position in the whole
/// import (which problems name).
#[derive(Debug, Clone)]
pub struct ImportRecord {
    /// Position in the import.
    pub index: usize,
    /// The campaign to write.
    pub document: CampaignDocument,
}

/// Called with the number of records handled so far during long operations.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// A committed write that may invalidate what a node caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// One campaign changed.
    Campaign(ContactCenterId, CampaignId),
    /// Any number of a contact center's campaigns changed (bulk import).
    Campaigns(ContactCenterId),
    /// An API key changed (revoked).
    ApiKey(ApiKeyId),
}

/// Issues a new API key for a contact center: generates it, stores only its
/// hash under the deployment's secret, and returns the key (to be shown
/// once) with its stored description.
pub async fn issue_api_key(
    store: &dyn Store,
    center: ContactCenterId,
    name: Option<String>,
    scopes: Scopes,
) -> Result<(ApiKeyToken, ApiKeyInfo)> {
    let secret = store.server_secret().await?;
    let token = ApiKeyToken::generate();
    let info = store
        .create_api_key(NewApiKey {
            contact_center_id: center,
            name,
            hash: KeyHasher::new(&secret).hash(&token),
            last4: token.last4().to_owned(),
            scopes,
        })
        .await?;
    Ok((token, info))
}

/// Migrations applied by [`Store::migrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this call, oldest first.
    pub applied: Vec<i64>,
    /// The schema version now in place.
    pub current: i64,
}

/// What storage occupies on disk, for `/metrics`; `None` where a backend
/// cannot tell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The database's bytes.
    pub database_bytes: Option<u64>,
    /// The write-ahead log's bytes (SQLite).
    pub wal_bytes: Option<u64>,
}

/// campaignd's storage, one method per use case.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Brings the schema up to date. Safe to call on every start.
    async fn migrate(&self) -> Result<MigrationReport>;

    /// Succeeds if storage answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// The deployment's secret for hashing API keys, created on first use.
    async fn server_secret(&self) -> Result<[u8; SERVER_SECRET_LEN]>;

    /// Creates a contact center; its name must be new.
    async fn create_contact_center(&self, name: &ContactCenterName) -> Result<ContactCenter>;

    /// The contact center with this name.
    async fn contact_center_by_name(
        &self,
        name: &ContactCenterName,
    ) -> Result<Option<ContactCenter>>;

    /// Every contact center, by id.
    async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>>;

    /// Stores a new key, refusing it if the center already has
    /// [`MAX_ACTIVE_KEYS`] active keys.
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyInfo>;

    /// A contact center's keys, active and revoked, by id.
    async fn list_api_keys(&self, center: ContactCenterId) -> Result<Vec<ApiKeyInfo>>;

    /// Revokes a key. Returns the key and whether this call revoked it
    /// (`false`: it was revoked already).
    async fn revoke_api_key(&self, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)>;

    /// The grant of the active key with this hash, if there is one.
    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<KeyGrant>>;

    /// Records when keys were last used (batched by the caller).
    async fn record_key_use(&self, uses: &[(ApiKeyId, Timestamp)]) -> Result<()>;

    /// One campaign of a contact center.
    async fn get_campaign(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Campaign>>;

    /// The Get campaign response body of one campaign
    /// ([`Campaign::get_body`]), which a backend may keep rendered.
    async fn get_campaign_body(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.get_campaign(center, id).await?.map(|c| c.get_body()))
    }

    /// A page of a contact center's campaigns matching `filter`, by id, with
    /// the total over the whole filtered set.
    async fn list_campaigns(
        &self,
        center: ContactCenterId,
        filter: &CampaignFilter,
        page: Page,
    ) -> Result<CampaignPage>;

    /// Up to `limit` campaigns with ids greater than `after`, by id: the
    /// export walk.
    async fn campaigns_after(
        &self,
        center: ContactCenterId,
        after: Option<CampaignId>,
        limit: u32,
    ) -> Result<Vec<Campaign>>;

    /// Starts an import into a contact center. Its rows are written by
    /// [`Store::stage_import`] in short transactions, so other writes get
    /// through while it runs, and stay invisible until
    /// [`Store::publish_import`]. An import whose process dies before
    /// publishing is removed by a later `begin_import` or
    /// [`Store::maintain`].
    async fn begin_import(&self, center: ContactCenterId) -> Result<ImportId>;

    /// Writes a batch of an import's records in one short transaction.
    /// Given ids, statuses and timestamps are kept; missing ids take the
    /// next free ids in the order staged, missing timestamps the current
    /// time, missing statuses `draft`. A record whose id or name is taken,
    /// or repeats an earlier record's, is refused and not written; the
    /// problems are returned, and an import with any can only be abandoned.
    async fn stage_import(
        &self,
        import: ImportId,
        records: Vec<ImportRecord>,
    ) -> Result<Vec<ImportProblem>>;

    /// Makes every staged row visible at once, in one short commit, then
    /// finishes the import's bookkeeping (reporting progress in rows).
    /// Refused if any record was refused. An import that fails to publish
    /// is still staging and the caller's to abandon.
    async fn publish_import(
        &self,
        import: ImportId,
        progress: Option<Progress>,
    ) -> Result<ImportSummary>;

    /// Deletes an import's staged rows, a short transaction at a time
    /// (reporting progress in rows). Nothing of it was ever visible.
    async fn abandon_import(&self, import: ImportId, progress: Option<Progress>) -> Result<()>;

    /// Imports campaigns all or nothing: stages them in batches, then
    /// publishes them, or abandons the import and returns every problem.
    /// Progress counts records staged.
    async fn import_campaigns(
        &self,
        center: ContactCenterId,
        records: Vec<CampaignDocument>,
        progress: Option<Progress>,
    ) -> Result<ImportSummary> {
        let import = self.begin_import(center).await?;
        let mut problems = Vec::new();
        let mut records = records.into_iter().enumerate().peekable();
        let mut staged = 0u64;
        while records.peek().is_some() {
            let batch: Vec<ImportRecord> = records
                .by_ref()
                .take(IMPORT_BATCH)
                .map(|(index, document)| ImportRecord { index, document })
                .collect();
            staged += batch.len() as u64;
            match self.stage_import(import, batch).await {
                Ok(refused) => problems.extend(refused),
                Err(e) => {
                    // The error is the news; rows left behind are removed
                    // by the next import or upkeep if this fails too.
                    let _ = self.abandon_import(import, None).await;
                    return Err(e);
                }
            }
            if let Some(progress) = &progress {
                progress(staged);
            }
        }
        if !problems.is_empty() {
            self.abandon_import(import, None).await?;
            return Err(StoreError::ImportRejected(problems));
        }
        match self.publish_import(import, None).await {
            Ok(summary) => Ok(summary),
            Err(e) => {
                let _ = self.abandon_import(import, None).await;
                Err(e)
            }
        }
    }

    /// The sequence number of the latest change, so a node can start
    /// watching from now.
    async fn latest_change(&self) -> Result<i64>;

    /// Changes committed after sequence number `after`, oldest first, with
    /// their sequence numbers; at most `limit`.
    async fn changes_since(&self, after: i64, limit: u32) -> Result<Vec<(i64, Change)>>;

    /// What storage occupies on disk.
    async fn footprint(&self) -> Result<Footprint> {
        Ok(Footprint::default())
    }

    /// Upkeep a node runs every second or so. SQLite: a write-ahead log
    /// left large (a rolled-back or killed bulk write) is checkpointed and
    /// truncated.
    async fn maintain(&self) -> Result<()> {
        Ok(())
    }
}
