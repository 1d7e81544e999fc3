//! The contacts service's errors, one variant per cause, mapped to gRPC codes at the edge.

use crate::domain::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    #[error("invalid {0}")]
    Invalid(#[from] Invalid),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{identity} already belongs to contact {contact_id}")]
    IdentityTaken {
        identity: String,
        contact_id: String,
    },
    #[error("{identity} already belongs to lead {lead_id}")]
    IdentityTakenByLead { identity: String, lead_id: String },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] ringside_bus::BusError),
}

impl ContactsError {
    pub fn not_found(kind: &'static str, id: &str) -> Self {
        ContactsError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }
}

impl From<ContactsError> for tonic::Status {
    fn from(err: ContactsError) -> Self {
        use ContactsError::*;
        match &err {
            Invalid(_) => tonic::Status::invalid_argument(err.to_string()),
            NotFound { .. } => tonic::Status::not_found(err.to_string()),
            IdentityTaken { .. } | IdentityTakenByLead { .. } => {
                tonic::Status::already_exists(err.to_string())
            }
            FailedPrecondition(_) => tonic::Status::failed_precondition(err.to_string()),
            Storage(_) | Outbox(_) => {
                tracing::error!(error = %err, "contacts: internal error");
                tonic::Status::internal("internal error")
            }
        }
    }
}

pub type Result<T, E = ContactsError> = std::result::Result<T, E>;
