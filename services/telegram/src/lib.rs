//! Telegram as Ringside speaks it, on top of teloxide-core: the bot (`Bot`, pointed at
//! any Bot API server — Telegram's, a self-hosted one, or a stand-in in tests — with
//! bounded request times and no URL or token ever shown), what a failed request means
//! for the caller ([`BotError`]: a 429's `retry_after`, a user who blocked the bot,
//! other refusals, failures worth retrying, and a request that went out without an
//! answer, which must not be repeated if it was a send), and the parts of a message
//! the channels read ([`body`], [`files`], [`mentions`], [`shared_phone`]). Rules
//! about what a message means live with the channels.

use std::time::Duration;

pub use teloxide_core;
use teloxide_core::ApiError;
use teloxide_core::RequestError;
use teloxide_core::types::{FileMeta, Message, MessageEntity, MessageEntityKind};

/// A bot on the Bot API server at `api_url`, each request bounded by `timeout` (a long
/// poll needs its wait added to it).
pub fn bot(api_url: &str, token: &str, timeout: Duration) -> Result<teloxide_core::Bot, String> {
    let url = reqwest::Url::parse(api_url.trim_end_matches('/'))
        .map_err(|e| format!("Bot API URL: {e}"))?;
    if url.cannot_be_a_base() {
        return Err("Bot API URL: not a base URL".into());
    }
    let client = teloxide_core::net::default_reqwest_settings()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {}", e.without_url()))?;
    Ok(teloxide_core::Bot::with_client(token, client).set_api_url(url))
}

/// Why a Bot API call failed, as far as a caller acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotError {
    /// 429: wait this long before the next request to that chat.
    RetryAfter(Duration),
    /// The user blocked the bot (or it was removed from the group, or the account is
    /// gone): the chat will not take messages.
    Blocked(String),
    /// Another refusal (a bad chat id, a bad token): repeating it will not help.
    Refused(String),
    /// The server could not be reached, or failed: worth retrying.
    Unavailable(String),
    /// The request went out but no answer came back (a timeout, a broken connection,
    /// an unreadable reply): it may have taken effect, so repeating a send may double
    /// it.
    Uncertain(String),
}

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BotError::RetryAfter(d) => write!(f, "rate limited, retry after {}s", d.as_secs()),
            BotError::Blocked(why) => write!(f, "blocked: {why}"),
            BotError::Refused(why) => write!(f, "refused: {why}"),
            BotError::Unavailable(why) => write!(f, "unavailable: {why}"),
            BotError::Uncertain(why) => write!(f, "no answer: {why}"),
        }
    }
}

impl std::error::Error for BotError {}

/// Descriptions the Bot API gives with a 5xx (teloxide does not keep the status).
const SERVER_ERRORS: &[&str] = &[
    "Internal Server Error",
    "Bad Gateway",
    "Service Unavailable",
    "Gateway Timeout",
];

impl From<RequestError> for BotError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::RetryAfter(wait) => {
                BotError::RetryAfter(wait.duration().max(Duration::from_secs(1)))
            }
            RequestError::Api(api) => from_api(api),
            RequestError::MigrateToChatId(chat) => {
                BotError::Refused(format!("the group moved to supergroup {chat}"))
            }
            // Never shown with its URL: the token is part of it.
            RequestError::Network(e) if e.is_connect() => BotError::Unavailable(network(&e)),
            RequestError::Network(e) => BotError::Uncertain(network(&e)),
            // Not JSON at all: a proxy's error page — the request did not reach Telegram.
            RequestError::InvalidJson { raw, .. } if !raw.trim_start().starts_with('{') => {
                BotError::Unavailable("a reply that is not the Bot API's".into())
            }
            RequestError::InvalidJson { .. } => BotError::Uncertain("an unreadable reply".into()),
            RequestError::Io(e) => BotError::Uncertain(e.to_string()),
        }
    }
}

