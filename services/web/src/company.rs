//! A company's page (`/companies/{id}`): its name and owner, the contacts who work
//! there (each a link to their page), its open deals, and the timeline of what was
//! filed about it — every channel, with infinite scroll as on a client's page — with
//! a note or a call logged by hand filed on the company itself (`POST
//! /companies/{id}/notes`, `…/calls`, as on a client's page).
//! Contacts decides whether the person may see the company (else "not found"), and
//! each list holds only what the person may see.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use tonic::Status;

use crate::client::{DealLine, Opened, deals};
use crate::names::Names;
use crate::page::{Chrome, Notice, failure, html};
use crate::timeline::{After, Companies, Kind, Line, timeline};
use crate::{Viewer, Web};

/// Contacts listed on the page.
const PEOPLE: i32 = 50;

/// One contact of the company.
struct PersonLine {
    href: String,
    name: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "company.html")]
struct CompanyPage<'a> {
    c: Chrome<'a>,
    base: String,
    name: String,
    owner: String,
    people: Vec<PersonLine>,
    deals: Vec<DealLine>,
    lines: Vec<Line>,
    next: String,
    /// The call log's form as typed, when it was refused.
    opened: Opened,
    notice: Notice,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/companies/{id}", get(page))
        .route(
            "/companies/{id}/notes",
            post(crate::client::note::<Companies>),
        )
        .route(
            "/companies/{id}/calls",
            post(crate::call_log::log::<Companies>),
        )
}

/// `GET /companies/{id}`.
async fn page(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(after): Query<After>,
) -> Response {
    show(
        &web,
        &viewer,
        &id,
        &after.after,
        Notice::none(),
        Opened::default(),
    )
    .await
}

/// The page, saying `notice` (a refused form, as 400) with a part `opened`.
pub(crate) async fn show(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    after: &str,
    notice: Notice,
    opened: Opened,
) -> Response {
    let status = match notice.text.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::BAD_REQUEST,
    };
    match gather(web, viewer, id, after).await {
        Ok(page) => {
            let page = CompanyPage {
                opened,
                notice,
                ..page
            };
            html(status, &page, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// The company first (when it is not the person's to see, nothing else is asked),
/// then its people, deals and timeline at once.
async fn gather<'a>(
    web: &'a Web,
    viewer: &'a Viewer,
    id: &str,
    after: &str,
) -> Result<CompanyPage<'a>, Status> {
    let t = viewer.lang.tr();
    let message = cpb::GetCompanyRequest { id: id.to_owned() };
    let company = web.contacts().get_company(viewer.ask(message)?).await?;
    let company = company.into_inner();
    let (people, deals, (lines, next)) = futures::try_join!(
        people(web, viewer, id),
        deals(web, viewer, Kind::Company, id),
        timeline(web, viewer, t, Kind::Company, id, after),
    )?;
    let owner = Names::of(web, viewer, [company.owner_id.as_str()]).await;
    Ok(CompanyPage {
        c: viewer.chrome(web),
        base: Kind::Company.page(id),
        owner: owner.label(&company.owner_id),
        name: company.name,
        people,
        deals,
        lines,
        next,
        opened: Opened::default(),
        notice: Notice::none(),
    })
}

/// The contacts of the company the person may see.
async fn people(web: &Web, viewer: &Viewer, id: &str) -> Result<Vec<PersonLine>, Status> {
    let message = cpb::ListContactsRequest {
        company_id: id.to_owned(),
        page_size: PEOPLE,
        ..Default::default()
    };
    let found = web.contacts().list_contacts(viewer.ask(message)?).await?;
    let lines = found.into_inner().contacts.into_iter().map(|c| PersonLine {
        href: Kind::Contact.page(&c.id),
        detail: (c.identities.iter().map(|i| i.value.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        name: c.name,
    });
    Ok(lines.collect())
}
