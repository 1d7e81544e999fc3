//! Reports (`/reports`, `?pipeline=…&from=YYYY-MM-DD&to=YYYY-MM-DD`, the last 90
//! days by default): the funnel of the deals opened in the period — how many
//! reached each stage, moved on, were lost there, the conversion to the next stage
//! and to won, the median time spent in it — as a table and as a chart drawn on the
//! server (SVG), the win rate, each owner's and each team's totals and median stays
//! (a deal's team is the one it was given to), and the forecast by month. Every
//! count is a link to its deals (`/reports/deals?…&cell=…`; a forecast row's, to
//! the deals list filtered to its month, currency and open deals). Deals decides who may
//! read reports and over which deals; the link in the menu follows the same table.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::Status;

use crate::lang::Tr;
use crate::names::Names;
use crate::page::{Chrome, Notice, failure, form_urlencoded, html, money};
use crate::timeline::Kind;
use crate::zone::Zone;
use crate::{Viewer, Web};

/// Days a report covers when the address does not say.
const DEFAULT_DAYS: i64 = 90;
/// Deals listed per drill-down page.
const DRILL_PAGE: i32 = 50;
/// The chart's width, and each bar's height with its gap, in SVG units.
const CHART_WIDTH: i64 = 600;
const BAR: i64 = 34;

pub fn routes() -> axum::Router<Web> {
    use axum::routing::get;
    axum::Router::new()
        .route("/reports", get(page))
        .route("/reports/deals", get(deals))
}

/// What a report is over, as the address gives it.
#[derive(Debug, Default, Deserialize)]
pub struct Period {
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    stage: String,
    #[serde(default)]
    cell: String,
    #[serde(default)]
    after: String,
}

/// The period read: its dates as shown, and as moments at the person's offset.
struct Span {
    from: String,
    to: String,
    from_at: prost_types::Timestamp,
    to_at: prost_types::Timestamp,
}

impl Span {
    /// `from`..`to` inclusive of `to`'s whole day, each day begun as `zone` begins
    /// it; the last 90 days when either is missing or is no date.
    fn of(period: &Period, zone: &Zone) -> Span {
        let today = time::OffsetDateTime::now_utc().to_offset(zone.now()).date();
        let date = |s: &str| {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, format).ok()
        };
        let last = |days: i64| (today - time::Duration::days(days - 1), today);
        let (from, to) = match (date(&period.from), date(&period.to)) {
            (Some(from), Some(to)) if from <= to && to < time::Date::MAX => (from, to),
            _ => last(DEFAULT_DAYS),
        };
        let at = |d: time::Date| prost_types::Timestamp {
            seconds: zone.midnight(d).unix_timestamp(),
            nanos: 0,
        };
        Span {
            from: from.to_string(),
            to: to.to_string(),
            from_at: at(from),
            to_at: at(to.next_day().unwrap_or(to)),
        }
    }
}

/// One stage's row of the funnel, with the links of its figures.
struct StageRow {
    name: String,
    entered: i64,
    moved_on: i64,
    lost_here: i64,
    to_next: String,
    to_won: String,
    median: String,
    entered_href: String,
    moved_on_href: String,
    lost_href: String,
    /// The bar's width and where its row sits in the chart.
    bar: i64,
    y: i64,
}

/// One funnel's totals (an owner's, a team's or everyone's), with the links of its
/// figures.
struct OwnerRow {
    /// Whose: the owner's or the team's name.
    owner: String,
    deals: i64,
    won: i64,
    lost: i64,
    win_rate: String,
    deals_href: String,
    won_href: String,
    lost_href: String,
    /// The median time in each stage, in the funnel's order.
    stays: Vec<String>,
}

struct ForecastLine {
    month: String,
    deals: i64,
    /// The list of its open deals.
    href: String,
    amount: String,
    weighted: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage<'a> {
    c: Chrome<'a>,
    pipelines: Vec<(String, String)>,
    pipeline_id: String,
    from: String,
    to: String,
    stages: Vec<StageRow>,
    chart_height: i64,
    chart_width: i64,
    total: OwnerRow,
    owners: Vec<OwnerRow>,
    teams: Vec<OwnerRow>,
    forecast: Vec<ForecastLine>,
    notice: Notice,
}