fn from_api(api: ApiError) -> BotError {
    let why = api.to_string();
    match api {
        ApiError::BotBlocked
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::UserDeactivated
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots => BotError::Blocked(why),
        ApiError::Unknown(text) if SERVER_ERRORS.iter().any(|s| text.starts_with(s)) => {
            BotError::Unavailable(text)
        }
        // Every 403 is the chat refusing the bot, whatever teloxide's table calls it.
        ApiError::Unknown(text) if text.starts_with("Forbidden") => BotError::Blocked(text),
        _ => BotError::Refused(why),
    }
}

/// What went wrong with a request, without its URL (the token is part of it).
fn network(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// The text, or a media message's caption.
pub fn body(m: &Message) -> &str {
    m.text()
        .filter(|t| !t.is_empty())
        .or(m.caption())
        .unwrap_or("")
}

/// A file a message carries (not downloaded: its id is enough to fetch it later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// photo, document, voice, audio, video, video_note, animation or sticker.
    pub kind: &'static str,
    pub file_id: String,
    pub size: i64,
    pub name: String,
    pub mime_type: String,
}

/// A MIME type as text.
fn mime<T: ToString>(m: Option<&T>) -> Option<String> {
    m.map(ToString::to_string)
}

/// The files the message carries (a photo as its largest size).
pub fn files(m: &Message) -> Vec<File> {
    let file = |kind, meta: &FileMeta, name: Option<&String>, mime: Option<String>| File {
        kind,
        file_id: meta.id.to_string(),
        size: i64::from(meta.size),
        name: name.cloned().unwrap_or_default(),
        mime_type: mime.unwrap_or_default(),
    };
    let mut out = Vec::new();
    if let Some(p) = m
        .photo()
        .and_then(|sizes| sizes.iter().max_by_key(|p| p.file.size))
    {
        out.push(file("photo", &p.file, None, None));
    }
    if let Some(d) = m.document() {
        out.push(file(
            "document",
            &d.file,
            d.file_name.as_ref(),
            mime(d.mime_type.as_ref()),
        ));
    }
    if let Some(v) = m.voice() {
        out.push(file("voice", &v.file, None, mime(v.mime_type.as_ref())));
    }
    if let Some(a) = m.audio() {
        out.push(file(
            "audio",
            &a.file,
            a.file_name.as_ref(),
            mime(a.mime_type.as_ref()),
        ));
    }
    if let Some(v) = m.video() {
        out.push(file(
            "video",
            &v.file,
            v.file_name.as_ref(),
            mime(v.mime_type.as_ref()),
        ));
    }
    if let Some(v) = m.video_note() {
        out.push(file("video_note", &v.file, None, None));
    }
    if let Some(a) = m.animation() {
        out.push(file(
            "animation",
            &a.file,
            a.file_name.as_ref(),
            mime(a.mime_type.as_ref()),
        ));
    }
    if let Some(s) = m.sticker() {
        out.push(file("sticker", &s.file, None, None));
    }
    out
}

/// Whether the text (or caption) mentions `@username`, case-insensitively as Telegram
/// does. Entity offsets count UTF-16 code units; one that does not fit the text is no
/// mention (teloxide's own entity parser asserts on such input, and this is input from
/// the network).
pub fn mentions(m: &Message, username: &str) -> bool {
    let (text, entities) = match (m.text(), m.caption()) {
        (Some(t), _) => (t, m.entities()),
        (None, Some(c)) => (c, m.caption_entities()),
        (None, None) => return false,
    };
    let wanted = format!("@{username}");
    let units: Vec<u16> = text.encode_utf16().collect();
    entities
        .unwrap_or_default()
        .iter()
        .filter(|e| matches!(e.kind, MessageEntityKind::Mention))
        .any(|e| utf16_slice(&units, e).is_some_and(|m| m.eq_ignore_ascii_case(&wanted)))
}

