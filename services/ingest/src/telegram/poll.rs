//! Long polling: `getUpdates` from the last confirmed offset. The offset moves past
//! an update only once it is filed, so a poller killed mid-batch gets the unfiled
//! updates again from Telegram when it starts (and the filed ones it repeats are the
//! same events). A 429 waits its `retry_after`; other failures back off.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{TelegramIn, pause_after};

/// Longest pause between attempts while Telegram, contacts or the bus are down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Polls until `shutdown`; `wait` is the long poll's timeout.
pub async fn run(telegram: Arc<TelegramIn>, wait: Duration, shutdown: CancellationToken) {
    let mut offset = 0i64;
    let mut backoff = Duration::from_millis(500);
    loop {
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = telegram.api().get_updates(offset, wait) => r,
        };
        let pause = match updates {
            Ok(updates) => match file_all(&telegram, &updates, &mut offset).await {
                Ok(()) => None,
                Err(why) => {
                    tracing::warn!(error = %why, "telegram: an update could not be filed; it will be fetched again");
                    Some(backoff)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "telegram: getUpdates failed");
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

/// Files `updates` in order, moving `offset` past each one filed; stops at the first
/// that must be handed over again.
async fn file_all(
    telegram: &TelegramIn,
    updates: &[serde_json::Value],
    offset: &mut i64,
) -> Result<(), crate::inbound::DeliverError> {
    for update in updates {
        let Some(id) = update.get("update_id").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        if id < *offset {
            continue; // already filed (a server that repeats itself)
        }
        telegram.handle(update).await?;
        *offset = id.saturating_add(1);
    }
    Ok(())
}
