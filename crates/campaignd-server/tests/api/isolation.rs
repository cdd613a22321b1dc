//! Tenant isolation, as a property (proptest) over random contact centers:
//! a key never reads, lists, changes or learns the existence of another
//! center's campaigns, users or leads. Every request naming another
//! center's object is answered exactly as the same request naming an id
//! that exists nowhere, and the other center reads the same afterwards.
//! And a timing test: the two kinds of miss take the same time.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use campaignd_model::Scope;
use campaignd_server::Quota;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use campaignd_testkit::{Reply, Settings, TestServer};

/// What one case builds: two centers of random sizes, the second with
/// more campaigns and users than the first, so its higher ids exist only
/// there.
#[derive(Debug, Clone)]
struct Tenants {
    mine_campaigns: i64,
    theirs_campaigns: i64,
    mine_users: i64,
    theirs_users: i64,
    leads: usize,
}

fn tenants() -> impl Strategy<Value = Tenants> {
    (1i64..4, 1i64..4, 1i64..3, 1i64..3, 1usize..4).prop_map(|(a, extra, u, extra_u, leads)| {
        Tenants {
            mine_campaigns: a,
            theirs_campaigns: a + extra,
            mine_users: u,
            theirs_users: u + extra_u,
            leads,
        }
    })
}

struct Center {
    key: String,
    /// Words in its names, emails and lead names, to look for in the other
    /// center's answers.
    marker: String,
}

