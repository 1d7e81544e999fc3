//! Single sign-on's rules: who a person the provider vouched for is in Ringside. An
//! account at the provider is linked to one user: found by the link made at its first
//! sign-in, else by the login equal to an address the provider verified (never an
//! admin's, nor one linked to another account of the provider), else made. The
//! provider's groups decide the role (the highest any group maps to) and the teams
//! at every sign-in, as `RINGSIDE_OIDC_GROUPS` maps them; groups that give no role
//! refuse the sign-in and deactivate a user linked already (the provider took their
//! access away). A deactivated user stays out, and nothing about them changes.
//! Password sign-in is untouched, so a local admin can always sign in, also when the
//! provider is down. A provider sign-in then goes through the same second step as a
//! password one. Every outcome is audited.

use std::str::FromStr;

use ringside_storage::{new_id, now_millis};
use sqlx::AnyConnection;

use crate::error::{Result, StaffError};
use crate::model::{ROLES, User, UserSpec};
use crate::oidc::{self, Identity};
use crate::service::{StaffService, rewrite, write};
use crate::signin::{SignedIn, audit_line};
use crate::store::{self, AuditEntry};

/// Who the audit trail names for what a provider sign-in changed.
const ACTOR: &str = "provider";
const REFUSED: &str = "the sign-in provider did not confirm this sign-in; try again";
const NO_ROLE: &str = "your account at the sign-in provider gives you no role in Ringside";
const NOT_LINKED: &str =
    "an account with your address exists here and is not linked to this provider; ask an admin";
const NOT_SET_UP: &str = "your account could not be set up here; ask an admin";

/// What a provider group gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Role(&'static str),
    Team(String),
}

/// The provider's groups mapped to roles and teams: `group=role` or
/// `group=team:<id>`, comma-separated; a group may appear more than once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMap {
    rules: Vec<(String, Grant)>,
}

impl FromStr for GroupMap {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let mut rules = Vec::new();
        for rule in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let Some((group, grant)) = rule.split_once('=') else {
                return Err(format!("{rule:?}: expected group=role or group=team:<id>"));
            };
            let grant = match grant.trim().strip_prefix("team:") {
                Some(team) if !team.is_empty() => Grant::Team(team.to_owned()),
                Some(_) => return Err(format!("{rule:?}: the team has no id")),
                None => match ROLES.iter().find(|r| **r == grant.trim()) {
                    Some(role) => Grant::Role(role),
                    None => return Err(format!("{rule:?}: roles are {}", ROLES.join(", "))),
                },
            };
            rules.push((group.trim().to_owned(), grant));
        }
        Ok(GroupMap { rules })
    }
}

impl GroupMap {
    /// Every group the map names.
    pub fn groups(&self) -> Vec<String> {
        self.rules.iter().map(|(g, _)| g.clone()).collect()
    }

    fn grants<'a>(&'a self, groups: &'a [String]) -> impl Iterator<Item = &'a Grant> {
        self.rules
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .map(|(_, grant)| grant)
    }

    /// The highest role `groups` map to (`ROLES` lists them highest first).
    pub fn role(&self, groups: &[String]) -> Option<&'static str> {
        let mapped: Vec<&str> = self
            .grants(groups)
            .filter_map(|g| match g {
                Grant::Role(r) => Some(*r),
                Grant::Team(_) => None,
            })
            .collect();
        ROLES.iter().copied().find(|r| mapped.contains(r))
    }

    /// The teams `groups` map to, sorted, once each.
    pub fn teams(&self, groups: &[String]) -> Vec<String> {
        let mut teams: Vec<String> = self
            .grants(groups)
            .filter_map(|g| match g {
                Grant::Team(t) => Some(t.clone()),
                Grant::Role(_) => None,
            })
            .collect();
        teams.sort();
        teams.dedup();
        teams
    }
}

/// The callback of a provider sign-in, as the web front passes it on.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    pub state: &'a str,
    pub code: &'a str,
    /// Why the web front or the provider refused it already ("" when neither did):
    /// the flow is used up and the refusal audited all the same.
    pub error: &'a str,
    pub address: &'a str,
}

/// A provider sign-in that does not go on: its audit outcome and detail, and the
/// answer.
struct Refused {
    outcome: &'static str,
    detail: String,
    error: StaffError,
}

impl Refused {
    fn new(outcome: &'static str, detail: impl Into<String>, error: StaffError) -> Self {
        Refused {
            outcome,
            detail: detail.into(),
            error,
        }
    }
}

/// A user as a provider sign-in found them: linked to the account already or not.
struct Found {
    user: Option<User>,
    linked: bool,
}

