//! [`PostgresStore`]'s implementation of the storage traits: each method
//! takes a pooled connection, runs its transaction, and hands the SQL to
//! the resource's module.

use std::sync::Arc;

use async_trait::async_trait;
use campaignd_model::{
    Action, ApiKeyId, Campaign, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId,
    ContactCenterName, Expected, KeyHash, KeyHasher, Lead, SERVER_SECRET_LEN, Timestamp, User,
    UserId,
};
use deadpool_postgres::{GenericClient, Object};
use tokio::sync::Notify;
use tokio_postgres::IsolationLevel;

use super::{
    CENTER_SELECT, PRUNE_BATCH, PostgresStore, audit, campaigns, center_from_row, change_from_row,
    col, imports, keys, leads, migrations, reset, transfer, users, writes,
};
use crate::transfer::{Row, Table};
use crate::{
    ApiKeyInfo, AuditQuery, AuditRecord, AuditStore, CHANGE_RETENTION, CampaignFilter,
    CampaignPage, CampaignStore, CampaignWrites, CenterStore, ChangeBatch, ChangeCursor,
    ChangeFeed, ContactCenter, CursorAt, Footprint, ImportId, ImportProblem, ImportRecord,
    ImportStore, ImportSummary, KeyGrant, KeyStore, LeadPage, LeadStore, LeadsImported,
    MigrationReport, NewApiKey, Page, Progress, ResetStore, Result, StoreError, TransferStore,
    Upkeep, UserPage, UserRecord, UserStore, WriteContext, WriteError, Written,
};

/// Runs `$body` in a transaction on `$conn` (a connection), bound to
/// `$tx`, and commits it; an early return through `?` drops the
/// transaction, which rolls it back.
macro_rules! transaction {
    ($conn:expr, |$tx:ident| $body:expr) => {{
        let conn = &mut $conn;
        let $tx = conn.transaction().await.map_err(StoreError::from)?;
        let value = $body;
        $tx.commit().await.map_err(StoreError::from)?;
        value
    }};
    // A write that may record a change: once it commits, the other nodes
    // are hinted to read the change log.
    ($store:ident => $conn:expr, |$tx:ident| $body:expr) => {{
        let value = transaction!($conn, |$tx| $body);
        $store.inner.hints.committed();
        value
    }};
}

impl PostgresStore {
    /// Takes the connection of one of our imports out of the map for a
    /// call; [`PostgresStore::keep_import`] puts it back.
    fn take_import(&self, import: ImportId) -> Result<Object> {
        self.imports().remove(&import).ok_or_else(|| {
            StoreError::Internal(format!(
                "import {import} was not begun by this store, or is finished"
            ))
        })
    }

    fn keep_import(&self, import: ImportId, conn: Object) {
        self.imports().insert(import, conn);
    }

    /// Lets go of a finished import's lock and its connection. A
    /// connection that cannot unlock is closed, which unlocks it.
    async fn release_import(&self, import: ImportId, conn: Object) {
        if imports::unlock(&conn, import).await.is_err() {
            drop(Object::take(conn));
        }
    }
}

#[async_trait]
impl Upkeep for PostgresStore {
    async fn migrate(&self) -> Result<MigrationReport> {
        let mut conn = self.conn().await?;
        let report = migrations::apply(&mut conn).await;
        // Statements prepared before a migration may name what it changed.
        conn.statement_cache.clear();
        report
    }

