//! Who sent something, asked of contacts: the one owner of identities. Every channel
//! asks through this trait (in process, or over gRPC).

use async_trait::async_trait;
use ringside_proto::contacts::v1 as cpb;

/// How contacts answered.
#[derive(Debug)]
pub enum ResolveError {
    /// Contacts refused the identities (422).
    Invalid(String),
    /// A lookup-only request found nobody.
    NotFound,
    /// Contacts could not answer (503: the sender may try again).
    Unavailable(String),
}

#[async_trait]
pub trait Resolver: Send + Sync + 'static {
    async fn resolve(
        &self,
        correlation_id: &str,
        request: cpb::ResolveRequest,
    ) -> Result<cpb::ResolveResponse, ResolveError>;
}
