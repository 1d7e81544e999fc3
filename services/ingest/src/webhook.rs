//! `POST /ingest/calls`: call events from cloud PBXs that only speak HTTP. The shared
//! secret (`X-Ringside-Secret`) is compared in constant time; the body is JSON with
//! no unknown fields; the events are published (confirmed by the bus) before the
//! answer, so what we acknowledged is not lost. Deliveries repeat: the tracker makes a
//! repeated event a no-op. A call's events that are not confirmed yet are kept by
//! call ([`Unpublished`]) until they are: the next delivery for that call — the
//! PBX's retry, or the call's next event — publishes them first, in order, so a
//! broker blip neither loses an event nor lets a later one overtake it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use ringside_bus::{Bus, Message};
use serde::Deserialize;

use crate::authorized_body;
use crate::listen::Ingest;
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
    unpublished: Arc<Unpublished>,
}

/// Calls whose events wait for a confirm at most (the oldest call's go first when
/// more fail), and for how long (a PBX retries within minutes).
const KEPT: usize = 10_000;
const KEPT_FOR: Duration = Duration::from_secs(600);

/// Each call's events not confirmed by the bus yet, in order, from when they were
/// first kept. They are kept *before* a publish is awaited, so a retry that comes
/// while the first try still waits publishes them too (a repeat is harmless:
/// consumers drop an event id they have had).
#[derive(Default)]
struct Unpublished(Mutex<HashMap<String, (Instant, Vec<Message>)>>);

impl Unpublished {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<Message>)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call's waiting events with `fresh` after them; all of them stay kept
    /// until [`Self::confirmed`].
    fn with_waiting(&self, call_id: &str, fresh: Vec<Message>) -> Vec<Message> {
        let mut kept = self.lock();
        let now = Instant::now();
        if !kept.contains_key(call_id) && !fresh.is_empty() {
            make_room(&mut kept, now);
        }
        let waiting = match kept.get_mut(call_id) {
            Some((_, waiting)) => waiting,
            None if fresh.is_empty() => return Vec::new(),
            None => {
                &mut kept
                    .entry(call_id.to_owned())
                    .or_insert((now, Vec::new()))
                    .1
            }
        };
        waiting.extend(fresh);
        waiting.clone()
    }

    /// `published` are confirmed: they wait no more.
    fn confirmed(&self, call_id: &str, published: &[Message]) {
        let mut kept = self.lock();
        let Some((_, waiting)) = kept.get_mut(call_id) else {
            return;
        };
        waiting.retain(|m| !published.iter().any(|p| p.event_id == m.event_id));
        if waiting.is_empty() {
            kept.remove(call_id);
        }
    }
}

/// Drops the calls kept too long, then, when still full, the oldest call's events
/// (counted: they are lost).
fn make_room(kept: &mut HashMap<String, (Instant, Vec<Message>)>, now: Instant) {
    if kept.len() < KEPT {
        return;
    }
    kept.retain(|_, (at, _)| now.duration_since(*at) < KEPT_FOR);
    let oldest = kept.iter().min_by_key(|(_, (at, _))| *at);
    if let Some(call) = oldest
        .filter(|_| kept.len() >= KEPT)
        .map(|(c, _)| c.clone())
    {
        metrics::counter!("ringside_ingest_webhook_unkept_total").increment(1);
        kept.remove(&call);
    }
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
        unpublished: Arc::default(),
    };
    axum::Router::new()
        .route("/ingest/calls", post(receive))
        // The body is read after the secret is checked, within BODY_LIMIT.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

type Reply = (StatusCode, Json<serde_json::Value>);

fn reply(status: StatusCode, body: serde_json::Value) -> Reply {
    (status, Json(body))
}

async fn receive(State(state): State<WebhookState>, req: Request) -> Reply {
    let (note, reply) = match delivery(&state, req).await {
        Ok(event) => file(&state, event).await,
        Err(refusal) => refusal,
    };
    state.channel.note(note);
    reply
}

/// The delivery's event: the secret is checked before the body is read (within
/// [`BODY_LIMIT`]), then the body must be JSON with no unknown field.
async fn delivery(state: &WebhookState, req: Request) -> Result<CallEvent, (Note, Reply)> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let secret = state.secret.as_bytes();
    let body = match authorized_body(req, "x-ringside-secret", secret, BODY_LIMIT).await {
        Ok(body) => body,
        Err(StatusCode::UNAUTHORIZED) => {
            let said = serde_json::json!({"error": "bad or missing X-Ringside-Secret"});
            return Err(refused("bad_secret", reply(StatusCode::UNAUTHORIZED, said)));
        }
        Err(status) => {
            let why = match status {
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                _ => "malformed",
            };
            let said = serde_json::json!({"error": why});
            return Err(refused(why, reply(status, said)));
        }
    };
    if !json {
        let said = serde_json::json!({"error": "expected Content-Type: application/json"});
        let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return Err(refused("malformed", reply(status, said)));
    }
    serde_json::from_slice(&body).map_err(|e| {
        // Well-formed JSON that is not an event (an unknown field, a bad value): 422.
        let status = match e.classify() {
            serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        let said = serde_json::json!({"error": e.to_string()});
        refused("malformed", reply(status, said))
    })
}

