//! Audit rows: written in a write's own transaction, listed oldest first.

use campaignd_model::{ApiKeyId, CampaignId, ContactCenterId, Status, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};

use super::corrupt;
use crate::{AuditAction, AuditQuery, AuditRecord, WriteContext};

/// One record to write.
pub(super) struct Entry<'a> {
    pub(super) center: ContactCenterId,
    pub(super) campaign: CampaignId,
    pub(super) action: AuditAction,
    pub(super) ctx: &'a WriteContext,
    pub(super) at: Timestamp,
    pub(super) before: Option<Status>,
    pub(super) after: Option<Status>,
}

/// Writes `entry` in the caller's transaction.
pub(super) fn record(conn: &Connection, entry: &Entry<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (contact_center_id, campaign_id, action, api_key_id, request_id, at,
            status_before, status_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        entry.center.get(),
        entry.campaign.get(),
        entry.action.as_str(),
        entry.ctx.key_id.map(ApiKeyId::get),
        entry.ctx.request_id.as_deref(),
        entry.at.unix_millis(),
        entry.before.map(Status::as_str),
        entry.after.map(Status::as_str),
    ])?;
    Ok(())
}

fn status(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<Status>> {
    row.get::<_, Option<String>>(i)?
        .map(|s| s.parse().map_err(|_| corrupt(i, "status")))
        .transpose()
}

/// The records `query` asks for, oldest first.
pub(super) fn list(conn: &Connection, query: &AuditQuery) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut sql = String::from(
        "SELECT seq, contact_center_id, campaign_id, action, api_key_id, request_id, at,
            status_before, status_after FROM audit WHERE contact_center_id = ?",
    );
    let mut args = vec![SqlValue::Integer(query.center.get())];
    if let Some(campaign) = query.campaign {
        sql.push_str(" AND campaign_id = ?");
        args.push(SqlValue::Integer(campaign.get()));
    }
    if let Some(since) = query.since {
        sql.push_str(" AND at >= ?");
        args.push(SqlValue::Integer(since.unix_millis()));
    }
    if let Some(after) = query.after {
        sql.push_str(" AND seq > ?");
        args.push(SqlValue::Integer(after));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    args.push(SqlValue::Integer(i64::from(query.limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.query_map(params_from_iter(args.iter()), |r| {
        let action: String = r.get(3)?;
        Ok(AuditRecord {
            seq: r.get(0)?,
            contact_center_id: ContactCenterId::new(r.get(1)?)
                .ok_or_else(|| corrupt(1, "contact center id"))?,
            campaign_id: CampaignId::new(r.get(2)?).ok_or_else(|| corrupt(2, "campaign id"))?,
            action: action.parse().map_err(|_| corrupt(3, "audit action"))?,
            key_id: r
                .get::<_, Option<i64>>(4)?
                .map(|id| ApiKeyId::new(id).ok_or_else(|| corrupt(4, "key id")))
                .transpose()?,
            request_id: r.get(5)?,
            at: Timestamp::from_unix_millis(r.get(6)?).ok_or_else(|| corrupt(6, "timestamp"))?,
            status_before: status(r, 7)?,
            status_after: status(r, 8)?,
        })
    })?
    .collect()
}
