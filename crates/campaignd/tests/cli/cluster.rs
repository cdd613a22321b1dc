//! Three `campaignd serve` processes sharing one PostgreSQL and one Redis,
//! both servers of the test's own (initdb into a temp dir and a
//! `redis-server`, on free ports; the machine's are never touched), behave
//! as one service: what is written through one node is read through the
//! others within a second, the rate limit is one budget for all of them,
//! and stopping PostgreSQL or Redis under load degrades the service as
//! documented and never breaks it.

use std::collections::BTreeMap;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use campaignd_model::{ApiKeyId, Scope};
use campaignd_store::prelude::*;
use campaignd_store::{PostgresStore, issue_api_key};
use campaignd_testkit::{PrivatePostgres, PrivateRedis};
use serde_json::{Value, json};

use crate::support::{self, ONE_AT_A_TIME, UNLIMITED, serve_with};

struct Cluster {
    postgres: PrivatePostgres,
    redis: PrivateRedis,
    url: String,
    nodes: Vec<(Child, String)>,
    auth: String,
    key_id: ApiKeyId,
    http: reqwest::Client,
    /// Released last, once every server is down.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// PostgreSQL, Redis, a center with a managing key, and `count` nodes
    /// started with `args`; `None` when this machine cannot run the
    /// servers.
    async fn start(count: usize, args: &[&str]) -> Option<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        let postgres = PrivatePostgres::start()?;
        let redis = PrivateRedis::start()?;
        postgres.create_database("campaignd");
        let url = postgres.url("campaignd");
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
        let redis_url = redis.url();
        let mut node_args = vec!["--redis-url", redis_url.as_str()];
        node_args.extend_from_slice(args);
        let nodes = (0..count).map(|_| serve_with(&url, &node_args)).collect();
        Some(Self {
            postgres,
            redis,
            url,
            nodes,
            auth: format!("Bearer {}", token.expose()),
            key_id: info.id,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            _turn: turn,
        })
    }

    fn base(&self, node: usize) -> &str {
        &self.nodes[node % self.nodes.len()].1
    }

    fn get(&self, node: usize, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base(node)))
            .header("authorization", &self.auth)
    }

    fn send(&self, node: usize, method: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .request(
                method.parse().unwrap(),
                format!("{}{path}", self.base(node)),
            )
            .header("authorization", &self.auth)
            .json(body)
    }

    /// Creates a live campaign through node 0; answers its id.
    async fn campaign(&self, name: &str) -> i64 {
        let reply = self
            .send(
                0,
                "POST",
                "/api/v4/campaigns",
                &json!({"name": name, "live": true}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
        reply.json::<Value>().await.unwrap()["campaign"]["id"]
            .as_i64()
            .unwrap()
    }

    /// A line of a node's `/metrics`.
    async fn metric(&self, node: usize, name: &str) -> Option<String> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base(node)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_owned))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (node, _) in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
    }
}

