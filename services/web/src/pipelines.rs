//! Admin's pipelines (`/admin/pipelines`, for the roles that manage them; deals
//! decides again on every call): each pipeline renamed (`POST
//! /admin/pipelines/{id}/name`), each stage's name, probability, WIP limit and its
//! rule, guidance (`POST /admin/stages/{id}`), a stage added after one of its open
//! stages (`POST /admin/pipelines/{id}/stages`), and a new pipeline from its name and
//! its open stages one per line, each with its probability if liked (`Call, 20`;
//! `POST /admin/pipelines`), with the won and lost stages named in the person's
//! language.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_auth::policy::Action;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;

use crate::admin::{Tabs, allows, not_theirs};
use crate::page::{Chrome, Notice, failure, html, refusal};
use crate::{Viewer, Web};

/// Open stages a new pipeline may be given at once.
const MAX_STAGES: usize = 20;
/// Longest name of a pipeline or a stage, in characters.
const MAX_NAME: usize = 100;

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/pipelines", get(pipelines).post(create))
        .route("/admin/pipelines/{id}/name", post(rename))
        .route("/admin/pipelines/{id}/stages", post(add_stage))
        .route("/admin/stages/{id}", post(change_stage))
}

struct StageLine {
    id: String,
    name: String,
    open: bool,
    /// The last open stage: where a new one goes unless said otherwise.
    last_open: bool,
    /// "after “Demo”", as the new stage's place.
    after: String,
    probability: i32,
    wip_limit: i32,
    refuses: bool,
    guidance: String,
}

struct PipelineLine {
    id: String,
    name: String,
    stages: Vec<StageLine>,
}

#[derive(Template)]
#[template(path = "pipelines.html")]
struct PipelinesPage<'a> {
    c: Chrome<'a>,
    tabs: Tabs,
    pipelines: Vec<PipelineLine>,
    /// The new pipeline's form as typed, when it was refused.
    draft: NewPipeline,
    notice: Notice,
}

/// `GET /admin/pipelines`, for the roles that manage pipelines (deals decides
/// again on every change).
pub async fn pipelines(State(web): State<Web>, viewer: Viewer) -> Response {
    if !allows(&viewer, Action::ManagePipelines) {
        return not_theirs(&web, &viewer);
    }
    show_pipelines(&web, &viewer, StatusCode::OK, Notice::none()).await
}

async fn show_pipelines(
    web: &Web,
    viewer: &Viewer,
    status: StatusCode,
    notice: Notice,
) -> Response {
    show_drafted(web, viewer, (status, notice), NewPipeline::default()).await
}

/// The page, with the new pipeline's form as `draft`.
async fn show_drafted(
    web: &Web,
    viewer: &Viewer,
    (status, notice): (StatusCode, Notice),
    draft: NewPipeline,
) -> Response {
    let message = dpb::ListPipelinesRequest {};
    let asked = async { web.deals().list_pipelines(viewer.ask(message)?).await };
    let found = match asked.await {
        Ok(found) => found.into_inner().pipelines,
        Err(s) => return failure(viewer.chrome(web), &s),
    };
    let t = viewer.lang.tr();
    let open = i32::from(dpb::StageKind::Open);
    let refuse = i32::from(dpb::WipRule::Refuse);
    let pipelines = (found.into_iter())
        .map(|p| PipelineLine {
            id: p.id,
            name: p.name,
            stages: (p.stages.iter())
                .map(|s| StageLine {
                    last_open: p.stages.iter().rfind(|s| s.kind == open).map(|s| &s.id)
                        == Some(&s.id),
                    after: crate::lang::fill(t.add_stage_after_stage, &[&s.name]),
                    open: s.kind == open,
                    refuses: s.wip_rule == refuse,
                    id: s.id.clone(),
                    name: s.name.clone(),
                    probability: s.probability,
                    wip_limit: s.wip_limit,
                    guidance: s.guidance.clone(),
                })
                .collect(),
        })
        .collect();
    let page = PipelinesPage {
        c: viewer.chrome(web),
        tabs: Tabs::of(viewer),
        pipelines,
        draft,
        notice,
    };
    html(status, &page, &web.push_url)
}

/// `POST /admin/stages/{id}`: a stage's name, probability, WIP limit and rule,
/// guidance; a number that is not one is said and nothing changes.
pub async fn change_stage(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !allows(&viewer, Action::ManagePipelines) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let field = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let number = |name: &str| match field(name).as_str() {
        "" => Ok(0),
        n => n.parse::<i32>().map_err(|_| ()),
    };
    let (Ok(probability), Ok(wip_limit)) = (number("probability"), number("wip_limit")) else {
        let notice = Notice::error(t.check_input);
        return show_pipelines(&web, &viewer, StatusCode::BAD_REQUEST, notice).await;
    };
    let message = dpb::UpdateStageRequest {
        stage_id: id,
        name: Some(field("name")),
        probability: Some(probability),
        wip_limit: Some(wip_limit),
        wip_rule: match field("wip_rule").as_str() {
            "refuse" => dpb::WipRule::Refuse,
            _ => dpb::WipRule::Warn,
        }
        .into(),
        guidance: Some(field("guidance")),
    };
    let changed = async { web.deals().update_stage(viewer.ask(message)?).await };
    answered(&web, &viewer, changed.await).await
}

/// The page after a change deals made (saved) or refused (why).
async fn answered<T>(web: &Web, viewer: &Viewer, done: Result<T, tonic::Status>) -> Response {
    let t = viewer.lang.tr();
    match done {
        Ok(_) => show_pipelines(web, viewer, StatusCode::OK, Notice::ok(t.saved_notice)).await,
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            show_pipelines(web, viewer, code, Notice::error(why)).await
        }
    }
}

