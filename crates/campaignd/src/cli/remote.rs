//! The remote commands (`get`, `list`, `create`, `update`, `delete`,
//! `start`, `pause`, `stop`, `users`, `assign`, `unassign`; the lead
//! commands are in `leads`): the API over HTTP through `campaignd-client`,
//! against campaignd or hosted Voiso.

use std::fmt::Write as _;

use campaignd_client::{Campaign, CampaignFilter, Client, Error, Status, Strategy};
use clap::Args;
use futures_util::TryStreamExt;
use serde_json::Value;

use crate::cli::output::{print_stdout, print_table};

/// Exit status for a missing, invalid or revoked key, or a missing scope.
pub(crate) const EXIT_AUTH: u8 = 3;
/// Exit status for a campaign that does not exist.
pub(crate) const EXIT_NOT_FOUND: u8 = 4;
/// Exit status for a request the server refused as invalid (422).
pub(crate) const EXIT_VALIDATION: u8 = 5;
/// Exit status when rate limited after retries.
pub(crate) const EXIT_RATE_LIMITED: u8 = 6;
/// Exit status for a conflict with the campaign's state (409).
pub(crate) const EXIT_CONFLICT: u8 = 7;
/// Exit status for a stale `--if-match` tag (412): nothing was changed.
pub(crate) const EXIT_PRECONDITION: u8 = 8;

/// Where the API is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub(crate) struct Remote {
    /// The API's base URL, e.g. http://127.0.0.1:8080/api/v4 (a URL without
    /// a path gets /api/v4).
    #[arg(
        long,
        env = "CAMPAIGND_BASE_URL",
        value_name = "URL",
        conflicts_with = "cluster_id"
    )]
    pub(crate) base_url: Option<String>,
    /// A Voiso cluster id: the API at https://{cluster_id}.voiso.com/api/v4.
    #[arg(long, env = "CAMPAIGND_CLUSTER_ID", value_name = "ID")]
    pub(crate) cluster_id: Option<String>,
    /// The contact center API key (prefer the environment variable: command
    /// lines are visible to other users of the machine).
    #[arg(
        long,
        env = "CAMPAIGND_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub(crate) api_key: String,
    /// Print the server's JSON unchanged.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Remote {
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        let mut builder = Client::builder().api_key(&self.api_key);
        builder = match (&self.base_url, &self.cluster_id) {
            (Some(url), _) => builder.base_url(url),
            (None, Some(cluster)) => builder.cluster_id(cluster),
            (None, None) => anyhow::bail!(
                "give --base-url (CAMPAIGND_BASE_URL) or --cluster-id (CAMPAIGND_CLUSTER_ID)"
            ),
        };
        Ok(builder.build()?)
    }
}

/// Arguments of `campaignd list`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    /// Case-insensitive substring of the name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Exact status (draft, active, paused, ...).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Exact strategy (simple or predictive_ai).
    #[arg(long)]
    pub(crate) strategy: Option<String>,
    /// Exact dialing method.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// Only campaigns that do (true) or do not (false) take pushed leads.
    #[arg(long, value_name = "true|false")]
    pub(crate) live: Option<bool>,
    /// Page size, 1-100.
    #[arg(long, conflicts_with = "all")]
    pub(crate) limit: Option<u32>,
    /// Campaigns to skip.
    #[arg(long)]
    pub(crate) offset: Option<u64>,
    /// Every matching campaign, walking all pages.
    #[arg(long)]
    pub(crate) all: bool,
}

/// A failure with the exit status it maps to. An answer from the server is
/// reported in the server's own words (`the server answered 404: Not
/// found`); anything else by what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.error))]
pub(crate) struct RemoteError {
    /// What went wrong.
    pub(crate) error: Error,
}

