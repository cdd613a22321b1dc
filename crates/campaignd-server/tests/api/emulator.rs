//! Emulator mode (SPEC §12): the control API, faults and the journal.

use std::time::{Duration, Instant};

use campaignd_server::EmulatorConfig;
use serde_json::{Value, json};

use campaignd_testkit::{Reply, Settings, TestServer};

const TOKEN: &str = "admin-token-for-tests-0123";

fn settings(journal_size: usize, faults: Vec<Value>) -> Settings {
    let mut settings = Settings::default();
    settings.config.emulator = Some(EmulatorConfig {
        admin_token: TOKEN.into(),
        journal_size,
        faults,
    });
    settings
}

async fn emulator() -> TestServer {
    TestServer::start_with(settings(1000, Vec::new())).await
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

async fn control(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> Reply {
    let mut headers = bearer(TOKEN);
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    server
        .send(
            method,
            path,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
}

async fn add_fault(server: &TestServer, rule: Value) -> Value {
    let reply = control(server, "POST", "/_campaignd/faults", Some(rule)).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["fault"].clone()
}

async fn post(server: &TestServer, path: &str, key: &str, body: &Value) -> Reply {
    let mut headers = bearer(key);
    headers.push(("content-type".into(), "application/json".into()));
    server
        .send("POST", path, &headers, Some(body.to_string().into_bytes()))
        .await
}

const CONTROL_PATHS: [(&str, &str); 7] = [
    ("GET", "/_campaignd/faults"),
    ("POST", "/_campaignd/faults"),
    ("DELETE", "/_campaignd/faults"),
    ("DELETE", "/_campaignd/faults/1"),
    ("GET", "/_campaignd/requests"),
    ("DELETE", "/_campaignd/requests"),
    ("POST", "/_campaignd/reset"),
];

#[tokio::test]
async fn without_the_flag_every_control_path_is_an_unknown_route() {
    let server = TestServer::start().await;
    for (method, path) in CONTROL_PATHS.iter().chain(&[("GET", "/_campaignd/")]) {
        let reply = server.request(method, path, &bearer(TOKEN)).await;
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(reply.text(), r#"{"error":"Not found"}"#);
        assert!(reply.header("www-authenticate").is_none());
    }
}

#[tokio::test]
async fn the_control_api_takes_the_admin_token_and_never_an_api_key() {
    let server = emulator().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    for (method, path) in &CONTROL_PATHS {
        for headers in [
            Vec::new(),
            bearer(&key),
            bearer("admin-token-for-tests-0124"),
        ] {
            let reply = server.request(method, path, &headers).await;
            assert_eq!(reply.status, 401, "{method} {path} {headers:?}");
            assert_eq!(reply.text(), r#"{"error":"Unauthorized"}"#);
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    let reply = control(&server, "GET", "/_campaignd/faults", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"faults": []}));
    // And the admin token is no API key.
    let reply = server.get("/api/v4/campaigns", Some(TOKEN)).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn rules_are_checked_field_by_field() {
    let server = emulator().await;
    server.center("acme").await;
    let reply = control(
        &server,
        "POST",
        "/_campaignd/faults",
        Some(
            json!({"match": {"method": "BREW", "route": "/api/v4/nope", "contact_center": "globex"},
                    "action": {"status": 404}, "times": 0, "probability": 2}),
        ),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let errors = reply.json()["errors"].clone();
    for field in [
        "match.method",
        "match.route",
        "match.contact_center",
        "action.status",
        "times",
        "probability",
    ] {
        assert!(errors.get(field).is_some(), "{field} in {errors}");
    }
    let reply = control(&server, "POST", "/_campaignd/faults", Some(json!([1]))).await;
    assert_eq!(reply.status, 400);
    let reply = server
        .send(
            "POST",
            "/_campaignd/faults",
            &[
                ("authorization".into(), format!("Bearer {TOKEN}")),
                ("content-type".into(), "application/json".into()),
            ],
            Some(b"{not json".to_vec()),
        )
        .await;
    assert_eq!(reply.status, 400);
    // The documented example, with every field.
    let fault = add_fault(
        &server,
        json!({"match": {"method": "GET", "route": "/api/v4/campaigns/{campaign_id}", "key_id": 3,
                         "contact_center": "acme"},
               "action": {"status": 503}, "times": 2, "probability": 1.0, "seed": 7}),
    )
    .await;
    assert_eq!(fault["id"], 1);
    assert_eq!(fault["fired"], 0);
    assert_eq!(fault["match"]["contact_center"], "acme");
    let second = add_fault(&server, json!({"action": {"drop": true}})).await;
    let listed = control(&server, "GET", "/_campaignd/faults", None)
        .await
        .json();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 2);
    let removed = control(&server, "DELETE", "/_campaignd/faults/2", None).await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.json()["fault"], second);
    for gone in ["/_campaignd/faults/2", "/_campaignd/faults/x"] {
        assert_eq!(control(&server, "DELETE", gone, None).await.status, 404);
    }
    let cleared = control(&server, "DELETE", "/_campaignd/faults", None).await;
    assert_eq!(cleared.json(), json!({"deleted": 1}));
}

#[tokio::test]
async fn a_faulted_request_gets_the_documented_envelope_and_a_faulted_write_changes_nothing() {
    let server = emulator().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    let create = "/api/v4/campaigns";
    for (status, body) in [
        (503, r#"{"error":"Service Unavailable"}"#),
        (500, r#"{"error":"Internal Server Error"}"#),
        (502, r#"{"error":"Bad Gateway"}"#),
        (504, r#"{"error":"Gateway Timeout"}"#),
        (429, r#"{"error":"Too many requests"}"#),
    ] {
        add_fault(
            &server,
            json!({"match": {"method": "POST", "route": create}, "action": {"status": status}, "times": 1}),
        )
        .await;
        let reply = post(&server, create, &key, &json!({"name": "Spring"})).await;
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.text(), body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("x-request-id").is_some());
        match status {
            503 => assert_eq!(reply.header("retry-after"), Some("1")),
            429 => {
                assert_eq!(reply.header("retry-after"), Some("1"));
                assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
                assert!(reply.header("ratelimit-limit").is_some());
                assert_eq!(reply.header("ratelimit-reset"), Some("1"));
            }
            _ => assert!(reply.header("retry-after").is_none()),
        }
        // Every authenticated answer reports the key's budget.
        assert!(reply.header("ratelimit-limit").is_some(), "{status}");
        assert!(reply.header("ratelimit-remaining").is_some(), "{status}");
        let list = server.get("/api/v4/campaigns", Some(&key)).await;
        assert_eq!(
            list.json()["metadata"]["total"],
            0,
            "the write changed nothing"
        );
    }
    // Nothing was written, so nothing was audited.
    let audit = server
        .store
        .audit_records(&campaignd_store::AuditQuery {
            center,
            campaign: None,
            since: None,
            after: None,
            limit: 100,
        })
        .await
        .unwrap();
    assert!(audit.is_empty(), "{audit:?}");
    // Retired after one firing each: the next create goes through.
    let reply = post(&server, create, &key, &json!({"name": "Spring"})).await;
    assert_eq!(reply.status, 201);
    let faults = control(&server, "GET", "/_campaignd/faults", None)
        .await
        .json();
    assert!(
        faults["faults"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["fired"] == 1)
    );
}

#[tokio::test]
async fn rules_scoped_by_key_or_center_touch_nothing_else() {
    let server = emulator().await;
    let acme = server.center("acme").await;
    let globex = server.center("globex").await;
    let (first, info) = server
        .key(acme, &[campaignd_model::Scope::CampaignsRead])
        .await;
    let second = server.reader(acme).await;
    let other = server.reader(globex).await;
    add_fault(
        &server,
        json!({"match": {"key_id": info.id.get()}, "action": {"status": 503}}),
    )
    .await;
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&first)).await.status,
        503
    );
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&second)).await.status,
        200
    );
    control(&server, "DELETE", "/_campaignd/faults", None).await;
    add_fault(
        &server,
        json!({"match": {"contact_center": "globex", "route": "/api/v4/campaigns/{campaign_id}"},
               "action": {"status": 500}}),
    )
    .await;
    assert_eq!(
        server.get("/api/v4/campaigns/1", Some(&other)).await.status,
        500
    );
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&other)).await.status,
        200,
        "another route"
    );
    assert_eq!(
        server
            .get("/api/v4/campaigns/1", Some(&second))
            .await
            .status,
        404,
        "another center"
    );
}

