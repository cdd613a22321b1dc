//! `campaignd key create|list|revoke`.

use anyhow::Context as _;
use campaignd_model::{ApiKeyId, ContactCenterName, Scope, Scopes};
use campaignd_store::{ApiKeyInfo, Store};
use serde_json::json;

use crate::cli::admin::center;
use crate::cli::output::print_table;

/// Longest key label, in characters.
const MAX_LABEL: usize = 100;

fn masked(last4: &str) -> String {
    format!("****{last4}")
}

fn to_json(key: &ApiKeyInfo, center: &ContactCenterName) -> serde_json::Value {
    json!({
        "id": key.id,
        "contact_center": center,
        "name": key.name,
        "key": masked(&key.last4),
        "scopes": key.scopes,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
    })
}

/// Creates a key and prints it once.
pub(crate) async fn create(
    store: &dyn Store,
    center_name: &ContactCenterName,
    scopes: &[Scope],
    label: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let label = label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    if let Some(l) = &label {
        anyhow::ensure!(
            l.chars().count() <= MAX_LABEL && !l.chars().any(char::is_control),
            "--name must be at most {MAX_LABEL} characters without control characters"
        );
    }
    let center = center(store, center_name).await?;
    let scopes: Scopes = scopes.iter().copied().collect();
    let (token, info) = campaignd_store::issue_api_key(store, center.id, label, scopes)
        .await
        .context("cannot create the API key")?;
    if json {
        let mut out = to_json(&info, &center.name);
        out["key"] = json!(token.expose());
        println!("{out}");
    } else {
        eprintln!(
            "created API key {} for contact center {:?} with scopes {}; it is shown only this once:",
            info.id,
            center.name.as_str(),
            scopes.to_storage().replace(' ', ", ")
        );
        println!("{}", token.expose());
    }
    Ok(())
}

/// Lists a center's keys, masked.
pub(crate) async fn list(
    store: &dyn Store,
    center_name: &ContactCenterName,
    json: bool,
) -> anyhow::Result<()> {
    let center = center(store, center_name).await?;
    let keys = store
        .list_api_keys(center.id)
        .await
        .context("cannot list API keys")?;
    if json {
        let all: Vec<_> = keys.iter().map(|k| to_json(k, &center.name)).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if keys.is_empty() {
        eprintln!(
            "no API keys for {:?}; create one with `campaignd key create`",
            center.name.as_str()
        );
        return Ok(());
    }
    let never = || "-".to_owned();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                k.name.clone().unwrap_or_else(never),
                masked(&k.last4),
                k.scopes.to_storage().replace(' ', ","),
                k.created_at.to_string(),
                k.revoked_at.map_or_else(never, |t| t.to_string()),
                k.last_used_at.map_or_else(never, |t| t.to_string()),
            ]
        })
        .collect();
    print_table(
        &[
            "ID",
            "NAME",
            "KEY",
            "SCOPES",
            "CREATED",
            "REVOKED",
            "LAST USED",
        ],
        &rows,
    )?;
    Ok(())
}

/// Revokes a key by id.
pub(crate) async fn revoke(store: &dyn Store, id: ApiKeyId) -> anyhow::Result<()> {
    let (info, changed) = store
        .revoke_api_key(id)
        .await
        .with_context(|| format!("cannot revoke API key {id}"))?;
    if changed {
        println!("revoked API key {} ({})", info.id, masked(&info.last4));
    } else {
        let at = info.revoked_at.map(|t| t.to_string()).unwrap_or_default();
        println!(
            "API key {} ({}) was already revoked at {at}",
            info.id,
            masked(&info.last4)
        );
    }
    Ok(())
}
