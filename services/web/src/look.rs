//! How the deals are looked at — the board or the list, whose deals, a tag, those
//! without a next step or past their close date, those closing in a month (or with
//! no close date), one currency, open ones only, the order — as the address says
//! it (`/deals?layout=list&owner=me&…`: labels and switches, not a client's data,
//! so it can be bookmarked), and saved as a named view (deals' `SaveView`), private
//! or shared with the person's first team (`POST /deals/views`; `/deals?view={id}`
//! opens one; its owner deletes it with `POST /deals/views/{id}/delete`). The
//! toolbar above both layouts shows the views, the filters and the form that saves
//! them.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::Status;

use crate::lang::Tr;
use crate::page::{failure, form_urlencoded, go_to, refusal};
use crate::{Viewer, Web};

/// Longest view name and tag, in characters.
const MAX_NAME: usize = 100;

/// The look of the deals an address asks for.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Look {
    #[serde(default)]
    pub pipeline: String,
    /// A saved view this look came from.
    #[serde(default)]
    pub view: String,
    /// "list", or the board.
    #[serde(default)]
    pub layout: String,
    /// "me", or everyone the person sees.
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub no_next: String,
    #[serde(default)]
    pub overdue: String,
    /// The month of the expected close, `YYYY-MM`.
    #[serde(default)]
    pub close: String,
    /// Deals with no expected close date.
    #[serde(default)]
    pub no_close: String,
    /// One currency's deals (`RUB`).
    #[serde(default)]
    pub currency: String,
    /// Open deals only.
    #[serde(default)]
    pub open: String,
    /// created, updated, amount, close.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub asc: String,
    /// Where a page of the list or a column starts.
    #[serde(default)]
    pub after: String,
}

const SORTS: [(&str, dpb::SortField); 4] = [
    ("created", dpb::SortField::Created),
    ("updated", dpb::SortField::Updated),
    ("amount", dpb::SortField::Amount),
    ("close", dpb::SortField::ExpectedClose),
];

fn flag(value: &str) -> bool {
    matches!(value, "1" | "on" | "true")
}

impl Look {
    pub fn list(&self) -> bool {
        self.layout == "list"
    }

    pub fn mine(&self) -> bool {
        self.owner == "me"
    }

    pub fn no_next_action(&self) -> bool {
        flag(&self.no_next)
    }

    pub fn overdue_close(&self) -> bool {
        flag(&self.overdue)
    }

    pub fn ascending(&self) -> bool {
        flag(&self.asc)
    }

    pub fn no_close_date(&self) -> bool {
        flag(&self.no_close)
    }

    pub fn open_only(&self) -> bool {
        flag(&self.open)
    }

    /// The close month's first and last day (`2026-12-01`, `2026-12-31`), when
    /// `close` is a month.
    fn close_days(&self) -> Option<(String, String)> {
        let (year, month) = self.close.trim().split_once('-')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let first = jiff::civil::Date::new(year.parse().ok()?, month.parse().ok()?, 1).ok()?;
        Some((first.to_string(), first.last_of_month().to_string()))
    }

    /// The close month as the month field shows it ("" when it is not one).
    pub fn close_month(&self) -> String {
        match self.close_days() {
            Some((first, _)) => first[..7].to_owned(),
            None => String::new(),
        }
    }

    /// The currency's code, when it is one (ISO 4217's, as deals checks it): an
    /// unknown one filters nothing.
    pub fn currency_code(&self) -> String {
        crate::convert::currency(&self.currency).unwrap_or_default()
    }

    /// What deals filters by.
    pub fn filter(&self) -> dpb::DealFilter {
        let mut filter = dpb::DealFilter {
            pipeline_id: self.pipeline.clone(),
            owner_id: if self.mine() {
                "me".into()
            } else {
                String::new()
            },
            tag: self.tag.trim().to_owned(),
            no_next_action: self.no_next_action(),
            overdue_close: self.overdue_close(),
            no_close_date: self.no_close_date(),
            currency: self.currency_code(),
            status: match self.open_only() {
                true => dpb::DealStatus::Open.into(),
                false => dpb::DealStatus::Unspecified.into(),
            },
            ..Default::default()
        };
        if let Some((first, last)) = self.close_days() {
            filter.close_from = first;
            filter.close_to = last;
        }
        filter
    }

