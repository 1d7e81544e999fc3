//! Starting a whole suite for a test: all-in-one on SQLite with the local bus, and —
//! when the servers are configured — `serve contacts` on PostgreSQL and RabbitMQ, each
//! on port 0, driven through its public gRPC and HTTP surface with real tokens.

pub mod bot;
pub mod browser;
pub mod imap;
pub mod pbx;
pub mod smtp;
pub mod socket;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use ringside::app::{self, Mode, Running, ServiceName};
use ringside::config::Settings;
use ringside_auth::{Role, TokenKey};
use ringside_proto::activities::v1 as apb;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::staff::v1::staff_client::StaffClient;
use ringside_storage::testing::{AMQP_URL_VAR, TestDb, postgres, server_url};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// What ingest publishes about calls (`call.filed` comes from activities).
pub const CALL_EVENTS: &[&str] = &["call.ringing", "call.answered", "call.ended", "call.missed"];

pub struct Suite {
    pub name: &'static str,
    pub running: Running,
    pub key: TokenKey,
    pub settings: Settings,
    /// Queues this test declared, deleted again on stop.
    watched: std::sync::Mutex<Vec<String>>,
    /// A RabbitMQ handle on the suite's exchange, for cleanup (serve mode).
    broker: Option<ringside_bus::amqp::AmqpBus>,
    /// `serve staff` beside a service started without it: who records go to, and
    /// where people are hired (stopped with this suite).
    staff_beside: Option<Box<Suite>>,
    _dir: tempfile::TempDir,
    _db: Option<TestDb>,
}

pub fn settings(data_dir: PathBuf) -> Settings {
    let mut settings = Settings::ephemeral(data_dir);
    let test = uuid::Uuid::new_v4().simple();
    settings.exchange = format!("test.events.{test}");
    settings.queue_prefix = format!("test.{test}.");
    settings
}

/// Starts `mode` with the test settings (adjusted by `customize`) on `db`, with a
/// RabbitMQ handle for cleanup when `amqp` is given.
async fn start(
    name: &'static str,
    mode: Mode,
    db: Option<TestDb>,
    amqp: Option<String>,
    customize: impl FnOnce(&mut Settings),
) -> Suite {
    start_with_key(name, mode, db, amqp, TokenKey::generate(), customize).await
}

async fn start_with_key(
    name: &'static str,
    mode: Mode,
    db: Option<TestDb>,
    amqp: Option<String>,
    key: TokenKey,
    customize: impl FnOnce(&mut Settings),
) -> Suite {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = settings(dir.path().to_path_buf());
    settings.database_url = db.as_ref().map(|db| db.url.clone());
    settings.amqp_url = amqp.clone();
    customize(&mut settings);
    let broker = match &amqp {
        Some(url) => Some(
            ringside_bus::amqp::AmqpBus::connect(
                url,
                &settings.exchange,
                "ringside-test-admin",
                tokio_util::sync::CancellationToken::new(),
            )
            .await
            .expect("RabbitMQ"),
        ),
        None => None,
    };
    let running = app::start(&settings, mode, key.clone())
        .await
        .unwrap_or_else(|e| panic!("start {name}: {e:#}"));
    Suite {
        name,
        running,
        key,
        settings,
        watched: Default::default(),
        broker,
        staff_beside: None,
        _dir: dir,
        _db: db,
    }
}

/// `serve contacts` on `db`, with `serve staff` beside it on the same database (it
/// asks staff who records may go to).
async fn contacts_with_staff(db: TestDb, amqp: &str) -> Suite {
    let db_url = db.url.clone();
    let staff_port = spare_port();
    let mode = Mode::Serve(ServiceName::Contacts);
    let mut contacts = start(
        "serve contacts",
        mode,
        Some(db),
        Some(amqp.to_owned()),
        |s| {
            s.staff_url = format!("http://127.0.0.1:{staff_port}");
        },
    )
    .await;
    let staff = serve_beside(
        ServiceName::Staff,
        &contacts.key,
        &contacts.settings,
        &db_url,
        amqp,
        String::new(),
        move |s| s.grpc_addr = ([127, 0, 0, 1], staff_port).into(),
    )
    .await;
    contacts.staff_beside = Some(Box::new(staff));
    contacts
}

