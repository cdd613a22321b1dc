//! Campaign body reads, batched. A node under load has many requests
//! missing its render cache at once; each alone would cost PostgreSQL a
//! whole statement (a round trip, a plan, an executor start), so those
//! waiting together are answered by one query.
//!
//! No request waits to be batched: a read runs at once while fewer than
//! [`MAX_IN_FLIGHT`] queries are out, and only reads arriving while they
//! all are out queue, to go together in the next. At low load this is one
//! query per read, as before; at high load the queue, not a timer, sets
//! the batch size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use campaignd_model::{Campaign, CampaignId, ContactCenterId};
use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::oneshot;

use super::{campaigns, col, corrupt, pooled};
use crate::{Result, StoreError};

/// Most batch queries out at once. A few overlap the round trips of a
/// database across a network; more would only split the queue into
/// smaller batches.
const MAX_IN_FLIGHT: usize = 4;

/// Most reads one query answers.
const MAX_BATCH: usize = 128;

/// What one read gets back.
type Reply = Result<Option<Vec<u8>>>;

struct Waiting {
    key: (ContactCenterId, CampaignId),
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// Drain tasks running; each runs one query at a time.
    draining: usize,
}

/// The batched reader of one store.
pub(super) struct BodyReads {
    pool: Pool,
    queue: Arc<Mutex<Queue>>,
}

impl BodyReads {
    pub(super) fn new(pool: Pool) -> Self {
        Self {
            pool,
            queue: Arc::default(),
        }
    }

    /// The Get campaign body of `id` in `center`, as
    /// [`campaigns::get_body`] reads it.
    pub(super) async fn get(&self, center: ContactCenterId, id: CampaignId) -> Reply {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = lock(&self.queue);
            queue.waiting.push(Waiting {
                key: (center, id),
                reply,
            });
            let start = queue.draining < MAX_IN_FLIGHT;
            queue.draining += usize::from(start);
            start
        };
        if start {
            // A task of its own, so a request given up on (its client
            // gone) does not abandon the reads it took from the queue.
            tokio::spawn(drain(self.pool.clone(), Arc::clone(&self.queue)));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the read was dropped (the node is shutting down)".into(),
            ))
        })
    }
}

fn lock(queue: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A drain task's place in [`Queue::draining`]: given back under the
/// queue's lock when the queue is found empty, or on drop if the task ends
/// any other way (a panic, a runtime shutting down), so a lost task never
/// holds a place for good.
struct Place {
    queue: Arc<Mutex<Queue>>,
    held: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.held {
            lock(&self.queue).draining -= 1;
        }
    }
}

/// Answers queued reads, a batch per query, until none are left.
async fn drain(pool: Pool, queue: Arc<Mutex<Queue>>) {
    let mut place = Place {
        queue: Arc::clone(&queue),
        held: true,
    };
    loop {
        let batch: Vec<Waiting> = {
            let mut queue = lock(&queue);
            // Reads whose requests were given up on are not worth a query.
            queue.waiting.retain(|w| !w.reply.is_closed());
            if queue.waiting.is_empty() {
                // Under the same lock as a read's check of `draining`: a
                // read queued after this sees one fewer and starts a drain.
                queue.draining -= 1;
                place.held = false;
                return;
            }
            let take = queue.waiting.len().min(MAX_BATCH);
            queue.waiting.drain(..take).collect()
        };
        let keys: Vec<_> = batch.iter().map(|w| w.key).collect();
        match read(&pool, &keys).await {
            Ok(bodies) => {
                for w in batch {
                    // A key asked for twice is answered twice.
                    let _ = w.reply.send(Ok(bodies.get(&w.key).cloned()));
                }
            }
            Err(e) => {
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for w in batch {
                    let _ = w.reply.send(Err(e.clone()));
                }
                if unavailable {
                    // The database is down or out of connections: what
                    // waits now would only wait as long again to learn it.
                    let rest = std::mem::take(&mut lock(&queue).waiting);
                    for w in rest {
                        let _ = w.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// The bodies of those of `keys` that exist, in one query.
async fn read(
    pool: &Pool,
    keys: &[(ContactCenterId, CampaignId)],
) -> Result<HashMap<(ContactCenterId, CampaignId), Vec<u8>>> {
    let conn = pooled(pool).await?;
    if let [(center, id)] = keys {
        // One read alone: the plain point query, cheaper to plan.
        let body = campaigns::get_body(&conn, *center, *id).await?;
        return Ok(body.map(|b| ((*center, *id), b)).into_iter().collect());
    }
    let (centers, ids): (Vec<i64>, Vec<i64>) = keys.iter().map(|(c, i)| (c.get(), i.get())).unzip();
    let stmt = conn
        .prepare_cached(
            "SELECT c.contact_center_id, c.id, c.body, c.body_version
             FROM unnest($1::int8[], $2::int8[]) AS k(center, id)
             JOIN campaigns c ON c.contact_center_id = k.center AND c.id = k.id",
        )
        .await?;
    let mut bodies = HashMap::with_capacity(keys.len());
    let mut stale = Vec::new();
    for row in conn.query(&stmt, &[&centers, &ids]).await? {
        let key = row_key(&row)?;
        if col::<i64>(&row, 3)? == Campaign::BODY_VERSION {
            bodies.insert(key, col::<&str>(&row, 2)?.as_bytes().to_vec());
        } else {
            stale.push(key);
        }
    }
    if !stale.is_empty() {
        // Stored by another build: rendered afresh from their columns, all
        // in one more query.
        let (centers, ids): (Vec<i64>, Vec<i64>) =
            stale.iter().map(|(c, i)| (c.get(), i.get())).unzip();
        let stmt = conn
            .prepare_cached(&format!(
                "SELECT c.contact_center_id, {} FROM unnest($1::int8[], $2::int8[]) AS k(kc, ki)
                 JOIN campaigns c ON c.contact_center_id = k.kc AND c.id = k.ki",
                campaigns::COLUMNS
            ))
            .await?;
        for row in conn.query(&stmt, &[&centers, &ids]).await? {
            let center = ContactCenterId::new(col(&row, 0)?).ok_or_else(|| corrupt("center id"))?;
            let campaign = campaigns::from_row_at(&row, 1)?;
            bodies.insert((center, campaign.id), campaign.get_body());
        }
    }
    Ok(bodies)
}

fn row_key(row: &tokio_postgres::Row) -> Result<(ContactCenterId, CampaignId)> {
    let center = ContactCenterId::new(col(row, 0)?).ok_or_else(|| corrupt("center id"))?;
    let id = CampaignId::new(col(row, 1)?).ok_or_else(|| corrupt("campaign id"))?;
    Ok((center, id))
}