    async fn ping(&self) -> Result<()> {
        let conn = self.conn().await?;
        conn.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn footprint(&self) -> Result<Footprint> {
        let conn = self.conn().await?;
        let bytes: i64 = conn
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await?
            .get(0);
        Ok(Footprint {
            database_bytes: Some(bytes as u64),
            wal_bytes: None,
        })
    }

    async fn maintain(&self) -> Result<()> {
        let conn = self.conn().await?;
        imports::reap(&conn, &[]).await?;
        let retention = i64::try_from(CHANGE_RETENTION.as_millis()).unwrap_or(i64::MAX);
        conn.execute(
            "DELETE FROM changes WHERE seq IN
                (SELECT seq FROM changes
                 WHERE at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1
                 ORDER BY seq LIMIT $2)",
            &[&retention, &PRUNE_BATCH],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl CenterStore for PostgresStore {
    async fn create_contact_center(&self, name: &ContactCenterName) -> Result<ContactCenter> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "WITH c AS (INSERT INTO contact_centers (name, created_at) VALUES ($1, $2)
                        ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at)
                     SELECT id, name, created_at, 0::bigint, 0::bigint FROM c",
                &[&name.as_str(), &Timestamp::now().unix_millis()],
            )
            .await?
            .ok_or_else(|| StoreError::CenterExists(name.to_string()))?;
        center_from_row(&row)
    }

    async fn contact_center_by_name(
        &self,
        name: &ContactCenterName,
    ) -> Result<Option<ContactCenter>> {
        let conn = self.conn().await?;
        conn.query_opt(
            &format!("{CENTER_SELECT} WHERE c.name = $1"),
            &[&name.as_str()],
        )
        .await?
        .map(|row| center_from_row(&row))
        .transpose()
    }

    async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>> {
        let conn = self.conn().await?;
        conn.query(&format!("{CENTER_SELECT} ORDER BY c.id"), &[])
            .await?
            .iter()
            .map(center_from_row)
            .collect()
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn server_secret(&self) -> Result<[u8; SERVER_SECRET_LEN]> {
        let conn = self.conn().await?;
        // Whoever inserts first sets it. Two statements: an insert that
        // lost the race waits for the winner's commit, and only a later
        // statement's snapshot sees what the winner wrote.
        conn.execute(
            "INSERT INTO settings (key, value) VALUES ('key_secret', $1)
             ON CONFLICT (key) DO NOTHING",
            &[&KeyHasher::generate_secret().to_vec()],
        )
        .await?;
        let row = conn
            .query_one("SELECT value FROM settings WHERE key = 'key_secret'", &[])
            .await?;
        let bytes: Vec<u8> = col(&row, 0)?;
        bytes
            .try_into()
            .map_err(|_| StoreError::Internal("stored key secret has the wrong length".into()))
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyInfo> {
        let mut conn = self.conn().await?;
        Ok(transaction!(conn, |tx| keys::create(&tx, &key).await?))
    }

    async fn list_api_keys(&self, center: ContactCenterId) -> Result<Vec<ApiKeyInfo>> {
        let conn = self.conn().await?;
        keys::list(&conn, center).await
    }

    async fn revoke_api_key(&self, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| keys::revoke(&tx, id).await?))
    }

    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<KeyGrant>> {
        let conn = self.conn().await?;
        keys::authenticate(&conn, hash).await
    }

    async fn record_key_use(&self, uses: &[(ApiKeyId, Timestamp)]) -> Result<()> {
        let ids: Vec<i64> = uses.iter().map(|(id, _)| id.get()).collect();
        let ats: Vec<i64> = uses.iter().map(|(_, at)| at.unix_millis()).collect();
        let conn = self.conn().await?;
        conn.execute(
            "UPDATE api_keys k SET last_used_at = greatest(coalesce(k.last_used_at, 0), u.at)
             FROM (SELECT id, max(at) AS at FROM unnest($1::bigint[], $2::bigint[]) AS u (id, at)
                   GROUP BY id) u
             WHERE k.id = u.id",
            &[&ids, &ats],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl CampaignStore for PostgresStore {
    async fn get_campaign(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Campaign>> {
        let conn = self.conn().await?;
        campaigns::get(&conn, center, id).await
    }

    async fn get_campaign_body(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Vec<u8>>> {
        self.inner.bodies.get(center, id).await
    }

    async fn list_campaigns(
        &self,
        center: ContactCenterId,
        filter: &CampaignFilter,
        page: Page,
    ) -> Result<CampaignPage> {
        let mut conn = self.conn().await?;
        // One snapshot for the page and its total, so they agree.
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let page = campaigns::list(&tx, center, filter, page).await?;
        tx.commit().await?;
        Ok(page)
    }

    async fn campaigns_after(
        &self,
        center: ContactCenterId,
        after: Option<CampaignId>,
        limit: u32,
    ) -> Result<Vec<Campaign>> {
        let conn = self.conn().await?;
        campaigns::after(&conn, center, after, limit).await
    }
}

#[async_trait]
impl CampaignWrites for PostgresStore {
    async fn create_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        settings: CampaignSettings,
    ) -> Result<Written, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| writes::create(
            &tx, &ctx, center, settings
        )
        .await?))
    }

    async fn update_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        patch: CampaignPatch,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| writes::update(
            &tx,
            &ctx,
            center,
            id,
            &patch,
            expected.as_ref()
        )
        .await?))
    }

    async fn delete_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| writes::delete(
            &tx,
            &ctx,
            center,
            id,
            expected.as_ref()
        )
        .await?))
    }

    async fn act_on_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        action: Action,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| writes::act(
            &tx,
            &ctx,
            center,
            id,
            action,
            expected.as_ref()
        )
        .await?))
    }
}

