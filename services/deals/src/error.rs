//! The deals service's errors, one variant per cause, mapped to gRPC codes at the
//! edge.

use ringside_identity::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum DealsError {
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
    #[error("stored view: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl DealsError {
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        DealsError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    pub fn precondition(message: impl Into<String>) -> Self {
        DealsError::FailedPrecondition(message.into())
    }
}

impl From<DealsError> for tonic::Status {
    fn from(err: DealsError) -> Self {
        use DealsError::*;
        let message = err.to_string();
        match err {
            Invalid(_) => tonic::Status::invalid_argument(message),
            NotFound { .. } => tonic::Status::not_found(message),
            PermissionDenied(_) => tonic::Status::permission_denied(message),
            FailedPrecondition(_) => tonic::Status::failed_precondition(message),
            Unavailable(_) => tonic::Status::unavailable(message),
            Storage(_) | Outbox(_) | Decode(_) => {
                tracing::error!(error = %message, "deals: internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}

pub type Result<T, E = DealsError> = std::result::Result<T, E>;
