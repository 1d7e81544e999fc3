//! Publishes call events in the order they happened, as soon as they happen: the
//! listeners hand events to one task that sends them to the bus in small batches, in
//! order, without waiting for the previous batch's confirm (a confirm waits for the
//! broker's disk; the next ringing phone should not) — up to [`WINDOW`] batches in
//! flight. A batch that fails is published again, with every batch sent after it, in
//! order, retrying while the bus is down (consumers absorb the repeats). The queue
//! between the listeners and this task is bounded: a listener never blocks on the bus.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_bus::{Bus, BusError, Confirm, EventPayload, Message, new_envelope};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::status::Channel;

/// The name ingest publishes events under.
pub const SOURCE: &str = "ingest";
/// Events waiting for the bus before new ones are dropped (and counted).
const QUEUE: usize = 10_000;
const BATCH: usize = 64;
/// Batches sent and not yet confirmed.
const WINDOW: usize = 32;

struct Pending {
    message: Message,
    /// When the packet that caused it arrived.
    arrived: Instant,
}

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Pending>,
    /// What the admin's channel page says of the call events.
    channel: Arc<Channel>,
}

/// Wraps `payload` for the bus; the call id is the correlation id.
pub fn message(call_id: &str, payload: EventPayload) -> Message {
    Message::from_envelope(&new_envelope(SOURCE, call_id, payload))
}

impl Publisher {
    /// Starts the publishing task; it drains the queue after `shutdown`, then ends.
    /// What it publishes, drops and fails at is noted on `channel`.
    pub fn spawn(
        bus: Arc<dyn Bus>,
        shutdown: CancellationToken,
        channel: Arc<Channel>,
    ) -> (Publisher, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(
            Out {
                bus,
                channel: channel.clone(),
            },
            rx,
            shutdown,
        ));
        (Publisher { tx, channel }, task)
    }

    /// Queues an event; `false` (and a metric) when the queue is full.
    pub fn send(&self, message: Message, arrived: Instant) -> bool {
        match self.tx.try_send(Pending { message, arrived }) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("ringside_ingest_events_dropped_total").increment(1);
                tracing::error!("ingest: event queue full, an event was dropped");
                self.channel.refused("queue_full");
                false
            }
        }
    }
}

/// Where the events go, and where what becomes of them is noted.
struct Out {
    bus: Arc<dyn Bus>,
    channel: Arc<Channel>,
}

async fn run(out: Out, mut rx: mpsc::Receiver<Pending>, shutdown: CancellationToken) {
    let out = &out;
    let bus = out.bus.as_ref();
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            confirmed = front(&mut in_flight) => {
                let done = in_flight.pop_front().expect("a batch in flight");
                match confirmed {
                    Ok(()) => record(out, &done.batch),
                    Err(e) => republish(out, e, Some(done.batch), &mut in_flight, None, &shutdown).await,
                }
            }
            next = rx.recv(), if in_flight.len() < WINDOW => {
                let Some(first) = next else { break };
                let batch = gather(first, &mut rx);
                match bus.send(&messages(&batch)).await {
                    Ok(confirm) => in_flight.push_back(InFlight { batch, confirm }),
                    Err(e) => republish(out, e, None, &mut in_flight, Some(batch), &shutdown).await,
                }
            }
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                rx.close(); // what is queued is still published
            }
        }
    }
    // Draining at shutdown, with the same rule.
    while let Some(f) = in_flight.pop_front() {
        match f.confirm.await {
            Ok(()) => record(out, &f.batch),
            Err(e) => republish(out, e, Some(f.batch), &mut in_flight, None, &shutdown).await,
        }
    }
}

/// After a failure, publishes again — in order, each until confirmed — the batch that
/// failed, every batch sent after it, and one not sent yet.
async fn republish(
    out: &Out,
    error: BusError,
    failed: Option<Vec<Pending>>,
    in_flight: &mut VecDeque<InFlight>,
    unsent: Option<Vec<Pending>>,
    shutdown: &CancellationToken,
) {
    tracing::warn!(%error, "ingest: publish failed, publishing again");
    out.channel
        .failed(&format!("publishing to the bus: {error}"));
    let later = in_flight.drain(..).map(|f| f.batch);
    let batches: Vec<Vec<Pending>> = failed.into_iter().chain(later).chain(unsent).collect();
    for batch in batches {
        publish(out, &batch, shutdown).await;
    }
}