pub async fn all_in_one() -> Suite {
    all_in_one_with(|_| {}).await
}

/// All-in-one with adjusted settings.
pub async fn all_in_one_with(customize: impl FnOnce(&mut Settings)) -> Suite {
    start("all-in-one", Mode::AllInOne, None, None, customize).await
}

/// `serve contacts` on PostgreSQL and RabbitMQ, or `None` when they are not configured.
pub async fn contacts_service() -> Option<Suite> {
    let db = postgres().await?;
    let amqp = server_url(AMQP_URL_VAR)?;
    Some(contacts_with_staff(db, &amqp).await)
}

/// `serve ingest` on RabbitMQ (no database), or `None` when RabbitMQ is not configured.
pub async fn ingest_service(customize: impl FnOnce(&mut Settings)) -> Option<Suite> {
    let amqp = server_url(AMQP_URL_VAR)?;
    let mode = Mode::Serve(ServiceName::Ingest);
    Some(start("serve ingest", mode, None, Some(amqp), customize).await)
}

/// `serve contacts` and `serve activities` on one PostgreSQL database and one
/// exchange, activities asking contacts over gRPC with the shared signing key; or
/// `None` when the servers are not configured.
pub async fn contacts_and_activities() -> Option<(Suite, Suite)> {
    contacts_and(ServiceName::Activities).await
}

/// `serve contacts` and `serve deals`, the same way.
pub async fn contacts_and_deals() -> Option<(Suite, Suite)> {
    contacts_and(ServiceName::Deals).await
}

/// `serve contacts` and `serve <service>` on one PostgreSQL database and exchange.
async fn contacts_and(service: ServiceName) -> Option<(Suite, Suite)> {
    let db = postgres().await?;
    let amqp = server_url(AMQP_URL_VAR)?;
    let db_url = db.url.clone();
    let contacts = contacts_with_staff(db, &amqp).await;
    let url = format!("http://{}", contacts.running.grpc_addr);
    let other = serve_beside(
        service,
        &contacts.key,
        &contacts.settings,
        &db_url,
        &amqp,
        url,
        |_| {},
    )
    .await;
    Some((contacts, other))
}

/// `serve <service>` on `db_url`, sharing `shared`'s exchange and queue prefix and
/// the signing `key`, asking contacts at `contacts_url`.
async fn serve_beside(
    service: ServiceName,
    key: &TokenKey,
    shared: &Settings,
    db_url: &str,
    amqp: &str,
    contacts_url: String,
    extra: impl FnOnce(&mut Settings) + Send + 'static,
) -> Suite {
    let shared = shared.clone();
    let name = match service {
        ServiceName::Activities => "serve activities",
        ServiceName::Deals => "serve deals",
        ServiceName::Ingest => "serve ingest",
        ServiceName::Staff => "serve staff",
        _ => "serve",
    };
    start_with_key(
        name,
        Mode::Serve(service),
        None,
        Some(amqp.to_owned()),
        key.clone(),
        move |s| {
            s.database_url = Some(db_url.to_owned());
            s.exchange = shared.exchange;
            s.queue_prefix = shared.queue_prefix;
            s.staff_url = shared.staff_url;
            s.contacts_url = contacts_url;
            s.agent_extensions = "olga=101;ivan=102".into();
            extra(s);
        },
    )
    .await
}

