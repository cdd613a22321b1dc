//! The API's campaign writes (SPEC §8): each checks the campaign's state
//! and the caller's `If-Match` inside its own transaction, then writes the
//! row, its audit record and its change-log row there too. They run in the
//! committer's savepoints (`group_commit`).

use campaignd_model::{
    Action, Campaign, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId, EntityTag,
    Expected, Status, Timestamp,
};
use rusqlite::Connection;

use super::audit::{self, Entry};
use super::campaigns::{self, Current};
use super::{leads, record_change, users};
use crate::{AuditAction, Change, StoreError, WriteContext, WriteError, Written, rules};

type Outcome = Result<Written, WriteError>;

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(super::map_err(e))
    }
}

/// The campaign a write is about, with `If-Match` checked.
fn current(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
    expected: Option<&Expected>,
) -> Result<Current, WriteError> {
    let found = campaigns::for_write(conn, center, id)?.ok_or(WriteError::NotFound)?;
    if let Some(expected) = expected
        && !expected.allows(&EntityTag::of(&found.body))
    {
        return Err(WriteError::PreconditionFailed);
    }
    Ok(found)
}

/// Records the write in the audit trail and the change log.
fn log(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    action: AuditAction,
    status: (Option<Status>, Option<Status>),
) -> Result<(), WriteError> {
    audit::record(
        conn,
        &Entry {
            center,
            campaign: id,
            action,
            ctx,
            at: Timestamp::now(),
            before: status.0,
            after: status.1,
        },
    )?;
    record_change(conn, Change::Campaign(center, id))?;
    Ok(())
}

pub(super) fn create(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    settings: CampaignSettings,
) -> Outcome {
    if campaigns::name_taken(conn, center, settings.name.as_str(), None)? {
        return Err(WriteError::name_taken());
    }
    // Ids are never reused: the counter only moves forward, imports
    // included.
    let next: i64 = conn
        .prepare_cached("SELECT next_campaign_id FROM contact_centers WHERE id = ?1")?
        .query_row([center.get()], |r| r.get(0))?;
    let id = CampaignId::new(next)
        .filter(|id| id.get() <= CampaignId::MAX_STORED)
        .ok_or_else(|| StoreError::Internal("the center has used every campaign id".into()))?;
    conn.prepare_cached("UPDATE contact_centers SET next_campaign_id = ?2 WHERE id = ?1")?
        .execute([center.get(), next + 1])?;
    let now = Timestamp::now();
    let campaign = Campaign {
        id,
        status: Status::Draft,
        settings,
        created_at: now,
        updated_at: now,
    };
    campaigns::insert(conn, center, &campaign, None)?;
    log(
        conn,
        ctx,
        center,
        id,
        AuditAction::Create,
        (None, Some(Status::Draft)),
    )?;
    Ok(Written::new(campaign))
}

pub(super) fn update(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    patch: &CampaignPatch,
    expected: Option<&Expected>,
) -> Outcome {
    let Current {
        row_id, campaign, ..
    } = current(conn, center, id, expected)?;
    campaign.status.check_update()?;
    let settings = patch.apply(&campaign).map_err(WriteError::Invalid)?;
    if settings.name != campaign.settings.name
        && campaigns::name_taken(conn, center, settings.name.as_str(), Some(row_id))?
    {
        return Err(WriteError::name_taken());
    }
    let status = campaign.status;
    let updated = Campaign {
        settings,
        ..campaign
    };
    rewrite(
        conn,
        ctx,
        (center, row_id),
        updated,
        AuditAction::Update,
        status,
    )
}

pub(super) fn delete(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    expected: Option<&Expected>,
) -> Outcome {
    let Current {
        row_id,
        campaign,
        body,
    } = current(conn, center, id, expected)?;
    campaign.status.check_delete()?;
    campaigns::delete(conn, row_id)?;
    log(
        conn,
        ctx,
        center,
        id,
        AuditAction::Delete,
        (Some(campaign.status), None),
    )?;
    let etag = EntityTag::of(&body);
    Ok(Written {
        campaign,
        body,
        etag,
    })
}

pub(super) fn act(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    action: Action,
    expected: Option<&Expected>,
) -> Outcome {
    let Current {
        row_id, campaign, ..
    } = current(conn, center, id, expected)?;
    let before = campaign.status;
    let moved = Campaign {
        status: before.after(action)?,
        ..campaign
    };
    if action == Action::Start {
        check_staffed(conn, center, id)?;
    }
    rewrite(conn, ctx, (center, row_id), moved, action.into(), before)
}

/// The start rule (SPEC §10), on what the campaign has now.
fn check_staffed(
    conn: &Connection,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<(), WriteError> {
    rules::check_staffed(
        users::assigned(conn, center, id)? > 0,
        leads::any_active(conn, center, id)?,
    )
}

/// Stores `campaign` (changed from a row whose status was `before`) over
/// its row with `updated_at` moved on, and logs the write.
fn rewrite(
    conn: &Connection,
    ctx: &WriteContext,
    (center, row_id): (ContactCenterId, i64),
    mut campaign: Campaign,
    action: AuditAction,
    before: Status,
) -> Outcome {
    campaign.updated_at = rules::updated_after(campaign.updated_at);
    let written = Written::new(campaign);
    campaigns::update(conn, row_id, &written.campaign, &written.body)?;
    let c = &written.campaign;
    log(
        conn,
        ctx,
        center,
        c.id,
        action,
        (Some(before), Some(c.status)),
    )?;
    Ok(written)
}
