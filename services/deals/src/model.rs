//! The deals records as the service works with them, and the rules that need no
//! storage: stage kinds, contact roles, and expected-close dates as day numbers.

use std::collections::BTreeMap;

use ringside_identity::Invalid;

/// Where a stage stands in a pipeline; a deal's status is its stage's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

/// A deal's status is the kind of the stage it is in.
pub type DealStatus = StageKind;

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Open => "open",
            StageKind::Won => "won",
            StageKind::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(StageKind::Open),
            "won" => Some(StageKind::Won),
            "lost" => Some(StageKind::Lost),
            _ => None,
        }
    }
}

/// A contact's part in a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactRole {
    DecisionMaker,
    EconomicBuyer,
    Influencer,
    User,
    Other,
}

impl ContactRole {
    pub const ALL: [ContactRole; 5] = [
        ContactRole::DecisionMaker,
        ContactRole::EconomicBuyer,
        ContactRole::Influencer,
        ContactRole::User,
        ContactRole::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactRole::DecisionMaker => "decision_maker",
            ContactRole::EconomicBuyer => "economic_buyer",
            ContactRole::Influencer => "influencer",
            ContactRole::User => "user",
            ContactRole::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: String,
    pub pipeline_id: String,
    pub name: String,
    pub position: i64,
    pub kind: StageKind,
    /// 0..=100.
    pub probability: i64,
    /// 0: no limit.
    pub wip_limit: i64,
    /// Refuse (rather than warn about) a move past the WIP limit.
    pub wip_refuse: bool,
    pub guidance: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    /// In position order: open stages, then won, then lost.
    pub stages: Vec<Stage>,
    pub created_at: i64,
}

impl Pipeline {
    pub fn stage(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    pub fn open_stages(&self) -> impl Iterator<Item = &Stage> {
        self.stages.iter().filter(|s| s.kind == StageKind::Open)
    }

    /// The pipeline's won or lost stage.
    pub fn closing_stage(&self, kind: StageKind) -> Option<&Stage> {
        self.stages.iter().find(|s| s.kind == kind)
    }
}

/// A stage as asked for when a pipeline is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    pub name: String,
    pub kind: StageKind,
    pub probability: i64,
    pub wip_limit: i64,
    pub wip_refuse: bool,
    pub guidance: String,
}

/// A change to a stage's settings; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct StagePatch {
    pub name: Option<String>,
    pub probability: Option<i64>,
    pub wip_limit: Option<i64>,
    pub wip_refuse: Option<bool>,
    pub guidance: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealContact {
    pub contact_id: String,
    pub role: ContactRole,
}

/// The earliest open task on a deal, as activities last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextAction {
    pub task_id: String,
    pub title: String,
    pub due_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    pub id: String,
    pub title: String,
    pub pipeline_id: String,
    pub stage_id: String,
    pub stage_name: String,
    pub status: DealStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub owner_id: String,
    /// The team the deal was given to with its owner (what a manager's scope covers).
    pub team_id: String,
    pub company_id: Option<String>,
    pub contacts: Vec<DealContact>,
    /// Expected close, in days since 1970-01-01.
    pub close_day: Option<i64>,
    pub source_channel: String,
    pub source_campaign: String,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub lost_reason: String,
    pub lead_id: Option<String>,
    pub next_action: Option<NextAction>,
    pub created_at: i64,
    pub updated_at: i64,
    pub stage_entered_at: i64,
    pub closed_at: Option<i64>,
    /// The position of the furthest open stage the deal was ever in.
    pub reached_position: i64,
}

/// A deal as asked for; validated on the way in.
#[derive(Debug, Clone, Default)]
pub struct NewDeal {
    pub title: String,
    pub pipeline_id: Option<String>,
    pub stage_id: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub owner_id: String,
    /// Stamped by the service from the owner (see `ringside_kit::scope::Owners`).
    pub team_id: String,
    pub company_id: Option<String>,
    pub contacts: Vec<DealContact>,
    pub close_day: Option<i64>,
    pub source_channel: String,
    pub source_campaign: String,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub lead_id: Option<String>,
}

/// A change to a deal; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct DealPatch {
    pub title: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub owner_id: Option<String>,
    pub company_id: Option<Option<String>>,
    pub close_day: Option<Option<i64>>,
    pub contacts: Option<Vec<DealContact>>,
    /// Contacts added or given another role, and contacts taken off, applied to
    /// the list as it is when the change is made (after `contacts`).
    pub set_contacts: Vec<DealContact>,
    pub remove_contacts: Vec<String>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<BTreeMap<String, String>>,
}

impl DealPatch {
    /// Whether the change touches the deal's contacts.
    pub fn relinks(&self) -> bool {
        self.contacts.is_some() || !self.set_contacts.is_empty() || !self.remove_contacts.is_empty()
    }
}

/// `contacts` with `set` added (a known contact keeping its place, with the new
/// role) and `remove` taken off.
pub fn changed_contacts(
    mut contacts: Vec<DealContact>,
    set: Vec<DealContact>,
    remove: &[String],
) -> Vec<DealContact> {
    for new in set {
        match contacts.iter_mut().find(|c| c.contact_id == new.contact_id) {
            Some(known) => known.role = new.role,
            None => contacts.push(new),
        }
    }
    contacts.retain(|c| !remove.contains(&c.contact_id));
    contacts
}

