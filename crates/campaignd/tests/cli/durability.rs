//! Acknowledged writes survive the server being killed: the real binary,
//! SIGKILLed in the middle of a stream of writes, then started again on the
//! same file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::support::{self, serve};

/// What one writer saw acknowledged.
#[derive(Debug, Default)]
struct Seen {
    /// Campaigns created: (id, name).
    created: Vec<(i64, String)>,
    /// The campaign it patches, the last value acknowledged and the last
    /// value sent (which may have landed unacknowledged).
    patched: Option<(i64, i64, i64)>,
}

async fn writer(
    http: reqwest::Client,
    base: String,
    key: String,
    n: usize,
    acks: Arc<AtomicUsize>,
) -> Seen {
    let mut seen = Seen::default();
    let auth = format!("Bearer {key}");
    for i in 0.. {
        let name = format!("writer {n} campaign {i}");
        let Ok(reply) = http
            .post(format!("{base}/api/v4/campaigns"))
            .header("authorization", &auth)
            .json(&json!({"name": name}))
            .send()
            .await
        else {
            break;
        };
        if reply.status() != 201 {
            break;
        }
        let Ok(body) = reply.json::<Value>().await else {
            break;
        };
        let id = body["campaign"]["id"].as_i64().unwrap();
        seen.created.push((id, name));
        acks.fetch_add(1, Ordering::Relaxed);

        let target = seen.created[0].0;
        let value = i64::from(i % 100 + 1);
        // Until a patch is acknowledged, the default is what is known.
        let acked = seen.patched.map_or(3, |(_, acked, _)| acked);
        seen.patched = Some((target, acked, value));
        let Ok(reply) = http
            .patch(format!("{base}/api/v4/campaigns/{target}"))
            .header("authorization", &auth)
            .json(&json!({"max_dial_attempts": value}))
            .send()
            .await
        else {
            break;
        };
        if reply.status() != 200 || reply.bytes().await.is_err() {
            break;
        }
        seen.patched = Some((target, value, value));
        acks.fetch_add(1, Ordering::Relaxed);
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_a_sigkill() {
    let db = support::db();
    db.run(&["center", "create", "acme"]).ok();
    let key = db
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
            "--scope",
            "campaigns.manage",
        ])
        .ok()
        .trim()
        .to_owned();
    let (mut server, base) = serve(&db.url());
    let http = reqwest::Client::new();
    let acks = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|n| {
            tokio::spawn(writer(
                http.clone(),
                base.clone(),
                key.clone(),
                n,
                acks.clone(),
            ))
        })
        .collect();
    // Killed mid-stream: once writes are flowing, wherever they are.
    let started = std::time::Instant::now();
    while acks.load(Ordering::Relaxed) < 400 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the writers stalled at {} acknowledged writes",
            acks.load(Ordering::Relaxed)
        );
        assert!(
            !writers.iter().all(tokio::task::JoinHandle::is_finished),
            "every writer stopped early"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut seen = Vec::new();
    for w in writers {
        seen.push(w.await.unwrap());
    }
    let created: usize = seen.iter().map(|s| s.created.len()).sum();
    assert!(created >= 200, "the writers were still writing: {created}");

    let integrity: String = rusqlite::Connection::open(db.path())
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    let (mut server, base) = serve(&db.url());
    let auth = format!("Bearer {key}");
    for s in &seen {
        for (id, name) in &s.created {
            let reply = http
                .get(format!("{base}/api/v4/campaigns/{id}"))
                .header("authorization", &auth)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200, "acknowledged campaign {id} is gone");
            let body: Value = reply.json().await.unwrap();
            assert_eq!(body["campaign"]["name"], name.as_str());
        }
        let (id, acked, sent) = s.patched.unwrap();
        let body: Value = http
            .get(format!("{base}/api/v4/campaigns/{id}"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = body["campaign"]["max_dial_attempts"].as_i64().unwrap();
        assert!(
            stored == acked || stored == sent,
            "campaign {id}: stored {stored}, acknowledged {acked}, last sent {sent}"
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Imports one batch after another into its own campaign until the server
/// dies; answers the batches acknowledged.
async fn importer(http: reqwest::Client, base: String, key: String, campaign: i64) -> Vec<u32> {
    let mut acked = Vec::new();
    for batch in 0u32.. {
        let leads: Vec<Value> = (0..1000)
            .map(|i| json!({ "phone_number": format!("1{campaign:02}{batch:05}{i:03}") }))
            .collect();
        let Ok(reply) = http
            .post(format!("{base}/api/v4/campaigns/{campaign}/leads"))
            .header("authorization", format!("Bearer {key}"))
            .json(&leads)
            .send()
            .await
        else {
            break;
        };
        if reply.status() != 200 {
            break;
        }
        if reply.json::<Value>().await.is_err() {
            break;
        }
        acked.push(batch);
    }
    acked
}

/// A lead import is one transaction: killed at any moment, the server
/// comes back with each batch whole or absent, and every acknowledged one
/// whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lead_import_leaves_each_batch_whole_or_absent() {
    let db = support::db();
    db.run(&["center", "create", "acme"]).ok();
    let campaigns: String = (1..=4)
        .map(|i| json!({"name": format!("C{i}"), "live": true}).to_string() + "\n")
        .collect();
    db.run_with_stdin(
        &["campaign", "import", "--center", "acme", "-"],
        Some(campaigns.as_bytes()),
    )
    .ok();
    let key = db
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
            "--scope",
            "campaigns.manage",
        ])
        .ok()
        .trim()
        .to_owned();
    let (mut server, base) = serve(&db.url());
    let http = reqwest::Client::new();
    let importers: Vec<_> = (1..=4)
        .map(|c| tokio::spawn(importer(http.clone(), base.clone(), key.clone(), c)))
        .collect();
    // Killed once imports are flowing, wherever they are.
    let probe = format!("{base}/api/v4/campaigns/1/leads?limit=1");
    let started = std::time::Instant::now();
    loop {
        let total = http
            .get(&probe)
            .header("authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["metadata"]["total"]
            .as_u64()
            .unwrap();
        if total >= 3000 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_mins(1),
            "the imports stalled at {total}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let mut acked = Vec::new();
    for i in importers {
        acked.push(i.await.unwrap());
    }

    let conn = rusqlite::Connection::open(db.path()).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    for (campaign, acked) in (1i64..).zip(&acked) {
        // Each batch's numbers share their first nine digits.
        let mut per_batch = conn
            .prepare(
                "SELECT phone_number / 1000, count(*) FROM leads WHERE campaign_id = ?1
                 GROUP BY phone_number / 1000",
            )
            .unwrap();
        let counts: Vec<(i64, i64)> = per_batch
            .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (prefix, count) in &counts {
            assert_eq!(
                *count, 1000,
                "campaign {campaign}: batch {prefix} is partial"
            );
        }
        assert!(
            counts.len() >= acked.len() && counts.len() <= acked.len() + 1,
            "campaign {campaign}: {} batches stored, {} acknowledged",
            counts.len(),
            acked.len()
        );
        for batch in acked {
            let prefix = format!("1{campaign:02}{batch:05}").parse::<i64>().unwrap();
            assert!(
                counts.iter().any(|(p, _)| *p == prefix),
                "campaign {campaign}: acknowledged batch {batch} is gone"
            );
        }
    }
}
