//! Telegram in: updates from a bot — by long polling or by webhook — become
//! `message.received`. Private chats always; group chats by configuration (only
//! messages that mention the bot or answer it, or all). The sender's Telegram user id
//! is the identity; a `/start` payload (a deep link from an ad) is a new lead's
//! campaign; media is kept as attachment metadata (kind, file id, size), not
//! downloaded; an edit is recorded as an edit of the message it changes; a phone
//! number the sender shares as their own contact is one more identity of theirs. An
//! update is confirmed to Telegram (the offset advanced, or the webhook answered 200)
//! only after its event is published, and a repeated update is the same event. The
//! Bot API is spoken through teloxide-core.

pub mod poll;
pub mod staff;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use ringside_bus::Bus;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;
use ringside_telegram::BotError;
use ringside_telegram::teloxide_core::Bot;
use ringside_telegram::teloxide_core::prelude::Requester;
use ringside_telegram::teloxide_core::types::{Message, Update, UpdateKind};
use tokio::sync::OnceCell;

use crate::inbound::{self, DeliverError, Inbound};
use crate::peers::Contacts;
use crate::status::{Channel, Kind, Note};

/// How updates arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Polling,
    Webhook,
}

/// Which group messages are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// None: only private chats.
    Off,
    /// Messages that mention the bot or reply to it.
    Mentions,
    All,
}

