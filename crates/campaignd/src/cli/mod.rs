//! The command line: one binary, `campaignd`, with `serve`, the admin
//! commands that work on the database directly, and the remote commands that
//! call a running API.

mod admin;
mod args;
mod config;
mod copy;
mod db;
mod demo;
mod input;
mod leads;
mod output;
mod records;
mod remote;
mod serve;
mod snapshot;

use std::future::Future;
use std::process::ExitCode;

use crate::cli::args::{
    CampaignCommand, CenterCommand, Command, ConfigCommand, KeyCommand, SnapshotCommand,
    UserCommand,
};
use crate::cli::output::print_stdout;

/// Exit status for bad usage: clap's, and an invalid configuration's.
const EXIT_USAGE: u8 = 2;

/// Parses the command line, loads the configuration, runs the command and
/// maps failure to an exit code: 0 success, 1 failure (the reason on
/// standard error), 2 bad usage or an invalid configuration, and for the
/// remote commands 3-7 (see `campaignd get --help`).
pub(crate) fn main() -> ExitCode {
    let cli = args::parse();
    let flags = cli.config_flags();
    let result = match cli.command {
        // The remote commands read only their own flags: the configuration
        // is a node's, not the API client's.
        Command::Get {
            campaign_id,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::get(&remote, campaign_id).await
        }),
        Command::List { args, remote } => block_on(0, BLOCKING_THREADS, async move {
            remote::list(&remote, &args).await
        }),
        Command::Users {
            campaign,
            limit,
            offset,
            all,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::users(&remote, campaign, (limit, offset), all).await
        }),
        Command::Leads {
            campaign_id,
            limit,
            offset,
            all,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            leads::list(&remote, campaign_id, (limit, offset), all).await
        }),
        Command::ImportLeads(args) => {
            block_on(
                0,
                BLOCKING_THREADS,
                async move { leads::import(&args).await },
            )
        }
        Command::Copy(args) => block_on(0, BLOCKING_THREADS, async move { copy::run(&args).await }),
        Command::Assign {
            campaign_id,
            user_ids,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::assign(&remote, campaign_id, &user_ids).await
        }),
        Command::Unassign {
            campaign_id,
            user_id,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::unassign(&remote, campaign_id, user_id).await
        }),
        Command::Create { body, remote } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Create(body)).await
        }),
        Command::Update {
            campaign_id,
            body,
            if_match,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Update(campaign_id, body, if_match)).await
        }),
        Command::Delete {
            campaign_id,
            if_match,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Delete(campaign_id, if_match)).await
        }),
        Command::Start {
            campaign_id,
            if_match,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Start(campaign_id, if_match)).await
        }),
        Command::Pause {
            campaign_id,
            if_match,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Pause(campaign_id, if_match)).await
        }),
        Command::Stop {
            campaign_id,
            if_match,
            remote,
        } => block_on(0, BLOCKING_THREADS, async move {
            remote::write(&remote, remote::Write::Stop(campaign_id, if_match)).await
        }),
        Command::Config(ConfigCommand::Default) => print_stdout(&config::example()),
        command => {
            let effective = match config::load(cli.config.as_deref(), &flags) {
                Ok(effective) => effective,
                Err(e) => {
                    for problem in &e.0 {
                        eprintln!("error: {problem}");
                    }
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            match command {
                Command::Config(_) => print_stdout(&config::show(&effective)),
                Command::Serve(_) => {
                    let config = effective.config;
                    campaignd_server::logging::init(config.log.format);
                    let blocking = blocking_threads(config.database.pool_size());
                    block_on(config.worker_threads(), blocking, serve::run(config))
                }
                command => {
                    let blocking = blocking_threads(effective.config.database.pool_size());
                    block_on(0, blocking, admin(command, effective.config.database))
                }
            }
        }
    };
    campaignd_server::logging::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            e.downcast_ref::<remote::RemoteError>()
                .map_or(ExitCode::FAILURE, |r| ExitCode::from(r.exit_code()))
        }
    }
}

/// The runtime's blocking pool, at least (see [`block_on`]).
const BLOCKING_THREADS: usize = 4;

/// The blocking pool for a database of `pool_size` connections: SQLite's
/// pooled reads (one fewer than its readers) and two more, for an admin
/// write beside them. More would only wait for a connection; fewer queue.
fn blocking_threads(pool_size: std::num::NonZeroU32) -> usize {
    (pool_size.get() as usize + 1).max(BLOCKING_THREADS)
}

/// Runs `work` on a runtime with `workers` threads (0: one per core) and
/// at most `blocking` threads for blocking calls.
fn block_on(
    workers: usize,
    blocking: usize,
    work: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    // One thread of work (one usable core, or worker_threads = 1): the
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
    // SQLite's pooled reads (one fewer than its readers at once) and its
    // rare admin writes are the blocking pool's only work. Uncapped, it kept a thread
    // for every read that started before the last one's thread was idle
    // again (25 after a burst of list reads), each with its stack and
    // allocator heap, and idle threads woken in turn never retired.
    let runtime = builder
        .max_blocking_threads(blocking)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    runtime.block_on(work)
}

/// The admin commands, on the configured database.
async fn admin(command: Command, database: config::Database) -> anyhow::Result<()> {
    let pool_size = database.pool_size();
    let url = database.url;
    let (store, report) = db::open(&url, pool_size).await?;
    let store = &*store;
    match command {
        Command::Serve(_)
        | Command::Config(_)
        | Command::Get { .. }
        | Command::List { .. }
        | Command::Create { .. }
        | Command::Update { .. }
        | Command::Delete { .. }
        | Command::Start { .. }
        | Command::Pause { .. }
        | Command::Stop { .. }
        | Command::Users { .. }
        | Command::Assign { .. }
        | Command::Leads { .. }
        | Command::ImportLeads(_)
        | Command::Copy(_)
        | Command::Unassign { .. } => unreachable!("not an admin command"),
        Command::Snapshot(SnapshotCommand::Save(args)) => snapshot::save(store, &args).await,
        Command::Audit(args) => admin::audit::list(store, &args).await,
        Command::User(UserCommand::Import(args)) => admin::users::import(store, &args).await,
        Command::User(UserCommand::List(args)) => admin::users::list(store, &args).await,
        Command::User(UserCommand::Delete(args)) => admin::users::delete(store, &args).await,
        Command::Migrate => {
            if report.applied.is_empty() {
                println!("{url}: schema is up to date (version {})", report.current);
            } else {
                let applied: Vec<String> = report.applied.iter().map(ToString::to_string).collect();
                println!(
                    "{url}: applied migration(s) {}; schema is at version {}",
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
