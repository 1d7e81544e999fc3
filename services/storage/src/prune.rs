//! Pruning tables that only need their recent rows (each service names its own: the
//! bus inbox's claims, the alerts sent). Rows older than a cut-off go in batches,
//! each its own short statement, so a large backlog never holds a lock for long;
//! the runner does it at start and then every hour.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{AssertSqlSafe, Db, now_millis};

/// A table that keeps only its recent rows.
#[derive(Debug, Clone, Copy)]
pub struct Prunable {
    pub table: &'static str,
    /// Its primary key's columns, comma-separated.
    pub key: &'static str,
    /// The column holding when a row was written (Unix milliseconds, indexed).
    pub at: &'static str,
}

/// Rows deleted per statement.
const BATCH: i64 = 5_000;
/// How often the runner prunes.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes `t`'s rows written before `before` (Unix ms); returns how many.
pub async fn prune(db: &Db, t: Prunable, before: i64) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "DELETE FROM {table} WHERE ({key}) IN \
         (SELECT {key} FROM {table} WHERE {at} < $1 LIMIT $2)",
        table = t.table,
        key = t.key,
        at = t.at,
    );
    let mut deleted = 0;
    loop {
        let done = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(before)
            .bind(BATCH)
            .execute(db.pool())
            .await?;
        deleted += done.rows_affected();
        if done.rows_affected() < BATCH as u64 {
            return Ok(deleted);
        }
    }
}

/// Prunes `tables` of rows older than `keep`, now and every hour, until `shutdown`.
pub async fn run(db: Db, tables: Vec<Prunable>, keep: Duration, shutdown: CancellationToken) {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for t in &tables {
            match prune(&db, *t, now_millis().saturating_sub(keep_ms)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(table = t.table, rows = n, "pruned"),
                Err(e) => {
                    tracing::warn!(table = t.table, error = %e, "pruning failed; next hour again")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INBOX: Prunable = Prunable {
        table: "inbox",
        key: "consumer, event_id",
        at: "handled_at",
    };

    async fn claim(db: &Db, event: &str, at: i64) {
        sqlx::query("INSERT INTO inbox (consumer, event_id, handled_at) VALUES ('c', $1, $2)")
            .bind(event)
            .bind(at)
            .execute(db.pool())
            .await
            .expect("a claim");
    }

    #[tokio::test]
    async fn old_claims_go_in_batches_and_recent_ones_stay() {
        let test = crate::testing::sqlite().await;
        for i in 0..(BATCH + 7) {
            claim(&test.db, &format!("old-{i}"), 1_000).await;
        }
        claim(&test.db, "recent", 5_000).await;
        let deleted = prune(&test.db, INBOX, 2_000).await.expect("pruned");
        assert_eq!(deleted, BATCH as u64 + 7);
        let left: Vec<String> = sqlx::query_scalar("SELECT event_id FROM inbox")
            .fetch_all(test.db.pool())
            .await
            .expect("the rest");
        assert_eq!(left, ["recent"]);
    }
}
