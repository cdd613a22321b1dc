//! [`SqliteStore`]'s implementation of the storage traits: each method
//! picks its path (a point read in place, a pooled read, a plain write, a
//! grouped write, a bulk write) and hands the SQL to the resource's module.

use std::path::Path;
use std::sync::{Arc, PoisonError};

use async_trait::async_trait;
use campaignd_model::{
    Action, ApiKeyId, Campaign, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId,
    ContactCenterName, Expected, KeyHash, KeyHasher, Lead, SERVER_SECRET_LEN, Timestamp, User,
    UserId,
};
use rusqlite::{OptionalExtension, params};

use super::{
    CENTER_SELECT, SqliteStore, UPKEEP_BUDGET, audit, campaigns, center_from_row, change_from_row,
    corrupt, imports, keys, leads, map_err, migrations, reset, run_blocking, transfer, users,
    writes,
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

#[async_trait]
impl Upkeep for SqliteStore {
    async fn migrate(&self) -> Result<MigrationReport> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            migrations::apply(&mut conn)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    async fn footprint(&self) -> Result<Footprint> {
        let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
        Ok(Footprint {
            database_bytes: size(&self.inner.path),
            wal_bytes: Some(size(&self.wal_path()).unwrap_or(0)),
        })
    }

    async fn maintain(&self) -> Result<()> {
        let wal = std::fs::metadata(self.wal_path()).map_or(0, |m| m.len());
        let inner = Arc::clone(&self.inner);
        let wal_limit = inner.wal_limit;
        run_blocking(move || {
            inner.reap_imports(Some(UPKEEP_BUDGET))?;
            inner.prune_changes(Timestamp::now(), CHANGE_RETENTION)?;
            if wal > wal_limit {
                inner.truncate_wal()?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CenterStore for SqliteStore {
    async fn create_contact_center(&self, name: &ContactCenterName) -> Result<ContactCenter> {
        let name = name.clone();
        self.write(move |tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM contact_centers WHERE name = ?1)",
                [name.as_str()],
                |r| r.get(0),
            )?;
            if taken {
                return Err(StoreError::CenterExists(name.to_string()));
            }
            tx.execute(
                "INSERT INTO contact_centers (name, created_at) VALUES (?1, ?2)",
                params![name.as_str(), Timestamp::now().unix_millis()],
            )?;
            let id = tx.last_insert_rowid();
            Ok(tx.query_row(
                &format!("{CENTER_SELECT} WHERE c.id = ?1"),
                [id],
                center_from_row,
            )?)
        })
        .await
    }

    async fn contact_center_by_name(
        &self,
        name: &ContactCenterName,
    ) -> Result<Option<ContactCenter>> {
        let name = name.clone();
        self.read(move |conn| {
            conn.query_row(
                &format!("{CENTER_SELECT} WHERE c.name = ?1"),
                [name.as_str()],
                center_from_row,
            )
            .optional()
        })
        .await
    }

    async fn list_contact_centers(&self) -> Result<Vec<ContactCenter>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!("{CENTER_SELECT} ORDER BY c.id"))?;
            stmt.query_map([], center_from_row)?.collect()
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn server_secret(&self) -> Result<[u8; SERVER_SECRET_LEN]> {
        let existing = self
            .read(|conn| {
                conn.query_row(
                    "SELECT value FROM settings WHERE key = 'key_secret'",
                    [],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .optional()
            })
            .await?;
        let bytes = match existing {
            Some(bytes) => bytes,
            None => {
                self.write(|tx| {
                    tx.execute(
                        "INSERT INTO settings (key, value) VALUES ('key_secret', ?1) ON CONFLICT (key) DO NOTHING",
                        [KeyHasher::generate_secret().to_vec()],
                    )?;
                    Ok(tx.query_row("SELECT value FROM settings WHERE key = 'key_secret'", [], |r| {
                        r.get::<_, Vec<u8>>(0)
                    })?)
                })
                .await?
            }
        };
        bytes
            .try_into()
            .map_err(|_| StoreError::Internal("stored key secret has the wrong length".into()))
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyInfo> {
        self.write(move |tx| keys::create(tx, &key)).await
    }

    async fn list_api_keys(&self, center: ContactCenterId) -> Result<Vec<ApiKeyInfo>> {
        self.read(move |conn| keys::list(conn, center)).await
    }

    async fn revoke_api_key(&self, id: ApiKeyId) -> Result<(ApiKeyInfo, bool)> {
        self.write(move |tx| keys::revoke(tx, id)).await
    }

    async fn authenticate(&self, hash: &KeyHash) -> Result<Option<KeyGrant>> {
        // A point lookup by unique index; see `get_campaign`.
        self.inner.read_point(|conn| keys::authenticate(conn, hash))
    }

    async fn record_key_use(&self, uses: &[(ApiKeyId, Timestamp)]) -> Result<()> {
        let uses = uses.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
            )?;
            for (id, at) in uses {
                stmt.execute(params![id.get(), at.unix_millis()])?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn get_campaign(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Campaign>> {
        // A point lookup by primary key: a few microseconds from the page
        // cache, so it runs on the caller's thread; a hop to the blocking
        // pool would cost more than the query.
        self.inner
            .read_point(|conn| campaigns::get(conn, center, id))
    }

    async fn get_campaign_body(
        &self,
        center: ContactCenterId,
        id: CampaignId,
    ) -> Result<Option<Vec<u8>>> {
        // In place, as `get_campaign`.
        self.inner
            .read_point(|conn| campaigns::get_body(conn, center, id))
    }

    async fn list_campaigns(
        &self,
        center: ContactCenterId,
        filter: &CampaignFilter,
        page: Page,
    ) -> Result<CampaignPage> {
        let filter = filter.clone();
        self.read(move |conn| campaigns::list(conn, center, &filter, page))
            .await
    }

    async fn campaigns_after(
        &self,
        center: ContactCenterId,
        after: Option<CampaignId>,
        limit: u32,
    ) -> Result<Vec<Campaign>> {
        self.read(move |conn| campaigns::after(conn, center, after, limit))
            .await
    }
}

#[async_trait]
impl ImportStore for SqliteStore {
    async fn begin_import(&self, center: ContactCenterId) -> Result<ImportId> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            inner.reap_imports(None)?;
            let path = inner.path.clone();
            let (id, lock) = inner.write(|tx| {
                let id = imports::begin(tx, center)?;
                // Locked before the commit makes the import visible, so no
                // reaper ever sees it unlocked.
                let lock = imports::try_lock(&path, id)?.ok_or_else(|| {
                    StoreError::Internal(format!("the lock of new import {id} is held"))
                })?;
                Ok((id, lock))
            })?;
            inner
                .import_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, lock);
            Ok(id)
        })
        .await
    }

    async fn stage_import(
        &self,
        import: ImportId,
        records: Vec<ImportRecord>,
    ) -> Result<Vec<ImportProblem>> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            inner.check_owned(import)?;
            inner.write_bulk(|tx| imports::stage(tx, import, records))
        })
        .await
    }

    async fn publish_import(
        &self,
        import: ImportId,
        progress: Option<Progress>,
    ) -> Result<ImportSummary> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            inner.check_owned(import)?;
            // Not published if this fails; still ours, to abandon.
            let row = inner.write(|tx| imports::publish(tx, import))?;
            // Visible now. Settling only speeds reads up, so a failure here
            // is left to upkeep rather than reported as a failed import.
            let _ = inner.finish_own(import, progress.as_ref());
            Ok(imports::summary(&row))
        })
        .await
    }

    async fn abandon_import(&self, import: ImportId, progress: Option<Progress>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            inner.check_owned(import)?;
            // Still staging if this fails: hidden, and finished by upkeep
            // once the lock is free.
            if let Err(e) = inner.write(|tx| {
                imports::set_state(tx, import, imports::State::Abandoned)?;
                Ok(())
            }) {
                inner.hand_over(import);
                return Err(e);
            }
            inner.finish_own(import, progress.as_ref())
        })
        .await
    }
}

