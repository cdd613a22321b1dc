//! The store contract, run against the PostgreSQL backend: each check on a
//! database of its own on the server `CAMPAIGND_TEST_POSTGRES_URL` names
//! (skipped, with a printed reason, when it is not set).

use std::sync::Arc;

use campaignd_store::PostgresStore;
use campaignd_store::contract::{Fixture, TempDatabase};
use campaignd_store::prelude::*;

async fn postgres() -> Option<Fixture> {
    let database = TempDatabase::create().await?;
    let store = PostgresStore::connect(database.url(), 8).expect("connect");
    store.migrate().await.expect("migrate");
    Some(Fixture {
        store: Arc::new(store),
        guard: Box::new(database),
    })
}

campaignd_store::contract_tests!(postgres);
