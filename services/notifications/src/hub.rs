//! The live side: open push connections per agent (which is what "online" means), and
//! the cards of calls still ringing or in progress, so a client that reconnects gets
//! them again. State is in memory: a card lives as long as its call, and expires
//! when the call's end never comes ([`Hub::expire`]: an end lost on the way would
//! leave it popping on every reconnect). Each agent a
//! card reaches (pushed to an open connection, or sent again when they connect) is
//! written to the audit trail, once per client the card names (a card that learns
//! its client later is recorded again). Each person online is kept with whose
//! clients they see, so a push about a client goes to whoever sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ringside_auth::visibility::{Entity, Reach, Scope, reach};
use ringside_auth::{Audit, AuditLine, Role};
use ringside_proto::notifications::v1 as pb;
use tokio::sync::mpsc;

/// Pushes one connection may have waiting; a client slower than that is dropped (it
/// reconnects and gets the live cards again).
const CONNECTION_BUFFER: usize = 256;

#[derive(Default)]
struct State {
    /// Live calls by call id.
    calls: HashMap<String, LiveCall>,
    /// Open connections by agent id.
    connections: HashMap<String, Vec<(u64, mpsc::Sender<pb::Push>)>>,
    /// Whose clients each person online sees (as their latest connection said).
    sights: HashMap<String, Scope>,
    next_connection: u64,
    /// The process is stopping: a new connection ends at once.
    closed: bool,
}

struct LiveCall {
    card: pb::Card,
    /// When it began to ring, or was answered: a card outlives neither for long.
    since: std::time::Instant,
    /// Whether the card was built and shown yet.
    built: bool,
    /// The agents it rings for.
    seats: Vec<Seat>,
}

struct Seat {
    agent: String,
    extension: String,
    /// Whether the card was pushed to this agent yet.
    shown: bool,
    /// The client whose card this agent was last recorded seeing.
    audited: Option<String>,
}

#[derive(Clone, Default)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    audit: Option<Audit>,
}

impl LiveCall {
    /// The audit lines of the agents among `reached` (the card got to them) who were
    /// not recorded seeing its client yet (now they are).
    fn newly_seen(&mut self, reached: &[String]) -> Vec<AuditLine> {
        let client = &self.card.client_id;
        let call_id = &self.card.call_id;
        self.seats
            .iter_mut()
            .filter(|s| reached.contains(&s.agent) && s.audited.as_ref() != Some(client))
            .map(|seat| {
                seat.audited = Some(client.clone());
                AuditLine {
                    at: ringside_storage::now_millis(),
                    actor: seat.agent.clone(),
                    action: "card_shown".into(),
                    subject: client.clone(),
                    outcome: "shown".into(),
                    detail: format!("call {call_id} at {}", seat.extension),
                }
            })
            .collect()
    }
}

/// One open push connection; closing it (dropping this) takes the agent offline when
/// it was their last.
pub struct Subscription {
    pub pushes: mpsc::Receiver<pb::Push>,
    hub: Hub,
    agent: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.hub.lock();
        if let Some(list) = state.connections.get_mut(&self.agent) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                state.connections.remove(&self.agent);
                state.sights.remove(&self.agent);
            }
        }
    }
}

/// Whose clients a person with `role` (none: only their own) in `teams` sees.
pub fn sight(user: String, role: Option<Role>, teams: Vec<String>) -> Scope {
    Scope {
        reach: role.map_or(Reach::Own, |role| reach(role, Entity::Contact)),
        user,
        teams,
    }
}

fn push(kind: &str, card: &pb::Card) -> pb::Push {
    pb::Push {
        r#type: kind.to_owned(),
        card: Some(card.clone()),
        ..Default::default()
    }
}

