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
use std::time::Duration;

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
        for _ in 0..100 {
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

    /// `sub` signs in at the provider's authorization `url`: where it sends the
    /// browser back (path and query on Ringside).
    async fn authorize(&self, url: &str, sub: &str) -> String {
        let path = url
            .strip_prefix(&self.issuer())
            .expect("the provider's address");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let form = format!("sub={sub}");
        let (status, head, body) =
            support::http_full(self.addr, "POST", path, &headers, form.as_bytes()).await;
        assert_eq!(status, 302, "{head}\n{body}");
        let back = location(&head);
        let (_, path) = back
            .split_once("://")
            .expect("absolute")
            .1
            .split_once('/')
            .expect("a path");
        format!("/{path}")
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_through_the_provider_with_the_role_and_teams_of_their_groups() {
    let Some(provider) = Provider::start().await else {
        return;
    };
    let alice = serde_json::json!({"email": "Alice@Corp.test", "email_verified": true,
        "name": "Alice Corp", "groups": ["crm-users", "sales", "wiki-editors"]});
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
    let mut staff = suite.staff_as("test-admin", Role::Admin).await;
    let find = spb::FindUserRequest {
        by: Some(spb::find_user_request::By::Login("alice@corp.test".into())),
    };
    let user = staff.find_user(find).await.expect("made").into_inner();
    assert_eq!(user.details.unwrap().team_ids, ["sales"]);

    // Her groups change at the provider: the next sign-in makes her what they say.
    let promoted = serde_json::json!({"email": "alice@corp.test", "email_verified": true,
        "name": "Alice Corp", "groups": ["crm-admins"]});
    provider.person("alice", promoted).await;
    let session = sign_in_as(ringside, &provider, "alice").await;
    assert_eq!(me(ringside, &session).await["role"], "admin");
    let again = staff
        .get_user(spb::GetUserRequest {
            id: user.id.clone(),
        })
        .await;
    assert_eq!(
        again.unwrap().into_inner().details.unwrap().team_ids,
        Vec::<String>::new()
    );

    // Someone whose groups give no role is refused; a local admin's password works.
    let visitor = serde_json::json!({"email": "bob@corp.test", "groups": ["wiki-editors"]});
    provider.person("bob", visitor).await;
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "bob").await;
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("gives you no role"), "{body}");
    assert_eq!(session_cookie(&head), None);
    let root = Person {
        role: "admin",
        ..Person::new("root", "Root")
    };
    suite.hire(&[root]).await;
    suite.set_password("root").await;
    support::sign_in_http(ringside, "root").await;
    let outcomes: Vec<String> = provider_outcomes(&suite)
        .await
        .into_iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(outcomes, ["no_role", "signed_in", "signed_in"]);
    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_this_browser_did_not_start_a_used_state_and_another_flows_code_sign_nobody_in()
{
    let Some(provider) = Provider::start().await else {
        return;
    };
    let carol = serde_json::json!({"email": "carol@corp.test", "email_verified": true,
        "groups": ["crm-users"]});
    provider.person("carol", carol).await;
    let suite = suite_with_provider(provider.issuer()).await;
    let ringside = suite.running.http_addr;

    // Login CSRF: the attacker's own callback, sent to a victim's browser, which
    // holds no flow (or another one).
    let (url, cookie) = press_the_button(ringside).await;
    let back = provider.authorize(&url, "carol").await;
    let (status, head, body) = come_back(ringside, &back, "ringside_sso=someone-elses").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not started in this browser"), "{body}");
    assert_eq!(session_cookie(&head), None);
    // The right browser still finishes it once, and only once.
    let (status, head, _) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 303);
    assert!(session_cookie(&head).is_some());
    let (status, head, body) = come_back(ringside, &back, &cookie).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(session_cookie(&head), None);

    // A code of flow A brought back as flow B: B's PKCE verifier and nonce do not fit.
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
    assert_eq!(outcomes[0].0, "refused");
    assert!(
        outcomes[0].1.to_lowercase().contains("nonce"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1].0, "refused");
    assert!(outcomes[1].1.contains("unknown_state"), "{outcomes:?}");
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
