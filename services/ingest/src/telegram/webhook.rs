//! `POST /telegram/webhook`: Telegram pushes each update with the secret given to
//! `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`, compared in constant time. The
//! answer is 200 only once the update is filed; 503 makes Telegram deliver it again.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::post;

use super::TelegramIn;
use crate::authorized_body;

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
            return status;
        }
    };
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
