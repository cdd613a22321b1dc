//! The PostgreSQL backend: many nodes over one database.
//!
//! Every call takes a connection from a pool (tokio-postgres with
//! deadpool), and every write is one transaction. Concurrent writes to one
//! campaign queue on its row lock (`SELECT … FOR UPDATE`), so `If-Match`,
//! the lifecycle and the start rule are checked against what the write
//! then changes; PostgreSQL shares commits between transactions itself.
//!
//! Failure is quick by design: a connection is waited for at most
//! [`POOL_WAIT`], opened within [`CONNECT_TIMEOUT`], and a statement runs at
//! most [`STATEMENT_TIMEOUT`]. All three answer
//! [`StoreError::Unavailable`], which the server turns into 503 with
//! `Retry-After`; a connection the server closed is dropped when it is
//! next taken, so a database that comes back is used again at once.

mod audit;
mod body_reads;
mod campaigns;
mod hints;
mod imports;
mod keys;
mod leads;
mod migrations;
mod reset;
mod store;
mod transfer;
mod users;
mod writes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use campaignd_model::{ApiKeyId, CampaignId, ContactCenterId, Timestamp};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::{Change, ContactCenter, ImportId, Result, StoreError};

/// Longest a call waits for a free connection.
const POOL_WAIT: Duration = Duration::from_secs(1);

/// Longest opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest one statement may run, unless a bulk operation lifts it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest sent data may go unacknowledged before the connection is
/// dropped: past the statement timeout, so only a dead peer trips it.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(8);

/// Most changes one upkeep call prunes.
const PRUNE_BATCH: i64 = 20_000;

/// The PostgreSQL [`Store`](crate::Store).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Body reads, batched under load.
    bodies: body_reads::BodyReads,
    /// Change hints to and from the other nodes.
    hints: hints::Hints,
    /// The connections holding the advisory lock of each import this
    /// store began and has not finished (see `imports`).
    imports: Mutex<HashMap<ImportId, Object>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: only its database is shown.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on the database at `url` (`postgres://…`), with at most
    /// `pool_size` connections. No connection is opened until the first
    /// call: a node starts while its database is down, and `/readyz`
    /// says so. Call [`Upkeep::migrate`](crate::Upkeep::migrate) before
    /// anything else.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("campaignd");
        }
        let options = config.get_options().unwrap_or_default().to_owned();
        // Notices (a `CREATE … IF NOT EXISTS` that skips) are not news.
        config.options(format!(
            "{options} -c statement_timeout={} -c client_min_messages=warning",
            STATEMENT_TIMEOUT.as_millis()
        ));
        config.keepalives_idle(Duration::from_secs(10));
        // A host that vanishes without a reset would otherwise hold every
        // request on its connection until TCP gives up, minutes later.
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                bodies: body_reads::BodyReads::new(pool.clone()),
                hints: hints::Hints::new(pool.clone(), config),
                pool,
                imports: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A pooled connection.
    async fn conn(&self) -> Result<Object> {
        pooled(&self.inner.pool).await
    }

    /// The connections of imports this store holds.
    fn imports(&self) -> std::sync::MutexGuard<'_, HashMap<ImportId, Object>> {
        self.inner
            .imports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection from `pool`.
async fn pooled(pool: &Pool) -> Result<Object> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => map_err(&e),
        deadpool_postgres::PoolError::Timeout(_) => {
            StoreError::Unavailable("no database connection came free in time".into())
        }
        other => StoreError::Unavailable(format!("database connection: {other}")),
    })
}

/// Maps a driver error onto the store's: a connection or server that is
/// down, shutting down, overloaded or too slow is worth a retry (503);
/// anything else is a bug or corrupt data (500).
pub(crate) fn map_err(e: &tokio_postgres::Error) -> StoreError {
    let retry = match e.code() {
        // No code: the driver's own error. Worth a retry when the
        // connection is gone or the network failed; a mistake in a query
        // (a wrong parameter count, an unexpected row count) is a bug.
        None => {
            e.is_closed()
                || std::error::Error::source(e)
                    .is_some_and(<dyn std::error::Error>::is::<std::io::Error>)
                || e.to_string().contains("timeout")
        }
        Some(code) => {
            let class = &code.code()[..2];
            // 08: connection exception; 53: insufficient resources; 57:
            // operator intervention (shutdown, statement timeout); 40:
            // serialization failure or deadlock, which a retry resolves.
            // 25006: a write reached a server that is read-only now (a
            // primary demoted by a failover).
            matches!(class, "08" | "53" | "57" | "40")
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
    };
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    if retry {
        StoreError::Unavailable(message)
    } else {
        StoreError::Internal(message)
    }
}

/// Lets `?` on driver results.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        map_err(&e)
    }
}

