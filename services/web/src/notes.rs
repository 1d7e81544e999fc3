//! A note's edits (`POST /notes/{id}/edit`) and its history (`GET
//! /notes/{id}/history`). Activities lets only the author edit a note and keeps
//! every earlier text (`EditNote`, `NoteHistory`); the timeline offers the edit to
//! the author alone and marks an edited note with a link to its history. After an
//! edit the browser goes back to the record the note is on.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;

use crate::names::Names;
use crate::page::{Chrome, When, failure, go_to, html, refusal};
use crate::{Viewer, Web};

/// Longest note, in characters (as when it is added).
const MAX_NOTE: usize = 10_000;

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    text: String,
    /// The page the note was edited on (a record's).
    #[serde(default)]
    back: String,
}

/// The page a note's history goes back to.
#[derive(Deserialize)]
pub struct Back {
    #[serde(default)]
    back: String,
}

/// One earlier text of the note.
struct Revision {
    text: String,
    by: String,
    when: When,
}

#[derive(Template)]
#[template(path = "note_history.html")]
struct HistoryPage<'a> {
    c: Chrome<'a>,
    revisions: Vec<Revision>,
    back: String,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/notes/{id}/edit", post(edit))
        .route("/notes/{id}/history", get(history))
        // A note of 10,000 Cyrillic characters is some 60 KiB as a form.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
}

/// Where to go back to: a record's page, or My day (never another site).
fn back_to(back: &str) -> &str {
    let record = ["/contacts/", "/leads/", "/deals/"]
        .iter()
        .any(|p| back.starts_with(p) && !back.contains("//"));
    match record {
        true => back,
        false => "/",
    }
}

/// `POST /notes/{id}/edit`: the author's new text; a refused one says why.
async fn edit(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<EditForm>,
) -> Response {
    let t = viewer.lang.tr();
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE {
        let status = tonic::Status::invalid_argument(t.note_length);
        return failure(viewer.chrome(&web), &status);
    }
    let message = apb::EditNoteRequest {
        id,
        text: text.to_owned(),
    };
    let edited = async { web.activities().edit_note(viewer.ask(message)?).await };
    match edited.await {
        Ok(_) => go_to(&headers, back_to(&form.back)),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            failure(viewer.chrome(&web), &tonic::Status::new(s.code(), why))
        }
    }
}

/// `GET /notes/{id}/history`: the note's earlier texts, newest first, with who
/// wrote each and when.
async fn history(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(back): Query<Back>,
) -> Response {
    let message = apb::NoteHistoryRequest { id };
    let asked = async { web.activities().note_history(viewer.ask(message)?).await };
    let revisions = match asked.await {
        Ok(answer) => answer.into_inner().revisions,
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    let ids = revisions.iter().map(|r| r.edited_by.as_str());
    let names = Names::of(&web, &viewer, ids).await;
    let revisions = (revisions.into_iter().rev())
        .map(|r| Revision {
            by: names.label(&r.edited_by),
            when: When::of(r.edited_at.as_ref()),
            text: r.text,
        })
        .collect();
    let page = HistoryPage {
        c: viewer.chrome(&web),
        revisions,
        back: back_to(&back.back).to_owned(),
    };
    html(StatusCode::OK, &page, &web.push_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_goes_back_only_to_a_record_page() {
        assert_eq!(back_to("/contacts/c1"), "/contacts/c1");
        assert_eq!(back_to("/deals/d1?after=x"), "/deals/d1?after=x");
        assert_eq!(back_to("https://evil.example/"), "/");
        assert_eq!(back_to("//evil.example/contacts/"), "/");
        assert_eq!(back_to("/contacts//evil.example"), "/");
        assert_eq!(back_to(""), "/");
    }
}