fn describe(error: &Error) -> String {
    match (error.status(), error.server_message()) {
        (Some(status), Some(message)) if message.contains('\n') => {
            format!(
                "the server answered {status}:\n  {}",
                message.replace('\n', "\n  ")
            )
        }
        (Some(status), Some(message)) => format!("the server answered {status}: {message}"),
        (Some(status), None) => format!("the server answered {status}"),
        (None, _) => error.to_string(),
    }
}

impl RemoteError {
    /// The process exit status for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match &self.error {
            Error::Unauthorized | Error::Forbidden => EXIT_AUTH,
            Error::NotFound => EXIT_NOT_FOUND,
            Error::Validation { .. } => EXIT_VALIDATION,
            Error::RateLimited { .. } => EXIT_RATE_LIMITED,
            Error::Conflict { .. } => EXIT_CONFLICT,
            Error::PreconditionFailed => EXIT_PRECONDITION,
            _ => 1,
        }
    }
}

/// `error` as a command's failure, with its exit status.
pub(crate) fn remote(error: Error) -> anyhow::Error {
    RemoteError { error }.into()
}

/// `campaignd get CAMPAIGN_ID`.
pub(crate) async fn get(remote_args: &Remote, id: i64) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    if remote_args.json {
        let body = client.get_campaign_json(id).await.map_err(remote)?;
        print_stdout(&format!("{}\n", String::from_utf8_lossy(&body)))?;
        return Ok(());
    }
    let c = client.get_campaign(id).await.map_err(remote)?;
    print_stdout(&summary(&c))?;
    Ok(())
}

fn summary(c: &Campaign) -> String {
    let mut out = format!("Campaign {}: {}\n", c.id, c.name);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<22}{value}");
    };
    line("status", c.status.to_string());
    line("strategy", c.strategy.to_string());
    let mut dial = format!("{}", c.dial_level);
    if let Some(o) = &c.dial_level_override {
        let _ = write!(
            dial,
            " (override {} from {} active agents, {})",
            o.value,
            o.active_agents_threshold,
            if o.enabled { "enabled" } else { "disabled" }
        );
    }
    line("dial level", dial);
    line("max dial time", format!("{} s", c.max_dial_time));
    line("max wait time", format!("{} s", c.max_wait_time));
    line("max dial attempts", c.max_dial_attempts.to_string());
    let mut amd = yes_no(c.amd_enabled).to_owned();
    if let Some(v) = &c.amd_voicemail_message {
        let message = v
            .voice_message
            .as_ref()
            .map_or("no message chosen".to_owned(), |m| {
                format!("message {:?}", m.name)
            });
        let _ = write!(
            amd,
            " (voicemail {}, {message})",
            if v.enabled { "on" } else { "off" }
        );
    }
    line("answering machine", amd);
    let numbers: usize = c.caller_id_sets.iter().map(|s| s.phone_numbers.len()).sum();
    line(
        "caller id sets",
        format!("{} ({numbers} numbers)", c.caller_id_sets.len()),
    );
    if let Some(local) = c.use_local_caller_id {
        line("local caller id", yes_no(local).to_owned());
    }
    if let Some(asr) = c.asr_optimization_enabled {
        line("ASR optimization", yes_no(asr).to_owned());
    }
    line(
        "follow-up mode",
        c.follow_up_mode.clone().unwrap_or_else(|| "-".to_owned()),
    );
    line("created", c.created_at.clone());
    line("updated", c.updated_at.clone());
    out
}

