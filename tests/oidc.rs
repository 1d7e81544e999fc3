//! Single sign-on against a real OpenID Connect provider running here
//! (`oidc-provider-mock` from PyPI, started by each test on its own port): the
//! authorization code flow with PKCE and a nonce from the sign-in page's button to
//! a session; the provider's groups giving the role and teams, at every sign-in; and
//! what must not sign anyone in — a callback this browser did not start, a state used
//! twice, a code of another flow (its nonce), an ID token of another issuer, a person
//! whose groups give no role. Passwords still work beside it (a local admin can
//! always sign in).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use sha2::Digest;

use ringside_auth::Role;
use ringside_proto::staff::v1 as spb;
use support::{Person, Suite, session_cookie};

/// The provider, as a child process.
struct Provider {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider (it must be installed in CI); `None` where it is not.
    async fn start() -> Option<Provider> {
        let port = support::spare_port();
        let spawned = Command::new("python3")
            .args(["-m", "oidc_provider_mock", "--port", &port.to_string()])
            .args(["--require-nonce", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let installed = std::process::Command::new("python3")
            .args(["-c", "import oidc_provider_mock"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed || spawned.is_err() {
            let required = std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_some();
            assert!(
                !required,
                "oidc-provider-mock is not installed (pip install oidc-provider-mock)"
            );
            eprintln!("SKIPPED: oidc-provider-mock is not installed");
            return None;
        }
        let provider = Provider {
            child: spawned.expect("spawned"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(provider.addr).await.is_ok() {
                return Some(provider);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the provider did not start on {}", provider.addr);
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Who `sub` is at the provider: their claims.
    async fn person(&self, sub: &str, claims: serde_json::Value) {
        let body = claims.to_string();
        let headers = [("content-type", "application/json")];
        let path = format!("/users/{sub}");
        let (status, _) = support::http(self.addr, "PUT", &path, &headers, body.as_bytes()).await;
        assert_eq!(status, 204);
    }

    /// `sub` signs in at the provider's authorization `url` (the provider's, or a
    /// proxy's in front of it): where it sends the browser back (path and query).
    async fn authorize(&self, url: &str, sub: &str) -> String {
        let (at, path) = split_url(url);
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let form = format!("sub={sub}");
        let (status, head, body) =
            support::http_full(at, "POST", &path, &headers, form.as_bytes()).await;
        assert_eq!(status, 302, "{head}\n{body}");
        split_url(&location(&head)).1
    }
}

/// The address and the path (with its query) of an `http://` URL.
fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (at, path) = rest.split_once('/').unwrap_or((rest, ""));
    (at.parse().expect("an address"), format!("/{path}"))
}

/// The `Location` a response sends the browser to.
fn location(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no location: {head}"))
}

/// The flow cookie a response sets, as a `Cookie` header sends it back.
fn flow_cookie(head: &str) -> String {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim())
        .find(|v| v.starts_with("ringside_sso=") && !v.starts_with("ringside_sso=;"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no flow cookie: {head}"))
}

const SAME_ORIGIN: [(&str, &str); 2] = [
    ("content-type", "application/x-www-form-urlencoded"),
    ("sec-fetch-site", "same-origin"),
];

/// The sign-in page's button pressed: the provider's address and the flow's cookie.
async fn press_the_button(ringside: SocketAddr) -> (String, String) {
    let (status, head, body) =
        support::http_full(ringside, "POST", "/signin/provider", &SAME_ORIGIN, b"").await;
    assert_eq!(status, 303, "{head}\n{body}");
    (location(&head), flow_cookie(&head))
}

/// The browser back at Ringside with `cookie`: status, head and body.
async fn come_back(ringside: SocketAddr, path: &str, cookie: &str) -> (u16, String, String) {
    let headers = [("cookie", cookie)];
    support::http_full(ringside, "GET", path, &headers, b"").await
}

/// `sub` signs in through the provider from the sign-in page: the session cookie.
async fn sign_in_as(ringside: SocketAddr, provider: &Provider, sub: &str) -> String {
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, sub).await;
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 303, "{head}\n{body}");
    session_cookie(&head).expect("a session")
}

/// Who `/agent/me` says the session is.
async fn me(ringside: SocketAddr, cookie: &str) -> serde_json::Value {
    let headers = [("cookie", cookie)];
    let (status, body) = support::http(ringside, "GET", "/agent/me", &headers, b"").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("json")
}

const GROUPS: &str = "crm-users=agent,sales=team:sales,crm-admins=admin";

/// An all-in-one suite signing people in at `issuer`.
async fn suite_with_provider(issuer: String) -> Suite {
    let port = support::spare_port();
    support::all_in_one_with(move |s| {
        s.http_addr = SocketAddr::from(([127, 0, 0, 1], port));
        s.oidc_issuer = Some(issuer);
        s.oidc_client_secret = Some("ringside-secret".into());
        s.oidc_redirect_url = Some(format!("http://127.0.0.1:{port}/signin/provider/callback"));
        s.oidc_groups = GROUPS.into();
        s.oidc_name = "Corp ID".into();
    })
    .await
}

/// The provider sign-in outcomes in the audit trail, newest first.
async fn provider_outcomes(suite: &Suite) -> Vec<(String, String)> {
    let lines = suite.audit_of("sign_in_provider").await.into_iter();
    lines.map(|l| (l.outcome, l.detail)).collect()
}

/// Claims of a person at the provider with a verified `email` and `groups`.
fn claims(email: &str, name: &str, groups: &[&str]) -> serde_json::Value {
    serde_json::json!({"email": email, "email_verified": true, "name": name, "groups": groups})
}

/// The user staff has with `login`.
async fn user_with_login(suite: &Suite, login: &str) -> spb::User {
    let mut staff = suite.staff_as("test-admin", Role::Admin).await;
    let find = spb::FindUserRequest {
        by: Some(spb::find_user_request::By::Login(login.into())),
    };
    staff.find_user(find).await.expect("found").into_inner()
}

async fn user(suite: &Suite, id: &str) -> spb::User {
    let mut staff = suite.staff_as("test-admin", Role::Admin).await;
    let get = spb::GetUserRequest { id: id.into() };
    staff.get_user(get).await.expect("a user").into_inner()
}

/// `sub` tries to sign in through the provider and is refused: status and page.
async fn refused(ringside: SocketAddr, provider: &Provider, sub: &str) -> (u16, String) {
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, sub).await;
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(session_cookie(&head), None, "{sub} got a session");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_provider_with_the_role_and_teams_of_their_groups() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let alice = claims(
        "Alice@Corp.test",
        "Alice Corp",
        &["crm-users", "sales", "wiki"],
    );
    provider.person("alice", alice).await;
    let suite = suite_with_provider(provider.issuer()).await;
    suite.form_team("sales", &[]).await;
    let ringside = suite.running.http_addr;

    let (status, page) = support::http(ringside, "GET", "/signin", &[], b"").await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign in with Corp ID"), "{page}");
    let (url, _) = press_the_button(ringside).await;
    for part in [
        "response_type=code",
        "client_id=ringside",
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
        "scope=openid+email+profile",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }

    let session = sign_in_as(ringside, &provider, "alice").await;
    let who = me(ringside, &session).await;
    assert_eq!(
        (who["name"].as_str(), who["role"].as_str()),
        (Some("Alice Corp"), Some("agent"))
    );
    let made = user_with_login(&suite, "alice@corp.test").await;
    assert_eq!(made.details.as_ref().unwrap().team_ids, ["sales"]);

    // Her groups change at the provider: the next sign-in makes her what they say.
    provider
        .person(
            "alice",
            claims("alice@corp.test", "Alice Corp", &["crm-admins"]),
        )
        .await;
    let session = sign_in_as(ringside, &provider, "alice").await;
    assert_eq!(me(ringside, &session).await["role"], "admin");
    let now = user(&suite, &made.id).await.details.unwrap();
    assert_eq!(now.team_ids, Vec::<String>::new());

    // Groups that give no role: a stranger is not made; Alice, linked, loses access
    // (deactivated, her session ends), and stays out with nothing changed when her
    // groups come back — until an admin lets her in again.
    provider
        .person("bob", claims("bob@corp.test", "Bob", &["wiki"]))
        .await;
    let (status, body) = refused(ringside, &provider, "bob").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("gives you no role"), "{body}");
    provider
        .person("alice", claims("alice@corp.test", "Alice Corp", &["wiki"]))
        .await;
    assert_eq!(refused(ringside, &provider, "alice").await.0, 403);
    assert!(!user(&suite, &made.id).await.active, "deactivated");
    let (status, _) =
        support::http(ringside, "GET", "/agent/me", &[("cookie", &session)], b"").await;
    assert_eq!(status, 401, "her session ended");
    provider
        .person(
            "alice",
            claims("alice@corp.test", "Alice Corp", &["crm-users"]),
        )
        .await;
    assert_eq!(refused(ringside, &provider, "alice").await.0, 401);
    assert_eq!(
        user(&suite, &made.id).await.details.unwrap().role,
        "admin",
        "unchanged"
    );

    // An account at the provider with the local admin's address is not linked to
    // them: the admin stays an admin and signs in with their password.
    let root = Person {
        role: "admin",
        ..Person::new("root", "Root")
    };
    suite.hire(&[root]).await;
    suite.set_password("root").await;
    let impostor = claims(&support::login_of("root"), "Root?", &["crm-users"]);
    provider.person("root-at-idp", impostor).await;
    let (status, body) = refused(ringside, &provider, "root-at-idp").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not linked to this provider"), "{body}");
    assert_eq!(user(&suite, "root").await.details.unwrap().role, "admin");
    support::sign_in_http(ringside, "root").await;

    let outcomes: Vec<String> = provider_outcomes(&suite)
        .await
        .into_iter()
        .map(|o| o.0)
        .collect();
    let expected = [
        "link_refused",
        "deactivated",
        "no_role",
        "no_role",
        "signed_in",
        "signed_in",
    ];
    assert_eq!(outcomes, expected, "newest first");
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_this_browser_did_not_start_a_used_state_and_another_flows_code_sign_nobody_in()
{
    let Some(provider) = Provider::start().await else {
        return;
    };
    provider
        .person("carol", claims("carol@corp.test", "Carol", &["crm-users"]))
        .await;
    let suite = suite_with_provider(provider.issuer()).await;
    let ringside = suite.running.http_addr;

    // Login CSRF: a callback sent to a browser that holds no flow (or another one)
    // goes nowhere, and the flow is used up — also for the browser that started it.
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "carol").await;
    let (status, head, body) = come_back(ringside, &back, "ringside_sso=someone-elses").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not started in this browser"), "{body}");
    assert_eq!(session_cookie(&head), None);
    let (status, head, _) = come_back(ringside, &back, &cookie).await;
    assert_eq!((status, session_cookie(&head)), (401, None));

    // A flow finishes once, and only once.
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "carol").await;
    let (status, head, _) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 303);
    assert!(session_cookie(&head).is_some());
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(session_cookie(&head), None);

    // A code of flow A brought back as flow B: B's nonce does not fit A's ID token.
    let (url_a, _) = press_the_button(ringside).await;
    let (url_b, cookie_b) = press_the_button(ringside).await;
    let back_a = provider.authorize(&url_a, "carol").await;
    let state_b = url_b
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let code_a = back_a
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mixed = format!("/signin/provider/callback?code={code_a}&state={state_b}");
    let (status, head, body) = come_back(ringside, &mixed, &cookie_b).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(session_cookie(&head), None);

    let outcomes = provider_outcomes(&suite).await;
    let why = |i: usize| (outcomes[i].0.as_str(), outcomes[i].1.to_lowercase());
    assert!(
        why(0).0 == "refused" && why(0).1.contains("nonce"),
        "{outcomes:?}"
    );
    assert!(
        why(1).0 == "refused" && why(1).1.contains("unknown_state"),
        "{outcomes:?}"
    );
    assert_eq!(why(2).0, "signed_in");
    assert!(
        why(3).0 == "refused" && why(3).1.contains("unknown_state"),
        "{outcomes:?}"
    );
    assert!(why(4).0 == "refused" && why(4).1.contains("not_started_in_this_browser"));
    suite.stop().await;
}

/// A proxy in front of the provider that keeps a copy of every byte sent through
/// it: its address, and the copy.
async fn tee(provider: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let copy = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = copy.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(provider).await else {
                    return;
                };
                let ((mut cr, mut cw), (mut sr, mut sw)) =
                    (client.into_split(), server.into_split());
                let up = async move {
                    let mut buf = [0u8; 8192];
                    while let Ok(n @ 1..) = cr.read(&mut buf).await {
                        seen.lock().unwrap().extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = tokio::io::copy(&mut sr, &mut cw);
                let _ = tokio::join!(up, down);
            });
        }
    });
    (addr, seen)
}

