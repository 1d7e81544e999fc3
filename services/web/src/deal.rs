//! The deal page (`/deals/{id}`): the stage path with the current stage's guidance,
//! each open stage a button that moves the deal there; the amount, expected close,
//! owner, company and contacts with their roles (changed in [`crate::deal_people`]);
//! the next step; the history of its
//! stages; its timeline ([`crate::timeline`]); its title, amount, currency,
//! expected close and (a manager's, an admin's) owner changed (`POST
//! /deals/{id}/edit`); won or lost with the reason (`POST /deals/{id}/win`,
//! `/lose`), and reopened. Every call is made as the person, so a
//! deal outside their reach is the same "not found" page as one that does not exist.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::{Code, Status};

use crate::deal_people::{Found, Person, people};
use crate::lang::Tr;
use crate::names::Names;
use crate::page::{Chrome, Notice, When, failure, html, money, see_other};
use crate::timeline::{After, Kind, Line, timeline};
use crate::{Viewer, Web};

/// Longest reason for a loss, in characters.
const MAX_REASON: usize = 500;

/// A stage on the path.
struct Step {
    id: String,
    name: String,
    current: bool,
    open: bool,
}

/// A stay in a stage, for the history.
struct Stay {
    stage: String,
    entered: When,
    left: When,
}

#[derive(Template)]
#[template(path = "deal.html")]
struct DealPage<'a> {
    c: Chrome<'a>,
    base: String,
    id: String,
    title: String,
    status: &'static str,
    open: bool,
    amount: String,
    expected_close: String,
    owner: String,
    company: String,
    guidance: String,
    next_step: String,
    next_due: When,
    lost_reason: String,
    steps: Vec<Step>,
    people: Vec<Person>,
    /// The roles a contact may have, for the contacts' forms.
    roles: Vec<(i32, &'static str)>,
    /// A search for a contact to add, when one was made.
    found: Option<Found>,
    stays: Vec<Stay>,
    lines: Vec<Line>,
    next: String,
    notice: Notice,
    /// The change form as it starts: the deal's own, or what was typed and refused.
    edit: EditForm,
    /// The change form comes opened (it was refused).
    edit_open: bool,
    /// Whom the person may give the deal to (none: they may not).
    colleagues: Vec<(String, String)>,
    owner_id: String,
}

/// The deal's change form.
#[derive(Deserialize, Default, Clone)]
pub struct EditForm {
    #[serde(default)]
    title: String,
    /// As people write it: `1 500,50`.
    #[serde(default)]
    amount: String,
    #[serde(default)]
    currency: String,
    /// YYYY-MM-DD, or empty.
    #[serde(default)]
    close: String,
    /// Empty: unchanged.
    #[serde(default)]
    owner: String,
    /// The owner the page showed: a choice of the same is no change.
    #[serde(default)]
    was_owner: String,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/deals/{id}", get(page))
        .route("/deals/{id}/win", post(win))
        .route("/deals/{id}/lose", post(lose))
        .route("/deals/{id}/reopen", post(reopen))
        .route("/deals/{id}/edit", post(edit))
}

/// `GET /deals/{id}`.
pub async fn page(
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
        StatusCode::OK,
        Notice::none(),
    )
    .await
}

/// The deal's page with `notice`, or the page saying why not.
pub async fn show(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    after: &str,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let page = Page {
        after,
        status,
        notice,
    };
    show_page(web, viewer, id, page, Opened::default()).await
}

/// What the page shows opened: the change form as typed, when it was refused; a
/// search for a contact to add.
#[derive(Default)]
pub(crate) struct Opened {
    pub edit: Option<EditForm>,
    pub found: Option<Found>,
}

/// [`show`] at the timeline's start, with `opened`.
pub(crate) async fn show_opened(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    (status, notice): (StatusCode, Notice),
    opened: Opened,
) -> Response {
    let page = Page {
        after: "",
        status,
        notice,
    };
    show_page(web, viewer, id, page, opened).await
}

/// How the page answers: from where in the timeline, with what status and notice.
struct Page<'a> {
    after: &'a str,
    status: StatusCode,
    notice: Notice,
}

