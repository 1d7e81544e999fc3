//! The call tracker: one dialog per call id, fed with what the signalling says
//! (an INVITE to an extension, the callee side ringing, a final response, a
//! CANCEL, a BYE) and emitting `call.*` events on state changes only — so
//! retransmissions, the proxy's two copies of every message, and duplicate webhook
//! deliveries emit nothing twice. Its memory is bounded: dialogs expire, and the
//! oldest are evicted when full.
//!
//! An extension rings when the PBX makes it ring: when the proxy forwards the
//! INVITE to it (a copy on another branch than the first one seen — as fast as the
//! first), when the callee side answers at all (180, 183, 2xx, or a final refusal
//! of its own such as busy), or when a cloud PBX's webhook says so. An INVITE that
//! only ever reached the PBX — a scanner's to extension 101, a phone's first try
//! that the PBX challenges — is not a call: refused (401, 407, 403, 404…),
//! cancelled or timed out before anything rang, it is forgotten without an event,
//! so it makes no card and no lead, and an authenticated retry on the same Call-ID
//! starts afresh. A call to the office's number that nothing answered stays a
//! missed call, as before.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;
use ringside_bus::EventPayload;
use ringside_identity::{PhoneE164, PhoneRegion};
use ringside_proto::events::v1 as ev;

/// How a call ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The caller gave up, or nobody picked up in time.
    Missed,
    Busy,
    Rejected,
    Failed,
}

impl Failure {
    /// The outcome of a final SIP failure status.
    pub fn from_status(status: u16) -> Failure {
        match status {
            486 | 600 => Failure::Busy,
            603 | 403 => Failure::Rejected,
            408 | 480 | 487 => Failure::Missed,
            _ => Failure::Failed,
        }
    }

    fn outcome(self) -> ev::CallOutcome {
        match self {
            Failure::Missed => ev::CallOutcome::Missed,
            Failure::Busy => ev::CallOutcome::Busy,
            Failure::Rejected => ev::CallOutcome::Rejected,
            Failure::Failed => ev::CallOutcome::Failed,
        }
    }

    /// When legs of a forked call fail differently, the call's outcome is the one
    /// most useful to a person: "missed" (someone could have answered) first.
    fn combine(self, other: Failure) -> Failure {
        let rank = |f: Failure| match f {
            Failure::Missed => 0,
            Failure::Busy => 1,
            Failure::Rejected => 2,
            Failure::Failed => 3,
        };
        if rank(other) < rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// What an extension looks like (anything else is an outside number).
    pub extension_pattern: Regex,
    pub region: PhoneRegion,
    /// A call ringing this long without a final answer is closed as missed.
    pub ring_timeout: Duration,
    /// An answered call without a BYE this long is closed as ended (expired).
    pub max_call: Duration,
    /// How long a finished dialog is remembered, to absorb late retransmissions.
    pub linger: Duration,
    /// Most dialogs kept; the oldest is evicted to admit a new one.
    pub max_dialogs: usize,
}

/// Final statuses with which the PBX refuses the request itself (its form, the
/// caller's credentials or rights, the number): before anything rang, no call.
fn refused_by_pbx(status: u16) -> bool {
    matches!(
        status,
        400 | 401 | 403 | 404 | 405 | 407 | 410 | 413 | 414 | 416 | 420 | 484
    )
}

impl TrackerConfig {
    pub fn new(extension_pattern: &str, region: PhoneRegion) -> Result<Self, regex::Error> {
        Ok(TrackerConfig {
            extension_pattern: Regex::new(extension_pattern)?,
            region,
            ring_timeout: Duration::from_secs(180),
            max_call: Duration::from_secs(4 * 3600),
            linger: Duration::from_secs(32),
            max_dialogs: 50_000,
        })
    }

    pub fn is_extension(&self, user: &str) -> bool {
        self.extension_pattern.is_match(user)
    }

