//! The scaffold the bus handlers that change records share (activities, deals;
//! notifications' handler keeps no records and has no inbox): take the event's payload
//! (an event without one is poison), ask what must be asked of other services before
//! any lock is held, then apply the event in the one transaction that also claims its
//! id in the inbox — a redelivery finds the claim and changes nothing — and commit
//! (which wakes the service's outbox relay). A failure the service calls poison goes
//! to the dead-letter queue; any other is retried.

use async_trait::async_trait;
use ringside_bus::consumer::HandleError;
use ringside_bus::{Envelope, EventPayload, inbox};
use ringside_storage::{Db, Tx};

/// What a consuming service does with an event.
#[async_trait]
pub trait Apply: Send + Sync + 'static {
    /// What is asked of other services before the transaction opens.
    type Asked: Send;
    type Error: std::fmt::Display + From<sqlx::Error> + Send;

    /// The consumer's name in the inbox.
    fn queue(&self) -> &'static str;
    fn db(&self) -> &Db;
    /// Whether `error` means the event itself is wrong (no retry can help).
    fn is_poison(error: &Self::Error) -> bool;

    /// Asks other services what applying `payload` needs; no lock is held meanwhile.
    async fn ask(
        &self,
        envelope: &Envelope,
        payload: &EventPayload,
    ) -> Result<Self::Asked, Self::Error>;
    /// Applies the event in `tx`, which already holds its inbox claim.
    async fn apply(
        &self,
        tx: &mut Tx,
        envelope: &Envelope,
        payload: &EventPayload,
        asked: Self::Asked,
    ) -> Result<(), Self::Error>;
    /// Commits `tx` (and wakes the outbox relay).
    async fn commit(&self, tx: Tx) -> Result<(), Self::Error>;
}

/// Handles `envelope` with `service` once: what a service's `Handler::handle` calls.
pub async fn once<A: Apply>(service: &A, envelope: &Envelope) -> Result<(), HandleError> {
    let payload = HandleError::payload(envelope)?;
    HandleError::of(applied(service, envelope, payload).await, A::is_poison)
}

async fn applied<A: Apply>(
    service: &A,
    envelope: &Envelope,
    payload: &EventPayload,
) -> Result<(), A::Error> {
    let asked = service.ask(envelope, payload).await?;
    let mut tx = service.db().begin().await?;
    if !inbox::claim(&mut tx, service.queue(), &envelope.event_id).await? {
        return Ok(()); // handled before
    }
    service.apply(&mut tx, envelope, payload, asked).await?;
    service.commit(tx).await
}
