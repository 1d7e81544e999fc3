//! Shared helpers of the bus tests: the transports under test, event factories and a
//! handler that applies events through the inbox.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ringside_bus::amqp::AmqpBus;
use ringside_bus::consumer::{HandleError, Handler};
use ringside_bus::local::LocalBus;
use ringside_bus::{
    Bus, Deliveries, Delivery, Envelope, EventPayload, Message, inbox, new_envelope,
};
use ringside_proto::events::v1::{ContactDeleted, LeadCreated};
use ringside_storage::Db;
use ringside_storage::testing::{AMQP_URL_VAR, server_url};
use tokio_util::sync::CancellationToken;

/// A transport under test, with what is needed to inspect and clean it up.
pub enum Transport {
    Local(LocalBus),
    Amqp {
        bus: Arc<AmqpBus>,
        queues: Vec<String>,
    },
}

impl Transport {
    pub fn bus(&self) -> Arc<dyn Bus> {
        match self {
            Transport::Local(bus) => Arc::new(bus.clone()),
            Transport::Amqp { bus, .. } => bus.clone(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Transport::Local(_) => "local",
            Transport::Amqp { .. } => "rabbitmq",
        }
    }

    /// Messages waiting in `queue`'s dead-letter queue.
    pub async fn dead_letters(&self, queue: &str) -> u32 {
        match self {
            Transport::Local(bus) => bus.dead_letters(queue).await.expect("dead letters") as u32,
            Transport::Amqp { bus, .. } => bus
                .queue_depth(&format!("{queue}.dlq"))
                .await
                .expect("dlq depth"),
        }
    }

    pub async fn cleanup(&self) {
        if let Transport::Amqp { bus, queues } = self {
            for q in queues {
                let _ = bus.delete_queue(q).await;
            }
            let _ = bus.delete_exchange().await;
        }
    }
}

/// A unique queue name for this test run.
pub fn queue(prefix: &str) -> String {
    format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple())
}

/// The local bus on `db`, and RabbitMQ on a fresh exchange when it is configured.
pub async fn transports(db: &Db, queues: &[&str]) -> Vec<Transport> {
    let mut out = vec![Transport::Local(
        LocalBus::open(db.clone(), CancellationToken::new())
            .await
            .expect("local bus"),
    )];
    if let Some(url) = server_url(AMQP_URL_VAR) {
        out.push(Transport::Amqp {
            bus: Arc::new(amqp(&url).await),
            queues: queues.iter().map(|q| (*q).to_owned()).collect(),
        });
    }
    out
}

pub async fn amqp(url: &str) -> AmqpBus {
    let exchange = format!("test.events.{}", uuid::Uuid::new_v4().simple());
    AmqpBus::connect(url, &exchange, "ringside-test", CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{AMQP_URL_VAR} is set but RabbitMQ is unreachable: {e}"))
}

pub fn contact_deleted(n: usize) -> Envelope {
    new_envelope(
        "test",
        "",
        EventPayload::ContactDeleted(ContactDeleted {
            contact_id: format!("c-{n}"),
        }),
    )
}

pub fn lead_created() -> Envelope {
    new_envelope(
        "test",
        "",
        EventPayload::LeadCreated(LeadCreated { lead: None }),
    )
}

pub async fn publish(bus: &Arc<dyn Bus>, envelopes: &[Envelope]) {
    let messages: Vec<Message> = envelopes.iter().map(Message::from_envelope).collect();
    bus.publish(&messages).await.expect("publish");
}

/// The next delivery, or `None` after `wait`.
pub async fn next_within(deliveries: &mut Deliveries, wait: Duration) -> Option<Delivery> {
    tokio::time::timeout(wait, deliveries.next())
        .await
        .ok()
        .flatten()
}

pub async fn next(deliveries: &mut Deliveries) -> Delivery {
    next_within(deliveries, Duration::from_secs(10))
        .await
        .expect("a delivery within 10 s")
}

/// Creates the table the test handler writes its effects to. It has no unique key
/// on purpose: an event applied twice shows up as two rows.
pub async fn create_effects_table(db: &Db) {
    sqlx::query("CREATE TABLE IF NOT EXISTS test_effects (event_id TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .expect("effects table");
}

pub async fn effects(db: &Db) -> (i64, i64) {
    let total = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM test_effects")
        .fetch_one(db.pool())
        .await
        .expect("count");
    let distinct =
        sqlx::query_scalar::<_, i64>("SELECT COUNT(DISTINCT event_id) FROM test_effects")
            .fetch_one(db.pool())
            .await
            .expect("count distinct");
    (total, distinct)
}

/// Applies an event the way a service does: claim in the inbox and write the effect
/// in one transaction.
pub async fn apply(db: &Db, consumer: &str, event_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let fresh = inbox::claim(&mut tx, consumer, event_id).await?;
    if fresh {
        sqlx::query("INSERT INTO test_effects (event_id) VALUES ($1)")
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(fresh)
}

pub struct EffectHandler {
    pub db: Db,
    pub consumer: String,
    /// How many deliveries the handler saw, duplicates included.
    pub calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl EffectHandler {
    pub fn new(db: &Db, consumer: &str) -> Self {
        EffectHandler {
            db: db.clone(),
            consumer: consumer.to_owned(),
            calls: Arc::default(),
        }
    }
}

#[async_trait]
impl Handler for EffectHandler {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandleError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        apply(&self.db, &self.consumer, &envelope.event_id)
            .await
            .map(|_| ())
            .map_err(|e| HandleError::Retry(e.to_string()))
    }
}