/// `campaignd list`.
pub(crate) async fn list(remote_args: &Remote, args: &ListArgs) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let mut filter = CampaignFilter::new();
    if let Some(n) = &args.name {
        filter = filter.name(n);
    }
    if let Some(s) = &args.status {
        filter = filter.status(Status::from(s.as_str()));
    }
    if let Some(s) = &args.strategy {
        filter = filter.strategy(Strategy::from(s.as_str()));
    }
    if let Some(m) = &args.method {
        filter = filter.method(m);
    }
    if let Some(l) = args.live {
        filter = filter.live(l);
    }
    if let Some(l) = args.limit {
        filter = filter.limit(l);
    }
    if let Some(o) = args.offset {
        filter = filter.offset(o);
    }
    if remote_args.json && !args.all {
        let body = client.list_campaigns_json(&filter).await.map_err(remote)?;
        print_stdout(&format!("{}\n", String::from_utf8_lossy(&body)))?;
        return Ok(());
    }
    if remote_args.json {
        // Every page's items in one list-shaped object, each item as sent.
        let mut items: Vec<Value> = Vec::new();
        let mut offset = args.offset.unwrap_or(0);
        let total = loop {
            let body = client
                .list_campaigns_json(&filter.clone().limit(100).offset(offset))
                .await
                .map_err(remote)?;
            let mut page: Value = serde_json::from_slice(&body)?;
            let total = page["metadata"]["total"].as_u64().unwrap_or(0);
            let batch = page["campaigns"]
                .as_array_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            offset += batch.len() as u64;
            let done = batch.is_empty() || offset >= total;
            items.extend(batch);
            if done {
                break total;
            }
        };
        print_stdout(&format!(
            "{}\n",
            serde_json::json!({"campaigns": items, "metadata": {"total": total}})
        ))?;
        return Ok(());
    }
    let (campaigns, total) = if args.all {
        let all: Vec<Campaign> = client
            .campaigns(&filter)
            .try_collect()
            .await
            .map_err(remote)?;
        let n = all.len() as u64;
        (all, n)
    } else {
        let page = client.list_campaigns(&filter).await.map_err(remote)?;
        (page.campaigns, page.total)
    };
    let rows: Vec<Vec<String>> = campaigns
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                c.name.clone(),
                c.status.to_string(),
                c.strategy.to_string(),
                c.dial_level.to_string(),
                c.updated_at.clone(),
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "STATUS", "STRATEGY", "DIAL LEVEL", "UPDATED"],
        &rows,
    )?;
    eprintln!("{} of {total} campaign(s)", campaigns.len());
    Ok(())
}

/// A campaign document for `create` or `update`: JSON text, `@FILE`, or `-`
/// for standard input.
#[derive(Debug, Clone, Args)]
pub(crate) struct BodyArg {
    /// The JSON object to send: inline text, @FILE to read a file, or - to
    /// read standard input. For update, a merge patch: keys left out keep
    /// their value, null clears a nullable key.
    #[arg(value_name = "JSON|@FILE|-")]
    pub(crate) body: String,
}

impl BodyArg {
    /// The document, parsed (so a typo is caught here, not by the server).
    fn read(&self) -> anyhow::Result<Value> {
        use anyhow::Context as _;
        let text = if self.body == "-" {
            std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
        } else if let Some(path) = self.body.strip_prefix('@') {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        } else {
            self.body.clone()
        };
        let value: Value = serde_json::from_str(&text).context("the body is not valid JSON")?;
        anyhow::ensure!(value.is_object(), "the body must be a JSON object");
        Ok(value)
    }
}

/// `--if-match`, for the commands that change a campaign.
#[derive(Debug, Clone, Args)]
pub(crate) struct IfMatchArg {
    /// Change the campaign only if its entity tag is still this one (as
    /// printed by an earlier write, or the ETag of a read); else nothing
    /// changes and the exit status is 8.
    #[arg(long, value_name = "TAG")]
    pub(crate) if_match: Option<String>,
}

/// A write to make through the API.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// `create BODY`.
    Create(BodyArg),
    /// `update ID BODY`.
    Update(i64, BodyArg, IfMatchArg),
    /// `delete ID`.
    Delete(i64, IfMatchArg),
    /// `start ID`.
    Start(i64, IfMatchArg),
    /// `pause ID`.
    Pause(i64, IfMatchArg),
    /// `stop ID`.
    Stop(i64, IfMatchArg),
}

