//! The client page's own work in a real browser, in both ways of running: an agent
//! logs a call made from her mobile, edits her note and reads what it said before
//! (nobody else may edit it); an admin merges a duplicate contact into the client,
//! who takes its email and history, and the duplicate's address leads to him. An agent is offered
//! no merge, and is refused one by address.

use ringside_auth::Role;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use support::Person;
use support::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_logged_by_hand_a_note_edited_and_a_duplicate_merged() {
    if !support::browser::present() {
        return;
    }
    for suites in support::both_ways().await {
        let ivan = support::olga_and_ivan(&suites).await;
        let staff = support::staff_suite(&suites);
        let anna = Person {
            role: "admin",
            ..Person::new("anna", "Анна")
        };
        staff.hire(&[anna]).await;
        staff.set_password("anna").await;
        // The same man again, written down another day with his email.
        let twin = cpb::CreateContactRequest {
            name: "Иван Петров".into(),
            owner_id: "olga".into(),
            identities: vec![cpb::Identity {
                kind: cpb::IdentityKind::Email as i32,
                value: "ivan.petrov@example.org".into(),
            }],
            ..Default::default()
        };
        let mut contacts = suites[0].client().await;
        let twin = contacts
            .create_contact(twin)
            .await
            .expect("the twin")
            .into_inner();
        let activities = (suites.iter())
            .find(|s| (s.running.grpc_services).contains(&"ringside.activities.v1.Activities"))
            .expect("a suite serving activities");
        let mut olga_api = activities.activities_member("olga", Role::Agent, &[]).await;
        let on_twin = apb::AddNoteRequest {
            links: Some(apb::Links {
                contact_id: twin.id.clone(),
                ..Default::default()
            }),
            text: "Записан с выставки".into(),
        };
        olga_api
            .add_note(on_twin)
            .await
            .expect("a note on the twin");
        let pages = support::pages(&suites);
        let (name, addr) = (pages.name, pages.running.http_addr);
        let base = format!("http://{addr}");
        let page = format!("{base}/contacts/{}", ivan.id);
        let browser = Browser::start().await;
        browser.resize(1400, 900).await;
        browser.sign_in(&format!("{base}/"), "olga", "Ольга").await;
        browser.goto(&page).await;
        browser
            .wait_text("#client-name", |t| t == "Иван Петров")
            .await;
        assert!(
            browser.find("#merge").await.is_none(),
            "{name}: an agent merges nothing"
        );

        // A call from her mobile: she rang him, they spoke seven minutes.
        browser.click("#log-call summary").await;
        browser.type_into("#call-minutes", "7").await;
        browser.type_into("#call-note", "Обсудили скидку").await;
        browser.click("#log-call-save").await;
        let call = browser
            .wait_text("#timeline .entry.call", |t| t.contains("Обсудили скидку"))
            .await;
        assert!(
            call.contains("Outbound call, answered, 7 min 00 s"),
            "{name}: {call}"
        );

        // Her note, then a better one; the first words stay in its history.
        browser
            .type_into("#note-text", "Перезвонить в пятницу")
            .await;
        browser.click("#add-note").await;
        browser
            .wait_text("#timeline .entry.note", |t| {
                t.contains("Перезвонить в пятницу")
            })
            .await;
        browser
            .click("#timeline .entry.note .note-edit summary")
            .await;
        let edit = "const t = document.querySelector('#timeline .entry.note .note-edit textarea'); \
                    t.value = 'Перезвонить в понедельник'; t.form.requestSubmit(); return 1";
        browser.execute(edit, serde_json::json!([])).await;
        browser
            .wait_text("#timeline .entry.note", |t| t.contains("в понедельник"))
            .await;
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} client: {violations:#?}");
        browser.click("#timeline .entry.note a.edited").await;
        let history = browser
            .wait_text("#revisions", |t| t.contains("Перезвонить в пятницу"))
            .await;
        assert!(history.contains("replaced by you"), "{name}: {history}");
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} history: {violations:#?}");
        browser.quit().await;

        // Anna reads the note but may not change it; an agent may not merge.
        let notes = apb::TimelineRequest {
            subject: Some(apb::Subject {
                subject: Some(apb::subject::Subject::ContactId(ivan.id.clone())),
            }),
            kinds: vec![apb::EntryKind::Note as i32],
            ..Default::default()
        };
        let found = olga_api
            .timeline(notes)
            .await
            .expect("the timeline")
            .into_inner();
        let note = &found.entries.first().expect("Olga's note").id;
        let form = ("content-type", "application/x-www-form-urlencoded");
        let anna_cookie = support::sign_in_http(addr, "anna").await;
        let (_, seen) = support::http(
            addr,
            "GET",
            &format!("/contacts/{}", ivan.id),
            &[("cookie", &anna_cookie)],
            b"",
        )
        .await;
        assert!(!seen.contains("note-edit"), "{name}: only the author edits");
        let headers = [("cookie", anna_cookie.as_str()), form];
        let path = format!("/notes/{note}/edit");
        let (status, _) = support::http(addr, "POST", &path, &headers, b"text=mine+now").await;
        assert_eq!(status, 403, "{name}: another's note");
        let olga_cookie = support::sign_in_http(addr, "olga").await;
        let headers = [("cookie", olga_cookie.as_str()), form];
        // A call that would end in the future is refused; what she typed stays.
        let path = format!("/contacts/{}/calls", ivan.id);
        let future = "direction=in&outcome=answered&started=2099-01-01T10%3A00&offset=180&minutes=5&note=%D0%91%D1%83%D0%B4%D1%83%D1%89%D0%B5%D0%B5";
        let (status, said) = support::http(addr, "POST", &path, &headers, future.as_bytes()).await;
        assert_eq!(status, 400, "{name}");
        assert!(
            said.contains(">Будущее</textarea>"),
            "{name}: the note typed stays"
        );
        assert!(
            said.contains("value=\"2099-01-01T10:00\""),
            "{name}: the time typed stays"
        );
        let body = format!("merged_id={}", twin.id);
        let path = format!("/contacts/{}/merge", ivan.id);
        let (status, _) = support::http(addr, "POST", &path, &headers, body.as_bytes()).await;
        assert_eq!(status, 403, "{name}: an agent may not merge");

        // Anna merges the twin into Ivan: his email and history come along.
        let browser = Browser::start().await;
        browser.resize(1400, 900).await;
        browser.sign_in(&format!("{base}/"), "anna", "Анна").await;
        browser.goto(&page).await;
        browser
            .wait_text("#client-name", |t| t == "Иван Петров")
            .await;
        browser.click("#merge summary").await;
        browser.click("#merge-find").await;
        let matches = browser.wait_text("#merge-matches", |t| !t.is_empty()).await;
        assert!(
            matches.contains("ivan.petrov@example.org"),
            "{name}: {matches}"
        );
        assert!(
            !matches.contains(support::pbx::CALLER),
            "{name}: not himself: {matches}"
        );
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} merge: {violations:#?}");
        // The page asks to be sure first (it cannot be undone): yes.
        let sure = "window.confirm = () => true; return 1";
        browser.execute(sure, serde_json::json!([])).await;
        browser.click("#merge-matches .merge-it").await;
        browser
            .wait_text(".identities", |t| t.contains("ivan.petrov@example.org"))
            .await;
        browser
            .wait_text("#timeline", |t| t.contains("Записан с выставки"))
            .await;
        // The twin's old address leads to Ivan now.
        browser.goto(&format!("{base}/contacts/{}", twin.id)).await;
        let path = "return location.pathname";
        let landed = browser.execute(path, serde_json::json!([])).await;
        assert_eq!(landed, format!("/contacts/{}", ivan.id), "{name}");
        browser.quit().await;
        for suite in suites {
            suite.stop().await;
        }
    }
}

