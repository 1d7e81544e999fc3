//! What notifications asks of other services, through their gRPC clients: who a
//! caller or a party is (contacts), timelines, tasks, entries and call notes
//! (activities), and a client's open deals (deals). Each call carries this service's
//! token; a note typed into a card is filed on behalf of the agent who typed it.

use ringside_kit::PeerChannel;
use ringside_kit::peer::{request, request_for};
use ringside_proto::activities::v1 as apb;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::notifications::v1 as pb;

use crate::card::{Client, DEALS, card_deal};
use crate::error::{NotificationsError, Result};

/// The services notifications asks.
#[derive(Clone)]
pub struct Peers {
    contacts: ContactsClient<PeerChannel>,
    activities: ActivitiesClient<PeerChannel>,
    deals: DealsClient<PeerChannel>,
}

/// The channels [`Peers`] asks through.
pub struct PeerChannels {
    pub contacts: PeerChannel,
    pub activities: PeerChannel,
    pub deals: PeerChannel,
}

impl Peers {
    pub fn new(channels: PeerChannels) -> Self {
        Peers {
            contacts: ContactsClient::new(channels.contacts),
            activities: ActivitiesClient::new(channels.activities),
            deals: DealsClient::new(channels.deals),
        }
    }

    fn service<T>(&self, message: T) -> tonic::Request<T> {
        request(message, "")
    }
    pub async fn resolve(
        &self,
        correlation_id: &str,
        phone: &str,
    ) -> Result<Option<cpb::ResolveResponse>> {
        let req = request(
            cpb::ResolveRequest {
                identity: Some(cpb::Identity {
                    kind: cpb::IdentityKind::Phone as i32,
                    value: phone.to_owned(),
                }),
                name: String::new(),
                source: Some(cpb::LeadSource {
                    channel: "phone".into(),
                    campaign: String::new(),
                }),
                ..Default::default()
            },
            correlation_id,
        );
        match self.contacts.clone().resolve(req).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == tonic::Code::InvalidArgument => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    /// What the card shows of `client`'s history: the `recent` latest entries, the
    /// last call and the open tasks, leaving out the call `except_call_id`.
    pub async fn client_history(
        &self,
        client: &Client,
        recent: i32,
        except_call_id: &str,
    ) -> Result<apb::ClientHistoryResponse> {
        let req = self.service(apb::ClientHistoryRequest {
            subject: Some(subject_of(client)),
            recent,
            except_call_id: except_call_id.to_owned(),
        });
        let resp = self
            .activities
            .clone()
            .client_history(req)
            .await
            .map_err(unavailable)?;
        Ok(resp.into_inner())
    }

    pub async fn add_call_note(
        &self,
        agent: &str,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<String> {
        let note = apb::AddCallNoteRequest {
            call_id: call_id.into(),
            text: text.into(),
            outcome: outcome.into(),
        };
        let req = request_for(note, agent, call_id);
        match self.activities.clone().add_call_note(req).await {
            Ok(entry) => Ok(entry.into_inner().id),
            Err(s) => Err(NotificationsError::from_status(s)),
        }
    }

    pub async fn open_deals(&self, client: &Client) -> Result<Vec<pb::CardDeal>> {
        if client.kind != "contact" {
            return Ok(Vec::new()); // deals belong to contacts; a lead has none yet
        }
        let req = self.service(dpb::ListDealsRequest {
            filter: Some(dpb::DealFilter {
                contact_id: client.id.clone(),
                status: dpb::DealStatus::Open as i32,
                ..Default::default()
            }),
            page_size: DEALS,
            ..Default::default()
        });
        let resp = self
            .deals
            .clone()
            .list_deals(req)
            .await
            .map_err(unavailable)?;
        Ok(resp.into_inner().deals.iter().map(card_deal).collect())
    }

    pub async fn party(&self, kind: &str, id: &str) -> Result<Option<cpb::Party>> {
        use cpb::party::Party;
        let found = match kind {
            "contact" => {
                let req = self.service(cpb::GetContactRequest { id: id.into() });
                self.contacts
                    .clone()
                    .get_contact(req)
                    .await
                    .map(|r| Party::Contact(r.into_inner()))
            }
            _ => {
                let req = self.service(cpb::GetLeadRequest { id: id.into() });
                self.contacts
                    .clone()
                    .get_lead(req)
                    .await
                    .map(|r| Party::Lead(r.into_inner()))
            }
        };
        match found {
            Ok(party) => Ok(Some(cpb::Party { party: Some(party) })),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    pub async fn entry(&self, id: &str) -> Result<Option<apb::Entry>> {
        let req = self.service(apb::GetEntryRequest { id: id.into() });
        match self.activities.clone().get_entry(req).await {
            Ok(entry) => Ok(Some(entry.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }
}

/// The timeline subject of a card's client.
fn subject_of(client: &Client) -> apb::Subject {
    let subject = match client.kind.as_str() {
        "contact" => apb::subject::Subject::ContactId(client.id.clone()),
        _ => apb::subject::Subject::LeadId(client.id.clone()),
    };
    apb::Subject {
        subject: Some(subject),
    }
}

fn unavailable(status: tonic::Status) -> NotificationsError {
    NotificationsError::Unavailable(status.message().to_owned())
}
