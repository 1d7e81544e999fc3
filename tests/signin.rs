//! Signing in from a browser, as a person and as an attacker would try it: the
//! sign-in page and its cookie, a new session id at each sign-in, sign-out, requests
//! from another site refused with nothing written, the cookie behind TLS, sockets
//! that end with their session, and one-time password links. Both ways of running:
//! in the services mode the pages (notifications) ask staff over gRPC.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use ringside_auth::Role;
use ringside_proto::staff::v1 as spb;
use support::socket::{self, next_within};
use support::{PASSWORD, Person, Suite, login_of, session_cookie};
use tokio_tungstenite::tungstenite;

/// The suite serving the pages (web, or the all-in-one).
fn pages(suites: &[Suite]) -> &Suite {
    support::pages(suites)
}

/// Where the call bar's socket is: notifications' HTTP address.
fn push(suites: &[Suite]) -> std::net::SocketAddr {
    suites
        .iter()
        .find(|s| {
            let served = &s.running.grpc_services;
            served.contains(&"ringside.notifications.v1.Notifications")
        })
        .expect("a suite serving notifications")
        .running
        .http_addr
}

/// Olga, an agent with the tests' password.
async fn olga(suites: &[Suite]) {
    let staff = support::staff_suite(suites);
    staff.hire(&[Person::new("olga", "Ольга")]).await;
    staff.set_password("olga").await;
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const SAME_ORIGIN: (&str, &str) = ("sec-fetch-site", "same-origin");

/// A form posted to `path` with `headers` besides its content type: status, head, body.
async fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], form: &str) -> Response {
    let mut all = vec![FORM];
    all.extend_from_slice(headers);
    let (status, head, body) = support::http_full(addr, "POST", path, &all, form.as_bytes()).await;
    Response { status, head, body }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

fn olgas_form(password: &str) -> String {
    format!(
        "login={}&password={}",
        login_of("olga"),
        password.replace(' ', "+")
    )
}

/// Who `/agent/me` says the cookie belongs to: status and body.
async fn me(addr: SocketAddr, cookie: &str) -> (u16, String) {
    support::http(addr, "GET", "/agent/me", &[("cookie", cookie)], b"").await
}

/// The audit lines about `subject`, as an admin reads them.
async fn audit(suites: &[Suite], subject: &str) -> Vec<spb::AuditEntry> {
    let mut staff = support::staff_suite(suites)
        .staff_as("test-admin", Role::Admin)
        .await;
    let request = spb::ListAuditRequest {
        subject: subject.into(),
        ..Default::default()
    };
    staff
        .list_audit(request)
        .await
        .expect("the audit trail")
        .into_inner()
        .entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_with_a_password_and_gets_a_new_session_each_time() {
    for suites in support::both_ways().await {
        olga(&suites).await;
        let addr = pages(&suites).running.http_addr;
        let name = &pages(&suites).name;

        let (status, head, _) = support::http_full(addr, "GET", "/", &[], b"").await;
        assert_eq!(status, 303, "{name}: {head}");
        assert!(head.contains("location: /signin"), "{name}: {head}");
        let (status, page) = support::http(addr, "GET", "/signin", &[], b"").await;
        assert_eq!(status, 200, "{name}");
        assert!(page.contains(r#"action="/signin""#), "{name}: {page}");

        let unknown = "login=nobody%40staff.test&password=whatever+it+is";
        for (form, what) in [
            (olgas_form("wrong password"), "wrong"),
            (unknown.into(), "unknown"),
        ] {
            let refused = post(addr, "/signin", &[SAME_ORIGIN], &form).await;
            assert_eq!(refused.status, 401, "{name} {what}: {}", refused.head);
            assert!(
                refused.body.contains("wrong login or password"),
                "{name} {what}"
            );
            assert_eq!(session_cookie(&refused.head), None, "{name} {what}");
        }

        let signed = post(addr, "/signin", &[SAME_ORIGIN], &olgas_form(PASSWORD)).await;
        assert_eq!(signed.status, 303, "{name}: {}", signed.body);
        assert!(
            signed.head.contains("location: /\r\n"),
            "{name}: {}",
            signed.head
        );
        let set = signed
            .head
            .lines()
            .find(|l| l.starts_with("set-cookie:"))
            .expect("a cookie");
        assert!(set.starts_with("set-cookie: ringside_session="), "{set}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(set.contains(part), "{name}: {part} in {set}");
        }
        // The session's 12 hours (a second may pass between staff and the page).
        let max_age: i64 = set
            .split("Max-Age=")
            .nth(1)
            .and_then(|v| v.split(';').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no Max-Age in {set}"));
        assert!((43_190..=43_200).contains(&max_age), "{name}: {set}");
        assert!(!set.contains("Secure"), "plain HTTP: {set}");
        let first = session_cookie(&signed.head).expect("a cookie");
        let (status, who) = me(addr, &first).await;
        assert_eq!(status, 200, "{name}: {who}");
        let who: serde_json::Value = serde_json::from_str(&who).expect("json");
        assert_eq!(who["id"], "olga");
        assert_eq!(who["name"], "Ольга");
        assert_eq!(who["role"], "agent");
        let (status, console) = support::http(addr, "GET", "/", &[("cookie", &first)], b"").await;
        assert_eq!(status, 200, "{name}");
        assert!(console.contains(r#"id="call-bar""#), "{name}: the call bar");

        // Signing in again, with the old cookie along: a new id, and the old one ends.
        let again = post(
            addr,
            "/signin",
            &[SAME_ORIGIN, ("cookie", &first)],
            &olgas_form(PASSWORD),
        )
        .await;
        let second = session_cookie(&again.head).expect("a cookie");
        assert_ne!(second, first, "{name}");
        assert_eq!(
            me(addr, &first).await.0,
            401,
            "{name}: the old session ended"
        );
        assert_eq!(me(addr, &second).await.0, 200, "{name}");

        let out = post(addr, "/signout", &[SAME_ORIGIN, ("cookie", &second)], "").await;
        assert_eq!(out.status, 303, "{name}");
        assert!(
            out.head.contains("location: /signin"),
            "{name}: {}",
            out.head
        );
        assert!(
            out.head.contains("Max-Age=0"),
            "{name}: the cookie is cleared"
        );
        assert_eq!(me(addr, &second).await.0, 401, "{name}: signed out");
        let outcomes: Vec<String> = audit(&suites, "olga")
            .await
            .into_iter()
            .filter(|e| e.action == "sign_in")
            .map(|e| e.outcome)
            .collect();
        assert_eq!(
            outcomes,
            ["signed_in", "signed_in", "wrong_password"],
            "{name}: newest first"
        );
        for suite in suites {
            suite.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_another_site_are_refused_and_change_nothing() {
    for suites in support::both_ways().await {
        olga(&suites).await;
        let addr = pages(&suites).running.http_addr;
        let name = &pages(&suites).name;
        let cross = ("sec-fetch-site", "cross-site");
        let evil = ("origin", "http://evil.example");
        for headers in [&[cross][..], &[evil][..]] {
            let refused = post(addr, "/signin", headers, &olgas_form(PASSWORD)).await;
            assert_eq!(refused.status, 403, "{name} {headers:?}");
            assert_eq!(session_cookie(&refused.head), None, "{name}");
            let form = "code=x&password=0123456789&repeat=0123456789";
            let refused = post(addr, "/welcome", headers, form).await;
            assert_eq!(refused.status, 403, "{name} {headers:?}");
        }
        assert!(
            audit(&suites, "olga")
                .await
                .iter()
                .all(|e| e.action != "sign_in"),
            "{name}: no sign-in was even tried"
        );

        let cookie = support::sign_in_http(addr, "olga").await;
        let refused = post(addr, "/signout", &[cross, ("cookie", &cookie)], "").await;
        assert_eq!(refused.status, 403, "{name}");
        assert_eq!(me(addr, &cookie).await.0, 200, "{name}: still signed in");

        // The call bar's socket: the cookie opens it only from this site's pages.
        let own = format!("http://{addr}");
        let from_evil = [
            ("cookie", cookie.as_str()),
            ("origin", "http://evil.example"),
        ];
        let socket_at = push(&suites);
        assert!(
            socket::open(socket_at, &from_evil).await.is_err(),
            "{name}: hijacked"
        );
        let unknown_port = format!("http://127.0.0.1:{}", support::spare_port());
        let from_neighbour = [
            ("cookie", cookie.as_str()),
            ("origin", unknown_port.as_str()),
        ];
        assert!(
            socket::open(socket_at, &from_neighbour).await.is_err(),
            "{name}: another port of this host is another origin"
        );
        assert!(
            socket::open(socket_at, &[]).await.is_err(),
            "{name}: no cookie"
        );
        let from_own = [("cookie", cookie.as_str()), ("origin", own.as_str())];
        let ws = socket::open(socket_at, &from_own).await;
        assert!(ws.is_ok(), "{name}: {:?}", ws.err());
        for suite in suites {
            suite.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_closes_its_open_console() {
    for suites in support::both_ways().await {
        olga(&suites).await;
        let addr = pages(&suites).running.http_addr;
        let name = &pages(&suites).name;
        let cookie = support::sign_in_http(addr, "olga").await;
        let own = format!("http://{addr}");
        let headers = [("cookie", cookie.as_str()), ("origin", own.as_str())];
        let mut ws = socket::open(push(&suites), &headers)
            .await
            .expect("a socket");

        let mut staff = support::staff_suite(&suites)
            .staff_as("test-admin", Role::Admin)
            .await;
        let end = spb::EndSessionsRequest {
            user_id: "olga".into(),
        };
        let ended = staff.end_sessions(end).await.expect("ended").into_inner();
        assert_eq!(ended.sessions_ended, 1, "{name}");
        // Sockets check their session every 5 s.
        let told = next_within(&mut ws, "signed_out", |_| true, Duration::from_secs(12)).await;
        assert_eq!(told["type"], "signed_out", "{name}");
        let closed = tokio::time::timeout(Duration::from_secs(2), ws.next()).await;
        match closed {
            Ok(Some(Ok(tungstenite::Message::Close(Some(frame))))) => {
                assert_eq!(u16::from(frame.code), 4401, "{name}");
            }
            other => panic!("{name}: expected a close frame, got {other:?}"),
        }
        assert!(
            socket::open(push(&suites), &headers).await.is_err(),
            "{name}: not again"
        );
        for suite in suites {
            suite.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_cookie_is_host_only_and_secure() {
    let suite = support::all_in_one_with(|s| s.secure_cookies = true).await;
    olga(std::slice::from_ref(&suite)).await;
    let addr = suite.running.http_addr;
    let signed = post(addr, "/signin", &[SAME_ORIGIN], &olgas_form(PASSWORD)).await;
    assert_eq!(signed.status, 303);
    let set = signed
        .head
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(
        set.starts_with("set-cookie: __Host-ringside_session="),
        "{set}"
    );
    assert!(set.contains("Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.contains("Domain"), "{set}");
    let cookie = session_cookie(&signed.head).expect("a cookie");
    assert_eq!(me(addr, &cookie).await.0, 200);
    // The same secret under the plain name (which anyone could plant) is not read.
    let planted = cookie.replace("__Host-ringside_session=", "ringside_session=");
    assert_eq!(me(addr, &planted).await.0, 401);
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_link_works_once_and_only_the_newest_works() {
    let suite = support::all_in_one().await;
    suite.hire(&[Person::new("olga", "Ольга")]).await;
    let addr = suite.running.http_addr;
    let mut staff = suite.staff_as("test-admin", Role::Admin).await;
    let link = || spb::CreatePasswordLinkRequest {
        user_id: "olga".into(),
        valid_for_hours: 0,
    };
    let replaced = staff.create_password_link(link()).await.expect("a link");
    let newest = staff.create_password_link(link()).await.expect("a link");
    let form = |secret: &str, repeat: &str| {
        format!("code={secret}&password=olgas+new+pass&repeat={repeat}")
    };
    let replaced = replaced.into_inner().secret;
    let newest = newest.into_inner().secret;

    let differ = post(
        addr,
        "/welcome",
        &[SAME_ORIGIN],
        &form(&newest, "other+pass+word"),
    )
    .await;
    assert_eq!(differ.status, 400);
    assert!(differ.body.contains("differ"), "{}", differ.body);
    let old = post(
        addr,
        "/welcome",
        &[SAME_ORIGIN],
        &form(&replaced, "olgas+new+pass"),
    )
    .await;
    assert_eq!(old.status, 401, "a replaced link");
    let set = post(
        addr,
        "/welcome",
        &[SAME_ORIGIN],
        &form(&newest, "olgas+new+pass"),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let again = post(
        addr,
        "/welcome",
        &[SAME_ORIGIN],
        &form(&newest, "olgas+new+pass"),
    )
    .await;
    assert_eq!(again.status, 401, "a used link");

    let signed = post(
        addr,
        "/signin",
        &[SAME_ORIGIN],
        &olgas_form("olgas new pass"),
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let actions: Vec<String> = audit(std::slice::from_ref(&suite), "olga")
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"password_link_created".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"password_set".to_owned()), "{actions:?}");
    suite.stop().await;
}

/// What an authenticator app with `secret` (as the page prints it) shows `ahead`
/// steps of 30 s from now.
fn app_code(secret: &str, ahead: u64) -> String {
    let secret: String = secret.split_whitespace().collect();
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let app = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("an app");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    app.generate(now + 30 * ahead).to_string()
}

/// The hidden challenge of a code page.
fn challenge_in(page: &str) -> String {
    let after = page
        .split(r#"name="challenge" value=""#)
        .nth(1)
        .expect("a challenge");
    after.split('"').next().expect("its end").to_owned()
}

/// An all-in-one where admins must have a second factor, with Anna, an admin with
/// the tests' password and no factor yet.
async fn admin_who_must_have_a_factor() -> Suite {
    let suite = support::all_in_one_with(|s| s.admin_two_factor = true).await;
    let anna = Person {
        role: "admin",
        ..Person::new("anna", "Анна")
    };
    suite.hire(&[anna]).await;
    suite.set_password("anna").await;
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_a_second_factor_up_at_sign_in_and_a_code_works_once() {
    if !support::browser::present() {
        return;
    }
    let suite = admin_who_must_have_a_factor().await;
    let addr = suite.running.http_addr;

    let browser = support::browser::Browser::start().await;
    browser.goto(&format!("http://{addr}/")).await;
    browser.type_into("#login", &login_of("anna")).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#signin-button").await;
    let secret = browser.wait_text("#totp-secret", |t| t.len() >= 32).await;
    assert!(
        browser.find("figure.qr svg").await.is_some(),
        "a QR code to scan"
    );
    browser.type_into("#code-input", "000000").await;
    browser.click("#code-button").await;
    browser.wait_text(".notice", |t| t == "wrong code").await;
    let again = browser.wait_text("#totp-secret", |t| !t.is_empty()).await;
    assert_eq!(again, secret, "the key is still there to scan");
    let first = app_code(&secret, 0);
    browser.type_into("#code-input", &first).await;
    browser.click("#code-button").await;
    let codes = browser
        .wait_text("#recovery-codes", |t| !t.is_empty())
        .await;
    let codes: Vec<&str> = codes.lines().collect();
    assert_eq!(codes.len(), 10, "{codes:?}");
    browser.click("#continue").await;
    browser.wait_text("#user-menu", |t| t == "Анна").await;
    browser
        .wait_text("#call-bar.online #status", |_| true)
        .await;
    browser.quit().await;

    // The password alone opens no session; a code already used does not either; a
    // recovery code does, once.
    let form = format!(
        "login={}&password={}",
        login_of("anna"),
        PASSWORD.replace(' ', "+")
    );
    let step = post(addr, "/signin", &[SAME_ORIGIN], &form).await;
    assert_eq!((step.status, session_cookie(&step.head)), (200, None));
    assert!(!step.body.contains("totp-secret"), "set up already");
    let challenge = challenge_in(&step.body);
    let replay = format!("challenge={challenge}&code={first}");
    let refused = post(addr, "/signin/code", &[SAME_ORIGIN], &replay).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(session_cookie(&refused.head), None);
    let from_elsewhere = format!("challenge={challenge}&code={}", codes[0]);
    let forged = post(
        addr,
        "/signin/code",
        &[("sec-fetch-site", "cross-site")],
        &from_elsewhere,
    )
    .await;
    assert_eq!(forged.status, 403);
    let recovered = post(addr, "/signin/code", &[SAME_ORIGIN], &from_elsewhere).await;
    assert_eq!(recovered.status, 303, "{}", recovered.body);
    let cookie = session_cookie(&recovered.head).expect("a session");
    assert_eq!(me(addr, &cookie).await.0, 200);

    let outcomes: Vec<String> = audit(std::slice::from_ref(&suite), "anna")
        .await
        .into_iter()
        .filter(|l| l.action == "sign_in_code")
        .map(|l| l.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["signed_in", "replayed_code", "signed_in", "wrong_code"],
        "newest first"
    );
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_pages_have_no_serious_accessibility_violations() {
    if !support::browser::present() {
        return;
    }
    let suite = admin_who_must_have_a_factor().await;
    let base = format!("http://{}", suite.running.http_addr);
    let browser = support::browser::Browser::start().await;
    let mut found = Vec::new();
    for page in ["/signin", "/welcome"] {
        browser.goto(&format!("{base}{page}")).await;
        browser.wait_text("h1", |t| !t.is_empty()).await;
        found.extend(
            browser
                .accessibility_violations()
                .await
                .into_iter()
                .map(|v| format!("{page}: {v}")),
        );
    }
    // A refusal, and the second step with its QR code.
    browser.goto(&format!("{base}/signin")).await;
    browser.type_into("#login", &login_of("anna")).await;
    browser.type_into("#password", "not the password").await;
    browser.click("#signin-button").await;
    browser.wait_text(".notice", |t| t.contains("wrong")).await;
    found.extend(
        browser
            .accessibility_violations()
            .await
            .into_iter()
            .map(|v| format!("refused: {v}")),
    );
    browser.type_into("#login", &login_of("anna")).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("#signin-button").await;
    browser.wait_text("#totp-secret", |t| !t.is_empty()).await;
    found.extend(
        browser
            .accessibility_violations()
            .await
            .into_iter()
            .map(|v| format!("code: {v}")),
    );
    // The check itself sees a violation when there is one: an image with no text.
    let add = "document.body.appendChild(document.createElement('img')); return 1";
    browser.execute(add, serde_json::json!([])).await;
    let seen = browser.accessibility_violations().await;
    assert!(seen.iter().any(|v| v.starts_with("image-alt")), "{seen:?}");
    browser.quit().await;
    suite.stop().await;
    assert!(found.is_empty(), "{found:#?}");
}
