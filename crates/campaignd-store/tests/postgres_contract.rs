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

/// A lead import's claim on a campaign excludes every other holder, on
/// every node, until it is released or expires.
#[tokio::test]
async fn a_lead_import_claim_is_exclusive_until_released_or_expired() {
    use std::time::Duration;

    use campaignd_model::{CampaignId, ContactCenterId};

    let Some(fixture) = postgres().await else {
        return;
    };
    let store = &fixture.store;
    let other_node = PostgresStore::connect(
        fixture
            .guard
            .downcast_ref::<TempDatabase>()
            .expect("the fixture's database")
            .url(),
        2,
    )
    .unwrap();
    let center = ContactCenterId::new(1).unwrap();
    let (one, two) = (CampaignId::new(1).unwrap(), CampaignId::new(2).unwrap());
    let long = Duration::from_mins(1);
    assert!(store.claim_lead_import(center, one, 1, long).await.unwrap());
    assert!(
        !other_node
            .claim_lead_import(center, one, 2, long)
            .await
            .unwrap()
    );
    assert!(
        other_node
            .claim_lead_import(center, two, 2, long)
            .await
            .unwrap(),
        "another campaign is free"
    );
    // Only the holder releases its claim.
    other_node
        .release_lead_import(center, one, 2)
        .await
        .unwrap();
    assert!(
        !other_node
            .claim_lead_import(center, one, 3, long)
            .await
            .unwrap()
    );
    store.release_lead_import(center, one, 1).await.unwrap();
    assert!(
        other_node
            .claim_lead_import(center, one, 3, long)
            .await
            .unwrap()
    );
    // A claim whose holder died runs out: held at first (its time is long
    // enough for a loaded machine to ask again within it), free soon after.
    let short = Duration::from_secs(2);
    let three = CampaignId::new(3).unwrap();
    let claimed = std::time::Instant::now();
    assert!(
        store
            .claim_lead_import(center, three, 4, short)
            .await
            .unwrap()
    );
    assert!(
        !other_node
            .claim_lead_import(center, three, 5, long)
            .await
            .unwrap()
    );
    loop {
        if other_node
            .claim_lead_import(center, three, 5, long)
            .await
            .unwrap()
        {
            break;
        }
        assert!(
            claimed.elapsed() < Duration::from_secs(15),
            "the claim never ran out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        claimed.elapsed() >= Duration::from_millis(1900),
        "it ran out early"
    );
}

/// A write committed through one node hints every other node's listener
/// at once, without waiting for its next poll of the change log.
#[tokio::test]
async fn a_committed_write_hints_the_other_nodes() {
    use std::time::Duration;

    use campaignd_model::CampaignSettings;
    use campaignd_store::WriteContext;

    let Some(fixture) = postgres().await else {
        return;
    };
    let url = fixture
        .guard
        .downcast_ref::<TempDatabase>()
        .expect("the fixture's database")
        .url()
        .to_owned();
    let other_node = PostgresStore::connect(&url, 2).unwrap();
    let hints = other_node.change_hints().expect("PostgreSQL gives hints");
    // The first wake-up says the listener is connected (and that hints
    // may have been missed before it was).
    tokio::time::timeout(Duration::from_secs(10), hints.notified())
        .await
        .expect("the listener connects");
    let center = fixture
        .store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap();
    // A center on its own changes nothing cached: no hint is owed for it,
    // and none must be pending before the write below.
    let quiet = tokio::time::timeout(Duration::from_millis(300), hints.notified()).await;
    assert!(quiet.is_err(), "hinted without a change");
    let settings = CampaignSettings::with_defaults("Spring".parse().unwrap());
    fixture
        .store
        .create_campaign(WriteContext::default(), center.id, settings)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), hints.notified())
        .await
        .expect("the write was hinted");
}

/// Bodies stored by another build (an older `body_version`) are rendered
/// afresh from their columns, batched reads included, never served stale.
#[tokio::test]
async fn bodies_of_another_build_are_rendered_afresh_in_batches() {
    use campaignd_model::{CampaignDocument, CampaignId, SystemFields};

    let Some(fixture) = postgres().await else {
        return;
    };
    let store = &fixture.store;
    let center = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap();
    let docs = (1..=20)
        .map(|i| {
            CampaignDocument::parse(
                &serde_json::json!({"id": i, "name": format!("C {i}"), "dial_level": 1.5}),
                SystemFields::Accept,
            )
            .unwrap()
        })
        .collect();
    store.import_campaigns(center.id, docs, None).await.unwrap();
    let url = fixture
        .guard
        .downcast_ref::<TempDatabase>()
        .expect("the fixture's database")
        .url()
        .to_owned();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE campaigns SET body = 'stale', body_version = 0 WHERE id % 2 = 0",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<CampaignId> = (0..200)
        .map(|i| CampaignId::new(i % 21 + 1).unwrap())
        .collect();
    let reads = ids.iter().map(|id| store.get_campaign_body(center.id, *id));
    let got = futures_util::future::join_all(reads).await;
    for (id, body) in ids.iter().zip(got) {
        let expected = store
            .get_campaign(center.id, *id)
            .await
            .unwrap()
            .map(|c| c.get_body());
        assert_eq!(body.unwrap(), expected, "campaign {id}");
    }
}
