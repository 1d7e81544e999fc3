//! The web service: the workspace agents and managers work in, as server-rendered
//! pages (askama templates, checked at compile time) that htmx makes faster but
//! that work as plain links and forms. It keeps no records: every page calls the
//! services as the signed-in person (staff's `OpenSession` gives a people's access
//! token for the request), so the services' guards and record scopes decide what a
//! page shows, and a record the person may not see is "not found". It owns sign-in
//! in the browser ([`signin`]), the frame of every page with its call bar (the
//! socket is notifications' `/agent/ws`; [`assets`] holds its script), and the two
//! languages ([`lang`]).

pub mod assets;
pub mod home;
pub mod lang;
pub mod page;
pub mod signin;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ringside_kit::browser::{Person, Sessions};
use ringside_kit::net::AllowList;
use tonic::Code;

use crate::lang::Lang;
use crate::page::Chrome;

/// The name this service acts under when it asks other services.
pub const SOURCE: &str = "web";

/// Largest form a page posts.
const MAX_FORM: usize = 16 * 1024;

/// The web service's state: how it finds the person of a request and reaches the
/// services.
#[derive(Clone)]
pub struct Web {
    sessions: Sessions,
    proxies: Arc<AllowList>,
    /// What the sign-in page calls the single sign-on provider, when there is one.
    provider: Option<Arc<str>>,
    /// Where pages open the call bar's socket ("" for this origin's `/agent/ws`).
    push_url: Arc<str>,
}

impl Web {
    pub fn new(sessions: Sessions, proxies: AllowList) -> Self {
        Web {
            sessions,
            proxies: Arc::new(proxies),
            provider: None,
            push_url: "".into(),
        }
    }

    /// Offers single sign-on on the sign-in page, the provider called `name`.
    pub fn with_provider(mut self, name: &str) -> Self {
        self.provider = Some(name.into());
        self
    }

    /// Pages open the call bar's socket at `url` (notifications on another address:
    /// `ws://host:port/agent/ws`) instead of this origin's `/agent/ws`.
    pub fn with_push_url(mut self, url: &str) -> Self {
        self.push_url = url.into();
        self
    }

    /// The frame of a page for `person` in `lang`.
    pub fn chrome<'a>(&'a self, lang: Lang, person: Option<&'a Person>) -> Chrome<'a> {
        Chrome::new(lang, person, &self.push_url)
    }
}

/// Every page and form of the workspace.
pub fn router(web: Web) -> axum::Router {
    axum::Router::new()
        .route("/", get(home::page))
        .route("/assets/{version}/{name}", get(assets::serve))
        .route("/language", post(signin::choose_language))
        .merge(signin::routes())
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .with_state(web)
}

/// The signed-in person a page is for, and their language. A request without a
/// live session goes to the sign-in page.
pub struct Viewer {
    pub person: Person,
    pub lang: Lang,
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers);
        match web.sessions.person(&parts.headers).await {
            Ok(person) => Ok(Viewer { person, lang }),
            Err(s) if s.code() == Code::Unauthenticated => {
                Err(page::see_other("/signin", &[]).into_response())
            }
            Err(s) => Err(signin::sign_in_page(web, lang, &s)),
        }
    }
}
