//! Telegram end to end, against a local stand-in for the Bot API: a stranger who
//! writes to the bot becomes one lead, assigned round robin, with the messages on the
//! lead's timeline in one conversation; the agent's answer arrives in the same chat,
//! within the Bot API's limits (a 429 waited out), and a blocked bot is recorded.
//! Webhook mode checks its secret and refuses what is not an update; group chats
//! count only when the bot is mentioned; repeated updates change nothing.

use std::time::Duration;

use ringside_auth::Role;
use ringside_proto::activities::v1 as apb;
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use serde_json::json;
use support::bot::{self, BotApi};
use support::{Bearer, Person, Suite, eventually, lead_timeline, messages};

async fn with_bot(bot: &BotApi, customize: impl FnOnce(&mut ringside::config::Settings)) -> Suite {
    let url = bot.url();
    support::all_in_one_with(move |s| {
        s.telegram_bot_token = Some(bot::TOKEN.into());
        s.telegram_api_url = url;
        customize(s);
    })
    .await
}

type Notifications = NotificationsClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

async fn notifications(suite: &Suite, user: &str, role: Role) -> Notifications {
    let token = suite
        .key
        .issue(user, role, Duration::from_secs(600))
        .expect("a token");
    NotificationsClient::with_interceptor(suite.channel().await, Bearer(Some(token)))
}

/// Agents `ids`, each with a Telegram chat for alerts (`555` and its index).
async fn agents(suite: &Suite, ids: &[&str]) {
    for (n, id) in ids.iter().enumerate() {
        let (name, chat) = (id.to_uppercase(), format!("555{n}"));
        let agent = Person {
            telegram_chat_id: &chat,
            ..Person::new(id, &name)
        };
        suite.hire(&[agent]).await;
    }
}

