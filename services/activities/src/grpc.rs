//! The `ringside.activities.v1.Activities` gRPC service: requests are checked and
//! turned into domain calls here, results into messages, errors into status codes.

use ringside_identity::Invalid;
use ringside_proto::activities::v1 as pb;
use ringside_proto::activities::v1::activities_server::Activities;
use ringside_storage::now_millis;
use tonic::{Request, Status};

use crate::convert::{self, entry_to_proto, task_to_proto};
use crate::domain::{parse_optional_time, parse_time};
use crate::model::{
    Conversation, Ctx, NewTask, Page, Paged, SubjectFilter, TaskFilter, TaskPatch, TaskType,
};
use crate::service::ActivitiesService;
use ringside_kit::grpc::{Reply, invalid, next_token, ok, optional_id, required_id};

/// Default and largest page sizes.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;

pub struct ActivitiesGrpc {
    service: ActivitiesService,
}

impl ActivitiesGrpc {
    pub fn new(service: ActivitiesService) -> Self {
        ActivitiesGrpc { service }
    }
}

fn page(size: i32, token: &str) -> Result<Page, Status> {
    ringside_kit::grpc::page(size, token, DEFAULT_PAGE, MAX_PAGE)
}

#[tonic::async_trait]
impl Activities for ActivitiesGrpc {
    async fn timeline(&self, req: Request<pb::TimelineRequest>) -> Reply<pb::TimelineResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let subject = convert::subject_from_proto(r.subject.as_ref()).map_err(invalid)?;
        let kinds = r
            .kinds
            .iter()
            .map(|k| convert::entry_kind_from_proto(*k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let conversation = optional_id("conversation_id", &r.conversation_id)?;
        let paged = self
            .service
            .timeline(
                &ctx,
                &subject,
                &kinds,
                conversation.as_deref(),
                page(r.page_size, &r.page_token)?,
            )
            .await?;
        ok(pb::TimelineResponse {
            entries: paged.items.iter().map(entry_to_proto).collect(),
            next_page_token: next_token(paged.next),
        })
    }

    async fn client_history(
        &self,
        req: Request<pb::ClientHistoryRequest>,
    ) -> Reply<pb::ClientHistoryResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let subject = convert::subject_from_proto(r.subject.as_ref()).map_err(invalid)?;
        let recent = ringside_identity::page_size(r.recent, 5, 50).map_err(invalid)?;
        let history = self
            .service
            .client_history(&ctx, &subject, recent, r.except_call_id.trim())
            .await?;
        let now = now_millis();
        ok(pb::ClientHistoryResponse {
            recent: history.recent.iter().map(entry_to_proto).collect(),
            last_call: history.last_call.as_ref().map(entry_to_proto),
            open_tasks: history
                .open_tasks
                .iter()
                .map(|t| task_to_proto(t, now))
                .collect(),
        })
    }

    async fn get_entry(&self, req: Request<pb::GetEntryRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let entry = self
            .service
            .get_entry(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(entry_to_proto(&entry))
    }

    async fn get_call_entry(&self, req: Request<pb::GetCallEntryRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let call_id =
            ringside_identity::required_text("call_id", &req.get_ref().call_id).map_err(invalid)?;
        let entry = self.service.get_call_entry(&ctx, &call_id).await?;
        ok(entry_to_proto(&entry))
    }

    async fn add_call_note(&self, req: Request<pb::AddCallNoteRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let call_id = ringside_identity::required_text("call_id", &r.call_id).map_err(invalid)?;
        let entry = self
            .service
            .add_call_note(&ctx, &call_id, &r.text, &r.outcome)
            .await?;
        ok(entry_to_proto(&entry))
    }

    async fn list_conversations(
        &self,
        req: Request<pb::ListConversationsRequest>,
    ) -> Reply<pb::ListConversationsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let subject = convert::subject_from_proto(r.subject.as_ref()).map_err(invalid)?;
        let paged = self
            .service
            .list_conversations(&ctx, &subject, page(r.page_size, &r.page_token)?)
            .await?;
        ok(conversations_page(paged))
    }

