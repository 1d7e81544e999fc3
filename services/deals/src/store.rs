//! SQL for the deals service's tables. Every function runs on the connection or
//! transaction it is given, so the service decides what is atomic.

use std::collections::HashMap;

use ringside_auth::visibility::{Reach, Scope};
use ringside_identity::paging::Page;
use ringside_storage::sql::{Where, like_pattern, placeholders};
use ringside_storage::{AssertSqlSafe, Backend, Row, new_id};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{DealsError, Result};
use crate::model::{
    ContactRole, Deal, DealContact, Filter, NextAction, Pipeline, Sort, Stage, StageKind, Stay,
};

fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

fn stored<T>(what: &str, value: Option<T>, raw: &str) -> Result<T> {
    value.ok_or_else(|| DealsError::precondition(format!("stored {what} {raw:?}")))
}

/// ` FOR UPDATE` on PostgreSQL; SQLite's write transactions already hold the lock.
fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}

// ---------------------------------------------------------------- pipelines

const STAGE_COLUMNS: &str =
    "id, pipeline_id, name, position, kind, probability, wip_limit, wip_refuse, guidance";

fn stage_from_row(row: &AnyRow) -> Result<Stage> {
    let kind: String = row.try_get("kind")?;
    Ok(Stage {
        id: row.try_get("id")?,
        pipeline_id: row.try_get("pipeline_id")?,
        name: row.try_get("name")?,
        position: row.try_get("position")?,
        kind: stored("stage kind", StageKind::parse(&kind), &kind)?,
        probability: row.try_get("probability")?,
        wip_limit: row.try_get("wip_limit")?,
        wip_refuse: row.try_get::<i64, _>("wip_refuse")? != 0,
        guidance: row.try_get("guidance")?,
    })
}

/// Inserts `p` and its stages. Returns `false` (and writes nothing) when `p` is a
/// default pipeline and one already exists.
pub async fn insert_pipeline(conn: &mut AnyConnection, p: &Pipeline) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO deal_pipelines (id, name, is_default, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&p.id)
    .bind(&p.name)
    .bind(i64::from(p.is_default))
    .bind(p.created_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for s in &p.stages {
        insert_stage(conn, s).await?;
    }
    Ok(true)
}

pub async fn insert_stage(conn: &mut AnyConnection, s: &Stage) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO deal_stages ({STAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&s.id)
    .bind(&s.pipeline_id)
    .bind(&s.name)
    .bind(s.position)
    .bind(s.kind.as_str())
    .bind(s.probability)
    .bind(s.wip_limit)
    .bind(i64::from(s.wip_refuse))
    .bind(&s.guidance)
    .execute(conn)
    .await?;
    Ok(())
}

