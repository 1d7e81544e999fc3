//! A timeline as the pages show it: a contact's, a lead's or a deal's entries across
//! every channel, newest first, a page at a time — the next page comes as the
//! list's end scrolls into view (`GET …/timeline?after=…`, the list's items alone)
//! or, without script, by a plain link to the page from there on. Also what the
//! pages share about the record a page is for ([`Kind`]): its address, and how the
//! services name it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;
use tonic::Status;

use crate::lang::Tr;
use crate::page::{Chrome, When, failure, html};
use crate::{Viewer, Web};

/// Entries per timeline page.
const TIMELINE_PAGE: i32 = 50;

/// Which kind of record a page is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Contact,
    Lead,
    Deal,
    Company,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Contact => "/contacts/",
            Kind::Lead => "/leads/",
            Kind::Deal => "/deals/",
            Kind::Company => "/companies/",
        }
    }

    /// The address of the page of the record `id`.
    pub fn page(self, id: &str) -> String {
        format!("{}{}", self.path(), crate::page::encoded(id))
    }

    pub fn subject(self, id: &str) -> apb::Subject {
        use apb::subject::Subject;
        let subject = match self {
            Kind::Contact => Subject::ContactId(id.to_owned()),
            Kind::Lead => Subject::LeadId(id.to_owned()),
            Kind::Deal => Subject::DealId(id.to_owned()),
            Kind::Company => Subject::CompanyId(id.to_owned()),
        };
        apb::Subject {
            subject: Some(subject),
        }
    }

    pub fn links(self, id: &str) -> apb::Links {
        match self {
            Kind::Contact => apb::Links {
                contact_id: id.to_owned(),
                ..Default::default()
            },
            Kind::Lead => apb::Links {
                lead_id: id.to_owned(),
                ..Default::default()
            },
            Kind::Deal => apb::Links {
                deal_id: id.to_owned(),
                ..Default::default()
            },
            Kind::Company => apb::Links {
                company_id: id.to_owned(),
                ..Default::default()
            },
        }
    }
}

/// One line of the timeline.
pub struct Line {
    pub when: When,
    pub kind: &'static str,
    pub kind_class: &'static str,
    pub summary: String,
    pub text: String,
    /// A note's id, text and whether the person wrote it (and may edit it), and
    /// whether it was edited (its history is linked); empty for other entries.
    pub note_id: String,
    pub note_text: String,
    pub mine: bool,
    pub edited: bool,
}

#[derive(Template)]
#[template(path = "timeline.html")]
struct TimelinePart<'a> {
    c: Chrome<'a>,
    base: String,
    lines: Vec<Line>,
    next: String,
}

#[derive(Deserialize)]
pub struct After {
    #[serde(default)]
    pub after: String,
}

/// The kind of record a route is about, as a type (`page::<Contacts>`).
pub trait Which {
    const KIND: Kind;
}

/// `/contacts/…`.
pub struct Contacts;
/// `/leads/…`.
pub struct Leads;
/// `/deals/…`.
pub struct Deals;
/// `/companies/…`.
pub struct Companies;

impl Which for Contacts {
    const KIND: Kind = Kind::Contact;
}

impl Which for Leads {
    const KIND: Kind = Kind::Lead;
}

impl Which for Deals {
    const KIND: Kind = Kind::Deal;
}

impl Which for Companies {
    const KIND: Kind = Kind::Company;
}

/// One page of the timeline from `after`, and the token of the next ("" at the end).
pub async fn timeline(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    kind: Kind,
    id: &str,
    after: &str,
) -> Result<(Vec<Line>, String), Status> {
    let message = apb::TimelineRequest {
        subject: Some(kind.subject(id)),
        page_size: TIMELINE_PAGE,
        page_token: after.to_owned(),
        ..Default::default()
    };
    let page = web.activities().timeline(viewer.ask(message)?).await?;
    let page = page.into_inner();
    let me = viewer.person.id.as_str();
    let lines = page.entries.into_iter().map(|e| line(t, e, me)).collect();
    Ok((lines, page.next_page_token))
}

fn line(t: &'static Tr, entry: apb::Entry, me: &str) -> Line {
    let (kind, kind_class) = match apb::EntryKind::try_from(entry.kind) {
        Ok(apb::EntryKind::Call) => (t.entry_call, "call"),
        Ok(apb::EntryKind::Message) => (t.entry_message, "message"),
        Ok(apb::EntryKind::Note) => (t.entry_note, "note"),
        Ok(apb::EntryKind::Form) => (t.entry_form, "form"),
        _ => (t.entry_system, "system"),
    };
    let said = crate::said::summary(t, &entry);
    let is_note = kind_class == "note";
    let (note_id, note_text) = match is_note {
        true => (entry.id.clone(), entry.text.clone()),
        false => Default::default(),
    };
    // The text unless the line says it already (a one-line note).
    let summary = said.unwrap_or(entry.summary);
    let text = match entry.text == summary {
        true => String::new(),
        false => entry.text,
    };
    Line {
        when: When::of(entry.occurred_at.as_ref()),
        kind,
        kind_class,
        summary,
        text,
        note_id,
        note_text,
        mine: is_note && !me.is_empty() && entry.author_id == me,
        edited: is_note && entry.updated_at.is_some() && entry.updated_at != entry.created_at,
    }
}

/// `GET …/timeline?after=…`: the next page of the timeline.
pub async fn timeline_page<W: Which>(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(after): Query<After>,
) -> Response {
    timeline_part(&web, &viewer, W::KIND, &id, &after.after).await
}

/// The next page of the timeline, as the list's items (an htmx fragment).
async fn timeline_part(web: &Web, viewer: &Viewer, kind: Kind, id: &str, after: &str) -> Response {
    let t = viewer.lang.tr();
    match timeline(web, viewer, t, kind, id, after).await {
        Ok((lines, next)) => {
            let part = TimelinePart {
                c: viewer.chrome(web),
                base: kind.page(id),
                lines,
                next,
            };
            html(StatusCode::OK, &part, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// The timelines' routes.
pub fn routes() -> axum::Router<Web> {
    use axum::routing::get;
    axum::Router::new()
        .route("/contacts/{id}/timeline", get(timeline_page::<Contacts>))
        .route("/leads/{id}/timeline", get(timeline_page::<Leads>))
        .route("/deals/{id}/timeline", get(timeline_page::<Deals>))
        .route("/companies/{id}/timeline", get(timeline_page::<Companies>))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_address_carries_its_id_as_one_segment() {
        assert_eq!(Kind::Contact.page("0190-ab_c"), "/contacts/0190-ab_c");
        assert_eq!(Kind::Lead.page("a/../b?x"), "/leads/a%2F..%2Fb%3Fx");
        assert_eq!(Kind::Deal.page("d1"), "/deals/d1");
    }
}
