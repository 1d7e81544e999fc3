//! Admin (`/admin`, offered to the roles the permission table lets manage people;
//! staff and deals decide again on every call): the people — their role, teams,
//! SIP extensions, where alerts go, active or not — added, changed, deactivated,
//! and sent a one-time link to set their password (`/admin/people/{id}`); the teams
//! with their heads (the pipelines are [`crate::pipelines`]). A manager manages
//! the agents of their own teams: staff refuses the rest, and the page says so.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ringside_proto::staff::v1 as spb;
use tonic::Status;

use ringside_auth::policy::{self, Action};

use crate::lang::Tr;
use crate::page::{Chrome, Notice, encoded, failure, go_to, html, refusal};
use crate::{Viewer, Web};

/// The roles a person may have, as staff names them.
const ROLES: [&str; 3] = ["agent", "manager", "admin"];

/// One person in the list.
struct PersonLine {
    href: String,
    name: String,
    login: String,
    role: &'static str,
    teams: String,
    extensions: String,
    active: bool,
}

/// A team, with its heads to choose among the managers.
struct TeamLine {
    id: String,
    name: String,
    members: usize,
    heads: Vec<Choice>,
}

/// A checkbox or an option: its value, label, and whether it is chosen.
struct Choice {
    value: String,
    label: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    c: Chrome<'a>,
    /// The person may add teams and choose their heads (an admin).
    manages_teams: bool,
    tabs: Tabs,
    people: Vec<PersonLine>,
    teams: Vec<TeamLine>,
    roles: Vec<Choice>,
    notice: Notice,
}

/// The person being edited, as the form shows them.
#[derive(Default)]
struct Edited {
    id: String,
    name: String,
    login: String,
    extensions: String,
    alert_email: String,
    telegram_chat_id: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage<'a> {
    c: Chrome<'a>,
    person: Edited,
    roles: Vec<Choice>,
    teams: Vec<Choice>,
    /// A password link just made: shown once, here.
    link: String,
    notice: Notice,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin", get(people))
        .route("/admin/people", post(add_person))
        .route("/admin/people/{id}", get(person).post(change_person))
        .route("/admin/people/{id}/active", post(set_active))
        .route("/admin/people/{id}/link", post(password_link))
        .route("/admin/teams", post(add_team))
        .route("/admin/teams/{id}", post(change_team))
}

/// Which of admin's sections the person's role offers, as the tabs above each.
pub(crate) struct Tabs {
    /// The pipelines and their stages (an admin).
    pub pipelines: bool,
    /// The canned answers (a manager, an admin).
    pub replies: bool,
    /// How the channels are doing (an admin).
    pub channels: bool,
    /// What each role may do and see (those who read the staff).
    pub roles: bool,
}

impl Tabs {
    pub(crate) fn of(viewer: &Viewer) -> Self {
        Tabs {
            pipelines: allows(viewer, Action::ManagePipelines),
            replies: allows(viewer, Action::ManageReplies),
            channels: allows(viewer, Action::ReadChannels),
            roles: allows(viewer, Action::ReadStaff),
        }
    }
}

pub(crate) fn allows(viewer: &Viewer, action: Action) -> bool {
    policy::allows(viewer.person.role, action)
}

/// The page saying the person's role may not do this here.
pub(crate) fn not_theirs(web: &Web, viewer: &Viewer) -> Response {
    failure(
        viewer.chrome(web),
        &Status::permission_denied("not this role's"),
    )
}

