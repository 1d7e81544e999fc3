//! Personal API tokens on SQLite and (when configured) PostgreSQL: made and shown once,
//! kept only as a hash, listed with their last use, exchanged for their owner's role
//! as it is now (or the lower role a token is scoped to), and refused once revoked,
//! expired or their owner is deactivated.

use std::time::Duration;

use ringside_staff::StaffService;
use ringside_staff::api_tokens::PREFIX;
use ringside_staff::error::StaffError;
use ringside_staff::model::UserSpec;
use ringside_storage::testing::{TestDb, all_backends};

const DAY: Duration = Duration::from_secs(86_400);

async fn staff_with_olga(t: &TestDb) -> StaffService {
    let svc = StaffService::new(t.db.clone());
    let spec = UserSpec {
        name: "Olga".into(),
        ..Default::default()
    };
    svc.create_user("admin", Some("olga".into()), spec)
        .await
        .expect("olga");
    svc
}

fn refused<T: std::fmt::Debug>(result: Result<T, StaffError>) {
    assert!(
        matches!(result, Err(StaffError::Unauthenticated(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_token_is_shown_once_kept_hashed_and_exchanged_for_its_owners_role_now() {
    for t in all_backends().await {
        let svc = staff_with_olga(&t).await;
        let tokens = &svc.api_tokens;
        let (text, kept) = tokens
            .create("olga", "CRM export", 30 * DAY, "")
            .await
            .expect("made");
        assert!(text.starts_with(PREFIX) && text.len() > 40, "{text}");
        let stored: Vec<String> = sqlx::query_scalar("SELECT secret_hash FROM api_tokens")
            .fetch_all(t.db.pool())
            .await
            .expect("rows");
        assert_eq!(stored.len(), 1);
        assert!(
            !stored[0].contains(&text[PREFIX.len()..]),
            "only a hash is kept"
        );
        assert_eq!(tokens.list("olga").await.unwrap()[0].last_used_at, None);

        assert_eq!(
            tokens.exchange(&text).await.expect("exchanged").role,
            "agent"
        );
        let listed = tokens.list("olga").await.unwrap();
        assert_eq!(listed[0].id, kept.id);
        assert!(listed[0].last_used_at.is_some(), "{:?}", t.backend());

        // Promoted since: the next exchange carries the new role.
        let manager = UserSpec {
            name: "Olga".into(),
            role: "manager".into(),
            ..Default::default()
        };
        svc.update_user("admin", "olga", manager)
            .await
            .expect("promoted");
        assert_eq!(tokens.exchange(&text).await.unwrap().role, "manager");

        refused(tokens.exchange("rs_pat_not-a-token").await);
        refused(tokens.exchange("").await);
    }
}

#[tokio::test]
async fn revoked_expired_and_deactivated_owners_tokens_are_refused() {
    for t in all_backends().await {
        let svc = staff_with_olga(&t).await;
        let tokens = &svc.api_tokens;
        let (revoked, kept) = tokens.create("olga", "old script", DAY, "").await.unwrap();
        tokens.revoke("olga", &kept.id).await.expect("revoked");
        refused(tokens.exchange(&revoked).await);
        assert!(matches!(
            tokens.revoke("olga", &kept.id).await,
            Err(StaffError::NotFound { .. })
        ));
        assert!(tokens.list("olga").await.unwrap()[0].revoked_at.is_some());

        let (expired, kept) = tokens.create("olga", "short", DAY, "").await.unwrap();
        sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE id = $1")
            .bind(&kept.id)
            .execute(t.db.pool())
            .await
            .expect("expired");
        refused(tokens.exchange(&expired).await);

        let (live, _) = tokens.create("olga", "nightly", DAY, "").await.unwrap();
        tokens.exchange(&live).await.expect("live");
        svc.set_active("admin", "olga", false)
            .await
            .expect("deactivated");
        refused(tokens.exchange(&live).await);
        assert!(
            tokens.create("olga", "again", DAY, "").await.is_err(),
            "a deactivated user makes no tokens"
        );

        for bad in [Duration::ZERO, 400 * DAY] {
            let made = tokens.create("olga", "x", bad, "").await;
            assert!(matches!(made, Err(StaffError::Invalid(_))), "{bad:?}");
        }
        let trail = svc.audit_trail("olga", 0, 50).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|l| l.action.as_str()).collect();
        assert!(actions.contains(&"api_token_created") && actions.contains(&"api_token_revoked"));
    }
}

#[tokio::test]
async fn a_token_scoped_below_its_owner_never_does_more_than_its_scope_or_its_owner() {
    for t in all_backends().await {
        let svc = StaffService::new(t.db.clone());
        let spec = |role: &str| UserSpec {
            name: "Anna".into(),
            role: role.into(),
            ..Default::default()
        };
        svc.create_user("admin", Some("anna".into()), spec("admin"))
            .await
            .expect("anna");
        let tokens = &svc.api_tokens;
        let (as_agent, kept) = tokens
            .create("anna", "reports", DAY, "agent")
            .await
            .expect("made");
        assert_eq!(kept.role, "agent");
        let (as_manager, _) = tokens
            .create("anna", "team", DAY, "manager")
            .await
            .expect("made");
        assert_eq!(tokens.exchange(&as_agent).await.unwrap().role, "agent");
        assert_eq!(tokens.exchange(&as_manager).await.unwrap().role, "manager");
        assert!(
            matches!(
                tokens.create("anna", "x", DAY, "owner").await,
                Err(StaffError::Invalid(_))
            ),
            "no such role"
        );

        // Anna is made an agent: her manager-scoped token is worth an agent's now,
        // and she cannot make one worth more than she is.
        svc.update_user("admin", "anna", spec("agent"))
            .await
            .expect("demoted");
        assert_eq!(tokens.exchange(&as_manager).await.unwrap().role, "agent");
        assert!(matches!(
            tokens.create("anna", "more", DAY, "manager").await,
            Err(StaffError::PermissionDenied(_))
        ));
        assert_eq!(
            tokens.list("anna").await.unwrap().len(),
            2,
            "nothing written"
        );
    }
}
