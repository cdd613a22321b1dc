//! A command's input file and the progress shown while it is worked
//! through.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use campaignd_store::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// The input, buffered, and its length when it is a file.
pub(crate) fn open_input(path: &Path) -> anyhow::Result<(Box<dyn BufRead + Send>, Option<u64>)> {
    const BUFFER: usize = 256 * 1024;
    if path.as_os_str() == "-" {
        return Ok((
            Box::new(BufReader::with_capacity(BUFFER, std::io::stdin())),
            None,
        ));
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(BufReader::with_capacity(BUFFER, file)), len))
}

/// A bar over `len` units, or a spinner when the length is unknown.
pub(crate) fn progress_bar(len: Option<u64>, template: &str) -> ProgressBar {
    let bar = len.map_or_else(ProgressBar::new_spinner, ProgressBar::new);
    let template = if len.is_some() {
        format!("{template} {{bar:40}} {{percent}}% ({{eta}} left)")
    } else {
        format!("{template} {{spinner}} {{elapsed}}")
    };
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

/// A spinner for work of unknown length, and the store progress callback
/// that turns it.
pub(crate) fn spinner(what: &str) -> (ProgressBar, Progress) {
    let bar = progress_bar(None, what);
    let sink = bar.clone();
    (bar, Arc::new(move |_| sink.tick()))
}
