//! Answers from agents to clients, on the channel the client wrote on: Telegram
//! (through the bot's one sender, within the Bot API's limits, waiting out a 429's
//! `retry_after`) and email
//! (SMTP, with `In-Reply-To` and `References` so the answer joins the client's
//! thread). A reply goes where the answered message came from: its Telegram chat, its
//! sender's address; a web form's request is answered by email, to the client's
//! address, in the form's conversation. The outcome is published — `message.sent` files the answer in
//! its conversation; `message.failed` records why not, and a bot the client blocked
//! (Telegram's 403) is recorded as such.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use ringside_bus::{Bus, EventPayload};
use ringside_identity::Invalid;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;
use ringside_telegram::BotError;

use crate::channels::email::{AutoSubmitted, EmailSender, SmtpFailure};
use crate::channels::telegram::TelegramSender;
use crate::error::{NotificationsError, Result};
use crate::peers::Peers;

/// Longest text Telegram takes in one message.
const TELEGRAM_MAX_CHARS: usize = 4096;
/// Longest email body an agent sends from the CRM.
const EMAIL_MAX_CHARS: usize = 100_000;
/// Attempts at one email while the server refuses for now (4xx).
const ATTEMPTS: u32 = 4;

/// An agent's message to a client.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    pub agent_id: String,
    pub contact_id: String,
    pub lead_id: String,
    /// `apb::Channel`; 0 to answer on the channel of `reply_to_entry_id`.
    pub channel: i32,
    pub text: String,
    pub subject: String,
    pub reply_to_entry_id: String,
}

/// What became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    pub sent: bool,
    pub reason: String,
    /// The client blocked the bot: later messages will fail too.
    pub blocked: bool,
    pub external_id: String,
}

/// Why a channel did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    reason: String,
    blocked: bool,
}

impl Failure {
    fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            blocked: false,
        }
    }
}

/// Sends agents' messages, and the automatic answer to a new lead's first email.
pub struct Outbound {
    peers: Arc<Peers>,
    bus: Arc<dyn Bus>,
    telegram: Option<TelegramOut>,
    email: Option<EmailOut>,
    /// The automatic answer's text (none: no automatic answers) and subject.
    auto_reply: Option<String>,
    auto_subject: String,
}

/// Whether `m` is a client's first email, written by a person whose address the
/// receiving server did not find forged.
pub fn wants_auto_reply(m: &ev::ChannelMessage) -> bool {
    let Some(d) = &m.message else { return false };
    m.new_lead
        && !m.edit
        && !d.automatic
        && !d.sender_unverified
        && d.channel == apb::Channel::Email as i32
        && d.direction == apb::Direction::Inbound as i32
        && !d.from.is_empty()
}

impl Outbound {
    pub fn new(
        peers: Arc<Peers>,
        bus: Arc<dyn Bus>,
        telegram: Option<TelegramOut>,
        email: Option<EmailOut>,
    ) -> Self {
        Outbound {
            peers,
            bus,
            telegram,
            email,
            auto_reply: None,
            auto_subject: String::new(),
        }
    }

    /// New leads' first emails are answered with `text` under `subject`
    /// (`Auto-Submitted: auto-replied`), when email is configured.
    pub fn with_auto_reply(mut self, text: Option<String>, subject: &str) -> Self {
        self.auto_reply = text.filter(|t| !t.trim().is_empty());
        self.auto_subject = subject.trim().to_owned();
        self
    }

    pub fn auto_replies(&self) -> bool {
        self.auto_reply.is_some() && self.email.is_some()
    }

