//! The admin CLI contract: the exact commands and flags scripts use.

use serde_json::{Value, json};

use campaignd_testkit::TestDb;

use crate::support::db;

fn with_center(name: &str) -> TestDb {
    let db = db();
    db.run(&["center", "create", name]).ok();
    db
}

#[test]
fn center_names_are_unique_and_listed_as_json() {
    let db = db();
    let created = db.run(&["center", "create", "acme", "--json"]).json();
    assert_eq!(created["name"], "acme");
    assert_eq!(created["id"], 1);
    let dup = db.run(&["center", "create", "acme"]);
    assert_eq!(dup.code(), 1);
    assert!(dup.stderr().contains("already exists"), "{}", dup.stderr());
    db.run(&["center", "create", "globex"]).ok();
    let list = db.run(&["center", "list", "--json"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
}

#[test]
fn a_key_is_shown_once_and_never_stored_in_plaintext() {
    let db = with_center("acme");
    let created = db
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
            "--name",
            "ci",
            "--json",
        ])
        .json();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cmpd_") && key.len() == 38, "{key}");
    assert!(created["id"].is_i64());
    let plain = db
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.manage",
        ])
        .ok();
    let plain_key = plain.trim();
    assert!(
        plain_key.starts_with("cmpd_"),
        "stdout holds only the key: {plain:?}"
    );

    let listing = db.run(&["key", "list", "--center", "acme"]).ok();
    let listing_json = db.run(&["key", "list", "--center", "acme", "--json"]).ok();
    let raw = db.raw_bytes();
    for k in [&key[..], plain_key] {
        let body = &k[5..];
        assert!(
            !listing.contains(body) && !listing_json.contains(body),
            "listing leaks a key"
        );
        assert!(
            !raw.windows(body.len()).any(|w| w == body.as_bytes()),
            "database holds a key in plaintext"
        );
        assert!(listing.contains(&format!("****{}", &k[k.len() - 4..])));
    }
    let keys: Value = serde_json::from_str(&listing_json).unwrap();
    assert_eq!(keys[0]["scopes"], json!(["campaigns.read"]));
    assert_eq!(keys[0]["name"], "ci");
    assert_eq!(keys[1]["scopes"], json!(["campaigns.manage"]));
}

#[test]
fn unknown_scopes_and_missing_scopes_are_refused() {
    let db = with_center("acme");
    for args in [
        &[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.write",
        ][..],
        &[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "Campaigns.Read",
        ][..],
        &["key", "create", "--center", "acme"][..],
    ] {
        let run = db.run(args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr());
    }
    let keys = db
        .run(&["key", "list", "--center", "acme", "--json"])
        .json();
    assert_eq!(keys, json!([]));
}

#[test]
fn the_fifty_first_active_key_is_refused_until_one_is_revoked() {
    let db = with_center("acme");
    let mut first_id = None;
    for _ in 0..50 {
        let k = db
            .run(&[
                "key",
                "create",
                "--center",
                "acme",
                "--scope",
                "campaigns.read",
                "--json",
            ])
            .json();
        first_id.get_or_insert(k["id"].as_i64().unwrap());
    }
    let refused = db.run(&[
        "key",
        "create",
        "--center",
        "acme",
        "--scope",
        "campaigns.read",
    ]);
    assert_eq!(refused.code(), 1);
    assert!(
        refused.stderr().contains("50 active API keys"),
        "{}",
        refused.stderr()
    );
    assert!(refused.stdout().is_empty());
    let id = first_id.unwrap().to_string();
    assert!(
        db.run(&["key", "revoke", &id])
            .ok()
            .contains("revoked API key")
    );
    assert!(
        db.run(&["key", "revoke", &id])
            .ok()
            .contains("already revoked")
    );
    db.run(&[
        "key",
        "create",
        "--center",
        "acme",
        "--scope",
        "campaigns.read",
    ])
    .ok();
    let missing = db.run(&["key", "revoke", "424242"]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr().contains("not found"));
}