    /// Extensions as dialled; outside numbers in E.164 (raw digits when unparseable).
    pub fn normalize(&self, user: &str) -> String {
        if self.is_extension(user) {
            return user.to_owned();
        }
        match PhoneE164::parse(user, self.region) {
            Ok(phone) => phone.as_str().to_owned(),
            Err(_) => user
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '+')
                .take(32)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Ringing,
    Answered {
        extension: String,
        at: SystemTime,
        since: Instant,
    },
    Done {
        until: Instant,
    },
}

/// Most branches a dialog remembers on the caller's side, and most early failures
/// it waits to match: a real call has a handful. More (new Via branches on one
/// Call-ID, a flood) are dropped and counted, so one Call-ID cannot grow the
/// tracker, whose lock every packet takes.
const MAX_BRANCHES: usize = 32;
/// Most extensions of one call reported ringing (the PBX may ring more; the rest go
/// unreported).
const MAX_LEGS: usize = 128;

/// Adds `item` to `list` unless it holds `cap` already; a refusal is counted under
/// `what`.
fn push_capped<T>(list: &mut Vec<T>, item: T, cap: usize, what: &'static str) -> bool {
    if list.len() >= cap {
        metrics::counter!("ringside_ingest_dialog_overflow_total", "list" => what).increment(1);
        return false;
    }
    list.push(item);
    true
}

#[derive(Debug)]
struct Dialog {
    parties: ev::CallParties,
    /// Extensions that rang, in order, with the branch each was reached on.
    legs: Vec<(String, String)>,
    /// Extensions an INVITE was addressed to that have not rung yet: only the
    /// PBX has seen the request so far.
    pending: Vec<(String, String)>,
    /// Branches known to belong to the caller's side (not to an extension).
    upstream: Vec<String>,
    failed_legs: Vec<(String, Failure)>,
    /// Final failures on branches whose INVITE copy has not arrived yet: a capture
    /// from a multi-process proxy can deliver the answer before the question.
    early_failures: Vec<(String, Failure)>,
    state: State,
    created: Instant,
}

/// What the signalling said, already stripped of SIP syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A new call attempt (no To tag) on `branch`, addressed to `target`; `rings`
    /// when the PBX says the target rings (a cloud PBX's webhook), not a copy of
    /// the request.
    Invite {
        call_id: String,
        branch: String,
        caller: String,
        callee: String,
        target: String,
        rings: bool,
    },
    /// The callee side rings (180, 183 to the INVITE).
    Progress {
        call_id: String,
        branch: String,
    },
    /// A final response to the INVITE.
    Final {
        call_id: String,
        branch: String,
        status: u16,
        /// Who answered, as the response's Contact or To says.
        responder: Option<String>,
    },
    Cancel {
        call_id: String,
    },
    /// The whole call ended unanswered, with this final status (a cloud PBX's
    /// "missed" webhook): 487 missed, 486 busy, 603 rejected, other failures.
    Unanswered {
        call_id: String,
        status: u16,
    },
    Bye {
        call_id: String,
    },
}

pub struct Tracker {
    cfg: TrackerConfig,
    dialogs: HashMap<String, Dialog>,
    /// Call ids by creation, oldest first (entries of removed dialogs are skipped).
    order: VecDeque<(Instant, String)>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker {
            cfg,
            dialogs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// Applies one signal; returns the events it causes, in order.
    pub fn apply(&mut self, signal: Signal, now: Instant, wall: SystemTime) -> Vec<EventPayload> {
        match signal {
            Signal::Invite {
                call_id,
                branch,
                caller,
                callee,
                target,
                rings,
            } => {
                let attempt = Attempt {
                    branch,
                    caller: &caller,
                    callee: &callee,
                    target: &target,
                    rings,
                };
                self.invite(call_id, attempt, now, wall)
            }
            Signal::Progress { call_id, .. } => self.progress(&call_id, now),
            Signal::Final {
                call_id,
                branch,
                status,
                responder,
            } => self.final_response(&call_id, &branch, status, responder.as_deref(), now, wall),
            Signal::Cancel { call_id } => self.fail_call(&call_id, Failure::Missed, now),
            Signal::Unanswered { call_id, status } => {
                self.fail_call(&call_id, Failure::from_status(status), now)
            }
            Signal::Bye { call_id } => self.hang_up(&call_id, now, wall, false),
        }
    }

    fn invite(
        &mut self,
        call_id: String,
        a: Attempt<'_>,
        now: Instant,
        wall: SystemTime,
    ) -> Vec<EventPayload> {
        let mut evicted = Vec::new();
        if !self.dialogs.contains_key(&call_id) {
            evicted = self.admit(&call_id, a.caller, a.callee, a.target, now, wall);
        }
        evicted.extend(self.attempt(call_id, a, now));
        evicted
    }

    /// An INVITE on a dialog the tracker holds.
    fn attempt(&mut self, call_id: String, a: Attempt<'_>, now: Instant) -> Vec<EventPayload> {
        let is_extension = self.cfg.is_extension(a.target);
        let linger = self.cfg.linger;
        let Some(dialog) = self.dialogs.get_mut(&call_id) else {
            return Vec::new();
        };
        if dialog.state != State::Ringing {
            return Vec::new();
        }
        let branch = a.branch;
        let extension = match (is_extension, dialog.parties.direction()) {
            (true, _) => a.target.to_owned(),
            // An outbound call rings outside; its leg is the calling agent's extension.
            (false, ev::CallDirection::Outbound) => dialog.parties.caller.clone(),
            (false, _) => {
                if dialog.upstream.contains(&branch) {
                    return Vec::new();
                }
                push_capped(
                    &mut dialog.upstream,
                    branch.clone(),
                    MAX_BRANCHES,
                    "upstream",
                );
                // The caller's INVITE captured after the proxy's copies: those rang.
                return copies_before(dialog, &branch, now + linger);
            }
        };
        if dialog.legs.iter().any(|(ext, _)| *ext == extension) {
            return Vec::new(); // a retransmission or the proxy's second copy
        }
        // Forwarded: an INVITE on another branch came first (the caller's to the
        // proxy); the proxy's copy to the extension is this one.
        let forwarded = (dialog.upstream.iter())
            .chain(dialog.pending.iter().map(|(_, b)| b))
            .chain(dialog.legs.iter().map(|(_, b)| b))
            .any(|b| *b != branch);
        if dialog
            .pending
            .contains(&(extension.clone(), branch.clone()))
        {
            return Vec::new(); // a retransmission
        }
        if !(a.rings || forwarded) {
            let waiting = (extension, branch);
            push_capped(&mut dialog.pending, waiting, MAX_LEGS, "pending");
            return Vec::new();
        }
        // What was pending on other branches was the caller's side: the proxy's
        // copy to this extension is the one that rings.
        callers_side(dialog, &branch);
        ring(dialog, extension, branch, now + linger)
    }

    /// The callee side rings: whatever only the PBX had seen rings now.
    fn progress(&mut self, call_id: &str, now: Instant) -> Vec<EventPayload> {
        let until = now + self.cfg.linger;
        match self.dialogs.get_mut(call_id) {
            Some(dialog) if dialog.state == State::Ringing => ring_pending(dialog, until),
            _ => Vec::new(),
        }
    }

    fn admit(
        &mut self,
        call_id: &str,
        caller: &str,
        callee: &str,
        target: &str,
        now: Instant,
        wall: SystemTime,
    ) -> Vec<EventPayload> {
        let mut events = Vec::new();
        while self.dialogs.len() >= self.cfg.max_dialogs {
            let Some((created, oldest)) = self.order.pop_front() else {
                break;
            };
            if self
                .dialogs
                .get(&oldest)
                .is_some_and(|d| d.created == created)
            {
                // A call pushed out still ends, so nothing waits for it forever (a
                // card, a live view).
                events.extend(self.dialogs.remove(&oldest).and_then(|d| evicted(d, wall)));
                metrics::counter!("ringside_ingest_dialogs_evicted_total").increment(1);
            }
        }
        let caller_is_ext = self.cfg.is_extension(caller);
        let target_is_ext = self.cfg.is_extension(target) || self.cfg.is_extension(callee);
        let direction = match (caller_is_ext, target_is_ext) {
            (true, true) => ev::CallDirection::Internal,
            (true, false) => ev::CallDirection::Outbound,
            (false, _) => ev::CallDirection::Inbound,
        };
        let parties = ev::CallParties {
            call_id: call_id.to_owned(),
            direction: direction as i32,
            caller: self.cfg.normalize(caller),
            callee: self.cfg.normalize(callee),
            rang_at: Some(timestamp(wall)),
        };
        self.dialogs.insert(
            call_id.to_owned(),
            Dialog {
                parties,
                legs: Vec::new(),
                pending: Vec::new(),
                upstream: Vec::new(),
                failed_legs: Vec::new(),
                early_failures: Vec::new(),
                state: State::Ringing,
                created: now,
            },
        );
        self.order.push_back((now, call_id.to_owned()));
        events
    }

    fn final_response(
        &mut self,
        call_id: &str,
        branch: &str,
        status: u16,
        responder: Option<&str>,
        now: Instant,
        wall: SystemTime,
    ) -> Vec<EventPayload> {
        if (200..300).contains(&status) {
            let mut events = self.progress(call_id, now);
            events.extend(self.answer(call_id, branch, responder, now, wall));
            return events;
        }
        if status < 300 {
            return Vec::new();
        }
        if self.pbx_answered(call_id, branch, status) {
            self.forget(call_id);
            return Vec::new();
        }
        let failure = Failure::from_status(status);
        let linger = self.cfg.linger;
        let Some(dialog) = self.dialogs.get_mut(call_id) else {
            return Vec::new();
        };
        if dialog.state != State::Ringing {
            return Vec::new();
        }
        let leg = dialog
            .legs
            .iter()
            .find(|(_, b)| b == branch)
            .map(|(ext, _)| ext.clone());
        let known_upstream = dialog.upstream.iter().any(|b| b == branch);
        let nothing_seen =
            dialog.legs.is_empty() && dialog.upstream.is_empty() && dialog.pending.is_empty();
        match leg {
            // One extension said no; the call goes on while others still ring.
            Some(extension) => leg_failed(dialog, extension, failure, now + linger),
            // The caller's side got the final answer (or nothing else was seen): over.
            None if known_upstream || nothing_seen => finish_missed(dialog, failure, now + linger),
            // A branch whose INVITE copy has not arrived yet: wait for it.
            None => {
                let early = (branch.to_owned(), failure);
                push_capped(
                    &mut dialog.early_failures,
                    early,
                    MAX_BRANCHES,
                    "early_failures",
                );
                Vec::new()
            }
        }
    }

    /// Whether a final failure on `branch` is the PBX's own answer to a request it
    /// never made ring: nothing rang, and it refused the caller's INVITE (401, 407,
    /// 403, 404…), or answered one addressed straight to an extension that it never
    /// forwarded (a scanner's, whatever the status). A call to the office's number
    /// that nothing answered, the PBX not refusing it, stays a missed call.
    fn pbx_answered(&self, call_id: &str, branch: &str, status: u16) -> bool {
        let Some(d) = self.dialogs.get(call_id) else {
            return false;
        };
        let pending = d.pending.iter().any(|(_, b)| b == branch);
        let upstream = d.upstream.iter().any(|b| b == branch);
        d.state == State::Ringing
            && d.legs.is_empty()
            && (pending || upstream && refused_by_pbx(status))
    }

    /// Whether the call is still only a request the PBX has: nothing rang, and it
    /// was addressed to an extension, not to the office's number.
    fn never_rang(&self, call_id: &str) -> bool {
        self.dialogs.get(call_id).is_some_and(|d| {
            d.state == State::Ringing && d.legs.is_empty() && d.upstream.is_empty()
        })
    }

    /// Drops a call that never was one, with no event.
    fn forget(&mut self, call_id: &str) {
        self.dialogs.remove(call_id);
        metrics::counter!("ringside_ingest_calls_never_rang_total").increment(1);
    }

    fn answer(
        &mut self,
        call_id: &str,
        branch: &str,
        responder: Option<&str>,
        now: Instant,
        wall: SystemTime,
    ) -> Vec<EventPayload> {
        let cfg = &self.cfg;
        let Some(dialog) = self.dialogs.get_mut(call_id) else {
            return Vec::new();
        };
        if dialog.state != State::Ringing {
            return Vec::new();
        }
        let by_branch = dialog
            .legs
            .iter()
            .find(|(_, b)| b == branch)
            .map(|(e, _)| e.clone());
        let by_responder = responder.filter(|r| cfg.is_extension(r)).map(str::to_owned);
        let only_leg = (dialog.legs.len() == 1).then(|| dialog.legs[0].0.clone());
        let extension = by_branch.or(by_responder).or(only_leg).unwrap_or_default();
        dialog.state = State::Answered {
            extension: extension.clone(),
            at: wall,
            since: now,
        };
        vec![EventPayload::CallAnswered(ev::CallAnswered {
            call: Some(dialog.parties.clone()),
            extension,
            answered_at: Some(timestamp(wall)),
        })]
    }

    fn fail_call(&mut self, call_id: &str, failure: Failure, now: Instant) -> Vec<EventPayload> {
        if self.never_rang(call_id) {
            self.forget(call_id);
            return Vec::new();
        }
        let linger = self.cfg.linger;
        match self.dialogs.get_mut(call_id) {
            Some(dialog) if dialog.state == State::Ringing => {
                finish_missed(dialog, failure, now + linger)
            }
            _ => Vec::new(),
        }
    }

    fn hang_up(
        &mut self,
        call_id: &str,
        now: Instant,
        wall: SystemTime,
        expired: bool,
    ) -> Vec<EventPayload> {
        let linger = self.cfg.linger;
        let Some(dialog) = self.dialogs.get_mut(call_id) else {
            return Vec::new();
        };
        let State::Answered { extension, at, .. } = dialog.state.clone() else {
            return Vec::new();
        };
        dialog.state = State::Done {
            until: now + linger,
        };
        let duration = wall.duration_since(at).unwrap_or_default();
        vec![EventPayload::CallEnded(ev::CallEnded {
            call: Some(dialog.parties.clone()),
            extension,
            answered_at: Some(timestamp(at)),
            duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
            expired,
        })]
    }

    /// Closes what outlived its limits and forgets finished dialogs.
    pub fn expire(&mut self, now: Instant, wall: SystemTime) -> Vec<EventPayload> {
        let mut events = Vec::new();
        let ids: Vec<String> = self.dialogs.keys().cloned().collect();
        for id in ids {
            let Some(dialog) = self.dialogs.get(&id) else {
                continue;
            };
            let (forget, miss, end) = match &dialog.state {
                State::Done { until } => (*until <= now, false, false),
                State::Ringing => (
                    false,
                    now.duration_since(dialog.created) >= self.cfg.ring_timeout,
                    false,
                ),
                State::Answered { since, .. } => (
                    false,
                    false,
                    now.duration_since(*since) >= self.cfg.max_call,
                ),
            };
            if forget {
                self.dialogs.remove(&id);
            } else if miss {
                events.extend(self.fail_call(&id, Failure::Missed, now));
            } else if end {
                events.extend(self.hang_up(&id, now, wall, true));
            }
        }
        self.order.retain(|(_, id)| self.dialogs.contains_key(id));
        events
    }
}

/// The information of an INVITE the tracker reads.
struct Attempt<'a> {
    branch: String,
    caller: &'a str,
    callee: &'a str,
    target: &'a str,
    rings: bool,
}

/// `extension` rings on `branch`: `call.ringing`, and the leg's failure if its
/// answer came before its INVITE.
fn ring(
    dialog: &mut Dialog,
    extension: String,
    branch: String,
    until: Instant,
) -> Vec<EventPayload> {
    let leg = (extension.clone(), branch.clone());
    if !push_capped(&mut dialog.legs, leg, MAX_LEGS, "legs") {
        return Vec::new();
    }
    let mut events = vec![EventPayload::CallRinging(ev::CallRinging {
        call: Some(dialog.parties.clone()),
        extension: extension.clone(),
    })];
    if let Some(pos) = dialog.early_failures.iter().position(|(b, _)| *b == branch) {
        let (_, failure) = dialog.early_failures.remove(pos);
        events.extend(leg_failed(dialog, extension, failure, until));
    }
    events
}

/// How a call pushed out of a full tracker ends: missed while it rang, ended
/// (`expired`) once answered; nothing for one that never rang or was over.
fn evicted(dialog: Dialog, wall: SystemTime) -> Option<EventPayload> {
    match dialog.state {
        State::Ringing if !dialog.legs.is_empty() => {
            Some(EventPayload::CallMissed(ev::CallMissed {
                call: Some(dialog.parties),
                extensions: dialog.legs.into_iter().map(|(ext, _)| ext).collect(),
                outcome: ev::CallOutcome::Missed as i32,
            }))
        }
        State::Answered { extension, at, .. } => {
            let duration = wall.duration_since(at).unwrap_or_default();
            Some(EventPayload::CallEnded(ev::CallEnded {
                call: Some(dialog.parties),
                extension,
                answered_at: Some(timestamp(at)),
                duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
                expired: true,
            }))
        }
        _ => None,
    }
}

/// Takes the pending entries on branches other than `branch` (all of them for
/// `None`) out of `dialog`.
fn take_pending(dialog: &mut Dialog, branch: Option<&str>) -> Vec<(String, String)> {
    let (taken, kept) = std::mem::take(&mut dialog.pending)
        .into_iter()
        .partition(|(_, b)| branch != Some(b.as_str()));
    dialog.pending = kept;
    taken
}

/// Something rang on `branch`: what was pending on other branches was the
/// caller's side (the INVITE the proxy got), whose branches move to `upstream`.
fn callers_side(dialog: &mut Dialog, branch: &str) {
    for (_, b) in take_pending(dialog, Some(branch)) {
        if !dialog.upstream.contains(&b) {
            push_capped(&mut dialog.upstream, b, MAX_BRANCHES, "upstream");
        }
    }
}

/// The caller's INVITE (to the office's number) on `branch`, captured after the
/// proxy's copies to extensions on other branches: those copies ring.
fn copies_before(dialog: &mut Dialog, branch: &str, until: Instant) -> Vec<EventPayload> {
    ring_taken(dialog, Some(branch), until)
}

/// Every extension that only the PBX had seen rings.
fn ring_pending(dialog: &mut Dialog, until: Instant) -> Vec<EventPayload> {
    ring_taken(dialog, None, until)
}

fn ring_taken(dialog: &mut Dialog, branch: Option<&str>, until: Instant) -> Vec<EventPayload> {
    (take_pending(dialog, branch).into_iter())
        .flat_map(|(extension, b)| ring(dialog, extension, b, until))
        .collect()
}

/// Records that `extension`'s leg failed; ends the call when every leg has failed
/// and no caller's side is known to wait for the proxy's final answer.
fn leg_failed(
    dialog: &mut Dialog,
    extension: String,
    failure: Failure,
    until: Instant,
) -> Vec<EventPayload> {
    if !dialog.failed_legs.iter().any(|(e, _)| *e == extension) {
        dialog.failed_legs.push((extension, failure));
    }
    let all_failed = dialog.failed_legs.len() == dialog.legs.len();
    if all_failed && dialog.upstream.is_empty() {
        let combined = dialog
            .failed_legs
            .iter()
            .map(|(_, f)| *f)
            .reduce(Failure::combine);
        return finish_missed(dialog, combined.unwrap_or(failure), until);
    }
    Vec::new()
}

fn finish_missed(dialog: &mut Dialog, failure: Failure, until: Instant) -> Vec<EventPayload> {
    dialog.state = State::Done { until };
    vec![EventPayload::CallMissed(ev::CallMissed {
        call: Some(dialog.parties.clone()),
        extensions: dialog.legs.iter().map(|(ext, _)| ext.clone()).collect(),
        outcome: failure.outcome() as i32,
    })]
}

pub fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Tracker {
        Tracker::new(TrackerConfig::new("^[0-9]{3}$", PhoneRegion::default()).expect("config"))
    }

