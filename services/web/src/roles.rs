//! The roles in admin (`/admin/roles`, for those who may read the staff): what each
//! role may do and which records it sees, read from the suite's own tables — the
//! permission table (`ringside_auth::policy::grants`) and the record scopes
//! (`ringside_auth::visibility::reach`) — so the page says what the services
//! enforce. Both tables are compiled in; the page changes nothing. Its words are
//! kept here, in both languages, beside the one list of what a person's role can
//! be granted.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ringside_auth::Role;
use ringside_auth::policy::{self, Action};
use ringside_auth::visibility::{Entity, Reach, reach};

use crate::admin::{Tabs, allows, not_theirs};
use crate::lang::{Lang, Tr};
use crate::page::{Chrome, html};
use crate::{Viewer, Web};

/// The roles a person can have, in the order the page shows them.
const PEOPLE: [Role; 3] = [Role::Agent, Role::Manager, Role::Admin];

/// What people's roles can be granted, in the order the page lists it. A service's
/// own actions (resolving parties, signing people in, writing the audit, methods
/// open to anyone) are not a person's, and not listed.
const ACTIONS: [Action; 18] = [
    Action::ReadRecords,
    Action::WriteRecords,
    Action::AssignRecords,
    Action::MergeRecords,
    Action::DeleteRecords,
    Action::NoteCalls,
    Action::ReceivePushes,
    Action::MessageClients,
    Action::ManageReplies,
    Action::ReadReports,
    Action::ManagePipelines,
    Action::ReadNames,
    Action::ReadStaff,
    Action::ManagePeople,
    Action::ManageStaff,
    Action::ReadAudit,
    Action::ReadChannels,
    Action::ManageOwnAccount,
];

const ENTITIES: [Entity; 5] = [
    Entity::Lead,
    Entity::Contact,
    Entity::Company,
    Entity::Deal,
    Entity::Task,
];

