//! Audit rows: written in a write's own transaction, listed oldest first.

use campaignd_model::{ApiKeyId, CampaignId, ContactCenterId, Status, Timestamp};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::campaigns::{Param, refs};
use super::{col, corrupt, timestamp};
use crate::{AuditAction, AuditQuery, AuditRecord, Result, WriteContext};

/// One record to write.
pub(super) struct Entry<'a> {
    pub(super) center: ContactCenterId,
    pub(super) campaign: CampaignId,
    pub(super) action: AuditAction,
    pub(super) ctx: &'a WriteContext,
    pub(super) before: Option<Status>,
    pub(super) after: Option<Status>,
}

/// Writes `entry` in the caller's transaction.
pub(super) async fn record(conn: &impl GenericClient, entry: &Entry<'_>) -> Result<()> {
    let stmt = conn
        .prepare_cached(
            "INSERT INTO audit (contact_center_id, campaign_id, action, api_key_id, request_id,
                at, status_before, status_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    conn.execute(
        &stmt,
        &[
            &entry.center.get(),
            &entry.campaign.get(),
            &entry.action.as_str(),
            &entry.ctx.key_id.map(ApiKeyId::get),
            &entry.ctx.request_id.as_deref(),
            &Timestamp::now().unix_millis(),
            &entry.before.map(Status::as_str),
            &entry.after.map(Status::as_str),
        ],
    )
    .await?;
    Ok(())
}

fn status(row: &Row, i: usize) -> Result<Option<Status>> {
    col::<Option<&str>>(row, i)?
        .map(|s| s.parse().map_err(|_| corrupt("status")))
        .transpose()
}

/// The records `query` asks for, oldest first.
pub(super) async fn list(
    conn: &impl GenericClient,
    query: &AuditQuery,
) -> Result<Vec<AuditRecord>> {
    let mut sql = String::from(
        "SELECT seq, contact_center_id, campaign_id, action, api_key_id, request_id, at,
            status_before, status_after FROM audit WHERE contact_center_id = $1",
    );
    let mut args: Vec<Param> = vec![Box::new(query.center.get())];
    let mut push = |cond: &str, value: Param| {
        args.push(value);
        sql.push_str(&format!(" AND {cond} ${}", args.len()));
    };
    if let Some(campaign) = query.campaign {
        push("campaign_id =", Box::new(campaign.get()));
    }
    if let Some(since) = query.since {
        push("at >=", Box::new(since.unix_millis()));
    }
    if let Some(after) = query.after {
        push("seq >", Box::new(after));
    }
    args.push(Box::new(i64::from(query.limit)));
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", args.len()));
    conn.query(&sql, &refs(&args))
        .await?
        .iter()
        .map(|r| {
            let action: &str = col(r, 3)?;
            Ok(AuditRecord {
                seq: col(r, 0)?,
                contact_center_id: ContactCenterId::new(col(r, 1)?)
                    .ok_or_else(|| corrupt("contact center id"))?,
                campaign_id: CampaignId::new(col(r, 2)?).ok_or_else(|| corrupt("campaign id"))?,
                action: action.parse().map_err(|_| corrupt("audit action"))?,
                key_id: col::<Option<i64>>(r, 4)?
                    .map(|id| ApiKeyId::new(id).ok_or_else(|| corrupt("key id")))
                    .transpose()?,
                request_id: col(r, 5)?,
                at: timestamp(col(r, 6)?)?,
                status_before: status(r, 7)?,
                status_after: status(r, 8)?,
            })
        })
        .collect()
}