/// The value of `name=` in `text` (up to `&`, a space or a line's end).
fn param<'a>(text: &'a str, name: &str) -> &'a str {
    let after = text
        .split(&format!("{name}="))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name}"));
    after
        .split(['&', ' ', '\r', '\n'])
        .next()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_is_exchanged_with_the_pkce_verifier_and_the_client_secret() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    provider
        .person("erin", claims("erin@corp.test", "Erin", &["crm-users"]))
        .await;
    // Everything between Ringside and the provider goes through the tee (the
    // provider names itself by the address it is asked at, so all stays consistent).
    let (at, seen) = tee(provider.addr).await;
    let suite = suite_with_provider(format!("http://{at}")).await;
    let ringside = suite.running.http_addr;
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "erin").await;
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 303, "{head}\n{body}");

    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    let exchange = sent
        .split("POST /oauth2/token")
        .nth(1)
        .expect("a token request");
    let verifier = param(exchange, "code_verifier");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(
        challenge,
        param(&url, "code_challenge"),
        "S256 of the verifier"
    );
    let basic = exchange
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: Basic ")
                .or(l.strip_prefix("Authorization: Basic "))
        })
        .expect("the client authenticates");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "ringside:ringside-secret"
    );
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_of_another_issuer_signs_nobody_in() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let dave = serde_json::json!({"email": "dave@corp.test", "groups": ["crm-users"]});
    provider.person("dave", dave).await;
    // A discovery document naming this address as the issuer, with the provider's
    // endpoints and keys: its ID tokens name the provider's own address.
    let (status, doc) = support::http(
        provider.addr,
        "GET",
        "/.well-known/openid-configuration",
        &[],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let claimed = format!("http://{}", listener.local_addr().unwrap());
    let mut doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    doc["issuer"] = claimed.clone().into();
    let app = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let suite = suite_with_provider(claimed).await;
    let ringside = suite.running.http_addr;
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "dave").await;
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(session_cookie(&head), None);
    let outcomes = provider_outcomes(&suite).await;
    assert_eq!(outcomes[0].0, "refused");
    assert!(
        outcomes[0].1.to_lowercase().contains("issuer"),
        "{outcomes:?}"
    );
    suite.stop().await;
}
