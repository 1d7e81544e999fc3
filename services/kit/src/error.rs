//! Errors at the edges of a service: what kind of failure an error is ([`Kind`]), the
//! one mapping from that kind to a `tonic::Status` ([`status`]) — internal causes are
//! logged and never shown — and the typed error of a call to a peer service
//! ([`PeerError`]), read back from the status the peer answered.

use std::fmt;

use tonic::{Code, Status};

/// What a caller must know about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request is wrong (names the field).
    Invalid,
    NotFound,
    /// The thing already exists, or belongs to someone else.
    AlreadyExists,
    PermissionDenied,
    /// Who is asking could not be established (a wrong password, an ended session).
    Unauthenticated,
    /// Too many attempts: the same request may succeed later.
    Exhausted,
    /// The request is valid but the record's state refuses it.
    FailedPrecondition,
    /// A concurrent change got in the way (`ABORTED`): the same request may succeed
    /// at once, or — a compare-and-set that lost — is answered by reading again.
    Conflict,
    /// A service or server this one depends on did not answer: worth trying again.
    Unavailable,
    /// A bug or a broken store: logged, shown as "internal error".
    Internal,
}

/// A service error that knows its [`Kind`].
pub trait ErrorKind: fmt::Display {
    fn kind(&self) -> Kind;
}

/// The status a service answers for `err`. Internal errors are logged under
/// `service` and their text is not sent (it may name tables or values).
pub fn status<E: ErrorKind + ?Sized>(service: &str, err: &E) -> Status {
    let message = err.to_string();
    match err.kind() {
        Kind::Invalid => Status::invalid_argument(message),
        Kind::NotFound => Status::not_found(message),
        Kind::AlreadyExists => Status::already_exists(message),
        Kind::PermissionDenied => Status::permission_denied(message),
        Kind::Unauthenticated => Status::unauthenticated(message),
        Kind::Exhausted => Status::resource_exhausted(message),
        Kind::FailedPrecondition => Status::failed_precondition(message),
        Kind::Conflict => Status::aborted(message),
        Kind::Unavailable => Status::unavailable(message),
        Kind::Internal => {
            tracing::error!(service, error = %message, "internal error");
            Status::internal("internal error")
        }
    }
}

/// How a call to another service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The peer refused the request as it stands (invalid, already exists, or its
    /// state does not allow it); asking again the same way will not help.
    #[error("refused: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The peer did not answer, or answered that it cannot now: worth retrying.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The peer failed, or refused this service's credentials: a bug or a
    /// misconfiguration, not the request.
    #[error("failed: {0}")]
    Internal(String),
}

impl From<Status> for PeerError {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument
            | Code::OutOfRange
            | Code::FailedPrecondition
            | Code::AlreadyExists => PeerError::Invalid(message),
            Code::NotFound => PeerError::NotFound(message),
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown => PeerError::Unavailable(message),
            Code::Ok
            | Code::Internal
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::Unimplemented
            | Code::DataLoss => PeerError::Internal(message),
        }
    }
}

impl ErrorKind for PeerError {
    fn kind(&self) -> Kind {
        match self {
            PeerError::Invalid(_) => Kind::Invalid,
            PeerError::NotFound(_) => Kind::NotFound,
            PeerError::Unavailable(_) => Kind::Unavailable,
            PeerError::Internal(_) => Kind::Internal,
        }
    }
}

/// A peer's answer where "not found" is an answer, not a failure.
pub fn found<T>(answer: Result<tonic::Response<T>, Status>) -> Result<Option<T>, PeerError> {
    match answer {
        Ok(reply) => Ok(Some(reply.into_inner())),
        Err(s) if s.code() == Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Broken;
    impl fmt::Display for Broken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("table contacts is locked")
        }
    }
    impl ErrorKind for Broken {
        fn kind(&self) -> Kind {
            Kind::Internal
        }
    }

    #[test]
    fn internal_errors_do_not_show_their_cause() {
        let s = status("contacts", &Broken);
        assert_eq!(s.code(), Code::Internal);
        assert_eq!(s.message(), "internal error");
    }

    #[test]
    fn a_status_reads_back_as_the_peer_error_a_caller_acts_on() {
        let cases = [
            (
                Status::invalid_argument("phone"),
                PeerError::Invalid("phone".into()),
            ),
            (
                Status::not_found("lead"),
                PeerError::NotFound("lead".into()),
            ),
            (
                Status::unavailable("down"),
                PeerError::Unavailable("down".into()),
            ),
            (
                Status::deadline_exceeded("slow"),
                PeerError::Unavailable("slow".into()),
            ),
            (
                Status::aborted("raced"),
                PeerError::Unavailable("raced".into()),
            ),
            (
                Status::unauthenticated("key"),
                PeerError::Internal("key".into()),
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(PeerError::from(status), expected);
        }
    }

    #[test]
    fn peer_errors_map_back_to_the_same_code() {
        for code in [Code::InvalidArgument, Code::NotFound, Code::Unavailable] {
            let e = PeerError::from(Status::new(code, "x"));
            assert_eq!(status("test", &e).code(), code);
        }
    }
}
