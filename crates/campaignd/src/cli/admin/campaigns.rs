//! `campaignd campaign import|export`.

use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use campaignd_model::{CampaignDocument, CampaignView, SystemFields};
use campaignd_server::shutdown_signal;
use campaignd_store::{IMPORT_BATCH, ImportRecord, Store};
use indicatif::ProgressBar;

use crate::cli::admin::center;
use crate::cli::args::{ExportArgs, ImportArgs};
use crate::cli::input::{open_input, progress_bar, spinner};
use crate::cli::records::{Position, Record, Records};

/// Most problems printed before the rest are only counted.
const MAX_PROBLEMS_SHOWN: usize = 100;

/// Campaigns read per export batch.
const EXPORT_BATCH: u32 = 1000;

/// Batches of parsed records the reader may run ahead of the writer.
const BATCHES_AHEAD: usize = 4;

/// One record as read and checked: its position, and the campaign or the
/// problems that keep it out.
type Parsed = (Position, Result<CampaignDocument, Vec<String>>);

/// Reads and checks the input on a thread of its own, sending batches of
/// [`IMPORT_BATCH`] records; stops early if the receiver is gone. Returns
/// the error that stopped the read, if one did.
fn read_records(
    input: Box<dyn BufRead + Send>,
    batches: &tokio::sync::mpsc::Sender<Vec<Parsed>>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut records = Records::new(input);
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    while let Some(record) = records.next() {
        let parsed = match record? {
            Record::Invalid(pos, problem) => (pos, Err(vec![problem])),
            Record::Value(pos, value) => (
                pos,
                CampaignDocument::parse(&value, SystemFields::Accept).map_err(|errors| {
                    errors
                        .iter()
                        .flat_map(|(field, messages)| {
                            messages.iter().map(move |m| format!("{field}: {m}"))
                        })
                        .collect()
                }),
            ),
        };
        batch.push(parsed);
        if batch.len() == IMPORT_BATCH {
            bar.set_position(records.bytes_read());
            if batches.blocking_send(std::mem::take(&mut batch)).is_err() {
                return Ok(());
            }
        }
    }
    bar.set_position(records.bytes_read());
    if !batch.is_empty() {
        let _ = batches.blocking_send(batch);
    }
    Ok(())
}

/// The problems an import found: the first [`MAX_PROBLEMS_SHOWN`] kept for
/// printing, the rest counted.
#[derive(Default)]
pub(super) struct Problems {
    shown: Vec<String>,
    pub(super) count: usize,
}

impl Problems {
    /// A problem of the record at `at` (its position, or just its number
    /// when the line is unknown).
    pub(super) fn add(&mut self, at: impl std::fmt::Display, problem: &str) {
        self.count += 1;
        if self.shown.len() < MAX_PROBLEMS_SHOWN {
            self.shown.push(format!("{at}: {problem}"));
        }
    }

    pub(super) fn report(&self) {
        eprintln!("refused records:");
        for p in &self.shown {
            eprintln!("  {p}");
        }
        if self.count > self.shown.len() {
            eprintln!("  ... and {} more", self.count - self.shown.len());
        }
    }
}

/// How an import's read-and-stage loop ended.
enum Ended {
    /// All input read (with or without problems).
    Read,
    /// A signal asked the command to stop.
    Interrupted,
}

