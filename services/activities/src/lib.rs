//! The activities service. It owns each client's timeline across every channel —
//! calls (one entry per call, updated as it rings, is answered and ends), messages in
//! their conversations, notes with their edit history, form submissions and system
//! entries (deal stage changed, lead converted, contacts merged, task done) — and the
//! tasks that make "nobody is forgotten" true: assignees, due and reminder times, each
//! contact's, lead's and deal's next action, the manager filters (no open task,
//! overdue), call-back tasks for missed calls, and `task.due` reminders fired exactly
//! once across replicas. It learns about calls, messages, contacts, leads and deals
//! from their events (idempotently, through the inbox) and asks `contacts` who a
//! caller is; it never reads another service's tables.

mod calls;
pub mod consume;
pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
mod messages;
pub mod model;
pub mod peers;
pub mod reminders;
pub mod replies;
pub mod service;
mod store;

pub use calls::MISSED_CALL_RULE;
pub use consume::{Consumer, queue_spec};
pub use error::ActivitiesError;
pub use grpc::ActivitiesGrpc;
pub use service::{ActivitiesConfig, ActivitiesService, ClientHistory};

/// The name this service publishes events under.
pub const SOURCE: &str = "activities";
/// The queue this service consumes (after the configured prefix), and its name in
/// the inbox.
pub const QUEUE: &str = "activities";