async fn show_page(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    how: Page<'_>,
    opened: Opened,
) -> Response {
    let colleagues = crate::names::colleagues(web, viewer);
    match futures::join!(gather(web, viewer, id, how.after), colleagues) {
        (Ok(page), mut colleagues) => {
            // The owner is the form's "unchanged"; with nobody else, no choice.
            colleagues.retain(|(id, _)| *id != page.owner_id);
            let edit_open = opened.edit.is_some();
            let edit = opened.edit.unwrap_or(page.edit.clone());
            let page = DealPage {
                notice: how.notice,
                edit,
                edit_open,
                colleagues,
                found: opened.found,
                ..page
            };
            html(how.status, &page, &web.push_url)
        }
        (Err(s), _) => failure(viewer.chrome(web), &s),
    }
}

/// Everything the page shows. The deal first decides: when it is not found,
/// nothing else is asked.
async fn gather<'a>(
    web: &'a Web,
    viewer: &'a Viewer,
    id: &str,
    after: &str,
) -> Result<DealPage<'a>, Status> {
    let t = viewer.lang.tr();
    let message = dpb::GetDealRequest { id: id.to_owned() };
    let deal = web
        .deals()
        .get_deal(viewer.ask(message)?)
        .await?
        .into_inner();
    let pipeline = dpb::GetPipelineRequest {
        id: deal.pipeline_id.clone(),
    };
    let history = dpb::StageHistoryRequest {
        deal_id: id.to_owned(),
    };
    let (mut a, mut b) = (web.deals(), web.deals());
    let names = async { Ok::<_, Status>(Names::of(web, viewer, [deal.owner_id.as_str()]).await) };
    let (pipeline, history, company, people, (lines, next), names) = futures::try_join!(
        async { Ok::<_, Status>(a.get_pipeline(viewer.ask(pipeline)?).await?.into_inner()) },
        async { Ok::<_, Status>(b.stage_history(viewer.ask(history)?).await?.into_inner()) },
        crate::client::company_name(web, viewer, &deal.company_id),
        people(web, viewer, t, &deal.contacts),
        timeline(web, viewer, t, Kind::Deal, id, after),
        names,
    )?;
    let parts = Parts {
        owner: names.label(&deal.owner_id),
        deal,
        pipeline,
        history,
        company,
        people,
        lines,
        next,
    };
    Ok(assemble(web, viewer, t, parts))
}

/// What the services answered for the page.
struct Parts {
    owner: String,
    deal: dpb::Deal,
    pipeline: dpb::Pipeline,
    history: dpb::StageHistoryResponse,
    company: String,
    people: Vec<Person>,
    lines: Vec<Line>,
    next: String,
}

fn assemble<'a>(web: &'a Web, viewer: &'a Viewer, t: &'static Tr, parts: Parts) -> DealPage<'a> {
    let (deal, pipeline) = (parts.deal, parts.pipeline);
    let open = deal.status == i32::from(dpb::DealStatus::Open);
    let current = pipeline.stages.iter().find(|s| s.id == deal.stage_id);
    let open_kind = i32::from(dpb::StageKind::Open);
    let steps = pipeline.stages.iter().map(|s| Step {
        id: s.id.clone(),
        name: s.name.clone(),
        current: s.id == deal.stage_id,
        open: s.kind == open_kind,
    });
    let stays = parts.history.stays.into_iter().map(|s| Stay {
        stage: s.stage_name,
        entered: When::of(s.entered_at.as_ref()),
        left: When::of(s.left_at.as_ref()),
    });
    let next_action = deal.next_action.unwrap_or_default();
    let edit = EditForm {
        title: deal.title.clone(),
        amount: written(deal.amount_minor),
        currency: deal.currency.clone(),
        close: deal.expected_close.clone(),
        owner: String::new(),
        was_owner: String::new(),
    };
    DealPage {
        edit,
        edit_open: false,
        colleagues: Vec::new(),
        owner_id: deal.owner_id.clone(),
        c: viewer.chrome(web),
        base: Kind::Deal.page(&deal.id),
        status: status(t, deal.status),
        open,
        amount: money(t, deal.amount_minor, &deal.currency),
        expected_close: deal.expected_close,
        owner: parts.owner,
        company: parts.company,
        guidance: current.map(|s| s.guidance.clone()).unwrap_or_default(),
        next_step: next_action.title,
        next_due: When::of(next_action.due_at.as_ref()),
        lost_reason: deal.lost_reason,
        steps: steps.collect(),
        people: parts.people,
        roles: crate::deal_people::roles(t),
        found: None,
        stays: stays.collect(),
        lines: parts.lines,
        next: parts.next,
        notice: Notice::none(),
        id: deal.id,
        title: deal.title,
    }
}

