//! From the SIP INVITE that rings (the proxy's copy to the extension, sent right
//! after the caller's own to the office's number) arriving at the ingest socket to the caller-ID card frame
//! arriving at the agent's WebSocket (the card pops once the caller is known), and on
//! to the complete card (history, tasks, deals), at 10 and 100 calls per second with
//! 100,000 contacts — all-in-one on SQLite, and as services (contacts, activities,
//! deals, notifications, ingest) on PostgreSQL + RabbitMQ — next to the floor measured
//! in the same run: one indexed lookup + one broker round trip + one WebSocket echo.
//!
//!     RINGSIDE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     RINGSIDE_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
//!     cargo bench -p ringside --bench card_latency
//!
//! Each call rings extension 101 (agent `olga`, connected over `/agent/ws`) from one
//! of the seeded clients, who works for a company and has a note and a task, so every
//! card carries a name, a company, recent interactions and tasks. Once its card
//! arrives, the rest of the call (answer, hang-up) is sent so cards close as they
//! would.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use ringside::app::{self, Mode, Running, ServiceName};
use ringside::config::Settings;
use ringside_auth::{Role, TokenKey};
use ringside_bus::{EventPayload, Message, QueueSpec, new_envelope};
use ringside_storage::Db;
use tokio::net::UdpSocket;

const CONTACTS: i64 = 100_000;

