//! Group commit: the API's writes that arrive together share one durable
//! transaction.
//!
//! One commit per request caps writes at the disk's fsync rate. Instead,
//! writes queue for a committer thread, which takes everything queued (up
//! to [`MAX_GROUP`]), runs each in a savepoint of one `BEGIN IMMEDIATE`
//! transaction, and commits once with `synchronous=FULL`. A write that
//! fails is rolled back to its savepoint alone; the others go ahead. Every
//! caller hears of its write only after the commit that holds it is
//! durable, and hears the commit's error if that fails.

use std::sync::mpsc;
use std::sync::{PoisonError, Weak};

use rusqlite::Connection;

use super::{Inner, map_err};
use crate::StoreError;

/// Most writes in one transaction: enough to cover a burst from many
/// connections, few enough that the first of them is not kept waiting.
const MAX_GROUP: usize = 256;

/// A write waiting for its group.
pub(super) trait Grouped: Send {
    /// Whether the caller still waits for the answer; one that gave up (a
    /// request timed out) is not run at all.
    fn wanted(&self) -> bool;
    /// Runs the write in the open savepoint; false if it failed (and must
    /// be rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once its group committed, or failed to.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A write of type `F` answering `Result<T, E>`.
pub(super) struct Pending<F, T, E> {
    write: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Pending<F, T, E> {
    /// A write and where its answer goes.
    pub(super) fn new(write: F, reply: tokio::sync::oneshot::Sender<Result<T, E>>) -> Self {
        Self {
            write: Some(write),
            outcome: None,
            reply,
        }
    }
}

impl<F, T, E> Grouped for Pending<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn wanted(&self) -> bool {
        !self.reply.is_closed()
    }

    fn run(&mut self, conn: &Connection) -> bool {
        let Some(write) = self.write.take() else {
            return false;
        };
        // A panicking write fails alone: the committer thread, and the
        // transaction the others share, carry on.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(conn)))
            .unwrap_or_else(|_| {
                Err(StoreError::Internal("a write panicked; it was rolled back".into()).into())
            });
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        // A failed commit undoes the whole group, so a write's own refusal
        // (a name taken, a stale tag) may rest on writes that never
        // happened: every write of it hears the commit's error instead.
        let answer = match (self.outcome, committed) {
            (_, Err(e)) => Err(e.into()),
            (Some(outcome), Ok(())) => outcome,
            (None, Ok(())) => Err(StoreError::Internal("a grouped write never ran".into()).into()),
        };
        // The caller may have stopped waiting; then nobody is told.
        let _ = self.reply.send(answer);
    }
}

/// Runs the committer until the store is dropped (every sender gone).
pub(super) fn run(inner: &Weak<Inner>, queue: &mpsc::Receiver<Box<dyn Grouped>>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        commit_group(&inner, group);
    }
}

/// Commits one group; a write that broke the whole transaction (SQLite
/// rolled it back) fails with the writes before it, and the writes after
/// it go again in a fresh one.
fn commit_group(inner: &Inner, mut group: Vec<Box<dyn Grouped>>) {
    while !group.is_empty() {
        let conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // A transaction left open by a failure elsewhere (a rollback that
        // failed, a panic under the lock) would wedge every later BEGIN.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = map_err(e);
            group.drain(..).for_each(|w| w.finish(Err(e.clone())));
            return;
        }
        let mut done = 0;
        let mut broken = None;
        for write in &mut group {
            done += 1;
            // Checked as late as possible: the wait for the lock may have
            // outlasted the request.
            if !write.wanted() {
                continue;
            }
            if let Err(e) = savepoint(&conn, |conn| write.run(conn)) {
                broken = Some(e);
                break;
            }
        }
        let rest = group.split_off(done);
        let committed = match broken {
            Some(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
            None => conn.execute_batch("COMMIT").map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                map_err(e)
            }),
        };
        drop(conn);
        if committed.is_ok() {
            // Before anyone hears of it: a read that starts after the
            // answer must not reuse a snapshot from before the commit.
            inner.saw_write();
        }
        for write in group.drain(..) {
            write.finish(committed.clone());
        }
        group = rest;
    }
}

/// Runs `f` in a savepoint, rolled back if it reports failure. `Err` only
/// if the transaction itself is gone.
fn savepoint(conn: &Connection, f: impl FnOnce(&Connection) -> bool) -> Result<(), StoreError> {
    conn.execute_batch("SAVEPOINT grouped_write")
        .map_err(map_err)?;
    let ok = f(conn);
    if conn.is_autocommit() {
        return Err(StoreError::Unavailable(
            "a write aborted its group's transaction".into(),
        ));
    }
    if !ok {
        conn.execute_batch("ROLLBACK TO grouped_write")
            .map_err(map_err)?;
    }
    conn.execute_batch("RELEASE grouped_write").map_err(map_err)
}
