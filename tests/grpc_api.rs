//! The contacts API over gRPC, as a client sees it, in both ways of running.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ringside_auth::{Role, TokenKey};
use ringside_proto::contacts::v1 as pb;
use support::{Person, Suite, suites};
use tonic::Code;

fn phone(value: &str) -> pb::Identity {
    pb::Identity {
        kind: pb::IdentityKind::Phone as i32,
        value: value.into(),
    }
}

fn ivan() -> pb::CreateContactRequest {
    pb::CreateContactRequest {
        name: "Иван Петров".into(),
        owner_id: "agent-1".into(),
        tags: vec!["vip".into()],
        identities: vec![
            phone("8 (912) 345-67-89"),
            pb::Identity {
                kind: pb::IdentityKind::Email as i32,
                value: "Ivan@Example.com".into(),
            },
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn reflection_and_health_answer_without_a_token() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    for suite in suites().await {
        let mut reflection = ServerReflectionClient::new(suite.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection")
            .into_inner();
        let response = stream
            .message()
            .await
            .expect("message")
            .expect("a response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("expected a service list");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"ringside.contacts.v1.Contacts".to_owned()),
            "{}: {names:?}",
            suite.name
        );

        let mut health = HealthClient::new(suite.channel().await);
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "ringside.contacts.v1.Contacts".into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        suite.stop().await;
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_and_change_nothing() {
    for suite in suites().await {
        let expired = suite
            .key
            .issue("u", Role::Admin, Duration::ZERO)
            .expect("a token");
        let admin = suite.token(Role::Admin);
        let forged = TokenKey::generate()
            .issue("u", Role::Admin, Duration::from_secs(60))
            .expect("a token");
        // A service token made for deals, shown to contacts.
        let elsewhere = suite.service_token("ringside.deals.v1.Deals");
        // The admin's token with its header claiming another algorithm.
        let mut parts: Vec<&str> = admin.split('.').collect();
        let header =
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("utf-8");
        let tampered_header = URL_SAFE_NO_PAD.encode(header.replace("EdDSA", "HS256"));
        parts[0] = &tampered_header;
        let tampered = parts.join(".");
        for token in [
            None,
            Some("garbage".to_owned()),
            Some(expired),
            Some(forged),
            Some(elsewhere),
            Some(tampered),
        ] {
            let mut client = suite.client_with(token.clone()).await;
            let status = client.create_contact(ivan()).await.expect_err("refused");
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{}: {token:?}",
                suite.name
            );
        }
        assert_eq!(suite.count("contacts").await, 0);
        assert_eq!(suite.count("outbox").await, 0);
        suite.stop().await;
    }
}

async fn event_types(deliveries: &mut ringside_bus::Deliveries, n: usize) -> Vec<String> {
    let mut types = Vec::new();
    while types.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(10), deliveries.next()).await;
        let delivery = next.expect("events arrive within 10 s").expect("bus open");
        types.push(delivery.message.routing_key.clone());
        delivery.acker.ack().await.expect("ack");
    }
    types.sort();
    types
}

#[tokio::test]
async fn a_client_manages_contacts_and_leads_and_the_events_reach_the_bus() {
    for suite in suites().await {
        suite.hire(&[Person::new("agent-1", "Agent One")]).await;
        let mut events = suite.watch(&["contact.*", "lead.*"]).await;
        let mut client = suite.client().await;
        let created = client
            .create_contact(ivan())
            .await
            .expect("create")
            .into_inner();
        let values: Vec<&str> = created
            .identities
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        assert_eq!(
            values,
            vec!["ivan@example.com", "+79123456789"],
            "{}",
            suite.name
        );

        let found = client
            .lookup_by_phone(pb::LookupByPhoneRequest {
                phone: "8-912-345-67-89".into(),
            })
            .await
            .expect("lookup")
            .into_inner();
        assert!(matches!(found.party, Some(pb::party::Party::Contact(c)) if c.id == created.id));

        let update = pb::UpdateContactRequest {
            id: created.id.clone(),
            name: Some("Иван С. Петров".into()),
            tags: Some(pb::TagList {
                tags: vec!["b2b".into()],
            }),
            ..Default::default()
        };
        let updated = client
            .update_contact(update)
            .await
            .expect("update")
            .into_inner();
        assert_eq!(
            (updated.name.as_str(), updated.tags.clone()),
            ("Иван С. Петров", vec!["b2b".to_owned()])
        );

        let stranger = pb::ResolveRequest {
            identity: Some(phone("+7 999 000-11-22")),
            source: Some(pb::LeadSource {
                channel: "phone".into(),
                campaign: String::new(),
            }),
            ..Default::default()
        };
        // Resolve is how a channel files what it received: a service's call.
        let mut channel = suite
            .client_with(Some(suite.service_token("ringside.contacts.v1.Contacts")))
            .await;
        let refused = client.resolve(stranger.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        let first = channel
            .resolve(stranger.clone())
            .await
            .expect("resolve")
            .into_inner();
        let again = channel
            .resolve(stranger)
            .await
            .expect("resolve")
            .into_inner();
        assert!(first.created && !again.created);
        let Some(pb::party::Party::Lead(lead)) = first.party.and_then(|p| p.party) else {
            panic!("a lead")
        };
        let converted = client
            .convert_lead(pb::ConvertLeadRequest {
                id: lead.id.clone(),
                contact_name: "Новый клиент".into(),
                ..Default::default()
            })
            .await
            .expect("convert")
            .into_inner();
        assert_eq!(
            converted.lead.expect("lead").contact_id,
            converted.contact.expect("contact").id
        );

        let listed = client
            .list_contacts(pb::ListContactsRequest {
                page_size: 1,
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        assert_eq!(listed.contacts.len(), 1);
        assert!(!listed.next_page_token.is_empty(), "a second page exists");

        let types = event_types(&mut events, 5).await;
        assert_eq!(
            types,
            vec![
                "contact.created",
                "contact.created",
                "contact.updated",
                "lead.converted",
                "lead.created"
            ],
            "{}",
            suite.name
        );
        drop(events);
        suite.stop().await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_writes_nothing() {
    for suite in suites().await {
        suite.hire(&[Person::new("agent-1", "Agent One")]).await;
        let mut client = suite.client().await;
        let cases: Vec<(pb::CreateContactRequest, Code, &str)> = vec![
            (
                pb::CreateContactRequest {
                    identities: vec![phone("not a number")],
                    ..ivan()
                },
                Code::InvalidArgument,
                "phone",
            ),
            (
                pb::CreateContactRequest {
                    name: "x".repeat(5000),
                    ..ivan()
                },
                Code::InvalidArgument,
                "name",
            ),
            (
                pb::CreateContactRequest {
                    name: "  ".into(),
                    ..ivan()
                },
                Code::InvalidArgument,
                "name",
            ),
            (
                pb::CreateContactRequest {
                    identities: vec![pb::Identity {
                        kind: 99,
                        value: "x".into(),
                    }],
                    ..ivan()
                },
                Code::InvalidArgument,
                "identity.kind",
            ),
            (
                pb::CreateContactRequest {
                    company_id: "0190c3c4-0000-7000-8000-000000000000".into(),
                    ..ivan()
                },
                Code::NotFound,
                "company",
            ),
            (
                pb::CreateContactRequest {
                    company_id: "y".repeat(500),
                    ..ivan()
                },
                Code::InvalidArgument,
                "company_id",
            ),
        ];
        for (request, code, mentions) in cases {
            let status = client.create_contact(request).await.expect_err("refused");
            assert_eq!(status.code(), code, "{}: {}", suite.name, status.message());
            assert!(
                status.message().contains(mentions),
                "{:?} should name {mentions}",
                status.message()
            );
        }
        let missing = client
            .get_contact(pb::GetContactRequest {
                id: "0190c3c4-0000-7000-8000-000000000000".into(),
            })
            .await
            .expect_err("unknown id");
        assert_eq!(missing.code(), Code::NotFound);
        let bad_page = client
            .list_contacts(pb::ListContactsRequest {
                page_size: -1,
                ..Default::default()
            })
            .await
            .expect_err("negative page");
        assert_eq!(bad_page.code(), Code::InvalidArgument);

        let malformed = raw_call(
            &suite,
            "/ringside.contacts.v1.Contacts/CreateContact",
            vec![0x0a, 0xff, 0xff],
        )
        .await;
        assert_eq!(
            malformed.code(),
            Code::Internal,
            "tonic reports undecodable requests as Internal"
        );
        assert!(
            malformed.message().contains("decode"),
            "{}",
            malformed.message()
        );

        client
            .create_contact(ivan())
            .await
            .expect("the same client still works");
        let duplicate = client
            .create_contact(ivan())
            .await
            .expect_err("duplicate identity");
        assert_eq!(duplicate.code(), Code::AlreadyExists);
        assert_eq!(
            suite.count("contacts").await,
            1,
            "{}: only the one good contact",
            suite.name
        );
        assert_eq!(suite.count("outbox").await, 1, "only its event");
        suite.stop().await;
    }
}

/// Sends `body` as the request message of `path`, bypassing the generated client.
async fn raw_call(suite: &Suite, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(suite.channel().await);
    grpc.ready().await.expect("ready");
    let mut request = tonic::Request::new(body);
    let token = format!("Bearer {}", suite.token(Role::Agent));
    request
        .metadata_mut()
        .insert("authorization", token.parse().expect("header"));
    grpc.unary::<Vec<u8>, Vec<u8>, RawCodec>(request, path.parse().expect("path"), RawCodec)
        .await
        .expect_err("the server refuses it")
}

/// A codec that sends and receives raw bytes.
#[derive(Default, Clone)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Shutting down (SIGTERM): health says NOT_SERVING at once while the port still
/// answers for its drain, so load balancers move away; and the push streams end
/// rather than holding the shutdown for its whole grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_health_turns_not_serving_first_and_push_streams_end() {
    use ringside_proto::notifications::v1 as npb;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let suite = support::all_in_one_with(|s| {
        s.shutdown_drain_ms = 3_000;
        s.shutdown_grace_secs = 60;
    })
    .await;
    let mut health = HealthClient::new(suite.channel().await);
    let status = async |health: &mut HealthClient<tonic::transport::Channel>| {
        let asked = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        health
            .check(asked)
            .await
            .expect("health")
            .into_inner()
            .status
    };
    assert_eq!(status(&mut health).await, ServingStatus::Serving as i32);
    let token = (suite.key)
        .issue("olga", Role::Agent, Duration::from_secs(600))
        .expect("a token");
    let mut notifications = npb::notifications_client::NotificationsClient::with_interceptor(
        suite.channel().await,
        support::Bearer(Some(token)),
    );
    let mut pushes = notifications
        .subscribe(npb::SubscribeRequest::default())
        .await
        .expect("subscribe")
        .into_inner();

    suite.running.shutdown_token().cancel();
    support::eventually("NOT_SERVING", || async {
        let mut health = health.clone();
        (status(&mut health).await == ServingStatus::NotServing as i32).then_some(())
    })
    .await;
    let ended = tokio::time::timeout(Duration::from_secs(20), pushes.message()).await;
    assert!(
        matches!(ended, Ok(Ok(None)) | Ok(Err(_))),
        "the stream ends well within the 60 s grace: {ended:?}"
    );
    suite.stop().await;
}
