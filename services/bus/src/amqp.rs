//! The RabbitMQ transport. Topology: one durable topic exchange for events; per
//! consuming service one durable quorum queue (which counts deliveries) with a delivery
//! limit and a dead-letter exchange routing to `<queue>.dlq`, and for a live view an
//! in-memory classic queue that delivers without waiting for the disk. Publishes wait
//! for publisher confirms. Connections are re-established after a broker restart: the
//! publisher on the next publish, each consumer in the background.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    PublisherConfirm,
};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    Acker, Bus, BusError, Confirm, DELIVERY_LIMIT, Deliveries, Delivery, Message, QueueKind,
    QueueSpec,
};

/// Longest wait between two reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait for a connection, its channel and the exchange declaration.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for an ack, nack or reject to go out.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the publisher confirms of one batch.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(15);

pub struct AmqpBus {
    url: String,
    exchange: String,
    name: String,
    publisher: Arc<Mutex<Option<Link>>>,
    shutdown: CancellationToken,
}

/// A connection and one channel on it.
struct Link {
    _connection: Connection,
    channel: Channel,
}

impl AmqpBus {
    /// Connects to `url` and declares `exchange`. `name` labels the connection in
    /// the broker's management UI.
    pub async fn connect(
        url: &str,
        exchange: &str,
        name: &str,
        shutdown: CancellationToken,
    ) -> Result<Self, BusError> {
        let bus = AmqpBus {
            url: url.to_owned(),
            exchange: exchange.to_owned(),
            name: name.to_owned(),
            publisher: Arc::new(Mutex::new(None)),
            shutdown,
        };
        bus.publish_channel().await?;
        Ok(bus)
    }

    /// Connects, opens a channel and declares the exchange, within [`OPEN_TIMEOUT`]: a
    /// broker that accepts TCP but does not answer (starting, stopping) is an error to
    /// retry, not a hang.
    async fn open(&self, role: &str) -> Result<Link, BusError> {
        tokio::time::timeout(OPEN_TIMEOUT, self.open_now(role))
            .await
            .unwrap_or_else(|_| Err(BusError::Broker("connecting timed out".into())))
    }

