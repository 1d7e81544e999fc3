//! The inbox in a real browser, in both ways of running, with Telegram's Bot API
//! stood in for and a real PBX (SIPp through Kamailio), as an agent's day: she sees
//! a client's message arrive without reloading and answers it in the chat it came
//! from, starting from the office's canned answer; a call rings into the call bar
//! while she is there, and she opens the caller and wraps the call up; the
//! Telegram lead becomes a contact and a deal; she cannot give the client away, and
//! an admin then gives them to a colleague. A web form's request waits there too
//! and is answered by email.

use ringside_auth::Role;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use serde_json::json;
use support::bot::{self, BotApi};
use support::browser::Browser;
use support::pbx::{Mirror, Pbx};
use support::{Person, Suite};

/// The suites with Telegram at `bot`: the all-in-one (`services` false), or the
/// services with ingest polling the bot and notifications sending through it.
async fn with_telegram(bot: &BotApi, services: bool) -> Option<Vec<Suite>> {
    if services {
        return bot::services(bot).await;
    }
    let url = bot.url();
    let suite = support::all_in_one_with(move |s| {
        s.telegram_bot_token = Some(bot::TOKEN.into());
        s.telegram_api_url = url;
    })
    .await;
    Some(vec![suite])
}

/// An agent's day in one browser, in both ways of running: a Telegram client's
/// message is answered from the inbox; a call through the PBX pops the card there,
/// she opens the client from it and wraps the call up (outcome, note, follow-up);
/// the Telegram lead becomes a contact and a deal. She cannot give the client away;
/// an admin then gives them to a colleague.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_day_in_the_browser() {
    if !support::browser::present() || !support::pbx::tools_present() {
        return;
    }
    let bot = BotApi::start().await;
    for (chat, services) in [(7001, false), (7002, true)] {
        let Some(suites) = with_telegram(&bot, services).await else {
            continue;
        };
        support::olga_and_ivan(&suites).await;
        let staff = support::staff_suite(&suites);
        let marina = Person {
            role: "admin",
            ..Person::new("marina", "Марина")
        };
        staff.hire(&[marina, Person::new("petr", "Пётр")]).await;
        staff.set_password("marina").await;
        canned_greeting(&suites).await;
        let pages = support::pages(&suites);
        let (name, base) = (pages.name, format!("http://{}", pages.running.http_addr));
        let browser = Browser::start().await;
        browser.resize(1400, 900).await;
        browser.sign_in(&format!("{base}/"), "olga", "Ольга").await;
        let opened = answer_in_the_inbox(&browser, &bot, &base, chat, name).await;
        a_call_wrapped_up(&suites, &browser, name).await;
        convert_the_lead(&browser, &base, &opened, name).await;
        browser.quit().await;
        give_away(&suites, &base, &opened, name).await;
        for suite in suites {
            suite.stop().await;
        }
    }
}

/// The office's canned greeting, which names the client.
async fn canned_greeting(suites: &[Suite]) {
    let activities = (suites.iter())
        .find(|s| (s.running.grpc_services).contains(&"ringside.activities.v1.Activities"))
        .expect("a suite serving activities");
    let mut office = activities
        .activities_member("marina", Role::Admin, &[])
        .await;
    let canned = apb::SaveReplyRequest {
        title: "Приветствие".into(),
        text: "Здравствуйте, {имя}!".into(),
        ..Default::default()
    };
    office.save_reply(canned).await.expect("a canned answer");
}

