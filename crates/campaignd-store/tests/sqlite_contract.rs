//! The store contract, run against the SQLite backend.

use std::sync::Arc;

use campaignd_store::contract::Fixture;
use campaignd_store::{SqliteStore, Store};

async fn sqlite() -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("campaignd.db")).expect("open");
    store.migrate().await.expect("migrate");
    Some(Fixture {
        store: Arc::new(store),
        guard: Box::new(dir),
    })
}

campaignd_store::contract_tests!(sqlite);

#[tokio::test]
async fn rows_without_a_current_rendering_are_rendered_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaignd.db");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().await.unwrap();
    let center = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let doc = campaignd_model::CampaignDocument::parse(
        &serde_json::json!({"id": 3, "name": "Old row"}),
        campaignd_model::SystemFields::Accept,
    )
    .unwrap();
    store
        .import_campaigns(center, vec![doc], None)
        .await
        .unwrap();
    // As a row written before the body column existed, or by another rendering.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE campaigns SET body = 'stale', body_version = 0", [])
        .unwrap();
    let id = campaignd_model::CampaignId::new(3).unwrap();
    let body = store.get_campaign_body(center, id).await.unwrap().unwrap();
    let campaign = store.get_campaign(center, id).await.unwrap().unwrap();
    assert_eq!(body, campaign.get_body());
}

/// Point lookups may share a read transaction, but never past a write this
/// store made, nor past a change it has read from the change log: that is
/// what lets the server drop a cache entry and refill it with the new row.
#[tokio::test]
async fn point_lookups_see_every_write_the_store_has_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaignd.db");
    let node = SqliteStore::open(&path).unwrap();
    node.migrate().await.unwrap();
    // Another process writing to the same database, such as the admin CLI.
    let other = SqliteStore::open(&path).unwrap();
    let center = other
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let id = campaignd_model::CampaignId::new(3).unwrap();
    let seen = node.latest_change().await.unwrap();
    // Begins a read transaction that later lookups may reuse.
    assert!(node.get_campaign_body(center, id).await.unwrap().is_none());

    let doc = |name: &str| {
        campaignd_model::CampaignDocument::parse(
            &serde_json::json!({"id": 3, "name": name}),
            campaignd_model::SystemFields::Accept,
        )
        .unwrap()
    };
    other
        .import_campaigns(center, vec![doc("From elsewhere")], None)
        .await
        .unwrap();
    let changes = node.changes_since(seen, 100).await.unwrap();
    assert!(!changes.is_empty());
    let body = node.get_campaign_body(center, id).await.unwrap();
    let body = String::from_utf8(body.expect("visible once the change was read")).unwrap();
    assert!(body.contains("From elsewhere"), "{body}");

    // The store's own writes are visible to its next lookup.
    let second = campaignd_model::CampaignDocument::parse(
        &serde_json::json!({"id": 4, "name": "Own write"}),
        campaignd_model::SystemFields::Accept,
    )
    .unwrap();
    node.import_campaigns(center, vec![second], None)
        .await
        .unwrap();
    let own = campaignd_model::CampaignId::new(4).unwrap();
    assert!(node.get_campaign_body(center, own).await.unwrap().is_some());
}

/// An import whose process died (here: whose store was dropped, which lets
/// go of its lock as process exit does) is cleaned up by upkeep: its hidden
/// rows are deleted and its names are free again.
#[tokio::test]
async fn an_import_whose_owner_is_gone_is_removed_by_upkeep() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaignd.db");
    let owner = SqliteStore::open(&path).unwrap();
    owner.migrate().await.unwrap();
    let center = owner
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let import = owner.begin_import(center).await.unwrap();
    let records = (0..3000)
        .map(|i| campaignd_store::ImportRecord {
            index: i,
            document: campaignd_model::CampaignDocument::parse(
                &serde_json::json!({ "name": format!("c{i}") }),
                campaignd_model::SystemFields::Accept,
            )
            .unwrap(),
        })
        .collect();
    assert!(
        owner
            .stage_import(import, records)
            .await
            .unwrap()
            .is_empty()
    );

    // A server beside the import leaves it alone while its owner lives.
    let server = SqliteStore::open(&path).unwrap();
    server.maintain().await.unwrap();
    let rows = |path: &std::path::Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM campaigns", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(rows(&path), 3000);

    drop(owner);
    // Each upkeep does at least one step of the cleanup, however slow the
    // machine; three steps finish this one.
    let lock = std::path::PathBuf::from(format!("{}-import-{import}", path.display()));
    for _ in 0..3 {
        server.maintain().await.unwrap();
    }
    assert_eq!(rows(&path), 0, "upkeep deletes the dead import's rows");
    assert!(!lock.exists(), "{} is left", lock.display());
    let doc = campaignd_model::CampaignDocument::parse(
        &serde_json::json!({"name": "c1"}),
        campaignd_model::SystemFields::Accept,
    )
    .unwrap();
    server
        .import_campaigns(center, vec![doc], None)
        .await
        .unwrap();
    assert_eq!(server.list_contact_centers().await.unwrap()[0].campaigns, 1);
}
