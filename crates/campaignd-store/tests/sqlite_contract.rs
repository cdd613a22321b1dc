//! The store contract, run against the SQLite backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use campaignd_model::{CampaignDocument, CampaignId, ContactCenterId, SystemFields};
use campaignd_store::SqliteStore;
use campaignd_store::contract::Fixture;
use campaignd_store::prelude::*;

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

/// A migrated store on a file of its own, with contact center "acme": the
/// directory (which must outlive the store), the file, the store, the center.
async fn acme() -> (tempfile::TempDir, PathBuf, SqliteStore, ContactCenterId) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaignd.db");
    let store = SqliteStore::open(&path).unwrap();
    store.migrate().await.unwrap();
    let center = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    (dir, path, store, center)
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "called with json! temporaries"
)]
fn doc(value: serde_json::Value) -> CampaignDocument {
    CampaignDocument::parse(&value, SystemFields::Accept).unwrap()
}

/// Import records named `c0`, `c1`, ..., positioned from 0.
fn named(count: usize) -> Vec<campaignd_store::ImportRecord> {
    (0..count)
        .map(|i| campaignd_store::ImportRecord {
            index: i,
            document: doc(serde_json::json!({ "name": format!("c{i}") })),
        })
        .collect()
}

/// One integer from a query on the file, through a connection of its own.
fn query(path: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn rows_without_a_current_rendering_are_rendered_on_read() {
    let (_dir, path, store, center) = acme().await;
    store
        .import_campaigns(
            center,
            vec![doc(serde_json::json!({"id": 3, "name": "Old row"}))],
            None,
        )
        .await
        .unwrap();
    // As a row written before the body column existed, or by another rendering.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE campaigns SET body = 'stale', body_version = 0", [])
        .unwrap();
    let id = CampaignId::new(3).unwrap();
    let body = store.get_campaign_body(center, id).await.unwrap().unwrap();
    let campaign = store.get_campaign(center, id).await.unwrap().unwrap();
    assert_eq!(body, campaign.get_body());
}

/// Point lookups may share a read transaction, but never past a write this
/// store made, nor past a change it has read from the change log: that is
/// what lets the server drop a cache entry and refill it with the new row.
#[tokio::test]
async fn point_lookups_see_every_write_the_store_has_seen() {
    // `other` writes to the same database, as the admin CLI does.
    let (_dir, path, other, center) = acme().await;
    let node = SqliteStore::open(&path).unwrap();
    let id = CampaignId::new(3).unwrap();
    let seen = node.latest_change().await.unwrap();
    // Begins a read transaction that later lookups may reuse.
    assert!(node.get_campaign_body(center, id).await.unwrap().is_none());

    other
        .import_campaigns(
            center,
            vec![doc(serde_json::json!({"id": 3, "name": "From elsewhere"}))],
            None,
        )
        .await
        .unwrap();
    let changes = node.changes_since(&seen, 100).await.unwrap();
    assert!(!changes.changes.is_empty());
    let body = node.get_campaign_body(center, id).await.unwrap();
    let body = String::from_utf8(body.expect("visible once the change was read")).unwrap();
    assert!(body.contains("From elsewhere"), "{body}");

    // The store's own writes are visible to its next lookup.
    node.import_campaigns(
        center,
        vec![doc(serde_json::json!({"id": 4, "name": "Own write"}))],
        None,
    )
    .await
    .unwrap();
    let own = CampaignId::new(4).unwrap();
    assert!(node.get_campaign_body(center, own).await.unwrap().is_some());
}

/// An import whose process died (here: whose store was dropped, which lets
/// go of its lock as process exit does) is cleaned up by upkeep: its hidden
/// rows are deleted and its names are free again.
#[tokio::test]
async fn an_import_whose_owner_is_gone_is_removed_by_upkeep() {
    let (_dir, path, owner, center) = acme().await;
    let import = owner.begin_import(center).await.unwrap();
    let records = named(3000);
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
    let rows = || query(&path, "SELECT count(*) FROM campaigns");
    assert_eq!(rows(), 3000);

    drop(owner);
    // Each upkeep does at least one step of the cleanup, however slow the
    // machine; three steps finish this one.
    let lock = PathBuf::from(format!("{}-import-{import}", path.display()));
    for _ in 0..3 {
        server.maintain().await.unwrap();
    }
    assert_eq!(rows(), 0, "upkeep deletes the dead import's rows");
    assert!(!lock.exists(), "{} is left", lock.display());
    server
        .import_campaigns(center, vec![doc(serde_json::json!({"name": "c1"}))], None)
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
    let (_dir, path, store, center) = acme().await;
    let huge = (1i64 << 32) + 5;
    let docs = [1, 7, huge]
        .iter()
        .map(|id| doc(serde_json::json!({"id": id, "name": format!("c{id}")})))
        .collect();
    store.import_campaigns(center, docs, None).await.unwrap();
    let row_ids = |path: &Path| -> Vec<(i64, i64)> {
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
        let id = CampaignId::new(id).unwrap();
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
             DELETE FROM schema_migrations WHERE version >= 4;
             DROP TABLE audit;
             DROP TABLE leads;
             DROP TABLE campaign_users;
             DROP TABLE users;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.migrate().await.unwrap().applied, [4, 5, 6, 7]);
    assert_eq!(row_ids(&path), keyed);
    let one = CampaignId::new(7).unwrap();
    assert!(
        store
            .get_campaign_body(center, one)
            .await
            .unwrap()
            .is_some()
    );
}

/// An abandon that cannot write (the lock held past the busy timeout) hands
/// the import to upkeep instead of keeping its lock: the same store's next
/// upkeep removes the hidden rows once the lock is free.
#[tokio::test]
async fn an_import_that_cannot_be_abandoned_is_left_to_upkeep() {
    let (_dir, path, store, center) = acme().await;
    let import = store.begin_import(center).await.unwrap();
    let records = named(10);
    assert!(
        store
            .stage_import(import, records)
            .await
            .unwrap()
            .is_empty()
    );
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store.abandon_import(import, None).await.unwrap_err();
    assert!(
        matches!(err, campaignd_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(query(&path, "SELECT count(*) FROM campaigns"), 10);
    for _ in 0..3 {
        store.maintain().await.unwrap();
    }
    assert_eq!(query(&path, "SELECT count(*) FROM campaigns"), 0);
    assert_eq!(query(&path, "SELECT count(*) FROM imports"), 0);
}
