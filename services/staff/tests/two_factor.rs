//! The second factor, on SQLite and (when `RINGSIDE_TEST_DATABASE_URL` is set)
//! PostgreSQL: a person turns TOTP on and then signs in with password and code; a
//! code is taken once (a replay is refused); recovery codes work once each; wrong
//! codes lock the account as wrong passwords do; an admin who must have a factor sets
//! it up at sign-in and cannot turn it off; an admin's reset takes it off.

use std::time::{SystemTime, UNIX_EPOCH};

use ringside_staff::StaffService;
use ringside_staff::error::StaffError;
use ringside_staff::model::UserSpec;
use ringside_staff::signin::{SignInConfig, SignedIn};
use ringside_storage::testing::{TestDb, all_backends};

const PASSWORD: &str = "correct horse battery";
const LOGIN: &str = "olga@office.example";

/// Staff with Olga (of `role`, with a password) on `t`, under `config`.
async fn olga(t: &TestDb, role: &str, config: SignInConfig) -> StaffService {
    let svc = StaffService::with_sign_in(t.db.clone(), config);
    let spec = UserSpec {
        name: "Olga".into(),
        login: LOGIN.into(),
        role: role.into(),
        ..Default::default()
    };
    svc.create_user("root", Some("olga".into()), spec)
        .await
        .expect("olga");
    svc.signin
        .set_password("root", "olga", PASSWORD)
        .await
        .expect("her password");
    svc
}

/// What her authenticator app shows `ahead` steps of 30 s from now.
fn app_code(secret: &str, ahead: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let app = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .expect("an app");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    app.generate(now + 30 * ahead).to_string()
}

/// The challenge of a sign-in that asks for a code (and the secret it enrols).
async fn password_step(svc: &StaffService) -> (String, Option<String>) {
    match svc.signin.sign_in(LOGIN, PASSWORD, "10.0.0.1").await {
        Ok(SignedIn::SecondStep {
            challenge, enrol, ..
        }) => (challenge, enrol.map(|e| e.secret)),
        other => panic!("expected a second step, got {other:?}"),
    }
}

async fn code_step(
    svc: &StaffService,
    challenge: &str,
    code: &str,
) -> Result<SignedIn, StaffError> {
    svc.signin
        .sign_in_with_code(challenge, code, "10.0.0.1")
        .await
}

