//! The notifications service: the service that reaches people. It owns their push
//! connections — a WebSocket at `/agent/ws` and the gRPC `Subscribe` stream — and
//! presence (online while a connection is open; `ListOnline`), and the caller-ID
//! card: on an
//! inbound `call.ringing` it resolves the caller through contacts (a stranger becomes
//! one lead), gathers the recent timeline and open tasks from activities, and pushes
//! the card to the agent whose extension rings within a deadline, updating it as
//! slower parts arrive, closing it for the others when someone answers and for
//! everyone when the call is over. Reminders (`task.due`) and new leads go to their
//! assignee: pushed when they are connected, else by email (SMTP) or Telegram, once
//! per channel. Who sits at an extension and where alerts go it asks staff
//! (`staff.rs`); it keeps no copy of other services' records.

pub mod alerts;
pub mod card;
pub mod channels;
pub mod consume;
pub mod error;
pub mod grpc;
pub mod hub;
pub mod outbound;
pub mod peers;
pub mod service;
pub mod staff;
pub mod store;
pub mod ws;

pub use consume::{Consumer, queue_specs};
pub use error::NotificationsError;
pub use grpc::NotificationsGrpc;
pub use service::{Notifications, NotificationsConfig};

/// The name this service acts under when it asks other services.
pub const SOURCE: &str = "notifications";
/// The queue this service consumes (after the configured prefix).
pub const QUEUE: &str = "notifications";
