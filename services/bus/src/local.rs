//! The in-process bus of the all-in-one mode. It keeps the same contract as RabbitMQ —
//! durable queues and bindings, at-least-once delivery, acknowledgement after the
//! consumer's commit, redelivery of whatever was not acknowledged (also after a crash),
//! a delivery limit and a dead-letter table — by storing its queues in the embedded
//! database (`bus_queue`, `bus_bindings`, `bus_dead_letters`). Live queues stay in
//! memory: their consumers get a message before it is written for the durable ones.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use ringside_storage::{Db, Row, now_millis};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    Acker, Bus, BusError, Confirm, DELIVERY_LIMIT, Deliveries, Delivery, Message, QueueKind,
    QueueSpec, topic_matches,
};

/// How often a queue is re-read when nothing woke it (a safety net, not the path).
const POLL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct LocalBus {
    db: Db,
    state: Arc<State>,
}

struct State {
    /// (queue, pattern) pairs, as stored in `bus_bindings`.
    bindings: RwLock<Vec<(String, String)>>,
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
    live: RwLock<Vec<LiveQueue>>,
    shutdown: CancellationToken,
}

/// A live queue's bindings and its consumer.
struct LiveQueue {
    queue: String,
    bindings: Vec<String>,
    out: mpsc::Sender<Delivery>,
}

