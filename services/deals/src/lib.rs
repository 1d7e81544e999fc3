//! The deals service. It owns the sales pipelines — ordered stages with a kind (open,
//! won, lost), a probability, a WIP limit that warns or refuses, and guidance for
//! success — and the deals that move through them: amount and currency, owner,
//! company, contacts with their roles, expected close date, source, tags, custom
//! fields, and the full stage history (who moved it, when), from which the funnel
//! conversion, win rate and forecast reports are computed. It serves the kanban and
//! list views with their saved views, opens a deal when a lead is converted with one,
//! relinks merged contacts and keeps each deal's next action from the activities
//! events. It asks `contacts` whether a linked company or contact exists and never
//! reads another service's tables.

pub mod consume;
pub mod convert;
pub mod error;
pub mod grpc;
pub mod model;
pub mod peers;
pub mod reports;
pub mod service;
mod store;

pub use consume::{Consumer, queue_spec};
pub use error::DealsError;
pub use grpc::DealsGrpc;
pub use peers::Party;
pub use service::DealsService;
pub use store::StoredView;

/// The name this service publishes events under.
pub const SOURCE: &str = "deals";
/// The queue this service consumes (after the configured prefix), and its name in
/// the inbox.
pub const QUEUE: &str = "deals";
