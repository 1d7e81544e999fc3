//! Alerts for agents who are not connected when a reminder comes due or a lead is
//! assigned to them: by email (SMTP through lettre) and by Telegram (the Bot API's
//! `sendMessage`), on every channel the agent has an address for. Each event reaches
//! each channel at most once: a sent alert is recorded under the event's id, so a
//! redelivered event skips what already went out and retries only what failed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ringside_storage::{Db, now_millis};

use crate::agents::Agent;

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
    fn address<'a>(&self, agent: &'a Agent) -> Option<&'a str>;
    async fn send(&self, address: &str, alert: &Alert) -> Result<(), SendError>;
}

/// Email through an SMTP server (`smtp://host:port`, `smtp://…?tls=required` for
/// STARTTLS, `smtps://user:pass@host` for TLS).
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Email {
    /// Must be called inside a Tokio runtime (the transport keeps a pool).
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = smtp_transport(url)?;
        let from = from.parse().map_err(|e| format!("alert sender: {e}"))?;
        Ok(Email { transport, from })
    }
}

/// A pooled SMTP transport for `url`; must be called inside a Tokio runtime.
pub(crate) fn smtp_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| format!("SMTP URL: {e}"))?
        .timeout(Some(Duration::from_secs(10)))
        .build())
}

#[async_trait]
impl AlertChannel for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn address<'a>(&self, agent: &'a Agent) -> Option<&'a str> {
        Some(agent.email.as_str()).filter(|e| !e.is_empty())
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
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(smtp_error(&e))),
            Err(e) => Err(SendError::Transient(smtp_error(&e))),
        }
    }
}

/// An SMTP failure without the server's text, which may quote the address.
pub(crate) fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("SMTP server answered {code}"),
        None if e.is_timeout() => "SMTP server timed out".into(),
        None => "SMTP connection failed".into(),
    }
}

/// `Auto-Submitted` (RFC 3834): `auto-generated` on alerts, `auto-replied` on
/// automatic answers, so that the other side's robots do not answer back.
#[derive(Clone)]
pub(crate) struct AutoSubmitted(pub &'static str);

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "auto-replied" => Ok(AutoSubmitted("auto-replied")),
            _ => Ok(AutoSubmitted("auto-generated")),
        }
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.to_owned())
    }
}

/// Telegram through a Bot API server (`https://api.telegram.org`, a self-hosted one,
/// or a stand-in in tests).
pub struct Telegram {
    api: ringside_telegram::BotApi,
}

impl Telegram {
    pub fn new(api_url: &str, token: &str) -> Result<Self, String> {
        let api = ringside_telegram::BotApi::new(api_url, token, Duration::from_secs(10))?;
        Ok(Telegram { api })
    }
}

#[async_trait]
impl AlertChannel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn address<'a>(&self, agent: &'a Agent) -> Option<&'a str> {
        Some(agent.telegram_chat_id.as_str()).filter(|c| !c.is_empty())
    }

    async fn send(&self, chat_id: &str, alert: &Alert) -> Result<(), SendError> {
        use ringside_telegram::BotError;
        let text = format!("{}\n{}", alert.subject, alert.text);
        match self.api.send_message(chat_id, &text, None).await {
            Ok(_) => Ok(()),
            Err(BotError::RetryAfter(wait)) => {
                // Honour the Bot API's retry_after before the delivery is retried.
                tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                Err(SendError::Transient("rate limited".into()))
            }
            // An alert sent twice beats one lost: a send without an answer is retried.
            Err(e @ (BotError::Unavailable(_) | BotError::Uncertain(_))) => {
                Err(SendError::Transient(e.to_string()))
            }
            Err(e) => Err(SendError::Permanent(e.to_string())),
        }
    }
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
        agent: &Agent,
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
        let found = sqlx::query("SELECT 1 FROM alerts_sent WHERE event_id = $1 AND channel = $2")
            .bind(event_id)
            .bind(channel)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| e.to_string())?;
        Ok(found.is_some())
    }

    /// Records that event `event_id` went out on `channel` (to `agent`, if anyone).
    pub(crate) async fn record(
        &self,
        event_id: &str,
        channel: &str,
        agent: &str,
    ) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO alerts_sent (event_id, channel, agent_id, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(channel)
        .bind(agent)
        .bind(now_millis())
        .execute(self.db.pool())
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }
}

pub(crate) fn count(kind: &str, channel: &str) {
    metrics::counter!("ringside_notifications_alerts_total", "kind" => kind.to_owned(), "channel" => channel.to_owned())
        .increment(1);
}