/// A stranger writes on Telegram; Olga sees it arrive in her inbox and answers from
/// the canned greeting. Gives the conversation's address.
async fn answer_in_the_inbox(
    browser: &Browser,
    bot: &BotApi,
    base: &str,
    chat: i64,
    name: &str,
) -> String {
    browser.goto(&format!("{base}/inbox")).await;
    browser.wait_text("#inbox-empty", |t| !t.is_empty()).await;
    // The lead is Olga's, and the list shows it by itself.
    bot.push(BotApi::message(
        chat,
        1,
        "Есть доставка в Казань?",
        json!({}),
    ));
    browser
        .wait_text("#inbox-list", |t| t.contains("Есть доставка в Казань?"))
        .await;
    assert!(
        browser.find("#inbox-list .badge").await.is_some(),
        "{name}: marked as waiting"
    );
    browser.click("#inbox-list a").await;
    browser
        .wait_text("#thread", |t| t.contains("Есть доставка в Казань?"))
        .await;
    let opened = browser.execute("return location.pathname", json!([])).await;
    let opened = opened.as_str().unwrap_or_default().to_owned();
    assert!(
        opened.starts_with("/inbox/"),
        "{name}: its own address: {opened}"
    );
    let owner = browser.wait_text("#panel-owner", |t| !t.is_empty()).await;
    assert_eq!(owner, "you", "{name}: the new lead went to the only agent");
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");

    // The canned answer goes in first (by the page's script, where the cursor is),
    // then Olga writes on.
    browser.click("#canned-insert").await;
    let value = "return document.getElementById('reply-text').value";
    let typed = browser.execute(value, json!([])).await;
    assert_eq!(
        typed, "Здравствуйте, Анна Клиент!",
        "{name}: the canned answer is in, with the client's name"
    );
    browser
        .type_into("#reply-text", " Да, доставим за два дня.")
        .await;
    browser.click("#reply-send").await;
    browser.wait_text(".notice.ok", |t| t == "Sent.").await;
    let out = bot
        .sent()
        .into_iter()
        .rfind(|m| bot::chat_of(m) == chat.to_string())
        .unwrap_or_else(|| panic!("{name}: nothing went to the chat"));
    assert_eq!(
        out["text"], "Здравствуйте, Анна Клиент! Да, доставим за два дня.",
        "{name}"
    );
    assert_eq!(out["reply_parameters"]["message_id"], 1, "{name}");
    // Recorded, the answer shows in the thread and the wait is over.
    browser
        .wait_text("#thread .ours", |t| t.contains("Да, доставим за два дня."))
        .await;
    browser
        .wait_text("#inbox-list", |t| t.contains("No conversations here."))
        .await;
    browser.click(".tabs a[href='/inbox?show=mine']").await;
    let mine = browser
        .wait_text("#inbox-list", |t| t.contains("Анна Клиент"))
        .await;
    assert!(
        mine.contains("Our answer: Здравствуйте, Анна Клиент! Да, доставим за два дня."),
        "{name}: {mine}"
    );
    assert!(
        browser.find("#inbox-list .badge").await.is_none(),
        "{name}: answered, nothing waits"
    );
    opened
}

/// Ivan calls the office while Olga is in the inbox: the card pops there, she
/// answers at 101, opens Ivan's page from the card, which comes along, and wraps the
/// call up there; his page, loaded again, shows what she said and the follow-up.
async fn a_call_wrapped_up(suites: &[Suite], browser: &Browser, name: &str) {
    let ingest = suites.iter().rfind(|s| s.running.ingest.is_some());
    let pbx = Pbx::start(ingest.expect("a suite with ingest"), Mirror::RawSip);
    let _phone = pbx.phone("101", "uas_answer.xml", &[]);
    pbx.call("+74951234567", "uac_answer.xml", &["-d", "1000"]);
    browser
        .wait_text(".card.closed .name", |t| t == "Иван Петров")
        .await;
    let path = browser.execute("return location.pathname", json!([])).await;
    assert_eq!(path, "/inbox", "{name}: still in the inbox");
    browser.click(".card .open-client").await;
    browser
        .wait_text("#client-name", |t| t == "Иван Петров")
        .await;
    browser
        .wait_text(".card.closed .name", |t| t == "Иван Петров")
        .await;
    browser.type_into(".card .outcome", "Счёт до пятницы").await;
    browser
        .type_into(".card .note", "Просит счёт на 20 лицензий")
        .await;
    browser
        .follow_up(".card", "Выставить счёт", "2031-01-10T09:00")
        .await;
    let here = browser.execute("return location.href", json!([])).await;
    let here = here.as_str().unwrap_or_default().to_owned();
    let page = support::eventually("the wrap-up on the client's page", || async {
        browser.goto(&here).await;
        let page = browser.wait_text("main", |t| !t.is_empty()).await;
        (page.contains("Outcome: Счёт до пятницы") && page.contains("Просит счёт на 20 лицензий"))
            .then_some(page)
    })
    .await;
    let tasks = browser.wait_text("#tasks", |t| !t.is_empty()).await;
    assert!(tasks.contains("Выставить счёт"), "{name}: {tasks}");
    assert!(page.contains("answered at 101"), "{name}: {page}");
}

