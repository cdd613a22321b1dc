//! Campaign rows: scalar columns for what is filtered or bounded, JSON text
//! for the nested objects, and the rendered Get campaign body.

use campaignd_model::{
    Campaign, CampaignId, CampaignSettings, ContactCenterId, DialLevel, FollowUpMode,
    MaxDialAttempts, MaxDialTime, MaxWaitTime, Method,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{col, corrupt, page_bounds, timestamp};
use crate::rules::FIELD_COLUMNS;
use crate::{CampaignFilter, CampaignPage, Page, Result};

/// The columns [`from_row`] reads, in its order.
pub(super) const COLUMNS: &str = "id, name, status, strategy, dial_level, dial_level_override,
    max_dial_time, max_wait_time, max_dial_attempts, amd_enabled, amd_voicemail_message,
    caller_id_sets, use_local_caller_id, asr_optimization_enabled, follow_up_mode, live, method,
    created_at, updated_at";

/// How many [`COLUMNS`] there are: a query's extra columns follow them.
pub(super) const COLUMN_COUNT: usize = 19;

/// An owned statement parameter.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// Borrows owned parameters as the driver takes them.
pub(super) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn json<T: serde::de::DeserializeOwned>(text: Option<&str>, what: &str) -> Result<Option<T>> {
    text.map(|t| serde_json::from_str(t).map_err(|_| corrupt(what)))
        .transpose()
}

fn parsed<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
    text.parse().map_err(|_| corrupt(what))
}

fn bounded<T>(value: i64, new: fn(i64) -> Option<T>) -> Result<T> {
    new(value).ok_or_else(|| corrupt("integer setting"))
}

/// A campaign from the first [`COLUMN_COUNT`] columns of `row`.
pub(super) fn from_row(row: &Row) -> Result<Campaign> {
    from_row_at(row, 0)
}

