//! The records the contacts service keeps, and the inputs that create or change them.

use std::collections::BTreeMap;

use crate::domain::{Identity, LeadStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub owner_id: String,
    /// The team it was given to with its owner (what a manager's scope covers).
    pub team_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub company_id: Option<String>,
    pub owner_id: String,
    /// The team it was given to with its owner (what a manager's scope covers).
    pub team_id: String,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub identities: Vec<Identity>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub id: String,
    pub name: String,
    pub company_name: String,
    pub identities: Vec<Identity>,
    pub source: LeadSource,
    pub status: LeadStatus,
    pub owner_id: String,
    /// The team it was given to with its owner (what a manager's scope covers).
    pub team_id: String,
    pub disqualify_reason: String,
    pub contact_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadSource {
    pub channel: String,
    pub campaign: String,
}

/// What an identity resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Contact(Contact),
    Lead(Lead),
}

#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub name: String,
    pub company_id: Option<String>,
    pub owner_id: String,
    pub tags: Vec<String>,
    pub custom_fields: BTreeMap<String, String>,
    pub identities: Vec<Identity>,
}

/// A change to a contact: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    pub name: Option<String>,
    /// `Some(None)` unlinks the company.
    pub company_id: Option<Option<String>>,
    pub owner_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub custom_fields: Option<BTreeMap<String, String>>,
    pub identities: Option<Vec<Identity>>,
    /// Only while the owner is still this one ("": nobody).
    pub expected_owner: Option<String>,
}

/// What changes in a lead; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadPatch {
    pub name: Option<String>,
    pub company_name: Option<String>,
    pub identities: Option<Vec<Identity>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeletedFilter {
    #[default]
    Exclude,
    Only,
    Include,
}

#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub tag: Option<String>,
    pub owner_id: Option<String>,
    pub company_id: Option<String>,
    pub query: Option<String>,
    pub deleted: DeletedFilter,
}

#[derive(Debug, Clone, Default)]
pub struct NewLead {
    pub name: String,
    pub company_name: String,
    pub identities: Vec<Identity>,
    pub source: LeadSource,
    pub owner_id: String,
    /// Stamped by the service from the owner.
    pub team_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub owner_id: Option<String>,
    pub query: Option<String>,
}

pub use ringside_identity::paging::{Cursor, Page, Paged};
pub use ringside_kit::Ctx;

/// A record with an owner and a team: what visibility is decided on.
pub trait Owned {
    fn owner(&self) -> &str;
    fn team(&self) -> &str;
}

macro_rules! owned {
    ($($t:ty),*) => {$(
        impl Owned for $t {
            fn owner(&self) -> &str {
                &self.owner_id
            }
            fn team(&self) -> &str {
                &self.team_id
            }
        }
    )*};
}

owned!(Company, Contact, Lead);

impl Owned for Party {
    fn owner(&self) -> &str {
        match self {
            Party::Contact(c) => c.owner(),
            Party::Lead(l) => l.owner(),
        }
    }
    fn team(&self) -> &str {
        match self {
            Party::Contact(c) => c.team(),
            Party::Lead(l) => l.team(),
        }
    }
}
