//! The storage traits, one per resource, and [`Store`], which is all of
//! them. Code takes the narrowest trait it uses, so a test double
//! implements only that one.

use async_trait::async_trait;
use campaignd_model::{
    Action, CampaignDocument, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId,
    ContactCenterName, Expected, KeyHash, Lead, SERVER_SECRET_LEN, Timestamp, User, UserId,
};

use crate::transfer::{Row, Table};
use crate::{
    ApiKeyId, ApiKeyInfo, AuditQuery, AuditRecord, Campaign, CampaignFilter, CampaignPage,
    ChangeBatch, ChangeCursor, ContactCenter, Footprint, IMPORT_BATCH, ImportId, ImportProblem,
    ImportRecord, ImportSummary, KeyGrant, LeadPage, LeadsImported, MigrationReport, NewApiKey,
    Page, Progress, Result, StoreError, UserPage, UserRecord, WriteContext, WriteError, Written,
};

/// The schema and the upkeep a node runs.
#[async_trait]
pub trait Upkeep: Send + Sync + 'static {
    /// Brings the schema up to date. Safe to call on every start.
    async fn migrate(&self) -> Result<MigrationReport>;

    /// Succeeds if storage answers a trivial query.
    async fn ping(&self) -> Result<()>;

    /// What storage occupies on disk.
    async fn footprint(&self) -> Result<Footprint> {
        Ok(Footprint::default())
    }

    /// Upkeep a node runs every second or so: the change log is pruned of
    /// what no node can still need. SQLite: a write-ahead log left large (a
    /// rolled-back or killed bulk write) is checkpointed and truncated.
    async fn maintain(&self) -> Result<()> {
        Ok(())
    }
}

/// Contact centers.
#[async_trait]
pub trait CenterStore: Send + Sync + 'static {
    /// Creates a contact center; its name must be new.
    async fn create_contact_center(&self, name: &ContactCenterName) -> Result<ContactCenter>;

    /// The contact center with this name.
    async fn contact_center_by_name(
        &self,
        name: &ContactCenterName,
    ) -> Result<Option<ContactCenter>>;

    /// Every contact center, by id.
    async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>>;
}

/// API keys.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// The deployment's secret for hashing API keys, created on first use.
    async fn server_secret(&self) -> Result<[u8; SERVER_SECRET_LEN]>;

    /// Stores a new key, refusing it if the center already has
    /// [`MAX_ACTIVE_KEYS`](crate::MAX_ACTIVE_KEYS) active keys.
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
}

/// Reading campaigns.
#[async_trait]
pub trait CampaignStore: Send + Sync + 'static {
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
}

/// Writing campaigns (SPEC §8). Each write is durable before it answers,
/// and commits, in one transaction, the change, its audit record (SPEC §11)
/// and its change-log row. `expected` is the request's `If-Match`, checked
/// against the current entity tag inside that transaction. A write that
/// fails leaves nothing behind.
#[async_trait]
pub trait CampaignWrites: Send + Sync + 'static {
    /// Creates a `draft` campaign with the next free id; its name must be
    /// new in the center.
    async fn create_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        settings: CampaignSettings,
    ) -> Result<Written, WriteError>;

    /// Applies a merge patch, unless the status forbids it.
    async fn update_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        patch: CampaignPatch,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError>;

    /// Deletes a campaign whose status allows it; answers it as it was.
    /// Its id is never given to another campaign.
    async fn delete_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError>;

    /// Moves a campaign through the lifecycle.
    async fn act_on_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        action: Action,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError>;
}

/// Bulk imports of campaigns (the admin CLI).
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Starts an import into a contact center. Its rows are written by
    /// [`ImportStore::stage_import`] in short transactions, so other writes
    /// get through while it runs, and stay invisible until
    /// [`ImportStore::publish_import`]. An import whose process dies before
    /// publishing is removed by a later `begin_import` or
    /// [`Upkeep::maintain`].
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
}

