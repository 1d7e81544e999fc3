//! Building envelopes and turning them into bus messages and back.

use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message as _;
use ringside_proto::events::v1::{Envelope, envelope::Payload};

pub use ringside_proto::events::v1::envelope::Payload as EventPayload;

/// The routing key of an event: its type, in past tense.
pub fn event_type(payload: &Payload) -> &'static str {
    match payload {
        Payload::ContactCreated(_) => "contact.created",
        Payload::ContactUpdated(_) => "contact.updated",
        Payload::ContactMerged(_) => "contact.merged",
        Payload::ContactDeleted(_) => "contact.deleted",
        Payload::LeadCreated(_) => "lead.created",
        Payload::LeadUpdated(_) => "lead.updated",
        Payload::LeadStatusChanged(_) => "lead.status_changed",
        Payload::LeadConverted(_) => "lead.converted",
        Payload::CallRinging(_) => "call.ringing",
        Payload::CallAnswered(_) => "call.answered",
        Payload::CallEnded(_) => "call.ended",
        Payload::CallMissed(_) => "call.missed",
        Payload::CallFiled(_) => "call.filed",
        Payload::MessageReceived(_) => "message.received",
        Payload::MessageSent(_) => "message.sent",
        Payload::MessageFailed(_) => "message.failed",
        Payload::FormSubmitted(_) => "form.submitted",
        Payload::DealStageChanged(_) => "deal.stage_changed",
        Payload::DealCreated(_) => "deal.created",
        Payload::DealUpdated(_) => "deal.updated",
        Payload::TaskCreated(_) => "task.created",
        Payload::TaskUpdated(_) => "task.updated",
        Payload::TaskDue(_) => "task.due",
        Payload::NextActionChanged(_) => "next_action.changed",
        Payload::ConversationUpdated(_) => "conversation.updated",
    }
}

/// A new event from `source`, with a fresh id and the current time.
pub fn new_envelope(source: &str, correlation_id: &str, payload: Payload) -> Envelope {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: event_type(&payload).to_owned(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.as_secs() as i64,
            nanos: now.subsec_nanos() as i32,
        }),
        source: source.to_owned(),
        correlation_id: correlation_id.to_owned(),
        payload: Some(payload),
    }
}

/// An encoded event as the transports carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub routing_key: String,
    pub event_id: String,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn from_envelope(envelope: &Envelope) -> Self {
        Message {
            routing_key: envelope.r#type.clone(),
            event_id: envelope.event_id.clone(),
            payload: envelope.encode_to_vec(),
        }
    }

    pub fn decode(&self) -> Result<Envelope, prost::DecodeError> {
        Envelope::decode(self.payload.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_proto::events::v1::ContactDeleted;

    #[test]
    fn envelope_round_trips_through_a_message() {
        let envelope = new_envelope(
            "contacts",
            "corr-1",
            Payload::ContactDeleted(ContactDeleted {
                contact_id: "c-1".into(),
            }),
        );
        let message = Message::from_envelope(&envelope);
        assert_eq!(message.routing_key, "contact.deleted");
        assert_eq!(message.event_id, envelope.event_id);
        assert_eq!(message.decode().expect("decodes"), envelope);
    }
}
