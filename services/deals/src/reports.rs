//! The head of sales' reports, computed from the stage history: funnel conversion of
//! a cohort of deals (with a drill-down to the deals behind every number), win rate,
//! and the forecast of open deals by expected close month.
//!
//! The funnel's rule, for deals opened in the period in one pipeline: a deal *reached*
//! the furthest open stage it was ever in — skipping a stage counts as passing it,
//! moving backwards never un-reaches a stage, and each deal counts once per stage
//! however often it comes back. A won deal reached every open stage. For each open
//! stage: `entered` = deals that reached it; `moved_on` = of those, deals that
//! reached a later open stage or were won; `lost_here` = lost deals whose furthest
//! stage it was; conversion to the next stage = moved_on / entered; to won = won /
//! entered. The median time in a stage is over completed stays (a deal that is still
//! there is not counted). The status is the deal's current one: a reopened deal is
//! open again.

use std::collections::BTreeMap;

use ringside_auth::visibility::{Entity, Scope};
use ringside_identity::paging::{Page, Paged};
use ringside_storage::sql::Where;
use ringside_storage::{Backend, Row};

use crate::error::Result;
use crate::model::{Ctx, Deal, Filter, Pipeline, Sort, Stage, StageKind, month_of_day, today};
use crate::service::{DealsService, paged, pipeline_or_default};
use crate::store;

/// The cohort of a report: deals of a pipeline opened in `[from, to)`.
#[derive(Debug, Clone)]
pub struct Cohort {
    pub pipeline_id: Option<String>,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStage {
    pub stage: Stage,
    pub entered: i64,
    pub moved_on: i64,
    pub lost_here: i64,
    /// The median completed stay, in milliseconds.
    pub median_ms: Option<i64>,
    pub completed_stays: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Funnel {
    /// The owner whose deals these are; `None` for a team's or everyone's.
    pub owner_id: Option<String>,
    /// The team the deals were given to (`Some("")`: to none); `None` for an
    /// owner's or everyone's.
    pub team_id: Option<String>,
    pub stages: Vec<FunnelStage>,
    pub deals: i64,
    pub won: i64,
    pub lost: i64,
}

impl Funnel {
    /// won / (won + lost); 0 when none closed.
    pub fn win_rate(&self) -> f64 {
        ratio(self.won, self.won + self.lost)
    }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: i64, b: i64) -> f64 {
    match b {
        0 => 0.0,
        b => a as f64 / b as f64,
    }
}

#[derive(Debug, Clone)]
pub struct FunnelReport {
    pub pipeline: Pipeline,
    pub total: Funnel,
    pub owners: Vec<Funnel>,
    pub teams: Vec<Funnel>,
}

/// What a funnel report is split by besides everyone: a deal's owner, the team it
/// was given to (its stamp, which stays when people change teams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum By {
    Owner,
    Team,
}

impl By {
    fn column(self) -> &'static str {
        match self {
            By::Owner => "d.owner_id",
            By::Team => "d.team_id",
        }
    }
}

/// The splits asked for, in [`By`]'s order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Splits {
    pub by_owner: bool,
    pub by_team: bool,
}

impl Splits {
    fn asked(self) -> impl Iterator<Item = By> {
        [(self.by_owner, By::Owner), (self.by_team, By::Team)]
            .into_iter()
            .filter_map(|(asked, by)| asked.then_some(by))
    }
}

/// Whose deals a drill-down lists: an owner's, a team's (`Some("")`: no team's),
/// or everyone's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Whose<'a> {
    pub owner_id: Option<&'a str>,
    pub team_id: Option<&'a str>,
}

/// One number of the funnel report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Entered,
    MovedOn,
    LostHere,
    Deals,
    Won,
    Lost,
}

