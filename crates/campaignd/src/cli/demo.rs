//! `serve --demo`: a `demo` contact center with the documented campaign 3
//! and enough others to exercise every status, strategy, null and filter,
//! and users and leads for its active and paused campaigns, so that every
//! lifecycle action can be tried on the seed.

use anyhow::Context as _;
use campaignd_model::{
    ApiKeyToken, CampaignDocument, CampaignId, ContactCenterId, Lead, Scope, Status, SystemFields,
    UserDocument, UserId,
};
use campaignd_store::{Page, Store, StoreError, UserRecord, WriteContext};
use serde_json::{Value, json};

/// The documented Get campaign example (campaign 3).
const EXAMPLE: &str = include_str!("../../../campaignd-model/tests/fixtures/get-campaign-3.json");

/// The demo contact center's name.
pub(crate) const DEMO_CENTER: &str = "demo";

/// The label of the keys `serve --demo` creates.
pub(crate) const DEMO_KEY_NAME: &str = "demo";

const DIAL_LEVELS: [f64; 5] = [1.0, 1.5, 2.0, 3.0, 0.5];
const METHODS: [&str; 3] = ["power", "preview", "progressive"];

fn demo_records() -> Vec<Value> {
    let example: Value = serde_json::from_str(EXAMPLE).expect("fixture is JSON");
    let mut records = vec![
        json!({"id": 1, "name": "Spring Renewals", "status": "completed", "strategy": "simple", "dial_level": 2,
               "created_at": "2025-11-02T09:00:00.000Z", "updated_at": "2025-12-01T17:30:00.000Z"}),
        json!({"id": 2, "name": "Win-back Q1", "status": "stopped", "strategy": "predictive_ai", "dial_level": 2.5,
               "caller_id_sets": [{"phone_numbers": ["442071234567"]}], "method": "power",
               "created_at": "2025-12-10T08:15:00.000Z", "updated_at": "2026-01-05T12:00:00.000Z"}),
    ];
    let mut campaign3 = example["campaign"].clone();
    campaign3["live"] = json!(true);
    campaign3["method"] = json!("preview");
    records.push(campaign3);
    let names = [
        "Summer Upsell",
        "Payment Reminders",
        "Event Invitations",
        "Survey Follow-up",
        "Loyalty Calls",
        "Appointment Confirmations",
        "Lead Qualification",
        "Cart Recovery",
        "Welcome Calls",
        "Renewal Nudges",
        "Premium Trial",
        "Service Outage Notice",
        "Collections East",
        "Collections West",
        "Donor Outreach",
        "Open House",
        "Product Launch",
        "Reactivation",
        "Feedback Callback",
        "Warranty Expiry",
        "Holiday Greetings",
        "Policy Update",
        "Early Bird Offer",
    ];
    for (i, name) in names.iter().enumerate() {
        let n = i as i64 + 4;
        let status = Status::ALL[i % Status::ALL.len()];
        let mut record = json!({
            "id": n,
            "name": name,
            "status": status.as_str(),
            "strategy": if i % 3 == 0 { "predictive_ai" } else { "simple" },
            "dial_level": DIAL_LEVELS[i % DIAL_LEVELS.len()],
            "max_dial_time": 30 + (i as i64 % 4) * 15,
            "max_wait_time": i as i64 % 10,
            "max_dial_attempts": 1 + i as i64 % 5,
            "amd_enabled": i % 2 == 0,
            "use_local_caller_id": i % 4 == 0,
            "asr_optimization_enabled": i % 3 == 1,
            // A campaign being dialled is live: only live ones take leads.
            "live": i % 2 == 1 || matches!(status, Status::Active | Status::Paused),
            "created_at": format!("2026-02-{:02}T10:00:00.000Z", i + 1),
            "updated_at": format!("2026-03-{:02}T16:45:30.250Z", i + 1),
        });
        if i % 4 != 0 {
            record["dial_level_override"] = json!({"enabled": i % 2 == 0, "value": 1.5 + (i % 3) as f64, "active_agents_threshold": 2 + i % 5});
        }
        if i % 3 != 2 {
            record["amd_voicemail_message"] = json!({"enabled": i % 2 == 0,
                "voice_message": if i % 5 == 0 { Value::Null } else { json!({"type": "voice_message", "name": "Callback request"}) }});
        }
        if i % 2 == 0 {
            record["caller_id_sets"] =
                json!([{"phone_numbers": [format!("1888565{:04}", 10 + i), "18885650099"]}]);
        }
        if i % 3 == 0 {
            record["follow_up_mode"] = json!("timer");
        }
        if i % 4 == 1 {
            record["method"] = json!(METHODS[i % METHODS.len()]);
        }
        records.push(record);
    }
    records
}

