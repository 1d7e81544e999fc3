//! Publishes call events in the order they happened, as soon as they happen: the
//! listeners hand events to one task that publishes them in small batches and waits
//! for the bus to confirm, retrying while the bus is down. The queue between them is
//! bounded: a listener never blocks on the bus.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_bus::{Bus, EventPayload, Message, new_envelope};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The name ingest publishes events under.
pub const SOURCE: &str = "ingest";
/// Events waiting for the bus before new ones are dropped (and counted).
const QUEUE: usize = 10_000;
const BATCH: usize = 64;

struct Pending {
    message: Message,
    /// When the packet that caused it arrived.
    arrived: Instant,
}

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Pending>,
}

/// Wraps `payload` for the bus; the call id is the correlation id.
pub fn message(call_id: &str, payload: EventPayload) -> Message {
    Message::from_envelope(&new_envelope(SOURCE, call_id, payload))
}

impl Publisher {
    /// Starts the publishing task; it drains the queue after `shutdown`, then ends.
    pub fn spawn(
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
    ) -> (Publisher, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(bus, rx, shutdown));
        (Publisher { tx }, task)
    }

    /// Queues an event; `false` (and a metric) when the queue is full.
    pub fn send(&self, message: Message, arrived: Instant) -> bool {
        match self.tx.try_send(Pending { message, arrived }) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("ringside_ingest_events_dropped_total").increment(1);
                tracing::error!("ingest: event queue full, an event was dropped");
                false
            }
        }
    }
}

async fn run(bus: Arc<dyn Bus>, mut rx: mpsc::Receiver<Pending>, shutdown: CancellationToken) {
    loop {
        let first = tokio::select! {
            first = rx.recv() => first,
            _ = shutdown.cancelled() => { rx.close(); rx.recv().await }
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        publish(bus.as_ref(), &batch, &shutdown).await;
    }
}

/// Publishes until confirmed; gives up only when shutting down with the bus down.
async fn publish(bus: &dyn Bus, batch: &[Pending], shutdown: &CancellationToken) {
    let messages: Vec<Message> = batch.iter().map(|p| p.message.clone()).collect();
    let mut backoff = Duration::from_millis(50);
    loop {
        match bus.publish(&messages).await {
            Ok(()) => break,
            Err(e) if shutdown.is_cancelled() && backoff > Duration::from_secs(2) => {
                tracing::error!(error = %e, lost = messages.len(), "ingest: bus down at shutdown, events lost");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "ingest: publish failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    for pending in batch {
        metrics::histogram!("ringside_ingest_publish_latency_seconds")
            .record(pending.arrived.elapsed().as_secs_f64());
    }
    count_published(&messages);
}

/// Counts events the bus confirmed, by type.
pub fn count_published(messages: &[Message]) {
    for message in messages {
        metrics::counter!("ringside_ingest_events_total", "type" => message.routing_key.clone())
            .increment(1);
    }
}
