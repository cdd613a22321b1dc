//! The SQLite backend: one file, WAL, a single writer connection and a small
//! pool of readers.
//!
//! Every write runs in `BEGIN IMMEDIATE` on the writer connection, so
//! writers queue on SQLite's lock (bounded by [`BUSY_TIMEOUT`]) instead of
//! failing half-way with `SQLITE_BUSY` on upgrade. A waiting writer polls
//! the lock every millisecond, and bulk writers (imports) pause between
//! their short transactions, so a small write never waits behind a bulk one
//! for more than one of its transactions. `synchronous=FULL` makes a
//! commit durable before the caller hears of it; the API's campaign writes
//! share commits (`group_commit`). Readers never block the
//! writer in WAL mode. rusqlite is synchronous, so each call runs on tokio's
//! blocking pool, except point lookups by key, which take microseconds and
//! run in place.

mod audit;
mod campaigns;
mod group_commit;
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
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use campaignd_model::{ApiKeyId, CampaignId, ContactCenterId, Timestamp};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use self::group_commit::{Grouped, Pending};
use crate::{Change, ContactCenter, ImportId, Progress, Result, StoreError};

/// How long a connection waits on a lock held by another before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a connection waiting on a lock tries again. SQLite's own
/// busy handler backs off to 100 ms between tries, and a writer that
/// commits and begins again at once can keep a waiter out for seconds;
/// trying every millisecond finds the gap [`BULK_GAP`] leaves.
const BUSY_POLL: Duration = Duration::from_millis(1);

/// The pause after each transaction of a bulk write, in which waiting
/// writers take the lock.
const BULK_GAP: Duration = Duration::from_millis(2);

/// Longest [`Store::maintain`] spends finishing abandoned imports per call:
/// the server's upkeep waits on it.
const UPKEEP_BUDGET: Duration = Duration::from_millis(100);