impl Cell {
    pub fn per_stage(self) -> bool {
        matches!(self, Cell::Entered | Cell::MovedOn | Cell::LostHere)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForecastRow {
    /// `YYYY-MM`; empty for deals without an expected close date.
    pub month: String,
    pub currency: String,
    pub deals: i64,
    pub amount_minor: i64,
    pub weighted_minor: i64,
}

/// How many deals of one owner or team (or everyone) ended where: (status,
/// furthest open position) → count.
type Reach = BTreeMap<(StageKind, i64), i64>;

/// Deals of the cohort (`cohort`: a condition on `d`) by owner, team, status and
/// furthest open stage: one pass over the cohort's deals (the furthest stage is
/// kept on the deal as it moves).
fn reach_sql(cohort: &str) -> String {
    format!(
        "SELECT d.owner_id, d.team_id, d.status, d.reached_position AS reached, \
         COUNT(*) AS n FROM deals d WHERE {cohort} \
         GROUP BY d.owner_id, d.team_id, d.status, d.reached_position"
    )
}

/// The cohort's completed stays, as `h` joined with their deal `d`.
fn stays_of_cohort(cohort: &str) -> String {
    format!(
        "FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id \
         WHERE {cohort} AND h.left_at IS NOT NULL"
    )
}

/// The deals of `pipeline` created within the cohort's window that `scope` sees.
fn cohort_where(pipeline: &str, cohort: &Cohort, scope: &Scope) -> Where {
    let filter = Filter {
        pipeline_id: Some(pipeline.to_owned()),
        ..Filter::default()
    };
    let mut w = store::filter_where(&filter, scope, today());
    w.push("d.created_at >= {}", cohort.from);
    w.push("d.created_at < {}", cohort.to);
    w
}

/// The lower median of completed stays per stage, and per stage and owner or team
/// as `splits` ask (`g_owner` is 0 on an owner's rows, `g_team` on a team's).
/// PostgreSQL sorts each group once (`percentile_disc`, every grouping in one
/// pass); SQLite, without ordered-set aggregates, numbers the rows with window
/// functions and picks the middle one, one query per grouping.
fn median_sql(backend: Backend, splits: Splits, cohort: &str) -> Vec<String> {
    let stays = stays_of_cohort(cohort);
    let asked = |by: By| splits.asked().any(|a| a == by);
    match backend {
        Backend::Postgres => {
            let column = |by: By| match asked(by) {
                true => (
                    format!("COALESCE({}, '')", by.column()),
                    format!("GROUPING({})", by.column()),
                ),
                false => ("''".to_owned(), "1".to_owned()),
            };
            let ((owner, g_owner), (team, g_team)) = (column(By::Owner), column(By::Team));
            let per: String = (splits.asked())
                .map(|by| format!(", (h.stage_id, {})", by.column()))
                .collect();
            let sets = match per.is_empty() {
                true => "h.stage_id".to_owned(),
                false => format!("GROUPING SETS ((h.stage_id){per})"),
            };
            vec![format!(
                "SELECT h.stage_id, {owner} AS owner_id, {team} AS team_id, \
                 CAST({g_owner} AS BIGINT) AS g_owner, CAST({g_team} AS BIGINT) AS g_team, \
                 COUNT(*) AS n, \
                 CAST(percentile_disc(0.5) WITHIN GROUP (ORDER BY h.left_at - h.entered_at) \
                 AS BIGINT) AS dur {stays} GROUP BY {sets}"
            )]
        }
        Backend::Sqlite => std::iter::once(None)
            .chain(splits.asked().map(Some))
            .map(|by| {
                let pick = |of: By| match by == Some(of) {
                    true => (of.column(), 0),
                    false => ("''", 1),
                };
                let ((owner, g_owner), (team, g_team)) = (pick(By::Owner), pick(By::Team));
                let partition = match by {
                    Some(by) => format!("h.stage_id, {}", by.column()),
                    None => "h.stage_id".to_owned(),
                };
                format!(
                    "SELECT t.stage_id, t.owner_id, t.team_id, {g_owner} AS g_owner, \
                     {g_team} AS g_team, t.n, t.dur FROM (\
                     SELECT h.stage_id, {owner} AS owner_id, {team} AS team_id, \
                     h.left_at - h.entered_at AS dur, \
                     ROW_NUMBER() OVER (PARTITION BY {partition} \
                     ORDER BY h.left_at - h.entered_at) AS rn, \
                     COUNT(*) OVER (PARTITION BY {partition}) AS n \
                     {stays}) t WHERE t.rn = (t.n + 1) / 2"
                )
            })
            .collect(),
    }
}

/// A group a funnel is of: `None` for everyone.
type Group = Option<(By, String)>;

/// (stage, group) → (completed stays, median ms).
type Medians = BTreeMap<(String, Group), (i64, i64)>;

/// The group a median's row is of.
fn group_of(row: &sqlx::any::AnyRow) -> Result<Group> {
    if row.try_get::<i64, _>("g_owner")? == 0 {
        return Ok(Some((By::Owner, row.try_get("owner_id")?)));
    }
    if row.try_get::<i64, _>("g_team")? == 0 {
        return Ok(Some((By::Team, row.try_get("team_id")?)));
    }
    Ok(None)
}

impl DealsService {
    pub async fn funnel(&self, ctx: &Ctx, cohort: &Cohort, splits: Splits) -> Result<FunnelReport> {
        let mut conn = self.db.pool().acquire().await?;
        let pipeline = pipeline_or_default(&mut conn, cohort.pipeline_id.as_deref()).await?;
        let w = cohort_where(&pipeline.id, cohort, &ctx.scope(Entity::Deal));
        // Every group's reach, everyone's included (`None`).
        let mut reach: BTreeMap<Group, Reach> = BTreeMap::new();
        let rows = w.query(reach_sql(&w.sql())).fetch_all(&mut *conn).await?;
        for row in rows {
            let status: String = row.try_get("status")?;
            let Some(status) = StageKind::parse(&status) else {
                continue;
            };
            let key = (status, row.try_get("reached")?);
            let n = row.try_get::<i64, _>("n")?;
            let owner = (By::Owner, row.try_get("owner_id")?);
            let team = (By::Team, row.try_get("team_id")?);
            for group in [None, Some(owner), Some(team)] {
                *reach.entry(group).or_default().entry(key).or_default() += n;
            }
        }
        let mut medians = Medians::new();
        for sql in median_sql(self.db.backend(), splits, &w.sql()) {
            let rows = w.query(sql).fetch_all(&mut *conn).await?;
            for row in rows {
                let key = (row.try_get("stage_id")?, group_of(&row)?);
                medians.insert(key, (row.try_get("n")?, row.try_get("dur")?));
            }
        }
        let everyone = reach.get(&None).cloned().unwrap_or_default();
        let funnels = |by: By, asked: bool| -> Vec<Funnel> {
            let of_by = reach
                .iter()
                .filter(|(g, _)| asked && matches!(g, Some((b, _)) if *b == by));
            of_by
                .map(|(group, r)| funnel_of(&pipeline, group, r, &medians))
                .collect()
        };
        Ok(FunnelReport {
            total: funnel_of(&pipeline, &None, &everyone, &medians),
            owners: funnels(By::Owner, splits.by_owner),
            teams: funnels(By::Team, splits.by_team),
            pipeline,
        })
    }

    /// The deals behind one number of [`DealsService::funnel`] (newest first), and how
    /// many there are — always the number the report shows.
    pub async fn drill_down(
        &self,
        ctx: &Ctx,
        cohort: &Cohort,
        whose: Whose<'_>,
        stage_id: Option<&str>,
        cell: Cell,
        page: Page,
    ) -> Result<(Paged<Deal>, i64)> {
        let mut conn = self.db.pool().acquire().await?;
        let pipeline = pipeline_or_default(&mut conn, cohort.pipeline_id.as_deref()).await?;
        let position = match (cell.per_stage(), stage_id) {
            (false, _) => None,
            (true, Some(id)) => Some(open_position(&pipeline, id)?),
            (true, None) => {
                return Err(ringside_identity::Invalid::new(
                    "stage_id",
                    "this cell is per stage: a stage id is required",
                )
                .into());
            }
        };
        let scope = ctx.scope(Entity::Deal);
        let mut w = cohort_where(&pipeline.id, cohort, &scope);
        if let Some(owner) = whose.owner_id {
            w.push("d.owner_id = {}", owner);
        }
        if let Some(team) = whose.team_id {
            w.push("d.team_id = {}", team);
        }
        cell_clause(&mut w, cell, position);
        let total = store::count_where(&mut conn, &w).await?;
        let sort = Sort::default();
        let items = store::deals_where(&mut conn, w, sort, &page, &scope).await?;
        Ok((paged(items, sort, page.size), total))
    }

    /// Open deals' amounts and amount × probability by expected close month and
    /// currency.
    pub async fn forecast(
        &self,
        ctx: &Ctx,
        pipeline_id: Option<&str>,
        owner_id: Option<&str>,
    ) -> Result<Vec<ForecastRow>> {
        let filter = Filter {
            pipeline_id: pipeline_id.map(str::to_owned),
            owner_id: owner_id.map(str::to_owned),
            status: Some(StageKind::Open),
            ..Filter::default()
        };
        let w = store::filter_where(&filter, &ctx.scope(Entity::Deal), today());
        let sql = format!(
            "SELECT d.close_day, d.currency, s.probability, COUNT(*) AS n, \
             CAST(SUM(d.amount_minor) AS BIGINT) AS total FROM deals d JOIN deal_stages s ON s.id = d.stage_id \
             WHERE {} GROUP BY d.close_day, d.currency, s.probability",
            w.sql()
        );
        let mut conn = self.db.pool().acquire().await?;
        let rows = w.query(sql).fetch_all(&mut *conn).await?;
        // (month, currency) → (deals, amount, Σ amount × probability)
        let mut sums: BTreeMap<(String, String), (i64, i64, i128)> = BTreeMap::new();
        for row in rows {
            let month = row
                .try_get::<Option<i64>, _>("close_day")?
                .map(month_of_day)
                .unwrap_or_default();
            let total: i64 = row.try_get("total")?;
            let probability: i64 = row.try_get("probability")?;
            let entry = sums.entry((month, row.try_get("currency")?)).or_default();
            entry.0 += row.try_get::<i64, _>("n")?;
            entry.1 += total;
            entry.2 += i128::from(total) * i128::from(probability);
        }
        let mut out: Vec<ForecastRow> = sums
            .into_iter()
            .map(
                |((month, currency), (deals, amount, weighted))| ForecastRow {
                    month,
                    currency,
                    deals,
                    amount_minor: amount,
                    weighted_minor: i64::try_from((weighted + 50) / 100).unwrap_or(i64::MAX),
                },
            )
            .collect();
        // Dated months in order, undated last.
        out.sort_by(|a, b| {
            (a.month.is_empty(), &a.month, &a.currency).cmp(&(
                b.month.is_empty(),
                &b.month,
                &b.currency,
            ))
        });
        Ok(out)
    }
}

fn open_position(pipeline: &Pipeline, stage_id: &str) -> Result<i64> {
    pipeline
        .open_stages()
        .find(|s| s.id == stage_id)
        .map(|s| s.position)
        .ok_or_else(|| {
            ringside_identity::Invalid::new("stage_id", "not an open stage of the pipeline").into()
        })
}

/// The condition that picks the deals counted in `cell` (see the module's rule).
fn cell_clause(w: &mut Where, cell: Cell, position: Option<i64>) {
    let position = position.map(|p| w.bind(p));
    let at = position.as_deref().unwrap_or("0");
    let clause = match cell {
        Cell::Entered => format!("(d.status = 'won' OR d.reached_position >= {at})"),
        Cell::MovedOn => format!("(d.status = 'won' OR d.reached_position > {at})"),
        Cell::LostHere => format!("(d.status = 'lost' AND d.reached_position = {at})"),
        Cell::Deals => "TRUE".to_owned(),
        Cell::Won => "d.status = 'won'".to_owned(),
        Cell::Lost => "d.status = 'lost'".to_owned(),
    };
    w.push_plain(&clause);
}

/// One funnel from its deals' reach: see the module's rule.
fn funnel_of(pipeline: &Pipeline, group: &Group, reach: &Reach, medians: &Medians) -> Funnel {
    let won_at = pipeline
        .closing_stage(StageKind::Won)
        .map_or(i64::MAX, |s| s.position);
    let furthest = |status: StageKind, reached: i64| match status {
        StageKind::Won => won_at,
        _ => reached,
    };
    let count = |pick: &dyn Fn(StageKind, i64) -> bool| -> i64 {
        reach
            .iter()
            .filter(|((status, reached), _)| pick(*status, furthest(*status, *reached)))
            .map(|(_, n)| n)
            .sum()
    };
    let stages = pipeline
        .open_stages()
        .map(|stage| {
            let p = stage.position;
            let median = medians.get(&(stage.id.clone(), group.clone()));
            FunnelStage {
                stage: stage.clone(),
                entered: count(&|_, f| f >= p),
                moved_on: count(&|_, f| f > p),
                lost_here: count(&|s, f| s == StageKind::Lost && f == p),
                median_ms: median.map(|m| m.1),
                completed_stays: median.map_or(0, |m| m.0),
            }
        })
        .collect();
    let of = |by: By| match group {
        Some((b, id)) if *b == by => Some(id.clone()),
        _ => None,
    };
    Funnel {
        owner_id: of(By::Owner),
        team_id: of(By::Team),
        stages,
        deals: count(&|_, _| true),
        won: count(&|s, _| s == StageKind::Won),
        lost: count(&|s, _| s == StageKind::Lost),
    }
}
