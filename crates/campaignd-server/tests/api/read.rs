//! The read API over real HTTP: SPEC §1–§6.

use campaignd_model::Scope;
use serde_json::{Value, json};

use campaignd_testkit::{EXAMPLE, Reply, Settings, TestServer, minify};

/// The list item keys, in order (SPEC §5).
const LIST_KEYS: &[&str] = &[
    "id",
    "name",
    "status",
    "strategy",
    "dial_level",
    "max_dial_time",
    "max_wait_time",
    "max_dial_attempts",
    "amd_enabled",
    "amd_voicemail_message",
    "caller_id_sets",
    "follow_up_mode",
    "created_at",
    "updated_at",
];

fn assert_json_error(reply: &Reply, status: u16, body: &str) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
    assert_eq!(reply.text(), body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn get_campaign_serves_the_documented_example_byte_for_byte() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let reply = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), minify(EXAMPLE));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.header("etag").unwrap().starts_with('"'));
    assert_eq!(reply.header("ratelimit-limit"), Some("1000"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("999"));
    assert!(reply.header("ratelimit-reset").is_some());
}

#[tokio::test]
async fn the_list_has_the_documented_shape_order_and_total() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let others: Vec<Value> = (0..24)
        .map(|i| {
            json!({"name": format!("Campaign {i}"), "status": if i % 2 == 0 { "paused" } else { "draft" },
                   "strategy": if i % 3 == 0 { "predictive_ai" } else { "simple" }, "live": i % 4 == 0,
                   "method": if i % 5 == 0 { json!("power") } else { json!(null) }})
        })
        .collect();
    server.import(center, &others).await;
    let key = server.reader(center).await;

    let page = server
        .get("/api/v4/campaigns?limit=10&offset=5", Some(&key))
        .await
        .json();
    assert_eq!(page["metadata"], json!({"total": 25}));
    let items = page["campaigns"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for item in items {
        let keys: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, LIST_KEYS);
    }
    let ids: Vec<i64> = items.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        (8..=17).collect::<Vec<_>>(),
        "ids 3, 4, 5, ... skipping 5 of them"
    );

    // The documented list example is campaign 3's list form.
    let first = server
        .get("/api/v4/campaigns?limit=1", Some(&key))
        .await
        .json();
    let example: Value = serde_json::from_str(EXAMPLE).unwrap();
    let mut expected = example["campaign"].clone();
    for gone in [
        "dial_level_override",
        "use_local_caller_id",
        "asr_optimization_enabled",
    ] {
        expected.as_object_mut().unwrap().remove(gone);
    }
    assert_eq!(first["campaigns"][0], expected);

    let cases: &[(&str, u64)] = &[
        ("", 25),
        ("status=paused", 12),
        ("status=active", 1),
        ("strategy=predictive_ai", 8),
        ("live=true", 6),
        ("live=false", 19),
        ("method=power", 5),
        ("name=campaign%201", 11),
        ("name=SUMMER", 1),
        ("name=nothing-like-it", 0),
        ("status=paused&strategy=predictive_ai", 4),
        ("offset=1000", 25),
    ];
    for (query, total) in cases {
        let reply = server
            .get(&format!("/api/v4/campaigns?{query}"), Some(&key))
            .await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.text());
        assert_eq!(reply.json()["metadata"]["total"], *total, "{query}");
    }
    let empty = server
        .get("/api/v4/campaigns?offset=1000", Some(&key))
        .await
        .json();
    assert_eq!(empty["campaigns"], json!([]));
}

#[tokio::test]
async fn bad_query_parameters_answer_422_with_one_key_each() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    let key = server.reader(center).await;
    let cases: &[(&str, &str)] = &[
        (
            "limit=0",
            r#"{"errors":{"limit":["must be an integer between 1 and 100"]}}"#,
        ),
        (
            "limit=101",
            r#"{"errors":{"limit":["must be an integer between 1 and 100"]}}"#,
        ),
        (
            "limit=abc",
            r#"{"errors":{"limit":["must be an integer between 1 and 100"]}}"#,
        ),
        (
            "offset=-1",
            r#"{"errors":{"offset":["must be an integer greater than or equal to 0"]}}"#,
        ),
        ("live=1", r#"{"errors":{"live":["must be true or false"]}}"#),
        (
            "strategy=fast",
            r#"{"errors":{"strategy":["must be one of: simple, predictive_ai"]}}"#,
        ),
        (
            "limit=0&status=on&unknown=ignored",
            r#"{"errors":{"limit":["must be an integer between 1 and 100"],"status":["must be one of: draft, active, paused, stopping, completed, processing, stopped, auto_paused, pausing, auto_pausing, import_error"]}}"#,
        ),
    ];
    for (query, body) in cases {
        let reply = server
            .get(&format!("/api/v4/campaigns?{query}"), Some(&key))
            .await;
        assert_json_error(&reply, 422, body);
    }
}