impl std::str::FromStr for Groups {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" => Ok(Groups::Off),
            "mentions" => Ok(Groups::Mentions),
            "all" => Ok(Groups::All),
            other => Err(format!("{other:?}: expected off, mentions or all")),
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" => Ok(Mode::Off),
            "polling" => Ok(Mode::Polling),
            "webhook" => Ok(Mode::Webhook),
            other => Err(format!("{other:?}: expected off, polling or webhook")),
        }
    }
}

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Not something Ringside takes (a channel post, a bot, a group message not for
    /// us, an update it cannot read): confirmed, and nothing stored.
    Ignored(&'static str),
}

/// Turns updates into events.
pub struct TelegramIn {
    bot: Bot,
    contacts: Contacts,
    bus: Arc<dyn Bus>,
    groups: Groups,
    /// The bot's username, asked once (for mentions).
    username: OnceCell<String>,
    /// The agents' own chats with the bot (none known: every chat is a client's).
    staff: Option<staff::Staff>,
    /// What the admin's channel page says of the bot.
    channel: Arc<Channel>,
}

impl TelegramIn {
    pub fn new(bot: Bot, contacts: Contacts, bus: Arc<dyn Bus>, groups: Groups) -> Self {
        TelegramIn {
            bot,
            contacts,
            bus,
            groups,
            username: OnceCell::new(),
            staff: None,
            channel: Channel::detached(Kind::Telegram, "bot"),
        }
    }

    /// Notes what the bot receives, refuses and fails at on `channel`.
    pub fn watched(mut self, channel: Arc<Channel>) -> Self {
        self.channel = channel;
        self
    }

    /// What the admin's channel page says of the bot.
    pub fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }

    /// Private messages from the agents' chats (their alerts chats, as staff knows
    /// them) are not clients'.
    pub fn with_staff(mut self, staff: ringside_kit::PeerChannel) -> Self {
        self.staff = Some(staff::Staff::new(staff));
        self
    }

    /// Files one update as it came over the webhook (its JSON text: teloxide reads
    /// updates from text, not from a parsed value); one that is not an update as the
    /// Bot API describes it is confirmed and dropped.
    pub async fn handle_json(&self, raw: &[u8]) -> Result<Outcome, DeliverError> {
        match serde_json::from_slice::<Update>(raw) {
            Ok(update) => self.handle(&update).await,
            Err(_) => self.count(Ok(Outcome::Ignored("unreadable"))),
        }
    }

    /// Files one update; `Err` when it must be handed over again later.
    pub async fn handle(&self, update: &Update) -> Result<Outcome, DeliverError> {
        let outcome = self.file(update).await;
        match self.count(outcome) {
            // A sender contacts refuses will be refused again: confirm and move on.
            Err(DeliverError::Invalid(_)) => Ok(Outcome::Ignored("invalid")),
            other => other,
        }
    }

    fn count(&self, outcome: Result<Outcome, DeliverError>) -> Result<Outcome, DeliverError> {
        let label = match &outcome {
            Ok(Outcome::Delivered) => "delivered",
            Ok(Outcome::Ignored(why)) => why,
            Err(DeliverError::Invalid(_)) => "invalid",
            Err(DeliverError::Unavailable(_)) => "unavailable",
        };
        metrics::counter!("ringside_telegram_updates_total", "outcome" => label).increment(1);
        self.channel.note(match &outcome {
            Ok(Outcome::Ignored("unreadable")) => Note::Refused("unreadable"),
            Ok(_) => Note::Took,
            Err(DeliverError::Invalid(_)) => Note::Refused("invalid"),
            Err(e @ DeliverError::Unavailable(_)) => Note::Failed(e.to_string()),
        });
        outcome
    }

    async fn file(&self, update: &Update) -> Result<Outcome, DeliverError> {
        let (message, edit) = match &update.kind {
            UpdateKind::Message(m) => (m, false),
            UpdateKind::EditedMessage(m) => (m, true),
            // A message teloxide could not read comes as an error: nothing to file.
            UpdateKind::Error(_) => return Ok(Outcome::Ignored("unreadable")),
            _ => return Ok(Outcome::Ignored("unsupported")),
        };
        if let Some(why) = self.not_for_us(message).await? {
            return Ok(Outcome::Ignored(why));
        }
        let inbound = to_inbound(message, edit.then_some(i64::from(update.id.0)));
        inbound::deliver(&self.contacts, &self.bus, inbound).await?;
        Ok(Outcome::Delivered)
    }

    /// Why a message is not taken, if it is not.
    async fn not_for_us(&self, m: &Message) -> Result<Option<&'static str>, DeliverError> {
        let Some(from) = &m.from else {
            return Ok(Some("no_sender"));
        };
        if from.is_bot {
            return Ok(Some("from_bot"));
        }
        let group = m.chat.is_group() || m.chat.is_supergroup();
        Ok(match (m.chat.is_private(), group, self.groups) {
            (true, _, _) => match &self.staff {
                Some(staff) if staff.is_agent(m.chat.id.0).await => Some("agent"),
                _ => None,
            },
            (_, true, Groups::All) => None,
            (_, true, Groups::Mentions) => {
                let me = self.username().await?;
                let replied_to_us = m
                    .reply_to_message()
                    .and_then(|r| r.from.as_ref()?.username.as_deref())
                    .is_some_and(|u| u.eq_ignore_ascii_case(me));
                let mentioned = ringside_telegram::mentions(m, me);
                (!(mentioned || replied_to_us)).then_some("group_not_mentioned")
            }
            (_, true, Groups::Off) => Some("group"),
            _ => Some("channel"),
        })
    }

    async fn username(&self) -> Result<&str, DeliverError> {
        self.username
            .get_or_try_init(|| async {
                match self.bot.get_me().await {
                    Ok(me) => Ok(me.user.username.unwrap_or_default()),
                    Err(e) => Err(DeliverError::Unavailable(format!(
                        "getMe: {}",
                        BotError::from(e)
                    ))),
                }
            })
            .await
            .map(String::as_str)
    }
}