impl Hub {
    /// Cards shown go to `audit` too.
    pub fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = Some(audit);
        self
    }

    fn record(&self, lines: Vec<AuditLine>) {
        if let Some(audit) = &self.audit {
            lines.into_iter().for_each(|l| audit.record(l));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a connection for `agent`, who sees only their own and unassigned
    /// clients; the cards of its live calls come first.
    pub fn subscribe(&self, agent: &str) -> Subscription {
        let own = Scope {
            reach: Reach::Own,
            user: agent.to_owned(),
            teams: Vec::new(),
        };
        self.subscribe_seeing(own)
    }

    /// Opens a connection for `sight`'s person, who sees the clients `sight` covers
    /// (their pushes about others' clients follow it); the cards of its live calls
    /// come first.
    pub fn subscribe_seeing(&self, sight: Scope) -> Subscription {
        let agent = sight.user.clone();
        let agent = agent.as_str();
        let (tx, rx) = mpsc::channel(CONNECTION_BUFFER);
        let mut state = self.lock();
        let mut seen = Vec::new();
        let me = [agent.to_owned()];
        for call in state.calls.values_mut() {
            if call.seats.iter().any(|s| s.agent == agent && s.shown)
                && tx.try_send(push("card", &call.card)).is_ok()
            {
                seen.extend(call.newly_seen(&me));
            }
        }
        state.next_connection += 1;
        let id = state.next_connection;
        // Stopping: the receiver gets its end right away (its sender dropped).
        if !state.closed {
            state
                .connections
                .entry(agent.to_owned())
                .or_default()
                .push((id, tx));
        }
        state.sights.insert(agent.to_owned(), sight);
        drop(state);
        self.record(seen);
        Subscription {
            pushes: rx,
            hub: self.clone(),
            agent: agent.to_owned(),
            id,
        }
    }

    pub fn is_online(&self, agent: &str) -> bool {
        self.lock().connections.contains_key(agent)
    }

    /// Everyone with a connection open, in id order.
    pub fn online(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().connections.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Everyone online who sees a client of `owner` (empty: nobody's), a member of
    /// `owner_teams`: the one permission check of records ([`Scope::sees`]), so a
    /// manager hears of their teams' clients and an admin of everyone's.
    pub fn seeing(&self, owner: &str, owner_teams: &[String]) -> Vec<String> {
        let state = self.lock();
        let sees = |sight: &Scope| match owner_teams {
            [] => sight.sees(owner, ""),
            teams => teams.iter().any(|team| sight.sees(owner, team)),
        };
        let mut ids: Vec<String> = (state.sights.iter())
            .filter(|(id, sight)| state.connections.contains_key(*id) && sees(sight))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Sends `push` to every connection of `agent`; `false` when none is open.
    pub fn send(&self, agent: &str, push: &pb::Push) -> bool {
        send_locked(&mut self.lock(), agent, push)
    }

    /// Records a ringing call and who it rings for, without pushing anything yet: a
    /// `call.answered` that comes before the card is built still finds the call.
    pub fn register(&self, card: &pb::Card, agents: &[(String, String)]) {
        let mut state = self.lock();
        let call = live_call(&mut state, card);
        for (agent, extension) in agents {
            if !call.seats.iter().any(|s| &s.agent == agent) {
                call.seats.push(Seat {
                    agent: agent.clone(),
                    extension: extension.clone(),
                    shown: false,
                    audited: None,
                });
            }
        }
    }

    /// Pushes the card of a call to every agent it rings for: a new card to those who
    /// have not seen it, an update to the others.
    /// A call that ended meanwhile stays closed.
    pub fn show(&self, card: &pb::Card) {
        let mut state = self.lock();
        let Some(call) = state.calls.get_mut(&card.call_id) else {
            return;
        };
        call.card = merge_state(&call.card, card);
        call.built = true;
        let card = call.card.clone();
        let targets: Vec<(String, &str)> = call
            .seats
            .iter_mut()
            .map(|seat| {
                let kind = if seat.shown { "card_update" } else { "card" };
                seat.shown = true;
                (seat.agent.clone(), kind)
            })
            .collect();
        let reached: Vec<String> = targets
            .into_iter()
            .filter(|(agent, kind)| send_locked(&mut state, agent, &push(kind, &card)))
            .map(|(agent, _)| agent)
            .collect();
        let seen = match state.calls.get_mut(&card.call_id) {
            Some(call) => call.newly_seen(&reached),
            None => Vec::new(),
        };
        drop(state);
        self.record(seen);
    }

    /// One more extension of a ringing call rings (a forked call): its agent gets the
    /// card now if it is built, else with everyone when it is. `false` when the call is
    /// not live here.
    pub fn join(&self, call_id: &str, agent: &str, extension: &str) -> bool {
        let mut state = self.lock();
        let Some(call) = state.calls.get_mut(call_id) else {
            return false;
        };
        if !call.card.extensions.iter().any(|e| e == extension) {
            call.card.extensions.push(extension.to_owned());
        }
        if call.seats.iter().any(|s| s.agent == agent) {
            return true;
        }
        call.seats.push(Seat {
            agent: agent.to_owned(),
            extension: extension.to_owned(),
            shown: call.built,
            audited: None,
        });
        if call.built {
            let card = call.card.clone();
            if send_locked(&mut state, agent, &push("card", &card)) {
                let seen = state
                    .calls
                    .get_mut(call_id)
                    .map(|c| c.newly_seen(&[agent.to_owned()]));
                drop(state);
                self.record(seen.unwrap_or_default());
            }
        }
        true
    }

    /// The current card of a live call.
    pub fn card(&self, call_id: &str) -> Option<pb::Card> {
        self.lock().calls.get(call_id).map(|c| c.card.clone())
    }

    /// The call was answered at `extension`: that agent's card says so, every other
    /// agent's pop-up closes.
    pub fn answered(&self, call_id: &str, extension: &str) {
        let mut state = self.lock();
        let Some(call) = state.calls.get_mut(call_id) else {
            return;
        };
        let answering = call
            .seats
            .iter()
            .find(|s| s.extension == extension)
            .map(|s| s.agent.clone());
        call.card.state = "answered".to_owned();
        call.since = std::time::Instant::now();
        call.card.answered_by = answering.clone().unwrap_or_else(|| extension.to_owned());
        let (stay, leave): (Vec<Seat>, Vec<Seat>) = call
            .seats
            .drain(..)
            .partition(|s| Some(&s.agent) == answering.as_ref());
        call.seats = stay;
        let card = call.card.clone();
        let stay: Vec<String> = call
            .seats
            .iter()
            .filter(|s| s.shown)
            .map(|s| s.agent.clone())
            .collect();
        for agent in stay {
            send_locked(&mut state, &agent, &push("card_update", &card));
        }
        for seat in leave.into_iter().filter(|s| s.shown) {
            send_locked(&mut state, &seat.agent, &push("card_close", &card));
        }
    }

    /// Closes the cards of calls whose end never came — ringing longer than
    /// `ringing`, or answered longer than `answered` (the end was lost: a broker
    /// blip, a restarted ingest) — so they stop popping on every reconnect. How many.
    pub fn expire(&self, ringing: std::time::Duration, answered: std::time::Duration) -> usize {
        let stale: Vec<String> = (self.lock().calls.iter())
            .filter(|(_, call)| {
                let age = call.since.elapsed();
                match call.card.state.as_str() {
                    "answered" => age > answered,
                    _ => age > ringing,
                }
            })
            .map(|(id, _)| id.clone())
            .collect();
        for call_id in &stale {
            self.close(call_id, "");
        }
        metrics::counter!("ringside_notifications_cards_expired_total")
            .increment(stale.len() as u64);
        stale.len()
    }

    /// Ends every connection (the process is stopping): each socket and `Subscribe`
    /// stream ends now, instead of holding the shutdown for its whole grace; clients
    /// reconnect to another replica.
    pub fn disconnect_all(&self) {
        let mut state = self.lock();
        state.connections.clear();
        state.sights.clear();
        state.closed = true;
    }

    /// The call is over: its card closes everywhere, with the call entry's id.
    pub fn close(&self, call_id: &str, entry_id: &str) {
        let mut state = self.lock();
        let Some(mut call) = state.calls.remove(call_id) else {
            return;
        };
        call.card.state = "closed".to_owned();
        call.card.entry_id = entry_id.to_owned();
        for seat in call.seats.iter().filter(|s| s.shown) {
            send_locked(&mut state, &seat.agent, &push("card_close", &call.card));
        }
    }
}

fn live_call<'a>(state: &'a mut State, card: &pb::Card) -> &'a mut LiveCall {
    state
        .calls
        .entry(card.call_id.clone())
        .or_insert_with(|| LiveCall {
            card: card.clone(),
            since: std::time::Instant::now(),
            built: false,
            seats: Vec::new(),
        })
}

/// A newer card keeps what the call itself changed (answered state) since it was built.
fn merge_state(current: &pb::Card, next: &pb::Card) -> pb::Card {
    let mut card = next.clone();
    if current.state == "answered" {
        card.state = current.state.clone();
        card.answered_by = current.answered_by.clone();
    }
    for ext in &current.extensions {
        if !card.extensions.contains(ext) {
            card.extensions.push(ext.clone());
        }
    }
    card
}

fn send_locked(state: &mut State, agent: &str, push: &pb::Push) -> bool {
    let Some(list) = state.connections.get_mut(agent) else {
        return false;
    };
    // A full or closed connection is dropped; the client reconnects.
    list.retain(|(_, tx)| tx.try_send(push.clone()).is_ok());
    let any = !list.is_empty();
    if !any {
        state.connections.remove(agent);
        state.sights.remove(agent);
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_heard_of_by_whoever_sees_them() {
        let hub = Hub::default();
        let team = |t: &str| vec![t.to_owned()];
        let _olga = hub.subscribe_seeing(sight("olga".into(), Some(Role::Agent), team("sales")));
        let _ivan = hub.subscribe_seeing(sight("ivan".into(), Some(Role::Agent), team("sales")));
        let _marina =
            hub.subscribe_seeing(sight("marina".into(), Some(Role::Manager), team("sales")));
        let _boris =
            hub.subscribe_seeing(sight("boris".into(), Some(Role::Manager), team("north")));
        let _anna = hub.subscribe_seeing(sight("anna".into(), Some(Role::Admin), Vec::new()));
        assert_eq!(
            hub.seeing("olga", &team("sales")),
            ["anna", "marina", "olga"]
        );
        assert_eq!(
            hub.seeing("olga", &[]),
            ["anna", "olga"],
            "no team: no manager"
        );
        let everyone = ["anna", "boris", "ivan", "marina", "olga"];
        assert_eq!(hub.seeing("", &[]), everyone, "nobody's client");
        drop(_marina);
        assert_eq!(
            hub.seeing("olga", &team("sales")),
            ["anna", "olga"],
            "gone offline"
        );
    }

    fn card(call: &str) -> pb::Card {
        pb::Card {
            call_id: call.into(),
            name: "Иван".into(),
            state: "ringing".into(),
            ..Default::default()
        }
    }

    fn kinds(sub: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(p) = sub.pushes.try_recv() {
            out.push(p.r#type);
        }
        out
    }

    #[test]
    fn answering_closes_the_other_agents_pop_ups() {
        let hub = Hub::default();
        let (mut olga, mut ivan) = (hub.subscribe("olga"), hub.subscribe("ivan"));
        let rings = [("olga".into(), "101".into()), ("ivan".into(), "102".into())];
        hub.register(&card("c1"), &rings);
        hub.show(&card("c1"));
        hub.answered("c1", "102");
        hub.close("c1", "entry-1");
        assert_eq!(kinds(&mut olga), ["card", "card_close"]);
        assert_eq!(kinds(&mut ivan), ["card", "card_update", "card_close"]);
        assert!(hub.card("c1").is_none());
    }

    #[test]
    fn a_card_whose_end_never_comes_expires_and_pops_no_more() {
        use std::time::Duration;
        let hub = Hub::default();
        let mut olga = hub.subscribe("olga");
        hub.register(&card("lost"), &[("olga".into(), "101".into())]);
        hub.show(&card("lost"));
        hub.register(&card("talking"), &[("olga".into(), "101".into())]);
        hub.show(&card("talking"));
        hub.answered("talking", "101");
        let long = Duration::from_secs(3600);
        assert_eq!(hub.expire(long, long), 0, "young cards stay");
        assert_eq!(
            hub.expire(Duration::ZERO, long),
            1,
            "the ringing one is old"
        );
        assert!(hub.card("lost").is_none() && hub.card("talking").is_some());
        assert_eq!(
            kinds(&mut olga),
            ["card", "card", "card_update", "card_close"]
        );
        assert_eq!(hub.expire(Duration::ZERO, Duration::ZERO), 1);
        drop(olga);
        let mut again = hub.subscribe("olga");
        assert!(kinds(&mut again).is_empty(), "nothing pops on reconnecting");
    }

    #[test]
    fn a_reconnecting_agent_gets_the_live_cards_and_presence_follows_connections() {
        let hub = Hub::default();
        hub.register(&card("c1"), &[("olga".into(), "101".into())]);
        hub.show(&card("c1"));
        assert!(!hub.is_online("olga"));
        let mut first = hub.subscribe("olga");
        assert_eq!(kinds(&mut first), ["card"]);
        assert!(hub.is_online("olga"));
        drop(first);
        assert!(!hub.is_online("olga"));
        let mut again = hub.subscribe("olga");
        assert_eq!(kinds(&mut again), ["card"]);
        let mut other = hub.subscribe("ivan");
        assert!(kinds(&mut other).is_empty(), "only the agent's own cards");
    }

    /// A sink keeping what it is given.
    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<AuditLine>>);

    impl ringside_auth::AuditSink for Kept {
        fn record(&self, line: AuditLine) {
            self.0.lock().unwrap().push(line);
        }
    }

    fn seen(kept: &Kept) -> Vec<(String, String)> {
        let lines = kept.0.lock().unwrap();
        lines
            .iter()
            .map(|l| (l.actor.clone(), l.subject.clone()))
            .collect()
    }

    #[test]
    fn each_agent_a_card_reaches_is_recorded_once_per_client() {
        let kept = Arc::new(Kept::default());
        let hub = Hub::default().with_audit(kept.clone());
        let _olga = hub.subscribe("olga");
        let rings = [("olga".into(), "101".into()), ("ivan".into(), "102".into())];
        hub.register(&card("c1"), &rings);
        let mut known = card("c1");
        known.client_id = "contact-1".into();
        hub.show(&known);
        hub.show(&known); // an update: nothing new seen
        let pair = |a: &str, c: &str| (a.to_owned(), c.to_owned());
        assert_eq!(seen(&kept), [pair("olga", "contact-1")], "Ivan is offline");
        let _ivan = hub.subscribe("ivan");
        assert_eq!(seen(&kept).len(), 2, "Ivan gets it when he connects");
        known.client_id = "contact-2".into(); // merged meanwhile: another client
        hub.show(&known);
        let last: Vec<_> = seen(&kept).into_iter().skip(2).collect();
        assert_eq!(last.len(), 2, "{last:?}");
        assert!(last.iter().all(|(_, c)| c == "contact-2"));
    }
}