/// A free TCP port outside Linux's ephemeral range (32768–60999), for a service that
/// starts later: a socket bound to port 0 meanwhile (another test's) cannot take it.
pub fn spare_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = NEXT.fetch_add(7919, Ordering::Relaxed) ^ clock ^ std::process::id();
        let port = 20_000 + (n % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The two ways of running: one all-in-one suite, and the card services (every
/// service in its own process, asking the others over gRPC) when PostgreSQL and
/// RabbitMQ are configured.
pub async fn both_ways() -> Vec<Vec<Suite>> {
    let mut setups = vec![vec![all_in_one().await]];
    if let Some(suites) = card_services().await {
        setups.push(suites);
    }
    setups
}

/// `serve contacts`, `serve activities`, `serve notifications`, `serve deals` and
/// `serve staff` (in that order) on one database and exchange, or `None` when the servers are not
/// configured.
pub async fn card_services() -> Option<Vec<Suite>> {
    services_with(|_| {}).await
}

/// [`card_services`], with notifications' settings adjusted by `notifications_extra`.
/// Contacts hands new leads out to the agents staff lists.
pub async fn services_with(
    notifications_extra: impl FnOnce(&mut Settings) + Send + 'static,
) -> Option<Vec<Suite>> {
    let db = postgres().await?;
    let amqp = server_url(AMQP_URL_VAR)?;
    let db_url = db.url.clone();
    // Every service asks staff about people, and contacts asks notifications who is
    // online; both start last, on ports chosen now (channels are dialled on first use).
    let (notifications_port, staff_port) = (spare_port(), spare_port());
    let (web_port, deals_port) = (spare_port(), spare_port());
    // Web asks ingest about its channels: `channel_services` starts it on this port.
    let ingest_port = spare_port();
    let notifications_url = format!("http://127.0.0.1:{notifications_port}");
    let mode = Mode::Serve(ServiceName::Contacts);
    let contacts = start(
        "serve contacts",
        mode,
        Some(db),
        Some(amqp.clone()),
        move |s| {
            s.notifications_url = notifications_url;
            s.staff_url = format!("http://127.0.0.1:{staff_port}");
        },
    )
    .await;
    let shared = contacts.settings.clone();
    let contacts_url = format!("http://{}", contacts.running.grpc_addr);
    // Activities asks deals who owns a deal; deals starts next, on a port chosen now.
    let activities = serve_beside(
        ServiceName::Activities,
        &contacts.key,
        &shared,
        &db_url,
        &amqp,
        contacts_url.clone(),
        move |s| s.deals_url = format!("http://127.0.0.1:{deals_port}"),
    )
    .await;
    let activities_url = format!("http://{}", activities.running.grpc_addr);
    let deals = serve_beside(
        ServiceName::Deals,
        &contacts.key,
        &shared,
        &db_url,
        &amqp,
        contacts_url.clone(),
        move |s| s.grpc_addr = ([127, 0, 0, 1], deals_port).into(),
    )
    .await;
    let deals_url = format!("http://{}", deals.running.grpc_addr);
    let (shared_for_staff, db_for_staff, amqp_for_staff) =
        (shared.clone(), db_url.clone(), amqp.clone());
    let notifications = start_with_key(
        "serve notifications",
        Mode::Serve(ServiceName::Notifications),
        None,
        Some(amqp),
        contacts.key.clone(),
        move |s| {
            s.database_url = Some(db_url);
            s.exchange = shared.exchange;
            s.queue_prefix = shared.queue_prefix;
            s.contacts_url = contacts_url;
            s.activities_url = activities_url;
            s.deals_url = deals_url;
            s.staff_url = shared.staff_url;
            s.grpc_addr = ([127, 0, 0, 1], notifications_port).into();
            s.web_origins = format!("http://127.0.0.1:{web_port}");
            notifications_extra(s);
        },
    )
    .await;
    let staff = serve_beside(
        ServiceName::Staff,
        &contacts.key,
        &shared_for_staff,
        &db_for_staff,
        &amqp_for_staff,
        String::new(),
        move |s| s.grpc_addr = ([127, 0, 0, 1], staff_port).into(),
    )
    .await;
    let peers = [&contacts, &activities, &deals, &notifications];
    let web = serve_web(&peers, web_port, ingest_port).await;
    Some(vec![contacts, activities, notifications, deals, staff, web])
}

/// `serve web` on 127.0.0.1:`web_port`, asking the services of `peers` (contacts,
/// activities, deals, notifications) and ingest at `ingest_port`, its call bar's
/// socket at notifications.
async fn serve_web(peers: &[&Suite; 4], web_port: u16, ingest_port: u16) -> Suite {
    let [contacts, activities, deals, notifications] = peers.map(|s| s.running.grpc_addr);
    let push = format!("ws://{}/agent/ws", peers[3].running.http_addr);
    let shared = peers[0].settings.clone();
    start_with_key(
        "serve web",
        Mode::Serve(ServiceName::Web),
        None,
        None,
        peers[0].key.clone(),
        move |s| {
            s.staff_url = shared.staff_url;
            s.contacts_url = format!("http://{contacts}");
            s.activities_url = format!("http://{activities}");
            s.deals_url = format!("http://{deals}");
            s.notifications_url = format!("http://{notifications}");
            s.ingest_url = format!("http://127.0.0.1:{ingest_port}");
            s.http_addr = ([127, 0, 0, 1], web_port).into();
            s.push_url = push;
        },
    )
    .await
}

/// The suite serving the workspace's pages: `serve web`, or the all-in-one.
pub fn pages(suites: &[Suite]) -> &Suite {
    suites
        .iter()
        .find(|s| s.name == "serve web")
        .unwrap_or(&suites[0])
}

/// [`services_with`] and `serve ingest` (asking contacts over gRPC, its settings
/// adjusted by `ingest_extra`, which is given the database URL in case it reads
/// mailboxes): contacts, activities, notifications, deals, staff, ingest.
pub async fn channel_services(
    ingest_extra: impl FnOnce(&mut Settings, &str) + Send + 'static,
    notifications_extra: impl FnOnce(&mut Settings) + Send + 'static,
) -> Option<Vec<Suite>> {
    let mut suites = services_with(notifications_extra).await?;
    let amqp = server_url(AMQP_URL_VAR)?;
    let contacts = &suites[0];
    let contacts_url = format!("http://{}", contacts.running.grpc_addr);
    let db_url = contacts.settings.database_url.clone().expect("a database");
    let for_ingest = db_url.clone();
    // On the port web was told (see `services_with`).
    let ingest_url = pages(&suites).settings.ingest_url.clone();
    let grpc_port = ingest_url.rsplit(':').next().and_then(|p| p.parse().ok());
    let grpc_port: u16 = grpc_port.expect("web's RINGSIDE_INGEST_URL has a port");
    let ingest = serve_beside(
        ServiceName::Ingest,
        &contacts.key,
        &contacts.settings,
        &db_url,
        &amqp,
        contacts_url,
        move |s| {
            s.database_url = None; // ingest keeps no database (IMAP aside)
            s.grpc_addr = ([127, 0, 0, 1], grpc_port).into();
            ingest_extra(s, &for_ingest);
        },
    )
    .await;
    suites.push(ingest);
    Some(suites)
}

/// `serve contacts`, `serve activities` and `serve ingest` (serving the web forms of
/// `forms`, asking contacts over gRPC) on one database and exchange, or `None` when
/// the servers are not configured.
pub async fn form_services(forms: PathBuf) -> Option<Vec<Suite>> {
    let (contacts, activities) = contacts_and_activities().await?;
    let amqp = server_url(AMQP_URL_VAR)?;
    let contacts_url = format!("http://{}", contacts.running.grpc_addr);
    let db_url = contacts.settings.database_url.clone().expect("a database");
    let ingest = serve_beside(
        ServiceName::Ingest,
        &contacts.key,
        &contacts.settings,
        &db_url,
        &amqp,
        contacts_url,
        move |s| {
            s.database_url = None; // ingest keeps no database
            s.forms = Some(forms);
        },
    )
    .await;
    Some(vec![contacts, activities, ingest])
}

/// A `serve contacts` that starts later, on a port chosen in advance.
pub struct LateContacts {
    db: TestDb,
    amqp: String,
    key: TokenKey,
    shared: Settings,
    port: u16,
}

impl LateContacts {
    pub async fn start(self) -> Suite {
        let LateContacts {
            db,
            amqp,
            key,
            shared,
            port,
        } = self;
        let mode = Mode::Serve(ServiceName::Contacts);
        start_with_key(
            "serve contacts",
            mode,
            Some(db),
            Some(amqp),
            key,
            move |s| {
                s.exchange = shared.exchange;
                s.queue_prefix = shared.queue_prefix;
                s.grpc_addr = ([127, 0, 0, 1], port).into();
            },
        )
        .await
    }
}

/// `serve activities` now, expecting contacts at 127.0.0.1:`port`, which is not
/// started yet.
pub async fn pair_with_late_contacts(db: TestDb, amqp: &str, port: u16) -> (LateContacts, Suite) {
    let key = TokenKey::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = settings(dir.path().to_path_buf());
    let url = format!("http://127.0.0.1:{port}");
    let activities = serve_beside(
        ServiceName::Activities,
        &key,
        &shared,
        &db.url,
        amqp,
        url,
        |_| {},
    )
    .await;
    let late = LateContacts {
        db,
        amqp: amqp.to_owned(),
        key,
        shared,
        port,
    };
    (late, activities)
}

pub async fn suites() -> Vec<Suite> {
    let mut suites = vec![all_in_one().await];
    suites.extend(contacts_service().await);
    suites
}

/// Adds `authorization: Bearer …` when a token is given.
#[derive(Clone)]
pub struct Bearer(pub Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("bad token"))?;
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}

pub type Client = ContactsClient<InterceptedService<Channel, Bearer>>;

/// A person the tests add to staff: only what they vary (the rest empty, role agent).
#[derive(Debug, Clone, Copy, Default)]
pub struct Person<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    /// Team ids (the teams must exist: [`Suite::form_team`]).
    pub teams: &'a [&'a str],
    pub extensions: &'a [&'a str],
    pub alert_email: &'a str,
    pub telegram_chat_id: &'a str,
}

