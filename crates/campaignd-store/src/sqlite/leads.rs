//! Leads of a campaign (SPEC §10): imported in the committer's savepoints,
//! listed by priority then import order.

use campaignd_model::{
    CampaignId, ContactCenterId, Lead, LeadPriority, LeadRecord, LeadSource, PhoneNumber, Timestamp,
};
use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::audit::{self, Entry};
use super::{campaigns, corrupt};
use crate::{AuditAction, LeadPage, LeadsImported, Page, WriteContext, WriteError, rules};

/// Imports `leads` into the campaign; a number the campaign already holds
/// (imported earlier, or earlier in `leads`) is a duplicate.
pub(super) fn import(
    conn: &Connection,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    leads: &[Lead],
) -> Result<LeadsImported, WriteError> {
    let found = campaigns::get(conn, center, campaign)?.ok_or(WriteError::NotFound)?;
    rules::check_takes_leads(found.status, found.settings.live)?;
    let now = Timestamp::now().unix_millis();
    // OR IGNORE turns a number already present into a no-op: the unique
    // index is the duplicate check, one descent per lead.
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO leads (contact_center_id, campaign_id, phone_number, name,
             source, priority, active, context_headers, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut outcome = LeadsImported::default();
    for lead in leads {
        let inserted = insert.execute(params![
            center.get(),
            campaign.get(),
            rules::number_key(&lead.phone_number),
            lead.name,
            lead.source.as_ref().map(rules::source_json),
            lead.priority.get(),
            lead.active,
            rules::headers_json(&lead.context_headers),
            now,
        ])?;
        let list = if inserted == 1 {
            &mut outcome.created
        } else {
            &mut outcome.duplicates
        };
        list.push(lead.phone_number.clone());
    }
    audit::record(
        conn,
        &Entry {
            center,
            campaign,
            action: AuditAction::ImportLeads,
            ctx,
            at: Timestamp::now(),
            before: Some(found.status),
            after: Some(found.status),
        },
    )?;
    Ok(outcome)
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<LeadRecord> {
    let phone_number: PhoneNumber = row
        .get::<_, i64>(0)?
        .to_string()
        .parse()
        .map_err(|_| corrupt(0, "lead phone number"))?;
    let source = row
        .get_ref(2)?
        .as_str_or_null()?
        .map(|text| {
            let v: Value = serde_json::from_str(text).map_err(|_| corrupt(2, "lead source"))?;
            Ok::<_, rusqlite::Error>(LeadSource {
                system: v["system"].as_str().map(str::to_owned),
                url: v["url"].as_str().map(str::to_owned),
            })
        })
        .transpose()?;
    let context_headers = match row.get_ref(5)?.as_str_or_null()? {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Map<String, Value>>(text)
            .map_err(|_| corrupt(5, "lead context headers"))?
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(corrupt(5, "lead context headers")),
            })
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(LeadRecord {
        lead: Lead {
            phone_number,
            name: row.get(1)?,
            source,
            priority: LeadPriority::new(row.get(3)?).ok_or_else(|| corrupt(3, "lead priority"))?,
            active: row.get(4)?,
            context_headers,
        },
        created_at: Timestamp::from_unix_millis(row.get(6)?)
            .ok_or_else(|| corrupt(6, "timestamp"))?,
    })
}

/// A page of the campaign's leads, by priority then import order; `None`
/// if the campaign is not visible.
pub(super) fn of_campaign(
    conn: &Connection,
    center: ContactCenterId,
    campaign: CampaignId,
    page: Page,
) -> rusqlite::Result<Option<LeadPage>> {
    if campaigns::get(conn, center, campaign)?.is_none() {
        return Ok(None);
    }
    let total: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM leads WHERE contact_center_id = ?1 AND campaign_id = ?2",
        )?
        .query_row([center.get(), campaign.get()], |r| r.get(0))?;
    let leads = conn
        .prepare_cached(
            "SELECT phone_number, name, source, priority, active, context_headers, created_at
             FROM leads WHERE contact_center_id = ?1 AND campaign_id = ?2
             ORDER BY priority, seq LIMIT ?3 OFFSET ?4",
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
    Ok(Some(LeadPage {
        leads,
        total: total as u64,
    }))
}

/// Whether the campaign has a lead the dialer would call.
pub(super) fn any_active(
    conn: &Connection,
    center: ContactCenterId,
    campaign: CampaignId,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM leads
             WHERE contact_center_id = ?1 AND campaign_id = ?2 AND active = 1)",
    )?
    .query_row([center.get(), campaign.get()], |r| r.get(0))
}
