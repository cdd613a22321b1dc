//! An in-process campaignd in emulator mode, for integration tests written
//! in Rust — in the spirit of wiremock's `MockServer`, but with the real
//! API and real state.
//!
//! [`Emulator::start`] serves on a free loopback port over a database of
//! its own, seeded (with a snapshot file, or a small built-in seed), and
//! hands back the base URL, a ready key of each scope, and handles to the
//! control API: faults, the request journal and reset. It shuts down when
//! dropped.
//!
//! ```
//! use campaignd_model::Scope;
//! use campaignd_testkit::Emulator;
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! let emulator = Emulator::start().await?;
//! let client = emulator.client(Scope::CampaignsRead);
//! assert_eq!(client.get_campaign(3).await?.name, "Summer Outreach Campaign");
//!
//! // The next read answers 503; the client retries it.
//! emulator
//!     .add_fault(json!({
//!         "match": {"route": "/api/v4/campaigns/{campaign_id}"},
//!         "action": {"status": 503},
//!         "times": 1,
//!     }))
//!     .await?;
//! client.get_campaign(3).await?;
//! let sent = emulator.requests("route=/api/v4/campaigns/{campaign_id}").await?;
//! assert_eq!(sent.len(), 3, "the first read, the 503, and its retry");
//!
//! // Every test can start from the seed again.
//! emulator.reset().await?;
//! assert!(emulator.requests("").await?.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use campaignd_model::{ContactCenterName, Scope, Scopes};
use campaignd_server::{EmulatorConfig, Limits, Quota};
use campaignd_store::prelude::*;
use campaignd_store::{SqliteStore, Store};
use serde_json::Value;

use crate::{EXAMPLE, TestDb};

/// How an [`Emulator`] starts.
#[derive(Debug, Clone, Default)]
pub struct EmulatorBuilder {
    seed: Option<PathBuf>,
    center: Option<String>,
    faults: Vec<Value>,
    journal_size: Option<usize>,
}

impl EmulatorBuilder {
    /// Starts from this snapshot (`campaignd snapshot save`) instead of the
    /// built-in seed.
    #[must_use]
    pub fn seed(mut self, snapshot: impl Into<PathBuf>) -> Self {
        self.seed = Some(snapshot.into());
        self
    }

    /// The contact center the ready keys act for (default: the seed's
    /// first).
    #[must_use]
    pub fn center(mut self, name: impl Into<String>) -> Self {
        self.center = Some(name.into());
        self
    }

    /// A fault rule in force from the start, in the control API's form.
    #[must_use]
    pub fn fault(mut self, rule: Value) -> Self {
        self.faults.push(rule);
        self
    }

    /// Requests the journal keeps (default 1000).
    #[must_use]
    pub fn journal_size(mut self, size: usize) -> Self {
        self.journal_size = Some(size);
        self
    }

