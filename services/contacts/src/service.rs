//! The contacts service's operations. Each one validates its input, runs in one
//! transaction, writes its events to the outbox in that transaction, and wakes the
//! relay after the commit. A failed call writes nothing.

use std::sync::Arc;

use ringside_auth::visibility::Entity;
use ringside_bus::{EventPayload, outbox};
use ringside_kit::scope::Owners;
use ringside_proto::contacts::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_storage::{Db, Tx, new_id, now_millis};
use tokio::sync::Notify;

use crate::assign::{self, Assigner};
use crate::convert;
use crate::domain::{
    self, Identity, IdentityKind, Invalid, LeadStatus, PhoneE164, PhoneRegion, reversed_tail,
};
use crate::error::{ContactsError, Result};
use crate::model::{
    Company, Contact, ContactFilter, ContactPatch, Ctx, Cursor, Lead, LeadFilter, LeadPatch,
    LeadSource, NewContact, NewLead, Owned, Page, Paged, Party,
};
use crate::store::{self, Owner};

/// The name this service publishes events under.
pub const SOURCE: &str = "contacts";

/// Attempts a `Resolve` makes when it loses a race for a new identity.
const RESOLVE_ATTEMPTS: usize = 3;

#[derive(Clone)]
pub struct ContactsService {
    db: Db,
    region: PhoneRegion,
    outbox: outbox::Writer,
    /// Who new leads from `Resolve` go to (none: they stay unassigned).
    assigner: Option<Arc<Assigner>>,
    /// Who records can be given to (staff); without it, only to the caller or nobody.
    owners: Option<Owners>,
}

/// `record` (a `kind` with this id) when the caller sees it; one they do not see is
/// not found, as if it were not there.
fn visible<T: Owned>(
    ctx: &Ctx,
    entity: Entity,
    kind: &'static str,
    id: &str,
    record: T,
) -> Result<T> {
    match ctx.scope(entity).sees(record.owner(), record.team()) {
        true => Ok(record),
        false => Err(ContactsError::not_found(kind, id)),
    }
}

impl ContactsService {
    /// `relay_wake` is the outbox relay's waker ([`ringside_bus::outbox::Relay::waker`]).
    pub fn new(db: Db, region: PhoneRegion, relay_wake: Arc<Notify>) -> Self {
        ContactsService {
            db,
            region,
            outbox: outbox::Writer::new(SOURCE, relay_wake),
            assigner: None,
            owners: None,
        }
    }

    /// Checks owners with staff: a record goes only to an active user within the
    /// caller's reach, stamped with their team.
    pub fn with_owners(mut self, owners: Owners) -> Self {
        self.owners = Some(owners);
        self
    }

    /// The owner a new record of `entity` gets (`owner`, or an agent themselves) and
    /// the team it is stamped with, when the caller may give it to them.
    async fn stamp(&self, ctx: &Ctx, entity: Entity, owner: &str) -> Result<(String, String)> {
        let scope = ctx.scope(entity);
        let owner = scope.owner_or_self(owner);
        let team = ringside_kit::scope::stamp(self.owners.as_ref(), &scope, &owner).await?;
        Ok((owner, team))
    }

    /// New leads from `Resolve` are assigned round robin by `assigner`.
    pub fn with_assigner(mut self, assigner: Assigner) -> Self {
        self.assigner = Some(Arc::new(assigner));
        self
    }

    pub fn region(&self) -> PhoneRegion {
        self.region
    }

    /// What a search for `query` looks for: a phone number written any way
    /// (`8 (912) 345-67-89`) as it is stored (`+79123456789`); part of one, its
    /// digits (after a trunk prefix `8`); anything else as typed.
    pub fn search_form(&self, query: &str) -> String {
        search_form(query, self.region)
    }

    /// Validates an identity given by a client.
    pub fn identity(&self, kind: IdentityKind, raw: &str) -> Result<Identity, Invalid> {
        Identity::parse(kind, raw, self.region)
    }

    async fn emit(&self, tx: &mut Tx, ctx: &Ctx, payload: EventPayload) -> Result<()> {
        self.outbox.emit(tx, &ctx.correlation_id, payload).await?;
        Ok(())
    }

    async fn commit(&self, tx: Tx) -> Result<()> {
        Ok(self.outbox.commit(tx).await?)
    }

    // ------------------------------------------------------------ companies

    pub async fn create_company(&self, ctx: &Ctx, name: &str, owner_id: &str) -> Result<Company> {
        let owner_id = domain::optional_text("owner_id", owner_id)?;
        let (owner_id, team_id) = self.stamp(ctx, Entity::Company, &owner_id).await?;
        let now = now_millis();
        let company = Company {
            id: new_id(),
            name: domain::required_text("name", name)?,
            owner_id,
            team_id,
            created_at: now,
            updated_at: now,
        };
        let mut conn = self.db.pool().acquire().await?;
        store::insert_company(&mut conn, &company).await?;
        Ok(company)
    }

