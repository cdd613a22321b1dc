//! Every configuration key in one table: its place in the file, its
//! environment variable and flag, its help, how its text is parsed and how
//! its value is written back. The file, the environment, the flags, `--help`,
//! `config default` and `config show` all read this table, so a key added
//! here is everywhere at once and the names cannot drift apart.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use campaignd_server::logging::LogFormat;

use crate::cli::config::Config;
use crate::cli::db::DatabaseUrl;

/// One setting.
pub(crate) struct Key {
    /// `section.name` in the file.
    pub(crate) path: &'static str,
    /// Its `CAMPAIGND_*` environment variable.
    pub(crate) env: &'static str,
    /// Its command-line flag, if it has one.
    pub(crate) flag: Option<&'static str>,
    /// What it means, for `--help` and the example file.
    pub(crate) doc: &'static str,
    /// For a key that is unset by default: a value to show, commented out,
    /// in the example file (TOML has no null to print instead).
    pub(crate) example: Option<&'static str>,
    /// A URL that may carry a password or token, masked by `config show`.
    pub(crate) secret: bool,
    /// Parses text (an environment value, a flag's value, or a file value
    /// written as text) into the config.
    pub(crate) set: fn(&mut Config, &str) -> Result<(), String>,
    /// The value as it would be written in the file; `None` when unset.
    pub(crate) get: fn(&Config) -> Option<toml::Value>,
}

impl Key {
    /// The section part of the path.
    pub(crate) fn section(&self) -> &'static str {
        self.path.split_once('.').map_or("", |(section, _)| section)
    }

    /// The name within the section.
    pub(crate) fn name(&self) -> &'static str {
        self.path
            .split_once('.')
            .map_or(self.path, |(_, name)| name)
    }
}

/// The file's sections, in the order they are printed, with what they hold.
pub(crate) const SECTIONS: &[(&str, &str)] = &[
    ("server", "The HTTP listener and the request path."),
    (
        "rate_limit",
        "Per-key quotas (GCRA: `burst` requests at once, refilled at \
         `per_second`). Requests that fail authentication spend the read \
         quota of their client address instead.",
    ),
    (
        "log",
        "Logs go to standard error; filter them with CAMPAIGND_LOG or RUST_LOG \
         (default info).",
    ),
    (
        "database",
        "The store; every command reads it, not only serve.",
    ),
    ("redis", "Shared state for several nodes."),
    (
        "emulator",
        "Emulator mode, for testing integrations: a control API under \
         /_campaignd/ with fault rules and a journal of recent requests.",
    ),
];

