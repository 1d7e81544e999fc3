//! The `ringside` binary's library: configuration, the command line, and assembling
//! the suite — all services in one process on SQLite and the local bus, or one
//! service against PostgreSQL and RabbitMQ. It owns process concerns (listeners,
//! signals, shutdown order, health, metrics, logging); every domain rule lives in
//! the service crates.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