    async fn list_inbox(
        &self,
        req: Request<pb::ListInboxRequest>,
    ) -> Reply<pb::ListConversationsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let query = convert::inbox_query_from_proto(&r).map_err(invalid)?;
        let paged = self
            .service
            .list_inbox(&ctx, &query, page(r.page_size, &r.page_token)?)
            .await?;
        ok(conversations_page(paged))
    }

    async fn get_conversation(
        &self,
        req: Request<pb::GetConversationRequest>,
    ) -> Reply<pb::Conversation> {
        let ctx = Ctx::of(&req);
        let id = required_id("id", &req.get_ref().id)?;
        let c = self.service.get_conversation(&ctx, &id).await?;
        ok(convert::conversation_to_proto(&c))
    }

    async fn list_replies(
        &self,
        _req: Request<pb::ListRepliesRequest>,
    ) -> Reply<pb::ListRepliesResponse> {
        let replies = self.service.list_replies().await?;
        ok(pb::ListRepliesResponse {
            replies: replies.iter().map(|r| r.to_proto()).collect(),
        })
    }

    async fn save_reply(&self, req: Request<pb::SaveReplyRequest>) -> Reply<pb::CannedReply> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let id = optional_id("id", &r.id)?.unwrap_or_default();
        let saved = self
            .service
            .save_reply(&ctx, &id, &r.title, &r.text)
            .await?;
        ok(saved.to_proto())
    }

    async fn delete_reply(
        &self,
        req: Request<pb::DeleteReplyRequest>,
    ) -> Reply<pb::DeleteReplyResponse> {
        let id = required_id("id", &req.get_ref().id)?;
        self.service.delete_reply(&id).await?;
        ok(pb::DeleteReplyResponse {})
    }

    async fn add_note(&self, req: Request<pb::AddNoteRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let links = convert::links_from_proto(r.links.as_ref()).map_err(invalid)?;
        let entry = self.service.add_note(&ctx, links, &r.text).await?;
        ok(entry_to_proto(&entry))
    }

    async fn log_call(&self, req: Request<pb::LogCallRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let links = convert::links_from_proto(r.links.as_ref()).map_err(invalid)?;
        let entry = self.service.log_call(&ctx, links, &r).await?;
        ok(entry_to_proto(&entry))
    }

    async fn edit_note(&self, req: Request<pb::EditNoteRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let entry = self
            .service
            .edit_note(&ctx, &required_id("id", &r.id)?, &r.text)
            .await?;
        ok(entry_to_proto(&entry))
    }

    async fn delete_note(&self, req: Request<pb::DeleteNoteRequest>) -> Reply<pb::Entry> {
        let ctx = Ctx::of(&req);
        let entry = self
            .service
            .delete_note(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(entry_to_proto(&entry))
    }

    async fn note_history(
        &self,
        req: Request<pb::NoteHistoryRequest>,
    ) -> Reply<pb::NoteHistoryResponse> {
        let ctx = Ctx::of(&req);
        let revisions = self
            .service
            .note_history(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(pb::NoteHistoryResponse {
            revisions: revisions.iter().map(convert::revision_to_proto).collect(),
        })
    }

    async fn create_task(&self, req: Request<pb::CreateTaskRequest>) -> Reply<pb::Task> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let new = NewTask {
            title: r.title,
            task_type: convert::task_type_from_proto(r.r#type, Some(TaskType::Todo))
                .map_err(invalid)?
                .unwrap_or(TaskType::Todo),
            assignee_id: r.assignee_id,
            due_at: parse_time("due_at", &r.due_at).map_err(invalid)?,
            remind_at: parse_optional_time("remind_at", &r.remind_at).map_err(invalid)?,
            links: convert::links_from_proto(r.links.as_ref()).map_err(invalid)?,
        };
        let task = self.service.create_task(&ctx, new).await?;
        ok(task_to_proto(&task, now_millis()))
    }

    async fn get_task(&self, req: Request<pb::GetTaskRequest>) -> Reply<pb::Task> {
        let ctx = Ctx::of(&req);
        let task = self
            .service
            .get_task(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(task_to_proto(&task, now_millis()))
    }

    async fn update_task(&self, req: Request<pb::UpdateTaskRequest>) -> Reply<pb::Task> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let time = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| parse_time(field, v))
                .transpose()
                .map_err(invalid)
        };
        let patch = TaskPatch {
            title: r.title,
            task_type: convert::task_type_from_proto(r.r#type, None).map_err(invalid)?,
            assignee_id: r.assignee_id,
            due_at: time("due_at", &r.due_at)?,
            remind_at: time("remind_at", &r.remind_at)?,
        };
        let task = self
            .service
            .update_task(&ctx, &required_id("id", &r.id)?, patch)
            .await?;
        ok(task_to_proto(&task, now_millis()))
    }

    async fn complete_task(&self, req: Request<pb::CompleteTaskRequest>) -> Reply<pb::Task> {
        let ctx = Ctx::of(&req);
        let task = self
            .service
            .complete_task(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(task_to_proto(&task, now_millis()))
    }

    async fn cancel_task(&self, req: Request<pb::CancelTaskRequest>) -> Reply<pb::Task> {
        let ctx = Ctx::of(&req);
        let task = self
            .service
            .cancel_task(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(task_to_proto(&task, now_millis()))
    }

    async fn list_tasks(&self, req: Request<pb::ListTasksRequest>) -> Reply<pb::ListTasksResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let assignee = match r.assignee_id.trim() {
            "me" => Some(ctx.actor.clone()),
            other => optional_id("assignee_id", other)?,
        };
        let subject = match &r.subject {
            Some(s) if s.subject.is_some() => {
                Some(convert::subject_from_proto(Some(s)).map_err(invalid)?)
            }
            _ => None,
        };
        let filter = TaskFilter {
            assignee_id: assignee,
            unassigned_only: r.unassigned_only,
            status: convert::task_status_from_proto(r.status).map_err(invalid)?,
            overdue_only: r.overdue_only,
            due_from: parse_optional_time("due_from", &r.due_from).map_err(invalid)?,
            due_to: parse_optional_time("due_to", &r.due_to).map_err(invalid)?,
            subject,
            people: None,
        };
        let paged = self
            .service
            .list_tasks(&ctx, filter, page(r.page_size, &r.page_token)?)
            .await?;
        let now = now_millis();
        ok(pb::ListTasksResponse {
            tasks: paged.items.iter().map(|t| task_to_proto(t, now)).collect(),
            next_page_token: next_token(paged.next),
        })
    }

    async fn next_action(
        &self,
        req: Request<pb::NextActionRequest>,
    ) -> Reply<pb::NextActionResponse> {
        let ctx = Ctx::of(&req);
        let subject =
            convert::subject_from_proto(req.get_ref().subject.as_ref()).map_err(invalid)?;
        let task = self.service.next_action(&ctx, &subject).await?;
        ok(pb::NextActionResponse {
            task: task.map(|t| task_to_proto(&t, now_millis())),
        })
    }

    async fn list_subjects(
        &self,
        req: Request<pb::ListSubjectsRequest>,
    ) -> Reply<pb::ListSubjectsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let kind = convert::subject_kind_from_proto(r.kind).map_err(invalid)?;
        let filter = match pb::SubjectFilter::try_from(r.filter) {
            Ok(pb::SubjectFilter::NoOpenTask) => SubjectFilter::NoOpenTask,
            Ok(pb::SubjectFilter::Overdue) => SubjectFilter::Overdue,
            _ => return Err(invalid(Invalid::new("filter", "no_open_task or overdue"))),
        };
        let owner = optional_id("owner_id", &r.owner_id)?;
        let paged = self
            .service
            .list_subjects(
                &ctx,
                kind,
                filter,
                owner.as_deref(),
                page(r.page_size, &r.page_token)?,
            )
            .await?;
        let now = now_millis();
        ok(pb::ListSubjectsResponse {
            subjects: paged
                .items
                .iter()
                .map(|s| convert::subject_summary_to_proto(s, now))
                .collect(),
            next_page_token: next_token(paged.next),
        })
    }
}

fn conversations_page(paged: Paged<Conversation>) -> pb::ListConversationsResponse {
    pb::ListConversationsResponse {
        conversations: paged
            .items
            .iter()
            .map(convert::conversation_to_proto)
            .collect(),
        next_page_token: next_token(paged.next),
    }
}
