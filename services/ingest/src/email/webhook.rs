//! `POST /ingest/email`: a provider that pushes inbound mail (as raw MIME) posts it
//! here with the shared secret in `X-Ringside-Secret`, compared in constant time. The
//! answer is 200 only once the message is filed; 413 for a message over the limit,
//! 422 with the reason for one that cannot be read (nothing is stored), 503 when it
//! should be pushed again.

use std::sync::Arc;

use axum::Json;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

use super::parse::Rejected;
use super::{EmailIn, Outcome};
use crate::authorized_body;
use crate::inbound::DeliverError;
use crate::status::Channel;

#[derive(Clone)]
struct Hook {
    email: Arc<EmailIn>,
    secret: Arc<str>,
    channel: Arc<Channel>,
}

/// `channel` is what the admin's channel page says of the webhook.
pub fn router(email: Arc<EmailIn>, secret: &str, channel: Arc<Channel>) -> axum::Router {
    let hook = Hook {
        email,
        secret: Arc::from(secret),
        channel,
    };
    axum::Router::new()
        .route("/ingest/email", post(receive))
        // The body is read after the secret is checked, within the size limit.
        .layer(DefaultBodyLimit::disable())
        .with_state(hook)
}

async fn receive(State(hook): State<Hook>, req: Request) -> (StatusCode, Json<serde_json::Value>) {
    let limit = hook.email.max_bytes();
    let body = match authorized_body(req, "x-ringside-secret", hook.secret.as_bytes(), limit).await
    {
        Ok(body) => body,
        Err(status) => {
            let (why, code) = match status {
                StatusCode::UNAUTHORIZED => ("bad secret", "bad_secret"),
                StatusCode::PAYLOAD_TOO_LARGE => ("oversized", "oversized"),
                _ => ("the body could not be read", "malformed"),
            };
            hook.channel.refused(code);
            return (status, Json(json!({"error": why})));
        }
    };
    match hook.email.file(&body, &hook.channel).await {
        Ok(Outcome::Filed {
            message_id,
            automatic,
        }) => (
            StatusCode::OK,
            Json(json!({"message_id": message_id, "automatic": automatic})),
        ),
        Ok(Outcome::Quarantined(Rejected::Oversized)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": "oversized"})),
        ),
        Ok(Outcome::Quarantined(why)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": why.reason()})),
        ),
        Err(e @ (DeliverError::Unavailable(_) | DeliverError::Invalid(_))) => {
            tracing::warn!(error = %e, "email: a pushed message could not be filed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": "try again later"})),
            )
        }
    }
}
