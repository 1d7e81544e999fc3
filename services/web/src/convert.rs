//! A lead becomes a contact (`POST /leads/{id}/convert`, from the lead's page): the
//! contact takes the lead's name, owner and team; a deal for it opens too when the
//! form names one (its amount written as people write it: `1 500,50` or
//! `1500.50`). Then the new contact's page. Contacts does the conversion, as the
//! person, once: a lead converted already says so. Or the lead turns out to be a
//! client the office knows, calling from a new number (`POST /leads/{id}/attach`):
//! the person finds the contact (the query posted, never in an address) and picks
//! them; the lead's number and history go to that contact, and its page follows.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use ringside_proto::contacts::v1 as cpb;
use serde::Deserialize;
use tonic::Status;

use crate::client::{Match, Opened, show, show_opened};
use crate::page::{Notice, failure, go_to, refusal};
use crate::timeline::Kind;
use crate::{Viewer, Web};

/// Longest deal title the form sends, in characters.
const MAX_TITLE: usize = 200;

#[derive(Deserialize)]
pub struct ConvertForm {
    #[serde(default)]
    deal_title: String,
    #[serde(default)]
    deal_amount: String,
    #[serde(default)]
    deal_currency: String,
}

/// `POST /leads/{id}/convert`.
pub async fn convert(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Form(form): Form<ConvertForm>,
) -> Response {
    let t = viewer.lang.tr();
    let deal = match draft(&form) {
        Ok(deal) => deal,
        Err(()) => {
            let why = Notice::error(t.bad_deal_draft);
            return show(&web, &viewer, Kind::Lead, &id, "", why).await;
        }
    };
    let message = cpb::ConvertLeadRequest {
        id: id.clone(),
        deal,
        ..Default::default()
    };
    let converted = async { web.contacts().convert_lead(viewer.ask(message)?).await };
    match converted.await {
        Ok(done) => {
            let contact = done.into_inner().contact.unwrap_or_default();
            go_to(&headers, &Kind::Contact.page(&contact.id))
        }
        Err(s) if s.code() == tonic::Code::NotFound => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            show(&web, &viewer, Kind::Lead, &id, "", Notice::error(why)).await
        }
    }
}

/// The deal the form asks for: none when it names no title; `Err` when what it
/// says cannot be a deal.
fn draft(form: &ConvertForm) -> Result<Option<cpb::DealDraft>, ()> {
    let title = form.deal_title.trim();
    if title.is_empty() {
        return match form.deal_amount.trim().is_empty() {
            true => Ok(None),
            false => Err(()),
        };
    }
    if title.chars().count() > MAX_TITLE {
        return Err(());
    }
    let amount_minor = match form.deal_amount.trim() {
        "" => 0,
        written => amount(written).ok_or(())?,
    };
    let currency = currency(&form.deal_currency).ok_or(())?;
    Ok(Some(cpb::DealDraft {
        title: title.to_owned(),
        amount_minor,
        currency,
        ..Default::default()
    }))
}

/// A currency's code as typed (`rub`), upper-cased, when ISO 4217 knows it (as
/// deals checks it).
pub(crate) fn currency(written: &str) -> Option<String> {
    ringside_identity::fields::currency("currency", written).ok()
}

/// An amount as people write it (`1 500,50`, `1,500.50`, `1500`) in minor units.
/// A comma followed by exactly one or two digits at the end is the decimal mark.
pub(crate) fn amount(written: &str) -> Option<i64> {
    let kept: String = written
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}')
        .collect();
    let decimal_comma = kept
        .rfind(',')
        .is_some_and(|at| (1..=2).contains(&(kept.len() - at - 1)) && !kept.contains('.'));
    let plain: String = match decimal_comma {
        true => kept.replace(',', "."),
        false => kept.replace(',', ""),
    };
    let (whole, fraction) = plain.split_once('.').unwrap_or((&plain, ""));
    if whole.is_empty() || fraction.len() > 2 {
        return None;
    }
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_people_write_them() {
        let cases = [
            ("1500", Some(150_000)),
            ("1 500,50", Some(150_050)),
            ("1\u{a0}500,5", Some(150_050)),
            ("1,500.50", Some(150_050)),
            ("1,500", Some(150_000)),
            ("0.07", Some(7)),
            ("-5", None),
            ("1.234", None),
            ("abc", None),
            ("", None),
            ("99999999999999999999", None),
        ];
        for (written, want) in cases {
            assert_eq!(amount(written), want, "{written}");
        }
    }

    #[test]
    fn a_deal_needs_a_title_and_a_currency_of_three_letters() {
        let form = |title: &str, amount: &str, currency: &str| ConvertForm {
            deal_title: title.into(),
            deal_amount: amount.into(),
            deal_currency: currency.into(),
        };
        assert_eq!(draft(&form("", "", "RUB")), Ok(None));
        assert_eq!(draft(&form("", "100", "RUB")), Err(()));
        let deal = draft(&form("First order", "1 500,50", "rub")).expect("a deal");
        let deal = deal.expect("a draft");
        assert_eq!(
            (deal.amount_minor, deal.currency.as_str()),
            (150_050, "RUB")
        );
        assert_eq!(draft(&form("First order", "", "RUBLES")), Err(()));
    }
}

