//! Signing people in with a password, and their sessions. A sign-in answers the same
//! for an unknown login, a wrong password and a locked account, and takes as long
//! (the password is checked in every case). Failed attempts in a row lock the account
//! for a while that doubles with each further failure (the right password is refused
//! while it is locked); every address is held to a rate of attempts. A user with a
//! second factor (see `second_step`) gets a code step instead of a session. A session is a
//! random secret given to the browser once; only its hash is kept. It ends when idle
//! too long, at its absolute limit, at sign-out, "sign out everywhere", a password
//! change, a role change or deactivation. Everything here is written to the audit
//! trail.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ringside_storage::{Db, now_millis};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::error::{Result, StaffError};
use crate::model::User;
use crate::password::{Passwords, Verdict};
use crate::store::{self, AuditEntry, Lookup, StoredSession};
use crate::totp::{self, Challenge, Enrolment};

/// The one answer to a sign-in that does not hold.
pub(crate) const REFUSED: &str = "wrong login or password";
pub(crate) const ENDED: &str = "the session has ended; sign in again";
const LINK_REFUSED: &str =
    "this link is not valid (used, expired or replaced); ask an admin for a new one";
/// How often a session's use is written (its idle clock has this resolution).
const TOUCH_EVERY_MS: i64 = 60_000;
/// How long a sign-in waits for its code, in ms.
const CHALLENGE_MS: i64 = 5 * 60_000;
/// Addresses remembered by the rate limiter before the idle ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Failures in a row allowed before the account locks.
    pub free_failures: i64,
    /// The first lock; each further failure doubles it, up to `max_lock`.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Attempts one address may make at once, and how often one more is allowed.
    pub address_burst: u32,
    pub address_every: Duration,
    /// Admins must sign in with a second factor (and set one up at their next sign-in
    /// when they have none).
    pub admin_two_factor: bool,
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            free_failures: 5,
            first_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(3600),
            address_burst: 20,
            address_every: Duration::from_secs(10),
            admin_two_factor: false,
        }
    }
}

#[derive(Clone)]
pub struct SignIn {
    pub(crate) db: Db,
    pub(crate) passwords: Passwords,
    pub(crate) config: SignInConfig,
    addresses: Arc<DefaultKeyedRateLimiter<String>>,
}

/// Where a sign-in got to.
#[derive(Debug)]
pub enum SignedIn {
    /// A new session: its secret (for the browser, shown once) and the user, with the
    /// recovery codes made when this sign-in set up a second factor (shown once).
    Session {
        secret: String,
        user: Box<User>,
        recovery_codes: Vec<String>,
    },
    /// The password held and a code is wanted: the challenge's secret (shown once),
    /// when it expires, and the secret to set up when the user has none yet.
    SecondStep {
        challenge: String,
        expires_at: i64,
        enrol: Option<Enrolment>,
    },
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The stored form of a secret (a session's, an API token's).
pub(crate) fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 256 random bits, base64url.
pub(crate) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    B64.encode(bytes)
}