/// A campaign from the [`COLUMN_COUNT`] columns of `row` from `first` on.
pub(super) fn from_row_at(row: &Row, first: usize) -> Result<Campaign> {
    let follow_up: Option<&str> = col(row, first + 14)?;
    let method: Option<&str> = col(row, first + 16)?;
    Ok(Campaign {
        id: bounded(col(row, first)?, CampaignId::new)?,
        status: parsed(col(row, first + 2)?, "status")?,
        settings: CampaignSettings {
            name: parsed(col(row, first + 1)?, "name")?,
            strategy: parsed(col(row, first + 3)?, "strategy")?,
            dial_level: DialLevel::new(col(row, first + 4)?)
                .ok_or_else(|| corrupt("dial level"))?,
            dial_level_override: json(col(row, first + 5)?, "dial_level_override")?,
            max_dial_time: bounded(col(row, first + 6)?, MaxDialTime::new)?,
            max_wait_time: bounded(col(row, first + 7)?, MaxWaitTime::new)?,
            max_dial_attempts: bounded(col(row, first + 8)?, MaxDialAttempts::new)?,
            amd_enabled: col(row, first + 9)?,
            amd_voicemail_message: json(col(row, first + 10)?, "amd_voicemail_message")?,
            caller_id_sets: json(col(row, first + 11)?, "caller_id_sets")?
                .ok_or_else(|| corrupt("caller_id_sets"))?,
            use_local_caller_id: col(row, first + 12)?,
            asr_optimization_enabled: col(row, first + 13)?,
            follow_up_mode: follow_up
                .map(|s| parsed::<FollowUpMode>(s, "follow_up_mode"))
                .transpose()?,
            live: col(row, first + 15)?,
            method: method.map(|s| parsed::<Method>(s, "method")).transpose()?,
        },
        created_at: timestamp(col(row, first + 17)?)?,
        updated_at: timestamp(col(row, first + 18)?)?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("campaign parts serialize")
}

/// The values of [`FIELD_COLUMNS`] for `c`, whose rendering is `body`.
pub(super) fn field_values(c: &Campaign, body: &[u8]) -> Vec<Param> {
    let s = &c.settings;
    vec![
        Box::new(s.name.as_str().to_owned()),
        Box::new(s.name.as_str().to_lowercase()),
        Box::new(c.status.as_str()),
        Box::new(s.strategy.as_str()),
        Box::new(s.dial_level.get()),
        Box::new(s.dial_level_override.as_ref().map(to_json)),
        Box::new(i64::from(s.max_dial_time.get())),
        Box::new(i64::from(s.max_wait_time.get())),
        Box::new(i64::from(s.max_dial_attempts.get())),
        Box::new(s.amd_enabled),
        Box::new(s.amd_voicemail_message.as_ref().map(to_json)),
        Box::new(to_json(&s.caller_id_sets)),
        Box::new(s.use_local_caller_id),
        Box::new(s.asr_optimization_enabled),
        Box::new(s.follow_up_mode.map(FollowUpMode::as_str)),
        Box::new(s.live),
        Box::new(s.method.as_ref().map(|m| m.as_str().to_owned())),
        Box::new(c.updated_at.unix_millis()),
        Box::new(String::from_utf8(body.to_vec()).expect("JSON is UTF-8")),
        Box::new(Campaign::BODY_VERSION),
    ]
}

/// `$first, $first+1, …` for `count` parameters.
pub(super) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One campaign of a center.
pub(super) async fn get(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<Option<Campaign>> {
    let stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE contact_center_id = $1 AND id = $2"
        ))
        .await?;
    conn.query_opt(&stmt, &[&center.get(), &id.get()])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

/// The Get campaign body: the stored rendering when it is of this build's
/// version, else rendered from the row.
pub(super) async fn get_body(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<Option<Vec<u8>>> {
    let stmt = conn
        .prepare_cached(
            "SELECT body, body_version FROM campaigns WHERE contact_center_id = $1 AND id = $2",
        )
        .await?;
    let Some(row) = conn.query_opt(&stmt, &[&center.get(), &id.get()]).await? else {
        return Ok(None);
    };
    if col::<i64>(&row, 1)? == Campaign::BODY_VERSION {
        return Ok(Some(col::<&str>(&row, 0)?.as_bytes().to_vec()));
    }
    Ok(get(conn, center, id).await?.map(|c| c.get_body()))
}

/// `WHERE` conditions and their parameters for a filter, numbered from 1.
fn where_clause(center: ContactCenterId, filter: &CampaignFilter) -> (String, Vec<Param>) {
    let mut sql = String::from("contact_center_id = $1");
    let mut args: Vec<Param> = vec![Box::new(center.get())];
    // `{}` in each condition is its parameter.
    let mut push = |cond: &str, value: Param| {
        args.push(value);
        sql.push_str(" AND ");
        sql.push_str(&cond.replace("{}", &format!("${}", args.len())));
    };
    if let Some(name) = &filter.name {
        if name.contains('\0') {
            // No name holds NUL, and PostgreSQL text cannot.
            push("false AND {}::text = ''", Box::<String>::default());
        } else {
            // strpos, not LIKE: the filter is a plain substring, `%` included.
            push("strpos(name_folded, {}) > 0", Box::new(name.to_lowercase()));
        }
    }
    if let Some(status) = filter.status {
        push("status = {}", Box::new(status.as_str()));
    }
    if let Some(strategy) = filter.strategy {
        push("strategy = {}", Box::new(strategy.as_str()));
    }
    if let Some(method) = &filter.method {
        push("method = {}", Box::new(method.as_str().to_owned()));
    }
    if let Some(live) = filter.live {
        push("live = {}", Box::new(live));
    }
    (sql, args)
}

pub(super) async fn list(
    conn: &impl GenericClient,
    center: ContactCenterId,
    filter: &CampaignFilter,
    page: Page,
) -> Result<CampaignPage> {
    let (cond, mut args) = where_clause(center, filter);
    let total: i64 = conn
        .query_one(
            &format!("SELECT COUNT(*) FROM campaigns WHERE {cond}"),
            &refs(&args),
        )
        .await?
        .get(0);
    let (limit, offset) = page_bounds(page);
    let n = args.len();
    args.push(Box::new(limit));
    args.push(Box::new(offset));
    let rows = conn
        .query(
            &format!(
                "SELECT {COLUMNS} FROM campaigns WHERE {cond} ORDER BY id LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &refs(&args),
        )
        .await?;
    Ok(CampaignPage {
        campaigns: rows.iter().map(from_row).collect::<Result<_>>()?,
        total: total as u64,
    })
}

pub(super) async fn after(
    conn: &impl GenericClient,
    center: ContactCenterId,
    after: Option<CampaignId>,
    limit: u32,
) -> Result<Vec<Campaign>> {
    let stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM campaigns WHERE contact_center_id = $1 AND id > $2
             ORDER BY id LIMIT $3"
        ))
        .await?;
    conn.query(
        &stmt,
        &[
            &center.get(),
            &after.map_or(0, CampaignId::get),
            &i64::from(limit),
        ],
    )
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// A campaign as a write finds it, locked until the write commits: its
/// fields and its stored body (rendered afresh if stored by another build),
/// whose hash is the entity tag the write is checked against.
pub(super) struct Current {
    /// The campaign.
    pub(super) campaign: Campaign,
    /// Its Get campaign body, as reads serve it.
    pub(super) body: Vec<u8>,
}

/// The campaign a write is about, locked for the rest of the transaction:
/// writes to one campaign take turns, each seeing the one before.
pub(super) async fn for_write(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<Option<Current>> {
    let stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, body, body_version FROM campaigns
             WHERE contact_center_id = $1 AND id = $2 FOR UPDATE"
        ))
        .await?;
    let Some(row) = conn.query_opt(&stmt, &[&center.get(), &id.get()]).await? else {
        return Ok(None);
    };
    let campaign = from_row(&row)?;
    let body = if col::<i64>(&row, COLUMN_COUNT + 1)? == Campaign::BODY_VERSION {
        col::<&str>(&row, COLUMN_COUNT)?.as_bytes().to_vec()
    } else {
        campaign.get_body()
    };
    Ok(Some(Current { campaign, body }))
}

/// Whether another campaign of the center, visible or staged by an
/// import, has this name.
pub(super) async fn name_taken(
    conn: &impl GenericClient,
    center: ContactCenterId,
    name: &str,
    except: Option<CampaignId>,
) -> Result<bool> {
    let stmt = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM campaigns WHERE contact_center_id = $1 AND name = $2
                AND id IS DISTINCT FROM $3)
             OR EXISTS (SELECT 1 FROM import_rows WHERE contact_center_id = $1 AND name = $2)",
        )
        .await?;
    Ok(conn
        .query_one(&stmt, &[&center.get(), &name, &except.map(CampaignId::get)])
        .await?
        .get(0))
}