    /// Answers `received` automatically in its thread; whether it went out. A failure
    /// is logged and not retried: a missing acknowledgement is better than a doubled
    /// one, and an address that bounced will bounce again.
    pub async fn auto_reply(&self, received: &ev::ChannelMessage) -> bool {
        let (Some(email), Some(text), Some(d)) = (&self.email, &self.auto_reply, &received.message)
        else {
            return false;
        };
        // Never to ourselves: that is how mail loops start.
        if d.from.eq_ignore_ascii_case(email.from.email.as_ref()) {
            return false;
        }
        let answered = Some(d.external_id.clone()).filter(|id| !id.is_empty());
        // The office's own subject, never the client's: a forged sender would make
        // the answer carry any text to anyone.
        let mut message = ev::ChannelMessage {
            message: Some(apb::MessageDetail {
                channel: apb::Channel::Email as i32,
                direction: apb::Direction::Outbound as i32,
                subject: self.auto_subject.clone(),
                text: text.clone(),
                automatic: true,
                ..Default::default()
            }),
            contact_id: received.contact_id.clone(),
            lead_id: received.lead_id.clone(),
            company_id: received.company_id.clone(),
            sent_at: Some(std::time::SystemTime::now().into()),
            ..Default::default()
        };
        let to = d.from.clone();
        match email
            .send(&mut message, to, answered, Some("auto-replied"))
            .await
        {
            Ok(()) => {
                self.publish(message, None).await;
                true
            }
            Err(f) => {
                tracing::warn!(reason = %f.reason, "email: the automatic answer did not go out");
                false
            }
        }
    }

    /// Sends `req`; `Err` for a request that cannot be sent (nothing happened then).
    pub async fn send(&self, req: SendRequest) -> Result<SendOutcome> {
        let (party, reply) = self.subjects(&req).await?;
        let channel = match (req.channel, &reply) {
            (0, Some((detail, _))) => detail.channel,
            (c, Some((detail, _))) if c != detail.channel => {
                return Err(
                    Invalid::new("reply_to_entry_id", "a message on another channel").into(),
                );
            }
            (c, _) => c,
        };
        let mut message = outgoing(&req, &party, reply.as_ref(), channel)?;
        // An answer belongs with what it answers (a form's, sent by email, too).
        if let Some((_, entry)) = &reply {
            message.conversation_id = entry.conversation_id.clone();
        }
        let delivered = match apb::Channel::try_from(channel) {
            Ok(apb::Channel::Telegram) => {
                self.to_telegram(&party, reply.as_ref(), &mut message)
                    .await?
            }
            Ok(apb::Channel::Email) => self.to_email(&party, reply.as_ref(), &mut message).await?,
            _ => return Err(Invalid::new("channel", "telegram or email").into()),
        };
        let outcome = match &delivered {
            Ok(()) => SendOutcome {
                sent: true,
                reason: String::new(),
                blocked: false,
                external_id: detail_of(&message).external_id.clone(),
            },
            Err(f) => SendOutcome {
                sent: false,
                reason: f.reason.clone(),
                blocked: f.blocked,
                external_id: String::new(),
            },
        };
        let channel_name = if channel == apb::Channel::Email as i32 {
            "email"
        } else {
            "telegram"
        };
        let label = if outcome.sent { "sent" } else { "failed" };
        metrics::counter!("ringside_messages_out_total", "channel" => channel_name, "outcome" => label)
            .increment(1);
        self.publish(message, delivered.err()).await;
        Ok(outcome)
    }

    /// The client and, for a reply, the answered message (with its references).
    async fn subjects(
        &self,
        req: &SendRequest,
    ) -> Result<(cpb::Party, Option<(apb::MessageDetail, apb::Entry)>)> {
        let (kind, id) = match (req.contact_id.trim(), req.lead_id.trim()) {
            (c, "") if !c.is_empty() => ("contact", c),
            ("", l) if !l.is_empty() => ("lead", l),
            _ => {
                return Err(
                    Invalid::new("contact_id", "exactly one of contact_id and lead_id").into(),
                );
            }
        };
        let party = self
            .peers
            .party(kind, id)
            .await?
            .ok_or_else(|| NotificationsError::not_found(kind, id))?;
        if req.reply_to_entry_id.trim().is_empty() {
            return Ok((party, None));
        }
        let entry = self
            .peers
            .entry(req.reply_to_entry_id.trim())
            .await?
            .ok_or_else(|| NotificationsError::not_found("entry", &req.reply_to_entry_id))?;
        let links = entry.links.clone().unwrap_or_default();
        let ours = if kind == "contact" {
            links.contact_id == id
        } else {
            links.lead_id == id
        };
        match &entry.detail {
            Some(apb::entry::Detail::Message(m)) if ours => Ok((party, Some((m.clone(), entry)))),
            Some(apb::entry::Detail::Form(f)) if ours => {
                let detail = as_email(f, &party);
                Ok((party, Some((detail, entry))))
            }
            _ => Err(Invalid::new("reply_to_entry_id", "not a message of this client").into()),
        }
    }

