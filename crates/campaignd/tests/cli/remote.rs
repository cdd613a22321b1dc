//! `campaignd get` and `campaignd list` against a running server: the JSON
//! they print is the server's, and failures exit with the documented codes.

use std::process::{Command, Output};

use campaignd_model::Scope;
use serde_json::{Value, json};

use campaignd_testkit::{EXAMPLE, TestServer, minify};

async fn campaignd(server: &TestServer, key: &str, args: &[&str]) -> Output {
    let base = server.url("/api/v4");
    let key = key.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_campaignd"))
            .args(&args)
            .env("CAMPAIGND_BASE_URL", base)
            .env("CAMPAIGND_API_KEY", key)
            .env_remove("CAMPAIGND_CLUSTER_ID")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_list_json_reproduce_the_servers_answers() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let records: Vec<Value> = (0..230)
        .map(|i| json!({"name": format!("C{i:03}"), "live": i % 2 == 0}))
        .collect();
    server.import(center, &records).await;
    let key = server.reader(center).await;

    let get = campaignd(&server, &key, &["get", "3", "--json"]).await;
    assert_eq!(get.status.code(), Some(0));
    assert_eq!(stdout(&get).trim_end(), minify(EXAMPLE));

    let page = campaignd(
        &server,
        &key,
        &["list", "--json", "--live", "true", "--limit", "5"],
    )
    .await;
    let direct = server
        .get("/api/v4/campaigns?live=true&limit=5", Some(&key))
        .await;
    assert_eq!(stdout(&page).trim_end(), direct.text());

    let all = campaignd(&server, &key, &["list", "--all", "--json"]).await;
    let all: Value = serde_json::from_str(&stdout(&all)).unwrap();
    assert_eq!(all["metadata"]["total"], 231);
    let items = all["campaigns"].as_array().unwrap();
    assert_eq!(items.len(), 231);
    let mut pages = Vec::new();
    for offset in [0, 100, 200] {
        let page = server
            .get(&format!("/api/v4/campaigns?offset={offset}"), Some(&key))
            .await
            .json();
        pages.extend(page["campaigns"].as_array().unwrap().clone());
    }
    assert_eq!(items, &pages);

    let human = campaignd(&server, &key, &["get", "3"]).await;
    assert!(
        stdout(&human).starts_with("Campaign 3: Summer Outreach Campaign\n"),
        "{}",
        stdout(&human)
    );
    let table = campaignd(&server, &key, &["list", "--name", "c00"]).await;
    assert_eq!(stdout(&table).lines().count(), 11, "{}", stdout(&table));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_exit_with_distinct_codes_and_the_servers_message() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.reader(center).await;
    let (manager, _) = server.key(center, &[Scope::CampaignsManage]).await;
    let bogus = campaignd_model::ApiKeyToken::generate().expose().to_owned();
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            &key,
            &["get", "4"],
            4,
            "error: the server answered 404: Not found\n",
        ),
        (
            &bogus,
            &["get", "3"],
            3,
            "error: the server answered 401: Unauthorized\n",
        ),
        (
            &manager,
            &["list"],
            3,
            "error: the server answered 403: Forbidden\n",
        ),
        (
            &key,
            &["list", "--limit", "0"],
            5,
            "error: the server answered 422: limit: must be an integer between 1 and 100\n",
        ),
        (
            &key,
            &["list", "--limit", "0", "--status", "running"],
            5,
            "error: the server answered 422:\n  limit: must be an integer between 1 and 100\n  status: must be one of",
        ),
    ];
    for (k, args, code, message) in cases {
        let out = campaignd(&server, k, args).await;
        let err = String::from_utf8(out.stderr.clone()).unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(err.starts_with(message), "{args:?}: {err}");
        assert!(!err.contains(&k[5..]), "the key leaked: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn being_rate_limited_exits_6_with_the_servers_message() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that is over its limit for the next hour: more than the
    // client will wait, so it gives up at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let body = r#"{"error":"Too many requests"}"#;
            let reply = format!(
                "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_campaignd"))
            .args([
                "get",
                "3",
                "--base-url",
                &format!("http://{addr}"),
                "--api-key",
                "cmpd_whatever",
            ])
            .env_remove("CAMPAIGND_BASE_URL")
            .env_remove("CAMPAIGND_CLUSTER_ID")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(
        err.starts_with("error: the server answered 429: Too many requests\n"),
        "{err}"
    );
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_write_commands_drive_a_campaign_and_exit_with_the_documented_codes() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;

    let created = campaignd(
        &server,
        &key,
        &["create", r#"{"name": "Autumn"}"#, "--json"],
    )
    .await;
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let campaign: Value = serde_json::from_str(&stdout(&created)).unwrap();
    assert_eq!(campaign["status"], "draft");
    let id = campaign["id"].to_string();
    let tag = stderr(&created)
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .to_owned();

    let taken = campaignd(&server, &key, &["create", r#"{"name": "Autumn"}"#]).await;
    assert_eq!(taken.status.code(), Some(5));
    assert!(
        stderr(&taken).contains("the server answered 422: name: has already been taken"),
        "{}",
        stderr(&taken)
    );
    let updated = campaignd(
        &server,
        &key,
        &[
            "update",
            &id,
            r#"{"max_dial_attempts": 9}"#,
            "--if-match",
            &tag,
        ],
    )
    .await;
    assert_eq!(updated.status.code(), Some(0), "{}", stderr(&updated));
    assert!(
        stdout(&updated).contains("max dial attempts     9"),
        "{}",
        stdout(&updated)
    );
    let stale = campaignd(&server, &key, &["start", &id, "--if-match", &tag]).await;
    assert_eq!(stale.status.code(), Some(8), "{}", stderr(&stale));
    assert!(stderr(&stale).contains("the server answered 412: Precondition Failed"));
    server.staff(center, campaign["id"].as_i64().unwrap()).await;

    for (command, code) in [
        ("start", 0),
        ("start", 7),
        ("pause", 0),
        ("stop", 0),
        ("delete", 0),
    ] {
        let out = campaignd(&server, &key, &[command, &id]).await;
        assert_eq!(out.status.code(), Some(code), "{command}: {}", stderr(&out));
    }
    let gone = campaignd(&server, &key, &["pause", &id]).await;
    assert_eq!(gone.status.code(), Some(4));
    assert!(stderr(&gone).contains("the server answered 404: Not found"));
    let reader = server.reader(center).await;
    let refused = campaignd(&server, &reader, &["create", r#"{"name": "B"}"#]).await;
    assert_eq!(refused.status.code(), Some(3));
    assert!(stderr(&refused).contains("the server answered 403: Forbidden"));
    let bad = campaignd(&server, &key, &["create", "[1]"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("the body must be a JSON object"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_commands_list_assign_and_unassign() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let users: Vec<Value> = (1..=3)
        .map(|i| json!({"name": format!("U{i}"), "email": format!("u{i}@x")}))
        .collect();
    server.import_users(center, &users).await;
    let key = server
        .key(
            center,
            &[
                Scope::CampaignsRead,
                Scope::CampaignsManage,
                Scope::UsersRead,
            ],
        )
        .await
        .0;
    let listed = campaignd(&server, &key, &["users", "--json"]).await;
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert_eq!(stdout(&listed).lines().count(), 3);
    let assigned = campaignd(&server, &key, &["assign", "3", "2", "1"]).await;
    assert_eq!(assigned.status.code(), Some(0), "{}", stderr(&assigned));
    assert!(stderr(&assigned).contains("2 user(s) newly assigned"));
    let unknown = campaignd(&server, &key, &["assign", "3", "7"]).await;
    assert_eq!(unknown.status.code(), Some(5));
    assert!(
        stderr(&unknown).contains("user_ids: 7 does not exist"),
        "{}",
        stderr(&unknown)
    );
    let staff = campaignd(
        &server,
        &key,
        &["users", "--campaign", "3", "--all", "--json"],
    )
    .await;
    let ids: Vec<i64> = stdout(&staff)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [1, 2]);
    let removed = campaignd(&server, &key, &["unassign", "3", "1"]).await;
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    let last = campaignd(&server, &key, &["unassign", "3", "2"]).await;
    assert_eq!(
        last.status.code(),
        Some(7),
        "the last user of an active campaign"
    );
    let gone = campaignd(&server, &key, &["unassign", "3", "1"]).await;
    assert_eq!(gone.status.code(), Some(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_leads_sends_csv_and_ndjson_in_batches_and_sums_up() {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    server.staff(center, 3).await;
    let key = server.manager(center).await;
    let dir = tempfile::tempdir().unwrap();

    // 2500 rows: three requests. Row 7 has a bad number, row 8 repeats
    // row 1, and the staffing lead (15550100001) is already there.
    let mut csv = String::from("phone_number,name,priority,active,source_system,X-Crm-Id\n");
    for i in 0..2500 {
        let number = match i {
            7 => "12".to_owned(),
            8 => "15550000000".to_owned(),
            9 => "15550100001".to_owned(),
            _ => format!("1555{i:07}"),
        };
        csv.push_str(&format!(
            "{number},Lead {i},{},yes,crm,C-{i}\n",
            1 + i % 1000
        ));
    }
    let path = dir.path().join("leads.csv");
    std::fs::write(&path, csv).unwrap();
    let out = campaignd(
        &server,
        &key,
        &["import-leads", "3", path.to_str().unwrap(), "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("2497 created, 1 rejected, 2 duplicates (2500 lead(s) in 3 request(s))"),
        "{}",
        stderr(&out)
    );
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["leads_import"]["rejected"], json!(["12"]));
    assert_eq!(
        report["leads_import"]["duplicates"],
        json!(["15550000000", "15550100001"])
    );
    let first = server
        .client(&key)
        .list_leads(3, Some(1), None)
        .await
        .unwrap();
    assert_eq!(first.total, 2498);
    let lead = &first.leads[0];
    assert_eq!((lead.priority, lead.name.as_deref()), (1, Some("Lead 0")));
    assert_eq!(lead.context_headers["X-Crm-Id"], "C-0");
    assert_eq!(lead.source.as_ref().unwrap().system.as_deref(), Some("crm"));

    let ndjson = dir.path().join("more.ndjson");
    std::fs::write(
        &ndjson,
        "{\"phone_number\": \"15559999991\"}\n\n{\"phone_number\": \"15559999992\", \"active\": false}\n",
    )
    .unwrap();
    let out = campaignd(
        &server,
        &key,
        &["import-leads", "3", ndjson.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 created, 0 rejected, 0 duplicates"),
        "{}",
        stderr(&out)
    );

    let listed = campaignd(&server, &key, &["leads", "3", "--limit", "2"]).await;
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains("PHONE NUMBER"),
        "{}",
        stdout(&listed)
    );
    assert!(
        stderr(&listed).contains("2 of 2500 lead(s)"),
        "{}",
        stderr(&listed)
    );

    let bad_column = dir.path().join("bad.csv");
    std::fs::write(&bad_column, "phone,name\n15551234567,A\n").unwrap();
    let out = campaignd(
        &server,
        &key,
        &["import-leads", "3", bad_column.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown column(s) (by position) 1"),
        "{}",
        stderr(&out)
    );
    // No header row: the first lead is not echoed; a header that is not
    // ASCII is named, not a crash.
    for (name, text) in [
        ("headless.csv", "15551234567,Ann Smith\n"),
        ("accents.csv", "Téléphone,name\n15551234567,A\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = campaignd(
            &server,
            &key,
            &["import-leads", "3", path.to_str().unwrap()],
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        assert!(!stderr(&out).contains("15551234567"), "{}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    // A byte-order mark before a JSON array, in a file with no telling
    // name, is still JSON.
    let bom = dir.path().join("leads.txt");
    std::fs::write(&bom, "\u{feff}[{\"phone_number\": \"15559999993\"}]").unwrap();
    let out = campaignd(&server, &key, &["import-leads", "3", bom.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 created"), "{}", stderr(&out));
    // 1000 leads of 2 KiB each are over the 2 MiB body limit: sent as two
    // requests.
    let url = "u".repeat(2000);
    let big: String = (0..1000)
        .map(|i| {
            json!({"phone_number": format!("1666{i:07}"), "source": {"url": url}}).to_string()
                + "\n"
        })
        .collect();
    let big_path = dir.path().join("big.ndjson");
    std::fs::write(&big_path, big).unwrap();
    let out = campaignd(
        &server,
        &key,
        &["import-leads", "3", big_path.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("1000 created, 0 rejected, 0 duplicates (1000 lead(s) in 2 request(s))"),
        "{}",
        stderr(&out)
    );

    let missing = campaignd(
        &server,
        &key,
        &["import-leads", "99", ndjson.to_str().unwrap()],
    )
    .await;
    assert_eq!(missing.status.code(), Some(4), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("stopped after 0 created"),
        "{}",
        stderr(&missing)
    );
}