/// The Telegram lead becomes a contact with a deal written the local way, from the
/// lead's page reached from the conversation; the lead offers no second conversion.
async fn convert_the_lead(browser: &Browser, base: &str, opened: &str, name: &str) {
    browser.goto(&format!("{base}{opened}")).await;
    browser.click("#panel-client").await;
    browser
        .wait_text("#client-name", |t| t == "Анна Клиент")
        .await;
    let lead = browser.execute("return location.pathname", json!([])).await;
    let lead = lead.as_str().unwrap_or_default().to_owned();
    assert!(lead.starts_with("/leads/"), "{name}: {lead}");
    browser.click("#convert summary").await;
    browser.type_into("#deal-title", "Доставка в Казань").await;
    browser.type_into("#deal-amount", "1 500,50").await;
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    browser.click("#convert-button").await;
    browser
        .wait_text(".record .muted", |t| t.starts_with("Contact"))
        .await;
    // Deals opens the deal when it hears of the conversion: the page shows it once
    // it has.
    let contact = browser.execute("return location.href", json!([])).await;
    let contact = contact.as_str().unwrap_or_default().to_owned();
    let deals = support::eventually("the deal on the contact's page", || async {
        browser.goto(&contact).await;
        browser
            .wait_text("#client-name", |t| t == "Анна Клиент")
            .await;
        let deals = "const d = document.getElementById('deals'); return d ? d.textContent : ''";
        let deals = browser.execute(deals, json!([])).await;
        let deals = deals.as_str().unwrap_or_default().to_owned();
        deals.contains("Доставка в Казань").then_some(deals)
    })
    .await;
    assert!(deals.contains("1,500.50"), "{name}: {deals}");
    browser.goto(&format!("{base}{lead}")).await;
    browser
        .wait_text("#client-name", |t| t == "Анна Клиент")
        .await;
    assert!(
        browser.find("#convert").await.is_none(),
        "{name}: converted once"
    );
}