/// Every key, in the order they are printed.
pub(crate) const KEYS: &[Key] = &[
    Key {
        path: "server.listen",
        env: "CAMPAIGND_LISTEN",
        flag: Some("--listen"),
        doc: "Address to listen on.",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.listen = s
                .parse::<SocketAddr>()
                .map_err(|_| "must be an address such as 127.0.0.1:8080 or [::]:8080")?;
            Ok(())
        },
        get: |c| Some(text(c.server.listen.to_string())),
    },
    Key {
        path: "server.cluster_id",
        env: "CAMPAIGND_CLUSTER_ID",
        flag: Some("--cluster-id"),
        doc: "This deployment's cluster id (as in https://{cluster_id}.voiso.com), \
              shown in the OpenAPI document. Unset by default.",
        example: Some("\"cc-ams03\""),
        secret: false,
        set: |c, s| {
            if s.is_empty() {
                return Err("must not be empty".into());
            }
            c.server.cluster_id = Some(s.to_owned());
            Ok(())
        },
        get: |c| c.server.cluster_id.as_deref().map(text),
    },
    Key {
        path: "server.max_connections",
        env: "CAMPAIGND_MAX_CONNECTIONS",
        flag: Some("--max-connections"),
        doc: "Most connections open at once; more wait to be accepted.",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.max_connections = s.parse().map_err(|_| NON_NEGATIVE)?;
            Ok(())
        },
        get: |c| Some(integer(c.server.max_connections)),
    },
    Key {
        path: "server.header_read_timeout",
        env: "CAMPAIGND_HEADER_READ_TIMEOUT",
        flag: Some("--header-read-timeout"),
        doc: "How long a client may take to send a request's headers (also the \
              idle time allowed between requests on a kept-alive connection).",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.header_read_timeout = parse_duration(s)?;
            Ok(())
        },
        get: |c| Some(text(format_duration(c.server.header_read_timeout))),
    },
    Key {
        path: "server.request_timeout",
        env: "CAMPAIGND_REQUEST_TIMEOUT",
        flag: Some("--request-timeout"),
        doc: "Longest the storage work of a request may take before the request \
              is answered 503 (a stalled database never holds a client longer).",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.request_timeout = parse_duration(s)?;
            Ok(())
        },
        get: |c| Some(text(format_duration(c.server.request_timeout))),
    },
    Key {
        path: "server.shutdown_delay",
        env: "CAMPAIGND_SHUTDOWN_DELAY",
        flag: Some("--shutdown-delay"),
        doc: "On SIGTERM or SIGINT, how long to keep serving with /readyz answering 503 \
              before the listener closes, so a load balancer stops sending new requests \
              first (0s: close at once).",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.shutdown_delay = parse_duration(s)?;
            Ok(())
        },
        get: |c| Some(text(format_duration(c.server.shutdown_delay))),
    },
    Key {
        path: "server.shutdown_grace",
        env: "CAMPAIGND_SHUTDOWN_GRACE",
        flag: Some("--shutdown-grace"),
        doc: "On SIGTERM or SIGINT, how long in-flight requests get to finish once the \
              listener is closed.",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.shutdown_grace = parse_duration(s)?;
            Ok(())
        },
        get: |c| Some(text(format_duration(c.server.shutdown_grace))),
    },
    Key {
        path: "server.cache_mb",
        env: "CAMPAIGND_CACHE_MB",
        flag: Some("--cache-mb"),
        doc: "Memory for cached rendered responses, in MiB.",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.cache_mb = s.parse().map_err(|_| NON_NEGATIVE)?;
            Ok(())
        },
        get: |c| Some(integer(c.server.cache_mb)),
    },
    Key {
        path: "server.worker_threads",
        env: "CAMPAIGND_WORKER_THREADS",
        flag: Some("--worker-threads"),
        doc: "Threads serving requests (default: one per usable core). With one, \
              the server runs on a single-threaded scheduler.",
        example: Some("2"),
        secret: false,
        set: |c, s| {
            c.server.worker_threads = Some(s.parse::<NonZeroUsize>().map_err(|_| POSITIVE)?);
            Ok(())
        },
        get: |c| c.server.worker_threads.map(|n| integer(n.get())),
    },
    Key {
        path: "server.demo",
        env: "CAMPAIGND_DEMO",
        flag: Some("--demo"),
        doc: "Ensure a `demo` contact center with sample campaigns exists, create \
              a key for it with both scopes, and print the key and a curl command.",
        example: None,
        secret: false,
        set: |c, s| {
            c.server.demo = match s {
                "true" => true,
                "false" => false,
                _ => return Err("must be true or false".into()),
            };
            Ok(())
        },
        get: |c| Some(toml::Value::Boolean(c.server.demo)),
    },
    Key {
        path: "rate_limit.read_per_second",
        env: "CAMPAIGND_RATE_LIMIT_PER_SECOND",
        flag: Some("--rate-limit-per-second"),
        doc: "Sustained reads per second allowed per API key (every GET under \
              /api/v4/campaigns); writes have a budget of their own.",
        example: None,
        secret: false,
        set: |c, s| {
            c.rate_limit.read.per_second = positive(s)?;
            Ok(())
        },
        get: |c| Some(integer(c.rate_limit.read.per_second.get())),
    },
    Key {
        path: "rate_limit.read_burst",
        env: "CAMPAIGND_RATE_LIMIT_BURST",
        flag: Some("--rate-limit-burst"),
        doc: "Reads a key may make at once before the per-second rate applies.",
        example: None,
        secret: false,
        set: |c, s| {
            c.rate_limit.read.burst = positive(s)?;
            Ok(())
        },
        get: |c| Some(integer(c.rate_limit.read.burst.get())),
    },
    Key {
        path: "rate_limit.write_per_second",
        env: "CAMPAIGND_RATE_LIMIT_WRITE_PER_SECOND",
        flag: Some("--write-rate-limit-per-second"),
        doc: "Sustained writes per second allowed per API key (creates, patches, \
              deletes and lifecycle actions), apart from its reads.",
        example: None,
        secret: false,
        set: |c, s| {
            c.rate_limit.write.per_second = positive(s)?;
            Ok(())
        },
        get: |c| Some(integer(c.rate_limit.write.per_second.get())),
    },
    Key {
        path: "rate_limit.write_burst",
        env: "CAMPAIGND_RATE_LIMIT_WRITE_BURST",
        flag: Some("--write-rate-limit-burst"),
        doc: "Writes a key may make at once before the per-second rate applies.",
        example: None,
        secret: false,
        set: |c, s| {
            c.rate_limit.write.burst = positive(s)?;
            Ok(())
        },
        get: |c| Some(integer(c.rate_limit.write.burst.get())),
    },
    Key {
        path: "log.format",
        env: "CAMPAIGND_LOG_FORMAT",
        flag: Some("--log-format"),
        doc: "Log format: text or json.",
        example: None,
        secret: false,
        set: |c, s| {
            c.log.format = match s {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err("must be text or json".into()),
            };
            Ok(())
        },
        get: |c| {
            Some(text(match c.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }))
        },
    },
    Key {
        path: "database.url",
        env: "CAMPAIGND_DATABASE_URL",
        flag: Some("--database-url"),
        doc: "Where the data lives: sqlite://PATH (a file, created if missing; \
              sqlite:///ABS/PATH for an absolute path) or postgres://...",
        example: None,
        secret: true,
        set: |c, s| {
            c.database.url = s.parse::<DatabaseUrl>()?;
            Ok(())
        },
        get: |c| {
            Some(text(match &c.database.url {
                DatabaseUrl::Sqlite(_) => c.database.url.to_string(),
                DatabaseUrl::Postgres(url) => url.clone(),
            }))
        },
    },
    Key {
        path: "database.pool_size",
        env: "CAMPAIGND_DATABASE_POOL_SIZE",
        flag: None,
        doc: "Most connections a process opens to the database (at least 2 \
              are used). SQLite: readers, default 4, each keeping a 2 MiB page \
              cache. PostgreSQL: every connection, default 32. Calls beyond \
              this many wait their turn, up to a second, then answer 503.",
        example: Some("32"),
        secret: false,
        set: |c, s| {
            c.database.pool_size = Some(positive(s)?);
            Ok(())
        },
        get: |c| c.database.pool_size.map(|n| integer(i64::from(n.get()))),
    },
    Key {
        path: "redis.url",
        env: "CAMPAIGND_REDIS_URL",
        flag: Some("--redis-url"),
        doc: "A redis:// or rediss:// URL: every node keeps its rate-limit \
              budgets there, so N nodes admit what one would. Unset, each \
              node keeps its own. While Redis is unreachable each node falls \
              back to its own budgets (logged once, and \
              campaignd_rate_limit_fallback is 1) and shares again when it is \
              back.",
        example: Some("\"redis://:PASSWORD@127.0.0.1:6379\""),
        secret: true,
        set: |c, s| {
            let rest = s
                .strip_prefix("redis://")
                .or_else(|| s.strip_prefix("rediss://"));
            if rest.is_none_or(str::is_empty) {
                return Err("must be a redis:// or rediss:// URL".into());
            }
            c.redis.url = Some(s.to_owned());
            Ok(())
        },
        get: |c| c.redis.url.as_deref().map(text),
    },
    Key {
        path: "emulator.enabled",
        env: "CAMPAIGND_EMULATOR",
        flag: Some("--emulator"),
        doc: "Serve the emulator's control API under /_campaignd/ (fault \
              rules, the request journal), opened by the admin token. Off, \
              those paths are unknown routes.",
        example: None,
        secret: false,
        set: |c, s| {
            c.emulator.enabled = boolean(s)?;
            Ok(())
        },
        get: |c| Some(toml::Value::Boolean(c.emulator.enabled)),
    },
    Key {
        path: "emulator.admin_token",
        env: "CAMPAIGND_ADMIN_TOKEN",
        flag: Some("--admin-token"),
        doc: "The control API's bearer token (at least 16 characters). Unset, \
              a random one is made and printed at start.",
        example: Some("\"a-long-random-token\""),
        secret: true,
        set: |c, s| {
            if s.trim().len() < 16 || s.trim() != s {
                return Err("must be at least 16 characters, without spaces around it".into());
            }
            c.emulator.admin_token = Some(s.to_owned());
            Ok(())
        },
        get: |c| c.emulator.admin_token.as_deref().map(text),
    },
    Key {
        path: "emulator.faults",
        env: "CAMPAIGND_FAULTS",
        flag: Some("--faults"),
        doc: "A file holding a JSON array of fault rules, in force from the \
              start (the form POST /_campaignd/faults takes).",
        example: Some("\"faults.json\""),
        secret: false,
        set: |c, s| {
            if s.is_empty() {
                return Err("must be a file path".into());
            }
            c.emulator.faults = Some(s.into());
            Ok(())
        },
        get: |c| {
            c.emulator
                .faults
                .as_ref()
                .map(|p| text(p.display().to_string()))
        },
    },
    Key {
        path: "emulator.journal_size",
        env: "CAMPAIGND_JOURNAL_SIZE",
        flag: Some("--journal-size"),
        doc: "Requests the journal keeps, at most 100000 (0 keeps none); the \
              oldest go first. Bodies over 64 KiB are not kept.",
        example: None,
        secret: false,
        set: |c, s| {
            c.emulator.journal_size = s
                .parse()
                .ok()
                .filter(|n| *n <= 100_000)
                .ok_or("must be an integer from 0 to 100000")?;
            Ok(())
        },
        get: |c| Some(integer(c.emulator.journal_size)),
    },
    Key {
        path: "emulator.seed",
        env: "CAMPAIGND_SEED",
        flag: Some("--seed"),
        doc: "With --emulator: a snapshot (`campaignd snapshot save`) to \
              replace the database's contents with at every start, and what a \
              reset returns to. It runs before --demo, which then adds the \
              demo center if the snapshot has none.",
        example: Some("\"ci-seed.ndjson\""),
        secret: false,
        set: |c, s| {
            if s.is_empty() {
                return Err("must be a file path".into());
            }
            c.emulator.seed = Some(s.into());
            Ok(())
        },
        get: |c| {
            c.emulator
                .seed
                .as_ref()
                .map(|p| text(p.display().to_string()))
        },
    },
];