struct Deployment {
    name: &'static str,
    parts: Vec<Running>,
    db: Db,
    key: TokenKey,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// The part that runs `service` (the single part, all-in-one).
    fn part(&self, index: usize) -> &Running {
        self.parts.get(index).unwrap_or(&self.parts[0])
    }
    // Parts in start order: staff, contacts, activities, deals, notifications, ingest.
    fn ingest(&self) -> &Running {
        self.part(5)
    }
    fn notifications(&self) -> &Running {
        self.part(4)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut report = Vec::new();
    let all_in_one = all_in_one().await?;
    measure_deployment(&all_in_one, &mut report).await?;
    stop(all_in_one).await;
    let pg = std::env::var("RINGSIDE_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let amqp = std::env::var("RINGSIDE_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let services = services(&pg, &amqp).await?;
    measure_deployment(&services, &mut report).await?;
    stop(services).await;
    print_report(&report);
    Ok(())
}

async fn stop(d: Deployment) {
    for part in d.parts.into_iter().rev() {
        let _ = part.stop().await;
    }
}

fn base_settings(dir: &std::path::Path) -> Settings {
    let mut settings = common::bench_settings(dir.to_path_buf());
    settings.extension_pattern = "^1[0-9]{2}$".into();
    settings
}

async fn all_in_one() -> anyhow::Result<Deployment> {
    let dir = tempfile::tempdir()?;
    let settings = base_settings(dir.path());
    let key = TokenKey::generate();
    let running = app::start(&settings, Mode::AllInOne, key.clone()).await?;
    let db = running.db.clone().expect("a database");
    seed(&db).await?;
    Ok(Deployment {
        name: "all-in-one (SQLite, local bus)",
        parts: vec![running],
        db,
        key,
        _dir: dir,
    })
}

async fn services(pg: &str, amqp: &str) -> anyhow::Result<Deployment> {
    let dir = tempfile::tempdir()?;
    let url = common::fresh_database(pg, "ringside_bench_cards").await?;
    let key = TokenKey::generate();
    let mut settings = base_settings(dir.path());
    settings.database_url = Some(url.clone());
    settings.amqp_url = Some(amqp.to_owned());
    settings.exchange = "bench.events".into();
    settings.queue_prefix = format!("bench.{}.", std::process::id());
    let mut parts: Vec<Running> = Vec::new();
    for service in [
        ServiceName::Staff,
        ServiceName::Contacts,
        ServiceName::Activities,
        ServiceName::Deals,
        ServiceName::Notifications,
        ServiceName::Ingest,
    ] {
        let mut s = settings.clone();
        let address = |n: usize| {
            parts
                .get(n)
                .map(|p: &Running| format!("http://{}", p.grpc_addr))
        };
        s.staff_url = address(0).unwrap_or(s.staff_url);
        s.contacts_url = address(1).unwrap_or(s.contacts_url);
        s.activities_url = address(2).unwrap_or(s.activities_url);
        s.deals_url = address(3).unwrap_or(s.deals_url);
        parts.push(app::start(&s, Mode::Serve(service), key.clone()).await?);
    }
    let db = parts[0].db.clone().expect("a database");
    seed(&db).await?;
    Ok(Deployment {
        name: "services (PostgreSQL, RabbitMQ)",
        parts,
        db,
        key,
        _dir: dir,
    })
}

/// 100,000 contacts with a phone each, ten to a company (one SQL statement per table
/// that runs on both backends), the agent at 101, and a note and a task on every
/// client.
async fn seed(db: &Db) -> anyhow::Result<()> {
    let started = Instant::now();
    let statements = [
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1 / 10) \
         INSERT INTO companies (id, name, name_lower, owner_id, created_at, updated_at) \
         SELECT 'co' || n, 'Company ' || n, 'company ' || n, 'olga', 0, 0 FROM g",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) \
         INSERT INTO contacts (id, name, name_lower, owner_id, company_id, custom_fields, created_at, updated_at) \
         SELECT 'c' || n, 'Client ' || n, 'client ' || n, 'olga', 'co' || (n % ($1 / 10) + 1), '{}', 0, 0 FROM g",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) \
         INSERT INTO identities (kind, value, contact_id) \
         SELECT 'phone', '+7' || (9120000000 + n), 'c' || n FROM g",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) \
         INSERT INTO activity_entries (id, kind, occurred_at, contact_id, summary, body, created_at, updated_at) \
         SELECT 'e' || n, 'note', 1700000000000, 'c' || n, 'Asked for the price list', 'Asked for the price list', 0, 0 FROM g",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) \
         INSERT INTO activity_tasks (id, title, task_type, assignee_id, due_at, remind_at, reminded_at, status, contact_id, created_at, updated_at) \
         SELECT 't' || n, 'Send the offer', 'todo', 'olga', 4100000000000, 4100000000000, NULL, 'open', 'c' || n, 0, 0 FROM g",
    ];
    for sql in statements {
        sqlx::query(sql).bind(CONTACTS).execute(db.pool()).await?;
    }
    let olga = ringside_staff::model::UserSpec {
        name: "Olga".into(),
        extensions: vec!["101".into()],
        ..Default::default()
    };
    ringside_staff::StaffService::new(db.clone())
        .create_user("bench", Some("olga".into()), olga)
        .await?;
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    println!("seeded {CONTACTS} contacts in {:.1?}", started.elapsed());
    Ok(())
}

struct Row {
    deployment: &'static str,
    what: String,
    p50: Duration,
    p99: Duration,
    floor: Option<(Duration, Duration)>,
}

