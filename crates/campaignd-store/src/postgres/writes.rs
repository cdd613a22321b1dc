//! The API's campaign writes (SPEC §8), each one transaction: the
//! campaign's row is locked, its state and the caller's `If-Match` checked,
//! and the row, its audit record and its change-log row written together.

use campaignd_model::{
    Action, Campaign, CampaignId, CampaignPatch, CampaignSettings, ContactCenterId, EntityTag,
    Expected, Status, Timestamp,
};
use deadpool_postgres::GenericClient;

use super::audit::{self, Entry};
use super::campaigns::{self, Current};
use super::{is_unique_violation, leads, map_err, record_change, users};
use crate::{AuditAction, Change, StoreError, WriteContext, WriteError, Written, rules};

type Outcome = Result<Written, WriteError>;

/// The campaign a write is about, locked, with `If-Match` checked.
async fn current(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
    expected: Option<&Expected>,
) -> Result<Current, WriteError> {
    let found = campaigns::for_write(conn, center, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    if let Some(expected) = expected
        && !expected.allows(&EntityTag::of(&found.body))
    {
        return Err(WriteError::PreconditionFailed);
    }
    Ok(found)
}

/// Records the write in the audit trail and the change log.
async fn log(
    conn: &impl GenericClient,
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
            before: status.0,
            after: status.1,
        },
    )
    .await?;
    record_change(conn, Change::Campaign(center, id)).await?;
    Ok(())
}

/// A write refused by the unique index on names: another write took the
/// name after this one checked it.
fn name_race(e: &tokio_postgres::Error) -> WriteError {
    if is_unique_violation(e) {
        WriteError::name_taken()
    } else {
        WriteError::Store(map_err(e))
    }
}

pub(super) async fn create(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    settings: CampaignSettings,
) -> Outcome {
    // Ids are never reused: the counter only moves forward, imports
    // included. Its row lock orders creates, renames and import stages in
    // one center, so the name check below sees every staged name.
    let next: i64 = conn
        .query_opt(
            "UPDATE contact_centers SET next_campaign_id = next_campaign_id + 1 WHERE id = $1
             RETURNING next_campaign_id - 1",
            &[&center.get()],
        )
        .await?
        .ok_or(WriteError::NotFound)?
        .get(0);
    if campaigns::name_taken(conn, center, settings.name.as_str(), None).await? {
        return Err(WriteError::name_taken());
    }
    let id = CampaignId::new(next)
        .filter(|id| id.get() <= CampaignId::MAX_STORED)
        .ok_or_else(|| StoreError::Internal("the center has used every campaign id".into()))?;
    let now = Timestamp::now();
    let campaign = Campaign {
        id,
        status: Status::Draft,
        settings,
        created_at: now,
        updated_at: now,
    };
    let written = Written::new(campaign);
    campaigns::insert(conn, center, &written.campaign, &written.body)
        .await
        .map_err(|e| name_race(&e))?;
    log(
        conn,
        ctx,
        center,
        id,
        AuditAction::Create,
        (None, Some(Status::Draft)),
    )
    .await?;
    Ok(written)
}

pub(super) async fn update(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    patch: &CampaignPatch,
    expected: Option<&Expected>,
) -> Outcome {
    let Current { campaign, .. } = current(conn, center, id, expected).await?;
    campaign.status.check_update()?;
    let settings = patch.apply(&campaign).map_err(WriteError::Invalid)?;
    if settings.name != campaign.settings.name {
        // A rename takes turns with creates and import stages (see `create`).
        conn.execute(
            "SELECT 1 FROM contact_centers WHERE id = $1 FOR NO KEY UPDATE",
            &[&center.get()],
        )
        .await?;
        if campaigns::name_taken(conn, center, settings.name.as_str(), Some(id)).await? {
            return Err(WriteError::name_taken());
        }
    }
    let status = campaign.status;
    let updated = Campaign {
        settings,
        ..campaign
    };
    rewrite(conn, ctx, center, updated, AuditAction::Update, status).await
}

pub(super) async fn delete(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    expected: Option<&Expected>,
) -> Outcome {
    let Current { campaign, body } = current(conn, center, id, expected).await?;
    campaign.status.check_delete()?;
    // Lifted for this transaction: the delete cascades to every lead.
    conn.batch_execute("SET LOCAL statement_timeout = 0")
        .await?;
    campaigns::delete(conn, center, id).await?;
    log(
        conn,
        ctx,
        center,
        id,
        AuditAction::Delete,
        (Some(campaign.status), None),
    )
    .await?;
    let etag = EntityTag::of(&body);
    Ok(Written {
        campaign,
        body,
        etag,
    })
}

pub(super) async fn act(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    id: CampaignId,
    action: Action,
    expected: Option<&Expected>,
) -> Outcome {
    let Current { campaign, .. } = current(conn, center, id, expected).await?;
    let before = campaign.status;
    let moved = Campaign {
        status: before.after(action)?,
        ..campaign
    };
    if action == Action::Start {
        check_staffed(conn, center, id).await?;
    }
    rewrite(conn, ctx, center, moved, action.into(), before).await
}

/// The start rule (SPEC §10), on what the campaign has now. The campaign's
/// row is locked, and assignments and lead imports lock it too, so what
/// is counted here stays true until the start commits.
async fn check_staffed(
    conn: &impl GenericClient,
    center: ContactCenterId,
    id: CampaignId,
) -> Result<(), WriteError> {
    rules::check_staffed(
        users::assigned(conn, center, id).await? > 0,
        leads::any_active(conn, center, id).await?,
    )
}

/// Stores `campaign` (changed from a row whose status was `before`) with
/// `updated_at` moved on, and logs the write.
async fn rewrite(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    mut campaign: Campaign,
    action: AuditAction,
    before: Status,
) -> Outcome {
    campaign.updated_at = rules::updated_after(campaign.updated_at);
    let written = Written::new(campaign);
    campaigns::update(conn, center, &written.campaign, &written.body)
        .await
        .map_err(|e| name_race(&e))?;
    let c = &written.campaign;
    log(
        conn,
        ctx,
        center,
        c.id,
        action,
        (Some(before), Some(c.status)),
    )
    .await?;
    Ok(written)
}
