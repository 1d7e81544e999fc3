//! The pages a person opens in a browser, and the session behind them: sign-in
//! (`/signin`), sign-out (`/signout`), setting a password with a one-time link
//! (`/welcome`), the second step for a code (`/signin/code`, in `code`), single sign-on
//! through a provider (`/signin/provider`, in `provider`), the agent console (`/`) and who is signed in (`/agent/me`). Staff
//! checks passwords and keeps the sessions; this edge only carries the session's
//! secret in the cookie ([`ringside_kit::browser`]) and asks staff, with notifications'
//! service token, whose session it is. Every form post from another site is refused
//! before anything is read or written; pages are not cached and may not be framed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringside_auth::Role;
use ringside_kit::PeerChannel;
use ringside_kit::browser::{SessionCookie, cross_site};
use ringside_kit::net::{AllowList, client_ip};
use ringside_kit::peer::request;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use serde::Deserialize;
use serde_json::json;
use tonic::{Code, Status};

/// Largest form a page posts.
const MAX_FORM: usize = 16 * 1024;

const STYLE: &str = include_str!("pages/layout.css");
const LAYOUT: &str = include_str!("pages/layout.html");
const CONSOLE: &str = include_str!("console.html");

mod code;
mod provider;

/// A page with one form: its title and the form.
struct FormPage<'a> {
    title: &'a str,
    content: &'a str,
}

const SIGN_IN: FormPage<'static> = FormPage {
    title: "Sign in",
    content: include_str!("pages/signin.html"),
};
/// The button of single sign-on, when a provider is set up.
const PROVIDER_BUTTON: &str = include_str!("pages/provider.html");
const WELCOME: FormPage<'static> = FormPage {
    title: "Set your password",
    content: include_str!("pages/welcome.html"),
};

/// A person signed in through the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// The way from a browser's cookie to a person: staff, asked with this service's
/// identity, and how the cookie is made.
#[derive(Clone)]
pub struct Gate {
    staff: StaffClient<PeerChannel>,
    cookie: SessionCookie,
    proxies: Arc<AllowList>,
    /// What the sign-in page calls the single sign-on provider, when there is one.
    provider: Option<Arc<str>>,
}

impl Gate {
    pub fn new(staff: PeerChannel, cookie: SessionCookie, proxies: AllowList) -> Self {
        Gate {
            staff: StaffClient::new(staff),
            cookie,
            proxies: Arc::new(proxies),
            provider: None,
        }
    }

    /// Offers single sign-on on the sign-in page, the provider called `name`.
    pub fn with_provider(mut self, name: &str) -> Self {
        self.provider = Some(name.into());
        self
    }

    /// The sign-in page, with the provider's button when single sign-on is set up.
    fn sign_in_page(&self, status: StatusCode, notice: &str, ok: bool) -> Response {
        let button = self.provider.as_deref().map_or(String::new(), |name| {
            PROVIDER_BUTTON.replace("{{name}}", &escape(name))
        });
        let content = SIGN_IN.content.replace("{{provider}}", &button);
        let form = FormPage {
            title: SIGN_IN.title,
            content: &content,
        };
        form_page(&form, status, notice, ok)
    }

    /// The session secret in the browser's cookie.
    pub fn secret(&self, headers: &HeaderMap) -> Option<String> {
        self.cookie.read(headers)
    }

    /// The person of a live session (which counts as used now). `UNAUTHENTICATED`
    /// when it has ended.
    pub async fn open(&self, secret: &str) -> Result<Person, Status> {
        let message = spb::OpenSessionRequest {
            session_secret: secret.to_owned(),
        };
        let opened = self
            .staff
            .clone()
            .open_session(request(message, ""))
            .await?;
        let user = opened.into_inner().user.unwrap_or_default();
        let details = user.details.unwrap_or_default();
        let role = details
            .role
            .parse()
            .map_err(|_| Status::permission_denied("this role cannot sign in here"))?;
        Ok(Person {
            id: user.id,
            name: details.name,
            role,
        })
    }

    /// The person whose session the browser's cookie names, if it is live.
    pub async fn person(&self, headers: &HeaderMap) -> Result<Person, Status> {
        match self.secret(headers) {
            Some(secret) => self.open(&secret).await,
            None => Err(Status::unauthenticated("not signed in")),
        }
    }
}

pub fn router(gate: Gate) -> axum::Router {
    axum::Router::new()
        .route("/", get(console))
        .route("/agent/me", get(me))
        .route("/signin", get(sign_in_page).post(sign_in))
        .route("/signin/code", axum::routing::post(code::sign_in_with_code))
        .route("/signin/provider", axum::routing::post(provider::start))
        .route("/signin/provider/callback", get(provider::callback))
        .route("/signout", axum::routing::post(sign_out))
        .route("/welcome", get(welcome_page).post(welcome))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .with_state(gate)
}

/// A page with the headers every page here carries.
fn page(status: StatusCode, html: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    ];
    (status, headers, html).into_response()
}

/// A form page with its notice (`ok` for good news); the notice is escaped, and put
/// in last, so nothing in it is taken for a placeholder.
fn form_page(form: &FormPage, status: StatusCode, notice: &str, ok: bool) -> Response {
    let notice = match (notice.is_empty(), ok) {
        (true, _) => String::new(),
        (false, true) => format!("<p class=\"notice ok\">{}</p>", escape(notice)),
        (false, false) => format!("<p class=\"notice\" role=\"alert\">{}</p>", escape(notice)),
    };
    let html = LAYOUT
        .replace("{{style}}", STYLE)
        .replace("{{title}}", form.title)
        .replace("{{content}}", form.content)
        .replace("{{provider}}", "")
        .replace("{{notice}}", &notice);
    page(status, html)
}

