//! A deal's contacts and their roles, on the deal's page: each contact's role
//! changed or the contact taken off (`POST /deals/{id}/contacts`), and a contact
//! found by name, phone or email (`POST /deals/{id}/contacts/find`, so what was
//! asked stays out of the address) and added with a role. The page sends the one
//! change (`UpdateDeal`'s `set_contacts`, `remove_contact_ids`), which deals applies
//! to the list as it holds it: contacts the person may not see, and another
//! person's change made at the same moment, stay.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use serde::Deserialize;
use tonic::{Code, Status};

use crate::client::Match;
use crate::deal::{Opened, show_opened};
use crate::lang::Tr;
use crate::page::{Notice, failure, see_other};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Contacts of a deal shown at most (each is asked of contacts).
const SHOWN: usize = 10;

/// A contact of the deal, as the page shows it.
pub struct Person {
    pub id: String,
    pub href: String,
    pub name: String,
    /// The role's number in deals' `ContactRole` (never unspecified: that reads as
    /// "other").
    pub role: i32,
    pub role_text: &'static str,
}

/// A search for a contact to add, and what it found.
pub struct Found {
    pub asked: String,
    pub matches: Vec<Match>,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::post;
    axum::Router::new()
        .route("/deals/{id}/contacts", post(change))
        .route("/deals/{id}/contacts/find", post(find))
}

/// The roles a contact may have on a deal, in the page's order.
pub fn roles(t: &'static Tr) -> Vec<(i32, &'static str)> {
    use dpb::ContactRole as R;
    [
        R::DecisionMaker,
        R::EconomicBuyer,
        R::Influencer,
        R::User,
        R::Other,
    ]
    .into_iter()
    .map(|r| (i32::from(r), role_text(t, i32::from(r))))
    .collect()
}