fn boolean(s: &str) -> Result<bool, String> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

const POSITIVE: &str = "must be a positive integer";
const NON_NEGATIVE: &str = "must be a non-negative integer";

fn positive(s: &str) -> Result<NonZeroU32, String> {
    s.parse().map_err(|_| POSITIVE.to_owned())
}

fn text(value: impl Into<String>) -> toml::Value {
    toml::Value::String(value.into())
}

fn integer(n: impl TryInto<i64>) -> toml::Value {
    // Only an absurd cache size could exceed i64::MAX; it prints as the cap.
    toml::Value::Integer(n.try_into().unwrap_or(i64::MAX))
}

/// Parses durations such as `500ms`, `5s`, `2m`, or bare seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXPECTED: &str = "must be a duration such as 500ms, 5s or 2m";
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = number.parse().map_err(|_| EXPECTED)?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(|| EXPECTED.into()),
        _ => Err(EXPECTED.into()),
    }
}

/// Writes a duration in the largest unit that [`parse_duration`] reads back
/// exactly.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms != 0 && ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn durations_parse_with_units() {
        for (text, expected) in [
            ("500ms", Ok(Duration::from_millis(500))),
            ("5s", Ok(Duration::from_secs(5))),
            ("7", Ok(Duration::from_secs(7))),
            ("2m", Ok(Duration::from_mins(2))),
            (" 3s ", Ok(Duration::from_secs(3))),
            ("5h", Err(())),
            ("fast", Err(())),
            ("", Err(())),
            ("-1s", Err(())),
        ] {
            assert_eq!(parse_duration(text).map_err(|_| ()), expected, "{text:?}");
        }
    }

    #[test]
    fn durations_print_in_a_form_that_parses_back_to_them() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_mins(2), "2m"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }

    #[test]
    fn every_key_has_its_own_path_variable_and_flag_in_a_known_section() {
        let (mut paths, mut envs, mut flags) = (HashSet::new(), HashSet::new(), HashSet::new());
        for key in KEYS {
            assert!(paths.insert(key.path), "{} twice", key.path);
            assert!(envs.insert(key.env), "{} twice", key.env);
            assert!(key.env.starts_with("CAMPAIGND_"), "{}", key.env);
            if let Some(flag) = key.flag {
                assert!(flags.insert(flag), "{flag} twice");
                assert!(flag.starts_with("--"), "{flag}");
            }
            assert!(
                SECTIONS.iter().any(|(s, _)| *s == key.section()),
                "{} is in no section",
                key.path
            );
            let default = Config::default();
            assert_eq!(
                (key.get)(&default).is_none(),
                key.example.is_some(),
                "{}: an example is for keys unset by default, and only them",
                key.path
            );
        }
    }
}
