//! Managing campaigns over real HTTP: SPEC §7, §8 and §11. Through the
//! client wherever it covers the call; raw HTTP where the wire itself is
//! under test (content types, sizes, status rows).

use campaignd_client::{Error, Status};
use campaignd_model::{CampaignId, ContactCenterId};
use campaignd_store::AuditQuery;
use serde_json::{Value, json};

use campaignd_testkit::{Reply, TestServer};

async fn server_with_manager() -> (TestServer, ContactCenterId, String) {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    (server, center, key)
}

fn auth(key: &str) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer {key}"))]
}

fn json_headers(key: &str) -> Vec<(String, String)> {
    let mut headers = auth(key);
    headers.push(("content-type".into(), "application/json".into()));
    headers
}

fn assert_error(reply: &Reply, status: u16, body: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert_eq!(reply.text(), body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_campaign_is_created_driven_through_its_lifecycle_and_deleted() {
    let (server, center, key) = server_with_manager().await;
    let client = server.client(&key);
    let created = client
        .create_campaign(&json!({"name": "  Autumn  ", "dial_level": 2, "live": true}))
        .await
        .unwrap();
    let c = &created.campaign;
    assert_eq!((c.name.as_str(), &c.status), ("Autumn", &Status::Draft));
    assert!((c.dial_level - 2.0).abs() < f64::EPSILON);
    assert_eq!(
        (c.max_dial_time, c.max_wait_time, c.max_dial_attempts),
        (60, 5, 3)
    );
    assert_eq!(c.created_at, c.updated_at);
    let read = client.get_campaign(c.id).await.unwrap();
    assert_eq!(&read, c);

    match client.start_campaign(c.id, None).await {
        Err(Error::Conflict { errors }) => {
            assert_eq!(
                errors["users"],
                ["cannot start a campaign without assigned users"]
            );
            assert_eq!(
                errors["leads"],
                ["cannot start a campaign without active leads"]
            );
        }
        other => panic!("an unstaffed campaign does not start: {other:?}"),
    }
    server.staff(center, c.id).await;
    let started = client.start_campaign(c.id, None).await.unwrap();
    assert_eq!(started.campaign.status, Status::Active);
    assert!(started.campaign.updated_at > c.updated_at);
    let paused = client.pause_campaign(c.id, None).await.unwrap();
    assert_eq!(paused.campaign.status, Status::Paused);
    match client.pause_campaign(c.id, None).await {
        Err(Error::Conflict { errors }) => {
            assert_eq!(errors["status"], ["cannot pause a campaign that is paused"]);
        }
        other => panic!("{other:?}"),
    }
    match client.delete_campaign(c.id, None).await {
        Err(Error::Conflict { errors }) => {
            assert_eq!(
                errors["status"],
                ["cannot delete a campaign that is paused"]
            );
        }
        other => panic!("{other:?}"),
    }
    let stopped = client.stop_campaign(c.id, None).await.unwrap();
    assert_eq!(stopped.campaign.status, Status::Stopped);
    let deleted = client.delete_campaign(c.id, None).await.unwrap();
    assert_eq!(deleted.campaign, stopped.campaign);
    assert!(matches!(
        client.get_campaign(c.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        client.start_campaign(c.id, None).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn pause_answers_the_bare_campaign_and_writes_answer_the_envelope() {
    let (server, center, key) = server_with_manager().await;
    server.import_example(center).await;
    let pause = server
        .send("POST", "/api/v4/campaigns/3/pause", &auth(&key), None)
        .await;
    assert_eq!(pause.status, 200, "{}", pause.text());
    let body = pause.json();
    assert_eq!(body["id"], 3);
    assert_eq!(body["status"], "paused");
    assert!(body.get("campaign").is_none(), "bare, as Voiso documents");
    let get = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(
        get.json()["campaign"],
        body,
        "the read shows the write at once"
    );
    assert_eq!(get.header("etag"), pause.header("etag"));

    let patch = server
        .send(
            "PATCH",
            "/api/v4/campaigns/3",
            &json_headers(&key),
            Some(br#"{"max_dial_attempts": 7, "follow_up_mode": null}"#.to_vec()),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text());
    let campaign = &patch.json()["campaign"];
    assert_eq!(campaign["max_dial_attempts"], 7);
    assert_eq!(campaign["follow_up_mode"], Value::Null);
    assert_eq!(campaign["name"], "Summer Outreach Campaign");
    let create = server
        .send(
            "POST",
            "/api/v4/campaigns",
            &json_headers(&key),
            Some(br#"{"name": "Second"}"#.to_vec()),
        )
        .await;
    assert_eq!(create.status, 201);
    assert_eq!(
        create.json()["campaign"]["id"],
        4,
        "the next id of the center"
    );
}

#[tokio::test]
async fn reads_after_a_write_never_see_the_old_body() {
    let (server, center, key) = server_with_manager().await;
    server.import_example(center).await;
    let client = server.client(&key);
    for level in 2..12 {
        // Each read fills the cache; each write must drop it before it answers.
        client.get_campaign(3).await.unwrap();
        client
            .list_campaigns(&campaignd_client::CampaignFilter::new())
            .await
            .unwrap();
        let written = client
            .update_campaign(3, &json!({"max_dial_attempts": level}), None)
            .await
            .unwrap();
        assert_eq!(client.get_campaign(3).await.unwrap(), written.campaign);
        let page = client
            .list_campaigns(&campaignd_client::CampaignFilter::new())
            .await
            .unwrap();
        assert_eq!(page.campaigns[0].max_dial_attempts, level);
    }
}

#[tokio::test]
async fn if_match_guards_every_write_and_if_none_match_answers_304() {
    let (server, center, key) = server_with_manager().await;
    server.import_example(center).await;
    server.staff(center, 3).await;
    let client = server.client(&key);
    let get = server.get("/api/v4/campaigns/3", Some(&key)).await;
    let tag = get.header("etag").unwrap().to_owned();
    let mut headers = auth(&key);
    headers.push(("if-none-match".into(), tag.clone()));
    let not_modified = server.request("GET", "/api/v4/campaigns/3", &headers).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());

    let stale = "\"0123456789abcdef\"";
    for result in [
        client
            .update_campaign(3, &json!({"dial_level": 3}), Some(stale))
            .await,
        client.pause_campaign(3, Some(stale)).await,
        client.stop_campaign(3, Some(stale)).await,
        client.delete_campaign(3, Some(stale)).await,
    ] {
        assert!(
            matches!(result, Err(Error::PreconditionFailed)),
            "{result:?}"
        );
    }
    let unchanged = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(unchanged.body, get.body, "a 412 changes nothing");
    let mut headers = json_headers(&key);
    headers.push(("if-match".into(), stale.into()));
    let raw = server
        .send(
            "PATCH",
            "/api/v4/campaigns/3",
            &headers,
            Some(b"{}".to_vec()),
        )
        .await;
    assert_error(&raw, 412, r#"{"error":"Precondition Failed"}"#);

    let paused = client.pause_campaign(3, Some(&tag)).await.unwrap();
    assert_ne!(paused.etag, tag);
    let mut headers = auth(&key);
    headers.push(("if-none-match".into(), tag));
    let changed = server.request("GET", "/api/v4/campaigns/3", &headers).await;
    assert_eq!(changed.status, 200, "the old tag no longer matches");
    assert_eq!(changed.header("etag"), Some(paused.etag.as_str()));
    client.start_campaign(3, Some("*")).await.unwrap();
    assert!(matches!(
        client.start_campaign(99, Some("*")).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn of_patches_racing_with_one_tag_exactly_one_wins() {
    let (server, center, key) = server_with_manager().await;
    server.import_example(center).await;
    let client = server.client(&key);
    for round in 0..5 {
        let tag = server
            .get("/api/v4/campaigns/3", Some(&key))
            .await
            .header("etag")
            .unwrap()
            .to_owned();
        let racers = (1..=8).map(|n| {
            let client = client.clone();
            let tag = tag.clone();
            tokio::spawn(async move {
                client
                    .update_campaign(3, &json!({"max_dial_attempts": n + round}), Some(&tag))
                    .await
            })
        });
        let mut won = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(written) => won.push(written),
                Err(Error::PreconditionFailed) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: {won:?}");
        assert_eq!(client.get_campaign(3).await.unwrap(), won[0].campaign);
    }
}

#[tokio::test]
async fn bodies_are_checked_before_any_lookup_with_every_problem_at_once() {
    let (server, _, key) = server_with_manager().await;
    let post = |headers: Vec<(String, String)>, body: &[u8]| {
        let server = &server;
        let body = body.to_vec();
        async move {
            server
                .send("POST", "/api/v4/campaigns", &headers, Some(body))
                .await
        }
    };
    assert_error(
        &post(json_headers(&key), b"{not json").await,
        400,
        r#"{"error":"Bad Request"}"#,
    );
    assert_error(
        &post(json_headers(&key), b"[1]").await,
        400,
        r#"{"error":"Bad Request"}"#,
    );
    let mut text = auth(&key);
    text.push(("content-type".into(), "text/plain".into()));
    assert_error(
        &post(text, br#"{"name":"x"}"#).await,
        415,
        r#"{"error":"Unsupported Media Type"}"#,
    );
    assert_error(
        &post(auth(&key), br#"{"name":"x"}"#).await,
        415,
        r#"{"error":"Unsupported Media Type"}"#,
    );
    let reply = post(
        json_headers(&key),
        br#"{"name": "", "dial_levl": 2, "id": 9, "status": "active", "max_dial_time": 0, "amd_enabled": "yes"}"#,
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let errors = reply.json()["errors"].clone();
    for field in [
        "name",
        "dial_levl",
        "id",
        "status",
        "max_dial_time",
        "amd_enabled",
    ] {
        assert!(errors.get(field).is_some(), "{field} in {errors}");
    }
    assert_eq!(errors["dial_levl"], json!(["is not a campaign field"]));
    let missing = post(json_headers(&key), b"{}").await;
    assert_eq!(missing.json(), json!({"errors": {"name": ["is missing"]}}));
    let first = post(json_headers(&key), br#"{"name": "Once"}"#).await;
    assert_eq!(first.status, 201);
    let again = post(json_headers(&key), br#"{"name": "Once"}"#).await;
    assert_eq!(
        again.json(),
        json!({"errors": {"name": ["has already been taken"]}})
    );
    // A merge patch may say so.
    let mut merge = auth(&key);
    merge.push(("content-type".into(), "application/merge-patch+json".into()));
    let patched = server
        .send(
            "PATCH",
            "/api/v4/campaigns/1",
            &merge,
            Some(br#"{"dial_level": 2}"#.to_vec()),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let bad = server
        .send(
            "PATCH",
            "/api/v4/campaigns/99",
            &json_headers(&key),
            Some(br#"{"dial_level": null}"#.to_vec()),
        )
        .await;
    assert_eq!(
        bad.json(),
        json!({"errors": {"dial_level": ["must not be null"]}}),
        "parameters are checked before the lookup"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_cut_declared_or_chunked() {
    let (server, _, key) = server_with_manager().await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(3 * 1024 * 1024));
    let declared = server
        .send(
            "POST",
            "/api/v4/campaigns",
            &json_headers(&key),
            Some(big.clone().into_bytes()),
        )
        .await;
    assert_error(&declared, 413, r#"{"error":"Payload Too Large"}"#);
    // No length: a stream of chunks, cut once past the limit.
    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let reply = server
        .http
        .post(server.url("/api/v4/campaigns"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 413);
    assert_eq!(
        reply.text().await.unwrap(),
        r#"{"error":"Payload Too Large"}"#
    );
}

#[tokio::test]
async fn a_read_only_key_is_refused_every_write_before_any_lookup() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let reader = server.reader(center).await;
    let routes = [
        ("POST", "/api/v4/campaigns"),
        ("PATCH", "/api/v4/campaigns/3"),
        ("PATCH", "/api/v4/campaigns/999"),
        ("DELETE", "/api/v4/campaigns/3"),
        ("DELETE", "/api/v4/campaigns/999"),
        ("POST", "/api/v4/campaigns/3/start"),
        ("POST", "/api/v4/campaigns/3/pause"),
        ("POST", "/api/v4/campaigns/999/pause"),
        ("POST", "/api/v4/campaigns/3/stop"),
    ];
    for (method, path) in routes {
        let reply = server
            .send(method, path, &json_headers(&reader), Some(b"{bad".to_vec()))
            .await;
        assert_error(&reply, 403, r#"{"error":"Forbidden"}"#);
        let anonymous = server.send(method, path, &[], None).await;
        assert_error(&anonymous, 401, r#"{"error":"Unauthorized"}"#);
    }
    let read = server.get("/api/v4/campaigns/3", Some(&reader)).await;
    assert_eq!(
        read.json()["campaign"]["status"],
        "active",
        "nothing changed"
    );
    let audit = server
        .store
        .audit_records(&AuditQuery {
            center,
            campaign: None,
            since: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(audit.is_empty(), "{audit:?}");
}

#[tokio::test]
async fn each_write_is_audited_with_its_key_and_request_id() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    let (key, info) = server
        .key(center, &[campaignd_model::Scope::CampaignsManage])
        .await;
    let mut headers = json_headers(&key);
    headers.push(("x-request-id".into(), "req-create-1".into()));
    let created = server
        .send(
            "POST",
            "/api/v4/campaigns",
            &headers,
            Some(br#"{"name": "A"}"#.to_vec()),
        )
        .await;
    assert_eq!(created.header("x-request-id"), Some("req-create-1"));
    let client = server.client(&key);
    server.staff(center, 1).await;
    client.start_campaign(1, None).await.unwrap();
    assert!(matches!(
        client.start_campaign(1, None).await,
        Err(Error::Conflict { .. })
    ));
    let records = server
        .store
        .audit_records(&AuditQuery {
            center,
            campaign: Some(CampaignId::new(1).unwrap()),
            since: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    // The test's own staffing went straight to the store, without a key.
    let records: Vec<_> = records.iter().filter(|r| r.key_id.is_some()).collect();
    assert_eq!(
        records.len(),
        2,
        "the refused start left no record: {records:?}"
    );
    assert_eq!(records[0].request_id.as_deref(), Some("req-create-1"));
    assert_eq!(records[0].action.as_str(), "create");
    assert_eq!(records[1].action.as_str(), "start");
    assert!(records[1].request_id.is_some());
    assert!(
        records.iter().all(|r| r.key_id == Some(info.id)),
        "{records:?}"
    );
}

#[tokio::test]
async fn writes_and_reads_spend_budgets_of_their_own() {
    use std::num::NonZeroU32;
    let quota = |burst| campaignd_server::Quota {
        per_second: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    };
    let mut settings = campaignd_testkit::Settings::default();
    settings.config.quota = quota(5);
    settings.config.write_quota = quota(2);
    let server = TestServer::start_with(settings).await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.manager(center).await;
    let headers = auth(&key);
    let pause = || server.send("POST", "/api/v4/campaigns/3/pause", &headers, None);
    let first = pause().await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    assert_eq!(
        pause().await.status,
        409,
        "the second write is within the burst"
    );
    let limited = pause().await;
    assert_error(&limited, 429, r#"{"error":"Too many requests"}"#);
    assert!(limited.header("retry-after").is_some());
    // The reads' budget is untouched by the writes...
    for _ in 0..5 {
        let read = server.get("/api/v4/campaigns/3", Some(&key)).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.header("ratelimit-limit"), Some("5"));
    }
    // ...and spent by reads alone.
    assert_eq!(
        server.get("/api/v4/campaigns/3", Some(&key)).await.status,
        429
    );
}

#[tokio::test]
async fn a_write_storage_cannot_make_answers_503_and_leaves_no_trace() {
    use std::sync::Arc;

    use campaignd_testkit::{Fault, FaultyStore, Settings};
    let mut faulty = None;
    let mut settings = Settings::default();
    settings.config.request_timeout = std::time::Duration::from_millis(300);
    let server = TestServer::start_over(settings, |store| {
        let store = Arc::new(FaultyStore::new(store));
        faulty = Some(Arc::clone(&store));
        store
    })
    .await;
    let faulty = faulty.unwrap();
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.manager(center).await;
    faulty.set("act_on_campaign", Fault::Unavailable);
    let down = server
        .send("POST", "/api/v4/campaigns/3/pause", &auth(&key), None)
        .await;
    assert_error(&down, 503, r#"{"error":"Service Unavailable"}"#);
    assert_eq!(down.header("retry-after"), Some("1"));
    faulty.set("update_campaign", Fault::Stall);
    let stalled = server
        .send(
            "PATCH",
            "/api/v4/campaigns/3",
            &json_headers(&key),
            Some(br#"{"dial_level": 2}"#.to_vec()),
        )
        .await;
    assert_error(&stalled, 503, r#"{"error":"Service Unavailable"}"#);
    faulty.heal();
    let read = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(read.json()["campaign"]["status"], "active");
    assert_eq!(read.json()["campaign"]["dial_level"], 1);
    let audit = server
        .store
        .audit_records(&AuditQuery {
            center,
            campaign: None,
            since: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert!(audit.is_empty(), "{audit:?}");
}
