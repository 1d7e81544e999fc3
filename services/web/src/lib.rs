//! The web service: the workspace agents and managers work in, as server-rendered
//! pages (askama templates, checked at compile time) that htmx makes faster but
//! that work as plain links and forms. It keeps no records: every page calls the
//! services as the signed-in person (staff's `OpenSession` gives a people's access
//! token for the request), so the services' guards and record scopes decide what a
//! page shows, and a record the person may not see is "not found". It owns sign-in
//! in the browser ([`signin`]), the frame of every page with its call bar (the
//! socket is notifications' `/agent/ws`; [`assets`] holds its script), and the two
//! languages ([`lang`]).

pub mod admin;
pub mod assets;
pub mod board;
pub mod call_log;
pub mod channels;
pub mod client;
pub mod company;
pub mod convert;
pub mod deal;
pub mod deal_people;
pub mod details;
pub mod home;
pub mod inbox;
pub mod lang;
pub mod list;
pub mod look;
pub mod me;
pub mod merge;
pub mod names;
pub mod notes;
pub mod page;
pub mod pipelines;
pub mod replies;
pub mod reports;
pub mod roles;
pub mod said;
pub mod search;
pub mod signin;
pub mod timeline;
pub mod zone;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ringside_kit::PeerChannel;
use ringside_kit::browser::{Person, Sessions};
use ringside_kit::net::AllowList;
use ringside_kit::peer::request_as;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::ingest::v1::ingest_client::IngestClient;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use ringside_proto::staff::v1::staff_client::StaffClient;
use tonic::{Code, Status};

use crate::lang::Lang;
use crate::page::Chrome;

/// The name this service acts under when it asks other services.
pub const SOURCE: &str = "web";

/// Largest form a page posts (a note may be larger: its route says).
const MAX_FORM: usize = 16 * 1024;

/// The header the pages' own script sends on the requests it makes itself (not
/// htmx's): it is answered with a status, not a page.
pub const SCRIPT_HEADER: &str = "ringside-script";

/// The services the pages call (as the person).
#[derive(Clone)]
pub struct Peers {
    pub contacts: PeerChannel,
    pub activities: PeerChannel,
    pub deals: PeerChannel,
    pub notifications: PeerChannel,
    pub staff: PeerChannel,
    pub ingest: PeerChannel,
}

/// The web service's state: how it finds the person of a request and reaches the
/// services.
#[derive(Clone)]
pub struct Web {
    sessions: Sessions,
    peers: Peers,
    proxies: Arc<AllowList>,
    /// What the sign-in page calls the single sign-on provider, when there is one.
    provider: Option<Arc<str>>,
    /// Where pages open the call bar's socket ("" for this origin's `/agent/ws`).
    push_url: Arc<str>,
}

impl Web {
    pub fn new(sessions: Sessions, peers: Peers, proxies: AllowList) -> Self {
        Web {
            sessions,
            peers,
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

    pub fn contacts(&self) -> ContactsClient<PeerChannel> {
        ContactsClient::new(self.peers.contacts.clone())
    }

    pub fn activities(&self) -> ActivitiesClient<PeerChannel> {
        ActivitiesClient::new(self.peers.activities.clone())
    }

    pub fn deals(&self) -> DealsClient<PeerChannel> {
        DealsClient::new(self.peers.deals.clone())
    }

    pub fn staff(&self) -> StaffClient<PeerChannel> {
        StaffClient::new(self.peers.staff.clone())
    }

    pub fn notifications(&self) -> NotificationsClient<PeerChannel> {
        NotificationsClient::new(self.peers.notifications.clone())
    }

    pub fn ingest(&self) -> IngestClient<PeerChannel> {
        IngestClient::new(self.peers.ingest.clone())
    }
}

/// Every page and form of the workspace.
pub fn router(web: Web) -> axum::Router {
    axum::Router::new()
        .route("/", get(home::page))
        .route("/assets/{version}/{name}", get(assets::serve))
        .route("/language", post(signin::choose_language))
        .route("/search", get(search::page).post(search::find))
        .merge(client::routes())
        .route("/leads/{id}/convert", post(convert::convert))
        .merge(timeline::routes())
        .merge(board::routes())
        .merge(deal::routes())
        .merge(deal_people::routes())
        .merge(reports::routes())
        .merge(inbox::routes())
        .merge(admin::routes())
        .merge(pipelines::routes())
        .merge(replies::routes())
        .merge(channels::routes())
        .merge(roles::routes())
        .merge(notes::routes())
        .merge(company::routes())
        .merge(me::routes())
        .route("/tasks", post(home::create))
        .route("/tasks/{id}/complete", post(home::complete))
        .route("/tasks/{id}/reschedule", post(home::reschedule))
        .route("/tasks/reassign", post(home::reassign))
        .merge(signin::routes())
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            same_site_posts,
        ))
        .with_state(web)
}

