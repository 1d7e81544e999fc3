//! Alerts for agents who are not connected: a reminder that comes due and a lead
//! assigned to them reach them by email (a real SMTP server: aiosmtpd from PyPI,
//! writing a maildir) and by Telegram (a local stand-in speaking the Bot API's
//! `sendMessage`, which first answers 429 with `retry_after`) — once per channel, even
//! when the event is delivered again.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use ringside_auth::Role;
use ringside_bus::Message;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use serde_json::{Value, json};
use support::{Bearer, eventually};

const BOT_TOKEN: &str = "123456:test-token";

/// aiosmtpd on a free port, storing what it receives in a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Smtp {
    /// `None` (the test skips) when aiosmtpd is not installed and CI did not require it.
    async fn start() -> Option<Smtp> {
        let present = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            assert!(
                std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_none(),
                "aiosmtpd is not installed (pip install aiosmtpd) but servers are required"
            );
            eprintln!("SKIPPED: aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let addr = format!("127.0.0.1:{port}");
        eventually("aiosmtpd to listen", || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) }
        })
        .await;
        Some(Smtp {
            child,
            port,
            maildir,
            _dir: dir,
        })
    }

    /// The messages received so far, as raw text.
    fn messages(&self) -> Vec<String> {
        read_maildir(&self.maildir)
    }
}

fn read_maildir(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the Bot API stand-in saw: every `sendMessage` accepted, and how many it
/// turned away with 429 first.
#[derive(Default)]
struct Bot {
    sent: Vec<Value>,
    limited: usize,
}

async fn send_message(
    State(bot): State<Arc<Mutex<Bot>>>,
    UrlPath(token): UrlPath<String>,
    axum::Json(body): axum::Json<Value>,
) -> (StatusCode, axum::Json<Value>) {
    if token != format!("bot{BOT_TOKEN}") {
        let reply = json!({"ok": false, "error_code": 401, "description": "Unauthorized"});
        return (StatusCode::UNAUTHORIZED, axum::Json(reply));
    }
    let mut bot = bot.lock().expect("lock");
    if bot.limited == 0 {
        bot.limited += 1;
        let reply = json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}});
        return (StatusCode::TOO_MANY_REQUESTS, axum::Json(reply));
    }
    bot.sent.push(body.clone());
    let reply = json!({"ok": true, "result": {"message_id": bot.sent.len(), "chat": {"id": body["chat_id"]}, "text": body["text"]}});
    (StatusCode::OK, axum::Json(reply))
}

async fn bot_api() -> (SocketAddr, Arc<Mutex<Bot>>) {
    let bot = Arc::new(Mutex::new(Bot::default()));
    let app = axum::Router::new()
        .route("/{token}/sendMessage", post(send_message))
        .with_state(bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, bot)
}

fn rfc3339_in(ms: i64) -> String {
    let at = ringside_storage::now_millis() + ms;
    time::OffsetDateTime::from_unix_timestamp(at.div_euclid(1000))
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_agent_gets_reminders_and_new_leads_by_email_and_telegram_once() {
    let Some(smtp) = Smtp::start().await else {
        return;
    };
    let (api, bot) = bot_api().await;
    let suite = support::all_in_one_with(|s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
        s.alert_from = "Ringside <crm@example.org>".into();
        s.telegram_bot_token = Some(BOT_TOKEN.into());
        s.telegram_api_url = format!("http://{api}");
    })
    .await;
    let admin = Bearer(Some(suite.token(Role::Admin)));
    let mut agents = NotificationsClient::with_interceptor(suite.channel().await, admin);
    let olga = npb::Agent {
        id: "olga".into(),
        name: "Ольга".into(),
        email: "olga@example.org".into(),
        telegram_chat_id: "555001".into(),
        ..Default::default()
    };
    agents.upsert_agent(olga).await.expect("agent");
    let mut watch = suite.watch(&["task.due"]).await;

    // Olga has no console open: her reminder goes by email and Telegram.
    let task = apb::CreateTaskRequest {
        title: "Call Ivan back".into(),
        due_at: rfc3339_in(1000),
        ..Default::default()
    };
    suite
        .activities("olga")
        .await
        .create_task(task)
        .await
        .expect("task");
    let mail = eventually("the reminder by email", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(mail.contains("Subject: Reminder: Call Ivan back"), "{mail}");
    assert!(mail.contains("To: olga@example.org"), "{mail}");
    assert!(mail.contains("Auto-Submitted: auto-generated"), "{mail}");
    let text = eventually("the reminder by Telegram (after a 429)", || {
        let bot = bot.clone();
        async move { bot.lock().expect("lock").sent.first().cloned() }
    })
    .await;
    assert_eq!(text["chat_id"], "555001");
    assert!(
        text["text"]
            .as_str()
            .unwrap()
            .starts_with("Reminder: Call Ivan back")
    );
    assert_eq!(
        bot.lock().expect("lock").limited,
        1,
        "the 429 was honoured, then retried"
    );

    // The same task.due again (a redelivery): nothing is sent twice.
    let due = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("task.due")
        .expect("a delivery");
    due.acker.ack().await.expect("ack");
    let envelope = due.message.decode().expect("envelope");
    let again = Message::from_envelope(&envelope);
    suite.running.bus.publish(&[again]).await.expect("publish");

    // A lead assigned to Olga: one more of each.
    let lead = cpb::CreateLeadRequest {
        name: "Vera".into(),
        owner_id: "olga".into(),
        identities: vec![cpb::Identity {
            kind: cpb::IdentityKind::Email as i32,
            value: "vera@example.org".into(),
        }],
        source: Some(cpb::LeadSource {
            channel: "email".into(),
            campaign: String::new(),
        }),
        ..Default::default()
    };
    suite.client().await.create_lead(lead).await.expect("lead");
    eventually("the new lead by email and Telegram", || async {
        let mails = smtp.messages();
        let sent = bot.lock().expect("lock").sent.len();
        (mails.len() == 2 && sent == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // time for a duplicate to show
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "one reminder, one lead: {mails:?}");
    assert!(mails.iter().any(|m| m.contains("Subject: New lead:")));
    assert_eq!(bot.lock().expect("lock").sent.len(), 2);
    suite.stop().await;
}