impl LocalBus {
    /// Opens the bus on `db` (migrated), loading the queues declared before.
    pub async fn open(db: Db, shutdown: CancellationToken) -> Result<Self, BusError> {
        let rows = sqlx::query("SELECT queue, pattern FROM bus_bindings")
            .fetch_all(db.pool())
            .await?;
        let bindings = rows
            .iter()
            .map(|r| Ok((r.try_get("queue")?, r.try_get("pattern")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(LocalBus {
            db,
            state: Arc::new(State {
                bindings: RwLock::new(bindings),
                wakers: Mutex::new(HashMap::new()),
                live: RwLock::new(Vec::new()),
                shutdown,
            }),
        })
    }

    fn waker(&self, queue: &str) -> Arc<Notify> {
        let mut wakers = self.state.wakers.lock().expect("wakers lock");
        wakers.entry(queue.to_owned()).or_default().clone()
    }

    fn queues_for(&self, routing_key: &str) -> Vec<String> {
        let bindings = self.state.bindings.read().expect("bindings lock");
        let mut queues: Vec<String> = bindings
            .iter()
            .filter(|(_, pattern)| topic_matches(pattern, routing_key))
            .map(|(queue, _)| queue.clone())
            .collect();
        queues.dedup();
        queues
    }

    /// How many messages wait in `queue` (delivered or not, not yet acknowledged).
    pub async fn depth(&self, queue: &str) -> Result<i64, BusError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM bus_queue WHERE queue = $1")
                .bind(queue)
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    /// Writes each message into every durable queue bound to it, in one transaction,
    /// and wakes their dispatchers.
    async fn store(&self, batch: &[Message]) -> Result<(), BusError> {
        let routed: Vec<(&Message, Vec<String>)> = batch
            .iter()
            .map(|m| (m, self.queues_for(&m.routing_key)))
            .filter(|(_, queues)| !queues.is_empty())
            .collect();
        if routed.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin().await?;
        for (message, queues) in &routed {
            for queue in queues {
                sqlx::query(
                    "INSERT INTO bus_queue (queue, routing_key, event_id, payload, enqueued_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(queue)
                .bind(&message.routing_key)
                .bind(&message.event_id)
                .bind(&message.payload)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        let woken: HashSet<&String> = routed.iter().flat_map(|(_, q)| q).collect();
        for queue in woken {
            self.waker(queue).notify_one();
        }
        Ok(())
    }

    /// Hands each message to the live queues bound to it; a consumer that lags a whole
    /// queue behind misses messages (counted), one that is gone is forgotten.
    fn hand_live(&self, batch: &[Message]) {
        let mut gone = false;
        {
            let live = self.state.live.read().expect("live lock");
            for message in batch {
                for q in live.iter().filter(|q| q.binds(&message.routing_key)) {
                    let delivery = Delivery {
                        message: message.clone(),
                        attempt: 1,
                        acker: Box::new(LiveAcker),
                    };
                    match q.out.try_send(delivery) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            metrics::counter!("ringside_bus_live_dropped_total", "queue" => q.queue.clone())
                                .increment(1);
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => gone = true,
                    }
                }
            }
        }
        if gone {
            let mut live = self.state.live.write().expect("live lock");
            live.retain(|q| !q.out.is_closed());
        }
    }

    fn subscribe_live(&self, spec: QueueSpec) -> Deliveries {
        let (out, rx) = mpsc::channel(usize::from(spec.prefetch.max(1)));
        let mut live = self.state.live.write().expect("live lock");
        live.push(LiveQueue {
            queue: spec.queue,
            bindings: spec.bindings,
            out,
        });
        Deliveries::new(rx, self.state.shutdown.child_token())
    }

    /// How many messages of `queue` were dead-lettered.
    pub async fn dead_letters(&self, queue: &str) -> Result<i64, BusError> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM bus_dead_letters WHERE queue = $1")
                .bind(queue)
                .fetch_one(self.db.pool())
                .await?,
        )
    }
}

#[async_trait]
impl Bus for LocalBus {
    /// Durable on return: the batch is committed before this returns.
    async fn send(&self, batch: &[Message]) -> Result<Confirm, BusError> {
        self.hand_live(batch);
        self.store(batch).await?;
        Ok(crate::durable())
    }

    async fn subscribe(&self, spec: QueueSpec) -> Result<Deliveries, BusError> {
        if spec.kind == QueueKind::Live {
            return Ok(self.subscribe_live(spec));
        }
        // The spec is the queue's whole set of bindings: those a former version
        // declared and this one does not are dropped.
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM bus_bindings WHERE queue = $1")
            .bind(&spec.queue)
            .execute(&mut *tx)
            .await?;
        for pattern in &spec.bindings {
            sqlx::query(
                "INSERT INTO bus_bindings (queue, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&spec.queue)
            .bind(pattern)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        {
            let mut bindings = self.state.bindings.write().expect("bindings lock");
            bindings.retain(|(queue, _)| queue != &spec.queue);
            for pattern in &spec.bindings {
                let pair = (spec.queue.clone(), pattern.clone());
                if !bindings.contains(&pair) {
                    bindings.push(pair);
                }
            }
        }
        let (tx, rx) = mpsc::channel(usize::from(spec.prefetch.max(1)));
        let stop = self.state.shutdown.child_token();
        let dispatcher = Dispatcher {
            db: self.db.clone(),
            queue: spec.queue.clone(),
            prefetch: i64::from(spec.prefetch.max(1)),
            wake: self.waker(&spec.queue),
            out: tx,
            shutdown: stop.clone(),
        };
        tokio::spawn(dispatcher.run());
        Ok(Deliveries::new(rx, stop))
    }

    async fn is_ready(&self) -> bool {
        !self.state.shutdown.is_cancelled() && self.db.is_ready().await
    }
}

impl LiveQueue {
    fn binds(&self, routing_key: &str) -> bool {
        self.bindings.iter().any(|p| topic_matches(p, routing_key))
    }
}

/// Settles nothing: a live message is gone once handed over.
struct LiveAcker;

#[async_trait]
impl Acker for LiveAcker {
    async fn ack(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn retry(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn reject(&self, _reason: &str) -> Result<(), BusError> {
        Ok(())
    }
}

/// Hands one queue's rows to its consumer, at most `prefetch` unacknowledged at once.
struct Dispatcher {
    db: Db,
    queue: String,
    prefetch: i64,
    wake: Arc<Notify>,
    out: mpsc::Sender<Delivery>,
    shutdown: CancellationToken,
}

impl Dispatcher {
    async fn run(self) {
        let (released_tx, mut released) = mpsc::unbounded_channel::<i64>();
        let mut in_flight: HashSet<i64> = HashSet::new();
        loop {
            while let Ok(id) = released.try_recv() {
                in_flight.remove(&id);
            }
            if (in_flight.len() as i64) < self.prefetch {
                match self.dispatch(&mut in_flight, &released_tx).await {
                    Ok(true) => {}
                    Ok(false) => return, // the consumer is gone
                    Err(e) => {
                        tracing::warn!(queue = %self.queue, error = %e, "local bus: read failed")
                    }
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                Some(id) = released.recv() => { in_flight.remove(&id); }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Sends the oldest rows not in flight; `Ok(false)` when the consumer went away.
    async fn dispatch(
        &self,
        in_flight: &mut HashSet<i64>,
        released: &mpsc::UnboundedSender<i64>,
    ) -> Result<bool, BusError> {
        let rows = sqlx::query(
            "SELECT id, routing_key, event_id, payload, attempts FROM bus_queue \
             WHERE queue = $1 ORDER BY id LIMIT $2",
        )
        .bind(&self.queue)
        .bind(self.prefetch + in_flight.len() as i64)
        .fetch_all(self.db.pool())
        .await?;
        for row in rows {
            if in_flight.len() as i64 >= self.prefetch {
                break;
            }
            let id: i64 = row.try_get("id")?;
            if in_flight.contains(&id) {
                continue;
            }
            let attempts: i64 = row.try_get("attempts")?;
            let delivery = Delivery {
                message: Message {
                    routing_key: row.try_get("routing_key")?,
                    event_id: row.try_get("event_id")?,
                    payload: row.try_get("payload")?,
                },
                attempt: u32::try_from(attempts).unwrap_or(u32::MAX - 1) + 1,
                acker: Box::new(LocalAcker {
                    db: self.db.clone(),
                    id,
                    released: released.clone(),
                    settled: AtomicBool::new(false),
                }),
            };
            in_flight.insert(id);
            if self.out.send(delivery).await.is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

struct LocalAcker {
    db: Db,
    id: i64,
    released: mpsc::UnboundedSender<i64>,
    settled: AtomicBool,
}

impl LocalAcker {
    fn release(&self) {
        if !self.settled.swap(true, Ordering::SeqCst) {
            // The dispatcher may be gone at shutdown; then there is nobody to tell.
            let _ = self.released.send(self.id);
        }
    }

    async fn dead_letter(&self, reason: &str) -> Result<(), BusError> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO bus_dead_letters (queue, routing_key, event_id, payload, attempts, reason, dead_at) \
             SELECT queue, routing_key, event_id, payload, attempts, $2, $3 FROM bus_queue WHERE id = $1",
        )
        .bind(self.id)
        .bind(reason)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM bus_queue WHERE id = $1")
            .bind(self.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Acker for LocalAcker {
    async fn ack(&self) -> Result<(), BusError> {
        sqlx::query("DELETE FROM bus_queue WHERE id = $1")
            .bind(self.id)
            .execute(self.db.pool())
            .await?;
        self.release();
        Ok(())
    }

    async fn retry(&self) -> Result<(), BusError> {
        let attempts: i64 = sqlx::query_scalar(
            "UPDATE bus_queue SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        )
        .bind(self.id)
        .fetch_one(self.db.pool())
        .await?;
        if attempts >= i64::from(DELIVERY_LIMIT) {
            self.dead_letter("delivery limit reached").await?;
        }
        self.release();
        Ok(())
    }

    async fn reject(&self, reason: &str) -> Result<(), BusError> {
        self.dead_letter(reason).await?;
        self.release();
        Ok(())
    }
}

impl Drop for LocalAcker {
    /// Dropped unsettled (the consumer died mid-way): deliver it again.
    fn drop(&mut self) {
        self.release();
    }
}
