//! `serve --emulator` as a CI job starts it: the control API's address and
//! token on stdout, rules from a file, and a clear refusal of bad ones.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use crate::support::{campaignd, db};

/// One HTTP/1.1 request to `addr`; the whole reply.
fn send(addr: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn serve_emulator_prints_the_control_api_and_a_token_that_opens_it() {
    let db = db();
    let faults = db.file("faults.json");
    std::fs::write(
        &faults,
        r#"[{"match": {"route": "/api/v4/campaigns"}, "action": {"status": 503}, "times": 1}]"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args([
            "serve",
            "--demo",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--faults",
        ])
        .arg(&faults)
        .env("CAMPAIGND_DATABASE_URL", db.url())
        .env_remove("CAMPAIGND_ADMIN_TOKEN")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(7)
        .map(Result::unwrap)
        .collect();
    let addr = lines[0]
        .strip_prefix("campaignd is listening on http://")
        .expect(&lines[0])
        .to_owned();
    let key = lines[1].strip_prefix("demo API key: ").expect(&lines[1]);
    let control = format!("emulator control API: http://{addr}/_campaignd/");
    assert!(lines.contains(&control), "{lines:?}");
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("emulator admin token: "))
        .expect("a made token is printed")
        .to_owned();
    assert!(token.len() >= 32, "{token}");
    let faults = send(
        &addr,
        &format!(
            "GET /_campaignd/faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(faults.starts_with("HTTP/1.1 200"), "{faults}");
    assert!(faults.contains(r#""fired":0"#), "the file's rule: {faults}");
    // The file's rule is in force; the demo key never opens the control API.
    let list = format!(
        "GET /api/v4/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    assert!(send(&addr, &list).starts_with("HTTP/1.1 503"));
    assert!(send(&addr, &list).starts_with("HTTP/1.1 200"));
    let refused = send(
        &addr,
        &format!(
            "GET /_campaignd/faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_rules_and_tokens_stop_the_start_and_say_why() {
    let db = db();
    let url = db.url();
    let bad = db.file("bad.json");
    std::fs::write(&bad, r#"[{"action": {"status": 200}}]"#).unwrap();
    let not_array = db.file("object.json");
    std::fs::write(&not_array, r#"{"action": {"drop": true}}"#).unwrap();
    let env = [("CAMPAIGND_DATABASE_URL", url.as_str())];
    let run = campaignd(
        &db,
        &[
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            bad.to_str().unwrap(),
        ],
        &env,
    );
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr()
            .contains("fault rule 1: action.status must be 429, 500, 502, 503 or 504"),
        "{}",
        run.stderr()
    );
    let run = campaignd(
        &db,
        &[
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            not_array.to_str().unwrap(),
        ],
        &env,
    );
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr()
            .contains("must hold a JSON array of fault rules"),
        "{}",
        run.stderr()
    );
    let run = campaignd(
        &db,
        &[
            "serve",
            "--emulator",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "short",
        ],
        &env,
    );
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("at least 16 characters"),
        "{}",
        run.stderr()
    );
    // A seed replaces the database at every start: emulator mode only.
    let run = campaignd(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            bad.to_str().unwrap(),
        ],
        &env,
    );
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("add --emulator"), "{}", run.stderr());
    // A token given is not printed.
    let shown = campaignd(
        &db,
        &[
            "config",
            "show",
            "--emulator",
            "--admin-token",
            "a-token-of-our-own-0123",
        ],
        &env,
    );
    assert!(
        !shown.stdout().contains("a-token-of-our-own-0123"),
        "{}",
        shown.stdout()
    );
    assert!(
        shown.stdout().contains("admin_token = \"***\""),
        "{}",
        shown.stdout()
    );
}

#[test]
fn a_saved_snapshot_seeds_another_database_and_holds_no_key() {
    let source = db();
    source.run(&["center", "create", "acme"]).ok();
    source
        .run_with_stdin(
            &["campaign", "import", "--center", "acme", "-"],
            Some(br#"[{"name": "Seeded One"}, {"name": "Seeded Two", "status": "active"}]"#),
        )
        .ok();
    let key = source
        .run(&[
            "key",
            "create",
            "--center",
            "acme",
            "--scope",
            "campaigns.read",
        ])
        .ok()
        .trim()
        .to_owned();
    let file = source.file("seed.ndjson");
    let saved = source.run(&["snapshot", "save", file.to_str().unwrap()]);
    let listing = saved.ok();
    assert!(
        listing.contains("campaigns") && listing.contains('2'),
        "{listing}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&key[5..]), "the snapshot holds the key");
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with(r#"{"campaignd_snapshot":1"#)
    );

    // Another database, holding something else, started from it.
    let target = db();
    target.run(&["center", "create", "globex"]).ok();
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["serve", "--emulator", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&file)
        .args(["--admin-token", "seed-test-admin-token"])
        .env("CAMPAIGND_DATABASE_URL", target.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("campaignd is listening on http://")
        .expect(&first)
        .to_owned();
    let list = send(
        &addr,
        &format!(
            "GET /api/v4/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(
        list.starts_with("HTTP/1.1 200"),
        "the seed's key works: {list}"
    );
    assert!(
        list.contains("Seeded Two") && list.contains(r#""total":2"#),
        "{list}"
    );
    let reset = send(
        &addr,
        "POST /_campaignd/reset HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer seed-test-admin-token\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(reset.starts_with("HTTP/1.1 200"), "{reset}");
    child.kill().unwrap();
    child.wait().unwrap();
    let centers = target.run(&["center", "list", "--json"]).json();
    let names: Vec<&str> = centers
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme"], "the seed replaced what the database held");
}
