//! Staged imports: rows written under an import id in short transactions,
//! hidden until one short commit publishes them (see migration 0003).
//!
//! Each import is owned by the process that began it, which holds an
//! exclusive `flock` on a file beside the database (`<db>-import-<id>`) for
//! as long as the import exists. The operating system drops the lock when
//! the process dies, however it dies, so any process that can take the lock
//! knows the import's owner is gone and may finish its cleanup: delete the
//! rows of an unpublished import, or settle those of a published one.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use campaignd_model::{CampaignId, ContactCenterId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::campaigns;
use super::record_change;
use crate::{
    Change, ImportId, ImportProblem, ImportRecord, ImportSummary, Result, StoreError, rules,
};

/// Rows settled or deleted per transaction, by `row_id` range.
pub(super) const ROWS_PER_STEP: i64 = 5000;

/// The state of an import, as its `imports` row holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Rows are being written; they are hidden.
    Staging,
    /// Visible; `import_id` is being cleared from its rows.
    Published,
    /// Hidden; its rows are being deleted.
    Abandoned,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Staging => "staging",
            State::Published => "published",
            State::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Self> {
        match s {
            "staging" => Ok(State::Staging),
            "published" => Ok(State::Published),
            "abandoned" => Ok(State::Abandoned),
            _ => Err(super::corrupt(2, "import state")),
        }
    }
}

/// An import's row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Import {
    pub(super) center: ContactCenterId,
    pub(super) state: State,
    pub(super) staged: i64,
    pub(super) refused: i64,
    pub(super) first_row: Option<i64>,
    pub(super) last_row: Option<i64>,
    pub(super) min_id: Option<i64>,
    pub(super) max_id: Option<i64>,
}

pub(super) fn load(conn: &Connection, id: ImportId) -> rusqlite::Result<Option<Import>> {
    conn.prepare_cached(
        "SELECT contact_center_id, state, staged, refused, first_row, last_row, min_id, max_id
         FROM imports WHERE id = ?1",
    )?
    .query_row([id.0], |r| {
        Ok(Import {
            center: ContactCenterId::new(r.get(0)?)
                .ok_or_else(|| super::corrupt(0, "contact center id"))?,
            state: State::parse(r.get_ref(1)?.as_str()?)?,
            staged: r.get(2)?,
            refused: r.get(3)?,
            first_row: r.get(4)?,
            last_row: r.get(5)?,
            min_id: r.get(6)?,
            max_id: r.get(7)?,
        })
    })
    .optional()
}

/// Every import's id, oldest first.
pub(super) fn all(conn: &Connection) -> rusqlite::Result<Vec<ImportId>> {
    conn.prepare_cached("SELECT id FROM imports ORDER BY id")?
        .query_map([], |r| r.get(0).map(ImportId))?
        .collect()
}

/// Whether a row holding `import_id` is hidden: it belongs to an import that
/// is not published.
pub(super) fn hides(conn: &Connection, import_id: Option<i64>) -> rusqlite::Result<bool> {
    let Some(id) = import_id else {
        return Ok(false);
    };
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM imports WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(state.is_some_and(|s| s != State::Published.as_str()))
}

/// Whether a contact center has rows hidden by an unpublished import, so its
/// listings must filter them out.
pub(super) fn center_has_hidden(
    conn: &Connection,
    center: ContactCenterId,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM imports WHERE contact_center_id = ?1 AND state <> 'published' AND staged > 0)",
    )?
    .query_row([center.get()], |r| r.get(0))
}

/// The SQL condition, on a `campaigns` row, that it is visible; one
/// parameter, the contact center.
pub(super) const VISIBLE: &str = "(import_id IS NULL OR import_id NOT IN
    (SELECT id FROM imports WHERE contact_center_id = ? AND state <> 'published'))";

/// The file whose lock says an import's owner is alive.
pub(super) fn lock_path(database: &Path, id: ImportId) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push(format!("-import-{id}"));
    PathBuf::from(path)
}

/// Takes the lock of an import, if its owner is gone (or it is ours to
/// take, just created). `None`: someone holds it.
pub(super) fn try_lock(database: &Path, id: ImportId) -> Result<Option<File>> {
    let path = lock_path(database, id);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot open the import lock {}: {e}",
                path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the `imports` row of a new import.
pub(super) fn begin(tx: &Transaction<'_>, center: ContactCenterId) -> Result<ImportId> {
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM contact_centers WHERE id = ?1)",
        [center.get()],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::NotFound("contact center"));
    }
    tx.execute(
        "INSERT INTO imports (contact_center_id, state, started_at) VALUES (?1, 'staging', ?2)",
        params![center.get(), Timestamp::now().unix_millis()],
    )?;
    Ok(ImportId(tx.last_insert_rowid()))
}

