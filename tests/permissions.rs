//! Who may call what, as a caller sees it: every method of the suite's gRPC API —
//! taken from the descriptor set the servers publish, so a new method cannot be
//! forgotten — called as each role and anonymously, in both ways of running, each
//! answer checked against the permission table; and the exploit that started the
//! table (an agent rewriting another agent, or making itself admin) refused.

use std::time::Duration;

use prost::Message;
use ringside_auth::policy::{self, Refusal};
use ringside_auth::{Role, TokenKey};
use ringside_proto::notifications::v1 as npb;
use ringside_proto::notifications::v1::notifications_client::NotificationsClient;
use support::{Bearer, Suite, all_in_one, card_services};
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

/// The status code `method` answers an empty request with, as the holder of `token`.
async fn call(channel: Channel, method: &Method, token: Option<&str>) -> Code {
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
    answer.err().map_or(Code::Ok, |status| status.code())
}

/// What the table says `role` should get from `path`.
fn expected(role: Role, path: &str) -> Result<(), Code> {
    match policy::check(role, path) {
        Ok(_) => Ok(()),
        Err(Refusal::NotGranted(_) | Refusal::UnknownMethod) => Err(Code::PermissionDenied),
    }
}

/// Calls every method as every role and anonymously on the suites that serve it, and
/// returns the answers that differ from the table.
async fn matrix(suites: &[Suite], key: &TokenKey) -> Vec<String> {
    let roles = [Role::Admin, Role::Manager, Role::Agent, Role::Service];
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
        let anonymous = call(channel.clone(), &method, None).await;
        if anonymous != Code::Unauthenticated {
            wrong.push(format!("{} anonymous: {anonymous:?}", method.path));
        }
        for role in roles {
            let token = match role {
                Role::Service => key.issue_service("matrix", &method.service, None),
                _ => key.issue("matrix-user", role, Duration::from_secs(600)),
            }
            .expect("a token");
            let got = call(channel.clone(), &method, Some(&token)).await;
            let fine = match expected(role, &method.path) {
                Err(code) => got == code,
                Ok(()) => !matches!(
                    got,
                    Code::PermissionDenied | Code::Unauthenticated | Code::Unimplemented
                ),
            };
            if !fine {
                wrong.push(format!("{} as {role:?}: {got:?}", method.path));
            }
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
    let Some(suites) = card_services().await else {
        return;
    };
    let key = suites[0].key.clone();
    let wrong = matrix(&suites, &key).await;
    for suite in suites {
        suite.stop().await;
    }
    assert!(wrong.is_empty(), "answers against the table: {wrong:#?}");
}

fn agent(id: &str, email: &str, role: &str) -> npb::Agent {
    npb::Agent {
        id: id.into(),
        name: format!("Agent {id}"),
        role: role.into(),
        extensions: vec![format!("1{id}")],
        email: email.into(),
        ..Default::default()
    }
}

async fn notifications(
    suite: &Suite,
    role: Role,
    user: &str,
) -> NotificationsClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
    let token = suite
        .key
        .issue(user, role, Duration::from_secs(600))
        .expect("a token");
    NotificationsClient::with_interceptor(suite.channel().await, Bearer(Some(token)))
}

#[tokio::test]
async fn an_agent_cannot_rewrite_another_agent_nor_make_itself_admin() {
    let suite = all_in_one().await;
    let mut admin = notifications(&suite, Role::Admin, "boss").await;
    let maria = agent("02", "maria@office.example", "agent");
    admin
        .upsert_agent(maria.clone())
        .await
        .expect("admin adds Maria");

    let mut mallory = notifications(&suite, Role::Agent, "03").await;
    let mut hijacked = maria.clone();
    hijacked.email = "mallory@evil.example".into();
    hijacked.extensions = vec!["666".into()];
    let refused = mallory.upsert_agent(hijacked).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let promoted = mallory
        .upsert_agent(agent("03", "mallory@evil.example", "admin"))
        .await
        .unwrap_err();
    assert_eq!(promoted.code(), Code::PermissionDenied);
    let deleted = mallory
        .delete_agent(npb::DeleteAgentRequest { id: "02".into() })
        .await
        .unwrap_err();
    assert_eq!(deleted.code(), Code::PermissionDenied);

    let listed = admin
        .list_agents(npb::ListAgentsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .agents;
    assert_eq!(listed.len(), 1, "no agent was added");
    assert_eq!(listed[0].email, "maria@office.example");
    assert_eq!(listed[0].extensions, vec!["102".to_owned()]);
    suite.stop().await;
}