/// An amount in minor units as the form shows it: `1500.5` → `1500.50`, whole
/// amounts without a fraction.
fn written(minor: i64) -> String {
    match minor % 100 {
        0 => (minor / 100).to_string(),
        cents => format!("{}.{cents:02}", minor / 100),
    }
}

/// `POST /deals/{id}/edit`: the deal's title, amount, currency, expected close and
/// owner; an amount or currency that cannot be one is said with the form as typed,
/// and nothing changes.
pub async fn edit(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let t = viewer.lang.tr();
    let amount = crate::convert::amount(&form.amount);
    let currency = crate::convert::currency(&form.currency);
    let (Some(amount_minor), Some(currency)) = (amount, currency) else {
        let why = (StatusCode::BAD_REQUEST, Notice::error(t.deal_amount_wrong));
        let opened = Opened {
            edit: Some(form),
            found: None,
        };
        return show_opened(&web, &viewer, &id, why, opened).await;
    };
    // Only a chosen owner other than the one the page showed is sent: a save of the
    // amount never re-files the deal, nor undoes another's change of owner.
    let owner = form.owner.trim();
    let owner = (!owner.is_empty() && owner != form.was_owner).then(|| owner.to_owned());
    let message = dpb::UpdateDealRequest {
        id: id.clone(),
        title: Some(form.title.trim().to_owned()),
        amount_minor: Some(amount_minor),
        currency: Some(currency),
        expected_close: Some(form.close.trim().to_owned()),
        owner_id: owner,
        ..Default::default()
    };
    let changed = async { web.deals().update_deal(viewer.ask(message)?).await };
    match changed.await {
        Ok(_) => see_other(&Kind::Deal.page(&id), &[]),
        Err(s) if s.code() == Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let why = crate::board::said(&s, t);
            let opened = Opened {
                edit: Some(form),
                found: None,
            };
            show_opened(&web, &viewer, &id, why, opened).await
        }
    }
}

fn status(t: &'static Tr, status: i32) -> &'static str {
    match dpb::DealStatus::try_from(status) {
        Ok(dpb::DealStatus::Won) => t.deal_won,
        Ok(dpb::DealStatus::Lost) => t.deal_lost,
        _ => t.deal_open,
    }
}

/// `POST /deals/{id}/win`.
pub async fn win(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let message = dpb::WinDealRequest { id: id.clone() };
    let won = async { web.deals().win_deal(viewer.ask(message)?).await };
    answered(&web, &viewer, &id, won.await.map(drop)).await
}

#[derive(Deserialize)]
pub struct LoseForm {
    #[serde(default)]
    reason: String,
}

/// `POST /deals/{id}/lose`: lost, with why.
pub async fn lose(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<LoseForm>,
) -> Response {
    let t = viewer.lang.tr();
    let reason = form.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        let why = Notice::error(t.lost_reason_needed);
        return show(&web, &viewer, &id, "", StatusCode::BAD_REQUEST, why).await;
    }
    let message = dpb::LoseDealRequest {
        id: id.clone(),
        reason: reason.to_owned(),
    };
    let lost = async { web.deals().lose_deal(viewer.ask(message)?).await };
    answered(&web, &viewer, &id, lost.await.map(drop)).await
}

/// `POST /deals/{id}/reopen`: open again, in the last open stage it was in.
pub async fn reopen(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let message = dpb::ReopenDealRequest {
        id: id.clone(),
        stage_id: String::new(),
    };
    let reopened = async { web.deals().reopen_deal(viewer.ask(message)?).await };
    answered(&web, &viewer, &id, reopened.await.map(drop)).await
}

/// Back to the deal's page when the change went through; else the page saying why.
pub async fn answered(
    web: &Web,
    viewer: &Viewer,
    id: &str,
    result: Result<(), Status>,
) -> Response {
    let t = viewer.lang.tr();
    match result {
        Ok(()) => see_other(&Kind::Deal.page(id), &[]),
        Err(s) if s.code() == Code::NotFound => failure(viewer.chrome(web), &s),
        Err(s) => {
            let (code, notice) = crate::board::said(&s, t);
            show(web, viewer, id, "", code, notice).await
        }
    }
}
