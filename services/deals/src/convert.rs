//! Conversions between the deals records and the `ringside.deals.v1` messages.
//! Requests are validated on the way in: ids bounded, enums known, money and dates
//! well-formed, free text bounded.

use ringside_identity::fields::{
    amount, currency, id, optional_id, parse_custom_fields, parse_tags,
};
use ringside_identity::{Invalid, MAX_ITEMS, optional_text, required_text};
use ringside_proto::contacts::v1::LeadSource;
use ringside_proto::deals::v1 as pb;
use ringside_proto::timestamp_from_millis as ts;

use crate::model::{
    ContactRole, Ctx, Deal, DealContact, DealPatch, Filter, NewDeal, Pipeline, Sort, SortField,
    Stage, StageKind, StagePatch, StageSpec, Stay, format_day, parse_optional_day,
};

pub fn stage_kind_to_proto(kind: StageKind) -> pb::StageKind {
    match kind {
        StageKind::Open => pb::StageKind::Open,
        StageKind::Won => pb::StageKind::Won,
        StageKind::Lost => pb::StageKind::Lost,
    }
}

fn stage_kind_from_proto(field: &str, raw: i32) -> Result<Option<StageKind>, Invalid> {
    match pb::StageKind::try_from(raw) {
        Ok(pb::StageKind::Unspecified) => Ok(None),
        Ok(pb::StageKind::Open) => Ok(Some(StageKind::Open)),
        Ok(pb::StageKind::Won) => Ok(Some(StageKind::Won)),
        Ok(pb::StageKind::Lost) => Ok(Some(StageKind::Lost)),
        Err(_) => Err(Invalid::new(field, "unknown value")),
    }
}

fn status_to_proto(kind: StageKind) -> pb::DealStatus {
    match kind {
        StageKind::Open => pb::DealStatus::Open,
        StageKind::Won => pb::DealStatus::Won,
        StageKind::Lost => pb::DealStatus::Lost,
    }
}

fn status_from_proto(raw: i32) -> Result<Option<StageKind>, Invalid> {
    match pb::DealStatus::try_from(raw) {
        Ok(pb::DealStatus::Unspecified) => Ok(None),
        Ok(pb::DealStatus::Open) => Ok(Some(StageKind::Open)),
        Ok(pb::DealStatus::Won) => Ok(Some(StageKind::Won)),
        Ok(pb::DealStatus::Lost) => Ok(Some(StageKind::Lost)),
        Err(_) => Err(Invalid::new("filter.status", "unknown value")),
    }
}

/// `None` for "not given"; `Some(true)` refuse, `Some(false)` warn.
fn wip_rule_from_proto(raw: i32) -> Result<Option<bool>, Invalid> {
    match pb::WipRule::try_from(raw) {
        Ok(pb::WipRule::Unspecified) => Ok(None),
        Ok(pb::WipRule::Warn) => Ok(Some(false)),
        Ok(pb::WipRule::Refuse) => Ok(Some(true)),
        Err(_) => Err(Invalid::new("wip_rule", "unknown value")),
    }
}

pub fn stage_to_proto(s: &Stage) -> pb::Stage {
    pb::Stage {
        id: s.id.clone(),
        pipeline_id: s.pipeline_id.clone(),
        name: s.name.clone(),
        position: s.position as i32,
        kind: stage_kind_to_proto(s.kind) as i32,
        probability: s.probability as i32,
        wip_limit: s.wip_limit as i32,
        wip_rule: match s.wip_refuse {
            true => pb::WipRule::Refuse,
            false => pb::WipRule::Warn,
        } as i32,
        guidance: s.guidance.clone(),
    }
}

pub fn pipeline_to_proto(p: &Pipeline) -> pb::Pipeline {
    pb::Pipeline {
        id: p.id.clone(),
        name: p.name.clone(),
        is_default: p.is_default,
        stages: p.stages.iter().map(stage_to_proto).collect(),
        created_at: Some(ts(p.created_at)),
    }
}

pub fn stage_specs_from_proto(specs: &[pb::StageSpec]) -> Result<Vec<StageSpec>, Invalid> {
    specs.iter().map(stage_spec_from_proto).collect()
}

pub fn stage_spec_from_proto(s: &pb::StageSpec) -> Result<StageSpec, Invalid> {
    Ok(StageSpec {
        name: s.name.clone(),
        kind: stage_kind_from_proto("stages.kind", s.kind)?.unwrap_or(StageKind::Open),
        probability: i64::from(s.probability),
        wip_limit: i64::from(s.wip_limit),
        wip_refuse: wip_rule_from_proto(s.wip_rule)?.unwrap_or(false),
        guidance: s.guidance.clone(),
    })
}

pub fn stage_patch_from_proto(r: &pb::UpdateStageRequest) -> Result<StagePatch, Invalid> {
    Ok(StagePatch {
        name: r.name.clone(),
        probability: r.probability.map(i64::from),
        wip_limit: r.wip_limit.map(i64::from),
        wip_refuse: wip_rule_from_proto(r.wip_rule)?,
        guidance: r.guidance.clone(),
    })
}

