//! Round-robin assignment of new leads: a stranger who becomes a lead through
//! `Resolve` is given to the eligible agent who was given a lead least recently (or
//! never). Who the agents are is asked of staff (`ListUsers`, through its gRPC
//! client), and — when offline agents are skipped — who is online of notifications
//! (`ListOnline`); the rotation itself is a table here, so every replica of contacts
//! takes turns from the same place.

use std::time::{Duration, Instant};

use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use ringside_storage::Row;
use sqlx::AnyConnection;
use tokio::sync::Mutex;

use crate::error::Result;

/// A person who might take a lead, as staff and notifications describe them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub role: String,
    pub team_ids: Vec<String>,
    /// Whether a push connection of the agent is open.
    pub online: bool,
}

impl From<spb::User> for Candidate {
    fn from(u: spb::User) -> Self {
        let details = u.details.unwrap_or_default();
        Candidate {
            id: u.id,
            role: details.role,
            team_ids: details.team_ids,
            online: false,
        }
    }
}

/// Who takes new leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignConfig {
    /// Roles that take leads (`agent` by default).
    pub roles: Vec<String>,
    /// Only this team's agents take leads (a team id; empty: every team).
    pub team: String,
    /// Skip agents without an open push connection (while anyone eligible is online).
    pub skip_offline: bool,
}

impl Default for AssignConfig {
    fn default() -> Self {
        AssignConfig {
            roles: vec!["agent".to_owned()],
            team: String::new(),
            skip_offline: false,
        }
    }
}

/// How long an answer of staff is used: a stranger's call must not wait for it each
/// time (it is on the caller-ID card's path).
const FRESH_FOR: Duration = Duration::from_secs(5);

/// Who may take a lead: (user id, the team a lead given to them is stamped with).
pub type Eligible = Vec<(String, String)>;

/// The people, their presence, and the rule.
pub struct Assigner {
    staff: StaffClient<PeerChannel>,
    presence: NotificationsClient<PeerChannel>,
    config: AssignConfig,
    /// The last answer, and when it came.
    last: Mutex<Option<(Instant, Eligible)>>,
}

impl Assigner {
    /// Asks staff who the agents are, and notifications who is online.
    pub fn new(staff: PeerChannel, notifications: PeerChannel, config: AssignConfig) -> Self {
        Assigner {
            staff: StaffClient::new(staff),
            presence: NotificationsClient::new(notifications),
            config,
            last: Mutex::new(None),
        }
    }

    /// The agents who may take a lead now (as staff said at most 5 s ago), each with
    /// the team a lead given to them is stamped with (the configured team, else their
    /// first); empty when there are none or staff did not answer (the lead is then
    /// created unassigned).
    pub async fn eligible(&self) -> Eligible {
        let mut last = self.last.lock().await;
        if let Some((at, ids)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return ids.clone();
        }
        let ids = self.ask().await;
        *last = Some((Instant::now(), ids.clone()));
        ids
    }

