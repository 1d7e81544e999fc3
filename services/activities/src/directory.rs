//! Who is who, as far as activities needs to know: the client behind a phone number
//! and whether a linked contact, lead or company exists — asked of `contacts` (in the
//! same process, or over gRPC with a service token) — and which user sits behind a SIP
//! extension.

use std::collections::HashMap;

use async_trait::async_trait;
use ringside_auth::{Role, TokenKey};
use ringside_contacts::model::{Ctx as ContactsCtx, Party};
use ringside_contacts::{ContactsError, ContactsService};
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use tonic::transport::Channel;

use crate::error::{ActivitiesError, Result};
use crate::model::SubjectKind;

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

/// The questions activities asks of contacts.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The client behind `phone`. With `create`, a stranger becomes a new lead
    /// (exactly once, however many ask); without it, a stranger is `None`.
    async fn client_by_phone(
        &self,
        correlation_id: &str,
        phone: &str,
        create: bool,
    ) -> Result<Option<Client>>;

    /// Whether `id` names an existing record of that kind.
    async fn exists(&self, record: Record, id: &str) -> Result<bool>;
}

/// Contacts in the same process.
pub struct LocalContacts(pub ContactsService);

#[async_trait]
impl Directory for LocalContacts {
    async fn client_by_phone(
        &self,
        correlation_id: &str,
        phone: &str,
        create: bool,
    ) -> Result<Option<Client>> {
        let party = if create {
            let ctx = ContactsCtx {
                actor: crate::SOURCE.to_owned(),
                correlation_id: correlation_id.to_owned(),
            };
            let resolved = self.0.resolve_caller(&ctx, phone).await;
            resolved.map_err(unavailable)?.map(|r| r.party)
        } else {
            match self.0.lookup_by_phone(phone).await {
                Ok(party) => party,
                Err(ContactsError::Invalid(_)) => None,
                Err(e) => return Err(unavailable(e)),
            }
        };
        Ok(party.map(|p| client_of_party(&p)))
    }

