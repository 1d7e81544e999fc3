//! The card's questions answered in the same process (the all-in-one mode): the
//! contacts and activities services are called directly, with no gRPC hop.

use async_trait::async_trait;
use ringside_activities::ActivitiesService;
use ringside_activities::model::{Ctx, EntryKind, Page, Subject, TaskFilter};
use ringside_contacts::ContactsService;
use ringside_contacts::model::Ctx as ContactsCtx;
use ringside_deals::DealsService;
use ringside_deals::model::{Filter, Sort, StageKind};
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::notifications::v1 as npb;

use crate::card::{Client, Lookups};
use crate::error::{NotificationsError, Result};

pub struct LocalSources {
    pub contacts: ContactsService,
    pub activities: ActivitiesService,
    /// `None` when the process runs no deals service.
    pub deals: Option<DealsService>,
}

fn subject(client: &Client) -> Subject {
    match client.kind.as_str() {
        "contact" => Subject::Contact(client.id.clone()),
        _ => Subject::Lead(client.id.clone()),
    }
}

fn unavailable(e: impl std::fmt::Display) -> NotificationsError {
    NotificationsError::Unavailable(e.to_string())
}

#[async_trait]
impl Lookups for LocalSources {
    async fn resolve(
        &self,
        correlation_id: &str,
        phone: &str,
    ) -> Result<Option<cpb::ResolveResponse>> {
        let ctx = ContactsCtx {
            actor: crate::SOURCE.to_owned(),
            correlation_id: correlation_id.to_owned(),
        };
        let resolved = self.contacts.resolve_caller(&ctx, phone).await;
        let resolved = resolved.map_err(unavailable)?;
        Ok(resolved.map(ringside_contacts::convert::resolved_to_proto))
    }

    async fn timeline(
        &self,
        client: &Client,
        kinds: Vec<i32>,
        size: i32,
    ) -> Result<Vec<apb::Entry>> {
        let kinds: Vec<EntryKind> = kinds
            .into_iter()
            .filter_map(|k| ringside_activities::convert::entry_kind_from_proto(k).ok())
            .collect();
        let page = Page {
            size: i64::from(size),
            after: None,
        };
        let paged = self
            .activities
            .timeline(&subject(client), &kinds, None, page)
            .await
            .map_err(unavailable)?;
        Ok(paged
            .items
            .iter()
            .map(ringside_activities::convert::entry_to_proto)
            .collect())
    }

    async fn open_tasks(&self, client: &Client) -> Result<Vec<apb::Task>> {
        let filter = TaskFilter {
            subject: Some(subject(client)),
            ..Default::default()
        };
        let page = Page {
            size: 10,
            after: None,
        };
        let paged = self
            .activities
            .list_tasks(filter, page)
            .await
            .map_err(unavailable)?;
        let now = ringside_storage::now_millis();
        Ok(paged
            .items
            .iter()
            .map(|t| ringside_activities::convert::task_to_proto(t, now))
            .collect())
    }

    async fn add_call_note(
        &self,
        agent: &str,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<String> {
        let ctx = Ctx {
            actor: agent.to_owned(),
            correlation_id: call_id.to_owned(),
        };
        match self
            .activities
            .add_call_note(&ctx, call_id, text, outcome)
            .await
        {
            Ok(entry) => Ok(entry.id),
            Err(e) => Err(NotificationsError::from_status(e.into())),
        }
    }

    async fn open_deals(&self, client: &Client) -> Result<Vec<npb::CardDeal>> {
        let (Some(deals), "contact") = (&self.deals, client.kind.as_str()) else {
            return Ok(Vec::new());
        };
        let filter = Filter {
            contact_id: Some(client.id.clone()),
            status: Some(StageKind::Open),
            ..Filter::default()
        };
        let page = Page {
            size: i64::from(crate::card::DEALS),
            after: None,
        };
        let (paged, _) = deals
            .list(&filter, Sort::default(), page)
            .await
            .map_err(unavailable)?;
        Ok(paged
            .items
            .iter()
            .map(|d| crate::card::card_deal(&ringside_deals::convert::deal_to_proto(d)))
            .collect())
    }

    async fn party(&self, kind: &str, id: &str) -> Result<Option<cpb::Party>> {
        use ringside_contacts::model::Party;
        let found = match kind {
            "contact" => self.contacts.get_contact(id).await.map(Party::Contact),
            _ => self.contacts.get_lead(id).await.map(Party::Lead),
        };
        match found {
            Ok(party) => Ok(Some(ringside_contacts::convert::party_to_proto(&party))),
            Err(ringside_contacts::ContactsError::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn entry(&self, id: &str) -> Result<Option<apb::Entry>> {
        match self.activities.get_entry(id).await {
            Ok(entry) => Ok(Some(ringside_activities::convert::entry_to_proto(&entry))),
            Err(ringside_activities::ActivitiesError::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn call_entry(&self, call_id: &str) -> Result<Option<String>> {
        match self.activities.get_call_entry(call_id).await {
            Ok(entry) => Ok(Some(entry.id)),
            Err(ringside_activities::ActivitiesError::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}
