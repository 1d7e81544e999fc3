//! Who is who, as far as activities needs to know, asked of the services that own it
//! through their gRPC clients: the client behind a phone number and whether a linked
//! contact, lead or company exists (contacts), and which user sits behind a SIP
//! extension (staff, with the configured map as the fallback).

use std::collections::HashMap;

use ringside_kit::error::found;
use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;

use crate::error::Result;
use crate::model::{Subject, SubjectKind};

/// A client as contacts knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub kind: SubjectKind,
    pub id: String,
    pub owner_id: String,
    pub company_id: Option<String>,
}

/// What a linked id can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Contact,
    Lead,
    Company,
}

/// The services activities asks.
#[derive(Clone)]
pub struct Peers {
    contacts: ContactsClient<PeerChannel>,
    staff: Option<StaffClient<PeerChannel>>,
    deals: Option<DealsClient<PeerChannel>>,
}

impl Peers {
    /// Asks contacts at the other end of `contacts`.
    pub fn new(contacts: PeerChannel) -> Self {
        Peers {
            contacts: ContactsClient::new(contacts),
            staff: None,
            deals: None,
        }
    }

    /// Asks deals who owns a deal (for who may read its timeline).
    pub fn with_deals(mut self, deals: PeerChannel) -> Self {
        self.deals = Some(DealsClient::new(deals));
        self
    }

    /// The owner and team of the client or deal `subject` names, as the service that
    /// keeps it says; `None` when there is no such record (or deals is not asked).
    pub async fn standing(&self, subject: &Subject) -> Result<Option<(String, String)>> {
        let mut contacts = self.contacts.clone();
        let id = subject.id().to_owned();
        let answer = match subject {
            Subject::Contact(_) => {
                let req = request(cpb::GetContactRequest { id }, "");
                found(contacts.get_contact(req).await).map(|c| c.map(|c| (c.owner_id, c.team_id)))
            }
            Subject::Lead(_) => {
                let req = request(cpb::GetLeadRequest { id }, "");
                found(contacts.get_lead(req).await).map(|l| l.map(|l| (l.owner_id, l.team_id)))
            }
            Subject::Company(_) => {
                let req = request(cpb::GetCompanyRequest { id }, "");
                found(contacts.get_company(req).await).map(|c| c.map(|c| (c.owner_id, c.team_id)))
            }
            Subject::Deal(_) => match &self.deals {
                Some(deals) => {
                    let req = request(dpb::GetDealRequest { id }, "");
                    found(deals.clone().get_deal(req).await)
                        .map(|d| d.map(|d| (d.owner_id, d.team_id)))
                }
                None => Ok(None),
            },
        };
        match answer {
            Err(PeerError::Invalid(_)) => Ok(None),
            other => Ok(other?),
        }
    }

    /// Asks staff who sits at an extension, before the configured map.
    pub fn with_staff(mut self, staff: PeerChannel) -> Self {
        self.staff = Some(StaffClient::new(staff));
        self
    }

    /// The client behind `phone`. With `create`, a stranger becomes a new lead
    /// (exactly once, however many ask); without it, a stranger is `None`. What is
    /// not a phone number is nobody.
    pub async fn client_by_phone(
        &self,
        correlation_id: &str,
        phone: &str,
        create: bool,
    ) -> Result<Option<Client>> {
        let mut contacts = self.contacts.clone();
        let party = if create {
            let req = request(resolve_phone(phone), correlation_id);
            found(contacts.resolve(req).await).map(|r| r.and_then(|r| r.party))
        } else {
            let req = cpb::LookupByPhoneRequest {
                phone: phone.to_owned(),
            };
            found(contacts.lookup_by_phone(request(req, correlation_id)).await)
        };
        let party = match party {
            Err(PeerError::Invalid(_)) => None,
            other => other?,
        };
        Ok(party.and_then(|p| client_of_party(&p)))
    }

    /// Whether `id` names an existing record of that kind (an id contacts calls
    /// malformed names none).
    pub async fn exists(&self, record: Record, id: &str) -> Result<bool> {
        let mut contacts = self.contacts.clone();
        let id = id.to_owned();
        let answer = match record {
            Record::Contact => {
                let req = request(cpb::GetContactRequest { id }, "");
                found(contacts.get_contact(req).await).map(|r| r.is_some())
            }
            Record::Lead => {
                let req = request(cpb::GetLeadRequest { id }, "");
                found(contacts.get_lead(req).await).map(|r| r.is_some())
            }
            Record::Company => {
                let req = request(cpb::GetCompanyRequest { id }, "");
                found(contacts.get_company(req).await).map(|r| r.is_some())
            }
        };
        match answer {
            Err(PeerError::Invalid(_)) => Ok(false),
            other => Ok(other?),
        }
    }

