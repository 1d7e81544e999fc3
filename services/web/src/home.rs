//! My day (`/`): the person's open tasks due by the end of their day, the overdue
//! ones first and marked, call-backs of missed calls among them; the conversations
//! waiting for their answer; the new leads given to them. A task is completed, moved
//! to another time or given to a colleague in place (`POST /tasks/{id}/complete`,
//! `/tasks/{id}/reschedule`, `/tasks/reassign`, then back to the page); a
//! call-back about a client is set from the call bar (`POST /tasks`).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use serde::Deserialize;
use tonic::{Code, Status};

use crate::page::{Chrome, Notice, When, failure, html, refusal, see_other};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Tasks and leads shown at most.
const SHOWN: i32 = 100;

struct DueTask {
    id: String,
    title: String,
    due: When,
    overdue: bool,
    call_back: bool,
    /// The client or deal it is about, when the person may open it.
    about: String,
}

struct LeadLine {
    href: String,
    name: String,
    channel: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    c: Chrome<'a>,
    tasks: Vec<DueTask>,
    /// More tasks are due than are shown.
    more: bool,
    leads: Vec<LeadLine>,
    waiting: Vec<crate::inbox::Item>,
    /// More conversations wait than are shown.
    more_waiting: bool,
    /// Whom the person may give a task to (nobody for an agent), by name.
    people: Vec<(String, String)>,
    notice: Notice,
}

pub async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    show(&web, &viewer, StatusCode::OK, Notice::none()).await
}

