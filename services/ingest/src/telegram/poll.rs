//! Long polling: `getUpdates` from the last confirmed offset. The offset moves past
//! an update only once it is filed, so a poller killed mid-batch gets the unfiled
//! updates again from Telegram when it starts (and the filed ones it repeats are the
//! same events). A 429 waits its `retry_after`; other failures back off.

use std::sync::Arc;
use std::time::Duration;

use ringside_telegram::BotError;
use ringside_telegram::teloxide_core::Bot;
use ringside_telegram::teloxide_core::payloads::GetUpdatesSetters;
use ringside_telegram::teloxide_core::prelude::Requester;
use ringside_telegram::teloxide_core::types::{AllowedUpdate, Update};
use tokio_util::sync::CancellationToken;

use super::{TelegramIn, pause_after};

/// Longest pause between attempts while Telegram, contacts or the bus are down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Polls until `shutdown`; `wait` is the long poll's timeout, and `poller` a bot
/// whose requests may take that long and more.
pub async fn run(
    telegram: Arc<TelegramIn>,
    poller: Bot,
    wait: Duration,
    shutdown: CancellationToken,
) {
    // A webhook left from webhook mode would make Telegram refuse getUpdates.
    if let Err(e) = poller.delete_webhook().await {
        tracing::warn!(error = %BotError::from(e), "telegram: deleteWebhook failed; polling may be refused while a webhook is set");
    }
    let mut offset = 0i64;
    let mut backoff = Duration::from_millis(500);
    loop {
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = get_updates(&poller, offset, wait) => r,
        };
        let pause = match updates {
            Ok(updates) => match file_all(&telegram, &updates, &mut offset).await {
                Ok(()) => {
                    telegram.channel().worked();
                    None
                }
                Err(why) => {
                    tracing::warn!(error = %why, "telegram: an update could not be filed; it will be fetched again");
                    Some(backoff)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "telegram: getUpdates failed");
                telegram.channel().failed(&format!("getUpdates: {e}"));
                Some(pause_after(&e, backoff))
            }
        };
        match pause {
            None => backoff = Duration::from_millis(500),
            Some(pause) => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Updates from `offset` on (messages and their edits), waiting up to `wait` for the
/// first.
async fn get_updates(bot: &Bot, offset: i64, wait: Duration) -> Result<Vec<Update>, BotError> {
    let wait = u32::try_from(wait.as_secs()).unwrap_or(u32::MAX);
    bot.get_updates()
        .offset(i32::try_from(offset).unwrap_or(i32::MAX))
        .timeout(wait)
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::EditedMessage])
        .await
        .map_err(BotError::from)
}

/// Files `updates` in order, moving `offset` past each one filed; stops at the first
/// that must be handed over again.
async fn file_all(
    telegram: &TelegramIn,
    updates: &[Update],
    offset: &mut i64,
) -> Result<(), crate::inbound::DeliverError> {
    for update in updates {
        let id = i64::from(update.id.0);
        if id < *offset {
            continue; // already filed (a server that repeats itself)
        }
        telegram.handle(update).await?;
        *offset = id.saturating_add(1);
    }
    Ok(())
}