thread_local! {
    /// When the current wait for a lock began on this thread.
    static WAITING_SINCE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Waits [`BUSY_POLL`] and asks to try again, until `limit` has passed
/// since this wait's first try (SQLite counts tries from 0 per wait).
fn wait_for_lock(tries: i32, limit: Duration) -> bool {
    let now = Instant::now();
    if tries == 0 {
        WAITING_SINCE.set(Some(now));
    }
    let since = WAITING_SINCE.get().unwrap_or(now);
    if now.duration_since(since) >= limit {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// The busy handler of every connection: [`wait_for_lock`] up to [`BUSY_TIMEOUT`].
fn busy(tries: i32) -> bool {
    wait_for_lock(tries, BUSY_TIMEOUT)
}

/// The busy handler for a checkpoint, which the next upkeep retries.
fn busy_briefly(tries: i32) -> bool {
    wait_for_lock(tries, Duration::from_millis(200))
}

/// Most reader connections open at once, by default.
pub const DEFAULT_READERS: usize = 4;

/// Page cache per connection, in KiB (SQLite's default is 2000). Enough
/// for the B-tree's inner pages; a bigger cache barely helps random point
/// reads (the leaf pages of a large table miss anyway), and memory is better
/// spent on the server's cache of rendered bodies.
const CACHE_KIB: i64 = 2048;

/// The size the write-ahead log is brought back under (SQLite's
/// `journal_size_limit`, and [`Store::maintain`]'s threshold). Without it a
/// rolled-back or killed import left hundreds of MB behind.
const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// Most changes [`Inner::prune_changes`] deletes in one transaction.
const PRUNE_BATCH: i64 = 20_000;

/// The SQLite [`Store`](crate::Store).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// The emulator's start state, once kept (see `reset`); removed with
    /// the store.
    start_state: Mutex<Option<PathBuf>>,
    readers: Mutex<Readers>,
    reader_free: std::sync::Condvar,
    /// Most reader connections open at once.
    max_readers: usize,
    /// Reads on the blocking pool at once: one reader fewer than the pool
    /// holds, so point lookups made in place rarely wait for a connection.
    blocking_reads: tokio::sync::Semaphore,
    /// [`SNAPSHOT_REUSE`], but for tests that hold a snapshot on purpose.
    snapshot_reuse: Duration,
    /// [`WAL_LIMIT`], but for tests that cannot write 64 MiB.
    wal_limit: u64,
    /// Bumped by every write this process commits and whenever the change
    /// log shows a write (from any process); point lookups do not reuse a
    /// read transaction that began before a bump.
    epoch: AtomicU64,
    /// The lock files of the imports this store began and has not finished.
    import_locks: Mutex<HashMap<ImportId, File>>,
    /// Writes waiting for the committer thread (`group_commit`).
    grouped: std::sync::mpsc::Sender<Box<dyn Grouped>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, with
    /// [`DEFAULT_READERS`] reader connections. Call [`Upkeep::migrate`](crate::Upkeep::migrate)
    /// before anything else.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_readers(path, DEFAULT_READERS)
    }

    /// [`SqliteStore::open`] with at most `readers` reader connections: at
    /// least two, so a point lookup made in place finds one while another
    /// serves a read on the blocking pool.
    pub fn open_with_readers(path: impl AsRef<Path>, readers: usize) -> Result<Self> {
        Self::open_tuned(path, readers, |_| {})
    }

    /// Opens the store with `tune` applied to its settings before anything
    /// else holds them (tests shorten limits this way).
    fn open_tuned(
        path: impl AsRef<Path>,
        readers: usize,
        tune: impl FnOnce(&mut Inner),
    ) -> Result<Self> {
        let readers = readers.max(2);
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path, true)?;
        // Each grouped write is a savepoint, whose undo copy of every page
        // it touches goes to a sub-journal: in memory, not a temp file,
        // that copy costs a memcpy instead of a write call per page (a
        // lead import touches hundreds).
        writer
            .pragma_update(None, "temp_store", "MEMORY")
            .map_err(map_err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "could not enable WAL (journal_mode is {mode})"
            )));
        }
        let (grouped, queue) = std::sync::mpsc::channel();
        let mut inner = Inner {
            grouped,
            path,
            writer: Mutex::new(writer),
            start_state: Mutex::new(None),
            readers: Mutex::new(Readers::default()),
            reader_free: std::sync::Condvar::new(),
            epoch: AtomicU64::new(0),
            import_locks: Mutex::new(HashMap::new()),
            max_readers: readers,
            blocking_reads: tokio::sync::Semaphore::new(readers - 1),
            snapshot_reuse: SNAPSHOT_REUSE,
            wal_limit: WAL_LIMIT,
        };
        tune(&mut inner);
        let inner = Arc::new(inner);
        let committer = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("sqlite-commit".into())
            .spawn(move || group_commit::run(&committer, &queue))
            .map_err(|e| StoreError::Internal(format!("cannot start the committer: {e}")))?;
        Ok(Self { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The write-ahead log beside it.
    fn wal_path(&self) -> PathBuf {
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        PathBuf::from(wal)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        // Wait here, not on a blocking thread: a burst of reads (say, many
        // clients missing the same list at once) would otherwise park a
        // blocking thread each, with its stack and allocator arena.
        let _slot = self
            .inner
            .blocking_reads
            .acquire()
            .await
            .map_err(|_| StoreError::Internal("the read slots are closed".into()))?;
        let inner = Arc::clone(&self.inner);
        run_blocking(move || inner.read(f)).await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || inner.write(f)).await
    }

    /// A write that shares its durable commit with the others queued at
    /// the same time (`group_commit`); `f` runs in a savepoint of its own.
    async fn write_grouped<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner
            .grouped
            .send(Box::new(Pending::new(f, reply)))
            .map_err(|_| StoreError::Internal("the committer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the committer dropped a write".into()))?
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("storage task failed: {e}")))?
}