/// The text an entity covers, if its offsets fit the text.
fn utf16_slice(units: &[u16], e: &MessageEntity) -> Option<String> {
    let end = e.offset.checked_add(e.length)?;
    String::from_utf16(units.get(e.offset..end)?).ok()
}

/// The phone number the sender shared as their own contact (Telegram's "share my
/// number" button: Telegram itself fills in the contact's user id, and it is the
/// sender's), in international format with its `+` (Telegram often leaves it out).
pub fn shared_phone(m: &Message) -> Option<String> {
    let contact = m.contact()?;
    let sender = m.from.as_ref()?;
    let number = contact.phone_number.trim();
    if contact.user_id != Some(sender.id) || number.is_empty() {
        return None;
    }
    Some(match number.starts_with('+') {
        true => number.to_owned(),
        false => format!("+{number}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: serde_json::Value) -> Message {
        serde_json::from_value(json).expect("a message as the Bot API sends it")
    }

    #[test]
    fn a_media_message_lists_its_files_and_mentions_count_utf16() {
        let m = message(serde_json::json!({
            "message_id": 7, "date": 1, "chat": {"id": -5, "type": "group", "title": "Team"},
            "from": {"id": 9, "is_bot": false, "first_name": "A"},
            "caption": "📷 @Ring_Bot look",
            "caption_entities": [{"type": "mention", "offset": 3, "length": 9}],
            "photo": [
                {"file_id": "small", "file_unique_id": "s", "file_size": 10, "width": 90, "height": 90},
                {"file_id": "big", "file_unique_id": "b", "file_size": 900, "width": 800, "height": 800}
            ]
        }));
        let kinds: Vec<_> = files(&m)
            .iter()
            .map(|f| (f.kind, f.file_id.clone(), f.size))
            .collect();
        assert_eq!(kinds, [("photo", "big".to_owned(), 900)]);
        assert!(mentions(&m, "ring_bot"));
        assert!(!mentions(&m, "other_bot"));
        assert_eq!(body(&m), "📷 @Ring_Bot look");
    }

    #[test]
    fn only_the_senders_own_contact_is_their_phone() {
        let shared = |user_id: i64| {
            message(serde_json::json!({
                "message_id": 1, "date": 1, "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": false, "first_name": "Анна"},
                "contact": {"phone_number": "+79123456789", "first_name": "Анна", "user_id": user_id}
            }))
        };
        assert_eq!(shared_phone(&shared(42)).as_deref(), Some("+79123456789"));
        assert_eq!(shared_phone(&shared(43)), None, "someone else's card");
    }

    #[test]
    fn entities_that_do_not_fit_the_text_are_no_mention_and_no_panic() {
        let m = message(serde_json::json!({
            "message_id": 8, "date": 1, "chat": {"id": -5, "type": "group", "title": "Team"},
            "from": {"id": 9, "is_bot": false, "first_name": "A"},
            "text": "📷 @ring_bot",
            "entities": [
                {"type": "mention", "offset": 1, "length": 9},
                {"type": "mention", "offset": 40, "length": 9},
                {"type": "mention", "offset": usize::MAX, "length": 2}
            ]
        }));
        assert!(!mentions(&m, "ring_bot"));
    }

    #[test]
    fn errors_keep_what_the_caller_acts_on() {
        use teloxide_core::types::Seconds;
        assert_eq!(
            BotError::from(RequestError::RetryAfter(Seconds::from_seconds(3))),
            BotError::RetryAfter(Duration::from_secs(3))
        );
        assert!(matches!(
            BotError::from(RequestError::Api(ApiError::BotBlocked)),
            BotError::Blocked(_)
        ));
        assert!(matches!(
            BotError::from(RequestError::Api(ApiError::ChatNotFound)),
            BotError::Refused(_)
        ));
        assert!(matches!(
            BotError::from(RequestError::Api(ApiError::Unknown(
                "Forbidden: bot was kicked from the group chat".into()
            ))),
            BotError::Blocked(_)
        ));
    }
}