/// The message as an event, with its sender's identity; `edit` is the update that
/// carries an edit (the key of that edit: two edits within a second differ).
fn to_inbound(m: &Message, edit: Option<i64>) -> Inbound {
    let from = m
        .from
        .as_ref()
        .map(|u| (u.id.0, u.full_name()))
        .unwrap_or_default();
    let external_id = format!("{}:{}", m.chat.id.0, m.id.0);
    let key = match edit {
        Some(update) => format!("telegram:{external_id}:edit:{update}"),
        None => format!("telegram:{external_id}"),
    };
    let at = match edit {
        Some(_) => m.edit_date().unwrap_or(&m.date).timestamp(),
        None => m.date.timestamp(),
    };
    let detail = apb::MessageDetail {
        channel: apb::Channel::Telegram as i32,
        direction: apb::Direction::Inbound as i32,
        external_id,
        from: from.0.to_string(),
        text: ringside_telegram::body(m).to_owned(),
        attachments: ringside_telegram::files(m)
            .into_iter()
            .map(|f| apb::Attachment {
                kind: f.kind.to_owned(),
                file_id: f.file_id,
                file_name: f.name,
                mime_type: f.mime_type,
                size: f.size,
            })
            .collect(),
        ..Default::default()
    };
    let mut identities = vec![inbound::identity(
        cpb::IdentityKind::Telegram,
        from.0.to_string(),
    )];
    // The sender's own number, shared with Telegram's button: the same person. One
    // that is not a phone number is left out (the message still counts).
    let shared = ringside_telegram::shared_phone(m)
        .and_then(|p| ringside_identity::PhoneE164::parse(&p, Default::default()).ok());
    if let Some(phone) = &shared {
        identities.push(inbound::identity(
            cpb::IdentityKind::Phone,
            phone.as_str().to_owned(),
        ));
    }
    Inbound {
        key,
        identities,
        name: from.1,
        source: cpb::LeadSource {
            channel: "telegram".into(),
            campaign: start_payload(m).unwrap_or_default(),
        },
        lookup_only: false,
        claim_also: shared.is_some(),
        message: ev::ChannelMessage {
            message: Some(detail),
            thread_key: format!("chat:{}", m.chat.id),
            sent_at: Some(prost_types::Timestamp {
                seconds: at,
                nanos: 0,
            }),
            edit: edit.is_some(),
            ..Default::default()
        },
    }
}

/// The payload of `/start <payload>` in a private chat (a deep link `t.me/bot?start=`).
fn start_payload(m: &Message) -> Option<String> {
    if !m.chat.is_private() {
        return None;
    }
    let rest = m.text()?.strip_prefix("/start")?;
    let payload = rest.strip_prefix(' ')?.trim();
    let valid = !payload.is_empty()
        && payload.len() <= 64
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    valid.then(|| payload.to_owned())
}

/// How long to wait before asking again after `e`.
pub(crate) fn pause_after(e: &BotError, backoff: Duration) -> Duration {
    match e {
        BotError::RetryAfter(wait) => *wait,
        _ => backoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: serde_json::Value) -> Message {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_deep_link_start_is_the_campaign_and_media_is_metadata() {
        let m = message(serde_json::json!({
            "message_id": 3, "date": 1700000000,
            "chat": {"id": 42, "type": "private", "first_name": "Анна"},
            "from": {"id": 42, "is_bot": false, "first_name": "Анна", "last_name": "К"},
            "text": "/start spring_sale-2"
        }));
        let inbound = to_inbound(&m, None);
        assert_eq!(inbound.source.campaign, "spring_sale-2");
        assert_eq!(inbound.name, "Анна К");
        assert_eq!(inbound.identities[0].value, "42");
        assert_eq!(inbound.key, "telegram:42:3");
        assert_eq!(inbound.message.thread_key, "chat:42");

        let photo = message(serde_json::json!({
            "message_id": 4, "date": 1, "edit_date": 9,
            "chat": {"id": 42, "type": "private"},
            "from": {"id": 42, "is_bot": false, "first_name": "A"},
            "caption": "the invoice",
            "photo": [
                {"file_id": "s", "file_unique_id": "s1", "file_size": 1, "width": 9, "height": 9},
                {"file_id": "L", "file_unique_id": "L1", "file_size": 2048, "width": 900, "height": 900}
            ]
        }));
        let edited = to_inbound(&photo, Some(77));
        assert_eq!(edited.key, "telegram:42:4:edit:77");
        assert!(edited.message.edit);
        let detail = edited.message.message.unwrap();
        assert_eq!(detail.text, "the invoice");
        assert_eq!(detail.attachments[0].file_id, "L");
        assert_eq!(detail.attachments[0].size, 2048);
        assert_eq!(edited.source.campaign, "");
    }

    #[test]
    fn a_start_without_a_valid_payload_has_no_campaign() {
        for text in ["/start", "/startle x", "/start a b", "/start <script>"] {
            let m = message(serde_json::json!({
                "message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"},
                "from": {"id": 1, "is_bot": false, "first_name": "A"}, "text": text
            }));
            assert_eq!(start_payload(&m), None, "{text}");
        }
    }
}
