//! The second factor's parts: TOTP codes (RFC 6238 as every authenticator app reads
//! it: SHA-1, six digits, 30-second steps, one step of skew either way), one-time
//! recovery codes, and the sign-ins waiting for a code, with their SQL. A code is
//! taken once: the last step used is kept and only a later one is accepted (a
//! compare-and-set in the store), so a code seen over a shoulder or sent twice is
//! refused. Recovery codes are random, shown once, kept as hashes and deleted when
//! used. The rules that use these parts are the sign-in's (`second_step`).

use ringside_identity::Invalid;
use ringside_storage::now_millis;
use sqlx::AnyConnection;
use totp_rs::{Algorithm, Builder, Totp};

use crate::error::{Result, StaffError};
use crate::signin::secret_hash;

/// The name authenticator apps show beside the login.
pub const ISSUER: &str = "Ringside";
/// Recovery codes made at once.
const RECOVERY_CODES: usize = 10;
/// Letters of a recovery code (no 0/o, 1/l/i to misread).
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A secret to set up in an authenticator app: base32, and the `otpauth://` address
/// a QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub secret: String,
    pub url: String,
}

/// What a code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Totp,
    Recovery,
    /// A right code of a step already used.
    Replayed,
    Wrong,
}

impl Taken {
    pub fn holds(self) -> bool {
        matches!(self, Taken::Totp | Taken::Recovery)
    }

    /// How the audit trail names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Taken::Totp => "totp",
            Taken::Recovery => "recovery_code",
            Taken::Replayed => "replayed_code",
            Taken::Wrong => "wrong_code",
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes
}

fn totp(secret: &str, login: &str) -> Option<Totp> {
    let bytes = totp_rs::Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(bytes)
        .with_issuer(Some(ISSUER))
        .with_account_name(login)
        .build()
        .ok()
}

/// A new secret of 160 bits for `login`.
pub fn new_enrolment(login: &str) -> Result<Enrolment> {
    let secret = totp_rs::Secret::from(random_bytes::<20>().to_vec()).to_base32();
    let url = totp(&secret, login)
        .and_then(|t| t.to_url().ok())
        .ok_or_else(|| {
            StaffError::Invalid(Invalid::new("login", "cannot go in an authenticator app"))
        })?;
    Ok(Enrolment { secret, url })
}

/// The time step `code` (digits, spaces allowed) matches at `now_secs` for `secret`.
pub fn matching_step(secret: &str, code: &str, now_secs: u64) -> Option<i64> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret, "x")?.check(&digits, now_secs)?;
    i64::try_from(step).ok()
}

/// The current time in whole seconds.
pub fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}

/// A set of new recovery codes (`xxxxx-xxxxx`, 49 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let letters: String = (0..10).map(|_| random_letter()).collect();
            format!("{}-{}", &letters[..5], &letters[5..])
        })
        .collect()
}

/// One letter of [`ALPHABET`], each as likely (bytes past its last whole multiple
/// are drawn again).
fn random_letter() -> char {
    let fair = 256 - 256 % ALPHABET.len();
    loop {
        let [b] = random_bytes::<1>();
        if usize::from(b) < fair {
            return ALPHABET[usize::from(b) % ALPHABET.len()] as char;
        }
    }
}

/// The stored form of a recovery code as typed (any case, with or without the dash).
fn recovery_hash(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    secret_hash(&letters)
}

/// Takes `code` for `user_id`, whose secret is `secret`: a TOTP code of a later step
/// than the last one taken, or an unused recovery code (used up by this).
pub async fn take_code(
    conn: &mut AnyConnection,
    user_id: &str,
    secret: &str,
    code: &str,
) -> Result<Taken> {
    if let Some(step) = matching_step(secret, code, now_secs()) {
        return Ok(match take_step(conn, user_id, step).await? {
            true => Taken::Totp,
            false => Taken::Replayed,
        });
    }
    let done = sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1 AND code_hash = $2")
        .bind(user_id)
        .bind(recovery_hash(code))
        .execute(conn)
        .await?;
    Ok(match done.rows_affected() {
        0 => Taken::Wrong,
        _ => Taken::Recovery,
    })
}

/// The secret of `user_id`'s second factor when it is on, and the one they are
/// setting up.
pub async fn secrets_of(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(Option<String>, Option<String>)> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT secret, pending FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.unwrap_or_default())
}

/// The secret of `user_id`'s second factor, when it is on.
pub async fn secret_of(conn: &mut AnyConnection, user_id: &str) -> Result<Option<String>> {
    Ok(secrets_of(conn, user_id).await?.0)
}

/// Marks `step` used, when it is later than the last one; whether it was.
async fn take_step(conn: &mut AnyConnection, user_id: &str, step: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE user_totp SET last_step = $2 WHERE user_id = $1 AND last_step < $2")
            .bind(user_id)
            .bind(step)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Remembers the secret `user_id` is setting up (replacing one they started before).
pub async fn set_pending(conn: &mut AnyConnection, user_id: &str, secret: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_totp (user_id, pending, last_step) VALUES ($1, $2, 0) \
         ON CONFLICT (user_id) DO UPDATE SET pending = $2",
    )
    .bind(user_id)
    .bind(secret)
    .execute(conn)
    .await?;
    Ok(())
}

