//! Bearer tokens for Ringside. This crate owns the token format (a JWT signed with
//! HMAC-SHA256, so any JWT tool can read it), the signing key and its storage, and the
//! guard that every gRPC call and private HTTP route passes through. It does not know
//! about users or teams: a token names a user id and a role, nothing more. The permission
//! table (`policy`: every method and the action it needs, the actions of each role) and
//! the guard that applies it to every call (`guard`) live here too.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub mod guard;
pub mod policy;

pub use guard::Guarded;

/// Shortest key accepted, in bytes.
const MIN_KEY_LEN: usize = 32;
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Why a token or a key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("unknown role {0:?} (expected admin, manager, agent or service)")]
    UnknownRole(String),
    #[error("signing key must be at least {MIN_KEY_LEN} bytes of hex")]
    BadKey,
    #[error("signing key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// What a token allows. Record-level scoping by role comes with the access rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    /// Another Ringside service calling this one.
    Service,
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "agent" => Ok(Role::Agent),
            "service" => Ok(Role::Service),
            other => Err(AuthError::UnknownRole(other.to_owned())),
        }
    }
}

/// The verified content of a token; handlers find it in the request extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

/// The HMAC key tokens are signed with. It never prints.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; MIN_KEY_LEN];
        getrandom::fill(&mut bytes).expect("the operating system has no random source");
        TokenKey(bytes)
    }

    /// Parses a hex-encoded key of at least 32 bytes.
    pub fn from_hex(hex: &str) -> Result<Self, AuthError> {
        let hex = hex.trim();
        if !hex.len().is_multiple_of(2) || hex.len() < MIN_KEY_LEN * 2 {
            return Err(AuthError::BadKey);
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| AuthError::BadKey))
            .collect::<Result<Vec<u8>, _>>()
            .map(TokenKey)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads the key at `path`, or creates it (mode 0600) when the file does not exist.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), AuthError> {
        let io_err = |e: std::io::Error| AuthError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(hex) => Ok((Self::from_hex(&hex)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_private(path, &key.to_hex()).map_err(io_err)?;
                Ok((key, true))
            }
            Err(e) => Err(io_err(e)),
        }
    }

    /// Signs a token for `user` with `role`, valid for `ttl`.
    pub fn issue(&self, user: &str, role: Role, ttl: Duration) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: user.to_owned(),
            role,
            iat,
            exp: iat + ttl.as_secs(),
        };
        let body = serde_json::to_vec(&claims).expect("claims serialize");
        let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(body));
        let signature = B64.encode(self.mac(signing_input.as_bytes()).finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks the signature (in constant time) and the expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let (header, body) = signing_input.split_once('.').ok_or(AuthError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| AuthError::Malformed)?;
        self.mac(signing_input.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| AuthError::BadSignature)?;
        if B64.decode(header).map_err(|_| AuthError::Malformed)? != HEADER.as_bytes() {
            return Err(AuthError::Malformed);
        }
        let body = B64.decode(body).map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&body).map_err(|_| AuthError::Malformed)?;
        if claims.exp <= unix_now() {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Malformed)?;
        self.verify(token.trim())
    }

    fn mac(&self, input: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(input);
        mac
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Lifetime of the tokens a service signs for its own calls to another service.
const CALL_TOKEN_TTL: Duration = Duration::from_secs(300);

impl TokenKey {
    /// A request to another Ringside service on behalf of `user` with `role`: a
    /// short-lived bearer token signed with this key, and the correlation id (when
    /// non-empty).
    pub fn request<T>(
        &self,
        message: T,
        user: &str,
        role: Role,
        correlation_id: &str,
    ) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        let token = self.issue(user, role, CALL_TOKEN_TTL);
        if let Ok(value) = format!("Bearer {token}").parse() {
            req.metadata_mut().insert("authorization", value);
        }
        if let Ok(value) = correlation_id.parse() {
            req.metadata_mut().insert("x-correlation-id", value);
        }
        req
    }
}

/// Longest correlation id taken from a request header.
const MAX_CORRELATION_ID: usize = 64;

/// Who makes a gRPC call (from the [`Claims`] the guard put in) and the correlation
/// id of what they do: the `x-correlation-id` header, or a new random one.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id; empty when the call came in without the guard.
    pub actor: String,
    pub role: Option<Role>,
    pub correlation_id: String,
}

impl Caller {
    pub fn of<T>(req: &tonic::Request<T>) -> Caller {
        let claims = req.extensions().get::<Claims>();
        let correlation_id = req
            .metadata()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= MAX_CORRELATION_ID)
            .map(str::to_owned)
            .unwrap_or_else(random_id);
        Caller {
            actor: claims.map(|c| c.sub.clone()).unwrap_or_default(),
            role: claims.map(|c| c.role),
            correlation_id,
        }
    }
}

/// 128 random bits as hex.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies_and_carries_claims() {
        let key = TokenKey::generate();
        let token = key.issue("u-1", Role::Agent, Duration::from_secs(60));
        let claims = key.verify(&token).expect("valid");
        assert_eq!(claims.sub, "u-1");
        assert_eq!(claims.role, Role::Agent);
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let token = TokenKey::generate().issue("u-1", Role::Admin, Duration::from_secs(60));
        assert_eq!(
            TokenKey::generate().verify(&token),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let key = TokenKey::generate();
        let token = key.issue("u-1", Role::Agent, Duration::from_secs(60));
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64.encode(r#"{"sub":"u-1","role":"admin","iat":1,"exp":99999999999}"#);
        parts[1] = &forged;
        assert_eq!(key.verify(&parts.join(".")), Err(AuthError::BadSignature));
    }

    #[test]
    fn expired_token_is_refused() {
        let key = TokenKey::generate();
        let token = key.issue("u-1", Role::Agent, Duration::ZERO);
        assert_eq!(key.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn header_needs_bearer_scheme() {
        let key = TokenKey::generate();
        let token = key.issue("u-1", Role::Agent, Duration::from_secs(60));
        assert_eq!(key.verify_header(None), Err(AuthError::Missing));
        assert_eq!(
            key.verify_header(Some(&format!("Basic {token}"))),
            Err(AuthError::Malformed)
        );
        assert!(key.verify_header(Some(&format!("Bearer {token}"))).is_ok());
        assert_eq!(
            key.verify_header(Some("Bearer a.b")),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("signing.key");
        let (first, created) = TokenKey::load_or_create(&path).expect("create");
        assert!(created);
        let (second, created) = TokenKey::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(first.to_hex(), second.to_hex());
    }

    #[test]
    fn short_or_non_hex_keys_are_refused() {
        assert_eq!(TokenKey::from_hex("abcd").unwrap_err(), AuthError::BadKey);
        assert_eq!(
            TokenKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            AuthError::BadKey
        );
    }
}
