//! The agent console at `/`, and the agent's WebSocket, `/agent/ws`: the same pushes as `Subscribe`, as JSON frames,
//! for the agent named by the bearer token only (an `Authorization` header, or the
//! `access_token` query parameter for browsers, which cannot set headers on a
//! WebSocket). The agent sends `{"type":"note","call_id":…,"text":…,"outcome":…}` to
//! file a note on a call and gets `note_saved` or `error` back.

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringside_auth::{TokenKey, policy};
use ringside_proto::notifications::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::service::Notifications;

/// The audience the socket's tokens are checked for: it is notifications' surface.
const SERVICE: &str = "ringside.notifications.v1.Notifications";

/// Largest frame an agent may send.
const MAX_FRAME: usize = 64 * 1024;

#[derive(Clone)]
struct WsState {
    service: Notifications,
    key: Arc<TokenKey>,
}

pub fn router(service: Notifications, key: TokenKey) -> axum::Router {
    let state = WsState {
        service,
        key: Arc::new(key),
    };
    axum::Router::new()
        .route("/", get(console))
        .route("/agent/ws", get(upgrade))
        .with_state(state)
}

/// The agent console: one static page, no build step; it signs in with a token and
/// talks to `/agent/ws`.
async fn console() -> impl IntoResponse {
    (
        [
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ],
        include_str!("console.html"),
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn upgrade(
    State(state): State<WsState>,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.access_token.map(|t| format!("Bearer {t}")));
    let claims = match state.key.verify_header(header.as_deref(), SERVICE) {
        Ok(claims) => claims,
        Err(e) => return (StatusCode::UNAUTHORIZED, e.to_string()).into_response(),
    };
    if !policy::allows(claims.role, policy::Action::ReceivePushes) {
        return (StatusCode::FORBIDDEN, "this role receives no pushes").into_response();
    }
    ws.max_message_size(MAX_FRAME)
        .on_upgrade(move |socket| session(socket, state.service, claims.sub))
}

async fn session(mut socket: WebSocket, service: Notifications, agent: String) {
    let mut sub = service.hub.subscribe(&agent);
    loop {
        tokio::select! {
            push = sub.pushes.recv() => {
                let Some(push) = push else { return };
                let frame = push_json(&push).to_string();
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => {
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => command(&service, &agent, &text).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    r#type: String,
    call_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    outcome: String,
}

/// What the agent asked for, answered as one frame.
async fn command(service: &Notifications, agent: &str, text: &str) -> Value {
    let note: Note = match serde_json::from_str(text) {
        Ok(note) => note,
        Err(e) => return json!({"type": "error", "message": format!("bad frame: {e}")}),
    };
    if note.r#type != "note" {
        return json!({"type": "error", "message": "unknown type"});
    }
    match service
        .add_call_note(agent, &note.call_id, &note.text, &note.outcome)
        .await
    {
        Ok(entry_id) => {
            json!({"type": "note_saved", "call_id": note.call_id, "entry_id": entry_id})
        }
        Err(e) => {
            let status = tonic::Status::from(e);
            json!({"type": "error", "call_id": note.call_id, "message": status.message()})
        }
    }
}

fn time(ts: &Option<prost_types::Timestamp>) -> Value {
    match ts {
        Some(t) => json!(ringside_proto::millis_from_timestamp(t)),
        None => Value::Null,
    }
}

/// A push as the console reads it; times are Unix milliseconds.
pub fn push_json(p: &pb::Push) -> Value {
    let mut v = json!({"type": p.r#type});
    if let Some(card) = &p.card {
        v["card"] = card_json(card);
    }
    if !p.task_id.is_empty() {
        v["task_id"] = json!(p.task_id);
    }
    if !p.lead_id.is_empty() {
        v["lead_id"] = json!(p.lead_id);
    }
    if !p.title.is_empty() {
        v["title"] = json!(p.title);
    }
    if p.at.is_some() {
        v["at"] = time(&p.at);
    }
    v
}

fn card_json(c: &pb::Card) -> Value {
    json!({
        "call_id": c.call_id,
        "caller": c.caller,
        "extensions": c.extensions,
        "client_kind": c.client_kind,
        "client_id": c.client_id,
        "name": c.name,
        "company": c.company,
        "status": c.status,
        "tags": c.tags,
        "owner_id": c.owner_id,
        "new_lead": c.new_lead,
        "deals": c.deals.iter().map(|d| json!({
            "id": d.id, "title": d.title, "stage": d.stage,
            "amount_minor": d.amount_minor, "currency": d.currency,
        })).collect::<Vec<_>>(),
        "interactions": c.interactions.iter().map(|i| json!({
            "at": time(&i.at), "kind": i.kind, "summary": i.summary,
        })).collect::<Vec<_>>(),
        "last_call": c.last_call.as_ref().map(|l| json!({
            "at": time(&l.at), "agent_id": l.agent_id, "outcome": l.outcome, "note": l.note,
        })),
        "tasks": c.tasks.iter().map(|t| json!({
            "id": t.id, "title": t.title, "due_at": time(&t.due_at), "overdue": t.overdue,
        })).collect::<Vec<_>>(),
        "state": c.state,
        "answered_by": c.answered_by,
        "entry_id": c.entry_id,
        "pending": c.pending,
    })
}
