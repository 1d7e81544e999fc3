//! Conversions between the domain records and the `ringside.contacts.v1` messages.

use ringside_proto::contacts::v1 as pb;

use crate::domain::{self, Identity, IdentityKind, Invalid, LeadStatus, PhoneRegion};
use crate::model::{Company, Contact, Lead, LeadSource, Party};
use crate::service::{Person, Resolved};

pub use ringside_proto::timestamp_from_millis as timestamp;

pub fn identity_kind_from_proto(kind: i32) -> Result<IdentityKind, Invalid> {
    match pb::IdentityKind::try_from(kind) {
        Ok(pb::IdentityKind::Phone) => Ok(IdentityKind::Phone),
        Ok(pb::IdentityKind::Email) => Ok(IdentityKind::Email),
        Ok(pb::IdentityKind::Telegram) => Ok(IdentityKind::Telegram),
        Ok(pb::IdentityKind::WebVisitor) => Ok(IdentityKind::WebVisitor),
        _ => Err(Invalid::new("identity.kind", "unknown identity kind")),
    }
}

fn identity_kind_to_proto(kind: IdentityKind) -> pb::IdentityKind {
    match kind {
        IdentityKind::Phone => pb::IdentityKind::Phone,
        IdentityKind::Email => pb::IdentityKind::Email,
        IdentityKind::Telegram => pb::IdentityKind::Telegram,
        IdentityKind::WebVisitor => pb::IdentityKind::WebVisitor,
    }
}

pub fn identity_from_proto(
    identity: &pb::Identity,
    region: PhoneRegion,
) -> Result<Identity, Invalid> {
    Identity::parse(
        identity_kind_from_proto(identity.kind)?,
        &identity.value,
        region,
    )
}

pub fn identities_from_proto(
    identities: &[pb::Identity],
    region: PhoneRegion,
) -> Result<Vec<Identity>, Invalid> {
    if identities.len() > domain::MAX_ITEMS {
        return Err(Invalid::new(
            "identities",
            format!("more than {}", domain::MAX_ITEMS),
        ));
    }
    identities
        .iter()
        .map(|i| identity_from_proto(i, region))
        .collect()
}

fn identities_to_proto(identities: &[Identity]) -> Vec<pb::Identity> {
    identities
        .iter()
        .map(|i| pb::Identity {
            kind: identity_kind_to_proto(i.kind) as i32,
            value: i.value.clone(),
        })
        .collect()
}

pub fn lead_status_from_proto(status: i32) -> Result<LeadStatus, Invalid> {
    match pb::LeadStatus::try_from(status) {
        Ok(pb::LeadStatus::New) => Ok(LeadStatus::New),
        Ok(pb::LeadStatus::Working) => Ok(LeadStatus::Working),
        Ok(pb::LeadStatus::Qualified) => Ok(LeadStatus::Qualified),
        Ok(pb::LeadStatus::Disqualified) => Ok(LeadStatus::Disqualified),
        _ => Err(Invalid::new("status", "unknown lead status")),
    }
}

pub fn lead_status_to_proto(status: LeadStatus) -> pb::LeadStatus {
    match status {
        LeadStatus::New => pb::LeadStatus::New,
        LeadStatus::Working => pb::LeadStatus::Working,
        LeadStatus::Qualified => pb::LeadStatus::Qualified,
        LeadStatus::Disqualified => pb::LeadStatus::Disqualified,
    }
}

pub fn source_to_proto(source: &LeadSource) -> pb::LeadSource {
    pb::LeadSource {
        channel: source.channel.clone(),
        campaign: source.campaign.clone(),
    }
}

/// The person a `Resolve` asks about: its identity, then the others it names.
pub fn person_from_proto(r: pb::ResolveRequest, region: PhoneRegion) -> Result<Person, Invalid> {
    let first = r
        .identity
        .as_ref()
        .ok_or_else(|| Invalid::new("identity", "required"))?;
    let identities = std::iter::once(first)
        .chain(&r.also)
        .map(|i| identity_from_proto(i, region))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Person {
        identities,
        name: r.name,
        company_name: r.company_name,
        source: source_from_proto(r.source.as_ref()),
        lookup_only: r.lookup_only,
        claim_also: r.claim_also,
    })
}

pub fn resolved_to_proto(resolved: Resolved) -> pb::ResolveResponse {
    pb::ResolveResponse {
        party: Some(party_to_proto(&resolved.party)),
        created: resolved.created,
        company_name: resolved.company_name,
    }
}

pub fn source_from_proto(source: Option<&pb::LeadSource>) -> LeadSource {
    source
        .map(|s| LeadSource {
            channel: s.channel.clone(),
            campaign: s.campaign.clone(),
        })
        .unwrap_or_default()
}

pub fn company_to_proto(c: &Company) -> pb::Company {
    pb::Company {
        id: c.id.clone(),
        name: c.name.clone(),
        owner_id: c.owner_id.clone(),
        team_id: c.team_id.clone(),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
    }
}

pub fn contact_to_proto(c: &Contact) -> pb::Contact {
    pb::Contact {
        id: c.id.clone(),
        name: c.name.clone(),
        company_id: c.company_id.clone().unwrap_or_default(),
        owner_id: c.owner_id.clone(),
        team_id: c.team_id.clone(),
        tags: c.tags.clone(),
        custom_fields: c.custom_fields.clone().into_iter().collect(),
        identities: identities_to_proto(&c.identities),
        created_at: Some(timestamp(c.created_at)),
        updated_at: Some(timestamp(c.updated_at)),
        deleted_at: c.deleted_at.map(timestamp),
        merged_into: c.merged_into.clone().unwrap_or_default(),
    }
}

pub fn lead_to_proto(l: &Lead) -> pb::Lead {
    pb::Lead {
        id: l.id.clone(),
        name: l.name.clone(),
        company_name: l.company_name.clone(),
        identities: identities_to_proto(&l.identities),
        source: Some(source_to_proto(&l.source)),
        status: lead_status_to_proto(l.status) as i32,
        owner_id: l.owner_id.clone(),
        team_id: l.team_id.clone(),
        disqualify_reason: l.disqualify_reason.clone(),
        contact_id: l.contact_id.clone().unwrap_or_default(),
        created_at: Some(timestamp(l.created_at)),
        updated_at: Some(timestamp(l.updated_at)),
    }
}

pub fn party_to_proto(party: &Party) -> pb::Party {
    pb::Party {
        party: Some(match party {
            Party::Contact(c) => pb::party::Party::Contact(contact_to_proto(c)),
            Party::Lead(l) => pb::party::Party::Lead(lead_to_proto(l)),
        }),
    }
}