/// Olga, an agent at extension 101 with the tests' password, and Ivan Petrov, her
/// client, who calls from [`pbx::CALLER`].
pub async fn olga_and_ivan(suites: &[Suite]) -> ringside_proto::contacts::v1::Contact {
    use ringside_proto::contacts::v1 as cpb;
    let staff = staff_suite(suites);
    let olga = Person {
        extensions: &["101"],
        ..Person::new("olga", "Ольга")
    };
    staff.hire(&[olga]).await;
    staff.set_password("olga").await;
    let ivan = cpb::CreateContactRequest {
        name: "Иван Петров".into(),
        owner_id: "olga".into(),
        identities: vec![cpb::Identity {
            kind: cpb::IdentityKind::Phone as i32,
            value: pbx::CALLER.into(),
        }],
        ..Default::default()
    };
    let mut contacts = suites[0].client().await;
    contacts
        .create_contact(ivan)
        .await
        .expect("Ivan")
        .into_inner()
}

/// The password people in the tests sign in with.
pub const PASSWORD: &str = "correct horse battery staple";

/// The login [`Suite::hire`] gives a person.
pub fn login_of(id: &str) -> String {
    format!("{id}@staff.test")
}

/// The session cookie a response sets, as a `Cookie` header sends it back.
pub fn session_cookie(head: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.trim())
        .find(|v| v.contains("ringside_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// Signs `id` in at the browser edge `addr` as a browser's form would (same origin):
/// the session cookie to send back.
pub async fn sign_in_http(addr: std::net::SocketAddr, id: &str) -> String {
    let body = format!(
        "login={}&password={}",
        login_of(id),
        PASSWORD.replace(' ', "+")
    );
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("sec-fetch-site", "same-origin"),
    ];
    let (status, head, body) = http_full(addr, "POST", "/signin", &headers, body.as_bytes()).await;
    assert_eq!(status, 303, "{head}\n{body}");
    session_cookie(&head).unwrap_or_else(|| panic!("no session cookie: {head}"))
}

impl<'a> Person<'a> {
    pub fn new(id: &'a str, name: &'a str) -> Self {
        Person {
            id,
            name,
            ..Person::default()
        }
    }
}

/// The suite among `suites` that serves staff.
pub fn staff_suite(suites: &[Suite]) -> &Suite {
    suites
        .iter()
        .find(|s| s.running.grpc_services.contains(&"ringside.staff.v1.Staff"))
        .expect("a suite serving staff")
}
pub type Activities = ActivitiesClient<InterceptedService<Channel, Bearer>>;
pub type Deals = DealsClient<InterceptedService<Channel, Bearer>>;
pub type Staff = StaffClient<InterceptedService<Channel, Bearer>>;

impl Suite {
    /// A service token for calling the gRPC service `audience` (`ringside.contacts.v1.Contacts`).
    pub fn service_token(&self, audience: &str) -> String {
        self.key
            .issue_service("tests", audience, None)
            .expect("a service token")
    }

    /// Adds `people` to the staff this suite serves, as its admin.
    pub async fn hire(&self, people: &[Person<'_>]) {
        use ringside_proto::staff::v1 as spb;
        let token = Bearer(Some(self.token(Role::Admin)));
        let mut staff = StaffClient::with_interceptor(self.staff_channel().await, token);
        for p in people {
            let details = spb::UserDetails {
                name: p.name.into(),
                login: login_of(p.id),
                role: p.role.into(),
                team_ids: p.teams.iter().map(|t| (*t).to_owned()).collect(),
                extensions: p.extensions.iter().map(|e| (*e).to_owned()).collect(),
                alert_email: p.alert_email.into(),
                telegram_chat_id: p.telegram_chat_id.into(),
                ..Default::default()
            };
            let hired = spb::CreateUserRequest {
                id: p.id.into(),
                details: Some(details),
            };
            staff
                .create_user(hired)
                .await
                .expect("a person on the staff");
        }
    }

    /// Makes team `id` (as an admin), headed by `heads` once they are its members
    /// (call again after hiring them).
    pub async fn form_team(&self, id: &str, heads: &[&str]) {
        use ringside_proto::staff::v1 as spb;
        let mut staff = self.staff_as("test-admin", Role::Admin).await;
        if heads.is_empty() {
            let team = spb::CreateTeamRequest {
                id: id.into(),
                name: format!("Team {id}"),
            };
            staff.create_team(team).await.expect("a team");
            return;
        }
        let team = spb::UpdateTeamRequest {
            id: id.into(),
            name: format!("Team {id}"),
            head_ids: heads.iter().map(|h| (*h).to_owned()).collect(),
        };
        staff.update_team(team).await.expect("the team's heads");
    }

    /// Gives `id` the tests' [`PASSWORD`] (as an admin would), so they can sign in.
    pub async fn set_password(&self, id: &str) {
        let request = ringside_proto::staff::v1::SetPasswordRequest {
            user_id: id.into(),
            password: PASSWORD.into(),
        };
        let mut staff = self.staff_as("test-admin", Role::Admin).await;
        staff.set_password(request).await.expect("a password set");
    }

    /// A people's access token for `test-user` with `role`.
    pub fn token(&self, role: Role) -> String {
        self.key
            .issue("test-user", role, Duration::from_secs(600))
            .expect("a token")
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.running.grpc_addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect gRPC")
    }

    pub async fn client_with(&self, token: Option<String>) -> Client {
        ContactsClient::with_interceptor(self.channel().await, Bearer(token))
    }

    /// An activities client acting as `user`.
    pub async fn activities(&self, user: &str) -> Activities {
        let token = self
            .key
            .issue(user, Role::Agent, Duration::from_secs(600))
            .expect("a token");
        ActivitiesClient::with_interceptor(self.channel().await, Bearer(Some(token)))
    }

    /// A staff client acting as `user` with `role`.
    /// The gRPC channel of the staff this suite's people are hired in: its own, or
    /// the staff started beside it.
    async fn staff_channel(&self) -> Channel {
        match &self.staff_beside {
            Some(staff) => Box::pin(staff.channel()).await,
            None => self.channel().await,
        }
    }

    /// The audit trail's lines of `action`, newest first (up to 500), as an admin
    /// reads them.
    pub async fn audit_of(&self, action: &str) -> Vec<ringside_proto::staff::v1::AuditEntry> {
        let mut staff = self.staff_as("test-admin", Role::Admin).await;
        let request = ringside_proto::staff::v1::ListAuditRequest {
            page_size: 500,
            ..Default::default()
        };
        let lines = staff.list_audit(request).await.expect("the audit trail");
        let lines = lines.into_inner().entries.into_iter();
        lines.filter(|l| l.action == action).collect()
    }

    pub async fn staff_as(&self, user: &str, role: Role) -> Staff {
        let token = self.key.issue(user, role, Duration::from_secs(600));
        self.staff_with(token.expect("a token")).await
    }

    /// A staff client calling with `token` (none when empty).
    pub async fn staff_with(&self, token: String) -> Staff {
        let token = Some(token).filter(|t| !t.is_empty());
        StaffClient::with_interceptor(self.staff_channel().await, Bearer(token))
    }

    /// A deals client acting as the agent `user`.
    pub async fn deals(&self, user: &str) -> Deals {
        self.deals_as(user, Role::Agent).await
    }

    /// A deals client acting as `user` with `role`, a member of `teams` (as the
    /// tokens staff mints say).
    pub async fn deals_member(&self, user: &str, role: Role, teams: &[&str]) -> Deals {
        let token = self.member_token(user, role, teams);
        DealsClient::with_interceptor(self.channel().await, Bearer(Some(token)))
    }

    /// An activities client acting as `user` with `role`, a member of `teams`.
    pub async fn activities_member(&self, user: &str, role: Role, teams: &[&str]) -> Activities {
        let token = self.member_token(user, role, teams);
        ActivitiesClient::with_interceptor(self.channel().await, Bearer(Some(token)))
    }

    /// A contacts client acting as `user` with `role`, a member of `teams`.
    pub async fn contacts_member(&self, user: &str, role: Role, teams: &[&str]) -> Client {
        self.client_with(Some(self.member_token(user, role, teams)))
            .await
    }

    /// A people's access token for `user` with `role`, a member of `teams`, as staff
    /// mints them.
    pub fn member_token(&self, user: &str, role: Role, teams: &[&str]) -> String {
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        let ttl = Duration::from_secs(600);
        let token = self.key.issue_member(user, role, &teams, ttl);
        token.expect("a token")
    }

    /// A deals client acting as `user` with `role`.
    pub async fn deals_as(&self, user: &str, role: Role) -> Deals {
        let token = self
            .key
            .issue(user, role, Duration::from_secs(600))
            .expect("a token");
        DealsClient::with_interceptor(self.channel().await, Bearer(Some(token)))
    }

    /// A contacts client acting as the office's admin (`test-user`), who sees and
    /// may assign every record.
    pub async fn client(&self) -> Client {
        self.client_with(Some(self.token(Role::Admin))).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        let db = self.running.db.as_ref().expect("a suite with a database");
        sqlx::query_scalar::<_, i64>(ringside_storage::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table}"
        )))
        .fetch_one(db.pool())
        .await
        .expect("count")
    }

    /// Subscribes a fresh queue of this test to `patterns` on the suite's bus.
    pub async fn watch(&self, patterns: &[&str]) -> ringside_bus::Deliveries {
        let queue = format!("test.watch.{}", uuid::Uuid::new_v4().simple());
        self.watched.lock().expect("lock").push(queue.clone());
        self.running
            .bus
            .subscribe(ringside_bus::QueueSpec::new(&queue, patterns))
            .await
            .expect("subscribe")
    }

    pub async fn stop(self) {
        if let Some(staff) = self.staff_beside {
            Box::pin(staff.stop()).await;
        }
        self.running.stop().await.expect("stop");
        if let Some(broker) = &self.broker {
            let mut watched = std::mem::take(&mut *self.watched.lock().expect("lock"));
            for service in ["activities", "deals", "notifications"] {
                watched.push(format!("{}{service}", self.settings.queue_prefix));
            }
            for queue in &watched {
                let _ = broker.delete_queue(queue).await;
            }
            let _ = broker.delete_exchange().await;
        }
    }
}

