//! Campaign rows: scalar columns for what is filtered or bounded, JSON text
//! for the nested objects.

use std::collections::HashMap;

use campaignd_model::{
    Campaign, CampaignDocument, CampaignId, CampaignSettings, ContactCenterId, Status, Timestamp,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::{corrupt, record_change};
use crate::{
    CampaignFilter, CampaignPage, Change, ImportProblem, ImportSummary, Page, Progress, Result,
    StoreError,
};

const COLUMNS: &str = "id, name, status, strategy, dial_level, dial_level_override, max_dial_time,
    max_wait_time, max_dial_attempts, amd_enabled, amd_voicemail_message, caller_id_sets,
    use_local_caller_id, asr_optimization_enabled, follow_up_mode, live, method, created_at,
    updated_at";

fn json_col<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    i: usize,
    what: &'static str,
) -> rusqlite::Result<Option<T>> {
    row.get_ref(i)?
        .as_str_or_null()?
        .map(|text| serde_json::from_str(text).map_err(|_| corrupt(i, what)))
        .transpose()
}

fn parsed<T: std::str::FromStr>(
    row: &rusqlite::Row<'_>,
    i: usize,
    what: &'static str,
) -> rusqlite::Result<T> {
    row.get_ref(i)?
        .as_str()?
        .parse()
        .map_err(|_| corrupt(i, what))
}

fn bounded<T>(row: &rusqlite::Row<'_>, i: usize, new: fn(i64) -> Option<T>) -> rusqlite::Result<T> {
    new(row.get(i)?).ok_or_else(|| corrupt(i, "integer setting"))
}

fn timestamp(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_unix_millis(row.get(i)?).ok_or_else(|| corrupt(i, "timestamp"))
}

pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Campaign> {
    let method: Option<String> = row.get(16)?;
    let follow_up: Option<String> = row.get(14)?;
    Ok(Campaign {
        id: bounded(row, 0, CampaignId::new)?,
        status: parsed(row, 2, "status")?,
        settings: CampaignSettings {
            name: parsed(row, 1, "name")?,
            strategy: parsed(row, 3, "strategy")?,
            dial_level: campaignd_model::DialLevel::new(row.get(4)?)
                .ok_or_else(|| corrupt(4, "dial level"))?,
            dial_level_override: json_col(row, 5, "dial_level_override")?,
            max_dial_time: bounded(row, 6, campaignd_model::MaxDialTime::new)?,
            max_wait_time: bounded(row, 7, campaignd_model::MaxWaitTime::new)?,
            max_dial_attempts: bounded(row, 8, campaignd_model::MaxDialAttempts::new)?,
            amd_enabled: row.get(9)?,
            amd_voicemail_message: json_col(row, 10, "amd_voicemail_message")?,
            caller_id_sets: json_col(row, 11, "caller_id_sets")?
                .ok_or_else(|| corrupt(11, "caller_id_sets"))?,
            use_local_caller_id: row.get(12)?,
            asr_optimization_enabled: row.get(13)?,
            follow_up_mode: follow_up
                .map(|s| s.parse().map_err(|_| corrupt(14, "follow_up_mode")))
                .transpose()?,
            live: row.get(15)?,
            method: method
                .map(|s| s.parse().map_err(|_| corrupt(16, "method")))
                .transpose()?,
        },
        created_at: timestamp(row, 17)?,
        updated_at: timestamp(row, 18)?,
    })
}

pub(super) fn get(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> rusqlite::Result<Option<Campaign>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM campaigns WHERE contact_center_id = ?1 AND id = ?2"
    ))?
    .query_row(params![center.get(), id.get()], from_row)
    .optional()
}