#[test]
fn invalid_records_are_refused_by_position_and_field_and_leave_nothing_behind() {
    let db = with_center("acme");
    let input = r#"[{"name": "fine"}, {"name": "bad", "dial_level": 11}, {"name": "typo", "dial_levl": 2}]"#;
    let run = db.run_with_stdin(
        &["campaign", "import", "--center", "acme", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(run.code(), 1);
    let err = run.stderr();
    assert!(
        err.contains("record 2 (line 1): dial_level: must be greater than 0 and at most 10"),
        "{err}"
    );
    assert!(
        err.contains("record 3 (line 1): dial_levl: is not a campaign field"),
        "{err}"
    );
    assert!(!err.contains("record 1"), "{err}");
    assert_eq!(db.run(&["campaign", "export", "--center", "acme"]).ok(), "");

    let ndjson = "{\"name\": \"a\"}\n\n{broken\n";
    let run = db.run_with_stdin(
        &["campaign", "import", "--center", "acme", "-"],
        Some(ndjson.as_bytes()),
    );
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("record 2 (line 3): not valid JSON"),
        "{}",
        run.stderr()
    );
    assert_eq!(db.run(&["campaign", "export", "--center", "acme"]).ok(), "");
}

#[test]
fn an_id_that_exists_refuses_the_whole_import() {
    let db = with_center("acme");
    db.run_with_stdin(
        &["campaign", "import", "--center", "acme", "-"],
        Some(br#"{"id": 5, "name": "five"}"#),
    )
    .ok();
    let input = "{\"name\": \"new\"}\n{\"id\": 5, \"name\": \"again\"}\n";
    let run = db.run_with_stdin(
        &["campaign", "import", "--center", "acme", "-"],
        Some(input.as_bytes()),
    );
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr()
            .contains("record 2 (line 2): id: campaign 5 already exists"),
        "{}",
        run.stderr()
    );
    let export = db.run(&["campaign", "export", "--center", "acme"]).ok();
    assert_eq!(export.lines().count(), 1);
}

#[test]
fn export_then_import_elsewhere_then_export_is_identical() {
    let db = with_center("acme");
    db.run(&["center", "create", "globex"]).ok();
    let example: Value = serde_json::from_str(include_str!(
        "../../../campaignd-model/tests/fixtures/get-campaign-3.json"
    ))
    .unwrap();
    let mut records = vec![example["campaign"].clone()];
    records.push(json!({"name": "Bare"}));
    records.push(
        json!({"id": 40, "name": "Live one", "status": "paused", "live": true, "method": "power",
                        "dial_level": 2.5, "created_at": "2026-02-01T08:00:00+02:00"}),
    );
    let file = db.file("in.json");
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let out = db
        .run(&[
            "campaign",
            "import",
            "--center",
            "acme",
            file.to_str().unwrap(),
        ])
        .ok();
    assert!(out.contains("imported 3 campaign(s)"), "{out}");

    let first = db.run(&["campaign", "export", "--center", "acme"]).ok();
    let lines: Vec<Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 4, 40],
        "a record without an id takes the next free one"
    );
    assert_eq!(lines[1]["name"], "Bare");
    assert_eq!(lines[2]["created_at"], "2026-02-01T06:00:00.000Z");
    assert_eq!(lines[2]["dial_level"], 2.5);
    assert_eq!(lines[0]["dial_level"], json!(1));

    db.run_with_stdin(
        &["campaign", "import", "--center", "globex", "-"],
        Some(first.as_bytes()),
    )
    .ok();
    let exported = db.file("globex.ndjson");
    db.run(&[
        "campaign",
        "export",
        "--center",
        "globex",
        exported.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(exported).unwrap(), first);
}

