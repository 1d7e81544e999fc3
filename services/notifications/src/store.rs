//! The SQL of the notifications service: which events went out on which channel, one
//! function per statement, each on the connection it is given.

use ringside_storage::now_millis;
use ringside_storage::prune::Prunable;
use sqlx::AnyConnection;

/// The alerts sent, pruned by age: an event is alerted about within minutes of
/// arriving, never again months later.
pub const PRUNED: Prunable = Prunable {
    table: "alerts_sent",
    key: "event_id, channel",
    at: "sent_at",
};

/// Whether event `event_id` already went out on `channel`.
pub async fn was_sent(
    conn: &mut AnyConnection,
    event_id: &str,
    channel: &str,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query("SELECT 1 FROM alerts_sent WHERE event_id = $1 AND channel = $2")
        .bind(event_id)
        .bind(channel)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Records that event `event_id` went out on `channel` (to `agent`, if anyone); a
/// second record of the same is ignored. Whether this one was the first.
pub async fn record_sent(
    conn: &mut AnyConnection,
    event_id: &str,
    channel: &str,
    agent: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO alerts_sent (event_id, channel, agent_id, sent_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(channel)
    .bind(agent)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
