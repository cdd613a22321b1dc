//! Leads of a campaign (SPEC §10): imported in one statement per import,
//! listed by priority then import order.

use std::collections::HashSet;

use campaignd_model::{
    CampaignId, ContactCenterId, Lead, LeadPriority, LeadRecord, LeadSource, PhoneNumber, Timestamp,
};
use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::audit::{self, Entry};
use super::{campaigns, col, corrupt, page_bounds, timestamp};
use crate::{AuditAction, LeadPage, LeadsImported, Page, Result, WriteContext, WriteError, rules};

/// Imports `leads` into the campaign, whose row is locked (imports into one
/// campaign take turns); a number the campaign already holds, or that came
/// earlier in `leads`, is a duplicate. One statement inserts them all, in
/// order, and names the numbers it inserted.
pub(super) async fn import(
    conn: &impl GenericClient,
    ctx: &WriteContext,
    center: ContactCenterId,
    campaign: CampaignId,
    leads: &[Lead],
) -> Result<LeadsImported, WriteError> {
    let found = campaigns::for_write(conn, center, campaign)
        .await?
        .ok_or(WriteError::NotFound)?
        .campaign;
    rules::check_takes_leads(found.status, found.settings.live)?;
    let numbers: Vec<i64> = leads
        .iter()
        .map(|l| rules::number_key(&l.phone_number))
        .collect();
    let names: Vec<Option<&str>> = leads.iter().map(|l| l.name.as_deref()).collect();
    let sources: Vec<Option<String>> = leads
        .iter()
        .map(|l| l.source.as_ref().map(rules::source_json))
        .collect();
    let priorities: Vec<i64> = leads.iter().map(|l| i64::from(l.priority.get())).collect();
    let active: Vec<bool> = leads.iter().map(|l| l.active).collect();
    let headers: Vec<Option<String>> = leads
        .iter()
        .map(|l| rules::headers_json(&l.context_headers))
        .collect();
    let stmt = conn
        .prepare_cached(
            "INSERT INTO leads (contact_center_id, campaign_id, phone_number, name, source,
                 priority, active, context_headers, created_at)
             SELECT $1, $2, l.phone_number, l.name, l.source, l.priority, l.active,
                 l.context_headers, $9
             FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::boolean[],
                 $8::text[]) WITH ORDINALITY
                 AS l (phone_number, name, source, priority, active, context_headers, ord)
             ORDER BY l.ord
             ON CONFLICT DO NOTHING
             RETURNING phone_number",
        )
        .await?;
    let inserted: HashSet<i64> = conn
        .query(
            &stmt,
            &[
                &center.get(),
                &campaign.get(),
                &numbers,
                &names,
                &sources,
                &priorities,
                &active,
                &headers,
                &Timestamp::now().unix_millis(),
            ],
        )
        .await?
        .iter()
        .map(|row| col(row, 0))
        .collect::<Result<_>>()?;
    // The first lead of each inserted number is the one created.
    let mut created = HashSet::new();
    let mut outcome = LeadsImported::default();
    for (lead, number) in leads.iter().zip(&numbers) {
        let list = if inserted.contains(number) && created.insert(*number) {
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
            before: Some(found.status),
            after: Some(found.status),
        },
    )
    .await?;
    Ok(outcome)
}

fn from_row(row: &Row) -> Result<LeadRecord> {
    let phone_number: PhoneNumber = col::<i64>(row, 0)?
        .to_string()
        .parse()
        .map_err(|_| corrupt("lead phone number"))?;
    let source = col::<Option<&str>>(row, 2)?
        .map(|text| {
            let v: Value = serde_json::from_str(text).map_err(|_| corrupt("lead source"))?;
            Ok::<_, crate::StoreError>(LeadSource {
                system: v["system"].as_str().map(str::to_owned),
                url: v["url"].as_str().map(str::to_owned),
            })
        })
        .transpose()?;
    let context_headers = match col::<Option<&str>>(row, 5)? {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Map<String, Value>>(text)
            .map_err(|_| corrupt("lead context headers"))?
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => Err(corrupt("lead context headers")),
            })
            .collect::<Result<_>>()?,
    };
    Ok(LeadRecord {
        lead: Lead {
            phone_number,
            name: col(row, 1)?,
            source,
            priority: LeadPriority::new(col(row, 3)?).ok_or_else(|| corrupt("lead priority"))?,
            active: col(row, 4)?,
            context_headers,
        },
        created_at: timestamp(col(row, 6)?)?,
    })
}

/// A page of the campaign's leads, by priority then import order; `None`
/// if there is no such campaign.
pub(super) async fn of_campaign(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
    page: Page,
) -> Result<Option<LeadPage>> {
    if campaigns::get(conn, center, campaign).await?.is_none() {
        return Ok(None);
    }
    let total: i64 = conn
        .query_one(
            "SELECT COUNT(*) FROM leads WHERE contact_center_id = $1 AND campaign_id = $2",
            &[&center.get(), &campaign.get()],
        )
        .await?
        .get(0);
    let (limit, offset) = page_bounds(page);
    let leads = conn
        .query(
            "SELECT phone_number, name, source, priority, active, context_headers, created_at
             FROM leads WHERE contact_center_id = $1 AND campaign_id = $2
             ORDER BY priority, seq LIMIT $3 OFFSET $4",
            &[&center.get(), &campaign.get(), &limit, &offset],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_>>()?;
    Ok(Some(LeadPage {
        leads,
        total: total as u64,
    }))
}

/// Whether the campaign has a lead the dialer would call.
pub(super) async fn any_active(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
) -> Result<bool> {
    let stmt = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM leads
                 WHERE contact_center_id = $1 AND campaign_id = $2 AND active)",
        )
        .await?;
    Ok(conn
        .query_one(&stmt, &[&center.get(), &campaign.get()])
        .await?
        .get(0))
}

/// Claims a campaign for import `holder` until `ttl` from now (the
/// database's clock), unless another holder's claim is still live.
pub(super) async fn claim(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
    holder: i64,
    ttl: std::time::Duration,
) -> Result<bool> {
    let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let stmt = conn
        .prepare_cached(
            "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
             INSERT INTO lead_import_claims (contact_center_id, campaign_id, holder, expires_at)
             SELECT $1, $2, $3, now.ms + $4 FROM now
             ON CONFLICT (contact_center_id, campaign_id) DO UPDATE
                 SET holder = excluded.holder, expires_at = excluded.expires_at
                 WHERE lead_import_claims.expires_at
                     < (extract(epoch FROM clock_timestamp()) * 1000)::bigint
             RETURNING holder",
        )
        .await?;
    Ok(conn
        .query_opt(&stmt, &[&center.get(), &campaign.get(), &holder, &ttl])
        .await?
        .is_some())
}

/// Ends `holder`'s claim, if it still has it.
pub(super) async fn release(
    conn: &impl GenericClient,
    center: ContactCenterId,
    campaign: CampaignId,
    holder: i64,
) -> Result<()> {
    let stmt = conn
        .prepare_cached(
            "DELETE FROM lead_import_claims
             WHERE contact_center_id = $1 AND campaign_id = $2 AND holder = $3",
        )
        .await?;
    conn.execute(&stmt, &[&center.get(), &campaign.get(), &holder])
        .await?;
    Ok(())
}