/// The demo's agents, in the v4 user form.
fn demo_users() -> Vec<Value> {
    [
        "Ana Silva",
        "Ben Okafor",
        "Chen Wei",
        "Dana Levi",
        "Emil Novak",
        "Farah Haddad",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| {
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        json!({
            "id": i + 1,
            "name": name,
            "email": format!("{first}@demo.example"),
            "extension": format!("{}", 101 + i),
            "timezone": "UTC",
            "status": if i % 2 == 0 { "online" } else { "offline" },
        })
    })
    .collect()
}

/// Leads a staffed demo campaign gets: numbers in the fictional
/// 555-01xx range, one of them inactive.
fn demo_leads(campaign: CampaignId) -> Vec<Lead> {
    (0..5)
        .map(|k| {
            let value = json!({
                "phone_number": format!("1555010{:02}{:02}", campaign.get() % 100, k),
                "name": format!("Demo lead {}", k + 1),
                "priority": 100 * (k + 1),
                "active": k != 4,
                "source": {"system": "demo", "url": null},
            });
            Lead::parse(&value).expect("demo leads are valid")
        })
        .collect()
}

/// Gives the demo center its users (once) and staffs its active and
/// paused campaigns with two users and five leads each, so they can be
/// started and paused.
async fn seed_staff(store: &dyn Store, center: ContactCenterId) -> anyhow::Result<()> {
    if store.list_users(center, Page::default()).await?.total > 0 {
        return Ok(());
    }
    // Nodes started together on one database seed it once: the one whose
    // users land staffs the campaigns.
    let records = demo_users()
        .iter()
        .enumerate()
        .map(|(index, v)| UserDocument::parse(v).map(|document| UserRecord { index, document }))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("demo users are invalid: {e}"))?;
    match store.import_users(center, records, None).await {
        Ok(_) => {}
        Err(StoreError::ImportRejected(_)) => return Ok(()),
        Err(e) => return Err(e).context("cannot import the demo users"),
    }
    let staffed = [Status::Active, Status::Paused];
    let mut after = None;
    loop {
        let batch = store.campaigns_after(center, after, 100).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for (i, c) in batch.iter().enumerate() {
            if staffed.contains(&c.status) {
                let pick = |k: usize| UserId::new(((i + k) % 6 + 1) as i64).expect("positive");
                store
                    .assign_users(
                        WriteContext::default(),
                        center,
                        c.id,
                        vec![pick(0), pick(1)],
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot staff demo campaign {}: {e}", c.id))?;
                store
                    .import_leads(WriteContext::default(), center, c.id, demo_leads(c.id))
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot give demo campaign {} leads: {e}", c.id)
                    })?;
            }
        }
    }
    Ok(())
}

/// Active demo keys a start leaves, its own two included.
const KEPT_DEMO_KEYS: usize = 10;