#[async_trait]
impl ChangeFeed for SqliteStore {
    async fn latest_change(&self) -> Result<ChangeCursor> {
        let seq = self
            .read(|conn| {
                conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
                    r.get(0)
                })
            })
            .await?;
        Ok(ChangeCursor(CursorAt::Seq(seq)))
    }

    async fn changes_since(&self, cursor: &ChangeCursor, limit: u32) -> Result<ChangeBatch> {
        // Sequence numbers are given in commit order here: one writer.
        let after = match &cursor.0 {
            CursorAt::Origin => 0,
            CursorAt::Seq(seq) => *seq,
            CursorAt::Snapshot(_) => {
                return Err(StoreError::Internal(
                    "a change cursor of another backend".into(),
                ));
            }
        };
        let inner = Arc::clone(&self.inner);
        let mut rows = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT seq, kind, contact_center_id, campaign_id, api_key_id FROM changes
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![after, i64::from(limit) + 1], |r| {
                    let kind: String = r.get(1)?;
                    let change = change_from_row(&kind, r.get(2)?, r.get(3)?, r.get(4)?)
                        .ok_or_else(|| corrupt(1, "change"))?;
                    Ok((r.get::<_, i64>(0)?, change))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        if !rows.is_empty() {
            inner.saw_write();
        }
        let truncated = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = rows.last().map_or(after, |(seq, _)| *seq);
        Ok(ChangeBatch {
            changes: rows.into_iter().map(|(_, change)| change).collect(),
            next: ChangeCursor(CursorAt::Seq(next)),
            truncated,
        })
    }
}