/// Where a deal goes: another open stage, won, lost, or back to an open stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    To(String),
    Win,
    Lose(String),
    Reopen(Option<String>),
}

/// One stay of a deal in a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    pub stage_id: String,
    pub stage_name: String,
    pub entered_at: i64,
    pub left_at: Option<i64>,
    pub moved_by: String,
}

/// The filter shared by the list, the kanban, saved views and drill-downs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub pipeline_id: Option<String>,
    pub stage_ids: Vec<String>,
    pub owner_id: Option<String>,
    pub tag: Option<String>,
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    pub currency: Option<String>,
    pub close_from: Option<i64>,
    pub close_to: Option<i64>,
    pub no_next_action: bool,
    pub overdue_close: bool,
    pub no_close_date: bool,
    pub status: Option<DealStatus>,
    pub company_id: Option<String>,
    pub contact_id: Option<String>,
    /// Held in the title, lower-cased.
    pub query: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortField {
    #[default]
    Created,
    Updated,
    Amount,
    ExpectedClose,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sort {
    pub field: SortField,
    pub ascending: bool,
}

impl Sort {
    /// The sort key as SQL over `deals d`; deals without a close date sort as if
    /// they closed at the end of time.
    pub fn column(self) -> &'static str {
        match self.field {
            SortField::Created => "d.created_at",
            SortField::Updated => "d.updated_at",
            SortField::Amount => "d.amount_minor",
            SortField::ExpectedClose => "COALESCE(d.close_day, 99999999)",
        }
    }

    /// The sort key of `deal`, as the cursor carries it.
    pub fn key(self, deal: &Deal) -> i64 {
        match self.field {
            SortField::Created => deal.created_at,
            SortField::Updated => deal.updated_at,
            SortField::Amount => deal.amount_minor,
            SortField::ExpectedClose => deal.close_day.unwrap_or(99_999_999),
        }
    }
}

/// One kanban column: a stage, its count and sums, and a page of its cards.
#[derive(Debug, Clone)]
pub struct Column {
    pub stage: Stage,
    pub count: i64,
    /// Per currency, in currency order.
    pub sums: Vec<(String, i64)>,
    pub deals: ringside_identity::paging::Paged<Deal>,
    /// More deals in the stage (whatever the filter) than its WIP limit.
    pub over_wip_limit: bool,
}

pub use ringside_kit::Ctx;

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days since 1970-01-01 from `YYYY-MM-DD`.
pub fn parse_day(field: &str, value: &str) -> Result<i64, Invalid> {
    let bad = || Invalid::new(field, "not a date (YYYY-MM-DD)");
    let mut parts = value.trim().splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (next(4)?, next(2)?, next(2)?);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = u8::try_from(day).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    Ok(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// An optional `YYYY-MM-DD`: empty is `None`.
pub fn parse_optional_day(field: &str, value: &str) -> Result<Option<i64>, Invalid> {
    match value.trim() {
        "" => Ok(None),
        v => parse_day(field, v).map(Some),
    }
}

fn date_of_day(day: i64) -> Option<time::Date> {
    let julian = i32::try_from(day + UNIX_EPOCH_JULIAN_DAY).ok()?;
    time::Date::from_julian_day(julian).ok()
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    date_of_day(day)
        .map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_default()
}

/// `YYYY-MM` of a day number.
pub fn month_of_day(day: i64) -> String {
    date_of_day(day)
        .map(|d| format!("{:04}-{:02}", d.year(), u8::from(d.month())))
        .unwrap_or_default()
}

/// Today, in days since 1970-01-01 (UTC).
pub fn today() -> i64 {
    ringside_storage::now_millis().div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contacts_change_adds_renames_and_takes_off_in_place() {
        let dc = |id: &str, role: ContactRole| DealContact {
            contact_id: id.into(),
            role,
        };
        let list = vec![dc("a", ContactRole::User), dc("b", ContactRole::Other)];
        let set = vec![
            dc("b", ContactRole::DecisionMaker),
            dc("c", ContactRole::Influencer),
        ];
        let changed = changed_contacts(list, set, &["a".to_owned(), "zz".to_owned()]);
        assert_eq!(
            changed,
            [
                dc("b", ContactRole::DecisionMaker),
                dc("c", ContactRole::Influencer)
            ]
        );
    }

    #[test]
    fn days_round_trip_through_dates() {
        assert_eq!(parse_day("d", "1970-01-01").unwrap(), 0);
        let day = parse_day("d", "2026-11-22").unwrap();
        assert_eq!(format_day(day), "2026-11-22");
        assert_eq!(month_of_day(day), "2026-11");
        assert!(parse_day("d", "2026-13-01").is_err());
        assert!(parse_day("d", "22.11.2026").is_err());
        assert_eq!(parse_optional_day("d", " ").unwrap(), None);
    }

    #[test]
    fn kinds_and_roles_read_back_what_they_write() {
        for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
            assert_eq!(StageKind::parse(kind.as_str()), Some(kind));
        }
        for role in ContactRole::ALL {
            assert_eq!(ContactRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(ContactRole::parse("boss"), None);
    }
}