#[test]
fn twenty_thousand_campaigns_import_and_leave_a_sound_database() {
    let db = with_center("acme");
    let mut input = String::new();
    for i in 0..20_000 {
        input.push_str(&format!(
            "{{\"name\":\"Campaign {i}\",\"status\":\"active\",\"caller_id_sets\":[{{\"phone_numbers\":[\"18885650001\"]}}]}}\n"
        ));
    }
    let started = std::time::Instant::now();
    let out = db
        .run_with_stdin(
            &["campaign", "import", "--center", "acme", "-"],
            Some(input.as_bytes()),
        )
        .ok();
    let elapsed = started.elapsed();
    assert!(
        out.contains("imported 20000 campaign(s) into \"acme\" (ids 1 to 20000)"),
        "{out}"
    );
    // Generous for a debug build on a shared machine; the release build is
    // measured by bench/import.sh.
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
    let conn = rusqlite::Connection::open(db.path()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM campaigns", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 20_000);
    let list = db.run(&["center", "list", "--json"]).json();
    assert_eq!(list[0]["campaigns"], 20_000);
}

#[test]
fn help_explains_every_command() {
    let db = db();
    for cmd in [
        &["--help"][..],
        &["migrate", "--help"],
        &["center", "create", "--help"],
        &["key", "create", "--help"],
        &["key", "revoke", "--help"],
        &["campaign", "import", "--help"],
        &["campaign", "export", "--help"],
    ] {
        let out = db.run(cmd).ok();
        assert!(
            out.contains("--database-url"),
            "{cmd:?} lacks --database-url:\n{out}"
        );
    }
    let import = db.run(&["campaign", "import", "--help"]).ok();
    assert!(import.contains("'-' for standard input"), "{import}");
}

#[test]
fn a_bad_database_url_is_explained() {
    let db = db();
    let run = db.run(&["--database-url", "mysql://x", "center", "list"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("expected sqlite://PATH"),
        "{}",
        run.stderr()
    );
}

#[test]
fn serve_demo_prints_a_working_key_and_sigterm_exits_zero() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    let db = db();
    let log_path = db.file("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .env("CAMPAIGND_LOG", "info")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let addr = listening
        .strip_prefix("campaignd is listening on http://")
        .expect(&listening)
        .to_owned();
    let key_line = lines.next().unwrap().unwrap();
    let key = key_line
        .strip_prefix("demo API key: ")
        .expect(&key_line)
        .to_owned();
    let read_line = lines.next().unwrap().unwrap();
    let read_only = read_line
        .strip_prefix("demo read-only key: ")
        .expect(&read_line)
        .to_owned();
    let page = lines.next().unwrap().unwrap();
    assert_eq!(
        page,
        format!("Campaigns page: http://{addr}/ (sign in with a key above)")
    );
    let curl = lines.next().unwrap().unwrap();
    assert!(
        curl.contains("/api/v4/campaigns/3") && curl.contains(&key),
        "{curl}"
    );

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(stream, "GET /api/v4/campaigns/3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.ends_with(&campaignd_testkit::minify(campaignd_testkit::EXAMPLE)),
        "{reply}"
    );
    // The read-only key reads and may not write.
    let send = |request: String| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    };
    let read = send(format!(
        "GET /api/v4/campaigns/3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {read_only}\r\nConnection: close\r\n\r\n"
    ));
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    let write = send(format!(
        "POST /api/v4/campaigns/3/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {read_only}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    assert!(write.starts_with("HTTP/1.1 403"), "{write}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // The access log has the request, its route, status and key id; never the key.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let access = log
        .lines()
        .find(|l| l.contains("campaignd::access") && l.contains("http.status=200"))
        .unwrap_or_else(|| panic!("no access line in:\n{log}"));
    for field in [
        "request.id=",
        "http.method=GET",
        "http.route=/api/v4/campaigns/{campaign_id}",
        "latency_us=",
        "key.id=1",
    ] {
        assert!(access.contains(field), "{field} missing from {access}");
    }
    assert!(!log.contains(&key[5..]), "the log holds the key");

    // A second start reuses the demo data and makes a new key; the first
    // stays (nodes started together each keep theirs). It runs on the
    // single-threaded scheduler, as on a one-core machine.
    let mut again = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--worker-threads",
            "1",
        ])
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(again.stdout.take().unwrap()).lines();
    let listening = lines.next().unwrap().unwrap();
    let second_key = lines.next().unwrap().unwrap();
    assert!(
        second_key.starts_with("demo API key: ") && !second_key.ends_with(&key),
        "{second_key}"
    );
    let addr = listening.rsplit("http://").next().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(stream, "GET /api/v4/campaigns/3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n", &second_key["demo API key: ".len()..])
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(again.wait().unwrap().code(), Some(0));
    let list = db
        .run(&["key", "list", "--center", "demo", "--json"])
        .json();
    let keys = list.as_array().unwrap();
    assert_eq!(keys.len(), 4);
    assert!(
        keys.iter().all(|k| k["revoked_at"].is_null()),
        "both starts' demo keys are active: {list}"
    );
    let centers = db.run(&["center", "list", "--json"]).json();
    assert_eq!(centers[0]["campaigns"], 26);

    // Restarts never pile keys up: past ten, the oldest are revoked.
    for _ in 0..10 {
        let mut start = Command::new(env!("CARGO_BIN_EXE_campaignd"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .env("CAMPAIGND_DATABASE_URL", db.url())
            .current_dir(db.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(start.stdout.take().unwrap()).lines();
        let _listening = lines.next().unwrap().unwrap();
        assert!(lines.next().unwrap().unwrap().starts_with("demo API key: "));
        start.kill().unwrap();
        start.wait().unwrap();
    }
    let list = db
        .run(&["key", "list", "--center", "demo", "--json"])
        .json();
    let keys = list.as_array().unwrap();
    assert_eq!(keys.len(), 24);
    let active: Vec<bool> = keys.iter().map(|k| k["revoked_at"].is_null()).collect();
    let newest_ten: Vec<bool> = (0..24).map(|i| i >= 14).collect();
    assert_eq!(active, newest_ten, "the newest ten are active: {list}");
}

/// SIGKILL in the middle of a large import (once its write-ahead log has
/// grown) leaves either none of its campaigns or all of them, and a database
/// that passes `integrity_check`; the next import cleans up what the killed
/// one staged, so the same file imports whole.
#[test]
fn an_import_killed_midway_leaves_all_or_nothing_and_an_intact_database() {
    use std::io::Write as _;
    let db = with_center("acme");
    let file = db.file("big.ndjson");
    let count = 100_000;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for i in 0..count {
            writeln!(
                out,
                r#"{{"name":"Campaign {i:07}","caller_id_sets":[{{"phone_numbers":["18885650001","18885650002"]}}]}}"#
            )
            .unwrap();
        }
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["campaign", "import", "--center", "acme"])
        .arg(&file)
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wal = std::path::PathBuf::from(format!("{}-wal", db.path().display()));
    let started = std::time::Instant::now();
    loop {
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 4 << 20) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before its log grew: make the input larger"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_mins(1),
            "the log never grew"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let conn = rusqlite::Connection::open(db.path()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let exported = db.run(&["campaign", "export", "--center", "acme"]).ok();
    let rows = exported.lines().count();
    assert!(
        rows == 0 || rows == count,
        "{rows} of {count} campaigns visible"
    );
    if rows == 0 {
        let again = db.run(&[
            "campaign",
            "import",
            "--center",
            "acme",
            file.to_str().unwrap(),
        ]);
        assert!(
            again
                .stdout()
                .contains(&format!("imported {count} campaign(s)")),
            "{}{}",
            again.stdout(),
            again.stderr()
        );
        let exported = db.run(&["campaign", "export", "--center", "acme"]).ok();
        assert_eq!(exported.lines().count(), count);
        let left: i64 = rusqlite::Connection::open(db.path())
            .unwrap()
            .query_row("SELECT count(*) FROM imports", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "the killed import's bookkeeping is gone");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_lists_each_write_through_the_cli() {
    use campaignd_testkit::TestServer;
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    let key = server.manager(center).await;
    let client = server.client(&key);
    let a = client
        .create_campaign(&serde_json::json!({"name": "A", "live": true}))
        .await
        .unwrap();
    server.staff(center, a.campaign.id).await;
    client.start_campaign(a.campaign.id, None).await.unwrap();
    client
        .create_campaign(&serde_json::json!({"name": "B"}))
        .await
        .unwrap();
    let url = server.database_url();
    let dir = server
        .database_path()
        .expect("an SQLite server")
        .parent()
        .unwrap()
        .to_owned();
    let run = |args: Vec<String>| {
        let (url, dir) = (url.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            campaignd_testkit::run_campaignd(
                std::path::Path::new(env!("CARGO_BIN_EXE_campaignd")),
                &url,
                &dir,
                &args,
                None,
            )
        })
    };
    let all = run(vec![
        "audit".into(),
        "--center".into(),
        "acme".into(),
        "--json".into(),
    ])
    .await
    .unwrap()
    .ok();
    let records: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["create", "assign_users", "import_leads", "start", "create"]
    );
    assert_eq!(records[3]["status_before"], "draft");
    assert_eq!(records[3]["status_after"], "active");
    // The test's staffing went straight to the store, with no key.
    assert!(
        records
            .iter()
            .filter(|r| ["create", "start"].contains(&r["action"].as_str().unwrap()))
            .all(|r| r["key_id"].is_i64() && r["request_id"].is_string())
    );
    assert!(!all.contains(&key), "the key itself is never shown");

    let one = run(vec![
        "audit".into(),
        "--center".into(),
        "acme".into(),
        "--campaign".into(),
        a.campaign.id.to_string(),
    ])
    .await
    .unwrap()
    .ok();
    assert_eq!(one.lines().count(), 5, "a header and four records: {one}");
    let since = records[2]["at"].as_str().unwrap().to_owned();
    let later = run(vec![
        "audit".into(),
        "--center".into(),
        "acme".into(),
        "--since".into(),
        since,
        "--json".into(),
    ])
    .await
    .unwrap()
    .ok();
    assert!(later.lines().count() >= 1 && later.lines().all(|l| l.contains("\"at\"")));
    let bad = run(vec![
        "audit".into(),
        "--center".into(),
        "acme".into(),
        "--since".into(),
        "yesterday".into(),
    ])
    .await
    .unwrap();
    assert_ne!(bad.code(), 0);
    assert!(bad.stderr().contains("--since"), "{}", bad.stderr());
}

#[test]
fn users_import_all_or_nothing_and_list() {
    let db = db();
    db.run(&["center", "create", "acme"]).ok();
    let bad = db.run_with_stdin(
        &["user", "import", "--center", "acme", "-"],
        Some(b"{\"name\": \"Ann\", \"email\": \"ann@x\"}\n{\"name\": \"\", \"email\": \"nope\"}\nnot json\n"),
    );
    assert_ne!(bad.code(), 0);
    let stderr = bad.stderr();
    assert!(
        stderr.contains("record 2 (line 2): email: must be an email address"),
        "{stderr}"
    );
    assert!(stderr.contains("record 3 (line 3)"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(
        db.run(&["user", "list", "--center", "acme", "--json"]).ok(),
        ""
    );

    let good = db.run_with_stdin(
        &["user", "import", "--center", "acme", "-"],
        Some(br#"[{"id": 7, "name": "Ann", "email": "ann@x", "extension": "101"}, {"name": "Bo", "email": "bo@x"}]"#),
    );
    assert_eq!(good.code(), 0, "{}", good.stderr());
    let listed = db.run(&["user", "list", "--center", "acme", "--json"]).ok();
    let users: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        users,
        [
            json!({"id": 7, "name": "Ann", "email": "ann@x", "extension": "101"}),
            json!({"id": 8, "name": "Bo", "email": "bo@x"}),
        ],
        "a missing id is the next after those before it, as for campaigns"
    );
    let again = db.run_with_stdin(
        &["user", "import", "--center", "acme", "-"],
        Some(br#"{"id": 7, "name": "Again", "email": "a@x"}"#),
    );
    assert_ne!(again.code(), 0);
    assert!(
        again.stderr().contains("user 7 already exists"),
        "{}",
        again.stderr()
    );
    let table = db.run(&["user", "list", "--center", "acme"]).ok();
    assert!(table.starts_with("ID") && table.contains("Ann"), "{table}");
    let key = db
        .run(&["key", "create", "--center", "acme", "--scope", "users.read"])
        .ok();
    assert!(
        key.trim().starts_with("cmpd_"),
        "users.read is a scope keys can hold"
    );
    let deleted = db.run(&["user", "delete", "--center", "acme", "7"]);
    assert_eq!(deleted.code(), 0, "{}", deleted.stderr());
    let left = db.run(&["user", "list", "--center", "acme", "--json"]).ok();
    assert_eq!(left.lines().count(), 1, "{left}");
    let again = db.run(&["user", "delete", "--center", "acme", "7"]);
    assert_eq!(again.code(), 1);
    assert!(
        again.stderr().contains("has no user 7"),
        "{}",
        again.stderr()
    );
}

/// Phone numbers are personal data: whatever the server does with them,
/// accepted, rejected, duplicated, refused or listed, none reaches its log,
/// even at debug level.
#[tokio::test(flavor = "multi_thread")]
async fn the_log_never_holds_a_phone_number() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let db = db();
    let log_path = db.file("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .env("CAMPAIGND_LOG", "debug")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("campaignd is listening on http://")
        .unwrap()
        .to_owned();
    let key = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("demo API key: ")
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let post = |campaign: &str, body: String| {
        http.post(format!("http://{addr}/api/v4/campaigns/{campaign}/leads"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let numbers = ["15557770001", "15557770002", "+15557770003", "1555777"];
    let batch = serde_json::json!([
        {"phone_number": numbers[0], "name": "Private Person"},
        {"phone_number": numbers[1], "priority": 5000},
        {"phone_number": numbers[2]},
        {"phone_number": numbers[3]},
        {"phone_number": numbers[0]},
    ])
    .to_string();
    // Campaign 3 is active and live: it takes leads.
    let ok = post("3", batch.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains(numbers[0]));
    // Refused: a campaign that does not exist, a body that is not JSON.
    assert_eq!(post("999", batch.clone()).await.unwrap().status(), 404);
    let broken = format!("[{{\"phone_number\": \"{}\"", numbers[0]);
    assert_eq!(post("3", broken).await.unwrap().status(), 400);
    let listed = http
        .get(format!("http://{addr}/api/v4/campaigns/3/leads"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert!(listed.text().await.unwrap().contains(numbers[0]));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("/api/v4/campaigns/{campaign_id}/leads"),
        "the requests were logged: {log}"
    );
    for number in numbers {
        assert!(!log.contains(number), "{number} is in the log:\n{log}");
    }
    assert!(!log.contains("Private Person"));
}
