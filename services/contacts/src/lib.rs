//! The contacts service. It owns companies, contacts and their identities (phone
//! numbers in E.164, lower-cased emails, Telegram user ids, web visitor ids), tags,
//! custom fields, leads and their qualification, dedupe and merge — and it is the one
//! place where an identity becomes a contact or a new lead (`Resolve`, idempotent under
//! concurrency thanks to the unique identity key). It publishes `contact.*` and
//! `lead.*` events through its outbox. It does not own deals, activities or users:
//! owners are user ids it does not interpret, though it hands new leads from `Resolve`
//! out round robin over the agents the directory names (`assign`).

pub mod assign;
pub mod convert;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod model;
pub mod service;
mod store;

pub use error::ContactsError;
pub use grpc::ContactsGrpc;
pub use service::{ContactsService, ConvertLead, DealDraft, Person, Resolved, SOURCE};
