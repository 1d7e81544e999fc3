//! The deals board (`/deals`, `?pipeline=…` for another pipeline than the default):
//! one pipeline's kanban as the person may see it. Each column says its count and
//! its sum per currency, computed by deals over every deal in the stage the person
//! sees (not from the cards loaded), and the weighted value (the sums × the
//! stage's probability, rounded); its WIP limit, marked when the stage passes it;
//! the stage's guidance. Won and lost columns take no cards: winning and losing are
//! the deal page's steps. The first cards of each
//! column come with the page, the rest as the column scrolls
//! (`/deals/stages/{stage}?after=…`). A deal moves by its card's form (`POST
//! /deals/{id}/move`), which a drag between columns submits: the answer is the board
//! again, its figures recomputed, with deals' warning or refusal of a full stage
//! said at the top — a refused deal stays where it was. Deals without a next action
//! and deals sitting in a stage for long are flagged.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::{Code, Status};

use crate::lang::Tr;
use crate::look::{Look, ViewLink};
use crate::names::Names;
use crate::page::{Chrome, Notice, failure, html, money, refusal};
use crate::{Viewer, Web};

/// Cards per column with the page, and per further load.
const CARDS: i32 = 20;
/// Days in one stage after which an open deal counts as stale.
const STALE_DAYS: i64 = 30;

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/deals", get(board))
        .route("/deals/{id}/move", post(move_deal))
        .route("/deals/stages/{stage}", get(more_cards))
        .route("/deals/views", post(crate::look::save))
        .route("/deals/views/{id}/delete", post(crate::look::delete))
}

/// One deal's card.
struct Card {
    id: String,
    title: String,
    amount: String,
    owner: String,
    no_next_action: bool,
    stale: bool,
}

/// One stage's column.
struct ColumnView {
    stage_id: String,
    /// An open stage (won and lost take their own steps, on the deal's page).
    open: bool,
    name: String,
    guidance: String,
    count: i64,
    count_text: String,
    sums: Vec<String>,
    weighted: Vec<String>,
    /// The stage's WIP limit, when it has one.
    wip: String,
    over: bool,
    cards: Vec<Card>,
    next: String,
}

/// A pipeline in the selector.
pub struct PipelineLink {
    /// The same look over this pipeline.
    pub href: String,
    pub name: String,
    pub current: bool,
}

/// What the toolbar above the board and the list shows: the pipelines, the saved
/// views, the filters of the look, the form that saves it.
pub struct Toolbar {
    pub pipelines: Vec<PipelineLink>,
    pub pipeline_id: String,
    pub views: Vec<ViewLink>,
    pub look: Look,
    /// The look's address query, kept by links and forms.
    pub query: String,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage<'a> {
    c: Chrome<'a>,
    bar: Toolbar,
    look_query: String,
    columns: Vec<ColumnView>,
    /// The stages a card may be moved to: id and name.
    stages: Vec<(String, String)>,
    notice: Notice,
}

#[derive(Template)]
#[template(path = "cards.html")]
struct CardsPart<'a> {
    c: Chrome<'a>,
    look_query: String,
    column: ColumnView,
    stages: Vec<(String, String)>,
}

/// `GET /deals`: the board, or the list, as the address or a saved view says.
pub async fn board(State(web): State<Web>, viewer: Viewer, Query(look): Query<Look>) -> Response {
    show(&web, &viewer, look, StatusCode::OK, Notice::none()).await
}

/// The deals as `look` says, with a refusal said: 400.
pub(crate) async fn show_look(web: &Web, viewer: &Viewer, look: Look, notice: Notice) -> Response {
    show(web, viewer, look, StatusCode::BAD_REQUEST, notice).await
}

