//! The audit trail's writer outside staff: lines from this process's guard and
//! services (a refused call, a caller-ID card shown) are put in a bounded queue,
//! never waited on, and delivered to staff (`RecordAudit`) in batches by one
//! background task, which tries again while staff does not answer. A full queue —
//! staff down for long — drops lines, logged as a warning, rather than slow a call
//! down; lines still queued when the process stops are lost.

use std::time::Duration;

use ringside_auth::{Audit, AuditLine, AuditSink};
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use tokio::sync::mpsc;

use crate::PeerChannel;
use crate::peer::request;

/// Lines waiting for staff, at most.
const QUEUE: usize = 10_000;
/// Lines sent at once.
const BATCH: usize = 200;
/// The longest wait before trying staff again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The sink that delivers to staff.
#[derive(Debug, Clone)]
pub struct StaffTrail {
    queue: mpsc::Sender<AuditLine>,
}

impl AuditSink for StaffTrail {
    fn record(&self, line: AuditLine) {
        if let Err(e) = self.queue.try_send(line) {
            let action = match &e {
                mpsc::error::TrySendError::Full(l) | mpsc::error::TrySendError::Closed(l) => {
                    l.action.clone()
                }
            };
            tracing::warn!(
                action,
                "an audit line was dropped: staff has not taken lines for a while"
            );
        }
    }
}

impl StaffTrail {
    /// A sink delivering to the staff service behind `staff`; its task runs until
    /// every copy of the sink is gone.
    pub fn start(staff: PeerChannel) -> Audit {
        let (queue, lines) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(StaffClient::new(staff), lines));
        std::sync::Arc::new(StaffTrail { queue })
    }
}

async fn deliver(mut staff: StaffClient<PeerChannel>, mut lines: mpsc::Receiver<AuditLine>) {
    let mut batch = Vec::with_capacity(BATCH);
    while lines.recv_many(&mut batch, BATCH).await > 0 {
        let entries: Vec<spb::AuditEntry> = batch.drain(..).map(entry).collect();
        let mut backoff = Duration::from_millis(200);
        loop {
            let message = spb::RecordAuditRequest {
                entries: entries.clone(),
            };
            match staff.record_audit(request(message, "")).await {
                Ok(_) => break,
                // A refusal will not change on a second try.
                Err(s) if s.code() == tonic::Code::InvalidArgument => {
                    tracing::error!(error = %s.message(), "staff refused audit lines");
                    break;
                }
                Err(s) => {
                    tracing::warn!(error = %s.message(), "staff did not take audit lines; trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
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