impl StaffService {
    /// A sign-in at the provider from `address`: the address to send the browser
    /// to, and the flow's state (for the web front to bind to the browser).
    pub async fn start_provider_sign_in(&self, address: &str) -> Result<(String, String)> {
        let (provider, _) = self.provider()?;
        self.signin.limit(address).await?;
        provider.start(&self.db).await
    }

    /// The browser came back from the provider: a session, or the second step, for
    /// the user the provider's account is. Every outcome is audited.
    pub async fn finish_provider_sign_in(&self, back: Callback<'_>) -> Result<SignedIn> {
        let (provider, groups) = self.provider()?;
        self.signin.limit(back.address).await?;
        let mut line = audit_line("", "sign_in_provider", "", "");
        line.detail = back.address.to_owned();
        let finished = match back.error.is_empty() {
            true => provider.finish(&self.db, back.state, back.code).await,
            false => provider
                .abandon(&self.db, back.state)
                .await
                .map(|()| Err(format!("refused before staff: {}", back.error))),
        };
        let refused = match finished {
            Ok(Ok(identity)) => {
                return self.provider_admit(line, &identity, groups).await;
            }
            Ok(Err(why)) => Refused::new("refused", why, StaffError::Unauthenticated(REFUSED)),
            Err(e @ StaffError::Unavailable(_)) => Refused::new("unavailable", "", e),
            Err(e) => return Err(e),
        };
        line.outcome = refused.outcome.into();
        line.detail = format!("{} {}", back.address, refused.detail);
        self.signin.write_audit(&line).await?;
        Err(refused.error)
    }

