//! The `ringside.contacts.v1.Contacts` gRPC service: requests are checked and turned
//! into domain calls here, results into messages, errors into status codes.

use ringside_kit::PeerChannel;
use ringside_kit::grpc::{Reply, invalid, ok, optional_id, required_id};
use ringside_proto::contacts::v1 as pb;
use ringside_proto::contacts::v1::contacts_server::{Contacts, ContactsServer};
use tonic::{Request, Status};

use crate::convert::{self, company_to_proto, contact_to_proto, lead_to_proto, party_to_proto};
use crate::domain::{self, Invalid};
use crate::error::ContactsError;
use crate::model::{
    ContactFilter, ContactPatch, Ctx, Cursor, DeletedFilter, LeadFilter, LeadPatch, NewContact,
    NewLead, Page,
};
use crate::service::{ContactsService, ConvertLead, DealDraft};

/// Default and largest page sizes.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
pub struct ContactsGrpc {
    service: ContactsService,
}

impl ContactsGrpc {
    pub fn new(service: ContactsService) -> Self {
        ContactsGrpc { service }
    }

    /// `result`, an identity's holder named only to a caller who sees it.
    async fn shown<T>(&self, ctx: &Ctx, result: Result<T, ContactsError>) -> Result<T, Status> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => Err(self.service.shown(ctx, e).await.into()),
        }
    }

    /// The tonic server for this service (add an auth interceptor around it).
    pub fn into_server(self) -> ContactsServer<Self> {
        ContactsServer::new(self)
    }

    /// This service alone, behind the token guard, as `caller` reaches it from the
    /// same process: how the tests of the services that ask contacts reach it.
    pub fn peer_channel(service: ContactsService, caller: &'static str) -> PeerChannel {
        let key = ringside_auth::TokenKey::generate();
        let server =
            ringside_auth::Guarded::new(ContactsGrpc::new(service).into_server(), key.clone());
        PeerChannel::serving(tonic::service::Routes::new(server), key, caller)
    }
}

fn optional_filter(field: &str, value: &str) -> Result<Option<String>, Status> {
    let value = domain::optional_text(field, value).map_err(invalid)?;
    Ok((!value.is_empty()).then_some(value))
}

/// Contacts' lists are ordered by id alone, so a page token is the last id seen (as
/// it has always been: replicas of any version read each other's tokens).
fn page(size: i32, token: &str) -> Result<Page, Status> {
    let size = ringside_identity::page_size(size, DEFAULT_PAGE, MAX_PAGE).map_err(invalid)?;
    let after = optional_id("page_token", token)?.map(|id| Cursor::by_id(&id));
    Ok(Page { size, after })
}

fn next_page(next: Option<Cursor>) -> String {
    next.map(|c| c.id).unwrap_or_default()
}

fn custom_fields(
    fields: &std::collections::HashMap<String, String>,
) -> Result<std::collections::BTreeMap<String, String>, Status> {
    domain::parse_custom_fields(fields).map_err(invalid)
}

