//! The remote lead commands: `leads` lists a campaign's leads, and
//! `import-leads` sends a CSV, NDJSON or JSON file to a campaign in batches
//! of at most 1000, with a progress bar and a summary.
//!
//! Records are read and sent a batch at a time, so a file of any size
//! imports in constant memory. Each batch is its own import: one the
//! server refuses stops the command, and the summary says what the
//! earlier batches did.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use campaignd_client::{Client, Lead, LeadsImport};
use clap::{Args, ValueEnum};
use futures_util::TryStreamExt;
use serde_json::{Map, Value};

use crate::cli::input::{open_input, progress_bar};
use crate::cli::output::{print_stdout, print_table};
use crate::cli::records::{Record, Records};
use crate::cli::remote::{Remote, remote};

/// Most leads one request carries (the API's limit).
const MAX_BATCH: usize = 1000;
/// Most bytes of leads one request carries: under the API's 2 MiB body
/// limit, with room for the array's commas.
const MAX_BATCH_BYTES: usize = 2 * 1024 * 1024 - 64 * 1024;
/// How often a batch is sent again while another import into the campaign
/// is running, and how long to wait before each (Voiso asks for about 2 s
/// between imports).
const IN_PROGRESS_RETRIES: u32 = 5;
const IN_PROGRESS_WAIT: Duration = Duration::from_secs(2);

/// The input's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LeadFormat {
    /// From the file name (.csv, .ndjson, .jsonl, .json), else from the
    /// first character (`[` or `{` is JSON).
    Auto,
    /// A header row, then one lead per row.
    Csv,
    /// One lead object per line, or a JSON array of them.
    Json,
}

/// Arguments of `campaignd import-leads`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImportLeadsArgs {
    /// The campaign's id.
    pub(crate) campaign_id: i64,
    /// The leads: a CSV file with a header row, NDJSON, or a JSON array;
    /// '-' for standard input.
    pub(crate) file: PathBuf,
    /// The file's format.
    #[arg(long, value_enum, default_value_t = LeadFormat::Auto)]
    pub(crate) format: LeadFormat,
    /// Leads per request, 1-1000.
    #[arg(long, default_value_t = MAX_BATCH as u16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) batch_size: u16,
    /// Where the API is.
    #[command(flatten)]
    pub(crate) remote: Remote,
}

/// One lead read from the file, or why the file cannot be read on.
type Read = anyhow::Result<Value>;

/// Reads CSV leads: `phone_number` (required), `name`, `priority`,
/// `active`, `source_system`, `source_url`, and any `X-...` column as a
/// context header. Empty cells are left out.
struct CsvLeads<R: std::io::Read> {
    rows: csv::StringRecordsIntoIter<R>,
    columns: Vec<Column>,
}

#[derive(Debug, Clone)]
enum Column {
    Field(&'static str),
    SourceSystem,
    SourceUrl,
    Header(String),
}

impl<R: std::io::Read> CsvLeads<R> {
    fn new(input: R) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(input);
        let header = reader.headers().context("cannot read the CSV header row")?;
        let mut columns = Vec::with_capacity(header.len());
        let mut unknown = Vec::new();
        for (position, name) in header.iter().enumerate() {
            columns.push(match name {
                "phone_number" => Column::Field("phone_number"),
                "name" => Column::Field("name"),
                "priority" => Column::Field("priority"),
                "active" => Column::Field("active"),
                "source_system" => Column::SourceSystem,
                "source_url" => Column::SourceUrl,
                n if n.len() > 2 && n.as_bytes()[..2].eq_ignore_ascii_case(b"x-") => {
                    Column::Header(n.to_owned())
                }
                // Named by position only: a file without a header row would
                // otherwise print its first lead, number and all.
                _ => {
                    unknown.push((position + 1).to_string());
                    continue;
                }
            });
        }
        if !unknown.is_empty() {
            anyhow::bail!(
                "the CSV header row names unknown column(s) (by position) {}: expected \
                 phone_number, name, priority, active, source_system, source_url and X-... \
                 context headers (is the header row missing?)",
                unknown.join(", ")
            );
        }
        if !columns
            .iter()
            .any(|c| matches!(c, Column::Field("phone_number")))
        {
            anyhow::bail!("the CSV header has no phone_number column");
        }
        Ok(Self {
            rows: reader.into_records(),
            columns,
        })
    }