async fn center(server: &TestServer, n: usize, campaigns: i64, users: i64, leads: usize) -> Center {
    let marker = format!("tenant{n}x{}", std::process::id());
    let id = server.center(&marker).await;
    let (key, _) = server
        .key(
            id,
            &[
                Scope::CampaignsRead,
                Scope::CampaignsManage,
                Scope::UsersRead,
            ],
        )
        .await;
    let records: Vec<Value> = (1..=campaigns)
        .map(|c| json!({"id": c, "name": format!("{marker} campaign {c}"), "live": true}))
        .collect();
    server.import(id, &records).await;
    let people: Vec<Value> = (1..=users)
        .map(|u| json!({"id": u, "name": format!("{marker} user {u}"), "email": format!("{marker}{u}@x.example")}))
        .collect();
    server.import_users(id, &people).await;
    let http = auth(&key);
    for c in 1..=campaigns {
        let assign = json!({"user_ids": [users]}).to_string().into_bytes();
        let reply = server
            .send(
                "POST",
                &format!("/api/v4/campaigns/{c}/users"),
                &http,
                Some(assign),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let batch: Vec<Value> = (0..leads)
            .map(|l| json!({"phone_number": format!("1555{n}{c:03}{l:04}"), "name": format!("{marker} lead")}))
            .collect();
        let body = serde_json::to_vec(&batch).unwrap();
        let reply = server
            .send(
                "POST",
                &format!("/api/v4/campaigns/{c}/leads"),
                &http,
                Some(body),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    Center { key, marker }
}

fn auth(key: &str) -> Vec<(String, String)> {
    vec![
        ("authorization".into(), format!("Bearer {key}")),
        ("content-type".into(), "application/json".into()),
    ]
}

/// Everything a caller can observe of an answer but the headers that
/// differ on every request.
fn observed(reply: &Reply) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<_> = reply
        .headers
        .iter()
        .filter(|(name, _)| !["x-request-id", "date"].contains(&name.as_str()))
        .filter(|(name, _)| !name.as_str().starts_with("ratelimit"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (reply.status.as_u16(), headers, reply.body.clone())
}

/// Every request a key can make about campaign `id` (and, where a user is
/// named, user `user`), as (method, path, body).
fn probes(id: i64, own_user: i64, user: i64) -> Vec<(&'static str, String, Option<Value>)> {
    let c = format!("/api/v4/campaigns/{id}");
    vec![
        ("GET", c.clone(), None),
        ("PATCH", c.clone(), Some(json!({"max_dial_attempts": 5}))),
        ("POST", format!("{c}/pause"), Some(json!({}))),
        ("POST", format!("{c}/start"), Some(json!({}))),
        ("POST", format!("{c}/stop"), Some(json!({}))),
        ("GET", format!("{c}/users"), None),
        (
            "POST",
            format!("{c}/users"),
            Some(json!({"user_ids": [own_user]})),
        ),
        ("DELETE", format!("{c}/users/{user}"), None),
        ("GET", format!("{c}/leads"), None),
        (
            "POST",
            format!("{c}/leads"),
            Some(json!([{"phone_number": "15550009999"}])),
        ),
        ("DELETE", c, None),
    ]
}

async fn call(
    server: &TestServer,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let body = body.map(|b| serde_json::to_vec(b).unwrap());
    server.send(method, path, &auth(key), body).await
}

/// What the other center's own key reads of it: every list and every
/// campaign, with its users and leads.
async fn everything(server: &TestServer, center: &Center, campaigns: i64) -> Vec<Vec<u8>> {
    let mut paths = vec![
        "/api/v4/campaigns?limit=100".to_owned(),
        "/api/v4/users?limit=100".to_owned(),
    ];
    for c in 1..=campaigns {
        paths.push(format!("/api/v4/campaigns/{c}"));
        paths.push(format!("/api/v4/campaigns/{c}/users?limit=100"));
        paths.push(format!("/api/v4/campaigns/{c}/leads?limit=100"));
    }
    let mut seen = Vec::new();
    for path in paths {
        let reply = server.get(&path, Some(&center.key)).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        seen.push(reply.body);
    }
    seen
}

#[test]
fn no_key_reads_changes_or_learns_of_another_centers_data() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12);
    let mut runner = TestRunner::new(Config::with_cases(cases));
    // Each case's centers are new: names numbered by case.
    let cases_run = std::cell::Cell::new(0usize);
    runner
        .run(&tenants(), |t| {
            cases_run.set(cases_run.get() + 1);
            let n = cases_run.get();
            runtime.block_on(async {
                let mine = center(&server, 2 * n, t.mine_campaigns, t.mine_users, t.leads).await;
                let theirs = center(
                    &server,
                    2 * n + 1,
                    t.theirs_campaigns,
                    t.theirs_users,
                    t.leads,
                )
                .await;
                let before = everything(&server, &theirs, t.theirs_campaigns).await;
                let absent = t.theirs_campaigns + 1000;
                let absent_user = t.theirs_users + 1000;
                // A user of theirs that mine does not have.
                let their_user = t.theirs_users;
                for id in t.mine_campaigns + 1..=t.theirs_campaigns {
                    for user in [their_user, 1] {
                        let probed = probes(id, t.mine_users, user);
                        let control = probes(absent, t.mine_users, absent_user);
                        for ((method, path, body), (_, control_path, _)) in
                            probed.iter().zip(&control)
                        {
                            let theirs_reply =
                                call(&server, &mine.key, method, path, body.as_ref()).await;
                            let absent_reply =
                                call(&server, &mine.key, method, control_path, body.as_ref()).await;
                            prop_assert_eq!(
                                observed(&theirs_reply),
                                observed(&absent_reply),
                                "{} {} answers unlike {}",
                                method,
                                path,
                                control_path
                            );
                        }
                    }
                }
                // My own campaigns, naming their users: theirs are unknown
                // to me, exactly as absent ones are.
                for c in 1..=t.mine_campaigns {
                    for (method, body) in [
                        ("POST", Some(json!({"user_ids": [their_user]}))),
                        ("DELETE", None),
                    ] {
                        let path = |u: i64| match method {
                            "POST" => format!("/api/v4/campaigns/{c}/users"),
                            _ => format!("/api/v4/campaigns/{c}/users/{u}"),
                        };
                        let absent_body = body.as_ref().map(|_| json!({"user_ids": [absent_user]}));
                        let theirs_reply =
                            call(&server, &mine.key, method, &path(their_user), body.as_ref())
                                .await;
                        let absent_reply = call(
                            &server,
                            &mine.key,
                            method,
                            &path(absent_user),
                            absent_body.as_ref(),
                        )
                        .await;
                        // The refusal may name the id it was given, so the
                        // lengths differ as the ids' digits do.
                        let without_length = |reply: &Reply| {
                            let (status, mut headers, body) = observed(reply);
                            headers.retain(|(name, _)| name != "content-length");
                            (status, headers, body)
                        };
                        let (status, headers, body) = without_length(&theirs_reply);
                        let (absent_status, absent_headers, absent_text) =
                            without_length(&absent_reply);
                        prop_assert_eq!((status, headers), (absent_status, absent_headers));
                        let text = String::from_utf8(body).unwrap();
                        let absent_text = String::from_utf8(absent_text).unwrap();
                        prop_assert_eq!(
                            text.replace(&their_user.to_string(), "ID"),
                            absent_text.replace(&absent_user.to_string(), "ID")
                        );
                    }
                }
                // My lists hold only mine, and nothing of theirs shows.
                for path in ["/api/v4/campaigns?limit=100", "/api/v4/users?limit=100"] {
                    let reply = server.get(path, Some(&mine.key)).await;
                    prop_assert_eq!(reply.status, 200);
                    prop_assert!(
                        !reply.text().contains(&theirs.marker),
                        "{}: {}",
                        path,
                        reply.text()
                    );
                    let total = reply.json()["metadata"]["total"].as_i64().unwrap();
                    let expected = if path.contains("users") {
                        t.mine_users
                    } else {
                        t.mine_campaigns
                    };
                    prop_assert_eq!(total, expected);
                }
                prop_assert_eq!(
                    everything(&server, &theirs, t.theirs_campaigns).await,
                    before
                );
                Ok(())
            })
        })
        .unwrap();
}

/// Another center's ids and ids that exist nowhere take the same time to
/// refuse. Interleaved in random order (so drift in the machine's speed
/// falls on both alike), 1,500 of each; the statistic is the two-sample
/// Kolmogorov-Smirnov distance between the latency distributions, which
/// the test prints along with both medians. With no difference it stays
/// near 1.36 * sqrt(2/n) = 0.05 (the 5% critical value); the bound, 0.15,
/// leaves room for a shared machine's noise and still fails on any
/// difference a client could measure (a store lookup more, say, shifts
/// most of the distribution).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_centers_ids_take_as_long_to_refuse_as_absent_ones() {
    const EACH: usize = 1500;
    let mut settings = Settings::default();
    let quota = Quota {
        per_second: NonZeroU32::new(1_000_000).unwrap(),
        burst: NonZeroU32::new(1_000_000).unwrap(),
    };
    settings.config.quota = quota;
    let server = TestServer::start_with(settings).await;
    let mine = center(&server, 0, 1, 1, 1).await;
    let theirs_id = server.center("timing-theirs").await;
    let records: Vec<Value> = (1..=200)
        .map(|c| json!({"id": c, "name": format!("t{c}")}))
        .collect();
    server.import(theirs_id, &records).await;
    let mut order: Vec<bool> = (0..2 * EACH).map(|i| i % 2 == 0).collect();
    // A fixed shuffle (xorshift), so a failure can be repeated.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..order.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let (mut theirs, mut absent) = (Vec::with_capacity(EACH), Vec::with_capacity(EACH));
    for (i, is_theirs) in order.into_iter().enumerate() {
        // Ids 2..=200 exist in the other center only, 100,000..100,198
        // nowhere: each repeats alike, so a cache of misses (or of pages)
        // favours neither.
        let id = if is_theirs {
            2 + (i % 199)
        } else {
            100_000 + (i % 199)
        };
        let started = Instant::now();
        let reply = server
            .get(&format!("/api/v4/campaigns/{id}"), Some(&mine.key))
            .await;
        let took = started.elapsed();
        assert_eq!(reply.status, 404, "{}", reply.text());
        if is_theirs {
            theirs.push(took);
        } else {
            absent.push(took);
        }
    }
    let d = ks_distance(&mut theirs, &mut absent);
    let median = |v: &[Duration]| v[v.len() / 2];
    println!(
        "other center's ids: median {:?}; absent ids: median {:?}; Kolmogorov-Smirnov D = {d:.3} over {EACH} each",
        median(&theirs),
        median(&absent)
    );
    assert!(
        d < 0.15,
        "another center's ids are distinguishable by time: D = {d:.3}"
    );
}

/// The largest gap between the two samples' empirical distributions.
fn ks_distance(left: &mut [Duration], right: &mut [Duration]) -> f64 {
    left.sort();
    right.sort();
    let (mut in_left, mut in_right, mut distance) = (0, 0, 0f64);
    while in_left < left.len() && in_right < right.len() {
        let at = left[in_left].min(right[in_right]);
        while in_left < left.len() && left[in_left] <= at {
            in_left += 1;
        }
        while in_right < right.len() && right[in_right] <= at {
            in_right += 1;
        }
        let gap = in_left as f64 / left.len() as f64 - in_right as f64 / right.len() as f64;
        distance = distance.max(gap.abs());
    }
    distance
}
