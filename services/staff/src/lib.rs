//! The staff service: the people who work in Ringside and their teams. It owns users
//! (name, login, role, the SIP extensions that ring for them, where their alerts go,
//! locale and time zone, active or deactivated), teams and their heads, and answers
//! the questions every other service asks about people: who sits at extension 101,
//! who takes new leads, whose Telegram chat this is. It signs people in (`password`:
//! argon2id; `signin`: lockout, per-address limits, sessions; `second_step` and
//! `totp`: the optional TOTP second factor with recovery codes; `oidc` and `sso`:
//! single sign-on through an OpenID Connect provider, its groups mapped to roles and
//! teams), keeps their personal
//! API tokens (`api_tokens`), mints their access tokens from a session or an API
//! token, and keeps the audit trail. Record visibility reads its teams.

pub mod api_tokens;
pub mod error;
pub mod grpc;
pub mod model;
pub mod oidc;
pub mod password;
pub mod second_step;
pub mod service;
pub mod signin;
pub mod sso;
pub mod store;
pub mod totp;

pub use grpc::StaffGrpc;
pub use service::StaffService;

/// This service's name, under which it logs its internal errors.
pub const SOURCE: &str = "staff";
