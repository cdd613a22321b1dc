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

/// Rows are stored under `center * 2^32 + id` (the table is clustered by
/// center and id); an id too large for that still round-trips, under a
/// negative `row_id`, and a database whose rows predate the keys gets them
/// when migrated.
#[tokio::test]
async fn campaign_rows_are_keyed_by_center_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaignd.db");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().await.unwrap();
    let center = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let huge = (1i64 << 32) + 5;
    let docs = [1, 7, huge]
        .iter()
        .map(|id| {
            campaignd_model::CampaignDocument::parse(
                &serde_json::json!({"id": id, "name": format!("c{id}")}),
                campaignd_model::SystemFields::Accept,
            )
            .unwrap()
        })
        .collect();
    store.import_campaigns(center, docs, None).await.unwrap();
    let row_ids = |path: &std::path::Path| -> Vec<(i64, i64)> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, row_id FROM campaigns ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let keyed = row_ids(&path);
    let c = center.get() << 32;
    assert_eq!(keyed[..2], [(1, c | 1), (7, c | 7)]);
    assert_eq!(keyed[2].0, huge);
    assert!(keyed[2].1 < 0, "{keyed:?}");
    for id in [1, 7, huge] {
        let id = campaignd_model::CampaignId::new(id).unwrap();
        let body = store.get_campaign_body(center, id).await.unwrap();
        assert!(body.is_some(), "campaign {id} is not found");
        assert_eq!(
            store.get_campaign(center, id).await.unwrap().unwrap().id,
            id
        );
    }
    let walk = store.campaigns_after(center, None, 10).await.unwrap();
    assert_eq!(
        walk.iter().map(|c| c.id.get()).collect::<Vec<_>>(),
        [1, 7, huge]
    );
    drop(store);

    // As a database written before the keys: plain row_ids, schema at 3.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE campaigns SET row_id = id WHERE id < 100;
             DELETE FROM schema_migrations WHERE version = 4;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrate().await.unwrap().applied, [4]);
    assert_eq!(row_ids(&path), keyed);
    let one = campaignd_model::CampaignId::new(7).unwrap();
    assert!(
        store
            .get_campaign_body(center, one)
            .await
            .unwrap()
            .is_some()
    );
}