/// Inserts a visible campaign row.
pub(super) async fn insert(
    conn: &impl GenericClient,
    center: ContactCenterId,
    c: &Campaign,
    body: &[u8],
) -> std::result::Result<(), tokio_postgres::Error> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO campaigns (contact_center_id, id, created_at, {})
             VALUES ($1, $2, $3, {})",
            FIELD_COLUMNS.join(", "),
            placeholders(4, FIELD_COLUMNS.len())
        )
    });
    let mut params: Vec<Param> = vec![
        Box::new(center.get()),
        Box::new(c.id.get()),
        Box::new(c.created_at.unix_millis()),
    ];
    params.extend(field_values(c, body));
    let stmt = conn.prepare_cached(&SQL).await?;
    conn.execute(&stmt, &refs(&params)).await?;
    Ok(())
}

/// Rewrites a campaign's every field, and its body, as `c`.
pub(super) async fn update(
    conn: &impl GenericClient,
    center: ContactCenterId,
    c: &Campaign,
    body: &[u8],
) -> std::result::Result<(), tokio_postgres::Error> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let sets: Vec<String> = FIELD_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 3))
            .collect();
        format!(
            "UPDATE campaigns SET {} WHERE contact_center_id = $1 AND id = $2",
            sets.join(", ")
        )
    });
    let mut params: Vec<Param> = vec![Box::new(center.get()), Box::new(c.id.get())];
    params.extend(field_values(c, body));
    let stmt = conn.prepare_cached(&SQL).await?;
    conn.execute(&stmt, &refs(&params)).await?;
    Ok(())
}

/// Deletes a campaign; its users' assignments and its leads go with it.
pub(super) async fn delete(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<()> {
    let stmt = conn
        .prepare_cached("DELETE FROM campaigns WHERE contact_center_id = $1 AND id = $2")
        .await?;
    conn.execute(&stmt, &[&center.get(), &id.get()]).await?;
    Ok(())
}
