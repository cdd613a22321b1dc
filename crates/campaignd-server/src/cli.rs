//! The command line: one binary, `campaignd`, with `serve` and the admin
//! commands. Commands and flags that scripts rely on are part of the
//! contract: change them only compatibly.

use std::path::PathBuf;
use std::process::ExitCode;

use campaignd_model::{ApiKeyId, ContactCenterName, Scope};
use clap::{Args, Parser, Subcommand};

use crate::admin;
use crate::db::{DEFAULT_DATABASE_URL, DatabaseUrl};

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
pub struct Cli {
    /// Where the data lives: sqlite://PATH (a file, created if missing;
    /// sqlite:///ABS/PATH for an absolute path) or postgres://...
    #[arg(long, global = true, env = "CAMPAIGND_DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          value_name = "URL")]
    pub database_url: DatabaseUrl,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (Get campaign, Get list of campaigns, health,
    /// OpenAPI). Stops on SIGTERM or SIGINT after in-flight requests finish.
    Serve(crate::serve::ServeArgs),
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
        remote: crate::remote::Remote,
    },
    /// List campaigns through the API, one page or --all (remote: needs
    /// --base-url or --cluster-id, and --api-key).
    ///
    /// Exit status: 0 success, 3 unauthorized or forbidden, 5 invalid filter,
    /// 6 rate limited, 1 anything else.
    List {
        /// Filters and paging.
        #[command(flatten)]
        args: crate::remote::ListArgs,
        /// Where the API is.
        #[command(flatten)]
        remote: crate::remote::Remote,
    },
}

/// `campaignd center ...`
#[derive(Debug, Subcommand)]
pub enum CenterCommand {
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
pub enum KeyCommand {
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
pub enum CampaignCommand {
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
pub struct ImportArgs {
    /// The contact center to import into.
    #[arg(long, value_name = "NAME")]
    pub center: ContactCenterName,
    /// The file to read, or '-' for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Arguments of `campaign export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The contact center to export.
    #[arg(long, value_name = "NAME")]
    pub center: ContactCenterName,
    /// Write here (replaced only once the export is complete) instead of
    /// standard output.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// Parses the command line, runs the command and maps failure to an exit
/// code: 0 success, 1 failure (the reason on standard error), 2 bad usage,
/// and for the remote commands 3-7 (see `campaignd get --help`).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = match &cli.command {
        Command::Serve(args) => args.worker_threads(),
        _ => 0,
    };
    // One thread of work (one usable core, or --worker-threads 1): the
    // single-threaded scheduler, which polls tasks without the work-stealing
    // machinery (queues, wake-ups, parking) a pool needs.
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            builder.worker_threads(workers);
        }
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    crate::telemetry::flush_logs();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            e.downcast_ref::<crate::remote::RemoteError>()
                .map_or(ExitCode::FAILURE, |r| ExitCode::from(r.exit_code()))
        }
    }
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => crate::telemetry::init(args.log_format),
        Command::Get {
            campaign_id,
            remote,
        } => return crate::remote::get(remote, *campaign_id).await,
        Command::List { args, remote } => return crate::remote::list(remote, args).await,
        _ => {}
    }
    let (store, report) = crate::db::open(&cli.database_url).await?;
    if let Command::Serve(args) = cli.command {
        return crate::serve::run(store, args).await;
    }
    let store = &*store;
    match cli.command {
        Command::Serve(_) | Command::Get { .. } | Command::List { .. } => {
            unreachable!("handled above")
        }
        Command::Migrate => {
            if report.applied.is_empty() {
                println!(
                    "{}: schema is up to date (version {})",
                    cli.database_url, report.current
                );
            } else {
                let applied: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
                println!(
                    "{}: applied migration(s) {}; schema is at version {}",
                    cli.database_url,
                    applied.join(", "),
                    report.current
                );
            }
            Ok(())
        }
        Command::Center(CenterCommand::Create { name, json }) => {
            admin::centers::create(store, &name, json).await
        }
        Command::Center(CenterCommand::List { json }) => admin::centers::list(store, json).await,
        Command::Key(KeyCommand::Create {
            center,
            scopes,
            name,
            json,
        }) => admin::keys::create(store, &center, &scopes, name, json).await,
        Command::Key(KeyCommand::List { center, json }) => {
            admin::keys::list(store, &center, json).await
        }
        Command::Key(KeyCommand::Revoke { key_id }) => admin::keys::revoke(store, key_id).await,
        Command::Campaign(CampaignCommand::Import(args)) => {
            admin::campaigns::import(store, &args).await
        }
        Command::Campaign(CampaignCommand::Export(args)) => {
            admin::campaigns::export(store, &args).await
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
}
