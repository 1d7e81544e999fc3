//! The `ringside.notifications.v1.Notifications` gRPC service: the agents directory,
//! the `Subscribe` push stream, and notes typed into a card.

use std::pin::Pin;

use futures::Stream;
use ringside_auth::Caller;
use ringside_identity::{Invalid, required_text};
use ringside_proto::notifications::v1 as pb;
use ringside_proto::notifications::v1::notifications_server::Notifications as Api;
use tonic::{Request, Response, Status};

use crate::agents::Agent;
use crate::error::NotificationsError;
use crate::outbound::SendRequest;
use crate::service::Notifications;

pub struct NotificationsGrpc {
    service: Notifications,
}

impl NotificationsGrpc {
    pub fn new(service: Notifications) -> Self {
        NotificationsGrpc { service }
    }

    fn to_proto(&self, a: Agent) -> pb::Agent {
        pb::Agent {
            online: self.service.hub.is_online(&a.id),
            id: a.id,
            name: a.name,
            role: a.role,
            team: a.team,
            extensions: a.extensions,
            email: a.email,
            telegram_chat_id: a.telegram_chat_id,
        }
    }
}

fn invalid(e: Invalid) -> Status {
    NotificationsError::from(e).into()
}

fn id(field: &str, value: &str) -> Result<String, Status> {
    required_text(field, value).map_err(invalid)
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for NotificationsGrpc {
    async fn upsert_agent(&self, req: Request<pb::Agent>) -> Reply<pb::Agent> {
        let a = req.into_inner();
        let agent = Agent {
            id: a.id,
            name: a.name,
            role: a.role,
            team: a.team,
            extensions: a.extensions,
            email: a.email,
            telegram_chat_id: a.telegram_chat_id,
        };
        let saved = self.service.agents.upsert(agent).await?;
        Ok(Response::new(self.to_proto(saved)))
    }

    async fn get_agent(&self, req: Request<pb::GetAgentRequest>) -> Reply<pb::Agent> {
        let agent = self
            .service
            .agents
            .get(&id("id", &req.get_ref().id)?)
            .await?;
        Ok(Response::new(self.to_proto(agent)))
    }

    async fn find_agent(&self, req: Request<pb::FindAgentRequest>) -> Reply<pb::Agent> {
        let extension = id("extension", &req.get_ref().extension)?;
        let Some(agent_id) = self.service.agents.at_extension(&extension).await? else {
            return Err(Status::not_found("nobody sits at this extension"));
        };
        let agent = self.service.agents.get(&agent_id).await?;
        Ok(Response::new(self.to_proto(agent)))
    }

    async fn list_agents(
        &self,
        req: Request<pb::ListAgentsRequest>,
    ) -> Reply<pb::ListAgentsResponse> {
        let team = req.get_ref().team.trim();
        let agents = self
            .service
            .agents
            .list((!team.is_empty()).then_some(team))
            .await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents.into_iter().map(|a| self.to_proto(a)).collect(),
        }))
    }

    async fn delete_agent(&self, req: Request<pb::DeleteAgentRequest>) -> Reply<pb::Agent> {
        let agent = self
            .service
            .agents
            .delete(&id("id", &req.get_ref().id)?)
            .await?;
        Ok(Response::new(self.to_proto(agent)))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::Push, Status>> + Send>>;

    /// The caller's own pushes; the stream ends when the client goes away.
    async fn subscribe(&self, req: Request<pb::SubscribeRequest>) -> Reply<Self::SubscribeStream> {
        let agent = Caller::of(&req).actor;
        let mut sub = self.service.hub.subscribe(&agent);
        let stream =
            futures::stream::poll_fn(move |cx| sub.pushes.poll_recv(cx).map(|p| p.map(Ok)));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn add_call_note(
        &self,
        req: Request<pb::AddCallNoteRequest>,
    ) -> Reply<pb::AddCallNoteResponse> {
        let agent = Caller::of(&req).actor;
        let r = req.into_inner();
        let call_id = id("call_id", &r.call_id)?;
        let entry_id = self
            .service
            .add_call_note(&agent, &call_id, &r.text, &r.outcome)
            .await?;
        Ok(Response::new(pb::AddCallNoteResponse { entry_id }))
    }

    async fn send_message(
        &self,
        req: Request<pb::SendMessageRequest>,
    ) -> Reply<pb::SendMessageResponse> {
        let agent_id = Caller::of(&req).actor;
        let r = req.into_inner();
        let Some(outbound) = &self.service.outbound else {
            return Err(Status::failed_precondition(
                "no messaging channel is configured",
            ));
        };
        let outcome = outbound
            .send(SendRequest {
                agent_id,
                contact_id: r.contact_id,
                lead_id: r.lead_id,
                channel: r.channel,
                text: r.text,
                subject: r.subject,
                reply_to_entry_id: r.reply_to_entry_id,
            })
            .await?;
        Ok(Response::new(pb::SendMessageResponse {
            status: if outcome.sent { "sent" } else { "failed" }.to_owned(),
            reason: outcome.reason,
            external_id: outcome.external_id,
        }))
    }
}
