//! The staff service over gRPC, as an admin and the people it manages see it, in both
//! ways of running (`serve staff` on PostgreSQL beside the other services).

use ringside_auth::Role;
use ringside_proto::staff::v1 as pb;
use support::{Suite, all_in_one, card_services};
use tonic::Code;

fn person(
    id: &str,
    login: &str,
    role: &str,
    team: &str,
    extensions: &[&str],
) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        id: id.into(),
        details: Some(pb::UserDetails {
            name: format!("Person {id}"),
            login: login.into(),
            role: role.into(),
            team_ids: vec![team.into()],
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
            locale: "ru".into(),
            time_zone: "Europe/Moscow".into(),
            ..Default::default()
        }),
    }
}

async fn an_office_is_staffed_by_its_admin(suite: &Suite) {
    let mut admin = suite.staff_as("boss", Role::Admin).await;
    let team = admin
        .create_team(pb::CreateTeamRequest {
            id: String::new(),
            name: "Продажи".into(),
        })
        .await
        .expect("a team")
        .into_inner();
    let lena = person("lena", "Lena@Office.Example", "manager", &team.id, &[]);
    admin.create_user(lena).await.expect("the head of sales");
    let olga = person("olga", "olga@office.example", "agent", &team.id, &["101"]);
    admin.create_user(olga).await.expect("an agent");
    let led = admin
        .update_team(pb::UpdateTeamRequest {
            id: team.id.clone(),
            name: team.name.clone(),
            head_ids: vec!["lena".into()],
        })
        .await
        .expect("heads")
        .into_inner();
    assert_eq!(led.head_ids, vec!["lena"], "{}", suite.name);

    // What other services ask: who sits at 101.
    let mut manager = suite.staff_as("lena", Role::Manager).await;
    let found = manager
        .find_user(pb::FindUserRequest {
            by: Some(pb::find_user_request::By::Extension("101".into())),
        })
        .await
        .expect("found")
        .into_inner();
    let teams = found.details.map(|d| d.team_ids).unwrap_or_default();
    assert_eq!((found.id.as_str(), teams), ("olga", vec![team.id.clone()]));

    // Refusals name what is wrong and change nothing.
    let taken = admin
        .create_user(person("ivan", "", "agent", &team.id, &["101"]))
        .await
        .unwrap_err();
    assert_eq!(taken.code(), Code::AlreadyExists, "{}", suite.name);
    let bad = admin
        .create_user(person("ivan", "not an email", "agent", &team.id, &[]))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("login"), "{}", bad.message());
    let mut olga = suite.staff_as("olga", Role::Agent).await;
    let promoted = olga
        .update_user(pb::UpdateUserRequest {
            id: "olga".into(),
            details: Some(pb::UserDetails {
                name: "Olga".into(),
                role: "admin".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(promoted.code(), Code::PermissionDenied);
    let listed = manager
        .list_users(pb::ListUsersRequest::default())
        .await
        .expect("list")
        .into_inner()
        .users;
    let people: Vec<(&str, &str)> = listed
        .iter()
        .map(|u| {
            (
                u.id.as_str(),
                u.details.as_ref().map_or("", |d| d.role.as_str()),
            )
        })
        .collect();
    assert_eq!(
        people,
        vec![("lena", "manager"), ("olga", "agent")],
        "{}",
        suite.name
    );

    // Deactivated: 101 rings for no one.
    admin
        .set_user_active(pb::SetUserActiveRequest {
            id: "olga".into(),
            active: false,
        })
        .await
        .expect("deactivated");
    let gone = manager
        .find_user(pb::FindUserRequest {
            by: Some(pb::find_user_request::By::Extension("101".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn an_admin_staffs_the_office_all_in_one() {
    let suite = all_in_one().await;
    an_office_is_staffed_by_its_admin(&suite).await;
    suite.stop().await;
}

#[tokio::test]
async fn an_admin_staffs_the_office_as_services() {
    let Some(suites) = card_services().await else {
        return;
    };
    an_office_is_staffed_by_its_admin(support::staff_suite(&suites)).await;
    for suite in suites {
        suite.stop().await;
    }
}

/// What the web front does for a browser: signs a person in with their password,
/// opens the session for an access token of minutes that the other services take,
/// and signs out.
async fn a_person_signs_in_and_the_session_gives_tokens(staff: &Suite, contacts: &Suite) {
    let mut admin = staff.staff_as("boss", Role::Admin).await;
    let olga = person("olga", "olga@office.example", "agent", "", &[]);
    let olga = pb::CreateUserRequest {
        details: olga.details.map(|d| pb::UserDetails {
            team_ids: Vec::new(),
            ..d
        }),
        ..olga
    };
    admin.create_user(olga).await.expect("olga");
    admin
        .set_password(pb::SetPasswordRequest {
            user_id: "olga".into(),
            password: "correct horse battery".into(),
        })
        .await
        .expect("her password");

    let front = staff.service_token("ringside.staff.v1.Staff");
    let mut web = staff.staff_with(front).await;
    let signed = web
        .sign_in(pb::SignInRequest {
            login: "olga@office.example".into(),
            password: "correct horse battery".into(),
            client_address: "192.0.2.10".into(),
        })
        .await
        .expect("signed in")
        .into_inner();
    let wrong = web
        .sign_in(pb::SignInRequest {
            login: "olga@office.example".into(),
            password: "not her password".into(),
            client_address: "192.0.2.10".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated, "{}", staff.name);
    let opened = web
        .open_session(pb::OpenSessionRequest {
            session_secret: signed.session_secret.clone(),
        })
        .await
        .expect("open")
        .into_inner();
    assert_eq!(opened.user.map(|u| u.id).as_deref(), Some("olga"));

    // The access token is Olga's, an agent's, for every service.
    let mut as_olga = contacts
        .client_with(Some(opened.access_token.clone()))
        .await;
    as_olga
        .list_contacts(ringside_proto::contacts::v1::ListContactsRequest::default())
        .await
        .expect("an agent reads contacts");
    let merged = as_olga
        .merge_contacts(ringside_proto::contacts::v1::MergeContactsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(merged.code(), Code::PermissionDenied);

    // Olga makes an API token for a script; the script trades it, with no bearer
    // token of its own, for access tokens with her role.
    let mut olga_staff = staff.staff_with(opened.access_token.clone()).await;
    let made = olga_staff
        .create_api_token(pb::CreateApiTokenRequest {
            name: "nightly export".into(),
            ttl_days: 30,
            ..Default::default()
        })
        .await
        .expect("an API token")
        .into_inner();
    let mut script = staff.staff_with(String::new()).await;
    let traded = script
        .exchange_api_token(pb::ExchangeApiTokenRequest {
            api_token: made.token.clone(),
        })
        .await
        .expect("exchanged")
        .into_inner();
    let mut as_script = contacts.client_with(Some(traded.access_token)).await;
    as_script
        .list_contacts(ringside_proto::contacts::v1::ListContactsRequest::default())
        .await
        .expect("the script reads as Olga");
    let listed = olga_staff
        .list_api_tokens(pb::ListApiTokensRequest {})
        .await
        .expect("her tokens")
        .into_inner()
        .api_tokens;
    assert!(listed[0].last_used_at.is_some(), "{}", staff.name);
    olga_staff
        .revoke_api_token(pb::RevokeApiTokenRequest {
            id: listed[0].id.clone(),
        })
        .await
        .expect("revoked");
    let refused = script
        .exchange_api_token(pb::ExchangeApiTokenRequest {
            api_token: made.token,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    let out = web
        .sign_out(pb::SignOutRequest {
            session_secret: signed.session_secret.clone(),
        })
        .await
        .expect("signed out")
        .into_inner();
    assert_eq!(out.sessions_ended, 1, "{}", staff.name);
    let ended = web
        .open_session(pb::OpenSessionRequest {
            session_secret: signed.session_secret,
        })
        .await
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unauthenticated);

    let trail = admin
        .list_audit(pb::ListAuditRequest {
            subject: "olga".into(),
            ..Default::default()
        })
        .await
        .expect("the admin reads the audit trail")
        .into_inner()
        .entries;
    let seen: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("api_token_revoked", "done"),
            ("api_token_created", "done"),
            ("sign_in", "wrong_password"),
            ("sign_in", "signed_in"),
            ("password_set", "done"),
            ("user_created", "done"),
        ],
        "{}",
        staff.name
    );
    let mut manager = staff.staff_as("lena", Role::Manager).await;
    let denied = manager
        .list_audit(pb::ListAuditRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_person_signs_in_with_a_password_all_in_one() {
    let suite = all_in_one().await;
    a_person_signs_in_and_the_session_gives_tokens(&suite, &suite).await;
    suite.stop().await;
}

#[tokio::test]
async fn a_person_signs_in_with_a_password_as_services() {
    let Some(suites) = card_services().await else {
        return;
    };
    a_person_signs_in_and_the_session_gives_tokens(support::staff_suite(&suites), &suites[0]).await;
    for suite in suites {
        suite.stop().await;
    }
}
