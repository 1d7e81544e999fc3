//! Passwords: argon2id with OWASP's parameters (the argon2 crate's defaults: 19 MiB,
//! two passes, one lane), hashed off the async threads and at most two at a time so
//! a burst of sign-ins cannot take the machine's memory. A hash stored with other
//! parameters is replaced at the next successful sign-in. An unknown login is checked
//! against a hash of nothing in particular, so it costs what a wrong password costs.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, Params};
use ringside_identity::Invalid;
use tokio::sync::Semaphore;

/// Shortest and longest password accepted, in characters and bytes.
const MIN_CHARS: usize = 10;
const MAX_BYTES: usize = 1024;
/// Hashes computed at once.
const AT_ONCE: usize = 2;

/// What checking a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It matches; `rehash` holds a new hash when the stored one used other parameters.
    Match {
        rehash: Option<String>,
    },
    Mismatch,
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Checked when there is no stored hash, so the answer takes as long.
    decoy: Arc<String>,
}

impl Passwords {
    pub fn new() -> Self {
        let mut noise = [0u8; 32];
        getrandom::fill(&mut noise).expect("the operating system has no random source");
        let decoy = Argon2::default()
            .hash_password(&noise)
            .expect("argon2 hashes with its defaults")
            .to_string();
        Passwords {
            permits: Arc::new(Semaphore::new(AT_ONCE)),
            decoy: Arc::new(decoy),
        }
    }

    /// A new hash of `password` (checked against the rules first).
    pub async fn hash(&self, password: &str) -> Result<String, Invalid> {
        check_rules(password)?;
        let password = password.to_owned();
        let hashed = self
            .blocking(move || {
                Argon2::default()
                    .hash_password(password.as_bytes())
                    .map(|h| h.to_string())
            })
            .await;
        hashed.map_err(|_| Invalid::new("password", "could not be hashed"))
    }

    /// Whether `password` matches `stored` (a PHC string); with no stored hash it
    /// takes as long and never matches.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Verdict {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.decoy).to_owned();
        let password = password.to_owned();
        self.blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Verdict::Mismatch;
            };
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            match (known && matches, outdated(&parsed)) {
                (false, _) => Verdict::Mismatch,
                (true, false) => Verdict::Match { rehash: None },
                (true, true) => Verdict::Match {
                    rehash: Argon2::default()
                        .hash_password(password.as_bytes())
                        .ok()
                        .map(|h| h.to_string()),
                },
            }
        })
        .await
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work)
            .await
            .expect("password hashing does not panic")
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::new()
    }
}

/// Whether a stored hash was made with other parameters than today's.
fn outdated(hash: &PasswordHash) -> bool {
    let today = Params::default();
    match Params::try_from(hash) {
        Ok(p) => {
            hash.algorithm.as_str() != "argon2id"
                || (p.m_cost(), p.t_cost(), p.p_cost())
                    != (today.m_cost(), today.t_cost(), today.p_cost())
        }
        Err(_) => true,
    }
}

/// Long enough to resist guessing, short enough to hash.
pub fn check_rules(password: &str) -> Result<(), Invalid> {
    if password.chars().count() < MIN_CHARS {
        return Err(Invalid::new(
            "password",
            format!("at least {MIN_CHARS} characters"),
        ));
    }
    if password.len() > MAX_BYTES {
        return Err(Invalid::new(
            "password",
            format!("at most {MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_matches_its_hash_only() {
        let passwords = Passwords::new();
        let stored = passwords
            .hash("correct horse battery")
            .await
            .expect("hashed");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert_eq!(
            passwords
                .verify("correct horse battery", Some(&stored))
                .await,
            Verdict::Match { rehash: None }
        );
        assert_eq!(
            passwords
                .verify("correct horse batterY", Some(&stored))
                .await,
            Verdict::Mismatch
        );
        assert_eq!(
            passwords.verify("anything at all", None).await,
            Verdict::Mismatch
        );
        assert_eq!(
            passwords.verify("x", Some("not a hash")).await,
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn a_hash_made_with_weaker_parameters_is_replaced() {
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).expect("params"),
        )
        .hash_password(b"correct horse battery")
        .expect("hashed")
        .to_string();
        let Verdict::Match { rehash: Some(new) } = Passwords::new()
            .verify("correct horse battery", Some(&weak))
            .await
        else {
            panic!("a match with a new hash");
        };
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert_eq!(check_rules("short").unwrap_err().field, "password");
        assert!(check_rules(&"x".repeat(2000)).is_err());
        assert!(check_rules("пароль-длинный").is_ok());
    }
}
