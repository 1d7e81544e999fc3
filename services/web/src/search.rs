//! "Who is this?": one box (`/search`, and in the header of every page) for a name,
//! a phone number written any way, an email, a company or a deal's title; the
//! answers grouped as leads, contacts, companies and deals, each with its owner, as
//! far as the person may see. The query is posted, never put in the address, so it stays out of history,
//! logs and referrers. Contacts reads a phone number in its region, so
//! `8 (912) 345-67-89` finds `+79123456789`.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::Status;

use crate::names::Names;
use crate::page::{Chrome, Notice, failure, html, money};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Answers of each kind shown.
const PER_KIND: i32 = 10;
/// Longest query taken.
const MAX_QUERY: usize = 200;

/// One answer: where it leads, what it is called, what else identifies it.
struct Found {
    href: String,
    name: String,
    detail: String,
    owner: String,
}

/// The answers, by kind.
#[derive(Default)]
struct Answers {
    leads: Vec<Found>,
    contacts: Vec<Found>,
    companies: Vec<Found>,
    deals: Vec<Found>,
}

impl Answers {
    fn is_empty(&self) -> bool {
        self.leads.is_empty()
            && self.contacts.is_empty()
            && self.companies.is_empty()
            && self.deals.is_empty()
    }
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    c: Chrome<'a>,
    query: &'a str,
    searched: bool,
    answers: Answers,
    notice: Notice,
}

/// `GET /search`: the empty box.
pub async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    let page = SearchPage {
        c: viewer.chrome(&web),
        query: "",
        searched: false,
        answers: Answers::default(),
        notice: Notice::none(),
    };
    html(StatusCode::OK, &page, &web.push_url)
}

#[derive(Deserialize)]
pub struct Query {
    #[serde(default)]
    q: String,
}

/// `POST /search`: the answers for `q`.
pub async fn find(State(web): State<Web>, viewer: Viewer, Form(form): Form<Query>) -> Response {
    let t = viewer.lang.tr();
    let query = form.q.trim();
    let too_long = query.chars().count() > MAX_QUERY;
    let (status, answers, notice) = match too_long {
        true => (
            StatusCode::BAD_REQUEST,
            Answers::default(),
            Notice::error(t.query_too_long),
        ),
        false if query.is_empty() => (StatusCode::OK, Answers::default(), Notice::none()),
        false => match answers(&web, &viewer, query).await {
            Ok(answers) => (StatusCode::OK, answers, Notice::none()),
            Err(s) => return failure(viewer.chrome(&web), &s),
        },
    };
    let page = SearchPage {
        c: viewer.chrome(&web),
        query,
        searched: !query.is_empty() && notice.text.is_empty(),
        answers,
        notice,
    };
    html(status, &page, &web.push_url)
}

/// Leads, contacts, companies and deals matching `query`, asked at once; deals
/// latest touched first.
async fn answers(web: &Web, viewer: &Viewer, query: &str) -> Result<Answers, Status> {
    let leads = cpb::ListLeadsRequest {
        page_size: PER_KIND,
        query: query.to_owned(),
        ..Default::default()
    };
    let contacts = cpb::ListContactsRequest {
        page_size: PER_KIND,
        query: query.to_owned(),
        ..Default::default()
    };
    let companies = cpb::ListCompaniesRequest {
        page_size: PER_KIND,
        query: query.to_owned(),
        ..Default::default()
    };
    let deals = dpb::ListDealsRequest {
        page_size: PER_KIND,
        filter: Some(dpb::DealFilter {
            query: query.to_owned(),
            ..Default::default()
        }),
        sort: Some(dpb::Sort {
            field: dpb::SortField::Updated.into(),
            ascending: false,
        }),
        ..Default::default()
    };
    let (mut a, mut b, mut c) = (web.contacts(), web.contacts(), web.contacts());
    let mut d = web.deals();
    let (leads, contacts, companies, deals) = futures::try_join!(
        a.list_leads(viewer.ask(leads)?),
        b.list_contacts(viewer.ask(contacts)?),
        c.list_companies(viewer.ask(companies)?),
        d.list_deals(viewer.ask(deals)?),
    )?;
    let (leads, contacts, companies, deals) = (
        leads.into_inner().leads,
        contacts.into_inner().contacts,
        companies.into_inner().companies,
        deals.into_inner().deals,
    );
    let owners = (leads.iter().map(|l| l.owner_id.as_str()))
        .chain(contacts.iter().map(|c| c.owner_id.as_str()))
        .chain(companies.iter().map(|c| c.owner_id.as_str()))
        .chain(deals.iter().map(|d| d.owner_id.as_str()));
    let names = Names::of(web, viewer, owners).await;
    let owner = |id: &str| names.label(id);
    let identities = |ids: &[cpb::Identity]| {
        let values: Vec<&str> = ids.iter().map(|i| i.value.as_str()).collect();
        values.join(", ")
    };
    Ok(Answers {
        leads: (leads.into_iter())
            .map(|l| Found {
                href: Kind::Lead.page(&l.id),
                detail: identities(&l.identities),
                owner: owner(&l.owner_id),
                name: l.name,
            })
            .collect(),
        contacts: (contacts.into_iter())
            .map(|c| Found {
                href: Kind::Contact.page(&c.id),
                detail: identities(&c.identities),
                owner: owner(&c.owner_id),
                name: c.name,
            })
            .collect(),
        companies: (companies.into_iter())
            .map(|c| Found {
                href: Kind::Company.page(&c.id),
                detail: String::new(),
                owner: owner(&c.owner_id),
                name: c.name,
            })
            .collect(),
        deals: (deals.into_iter())
            .map(|d| Found {
                href: Kind::Deal.page(&d.id),
                detail: format!(
                    "{} · {}",
                    money(viewer.lang.tr(), d.amount_minor, &d.currency),
                    d.stage_name
                ),
                owner: owner(&d.owner_id),
                name: d.title,
            })
            .collect(),
    })
}
