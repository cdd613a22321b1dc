//! The OpenAPI document against the server: every rule the server enforces
//! is declared, and every body and header it sends is described as sent.
//! (`.ci/schemathesis.sh` fuzzes the same promise; these pin the rules.)

use campaignd_model::{Status, Strategy};
use serde_json::Value;

use campaignd_testkit::TestServer;

async fn document(server: &TestServer) -> Value {
    let reply = server.get("/api/v4/openapi.json", None).await;
    assert_eq!(reply.status, 200);
    reply.json()
}

/// `#/components/schemas/...` and the like, resolved.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(pointer) => doc
            .pointer(pointer.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolvable {pointer}")),
        None => value,
    }
}

fn operation<'a>(doc: &'a Value, path: &str) -> &'a Value {
    &doc["paths"][path]["get"]
}

fn parameter<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
    operation(doc, path)["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path} has no parameter {name}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_operation_keeps_its_operation_id() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let ids = [
        ("/api/v4/campaigns", "list_campaigns"),
        ("/api/v4/campaigns/{campaign_id}", "get_campaign"),
        ("/api/v4/openapi.json", "get_openapi"),
        ("/healthz", "get_healthz"),
        ("/metrics", "get_metrics"),
        ("/readyz", "get_readyz"),
    ];
    for (path, id) in ids {
        assert_eq!(operation(&doc, path)["operationId"], id, "{path}");
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    fn walk(doc: &Value, value: &Value, seen: &mut usize) {
        match value {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, value);
                    *seen += 1;
                }
                map.values().for_each(|v| walk(doc, v, seen));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(doc, v, seen)),
            _ => {}
        }
    }
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let mut seen = 0;
    walk(&doc, &doc, &mut seen);
    assert!(seen > 10, "{seen} references");
}

#[tokio::test]
async fn the_list_query_is_declared_with_the_rules_the_server_enforces() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let doc = document(&server).await;
    let list = "/api/v4/campaigns";
    let schema = |name| resolve(&doc, &parameter(&doc, list, name)["schema"]).clone();

    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(strings(&schema("status")["enum"]), statuses);
    let strategies: Vec<&str> = Strategy::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(strings(&schema("strategy")["enum"]), strategies);
    let limit = schema("limit");
    assert_eq!(
        (&limit["type"], &limit["minimum"], &limit["maximum"]),
        (&"integer".into(), &1.into(), &100.into())
    );
    let offset = schema("offset");
    assert_eq!(
        (&offset["type"], &offset["minimum"], &offset["maximum"]),
        (&"integer".into(), &0.into(), &i64::MAX.into())
    );
    assert_eq!(schema("name")["maxLength"], 255);
    assert_eq!(schema("live")["type"], "boolean");
    let method = schema("method");
    assert_eq!(method["type"], "string");
    // Trimmed, 1-64 characters, no control characters (schemas.rs pins the
    // pattern itself).
    assert!(method["pattern"].as_str().unwrap().contains("{0,62}"));

    // What the document now refuses, the server refuses; what it allows at
    // the edges, the server serves.
    let cases = [
        ("status=&method=", 422),
        ("status=", 422),
        ("method=", 422),
        ("method=%20%20", 422),
        ("strategy=", 422),
        ("limit=0", 422),
        ("limit=101", 422),
        ("offset=9223372036854775808", 422),
        ("live=", 422),
        ("status=import_error&strategy=predictive_ai", 200),
        ("method=%20power%20", 200),
        ("limit=100&offset=9223372036854775807", 200),
        ("name=", 200),
    ];
    for (query, status) in cases {
        let reply = server.get(&format!("{list}?{query}"), Some(&key)).await;
        assert_eq!(reply.status.as_u16(), status, "{query}: {}", reply.text());
    }
    let name = "é".repeat(255);
    let reply = server.get(&format!("{list}?name={name}"), Some(&key)).await;
    assert_eq!(reply.status, 200);
    let reply = server
        .get(&format!("{list}?name={name}x"), Some(&key))
        .await;
    assert_eq!(reply.status, 422);
}

