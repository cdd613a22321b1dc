//! Users and their assignments to campaigns (SPEC §9).

use campaignd_model::{CampaignId, ContactCenterId, FieldErrors, Status, Timestamp, User, UserId};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::audit::{self, Entry};
use super::campaigns;
use super::corrupt;
use crate::{AuditAction, Page, Progress, UserPage, UserRecord, WriteContext, WriteError, rules};

const SELECT: &str = "SELECT id, name, email, attributes FROM users";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let attributes: String = row.get(3)?;
    Ok(User {
        id: UserId::new(row.get(0)?).ok_or_else(|| corrupt(0, "user id"))?,
        name: row.get(1)?,
        email: row.get(2)?,
        attributes: serde_json::from_str::<Map<String, Value>>(&attributes)
            .map_err(|_| corrupt(3, "user attributes"))?,
    })
}

/// One user of the center.
pub(super) fn get(
    conn: &Connection,
    center: ContactCenterId,
    id: UserId,
) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!(
        "{SELECT} WHERE contact_center_id = ?1 AND id = ?2"
    ))?
    .query_row([center.get(), id.get()], from_row)
    .optional()
}

/// Imports `records` in the caller's transaction, or refuses them all.
pub(super) fn import(
    tx: &Connection,
    center: ContactCenterId,
    records: Vec<UserRecord>,
    progress: Option<&Progress>,
) -> crate::Result<u64> {
    let mut next: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM users WHERE contact_center_id = ?1",
        [center.get()],
        |r| r.get(0),
    )?;
    let mut existing = std::collections::HashSet::new();
    for id in records.iter().filter_map(|r| r.document.id) {
        if get(tx, center, id)?.is_some() {
            existing.insert(id);
        }
    }
    let given = rules::given_user_ids(&records, |id| existing.contains(&id))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO users (contact_center_id, id, name, email, attributes) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut written = 0u64;
    for r in records {
        let id = rules::user_id(r.document.id, &mut next, &given)?;
        let attributes =
            serde_json::to_string(&r.document.attributes).expect("JSON values serialize");
        insert.execute(params![
            center.get(),
            id,
            r.document.name,
            r.document.email,
            attributes
        ])?;
        written += 1;
        if let Some(progress) = progress
            && written.is_multiple_of(1000)
        {
            progress(written);
        }
    }
    if let Some(progress) = progress {
        progress(written);
    }
    Ok(written)
}

/// A page of the center's users.
pub(super) fn list(
    conn: &Connection,
    center: ContactCenterId,
    page: Page,
) -> rusqlite::Result<UserPage> {
    let total: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM users WHERE contact_center_id = ?1")?
        .query_row([center.get()], |r| r.get(0))?;
    let users = conn
        .prepare_cached(&format!(
            "{SELECT} WHERE contact_center_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
        ))?
        .query_map(
            params![
                center.get(),
                page.limit,
                i64::try_from(page.offset).unwrap_or(i64::MAX)
            ],
            from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(UserPage {
        users,
        total: total as u64,
    })
}

/// A page of a campaign's users; `None` if the campaign is not visible.
pub(super) fn of_campaign(
    conn: &Connection,
    center: ContactCenterId,
    campaign: CampaignId,
    page: Page,
) -> rusqlite::Result<Option<UserPage>> {
    if campaigns::get(conn, center, campaign)?.is_none() {
        return Ok(None);
    }
    let total: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM campaign_users WHERE contact_center_id = ?1 AND campaign_id = ?2",
        )?
        .query_row([center.get(), campaign.get()], |r| r.get(0))?;
    let users = conn
        .prepare_cached(
            "SELECT u.id, u.name, u.email, u.attributes FROM campaign_users a
             JOIN users u ON u.contact_center_id = a.contact_center_id AND u.id = a.user_id
             WHERE a.contact_center_id = ?1 AND a.campaign_id = ?2
             ORDER BY a.user_id LIMIT ?3 OFFSET ?4",
        )?
        .query_map(
            params![
                center.get(),
                campaign.get(),
                page.limit,
                i64::try_from(page.offset).unwrap_or(i64::MAX)
            ],
            from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(UserPage {
        users,
        total: total as u64,
    }))
}

/// How many users staff the campaign.
pub(super) fn assigned(
    conn: &Connection,
    center: ContactCenterId,
    campaign: CampaignId,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM campaign_users WHERE contact_center_id = ?1 AND campaign_id = ?2",
    )?
    .query_row([center.get(), campaign.get()], |r| r.get(0))
}

fn log(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    action: AuditAction,
    status: Status,
) -> rusqlite::Result<()> {
    audit::record(
        conn,
        &Entry {
            center,
            campaign,
            action,
            ctx,
            at: Timestamp::now(),
            before: Some(status),
            after: Some(status),
        },
    )
}

/// Assigns `ids` to the campaign; answers the users newly assigned.
pub(super) fn assign(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    mut ids: Vec<UserId>,
) -> Result<Vec<User>, WriteError> {
    let found = campaigns::get(conn, center, campaign)?.ok_or(WriteError::NotFound)?;
    rules::check_assignable(found.status)?;
    ids.sort_unstable();
    ids.dedup();
    let mut users = Vec::with_capacity(ids.len());
    let mut missing = FieldErrors::new();
    for id in &ids {
        match get(conn, center, *id)? {
            Some(user) => users.push(user),
            None => missing.add("user_ids", format!("{id} does not exist")),
        }
    }
    if !missing.is_empty() {
        return Err(WriteError::Invalid(missing));
    }
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO campaign_users (contact_center_id, campaign_id, user_id) VALUES (?1, ?2, ?3)",
    )?;
    let mut added = Vec::new();
    for user in users {
        if insert.execute([center.get(), campaign.get(), user.id.get()])? == 1 {
            added.push(user);
        }
    }
    log(
        conn,
        ctx,
        center,
        campaign,
        AuditAction::AssignUsers,
        found.status,
    )?;
    Ok(added)
}

/// Removes a user from the campaign; answers the user.
pub(super) fn remove(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    id: UserId,
) -> Result<User, WriteError> {
    let found = campaigns::get(conn, center, campaign)?.ok_or(WriteError::NotFound)?;
    let user = get(conn, center, id)?.ok_or(WriteError::NotFound)?;
    let left = assigned(conn, center, campaign)?;
    let removed = conn
        .prepare_cached(
            "DELETE FROM campaign_users WHERE contact_center_id = ?1 AND campaign_id = ?2 AND user_id = ?3",
        )?
        .execute([center.get(), campaign.get(), id.get()])?;
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
    )?;
    Ok(user)
}

/// Deletes a user and its assignments.
pub(super) fn delete(
    conn: &Connection,
    center: ContactCenterId,
    id: UserId,
) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM users WHERE contact_center_id = ?1 AND id = ?2")?
        .execute([center.get(), id.get()])?
        == 1)
}
