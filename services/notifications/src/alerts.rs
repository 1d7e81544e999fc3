//! Alerts for agents who are not connected when a reminder comes due or a lead is
//! assigned to them: by email and by Telegram — through the service's one sender per
//! channel (`channels`), so alerts keep to the bot's limits like answers do — on
//! every channel the agent has an address for. Each event reaches
//! each channel at most once: a sent alert is recorded under the event's id, so a
//! redelivered event skips what already went out and retries only what failed.

use std::sync::Arc;

use async_trait::async_trait;
use lettre::Message;
use lettre::message::Mailbox;
use ringside_storage::Db;
use ringside_telegram::BotError;

use crate::channels::Channels;
use crate::channels::email::{AutoSubmitted, EmailSender, SmtpFailure};
use crate::channels::telegram::TelegramSender;
use crate::staff::Person;
use crate::store;

/// What an alert says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `task_due` or `lead_assigned`.
    pub kind: String,
    pub subject: String,
    pub text: String,
}

/// Why a send failed: worth retrying (the server is down, a rate limit), or not
/// (the address is refused, the bot is blocked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    Transient(String),
    Permanent(String),
}

/// One way to reach an agent.
#[async_trait]
pub trait AlertChannel: Send + Sync + 'static {
    /// `email` or `telegram`.
    fn name(&self) -> &'static str;
    /// The agent's address on this channel, if they gave one.
    fn address<'a>(&self, person: &'a Person) -> Option<&'a str>;
    async fn send(&self, address: &str, alert: &Alert) -> Result<(), SendError>;
}

/// Alerts by email, from `from`.
pub struct Email {
    sender: Arc<EmailSender>,
    from: Mailbox,
}

impl Email {
    pub fn new(sender: Arc<EmailSender>, from: &str) -> Result<Self, String> {
        let from = from.parse().map_err(|e| format!("alert sender: {e}"))?;
        Ok(Email { sender, from })
    }
}

#[async_trait]
impl AlertChannel for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn address<'a>(&self, person: &'a Person) -> Option<&'a str> {
        Some(person.alert_email.as_str()).filter(|e| !e.is_empty())
    }

    async fn send(&self, address: &str, alert: &Alert) -> Result<(), SendError> {
        let to: Mailbox = address
            .parse()
            .map_err(|_| SendError::Permanent("the agent's email address does not parse".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(alert.subject.clone())
            // Automatic mail: no auto-replies back, please.
            .header(AutoSubmitted("auto-generated"))
            .body(alert.text.clone())
            .map_err(|_| SendError::Permanent("the message could not be built".into()))?;
        match self.sender.send(message).await {
            Ok(()) => Ok(()),
            Err(f @ SmtpFailure::Permanent(_)) => Err(SendError::Permanent(f.reason().into())),
            // An alert sent twice beats one lost: an unanswered send is retried too.
            Err(f) => Err(SendError::Transient(f.reason().into())),
        }
    }
}

/// Alerts by Telegram, through the bot's one sender (and its limits).
pub struct Telegram {
    sender: Arc<TelegramSender>,
}

impl Telegram {
    pub fn new(sender: Arc<TelegramSender>) -> Self {
        Telegram { sender }
    }
}

#[async_trait]
impl AlertChannel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn address<'a>(&self, person: &'a Person) -> Option<&'a str> {
        Some(person.telegram_chat_id.as_str()).filter(|c| !c.is_empty())
    }

    async fn send(&self, chat_id: &str, alert: &Alert) -> Result<(), SendError> {
        let text = format!("{}\n{}", alert.subject, alert.text);
        match self.sender.send(chat_id, &text, None).await {
            Ok(_) => Ok(()),
            // An alert sent twice beats one lost: a send without an answer is retried,
            // and so is one still rate limited after the sender's own waits.
            Err(
                e @ (BotError::Unavailable(_) | BotError::Uncertain(_) | BotError::RetryAfter(_)),
            ) => Err(SendError::Transient(e.to_string())),
            Err(e) => Err(SendError::Permanent(e.to_string())),
        }
    }
}

