//! One sender per channel, shared by everything this service sends on it — alerts to
//! agents and agents' answers to clients — so a channel's limits hold for all of it:
//! [`telegram::TelegramSender`] (the bot within the Bot API's rate limits) and
//! [`email::EmailSender`] (one pooled SMTP transport).

pub mod email;
pub mod telegram;

use std::sync::Arc;

/// The channels configured (none: that channel is off).
#[derive(Clone, Default)]
pub struct Channels {
    pub telegram: Option<Arc<telegram::TelegramSender>>,
    pub email: Option<Arc<email::EmailSender>>,
}
