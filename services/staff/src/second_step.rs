//! The second factor's rules. A sign-in whose password held and that needs a code
//! waits five minutes for it; a wrong or replayed code counts as a failed sign-in
//! (the account locks as for passwords, and the waiting sign-in ends after a few),
//! so knowing the password buys no free guesses. A person turns the factor on by
//! confirming a first code (and gets recovery codes, shown once), off with a code;
//! an admin (or a manager, for their teams' agents) takes it off someone who lost
//! their phone. Admins must keep one when `admin_two_factor` is set: an admin without
//! one sets it up at sign-in. All of it is audited.

use ringside_identity::Invalid;
use ringside_storage::now_millis;
use sqlx::AnyConnection;

use crate::error::{Result, StaffError};
use crate::model::User;
use crate::signin::{ENDED, SignIn, SignedIn, audit_line, secret_hash};
use crate::store::{self, AuditEntry};
use crate::totp::{self, Challenge, Enrolment, Taken};

/// Codes one waiting sign-in may try.
const MAX_ATTEMPTS: i64 = 5;
const STEP_ENDED: &str = "this sign-in has ended; enter your password again";

fn wrong_code() -> StaffError {
    StaffError::Invalid(Invalid::new("code", "does not match"))
}

impl SignIn {
    /// The second step of a sign-in from `address`: the code (TOTP or recovery) for
    /// the `challenge` the password step gave. A new session, with recovery codes
    /// when this sign-in set the factor up.
    pub async fn sign_in_with_code(
        &self,
        challenge: &str,
        code: &str,
        address: &str,
    ) -> Result<SignedIn> {
        self.limit(address).await?;
        let hash = secret_hash(challenge);
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let waiting = totp::challenge(&mut tx, &hash)
            .await?
            .filter(|c| now < c.expires_at && c.attempts < MAX_ATTEMPTS);
        let user = match &waiting {
            Some(c) => store::user(&mut tx, &c.user_id).await?.filter(|u| u.active),
            None => None,
        };
        let (Some(waiting), Some(user)) = (waiting, user) else {
            return Err(StaffError::Unauthenticated(STEP_ENDED));
        };
        let mut line = audit_line("", "sign_in_code", &user.id, "");
        line.detail = address.to_owned();
        let (failures, locked_until) = store::failures(&mut tx, &user.id).await?;
        let taken = match locked_until > now {
            true => None,
            false => Some(self.take(&mut tx, &user, &waiting, code).await?),
        };
        let (taken, recovery_codes) = match taken {
            Some((t, codes)) if t.holds() => (t, codes),
            refused => {
                let refused = refused.map(|(t, _)| t);
                let locked = match refused {
                    None => true,
                    Some(_) => self.fail(&mut tx, &user.id, failures, now).await?,
                };
                line.outcome = match (refused, locked) {
                    (Some(t), false) => t.as_str().into(),
                    (Some(t), true) => format!("{}_locked", t.as_str()),
                    (None, _) => "locked".into(),
                };
                self.end_attempt(&mut tx, &hash, &waiting, locked, &line)
                    .await?;
                tx.commit().await?;
                return Err(StaffError::Unauthenticated(
                    ringside_proto::staff::WRONG_CODE,
                ));
            }
        };
        store::set_failures(&mut tx, &user.id, 0, 0, now).await?;
        totp::delete_challenge(&mut tx, &hash, &user.id).await?;
        let secret = self.start_session(&mut tx, &user.id, now).await?;
        line.outcome = "signed_in".into();
        line.detail = format!("{address} {}", taken.as_str());
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok(SignedIn::Session {
            secret,
            user: Box::new(user),
            recovery_codes,
        })
    }

    /// Takes `code` for a waiting sign-in: against the secret it enrols (turning the
    /// factor on, with new recovery codes) or the user's own.
    async fn take(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        waiting: &Challenge,
        code: &str,
    ) -> Result<(Taken, Vec<String>)> {
        match &waiting.enrol {
            Some(secret) => match totp::matching_step(secret, code, totp::now_secs()) {
                Some(step) => {
                    let codes = totp::enable(conn, &user.id, secret, step).await?;
                    let line = audit_line(&user.id, "two_factor_enabled", &user.id, "done");
                    store::audit(conn, &line).await?;
                    Ok((Taken::Totp, codes))
                }
                None => Ok((Taken::Wrong, Vec::new())),
            },
            None => match totp::secret_of(conn, &user.id).await? {
                Some(secret) => Ok((
                    totp::take_code(conn, &user.id, &secret, code).await?,
                    vec![],
                )),
                // Taken off since the password step (an admin reset it).
                None => Ok((Taken::Wrong, Vec::new())),
            },
        }
    }

