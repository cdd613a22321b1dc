//! Staged imports: records wait in `import_rows`, invisible to every read,
//! until one transaction moves them into `campaigns` (see migration 0001).
//!
//! The process that begins an import holds a session advisory lock on it,
//! on a connection kept out of the pool for as long as the import lasts.
//! PostgreSQL drops the lock when that session ends, however the process
//! dies, so an import whose lock can be taken has lost its owner, and
//! whoever takes it deletes the import.

use std::collections::HashMap;

use campaignd_model::{Campaign, CampaignId, ContactCenterId, Timestamp};
use deadpool_postgres::GenericClient;

use super::campaigns::{self, COLUMNS, Param, field_values, placeholders, refs};
use super::{col, record_change};
use crate::rules::FIELD_COLUMNS;
use crate::{
    Change, ImportId, ImportProblem, ImportRecord, ImportSummary, Result, StoreError, rules,
};

/// The first key of an import's advisory lock ("cdim"); the import's id
/// is the second.
const LOCK_CLASS: i32 = 0x6364_696d;

/// The second key of an import's advisory lock.
pub(super) fn lock_key(id: ImportId) -> Result<i32> {
    i32::try_from(id.0).map_err(|_| StoreError::Internal(format!("import id {id} overflows")))
}

/// Takes the session lock of a new import on its owner's connection.
pub(super) async fn lock(conn: &impl GenericClient, id: ImportId) -> Result<()> {
    conn.execute(
        "SELECT pg_advisory_lock($1, $2)",
        &[&LOCK_CLASS, &lock_key(id)?],
    )
    .await?;
    Ok(())
}

/// Lets go of an import's session lock.
pub(super) async fn unlock(conn: &impl GenericClient, id: ImportId) -> Result<()> {
    conn.execute(
        "SELECT pg_advisory_unlock($1, $2)",
        &[&LOCK_CLASS, &lock_key(id)?],
    )
    .await?;
    Ok(())
}

/// Writes the `imports` row of a new import.
pub(super) async fn begin(tx: &impl GenericClient, center: ContactCenterId) -> Result<ImportId> {
    if tx
        .query_opt(
            "SELECT 1 FROM contact_centers WHERE id = $1",
            &[&center.get()],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("contact center"));
    }
    let row = tx
        .query_one(
            "INSERT INTO imports (contact_center_id, started_at) VALUES ($1, $2) RETURNING id",
            &[&center.get(), &Timestamp::now().unix_millis()],
        )
        .await?;
    Ok(ImportId(col(&row, 0)?))
}

