//! Emulator mode's reset (see [`crate::ResetStore`]): the start state is
//! kept as copies of every table in a schema of its own, and a reset swaps
//! every table's rows for the kept ones in one transaction. Readers keep
//! seeing the state before it until it commits (rows are deleted, not
//! truncated, so no read waits on a table lock).

use deadpool_postgres::GenericClient;

use super::{record_change, transfer};
use crate::transfer::Table;
use crate::{Change, Result, StoreError};

/// The schema of the kept state.
const START: &str = "campaignd_emulator_start";

/// Longest a reset waits for the tables' locks.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The advisory lock ("cdrs") keeps and resets take turns on: two nodes
/// (or a node and a test) keeping at once would race on the schema.
const RESET_LOCK: i64 = 0x6364_7273;

/// Keeps every table's rows as the start state, replacing any kept before.
pub(super) async fn keep(tx: &impl GenericClient) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RESET_LOCK])
        .await?;
    let mut sql = format!("CREATE SCHEMA IF NOT EXISTS {START};");
    for table in Table::ALL {
        let name = table.name();
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS {START}.{name};
             CREATE TABLE {START}.{name} AS SELECT {} FROM public.{name};",
            table.column_list()
        ));
    }
    tx.batch_execute(&sql).await?;
    Ok(())
}

/// Puts every table back to the kept rows, in the caller's transaction:
/// staged imports and lead-import claims go, identities move past the kept
/// ids, and the change log gains one reset.
pub(super) async fn reset(tx: &impl GenericClient) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RESET_LOCK])
        .await?;
    let kept: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = $1 AND table_name = 'settings')",
            &[&START],
        )
        .await?
        .get(0);
    if !kept {
        return Err(StoreError::Internal("no start state was kept".into()));
    }
    delete_all(tx).await?;
    let mut sql = String::new();
    for table in Table::ALL {
        let name = table.name();
        let columns = table.column_list();
        sql.push_str(&format!(
            "INSERT INTO public.{name} ({columns}) SELECT {columns} FROM {START}.{name};"
        ));
    }
    tx.batch_execute(&sql).await?;
    transfer::finish(tx).await?;
    record_change(tx, Change::Reset).await
}

/// Empties every table, staged imports and claims included, in the
/// caller's transaction, and records a reset.
pub(super) async fn clear(tx: &impl GenericClient) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&RESET_LOCK])
        .await?;
    delete_all(tx).await?;
    record_change(tx, Change::Reset).await
}

async fn delete_all(tx: &impl GenericClient) -> Result<()> {
    // Writers wait (readers do not) until the reset commits, so no write
    // lands between the deletes and the inserts. The order is the one
    // writes take their locks in (an import's staging rows first, then a
    // center or a campaign, the rest after), so a write already holding
    // one does not deadlock with this; and no lock is waited for past
    // `LOCK_WAIT` (a 503, and nothing changed), so a long transaction
    // elsewhere never leaves every write queued behind a reset.
    let mut sql = format!(
        "SET LOCAL statement_timeout = 0;
         SET LOCAL lock_timeout = {};
         LOCK TABLE imports, import_rows, contact_centers, campaigns, api_keys, users,
             campaign_users, leads, audit, settings, lead_import_claims IN EXCLUSIVE MODE;
         DELETE FROM import_rows; DELETE FROM imports; DELETE FROM lead_import_claims;",
        LOCK_WAIT.as_millis()
    );
    for table in Table::ALL.iter().rev() {
        sql.push_str(&format!("DELETE FROM public.{};", table.name()));
    }
    tx.batch_execute(&sql).await?;
    Ok(())
}
