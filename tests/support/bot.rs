//! A local stand-in for the Telegram Bot API (the Telegram cloud cannot be reached
//! from here): it speaks the published HTTP interface — POST `/bot{token}/{method}`
//! with JSON (method names in any case, as Telegram takes them), answers
//! `{"ok":true,"result":…}` — for `getMe`, `getUpdates` (long polling, with updates
//! confirmed by the next offset as Telegram does), `sendMessage` and `setWebhook`, and
//! can answer 429 with `retry_after` or 403 for a blocked chat.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:test-token";
pub const USERNAME: &str = "ringside_test_bot";

#[derive(Default)]
struct State_ {
    /// Updates not yet confirmed, in id order.
    pending: VecDeque<Value>,
    next_id: i64,
    /// The highest offset a poller asked with.
    confirmed: i64,
    /// Accepted `sendMessage` bodies, with when they came.
    sent: Vec<(Instant, Value)>,
    /// When each `sendMessage` (accepted or not) came.
    attempts: Vec<Instant>,
    /// The next this many `sendMessage` calls get 429.
    limit_next: usize,
    retry_after: u64,
    blocked: HashSet<String>,
    /// The last `setWebhook`: its URL and secret token.
    webhook: Option<(String, String)>,
}

#[derive(Clone)]
pub struct BotApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State_>>,
    arrived: Arc<Notify>,
}

impl BotApi {
    pub async fn start() -> BotApi {
        let bot = BotApi {
            addr: ([127, 0, 0, 1], 0).into(),
            state: Arc::new(Mutex::new(State_ {
                next_id: 1000,
                ..Default::default()
            })),
            arrived: Arc::new(Notify::new()),
        };
        let app = axum::Router::new()
            .route("/{token}/{method}", post(call))
            .with_state(bot.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        BotApi { addr, ..bot }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().expect("lock")
    }

    /// Queues an update (`update` without its id); returns the id given.
    pub fn push(&self, mut update: Value) -> i64 {
        let id = {
            let mut s = self.lock();
            s.next_id += 1;
            let id = s.next_id;
            update["update_id"] = json!(id);
            s.pending.push_back(update);
            id
        };
        self.arrived.notify_waiters();
        id
    }

    /// A private message from user `from` (`extra` is merged into the message).
    pub fn message(from: i64, message_id: i64, text: &str, extra: Value) -> Value {
        let mut message = json!({
            "message_id": message_id,
            "date": 1_763_800_000 + message_id,
            "chat": {"id": from, "type": "private", "first_name": "Client"},
            "from": {"id": from, "is_bot": false, "first_name": "Анна", "last_name": "Клиент"},
            "text": text,
        });
        if let (Some(m), Some(e)) = (message.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
            // `"text": null` in `extra` means a message without text (a photo).
            m.retain(|_, v| !v.is_null());
        }
        json!({ "message": message })
    }

    /// One size of a photo, as the Bot API describes it.
    pub fn photo_size(file_id: &str, size: u32) -> Value {
        json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
            "file_size": size, "width": 320, "height": 240})
    }

    /// The webhook the bot was last told to use (`setWebhook`), with its secret.
    pub fn webhook(&self) -> Option<(String, String)> {
        self.lock().webhook.clone()
    }

    /// The offset the poller last confirmed (every update below it is filed).
    pub fn confirmed(&self) -> i64 {
        self.lock().confirmed
    }

    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    pub fn sent(&self) -> Vec<Value> {
        self.lock().sent.iter().map(|(_, v)| v.clone()).collect()
    }

    /// When each accepted message came.
    pub fn sent_at(&self) -> Vec<Instant> {
        self.lock().sent.iter().map(|(at, _)| *at).collect()
    }

    pub fn attempts(&self) -> Vec<Instant> {
        self.lock().attempts.clone()
    }

    /// The next `n` sends are refused with 429 and `retry_after`.
    pub fn limit_next(&self, n: usize, retry_after: u64) {
        let mut s = self.lock();
        s.limit_next = n;
        s.retry_after = retry_after;
    }

    /// The user of this chat blocked the bot.
    pub fn block(&self, chat: &str) {
        self.lock().blocked.insert(chat.to_owned());
    }

    async fn updates(&self, body: &Value) -> Value {
        let offset = body["offset"].as_i64().unwrap_or(0);
        let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            {
                let mut s = self.lock();
                if offset > s.confirmed {
                    s.confirmed = offset;
                }
                s.pending
                    .retain(|u| u["update_id"].as_i64() >= Some(offset));
                if !s.pending.is_empty() {
                    let batch: Vec<Value> = s.pending.iter().take(100).cloned().collect();
                    return ok(json!(batch));
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return ok(json!([]));
            }
        }
    }

    fn send(&self, body: &Value) -> (StatusCode, Value) {
        let mut s = self.lock();
        s.attempts.push(Instant::now());
        let chat = chat_of(body);
        if s.limit_next > 0 {
            s.limit_next -= 1;
            let wait = s.retry_after;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {wait}"),
                    "parameters": {"retry_after": wait}}),
            );
        }
        if s.blocked.contains(&chat) {
            return (
                StatusCode::FORBIDDEN,
                json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            );
        }
        s.sent.push((Instant::now(), body.clone()));
        // Ids in a chat are shared by both sides; the test's own messages stay low.
        let id = 10_000 + s.sent.len();
        (
            StatusCode::OK,
            ok(
                json!({"message_id": id, "date": 1, "chat": {"id": chat.parse::<i64>().unwrap_or(0), "type": "private"}, "text": body["text"]}),
            ),
        )
    }
}