    /// A cell as the API takes it: integers and booleans where the column
    /// holds them and the text reads as one; otherwise the text, for the
    /// server to judge (and reject the lead, if it must).
    fn cell(field: &str, text: &str) -> Value {
        match field {
            "priority" => text
                .parse::<i64>()
                .map_or_else(|_| Value::String(text.to_owned()), Value::from),
            "active" => match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => Value::String(text.to_owned()),
            },
            _ => Value::String(text.to_owned()),
        }
    }
}

impl<R: std::io::Read> Iterator for CsvLeads<R> {
    type Item = Read;

    fn next(&mut self) -> Option<Read> {
        let row = match self.rows.next()? {
            Ok(row) => row,
            Err(e) => return Some(Err(anyhow::anyhow!("cannot read the CSV: {e}"))),
        };
        let mut lead = Map::new();
        let mut source = Map::new();
        let mut headers = Map::new();
        for (column, text) in self.columns.iter().zip(row.iter()) {
            if text.is_empty() {
                continue;
            }
            match column {
                Column::Field(field) => {
                    lead.insert((*field).to_owned(), Self::cell(field, text));
                }
                Column::SourceSystem => {
                    source.insert("system".into(), text.into());
                }
                Column::SourceUrl => {
                    source.insert("url".into(), text.into());
                }
                Column::Header(name) => {
                    headers.insert(name.clone(), text.into());
                }
            }
        }
        if !source.is_empty() {
            lead.insert("source".into(), Value::Object(source));
        }
        if !headers.is_empty() {
            lead.insert("context_headers".into(), Value::Object(headers));
        }
        Some(Ok(Value::Object(lead)))
    }
}

/// Whether `path` (or, failing its name, the input's first character)
/// says CSV.
fn is_csv(path: &Path, input: &mut dyn BufRead) -> anyhow::Result<bool> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => return Ok(true),
        Some("json" | "ndjson" | "jsonl") => return Ok(false),
        _ => {}
    }
    let start = input.fill_buf().context("cannot read the leads")?;
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    let first = start.iter().find(|b| !b.is_ascii_whitespace());
    Ok(!matches!(first, Some(b'[' | b'{')))
}

/// The file's leads, one at a time.
fn leads(args: &ImportLeadsArgs) -> anyhow::Result<(Box<dyn Iterator<Item = Read>>, Option<u64>)> {
    let (mut input, len) = open_input(&args.file)?;
    let csv = match args.format {
        LeadFormat::Csv => true,
        LeadFormat::Json => false,
        LeadFormat::Auto => is_csv(&args.file, &mut input)?,
    };
    let records: Box<dyn Iterator<Item = Read>> = if csv {
        Box::new(CsvLeads::new(input)?)
    } else {
        Box::new(Records::new(input).map(|record| match record? {
            Record::Value(_, value) => Ok(value),
            Record::Invalid(at, problem) => Err(anyhow::anyhow!("{at}: {problem}")),
        }))
    };
    Ok((records, len))
}

/// Sends one batch, again while another import into the campaign runs.
async fn send(client: &Client, campaign: i64, batch: &[Value]) -> anyhow::Result<LeadsImport> {
    let mut tries = 0;
    loop {
        match client.import_leads(campaign, batch).await {
            Err(e) if e.is_import_in_progress() && tries < IN_PROGRESS_RETRIES => {
                tries += 1;
                tokio::time::sleep(IN_PROGRESS_WAIT).await;
            }
            result => return result.map_err(remote),
        }
    }
}

fn summary(total: &LeadsImport, batches: usize) -> String {
    format!(
        "{} created, {} rejected, {} duplicates ({} lead(s) in {batches} request(s))",
        total.created.len(),
        total.rejected.len(),
        total.duplicates.len(),
        total.created.len() + total.rejected.len() + total.duplicates.len(),
    )
}