/// Holds pipeline `id`'s row until the transaction ends (a write takes the row's
/// lock on PostgreSQL; SQLite writes one transaction at a time); false when there
/// is no such pipeline.
pub async fn lock_pipeline(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE deal_pipelines SET name = name WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Holds pipeline `id`'s row from changing until the transaction ends, letting
/// others read it too (PostgreSQL only).
pub async fn share_pipeline(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("SELECT 1 AS one FROM deal_pipelines WHERE id = $1 FOR SHARE")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(())
}

/// Moves pipeline `id`'s stages from `at` on one place down, and every deal's
/// furthest position from `at` on with them. Positions are unique per pipeline,
/// so the stages pass through negative ones rather than collide on the way.
pub async fn make_room(conn: &mut AnyConnection, id: &str, at: i64) -> Result<()> {
    sqlx::query(
        "UPDATE deal_stages SET position = -position - 1 WHERE pipeline_id = $1 AND position >= $2",
    )
    .bind(id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE deal_stages SET position = -position WHERE pipeline_id = $1 AND position < 0",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE deals SET reached_position = reached_position + 1 \
         WHERE pipeline_id = $1 AND reached_position >= $2",
    )
    .bind(id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Renames pipeline `id`; `false` when there is none.
pub async fn rename_pipeline(conn: &mut AnyConnection, id: &str, name: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE deal_pipelines SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn update_stage(conn: &mut AnyConnection, s: &Stage) -> Result<()> {
    sqlx::query(
        "UPDATE deal_stages SET name = $2, probability = $3, wip_limit = $4, wip_refuse = $5, \
         guidance = $6 WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.name)
    .bind(s.probability)
    .bind(s.wip_limit)
    .bind(i64::from(s.wip_refuse))
    .bind(&s.guidance)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pipelines matching `clause` (over `deal_pipelines p`), with their stages.
async fn pipelines_where(
    conn: &mut AnyConnection,
    clause: &str,
    arg: Option<&str>,
) -> Result<Vec<Pipeline>> {
    let sql = format!(
        "SELECT id, name, is_default, created_at FROM deal_pipelines p WHERE {clause} \
         ORDER BY created_at, id"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if let Some(arg) = arg {
        query = query.bind(arg.to_owned());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut pipelines = Vec::with_capacity(rows.len());
    for row in rows {
        pipelines.push(Pipeline {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            is_default: row.try_get::<i64, _>("is_default")? != 0,
            stages: Vec::new(),
            created_at: row.try_get("created_at")?,
        });
    }
    let stages = sqlx::query(AssertSqlSafe(format!(
        "SELECT {STAGE_COLUMNS} FROM deal_stages WHERE pipeline_id IN \
         (SELECT id FROM deal_pipelines p WHERE {clause}) ORDER BY position"
    )));
    let stages = match arg {
        Some(arg) => stages.bind(arg.to_owned()),
        None => stages,
    };
    for row in stages.fetch_all(&mut *conn).await? {
        let stage = stage_from_row(&row)?;
        if let Some(p) = pipelines.iter_mut().find(|p| p.id == stage.pipeline_id) {
            p.stages.push(stage);
        }
    }
    Ok(pipelines)
}

pub async fn pipelines(conn: &mut AnyConnection) -> Result<Vec<Pipeline>> {
    pipelines_where(conn, "TRUE", None).await
}

pub async fn pipeline(conn: &mut AnyConnection, id: &str) -> Result<Option<Pipeline>> {
    Ok(pipelines_where(conn, "p.id = $1", Some(id)).await?.pop())
}

pub async fn default_pipeline(conn: &mut AnyConnection) -> Result<Option<Pipeline>> {
    Ok(pipelines_where(conn, "p.is_default = 1", None).await?.pop())
}

pub async fn stage(conn: &mut AnyConnection, id: &str) -> Result<Option<Stage>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {STAGE_COLUMNS} FROM deal_stages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(stage_from_row).transpose()
}

/// How many deals other than `except` are in `stage_id`, counted under a lock on the
/// stage so two moves into it are decided one after the other.
pub async fn occupancy(
    conn: &mut AnyConnection,
    backend: Backend,
    stage_id: &str,
    except: &str,
) -> Result<i64> {
    let lock = format!(
        "SELECT id FROM deal_stages WHERE id = $1{}",
        for_update(backend)
    );
    sqlx::query(AssertSqlSafe(lock))
        .bind(stage_id)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM deals WHERE stage_id = $1 AND id <> $2")
        .bind(stage_id)
        .bind(except)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

// ---------------------------------------------------------------- deals

const DEAL_COLUMNS: &str = "d.id, d.title, d.pipeline_id, d.stage_id, d.status, d.amount_minor, \
     d.currency, d.owner_id, d.team_id, d.company_id, d.close_day, d.source_channel, d.source_campaign, \
     d.custom_fields, d.lost_reason, d.lead_id, d.next_task_id, d.next_task_title, \
     d.next_due_at, d.created_at, d.updated_at, d.stage_entered_at, d.closed_at, \
     d.reached_position";

const DEAL_FROM: &str = "deals d JOIN deal_stages s ON s.id = d.stage_id";

fn deal_from_row(row: &AnyRow) -> Result<Deal> {
    let status: String = row.try_get("status")?;
    let fields: String = row.try_get("custom_fields")?;
    let next_action = match opt_text(row, "next_task_id")? {
        Some(task_id) => Some(NextAction {
            task_id,
            title: row.try_get("next_task_title")?,
            due_at: row.try_get::<Option<i64>, _>("next_due_at")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(Deal {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        pipeline_id: row.try_get("pipeline_id")?,
        stage_id: row.try_get("stage_id")?,
        stage_name: row.try_get("stage_name")?,
        status: stored("deal status", StageKind::parse(&status), &status)?,
        amount_minor: row.try_get("amount_minor")?,
        currency: row.try_get("currency")?,
        owner_id: row.try_get("owner_id")?,
        team_id: row.try_get("team_id")?,
        company_id: opt_text(row, "company_id")?,
        contacts: Vec::new(),
        close_day: row.try_get("close_day")?,
        source_channel: row.try_get("source_channel")?,
        source_campaign: row.try_get("source_campaign")?,
        tags: Vec::new(),
        custom_fields: serde_json::from_str(&fields).unwrap_or_default(),
        lost_reason: row.try_get("lost_reason")?,
        lead_id: opt_text(row, "lead_id")?,
        next_action,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        stage_entered_at: row.try_get("stage_entered_at")?,
        closed_at: row.try_get("closed_at")?,
        reached_position: row.try_get("reached_position")?,
    })
}

fn fields_json(d: &Deal) -> String {
    serde_json::to_string(&d.custom_fields).unwrap_or_else(|_| "{}".to_owned())
}

/// Inserts `d` with its tags and contacts. Returns `false` (and writes nothing) when
/// a deal was already opened from the same lead.
pub async fn insert_deal(conn: &mut AnyConnection, d: &Deal) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO deals (id, title, pipeline_id, stage_id, status, amount_minor, currency, \
         owner_id, company_id, close_day, source_channel, source_campaign, custom_fields, \
         lost_reason, lead_id, created_at, updated_at, stage_entered_at, reached_position, \
         team_id, title_lower) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21) \
         ON CONFLICT (lead_id) DO NOTHING",
    )
    .bind(&d.id)
    .bind(&d.title)
    .bind(&d.pipeline_id)
    .bind(&d.stage_id)
    .bind(d.status.as_str())
    .bind(d.amount_minor)
    .bind(&d.currency)
    .bind(&d.owner_id)
    .bind(&d.company_id)
    .bind(d.close_day)
    .bind(&d.source_channel)
    .bind(&d.source_campaign)
    .bind(fields_json(d))
    .bind(&d.lost_reason)
    .bind(&d.lead_id)
    .bind(d.created_at)
    .bind(d.updated_at)
    .bind(d.stage_entered_at)
    .bind(d.reached_position)
    .bind(&d.team_id)
    .bind(d.title.to_lowercase())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    replace_tags(conn, &d.id, &d.tags).await?;
    replace_contacts(conn, &d.id, &d.contacts).await?;
    Ok(true)
}

/// Writes every mutable column of `d` back (tags and contacts are separate).
pub async fn update_deal(conn: &mut AnyConnection, d: &Deal) -> Result<()> {
    sqlx::query(
        "UPDATE deals SET title = $2, stage_id = $3, status = $4, amount_minor = $5, \
         currency = $6, owner_id = $7, company_id = $8, close_day = $9, custom_fields = $10, \
         lost_reason = $11, updated_at = $12, stage_entered_at = $13, closed_at = $14, \
         reached_position = $15, team_id = $16, title_lower = $17 WHERE id = $1",
    )
    .bind(&d.id)
    .bind(&d.title)
    .bind(&d.stage_id)
    .bind(d.status.as_str())
    .bind(d.amount_minor)
    .bind(&d.currency)
    .bind(&d.owner_id)
    .bind(&d.company_id)
    .bind(d.close_day)
    .bind(fields_json(d))
    .bind(&d.lost_reason)
    .bind(d.updated_at)
    .bind(d.stage_entered_at)
    .bind(d.closed_at)
    .bind(d.reached_position)
    .bind(&d.team_id)
    .bind(d.title.to_lowercase())
    .execute(conn)
    .await?;
    Ok(())
}

/// Lower-cases the titles of up to `batch` deals after id `after` written before
/// titles were kept lower-cased for the search, in id order (so replicas starting
/// together lock rows in one order and each batch starts where the last ended).
/// Returns the last id looked at: `None` when none is left.
pub async fn fill_title_lower(
    conn: &mut AnyConnection,
    after: &str,
    batch: i64,
) -> Result<Option<String>> {
    let rows = sqlx::query(
        "SELECT id, title FROM deals WHERE id > $1 AND title_lower IS NULL ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(batch)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let title: String = row.try_get("title")?;
        sqlx::query("UPDATE deals SET title_lower = $2 WHERE id = $1")
            .bind(row.try_get::<String, _>("id")?)
            .bind(title.to_lowercase())
            .execute(&mut *conn)
            .await?;
    }
    match rows.last() {
        Some(row) => Ok(Some(row.try_get("id")?)),
        None => Ok(None),
    }
}

pub async fn replace_tags(conn: &mut AnyConnection, deal_id: &str, tags: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM deal_tags WHERE deal_id = $1")
        .bind(deal_id)
        .execute(&mut *conn)
        .await?;
    for tag in tags {
        sqlx::query("INSERT INTO deal_tags (deal_id, tag) VALUES ($1, $2)")
            .bind(deal_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn replace_contacts(
    conn: &mut AnyConnection,
    deal_id: &str,
    contacts: &[DealContact],
) -> Result<()> {
    sqlx::query("DELETE FROM deal_contacts WHERE deal_id = $1")
        .bind(deal_id)
        .execute(&mut *conn)
        .await?;
    for c in contacts {
        sqlx::query("INSERT INTO deal_contacts (deal_id, contact_id, role) VALUES ($1, $2, $3)")
            .bind(deal_id)
            .bind(&c.contact_id)
            .bind(c.role.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A deal with its tags and contacts; locked for the transaction with `lock`.
pub async fn get_deal(
    conn: &mut AnyConnection,
    backend: Backend,
    id: &str,
    lock: bool,
) -> Result<Deal> {
    let suffix = match lock {
        // The deal row is the one to lock, not its stage.
        true if backend == Backend::Postgres => " FOR UPDATE OF d",
        _ => "",
    };
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {DEAL_COLUMNS}, s.name AS stage_name FROM {DEAL_FROM} WHERE d.id = $1{suffix}"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DealsError::not_found("deal", id))?;
    let mut deals = vec![deal_from_row(&row)?];
    hydrate(conn, &mut deals).await?;
    Ok(deals.remove(0))
}

/// Fills in the tags and contacts of `deals` (two queries for the whole page).
async fn hydrate(conn: &mut AnyConnection, deals: &mut [Deal]) -> Result<()> {
    if deals.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = deals.iter().map(|d| d.id.as_str()).collect();
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let list = placeholders(1, ids.len());
    let mut tags = Vec::new();
    let mut contacts = Vec::new();
    let sql = format!("SELECT deal_id, tag FROM deal_tags WHERE deal_id IN ({list}) ORDER BY tag");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in &ids {
        query = query.bind(id.to_string());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let deal: String = row.try_get("deal_id")?;
        tags.push((index[deal.as_str()], row.try_get::<String, _>("tag")?));
    }
    let sql = format!(
        "SELECT deal_id, contact_id, role FROM deal_contacts WHERE deal_id IN ({list}) \
         ORDER BY contact_id"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in &ids {
        query = query.bind(id.to_string());
    }
    for row in query.fetch_all(&mut *conn).await? {
        let deal: String = row.try_get("deal_id")?;
        let role: String = row.try_get("role")?;
        contacts.push((
            index[deal.as_str()],
            DealContact {
                contact_id: row.try_get("contact_id")?,
                role: stored("contact role", ContactRole::parse(&role), &role)?,
            },
        ));
    }
    for (i, tag) in tags {
        deals[i].tags.push(tag);
    }
    for (i, contact) in contacts {
        deals[i].contacts.push(contact);
    }
    Ok(())
}

/// The conditions of `f` over `deals d`; `today` decides what is overdue.
/// The deals `f` picks among those `scope` sees.
pub fn filter_where(f: &Filter, scope: &Scope, today: i64) -> Where {
    let mut w = Where::default();
    ringside_kit::scope::push(&mut w, scope, "d.owner_id", "d.team_id");
    if let Some(p) = &f.pipeline_id {
        w.push("d.pipeline_id = {}", p);
    }
    if !f.stage_ids.is_empty() {
        let list: Vec<String> = f.stage_ids.iter().map(|s| w.bind(s)).collect();
        w.push_plain(&format!("d.stage_id IN ({})", list.join(", ")));
    }
    if let Some(o) = &f.owner_id {
        w.push("d.owner_id = {}", o);
    }
    if let Some(t) = &f.tag {
        w.push(
            "EXISTS (SELECT 1 FROM deal_tags t WHERE t.deal_id = d.id AND t.tag = {})",
            t,
        );
    }
    if let Some(c) = &f.contact_id {
        w.push(
            "EXISTS (SELECT 1 FROM deal_contacts c WHERE c.deal_id = d.id AND c.contact_id = {})",
            c,
        );
    }
    if let Some(c) = &f.company_id {
        w.push("d.company_id = {}", c);
    }
    if let Some(q) = &f.query {
        w.push_pattern("d.title_lower LIKE {} ESCAPE '\\'", like_pattern(q));
    }
    if let Some(v) = f.amount_min {
        w.push("d.amount_minor >= {}", v);
    }
    if let Some(v) = f.amount_max {
        w.push("d.amount_minor <= {}", v);
    }
    if let Some(c) = &f.currency {
        w.push("d.currency = {}", c);
    }
    if let Some(v) = f.close_from {
        w.push("d.close_day >= {}", v);
    }
    if let Some(v) = f.close_to {
        w.push("d.close_day <= {}", v);
    }
    if let Some(s) = f.status {
        w.push("d.status = {}", s.as_str());
    }
    if f.no_next_action {
        w.push_plain("d.status = 'open' AND d.next_task_id IS NULL");
    }
    if f.overdue_close {
        w.push("d.status = 'open' AND d.close_day < {}", today);
    }
    if f.no_close_date {
        w.push_plain("d.close_day IS NULL");
    }
    w
}

/// A page of deals matching `w`, in `sort` order, after the page's cursor.
/// For a caller who sees some deals only (`scope`), the order is taken from the sort
/// column as a value (`+ 0`), not from an index: the planner then reads the caller's
/// few deals by owner or team and sorts them, rather than walking a whole stage in
/// date order hoping to meet theirs.
pub async fn deals_where(
    conn: &mut AnyConnection,
    mut w: Where,
    sort: Sort,
    page: &Page,
    scope: &Scope,
) -> Result<Vec<Deal>> {
    let key = sort.column();
    let order = match scope.reach {
        ringside_auth::visibility::Reach::All => key.to_owned(),
        _ => format!("{key} + 0"),
    };
    let (op, dir) = match sort.ascending {
        true => (">", "ASC"),
        false => ("<", "DESC"),
    };
    if let Some(c) = &page.after {
        let at = w.bind(c.at);
        let id = w.bind(c.id.clone());
        w.push_plain(&format!("({key}, d.id) {op} ({at}, {id})"));
    }
    let limit = w.bind(page.size + 1);
    let sql = format!(
        "SELECT {DEAL_COLUMNS}, s.name AS stage_name FROM {DEAL_FROM} WHERE {} \
         ORDER BY {order} {dir}, d.id {dir} LIMIT {limit}",
        w.sql()
    );
    let rows = w.query(sql).fetch_all(&mut *conn).await?;
    let mut deals = rows.iter().map(deal_from_row).collect::<Result<Vec<_>>>()?;
    hydrate(conn, &mut deals).await?;
    Ok(deals)
}

pub async fn count_where(conn: &mut AnyConnection, w: &Where) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) AS n FROM deals d WHERE {}", w.sql());
    Ok(w.query(sql).fetch_one(conn).await?.try_get("n")?)
}

/// Count and sum per stage and currency of the deals matching filter `f` that
/// `scope` sees. A team's scope is summed in two parts that do not overlap — the
/// teams' deals, then the caller's own and the pool's outside those teams — each an
/// index-only scan when no other filter needs the row (`deals_team_sums`,
/// `deals_owner_sums`), where one `OR` of owner and team would read the rows; one
/// statement, so both parts see the same moment.
pub async fn sums(
    conn: &mut AnyConnection,
    f: &Filter,
    scope: &Scope,
    today: i64,
) -> Result<Vec<(String, String, i64, i64)>> {
    if scope.reach != Reach::Team || scope.teams.is_empty() {
        return sums_where(conn, &filter_where(f, scope, today)).await;
    }
    let mut w = filter_where(f, &Scope::all(), today);
    let common = w.sql();
    let me = w.bind(&scope.user);
    let teams: Vec<String> = scope.teams.iter().map(|t| w.bind(t)).collect();
    let teams = teams.join(", ");
    let part = |condition: String| {
        format!(
            "SELECT d.stage_id, d.currency, COUNT(*) AS n, SUM(d.amount_minor) AS total \
             FROM deals d WHERE {common} AND {condition} GROUP BY d.stage_id, d.currency"
        )
    };
    let sql = format!(
        "SELECT stage_id, currency, CAST(SUM(n) AS BIGINT) AS n, \
         CAST(SUM(total) AS BIGINT) AS total FROM ({} UNION ALL {}) parts \
         GROUP BY stage_id, currency ORDER BY currency",
        part(format!("d.team_id IN ({teams})")),
        part(format!(
            "d.owner_id IN ({me}, '') AND d.team_id NOT IN ({teams})"
        )),
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(sum_from_row).collect()
}

fn sum_from_row(r: &AnyRow) -> Result<(String, String, i64, i64)> {
    Ok((
        r.try_get("stage_id")?,
        r.try_get("currency")?,
        r.try_get("n")?,
        r.try_get("total")?,
    ))
}

/// Count and sum per stage and currency of the deals matching `w`.
async fn sums_where(
    conn: &mut AnyConnection,
    w: &Where,
) -> Result<Vec<(String, String, i64, i64)>> {
    let sql = format!(
        "SELECT d.stage_id, d.currency, COUNT(*) AS n, CAST(SUM(d.amount_minor) AS BIGINT) AS total \
         FROM deals d WHERE {} GROUP BY d.stage_id, d.currency ORDER BY d.currency",
        w.sql()
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(sum_from_row).collect()
}

// ---------------------------------------------------------------- history

/// Ends the deal's current stay and starts one in `stage_id`.
pub async fn enter_stage(
    conn: &mut AnyConnection,
    deal_id: &str,
    stage_id: &str,
    at: i64,
    by: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE deal_stage_history SET left_at = $2 WHERE deal_id = $1 AND left_at IS NULL",
    )
    .bind(deal_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO deal_stage_history (id, deal_id, stage_id, entered_at, moved_by) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(deal_id)
    .bind(stage_id)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn stays(conn: &mut AnyConnection, deal_id: &str) -> Result<Vec<Stay>> {
    let rows = sqlx::query(
        "SELECT h.stage_id, s.name, h.entered_at, h.left_at, h.moved_by \
         FROM deal_stage_history h JOIN deal_stages s ON s.id = h.stage_id \
         WHERE h.deal_id = $1 ORDER BY h.entered_at, h.id",
    )
    .bind(deal_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stay {
                stage_id: r.try_get("stage_id")?,
                stage_name: r.try_get("name")?,
                entered_at: r.try_get("entered_at")?,
                left_at: r.try_get("left_at")?,
                moved_by: r.try_get("moved_by")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- other services' facts

/// Moves the merged contact's roles onto the survivor (keeping the survivor's role
/// where both were on a deal).
pub async fn relink_contact(conn: &mut AnyConnection, from: &str, to: &str) -> Result<u64> {
    sqlx::query(
        "DELETE FROM deal_contacts WHERE contact_id = $1 AND deal_id IN \
         (SELECT deal_id FROM deal_contacts WHERE contact_id = $2)",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query("UPDATE deal_contacts SET contact_id = $2 WHERE contact_id = $1")
        .bind(from)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Records the deal's next action as reported at `reported_at`, unless a later
/// report was recorded already.
pub async fn set_next_action(
    conn: &mut AnyConnection,
    deal_id: &str,
    next: Option<&NextAction>,
    reported_at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE deals SET next_task_id = $2, next_task_title = $3, next_due_at = $4, \
         next_action_at = $5 WHERE id = $1 AND next_action_at <= $5",
    )
    .bind(deal_id)
    .bind(next.map(|n| n.task_id.clone()))
    .bind(next.map(|n| n.title.clone()).unwrap_or_default())
    .bind(next.map(|n| n.due_at))
    .bind(reported_at)
    .execute(conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- views

/// A stored view: its owner, team, name and encoded query.
pub struct StoredView {
    pub id: String,
    pub owner_id: String,
    pub team: String,
    pub name: String,
    pub query: Vec<u8>,
    pub updated_at: i64,
}

fn view_from_row(r: &AnyRow) -> Result<StoredView> {
    Ok(StoredView {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        team: r.try_get("team")?,
        name: r.try_get("name")?,
        query: r.try_get("query")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn get_view(conn: &mut AnyConnection, id: &str) -> Result<Option<StoredView>> {
    let row = sqlx::query(
        "SELECT id, owner_id, team, name, query, updated_at FROM deal_views WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(view_from_row).transpose()
}

pub async fn upsert_view(conn: &mut AnyConnection, v: &StoredView) -> Result<()> {
    sqlx::query(
        "INSERT INTO deal_views (id, owner_id, team, name, query, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET team = $3, \
         name = $4, query = $5, updated_at = $6",
    )
    .bind(&v.id)
    .bind(&v.owner_id)
    .bind(&v.team)
    .bind(&v.name)
    .bind(v.query.clone())
    .bind(v.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The views of `owner` and those shared with `team`, by name.
/// The views `owner` made and those shared with any of `teams`.
pub async fn views(
    conn: &mut AnyConnection,
    owner: &str,
    teams: &[String],
) -> Result<Vec<StoredView>> {
    let mut w = Where::default();
    let owner = w.bind(owner);
    let shared: Vec<String> = teams.iter().map(|t| w.bind(t.clone())).collect();
    let clause = match shared.is_empty() {
        true => format!("owner_id = {owner}"),
        false => format!(
            "(owner_id = {owner} OR (team <> '' AND team IN ({})))",
            shared.join(", ")
        ),
    };
    w.push_plain(&clause);
    let sql = format!(
        "SELECT id, owner_id, team, name, query, updated_at FROM deal_views \
         WHERE {} ORDER BY name, id",
        w.sql()
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(view_from_row).collect()
}

pub async fn delete_view(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM deal_views WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