async fn measure_deployment(d: &Deployment, report: &mut Vec<Row>) -> anyhow::Result<()> {
    let floor = floor(d).await?;
    // Warm-up (connections dialled on first use, caches), not measured.
    card_latency(d, 10, 30).await?;
    for (rate, calls) in [(10u64, 600usize), (100, 3000)] {
        let timings = card_latency(d, rate, calls).await?;
        for (what, (p50, p99)) in [
            ("card frame (who is calling)", timings.first),
            ("complete card (history, tasks, deals)", timings.complete),
        ] {
            report.push(Row {
                deployment: d.name,
                what: format!("INVITE → {what}, {rate} calls/s ({calls} calls)"),
                p50,
                p99,
                floor: Some(floor.total),
            });
        }
    }
    for (what, (p50, p99)) in floor.parts {
        report.push(Row {
            deployment: d.name,
            what: format!("floor part: {what}"),
            p50,
            p99,
            floor: None,
        });
    }
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn agent_socket(d: &Deployment) -> anyhow::Result<Ws> {
    let token = d
        .key
        .issue("olga", Role::Agent, Duration::from_secs(3600))
        .expect("a token");
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("ws://{}/agent/ws", d.notifications().http_addr);
    let mut request = url.into_client_request()?;
    // A program's socket: the token in a header, never in the URL.
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(tokio_tungstenite::connect_async(request).await?.0)
}

/// p50 and p99 from the INVITE to the first card frame, and to the complete card.
struct Timings {
    first: (Duration, Duration),
    complete: (Duration, Duration),
}

/// Sends INVITEs at `rate` and times each until its first card frame arrives and
/// until the card is complete (no part pending).
async fn card_latency(d: &Deployment, rate: u64, calls: usize) -> anyhow::Result<Timings> {
    let mut ws = agent_socket(d).await?;
    let sip = d.ingest().ingest.expect("ingest").sip;
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    // Call ids never repeat, across the runs of this process and across processes.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = run * 10_000_000 + std::process::id() as usize % 100 * 100_000;
    let sender = {
        let (socket, sent) = (socket.clone(), sent.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            for i in 0..calls {
                tick.tick().await;
                let client = (i * 7919) % CONTACTS as usize + 1;
                let [caller, forwarded] = invites(base + i, client);
                let _ = socket.send_to(&caller, sip).await;
                // The card is timed from the proxy's copy: the one that rings 101.
                sent.lock()
                    .unwrap()
                    .insert(format!("bench-{}@trunk", base + i), Instant::now());
                let _ = socket.send_to(&forwarded, sip).await;
            }
        })
    };
    let mut latencies = Vec::with_capacity(calls);
    let mut complete = Vec::with_capacity(calls);
    let mut first: HashMap<String, Instant> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(calls as u64 / rate + 30);
    while complete.len() < calls {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await else {
            anyhow::bail!(
                "{}: only {} of {calls} cards arrived complete",
                d.name,
                complete.len()
            );
        };
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
            continue;
        };
        let arrived = Instant::now();
        let v: serde_json::Value = serde_json::from_str(&text)?;
        if v["type"] != "card" && v["type"] != "card_update" {
            continue;
        }
        let call_id = v["card"]["call_id"].as_str().unwrap_or_default().to_owned();
        let Some(at) = sent.lock().unwrap().get(&call_id).copied() else {
            continue;
        };
        if v["type"] == "card" {
            anyhow::ensure!(
                v["card"]["company"].as_str().is_some_and(|c| !c.is_empty()),
                "{}: a card came without the client's company: {text}",
                d.name
            );
            latencies.push(arrived - at);
            first.insert(call_id.clone(), arrived);
        }
        let done = v["card"]["pending"].as_array().is_none_or(|p| p.is_empty());
        if done && first.remove(&call_id).is_some() {
            sent.lock().unwrap().remove(&call_id);
            complete.push(arrived - at);
            let n: usize = call_id
                .trim_start_matches("bench-")
                .trim_end_matches("@trunk")
                .parse()?;
            // The rest of the call (180, 200, ACK, BYE, 200) closes the card.
            for msg in common::call_messages_for(n, 0).into_iter().skip(2) {
                socket.send_to(&msg, sip).await?;
            }
        }
    }
    sender.await?;
    latencies.sort();
    complete.sort();
    let p = |v: &[Duration]| (common::percentile(v, 50), common::percentile(v, 99));
    Ok(Timings {
        first: p(&latencies),
        complete: p(&complete),
    })
}

/// The caller's INVITE to the office's number, and the proxy's copy to 101.
fn invites(n: usize, client: usize) -> [Vec<u8>; 2] {
    let mut messages = common::call_messages_for(n, client).into_iter();
    [(); 2].map(|_| messages.next().unwrap_or_default())
}

