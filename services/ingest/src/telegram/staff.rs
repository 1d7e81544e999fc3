//! The agents' own Telegram chats. Agents start the bot to get their alerts from it;
//! what they write to it is theirs, not a client's, and makes no lead. The chats are
//! asked of the agents directory (notifications' `ListAgents`, through its gRPC
//! client) and kept for a short while.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use tokio::sync::Mutex;

/// How long a list of the agents' chats is used before it is asked for again.
const FRESH_FOR: Duration = Duration::from_secs(30);

/// The agents' chats, asked for at most every 30 s.
pub struct Staff {
    directory: NotificationsClient<PeerChannel>,
    known: Mutex<Option<(Instant, HashSet<i64>)>>,
}

impl Staff {
    /// Asks the agents directory at the other end of `notifications`.
    pub fn new(notifications: PeerChannel) -> Self {
        Staff {
            directory: NotificationsClient::new(notifications),
            known: Mutex::new(None),
        }
    }

    /// Whether `chat` is an agent's. When the directory does not answer, the last
    /// list is kept (at first: nobody is an agent; a client's message must not be
    /// lost for it).
    pub async fn is_agent(&self, chat: i64) -> bool {
        let mut known = self.known.lock().await;
        let stale = known
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > FRESH_FOR);
        if stale {
            match self.agent_chats().await {
                Ok(chats) => {
                    let chats = chats.iter().filter_map(|c| c.trim().parse().ok()).collect();
                    *known = Some((Instant::now(), chats));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: the agents directory did not answer");
                    // Asked again in 30 s, not for every update meanwhile.
                    let chats = known.take().map(|(_, c)| c).unwrap_or_default();
                    *known = Some((Instant::now(), chats));
                }
            }
        }
        known
            .as_ref()
            .is_some_and(|(_, chats)| chats.contains(&chat))
    }

    /// The Telegram chat ids of the agents, as the directory lists them.
    async fn agent_chats(&self) -> Result<Vec<String>, PeerError> {
        let req = request(npb::ListAgentsRequest::default(), "");
        let reply = self.directory.clone().list_agents(req).await?;
        Ok(reply
            .into_inner()
            .agents
            .into_iter()
            .map(|a| a.telegram_chat_id)
            .filter(|c| !c.is_empty())
            .collect())
    }
}