    pub async fn get_company(&self, ctx: &Ctx, id: &str) -> Result<Company> {
        let mut conn = self.db.pool().acquire().await?;
        let company = store::get_company(&mut conn, id).await?;
        visible(ctx, Entity::Company, "company", id, company)
    }

    pub async fn list_companies(
        &self,
        ctx: &Ctx,
        query: Option<&str>,
        page: Page,
    ) -> Result<Paged<Company>> {
        let mut conn = self.db.pool().acquire().await?;
        let scope = ctx.scope(Entity::Company);
        let items = store::list_companies(&mut conn, &scope, query, &page).await?;
        Ok(Paged::from_lookahead(items, page.size, |c| {
            Cursor::by_id(&c.id)
        }))
    }

    // ------------------------------------------------------------ contacts

    pub async fn create_contact(&self, ctx: &Ctx, new: NewContact) -> Result<Contact> {
        let owner_id = domain::optional_text("owner_id", &new.owner_id)?;
        let (owner_id, team_id) = self.stamp(ctx, Entity::Contact, &owner_id).await?;
        let now = now_millis();
        let contact = Contact {
            id: new_id(),
            name: domain::required_text("name", &new.name)?,
            company_id: new.company_id,
            owner_id,
            team_id,
            tags: domain::parse_tags(&new.tags)?,
            custom_fields: new.custom_fields,
            identities: dedup(new.identities),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            merged_into: None,
        };
        let mut tx = self.db.begin().await?;
        if let Some(company_id) = &contact.company_id {
            let company = store::get_company(&mut tx, company_id).await?;
            visible(ctx, Entity::Company, "company", company_id, company)?;
        }
        store::insert_contact(&mut tx, &contact).await?;
        store::claim_identities(
            &mut tx,
            &Owner::Contact(contact.id.clone()),
            &contact.identities,
        )
        .await?;
        let created = store::get_contact(&mut tx, &contact.id).await?;
        let payload = EventPayload::ContactCreated(ev::ContactCreated {
            contact: Some(convert::contact_to_proto(&created)),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    /// `err`, naming the record that holds an identity only to a caller who sees
    /// that record; to anyone else it is a record they do not see.
    pub async fn shown(&self, ctx: &Ctx, err: ContactsError) -> ContactsError {
        let (identity, seen) = match &err {
            ContactsError::IdentityTaken {
                identity,
                contact_id,
            } => (identity, self.get_contact(ctx, contact_id).await.is_ok()),
            ContactsError::IdentityTakenByLead { identity, lead_id } => {
                (identity, self.get_lead(ctx, lead_id).await.is_ok())
            }
            _ => return err,
        };
        match seen {
            true => err,
            false => ContactsError::IdentityTakenUnseen(identity.clone()),
        }
    }

    pub async fn get_contact(&self, ctx: &Ctx, id: &str) -> Result<Contact> {
        let mut conn = self.db.pool().acquire().await?;
        let contact = store::get_contact(&mut conn, id).await?;
        visible(ctx, Entity::Contact, "contact", id, contact)
    }

    pub async fn list_contacts(
        &self,
        ctx: &Ctx,
        filter: ContactFilter,
        page: Page,
    ) -> Result<Paged<Contact>> {
        let mut conn = self.db.pool().acquire().await?;
        let scope = ctx.scope(Entity::Contact);
        let items = store::list_contacts(&mut conn, &scope, &filter, &page).await?;
        Ok(Paged::from_lookahead(items, page.size, |c| {
            Cursor::by_id(&c.id)
        }))
    }

    pub async fn update_contact(
        &self,
        ctx: &Ctx,
        id: &str,
        patch: ContactPatch,
    ) -> Result<Contact> {
        // A contact the caller does not see is not found, before anything else is said.
        self.get_contact(ctx, id).await?;
        let owner = match &patch.owner_id {
            Some(owner) => {
                let owner = domain::optional_text("owner_id", owner)?;
                let scope = ctx.scope(Entity::Contact);
                let team = ringside_kit::scope::stamp(self.owners.as_ref(), &scope, &owner).await?;
                Some((owner, team))
            }
            None => None,
        };
        let mut tx = self.db.begin().await?;
        // Locked first: the row written back at the end is the one read here, so a
        // take at the same moment is not undone by this change.
        let expected = patch.expected_owner.as_deref();
        store::lock_owned(&mut tx, "contacts", id, expected).await?;
        let contact = store::get_contact(&mut tx, id).await?;
        let mut contact = visible(ctx, Entity::Contact, "contact", id, contact)?;
        if let Some((owner_id, team_id)) = owner {
            (contact.owner_id, contact.team_id) = (owner_id, team_id);
        }
        if contact.deleted_at.is_some() {
            return Err(ContactsError::FailedPrecondition(format!(
                "contact {id} is deleted"
            )));
        }
        self.apply_patch(&mut tx, ctx, &mut contact, patch).await?;
        contact.updated_at = now_millis();
        store::update_contact_row(&mut tx, &contact).await?;
        let updated = store::get_contact(&mut tx, id).await?;
        let payload = EventPayload::ContactUpdated(ev::ContactUpdated {
            contact: Some(convert::contact_to_proto(&updated)),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn apply_patch(
        &self,
        tx: &mut Tx,
        ctx: &Ctx,
        contact: &mut Contact,
        patch: ContactPatch,
    ) -> Result<()> {
        if let Some(name) = patch.name {
            contact.name = domain::required_text("name", &name)?;
        }
        if let Some(company_id) = patch.company_id {
            if let Some(company_id) = &company_id {
                let company = store::get_company(tx, company_id).await?;
                visible(ctx, Entity::Company, "company", company_id, company)?;
            }
            contact.company_id = company_id;
        }
        if let Some(fields) = patch.custom_fields {
            contact.custom_fields = fields;
        }
        if let Some(tags) = patch.tags {
            let tags = domain::parse_tags(&tags)?;
            store::replace_tags(tx, &contact.id, &tags).await?;
        }
        if let Some(identities) = patch.identities {
            replace_identities(tx, Owner::Contact(contact.id.clone()), identities).await?;
        }
        Ok(())
    }

    /// Soft delete: the contact keeps its identities, so a deleted client who calls
    /// is still recognized (and shown as deleted) rather than becoming a new lead.
    pub async fn delete_contact(&self, ctx: &Ctx, id: &str) -> Result<Contact> {
        let mut tx = self.db.begin().await?;
        store::lock_owned(&mut tx, "contacts", id, None).await?;
        let contact = store::get_contact(&mut tx, id).await?;
        let mut contact = visible(ctx, Entity::Contact, "contact", id, contact)?;
        if contact.deleted_at.is_some() {
            return Ok(contact);
        }
        let now = now_millis();
        contact.deleted_at = Some(now);
        contact.updated_at = now;
        store::update_contact_row(&mut tx, &contact).await?;
        let payload = EventPayload::ContactDeleted(ev::ContactDeleted {
            contact_id: id.to_owned(),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(contact)
    }

    /// Moves identities, tags, custom fields (the survivor's win) and converted leads
    /// of `merged_id` onto `survivor_id`; the merged contact is soft-deleted and
    /// points at the survivor.
    pub async fn merge_contacts(
        &self,
        ctx: &Ctx,
        survivor_id: &str,
        merged_id: &str,
    ) -> Result<Contact> {
        if survivor_id == merged_id {
            return Err(Invalid::new("merged_id", "cannot merge a contact into itself").into());
        }
        let mut tx = self.db.begin().await?;
        // Both rows locked, in one order whoever merges which into which.
        let mut both = [survivor_id, merged_id];
        both.sort_unstable();
        for id in both {
            store::lock_owned(&mut tx, "contacts", id, None).await?;
        }
        let survivor = store::get_contact(&mut tx, survivor_id).await?;
        let mut survivor = visible(ctx, Entity::Contact, "contact", survivor_id, survivor)?;
        let merged = store::get_contact(&mut tx, merged_id).await?;
        let mut merged = visible(ctx, Entity::Contact, "contact", merged_id, merged)?;
        for (id, c) in [(survivor_id, &survivor), (merged_id, &merged)] {
            if c.deleted_at.is_some() {
                return Err(ContactsError::FailedPrecondition(format!(
                    "contact {id} is deleted"
                )));
            }
        }
        let survivor_owner = Owner::Contact(survivor_id.to_owned());
        store::move_identities(
            &mut tx,
            &Owner::Contact(merged_id.to_owned()),
            &survivor_owner,
        )
        .await?;
        store::merge_tags(&mut tx, merged_id, survivor_id).await?;
        store::relink_leads(&mut tx, merged_id, survivor_id).await?;
        let now = now_millis();
        for (key, value) in std::mem::take(&mut merged.custom_fields) {
            survivor.custom_fields.entry(key).or_insert(value);
        }
        if survivor.company_id.is_none() {
            survivor.company_id = merged.company_id.clone();
        }
        survivor.updated_at = now;
        store::update_contact_row(&mut tx, &survivor).await?;
        merged.deleted_at = Some(now);
        merged.updated_at = now;
        merged.merged_into = Some(survivor_id.to_owned());
        store::update_contact_row(&mut tx, &merged).await?;
        let payload = EventPayload::ContactMerged(ev::ContactMerged {
            survivor_id: survivor_id.to_owned(),
            merged_id: merged_id.to_owned(),
        });
        self.emit(&mut tx, ctx, payload).await?;
        let result = store::get_contact(&mut tx, survivor_id).await?;
        self.commit(tx).await?;
        Ok(result)
    }

    // ------------------------------------------------------------ leads

    pub async fn create_lead(&self, ctx: &Ctx, mut new: NewLead) -> Result<Lead> {
        let owner = domain::optional_text("owner_id", &new.owner_id)?;
        (new.owner_id, new.team_id) = self.stamp(ctx, Entity::Lead, &owner).await?;
        let mut tx = self.db.begin().await?;
        let lead = self.insert_lead(&mut tx, ctx, new).await?;
        self.commit(tx).await?;
        Ok(lead)
    }

    async fn insert_lead(&self, tx: &mut Tx, ctx: &Ctx, new: NewLead) -> Result<Lead> {
        let now = now_millis();
        let lead = Lead {
            id: new_id(),
            name: domain::optional_text("name", &new.name)?,
            company_name: domain::optional_text("company_name", &new.company_name)?,
            identities: dedup(new.identities),
            source: LeadSource {
                channel: domain::optional_text("source.channel", &new.source.channel)?,
                campaign: domain::optional_text("source.campaign", &new.source.campaign)?,
            },
            status: LeadStatus::New,
            owner_id: domain::optional_text("owner_id", &new.owner_id)?,
            team_id: new.team_id,
            disqualify_reason: String::new(),
            contact_id: None,
            created_at: now,
            updated_at: now,
        };
        store::insert_lead(tx, &lead).await?;
        store::claim_identities(tx, &Owner::Lead(lead.id.clone()), &lead.identities).await?;
        let payload = EventPayload::LeadCreated(ev::LeadCreated {
            lead: Some(convert::lead_to_proto(&lead)),
        });
        self.emit(tx, ctx, payload).await?;
        Ok(lead)
    }

    pub async fn get_lead(&self, ctx: &Ctx, id: &str) -> Result<Lead> {
        let mut conn = self.db.pool().acquire().await?;
        let lead = store::get_lead(&mut conn, id).await?;
        visible(ctx, Entity::Lead, "lead", id, lead)
    }

    pub async fn list_leads(
        &self,
        ctx: &Ctx,
        filter: LeadFilter,
        page: Page,
    ) -> Result<Paged<Lead>> {
        let mut conn = self.db.pool().acquire().await?;
        let scope = ctx.scope(Entity::Lead);
        let items = store::list_leads(&mut conn, &scope, &filter, &page).await?;
        Ok(Paged::from_lookahead(items, page.size, |l| {
            Cursor::by_id(&l.id)
        }))
    }

    pub async fn set_lead_status(
        &self,
        ctx: &Ctx,
        id: &str,
        to: LeadStatus,
        reason: &str,
    ) -> Result<Lead> {
        let reason = domain::optional_text("reason", reason)?;
        if to == LeadStatus::Disqualified && reason.is_empty() {
            return Err(Invalid::new("reason", "required when disqualifying").into());
        }
        let mut tx = self.db.begin().await?;
        let mut lead = locked_open_lead(&mut tx, ctx, id).await?;
        let from = lead.status;
        if !from.can_move_to(to) {
            return Err(ContactsError::FailedPrecondition(format!(
                "lead {id} cannot move from {} to {}",
                from.as_str(),
                to.as_str()
            )));
        }
        lead.status = to;
        lead.disqualify_reason = if to == LeadStatus::Disqualified {
            reason.clone()
        } else {
            String::new()
        };
        lead.updated_at = now_millis();
        store::update_lead_row(&mut tx, &lead).await?;
        let payload = EventPayload::LeadStatusChanged(ev::LeadStatusChanged {
            lead_id: id.to_owned(),
            from: convert::lead_status_to_proto(from) as i32,
            to: convert::lead_status_to_proto(to) as i32,
            reason,
            owner_id: lead.owner_id.clone(),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(lead)
    }

    /// Changes a lead's name, company name or identities (an identity another
    /// client holds is refused, naming them), while the lead is not converted.
    pub async fn update_lead(&self, ctx: &Ctx, id: &str, patch: LeadPatch) -> Result<Lead> {
        let mut tx = self.db.begin().await?;
        let mut lead = locked_open_lead(&mut tx, ctx, id).await?;
        if let Some(name) = patch.name {
            lead.name = domain::optional_text("name", &name)?;
        }
        if let Some(company) = patch.company_name {
            lead.company_name = domain::optional_text("company_name", &company)?;
        }
        if let Some(identities) = patch.identities {
            replace_identities(&mut tx, Owner::Lead(lead.id.clone()), identities).await?;
        }
        lead.updated_at = now_millis();
        store::update_lead_details(&mut tx, &lead).await?;
        let lead = store::get_lead(&mut tx, id).await?;
        let payload = EventPayload::LeadUpdated(ev::LeadUpdated {
            lead: Some(convert::lead_to_proto(&lead)),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(lead)
    }

    /// Gives the lead to another owner (reassignment); with `expected`, only while
    /// its owner is still that one ("": nobody).
    pub async fn assign_lead(
        &self,
        ctx: &Ctx,
        id: &str,
        owner_id: &str,
        expected: Option<&str>,
    ) -> Result<Lead> {
        let owner_id = domain::optional_text("owner_id", owner_id)?;
        self.get_lead(ctx, id).await?;
        let team_id =
            ringside_kit::scope::stamp(self.owners.as_ref(), &ctx.scope(Entity::Lead), &owner_id)
                .await?;
        let mut tx = self.db.begin().await?;
        store::lock_owned(&mut tx, "leads", id, expected).await?;
        let lead = store::get_lead(&mut tx, id).await?;
        let mut lead = visible(ctx, Entity::Lead, "lead", id, lead)?;
        ensure_open(&lead)?;
        (lead.owner_id, lead.team_id) = (owner_id, team_id);
        lead.updated_at = now_millis();
        store::update_lead_row(&mut tx, &lead).await?;
        let payload = EventPayload::LeadStatusChanged(ev::LeadStatusChanged {
            lead_id: id.to_owned(),
            from: convert::lead_status_to_proto(lead.status) as i32,
            to: convert::lead_status_to_proto(lead.status) as i32,
            reason: "reassigned".to_owned(),
            owner_id: lead.owner_id.clone(),
        });
        self.emit(&mut tx, ctx, payload).await?;
        self.commit(tx).await?;
        Ok(lead)
    }

    /// Turns a lead into a contact (and a company when a name is given). The lead
    /// becomes qualified, keeps its history and points at the contact; its identities
    /// move to the contact.
    pub async fn convert_lead(
        &self,
        ctx: &Ctx,
        req: ConvertLead,
    ) -> Result<(Lead, Contact, Option<Company>)> {
        // The contact goes to the owner asked for, else the lead's (keeping its team);
        // an agent converting a lead of the pool takes it.
        let seen = self.get_lead(ctx, &req.lead_id).await?;
        let into_known = !req.contact_id.trim().is_empty();
        let owner = match (req.owner_id.trim(), seen.owner_id.as_str()) {
            // A known contact keeps their owner: none is asked of staff.
            _ if into_known => (String::new(), String::new()),
            ("", kept) if !kept.is_empty() => (seen.owner_id.clone(), seen.team_id.clone()),
            (asked, _) => self.stamp(ctx, Entity::Contact, asked).await?,
        };
        let mut tx = self.db.begin().await?;
        // The lead is claimed first: a second conversion at the same moment waits
        // for this one, then finds the lead converted (and changes nothing).
        store::claim_open_lead(&mut tx, &req.lead_id).await?;
        let lead = store::get_lead(&mut tx, &req.lead_id).await?;
        let mut lead = visible(ctx, Entity::Lead, "lead", &req.lead_id, lead)?;
        ensure_open(&lead)?;
        if lead.status == LeadStatus::Disqualified {
            return Err(ContactsError::FailedPrecondition(format!(
                "lead {} is disqualified",
                lead.id
            )));
        }
        let now = now_millis();
        let (contact, company) = match req.contact_id.trim() {
            "" => self.new_contact(&mut tx, &req, &lead, &owner, now).await?,
            known => (known_contact(&mut tx, ctx, known).await?, None),
        };
        store::move_identities(
            &mut tx,
            &Owner::Lead(lead.id.clone()),
            &Owner::Contact(contact.id.clone()),
        )
        .await?;
        let contact = store::get_contact(&mut tx, &contact.id).await?;
        lead.status = LeadStatus::Qualified;
        lead.contact_id = Some(contact.id.clone());
        lead.updated_at = now;
        store::update_lead_row(&mut tx, &lead).await?;
        lead.identities.clear();
        self.emit_conversion(
            &mut tx,
            ctx,
            &lead,
            &contact,
            !into_known,
            req.deal.as_ref(),
        )
        .await?;
        self.commit(tx).await?;
        Ok((lead, contact, company))
    }

    /// The contact a lead becomes, with the company its conversion names.
    async fn new_contact(
        &self,
        tx: &mut Tx,
        req: &ConvertLead,
        lead: &Lead,
        owner: &(String, String),
        now: i64,
    ) -> Result<(Contact, Option<Company>)> {
        let company = self.convert_company(tx, req, lead, owner, now).await?;
        let name = first_non_empty(&req.contact_name, &lead.name);
        let contact = Contact {
            id: new_id(),
            name: domain::required_text("contact_name", &name)?,
            company_id: company.as_ref().map(|c| c.id.clone()),
            owner_id: owner.0.clone(),
            team_id: owner.1.clone(),
            tags: Vec::new(),
            custom_fields: Default::default(),
            identities: Vec::new(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
            merged_into: None,
        };
        store::insert_contact(tx, &contact).await?;
        Ok((contact, company))
    }

    async fn convert_company(
        &self,
        tx: &mut Tx,
        req: &ConvertLead,
        lead: &Lead,
        (owner_id, team_id): &(String, String),
        now: i64,
    ) -> Result<Option<Company>> {
        let name = first_non_empty(&req.company_name, &lead.company_name);
        if name.is_empty() {
            return Ok(None);
        }
        let company = Company {
            id: new_id(),
            name: domain::required_text("company_name", &name)?,
            owner_id: owner_id.clone(),
            team_id: team_id.clone(),
            created_at: now,
            updated_at: now,
        };
        store::insert_company(tx, &company).await?;
        Ok(Some(company))
    }

    /// `contact.created` (`made`: the conversion made the contact) or
    /// `contact.updated` (it took the lead's identities), then `lead.converted`.
    async fn emit_conversion(
        &self,
        tx: &mut Tx,
        ctx: &Ctx,
        lead: &Lead,
        contact: &Contact,
        made: bool,
        deal: Option<&DealDraft>,
    ) -> Result<()> {
        let contact_now = Some(convert::contact_to_proto(contact));
        let changed = match made {
            true => EventPayload::ContactCreated(ev::ContactCreated {
                contact: contact_now,
            }),
            false => EventPayload::ContactUpdated(ev::ContactUpdated {
                contact: contact_now,
            }),
        };
        self.emit(tx, ctx, changed).await?;
        let converted = EventPayload::LeadConverted(ev::LeadConverted {
            lead_id: lead.id.clone(),
            contact_id: contact.id.clone(),
            company_id: contact.company_id.clone().unwrap_or_default(),
            owner_id: contact.owner_id.clone(),
            team_id: contact.team_id.clone(),
            source: Some(convert::source_to_proto(&lead.source)),
            deal: deal.map(|d| pb::DealDraft {
                title: d.title.clone(),
                amount_minor: d.amount_minor,
                currency: d.currency.clone(),
                pipeline_id: d.pipeline_id.clone().unwrap_or_default(),
            }),
        });
        self.emit(tx, ctx, converted).await
    }

    // ------------------------------------------------------------ lookups

    /// Exact E.164 match first; then, for numbers that arrive in another format, the
    /// one holder of a number ending in the same digits. Ambiguity is "not found".
    /// Only a party the caller sees is found.
    pub async fn lookup_by_phone(&self, ctx: &Ctx, raw: &str) -> Result<Option<Party>> {
        let found = self.lookup_anyones(raw).await?;
        let scope = ctx.scope(Entity::Contact);
        Ok(found.filter(|p| scope.sees(p.owner(), p.team())))
    }

    async fn lookup_anyones(&self, raw: &str) -> Result<Option<Party>> {
        if raw.len() > 64 {
            return Err(Invalid::new("phone", "longer than 64 bytes").into());
        }
        let mut conn = self.db.pool().acquire().await?;
        if let Ok(phone) = PhoneE164::parse(raw, self.region) {
            let identity = Identity {
                kind: IdentityKind::Phone,
                value: phone.as_str().to_owned(),
            };
            // One statement for a known contact: the holder, its row, identities, tags.
            if let Some((party, _)) = store::find_party(&mut conn, &identity).await? {
                return Ok(Some(party));
            }
        }
        let tail = reversed_tail(raw).ok_or_else(|| Invalid::new("phone", "not a phone number"))?;
        match store::find_phone_by_tail(&mut conn, &tail).await? {
            Some(owner) => Ok(Some(load_party(&mut conn, owner).await?)),
            None => Ok(None),
        }
    }

    /// The contact or lead holding `identity`; a stranger becomes exactly one new
    /// lead, however many callers ask at once. Returns whether this call created it.
    /// The party behind a caller's number: a stranger becomes one lead (source
    /// "phone"). `None` when `raw` is not a phone number.
    pub async fn resolve_caller(&self, ctx: &Ctx, raw: &str) -> Result<Option<Resolved>> {
        let Ok(identity) = Identity::parse(IdentityKind::Phone, raw, self.region) else {
            return Ok(None);
        };
        let source = LeadSource {
            channel: "phone".to_owned(),
            campaign: String::new(),
        };
        self.resolve(ctx, identity, "", source).await.map(Some)
    }

    pub async fn resolve(
        &self,
        ctx: &Ctx,
        identity: Identity,
        name: &str,
        source: LeadSource,
    ) -> Result<Resolved> {
        let person = Person {
            identities: vec![identity],
            name: name.to_owned(),
            company_name: String::new(),
            source,
            ..Person::default()
        };
        self.resolve_person(ctx, person).await
    }

    /// `found` also gets those of `identities` nobody holds (the channel vouches they
    /// are the same person's); an identity someone else holds stays theirs.
    async fn claim_unheld(
        &self,
        ctx: &Ctx,
        found: Resolved,
        identities: &[Identity],
    ) -> Result<Resolved> {
        let owner = match &found.party {
            Party::Contact(c) => Owner::Contact(c.id.clone()),
            Party::Lead(l) => Owner::Lead(l.id.clone()),
        };
        let mut tx = self.db.begin().await?;
        // Merged away, deleted or converted since it was found: nothing joins it.
        let live = match load_party(&mut tx, owner.clone()).await? {
            Party::Contact(c) => c.deleted_at.is_none() && c.merged_into.is_none(),
            Party::Lead(l) => l.contact_id.is_none(),
        };
        let mut claimed = false;
        for identity in identities.iter().filter(|_| live) {
            claimed |= store::claim_if_free(&mut tx, &owner, identity).await?;
        }
        if !claimed {
            return Ok(found); // someone else took them meanwhile
        }
        let party = load_party(&mut tx, owner).await?;
        if let Party::Contact(contact) = &party {
            let payload = EventPayload::ContactUpdated(ev::ContactUpdated {
                contact: Some(convert::contact_to_proto(contact)),
            });
            self.emit(&mut tx, ctx, payload).await?;
        }
        self.commit(tx).await?;
        Ok(Resolved { party, ..found })
    }

    /// The contact or lead holding the first of `person`'s identities known, in
    /// order; a stranger becomes exactly one new lead claiming them all, however many
    /// callers ask at once.
    pub async fn resolve_person(&self, ctx: &Ctx, person: Person) -> Result<Resolved> {
        let identities = dedup(person.identities);
        if identities.is_empty() {
            return Err(Invalid::new("identity", "required").into());
        }
        // A known identity is answered by a plain read: on SQLite the write lock below
        // would queue every caller lookup behind the writers.
        let mut conn = self.db.pool().acquire().await?;
        if let Some(found) = find_first(&mut conn, &identities).await? {
            drop(conn);
            return match person.claim_also && !holds_all(&found.party, &identities) {
                true => self.claim_unheld(ctx, found, &identities).await,
                false => Ok(found),
            };
        }
        drop(conn);
        if person.lookup_only {
            return Err(ContactsError::not_found(
                "identity",
                identities[0].kind.as_str(),
            ));
        }
        let eligible = match &self.assigner {
            Some(assigner) => assigner.eligible().await,
            None => Vec::new(),
        };
        let ids: Vec<String> = eligible.iter().map(|(id, _)| id.clone()).collect();
        let source = person.source;
        for _ in 0..RESOLVE_ATTEMPTS {
            let mut tx = self.db.begin().await?;
            if let Some(found) = find_first(&mut tx, &identities).await? {
                tx.commit().await?;
                return Ok(found);
            }
            let owner_id = assign::take_turn(&mut tx, &ids).await?.unwrap_or_default();
            let team_id = eligible
                .iter()
                .find(|(id, _)| *id == owner_id)
                .map(|(_, team)| team.clone())
                .unwrap_or_default();
            let new = NewLead {
                name: person.name.clone(),
                company_name: person.company_name.clone(),
                identities: claim_order(&identities),
                source: source.clone(),
                owner_id,
                team_id,
            };
            match self.insert_lead(&mut tx, ctx, new).await {
                Ok(lead) => {
                    self.commit(tx).await?;
                    metrics::counter!("ringside_contacts_leads_created_total", "channel" => source.channel.clone())
                        .increment(1);
                    return Ok(Resolved {
                        company_name: lead.company_name.clone(),
                        party: Party::Lead(lead),
                        created: true,
                    });
                }
                // Another caller created it between our read and our insert: read again.
                Err(
                    ContactsError::IdentityTaken { .. } | ContactsError::IdentityTakenByLead { .. },
                ) => {
                    drop(tx);
                }
                Err(e) => return Err(e),
            }
        }
        Err(ContactsError::Contended(
            "identity is changing concurrently, try again".to_owned(),
        ))
    }
}

/// Someone to resolve: their identities, most trusted first, and what a new lead
/// gets.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub identities: Vec<Identity>,
    pub name: String,
    pub company_name: String,
    pub source: LeadSource,
    /// Only find the holder: a stranger is not made a lead (`NotFound`).
    pub lookup_only: bool,
    /// The identities are vouched to be one person's: a holder found by one also
    /// gets the others nobody holds.
    pub claim_also: bool,
}

/// What an identity resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub party: Party,
    /// Whether this call created the party (a stranger became a lead).
    pub created: bool,
    /// The name of the party's company: a contact's company, a lead's own.
    pub company_name: String,
}

impl Resolved {
    fn found(party: Party, company_name: String) -> Self {
        Resolved {
            party,
            created: false,
            company_name,
        }
    }
}

/// Input of [`ContactsService::convert_lead`].
#[derive(Debug, Clone, Default)]
pub struct ConvertLead {
    pub lead_id: String,
    /// An existing contact the lead turns out to be (a known client calling from a
    /// new number): its identities and history go to them; no contact is made.
    pub contact_id: String,
    pub contact_name: String,
    pub company_name: String,
    pub owner_id: String,
    /// A deal to open for the new contact; validated here, opened by `deals`.
    pub deal: Option<DealDraft>,
}

/// A deal asked for with a conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DealDraft {
    pub title: String,
    pub amount_minor: i64,
    pub currency: String,
    pub pipeline_id: Option<String>,
}

impl DealDraft {
    /// Checks a draft from the wire: a title, a non-negative amount, a known currency.
    pub fn parse(
        title: &str,
        amount_minor: i64,
        currency: &str,
        pipeline_id: &str,
    ) -> std::result::Result<Self, Invalid> {
        use ringside_identity::fields;
        Ok(DealDraft {
            title: domain::required_text("deal.title", title)?,
            amount_minor: fields::amount("deal.amount_minor", amount_minor)?,
            currency: fields::currency("deal.currency", currency)?,
            pipeline_id: fields::optional_id("deal.pipeline_id", pipeline_id)?,
        })
    }
}

/// `identities` in one fixed order: two replicas claiming the same identities for
/// two new leads lock them in the same order, so they cannot deadlock.
fn claim_order(identities: &[Identity]) -> Vec<Identity> {
    let mut sorted = identities.to_vec();
    sorted.sort_by(|a, b| (a.kind.as_str(), &a.value).cmp(&(b.kind.as_str(), &b.value)));
    sorted
}

/// The holder of the first of `identities` anyone holds.
async fn find_first(
    conn: &mut sqlx::AnyConnection,
    identities: &[Identity],
) -> Result<Option<Resolved>> {
    for identity in identities {
        if let Some((party, company_name)) = store::find_party(conn, identity).await? {
            return Ok(Some(Resolved::found(party, company_name)));
        }
    }
    Ok(None)
}

/// Whether `party` holds every one of `identities`.
fn holds_all(party: &Party, identities: &[Identity]) -> bool {
    let held = match party {
        Party::Contact(c) => &c.identities,
        Party::Lead(l) => &l.identities,
    };
    identities.iter().all(|i| held.contains(i))
}

async fn load_party(conn: &mut sqlx::AnyConnection, owner: Owner) -> Result<Party> {
    Ok(match owner {
        Owner::Contact(id) => Party::Contact(store::get_contact(conn, &id).await?),
        Owner::Lead(id) => Party::Lead(store::get_lead(conn, &id).await?),
    })
}

/// The existing contact `id` a lead is converted into: one the caller sees, neither
/// deleted nor merged away.
async fn known_contact(tx: &mut Tx, ctx: &Ctx, id: &str) -> Result<Contact> {
    // Touched first, only while it is neither deleted nor merged: the row is then
    // this transaction's until it commits (a merge or delete at the same moment
    // waits, and cannot be undone by it).
    let live = store::touch_live_contact(tx, id, now_millis()).await?;
    let contact = store::get_contact(tx, id).await?;
    let contact = visible(ctx, Entity::Contact, "contact", id, contact)?;
    if !live {
        return Err(ContactsError::FailedPrecondition(format!(
            "contact {id} is deleted or merged"
        )));
    }
    Ok(contact)
}

/// Lead `id` as the caller sees it, locked for the transaction while it is not
/// converted: a conversion at the same moment comes first or after, never half-way
/// through the caller's change. Not seen is not found, before anything else is
/// said; read again after the lock, so what it says is what the lock holds.
async fn locked_open_lead(tx: &mut Tx, ctx: &Ctx, id: &str) -> Result<Lead> {
    let seen = store::get_lead(tx, id).await?;
    ensure_open(&visible(ctx, Entity::Lead, "lead", id, seen)?)?;
    store::claim_open_lead(tx, id).await?;
    let lead = store::get_lead(tx, id).await?;
    visible(ctx, Entity::Lead, "lead", id, lead)
}

/// Gives `owner` exactly `identities` (each once); one another record holds fails,
/// naming it, and the caller's transaction rolls back.
async fn replace_identities(tx: &mut Tx, owner: Owner, identities: Vec<Identity>) -> Result<()> {
    store::release_identities(tx, &owner).await?;
    store::claim_identities(tx, &owner, &dedup(identities)).await
}

fn ensure_open(lead: &Lead) -> Result<()> {
    match &lead.contact_id {
        Some(contact) => Err(ContactsError::FailedPrecondition(format!(
            "lead {} was converted into contact {contact}",
            lead.id
        ))),
        None => Ok(()),
    }
}

fn first_non_empty(preferred: &str, fallback: &str) -> String {
    if preferred.trim().is_empty() {
        fallback
    } else {
        preferred
    }
    .to_owned()
}

fn dedup(mut identities: Vec<Identity>) -> Vec<Identity> {
    let mut seen = std::collections::HashSet::new();
    identities.retain(|i| seen.insert(i.clone()));
    identities
}

/// [`ContactsService::search_form`] in `region`.
fn search_form(query: &str, region: PhoneRegion) -> String {
    let phone_like = query
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let digits: String = query.chars().filter(char::is_ascii_digit).collect();
    if !phone_like || digits.len() < 3 {
        return query.to_owned();
    }
    match PhoneE164::parse(query, region) {
        Ok(phone) => phone.as_str().to_owned(),
        // Part of a number written with a national trunk prefix ("8 912 345"):
        // the digits after it, as the stored international form has them.
        Err(_) if digits.len() >= 5 && digits.starts_with('8') && !query.contains('+') => {
            digits[1..].to_owned()
        }
        Err(_) => digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_written_any_way_is_searched_as_it_is_stored() {
        let ru: PhoneRegion = "RU".parse().expect("a region");
        let cases = [
            ("8 (912) 345-67-89", "+79123456789"),
            ("+7 912 345 67 89", "+79123456789"),
            ("912 345", "912345"),
            ("8 912 345", "912345"),
            ("+8 912", "8912"),
            ("Иван", "Иван"),
            ("ivan@example.com", "ivan@example.com"),
            ("12", "12"),
        ];
        for (query, searched) in cases {
            assert_eq!(search_form(query, ru), searched, "{query}");
        }
    }
}