/// The Get campaign body: the stored rendering when it is of this build's
/// version, else rendered from the row.
pub(super) fn get_body(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> rusqlite::Result<Option<Vec<u8>>> {
    // One lookup whether or not the campaign exists; only a row with a
    // missing or older rendering costs a second one.
    let stored = conn
        .prepare_cached(
            "SELECT body, body_version FROM campaigns WHERE contact_center_id = ?1 AND id = ?2",
        )?
        .query_row(params![center.get(), id.get()], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    match stored {
        None => Ok(None),
        Some((Some(body), Some(Campaign::BODY_VERSION))) => Ok(Some(body.into_bytes())),
        Some(_) => Ok(get(conn, center, id)?.map(|c| c.get_body())),
    }
}

/// Builds `WHERE` clauses and their parameters for a filter.
fn where_clause(center: ContactCenterId, filter: &CampaignFilter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("contact_center_id = ?");
    let mut args = vec![SqlValue::Integer(center.get())];
    if let Some(name) = &filter.name {
        sql.push_str(" AND instr(name_folded, ?) > 0");
        args.push(SqlValue::Text(name.to_lowercase()));
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        args.push(SqlValue::Text(status.as_str().to_owned()));
    }
    if let Some(strategy) = filter.strategy {
        sql.push_str(" AND strategy = ?");
        args.push(SqlValue::Text(strategy.as_str().to_owned()));
    }
    if let Some(method) = &filter.method {
        sql.push_str(" AND method = ?");
        args.push(SqlValue::Text(method.as_str().to_owned()));
    }
    if let Some(live) = filter.live {
        sql.push_str(" AND live = ?");
        args.push(SqlValue::Integer(i64::from(live)));
    }
    (sql, args)
}

pub(super) fn list(
    conn: &Connection,
    center: ContactCenterId,
    filter: &CampaignFilter,
    page: Page,
) -> rusqlite::Result<CampaignPage> {
    let (cond, mut args) = where_clause(center, filter);
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM campaigns WHERE {cond}"))?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    args.push(SqlValue::Integer(i64::from(page.limit)));
    args.push(SqlValue::Integer(
        i64::try_from(page.offset).unwrap_or(i64::MAX),
    ));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM campaigns WHERE {cond} ORDER BY id LIMIT ? OFFSET ?"
    ))?;
    let campaigns = stmt
        .query_map(params_from_iter(args.iter()), from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(CampaignPage {
        campaigns,
        total: total as u64,
    })
}

pub(super) fn after(
    conn: &Connection,
    center: ContactCenterId,
    after: Option<CampaignId>,
    limit: u32,
) -> rusqlite::Result<Vec<Campaign>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM campaigns WHERE contact_center_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    stmt.query_map(
        params![center.get(), after.map_or(0, CampaignId::get), limit],
        from_row,
    )?
    .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("campaign parts serialize")
}

/// Inserts one campaign row.
pub(super) fn insert(
    tx: &Transaction<'_>,
    center: ContactCenterId,
    c: &Campaign,
) -> rusqlite::Result<()> {
    let s = &c.settings;
    tx.prepare_cached(
        "INSERT INTO campaigns (contact_center_id, id, name, name_folded, status, strategy, dial_level,
            dial_level_override, max_dial_time, max_wait_time, max_dial_attempts, amd_enabled,
            amd_voicemail_message, caller_id_sets, use_local_caller_id, asr_optimization_enabled,
            follow_up_mode, live, method, created_at, updated_at, body, body_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                 ?22, ?23)",
    )?
    .execute(params![
        center.get(),
        c.id.get(),
        s.name.as_str(),
        s.name.as_str().to_lowercase(),
        c.status.as_str(),
        s.strategy.as_str(),
        s.dial_level.get(),
        s.dial_level_override.as_ref().map(to_json),
        s.max_dial_time.get(),
        s.max_wait_time.get(),
        s.max_dial_attempts.get(),
        s.amd_enabled,
        s.amd_voicemail_message.as_ref().map(to_json),
        to_json(&s.caller_id_sets),
        s.use_local_caller_id,
        s.asr_optimization_enabled,
        s.follow_up_mode.map(campaignd_model::FollowUpMode::as_str),
        s.live,
        s.method.as_ref().map(campaignd_model::Method::as_str),
        c.created_at.unix_millis(),
        c.updated_at.unix_millis(),
        String::from_utf8(c.get_body()).expect("JSON is UTF-8"),
        Campaign::BODY_VERSION,
    ])?;
    Ok(())
}

