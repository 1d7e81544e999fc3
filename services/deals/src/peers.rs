//! What deals asks of other services, through their gRPC clients: whether a company
//! or contact a deal links to exists, and who owns it (contacts).

use ringside_kit::error::found;
use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;

/// What a deal links to in `contacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Contact,
    Company,
}

/// The contacts service, as deals asks it.
#[derive(Clone)]
pub struct Contacts(ContactsClient<PeerChannel>);

impl Contacts {
    pub fn new(channel: PeerChannel) -> Self {
        Contacts(ContactsClient::new(channel))
    }

    /// The owner and team of the record `id` names; `None` when there is none (an id
    /// contacts calls malformed names none).
    pub async fn standing(
        &self,
        party: Party,
        id: &str,
    ) -> Result<Option<(String, String)>, PeerError> {
        let mut client = self.0.clone();
        let id = id.to_owned();
        let answer = match party {
            Party::Contact => {
                let req = request(cpb::GetContactRequest { id }, "");
                found(client.get_contact(req).await).map(|c| c.map(|c| (c.owner_id, c.team_id)))
            }
            Party::Company => {
                let req = request(cpb::GetCompanyRequest { id }, "");
                found(client.get_company(req).await).map(|c| c.map(|c| (c.owner_id, c.team_id)))
            }
        };
        match answer {
            Err(PeerError::Invalid(_)) => Ok(None),
            other => other,
        }
    }
}
