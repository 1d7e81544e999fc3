//! Lines for the audit trail written where things happen, outside staff (which keeps
//! the trail): a call the guard refused, a caller-ID card shown to an agent. Whoever
//! writes one hands it to an [`AuditSink`], which must not block (it buffers and
//! delivers to staff in the background).

use std::sync::Arc;

/// One line: who did what to whom, how it went, and a detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditLine {
    /// When, Unix ms.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
}

/// Where audit lines go.
pub trait AuditSink: Send + Sync + std::fmt::Debug + 'static {
    /// Takes `line` for the trail, without waiting.
    fn record(&self, line: AuditLine);
}

/// A sink shared by everything in a process that writes to the trail.
pub type Audit = Arc<dyn AuditSink>;