/// Users of a contact center and their assignments to campaigns (SPEC §9).
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Imports users all or nothing, in one transaction. Given ids are
    /// kept; missing ids take the next free ones in order. An id the center
    /// already has, or one repeated, is refused with every other problem,
    /// and then nothing is imported. Answers how many were imported.
    async fn import_users(
        &self,
        center: ContactCenterId,
        records: Vec<UserRecord>,
        progress: Option<Progress>,
    ) -> Result<u64>;

    /// A page of the center's users, by id, with the total.
    async fn list_users(&self, center: ContactCenterId, page: Page) -> Result<UserPage>;

    /// A page of the users assigned to a campaign, by id; `None` if the
    /// campaign does not exist.
    async fn campaign_users(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<UserPage>>;

    /// Assigns users to a campaign; answers those newly assigned, by id
    /// (ones already assigned are not repeated). Any id that is not a user
    /// of the center refuses the whole request (`Invalid`, keyed
    /// `user_ids`); a `stopping`, `stopped` or `completed` campaign is a
    /// `Conflict`. Audited as `assign_users`.
    async fn assign_users(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        users: Vec<UserId>,
    ) -> Result<Vec<User>, WriteError>;

    /// Removes a user from a campaign and answers the user. `NotFound` if
    /// the campaign or the user does not exist or the user is not
    /// assigned; `Conflict` if it is the last user of an `active`
    /// campaign. Audited as `remove_user`.
    async fn remove_user(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<User, WriteError>;

    /// Deletes a user from the center, and so from every campaign. Answers
    /// whether it existed.
    async fn delete_user(&self, center: ContactCenterId, user: UserId) -> Result<bool>;
}

/// Leads of a campaign (SPEC §10).
#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    /// Imports leads into a campaign in one transaction (all of them or,
    /// if it fails, none): each is created, or is a duplicate if the
    /// campaign holds its number already or an earlier lead of `leads`
    /// has it. Answers both lists in the order given. `NotFound` if the
    /// campaign does not exist; `Conflict` unless it is `live` and not
    /// `stopped` or `completed`. Audited as `import_leads`.
    ///
    /// Imports into one campaign are not refused here: callers serialise
    /// them (SPEC §10) and the store keeps concurrent ones correct.
    async fn import_leads(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        leads: Vec<Lead>,
    ) -> Result<LeadsImported, WriteError>;

    /// Claims a campaign for one import, for every node sharing this
    /// store, until `release_lead_import` or `ttl` (which outlasts any
    /// import, and frees the campaign of a node that died holding it).
    /// `holder` names the import. `false`: another import holds it. A
    /// backend one node serves alone (SQLite) has nothing to share: the
    /// node's own claims are enough, and this always succeeds.
    async fn claim_lead_import(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        holder: i64,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let _ = (center, campaign, holder, ttl);
        Ok(true)
    }

    /// Ends `holder`'s claim on a campaign, if it still has it.
    async fn release_lead_import(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        holder: i64,
    ) -> Result<()> {
        let _ = (center, campaign, holder);
        Ok(())
    }

    /// A page of a campaign's leads, by priority then import order, with
    /// the total; `None` if the campaign does not exist.
    async fn campaign_leads(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<LeadPage>>;
}

/// The audit trail (SPEC §11).
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Records matching `query`, oldest first.
    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
}

/// The log of committed writes that nodes follow to invalidate caches.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Where the log ends now, so a node can start watching from now.
    async fn latest_change(&self) -> Result<ChangeCursor>;

    /// Changes committed after `cursor`, oldest first; at most `limit`.
    /// Changes are kept for [`CHANGE_RETENTION`](crate::CHANGE_RETENTION),
    /// then pruned by [`Upkeep::maintain`].
    async fn changes_since(&self, cursor: &ChangeCursor, limit: u32) -> Result<ChangeBatch>;

    /// Where the backend can say so, a [`Notify`](tokio::sync::Notify)
    /// woken when the log may have grown (PostgreSQL: another node's
    /// `NOTIFY`): a hint to read it before the next poll. Hints may be
    /// lost, so the log is still polled. Call it once, inside the runtime
    /// that will wait on it.
    fn change_hints(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
}

/// Whole-deployment copies between backends (`campaignd copy`; see
/// [`transfer`](crate::transfer)).
#[async_trait]
pub trait TransferStore: Send + Sync + 'static {
    /// Rows in `table` (for a copy, the visible ones).
    async fn count_rows(&self, table: Table) -> Result<u64>;

    /// Up to `limit` rows of `table` whose key (its first
    /// [`Table::key_len`] cells) is greater than `after`'s, in key order.
    async fn read_rows(&self, table: Table, after: Option<Row>, limit: u32) -> Result<Vec<Row>>;

    /// Writes `rows` into `table` as they are, ids included, in one
    /// transaction.
    async fn write_rows(&self, table: Table, rows: Vec<Row>) -> Result<()>;

    /// Once a copy is written: moves id counters past every copied id.
    async fn finish_copy(&self) -> Result<()>;
}

/// Emulator mode's reset (SPEC §12): a store remembers its contents once
/// and is put back to them, whole and at once, on demand.
#[async_trait]
pub trait ResetStore: Send + Sync + 'static {
    /// Remembers every table's present rows as the start state (replacing
    /// any remembered before).
    async fn keep_start_state(&self) -> Result<()>;

    /// Puts every contact center, key, campaign, user, lead and audit
    /// record back to the start state in one transaction (staged imports
    /// go), and records a [`Change::Reset`](crate::Change::Reset) for
    /// every node's caches. Readers see the state before or after, never
    /// between.
    async fn reset_to_start(&self) -> Result<()>;

    /// Empties every table in one transaction (a snapshot is then written
    /// in with [`TransferStore::write_rows`]), recording a reset.
    async fn clear_all(&self) -> Result<()>;
}

/// Everything: what a node or the admin CLI holds.
pub trait Store:
    Upkeep
    + CenterStore
    + KeyStore
    + CampaignStore
    + CampaignWrites
    + ImportStore
    + UserStore
    + LeadStore
    + AuditStore
    + ChangeFeed
    + TransferStore
    + ResetStore
{
}

impl<T> Store for T where
    T: Upkeep
        + CenterStore
        + KeyStore
        + CampaignStore
        + CampaignWrites
        + ImportStore
        + UserStore
        + LeadStore
        + AuditStore
        + ChangeFeed
        + TransferStore
        + ResetStore
{
}
