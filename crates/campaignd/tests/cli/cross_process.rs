//! Writes made by another process — the `campaignd` binary on the same
//! database file, as an operator runs it — reaching a running server through
//! the change log.

use std::time::{Duration, Instant};

use campaignd_client::{Client, Error};
use campaignd_model::Scope;
use campaignd_testkit::{Run, TestServer, run_campaignd};

use crate::support::ONE_AT_A_TIME;

/// Runs `campaignd ARGS` on the server's database, with `stdin`.
async fn campaignd(server: &TestServer, args: &[&str], stdin: Option<&str>) -> Run {
    let url = server.database_url();
    let dir = server
        .database_path()
        .expect("an SQLite server")
        .parent()
        .unwrap()
        .to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_campaignd"));
        run_campaignd(
            binary,
            &url,
            &dir,
            &args,
            stdin.as_deref().map(str::as_bytes),
        )
    })
    .await
    .unwrap()
}

/// Polls `check` until it holds; fails if that takes `limit` or more.
async fn within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "{what}: not after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls until the server answers `client`'s key with 401; fails if that
/// takes `limit` or more.
async fn refused_within(client: &Client, limit: Duration) {
    within(limit, "the revoked key still works", || async {
        matches!(client.get_campaign(3).await, Err(Error::Unauthorized))
    })
    .await;
}

/// A server with the documented campaign 3 in center "acme", the id of a
/// `campaigns.read` key, and a client with that key, which has just read
/// campaign 3.
async fn a_server_and_a_working_key() -> (
    TestServer,
    campaignd_model::ContactCenterId,
    campaignd_model::ApiKeyId,
    Client,
) {
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let (key, info) = server.key(center, &[Scope::CampaignsRead]).await;
    let client = server.client(&key);
    assert_eq!(client.get_campaign(3).await.unwrap().id, 3);
    (server, center, info.id, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_by_the_binary_stops_working_within_a_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _, key_id, client) = a_server_and_a_working_key().await;
    let out = campaignd(&server, &["key", "revoke", &key_id.to_string()], None).await;
    out.ok();
    refused_within(&client, Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn campaigns_imported_by_the_binary_show_in_cached_reads_within_a_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let client = server.client(&server.reader(center).await);
    let filter = campaignd_client::CampaignFilter::new();
    // Read twice, so the page is cached.
    for _ in 0..2 {
        assert_eq!(client.list_campaigns(&filter).await.unwrap().total, 1);
    }
    let out = campaignd(
        &server,
        &["campaign", "import", "--center", "acme", "-"],
        Some("{\"name\": \"Added later\"}\n"),
    )
    .await;
    out.ok();
    within(
        Duration::from_secs(1),
        "the cached list is stale",
        || async { client.list_campaigns(&filter).await.unwrap().total == 2 },
    )
    .await;
}

/// A write through one node (the binary) reaches another node's cached
/// reads (a server on the same database) through the change log.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_through_another_node_shows_in_cached_reads_within_a_second() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let center = server.center("acme").await;
    server.import_example(center).await;
    let key = server.manager(center).await;
    let here = server.client(&key);
    for _ in 0..2 {
        assert_eq!(
            here.get_campaign(3).await.unwrap().status,
            campaignd_client::Status::Active
        );
    }
    let (mut other, base) = crate::support::serve(&server.database_url());
    let there = campaignd_client::Client::builder()
        .base_url(&base)
        .api_key(&key)
        .build()
        .unwrap();
    let paused = there.pause_campaign(3, None).await.unwrap();
    within(
        Duration::from_secs(1),
        "the other node's write is not seen here",
        || async { here.get_campaign(3).await.unwrap() == paused.campaign },
    )
    .await;
    other.kill().unwrap();
    other.wait().unwrap();
}

/// Another connection holds the write lock for over a second (as a bulk
/// write would): the revoke waits for it rather than failing, lands, and
/// reaches the server within a second of landing.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoke_behind_a_held_write_lock_lands_and_takes_effect() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, _, key_id, client) = a_server_and_a_working_key().await;
    let holder =
        rusqlite::Connection::open(server.database_path().expect("an SQLite server")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let release = std::thread::spawn(move || {
        // Released once the revoke has been waiting behind it for 1.2 s.
        locked_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        holder.execute_batch("COMMIT").unwrap();
    });
    locked_tx.send(()).unwrap();
    let out = campaignd(&server, &["key", "revoke", &key_id.to_string()], None).await;
    let landed = Instant::now();
    release.join().unwrap();
    out.ok();
    let left = Duration::from_secs(1).saturating_sub(landed.elapsed());
    refused_within(&client, left.max(Duration::from_millis(1))).await;
}