/// Whether a statement failed on a unique index.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Column `i` of `row`, or an error naming what is wrong with it.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T> {
    row.try_get(i)
        .map_err(|e| StoreError::Internal(format!("stored column {i}: {e}")))
}

/// An error for a stored value that breaks its type's rules.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} is invalid"))
}

/// Records a change in the log nodes follow, in the caller's transaction.
/// Its time is the database's, as is the pruning cutoff: a node whose clock
/// runs fast cannot prune what the others have yet to read.
pub(crate) async fn record_change(tx: &impl GenericClient, change: Change) -> Result<()> {
    let (kind, center, campaign, key) = match change {
        Change::Campaign(center, id) => ("campaign", Some(center.get()), Some(id.get()), None),
        Change::Campaigns(center) => ("campaigns", Some(center.get()), None, None),
        Change::ApiKey(id) => ("api_key", None, None, Some(id.get())),
        Change::Reset => ("reset", None, None, None),
    };
    let stmt = tx
        .prepare_cached(
            "INSERT INTO changes (kind, contact_center_id, campaign_id, api_key_id, at)
             VALUES ($1, $2, $3, $4, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
        )
        .await?;
    tx.execute(&stmt, &[&kind, &center, &campaign, &key])
        .await?;
    Ok(())
}

/// A change as the log holds it.
pub(crate) fn change_from_row(row: &Row) -> Result<Change> {
    let kind: &str = col(row, 0)?;
    let center: Option<i64> = col(row, 1)?;
    let campaign: Option<i64> = col(row, 2)?;
    let key: Option<i64> = col(row, 3)?;
    let change = match kind {
        "campaign" => center
            .and_then(ContactCenterId::new)
            .zip(campaign.and_then(CampaignId::new))
            .map(|(center, id)| Change::Campaign(center, id)),
        "campaigns" => center.and_then(ContactCenterId::new).map(Change::Campaigns),
        "api_key" => key.and_then(ApiKeyId::new).map(Change::ApiKey),
        "reset" => Some(Change::Reset),
        _ => None,
    };
    change.ok_or_else(|| corrupt("change"))
}

/// Campaigns and active keys counted per center; staged rows are in
/// `import_rows`, out of the count.
pub(crate) const CENTER_SELECT: &str = "SELECT c.id, c.name, c.created_at,
        (SELECT COUNT(*) FROM campaigns WHERE contact_center_id = c.id),
        (SELECT COUNT(*) FROM api_keys WHERE contact_center_id = c.id AND revoked_at IS NULL)
    FROM contact_centers c";

pub(crate) fn center_from_row(row: &Row) -> Result<ContactCenter> {
    let name: &str = col(row, 1)?;
    Ok(ContactCenter {
        id: ContactCenterId::new(col(row, 0)?).ok_or_else(|| corrupt("contact center id"))?,
        name: name.parse().map_err(|_| corrupt("contact center name"))?,
        created_at: timestamp(col(row, 2)?)?,
        campaigns: col::<i64>(row, 3)? as u64,
        active_keys: col::<i64>(row, 4)? as u64,
    })
}

/// A stored time.
pub(crate) fn timestamp(ms: i64) -> Result<Timestamp> {
    Timestamp::from_unix_millis(ms).ok_or_else(|| corrupt("timestamp"))
}

/// `LIMIT` and `OFFSET` of a page, as the driver takes them.
pub(crate) fn page_bounds(page: crate::Page) -> (i64, i64) {
    (
        i64::from(page.limit),
        i64::try_from(page.offset).unwrap_or(i64::MAX),
    )
}

/// Lets `?` on driver results inside writes.
impl From<tokio_postgres::Error> for crate::WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Store(map_err(&e))
    }
}