fn role_label(t: &'static Tr, role: &str) -> &'static str {
    match role {
        "admin" => t.role_admin,
        "manager" => t.role_manager,
        _ => t.role_agent,
    }
}

fn roles(t: &'static Tr, current: &str) -> Vec<Choice> {
    let current = if current.is_empty() { "agent" } else { current };
    (ROLES.iter())
        .map(|r| Choice {
            value: (*r).to_owned(),
            label: role_label(t, r).to_owned(),
            chosen: *r == current,
        })
        .collect()
}

/// Everyone staff lets the person see (deactivated people too), and the teams.
async fn directory(web: &Web, viewer: &Viewer) -> Result<(Vec<spb::User>, Vec<spb::Team>), Status> {
    let mut users = Vec::new();
    let mut token = String::new();
    loop {
        let message = spb::ListUsersRequest {
            include_inactive: true,
            page_size: 200,
            page_token: token,
            ..Default::default()
        };
        let page = web
            .staff()
            .list_users(viewer.ask(message)?)
            .await?
            .into_inner();
        users.extend(page.users);
        if page.next_page_token.is_empty() || users.len() >= 2_000 {
            break;
        }
        token = page.next_page_token;
    }
    let teams = web
        .staff()
        .list_teams(viewer.ask(spb::ListTeamsRequest {})?)
        .await?;
    Ok((users, teams.into_inner().teams))
}

/// `GET /admin`.
async fn people(State(web): State<Web>, viewer: Viewer) -> Response {
    show_people(&web, &viewer, StatusCode::OK, Notice::none()).await
}

async fn show_people(web: &Web, viewer: &Viewer, status: StatusCode, notice: Notice) -> Response {
    let t = viewer.lang.tr();
    let (users, teams) = match directory(web, viewer).await {
        Ok(found) => found,
        Err(s) => return failure(viewer.chrome(web), &s),
    };
    let team_name = |id: &String| {
        let team = teams.iter().find(|t| &t.id == id);
        team.map_or_else(|| id.clone(), |t| t.name.clone())
    };
    let people = (users.iter())
        .map(|u| {
            let d = u.details.clone().unwrap_or_default();
            PersonLine {
                href: format!("/admin/people/{}", encoded(&u.id)),
                teams: d
                    .team_ids
                    .iter()
                    .map(team_name)
                    .collect::<Vec<_>>()
                    .join(", "),
                extensions: d.extensions.join(", "),
                role: role_label(t, &d.role),
                login: d.login,
                name: d.name,
                active: u.active,
            }
        })
        .collect();
    let teams = (teams.iter())
        .map(|team| TeamLine {
            heads: heads(&users, team),
            members: team.member_ids.len(),
            id: team.id.clone(),
            name: team.name.clone(),
        })
        .collect();
    let page = AdminPage {
        c: viewer.chrome(web),
        manages_teams: allows(viewer, Action::ManageStaff),
        tabs: Tabs::of(viewer),
        people,
        teams,
        roles: roles(t, "agent"),
        notice,
    };
    html(status, &page, &web.push_url)
}

/// Whom a team's heads are chosen among: its members (staff refuses anyone else),
/// and its heads — always listed, so saving the team never drops one unseen.
fn heads(users: &[spb::User], team: &spb::Team) -> Vec<Choice> {
    let mut ids: Vec<&String> = Vec::new();
    for id in team.member_ids.iter().chain(&team.head_ids) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let name_of = |id: &String| {
        let user = users.iter().find(|u| &u.id == id);
        let details = user.and_then(|u| u.details.as_ref());
        details.map_or_else(|| id.clone(), |d| d.name.clone())
    };
    (ids.into_iter())
        .map(|id| Choice {
            value: id.clone(),
            label: name_of(id),
            chosen: team.head_ids.contains(id),
        })
        .collect()
}

/// The details a person's form gives; teams come as `team:<id>` checkboxes.
fn details_of(form: &HashMap<String, String>) -> Option<spb::UserDetails> {
    let field = |name: &str| {
        form.get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut team_ids: Vec<String> = (form.keys())
        .filter_map(|k| k.strip_prefix("team:"))
        .map(str::to_owned)
        .collect();
    team_ids.sort();
    let extensions = field("extensions")
        .split([',', ' ', ';'])
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    // A role the form did not offer is a bad form, not an agent.
    let role = field("role");
    if !ROLES.contains(&role.as_str()) {
        return None;
    }
    Some(spb::UserDetails {
        name: field("name"),
        login: field("login"),
        role,
        team_ids,
        extensions,
        alert_email: field("alert_email"),
        telegram_chat_id: field("telegram_chat_id"),
        ..Default::default()
    })
}

/// `POST /admin/people`: a new person; then their page, to set the rest.
async fn add_person(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(details) = details_of(&form) else {
        let t = viewer.lang.tr();
        let bad = Notice::error(t.check_input);
        return show_people(&web, &viewer, StatusCode::BAD_REQUEST, bad).await;
    };
    let message = spb::CreateUserRequest {
        id: String::new(),
        details: Some(details),
    };
    let made = async { web.staff().create_user(viewer.ask(message)?).await };
    match made.await {
        Ok(user) => go_to(
            &headers,
            &format!("/admin/people/{}", encoded(&user.get_ref().id)),
        ),
        Err(s) => {
            let t = viewer.lang.tr();
            let (code, why) = refusal(&s, t, t.went_wrong);
            show_people(&web, &viewer, code, Notice::error(why)).await
        }
    }
}

/// `GET /admin/people/{id}`.
async fn person(State(web): State<Web>, viewer: Viewer, Path(id): Path<String>) -> Response {
    show_person(&web, &viewer, &id, Shown::default()).await
}

/// What a person's page shows besides the person: a notice, a fresh password link.
#[derive(Default)]
struct Shown {
    status: Option<StatusCode>,
    notice: Notice,
    link: String,
}

async fn show_person(web: &Web, viewer: &Viewer, id: &str, shown: Shown) -> Response {
    let t = viewer.lang.tr();
    let asked = async {
        let message = spb::GetUserRequest { id: id.to_owned() };
        let user = web
            .staff()
            .get_user(viewer.ask(message)?)
            .await?
            .into_inner();
        let teams = web
            .staff()
            .list_teams(viewer.ask(spb::ListTeamsRequest {})?)
            .await?;
        Ok::<_, Status>((user, teams.into_inner().teams))
    };
    let (user, teams) = match asked.await {
        Ok(found) => found,
        Err(s) => return failure(viewer.chrome(web), &s),
    };
    let d = user.details.unwrap_or_default();
    let teams = (teams.into_iter())
        .map(|team| Choice {
            chosen: d.team_ids.contains(&team.id),
            value: team.id,
            label: team.name,
        })
        .collect();
    let page = PersonPage {
        c: viewer.chrome(web),
        roles: roles(t, &d.role),
        teams,
        person: Edited {
            id: user.id,
            name: d.name,
            login: d.login,
            extensions: d.extensions.join(", "),
            alert_email: d.alert_email,
            telegram_chat_id: d.telegram_chat_id,
            active: user.active,
        },
        link: shown.link,
        notice: shown.notice,
    };
    html(shown.status.unwrap_or(StatusCode::OK), &page, &web.push_url)
}

/// The person's page again, saying what staff said of a change.
async fn answered(web: &Web, viewer: &Viewer, id: &str, done: Result<(), Status>) -> Response {
    let t = viewer.lang.tr();
    let shown = match done {
        Ok(()) => Shown {
            notice: Notice::ok(t.saved_notice),
            ..Shown::default()
        },
        Err(s) if s.code() == tonic::Code::NotFound => return failure(viewer.chrome(web), &s),
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            Shown {
                status: Some(code),
                notice: Notice::error(why),
                ..Shown::default()
            }
        }
    };
    show_person(web, viewer, id, shown).await
}

/// `POST /admin/people/{id}`: their details as the form gives them (the language
/// and time zone they chose stay as they were).
async fn change_person(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(asked) = details_of(&form) else {
        let why = Status::invalid_argument(viewer.lang.tr().check_input);
        return answered(&web, &viewer, &id, Err(why)).await;
    };
    let changed = async {
        let message = spb::GetUserRequest { id: id.clone() };
        let before = web
            .staff()
            .get_user(viewer.ask(message)?)
            .await?
            .into_inner();
        let kept = before.details.unwrap_or_default();
        let details = spb::UserDetails {
            locale: kept.locale,
            time_zone: kept.time_zone,
            ..asked
        };
        let message = spb::UpdateUserRequest {
            id: id.clone(),
            details: Some(details),
        };
        web.staff().update_user(viewer.ask(message)?).await?;
        Ok(())
    };
    answered(&web, &viewer, &id, changed.await).await
}

/// `POST /admin/people/{id}/active`: deactivated (their sessions end) or back.
async fn set_active(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let active = match form.get("active").map(String::as_str) {
        Some("1") => true,
        Some("0") => false,
        _ => {
            let why = Status::invalid_argument(viewer.lang.tr().check_input);
            return answered(&web, &viewer, &id, Err(why)).await;
        }
    };
    let message = spb::SetUserActiveRequest {
        id: id.clone(),
        active,
    };
    let done = async {
        web.staff().set_user_active(viewer.ask(message)?).await?;
        Ok(())
    };
    answered(&web, &viewer, &id, done.await).await
}

/// `POST /admin/people/{id}/link`: a one-time link to set their password, shown
/// once on the page (its secret after a `#`, which browsers never send).
async fn password_link(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let message = spb::CreatePasswordLinkRequest {
        user_id: id.clone(),
        valid_for_hours: 0,
    };
    let made = async { web.staff().create_password_link(viewer.ask(message)?).await };
    match made.await {
        Ok(link) => {
            let shown = Shown {
                link: format!("{}/welcome#{}", site(&headers), link.get_ref().secret),
                ..Shown::default()
            };
            show_person(&web, &viewer, &id, shown).await
        }
        Err(s) => answered(&web, &viewer, &id, Err(s)).await,
    }
}

/// This site's address as the admin's browser knows it: the form's origin (a post
/// from another site never gets here), else the host it asked.
fn site(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("origin"), header("host")) {
        (Some(origin), _) if origin != "null" => origin.to_owned(),
        (_, Some(host)) => format!("//{host}"),
        _ => String::new(),
    }
}

