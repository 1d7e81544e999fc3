//! Telephony ingest speed, each number next to its floor measured in the same run.
//!
//!     RINGSIDE_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
//!     cargo bench -p ringside --bench sip_ingest
//!
//! 1. Throughput: the highest rate of SIP messages (whole calls: INVITE, 180, 200, ACK,
//!    BYE, 200) that the ingest listener — receive, normalize, parse, track, emit — takes
//!    on one core (a current-thread runtime) with zero dropped datagrams, next to a null
//!    sink (the same socket, receive and discard) on the same core.
//! 2. Latency: from a packet's arrival to its event's publisher confirm on RabbitMQ
//!    (the production `ringside_ingest_publish_latency_seconds` measurement), next to
//!    one confirmed publish of the same size on the same broker.

mod common;

use std::net::{SocketAddr, UdpSocket as StdUdp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ringside_bus::{Bus, BusError, Confirm, Deliveries, Message, QueueSpec};
use ringside_ingest::listen::{Ingest, Protocol, serve_udp};
use ringside_ingest::publisher::Publisher;
use ringside_ingest::{AllowList, Tracker, TrackerConfig};
use tokio_util::sync::CancellationToken;

const RATES: &[u64] = &[
    10_000, 20_000, 40_000, 60_000, 80_000, 120_000, 160_000, 240_000,
];

/// A bus that accepts and forgets: throughput measures ingest, not the broker.
struct NullBus;

#[async_trait]
impl Bus for NullBus {
    async fn send(&self, _: &[Message]) -> Result<Confirm, BusError> {
        Ok(ringside_bus::durable())
    }
    async fn subscribe(&self, _: QueueSpec) -> Result<Deliveries, BusError> {
        Err(BusError::Closed)
    }
    async fn is_ready(&self) -> bool {
        true
    }
}

/// Runs a receiver on its own thread with a one-thread runtime; returns its address,
/// its received-packet counter and a stop handle.
fn spawn_receiver(
    ingest: bool,
) -> (
    SocketAddr,
    Arc<dyn Fn() -> u64 + Send + Sync>,
    CancellationToken,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = CancellationToken::new();
    let stop_thread = stop.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let socket = ringside_ingest::bind_udp("127.0.0.1:0".parse().expect("addr")).expect("bind");
            let addr = socket.local_addr().expect("addr");
            if ingest {
                let events = ringside_ingest::status::Channel::detached(
                    ringside_ingest::status::Kind::CallEvents,
                    "",
                );
                let (publisher, _task) =
                    Publisher::spawn(Arc::new(NullBus), stop_thread.clone(), events);
                let mut cfg = TrackerConfig::new("^[0-9]{3}$", Default::default()).expect("config");
                cfg.max_dialogs = 200_000;
                let allowed: AllowList = "127.0.0.0/8".parse().expect("nets");
                let state = Arc::new(Ingest::new(Tracker::new(cfg), publisher, allowed, None));
                let counter = state.clone();
                tx.send((addr, Arc::new(move || counter.packets()) as Arc<dyn Fn() -> u64 + Send + Sync>)).expect("send");
                serve_udp(socket, state, Protocol::Sip, stop_thread).await;
            } else {
                let count = Arc::new(AtomicU64::new(0));
                let counter = count.clone();
                tx.send((addr, Arc::new(move || counter.load(Ordering::Relaxed)) as Arc<dyn Fn() -> u64 + Send + Sync>))
                    .expect("send");
                let mut buf = vec![0u8; 65_535];
                loop {
                    tokio::select! {
                        _ = stop_thread.cancelled() => return,
                        r = socket.recv_from(&mut buf) => if r.is_ok() { count.fetch_add(1, Ordering::Relaxed); },
                    }
                }
            }
        });
    });
    let (addr, counter) = rx.recv().expect("receiver ready");
    (addr, counter, stop)
}