#[derive(Deserialize)]
pub struct NewStage {
    /// Its name, and its probability after a comma if liked.
    #[serde(default)]
    stage: String,
    /// The open stage it follows ("": first).
    #[serde(default)]
    after: String,
}

/// `POST /admin/pipelines/{id}/stages`: a new open stage after the one chosen; a
/// line that is no stage is said, and nothing changes.
pub async fn add_stage(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<NewStage>,
) -> Response {
    if !allows(&viewer, Action::ManagePipelines) {
        return not_theirs(&web, &viewer);
    }
    let Some(mut specs) = stages_of(&form.stage).filter(|s| s.len() == 1) else {
        let notice = Notice::error(viewer.lang.tr().check_input);
        return show_pipelines(&web, &viewer, StatusCode::BAD_REQUEST, notice).await;
    };
    let message = dpb::AddStageRequest {
        pipeline_id: id,
        stage: specs.pop(),
        after_stage_id: form.after,
    };
    let added = async { web.deals().add_stage(viewer.ask(message)?).await };
    answered(&web, &viewer, added.await).await
}

/// The new pipeline's form.
#[derive(Deserialize, Default)]
pub struct NewPipeline {
    #[serde(default)]
    name: String,
    /// One open stage per line: its name, and its probability after a comma.
    #[serde(default)]
    stages: String,
}

/// The open stages a form's lines give (`Call, 20`; `Demo`), or `None` when a line
/// is no stage or there are none or too many.
fn stages_of(text: &str) -> Option<Vec<dpb::StageSpec>> {
    let specs: Option<Vec<_>> = (text.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            // A probability after the last comma, if what follows it is a number; a
            // comma in a name is the name's.
            let split = line.rsplit_once([',', ';']).and_then(|(name, p)| {
                let p = p.trim().trim_end_matches('%').trim();
                p.parse::<i32>().ok().map(|p| (name.trim(), p))
            });
            let (name, probability) = split.unwrap_or((line, 0));
            let fits = !name.is_empty()
                && name.chars().count() <= MAX_NAME
                && (0..=100).contains(&probability);
            fits.then(|| dpb::StageSpec {
                name: name.to_owned(),
                kind: dpb::StageKind::Open.into(),
                probability,
                ..Default::default()
            })
        })
        .collect();
    specs.filter(|s| (1..=MAX_STAGES).contains(&s.len()))
}

/// `POST /admin/pipelines`: a new pipeline; a form that gives no name or no
/// stages is said with what was typed, and nothing is made.
pub async fn create(
    State(web): State<Web>,
    viewer: Viewer,
    Form(form): Form<NewPipeline>,
) -> Response {
    if !allows(&viewer, Action::ManagePipelines) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let (name, stages) = (form.name.trim(), stages_of(&form.stages));
    let named = !name.is_empty() && name.chars().count() <= MAX_NAME;
    let Some(mut stages) = stages.filter(|_| named) else {
        let refused = (StatusCode::BAD_REQUEST, Notice::error(t.pipeline_wrong));
        return show_drafted(&web, &viewer, refused, form).await;
    };
    // The closing stages, named in the person's language.
    for (kind, name, probability) in [
        (dpb::StageKind::Won, t.stage_won, 100),
        (dpb::StageKind::Lost, t.stage_lost, 0),
    ] {
        stages.push(dpb::StageSpec {
            name: name.to_owned(),
            kind: kind.into(),
            probability,
            ..Default::default()
        });
    }
    let message = dpb::CreatePipelineRequest {
        name: name.to_owned(),
        stages,
    };
    let made = async { web.deals().create_pipeline(viewer.ask(message)?).await };
    match made.await {
        Ok(_) => show_pipelines(&web, &viewer, StatusCode::OK, Notice::ok(t.saved_notice)).await,
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            show_drafted(&web, &viewer, (code, Notice::error(why)), form).await
        }
    }
}

#[derive(Deserialize)]
pub struct Rename {
    #[serde(default)]
    name: String,
}

/// `POST /admin/pipelines/{id}/name`: the pipeline's new name.
pub async fn rename(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Rename>,
) -> Response {
    if !allows(&viewer, Action::ManagePipelines) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        let notice = Notice::error(t.check_input);
        return show_pipelines(&web, &viewer, StatusCode::BAD_REQUEST, notice).await;
    }
    let message = dpb::RenamePipelineRequest {
        id,
        name: name.to_owned(),
    };
    let renamed = async { web.deals().rename_pipeline(viewer.ask(message)?).await };
    answered(&web, &viewer, renamed.await).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_written_one_per_line_with_a_probability_if_liked() {
        let stages = stages_of("Звонок, 20\n\n  Показ ; 40 %\nДоговор").expect("three");
        let got: Vec<_> = stages
            .iter()
            .map(|s| (s.name.as_str(), s.probability))
            .collect();
        assert_eq!(got, [("Звонок", 20), ("Показ", 40), ("Договор", 0)]);
        assert_eq!(stages_of(""), None, "no stage");
        assert_eq!(stages_of("Звонок, 120"), None, "no such probability");
        let named = stages_of("Звонок, повторный").expect("one");
        assert_eq!(
            (named[0].name.as_str(), named[0].probability),
            ("Звонок, повторный", 0)
        );
        assert_eq!(stages_of(", 20"), None, "no name");
        assert_eq!(
            stages_of(&"Этап\n".repeat(MAX_STAGES + 1)),
            None,
            "too many"
        );
    }
}
