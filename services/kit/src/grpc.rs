//! What every service's gRPC edge writes the same way: the reply type, a field the
//! request got wrong (`InvalidArgument` naming it), ids read from a request, and
//! keyset pages read from and written to page tokens.

use ringside_identity::Invalid;
use ringside_identity::paging::{Cursor, Page};
use tonic::{Response, Status};

/// What a handler answers.
pub type Reply<T> = Result<Response<T>, Status>;

pub fn ok<T>(value: T) -> Reply<T> {
    Ok(Response::new(value))
}

/// A field the request got wrong.
pub fn invalid(e: Invalid) -> Status {
    Status::invalid_argument(format!("invalid {e}"))
}

/// A required id.
pub fn required_id(field: &str, value: &str) -> Result<String, Status> {
    ringside_identity::fields::id(field, value).map_err(invalid)
}

/// An id that may be left empty.
pub fn optional_id(field: &str, value: &str) -> Result<Option<String>, Status> {
    ringside_identity::fields::optional_id(field, value).map_err(invalid)
}

/// The page a request asks for: its size (`default` when unset, at most `max`) and
/// where it starts.
pub fn page(size: i32, token: &str, default: i64, max: i64) -> Result<Page, Status> {
    ringside_identity::paging::page(size, token, default, max).map_err(invalid)
}

/// The token of the next page; empty on the last.
pub fn next_token(next: Option<Cursor>) -> String {
    next.map(|c| c.token()).unwrap_or_default()
}