#[async_trait]
impl ImportStore for PostgresStore {
    async fn begin_import(&self, center: ContactCenterId) -> Result<ImportId> {
        {
            let conn = self.conn().await?;
            imports::reap(&conn, &[]).await?;
        }
        let mut conn = self.conn().await?;
        // Locked before the commit makes the import visible, so no reaper
        // ever sees it unlocked; a session lock outlives the transaction.
        let id = transaction!(conn, |tx| {
            let id = imports::begin(&tx, center).await?;
            imports::lock(&tx, id).await?;
            id
        });
        self.keep_import(id, conn);
        Ok(id)
    }

    async fn stage_import(
        &self,
        import: ImportId,
        records: Vec<ImportRecord>,
    ) -> Result<Vec<ImportProblem>> {
        let mut conn = self.take_import(import)?;
        let result = async {
            Ok(transaction!(conn, |tx| imports::stage(
                &tx, import, records
            )
            .await?))
        }
        .await;
        self.keep_import(import, conn);
        result
    }

    async fn publish_import(
        &self,
        import: ImportId,
        progress: Option<Progress>,
    ) -> Result<ImportSummary> {
        let mut conn = self.take_import(import)?;
        let result =
            async { Ok(transaction!(self => conn, |tx| imports::publish(&tx, import).await?)) }
                .await;
        match result {
            Ok(summary) => {
                self.release_import(import, conn).await;
                if let Some(progress) = progress {
                    progress(summary.imported as u64);
                }
                Ok(summary)
            }
            // Not published: still ours, to abandon.
            Err(e) => {
                self.keep_import(import, conn);
                Err(e)
            }
        }
    }

    async fn abandon_import(&self, import: ImportId, progress: Option<Progress>) -> Result<()> {
        let mut conn = self.take_import(import)?;
        let result = async {
            transaction!(conn, |tx| imports::abandon(&tx, import).await?);
            Ok(())
        }
        .await;
        // Gone, or left to upkeep once the lock is free.
        self.release_import(import, conn).await;
        if result.is_ok()
            && let Some(progress) = progress
        {
            progress(0);
        }
        result
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn import_users(
        &self,
        center: ContactCenterId,
        records: Vec<UserRecord>,
        progress: Option<Progress>,
    ) -> Result<u64> {
        let mut conn = self.conn().await?;
        Ok(transaction!(conn, |tx| {
            tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
            users::import(&tx, center, records, progress.as_ref()).await?
        }))
    }

    async fn list_users(&self, center: ContactCenterId, page: Page) -> Result<UserPage> {
        let conn = self.conn().await?;
        users::list(&conn, center, page).await
    }

    async fn campaign_users(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<UserPage>> {
        let conn = self.conn().await?;
        users::of_campaign(&conn, center, campaign, page).await
    }

    async fn assign_users(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        ids: Vec<UserId>,
    ) -> Result<Vec<User>, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| users::assign(
            &tx, &ctx, center, campaign, ids
        )
        .await?))
    }

    async fn remove_user(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<User, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| users::remove(
            &tx, &ctx, center, campaign, user
        )
        .await?))
    }

    async fn delete_user(&self, center: ContactCenterId, user: UserId) -> Result<bool> {
        let conn = self.conn().await?;
        users::delete(&conn, center, user).await
    }
}

#[async_trait]
impl LeadStore for PostgresStore {
    async fn import_leads(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        leads: Vec<Lead>,
    ) -> Result<LeadsImported, WriteError> {
        let mut conn = self.conn().await?;
        Ok(transaction!(self => conn, |tx| leads::import(
            &tx, &ctx, center, campaign, &leads
        )
        .await?))
    }

