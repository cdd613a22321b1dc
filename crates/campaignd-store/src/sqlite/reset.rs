//! Emulator mode's reset (see [`crate::ResetStore`]) on SQLite: the start
//! state is a copy of the whole database file (`VACUUM INTO`, beside the
//! database, removed with the store), and a reset copies its pages back
//! over the live database with SQLite's online backup, in one step.
//!
//! Pages rather than rows: a reset of 100,000 campaigns and 1,000,000
//! leads took 3.7 s as a delete and re-insert of every row (indexes
//! rebuilt row by row) and 0.98 s as a page copy (`bench/reset_bench.py`,
//! medians of 5).
//! The step holds the write lock, so writes wait; readers, in WAL mode,
//! see the database before it or after it, never between.
//!
//! The copy brings back the change log as it was at the start, so the
//! reset is then recorded above the highest sequence number the log had
//! reached: cursors nodes hold stay valid and see it.

use std::path::Path;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, Transaction, params};

use super::record_change;
use crate::Change;
use crate::transfer::Table;
use campaignd_model::Timestamp;

/// Copies the whole database to `file` as the start state, replacing any
/// kept before. Runs outside a transaction (VACUUM cannot run in one).
pub(super) fn keep(conn: &Connection, file: &Path) -> rusqlite::Result<()> {
    match std::fs::remove_file(file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))),
    }
    let path = file
        .to_str()
        .ok_or_else(|| rusqlite::Error::InvalidPath(file.to_path_buf()))?;
    conn.execute("VACUUM INTO ?1", [path])?;
    // It holds the server secret and key hashes, as the database does.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    }
    Ok(())
}

/// Removes start-state copies beside `database` left by processes that
/// are gone (killed before they could remove their own).
pub(super) fn remove_stale(database: &Path) {
    // Whether a process lives is read from /proc; without it, keep all.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let (Some(dir), Some(name)) = (database.parent(), database.file_name()) else {
        return;
    };
    let prefix = format!("{}.emulator-start-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_string_lossy()
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Copies the start state in `file` back over the database `conn` (the
/// writer) holds, then records the reset above the log's old end.
pub(super) fn reset(conn: &mut Connection, file: &Path) -> rusqlite::Result<()> {
    let reached: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| {
        r.get(0)
    })?;
    let source = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    {
        let backup = Backup::new(&source, conn)?;
        // Every page in one step: one write transaction on the database.
        match backup.step(-1)? {
            StepResult::Done => {}
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("the reset's copy stopped ({other:?})").into(),
                ));
            }
        }
    }
    conn.execute(
        "INSERT INTO changes (seq, kind, at) VALUES (?1, 'reset', ?2)",
        params![reached + 1, Timestamp::now().unix_millis()],
    )?;
    Ok(())
}

/// Empties every table, staged imports included, in the caller's
/// transaction, and records a reset.
pub(super) fn clear(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    // References first out; imports name their center.
    tx.execute_batch("DELETE FROM main.imports")?;
    for table in Table::ALL.iter().rev() {
        tx.execute_batch(&format!("DELETE FROM main.{}", table.name()))?;
    }
    record_change(tx, Change::Reset)
}
