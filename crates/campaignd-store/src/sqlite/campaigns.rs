//! Campaign rows: scalar columns for what is filtered or bounded, JSON text
//! for the nested objects.

use campaignd_model::{Campaign, CampaignId, CampaignSettings, ContactCenterId, Timestamp};
use rusqlite::types::{ToSqlOutput, Value as SqlValue};
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::{corrupt, imports};
use crate::rules::FIELD_COLUMNS;
use crate::{CampaignFilter, CampaignPage, Page};

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

/// [`COLUMNS`]' count: `import_id` follows them where a query needs it.
const IMPORT_ID_AT: usize = 19;

/// The `row_id` a campaign is stored under: its contact center in the high
/// 31 bits and its id in the low 32, so the table is clustered by (center,
/// id) and a point read is one B-tree descent, with no index in between
/// (see migration 0004). `None` for the rare pair that does not fit; such a
/// row takes a negative `row_id` and is found through the index.
pub(super) fn row_key(center: ContactCenterId, id: CampaignId) -> Option<i64> {
    let (center, id) = (center.get(), id.get());
    (center < 1 << 31 && id < 1 << 32).then_some(center << 32 | id)
}

/// Picks the query that finds one campaign, and its parameters: by its row
/// key (`?1`, with its center as `?2`, which costs nothing to check) when it
/// has one, else by center and id through the index.
fn one_campaign<'q>(
    center: ContactCenterId,
    id: CampaignId,
    by_key: &'q str,
    by_index: &'q str,
) -> (&'q str, [i64; 2]) {
    match row_key(center, id) {
        Some(key) => (by_key, [key, center.get()]),
        None => (by_index, [center.get(), id.get()]),
    }
}

const BODY_BY_KEY: &str = "SELECT body, body_version, import_id FROM campaigns WHERE row_id = ?1 AND contact_center_id = ?2";
const BODY_BY_INDEX: &str =
    "SELECT body, body_version, import_id FROM campaigns WHERE contact_center_id = ?1 AND id = ?2";

pub(super) fn get(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> rusqlite::Result<Option<Campaign>> {
    let (sql, args) = one_campaign(
        center,
        id,
        "row_id = ?1 AND contact_center_id = ?2",
        "contact_center_id = ?1 AND id = ?2",
    );
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, import_id FROM campaigns WHERE {sql}"
        ))?
        .query_row(args, |r| {
            Ok((from_row(r)?, r.get::<_, Option<i64>>(IMPORT_ID_AT)?))
        })
        .optional()?;
    match found {
        Some((campaign, import)) if !imports::hides(conn, import)? => Ok(Some(campaign)),
        _ => Ok(None),
    }
}

/// A row by its `row_id`, whatever import holds it.
pub(super) fn by_row(conn: &Connection, row_id: i64) -> rusqlite::Result<Option<Campaign>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM campaigns WHERE row_id = ?1"
    ))?
    .query_row([row_id], from_row)
    .optional()
}

/// Gives a row `campaign`'s id (and the row key that goes with it), with
/// the body rendered for it. Returns the row's new `row_id`.
pub(super) fn set_id(
    tx: &Transaction<'_>,
    center: ContactCenterId,
    row_id: i64,
    campaign: &Campaign,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(&format!(
        "UPDATE campaigns SET row_id = coalesce(?2, {SPARE_ROW_ID}), id = ?3, body = ?4,
            body_version = ?5
         WHERE row_id = ?1 RETURNING row_id"
    ))?
    .query_row(
        params![
            row_id,
            row_key(center, campaign.id),
            campaign.id.get(),
            String::from_utf8(campaign.get_body()).expect("JSON is UTF-8"),
            Campaign::BODY_VERSION,
        ],
        |r| r.get(0),
    )
}

/// A `row_id` for a row without a row key: below every other.
const SPARE_ROW_ID: &str = "(SELECT min(coalesce(min(row_id), 0), 0) - 1 FROM campaigns)";

