//! The channels in admin, in both ways of running: an admin sees each channel ingest
//! runs — the SIP and HEP listeners, the call webhook, the Telegram bot (the Bot
//! API stand-in), a mailbox whose server is down, a web form — with what came in,
//! what was refused and why, and the last error; and the form as a site must post
//! it. An agent is refused the page.

use serde_json::json;
use support::Person;
use support::bot::{self, BotApi};
use support::browser::Browser;

/// The page's row for the channel labelled `kind`.
fn row<'a>(page: &'a str, kind: &str) -> &'a str {
    page.split("<tr class=\"channel\">")
        .skip(1)
        .map(|row| row.split("</tr>").next().unwrap_or_default())
        .find(|row| row.contains(kind))
        .unwrap_or_else(|| panic!("no row for {kind} in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_how_each_channel_is_doing_and_how_a_form_goes_on_a_site() {
    let bot = BotApi::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let forms = dir.path().join("forms.json");
    let config = json!({
        "contact": {
            "fields": { "comment": "message" },
            "required": ["name"],
            "allowed_origins": ["https://shop.example"],
            "honeypot": "website"
        }
    });
    std::fs::write(&forms, config.to_string()).expect("the forms");
    // Nothing listens there: the mailbox's server is down.
    let mailbox = format!(
        "imap://office%40shop.test:secret@127.0.0.1:{}/INBOX",
        support::spare_port()
    );
    for (chat, services) in [(8101, false), (8102, true)] {
        let ingest = {
            let (url, forms, mailbox) = (bot.url(), forms.clone(), mailbox.clone());
            move |s: &mut ringside::config::Settings, db: &str| {
                s.telegram_bot_token = Some(bot::TOKEN.into());
                s.telegram_api_url = url;
                s.forms = Some(forms);
                s.imap_mailboxes = Some(mailbox);
                s.call_webhook_secret = Some("pbx-secret".into());
                if !db.is_empty() {
                    s.database_url = Some(db.to_owned()); // the IMAP cursors
                }
            }
        };
        let suites = match services {
            false => vec![support::all_in_one_with(move |s| ingest(s, "")).await],
            true => match support::channel_services(ingest, |_| {}).await {
                Some(suites) => suites,
                None => continue,
            },
        };
        let staff = support::staff_suite(&suites);
        let anna = Person {
            role: "admin",
            ..Person::new("anna", "Анна")
        };
        let boris = Person {
            role: "manager",
            ..Person::new("boris", "Борис")
        };
        staff
            .hire(&[anna, boris, Person::new("olga", "Ольга")])
            .await;
        for id in ["anna", "boris", "olga"] {
            staff.set_password(id).await;
        }
        let receiving = (suites.iter())
            .find(|s| s.running.ingest.is_some())
            .expect("a suite running ingest");
        let (http, bound) = (receiving.running.http_addr, receiving.running.ingest);
        let sip = bound.expect("ingest's addresses").sip;
        let pages = support::pages(&suites);
        let (name, addr) = (pages.name, pages.running.http_addr);

        // What comes in: a form from a site it does not allow, and one from the shop;
        // a packet that is not SIP; a forged call event; a client's Telegram message.
        let post = |origin: &'static str| {
            let body = json!({"name": "Анна Клиент", "email": "anna@example.org", "message": "Hi"});
            async move {
                let headers = [("content-type", "application/json"), ("origin", origin)];
                let body = body.to_string();
                support::http(http, "POST", "/forms/contact", &headers, body.as_bytes())
                    .await
                    .0
            }
        };
        assert_eq!(post("https://elsewhere.example").await, 403, "{name}");
        let taken = post("https://shop.example").await;
        assert!(
            (200..300).contains(&taken),
            "{name}: the form is taken: {taken}"
        );
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("udp");
        udp.send_to(b"not a SIP message", sip).await.expect("sent");
        let forged = [
            ("x-ringside-secret", "wrong"),
            ("content-type", "application/json"),
        ];
        let (status, _) = support::http(http, "POST", "/ingest/calls", &forged, b"{}").await;
        assert_eq!(status, 401, "{name}: a forged call event");
        bot.push(BotApi::message(chat, 1, "Здравствуйте", json!({})));

        // Anna reads how each is doing.
        let cookie = support::sign_in_http(addr, "anna").await;
        let page = support::eventually("every channel's news on the page", || async {
            let headers = [("cookie", cookie.as_str())];
            let (status, page) = support::http(addr, "GET", "/admin/channels", &headers, b"").await;
            assert_eq!(status, 200, "{name}: {page}");
            let told = row(&page, "Telegram bot").contains("<td>1</td>")
                && row(&page, "Mailbox").contains("Failing")
                && row(&page, "SIP copies").contains("unreadable (");
            told.then_some(page)
        })
        .await;
        let telegram = row(&page, "Telegram bot");
        assert!(telegram.contains("Working"), "{name}: {telegram}");
        assert!(telegram.contains("(polling)"), "{name}: {telegram}");
        let mail = row(&page, "Mailbox");
        assert!(
            mail.contains("office@shop.test@127.0.0.1"),
            "{name}: {mail}"
        );
        assert!(
            !mail.contains("secret"),
            "{name}: never the password: {mail}"
        );
        assert!(mail.contains("Connection refused"), "{name}: {mail}");
        let form = row(&page, "Web form");
        assert!(form.contains("<td>2</td>"), "{name}: two posts: {form}");
        assert!(form.contains("<td>1<br>"), "{name}: one refused: {form}");
        assert!(form.contains("from a site not allowed"), "{name}: {form}");
        let webhook = row(&page, "Calls from a cloud PBX");
        assert!(webhook.contains("a wrong secret"), "{name}: {webhook}");
        let quiet = row(&page, "HEP copies");
        assert!(quiet.contains("Nothing yet"), "{name}: {quiet}");
        let events = row(&page, "Call events to the bus");
        assert!(
            events.contains("Nothing yet"),
            "{name}: no call yet: {events}"
        );
        // The form as the shop's page must post it.
        let action = format!("action=&#34;http://{addr}/forms/contact&#34;");
        assert!(page.contains(&action), "{name}: {page}");
        assert!(
            page.contains("&#60;textarea name=&#34;message&#34;&#62;"),
            "{name}: the comment's input"
        );
        assert!(page.contains("https://shop.example"), "{name}: the site");

        // In a browser: nothing an assistive technology would trip on.
        if support::browser::present() {
            let browser = Browser::start().await;
            browser
                .sign_in(&format!("http://{addr}/"), "anna", "Анна")
                .await;
            browser.goto(&format!("http://{addr}/admin/channels")).await;
            browser
                .wait_text("#channels", |t| t.contains("Mailbox"))
                .await;
            let violations = browser.accessibility_violations().await;
            assert!(violations.is_empty(), "{name}: {violations:#?}");
            browser.quit().await;
        }

        // Olga, an agent, and Boris, a manager, are refused it.
        for id in ["olga", "boris"] {
            let cookie = support::sign_in_http(addr, id).await;
            let headers = [("cookie", cookie.as_str())];
            let (status, _) = support::http(addr, "GET", "/admin/channels", &headers, b"").await;
            assert_eq!(
                status, 403,
                "{name}: the channels are an admin's, not {id}'s"
            );
        }
        for suite in suites {
            suite.stop().await;
        }
    }
}