    async fn campaign_leads(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<LeadPage>> {
        let conn = self.conn().await?;
        leads::of_campaign(&conn, center, campaign, page).await
    }

    async fn claim_lead_import(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        holder: i64,
        ttl: std::time::Duration,
    ) -> Result<bool> {
        let conn = self.conn().await?;
        leads::claim(&conn, center, campaign, holder, ttl).await
    }

    async fn release_lead_import(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        holder: i64,
    ) -> Result<()> {
        let conn = self.conn().await?;
        leads::release(&conn, center, campaign, holder).await
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let conn = self.conn().await?;
        audit::list(&conn, query).await
    }
}

#[async_trait]
impl ChangeFeed for PostgresStore {
    fn change_hints(&self) -> Option<Arc<Notify>> {
        Some(self.inner.hints.listen())
    }

    async fn latest_change(&self) -> Result<ChangeCursor> {
        let conn = self.conn().await?;
        let snapshot: String = conn
            .query_one("SELECT pg_current_snapshot()::text", &[])
            .await?
            .get(0);
        Ok(ChangeCursor(CursorAt::Snapshot(snapshot)))
    }

    /// Sequence numbers are taken before commit, so a lower one may commit
    /// after a higher one has been read: the log is read against snapshots
    /// instead. A batch is every change visible in this read's snapshot
    /// and not in the cursor's, so each committed change is read once,
    /// whatever order the writers commit in.
    async fn changes_since(&self, cursor: &ChangeCursor, limit: u32) -> Result<ChangeBatch> {
        let after = match &cursor.0 {
            CursorAt::Origin => None,
            CursorAt::Snapshot(snapshot) => Some(snapshot.as_str()),
            CursorAt::Seq(_) => {
                return Err(StoreError::Internal(
                    "a change cursor of another backend".into(),
                ));
            }
        };
        let mut conn = self.conn().await?;
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let snapshot: String = tx
            .query_one("SELECT pg_current_snapshot()::text", &[])
            .await?
            .get(0);
        let fetch = i64::from(limit) + 1;
        let rows = match after {
            None => {
                tx.query(
                    "SELECT kind, contact_center_id, campaign_id, api_key_id FROM changes
                     ORDER BY seq LIMIT $1",
                    &[&fetch],
                )
                .await?
            }
            Some(after) => {
                let stmt = tx
                    .prepare_cached(
                        "SELECT kind, contact_center_id, campaign_id, api_key_id FROM changes
                         WHERE xid >= pg_snapshot_xmin($1::text::pg_snapshot)
                           AND NOT pg_visible_in_snapshot(xid, $1::text::pg_snapshot)
                         ORDER BY seq LIMIT $2",
                    )
                    .await?;
                tx.query(&stmt, &[&after, &fetch]).await?
            }
        };
        tx.commit().await?;
        let truncated = rows.len() > limit as usize;
        let changes = rows
            .iter()
            .take(limit as usize)
            .map(change_from_row)
            .collect::<Result<_>>()?;
        Ok(ChangeBatch {
            changes,
            // A truncated batch cannot be continued from its middle: the
            // caller reads it all again, or starts afresh.
            next: if truncated {
                cursor.clone()
            } else {
                ChangeCursor(CursorAt::Snapshot(snapshot))
            },
            truncated,
        })
    }
}

#[async_trait]
impl TransferStore for PostgresStore {
    async fn count_rows(&self, table: Table) -> Result<u64> {
        let conn = self.conn().await?;
        transfer::count(&conn, table).await
    }

    async fn read_rows(&self, table: Table, after: Option<Row>, limit: u32) -> Result<Vec<Row>> {
        let conn = self.conn().await?;
        transfer::read(&conn, table, after.as_ref(), limit).await
    }

    async fn write_rows(&self, table: Table, rows: Vec<Row>) -> Result<()> {
        let mut conn = self.conn().await?;
        transaction!(conn, |tx| transfer::write(&tx, table, &rows).await?);
        Ok(())
    }

    async fn finish_copy(&self) -> Result<()> {
        let conn = self.conn().await?;
        transfer::finish(&conn).await
    }
}

#[async_trait]
impl ResetStore for PostgresStore {
    async fn keep_start_state(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        transaction!(conn, |tx| reset::keep(&tx).await?);
        Ok(())
    }

    async fn reset_to_start(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        transaction!(self => conn, |tx| reset::reset(&tx).await?);
        Ok(())
    }

    async fn clear_all(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        transaction!(self => conn, |tx| reset::clear(&tx).await?);
        Ok(())
    }
}
