//! The staff service's rules and transaction boundaries: a login and an extension
//! belong to one user; a user's teams exist; a team's heads are its members; a
//! deactivated user is found by nothing (rings nowhere, takes no leads, gets no
//! alerts) but keeps their record. A role change or a deactivation ends the user's
//! sessions; each is written to the audit trail with who did it.

use std::sync::Arc;

use ringside_identity::paging::{Cursor, Page, Paged};
use ringside_identity::{Invalid, fields, required_text};
use ringside_storage::{Db, new_id, now_millis};
use sqlx::AnyConnection;

use crate::api_tokens::ApiTokens;
use crate::error::{Result, StaffError};
use crate::model::{Team, User, UserSpec};
use crate::oidc::Provider;
use crate::signin::{SignIn, SignInConfig, audit_line};
use crate::sso::GroupMap;
use crate::store::{self, Lookup, UserFilter};

/// Most ids one `NamesOf` asks about.
pub const MAX_NAMES: usize = 200;

#[derive(Clone)]
pub struct StaffService {
    pub(crate) db: Db,
    /// Passwords, sign-in and sessions.
    pub signin: SignIn,
    /// Personal API tokens.
    pub api_tokens: ApiTokens,
    /// Single sign-on, when a provider is set up: it, and how its groups map.
    provider: Option<Arc<(Provider, GroupMap)>>,
}

/// The id (when free) and login of the admin the first start makes.
pub const FIRST_ADMIN_ID: &str = "admin";
pub const FIRST_ADMIN_LOGIN: &str = "admin@ringside.localhost";
/// The actor the audit trail names for what Ringside does by itself.
const SYSTEM: &str = "ringside";

impl StaffService {
    pub fn new(db: Db) -> Self {
        StaffService::with_sign_in(db.clone(), SignInConfig::default())
    }

    pub fn with_sign_in(db: Db, config: SignInConfig) -> Self {
        StaffService {
            signin: SignIn::new(db.clone(), config),
            api_tokens: ApiTokens::new(db.clone()),
            provider: None,
            db,
        }
    }

    /// Staff that also signs people in through an OpenID Connect provider.
    pub fn with_provider(mut self, provider: Provider, groups: GroupMap) -> Self {
        self.provider = Some(Arc::new((provider, groups)));
        self
    }

    /// The provider set up for single sign-on.
    pub(crate) fn provider(&self) -> Result<(&Provider, &GroupMap)> {
        match self.provider.as_deref() {
            Some((provider, groups)) => Ok((provider, groups)),
            None => Err(StaffError::Refused("single sign-on is not set up here")),
        }
    }

    /// The first start's way in: while no active admin has a password, a one-time
    /// link (valid a day) for an admin to set one, and that admin, who is made (id
    /// `admin`, login `admin@ringside.localhost`) when there is no active admin at all. `None` once an admin
    /// can sign in. Each call replaces the link the one before made.
    pub async fn first_admin_link(&self) -> Result<Option<(User, String)>> {
        let mut conn = self.db.pool().acquire().await?;
        if store::admin_can_sign_in(&mut conn).await? {
            return Ok(None);
        }
        let admin = match store::first_admin(&mut conn).await? {
            Some(id) => store::user(&mut conn, &id).await?,
            None => None,
        };
        drop(conn);
        let admin = match admin {
            Some(admin) => admin,
            None => {
                let spec = UserSpec {
                    name: "Administrator".into(),
                    login: FIRST_ADMIN_LOGIN.into(),
                    role: "admin".into(),
                    ..UserSpec::default()
                };
                let id = match self.get_user(FIRST_ADMIN_ID).await {
                    Err(StaffError::NotFound { .. }) => Some(FIRST_ADMIN_ID.to_owned()),
                    _ => None,
                };
                self.create_user(SYSTEM, id, spec).await?
            }
        };
        let day = std::time::Duration::from_secs(86_400);
        let (secret, _) = self
            .signin
            .create_password_link(SYSTEM, &admin.id, day)
            .await?;
        Ok(Some((admin, secret)))
    }

