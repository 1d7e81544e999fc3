//! A client's details changed from their page (`POST /contacts/{id}/details`,
//! `POST /leads/{id}/details`): the name, a lead's company name, a contact's tags,
//! and their phones and emails, one per line. Identities the form does not show (a
//! Telegram chat, a web visitor) stay as they are. Contacts checks every value (a
//! number written the local way is read in the office's region) and refuses a
//! number or email another client has; the page then says why, keeping what was
//! typed.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use serde::Deserialize;
use tonic::Status;

use crate::client::{Opened, show_opened};
use crate::page::{Notice, failure, refusal, see_other};
use crate::timeline::{Kind, Which};
use crate::{Viewer, Web};

/// The details form as typed.
#[derive(Deserialize, Default, Clone)]
pub struct DetailsForm {
    #[serde(default)]
    pub name: String,
    /// A lead's company name.
    #[serde(default)]
    pub company: String,
    /// Phones and emails, one per line.
    #[serde(default)]
    pub reach: String,
    /// A contact's tags, separated by commas.
    #[serde(default)]
    pub tags: String,
}

/// `POST …/details`: the details saved and the page again; refused, the page with
/// why and the form as typed.
pub async fn save<W: Which>(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<DetailsForm>,
) -> Response {
    let kind = W::KIND;
    match update(&web, &viewer, kind, &id, &form).await {
        Ok(()) => see_other(&kind.page(&id), &[]),
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let t = viewer.lang.tr();
            let why = match s.code() {
                tonic::Code::AlreadyExists => t.identity_taken.to_owned(),
                _ => refusal(&s, t, t.check_input).1,
            };
            let opened = Opened {
                part: "details",
                details: Some(form),
                ..Opened::default()
            };
            show_opened(&web, &viewer, kind, &id, "", Notice::error(why), opened).await
        }
    }
}

async fn update(
    web: &Web,
    viewer: &Viewer,
    kind: Kind,
    id: &str,
    form: &DetailsForm,
) -> Result<(), Status> {
    let mut identities = unshown(web, viewer, kind, id).await?;
    identities.extend(reach(&form.reach));
    let identities = Some(cpb::IdentityList { identities });
    match kind {
        Kind::Lead => {
            let message = cpb::UpdateLeadRequest {
                id: id.to_owned(),
                name: Some(form.name.clone()),
                company_name: Some(form.company.clone()),
                identities,
            };
            web.contacts().update_lead(viewer.ask(message)?).await?;
        }
        _ => {
            let tags = form
                .tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let message = cpb::UpdateContactRequest {
                id: id.to_owned(),
                name: Some(form.name.clone()),
                tags: Some(cpb::TagList {
                    tags: tags.map(str::to_owned).collect(),
                }),
                identities,
                ..Default::default()
            };
            web.contacts().update_contact(viewer.ask(message)?).await?;
        }
    }
    Ok(())
}

/// Whether the form shows identities of this kind (phones and emails).
pub fn shown(kind: i32) -> bool {
    kind == i32::from(cpb::IdentityKind::Phone) || kind == i32::from(cpb::IdentityKind::Email)
}

/// The client's identities the form does not show, to keep.
async fn unshown(
    web: &Web,
    viewer: &Viewer,
    kind: Kind,
    id: &str,
) -> Result<Vec<cpb::Identity>, Status> {
    let all = match kind {
        Kind::Lead => {
            let message = cpb::GetLeadRequest { id: id.to_owned() };
            let lead = web.contacts().get_lead(viewer.ask(message)?).await?;
            lead.into_inner().identities
        }
        _ => {
            let message = cpb::GetContactRequest { id: id.to_owned() };
            let contact = web.contacts().get_contact(viewer.ask(message)?).await?;
            contact.into_inner().identities
        }
    };
    Ok(all.into_iter().filter(|i| !shown(i.kind)).collect())
}

/// Phones and emails from the form's lines: a line with `@` is an email.
fn reach(text: &str) -> Vec<cpb::Identity> {
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    lines
        .map(|line| cpb::Identity {
            kind: match line.contains('@') {
                true => cpb::IdentityKind::Email,
                false => cpb::IdentityKind::Phone,
            }
            .into(),
            value: line.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_an_at_are_emails_the_rest_phones() {
        let found = reach(" 8 (912) 345-67-89 \n\nanna@example.com\r\n+7 900 000 00 09");
        let kinds: Vec<(i32, &str)> = found.iter().map(|i| (i.kind, i.value.as_str())).collect();
        let (phone, email) = (
            i32::from(cpb::IdentityKind::Phone),
            i32::from(cpb::IdentityKind::Email),
        );
        assert_eq!(
            kinds,
            [
                (phone, "8 (912) 345-67-89"),
                (email, "anna@example.com"),
                (phone, "+7 900 000 00 09")
            ]
        );
    }
}