struct Floor {
    total: (Duration, Duration),
    parts: Vec<(&'static str, (Duration, Duration))>,
}

const FLOOR_SAMPLES: usize = 1000;

async fn sample<F, Fut>(mut f: F) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut times = Vec::with_capacity(FLOOR_SAMPLES);
    for i in 0..FLOOR_SAMPLES + 100 {
        let start = Instant::now();
        f(i).await?;
        if i >= 100 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    Ok((
        common::percentile(&times, 50),
        common::percentile(&times, 99),
    ))
}

/// One indexed lookup, one broker round trip and one WebSocket echo, each measured on
/// its own; the floor is their sum.
async fn floor(d: &Deployment) -> anyhow::Result<Floor> {
    let pool = d.db.pool().clone();
    let lookup = sample(|i| {
        let pool = pool.clone();
        async move {
            let phone = format!(
                "+7{}",
                9_120_000_000u64 + (i as u64 * 7919) % CONTACTS as u64 + 1
            );
            sqlx::query("SELECT contact_id FROM identities WHERE kind = 'phone' AND value = $1")
                .bind(phone)
                .fetch_one(&pool)
                .await?;
            Ok(())
        }
    })
    .await?;
    let bus = d.ingest().bus.clone();
    let queue = format!("bench.floor.{}", std::process::id());
    let deliveries = bus
        .subscribe(QueueSpec::new(&queue, &["task.created"]))
        .await?;
    let deliveries = Arc::new(tokio::sync::Mutex::new(deliveries));
    let broker = sample(|i| {
        let (bus, deliveries) = (bus.clone(), deliveries.clone());
        async move {
            let payload = EventPayload::TaskCreated(Default::default());
            let envelope = new_envelope("bench", &i.to_string(), payload);
            bus.publish(&[Message::from_envelope(&envelope)]).await?;
            let delivery = deliveries.lock().await.next().await;
            let delivery = delivery.ok_or_else(|| anyhow::anyhow!("no delivery"))?;
            delivery.acker.ack().await?;
            Ok(())
        }
    })
    .await?;
    let echo = ws_echo().await?;
    let parts = vec![
        ("one indexed lookup", lookup),
        ("one broker round trip", broker),
        ("one WebSocket echo", echo),
    ];
    let total = parts
        .iter()
        .fold((Duration::ZERO, Duration::ZERO), |acc, (_, (a, b))| {
            (acc.0 + *a, acc.1 + *b)
        });
    Ok(Floor { total, parts })
}

/// Round trips of a small frame through a loopback WebSocket echo server (axum).
async fn ws_echo() -> anyhow::Result<(Duration, Duration)> {
    use axum::extract::ws::WebSocketUpgrade;
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::get(|ws: WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket| async move {
                while let Some(Ok(msg)) = socket.recv().await {
                    if socket.send(msg).await.is_err() {
                        return;
                    }
                }
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo")).await?;
    let ws = Arc::new(tokio::sync::Mutex::new(ws));
    let frame = r#"{"type":"card","card":{"call_id":"x"}}"#;
    let result = sample(|_| {
        let ws = ws.clone();
        async move {
            let mut ws = ws.lock().await;
            ws.send(tokio_tungstenite::tungstenite::Message::Text(frame.into()))
                .await?;
            ws.next().await.ok_or_else(|| anyhow::anyhow!("closed"))??;
            Ok(())
        }
    })
    .await;
    server.abort();
    result
}

fn print_report(rows: &[Row]) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\n| deployment | path | p50 ms | p99 ms | floor p50 / p99 ms | ratio p50 / p99 |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows {
        let (floor, ratio) = match r.floor {
            Some((f50, f99)) => (
                format!("{:.2} / {:.2}", ms(f50), ms(f99)),
                format!("{:.1}× / {:.1}×", ms(r.p50) / ms(f50), ms(r.p99) / ms(f99)),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "| {} | {} | {:.2} | {:.2} | {floor} | {ratio} |",
            r.deployment,
            r.what,
            ms(r.p50),
            ms(r.p99)
        );
    }
}
