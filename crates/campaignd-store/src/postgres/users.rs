//! Users and their assignments to campaigns (SPEC §9).

use std::collections::HashMap;

use campaignd_model::{CampaignId, ContactCenterId, FieldErrors, Status, User, UserId};
use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::audit::{self, Entry};
use super::{campaigns, col, corrupt, page_bounds};
use crate::{
    AuditAction, Page, Progress, Result, StoreError, UserPage, UserRecord, WriteContext,
    WriteError, rules,
};

const SELECT: &str = "SELECT id, name, email, attributes FROM users";

fn from_row(row: &Row) -> Result<User> {
    let attributes: &str = col(row, 3)?;
    Ok(User {
        id: UserId::new(col(row, 0)?).ok_or_else(|| corrupt("user id"))?,
        name: col(row, 1)?,
        email: col(row, 2)?,
        attributes: serde_json::from_str::<Map<String, Value>>(attributes)
            .map_err(|_| corrupt("user attributes"))?,
    })
}

/// The users of the center with these ids, by id; with `lock`, kept from
/// being deleted until the caller's transaction ends (an assignment's
/// foreign key would otherwise fail on a user deleted meanwhile).
async fn by_ids(
    conn: &impl GenericClient,
    center: ContactCenterId,
    ids: &[i64],
    lock: bool,
) -> Result<HashMap<i64, User>> {
    let stmt = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE contact_center_id = $1 AND id = ANY($2){}",
            if lock { " FOR KEY SHARE" } else { "" }
        ))
        .await?;
    conn.query(&stmt, &[&center.get(), &ids])
        .await?
        .iter()
        .map(|row| from_row(row).map(|u| (u.id.get(), u)))
        .collect()
}

/// Imports `records` in the caller's transaction, or refuses them all. The
/// center's row is locked: imports into one center take turns.
pub(super) async fn import(
    tx: &impl GenericClient,
    center: ContactCenterId,
    records: Vec<UserRecord>,
    progress: Option<&Progress>,
) -> Result<u64> {
    if tx
        .query_opt(
            "SELECT 1 FROM contact_centers WHERE id = $1 FOR NO KEY UPDATE",
            &[&center.get()],
        )
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound("contact center"));
    }
    let mut next: i64 = tx
        .query_one(
            "SELECT coalesce(max(id), 0) + 1 FROM users WHERE contact_center_id = $1",
            &[&center.get()],
        )
        .await?
        .get(0);
    let wanted: Vec<i64> = records
        .iter()
        .filter_map(|r| r.document.id.map(UserId::get))
        .collect();
    let existing = by_ids(tx, center, &wanted, false).await?;
    let given = rules::given_user_ids(&records, |id| existing.contains_key(&id.get()))?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO users (contact_center_id, id, name, email, attributes)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let mut written = 0u64;
    for chunk in records.chunks(1000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for r in chunk {
            let id = rules::user_id(r.document.id, &mut next, &given)?;
            let attributes =
                serde_json::to_string(&r.document.attributes).expect("JSON values serialize");
            rows.push((id, &r.document.name, &r.document.email, attributes));
        }
        let center = center.get();
        let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 5]> = rows
            .iter()
            .map(|(id, name, email, attributes)| {
                [
                    &center as _,
                    id as _,
                    name as _,
                    email as _,
                    attributes as _,
                ]
            })
            .collect();
        // Sent at once: the driver pipelines them on the connection.
        futures_util::future::try_join_all(params.iter().map(|p| tx.execute(&insert, p))).await?;
        written += chunk.len() as u64;
        if let Some(progress) = progress {
            progress(written);
        }
    }
    Ok(written)
}

/// A page of the center's users.
pub(super) async fn list(
    conn: &impl GenericClient,
    center: ContactCenterId,
    page: Page,
) -> Result<UserPage> {
    let total: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM users WHERE contact_center_id = $1",
            &[&center.get()],
        )
        .await?
        .get(0);
    let (limit, offset) = page_bounds(page);
    let users = conn
        .query(
            &format!("{SELECT} WHERE contact_center_id = $1 ORDER BY id LIMIT $2 OFFSET $3"),
            &[&center.get(), &limit, &offset],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_>>()?;
    Ok(UserPage {
        users,
        total: total as u64,
    })
}