/// The Get campaign body: the stored rendering when it is of this build's
/// version, else rendered from the row.
pub(super) fn get_body(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> rusqlite::Result<Option<Vec<u8>>> {
    // One lookup whether or not the campaign exists; only a row with a
    // missing or older rendering costs a second one.
    // Constant SQL, so the statement cache is looked up with no string
    // built; the body is copied as bytes (this build wrote it, as UTF-8).
    let (sql, args) = one_campaign(center, id, BODY_BY_KEY, BODY_BY_INDEX);
    let stored = conn
        .prepare_cached(sql)?
        .query_row(args, |r| {
            Ok((
                r.get_ref(0)?.as_bytes_or_null()?.map(<[u8]>::to_vec),
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })
        .optional()?;
    match stored {
        None => Ok(None),
        Some((_, _, import)) if imports::hides(conn, import)? => Ok(None),
        Some((Some(body), Some(Campaign::BODY_VERSION), _)) => Ok(Some(body)),
        Some(_) => Ok(get(conn, center, id)?.map(|c| c.get_body())),
    }
}

/// Builds `WHERE` clauses and their parameters for a filter. Rows of an
/// unfinished import are filtered out only while the center has any: the
/// test reads each row, where the plain filters mostly read an index.
fn where_clause(
    conn: &Connection,
    center: ContactCenterId,
    filter: &CampaignFilter,
) -> rusqlite::Result<(String, Vec<SqlValue>)> {
    let mut sql = String::from("contact_center_id = ?");
    let mut args = vec![SqlValue::Integer(center.get())];
    if imports::center_has_hidden(conn, center)? {
        sql.push_str(" AND ");
        sql.push_str(imports::VISIBLE);
        args.push(SqlValue::Integer(center.get()));
    }
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
    Ok((sql, args))
}

pub(super) fn list(
    conn: &Connection,
    center: ContactCenterId,
    filter: &CampaignFilter,
    page: Page,
) -> rusqlite::Result<CampaignPage> {
    let (cond, mut args) = where_clause(conn, center, filter)?;
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
    let (cond, mut args) = where_clause(conn, center, &CampaignFilter::default())?;
    args.push(SqlValue::Integer(after.map_or(0, CampaignId::get)));
    args.push(SqlValue::Integer(i64::from(limit)));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM campaigns WHERE {cond} AND id > ? ORDER BY id LIMIT ?"
    ))?;
    stmt.query_map(params_from_iter(args.iter()), from_row)?
        .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("campaign parts serialize")
}

/// The import bookkeeping of a staged row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Staged {
    /// The import writing it.
    pub(super) import: i64,
    /// Its record's zero-based position in the import.
    pub(super) record: i64,
    /// Whether its id was assigned (not given).
    pub(super) assigned: bool,
}

/// Inserts one campaign row, staged for an import or visible at once;
/// returns its `row_id`.
pub(super) fn insert(
    tx: &Connection,
    center: ContactCenterId,
    c: &Campaign,
    staged: Option<Staged>,
) -> rusqlite::Result<i64> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let fields = FIELD_COLUMNS.join(", ");
        let places: Vec<String> = (8..8 + FIELD_COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect();
        format!(
            "INSERT INTO campaigns (row_id, contact_center_id, id, created_at, import_id,
                import_record, import_assigned, {fields})
             VALUES (coalesce(?1, {SPARE_ROW_ID}), ?2, ?3, ?4, ?5, ?6, ?7, {})",
            places.join(", ")
        )
    });
    let body = c.get_body();
    let fixed = [
        nullable(row_key(center, c.id)),
        ToSqlOutput::from(center.get()),
        ToSqlOutput::from(c.id.get()),
        ToSqlOutput::from(c.created_at.unix_millis()),
        nullable(staged.map(|s| s.import)),
        nullable(staged.map(|s| s.record)),
        nullable(staged.map(|s| i64::from(s.assigned))),
    ];
    let fields = field_values(c, &body);
    tx.prepare_cached(&SQL)?
        .execute(params_from_iter(fixed.iter().chain(fields.iter())))?;
    Ok(tx.last_insert_rowid())
}

/// A nested object as JSON text, or NULL.
fn json_or_null<T: serde::Serialize>(value: Option<&T>) -> ToSqlOutput<'static> {
    value.map_or(ToSqlOutput::Owned(SqlValue::Null), |v| {
        ToSqlOutput::from(to_json(v))
    })
}

