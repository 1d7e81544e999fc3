//! Runs a handler over a queue: decode, handle, and acknowledge only after the
//! handler returned (that is, after its transaction committed).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ringside_proto::events::v1::Envelope;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError, Delivery, QueueSpec};

/// Why a handler did not handle an event.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Might work later (a dependency is down): the event is delivered again.
    #[error("retry: {0}")]
    Retry(String),
    /// Will never work (the event makes no sense): it goes to the dead-letter queue.
    #[error("poison: {0}")]
    Poison(String),
}

impl HandleError {
    /// The payload of `envelope`; an event without one is poison.
    pub fn payload(envelope: &Envelope) -> Result<&crate::EventPayload, HandleError> {
        envelope
            .payload
            .as_ref()
            .ok_or_else(|| HandleError::Poison("event without a payload".into()))
    }

    /// A handler's outcome: an error `is_invalid` says the event itself is wrong is
    /// poison (no retry can help); any other error is retried.
    pub fn of<E: std::fmt::Display>(
        result: Result<(), E>,
        is_invalid: impl FnOnce(&E) -> bool,
    ) -> Result<(), HandleError> {
        result.map_err(|e| match is_invalid(&e) {
            true => HandleError::Poison(e.to_string()),
            false => HandleError::Retry(e.to_string()),
        })
    }
}

/// What a consuming service does with each event. It must be idempotent — record the
/// event id with [`crate::inbox::claim`] in the same transaction as its change.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandleError>;
}

/// Consumes `spec` until `shutdown`, finishing the delivery in hand before it returns.
pub async fn run(
    bus: Arc<dyn Bus>,
    spec: QueueSpec,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) -> Result<(), BusError> {
    start(bus, spec, handler, shutdown).await?.await;
    Ok(())
}

/// Declares the queue and its bindings now — so nothing published from here on is
/// missed — and returns the loop that consumes it until `shutdown`.
pub async fn start(
    bus: Arc<dyn Bus>,
    spec: QueueSpec,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) -> Result<impl Future<Output = ()> + Send + 'static, BusError> {
    let deliveries = bus.subscribe(spec.clone()).await?;
    Ok(consume(deliveries, spec, handler, shutdown))
}

async fn consume(
    mut deliveries: crate::Deliveries,
    spec: QueueSpec,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = deliveries.next() => match next {
                Some(delivery) => delivery,
                None => return,
            },
        };
        if let Err(e) = process(&spec.queue, handler.as_ref(), delivery, &shutdown).await {
            // The delivery stays unacknowledged and comes back; nothing is lost.
            tracing::warn!(queue = %spec.queue, error = %e, "could not settle a delivery");
        }
    }
}

async fn process(
    queue: &str,
    handler: &dyn Handler,
    delivery: Delivery,
    shutdown: &CancellationToken,
) -> Result<(), BusError> {
    let outcome = match delivery.message.decode() {
        Err(e) => {
            delivery.acker.reject(&format!("undecodable: {e}")).await?;
            "rejected"
        }
        Ok(envelope) => match handle_patiently(queue, handler, &envelope, shutdown).await {
            Ok(()) => {
                delivery.acker.ack().await?;
                "handled"
            }
            Err(HandleError::Poison(reason)) => {
                tracing::warn!(queue, event_type = %envelope.r#type, event_id = %envelope.event_id, %reason, "event rejected to the dead-letter queue");
                delivery.acker.reject(&reason).await?;
                "rejected"
            }
            Err(HandleError::Retry(reason)) => {
                tracing::warn!(queue, event_type = %envelope.r#type, attempt = delivery.attempt, %reason, "event given back for redelivery");
                tokio::time::sleep(retry_delay(delivery.attempt)).await;
                delivery.acker.retry().await?;
                "retried"
            }
        },
    };
    metrics::counter!("ringside_bus_deliveries_total", "queue" => queue.to_owned(), "outcome" => outcome)
        .increment(1);
    Ok(())
}

/// Handles `envelope`, retrying a transient failure in place (with backoff, up to
/// [`PATIENCE`]) before giving the delivery back: a dependency outage of a minute
/// costs no delivery attempts, so it does not push events to the dead-letter queue.
async fn handle_patiently(
    queue: &str,
    handler: &dyn Handler,
    envelope: &Envelope,
    shutdown: &CancellationToken,
) -> Result<(), HandleError> {
    let started = tokio::time::Instant::now();
    let mut tries = 0;
    loop {
        match handler.handle(envelope).await {
            Err(HandleError::Retry(reason)) if started.elapsed() < PATIENCE => {
                tries += 1;
                tracing::debug!(queue, event_type = %envelope.r#type, tries, %reason, "retrying in place");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(HandleError::Retry(reason)),
                    _ = tokio::time::sleep(retry_delay(tries)) => {}
                }
            }
            other => return other,
        }
    }
}

/// How long a delivery is retried in place before it is given back.
const PATIENCE: Duration = Duration::from_secs(30);

fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt.min(5)))
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn invalid_events_are_poison_and_the_rest_retried() {
        let invalid = |e: &&str| e.starts_with("invalid");
        assert!(HandleError::of(Ok::<(), &str>(()), invalid).is_ok());
        assert!(matches!(
            HandleError::of(Err("invalid phone"), invalid),
            Err(HandleError::Poison(_))
        ));
        assert!(matches!(
            HandleError::of(Err("contacts is down"), invalid),
            Err(HandleError::Retry(_))
        ));
        assert!(matches!(
            HandleError::payload(&Envelope::default()),
            Err(HandleError::Poison(_))
        ));
    }
}
