//! A note's edits (`POST /notes/{id}/edit`) and its history (`GET
//! /notes/{id}/history`). Activities lets only the author edit a note and keeps
//! every earlier text (`EditNote`, `NoteHistory`); the timeline offers the edit to
//! the author alone and marks an edited note with a link to its history. After an
//! edit the browser goes to the record the note is on (as activities answers it).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;

use crate::names::Names;
use crate::page::{Chrome, When, failure, go_to, html, refusal};
use crate::timeline::Kind;
use crate::{Viewer, Web};

use crate::client::MAX_NOTE;

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    text: String,
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

/// Where to go back to: a record's page (`/contacts/{id}` and the like, nothing
/// more), else My day.
fn back_to(back: &str) -> &str {
    let record = ["/contacts/", "/leads/", "/deals/", "/companies/"]
        .iter()
        .filter_map(|p| back.strip_prefix(p))
        .any(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    match record {
        true => back,
        false => "/",
    }
}

/// The page of the record a note is on.
fn record_of(links: Option<&apb::Links>) -> String {
    let Some(l) = links else {
        return "/".into();
    };
    let pages = [
        (Kind::Deal, &l.deal_id),
        (Kind::Contact, &l.contact_id),
        (Kind::Lead, &l.lead_id),
        (Kind::Company, &l.company_id),
    ];
    (pages.into_iter())
        .find(|(_, id)| !id.is_empty())
        .map_or_else(|| "/".into(), |(kind, id)| kind.page(id))
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
        Ok(entry) => go_to(&headers, &record_of(entry.into_inner().links.as_ref())),
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
    fn the_history_goes_back_only_to_a_record_page() {
        assert_eq!(back_to("/contacts/c1"), "/contacts/c1");
        assert_eq!(back_to("/companies/0190-ab_c"), "/companies/0190-ab_c");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/contacts/",
            "/contacts//evil.example",
            "/contacts/../signout",
            "/contacts/a?b",
            "/contacts/",
            "/contacts/\\evil",
            "/contacts/ы",
            "",
        ] {
            assert_eq!(back_to(elsewhere), "/", "{elsewhere}");
        }
    }

    #[test]
    fn an_edit_goes_to_the_record_the_note_is_on() {
        let links = apb::Links {
            contact_id: "c1".into(),
            deal_id: "d1".into(),
            ..Default::default()
        };
        assert_eq!(record_of(Some(&links)), "/deals/d1");
        assert_eq!(record_of(None), "/");
    }
}
