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
