//! campaignd's storage: one trait per resource (contact centers, keys,
//! campaigns and their writes, imports, the audit trail, the change feed),
//! [`Store`] for all of them, and the backends.
//!
//! Callers (the server, the admin CLI) hold an `Arc<dyn Store>` and never see
//! SQL or a driver error: every backend maps its failures onto [`StoreError`],
//! and campaign writes answer typed outcomes ([`WriteError`]). A test double
//! implements only the traits its code under test uses.
//! The SQLite backend ([`SqliteStore`]) is the embedded default; a PostgreSQL
//! backend implements the same trait. [`contract`] holds the behaviour every
//! backend must show, written once and run against each.

use std::sync::Arc;

use campaignd_model::{
    ApiKeyId, ApiKeyToken, Campaign, CampaignDocument, CampaignId, ContactCenterId,
    ContactCenterName, KeyHash, KeyHasher, Method, Scopes, Status, Strategy, Timestamp,
};

mod audit;
pub mod contract;
mod postgres;
mod rules;
pub mod snapshot;
mod sqlite;
mod store;
pub mod transfer;
mod write;

pub use audit::{AuditAction, AuditQuery, AuditRecord};
pub use postgres::PostgresStore;
pub use sqlite::{DEFAULT_READERS, SqliteStore};
pub use store::{
    AuditStore, CampaignStore, CampaignWrites, CenterStore, ChangeFeed, ImportStore, KeyStore,
    LeadStore, ResetStore, Store, TransferStore, Upkeep, UserStore,
};
pub use write::{WriteContext, WriteError, Written};

/// The storage traits, unnamed, for `use campaignd_store::prelude::*`: code
/// that holds a [`Store`] calls methods of all of them.
pub mod prelude {
    pub use crate::store::{
        AuditStore as _, CampaignStore as _, CampaignWrites as _, CenterStore as _,
        ChangeFeed as _, ImportStore as _, KeyStore as _, LeadStore as _, ResetStore as _,
        TransferStore as _, Upkeep as _, UserStore as _,
    };
}

/// How long the change log keeps a change: far longer than a node may lag
/// and still trust its caches (a node that could not follow the log for a
/// while starts them afresh).
pub const CHANGE_RETENTION: std::time::Duration = std::time::Duration::from_hours(1);

/// Most active (unrevoked) API keys one contact center may hold.
pub const MAX_ACTIVE_KEYS: usize = 50;

/// Everything a store operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
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

/// One page of users and the size of the whole set.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    /// The users of the page, by id ascending.
    pub users: Vec<campaignd_model::User>,
    /// Every user of the set.
    pub total: u64,
}

/// A page of a campaign's leads.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadPage {
    /// The leads of the page, by priority, then import order.
    pub leads: Vec<campaignd_model::LeadRecord>,
    /// Every lead of the campaign.
    pub total: u64,
}

/// What an import did with its valid leads, each list in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadsImported {
    /// Numbers now in the campaign.
    pub created: Vec<campaignd_model::PhoneNumber>,
    /// Numbers the campaign already held, or that came earlier in the
    /// import.
    pub duplicates: Vec<campaignd_model::PhoneNumber>,
}

/// One record of a user import, with its zero-based position (which
/// problems name).
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// Position in the import.
    pub index: usize,
    /// The user to write.
    pub document: campaignd_model::UserDocument,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Campaigns written.
    pub imported: usize,
    /// Smallest and largest id written, if any.
    pub id_range: Option<(CampaignId, CampaignId)>,
}

/// Records per [`ImportStore::stage_import`] batch that [`ImportStore::import_campaigns`]
/// and the CLI send: a batch is one transaction, which other writers wait
/// behind, so it is kept to tens of milliseconds.
pub const IMPORT_BATCH: usize = 1000;

/// An import in progress, from [`ImportStore::begin_import`].
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
    /// Everything changed: an emulator reset put every table back.
    Reset,
}

/// A position in the change log: from [`ChangeFeed::latest_change`], or
/// the `next` of a [`ChangeBatch`]. Only the backend that made it reads
/// it: SQLite counts changes, PostgreSQL (whose sequence numbers commit out
/// of order) keeps the snapshot of the last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeCursor(pub(crate) CursorAt);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CursorAt {
    /// Before every change.
    Origin,
    /// After the change with this sequence number (SQLite).
    Seq(i64),
    /// After every change visible in this `pg_snapshot` (PostgreSQL).
    Snapshot(String),
}

impl ChangeCursor {
    /// Before every change: reading from here returns the whole log.
    pub fn origin() -> Self {
        Self(CursorAt::Origin)
    }
}

/// What [`ChangeFeed::changes_since`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The changes, oldest first. A change may be repeated in the next
    /// batch only if this one was `truncated`.
    pub changes: Vec<Change>,
    /// Where to read from next.
    pub next: ChangeCursor,
    /// More changes were waiting than the limit allowed. A caller that
    /// cannot afford to read on should start afresh from
    /// [`ChangeFeed::latest_change`].
    pub truncated: bool,
}

/// Issues a new API key for a contact center: generates it, stores only its
/// hash under the deployment's secret, and returns the key (to be shown
/// once) with its stored description.
pub async fn issue_api_key(
    store: &dyn KeyStore,
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

/// Migrations applied by [`Upkeep::migrate`].
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
