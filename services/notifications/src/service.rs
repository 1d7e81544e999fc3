//! What notifications does with calls, tasks and leads: cards for the agents whose
//! extension rings, closed when the call is answered elsewhere or over; reminders and
//! new leads pushed to their assignee.

use std::sync::Arc;
use std::time::Duration;

use ringside_proto::events::v1 as ev;
use ringside_proto::notifications::v1 as pb;

use crate::alerts::{self, Alert, Alerter};
use crate::card;
use crate::error::{NotificationsError, Result};
use crate::hub::Hub;
use crate::peers::Peers;
use crate::staff::Directory;

#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    /// How long a card waits for slow parts before what is known is pushed.
    pub card_deadline: Duration,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            card_deadline: Duration::from_millis(300),
        }
    }
}

#[derive(Clone)]
pub struct Notifications {
    /// Who sits at an extension, where alerts go (staff).
    pub staff: Directory,
    pub hub: Hub,
    peers: Arc<Peers>,
    alerter: Alerter,
    config: NotificationsConfig,
    /// Agents' messages to clients (none: no channel configured).
    pub outbound: Option<Arc<crate::outbound::Outbound>>,
}

/// How long a card of a call that is over waits for activities to file the call
/// (`call.filed`, with the entry to link to) before it closes without the link.
const ENTRY_WAIT: Duration = Duration::from_secs(3);

impl Notifications {
    pub fn new(
        staff: Directory,
        peers: Arc<Peers>,
        alerter: Alerter,
        config: NotificationsConfig,
    ) -> Self {
        Notifications {
            staff,
            hub: Hub::default(),
            peers,
            alerter,
            config,
            outbound: None,
        }
    }

    /// Every caller-ID card shown is written to `audit`.
    pub fn with_audit(mut self, audit: ringside_auth::Audit) -> Self {
        self.hub = self.hub.with_audit(audit);
        self
    }

    /// Agents answer clients through `outbound`.
    pub fn with_outbound(mut self, outbound: crate::outbound::Outbound) -> Self {
        self.outbound = Some(Arc::new(outbound));
        self
    }

    /// `call.ringing`: the card of an inbound call goes to the agent at the extension.
    /// It is built in the background, so a slow dependency never holds up the queue.
    pub async fn ringing(&self, e: &ev::CallRinging) -> Result<()> {
        let Some(call) = &e.call else { return Ok(()) };
        if call.direction != ev::CallDirection::Inbound as i32 {
            return Ok(());
        }
        let Some(agent) = self.staff.at_extension(&e.extension).await? else {
            return Ok(()); // nobody to show it to
        };
        // Another extension of a forked call: the same card, one more agent.
        if self.hub.join(&call.call_id, &agent, &e.extension) {
            return Ok(());
        }
        let seat = [(agent, e.extension.clone())];
        let base = pb::Card {
            call_id: call.call_id.clone(),
            caller: call.caller.clone(),
            extensions: vec![e.extension.clone()],
            state: "ringing".into(),
            ..Default::default()
        };
        self.hub.register(&base, &seat);
        let (hub, peers) = (self.hub.clone(), self.peers.clone());
        let deadline = self.config.card_deadline;
        let rang_at = call.rang_at.as_ref().map_or_else(
            ringside_storage::now_millis,
            ringside_proto::millis_from_timestamp,
        );
        let build = card::build(peers, base, rang_at, deadline, move |c| hub.show(c));
        tokio::spawn(build);
        Ok(())
    }

    pub fn answered(&self, e: &ev::CallAnswered) {
        if let Some(call) = &e.call {
            self.hub.answered(&call.call_id, &e.extension);
        }
    }