/// The suite serving `service` (its full gRPC name).
fn serving<'a>(suites: &'a [support::Suite], service: &str) -> &'a support::Suite {
    (suites.iter())
        .find(|s| s.running.grpc_services.contains(&service))
        .unwrap_or_else(|| panic!("a suite serving {service}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_is_found_and_its_page_shows_its_people_deals_and_history() {
    if !support::browser::present() {
        return;
    }
    for suites in support::both_ways().await {
        support::olga_and_ivan(&suites).await;
        let staff = support::staff_suite(&suites);
        staff.hire(&[Person::new("ivan", "Иван")]).await;
        let mut contacts = suites[0].client().await;
        let company = cpb::CreateCompanyRequest {
            name: "ООО Ромашка".into(),
            owner_id: "olga".into(),
        };
        let company = contacts
            .create_company(company)
            .await
            .expect("a company")
            .into_inner();
        let petr = cpb::CreateContactRequest {
            name: "Пётр Сидоров".into(),
            owner_id: "olga".into(),
            company_id: company.id.clone(),
            ..Default::default()
        };
        let petr = contacts
            .create_contact(petr)
            .await
            .expect("Petr")
            .into_inner();
        let deals = serving(&suites, "ringside.deals.v1.Deals");
        let mut olga_deals = deals.deals("olga").await;
        let deal = ringside_proto::deals::v1::CreateDealRequest {
            title: "Поставка ромашек".into(),
            company_id: company.id.clone(),
            amount_minor: 1_500_000,
            currency: "RUB".into(),
            ..Default::default()
        };
        olga_deals.create_deal(deal).await.expect("a deal");
        let activities = serving(&suites, "ringside.activities.v1.Activities");
        let mut olga_api = activities.activities_member("olga", Role::Agent, &[]).await;
        let note = apb::AddNoteRequest {
            links: Some(apb::Links {
                company_id: company.id.clone(),
                ..Default::default()
            }),
            text: "Закупают к весне".into(),
        };
        olga_api
            .add_note(note)
            .await
            .expect("a note on the company");
        let pages = support::pages(&suites);
        let (name, addr) = (pages.name, pages.running.http_addr);
        let base = format!("http://{addr}");
        let browser = Browser::start().await;
        browser.resize(1400, 900).await;
        browser.sign_in(&format!("{base}/"), "olga", "Ольга").await;
        browser.goto(&format!("{base}/search")).await;
        browser.type_into("#q", "Ромашка\u{E007}").await;
        browser
            .wait_text("#companies", |t| t.contains("ООО Ромашка"))
            .await;
        browser.click("#companies a").await;
        browser
            .wait_text("#company-name", |t| t == "ООО Ромашка")
            .await;
        browser
            .wait_text("#people", |t| t.contains("Пётр Сидоров"))
            .await;
        browser
            .wait_text("#deals", |t| t.contains("Поставка ромашек"))
            .await;
        browser
            .wait_text("#timeline", |t| t.contains("Закупают к весне"))
            .await;
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} company: {violations:#?}");
        // A call with the company's office and a note, filed on the company itself.
        browser.click("#log-call summary").await;
        browser.type_into("#call-minutes", "3").await;
        browser
            .type_into("#call-note", "Секретарь обещала передать")
            .await;
        browser.click("#log-call-save").await;
        let call = browser
            .wait_text("#timeline .entry.call", |t| t.contains("обещала передать"))
            .await;
        assert!(
            call.contains("Outbound call, answered, 3 min 00 s"),
            "{name}: {call}"
        );
        browser.type_into("#note-text", "Счёт на предоплату").await;
        browser.click("#add-note").await;
        browser
            .wait_text("#timeline .entry.note", |t| {
                t.contains("Счёт на предоплату")
            })
            .await;
        let here = browser
            .execute("return location.pathname", serde_json::json!([]))
            .await;
        assert_eq!(
            here,
            format!("/companies/{}", company.id),
            "{name}: still the company's page"
        );
        // A call too long to be one is said, with what was typed, and nothing is filed.
        let cookie = support::sign_in_http(addr, "olga").await;
        let form = [
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let calls = format!("/companies/{}/calls", company.id);
        let body =
            b"direction=out&outcome=answered&minutes=9999&note=%D0%94%D0%BE%D0%BB%D0%B3%D0%BE";
        let (status, said) = support::http(addr, "POST", &calls, &form, body).await;
        assert_eq!(status, 400, "{name}");
        assert!(
            said.contains("ООО Ромашка") && said.contains(">Долго</textarea>"),
            "{name}: {said}"
        );
        browser.click("#people a").await;
        browser
            .wait_text("#client-name", |t| t == "Пётр Сидоров")
            .await;
        let company_link = browser
            .wait_text("#client-company", |t| !t.is_empty())
            .await;
        assert_eq!(company_link, "ООО Ромашка", "{name}: {}", petr.id);
        browser.quit().await;

        // Ivan, another agent: the company is not his to see.
        staff.set_password("ivan").await;
        let cookie = support::sign_in_http(addr, "ivan").await;
        let path = format!("/companies/{}", company.id);
        let (status, _) = support::http(addr, "GET", &path, &[("cookie", &cookie)], b"").await;
        assert_eq!(status, 404, "{name}: another agent's company");
        for suite in suites {
            suite.stop().await;
        }
    }
}