/// Streams the input into a staged import, batch by batch, so memory stays
/// flat and other writers get through between batches; publishes it only
/// if every record was read and accepted, else removes what was staged.
pub(crate) async fn import(store: &dyn Store, args: &ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let center = center(store, &args.center).await?;
    let (input, len) = open_input(&args.file)?;
    let bar = progress_bar(len, "importing");
    let (sender, mut batches) = tokio::sync::mpsc::channel(BATCHES_AHEAD);
    // A thread of its own, not the blocking pool: when the import stops
    // early, the reader may be blocked on input that never comes, and the
    // process must still exit.
    let reader = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn({
            let bar = bar.clone();
            move || read_records(input, &sender, &bar)
        })
        .context("cannot start the input reader")?;
    let import = store
        .begin_import(center.id)
        .await
        .context("cannot start the import")?;

    let mut problems = Problems::default();
    let mut read = 0usize;
    let stop = shutdown_signal()?;
    tokio::pin!(stop);
    let staged: anyhow::Result<Ended> = async {
        loop {
            let batch = tokio::select! {
                batch = batches.recv() => batch,
                () = &mut stop => return Ok(Ended::Interrupted),
            };
            let Some(batch) = batch else {
                return Ok(Ended::Read);
            };
            read += batch.len();
            let mut positions = Vec::with_capacity(batch.len());
            let mut records = Vec::with_capacity(batch.len());
            for (position, parsed) in batch {
                match parsed {
                    Ok(document) => {
                        positions.push(position);
                        records.push(ImportRecord {
                            index: position.record - 1,
                            document,
                        });
                    }
                    Err(found) => found.iter().for_each(|p| problems.add(position, p)),
                }
            }
            let refused = store
                .stage_import(import, records)
                .await
                .context("cannot write the campaigns")?;
            for conflict in refused {
                // The batch's positions are in record order.
                let at = positions.partition_point(|p| p.record - 1 < conflict.index);
                let problem = format!("{}: {}", conflict.field, conflict.message);
                match positions.get(at) {
                    Some(&position) => problems.add(position, &problem),
                    // A store naming a record it was not given: a bug, but
                    // the message is still worth showing.
                    None => problems.add(format!("record {}", conflict.index + 1), &problem),
                }
            }
        }
    }
    .await;
    // Dropping the receiver ends the reader at its next batch. Its outcome
    // matters only if all input was read (it has returned, or is returning,
    // having closed the channel); otherwise it may be waiting on input.
    drop(batches);
    let read_error = match &staged {
        Ok(Ended::Read) => match reader.join() {
            Ok(result) => result.err(),
            Err(_) => Some(anyhow::anyhow!("the input reader failed")),
        },
        _ => None,
    };
    bar.finish_and_clear();

    let failure = match (staged, read_error) {
        (Err(e), _) | (Ok(Ended::Read), Some(e)) => Some(e),
        (Ok(Ended::Interrupted), _) => Some(anyhow::anyhow!("interrupted")),
        (Ok(Ended::Read), None) if problems.count > 0 => {
            problems.report();
            Some(anyhow::anyhow!("{} problem(s) found", problems.count))
        }
        (Ok(Ended::Read), None) => None,
    };
    if let Some(failure) = failure {
        let (bar, progress) = spinner("removing the staged campaigns");
        // A second signal stops the cleanup too: what is left stays
        // invisible and is removed by the next import or the server.
        let again = shutdown_signal()?;
        let removed = tokio::select! {
            removed = store.abandon_import(import, Some(progress)) => removed,
            () = again => {
                bar.finish_and_clear();
                eprintln!(
                    "error: nothing was imported: {failure:#}; the staged campaigns (never \
                     visible) are removed by the next import or by a running server"
                );
                // Now: returning would wait for the cleanup's thread.
                std::process::exit(1);
            }
        };
        bar.finish_and_clear();
        if let Err(e) = removed {
            // Still invisible; the next import or the server's upkeep
            // removes what is left.
            eprintln!("warning: the staged campaigns are not all removed yet: {e}");
        }
        return Err(failure.context("nothing was imported"));
    }
    if read == 0 {
        store.abandon_import(import, None).await?;
        eprintln!("no campaigns in the input; nothing to import");
        return Ok(());
    }

    let (bar, progress) = spinner("finishing");
    let published = store.publish_import(import, Some(progress)).await;
    bar.finish_and_clear();
    let summary = match published {
        Ok(summary) => summary,
        Err(e) => {
            // Hidden either way; if this fails too, upkeep removes it.
            let _ = store.abandon_import(import, None).await;
            return Err(e).context("the import failed; nothing was imported");
        }
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
            let bar = progress_bar(Some(center.campaigns), "exporting");
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