    /// Seeds a database of its own and serves it on a free port.
    pub async fn start(self) -> anyhow::Result<Emulator> {
        let db = TestDb::new();
        let store = SqliteStore::open(db.path()).context("cannot open the emulator's database")?;
        store.migrate().await?;
        let store: Arc<dyn Store> = Arc::new(store);
        match &self.seed {
            Some(path) => {
                let open = || std::fs::File::open(path).map(std::io::BufReader::new);
                campaignd_store::snapshot::load(&*store, open, |_, _, _| {})
                    .await
                    .with_context(|| format!("cannot load the seed {}", path.display()))?;
            }
            None => builtin_seed(&*store).await?,
        }
        let center = match &self.center {
            Some(name) => {
                let name: ContactCenterName = name.parse()?;
                store
                    .contact_center_by_name(&name)
                    .await?
                    .with_context(|| format!("the seed has no contact center {name}"))?
            }
            None => store
                .list_contact_centers()
                .await?
                .into_iter()
                .next()
                .context("the seed has no contact center")?,
        };
        // Made before the server keeps its start state, so they survive
        // every reset.
        let mut keys = BTreeMap::new();
        let every: Scopes = Scope::ALL.into_iter().collect();
        for (name, scopes) in Scope::ALL
            .into_iter()
            .map(|s| (Some(s), [s].into_iter().collect::<Scopes>()))
            .chain([(None, every)])
        {
            let (token, _) =
                campaignd_store::issue_api_key(&*store, center.id, Some("emulator".into()), scopes)
                    .await?;
            keys.insert(name.map(Scope::as_str), token.expose().to_owned());
        }
        let admin_token = campaignd_model::ApiKeyToken::generate()
            .expose()
            .replacen("cmpd_", "admin_", 1);
        let unlimited = Quota {
            per_second: std::num::NonZeroU32::new(1_000_000).expect("positive"),
            burst: std::num::NonZeroU32::new(1_000_000).expect("positive"),
        };
        let config = campaignd_server::AppConfig {
            quota: unlimited,
            write_quota: unlimited,
            cache_bytes: 8 << 20,
            request_timeout: std::time::Duration::from_secs(10),
            cluster_id: None,
            redis_url: None,
            emulator: Some(EmulatorConfig {
                admin_token: admin_token.clone(),
                journal_size: self
                    .journal_size
                    .unwrap_or(campaignd_server::DEFAULT_JOURNAL_SIZE),
                faults: self.faults,
            }),
        };
        let limits = Limits {
            max_connections: 256,
            header_read_timeout: std::time::Duration::from_secs(5),
            shutdown_delay: std::time::Duration::ZERO,
            shutdown_grace: std::time::Duration::from_secs(5),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(campaignd_server::serve(
            store,
            config,
            limits,
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        let emulator = Emulator {
            addr,
            admin_token,
            keys,
            http: reqwest::Client::builder().no_proxy().build()?,
            shutdown: Some(shutdown),
            task: Some(task),
            _db: db,
        };
        emulator.ready().await?;
        Ok(emulator)
    }
}

/// The built-in seed: contact center `acme` with the documented campaign 3.
async fn builtin_seed(store: &dyn Store) -> anyhow::Result<()> {
    let center = store.create_contact_center(&"acme".parse()?).await?;
    let example: Value = serde_json::from_str(EXAMPLE)?;
    let document = campaignd_model::CampaignDocument::parse(
        &example["campaign"],
        campaignd_model::SystemFields::Accept,
    )
    .map_err(|e| anyhow::anyhow!("the example is invalid: {e}"))?;
    store
        .import_campaigns(center.id, vec![document], None)
        .await?;
    Ok(())
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    addr: SocketAddr,
    admin_token: String,
    /// Keys by scope name; `None`: every scope.
    keys: BTreeMap<Option<&'static str>, String>,
    http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDb,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// An emulator with the built-in seed.
    pub async fn start() -> anyhow::Result<Self> {
        Self::builder().start().await
    }

    /// Settings for an emulator to start.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Where the API is: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A key with `scope` alone, valid across resets.
    pub fn key(&self, scope: Scope) -> &str {
        &self.keys[&Some(scope.as_str())]
    }

    /// A key with every scope, valid across resets.
    pub fn full_key(&self) -> &str {
        &self.keys[&None]
    }

    /// The control API's admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A client of the API with the key of `scope`, retrying quickly.
    pub fn client(&self, scope: Scope) -> campaignd_client::Client {
        self.client_with(self.key(scope))
    }

    /// A client of the API with `key`, retrying quickly.
    pub fn client_with(&self, key: &str) -> campaignd_client::Client {
        campaignd_client::Client::builder()
            .base_url(self.base_url())
            .api_key(key)
            .retry(campaignd_client::RetryPolicy {
                max_retries: 3,
                initial_backoff: std::time::Duration::from_millis(10),
                ..campaignd_client::RetryPolicy::default()
            })
            .build()
            .expect("a client for a local server")
    }

    /// Adds a fault rule (SPEC §12's form); answers it as listed.
    pub async fn add_fault(&self, rule: Value) -> anyhow::Result<Value> {
        Ok(self
            .control("POST", "/_campaignd/faults", Some(rule))
            .await?["fault"]
            .clone())
    }

    /// Every fault rule, with how often each fired.
    pub async fn faults(&self) -> anyhow::Result<Vec<Value>> {
        list(
            self.control("GET", "/_campaignd/faults", None).await?,
            "faults",
        )
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.control("DELETE", "/_campaignd/faults", None).await?;
        Ok(())
    }

    /// The journal's requests, oldest first, filtered by `query` (for
    /// example `method=POST&status=201`; empty for all).
    pub async fn requests(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        let path = if query.is_empty() {
            "/_campaignd/requests".to_owned()
        } else {
            format!("/_campaignd/requests?{query}")
        };
        list(self.control("GET", &path, None).await?, "requests")
    }

    /// Empties the journal.
    pub async fn clear_requests(&self) -> anyhow::Result<()> {
        self.control("DELETE", "/_campaignd/requests", None).await?;
        Ok(())
    }

    /// Puts everything back to the seed (the keys stay valid) and empties
    /// the journal.
    pub async fn reset(&self) -> anyhow::Result<()> {
        self.control("POST", "/_campaignd/reset", None).await?;
        Ok(())
    }

    /// Stops the server, waiting for in-flight requests.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }

    async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.parse()?, format!("{}{path}", self.base_url()))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path} answered {status}: {text}"
        );
        Ok(serde_json::from_str(&text)?)
    }

    async fn ready(&self) -> anyhow::Result<()> {
        for _ in 0..500 {
            if let Ok(r) = self
                .http
                .get(format!("{}/readyz", self.base_url()))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if self
                .task
                .as_ref()
                .is_some_and(tokio::task::JoinHandle::is_finished)
            {
                anyhow::bail!("the emulator stopped while starting");
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        anyhow::bail!("the emulator never became ready")
    }
}

fn list(mut value: Value, key: &str) -> anyhow::Result<Vec<Value>> {
    match value[key].take() {
        Value::Array(items) => Ok(items),
        other => anyhow::bail!("expected a list of {key}, got {other}"),
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