/// `POST /admin/teams`: a new team.
async fn add_team(
    State(web): State<Web>,
    viewer: Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !allows(&viewer, Action::ManageStaff) {
        return not_theirs(&web, &viewer);
    }
    let name = form
        .get("name")
        .map(|n| n.trim().to_owned())
        .unwrap_or_default();
    let message = spb::CreateTeamRequest {
        id: String::new(),
        name,
    };
    let made = async { web.staff().create_team(viewer.ask(message)?).await };
    teams_answered(&web, &viewer, made.await.map(drop)).await
}

/// `POST /admin/teams/{id}`: its name and heads (`head:<id>` checkboxes).
async fn change_team(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !allows(&viewer, Action::ManageStaff) {
        return not_theirs(&web, &viewer);
    }
    let mut head_ids: Vec<String> = (form.keys())
        .filter_map(|k| k.strip_prefix("head:"))
        .map(str::to_owned)
        .collect();
    head_ids.sort();
    let message = spb::UpdateTeamRequest {
        id,
        name: form
            .get("name")
            .map(|n| n.trim().to_owned())
            .unwrap_or_default(),
        head_ids,
    };
    let changed = async { web.staff().update_team(viewer.ask(message)?).await };
    teams_answered(&web, &viewer, changed.await.map(drop)).await
}

async fn teams_answered(web: &Web, viewer: &Viewer, done: Result<(), Status>) -> Response {
    let t = viewer.lang.tr();
    match done {
        Ok(()) => show_people(web, viewer, StatusCode::OK, Notice::ok(t.saved_notice)).await,
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            show_people(web, viewer, code, Notice::error(why)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_form_gives_their_details() {
        let form: HashMap<String, String> = [
            ("name", " Ольга "),
            ("login", "olga@office.example"),
            ("role", "root"),
            ("extensions", "101, 102;103"),
            ("team:sales", "1"),
            ("team:support", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(details_of(&form).is_none(), "an unknown role is a bad form");
        let mut form = form;
        form.insert("role".into(), "manager".into());
        let d = details_of(&form).expect("details");
        assert_eq!(d.name, "Ольга");
        assert_eq!(d.role, "manager");
        assert_eq!(d.extensions, ["101", "102", "103"]);
        assert_eq!(d.team_ids, ["sales", "support"]);
    }
}