/// The row a campaign id or name is held by in a contact center, and the
/// import bookkeeping of that row.
struct Holder {
    row_id: i64,
    import_id: Option<i64>,
    record: Option<i64>,
    assigned: bool,
}

fn holder(
    tx: &Transaction<'_>,
    sql: &'static str,
    center: ContactCenterId,
    key: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Option<Holder>> {
    tx.prepare_cached(sql)?
        .query_row(params![center.get(), key], |r| {
            Ok(Holder {
                row_id: r.get(0)?,
                import_id: r.get(1)?,
                record: r.get(2)?,
                assigned: r.get::<_, Option<bool>>(3)?.unwrap_or(false),
            })
        })
        .optional()
}

const HOLDER_OF_ID: &str = "SELECT row_id, import_id, import_record, import_assigned FROM campaigns
    WHERE contact_center_id = ?1 AND id = ?2";
const HOLDER_OF_NAME: &str =
    "SELECT row_id, import_id, import_record, import_assigned FROM campaigns
    WHERE contact_center_id = ?1 AND name = ?2";

/// What holding a key means for a record of import `ours`.
enum Held {
    /// By an earlier record of this import; its zero-based position.
    Repeated(i64),
    /// By another import that has not finished.
    OtherImport,
    /// By a visible campaign.
    Taken,
}

fn held(tx: &Transaction<'_>, ours: ImportId, holder: &Holder) -> rusqlite::Result<Held> {
    match holder.import_id {
        Some(id) if id == ours.0 => Ok(Held::Repeated(holder.record.unwrap_or(0))),
        Some(_) if hides(tx, holder.import_id)? => Ok(Held::OtherImport),
        _ => Ok(Held::Taken),
    }
}

/// The row of an import that is still staging, or why it is not.
fn staging(tx: &Transaction<'_>, import: ImportId) -> Result<Import> {
    let row = load(tx, import)?.ok_or(StoreError::NotFound("import"))?;
    if row.state != State::Staging {
        return Err(StoreError::Internal(format!(
            "import {import} is {}, not staging",
            row.state.as_str()
        )));
    }
    Ok(row)
}

/// Stages a batch: checks each record's id and name against every row of
/// the contact center (visible, this import's, other imports'), writes the
/// ones that pass, and updates the import's bookkeeping.
pub(super) fn stage(
    tx: &Transaction<'_>,
    import: ImportId,
    records: Vec<ImportRecord>,
) -> Result<Vec<ImportProblem>> {
    let row = staging(tx, import)?;
    let center = row.center;
    let mut next: i64 = tx.query_row(
        "SELECT next_campaign_id FROM contact_centers WHERE id = ?1",
        [center.get()],
        |r| r.get(0),
    )?;
    let now = Timestamp::now();
    let mut problems = Vec::new();
    let (mut written, mut refused) = (0i64, 0i64);
    let (mut first_row, mut last_row) = (row.first_row, row.last_row);
    let (mut min_id, mut max_id) = (row.min_id, row.max_id);
    let mut note_row = |row_id: i64, id: i64| {
        first_row = Some(first_row.map_or(row_id, |r| r.min(row_id)));
        last_row = Some(last_row.map_or(row_id, |r| r.max(row_id)));
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
            && let Some(h) = holder(tx, HOLDER_OF_ID, center, &id.get())?
        {
            match held(tx, import, &h)? {
                Held::Repeated(_) if h.assigned => displaced = Some(h.row_id),
                Held::Repeated(first) => {
                    problem("id", format!("repeats the id of record {}", first + 1));
                }
                Held::OtherImport => problem(
                    "id",
                    format!("campaign {id} is being written by another import"),
                ),
                Held::Taken => problem(
                    "id",
                    format!("campaign {id} already exists in this contact center"),
                ),
            }
        }
        let name = document.settings.name.as_str();
        if let Some(h) = holder(tx, HOLDER_OF_NAME, center, &name)? {
            match held(tx, import, &h)? {
                Held::Repeated(first) => {
                    problem("name", format!("repeats the name of record {}", first + 1));
                }
                Held::OtherImport => {
                    problem("name", "is being written by another import".to_owned());
                }
                Held::Taken => problem("name", "has already been taken".to_owned()),
            }
        }
        if problems.len() > before {
            refused += 1;
            continue;
        }
        if let Some(row_id) = displaced {
            let moved = move_row(tx, center, row_id, next)?;
            note_row(moved, next);
            next += 1;
        }
        let assigned = document.id.is_none();
        let campaign = rules::imported_campaign(document, &mut next, now)?;
        let id = campaign.id;
        let row_id = campaigns::insert(
            tx,
            center,
            &campaign,
            Some(campaigns::Staged {
                import: import.0,
                record: index as i64,
                assigned,
            }),
        )?;
        note_row(row_id, id.get());
        written += 1;
    }
    tx.execute(
        "UPDATE contact_centers SET next_campaign_id = max(next_campaign_id, ?2) WHERE id = ?1",
        params![center.get(), next],
    )?;
    tx.prepare_cached(
        "UPDATE imports SET staged = staged + ?2, refused = refused + ?3, first_row = ?4,
            last_row = ?5, min_id = ?6, max_id = ?7 WHERE id = ?1",
    )?
    .execute(params![
        import.0, written, refused, first_row, last_row, min_id, max_id
    ])?;
    Ok(problems)
}

/// Gives a staged row a new id, re-rendering its stored body; returns its
/// new `row_id`.
fn move_row(
    tx: &Transaction<'_>,
    center: ContactCenterId,
    row_id: i64,
    new_id: i64,
) -> Result<i64> {
    let id = CampaignId::new(new_id)
        .ok_or_else(|| StoreError::Internal("campaign id overflow".into()))?;
    let mut campaign = campaigns::by_row(tx, row_id)?
        .ok_or(StoreError::Internal("a staged row vanished".into()))?;
    campaign.id = id;
    Ok(campaigns::set_id(tx, center, row_id, &campaign)?)
}

/// Publishes a staged import: one short transaction.
pub(super) fn publish(tx: &Transaction<'_>, import: ImportId) -> Result<Import> {
    let row = staging(tx, import)?;
    if row.refused > 0 {
        return Err(StoreError::Internal(format!(
            "import {import} refused {} record(s) and cannot be published",
            row.refused
        )));
    }
    set_state(tx, import, State::Published)?;
    if row.staged > 0 {
        record_change(tx, Change::Campaigns(row.center))?;
    }
    Ok(row)
}

pub(super) fn set_state(
    tx: &Transaction<'_>,
    import: ImportId,
    state: State,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE imports SET state = ?2 WHERE id = ?1",
        params![import.0, state.as_str()],
    )?;
    Ok(())
}

