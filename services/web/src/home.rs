//! The first page after sign-in (`/`), and `/agent/me`, who is signed in (the call
//! bar's script asks it before it reconnects).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::lang::EN;
use crate::page::{Chrome, html, refusal};
use crate::{Viewer, Web};

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    c: Chrome<'a>,
}

pub async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    let c = web.chrome(viewer.lang, Some(&viewer.person));
    html(StatusCode::OK, &Home { c }, &web.push_url)
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