/// `GET /reports`.
pub async fn page(
    State(web): State<Web>,
    viewer: Viewer,
    Query(period): Query<Period>,
) -> Response {
    let span = Span::of(&period, viewer.zone());
    match gather(&web, &viewer, &period.pipeline, &span).await {
        Ok((pipelines, funnel, forecast)) => {
            let owners = funnel.owners.iter().map(|f| f.owner_id.as_str());
            let (names, teams) = futures::join!(
                Names::of(&web, &viewer, owners),
                crate::names::teams(&web, &viewer)
            );
            let names = Labels { names, teams };
            let t = viewer.lang.tr();
            let forecast = forecast_lines(t, &period.pipeline, forecast);
            let page = assemble(&web, &viewer, &names, &span, pipelines, funnel, forecast);
            html(StatusCode::OK, &page, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(&web), &s),
    }
}

type Gathered = (
    dpb::ListPipelinesResponse,
    dpb::FunnelReport,
    dpb::ForecastReport,
);

async fn gather(
    web: &Web,
    viewer: &Viewer,
    pipeline: &str,
    span: &Span,
) -> Result<Gathered, Status> {
    let funnel = dpb::FunnelRequest {
        pipeline_id: pipeline.to_owned(),
        from: Some(span.from_at),
        to: Some(span.to_at),
        by_owner: true,
        by_team: true,
    };
    let forecast = dpb::ForecastRequest {
        pipeline_id: pipeline.to_owned(),
        ..Default::default()
    };
    let (mut a, mut b, mut c) = (web.deals(), web.deals(), web.deals());
    let (pipelines, funnel, forecast) = futures::try_join!(
        a.list_pipelines(viewer.ask(dpb::ListPipelinesRequest {})?),
        b.funnel(viewer.ask(funnel)?),
        c.forecast(viewer.ask(forecast)?),
    )?;
    Ok((
        pipelines.into_inner(),
        funnel.into_inner(),
        forecast.into_inner(),
    ))
}

/// People's and teams' names for the page.
struct Labels {
    names: Names,
    teams: std::collections::HashMap<String, String>,
}

/// Whose deals a figure counts: an owner's, a team's, or (both empty) everyone's.
#[derive(Clone, Copy, Default)]
struct Whose<'a> {
    owner: &'a str,
    team: &'a str,
}

