//! The `ringside.notifications.v1.Notifications` gRPC service: presence, the
//! `Subscribe` push stream, notes typed into a card, and agents' answers to clients.

use std::pin::Pin;

use futures::Stream;
use ringside_auth::Caller;
use ringside_identity::{Invalid, required_text};
use ringside_proto::notifications::v1 as pb;
use ringside_proto::notifications::v1::notifications_server::Notifications as Api;
use tonic::{Request, Response, Status};

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
    async fn list_online(
        &self,
        req: Request<pb::ListOnlineRequest>,
    ) -> Reply<pb::ListOnlineResponse> {
        let asked = req.into_inner().user_ids;
        let user_ids = match asked.is_empty() {
            true => self.service.hub.online(),
            false => asked
                .into_iter()
                .filter(|id| self.service.hub.is_online(id))
                .collect(),
        };
        Ok(Response::new(pb::ListOnlineResponse { user_ids }))
    }

    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::Push, Status>> + Send>>;

    /// The caller's pushes (theirs, and about the clients they see); the stream ends
    /// when the client goes away.
    async fn subscribe(&self, req: Request<pb::SubscribeRequest>) -> Reply<Self::SubscribeStream> {
        let caller = Caller::of(&req);
        let sight = crate::hub::sight(caller.actor, caller.role, caller.teams);
        let mut sub = self.service.hub.subscribe_seeing(sight);
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
            blocked: outcome.blocked,
            external_id: outcome.external_id,
        }))
    }
}
