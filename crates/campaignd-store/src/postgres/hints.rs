//! Change hints: a store that commits a change says so with `NOTIFY`, so
//! the watchers of the other nodes read the change log now rather than at
//! their next poll.
//!
//! A hint carries nothing but "look": what changed is read from the log.
//! So a lost hint (a listener reconnecting, a node killed between its
//! commit and its `NOTIFY`, a CLI command that exits first) costs only the
//! poll interval, never a change. The `NOTIFY` is sent after the commit
//! and outside the write's transaction: inside it, every writing
//! transaction would take PostgreSQL's notify queue lock at commit, one at
//! a time. Here one node sends at most one per [`MIN_GAP`], however many
//! writes it commits.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::pooled;

/// The channel hints go out on.
const CHANNEL: &str = "campaignd_changes";

/// Least time between two hints from one store: writes committed in it
/// share the next.
const MIN_GAP: Duration = Duration::from_millis(20);

/// How long a lost listening connection waits before connecting again.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// How often a listener checks that someone still wants its hints.
const OWNER_CHECK: Duration = Duration::from_secs(5);

/// Hints sent and heard by one store.
pub(super) struct Hints {
    pool: Pool,
    config: tokio_postgres::Config,
    sending: Arc<Mutex<Sending>>,
}

#[derive(Default)]
struct Sending {
    /// A sender task is running (sending, or waiting out its gap).
    running: bool,
    /// A commit came after the running sender's last hint.
    again: bool,
}

impl Hints {
    pub(super) fn new(pool: Pool, config: tokio_postgres::Config) -> Self {
        Self {
            pool,
            config,
            sending: Arc::default(),
        }
    }

    /// Called after a write commits: a hint goes out now, or, if one went
    /// out within [`MIN_GAP`], at its end.
    pub(super) fn committed(&self) {
        {
            let mut sending = lock(&self.sending);
            if sending.running {
                sending.again = true;
                return;
            }
            sending.running = true;
        }
        tokio::spawn(send(self.pool.clone(), Arc::clone(&self.sending)));
    }

    /// Starts listening on a connection of its own; the returned [`Notify`]
    /// is woken on each hint from any node (this one included) and once
    /// each time the connection is (re)established, since hints may have
    /// been missed while it was down. Listening stops soon after the last
    /// clone of it is dropped.
    pub(super) fn listen(&self) -> Arc<Notify> {
        let hint = Arc::new(Notify::new());
        tokio::spawn(listen(self.config.clone(), Arc::downgrade(&hint)));
        hint
    }
}

fn lock(sending: &Mutex<Sending>) -> std::sync::MutexGuard<'_, Sending> {
    sending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends hints until a gap passes with no commit.
async fn send(pool: Pool, sending: Arc<Mutex<Sending>>) {
    loop {
        match pooled(&pool).await {
            Ok(conn) => {
                if let Err(e) = conn.batch_execute(&format!("NOTIFY {CHANNEL}")).await {
                    // The other nodes' polls find the change anyway.
                    tracing::debug!(error = %e, "cannot send a change hint");
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot send a change hint"),
        }
        tokio::time::sleep(MIN_GAP).await;
        let mut state = lock(&sending);
        if !state.again {
            // Under the lock a commit checks `running` with: one after
            // this starts a sender of its own.
            state.running = false;
            return;
        }
        state.again = false;
    }
}

/// Wakes `hint`; false once its owner has dropped it.
fn wake(hint: &Weak<Notify>) -> bool {
    hint.upgrade().map(|h| h.notify_one()).is_some()
}

/// Listens for hints, reconnecting while `hint` has an owner.
async fn listen(config: tokio_postgres::Config, hint: Weak<Notify>) {
    while hint.strong_count() > 0 {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let listen = format!("LISTEN {CHANNEL}");
                let subscribe = client.batch_execute(&listen);
                tokio::pin!(subscribe);
                let mut subscribed = false;
                loop {
                    tokio::select! {
                        result = &mut subscribe, if !subscribed => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, "cannot listen for change hints");
                                break;
                            }
                            subscribed = true;
                            // Whatever was hinted while no one listened.
                            if !wake(&hint) {
                                return;
                            }
                        }
                        message = std::future::poll_fn(|cx| connection.poll_message(cx)) => {
                            match message {
                                Some(Ok(AsyncMessage::Notification(_))) => {
                                    if !wake(&hint) {
                                        return;
                                    }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(e)) => {
                                    tracing::debug!(error = %e, "change hint connection lost");
                                    break;
                                }
                                None => break,
                            }
                        }
                        () = tokio::time::sleep(OWNER_CHECK) => {
                            if hint.strong_count() == 0 {
                                return;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot connect to listen for change hints"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}