#[async_trait]
impl CampaignWrites for SqliteStore {
    async fn create_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        settings: CampaignSettings,
    ) -> Result<Written, WriteError> {
        self.write_grouped(move |conn| writes::create(conn, &ctx, center, settings))
            .await
    }

    async fn update_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        patch: CampaignPatch,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        self.write_grouped(move |conn| {
            writes::update(conn, &ctx, center, id, &patch, expected.as_ref())
        })
        .await
    }

    async fn delete_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        self.write_grouped(move |conn| writes::delete(conn, &ctx, center, id, expected.as_ref()))
            .await
    }

    async fn act_on_campaign(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        id: CampaignId,
        action: Action,
        expected: Option<Expected>,
    ) -> Result<Written, WriteError> {
        self.write_grouped(move |conn| {
            writes::act(conn, &ctx, center, id, action, expected.as_ref())
        })
        .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let query = query.clone();
        self.read(move |conn| audit::list(conn, &query)).await
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn import_users(
        &self,
        center: ContactCenterId,
        records: Vec<UserRecord>,
        progress: Option<Progress>,
    ) -> Result<u64> {
        self.write(move |tx| users::import(tx, center, records, progress.as_ref()))
            .await
    }

    async fn list_users(&self, center: ContactCenterId, page: Page) -> Result<UserPage> {
        self.read(move |conn| users::list(conn, center, page)).await
    }

    async fn campaign_users(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<UserPage>> {
        self.read(move |conn| users::of_campaign(conn, center, campaign, page))
            .await
    }

    async fn assign_users(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        ids: Vec<UserId>,
    ) -> Result<Vec<User>, WriteError> {
        self.write_grouped(move |conn| users::assign(conn, &ctx, center, campaign, ids))
            .await
    }

    async fn remove_user(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<User, WriteError> {
        self.write_grouped(move |conn| users::remove(conn, &ctx, center, campaign, user))
            .await
    }

    async fn delete_user(&self, center: ContactCenterId, user: UserId) -> Result<bool> {
        self.write(move |tx| Ok(users::delete(tx, center, user)?))
            .await
    }
}

#[async_trait]
impl LeadStore for SqliteStore {
    async fn import_leads(
        &self,
        ctx: WriteContext,
        center: ContactCenterId,
        campaign: CampaignId,
        leads: Vec<Lead>,
    ) -> Result<LeadsImported, WriteError> {
        self.write_grouped(move |conn| leads::import(conn, &ctx, center, campaign, &leads))
            .await
    }

    async fn campaign_leads(
        &self,
        center: ContactCenterId,
        campaign: CampaignId,
        page: Page,
    ) -> Result<Option<LeadPage>> {
        self.read(move |conn| leads::of_campaign(conn, center, campaign, page))
            .await
    }
}

#[async_trait]
impl TransferStore for SqliteStore {
    async fn count_rows(&self, table: Table) -> Result<u64> {
        self.read(move |conn| transfer::count(conn, table)).await
    }

    async fn read_rows(&self, table: Table, after: Option<Row>, limit: u32) -> Result<Vec<Row>> {
        self.read(move |conn| transfer::read(conn, table, after.as_ref(), limit))
            .await
    }

    async fn write_rows(&self, table: Table, rows: Vec<Row>) -> Result<()> {
        self.write(move |tx| transfer::write(tx, table, &rows))
            .await
    }

    async fn finish_copy(&self) -> Result<()> {
        // Rowids and AUTOINCREMENT counters follow the largest id by
        // themselves.
        Ok(())
    }
}

#[async_trait]
impl ResetStore for SqliteStore {
    async fn keep_start_state(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let file = inner.start_state_file();
            reset::remove_stale(&inner.path);
            reset::keep(&conn, &file).map_err(map_err)?;
            *inner
                .start_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(file);
            Ok(())
        })
        .await
    }

    async fn reset_to_start(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || {
            let file = inner
                .start_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .ok_or_else(|| StoreError::Internal("no start state was kept".into()))?;
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let result = reset::reset(&mut conn, &file).map_err(map_err);
            // Readers holding a snapshot from before the copy must not
            // reuse it (the caches are emptied next, and would refill from
            // it).
            inner.saw_write();
            result
        })
        .await
    }

    async fn clear_all(&self) -> Result<()> {
        self.write(|tx| reset::clear(tx).map_err(map_err)).await
    }
}