/// Polls `check` until it holds; fails the test at `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_leads_and_revocations_through_one_node_reach_the_others_within_a_second() {
    let Some(cluster) = Cluster::start(3, &UNLIMITED).await else {
        return;
    };
    let id = cluster.campaign("Shared").await;
    let path = format!("/api/v4/campaigns/{id}");
    // Nodes 1 and 2 read it twice, so its body is cached there.
    for node in [1, 2, 1, 2] {
        assert_eq!(cluster.get(node, &path).send().await.unwrap().status(), 200);
    }
    let patched = cluster
        .send(0, "PATCH", &path, &json!({"max_dial_attempts": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    for node in [1, 2] {
        within(
            Duration::from_secs(1),
            "a node serves another's patch",
            || async {
                let body: Value = cluster
                    .get(node, &path)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body["campaign"]["max_dial_attempts"] == 7
            },
        )
        .await;
    }

    let imported = cluster
        .send(
            0,
            "POST",
            &format!("{path}/leads"),
            &json!([{"phone_number": "15550100001"}]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), 200);
    for node in [1, 2] {
        within(
            Duration::from_secs(1),
            "a node lists another's lead",
            || async {
                let list = cluster
                    .get(node, &format!("{path}/leads"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                list.contains("15550100001")
            },
        )
        .await;
    }

    let db = support::db();
    support::campaignd(
        &db,
        &["key", "revoke", &cluster.key_id.to_string()],
        &[("CAMPAIGND_DATABASE_URL", cluster.url.as_str())],
    )
    .ok();
    for node in 0..3 {
        within(
            Duration::from_secs(1),
            "the revoked key is refused",
            || async { cluster.get(node, &path).send().await.unwrap().status() == 401 },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_admit_what_one_node_would() {
    let (per_second, burst) = (50.0, 25.0);
    let Some(cluster) = Cluster::start(
        3,
        &["--rate-limit-per-second", "50", "--rate-limit-burst", "25"],
    )
    .await
    else {
        return;
    };
    let id = cluster.campaign("Limited").await;
    let cluster = Arc::new(cluster);
    let path = format!("/api/v4/campaigns/{id}");
    let started = Instant::now();
    let run_for = Duration::from_secs(4);
    // Six clients, two per node, as fast as they are answered.
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let cluster = Arc::clone(&cluster);
            let path = path.clone();
            tokio::spawn(async move {
                let mut statuses = BTreeMap::<u16, u64>::new();
                let mut last = started;
                while started.elapsed() < run_for {
                    let status = cluster.get(client, &path).send().await.unwrap().status();
                    last = Instant::now();
                    *statuses.entry(status.as_u16()).or_default() += 1;
                }
                (statuses, last)
            })
        })
        .collect();
    let mut statuses = BTreeMap::<u16, u64>::new();
    let mut ended = started;
    for client in clients {
        let (answered, last) = client.await.unwrap();
        for (status, n) in answered {
            *statuses.entry(status).or_default() += n;
        }
        ended = ended.max(last);
    }
    // Up to the last answer: no token refilled after it was admitted.
    let elapsed = (ended - started).as_secs_f64();
    let admitted = statuses.get(&200).copied().unwrap_or(0) as f64;
    let expected = burst + per_second * elapsed;
    eprintln!("three nodes admitted {admitted} in {elapsed:.2} s; one node admits {expected:.1}");
    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [200, 429],
        "{statuses:?}"
    );
    // Over by 5 % at most: three budgets would admit about three times as
    // much. Under by a fifth at most: tokens refill only up to the burst,
    // so clients a busy machine stalls leave some unused.
    assert!(
        admitted <= expected * 1.05 && admitted >= expected * 0.8,
        "three nodes admitted {admitted}; one node admits {expected:.0} in {elapsed:.2} s ({statuses:?})"
    );
    for node in 0..3 {
        assert_eq!(
            cluster
                .metric(node, "campaignd_rate_limit_fallback")
                .await
                .as_deref(),
            Some("0")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_nodes_keep_their_own_limits_and_share_again_when_it_is_back() {
    let Some(mut cluster) = Cluster::start(2, &UNLIMITED).await else {
        return;
    };
    let id = cluster.campaign("Redis outage").await;
    let path = format!("/api/v4/campaigns/{id}");
    assert_eq!(cluster.get(0, &path).send().await.unwrap().status(), 200);
    cluster.redis.stop();
    for node in [0, 1, 0, 1] {
        let started = Instant::now();
        let status = cluster.get(node, &path).send().await.unwrap().status();
        assert_eq!(status, 200, "requests are served while Redis is down");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    for node in 0..2 {
        assert_eq!(
            cluster
                .metric(node, "campaignd_rate_limit_fallback")
                .await
                .as_deref(),
            Some("1"),
            "the fallback is visible"
        );
    }
    cluster.redis.start_again();
    for node in 0..2 {
        within(
            Duration::from_secs(5),
            "the node shares limits again",
            || async {
                assert_eq!(cluster.get(node, &path).send().await.unwrap().status(), 200);
                cluster
                    .metric(node, "campaignd_rate_limit_fallback")
                    .await
                    .as_deref()
                    == Some("0")
            },
        )
        .await;
    }
}

/// One request's status, and how long its answer took.
async fn timed(request: reqwest::RequestBuilder) -> (u16, Duration) {
    let started = Instant::now();
    let reply = request.send().await.expect("the node answers");
    let status = reply.status().as_u16();
    if status == 503 {
        assert_eq!(
            reply.headers()["retry-after"],
            "1",
            "a 503 says when to retry"
        );
    }
    let _ = reply.bytes().await;
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_stopped_under_load_nodes_answer_503_at_once_and_serve_again_when_it_is_back()
{
    let Some(cluster) = Cluster::start(3, &UNLIMITED).await else {
        return;
    };
    let id = cluster.campaign("Postgres outage").await;
    let cluster = Arc::new(cluster);
    let path = format!("/api/v4/campaigns/{id}");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Six clients, two per node: patches, reads, and lists that miss the
    // cache, until told to stop.
    let load: Vec<_> = (0..6)
        .map(|client| {
            let (cluster, path, stop) = (Arc::clone(&cluster), path.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut i = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let request = match i % 3 {
                        0 => cluster.send(
                            client,
                            "PATCH",
                            &path,
                            &json!({"max_dial_attempts": i % 10 + 1}),
                        ),
                        1 => cluster.get(client, &path),
                        _ => cluster.get(client, &format!("/api/v4/campaigns?name=miss{i}")),
                    };
                    seen.push(timed(request).await);
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.postgres.stop();
    // While it is down, every node says so.
    for node in 0..3 {
        within(
            Duration::from_secs(2),
            "readyz reports the outage",
            || async {
                timed(cluster.http.get(format!("{}/readyz", cluster.base(node))))
                    .await
                    .0
                    == 503
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.postgres.start_again();
    let back = Instant::now();
    for node in 0..3 {
        within(
            Duration::from_secs(5),
            "the node serves writes again",
            || async {
                let patch = cluster.send(node, "PATCH", &path, &json!({"max_dial_attempts": 4}));
                timed(patch).await.0 == 200
            },
        )
        .await;
        assert_eq!(
            timed(cluster.http.get(format!("{}/readyz", cluster.base(node))))
                .await
                .0,
            200
        );
    }
    let recovered = back.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = BTreeMap::<u16, u64>::new();
    let mut slowest = Duration::ZERO;
    for client in load {
        for (status, took) in client.await.unwrap() {
            *statuses.entry(status).or_default() += 1;
            slowest = slowest.max(took);
        }
    }
    assert!(
        statuses.keys().all(|s| matches!(s, 200 | 503)),
        "only answers or 503s: {statuses:?}"
    );
    assert!(
        statuses.get(&503).is_some_and(|n| *n > 0),
        "the outage was seen: {statuses:?}"
    );
    // A request may wait for a pooled connection (1 s) and then for a new
    // one to open (1 s more) before its 503; a hang lasts the request
    // timeout (10 s).
    assert!(
        slowest < Duration::from_secs(4),
        "an answer took {slowest:?}"
    );
    assert!(
        recovered < Duration::from_secs(5),
        "recovered in {recovered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_through_one_node_refuses_a_second_through_another_until_it_is_done() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(cluster) = Cluster::start(2, &UNLIMITED).await else {
        return;
    };
    let id = cluster.campaign("Imports").await;
    let leads = |from: u32, count: u32| {
        Value::Array(
            (from..from + count)
                .map(|i| json!({"phone_number": format!("1555{i:07}")}))
                .collect(),
        )
    };
    let body = serde_json::to_vec(&leads(0, 100)).unwrap();
    // Node 0 has the head and half the body: its import is running.
    let addr = cluster.base(0).trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v4/campaigns/{id}/leads HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        cluster.auth,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..body.len() / 2]).await.unwrap();
    slow.flush().await.unwrap();
    let path = format!("/api/v4/campaigns/{id}/leads");
    // Node 0 claims the campaign once it has the head; wait for it there
    // (an import sent to find out would race the slow one for the claim).
    within(Duration::from_secs(5), "node 0 runs the import", || async {
        cluster
            .metric(0, "campaignd_lead_imports_running")
            .await
            .as_deref()
            == Some("1")
    })
    .await;
    let reply = cluster
        .send(1, "POST", &path, &leads(1000, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 409);
    assert_eq!(
        reply.text().await.unwrap(),
        r#"{"errors":{"campaign":["an import is in progress"]}}"#
    );
    slow.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut reply = String::new();
    slow.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Done: node 1 imports now.
    let after = cluster
        .send(1, "POST", &path, &leads(2000, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "{:?}", after.text().await);
}
