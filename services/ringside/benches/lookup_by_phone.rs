//! `LookupByPhone` over gRPC on PostgreSQL, next to the machine's floor measured in the
//! same run: one prepared, indexed SELECT of the identity over a plain connection.
//!
//!     RINGSIDE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     RINGSIDE_BENCH_CONTACTS=100000 cargo bench -p ringside --bench lookup_by_phone
//!
//! It seeds a fresh database `ringside_bench` (N contacts, one phone each), starts
//! the suite on it, and prints p50/p99 latency of sequential calls and the throughput
//! of 16 concurrent callers, for the API and for the floor, with their ratio, and the
//! PostgreSQL plans of both lookup queries.

use std::time::{Duration, Instant};

use ringside::app::{self, Mode};
use ringside_auth::{Role, TokenKey};
use ringside_proto::contacts::v1::{LookupByPhoneRequest, contacts_client::ContactsClient};
use ringside_storage::{AssertSqlSafe, Db};
use tonic::transport::Channel;

const SEQUENTIAL: usize = 5_000;
const CONCURRENT_CALLERS: usize = 16;
const CONCURRENT_CALLS: usize = 20_000;

struct Stats {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

/// The national-format number of contact `n` ("8 912 …", so the API normalizes it).
fn national(n: usize) -> String {
    format!("8 912 {:07}", n)
}

fn e164(n: usize) -> String {
    format!("+7912{:07}", n)
}

fn pick(i: usize, contacts: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) % contacts) + 1
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("RINGSIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let contacts: usize = std::env::var("RINGSIDE_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let url = fresh_database(&server).await?;
    let db = Db::connect(&url, 20).await?;
    db.migrate().await?;
    let seeded = Instant::now();
    seed(&db, contacts).await?;
    println!("seeded {contacts} contacts in {:.1?}", seeded.elapsed());
    print_plans(&db).await?;

    let dir = tempfile::tempdir()?;
    let mut settings = bench_settings(dir.path().to_path_buf());
    settings.database_url = Some(url.clone());
    let key = TokenKey::generate();
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let token = key.issue("bench", Role::Service, Duration::from_secs(3600));
    let channel = Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;

    let api = measure(contacts, |n| {
        let mut client = client(channel.clone(), token.clone());
        async move {
            let request = LookupByPhoneRequest { phone: national(n) };
            client.lookup_by_phone(request).await.expect("found");
        }
    })
    .await;
    let floor = measure(contacts, |n| {
        let pool = db.pool().clone();
        async move {
            let row = sqlx::query(
                "SELECT contact_id, lead_id FROM identities WHERE kind = $1 AND value = $2",
            )
            .bind("phone")
            .bind(e164(n))
            .fetch_optional(&pool)
            .await
            .expect("query");
            assert!(row.is_some());
        }
    })
    .await;
    report(contacts, &api, &floor);
    running.stop().await?;
    Ok(())
}

fn client(
    channel: Channel,
    token: String,
) -> ContactsClient<
    tonic::service::interceptor::InterceptedService<
        Channel,
        impl tonic::service::Interceptor + Clone,
    >,
> {
    let header: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("header");
    ContactsClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("authorization", header.clone());
        Ok(req)
    })
}

/// Sequential latency (after a warm-up) and the throughput of concurrent callers.
async fn measure<F, Fut>(contacts: usize, call: F) -> Stats
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for i in 0..1_000 {
        call(pick(i, contacts)).await;
    }
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let n = pick(i + 7, contacts);
        let start = Instant::now();
        call(n).await;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let started = Instant::now();
    let per_caller = CONCURRENT_CALLS / CONCURRENT_CALLERS;
    let mut tasks = Vec::new();
    for caller in 0..CONCURRENT_CALLERS {
        let calls: Vec<Fut> = (0..per_caller)
            .map(|i| call(pick(caller * per_caller + i, contacts)))
            .collect();
        tasks.push(tokio::spawn(async move {
            for c in calls {
                c.await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    Stats {
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        per_sec: (per_caller * CONCURRENT_CALLERS) as f64 / started.elapsed().as_secs_f64(),
    }
}

fn report(contacts: usize, api: &Stats, floor: &Stats) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!(
        "LookupByPhone over gRPC, {contacts} contacts on PostgreSQL ({SEQUENTIAL} sequential calls; {CONCURRENT_CALLS} calls from {CONCURRENT_CALLERS} concurrent callers)"
    );
    println!("| path | p50 µs | p99 µs | calls/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| LookupByPhone (gRPC, auth, normalize, contact card) | {:.0} | {:.0} | {:.0} |",
        us(api.p50),
        us(api.p99),
        api.per_sec
    );
    println!(
        "| floor: one prepared indexed SELECT | {:.0} | {:.0} | {:.0} |",
        us(floor.p50),
        us(floor.p99),
        floor.per_sec
    );
    println!(
        "| ratio (API / floor) | {:.1}× | {:.1}× | {:.2}× |",
        us(api.p50) / us(floor.p50),
        us(api.p99) / us(floor.p99),
        api.per_sec / floor.per_sec
    );
}

async fn fresh_database(server: &str) -> anyhow::Result<String> {
    let admin = Db::connect(server, 1).await?;
    sqlx::query("DROP DATABASE IF EXISTS ringside_bench WITH (FORCE)")
        .execute(admin.pool())
        .await?;
    sqlx::query("CREATE DATABASE ringside_bench")
        .execute(admin.pool())
        .await?;
    admin.close().await;
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
    Ok(format!("{base}/ringside_bench"))
}

async fn seed(db: &Db, contacts: usize) -> anyhow::Result<()> {
    let n = contacts as i64;
    sqlx::query(
        "INSERT INTO contacts (id, name, name_lower, owner_id, custom_fields, created_at, updated_at) \
         SELECT 'c' || lpad(g::text, 9, '0'), 'Client ' || g, 'client ' || g, 'agent-' || (g % 20), '{}', 0, 0 \
         FROM generate_series(1, $1::bigint) g",
    )
    .bind(n)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO identities (kind, value, contact_id, rev_digits) \
         SELECT 'phone', '+7912' || lpad(g::text, 7, '0'), 'c' || lpad(g::text, 9, '0'), \
                reverse('7912' || lpad(g::text, 7, '0')) \
         FROM generate_series(1, $1::bigint) g",
    )
    .bind(n)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO contact_tags (contact_id, tag) \
         SELECT 'c' || lpad(g::text, 9, '0'), 'vip' FROM generate_series(1, $1::bigint, 10) g",
    )
    .bind(n)
    .execute(db.pool())
    .await?;
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    Ok(())
}

async fn print_plans(db: &Db) -> anyhow::Result<()> {
    let queries = [
        (
            "exact E.164",
            "SELECT contact_id, lead_id FROM identities WHERE kind = 'phone' AND value = '+79120000042'",
        ),
        (
            "trailing digits",
            "SELECT DISTINCT contact_id, lead_id FROM identities WHERE rev_digits >= '2400000' AND rev_digits < '2400000:' LIMIT 2",
        ),
    ];
    for (name, sql) in queries {
        println!("\nplan of the {name} lookup:");
        let rows = sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(db.pool())
            .await?;
        for line in rows {
            println!("    {line}");
        }
    }
    Ok(())
}

fn bench_settings(data_dir: std::path::PathBuf) -> ringside::config::Settings {
    let mut settings = ringside::config::Settings::ephemeral(data_dir);
    settings.db_max_connections = 20;
    settings
}
