//! A call logged by hand on a client's or a company's page (`POST
//! /contacts/{id}/calls`, `/leads/{id}/calls`, `/companies/{id}/calls`): one made
//! from a mobile, or before the PBX was connected —
//! which way, how it went, when (in the person's time zone; now when not given),
//! how many minutes, and what was said. Activities files it as a call entry by the
//! person (`LogCall`) and refuses what it cannot take; the page then says why and
//! nothing is saved.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;

use crate::client::{Opened, show_opened};
use crate::page::{Notice, failure, refusal, see_other};
use crate::timeline::{Kind, Which};
use crate::{Viewer, Web};

/// Longest call a person may log, in minutes (a day).
const MAX_MINUTES: i64 = 24 * 60;

/// The form as typed (kept on the page when it is refused).
#[derive(Deserialize, Default, Clone)]
pub struct CallForm {
    #[serde(default)]
    pub direction: String,
    #[serde(default)]
    pub outcome: String,
    /// A local date and time from the page, and its offset from UTC in minutes.
    #[serde(default)]
    pub started: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    pub minutes: String,
    #[serde(default)]
    pub note: String,
}

/// `POST …/calls`.
pub async fn log<W: Which>(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CallForm>,
) -> Response {
    let kind = W::KIND;
    let t = viewer.lang.tr();
    let Some(message) = request(&viewer, kind, &id, &form) else {
        return refused(&web, &viewer, (kind, &id), form, t.call_log_invalid).await;
    };
    let logged = async { web.activities().log_call(viewer.ask(message)?).await };
    match logged.await {
        Ok(_) => see_other(&kind.page(&id), &[]),
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) if s.code() == tonic::Code::InvalidArgument => {
            refused(&web, &viewer, (kind, &id), form, t.call_log_invalid).await
        }
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            refused(&web, &viewer, (kind, &id), form, why).await
        }
    }
}

/// The client's page saying why, the form open with what was typed.
async fn refused(
    web: &Web,
    viewer: &Viewer,
    (kind, id): (Kind, &str),
    form: CallForm,
    why: impl Into<String>,
) -> Response {
    let opened = Opened {
        part: "call",
        call: Some(form),
        ..Opened::default()
    };
    show_opened(web, viewer, kind, id, "", Notice::error(why), opened).await
}

/// What the form asks activities to file, or `None` when it cannot say it.
fn request(viewer: &Viewer, kind: Kind, id: &str, form: &CallForm) -> Option<apb::LogCallRequest> {
    let direction = match form.direction.as_str() {
        "in" => apb::Direction::Inbound,
        "out" => apb::Direction::Outbound,
        _ => return None,
    };
    let outcome = match form.outcome.as_str() {
        "answered" => apb::CallOutcome::Answered,
        "missed" => apb::CallOutcome::Missed,
        "busy" => apb::CallOutcome::Busy,
        "failed" => apb::CallOutcome::Failed,
        _ => return None,
    };
    let minutes = match form.minutes.trim() {
        "" => 0,
        m => m
            .parse::<i64>()
            .ok()
            .filter(|m| (0..=MAX_MINUTES).contains(m))?,
    };
    let started_at = match form.started.trim() {
        "" => None,
        picked => {
            let at = crate::home::picked(viewer, picked, &form.offset)?;
            // It must have ended by now.
            let ended = at + time::Duration::minutes(minutes);
            let now = time::OffsetDateTime::now_utc();
            (ended <= now + time::Duration::minutes(1)).then_some(())?;
            Some(prost_types::Timestamp {
                seconds: at.unix_timestamp(),
                nanos: 0,
            })
        }
    };
    if form.note.chars().count() > crate::client::MAX_NOTE {
        return None;
    }
    Some(apb::LogCallRequest {
        links: Some(kind.links(id)),
        direction: direction as i32,
        outcome: outcome as i32,
        started_at,
        duration_ms: minutes * 60_000,
        note: form.note.clone(),
    })
}
