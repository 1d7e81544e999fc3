//! `POST /telegram/webhook`: Telegram pushes each update with the secret given to
//! `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`, compared in constant time. The
//! answer is 200 only once the update is filed; 503 makes Telegram deliver it again.
//! With a public URL configured, the webhook is registered at start ([`register`]).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::post;

use ringside_telegram::BotError;
use ringside_telegram::teloxide_core::Bot;
use ringside_telegram::teloxide_core::payloads::SetWebhookSetters;
use ringside_telegram::teloxide_core::prelude::Requester;
use ringside_telegram::teloxide_core::types::AllowedUpdate;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::TelegramIn;
use crate::authorized_body;
use crate::status::Channel;

/// Telegram's updates are small; a larger body is not one of them.
const BODY_LIMIT: usize = 1 << 20;

#[derive(Clone)]
struct Hook {
    telegram: Arc<TelegramIn>,
    secret: Arc<str>,
}

pub fn router(telegram: Arc<TelegramIn>, secret: &str) -> axum::Router {
    let hook = Hook {
        telegram,
        secret: Arc::from(secret),
    };
    axum::Router::new()
        .route("/telegram/webhook", post(receive))
        // The body is read after the secret is checked, within BODY_LIMIT.
        .layer(DefaultBodyLimit::disable())
        .with_state(hook)
}

async fn receive(State(hook): State<Hook>, req: Request) -> StatusCode {
    const HEADER: &str = "x-telegram-bot-api-secret-token";
    let body = match authorized_body(req, HEADER, hook.secret.as_bytes(), BODY_LIMIT).await {
        Ok(body) => body,
        Err(status) => {
            if status == StatusCode::UNAUTHORIZED {
                metrics::counter!("ringside_telegram_updates_total", "outcome" => "forged")
                    .increment(1);
            }
            hook.telegram.channel().refused(match status {
                StatusCode::UNAUTHORIZED => "bad_secret",
                StatusCode::PAYLOAD_TOO_LARGE => "oversized",
                _ => "malformed",
            });
            return status;
        }
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        hook.telegram.channel().refused("malformed");
        return StatusCode::BAD_REQUEST;
    }
    match hook.telegram.handle_json(&body).await {
        Ok(_) => StatusCode::OK,
        Err(why) => {
            tracing::warn!(error = %why, "telegram: an update could not be filed; Telegram will retry");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// Tells Telegram to push updates to `url` with `secret` (the header this endpoint
/// checks): asked at start, again with backoff until Telegram answers, so a webhook
/// never needs a manual `setWebhook`.
/// Failures are noted on `channel`.
pub async fn register(
    bot: Bot,
    url: reqwest::Url,
    secret: String,
    channel: Arc<Channel>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let asked = bot
            .set_webhook(url.clone())
            .secret_token(secret.clone())
            .allowed_updates([AllowedUpdate::Message, AllowedUpdate::EditedMessage])
            .await;
        match asked.map_err(BotError::from) {
            Ok(_) => {
                tracing::info!("telegram: webhook registered");
                channel.worked();
                return;
            }
            Err(e @ BotError::Refused(_)) => {
                tracing::error!(error = %e, "telegram: setWebhook was refused; check RINGSIDE_TELEGRAM_WEBHOOK_URL and the bot token");
                channel.failed(&format!("setWebhook: {e}"));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "telegram: the webhook could not be registered yet");
                channel.failed(&format!("setWebhook: {e}"));
                let pause = super::pause_after(&e, backoff);
                backoff = (backoff * 2).min(Duration::from_secs(60));
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