    fn invite(branch: &str, caller: &str, target: &str) -> Signal {
        Signal::Invite {
            call_id: "c1".into(),
            branch: branch.into(),
            caller: caller.into(),
            callee: "+74951234567".into(),
            target: target.into(),
            rings: false,
        }
    }

    fn progress(branch: &str) -> Signal {
        Signal::Progress {
            call_id: "c1".into(),
            branch: branch.into(),
        }
    }

    fn final_(branch: &str, status: u16, responder: Option<&str>) -> Signal {
        Signal::Final {
            call_id: "c1".into(),
            branch: branch.into(),
            status,
            responder: responder.map(str::to_owned),
        }
    }

    #[test]
    fn one_call_id_with_endless_new_branches_stays_small() {
        let mut t = tracker();
        let now = Instant::now();
        for i in 0..5_000 {
            let branch = format!("z9hG4bK-{i}");
            t.apply(
                invite(&branch, "+79161234567", "+74951234567"),
                now,
                SystemTime::now(),
            );
            t.apply(
                final_(&format!("late-{i}"), 486, None),
                now,
                SystemTime::now(),
            );
        }
        let dialog = t.dialogs.get("c1").expect("the call");
        assert_eq!(dialog.upstream.len(), MAX_BRANCHES);
        assert!(dialog.early_failures.len() <= MAX_BRANCHES);
        // The call still rings an extension that comes after the flood.
        let rang = run(&mut t, vec![invite("ext-leg", "+79161234567", "101")]);
        assert_eq!(rang, ["ringing 101"]);
    }

