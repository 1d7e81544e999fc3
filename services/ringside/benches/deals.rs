//! The deals views on PostgreSQL, next to the machine's floor measured in the same
//! run: the kanban of a pipeline with 100,000 deals (over gRPC: the counts and sums
//! per stage and currency, and the first page of cards of every column) against the
//! indexed aggregate of those counts and sums alone; and the funnel report over
//! 1,000,000 stage transitions against one aggregate over the same join (the cohort's
//! transitions counted per stage). Then visibility: the first page of the deals list
//! and the kanban as an agent (their own deals), a manager (their team's) and an
//! admin (every deal, unscoped) in the same run, the scoped ones beside the unscoped,
//! with PostgreSQL's plans of the scoped list printed.
//!
//!     RINGSIDE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     RINGSIDE_BENCH_DEALS=100000 cargo bench -p ringside --bench deals
//!
//! It seeds a fresh database `ringside_bench_deals`: the default pipeline (four open
//! stages, won, lost), the deals spread over its stages, 20 owners in four teams of
//! five and three currencies, opened over a year, each with ten stays in its history
//! (forwards, backwards and skips).

mod common;

use std::time::{Duration, Instant};

use common::{Counts, Stats, bearer, measure_with, micros};
use ringside::app::{self, Mode};
use ringside_auth::{Role, TokenKey};
use ringside_proto::deals::v1 as pb;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::timestamp_from_millis;
use ringside_storage::Db;
use tonic::transport::Channel;

const BASE_MS: i64 = 1_700_000_000_000;
/// Deals are opened 5 minutes apart.
const STEP_MS: i64 = 300_000;
const STAYS: i64 = 10;

const KANBAN: Counts = Counts {
    warm_up: 20,
    sequential: 300,
    callers: 4,
    concurrent: 400,
};
const FUNNEL: Counts = Counts {
    warm_up: 2,
    sequential: 20,
    callers: 2,
    concurrent: 10,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("RINGSIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let deals: i64 = std::env::var("RINGSIDE_BENCH_DEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let url = common::fresh_database(&server, "ringside_bench_deals").await?;
    let dir = tempfile::tempdir()?;
    let mut settings = common::bench_settings(dir.path().to_path_buf());
    settings.database_url = Some(url.clone());
    let key = TokenKey::generate();
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let db = Db::connect(&url, 20).await?;
    let seeded = Instant::now();
    let (pipeline, stages) = seed(&db, deals).await?;
    println!(
        "seeded {deals} deals and {} stage transitions in {:.1?}",
        deals * STAYS,
        seeded.elapsed()
    );
    let channel = Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;
    let as_viewer = |viewer: &Viewer| {
        let teams: Vec<String> = viewer.teams.iter().map(|t| (*t).to_owned()).collect();
        let token = key
            .issue_member(viewer.user, viewer.role, &teams, Duration::from_secs(3600))
            .expect("a token");
        DealsClient::with_interceptor(channel.clone(), bearer(&token))
    };
    let client = as_viewer(&VIEWERS[0]);

    let kanban = visibility(&db, &pipeline, stages, &as_viewer).await?;
    let sums_floor = measure_with(
        KANBAN,
        |_| (),
        |_| {
            let pool = db.pool().clone();
            let pipeline = pipeline.clone();
            async move {
                sqlx::query(
                    "SELECT stage_id, currency, COUNT(*) AS n, CAST(SUM(amount_minor) AS BIGINT) \
                 FROM deals WHERE pipeline_id = $1 GROUP BY stage_id, currency",
                )
                .bind(pipeline)
                .fetch_all(&pool)
                .await
                .expect("sums");
            }
        },
    )
    .await;
    let (from, to) = (BASE_MS, BASE_MS + (deals + 1) * STEP_MS);
    let funnel = |by_owner: bool| {
        let client = client.clone();
        let pipeline = pipeline.clone();
        move |_: ()| {
            let mut client = client.clone();
            let req = pb::FunnelRequest {
                pipeline_id: pipeline.clone(),
                from: Some(timestamp_from_millis(from)),
                to: Some(timestamp_from_millis(to)),
                by_owner,
                by_team: false,
            };
            async move {
                let report = client.funnel(req).await.expect("funnel").into_inner();
                assert_eq!(report.total.expect("total").deals, deals);
            }
        }
    };
    let report_total = measure_with(FUNNEL, |_| (), funnel(false)).await;
    let report_owners = measure_with(FUNNEL, |_| (), funnel(true)).await;
    let funnel_floor = measure_with(
        FUNNEL,
        |_| (),
        |_| {
            let pool = db.pool().clone();
            let pipeline = pipeline.clone();
            async move {
                sqlx::query(
                    "SELECT h.stage_id, COUNT(*) FROM deals d \
                 JOIN deal_stage_history h ON h.deal_id = d.id \
                 WHERE d.pipeline_id = $1 AND d.created_at >= $2 AND d.created_at < $3 \
                 GROUP BY h.stage_id",
                )
                .bind(pipeline)
                .bind(from)
                .bind(to)
                .fetch_all(&pool)
                .await
                .expect("floor");
            }
        },
    )
    .await;
    println!();
    println!(
        "Deals on PostgreSQL: {deals} deals, {} stage transitions",
        deals * STAYS
    );
    println!(
        "| path | p50 ms | p99 ms | calls/s | floor p50 ms | floor p99 ms | ratio p50 | ratio p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    row(
        "Kanban (gRPC: sums per stage and currency + 20 cards per column)",
        &kanban,
        &sums_floor,
    );
    row(
        "Funnel report (gRPC, whole team)",
        &report_total,
        &funnel_floor,
    );
    row(
        "Funnel report (gRPC, and per owner)",
        &report_owners,
        &funnel_floor,
    );
    println!(
        "floors: the kanban's is the indexed aggregate of counts and sums per stage and currency; \
         the funnel's is one aggregate over the same cohort join (transitions per stage)"
    );
    running.stop().await?;
    Ok(())
}

/// Who looks: the admin (unscoped), a manager of team-0 (its five owners' deals: a
/// quarter) and an agent, user-3 (their own: a twentieth).
struct Viewer {
    name: &'static str,
    user: &'static str,
    role: Role,
    teams: &'static [&'static str],
}