#[tokio::test]
async fn the_path_id_is_a_required_positive_64_bit_integer() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let id = parameter(&doc, "/api/v4/campaigns/{campaign_id}", "campaign_id");
    assert_eq!(id["in"], "path");
    assert_eq!(id["required"], true);
    let schema = &id["schema"];
    assert_eq!(
        (&schema["type"], &schema["minimum"], &schema["maximum"]),
        (&"integer".into(), &1.into(), &i64::MAX.into())
    );
}

#[tokio::test]
async fn the_campaign_schemas_name_exactly_the_served_keys_all_required() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let doc = document(&server).await;
    let full = server.get("/api/v4/campaigns/3", Some(&key)).await.json();
    let list = server.get("/api/v4/campaigns", Some(&key)).await.json();
    let served = [
        ("Campaign", &full["campaign"]),
        ("CampaignListItem", &list["campaigns"][0]),
    ];
    for (name, body) in served {
        let schema = &doc["components"]["schemas"][name];
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            strings(&schema["required"]),
            keys,
            "{name}: every key, in order"
        );
        let mut declared: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = keys.clone();
        declared.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(declared, sorted, "{name}: no key more or less");
        assert_eq!(schema["additionalProperties"], false, "{name}");
    }
}

#[tokio::test]
async fn the_campaign_schema_states_formats_bounds_and_nulls() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let campaign = &doc["components"]["schemas"]["Campaign"]["properties"];
    for key in ["created_at", "updated_at"] {
        assert_eq!(campaign[key]["type"], "string", "{key}");
        assert_eq!(campaign[key]["format"], "date-time", "{key}");
    }
    let dial_level = &campaign["dial_level"];
    assert_eq!(
        (&dial_level["exclusiveMinimum"], &dial_level["maximum"]),
        (&0.into(), &10.into())
    );
    for (key, min, max) in [
        ("max_dial_time", 1, 600),
        ("max_wait_time", 0, 600),
        ("max_dial_attempts", 1, 100),
    ] {
        assert_eq!(
            (&campaign[key]["minimum"], &campaign[key]["maximum"]),
            (&min.into(), &max.into()),
            "{key}"
        );
    }
    assert_eq!(campaign["name"]["maxLength"], 255);
    assert_eq!(
        resolve(&doc, &campaign["status"])["enum"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    for key in [
        "dial_level_override",
        "amd_voicemail_message",
        "follow_up_mode",
    ] {
        let variants = campaign[key]["oneOf"].as_array().unwrap();
        assert!(
            variants.iter().any(|v| v["type"] == "null"),
            "{key} may be null"
        );
    }
    let follow_up = campaign["follow_up_mode"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v.get("$ref").is_some())
        .unwrap();
    assert_eq!(strings(&resolve(&doc, follow_up)["enum"]), ["timer"]);
}

#[tokio::test]
async fn response_headers_are_declared_where_they_are_sent() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let get = operation(&doc, "/api/v4/campaigns/{campaign_id}");
    let required = |status: &str, header: &str| {
        get["responses"][status]["headers"][header]["required"] == true
    };
    assert!(required("401", "WWW-Authenticate"));
    assert!(required("429", "Retry-After"));
    assert!(required("503", "Retry-After"));
    assert!(required("200", "ETag"));
    assert!(required("304", "ETag"));
    for status in ["200", "304", "403", "404"] {
        for header in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            assert!(required(status, header), "{status} {header}");
        }
    }
    // Limited by address when authentication failed: no key's budget.
    assert!(
        get["responses"]["401"]["headers"]
            .get("RateLimit-Limit")
            .is_none()
    );
    assert!(!required("429", "RateLimit-Limit"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert_eq!(
                    response["headers"]["X-Request-Id"]["required"], true,
                    "{method} {path} {status}"
                );
            }
        }
    }
    // Every write answers its new entity tag.
    for (path, method) in [
        ("/api/v4/campaigns", "post"),
        ("/api/v4/campaigns/{campaign_id}", "patch"),
        ("/api/v4/campaigns/{campaign_id}/pause", "post"),
    ] {
        let ok = doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap()
            .1;
        assert_eq!(ok["headers"]["ETag"]["required"], true, "{method} {path}");
    }

    // And they are sent: a 401 as the document says.
    let reply = server.get("/api/v4/campaigns/3", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert!(reply.header("ratelimit-limit").is_none());
}
