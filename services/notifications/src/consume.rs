//! The events notifications reacts to, from two queues. Cards are live state, not
//! records — they live in this process's memory — so call events come through a live
//! queue, which hands them over without waiting for a disk: the card is on the agent's
//! screen sooner, and nothing is lost that a restart would not lose anyway. Reminders
//! and new leads come through a durable queue: alerts sent by email or Telegram are
//! recorded per event and channel, so a redelivery never repeats one. Inbox updates
//! (`conversation.updated`) and boards (`deal.created`, `deal.updated`,
//! `deal.stage_changed`) are live state as well, and share the live queue.

use async_trait::async_trait;
use ringside_bus::consumer::{HandleError, Handler};
use ringside_bus::{Envelope, EventPayload, QueueSpec};

use crate::service::Notifications;

/// The queues notifications consumes: the durable `<prefix>notifications` (reminders,
/// new leads) and the live `<prefix>notifications.calls` (call events, for cards).
pub fn queue_specs(prefix: &str) -> [QueueSpec; 2] {
    let queue = format!("{prefix}{}", crate::QUEUE);
    [
        // Call events used to come through the durable queue too.
        QueueSpec::new(&queue, &["task.due", "lead.created", "message.received"])
            .retiring(&["call.*"]),
        // Inboxes and boards are live state too: a missed refresh is made up on the
        // next.
        QueueSpec::live(
            &format!("{queue}.calls"),
            &[
                "call.*",
                "conversation.updated",
                "deal.created",
                "deal.updated",
                "deal.stage_changed",
            ],
        ),
    ]
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
            Some(EventPayload::CallFiled(e)) => s.filed(e),
            Some(EventPayload::ConversationUpdated(e)) => s.conversation(e),
            Some(EventPayload::DealStageChanged(e)) => s.board(&e.pipeline_id),
            Some(EventPayload::DealCreated(e)) => {
                s.board(e.deal.as_ref().map_or("", |d| &d.pipeline_id))
            }
            Some(EventPayload::DealUpdated(e)) => {
                s.board(e.deal.as_ref().map_or("", |d| &d.pipeline_id))
            }
            Some(EventPayload::TaskDue(e)) => s
                .task_due(&envelope.event_id, e)
                .await
                .map_err(HandleError::Retry)?,
            Some(EventPayload::MessageReceived(e)) => s
                .acknowledge(&envelope.event_id, e)
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
