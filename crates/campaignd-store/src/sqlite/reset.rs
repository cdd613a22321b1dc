//! Emulator mode's reset (see [`crate::ResetStore`]): the start state is
//! kept in a private temporary database attached to the writer connection
//! (SQLite deletes it when the connection closes; it lives in the page
//! cache while small and spills to a temporary file when large), and a
//! reset swaps every table's rows for the kept ones in one transaction.

use rusqlite::{Connection, Transaction};

use super::record_change;
use super::transfer::condition;
use crate::Change;
use crate::transfer::Table;

/// The schema name of the kept state.
const START: &str = "emulator_start";

/// Keeps the visible rows of every table as the start state, replacing any
/// kept before. Runs outside a transaction (ATTACH cannot run in one).
pub(super) fn keep(conn: &Connection) -> rusqlite::Result<()> {
    if !kept(conn)? {
        conn.execute_batch(&format!("ATTACH DATABASE '' AS {START}"))?;
    }
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for table in Table::ALL {
        let name = table.name();
        let columns = table.column_list();
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS {START}.{name};
             CREATE TABLE {START}.{name} AS SELECT {columns} FROM main.{name} WHERE {};",
            condition(table)
        ));
    }
    sql.push_str("COMMIT;");
    let result = conn.execute_batch(&sql);
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Whether a start state has been kept.
pub(super) fn kept(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM pragma_database_list WHERE name = ?1")?
        .exists([START])
}

/// Puts every table back to the kept rows, in the caller's transaction:
/// staged imports go, and the change log (which nodes follow, and which a
/// reset must not rewind) gains one reset.
pub(super) fn reset(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    delete_all(tx)?;
    for table in Table::ALL {
        let name = table.name();
        let columns = table.column_list();
        tx.execute_batch(&format!(
            "INSERT INTO main.{name} ({columns}) SELECT {columns} FROM {START}.{name}"
        ))?;
    }
    record_change(tx, Change::Reset)
}

/// Empties every table, staged imports included, in the caller's
/// transaction, and records a reset.
pub(super) fn clear(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    delete_all(tx)?;
    record_change(tx, Change::Reset)
}

fn delete_all(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    // References first out; imports name their center.
    tx.execute_batch("DELETE FROM main.imports")?;
    for table in Table::ALL.iter().rev() {
        tx.execute_batch(&format!("DELETE FROM main.{}", table.name()))?;
    }
    Ok(())
}