/// `campaignd import-leads CAMPAIGN_ID FILE`.
pub(crate) async fn import(args: &ImportLeadsArgs) -> anyhow::Result<()> {
    let client = args.remote.client()?;
    // The bar counts leads: a file's are counted first (a quick scan), so
    // the bar has an end; standard input gets a spinner.
    // A pipe or FIFO can be read once: it gets a spinner.
    let regular =
        args.file.as_os_str() != "-" && std::fs::metadata(&args.file).is_ok_and(|m| m.is_file());
    let count = if regular {
        let (records, _) = leads(args)?;
        Some(records.count() as u64)
    } else {
        None
    };
    let (records, _) = leads(args)?;
    let bar = progress_bar(count, "importing leads");
    let mut total = LeadsImport::default();
    let mut batches = 0;
    let size = usize::from(args.batch_size);
    let mut batch = Vec::with_capacity(size);
    let mut records = records.peekable();
    // A lead read but not yet sent: it did not fit the last batch.
    let mut carried: Option<(Value, usize)> = None;
    let outcome: anyhow::Result<()> = async {
        while carried.is_some() || records.peek().is_some() {
            batch.clear();
            let mut bytes = 0;
            if let Some((lead, len)) = carried.take() {
                batch.push(lead);
                bytes = len;
            }
            while batch.len() < size {
                let Some(record) = records.next() else { break };
                let lead = record?;
                let len = serde_json::to_vec(&lead)?.len() + 1;
                if !batch.is_empty() && bytes + len > MAX_BATCH_BYTES {
                    carried = Some((lead, len));
                    break;
                }
                bytes += len;
                batch.push(lead);
            }
            let done = send(&client, args.campaign_id, &batch).await?;
            batches += 1;
            bar.inc(batch.len() as u64);
            total.created.extend(done.created);
            total.rejected.extend(done.rejected);
            total.duplicates.extend(done.duplicates);
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(e) = outcome {
        eprintln!("stopped after {}", summary(&total, batches));
        return Err(e);
    }
    if args.remote.json {
        print_stdout(&format!(
            "{}\n",
            serde_json::json!({ "leads_import": total })
        ))?;
    }
    eprintln!("{}", summary(&total, batches));
    Ok(())
}

fn lead_rows(leads: &[Lead]) -> Vec<Vec<String>> {
    leads
        .iter()
        .map(|l| {
            vec![
                l.phone_number.clone(),
                l.name.clone().unwrap_or_else(|| "-".into()),
                l.priority.to_string(),
                if l.active { "yes" } else { "no" }.into(),
                l.created_at.clone(),
            ]
        })
        .collect()
}

/// `campaignd leads CAMPAIGN_ID`: a table, or with `--json` one lead per
/// line.
pub(crate) async fn list(
    remote_args: &Remote,
    campaign: i64,
    (limit, offset): (Option<u32>, Option<u64>),
    all: bool,
) -> anyhow::Result<()> {
    let client = remote_args.client()?;
    let (leads, total) = if all {
        let leads: Vec<Lead> = client.leads(campaign).try_collect().await.map_err(remote)?;
        let n = leads.len() as u64;
        (leads, n)
    } else {
        let page = client
            .list_leads(campaign, limit, offset)
            .await
            .map_err(remote)?;
        (page.leads, page.total)
    };
    if remote_args.json {
        let mut out = String::new();
        for l in &leads {
            let _ = writeln!(out, "{}", serde_json::to_string(l)?);
        }
        print_stdout(&out)?;
    } else {
        print_table(
            &["PHONE NUMBER", "NAME", "PRIORITY", "ACTIVE", "CREATED AT"],
            &lead_rows(&leads),
        )?;
        eprintln!("{} of {total} lead(s)", leads.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any input: a header refused, or leads of the known fields only, at
    /// most one a line, and the read ends.
    #[test]
    fn fuzz_csv_leads() {
        const FIELDS: [&str; 6] = [
            "phone_number",
            "name",
            "priority",
            "active",
            "source",
            "context_headers",
        ];
        campaignd_fuzz::fuzz("csv_leads", |input| {
            let Ok(leads) = CsvLeads::new(input) else {
                return;
            };
            let lines = input.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
            let mut read = 0;
            for lead in leads {
                read += 1;
                assert!(read <= lines, "more leads than lines");
                let Ok(lead) = lead else {
                    continue;
                };
                for key in lead.as_object().expect("a lead is an object").keys() {
                    assert!(FIELDS.contains(&key.as_str()), "a lead has {key}");
                }
            }
        });
    }
}