    pub fn sort(&self) -> dpb::Sort {
        let field = SORTS
            .iter()
            .find(|(name, _)| *name == self.sort)
            .map_or(dpb::SortField::Unspecified, |(_, f)| *f);
        dpb::Sort {
            field: field.into(),
            ascending: self.ascending(),
        }
    }

    /// The same look over another pipeline (no longer a saved view's).
    pub fn with_pipeline(&self, pipeline: &str) -> Look {
        Look {
            pipeline: pipeline.to_owned(),
            view: String::new(),
            after: String::new(),
            ..self.clone()
        }
    }

    /// The name of the order, when it is one deals knows ("" for the default).
    fn sort_name(&self) -> &'static str {
        SORTS
            .iter()
            .find(|(name, _)| *name == self.sort)
            .map_or("", |(name, _)| name)
    }

    /// How the list's column of `field` is sorted, for `aria-sort`.
    pub fn aria_sort(&self, field: &str) -> &'static str {
        match (self.sort_name() == field, self.ascending()) {
            (false, _) => "none",
            (true, true) => "ascending",
            (true, false) => "descending",
        }
    }

    /// This look's address query (no page, no view): what links and forms keep.
    pub fn query(&self) -> String {
        let flag = |on: bool| if on { "1" } else { "" };
        form_urlencoded(&[
            ("pipeline", &self.pipeline),
            ("layout", if self.list() { "list" } else { "" }),
            ("owner", if self.mine() { "me" } else { "" }),
            ("tag", self.tag.trim()),
            ("no_next", flag(self.no_next_action())),
            ("overdue", flag(self.overdue_close())),
            ("close", &self.close_month()),
            ("no_close", flag(self.no_close_date())),
            ("currency", &self.currency_code()),
            ("open", flag(self.open_only())),
            ("sort", self.sort_name()),
            ("asc", flag(self.ascending())),
        ])
    }

    /// The list's address sorted by `field`: the other way round when it already is.
    pub fn sorted_by(&self, field: &str) -> String {
        let asc = match self.sort == field {
            true => !self.ascending(),
            false => false,
        };
        let look = Look {
            sort: field.to_owned(),
            asc: if asc { "1".into() } else { String::new() },
            ..self.clone()
        };
        format!("/deals?{}", look.query())
    }

    /// The look a saved view keeps (its pipeline when it names one).
    pub fn of_view(view: &dpb::View, pipeline: &str) -> Look {
        let filter = view.filter.clone().unwrap_or_default();
        let sort = view.sort.unwrap_or_default();
        let flag = |on: bool| if on { "1".to_owned() } else { String::new() };
        let sort_name = SORTS
            .iter()
            .find(|(_, f)| i32::from(*f) == sort.field)
            .map_or("", |(name, _)| name);
        Look {
            pipeline: match filter.pipeline_id.as_str() {
                "" => pipeline.to_owned(),
                p => p.to_owned(),
            },
            view: view.id.clone(),
            layout: match view.layout == i32::from(dpb::Layout::List) {
                true => "list".into(),
                false => String::new(),
            },
            owner: if filter.owner_id == "me" {
                "me".into()
            } else {
                String::new()
            },
            tag: filter.tag,
            no_next: flag(filter.no_next_action),
            overdue: flag(filter.overdue_close),
            close: filter.close_from.get(..7).unwrap_or_default().to_owned(),
            no_close: flag(filter.no_close_date),
            currency: filter.currency,
            open: flag(filter.status == i32::from(dpb::DealStatus::Open)),
            sort: sort_name.to_owned(),
            asc: flag(sort.ascending),
            after: String::new(),
        }
    }
}