/// The chat a request names: the Bot API takes an id as a number or a string.
pub fn chat_of(request: &Value) -> String {
    match &request["chat_id"] {
        Value::String(c) => c.clone(),
        other => other.to_string(),
    }
}

fn ok(result: Value) -> Value {
    json!({"ok": true, "result": result})
}

/// A request's parameters: a JSON body, or a multipart form (what clients send for
/// methods that may upload a file, like `setWebhook`'s certificate) as text fields.
async fn parameters(headers: &axum::http::HeaderMap, body: bytes::Bytes) -> Value {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return serde_json::from_slice(&body).unwrap_or_default();
    };
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut fields = serde_json::Map::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field.text().await.unwrap_or_default();
        // Fields that are JSON (arrays, numbers) are sent as their JSON text.
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        fields.insert(name, value);
    }
    Value::Object(fields)
}

async fn call(
    State(bot): State<BotApi>,
    Path((token, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: bytes::Bytes,
) -> (StatusCode, axum::Json<Value>) {
    if token != format!("bot{TOKEN}") {
        let reply = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
        return (StatusCode::UNAUTHORIZED, axum::Json(reply));
    }
    let body = parameters(&headers, body).await;
    // Method names are case-insensitive.
    let (status, reply) = match method.to_ascii_lowercase().as_str() {
        "getme" => (
            StatusCode::OK,
            ok(
                json!({"id": 123456, "is_bot": true, "first_name": "Ringside",
                "username": USERNAME, "can_join_groups": true,
                "can_read_all_group_messages": false, "supports_inline_queries": false,
                "can_connect_to_business": false, "has_main_web_app": false}),
            ),
        ),
        "getupdates" => (StatusCode::OK, bot.updates(&body).await),
        "sendmessage" => bot.send(&body),
        "deletewebhook" => {
            bot.lock().webhook = None;
            (StatusCode::OK, ok(json!(true)))
        }
        "setwebhook" => {
            let url = body["url"].as_str().unwrap_or_default().to_owned();
            let secret = body["secret_token"].as_str().unwrap_or_default().to_owned();
            bot.lock().webhook = Some((url, secret));
            (StatusCode::OK, ok(json!(true)))
        }
        _ => (
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
        ),
    };
    (status, axum::Json(reply))
}

/// The services with Telegram at `bot`: ingest polling it, notifications sending
/// through it (and not polling) — contacts, activities, notifications, deals, staff,
/// web, ingest; `None` when the servers are not configured.
pub async fn services(bot: &BotApi) -> Option<Vec<crate::Suite>> {
    let (for_ingest, for_notifications) = (bot.url(), bot.url());
    crate::channel_services(
        move |s, _| {
            s.telegram_bot_token = Some(TOKEN.into());
            s.telegram_api_url = for_ingest;
        },
        move |s| {
            s.telegram_bot_token = Some(TOKEN.into());
            s.telegram_api_url = for_notifications;
            s.telegram_mode = "off".into();
        },
    )
    .await
}
