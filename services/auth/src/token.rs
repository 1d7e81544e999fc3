//! The tokens services verify: compact JWTs signed with Ed25519 (`alg` EdDSA), each
//! naming its key (`kid`), its kind (`typ`) and its audience (`aud`). Two kinds, each
//! signed by a key set of its own:
//!
//! - **people's access tokens** (`typ` `at+jwt`, `aud` `ringside`): a user and their
//!   role, for minutes; minted from a session or an API token by whoever holds the
//!   people's private keys (staff; the CLI and the all-in-one process hold them too);
//! - **service tokens** (`typ` `svc+jwt`, `aud` the gRPC service called): one service
//!   calling another, optionally on behalf of a user (`obo`), signed with the
//!   services' keys, which cannot mint people's tokens.
//!
//! Verification is strict: the header must be exactly what this crate writes (so no
//! `alg` can be swapped in), the key must be in the set of the token's kind, the
//! audience must match, and the role must fit the kind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::keys::KeySet;
use crate::{AuthError, Role};

/// The audience of people's access tokens: every Ringside API.
pub const PEOPLE_AUDIENCE: &str = "ringside";
const ACCESS_TYP: &str = "at+jwt";
const SERVICE_TYP: &str = "svc+jwt";
/// How long a service token lives.
pub const SERVICE_TOKEN_TTL: Duration = Duration::from_secs(300);
/// Clock skew tolerated between the minting and the verifying machine.
const SKEW: u64 = 60;

/// The verified content of a token; handlers find it in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The user id, or the calling service's name.
    pub sub: String,
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
    pub aud: String,
    /// The user a service acts for (service tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obo: Option<String>,
    /// The teams the user belongs to when the token was minted (people's tokens): what
    /// a manager's team scope covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
}

impl Claims {
    /// Who the call is made by, as records name them: the user a service acts for,
    /// else the token's subject.
    pub fn actor(&self) -> &str {
        self.obo.as_deref().unwrap_or(&self.sub)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// The suite's token keys: people's and services'. What a process holds decides what
/// it can mint: the all-in-one process and staff hold both private sets; every other
/// service holds the services' private set and only the public half of people's.
#[derive(Clone, Debug)]
pub struct TokenKey {
    people: KeySet,
    services: KeySet,
}

impl TokenKey {
    /// Fresh keys of both kinds (tests, and a first start).
    pub fn generate() -> Self {
        TokenKey::new(KeySet::generate(), KeySet::generate())
    }

    pub fn new(people: KeySet, services: KeySet) -> Self {
        TokenKey { people, services }
    }

    /// Refuses keys a process must not run with: services' keys that cannot sign
    /// (every call to a peer would go out unsigned), or a key in both sets (whoever
    /// signs service tokens could then mint people's).
    pub fn check(&self) -> Result<(), AuthError> {
        if !self.services.can_sign() {
            return Err(AuthError::BadKey(
                "the services' key set has no private key to sign calls with".into(),
            ));
        }
        if self.people.shares_key_with(&self.services) {
            return Err(AuthError::BadKey(
                "the people's and the services' key sets share a key".into(),
            ));
        }
        Ok(())
    }

    pub fn people(&self) -> &KeySet {
        &self.people
    }

    pub fn services(&self) -> &KeySet {
        &self.services
    }

    /// These keys without the power to mint people's tokens: what a service other
    /// than staff is given.
    pub fn for_services(&self) -> Self {
        TokenKey::new(self.people.public(), self.services.clone())
    }

    /// A people's access token for `user` with `role`, valid for `ttl`.
    pub fn issue(&self, user: &str, role: Role, ttl: Duration) -> Result<String, AuthError> {
        self.issue_member(user, role, &[], ttl)
    }

    /// A people's access token for `user` with `role`, a member of `teams`.
    pub fn issue_member(
        &self,
        user: &str,
        role: Role,
        teams: &[String],
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if role == Role::Service {
            return Err(AuthError::WrongKind);
        }
        let mut claims = claims(user, role, ttl, PEOPLE_AUDIENCE, None);
        claims.teams = teams.to_vec();
        sign(&self.people, ACCESS_TYP, &claims)
    }

    /// A service token for `caller` to call the gRPC service `audience`, acting for
    /// `on_behalf_of` when given.
    pub fn issue_service(
        &self,
        caller: &str,
        audience: &str,
        on_behalf_of: Option<&str>,
    ) -> Result<String, AuthError> {
        let obo = on_behalf_of.map(str::to_owned);
        let claims = claims(caller, Role::Service, SERVICE_TOKEN_TTL, audience, obo);
        sign(&self.services, SERVICE_TYP, &claims)
    }

    /// Checks a token for the gRPC service `audience`: the header, the key of its
    /// kind, the signature, the expiry, the audience and the role.
    pub fn verify(&self, token: &str, audience: &str) -> Result<Claims, AuthError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let (header, body) = signing_input.split_once('.').ok_or(AuthError::Malformed)?;
        let header: Header = decode_json(header)?;
        if header.alg != "EdDSA" {
            return Err(AuthError::Malformed);
        }
        let (set, service) = match header.typ.as_str() {
            ACCESS_TYP => (&self.people, false),
            SERVICE_TYP => (&self.services, true),
            _ => return Err(AuthError::Malformed),
        };
        let signature = B64.decode(signature).map_err(|_| AuthError::Malformed)?;
        if !set.verify(&header.kid, signing_input.as_bytes(), &signature) {
            return Err(AuthError::BadSignature);
        }
        let claims: Claims = decode_json(body)?;
        let now = unix_now();
        if claims.exp <= now {
            return Err(AuthError::Expired);
        }
        if claims.iat > now + SKEW {
            return Err(AuthError::Malformed);
        }
        let expected = if service { audience } else { PEOPLE_AUDIENCE };
        if claims.aud != expected {
            return Err(AuthError::WrongAudience);
        }
        if service != (claims.role == Role::Service) || (!service && claims.obo.is_some()) {
            return Err(AuthError::WrongKind);
        }
        Ok(claims)
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, header: Option<&str>, audience: &str) -> Result<Claims, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?;
        self.verify(token.trim(), audience)
    }
}