#[tokio::test]
async fn a_delay_holds_the_real_answer_and_a_drop_closes_the_connection() {
    let server = emulator().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    add_fault(
        &server,
        json!({"match": {"route": "/api/v4/campaigns/{campaign_id}"}, "action": {"delay_ms": 300}, "times": 1}),
    )
    .await;
    let started = Instant::now();
    let reply = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    add_fault(
        &server,
        json!({"match": {"route": "/api/v4/campaigns/{campaign_id}"}, "action": {"drop": true}, "times": 1}),
    )
    .await;
    let raw = reqwest::Client::new()
        .get(server.url("/api/v4/campaigns/3"))
        .bearer_auth(&key)
        .send()
        .await;
    assert!(raw.is_err(), "no answer: {raw:?}");
    // The journal says the request was never answered.
    let journal = control(
        &server,
        "GET",
        "/_campaignd/requests?route=/api/v4/campaigns/{campaign_id}",
        None,
    )
    .await
    .json();
    let statuses: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(statuses, [&json!(200), &Value::Null]);
}

#[tokio::test]
async fn the_journal_holds_requests_and_bodies_never_a_key() {
    let server = TestServer::start_with(settings(5, Vec::new())).await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    let created = post(
        &server,
        "/api/v4/campaigns",
        &key,
        &json!({"name": "Spring", "note_to_self": key}),
    )
    .await;
    assert_eq!(
        created.status,
        422,
        "an unknown key is refused: {}",
        created.text()
    );
    let created = post(
        &server,
        "/api/v4/campaigns",
        &key,
        &json!({"name": "Spring"}),
    )
    .await;
    assert_eq!(created.status, 201);
    let id = created.json()["campaign"]["id"].as_i64().unwrap();
    let read = server
        .get(&format!("/api/v4/campaigns/{id}?x=1"), Some(&key))
        .await;
    assert_eq!(read.status, 200);
    let request_id = read.header("x-request-id").unwrap().to_owned();
    server.get("/api/v4/campaigns/99", Some(&key)).await;
    // Not journaled: the control API, and what is not the API.
    control(&server, "GET", "/_campaignd/faults", None).await;
    server.get("/healthz", None).await;

    let all = control(&server, "GET", "/_campaignd/requests", None)
        .await
        .json();
    let requests = all["requests"].as_array().unwrap();
    assert_eq!(all["metadata"]["total"], 4);
    assert_eq!(requests.len(), 4);
    let first = &requests[0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/api/v4/campaigns");
    assert_eq!(first["route"], "/api/v4/campaigns");
    assert_eq!(first["status"], 422);
    assert_eq!(first["body"]["name"], "Spring");
    assert_eq!(first["body"]["note_to_self"], "[redacted]");
    assert!(first["key_id"].is_i64());
    assert!(first["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(requests[2]["path"], format!("/api/v4/campaigns/{id}?x=1"));
    assert_eq!(requests[2]["body"], Value::Null);
    let text = all.to_string();
    assert!(!text.contains(&key[5..]), "the journal holds a key: {text}");

    let filtered = |query: &'static str| {
        let server = &server;
        async move {
            control(
                server,
                "GET",
                &format!("/_campaignd/requests?{query}"),
                None,
            )
            .await
            .json()["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["status"].as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(filtered("method=post").await, [422, 201]);
    assert_eq!(filtered("status=404").await, [404]);
    assert_eq!(
        filtered("route=/api/v4/campaigns/%7Bcampaign_id%7D").await,
        [200, 404]
    );
    let since = control(
        &server,
        "GET",
        &format!("/_campaignd/requests?since={request_id}"),
        None,
    )
    .await
    .json();
    assert_eq!(since["metadata"]["total"], 1);
    let since_time = control(
        &server,
        "GET",
        "/_campaignd/requests?since=2000-01-01T00:00:00Z",
        None,
    )
    .await
    .json();
    assert_eq!(since_time["metadata"]["total"], 4);
    let bad = control(
        &server,
        "GET",
        "/_campaignd/requests?status=abc&route=/x",
        None,
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.json()["errors"]["status"].is_array());
    assert!(bad.json()["errors"]["route"].is_array());

    // The ring keeps the newest five.
    for _ in 0..4 {
        server.get("/api/v4/campaigns", Some(&key)).await;
    }
    let ring = control(&server, "GET", "/_campaignd/requests", None)
        .await
        .json();
    assert_eq!(ring["metadata"]["total"], 5);
    assert_eq!(ring["requests"][0]["status"], 404);
    let cleared = control(&server, "DELETE", "/_campaignd/requests", None).await;
    assert_eq!(cleared.json(), json!({"deleted": 5}));
    let empty = control(&server, "GET", "/_campaignd/requests", None)
        .await
        .json();
    assert_eq!(empty, json!({"requests": [], "metadata": {"total": 0}}));
}

#[tokio::test]
async fn rules_given_at_the_start_are_in_force() {
    let server = TestServer::start_with(settings(
        10,
        vec![json!({"match": {"route": "/api/v4/campaigns"}, "action": {"status": 503}})],
    ))
    .await;
    let center = server.center("acme").await;
    let key = server.reader(center).await;
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&key)).await.status,
        503
    );
    let listed = control(&server, "GET", "/_campaignd/faults", None)
        .await
        .json();
    assert_eq!(listed["faults"][0]["fired"], 1);
}

/// A reset puts the start state back while clients keep calling: no 5xx,
/// the start's keys still work, what was written since is gone, and the
/// journal is empty.
#[tokio::test]
async fn a_reset_under_load_restores_the_start_without_a_5xx() {
    let server = emulator().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.manager(center).await;
    // What a start with this seed would have kept.
    server.store.keep_start_state().await.unwrap();
    let start = server.get("/api/v4/campaigns", Some(&key)).await.json();
    assert_eq!(start["metadata"]["total"], 1);
    let later = server.manager(center).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for worker in 0..6 {
        let (server_url, key, stop, answered) =
            (server.url(""), key.clone(), stop.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let reply = if worker % 2 == 0 {
                    http.get(format!("{server_url}/api/v4/campaigns/3"))
                        .bearer_auth(&key)
                        .send()
                        .await
                } else {
                    http.post(format!("{server_url}/api/v4/campaigns"))
                        .bearer_auth(&key)
                        .json(&json!({"name": format!("Load {worker}-{n}")}))
                        .send()
                        .await
                };
                statuses.push(reply.expect("answered").status().as_u16());
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            statuses
        }));
    }
    for _ in 0..3 {
        // Each reset lands among requests: 20 more answered since the last.
        let waiting = Instant::now();
        let before = answered.load(std::sync::atomic::Ordering::Relaxed);
        while answered.load(std::sync::atomic::Ordering::Relaxed) < before + 20 {
            assert!(
                waiting.elapsed() < Duration::from_secs(10),
                "the clients are not being answered"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let reset = control(&server, "POST", "/_campaignd/reset", None).await;
        assert_eq!(reset.status, 200, "{}", reset.text());
        assert!(reset.json()["reset"]["took_ms"].is_u64());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.await.unwrap());
    }
    assert!(statuses.len() >= 60, "{} requests", statuses.len());
    let failed: Vec<_> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(failed.is_empty(), "5xx during resets: {failed:?}");
    assert!(statuses.contains(&201) && statuses.contains(&200));

    // A seeded campaign changed and read (so cached), then a reset: the
    // very next read is the seed's.
    let paused = post(&server, "/api/v4/campaigns/3/pause", &key, &json!({})).await;
    assert_eq!(paused.status, 200, "{}", paused.text());
    let read = server.get("/api/v4/campaigns/3", Some(&key)).await.json();
    assert_eq!(read["campaign"]["status"], "paused");
    // Once more with nothing running: exactly the start.
    let reset = control(&server, "POST", "/_campaignd/reset", None).await;
    assert_eq!(reset.status, 200);
    let read = server.get("/api/v4/campaigns/3", Some(&key)).await.json();
    assert_eq!(
        read["campaign"]["status"], "active",
        "the read after a reset is the seed's"
    );
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&key)).await.json(),
        start
    );
    assert_eq!(
        server.get("/api/v4/campaigns", Some(&later)).await.status,
        401,
        "a key made after the start is gone"
    );
    let journal = control(&server, "GET", "/_campaignd/requests", None)
        .await
        .json();
    assert_eq!(
        journal["metadata"]["total"], 3,
        "only the three reads since the reset"
    );
    // A reset wants the admin token too.
    assert_eq!(
        server
            .request("POST", "/_campaignd/reset", &bearer(&key))
            .await
            .status,
        401
    );
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The served document describes the control API in emulator mode, and
/// only then: its own security scheme, no rate-limit headers.
#[tokio::test]
async fn the_document_describes_the_control_api_only_in_emulator_mode() {
    let off = TestServer::start().await;
    let doc = off.get("/api/v4/openapi.json", None).await.json();
    assert!(
        doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|p| !p.starts_with("/_campaignd")),
        "{}",
        doc["paths"]
    );
    let on = emulator().await;
    let doc = on.get("/api/v4/openapi.json", None).await.json();
    let expected = [
        ("/_campaignd/faults", &["get", "post", "delete"][..]),
        ("/_campaignd/faults/{fault_id}", &["delete"]),
        ("/_campaignd/requests", &["get", "delete"]),
        ("/_campaignd/reset", &["post"]),
    ];
    for (path, methods) in expected {
        let item = &doc["paths"][path];
        for method in methods {
            let op = &item[*method];
            assert_eq!(op["security"], json!([{"admin": []}]), "{method} {path}");
            let unauthorized = &op["responses"]["401"]["headers"];
            assert!(
                unauthorized["WWW-Authenticate"].is_object(),
                "{method} {path}"
            );
            assert!(unauthorized["X-Request-Id"].is_object());
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .unwrap()
                .1;
            assert!(
                ok["headers"]["RateLimit-Limit"].is_null(),
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["admin"]["scheme"],
        "bearer"
    );
    // The API's own operations are all still there, and every reference
    // resolves.
    assert!(doc["paths"]["/api/v4/campaigns/{campaign_id}"]["get"].is_object());
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.iter().any(|r| r.ends_with("/FaultEnvelope")));
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").expect(r);
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
}

/// A body too large to be worth keeping (a lead batch, say) is journaled
/// without it.
#[tokio::test]
async fn the_journal_keeps_no_large_body() {
    let server = emulator().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    let big = post(
        &server,
        "/api/v4/campaigns",
        &key,
        &json!({"name": "x".repeat(70_000)}),
    )
    .await;
    assert_eq!(big.status, 422);
    let small = post(
        &server,
        "/api/v4/campaigns",
        &key,
        &json!({"name": "Small"}),
    )
    .await;
    assert_eq!(small.status, 201);
    let journal = control(&server, "GET", "/_campaignd/requests", None)
        .await
        .json();
    let bodies: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["body"])
        .collect();
    assert_eq!(bodies, [&Value::Null, &json!({"name": "Small"})]);
}