/// Olga, an agent, may not give her client away, even by posting the form; Marina,
/// an admin, gives them to Petr from the conversation.
async fn give_away(suites: &[Suite], base: &str, opened: &str, name: &str) {
    let addr = support::pages(suites).running.http_addr;
    let cookie = support::sign_in_http(addr, "olga").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let give = format!("{opened}/give");
    let (status, _) = support::http(addr, "POST", &give, &headers, b"to=petr&was=olga").await;
    assert_eq!(status, 403, "{name}: an agent gives nobody away");

    let browser = Browser::start().await;
    browser.resize(1400, 900).await;
    browser
        .sign_in(&format!("{base}/"), "marina", "Марина")
        .await;
    browser.goto(&format!("{base}{opened}")).await;
    browser.wait_text("#panel-owner", |t| t == "Ольга").await;
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{name} giving: {violations:#?}");
    // Chosen and sent in one step: a live refresh between two would put the choice
    // back.
    let give = "document.getElementById('give-to').value = 'petr'; \
                document.getElementById('give-form').requestSubmit(); return 1";
    browser.execute(give, json!([])).await;
    browser.wait_text("#panel-owner", |t| t == "Пётр").await;
    let mut contacts = suites[0].client().await;
    let asked = cpb::ListContactsRequest {
        query: "Анна Клиент".into(),
        ..Default::default()
    };
    let found = (contacts.list_contacts(asked).await)
        .expect("contacts")
        .into_inner();
    let owners: Vec<&str> = found.contacts.iter().map(|c| c.owner_id.as_str()).collect();
    assert_eq!(owners, ["petr"], "{name}: the client is Petr's now");
    browser.quit().await;
}

/// A web form's request waits in the inbox like a message; the agent answers it
/// there, the answer goes by email to the address the form gave (aiosmtpd receives
/// it), is filed with the request, and the wait is over. All-in-one (the services'
/// way runs the same code in each service: activities files, notifications sends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_request_waits_in_the_inbox_and_is_answered_by_email() {
    let Some(smtp) = support::smtp::Smtp::start().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let forms = dir.path().join("forms.json");
    let config = json!({
        "contact": {
            "fields": { "comment": "message" },
            "allowed_origins": ["https://shop.example"]
        }
    });
    std::fs::write(&forms, config.to_string()).expect("the forms");
    let port = smtp.port;
    let suite = support::all_in_one_with(move |s| {
        s.forms = Some(forms);
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.email_from = Some("Shop sales <sales@shop.test>".into());
    })
    .await;
    let suites = vec![suite];
    support::olga_and_ivan(&suites).await;
    let addr = suites[0].running.http_addr;
    let posted = json!({
        "name": "Анна Клиент",
        "email": "anna@example.org",
        "message": "Do you deliver to Kazan?"
    });
    let script = [
        ("content-type", "application/json"),
        ("origin", "https://shop.example"),
    ];
    let body = posted.to_string();
    let (status, _) = support::http(addr, "POST", "/forms/contact", &script, body.as_bytes()).await;
    assert!((200..300).contains(&status), "the form is taken: {status}");

    // Olga's inbox lists the request as waiting; its thread shows what was asked.
    let cookie = support::sign_in_http(addr, "olga").await;
    let page = |path: String| {
        let cookie = cookie.clone();
        async move {
            support::http(addr, "GET", &path, &[("cookie", &cookie)], b"")
                .await
                .1
        }
    };
    let list = support::eventually("the request in the inbox", || async {
        let list = page("/inbox".into()).await;
        list.contains("Do you deliver to Kazan?").then_some(list)
    })
    .await;
    let id = list
        .split("href=\"/inbox/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .expect("the conversation's address")
        .to_owned();
    let thread = page(format!("/inbox/{id}")).await;
    assert!(thread.contains("Do you deliver to Kazan?"), "{thread}");
    assert!(thread.contains("by email"), "answered by email: {thread}");

    let form = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let answer = b"text=Yes%2C+within+two+days.&show=waiting";
    let path = format!("/inbox/{id}/reply");
    let (status, _) = support::http(addr, "POST", &path, &form, answer).await;
    assert_eq!(status, 303, "sent");
    let mail = support::eventually("the answer by email", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(mail.contains("anna@example.org"), "{mail}");
    assert!(mail.contains("Re: contact"), "{mail}");
    assert!(mail.contains("Yes, within two days."), "{mail}");
    // Filed with the request, and nothing waits any more.
    support::eventually("the answer in the thread", || async {
        let thread = page(format!("/inbox/{id}")).await;
        thread.contains("Yes, within two days.").then_some(())
    })
    .await;
    let waiting = page("/inbox?show=waiting".into()).await;
    assert!(!waiting.contains("Do you deliver to Kazan?"), "{waiting}");
    for suite in suites {
        suite.stop().await;
    }
}

/// Whatever comes within a second, read and left.
async fn drain(ws: &mut support::socket::Ws) {
    use futures::StreamExt;
    let quiet = tokio::time::sleep(std::time::Duration::from_secs(1));
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            _ = &mut quiet => return,
            _ = ws.next() => {}
        }
    }
}

/// No `inbox` frame comes for a second (other frames may).
async fn no_inbox_frame(ws: &mut support::socket::Ws, who: &str) {
    use futures::StreamExt;
    let quiet = tokio::time::sleep(std::time::Duration::from_secs(1));
    tokio::pin!(quiet);
    loop {
        tokio::select! {
            _ = &mut quiet => return,
            frame = ws.next() => {
                let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = frame else {
                    continue;
                };
                let frame: serde_json::Value = serde_json::from_str(&text).expect("json");
                assert_ne!(frame["type"], "inbox", "{who} hears of a client they do not see");
            }
        }
    }
}

