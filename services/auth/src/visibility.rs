//! Who sees which records, and to whom they may give them: the seeds' access levels.
//!
//! Each record (lead, contact, company, deal) carries an owner and the team it was
//! given to (stamped at assignment; moving a person to another team moves none of
//! their records). A role reaches, for each kind of record:
//!
//! | role    | reach | sees                                              | may give a record to           |
//! |---------|-------|---------------------------------------------------|--------------------------------|
//! | admin   | all   | every record                                      | anyone, or nobody              |
//! | manager | team  | their own, their teams' and the unassigned ones   | themselves, their teams' people, or nobody |
//! | agent   | own   | their own and the unassigned ones                 | themselves                     |
//! | service | all   | every record (a service acts for the system)      | anyone, or nobody              |
//!
//! Unassigned records (no owner) are seen by every role that reads records: they are
//! the pool new leads wait in until someone takes them. A record outside the
//! caller's scope does not exist for them (`NOT_FOUND`); giving a record to someone
//! outside it is refused (`PERMISSION_DENIED`). The stores apply a [`Scope`] inside
//! their queries, so lists, searches, counts and reports all obey it.

use crate::Role;

/// The kinds of records whose visibility is scoped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Lead,
    Contact,
    Company,
    Deal,
    /// Tasks, by their assignee (and the clients they are about).
    Task,
}

/// How far a caller's sight reaches over one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every record.
    All,
    /// The caller's own, their teams' and the unassigned records.
    Team,
    /// The caller's own and the unassigned records.
    Own,
}

/// The table: what each role reaches, for each kind of record. Today every kind is
/// reached alike; the kind is named so a deployment's table can differ by it.
pub fn reach(role: Role, entity: Entity) -> Reach {
    match (role, entity) {
        (Role::Admin | Role::Service, _) => Reach::All,
        (
            Role::Manager,
            Entity::Lead | Entity::Contact | Entity::Company | Entity::Deal | Entity::Task,
        ) => Reach::Team,
        (
            Role::Agent,
            Entity::Lead | Entity::Contact | Entity::Company | Entity::Deal | Entity::Task,
        ) => Reach::Own,
    }
}

/// Which records of one kind a caller sees and may assign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub reach: Reach,
    /// The caller: their own records.
    pub user: String,
    /// The caller's teams (what `Reach::Team` covers).
    pub teams: Vec<String>,
}

/// Why a record may not be given to someone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignRefusal {
    #[error("an agent assigns records to themselves only")]
    NotSelf,
    #[error("a manager assigns records within their teams only")]
    NotInTeams,
    #[error("only a manager or an admin leaves a record unassigned")]
    Unassign,
}

impl Scope {
    /// Every record: services, and code that runs for the system (applying an event).
    pub fn all() -> Scope {
        Scope {
            reach: Reach::All,
            user: String::new(),
            teams: Vec::new(),
        }
    }

    /// Whether a record owned by `owner` (empty: unassigned) and stamped with `team`
    /// is in scope.
    pub fn sees(&self, owner: &str, team: &str) -> bool {
        match self.reach {
            Reach::All => true,
            _ if owner.is_empty() || owner == self.user => true,
            Reach::Team => !team.is_empty() && self.teams.iter().any(|t| t == team),
            Reach::Own => false,
        }
    }

    /// Whether this caller may give a record to `owner` (empty: nobody), a member of
    /// `owner_teams`; if so, the team the record is stamped with: the team the caller
    /// shares with the owner when there is one, else the owner's first.
    pub fn assign(&self, owner: &str, owner_teams: &[String]) -> Result<String, AssignRefusal> {
        let shared = owner_teams.iter().find(|t| self.teams.contains(t));
        let first = || owner_teams.first().cloned().unwrap_or_default();
        match self.reach {
            _ if owner.is_empty() && self.reach == Reach::Own => Err(AssignRefusal::Unassign),
            _ if owner.is_empty() => Ok(String::new()),
            Reach::All => Ok(shared.cloned().unwrap_or_else(first)),
            _ if owner == self.user => Ok(shared.cloned().unwrap_or_else(first)),
            Reach::Own => Err(AssignRefusal::NotSelf),
            Reach::Team => shared.cloned().ok_or(AssignRefusal::NotInTeams),
        }
    }

    /// The owner a new record gets when none is asked for: an agent's own records are
    /// theirs (they cannot leave one in the pool); others may.
    pub fn owner_or_self(&self, owner: &str) -> String {
        match (owner.is_empty(), self.reach) {
            (true, Reach::Own) => self.user.clone(),
            _ => owner.to_owned(),
        }
    }

    /// The scope of `user`, a member of `teams`, reaching `reach`.
    pub fn new(reach: Reach, user: &str, teams: &[&str]) -> Scope {
        Scope {
            reach,
            user: user.to_owned(),
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Whether `owner` is the caller, whose teams the caller's token already names.
    pub fn is_self(&self, owner: &str) -> bool {
        !owner.is_empty() && owner == self.user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(reach: Reach, teams: &[&str]) -> Scope {
        Scope::new(reach, "u", teams)
    }

    fn teams(names: &[&str]) -> Vec<String> {
        names.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn each_reach_sees_its_records_and_the_unassigned_ones() {
        let own = scope(Reach::Own, &["a"]);
        let team = scope(Reach::Team, &["a"]);
        let all = scope(Reach::All, &[]);
        for s in [&own, &team, &all] {
            assert!(s.sees("u", "b"), "{s:?}: their own");
            assert!(s.sees("", ""), "{s:?}: unassigned");
        }
        assert!(!own.sees("v", "a"), "an agent does not see a teammate's");
        assert!(team.sees("v", "a"), "a manager sees their team's");
        assert!(!team.sees("v", "b"), "nor another team's");
        assert!(!team.sees("v", ""), "nor a record of no team");
        assert!(all.sees("v", "b"));
    }

    #[test]
    fn assignment_follows_the_scope() {
        let agent = scope(Reach::Own, &["a"]);
        assert_eq!(agent.assign("u", &teams(&["a"])), Ok("a".into()));
        assert_eq!(
            agent.assign("v", &teams(&["a"])),
            Err(AssignRefusal::NotSelf)
        );
        assert_eq!(agent.assign("", &[]), Err(AssignRefusal::Unassign));
        let manager = scope(Reach::Team, &["a", "b"]);
        assert_eq!(manager.assign("v", &teams(&["c", "b"])), Ok("b".into()));
        assert_eq!(
            manager.assign("v", &teams(&["c"])),
            Err(AssignRefusal::NotInTeams)
        );
        assert_eq!(manager.assign("", &[]), Ok(String::new()));
        let admin = scope(Reach::All, &[]);
        assert_eq!(admin.assign("v", &teams(&["c", "d"])), Ok("c".into()));
        assert_eq!(admin.assign("v", &[]), Ok(String::new()));
    }

    #[test]
    fn the_table_gives_each_role_its_reach() {
        assert_eq!(reach(Role::Admin, Entity::Deal), Reach::All);
        assert_eq!(reach(Role::Service, Entity::Lead), Reach::All);
        assert_eq!(reach(Role::Manager, Entity::Contact), Reach::Team);
        assert_eq!(reach(Role::Agent, Entity::Company), Reach::Own);
    }
}