fn claims(sub: &str, role: Role, ttl: Duration, aud: &str, obo: Option<String>) -> Claims {
    let iat = unix_now();
    Claims {
        sub: sub.to_owned(),
        role,
        iat,
        exp: iat + ttl.as_secs(),
        aud: aud.to_owned(),
        obo,
        teams: Vec::new(),
    }
}

fn sign(set: &KeySet, typ: &str, claims: &Claims) -> Result<String, AuthError> {
    let body = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    // The kid is known only once the signing key is: sign the header with it.
    let kid = set.signer_kid().ok_or(AuthError::CannotSign)?;
    let header = Header {
        alg: "EdDSA".into(),
        typ: typ.into(),
        kid: kid.to_owned(),
    };
    let header = B64.encode(serde_json::to_vec(&header).expect("header serializes"));
    let signing_input = format!("{header}.{body}");
    let (_, signature) = set
        .sign(signing_input.as_bytes())
        .ok_or(AuthError::CannotSign)?;
    Ok(format!(
        "{signing_input}.{}",
        B64.encode(signature.to_bytes())
    ))
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let bytes = B64.decode(part).map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTACTS: &str = "ringside.contacts.v1.Contacts";
    const HOUR: Duration = Duration::from_secs(3600);

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn reencode(token: &str, index: usize, json: &str) -> String {
        let mut parts = parts(token);
        parts[index] = B64.encode(json);
        parts.join(".")
    }

    #[test]
    fn an_access_token_verifies_for_any_service_and_names_its_key() {
        let keys = TokenKey::generate();
        let token = keys.issue("u-1", Role::Agent, HOUR).expect("issued");
        let claims = keys.verify(&token, CONTACTS).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.role), ("u-1", Role::Agent));
        assert_eq!(claims.aud, PEOPLE_AUDIENCE);
        let header = String::from_utf8(B64.decode(&parts(&token)[0]).unwrap()).unwrap();
        assert!(header.contains(r#""typ":"at+jwt""#), "{header}");
        assert!(header.contains(&keys.people().kids()[0]), "{header}");
    }

    #[test]
    fn a_service_token_holds_only_for_its_audience() {
        let keys = TokenKey::generate();
        let token = keys.issue_service("deals", CONTACTS, None).expect("issued");
        let claims = keys.verify(&token, CONTACTS).expect("valid for contacts");
        assert_eq!((claims.sub.as_str(), claims.role), ("deals", Role::Service));
        assert_eq!(
            keys.verify(&token, "ringside.deals.v1.Deals"),
            Err(AuthError::WrongAudience)
        );
        let acting = keys
            .issue_service("notifications", CONTACTS, Some("olga"))
            .expect("issued");
        assert_eq!(keys.verify(&acting, CONTACTS).unwrap().actor(), "olga");
    }

    #[test]
    fn a_service_key_cannot_mint_people_and_people_keys_cannot_mint_services() {
        let keys = TokenKey::generate();
        let service_side = keys.for_services();
        assert_eq!(
            service_side.issue("u-1", Role::Admin, HOUR),
            Err(AuthError::CannotSign)
        );
        // A token of one kind signed with the other kind's key is refused.
        let people_signed = sign(
            keys.people(),
            SERVICE_TYP,
            &claims("x", Role::Service, HOUR, CONTACTS, None),
        )
        .unwrap();
        assert_eq!(
            keys.verify(&people_signed, CONTACTS),
            Err(AuthError::BadSignature)
        );
        let service_signed = sign(
            keys.services(),
            ACCESS_TYP,
            &claims("x", Role::Admin, HOUR, PEOPLE_AUDIENCE, None),
        )
        .unwrap();
        assert_eq!(
            keys.verify(&service_signed, CONTACTS),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            keys.issue("x", Role::Service, HOUR),
            Err(AuthError::WrongKind)
        );
    }

    #[test]
    fn forged_tampered_expired_and_foreign_tokens_are_refused() {
        let keys = TokenKey::generate();
        let token = keys.issue("u-1", Role::Agent, HOUR).unwrap();
        let other = TokenKey::generate()
            .issue("u-1", Role::Agent, HOUR)
            .unwrap();
        assert_eq!(keys.verify(&other, CONTACTS), Err(AuthError::BadSignature));
        let promoted = reencode(
            &token,
            1,
            r#"{"sub":"u-1","role":"admin","iat":1,"exp":99999999999,"aud":"ringside"}"#,
        );
        assert_eq!(
            keys.verify(&promoted, CONTACTS),
            Err(AuthError::BadSignature)
        );
        let kid = &keys.people().kids()[0];
        for alg in ["none", "HS256", "RS256"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#);
            let swapped = reencode(&token, 0, &header);
            assert_eq!(
                keys.verify(&swapped, CONTACTS),
                Err(AuthError::Malformed),
                "{alg}"
            );
        }
        let expired = keys.issue("u-1", Role::Agent, Duration::ZERO).unwrap();
        assert_eq!(keys.verify(&expired, CONTACTS), Err(AuthError::Expired));
        let elsewhere = sign(
            keys.people(),
            ACCESS_TYP,
            &claims("u-1", Role::Agent, HOUR, "another-product", None),
        )
        .unwrap();
        assert_eq!(
            keys.verify(&elsewhere, CONTACTS),
            Err(AuthError::WrongAudience)
        );
        assert_eq!(keys.verify("a.b", CONTACTS), Err(AuthError::Malformed));
        assert_eq!(keys.verify("", CONTACTS), Err(AuthError::Malformed));
    }

    #[test]
    fn tokens_signed_before_a_rotation_verify_until_the_old_key_retires() {
        let mut people = KeySet::generate();
        let before = TokenKey::new(people.clone(), KeySet::generate());
        let token = before.issue("u-1", Role::Agent, HOUR).unwrap();
        let old = people.kids()[0].clone();
        let new = people.add();
        people.promote(&new).expect("promoted");
        let after = TokenKey::new(people.clone(), before.services().clone());
        assert!(after.verify(&token, CONTACTS).is_ok(), "overlap");
        let fresh = after.issue("u-1", Role::Agent, HOUR).unwrap();
        assert!(
            before.verify(&fresh, CONTACTS).is_err(),
            "new kid unknown to the old set"
        );
        people.retire(&old).unwrap();
        let retired = TokenKey::new(people, before.services().clone());
        assert_eq!(
            retired.verify(&token, CONTACTS),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn keys_a_process_must_not_run_with_are_refused() {
        assert!(TokenKey::generate().check().is_ok());
        let people = KeySet::generate();
        let same = TokenKey::new(people.clone(), people.clone());
        assert!(matches!(same.check(), Err(AuthError::BadKey(_))));
        let unsigned = TokenKey::new(KeySet::generate(), KeySet::generate().public());
        assert!(matches!(unsigned.check(), Err(AuthError::BadKey(_))));
    }

    #[test]
    fn header_needs_the_bearer_scheme() {
        let keys = TokenKey::generate();
        let token = keys.issue("u-1", Role::Agent, HOUR).unwrap();
        assert_eq!(keys.verify_header(None, CONTACTS), Err(AuthError::Missing));
        assert_eq!(
            keys.verify_header(Some(&format!("Basic {token}")), CONTACTS),
            Err(AuthError::Malformed)
        );
        assert!(
            keys.verify_header(Some(&format!("Bearer {token}")), CONTACTS)
                .is_ok()
        );
    }
}
