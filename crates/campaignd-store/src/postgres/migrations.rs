//! Forward-only schema migrations for PostgreSQL, embedded in the binary.
//! A migration, once released, is never edited: fix forward with a new one.

use tokio_postgres::Client;

use crate::{MigrationReport, Result, StoreError};

/// `(version, SQL)`, in order.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    include_str!("../../migrations/postgres/0001_initial.sql"),
)];

/// The advisory lock that nodes starting at once take to migrate one at a
/// time ("cdmg").
const MIGRATION_LOCK: i64 = 0x6364_6d67;

/// Applies every migration newer than the database's schema, all in one
/// transaction under [`MIGRATION_LOCK`]: a node that loses the race finds
/// the schema up to date.
pub(super) async fn apply(client: &mut Client) -> Result<MigrationReport> {
    let supported = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &campaignd_model::Timestamp::now().unix_millis()],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(MigrationReport {
        applied,
        current: current.max(supported),
    })
}
