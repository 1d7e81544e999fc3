//! The idempotent inbox: a consumer claims an event id inside the transaction that
//! applies the event, so a redelivered event finds its claim and changes nothing.

use ringside_storage::now_millis;
use ringside_storage::prune::Prunable;
use sqlx::AnyConnection;

/// The claims, pruned by age: a redelivery comes within minutes, so a claim months
/// old guards nothing.
pub const PRUNED: Prunable = Prunable {
    table: "inbox",
    key: "consumer, event_id",
    at: "handled_at",
};

/// Records that `consumer` handles `event_id`. Returns `false` when it was handled
/// before: the caller then commits nothing new and acknowledges the delivery.
/// Concurrent duplicates wait on the primary key, so exactly one of them gets `true`.
pub async fn claim(
    conn: &mut AnyConnection,
    consumer: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO inbox (consumer, event_id, handled_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
