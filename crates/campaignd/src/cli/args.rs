//! The command line's shape: every command, argument and flag, with its
//! `--help` text. Commands and flags that scripts rely on are part of the
//! contract: change them only compatibly.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use campaignd_model::{ApiKeyId, ContactCenterName, Scope};
use campaignd_server::logging::LogFormat;
use campaignd_server::{AppConfig, Limits, Quota};
use clap::{Args, Parser, Subcommand};

use crate::cli::db::{DEFAULT_DATABASE_URL, DatabaseUrl};

/// campaignd: a self-hostable Dialer Campaigns API (Voiso v4 compatible).
///
/// `campaignd serve` runs the service; the other commands administer its
/// database directly: contact centers, API keys, campaign import and export.
/// Every command opens the database given by --database-url and applies any
/// pending migrations first.
#[derive(Debug, Parser)]
#[command(
    name = "campaignd",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Where the data lives: sqlite://PATH (a file, created if missing;
    /// sqlite:///ABS/PATH for an absolute path) or postgres://...
    #[arg(long, global = true, env = "CAMPAIGND_DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          value_name = "URL")]
    pub(crate) database_url: DatabaseUrl,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP API (Get campaign, Get list of campaigns, health,
    /// OpenAPI). Stops on SIGTERM or SIGINT after in-flight requests finish.
    Serve(ServeArgs),
    /// Apply pending database migrations and print the schema version.
    Migrate,
    /// Create and list contact centers (tenants).
    #[command(subcommand)]
    Center(CenterCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Import and export a contact center's campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Get one campaign through the API (remote: needs --base-url or
    /// --cluster-id, and --api-key).
    ///
    /// Exit status: 0 found, 3 unauthorized or forbidden, 4 not found,
    /// 5 invalid request, 6 rate limited, 1 anything else.
    Get {
        /// The campaign's id.
        campaign_id: i64,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// List campaigns through the API, one page or --all (remote: needs
    /// --base-url or --cluster-id, and --api-key).
    ///
    /// Exit status: 0 success, 3 unauthorized or forbidden, 5 invalid filter,
    /// 6 rate limited, 1 anything else.
    List {
        /// Filters and paging.
        #[command(flatten)]
        args: crate::cli::remote::ListArgs,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
}

/// `campaignd center ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CenterCommand {
    /// Create a contact center. Fails if the name is taken.
    Create {
        /// Its name: 1-100 characters, unique; admin commands address it by name.
        name: ContactCenterName,
        /// Print the new center as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List contact centers with their campaign and active key counts.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `campaignd key ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create an API key and print it. The key is shown this once: only a
    /// keyed hash is stored. A contact center holds at most 50 active keys.
    Create {
        /// The contact center the key acts for.
        #[arg(long, value_name = "NAME")]
        center: ContactCenterName,
        /// A scope to grant (repeatable): campaigns.read (every GET) or
        /// campaigns.manage (writes and lifecycle actions; does not imply read).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<Scope>,
        /// A label to recognise the key by in listings.
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
        /// Print a JSON object with "id" and "key" (and the rest) instead.
        #[arg(long)]
        json: bool,
    },
    /// List a contact center's keys, masked to their last 4 characters.
    List {
        /// The contact center.
        #[arg(long, value_name = "NAME")]
        center: ContactCenterName,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id (see `key list`). Takes effect on running servers
    /// within a second, and survives a crash.
    Revoke {
        /// The key's id (not the key itself).
        key_id: ApiKeyId,
    },
}

/// `campaignd campaign ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CampaignCommand {
    /// Import campaigns from a JSON array or NDJSON (one object per line), in
    /// the v4 campaign form plus optional "live" and "method".
    ///
    /// Given ids, statuses and timestamps are kept; a missing id takes the
    /// next free id, missing timestamps the current time, a missing status
    /// "draft". Every record is checked first; if any is invalid or clashes
    /// with an existing id or name, nothing is imported and each problem is
    /// reported by record number and field.
    Import(ImportArgs),
    /// Export a contact center's campaigns as NDJSON, one per line, by id:
    /// the v4 form plus "live" and "method", ready for `campaign import`.
    Export(ExportArgs),
}

/// Arguments of `campaign import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The contact center to import into.
    #[arg(long, value_name = "NAME")]
    pub(crate) center: ContactCenterName,
    /// The file to read, or '-' for standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

/// Arguments of `campaign export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The contact center to export.
    #[arg(long, value_name = "NAME")]
    pub(crate) center: ContactCenterName,
    /// Write here (replaced only once the export is complete) instead of
    /// standard output.
    #[arg(value_name = "FILE")]
    pub(crate) file: Option<PathBuf>,
}

/// Parses durations such as `500ms`, `5s`, `2m`, or bare seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 500ms, 5s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?} is not a duration such as 500ms, 5s or 2m")),
    }
}