fn open_connection(path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_handler(Some(busy)).map_err(map_err)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA trusted_schema = OFF;",
    )
    .map_err(map_err)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(map_err)?;
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The reader pool: idle connections, how many exist in all, and how many
/// callers wait for one.
#[derive(Default)]
struct Readers {
    idle: Vec<Reader>,
    open: usize,
    waiting: usize,
}

/// A reader connection, and the read transaction it holds open for point
/// lookups, if any.
struct Reader {
    conn: Connection,
    snapshot: Option<Snapshot>,
}

/// An open read transaction: when it began, and the store's write epoch
/// then.
#[derive(Clone, Copy)]
struct Snapshot {
    epoch: u64,
    began: Instant,
}

/// Longest a point lookup may reuse a read transaction. Each new read
/// transaction costs SQLite two `fcntl` lock calls and an `fstat`; under
/// load, consecutive lookups share one instead. Any write this process
/// commits, and any change the watcher reads from the change log (another
/// process's write), ends them at once (see [`Inner::epoch`]); this bounds
/// how stale a lookup can be while neither has happened yet.
const SNAPSHOT_REUSE: Duration = Duration::from_millis(20);

impl Reader {
    /// Ends the held read transaction, if any.
    fn end_snapshot(&mut self) {
        if self.snapshot.take().is_some() && !self.conn.is_autocommit() {
            // A read transaction has nothing to commit; failure leaves the
            // connection unusable only if SQLite itself is, and then the
            // next statement reports it.
            let _ = self.conn.execute_batch("COMMIT");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(file) = self
            .start_state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Inner {
    /// Where the emulator's start state is kept: beside the database, so
    /// a copy back is a copy within one file system, and named for this
    /// process, so two processes on one database keep their own.
    fn start_state_file(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".emulator-start-{}", std::process::id()));
        PathBuf::from(name)
    }

    /// Takes a reader from the pool, opening one if fewer than
    /// `max_readers` exist, else waiting for one (queries are short):
    /// their page caches bound memory.
    fn take_reader(&self) -> Result<Reader> {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(reader) = readers.idle.pop() {
                return Ok(reader);
            }
            if readers.open < self.max_readers {
                readers.open += 1;
                drop(readers);
                return match open_connection(&self.path, false) {
                    Ok(conn) => Ok(Reader {
                        conn,
                        snapshot: None,
                    }),
                    Err(e) => {
                        let mut readers =
                            self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                        readers.open -= 1;
                        self.wake_one(&readers);
                        Err(e)
                    }
                };
            }
            readers.waiting += 1;
            readers = self
                .reader_free
                .wait(readers)
                .unwrap_or_else(PoisonError::into_inner);
            readers.waiting -= 1;
        }
    }

    fn return_reader(&self, reader: Reader) {
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        readers.idle.push(reader);
        self.wake_one(&readers);
    }

