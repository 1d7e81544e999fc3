//! Ringside's event bus. This crate owns how events travel between services: the
//! [`Bus`] interface with its two transports (RabbitMQ for production, and a durable
//! in-process bus on the embedded database for the all-in-one mode), the transactional
//! [`outbox`] a producer writes its events to in the same transaction as its change, and
//! the idempotent [`inbox`] a consumer records handled event ids in. Both transports
//! give the same contract: at-least-once delivery, acknowledged only after the
//! consumer's commit, redelivery of anything unacknowledged, and a dead-letter queue
//! for messages that keep failing. It does not know what any event means.

pub mod amqp;
pub mod consumer;
mod envelope;
pub mod inbox;
pub mod local;
pub mod outbox;
mod topic;

use async_trait::async_trait;
use tokio::sync::mpsc;

pub use envelope::{EventPayload, Message, event_type, new_envelope};
pub use ringside_proto::events::v1::Envelope;
pub use topic::topic_matches;

/// Exchange all Ringside events are published to.
pub const DEFAULT_EXCHANGE: &str = "ringside.events";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker: {0}")]
    Broker(String),
    #[error("broker refused the message (nack)")]
    Nacked,
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("bad event: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the bus is shut down")]
    Closed,
}

impl From<lapin::Error> for BusError {
    fn from(err: lapin::Error) -> Self {
        BusError::Broker(err.to_string())
    }
}

/// A queue for one consuming service and the routing-key patterns (`*` one word, `#`
/// any number of words) it is bound with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub queue: String,
    pub bindings: Vec<String>,
    /// Most deliveries handed out and not yet acknowledged.
    pub prefetch: u16,
    pub kind: QueueKind,
    /// Patterns an earlier version bound this queue with and this one does not:
    /// removed at declaration (RabbitMQ cannot list a queue's bindings; the local bus
    /// drops every binding not declared anyway).
    pub retired: Vec<String>,
}

/// What a queue promises about the messages routed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    /// Kept until acknowledged, across restarts of the consumer and of the broker,
    /// with redelivery and a dead-letter queue: for everything that records state.
    Durable,
    /// Handed to the consumer the moment it is routed, without waiting for any disk,
    /// and forgotten once handed over (or when nobody consumes): for live views whose
    /// state is gone with the process anyway (a card on a ringing phone). Never
    /// redelivered, never dead-lettered.
    Live,
}

impl QueueSpec {
    /// A durable queue.
    pub fn new(queue: &str, bindings: &[&str]) -> Self {
        QueueSpec {
            queue: queue.to_owned(),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch: 32,
            kind: QueueKind::Durable,
            retired: Vec::new(),
        }
    }

    /// The same queue, with patterns an earlier version bound it with removed.
    pub fn retiring(mut self, patterns: &[&str]) -> Self {
        self.retired = patterns.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// A live queue (see [`QueueKind::Live`]).
    pub fn live(queue: &str, bindings: &[&str]) -> Self {
        QueueSpec {
            kind: QueueKind::Live,
            prefetch: 256,
            ..QueueSpec::new(queue, bindings)
        }
    }
}

/// Resolves once the transport has made a sent batch durable; see [`Bus::send`].
pub type Confirm = futures::future::BoxFuture<'static, Result<(), BusError>>;

/// The [`Confirm`] of a batch that is durable already (or that there was nothing to send).
pub fn durable() -> Confirm {
    Box::pin(futures::future::ready(Ok(())))
}

/// Deliveries after this many failed attempts go to the dead-letter queue.
pub const DELIVERY_LIMIT: u32 = 5;

/// One publish/subscribe interface, two transports.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes every message and returns once the transport has made all of them
    /// durable (publisher confirms on RabbitMQ, a commit on the local bus).
    async fn publish(&self, batch: &[Message]) -> Result<(), BusError> {
        self.send(batch).await?.await
    }

    /// Hands `batch` to the transport — after every batch sent before it, before every
    /// batch sent after — and returns what resolves once all of it is durable, so a
    /// publisher may send the next batch while this one waits for the disk.
    async fn send(&self, batch: &[Message]) -> Result<Confirm, BusError>;

    /// Declares the queue and its bindings and starts delivering from it. The stream
    /// survives transport outages: it reconnects by itself.
    async fn subscribe(&self, spec: QueueSpec) -> Result<Deliveries, BusError>;

    /// Declares the queue and its bindings without consuming: a producer declares
    /// its consumers' queues at start, so what it publishes before they first start
    /// waits for them instead of being routed nowhere. Nothing to do on a transport
    /// that routes only to live subscribers in one process.
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let _ = spec;
        Ok(())
    }

    /// Whether the transport is connected right now (for `/readyz`).
    async fn is_ready(&self) -> bool;
}

/// What a consumer does with a delivery once it has handled it.
#[async_trait]
pub trait Acker: Send + Sync {
    /// Handled and committed: the transport forgets the message.
    async fn ack(&self) -> Result<(), BusError>;
    /// Not handled now: deliver it again later (counts as a failed attempt).
    async fn retry(&self) -> Result<(), BusError>;
    /// Can never be handled: straight to the dead-letter queue.
    async fn reject(&self, reason: &str) -> Result<(), BusError>;
}

/// A message handed to a consumer. Dropping it without acknowledging it is safe:
/// the transport delivers it again.
pub struct Delivery {
    pub message: Message,
    /// 1 for the first delivery, more when it was delivered before.
    pub attempt: u32,
    pub acker: Box<dyn Acker>,
}

/// The stream of deliveries from one queue. Dropping it stops the consumer: what
/// it had not acknowledged goes back to the queue.
pub struct Deliveries {
    rx: mpsc::Receiver<Delivery>,
    _stop: tokio_util::sync::DropGuard,
}

impl Deliveries {
    /// `stop` is cancelled when the stream is dropped.
    pub(crate) fn new(
        rx: mpsc::Receiver<Delivery>,
        stop: tokio_util::sync::CancellationToken,
    ) -> Self {
        Deliveries {
            rx,
            _stop: stop.drop_guard(),
        }
    }

    /// The next delivery; `None` once the bus is shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}