#[tonic::async_trait]
impl Contacts for ContactsGrpc {
    async fn create_company(&self, req: Request<pb::CreateCompanyRequest>) -> Reply<pb::Company> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let company = self
            .service
            .create_company(&ctx, &r.name, &r.owner_id)
            .await?;
        ok(company_to_proto(&company))
    }

    async fn get_company(&self, req: Request<pb::GetCompanyRequest>) -> Reply<pb::Company> {
        let ctx = Ctx::of(&req);
        let company = self
            .service
            .get_company(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(company_to_proto(&company))
    }

    async fn list_companies(
        &self,
        req: Request<pb::ListCompaniesRequest>,
    ) -> Reply<pb::ListCompaniesResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let query = optional_filter("query", &r.query)?;
        let paged = self
            .service
            .list_companies(&ctx, query.as_deref(), page(r.page_size, &r.page_token)?)
            .await?;
        ok(pb::ListCompaniesResponse {
            companies: paged.items.iter().map(company_to_proto).collect(),
            next_page_token: next_page(paged.next),
        })
    }

    async fn create_contact(&self, req: Request<pb::CreateContactRequest>) -> Reply<pb::Contact> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let new = NewContact {
            name: r.name,
            company_id: optional_id("company_id", &r.company_id)?,
            owner_id: r.owner_id,
            tags: r.tags,
            custom_fields: custom_fields(&r.custom_fields)?,
            identities: convert::identities_from_proto(&r.identities, self.service.region())
                .map_err(invalid)?,
        };
        let contact = self.service.create_contact(&ctx, new).await;
        ok(contact_to_proto(&self.shown(&ctx, contact).await?))
    }

    async fn get_contact(&self, req: Request<pb::GetContactRequest>) -> Reply<pb::Contact> {
        let ctx = Ctx::of(&req);
        let contact = self
            .service
            .get_contact(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(contact_to_proto(&contact))
    }

    async fn update_contact(&self, req: Request<pb::UpdateContactRequest>) -> Reply<pb::Contact> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let region = self.service.region();
        let patch = ContactPatch {
            name: r.name,
            company_id: r
                .company_id
                .map(|c| optional_id("company_id", &c))
                .transpose()?,
            owner_id: r.owner_id,
            tags: r.tags.map(|t| t.tags),
            custom_fields: r
                .custom_fields
                .map(|f| custom_fields(&f.fields))
                .transpose()?,
            identities: r
                .identities
                .map(|l| convert::identities_from_proto(&l.identities, region))
                .transpose()
                .map_err(invalid)?,
            expected_owner: r.expected_owner_id,
        };
        let id = required_id("id", &r.id)?;
        let contact = self.service.update_contact(&ctx, &id, patch).await;
        ok(contact_to_proto(&self.shown(&ctx, contact).await?))
    }

    async fn delete_contact(&self, req: Request<pb::DeleteContactRequest>) -> Reply<pb::Contact> {
        let ctx = Ctx::of(&req);
        let contact = self
            .service
            .delete_contact(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(contact_to_proto(&contact))
    }

    async fn list_contacts(
        &self,
        req: Request<pb::ListContactsRequest>,
    ) -> Reply<pb::ListContactsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let deleted = match pb::DeletedFilter::try_from(r.deleted) {
            Ok(pb::DeletedFilter::Unspecified | pb::DeletedFilter::Exclude) => {
                DeletedFilter::Exclude
            }
            Ok(pb::DeletedFilter::Only) => DeletedFilter::Only,
            Ok(pb::DeletedFilter::Include) => DeletedFilter::Include,
            Err(_) => return Err(invalid(Invalid::new("deleted", "unknown filter"))),
        };
        let filter = ContactFilter {
            tag: optional_filter("tag", &r.tag)?,
            owner_id: optional_filter("owner_id", &r.owner_id)?,
            company_id: optional_id("company_id", &r.company_id)?,
            query: optional_filter("query", &r.query)?.map(|q| self.service.search_form(&q)),
            deleted,
        };
        let paged = self
            .service
            .list_contacts(&ctx, filter, page(r.page_size, &r.page_token)?)
            .await?;
        ok(pb::ListContactsResponse {
            contacts: paged.items.iter().map(contact_to_proto).collect(),
            next_page_token: next_page(paged.next),
        })
    }

    async fn merge_contacts(&self, req: Request<pb::MergeContactsRequest>) -> Reply<pb::Contact> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let survivor = required_id("survivor_id", &r.survivor_id)?;
        let merged = required_id("merged_id", &r.merged_id)?;
        let contact = self
            .service
            .merge_contacts(&ctx, &survivor, &merged)
            .await?;
        ok(contact_to_proto(&contact))
    }

    async fn create_lead(&self, req: Request<pb::CreateLeadRequest>) -> Reply<pb::Lead> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let new = NewLead {
            name: r.name,
            company_name: r.company_name,
            identities: convert::identities_from_proto(&r.identities, self.service.region())
                .map_err(invalid)?,
            source: convert::source_from_proto(r.source.as_ref()),
            owner_id: r.owner_id,
            team_id: String::new(),
        };
        let lead = self.service.create_lead(&ctx, new).await;
        ok(lead_to_proto(&self.shown(&ctx, lead).await?))
    }

    async fn get_lead(&self, req: Request<pb::GetLeadRequest>) -> Reply<pb::Lead> {
        let ctx = Ctx::of(&req);
        let lead = self
            .service
            .get_lead(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(lead_to_proto(&lead))
    }

    async fn list_leads(&self, req: Request<pb::ListLeadsRequest>) -> Reply<pb::ListLeadsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let status = match r.status {
            0 => None,
            s => Some(convert::lead_status_from_proto(s).map_err(invalid)?),
        };
        let filter = LeadFilter {
            status,
            owner_id: optional_filter("owner_id", &r.owner_id)?,
            query: optional_filter("query", &r.query)?.map(|q| self.service.search_form(&q)),
        };
        let paged = self
            .service
            .list_leads(&ctx, filter, page(r.page_size, &r.page_token)?)
            .await?;
        ok(pb::ListLeadsResponse {
            leads: paged.items.iter().map(lead_to_proto).collect(),
            next_page_token: next_page(paged.next),
        })
    }

    async fn set_lead_status(&self, req: Request<pb::SetLeadStatusRequest>) -> Reply<pb::Lead> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let status = convert::lead_status_from_proto(r.status).map_err(invalid)?;
        let lead = self
            .service
            .set_lead_status(&ctx, &required_id("id", &r.id)?, status, &r.reason)
            .await?;
        ok(lead_to_proto(&lead))
    }

    async fn update_lead(&self, req: Request<pb::UpdateLeadRequest>) -> Reply<pb::Lead> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let region = self.service.region();
        let patch = LeadPatch {
            name: r.name,
            company_name: r.company_name,
            identities: r
                .identities
                .map(|l| convert::identities_from_proto(&l.identities, region))
                .transpose()
                .map_err(invalid)?,
        };
        let id = required_id("id", &r.id)?;
        let lead = self.service.update_lead(&ctx, &id, patch).await;
        ok(lead_to_proto(&self.shown(&ctx, lead).await?))
    }

    async fn assign_lead(&self, req: Request<pb::AssignLeadRequest>) -> Reply<pb::Lead> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let lead = self
            .service
            .assign_lead(
                &ctx,
                &required_id("id", &r.id)?,
                &r.owner_id,
                r.expected_owner_id.as_deref(),
            )
            .await?;
        ok(lead_to_proto(&lead))
    }

    async fn convert_lead(
        &self,
        req: Request<pb::ConvertLeadRequest>,
    ) -> Reply<pb::ConvertLeadResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let input = ConvertLead {
            lead_id: required_id("id", &r.id)?,
            contact_id: optional_id("contact_id", &r.contact_id)?.unwrap_or_default(),
            contact_name: r.contact_name,
            company_name: r.company_name,
            owner_id: r.owner_id,
            deal: r
                .deal
                .map(|d| DealDraft::parse(&d.title, d.amount_minor, &d.currency, &d.pipeline_id))
                .transpose()
                .map_err(invalid)?,
        };
        let (lead, contact, company) = self.service.convert_lead(&ctx, input).await?;
        ok(pb::ConvertLeadResponse {
            lead: Some(lead_to_proto(&lead)),
            contact: Some(contact_to_proto(&contact)),
            company: company.as_ref().map(company_to_proto),
        })
    }

    async fn lookup_by_phone(&self, req: Request<pb::LookupByPhoneRequest>) -> Reply<pb::Party> {
        let ctx = Ctx::of(&req);
        match self
            .service
            .lookup_by_phone(&ctx, &req.get_ref().phone)
            .await?
        {
            Some(party) => ok(party_to_proto(&party)),
            None => Err(Status::not_found(
                "no contact or lead has this phone number",
            )),
        }
    }

    async fn resolve(&self, req: Request<pb::ResolveRequest>) -> Reply<pb::ResolveResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let person = convert::person_from_proto(r, self.service.region()).map_err(invalid)?;
        let resolved = self.service.resolve_person(&ctx, person).await?;
        ok(convert::resolved_to_proto(resolved))
    }
}