/// A page of a campaign's users; `None` if there is no such campaign.
pub(super) async fn of_campaign(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
    page: Page,
) -> Result<Option<UserPage>> {
    if campaigns::get(conn, center, campaign).await?.is_none() {
        return Ok(None);
    }
    let total = assigned(conn, center, campaign).await?;
    let (limit, offset) = page_bounds(page);
    let users = conn
        .query(
            "SELECT u.id, u.name, u.email, u.attributes FROM campaign_users a
             JOIN users u ON u.contact_center_id = a.contact_center_id AND u.id = a.user_id
             WHERE a.contact_center_id = $1 AND a.campaign_id = $2
             ORDER BY a.user_id LIMIT $3 OFFSET $4",
            &[&center.get(), &campaign.get(), &limit, &offset],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_>>()?;
    Ok(Some(UserPage {
        users,
        total: total as u64,
    }))
}

/// How many users staff the campaign.
pub(super) async fn assigned(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
) -> Result<i64> {
    let stmt = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM campaign_users WHERE contact_center_id = $1 AND campaign_id = $2",
        )
        .await?;
    Ok(conn
        .query_one(&stmt, &[&center.get(), &campaign.get()])
        .await?
        .get(0))
}

async fn log(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    action: AuditAction,
    status: Status,
) -> Result<()> {
    audit::record(
        conn,
        &Entry {
            center,
            campaign,
            action,
            ctx,
            before: Some(status),
            after: Some(status),
        },
    )
    .await
}

/// Assigns `ids` to the campaign, whose row is locked; answers the users
/// newly assigned.
pub(super) async fn assign(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    mut ids: Vec<UserId>,
) -> Result<Vec<User>, WriteError> {
    let found = campaigns::for_write(conn, center, campaign)
        .await?
        .ok_or(WriteError::NotFound)?
        .campaign;
    rules::check_assignable(found.status)?;
    ids.sort_unstable();
    ids.dedup();
    let wanted: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let mut known = by_ids(conn, center, &wanted, true).await?;
    let mut missing = FieldErrors::new();
    for id in &ids {
        if !known.contains_key(&id.get()) {
            missing.add("user_ids", format!("{id} does not exist"));
        }
    }
    if !missing.is_empty() {
        return Err(WriteError::Invalid(missing));
    }
    let added: Vec<i64> = conn
        .query(
            "INSERT INTO campaign_users (contact_center_id, campaign_id, user_id)
             SELECT $1, $2, unnest($3::bigint[])
             ON CONFLICT DO NOTHING RETURNING user_id",
            &[&center.get(), &campaign.get(), &wanted],
        )
        .await?
        .iter()
        .map(|row| col(row, 0))
        .collect::<Result<_>>()?;
    let mut added: Vec<User> = added
        .into_iter()
        .filter_map(|id| known.remove(&id))
        .collect();
    added.sort_by_key(|u| u.id);
    log(
        conn,
        ctx,
        center,
        campaign,
        AuditAction::AssignUsers,
        found.status,
    )
    .await?;
    Ok(added)
}

/// Removes a user from the campaign, whose row is locked; answers the user.
pub(super) async fn remove(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    id: UserId,
) -> Result<User, WriteError> {
    let found = campaigns::for_write(conn, center, campaign)
        .await?
        .ok_or(WriteError::NotFound)?
        .campaign;
    let user = by_ids(conn, center, &[id.get()], false)
        .await?
        .remove(&id.get())
        .ok_or(WriteError::NotFound)?;
    let left = assigned(conn, center, campaign).await?;
    let removed = conn
        .execute(
            "DELETE FROM campaign_users
             WHERE contact_center_id = $1 AND campaign_id = $2 AND user_id = $3",
            &[&center.get(), &campaign.get(), &id.get()],
        )
        .await?;
    if removed == 0 {
        return Err(WriteError::NotFound);
    }
    rules::check_removable(found.status, left)?;
    log(
        conn,
        ctx,
        center,
        campaign,
        AuditAction::RemoveUser,
        found.status,
    )
    .await?;
    Ok(user)
}

/// Deletes a user and its assignments.
pub(super) async fn delete(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: UserId,
) -> Result<bool> {
    Ok(conn
        .execute(
            "DELETE FROM users WHERE contact_center_id = $1 AND id = $2",
            &[&center.get(), &id.get()],
        )
        .await?
        == 1)
}
