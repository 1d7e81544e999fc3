//! A caller's [`Scope`] where records are read and given away: the condition a store
//! puts inside its queries ([`push`]), so lists, searches, counts and reports all
//! obey it; and the team a record is stamped with when it is given to someone
//! ([`Owners::stamp`]), which asks staff who that someone is (the caller's own teams
//! come with their token).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_auth::visibility::{AssignRefusal, Reach, Scope};
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use ringside_storage::sql::Where;
use tokio::sync::Mutex;

use crate::error::found;
use crate::peer::request;
use crate::{PeerChannel, PeerError};

/// Adds to `w` the records `scope` sees, by their owner and team columns.
pub fn push(w: &mut Where, scope: &Scope, owner_col: &str, team_col: &str) {
    if scope.reach == Reach::All {
        return;
    }
    let me = w.bind(&scope.user);
    let mut sees = format!("({owner_col} = {me} OR {owner_col} = ''");
    if scope.reach == Reach::Team && !scope.teams.is_empty() {
        let teams: Vec<String> = scope.teams.iter().map(|t| w.bind(t)).collect();
        sees.push_str(&format!(" OR {team_col} IN ({})", teams.join(", ")));
    }
    sees.push(')');
    w.push_plain(&sees);
}

/// Why a record cannot go to the owner asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    #[error("{0}")]
    Refused(#[from] AssignRefusal),
    #[error("owner_id: no active user {0}")]
    NoSuchOwner(String),
    #[error("staff: {0}")]
    Peer(#[from] PeerError),
}

/// The team a record given to `owner` by a caller with `scope` is stamped with,
/// asking `owners` (staff) who the owner is; without them (a service tested alone)
/// only the caller's own teams are known, so a record goes to the caller, to the
/// pool, or — for the system and admins — to anyone, stamped with no team.
pub async fn stamp(
    owners: Option<&Owners>,
    scope: &Scope,
    owner: &str,
) -> Result<String, StampError> {
    match owners {
        Some(owners) => owners.stamp(scope, owner).await,
        None if scope.is_self(owner) => Ok(scope.assign(owner, &scope.teams)?),
        None => Ok(scope.assign(owner, &[])?),
    }
}

impl crate::ErrorKind for StampError {
    fn kind(&self) -> crate::Kind {
        match self {
            StampError::Refused(_) => crate::Kind::PermissionDenied,
            StampError::NoSuchOwner(_) => crate::Kind::Invalid,
            StampError::Peer(e) => e.kind(),
        }
    }
}

/// How long who is in which team is taken as known.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// Most people remembered; past it the memory starts over.
const MAX_KNOWN: usize = 10_000;

/// A user's teams as last heard (`None`: no such active user), and when.
type Known = HashMap<String, (Instant, Option<Vec<String>>)>;

/// A team's members (also those who left) as last heard, and when.
type Teams = HashMap<String, (Instant, Vec<String>)>;

/// The people records are given to, as staff knows them.
#[derive(Clone)]
pub struct Owners {
    staff: StaffClient<PeerChannel>,
    known: Arc<Mutex<Known>>,
    teams: Arc<Mutex<Teams>>,
}

impl Owners {
    pub fn new(staff: PeerChannel) -> Self {
        Owners {
            staff: StaffClient::new(staff),
            known: Arc::default(),
            teams: Arc::default(),
        }
    }

    /// The team a record given to `owner` (empty: nobody) by a caller with `scope`
    /// is stamped with, when they may give it: the owner must be an active user, and
    /// within the caller's reach.
    pub async fn stamp(&self, scope: &Scope, owner: &str) -> Result<String, StampError> {
        if owner.is_empty() || scope.is_self(owner) {
            return Ok(scope.assign(owner, &scope.teams)?);
        }
        if scope.reach == Reach::Own {
            // Refused before staff is asked: nobody learns who exists this way.
            return Err(AssignRefusal::NotSelf.into());
        }
        let teams = self
            .teams_of(owner)
            .await?
            .ok_or_else(|| StampError::NoSuchOwner(owner.to_owned()))?;
        Ok(scope.assign(owner, &teams)?)
    }

    /// Whose work `scope` covers, where records carry only a person (a task's
    /// assignee, a client's owner): `None` for everyone; else the caller and, for a
    /// team reach, the members of the caller's teams (also those who left).
    pub async fn people(&self, scope: &Scope) -> Result<Option<Vec<String>>, PeerError> {
        let mut people = vec![scope.user.clone()];
        match scope.reach {
            Reach::All => return Ok(None),
            Reach::Own => {}
            Reach::Team => {
                for team in &scope.teams {
                    people.extend(self.members(team).await?);
                }
            }
        }
        people.sort();
        people.dedup();
        Ok(Some(people))
    }

    /// The active members of `team` (as staff said at most 5 s ago).
    async fn members(&self, team: &str) -> Result<Vec<String>, PeerError> {
        if let Some((at, members)) = self.teams.lock().await.get(team)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(members.clone());
        }
        let mut members = Vec::new();
        let mut page_token = String::new();
        loop {
            // Those who left too: their tasks and clients wait for someone to take them.
            let asked = spb::ListUsersRequest {
                team_id: team.to_owned(),
                include_inactive: true,
                page_size: 500,
                page_token,
                ..Default::default()
            };
            let reply = self.staff.clone().list_users(request(asked, "")).await?;
            let reply = reply.into_inner();
            members.extend(reply.users.into_iter().map(|u| u.id));
            if reply.next_page_token.is_empty() {
                break;
            }
            page_token = reply.next_page_token;
        }
        let mut teams = self.teams.lock().await;
        if teams.len() >= MAX_KNOWN {
            teams.clear();
        }
        teams.insert(team.to_owned(), (Instant::now(), members.clone()));
        Ok(members)
    }

    /// The teams of the active user `id`; `None` when there is no such active user.
    /// (A team's members, above, include those who left.)
    async fn teams_of(&self, id: &str) -> Result<Option<Vec<String>>, PeerError> {
        if let Some((at, teams)) = self.known.lock().await.get(id)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(teams.clone());
        }
        let asked = spb::GetUserRequest { id: id.to_owned() };
        let user = found(self.staff.clone().get_user(request(asked, "")).await)?;
        let teams = user
            .filter(|u| u.active)
            .map(|u| u.details.unwrap_or_default().team_ids);
        let mut known = self.known.lock().await;
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        known.insert(id.to_owned(), (Instant::now(), teams.clone()));
        Ok(teams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_condition_names_the_owner_the_pool_and_the_teams() {
        let mut w = Where::default();
        w.push("d.status = {}", "open");
        push(
            &mut w,
            &Scope::new(Reach::Team, "u", &["a", "b"]),
            "d.owner_id",
            "d.team_id",
        );
        assert_eq!(
            w.sql(),
            "d.status = $1 AND (d.owner_id = $2 OR d.owner_id = '' OR d.team_id IN ($3, $4))"
        );
        let mut own = Where::default();
        push(
            &mut own,
            &Scope::new(Reach::Own, "u", &["a"]),
            "owner_id",
            "team_id",
        );
        assert_eq!(own.sql(), "(owner_id = $1 OR owner_id = '')");
        let mut all = Where::default();
        push(&mut all, &Scope::all(), "owner_id", "team_id");
        assert_eq!(all.sql(), "TRUE");
    }
}
