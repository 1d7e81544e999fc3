//! Who sent something, asked of contacts — the one owner of identities — through its
//! gRPC client. Every channel asks here: forms, Telegram and email.

use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;

/// The contacts service, as ingest asks it.
#[derive(Clone)]
pub struct Contacts(ContactsClient<PeerChannel>);

impl Contacts {
    pub fn new(channel: PeerChannel) -> Self {
        Contacts(ContactsClient::new(channel))
    }

    /// The sender's contact or lead (a stranger becomes one lead, unless the request
    /// is lookup-only: then `NotFound`). `Invalid` means contacts refused the
    /// identities; anything else may work when asked again.
    pub async fn resolve(
        &self,
        correlation_id: &str,
        message: cpb::ResolveRequest,
    ) -> Result<cpb::ResolveResponse, PeerError> {
        let reply = self
            .0
            .clone()
            .resolve(request(message, correlation_id))
            .await?;
        Ok(reply.into_inner())
    }
}
