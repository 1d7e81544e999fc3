//! What one service asks of another: deals asks the contacts directory whether a
//! company or contact exists, activities asks the notifications agents directory who
//! sits at an extension (both in this process), and ingest asks contacts who sent a
//! web form (in process, or over gRPC).

use std::sync::Arc;

use async_trait::async_trait;
use ringside_activities::directory::{AgentLookup, Directory, Record};
use ringside_contacts::assign::{AgentDirectory, Candidate};
use ringside_deals::{Parties, Party};
use ringside_ingest::resolve::ResolveError;
use ringside_notifications::agents::Agents;

pub struct ContactsParties(pub Arc<dyn Directory>);

#[async_trait]
impl Parties for ContactsParties {
    async fn exists(&self, party: Party, id: &str) -> Result<bool, String> {
        let record = match party {
            Party::Contact => Record::Contact,
            Party::Company => Record::Company,
        };
        self.0.exists(record, id).await.map_err(|e| e.to_string())
    }
}

pub struct LocalAgents(pub Agents);

#[async_trait]
impl AgentLookup for LocalAgents {
    async fn agent_at(&self, extension: &str) -> Result<Option<String>, String> {
        self.0
            .at_extension(extension)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Contacts resolving who wrote (a web form, a Telegram message, an email): in process, or over gRPC with a service
/// token.
pub enum ContactsResolver {
    Local(ringside_contacts::ContactsService),
    Remote {
        client: ringside_proto::contacts::v1::contacts_client::ContactsClient<
            tonic::transport::Channel,
        >,
        key: ringside_auth::TokenKey,
    },
}

#[async_trait]
impl ringside_ingest::resolve::Resolver for ContactsResolver {
    async fn resolve(
        &self,
        correlation_id: &str,
        request: ringside_proto::contacts::v1::ResolveRequest,
    ) -> Result<ringside_proto::contacts::v1::ResolveResponse, ResolveError> {
        match self {
            ContactsResolver::Local(contacts) => {
                resolve_here(contacts, correlation_id, request).await
            }
            ContactsResolver::Remote { client, key } => {
                let role = ringside_auth::Role::Service;
                let req = key.request(
                    request,
                    ringside_ingest::publisher::SOURCE,
                    role,
                    correlation_id,
                );
                match client.clone().resolve(req).await {
                    Ok(reply) => Ok(reply.into_inner()),
                    Err(s) if s.code() == tonic::Code::InvalidArgument => {
                        Err(ResolveError::Invalid(s.message().to_owned()))
                    }
                    Err(s) if s.code() == tonic::Code::NotFound => Err(ResolveError::NotFound),
                    Err(s) => Err(ResolveError::Unavailable(s.message().to_owned())),
                }
            }
        }
    }
}

async fn resolve_here(
    contacts: &ringside_contacts::ContactsService,
    correlation_id: &str,
    r: ringside_proto::contacts::v1::ResolveRequest,
) -> Result<ringside_proto::contacts::v1::ResolveResponse, ResolveError> {
    use ringside_contacts::convert;
    let invalid = |e: ringside_contacts::domain::Invalid| ResolveError::Invalid(e.to_string());
    let person = convert::person_from_proto(r, contacts.region()).map_err(invalid)?;
    let ctx = ringside_contacts::model::Ctx {
        actor: ringside_ingest::publisher::SOURCE.to_owned(),
        correlation_id: correlation_id.to_owned(),
    };
    match contacts.resolve_person(&ctx, person).await {
        Ok(resolved) => Ok(convert::resolved_to_proto(resolved)),
        Err(ringside_contacts::ContactsError::Invalid(e)) => Err(invalid(e)),
        Err(ringside_contacts::ContactsError::NotFound { .. }) => Err(ResolveError::NotFound),
        Err(e) => Err(ResolveError::Unavailable(e.to_string())),
    }
}

/// The agents directory as other services ask it: contacts for who may take a new
/// lead (with presence), ingest for the agents' own Telegram chats. In this process
/// (the directory, and presence from the push hub once notifications has started),
/// or over gRPC (`ListAgents`, whose answer carries presence).
pub enum StaffDirectory {
    Local {
        agents: Agents,
        hub: Arc<std::sync::OnceLock<ringside_notifications::hub::Hub>>,
    },
    Remote {
        client: ringside_proto::notifications::v1::notifications_client::NotificationsClient<
            tonic::transport::Channel,
        >,
        key: ringside_auth::TokenKey,
    },
}

impl StaffDirectory {
    /// Every agent, as `ListAgents` describes them; `caller` signs the request.
    async fn list(
        &self,
        caller: &'static str,
    ) -> Result<Vec<ringside_proto::notifications::v1::Agent>, String> {
        match self {
            StaffDirectory::Local { agents, hub } => {
                let all = agents.list(None).await.map_err(|e| e.to_string())?;
                let online = |id: &str| hub.get().is_some_and(|h| h.is_online(id));
                Ok(all
                    .into_iter()
                    .map(|a| ringside_proto::notifications::v1::Agent {
                        online: online(&a.id),
                        id: a.id,
                        role: a.role,
                        team: a.team,
                        telegram_chat_id: a.telegram_chat_id,
                        ..Default::default()
                    })
                    .collect())
            }
            StaffDirectory::Remote { client, key } => {
                let req = ringside_proto::notifications::v1::ListAgentsRequest::default();
                let req = key.request(req, caller, ringside_auth::Role::Service, "");
                let reply = client
                    .clone()
                    .list_agents(req)
                    .await
                    .map_err(|s| format!("notifications: {}", s.message()))?;
                Ok(reply.into_inner().agents)
            }
        }
    }
}

#[async_trait]
impl AgentDirectory for StaffDirectory {
    async fn agents(&self) -> Result<Vec<Candidate>, String> {
        let agents = self.list(ringside_contacts::SOURCE).await?;
        Ok(agents
            .into_iter()
            .map(|a| Candidate {
                id: a.id,
                role: a.role,
                team: a.team,
                online: a.online,
            })
            .collect())
    }
}

#[async_trait]
impl ringside_ingest::telegram::staff::AgentChats for StaffDirectory {
    async fn agent_chats(&self) -> Result<Vec<String>, String> {
        let agents = self.list(ringside_ingest::publisher::SOURCE).await?;
        Ok(agents
            .into_iter()
            .map(|a| a.telegram_chat_id)
            .filter(|c| !c.is_empty())
            .collect())
    }
}