const VIEWERS: [Viewer; 3] = [
    Viewer {
        name: "admin (all)",
        user: "root",
        role: Role::Admin,
        teams: &[],
    },
    Viewer {
        name: "manager (team)",
        user: "mgr",
        role: Role::Manager,
        teams: &["team-0"],
    },
    Viewer {
        name: "agent (own)",
        user: "user-3",
        role: Role::Agent,
        teams: &["team-3"],
    },
];

type Client<I> = DealsClient<tonic::service::interceptor::InterceptedService<Channel, I>>;

/// The list's first page and the kanban for each viewer, then the plans of the
/// scoped list queries; returns the admin's (unscoped) kanban.
async fn visibility<I, F>(
    db: &Db,
    pipeline: &str,
    stages: usize,
    as_viewer: &F,
) -> anyhow::Result<Stats>
where
    I: tonic::service::Interceptor + Clone + Send + Sync + 'static,
    F: Fn(&Viewer) -> Client<I>,
{
    let mut lists = Vec::new();
    let mut boards = Vec::new();
    for viewer in &VIEWERS {
        let client = as_viewer(viewer);
        let list = measure_with(
            KANBAN,
            |_| (),
            |_| {
                let mut client = client.clone();
                async move {
                    let page = client
                        .list_deals(pb::ListDealsRequest {
                            page_size: 50,
                            ..Default::default()
                        })
                        .await
                        .expect("list")
                        .into_inner();
                    assert_eq!(page.deals.len(), 50);
                }
            },
        )
        .await;
        let filter = pb::DealFilter {
            pipeline_id: pipeline.to_owned(),
            ..Default::default()
        };
        let board = measure_with(
            KANBAN,
            |_| (),
            |_| {
                let mut client = client.clone();
                let filter = filter.clone();
                async move {
                    let board = client
                        .kanban(pb::KanbanRequest {
                            filter: Some(filter),
                            page_size: 20,
                            ..Default::default()
                        })
                        .await
                        .expect("kanban")
                        .into_inner();
                    assert_eq!(board.columns.len(), stages);
                }
            },
        )
        .await;
        lists.push(list);
        boards.push(board);
    }
    println!();
    println!(
        "Visibility: each viewer's list (first page of 50, with the total) and kanban, beside the admin's unscoped"
    );
    println!(
        "| path | viewer | p50 ms | p99 ms | calls/s | unscoped p50 ms | unscoped p99 ms | ratio p50 | ratio p99 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, viewer) in VIEWERS.iter().enumerate() {
        row(
            &format!("ListDeals | {}", viewer.name),
            &lists[i],
            &lists[0],
        );
    }
    for (i, viewer) in VIEWERS.iter().enumerate() {
        row(&format!("Kanban | {}", viewer.name), &boards[i], &boards[0]);
    }
    for (viewer, scope) in [
        (&VIEWERS[2], "(d.owner_id = 'user-3' OR d.owner_id = '')"),
        (
            &VIEWERS[1],
            "(d.owner_id = 'mgr' OR d.owner_id = '' OR d.team_id IN ('team-0'))",
        ),
    ] {
        for (what, sql) in [
            (
                "list page",
                format!(
                    "SELECT d.id FROM deals d JOIN deal_stages s ON s.id = d.stage_id \
                     WHERE {scope} ORDER BY d.created_at + 0 DESC, d.id DESC LIMIT 51"
                ),
            ),
            (
                "list total",
                format!("SELECT COUNT(*) FROM deals d WHERE {scope}"),
            ),
            (
                "kanban column (the fullest stage)",
                format!(
                    "SELECT d.id FROM deals d JOIN deal_stages s ON s.id = d.stage_id \
                     WHERE {scope} AND d.stage_id = (SELECT stage_id FROM deals \
                     GROUP BY stage_id ORDER BY COUNT(*) DESC LIMIT 1) \
                     ORDER BY d.created_at + 0 DESC, d.id DESC LIMIT 21"
                ),
            ),
        ] {
            println!();
            println!("PostgreSQL plan, {} {what}:", viewer.name);
            let plan: Vec<(String,)> = sqlx::query_as(ringside_storage::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"
            )))
            .fetch_all(db.pool())
            .await?;
            for (line,) in plan {
                println!("    {line}");
            }
        }
    }
    Ok(boards.swap_remove(0))
}