    /// Writes a refused code down: the waiting sign-in ends when the account locked
    /// or it has had its tries.
    async fn end_attempt(
        &self,
        conn: &mut AnyConnection,
        hash: &str,
        waiting: &Challenge,
        locked: bool,
        line: &AuditEntry,
    ) -> Result<()> {
        match locked || waiting.attempts + 1 >= MAX_ATTEMPTS {
            true => totp::delete_challenge(conn, hash, &waiting.user_id).await?,
            false => totp::count_attempt(conn, hash).await?,
        }
        store::audit(conn, line).await
    }

    /// Starts setting up `user_id`'s own second factor: a new secret for their app,
    /// which holds once `confirm_totp` gets a code of it.
    pub async fn start_totp(&self, user_id: &str) -> Result<Enrolment> {
        let mut tx = self.db.begin().await?;
        let user = self.own(&mut tx, user_id).await?;
        if totp::secret_of(&mut tx, user_id).await?.is_some() {
            return Err(StaffError::Refused(
                "two-factor sign-in is already on; turn it off first",
            ));
        }
        let enrolment = totp::new_enrolment(user.login.as_deref().unwrap_or(user_id))?;
        totp::set_pending(&mut tx, user_id, &enrolment.secret).await?;
        tx.commit().await?;
        Ok(enrolment)
    }

    /// Turns `user_id`'s second factor on with a code of the secret being set up:
    /// their new recovery codes (shown once).
    pub async fn confirm_totp(&self, user_id: &str, code: &str) -> Result<Vec<String>> {
        let mut tx = self.db.begin().await?;
        let pending = totp::pending_of(&mut tx, user_id).await?;
        let pending = pending.ok_or(StaffError::Refused(
            "start setting up two-factor sign-in first",
        ))?;
        let Some(step) = totp::matching_step(&pending, code, totp::now_secs()) else {
            return Err(wrong_code());
        };
        let codes = totp::enable(&mut tx, user_id, &pending, step).await?;
        store::audit(
            &mut tx,
            &audit_line(user_id, "two_factor_enabled", user_id, "done"),
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns `user_id`'s own second factor off, with a code of it (TOTP or recovery).
    /// A wrong code counts as a failed sign-in.
    pub async fn disable_totp(&self, user_id: &str, code: &str) -> Result<()> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let user = self.own(&mut tx, user_id).await?;
        if self.config.admin_two_factor && user.role == "admin" {
            return Err(StaffError::Refused(
                "admins must sign in with a second factor",
            ));
        }
        let secret = totp::secret_of(&mut tx, user_id).await?;
        let secret = secret.ok_or(StaffError::Refused("two-factor sign-in is not on"))?;
        let (failures, locked_until) = store::failures(&mut tx, user_id).await?;
        let taken = match locked_until > now {
            true => Taken::Wrong,
            false => totp::take_code(&mut tx, user_id, &secret, code).await?,
        };
        if !taken.holds() {
            if locked_until <= now {
                self.fail(&mut tx, user_id, failures, now).await?;
            }
            let line = audit_line(user_id, "two_factor_disabled", user_id, taken.as_str());
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(wrong_code());
        }
        totp::disable(&mut tx, user_id).await?;
        store::audit(
            &mut tx,
            &audit_line(user_id, "two_factor_disabled", user_id, "done"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the second factor off `user_id` (who lost their phone), as `actor`: their
    /// sessions end, and they sign in with their password alone (or set a new factor
    /// up at sign-in, for an admin who must have one). Whether it was on.
    pub async fn reset_totp(&self, actor: &str, user_id: &str) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        if store::user(&mut tx, user_id).await?.is_none() {
            return Err(StaffError::not_found("user", user_id));
        }
        let was_on = totp::disable(&mut tx, user_id).await?;
        store::delete_sessions_of(&mut tx, user_id).await?;
        let outcome = if was_on { "done" } else { "was_off" };
        store::audit(
            &mut tx,
            &audit_line(actor, "two_factor_reset", user_id, outcome),
        )
        .await?;
        tx.commit().await?;
        Ok(was_on)
    }

    /// Whether `user_id` has a second factor on, and how many recovery codes are left.
    pub async fn two_factor(&self, user_id: &str) -> Result<(bool, i64)> {
        let mut conn = self.db.pool().acquire().await?;
        let on = totp::secret_of(&mut conn, user_id).await?.is_some();
        Ok((on, totp::codes_left(&mut conn, user_id).await?))
    }

    /// The caller's own account, which must still be active.
    async fn own(&self, conn: &mut AnyConnection, user_id: &str) -> Result<User> {
        let user = store::user(conn, user_id).await?.filter(|u| u.active);
        user.ok_or(StaffError::Unauthenticated(ENDED))
    }
}
