//! The harness every campaignd test suite shares: a temp dir with its own
//! database, the `campaignd` binary run against it, a server on port 0 over
//! it with seeding helpers and a ready [`campaignd_client::Client`].

#![expect(
    missing_docs,
    clippy::missing_panics_doc,
    reason = "test support: every helper panics on failure, by design"
)]

mod emulator;
mod faulty;
mod private_postgres;
mod private_redis;

pub use emulator::{Emulator, EmulatorBuilder};
pub use faulty::{Fault, FaultyStore};
pub use private_postgres::{PrivatePostgres, free_port};
pub use private_redis::PrivateRedis;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temp dir holding one test's database.
pub struct TestDb {
    /// The directory; removed when this is dropped.
    pub dir: tempfile::TempDir,
    binary: Option<PathBuf>,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    /// A fresh temp dir.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            binary: None,
        }
    }

    /// A fresh temp dir whose [`TestDb::run`] runs `binary` (a test of the
    /// binary's crate passes `env!("CARGO_BIN_EXE_campaignd")`).
    pub fn with_binary(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: Some(binary.into()),
            ..Self::new()
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("campaignd.db")
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `campaignd ARGS` against this database.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs `campaignd ARGS` with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let binary = self
            .binary
            .as_ref()
            .expect("TestDb::with_binary names the campaignd binary to run");
        run_campaignd(binary, &self.url(), self.dir.path(), args, stdin)
    }

    /// Every byte of the database, its WAL and shared-memory files.
    pub fn raw_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = format!("{}{suffix}", self.path().display());
            if Path::new(&p).exists() {
                all.extend(std::fs::read(p).unwrap());
            }
        }
        all
    }
}

/// Runs `binary ARGS` on the database at `database_url`, in `dir`, with
/// `stdin` as standard input, and waits for it.
pub fn run_campaignd(
    binary: &Path,
    database_url: &str,
    dir: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> Run {
    let mut child = Command::new(binary)
        .args(args)
        .env("CAMPAIGND_DATABASE_URL", database_url)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn campaignd");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    Run(child.wait_with_output().expect("wait for campaignd"))
}

/// A finished command.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).unwrap()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8(self.0.stderr.clone()).unwrap()
    }
    /// Asserts success and returns standard output.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts success and parses standard output as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok()).expect("stdout is JSON")
    }
}

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use campaignd_model::{CampaignDocument, ContactCenterId, Scope, SystemFields};
use campaignd_server::{AppConfig, Limits, Quota};
use campaignd_store::contract::TempDatabase;
use campaignd_store::prelude::*;
use campaignd_store::{ApiKeyInfo, PostgresStore, SqliteStore, Store};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The documented Get campaign example.
pub const EXAMPLE: &str = include_str!("../../campaignd-model/tests/fixtures/get-campaign-3.json");

/// Settings for a test server.
pub struct Settings {
    pub config: AppConfig,
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            config: AppConfig {
                quota: Quota {
                    per_second: NonZeroU32::new(1000).unwrap(),
                    burst: NonZeroU32::new(1000).unwrap(),
                },
                write_quota: Quota {
                    per_second: NonZeroU32::new(1000).unwrap(),
                    burst: NonZeroU32::new(1000).unwrap(),
                },
                cache_bytes: 4 << 20,
                request_timeout: Duration::from_secs(10),
                cluster_id: Some("cc-test01".into()),
                redis_url: None,
                emulator: None,
            },
            limits: Limits {
                max_connections: 64,
                header_read_timeout: Duration::from_secs(5),
                shutdown_delay: Duration::ZERO,
                shutdown_grace: Duration::from_secs(5),
            },
        }
    }
}

/// The database a [`TestServer`] serves: an SQLite file of its own, or, when
/// `CAMPAIGND_TEST_BACKEND=postgres`, a PostgreSQL database of its own on
/// the server `CAMPAIGND_TEST_POSTGRES_URL` names. CI runs the HTTP suite
/// both ways.
enum Backend {
    Sqlite(TestDb),
    /// Always `Some` until dropped.
    Postgres(Option<TempDatabase>),
}

impl Drop for Backend {
    /// A PostgreSQL database outlives its server: tests read the store
    /// after stopping the server, as they read an SQLite file.
    fn drop(&mut self) {
        if let Self::Postgres(database) = self
            && let Some(database) = database.take()
        {
            database.keep_until_exit();
        }
    }
}

impl Backend {
    /// The backend the environment asks for, migrated and empty.
    async fn from_env() -> (Self, Arc<dyn Store>) {
        match std::env::var("CAMPAIGND_TEST_BACKEND").as_deref() {
            Ok("postgres") => {
                let database = TempDatabase::create()
                    .await
                    .expect("CAMPAIGND_TEST_BACKEND=postgres needs CAMPAIGND_TEST_POSTGRES_URL");
                let store = PostgresStore::connect(database.url(), 16).unwrap();
                store.migrate().await.unwrap();
                (Self::Postgres(Some(database)), Arc::new(store))
            }
            Ok("sqlite") | Err(_) => {
                let db = TestDb::new();
                let store = SqliteStore::open(db.path()).unwrap();
                store.migrate().await.unwrap();
                (Self::Sqlite(db), Arc::new(store))
            }
            Ok(other) => panic!("CAMPAIGND_TEST_BACKEND={other}: expected sqlite or postgres"),
        }
    }
}