    async fn exists(&self, record: Record, id: &str) -> Result<bool> {
        let found = match record {
            Record::Contact => self.0.get_contact(id).await.map(|_| ()),
            Record::Lead => self.0.get_lead(id).await.map(|_| ()),
            Record::Company => self.0.get_company(id).await.map(|_| ()),
        };
        match found {
            Ok(()) => Ok(true),
            Err(ContactsError::NotFound { .. }) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

fn client_of_party(party: &Party) -> Client {
    match party {
        Party::Contact(c) => Client {
            kind: SubjectKind::Contact,
            id: c.id.clone(),
            owner_id: c.owner_id.clone(),
            company_id: c.company_id.clone(),
        },
        Party::Lead(l) => Client {
            kind: SubjectKind::Lead,
            id: l.id.clone(),
            owner_id: l.owner_id.clone(),
            company_id: None,
        },
    }
}

fn unavailable(e: impl std::fmt::Display) -> ActivitiesError {
    ActivitiesError::Unavailable(format!("contacts: {e}"))
}

/// Contacts over gRPC, with a short-lived service token signed by the shared key.
pub struct RemoteContacts {
    client: ContactsClient<Channel>,
    key: TokenKey,
    caller: &'static str,
}

impl RemoteContacts {
    /// Connects lazily to `url` (`http://contacts:50051`): nothing is dialled until
    /// the first question, and a contacts restart is survived.
    /// `caller` names the asking service in its tokens.
    pub fn new(
        url: &str,
        key: TokenKey,
        caller: &'static str,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = ringside_auth::lazy_channel(url)?;
        Ok(RemoteContacts {
            client: ContactsClient::new(channel),
            key,
            caller,
        })
    }

    fn request<T>(&self, message: T, correlation_id: &str) -> tonic::Request<T> {
        self.key
            .request(message, self.caller, Role::Service, correlation_id)
    }
}

#[async_trait]
impl Directory for RemoteContacts {
    async fn client_by_phone(
        &self,
        correlation_id: &str,
        phone: &str,
        create: bool,
    ) -> Result<Option<Client>> {
        let mut client = self.client.clone();
        let party = if create {
            let req = cpb::ResolveRequest {
                identity: Some(cpb::Identity {
                    kind: cpb::IdentityKind::Phone as i32,
                    value: phone.to_owned(),
                }),
                name: String::new(),
                source: Some(cpb::LeadSource {
                    channel: "phone".to_owned(),
                    campaign: String::new(),
                }),
                ..Default::default()
            };
            match client.resolve(self.request(req, correlation_id)).await {
                Ok(resp) => resp.into_inner().party,
                Err(s) if s.code() == tonic::Code::InvalidArgument => None,
                Err(s) => return Err(unavailable(s.message())),
            }
        } else {
            let req = cpb::LookupByPhoneRequest {
                phone: phone.to_owned(),
            };
            match client
                .lookup_by_phone(self.request(req, correlation_id))
                .await
            {
                Ok(resp) => Some(resp.into_inner()),
                Err(s)
                    if matches!(
                        s.code(),
                        tonic::Code::NotFound | tonic::Code::InvalidArgument
                    ) =>
                {
                    None
                }
                Err(s) => return Err(unavailable(s.message())),
            }
        };
        Ok(party.and_then(|p| client_of_proto(&p)))
    }

    async fn exists(&self, record: Record, id: &str) -> Result<bool> {
        let mut client = self.client.clone();
        let id = id.to_owned();
        let found = match record {
            Record::Contact => client
                .get_contact(self.request(cpb::GetContactRequest { id }, ""))
                .await
                .map(|_| ()),
            Record::Lead => client
                .get_lead(self.request(cpb::GetLeadRequest { id }, ""))
                .await
                .map(|_| ()),
            Record::Company => client
                .get_company(self.request(cpb::GetCompanyRequest { id }, ""))
                .await
                .map(|_| ()),
        };
        match found {
            Ok(()) => Ok(true),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                Ok(false)
            }
            Err(s) => Err(unavailable(s.message())),
        }
    }
}

fn client_of_proto(party: &cpb::Party) -> Option<Client> {
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

/// Who sits at a SIP extension: the agents directory of notifications (in process, or
/// over gRPC), with the configured [`AgentMap`] as the fallback.
#[async_trait]
pub trait AgentLookup: Send + Sync + 'static {
    /// The user at `extension`; `Err` when the directory did not answer.
    async fn agent_at(&self, extension: &str) -> Result<Option<String>, String>;
}

/// The notifications agents directory over gRPC (`FindAgent`), with a service token.
pub struct RemoteAgents {
    client: ringside_proto::notifications::v1::notifications_client::NotificationsClient<Channel>,
    key: TokenKey,
}

impl RemoteAgents {
    /// Connects lazily to `url`: nothing is dialled until the first question.
    pub fn new(url: &str, key: TokenKey) -> Result<Self, tonic::transport::Error> {
        let channel = ringside_auth::lazy_channel(url)?;
        Ok(RemoteAgents {
            client:
                ringside_proto::notifications::v1::notifications_client::NotificationsClient::new(
                    channel,
                ),
            key,
        })
    }
}

#[async_trait]
impl AgentLookup for RemoteAgents {
    async fn agent_at(&self, extension: &str) -> Result<Option<String>, String> {
        let req = ringside_proto::notifications::v1::FindAgentRequest {
            extension: extension.to_owned(),
        };
        let req = self.key.request(req, crate::SOURCE, Role::Service, "");
        match self.client.clone().find_agent(req).await {
            Ok(agent) => Ok(Some(agent.into_inner().id)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(format!("notifications: {}", s.message())),
        }
    }
}

/// Which user answers which SIP extension, from `RINGSIDE_AGENT_EXTENSIONS`
/// (`ivan=101,102;olga=103`): the fallback for extensions the notifications agents
/// directory does not know (or when it does not answer).
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

/// The users at `extensions`: from `lookup` first, else from `fallback`. A lookup
/// that does not answer is logged and the fallback used, so a call is never held up
/// by the agents directory.
pub async fn agents_at(
    lookup: Option<&dyn AgentLookup>,
    fallback: &AgentMap,
    extensions: &[String],
) -> ExtensionAgents {
    let mut found = ExtensionAgents::new();
    for ext in extensions.iter().filter(|e| !e.is_empty()) {
        let asked = match lookup {
            Some(l) => l.agent_at(ext).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "agents directory did not answer; using the configured map");
                None
            }),
            None => None,
        };
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