    async fn to_telegram(
        &self,
        party: &cpb::Party,
        reply: Option<&(apb::MessageDetail, apb::Entry)>,
        message: &mut ev::ChannelMessage,
    ) -> Result<std::result::Result<(), Failure>> {
        let Some(telegram) = &self.telegram else {
            return Err(unconfigured("Telegram (RINGSIDE_TELEGRAM_BOT_TOKEN)"));
        };
        // A reply goes to the chat it answers (a group, too) and quotes it.
        let (chat, answered) = match reply.and_then(|(d, _)| d.external_id.split_once(':')) {
            Some((chat, id)) => (chat.to_owned(), id.parse().ok()),
            None => (
                identity(party, cpb::IdentityKind::Telegram)
                    .ok_or_else(|| no_address("a Telegram identity"))?,
                None,
            ),
        };
        let text = detail_of(message).text.clone();
        // Telegram counts UTF-16 code units.
        if text.encode_utf16().count() > TELEGRAM_MAX_CHARS {
            return Err(Invalid::new("text", "at most 4096 characters on Telegram").into());
        }
        message.thread_key = format!("chat:{chat}");
        let detail = detail_mut(message);
        detail.to = vec![chat.clone()];
        Ok(telegram.deliver(&chat, &text, answered).await.map(|id| {
            detail.external_id = format!("{chat}:{id}");
        }))
    }

    async fn to_email(
        &self,
        party: &cpb::Party,
        reply: Option<&(apb::MessageDetail, apb::Entry)>,
        message: &mut ev::ChannelMessage,
    ) -> Result<std::result::Result<(), Failure>> {
        let Some(email) = &self.email else {
            return Err(unconfigured("email (RINGSIDE_SMTP_URL)"));
        };
        let to = match reply.map(|(d, _)| correspondent(d)) {
            Some(Some(address)) => address,
            _ => identity(party, cpb::IdentityKind::Email).ok_or_else(|| no_address("an email"))?,
        };
        if detail_of(message).text.chars().count() > EMAIL_MAX_CHARS {
            return Err(Invalid::new("text", "at most 100000 characters").into());
        }
        let answered = reply
            .map(|(d, _)| d.external_id.clone())
            .filter(|id| !id.is_empty());
        Ok(email.send(message, to, answered, None).await)
    }

