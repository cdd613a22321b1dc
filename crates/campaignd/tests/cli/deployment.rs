//! A deployment the CLI tests start from outside, as an operator would: a
//! database of its own (SQLite, or PostgreSQL when the environment names a
//! server), `campaignd serve` processes killed when their guard drops, and
//! the HTTP calls the tests make of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use campaignd_store::contract::TempDatabase;
use campaignd_testkit::{Run, run_campaignd};
use reqwest::Method;
use serde_json::Value;

use crate::support::{UNLIMITED, serve_logging, serve_with};

/// A `campaignd serve` process, SIGKILLed (if still running) when dropped.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Node {
    /// Serves `url` on a free port with quotas no test reaches and `args`.
    pub(crate) fn start(url: &str, args: &[&str]) -> Self {
        let mut all = UNLIMITED.to_vec();
        all.extend_from_slice(args);
        let (child, base) = serve_with(url, &all);
        Self { child, base }
    }

    /// [`Node::start`] with the variables `env`, its log written to `log`.
    pub(crate) fn start_logging(
        url: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Self {
        let mut all = UNLIMITED.to_vec();
        all.extend_from_slice(args);
        let file = std::fs::File::create(log).expect("create the log file");
        let (child, base) = serve_logging(url, &all, env, file.into());
        Self { child, base }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.base
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .expect("the server prints http://ADDR")
    }

    /// SIGKILL, then reap it.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM (std has no way to; `kill(1)` does).
    pub(crate) fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -s TERM failed");
    }

    /// Its exit status, once it has exited; `None` if it is still running
    /// after `limit`.
    pub(crate) async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many file descriptors the process holds open.
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("the server's /proc/PID/fd")
            .count()
    }

    /// How many of its file descriptors are sockets: the listener and the
    /// connections, not the database files it opens and closes as it goes.
    pub(crate) fn open_sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("the server's /proc/PID/fd")
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of the test's own, and a directory the admin commands run in.
pub(crate) struct Deployment {
    pub(crate) url: String,
    pub(crate) dir: tempfile::TempDir,
    /// The file, when the backend is SQLite.
    pub(crate) sqlite: Option<PathBuf>,
    /// Dropped (with every connection to it) when this is.
    _postgres: Option<TempDatabase>,
}

impl Deployment {
    /// An SQLite file in a temp dir.
    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("campaignd.db");
        Self::sqlite_at(dir, path)
    }

    /// The SQLite file at `path`, the admin commands run in `dir`.
    pub(crate) fn sqlite_at(dir: tempfile::TempDir, path: PathBuf) -> Self {
        Self {
            url: format!("sqlite://{}", path.display()),
            dir,
            sqlite: Some(path),
            _postgres: None,
        }
    }

    /// A fresh database on the server `CAMPAIGND_TEST_POSTGRES_URL` names;
    /// `None`, with the reason printed, when it is not set.
    pub(crate) async fn postgres() -> Option<Self> {
        let database = TempDatabase::create().await?;
        Some(Self {
            url: database.url().to_owned(),
            dir: tempfile::tempdir().unwrap(),
            sqlite: None,
            _postgres: Some(database),
        })
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        run_campaignd(
            Path::new(env!("CARGO_BIN_EXE_campaignd")),
            &self.url,
            self.dir.path(),
            args,
            stdin,
        )
    }

    /// The center `acme` with user 1 (Ann) and `campaigns` (NDJSON)
    /// imported; answers the `Authorization` value of a key that reads and
    /// manages its campaigns.
    pub(crate) fn acme(&self, campaigns: &str) -> String {
        self.run(&["center", "create", "acme"], None).ok();
        self.run(
            &["user", "import", "--center", "acme", "-"],
            Some(br#"{"id": 1, "name": "Ann", "email": "ann@example.com"}"#),
        )
        .ok();
        if !campaigns.is_empty() {
            self.run(
                &["campaign", "import", "--center", "acme", "-"],
                Some(campaigns.as_bytes()),
            )
            .ok();
        }
        let key = self
            .run(
                &[
                    "key",
                    "create",
                    "--center",
                    "acme",
                    "--scope",
                    "campaigns.read",
                    "--scope",
                    "campaigns.manage",
                ],
                None,
            )
            .ok();
        format!("Bearer {}", key.trim())
    }

    /// `PRAGMA integrity_check` of the SQLite file, opened read-only (the
    /// disk may be full).
    pub(crate) fn integrity(&self) -> String {
        let path = self.sqlite.as_ref().expect("an SQLite deployment");
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One API call; `None` if no whole answer came back (the server died).
pub(crate) async fn call(
    http: &reqwest::Client,
    node: &str,
    auth: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut request = http
        .request(method, format!("{node}{path}"))
        .header("authorization", auth);
    if let Some(body) = body {
        request = request.json(body);
    }
    let reply = request.send().await.ok()?;
    let status = reply.status().as_u16();
    Some((status, reply.json().await.ok()?))
}

/// [`call`] that must answer: the status and body.
pub(crate) async fn answer(
    http: &reqwest::Client,
    node: &Node,
    auth: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    call(http, &node.base, auth, method.clone(), path, body)
        .await
        .unwrap_or_else(|| panic!("{method} {path}: no answer"))
}
