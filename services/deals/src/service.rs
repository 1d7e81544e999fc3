//! The deals service's operations: pipelines and their stages, deals and their moves
//! (with the WIP rule and the stage history), the list and kanban views and saved
//! views. Each write validates its input (links are checked with contacts before any
//! transaction starts), runs in one transaction with its events in the outbox, and
//! wakes the relay after the commit.

use std::sync::Arc;

use ringside_auth::visibility::{Entity, Scope};
use ringside_bus::{EventPayload, outbox};
use ringside_identity::paging::{Cursor, Page, Paged};
use ringside_identity::{Invalid, optional_text, required_text};
use ringside_kit::PeerChannel;
use ringside_kit::scope::Owners;
use ringside_proto::events::v1 as ev;
use ringside_storage::{Db, Tx, new_id, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::convert::{deal_to_proto, stage_kind_to_proto};
use crate::error::{DealsError, Result};
use crate::model::{
    Column, Ctx, Deal, DealPatch, Filter, Move, NewDeal, Pipeline, Sort, Stage, StageKind,
    StagePatch, StageSpec, Stay, changed_contacts, today,
};
use crate::peers::{Contacts, Party};
use crate::store::{self, StoredView};

/// Most stages in one pipeline.
pub const MAX_STAGES: usize = 30;

#[derive(Clone)]
pub struct DealsService {
    pub(crate) db: Db,
    contacts: Contacts,
    /// Who deals can be given to (staff); without it, only to the caller or nobody.
    owners: Option<Owners>,
    outbox: outbox::Writer,
}

impl DealsService {
    /// `relay_wake` is the outbox relay's waker ([`ringside_bus::outbox::Relay::waker`]).
    /// `contacts` reaches the contacts service.
    pub fn new(db: Db, contacts: PeerChannel, relay_wake: Arc<Notify>) -> Self {
        DealsService {
            db,
            contacts: Contacts::new(contacts),
            owners: None,
            outbox: outbox::Writer::new(crate::SOURCE, relay_wake),
        }
    }

    /// Checks owners with staff: a deal goes only to an active user within the
    /// caller's reach, stamped with their team.
    pub fn with_owners(mut self, owners: Owners) -> Self {
        self.owners = Some(owners);
        self
    }

    /// The team a deal given to `owner` by the caller is stamped with, when the
    /// caller may give it to them.
    async fn stamp(&self, ctx: &Ctx, owner: &str) -> Result<String> {
        let scope = ctx.scope(Entity::Deal);
        Ok(ringside_kit::scope::stamp(self.owners.as_ref(), &scope, owner).await?)
    }

    /// The deal `id` if the caller sees it; one they do not see is not found.
    async fn visible(
        &self,
        conn: &mut AnyConnection,
        ctx: &Ctx,
        id: &str,
        lock: bool,
    ) -> Result<Deal> {
        let deal = store::get_deal(conn, self.db.backend(), id, lock).await?;
        match ctx.scope(Entity::Deal).sees(&deal.owner_id, &deal.team_id) {
            true => Ok(deal),
            false => Err(DealsError::not_found("deal", id)),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) async fn emit(&self, tx: &mut Tx, ctx: &Ctx, payload: EventPayload) -> Result<()> {
        self.outbox.emit(tx, &ctx.correlation_id, payload).await?;
        Ok(())
    }

    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        Ok(self.outbox.commit(tx).await?)
    }

    // ------------------------------------------------------------ pipelines

    /// Creates the default sales pipeline unless one exists (once, however many
    /// replicas start together).
    pub async fn ensure_default_pipeline(&self) -> Result<Pipeline> {
        let mut conn = self.db.pool().acquire().await?;
        if let Some(p) = store::default_pipeline(&mut conn).await? {
            return Ok(p);
        }
        drop(conn);
        let specs = [
            (
                "New",
                10,
                "Reach the client within a day and learn what they need.",
            ),
            (
                "Qualified",
                25,
                "Budget, decision maker and timing are known.",
            ),
            (
                "Proposal",
                50,
                "A written offer went out; agree on the next call.",
            ),
            (
                "Negotiation",
                75,
                "Terms are discussed with the decision maker.",
            ),
        ]
        .map(|(name, probability, guidance)| StageSpec {
            name: name.to_owned(),
            kind: StageKind::Open,
            probability,
            wip_limit: 0,
            wip_refuse: false,
            guidance: guidance.to_owned(),
        });
        let pipeline = build_pipeline("Sales", specs.to_vec(), true)?;
        let mut tx = self.db.begin().await?;
        store::insert_pipeline(&mut tx, &pipeline).await?;
        tx.commit().await?;
        let mut conn = self.db.pool().acquire().await?;
        store::default_pipeline(&mut conn)
            .await?
            .ok_or_else(|| DealsError::precondition("no default pipeline after creating it"))
    }

    /// Keeps the search's lower-cased titles for deals written before there were any
    /// (once after the upgrade; a no-op afterwards), in batches.
    pub async fn fill_title_lower(&self) -> Result<()> {
        let mut after = String::new();
        loop {
            let mut tx = self.db.begin().await?;
            let last = store::fill_title_lower(&mut tx, &after, 500).await?;
            tx.commit().await?;
            match last {
                Some(id) => after = id,
                None => return Ok(()),
            }
        }
    }

    pub async fn create_pipeline(&self, name: &str, specs: Vec<StageSpec>) -> Result<Pipeline> {
        let pipeline = build_pipeline(name, specs, false)?;
        let mut tx = self.db.begin().await?;
        store::insert_pipeline(&mut tx, &pipeline).await?;
        tx.commit().await?;
        Ok(pipeline)
    }

    pub async fn pipelines(&self) -> Result<Vec<Pipeline>> {
        let mut conn = self.db.pool().acquire().await?;
        store::pipelines(&mut conn).await
    }

    pub async fn pipeline(&self, id: Option<&str>) -> Result<Pipeline> {
        let mut conn = self.db.pool().acquire().await?;
        pipeline_or_default(&mut conn, id).await
    }

    /// A pipeline's new name.
    pub async fn rename_pipeline(&self, id: &str, name: &str) -> Result<Pipeline> {
        let name = required_text("name", name)?;
        let mut tx = self.db.begin().await?;
        if !store::rename_pipeline(&mut tx, id, &name).await? {
            return Err(DealsError::not_found("pipeline", id));
        }
        let pipeline = pipeline_or_default(&mut tx, Some(id)).await?;
        tx.commit().await?;
        Ok(pipeline)
    }

    /// A new open stage in pipeline `id`, right after its open stage `after` (first
    /// when `None`). The stages from there on move one place down, and so does
    /// every deal's furthest position from there on: a deal that reached a later
    /// stage passed the new one, as when it skips a stage.
    pub async fn add_stage(
        &self,
        id: &str,
        spec: StageSpec,
        after: Option<&str>,
    ) -> Result<Pipeline> {
        let spec = checked_spec(spec)?;
        if spec.kind != StageKind::Open {
            return Err(Invalid::new("stage.kind", "a stage added is an open one").into());
        }
        let mut tx = self.db.begin().await?;
        // Two people adding stages to one pipeline take turns.
        if !store::lock_pipeline(&mut tx, id).await? {
            return Err(DealsError::not_found("pipeline", id));
        }
        let pipeline = pipeline_or_default(&mut tx, Some(id)).await?;
        if pipeline.stages.len() >= MAX_STAGES + 2 {
            return Err(Invalid::new("stages", format!("more than {MAX_STAGES}")).into());
        }
        let at = match after {
            None => 0,
            Some(after) => (pipeline.stages.iter())
                .find(|s| s.id == after && s.kind == StageKind::Open)
                .map(|s| s.position + 1)
                .ok_or_else(|| {
                    Invalid::new("after_stage_id", "not an open stage of the pipeline")
                })?,
        };
        store::make_room(&mut tx, id, at).await?;
        let stage = Stage {
            id: new_id(),
            pipeline_id: id.to_owned(),
            name: spec.name,
            position: at,
            kind: StageKind::Open,
            probability: spec.probability,
            wip_limit: spec.wip_limit,
            wip_refuse: spec.wip_refuse,
            guidance: spec.guidance,
        };
        store::insert_stage(&mut tx, &stage).await?;
        let pipeline = pipeline_or_default(&mut tx, Some(id)).await?;
        tx.commit().await?;
        Ok(pipeline)
    }

    /// The pipeline (the default when `id` is `None`) with its stages' positions
    /// held still until `tx` ends, for a deal's furthest position to be read from
    /// them: a stage being added waits for this, and this for it (PostgreSQL's
    /// shared row lock; SQLite writes one transaction at a time, and refuses a
    /// write whose reads went stale).
    async fn steady_pipeline(&self, tx: &mut Tx, id: Option<&str>) -> Result<Pipeline> {
        let pipeline = pipeline_or_default(tx, id).await?;
        if self.db.backend() != ringside_storage::Backend::Postgres {
            return Ok(pipeline);
        }
        store::share_pipeline(tx, &pipeline.id).await?;
        pipeline_or_default(tx, Some(&pipeline.id)).await
    }

    pub async fn update_stage(&self, id: &str, patch: StagePatch) -> Result<Pipeline> {
        let mut tx = self.db.begin().await?;
        let mut stage = store::stage(&mut tx, id)
            .await?
            .ok_or_else(|| DealsError::not_found("stage", id))?;
        if let Some(name) = patch.name {
            stage.name = required_text("name", &name)?;
        }
        if let Some(p) = patch.probability {
            stage.probability = probability(p)?;
        }
        if let Some(limit) = patch.wip_limit {
            stage.wip_limit = wip_limit(limit)?;
        }
        if let Some(refuse) = patch.wip_refuse {
            stage.wip_refuse = refuse;
        }
        if let Some(guidance) = patch.guidance {
            stage.guidance = optional_text("guidance", &guidance)?;
        }
        store::update_stage(&mut tx, &stage).await?;
        let pipeline = pipeline_or_default(&mut tx, Some(&stage.pipeline_id)).await?;
        tx.commit().await?;
        Ok(pipeline)
    }

    // ------------------------------------------------------------ deals

    /// Opens a deal in an open stage of its pipeline (the first, by default).
    pub async fn create_deal(&self, ctx: &Ctx, mut new: NewDeal) -> Result<(Deal, Vec<String>)> {
        new.team_id = self.stamp(ctx, &new.owner_id).await?;
        self.check_links(ctx, new.company_id.as_deref(), &new.contacts)
            .await?;
        let mut tx = self.db.begin().await?;
        let opened = self.open_in(&mut tx, ctx, new, true).await?;
        self.commit(tx).await?;
        opened.ok_or_else(|| DealsError::precondition("a deal was already opened from this lead"))
    }

    /// Opens `new` inside `tx`; `None` when a deal was already opened from its lead.
    /// With `enforce_wip` off (automatic conversions) a full stage only warns.
    pub(crate) async fn open_in(
        &self,
        tx: &mut Tx,
        ctx: &Ctx,
        new: NewDeal,
        enforce_wip: bool,
    ) -> Result<Option<(Deal, Vec<String>)>> {
        let pipeline = self.steady_pipeline(tx, new.pipeline_id.as_deref()).await?;
        let stage = match &new.stage_id {
            Some(id) => open_stage(&pipeline, id)?,
            None => pipeline
                .open_stages()
                .next()
                .cloned()
                .ok_or_else(|| DealsError::precondition("the pipeline has no open stage"))?,
        };
        let warnings = self.check_wip(tx, &stage, "", enforce_wip).await?;
        let now = now_millis();
        let deal = new_deal(new, &pipeline, &stage, now);
        if !store::insert_deal(tx, &deal).await? {
            return Ok(None);
        }
        store::enter_stage(tx, &deal.id, &stage.id, now, &ctx.actor).await?;
        let created = EventPayload::DealCreated(ev::DealCreated {
            deal: Some(deal_to_proto(&deal)),
        });
        self.emit(tx, ctx, created).await?;
        Ok(Some((deal, warnings)))
    }

    pub async fn get_deal(&self, ctx: &Ctx, id: &str) -> Result<Deal> {
        let mut conn = self.db.pool().acquire().await?;
        self.visible(&mut conn, ctx, id, false).await
    }

    pub async fn update_deal(&self, ctx: &Ctx, id: &str, patch: DealPatch) -> Result<Deal> {
        // A deal the caller does not see is not found, before anything else is said.
        let current = self.get_deal(ctx, id).await?;
        // Only new links are checked: one already there stays, seen or not.
        let company = patch
            .company_id
            .clone()
            .flatten()
            .filter(|c| current.company_id.as_ref() != Some(c));
        let contacts: Vec<_> = (patch.contacts.clone().unwrap_or_default().into_iter())
            .chain(patch.set_contacts.iter().cloned())
            .filter(|c| {
                !current
                    .contacts
                    .iter()
                    .any(|k| k.contact_id == c.contact_id)
            })
            .collect();
        self.check_links(ctx, company.as_deref(), &contacts).await?;
        let team = match &patch.owner_id {
            Some(owner) => Some(self.stamp(ctx, owner).await?),
            None => None,
        };
        let mut tx = self.db.begin().await?;
        let mut deal = self.visible(&mut tx, ctx, id, true).await?;
        let relink = patch.relinks();
        let retag = patch.tags.is_some();
        apply_patch(&mut deal, patch);
        if deal.contacts.len() > ringside_identity::MAX_ITEMS {
            let why = "more contacts than one deal keeps";
            return Err(ringside_identity::Invalid::new("set_contacts", why).into());
        }
        if let Some(team) = team {
            deal.team_id = team;
        }
        deal.updated_at = now_millis();
        store::update_deal(&mut tx, &deal).await?;
        if retag {
            store::replace_tags(&mut tx, &deal.id, &deal.tags).await?;
        }
        if relink {
            store::replace_contacts(&mut tx, &deal.id, &deal.contacts).await?;
        }
        let updated = EventPayload::DealUpdated(ev::DealUpdated {
            deal: Some(deal_to_proto(&deal)),
        });
        self.emit(&mut tx, ctx, updated).await?;
        self.commit(tx).await?;
        Ok(deal)
    }

    /// Moves a deal to another open stage, wins, loses or reopens it. Moving into the
    /// stage it is in changes nothing.
    pub async fn move_deal(&self, ctx: &Ctx, id: &str, to: Move) -> Result<(Deal, Vec<String>)> {
        let mut tx = self.db.begin().await?;
        let mut deal = self.visible(&mut tx, ctx, id, true).await?;
        let pipeline = self
            .steady_pipeline(&mut tx, Some(&deal.pipeline_id))
            .await?;
        let target = target_stage(&mut tx, &deal, &pipeline, &to).await?;
        if target.id == deal.stage_id {
            return Ok((deal, Vec::new()));
        }
        let warnings = self.check_wip(&mut tx, &target, &deal.id, true).await?;
        let from = pipeline.stage(&deal.stage_id).cloned();
        let now = now_millis();
        deal.stage_id = target.id.clone();
        deal.stage_name = target.name.clone();
        deal.status = target.kind;
        deal.stage_entered_at = now;
        deal.updated_at = now;
        deal.closed_at = (target.kind != StageKind::Open).then_some(now);
        if target.kind == StageKind::Open {
            deal.reached_position = deal.reached_position.max(target.position);
        }
        deal.lost_reason = match to {
            Move::Lose(reason) => reason,
            _ => String::new(),
        };
        store::update_deal(&mut tx, &deal).await?;
        store::enter_stage(&mut tx, &deal.id, &target.id, now, &ctx.actor).await?;
        let changed = stage_changed(&deal, from.as_ref(), &target, &ctx.actor);
        self.emit(&mut tx, ctx, changed).await?;
        self.commit(tx).await?;
        Ok((deal, warnings))
    }

    /// The deal's stays, oldest first. Every deal has at least the stay it was opened
    /// in, so none means no such deal.
    pub async fn history(&self, ctx: &Ctx, id: &str) -> Result<Vec<Stay>> {
        let mut conn = self.db.pool().acquire().await?;
        self.visible(&mut conn, ctx, id, false).await?;
        store::stays(&mut conn, id).await
    }

    /// Warnings for a move into `stage` past its WIP limit, or the refusal.
    async fn check_wip(
        &self,
        tx: &mut Tx,
        stage: &Stage,
        deal_id: &str,
        enforce: bool,
    ) -> Result<Vec<String>> {
        if stage.kind != StageKind::Open || stage.wip_limit == 0 {
            return Ok(Vec::new());
        }
        let others = store::occupancy(tx, self.db.backend(), &stage.id, deal_id).await?;
        if others < stage.wip_limit {
            return Ok(Vec::new());
        }
        let message = format!(
            "stage {:?} {} of {} deals",
            stage.name,
            ringside_proto::deals::WIP_REFUSED,
            stage.wip_limit
        );
        match enforce && stage.wip_refuse {
            true => Err(DealsError::FailedPrecondition(message)),
            false => Ok(vec![message]),
        }
    }

    /// Checks, before any transaction, that a linked company and contacts exist and
    /// that the caller sees them (one they do not see is as missing).
    async fn check_links(
        &self,
        ctx: &Ctx,
        company: Option<&str>,
        contacts: &[crate::model::DealContact],
    ) -> Result<()> {
        let links = company
            .map(|id| (Party::Company, "company_id", id))
            .into_iter()
            .chain(
                contacts
                    .iter()
                    .map(|c| (Party::Contact, "contacts", c.contact_id.as_str())),
            );
        for (party, field, id) in links {
            let entity = match party {
                Party::Company => Entity::Company,
                Party::Contact => Entity::Contact,
            };
            let seen = match self.contacts.standing(party, id).await? {
                Some((owner, team)) => ctx.scope(entity).sees(&owner, &team),
                None => false,
            };
            if !seen {
                return Err(Invalid::new(field, format!("no such {party:?}: {id}")).into());
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ views

    /// A page of deals matching `filter`, and how many match in all.
    pub async fn list(
        &self,
        ctx: &Ctx,
        filter: &Filter,
        sort: Sort,
        page: Page,
    ) -> Result<(Paged<Deal>, i64)> {
        let scope = ctx.scope(Entity::Deal);
        let w = store::filter_where(filter, &scope, today());
        let mut conn = self.db.pool().acquire().await?;
        let total = store::count_where(&mut conn, &w).await?;
        let items = store::deals_where(&mut conn, w, sort, &page, &scope).await?;
        Ok((paged(items, sort, page.size), total))
    }

    /// The kanban of a pipeline: every stage (or those the filter names) with its
    /// count, sums and first page of cards.
    pub async fn kanban(
        &self,
        ctx: &Ctx,
        filter: &Filter,
        sort: Sort,
        size: i64,
    ) -> Result<(Pipeline, Vec<Column>)> {
        let scope = ctx.scope(Entity::Deal);
        let mut conn = self.db.pool().acquire().await?;
        let pipeline = pipeline_or_default(&mut conn, filter.pipeline_id.as_deref()).await?;
        let filter = Filter {
            pipeline_id: Some(pipeline.id.clone()),
            ..filter.clone()
        };
        let sums = store::sums(&mut conn, &filter, &scope, today()).await?;
        let mut columns = Vec::new();
        for stage in &pipeline.stages {
            if filter.stage_ids.is_empty() || filter.stage_ids.contains(&stage.id) {
                let page = Page { size, after: None };
                let column =
                    column_in(&mut conn, &filter, &scope, sort, stage, page, &sums).await?;
                columns.push(column);
            }
        }
        Ok((pipeline, columns))
    }

    /// One kanban column, from a cursor.
    pub async fn column(
        &self,
        ctx: &Ctx,
        filter: &Filter,
        sort: Sort,
        stage_id: &str,
        page: Page,
    ) -> Result<Column> {
        let mut conn = self.db.pool().acquire().await?;
        let stage = store::stage(&mut conn, stage_id)
            .await?
            .ok_or_else(|| DealsError::not_found("stage", stage_id))?;
        let filter = Filter {
            pipeline_id: Some(stage.pipeline_id.clone()),
            stage_ids: vec![stage.id.clone()],
            ..filter.clone()
        };
        let scope = ctx.scope(Entity::Deal);
        let sums = store::sums(&mut conn, &filter, &scope, today()).await?;
        column_in(&mut conn, &filter, &scope, sort, &stage, page, &sums).await
    }

    /// Saves a view (a new one without `id`); only its owner may replace it, and a
    /// person shares it only with a team of theirs.
    pub async fn save_view(
        &self,
        ctx: &Ctx,
        id: Option<&str>,
        name: &str,
        team: &str,
        query: Vec<u8>,
    ) -> Result<StoredView> {
        let team = optional_text("team", team)?;
        if ctx.role.is_some() && !team.is_empty() && !ctx.teams.contains(&team) {
            return Err(DealsError::PermissionDenied(
                "a view is shared only with a team of one's own".into(),
            ));
        }
        let view = StoredView {
            id: id.map_or_else(new_id, str::to_owned),
            owner_id: ctx.actor.clone(),
            team,
            name: required_text("name", name)?,
            query,
            updated_at: now_millis(),
        };
        let mut tx = self.db.begin().await?;
        if let Some(id) = id {
            owned_view(&mut tx, ctx, id).await?;
        }
        store::upsert_view(&mut tx, &view).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The caller's own views and those shared with their teams (`team`: with that
    /// one of them only). A person never lists another team's views by naming it.
    pub async fn views(&self, ctx: &Ctx, team: &str) -> Result<Vec<StoredView>> {
        let team = team.trim();
        let teams: Vec<String> = match (ctx.role.is_some(), team) {
            (true, "") => ctx.teams.clone(),
            (true, t) => ctx.teams.iter().filter(|m| *m == t).cloned().collect(),
            (false, "") => Vec::new(),
            (false, t) => vec![t.to_owned()],
        };
        let mut conn = self.db.pool().acquire().await?;
        store::views(&mut conn, &ctx.actor, &teams).await
    }

    pub async fn delete_view(&self, ctx: &Ctx, id: &str) -> Result<()> {
        let mut tx = self.db.begin().await?;
        owned_view(&mut tx, ctx, id).await?;
        store::delete_view(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The page of `items` (fetched with a look-ahead row) and its cursor.
pub(crate) fn paged(items: Vec<Deal>, sort: Sort, size: i64) -> Paged<Deal> {
    Paged::from_lookahead(items, size, |d| Cursor {
        at: sort.key(d),
        id: d.id.clone(),
    })
}

async fn owned_view(conn: &mut AnyConnection, ctx: &Ctx, id: &str) -> Result<StoredView> {
    let view = store::get_view(conn, id)
        .await?
        .ok_or_else(|| DealsError::not_found("view", id))?;
    if view.owner_id != ctx.actor {
        return Err(DealsError::PermissionDenied(
            "only the view's owner may change it".into(),
        ));
    }
    Ok(view)
}

async fn column_in(
    conn: &mut AnyConnection,
    filter: &Filter,
    scope: &Scope,
    sort: Sort,
    stage: &Stage,
    page: Page,
    sums: &[(String, String, i64, i64)],
) -> Result<Column> {
    let filter = Filter {
        stage_ids: vec![stage.id.clone()],
        ..filter.clone()
    };
    let items = store::deals_where(
        conn,
        store::filter_where(&filter, scope, today()),
        sort,
        &page,
        scope,
    )
    .await?;
    let mine = sums.iter().filter(|(s, ..)| *s == stage.id);
    let count = mine.clone().map(|(_, _, n, _)| n).sum();
    let sums = mine.map(|(_, c, _, total)| (c.clone(), *total)).collect();
    // The limit is about the whole stage, not the deals a filter picks.
    let over_wip_limit = stage.wip_limit > 0 && {
        let mut w = ringside_storage::sql::Where::default();
        w.push("d.stage_id = {}", stage.id.as_str());
        store::count_where(conn, &w).await? > stage.wip_limit
    };
    Ok(Column {
        stage: stage.clone(),
        count,
        sums,
        deals: paged(items, sort, page.size),
        over_wip_limit,
    })
}

/// A pipeline by id, or the default one.
pub(crate) async fn pipeline_or_default(
    conn: &mut AnyConnection,
    id: Option<&str>,
) -> Result<Pipeline> {
    match id {
        Some(id) => store::pipeline(conn, id)
            .await?
            .ok_or_else(|| DealsError::not_found("pipeline", id)),
        None => store::default_pipeline(conn)
            .await?
            .ok_or_else(|| DealsError::precondition("no default pipeline yet")),
    }
}

fn probability(p: i64) -> Result<i64, Invalid> {
    match p {
        0..=100 => Ok(p),
        _ => Err(Invalid::new("probability", "must be between 0 and 100")),
    }
}

fn wip_limit(limit: i64) -> Result<i64, Invalid> {
    match limit {
        l if l < 0 => Err(Invalid::new("wip_limit", "must not be negative")),
        l => Ok(l),
    }
}

/// A stage's settings, checked: a name, a probability of 0–100, a WIP limit that
/// is one, guidance that fits.
fn checked_spec(spec: StageSpec) -> Result<StageSpec, Invalid> {
    Ok(StageSpec {
        name: required_text("stages.name", &spec.name)?,
        probability: probability(spec.probability)?,
        wip_limit: wip_limit(spec.wip_limit)?,
        guidance: optional_text("stages.guidance", &spec.guidance)?,
        ..spec
    })
}

/// A new pipeline from its specs: open stages in the order given, then the won and
/// the lost stage (added when not given).
fn build_pipeline(
    name: &str,
    specs: Vec<StageSpec>,
    is_default: bool,
) -> Result<Pipeline, Invalid> {
    let name = required_text("name", name)?;
    if specs.len() > MAX_STAGES {
        return Err(Invalid::new("stages", format!("more than {MAX_STAGES}")));
    }
    let mut open = Vec::new();
    let (mut won, mut lost) = (None, None);
    for spec in specs {
        let spec = checked_spec(spec)?;
        let slot = match spec.kind {
            StageKind::Open => {
                open.push(spec);
                continue;
            }
            StageKind::Won => &mut won,
            StageKind::Lost => &mut lost,
        };
        if slot.replace(spec).is_some() {
            return Err(Invalid::new("stages", "at most one won and one lost stage"));
        }
    }
    if open.is_empty() {
        return Err(Invalid::new(
            "stages",
            "at least one open stage is required",
        ));
    }
    let closing = |kind, name: &str, probability| StageSpec {
        name: name.to_owned(),
        kind,
        probability,
        wip_limit: 0,
        wip_refuse: false,
        guidance: String::new(),
    };
    open.push(won.unwrap_or_else(|| closing(StageKind::Won, "Won", 100)));
    open.push(lost.unwrap_or_else(|| closing(StageKind::Lost, "Lost", 0)));
    let id = new_id();
    let stages = open
        .into_iter()
        .enumerate()
        .map(|(i, s)| Stage {
            id: new_id(),
            pipeline_id: id.clone(),
            name: s.name,
            position: i as i64,
            kind: s.kind,
            probability: s.probability,
            wip_limit: s.wip_limit,
            wip_refuse: s.wip_refuse,
            guidance: s.guidance,
        })
        .collect();
    Ok(Pipeline {
        id,
        name,
        is_default,
        stages,
        created_at: now_millis(),
    })
}

/// An open stage of `pipeline`, or why not.
fn open_stage(pipeline: &Pipeline, id: &str) -> Result<Stage, Invalid> {
    let stage = pipeline
        .stage(id)
        .ok_or_else(|| Invalid::new("stage_id", "not a stage of the deal's pipeline"))?;
    if stage.kind != StageKind::Open {
        return Err(Invalid::new(
            "stage_id",
            "a won or lost stage: use WinDeal or LoseDeal",
        ));
    }
    Ok(stage.clone())
}

/// Where `to` takes `deal`: only an open deal moves, wins or loses; only a closed
/// one reopens (by default into the last open stage it was in).
async fn target_stage(
    conn: &mut AnyConnection,
    deal: &Deal,
    pipeline: &Pipeline,
    to: &Move,
) -> Result<Stage> {
    let open = deal.status == StageKind::Open;
    if open == matches!(to, Move::Reopen(_)) {
        return Err(DealsError::FailedPrecondition(match open {
            true => format!("deal {} is open; only a won or lost deal reopens", deal.id),
            false => format!(
                "deal {} is {}; reopen it first",
                deal.id,
                deal.status.as_str()
            ),
        }));
    }
    let closing = |kind| {
        pipeline
            .closing_stage(kind)
            .cloned()
            .ok_or_else(|| DealsError::precondition("the pipeline has no won or lost stage"))
    };
    match to {
        Move::To(id) | Move::Reopen(Some(id)) => Ok(open_stage(pipeline, id)?),
        Move::Win => closing(StageKind::Won),
        Move::Lose(_) => closing(StageKind::Lost),
        Move::Reopen(None) => {
            let stays = store::stays(conn, &deal.id).await?;
            let last = stays
                .iter()
                .rev()
                .find_map(|s| open_stage(pipeline, &s.stage_id).ok());
            last.or_else(|| pipeline.open_stages().next().cloned())
                .ok_or_else(|| DealsError::precondition("the pipeline has no open stage"))
        }
    }
}

fn new_deal(new: NewDeal, pipeline: &Pipeline, stage: &Stage, now: i64) -> Deal {
    Deal {
        id: new_id(),
        title: new.title,
        pipeline_id: pipeline.id.clone(),
        stage_id: stage.id.clone(),
        stage_name: stage.name.clone(),
        status: StageKind::Open,
        amount_minor: new.amount_minor,
        currency: new.currency,
        owner_id: new.owner_id,
        team_id: new.team_id,
        company_id: new.company_id,
        contacts: new.contacts,
        close_day: new.close_day,
        source_channel: new.source_channel,
        source_campaign: new.source_campaign,
        tags: new.tags,
        custom_fields: new.custom_fields,
        lost_reason: String::new(),
        lead_id: new.lead_id,
        next_action: None,
        created_at: now,
        updated_at: now,
        stage_entered_at: now,
        closed_at: None,
        reached_position: stage.position,
    }
}

fn apply_patch(deal: &mut Deal, patch: DealPatch) {
    let DealPatch {
        title,
        amount_minor,
        currency,
        owner_id,
        company_id,
        close_day,
        contacts,
        set_contacts,
        remove_contacts,
        tags,
        custom_fields,
    } = patch;
    deal.title = title.unwrap_or(std::mem::take(&mut deal.title));
    deal.amount_minor = amount_minor.unwrap_or(deal.amount_minor);
    deal.currency = currency.unwrap_or(std::mem::take(&mut deal.currency));
    deal.owner_id = owner_id.unwrap_or(std::mem::take(&mut deal.owner_id));
    deal.company_id = company_id.unwrap_or(deal.company_id.take());
    deal.close_day = close_day.unwrap_or(deal.close_day);
    let contacts = contacts.unwrap_or(std::mem::take(&mut deal.contacts));
    deal.contacts = changed_contacts(contacts, set_contacts, &remove_contacts);
    deal.tags = tags.unwrap_or(std::mem::take(&mut deal.tags));
    deal.custom_fields = custom_fields.unwrap_or(std::mem::take(&mut deal.custom_fields));
}

fn stage_changed(deal: &Deal, from: Option<&Stage>, to: &Stage, by: &str) -> EventPayload {
    EventPayload::DealStageChanged(ev::DealStageChanged {
        deal_id: deal.id.clone(),
        title: deal.title.clone(),
        pipeline_id: deal.pipeline_id.clone(),
        from_stage_id: from.map(|s| s.id.clone()).unwrap_or_default(),
        from_stage: from.map(|s| s.name.clone()).unwrap_or_default(),
        to_stage_id: to.id.clone(),
        to_stage: to.name.clone(),
        changed_by: by.to_owned(),
        owner_id: deal.owner_id.clone(),
        company_id: deal.company_id.clone().unwrap_or_default(),
        contact_ids: deal.contacts.iter().map(|c| c.contact_id.clone()).collect(),
        to_kind: stage_kind_to_proto(to.kind) as i32,
        lost_reason: deal.lost_reason.clone(),
        amount_minor: deal.amount_minor,
        currency: deal.currency.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: StageKind) -> StageSpec {
        StageSpec {
            name: name.into(),
            kind,
            probability: 50,
            wip_limit: 0,
            wip_refuse: false,
            guidance: String::new(),
        }
    }

    #[test]
    fn pipelines_end_with_won_and_lost() {
        let p = build_pipeline(
            "B2B",
            vec![
                spec("Signed", StageKind::Won),
                spec("Call", StageKind::Open),
                spec("Demo", StageKind::Open),
            ],
            false,
        )
        .unwrap();
        let names: Vec<_> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Call", "Demo", "Signed", "Lost"]);
        assert_eq!(p.stages[3].kind, StageKind::Lost);
        assert!(
            p.stages
                .iter()
                .enumerate()
                .all(|(i, s)| s.position == i as i64)
        );
    }

    #[test]
    fn bad_pipelines_are_refused() {
        assert!(build_pipeline("x", vec![spec("Won", StageKind::Won)], false).is_err());
        assert!(build_pipeline("", vec![spec("a", StageKind::Open)], false).is_err());
        let mut bad = spec("a", StageKind::Open);
        bad.probability = 101;
        assert!(build_pipeline("x", vec![bad], false).is_err());
        let two_won = vec![
            spec("a", StageKind::Open),
            spec("w1", StageKind::Won),
            spec("w2", StageKind::Won),
        ];
        assert!(build_pipeline("x", two_won, false).is_err());
    }
}