/// Deletes, with their rows, the imports whose owners are gone, except
/// `ours` (which this store holds the locks of). Each is taken under a
/// transaction lock, so two reapers never delete one import twice and an
/// owner that is alive is never touched.
pub(super) async fn reap(conn: &impl GenericClient, ours: &[ImportId]) -> Result<()> {
    let ids: Vec<i64> = conn
        .query("SELECT id FROM imports ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_>>()?;
    for id in ids.into_iter().map(ImportId) {
        if ours.contains(&id) {
            continue;
        }
        let key = lock_key(id)?;
        conn.batch_execute("BEGIN").await?;
        let result = async {
            let free: bool = conn
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1, $2)",
                    &[&LOCK_CLASS, &key],
                )
                .await?
                .get(0);
            if free {
                // Lifted: a large abandoned import may take a while to delete.
                conn.batch_execute("SET LOCAL statement_timeout = 0")
                    .await?;
                conn.execute("DELETE FROM imports WHERE id = $1", &[&id.0])
                    .await?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.batch_execute(end).await?;
        result?;
    }
    Ok(())
}

/// An import's row, if it exists, locked for the caller's transaction.
struct Import {
    center: ContactCenterId,
    staged: i64,
    refused: i64,
    min_id: Option<i64>,
    max_id: Option<i64>,
}

async fn load(tx: &impl GenericClient, import: ImportId) -> Result<Import> {
    let row = tx
        .query_opt(
            "SELECT contact_center_id, staged, refused, min_id, max_id FROM imports
             WHERE id = $1 FOR UPDATE",
            &[&import.0],
        )
        .await?
        .ok_or(StoreError::NotFound("import"))?;
    Ok(Import {
        center: ContactCenterId::new(col(&row, 0)?)
            .ok_or_else(|| super::corrupt("contact center id"))?,
        staged: col(&row, 1)?,
        refused: col(&row, 2)?,
        min_id: col(&row, 3)?,
        max_id: col(&row, 4)?,
    })
}

/// Who holds a campaign id or name in a contact center, as a record of
/// import `ours` sees it.
#[derive(Debug, Clone, Copy)]
enum Holder {
    /// A visible campaign.
    Campaign,
    /// Another import that has not finished.
    OtherImport,
    /// An earlier record of this import: its position, and whether its id
    /// was assigned.
    Ours { record: i64, assigned: bool },
}

/// The holders of the given ids and names: visible campaigns first, so a
/// key held both ways counts as taken.
async fn holders(
    tx: &impl GenericClient,
    import: ImportId,
    center: ContactCenterId,
    ids: &[i64],
    names: &[String],
) -> Result<(HashMap<i64, Holder>, HashMap<String, Holder>)> {
    let mut by_id = HashMap::new();
    let mut by_name = HashMap::new();
    for row in tx
        .query(
            "SELECT import_id, record, assigned, id, name FROM import_rows
             WHERE contact_center_id = $1 AND (id = ANY($2) OR name = ANY($3))",
            &[&center.get(), &ids, &names],
        )
        .await?
    {
        let owner: i64 = col(&row, 0)?;
        let holder = if owner == import.0 {
            Holder::Ours {
                record: col(&row, 1)?,
                assigned: col(&row, 2)?,
            }
        } else {
            Holder::OtherImport
        };
        let (id, name): (i64, String) = (col(&row, 3)?, col(&row, 4)?);
        if ids.contains(&id) {
            by_id.insert(id, holder);
        }
        by_name.insert(name, holder);
    }
    for row in tx
        .query(
            "SELECT id, name FROM campaigns
             WHERE contact_center_id = $1 AND (id = ANY($2) OR name = ANY($3))",
            &[&center.get(), &ids, &names],
        )
        .await?
    {
        let (id, name): (i64, String) = (col(&row, 0)?, col(&row, 1)?);
        if ids.contains(&id) {
            by_id.insert(id, Holder::Campaign);
        }
        by_name.insert(name, Holder::Campaign);
    }
    Ok((by_id, by_name))
}

/// Stages a batch in one transaction: checks each record's id and name
/// against every campaign of the center (visible, this import's, other
/// imports'), writes the ones that pass, and keeps the import's count.
/// The center's row is locked for its id counter.
pub(super) async fn stage(
    tx: &impl GenericClient,
    import: ImportId,
    records: Vec<ImportRecord>,
) -> Result<Vec<ImportProblem>> {
    let row = load(tx, import).await?;
    let center = row.center;
    let mut next: i64 = tx
        .query_one(
            "SELECT next_campaign_id FROM contact_centers WHERE id = $1 FOR NO KEY UPDATE",
            &[&center.get()],
        )
        .await?
        .get(0);
    let ids: Vec<i64> = records
        .iter()
        .filter_map(|r| r.document.id.map(CampaignId::get))
        .collect();
    let names: Vec<String> = records
        .iter()
        .map(|r| r.document.settings.name.as_str().to_owned())
        .collect();
    let (mut by_id, mut by_name) = holders(tx, import, center, &ids, &names).await?;
    let now = Timestamp::now();
    let mut problems = Vec::new();
    let (mut written, mut refused) = (0i64, 0i64);
    let (mut min_id, mut max_id) = (row.min_id, row.max_id);
    let mut note_id = |id: i64| {
        min_id = Some(min_id.map_or(id, |m| m.min(id)));
        max_id = Some(max_id.map_or(id, |m| m.max(id)));
    };
    for ImportRecord { index, document } in records {
        let before = problems.len();
        let mut problem = |field: &str, message: String| {
            problems.push(ImportProblem {
                index,
                field: field.to_owned(),
                message,
            });
        };
        // A given id held by a row this import assigned an id to: that row
        // moves to the next free id, since given ids are kept.
        let mut displaced = None;
        if let Some(id) = document.id
            && let Some(holder) = by_id.get(&id.get())
        {
            match *holder {
                Holder::Ours {
                    record,
                    assigned: true,
                } => displaced = Some(record),
                Holder::Ours { record, .. } => {
                    problem("id", format!("repeats the id of record {}", record + 1));
                }
                Holder::OtherImport => problem(
                    "id",
                    format!("campaign {id} is being written by another import"),
                ),
                Holder::Campaign => problem(
                    "id",
                    format!("campaign {id} already exists in this contact center"),
                ),
            }
        }
        let name = document.settings.name.as_str();
        if let Some(holder) = by_name.get(name) {
            match *holder {
                Holder::Ours { record, .. } => {
                    problem("name", format!("repeats the name of record {}", record + 1));
                }
                Holder::OtherImport => {
                    problem("name", "is being written by another import".to_owned());
                }
                Holder::Campaign => problem("name", "has already been taken".to_owned()),
            }
        }
        if problems.len() > before {
            refused += 1;
            continue;
        }
        if let Some(record) = displaced {
            let moved = move_row(tx, import, record, next).await?;
            by_id.insert(
                next,
                Holder::Ours {
                    record,
                    assigned: true,
                },
            );
            note_id(moved);
            next += 1;
        }
        let assigned = document.id.is_none();
        let campaign = rules::imported_campaign(document, &mut next, now)?;
        let id = campaign.id;
        insert(tx, import, center, index as i64, assigned, &campaign).await?;
        let ours = Holder::Ours {
            record: index as i64,
            assigned,
        };
        by_id.insert(id.get(), ours);
        by_name.insert(campaign.settings.name.as_str().to_owned(), ours);
        note_id(id.get());
        written += 1;
    }
    tx.execute(
        "UPDATE contact_centers SET next_campaign_id = greatest(next_campaign_id, $2) WHERE id = $1",
        &[&center.get(), &next],
    )
    .await?;
    tx.execute(
        "UPDATE imports SET staged = staged + $2, refused = refused + $3, min_id = $4,
            max_id = $5 WHERE id = $1",
        &[&import.0, &written, &refused, &min_id, &max_id],
    )
    .await?;
    Ok(problems)
}

/// Inserts a staged row.
async fn insert(
    tx: &impl GenericClient,
    import: ImportId,
    center: ContactCenterId,
    record: i64,
    assigned: bool,
    c: &Campaign,
) -> Result<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO import_rows (import_id, record, assigned, contact_center_id, id,
                created_at, {}) VALUES ($1, $2, $3, $4, $5, $6, {})",
            FIELD_COLUMNS.join(", "),
            placeholders(7, FIELD_COLUMNS.len())
        )
    });
    let mut params: Vec<Param> = vec![
        Box::new(import.0),
        Box::new(record),
        Box::new(assigned),
        Box::new(center.get()),
        Box::new(c.id.get()),
        Box::new(c.created_at.unix_millis()),
    ];
    params.extend(field_values(c, &c.get_body()));
    let stmt = tx.prepare_cached(&SQL).await?;
    tx.execute(&stmt, &refs(&params)).await?;
    Ok(())
}