impl<'a> Whose<'a> {
    fn of(f: &'a dpb::Funnel) -> Whose<'a> {
        Whose {
            owner: &f.owner_id,
            team: &f.team_id,
        }
    }
}

/// The address of the deals behind one figure.
fn drill(pipeline: &str, span: &Span, whose: Whose, stage: &str, cell: &str) -> String {
    let mut query = form_urlencoded(&[
        ("pipeline", pipeline),
        ("from", &span.from),
        ("to", &span.to),
        ("owner", whose.owner),
        ("team", whose.team),
        ("stage", stage),
        ("cell", cell),
    ]);
    query.insert_str(0, "/reports/deals?");
    query
}

/// A share as a percentage in `t`'s way (`50%`, `50 %`): never 100 unless whole,
/// never 0 unless none.
fn percent(t: &'static Tr, share: f64) -> String {
    let mut shown = (share * 100.0).clamp(0.0, 100.0).round();
    if shown >= 100.0 && share < 1.0 {
        shown = 99.0;
    }
    let text = match shown < 1.0 && share > 0.0 {
        true => "<1".to_owned(),
        false => format!("{shown:.0}"),
    };
    match t.lang {
        crate::lang::Lang::En => format!("{text}%"),
        crate::lang::Lang::Ru => format!("{text}\u{a0}%"),
    }
}

/// A conversion of `out_of` deals: "—" when there were none.
fn rate(t: &'static Tr, out_of: i64, share: f64) -> String {
    match out_of {
        0 => "—".to_owned(),
        _ => percent(t, share),
    }
}

/// A bar's width for `count` of `most`: a count above none is never drawn as none.
fn bar(count: i64, most: i64) -> i64 {
    let width = (CHART_WIDTH - 200) * count / most.max(1);
    match count {
        0 => 0,
        _ => width.max(2),
    }
}

/// A median stay as the person reads it: days, else hours, else minutes.
fn stay(t: &'static Tr, seconds: Option<i64>) -> String {
    match seconds {
        None => "—".to_owned(),
        Some(s) if s >= 86_400 => format!("{} {}", s / 86_400, t.days_short),
        Some(s) if s >= 3_600 => format!("{} {}", s / 3_600, t.hours_short),
        Some(s) => format!("{} {}", s / 60, t.minutes_short),
    }
}

fn assemble<'a>(
    web: &'a Web,
    viewer: &'a Viewer,
    names: &Labels,
    span: &Span,
    pipelines: dpb::ListPipelinesResponse,
    report: dpb::FunnelReport,
    forecast: Vec<ForecastLine>,
) -> ReportsPage<'a> {
    let t = viewer.lang.tr();
    let pipeline = report.pipeline_id.clone();
    let total = report.total.unwrap_or_default();
    let most = total
        .stages
        .iter()
        .map(|s| s.entered)
        .max()
        .unwrap_or(0)
        .max(1);
    let stages: Vec<StageRow> = (total.stages.iter().enumerate())
        .map(|(i, s)| StageRow {
            name: s.name.clone(),
            entered: s.entered,
            moved_on: s.moved_on,
            lost_here: s.lost_here,
            to_next: rate(t, s.entered, s.conversion_next),
            to_won: rate(t, s.entered, s.conversion_won),
            median: stay(t, s.median_seconds),
            entered_href: drill(&pipeline, span, Whose::default(), &s.stage_id, "entered"),
            moved_on_href: drill(&pipeline, span, Whose::default(), &s.stage_id, "moved_on"),
            lost_href: drill(&pipeline, span, Whose::default(), &s.stage_id, "lost_here"),
            bar: bar(s.entered, most),
            y: i64::try_from(i).unwrap_or(0) * BAR,
        })
        .collect();
    // The unassigned deals' row and the no team's have no links: the drill-down's
    // empty owner and team are everyone's.
    let row = |f: &dpb::Funnel, whose: String, linked: bool| {
        let href = |cell| match linked {
            true => drill(&pipeline, span, Whose::of(f), "", cell),
            false => String::new(),
        };
        OwnerRow {
            owner: whose,
            deals: f.deals,
            won: f.won,
            lost: f.lost,
            win_rate: rate(t, f.won + f.lost, f.win_rate),
            deals_href: href("deals"),
            won_href: href("won"),
            lost_href: href("lost"),
            stays: (f.stages.iter())
                .map(|s| stay(t, s.median_seconds))
                .collect(),
        }
    };
    let owners = (report.owners.iter())
        .map(|f| row(f, names.names.label(&f.owner_id), !f.owner_id.is_empty()))
        .collect();
    let team = |id: &str| match id {
        "" => t.no_team.to_owned(),
        id => names
            .teams
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned()),
    };
    let teams = (report.teams.iter())
        .map(|f| row(f, team(&f.team_id), !f.team_id.is_empty()))
        .collect();
    ReportsPage {
        c: viewer.chrome(web),
        pipelines: (pipelines.pipelines.into_iter())
            .map(|p| (p.id, p.name))
            .collect(),
        from: span.from.clone(),
        to: span.to.clone(),
        chart_height: BAR * i64::try_from(stages.len()).unwrap_or(0),
        chart_width: CHART_WIDTH,
        stages,
        total: row(&total, String::new(), true),
        owners,
        teams,
        forecast,
        pipeline_id: pipeline,
        notice: Notice::none(),
    }
}

/// The forecast's rows, each linked to the list of its open deals: those of
/// `pipeline` (every pipeline's when empty, as the forecast was asked) closing in
/// the row's month, or with no close date, in the row's currency.
fn forecast_lines(
    t: &'static Tr,
    pipeline: &str,
    forecast: dpb::ForecastReport,
) -> Vec<ForecastLine> {
    let href = |r: &dpb::ForecastRow| {
        let look = crate::look::Look {
            pipeline: pipeline.to_owned(),
            layout: "list".into(),
            close: r.month.clone(),
            no_close: if r.month.is_empty() { "1" } else { "" }.into(),
            currency: r.currency.clone(),
            open: "1".into(),
            ..Default::default()
        };
        format!("/deals?{}", look.query())
    };
    (forecast.rows.into_iter())
        .map(|r| ForecastLine {
            href: href(&r),
            month: match r.month.as_str() {
                "" => t.no_close_date.to_owned(),
                m => m.to_owned(),
            },
            deals: r.deals,
            amount: money(t, r.amount_minor, &r.currency),
            weighted: money(t, r.weighted_minor, &r.currency),
        })
        .collect()
}

/// One deal behind a figure.
struct DrillLine {
    href: String,
    title: String,
    stage: String,
    amount: String,
    owner: String,
}

#[derive(Template)]
#[template(path = "drill.html")]
struct DrillPage<'a> {
    c: Chrome<'a>,
    back: String,
    lines: Vec<DrillLine>,
    next: String,
}

fn cell(name: &str) -> Option<dpb::Cell> {
    Some(match name {
        "entered" => dpb::Cell::Entered,
        "moved_on" => dpb::Cell::MovedOn,
        "lost_here" => dpb::Cell::LostHere,
        "deals" => dpb::Cell::Deals,
        "won" => dpb::Cell::Won,
        "lost" => dpb::Cell::Lost,
        _ => return None,
    })
}

