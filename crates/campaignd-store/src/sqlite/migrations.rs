//! Forward-only schema migrations, embedded in the binary.
//!
//! A migration, once released, is never edited: fix forward with a new one.

use rusqlite::{Connection, TransactionBehavior, params};

use super::map_err;
use crate::{MigrationReport, Result, StoreError};

/// `(version, SQL)`, in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_initial.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_rendered_body.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_staged_imports.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_clustered_campaigns.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_audit.sql")),
    (6, include_str!("../../migrations/sqlite/0006_users.sql")),
    (7, include_str!("../../migrations/sqlite/0007_leads.sql")),
];

/// The newest schema version this build knows.
#[cfg(test)]
pub(super) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Applies every migration newer than the database's schema, each in its own
/// immediate transaction. A schema already up to date is found with a read
/// alone: every command migrates at start, and taking the write lock for
/// nothing would queue a revoke behind a running import.
pub(super) fn apply(conn: &mut Connection) -> Result<MigrationReport> {
    let supported = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if let Some(current) = recorded_version(conn)?
        && current >= supported
    {
        if current > supported {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported,
            });
        }
        return Ok(MigrationReport {
            applied: Vec::new(),
            current,
        });
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        ) STRICT",
    )
    .map_err(map_err)?;
    let mut applied = Vec::new();
    let mut current = current_version(conn)?;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        // Another process may have migrated while we waited for the lock.
        let now_at: i64 = tx
            .query_row(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(map_err)?;
        if *version <= now_at {
            continue;
        }
        tx.execute_batch(sql).map_err(map_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, campaignd_model::Timestamp::now().unix_millis()],
        )
        .map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        applied.push(*version);
        current = *version;
    }
    Ok(MigrationReport {
        applied,
        current: current.max(current_version(conn)?),
    })
}

/// The schema version, if the migrations table exists yet; a read only.
fn recorded_version(conn: &Connection) -> Result<Option<i64>> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    if exists {
        current_version(conn).map(Some)
    } else {
        Ok(None)
    }
}

fn current_version(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(map_err)
}
