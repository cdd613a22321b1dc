//! The command line's shape: every command, argument and flag, with its
//! `--help` text. Commands and flags that scripts rely on are part of the
//! contract: change them only compatibly.

use std::path::PathBuf;

use campaignd_model::{ApiKeyId, ContactCenterName, Scope};
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

use crate::cli::config::{Config, KEYS, Key};

/// campaignd: a self-hostable Dialer Campaigns API (Voiso v4 compatible).
///
/// `campaignd serve` runs the service; the other commands administer its
/// database directly: contact centers, API keys, campaign import and export.
/// Every command opens the database given by --database-url and applies any
/// pending migrations first. Settings can also come from a TOML file and
/// CAMPAIGND_* environment variables: see `campaignd config --help`.
#[derive(Debug, Parser)]
#[command(
    name = "campaignd",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// A TOML file of settings, layered between the defaults and the
    /// CAMPAIGND_* environment variables (see `campaignd config --help`).
    /// [env: CAMPAIGND_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    // Help from the config key database.url, added by `command()`.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP API (Get campaign, Get list of campaigns, health,
    /// OpenAPI). On SIGTERM or SIGINT, /readyz answers 503 for the shutdown
    /// delay, then the listener closes and in-flight requests finish.
    ///
    /// Each flag has a CAMPAIGND_* environment variable and a key in the
    /// config file; flags win over the environment, which wins over the
    /// file (see `campaignd config --help`).
    Serve(ServeArgs),
    /// Apply pending database migrations and print the schema version.
    Migrate,
    /// Copy a whole deployment into an empty database: contact centers,
    /// API keys (their hashes, and the secret they are hashed under, so
    /// every key keeps working), campaigns, users and their assignments,
    /// leads and the audit trail, ids kept.
    ///
    /// Shows progress per table, then reads every table back from the
    /// target and prints its row count and SHA-256, which must equal the
    /// source's (exit status 1 otherwise). Stop the source's nodes first.
    #[command(after_help = "Example: campaignd copy --from sqlite://campaignd.db \
  --to postgres://campaignd:PASSWORD@db.internal/campaignd")]
    Copy(crate::cli::copy::CopyArgs),
    /// Save a whole deployment as one portable file, for `serve --seed`.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Print an example config file, or the configuration `serve` would run
    /// with.
    ///
    /// Every setting of `serve`, and the database URL every command uses,
    /// comes from four layers, each overriding the one before, key by key:
    /// the built-in defaults, then a TOML file (--config FILE, or
    /// CAMPAIGND_CONFIG), then CAMPAIGND_* environment variables (an empty
    /// one counts as unset), then command-line flags. Every command but the
    /// remote get and list checks them all before it starts: a bad value, or
    /// a key the file should not have, stops it with exit status 2 and an
    /// error naming the key and the file, variable or flag it came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create and list contact centers (tenants).
    #[command(subcommand)]
    Center(CenterCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Import and export a contact center's campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Import and list a contact center's users (agents), whom campaigns
    /// are staffed with.
    #[command(subcommand)]
    User(UserCommand),
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
    /// Create a campaign through the API; it starts as a draft (remote;
    /// scope campaigns.manage).
    ///
    /// The body is a campaign object: name is required, every other key
    /// defaults. Prints the new campaign, and its entity tag on standard
    /// error. Exit status: 0 created, 3 unauthorized or forbidden, 5
    /// invalid body or name taken, 6 rate limited, 1 anything else.
    #[command(after_help = "Example: campaignd create '{\"name\": \"Autumn\", \"dial_level\": 2}'")]
    Create {
        /// The campaign.
        #[command(flatten)]
        body: crate::cli::remote::BodyArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Change a campaign through the API with a JSON merge patch (remote;
    /// scope campaigns.manage).
    ///
    /// Exit status: 0 updated, 3 unauthorized or forbidden, 4 not found, 5
    /// invalid body, 6 rate limited, 7 the status forbids it, 8 the
    /// --if-match tag is stale, 1 anything else.
    #[command(
        after_help = "Example: campaignd update 3 '{\"max_dial_attempts\": 5, \"method\": null}'"
    )]
    Update {
        /// The campaign's id.
        campaign_id: i64,
        /// The patch.
        #[command(flatten)]
        body: crate::cli::remote::BodyArg,
        /// A condition on its current version.
        #[command(flatten)]
        if_match: crate::cli::remote::IfMatchArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Delete a draft, stopped, completed or import_error campaign through
    /// the API (remote; scope campaigns.manage).
    ///
    /// Exit status as for update.
    Delete {
        /// The campaign's id.
        campaign_id: i64,
        /// A condition on its current version.
        #[command(flatten)]
        if_match: crate::cli::remote::IfMatchArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Start a draft, paused or auto_paused campaign (remote; scope
    /// campaigns.manage). Exit status as for update.
    Start {
        /// The campaign's id.
        campaign_id: i64,
        /// A condition on its current version.
        #[command(flatten)]
        if_match: crate::cli::remote::IfMatchArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Pause an active campaign (remote; scope campaigns.manage). Exit
    /// status as for update.
    Pause {
        /// The campaign's id.
        campaign_id: i64,
        /// A condition on its current version.
        #[command(flatten)]
        if_match: crate::cli::remote::IfMatchArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Stop an active, paused or auto_paused campaign (remote; scope
    /// campaigns.manage). Exit status as for update.
    Stop {
        /// The campaign's id.
        campaign_id: i64,
        /// A condition on its current version.
        #[command(flatten)]
        if_match: crate::cli::remote::IfMatchArg,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// List users through the API: the contact center's (scope users.read),
    /// or with --campaign those assigned to that campaign (scope
    /// campaigns.read). One page, or --all.
    ///
    /// Exit status: 0 success, 3 unauthorized or forbidden, 4 no such
    /// campaign, 5 invalid paging, 6 rate limited, 1 anything else.
    Users {
        /// Only the users assigned to this campaign.
        #[arg(long, value_name = "ID")]
        campaign: Option<i64>,
        /// Page size, 1-100.
        #[arg(long, conflicts_with = "all")]
        limit: Option<u32>,
        /// Users to skip.
        #[arg(long, conflicts_with = "all")]
        offset: Option<u64>,
        /// Every user, walking all pages.
        #[arg(long)]
        all: bool,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Assign users to a campaign through the API (remote; scope
    /// campaigns.manage). Prints the users newly assigned.
    ///
    /// Exit status: 0 assigned (or already), 4 no such campaign, 5 a user
    /// that does not exist (then nothing is assigned), 7 the campaign is
    /// stopping, stopped or completed, 3/6/1 as for the other commands.
    #[command(after_help = "Example: campaignd assign 3 42 128")]
    Assign {
        /// The campaign's id.
        campaign_id: i64,
        /// The users' ids (1 to 100).
        #[arg(required = true, num_args = 1..=100, value_name = "USER_ID")]
        user_ids: Vec<i64>,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Remove a user from a campaign through the API (remote; scope
    /// campaigns.manage).
    ///
    /// Exit status: 0 removed, 4 no such campaign or user, or not assigned,
    /// 7 the last user of an active campaign, 3/6/1 as for the other
    /// commands.
    Unassign {
        /// The campaign's id.
        campaign_id: i64,
        /// The user's id.
        user_id: i64,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// List a campaign's leads through the API, by priority then import
    /// order (remote; scope campaigns.read). One page, or --all.
    ///
    /// Exit status: 0 success, 4 no such campaign, 5 invalid paging, 3/6/1
    /// as for the other commands.
    Leads {
        /// The campaign's id.
        campaign_id: i64,
        /// Page size, 1-100.
        #[arg(long, conflicts_with = "all")]
        limit: Option<u32>,
        /// Leads to skip.
        #[arg(long, conflicts_with = "all")]
        offset: Option<u64>,
        /// Every lead, walking all pages.
        #[arg(long)]
        all: bool,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::cli::remote::Remote,
    },
    /// Import leads into a live campaign through the API (remote; scope
    /// campaigns.manage), in batches of up to 1000, each its own import.
    ///
    /// CSV columns: phone_number (required), name, priority, active,
    /// source_system, source_url, and X-... columns as context headers;
    /// empty cells are left out. JSON: the API's lead objects, one per line
    /// or in an array. A lead the server rejects (a bad number or field) or
    /// finds already in the campaign is counted, not an error; a batch the
    /// server refuses stops the import, and what earlier batches did stays.
    /// A batch sent while another import into the campaign runs is sent
    /// again after 2 s, up to 5 times. With --json, prints every phone
    /// number under created, rejected and duplicates.
    ///
    /// Exit status: 0 imported, 4 no such campaign, 7 the campaign is not
    /// live, is stopped or completed, or stayed busy; 3/6/1 as for the other
    /// commands.
    #[command(after_help = "Example: campaignd import-leads 3 leads.csv

leads.csv:
  phone_number,name,priority,X-Crm-Id
  15551230001,Ann,10,A-1
  15551230002,Bo,,A-2")]
    ImportLeads(crate::cli::leads::ImportLeadsArgs),
    /// List the audit trail of a contact center's campaign writes, oldest
    /// first (on this node's database).
    ///
    /// Each record: when, the campaign, the action, the acting key's id
    /// (never the key; "-" for the admin CLI), the request id, and the
    /// status before and after ("-" where the campaign did not exist).
    #[command(
        after_help = "Example: campaignd audit --center acme --campaign 3 --since 2026-01-15T00:00:00Z --json"
    )]
    Audit(AuditArgs),
}

/// `campaignd snapshot ...`
#[derive(Debug, Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Write every contact center, key (hashes and the server secret, never
    /// a key in the clear), campaign, user, lead and audit record to FILE as
    /// NDJSON, with progress per table; `serve --seed FILE` starts from it,
    /// and an emulator's reset returns to it. Take it while nothing writes:
    /// a table that changes during the save fails it.
    #[command(after_help = "Example: campaignd snapshot save ci-seed.ndjson")]
    Save(crate::cli::snapshot::SaveArgs),
}

/// `campaignd user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Import users in their v4 form, all or nothing: a JSON array or one
    /// object per line (NDJSON), each with name and email (and optionally
    /// an id; without one, the next free id is taken). Every other key is
    /// kept and served as given.
    ///
    /// Every problem is reported by record, line and field; if any record
    /// is invalid or its id is taken, nothing is imported.
    #[command(after_help = "Example: campaignd user import --center acme users.ndjson")]
    Import(UserImportArgs),
    /// List a contact center's users by id.
    List(UserListArgs),
    /// Remove a user from a contact center, and so from every campaign it
    /// staffs. A campaign it leaves without users stays as it is (an
    /// active one keeps dialing); it cannot start again until staffed.
    ///
    /// Exit status: 0 removed, 1 no such user (or center).
    #[command(after_help = "Example: campaignd user delete --center acme 42")]
    Delete(UserDeleteArgs),
}

/// Arguments of `campaignd user delete`.
#[derive(Debug, Args)]
pub(crate) struct UserDeleteArgs {
    /// The contact center's name.
    #[arg(long)]
    pub(crate) center: String,
    /// The user's id.
    #[arg(value_name = "USER_ID")]
    pub(crate) user_id: i64,
}

/// Arguments of `campaignd user import`.
#[derive(Debug, Args)]
pub(crate) struct UserImportArgs {
    /// The contact center's name.
    #[arg(long)]
    pub(crate) center: String,
    /// The file to read, or - for standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

/// Arguments of `campaignd user list`.
#[derive(Debug, Args)]
pub(crate) struct UserListArgs {
    /// The contact center's name.
    #[arg(long)]
    pub(crate) center: String,
    /// One JSON object per line (the v4 user objects) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `campaignd audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The contact center's name.
    #[arg(long)]
    pub(crate) center: String,
    /// Only this campaign's records.
    #[arg(long, value_name = "ID")]
    pub(crate) campaign: Option<i64>,
    /// Only records at or after this time (RFC 3339, e.g.
    /// 2026-01-15T10:30:00Z).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `campaignd config ...`
#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only move the bytes"
)]
pub(crate) enum ConfigCommand {
    /// Print a commented example config file: every key, with its flag,
    /// environment variable and default value.
    ///
    /// Keys unset by default are commented out. The file parses back to
    /// exactly the defaults; start from it with
    /// `campaignd config default > campaignd.toml`.
    Default,
    /// Print the configuration `serve` would run with, as TOML, with
    /// passwords and tokens masked.
    ///
    /// The defaults, then the config file (--config or CAMPAIGND_CONFIG),
    /// then CAMPAIGND_* environment variables, then the flags given here
    /// (the same as serve's); each value not from the defaults is followed by
    /// where it came from.
    ///
    /// Replace `serve` by `config show` in a command line to see what it
    /// would run. Exit status 2 if any value is invalid, as `serve` would.
    Show(ServeArgs),
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
    /// "draft". The input is read as a stream, so files of any size import
    /// in little memory, and the campaigns appear all at once when the last
    /// is written: if any record is invalid or clashes with an existing id
    /// or name, or the command is interrupted, nothing is imported, and each
    /// problem is reported by record number, line and field. Other commands
    /// (a key revoke, say) and the server's writes go ahead while it runs.
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

/// The flags of `campaignd serve` (and of `config show`, which takes the
/// same), kept as given: parsing, checking and defaults belong to the config
/// layers, so a flag, its environment variable and its file key are read by
/// one parser. Each flag's help comes from its config key ([`command`]).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[arg(long, value_name = "ID")]
    cluster_id: Option<String>,
    #[arg(long, value_name = "N")]
    rate_limit_per_second: Option<String>,
    #[arg(long, value_name = "N")]
    rate_limit_burst: Option<String>,
    #[arg(long, value_name = "N")]
    write_rate_limit_per_second: Option<String>,
    #[arg(long, value_name = "N")]
    write_rate_limit_burst: Option<String>,
    #[arg(long)]
    demo: bool,
    #[arg(long, value_name = "N")]
    max_connections: Option<String>,
    #[arg(long, value_name = "DURATION")]
    header_read_timeout: Option<String>,
    #[arg(long, value_name = "DURATION")]
    request_timeout: Option<String>,
    #[arg(long, value_name = "DURATION")]
    shutdown_delay: Option<String>,
    #[arg(long, value_name = "DURATION")]
    shutdown_grace: Option<String>,
    #[arg(long, value_name = "MIB")]
    cache_mb: Option<String>,
    #[arg(long, value_name = "N")]
    worker_threads: Option<String>,
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    #[arg(long)]
    emulator: bool,
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
    #[arg(long, value_name = "FILE")]
    faults: Option<String>,
    #[arg(long, value_name = "N")]
    journal_size: Option<String>,
    #[arg(long, value_name = "FILE")]
    seed: Option<String>,
}

impl ServeArgs {
    /// The flags given, by name, for the flag layer.
    fn given(&self) -> Vec<(&'static str, String)> {
        [
            ("--listen", &self.listen),
            ("--cluster-id", &self.cluster_id),
            ("--rate-limit-per-second", &self.rate_limit_per_second),
            ("--rate-limit-burst", &self.rate_limit_burst),
            (
                "--write-rate-limit-per-second",
                &self.write_rate_limit_per_second,
            ),
            ("--write-rate-limit-burst", &self.write_rate_limit_burst),
            ("--max-connections", &self.max_connections),
            ("--header-read-timeout", &self.header_read_timeout),
            ("--request-timeout", &self.request_timeout),
            ("--shutdown-delay", &self.shutdown_delay),
            ("--shutdown-grace", &self.shutdown_grace),
            ("--cache-mb", &self.cache_mb),
            ("--worker-threads", &self.worker_threads),
            ("--log-format", &self.log_format),
            ("--redis-url", &self.redis_url),
            ("--admin-token", &self.admin_token),
            ("--faults", &self.faults),
            ("--journal-size", &self.journal_size),
            ("--seed", &self.seed),
        ]
        .into_iter()
        .filter_map(|(flag, value)| Some((flag, value.clone()?)))
        .chain(self.demo.then(|| ("--demo", "true".to_owned())))
        .chain(self.emulator.then(|| ("--emulator", "true".to_owned())))
        .collect()
    }
}

impl Cli {
    /// The config flags given on the command line, by name, for the flag
    /// layer: the global --database-url, and serve's flags where the command
    /// takes them.
    pub(crate) fn config_flags(&self) -> Vec<(&'static str, String)> {
        let mut flags: Vec<_> = self
            .database_url
            .iter()
            .map(|url| ("--database-url", url.clone()))
            .collect();
        if let Command::Serve(args) | Command::Config(ConfigCommand::Show(args)) = &self.command {
            flags.extend(args.given());
        }
        flags
    }
}

/// The command line, with each config flag's help completed from its key:
/// what it means, its environment variable, its place in the file and its
/// default, so `--help`, the example file and the key table never disagree.
pub(crate) fn command() -> clap::Command {
    annotate(Cli::command())
        .mut_subcommand("serve", annotate)
        .mut_subcommand("config", |config| config.mut_subcommand("show", annotate))
}

/// Parses this process's command line (exiting on bad usage, as clap does).
pub(crate) fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

fn annotate(mut cmd: clap::Command) -> clap::Command {
    let defaults = Config::default();
    let found: Vec<(clap::Id, &Key)> = cmd
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let key = KEYS
                .iter()
                .find(|k| k.flag.and_then(|f| f.strip_prefix("--")) == Some(long))?;
            Some((arg.get_id().clone(), key))
        })
        .collect();
    for (id, key) in found {
        let mut help = format!("{} [env: {}] [config: {}]", key.doc, key.env, key.path);
        if let Some(value) = (key.get)(&defaults) {
            let value = match value {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            help.push_str(&format!(" [default: {value}]"));
        }
        cmd = cmd.mut_arg(id, |arg| arg.help(help));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        command().debug_assert();
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

    /// The flags that take no value.
    const SWITCHES: [&str; 2] = ["--demo", "--emulator"];

    /// `campaignd SUBCOMMAND` with every config flag of the key table given.
    fn every_flag(subcommand: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["campaignd"]
            .iter()
            .chain(subcommand)
            .map(|s| (*s).to_owned())
            .collect();
        for flag in KEYS.iter().filter_map(|k| k.flag) {
            args.push(flag.to_owned());
            if !SWITCHES.contains(&flag) {
                args.push(format!("value of {flag}"));
            }
        }
        args
    }

    #[test]
    fn every_keys_flag_reaches_the_flag_layer_from_serve_and_config_show() {
        for subcommand in [&["serve"][..], &["config", "show"]] {
            let cli = Cli::try_parse_from(every_flag(subcommand)).unwrap();
            let mut given = cli.config_flags();
            given.sort_unstable();
            let mut expected: Vec<(&str, String)> = KEYS
                .iter()
                .filter_map(|k| k.flag)
                .map(|flag| {
                    let value = if SWITCHES.contains(&flag) {
                        "true".to_owned()
                    } else {
                        format!("value of {flag}")
                    };
                    (flag, value)
                })
                .collect();
            expected.sort_unstable();
            assert_eq!(given, expected, "{subcommand:?}");
        }
    }

    #[test]
    fn every_flag_of_serve_is_a_config_key() {
        let cmd = command();
        let serve = cmd.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version", "config"].contains(&long) {
                continue;
            }
            let flag = format!("--{long}");
            assert!(
                KEYS.iter().any(|k| k.flag == Some(flag.as_str())),
                "{flag} has no config key"
            );
        }
    }

    #[test]
    fn each_config_flags_help_names_its_variable_file_key_and_default() {
        let mut cmd = command();
        // Building propagates the global --database-url into serve.
        cmd.build();
        let help = cmd
            .find_subcommand_mut("serve")
            .unwrap()
            .render_long_help()
            .to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for expected in [
            "[env: CAMPAIGND_RATE_LIMIT_BURST] [config: rate_limit.read_burst] [default: 100]",
            "[env: CAMPAIGND_LISTEN] [config: server.listen] [default: 127.0.0.1:8080]",
            "[env: CAMPAIGND_HEADER_READ_TIMEOUT] [config: server.header_read_timeout] [default: 5s]",
            "[env: CAMPAIGND_DATABASE_URL] [config: database.url] [default: sqlite://campaignd.db]",
            "[env: CAMPAIGND_CLUSTER_ID] [config: server.cluster_id]",
        ] {
            assert!(help.contains(expected), "{expected} not in:\n{help}");
        }
    }
}