/// Waits until the poller has confirmed update `id`.
async fn confirmed(bot: &BotApi, id: i64) {
    eventually("the update to be confirmed", || async {
        (bot.confirmed() > id).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_on_telegram_becomes_one_assigned_lead_and_is_answered_in_the_same_chat() {
    let bot = BotApi::start().await;
    let suite = with_bot(&bot, |_| {}).await;
    agents(&suite, &["olga", "ivan"]).await;

    bot.push(BotApi::message(777, 1, "/start spring_sale", json!({})));
    let photo = json!({"text": null, "caption": "Сколько стоит такой?",
        "photo": [BotApi::photo_size("small", 10), BotApi::photo_size("big-photo", 48213)]});
    let second = bot.push(BotApi::message(777, 2, "", photo));
    let lead = eventually("the lead", || async {
        support::leads(&suite).await.into_iter().next()
    })
    .await;
    assert_eq!(
        lead.owner_id, "ivan",
        "round robin starts with the first agent by id"
    );
    // Ivan is not at his console: the new lead reaches him in his Telegram chat.
    let alert = eventually("the assignee's alert", || async {
        bot.sent().into_iter().find(|m| bot::chat_of(m) == "5551")
    })
    .await;
    assert!(
        alert["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("New lead")),
        "{alert}"
    );
    let source = lead.source.clone().expect("source");
    assert_eq!(
        (source.channel.as_str(), source.campaign.as_str()),
        ("telegram", "spring_sale")
    );
    assert_eq!(lead.name, "Анна Клиент");

    let received = eventually("both messages on the timeline", || async {
        let m = messages(&lead_timeline(&suite, &lead.id).await);
        (m.len() == 2).then_some(m)
    })
    .await;
    assert_eq!(received[0].1, received[1].1, "one conversation");
    assert_eq!(received[1].0.text, "Сколько стоит такой?");
    let attachment = &received[1].0.attachments[0];
    assert_eq!(
        (
            attachment.kind.as_str(),
            attachment.file_id.as_str(),
            attachment.size
        ),
        ("photo", "big-photo", 48213)
    );

    // The same message again (a repeated delivery under a new update id) and an edit.
    let again = bot.push(BotApi::message(
        777,
        2,
        "",
        json!({"text": null, "caption": "Сколько стоит такой?",
        "photo": [BotApi::photo_size("big-photo", 48213)]}),
    ));
    let mut edit = BotApi::message(
        777,
        2,
        "",
        json!({"text": null, "caption": "Сколько стоит такой, с доставкой?", "edit_date": 1_763_800_100,
        "photo": [BotApi::photo_size("big-photo", 48213)]}),
    );
    edit["edited_message"] = edit["message"].take();
    edit.as_object_mut().expect("object").remove("message");
    let edited = bot.push(edit);
    confirmed(&bot, edited.max(again).max(second)).await;
    let after = eventually("the edit", || async {
        let m = messages(&lead_timeline(&suite, &lead.id).await);
        (m.len() == 2 && m[1].0.edits == 1).then_some(m)
    })
    .await;
    assert_eq!(after[1].0.text, "Сколько стоит такой, с доставкой?");
    assert_eq!(support::leads(&suite).await.len(), 1, "still one lead");

    // Ivan starts the bot from his own chat (to get his alerts): he is no client.
    let ivan = bot.push(BotApi::message(5551, 1, "/start", json!({})));
    confirmed(&bot, ivan).await;
    assert_eq!(
        support::leads(&suite).await.len(),
        1,
        "an agent's own chat makes no lead"
    );

    // Olga answers the photo: the answer quotes it in the same chat.
    let entry_id = lead_timeline(&suite, &lead.id)
        .await
        .into_iter()
        .filter(|e| matches!(&e.detail, Some(apb::entry::Detail::Message(m)) if m.external_id == "777:2"))
        .map(|e| e.id)
        .next()
        .expect("the photo's entry");
    let mut olga = notifications(&suite, "olga", Role::Agent).await;
    let reply = npb::SendMessageRequest {
        lead_id: lead.id.clone(),
        text: "Здравствуйте! 4 900 ₽ с доставкой.".into(),
        reply_to_entry_id: entry_id.clone(),
        ..Default::default()
    };
    let sent = olga
        .send_message(reply.clone())
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.status, "sent", "{sent:?}");
    let out = bot
        .sent()
        .into_iter()
        .rfind(|m| bot::chat_of(m) == "777")
        .expect("the bot sent it");
    assert_eq!(out["text"], "Здравствуйте! 4 900 ₽ с доставкой.");
    assert_eq!(out["reply_parameters"]["message_id"], 2);
    let thread = eventually("the answer in the conversation", || async {
        let m = messages(&lead_timeline(&suite, &lead.id).await);
        m.iter()
            .find(|(d, _, _)| d.direction == apb::Direction::Outbound as i32)
            .cloned()
    })
    .await;
    assert_eq!(thread.1, received[0].1, "the same conversation");
    assert_eq!(thread.0.agent_id, "olga");

    // A 429 is waited out for its retry_after, then the message goes.
    bot.limit_next(1, 1);
    let sent = olga
        .send_message(reply.clone())
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.status, "sent", "{sent:?}");
    let attempts = bot.attempts();
    let gap = attempts[attempts.len() - 1] - attempts[attempts.len() - 2];
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, before retry_after"
    );

    // The client blocks the bot: the answer fails, and the timeline says why.
    bot.block("777");
    let failed = olga.send_message(reply).await.expect("send").into_inner();
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.reason, "bot blocked by the user");
    eventually("the failure on the timeline", || async {
        lead_timeline(&suite, &lead.id).await.into_iter().find(|e| {
            matches!(&e.detail, Some(apb::entry::Detail::System(s))
                if s.event == "message.failed" && s.attributes.get("blocked").map(String::as_str) == Some("true"))
        })
    })
    .await;

    // Bad requests change nothing.
    let neither = npb::SendMessageRequest {
        text: "hi".into(),
        channel: apb::Channel::Telegram as i32,
        ..Default::default()
    };
    let err = olga.send_message(neither).await.expect_err("no client");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_count_only_when_they_mention_the_bot() {
    let bot = BotApi::start().await;
    let suite = with_bot(&bot, |_| {}).await;
    let group = |id: i64, from: i64, text: &str, entities: serde_json::Value| {
        json!({"message": {"message_id": id, "date": 1_763_800_000,
            "chat": {"id": -100_500, "type": "supergroup", "title": "Клиенты"},
            "from": {"id": from, "is_bot": false, "first_name": "Пётр"},
            "text": text, "entities": entities}})
    };
    bot.push(group(1, 901, "всем привет", json!([])));
    let mention = format!("@{} есть в наличии?", bot::USERNAME);
    let last = bot.push(group(
        2,
        902,
        &mention,
        json!([{"type": "mention", "offset": 0, "length": 18}]),
    ));
    confirmed(&bot, last).await;
    let leads = eventually("one lead", || async {
        let l = support::leads(&suite).await;
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(leads.len(), 1, "only the one who mentioned the bot");
    assert_eq!(leads[0].identities[0].value, "902");
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_shared_as_the_senders_own_contact_is_one_more_identity_of_theirs() {
    let bot = BotApi::start().await;
    let suite = with_bot(&bot, |_| {}).await;
    // Someone else's card is only a message; the sender's own number is theirs.
    let someone_else = json!({"text": null,
        "contact": {"phone_number": "+79005550000", "first_name": "Друг", "user_id": 999}});
    bot.push(BotApi::message(555, 1, "", someone_else));
    let own = json!({"text": null,
        "contact": {"phone_number": "+79001112233", "first_name": "Анна", "user_id": 555}});
    let last = bot.push(BotApi::message(555, 2, "", own));
    confirmed(&bot, last).await;
    let lead = eventually("the lead", || async {
        support::leads(&suite).await.into_iter().next()
    })
    .await;
    let identities: Vec<(i32, String)> = lead
        .identities
        .iter()
        .map(|i| (i.kind, i.value.clone()))
        .collect();
    assert!(
        identities.contains(&(npb_phone(), "+79001112233".to_owned())),
        "{identities:?}"
    );
    assert!(!identities.iter().any(|(_, v)| v == "+79005550000"));
    assert_eq!(
        support::leads(&suite).await.len(),
        1,
        "one person, one lead"
    );
    suite.stop().await;
}

fn npb_phone() -> i32 {
    ringside_proto::contacts::v1::IdentityKind::Phone as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_takes_updates_only_with_its_secret_and_files_each_once() {
    let bot = BotApi::start().await;
    let public = "https://crm.example.com/telegram/webhook";
    let suite = with_bot(&bot, |s| {
        s.telegram_mode = "webhook".into();
        s.telegram_webhook_secret = Some("s3cret-webhook".into());
        s.telegram_webhook_url = Some(public.into());
    })
    .await;
    // Registered at start: no manual setWebhook.
    let registered = eventually("setWebhook", || async { bot.webhook() }).await;
    assert_eq!(registered, (public.to_owned(), "s3cret-webhook".to_owned()));
    let http = suite.running.http_addr;
    let update = json!({"update_id": 5001})
        .as_object()
        .cloned()
        .map(|mut u| {
            u.extend(
                BotApi::message(4242, 1, "Добрый день", json!({}))
                    .as_object()
                    .cloned()
                    .expect("object"),
            );
            serde_json::Value::Object(u)
        })
        .expect("update");
    let body = serde_json::to_vec(&update).expect("json");
    let json_type = ("content-type", "application/json");
    let path = "/telegram/webhook";
    for headers in [
        vec![json_type],
        vec![json_type, ("x-telegram-bot-api-secret-token", "wrong")],
    ] {
        let (status, _) = support::http(http, "POST", path, &headers, &body).await;
        assert_eq!(status, 401, "a forged update is refused");
    }
    let secret = ("x-telegram-bot-api-secret-token", "s3cret-webhook");
    let (status, _) = support::http(http, "POST", path, &[json_type, secret], b"{not json").await;
    assert_eq!(status, 400);
    let huge = vec![b' '; 2 << 20];
    let (status, _) = support::http(http, "POST", path, &[json_type, secret], &huge).await;
    assert_eq!(status, 413);
    let (status, _) = support::http(http, "POST", path, &[json_type], &huge).await;
    assert_eq!(
        status, 401,
        "a stranger's body is refused before it is read"
    );
    assert_eq!(
        support::leads(&suite).await.len(),
        0,
        "nothing stored from refused updates"
    );

    for _ in 0..2 {
        let (status, _) = support::http(http, "POST", path, &[json_type, secret], &body).await;
        assert_eq!(status, 200, "accepted (the second time, again)");
    }
    let lead = eventually("the lead", || async {
        support::leads(&suite).await.into_iter().next()
    })
    .await;
    let filed = eventually("the message", || async {
        let m = messages(&lead_timeline(&suite, &lead.id).await);
        (!m.is_empty()).then_some(m)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        messages(&lead_timeline(&suite, &lead.id).await).len(),
        1,
        "filed once: {filed:?}"
    );
    assert_eq!(support::leads(&suite).await.len(), 1);
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_services_a_telegram_stranger_becomes_an_assigned_lead_and_gets_the_answer() {
    let bot = BotApi::start().await;
    let Some(suites) = bot::services(&bot).await else {
        return;
    };
    let (contacts, activities, notifier) = (&suites[0], &suites[1], &suites[2]);
    agents(support::staff_suite(&suites), &["olga"]).await;

    bot.push(BotApi::message(888, 1, "/start autumn", json!({})));
    let lead = eventually("the lead", || async {
        support::leads(contacts).await.into_iter().next()
    })
    .await;
    assert_eq!(lead.owner_id, "olga", "assigned to an agent staff lists");
    assert_eq!(
        lead.source.as_ref().map(|s| s.campaign.as_str()),
        Some("autumn")
    );
    let entry = eventually("the message on the timeline", || async {
        lead_timeline(activities, &lead.id)
            .await
            .into_iter()
            .find(|e| e.kind == apb::EntryKind::Message as i32)
    })
    .await;

    let mut olga = notifications(notifier, "olga", Role::Agent).await;
    let reply = npb::SendMessageRequest {
        lead_id: lead.id.clone(),
        text: "Добрый день! Чем помочь?".into(),
        reply_to_entry_id: entry.id.clone(),
        ..Default::default()
    };
    let sent = olga.send_message(reply).await.expect("send").into_inner();
    assert_eq!(sent.status, "sent", "{sent:?}");
    let out = bot
        .sent()
        .into_iter()
        .rfind(|m| bot::chat_of(m) == "888")
        .expect("the bot sent it");
    assert_eq!(
        (
            bot::chat_of(&out),
            out["reply_parameters"]["message_id"].as_i64()
        ),
        ("888".to_owned(), Some(1))
    );
    eventually("the answer on the timeline", || async {
        let m = messages(&lead_timeline(activities, &lead.id).await);
        m.iter()
            .any(|(d, c, _)| {
                d.direction == apb::Direction::Outbound as i32 && c == &entry.conversation_id
            })
            .then_some(())
    })
    .await;
    for suite in suites {
        suite.stop().await;
    }
}