/// Turns `user_id`'s second factor on with `secret`, whose `step` was just used,
/// unless one is on already (`None`: a factor set up by another sign-in or device is
/// never replaced this way). Ends every sign-in of theirs waiting for a code, and
/// gives them new recovery codes (returned, to be shown once).
pub async fn enable(
    conn: &mut AnyConnection,
    user_id: &str,
    secret: &str,
    step: i64,
) -> Result<Option<Vec<String>>> {
    let done = sqlx::query(
        "INSERT INTO user_totp (user_id, secret, pending, last_step, enabled_at) \
         VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (user_id) DO UPDATE \
         SET secret = $2, pending = NULL, last_step = $3, enabled_at = $4 \
         WHERE user_totp.secret IS NULL",
    )
    .bind(user_id)
    .bind(secret)
    .bind(step)
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    for sql in [
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        "DELETE FROM sign_in_challenges WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    let codes = new_recovery_codes();
    for code in &codes {
        sqlx::query("INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(recovery_hash(code))
            .execute(&mut *conn)
            .await?;
    }
    Ok(Some(codes))
}

/// Turns `user_id`'s second factor off: secret, set-up, recovery codes and waiting
/// sign-ins go. Whether it was on.
pub async fn disable(conn: &mut AnyConnection, user_id: &str) -> Result<bool> {
    let on = secret_of(conn, user_id).await?.is_some();
    for sql in [
        "DELETE FROM user_totp WHERE user_id = $1",
        "DELETE FROM totp_recovery_codes WHERE user_id = $1",
        "DELETE FROM sign_in_challenges WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    Ok(on)
}

/// Recovery codes `user_id` has left.
pub async fn codes_left(conn: &mut AnyConnection, user_id: &str) -> Result<i64> {
    let left = sqlx::query_scalar("SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(left)
}

/// A sign-in whose password held, waiting for its code.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user_id: String,
    /// The secret being enrolled (base32), for a sign-in that sets the factor up.
    pub enrol: Option<String>,
    pub attempts: i64,
    pub expires_at: i64,
}

/// Keeps a new waiting sign-in (and forgets the expired ones).
pub async fn insert_challenge(
    conn: &mut AnyConnection,
    secret_hash: &str,
    c: &Challenge,
) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_challenges WHERE expires_at < $1")
        .bind(now_millis())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sign_in_challenges (secret_hash, user_id, enrol, attempts, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secret_hash)
    .bind(&c.user_id)
    .bind(&c.enrol)
    .bind(c.attempts)
    .bind(c.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims one try of the waiting sign-in `secret_hash`: counted before the code is
/// looked at, and only while it is live and has tries left. The row stays locked
/// (PostgreSQL) until the transaction ends, so tries at once go one by one.
pub async fn claim_challenge(
    conn: &mut AnyConnection,
    secret_hash: &str,
    max_attempts: i64,
) -> Result<Option<Challenge>> {
    let claimed = sqlx::query(
        "UPDATE sign_in_challenges SET attempts = attempts + 1 \
         WHERE secret_hash = $1 AND attempts < $2 AND expires_at > $3",
    )
    .bind(secret_hash)
    .bind(max_attempts)
    .bind(now_millis())
    .execute(&mut *conn)
    .await?;
    match claimed.rows_affected() {
        0 => Ok(None),
        _ => challenge(conn, secret_hash).await,
    }
}

async fn challenge(conn: &mut AnyConnection, secret_hash: &str) -> Result<Option<Challenge>> {
    let row: Option<(String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT user_id, enrol, attempts, expires_at FROM sign_in_challenges \
         WHERE secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(user_id, enrol, attempts, expires_at)| Challenge {
        user_id,
        enrol,
        attempts,
        expires_at,
    }))
}

/// Ends a waiting sign-in.
pub async fn delete_challenge(conn: &mut AnyConnection, secret_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_challenges WHERE secret_hash = $1")
        .bind(secret_hash)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_own_step_and_its_neighbours_only() {
        let e = new_enrolment("olga@example.test").unwrap();
        let t = totp(&e.secret, "x").unwrap();
        let now = 1_800_000_000;
        let code = t.generate(now).to_string();
        assert_eq!(matching_step(&e.secret, &code, now), Some(60_000_000));
        assert_eq!(matching_step(&e.secret, &code, now + 30), Some(60_000_000));
        assert_eq!(matching_step(&e.secret, &code, now + 90), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&e.secret, &spaced, now), Some(60_000_000));
        assert_eq!(matching_step(&e.secret, "12345", now), None);
        assert!(
            e.url
                .starts_with("otpauth://totp/Ringside:olga%40example.test?")
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        );
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash(&typed), recovery_hash(&codes[0]));
    }
}
