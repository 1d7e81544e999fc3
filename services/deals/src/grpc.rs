//! The `ringside.deals.v1.Deals` gRPC service: requests are checked and turned into
//! domain calls here, results into messages, errors into status codes.

use prost::Message as _;
use ringside_identity::Invalid;
use ringside_identity::paging::Page;
use ringside_kit::grpc::{Reply, invalid, next_token, ok, optional_id, required_id};
use ringside_proto::deals::v1 as pb;
use ringside_proto::deals::v1::deals_server::Deals;
use ringside_proto::{millis_from_timestamp, timestamp_from_millis};
use tonic::{Request, Status};

use crate::convert::{
    self, deal_to_proto, filter_from_proto, pipeline_to_proto, sort_from_proto, stage_to_proto,
};
use crate::error::DealsError;
use crate::model::{Column, Ctx, Deal, Move};
use crate::reports::{Cell, Cohort, Funnel, FunnelStage, Splits, Whose, ratio};
use crate::service::DealsService;
use crate::store::StoredView;

/// Default and largest page sizes.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 500;
/// Default cards per kanban column.
const DEFAULT_COLUMN: i64 = 20;

pub struct DealsGrpc {
    service: DealsService,
}

impl DealsGrpc {
    pub fn new(service: DealsService) -> Self {
        DealsGrpc { service }
    }
}

fn page_of(size: i32, token: &str, default: i64) -> Result<Page, Status> {
    ringside_kit::grpc::page(size, token, default, MAX_PAGE)
}

fn deal_response((deal, warnings): (Deal, Vec<String>)) -> Reply<pb::DealResponse> {
    ok(pb::DealResponse {
        deal: Some(deal_to_proto(&deal)),
        warnings,
    })
}

fn column_to_proto(c: &Column) -> pb::Column {
    pb::Column {
        stage: Some(stage_to_proto(&c.stage)),
        count: c.count,
        sums: c
            .sums
            .iter()
            .map(|(currency, amount)| pb::Money {
                currency: currency.clone(),
                amount_minor: *amount,
            })
            .collect(),
        deals: c.deals.items.iter().map(deal_to_proto).collect(),
        next_page_token: next_token(c.deals.next.clone()),
        over_wip_limit: c.over_wip_limit,
    }
}

/// A saved view from its stored query; a query that no longer decodes is reported.
fn view_to_proto(v: &StoredView) -> Result<pb::View, Status> {
    let query = pb::View::decode(v.query.as_slice()).map_err(DealsError::from)?;
    Ok(pb::View {
        id: v.id.clone(),
        name: v.name.clone(),
        owner_id: v.owner_id.clone(),
        team: v.team.clone(),
        updated_at: Some(timestamp_from_millis(v.updated_at)),
        ..query
    })
}

