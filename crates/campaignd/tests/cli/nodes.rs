//! Two `campaignd serve` processes over one PostgreSQL database behave as
//! one service: what is written through one is read through the other
//! within a second, cached reads included, and a key revoked by the admin
//! CLI stops working on both within a second.

use std::time::{Duration, Instant};

use campaignd_model::Scope;
use campaignd_store::contract::TempDatabase;
use campaignd_store::prelude::*;
use campaignd_store::{PostgresStore, issue_api_key};
use serde_json::{Value, json};

use crate::support::{self, serve};

/// Polls `check` until it holds; answers how long that took, failing the
/// test at `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_leads_and_revocations_through_one_node_reach_the_other_within_a_second() {
    let Some(database) = TempDatabase::create().await else {
        return;
    };
    let url = database.url().to_owned();
    let store = PostgresStore::connect(&url, 2).unwrap();
    store.migrate().await.unwrap();
    let center = store
        .create_contact_center(&"acme".parse().unwrap())
        .await
        .unwrap()
        .id;
    let scopes = [Scope::CampaignsRead, Scope::CampaignsManage]
        .into_iter()
        .collect();
    let (token, info) = issue_api_key(&store, center, None, scopes).await.unwrap();
    let auth = format!("Bearer {}", token.expose());
    let (mut a, base_a) = serve(&url);
    let (mut b, base_b) = serve(&url);
    let http = reqwest::Client::new();

    let created: Value = http
        .post(format!("{base_a}/api/v4/campaigns"))
        .header("authorization", &auth)
        .json(&json!({"name": "Shared", "live": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["campaign"]["id"].as_i64().unwrap();
    let get_b = || async {
        let reply = http
            .get(format!("{base_b}/api/v4/campaigns/{id}"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.bytes().await.unwrap())
    };
    // Node B reads the campaign twice, so its body is cached there.
    for _ in 0..2 {
        assert_eq!(get_b().await.0, 200);
    }

    let patched = http
        .patch(format!("{base_a}/api/v4/campaigns/{id}"))
        .header("authorization", &auth)
        .json(&json!({"max_dial_attempts": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    within(Duration::from_secs(1), "B serves A's patch", || async {
        let (_, body) = get_b().await;
        serde_json::from_slice::<Value>(&body).unwrap()["campaign"]["max_dial_attempts"] == 7
    })
    .await;

    let imported = http
        .post(format!("{base_a}/api/v4/campaigns/{id}/leads"))
        .header("authorization", &auth)
        .json(&json!([{"phone_number": "15550100001"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200, "{:?}", imported.text().await);
    within(Duration::from_secs(1), "B lists A's lead", || async {
        let list: Value = http
            .get(format!("{base_b}/api/v4/campaigns/{id}/leads"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list.to_string().contains("15550100001")
    })
    .await;

    let db = support::db();
    support::campaignd(
        &db,
        &["key", "revoke", &info.id.to_string()],
        &[("CAMPAIGND_DATABASE_URL", url.as_str())],
    )
    .ok();
    for base in [&base_a, &base_b] {
        within(
            Duration::from_secs(1),
            "the revoked key is refused",
            || async {
                let reply = http
                    .get(format!("{base}/api/v4/campaigns/{id}"))
                    .header("authorization", &auth)
                    .send()
                    .await
                    .unwrap();
                reply.status() == 401
            },
        )
        .await;
    }
    for node in [&mut a, &mut b] {
        node.kill().unwrap();
        node.wait().unwrap();
    }
}
