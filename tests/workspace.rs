//! The workspace in a real browser (headless Chromium), in both ways of running: the
//! language a person picks, the phone-width layout, what the pages load and how, and
//! the accessibility check on each screen.

use support::browser::Browser;
use support::{PASSWORD, Person, Suite, login_of};

/// Olga, an agent with the tests' password.
async fn olga(suites: &[Suite]) {
    let staff = support::staff_suite(suites);
    staff.hire(&[Person::new("olga", "Ольга")]).await;
    staff.set_password("olga").await;
}

/// Latin words left on a Russian page, besides the product's name.
fn english_in(words: &str) -> Vec<String> {
    let allowed = ["Ringside", "English"];
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
        browser.type_into("#password", PASSWORD).await;
        browser.click("#signin-button").await;
        browser.wait_text("#user-menu", |t| t == "Ольга").await;
        browser
            .wait_text("#call-bar.online #status", |t| t == "на связи")
            .await;
        browser.click("#user-menu").await;
        browser.wait_text("#signout", |t| t == "Выйти").await;
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
    suite.stop().await;
}