/// A client's message is pushed, live, to whoever sees the client — their agent,
/// the manager of the agent's team, an admin — and not to the manager of another
/// team; when an admin gives the client to another agent, the agent who had them
/// hears of it as well as the one who has them now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_whoever_sees_the_client_and_a_given_client_both_agents() {
    use support::socket::{self, next_where};
    let bot = BotApi::start().await;
    for (chat, services) in [(7101, false), (7102, true)] {
        let Some(suites) = with_telegram(&bot, services).await else {
            continue;
        };
        let staff = support::staff_suite(&suites);
        staff.form_team("sales", &[]).await;
        staff.form_team("north", &[]).await;
        let in_team = |id, name, role, teams| Person {
            role,
            teams,
            ..Person::new(id, name)
        };
        staff
            .hire(&[
                in_team("olga", "Ольга", "agent", &["sales"]),
                in_team("petr", "Пётр", "agent", &["sales"]),
                in_team("marina", "Марина", "manager", &["sales"]),
                in_team("boris", "Борис", "manager", &["north"]),
                in_team("anna", "Анна", "admin", &[]),
            ])
            .await;
        let notifications = suites.get(2).unwrap_or(&suites[0]);
        let name = notifications.name;
        let open = async |user: &str, role: Role, teams: &[&str]| {
            let token = notifications.member_token(user, role, teams);
            let bearer = format!("Bearer {token}");
            let addr = notifications.running.http_addr;
            socket::open(addr, &[("authorization", &bearer)])
                .await
                .expect("a socket")
        };
        let olga = open("olga", Role::Agent, &["sales"]).await;
        let petr = open("petr", Role::Agent, &["sales"]).await;
        let mut marina = open("marina", Role::Manager, &["sales"]).await;
        let mut boris = open("boris", Role::Manager, &["north"]).await;
        let mut anna = open("anna", Role::Admin, &[]).await;

        bot.push(BotApi::message(chat, 1, "Нужна консультация", json!({})));
        let lead = support::eventually("the lead", || async {
            let leads = support::leads(&suites[0]).await;
            leads.into_iter().find(|l| !l.owner_id.is_empty())
        })
        .await;
        let (mut owner, mut other, next) = match lead.owner_id.as_str() {
            "olga" => (olga, petr, "petr"),
            _ => (petr, olga, "olga"),
        };
        let inbox = |_: &serde_json::Value| true;
        let seen = next_where(&mut owner, "inbox", inbox).await;
        let conversation = seen["conversation_id"].clone();
        // The message may be filed before activities hears whose the new lead is
        // (the two events come from two services): until then the client is
        // nobody's, which everyone sees. Once it knows, the next message goes only
        // to those who see the client.
        let activities = (suites.iter())
            .find(|s| (s.running.grpc_services).contains(&"ringside.activities.v1.Activities"))
            .expect("a suite serving activities");
        let office = activities.activities_member("anna", Role::Admin, &[]).await;
        let id = conversation.as_str().expect("an id").to_owned();
        support::eventually("the conversation's owner", || async {
            let asked = apb::GetConversationRequest { id: id.clone() };
            let c = office
                .clone()
                .get_conversation(asked)
                .await
                .ok()?
                .into_inner();
            (c.owner_id == lead.owner_id).then_some(())
        })
        .await;
        drain(&mut boris).await;
        drain(&mut other).await;
        bot.push(BotApi::message(chat, 2, "Вы здесь?", json!({})));
        for (ws, who) in [
            (&mut owner, "the agent"),
            (&mut marina, "marina"),
            (&mut anna, "anna"),
        ] {
            let got = next_where(ws, "inbox", |f| f["conversation_id"] == conversation).await;
            assert_eq!(got["conversation_id"], conversation, "{name}: {who}");
        }
        no_inbox_frame(&mut boris, "boris").await;
        no_inbox_frame(&mut other, "the other agent").await;

        // Anna gives the client to the other agent: both agents' inboxes catch up.
        let give = cpb::AssignLeadRequest {
            id: lead.id.clone(),
            owner_id: next.into(),
            expected_owner_id: Some(lead.owner_id.clone()),
        };
        suites[0]
            .client()
            .await
            .assign_lead(give)
            .await
            .expect("given");
        for (ws, who) in [
            (&mut owner, "the agent before"),
            (&mut other, "the agent now"),
        ] {
            let got = next_where(ws, "inbox", |f| f["conversation_id"] == conversation).await;
            assert_eq!(got["conversation_id"], conversation, "{name}: {who}");
        }
        no_inbox_frame(&mut boris, "boris").await;
        drop((owner, other, marina, boris, anna));
        for suite in suites {
            suite.stop().await;
        }
    }
}
