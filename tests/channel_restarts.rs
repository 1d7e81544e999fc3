//! Nothing a channel handed over is lost or doubled when the poller is killed: the
//! real `ringside` binary reads 1,000 Telegram updates (from the Bot API stand-in)
//! and, in another test, 1,000 emails (from Dovecot), is killed with SIGKILL
//! mid-stream, and is started again on the same data directory. Afterwards every
//! message is on the timeline exactly once, and each sender is exactly one lead.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::json;
use support::bot::{self, BotApi};
use support::imap::Dovecot;

const SENDERS: i64 = 100;
const PER_SENDER: i64 = 10;
const TOTAL: i64 = SENDERS * PER_SENDER;

/// The all-in-one binary on `data_dir` with `env`.
fn start(data_dir: &Path, env: &[(&str, String)]) -> Child {
    let mut cmd = support::ringside_command(data_dir);
    cmd.env("RINGSIDE_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ringside")
}

/// SIGKILL: no shutdown, no draining.
fn kill(mut child: Child) {
    child.kill().expect("kill");
    child.wait().expect("reap");
}

async fn database(data_dir: &Path) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = format!(
        "sqlite://{}?mode=ro",
        data_dir.join("ringside.db").display()
    );
    sqlx::AnyPool::connect(&url)
        .await
        .expect("open the suite's database")
}

async fn scalar(db: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(ringside_storage::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db)
        .await
        .unwrap_or(-1)
}

/// Polls `probe` until it holds (`limit` at most).
async fn until(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every message filed once: `TOTAL` message entries with distinct keys, one lead per
/// sender, and each sender's messages on their own lead.
async fn assert_each_message_once(db: &sqlx::AnyPool) {
    until(
        "all messages on the timeline",
        Duration::from_secs(120),
        async || {
            scalar(
                db,
                "SELECT COUNT(*) FROM activity_entries WHERE kind = 'message'",
            )
            .await
                == TOTAL
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // time for a straggler to show
    let entries = scalar(
        db,
        "SELECT COUNT(*) FROM activity_entries WHERE kind = 'message'",
    )
    .await;
    let distinct = scalar(
        db,
        "SELECT COUNT(DISTINCT external_key) FROM activity_entries WHERE kind = 'message'",
    )
    .await;
    let leads = scalar(db, "SELECT COUNT(*) FROM leads").await;
    let per_lead = scalar(
        db,
        &format!("SELECT COUNT(*) FROM (SELECT lead_id FROM activity_entries WHERE kind = 'message' GROUP BY lead_id HAVING COUNT(*) = {PER_SENDER}) t"),
    )
    .await;
    assert_eq!((entries, distinct), (TOTAL, TOTAL), "0 lost, 0 duplicated");
    assert_eq!(leads, SENDERS, "one lead per sender");
    assert_eq!(per_lead, SENDERS, "each sender's messages on their lead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telegram_poller_killed_mid_stream_loses_and_doubles_nothing() {
    let bot = BotApi::start().await;
    let mut first = 0;
    for n in 1..=PER_SENDER {
        for user in 1..=SENDERS {
            let id = bot.push(BotApi::message(
                700_000 + user,
                n,
                &format!("сообщение {n}"),
                json!({}),
            ));
            if first == 0 {
                first = id;
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("RINGSIDE_TELEGRAM_BOT_TOKEN", bot::TOKEN.to_owned()),
        ("RINGSIDE_TELEGRAM_API_URL", bot.url()),
        ("RINGSIDE_TELEGRAM_POLL_SECS", "1".to_owned()),
    ];
    let running = start(dir.path(), &env);
    until(
        "a third of the updates confirmed",
        Duration::from_secs(60),
        async || bot.confirmed() > first + TOTAL / 3,
    )
    .await;
    kill(running);
    let confirmed = bot.confirmed() - first;
    eprintln!("killed with {confirmed} of {TOTAL} updates confirmed");
    assert!(confirmed < TOTAL, "killed mid-stream");
    let running = start(dir.path(), &env);
    until(
        "every update confirmed",
        Duration::from_secs(120),
        async || bot.pending() == 0,
    )
    .await;
    let db = database(dir.path()).await;
    assert_each_message_once(&db).await;
    kill(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_imap_poller_killed_mid_stream_loses_and_doubles_nothing() {
    let Some(imap) = Dovecot::start().await else {
        return;
    };
    let mut mails = Vec::new();
    for n in 1..=PER_SENDER {
        for sender in 1..=SENDERS {
            mails.push(format!(
                "From: client{sender}@example.org\r\nTo: sales@shop.test\r\nSubject: Вопрос {n}\r\n\
                 Message-ID: <{sender}.{n}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nТекст {n}\r\n"
            ));
        }
    }
    imap.deliver(&mails).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("RINGSIDE_IMAP_MAILBOXES", imap.url()),
        ("RINGSIDE_IMAP_POLL_SECS", "1".to_owned()),
    ];
    let running = start(dir.path(), &env);
    let cursor = "SELECT COALESCE(MAX(last_uid), 0) FROM imap_cursors";
    until(
        "a third of the mail read",
        Duration::from_secs(60),
        async || {
            // The database appears once the binary has migrated it.
            if !dir.path().join("ringside.db").exists() {
                return false;
            }
            scalar(&database(dir.path()).await, cursor).await > TOTAL / 3
        },
    )
    .await;
    kill(running);
    let db = database(dir.path()).await;
    let at_kill = scalar(&db, cursor).await;
    eprintln!("killed with the cursor at {at_kill} of {TOTAL}");
    assert!(at_kill < TOTAL, "killed mid-stream (cursor at {at_kill})");
    let running = start(dir.path(), &env);
    until(
        "the cursor at the last message",
        Duration::from_secs(120),
        async || scalar(&db, cursor).await == TOTAL,
    )
    .await;
    assert_each_message_once(&db).await;
    kill(running);
}