fn role_text(t: &'static Tr, role: i32) -> &'static str {
    match dpb::ContactRole::try_from(role) {
        Ok(dpb::ContactRole::DecisionMaker) => t.role_decision_maker,
        Ok(dpb::ContactRole::EconomicBuyer) => t.role_economic_buyer,
        Ok(dpb::ContactRole::Influencer) => t.role_influencer,
        Ok(dpb::ContactRole::User) => t.role_user,
        _ => t.role_other,
    }
}

/// A role as the page shows it: unspecified is "other".
fn shown_role(role: i32) -> i32 {
    match dpb::ContactRole::try_from(role) {
        Ok(dpb::ContactRole::Unspecified) | Err(_) => dpb::ContactRole::Other.into(),
        Ok(_) => role,
    }
}

/// The deal's contacts the person may see, with their roles (at most [`SHOWN`]
/// asked).
pub async fn people(
    web: &Web,
    viewer: &Viewer,
    t: &'static Tr,
    contacts: &[dpb::DealContact],
) -> Result<Vec<Person>, Status> {
    let asked = contacts.iter().take(SHOWN).map(|dc| async move {
        let message = cpb::GetContactRequest {
            id: dc.contact_id.clone(),
        };
        let found = web.contacts().get_contact(viewer.ask(message)?).await;
        match found {
            Ok(c) => Ok(Some(Person {
                id: dc.contact_id.clone(),
                href: Kind::Contact.page(&dc.contact_id),
                name: c.into_inner().name,
                role: shown_role(dc.role),
                role_text: role_text(t, dc.role),
            })),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    });
    let found = futures::future::try_join_all(asked).await?;
    Ok(found.into_iter().flatten().collect())
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    contact: String,
    /// The role's number; ignored when taking the contact off.
    #[serde(default)]
    role: String,
    /// Present: the contact is taken off the deal.
    #[serde(default)]
    remove: String,
}

/// What a change does to the deal's list.
#[derive(Debug, PartialEq)]
enum Change {
    /// Added with the role, or the role changed.
    Set(String, dpb::ContactRole),
    Remove(String),
}

impl ContactForm {
    fn change(&self) -> Option<Change> {
        let contact = self.contact.trim();
        if contact.is_empty() {
            return None;
        }
        if !self.remove.is_empty() {
            return Some(Change::Remove(contact.to_owned()));
        }
        let role = self.role.trim().parse::<i32>().ok()?;
        match dpb::ContactRole::try_from(role).ok()? {
            dpb::ContactRole::Unspecified => None,
            role => Some(Change::Set(contact.to_owned(), role)),
        }
    }
}

impl Change {
    /// The change as deals takes it.
    fn request(self, id: String) -> dpb::UpdateDealRequest {
        let mut message = dpb::UpdateDealRequest {
            id,
            ..Default::default()
        };
        match self {
            Change::Remove(contact) => message.remove_contact_ids.push(contact),
            Change::Set(contact_id, role) => message.set_contacts.push(dpb::DealContact {
                contact_id,
                role: role.into(),
            }),
        }
        message
    }
}

/// `POST /deals/{id}/contacts`: a contact added with a role, its role changed, or
/// taken off; then the deal's page (a contact the person may not see is refused by
/// deals, and said).
pub async fn change(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ContactForm>,
) -> Response {
    let t = viewer.lang.tr();
    let Some(change) = form.change() else {
        let why = (StatusCode::BAD_REQUEST, Notice::error(t.deal_contact_wrong));
        return show_opened(&web, &viewer, &id, why, Opened::default()).await;
    };
    let message = change.request(id.clone());
    let changed = async { web.deals().update_deal(viewer.ask(message)?).await };
    match changed.await {
        Ok(_) => see_other(&Kind::Deal.page(&id), &[]),
        Err(s) if s.code() == Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let why = crate::board::said(&s, t);
            show_opened(&web, &viewer, &id, why, Opened::default()).await
        }
    }
}

#[derive(Deserialize)]
pub struct FindForm {
    #[serde(default)]
    q: String,
}

/// `POST /deals/{id}/contacts/find`: the deal's page with the contacts matching
/// what was asked (the person's own scope), each to be added with a role.
pub async fn find(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<FindForm>,
) -> Response {
    let t = viewer.lang.tr();
    let asked = form.q.trim().to_owned();
    let (status, notice, matches) = match crate::convert::matching(&web, &viewer, &asked).await {
        Ok(Ok(matches)) => (StatusCode::OK, Notice::none(), matches),
        Ok(Err(why)) => (
            StatusCode::BAD_REQUEST,
            Notice::error(why.said(t)),
            Vec::new(),
        ),
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    let opened = Opened {
        found: Some(Found { asked, matches }),
        ..Opened::default()
    };
    show_opened(&web, &viewer, &id, (status, notice), opened).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(contact: &str, role: &str, remove: &str) -> ContactForm {
        ContactForm {
            contact: contact.into(),
            role: role.into(),
            remove: remove.into(),
        }
    }

    #[test]
    fn a_change_needs_a_contact_and_a_role_deals_knows() {
        let buyer = i32::from(dpb::ContactRole::EconomicBuyer).to_string();
        assert_eq!(
            form("c1", &buyer, "").change(),
            Some(Change::Set("c1".into(), dpb::ContactRole::EconomicBuyer))
        );
        assert_eq!(
            form("c1", "", "1").change(),
            Some(Change::Remove("c1".into()))
        );
        assert_eq!(form("", &buyer, "").change(), None);
        assert_eq!(form("c1", "0", "").change(), None, "unspecified");
        assert_eq!(form("c1", "99", "").change(), None);
        assert_eq!(form("c1", "boss", "").change(), None);
    }

    #[test]
    fn a_change_goes_to_deals_as_itself_never_as_the_whole_list() {
        let role = dpb::ContactRole::Influencer;
        let set = Change::Set("c1".into(), role).request("d".into());
        assert!(!set.replace_contacts && set.contacts.is_empty());
        assert_eq!(set.set_contacts.len(), 1);
        assert_eq!(set.set_contacts[0].role, i32::from(role));
        let off = Change::Remove("c1".into()).request("d".into());
        assert_eq!(off.remove_contact_ids, ["c1"]);
        assert!(!off.replace_contacts && off.set_contacts.is_empty());
    }

    #[test]
    fn an_unspecified_role_shows_as_other() {
        let other = i32::from(dpb::ContactRole::Other);
        assert_eq!(shown_role(0), other);
        assert_eq!(shown_role(42), other);
        let user = i32::from(dpb::ContactRole::User);
        assert_eq!(shown_role(user), user);
    }
}