    /// `message.sent` or `message.failed`; the send already happened, so a bus that
    /// does not confirm is retried a few times and then reported.
    async fn publish(&self, message: ev::ChannelMessage, failure: Option<Failure>) {
        let payload = match failure {
            None => EventPayload::MessageSent(ev::MessageSent {
                message: Some(message),
            }),
            Some(f) => EventPayload::MessageFailed(ev::MessageFailed {
                message: Some(message),
                reason: f.reason,
                blocked: f.blocked,
            }),
        };
        let envelope = ringside_bus::new_envelope(crate::SOURCE, "", payload);
        let wrapped = [ringside_bus::Message::from_envelope(&envelope)];
        for attempt in 1..=3u32 {
            match self.bus.publish(&wrapped).await {
                Ok(()) => return,
                Err(e) if attempt == 3 => {
                    tracing::error!(error = %e, "an agent's message went out but its event was not published");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await,
            }
        }
    }
}

fn unconfigured(what: &str) -> NotificationsError {
    NotificationsError::Refused(tonic::Status::failed_precondition(format!(
        "{what} is not configured"
    )))
}

fn no_address(what: &str) -> NotificationsError {
    NotificationsError::Refused(tonic::Status::failed_precondition(format!(
        "the client has no {what} to write to"
    )))
}

/// A web form's submission answered as the email it asks for, under the form's
/// name, with nothing to thread under: to the address the form gave when it is one
/// of the client's own (the form was filed under them by it, or it was added to
/// them), else to the client's first email — never to an address someone typed
/// beside another client's phone number.
fn as_email(form: &apb::FormDetail, party: &cpb::Party) -> apb::MessageDetail {
    let given = form
        .fields
        .get("email")
        .map(|e| e.trim())
        .unwrap_or_default();
    let theirs = identities(party)
        .iter()
        .any(|i| i.kind == cpb::IdentityKind::Email as i32 && i.value.eq_ignore_ascii_case(given));
    apb::MessageDetail {
        channel: apb::Channel::Email as i32,
        direction: apb::Direction::Inbound as i32,
        from: if theirs {
            given.to_owned()
        } else {
            String::new()
        },
        subject: form.form.clone(),
        ..Default::default()
    }
}

/// Who is on the other side of message `d`: its sender, or for one of ours, its
/// recipient.
fn correspondent(d: &apb::MessageDetail) -> Option<String> {
    let address = match d.direction == apb::Direction::Outbound as i32 {
        true => d.to.first()?,
        false => &d.from,
    };
    Some(address.clone()).filter(|a| !a.is_empty())
}

/// The party's first identity of `kind`.
fn identity(party: &cpb::Party, kind: cpb::IdentityKind) -> Option<String> {
    identities(party)
        .iter()
        .find(|i| i.kind == kind as i32)
        .map(|i| i.value.clone())
}

/// The party's identities.
fn identities(party: &cpb::Party) -> &[cpb::Identity] {
    match &party.party {
        Some(cpb::party::Party::Contact(c)) => &c.identities,
        Some(cpb::party::Party::Lead(l)) => &l.identities,
        None => &[],
    }
}

/// The event of an agent's message, before the channel gives it an id.
fn outgoing(
    req: &SendRequest,
    party: &cpb::Party,
    reply: Option<&(apb::MessageDetail, apb::Entry)>,
    channel: i32,
) -> Result<ev::ChannelMessage> {
    let text = ringside_identity::required_text("text", &req.text)?;
    let subject = match (req.subject.trim(), reply) {
        ("", Some((d, _))) if !d.subject.is_empty() => reply_subject(&d.subject),
        ("", _) if channel == apb::Channel::Email as i32 => "Re: your message".to_owned(),
        (s, _) => s.to_owned(),
    };
    if subject.contains(['\r', '\n']) || subject.chars().count() > 200 {
        return Err(Invalid::new("subject", "one line of at most 200 characters").into());
    }
    let mut message = ev::ChannelMessage {
        message: Some(apb::MessageDetail {
            channel,
            direction: apb::Direction::Outbound as i32,
            subject,
            text,
            agent_id: req.agent_id.clone(),
            ..Default::default()
        }),
        sent_at: Some(std::time::SystemTime::now().into()),
        ..Default::default()
    };
    match &party.party {
        Some(cpb::party::Party::Contact(c)) => {
            message.contact_id = c.id.clone();
            message.company_id = c.company_id.clone();
        }
        Some(cpb::party::Party::Lead(l)) => message.lead_id = l.id.clone(),
        None => {}
    }
    Ok(message)
}

/// "Re: " once, however many times the thread has gone back and forth.
fn reply_subject(subject: &str) -> String {
    let mut s = subject.trim();
    while let Some(rest) = s
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("re:"))
        .and(s.get(3..))
    {
        s = rest.trim_start();
    }
    format!("Re: {s}")
}

fn detail_of(m: &ev::ChannelMessage) -> &apb::MessageDetail {
    m.message
        .as_ref()
        .expect("outgoing messages carry their detail")
}

fn detail_mut(m: &mut ev::ChannelMessage) -> &mut apb::MessageDetail {
    m.message.get_or_insert_with(Default::default)
}

/// Agents' answers by Telegram, through the bot's one sender (and its limits).
pub struct TelegramOut {
    sender: Arc<TelegramSender>,
}

