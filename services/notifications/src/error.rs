//! The notifications service's errors, mapped to gRPC codes at the edge.

use ringside_identity::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// A service this one asks (contacts, activities) did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// A service this one asked refused the request, with its status.
    #[error("{0}")]
    Refused(tonic::Status),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
}

impl NotificationsError {
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        NotificationsError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }

    /// A refusal keeps its code; anything else means the other service is unavailable.
    pub fn from_status(status: tonic::Status) -> Self {
        use tonic::Code::*;
        match status.code() {
            InvalidArgument | NotFound | PermissionDenied | FailedPrecondition => {
                NotificationsError::Refused(status)
            }
            _ => NotificationsError::Unavailable(status.message().to_owned()),
        }
    }
}

impl From<NotificationsError> for tonic::Status {
    fn from(err: NotificationsError) -> Self {
        use NotificationsError::*;
        match err {
            Invalid(_) => tonic::Status::invalid_argument(err.to_string()),
            NotFound { .. } => tonic::Status::not_found(err.to_string()),
            Unavailable(_) => tonic::Status::unavailable(err.to_string()),
            Refused(status) => tonic::Status::new(status.code(), status.message()),
            Storage(_) => {
                tracing::error!(error = %err, "notifications: internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}

pub type Result<T, E = NotificationsError> = std::result::Result<T, E>;
