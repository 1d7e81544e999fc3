//! Who may call what, as a caller sees it: every method of the suite's gRPC API —
//! taken from the descriptor set the servers publish, so a new method cannot be
//! forgotten — called as each role, with an admin's personal API token scoped to an
//! agent (it must answer as an agent), and anonymously, in both ways of running, each
//! answer checked against the permission table; and the exploit that started the
//! table (an agent rewriting another agent, or making itself admin) refused by staff.

use std::time::Duration;

use prost::Message;
use ringside_auth::policy::{self, Refusal};
use ringside_auth::{Role, TokenKey};
use ringside_proto::staff::v1 as spb;
use support::{Person, Suite, all_in_one};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// A method of the API, as the descriptor set describes it.
#[derive(Debug, Clone)]
struct Method {
    /// `ringside.contacts.v1.Contacts`
    service: String,
    /// `/ringside.contacts.v1.Contacts/GetContact`
    path: String,
    server_streaming: bool,
}

/// Every method of every service in the suite's descriptor set.
fn methods() -> Vec<Method> {
    let set = prost_types::FileDescriptorSet::decode(ringside_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    let mut methods = Vec::new();
    for file in set.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                methods.push(Method {
                    service: name.clone(),
                    path: format!("/{name}/{}", method.name()),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    methods
}

#[test]
fn the_table_lists_every_method_and_nothing_else() {
    let methods = methods();
    assert!(methods.len() > 50, "the descriptor set lists the API");
    let unlisted: Vec<&str> = methods
        .iter()
        .filter(|m| policy::action(&m.path).is_none())
        .map(|m| m.path.as_str())
        .collect();
    assert!(
        unlisted.is_empty(),
        "methods without an entry: {unlisted:?}"
    );
    let stale: Vec<&str> = policy::METHODS
        .iter()
        .map(|(path, _)| *path)
        .filter(|path| !methods.iter().any(|m| m.path == *path))
        .collect();
    assert!(stale.is_empty(), "entries for no method: {stale:?}");
}

/// Sends an empty message and ignores the reply's content: the test asks only whether
/// the call got past the guard.
#[derive(Clone, Copy, Default)]
struct Empty;

impl Codec for Empty {
    type Encode = ();
    type Decode = ();
    type Encoder = Empty;
    type Decoder = Empty;
    fn encoder(&mut self) -> Empty {
        Empty
    }
    fn decoder(&mut self) -> Empty {
        Empty
    }
}

impl Encoder for Empty {
    type Item = ();
    type Error = tonic::Status;
    fn encode(&mut self, _: (), _: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        Ok(())
    }
}

impl Decoder for Empty {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        use bytes::Buf;
        buf.advance(buf.remaining());
        Ok(Some(()))
    }
}

/// The status `method` answers an empty request with, as the holder of `token`: its
/// code and message (`Ok` and empty when it succeeded).
async fn call(channel: Channel, method: &Method, token: Option<&str>) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let mut req = tonic::Request::new(());
    req.set_timeout(Duration::from_secs(10));
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("a header value");
        req.metadata_mut().insert("authorization", value);
    }
    let path = method.path.parse().expect("a method path");
    let answer = match method.server_streaming {
        true => grpc.server_streaming(req, path, Empty).await.map(|_| ()),
        false => grpc.unary(req, path, Empty).await.map(|_| ()),
    };
    answer.err().map_or((Code::Ok, String::new()), |status| {
        (status.code(), status.message().to_owned())
    })
}

/// Whether an UNAUTHENTICATED answer came from a handler that checks credentials of
/// its own (a password, a session), not from the guard refusing the token.
fn a_handlers_refusal(message: &str) -> bool {
    [
        "wrong login or password",
        "the session has ended",
        "the API token is not valid",
        "this link is not valid",
        "this sign-in has ended",
    ]
    .iter()
    .any(|m| message.starts_with(m))
}

