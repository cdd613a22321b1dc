//! `campaignd snapshot save FILE` and `serve --seed FILE`: a deployment as
//! one portable file, and the known state an emulator starts from (see
//! [`campaignd_store::snapshot`] for the format).

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use campaignd_store::Store;
use campaignd_store::transfer::Table;
use indicatif::ProgressBar;

use crate::cli::input::progress_bar;

/// The arguments of `campaignd snapshot save`.
#[derive(Debug, clap::Args)]
pub(crate) struct SaveArgs {
    /// Where to write the snapshot (replaced whole once it is written;
    /// readable by its owner only, as it holds key hashes and the server
    /// secret).
    pub(crate) file: PathBuf,
}

/// A progress bar per table, made as each table starts.
struct Bars {
    current: Option<(Table, ProgressBar)>,
}

impl Bars {
    fn update(&mut self, table: Table, done: u64, total: u64) {
        if self.current.as_ref().is_none_or(|(t, _)| *t != table) {
            if let Some((_, bar)) = self.current.take() {
                bar.finish_and_clear();
            }
            let bar = progress_bar(Some(total), &format!("{:<16}", table.name()));
            self.current = Some((table, bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

/// `campaignd snapshot save FILE`.
pub(crate) async fn save(store: &dyn Store, args: &SaveArgs) -> anyhow::Result<()> {
    let partial = partial_path(&args.file);
    let file =
        private_file(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let mut bars = Bars { current: None };
    let result = campaignd_store::snapshot::save(store, &mut out, |t, done, total| {
        bars.update(t, done, total);
    })
    .await;
    bars.finish();
    drop(out);
    let counts = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.into());
        }
    };
    std::fs::rename(&partial, &args.file)
        .with_context(|| format!("cannot move the snapshot to {}", args.file.display()))?;
    println!("{:<16}{:>10}", "table", "rows");
    for (table, rows) in &counts {
        println!("{table:<16}{rows:>10}");
    }
    eprintln!("saved {}", args.file.display());
    Ok(())
}

/// Replaces what `store` holds with the snapshot in `path` (`serve --seed`).
pub(crate) async fn load(store: &dyn Store, path: &Path) -> anyhow::Result<()> {
    // Opened twice: once to check it whole, once to load it.
    let open = || std::fs::File::open(path).map(BufReader::new);
    open().with_context(|| format!("cannot open the seed {}", path.display()))?;
    let mut bars = Bars { current: None };
    let result = campaignd_store::snapshot::load(store, open, |t, done, total| {
        bars.update(t, done, total);
    })
    .await;
    bars.finish();
    let counts = result.with_context(|| format!("cannot load the seed {}", path.display()))?;
    tracing::info!(
        seed = %path.display(),
        campaigns = counts.get("campaigns").copied().unwrap_or(0),
        leads = counts.get("leads").copied().unwrap_or(0),
        "seed loaded"
    );
    Ok(())
}

/// `FILE.partial`, beside it: written first, renamed over it when done.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A new file only its owner may read or write.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // A file left by an earlier run keeps its mode: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}
