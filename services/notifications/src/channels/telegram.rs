//! The bot, sending within the Bot API's limits — about one message a second to a
//! chat and thirty a second in all — with one limiter for everything the service
//! sends: a 429's `retry_after` holds that chat (waited out, up to a minute), a server
//! that cannot be reached is tried again with backoff, and a send that got no answer
//! is never repeated (it may have arrived).

use std::collections::HashMap;
use std::time::Duration;

use ringside_telegram::BotError;
use ringside_telegram::teloxide_core::Bot;
use ringside_telegram::teloxide_core::payloads::SendMessageSetters;
use ringside_telegram::teloxide_core::prelude::Requester;
use ringside_telegram::teloxide_core::types::{ChatId, MessageId, Recipient, ReplyParameters};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Attempts at one message while Telegram is rate limiting or unavailable.
const ATTEMPTS: u32 = 4;
/// A `retry_after` longer than this fails the send instead of holding the sender.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The bot and its limits.
pub struct TelegramSender {
    bot: Bot,
    limiter: Limiter,
}

impl TelegramSender {
    /// Telegram's published limits: a message a second per chat, 30 a second in all.
    pub fn new(bot: Bot) -> Self {
        TelegramSender {
            bot,
            limiter: Limiter::new(Duration::from_secs(1), Duration::from_millis(34)),
        }
    }

    /// Sends `text` to `chat`, quoting message `reply_to` of that chat if given;
    /// the sent message's id. The error is the last one, once retrying is over or
    /// would not help.
    pub async fn send(
        &self,
        chat: &str,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<i64, BotError> {
        let mut backoff = Duration::from_millis(500);
        for attempt in 1..=ATTEMPTS {
            self.limiter.turn(chat).await;
            let error = match self.send_once(chat, text, reply_to).await {
                Ok(id) => return Ok(id),
                Err(e) => e,
            };
            match error {
                // Held in any case, so the next send to that chat waits it out too.
                BotError::RetryAfter(wait) => {
                    self.limiter.hold(chat, wait).await;
                    if wait > MAX_RETRY_AFTER || attempt == ATTEMPTS {
                        return Err(error);
                    }
                }
                BotError::Unavailable(_) if attempt < ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return Err(other),
            }
        }
        Err(BotError::Unavailable("Telegram unavailable".into()))
    }

    async fn send_once(
        &self,
        chat: &str,
        text: &str,
        reply_to: Option<i64>,
    ) -> Result<i64, BotError> {
        let recipient = match chat.parse::<i64>() {
            Ok(id) => Recipient::Id(ChatId(id)),
            Err(_) => Recipient::ChannelUsername(chat.to_owned()),
        };
        let mut request = self.bot.send_message(recipient, text);
        if let Some(id) = reply_to.and_then(|id| i32::try_from(id).ok()) {
            let quoted = ReplyParameters::new(MessageId(id)).allow_sending_without_reply();
            request = request.reply_parameters(quoted);
        }
        let sent = request.await.map_err(BotError::from)?;
        Ok(i64::from(sent.id.0))
    }
}

/// The Bot API's limits, kept per chat and for the bot as a whole: each send takes
/// the first slot both allow.
pub struct Limiter {
    per_chat: Duration,
    overall: Duration,
    state: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    next_any: Option<Instant>,
    next_in_chat: HashMap<String, Instant>,
}

impl Limiter {
    pub fn new(per_chat: Duration, overall: Duration) -> Self {
        Limiter {
            per_chat,
            overall,
            state: Mutex::default(),
        }
    }

    /// Waits for this chat's next slot. The overall slot is taken from now, not from
    /// the chat's: a busy or held chat does not hold up the others.
    async fn turn(&self, chat: &str) {
        let slot = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            if s.next_in_chat.len() > 10_000 {
                s.next_in_chat.retain(|_, at| *at > now);
            }
            let overall_slot = now.max(s.next_any.unwrap_or(now));
            s.next_any = Some(overall_slot + self.overall);
            let chat_slot = s.next_in_chat.get(chat).copied().unwrap_or(now);
            let slot = overall_slot.max(chat_slot);
            s.next_in_chat.insert(chat.to_owned(), slot + self.per_chat);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// Nothing more to this chat for `wait` (a 429's `retry_after`).
    async fn hold(&self, chat: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut s = self.state.lock().await;
        let at = s.next_in_chat.entry(chat.to_owned()).or_insert(until);
        *at = (*at).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_one_chat_by_a_second_and_all_chats_by_the_overall_rate() {
        let limiter = Limiter::new(Duration::from_secs(1), Duration::from_millis(100));
        let start = Instant::now();
        limiter.turn("a").await;
        limiter.turn("b").await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        limiter.turn("a").await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        limiter.hold("b", Duration::from_secs(5)).await;
        limiter.turn("b").await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_chat_does_not_hold_up_the_others() {
        let limiter = std::sync::Arc::new(Limiter::new(
            Duration::from_secs(1),
            Duration::from_millis(100),
        ));
        limiter.hold("a", Duration::from_secs(30)).await;
        let start = Instant::now();
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.turn("a").await }
        });
        tokio::task::yield_now().await;
        limiter.turn("b").await;
        assert!(
            start.elapsed() <= Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
        assert!(!waiting.is_finished(), "a waits out its hold");
    }
}
