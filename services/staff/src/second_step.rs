//! The second factor's rules. A sign-in whose first factor held and that needs a
//! code waits five minutes for it; each try is claimed (counted) before the code is
//! looked at, so tries at once go one by one; a wrong or replayed code counts as a
//! failed sign-in (the account locks as for passwords, and the waiting sign-in ends
//! after five tries), so knowing the password buys no free guesses. Whatever ends a
//! person's sessions also ends their waiting sign-ins. A person turns the factor on
//! with their password and then a first code (and gets recovery codes, shown once),
//! off with a code; an admin (or a manager, for their teams' agents) takes it off
//! someone else who lost their phone. Admins must keep one when `admin_two_factor`
//! is set: an admin without one sets it up at sign-in. All of it is audited.

use ringside_identity::Invalid;
use ringside_proto::staff::{STEP_ENDED, WRONG_CODE};
use ringside_storage::now_millis;
use sqlx::AnyConnection;

use crate::error::{Result, StaffError};
use crate::model::User;
use crate::password::Verdict;
use crate::signin::{ENDED, REFUSED, SignIn, SignedIn, audit_line, secret_hash};
use crate::store::{self, AuditEntry};
use crate::totp::{self, Challenge, Enrolment, Taken};

/// Codes one waiting sign-in may try.
const MAX_ATTEMPTS: i64 = 5;
const ALREADY_ON: &str = "two-factor sign-in is already on; turn it off first";

fn wrong_code() -> StaffError {
    StaffError::Invalid(Invalid::new("code", "does not match"))
}

/// What a try at a waiting sign-in came to.
enum Outcome {
    /// The code held: the recovery codes made if it set the factor up.
    Held(Taken, Vec<String>),
    Refused(Option<Taken>),
}

impl SignIn {
    /// The second step of a sign-in from `address`: the code (TOTP or recovery) for
    /// the `challenge` the first step gave. A new session, with recovery codes when
    /// this sign-in set the factor up.
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
        let Some(waiting) = totp::claim_challenge(&mut tx, &hash, MAX_ATTEMPTS).await? else {
            return Err(StaffError::Unauthenticated(STEP_ENDED));
        };
        let user = store::user(&mut tx, &waiting.user_id).await?;
        let mut line = audit_line("", "sign_in_code", &waiting.user_id, "");
        line.detail = address.to_owned();
        let Some(user) = user.filter(|u| u.active) else {
            totp::delete_challenge(&mut tx, &hash).await?;
            line.outcome = "deactivated".into();
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(StaffError::Unauthenticated(STEP_ENDED));
        };
        let (_, locked_until) = store::failures(&mut tx, &user.id).await?;
        let outcome = match locked_until > now {
            true => Outcome::Refused(None),
            false => self.take(&mut tx, &user, &waiting, code).await?,
        };
        let (taken, recovery_codes) = match outcome {
            Outcome::Held(taken, codes) => (taken, codes),
            Outcome::Refused(taken) => {
                let ended = self
                    .refuse_code(&mut tx, &hash, &waiting, taken, line, now)
                    .await?;
                tx.commit().await?;
                let why = if ended { STEP_ENDED } else { WRONG_CODE };
                return Err(StaffError::Unauthenticated(why));
            }
        };
        totp::delete_challenge(&mut tx, &hash).await?;
        line.detail = format!("{address} {}", taken.as_str());
        let signed = self.session_for(&mut tx, user, line, now).await?;
        tx.commit().await?;
        Ok(match signed {
            SignedIn::Session { secret, user, .. } => SignedIn::Session {
                secret,
                user,
                recovery_codes,
            },
            step => step,
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
    ) -> Result<Outcome> {
        let Some(secret) = &waiting.enrol else {
            let taken = match totp::secret_of(conn, &user.id).await? {
                Some(secret) => totp::take_code(conn, &user.id, &secret, code).await?,
                // Taken off since the first step (an admin reset it).
                None => Taken::Wrong,
            };
            return Ok(match taken.holds() {
                true => Outcome::Held(taken, Vec::new()),
                false => Outcome::Refused(Some(taken)),
            });
        };
        let Some(step) = totp::matching_step(secret, code, totp::now_secs()) else {
            return Ok(Outcome::Refused(Some(Taken::Wrong)));
        };
        match enable(conn, &user.id, secret, step).await? {
            Some(codes) => Ok(Outcome::Held(Taken::Totp, codes)),
            // Another sign-in set a factor up meanwhile: this one's secret is stale.
            None => Ok(Outcome::Refused(None)),
        }
    }

    /// Writes a refused code down (a failed sign-in, unless the account was locked
    /// already): whether the waiting sign-in ended (the account locked, or it had its
    /// tries).
    async fn refuse_code(
        &self,
        conn: &mut AnyConnection,
        hash: &str,
        waiting: &Challenge,
        taken: Option<Taken>,
        mut line: AuditEntry,
        now: i64,
    ) -> Result<bool> {
        let locked = match taken {
            Some(_) => self.fail(conn, &waiting.user_id, now).await?,
            None => true,
        };
        line.outcome = match (taken, locked) {
            (Some(t), false) => t.as_str().into(),
            (Some(t), true) => format!("{}_locked", t.as_str()),
            (None, _) => "locked_or_stale".into(),
        };
        // `attempts` counts this try already.
        let ended = locked || waiting.attempts >= MAX_ATTEMPTS;
        if ended {
            totp::delete_challenge(conn, hash).await?;
        }
        store::audit(conn, &line).await?;
        Ok(ended)
    }

    /// Starts setting up `user_id`'s own second factor, their `password` confirming
    /// it is them (a session left open is not enough): a new secret for their app,
    /// which holds once `confirm_totp` gets a code of it.
    pub async fn start_totp(&self, user_id: &str, password: &str) -> Result<Enrolment> {
        let mut conn = self.db.pool().acquire().await?;
        let user = own(&mut conn, user_id).await?;
        let stored = store::password_hash(&mut conn, user_id).await?;
        drop(conn);
        if self.passwords.verify(password, stored.as_deref()).await == Verdict::Mismatch {
            let mut tx = self.db.begin().await?;
            self.fail(&mut tx, user_id, now_millis()).await?;
            let line = audit_line(user_id, "two_factor_started", user_id, "wrong_password");
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        }
        let mut tx = self.db.begin().await?;
        if totp::secret_of(&mut tx, user_id).await?.is_some() {
            return Err(StaffError::Refused(ALREADY_ON));
        }
        let enrolment = totp::new_enrolment(user.login.as_deref().unwrap_or(user_id))?;
        totp::set_pending(&mut tx, user_id, &enrolment.secret).await?;
        tx.commit().await?;
        Ok(enrolment)
    }

    /// Turns `user_id`'s second factor on with a code of the secret being set up:
    /// their new recovery codes (shown once). A wrong code counts as a failed sign-in.
    pub async fn confirm_totp(&self, user_id: &str, code: &str) -> Result<Vec<String>> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        own(&mut tx, user_id).await?;
        let (on, pending) = totp::secrets_of(&mut tx, user_id).await?;
        if on.is_some() {
            return Err(StaffError::Refused(ALREADY_ON));
        }
        let pending = pending.ok_or(StaffError::Refused(
            "start setting up two-factor sign-in first",
        ))?;
        let locked = locked_until(&mut tx, user_id).await? > now;
        let step = totp::matching_step(&pending, code, totp::now_secs());
        let Some(step) = step.filter(|_| !locked) else {
            self.fail(&mut tx, user_id, now).await?;
            let line = audit_line(user_id, "two_factor_enabled", user_id, "wrong_code");
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(wrong_code());
        };
        let codes = enable(&mut tx, user_id, &pending, step).await?;
        let codes = codes.ok_or(StaffError::Refused(ALREADY_ON))?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Turns `user_id`'s own second factor off, with a code of it (TOTP or recovery).
    /// A wrong code counts as a failed sign-in.
    pub async fn disable_totp(&self, user_id: &str, code: &str) -> Result<()> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let user = own(&mut tx, user_id).await?;
        let mut line = audit_line(user_id, "two_factor_disabled", user_id, "");
        if self.config.admin_two_factor && user.role == "admin" {
            line.outcome = "admins_must_keep_it".into();
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(StaffError::Refused(
                "admins must sign in with a second factor",
            ));
        }
        let secret = totp::secret_of(&mut tx, user_id).await?;
        let secret = secret.ok_or(StaffError::Refused("two-factor sign-in is not on"))?;
        let taken = match locked_until(&mut tx, user_id).await? > now {
            true => None,
            false => Some(totp::take_code(&mut tx, user_id, &secret, code).await?),
        };
        if let Some(taken) = taken.filter(|t| t.holds()) {
            totp::disable(&mut tx, user_id).await?;
            line.outcome = "done".into();
            line.detail = taken.as_str().into();
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Ok(());
        }
        line.outcome = match taken {
            Some(t) => match self.fail(&mut tx, user_id, now).await? {
                false => t.as_str().into(),
                true => format!("{}_locked", t.as_str()),
            },
            None => "locked".into(),
        };
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Err(wrong_code())
    }