/// Every form post another site sent is refused here, before its body is read or
/// anyone is asked anything: 403, with the page saying why.
async fn same_site_posts(
    axum::extract::State(web): axum::extract::State<Web>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let unsafe_method = !request.method().is_safe();
    match unsafe_method.then(|| ringside_kit::browser::cross_site(request.headers())) {
        Some(Some(_)) => {
            let lang = Lang::of(request.headers());
            page::from_another_site(web.chrome(lang, None))
        }
        _ => next.run(request).await,
    }
}

/// The signed-in person a page is for, and their language. A request without a
/// live session goes to the sign-in page.
pub struct Viewer {
    pub person: Person,
    pub lang: Lang,
    /// Their time zone: the one staff keeps for them, else their browser's offset.
    zone: zone::Zone,
    /// A part of a page refreshing itself asked (see [`page::refreshing`]).
    refreshing: bool,
}

impl Viewer {
    /// A request to a service made as this person.
    pub fn ask<T>(&self, message: T) -> Result<tonic::Request<T>, Status> {
        request_as(message, &self.person.access_token)
            .ok_or_else(|| Status::unauthenticated("the session gave no usable token"))
    }

    /// A part of the page refreshing itself asked: what only the whole page shows
    /// (forms' choices) need not be asked for.
    pub fn refreshing(&self) -> bool {
        self.refreshing
    }

    /// The person's offset from UTC now.
    pub fn offset(&self) -> time::UtcOffset {
        self.zone.now()
    }

    /// The person's time zone.
    pub fn zone(&self) -> &zone::Zone {
        &self.zone
    }

    /// The frame of this person's page.
    pub fn chrome<'a>(&'a self, web: &'a Web) -> Chrome<'a> {
        let mut chrome = web.chrome(self.lang, Some(&self.person));
        chrome.quiet = self.refreshing;
        if self.zone.is_named() {
            chrome.time_zone = &self.person.time_zone;
        }
        chrome
    }
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        let lang = Lang::of(&parts.headers);
        let offset = crate::lang::utc_offset(&parts.headers);
        match web.sessions.person(&parts.headers).await {
            Ok(person) => Ok(Viewer {
                lang: crate::lang::of_person(&parts.headers, &person.locale),
                zone: zone::Zone::of(&person.time_zone, offset),
                person,
                refreshing: page::refreshing(&parts.headers),
            }),
            // An htmx request swaps part of a page: it is told to go, not given the
            // sign-in page to put inside one.
            Err(s)
                if s.code() == Code::Unauthenticated
                    && parts.headers.contains_key("hx-request") =>
            {
                Err(([("hx-redirect", "/signin")], "").into_response())
            }
            Err(s)
                if s.code() == Code::Unauthenticated
                    && parts.headers.contains_key(SCRIPT_HEADER) =>
            {
                Err(axum::http::StatusCode::UNAUTHORIZED.into_response())
            }
            Err(s) if s.code() == Code::Unauthenticated => {
                Err(page::see_other("/signin", &[]).into_response())
            }
            Err(s) => Err(signin::sign_in_page(web, lang, &s)),
        }
    }
}