    /// Adds lines other services wrote to the audit trail, in one transaction.
    pub async fn record_audit(&self, lines: &[store::AuditEntry]) -> Result<()> {
        let mut tx = self.db.begin().await?;
        for line in lines {
            store::audit(&mut tx, line).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The audit trail, newest first: `limit` lines before line `before` (0: the
    /// newest), about `subject` when given.
    pub async fn audit_trail(
        &self,
        subject: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<store::AuditEntry>> {
        let mut conn = self.db.pool().acquire().await?;
        store::audit_trail(&mut conn, subject, before, limit).await
    }

    /// Refuses a manager's change to anyone but the agents of their own teams: the
    /// user as they are (`before`) and as they would be (`after`) must both be agents
    /// of teams the manager (`actor`) belongs to. Admins are not asked this.
    pub async fn manager_may(
        &self,
        actor: &str,
        before: Option<&User>,
        after: Option<&User>,
    ) -> Result<()> {
        const REFUSED: &str = "a manager manages the agents of their own teams";
        let mut conn = self.db.pool().acquire().await?;
        let manager = store::user(&mut conn, actor)
            .await?
            .filter(|u| u.active && u.role == "manager")
            .ok_or(StaffError::PermissionDenied(REFUSED))?;
        let theirs = |u: &User| {
            u.role == "agent"
                && !u.team_ids.is_empty()
                && u.team_ids.iter().all(|t| manager.team_ids.contains(t))
        };
        match before.into_iter().chain(after).all(theirs) {
            true => Ok(()),
            false => Err(StaffError::PermissionDenied(REFUSED)),
        }
    }

    /// [`StaffService::manager_may`] for the user `id` as they are now.
    pub async fn manager_may_change(&self, actor: &str, id: &str) -> Result<()> {
        let user = self.get_user(id).await?;
        self.manager_may(actor, Some(&user), None).await
    }

    /// Adds a user (a new id when `id` is empty), as `actor`.
    pub async fn create_user(
        &self,
        actor: &str,
        id: Option<String>,
        spec: UserSpec,
    ) -> Result<User> {
        let mut user = spec.validated(id.unwrap_or_else(new_id))?;
        let now = now_millis();
        (user.created_at, user.updated_at) = (now, now);
        let mut tx = self.db.begin().await?;
        if store::user(&mut tx, &user.id).await?.is_some() {
            return Err(StaffError::Taken(format!("user {} exists", user.id)));
        }
        write(&mut tx, &user).await?;
        let mut line = audit_line(actor, "user_created", &user.id, "done");
        line.detail = format!("role {}", user.role);
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Replaces a user's details, extensions and teams, as `actor`; their active flag
    /// stays. A new role ends their sessions (they sign in again as what they are now).
    pub async fn update_user(&self, actor: &str, id: &str, spec: UserSpec) -> Result<User> {
        let mut tx = self.db.begin().await?;
        let before = store::user(&mut tx, id)
            .await?
            .ok_or_else(|| StaffError::not_found("user", id))?;
        let mut user = spec.validated(before.id.clone())?;
        user.active = before.active;
        user.created_at = before.created_at;
        user.updated_at = now_millis();
        rewrite(&mut tx, actor, &before.role, &user, "").await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The language and time zone of `me` (each `Some` replaces theirs), as they
    /// choose them for themselves.
    pub async fn set_preferences(
        &self,
        me: &str,
        locale: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<User> {
        let locale = locale.map(crate::model::locale).transpose()?;
        let time_zone = time_zone.map(crate::model::time_zone).transpose()?;
        let mut tx = self.db.begin().await?;
        let mut user = store::user(&mut tx, me)
            .await?
            .ok_or_else(|| StaffError::not_found("user", me))?;
        user.locale = locale.unwrap_or(user.locale);
        user.time_zone = time_zone.unwrap_or(user.time_zone);
        user.updated_at = now_millis();
        store::save_user(&mut tx, &user).await?;
        store::audit(&mut tx, &audit_line(me, "preferences_changed", me, "done")).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deactivates (ending their sessions) or reactivates a user, as `actor`.
    pub async fn set_active(&self, actor: &str, id: &str, active: bool) -> Result<User> {
        let mut tx = self.db.begin().await?;
        let mut user = store::user(&mut tx, id)
            .await?
            .ok_or_else(|| StaffError::not_found("user", id))?;
        if user.active != active {
            user.active = active;
            user.updated_at = now_millis();
            store::save_user(&mut tx, &user).await?;
            let action = if active {
                "user_reactivated"
            } else {
                "user_deactivated"
            };
            store::audit(&mut tx, &audit_line(actor, action, id, "done")).await?;
        }
        if !active {
            store::delete_sessions_of(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    pub async fn get_user(&self, id: &str) -> Result<User> {
        let mut conn = self.db.pool().acquire().await?;
        store::user(&mut conn, id)
            .await?
            .ok_or_else(|| StaffError::not_found("user", id))
    }

    /// The names of the users among `ids` (deactivated ones too: records still name
    /// them); ids nobody has are left out.
    pub async fn names_of(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
        let mut ids: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|i| !i.is_empty())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.pool().acquire().await?;
        store::names(&mut conn, &ids).await
    }

    pub async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Paged<User>> {
        let mut conn = self.db.pool().acquire().await?;
        let users = store::users(&mut conn, filter, &page).await?;
        Ok(Paged::from_lookahead(users, page.size, |u| {
            Cursor::by_id(&u.id)
        }))
    }

    /// The active user at an extension, with a Telegram chat, or with a login.
    pub async fn find_user(&self, by: Lookup) -> Result<User> {
        let mut conn = self.db.pool().acquire().await?;
        let id = store::find(&mut conn, &by).await?;
        let user = match id {
            Some(id) => store::user(&mut conn, &id).await?,
            None => None,
        };
        user.ok_or_else(|| StaffError::not_found("user", "with that key"))
    }

    pub async fn create_team(&self, id: Option<String>, name: &str) -> Result<Team> {
        let team = Team {
            id: id.unwrap_or_else(new_id),
            name: required_text("name", name)?,
            ..Team::default()
        };
        let mut tx = self.db.begin().await?;
        if store::team(&mut tx, &team.id).await?.is_some() {
            return Err(StaffError::Taken(format!("team {} exists", team.id)));
        }
        check_team_name(&mut tx, &team.id, &team.name).await?;
        store::insert_team(&mut tx, &team, now_millis()).await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Renames a team and makes exactly `heads` (members of it) its heads.
    pub async fn update_team(&self, id: &str, name: &str, heads: &[String]) -> Result<Team> {
        let name = required_text("name", name)?;
        let heads = heads
            .iter()
            .map(|h| fields::id("head_ids", h))
            .collect::<Result<Vec<_>, Invalid>>()?;
        let mut tx = self.db.begin().await?;
        let team = store::team(&mut tx, id)
            .await?
            .ok_or_else(|| StaffError::not_found("team", id))?;
        if let Some(outsider) = heads.iter().find(|h| !team.member_ids.contains(h)) {
            let reason = format!("{outsider} is not a member of the team");
            return Err(Invalid::new("head_ids", reason).into());
        }
        check_team_name(&mut tx, id, &name).await?;
        store::rename_team(&mut tx, id, &name, now_millis()).await?;
        store::set_heads(&mut tx, id, &heads).await?;
        let team = store::team(&mut tx, id).await?;
        tx.commit().await?;
        team.ok_or_else(|| StaffError::not_found("team", id))
    }

    pub async fn list_teams(&self) -> Result<Vec<Team>> {
        let mut conn = self.db.pool().acquire().await?;
        store::teams(&mut conn).await
    }
}

/// Writes the user, their extensions and teams, once their keys are checked.
/// Writes a changed `user`, who had the role `before`, as `actor`: a new role ends
/// their sessions (they sign in again as what they are now); audited with `detail`.
pub(crate) async fn rewrite(
    conn: &mut AnyConnection,
    actor: &str,
    before: &str,
    user: &User,
    detail: &str,
) -> Result<()> {
    write(conn, user).await?;
    let mut line = audit_line(actor, "user_updated", &user.id, "done");
    line.detail = detail.to_owned();
    if user.role != before {
        store::delete_sessions_of(conn, &user.id).await?;
        line.action = "role_changed".into();
        line.detail = [format!("{before} → {}", user.role), line.detail]
            .into_iter()
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
    }
    store::audit(conn, &line).await
}

pub(crate) async fn write(conn: &mut AnyConnection, user: &User) -> Result<()> {
    check_keys(conn, user).await?;
    store::save_user(conn, user).await?;
    store::replace_extensions(conn, user).await?;
    store::replace_memberships(conn, user).await
}

/// The user's login and extensions are free (theirs, or an extension of a deactivated
/// user, which moves), and their teams exist.
async fn check_keys(conn: &mut AnyConnection, user: &User) -> Result<()> {
    if let Some(login) = &user.login
        && let Some(holder) = store::login_holder(conn, login).await?
        && holder != user.id
    {
        return Err(StaffError::Taken(format!("login belongs to user {holder}")));
    }
    for ext in &user.extensions {
        if let Some((holder, true)) = store::extension_holder(conn, ext).await?
            && holder != user.id
        {
            return Err(StaffError::Taken(format!(
                "extension {ext} belongs to user {holder}"
            )));
        }
    }
    let existing = store::existing_teams(conn, &user.team_ids).await?;
    if let Some(missing) = user.team_ids.iter().find(|t| !existing.contains(t)) {
        return Err(Invalid::new("team_ids", format!("no team {missing}")).into());
    }
    Ok(())
}

async fn check_team_name(conn: &mut AnyConnection, id: &str, name: &str) -> Result<()> {
    match store::team_named(conn, name).await? {
        Some(holder) if holder != id => Err(StaffError::Taken(format!("team {name:?} exists"))),
        _ => Ok(()),
    }
}
