//! `campaignd center create|list`.

use anyhow::Context as _;
use campaignd_model::ContactCenterName;
use campaignd_store::{ContactCenter, Store};
use serde_json::json;

use crate::cli::output::print_table;

fn to_json(c: &ContactCenter) -> serde_json::Value {
    json!({
        "id": c.id,
        "name": c.name,
        "campaigns": c.campaigns,
        "active_keys": c.active_keys,
        "created_at": c.created_at,
    })
}

/// Creates a contact center.
pub(crate) async fn create(
    store: &dyn Store,
    name: &ContactCenterName,
    json: bool,
) -> anyhow::Result<()> {
    let center = store
        .create_contact_center(name)
        .await
        .context("cannot create the contact center")?;
    if json {
        println!("{}", to_json(&center));
    } else {
        println!(
            "created contact center {:?} (id {})",
            center.name.as_str(),
            center.id
        );
    }
    Ok(())
}

/// Lists contact centers.
pub(crate) async fn list(store: &dyn Store, json: bool) -> anyhow::Result<()> {
    let centers = store
        .list_contact_centers()
        .await
        .context("cannot list contact centers")?;
    if json {
        let all: Vec<_> = centers.iter().map(to_json).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if centers.is_empty() {
        eprintln!("no contact centers yet; create one with `campaignd center create NAME`");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = centers
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.name.to_string(),
                c.campaigns.to_string(),
                c.active_keys.to_string(),
                c.created_at.to_string(),
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "CAMPAIGNS", "ACTIVE KEYS", "CREATED"],
        &rows,
    )?;
    Ok(())
}