    /// Takes the second factor off `user_id` (who lost their phone), as `actor`, who
    /// is someone else (one's own goes off with a code): their sessions end, and they
    /// sign in with their first factor alone (or set a new factor up at sign-in, for
    /// an admin who must have one). Whether it was on.
    pub async fn reset_totp(&self, actor: &str, user_id: &str) -> Result<bool> {
        if actor == user_id {
            return Err(StaffError::PermissionDenied(
                "turn your own second factor off with a code of it",
            ));
        }
        let mut tx = self.db.begin().await?;
        if store::user(&mut tx, user_id).await?.is_none() {
            return Err(StaffError::not_found("user", user_id));
        }
        let was_on = totp::disable(&mut tx, user_id).await?;
        store::delete_sessions_of(&mut tx, user_id).await?;
        let outcome = if was_on { "done" } else { "was_off" };
        let line = audit_line(actor, "two_factor_reset", user_id, outcome);
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok(was_on)
    }

    /// Whether `user_id` has a second factor on, and how many recovery codes are left.
    pub async fn two_factor(&self, user_id: &str) -> Result<(bool, i64)> {
        let mut conn = self.db.pool().acquire().await?;
        let on = totp::secret_of(&mut conn, user_id).await?.is_some();
        Ok((on, totp::codes_left(&mut conn, user_id).await?))
    }
}

/// Turns the factor on (see [`totp::enable`]) and audits it.
async fn enable(
    conn: &mut AnyConnection,
    user_id: &str,
    secret: &str,
    step: i64,
) -> Result<Option<Vec<String>>> {
    let codes = totp::enable(conn, user_id, secret, step).await?;
    if codes.is_some() {
        let line = audit_line(user_id, "two_factor_enabled", user_id, "done");
        store::audit(conn, &line).await?;
    }
    Ok(codes)
}

/// Until when `user_id`'s account is locked (Unix ms; 0 or past: it is not).
async fn locked_until(conn: &mut AnyConnection, user_id: &str) -> Result<i64> {
    Ok(store::failures(conn, user_id).await?.1)
}

/// The caller's own account, which must still be active.
async fn own(conn: &mut AnyConnection, user_id: &str) -> Result<User> {
    let user = store::user(conn, user_id).await?.filter(|u| u.active);
    user.ok_or(StaffError::Unauthenticated(ENDED))
}
