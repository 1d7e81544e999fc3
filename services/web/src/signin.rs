//! Signing in and out in the browser: the sign-in page (`/signin`), sign-out
//! (`/signout`), setting a password with a one-time link (`/welcome`), the second
//! step for a code (`/signin/code`, in `code`), single sign-on through a provider
//! (`/signin/provider`, in `provider`), who is signed in (`/agent/me`, which the
//! call bar's script asks before it reconnects), and the choice of language
//! (`/language`).
//! Staff checks passwords and keeps the sessions; this edge only carries the
//! session's secret in the cookie ([`ringside_kit::browser`]) and asks staff, with
//! web's service token, whose session it is. Every form post from another site is
//! refused before anything is read or written.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ringside_kit::net::client_ip;
use ringside_kit::peer::request;
use ringside_proto::staff::v1 as spb;
use serde::Deserialize;
use serde_json::json;
use tonic::Status;

use crate::Web;
use crate::lang::{self, EN, Lang};
use crate::page::{Chrome, Notice, html, refusal, see_other};

mod code;
mod provider;

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    c: Chrome<'a>,
    notice: Notice,
    provider: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomePage<'a> {
    c: Chrome<'a>,
    notice: Notice,
}

pub fn routes() -> axum::Router<Web> {
    axum::Router::new()
        .route("/agent/me", get(me))
        .route("/signin", get(sign_in_form).post(sign_in))
        .route("/signin/code", post(code::sign_in_with_code))
        .route("/signin/provider", post(provider::start))
        .route("/signin/provider/callback", get(provider::callback))
        .route("/signout", post(sign_out))
        .route("/welcome", get(welcome_form).post(welcome))
}

/// The sign-in page with `notice`, with the provider's button when single sign-on is
/// set up.
fn sign_in_with_notice(web: &Web, lang: Lang, status: StatusCode, notice: Notice) -> Response {
    let provider = web.provider.as_deref().map(|name| match name {
        "" => lang.tr().company_account,
        name => name,
    });
    let page = SignInPage {
        c: web.chrome(lang, None),
        notice,
        provider,
    };
    html(status, &page, "")
}

/// The sign-in page saying why staff refused.
pub fn sign_in_page(web: &Web, lang: Lang, status: &Status) -> Response {
    let t = lang.tr();
    let (code, text) = refusal(status, t, t.wrong_login);
    sign_in_with_notice(web, lang, code, Notice::error(text))
}

async fn sign_in_form(State(web): State<Web>, headers: HeaderMap) -> Response {
    if web.sessions.person(&headers).await.is_ok() {
        return see_other("/", &[]);
    }
    sign_in_with_notice(&web, Lang::of(&headers), StatusCode::OK, Notice::none())
}

#[derive(Deserialize)]
struct SignInForm {
    login: String,
    password: String,
}

async fn sign_in(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let message = spb::SignInRequest {
        login: form.login,
        password: form.password,
        client_address: client_ip(Some(peer), &headers, &web.proxies).to_string(),
    };
    let answer = web.sessions.staff().sign_in(request(message, "")).await;
    first_factor_answered(&web, &headers, answer).await
}

/// Staff's answer to a first factor (a password, the provider): the page asking for
/// a code, a session, or the sign-in page saying why not.
async fn first_factor_answered(
    web: &Web,
    headers: &HeaderMap,
    answer: Result<tonic::Response<spb::SignInResponse>, Status>,
) -> Response {
    let lang = Lang::of(headers);
    match answer.map(tonic::Response::into_inner) {
        Ok(spb::SignInResponse {
            second_step: Some(step),
            ..
        }) => code::code_page(web, lang, &step, StatusCode::OK, Notice::none()),
        Ok(signed) => signed_in(web, headers, signed).await,
        Err(s) => sign_in_page(web, lang, &s),
    }
}

/// A sign-in that opened a session: the cookie is set (and a session the browser
/// brought along ends, so each sign-in gets a new id), then the first page, or first
/// the recovery codes this sign-in made.
async fn signed_in(web: &Web, headers: &HeaderMap, signed: spb::SignInResponse) -> Response {
    if let Some(old) = web.sessions.secret(headers) {
        end_session(web, old).await;
    }
    let max_age = signed.expires_at.map_or(0, |t| t.seconds) - now_secs();
    let cookie = web.sessions.cookie().set(&signed.session_secret, max_age);
    match signed.recovery_codes.is_empty() {
        true => see_other("/", &[cookie]),
        false => code::recovery_page(web, Lang::of(headers), &signed.recovery_codes, cookie),
    }
}

