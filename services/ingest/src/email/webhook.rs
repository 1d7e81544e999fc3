//! `POST /ingest/email`: a provider that pushes inbound mail (as raw MIME) posts it
//! here with the shared secret in `X-Ringside-Secret`, compared in constant time. The
//! answer is 200 only once the message is filed; 413 for a message over the limit,
//! 422 with the reason for one that cannot be read (nothing is stored), 503 when it
//! should be pushed again.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;

use super::parse::Rejected;
use super::{EmailIn, Outcome};
use crate::inbound::DeliverError;
use crate::secret_eq;

#[derive(Clone)]
struct Hook {
    email: Arc<EmailIn>,
    secret: Arc<str>,
}

pub fn router(email: Arc<EmailIn>, secret: &str) -> axum::Router {
    let limit = email.max_bytes();
    let hook = Hook {
        email,
        secret: Arc::from(secret),
    };
    axum::Router::new()
        .route("/ingest/email", post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(hook)
}

async fn receive(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let given = headers
        .get("x-ringside-secret")
        .map_or(&[][..], |v| v.as_bytes());
    if !secret_eq(given, hook.secret.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "bad secret"})),
        );
    }
    match hook.email.file(&body).await {
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
