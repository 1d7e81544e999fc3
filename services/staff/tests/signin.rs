//! Signing in with a password and the sessions it opens, on SQLite and (when
//! `RINGSIDE_TEST_DATABASE_URL` is set) PostgreSQL: the lock after repeated failures,
//! one answer for every refusal, the per-address limit, and every way a session ends.

use std::time::Duration;

use ringside_staff::StaffService;
use ringside_staff::error::StaffError;
use ringside_staff::model::UserSpec;
use ringside_staff::signin::SignInConfig;
use ringside_storage::testing::{TestDb, all_backends};

const PASSWORD: &str = "correct horse battery";

/// Staff with Olga (an agent with a password) on `t`, under `config`.
async fn olga(t: &TestDb, config: SignInConfig) -> StaffService {
    let svc = StaffService::with_sign_in(t.db.clone(), config);
    let spec = UserSpec {
        name: "Olga".into(),
        login: "olga@office.example".into(),
        ..Default::default()
    };
    svc.create_user("admin", Some("olga".into()), spec)
        .await
        .expect("olga");
    svc.signin
        .set_password("admin", "olga", PASSWORD)
        .await
        .expect("her password");
    svc
}

fn refused<T: std::fmt::Debug>(result: Result<T, StaffError>) -> String {
    match result {
        Err(StaffError::Unauthenticated(why)) => why.to_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn outcomes(svc: &StaffService) -> Vec<String> {
    let mut lines = svc.audit_trail("", 0, 100).await.expect("audit");
    lines.reverse();
    lines
        .into_iter()
        .filter(|l| l.action == "sign_in")
        .map(|l| l.outcome)
        .collect()
}

#[tokio::test]
async fn a_password_signs_in_and_the_session_holds_until_signed_out() {
    for t in all_backends().await {
        let svc = olga(&t, SignInConfig::default()).await;
        let (secret, user) = svc
            .signin
            .sign_in(" Olga@Office.Example ", PASSWORD, "10.0.0.1")
            .await
            .expect("signed in")
            .session()
            .unwrap();
        assert_eq!(user.id, "olga");
        assert!(secret.len() >= 43, "a 256-bit secret");
        assert_eq!(svc.signin.open(&secret).await.expect("open").id, "olga");
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE secret_hash = $1")
                .bind(&secret)
                .fetch_one(t.db.pool())
                .await
                .expect("count");
        assert_eq!(stored, 0, "the secret itself is not stored");
        svc.signin.sign_out(&secret).await.expect("signed out");
        refused(svc.signin.open(&secret).await);
        assert_eq!(outcomes(&svc).await, vec!["signed_in"], "{:?}", t.backend());
    }
}

#[tokio::test]
async fn refusals_answer_alike_and_repeated_failures_lock_the_account() {
    for t in all_backends().await {
        let config = SignInConfig {
            free_failures: 3,
            first_lock: Duration::from_secs(60),
            ..SignInConfig::default()
        };
        let svc = olga(&t, config).await;
        let signin = &svc.signin;
        let unknown = refused(signin.sign_in("nobody@office.example", PASSWORD, "a").await);
        let wrong = refused(
            signin
                .sign_in("olga@office.example", "not her password", "a")
                .await,
        );
        assert_eq!(
            unknown, wrong,
            "an unknown login is answered like a wrong password"
        );
        for _ in 0..3 {
            refused(
                signin
                    .sign_in("olga@office.example", "still not it", "a")
                    .await,
            );
        }
        // Locked now: the right password is refused with the same answer.
        let locked = refused(signin.sign_in("olga@office.example", PASSWORD, "a").await);
        assert_eq!(locked, wrong);
        assert_eq!(
            outcomes(&svc).await,
            vec![
                "unknown_login",
                "wrong_password",
                "wrong_password",
                "wrong_password",
                "wrong_password_locked",
                "locked"
            ],
            "{:?}",
            t.backend()
        );
        // An admin's new password lifts the lock.
        signin
            .set_password("admin", "olga", "a new long password")
            .await
            .expect("reset");
        signin
            .sign_in("olga@office.example", "a new long password", "a")
            .await
            .expect("signed in after the reset");
    }
}

#[tokio::test]
async fn one_address_is_held_to_its_rate_even_with_the_right_password() {
    for t in all_backends().await {
        let config = SignInConfig {
            address_burst: 2,
            address_every: Duration::from_secs(3600),
            ..SignInConfig::default()
        };
        let svc = olga(&t, config).await;
        for _ in 0..2 {
            refused(
                svc.signin
                    .sign_in("olga@office.example", "wrong one!", "203.0.113.9")
                    .await,
            );
        }
        let limited = svc
            .signin
            .sign_in("olga@office.example", PASSWORD, "203.0.113.9")
            .await;
        assert!(
            matches!(limited, Err(StaffError::TooManyAttempts)),
            "{limited:?}"
        );
        svc.signin
            .sign_in("olga@office.example", PASSWORD, "198.51.100.7")
            .await
            .expect("another address is not held back");
    }
}

#[tokio::test]
async fn a_session_ends_when_idle_at_its_limit_and_on_every_change_that_must_end_it() {
    for t in all_backends().await {
        let short = SignInConfig {
            idle: Duration::from_millis(300),
            ..SignInConfig::default()
        };
        let svc = olga(&t, short).await;
        let (idle, _) = svc
            .signin
            .sign_in("olga@office.example", PASSWORD, "a")
            .await
            .unwrap()
            .session()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        refused(svc.signin.open(&idle).await);

        let brief = SignInConfig {
            absolute: Duration::from_millis(300),
            ..SignInConfig::default()
        };
        let svc = StaffService::with_sign_in(t.db.clone(), brief);
        let (used, _) = svc
            .signin
            .sign_in("olga@office.example", PASSWORD, "b")
            .await
            .unwrap()
            .session()
            .unwrap();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = svc.signin.open(&used).await; // kept busy, still ends at its limit
        }
        refused(svc.signin.open(&used).await);

        let svc = StaffService::new(t.db.clone());
        let sign_in = || svc.signin.sign_in("olga@office.example", PASSWORD, "c");
        let (a, _) = sign_in().await.unwrap().session().unwrap();
        let (b, _) = sign_in().await.unwrap().session().unwrap();
        assert_eq!(
            svc.signin
                .sign_out_everywhere("olga", "olga")
                .await
                .unwrap(),
            2
        );
        refused(svc.signin.open(&a).await);
        refused(svc.signin.open(&b).await);

        let (s, _) = sign_in().await.unwrap().session().unwrap();
        svc.signin
            .change_password("olga", PASSWORD, "another long password")
            .await
            .expect("changed");
        refused(svc.signin.open(&s).await);
        let sign_in = || {
            svc.signin
                .sign_in("olga@office.example", "another long password", "c")
        };

        let (s, _) = sign_in().await.unwrap().session().unwrap();
        let manager = UserSpec {
            name: "Olga".into(),
            login: "olga@office.example".into(),
            role: "manager".into(),
            ..Default::default()
        };
        svc.update_user("admin", "olga", manager)
            .await
            .expect("promoted");
        refused(svc.signin.open(&s).await);

        let (s, _) = sign_in().await.unwrap().session().unwrap();
        svc.set_active("admin", "olga", false)
            .await
            .expect("deactivated");
        refused(svc.signin.open(&s).await);
        refused(sign_in().await);
    }
}

#[tokio::test]
async fn the_audit_trail_cannot_be_changed() {
    for t in all_backends().await {
        let svc = olga(&t, SignInConfig::default()).await;
        let trail = svc.audit_trail("olga", 0, 10).await.expect("audit");
        let actions: Vec<&str> = trail.iter().map(|l| l.action.as_str()).collect();
        assert_eq!(
            actions,
            vec!["password_set", "user_created"],
            "{:?}",
            t.backend()
        );
        for sql in ["UPDATE audit SET outcome = 'forged'", "DELETE FROM audit"] {
            let tried = sqlx::query(sql).execute(t.db.pool()).await;
            assert!(tried.is_err(), "{sql} must fail on {:?}", t.backend());
        }
        assert_eq!(svc.audit_trail("olga", 0, 10).await.unwrap(), trail);
    }
}
