//! The agent's WebSocket, `/agent/ws`: the same pushes as `Subscribe`, as JSON frames,
//! for one person only. A browser authenticates with its session cookie (the page
//! it came from must be this site's, by `Sec-Fetch-Site` / `Origin`, or one of the
//! deployment's web origins named in `RINGSIDE_WEB_ORIGINS`); a program with a
//! bearer access token in the `Authorization` header. No token ever travels in the
//! URL. The socket ends when its session does (checked every few seconds: sign-out,
//! "sign out everywhere", a password or role change, deactivation) or when the
//! bearer token expires; a browser is told `{"type":"signed_out"}` first. The agent
//! sends `{"type":"note","call_id":…,"text":…,"outcome":…}` to file a note on a call
//! and gets `note_saved` or `error` back.
//!
//! Each socket is pinged (`RINGSIDE_WS_PING_SECS`); one that has answered nothing —
//! no pong, no frame — for two pings is dropped: a closed laptop or a dead network
//! leaves a half-open connection that would take pushes forever, and its person would
//! count as online, so their alerts would never go by email or Telegram. Once it is
//! dropped they are offline, and the next alert falls back. (A push sent into it in
//! the meantime — at most two pings' time — is not sent again.)

use ringside_auth::visibility::Scope;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringside_auth::{Role, TokenKey, policy};
use ringside_kit::browser::{Origins, Sessions};
use ringside_proto::notifications::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Code;

use crate::service::Notifications;

/// The audience the socket's tokens are checked for: it is notifications' surface.
const SERVICE: &str = "ringside.notifications.v1.Notifications";

/// Largest frame an agent may send.
const MAX_FRAME: usize = 64 * 1024;

/// How often a browser's socket asks whether its session still holds.
pub const SESSION_CHECK: Duration = Duration::from_secs(5);

/// The close code a socket ends with when its session or token has: sign in again.
const SIGNED_OUT: u16 = 4401;

#[derive(Clone)]
struct WsState {
    service: Notifications,
    key: Arc<TokenKey>,
    sessions: Sessions,
    /// The web pages' origins, when they are served from another address.
    origins: Arc<Origins>,
    /// How often a socket is pinged.
    ping: Duration,
}

/// What keeps a socket open: a browser's session, or a program's token until it
/// expires (Unix seconds).
enum Standing {
    Session(String),
    Token { expires_at: u64 },
}

/// `/agent/ws`: pushes for the person of a session (pages from `origins` too) or of
/// a bearer token.
pub fn router(
    service: Notifications,
    key: TokenKey,
    (sessions, origins): (Sessions, Origins),
    ping: Duration,
) -> axum::Router {
    let state = WsState {
        service,
        key: Arc::new(key),
        sessions,
        origins: Arc::new(origins),
        ping,
    };
    axum::Router::new()
        .route("/agent/ws", get(upgrade))
        .with_state(state)
}

async fn upgrade(
    State(state): State<WsState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let (sight, role, standing) = match authenticate(&state, &headers).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    if !policy::allows(role, policy::Action::ReceivePushes) {
        return (StatusCode::FORBIDDEN, "this role receives no pushes").into_response();
    }
    ws.max_message_size(MAX_FRAME)
        .on_upgrade(move |socket| session(socket, state, sight, standing))
}

/// Who opens the socket: a bearer token's subject, or the person of the session
/// the cookie names.
async fn authenticate(
    state: &WsState,
    headers: &HeaderMap,
) -> Result<(Scope, Role, Standing), Response> {
    let refuse = |code: StatusCode, why: &str| (code, why.to_owned()).into_response();
    if let Some(bearer) = headers.get("authorization") {
        let claims = state
            .key
            .verify_header(bearer.to_str().ok(), SERVICE)
            .map_err(|e| refuse(StatusCode::UNAUTHORIZED, &e.to_string()))?;
        let standing = Standing::Token {
            expires_at: claims.exp,
        };
        let sight = crate::hub::sight(claims.sub, Some(claims.role), claims.teams);
        return Ok((sight, claims.role, standing));
    }
    if let Some(why) = state.origins.cross_site(headers) {
        return Err(refuse(StatusCode::FORBIDDEN, why));
    }
    let secret = state
        .sessions
        .secret(headers)
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "sign in first"))?;
    match state.sessions.open(&secret).await {
        Ok(person) => {
            let sight = crate::hub::sight(person.id, Some(person.role), person.teams);
            Ok((sight, person.role, Standing::Session(secret)))
        }
        Err(s) if s.code() == Code::Unauthenticated => {
            Err(refuse(StatusCode::UNAUTHORIZED, s.message()))
        }
        Err(s) => Err(refuse(StatusCode::SERVICE_UNAVAILABLE, s.message())),
    }
}

/// Whether the socket may stay open: its session is live (staff being unreachable
/// for a moment does not close it) or its token has not expired.
async fn still_standing(sessions: &Sessions, standing: &Standing) -> bool {
    match standing {
        Standing::Session(secret) => match sessions.open(secret).await {
            Ok(_) => true,
            Err(s) => s.code() != Code::Unauthenticated,
        },
        Standing::Token { expires_at } => {
            let now = u64::try_from(ringside_storage::now_millis() / 1000).unwrap_or(0);
            now < *expires_at
        }
    }
}

/// Tells the browser its session has ended, and closes.
async fn signed_out(mut socket: WebSocket) {
    let frame = json!({"type": "signed_out"}).to_string();
    let _ = socket.send(Message::Text(frame.into())).await;
    let close = CloseFrame {
        code: SIGNED_OUT,
        reason: "signed out".into(),
    };
    let _ = socket.send(Message::Close(Some(close))).await;
}

async fn session(mut socket: WebSocket, state: WsState, sight: Scope, standing: Standing) {
    let service = state.service;
    let agent = sight.user.clone();
    let mut sub = service.hub.subscribe_seeing(sight);
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check.tick().await;
    let mut ping = tokio::time::interval(state.ping);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    loop {
        tokio::select! {
            // What the client sent first: a pong waiting must count before the
            // ping tick that would find it missing.
            biased;
            incoming = socket.recv() => {
                heard = tokio::time::Instant::now();
                let reply = match incoming {
                    Some(Ok(Message::Text(text))) => command(&service, &agent, &text).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                    return;
                }
            }
            push = sub.pushes.recv() => {
                let Some(push) = push else { return };
                let frame = push_json(&push).to_string();
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
            _ = check.tick() => {
                if !still_standing(&state.sessions, &standing).await {
                    return signed_out(socket).await;
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > state.ping * 2 {
                    metrics::counter!("ringside_notifications_sockets_dropped_total", "reason" => "unanswered").increment(1);
                    return;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
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

/// A push as the call bar reads it; times are Unix milliseconds.
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
    if !p.conversation_id.is_empty() {
        v["conversation_id"] = json!(p.conversation_id);
    }
    if !p.pipeline_id.is_empty() {
        v["pipeline_id"] = json!(p.pipeline_id);
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