    /// `call.ended` / `call.missed`: the card closes when activities has filed the
    /// call (`call.filed`, from the same event), with a link to its entry — or, when
    /// that does not come within a few seconds, without the link.
    pub fn over(&self, call: Option<&ev::CallParties>) {
        let Some(call) = call else { return };
        let call_id = call.call_id.clone();
        if self.hub.card(&call_id).is_none() {
            return;
        }
        let hub = self.hub.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ENTRY_WAIT).await;
            hub.close(&call_id, ""); // nothing left to close when it was filed
        });
    }

    /// `call.filed`: the call's card closes, linking to its timeline entry.
    pub fn filed(&self, e: &ev::CallFiled) {
        self.hub.close(&e.call_id, &e.entry_id);
    }

    /// `conversation.updated`: the inbox of whoever sees the client is out of date —
    /// its owner, the managers of the owner's teams, admins, and everyone while
    /// nobody owns the client; the agent who wrote the new message; and, when the
    /// client was just given to someone else, their owner before. The push names
    /// only the conversation: the page asks for the rest as the person, through the
    /// services' own checks. The owner's teams are asked of staff off the live
    /// queue (a task of its own), so a slow staff never holds up a call's card.
    pub fn conversation(&self, e: &ev::ConversationUpdated) {
        let Some(c) = &e.conversation else { return };
        let push = pb::Push {
            r#type: "inbox".into(),
            conversation_id: c.id.clone(),
            ..Default::default()
        };
        let (hub, staff) = (self.hub.clone(), self.staff.clone());
        let owner = c.owner_id.clone();
        let also = [e.agent_id.clone(), e.previous_owner_id.clone()];
        tokio::spawn(async move {
            let teams = match owner.as_str() {
                "" => Vec::new(),
                owner => staff.teams_of(owner).await,
            };
            let mut people = hub.seeing(&owner, &teams);
            for also in also {
                if !also.is_empty() && !people.contains(&also) {
                    people.push(also);
                }
            }
            for person in people {
                hub.send(&person, &push);
            }
        });
    }

    /// A deal of `pipeline` was opened, changed or moved: everyone online is told
    /// the pipeline's id alone (pipelines are everyone's to see), and a board
    /// showing it asks again — as its person, who sees only their own deals.
    pub fn board(&self, pipeline: &str) {
        if pipeline.is_empty() {
            return;
        }
        let push = pb::Push {
            r#type: "board".into(),
            pipeline_id: pipeline.to_owned(),
            ..Default::default()
        };
        for person in self.hub.online() {
            self.hub.send(&person, &push);
        }
    }

    /// `task.due`: a reminder to the assignee — pushed when they are connected, else
    /// sent by email or Telegram. `Err` asks for the event again (a channel failed
    /// in a way worth retrying; what was sent is not sent twice).
    pub async fn task_due(&self, event_id: &str, e: &ev::TaskDue) -> Result<(), String> {
        let Some(task) = &e.task else { return Ok(()) };
        if task.assignee_id.is_empty() {
            return Ok(());
        }
        let push = pb::Push {
            r#type: "task_due".into(),
            task_id: task.id.clone(),
            title: task.title.clone(),
            at: task.due_at,
            ..Default::default()
        };
        let due = task.due_at.as_ref().map(rfc3339).unwrap_or_default();
        let alert = Alert {
            kind: push.r#type.clone(),
            subject: format!("Reminder: {}", task.title),
            text: format!("Due {due}. Open Ringside to see the task."),
        };
        self.deliver(event_id, &task.assignee_id, &push, &alert)
            .await
    }

    /// `lead.created` with an owner: the owner hears of it, the same way.
    /// `message.received`: a new lead's first email gets the automatic answer, if
    /// one is configured — once, even when the event comes again, never to a robot
    /// (no mail loops) nor to a sender the receiving server could not prove, and at
    /// most once a day to one address (forged senders would make it a way to mail
    /// someone over and over).
    pub async fn acknowledge(
        &self,
        event_id: &str,
        e: &ev::MessageReceived,
    ) -> std::result::Result<(), String> {
        let (Some(outbound), Some(message)) = (&self.outbound, &e.message) else {
            return Ok(());
        };
        if !crate::outbound::wants_auto_reply(message) || !outbound.auto_replies() {
            return Ok(());
        }
        if self.alerter.was_sent(event_id, "auto_reply").await? {
            return Ok(());
        }
        let from = message.message.as_ref().map_or("", |d| d.from.as_str());
        let today = time::OffsetDateTime::now_utc().date();
        // Claimed before sending: an answer that then fails is not tried again that
        // day (a missing acknowledgement is better than a doubled one).
        if !self
            .alerter
            .claim(&daily_key(from, today), "auto_reply_day")
            .await?
        {
            alerts::count("auto_reply", "daily_limit");
            return self.alerter.record(event_id, "auto_reply", "").await;
        }
        if outbound.auto_reply(message).await {
            self.alerter.record(event_id, "auto_reply", "").await?;
        }
        Ok(())
    }

    pub async fn lead_created(&self, event_id: &str, e: &ev::LeadCreated) -> Result<(), String> {
        let Some(lead) = &e.lead else { return Ok(()) };
        if lead.owner_id.is_empty() {
            return Ok(());
        }
        let push = pb::Push {
            r#type: "lead_assigned".into(),
            lead_id: lead.id.clone(),
            title: lead.name.clone(),
            at: lead.created_at,
            ..Default::default()
        };
        let channel = lead.source.as_ref().map_or("", |s| s.channel.as_str());
        let alert = Alert {
            kind: push.r#type.clone(),
            subject: format!("New lead: {}", lead.name),
            text: format!(
                "A new lead ({}) is yours. Open Ringside to get in touch.",
                if channel.is_empty() {
                    "no channel"
                } else {
                    channel
                }
            ),
        };
        self.deliver(event_id, &lead.owner_id, &push, &alert).await
    }

    async fn deliver(
        &self,
        event_id: &str,
        agent_id: &str,
        push: &pb::Push,
        alert: &Alert,
    ) -> Result<(), String> {
        if self.hub.send(agent_id, push) {
            alerts::count(&alert.kind, "push");
            return Ok(());
        }
        let agent = match self.staff.person(agent_id).await {
            Ok(Some(person)) => person,
            Ok(None) => {
                alerts::count(&alert.kind, "undelivered");
                return Ok(()); // not someone staff knows, or deactivated
            }
            Err(e) => return Err(e.to_string()),
        };
        if self.alerter.deliver(event_id, &agent, alert).await? == 0 {
            alerts::count(&alert.kind, "undelivered");
        }
        Ok(())
    }

    /// A note typed into a card, filed on the call's timeline entry as `agent`.
    pub async fn add_call_note(
        &self,
        agent: &str,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<String> {
        let started = tokio::time::Instant::now();
        loop {
            match self
                .peers
                .add_call_note(agent, call_id, text, outcome)
                .await
            {
                // Activities files the call from the same events as this service; a
                // note typed the moment the card popped may beat it there.
                Err(NotificationsError::Refused(s))
                    if s.code() == tonic::Code::NotFound
                        && self.hub.card(call_id).is_some()
                        && started.elapsed() < ENTRY_WAIT =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }
}

/// A protobuf time as RFC 3339 (UTC).
fn rfc3339(t: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The key of one address's automatic answer on `day`: a digest of the address, so
/// the table that counts them holds no address.
fn daily_key(address: &str, day: time::Date) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("auto-reply:{hex}:{day}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_has_one_key_a_day_and_the_key_holds_no_address() {
        let day = time::macros::date!(2026 - 11 - 28);
        let key = daily_key("Anna@Example.org ", day);
        assert_eq!(key, daily_key("anna@example.org", day));
        assert_ne!(
            key,
            daily_key("anna@example.org", day.next_day().expect("a day"))
        );
        assert_ne!(key, daily_key("vera@example.org", day));
        assert!(
            !key.contains("anna") && key.ends_with(":2026-11-28"),
            "{key}"
        );
    }
}