/// Files one delivery's event: the tracker, then the bus; the answer and what
/// became of it.
async fn file(state: &WebhookState, event: CallEvent) -> (Note, Reply) {
    let call_id = event.call_id.trim().to_owned();
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
    let fresh = state.ingest.apply(signal, Instant::now());
    let messages = state.unpublished.with_waiting(&call_id, fresh);
    if let Err(e) = state.bus.publish(&messages).await {
        tracing::error!(error = %e, "call webhook: publish failed");
        let failed = Note::Failed(format!("publishing to the bus: {e}"));
        let answer = reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "try again"}),
        );
        return (failed, answer);
    }
    state.unpublished.confirmed(&call_id, &messages);
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
            rings: true,
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use ringside_bus::{BusError, Confirm, Deliveries, QueueSpec};
    use ringside_identity::PhoneRegion;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::publisher::Publisher;
    use crate::status::Kind;
    use crate::tracker::{Tracker, TrackerConfig};

    /// A bus whose next send fails while `down` is set (a broker blip).
    #[derive(Default)]
    struct Blip {
        down: AtomicBool,
        published: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Bus for Blip {
        async fn send(&self, batch: &[Message]) -> Result<Confirm, BusError> {
            if self.down.swap(false, Ordering::SeqCst) {
                return Err(BusError::Closed);
            }
            let mut published = self.published.lock().unwrap();
            published.extend(batch.iter().map(|m| m.routing_key.clone()));
            Ok(ringside_bus::durable())
        }
        async fn subscribe(&self, _: QueueSpec) -> Result<Deliveries, BusError> {
            Err(BusError::Closed)
        }
        async fn is_ready(&self) -> bool {
            true
        }
    }

    fn state(bus: Arc<Blip>) -> WebhookState {
        let events = Channel::detached(Kind::CallEvents, "");
        let (publisher, _) = Publisher::spawn(bus.clone(), CancellationToken::new(), events);
        let config = TrackerConfig::new("^[0-9]{3}$", PhoneRegion::default()).expect("config");
        let allowed = "127.0.0.1/32".parse().expect("a network");
        WebhookState {
            ingest: Arc::new(Ingest::new(Tracker::new(config), publisher, allowed, None)),
            bus,
            secret: Arc::from("s3cret"),
            channel: Channel::detached(Kind::CallWebhook, ""),
            unpublished: Arc::default(),
        }
    }

    async fn deliver(state: &WebhookState) -> (StatusCode, serde_json::Value) {
        deliver_event(state, "ringing").await
    }

    async fn deliver_event(state: &WebhookState, event: &str) -> (StatusCode, serde_json::Value) {
        let ringing = serde_json::json!({
            "call_id": "pbx-1", "event": event, "from": "+79161234567", "to": "101"
        });
        let event = serde_json::from_value(ringing).expect("an event");
        let (_, (status, Json(body))) = file(state, event).await;
        (status, body)
    }

    #[tokio::test]
    async fn the_retry_of_a_delivery_whose_publish_failed_publishes_its_events() {
        let bus = Arc::new(Blip::default());
        let state = state(bus.clone());
        bus.down.store(true, Ordering::SeqCst);
        let (status, _) = deliver(&state).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "the PBX is told to retry"
        );
        assert!(bus.published.lock().unwrap().is_empty());
        let (status, body) = deliver(&state).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["events"], 1, "the retry publishes the ringing");
        assert_eq!(*bus.published.lock().unwrap(), ["call.ringing"]);
        let (_, body) = deliver(&state).await;
        assert_eq!(body["events"], 0, "a repeat after that is a repeat");
        assert_eq!(bus.published.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_calls_next_event_publishes_the_one_that_failed_first_in_order() {
        let bus = Arc::new(Blip::default());
        let state = state(bus.clone());
        bus.down.store(true, Ordering::SeqCst);
        let (status, _) = deliver(&state).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let (status, body) = deliver_event(&state, "answered").await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["events"], 2);
        let published = bus.published.lock().unwrap().clone();
        assert_eq!(
            published,
            ["call.ringing", "call.answered"],
            "never overtaken"
        );
        let (_, body) = deliver(&state).await;
        assert_eq!(body["events"], 0, "the ringing's retry finds it published");
    }
}