/// `GET /reports/deals?…&cell=…`: the deals behind one figure.
pub async fn deals(
    State(web): State<Web>,
    viewer: Viewer,
    Query(period): Query<Period>,
) -> Response {
    let t = viewer.lang.tr();
    let span = Span::of(&period, viewer.zone());
    let Some(cell) = cell(&period.cell) else {
        return failure(
            viewer.chrome(&web),
            &Status::invalid_argument(t.check_input),
        );
    };
    let message = dpb::DrillDownRequest {
        pipeline_id: period.pipeline.clone(),
        from: Some(span.from_at),
        to: Some(span.to_at),
        owner_id: period.owner.clone(),
        team_id: period.team.clone(),
        stage_id: period.stage.clone(),
        cell: cell.into(),
        page_size: DRILL_PAGE,
        page_token: period.after.clone(),
    };
    let found = async { web.deals().drill_down(viewer.ask(message)?).await };
    let found = match found.await {
        Ok(found) => found.into_inner(),
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    let whose = Whose {
        owner: &period.owner,
        team: &period.team,
    };
    let this = drill(&period.pipeline, &span, whose, &period.stage, &period.cell);
    let next = match found.next_page_token.as_str() {
        "" => String::new(),
        token => format!("{this}&{}", form_urlencoded(&[("after", token)])),
    };
    let names = Names::of(
        &web,
        &viewer,
        found.deals.iter().map(|d| d.owner_id.as_str()),
    )
    .await;
    let lines = (found.deals.into_iter())
        .map(|d| DrillLine {
            href: Kind::Deal.page(&d.id),
            amount: money(t, d.amount_minor, &d.currency),
            owner: names.label(&d.owner_id),
            title: d.title,
            stage: d.stage_name,
        })
        .collect();
    let back = format!(
        "/reports?{}",
        form_urlencoded(&[
            ("pipeline", &period.pipeline),
            ("from", &span.from),
            ("to", &span.to)
        ])
    );
    let page = DrillPage {
        c: viewer.chrome(&web),
        back,
        lines,
        next,
    };
    html(StatusCode::OK, &page, &web.push_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_read_at_the_persons_offset_and_defaults_to_ninety_days() {
        let moscow = time::UtcOffset::from_hms(3, 0, 0).expect("an offset");
        let given = Period {
            from: "2026-01-01".into(),
            to: "2026-01-31".into(),
            ..Default::default()
        };
        let span = Span::of(&given, &Zone::fixed(moscow));
        assert_eq!(
            (span.from.as_str(), span.to.as_str()),
            ("2026-01-01", "2026-01-31")
        );
        // Midnight in Moscow, and the end of the 31st there.
        assert_eq!(span.from_at.seconds, 1_767_214_800);
        assert_eq!(span.to_at.seconds - span.from_at.seconds, 31 * 86_400);
        let backwards = Period {
            from: "2026-02-01".into(),
            to: "2026-01-01".into(),
            ..Default::default()
        };
        let span = Span::of(&backwards, &Zone::fixed(moscow));
        assert_eq!(
            span.to_at.seconds - span.from_at.seconds,
            DEFAULT_DAYS * 86_400
        );
    }

    #[test]
    fn a_figures_address_names_only_what_it_is() {
        let span = Span::of(&Period::default(), &Zone::fixed(time::UtcOffset::UTC));
        let href = drill("p 1", &span, Whose::default(), "s&2", "entered");
        assert!(
            href.starts_with("/reports/deals?pipeline=p%201&from="),
            "{href}"
        );
        assert!(href.ends_with("&stage=s%262&cell=entered"), "{href}");
        assert!(
            !href.contains("owner=") && !href.contains("team="),
            "{href}"
        );
        let north = Whose {
            owner: "",
            team: "north",
        };
        let href = drill("p", &span, north, "", "won");
        assert!(href.ends_with("&team=north&cell=won"), "{href}");
    }

    #[test]
    fn shares_and_bars_never_round_to_what_they_are_not() {
        use crate::lang::{EN, RU};
        assert_eq!(percent(&EN, 0.5), "50%");
        assert_eq!(percent(&RU, 0.5), "50\u{a0}%");
        assert_eq!(percent(&EN, 199.0 / 200.0), "99%");
        assert_eq!(percent(&EN, 1.0), "100%");
        assert_eq!(percent(&EN, 1.0 / 300.0), "<1%");
        assert_eq!(rate(&EN, 0, 0.0), "—");
        assert_eq!(bar(1, 500), 2);
        assert_eq!(bar(0, 500), 0);
        assert_eq!(bar(500, 500), CHART_WIDTH - 200);
    }
}
