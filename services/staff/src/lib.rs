//! The staff service: the people who work in Ringside and their teams. It owns users
//! (name, login, role, the SIP extensions that ring for them, where their alerts go,
//! locale and time zone, active or deactivated), teams and their heads, and answers
//! the questions every other service asks about people: who sits at extension 101,
//! who takes new leads, whose Telegram chat this is. Sign-in, sessions and tokens for
//! people build on it; record visibility reads its teams.

pub mod error;
pub mod grpc;
pub mod model;
pub mod service;
pub mod store;

pub use grpc::StaffGrpc;
pub use service::StaffService;

/// The `source` of this service's events and the caller name of its peer calls.
pub const SOURCE: &str = "staff";
