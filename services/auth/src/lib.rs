//! Who is calling, and may they: Ringside's tokens and its one permission check. This
//! crate owns the token format (compact JWTs signed with Ed25519, naming their key,
//! kind and audience: `token`), the key sets they are signed with and their files
//! (`keys`: JSON Web Key Sets, rotated in three steps with an overlap), the permission table
//! (`policy`: every method and the action it needs, the actions of each role), and the
//! guard that applies both to every gRPC call (`guard`), and which records each role
//! sees and may assign (`visibility`: own, team or all). It does not know users,
//! passwords, sessions or teams — staff does, and puts a user's teams in their
//! tokens — nor how a store filters — each store applies the scope in its queries.

pub mod audit;
pub mod guard;
pub mod keys;
pub mod policy;
pub mod token;
pub mod visibility;

pub use audit::{Audit, AuditLine, AuditSink};
pub use guard::Guarded;
pub use keys::KeySet;
pub use token::{Claims, TokenKey};

use serde::{Deserialize, Serialize};

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
    #[error("token is for another audience")]
    WrongAudience,
    #[error("token of the wrong kind for its role")]
    WrongKind,
    #[error("these keys cannot sign this kind of token")]
    CannotSign,
    #[error("unknown role {0:?} (expected admin, manager, agent or service)")]
    UnknownRole(String),
    #[error("bad key: {0}")]
    BadKey(String),
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// What a token allows: the actions of `policy::grants`. Record-level scoping by
/// role is each store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    /// Another Ringside service calling this one.
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Service => "service",
        }
    }
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

/// Longest correlation id taken from a request header.
const MAX_CORRELATION_ID: usize = 64;

/// Who makes a gRPC call (from the [`Claims`] the guard put in) and the correlation
/// id of what they do: the `x-correlation-id` header, or a new random one.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user id (the user a service acts for, when it does); empty when the call
    /// came in without the guard.
    pub actor: String,
    pub role: Option<Role>,
    /// The teams the user belongs to (from a people's token).
    pub teams: Vec<String>,
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
            actor: claims.map(|c| c.actor().to_owned()).unwrap_or_default(),
            role: claims.map(|c| c.role),
            teams: claims.map(|c| c.teams.clone()).unwrap_or_default(),
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