/// Makes `write` and prints the campaign it answers (its summary, or with
/// `--json` the campaign object), and its new entity tag on standard error.
pub(crate) async fn write(remote_args: &Remote, write: Write) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let tag = |m: &IfMatchArg| m.if_match.clone();
    let written = match &write {
        Write::Create(body) => client.create_campaign(&body.read()?).await,
        Write::Update(id, body, m) => {
            client
                .update_campaign(*id, &body.read()?, tag(m).as_deref())
                .await
        }
        Write::Delete(id, m) => client.delete_campaign(*id, tag(m).as_deref()).await,
        Write::Start(id, m) => client.start_campaign(*id, tag(m).as_deref()).await,
        Write::Pause(id, m) => client.pause_campaign(*id, tag(m).as_deref()).await,
        Write::Stop(id, m) => client.stop_campaign(*id, tag(m).as_deref()).await,
    }
    .map_err(remote)?;
    if remote_args.json {
        print_stdout(&format!("{}\n", serde_json::to_string(&written.campaign)?))?;
    } else {
        print_stdout(&summary(&written.campaign))?;
    }
    if matches!(write, Write::Delete(..)) {
        eprintln!("deleted campaign {}", written.campaign.id);
    } else {
        eprintln!("etag: {}", written.etag);
    }
    Ok(())
}

fn user_rows(users: &[campaignd_client::User]) -> Vec<Vec<String>> {
    users
        .iter()
        .map(|u| vec![u.id.to_string(), u.name.clone(), u.email.clone()])
        .collect()
}

/// `campaignd users [--campaign ID]`: a table, or with `--json` one user
/// object per line.
pub(crate) async fn users(
    remote_args: &Remote,
    campaign: Option<i64>,
    (limit, offset): (Option<u32>, Option<u64>),
    all: bool,
) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let (users, total) = if all {
        let users: Vec<_> = match campaign {
            Some(id) => client.all_campaign_users(id).try_collect().await,
            None => client.users().try_collect().await,
        }
        .map_err(remote)?;
        let n = users.len() as u64;
        (users, n)
    } else {
        let page = match campaign {
            Some(id) => client.campaign_users(id, limit, offset).await,
            None => client.list_users(limit, offset).await,
        }
        .map_err(remote)?;
        (page.users, page.total)
    };
    if remote_args.json {
        let mut out = String::new();
        for u in &users {
            let _ = writeln!(out, "{}", serde_json::to_string(u)?);
        }
        print_stdout(&out)?;
    } else {
        print_table(&["ID", "NAME", "EMAIL"], &user_rows(&users))?;
        eprintln!("{} of {total} user(s)", users.len());
    }
    Ok(())
}

/// `campaignd assign CAMPAIGN_ID USER_ID...`.
pub(crate) async fn assign(remote_args: &Remote, campaign: i64, ids: &[i64]) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let added = client.assign_users(campaign, ids).await.map_err(remote)?;
    if remote_args.json {
        print_stdout(&format!(
            "{}\n",
            serde_json::json!({ "added_users": added })
        ))?;
    } else {
        print_table(&["ID", "NAME", "EMAIL"], &user_rows(&added))?;
    }
    eprintln!(
        "{} user(s) newly assigned to campaign {campaign}",
        added.len()
    );
    Ok(())
}

/// `campaignd unassign CAMPAIGN_ID USER_ID`.
pub(crate) async fn unassign(remote_args: &Remote, campaign: i64, user: i64) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let removed = client.unassign_user(campaign, user).await.map_err(remote)?;
    if remote_args.json {
        print_stdout(&format!("{}\n", serde_json::json!({ "user": removed })))?;
    } else {
        print_table(
            &["ID", "NAME", "EMAIL"],
            &user_rows(std::slice::from_ref(&removed)),
        )?;
    }
    eprintln!("user {user} removed from campaign {campaign}");
    Ok(())
}
