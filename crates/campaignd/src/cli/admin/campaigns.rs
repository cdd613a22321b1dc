//! `campaignd campaign import|export`.

use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use campaignd_model::{CampaignDocument, CampaignView, SystemFields};
use campaignd_store::{Progress, Store, StoreError};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::cli::admin::center;
use crate::cli::args::{ExportArgs, ImportArgs};

/// Most problems printed before the rest are only counted.
const MAX_PROBLEMS_SHOWN: usize = 100;

/// Campaigns read per export batch.
const EXPORT_BATCH: u32 = 1000;

/// Where a record came from, for messages: its number, and its line in NDJSON.
#[derive(Debug, Clone, Copy)]
struct Position {
    record: usize,
    line: Option<usize>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "record {} (line {line})", self.record),
            None => write!(f, "record {}", self.record),
        }
    }
}

/// Splits input into JSON values: a JSON array, or NDJSON (one value per
/// non-blank line). A value `{"campaign": {...}}` (a Get campaign response)
/// is unwrapped.
fn split_records(text: &str, problems: &mut Vec<String>) -> anyhow::Result<Vec<(Position, Value)>> {
    let unwrap = |v: Value| match v {
        Value::Object(mut map)
            if map.len() == 1 && map.get("campaign").is_some_and(Value::is_object) =>
        {
            map.remove("campaign").expect("checked")
        }
        other => other,
    };
    if text.trim_start().starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text)
            .context("the input starts with '[' but is not a valid JSON array")?;
        return Ok(values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    Position {
                        record: i + 1,
                        line: None,
                    },
                    unwrap(v),
                )
            })
            .collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let pos = Position {
            record: out.len() + problems.len() + 1,
            line: Some(i + 1),
        };
        match serde_json::from_str::<Value>(line) {
            Ok(v) => out.push((pos, unwrap(v))),
            Err(e) => problems.push(format!("{pos}: not valid JSON ({e})")),
        }
    }
    Ok(out)
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(text)
}

fn report_problems(problems: &[String]) {
    for p in problems.iter().take(MAX_PROBLEMS_SHOWN) {
        eprintln!("  {p}");
    }
    if problems.len() > MAX_PROBLEMS_SHOWN {
        eprintln!("  ... and {} more", problems.len() - MAX_PROBLEMS_SHOWN);
    }
}

fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
        ))
        .expect("valid template"),
    );
    bar
}

/// Validates every record, then imports them all in one transaction.
pub(crate) async fn import(store: &dyn Store, args: &ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let center = center(store, &args.center).await?;
    let text = read_input(&args.file)?;
    let mut problems = Vec::new();
    let values = split_records(&text, &mut problems)?;
    drop(text);

    let mut positions = Vec::with_capacity(values.len());
    let mut records = Vec::with_capacity(values.len());
    for (pos, value) in values {
        match CampaignDocument::parse(&value, SystemFields::Accept) {
            Ok(doc) => {
                positions.push(pos);
                records.push(doc);
            }
            Err(errors) => {
                for (field, messages) in errors.iter() {
                    for m in messages {
                        problems.push(format!("{pos}: {field}: {m}"));
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        eprintln!("invalid records:");
        report_problems(&problems);
        anyhow::bail!("nothing was imported: {} problem(s) found", problems.len());
    }
    if records.is_empty() {
        eprintln!("no campaigns in the input; nothing to import");
        return Ok(());
    }

    let bar = progress_bar(records.len() as u64, "importing");
    let sink = bar.clone();
    let progress: Progress = Arc::new(move |n| sink.set_position(n));
    let result = store
        .import_campaigns(center.id, records, Some(progress))
        .await;
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(StoreError::ImportRejected(conflicts)) => {
            let lines: Vec<String> = conflicts
                .iter()
                .map(|c| format!("{}: {}: {}", positions[c.index], c.field, c.message))
                .collect();
            eprintln!("conflicting records:");
            report_problems(&lines);
            anyhow::bail!("nothing was imported: {} conflict(s) found", lines.len());
        }
        Err(e) => return Err(e).context("the import failed; nothing was imported"),
    };
    let mut msg = format!(
        "imported {} campaign(s) into {:?}",
        summary.imported,
        center.name.as_str()
    );
    if let Some((lo, hi)) = summary.id_range {
        let _ = write!(msg, " (ids {lo} to {hi})");
    }
    let _ = write!(msg, " in {:.2} s", started.elapsed().as_secs_f64());
    println!("{msg}");
    Ok(())
}

/// Writes every campaign of a center as NDJSON.
pub(crate) async fn export(store: &dyn Store, args: &ExportArgs) -> anyhow::Result<()> {
    let center = center(store, &args.center).await?;
    match &args.file {
        None => {
            let stdout = std::io::stdout();
            let result = write_all(store, &center, BufWriter::new(stdout.lock()), None).await;
            match result {
                // A closed pipe (`| head`) is the reader's choice, not a failure.
                Err(e) if is_broken_pipe(&e) => Ok(()),
                other => other.map(|_| ()),
            }
        }
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = path.file_name().context("FILE must name a file")?;
            let partial = dir.join(format!(
                ".{}.partial-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let bar = progress_bar(center.campaigns, "exporting");
            let result = write_all(store, &center, BufWriter::new(&file), Some(&bar)).await;
            bar.finish_and_clear();
            let finished = result.and_then(|n| {
                file.sync_all().context("cannot flush the export to disk")?;
                std::fs::rename(&partial, path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(n)
            });
            if finished.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            let n = finished?;
            eprintln!(
                "exported {n} campaign(s) from {:?} to {}",
                center.name.as_str(),
                path.display()
            );
            Ok(())
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

async fn write_all(
    store: &dyn Store,
    center: &campaignd_store::ContactCenter,
    mut out: impl Write,
    bar: Option<&ProgressBar>,
) -> anyhow::Result<u64> {
    let mut after = None;
    let mut written = 0u64;
    loop {
        let batch = store
            .campaigns_after(center.id, after, EXPORT_BATCH)
            .await
            .context("cannot read campaigns")?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for campaign in &batch {
            serde_json::to_writer(&mut out, &campaign.view(CampaignView::Export))?;
            out.write_all(b"\n")?;
        }
        written += batch.len() as u64;
        if let Some(bar) = bar {
            bar.set_position(written);
        }
    }
    out.flush()?;
    Ok(written)
}
