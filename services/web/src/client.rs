//! The client page: a contact (`/contacts/{id}`) or a lead (`/leads/{id}`) with its
//! details and identities, owner, tags and company; its open tasks and (a
//! contact's) open deals; a note added from the page (`POST …/notes`); and its
//! timeline ([`crate::timeline`]). Every call is made as the person: a client
//! outside their reach is the same "not found" page as one that does not exist.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::Status;

use crate::lang::Tr;
use crate::names::Names;
use crate::page::{Chrome, Notice, When, failure, html, refusal, see_other};
use crate::timeline::{Contacts, Kind, Leads, Line, Which, timeline};
use crate::{Viewer, Web};
/// Longest note the page sends, in characters (activities has its own limit too).
pub(crate) const MAX_NOTE: usize = 10_000;

/// What the page says about the client.
struct Details {
    name: String,
    kind_label: &'static str,
    company: String,
    status: String,
    owner: String,
    tags: Vec<String>,
    identities: Vec<String>,
    /// A lead that may still become a contact.
    convertible: bool,
    /// The details form as it starts: the saved details.
    form: crate::details::DetailsForm,
    /// The details may be changed (not a converted lead's).
    editable: bool,
    is_lead: bool,
    /// A contact the person's role may merge a duplicate into.
    mergeable: bool,
    /// The company's page, for a contact's (a lead's company is only a name).
    company_href: String,
    /// The contact this one was merged into (its page is that one's now).
    merged_into: String,
}

struct TaskLine {
    title: String,
    due: When,
}

pub(crate) struct DealLine {
    pub(crate) href: String,
    pub(crate) title: String,
    pub(crate) stage: String,
    pub(crate) amount: String,
}

/// A contact the lead may turn out to be.
pub struct Match {
    pub id: String,
    pub name: String,
    pub detail: String,
}

/// What a lead's page shows opened: the conversion, or the search for the existing
/// client the lead may be, with what was asked and found.
#[derive(Default)]
pub struct Opened {
    pub part: &'static str,
    pub asked: String,
    pub matches: Vec<Match>,
    /// The details form as typed, when it was refused.
    pub details: Option<crate::details::DetailsForm>,
    /// The call log's form as typed, when it was refused.
    pub call: Option<crate::call_log::CallForm>,
}

#[derive(Template)]
#[template(path = "client.html")]
struct ClientPage<'a> {
    c: Chrome<'a>,
    base: String,
    opened: Opened,
    client: Details,
    tasks: Vec<TaskLine>,
    deals: Vec<DealLine>,
    lines: Vec<Line>,
    next: String,
    notice: Notice,
}

/// The routes of both kinds of client.
pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/contacts/{id}", get(page::<Contacts>))
        .route("/leads/{id}", get(page::<Leads>))
        .route("/contacts/{id}/notes", post(note::<Contacts>))
        .route("/leads/{id}/notes", post(note::<Leads>))
        .route(
            "/contacts/{id}/calls",
            post(crate::call_log::log::<Contacts>),
        )
        .route("/leads/{id}/calls", post(crate::call_log::log::<Leads>))
        .route("/leads/{id}/attach", post(crate::convert::attach))
        .route("/contacts/{id}/merge", post(crate::merge::merge))
        .route(
            "/contacts/{id}/details",
            post(crate::details::save::<Contacts>),
        )
        .route("/leads/{id}/details", post(crate::details::save::<Leads>))
        // A note of 10,000 Cyrillic characters is some 60 KiB as a form.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
}

/// The page's address query: where the timeline starts, and (a lead's) which part
/// comes opened — `convert`, or `attach` (the search for an existing client), as
/// the call bar's card links them.
#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    after: String,
    #[serde(default)]
    open: String,
}

/// `GET /contacts/{id}`, `GET /leads/{id}`: the page, its timeline from `after`.
pub async fn page<W: Which>(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let opened = Opened {
        part: match shown.open.as_str() {
            "convert" => "convert",
            "attach" => "attach",
            _ => "",
        },
        ..Opened::default()
    };
    let notice = Notice::none();
    show_opened(&web, &viewer, W::KIND, &id, &shown.after, notice, opened).await
}