    async fn ask(&self) -> Eligible {
        match self.agents().await {
            Ok(agents) => {
                let team_of = |id: &str| {
                    let agent = agents.iter().find(|a| a.id == id);
                    match self.config.team.as_str() {
                        "" => agent.and_then(|a| a.team_ids.first().cloned()),
                        team => Some(team.to_owned()),
                    }
                    .unwrap_or_default()
                };
                let ids = eligible(agents.clone(), &self.config);
                ids.into_iter()
                    .map(|id| {
                        let team = team_of(&id);
                        (id, team)
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, "staff did not answer; the new lead stays unassigned");
                metrics::counter!("ringside_contacts_assignment_failures_total").increment(1);
                Vec::new()
            }
        }
    }
}

impl Assigner {
    /// The active people of the configured roles (and team), with their presence
    /// when offline agents are skipped.
    async fn agents(&self) -> std::result::Result<Vec<Candidate>, PeerError> {
        let mut agents: Vec<Candidate> = Vec::new();
        let mut page_token = String::new();
        loop {
            let list = spb::ListUsersRequest {
                team_id: self.config.team.clone(),
                roles: self.config.roles.clone(),
                page_size: 500,
                page_token,
                ..Default::default()
            };
            let reply = self.staff.clone().list_users(request(list, "")).await?;
            let reply = reply.into_inner();
            agents.extend(reply.users.into_iter().map(Candidate::from));
            if reply.next_page_token.is_empty() {
                break;
            }
            page_token = reply.next_page_token;
        }
        if self.config.skip_offline && !agents.is_empty() {
            let ids = agents.iter().map(|a| a.id.clone()).collect();
            let asked = request(npb::ListOnlineRequest { user_ids: ids }, "");
            let online = self.presence.clone().list_online(asked).await?.into_inner();
            for agent in &mut agents {
                agent.online = online.user_ids.contains(&agent.id);
            }
        }
        Ok(agents)
    }
}

/// The agents of the configured roles and team, in id order; only the online ones
/// when so configured and someone is online (a lead nobody would see is still better
/// owned by someone than by no one).
pub fn eligible(mut agents: Vec<Candidate>, config: &AssignConfig) -> Vec<String> {
    agents.retain(|a| {
        config.roles.iter().any(|r| r == &a.role)
            && (config.team.is_empty() || a.team_ids.contains(&config.team))
    });
    if config.skip_offline && agents.iter().any(|a| a.online) {
        agents.retain(|a| a.online);
    }
    let mut ids: Vec<String> = agents.into_iter().map(|a| a.id).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Takes the next of `eligible` (the one given a lead least recently, never-given
/// first, then by id) and records the turn in the caller's transaction.
pub(crate) async fn take_turn(
    conn: &mut AnyConnection,
    eligible: &[String],
) -> Result<Option<String>> {
    if eligible.is_empty() {
        return Ok(None);
    }
    // Replicas creating leads at once take turns one after the other (until commit);
    // SQLite's write transactions are serial already.
    if conn.backend_name().eq_ignore_ascii_case("postgresql") {
        sqlx::query("SELECT pg_advisory_xact_lock(7243011)")
            .execute(&mut *conn)
            .await?;
    }
    let rows = sqlx::query("SELECT agent_id, seq FROM lead_assignees")
        .fetch_all(&mut *conn)
        .await?;
    let mut turns = std::collections::HashMap::new();
    for row in &rows {
        turns.insert(
            row.try_get::<String, _>("agent_id")?,
            row.try_get::<i64, _>("seq")?,
        );
    }
    let last = turns.values().copied().max().unwrap_or(0);
    let next = eligible
        .iter()
        .min_by_key(|id| (turns.get(*id).copied().unwrap_or(-1), (*id).clone()))
        .cloned();
    if let Some(agent) = &next {
        sqlx::query(
            "INSERT INTO lead_assignees (agent_id, seq) VALUES ($1, $2) \
             ON CONFLICT (agent_id) DO UPDATE SET seq = excluded.seq",
        )
        .bind(agent)
        .bind(last + 1)
        .execute(&mut *conn)
        .await?;
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, role: &str, team: &str, online: bool) -> Candidate {
        Candidate {
            id: id.into(),
            role: role.into(),
            team_ids: vec![team.into()],
            online,
        }
    }

    #[test]
    fn only_the_configured_roles_and_team_take_leads() {
        let all = vec![
            agent("olga", "agent", "sales", false),
            agent("boss", "manager", "sales", true),
            agent("ivan", "agent", "support", true),
        ];
        assert_eq!(
            eligible(all.clone(), &AssignConfig::default()),
            ["ivan", "olga"]
        );
        let sales = AssignConfig {
            team: "sales".into(),
            ..AssignConfig::default()
        };
        assert_eq!(eligible(all, &sales), ["olga"]);
    }

    #[test]
    fn offline_agents_are_skipped_only_while_someone_is_online() {
        let config = AssignConfig {
            skip_offline: true,
            ..AssignConfig::default()
        };
        let some_online = vec![
            agent("a", "agent", "", false),
            agent("b", "agent", "", true),
        ];
        assert_eq!(eligible(some_online, &config), ["b"]);
        let none_online = vec![
            agent("a", "agent", "", false),
            agent("b", "agent", "", false),
        ];
        assert_eq!(eligible(none_online, &config), ["a", "b"]);
    }
}