/// A form post another site sent, refused on `form`'s page; `None` when it may go on.
fn from_another_site(headers: &HeaderMap, form: &FormPage) -> Option<Response> {
    cross_site(headers).map(|why| form_page(form, StatusCode::FORBIDDEN, why, false))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Never taken for a page's placeholder.
            '{' => out.push_str("&#123;"),
            '}' => out.push_str("&#125;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a browser goes next, with cookies set on the way.
fn see_other(to: &str, cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(value) = cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    response
}

/// A staff answer shown on a form page: the status and what the person reads.
fn refusal(status: &Status) -> (StatusCode, String) {
    let code = match status.code() {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = match code {
        StatusCode::SERVICE_UNAVAILABLE => "sign-in is not available right now; try again soon",
        StatusCode::INTERNAL_SERVER_ERROR => "something went wrong; try again",
        _ => status.message(),
    };
    (code, text.to_owned())
}

async fn console(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    match gate.person(&headers).await {
        Ok(_) => page(StatusCode::OK, CONSOLE.to_owned()),
        Err(s) if s.code() == Code::Unauthenticated => see_other("/signin", None),
        Err(s) => {
            let (code, text) = refusal(&s);
            gate.sign_in_page(code, &text, false)
        }
    }
}

async fn me(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    match gate.person(&headers).await {
        Ok(p) => {
            let body = json!({"id": p.id, "name": p.name, "role": p.role.as_str()});
            let headers = [(header::CACHE_CONTROL, "no-store")];
            (headers, axum::Json(body)).into_response()
        }
        Err(s) => (refusal(&s).0, s.message().to_owned()).into_response(),
    }
}

async fn sign_in_page(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    if gate.person(&headers).await.is_ok() {
        return see_other("/", None);
    }
    gate.sign_in_page(StatusCode::OK, "", false)
}

#[derive(Deserialize)]
struct SignInForm {
    login: String,
    password: String,
}

async fn sign_in(
    State(gate): State<Gate>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Some(refused) = from_another_site(&headers, &SIGN_IN) {
        return refused;
    }
    let message = spb::SignInRequest {
        login: form.login,
        password: form.password,
        client_address: client_ip(Some(peer), &headers, &gate.proxies).to_string(),
    };
    let answer = gate.staff.clone().sign_in(request(message, "")).await;
    first_factor_answered(&gate, &headers, answer).await
}

/// Staff's answer to a first factor (a password, the provider): the page asking for
/// a code, a session, or the sign-in page saying why not.
async fn first_factor_answered(
    gate: &Gate,
    headers: &HeaderMap,
    answer: Result<tonic::Response<spb::SignInResponse>, Status>,
) -> Response {
    match answer.map(tonic::Response::into_inner) {
        Ok(spb::SignInResponse {
            second_step: Some(step),
            ..
        }) => code::code_page(&step, StatusCode::OK, ""),
        Ok(signed) => signed_in(gate, headers, signed).await,
        Err(s) => {
            let (code, text) = refusal(&s);
            gate.sign_in_page(code, &text, false)
        }
    }
}

/// A sign-in that opened a session: the cookie is set (and a session the browser
/// brought along ends, so each sign-in gets a new id), then the console, or first
/// the recovery codes this sign-in made.
async fn signed_in(gate: &Gate, headers: &HeaderMap, signed: spb::SignInResponse) -> Response {
    if let Some(old) = gate.secret(headers) {
        end_session(gate, old).await;
    }
    let max_age = signed.expires_at.map_or(0, |t| t.seconds) - now_secs();
    let cookie = gate.cookie.set(&signed.session_secret, max_age);
    match signed.recovery_codes.is_empty() {
        true => see_other("/", Some(cookie)),
        false => code::recovery_page(&signed.recovery_codes, cookie),
    }
}

fn now_secs() -> i64 {
    ringside_storage::now_millis() / 1000
}

async fn end_session(gate: &Gate, secret: String) {
    let message = spb::SignOutRequest {
        session_secret: secret,
    };
    if let Err(e) = gate.staff.clone().sign_out(request(message, "")).await {
        tracing::warn!(error = %e.message(), "ending a session at staff failed");
    }
}

async fn sign_out(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    if let Some(refused) = from_another_site(&headers, &SIGN_IN) {
        return refused;
    }
    if let Some(secret) = gate.secret(&headers) {
        end_session(&gate, secret).await;
    }
    see_other("/signin", Some(gate.cookie.clear()))
}

async fn welcome_page() -> Response {
    form_page(&WELCOME, StatusCode::OK, "", false)
}

#[derive(Deserialize)]
struct WelcomeForm {
    code: String,
    password: String,
    repeat: String,
}

async fn welcome(
    State(gate): State<Gate>,
    headers: HeaderMap,
    Form(form): Form<WelcomeForm>,
) -> Response {
    if let Some(refused) = from_another_site(&headers, &WELCOME) {
        return refused;
    }
    if form.password != form.repeat {
        let why = "the two passwords differ";
        return form_page(&WELCOME, StatusCode::BAD_REQUEST, why, false);
    }
    let message = spb::SetPasswordWithLinkRequest {
        secret: form.code.trim().to_owned(),
        password: form.password,
    };
    match gate
        .staff
        .clone()
        .set_password_with_link(request(message, ""))
        .await
    {
        Ok(_) => {
            let done = "Your password is set: sign in with it.";
            gate.sign_in_page(StatusCode::OK, done, true)
        }
        Err(s) => {
            let (code, text) = refusal(&s);
            form_page(&WELCOME, code, &text, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_are_escaped() {
        assert_eq!(
            escape("<b a=\"1\">'&'</b>"),
            "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;"
        );
        assert_eq!(escape("{{notice}}"), "&#123;&#123;notice&#125;&#125;");
    }
}
