//! Merging a duplicate into the contact whose page it is (`POST
//! /contacts/{id}/merge`): without `merged_id`, the contacts matching `q` (the
//! page offers the contact's own name: two records of one person mostly share it,
//! while contacts never share a phone or an email — each belongs to one record);
//! with it, contacts' `MergeContacts` moves the duplicate's phones, emails, tags,
//! history and deals here and deletes it. Only roles the permission table lets merge
//! are offered it, and contacts decides again.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use serde::Deserialize;

use crate::client::{Opened, show_opened};
use crate::page::{Notice, failure, refusal};
use crate::timeline::Kind;
use crate::{Viewer, Web};

#[derive(Deserialize)]
pub struct MergeForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    merged_id: String,
}

/// `POST /contacts/{id}/merge`.
pub async fn merge(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<MergeForm>,
) -> Response {
    if !crate::admin::allows(&viewer, ringside_auth::policy::Action::MergeRecords) {
        return crate::admin::not_theirs(&web, &viewer);
    }
    if form.merged_id.is_empty() {
        let query = form.q.trim();
        return crate::convert::find(&web, &viewer, (Kind::Contact, &id), "merge", query).await;
    }
    let t = viewer.lang.tr();
    let merged_id = form.merged_id;
    let message = cpb::MergeContactsRequest {
        survivor_id: id.clone(),
        merged_id: merged_id.clone(),
    };
    let merged = async { web.contacts().merge_contacts(viewer.ask(message)?).await };
    match merged.await {
        Ok(_) => crate::page::go_to(&headers, &Kind::Contact.page(&id)),
        // The page's own contact gone (or never the person's): not found; the
        // duplicate gone is said on the page.
        Err(s) if s.code() == tonic::Code::NotFound && !s.message().contains(&merged_id) => {
            failure(viewer.chrome(&web), &s)
        }
        Err(s) if s.code() == tonic::Code::PermissionDenied => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            let opened = Opened {
                part: "merge",
                ..Opened::default()
            };
            let notice = Notice::error(why);
            show_opened(&web, &viewer, Kind::Contact, &id, "", notice, opened).await
        }
    }
}
