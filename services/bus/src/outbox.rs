//! The transactional outbox. A producer writes its event with [`enqueue`] in the same
//! transaction as the change it describes; the [`Relay`] publishes unsent rows and marks
//! them sent. The relay always scans for rows not yet sent (never "ids after the last
//! one I saw"), so a row whose transaction committed after a later id's is not missed.

use std::sync::Arc;
use std::time::Duration;

use ringside_proto::events::v1::Envelope;
use ringside_storage::{AssertSqlSafe, Backend, Db, Row, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, Message};

/// A producing service's side of its outbox: events written inside its transactions
/// under its name, and its relay woken once each transaction commits.
#[derive(Clone)]
pub struct Writer {
    source: &'static str,
    relay_wake: Arc<Notify>,
}

impl Writer {
    /// `relay_wake` is the service's relay waker ([`Relay::waker`]).
    pub fn new(source: &'static str, relay_wake: Arc<Notify>) -> Self {
        Writer { source, relay_wake }
    }

    /// Writes `payload` as a new event of this service inside `tx`.
    pub async fn emit(
        &self,
        tx: &mut AnyConnection,
        correlation_id: &str,
        payload: crate::EventPayload,
    ) -> Result<(), BusError> {
        enqueue(
            tx,
            &crate::new_envelope(self.source, correlation_id, payload),
        )
        .await
    }

    /// Commits `tx` and wakes the relay to publish what it wrote.
    pub async fn commit(&self, tx: ringside_storage::Tx) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.relay_wake.notify_one();
        Ok(())
    }
}

/// Hands `handler` every event `source` wrote to the outbox after row `after`, in
/// order, as a consumer would get them; returns the last row handed over. For tests
/// that drive one service's consumer with another's events, without a bus.
pub async fn feed(
    db: &Db,
    source: &str,
    after: i64,
    handler: &dyn crate::consumer::Handler,
) -> Result<i64, BusError> {
    let rows =
        sqlx::query("SELECT id, payload FROM outbox WHERE source = $1 AND id > $2 ORDER BY id")
            .bind(source)
            .bind(after)
            .fetch_all(db.pool())
            .await?;
    let mut last = after;
    for row in rows {
        let payload: Vec<u8> = row.try_get("payload")?;
        let envelope = <Envelope as prost::Message>::decode(payload.as_slice())?;
        handler
            .handle(&envelope)
            .await
            .map_err(|e| BusError::Broker(format!("the handler refused the event: {e:?}")))?;
        last = row.try_get("id")?;
    }
    Ok(last)
}

/// Writes `envelope` to the outbox inside the caller's transaction.
pub async fn enqueue(conn: &mut AnyConnection, envelope: &Envelope) -> Result<(), BusError> {
    let message = Message::from_envelope(envelope);
    sqlx::query(
        "INSERT INTO outbox (source, event_id, routing_key, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&envelope.source)
    .bind(&message.event_id)
    .bind(&message.routing_key)
    .bind(message.payload)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

/// Publishes one producer's outbox rows.
pub struct Relay {
    db: Db,
    bus: Arc<dyn Bus>,
    source: String,
    wake: Arc<Notify>,
    /// How often to look for rows when nobody wakes the relay (other replicas' rows).
    pub poll_interval: Duration,
    /// Most rows published in one round.
    pub batch_size: i64,
    /// Published rows are deleted after this long.
    pub retention: Duration,
}

impl Relay {
    pub fn new(db: Db, bus: Arc<dyn Bus>, source: &str) -> Self {
        Relay {
            db,
            bus,
            source: source.to_owned(),
            wake: Arc::new(Notify::new()),
            poll_interval: Duration::from_millis(500),
            batch_size: 256,
            retention: Duration::from_secs(24 * 3600),
        }
    }

    /// What the producer calls after each commit so the relay publishes at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Publishes until `shutdown`; a failed round (broker down) is retried with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        let mut last_prune = std::time::Instant::now();
        loop {
            let wait = match self.relay_once().await {
                Ok(n) if n as i64 == self.batch_size => Duration::ZERO,
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    self.poll_interval
                }
                Err(e) => {
                    tracing::warn!(source = %self.source, error = %e, "outbox relay: publish failed, will retry");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    backoff
                }
            };
            if last_prune.elapsed() > Duration::from_secs(600) {
                last_prune = std::time::Instant::now();
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "outbox relay: prune failed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        // Drain what is committed so a clean stop leaves nothing behind.
        if let Err(e) = self.relay_once().await {
            tracing::warn!(source = %self.source, error = %e, "outbox relay: final drain failed");
        }
    }

    /// Publishes one batch of unsent rows; returns how many were sent.
    pub async fn relay_once(&self) -> Result<usize, BusError> {
        match self.db.backend() {
            // Several replicas may relay at once: each locks the rows it publishes.
            Backend::Postgres => {
                let mut tx = self.db.begin().await?;
                let rows = self.unsent(&mut tx, " FOR UPDATE SKIP LOCKED").await?;
                let sent = self.publish_and_mark(&mut tx, rows).await?;
                tx.commit().await?;
                Ok(sent)
            }
            // One process owns an SQLite file; holding its write lock while publishing
            // would block the local bus, which writes to the same file.
            Backend::Sqlite => {
                let mut conn = self.db.pool().acquire().await?;
                let rows = self.unsent(&mut conn, "").await?;
                self.publish_and_mark(&mut conn, rows).await
            }
        }
    }

    async fn unsent(
        &self,
        conn: &mut AnyConnection,
        lock: &str,
    ) -> Result<Vec<(i64, Message)>, BusError> {
        let sql = format!(
            "SELECT id, event_id, routing_key, payload FROM outbox \
             WHERE source = $1 AND published_at IS NULL ORDER BY id LIMIT $2{lock}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(&self.source)
            .bind(self.batch_size)
            .fetch_all(conn)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("id")?,
                    Message {
                        event_id: row.try_get("event_id")?,
                        routing_key: row.try_get("routing_key")?,
                        payload: row.try_get("payload")?,
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(BusError::from)
    }

    async fn publish_and_mark(
        &self,
        conn: &mut AnyConnection,
        rows: Vec<(i64, Message)>,
    ) -> Result<usize, BusError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (ids, messages): (Vec<i64>, Vec<Message>) = rows.into_iter().unzip();
        self.bus.publish(&messages).await?;
        // Ids are integers from our own table, so listing them inline is safe.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!("UPDATE outbox SET published_at = $1 WHERE id IN ({list})");
        sqlx::query(AssertSqlSafe(sql))
            .bind(now_millis())
            .execute(conn)
            .await?;
        metrics::counter!("ringside_outbox_published_total", "source" => self.source.clone())
            .increment(ids.len() as u64);
        Ok(ids.len())
    }

    /// Deletes rows published longer ago than the retention.
    pub async fn prune(&self) -> Result<u64, BusError> {
        let cutoff = now_millis() - self.retention.as_millis() as i64;
        let done = sqlx::query("DELETE FROM outbox WHERE source = $1 AND published_at < $2")
            .bind(&self.source)
            .bind(cutoff)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