fn ms(d: Duration) -> f64 {
    micros(d) / 1000.0
}

/// One table row: `label` (its cells), then `api` beside `floor` and their ratio.
fn row(label: &str, api: &Stats, floor: &Stats) {
    println!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× |",
        ms(api.p50),
        ms(api.p99),
        api.per_sec,
        ms(floor.p50),
        ms(floor.p99),
        ms(api.p50) / ms(floor.p50),
        ms(api.p99) / ms(floor.p99),
    );
}

/// Seeds the deals and their histories; returns the pipeline and its stage count.
async fn seed(db: &Db, deals: i64) -> anyhow::Result<(String, usize)> {
    let stages: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.id, s.pipeline_id FROM deal_stages s JOIN deal_pipelines p \
         ON p.id = s.pipeline_id WHERE p.is_default = 1 ORDER BY s.position",
    )
    .fetch_all(db.pool())
    .await?;
    anyhow::ensure!(
        stages.len() == 6,
        "the default pipeline has 4 open stages, won and lost"
    );
    let pipeline = stages[0].1.clone();
    let ids: Vec<String> = stages.iter().map(|(id, _)| id.clone()).collect();
    // The current stage of deal g: every tenth won, every tenth lost, the rest open.
    let current = "(ARRAY[$2, $3, $4, $5, $6, $7])[CASE g % 10 WHEN 0 THEN 5 WHEN 1 THEN 6 \
                   ELSE 1 + g % 4 END]";
    let insert_deals = format!(
        "INSERT INTO deals (id, title, pipeline_id, stage_id, status, amount_minor, currency, \
         owner_id, team_id, close_day, created_at, updated_at, stage_entered_at, title_lower) \
         SELECT 'd' || lpad(g::text, 9, '0'), 'Deal ' || g, $8, {current}, \
                CASE g % 10 WHEN 0 THEN 'won' WHEN 1 THEN 'lost' ELSE 'open' END, \
                (g * 7919) % 1000000, (ARRAY['EUR', 'RUB', 'USD'])[1 + g % 3], \
                'user-' || (g % 20), 'team-' || (g % 20) % 4, 20400 + g % 365, $9 + g * {STEP_MS}, $9 + g * {STEP_MS}, \
                $9 + g * {STEP_MS}, 'deal ' || g \
         FROM generate_series(1, $1::bigint) g"
    );
    let history = format!(
        "INSERT INTO deal_stage_history (id, deal_id, stage_id, entered_at, left_at, moved_by) \
         SELECT 'h' || lpad(g::text, 9, '0') || '-' || k, 'd' || lpad(g::text, 9, '0'), \
                CASE WHEN k = {last} THEN {current} \
                     ELSE (ARRAY[$2, $3, $4, $5])[1 + (g + k * k) % 4] END, \
                $9 + g * {STEP_MS} + k * 3600000, \
                CASE WHEN k = {last} THEN NULL \
                     ELSE $9 + g * {STEP_MS} + (k + 1) * 3600000 - (g % 1000) END, \
                'bench' \
         FROM generate_series(1, $1::bigint) g CROSS JOIN generate_series(0, {last}) k",
        last = STAYS - 1
    );
    for sql in [insert_deals, history] {
        let mut query = sqlx::query(ringside_storage::AssertSqlSafe(sql)).bind(deals);
        for id in &ids {
            query = query.bind(id.clone());
        }
        query
            .bind(pipeline.clone())
            .bind(BASE_MS)
            .execute(db.pool())
            .await?;
    }
    sqlx::query(
        "UPDATE deals d SET reached_position = r.p FROM (SELECT h.deal_id, MAX(s.position) AS p \
         FROM deal_stage_history h JOIN deal_stages s ON s.id = h.stage_id AND s.kind = 'open' \
         GROUP BY h.deal_id) r WHERE r.deal_id = d.id",
    )
    .execute(db.pool())
    .await?;
    sqlx::query("VACUUM ANALYZE").execute(db.pool()).await?;
    Ok((pipeline, stages.len()))
}
