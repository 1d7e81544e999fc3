//! The ingest service: channel adapters that turn the outside world into events. This
//! crate owns telephony — passive SIP call tracking from raw SIP copies (UDP, TCP) and
//! HEPv3 (UDP, TCP), and the call webhook for cloud PBXs — publishing `call.ringing`,
//! `call.answered`, `call.ended` and `call.missed` as soon as the packet is seen; web
//! forms (`POST /forms/{form}`), published as `form.submitted`; and Telegram (long
//! polling, webhook) and email (IMAP, MIME webhook), published as `message.received`.
//! Every sender is resolved through contacts' gRPC client (`peers`) before its event
//! is published, and a channel is told "taken" only after the publish is confirmed.
//! Its one table is the IMAP cursors (when it reads mailboxes); it never answers or
//! alters a call, and never logs a packet's, a form's or a message's content. It does
//! not know who a sender is: that is `contacts`' job.

pub mod email;
pub mod forms;
pub mod hep;
pub mod inbound;
pub mod listen;
pub mod peers;
pub mod publisher;
pub mod sip;
pub mod status;
pub mod telegram;
pub mod tracker;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringside_bus::Bus;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use listen::{Ingest, Protocol};
pub use ringside_kit::net::AllowList;
pub use tracker::{Tracker, TrackerConfig};

/// Where and how ingest listens.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub sip_addr: SocketAddr,
    pub hep_addr: SocketAddr,
    /// Source networks whose packets are read; everything else is dropped.
    pub allowed: AllowList,
    /// If set, HEP packets must carry this auth key.
    pub hep_auth_key: Option<String>,
    pub tracker: TrackerConfig,
}

/// The addresses ingest is bound to (UDP and TCP share each port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub hep: SocketAddr,
}

/// Binds the SIP and HEP listeners and starts them, the publisher and the expiry
/// sweep on `tasks`; both listeners are registered in `channels`. Returns the shared
/// state (for the webhook) and the addresses.
pub async fn start(
    cfg: IngestConfig,
    bus: Arc<dyn Bus>,
    channels: &status::Channels,
    shutdown: CancellationToken,
    tasks: &mut JoinSet<()>,
) -> std::io::Result<(Arc<Ingest>, Bound)> {
    let sip = bind_same_port(cfg.sip_addr).await?;
    let hep = bind_same_port(cfg.hep_addr).await?;
    let bound = Bound {
        sip: sip.0.local_addr()?,
        hep: hep.0.local_addr()?,
    };
    let events = channels.add(status::Kind::CallEvents, "", "");
    let (publisher, publishing) = publisher::Publisher::spawn(bus, shutdown.clone(), events);
    tasks.spawn(async move {
        let _ = publishing.await;
    });
    let listening = |kind, addr| channels.add(kind, format!("UDP, TCP {addr}"), "");
    let ingest = Ingest::new(
        Tracker::new(cfg.tracker),
        publisher,
        cfg.allowed,
        cfg.hep_auth_key,
    )
    .watched(
        listening(status::Kind::Sip, bound.sip),
        listening(status::Kind::Hep, bound.hep),
    );
    let ingest = Arc::new(ingest);
    serve_pair(sip, &ingest, Protocol::Sip, &shutdown, tasks);
    serve_pair(hep, &ingest, Protocol::Hep, &shutdown, tasks);
    let sweeper = ingest.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => sweeper.expire(),
            }
        }
    });
    Ok((ingest, bound))
}

/// Serves one protocol on its UDP socket and TCP listener.
fn serve_pair(
    (udp, tcp): (UdpSocket, TcpListener),
    ingest: &Arc<Ingest>,
    protocol: Protocol,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    tasks.spawn(listen::serve_udp(
        udp,
        ingest.clone(),
        protocol,
        shutdown.clone(),
    ));
    tasks.spawn(listen::serve_tcp(
        tcp,
        ingest.clone(),
        protocol,
        shutdown.clone(),
    ));
}

/// UDP and TCP sockets on one port. For port 0 the kernel picks the UDP port, which
/// may be taken for TCP by someone else: then another port is tried.
async fn bind_same_port(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut refused = Vec::new(); // held until the end, so the kernel picks other ports
    for _ in 0..attempts {
        let udp = bind_udp(addr)?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() == 0 => {
                refused.push(udp)
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no port free for both UDP and TCP",
    ))
}

/// Receive buffer asked for on UDP sockets: bursts from a busy proxy queue here rather
/// than being dropped by the kernel (it is capped by `net.core.rmem_max`).
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// A UDP socket on `addr` with the enlarged receive buffer.
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(IpProtocol::UDP),
    )?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::warn!(error = %e, "ingest: could not enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Compares secrets in time that does not depend on where they differ.
pub fn secret_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ e);
    }
    diff == 0
}

/// A request body ingest could not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRefused {
    /// Over the limit (by its Content-Length, or while reading): 413.
    TooLarge,
    /// The client broke the stream mid-body: 400.
    Broken,
}

impl BodyRefused {
    pub fn status(self) -> axum::http::StatusCode {
        match self {
            BodyRefused::TooLarge => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            BodyRefused::Broken => axum::http::StatusCode::BAD_REQUEST,
        }
    }
}

/// `req`'s body, at most `limit` bytes; a Content-Length over the limit is refused
/// before anything is read.
pub async fn read_body(
    req: axum::extract::Request,
    limit: usize,
) -> Result<axum::body::Bytes, BodyRefused> {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyRefused::TooLarge);
    }
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let source = std::error::Error::source(&e);
            match source.is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
                true => BodyRefused::TooLarge,
                false => BodyRefused::Broken,
            }
        })
}

/// A webhook's body, read only once the secret in `header` checks out (in constant
/// time), so that a stranger cannot make ingest buffer anything: 401 without the
/// secret, else what [`read_body`] refuses.
pub async fn authorized_body(
    req: axum::extract::Request,
    header: &str,
    secret: &[u8],
    limit: usize,
) -> Result<axum::body::Bytes, axum::http::StatusCode> {
    let given = req.headers().get(header).map_or(&[][..], |v| v.as_bytes());
    if !secret_eq(given, secret) {
        return Err(axum::http::StatusCode::UNAUTHORIZED);
    }
    read_body(req, limit).await.map_err(BodyRefused::status)
}