    /// Runs `f` on a reader connection in a read transaction of its own, so
    /// it sees every write committed before it started. Idle readers' held
    /// transactions are ended too: the watcher's polls come through here,
    /// so no snapshot outlives a poll and holds back WAL checkpoints.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            for reader in &mut readers.idle {
                reader.end_snapshot();
            }
        }
        let mut reader = self.take_reader()?;
        reader.end_snapshot();
        // One snapshot for all of `f`: a page and its total agree.
        let result = reader
            .conn
            .execute_batch("BEGIN")
            .and_then(|()| f(&reader.conn))
            .map_err(map_err);
        if !reader.conn.is_autocommit() {
            let _ = reader.conn.execute_batch("COMMIT");
        }
        self.return_reader(reader);
        result
    }

    /// Runs a point lookup `f`, in the reader's open read transaction if it
    /// is recent and no write has been seen since it began, else in a new
    /// one that later lookups may share.
    fn read_point<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut reader = self.take_reader()?;
        let epoch = self.epoch.load(Ordering::Acquire);
        let reusable = reader
            .snapshot
            .is_some_and(|s| s.epoch == epoch && s.began.elapsed() < self.snapshot_reuse);
        if !reusable {
            reader.end_snapshot();
            // The transaction begins with `f`'s first read, after `epoch`
            // was read: a write committed in between only makes it look
            // older than it is.
            match reader.conn.execute_batch("BEGIN") {
                Ok(()) => {
                    reader.snapshot = Some(Snapshot {
                        epoch,
                        began: Instant::now(),
                    });
                }
                Err(e) => {
                    self.return_reader(reader);
                    return Err(map_err(e));
                }
            }
        }
        let result = f(&reader.conn).map_err(map_err);
        if result.is_err() {
            reader.end_snapshot();
        }
        self.return_reader(reader);
        result
    }

    /// Notes that the database changed: held read transactions are not
    /// reused after this.
    fn saw_write(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Wakes a caller waiting for a reader, if there is one: a notification
    /// costs a system call even when nobody waits, and returning a
    /// connection is on the path of every uncached read.
    fn wake_one(&self, readers: &Readers) {
        if readers.waiting > 0 {
            self.reader_free.notify_one();
        }
    }

    /// Deletes changes older than `retention` at `now`, at most
    /// [`PRUNE_BATCH`] per call (a short write), always keeping the latest
    /// so a starting node reads its sequence number. The oldest rows come
    /// first by `seq`, so the range on the primary key bounds the scan.
    fn prune_changes(&self, now: Timestamp, retention: Duration) -> Result<()> {
        let cutoff = now.unix_millis() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let oldest: Option<i64> = self.read(|conn| {
            conn.query_row("SELECT at FROM changes ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
        })?;
        if oldest.is_none_or(|at| at >= cutoff) {
            return Ok(());
        }
        self.write(|tx| {
            tx.execute(
                "DELETE FROM changes WHERE seq < (SELECT min(seq) FROM changes) + ?2
                    AND at < ?1 AND seq < (SELECT max(seq) FROM changes)",
                params![cutoff, PRUNE_BATCH],
            )?;
            Ok(())
        })
    }

    /// Copies the log into the database and cuts it to nothing. Held read
    /// transactions of this process's idle readers are ended first (they
    /// would keep the checkpoint from finishing); another process's writer
    /// is waited for only briefly, since the next upkeep tries again.
    fn truncate_wal(&self) -> Result<()> {
        {
            let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            for reader in &mut readers.idle {
                reader.end_snapshot();
            }
        }
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        conn.busy_handler(Some(busy_briefly)).map_err(map_err)?;
        let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        });
        conn.busy_handler(Some(busy)).map_err(map_err)?;
        match result {
            // 0: done; 1: a reader or writer was in the way, next time.
            Ok(_) => Ok(()),
            Err(e) if matches!(map_err_ref(&e), StoreError::Unavailable(_)) => Ok(()),
            Err(e) => Err(map_err(e)),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let value = f(&tx)?;
        tx.commit().map_err(map_err)?;
        self.saw_write();
        Ok(value)
    }

    /// One transaction of a bulk write, then [`BULK_GAP`] without the lock.
    /// Its commit is not synced to disk: the bulk write's last commit (a
    /// publish, which is a plain [`Inner::write`]) syncs every frame before
    /// it, and a crash before that loses only work that was never visible.
    fn write_bulk<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let result = {
            let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(map_err)?;
            let result = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)
                .and_then(|tx| {
                    let value = f(&tx)?;
                    tx.commit().map_err(map_err)?;
                    Ok(value)
                });
            let restored = conn
                .pragma_update(None, "synchronous", "FULL")
                .map_err(map_err);
            result.and_then(|value| restored.map(|()| value))
        };
        self.saw_write();
        std::thread::sleep(BULK_GAP);
        result
    }

    /// Steps an import to its end: settles or deletes its rows a range at a
    /// time, reporting rows done, until it is gone or `budget` has passed.
    /// Returns whether it is gone.
    fn finish_import(
        &self,
        import: ImportId,
        budget: Option<Duration>,
        progress: Option<&Progress>,
    ) -> Result<bool> {
        let started = Instant::now();
        let mut done = 0u64;
        loop {
            let (touched, gone) = self.write_bulk(|tx| imports::step(tx, import))?;
            if gone {
                return Ok(true);
            }
            done += touched as u64;
            if let Some(progress) = progress {
                progress(done);
            }
            if budget.is_some_and(|b| started.elapsed() >= b) {
                return Ok(false);
            }
        }
    }

    /// Finishes the imports whose owners are gone (their lock is free), for
    /// up to `budget` in all.
    fn reap_imports(&self, budget: Option<Duration>) -> Result<()> {
        let started = Instant::now();
        let ids = self.read(imports::all)?;
        for id in ids {
            if self.owns_import(id) {
                continue;
            }
            let Some(lock) = imports::try_lock(&self.path, id)? else {
                continue;
            };
            let left = budget.map(|b| b.saturating_sub(started.elapsed()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(());
            }
            if self.finish_import(id, left, None)? {
                // Removed while locked: whoever opens it next finds no
                // import and removes nothing of anyone's.
                let _ = std::fs::remove_file(imports::lock_path(&self.path, id));
            }
            drop(lock);
        }
        Ok(())
    }

    fn owns_import(&self, id: ImportId) -> bool {
        self.import_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    /// An import of ours, or an error naming it.
    fn check_owned(&self, id: ImportId) -> Result<()> {
        if self.owns_import(id) {
            Ok(())
        } else {
            Err(StoreError::Internal(format!(
                "import {id} was not begun by this store, or is finished"
            )))
        }
    }

    /// Finishes an import of ours (settles or deletes its rows). If that
    /// fails, lets go of its lock, so upkeep (this process's or another's)
    /// finishes it later: held, the lock would keep every upkeep away for
    /// as long as this store lives.
    fn finish_own(&self, id: ImportId, progress: Option<&Progress>) -> Result<()> {
        match self.finish_import(id, None, progress) {
            Ok(_) => {
                self.release_import(id);
                Ok(())
            }
            Err(e) => {
                self.hand_over(id);
                Err(e)
            }
        }
    }

    /// Drops our lock of an import, leaving its file for whoever finishes it.
    fn hand_over(&self, id: ImportId) {
        self.import_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Lets go of a finished import of ours.
    fn release_import(&self, id: ImportId) {
        let lock = self
            .import_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if lock.is_some() {
            let _ = std::fs::remove_file(imports::lock_path(&self.path, id));
        }
    }
}

/// Maps a driver error onto the store's: lock and I/O trouble is worth a
/// retry (503), anything else is a bug or corruption (500).
#[expect(clippy::needless_pass_by_value, reason = "used as map_err(map_err)")]
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, _) = &e
        && matches!(
            code.code,
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::OutOfMemory
        )
    {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Internal(e.to_string())
}

/// [`map_err`] of a borrowed error.
fn map_err_ref(e: &rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, _) = e
        && matches!(
            code.code,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked
        )
    {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Internal(e.to_string())
}

/// Lets `?` on rusqlite results inside write closures.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        map_err(e)
    }
}

