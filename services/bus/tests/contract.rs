//! The bus contract, run on every transport: the local bus on SQLite and PostgreSQL,
//! and RabbitMQ when `RINGSIDE_TEST_AMQP_URL` is set.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringside_bus::consumer::{self, Handler};
use ringside_bus::{DELIVERY_LIMIT, QueueSpec, outbox};
use ringside_storage::testing::{all_backends, postgres};
use tokio_util::sync::CancellationToken;

const QUIET: Duration = Duration::from_millis(700);

#[tokio::test]
async fn events_reach_the_queues_bound_to_their_routing_keys_only() {
    let t = ringside_storage::testing::sqlite().await;
    let (contacts_q, leads_q) = (queue("contacts"), queue("leads"));
    for transport in transports(&t.db, &[&contacts_q, &leads_q]).await {
        let bus = transport.bus();
        let mut contacts = bus
            .subscribe(QueueSpec::new(&contacts_q, &["contact.*"]))
            .await
            .expect("sub");
        let mut leads = bus
            .subscribe(QueueSpec::new(&leads_q, &["lead.#"]))
            .await
            .expect("sub");
        let (deleted, created) = (contact_deleted(1), lead_created());
        publish(&bus, &[deleted.clone(), created.clone()]).await;

        let d = next(&mut contacts).await;
        assert_eq!(
            d.message.decode().expect("decode"),
            deleted,
            "{}",
            transport.name()
        );
        assert_eq!(d.attempt, 1);
        d.acker.ack().await.expect("ack");
        let d = next(&mut leads).await;
        assert_eq!(d.message.event_id, created.event_id);
        d.acker.ack().await.expect("ack");
        assert!(
            next_within(&mut contacts, QUIET).await.is_none(),
            "nothing else for contacts"
        );
        assert!(
            next_within(&mut leads, QUIET).await.is_none(),
            "nothing else for leads"
        );
        drop((contacts, leads));
        transport.cleanup().await;
    }
}

#[tokio::test]
async fn a_consumer_killed_before_its_ack_gets_the_event_again_and_applies_it_once() {
    for t in all_backends().await {
        create_effects_table(&t.db).await;
        let q = queue("killed");
        for transport in transports(&t.db, &[&q]).await {
            let bus = transport.bus();
            let event = contact_deleted(7);
            let consumer_name = format!("{q}-{}", transport.name());
            let mut first = bus
                .subscribe(QueueSpec::new(&q, &["contact.deleted"]))
                .await
                .expect("sub");
            publish(&bus, std::slice::from_ref(&event)).await;
            let d = next(&mut first).await;
            // The handler commits its effect, then the process dies before the ack.
            assert!(
                apply(&t.db, &consumer_name, &d.message.event_id)
                    .await
                    .expect("apply")
            );
            drop(d);
            drop(first);

            let mut second = bus
                .subscribe(QueueSpec::new(&q, &["contact.deleted"]))
                .await
                .expect("sub");
            let again = next(&mut second).await;
            assert_eq!(
                again.message.event_id,
                event.event_id,
                "{}",
                transport.name()
            );
            let fresh = apply(&t.db, &consumer_name, &again.message.event_id)
                .await
                .expect("apply");
            assert!(!fresh, "the inbox knows this event");
            again.acker.ack().await.expect("ack");
            assert!(
                next_within(&mut second, QUIET).await.is_none(),
                "acknowledged means gone"
            );
            drop(second);
            transport.cleanup().await;
        }
        let (total, distinct) = effects(&t.db).await;
        assert_eq!(total, distinct, "{:?}: no event applied twice", t.backend());
    }
}

