//! The Telegram Bot API as Ringside speaks it: `getMe`, `getUpdates` and
//! `sendMessage` against any Bot API server (Telegram's, a self-hosted one, or a
//! stand-in in tests), and the parts of an update the channels read. Errors keep what
//! a caller acts on: a 429's `retry_after`, a 403 (the user blocked the bot), other
//! refusals, and failures worth retrying. The token is part of every URL, so no URL
//! and no request error with its URL is ever shown.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Why a Bot API call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotError {
    /// 429: wait this long before the next request to that chat.
    RetryAfter(Duration),
    /// 403: the user blocked the bot (or it was removed from the group).
    Blocked(String),
    /// Another refusal (400, 401, 404): repeating the request will not help.
    Refused(u16, String),
    /// The server could not be reached or failed (5xx): worth retrying.
    Unavailable(String),
    /// The request went out but no answer came back (a timeout, a broken
    /// connection): it may have taken effect, so repeating a send may double it.
    Uncertain(String),
}

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BotError::RetryAfter(d) => write!(f, "rate limited, retry after {}s", d.as_secs()),
            BotError::Blocked(why) => write!(f, "blocked: {why}"),
            BotError::Refused(code, why) => write!(f, "refused ({code}): {why}"),
            BotError::Unavailable(why) => write!(f, "unavailable: {why}"),
            BotError::Uncertain(why) => write!(f, "no answer: {why}"),
        }
    }
}

impl std::error::Error for BotError {}

/// A Bot API server and a bot's token.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    /// `{api}/bot{token}`: never logged.
    base: String,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Reply<T> {
    ok: bool,
    result: Option<T>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<ReplyParameters>,
}

#[derive(Deserialize)]
struct ReplyParameters {
    retry_after: Option<u64>,
}

impl BotApi {
    /// `timeout` bounds each request; long polls add their own wait to it.
    pub fn new(api_url: &str, token: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(BotApi {
            client,
            base: format!("{}/bot{token}", api_url.trim_end_matches('/')),
            timeout,
        })
    }

    /// Calls `method` with a JSON body and reads its `result`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &serde_json::Value,
        extra_wait: Duration,
    ) -> Result<T, BotError> {
        let response = self
            .client
            .post(format!("{}/{method}", self.base))
            .timeout(self.timeout_with(extra_wait))
            .json(body)
            .send()
            .await
            .map_err(|e| match e.is_connect() {
                true => BotError::Unavailable(e.without_url().to_string()),
                false => BotError::Uncertain(e.without_url().to_string()),
            })?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| BotError::Uncertain(e.without_url().to_string()))?;
        let reply: Reply<T> = serde_json::from_slice(&bytes).map_err(|e| match status {
            200 => BotError::Uncertain(format!("unreadable reply: {e}")),
            _ => classify(status, String::new(), None),
        })?;
        match (reply.ok, reply.result) {
            (true, Some(result)) => Ok(result),
            _ => Err(classify(
                status,
                reply.description,
                reply.parameters.and_then(|p| p.retry_after),
            )),
        }
    }

    fn timeout_with(&self, extra: Duration) -> Duration {
        self.timeout + extra
    }

    /// The bot itself (its username, for mentions in groups).
    pub async fn get_me(&self) -> Result<User, BotError> {
        self.call("getMe", &serde_json::json!({}), Duration::ZERO)
            .await
    }

    /// Updates from `offset` on, waiting up to `wait` for the first. Each update is
    /// returned as it came, so one the caller cannot read does not hide the others.
    pub async fn get_updates(
        &self,
        offset: i64,
        wait: Duration,
    ) -> Result<Vec<serde_json::Value>, BotError> {
        let body = serde_json::json!({
            "offset": offset,
            "timeout": wait.as_secs(),
            "allowed_updates": ["message", "edited_message"],
        });
        self.call("getUpdates", &body, wait).await
    }

    /// Sends `text` to `chat_id`, quoting message `reply_to` of that chat if given;
    /// the sent message's id.
    pub async fn send_message(
        &self,
        chat_id: &str,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<i64, BotError> {
        let mut body = serde_json::json!({ "chat_id": chat_id, "text": text });
        if let Some(id) = reply_to {
            body["reply_parameters"] =
                serde_json::json!({ "message_id": id, "allow_sending_without_reply": true });
        }
        #[derive(Deserialize)]
        struct Sent {
            message_id: i64,
        }
        let sent: Sent = self.call("sendMessage", &body, Duration::ZERO).await?;
        Ok(sent.message_id)
    }
}