fn now_secs() -> i64 {
    ringside_storage::now_millis() / 1000
}

async fn end_session(web: &Web, secret: String) {
    let message = spb::SignOutRequest {
        session_secret: secret,
    };
    if let Err(e) = web.sessions.staff().sign_out(request(message, "")).await {
        tracing::warn!(error = %e.message(), "ending a session at staff failed");
    }
}

async fn sign_out(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some(secret) = web.sessions.secret(&headers) {
        end_session(&web, secret).await;
    }
    see_other("/signin", &[web.sessions.cookie().clear()])
}

fn welcome_page(web: &Web, lang: Lang, status: StatusCode, notice: Notice) -> Response {
    let page = WelcomePage {
        c: web.chrome(lang, None).without_lang_switch(),
        notice,
    };
    html(status, &page, "")
}

async fn welcome_form(State(web): State<Web>, headers: HeaderMap) -> Response {
    welcome_page(&web, Lang::of(&headers), StatusCode::OK, Notice::none())
}

#[derive(Deserialize)]
struct WelcomeForm {
    code: String,
    password: String,
    repeat: String,
}

async fn welcome(
    State(web): State<Web>,
    headers: HeaderMap,
    Form(form): Form<WelcomeForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let t = lang.tr();
    if form.password != form.repeat {
        let why = Notice::error(t.passwords_differ);
        return welcome_page(&web, lang, StatusCode::BAD_REQUEST, why);
    }
    let message = spb::SetPasswordWithLinkRequest {
        secret: form.code.trim().to_owned(),
        password: form.password,
    };
    let mut staff = web.sessions.staff();
    match staff.set_password_with_link(request(message, "")).await {
        Ok(_) => sign_in_with_notice(&web, lang, StatusCode::OK, Notice::ok(t.password_set)),
        Err(s) => {
            let (code, text) = refusal(&s, t, t.link_refused);
            welcome_page(&web, lang, code, Notice::error(text))
        }
    }
}

/// Who is signed in, as JSON; 401 once the session has ended.
pub async fn me(State(web): State<Web>, headers: HeaderMap) -> Response {
    match web.sessions.person(&headers).await {
        Ok(p) => {
            let body = json!({"id": p.id, "name": p.name, "role": p.role.as_str()});
            let headers = [(header::CACHE_CONTROL, "no-store")];
            (headers, axum::Json(body)).into_response()
        }
        Err(s) => {
            let (code, text) = refusal(&s, &EN, EN.went_wrong);
            (code, text).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    lang: String,
}

/// `POST /language`: keeps the person's choice in a cookie for a year and, when
/// they are signed in, with staff (their settings), so their other devices follow.
pub async fn choose_language(
    State(web): State<Web>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Response {
    let Some(lang) = Lang::parse(&form.lang) else {
        return see_other("/", &[]);
    };
    if let Ok(person) = web.sessions.person(&headers).await {
        let message = ringside_proto::staff::v1::UpdateMyPreferencesRequest {
            locale: Some(lang.code().to_owned()),
            time_zone: None,
        };
        let saved = match ringside_kit::peer::request_as(message, &person.access_token) {
            Some(request) => web.staff().update_my_preferences(request).await.map(drop),
            None => Err(tonic::Status::unauthenticated("no usable token")),
        };
        if let Err(s) = saved {
            tracing::debug!(code = ?s.code(), "the language is kept in the browser only");
        }
    }
    let cookie = language_cookie(&web, lang.code(), cookie::time::Duration::days(365));
    see_other("/", &[cookie])
}

/// The language cookie with `value`, for `age`.
fn language_cookie(web: &Web, value: &str, age: cookie::time::Duration) -> String {
    cookie::Cookie::build((lang::COOKIE_NAME, value.to_owned()))
        .path("/")
        .same_site(cookie::SameSite::Lax)
        .secure(web.sessions.cookie().is_secure())
        .max_age(age)
        .build()
        .to_string()
}

/// A cookie that takes the browser's language choice away (the one staff keeps
/// for the person is followed then).
pub fn forget_language(web: &Web) -> String {
    language_cookie(web, "", cookie::time::Duration::ZERO)
}
