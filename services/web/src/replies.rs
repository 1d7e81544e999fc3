//! The office's canned answers in admin (`/admin/replies`): managers and admins add,
//! change and remove the ready texts agents drop into an answer in the inbox. The
//! texts are activities' (`ListReplies`, `SaveReply`, `DeleteReply`), which checks
//! who may change them; the page only hides what the person's role may not do.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_auth::policy::Action;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;
use tonic::Status;

use crate::admin::{Tabs, allows, not_theirs};
use crate::page::{Chrome, Notice, failure, html, refusal};
use crate::{Viewer, Web};

#[derive(Template)]
#[template(path = "replies.html")]
struct RepliesPage<'a> {
    c: Chrome<'a>,
    tabs: Tabs,
    replies: Vec<apb::CannedReply>,
    /// A new answer's fields as typed, kept when it was refused.
    draft: ReplyForm,
    notice: Notice,
}

#[derive(Deserialize, Default)]
pub struct ReplyForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/replies", get(page).post(save))
        .route("/admin/replies/{id}/delete", post(delete))
        // 4,000 Cyrillic characters are some 24 KiB as a form.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
}

/// The office's canned answers, by title (for the inbox's picker too).
pub async fn list(web: &Web, viewer: &Viewer) -> Result<Vec<apb::CannedReply>, Status> {
    let message = apb::ListRepliesRequest {};
    let found = web.activities().list_replies(viewer.ask(message)?).await?;
    Ok(found.into_inner().replies)
}

/// `GET /admin/replies`.
async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    if !allows(&viewer, Action::ManageReplies) {
        return not_theirs(&web, &viewer);
    }
    show(
        &web,
        &viewer,
        StatusCode::OK,
        Notice::none(),
        ReplyForm::default(),
    )
    .await
}

async fn show(
    web: &Web,
    viewer: &Viewer,
    status: StatusCode,
    notice: Notice,
    draft: ReplyForm,
) -> Response {
    let replies = match list(web, viewer).await {
        Ok(replies) => replies,
        Err(s) => return failure(viewer.chrome(web), &s),
    };
    let page = RepliesPage {
        c: viewer.chrome(web),
        tabs: Tabs::of(viewer),
        replies,
        draft,
        notice,
    };
    html(status, &page, &web.push_url)
}

/// `POST /admin/replies`: a new canned answer (no id) or a changed one. A refused
/// one is said, and a new one's text is kept in its form.
async fn save(State(web): State<Web>, viewer: Viewer, Form(form): Form<ReplyForm>) -> Response {
    if !allows(&viewer, Action::ManageReplies) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let message = apb::SaveReplyRequest {
        id: form.id.clone(),
        title: form.title.clone(),
        text: form.text.clone(),
    };
    let saved = async { web.activities().save_reply(viewer.ask(message)?).await };
    match saved.await {
        Ok(_) => {
            let notice = Notice::ok(t.saved_notice);
            show(&web, &viewer, StatusCode::OK, notice, ReplyForm::default()).await
        }
        Err(s) => {
            let (code, why) = match s.code() {
                tonic::Code::FailedPrecondition => {
                    (StatusCode::CONFLICT, t.replies_full.to_owned())
                }
                _ => refusal(&s, t, t.check_input),
            };
            let draft = match form.id.is_empty() {
                true => form,
                false => ReplyForm::default(),
            };
            show(&web, &viewer, code, Notice::error(why), draft).await
        }
    }
}

/// `POST /admin/replies/{id}/delete`.
async fn delete(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    if !allows(&viewer, Action::ManageReplies) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let message = apb::DeleteReplyRequest { id };
    let gone = async { web.activities().delete_reply(viewer.ask(message)?).await };
    let (status, notice) = match gone.await {
        Ok(_) => (StatusCode::OK, Notice::ok(t.reply_deleted)),
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            (code, Notice::error(why))
        }
    };
    show(&web, &viewer, status, notice, ReplyForm::default()).await
}
