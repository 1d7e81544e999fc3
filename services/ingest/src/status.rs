//! What each of ingest's channels has been doing since the process started, for the
//! admin's channel page: how much arrived and was refused (with the last refusal's
//! reason), when it last worked, and its last error. Every channel registers here as
//! it starts and notes what happens to it; [`Channels::list`] answers
//! `ListChannels`. It is kept in memory (a restart starts the counts over) and holds
//! no content: reasons are codes, and errors are what the bot's API, the mail server
//! or a peer said, cut short.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ringside_proto::ingest::v1 as pb;
use ringside_proto::timestamp_from_millis;

pub use pb::ChannelKind as Kind;

/// Longest error text kept, in characters.
const MAX_ERROR: usize = 300;

/// One channel's record.
pub struct Channel {
    kind: Kind,
    name: String,
    mode: String,
    received: AtomicU64,
    refused: AtomicU64,
    /// Unix milliseconds; 0: never.
    last_received: AtomicI64,
    last_ok: AtomicI64,
    /// The last attempt failed and nothing worked since.
    failing: AtomicBool,
    rare: Mutex<Rare>,
}

/// What happens seldom enough to sit behind a lock.
#[derive(Default)]
struct Rare {
    refusal: Option<(i64, &'static str)>,
    error: Option<(i64, String)>,
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Channel {
    fn new(kind: Kind, name: String, mode: &str) -> Self {
        Channel {
            kind,
            name,
            mode: mode.to_owned(),
            received: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_received: AtomicI64::new(0),
            last_ok: AtomicI64::new(0),
            failing: AtomicBool::new(false),
            rare: Mutex::new(Rare::default()),
        }
    }

    /// A channel on its own, registered nowhere (for tests and tools).
    pub fn detached(kind: Kind, name: &str) -> Arc<Self> {
        Arc::new(Channel::new(kind, name.to_owned(), ""))
    }

    fn rare(&self) -> std::sync::MutexGuard<'_, Rare> {
        self.rare.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something arrived and was taken (filed, or not needed). Called for every
    /// packet a listener reads: a few relaxed atomics, no lock.
    pub fn took(&self) {
        let now = now_millis();
        self.received.fetch_add(1, Ordering::Relaxed);
        self.last_received.store(now, Ordering::Relaxed);
        self.worked_at(now);
    }

    /// Something arrived and was refused for `why` (a code): the sender's fault, not
    /// the channel's.
    pub fn refused(&self, why: &'static str) {
        let now = now_millis();
        self.received.fetch_add(1, Ordering::Relaxed);
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.last_received.store(now, Ordering::Relaxed);
        self.rare().refusal = Some((now, why));
    }

    /// The channel did its work with nothing new (a poll answered, a mailbox read).
    pub fn worked(&self) {
        self.worked_at(now_millis());
    }

    fn worked_at(&self, now: i64) {
        self.last_ok.store(now, Ordering::Relaxed);
        // Written only when set, so the listeners' tasks do not share a dirty line.
        if self.failing.load(Ordering::Relaxed) {
            self.failing.store(false, Ordering::Relaxed);
        }
    }

    /// The channel could not do its work; `why` is kept, cut to a few hundred
    /// characters.
    pub fn failed(&self, why: &dyn std::fmt::Display) {
        let text: String = why.to_string().chars().take(MAX_ERROR).collect();
        self.rare().error = Some((now_millis(), text));
        self.failing.store(true, Ordering::Relaxed);
    }

    /// Notes what became of one input.
    pub fn note(&self, what: Note) {
        match what {
            Note::Took => self.took(),
            Note::Refused(why) => self.refused(why),
            // Not counted as received: the same input comes again after a pause
            // (a poll, a mailbox, a sender's retry), and is counted then.
            Note::Failed(why) => self.failed(&why),
        }
    }

    /// This channel as `ListChannels` answers it.
    pub fn report(&self) -> pb::Channel {
        let at = |millis: i64| (millis > 0).then(|| timestamp_from_millis(millis));
        let last_ok = self.last_ok.load(Ordering::Relaxed);
        let rare = self.rare();
        let (refusal_at, refusal) = rare.refusal.unwrap_or((0, ""));
        let (error_at, error) = rare.error.clone().unwrap_or_default();
        pb::Channel {
            kind: self.kind.into(),
            name: self.name.clone(),
            mode: self.mode.clone(),
            received: self.received.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            last_received_at: at(self.last_received.load(Ordering::Relaxed)),
            last_refusal: refusal.to_owned(),
            last_refusal_at: at(refusal_at),
            last_error: error,
            last_error_at: at(error_at),
            last_ok_at: at(last_ok),
            failing: self.failing.load(Ordering::Relaxed),
        }
    }
}

/// What became of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Taken: filed, or not needed.
    Took,
    /// Refused, for a reason of the sender's (a code).
    Refused(&'static str),
    /// It could not be filed for a reason of ours (a peer or the bus failed); the
    /// sender is told to try again.
    Failed(String),
}

/// Every channel of this process, in the order they started, and its forms.
#[derive(Clone)]
pub struct Channels {
    since: i64,
    list: Arc<Mutex<Vec<Arc<Channel>>>>,
    forms: Arc<Mutex<Vec<pb::Form>>>,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            since: now_millis(),
            list: Arc::default(),
            forms: Arc::default(),
        }
    }
}

