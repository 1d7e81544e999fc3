//! A call logged by hand on a client's page (`POST /contacts/{id}/calls`, `POST
//! /leads/{id}/calls`): one made from a mobile, or before the PBX was connected —
//! which way, how it went, when (in the person's time zone; now when not given),
//! how many minutes, and what was said. Activities files it as a call entry by the
//! person (`LogCall`) and refuses what it cannot take; the page then says why and
//! nothing is saved.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use ringside_proto::activities::v1 as apb;
use serde::Deserialize;

use crate::page::{Notice, failure, refusal, see_other};
use crate::timeline::{Kind, Which};
use crate::{Viewer, Web};

/// Longest call a person may log, in minutes (a day).
const MAX_MINUTES: i64 = 24 * 60;

#[derive(Deserialize, Default)]
pub struct CallForm {
    #[serde(default)]
    direction: String,
    #[serde(default)]
    outcome: String,
    /// A local date and time from the page, and its offset from UTC in minutes.
    #[serde(default)]
    started: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    note: String,
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
        let notice = Notice::error(t.call_log_invalid);
        return crate::client::show(&web, &viewer, kind, &id, "", notice).await;
    };
    let logged = async { web.activities().log_call(viewer.ask(message)?).await };
    match logged.await {
        Ok(_) => see_other(&kind.page(&id), &[]),
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            crate::client::show(&web, &viewer, kind, &id, "", Notice::error(why)).await
        }
    }
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
    let started_at = match form.started.trim() {
        "" => None,
        picked => {
            let at = crate::home::picked(viewer, picked, &form.offset)?;
            Some(prost_types::Timestamp {
                seconds: at.unix_timestamp(),
                nanos: 0,
            })
        }
    };
    let minutes = match form.minutes.trim() {
        "" => 0,
        m => m
            .parse::<i64>()
            .ok()
            .filter(|m| (0..=MAX_MINUTES).contains(m))?,
    };
    Some(apb::LogCallRequest {
        links: Some(kind.links(id)),
        direction: direction as i32,
        outcome: outcome as i32,
        started_at,
        duration_ms: minutes * 60_000,
        note: form.note.clone(),
    })
}
