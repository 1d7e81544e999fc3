//! The SIP and HEP listeners, UDP and TCP. Each packet is checked against the allowed
//! source networks (and, for HEP, the auth key), interpreted, applied to the tracker,
//! and its events queued for publishing — in the receiving task, in microseconds, so
//! one bad packet never holds up the next.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::publisher::{Publisher, message};
use crate::sip::{self, framing};
use crate::status::{Channel, Kind};
use crate::tracker::{Signal, Tracker};
use crate::{hep, secret_eq};
use ringside_kit::net::AllowList;

/// Most TCP connections served at once per listener.
const MAX_CONNECTIONS: usize = 1024;
/// A TCP connection silent this long is closed.
const IDLE: Duration = Duration::from_secs(300);

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Sip,
    Hep,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Sip => "sip",
            Protocol::Hep => "hep",
        }
    }
}

/// Shared state of every listener.
pub struct Ingest {
    /// Packets received so far, whatever became of them.
    packets: std::sync::atomic::AtomicU64,
    tracker: Mutex<Tracker>,
    publisher: Publisher,
    allowed: AllowList,
    hep_auth_key: Option<String>,
    /// What the admin's channel page says of each listener.
    sip_channel: Arc<Channel>,
    hep_channel: Arc<Channel>,
}

impl Ingest {
    pub fn new(
        tracker: Tracker,
        publisher: Publisher,
        allowed: AllowList,
        hep_auth_key: Option<String>,
    ) -> Self {
        Ingest {
            packets: Default::default(),
            tracker: Mutex::new(tracker),
            publisher,
            allowed,
            hep_auth_key,
            sip_channel: Channel::detached(Kind::Sip, "SIP"),
            hep_channel: Channel::detached(Kind::Hep, "HEP"),
        }
    }

    /// Notes what each listener receives and refuses on these channels.
    pub fn watched(mut self, sip: Arc<Channel>, hep: Arc<Channel>) -> Self {
        self.sip_channel = sip;
        self.hep_channel = hep;
        self
    }

    /// The channel of `protocol`'s listener.
    pub fn channel(&self, protocol: Protocol) -> &Channel {
        match protocol {
            Protocol::Sip => &self.sip_channel,
            Protocol::Hep => &self.hep_channel,
        }
    }

    /// Applies a signal to the tracker and queues the events it causes. Returns them.
    pub fn apply(&self, signal: Signal, arrived: Instant) -> Vec<ringside_bus::Message> {
        let call_id = signal_call_id(&signal).to_owned();
        let events = {
            let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            let events = tracker.apply(signal, arrived, SystemTime::now());
            metrics::gauge!("ringside_ingest_dialogs").set(tracker.len() as f64);
            events
        };
        events
            .into_iter()
            .map(|payload| message(&call_id, payload))
            .collect()
    }

    fn apply_and_queue(&self, signal: Signal, arrived: Instant) {
        for msg in self.apply(signal, arrived) {
            self.publisher.send(msg, arrived);
        }
    }

    /// How many packets the listeners received (for benchmarks and diagnostics).
    pub fn packets(&self) -> u64 {
        self.packets.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One packet from `from`; the outcome is counted, never logged with content.
    pub fn packet(
        &self,
        protocol: Protocol,
        transport: &'static str,
        from: SocketAddr,
        bytes: &[u8],
        arrived: Instant,
    ) {
        self.packets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = if !self.allowed.allows(from.ip()) {
            "forbidden_source"
        } else {
            match protocol {
                Protocol::Sip => self.sip(bytes, arrived),
                Protocol::Hep => self.hep(bytes, arrived),
            }
        };
        metrics::counter!("ringside_ingest_packets_total", "protocol" => protocol.label(), "transport" => transport, "outcome" => outcome)
            .increment(1);
        match outcome {
            // Not needed is not refused: a PBX copies every SIP message, and a
            // capture agent sends RTCP and logs over HEP as well.
            "signal" | "irrelevant" | "hep_not_sip" => self.channel(protocol).took(),
            refused => self.channel(protocol).refused(refused),
        }
    }

    fn sip(&self, bytes: &[u8], arrived: Instant) -> &'static str {
        match sip::interpret(bytes) {
            Ok(signal) => {
                self.apply_and_queue(signal, arrived);
                "signal"
            }
            Err(dropped) => dropped.reason(),
        }
    }