fn refusal(result: Result<SignedIn, StaffError>) -> String {
    match result {
        Err(StaffError::Unauthenticated(why)) => why.to_owned(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Olga's sign-in code outcomes in the audit trail, oldest first.
async fn code_outcomes(svc: &StaffService) -> Vec<String> {
    let mut lines = svc.audit_trail("olga", 0, 100).await.expect("audit");
    lines.reverse();
    let codes = lines.into_iter().filter(|l| l.action == "sign_in_code");
    codes.map(|l| l.outcome).collect()
}

/// Turns Olga's factor on: the secret, and her recovery codes.
async fn turn_on(svc: &StaffService) -> (String, Vec<String>) {
    let wrong = svc.signin.start_totp("olga", "not her password").await;
    assert!(
        matches!(wrong, Err(StaffError::Unauthenticated(_))),
        "{wrong:?}"
    );
    let enrolment = svc
        .signin
        .start_totp("olga", PASSWORD)
        .await
        .expect("started");
    assert!(enrolment.url.starts_with("otpauth://totp/Ringside:"));
    let wrong = svc.signin.confirm_totp("olga", "000000").await;
    assert!(matches!(wrong, Err(StaffError::Invalid(_))), "{wrong:?}");
    let codes = svc
        .signin
        .confirm_totp("olga", &app_code(&enrolment.secret, 0))
        .await
        .expect("confirmed");
    (enrolment.secret, codes)
}

#[tokio::test]
async fn with_a_second_factor_a_password_asks_for_a_code_taken_once() {
    for t in all_backends().await {
        let svc = olga(&t, "agent", SignInConfig::default()).await;
        let (secret, codes) = turn_on(&svc).await;
        assert_eq!(codes.len(), 10);
        assert!(svc.get_user("olga").await.unwrap().two_factor);
        let again = svc.signin.start_totp("olga", PASSWORD).await;
        assert!(matches!(again, Err(StaffError::Refused(_))), "{again:?}");

        let (challenge, enrol) = password_step(&svc).await;
        assert_eq!(enrol, None, "nothing to set up");
        let code = app_code(&secret, 1);
        let signed = code_step(&svc, &challenge, &code).await.expect("in");
        let (session, user) = signed.session().expect("a session");
        assert_eq!(user.id, "olga");
        svc.signin.open(&session).await.expect("it holds");

        // The same code, seen over her shoulder, on a new sign-in.
        let (challenge, _) = password_step(&svc).await;
        assert_eq!(
            refusal(code_step(&svc, &challenge, &code).await),
            "wrong code"
        );
        // A recovery code, once.
        let recovery = codes[3].to_uppercase();
        code_step(&svc, &challenge, &recovery)
            .await
            .expect("recovered");
        let (challenge, _) = password_step(&svc).await;
        assert_eq!(
            refusal(code_step(&svc, &challenge, &recovery).await),
            "wrong code"
        );
        assert_eq!(
            code_outcomes(&svc).await,
            ["signed_in", "replayed_code", "signed_in", "wrong_code"],
            "{:?}",
            t.backend()
        );
        assert_eq!(svc.signin.two_factor("olga").await.unwrap(), (true, 9));
    }
}

#[tokio::test]
async fn wrong_codes_end_the_step_and_lock_the_account_as_wrong_passwords_do() {
    for t in all_backends().await {
        let config = SignInConfig {
            free_failures: 7,
            ..SignInConfig::default()
        };
        let svc = olga(&t, "agent", config).await;
        let (secret, _) = turn_on(&svc).await;
        let (challenge, _) = password_step(&svc).await;
        for _ in 0..4 {
            assert_eq!(
                refusal(code_step(&svc, &challenge, "123456").await),
                "wrong code"
            );
        }
        let fifth = refusal(code_step(&svc, &challenge, "123456").await);
        assert!(fifth.contains("has ended"), "{fifth}");
        let good = app_code(&secret, 1);
        let ended = refusal(code_step(&svc, &challenge, &good).await);
        assert!(ended.contains("has ended"), "{ended}");

        // The failures stand across the password step: two more and she is locked,
        // and then neither her password nor a right code lets her in.
        let (challenge, _) = password_step(&svc).await;
        refusal(code_step(&svc, &challenge, "654321").await);
        refusal(code_step(&svc, &challenge, "654320").await);
        assert_eq!(
            refusal(code_step(&svc, &challenge, &good).await),
            "this sign-in has ended; enter your password again"
        );
        let locked = svc.signin.sign_in(LOGIN, PASSWORD, "10.0.0.1").await;
        assert!(
            matches!(locked, Err(StaffError::Unauthenticated(_))),
            "{locked:?}"
        );
        let outcomes = code_outcomes(&svc).await;
        assert_eq!(
            outcomes.last().unwrap(),
            "wrong_code_locked",
            "{outcomes:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_who_must_have_a_factor_sets_it_up_at_sign_in_and_keeps_it() {
    for t in all_backends().await {
        let config = SignInConfig {
            admin_two_factor: true,
            ..SignInConfig::default()
        };
        let svc = olga(&t, "admin", config).await;
        let (challenge, enrol) = password_step(&svc).await;
        let secret = enrol.expect("a secret to set up");
        assert_eq!(
            refusal(code_step(&svc, &challenge, "000000").await),
            "wrong code"
        );
        assert!(
            !svc.get_user("olga").await.unwrap().two_factor,
            "not on yet"
        );
        let code = app_code(&secret, 0);
        let signed = code_step(&svc, &challenge, &code).await.expect("in");
        let SignedIn::Session { recovery_codes, .. } = signed else {
            panic!("a session");
        };
        assert_eq!(recovery_codes.len(), 10, "shown once, now");
        assert!(svc.get_user("olga").await.unwrap().two_factor);

        let (challenge, enrol) = password_step(&svc).await;
        assert_eq!(enrol, None, "set up already");
        code_step(&svc, &challenge, &app_code(&secret, 1))
            .await
            .expect("in");
        let off = svc.signin.disable_totp("olga", &app_code(&secret, 1)).await;
        assert!(matches!(off, Err(StaffError::Refused(_))), "{off:?}");

        // She lost her phone: another admin's reset ends her sessions, and the next
        // sign-in sets a new factor up.
        assert!(svc.signin.reset_totp("root", "olga").await.unwrap());
        let (_, enrol) = password_step(&svc).await;
        assert!(enrol.is_some_and(|new| new != secret));
    }
}

#[tokio::test]
async fn a_person_turns_their_factor_off_with_a_code_and_signs_in_with_the_password_alone() {
    for t in all_backends().await {
        let svc = olga(&t, "agent", SignInConfig::default()).await;
        let (secret, _) = turn_on(&svc).await;
        let wrong = svc.signin.disable_totp("olga", "111111").await;
        assert!(matches!(wrong, Err(StaffError::Invalid(_))), "{wrong:?}");
        svc.signin
            .disable_totp("olga", &app_code(&secret, 1))
            .await
            .expect("off");
        let signed = svc.signin.sign_in(LOGIN, PASSWORD, "10.0.0.1").await;
        assert!(signed.unwrap().session().is_some(), "no code asked");
        let trail = svc.audit_trail("olga", 0, 100).await.unwrap();
        let off: Vec<&str> = trail
            .iter()
            .filter(|l| l.action == "two_factor_disabled")
            .map(|l| l.outcome.as_str())
            .collect();
        assert_eq!(off, ["done", "wrong_code"], "newest first");
    }
}

#[tokio::test]
async fn a_stale_step_cannot_replace_a_factor_and_whatever_ends_sessions_ends_steps() {
    for t in all_backends().await {
        let config = SignInConfig {
            admin_two_factor: true,
            ..SignInConfig::default()
        };
        let svc = olga(&t, "admin", config).await;
        // Someone with her password starts a sign-in; she sets her factor up on another.
        let (theirs, their_secret) = password_step(&svc).await;
        let (hers, her_secret) = password_step(&svc).await;
        let her_secret = her_secret.expect("a secret");
        code_step(&svc, &hers, &app_code(&her_secret, 0))
            .await
            .expect("set up");
        let late = code_step(&svc, &theirs, &app_code(&their_secret.unwrap(), 0)).await;
        assert!(refusal(late).contains("has ended"));
        let (challenge, enrol) = password_step(&svc).await;
        assert_eq!(enrol, None, "hers stands");

        svc.signin
            .set_password("root", "olga", "a brand new password")
            .await
            .unwrap();
        let after = code_step(&svc, &challenge, &app_code(&her_secret, 1)).await;
        assert!(
            refusal(after).contains("has ended"),
            "a new password ends it"
        );

        let own = svc.signin.reset_totp("olga", "olga").await;
        assert!(
            matches!(own, Err(StaffError::PermissionDenied(_))),
            "{own:?}"
        );
    }
}

#[tokio::test]
async fn wrong_codes_sent_at_once_all_count() {
    for t in all_backends().await {
        let config = SignInConfig {
            free_failures: 3,
            ..SignInConfig::default()
        };
        let svc = olga(&t, "agent", config).await;
        turn_on(&svc).await;
        let mut steps = Vec::new();
        for _ in 0..4 {
            steps.push(password_step(&svc).await.0);
        }
        let tries = steps.iter().map(|c| code_step(&svc, c, "123456"));
        for refused in futures::future::join_all(tries).await {
            refusal(refused);
        }
        let locked = svc.signin.sign_in(LOGIN, PASSWORD, "10.0.0.1").await;
        assert!(
            matches!(locked, Err(StaffError::Unauthenticated(_))),
            "four failures lock her: {locked:?} on {:?}",
            t.backend()
        );
    }
}
