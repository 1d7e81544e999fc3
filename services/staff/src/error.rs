//! The staff service's errors, one variant per cause, mapped to gRPC codes at the
//! edge.

use ringside_identity::Invalid;
use ringside_kit::{ErrorKind, Kind};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// A login or an extension that belongs to someone else.
    #[error("{0}")]
    Taken(String),
    /// A sign-in or a session that does not hold; says no more than that.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// What the caller asked for is more than they may do.
    #[error("{0}")]
    PermissionDenied(&'static str),
    /// The account's state refuses what was asked (two-factor already on, say).
    #[error("{0}")]
    Refused(&'static str),
    /// A server staff depends on (the sign-in provider) did not answer.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Too many sign-in attempts from one address.
    #[error("too many sign-in attempts; try again later")]
    TooManyAttempts,
    #[error("storage: {0}")]
    Storage(sqlx::Error),
}

impl From<sqlx::Error> for StaffError {
    /// A unique key taken by a concurrent writer between the check and the write
    /// (PostgreSQL's READ COMMITTED) is still someone else's.
    fn from(err: sqlx::Error) -> Self {
        match ringside_storage::is_unique_violation(&err) {
            true => StaffError::Taken("taken by another user or team".into()),
            false => StaffError::Storage(err),
        }
    }
}

impl StaffError {
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        StaffError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }
}

impl ErrorKind for StaffError {
    fn kind(&self) -> Kind {
        match self {
            StaffError::Invalid(_) => Kind::Invalid,
            StaffError::NotFound { .. } => Kind::NotFound,
            StaffError::Taken(_) => Kind::AlreadyExists,
            StaffError::Unauthenticated(_) => Kind::Unauthenticated,
            StaffError::PermissionDenied(_) => Kind::PermissionDenied,
            StaffError::Refused(_) => Kind::FailedPrecondition,
            StaffError::Unavailable(_) => Kind::Unavailable,
            StaffError::TooManyAttempts => Kind::Exhausted,
            StaffError::Storage(_) => Kind::Internal,
        }
    }
}

impl From<StaffError> for tonic::Status {
    fn from(err: StaffError) -> Self {
        ringside_kit::error::status(crate::SOURCE, &err)
    }
}

pub type Result<T, E = StaffError> = std::result::Result<T, E>;
