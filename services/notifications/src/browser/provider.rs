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

use super::{Gate, refusal, see_other};

/// How long the browser may take at the provider, in seconds.
const FLOW_SECS: i64 = 600;
/// Longest code or state taken from a provider's redirect.
const MAX_PARAM: usize = 4096;

pub(super) async fn start(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    if let Some(why) = ringside_kit::browser::cross_site(&headers) {
        return gate.sign_in_page(StatusCode::FORBIDDEN, why, false);
    }
    let started = gate
        .staff
        .clone()
        .start_provider_sign_in(request(spb::StartProviderSignInRequest {}, ""))
        .await;
    match started {
        Ok(started) => {
            let started = started.into_inner();
            let cookie = gate.cookie.flow().set(&started.state, FLOW_SECS);
            see_other(&started.authorize_url, Some(cookie))
        }
        Err(s) => {
            let (code, text) = refusal(&s);
            gate.sign_in_page(code, &text, false)
        }
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

pub(super) async fn callback(
    State(gate): State<Gate>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(back): Query<Callback>,
) -> Response {
    let flow = gate.cookie.flow();
    let started_here = flow.read(&headers).filter(|s| *s == back.state);
    let refused = match () {
        _ if !back.error.is_empty() => Some("the sign-in provider did not sign you in"),
        _ if started_here.is_none() || back.state.is_empty() => {
            Some("this sign-in was not started in this browser; start again")
        }
        _ if back.code.is_empty()
            || back.code.len() > MAX_PARAM
            || back.state.len() > MAX_PARAM =>
        {
            Some("the sign-in provider sent no usable code; start again")
        }
        _ => None,
    };
    let response = match refused {
        Some(why) => gate.sign_in_page(StatusCode::BAD_REQUEST, why, false),
        None => finish(&gate, peer, &headers, back).await,
    };
    with_cookie(response, flow.clear())
}

async fn finish(gate: &Gate, peer: SocketAddr, headers: &HeaderMap, back: Callback) -> Response {
    let message = spb::FinishProviderSignInRequest {
        state: back.state,
        code: back.code,
        client_address: client_ip(Some(peer), headers, &gate.proxies).to_string(),
    };
    let mut staff = gate.staff.clone();
    let answer = staff.finish_provider_sign_in(request(message, "")).await;
    super::first_factor_answered(gate, headers, answer).await
}

/// `response` with one more cookie set.
fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
