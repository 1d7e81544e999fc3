//! `POST /telegram/webhook`: Telegram pushes each update with the secret given to
//! `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`, compared in constant time. The
//! answer is 200 only once the update is filed; 503 makes Telegram deliver it again.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::TelegramIn;
use crate::secret_eq;

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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(hook)
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map_or(&[][..], |v| v.as_bytes());
    if !secret_eq(given, hook.secret.as_bytes()) {
        metrics::counter!("ringside_telegram_updates_total", "outcome" => "forged").increment(1);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(update) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    match hook.telegram.handle(&update).await {
        Ok(_) => StatusCode::OK,
        Err(why) => {
            tracing::warn!(error = %why, "telegram: an update could not be filed; Telegram will retry");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