/// NDJSON of campaigns named `Bulk {from}` to `Bulk {to - 1}`.
fn bulk(from: usize, to: usize) -> String {
    use std::fmt::Write as _;
    (from..to).fold(String::new(), |mut out, i| {
        let _ = writeln!(out, "{{\"name\": \"Bulk {i}\"}}");
        out
    })
}

/// Rows an unfinished import has staged so far.
fn staged_rows(database: &std::path::Path) -> i64 {
    rusqlite::Connection::open(database)
        .unwrap()
        .query_row("SELECT coalesce(sum(staged), 0) FROM imports", [], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Starts `campaignd campaign import` into "acme" reading standard input,
/// writes `records` campaigns to it and leaves it open, and waits until the
/// import has staged a batch: an import held in the middle of its run, for
/// as long as the test keeps the input open.
async fn an_import_held_on_its_input(
    server: &TestServer,
    records: usize,
) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write as _;
    let mut import = std::process::Command::new(env!("CARGO_BIN_EXE_campaignd"))
        .args(["campaign", "import", "--center", "acme", "-"])
        .env("CAMPAIGND_DATABASE_URL", server.database_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = import.stdin.take().unwrap();
    input.write_all(bulk(0, records).as_bytes()).unwrap();
    input.flush().unwrap();
    let database = server.database_path().expect("an SQLite server");
    within(Duration::from_mins(1), "the import staged nothing", || {
        let database = database.clone();
        async move { staged_rows(&database) >= 1000 }
    })
    .await;
    (import, input)
}

/// An import in the middle of its input (held there: its standard input
/// stays open) does not hold the write lock: a revoke from another process
/// lands and takes effect while it runs, its staged campaigns stay out of
/// sight, and it then finishes with all of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoke_lands_and_takes_effect_while_an_import_is_running() {
    use std::io::Write as _;
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, center, key_id, client) = a_server_and_a_working_key().await;
    let watcher = server.client(&server.reader(center).await);
    let (mut import, mut input) = an_import_held_on_its_input(&server, 5000).await;
    let database = server.database_path().expect("an SQLite server");

    let out = campaignd(&server, &["key", "revoke", &key_id.to_string()], None).await;
    out.ok();
    refused_within(&client, Duration::from_secs(1)).await;
    assert!(
        import.try_wait().unwrap().is_none(),
        "the import is still waiting for input"
    );
    let filter = campaignd_client::CampaignFilter::new();
    assert_eq!(
        watcher.list_campaigns(&filter).await.unwrap().total,
        1,
        "staged campaigns are not visible"
    );

    input.write_all(bulk(5000, 10_000).as_bytes()).unwrap();
    drop(input);
    let done = tokio::task::spawn_blocking(move || import.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(stdout.contains("imported 10000 campaign(s)"), "{stdout}");
    within(
        Duration::from_secs(5),
        "the published campaigns are not visible",
        || async { watcher.list_campaigns(&filter).await.unwrap().total == 10_001 },
    )
    .await;
    assert_eq!(staged_rows(&database), 0);
}

/// Ctrl-C (SIGINT) in the middle of an import removes what it staged and
/// says nothing was imported; nothing ever shows.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_import_removes_what_it_staged() {
    let (server, center, _, _) = a_server_and_a_working_key().await;
    let watcher = server.client(&server.reader(center).await);
    let (import, input) = an_import_held_on_its_input(&server, 3000).await;
    let database = server.database_path().expect("an SQLite server");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &import.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let done = tokio::task::spawn_blocking(move || import.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    drop(input);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nothing was imported: interrupted"),
        "{stderr}"
    );
    let left: i64 = rusqlite::Connection::open(&database)
        .unwrap()
        .query_row("SELECT count(*) FROM imports", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "the interrupted import is cleaned up");
    let filter = campaignd_client::CampaignFilter::new();
    assert_eq!(watcher.list_campaigns(&filter).await.unwrap().total, 1);
}
