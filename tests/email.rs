//! Email end to end, with real servers: Dovecot as the IMAP server ingest reads and
//! aiosmtpd as the SMTP server replies go out through. A stranger's email becomes one
//! lead, assigned round robin, with the message on its timeline; the agent's reply
//! carries In-Reply-To and References, and the client's answer to it joins the same
//! conversation. Robots (auto-replies, bulk mail) make no lead; unreadable mail is
//! quarantined with its reason and the poller goes on; the MIME webhook checks its
//! secret and refuses what it cannot read.

use std::time::Duration;

use ringside_auth::Role;
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use support::imap::Dovecot;
use support::smtp::Smtp;
use support::{Bearer, Person, Suite, eventually, lead_timeline, messages};

fn mail(from: &str, id: &str, subject: &str, extra: &str, body: &str) -> String {
    let mut head = format!(
        "From: {from}\r\nTo: sales@shop.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0300\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n"
    );
    for line in extra.lines().filter(|l| !l.is_empty()) {
        head.push_str(line);
        head.push_str("\r\n");
    }
    format!("{head}\r\n{body}\r\n")
}

async fn agent(suite: &Suite, id: &str) {
    let name = id.to_uppercase();
    suite.hire(&[Person::new(id, &name)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_email_becomes_one_assigned_lead_and_the_reply_joins_its_thread() {
    let (Some(imap), Some(smtp)) = (Dovecot::start().await, Smtp::start().await) else {
        return;
    };
    let (imap_url, smtp_port) = (imap.url(), smtp.port);
    let suite = support::all_in_one_with(move |s| {
        s.imap_mailboxes = Some(imap_url);
        s.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}"));
        s.email_from = Some("Shop sales <sales@shop.test>".into());
        s.email_max_bytes = 64 << 10;
        s.email_auto_reply = Some("Thank you, we will answer within the hour.".into());
    })
    .await;
    agent(&suite, "olga").await;

    imap.deliver(&[mail(
        "\"Анна Клиент\" <Anna@Example.org>",
        "m1@example.org",
        "Счёт на окна",
        "",
        "Пришлите счёт, пожалуйста.",
    )])
    .await;
    let lead = eventually("the lead", || async {
        support::leads(&suite).await.into_iter().next()
    })
    .await;
    assert_eq!(lead.owner_id, "olga");
    assert_eq!(lead.name, "Анна Клиент");
    assert_eq!(
        lead.source.as_ref().map(|s| s.channel.as_str()),
        Some("email")
    );
    let first = eventually("the email on the timeline", || async {
        messages(&lead_timeline(&suite, &lead.id).await)
            .into_iter()
            .find(|m| m.0.external_id == "m1@example.org")
    })
    .await;
    assert_eq!(first.0.subject, "Счёт на окна");
    assert_eq!(first.0.from, "anna@example.org");
    // A new client's first email is answered automatically, marked as such.
    let ack = eventually("the automatic answer", || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains("Auto-Submitted: auto-replied"))
    })
    .await;
    assert!(
        ack.contains("In-Reply-To: <m1@example.org>") && ack.contains("To: anna@example.org"),
        "{ack}"
    );
    // Under the office's subject, never the client's (a forged sender would make the
    // answer carry any text to anyone).
    assert!(
        ack.contains("Subject: We have your message") && !ack.contains("=?"),
        "{ack}"
    );

    // Olga answers from the CRM: by SMTP, in the thread.
    let token = suite
        .key
        .issue("olga", Role::Agent, Duration::from_secs(600))
        .expect("a token");
    let mut olga =
        NotificationsClient::with_interceptor(suite.channel().await, Bearer(Some(token)));
    let reply = npb::SendMessageRequest {
        lead_id: lead.id.clone(),
        text: "Счёт во вложении к следующему письму.".into(),
        reply_to_entry_id: first.2.clone(),
        ..Default::default()
    };
    let sent = olga.send_message(reply).await.expect("send").into_inner();
    assert_eq!(sent.status, "sent", "{sent:?}");
    let out = eventually("the reply at the SMTP server", || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.contains(&sent.external_id))
    })
    .await;
    assert!(out.contains("To: anna@example.org"), "{out}");
    assert!(out.contains("In-Reply-To: <m1@example.org>"), "{out}");
    assert!(out.contains("References: <m1@example.org>"), "{out}");
    assert!(
        out.contains(&format!("Message-ID: <{}>", sent.external_id)),
        "{out}"
    );
    assert!(
        !out.contains("Auto-Submitted"),
        "a person's reply is not automatic: {out}"
    );

    // Anna answers the reply; an auto-reply from her office and a newsletter follow.
    let references = format!(
        "In-Reply-To: <{}>\nReferences: <m1@example.org> <{}>",
        sent.external_id, sent.external_id
    );
    imap.deliver(&[
        mail(
            "anna@example.org",
            "m2@example.org",
            "Re: Счёт на окна",
            &references,
            "Спасибо!",
        ),
        mail(
            "anna@example.org",
            "ooo@example.org",
            "Out of office",
            "Auto-Submitted: auto-replied",
            "I am away.",
        ),
        mail(
            "news@bulk.example",
            "n1@bulk.example",
            "Скидки",
            "Precedence: bulk\nList-Id: <deals.bulk.example>",
            "Sale!",
        ),
        // A forged From: the receiving server says SPF failed and nothing was signed.
        mail(
            "ceo@bank.example",
            "f1@forged.example",
            "Click http://evil.example",
            "Authentication-Results: mx.shop.test; spf=fail smtp.mailfrom=bank.example; dkim=none",
            "Pay now.",
        ),
    ])
    .await;
    let thread = eventually("five messages on Anna's timeline", || async {
        let m = messages(&lead_timeline(&suite, &lead.id).await);
        (m.len() == 5).then_some(m)
    })
    .await;
    let in_thread = thread.iter().filter(|m| m.1 == first.1).count();
    assert_eq!(
        in_thread, 4,
        "all but the out-of-office answer the thread: {thread:?}"
    );
    let conversation = &first.1;
    let by_id = |id: &str| {
        thread
            .iter()
            .find(|m| m.0.external_id == id)
            .expect(id)
            .clone()
    };
    assert_eq!(
        &by_id("m2@example.org").1,
        conversation,
        "the answer joins the thread"
    );
    assert_eq!(
        &by_id(&sent.external_id).1,
        conversation,
        "so does the reply"
    );
    assert!(by_id("ooo@example.org").0.automatic);
    // The newsletter is recorded, but its sender did not become a lead.
    eventually("the newsletter recorded", || async {
        (suite
            .count("activity_entries WHERE external_key = 'msg:email:n1@bulk.example'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    let leads = eventually("the forged sender's lead", || async {
        let leads = support::leads(&suite).await;
        (leads.len() == 2).then_some(leads)
    })
    .await;
    assert!(
        leads.iter().all(|l| l.name != "news@bulk.example"),
        "robots make no leads: {leads:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        2,
        "one automatic answer, one reply; none to robots, old clients or forged senders"
    );
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_mail_is_quarantined_with_its_reason_and_the_poller_goes_on() {
    let Some(imap) = Dovecot::start().await else {
        return;
    };
    let imap_url = imap.url();
    let suite = support::all_in_one_with(move |s| {
        s.imap_mailboxes = Some(imap_url);
        s.email_max_bytes = 16 << 10;
    })
    .await;
    let big = mail(
        "big@example.org",
        "big@example.org",
        "Фото",
        "",
        &"x".repeat(40 << 10),
    );
    let nobody = "Subject: who am I\r\nMessage-ID: <anon@x>\r\n\r\nno sender\r\n".to_owned();
    let good = mail(
        "fine@example.org",
        "fine@example.org",
        "Вопрос",
        "",
        "Есть в наличии?",
    );
    imap.deliver(&[big, nobody, good]).await;
    eventually("the good message after the bad ones", || async {
        support::leads(&suite)
            .await
            .into_iter()
            .find(|l| l.identities.iter().any(|i| i.value == "fine@example.org"))
    })
    .await;
    let quarantined = eventually("two messages in quarantine", || async {
        let flags = imap.flags("Quarantine").await;
        (flags.len() == 2).then_some(flags)
    })
    .await;
    let all = format!("{quarantined:?}");
    assert!(
        all.contains("$Ringside-oversized") && all.contains("$Ringside-no-sender"),
        "{all}"
    );
    assert_eq!(
        support::leads(&suite).await.len(),
        1,
        "nothing filed from unreadable mail"
    );
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mime_webhook_takes_mail_only_with_its_secret_and_files_each_once() {
    let suite = support::all_in_one_with(|s| {
        s.email_webhook_secret = Some("mail-hook-secret".into());
        s.email_max_bytes = 16 << 10;
    })
    .await;
    let http = suite.running.http_addr;
    let path = "/ingest/email";
    let raw = mail(
        "pavel@example.org",
        "p1@example.org",
        "Заявка",
        "",
        "Нужна консультация",
    );
    for headers in [vec![], vec![("x-ringside-secret", "nope")]] {
        let (status, _) = support::http(http, "POST", path, &headers, raw.as_bytes()).await;
        assert_eq!(status, 401);
    }
    let secret = ("x-ringside-secret", "mail-hook-secret");
    let (status, body) = support::http(
        http,
        "POST",
        path,
        &[secret],
        b"Subject: no sender\r\n\r\nx",
    )
    .await;
    assert_eq!((status, body.contains("no-sender")), (422, true), "{body}");
    let huge = mail(
        "a@example.org",
        "h@example.org",
        "big",
        "",
        &"x".repeat(20 << 10),
    );
    let (status, _) = support::http(http, "POST", path, &[secret], huge.as_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(
        support::leads(&suite).await.len(),
        0,
        "nothing stored from refused mail"
    );
    for _ in 0..2 {
        let (status, body) = support::http(http, "POST", path, &[secret], raw.as_bytes()).await;
        assert_eq!(status, 200, "{body}");
    }
    let lead = eventually("the lead", || async {
        support::leads(&suite).await.into_iter().next()
    })
    .await;
    eventually("the message", || async {
        (!messages(&lead_timeline(&suite, &lead.id).await).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        messages(&lead_timeline(&suite, &lead.id).await).len(),
        1,
        "filed once"
    );
    assert_eq!(support::leads(&suite).await.len(), 1);
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_services_an_email_becomes_an_assigned_lead_and_the_reply_goes_out_by_smtp() {
    let (Some(imap), Some(smtp)) = (Dovecot::start().await, Smtp::start().await) else {
        return;
    };
    let (imap_url, smtp_port) = (imap.url(), smtp.port);
    let Some(suites) = support::channel_services(
        move |s, db_url| {
            s.imap_mailboxes = Some(imap_url);
            s.database_url = Some(db_url.to_owned()); // the IMAP cursors
        },
        move |s| {
            s.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}"));
            s.email_from = Some("Shop sales <sales@shop.test>".into());
        },
    )
    .await
    else {
        return;
    };
    let (contacts, activities, notifier) = (&suites[0], &suites[1], &suites[2]);
    agent(support::staff_suite(&suites), "olga").await;
    imap.deliver(&[mail(
        "boris@example.org",
        "b1@example.org",
        "Доставка",
        "",
        "Когда привезёте?",
    )])
    .await;
    let lead = eventually("the lead", || async {
        support::leads(contacts).await.into_iter().next()
    })
    .await;
    assert_eq!(lead.owner_id, "olga");
    let first = eventually("the email on the timeline", || async {
        messages(&lead_timeline(activities, &lead.id).await)
            .into_iter()
            .next()
    })
    .await;
    let token = notifier
        .key
        .issue("olga", Role::Agent, Duration::from_secs(600))
        .expect("a token");
    let mut olga =
        NotificationsClient::with_interceptor(notifier.channel().await, Bearer(Some(token)));
    let reply = npb::SendMessageRequest {
        lead_id: lead.id.clone(),
        text: "Завтра до обеда.".into(),
        reply_to_entry_id: first.2.clone(),
        ..Default::default()
    };
    let sent = olga.send_message(reply).await.expect("send").into_inner();
    assert_eq!(sent.status, "sent", "{sent:?}");
    let out = eventually("the reply at the SMTP server", || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert!(
        out.contains("In-Reply-To: <b1@example.org>") && out.contains("Subject: Re: "),
        "{out}"
    );
    eventually("the reply in the conversation", || async {
        let m = messages(&lead_timeline(activities, &lead.id).await);
        m.iter()
            .any(|(d, c, _)| d.external_id == sent.external_id && c == &first.1)
            .then_some(())
    })
    .await;
    for suite in suites {
        suite.stop().await;
    }
}