/// Records a change in the log nodes poll, in the caller's transaction.
pub(crate) fn record_change(tx: &Connection, change: Change) -> rusqlite::Result<()> {
    let (kind, center, campaign, key) = match change {
        Change::Campaign(center, id) => ("campaign", Some(center.get()), Some(id.get()), None),
        Change::Campaigns(center) => ("campaigns", Some(center.get()), None, None),
        Change::ApiKey(id) => ("api_key", None, None, Some(id.get())),
        Change::Reset => ("reset", None, None, None),
    };
    tx.prepare_cached(
        "INSERT INTO changes (kind, contact_center_id, campaign_id, api_key_id, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![kind, center, campaign, key, Timestamp::now().unix_millis()])?;
    Ok(())
}

fn change_from_row(
    kind: &str,
    center: Option<i64>,
    campaign: Option<i64>,
    key: Option<i64>,
) -> Option<Change> {
    match kind {
        "campaign" => Some(Change::Campaign(
            ContactCenterId::new(center?)?,
            CampaignId::new(campaign?)?,
        )),
        "campaigns" => Some(Change::Campaigns(ContactCenterId::new(center?)?)),
        "api_key" => Some(Change::ApiKey(ApiKeyId::new(key?)?)),
        "reset" => Some(Change::Reset),
        _ => None,
    }
}

pub(super) fn center_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ContactCenter> {
    let name: String = row.get(1)?;
    Ok(ContactCenter {
        id: ContactCenterId::new(row.get(0)?).ok_or_else(|| corrupt(0, "contact center id"))?,
        name: name
            .parse()
            .map_err(|_| corrupt(1, "contact center name"))?,
        created_at: Timestamp::from_unix_millis(row.get(2)?)
            .ok_or_else(|| corrupt(2, "timestamp"))?,
        campaigns: row.get::<_, i64>(3)? as u64,
        active_keys: row.get::<_, i64>(4)? as u64,
    })
}

/// Campaigns are counted with the index alone, less the rows that
/// unfinished imports hold (which they keep count of).
pub(super) const CENTER_SELECT: &str = "SELECT c.id, c.name, c.created_at,
        (SELECT COUNT(*) FROM campaigns WHERE contact_center_id = c.id)
          - (SELECT coalesce(sum(staged), 0) FROM imports
             WHERE contact_center_id = c.id AND state <> 'published'),
        (SELECT COUNT(*) FROM api_keys WHERE contact_center_id = c.id AND revoked_at IS NULL)
    FROM contact_centers c";

/// A conversion error for a stored value that breaks its type's rules.
pub(crate) fn corrupt(column: usize, what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("stored {what} is invalid").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::{ChangeCursor, CursorAt};

    fn count(conn: &Connection) -> rusqlite::Result<i64> {
        conn.query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
    }

    /// A grouped write that panics fails alone: the committer and the
    /// writer connection go on serving writes.
    #[tokio::test]
    async fn a_panicking_grouped_write_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("campaignd.db")).unwrap();
        store.migrate().await.unwrap();
        let insert = |kind: &'static str| {
            store.write_grouped(move |conn| {
                conn.execute(
                    "INSERT INTO changes (kind, api_key_id, at) VALUES (?1, 1, 0)",
                    [kind],
                )?;
                Ok::<_, StoreError>(())
            })
        };
        let (before, panicked, after) = tokio::join!(
            insert("api_key"),
            store.write_grouped(|conn| -> Result<()> {
                conn.execute("INSERT INTO changes (kind, at) VALUES ('api_key', 0)", [])?;
                panic!("a bug in a write")
            }),
            insert("api_key"),
        );
        assert!(before.is_ok() && after.is_ok(), "{before:?} {after:?}");
        assert!(
            matches!(panicked, Err(StoreError::Internal(_))),
            "{panicked:?}"
        );
        assert_eq!(
            store
                .changes_since(&ChangeCursor::origin(), 10)
                .await
                .unwrap()
                .changes
                .len(),
            2,
            "the panicked write was rolled back"
        );
        insert("api_key").await.unwrap();
        assert_eq!(
            store.latest_change().await.unwrap(),
            ChangeCursor(CursorAt::Seq(3))
        );
    }

    /// Changes older than the retention are pruned, the latest always kept,
    /// and what a lagging node could still need stays.
    #[tokio::test]
    async fn old_changes_are_pruned_and_the_latest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("campaignd.db")).unwrap();
        store.migrate().await.unwrap();
        let hour = 3_600_000;
        let now = 10 * hour;
        // Five old changes, then two within the hour.
        let ats = [
            hour,
            hour,
            2 * hour,
            3 * hour,
            4 * hour,
            now - 1000,
            now - 10,
        ];
        store
            .inner
            .write(|tx| {
                for at in ats {
                    tx.execute(
                        "INSERT INTO changes (kind, api_key_id, at) VALUES ('api_key', 1, ?1)",
                        [at],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        let at = Timestamp::from_unix_millis(now).unwrap();
        store
            .inner
            .prune_changes(at, Duration::from_hours(1))
            .unwrap();
        let left = store
            .changes_since(&ChangeCursor::origin(), 100)
            .await
            .unwrap();
        assert_eq!(left.changes.len(), 2, "{left:?}");
        assert_eq!(
            store.latest_change().await.unwrap(),
            ChangeCursor(CursorAt::Seq(7))
        );
        // All old: everything but the latest goes.
        let later = Timestamp::from_unix_millis(now + 2 * hour).unwrap();
        store
            .inner
            .prune_changes(later, Duration::from_hours(1))
            .unwrap();
        let left = store
            .changes_since(&ChangeCursor::origin(), 100)
            .await
            .unwrap();
        assert_eq!(left.changes.len(), 1, "{left:?}");
        assert_eq!(left.next, ChangeCursor(CursorAt::Seq(7)));
    }

    /// A log left large by a rolled-back write is cut back by `maintain`,
    /// and the footprint reports both files.
    #[tokio::test]
    async fn maintain_cuts_a_large_log_back_under_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("campaignd.db");
        let store =
            SqliteStore::open_tuned(&path, DEFAULT_READERS, |s| s.wal_limit = 1 << 20).unwrap();
        store.migrate().await.unwrap();
        // Another connection writes 8 MiB and rolls back: its small page
        // cache spills the pages into the log, which keeps its size.
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("PRAGMA cache_size = -256; BEGIN")
            .unwrap();
        for i in 0..128 {
            other
                .execute(
                    "INSERT INTO settings (key, value) VALUES (?1, zeroblob(65536))",
                    [format!("filler {i}")],
                )
                .unwrap();
        }
        other.execute_batch("ROLLBACK").unwrap();
        let before = store.footprint().await.unwrap();
        assert!(before.wal_bytes.unwrap() > 1 << 20, "{before:?}");
        assert!(before.database_bytes.unwrap() > 0);
        store.maintain().await.unwrap();
        let after = store.footprint().await.unwrap();
        assert!(after.wal_bytes.unwrap() <= 1 << 20, "{after:?}");
    }

    /// Opening and migrating a database that is up to date takes no write
    /// lock: it succeeds while another connection holds the lock (say, a
    /// bulk import), where waiting would fail after the busy timeout.
    #[tokio::test]
    async fn an_up_to_date_database_opens_and_migrates_beside_a_held_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("campaignd.db");
        SqliteStore::open(&path).unwrap().migrate().await.unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let store = SqliteStore::open(&path).unwrap();
        let report = store.migrate().await.unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(report.current, migrations::latest());
        holder.execute_batch("ROLLBACK").unwrap();
    }

    /// A point lookup reuses its reader's read transaction only while no
    /// write has been seen: after `saw_write` (which the store's writes and
    /// the change-log reads call), it sees another connection's commit even
    /// though the reader was never returned through a fresh `read`.
    #[tokio::test]
    async fn held_read_transactions_end_at_the_next_seen_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("campaignd.db");
        // Only the write can end the snapshot here, however slow the machine.
        let store = SqliteStore::open_tuned(&path, DEFAULT_READERS, |s| {
            s.snapshot_reuse = Duration::from_hours(1);
        })
        .unwrap();
        store.migrate().await.unwrap();
        let inner = &store.inner;
        let before = inner.read_point(count).unwrap();
        // Another process commits.
        Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO settings (key, value) VALUES ('probe', X'00')",
                [],
            )
            .unwrap();
        // The held snapshot does not see it...
        assert_eq!(inner.read_point(count).unwrap(), before);
        // ...until a write has been seen.
        inner.saw_write();
        assert_eq!(inner.read_point(count).unwrap(), before + 1);
    }
}