/// Gives a staged row a new id, rendering its stored body again; returns
/// the id.
async fn move_row(
    tx: &impl GenericClient,
    import: ImportId,
    record: i64,
    new_id: i64,
) -> Result<i64> {
    let id = CampaignId::new(new_id)
        .ok_or_else(|| StoreError::Internal("campaign id overflow".into()))?;
    let row = tx
        .query_one(
            &format!("SELECT {COLUMNS} FROM import_rows WHERE import_id = $1 AND record = $2"),
            &[&import.0, &record],
        )
        .await?;
    let mut campaign = campaigns::from_row(&row)?;
    campaign.id = id;
    let body = String::from_utf8(campaign.get_body()).expect("JSON is UTF-8");
    tx.execute(
        "UPDATE import_rows SET id = $3, body = $4 WHERE import_id = $1 AND record = $2",
        &[&import.0, &record, &id.get(), &body],
    )
    .await?;
    Ok(new_id)
}

/// Publishes a staged import in one transaction: its rows move into
/// `campaigns` and the import is gone.
pub(super) async fn publish(tx: &impl GenericClient, import: ImportId) -> Result<ImportSummary> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let columns = format!(
            "contact_center_id, id, created_at, {}",
            FIELD_COLUMNS.join(", ")
        );
        format!(
            "INSERT INTO campaigns ({columns}) SELECT {columns} FROM import_rows
             WHERE import_id = $1 ORDER BY record"
        )
    });
    let row = load(tx, import).await?;
    if row.refused > 0 {
        return Err(StoreError::Internal(format!(
            "import {import} refused {} record(s) and cannot be published",
            row.refused
        )));
    }
    // Lifted for this transaction: a large import takes a while to move.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute(SQL.as_str(), &[&import.0]).await.map_err(|e| {
        if super::is_unique_violation(&e) {
            StoreError::Internal(format!(
                "import {import} cannot be published: a campaign written meanwhile took one of its ids or names"
            ))
        } else {
            e.into()
        }
    })?;
    tx.execute("DELETE FROM imports WHERE id = $1", &[&import.0])
        .await?;
    if row.staged > 0 {
        record_change(tx, Change::Campaigns(row.center)).await?;
    }
    Ok(ImportSummary {
        imported: row.staged as usize,
        id_range: row
            .min_id
            .zip(row.max_id)
            .and_then(|(lo, hi)| Some((CampaignId::new(lo)?, CampaignId::new(hi)?))),
    })
}

/// Deletes an import and its rows.
pub(super) async fn abandon(tx: &impl GenericClient, import: ImportId) -> Result<()> {
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("DELETE FROM imports WHERE id = $1", &[&import.0])
        .await?;
    Ok(())
}