/// A saved view as the toolbar links it.
pub struct ViewLink {
    pub id: String,
    pub name: String,
    pub shared: bool,
    /// The person's own: they may delete it.
    pub own: bool,
    pub current: bool,
}

/// The person's views and their teams', and the look of `look.view` when it is one
/// of them (else the look as the address gave it).
pub async fn views(
    web: &Web,
    viewer: &Viewer,
    look: Look,
) -> Result<(Vec<ViewLink>, Look), Status> {
    // Views are a convenience: the deals show without them when they cannot be had.
    let asked = async {
        let request = viewer.ask(dpb::ListViewsRequest::default())?;
        web.deals().list_views(request).await
    };
    let listed = match asked.await {
        Ok(found) => found.into_inner().views,
        Err(s) => {
            tracing::debug!(code = ?s.code(), "no saved views");
            Vec::new()
        }
    };
    let look = match listed
        .iter()
        .find(|v| !look.view.is_empty() && v.id == look.view)
    {
        Some(view) => Look::of_view(view, &look.pipeline),
        None => Look {
            view: String::new(),
            ..look
        },
    };
    let links = listed
        .into_iter()
        .map(|v| ViewLink {
            current: v.id == look.view,
            own: v.owner_id == viewer.person.id,
            shared: !v.team.is_empty(),
            id: v.id,
            name: v.name,
        })
        .collect();
    Ok((links, look))
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    share: String,
    /// The look being saved, as its address query.
    #[serde(default)]
    look: String,
}