/// The values of [`FIELD_COLUMNS`] for `c`, whose rendering is `body`;
/// text borrowed where it can be.
fn field_values<'a>(c: &'a Campaign, body: &'a [u8]) -> [ToSqlOutput<'a>; 20] {
    let s = &c.settings;
    [
        ToSqlOutput::from(s.name.as_str()),
        ToSqlOutput::from(s.name.as_str().to_lowercase()),
        ToSqlOutput::from(c.status.as_str()),
        ToSqlOutput::from(s.strategy.as_str()),
        ToSqlOutput::from(s.dial_level.get()),
        json_or_null(s.dial_level_override.as_ref()),
        ToSqlOutput::from(s.max_dial_time.get()),
        ToSqlOutput::from(s.max_wait_time.get()),
        ToSqlOutput::from(s.max_dial_attempts.get()),
        ToSqlOutput::from(s.amd_enabled),
        json_or_null(s.amd_voicemail_message.as_ref()),
        ToSqlOutput::from(to_json(&s.caller_id_sets)),
        ToSqlOutput::from(s.use_local_caller_id),
        ToSqlOutput::from(s.asr_optimization_enabled),
        nullable(s.follow_up_mode.map(campaignd_model::FollowUpMode::as_str)),
        ToSqlOutput::from(s.live),
        nullable(s.method.as_ref().map(campaignd_model::Method::as_str)),
        ToSqlOutput::from(c.updated_at.unix_millis()),
        ToSqlOutput::from(std::str::from_utf8(body).expect("JSON is UTF-8")),
        ToSqlOutput::from(Campaign::BODY_VERSION),
    ]
}

/// A value or NULL.
fn nullable<'a, T: Into<ToSqlOutput<'a>>>(value: Option<T>) -> ToSqlOutput<'a> {
    value.map_or(ToSqlOutput::Owned(SqlValue::Null), Into::into)
}

/// A visible campaign as a write finds it: its row, its fields and its
/// stored body (rendered afresh if stored by an older build), whose hash is
/// the entity tag the write is checked against.
pub(super) struct Current {
    /// Its `row_id`.
    pub(super) row_id: i64,
    /// The campaign.
    pub(super) campaign: Campaign,
    /// Its Get campaign body, as reads serve it.
    pub(super) body: Vec<u8>,
}

/// The campaign a write is about, if it is visible.
pub(super) fn for_write(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> rusqlite::Result<Option<Current>> {
    let (sql, args) = one_campaign(
        center,
        id,
        "row_id = ?1 AND contact_center_id = ?2",
        "contact_center_id = ?1 AND id = ?2",
    );
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, import_id, row_id, body, body_version FROM campaigns WHERE {sql}"
        ))?
        .query_row(args, |r| {
            let campaign = from_row(r)?;
            let body = match r.get::<_, Option<i64>>(IMPORT_ID_AT + 3)? {
                Some(Campaign::BODY_VERSION) => r
                    .get_ref(IMPORT_ID_AT + 2)?
                    .as_bytes_or_null()?
                    .map(<[u8]>::to_vec),
                _ => None,
            };
            Ok((
                campaign,
                body,
                r.get::<_, Option<i64>>(IMPORT_ID_AT)?,
                r.get::<_, i64>(IMPORT_ID_AT + 1)?,
            ))
        })
        .optional()?;
    match found {
        Some((campaign, body, import, row_id)) if !imports::hides(conn, import)? => {
            let body = body.unwrap_or_else(|| campaign.get_body());
            Ok(Some(Current {
                row_id,
                campaign,
                body,
            }))
        }
        _ => Ok(None),
    }
}

/// Whether another campaign of the center (visible or staged by an import)
/// has this name.
pub(super) fn name_taken(
    conn: &Connection,
    center: ContactCenterId,
    name: &str,
    except_row: Option<i64>,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM campaigns WHERE contact_center_id = ?1 AND name = ?2
            AND row_id IS NOT ?3)",
    )?
    .query_row(params![center.get(), name, except_row], |r| r.get(0))
}

/// Rewrites a row's every field, and its body, as `c`.
pub(super) fn update(
    conn: &Connection,
    row_id: i64,
    c: &Campaign,
    body: &[u8],
) -> rusqlite::Result<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let sets: Vec<String> = FIELD_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ?{}", i + 2))
            .collect();
        format!("UPDATE campaigns SET {} WHERE row_id = ?1", sets.join(", "))
    });
    let row = ToSqlOutput::from(row_id);
    let fields = field_values(c, body);
    conn.prepare_cached(&SQL)?
        .execute(params_from_iter(std::iter::once(&row).chain(fields.iter())))?;
    Ok(())
}

/// Deletes a row.
pub(super) fn delete(conn: &Connection, row_id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM campaigns WHERE row_id = ?1")?
        .execute([row_id])?;
    Ok(())
}