/// The method an audit line's detail names (`[writer] /package.Service/Method: why`).
fn method_in(detail: &str) -> String {
    let from = detail.find('/').unwrap_or(0);
    detail[from..]
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// What the table says `role` should get from `path`.
fn expected(role: Role, path: &str) -> Result<(), Code> {
    match policy::check(role, path) {
        Ok(_) => Ok(()),
        Err(Refusal::NotGranted(_) | Refusal::UnknownMethod) => Err(Code::PermissionDenied),
    }
}

/// Whether `got` (with `message`) is what the table says `role` gets from `path`.
fn fits(role: Role, path: &str, got: Code, message: &str) -> bool {
    match expected(role, path) {
        Err(code) => got == code,
        Ok(()) => match got {
            Code::PermissionDenied | Code::Unimplemented => false,
            Code::Unauthenticated => a_handlers_refusal(message),
            _ => true,
        },
    }
}

/// An access token traded for an admin's personal API token scoped to an agent's
/// role: what a program holding it may do.
async fn scoped_api_token(suites: &[Suite]) -> String {
    let staff = support::staff_suite(suites);
    let admin = support::Person {
        role: "admin",
        ..support::Person::new("matrix-admin", "Matrix Admin")
    };
    staff.hire(&[admin]).await;
    let mut owner = staff.staff_as("matrix-admin", Role::Admin).await;
    let create = spb::CreateApiTokenRequest {
        name: "reports".into(),
        ttl_days: 1,
        role: "agent".into(),
    };
    let made = owner.create_api_token(create).await.expect("a token");
    let exchange = spb::ExchangeApiTokenRequest {
        api_token: made.into_inner().token,
    };
    let mut anyone = staff.staff_with(String::new()).await;
    let opened = anyone
        .exchange_api_token(exchange)
        .await
        .expect("exchanged");
    opened.into_inner().access_token
}

/// Calls every method as every role, with an admin's API token scoped to an agent,
/// and anonymously on the suites that serve it, and returns the answers that differ
/// from the table.
async fn matrix(suites: &[Suite], key: &TokenKey) -> Vec<String> {
    let roles = [Role::Admin, Role::Manager, Role::Agent, Role::Service];
    let scoped = scoped_api_token(suites).await;
    let mut wrong = Vec::new();
    for method in methods() {
        let Some(suite) = suites
            .iter()
            .find(|s| s.running.grpc_services.contains(&method.service.as_str()))
        else {
            wrong.push(format!("{}: no suite serves it", method.path));
            continue;
        };
        let channel = suite.channel().await;
        let (anonymous, message) = call(channel.clone(), &method, None).await;
        let open = policy::action(&method.path) == Some(policy::Action::Anyone);
        if anonymous != Code::Unauthenticated || open != a_handlers_refusal(&message) {
            wrong.push(format!("{} anonymous: {anonymous:?}", method.path));
        }
        for role in roles {
            let token = match role {
                Role::Service => key.issue_service("matrix", &method.service, None),
                _ => key.issue("matrix-user", role, Duration::from_secs(600)),
            }
            .expect("a token");
            let (got, message) = call(channel.clone(), &method, Some(&token)).await;
            if !fits(role, &method.path, got, &message) {
                wrong.push(format!("{} as {role:?}: {got:?}", method.path));
            }
        }
        let (got, message) = call(channel.clone(), &method, Some(&scoped)).await;
        if !fits(Role::Agent, &method.path, got, &message) {
            wrong.push(format!(
                "{} with an agent-scoped API token: {got:?}",
                method.path
            ));
        }
    }
    wrong
}

#[tokio::test]
async fn every_method_answers_each_role_as_the_table_says_all_in_one() {
    let suite = all_in_one().await;
    let key = suite.key.clone();
    let suites = [suite];
    let wrong = matrix(&suites, &key).await;
    for suite in suites {
        suite.stop().await;
    }
    assert!(wrong.is_empty(), "answers against the table: {wrong:#?}");
}

#[tokio::test]
async fn every_method_answers_each_role_as_the_table_says_as_services() {
    // Ingest too: it serves its channels' status.
    let Some(suites) = support::channel_services(|_, _| {}, |_| {}).await else {
        return;
    };
    let key = suites[0].key.clone();
    let wrong = matrix(&suites, &key).await;
    for suite in suites {
        suite.stop().await;
    }
    assert!(wrong.is_empty(), "answers against the table: {wrong:#?}");
}

fn details(name: &str, email: &str, role: &str, extension: &str) -> Option<spb::UserDetails> {
    Some(spb::UserDetails {
        name: name.into(),
        login: email.into(),
        role: role.into(),
        extensions: vec![extension.into()],
        alert_email: email.into(),
        ..Default::default()
    })
}

#[tokio::test]
async fn an_agent_cannot_rewrite_another_agent_nor_make_itself_admin() {
    let suite = all_in_one().await;
    let maria = Person {
        extensions: &["102"],
        alert_email: "maria@office.example",
        ..Person::new("maria", "Maria")
    };
    let mallory = Person {
        extensions: &["103"],
        ..Person::new("mallory", "Mallory")
    };
    suite.hire(&[maria, mallory]).await;

    let mut as_mallory = suite.staff_as("mallory", Role::Agent).await;
    let hijack = spb::UpdateUserRequest {
        id: "maria".into(),
        details: details("Maria", "mallory@evil.example", "agent", "666"),
    };
    let refused = as_mallory.update_user(hijack).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let promote = spb::UpdateUserRequest {
        id: "mallory".into(),
        details: details("Mallory", "mallory@evil.example", "admin", "103"),
    };
    let promoted = as_mallory.update_user(promote).await.unwrap_err();
    assert_eq!(promoted.code(), Code::PermissionDenied);
    let twin = spb::CreateUserRequest {
        id: "mallory2".into(),
        details: details("Mallory's admin", "m2@evil.example", "admin", "104"),
    };
    assert_eq!(
        as_mallory.create_user(twin).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let fired = spb::SetUserActiveRequest {
        id: "maria".into(),
        active: false,
    };
    assert_eq!(
        as_mallory.set_user_active(fired).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // Every refusal is in the audit trail (delivered in the background).
    let tried = support::eventually("the refusals in the audit trail", || async {
        let refused = suite.audit_of("call_refused").await;
        let tried: Vec<(String, String)> = refused
            .into_iter()
            .filter(|l| l.actor == "mallory")
            .map(|l| (l.outcome, method_in(&l.detail)))
            .collect();
        (tried.len() >= 4).then_some(tried)
    })
    .await;
    let methods: Vec<(&str, &str)> = tried
        .iter()
        .map(|(o, m)| {
            (
                o.as_str(),
                m.trim_start_matches("/ringside.staff.v1.Staff/"),
            )
        })
        .collect();
    let denied = |m| ("permission_denied", m);
    let expected = ["SetUserActive", "CreateUser", "UpdateUser", "UpdateUser"].map(denied);
    assert_eq!(methods, expected, "newest first");

    let mut admin = suite.staff_as("boss", Role::Admin).await;
    let listed = admin
        .list_users(spb::ListUsersRequest {
            include_inactive: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .users;
    let people: Vec<(String, spb::UserDetails, bool)> = listed
        .into_iter()
        .map(|u| (u.id, u.details.unwrap_or_default(), u.active))
        .collect();
    assert_eq!(people.len(), 2, "nobody was added: {people:?}");
    let (id, maria, active) = &people[1];
    assert_eq!(
        (
            id.as_str(),
            maria.alert_email.as_str(),
            maria.extensions.clone(),
            *active
        ),
        (
            "maria",
            "maria@office.example",
            vec!["102".to_owned()],
            true
        )
    );
    assert_eq!(
        (people[0].0.as_str(), people[0].1.role.as_str()),
        ("mallory", "agent"),
        "Mallory is still an agent"
    );
    suite.stop().await;
}