/// An audit line made now.
pub fn audit_line(actor: &str, action: &str, subject: &str, outcome: &str) -> AuditEntry {
    AuditEntry {
        at: now_millis(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        outcome: outcome.to_owned(),
        ..AuditEntry::default()
    }
}

impl SignedIn {
    /// The session's secret and user, when this is a session.
    pub fn session(self) -> Option<(String, User)> {
        match self {
            SignedIn::Session { secret, user, .. } => Some((secret, *user)),
            SignedIn::SecondStep { .. } => None,
        }
    }
}

impl SignIn {
    pub fn new(db: Db, config: SignInConfig) -> Self {
        let burst = NonZeroU32::new(config.address_burst.max(1)).expect("at least one");
        let quota = Quota::with_period(config.address_every)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        SignIn {
            db,
            passwords: Passwords::new(),
            config,
            addresses: Arc::new(RateLimiter::keyed(quota)),
        }
    }

    /// How long a session lives at most, in ms.
    pub fn absolute_ms(&self) -> i64 {
        millis(self.config.absolute)
    }

    /// Holds `address` to its rate of attempts.
    pub(crate) async fn limit(&self, address: &str) -> Result<()> {
        if self.addresses.len() > MAX_ADDRESSES {
            self.addresses.retain_recent();
        }
        if self.addresses.check_key(&address.to_owned()).is_err() {
            let mut line = audit_line("", "sign_in", "", "too_many_attempts");
            line.detail = address.to_owned();
            self.write_audit(&line).await?;
            return Err(StaffError::TooManyAttempts);
        }
        Ok(())
    }

    /// Checks a login and password from `address`: a new session, or (for a user
    /// with a second factor, or an admin who must have one) a step asking for a code.
    pub async fn sign_in(&self, login: &str, password: &str, address: &str) -> Result<SignedIn> {
        self.limit(address).await?;
        let mut conn = self.db.pool().acquire().await?;
        let login = Lookup::Login(login.trim().to_lowercase());
        let user = match store::find(&mut conn, &login).await? {
            Some(id) => store::user(&mut conn, &id).await?,
            None => None,
        };
        let stored = match &user {
            Some(u) => store::password_hash(&mut conn, &u.id).await?,
            None => None,
        };
        drop(conn);
        // Checked whatever is known, so every refusal takes as long.
        let verdict = self.passwords.verify(password, stored.as_deref()).await;
        let mut line = audit_line("", "sign_in", "", "");
        line.detail = address.to_owned();
        let Some(user) = user else {
            line.outcome = "unknown_login".into();
            self.write_audit(&line).await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        };
        line.subject = user.id.clone();
        self.settle(user, verdict, line).await
    }

    /// The outcome of a sign-in by a known user, in one transaction.
    async fn settle(&self, user: User, verdict: Verdict, mut line: AuditEntry) -> Result<SignedIn> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let (_, locked_until) = store::failures(&mut tx, &user.id).await?;
        let rehash = match verdict {
            _ if locked_until > now => {
                line.outcome = "locked".into();
                None
            }
            Verdict::Mismatch => {
                let locked = self.fail(&mut tx, &user.id, now).await?;
                line.outcome = match locked {
                    false => "wrong_password".into(),
                    true => "wrong_password_locked".into(),
                };
                None
            }
            Verdict::Match { rehash } => Some(rehash),
        };
        let Some(rehash) = rehash else {
            store::audit(&mut tx, &line).await?;
            tx.commit().await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        };
        if let Some(hash) = rehash {
            store::set_password_hash(&mut tx, &user.id, &hash, now).await?;
        }
        let signed = self.admit(&mut tx, user, line, now).await?;
        tx.commit().await?;
        Ok(signed)
    }

    /// Lets `user` in, whose first factor (a password, the provider) held: the step
    /// asking for a code when they have a second factor or must set one up, else a
    /// session. Audited with `line`, on `conn` (the caller's transaction).
    pub(crate) async fn admit(
        &self,
        conn: &mut AnyConnection,
        user: User,
        mut line: AuditEntry,
        now: i64,
    ) -> Result<SignedIn> {
        // The failures in a row stand until the code holds too.
        if let Some(step) = self.second_step(conn, &user, now).await? {
            line.outcome = "first_factor_held".into();
            store::audit(conn, &line).await?;
            return Ok(step);
        }
        self.session_for(conn, user, line, now).await
    }

    /// A new session for `user`, who is through every step: the failures in a row
    /// are forgotten, and `line` is audited as signed in.
    pub(crate) async fn session_for(
        &self,
        conn: &mut AnyConnection,
        user: User,
        mut line: AuditEntry,
        now: i64,
    ) -> Result<SignedIn> {
        store::set_failures(conn, &user.id, 0, 0, now).await?;
        let secret = self.start_session(conn, &user.id, now).await?;
        line.outcome = "signed_in".into();
        store::audit(conn, &line).await?;
        Ok(SignedIn::Session {
            secret,
            user: Box::new(user),
            recovery_codes: Vec::new(),
        })
    }

    /// One more failure in a row for `user_id`: whether the account is now locked.
    pub(crate) async fn fail(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        now: i64,
    ) -> Result<bool> {
        let failures = store::add_failure(conn, user_id, now).await?;
        let lock = self.lock_for(failures);
        if lock > 0 {
            store::lock_until(conn, user_id, now + lock).await?;
        }
        Ok(lock > 0)
    }

    /// The code step `user` must take after their password, if any: they have a
    /// second factor, or are an admin who must set one up now.
    async fn second_step(
        &self,
        conn: &mut AnyConnection,
        user: &User,
        now: i64,
    ) -> Result<Option<SignedIn>> {
        let has = totp::secret_of(conn, &user.id).await?.is_some();
        let enrol = match has {
            true => None,
            false if self.config.admin_two_factor && user.role == "admin" => Some(
                totp::new_enrolment(user.login.as_deref().unwrap_or(&user.id))?,
            ),
            false => return Ok(None),
        };
        let challenge = new_secret();
        let waiting = Challenge {
            user_id: user.id.clone(),
            enrol: enrol.as_ref().map(|e| e.secret.clone()),
            attempts: 0,
            expires_at: now + CHALLENGE_MS,
        };
        totp::insert_challenge(conn, &secret_hash(&challenge), &waiting).await?;
        Ok(Some(SignedIn::SecondStep {
            challenge,
            expires_at: waiting.expires_at,
            enrol,
        }))
    }

    /// How long the `failures`-th failure in a row locks the account, in ms.
    fn lock_for(&self, failures: i64) -> i64 {
        let over = failures - self.config.free_failures - 1;
        if over < 0 {
            return 0;
        }
        let doubled = millis(self.config.first_lock).saturating_mul(1i64 << over.min(30));
        doubled.min(millis(self.config.max_lock))
    }

    pub(crate) async fn start_session(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        now: i64,
    ) -> Result<String> {
        let secret = new_secret();
        let session = StoredSession {
            user_id: user_id.to_owned(),
            created_at: now,
            seen_at: now,
            expires_at: now + millis(self.config.absolute),
        };
        store::insert_session(conn, &secret_hash(&secret), &session).await?;
        Ok(secret)
    }

    /// The user of a live session, which counts as used now; an ended session (idle,
    /// past its limit, signed out, or of a deactivated user) is refused.
    pub async fn open(&self, secret: &str) -> Result<User> {
        let hash = secret_hash(secret);
        let now = now_millis();
        let mut conn = self.db.pool().acquire().await?;
        let session = store::session(&mut conn, &hash).await?;
        let live =
            session.filter(|s| now < s.expires_at && now - s.seen_at < millis(self.config.idle));
        let user = match &live {
            Some(s) => store::user(&mut conn, &s.user_id)
                .await?
                .filter(|u| u.active),
            None => None,
        };
        let Some(user) = user else {
            store::delete_session(&mut conn, &hash).await?;
            return Err(StaffError::Unauthenticated(ENDED));
        };
        // An open console asks every few seconds: the use is written once a minute
        // (or a quarter of the idle limit, when that is shorter).
        let every = TOUCH_EVERY_MS.min(millis(self.config.idle) / 4);
        if live.is_some_and(|s| now - s.seen_at >= every) {
            store::touch_session(&mut conn, &hash, now).await?;
        }
        Ok(user)
    }

    /// Ends one session (signing out); how many ended (0 for one already ended,
    /// which is not an error).
    pub async fn sign_out(&self, secret: &str) -> Result<u64> {
        let mut conn = self.db.pool().acquire().await?;
        store::delete_session(&mut conn, &secret_hash(secret)).await
    }

    /// Ends every session of `user_id`, as `actor` asked; how many there were.
    pub async fn sign_out_everywhere(&self, actor: &str, user_id: &str) -> Result<u64> {
        let mut tx = self.db.begin().await?;
        let ended = store::delete_sessions_of(&mut tx, user_id).await?;
        let mut line = audit_line(actor, "sign_out_everywhere", user_id, "done");
        line.detail = format!("{ended} sessions");
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Gives `user_id` a new password (as `actor`): their sessions end and any lock
    /// is lifted.
    pub async fn set_password(&self, actor: &str, user_id: &str, password: &str) -> Result<()> {
        let hash = self.passwords.hash(password).await?;
        let mut tx = self.db.begin().await?;
        if store::user(&mut tx, user_id).await?.is_none() {
            return Err(StaffError::not_found("user", user_id));
        }
        Self::store_password(&mut tx, actor, user_id, &hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a new password hash: any lock is lifted, the sessions end, and it is audited.
    async fn store_password(
        conn: &mut AnyConnection,
        actor: &str,
        user_id: &str,
        hash: &str,
    ) -> Result<()> {
        let now = now_millis();
        store::set_password_hash(conn, user_id, hash, now).await?;
        store::set_failures(conn, user_id, 0, 0, now).await?;
        store::delete_sessions_of(conn, user_id).await?;
        store::delete_password_link_of(conn, user_id).await?;
        store::audit(conn, &audit_line(actor, "password_set", user_id, "done")).await
    }

    /// A one-time link for `user_id` to set their password with, made by `actor`: its
    /// secret (shown once) and when it expires. It replaces the link they had.
    pub async fn create_password_link(
        &self,
        actor: &str,
        user_id: &str,
        valid_for: Duration,
    ) -> Result<(String, i64)> {
        let now = now_millis();
        let expires_at = now + millis(valid_for);
        let secret = new_secret();
        let mut tx = self.db.begin().await?;
        if store::user(&mut tx, user_id).await?.is_none() {
            return Err(StaffError::not_found("user", user_id));
        }
        store::insert_password_link(&mut tx, &secret_hash(&secret), user_id, now, expires_at)
            .await?;
        let line = audit_line(actor, "password_link_created", user_id, "done");
        store::audit(&mut tx, &line).await?;
        tx.commit().await?;
        Ok((secret, expires_at))
    }

    /// Sets a password with a one-time link, which is used up; an unknown, used or
    /// expired link is refused and changes nothing. Returns the user.
    pub async fn use_password_link(&self, secret: &str, password: &str) -> Result<User> {
        // Only a live link's password is hashed (a link cannot be guessed, so a quick
        // refusal tells nothing, and nobody can make the server hash at will).
        let mut conn = self.db.pool().acquire().await?;
        let live = store::password_link(&mut conn, &secret_hash(secret)).await?;
        drop(conn);
        if live.is_none_or(|(_, expires_at)| now_millis() >= expires_at) {
            return Err(StaffError::Unauthenticated(LINK_REFUSED));
        }
        let hash = self.passwords.hash(password).await?;
        let mut tx = self.db.begin().await?;
        let taken = store::take_password_link(&mut tx, &secret_hash(secret)).await?;
        let user = match taken {
            Some((user_id, expires_at)) if now_millis() < expires_at => {
                store::user(&mut tx, &user_id).await?.filter(|u| u.active)
            }
            _ => None,
        };
        let Some(user) = user else {
            // The transaction is dropped: a link that did not hold is not used up
            // by trying it (an expired one is cleared when the next link is made).
            return Err(StaffError::Unauthenticated(LINK_REFUSED));
        };
        Self::store_password(&mut tx, &user.id, &user.id, &hash).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// A user's own change of password: the current one must match.
    pub async fn change_password(&self, user_id: &str, current: &str, new: &str) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let stored = store::password_hash(&mut conn, user_id).await?;
        drop(conn);
        if self.passwords.verify(current, stored.as_deref()).await == Verdict::Mismatch {
            let line = audit_line(user_id, "password_change", user_id, "wrong_password");
            self.write_audit(&line).await?;
            return Err(StaffError::Unauthenticated(REFUSED));
        }
        self.set_password(user_id, user_id, new).await
    }

    pub(crate) async fn write_audit(&self, line: &AuditEntry) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        store::audit(&mut conn, line).await
    }
}