fn role_to_proto(role: ContactRole) -> pb::ContactRole {
    match role {
        ContactRole::DecisionMaker => pb::ContactRole::DecisionMaker,
        ContactRole::EconomicBuyer => pb::ContactRole::EconomicBuyer,
        ContactRole::Influencer => pb::ContactRole::Influencer,
        ContactRole::User => pb::ContactRole::User,
        ContactRole::Other => pb::ContactRole::Other,
    }
}

fn contacts_from_proto(contacts: &[pb::DealContact]) -> Result<Vec<DealContact>, Invalid> {
    if contacts.len() > MAX_ITEMS {
        return Err(Invalid::new("contacts", format!("more than {MAX_ITEMS}")));
    }
    let mut out: Vec<DealContact> = Vec::with_capacity(contacts.len());
    for c in contacts {
        let role = match pb::ContactRole::try_from(c.role) {
            Ok(pb::ContactRole::Unspecified) => ContactRole::Other,
            Ok(pb::ContactRole::DecisionMaker) => ContactRole::DecisionMaker,
            Ok(pb::ContactRole::EconomicBuyer) => ContactRole::EconomicBuyer,
            Ok(pb::ContactRole::Influencer) => ContactRole::Influencer,
            Ok(pb::ContactRole::User) => ContactRole::User,
            Ok(pb::ContactRole::Other) => ContactRole::Other,
            Err(_) => return Err(Invalid::new("contacts.role", "unknown role")),
        };
        let contact_id = id("contacts.contact_id", &c.contact_id)?;
        if out.iter().any(|o| o.contact_id == contact_id) {
            return Err(Invalid::new("contacts", "a contact is listed twice"));
        }
        out.push(DealContact { contact_id, role });
    }
    Ok(out)
}

/// Contacts' ids to take off a deal: each an id, at most [`MAX_ITEMS`].
fn contact_ids(ids: &[String]) -> Result<Vec<String>, Invalid> {
    if ids.len() > MAX_ITEMS {
        return Err(Invalid::new(
            "remove_contact_ids",
            format!("more than {MAX_ITEMS}"),
        ));
    }
    ids.iter().map(|i| id("remove_contact_ids", i)).collect()
}

pub fn deal_to_proto(d: &Deal) -> pb::Deal {
    pb::Deal {
        id: d.id.clone(),
        title: d.title.clone(),
        pipeline_id: d.pipeline_id.clone(),
        stage_id: d.stage_id.clone(),
        stage_name: d.stage_name.clone(),
        status: status_to_proto(d.status) as i32,
        amount_minor: d.amount_minor,
        currency: d.currency.clone(),
        owner_id: d.owner_id.clone(),
        team_id: d.team_id.clone(),
        company_id: d.company_id.clone().unwrap_or_default(),
        contacts: d
            .contacts
            .iter()
            .map(|c| pb::DealContact {
                contact_id: c.contact_id.clone(),
                role: role_to_proto(c.role) as i32,
            })
            .collect(),
        expected_close: d.close_day.map(format_day).unwrap_or_default(),
        source: Some(LeadSource {
            channel: d.source_channel.clone(),
            campaign: d.source_campaign.clone(),
        }),
        tags: d.tags.clone(),
        custom_fields: d.custom_fields.clone().into_iter().collect(),
        lost_reason: d.lost_reason.clone(),
        lead_id: d.lead_id.clone().unwrap_or_default(),
        next_action: d.next_action.as_ref().map(|n| pb::NextAction {
            task_id: n.task_id.clone(),
            title: n.title.clone(),
            due_at: Some(ts(n.due_at)),
        }),
        created_at: Some(ts(d.created_at)),
        updated_at: Some(ts(d.updated_at)),
        stage_entered_at: Some(ts(d.stage_entered_at)),
        closed_at: d.closed_at.map(ts),
    }
}

pub fn new_deal_from_proto(r: pb::CreateDealRequest) -> Result<NewDeal, Invalid> {
    let source = r.source.unwrap_or_default();
    Ok(NewDeal {
        title: required_text("title", &r.title)?,
        pipeline_id: optional_id("pipeline_id", &r.pipeline_id)?,
        stage_id: optional_id("stage_id", &r.stage_id)?,
        amount_minor: amount("amount_minor", r.amount_minor)?,
        currency: currency("currency", &r.currency)?,
        owner_id: optional_id("owner_id", &r.owner_id)?.unwrap_or_default(),
        team_id: String::new(),
        company_id: optional_id("company_id", &r.company_id)?,
        contacts: contacts_from_proto(&r.contacts)?,
        close_day: parse_optional_day("expected_close", &r.expected_close)?,
        source_channel: optional_text("source.channel", &source.channel)?,
        source_campaign: optional_text("source.campaign", &source.campaign)?,
        tags: parse_tags(&r.tags)?,
        custom_fields: parse_custom_fields(&r.custom_fields)?,
        lead_id: None,
    })
}