/// One plain HTTP/1.1 request; returns the status and the body (read to its
/// Content-Length, since not every server closes the connection when asked).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let (status, _, body) = http_full(addr, method, path, headers, body).await;
    (status, body)
}

/// [`http`], with the response's head (status line and headers) as well.
pub async fn http_full(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let _ = stream.write_all(body).await; // a refused oversized body may be cut short
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if complete(&response) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// Whether `response` holds its whole head and the body its Content-Length names.
fn complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|n| response.len() >= end + 4 + n)
}

/// Polls `probe` until it gives a value (10 s at most).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leads contacts holds (up to 100), as `ListLeads` gives them.
pub async fn leads(suite: &Suite) -> Vec<ringside_proto::contacts::v1::Lead> {
    let req = ringside_proto::contacts::v1::ListLeadsRequest {
        page_size: 100,
        ..Default::default()
    };
    suite
        .client()
        .await
        .list_leads(req)
        .await
        .expect("leads")
        .into_inner()
        .leads
}

/// A lead's timeline (up to 100 entries), oldest first, read as the office's admin.
pub async fn lead_timeline(suite: &Suite, lead_id: &str) -> Vec<apb::Entry> {
    let req = apb::TimelineRequest {
        subject: Some(apb::Subject {
            subject: Some(apb::subject::Subject::LeadId(lead_id.into())),
        }),
        page_size: 100,
        ..Default::default()
    };
    let mut entries = suite
        .activities_member("test-admin", Role::Admin, &[])
        .await
        .timeline(req)
        .await
        .expect("timeline")
        .into_inner()
        .entries;
    entries.reverse();
    entries
}

