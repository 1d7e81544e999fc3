//! The agents' own Telegram chats. Agents start the bot to get their alerts from it;
//! what they write to it is theirs, not a client's, and makes no lead. Whose chat it
//! is, is asked of staff (`FindUser` by Telegram chat, through its gRPC client), and
//! each answer is kept for a short while.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringside_kit::PeerChannel;
use ringside_kit::error::found;
use ringside_kit::peer::request;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use tokio::sync::Mutex;

/// How long an answer about a chat is used before it is asked for again.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// Most chats remembered; past it the memory starts over.
const MAX_KNOWN: usize = 10_000;

/// Whose chats are agents', asked of staff at most every 30 s per chat.
pub struct Staff {
    staff: StaffClient<PeerChannel>,
    known: Mutex<HashMap<i64, (Instant, bool)>>,
}

impl Staff {
    /// Asks staff at the other end of `staff`.
    pub fn new(staff: PeerChannel) -> Self {
        Staff {
            staff: StaffClient::new(staff),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `chat` is an active agent's. When staff does not answer, the last
    /// answer is kept (at first: not an agent; a client's message must not be lost
    /// for it).
    pub async fn is_agent(&self, chat: i64) -> bool {
        if let Some((at, agent)) = self.known.lock().await.get(&chat)
            && at.elapsed() < FRESH_FOR
        {
            return *agent;
        }
        let by = spb::find_user_request::By::TelegramChatId(chat.to_string());
        let req = request(spb::FindUserRequest { by: Some(by) }, "");
        let answer = found(self.staff.clone().find_user(req).await);
        let mut known = self.known.lock().await;
        let agent = match answer {
            Ok(user) => user.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "telegram: staff did not answer whose chat this is");
                known.get(&chat).is_some_and(|(_, agent)| *agent)
            }
        };
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(chat, (Instant::now(), agent));
        agent
    }
}
