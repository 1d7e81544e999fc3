//! The workspace in a real browser (headless Chromium), in both ways of running: the
//! language a person picks, the phone-width layout, what the pages load and how, and
//! the accessibility check on each screen.

use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use support::browser::Browser;
use support::{PASSWORD, Person, Suite, login_of};

/// Olga, an agent with the tests' password.
async fn olga(suites: &[Suite]) {
    let staff = support::staff_suite(suites);
    staff.hire(&[Person::new("olga", "Ольга")]).await;
    staff.set_password("olga").await;
}

/// Latin words left on a Russian page, besides the product's name, the other
/// language's own name and the keys as keyboards print them.
fn english_in(words: &str) -> Vec<String> {
    let allowed = ["Ringside", "English", "Ctrl"];
    words
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() > 1 && !allowed.contains(w))
        .map(str::to_owned)
        .collect()
}

#[test]
fn english_is_found_and_the_allowed_names_are_not() {
    assert_eq!(
        english_in("Вход — Ringside\nЛогин (почта)"),
        Vec::<String>::new()
    );
    assert_eq!(english_in("Войти: Sign in"), ["Sign", "in"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_switches_to_russian_and_no_english_is_left_on_any_width() {
    if !support::browser::present() {
        return;
    }
    for suites in support::both_ways().await {
        olga(&suites).await;
        let pages = support::pages(&suites);
        let (name, base) = (pages.name, format!("http://{}", pages.running.http_addr));
        let browser = Browser::start().await;
        browser.goto(&format!("{base}/signin")).await;
        browser.wait_text("h1", |t| t == "Sign in").await;
        browser.click("#language").await;
        browser.wait_text("h1", |t| t == "Вход").await;
        let mut found = Vec::new();
        found.extend(english_in(&browser.words().await));
        browser.type_into("#login", &login_of("olga")).await;
        browser.type_into("#password", "not the password").await;
        browser.click("#signin-button").await;
        browser
            .wait_text(".notice", |t| t == "неверный логин или пароль")
            .await;
        found.extend(english_in(&browser.words().await));

        browser.type_into("#login", &login_of("olga")).await;
        browser.type_into("#password", PASSWORD).await;
        browser.click("#signin-button").await;
        browser.wait_text("#user-menu", |t| t == "Ольга").await;
        browser
            .wait_text("#call-bar.online #status", |t| t == "на связи")
            .await;
        browser.click("#user-menu").await;
        browser.wait_text("#signout", |t| t == "Выйти").await;
        found.extend(english_in(&browser.words().await));
        browser.click("#show-shortcuts").await;
        browser
            .wait_text("#shortcuts dd", |t| t == "найти клиента")
            .await;
        found.extend(english_in(&browser.words().await));
        browser.goto(&format!("{base}/search")).await;
        browser.type_into("#search-q", "Никого такого нет").await;
        browser.click("#search-button").await;
        browser.wait_text("#nothing-found", |t| !t.is_empty()).await;
        found.extend(english_in(&browser.words().await));
        browser
            .goto(&format!("{base}/contacts/no-such-client"))
            .await;
        browser.wait_text("h1", |t| t == "Не найдено").await;
        found.extend(english_in(&browser.words().await));
        assert!(found.is_empty(), "{name}: untranslated {found:?}");
        let lang = browser
            .execute(
                "return document.documentElement.lang",
                serde_json::json!([]),
            )
            .await;
        assert_eq!(lang, "ru", "{name}");
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name}: {violations:#?}");

        // A phone: the call bar goes above the page, nothing scrolls sideways.
        browser.resize(390, 844).await;
        browser.goto(&format!("{base}/")).await;
        browser.wait_text("h1", |t| t == "Мой день").await;
        assert!(!browser.scrolls_sideways().await, "{name}: the home page");
        browser.click("#user-menu").await;
        browser.click("#signout").await;
        browser.wait_text("h1", |t| t == "Вход").await;
        assert!(
            !browser.scrolls_sideways().await,
            "{name}: the sign-in page"
        );
        browser.quit().await;
        for suite in suites {
            suite.stop().await;
        }
    }
}

/// The files a page loads come from a versioned address, cached for good; an address
/// of another build is not found, and every page forbids scripts from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_load_only_their_own_versioned_files() {
    let suite = support::all_in_one().await;
    let addr = suite.running.http_addr;
    let (status, page) = support::http(addr, "GET", "/signin", &[], b"").await;
    assert_eq!(status, 200);
    let scripts: Vec<&str> = page
        .split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(
        scripts.iter().any(|s| s.ends_with("/htmx.min.js")),
        "{scripts:?}"
    );
    for script in &scripts {
        let (status, head, body) = support::http_full(addr, "GET", script, &[], b"").await;
        assert_eq!(status, 200, "{script}");
        assert!(head.contains("immutable"), "{script}: {head}");
        assert!(!body.is_empty(), "{script}");
        let other_build = script.replacen("/assets/", "/assets/0", 1);
        let (status, _) = support::http(addr, "GET", &other_build, &[], b"").await;
        assert_eq!(status, 404, "{other_build}");
    }
    let (_, head, _) = support::http_full(addr, "GET", "/signin", &[], b"").await;
    let policy = head
        .lines()
        .find(|l| l.starts_with("content-security-policy:"))
        .unwrap_or_default();
    assert!(policy.contains("script-src 'self'"), "{head}");
    // The language is chosen only from this site's own pages.
    let form = b"lang=ru";
    let urlencoded = ("content-type", "application/x-www-form-urlencoded");
    let forged = [("sec-fetch-site", "cross-site"), urlencoded];
    let (status, head, _) = support::http_full(addr, "POST", "/language", &forged, form).await;
    assert_eq!(status, 403, "{head}");
    assert!(!head.contains("ringside_lang"), "{head}");
    let (status, head, _) =
        support::http_full(addr, "POST", "/language", &[urlencoded], form).await;
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("ringside_lang=ru"), "{head}");
    suite.stop().await;
}

/// Olga's client with a phone, and Ivan's, which Olga may not see.
async fn clients(suites: &[Suite]) -> (String, String) {
    let staff = support::staff_suite(suites);
    staff
        .hire(&[Person::new("olga", "Ольга"), Person::new("ivan", "Иван")])
        .await;
    staff.set_password("olga").await;
    let contacts = suites[0].client().await;
    let create = |name: &str, owner: &str, phone: &str| {
        let message = cpb::CreateContactRequest {
            name: name.into(),
            owner_id: owner.into(),
            identities: vec![cpb::Identity {
                kind: cpb::IdentityKind::Phone.into(),
                value: phone.into(),
            }],
            ..Default::default()
        };
        let mut contacts = contacts.clone();
        async move {
            contacts
                .create_contact(message)
                .await
                .expect("a contact")
                .into_inner()
                .id
        }
    };
    let own = create("Иван Петров", "olga", "+79123456789").await;
    let other = create("Пётр Сидоров", "ivan", "+79005550000").await;
    (own, other)
}

/// An agent's search and client page: a phone number written the local way finds
/// the client stored in E.164; the client page opens in place (the call bar's
/// socket stays); a note goes on the timeline; the timeline loads its older entries
/// as it scrolls; another agent's client is "not found", by URL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_finds_a_client_by_phone_opens_it_in_place_and_adds_a_note() {
    if !support::browser::present() {
        return;
    }
    for suites in support::both_ways().await {
        let (own, other) = clients(&suites).await;
        let activities = suites.get(1).unwrap_or(&suites[0]);
        let mut notes = activities.activities("olga").await;
        for n in 0..55 {
            let note = apb::AddNoteRequest {
                links: Some(apb::Links {
                    contact_id: own.clone(),
                    ..Default::default()
                }),
                text: format!("Старая заметка {n}"),
            };
            notes.add_note(note).await.expect("a note");
        }
        let pages = support::pages(&suites);
        let (name, addr) = (pages.name, pages.running.http_addr);
        let base = format!("http://{addr}");
        let browser = Browser::start().await;
        browser.sign_in(&format!("{base}/"), "olga", "Ольга").await;
        let marker = "window.stillTheSamePage = true; return 1";
        browser.execute(marker, serde_json::json!([])).await;

        browser.type_into("#q", "8 (912) 345-67-89\u{E007}").await;
        browser
            .wait_text("#contacts a", |t| t == "Иван Петров")
            .await;
        assert!(browser.find("#leads a").await.is_none(), "{name}");
        let found = browser.words().await;
        assert!(!found.contains("Пётр Сидоров"), "{name}: {found}");
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} search: {violations:#?}");

        browser.click("#contacts a").await;
        browser
            .wait_text("#client-name", |t| t == "Иван Петров")
            .await;
        let same = browser
            .execute(
                "return window.stillTheSamePage === true",
                serde_json::json!([]),
            )
            .await;
        assert_eq!(same, true, "{name}: the page was replaced in place");
        browser
            .wait_text(".identities", |t| t.contains("+79123456789"))
            .await;
        // 50 entries, then the rest as the list's end comes into view.
        let count = "return document.querySelectorAll('#timeline .entry').length";
        let first = browser.execute(count, serde_json::json!([])).await;
        assert_eq!(first, 50, "{name}");
        let scroll = "document.querySelector('#timeline .more').scrollIntoView(); return 1";
        browser.execute(scroll, serde_json::json!([])).await;
        browser
            .wait_text("#timeline", |t| t.contains("Старая заметка 0"))
            .await;
        assert_eq!(browser.execute(count, serde_json::json!([])).await, 55);

        browser
            .type_into("#note-text", "Договорились о встрече")
            .await;
        browser.click("#add-note").await;
        browser
            .wait_text("#timeline .entry.note", |t| {
                t.contains("Договорились о встрече")
            })
            .await;
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name} client: {violations:#?}");

        // Ivan's client, by its address: the same page as a client that does not exist.
        browser.goto(&format!("{base}/contacts/{other}")).await;
        browser.wait_text("h1", |t| t == "Not found").await;
        let cookie = support::sign_in_http(addr, "olga").await;
        let path = format!("/contacts/{other}");
        let (status, page) = support::http(addr, "GET", &path, &[("cookie", &cookie)], b"").await;
        assert_eq!(status, 404, "{name}");
        assert!(!page.contains("Пётр"), "{name}: nothing of it shows");
        let (status, _) = support::http(
            addr,
            "GET",
            "/contacts/no-such-id",
            &[("cookie", &cookie)],
            b"",
        )
        .await;
        assert_eq!(status, 404, "{name}");
        browser.quit().await;
        for suite in suites {
            suite.stop().await;
        }
    }
}