/// The alert channels of `channels`: email from `from`, and the bot.
pub fn alert_channels(
    channels: &Channels,
    from: &str,
) -> Result<Vec<Arc<dyn AlertChannel>>, String> {
    let mut out: Vec<Arc<dyn AlertChannel>> = Vec::new();
    if let Some(sender) = &channels.email {
        out.push(Arc::new(Email::new(sender.clone(), from)?));
    }
    if let Some(sender) = &channels.telegram {
        out.push(Arc::new(Telegram::new(sender.clone())));
    }
    Ok(out)
}

/// Sends alerts on every configured channel, once per event and channel.
#[derive(Clone)]
pub struct Alerter {
    db: Db,
    channels: Vec<Arc<dyn AlertChannel>>,
}

impl Alerter {
    pub fn new(db: Db, channels: Vec<Arc<dyn AlertChannel>>) -> Self {
        Alerter { db, channels }
    }

    /// Sends `alert` for event `event_id` to `agent` on each channel they have an
    /// address for and that has not carried it yet. Returns how many channels carried
    /// it; an error when one failed in a way worth retrying (what was sent stays sent).
    pub async fn deliver(
        &self,
        event_id: &str,
        agent: &Person,
        alert: &Alert,
    ) -> Result<usize, String> {
        let mut sent = 0;
        let mut retry = None;
        for channel in &self.channels {
            let Some(address) = channel.address(agent) else {
                continue;
            };
            if self.was_sent(event_id, channel.name()).await? {
                sent += 1;
                continue;
            }
            match channel.send(address, alert).await {
                Ok(()) => {
                    self.record(event_id, channel.name(), &agent.id).await?;
                    count(&alert.kind, channel.name());
                    sent += 1;
                }
                Err(SendError::Permanent(e)) => {
                    tracing::warn!(channel = channel.name(), agent = %agent.id, error = %e, "alert refused; not retried");
                    count(&alert.kind, "refused");
                }
                Err(SendError::Transient(e)) => {
                    tracing::warn!(channel = channel.name(), agent = %agent.id, error = %e, "alert not sent; will retry");
                    retry = Some(e);
                }
            }
        }
        match retry {
            Some(e) => Err(e),
            None => Ok(sent),
        }
    }

    /// Whether event `event_id` already went out on `channel`.
    pub(crate) async fn was_sent(&self, event_id: &str, channel: &str) -> Result<bool, String> {
        let mut conn = self.db.pool().acquire().await.map_err(|e| e.to_string())?;
        store::was_sent(&mut conn, event_id, channel)
            .await
            .map_err(|e| e.to_string())
    }

    /// Records that event `event_id` went out on `channel` (to `agent`, if anyone).
    /// Records `key` on `channel` unless it is there already; whether this call
    /// recorded it (a claim: of several at once, one wins).
    pub(crate) async fn claim(&self, key: &str, channel: &str) -> Result<bool, String> {
        self.record_first(key, channel, "").await
    }

    pub(crate) async fn record(
        &self,
        event_id: &str,
        channel: &str,
        agent: &str,
    ) -> Result<(), String> {
        self.record_first(event_id, channel, agent).await.map(drop)
    }

    async fn record_first(&self, key: &str, channel: &str, agent: &str) -> Result<bool, String> {
        let mut conn = self.db.pool().acquire().await.map_err(|e| e.to_string())?;
        store::record_sent(&mut conn, key, channel, agent)
            .await
            .map_err(|e| e.to_string())
    }
}

pub(crate) fn count(kind: &str, channel: &str) {
    metrics::counter!("ringside_notifications_alerts_total", "kind" => kind.to_owned(), "channel" => channel.to_owned())
        .increment(1);
}
