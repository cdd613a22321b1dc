//! PostgreSQL stopped under a running node, on a server of the test's own:
//! every request answers at once, 503 with `Retry-After` where it needs the
//! database (never 500, never a hang), `/readyz` says so, and once the
//! database is back the node serves again without a restart.

use std::time::{Duration, Instant};

use campaignd_testkit::PrivatePostgres;
use serde_json::{Value, json};

use crate::support::{self, serve};

/// One request's outcome: its status and how long it took.
async fn probe(request: reqwest::RequestBuilder) -> (u16, Duration) {
    let started = Instant::now();
    let reply = request.send().await.expect("the node answers");
    let status = reply.status().as_u16();
    if status == 503 {
        assert_eq!(
            reply.headers()["retry-after"],
            "1",
            "a 503 tells the client when to retry"
        );
    }
    let _ = reply.bytes().await;
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answers_503_while_postgres_is_down_and_serves_again_when_it_is_back() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    pg.create_database("campaignd");
    let url = pg.url("campaignd");
    let db = support::db();
    let env = [("CAMPAIGND_DATABASE_URL", url.as_str())];
    support::campaignd(&db, &["center", "create", "acme"], &env).ok();
    let key = support::campaignd(
        &db,
        &[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
            "--scope",
            "campaigns.manage",
        ],
        &env,
    )
    .ok()
    .trim()
    .to_owned();
    let (mut server, base) = serve(&url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = format!("Bearer {key}");
    let created: Value = http
        .post(format!("{base}/api/v4/campaigns"))
        .header("authorization", &auth)
        .json(&json!({"name": "Outage"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["campaign"]["id"].as_i64().unwrap();
    let get = || {
        http.get(format!("{base}/api/v4/campaigns/{id}"))
            .header("authorization", &auth)
    };
    let patch = |value: u32| {
        http.patch(format!("{base}/api/v4/campaigns/{id}"))
            .header("authorization", &auth)
            .json(&json!({"max_dial_attempts": value}))
    };
    let list = || {
        http.get(format!(
            "{base}/api/v4/campaigns?name=never{}",
            rand_suffix()
        ))
        .header("authorization", &auth)
    };
    assert_eq!(probe(patch(2)).await.0, 200);
    assert_eq!(probe(http.get(format!("{base}/readyz"))).await.0, 200);

    pg.stop();
    // Writes, uncached reads and readiness need the database: 503, fast.
    for _ in 0..5 {
        for (what, (status, took)) in [
            ("PATCH", probe(patch(3)).await),
            ("list", probe(list()).await),
            ("readyz", probe(http.get(format!("{base}/readyz"))).await),
        ] {
            assert_eq!(status, 503, "{what} while the database is down");
            assert!(took < Duration::from_secs(2), "{what} took {took:?}");
        }
        // A cached read may still answer; it never fails otherwise.
        let (status, took) = probe(get()).await;
        assert!(matches!(status, 200 | 503), "GET answered {status}");
        assert!(took < Duration::from_secs(2), "GET took {took:?}");
    }

    pg.start_again();
    let back = Instant::now();
    loop {
        let (status, _) = probe(patch(4)).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "while reconnecting");
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the node did not serve again within 5 s of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(probe(http.get(format!("{base}/readyz"))).await.0, 200);
    let body: Value = get().send().await.unwrap().json().await.unwrap();
    assert_eq!(
        body["campaign"]["max_dial_attempts"], 4,
        "the write after recovery is read back"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A name no campaign has, new each call, so list reads miss the cache.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