/// The whole page, or the page saying why not.
pub(crate) async fn show(
    web: &Web,
    viewer: &Viewer,
    kind: Kind,
    id: &str,
    after: &str,
    notice: Notice,
) -> Response {
    show_opened(web, viewer, kind, id, after, notice, Opened::default()).await
}

/// The whole page with a part of it `opened` (a company's page for a company).
pub(crate) async fn show_opened(
    web: &Web,
    viewer: &Viewer,
    kind: Kind,
    id: &str,
    after: &str,
    notice: Notice,
    opened: Opened,
) -> Response {
    if kind == Kind::Company {
        return crate::company::show(web, viewer, id, after, notice, opened).await;
    }
    let t = viewer.lang.tr();
    let status = match notice.text.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::BAD_REQUEST,
    };
    match gather(web, viewer, t, kind, id, after).await {
        // A merged contact's links (a bookmark, an old card) lead to where it went.
        Ok((client, ..)) if !client.merged_into.is_empty() => {
            see_other(&Kind::Contact.page(&client.merged_into), &[])
        }
        Ok((client, tasks, deals, (lines, next))) => {
            let page = ClientPage {
                c: viewer.chrome(web),
                base: kind.page(id),
                opened,
                client,
                tasks,
                deals,
                lines,
                next,
                notice,
            };
            html(status, &page, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

type Gathered = (Details, Vec<TaskLine>, Vec<DealLine>, (Vec<Line>, String));

/// Everything the page shows, asked of the services at once. The client first
/// decides: when it is not found, nothing else is.
async fn gather(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    kind: Kind,
    id: &str,
    after: &str,
) -> Result<Gathered, Status> {
    let client = details(web, viewer, t, kind, id).await?;
    if !client.merged_into.is_empty() {
        return Ok((client, Vec::new(), Vec::new(), (Vec::new(), String::new())));
    }
    let (tasks, deals, timeline) = futures::try_join!(
        tasks(web, viewer, kind, id),
        deals(web, viewer, kind, id),
        timeline(web, viewer, t, kind, id, after),
    )?;
    Ok((client, tasks, deals, timeline))
}

async fn details(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    kind: Kind,
    id: &str,
) -> Result<Details, Status> {
    let owner = async |owner: &str| Names::of(web, viewer, [owner]).await.label(owner);
    match kind {
        Kind::Contact => {
            let message = cpb::GetContactRequest { id: id.to_owned() };
            let c = web.contacts().get_contact(viewer.ask(message)?).await?;
            let c = c.into_inner();
            let company = company_name(web, viewer, &c.company_id).await?;
            Ok(Details {
                kind_label: t.kind_contact,
                convertible: false,
                form: form_of(&c.name, "", &c.identities, &c.tags),
                editable: true,
                is_lead: false,
                mergeable: crate::admin::allows(
                    viewer,
                    ringside_auth::policy::Action::MergeRecords,
                ),
                merged_into: c.merged_into,
                company_href: match c.company_id.is_empty() {
                    true => String::new(),
                    false => Kind::Company.page(&c.company_id),
                },
                company,
                status: String::new(),
                owner: owner(&c.owner_id).await,
                tags: c.tags,
                identities: c.identities.into_iter().map(|i| i.value).collect(),
                name: c.name,
            })
        }
        // A deal and a company have their own pages, not this one.
        Kind::Deal | Kind::Company => Err(Status::not_found("not a client")),
        Kind::Lead => {
            let message = cpb::GetLeadRequest { id: id.to_owned() };
            let l = web.contacts().get_lead(viewer.ask(message)?).await?;
            let l = l.into_inner();
            Ok(Details {
                kind_label: t.kind_lead,
                form: form_of(&l.name, &l.company_name, &l.identities, &[]),
                editable: l.contact_id.is_empty(),
                is_lead: true,
                mergeable: false,
                company_href: String::new(),
                merged_into: String::new(),
                company: l.company_name,
                status: lead_status(t, l.status, !l.contact_id.is_empty()),
                owner: owner(&l.owner_id).await,
                tags: Vec::new(),
                convertible: l.contact_id.is_empty()
                    && l.status != i32::from(cpb::LeadStatus::Disqualified),
                identities: l.identities.into_iter().map(|i| i.value).collect(),
                name: l.name,
            })
        }
    }
}

/// The details form filled with what is saved.
fn form_of(
    name: &str,
    company: &str,
    identities: &[cpb::Identity],
    tags: &[String],
) -> crate::details::DetailsForm {
    let reach = identities.iter().filter(|i| crate::details::shown(i.kind));
    crate::details::DetailsForm {
        name: name.to_owned(),
        company: company.to_owned(),
        reach: reach
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        tags: tags.join(", "),
    }
}

pub async fn company_name(web: &Web, viewer: &Viewer, id: &str) -> Result<String, Status> {
    if id.is_empty() {
        return Ok(String::new());
    }
    let message = cpb::GetCompanyRequest { id: id.to_owned() };
    match web.contacts().get_company(viewer.ask(message)?).await {
        Ok(company) => Ok(company.into_inner().name),
        // A company outside the person's reach is left out, not an error.
        Err(s) if s.code() == tonic::Code::NotFound => Ok(String::new()),
        Err(s) => Err(s),
    }
}

fn lead_status(t: &'static Tr, status: i32, converted: bool) -> String {
    let label = match cpb::LeadStatus::try_from(status) {
        Ok(cpb::LeadStatus::New) => t.lead_new,
        Ok(cpb::LeadStatus::Working) => t.lead_working,
        Ok(cpb::LeadStatus::Qualified) => t.lead_qualified,
        Ok(cpb::LeadStatus::Disqualified) => t.lead_disqualified,
        _ => "",
    };
    match converted {
        true => t.lead_converted.to_owned(),
        false => label.to_owned(),
    }
}

async fn tasks(web: &Web, viewer: &Viewer, kind: Kind, id: &str) -> Result<Vec<TaskLine>, Status> {
    let message = apb::ListTasksRequest {
        subject: Some(kind.subject(id)),
        page_size: 20,
        ..Default::default()
    };
    let found = web.activities().list_tasks(viewer.ask(message)?).await?;
    let lines = found.into_inner().tasks.into_iter().map(|task| TaskLine {
        due: When::of(task.due_at.as_ref()),
        title: task.title,
    });
    Ok(lines.collect())
}

/// The open deals of a contact or a company (a lead has none).
pub(crate) async fn deals(
    web: &Web,
    viewer: &Viewer,
    kind: Kind,
    id: &str,
) -> Result<Vec<DealLine>, Status> {
    let mut filter = dpb::DealFilter {
        status: dpb::DealStatus::Open.into(),
        ..Default::default()
    };
    match kind {
        Kind::Contact => filter.contact_id = id.to_owned(),
        Kind::Company => filter.company_id = id.to_owned(),
        Kind::Lead | Kind::Deal => return Ok(Vec::new()),
    }
    let message = dpb::ListDealsRequest {
        filter: Some(filter),
        page_size: 20,
        ..Default::default()
    };
    let found = web.deals().list_deals(viewer.ask(message)?).await?;
    let lines = found.into_inner().deals.into_iter().map(|d| DealLine {
        href: Kind::Deal.page(&d.id),
        amount: crate::page::money(viewer.lang.tr(), d.amount_minor, &d.currency),
        title: d.title,
        stage: d.stage_name,
    });
    Ok(lines.collect())
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

/// `POST …/notes`.
pub async fn note<W: Which>(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    add_note(&web, &viewer, W::KIND, &id, form).await
}

/// Files the note and goes back to the page; a note that cannot be filed is shown
/// on the page with why, and nothing is saved.
async fn add_note(web: &Web, viewer: &Viewer, kind: Kind, id: &str, form: NoteForm) -> Response {
    let t = viewer.lang.tr();
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        return show(web, viewer, kind, id, "", Notice::error(t.note_length)).await;
    }
    let message = apb::AddNoteRequest {
        links: Some(kind.links(id)),
        text: text.to_owned(),
    };
    let request = match viewer.ask(message) {
        Ok(request) => request,
        Err(s) => return failure(viewer.chrome(web), &s),
    };
    match web.activities().add_note(request).await {
        Ok(_) => see_other(&kind.page(id), &[]),
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(web), &s),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            show(web, viewer, kind, id, "", Notice::error(why)).await
        }
    }
}