async fn show(
    web: &Web,
    viewer: &Viewer,
    look: Look,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let shown = async {
        let (views, look) = crate::look::views(web, viewer, look).await?;
        if look.list() {
            return Ok(crate::list::show(web, viewer, views, look, status, notice).await);
        }
        let (pipelines, kanban) = gather(web, viewer, &look).await?;
        let owners = kanban.columns.iter().flat_map(|c| owners(&c.deals));
        let names = Names::of(web, viewer, owners).await;
        let current = kanban.pipeline.as_ref().map_or("", |p| p.id.as_str());
        let bar = toolbar(pipelines, current, views, look);
        let page = page(viewer, web, &names, bar, kanban, notice);
        Ok::<_, Status>(html(status, &page, &web.push_url))
    };
    match shown.await {
        Ok(response) => response,
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// The toolbar of `look` over pipeline `current` (the one deals answered for).
pub fn toolbar(
    pipelines: Vec<dpb::Pipeline>,
    current: &str,
    views: Vec<ViewLink>,
    look: Look,
) -> Toolbar {
    let look = Look {
        pipeline: current.to_owned(),
        ..look
    };
    Toolbar {
        pipelines: pipelines
            .into_iter()
            .map(|p| PipelineLink {
                current: p.id == current,
                href: format!("/deals?{}", look.with_pipeline(&p.id).query()),
                name: p.name,
            })
            .collect(),
        pipeline_id: current.to_owned(),
        views,
        query: look.query(),
        look,
    }
}

/// The pipelines, and the kanban of `look` (the default pipeline when it names
/// none).
async fn gather(
    web: &Web,
    viewer: &Viewer,
    look: &Look,
) -> Result<(Vec<dpb::Pipeline>, dpb::KanbanResponse), Status> {
    let kanban = dpb::KanbanRequest {
        filter: Some(look.filter()),
        sort: Some(look.sort()),
        page_size: CARDS,
    };
    let (mut a, mut b) = (web.deals(), web.deals());
    let (pipelines, kanban) = futures::try_join!(
        a.list_pipelines(viewer.ask(dpb::ListPipelinesRequest {})?),
        b.kanban(viewer.ask(kanban)?),
    )?;
    Ok((pipelines.into_inner().pipelines, kanban.into_inner()))
}

/// The owners of `deals`, for their names.
fn owners(deals: &[dpb::Deal]) -> impl Iterator<Item = &str> {
    deals.iter().map(|d| d.owner_id.as_str())
}

fn page<'a>(
    viewer: &'a Viewer,
    web: &'a Web,
    names: &Names,
    bar: Toolbar,
    kanban: dpb::KanbanResponse,
    notice: Notice,
) -> BoardPage<'a> {
    let t = viewer.lang.tr();
    let current = kanban.pipeline.unwrap_or_default();
    let stages = open_stages(&current.stages);
    let columns = kanban
        .columns
        .into_iter()
        .map(|c| column(t, names, c))
        .collect();
    BoardPage {
        c: viewer.chrome(web),
        look_query: bar.query.clone(),
        bar,
        columns,
        stages,
        notice,
    }
}

fn column(t: &'static Tr, names: &Names, column: dpb::Column) -> ColumnView {
    let stage = column.stage.unwrap_or_default();
    let weighted = column
        .sums
        .iter()
        .map(|m| money(t, weighted(m.amount_minor, stage.probability), &m.currency))
        .collect();
    // The limit holds over the whole stage, which the person may see only part of:
    // the limit and whether it is passed, not a count of theirs against it.
    let wip = match stage.wip_limit {
        0 => String::new(),
        limit => limit.to_string(),
    };
    ColumnView {
        open: stage.kind == i32::from(dpb::StageKind::Open),
        stage_id: stage.id,
        name: stage.name,
        guidance: stage.guidance,
        count: column.count,
        count_text: t.deals_count(column.count),
        sums: column
            .sums
            .iter()
            .map(|m| money(t, m.amount_minor, &m.currency))
            .collect(),
        weighted,
        wip,
        over: column.over_wip_limit,
        cards: column
            .deals
            .into_iter()
            .map(|d| card(t, names, d))
            .collect(),
        next: column.next_page_token,
    }
}

