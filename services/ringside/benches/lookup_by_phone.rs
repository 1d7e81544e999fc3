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

mod common;

use std::time::Instant;

use common::{CONCURRENT_CALLERS, CONCURRENT_CALLS, SEQUENTIAL, Stats, bearer, measure};
use ringside::app::{self, Mode};
use ringside_auth::TokenKey;
use ringside_proto::contacts::v1::{LookupByPhoneRequest, contacts_client::ContactsClient};
use ringside_storage::{AssertSqlSafe, Db};
use tonic::transport::Channel;

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
    let url = common::fresh_database(&server, "ringside_bench").await?;
    let db = Db::connect(&url, 20).await?;
    db.migrate().await?;
    let seeded = Instant::now();
    seed(&db, contacts).await?;
    println!("seeded {contacts} contacts in {:.1?}", seeded.elapsed());
    print_plans(&db).await?;

    let dir = tempfile::tempdir()?;
    let mut settings = common::bench_settings(dir.path().to_path_buf());
    settings.database_url = Some(url.clone());
    let key = TokenKey::generate();
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let token = key
        .issue_service("bench", "ringside.contacts.v1.Contacts", None)
        .expect("a service token");
    let channel = Channel::from_shared(format!("http://{}", running.grpc_addr))?
        .connect()
        .await?;

    let api = measure(
        |i| pick(i, contacts),
        |n| {
            let mut client = ContactsClient::with_interceptor(channel.clone(), bearer(&token));
            async move {
                let request = LookupByPhoneRequest { phone: national(n) };
                client.lookup_by_phone(request).await.expect("found");
            }
        },
    )
    .await;
    let floor = measure(
        |i| pick(i, contacts),
        |n| {
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
        },
    )
    .await;
    report(contacts, &api, &floor);
    running.stop().await?;
    Ok(())
}

fn report(contacts: usize, api: &Stats, floor: &Stats) {
    let us = common::micros;
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