fn cohort(
    pipeline_id: &str,
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> Result<Cohort, Status> {
    let (Some(from), Some(to)) = (from, to) else {
        return Err(invalid(Invalid::new(
            "from",
            "a period (from, to) is required",
        )));
    };
    let (from, to) = (millis_from_timestamp(from), millis_from_timestamp(to));
    if from >= to {
        return Err(invalid(Invalid::new("to", "must be after from")));
    }
    Ok(Cohort {
        pipeline_id: optional_id("pipeline_id", pipeline_id)?,
        from,
        to,
    })
}

fn funnel_to_proto(f: &Funnel) -> pb::Funnel {
    let stage = |s: &FunnelStage| pb::FunnelStage {
        stage_id: s.stage.id.clone(),
        name: s.stage.name.clone(),
        entered: s.entered,
        moved_on: s.moved_on,
        lost_here: s.lost_here,
        conversion_next: ratio(s.moved_on, s.entered),
        conversion_won: ratio(f.won, s.entered),
        median_seconds: s.median_ms.map(|ms| ms / 1000),
        completed_stays: s.completed_stays,
    };
    pb::Funnel {
        owner_id: f.owner_id.clone().unwrap_or_default(),
        team_id: f.team_id.clone().unwrap_or_default(),
        stages: f.stages.iter().map(stage).collect(),
        deals: f.deals,
        won: f.won,
        lost: f.lost,
        win_rate: f.win_rate(),
    }
}

fn cell_from_proto(raw: i32) -> Result<Cell, Status> {
    Ok(match pb::Cell::try_from(raw) {
        Ok(pb::Cell::Entered) => Cell::Entered,
        Ok(pb::Cell::MovedOn) => Cell::MovedOn,
        Ok(pb::Cell::LostHere) => Cell::LostHere,
        Ok(pb::Cell::Deals) => Cell::Deals,
        Ok(pb::Cell::Won) => Cell::Won,
        Ok(pb::Cell::Lost) => Cell::Lost,
        Ok(pb::Cell::Unspecified) | Err(_) => {
            return Err(invalid(Invalid::new("cell", "which number to drill into")));
        }
    })
}

fn deals_page(
    (paged, total): (ringside_identity::paging::Paged<Deal>, i64),
) -> pb::ListDealsResponse {
    pb::ListDealsResponse {
        deals: paged.items.iter().map(deal_to_proto).collect(),
        next_page_token: next_token(paged.next),
        total,
    }
}

#[tonic::async_trait]
impl Deals for DealsGrpc {
    async fn create_pipeline(
        &self,
        req: Request<pb::CreatePipelineRequest>,
    ) -> Reply<pb::Pipeline> {
        let r = req.into_inner();
        let specs = convert::stage_specs_from_proto(&r.stages).map_err(invalid)?;
        let pipeline = self.service.create_pipeline(&r.name, specs).await?;
        ok(pipeline_to_proto(&pipeline))
    }

    async fn get_pipeline(&self, req: Request<pb::GetPipelineRequest>) -> Reply<pb::Pipeline> {
        let id = optional_id("id", &req.get_ref().id)?;
        ok(pipeline_to_proto(
            &self.service.pipeline(id.as_deref()).await?,
        ))
    }

    async fn list_pipelines(
        &self,
        _req: Request<pb::ListPipelinesRequest>,
    ) -> Reply<pb::ListPipelinesResponse> {
        let pipelines = self.service.pipelines().await?;
        ok(pb::ListPipelinesResponse {
            pipelines: pipelines.iter().map(pipeline_to_proto).collect(),
        })
    }

    async fn rename_pipeline(
        &self,
        req: Request<pb::RenamePipelineRequest>,
    ) -> Reply<pb::Pipeline> {
        let r = req.into_inner();
        let id = required_id("id", &r.id)?;
        ok(pipeline_to_proto(
            &self.service.rename_pipeline(&id, &r.name).await?,
        ))
    }

    async fn update_stage(&self, req: Request<pb::UpdateStageRequest>) -> Reply<pb::Pipeline> {
        let r = req.into_inner();
        let patch = convert::stage_patch_from_proto(&r).map_err(invalid)?;
        let pipeline = self
            .service
            .update_stage(&required_id("stage_id", &r.stage_id)?, patch)
            .await?;
        ok(pipeline_to_proto(&pipeline))
    }

    async fn add_stage(&self, req: Request<pb::AddStageRequest>) -> Reply<pb::Pipeline> {
        let r = req.into_inner();
        let pipeline = required_id("pipeline_id", &r.pipeline_id)?;
        let after = optional_id("after_stage_id", &r.after_stage_id)?;
        let Some(spec) = r.stage else {
            return Err(Status::invalid_argument("stage: required"));
        };
        let spec = convert::stage_spec_from_proto(&spec).map_err(invalid)?;
        let pipeline = (self.service)
            .add_stage(&pipeline, spec, after.as_deref())
            .await?;
        ok(pipeline_to_proto(&pipeline))
    }

    async fn create_deal(&self, req: Request<pb::CreateDealRequest>) -> Reply<pb::DealResponse> {
        let ctx = Ctx::of(&req);
        let mut new = convert::new_deal_from_proto(req.into_inner()).map_err(invalid)?;
        if new.owner_id.is_empty() {
            new.owner_id = ctx.actor.clone();
        }
        deal_response(self.service.create_deal(&ctx, new).await?)
    }

    async fn get_deal(&self, req: Request<pb::GetDealRequest>) -> Reply<pb::Deal> {
        let ctx = Ctx::of(&req);
        let deal = self
            .service
            .get_deal(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(deal_to_proto(&deal))
    }

    async fn update_deal(&self, req: Request<pb::UpdateDealRequest>) -> Reply<pb::Deal> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let patch = convert::patch_from_proto(&r).map_err(invalid)?;
        let deal = self
            .service
            .update_deal(&ctx, &required_id("id", &r.id)?, patch)
            .await?;
        ok(deal_to_proto(&deal))
    }

    async fn move_deal(&self, req: Request<pb::MoveDealRequest>) -> Reply<pb::DealResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let to = Move::To(required_id("stage_id", &r.stage_id)?);
        deal_response(
            self.service
                .move_deal(&ctx, &required_id("id", &r.id)?, to)
                .await?,
        )
    }

    async fn win_deal(&self, req: Request<pb::WinDealRequest>) -> Reply<pb::DealResponse> {
        let ctx = Ctx::of(&req);
        let id = required_id("id", &req.get_ref().id)?;
        deal_response(self.service.move_deal(&ctx, &id, Move::Win).await?)
    }

    async fn lose_deal(&self, req: Request<pb::LoseDealRequest>) -> Reply<pb::DealResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let reason = ringside_identity::required_text("reason", &r.reason).map_err(invalid)?;
        let id = required_id("id", &r.id)?;
        deal_response(
            self.service
                .move_deal(&ctx, &id, Move::Lose(reason))
                .await?,
        )
    }

    async fn reopen_deal(&self, req: Request<pb::ReopenDealRequest>) -> Reply<pb::DealResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let to = Move::Reopen(optional_id("stage_id", &r.stage_id)?);
        deal_response(
            self.service
                .move_deal(&ctx, &required_id("id", &r.id)?, to)
                .await?,
        )
    }

    async fn stage_history(
        &self,
        req: Request<pb::StageHistoryRequest>,
    ) -> Reply<pb::StageHistoryResponse> {
        let ctx = Ctx::of(&req);
        let stays = self
            .service
            .history(&ctx, &required_id("deal_id", &req.get_ref().deal_id)?)
            .await?;
        ok(pb::StageHistoryResponse {
            stays: stays.iter().map(convert::stay_to_proto).collect(),
        })
    }

    async fn list_deals(&self, req: Request<pb::ListDealsRequest>) -> Reply<pb::ListDealsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let filter = filter_from_proto(r.filter.as_ref(), &ctx).map_err(invalid)?;
        let sort = sort_from_proto(r.sort.as_ref()).map_err(invalid)?;
        let page = page_of(r.page_size, &r.page_token, DEFAULT_PAGE)?;
        ok(deals_page(
            self.service.list(&ctx, &filter, sort, page).await?,
        ))
    }

    async fn kanban(&self, req: Request<pb::KanbanRequest>) -> Reply<pb::KanbanResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let filter = filter_from_proto(r.filter.as_ref(), &ctx).map_err(invalid)?;
        let sort = sort_from_proto(r.sort.as_ref()).map_err(invalid)?;
        let size = page_of(r.page_size, "", DEFAULT_COLUMN)?.size;
        let (pipeline, columns) = self.service.kanban(&ctx, &filter, sort, size).await?;
        ok(pb::KanbanResponse {
            pipeline: Some(pipeline_to_proto(&pipeline)),
            columns: columns.iter().map(column_to_proto).collect(),
        })
    }

    async fn kanban_column(&self, req: Request<pb::KanbanColumnRequest>) -> Reply<pb::Column> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let filter = filter_from_proto(r.filter.as_ref(), &ctx).map_err(invalid)?;
        let sort = sort_from_proto(r.sort.as_ref()).map_err(invalid)?;
        let page = page_of(r.page_size, &r.page_token, DEFAULT_COLUMN)?;
        let stage = required_id("stage_id", &r.stage_id)?;
        let column = self
            .service
            .column(&ctx, &filter, sort, &stage, page)
            .await?;
        ok(column_to_proto(&column))
    }

    async fn save_view(&self, req: Request<pb::SaveViewRequest>) -> Reply<pb::View> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        // Checked as it would be applied, stored as given ("me" stays "me").
        filter_from_proto(r.filter.as_ref(), &ctx).map_err(invalid)?;
        sort_from_proto(r.sort.as_ref()).map_err(invalid)?;
        convert::check_layout(r.layout).map_err(invalid)?;
        let query = pb::View {
            layout: r.layout,
            filter: r.filter,
            sort: r.sort,
            ..Default::default()
        };
        let id = optional_id("id", &r.id)?;
        let view = self
            .service
            .save_view(&ctx, id.as_deref(), &r.name, &r.team, query.encode_to_vec())
            .await?;
        ok(view_to_proto(&view)?)
    }

    async fn list_views(&self, req: Request<pb::ListViewsRequest>) -> Reply<pb::ListViewsResponse> {
        let ctx = Ctx::of(&req);
        let team =
            ringside_identity::optional_text("team", &req.get_ref().team).map_err(invalid)?;
        let views = self.service.views(&ctx, &team).await?;
        ok(pb::ListViewsResponse {
            views: views.iter().map(view_to_proto).collect::<Result<_, _>>()?,
        })
    }

    async fn delete_view(
        &self,
        req: Request<pb::DeleteViewRequest>,
    ) -> Reply<pb::DeleteViewResponse> {
        let ctx = Ctx::of(&req);
        self.service
            .delete_view(&ctx, &required_id("id", &req.get_ref().id)?)
            .await?;
        ok(pb::DeleteViewResponse {})
    }

    async fn funnel(&self, req: Request<pb::FunnelRequest>) -> Reply<pb::FunnelReport> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let cohort = cohort(&r.pipeline_id, r.from.as_ref(), r.to.as_ref())?;
        let splits = Splits {
            by_owner: r.by_owner,
            by_team: r.by_team,
        };
        let report = self.service.funnel(&ctx, &cohort, splits).await?;
        ok(pb::FunnelReport {
            pipeline_id: report.pipeline.id.clone(),
            total: Some(funnel_to_proto(&report.total)),
            owners: report.owners.iter().map(funnel_to_proto).collect(),
            teams: report.teams.iter().map(funnel_to_proto).collect(),
        })
    }

    async fn drill_down(&self, req: Request<pb::DrillDownRequest>) -> Reply<pb::ListDealsResponse> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let cohort = cohort(&r.pipeline_id, r.from.as_ref(), r.to.as_ref())?;
        let cell = cell_from_proto(r.cell)?;
        let owner = optional_id("owner_id", &r.owner_id)?;
        let team = optional_id("team_id", &r.team_id)?;
        let stage = optional_id("stage_id", &r.stage_id)?;
        let page = page_of(r.page_size, &r.page_token, DEFAULT_PAGE)?;
        let found = self
            .service
            .drill_down(
                &ctx,
                &cohort,
                Whose {
                    owner_id: owner.as_deref(),
                    team_id: team.as_deref(),
                },
                stage.as_deref(),
                cell,
                page,
            )
            .await?;
        ok(deals_page(found))
    }

    async fn forecast(&self, req: Request<pb::ForecastRequest>) -> Reply<pb::ForecastReport> {
        let ctx = Ctx::of(&req);
        let r = req.into_inner();
        let pipeline = optional_id("pipeline_id", &r.pipeline_id)?;
        let owner = match r.owner_id.trim() {
            "me" => Some(ctx.actor.clone()),
            o => optional_id("owner_id", o)?,
        };
        let rows = self
            .service
            .forecast(&ctx, pipeline.as_deref(), owner.as_deref())
            .await?;
        ok(pb::ForecastReport {
            rows: rows
                .into_iter()
                .map(|r| pb::ForecastRow {
                    month: r.month,
                    currency: r.currency,
                    deals: r.deals,
                    amount_minor: r.amount_minor,
                    weighted_minor: r.weighted_minor,
                })
                .collect(),
        })
    }
}