    /// Lets the person `identity` names in, as the user they are here, in one
    /// transaction (which keeps what a refusal must change: a linked user whose groups
    /// give no role any more is deactivated).
    async fn provider_admit(
        &self,
        mut line: AuditEntry,
        identity: &Identity,
        groups: &GroupMap,
    ) -> Result<SignedIn> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let user = match self.provider_user(&mut tx, identity, groups).await? {
            Ok(user) => user,
            Err(refused) => {
                line.subject = refused.detail.clone();
                line.outcome = refused.outcome.into();
                store::audit(&mut tx, &line).await?;
                tx.commit().await?;
                return Err(refused.error);
            }
        };
        line.subject = user.id.clone();
        let signed = self.signin.admit(&mut tx, user, line, now).await?;
        tx.commit().await?;
        Ok(signed)
    }

    /// The user `identity` is, with the role and teams the provider's groups give
    /// now: linked (and made) if need be. Refused — before anything changes — for a
    /// deactivated user, an account that may not be linked, or groups that give no
    /// role (which deactivates a user linked already: the provider took their access).
    async fn provider_user(
        &self,
        conn: &mut AnyConnection,
        identity: &Identity,
        groups: &GroupMap,
    ) -> Result<std::result::Result<User, Refused>> {
        let found = match self.found(conn, identity).await? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        let who = found.user.as_ref().map_or("", |u| u.id.as_str()).to_owned();
        if found.user.as_ref().is_some_and(|u| !u.active) {
            let error = StaffError::Unauthenticated(REFUSED);
            return Ok(Err(Refused::new("deactivated", who, error)));
        }
        let Some(role) = groups.role(&identity.groups) else {
            if let Some(user) = found.user.filter(|_| found.linked) {
                self.deactivate(conn, user).await?;
            }
            let error = StaffError::PermissionDenied(NO_ROLE);
            return Ok(Err(Refused::new("no_role", who, error)));
        };
        let teams = store::existing_teams(conn, &groups.teams(&identity.groups)).await?;
        let user = match found.user {
            Some(user) => self.regrant(conn, user, role, teams).await,
            None => self.make_user(conn, identity, role, teams).await,
        };
        let user = match user {
            Ok(user) => user,
            Err(e @ (StaffError::Invalid(_) | StaffError::Taken(_))) => {
                let error = StaffError::Unauthenticated(NOT_SET_UP);
                return Ok(Err(Refused::new("provision_failed", e.to_string(), error)));
            }
            Err(e) => return Err(e),
        };
        if !found.linked {
            oidc::link(conn, identity, &user.id).await?;
            let mut line = audit_line(ACTOR, "provider_linked", &user.id, "done");
            line.detail = identity.issuer.clone();
            store::audit(conn, &line).await?;
        }
        Ok(Ok(user))
    }

    /// Who `identity` is here: the user linked to it; else the user whose login is
    /// the address the provider verified — unless they are an admin (a local admin is
    /// never taken over through an address) or linked to another account of this
    /// provider; else nobody (a new user is made).
    async fn found(
        &self,
        conn: &mut AnyConnection,
        identity: &Identity,
    ) -> Result<std::result::Result<Found, Refused>> {
        if let Some(id) = oidc::linked_user(conn, &identity.issuer, &identity.subject).await? {
            let user = store::user(conn, &id).await?;
            return Ok(Ok(Found { user, linked: true }));
        }
        let holder = match &identity.email {
            Some(email) => store::login_holder(conn, email).await?,
            None => None,
        };
        let user = match holder {
            Some(id) => store::user(conn, &id).await?,
            None => None,
        };
        let Some(user) = user else {
            return Ok(Ok(Found {
                user: None,
                linked: false,
            }));
        };
        let taken = oidc::linked_at(conn, &identity.issuer, &user.id).await?;
        if user.role == "admin" || taken {
            let error = StaffError::Unauthenticated(NOT_LINKED);
            return Ok(Err(Refused::new("link_refused", user.id, error)));
        }
        Ok(Ok(Found {
            user: Some(user),
            linked: false,
        }))
    }

    /// `user`, linked to a provider account whose groups give no role any more, is
    /// deactivated (their sessions and API tokens stop working); an admin reactivates.
    async fn deactivate(&self, conn: &mut AnyConnection, mut user: User) -> Result<()> {
        user.active = false;
        user.updated_at = now_millis();
        store::save_user(conn, &user).await?;
        store::delete_sessions_of(conn, &user.id).await?;
        let mut line = audit_line(ACTOR, "user_deactivated", &user.id, "done");
        line.detail = "the provider's groups give no role".into();
        store::audit(conn, &line).await
    }

    /// A new user for `identity` (named by the provider, else by the address, else
    /// by the account's subject).
    async fn make_user(
        &self,
        conn: &mut AnyConnection,
        identity: &Identity,
        role: &str,
        team_ids: Vec<String>,
    ) -> Result<User> {
        let name = [identity.name.as_str(), &identity.subject]
            .into_iter()
            .find(|n| !n.trim().is_empty())
            .unwrap_or("Unnamed");
        let spec = UserSpec {
            name: name.to_owned(),
            login: identity.email.clone().unwrap_or_default(),
            role: role.to_owned(),
            team_ids,
            ..UserSpec::default()
        };
        let mut user = spec.validated(new_id())?;
        let now = now_millis();
        (user.created_at, user.updated_at) = (now, now);
        write(conn, &user).await?;
        let mut line = audit_line(ACTOR, "user_created", &user.id, "done");
        line.detail = format!("role {}", user.role);
        store::audit(conn, &line).await?;
        Ok(user)
    }

    /// `user` with the role and teams the provider gives now (a new role ends their
    /// sessions, as any role change does).
    async fn regrant(
        &self,
        conn: &mut AnyConnection,
        mut user: User,
        role: &str,
        mut team_ids: Vec<String>,
    ) -> Result<User> {
        team_ids.sort();
        let mut had = user.team_ids.clone();
        had.sort();
        if user.role == role && had == team_ids {
            return Ok(user);
        }
        let before = std::mem::replace(&mut user.role, role.to_owned());
        let detail = format!("teams {}", team_ids.join(","));
        user.team_ids = team_ids;
        user.updated_at = now_millis();
        rewrite(conn, ACTOR, &before, &user, &detail).await?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_the_highest_role_and_every_team() {
        let map: GroupMap = "staff=agent, sales=team:sales, sales-heads=manager, \
                             sales-heads=team:sales, it=admin, north=team:north"
            .parse()
            .unwrap();
        let groups = |g: &[&str]| g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(map.role(&groups(&["staff", "sales"])), Some("agent"));
        assert_eq!(
            map.role(&groups(&["sales-heads", "staff"])),
            Some("manager")
        );
        assert_eq!(map.role(&groups(&["it", "sales-heads"])), Some("admin"));
        assert_eq!(map.role(&groups(&["sales", "visitors"])), None);
        let teams = map.teams(&groups(&["sales", "sales-heads", "north"]));
        assert_eq!(teams, ["north", "sales"]);
        assert_eq!("".parse::<GroupMap>().unwrap(), GroupMap::default());
    }

    #[test]
    fn a_map_that_does_not_hold_says_which_rule() {
        for bad in ["sales", "sales=boss", "sales=team:"] {
            let err = bad.parse::<GroupMap>().unwrap_err();
            assert!(err.contains(bad.split('=').next().unwrap()), "{err}");
        }
    }
}