    async fn open_now(&self, role: &str) -> Result<Link, BusError> {
        let props = ConnectionProperties::default()
            .with_connection_name(format!("{}-{role}", self.name).into());
        let connection = Connection::connect(&self.url, props).await?;
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Link {
            _connection: connection,
            channel,
        })
    }

    /// The confirmed publishing channel, opened again when it broke.
    async fn publish_channel(&self) -> Result<Channel, BusError> {
        let mut guard = self.publisher.lock().await;
        if let Some(link) = guard.as_ref()
            && link.channel.status().connected()
        {
            return Ok(link.channel.clone());
        }
        *guard = None;
        let link = self.open("publisher").await?;
        link.channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let channel = link.channel.clone();
        *guard = Some(link);
        Ok(channel)
    }

    async fn forget_publisher(&self) {
        *self.publisher.lock().await = None;
    }

    /// Sends each message of `batch` in order; their confirms are awaited elsewhere.
    async fn send_on(
        &self,
        channel: &Channel,
        batch: &[Message],
    ) -> Result<Vec<PublisherConfirm>, BusError> {
        let mut confirms = Vec::with_capacity(batch.len());
        for message in batch {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(message.event_id.as_str().into())
                .with_content_type("application/protobuf".into());
            let confirm = channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    message.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &message.payload,
                    properties,
                )
                .await?;
            confirms.push(confirm);
        }
        Ok(confirms)
    }

    /// How many messages are ready in `queue` (not counting unacknowledged ones).
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BusError> {
        let link = self.open("inspect").await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = link
            .channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await?;
        Ok(q.message_count())
    }

    /// Deletes `queue` and its dead-letter queue (tests and decommissioning).
    pub async fn delete_queue(&self, queue: &str) -> Result<(), BusError> {
        let link = self.open("admin").await?;
        for name in [queue.to_owned(), format!("{queue}.dlq")] {
            link.channel
                .queue_delete(name.as_str().into(), Default::default())
                .await?;
        }
        Ok(())
    }

    /// Deletes the exchange and its dead-letter exchange (tests and decommissioning).
    pub async fn delete_exchange(&self) -> Result<(), BusError> {
        let link = self.open("admin").await?;
        for name in [self.exchange.clone(), format!("{}.dlx", self.exchange)] {
            link.channel
                .exchange_delete(name.as_str().into(), Default::default())
                .await?;
        }
        Ok(())
    }

    /// Declares the queue (a durable one with its dead-letter queue) and its bindings,
    /// and starts consuming.
    async fn consume(&self, spec: &QueueSpec) -> Result<(Link, lapin::Consumer), BusError> {
        let link = self.open("consumer").await?;
        let ch = &link.channel;
        self.declare_on(ch, spec).await?;
        ch.basic_qos(spec.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = ch
            .basic_consume(
                spec.queue.as_str().into(),
                format!("{}-{}", self.name, uuid::Uuid::new_v4().simple()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((link, consumer))
    }

    /// The queue of `spec`, its dead-letter queue when durable, and its bindings.
    async fn declare_on(&self, ch: &Channel, spec: &QueueSpec) -> Result<(), BusError> {
        match spec.kind {
            QueueKind::Durable => self.declare_durable(ch, spec).await?,
            QueueKind::Live => declare_live(ch, spec).await?,
        }
        for pattern in &spec.bindings {
            ch.queue_bind(
                spec.queue.as_str().into(),
                self.exchange.as_str().into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        for pattern in &spec.retired {
            ch.queue_unbind(
                spec.queue.as_str().into(),
                self.exchange.as_str().into(),
                pattern.as_str().into(),
                FieldTable::default(),
            )
            .await?;
        }
        Ok(())
    }

    /// A quorum queue (replicated, on disk, counting deliveries) with a dead-letter
    /// queue behind it.
    async fn declare_durable(&self, ch: &Channel, spec: &QueueSpec) -> Result<(), BusError> {
        let dlx = format!("{}.dlx", self.exchange);
        let dlq = format!("{}.dlq", spec.queue);
        ch.exchange_declare(
            dlx.as_str().into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
        ch.queue_declare(
            dlq.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await?;
        ch.queue_bind(
            dlq.as_str().into(),
            dlx.as_str().into(),
            spec.queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(DELIVERY_LIMIT as i32),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.as_str().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(spec.queue.as_str().into()),
        );
        ch.queue_declare(
            spec.queue.as_str().into(),
            QueueDeclareOptions::durable(),
            args,
        )
        .await?;
        Ok(())
    }
}

/// How long a message waits in a live queue before it is dropped.
const LIVE_TTL_MS: i32 = 60_000;

/// A classic queue kept in memory: a message is delivered as soon as it is routed (a
/// quorum queue delivers only once its log is on disk). It goes away with its last
/// consumer, and its messages after [`LIVE_TTL_MS`].
async fn declare_live(ch: &Channel, spec: &QueueSpec) -> Result<(), BusError> {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("classic".into()),
    );
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(LIVE_TTL_MS));
    let options = QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare(spec.queue.as_str().into(), options, args)
        .await?;
    Ok(())
}

#[async_trait]
impl Bus for AmqpBus {
    async fn send(&self, batch: &[Message]) -> Result<Confirm, BusError> {
        if batch.is_empty() {
            return Ok(crate::durable());
        }
        let channel = self.publish_channel().await?;
        // A broker that stops reading (or never confirms: it went down mid-batch) must
        // not hold the publisher forever: the batch is published again, on a new
        // channel, and the consumers' inboxes absorb the repeats.
        let timed_out = || BusError::Broker("publisher confirms timed out".into());
        let sent = tokio::time::timeout(CONFIRM_TIMEOUT, self.send_on(&channel, batch))
            .await
            .unwrap_or_else(|_| Err(timed_out()));
        let confirms = match sent {
            Ok(confirms) => confirms,
            Err(e) => {
                self.forget_publisher().await;
                return Err(e);
            }
        };
        let publisher = self.publisher.clone();
        Ok(Box::pin(async move {
            let result = tokio::time::timeout(CONFIRM_TIMEOUT, confirmed(confirms))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            if result.is_err() {
                *publisher.lock().await = None;
            }
            result
        }))
    }

    async fn subscribe(&self, spec: QueueSpec) -> Result<Deliveries, BusError> {
        let (tx, rx) = mpsc::channel(usize::from(spec.prefetch.max(1)));
        let first = self.consume(&spec).await?;
        let stop = self.shutdown.child_token();
        let this = Arc::new(ConsumerLoop {
            bus: AmqpBus {
                url: self.url.clone(),
                exchange: self.exchange.clone(),
                name: self.name.clone(),
                publisher: Arc::new(Mutex::new(None)),
                shutdown: stop.clone(),
            },
            spec,
            out: tx,
        });
        tokio::spawn(this.run(first));
        Ok(Deliveries::new(rx, stop))
    }

    async fn is_ready(&self) -> bool {
        self.publish_channel().await.is_ok()
    }

    async fn declare(&self, spec: &QueueSpec) -> Result<(), BusError> {
        let link = self.open("topology").await?;
        self.declare_on(&link.channel, spec).await
    }
}

/// Keeps one queue's consumer alive across broker restarts.
struct ConsumerLoop {
    bus: AmqpBus,
    spec: QueueSpec,
    out: mpsc::Sender<Delivery>,
}

impl ConsumerLoop {
    async fn run(self: Arc<Self>, first: (Link, lapin::Consumer)) {
        let mut session = Some(first);
        let mut backoff = Duration::from_millis(200);
        loop {
            let (link, consumer) = match session.take() {
                Some(s) => s,
                None => match self.bus.consume(&self.spec).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(queue = %self.spec.queue, error = %e, "amqp: reconnect failed");
                        tokio::select! {
                            _ = self.bus.shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                },
            };
            backoff = Duration::from_millis(200);
            if !self.forward(consumer).await {
                return;
            }
            drop(link);
            tracing::warn!(queue = %self.spec.queue, "amqp: consumer lost its connection, reconnecting");
        }
    }

    /// Forwards deliveries until the connection breaks (`true`: reconnect) or the bus
    /// shuts down / the receiver is gone (`false`: stop).
    async fn forward(&self, mut consumer: lapin::Consumer) -> bool {
        loop {
            let next = tokio::select! {
                _ = self.bus.shutdown.cancelled() => return false,
                next = consumer.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    tracing::warn!(queue = %self.spec.queue, error = %e, "amqp: consumer error");
                    return true;
                }
                None => return true,
            };
            let attempt = delivery_attempt(&delivery);
            let ours = Delivery {
                message: Message {
                    routing_key: delivery.routing_key.to_string(),
                    event_id: delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                    payload: delivery.data,
                },
                attempt,
                acker: Box::new(AmqpAcker {
                    acker: delivery.acker,
                    requeue: self.spec.kind == QueueKind::Durable,
                }),
            };
            if self.out.send(ours).await.is_err() {
                return false;
            }
        }
    }
}

/// Waits for the broker's confirm of each message.
async fn confirmed(confirms: Vec<PublisherConfirm>) -> Result<(), BusError> {
    for confirm in confirms {
        match confirm.await? {
            Confirmation::Ack(_) => {}
            Confirmation::Nack(_) => return Err(BusError::Nacked),
            Confirmation::NotRequested => {
                return Err(BusError::Broker("publisher confirms are off".into()));
            }
        }
    }
    Ok(())
}

/// 1 + the quorum queue's `x-delivery-count` (how often it was returned before).
fn delivery_attempt(delivery: &lapin::message::Delivery) -> u32 {
    let count = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-delivery-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(n).ok(),
            AMQPValue::LongUInt(n) => Some(n),
            AMQPValue::ShortInt(n) => u32::try_from(n).ok(),
            AMQPValue::ShortUInt(n) => Some(u32::from(n)),
            _ => None,
        });
    match count {
        Some(n) => n + 1,
        None if delivery.redelivered => 2,
        None => 1,
    }
}

struct AmqpAcker {
    acker: lapin::Acker,
    /// Whether a retry puts the message back (a live queue drops it instead).
    requeue: bool,
}

/// Waits for an ack, nack or reject to be sent, at most [`SETTLE_TIMEOUT`]: on a
/// connection that died unnoticed it may never be, and a consumer stuck here would
/// stop consuming. The broker redelivers what a dead connection did not settle.
async fn settle<T>(
    sent: impl std::future::Future<Output = Result<T, lapin::Error>>,
) -> Result<(), BusError> {
    match tokio::time::timeout(SETTLE_TIMEOUT, sent).await {
        Ok(result) => result.map(|_| ()).map_err(BusError::from),
        Err(_) => Err(BusError::Broker("settling a delivery timed out".into())),
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self) -> Result<(), BusError> {
        settle(self.acker.ack(BasicAckOptions::default())).await
    }

    async fn retry(&self) -> Result<(), BusError> {
        let options = BasicNackOptions {
            requeue: self.requeue,
            ..Default::default()
        };
        settle(self.acker.nack(options)).await
    }

    async fn reject(&self, _reason: &str) -> Result<(), BusError> {
        settle(self.acker.reject(BasicRejectOptions { requeue: false })).await
    }
}
