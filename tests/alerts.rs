//! Alerts for agents who are not connected: a reminder that comes due and a lead
//! assigned to them reach them by email (a real SMTP server: aiosmtpd from PyPI,
//! writing a maildir) and by Telegram (a local stand-in speaking the Bot API's
//! `sendMessage`, which first answers 429 with `retry_after`) — once per channel, even
//! when the event is delivered again.

use std::time::Duration;

use ringside_bus::Message;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use support::bot::{self, BotApi};
use support::smtp::Smtp;
use support::{Person, eventually};

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
    let bot = BotApi::start().await;
    bot.limit_next(1, 1);
    let suite = support::all_in_one_with(|s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
        s.alert_from = "Ringside <crm@example.org>".into();
        s.telegram_bot_token = Some(bot::TOKEN.into());
        s.telegram_api_url = bot.url();
        s.telegram_mode = "off".into();
    })
    .await;
    let olga = Person {
        alert_email: "olga@example.org",
        telegram_chat_id: "555001",
        ..Person::new("olga", "Ольга")
    };
    suite.hire(&[olga]).await;
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
    let text = eventually("the reminder by Telegram (after a 429)", || async {
        bot.sent().first().cloned()
    })
    .await;
    assert_eq!(bot::chat_of(&text), "555001");
    assert!(
        text["text"]
            .as_str()
            .unwrap()
            .starts_with("Reminder: Call Ivan back")
    );
    assert_eq!(
        bot.attempts().len(),
        2,
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
        let sent = bot.sent().len();
        (mails.len() == 2 && sent == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // time for a duplicate to show
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2, "one reminder, one lead: {mails:?}");
    assert!(mails.iter().any(|m| m.contains("Subject: New lead:")));
    assert_eq!(bot.sent().len(), 2);
    suite.stop().await;
}

/// A socket that stops answering pings (a closed laptop, a dead network: the TCP
/// connection left half-open) is dropped after two of them, and its person is
/// offline again: the lead assigned next reaches her by email, not the dead socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_answering_is_dropped_and_alerts_go_by_email() {
    let Some(smtp) = Smtp::start().await else {
        return;
    };
    let suite = support::all_in_one_with(|s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{}", smtp.port));
        s.alert_from = "Ringside <crm@example.org>".into();
        s.ws_ping_secs = 1;
    })
    .await;
    let olga = Person {
        alert_email: "olga@example.org",
        ..Person::new("olga", "Ольга")
    };
    suite.hire(&[olga]).await;
    let token = (suite.key)
        .issue("olga", ringside_auth::Role::Agent, Duration::from_secs(600))
        .expect("a token");
    let bearer = format!("Bearer {token}");
    let mut ws = support::socket::open(suite.running.http_addr, &[("authorization", &bearer)])
        .await
        .expect("websocket");
    let lead = |name: &str| cpb::CreateLeadRequest {
        name: name.into(),
        owner_id: "olga".into(),
        ..Default::default()
    };
    // While her socket answers (reading it answers the pings), the lead is pushed.
    suite
        .client()
        .await
        .create_lead(lead("Vera"))
        .await
        .expect("lead");
    let pushed = support::socket::next_of(&mut ws, "lead_assigned").await;
    assert_eq!(pushed["title"], "Vera");
    // Reading on (as a browser does), she stays online past several pings.
    let reading = async { while let Some(Ok(_)) = futures::StreamExt::next(&mut ws).await {} };
    let _ = tokio::time::timeout(Duration::from_secs(3), reading).await;
    suite
        .client()
        .await
        .create_lead(lead("Lena"))
        .await
        .expect("lead");
    let pushed = support::socket::next_of(&mut ws, "lead_assigned").await;
    assert_eq!(pushed["title"], "Lena");
    assert!(smtp.messages().is_empty(), "online: no email");
    // Now nothing reads it (the pings go unanswered): it is dropped, and the next
    // lead goes by email.
    tokio::time::sleep(Duration::from_secs(4)).await;
    suite
        .client()
        .await
        .create_lead(lead("Nina"))
        .await
        .expect("lead");
    let mail = eventually("the new lead by email", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(mail.contains("Subject: New lead: Nina"), "{mail}");
    drop(ws);
    suite.stop().await;
}
