//! The one configuration of a node: every setting of `serve` and the
//! database URL every command uses, in one struct built from layers — the
//! defaults, then a TOML file (`--config FILE` or `CAMPAIGND_CONFIG`), then
//! `CAMPAIGND_*` environment variables, then flags — later layers winning key
//! by key. Every value is checked at start; each problem names the key and
//! where its value came from, and all of them are reported at once.
//!
//! Layering ([`layer`]) is a pure function of the file's text, an
//! environment lookup and the flags given, so tests pass their own rather
//! than change the process's environment under other tests.

mod keys;
mod render;

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use campaignd_server::logging::LogFormat;
use campaignd_server::{AppConfig, Limits, Quota};

use crate::cli::db::{DEFAULT_DATABASE_URL, DatabaseUrl};

pub(crate) use keys::{KEYS, Key};
pub(crate) use render::{example, show};

/// The environment variable naming the config file when `--config` is not
/// given.
pub(crate) const CONFIG_ENV: &str = "CAMPAIGND_CONFIG";

/// Every setting, after all layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `[server]`: the listener and the request path.
    pub(crate) server: Server,
    /// `[rate_limit]`: per-key quotas.
    pub(crate) rate_limit: RateLimit,
    /// `[log]`.
    pub(crate) log: Log,
    /// `[database]`.
    pub(crate) database: Database,
    /// `[redis]`.
    pub(crate) redis: Redis,
    /// `[emulator]`.
    pub(crate) emulator: Emulator,
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    /// Address to listen on.
    pub(crate) listen: SocketAddr,
    /// This deployment's cluster id, shown in the OpenAPI document.
    pub(crate) cluster_id: Option<String>,
    /// Most connections open at once (0 is taken as 1).
    pub(crate) max_connections: u32,
    /// Time a client has to send a request's headers.
    pub(crate) header_read_timeout: Duration,
    /// Longest the storage work of a request may take.
    pub(crate) request_timeout: Duration,
    /// Time between a shutdown signal and closing the listener, with
    /// `/readyz` answering 503.
    pub(crate) shutdown_delay: Duration,
    /// Time in-flight requests get once the listener is closed.
    pub(crate) shutdown_grace: Duration,
    /// Memory for cached rendered responses, in MiB.
    pub(crate) cache_mb: usize,
    /// Threads serving requests; `None` is one per usable core.
    pub(crate) worker_threads: Option<NonZeroUsize>,
    /// Seed the demo contact center and print a key for it.
    pub(crate) demo: bool,
}

/// `[rate_limit]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// The quota the server enforces: every request it answers today is a
    /// read, and failed authentication spends it per client address.
    pub(crate) read: Quota,
    /// The quota of the management API's writes and actions, a budget of
    /// its own per key.
    pub(crate) write: Quota,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Log {
    /// Text lines or JSON objects.
    pub(crate) format: LogFormat,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Database {
    /// Where the data lives.
    pub(crate) url: DatabaseUrl,
    /// Most connections a process opens: SQLite's readers, or every
    /// PostgreSQL connection. `None`: the backend's default.
    pub(crate) pool_size: Option<NonZeroU32>,
}

impl Database {
    /// SQLite readers by default: each keeps a page cache, and one writer
    /// does every write anyway.
    const SQLITE_POOL: u32 = 4;
    /// PostgreSQL connections by default: enough concurrent transactions
    /// for the server to share commits between them, at about 10 MiB each.
    const POSTGRES_POOL: u32 = 32;

    /// The pool size in effect.
    pub(crate) fn pool_size(&self) -> NonZeroU32 {
        self.pool_size.unwrap_or_else(|| {
            let default = match self.url {
                DatabaseUrl::Sqlite(_) => Self::SQLITE_POOL,
                DatabaseUrl::Postgres(_) => Self::POSTGRES_POOL,
            };
            NonZeroU32::new(default).expect("positive")
        })
    }
}

/// `[emulator]`: SPEC §12's control API, faults and journal.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Emulator {
    /// Whether emulator mode is on.
    pub(crate) enabled: bool,
    /// The control API's token; unset, one is made and printed at start.
    pub(crate) admin_token: Option<String>,
    /// A JSON array of fault rules in force from the start.
    pub(crate) faults: Option<std::path::PathBuf>,
    /// Requests the journal keeps.
    pub(crate) journal_size: usize,
    /// A snapshot to replace the database's contents with at start.
    pub(crate) seed: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("enabled", &self.enabled)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("faults", &self.faults)
            .field("journal_size", &self.journal_size)
            .field("seed", &self.seed)
            .finish()
    }
}

