//! The activities service's errors, one variant per cause, mapped to gRPC codes at the
//! edge.

use ringside_identity::Invalid;
use ringside_kit::{ErrorKind, Kind};

#[derive(Debug, thiserror::Error)]
pub enum ActivitiesError {
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A service this one asks (contacts) did not answer, or failed.
    #[error("{0}")]
    Peer(#[from] ringside_kit::PeerError),
    /// The assignee asked for is not one the caller may give a task to.
    #[error("{0}")]
    Stamp(#[from] ringside_kit::scope::StampError),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] ringside_bus::BusError),
    #[error("stored detail: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl ActivitiesError {
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        ActivitiesError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }
}

impl ErrorKind for ActivitiesError {
    fn kind(&self) -> Kind {
        use ActivitiesError::*;
        match self {
            Invalid(_) => Kind::Invalid,
            NotFound { .. } => Kind::NotFound,
            PermissionDenied(_) => Kind::PermissionDenied,
            FailedPrecondition(_) => Kind::FailedPrecondition,
            Peer(e) => e.kind(),
            Stamp(e) => e.kind(),
            Storage(_) | Outbox(_) | Decode(_) => Kind::Internal,
        }
    }
}

impl From<ActivitiesError> for tonic::Status {
    fn from(err: ActivitiesError) -> Self {
        ringside_kit::error::status(crate::SOURCE, &err)
    }
}

pub type Result<T, E = ActivitiesError> = std::result::Result<T, E>;
