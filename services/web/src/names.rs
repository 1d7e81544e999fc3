//! People's names for the ids records carry (an owner), asked of staff's `NamesOf`
//! once per page, as the person: "you", "unassigned", or the colleague's name. When
//! staff cannot say, the page shows the id rather than failing.

use std::collections::HashMap;

use ringside_auth::Role;
use ringside_proto::staff::v1 as spb;

use crate::lang::Tr;
use crate::{Viewer, Web};

/// The names a page needs, and how it says who owns a record.
pub struct Names {
    t: &'static Tr,
    me: String,
    names: HashMap<String, String>,
}

impl Names {
    /// The names of the people `ids` name (the person's own and empty ids need none).
    pub async fn of<'a>(
        web: &Web,
        viewer: &Viewer,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Names {
        let me = viewer.person.id.clone();
        let mut wanted: Vec<String> = ids
            .into_iter()
            .filter(|id| !id.is_empty() && *id != me)
            .map(str::to_owned)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let names = match wanted.is_empty() {
            true => HashMap::new(),
            false => ask(web, viewer, wanted).await,
        };
        Names {
            t: viewer.lang.tr(),
            me,
            names,
        }
    }

    /// Who owns a record, as the person reads it.
    pub fn label(&self, owner: &str) -> String {
        match owner {
            "" => self.t.unassigned.to_owned(),
            o if o == self.me => self.t.you.to_owned(),
            o => self.names.get(o).cloned().unwrap_or_else(|| o.to_owned()),
        }
    }
}

async fn ask(web: &Web, viewer: &Viewer, ids: Vec<String>) -> HashMap<String, String> {
    let request = match viewer.ask(spb::NamesOfRequest { ids }) {
        Ok(request) => request,
        Err(_) => return HashMap::new(),
    };
    match web.staff().names_of(request).await {
        Ok(found) => found.into_inner().names,
        Err(s) => {
            tracing::debug!(code = ?s.code(), "no names from staff");
            HashMap::new()
        }
    }
}

/// The office's teams by id, as staff names them; what staff cannot say (or will
/// not, to an agent) leaves ids unnamed, not the page broken.
pub async fn teams(web: &Web, viewer: &Viewer) -> HashMap<String, String> {
    let Ok(request) = viewer.ask(spb::ListTeamsRequest {}) else {
        return HashMap::new();
    };
    match web.staff().list_teams(request).await {
        Ok(found) => (found.into_inner().teams.into_iter())
            .map(|t| (t.id, t.name))
            .collect(),
        Err(s) => {
            tracing::debug!(code = ?s.code(), "no teams from staff");
            HashMap::new()
        }
    }
}

/// Whom the person may give a record to, by name: everyone active for an admin, the
/// members of their own teams for a manager (the services refuse anyone else), and
/// nobody for an agent, who may only take what nobody owns. Asked of staff's
/// directory, which agents may not read; what staff cannot say leaves the list
/// shorter, not the page broken.
pub async fn colleagues(web: &Web, viewer: &Viewer) -> Vec<(String, String)> {
    let person = &viewer.person;
    let teams = match person.role {
        // An empty team: every team.
        Role::Admin => vec![String::new()],
        Role::Manager => person.teams.clone(),
        _ => return Vec::new(),
    };
    let mut people = HashMap::new();
    for team in teams {
        members(web, viewer, team, &mut people).await;
    }
    let mut people: Vec<(String, String)> = people.into_iter().collect();
    people.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    people
}

/// The active members of `team` (every team when empty), page by page, into
/// `people` (at most [`MAX_PEOPLE`]).
async fn members(web: &Web, viewer: &Viewer, team: String, people: &mut HashMap<String, String>) {
    let mut token = String::new();
    loop {
        let message = spb::ListUsersRequest {
            team_id: team.clone(),
            page_size: 200,
            page_token: token,
            ..Default::default()
        };
        let Ok(request) = viewer.ask(message) else {
            return;
        };
        let Ok(page) = web.staff().list_users(request).await else {
            return;
        };
        let page = page.into_inner();
        for user in page.users {
            let name = user.details.map(|d| d.name).unwrap_or_default();
            people.insert(user.id, name);
        }
        if page.next_page_token.is_empty() || people.len() >= MAX_PEOPLE {
            return;
        }
        token = page.next_page_token;
    }
}

/// Longest list of people to give a record to.
const MAX_PEOPLE: usize = 2_000;
