//! `POST /ingest/calls`: call events from cloud PBXs that only speak HTTP. The shared
//! secret (`X-Ringside-Secret`) is compared in constant time; the body is JSON with
//! no unknown fields; the events are published (confirmed by the bus) before the
//! answer, so what we acknowledged is not lost. Deliveries repeat: the tracker makes a
//! repeated event a no-op.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ringside_bus::Bus;
use serde::Deserialize;

use crate::listen::Ingest;
use crate::secret_eq;
use crate::status::{Channel, Note};
use crate::tracker::Signal;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
struct WebhookState {
    ingest: Arc<Ingest>,
    bus: Arc<dyn Bus>,
    secret: Arc<str>,
    channel: Arc<Channel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Event {
    Ringing,
    Answered,
    Ended,
    Missed,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Missed,
    Busy,
    Rejected,
    Failed,
}

/// One call event from a cloud PBX.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallEvent {
    call_id: String,
    event: Event,
    from: String,
    to: String,
    /// The extension that rang or answered (default: `to`).
    extension: Option<String>,
    /// For `missed`: why (default: missed).
    outcome: Option<Outcome>,
    /// When it happened (RFC 3339); informational, the arrival time is used.
    #[allow(dead_code)]
    time: Option<String>,
}

/// `channel` is what the admin's channel page says of the webhook.
pub fn router(
    ingest: Arc<Ingest>,
    bus: Arc<dyn Bus>,
    secret: &str,
    channel: Arc<Channel>,
) -> axum::Router {
    let state = WebhookState {
        ingest,
        bus,
        secret: Arc::from(secret),
        channel,
    };
    axum::Router::new()
        .route("/ingest/calls", post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

type Reply = (StatusCode, Json<serde_json::Value>);

fn reply(status: StatusCode, body: serde_json::Value) -> Reply {
    (status, Json(body))
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Result<Json<CallEvent>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let (note, reply) = answer(&state, &headers, body).await;
    state.channel.note(note);
    reply
}

/// The answer to one delivery, and what became of it.
async fn answer(
    state: &WebhookState,
    headers: &HeaderMap,
    body: Result<Json<CallEvent>, axum::extract::rejection::JsonRejection>,
) -> (Note, Reply) {
    let given = headers
        .get("x-ringside-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !secret_eq(given, state.secret.as_bytes()) {
        return refused(
            "bad_secret",
            reply(
                StatusCode::UNAUTHORIZED,
                serde_json::json!({"error": "bad or missing X-Ringside-Secret"}),
            ),
        );
    }
    let event = match body {
        Ok(Json(event)) => event,
        Err(rejection) => {
            let why = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                _ => "malformed",
            };
            return refused(
                why,
                reply(
                    rejection.status(),
                    serde_json::json!({"error": rejection.body_text()}),
                ),
            );
        }
    };
    let signal = match signal(event) {
        Ok(signal) => signal,
        Err(field) => {
            return refused(
                "invalid",
                reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    serde_json::json!({"error": format!("invalid {field}")}),
                ),
            );
        }
    };
    let messages = state.ingest.apply(signal, Instant::now());
    if let Err(e) = state.bus.publish(&messages).await {
        tracing::error!(error = %e, "call webhook: publish failed");
        let failed = Note::Failed(format!("publishing to the bus: {e}"));
        let answer = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "try again"}),
        );
        return (failed, answer);
    }
    crate::publisher::count_published(&messages);
    let answer = reply(
        StatusCode::ACCEPTED,
        serde_json::json!({"events": messages.len()}),
    );
    (Note::Took, answer)
}

fn refused(why: &'static str, reply: Reply) -> (Note, Reply) {
    (Note::Refused(why), reply)
}

fn bounded(field: &'static str, value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(field);
    }
    Ok(value.to_owned())
}

fn signal(event: CallEvent) -> Result<Signal, &'static str> {
    let call_id = bounded("call_id", &event.call_id)?;
    let to = bounded("to", &event.to)?;
    let extension = match &event.extension {
        Some(ext) => bounded("extension", ext)?,
        None => to.clone(),
    };
    let leg = format!("webhook:{extension}");
    Ok(match event.event {
        Event::Ringing => Signal::Invite {
            call_id,
            branch: leg,
            caller: bounded("from", &event.from)?,
            callee: to,
            target: extension,
        },
        Event::Answered => Signal::Final {
            call_id,
            branch: leg,
            status: 200,
            responder: Some(extension),
        },
        Event::Ended => Signal::Bye { call_id },
        Event::Missed => Signal::Unanswered {
            call_id,
            status: match event.outcome.unwrap_or(Outcome::Missed) {
                Outcome::Missed => 487,
                Outcome::Busy => 486,
                Outcome::Rejected => 603,
                Outcome::Failed => 500,
            },
        },
    })
}