/// `sum` × `probability` %, rounded half up, without overflowing.
fn weighted(sum: i64, probability: i32) -> i64 {
    let exact = i128::from(sum) * i128::from(probability.clamp(0, 100));
    let rounded = (exact + 50).div_euclid(100);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

fn card(t: &'static Tr, names: &Names, deal: dpb::Deal) -> Card {
    let open = deal.status == i32::from(dpb::DealStatus::Open);
    let now = ringside_storage::now_millis() / 1000;
    let entered = deal.stage_entered_at.map_or(now, |t| t.seconds);
    Card {
        amount: money(t, deal.amount_minor, &deal.currency),
        owner: names.label(&deal.owner_id),
        no_next_action: open && deal.next_action.is_none(),
        stale: open && now - entered > STALE_DAYS * 86_400,
        id: deal.id,
        title: deal.title,
    }
}

/// The stages a deal may be moved to by a card: the open ones (winning and losing
/// take their own steps).
fn open_stages(stages: &[dpb::Stage]) -> Vec<(String, String)> {
    let open = i32::from(dpb::StageKind::Open);
    let open = stages.iter().filter(|s| s.kind == open);
    open.map(|s| (s.id.clone(), s.name.clone())).collect()
}

/// `GET /deals/stages/{stage}?pipeline=…&after=…`: a column's next cards — the
/// items alone to htmx, else the board with that column alone, from there on.
pub async fn more_cards(
    State(web): State<Web>,
    viewer: Viewer,
    Path(stage): Path<String>,
    Query(look): Query<Look>,
    headers: axum::http::HeaderMap,
) -> Response {
    let t = viewer.lang.tr();
    let message = dpb::KanbanColumnRequest {
        filter: Some(look.filter()),
        sort: Some(look.sort()),
        stage_id: stage,
        page_size: CARDS,
        page_token: look.after.clone(),
    };
    let found = async { web.deals().kanban_column(viewer.ask(message)?).await };
    let found = match found.await {
        Ok(found) => found.into_inner(),
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    // The stage's own pipeline, whatever the address said.
    let of_stage = found.stage.as_ref().map_or("", |s| s.pipeline_id.as_str());
    let pipeline = match pipeline(&web, &viewer, of_stage).await {
        Ok(pipeline) => pipeline,
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    let stages = open_stages(&pipeline.stages);
    let names = Names::of(&web, &viewer, owners(&found.deals)).await;
    let column = column(t, &names, found);
    if headers.contains_key("hx-request") {
        let part = CardsPart {
            c: viewer.chrome(&web),
            look_query: look.query(),
            column,
            stages,
        };
        return html(StatusCode::OK, &part, &web.push_url);
    }
    // Without script: the board with this column alone, from there on.
    let bar = toolbar(Vec::new(), &pipeline.id, Vec::new(), look);
    let page = BoardPage {
        c: viewer.chrome(&web),
        look_query: bar.query.clone(),
        bar,
        columns: vec![column],
        stages,
        notice: Notice::none(),
    };
    html(StatusCode::OK, &page, &web.push_url)
}

/// The pipeline `id`.
async fn pipeline(web: &Web, viewer: &Viewer, id: &str) -> Result<dpb::Pipeline, Status> {
    let message = dpb::GetPipelineRequest { id: id.to_owned() };
    Ok(web
        .deals()
        .get_pipeline(viewer.ask(message)?)
        .await?
        .into_inner())
}

#[derive(Deserialize)]
pub struct MoveForm {
    #[serde(default)]
    stage: String,
    /// The look of the board the card was on, as its address query.
    #[serde(default)]
    look: String,
    /// "deal" when the move came from the deal's page, which it goes back to.
    #[serde(default)]
    back: String,
}

/// Whether deals refused a move because the stage is full.
fn is_wip_refusal(status: &Status) -> bool {
    status.code() == Code::FailedPrecondition
        && status
            .message()
            .contains(ringside_proto::deals::WIP_REFUSED)
}

/// `POST /deals/{id}/move`: the board again (or the deal's page), with what deals
/// said of the move.
pub async fn move_deal(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Response {
    let t = viewer.lang.tr();
    let message = dpb::MoveDealRequest {
        id: id.clone(),
        stage_id: form.stage,
    };
    let moved = async { web.deals().move_deal(viewer.ask(message)?).await };
    let (status, notice) = match moved.await {
        Ok(reply) if form.back == "deal" && reply.get_ref().warnings.is_empty() => {
            return crate::page::see_other(&crate::timeline::Kind::Deal.page(&id), &[]);
        }
        Ok(reply) => match reply.into_inner().warnings.is_empty() {
            true => (StatusCode::OK, Notice::none()),
            false => (StatusCode::OK, Notice::ok(t.wip_warned)),
        },
        Err(s) if s.code() == Code::NotFound => return failure(viewer.chrome(&web), &s),
        Err(s) => said(&s, t),
    };
    match form.back.as_str() {
        "deal" => crate::deal::show(&web, &viewer, &id, "", status, notice).await,
        _ => {
            let look = crate::look::parse(&form.look);
            show(&web, &viewer, look, status, notice).await
        }
    }
}

/// A refused move or reopening as the person reads it: a full stage said as such.
pub(crate) fn said(status: &Status, t: &'static Tr) -> (StatusCode, Notice) {
    match is_wip_refusal(status) {
        true => (StatusCode::CONFLICT, Notice::error(t.wip_refused)),
        false => {
            let (code, why) = refusal(status, t, t.went_wrong);
            (code, Notice::error(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weighted_sum_rounds_half_up_and_never_overflows() {
        assert_eq!(weighted(150_000, 20), 30_000);
        assert_eq!(weighted(5, 50), 3);
        assert_eq!(weighted(4, 10), 0);
        assert_eq!(weighted(i64::MAX, 100), i64::MAX);
        assert_eq!(
            weighted(1_000_000_000_000_000_001, 50),
            500_000_000_000_000_001
        );
    }
}
