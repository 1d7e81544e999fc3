//! Personal API tokens: what a program signs in with. A person makes one (named, with
//! an expiry), sees its secret once, lists theirs with when each was last used, and
//! revokes them. Only a hash of the secret is kept. A token may be scoped to a role
//! below its owner's (an admin's token for a report that needs an agent's reach). A
//! program exchanges its token for an access token of minutes, which carries the
//! lower of the token's role and the owner's role *now* — never more than they may do
//! today — and none once the owner is deactivated, the token revoked or expired.
//! Creations, revocations and refused exchanges go to the audit trail.

use std::time::Duration;

use ringside_identity::{Invalid, required_text};
use ringside_storage::{Db, new_id, now_millis};

use crate::error::{Result, StaffError};
use crate::model::{ROLES, User, rank};
use crate::signin::{audit_line, new_secret, secret_hash};
use crate::store::{self, ApiToken};

/// What every token's text starts with, so a leaked one is recognisable.
pub const PREFIX: &str = "rs_pat_";
/// The longest life a token may be given.
pub const MAX_LIFE: Duration = Duration::from_secs(366 * 86_400);
const REFUSED: &str = "the API token is not valid";

#[derive(Clone)]
pub struct ApiTokens {
    db: Db,
}

impl ApiTokens {
    pub fn new(db: Db) -> Self {
        ApiTokens { db }
    }

    /// A new token of `user_id` named `name`, living `life`: its text (shown once)
    /// and what is kept of it.
    pub async fn create(
        &self,
        user_id: &str,
        name: &str,
        life: Duration,
        role: &str,
    ) -> Result<(String, ApiToken)> {
        let name = required_text("name", name)?;
        if life.is_zero() || life > MAX_LIFE {
            return Err(Invalid::new("ttl_days", "from 1 to 366 days").into());
        }
        let role = role.trim();
        if !role.is_empty() && rank(role).is_none() {
            let known = ROLES.join(", ");
            return Err(Invalid::new("role", format!("one of {known}, or empty")).into());
        }
        let now = now_millis();
        let token = ApiToken {
            id: new_id(),
            user_id: user_id.to_owned(),
            name,
            created_at: now,
            expires_at: now.saturating_add(i64::try_from(life.as_millis()).unwrap_or(i64::MAX)),
            role: role.to_owned(),
            ..ApiToken::default()
        };
        let text = format!("{PREFIX}{}", new_secret());
        let mut tx = self.db.begin().await?;
        let owner = store::user(&mut tx, user_id).await?.filter(|u| u.active);
        let Some(owner) = owner else {
            return Err(StaffError::not_found("user", user_id));
        };
        if !role.is_empty() && rank(role) < rank(&owner.role) {
            return Err(StaffError::PermissionDenied(
                "a token may do no more than its owner",
            ));
        }
        store::insert_api_token(&mut tx, &token, &secret_hash(&text)).await?;
        let mut line = audit_line(user_id, "api_token_created", user_id, "done");
        line.detail = match role {
            "" => format!("{} ({})", token.id, token.name),
            role => format!("{} ({}), role {role}", token.id, token.name),
        };
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok((text, token))
    }

    pub async fn list(&self, user_id: &str) -> Result<Vec<ApiToken>> {
        let mut conn = self.db.pool().acquire().await?;
        store::api_tokens_of(&mut conn, user_id).await
    }

    /// Revokes `user_id`'s token `id`; `NotFound` when they have no such live token.
    pub async fn revoke(&self, user_id: &str, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        if !store::revoke_api_token(&mut tx, user_id, id, now_millis()).await? {
            return Err(StaffError::not_found("API token", id));
        }
        let mut line = audit_line(user_id, "api_token_revoked", user_id, "done");
        line.detail = id.to_owned();
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The owner of a live token (marked used now), with the lower of the token's
    /// role and theirs; the same refusal for a token unknown, revoked, expired, or of
    /// a deactivated owner.
    pub async fn exchange(&self, text: &str) -> Result<User> {
        let now = now_millis();
        let mut conn = self.db.pool().acquire().await?;
        let token = match text.starts_with(PREFIX) {
            true => store::api_token_by_secret(&mut conn, &secret_hash(text)).await?,
            false => None,
        };
        let live = token.filter(|t| t.revoked_at.is_none() && now < t.expires_at);
        let owner = match &live {
            Some(t) => store::user(&mut conn, &t.user_id)
                .await?
                .filter(|u| u.active),
            None => None,
        };
        let (Some(token), Some(owner)) = (live, owner) else {
            let mut line = audit_line("", "api_token_exchange", "", "refused");
            line.subject = String::new();
            store::audit(&mut conn, &line).await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        };
        store::touch_api_token(&mut conn, &token.id, now).await?;
        let mut owner = owner;
        if rank(&token.role) > rank(&owner.role) {
            owner.role = token.role;
        }
        Ok(owner)
    }
}