impl TelegramOut {
    pub fn new(sender: Arc<TelegramSender>) -> Self {
        TelegramOut { sender }
    }

    /// The sent message's id in the chat.
    async fn deliver(
        &self,
        chat: &str,
        text: &str,
        reply_to: Option<i64>,
    ) -> std::result::Result<i64, Failure> {
        self.sender
            .send(chat, text, reply_to)
            .await
            .map_err(|e| match e {
                BotError::RetryAfter(wait) => {
                    Failure::new(format!("rate limited by Telegram for {}s", wait.as_secs()))
                }
                BotError::Blocked(_) => Failure {
                    reason: "bot blocked by the user".into(),
                    blocked: true,
                },
                BotError::Refused(why) => Failure::new(format!("refused by Telegram: {why}")),
                BotError::Unavailable(why) => Failure::new(format!("Telegram unavailable: {why}")),
                // Sending again could deliver it twice: the agent decides.
                BotError::Uncertain(_) => {
                    Failure::new("Telegram did not answer; the message may have arrived")
                }
            })
    }
}

/// One email to send.
struct Letter {
    to: String,
    subject: String,
    text: String,
    /// The Message-ID answered.
    in_reply_to: Option<String>,
    /// `auto-replied` for automatic answers.
    auto_submitted: Option<&'static str>,
}

/// Answers by email, from the address clients answer to.
pub struct EmailOut {
    sender: Arc<EmailSender>,
    from: Mailbox,
}

impl EmailOut {
    pub fn new(sender: Arc<EmailSender>, from: &str) -> std::result::Result<Self, String> {
        Ok(EmailOut {
            sender,
            from: from.parse().map_err(|e| format!("sender address: {e}"))?,
        })
    }

    /// Sends `message` (its detail's subject and text) to `to`, answering message
    /// `answered`; fills in the addresses, the references and the Message-ID it went
    /// out with.
    async fn send(
        &self,
        message: &mut ev::ChannelMessage,
        to: String,
        answered: Option<String>,
        auto_submitted: Option<&'static str>,
    ) -> std::result::Result<(), Failure> {
        message.references = answered.iter().cloned().collect();
        let detail = detail_mut(message);
        detail.to = vec![to.clone()];
        detail.from = self.from.email.to_string();
        let letter = Letter {
            to,
            subject: detail.subject.clone(),
            text: detail.text.clone(),
            in_reply_to: answered,
            auto_submitted,
        };
        detail.external_id = self.deliver(letter).await?;
        Ok(())
    }

    /// The sent message's Message-ID.
    async fn deliver(&self, letter: Letter) -> std::result::Result<String, Failure> {
        let to: Mailbox = letter
            .to
            .parse()
            .map_err(|_| Failure::new("the client's email address does not parse"))?;
        let id = format!("{}@{}", uuid::Uuid::now_v7(), self.from.email.domain());
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(letter.subject)
            .message_id(Some(format!("<{id}>")));
        if let Some(parent) = &letter.in_reply_to {
            builder = builder
                .in_reply_to(format!("<{parent}>"))
                .references(format!("<{parent}>"));
        }
        if let Some(kind) = letter.auto_submitted {
            builder = builder.header(AutoSubmitted(kind));
        }
        let email = builder
            .body(letter.text)
            .map_err(|_| Failure::new("the message could not be built"))?;
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            match self.sender.send(email.clone()).await {
                Ok(()) => return Ok(id),
                // A 4xx refusal sent nothing: try again. Anything else may have
                // been accepted (a timeout after DATA), or will be refused again.
                Err(SmtpFailure::Transient(_)) if attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(f) => return Err(Failure::new(f.reason())),
            }
        }
        Err(Failure::new("SMTP unavailable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_subject_has_one_re() {
        assert_eq!(reply_subject("Price list"), "Re: Price list");
        assert_eq!(reply_subject("RE: re:Price list"), "Re: Price list");
        assert_eq!(reply_subject("Счёт"), "Re: Счёт");
        assert_eq!(reply_subject("Re: Ёж"), "Re: Ёж");
    }
}