/// A batch sent to the bus whose confirm has not come back yet.
struct InFlight {
    batch: Vec<Pending>,
    confirm: Confirm,
}

/// The confirm of the oldest batch in flight; never resolves when there is none.
async fn front(in_flight: &mut VecDeque<InFlight>) -> Result<(), BusError> {
    match in_flight.front_mut() {
        Some(f) => (&mut f.confirm).await,
        None => std::future::pending().await,
    }
}

/// `first` and whatever else is queued, up to a batch.
fn gather(first: Pending, rx: &mut mpsc::Receiver<Pending>) -> Vec<Pending> {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    batch
}

fn messages(batch: &[Pending]) -> Vec<Message> {
    batch.iter().map(|p| p.message.clone()).collect()
}

/// Publishes until confirmed; gives up only when shutting down with the bus down.
async fn publish(out: &Out, batch: &[Pending], shutdown: &CancellationToken) {
    let messages = messages(batch);
    let mut backoff = Duration::from_millis(50);
    loop {
        match out.bus.publish(&messages).await {
            Ok(()) => break,
            Err(e) if shutdown.is_cancelled() && backoff > Duration::from_secs(2) => {
                tracing::error!(error = %e, lost = messages.len(), "ingest: bus down at shutdown, events lost");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "ingest: publish failed, retrying");
                out.channel.failed(&format!("publishing to the bus: {e}"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    record(out, batch);
}

/// Metrics of a confirmed batch: the latency from each packet, and counts by type.
fn record(out: &Out, batch: &[Pending]) {
    for pending in batch {
        out.channel.took();
        metrics::histogram!("ringside_ingest_publish_latency_seconds")
            .record(pending.arrived.elapsed().as_secs_f64());
    }
    count_published(&messages(batch));
}

/// Counts events the bus confirmed, by type.
pub fn count_published(messages: &[Message]) {
    for message in messages {
        metrics::counter!("ringside_ingest_events_total", "type" => message.routing_key.clone())
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use ringside_bus::{Deliveries, QueueSpec};

    use super::*;

    /// Records what is sent; the confirm of the `fail`th send comes back negative,
    /// late, after later batches were sent.
    struct FlakyBus {
        sent: Mutex<Vec<String>>,
        sends: AtomicUsize,
        fail: usize,
    }

    #[async_trait]
    impl Bus for FlakyBus {
        async fn send(&self, batch: &[Message]) -> Result<Confirm, BusError> {
            let n = self.sends.fetch_add(1, Ordering::SeqCst);
            let mut sent = self.sent.lock().unwrap();
            sent.extend(batch.iter().map(|m| m.event_id.clone()));
            if n != self.fail {
                return Ok(ringside_bus::durable());
            }
            Ok(Box::pin(async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                Err(BusError::Nacked)
            }))
        }
        async fn subscribe(&self, _: QueueSpec) -> Result<Deliveries, BusError> {
            Err(BusError::Closed)
        }
        async fn is_ready(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn a_batch_whose_confirm_fails_is_sent_again_with_everything_after_it_in_order() {
        let bus = Arc::new(FlakyBus {
            sent: Mutex::default(),
            sends: AtomicUsize::new(0),
            fail: 2,
        });
        let shutdown = CancellationToken::new();
        let channel = Channel::detached(crate::status::Kind::CallEvents, "");
        let (publisher, task) = Publisher::spawn(bus.clone(), shutdown.clone(), channel);
        let mut ids = Vec::new();
        for i in 0..40 {
            let payload = EventPayload::TaskCreated(Default::default());
            let m = message(&format!("call-{i}"), payload);
            ids.push(m.event_id.clone());
            assert!(publisher.send(m, Instant::now()));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        shutdown.cancel();
        task.await.expect("publisher");
        let sent = bus.sent.lock().unwrap().clone();
        assert!(ids.iter().all(|id| sent.contains(id)), "nothing is lost");
        assert!(sent.len() > ids.len(), "the failed batch was sent again");
        // From the first event sent twice on, everything is sent again in order.
        let again = sent
            .iter()
            .position(|id| sent.iter().filter(|x| *x == id).count() > 1);
        let from = ids
            .iter()
            .position(|id| Some(id) == again.map(|a| &sent[a]));
        let tail = &sent[sent.len() - (ids.len() - from.expect("a repeat"))..];
        assert_eq!(
            tail,
            &ids[from.unwrap()..],
            "the rest is republished in order"
        );
    }
}
