//! Email in: messages read from IMAP mailboxes (`imap`) or pushed by a provider to
//! `POST /ingest/email` (`webhook`) are parsed (`parse`) and filed as
//! `message.received` — the sender resolved through contacts, a stranger becoming one
//! lead, unless a robot sent the message (then it is recorded against whoever is
//! known, and makes no lead). A message is keyed by its Message-ID, so the same mail
//! read twice (a restart, a second mailbox, a provider's retry) is one event.

pub mod imap;
pub mod parse;
pub mod webhook;

use std::sync::Arc;

use ringside_bus::Bus;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;

use self::parse::{Mail, Rejected};
use crate::inbound::{self, DeliverError, Inbound};
use crate::peers::Contacts;
use crate::status::{Channel, Note};

/// Largest message read by default: 25 MiB, what most providers accept.
pub const DEFAULT_MAX_BYTES: usize = 25 << 20;

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Filed; `automatic` when a robot sent it (no lead was made).
    Filed { message_id: String, automatic: bool },
    /// Not readable: kept aside with the reason, nothing filed.
    Quarantined(Rejected),
}

/// Files emails.
pub struct EmailIn {
    contacts: Contacts,
    bus: Arc<dyn Bus>,
    max_bytes: usize,
}

impl EmailIn {
    pub fn new(contacts: Contacts, bus: Arc<dyn Bus>, max_bytes: usize) -> Self {
        EmailIn {
            contacts,
            bus,
            max_bytes,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Files one raw message that came through `channel` (noted there); `Err` when it
    /// must be handed over again later.
    pub async fn file(&self, raw: &[u8], channel: &Channel) -> Result<Outcome, DeliverError> {
        let outcome = self.file_inner(raw).await;
        let label = match &outcome {
            Ok(Outcome::Filed {
                automatic: false, ..
            }) => "filed",
            Ok(Outcome::Filed {
                automatic: true, ..
            }) => "automatic",
            Ok(Outcome::Quarantined(r)) => r.reason(),
            Err(DeliverError::Invalid(_)) => "invalid",
            Err(DeliverError::Unavailable(_)) => "unavailable",
        };
        metrics::counter!("ringside_email_messages_total", "outcome" => label).increment(1);
        channel.note(match &outcome {
            Ok(Outcome::Filed { .. }) => Note::Took,
            Ok(Outcome::Quarantined(_)) | Err(DeliverError::Invalid(_)) => Note::Refused(label),
            Err(e @ DeliverError::Unavailable(_)) => Note::Failed(e.to_string()),
        });
        outcome
    }

    async fn file_inner(&self, raw: &[u8]) -> Result<Outcome, DeliverError> {
        let mail = match parse::parse(raw, self.max_bytes) {
            Ok(mail) => mail,
            Err(rejected) => return Ok(Outcome::Quarantined(rejected)),
        };
        let message_id = mail.message_id.clone();
        let automatic = mail.automatic.is_some();
        match inbound::deliver(&self.contacts, &self.bus, to_inbound(mail)).await {
            Ok(()) => Ok(Outcome::Filed {
                message_id,
                automatic,
            }),
            // Contacts refuses the sender's address: nothing to file it under.
            Err(DeliverError::Invalid(_)) => Ok(Outcome::Quarantined(Rejected::NoSender)),
            Err(e) => Err(e),
        }
    }
}

fn to_inbound(mail: Mail) -> Inbound {
    let sent_at = mail
        .date
        .map(|seconds| prost_types::Timestamp { seconds, nanos: 0 });
    let thread_key = mail.thread_root().to_owned();
    let detail = apb::MessageDetail {
        channel: apb::Channel::Email as i32,
        direction: apb::Direction::Inbound as i32,
        external_id: mail.message_id.clone(),
        from: mail.from.clone(),
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        attachments: mail.attachments,
        automatic: mail.automatic.is_some(),
        sender_unverified: mail.sender_unverified,
        ..Default::default()
    };
    Inbound {
        // The sender too: a Message-ID is only as unique as the mailer that made it.
        key: format!("email:{}:{}", mail.from, mail.message_id),
        identities: vec![inbound::identity(cpb::IdentityKind::Email, mail.from)],
        name: mail.from_name,
        source: cpb::LeadSource {
            channel: "email".into(),
            campaign: String::new(),
        },
        lookup_only: mail.automatic.is_some(),
        claim_also: false,
        message: ev::ChannelMessage {
            message: Some(detail),
            thread_key,
            references: mail.references,
            sent_at,
            ..Default::default()
        },
    }
}