/// A message on a timeline: its detail, conversation and entry id.
pub type Filed = (apb::MessageDetail, String, String);

/// The message entries of `entries`.
pub fn messages(entries: &[apb::Entry]) -> Vec<Filed> {
    entries
        .iter()
        .filter_map(|e| match &e.detail {
            Some(apb::entry::Detail::Message(m)) => {
                Some((m.clone(), e.conversation_id.clone(), e.id.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The `ringside` program as the system tests run it (this package's
/// `ringside-under-test`, which is the `ringside` binary's `main` and nothing else).
pub fn ringside_binary() -> std::path::PathBuf {
    let tests = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/system-<hash> → target/<profile>/ringside-under-test
    let dir = tests.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join(format!(
        "ringside-under-test{}",
        std::env::consts::EXE_SUFFIX
    ))
}

/// The `ringside` binary, all-in-one on `data_dir`, every listener on a free port.
pub fn ringside_command(data_dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(ringside_binary());
    cmd.env_clear()
        .env("RINGSIDE_DATA_DIR", data_dir)
        .env("RINGSIDE_HTTP_ADDR", "127.0.0.1:0")
        .env("RINGSIDE_GRPC_ADDR", "127.0.0.1:0")
        .env("RINGSIDE_SIP_ADDR", "127.0.0.1:0")
        .env("RINGSIDE_HEP_ADDR", "127.0.0.1:0");
    cmd
}
