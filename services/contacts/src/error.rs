//! The contacts service's errors, one variant per cause, mapped to gRPC codes at the edge.

use ringside_kit::{ErrorKind, Kind};

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
    /// Held by a record the caller does not see: which one is not said.
    #[error("{0} already belongs to a record you do not see")]
    IdentityTakenUnseen(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A concurrent change got in the way; asking again will do.
    #[error("{0}")]
    Contended(String),
    /// The record's owner is not the one the caller expected any more: someone
    /// else took or gave it first.
    #[error("{0}")]
    OwnerChanged(String),
    /// The owner asked for is not one the caller may give a record to.
    #[error("{0}")]
    Stamp(#[from] ringside_kit::scope::StampError),
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

impl ErrorKind for ContactsError {
    fn kind(&self) -> Kind {
        use ContactsError::*;
        match self {
            Invalid(_) => Kind::Invalid,
            NotFound { .. } => Kind::NotFound,
            IdentityTaken { .. } | IdentityTakenByLead { .. } | IdentityTakenUnseen(_) => {
                Kind::AlreadyExists
            }
            FailedPrecondition(_) => Kind::FailedPrecondition,
            Contended(_) | OwnerChanged(_) => Kind::Conflict,
            Stamp(e) => e.kind(),
            Storage(_) | Outbox(_) => Kind::Internal,
        }
    }
}

impl From<ContactsError> for tonic::Status {
    fn from(err: ContactsError) -> Self {
        ringside_kit::error::status(crate::SOURCE, &err)
    }
}

pub type Result<T, E = ContactsError> = std::result::Result<T, E>;
