//! `campaignd audit`: the audit trail of a contact center's campaign
//! writes, oldest first, read a page at a time.

use anyhow::Context as _;
use campaignd_model::{CampaignId, ContactCenterName, Status, Timestamp};
use campaignd_store::{AuditQuery, AuditRecord, Store};
use serde_json::json;

use crate::cli::args::AuditArgs;
use crate::cli::output::print_table;

/// Records read per query.
const PAGE: u32 = 1000;

fn to_json(r: &AuditRecord) -> serde_json::Value {
    json!({
        "seq": r.seq,
        "at": r.at,
        "contact_center_id": r.contact_center_id,
        "campaign_id": r.campaign_id,
        "action": r.action.as_str(),
        "key_id": r.key_id,
        "request_id": r.request_id,
        "status_before": r.status_before.map(Status::as_str),
        "status_after": r.status_after.map(Status::as_str),
    })
}

/// Lists the records `args` asks for.
pub(crate) async fn list(store: &dyn Store, args: &AuditArgs) -> anyhow::Result<()> {
    let name: ContactCenterName = args
        .center
        .parse()
        .map_err(|e| anyhow::anyhow!("--center: {e}"))?;
    let center = super::center(store, &name).await?;
    let campaign = args
        .campaign
        .map(|id| CampaignId::new(id).context("--campaign: must be a positive integer"))
        .transpose()?;
    let since = args
        .since
        .as_deref()
        .map(|t| {
            t.parse::<Timestamp>()
                .map_err(|e| anyhow::anyhow!("--since: {e} (e.g. 2026-01-15T10:30:00Z)"))
        })
        .transpose()?;
    let mut query = AuditQuery {
        center: center.id,
        campaign,
        since,
        after: None,
        limit: PAGE,
    };
    let mut rows = Vec::new();
    let mut shown = 0usize;
    loop {
        let page = store
            .audit_records(&query)
            .await
            .context("cannot read the audit trail")?;
        for r in &page {
            if args.json {
                // One object per line, written as read: a long trail
                // streams instead of waiting for the end.
                println!("{}", to_json(r));
            } else {
                let status =
                    |s: Option<Status>| s.map_or("-".to_owned(), |s| s.as_str().to_owned());
                rows.push(vec![
                    r.at.to_string(),
                    r.campaign_id.to_string(),
                    r.action.as_str().to_owned(),
                    r.key_id.map_or("-".to_owned(), |k| k.to_string()),
                    r.request_id.clone().unwrap_or_else(|| "-".to_owned()),
                    status(r.status_before),
                    status(r.status_after),
                ]);
            }
        }
        shown += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE as usize => query.after = Some(last.seq),
            _ => break,
        }
    }
    if !args.json {
        print_table(
            &[
                "AT", "CAMPAIGN", "ACTION", "KEY", "REQUEST", "BEFORE", "AFTER",
            ],
            &rows,
        )?;
        eprintln!("{shown} record(s)");
    }
    Ok(())
}
