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
