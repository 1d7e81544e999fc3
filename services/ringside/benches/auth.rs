//! What authentication costs: verifying a token on every call, next to the one
//! Ed25519 signature check it cannot do without; and signing in with a password, next
//! to the one argon2id check it cannot do without — with the unknown login and the
//! wrong password beside it, which must cost the same.
//!
//! `cargo bench -p ringside --bench auth`

use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use ed25519_dalek::{Signature, Signer, SigningKey};
use ringside_auth::{Role, TokenKey};
use ringside_staff::StaffService;
use ringside_staff::model::UserSpec;

mod common;
use common::{micros, percentile};

const VERIFICATIONS: usize = 20_000;
const SIGN_INS: usize = 40;
const PASSWORD: &str = "correct horse battery";

struct Row {
    what: &'static str,
    p50: Duration,
    p99: Duration,
    floor: Option<(Duration, Duration)>,
}

/// p50 and p99 of `n` sequential runs of `work` (after a tenth of them to warm up).
async fn time<F, Fut>(n: usize, mut work: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..n / 10 {
        work(i).await;
    }
    let mut taken = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        work(i).await;
        taken.push(started.elapsed());
    }
    taken.sort();
    (percentile(&taken, 50), percentile(&taken, 99))
}

async fn tokens(report: &mut Vec<Row>) {
    let key = TokenKey::generate();
    let token = key
        .issue("olga", Role::Agent, Duration::from_secs(300))
        .expect("a token");
    let audience = "ringside.contacts.v1.Contacts";
    // The floor: one strict Ed25519 check of an input as long as the token's.
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let verifying = signing.verifying_key();
    let (input, _) = token.rsplit_once('.').expect("a token");
    let signature: Signature = signing.sign(input.as_bytes());
    let floor = time(VERIFICATIONS, |_| {
        let ok = verifying
            .verify_strict(input.as_bytes(), &signature)
            .is_ok();
        assert!(ok);
        async {}
    })
    .await;
    let verified = time(VERIFICATIONS, |_| {
        let claims = key.verify(&token, audience).expect("valid");
        assert_eq!(claims.sub, "olga");
        async {}
    })
    .await;
    report.push(Row {
        what: "verify a people's access token (header, kid, signature, claims)",
        p50: verified.0,
        p99: verified.1,
        floor: Some(floor),
    });
    let service = key
        .issue_service("notifications", audience, None)
        .expect("a token");
    let verified = time(VERIFICATIONS, |_| {
        key.verify(&service, audience).expect("valid");
        async {}
    })
    .await;
    report.push(Row {
        what: "verify a service token",
        p50: verified.0,
        p99: verified.1,
        floor: Some(floor),
    });
}

async fn sign_ins(report: &mut Vec<Row>) -> anyhow::Result<()> {
    let t = ringside_storage::testing::sqlite().await;
    let staff = StaffService::new(t.db.clone());
    let spec = UserSpec {
        name: "Olga".into(),
        login: "olga@office.example".into(),
        ..Default::default()
    };
    staff
        .create_user("bench", Some("olga".into()), spec)
        .await?;
    staff.signin.set_password("bench", "olga", PASSWORD).await?;
    // The floor: one argon2id check of the password at today's parameters.
    let stored = argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes())
        .expect("hashed")
        .to_string();
    let parsed = PasswordHash::new(&stored).expect("a PHC string");
    let floor = time(SIGN_INS, |_| {
        let ok = argon2::Argon2::default()
            .verify_password(PASSWORD.as_bytes(), &parsed)
            .is_ok();
        assert!(ok);
        async {}
    })
    .await;
    // Each from its own address, so the per-address limit measures nothing here.
    let signin = &staff.signin;
    let right = time(SIGN_INS, |i| async move {
        let address = format!("10.0.0.{}", i % 250);
        signin
            .sign_in("olga@office.example", PASSWORD, &address)
            .await
            .expect("signed in");
    })
    .await;
    let unknown = time(SIGN_INS, |i| async move {
        let address = format!("10.1.0.{}", i % 250);
        let refused = signin
            .sign_in("nobody@office.example", PASSWORD, &address)
            .await;
        assert!(refused.is_err());
    })
    .await;
    // Wrong passwords lock the account after five; a reset between runs keeps the
    // measure on the wrong-password path, not the locked one.
    let wrong = time(SIGN_INS, |i| async move {
        if i % 4 == 0 {
            signin
                .set_password("bench", "olga", PASSWORD)
                .await
                .expect("reset");
        }
        let address = format!("10.2.0.{}", i % 250);
        let refused = signin
            .sign_in("olga@office.example", "not the password", &address)
            .await;
        assert!(refused.is_err());
    })
    .await;
    for (what, (p50, p99)) in [
        (
            "sign in: the right password (SQLite, session stored)",
            right,
        ),
        ("sign in: an unknown login", unknown),
        ("sign in: a wrong password", wrong),
    ] {
        report.push(Row {
            what,
            p50,
            p99,
            floor: Some(floor),
        });
    }
    Ok(())
}

fn print(report: &[Row]) {
    println!(
        "\n{:<66} {:>10} {:>10} {:>12} {:>12} {:>7}",
        "", "p50 µs", "p99 µs", "floor p50", "floor p99", "× p50"
    );
    for r in report {
        let (fp50, fp99) = r.floor.unwrap_or_default();
        let ratio = micros(r.p50) / micros(fp50).max(f64::MIN_POSITIVE);
        println!(
            "{:<66} {:>10.1} {:>10.1} {:>12.1} {:>12.1} {:>7.2}",
            r.what,
            micros(r.p50),
            micros(r.p99),
            micros(fp50),
            micros(fp99),
            ratio
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut report = Vec::new();
    tokens(&mut report).await;
    sign_ins(&mut report).await?;
    print(&report);
    Ok(())
}