/// Waits for another node's import of the demo campaigns to publish.
async fn wait_for_campaigns(
    store: &dyn Store,
    name: &campaignd_model::ContactCenterName,
) -> anyhow::Result<()> {
    for _ in 0..100 {
        if store
            .contact_center_by_name(name)
            .await?
            .is_some_and(|c| c.campaigns > 0)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!(
        "the demo campaigns are being imported by another process, which has not finished"
    )
}

/// The keys a demo start hands out.
pub(crate) struct DemoKeys {
    /// Every scope.
    pub(crate) full: ApiKeyToken,
    /// `campaigns.read` alone: what a viewer of the Campaigns page gets.
    pub(crate) read_only: ApiKeyToken,
}

/// Makes sure the demo center, its campaigns and its users exist, and
/// returns fresh keys: one with every scope, one that may only read.
pub(crate) async fn seed(store: &dyn Store) -> anyhow::Result<DemoKeys> {
    let name = DEMO_CENTER.parse().expect("valid name");
    // Nodes started together on one database may all find it empty: one
    // creates the center and imports the campaigns, the others wait for
    // them.
    let center = match store.contact_center_by_name(&name).await? {
        Some(center) => center,
        None => match store.create_contact_center(&name).await {
            Ok(center) => center,
            Err(StoreError::CenterExists(_)) => store
                .contact_center_by_name(&name)
                .await?
                .context("the demo contact center was created, then deleted")?,
            Err(e) => return Err(e).context("cannot create the demo contact center"),
        },
    };
    if center.campaigns == 0 {
        let docs = demo_records()
            .iter()
            .map(|v| CampaignDocument::parse(v, SystemFields::Accept))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("demo data is invalid: {e}"))?;
        match store.import_campaigns(center.id, docs, None).await {
            Ok(_) => {}
            Err(StoreError::ImportRejected(_)) => wait_for_campaigns(store, &name).await?,
            Err(e) => return Err(e).context("cannot import the demo campaigns"),
        }
    }
    seed_staff(store, center.id).await?;
    // Each start prints a fresh key. Older demo keys beyond the newest few
    // are revoked, so restarting the demo never runs into the 50-key limit,
    // while nodes started together on one database keep theirs.
    let mut demo_keys: Vec<_> = store
        .list_api_keys(center.id)
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none() && k.name.as_deref() == Some(DEMO_KEY_NAME))
        .collect();
    demo_keys.sort_by_key(|k| std::cmp::Reverse(k.id));
    for old in demo_keys.iter().skip(KEPT_DEMO_KEYS - 2) {
        store.revoke_api_key(old.id).await?;
    }
    let full = issue(
        store,
        center.id,
        &[
            Scope::CampaignsRead,
            Scope::CampaignsManage,
            Scope::UsersRead,
        ],
    )
    .await?;
    let read_only = issue(store, center.id, &[Scope::CampaignsRead]).await?;
    Ok(DemoKeys { full, read_only })
}

/// A new demo key with `scopes`.
async fn issue(
    store: &dyn Store,
    center: ContactCenterId,
    scopes: &[Scope],
) -> anyhow::Result<ApiKeyToken> {
    let scopes = scopes.iter().copied().collect();
    match campaignd_store::issue_api_key(store, center, Some(DEMO_KEY_NAME.into()), scopes).await {
        Ok((token, _)) => Ok(token),
        Err(campaignd_store::StoreError::KeyLimit) => anyhow::bail!(
            "the demo contact center has 50 active keys; revoke some (`campaignd key list --center demo`)"
        ),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn demo_data_covers_every_status_both_strategies_nulls_live_and_method() {
        let docs: Vec<CampaignDocument> = demo_records()
            .iter()
            .map(|v| CampaignDocument::parse(v, SystemFields::Accept).unwrap())
            .collect();
        assert!(docs.len() >= 25, "{}", docs.len());
        let statuses: HashSet<_> = docs.iter().filter_map(|d| d.status).collect();
        assert_eq!(statuses.len(), Status::ALL.len());
        let strategies: HashSet<_> = docs.iter().map(|d| d.settings.strategy).collect();
        assert_eq!(strategies.len(), 2);
        assert!(
            docs.iter()
                .any(|d| d.settings.dial_level_override.is_none())
        );
        assert!(
            docs.iter()
                .any(|d| d.settings.amd_voicemail_message.is_none())
        );
        assert!(docs.iter().any(|d| d.settings.follow_up_mode.is_none()));
        assert!(docs.iter().any(|d| d.settings.live) && docs.iter().any(|d| !d.settings.live));
        assert!(
            docs.iter().any(|d| d.settings.method.is_some())
                && docs.iter().any(|d| d.settings.method.is_none())
        );
        assert!(
            docs.iter()
                .any(|d| d.id.map(campaignd_model::CampaignId::get) == Some(3))
        );
        assert!(
            docs.iter()
                .filter(|d| matches!(d.status, Some(Status::Active | Status::Paused)))
                .all(|d| d.settings.live),
            "the campaigns that get leads take them"
        );
    }
}