impl Channels {
    /// Registers a channel: `name` says which one, `mode` how it runs ("" when it
    /// runs one way).
    pub fn add(&self, kind: Kind, name: impl Into<String>, mode: &str) -> Arc<Channel> {
        let channel = Arc::new(Channel::new(kind, name.into(), mode));
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.push(channel.clone());
        channel
    }

    /// Registers the web forms served (each is also a channel of its own).
    pub fn add_forms(&self, forms: Vec<pb::Form>) {
        self.forms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(forms);
    }

    /// What `ListChannels` answers.
    pub fn list(&self) -> pb::ListChannelsResponse {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let forms = self.forms.lock().unwrap_or_else(|p| p.into_inner());
        pb::ListChannelsResponse {
            channels: list.iter().map(|c| c.report()).collect(),
            forms: forms.clone(),
            since: Some(timestamp_from_millis(self.since)),
        }
    }
}

/// The gRPC face of [`Channels`]: `ringside.ingest.v1.Ingest`. Who may ask is the
/// guard's business (admins).
#[derive(Clone)]
pub struct IngestGrpc {
    channels: Channels,
}

impl IngestGrpc {
    pub fn new(channels: Channels) -> Self {
        IngestGrpc { channels }
    }
}

#[tonic::async_trait]
impl pb::ingest_server::Ingest for IngestGrpc {
    async fn list_channels(
        &self,
        _request: tonic::Request<pb::ListChannelsRequest>,
    ) -> Result<tonic::Response<pb::ListChannelsResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.channels.list()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_fails_until_it_works_again() {
        let channels = Channels::default();
        let bot = channels.add(Kind::Telegram, "bot", "polling");
        assert!(!bot.report().failing, "nothing happened yet");
        bot.failed(&"Unauthorized");
        let failing = bot.report();
        assert!(failing.failing);
        assert_eq!(failing.last_error, "Unauthorized");
        bot.worked();
        let working = bot.report();
        assert!(!working.failing, "a later success ends the failure");
        assert_eq!(working.last_error, "Unauthorized", "the last error is kept");
        assert_eq!(channels.list().channels.len(), 1);
    }

    #[test]
    fn refusals_are_counted_with_their_reason_and_errors_are_cut_short() {
        let sip = Channel::detached(Kind::Sip, "udp 0.0.0.0:5060");
        sip.took();
        sip.refused("unparseable");
        sip.failed(&"x".repeat(10_000));
        let report = sip.report();
        assert_eq!((report.received, report.refused), (2, 1));
        assert_eq!(report.last_refusal, "unparseable");
        assert_eq!(report.last_error.chars().count(), MAX_ERROR);
        assert!(report.last_received_at.is_some());
    }
}