/// One step of finishing an import: settles (published) or deletes
/// (otherwise) its next [`ROWS_PER_STEP`] rows by `row_id`, and deletes the
/// import's row once none are left. Returns the rows it touched, and
/// whether the import is gone.
pub(super) fn step(tx: &Transaction<'_>, import: ImportId) -> Result<(i64, bool)> {
    let Some(row) = load(tx, import)? else {
        return Ok((0, true));
    };
    let (Some(first), Some(last)) = (row.first_row, row.last_row) else {
        tx.execute("DELETE FROM imports WHERE id = ?1", [import.0])?;
        return Ok((0, true));
    };
    // The range may hold other rows (the center's own, between the ids the
    // import gave); only the import's are touched.
    let end: Option<i64> = tx
        .prepare_cached(
            "SELECT max(row_id) FROM (SELECT row_id FROM campaigns
             WHERE row_id >= ?1 AND row_id <= ?2 AND import_id = ?3 ORDER BY row_id LIMIT ?4)",
        )?
        .query_row(params![first, last, import.0, ROWS_PER_STEP], |r| r.get(0))?;
    let Some(end) = end else {
        tx.execute("DELETE FROM imports WHERE id = ?1", [import.0])?;
        return Ok((0, true));
    };
    let touched = if row.state == State::Published {
        tx.prepare_cached(
            "UPDATE campaigns SET import_id = NULL, import_record = NULL, import_assigned = NULL
             WHERE row_id >= ?1 AND row_id <= ?2 AND import_id = ?3",
        )?
        .execute(params![first, end, import.0])?
    } else {
        tx.prepare_cached(
            "DELETE FROM campaigns WHERE row_id >= ?1 AND row_id <= ?2 AND import_id = ?3",
        )?
        .execute(params![first, end, import.0])?
    } as i64;
    // Settled rows are visible and counted like any other; the count of
    // hidden rows (which listings subtract) falls as rows are deleted.
    tx.prepare_cached(
        "UPDATE imports SET first_row = ?2, staged = max(staged - ?3, 0) WHERE id = ?1",
    )?
    .execute(params![import.0, end + 1, touched])?;
    Ok((touched, false))
}

/// What a publish reports.
pub(super) fn summary(row: &Import) -> ImportSummary {
    ImportSummary {
        imported: row.staged as usize,
        id_range: row
            .min_id
            .zip(row.max_id)
            .and_then(|(lo, hi)| Some((CampaignId::new(lo)?, CampaignId::new(hi)?))),
    }
}