async fn show(web: &Web, viewer: &Viewer, status: StatusCode, notice: Notice) -> Response {
    let gathered = futures::try_join!(
        tasks(web, viewer),
        new_leads(web, viewer),
        crate::inbox::waiting(web, viewer),
        async { Ok(others(web, viewer).await) }
    );
    match gathered {
        Ok(((tasks, more), leads, (waiting, more_waiting), people)) => {
            let page = Home {
                c: viewer.chrome(web),
                tasks,
                more,
                leads,
                waiting,
                more_waiting,
                people,
                notice,
            };
            html(status, &page, &web.push_url)
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// The person's open tasks due by the end of their day, earliest first, and
/// whether there are more than are shown.
async fn tasks(web: &Web, viewer: &Viewer) -> Result<(Vec<DueTask>, bool), Status> {
    let zone = viewer.zone();
    let today = time::OffsetDateTime::now_utc().to_offset(zone.now()).date();
    let end_of_day = zone.midnight(today.next_day().unwrap_or(today));
    let message = apb::ListTasksRequest {
        assignee_id: "me".into(),
        due_to: rfc3339(end_of_day),
        page_size: SHOWN,
        ..Default::default()
    };
    let found = web.activities().list_tasks(viewer.ask(message)?).await?;
    let found = found.into_inner();
    let more = !found.next_page_token.is_empty();
    let lines = found.tasks.into_iter().map(|task| DueTask {
        overdue: task.overdue,
        call_back: task.r#type == i32::from(apb::TaskType::CallBack),
        about: about(task.links.as_ref()),
        due: When::of(task.due_at.as_ref()),
        id: task.id,
        title: task.title,
    });
    Ok((lines.collect(), more))
}

/// The page of what a task is about.
fn about(links: Option<&apb::Links>) -> String {
    match links {
        Some(l) if !l.contact_id.is_empty() => Kind::Contact.page(&l.contact_id),
        Some(l) if !l.lead_id.is_empty() => Kind::Lead.page(&l.lead_id),
        Some(l) if !l.deal_id.is_empty() => Kind::Deal.page(&l.deal_id),
        _ => String::new(),
    }
}

/// The colleagues the person may give their tasks to, themselves left out.
async fn others(web: &Web, viewer: &Viewer) -> Vec<(String, String)> {
    let mut people = crate::names::colleagues(web, viewer).await;
    people.retain(|(id, _)| *id != viewer.person.id);
    people
}

/// The new leads given to the person.
async fn new_leads(web: &Web, viewer: &Viewer) -> Result<Vec<LeadLine>, Status> {
    let message = cpb::ListLeadsRequest {
        owner_id: viewer.person.id.clone(),
        status: cpb::LeadStatus::New.into(),
        page_size: SHOWN,
        ..Default::default()
    };
    let found = web.contacts().list_leads(viewer.ask(message)?).await?;
    let t = viewer.lang.tr();
    let lines = found.into_inner().leads.into_iter().map(|lead| LeadLine {
        href: Kind::Lead.page(&lead.id),
        channel: channel(t, lead.source.map(|s| s.channel).as_deref()),
        name: lead.name,
    });
    Ok(lines.collect())
}

/// Where a lead came from, in the person's words ("" when it does not say).
pub(crate) fn channel(t: &'static crate::lang::Tr, channel: Option<&str>) -> &'static str {
    match channel {
        Some("telegram") => t.channel_telegram,
        Some("email") => t.channel_email,
        Some("web" | "form") => t.channel_web,
        Some("phone" | "call") => t.channel_phone,
        Some("manual") => t.channel_manual,
        _ => "",
    }
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `POST /tasks/{id}/complete`.
pub async fn complete(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let message = apb::CompleteTaskRequest { id };
    let done = async { web.activities().complete_task(viewer.ask(message)?).await };
    answered(&web, &viewer, done.await.map(drop)).await
}

#[derive(Deserialize)]
pub struct Reschedule {
    /// A local date and time from the page (`2026-11-28T15:30`).
    #[serde(default)]
    due: String,
    /// Its offset from UTC in minutes, as the page's script says (the person's
    /// usual offset when it does not).
    #[serde(default)]
    offset: String,
}

/// `POST /tasks/{id}/reschedule`: the task is due at another time of the person's.
pub async fn reschedule(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Reschedule>,
) -> Response {
    let t = viewer.lang.tr();
    let Some(due) = picked(&viewer, &form.due, &form.offset) else {
        return show(
            &web,
            &viewer,
            StatusCode::BAD_REQUEST,
            Notice::error(t.bad_due),
        )
        .await;
    };
    let message = apb::UpdateTaskRequest {
        id,
        due_at: Some(rfc3339(due)),
        ..Default::default()
    };
    let moved = async { web.activities().update_task(viewer.ask(message)?).await };
    answered(&web, &viewer, moved.await.map(drop)).await
}

#[derive(Deserialize)]
pub struct Reassign {
    #[serde(default)]
    task: String,
    /// The colleague's id.
    #[serde(default)]
    to: String,
}

/// `POST /tasks/reassign`: a task is given to a colleague (activities refuses
/// anyone the person may not give it to: an agent gives to nobody, a manager
/// within their teams). One form for the page: its lists are the tasks and the
/// people once each, however many of both there are.
pub async fn reassign(
    State(web): State<Web>,
    viewer: Viewer,
    Form(form): Form<Reassign>,
) -> Response {
    let t = viewer.lang.tr();
    let (task, to) = (form.task.trim(), form.to.trim());
    if task.is_empty() || to.is_empty() {
        let notice = Notice::error(t.give_task_whom);
        return show(&web, &viewer, StatusCode::BAD_REQUEST, notice).await;
    }
    let message = apb::UpdateTaskRequest {
        id: task.to_owned(),
        assignee_id: Some(to.to_owned()),
        ..Default::default()
    };
    let given = async { web.activities().update_task(viewer.ask(message)?).await };
    answered(&web, &viewer, given.await.map(drop)).await
}

/// The moment a time picked on a page is: read in the person's own time zone when
/// they keep one (the page shows times in it), else at the offset the form gives
/// (the browser's at that date), else at the browser's usual one.
pub(crate) fn picked(viewer: &Viewer, value: &str, given: &str) -> Option<time::OffsetDateTime> {
    let at = local_time(value)?;
    viewer.zone().moment(at, crate::lang::offset_of(given))
}

#[derive(Deserialize)]
pub struct NewTask {
    #[serde(default)]
    title: String,
    /// A local date and time from the page, and its offset from UTC in minutes.
    #[serde(default)]
    due: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    contact_id: String,
    #[serde(default)]
    lead_id: String,
}

/// Longest task title the page sends.
const MAX_TITLE: usize = 200;

/// `POST /tasks`: a call-back for the person about a client (the call bar's
/// follow-up), then the client's page; to the call bar's script (`ringside-script`)
/// 204, or the refusal's status.
pub async fn create(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<NewTask>,
) -> Response {
    let script = headers.contains_key(crate::SCRIPT_HEADER);
    let t = viewer.lang.tr();
    let title = form.title.trim();
    let due = picked(&viewer, &form.due, &form.offset);
    let (Some(due), false) = (due, title.is_empty() || title.chars().count() > MAX_TITLE) else {
        if script {
            return StatusCode::BAD_REQUEST.into_response();
        }
        return show(
            &web,
            &viewer,
            StatusCode::BAD_REQUEST,
            Notice::error(t.bad_task),
        )
        .await;
    };
    let links = apb::Links {
        contact_id: form.contact_id,
        lead_id: form.lead_id,
        ..Default::default()
    };
    let links = converted(&web, &viewer, links).await;
    let back = about(Some(&links));
    let message = apb::CreateTaskRequest {
        title: title.to_owned(),
        r#type: apb::TaskType::CallBack.into(),
        due_at: rfc3339(due),
        links: Some(links),
        ..Default::default()
    };
    let created = async { web.activities().create_task(viewer.ask(message)?).await };
    match (created.await.map(drop), script) {
        (Ok(()), true) => StatusCode::NO_CONTENT.into_response(),
        (Err(s), true) => refusal(&s, t, t.went_wrong).0.into_response(),
        (Ok(()), false) if !back.is_empty() => see_other(&back, &[]),
        (result, false) => answered(&web, &viewer, result).await,
    }
}

/// A lead that has become a contact (the call bar's card still knows the caller as
/// the lead it popped for): the task is the contact's too, so it shows on their page
/// and counts as their next action. A lead that cannot be read stays as given.
async fn converted(web: &Web, viewer: &Viewer, mut links: apb::Links) -> apb::Links {
    if links.lead_id.is_empty() || !links.contact_id.is_empty() {
        return links;
    }
    // Asked twice when contacts is busy: a task filed under the lead alone would
    // not show on the contact's page.
    for _ in 0..2 {
        let message = cpb::GetLeadRequest {
            id: links.lead_id.clone(),
        };
        let asked = async { web.contacts().get_lead(viewer.ask(message)?).await };
        match asked.await {
            Ok(lead) => {
                links.contact_id = lead.into_inner().contact_id;
                break;
            }
            Err(s) if matches!(s.code(), Code::Unavailable | Code::DeadlineExceeded) => {
                tracing::debug!(code = ?s.code(), "contacts did not say the lead's contact");
            }
            Err(_) => break,
        }
    }
    links
}

/// Back to My day when a change to a task went through; else the page saying why
/// (a task the person may not see is not found).
async fn answered(web: &Web, viewer: &Viewer, result: Result<(), Status>) -> Response {
    let t = viewer.lang.tr();
    match result {
        Ok(()) => see_other("/", &[]),
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(web), &s),
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            show(web, viewer, code, Notice::error(why)).await
        }
    }
}

/// `2026-11-28T15:30` (what a `datetime-local` field sends; seconds may follow).
fn local_time(value: &str) -> Option<time::PrimitiveDateTime> {
    use time::macros::format_description;
    let value = value.trim();
    let at = match value.len() {
        16 => time::PrimitiveDateTime::parse(
            value,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        ),
        19 => time::PrimitiveDateTime::parse(
            value,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        ),
        _ => return None,
    };
    at.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_time_from_the_page_is_read_at_the_persons_offset() {
        let moscow = time::UtcOffset::from_hms(3, 0, 0).expect("an offset");
        let at = local_time("2026-11-28T15:30").expect("a time");
        assert_eq!(
            rfc3339(at.assume_offset(moscow)),
            "2026-11-28T15:30:00+03:00"
        );
        let with_seconds = local_time("2026-11-28T15:30:05").expect("a time");
        assert_eq!(with_seconds.second(), 5);
        let bad = [
            "",
            "2026-11-28",
            "2026-13-01T10:00",
            "2026-11-28T25:00",
            "2026-11-28T15:30:zz",
        ];
        for bad in bad {
            assert_eq!(local_time(bad), None, "{bad}");
        }
    }
}
