//! What the benchmarks share: a fresh PostgreSQL database, suite settings, an
//! authenticated gRPC interceptor, and the measurement (sequential p50/p99 after a
//! warm-up, then the throughput of concurrent callers).

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use ringside_storage::{AssertSqlSafe, Db};

pub const SEQUENTIAL: usize = 5_000;
pub const CONCURRENT_CALLERS: usize = 16;
pub const CONCURRENT_CALLS: usize = 20_000;
const WARM_UP: usize = 1_000;

pub struct Stats {
    pub p50: Duration,
    pub p99: Duration,
    pub per_sec: f64,
}

pub fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Drops and creates `name` on `server`; returns its URL.
pub async fn fresh_database(server: &str, name: &str) -> anyhow::Result<String> {
    let admin = Db::connect(server, 1).await?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(admin.pool())
    .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await?;
    admin.close().await;
    let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(server);
    Ok(format!("{base}/{name}"))
}

pub fn bench_settings(data_dir: std::path::PathBuf) -> ringside::config::Settings {
    let mut settings = ringside::config::Settings::ephemeral(data_dir);
    settings.db_max_connections = 20;
    settings
}

/// An interceptor that sends `token` as the bearer.
pub fn bearer(token: &str) -> impl tonic::service::Interceptor + Clone + use<> {
    let header: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("header");
    move |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("authorization", header.clone());
        Ok(req)
    }
}

/// How many calls a measurement makes.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub warm_up: usize,
    pub sequential: usize,
    pub callers: usize,
    pub concurrent: usize,
}

/// The counts of the fast paths: 1,000 warm-up, 5,000 sequential, 20,000 from 16
/// concurrent callers.
pub const FAST: Counts = Counts {
    warm_up: WARM_UP,
    sequential: SEQUENTIAL,
    callers: CONCURRENT_CALLERS,
    concurrent: CONCURRENT_CALLS,
};

/// Sequential latency (after a warm-up) and the throughput of concurrent callers;
/// call `i` gets the argument `arg(i)`.
pub async fn measure<A, F, Fut>(arg: impl Fn(usize) -> A, call: F) -> Stats
where
    F: Fn(A) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    measure_with(FAST, arg, call).await
}

/// [`measure`] with other counts, for slow paths (reports over a million rows).
pub async fn measure_with<A, F, Fut>(counts: Counts, arg: impl Fn(usize) -> A, call: F) -> Stats
where
    F: Fn(A) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Counts {
        warm_up,
        sequential,
        callers,
        concurrent,
    } = counts;
    for i in 0..warm_up {
        call(arg(i)).await;
    }
    let mut latencies = Vec::with_capacity(sequential);
    for i in 0..sequential {
        let a = arg(i + 7);
        let start = Instant::now();
        call(a).await;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let started = Instant::now();
    let per_caller = concurrent / callers;
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let calls: Vec<Fut> = (0..per_caller)
            .map(|i| call(arg(caller * per_caller + i)))
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
        per_sec: (per_caller * callers) as f64 / started.elapsed().as_secs_f64(),
    }
}

/// The SIP messages of one whole call from the client `+7912{n:07}` to the office's
/// number, which the proxy forwards to extension 101 (the caller's INVITE, the
/// proxy's copy to 101, 180, 200, ACK, BYE, 200), as a PBX's capture copies them.
pub fn call_messages(n: usize) -> Vec<Vec<u8>> {
    call_messages_for(n, n)
}

/// The messages of call `n` from client `+7912{client:07}`.
pub fn call_messages_for(n: usize, client: usize) -> Vec<Vec<u8>> {
    let via = |b: &str| format!("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}-{b}\r\n");
    let common = |to_tag: &str, cseq: &str| {
        format!(
            "From: \"Client {client}\" <sip:+7912{client:07}@trunk>;tag=f{n}\r\nTo: <sip:101@pbx>{to_tag}\r\nCall-ID: bench-{n}@trunk\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    vec![
        format!(
            "INVITE sip:+74951234567@127.0.0.1 SIP/2.0\r\n{}{}",
            via("i"),
            common("", "1 INVITE")
        ),
        format!(
            "INVITE sip:101@127.0.0.1 SIP/2.0\r\n{}{}{}",
            via("f"),
            via("i"),
            common("", "1 INVITE")
        ),
        format!(
            "SIP/2.0 180 Ringing\r\n{}{}",
            via("i"),
            common(";tag=t", "1 INVITE")
        ),
        format!(
            "SIP/2.0 200 OK\r\n{}Contact: <sip:101@127.0.0.1>\r\n{}",
            via("i"),
            common(";tag=t", "1 INVITE")
        ),
        format!(
            "ACK sip:101@127.0.0.1 SIP/2.0\r\n{}{}",
            via("a"),
            common(";tag=t", "1 ACK")
        ),
        format!(
            "BYE sip:101@127.0.0.1 SIP/2.0\r\n{}{}",
            via("b"),
            common(";tag=t", "2 BYE")
        ),
        format!(
            "SIP/2.0 200 OK\r\n{}{}",
            via("b"),
            common(";tag=t", "2 BYE")
        ),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}