pub fn patch_from_proto(r: &pb::UpdateDealRequest) -> Result<DealPatch, Invalid> {
    Ok(DealPatch {
        title: r
            .title
            .as_deref()
            .map(|t| required_text("title", t))
            .transpose()?,
        amount_minor: r
            .amount_minor
            .map(|a| amount("amount_minor", a))
            .transpose()?,
        currency: r
            .currency
            .as_deref()
            .map(|c| currency("currency", c))
            .transpose()?,
        // Empty: back to nobody (the pool), which only managers and admins may do.
        owner_id: r
            .owner_id
            .as_deref()
            .map(|o| optional_id("owner_id", o).map(Option::unwrap_or_default))
            .transpose()?,
        company_id: r
            .company_id
            .as_deref()
            .map(|c| optional_id("company_id", c))
            .transpose()?,
        close_day: r
            .expected_close
            .as_deref()
            .map(|d| parse_optional_day("expected_close", d))
            .transpose()?,
        contacts: match r.replace_contacts {
            true => Some(contacts_from_proto(&r.contacts)?),
            false => None,
        },
        set_contacts: contacts_from_proto(&r.set_contacts)?,
        remove_contacts: contact_ids(&r.remove_contact_ids)?,
        tags: match r.replace_tags {
            true => Some(parse_tags(&r.tags)?),
            false => None,
        },
        custom_fields: match r.replace_custom_fields {
            true => Some(parse_custom_fields(&r.custom_fields)?),
            false => None,
        },
    })
}

pub fn stay_to_proto(s: &Stay) -> pb::StageStay {
    pb::StageStay {
        stage_id: s.stage_id.clone(),
        stage_name: s.stage_name.clone(),
        entered_at: Some(ts(s.entered_at)),
        left_at: s.left_at.map(ts),
        moved_by: s.moved_by.clone(),
    }
}

/// The filter as the service applies it; "me" as owner is the caller.
pub fn filter_from_proto(f: Option<&pb::DealFilter>, ctx: &Ctx) -> Result<Filter, Invalid> {
    let Some(f) = f else {
        return Ok(Filter::default());
    };
    if f.stage_ids.len() > MAX_ITEMS {
        return Err(Invalid::new(
            "filter.stage_ids",
            format!("more than {MAX_ITEMS}"),
        ));
    }
    let owner = match f.owner_id.trim() {
        "me" => Some(ctx.actor.clone()),
        o => optional_id("filter.owner_id", o)?,
    };
    let tag = optional_text("filter.tag", &f.tag)?.to_lowercase();
    let currency = match f.currency.trim() {
        "" => None,
        c => Some(currency("filter.currency", c)?),
    };
    Ok(Filter {
        pipeline_id: optional_id("filter.pipeline_id", &f.pipeline_id)?,
        stage_ids: f
            .stage_ids
            .iter()
            .map(|s| id("filter.stage_ids", s))
            .collect::<Result<_, _>>()?,
        owner_id: owner,
        tag: (!tag.is_empty()).then_some(tag),
        amount_min: f.amount_min,
        amount_max: f.amount_max,
        currency,
        close_from: parse_optional_day("filter.close_from", &f.close_from)?,
        close_to: parse_optional_day("filter.close_to", &f.close_to)?,
        no_next_action: f.no_next_action,
        overdue_close: f.overdue_close,
        no_close_date: f.no_close_date,
        status: status_from_proto(f.status)?,
        company_id: optional_id("filter.company_id", &f.company_id)?,
        contact_id: optional_id("filter.contact_id", &f.contact_id)?,
        query: Some(optional_text("filter.query", &f.query)?.to_lowercase())
            .filter(|q| !q.is_empty()),
    })
}

pub fn sort_from_proto(s: Option<&pb::Sort>) -> Result<Sort, Invalid> {
    let Some(s) = s else {
        return Ok(Sort::default());
    };
    let field = match pb::SortField::try_from(s.field) {
        Ok(pb::SortField::Unspecified | pb::SortField::Created) => SortField::Created,
        Ok(pb::SortField::Updated) => SortField::Updated,
        Ok(pb::SortField::Amount) => SortField::Amount,
        Ok(pb::SortField::ExpectedClose) => SortField::ExpectedClose,
        Err(_) => return Err(Invalid::new("sort.field", "unknown value")),
    };
    Ok(Sort {
        field,
        ascending: s.ascending,
    })
}

/// A saved view's layout must be one the clients know (stored as given).
pub fn check_layout(raw: i32) -> Result<(), Invalid> {
    pb::Layout::try_from(raw)
        .map(|_| ())
        .map_err(|_| Invalid::new("layout", "unknown value"))
}
