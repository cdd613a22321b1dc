//! The command line: one binary, `campaignd`, with `serve`, the admin
//! commands that work on the database directly, and the remote commands that
//! call a running API.

mod admin;
mod args;
mod db;
mod demo;
mod output;
mod remote;
mod serve;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::args::{CampaignCommand, CenterCommand, Cli, Command, KeyCommand};

/// Parses the command line, runs the command and maps failure to an exit
/// code: 0 success, 1 failure (the reason on standard error), 2 bad usage,
/// and for the remote commands 3-7 (see `campaignd get --help`).
pub(crate) fn main() -> ExitCode {
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

/// Runs one parsed command.
async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => campaignd_server::logging::init(args.log_format),
        Command::Get {
            campaign_id,
            remote,
        } => return remote::get(remote, *campaign_id).await,
        Command::List { args, remote } => return remote::list(remote, args).await,
        _ => {}
    }
    let (store, report) = db::open(&cli.database_url).await?;
    if let Command::Serve(args) = cli.command {
        return serve::run(store, args).await;
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