/// Sends one second of traffic at `rate` messages/s; returns how many were lost.
fn offer(target: SocketAddr, rate: u64, calls: &mut usize, counter: &dyn Fn() -> u64) -> u64 {
    let socket = StdUdp::bind("127.0.0.1:0").expect("sender");
    let before = counter();
    let per_ms = (rate / 1000).max(1);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut pending: Vec<Vec<u8>> = Vec::new();
    for ms in 0..1000u64 {
        while (pending.len() as u64) < per_ms {
            *calls += 1;
            pending.extend(common::call_messages(*calls).into_iter().rev());
        }
        for _ in 0..per_ms {
            let msg = pending.pop().expect("a message");
            socket.send_to(&msg, target).expect("send");
            sent += 1;
        }
        let due = started + Duration::from_millis(ms + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    sent.saturating_sub(counter() - before)
}

/// The highest rate in `RATES` with zero drops (and the first rate that dropped).
fn max_rate(ingest: bool) -> (u64, Option<(u64, u64)>) {
    let (addr, counter, stop) = spawn_receiver(ingest);
    let mut calls = 0;
    let mut best = 0;
    let mut first_loss = None;
    for &rate in RATES {
        let lost = offer(addr, rate, &mut calls, counter.as_ref());
        if lost > 0 {
            first_loss = Some((rate, lost));
            break;
        }
        best = rate;
    }
    stop.cancel();
    (best, first_loss)
}

fn quantile(metrics: &str, name: &str, q: &str) -> Option<f64> {
    let prefix = format!("{name}{{quantile=\"{q}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

async fn latency(amqp: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = ringside::config::Settings::ephemeral(dir.path().to_path_buf());
    settings.amqp_url = Some(amqp.to_owned());
    settings.exchange = format!("bench.events.{}", uuid::Uuid::new_v4().simple());
    settings.extension_pattern = "^[0-9]{3}$".into();
    let key = ringside_auth::TokenKey::generate();
    let running = ringside::app::start(
        &settings,
        ringside::app::Mode::Serve(ringside::app::ServiceName::Ingest),
        key,
    )
    .await?;
    let sip = running.ingest.expect("ingest").sip;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    const CALLS: usize = 2_000;
    for n in 0..CALLS {
        for msg in common::call_messages(1_000_000 + n) {
            socket.send_to(&msg, sip).await?;
        }
        tokio::time::sleep(Duration::from_millis(2)).await; // ~500 calls/s, 1,500 events/s
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = ringside::http::metrics_handle().render();
    let name = "ringside_ingest_publish_latency_seconds";
    let (p50, p99) = (
        quantile(&metrics, name, "0.5"),
        quantile(&metrics, name, "0.99"),
    );

    // Floor: one confirmed publish of a call event's size on the same broker.
    let floor_bus = ringside_bus::amqp::AmqpBus::connect(
        amqp,
        &settings.exchange,
        "bench-floor",
        CancellationToken::new(),
    )
    .await?;
    let payload = Message {
        routing_key: "call.ringing".into(),
        event_id: "x".into(),
        payload: vec![0u8; 200],
    };
    let mut samples = Vec::new();
    for _ in 0..3_000 {
        let start = Instant::now();
        floor_bus.publish(std::slice::from_ref(&payload)).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    let floor = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64()
    };
    let us = |s: f64| s * 1e6;
    println!(
        "\npacket arrival → publisher confirm on RabbitMQ ({CALLS} calls, {} events at ~1,500 events/s)",
        CALLS * 3
    );
    println!("| path | p50 µs | p99 µs |");
    println!("|---|---:|---:|");
    let (p50, p99) = (p50.unwrap_or(f64::NAN), p99.unwrap_or(f64::NAN));
    println!(
        "| ingest: packet arrival → event confirmed | {:.0} | {:.0} |",
        us(p50),
        us(p99)
    );
    println!(
        "| floor: one confirmed publish | {:.0} | {:.0} |",
        us(floor(0.5)),
        us(floor(0.99))
    );
    println!(
        "| ratio | {:.1}× | {:.1}× |",
        p50 / floor(0.5),
        p99 / floor(0.99)
    );
    let _ = floor_bus.delete_exchange().await;
    running.stop().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let (null_rate, null_loss) = max_rate(false);
    let (ingest_rate, ingest_loss) = max_rate(true);
    println!(
        "SIP messages per second on one core with zero dropped datagrams (1 s at each rate: {RATES:?})"
    );
    println!("| receiver | highest zero-loss rate | first lossy rate (lost) |");
    println!("|---|---:|---:|");
    let loss = |l: Option<(u64, u64)>| {
        l.map_or("none up to the top rate".into(), |(r, n)| {
            format!("{r} ({n})")
        })
    };
    println!(
        "| null sink (receive, discard) | {null_rate} | {} |",
        loss(null_loss)
    );
    println!(
        "| ingest (parse, track, emit) | {ingest_rate} | {} |",
        loss(ingest_loss)
    );
    println!(
        "| ratio (ingest / null sink) | {:.2}× | |",
        ingest_rate as f64 / null_rate.max(1) as f64
    );

    let amqp = std::env::var("RINGSIDE_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    tokio::runtime::Runtime::new()?.block_on(latency(&amqp))
}