    fn hep(&self, bytes: &[u8], arrived: Instant) -> &'static str {
        let packet = match hep::decode(bytes) {
            Ok(packet) => packet,
            Err(e) => return e.reason(),
        };
        if let Some(expected) = &self.hep_auth_key {
            let given = packet.auth_key.unwrap_or_default();
            if !secret_eq(given, expected.as_bytes()) {
                return "bad_auth_key";
            }
        }
        self.sip(packet.payload, arrived)
    }

    /// Closes expired dialogs and forgets finished ones; call about once a second.
    pub fn expire(&self) {
        let now = Instant::now();
        let events = {
            let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            tracker.expire(now, SystemTime::now())
        };
        for payload in events {
            let call_id = call_id_of(&payload);
            self.publisher.send(message(&call_id, payload), now);
        }
    }
}

fn signal_call_id(signal: &Signal) -> &str {
    match signal {
        Signal::Invite { call_id, .. }
        | Signal::Progress { call_id, .. }
        | Signal::Final { call_id, .. }
        | Signal::Cancel { call_id }
        | Signal::Unanswered { call_id, .. }
        | Signal::Bye { call_id } => call_id,
    }
}

fn call_id_of(payload: &ringside_bus::EventPayload) -> String {
    use ringside_bus::EventPayload as P;
    let parties = match payload {
        P::CallRinging(e) => e.call.as_ref(),
        P::CallAnswered(e) => e.call.as_ref(),
        P::CallEnded(e) => e.call.as_ref(),
        P::CallMissed(e) => e.call.as_ref(),
        _ => None,
    };
    parties.map(|p| p.call_id.clone()).unwrap_or_default()
}

/// Serves datagrams until `shutdown`.
pub async fn serve_udp(
    socket: UdpSocket,
    ingest: Arc<Ingest>,
    protocol: Protocol,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        match received {
            Ok((len, from)) => ingest.packet(protocol, "udp", from, &buf[..len], Instant::now()),
            Err(e) => tracing::warn!(error = %e, "ingest: UDP receive failed"),
        }
    }
}

/// Accepts stream connections until `shutdown`.
pub async fn serve_tcp(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    protocol: Protocol,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, from)) = accepted else {
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("ringside_ingest_connections_refused_total").increment(1);
            continue;
        };
        if !ingest.allowed.allows(from.ip()) {
            metrics::counter!("ringside_ingest_packets_total", "protocol" => protocol.label(), "transport" => "tcp", "outcome" => "forbidden_source")
                .increment(1);
            ingest.channel(protocol).refused("forbidden_source");
            continue;
        }
        let ingest = ingest.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            connection(stream, from, &ingest, protocol, &shutdown).await;
            drop(slot);
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    from: SocketAddr,
    ingest: &Ingest,
    protocol: Protocol,
    shutdown: &CancellationToken,
) {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = tokio::time::timeout(IDLE, stream.read(&mut chunk)) => r,
        };
        let n = match read {
            Ok(Ok(0)) | Err(_) => return, // closed, or idle too long
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        let arrived = Instant::now();
        if !drain_frames(&mut buf, from, ingest, protocol, arrived) {
            metrics::counter!("ringside_ingest_packets_total", "protocol" => protocol.label(), "transport" => "tcp", "outcome" => "unframeable")
                .increment(1);
            ingest.channel(protocol).refused("unframeable");
            return;
        }
    }
}

/// Handles every complete message in `buf`; `false` when the stream cannot be framed.
fn drain_frames(
    buf: &mut Vec<u8>,
    from: SocketAddr,
    ingest: &Ingest,
    protocol: Protocol,
    arrived: Instant,
) -> bool {
    loop {
        let frame = match protocol {
            Protocol::Sip => match framing::next_message(buf) {
                Ok(frame) => frame,
                Err(_) => return false,
            },
            Protocol::Hep => match hep::frame_len(buf) {
                Ok(Some(len)) if buf.len() >= len => Some(buf.drain(..len).collect()),
                Ok(_) => None,
                Err(_) => return false,
            },
        };
        match frame {
            Some(frame) => ingest.packet(protocol, "tcp", from, &frame, arrived),
            None => return true,
        }
    }
}
