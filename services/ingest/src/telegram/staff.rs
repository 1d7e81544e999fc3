//! The agents' own Telegram chats. Agents start the bot to get their alerts from it;
//! what they write to it is theirs, not a client's, and makes no lead. The chats are
//! asked of the agents directory and kept for a short while.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;

/// How long a list of the agents' chats is used before it is asked for again.
const FRESH_FOR: Duration = Duration::from_secs(30);

/// Where the agents' chats come from (the notifications agents directory).
#[async_trait]
pub trait AgentChats: Send + Sync + 'static {
    /// The Telegram chat ids of the agents.
    async fn agent_chats(&self) -> Result<Vec<String>, String>;
}

/// The agents' chats, asked for at most every 30 s.
pub struct Staff {
    source: Arc<dyn AgentChats>,
    known: Mutex<Option<(Instant, HashSet<i64>)>>,
}

impl Staff {
    pub fn new(source: Arc<dyn AgentChats>) -> Self {
        Staff {
            source,
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
            match self.source.agent_chats().await {
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
}