/// The look an address query gives (bad or unknown parts left at their defaults).
pub fn parse(query: &str) -> Look {
    let uri = format!("/?{query}").parse::<axum::http::Uri>();
    uri.ok()
        .and_then(|u| axum::extract::Query::<Look>::try_from_uri(&u).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// `POST /deals/views`: the look saved under a name, shared with the person's
/// team when asked; then the deals as the view shows them.
pub async fn save(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<SaveForm>,
) -> Response {
    let t = viewer.lang.tr();
    let look = parse(&form.look);
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return crate::board::show_look(&web, &viewer, look, bad(t.view_name_needed)).await;
    }
    let team = match (flag(&form.share), viewer.person.teams.first()) {
        (false, _) => String::new(),
        (true, Some(team)) => team.clone(),
        (true, None) => {
            return crate::board::show_look(&web, &viewer, look, bad(t.view_no_team)).await;
        }
    };
    let message = dpb::SaveViewRequest {
        name: name.to_owned(),
        team,
        layout: match look.list() {
            true => dpb::Layout::List,
            false => dpb::Layout::Kanban,
        }
        .into(),
        filter: Some(look.filter()),
        sort: Some(look.sort()),
        ..Default::default()
    };
    let saved = async { web.deals().save_view(viewer.ask(message)?).await };
    match saved.await {
        Ok(view) => {
            let to = format!("/deals?view={}", crate::page::encoded(&view.get_ref().id));
            go_to(&headers, &to)
        }
        Err(s) => said(&web, &viewer, look, &s, t).await,
    }
}

/// `POST /deals/views/{id}/delete`: the person's own view goes.
pub async fn delete(
    State(web): State<Web>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let message = dpb::DeleteViewRequest { id };
    let deleted = async { web.deals().delete_view(viewer.ask(message)?).await };
    match deleted.await {
        Ok(_) => go_to(&headers, "/deals"),
        Err(s) => {
            let t = viewer.lang.tr();
            said(&web, &viewer, Look::default(), &s, t).await
        }
    }
}

fn bad(text: &'static str) -> crate::page::Notice {
    crate::page::Notice::error(text)
}

async fn said(web: &Web, viewer: &Viewer, look: Look, s: &Status, t: &'static Tr) -> Response {
    if s.code() == tonic::Code::NotFound {
        return failure(viewer.chrome(web), s);
    }
    let (_, why) = refusal(s, t, t.went_wrong);
    crate::board::show_look(web, viewer, look, crate::page::Notice::error(why)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_goes_to_its_address_and_back() {
        let look = Look {
            pipeline: "p/1".into(),
            layout: "list".into(),
            owner: "me".into(),
            tag: " vip ".into(),
            no_next: "on".into(),
            sort: "amount".into(),
            ..Default::default()
        };
        let query = look.query();
        assert_eq!(
            query,
            "pipeline=p%2F1&layout=list&owner=me&tag=vip&no_next=1&sort=amount"
        );
        let back = parse(&query);
        assert_eq!(back.filter(), look.filter());
        assert_eq!(back.sort(), look.sort());
        assert!(back.list());
    }

    #[test]
    fn a_close_month_is_its_first_to_its_last_day() {
        let look = parse("close=2028-02&currency=rub&open=1");
        let filter = look.filter();
        assert_eq!(
            (filter.close_from.as_str(), filter.close_to.as_str()),
            ("2028-02-01", "2028-02-29")
        );
        assert_eq!(filter.currency, "RUB");
        assert_eq!(filter.status, i32::from(dpb::DealStatus::Open));
        assert_eq!(look.query(), "close=2028-02&currency=RUB&open=1");
        let view = dpb::View {
            filter: Some(filter.clone()),
            ..Default::default()
        };
        assert_eq!(Look::of_view(&view, "").filter(), filter);
        let undated = parse("no_close=1");
        assert!(undated.filter().no_close_date);
        let view = dpb::View {
            filter: Some(undated.filter()),
            ..Default::default()
        };
        assert_eq!(Look::of_view(&view, "").query(), "no_close=1");
        for (bad, money) in [
            ("2028-13", "rubles"),
            ("28-02", "XYZ"),
            ("2028-2", "RUR"),
            ("march", "р"),
            ("2028-02-01", ""),
        ] {
            let look = parse(&format!("close={bad}&currency={money}"));
            assert_eq!(look.filter().close_from, "", "{bad}");
            assert_eq!(look.filter().currency, "", "{bad}");
            assert_eq!(look.query(), "", "{bad}");
        }
    }

    #[test]
    fn unknown_parts_of_an_address_mean_the_defaults() {
        let look = parse("owner=someone&sort=price&layout=grid&no_next=maybe&x=1");
        assert_eq!(look.filter().owner_id, "");
        assert_eq!(look.sort().field, i32::from(dpb::SortField::Unspecified));
        assert!(!look.list());
        assert!(!look.no_next_action());
    }

    #[test]
    fn sorting_by_the_same_field_again_turns_it_round() {
        let look = parse("sort=amount&layout=list");
        let up = look.sorted_by("amount");
        assert!(up.contains("asc=1"), "{up}");
        let down = parse(up.trim_start_matches("/deals?")).sorted_by("amount");
        assert!(!down.contains("asc=1"), "{down}");
        assert!(!look.sorted_by("close").contains("asc=1"));
        assert_eq!(look.aria_sort("amount"), "descending");
        assert_eq!(look.aria_sort("close"), "none");
    }

    #[test]
    fn a_tag_of_any_characters_survives_the_address() {
        let look = Look {
            tag: "VIP & партнёры+1 / 50%".into(),
            ..Default::default()
        };
        assert_eq!(parse(&look.query()).tag, look.tag);
        assert_eq!(
            parse("sort=price").query(),
            "",
            "an unknown order is left out"
        );
    }

    #[test]
    fn a_saved_view_gives_back_its_look() {
        let view = dpb::View {
            id: "v1".into(),
            layout: dpb::Layout::List.into(),
            filter: Some(parse("owner=me&overdue=1").filter()),
            sort: Some(parse("sort=close&asc=1").sort()),
            ..Default::default()
        };
        let look = Look::of_view(&view, "p1");
        assert_eq!(look.pipeline, "p1");
        assert_eq!(look.view, "v1");
        assert_eq!(
            look.query(),
            "pipeline=p1&layout=list&owner=me&overdue=1&sort=close&asc=1"
        );
    }
}
