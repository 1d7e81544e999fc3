//! Ringside's system tests: the whole suite driven through its public surface — gRPC,
//! HTTP, WebSocket, SIP and HEP, Telegram's Bot API, IMAP and SMTP, a browser — with
//! the real peers a user would have (PostgreSQL, RabbitMQ, SIPp through Kamailio,
//! Dovecot, aiosmtpd, headless Chromium), in both ways of running: all-in-one and
//! services. One module per feature, one test binary, so the workspace links it once.
//! What starts a suite and the stand-ins for what cannot be reached from here live in
//! the `support` library beside this file.

mod activities;
mod alerts;
mod cards;
mod channel_restarts;
mod channels;
mod cli;
mod client_page;
mod deals;
mod email;
mod forms;
mod forms_browser;
mod grpc_api;
mod inbox;
mod ingest_edges;
mod oidc;
mod permissions;
mod signin;
mod staff;
mod telegram;
mod telephony;
mod visibility;
mod workspace;