    /// Applies signals, returning the event types and, for ringing/answered, the extension.
    fn run(t: &mut Tracker, signals: Vec<Signal>) -> Vec<String> {
        let now = Instant::now();
        signals
            .into_iter()
            .flat_map(|s| t.apply(s, now, SystemTime::now()))
            .map(|e| match e {
                EventPayload::CallRinging(r) => format!("ringing {}", r.extension),
                EventPayload::CallAnswered(a) => format!("answered {}", a.extension),
                EventPayload::CallEnded(_) => "ended".into(),
                EventPayload::CallMissed(m) => format!(
                    "missed {:?} {:?}",
                    ev::CallOutcome::try_from(m.outcome).ok(),
                    m.extensions
                ),
                _ => "other".into(),
            })
            .collect()
    }

    #[test]
    fn an_inbound_call_through_a_proxy_rings_answers_and_ends_once() {
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "8 912 345-67-89", "+74951234567"), // caller → proxy
                invite("up", "8 912 345-67-89", "+74951234567"), // retransmission
                invite("leg1", "8 912 345-67-89", "101"),        // proxy → 101
                invite("leg1", "8 912 345-67-89", "101"),        // second copy
                final_("leg1", 200, Some("101")),
                final_("up", 200, Some("101")), // proxy → caller
                Signal::Bye {
                    call_id: "c1".into(),
                },
                Signal::Bye {
                    call_id: "c1".into(),
                },
            ],
        );
        assert_eq!(events, vec!["ringing 101", "answered 101", "ended"]);
    }

    /// The events of `signal` then the callee side's 180.
    fn rung(t: &mut Tracker, signal: Signal) -> Vec<EventPayload> {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut events = t.apply(signal, now, wall);
        events.extend(t.apply(progress("b"), now, wall));
        events
    }

    #[test]
    fn caller_and_direction_are_normalized() {
        let mut t = tracker();
        let events = rung(&mut t, invite("leg1", "8 912 345-67-89", "101"));
        let EventPayload::CallRinging(r) = &events[0] else {
            panic!("ringing")
        };
        let call = r.call.as_ref().expect("parties");
        assert_eq!(call.caller, "+79123456789");
        assert_eq!(call.direction(), ev::CallDirection::Inbound);
        let mut t = tracker();
        let events = rung(&mut t, invite("b", "102", "101"));
        let EventPayload::CallRinging(r) = &events[0] else {
            panic!("ringing")
        };
        assert_eq!(
            r.call.as_ref().expect("parties").direction(),
            ev::CallDirection::Internal
        );
        let mut t = tracker();
        let events = rung(&mut t, invite("b", "102", "+74957654321"));
        let EventPayload::CallRinging(r) = &events[0] else {
            panic!("ringing")
        };
        assert_eq!(
            (
                r.extension.as_str(),
                r.call.as_ref().expect("parties").direction()
            ),
            ("102", ev::CallDirection::Outbound)
        );
    }

    #[test]
    fn a_forked_call_rings_every_extension_and_says_who_answered() {
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "200"),
                invite("leg1", "+79123456789", "101"),
                invite("leg2", "+79123456789", "102"),
                final_("leg2", 200, Some("102")),
                Signal::Cancel {
                    call_id: "c1".into(),
                }, // the proxy cancels the other leg
                final_("leg1", 487, None),
            ],
        );
        // 200 (the queue) looks like an extension here, but the proxy's copies to
        // 101 and 102 show it was the caller's side.
        assert_eq!(events, vec!["ringing 101", "ringing 102", "answered 102"]);
    }

    #[test]
    fn a_caller_hanging_up_while_it_rings_is_a_missed_call() {
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "+74951234567"),
                invite("leg1", "+79123456789", "101"),
                Signal::Cancel {
                    call_id: "c1".into(),
                },
                final_("leg1", 487, None),
                final_("up", 487, None),
            ],
        );
        assert_eq!(events, vec!["ringing 101", "missed Some(Missed) [\"101\"]"]);
    }

    #[test]
    fn a_final_answer_captured_before_its_invite_still_gives_ringing_then_missed() {
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "+74951234567"),
                final_("leg1", 486, None), // the phone's 486, mirrored before the proxy's INVITE copy
                invite("leg1", "+79123456789", "101"),
                final_("up", 486, None),
            ],
        );
        assert_eq!(events, vec!["ringing 101", "missed Some(Busy) [\"101\"]"]);
    }

    #[test]
    fn busy_and_rejected_legs_end_the_call_with_their_outcome() {
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "101"),
                invite("leg1", "+79123456789", "101"),
                final_("leg1", 486, None),
                final_("up", 486, None),
            ],
        );
        assert_eq!(events, vec!["ringing 101", "missed Some(Busy) [\"101\"]"]);
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "+74951234567"),
                invite("leg1", "+79123456789", "101"),
                final_("leg1", 603, None),
                final_("up", 603, None),
            ],
        );
        assert_eq!(
            events,
            vec!["ringing 101", "missed Some(Rejected) [\"101\"]"]
        );
    }

    #[test]
    fn unanswered_and_endless_calls_expire_and_finished_ones_are_forgotten() {
        let mut t = tracker();
        let start = Instant::now();
        t.apply(
            invite("leg1", "+79123456789", "101"),
            start,
            SystemTime::now(),
        );
        t.apply(progress("leg1"), start, SystemTime::now());
        let events = t.expire(start + t.cfg.ring_timeout, SystemTime::now());
        assert!(matches!(events.as_slice(), [EventPayload::CallMissed(_)]));
        assert_eq!(t.len(), 1, "lingers to absorb retransmissions");
        t.expire(start + t.cfg.ring_timeout + t.cfg.linger, SystemTime::now());
        assert!(t.is_empty());

        let mut t = tracker();
        t.apply(
            invite("leg1", "+79123456789", "101"),
            start,
            SystemTime::now(),
        );
        t.apply(final_("leg1", 200, None), start, SystemTime::now());
        let events = t.expire(start + t.cfg.max_call, SystemTime::now());
        assert!(matches!(events.as_slice(), [EventPayload::CallEnded(e)] if e.expired));
    }

    #[test]
    fn an_invite_the_pbx_refuses_is_no_call_and_a_retry_starts_afresh() {
        for refusal in [401, 407, 403, 404] {
            let mut t = tracker();
            let events = run(
                &mut t,
                vec![
                    invite("scan", "+15550001111", "101"),
                    invite("scan", "+15550001111", "101"), // retransmission
                    final_("scan", refusal, None),
                ],
            );
            assert!(events.is_empty(), "{refusal}: {events:?}");
            assert!(t.is_empty(), "{refusal}: forgotten");
        }
        // A phone's first try challenged, then sent with its credentials on the same
        // Call-ID, forwarded by the proxy: one call, ringing once.
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("try1", "102", "+74957654321"),
                final_("try1", 407, None),
                invite("try2", "102", "+74957654321"),
                final_("try1", 407, None), // a late retransmission of the challenge
                invite("out", "102", "+74957654321"), // the proxy's copy to the trunk
                final_("out", 200, None),
            ],
        );
        assert_eq!(events, vec!["ringing 102", "answered 102"]);
    }

    #[test]
    fn an_invite_nothing_answers_or_that_is_cancelled_before_ringing_is_no_call() {
        let mut t = tracker();
        let start = Instant::now();
        t.apply(
            invite("scan", "+15550001111", "101"),
            start,
            SystemTime::now(),
        );
        let events = t.expire(start + t.cfg.ring_timeout, SystemTime::now());
        assert!(events.is_empty(), "{events:?}");
        assert!(t.is_empty());
        let cancelled = run(
            &mut t,
            vec![
                invite("scan", "+15550001111", "101"),
                Signal::Cancel {
                    call_id: "c1".into(),
                },
            ],
        );
        assert!(cancelled.is_empty(), "{cancelled:?}");
        // A call to the office's number that nothing answered is still missed.
        let missed = run(
            &mut t,
            vec![
                invite("up", "+79123456789", "+74951234567"),
                final_("up", 480, None),
            ],
        );
        assert_eq!(missed, vec!["missed Some(Missed) []"]);
    }

    #[test]
    fn an_extension_rings_when_its_phone_rings_or_the_proxy_forwards() {
        let mut t = tracker();
        let direct = run(
            &mut t,
            vec![invite("b1", "+79123456789", "101"), progress("b1")],
        );
        assert_eq!(direct, vec!["ringing 101"]);
        let mut t = tracker();
        let first = run(&mut t, vec![invite("b1", "+79123456789", "101")]);
        assert!(first.is_empty(), "only the PBX has it: {first:?}");
        let copy = run(&mut t, vec![invite("b2", "+79123456789", "101")]);
        assert_eq!(copy, vec!["ringing 101"], "at the forwarded copy");
        let again = run(
            &mut t,
            vec![progress("b2"), invite("b2", "+79123456789", "101")],
        );
        assert!(again.is_empty(), "once: {again:?}");
        // The proxy's copy captured before the caller's INVITE to the office: it rings
        // when that comes.
        let mut t = tracker();
        let copy_first = run(
            &mut t,
            vec![
                invite("leg", "+79123456789", "101"),
                invite("up", "+79123456789", "+74951234567"),
            ],
        );
        assert_eq!(copy_first, vec!["ringing 101"]);
        let webhook = Signal::Invite {
            call_id: "c1".into(),
            branch: "webhook:101".into(),
            caller: "+79123456789".into(),
            callee: "+74951234567".into(),
            target: "101".into(),
            rings: true,
        };
        let mut t = tracker();
        assert_eq!(run(&mut t, vec![webhook]), vec!["ringing 101"]);
    }

    #[test]
    fn a_call_forwarded_on_to_another_extension_after_a_leg_fails_goes_on() {
        // Forward on busy, a hunt group, a second device: the first leg's failure is
        // not the call's end while the caller's side still waits.
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("b1", "+79123456789", "101"),
                invite("b2", "+79123456789", "101"),
                final_("b2", 486, None),
                invite("b3", "+79123456789", "102"),
                final_("b3", 200, Some("102")),
            ],
        );
        assert_eq!(events, vec!["ringing 101", "ringing 102", "answered 102"]);
        // The phone's busy captured before the proxy's copy that reached it.
        let mut t = tracker();
        let events = run(
            &mut t,
            vec![
                invite("b1", "+79123456789", "101"),
                final_("b2", 486, None),
                invite("b2", "+79123456789", "101"),
                final_("b1", 486, None),
            ],
        );
        assert_eq!(events, vec!["ringing 101", "missed Some(Busy) [\"101\"]"]);
    }

    #[test]
    fn the_pbxs_own_answer_to_an_invite_it_never_forwarded_is_no_call() {
        for status in [480, 486, 503, 603] {
            let mut t = tracker();
            let events = run(
                &mut t,
                vec![
                    invite("scan", "+15550001111", "101"),
                    final_("scan", status, None),
                ],
            );
            assert!(events.is_empty(), "{status}: {events:?}");
            assert!(t.is_empty(), "{status}");
        }
        // Refused on its way to the office's number (toll fraud): no call either.
        let mut t = tracker();
        let fraud = run(
            &mut t,
            vec![
                invite("up", "+15550001111", "+4420700000"),
                final_("up", 403, None),
            ],
        );
        assert!(fraud.is_empty(), "{fraud:?}");
    }

    #[test]
    fn calls_pushed_out_of_a_full_tracker_still_end() {
        let mut cfg = TrackerConfig::new("^[0-9]{3}$", PhoneRegion::default()).expect("config");
        cfg.max_dialogs = 2;
        let mut t = Tracker::new(cfg);
        let at = |call: &str, signal: Signal| match signal {
            Signal::Invite {
                branch,
                caller,
                callee,
                target,
                rings,
                ..
            } => Signal::Invite {
                call_id: call.into(),
                branch,
                caller,
                callee,
                target,
                rings,
            },
            Signal::Final {
                branch,
                status,
                responder,
                ..
            } => Signal::Final {
                call_id: call.into(),
                branch,
                status,
                responder,
            },
            other => other,
        };
        let ringing = vec![
            at("a", invite("up", "+79123456789", "+74951234567")),
            at("a", invite("leg", "+79123456789", "101")),
        ];
        let answered = vec![
            at("b", invite("up", "+79123456780", "+74951234567")),
            at("b", invite("leg", "+79123456780", "102")),
            at("b", final_("leg", 200, Some("102"))),
        ];
        let mut events = run(&mut t, ringing);
        events.extend(run(&mut t, answered));
        assert_eq!(events, vec!["ringing 101", "ringing 102", "answered 102"]);
        let pushed = run(
            &mut t,
            vec![
                at("c", invite("up", "+79123456781", "+74951234567")),
                at("d", invite("up", "+79123456782", "+74951234567")),
            ],
        );
        assert_eq!(pushed, vec!["missed Some(Missed) [\"101\"]", "ended"]);
    }

    #[test]
    fn a_flood_of_invites_cannot_grow_the_tracker_past_its_limit() {
        let mut cfg = TrackerConfig::new("^[0-9]{3}$", PhoneRegion::default()).expect("config");
        cfg.max_dialogs = 100;
        let mut t = Tracker::new(cfg);
        let now = Instant::now();
        for n in 0..10_000 {
            let signal = Signal::Invite {
                call_id: format!("flood-{n}"),
                branch: "b".into(),
                caller: "+79123456789".into(),
                callee: "101".into(),
                target: "101".into(),
                rings: false,
            };
            t.apply(signal, now, SystemTime::now());
        }
        assert_eq!(t.len(), 100);
        assert!(t.order.len() <= 100);
    }
}
