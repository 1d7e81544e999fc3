//! Single sign-on in the browser: the sign-in page's button posts to
//! `/signin/provider`, which asks staff for the provider's address and sends the
//! browser there with the flow's state in a cookie of ten minutes; the provider sends
//! it back to `/signin/provider/callback` with the state and a code. The state must
//! be the one in the cookie — a sign-in that another site started (login CSRF) goes
//! no further — and staff exchanges the code and checks the ID token. The cookie is
//! cleared whatever the outcome.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use ringside_kit::net::client_ip;
use ringside_kit::peer::request;
use ringside_proto::staff::v1 as spb;
use serde::Deserialize;

use super::{Notice, first_factor_answered, sign_in_page, sign_in_with_notice};
use crate::Web;
use crate::lang::{Lang, Tr};
use crate::page::see_other;

/// What staff gets to say why a callback went no further (and what the page says).
type Refusal = (&'static str, &'static str);

/// How long the browser may take at the provider, in seconds.
const FLOW_SECS: i64 = 600;
/// Longest code or state taken from a provider's redirect.
const MAX_PARAM: usize = 4096;

pub(super) async fn start(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let message = spb::StartProviderSignInRequest {
        client_address: client_ip(Some(peer), &headers, &web.proxies).to_string(),
    };
    let mut staff = web.sessions.staff();
    match staff.start_provider_sign_in(request(message, "")).await {
        Ok(started) => {
            let started = started.into_inner();
            let cookie = web.sessions.cookie().flow().set(&started.state, FLOW_SECS);
            see_other(&started.authorize_url, &[cookie])
        }
        Err(s) => sign_in_page(&web, lang, &s),
    }
}

/// What the provider sends back (other parameters it adds are ignored).
#[derive(Deserialize)]
pub(super) struct Callback {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    error: String,
}

impl Callback {
    /// Why this callback goes no further here, if it does not: the provider said no,
    /// this browser did not start the flow (another site's sign-in, login CSRF), or
    /// there is no code.
    fn refusal(&self, started_here: bool, t: &'static Tr) -> Option<Refusal> {
        if !self.error.is_empty() {
            return Some(("provider_error", t.provider_error));
        }
        if !started_here || self.state.is_empty() {
            return Some(("not_started_in_this_browser", t.not_started_here));
        }
        if self.code.is_empty() || self.code.len() > MAX_PARAM {
            return Some(("no_code", t.no_code));
        }
        None
    }
}

pub(super) async fn callback(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Response {
    let lang = Lang::of(&headers);
    let flow = web.sessions.cookie().flow();
    if back.state.len() > MAX_PARAM {
        let why = Notice::error(lang.tr().no_state);
        let page = sign_in_with_notice(&web, lang, StatusCode::BAD_REQUEST, why);
        return with_cookie(page, flow.clear());
    }
    let started_here = flow.read(&headers).is_some_and(|s| s == back.state);
    let address = client_ip(Some(peer), &headers, &web.proxies).to_string();
    let response = match back.refusal(started_here, lang.tr()) {
        // Staff uses the flow up and writes the refusal down; the page says why.
        Some((error, why)) => {
            let _ = finish(&web, address, back.state, String::new(), error).await;
            sign_in_with_notice(&web, lang, StatusCode::BAD_REQUEST, Notice::error(why))
        }
        None => {
            let answer = finish(&web, address, back.state, back.code, "").await;
            first_factor_answered(&web, &headers, answer).await
        }
    };
    with_cookie(response, flow.clear())
}

async fn finish(
    web: &Web,
    client_address: String,
    state: String,
    code: String,
    error: &str,
) -> Result<tonic::Response<spb::SignInResponse>, tonic::Status> {
    let message = spb::FinishProviderSignInRequest {
        state,
        code,
        client_address,
        error: error.to_owned(),
    };
    let mut staff = web.sessions.staff();
    staff.finish_provider_sign_in(request(message, "")).await
}

/// `response` with one more cookie set.
fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
