//! Leads over real HTTP: SPEC §10, every row, serialised imports and
//! tenant isolation.

use std::sync::Arc;
use std::time::Duration;

use campaignd_model::Scope;
use campaignd_testkit::{Fault, FaultyStore, Reply, Settings, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn auth(key: &str) -> Vec<(String, String)> {
    vec![
        ("authorization".into(), format!("Bearer {key}")),
        ("content-type".into(), "application/json".into()),
    ]
}

fn assert_error(reply: &Reply, status: u16, body: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert_eq!(reply.text(), body);
}

/// A center whose campaign 3 is live, and another center; the key has
/// every scope.
async fn live_campaign() -> (TestServer, String, String) {
    let server = TestServer::start().await;
    let acme = server.center("acme").await;
    let other = server.center("other").await;
    server.import_example(acme).await;
    server.staff(acme, 3).await;
    let all = [
        Scope::CampaignsRead,
        Scope::CampaignsManage,
        Scope::UsersRead,
    ];
    let key = server.key(acme, &all).await.0;
    let other_key = server.key(other, &all).await.0;
    (server, key, other_key)
}

async fn import(server: &TestServer, key: &str, campaign: &str, body: &Value) -> Reply {
    server
        .send(
            "POST",
            &format!("/api/v4/campaigns/{campaign}/leads"),
            &auth(key),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
}

fn numbers(from: u64, count: u64) -> Vec<Value> {
    (from..from + count)
        .map(|n| json!({ "phone_number": format!("1555{n:07}") }))
        .collect()
}

#[tokio::test]
async fn an_import_reports_each_lead_in_request_order_and_the_list_orders_by_priority() {
    let (server, key, _) = live_campaign().await;
    let reply = import(
        &server,
        &key,
        "3",
        &json!([
            {"phone_number": "442071838750", "name": "Ann", "priority": 5,
             "source": {"system": "crm", "url": "https://crm.example/1"},
             "context_headers": {"X-Crm-Id": "1"}},
            {"phone_number": "+442071838751"},
            {"phone_number": "15550100001"},
            {"phone_number": "442071838752", "priority": 0},
            {"phone_number": "442071838750"},
            {"name": "no number"},
            {"phone_number": "442071838753", "active": false},
        ]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        reply.json(),
        json!({"leads_import": {
            "created": ["442071838750", "442071838753"],
            "rejected": ["+442071838751", "442071838752", null],
            "duplicates": ["15550100001", "442071838750"],
        }}),
        "15550100001 is the campaign's already (its staffing lead)"
    );

    let list = server
        .get("/api/v4/campaigns/3/leads?limit=2", Some(&key))
        .await;
    assert_eq!(list.status, 200, "{}", list.text());
    let body = list.json();
    assert_eq!(body["metadata"]["total"], 3);
    let leads = body["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 2);
    let ann = &leads[0];
    assert_eq!(ann["phone_number"], "442071838750");
    assert_eq!(ann["name"], "Ann");
    assert_eq!(ann["priority"], 5);
    assert_eq!(ann["active"], true);
    assert_eq!(
        ann["source"],
        json!({"system": "crm", "url": "https://crm.example/1"})
    );
    assert_eq!(ann["context_headers"], json!({"X-Crm-Id": "1"}));
    assert!(ann["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        leads[1]["phone_number"], "15550100001",
        "priority 500, imported first"
    );
    let rest = server
        .get("/api/v4/campaigns/3/leads?offset=2", Some(&key))
        .await
        .json();
    assert_eq!(rest["leads"][0]["phone_number"], "442071838753");
    assert_eq!(rest["leads"][0]["name"], Value::Null);
    assert_eq!(rest["leads"][0]["source"], Value::Null);
    let bad = server
        .get("/api/v4/campaigns/3/leads?limit=0", Some(&key))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text());
}

#[tokio::test]
async fn a_body_that_is_not_a_batch_is_refused_before_anything_is_looked_up() {
    let (server, key, _) = live_campaign().await;
    let send = |body: &'static [u8], content_type: &'static str| {
        let headers = vec![
            ("authorization".to_owned(), format!("Bearer {key}")),
            ("content-type".to_owned(), content_type.to_owned()),
        ];
        let server = &server;
        async move {
            server
                .send(
                    "POST",
                    "/api/v4/campaigns/99/leads",
                    &headers,
                    Some(body.to_vec()),
                )
                .await
        }
    };
    assert_error(
        &send(b"[{", "application/json").await,
        400,
        r#"{"error":"Bad Request"}"#,
    );
    assert_error(
        &send(br#"{"phone_number": "15551234567"}"#, "application/json").await,
        400,
        r#"{"error":"Bad Request"}"#,
    );
    assert_error(
        &send(b"[]", "application/json").await,
        422,
        r#"{"errors":{"leads":["must hold between 1 and 1000 leads"]}}"#,
    );
    assert_error(
        &send(b"[]", "text/plain").await,
        415,
        r#"{"error":"Unsupported Media Type"}"#,
    );
    let over = import(&server, &key, "3", &Value::Array(numbers(0, 1001))).await;
    assert_error(
        &over,
        422,
        r#"{"errors":{"leads":["must hold between 1 and 1000 leads"]}}"#,
    );
    let full = import(&server, &key, "3", &Value::Array(numbers(0, 1000))).await;
    assert_eq!(full.status, 200, "{}", full.text());
    assert_eq!(
        full.json()["leads_import"]["created"]
            .as_array()
            .unwrap()
            .len(),
        1000
    );
    let missing = import(&server, &key, "99", &Value::Array(numbers(0, 1))).await;
    assert_error(&missing, 404, r#"{"error":"Not found"}"#);
    let not_an_id = import(&server, &key, "3x", &Value::Array(numbers(0, 1))).await;
    assert_error(&not_an_id, 404, r#"{"error":"Not found"}"#);
}

#[tokio::test]
async fn scopes_and_tenants_are_kept_apart() {
    let (server, key, other_key) = live_campaign().await;
    let acme = server
        .store
        .contact_center_by_name(&"acme".parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let reader = server.reader(acme).await;
    let writer = server.key(acme, &[Scope::CampaignsManage]).await.0;
    let body = Value::Array(numbers(0, 1));
    assert_error(
        &import(&server, &reader, "3", &body).await,
        403,
        r#"{"error":"Forbidden"}"#,
    );
    assert_error(
        &server.get("/api/v4/campaigns/3/leads", Some(&writer)).await,
        403,
        r#"{"error":"Forbidden"}"#,
    );
    let anonymous = server
        .send(
            "POST",
            "/api/v4/campaigns/3/leads",
            &[("content-type".into(), "application/json".into())],
            Some(b"[]".to_vec()),
        )
        .await;
    assert_error(&anonymous, 401, r#"{"error":"Unauthorized"}"#);
    assert_error(
        &import(&server, &other_key, "3", &body).await,
        404,
        r#"{"error":"Not found"}"#,
    );
    assert_error(
        &server
            .get("/api/v4/campaigns/3/leads", Some(&other_key))
            .await,
        404,
        r#"{"error":"Not found"}"#,
    );
    let listed = server.get("/api/v4/campaigns/3/leads", Some(&key)).await;
    assert_eq!(
        listed.json()["metadata"]["total"],
        1,
        "only the staffing lead"
    );
}

#[tokio::test]
async fn only_live_campaigns_that_are_not_stopped_take_leads() {
    let (server, key, _) = live_campaign().await;
    let client = server.client(&key);
    let body = Value::Array(numbers(0, 2));
    client
        .update_campaign(3, &json!({"live": false}), None)
        .await
        .unwrap();
    assert_error(
        &import(&server, &key, "3", &body).await,
        409,
        r#"{"errors":{"live":["leads can only be imported into a live campaign"]}}"#,
    );
    client
        .update_campaign(3, &json!({"live": true}), None)
        .await
        .unwrap();
    client.stop_campaign(3, None).await.unwrap();
    assert_error(
        &import(&server, &key, "3", &body).await,
        409,
        r#"{"errors":{"status":["cannot import leads into a campaign that is stopped"]}}"#,
    );
    client.delete_campaign(3, None).await.unwrap();
    assert_error(
        &server.get("/api/v4/campaigns/3/leads", Some(&key)).await,
        404,
        r#"{"error":"Not found"}"#,
    );
}

/// A server whose store can be slowed: answers it, the faults and a key.
async fn slowed() -> (TestServer, Arc<FaultyStore>, String) {
    let mut faulty = None;
    let server = TestServer::start_over(Settings::default(), |store| {
        let store = Arc::new(FaultyStore::new(store));
        faulty = Some(Arc::clone(&store));
        store
    })
    .await;
    let acme = server.center("acme").await;
    server.import_example(acme).await;
    server.staff(acme, 3).await;
    let key = server.manager(acme).await;
    (server, faulty.unwrap(), key)
}

#[tokio::test]
async fn a_second_import_into_a_campaign_while_one_runs_is_refused_and_the_first_completes() {
    let (server, faulty, key) = slowed().await;
    // Long enough for the second import to arrive while the first is held,
    // on a busy machine too.
    faulty.set("import_leads", Fault::Delay(Duration::from_secs(3)));
    let thousand = Value::Array(numbers(0, 1000));
    let first = import(&server, &key, "3", &thousand);
    let second = async {
        // Sent once the first is inside the store (its call is counted).
        while faulty.calls("import_leads") == 0 {
            tokio::task::yield_now().await;
        }
        let refused = import(&server, &key, "3", &Value::Array(numbers(500, 10))).await;
        let elsewhere = server
            .send(
                "POST",
                "/api/v4/campaigns/99/leads",
                &auth(&key),
                Some(serde_json::to_vec(&numbers(0, 1)).unwrap()),
            )
            .await;
        (refused, elsewhere)
    };
    let (first, (refused, elsewhere)) = tokio::join!(first, second);
    assert_error(
        &refused,
        409,
        r#"{"errors":{"campaign":["an import is in progress"]}}"#,
    );
    assert_error(&elsewhere, 404, r#"{"error":"Not found"}"#);
    assert_eq!(first.status, 200, "{}", first.text());
    let created = first.json()["leads_import"]["created"].clone();
    assert_eq!(created.as_array().unwrap().len(), 1000, "unaffected");
    faulty.heal();
    let after = import(&server, &key, "3", &Value::Array(numbers(999, 2))).await;
    assert_eq!(
        after.json()["leads_import"],
        json!({"created": ["15550001000"], "rejected": [], "duplicates": ["15550000999"]}),
        "the campaign takes imports again once the first is answered"
    );
}

#[tokio::test]
async fn an_import_runs_from_the_moment_it_is_sent_so_a_slow_upload_holds_the_campaign() {
    let (server, key, _) = live_campaign().await;
    let body = serde_json::to_vec(&numbers(0, 100)).unwrap();
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v4/campaigns/3/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body[..body.len() / 2]).await.unwrap();
    slow.flush().await.unwrap();
    // The server takes the claim once it has the head; wait for it there
    // (an import sent to find out would race the slow one for the claim).
    imports_running(&server, 1).await;
    let refused = import(&server, &key, "3", &Value::Array(numbers(1000, 1))).await;
    assert_error(
        &refused,
        409,
        r#"{"errors":{"campaign":["an import is in progress"]}}"#,
    );
    slow.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut reply = String::new();
    slow.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let json: Value = serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        json["leads_import"]["created"].as_array().unwrap().len(),
        100
    );
}

#[tokio::test]
async fn a_stalled_upload_is_cut_off_and_frees_the_campaign() {
    let mut settings = Settings::default();
    settings.config.request_timeout = Duration::from_millis(300);
    let server = TestServer::start_over(settings, |store| store).await;
    let acme = server.center("acme").await;
    server.import_example(acme).await;
    server.staff(acme, 3).await;
    let key = server.manager(acme).await;
    let addr = server
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v4/campaigns/3/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n["
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stalled.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.ends_with(r#"{"error":"Request Timeout"}"#), "{reply}");
    let next = import(&server, &key, "3", &Value::Array(numbers(0, 1))).await;
    assert_eq!(
        next.status,
        200,
        "the campaign is free again: {}",
        next.text()
    );
}

/// Waits until the server reports `n` lead imports running; fails after 5 s.
async fn imports_running(server: &TestServer, n: usize) {
    let want = format!("campaignd_lead_imports_running {n}");
    let started = std::time::Instant::now();
    loop {
        let metrics = server.get("/metrics", None).await.text();
        if metrics.lines().any(|l| l == want) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never {want}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
