//! `campaignd copy --from URL --to URL`: a whole deployment into another
//! database (SQLite into PostgreSQL, say), table by table, then checked:
//! every table's row count and SHA-256 read back from the target must equal
//! what was read from the source.

use std::num::NonZeroU32;

use anyhow::Context as _;
use campaignd_store::Store;
use campaignd_store::transfer::{Table, TableDigest};

use crate::cli::db::{self, DatabaseUrl};
use crate::cli::input::progress_bar;

/// Rows per read and per write transaction.
const BATCH: u32 = 1000;

/// The arguments of `campaignd copy`.
#[derive(Debug, clap::Args)]
pub(crate) struct CopyArgs {
    /// The deployment to copy (sqlite://PATH or postgres://...); its schema
    /// is brought up to date first. Stop its nodes first: a copy that sees
    /// the source change fails.
    #[arg(long, value_name = "URL")]
    pub(crate) from: DatabaseUrl,
    /// An empty database to copy into (its schema is created).
    #[arg(long, value_name = "URL")]
    pub(crate) to: DatabaseUrl,
}

pub(crate) async fn run(args: &CopyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.from != args.to,
        "--from and --to name the same database"
    );
    if let DatabaseUrl::Sqlite(path) = &args.from {
        // Opening would create it, and copy an empty deployment.
        anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    }
    let pool = NonZeroU32::new(4).expect("positive");
    let (source, _) = db::open(&args.from, pool)
        .await
        .with_context(|| format!("cannot open {}", args.from))?;
    let (target, _) = db::open(&args.to, pool)
        .await
        .with_context(|| format!("cannot open {}", args.to))?;
    anyhow::ensure!(
        source.count_rows(Table::Settings).await? > 0,
        "{} holds no deployment (it has never issued a key)",
        args.from
    );
    for table in Table::ALL {
        let rows = target.count_rows(table).await?;
        anyhow::ensure!(
            rows == 0,
            "{} already holds data ({rows} row(s) in {}); copy into an empty database",
            args.to,
            table.name()
        );
    }
    let mut copied = Vec::new();
    for table in Table::ALL {
        copied.push((table, copy_table(&*source, &*target, table).await?));
    }
    target.finish_copy().await?;

    println!("{:<16}{:>10}  sha256", "table", "rows");
    let mut differ = Vec::new();
    let mut moved = Vec::new();
    for (table, read) in copied {
        let written = digest(&*target, table).await?;
        // Read again: a source written during the copy may have been read
        // half before and half after a write, and the copy holds that.
        let now = digest(&*source, table).await?;
        if now.rows != read.rows || now.hex() != read.hex() {
            moved.push(table.name());
        }
        let same = written.rows == read.rows && written.hex() == read.hex();
        println!(
            "{:<16}{:>10}  {}  {}",
            table.name(),
            written.rows,
            written.hex(),
            if same { "ok" } else { "DIFFERS" }
        );
        if !same {
            differ.push(table.name());
        }
    }
    anyhow::ensure!(
        moved.is_empty(),
        "the source changed during the copy (in {}): stop its nodes, empty the target and copy again",
        moved.join(", ")
    );
    anyhow::ensure!(
        differ.is_empty(),
        "the copy differs from what was read from the source in {}",
        differ.join(", ")
    );
    eprintln!("copied {} into {}", args.from, args.to);
    Ok(())
}

/// Copies one table in batches, with a progress bar; answers the digest of
/// what was read.
async fn copy_table(
    source: &dyn Store,
    target: &dyn Store,
    table: Table,
) -> anyhow::Result<TableDigest> {
    let total = source.count_rows(table).await?;
    let bar = progress_bar(Some(total), &format!("{:<16}", table.name()));
    let mut digest = TableDigest::default();
    let mut after = None;
    loop {
        let rows = source
            .read_rows(table, after.take(), BATCH)
            .await
            .with_context(|| format!("cannot read {}", table.name()))?;
        let Some(last) = rows.last().cloned() else {
            break;
        };
        for row in &rows {
            digest.add(row);
        }
        let n = rows.len() as u64;
        target
            .write_rows(table, rows)
            .await
            .with_context(|| format!("cannot write {}", table.name()))?;
        bar.inc(n);
        after = Some(last);
    }
    bar.finish_and_clear();
    Ok(digest)
}

/// The digest of a table as a store holds it.
async fn digest(store: &dyn Store, table: Table) -> anyhow::Result<TableDigest> {
    let mut digest = TableDigest::default();
    let mut after = None;
    loop {
        let rows = store.read_rows(table, after.take(), BATCH).await?;
        let Some(last) = rows.last().cloned() else {
            return Ok(digest);
        };
        for row in &rows {
            digest.add(row);
        }
        after = Some(last);
    }
}
