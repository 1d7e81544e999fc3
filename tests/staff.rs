//! The staff service over gRPC, as an admin and the people it manages see it, in both
//! ways of running (`serve staff` on PostgreSQL beside the other services).

use std::time::Duration;

use ringside_auth::Role;
use ringside_proto::staff::v1 as pb;
use ringside_proto::staff::v1::staff_client::StaffClient;
use support::{Bearer, Suite, all_in_one, card_services};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = StaffClient<InterceptedService<Channel, Bearer>>;

async fn staff(suite: &Suite, user: &str, role: Role) -> Client {
    let token = suite
        .key
        .issue(user, role, Duration::from_secs(600))
        .expect("a token");
    StaffClient::with_interceptor(suite.channel().await, Bearer(Some(token)))
}

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
    let mut admin = staff(suite, "boss", Role::Admin).await;
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
    let mut manager = staff(suite, "lena", Role::Manager).await;
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
    let mut olga = staff(suite, "olga", Role::Agent).await;
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
    let staff_suite = suites
        .iter()
        .find(|s| s.running.grpc_services.contains(&"ringside.staff.v1.Staff"))
        .expect("serve staff");
    an_office_is_staffed_by_its_admin(staff_suite).await;
    for suite in suites {
        suite.stop().await;
    }
}