/// A server on port 0 over its own database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    backend: Backend,
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        Self::start_over(settings, |store| store).await
    }

    /// A server over what `wrap` makes of its store (a [`FaultyStore`],
    /// say). Seeding helpers and [`TestServer::store`] use the store
    /// itself, so faults never hit the test's own setup.
    pub async fn start_over(
        settings: Settings,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> Self {
        let (backend, store) = Backend::from_env().await;
        let served = wrap(Arc::clone(&store));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(campaignd_server::serve(
            served,
            settings.config,
            settings.limits,
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            addr,
            store,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            shutdown: Some(tx),
            task: Some(task),
            backend,
        }
    }

    /// A client of this server's API with `key`, retrying fast.
    pub fn client(&self, key: &str) -> campaignd_client::Client {
        campaignd_client::Client::builder()
            .base_url(format!("http://{}", self.addr))
            .api_key(key)
            .build()
            .expect("a client for a local server")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The database's URL, for another process (the `campaignd` binary)
    /// to open the same database.
    pub fn database_url(&self) -> String {
        match &self.backend {
            Backend::Sqlite(db) => db.url(),
            Backend::Postgres(database) => database
                .as_ref()
                .expect("present until dropped")
                .url()
                .to_owned(),
        }
    }

    /// The database file; `None` when the server is on PostgreSQL.
    pub fn database_path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Sqlite(db) => Some(db.path()),
            Backend::Postgres(_) => None,
        }
    }

    pub async fn center(&self, name: &str) -> ContactCenterId {
        self.store
            .create_contact_center(&name.parse().unwrap())
            .await
            .unwrap()
            .id
    }

    pub async fn key(&self, center: ContactCenterId, scopes: &[Scope]) -> (String, ApiKeyInfo) {
        let scopes = scopes.iter().copied().collect();
        let (token, info) = campaignd_store::issue_api_key(&*self.store, center, None, scopes)
            .await
            .unwrap();
        (token.expose().to_owned(), info)
    }

    pub async fn reader(&self, center: ContactCenterId) -> String {
        self.key(center, &[Scope::CampaignsRead]).await.0
    }

    pub async fn import(&self, center: ContactCenterId, records: &[Value]) {
        let docs = records
            .iter()
            .map(|r| CampaignDocument::parse(r, SystemFields::Accept).unwrap())
            .collect();
        self.store
            .import_campaigns(center, docs, None)
            .await
            .unwrap();
    }

    /// Imports users in their v4 form (the test's records must be valid).
    pub async fn import_users(&self, center: ContactCenterId, users: &[Value]) {
        let records = users
            .iter()
            .enumerate()
            .map(|(index, v)| campaignd_store::UserRecord {
                index,
                document: campaignd_model::UserDocument::parse(v).unwrap(),
            })
            .collect();
        self.store
            .import_users(center, records, None)
            .await
            .unwrap();
    }

    /// Gives a campaign what `start` needs (SPEC §10): makes it live if it
    /// is not, assigns it a user of its own (id 10000 + the campaign's) and
    /// imports an active lead.
    pub async fn staff(&self, center: ContactCenterId, campaign: i64) {
        let id = campaignd_model::CampaignId::new(campaign).unwrap();
        let found = self.store.get_campaign(center, id).await.unwrap().unwrap();
        let ctx = campaignd_store::WriteContext::default();
        if !found.settings.live {
            let live =
                campaignd_model::CampaignPatch::parse(serde_json::json!({"live": true})).unwrap();
            self.store
                .update_campaign(ctx.clone(), center, id, live, None)
                .await
                .unwrap();
        }
        let user = 10_000 + campaign;
        self.import_users(
            center,
            &[serde_json::json!({"id": user, "name": "Agent", "email": "agent@example.com"})],
        )
        .await;
        self.store
            .assign_users(
                ctx.clone(),
                center,
                id,
                vec![campaignd_model::UserId::new(user).unwrap()],
            )
            .await
            .unwrap();
        let lead =
            campaignd_model::Lead::parse(&serde_json::json!({"phone_number": "15550100001"}))
                .unwrap();
        self.store
            .import_leads(ctx, center, id, vec![lead])
            .await
            .unwrap();
    }

    /// Imports the documented example (campaign 3).
    pub async fn import_example(&self, center: ContactCenterId) {
        let example: Value = serde_json::from_str(EXAMPLE).unwrap();
        self.import(center, &[example["campaign"].clone()]).await;
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut headers = Vec::new();
        if let Some(k) = key {
            headers.push(("authorization".to_owned(), format!("Bearer {k}")));
        }
        self.request("GET", path, &headers).await
    }

    /// A key that may read and manage the center's campaigns.
    pub async fn manager(&self, center: ContactCenterId) -> String {
        self.key(center, &[Scope::CampaignsRead, Scope::CampaignsManage])
            .await
            .0
    }

    pub async fn request(&self, method: &str, path: &str, headers: &[(String, String)]) -> Reply {
        self.send(method, path, headers, None).await
    }

    /// A request with a body, as given (no content type is added).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.expect("request sent");
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.bytes().await.unwrap().to_vec(),
        }
    }

    /// Stops the server the way a signal would, and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Removes insignificant whitespace from JSON text, keeping key order.
pub fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !ch.is_whitespace() {
            out.push(ch);
        }
    }
    out
}
