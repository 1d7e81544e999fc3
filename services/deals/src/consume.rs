//! What deals does with the events of other services: a lead converted with a deal
//! draft opens that deal, a contact merge relinks the deals' contacts, and a deal's
//! next action follows activities. Every event is applied in one transaction that
//! also claims its id in the inbox, so a redelivery changes nothing.

use async_trait::async_trait;
use ringside_bus::consumer::{HandleError, Handler};
use ringside_bus::{Envelope, EventPayload, QueueSpec};
use ringside_identity::fields::{amount, currency, optional_id};
use ringside_identity::{optional_text, required_text};
use ringside_kit::consume::Apply;
use ringside_proto::activities::v1::SubjectKind;
use ringside_proto::events::v1 as ev;
use ringside_proto::millis_from_timestamp;
use ringside_storage::{Db, Tx};

use crate::error::{DealsError, Result};
use crate::model::{ContactRole, Ctx, DealContact, NewDeal, NextAction};
use crate::service::DealsService;
use crate::store;

/// The queue deals consumes (`<prefix>deals`) and what it is bound to.
pub fn queue_spec(prefix: &str) -> QueueSpec {
    QueueSpec::new(
        &format!("{prefix}{}", crate::QUEUE),
        &["lead.converted", "contact.merged", "next_action.changed"],
    )
}

/// The bus handler of the deals service.
pub struct Consumer {
    service: DealsService,
}

impl Consumer {
    pub fn new(service: DealsService) -> Self {
        Consumer { service }
    }
}

#[async_trait]
impl Handler for Consumer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandleError> {
        ringside_kit::consume::once(self, envelope).await
    }
}

#[async_trait]
impl Apply for Consumer {
    /// Deals asks nothing of other services for an event.
    type Asked = ();
    type Error = DealsError;

    fn queue(&self) -> &'static str {
        crate::QUEUE
    }

    fn db(&self) -> &Db {
        &self.service.db
    }

    fn is_poison(error: &DealsError) -> bool {
        matches!(error, DealsError::Invalid(_))
    }

    async fn ask(&self, _: &Envelope, _: &EventPayload) -> Result<()> {
        Ok(())
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        envelope: &Envelope,
        payload: &EventPayload,
        (): (),
    ) -> Result<()> {
        let ctx = Ctx::new(&envelope.source, &envelope.correlation_id);
        match payload {
            EventPayload::LeadConverted(c) => self.converted(tx, &ctx, c).await?,
            EventPayload::ContactMerged(m) => {
                store::relink_contact(tx, &m.merged_id, &m.survivor_id).await?;
            }
            EventPayload::NextActionChanged(n) if n.kind == SubjectKind::Deal as i32 => {
                let reported_at = envelope
                    .occurred_at
                    .as_ref()
                    .map_or_else(ringside_storage::now_millis, millis_from_timestamp);
                store::set_next_action(tx, &n.id, next_action(n).as_ref(), reported_at).await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn commit(&self, tx: Tx) -> Result<()> {
        self.service.commit(tx).await
    }
}

impl Consumer {
    /// Opens the deal a conversion asked for, once per lead (the deal's unique lead id
    /// makes a second conversion event a no-op), in the draft's pipeline
    /// (the default one when it names none or one that does not exist).
    async fn converted(&self, tx: &mut Tx, ctx: &Ctx, c: &ev::LeadConverted) -> Result<()> {
        let Some(draft) = &c.deal else {
            return Ok(());
        };
        let mut pipeline_id = optional_id("deal.pipeline_id", &draft.pipeline_id)?;
        if let Some(id) = &pipeline_id
            && store::pipeline(tx, id).await?.is_none()
        {
            tracing::warn!(pipeline = %id, "converted lead names an unknown pipeline; using the default");
            pipeline_id = None;
        }
        let source = c.source.clone().unwrap_or_default();
        let new = NewDeal {
            title: required_text("deal.title", &draft.title)?,
            pipeline_id,
            amount_minor: amount("deal.amount_minor", draft.amount_minor)?,
            currency: currency("deal.currency", &draft.currency)?,
            owner_id: optional_text("owner_id", &c.owner_id)?,
            team_id: optional_text("team_id", &c.team_id)?,
            company_id: optional_id("company_id", &c.company_id)?,
            contacts: vec![DealContact {
                contact_id: required_text("contact_id", &c.contact_id)?,
                role: ContactRole::Other,
            }],
            source_channel: optional_text("source.channel", &source.channel)?,
            source_campaign: optional_text("source.campaign", &source.campaign)?,
            lead_id: Some(required_text("lead_id", &c.lead_id)?),
            ..NewDeal::default()
        };
        if let Some((deal, warnings)) = self.service.open_in(tx, ctx, new, false).await? {
            tracing::info!(deal = %deal.id, warnings = warnings.len(), "deal opened from a converted lead");
        }
        Ok(())
    }
}

fn next_action(n: &ev::NextActionChanged) -> Option<NextAction> {
    let task = n.task.as_ref()?;
    Some(NextAction {
        task_id: task.id.clone(),
        title: task.title.clone(),
        due_at: task.due_at.as_ref().map_or(0, millis_from_timestamp),
    })
}
