//! The audit trail's writer outside staff: lines from this process's guard and
//! services (a refused call, a caller-ID card shown) are put in a bounded queue,
//! never waited on, and delivered to staff (`RecordAudit`) in batches by one
//! background task. While staff does not answer the task tries again, backing off,
//! for a few minutes; a batch staff refuses, or that waited too long, is dropped with
//! an error. One caller's refused calls are kept to a rate (a loop of refusals does
//! not flood the trail or crowd out other lines); what is dropped — over the rate,
//! or a queue full after a long outage — is counted and warned about once a minute.
//! Lines still queued when the process stops are lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ringside_auth::{Audit, AuditLine, AuditSink};
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use tokio::sync::mpsc;

use crate::peer::request;
use crate::{PeerChannel, PeerError};

/// Lines waiting for staff, at most.
const QUEUE: usize = 10_000;
/// Lines sent at once.
const BATCH: usize = 200;
/// The longest wait before trying staff again, and how many tries a batch gets.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const MAX_TRIES: u32 = 12;
/// Refused calls of one caller kept per minute.
const REFUSALS_PER_MINUTE: u32 = 60;
/// Callers the rate limiter remembers before the idle ones are forgotten.
const MAX_CALLERS: usize = 10_000;

/// The sink that delivers to staff.
#[derive(Debug)]
pub struct StaffTrail {
    queue: mpsc::Sender<AuditLine>,
    refusals: DefaultKeyedRateLimiter<String>,
    dropped: AtomicU64,
    warned: std::sync::Mutex<Instant>,
}

impl AuditSink for StaffTrail {
    fn record(&self, line: AuditLine) {
        if line.action == "call_refused" {
            if self.refusals.len() > MAX_CALLERS {
                self.refusals.retain_recent();
            }
            if self.refusals.check_key(&line.actor).is_err() {
                return self.drop_one("a caller's refused calls are over their rate");
            }
        }
        if self.queue.try_send(line).is_err() {
            self.drop_one("the queue to staff is full or closed");
        }
    }
}

impl StaffTrail {
    /// A sink delivering to the staff service behind `staff`; its task runs until
    /// every copy of the sink is gone.
    pub fn start(staff: PeerChannel) -> Audit {
        let (queue, lines) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(StaffClient::new(staff), lines));
        let per_minute = std::num::NonZeroU32::new(REFUSALS_PER_MINUTE).expect("not zero");
        Arc::new(StaffTrail {
            queue,
            refusals: RateLimiter::keyed(Quota::per_minute(per_minute)),
            dropped: AtomicU64::new(0),
            warned: std::sync::Mutex::new(Instant::now()),
        })
    }

    /// Counts a dropped line; warns (with the count) at most once a minute.
    fn drop_one(&self, why: &str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.elapsed() >= Duration::from_secs(60) || dropped == 1 {
            *warned = Instant::now();
            tracing::warn!(dropped, why, "audit lines dropped");
        }
    }
}

async fn deliver(mut staff: StaffClient<PeerChannel>, mut lines: mpsc::Receiver<AuditLine>) {
    let mut batch = Vec::with_capacity(BATCH);
    while lines.recv_many(&mut batch, BATCH).await > 0 {
        let entries: Vec<spb::AuditEntry> = batch.drain(..).map(entry).collect();
        send(&mut staff, entries).await;
    }
}

/// Sends one batch: again, backing off, while staff does not answer.
async fn send(staff: &mut StaffClient<PeerChannel>, entries: Vec<spb::AuditEntry>) {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=MAX_TRIES {
        let message = spb::RecordAuditRequest {
            entries: entries.clone(),
        };
        let status = match staff.record_audit(request(message, "")).await {
            Ok(_) => return,
            Err(s) => s,
        };
        // Staff away, slow (a timeout), or its database down: worth another try;
        // a refusal (the lines, or this process's token) is not.
        let again = match PeerError::from(status.clone()) {
            PeerError::Unavailable(_) => true,
            PeerError::Internal(_) => status.code() == tonic::Code::Internal,
            PeerError::Invalid(_) | PeerError::NotFound(_) => false,
        };
        if !again {
            let lines = entries.len();
            tracing::error!(error = %status.message(), lines, "staff refused audit lines");
            return;
        }
        if attempt < MAX_TRIES {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    let lines = entries.len();
    tracing::error!(
        lines,
        "staff did not answer for minutes: audit lines dropped"
    );
}

fn entry(line: AuditLine) -> spb::AuditEntry {
    spb::AuditEntry {
        id: 0,
        at: Some(ringside_proto::timestamp_from_millis(line.at)),
        actor: line.actor,
        action: line.action,
        subject: line.subject,
        outcome: line.outcome,
        detail: line.detail,
    }
}