/// The page's words.
pub struct RolesText {
    hint: &'static str,
    may_do: &'static str,
    sees: &'static str,
    action: &'static str,
    records: &'static str,
    gives_to: &'static str,
    yes: &'static str,
    no: &'static str,
    tasks: &'static str,
    all: &'static str,
    team: &'static str,
    own: &'static str,
    give_all: &'static str,
    give_team: &'static str,
    give_own: &'static str,
    /// The actions, in [`ACTIONS`]' order.
    actions: [&'static str; 18],
}

const EN: RolesText = RolesText {
    hint: "What each role may do and which records it sees. The services enforce these tables on every request; they are part of this version of Ringside and change with it. Give a person a role on their page.",
    may_do: "What each role may do",
    sees: "Which records each role sees",
    action: "May",
    records: "Records",
    gives_to: "May give a record to",
    yes: "yes",
    no: "no",
    tasks: "Tasks",
    all: "every one",
    team: "their own, their teams' and unassigned ones",
    own: "their own and unassigned ones",
    give_all: "anyone, or nobody",
    give_team: "themselves, their teams' people, or nobody",
    give_own: "themselves",
    actions: [
        "read clients, deals, timelines, tasks and conversations",
        "create and change them: leads, contacts, notes, tasks, deals, moves",
        "give a client or a deal to someone",
        "merge duplicates",
        "delete a record for good",
        "file notes on calls",
        "get call cards and alerts",
        "write to clients (Telegram, email)",
        "manage canned answers",
        "read reports",
        "manage pipelines and stages",
        "see colleagues' names",
        "read the staff directory",
        "add and change people (a manager: the agents of their teams)",
        "manage teams and their heads",
        "read the audit trail",
        "see how the channels are doing",
        "manage their own account",
    ],
};

const RU: RolesText = RolesText {
    hint: "Что может каждая роль и какие записи она видит. Сервисы применяют эти таблицы к каждому запросу; они входят в эту версию Ringside и меняются вместе с ней. Роль человеку назначают на его странице.",
    may_do: "Что может каждая роль",
    sees: "Какие записи видит каждая роль",
    action: "Может",
    records: "Записи",
    gives_to: "Может передать запись",
    yes: "да",
    no: "нет",
    tasks: "Задачи",
    all: "все",
    team: "свои, своих команд и ничьи",
    own: "свои и ничьи",
    give_all: "кому угодно или никому",
    give_team: "себе, людям своих команд или никому",
    give_own: "себе",
    actions: [
        "читать клиентов, сделки, хронологию, задачи и переписку",
        "создавать и менять их: лиды, контакты, заметки, задачи, сделки и их переходы по этапам",
        "передавать клиента или сделку",
        "объединять дубликаты",
        "удалять запись насовсем",
        "записывать заметки к звонкам",
        "получать карточки звонков и оповещения",
        "писать клиентам (Telegram, почта)",
        "вести готовые ответы",
        "читать отчёты",
        "вести воронки и этапы",
        "видеть имена коллег",
        "читать справочник сотрудников",
        "добавлять и менять людей (менеджер — агентов своих команд)",
        "вести команды и их руководителей",
        "читать журнал действий",
        "видеть, как работают каналы",
        "вести свою учётную запись",
    ],
};

fn text(t: &'static Tr) -> &'static RolesText {
    match t.lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}

/// One row: what it is about, and a cell per role.
struct Row {
    label: &'static str,
    cells: Vec<Cell>,
}

struct Cell {
    text: &'static str,
    /// A granted action (a mark), or words.
    granted: Option<bool>,
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage<'a> {
    c: Chrome<'a>,
    tabs: Tabs,
    r: &'static RolesText,
    roles: Vec<&'static str>,
    actions: Vec<Row>,
    records: Vec<Row>,
}

pub fn routes() -> axum::Router<Web> {
    axum::Router::new().route("/admin/roles", axum::routing::get(page))
}

/// `GET /admin/roles`.
async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    if !allows(&viewer, Action::ReadStaff) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let page = RolesPage {
        c: viewer.chrome(&web),
        tabs: Tabs::of(&viewer),
        r: text(t),
        roles: PEOPLE.iter().map(|r| role_label(t, *r)).collect(),
        actions: actions(text(t)),
        records: records(t, text(t)),
    };
    html(StatusCode::OK, &page, &web.push_url)
}

fn role_label(t: &'static Tr, role: Role) -> &'static str {
    match role {
        Role::Admin => t.role_admin,
        Role::Manager => t.role_manager,
        Role::Agent | Role::Service => t.role_agent,
    }
}

/// Each action, and whether each role is granted it.
fn actions(r: &'static RolesText) -> Vec<Row> {
    (ACTIONS.iter().zip(r.actions))
        .map(|(action, label)| Row {
            label,
            cells: (PEOPLE.iter())
                .map(|role| {
                    let granted = policy::allows(*role, *action);
                    Cell {
                        text: if granted { r.yes } else { r.no },
                        granted: Some(granted),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Each kind of record and how far each role reaches over it; then to whom each
/// role may give a record (as far as it reaches over deals and clients alike).
fn records(t: &'static Tr, r: &'static RolesText) -> Vec<Row> {
    let sees = |reach: Reach| match reach {
        Reach::All => r.all,
        Reach::Team => r.team,
        Reach::Own => r.own,
    };
    let gives = |reach: Reach| match reach {
        Reach::All => r.give_all,
        Reach::Team => r.give_team,
        Reach::Own => r.give_own,
    };
    let row = |label, say: &dyn Fn(Reach) -> &'static str, entity| Row {
        label,
        cells: (PEOPLE.iter())
            .map(|role| Cell {
                text: say(reach(*role, entity)),
                granted: None,
            })
            .collect(),
    };
    let mut rows: Vec<Row> = (ENTITIES.iter())
        .map(|entity| row(entity_label(t, r, *entity), &sees, *entity))
        .collect();
    rows.push(row(r.gives_to, &gives, Entity::Deal));
    rows
}

fn entity_label(t: &'static Tr, r: &'static RolesText, entity: Entity) -> &'static str {
    match entity {
        Entity::Lead => t.leads,
        Entity::Contact => t.contacts,
        Entity::Company => t.companies,
        Entity::Deal => t.deals_title,
        Entity::Task => r.tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_a_persons_role_is_granted_is_listed_once() {
        for role in PEOPLE {
            for action in policy::grants(role) {
                assert!(ACTIONS.contains(action), "{action:?} is not on the page");
            }
        }
        for (i, action) in ACTIONS.iter().enumerate() {
            assert!(!ACTIONS[i + 1..].contains(action), "{action:?} twice");
        }
    }

    #[test]
    fn the_page_says_what_the_tables_say() {
        let r = &EN;
        let reports = actions(r)
            .into_iter()
            .find(|row| row.label == "read reports")
            .expect("reports");
        let marks: Vec<_> = reports.cells.iter().map(|c| c.granted).collect();
        assert_eq!(marks, [Some(false), Some(true), Some(true)]);
        let rows = records(&crate::lang::EN, r);
        let deals = rows.iter().find(|row| row.label == "Deals").expect("deals");
        let said: Vec<_> = deals.cells.iter().map(|c| c.text).collect();
        assert_eq!(said, [r.own, r.team, r.all]);
        let gives = rows.last().expect("gives");
        assert_eq!(gives.label, r.gives_to);
        assert_eq!(gives.cells[0].text, "themselves");
    }
}
