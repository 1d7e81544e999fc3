//! The activities service's errors, one variant per cause, mapped to gRPC codes at the
//! edge.

use ringside_identity::Invalid;

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
    /// A service this one asks (contacts) did not answer.
    #[error("{0}")]
    Unavailable(String),
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

impl From<ActivitiesError> for tonic::Status {
    fn from(err: ActivitiesError) -> Self {
        use ActivitiesError::*;
        match &err {
            Invalid(_) => tonic::Status::invalid_argument(err.to_string()),
            NotFound { .. } => tonic::Status::not_found(err.to_string()),
            PermissionDenied(_) => tonic::Status::permission_denied(err.to_string()),
            FailedPrecondition(_) => tonic::Status::failed_precondition(err.to_string()),
            Unavailable(_) => tonic::Status::unavailable(err.to_string()),
            Storage(_) | Outbox(_) | Decode(_) => {
                tracing::error!(error = %err, "activities: internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}

pub type Result<T, E = ActivitiesError> = std::result::Result<T, E>;
