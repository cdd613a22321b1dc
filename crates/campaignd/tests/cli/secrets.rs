//! Nothing secret is kept where it should not be: after a run of ordinary
//! traffic and of keys sent where no key belongs (the query, the path, the
//! wrong header, mistyped, revoked), no API key and no admin token appears
//! in the log (at debug level), the database's files, the emulator's
//! journal or `/metrics`; and no lead's phone number appears in the log or
//! `/metrics`. The database and the journal must hold the numbers (a lead
//! is stored to be called; the journal shows a test what it sent): they are
//! looked for there too, to prove each search can find what it looks for.

use std::time::Duration;

use reqwest::Method;
use rusqlite::types::ValueRef;
use serde_json::{Value, json};

use crate::deployment::{Deployment, Node, http};
use crate::support::ONE_AT_A_TIME;

const ADMIN_TOKEN: &str = "secrets-test-admin-token-5f0c9a";

/// The key `key create --json` printed.
fn create_key(deployment: &Deployment, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["key", "create", "--center", "acme", "--json"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let created: Value = serde_json::from_str(&deployment.run(&args, None).ok()).unwrap();
    (
        created["id"].to_string(),
        created["key"].as_str().unwrap().to_owned(),
    )
}

/// Everything the database holds: for SQLite its files' bytes (freed
/// pages too) and every value of every table written out as text (numbers
/// are stored as integers); for PostgreSQL a data dump.
fn database_bytes(deployment: &Deployment) -> Vec<u8> {
    if let Some(path) = &deployment.sqlite {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let file = format!("{}{suffix}", path.display());
            if let Ok(b) = std::fs::read(&file) {
                bytes.extend(b);
            }
        }
        let conn = rusqlite::Connection::open(path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for table in tables {
            let mut select = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = select.column_count();
            let mut rows = select.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..columns {
                    let value = match row.get_ref(i).unwrap() {
                        ValueRef::Integer(n) => n.to_string().into_bytes(),
                        ValueRef::Real(x) => x.to_string().into_bytes(),
                        ValueRef::Text(t) | ValueRef::Blob(t) => t.to_vec(),
                        ValueRef::Null => Vec::new(),
                    };
                    bytes.extend(value);
                    bytes.push(b'\n');
                }
            }
        }
        return bytes;
    }
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--dbname", &deployment.url])
        .output()
        .expect("run pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    dump.stdout
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn send(
    http: &reqwest::Client,
    node: &Node,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String) {
    let mut request = http.request(method, node.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.expect("an answer");
    (reply.status().as_u16(), reply.text().await.unwrap())
}

async fn no_secret_is_kept_on(deployment: Deployment) {
    let _turn = ONE_AT_A_TIME.lock().await;
    deployment.run(&["center", "create", "acme"], None).ok();
    deployment
        .run(
            &["user", "import", "--center", "acme", "-"],
            Some(br#"{"id": 1, "name": "Ann", "email": "ann@example.com"}"#),
        )
        .ok();
    let (_, key) = create_key(
        &deployment,
        &["campaigns.read", "campaigns.manage", "users.read"],
    );
    let (revoked_id, revoked) = create_key(&deployment, &["campaigns.read"]);
    deployment.run(&["key", "revoke", &revoked_id], None).ok();
    let log = deployment.dir.path().join("serve.log");
    let node = Node::start_logging(
        &deployment.url,
        &["--emulator", "--admin-token", ADMIN_TOKEN],
        &[("CAMPAIGND_LOG", "debug")],
        &log,
    );
    let http = http();
    let auth = format!("Bearer {key}");
    let bearer = [("authorization", auth.as_str())];
    let phones: Vec<String> = (0..5).map(|i| format!("1555867{i:04}")).collect();

    let (status, body) = send(
        &http,
        &node,
        Method::POST,
        "/api/v4/campaigns",
        &bearer,
        Some(json!({"name": "Secrets", "live": true})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["campaign"]["id"].clone();
    let campaign = format!("/api/v4/campaigns/{id}");
    let (status, body) = send(
        &http,
        &node,
        Method::POST,
        &format!("{campaign}/users"),
        &bearer,
        Some(json!({"user_ids": [1]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut leads: Vec<Value> = phones
        .iter()
        .map(|p| json!({"phone_number": p, "name": "Lead"}))
        .collect();
    leads.push(json!({"phone_number": format!("+{}", phones[0]), "name": "Rejected"}));
    let (status, body) = send(
        &http,
        &node,
        Method::POST,
        &format!("{campaign}/leads"),
        &bearer,
        Some(Value::Array(leads)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let imported: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(imported["leads_import"]["created"], json!(phones), "{body}");
    assert_eq!(
        imported["leads_import"]["rejected"],
        json!([format!("+{}", phones[0])]),
        "{body}"
    );
    for path in [
        campaign.clone(),
        format!("{campaign}/leads"),
        format!("{campaign}/users"),
        "/api/v4/campaigns".into(),
        "/api/v4/users".into(),
    ] {
        let (status, body) = send(&http, &node, Method::GET, &path, &bearer, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // A phone number where none belongs: the query of a list.
    let (status, _) = send(
        &http,
        &node,
        Method::GET,
        &format!("{campaign}/leads?phone_number={}", phones[1]),
        &bearer,
        None,
    )
    .await;
    assert_eq!(status, 200);

    // Keys sent wrong, each refused.
    let mut mistyped = key.clone().into_bytes();
    let at = mistyped.len() - 6;
    mistyped[at] = if mistyped[at] == b'A' { b'B' } else { b'A' };
    let mistyped = String::from_utf8(mistyped).unwrap();
    let attempts: Vec<(String, Vec<(&str, String)>)> = vec![
        (format!("/api/v4/campaigns?api_key={key}"), vec![]),
        (format!("/api/v4/campaigns/{key}"), vec![]),
        ("/api/v4/campaigns".into(), vec![("x-api-key", key.clone())]),
        (
            "/api/v4/campaigns".into(),
            vec![("authorization", format!("Bearer {mistyped}"))],
        ),
        (
            "/api/v4/campaigns".into(),
            vec![("authorization", format!("Bearer {revoked}"))],
        ),
        (
            "/api/v4/campaigns".into(),
            vec![("authorization", key.clone())],
        ),
        (
            format!("/api/v4/campaigns/{id}/leads?key={key}"),
            vec![("authorization", format!("Bearer {revoked}"))],
        ),
    ];
    for (path, headers) in &attempts {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, body) = send(&http, &node, Method::GET, path, &headers, None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    // A key in a body, as a mistaken client might send one.
    let (status, _) = send(
        &http,
        &node,
        Method::POST,
        "/api/v4/campaigns",
        &[("authorization", &format!("Bearer {revoked}"))],
        Some(json!({"name": "x", "api_key": key})),
    )
    .await;
    assert_eq!(status, 401);

    let admin = format!("Bearer {ADMIN_TOKEN}");
    let admin = [("authorization", admin.as_str())];
    let (status, journal) = send(
        &http,
        &node,
        Method::GET,
        "/_campaignd/requests?limit=1000",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{journal}");
    let (status, metrics) = send(&http, &node, Method::GET, "/metrics", &[], None).await;
    assert_eq!(status, 200);
    node.terminate();
    let mut node = node;
    let exited = node
        .exit_within(Duration::from_secs(15))
        .await
        .expect("the node exits");
    assert!(exited.success());

    let log = std::fs::read(&log).unwrap();
    if let Ok(dump) = std::env::var("CAMPAIGND_TEST_KEEP_LOG") {
        std::fs::write(dump, &log).unwrap();
    }
    assert!(
        contains(&log, "campaignd::access"),
        "the log holds no access lines"
    );
    let database = database_bytes(&deployment);
    // The characters of a key before its last four (which listings show).
    let secret = |k: &str| k[..k.len() - 4].to_owned();
    let secrets = [
        secret(&key),
        secret(&revoked),
        secret(&mistyped),
        ADMIN_TOKEN.to_owned(),
    ];
    for (place, bytes) in [
        ("the log", &log[..]),
        ("the database", &database),
        ("the journal", journal.as_bytes()),
        ("/metrics", metrics.as_bytes()),
    ] {
        for s in &secrets {
            assert!(
                !contains(bytes, s),
                "{place} holds a secret ({}...)",
                &s[..8]
            );
        }
    }
    for phone in &phones {
        for (place, bytes) in [("the log", &log[..]), ("/metrics", metrics.as_bytes())] {
            assert!(
                !contains(bytes, phone),
                "{place} holds the phone number {phone}"
            );
        }
        // Where they belong, found: the searches above can find a number.
        assert!(contains(&database, phone), "the database lost lead {phone}");
        assert!(
            journal.contains(phone.as_str()),
            "the journal lost lead {phone}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_kept_on_sqlite() {
    no_secret_is_kept_on(Deployment::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_kept_on_postgres() {
    let Some(deployment) = Deployment::postgres().await else {
        return;
    };
    no_secret_is_kept_on(deployment).await;
}