#[tokio::test]
async fn malformed_ids_missing_ids_and_other_tenants_ids_answer_the_same_404() {
    let server = TestServer::start().await;
    let acme = server.center("acme").await;
    let globex = server.center("globex").await;
    server.import_example(acme).await;
    server
        .import(globex, &[json!({"id": 77, "name": "Theirs"})])
        .await;
    let key = server.reader(acme).await;
    let long = "1".repeat(2000);
    let nines = "9".repeat(20);
    let ids = [
        "abc",
        "-1",
        "0",
        "03",
        "+3",
        "3.0",
        "1e3",
        &nines,
        "%203",
        "3%20",
        "%20",
        "%2B3",
        &long,
        "4",
        "77",
        "9223372036854775807",
        "9223372036854775808",
        "%FF",
        "3;x",
    ];
    let mut seen = Vec::new();
    for id in ids {
        let reply = server
            .get(&format!("/api/v4/campaigns/{id}"), Some(&key))
            .await;
        assert_json_error(&reply, 404, r#"{"error":"Not found"}"#);
        let mut names: Vec<String> = reply
            .headers
            .keys()
            .map(|k| k.as_str().to_owned())
            .filter(|k| {
                ![
                    "date",
                    "x-request-id",
                    "ratelimit-remaining",
                    "ratelimit-reset",
                ]
                .contains(&k.as_str())
            })
            .collect();
        names.sort();
        let values: Vec<String> = names
            .iter()
            .map(|n| reply.header(n).unwrap().to_owned())
            .collect();
        seen.push((names, values));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "404s differ in headers: {seen:?}"
    );
    // The existing campaign is served, so the key and route do work.
    assert_eq!(
        server.get("/api/v4/campaigns/3", Some(&key)).await.status,
        200
    );
}

#[tokio::test]
async fn malformed_authorization_answers_401_and_the_scheme_is_case_insensitive() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let (revoked, info) = server.key(center, &[Scope::CampaignsRead]).await;
    server.store.revoke_api_key(info.id).await.unwrap();
    let mut wrong_checksum = key.clone();
    let last = wrong_checksum.pop().unwrap();
    wrong_checksum.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = campaignd_model::ApiKeyToken::generate().expose().to_owned();
    let cases: Vec<Option<String>> = vec![
        None,
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(format!("Basic {key}")),
        Some(key.clone()),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {revoked}")),
        Some(format!("Bearer {wrong_checksum}")),
        Some("Bearer cmpd_tooshort".into()),
    ];
    for case in cases {
        let headers: Vec<(String, String)> = case
            .iter()
            .map(|v| ("authorization".into(), v.clone()))
            .collect();
        let reply = server.request("GET", "/api/v4/campaigns/3", &headers).await;
        assert_json_error(&reply, 401, r#"{"error":"Unauthorized"}"#);
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{case:?}");
    }
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let headers = [("authorization".to_owned(), format!("{scheme} {key}"))];
        let reply = server.request("GET", "/api/v4/campaigns/3", &headers).await;
        assert_eq!(reply.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_whether_or_not_the_campaign_exists() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let (manager, _) = server.key(center, &[Scope::CampaignsManage]).await;
    for path in [
        "/api/v4/campaigns/3",
        "/api/v4/campaigns/4",
        "/api/v4/campaigns/abc",
        "/api/v4/campaigns?limit=0",
    ] {
        let reply = server.get(path, Some(&manager)).await;
        assert_json_error(&reply, 403, r#"{"error":"Forbidden"}"#);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_without_looking_at_the_key() {
    let server = TestServer::start().await;
    for path in [
        "/index.html",
        "/page/",
        "/page/other.js",
        "/api/v4",
        "/api/v4/campaign",
        "/api/v4/campaigns/3/users/x/y",
        "/api/v3/campaigns/3",
    ] {
        let reply = server.get(path, Some("not-a-key")).await;
        assert_json_error(&reply, 404, r#"{"error":"Not found"}"#);
        assert!(reply.header("www-authenticate").is_none());
    }
    for (method, path, allow) in [
        ("POST", "/api/v4/campaigns/3", "GET,HEAD,PATCH,DELETE"),
        ("PUT", "/api/v4/campaigns/3", "GET,HEAD,PATCH,DELETE"),
        ("PUT", "/api/v4/campaigns", "GET,HEAD,POST"),
        ("GET", "/api/v4/campaigns/3/pause", "POST"),
        ("DELETE", "/api/v4/campaigns/3/start", "POST"),
    ] {
        let reply = server.request(method, path, &[]).await;
        assert_json_error(&reply, 405, r#"{"error":"Method Not Allowed"}"#);
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
}

/// The Campaigns page is served at `/` with its two files, the same with
/// any key or none, revalidated by tag, and locked down by its headers.
#[tokio::test]
async fn the_campaigns_page_and_its_files_are_served_at_the_root() {
    let server = TestServer::start().await;
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<title>Campaigns"),
        (
            "/page/app.js",
            "text/javascript; charset=utf-8",
            "sessionStorage",
        ),
        ("/page/app.css", "text/css; charset=utf-8", ".badge"),
    ] {
        let reply = server.get(path, Some("not-a-key")).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("content-type"), Some(content_type));
        assert!(reply.text().contains(marker), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("cache-control"), Some("no-cache"));
        let policy = reply.header("content-security-policy").unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
        assert!(reply.header("www-authenticate").is_none());
        let tag = reply.header("etag").unwrap().to_owned();
        let again = server
            .request("GET", path, &[("if-none-match".into(), tag.clone())])
            .await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text().is_empty());
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        let head = server.request("HEAD", path, &[]).await;
        assert_eq!(head.status, 200, "{path}");
    }
    let post = server.request("POST", "/", &[]).await;
    assert_json_error(&post, 405, r#"{"error":"Method Not Allowed"}"#);
}

#[tokio::test]
async fn request_ids_are_echoed_when_well_formed_and_generated_otherwise() {
    let server = TestServer::start().await;
    let echoed = server
        .request(
            "GET",
            "/healthz",
            &[("x-request-id".into(), "trace-42.a:b_c".into())],
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-42.a:b_c"));
    let replaced = server
        .request(
            "GET",
            "/healthz",
            &[("x-request-id".into(), "<bad id>".into())],
        )
        .await;
    let generated = replaced.header("x-request-id").unwrap();
    assert_ne!(generated, "<bad id>");
    assert!(!generated.is_empty());
    let other = server.get("/nope", None).await;
    assert_ne!(other.header("x-request-id"), Some(generated));
}

#[tokio::test]
async fn conditional_gets_answer_304_for_the_current_tag() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let first = server.get("/api/v4/campaigns/3", Some(&key)).await;
    let etag = first.header("etag").unwrap().to_owned();
    let auth = ("authorization".to_owned(), format!("Bearer {key}"));
    let same = server
        .request(
            "GET",
            "/api/v4/campaigns/3",
            &[auth.clone(), ("if-none-match".into(), etag.clone())],
        )
        .await;
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    let stale = server
        .request(
            "GET",
            "/api/v4/campaigns/3",
            &[auth, ("if-none-match".into(), "\"0\"".into())],
        )
        .await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn burst_admission_is_exact_and_other_keys_are_unaffected() {
    let mut settings = Settings::default();
    settings.config.quota.per_second = std::num::NonZeroU32::new(1).unwrap();
    settings.config.quota.burst = std::num::NonZeroU32::new(5).unwrap();
    let server = TestServer::start_with(settings).await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let a = server.reader(center).await;
    let b = server.reader(center).await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let reply = server.get("/api/v4/campaigns/3", Some(&a)).await;
        assert_eq!(reply.status, 200);
        remaining.push(reply.header("ratelimit-remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let limited = server.get("/api/v4/campaigns/3", Some(&a)).await;
    assert_json_error(&limited, 429, r#"{"error":"Too many requests"}"#);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    assert_eq!(limited.header("ratelimit-limit"), Some("5"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    // A 429 costs nothing extra; another key has its own budget.
    assert_eq!(
        server.get("/api/v4/campaigns/3", Some(&b)).await.status,
        200
    );
}

#[tokio::test]
async fn failed_authentication_is_limited_per_address_and_never_spends_a_key() {
    let mut settings = Settings::default();
    settings.config.quota.per_second = std::num::NonZeroU32::new(1).unwrap();
    settings.config.quota.burst = std::num::NonZeroU32::new(3).unwrap();
    let server = TestServer::start_with(settings).await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let bogus = campaignd_model::ApiKeyToken::generate().expose().to_owned();
    for _ in 0..3 {
        assert_eq!(
            server.get("/api/v4/campaigns/3", Some(&bogus)).await.status,
            401
        );
    }
    let limited = server.get("/api/v4/campaigns/3", Some(&bogus)).await;
    assert_json_error(&limited, 429, r#"{"error":"Too many requests"}"#);
    // The real key's budget is whole.
    let ok = server.get("/api/v4/campaigns/3", Some(&key)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("ratelimit-remaining"), Some("2"));
}

#[tokio::test]
async fn health_readiness_and_openapi_need_no_key() {
    let server = TestServer::start().await;
    let health = server.get("/healthz", None).await;
    assert_eq!(
        (health.status.as_u16(), health.text().as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    let ready = server.get("/readyz", None).await;
    assert_eq!(
        (ready.status.as_u16(), ready.text().as_str()),
        (200, r#"{"status":"ready"}"#)
    );
    let doc = server.get("/api/v4/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json()["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let server = TestServer::start().await;
    let doc = server.get("/api/v4/openapi.json", None).await.json();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut routed: Vec<(String, String)> = campaignd_server::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
    // And each documented route is really served: 200, or 401 for want of
    // a key (never 404, 405 or a failure).
    for (method, path) in &documented {
        let concrete = path.replace("{campaign_id}", "3").replace("{user_id}", "1");
        let reply = server.request(&method.to_uppercase(), &concrete, &[]).await;
        let expected = if path.starts_with("/api/v4/campaigns") || path == "/api/v4/users" {
            401
        } else {
            200
        };
        assert_eq!(reply.status.as_u16(), expected, "{method} {path}");
    }
    assert_eq!(
        doc["servers"][1]["variables"]["cluster_id"]["default"],
        "cc-test01"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn key_use_is_recorded_by_the_time_the_server_stops() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let (key, _) = server.key(center, &[Scope::CampaignsRead]).await;
    let before = campaignd_model::Timestamp::now();
    assert_eq!(
        server.get("/api/v4/campaigns/3", Some(&key)).await.status,
        200
    );
    let store = std::sync::Arc::clone(&server.store);
    server.stop().await.unwrap();
    let keys = store.list_api_keys(center).await.unwrap();
    let used = keys[0].last_used_at.expect("last use recorded");
    assert!(used >= before, "{used} < {before}");
}

#[tokio::test]
async fn metrics_count_requests_by_method_route_and_status_without_a_key() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let requests = [
        ("/api/v4/campaigns/3", Some(key.as_str()), 200),
        ("/api/v4/campaigns/3", Some(key.as_str()), 200),
        ("/api/v4/campaigns/999", Some(key.as_str()), 404),
        ("/api/v4/campaigns", None, 401),
        ("/nowhere", None, 404),
    ];
    for (path, auth, status) in requests {
        assert_eq!(
            server.get(path, auth).await.status.as_u16(),
            status,
            "{path}"
        );
    }
    // A POST on the same template is its own series.
    let post = server.request("POST", "/api/v4/campaigns/3", &[]).await;
    assert_eq!(post.status.as_u16(), 405);

    let reply = server.get("/metrics", None).await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(reply.header("x-request-id").is_some());
    let text = reply.text();
    for line in [
        r#"campaignd_http_requests_total{method="GET",route="/api/v4/campaigns/{campaign_id}",status="200"} 2"#,
        r#"campaignd_http_requests_total{method="GET",route="/api/v4/campaigns/{campaign_id}",status="404"} 1"#,
        r#"campaignd_http_requests_total{method="POST",route="/api/v4/campaigns/{campaign_id}",status="405"} 1"#,
        r#"campaignd_http_requests_total{method="GET",route="/api/v4/campaigns",status="401"} 1"#,
        r#"campaignd_http_requests_total{method="GET",route="-",status="404"} 1"#,
        r#"campaignd_http_request_duration_seconds_count{method="GET",route="/api/v4/campaigns/{campaign_id}"} 3"#,
        "campaignd_auth_failures_total 1",
        // Campaign 3: a miss, then a hit; 999: a miss.
        r#"campaignd_cache_lookups_total{cache="renders",result="hit"} 1"#,
        r#"campaignd_cache_lookups_total{cache="renders",result="miss"} 2"#,
        r#"campaignd_storage_call_duration_seconds_count{call="get_campaign_body"} 2"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
    // The cached body of campaign 3 is counted.
    let cache = text
        .lines()
        .find_map(|l| l.strip_prefix("campaignd_render_cache_bytes "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a cache gauge");
    assert!(cache > 0, "{text}");
    // So are the database's size and its log's.
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert!(gauge("campaignd_database_bytes ") > 0, "{text}");
    gauge("campaignd_wal_bytes ");
}
