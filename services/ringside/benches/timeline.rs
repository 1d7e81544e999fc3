//! `Timeline` over gRPC on PostgreSQL for a client with 10,000 entries among
//! 1,000,000, next to the machine's floor measured in the same run: the same indexed
//! range scan (one page of one client's entries from a cursor) over a plain connection.
//!
//!     RINGSIDE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     RINGSIDE_BENCH_ENTRIES=1000000 cargo bench -p ringside --bench timeline
//!
//! It seeds a fresh database `ringside_bench_timeline` — one client with 1% of the
//! entries, the rest spread over 99,991 others; a third of them calls with their
//! detail — starts the suite on it, and asks for pages of 50 from cursors spread over
//! the client's whole history (first page and deep pages alike), sequentially for
//! p50/p99 and from 16 concurrent callers for throughput. It also prints the plan.

mod common;

use std::time::{Duration, Instant};

use common::{CONCURRENT_CALLERS, CONCURRENT_CALLS, SEQUENTIAL, Stats, bearer, measure, micros};
use prost::Message as _;
use ringside::app::{self, Mode};
use ringside_auth::{Role, TokenKey};
use ringside_proto::activities::v1 as pb;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_storage::{AssertSqlSafe, Db};
use tonic::transport::Channel;

const CLIENT: &str = "client-target";
const PAGE: i64 = 50;
const BASE_MS: i64 = 1_700_000_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("RINGSIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let entries: i64 = std::env::var("RINGSIDE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let url = common::fresh_database(&server, "ringside_bench_timeline").await?;
    let db = Db::connect(&url, 20).await?;
    db.migrate().await?;
    let seeded = Instant::now();
    seed(&db, entries).await?;
    let mine = entries / 100;
    println!(
        "seeded {entries} entries ({mine} for one client) in {:.1?}",
        seeded.elapsed()
    );
    print_plan(&db).await?;

    let dir = tempfile::tempdir()?;
    let mut settings = common::bench_settings(dir.path().to_path_buf());
    settings.database_url = Some(url.clone());
    let key = TokenKey::generate();
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let token = key
        // An admin reads every timeline without asking contacts who owns the client
        // (the seeded client has entries only): this measures the timeline itself.
        .issue("bench", Role::Admin, Duration::from_secs(3600))
        .expect("a token");
    let channel = Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;

    // Cursor i: the position of the client's (i mod mine)-th entry, scattered.
    let cursor = |i: usize| {
        let k = (i as i64).wrapping_mul(2_654_435_761).rem_euclid(mine) + 1;
        let g = k * 100;
        (BASE_MS + g * 1000, format!("e{g:012}"))
    };
    let api = measure(cursor, |(at, id)| {
        let mut client = ActivitiesClient::with_interceptor(channel.clone(), bearer(&token));
        async move {
            let req = pb::TimelineRequest {
                subject: Some(pb::Subject {
                    subject: Some(pb::subject::Subject::ContactId(CLIENT.into())),
                }),
                page_size: PAGE as i32,
                page_token: format!("{at}.{id}"),
                ..Default::default()
            };
            let got = client.timeline(req).await.expect("timeline").into_inner();
            assert!(!got.entries.is_empty() || at <= BASE_MS + 100_000);
        }
    })
    .await;
    let floor = measure(cursor, |(at, id)| {
        let pool = db.pool().clone();
        async move {
            sqlx::query(
                "SELECT id, kind, occurred_at, summary, detail FROM activity_entries \
                 WHERE contact_id = $1 AND (occurred_at, id) < ($2, $3) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $4",
            )
            .bind(CLIENT)
            .bind(at)
            .bind(id)
            .bind(PAGE + 1)
            .fetch_all(&pool)
            .await
            .expect("query");
        }
    })
    .await;
    report(entries, mine, &api, &floor);
    running.stop().await?;
    Ok(())
}

async fn seed(db: &Db, entries: i64) -> anyhow::Result<()> {
    let call = pb::Entry {
        detail: Some(pb::entry::Detail::Call(pb::CallDetail {
            call_id: "a84b4c76e66710@pbx.example".into(),
            direction: pb::Direction::Inbound as i32,
            caller: "+79123456789".into(),
            callee: "+74951234567".into(),
            extensions: vec!["101".into(), "102".into()],
            answered_extension: "102".into(),
            agent_id: "olga".into(),
            duration_ms: 125_000,
            outcome: pb::CallOutcome::Answered as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
    .encode_to_vec();
    sqlx::query(
        "INSERT INTO activity_entries (id, kind, occurred_at, contact_id, summary, body, \
         detail, created_at, updated_at) \
         SELECT 'e' || lpad(g::text, 12, '0'), \
                CASE g % 3 WHEN 0 THEN 'call' WHEN 1 THEN 'note' ELSE 'message' END, \
                $2 + g * 1000, \
                CASE WHEN g % 100 = 0 THEN $3 ELSE 'client-' || (g % 99991) END, \
                'Inbound call, answered at 102, 2m05s', \
                CASE g % 3 WHEN 1 THEN 'Asked for the offer again; call after lunch' ELSE '' END, \
                CASE g % 3 WHEN 0 THEN $4 ELSE NULL END, $2, $2 \
         FROM generate_series(1, $1::bigint) g",
    )
    .bind(entries)
    .bind(BASE_MS)
    .bind(CLIENT)
    .bind(call)
    .execute(db.pool())
    .await?;
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    Ok(())
}

async fn print_plan(db: &Db) -> anyhow::Result<()> {
    let at = BASE_MS + 500_000_000;
    let sql = format!(
        "EXPLAIN SELECT * FROM activity_entries WHERE contact_id = '{CLIENT}' \
         AND deleted_at IS NULL AND (occurred_at, id) < ({at}, 'e') \
         ORDER BY occurred_at DESC, id DESC LIMIT 51"
    );
    println!("\nplan of a timeline page:");
    for line in sqlx::query_scalar::<_, String>(AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?
    {
        println!("    {line}");
    }
    Ok(())
}

fn report(entries: i64, mine: i64, api: &Stats, floor: &Stats) {
    println!();
    println!(
        "Timeline over gRPC, pages of {PAGE} of a client with {mine} entries among {entries} on PostgreSQL ({SEQUENTIAL} sequential calls; {CONCURRENT_CALLS} calls from {CONCURRENT_CALLERS} concurrent callers)"
    );
    println!("| path | p50 µs | p99 µs | calls/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| Timeline (gRPC, auth, page of {PAGE} decoded with details) | {:.0} | {:.0} | {:.0} |",
        micros(api.p50),
        micros(api.p99),
        api.per_sec
    );
    println!(
        "| floor: the same indexed range scan, one prepared SELECT | {:.0} | {:.0} | {:.0} |",
        micros(floor.p50),
        micros(floor.p99),
        floor.per_sec
    );
    println!(
        "| ratio (API / floor) | {:.1}× | {:.1}× | {:.2}× |",
        micros(api.p50) / micros(floor.p50),
        micros(api.p99) / micros(floor.p99),
        api.per_sec / floor.per_sec
    );
}