/// Checks every record against the others and the stored campaigns, then
/// inserts them all, or nothing.
pub(super) fn import(
    tx: &Transaction<'_>,
    center: ContactCenterId,
    records: Vec<CampaignDocument>,
    progress: Option<&Progress>,
) -> Result<ImportSummary> {
    let next_id: i64 = tx
        .query_row(
            "SELECT next_campaign_id FROM contact_centers WHERE id = ?1",
            [center.get()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NotFound("contact center"))?;

    let mut problems = Vec::new();
    let mut ids_seen: HashMap<i64, usize> = HashMap::new();
    let mut names_seen: HashMap<&str, usize> = HashMap::new();
    {
        let mut id_taken = tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM campaigns WHERE contact_center_id = ?1 AND id = ?2)",
        )?;
        let mut name_taken = tx.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM campaigns WHERE contact_center_id = ?1 AND name = ?2)",
        )?;
        for (index, record) in records.iter().enumerate() {
            let mut problem = |field: &str, message: String| {
                problems.push(ImportProblem {
                    index,
                    field: field.to_owned(),
                    message,
                });
            };
            if let Some(id) = record.id {
                if let Some(first) = ids_seen.insert(id.get(), index) {
                    problem("id", format!("repeats the id of record {}", first + 1));
                } else if id_taken
                    .query_row(params![center.get(), id.get()], |r| r.get::<_, bool>(0))?
                {
                    problem(
                        "id",
                        format!("campaign {id} already exists in this contact center"),
                    );
                }
            }
            let name = record.settings.name.as_str();
            if let Some(first) = names_seen.insert(name, index) {
                problem("name", format!("repeats the name of record {}", first + 1));
            } else if name_taken.query_row(params![center.get(), name], |r| r.get::<_, bool>(0))? {
                problem("name", "has already been taken".to_owned());
            }
        }
    }
    if !problems.is_empty() {
        return Err(StoreError::ImportRejected(problems));
    }

    let mut next = next_id.max(ids_seen.keys().max().map_or(0, |m| m + 1));
    let now = Timestamp::now();
    let mut range: Option<(CampaignId, CampaignId)> = None;
    let count = records.len();
    for (done, record) in records.into_iter().enumerate() {
        let id = if let Some(id) = record.id {
            id
        } else {
            let id = CampaignId::new(next)
                .ok_or_else(|| StoreError::Internal("campaign id overflow".into()))?;
            next += 1;
            id
        };
        let created_at = record.created_at.unwrap_or(now);
        let campaign = Campaign {
            id,
            status: record.status.unwrap_or(Status::Draft),
            settings: record.settings,
            created_at,
            updated_at: record.updated_at.unwrap_or(now.max(created_at)),
        };
        insert(tx, center, &campaign)?;
        range = Some(range.map_or((id, id), |(lo, hi)| (lo.min(id), hi.max(id))));
        if let Some(progress) = progress
            && (done + 1) % 1000 == 0
        {
            progress((done + 1) as u64);
        }
    }
    tx.execute(
        "UPDATE contact_centers SET next_campaign_id = max(next_campaign_id, ?2) WHERE id = ?1",
        params![center.get(), range.map_or(0, |(_, hi)| hi.get() + 1)],
    )?;
    if count > 0 {
        record_change(tx, Change::Campaigns(center))?;
    }
    if let Some(progress) = progress {
        progress(count as u64);
    }
    Ok(ImportSummary {
        imported: count,
        id_range: range,
    })
}