#[tokio::test]
async fn a_message_that_keeps_failing_ends_in_the_dead_letter_queue() {
    let t = ringside_storage::testing::sqlite().await;
    let (retried_q, rejected_q) = (queue("retried"), queue("rejected"));
    for transport in transports(&t.db, &[&retried_q, &rejected_q]).await {
        let bus = transport.bus();
        let mut retried = bus
            .subscribe(QueueSpec::new(&retried_q, &["contact.deleted"]))
            .await
            .expect("sub");
        let mut rejected = bus
            .subscribe(QueueSpec::new(&rejected_q, &["lead.created"]))
            .await
            .expect("sub");
        publish(&bus, &[contact_deleted(1), lead_created()]).await;

        let mut attempts = 0;
        while let Some(d) = next_within(&mut retried, Duration::from_secs(3)).await {
            attempts += 1;
            assert!(attempts <= DELIVERY_LIMIT + 1, "delivered past the limit");
            d.acker.retry().await.expect("retry");
        }
        assert!(
            attempts >= DELIVERY_LIMIT,
            "{}: only {attempts} attempts",
            transport.name()
        );
        next(&mut rejected)
            .await
            .acker
            .reject("poison")
            .await
            .expect("reject");
        assert!(
            next_within(&mut rejected, QUIET).await.is_none(),
            "a rejected message is not redelivered"
        );

        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            transport.dead_letters(&retried_q).await,
            1,
            "{}",
            transport.name()
        );
        assert_eq!(
            transport.dead_letters(&rejected_q).await,
            1,
            "{}",
            transport.name()
        );
        drop((retried, rejected));
        transport.cleanup().await;
    }
}

#[tokio::test]
async fn the_relay_publishes_outbox_rows_and_the_consumer_applies_each_once() {
    for t in all_backends().await {
        create_effects_table(&t.db).await;
        let q = queue("relay");
        for transport in transports(&t.db, &[&q]).await {
            let bus = transport.bus();
            let shutdown = CancellationToken::new();
            let handler: Arc<dyn Handler> = Arc::new(EffectHandler::new(
                &t.db,
                &format!("{q}-{}", transport.name()),
            ));
            // Declare the queue before anything is published, as a deployment does.
            drop(
                bus.subscribe(QueueSpec::new(&q, &["contact.deleted"]))
                    .await
                    .expect("declare"),
            );
            let consumer = tokio::spawn(consumer::run(
                bus.clone(),
                QueueSpec::new(&q, &["contact.deleted"]),
                handler,
                shutdown.clone(),
            ));
            let source = format!("src-{}", uuid::Uuid::new_v4().simple());
            for n in 0..100 {
                let mut tx = t.db.begin().await.expect("begin");
                let mut event = contact_deleted(n);
                event.source = source.clone();
                outbox::enqueue(&mut tx, &event).await.expect("enqueue");
                tx.commit().await.expect("commit");
            }
            let relay = outbox::Relay::new(t.db.clone(), bus.clone(), &source);
            while relay.relay_once().await.expect("relay") > 0 {}
            wait_for_effects(&t.db, 100).await;
            shutdown.cancel();
            consumer.await.expect("join").expect("consumer");
            transport.cleanup().await;
            sqlx::query("DELETE FROM test_effects")
                .execute(t.db.pool())
                .await
                .expect("reset");
        }
    }
}