    /// The active user at `extension` as staff knows them; `Ok(None)` when nobody
    /// sits there or staff is not asked.
    async fn agent_at(&self, extension: &str) -> Result<Option<String>, PeerError> {
        let Some(staff) = &self.staff else {
            return Ok(None);
        };
        let by = spb::find_user_request::By::Extension(extension.to_owned());
        let req = request(spb::FindUserRequest { by: Some(by) }, "");
        Ok(found(staff.clone().find_user(req).await)?.map(|u| u.id))
    }
}

/// A caller's number as contacts' `Resolve` takes it.
fn resolve_phone(phone: &str) -> cpb::ResolveRequest {
    cpb::ResolveRequest {
        identity: Some(cpb::Identity {
            kind: cpb::IdentityKind::Phone as i32,
            value: phone.to_owned(),
        }),
        source: Some(cpb::LeadSource {
            channel: "phone".to_owned(),
            campaign: String::new(),
        }),
        ..Default::default()
    }
}

fn client_of_party(party: &cpb::Party) -> Option<Client> {
    match party.party.as_ref()? {
        cpb::party::Party::Contact(c) => Some(Client {
            kind: SubjectKind::Contact,
            id: c.id.clone(),
            owner_id: c.owner_id.clone(),
            company_id: (!c.company_id.is_empty()).then(|| c.company_id.clone()),
        }),
        cpb::party::Party::Lead(l) => Some(Client {
            kind: SubjectKind::Lead,
            id: l.id.clone(),
            owner_id: l.owner_id.clone(),
            company_id: None,
        }),
    }
}

/// Which user answers which SIP extension, from `RINGSIDE_AGENT_EXTENSIONS`
/// (`ivan=101,102;olga=103`): the fallback for extensions staff does not know (or
/// when it does not answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentMap {
    by_extension: HashMap<String, String>,
}

impl AgentMap {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut by_extension = HashMap::new();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (user, extensions) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected user=ext,ext"))?;
            let user = user.trim();
            if user.is_empty() {
                return Err(format!("{part:?}: empty user id"));
            }
            for ext in extensions
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                if let Some(other) = by_extension.insert(ext.to_owned(), user.to_owned()) {
                    return Err(format!(
                        "extension {ext} belongs to both {other} and {user}"
                    ));
                }
            }
        }
        Ok(AgentMap { by_extension })
    }

    /// The user at `extension`, if any.
    pub fn agent(&self, extension: &str) -> Option<&str> {
        self.by_extension.get(extension).map(String::as_str)
    }
}

/// The users at the extensions of one call, asked before its transaction opens.
pub type ExtensionAgents = HashMap<String, String>;

/// The users at `extensions`: from staff first, else from
/// `fallback`. A directory that does not answer is logged and the fallback used, so a
/// call is never held up by it.
pub async fn agents_at(
    peers: &Peers,
    fallback: &AgentMap,
    extensions: &[String],
) -> ExtensionAgents {
    let mut found = ExtensionAgents::new();
    for ext in extensions.iter().filter(|e| !e.is_empty()) {
        let asked = peers.agent_at(ext).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "staff did not answer; using the configured map");
            None
        });
        if let Some(agent) = asked.or_else(|| fallback.agent(ext).map(str::to_owned)) {
            found.insert(ext.clone(), agent);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_map_reads_users_and_their_extensions() {
        let map = AgentMap::parse("ivan=101, 102; olga=103;").unwrap();
        assert_eq!(map.agent("101"), Some("ivan"));
        assert_eq!(map.agent("102"), Some("ivan"));
        assert_eq!(map.agent("103"), Some("olga"));
        assert_eq!(map.agent("104"), None);
        assert!(AgentMap::parse("").unwrap().agent("101").is_none());
    }

    #[test]
    fn agent_map_refuses_ambiguous_or_malformed_specs() {
        assert!(AgentMap::parse("ivan=101;olga=101").is_err());
        assert!(AgentMap::parse("101").is_err());
        assert!(AgentMap::parse("=101").is_err());
    }
}
