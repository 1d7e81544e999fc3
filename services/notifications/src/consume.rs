//! The events notifications reacts to. Cards are live state, not records: a
//! redelivered call event at most pushes a card update again. Alerts sent by email or
//! Telegram are recorded per event and channel, so a redelivery never repeats one.

use async_trait::async_trait;
use ringside_bus::consumer::{HandleError, Handler};
use ringside_bus::{Envelope, EventPayload, QueueSpec};

use crate::service::Notifications;

/// The queue notifications consumes (`<prefix>notifications`) and its bindings.
pub fn queue_spec(prefix: &str) -> QueueSpec {
    QueueSpec::new(
        &format!("{prefix}{}", crate::QUEUE),
        &["call.*", "task.due", "lead.created"],
    )
}

pub struct Consumer {
    service: Notifications,
}

impl Consumer {
    pub fn new(service: Notifications) -> Self {
        Consumer { service }
    }
}

#[async_trait]
impl Handler for Consumer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandleError> {
        let s = &self.service;
        match &envelope.payload {
            Some(EventPayload::CallRinging(e)) => s
                .ringing(e)
                .await
                .map_err(|e| HandleError::Retry(e.to_string()))?,
            Some(EventPayload::CallAnswered(e)) => s.answered(e),
            Some(EventPayload::CallEnded(e)) => s.over(e.call.as_ref()),
            Some(EventPayload::CallMissed(e)) => s.over(e.call.as_ref()),
            Some(EventPayload::TaskDue(e)) => s
                .task_due(&envelope.event_id, e)
                .await
                .map_err(HandleError::Retry)?,
            Some(EventPayload::LeadCreated(e)) => s
                .lead_created(&envelope.event_id, e)
                .await
                .map_err(HandleError::Retry)?,
            _ => {}
        }
        Ok(())
    }
}