async fn wait_for_effects(db: &ringside_storage::Db, expected: i64) {
    for _ in 0..200 {
        if effects(db).await.0 >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (total, distinct) = effects(db).await;
    assert_eq!(
        (total, distinct),
        (expected, expected),
        "every event applied exactly once"
    );
}

/// A row whose transaction commits after a later row's is still published.
#[tokio::test]
async fn the_relay_does_not_miss_rows_committed_out_of_order() {
    let Some(t) = postgres().await else { return };
    let bus = LocalBusOnly::open(&t.db).await;
    let q = queue("order");
    let mut deliveries = bus
        .subscribe(QueueSpec::new(&q, &["contact.deleted"]))
        .await
        .expect("sub");
    let (early, late) = (contact_deleted(1), contact_deleted(2));
    let mut slow = t.db.begin().await.expect("begin");
    outbox::enqueue(&mut slow, &early)
        .await
        .expect("enqueue early");
    let mut fast = t.db.begin().await.expect("begin");
    outbox::enqueue(&mut fast, &late)
        .await
        .expect("enqueue late");
    fast.commit().await.expect("commit late");

    let relay = outbox::Relay::new(t.db.clone(), bus.clone(), "test");
    assert_eq!(
        relay.relay_once().await.expect("relay"),
        1,
        "only the committed row"
    );
    slow.commit().await.expect("commit early");
    assert_eq!(
        relay.relay_once().await.expect("relay"),
        1,
        "the late-committed row too"
    );
    let mut seen = vec![next(&mut deliveries).await.message.event_id];
    seen.push(next(&mut deliveries).await.message.event_id);
    seen.sort();
    let mut expected = vec![early.event_id, late.event_id];
    expected.sort();
    assert_eq!(seen, expected);
}

struct LocalBusOnly;

impl LocalBusOnly {
    async fn open(db: &ringside_storage::Db) -> Arc<dyn ringside_bus::Bus> {
        Arc::new(
            ringside_bus::local::LocalBus::open(db.clone(), CancellationToken::new())
                .await
                .expect("local bus"),
        )
    }
}

#[tokio::test]
async fn a_live_queue_gets_what_is_published_while_it_listens_and_nothing_else() {
    let t = ringside_storage::testing::sqlite().await;
    let (live_q, durable_q) = (queue("live"), queue("beside-live"));
    for transport in transports(&t.db, &[&durable_q]).await {
        let bus = transport.bus();
        let mut durable = bus
            .subscribe(QueueSpec::new(&durable_q, &["contact.*"]))
            .await
            .expect("sub");
        let before = contact_deleted(1);
        publish(&bus, std::slice::from_ref(&before)).await; // nobody listens live yet
        let mut live = bus
            .subscribe(QueueSpec::live(&live_q, &["contact.*"]))
            .await
            .expect("sub");
        let (during, other) = (contact_deleted(2), lead_created());
        publish(&bus, &[during.clone(), other]).await;

        let d = next(&mut live).await;
        assert_eq!(d.message.event_id, during.event_id, "{}", transport.name());
        assert_eq!(d.attempt, 1);
        // A live message given back is dropped, never redelivered.
        d.acker.retry().await.expect("retry");
        assert!(
            next_within(&mut live, QUIET).await.is_none(),
            "{}: no redelivery, nothing from before it listened, nothing unbound",
            transport.name()
        );
        // The durable queue beside it still gets everything, in order.
        for expected in [&before, &during] {
            let d = next(&mut durable).await;
            assert_eq!(d.message.event_id, expected.event_id);
            d.acker.ack().await.expect("ack");
        }
        drop((live, durable));
        transport.cleanup().await;
    }
}

#[tokio::test]
async fn a_queue_redeclared_without_a_binding_no_longer_gets_its_events() {
    let t = ringside_storage::testing::sqlite().await;
    let q = queue("rebound");
    for transport in transports(&t.db, &[&q]).await {
        let bus = transport.bus();
        drop(
            bus.subscribe(QueueSpec::new(&q, &["contact.*", "lead.*"]))
                .await
                .expect("sub"),
        );
        // The next version no longer wants contact events (and says so for RabbitMQ).
        let spec = QueueSpec::new(&q, &["lead.*"]).retiring(&["contact.*"]);
        let mut now = bus.subscribe(spec).await.expect("sub");
        let created = lead_created();
        publish(&bus, &[contact_deleted(3), created.clone()]).await;
        let d = next(&mut now).await;
        assert_eq!(
            d.message.event_id,
            created.event_id,
            "{}: contact.* was unbound",
            transport.name()
        );
        d.acker.ack().await.expect("ack");
        assert!(
            next_within(&mut now, QUIET).await.is_none(),
            "{}",
            transport.name()
        );
        drop(now);
        transport.cleanup().await;
    }
}
