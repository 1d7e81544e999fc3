//! The deals as a list (`/deals?layout=list`): the same look as the board — whose,
//! a tag, without a next step, past their close date, closing in a month or with
//! no close date, one currency, open only — as a table in the look's
//! order (amount and close date sorted from their column headers, the other way
//! round on a second click), 50 rows a page with the count of all that match, each
//! deal's stage, amount, owner, expected close and next step.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::deals::v1 as dpb;
use tonic::Status;

use crate::board::{Toolbar, toolbar};
use crate::look::{Look, ViewLink};
use crate::names::Names;
use crate::page::{Chrome, Notice, encoded, failure, html, money};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Rows per page.
const ROWS: i32 = 50;

struct Row {
    href: String,
    title: String,
    stage: String,
    amount: String,
    owner: String,
    close: String,
    next: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage<'a> {
    c: Chrome<'a>,
    bar: Toolbar,
    total: String,
    rows: Vec<Row>,
    more: String,
    sort_amount: String,
    sort_close: String,
    notice: Notice,
}

/// The list of `look`, with the toolbar's `views`.
pub async fn show(
    web: &Web,
    viewer: &Viewer,
    views: Vec<ViewLink>,
    look: Look,
    status: StatusCode,
    notice: Notice,
) -> Response {
    match page(web, viewer, views, look, notice).await {
        Ok(page) => html(status, &page, &web.push_url),
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

async fn page<'a>(
    web: &'a Web,
    viewer: &'a Viewer,
    views: Vec<ViewLink>,
    look: Look,
    notice: Notice,
) -> Result<ListPage<'a>, Status> {
    let t = viewer.lang.tr();
    let message = dpb::ListDealsRequest {
        filter: Some(look.filter()),
        sort: Some(look.sort()),
        page_size: ROWS,
        page_token: look.after.clone(),
    };
    let (mut a, mut b) = (web.deals(), web.deals());
    let (pipelines, found) = futures::try_join!(
        a.list_pipelines(viewer.ask(dpb::ListPipelinesRequest {})?),
        b.list_deals(viewer.ask(message)?),
    )?;
    let found = found.into_inner();
    let names = Names::of(web, viewer, found.deals.iter().map(|d| d.owner_id.as_str())).await;
    let pipeline = look.pipeline.clone();
    let bar = toolbar(pipelines.into_inner().pipelines, &pipeline, views, look);
    let more = match found.next_page_token.as_str() {
        "" => String::new(),
        token => format!("/deals?{}&after={}", bar.query, encoded(token)),
    };
    let open = i32::from(dpb::DealStatus::Open);
    let rows = (found.deals.into_iter())
        .map(|d| Row {
            href: Kind::Deal.page(&d.id),
            amount: money(t, d.amount_minor, &d.currency),
            owner: names.label(&d.owner_id),
            close: d.expected_close,
            next: d.next_action.map(|n| n.title).unwrap_or_default(),
            open: d.status == open,
            stage: d.stage_name,
            title: d.title,
        })
        .collect();
    Ok(ListPage {
        c: viewer.chrome(web),
        total: t.deals_count(found.total),
        sort_amount: bar.look.sorted_by("amount"),
        sort_close: bar.look.sorted_by("close"),
        bar,
        rows,
        more,
        notice,
    })
}
