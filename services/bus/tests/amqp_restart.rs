//! RabbitMQ stopped and started (`rabbitmqctl stop_app` / `start_app`) in the middle of
//! a stream of 1,200 events: the relay and the consumer reconnect by themselves, and
//! the consumer ends with every event applied exactly once. Needs `rabbitmqctl` and
//! rights to run it; it restarts the broker, so it lives alone in this test binary.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringside_bus::consumer::{self, Handler};
use ringside_bus::{Bus, QueueSpec, outbox};
use ringside_storage::testing::{AMQP_URL_VAR, all_backends, server_url};
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 1_200;

async fn rabbitmqctl(args: &[&str]) {
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

async fn produce(db: &ringside_storage::Db, source: &str, range: std::ops::Range<usize>) {
    for chunk in range.collect::<Vec<_>>().chunks(20) {
        let mut tx = db.begin().await.expect("begin");
        for n in chunk {
            let mut event = contact_deleted(*n);
            event.source = source.to_owned();
            outbox::enqueue(&mut tx, &event).await.expect("enqueue");
        }
        tx.commit().await.expect("commit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_broker_restart_mid_stream_loses_nothing_and_duplicates_nothing() {
    let Some(url) = server_url(AMQP_URL_VAR) else {
        return;
    };
    let t = all_backends().await.pop().expect("a database"); // PostgreSQL when configured
    create_effects_table(&t.db).await;
    let bus = Arc::new(amqp(&url).await);
    let q = queue("restart");
    let spec = QueueSpec::new(&q, &["contact.deleted"]);
    drop(bus.subscribe(spec.clone()).await.expect("declare"));

    let shutdown = CancellationToken::new();
    let effect_handler = EffectHandler::new(&t.db, &q);
    let calls = effect_handler.calls.clone();
    let handler: Arc<dyn Handler> = Arc::new(effect_handler);
    let consumer = tokio::spawn(consumer::run(bus.clone(), spec, handler, shutdown.clone()));
    let source = format!("restart-{}", uuid::Uuid::new_v4().simple());
    let relay = outbox::Relay::new(t.db.clone(), bus.clone(), &source);
    let relay = tokio::spawn(relay.run(shutdown.clone()));

    produce(&t.db, &source, 0..EVENTS / 2).await;
    rabbitmqctl(&["stop_app"]).await;
    produce(&t.db, &source, EVENTS / 2..EVENTS).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    let mut last = (0, 0);
    for _ in 0..240 {
        last = effects(&t.db).await;
        if last.0 >= EVENTS as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Give a late duplicate the chance to show up before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (total, distinct) = effects(&t.db).await;
    let calls = calls.load(std::sync::atomic::Ordering::SeqCst);
    let unpublished = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM outbox WHERE source = $1 AND published_at IS NULL",
    )
    .bind(&source)
    .fetch_one(t.db.pool())
    .await
    .expect("unsent");
    eprintln!(
        "after the restart: {distinct} distinct events applied, {total} applications, \
         {calls} deliveries ({} duplicates absorbed by the inbox; last poll {last:?}; \
         {unpublished} still in the outbox)",
        calls as i64 - total
    );
    assert_eq!(distinct, EVENTS as i64, "events lost");
    assert_eq!(total, distinct, "events applied twice");
    let unsent = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM outbox WHERE source = $1 AND published_at IS NULL",
    )
    .bind(&source)
    .fetch_one(t.db.pool())
    .await
    .expect("unsent");
    assert_eq!(unsent, 0, "the outbox is drained");

    shutdown.cancel();
    consumer.await.expect("join").expect("consumer");
    relay.await.expect("join");
    let _ = bus.delete_queue(&q).await;
    let _ = bus.delete_exchange().await;
}