/// `[redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redis {
    /// Where several nodes keep the rate-limit budgets they share.
    pub(crate) url: Option<String>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota {
        per_second: NonZeroU32::new(per_second).expect("a default quota is positive"),
        burst: NonZeroU32::new(burst).expect("a default quota is positive"),
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: Server {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                cluster_id: None,
                max_connections: 1024,
                header_read_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                shutdown_delay: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(30),
                cache_mb: 20,
                worker_threads: None,
                demo: false,
            },
            rate_limit: RateLimit {
                read: quota(50, 100),
                // Writes commit with synchronous=FULL and invalidate caches
                // on every node: a tenth of the read budget's burst is room
                // for any script that is not a runaway loop.
                write: quota(10, 20),
            },
            log: Log {
                format: LogFormat::Text,
            },
            database: Database {
                pool_size: None,
                url: DEFAULT_DATABASE_URL
                    .parse()
                    .expect("the default database URL parses"),
            },
            redis: Redis { url: None },
            emulator: Emulator {
                enabled: false,
                admin_token: None,
                faults: None,
                journal_size: campaignd_server::DEFAULT_JOURNAL_SIZE,
                seed: None,
            },
        }
    }
}

impl Config {
    /// How many threads serve requests: the setting, else the cores this
    /// process may use (its CPU affinity included).
    pub(crate) fn worker_threads(&self) -> usize {
        self.server.worker_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        )
    }

    /// The request path's settings.
    pub(crate) fn app_config(&self) -> AppConfig {
        AppConfig {
            quota: self.rate_limit.read,
            write_quota: self.rate_limit.write,
            cache_bytes: self.server.cache_mb.saturating_mul(1024 * 1024),
            request_timeout: self.server.request_timeout,
            cluster_id: self.server.cluster_id.clone(),
            redis_url: self.redis.url.clone(),
            emulator: None,
        }
    }

    /// The listener's limits.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_connections: self.server.max_connections.max(1),
            header_read_timeout: self.server.header_read_timeout,
            shutdown_delay: self.server.shutdown_delay,
            shutdown_grace: self.server.shutdown_grace,
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Nothing set it.
    Default,
    /// The config file, by the name it was given as.
    File(String),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("the defaults"),
            Self::File(name) => f.write_str(name),
            Self::Env(name) | Self::Flag(name) => f.write_str(name),
        }
    }
}

/// The configuration after all layers, with where each key's value came from.
#[derive(Debug, Clone)]
pub(crate) struct Effective {
    /// The settings.
    pub(crate) config: Config,
    /// Each key's source, in [`KEYS`] order.
    pub(crate) sources: Vec<Source>,
    /// The config file that was read, if any.
    pub(crate) file: Option<String>,
}

/// Every problem found in the layers, each naming the key and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(pub(crate) Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// What to layer over the defaults.
pub(crate) struct Layers<'a> {
    /// The config file's name (as given, for messages) and its text.
    pub(crate) file: Option<(&'a str, &'a str)>,
    /// Looks an environment variable up.
    pub(crate) env: &'a dyn Fn(&str) -> Option<OsString>,
    /// The config flags given on the command line, by flag name, in order.
    pub(crate) flags: &'a [(&'static str, String)],
}

