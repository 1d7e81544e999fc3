//! Single sign-on's rules: who a person the provider vouched for is in Ringside. An
//! account at the provider is linked to one user: found by the link made at its first
//! sign-in, else by the login equal to an address the provider verified, else made.
//! The provider's groups decide the role (the highest any group maps to) and the teams
//! at every sign-in, as `RINGSIDE_OIDC_GROUPS` maps them; a person whose groups map to
//! no role is refused. A deactivated user stays out. Password sign-in is untouched, so
//! a local admin can always sign in, also when the provider is down. A provider
//! sign-in then goes through the same second step as a password one.

use std::str::FromStr;

use ringside_storage::{new_id, now_millis};
use sqlx::AnyConnection;

use crate::error::{Result, StaffError};
use crate::model::{ROLES, User, UserSpec};
use crate::oidc::{self, Identity};
use crate::service::{StaffService, write};
use crate::signin::{SignedIn, audit_line};
use crate::store;

/// Who the audit trail names for what a provider sign-in changed.
const ACTOR: &str = "provider";
const REFUSED: &str = "the sign-in provider did not confirm this sign-in; try again";
const NO_ROLE: &str = "your account at the sign-in provider gives you no role in Ringside";

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

impl StaffService {
    /// A sign-in at the provider: the address to send the browser to, and the
    /// flow's state (for the web front to bind to the browser).
    pub async fn start_provider_sign_in(&self) -> Result<(String, String)> {
        let (provider, _) = self.provider()?;
        provider.start(&self.db).await
    }

    /// The browser came back from the provider with `state` and `code` (from
    /// `address`): a session, or the second step, for the user the provider's
    /// account is.
    pub async fn finish_provider_sign_in(
        &self,
        state: &str,
        code: &str,
        address: &str,
    ) -> Result<SignedIn> {
        let (provider, groups) = self.provider()?;
        self.signin.limit(address).await?;
        let mut line = audit_line("", "sign_in_provider", "", "");
        line.detail = address.to_owned();
        let identity = match provider.finish(&self.db, state, code).await? {
            Ok(identity) => identity,
            Err(why) => {
                line.outcome = "refused".into();
                line.detail = format!("{address} {why}");
                self.signin.write_audit(&line).await?;
                return Err(StaffError::Unauthenticated(REFUSED));
            }
        };
        let Some(role) = groups.role(&identity.groups) else {
            line.outcome = "no_role".into();
            line.detail = format!("{address} {} {}", identity.issuer, identity.subject);
            self.signin.write_audit(&line).await?;
            return Err(StaffError::PermissionDenied(NO_ROLE));
        };
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let user = self
            .provider_user(&mut tx, &identity, role, groups.teams(&identity.groups))
            .await?;
        line.subject = user.id.clone();
        if !user.active {
            line.outcome = "deactivated".into();
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        }
        let signed = self.signin.admit(&mut tx, user, line, now).await?;
        tx.commit().await?;
        Ok(signed)
    }

    /// The user `identity` is, linked (and made) if need be, with the `role` and the
    /// `teams` (those that exist) the provider's groups give now.
    async fn provider_user(
        &self,
        conn: &mut AnyConnection,
        identity: &Identity,
        role: &str,
        teams: Vec<String>,
    ) -> Result<User> {
        let linked = oidc::linked_user(conn, &identity.issuer, &identity.subject).await?;
        let known = match (linked, &identity.email) {
            (Some(id), _) => Some(id),
            (None, Some(email)) => store::login_holder(conn, email).await?,
            (None, None) => None,
        };
        let user = match known {
            Some(id) => store::user(conn, &id).await?,
            None => None,
        };
        let teams = store::existing_teams(conn, &teams).await?;
        let user = match user {
            Some(user) => self.regrant(conn, user, role, teams).await?,
            None => self.make_user(conn, identity, role, teams).await?,
        };
        if oidc::linked_user(conn, &identity.issuer, &identity.subject)
            .await?
            .is_none()
        {
            oidc::link(conn, identity, &user.id).await?;
            let mut line = audit_line(ACTOR, "provider_linked", &user.id, "done");
            line.detail = identity.issuer.clone();
            store::audit(conn, &line).await?;
        }
        Ok(user)
    }

    /// A new user for `identity`.
    async fn make_user(
        &self,
        conn: &mut AnyConnection,
        identity: &Identity,
        role: &str,
        team_ids: Vec<String>,
    ) -> Result<User> {
        let spec = UserSpec {
            name: identity.name.clone(),
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
        team_ids: Vec<String>,
    ) -> Result<User> {
        if user.role == role && user.team_ids == team_ids {
            return Ok(user);
        }
        let mut line = audit_line(ACTOR, "user_updated", &user.id, "done");
        if user.role != role {
            store::delete_sessions_of(conn, &user.id).await?;
            line.action = "role_changed".into();
            line.detail = format!("{} → {role}", user.role);
        }
        user.role = role.to_owned();
        user.team_ids = team_ids;
        user.updated_at = now_millis();
        write(conn, &user).await?;
        store::audit(conn, &line).await?;
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
