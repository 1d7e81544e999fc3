//! Reminders: a `task.due` event at each open task's reminder time, exactly once.
//! Marking the task reminded and writing the event to the outbox happen in one
//! transaction, and due tasks are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL
//! (SQLite has one writer at a time), so any number of replicas can run this loop: no
//! reminder fires twice, and one that came due while every replica was down fires at
//! the next start.

use std::time::Duration;

use ringside_bus::EventPayload;
use ringside_proto::events::v1 as ev;
use ringside_storage::now_millis;
use tokio_util::sync::CancellationToken;

use crate::convert::task_to_proto;
use crate::error::Result;
use crate::model::Ctx;
use crate::service::ActivitiesService;
use crate::store;

/// Tasks reminded per transaction.
const BATCH: i64 = 100;
/// Longest sleep between checks (another replica may have added a task).
const MAX_SLEEP: Duration = Duration::from_secs(1);
const MIN_SLEEP: Duration = Duration::from_millis(20);

/// Fires due reminders until `shutdown`.
pub async fn run(service: ActivitiesService, shutdown: CancellationToken) {
    let wake = service.reminder_waker();
    loop {
        let sleep = match fire_due(&service).await {
            Ok(_) => until_next(&service).await,
            Err(e) => {
                tracing::warn!(error = %e, "reminders: will try again");
                MAX_SLEEP
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Sends every reminder that is due now; returns how many went out.
pub async fn fire_due(service: &ActivitiesService) -> Result<usize> {
    let mut total = 0;
    loop {
        let fired = fire_batch(service).await?;
        total += fired;
        if fired < BATCH as usize {
            return Ok(total);
        }
    }
}

async fn fire_batch(service: &ActivitiesService) -> Result<usize> {
    let now = now_millis();
    let mut tx = service.db().begin().await?;
    let due = store::due_reminders(&mut tx, service.db().backend(), now, BATCH).await?;
    let ctx = Ctx::new(crate::SOURCE, "");
    for mut task in due.iter().cloned() {
        task.reminded_at = Some(now);
        store::update_task(&mut tx, &task).await?;
        let ctx = Ctx {
            correlation_id: task.id.clone(),
            ..ctx.clone()
        };
        let payload = EventPayload::TaskDue(ev::TaskDue {
            task: Some(task_to_proto(&task, now)),
        });
        service.emit(&mut tx, &ctx, payload).await?;
    }
    service.commit(tx).await?;
    metrics::counter!("ringside_activities_reminders_total").increment(due.len() as u64);
    Ok(due.len())
}

async fn until_next(service: &ActivitiesService) -> Duration {
    let next = match service.db().pool().acquire().await {
        Ok(mut conn) => store::next_reminder_at(&mut conn).await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        // Not less than MIN_SLEEP: a due task another replica holds is not spun on.
        Some(at) => Duration::from_millis(at.saturating_sub(now_millis()).max(0) as u64)
            .clamp(MIN_SLEEP, MAX_SLEEP),
        None => MAX_SLEEP,
    }
}