/// Reads the config file named by `--config` (else by `CAMPAIGND_CONFIG`)
/// and layers it, this process's environment and `flags` over the defaults.
pub(crate) fn load(
    config_flag: Option<&Path>,
    flags: &[(&'static str, String)],
) -> Result<Effective, ConfigError> {
    let env = |name: &str| std::env::var_os(name);
    let named = match config_flag {
        Some(path) => Some((path.to_owned(), "--config")),
        None => env(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), CONFIG_ENV)),
    };
    let file = match named {
        None => None,
        Some((path, from)) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(vec![format!(
                    "cannot read the config file {name} (from {from}): {e}"
                )])
            })?;
            Some((name, text))
        }
    };
    layer(&Layers {
        file: file
            .as_ref()
            .map(|(name, text)| (name.as_str(), text.as_str())),
        env: &env,
        flags,
    })
}

/// Layers the file, the environment and the flags over the defaults, in
/// that order, checking every value each layer gives.
pub(crate) fn layer(layers: &Layers<'_>) -> Result<Effective, ConfigError> {
    let mut built = Builder {
        config: Config::default(),
        sources: vec![Source::Default; KEYS.len()],
        problems: Vec::new(),
    };
    if let Some((name, text)) = layers.file {
        for (i, value) in file_values(name, text, &mut built.problems) {
            built.set(i, &value, Source::File(name.to_owned()));
        }
    }
    for (i, key) in KEYS.iter().enumerate() {
        match (layers.env)(key.env)
            .as_deref()
            .map(std::ffi::OsStr::to_str)
        {
            // An empty variable counts as unset, so `CAMPAIGND_X=` in a
            // compose file or unit clears a value instead of failing.
            None | Some(Some("")) => {}
            Some(Some(value)) => built.set(i, value, Source::Env(key.env)),
            Some(None) => built.problems.push(format!(
                "invalid value for {} in {}: not valid UTF-8",
                key.path, key.env
            )),
        }
    }
    for (flag, value) in layers.flags {
        let key = KEYS.iter().position(|k| k.flag == Some(flag));
        debug_assert!(key.is_some(), "{flag} is not a config flag");
        if let Some(i) = key {
            built.set(i, value, Source::Flag(flag));
        }
    }
    if built.problems.is_empty() {
        Ok(Effective {
            config: built.config,
            sources: built.sources,
            file: layers.file.map(|(name, _)| name.to_owned()),
        })
    } else {
        Err(ConfigError(built.problems))
    }
}

/// The configuration being layered.
struct Builder {
    config: Config,
    sources: Vec<Source>,
    problems: Vec<String>,
}

impl Builder {
    fn set(&mut self, i: usize, value: &str, source: Source) {
        let key = &KEYS[i];
        match (key.set)(&mut self.config, value) {
            Ok(()) => self.sources[i] = source,
            Err(why) => self
                .problems
                .push(format!("invalid value for {} in {source}: {why}", key.path)),
        }
    }
}

/// The file's values as text, by key index; unknown keys and values that
/// are not single values go to `problems`.
fn file_values(name: &str, text: &str, problems: &mut Vec<String>) -> Vec<(usize, String)> {
    let table: toml::Table = match text.parse() {
        Ok(table) => table,
        Err(e) => {
            problems.push(format!("{name} is not valid TOML: {e}"));
            return Vec::new();
        }
    };
    let mut values = Vec::new();
    for (section, entries) in table {
        let known = keys::SECTIONS.iter().any(|(s, _)| *s == section);
        let entries = match entries {
            toml::Value::Table(entries) if known => entries,
            toml::Value::Table(_) => {
                problems.push(format!("unknown section [{section}] in {name}"));
                continue;
            }
            _ if known => {
                problems.push(format!(
                    "{section} in {name} must be a table: write [{section}] above its keys"
                ));
                continue;
            }
            _ => {
                problems.push(unknown_key(&section, name));
                continue;
            }
        };
        for (entry, value) in entries {
            let path = format!("{section}.{entry}");
            let Some(i) = KEYS.iter().position(|k| k.path == path) else {
                problems.push(unknown_key(&path, name));
                continue;
            };
            // A file value is checked by the same parser as the text of an
            // environment variable or flag, so `5` and `"5"` mean the same
            // and every source gets the same message.
            match value {
                toml::Value::String(s) => values.push((i, s)),
                toml::Value::Integer(n) => values.push((i, n.to_string())),
                toml::Value::Boolean(b) => values.push((i, b.to_string())),
                toml::Value::Float(x) => values.push((i, x.to_string())),
                other => problems.push(format!(
                    "invalid value for {path} in {name}: must be a single value, not {}",
                    other.type_str()
                )),
            }
        }
    }
    values
}