fn classify(status: u16, description: String, retry_after: Option<u64>) -> BotError {
    match status {
        429 => BotError::RetryAfter(Duration::from_secs(retry_after.unwrap_or(1).max(1))),
        403 => BotError::Blocked(description),
        s if s >= 500 || s == 200 => BotError::Unavailable(format!("{s}: {description}")),
        s => BotError::Refused(s, description),
    }
}

/// An incoming update: only the kinds Ringside asks for.
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

impl User {
    /// First and last name.
    pub fn full_name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    /// private, group, supergroup or channel
    #[serde(rename = "type")]
    pub kind: String,
}

/// A text's entity; mentions are what a group bot in "mentions" mode listens for.
#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset: usize,
    pub length: usize,
}

/// A file the message carries (not downloaded: its id is enough to fetch it later).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct File {
    pub file_id: String,
    #[serde(default)]
    pub file_size: Option<i64>,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: i64,
    #[serde(default)]
    pub date: i64,
    #[serde(default)]
    pub edit_date: Option<i64>,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub entities: Vec<Entity>,
    #[serde(default)]
    pub caption_entities: Vec<Entity>,
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    /// The sizes of a photo, smallest first.
    #[serde(default)]
    pub photo: Vec<File>,
    pub document: Option<File>,
    pub voice: Option<File>,
    pub audio: Option<File>,
    pub video: Option<File>,
    pub video_note: Option<File>,
    pub animation: Option<File>,
    pub sticker: Option<File>,
}

impl Message {
    /// The text, or a media message's caption.
    pub fn body(&self) -> &str {
        self.text
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(self.caption.as_deref())
            .unwrap_or("")
    }

    /// The files the message carries, by kind (a photo as its largest size).
    pub fn files(&self) -> Vec<(&'static str, &File)> {
        let singles = [
            ("document", &self.document),
            ("voice", &self.voice),
            ("audio", &self.audio),
            ("video", &self.video),
            ("video_note", &self.video_note),
            ("animation", &self.animation),
            ("sticker", &self.sticker),
        ];
        self.photo
            .last()
            .map(|p| ("photo", p))
            .into_iter()
            .chain(
                singles
                    .into_iter()
                    .filter_map(|(k, f)| f.as_ref().map(|f| (k, f))),
            )
            .collect()
    }

    /// Whether the text mentions `@username` (case-insensitively, as Telegram does).
    pub fn mentions(&self, username: &str) -> bool {
        let (text, entities) = match &self.text {
            Some(t) => (t.as_str(), &self.entities),
            None => (
                self.caption.as_deref().unwrap_or(""),
                &self.caption_entities,
            ),
        };
        let wanted = format!("@{username}");
        entities.iter().filter(|e| e.kind == "mention").any(|e| {
            utf16_slice(text, e.offset, e.length).is_some_and(|m| m.eq_ignore_ascii_case(&wanted))
        })
    }
}

/// Entity offsets count UTF-16 code units.
fn utf16_slice(text: &str, offset: usize, length: usize) -> Option<String> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let end = offset.checked_add(length)?;
    String::from_utf16(units.get(offset..end)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_media_message_lists_its_files_and_mentions_count_utf16() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "message_id": 7, "date": 1, "chat": {"id": -5, "type": "group"},
            "caption": "📷 @Ring_Bot look",
            "caption_entities": [{"type": "mention", "offset": 3, "length": 9}],
            "photo": [{"file_id": "small", "file_size": 10}, {"file_id": "big", "file_size": 900}],
            "document": {"file_id": "d1", "file_name": "a.pdf", "mime_type": "application/pdf"}
        }))
        .unwrap();
        let kinds: Vec<_> = m
            .files()
            .iter()
            .map(|(k, f)| (*k, f.file_id.clone()))
            .collect();
        assert_eq!(
            kinds,
            [("photo", "big".to_owned()), ("document", "d1".to_owned())]
        );
        assert!(m.mentions("ring_bot"));
        assert!(!m.mentions("other_bot"));
        assert_eq!(m.body(), "📷 @Ring_Bot look");
    }

    #[test]
    fn errors_keep_what_the_caller_acts_on() {
        assert_eq!(
            classify(429, String::new(), Some(3)),
            BotError::RetryAfter(Duration::from_secs(3))
        );
        assert!(matches!(
            classify(403, "Forbidden: bot was blocked by the user".into(), None),
            BotError::Blocked(_)
        ));
        assert!(matches!(
            classify(400, "chat not found".into(), None),
            BotError::Refused(400, _)
        ));
        assert!(matches!(
            classify(502, String::new(), None),
            BotError::Unavailable(_)
        ));
    }
}
