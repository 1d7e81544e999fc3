//! A message a channel handed over (Telegram, email), on its way to the bus: the
//! sender is resolved through contacts — a stranger becomes one lead, unless the
//! message must not make one — and `message.received` is published and confirmed
//! before the channel is told it was taken. The event id is derived from the
//! message's own key (a Telegram chat and message id, an email's Message-ID), so a
//! message handed over twice is the same event twice, which consumers handle once.

use std::sync::Arc;

use ringside_bus::{Bus, EventPayload, Message};
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;
use sha2::{Digest, Sha256};

use ringside_kit::PeerError;

use crate::peers::Contacts;

/// A message and whom it came from.
#[derive(Debug, Clone, Default)]
pub struct Inbound {
    /// The message's own key on its channel: what makes a repeat the same event.
    pub key: String,
    /// The sender's identities, the most trusted first.
    pub identities: Vec<cpb::Identity>,
    /// A new lead's name and source.
    pub name: String,
    pub source: cpb::LeadSource,
    /// Find the sender but never make a lead (automatic mail).
    pub lookup_only: bool,
    /// The channel vouches the identities are all the sender's: a known sender gets
    /// the ones nobody holds.
    pub claim_also: bool,
    /// The message; its contact, lead and company are filled in here.
    pub message: ev::ChannelMessage,
}

/// Why a message was not taken.
#[derive(Debug)]
pub enum DeliverError {
    /// Contacts refused the sender's identity: the message cannot be filed.
    Invalid(String),
    /// Contacts or the bus did not answer: hand the message over again later.
    Unavailable(String),
}

impl std::fmt::Display for DeliverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliverError::Invalid(why) => write!(f, "invalid sender: {why}"),
            DeliverError::Unavailable(why) => write!(f, "unavailable: {why}"),
        }
    }
}

/// Resolves the sender and publishes `message.received`, confirmed.
pub async fn deliver(
    contacts: &Contacts,
    bus: &Arc<dyn Bus>,
    inbound: Inbound,
) -> Result<(), DeliverError> {
    let event_id = event_id(&inbound.key);
    let mut message = inbound.message;
    let mut identities = inbound.identities.into_iter();
    let request = cpb::ResolveRequest {
        identity: identities.next(),
        also: identities.collect(),
        name: clean_name(&inbound.name),
        source: Some(inbound.source),
        lookup_only: inbound.lookup_only,
        claim_also: inbound.claim_also,
        ..Default::default()
    };
    match contacts.resolve(&event_id, request).await {
        Ok(resolved) => link(&mut message, resolved),
        // Nobody known, and nobody to be made: the message is filed on its own.
        Err(PeerError::NotFound(_)) => {}
        Err(PeerError::Invalid(why)) => return Err(DeliverError::Invalid(why)),
        Err(e) => return Err(DeliverError::Unavailable(e.to_string())),
    }
    let payload = EventPayload::MessageReceived(ev::MessageReceived {
        message: Some(message),
    });
    let mut envelope = ringside_bus::new_envelope(crate::publisher::SOURCE, &event_id, payload);
    envelope.event_id = event_id;
    bus.publish(&[Message::from_envelope(&envelope)])
        .await
        .map_err(|e| DeliverError::Unavailable(format!("bus: {e}")))
}

fn link(message: &mut ev::ChannelMessage, resolved: cpb::ResolveResponse) {
    message.new_lead = resolved.created;
    match resolved.party.and_then(|p| p.party) {
        Some(cpb::party::Party::Contact(c)) => {
            message.contact_id = c.id;
            message.company_id = c.company_id;
        }
        Some(cpb::party::Party::Lead(l)) => message.lead_id = l.id,
        None => {}
    }
}

/// A UUID-shaped id that is the same for the same key.
pub fn event_id(key: &str) -> String {
    let hex = hex(&Sha256::digest(key.as_bytes())[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A display name as a lead may carry it: no control characters, at most 200
/// characters (contacts refuses worse, and the message must not be lost for a name).
fn clean_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// An identity of `kind`.
pub fn identity(kind: cpb::IdentityKind, value: impl Into<String>) -> cpb::Identity {
    cpb::Identity {
        kind: kind as i32,
        value: value.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_key_is_the_same_event() {
        let a = super::event_id("telegram:1:2");
        assert_eq!(a, super::event_id("telegram:1:2"));
        assert_ne!(a, super::event_id("telegram:1:3"));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn names_lose_control_characters_and_excess() {
        assert_eq!(super::clean_name(" Анна\u{0}\u{7} Клиент "), "Анна Клиент");
        assert_eq!(super::clean_name(&"я".repeat(500)).chars().count(), 200);
    }
}