/// "unknown key", with a hint when the name belongs in another section.
fn unknown_key(path: &str, file: &str) -> String {
    let name = path.rsplit('.').next().unwrap_or(path);
    match KEYS.iter().find(|k| k.name() == name) {
        Some(key) => format!("unknown key {path} in {file} (did you mean {}?)", key.path),
        None => format!("unknown key {path} in {file}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    pub(super) fn layered(
        file: Option<&str>,
        env: &[(&str, &str)],
        flags: &[(&'static str, &str)],
    ) -> Result<Effective, ConfigError> {
        let env: HashMap<String, OsString> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        let flags: Vec<(&'static str, String)> =
            flags.iter().map(|(f, v)| (*f, (*v).to_owned())).collect();
        layer(&Layers {
            file: file.map(|text| ("/etc/campaignd.toml", text)),
            env: &|name| env.get(name).cloned(),
            flags: &flags,
        })
    }

    fn source_of(effective: &Effective, path: &str) -> Source {
        let i = KEYS.iter().position(|k| k.path == path).unwrap();
        effective.sources[i].clone()
    }

    #[test]
    fn nothing_given_is_the_defaults() {
        let effective = layered(None, &[], &[]).unwrap();
        assert_eq!(effective.config, Config::default());
        assert!(effective.sources.iter().all(|s| *s == Source::Default));
        assert_eq!(effective.file, None);
    }

    #[test]
    fn later_layers_win_default_then_file_then_env_then_flag() {
        let file = Source::File("/etc/campaignd.toml".into());
        let env = Source::Env("CAMPAIGND_RATE_LIMIT_BURST");
        let flag = Source::Flag("--rate-limit-burst");
        // (file sets, env sets, flag sets) -> winner
        for (in_file, in_env, in_flag, burst, source) in [
            (false, false, false, 100, Source::Default),
            (true, false, false, 7, file.clone()),
            (false, true, false, 8, env.clone()),
            (true, true, false, 8, env.clone()),
            (false, false, true, 9, flag.clone()),
            (true, false, true, 9, flag.clone()),
            (false, true, true, 9, flag.clone()),
            (true, true, true, 9, flag.clone()),
        ] {
            let text = "[rate_limit]\nread_burst = 7\n";
            let effective = layered(
                in_file.then_some(text),
                if in_env {
                    &[("CAMPAIGND_RATE_LIMIT_BURST", "8")]
                } else {
                    &[]
                },
                if in_flag {
                    &[("--rate-limit-burst", "9")]
                } else {
                    &[]
                },
            )
            .unwrap();
            let case = (in_file, in_env, in_flag);
            assert_eq!(
                effective.config.rate_limit.read.burst.get(),
                burst,
                "{case:?}"
            );
            assert_eq!(
                source_of(&effective, "rate_limit.read_burst"),
                source,
                "{case:?}"
            );
        }
    }

    #[test]
    fn layers_merge_key_by_key() {
        let effective = layered(
            Some(
                "[server]\nlisten = \"0.0.0.0:9000\"\ncache_mb = 64\n\
                 [rate_limit]\nread_per_second = 5\nwrite_burst = 3\n",
            ),
            &[
                ("CAMPAIGND_CACHE_MB", "32"),
                ("CAMPAIGND_LOG_FORMAT", "json"),
            ],
            &[("--cache-mb", "8"), ("--demo", "true")],
        )
        .unwrap();
        let mut expected = Config::default();
        expected.server.listen = "0.0.0.0:9000".parse().unwrap();
        expected.server.cache_mb = 8;
        expected.server.demo = true;
        expected.rate_limit.read.per_second = NonZeroU32::new(5).unwrap();
        expected.rate_limit.write.burst = NonZeroU32::new(3).unwrap();
        expected.log.format = LogFormat::Json;
        assert_eq!(effective.config, expected);
        let file = Source::File("/etc/campaignd.toml".into());
        for (path, source) in [
            ("server.listen", file.clone()),
            ("server.cache_mb", Source::Flag("--cache-mb")),
            ("server.demo", Source::Flag("--demo")),
            ("rate_limit.read_per_second", file.clone()),
            ("rate_limit.read_burst", Source::Default),
            ("rate_limit.write_burst", file),
            ("log.format", Source::Env("CAMPAIGND_LOG_FORMAT")),
        ] {
            assert_eq!(source_of(&effective, path), source, "{path}");
        }
        assert_eq!(effective.file.as_deref(), Some("/etc/campaignd.toml"));
    }

    #[test]
    fn every_invalid_value_is_reported_naming_its_key_and_source() {
        for (file, env, flags, expected) in [
            (
                "[rate_limit]\nread_burst = 0",
                &[][..],
                &[][..],
                "invalid value for rate_limit.read_burst in /etc/campaignd.toml: must be a positive integer",
            ),
            (
                "",
                &[("CAMPAIGND_RATE_LIMIT_BURST", "0")][..],
                &[][..],
                "invalid value for rate_limit.read_burst in CAMPAIGND_RATE_LIMIT_BURST: must be a positive integer",
            ),
            (
                "",
                &[][..],
                &[("--rate-limit-burst", "-3")][..],
                "invalid value for rate_limit.read_burst in --rate-limit-burst: must be a positive integer",
            ),
            (
                "[server]\nlisten = 8080",
                &[][..],
                &[][..],
                "invalid value for server.listen in /etc/campaignd.toml: must be an address such as 127.0.0.1:8080 or [::]:8080",
            ),
            (
                "[server]\nrequest_timeout = \"5h\"",
                &[][..],
                &[][..],
                "invalid value for server.request_timeout in /etc/campaignd.toml: must be a duration such as 500ms, 5s or 2m",
            ),
            (
                "",
                &[("CAMPAIGND_DEMO", "yes")][..],
                &[][..],
                "invalid value for server.demo in CAMPAIGND_DEMO: must be true or false",
            ),
            (
                "",
                &[][..],
                &[("--log-format", "xml")][..],
                "invalid value for log.format in --log-format: must be text or json",
            ),
            (
                "[server]\ncluster_id = \"\"",
                &[][..],
                &[][..],
                "invalid value for server.cluster_id in /etc/campaignd.toml: must not be empty",
            ),
            (
                "",
                &[("CAMPAIGND_WORKER_THREADS", "0")][..],
                &[][..],
                "invalid value for server.worker_threads in CAMPAIGND_WORKER_THREADS: must be a positive integer",
            ),
            (
                "",
                &[][..],
                &[("--database-url", "mysql://x")][..],
                "invalid value for database.url in --database-url: unsupported database URL (expected sqlite://PATH or postgres://...)",
            ),
            (
                "[redis]\nurl = \"http://cache:6379\"",
                &[][..],
                &[][..],
                "invalid value for redis.url in /etc/campaignd.toml: must be a redis:// or rediss:// URL",
            ),
            (
                "[rate_limit]\nwrite_per_second = [1]",
                &[][..],
                &[][..],
                "invalid value for rate_limit.write_per_second in /etc/campaignd.toml: must be a single value, not array",
            ),
        ] {
            let err = layered(Some(file), env, flags).unwrap_err();
            assert_eq!(err.0, [expected]);
        }
    }

    #[test]
    fn problems_in_every_layer_are_reported_together() {
        let err = layered(
            Some("[server]\nmax_connections = -1\n"),
            &[("CAMPAIGND_SHUTDOWN_GRACE", "soon")],
            &[("--listen", "localhost")],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for server.max_connections in /etc/campaignd.toml: must be a non-negative integer\n\
             invalid value for server.shutdown_grace in CAMPAIGND_SHUTDOWN_GRACE: must be a duration such as 500ms, 5s or 2m\n\
             invalid value for server.listen in --listen: must be an address such as 127.0.0.1:8080 or [::]:8080"
        );
    }

    #[test]
    fn a_bad_value_in_an_early_layer_is_reported_even_when_a_later_one_overrides_it() {
        let err = layered(
            Some("[rate_limit]\nread_burst = 0\n"),
            &[],
            &[("--rate-limit-burst", "5")],
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            [
                "invalid value for rate_limit.read_burst in /etc/campaignd.toml: must be a positive integer"
            ]
        );
    }

    #[test]
    fn keys_the_file_should_not_have_are_errors_naming_them() {
        for (text, expected) in [
            (
                "[server]\nlisen = \"0.0.0.0:80\"",
                "unknown key server.lisen in /etc/campaignd.toml",
            ),
            (
                "listen = \"0.0.0.0:80\"",
                "unknown key listen in /etc/campaignd.toml (did you mean server.listen?)",
            ),
            (
                "[server]\nread_burst = 5",
                "unknown key server.read_burst in /etc/campaignd.toml (did you mean rate_limit.read_burst?)",
            ),
            (
                "[rate_limit]\nburst = 5",
                "unknown key rate_limit.burst in /etc/campaignd.toml",
            ),
            (
                "[sever]\nlisten = \"0.0.0.0:80\"",
                "unknown section [sever] in /etc/campaignd.toml",
            ),
            (
                "server = 5",
                "server in /etc/campaignd.toml must be a table: write [server] above its keys",
            ),
            (
                "[server.listen]\nport = 80",
                "invalid value for server.listen in /etc/campaignd.toml: must be a single value, not table",
            ),
        ] {
            let err = layered(Some(text), &[], &[]).unwrap_err();
            assert_eq!(err.0, [expected], "{text}");
        }
    }

    #[test]
    fn a_file_that_is_not_toml_is_reported_with_its_name() {
        let err = layered(Some("[server\nlisten = 1"), &[], &[]).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(
            err.0[0].starts_with("/etc/campaignd.toml is not valid TOML: "),
            "{err}"
        );
    }

    #[test]
    fn file_values_may_be_written_as_text_or_as_numbers() {
        let effective = layered(
            Some("[server]\ncache_mb = \"8\"\nshutdown_grace = 3\ndemo = \"true\"\n"),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(effective.config.server.cache_mb, 8);
        assert_eq!(
            effective.config.server.shutdown_grace,
            Duration::from_secs(3)
        );
        assert!(effective.config.server.demo);
    }

    #[test]
    fn an_empty_environment_variable_counts_as_unset() {
        let effective = layered(
            Some("[server]\ncluster_id = \"cc-file\"\n"),
            &[("CAMPAIGND_CLUSTER_ID", ""), ("CAMPAIGND_LISTEN", "")],
            &[],
        )
        .unwrap();
        assert_eq!(
            effective.config.server.cluster_id.as_deref(),
            Some("cc-file")
        );
        assert_eq!(
            effective.config.server.listen,
            Config::default().server.listen
        );
    }

    #[test]
    fn the_config_maps_onto_the_servers_settings() {
        let effective = layered(
            Some(
                "[server]\nmax_connections = 0\ncache_mb = 2\ncluster_id = \"cc-x\"\n\
                 [rate_limit]\nread_per_second = 3\nread_burst = 4\nwrite_burst = 1\n",
            ),
            &[],
            &[],
        )
        .unwrap();
        let app = effective.config.app_config();
        assert_eq!(app.quota, quota(3, 4), "the read quota is the enforced one");
        assert_eq!(app.cache_bytes, 2 << 20);
        assert_eq!(app.cluster_id.as_deref(), Some("cc-x"));
        assert_eq!(app.request_timeout, Duration::from_secs(10));
        let limits = effective.config.limits();
        assert_eq!(limits.max_connections, 1, "0 connections is taken as 1");
        assert_eq!(limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(limits.shutdown_grace, Duration::from_secs(30));
    }
}