/// The flags of `campaignd serve`, each with a `CAMPAIGND_*` twin.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "CAMPAIGND_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub(crate) listen: SocketAddr,
    /// This deployment's cluster id (as in https://{cluster_id}.voiso.com),
    /// shown in the OpenAPI document.
    #[arg(long, env = "CAMPAIGND_CLUSTER_ID", value_name = "ID")]
    pub(crate) cluster_id: Option<String>,
    /// Sustained requests per second allowed per API key (and per client
    /// address for requests that fail authentication).
    #[arg(
        long,
        env = "CAMPAIGND_RATE_LIMIT_PER_SECOND",
        default_value = "50",
        value_name = "N"
    )]
    pub(crate) rate_limit_per_second: NonZeroU32,
    /// Requests a key may make at once before the per-second rate applies.
    #[arg(
        long,
        env = "CAMPAIGND_RATE_LIMIT_BURST",
        default_value = "100",
        value_name = "N"
    )]
    pub(crate) rate_limit_burst: NonZeroU32,
    /// Ensure a `demo` contact center with sample campaigns exists, create a
    /// key for it with both scopes, and print the key and a curl command.
    #[arg(long, env = "CAMPAIGND_DEMO")]
    pub(crate) demo: bool,
    /// Most connections open at once; more wait to be accepted.
    #[arg(
        long,
        env = "CAMPAIGND_MAX_CONNECTIONS",
        default_value = "1024",
        value_name = "N"
    )]
    pub(crate) max_connections: u32,
    /// How long a client may take to send a request's headers (also the
    /// idle time allowed between requests on a kept-alive connection).
    #[arg(long, env = "CAMPAIGND_HEADER_READ_TIMEOUT", default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) header_read_timeout: Duration,
    /// Longest the storage work of a request may take before the request is
    /// answered 503 (a stalled database never holds a client longer).
    #[arg(long, env = "CAMPAIGND_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) request_timeout: Duration,
    /// On SIGTERM or SIGINT, how long in-flight requests get to finish.
    #[arg(long, env = "CAMPAIGND_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) shutdown_grace: Duration,
    /// Memory for cached rendered responses, in MiB.
    #[arg(
        long,
        env = "CAMPAIGND_CACHE_MB",
        default_value = "16",
        value_name = "MIB"
    )]
    pub(crate) cache_mb: usize,
    /// Threads serving requests (default: one per usable core). With one,
    /// the server runs on a single-threaded scheduler.
    #[arg(long, env = "CAMPAIGND_WORKER_THREADS", value_name = "N")]
    pub(crate) worker_threads: Option<NonZeroUsize>,
    /// Log format (filter with CAMPAIGND_LOG or RUST_LOG, default info).
    #[arg(
        long,
        env = "CAMPAIGND_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub(crate) log_format: LogFormat,
}

impl ServeArgs {
    /// How many threads serve requests: the flag, else the cores this
    /// process may use (its CPU affinity included).
    pub(crate) fn worker_threads(&self) -> usize {
        self.worker_threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        )
    }

    /// The request path's configuration.
    pub(crate) fn app_config(&self) -> AppConfig {
        AppConfig {
            quota: Quota {
                per_second: self.rate_limit_per_second,
                burst: self.rate_limit_burst,
            },
            cache_bytes: self.cache_mb * 1024 * 1024,
            request_timeout: self.request_timeout,
            cluster_id: self.cluster_id.clone(),
        }
    }

    /// The listener's limits.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: self.header_read_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_scopes_are_refused_at_parse_time() {
        let err = Cli::try_parse_from([
            "campaignd",
            "key",
            "create",
            "--center",
            "a",
            "--scope",
            "campaigns.write",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("unknown scope"), "{err}");
        let ok = Cli::try_parse_from([
            "campaignd",
            "key",
            "create",
            "--center",
            "a",
            "--scope",
            "campaigns.read",
            "--scope",
            "campaigns.manage",
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