/// Most contacts the search for an existing client shows.
const MATCHES: i32 = 10;

#[derive(Deserialize)]
pub struct AttachForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    contact_id: String,
}

/// `POST /leads/{id}/attach`: with `contact_id`, the lead is converted into that
/// contact; else the contacts matching `q`, on the lead's page.
pub async fn attach(
    State(web): State<Web>,
    viewer: Viewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    Form(form): Form<AttachForm>,
) -> Response {
    if form.contact_id.is_empty() {
        return find(&web, &viewer, (Kind::Lead, &id), "attach", form.q.trim()).await;
    }
    let t = viewer.lang.tr();
    let message = cpb::ConvertLeadRequest {
        id: id.clone(),
        contact_id: form.contact_id.clone(),
        ..Default::default()
    };
    let converted = async { web.contacts().convert_lead(viewer.ask(message)?).await };
    match converted.await {
        Ok(_) => go_to(&headers, &Kind::Contact.page(&form.contact_id)),
        Err(s) if s.code() == tonic::Code::NotFound && s.message().contains("lead") => {
            failure(viewer.chrome(&web), &s)
        }
        Err(s) => {
            let (_, why) = refusal(&s, t, t.went_wrong);
            let opened = Opened {
                part: "attach",
                ..Opened::default()
            };
            show_opened(
                &web,
                &viewer,
                Kind::Lead,
                &id,
                "",
                Notice::error(why),
                opened,
            )
            .await
        }
    }
}

/// The page of the client `(kind, id)` with `part` opened on the contacts matching
/// `query` (the person's own scope), the client itself left out.
pub(crate) async fn find(
    web: &Web,
    viewer: &Viewer,
    (kind, id): (Kind, &str),
    part: &'static str,
    query: &str,
) -> Response {
    let t = viewer.lang.tr();
    let mut opened = Opened {
        part,
        asked: query.to_owned(),
        ..Opened::default()
    };
    match matching(web, viewer, query).await {
        Ok(Ok(matches)) => {
            opened.matches = matches.into_iter().filter(|m| m.id != id).collect();
            show_opened(web, viewer, kind, id, "", Notice::none(), opened).await
        }
        Ok(Err(why)) => {
            let why = Notice::error(why.said(t));
            show_opened(web, viewer, kind, id, "", why, opened).await
        }
        Err(s) => failure(viewer.chrome(web), &s),
    }
}

/// Why a search for contacts was not made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NoQuery {
    Empty,
    TooLong,
}

/// The contacts matching `query` in the person's own scope (at most [`MATCHES`]),
/// each with its identities; or why the query is none.
pub(crate) async fn matching(
    web: &Web,
    viewer: &Viewer,
    query: &str,
) -> Result<Result<Vec<Match>, NoQuery>, Status> {
    match query.chars().count() {
        0 => return Ok(Err(NoQuery::Empty)),
        n if n > 200 => return Ok(Err(NoQuery::TooLong)),
        _ => {}
    }
    let message = cpb::ListContactsRequest {
        query: query.to_owned(),
        page_size: MATCHES,
        ..Default::default()
    };
    let found = web.contacts().list_contacts(viewer.ask(message)?).await?;
    let matches = found.into_inner().contacts.into_iter().map(|c| Match {
        detail: (c.identities.iter().map(|i| i.value.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        id: c.id,
        name: c.name,
    });
    Ok(Ok(matches.collect()))
}

impl NoQuery {
    /// What the person reads.
    pub(crate) fn said(self, t: &'static crate::lang::Tr) -> &'static str {
        match self {
            NoQuery::Empty => t.find_what,
            NoQuery::TooLong => t.query_too_long,
        }
    }
}
