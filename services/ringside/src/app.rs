//! Assembling and running the suite: the database, the bus, the services, and the
//! gRPC and HTTP servers, with an ordered shutdown (stop accepting, drain in-flight
//! calls, flush the outboxes, close the database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ringside_activities::{ActivitiesGrpc, ActivitiesService};
use ringside_auth::{Audit, Guarded, TokenKey};
use ringside_bus::amqp::AmqpBus;
use ringside_bus::local::LocalBus;
use ringside_bus::{Bus, consumer, outbox};
use ringside_contacts::{ContactsGrpc, ContactsService};
use ringside_deals::{DealsGrpc, DealsService};
use ringside_ingest::status::IngestGrpc;
use ringside_kit::{Loopback, PeerChannel};
use ringside_notifications::{Notifications, NotificationsGrpc};
use ringside_proto::activities::v1::activities_server::ActivitiesServer;
use ringside_proto::contacts::v1::contacts_server::ContactsServer;
use ringside_proto::deals::v1::deals_server::DealsServer;
use ringside_proto::ingest::v1::ingest_server::IngestServer;
use ringside_proto::notifications::v1::notifications_server::NotificationsServer;
use ringside_proto::staff::v1::staff_server::StaffServer;
use ringside_staff::{StaffGrpc, StaffService};
use ringside_storage::Db;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::config::Settings;
use crate::http;

/// The services this binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    Staff,
    Contacts,
    Activities,
    Deals,
    Notifications,
    Ingest,
    Web,
}

impl ServiceName {
    /// Ingest and web keep no tables: one publishes what it sees, the other shows
    /// what the services answer.
    fn needs_database(self) -> bool {
        !matches!(self, ServiceName::Ingest | ServiceName::Web)
    }
}

/// The services one service may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Staff,
    Contacts,
    Activities,
    Deals,
    Notifications,
    Ingest,
}

/// How to run: everything in one process on the embedded database and the local
/// bus, or one service against PostgreSQL and RabbitMQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AllInOne,
    Serve(ServiceName),
}

impl Mode {
    /// The services of this mode, in start order (contacts before those that ask it).
    pub fn services(self) -> Vec<ServiceName> {
        match self {
            Mode::AllInOne => vec![
                ServiceName::Staff,
                ServiceName::Contacts,
                ServiceName::Activities,
                ServiceName::Deals,
                ServiceName::Notifications,
                ServiceName::Ingest,
                ServiceName::Web,
            ],
            Mode::Serve(service) => vec![service],
        }
    }

    fn needs_database(self) -> bool {
        self == Mode::AllInOne || self.services().iter().any(|s| s.needs_database())
    }
}

/// A started suite.
pub struct Running {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// The SIP and HEP addresses, when ingest runs here.
    pub ingest: Option<ringside_ingest::Bound>,
    pub db: Option<Db>,
    /// The bus the suite publishes to (tests subscribe to it).
    pub bus: Arc<dyn Bus>,
    /// The gRPC services served (besides health and reflection).
    pub grpc_services: Vec<&'static str>,
    /// The staff service, all-in-one (for the first admin's password link).
    staff: Option<StaffService>,
    shutdown: CancellationToken,
    /// Stops the workers (relays, consumers, the bus), once the servers are done:
    /// what the last calls commit is still published.
    work: CancellationToken,
    /// The router this process's services call each other through.
    loopback: Loopback,
    servers: JoinSet<anyhow::Result<()>>,
    workers: JoinSet<()>,
    grace: Duration,
}

/// What the services of a mode put together while starting.
struct Assembly<'a> {
    settings: &'a Settings,
    mode: Mode,
    key: TokenKey,
    db: Option<Db>,
    bus: Arc<dyn Bus>,
    shutdown: CancellationToken,
    work: CancellationToken,
    workers: JoinSet<()>,
    http_routes: axum::Router,
    contacts: Option<ContactsService>,
    activities: Option<ActivitiesService>,
    deals: Option<DealsService>,
    notifications: Option<Notifications>,
    staff: Option<StaffService>,
    /// This process's gRPC router, as its own services call each other in the
    /// all-in-one mode (bound once every service is assembled).
    loopback: Loopback,
    ingest: Option<ringside_ingest::Bound>,
    /// Ingest's channels, when it runs here (its gRPC service answers them).
    channels: Option<ringside_ingest::status::Channels>,
    grpc: TcpListener,
    http: TcpListener,
    /// Where this process writes to the audit trail (made when first needed).
    audit: Option<Audit>,
}

/// Connects, migrates and starts serving. Returns once every listener is bound.
pub async fn start(settings: &Settings, mode: Mode, key: TokenKey) -> anyhow::Result<Running> {
    key.check().context("the token keys")?;
    // A service on its own never mints people's tokens: it keeps their public keys.
    // Staff mints them (from a session), and the all-in-one process holds staff.
    let key = match mode {
        Mode::AllInOne | Mode::Serve(ServiceName::Staff) => key,
        Mode::Serve(_) => key.for_services(),
    };
    http::metrics_handle(); // install the recorder before anything counts
    // Ingest keeps no database, except for its IMAP cursors when it reads mailboxes.
    let db = match mode.needs_database() || !settings.imap_mailboxes().is_empty() {
        true => Some(open_database(settings, mode).await?),
        false => None,
    };
    let shutdown = CancellationToken::new();
    let work = CancellationToken::new();
    let bus = open_bus(settings, mode, db.as_ref(), &work).await?;
    let grpc = TcpListener::bind(settings.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC to {}", settings.grpc_addr))?;
    let http = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding HTTP to {}", settings.http_addr))?;
    let mut a = Assembly {
        settings,
        mode,
        key,
        db,
        bus,
        shutdown,
        work,
        workers: JoinSet::new(),
        http_routes: axum::Router::new(),
        contacts: None,
        activities: None,
        deals: None,
        notifications: None,
        staff: None,
        loopback: Loopback::default(),
        ingest: None,
        channels: None,
        grpc,
        http,
        audit: None,
    };
    a.start_pruning();
    for service in mode.services() {
        match service {
            ServiceName::Staff => a.start_staff()?,
            ServiceName::Contacts => a.start_contacts()?,
            ServiceName::Activities => a.start_activities().await?,
            ServiceName::Deals => a.start_deals().await?,
            ServiceName::Notifications => a.start_notifications().await?,
            ServiceName::Ingest => a.start_ingest().await?,
            ServiceName::Web => a.start_web()?,
        }
    }
    a.serve().await
}

impl Assembly<'_> {
    /// Keeps the tables that need only their recent rows pruned (the bus inbox's
    /// claims; the alerts sent, where notifications runs), when this process has a
    /// database of its own.
    fn start_pruning(&mut self) {
        let Some(db) = self.db.clone() else {
            return;
        };
        let mut tables = vec![ringside_bus::inbox::PRUNED];
        if self.mode.services().contains(&ServiceName::Notifications) {
            tables.push(ringside_notifications::store::PRUNED);
        }
        let keep = Duration::from_secs(self.settings.keep_claims_days * 24 * 3600);
        let pruning = ringside_storage::prune::run(db, tables, keep, self.work.clone());
        self.workers.spawn(pruning);
    }

    fn db(&self, service: &str) -> anyhow::Result<Db> {
        self.db
            .clone()
            .with_context(|| format!("{service} needs a database"))
    }

    /// An outbox relay for `source`, running until shutdown; returns its waker.
    fn relay(&mut self, db: Db, source: &'static str) -> Arc<tokio::sync::Notify> {
        let relay = outbox::Relay::new(db, self.bus.clone(), source);
        let waker = relay.waker();
        self.workers.spawn(relay.run(self.work.clone()));
        waker
    }

    fn start_staff(&mut self) -> anyhow::Result<()> {
        let config = ringside_staff::signin::SignInConfig {
            admin_two_factor: self.settings.admin_two_factor,
            ..Default::default()
        };
        let mut staff = StaffService::with_sign_in(self.db("staff")?, config);
        if let Some((provider, groups)) = self.settings.provider()? {
            let provider = ringside_staff::oidc::Provider::new(provider)
                .context("RINGSIDE_OIDC_ISSUER / RINGSIDE_OIDC_REDIRECT_URL")?;
            staff = staff.with_provider(provider, groups);
        }
        self.staff = Some(staff);
        Ok(())
    }

    fn start_contacts(&mut self) -> anyhow::Result<()> {
        let db = self.db("contacts")?;
        let region = self
            .settings
            .phone_region
            .parse()
            .context("RINGSIDE_PHONE_REGION")?;
        let wake = self.relay(db.clone(), ringside_contacts::SOURCE);
        let caller = ringside_contacts::SOURCE;
        let owners = ringside_kit::scope::Owners::new(self.peer(caller, Peer::Staff)?);
        let mut contacts = ContactsService::new(db, region, wake).with_owners(owners);
        if let Some(config) = self.settings.assignment()? {
            let staff = self.peer(caller, Peer::Staff)?;
            let notifications = self.peer(caller, Peer::Notifications)?;
            let assigner = ringside_contacts::assign::Assigner::new(staff, notifications, config);
            contacts = contacts.with_assigner(assigner);
        }
        self.contacts = Some(contacts);
        Ok(())
    }

    /// This process's writer to the audit trail: to its own staff, or the one at
    /// `RINGSIDE_STAFF_URL`; the lines name the process (`ringside`, or the service).
    fn audit(&mut self) -> anyhow::Result<Audit> {
        if let Some(audit) = &self.audit {
            return Ok(audit.clone());
        }
        let caller = match self.mode {
            Mode::AllInOne => "ringside",
            Mode::Serve(ServiceName::Staff) => ringside_staff::SOURCE,
            Mode::Serve(ServiceName::Contacts) => ringside_contacts::SOURCE,
            Mode::Serve(ServiceName::Activities) => ringside_activities::SOURCE,
            Mode::Serve(ServiceName::Deals) => ringside_deals::SOURCE,
            Mode::Serve(ServiceName::Notifications) => ringside_notifications::SOURCE,
            Mode::Serve(ServiceName::Ingest) => ringside_ingest::publisher::SOURCE,
            Mode::Serve(ServiceName::Web) => ringside_web::SOURCE,
        };
        let staff = match self.staff.is_some() {
            true => PeerChannel::local(&self.loopback, self.key.clone(), caller),
            false => self.peer(caller, Peer::Staff)?,
        };
        let audit = ringside_kit::audit::StaffTrail::start(staff);
        self.audit = Some(audit.clone());
        Ok(audit)
    }

    /// The channel `caller` calls a peer service through: this process's own gRPC
    /// router in the all-in-one mode, the peer's address otherwise.
    fn peer(&self, caller: &'static str, peer: Peer) -> anyhow::Result<PeerChannel> {
        let key = self.key.clone();
        if self.mode == Mode::AllInOne {
            return Ok(PeerChannel::local(&self.loopback, key, caller));
        }
        let (url, variable) = match peer {
            Peer::Staff => (&self.settings.staff_url, "RINGSIDE_STAFF_URL"),
            Peer::Contacts => (&self.settings.contacts_url, "RINGSIDE_CONTACTS_URL"),
            Peer::Activities => (&self.settings.activities_url, "RINGSIDE_ACTIVITIES_URL"),
            Peer::Deals => (&self.settings.deals_url, "RINGSIDE_DEALS_URL"),
            Peer::Notifications => (
                &self.settings.notifications_url,
                "RINGSIDE_NOTIFICATIONS_URL",
            ),
            Peer::Ingest => (&self.settings.ingest_url, "RINGSIDE_INGEST_URL"),
        };
        PeerChannel::connect(url, key, caller).context(variable)
    }

    async fn start_activities(&mut self) -> anyhow::Result<()> {
        let db = self.db("activities")?;
        let caller = ringside_activities::SOURCE;
        let peers = ringside_activities::peers::Peers::new(self.peer(caller, Peer::Contacts)?)
            .with_staff(self.peer(caller, Peer::Staff)?)
            .with_deals(self.peer(caller, Peer::Deals)?);
        let wake = self.relay(db.clone(), ringside_activities::SOURCE);
        let config = self.settings.activities()?;
        let owners = ringside_kit::scope::Owners::new(self.peer(caller, Peer::Staff)?);
        let service = ActivitiesService::new(db, peers, config, wake).with_owners(owners);
        let handler = Arc::new(ringside_activities::Consumer::new(service.clone()));
        let spec = ringside_activities::queue_spec(&self.settings.queue_prefix);
        let consuming = consumer::start(self.bus.clone(), spec, handler, self.work.clone())
            .await
            .context("subscribing activities to the bus")?;
        self.workers.spawn(consuming);
        self.workers.spawn(ringside_activities::reminders::run(
            service.clone(),
            self.work.clone(),
        ));
        self.activities = Some(service);
        Ok(())
    }

    async fn start_deals(&mut self) -> anyhow::Result<()> {
        let db = self.db("deals")?;
        let contacts = self.peer(ringside_deals::SOURCE, Peer::Contacts)?;
        let wake = self.relay(db.clone(), ringside_deals::SOURCE);
        let owners =
            ringside_kit::scope::Owners::new(self.peer(ringside_deals::SOURCE, Peer::Staff)?);
        let service = DealsService::new(db, contacts, wake).with_owners(owners);
        service
            .ensure_default_pipeline()
            .await
            .context("creating the default pipeline")?;
        service
            .fill_title_lower()
            .await
            .context("lower-casing deal titles for the search")?;
        let handler = Arc::new(ringside_deals::Consumer::new(service.clone()));
        let spec = ringside_deals::queue_spec(&self.settings.queue_prefix);
        let consuming = consumer::start(self.bus.clone(), spec, handler, self.work.clone())
            .await
            .context("subscribing deals to the bus")?;
        self.workers.spawn(consuming);
        self.deals = Some(service);
        Ok(())
    }

    async fn start_notifications(&mut self) -> anyhow::Result<()> {
        let db = self.db("notifications")?;
        use ringside_notifications::peers::{PeerChannels, Peers};
        let caller = ringside_notifications::SOURCE;
        let channels = PeerChannels {
            contacts: self.peer(caller, Peer::Contacts)?,
            activities: self.peer(caller, Peer::Activities)?,
            deals: self.peer(caller, Peer::Deals)?,
        };
        let peers = Arc::new(Peers::new(channels));
        let config = ringside_notifications::NotificationsConfig {
            card_deadline: Duration::from_millis(self.settings.card_deadline_ms),
        };
        use ringside_notifications::outbound::{EmailOut, Outbound, TelegramOut};
        // One sender per channel, shared by alerts and answers (one rate limiter per bot).
        let channels = self.settings.send_channels()?;
        let alerts =
            ringside_notifications::alerts::alert_channels(&channels, &self.settings.alert_from)
                .map_err(anyhow::Error::msg)
                .context("RINGSIDE_ALERT_FROM")?;
        let alerter = ringside_notifications::alerts::Alerter::new(db.clone(), alerts);
        let staff = ringside_notifications::staff::Directory::new(self.peer(caller, Peer::Staff)?);
        let mut service =
            Notifications::new(staff, peers.clone(), alerter, config).with_audit(self.audit()?);
        if channels.telegram.is_some() || channels.email.is_some() {
            let telegram = channels.telegram.map(TelegramOut::new);
            let email = match channels.email {
                Some(sender) => Some(
                    EmailOut::new(sender, self.settings.answers_from())
                        .map_err(anyhow::Error::msg)
                        .context("RINGSIDE_EMAIL_FROM")?,
                ),
                None => None,
            };
            let outbound = Outbound::new(peers, self.bus.clone(), telegram, email).with_auto_reply(
                self.settings.email_auto_reply.clone(),
                &self.settings.email_auto_reply_subject,
            );
            service = service.with_outbound(outbound);
        }
        let handler = Arc::new(ringside_notifications::Consumer::new(service.clone()));
        for spec in ringside_notifications::queue_specs(&self.settings.queue_prefix) {
            let consuming =
                consumer::start(self.bus.clone(), spec, handler.clone(), self.work.clone())
                    .await
                    .context("subscribing notifications to the bus")?;
            self.workers.spawn(consuming);
        }
        let ringing =
            Duration::from_secs(self.settings.ring_timeout_secs) + Duration::from_secs(7 * 60);
        self.workers.spawn(expire_cards(
            service.hub.clone(),
            ringing,
            self.shutdown.clone(),
        ));
        let sessions = self.sessions(caller)?;
        let origins = ringside_kit::browser::Origins::parse(&self.settings.web_origins);
        let routes = ringside_notifications::ws::router(
            service.clone(),
            self.key.clone(),
            (sessions, origins),
            Duration::from_secs(self.settings.ws_ping_secs.clamp(1, 3600)),
        );
        self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        self.notifications = Some(service);
        Ok(())
    }

    /// How `caller` finds the person of a browser's session cookie: staff.
    fn sessions(&self, caller: &'static str) -> anyhow::Result<ringside_kit::browser::Sessions> {
        Ok(ringside_kit::browser::Sessions::new(
            self.peer(caller, Peer::Staff)?,
            ringside_kit::browser::SessionCookie::new(self.settings.secure_cookies),
        ))
    }

    fn start_web(&mut self) -> anyhow::Result<()> {
        let caller = ringside_web::SOURCE;
        check_push_url(&self.settings.push_url, self.settings.secure_cookies)?;
        let proxies = self.settings.trusted_proxies()?;
        let peers = ringside_web::Peers {
            contacts: self.peer(caller, Peer::Contacts)?,
            activities: self.peer(caller, Peer::Activities)?,
            deals: self.peer(caller, Peer::Deals)?,
            notifications: self.peer(caller, Peer::Notifications)?,
            staff: self.peer(caller, Peer::Staff)?,
            ingest: self.peer(caller, Peer::Ingest)?,
        };
        let mut web = ringside_web::Web::new(self.sessions(caller)?, peers, proxies)
            .with_push_url(&self.settings.push_url);
        if self.settings.provider()?.is_some() {
            web = web.with_provider(&self.settings.oidc_name);
        }
        let routes = ringside_web::router(web);
        self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        Ok(())
    }

    async fn start_ingest(&mut self) -> anyhow::Result<()> {
        use ringside_ingest::status::Kind;
        let channels = ringside_ingest::status::Channels::default();
        let (state, bound) = ringside_ingest::start(
            self.settings.ingest()?,
            self.bus.clone(),
            &channels,
            self.shutdown.clone(),
            &mut self.workers,
        )
        .await
        .context("binding the SIP/HEP listeners")?;
        if let Some(secret) = self
            .settings
            .call_webhook_secret
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            let channel = channels.add(Kind::CallWebhook, "POST /ingest/calls", "");
            let routes = ringside_ingest::webhook::router(state, self.bus.clone(), secret, channel);
            self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        }
        if let Some(path) = &self.settings.forms {
            let forms = ringside_ingest::forms::config::load(path)
                .map_err(anyhow::Error::msg)
                .context("RINGSIDE_FORMS")?;
            let proxies = self.settings.trusted_proxies()?;
            let contacts = self.contacts_peer()?;
            let bus = self.bus.clone();
            let routes = ringside_ingest::forms::router(forms, contacts, bus, proxies, &channels);
            self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        }
        self.start_telegram_in(&channels)?;
        self.start_email_in(&channels)?;
        self.ingest = Some(bound);
        self.channels = Some(channels);
        Ok(())
    }

    /// Email into ingest: a poller per IMAP mailbox, and the MIME webhook when its
    /// secret is set.
    fn start_email_in(
        &mut self,
        channels: &ringside_ingest::status::Channels,
    ) -> anyhow::Result<()> {
        use ringside_ingest::email::{EmailIn, imap};
        use ringside_ingest::status::Kind;
        let settings = self.settings;
        let mailboxes = settings
            .imap_mailboxes()
            .iter()
            .map(|raw| imap::Mailbox::parse(raw))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_IMAP_MAILBOXES")?;
        let secret = settings
            .email_webhook_secret
            .as_deref()
            .filter(|s| !s.is_empty());
        if mailboxes.is_empty() && secret.is_none() {
            return Ok(());
        }
        let email = Arc::new(EmailIn::new(
            self.contacts_peer()?,
            self.bus.clone(),
            settings.email_max_bytes,
        ));
        if let Some(secret) = secret {
            let channel = channels.add(Kind::EmailWebhook, "POST /ingest/email", "");
            let routes = ringside_ingest::email::webhook::router(email.clone(), secret, channel);
            self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        }
        if mailboxes.is_empty() {
            return Ok(());
        }
        let cursors: Arc<dyn imap::Cursors> =
            Arc::new(imap::DbCursors(self.db("ingest (IMAP cursors)")?));
        let config = imap::ImapConfig {
            poll: Duration::from_secs(settings.imap_poll_secs),
            idle: Duration::from_secs(settings.imap_idle_secs),
            quarantine: settings.imap_quarantine.clone(),
        };
        for mailbox in mailboxes {
            let channel = channels.add(Kind::Mailbox, mailbox.key(), "");
            let reading = imap::run(
                email.clone(),
                (mailbox, channel),
                cursors.clone(),
                config.clone(),
                self.shutdown.clone(),
            );
            self.workers.spawn(reading);
        }
        Ok(())
    }

    /// Telegram updates into ingest, by long polling or webhook, when a bot is set.
    fn start_telegram_in(
        &mut self,
        channels: &ringside_ingest::status::Channels,
    ) -> anyhow::Result<()> {
        use ringside_ingest::status::Kind;
        use ringside_ingest::telegram::{self, Mode, TelegramIn};
        let settings = self.settings;
        let mode: Mode = settings
            .telegram_mode
            .parse()
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_TELEGRAM_MODE")?;
        let groups = settings
            .telegram_groups
            .parse()
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_TELEGRAM_GROUPS")?;
        if mode == Mode::Off {
            return Ok(());
        }
        let Some(bot) = settings.telegram_bot(Duration::ZERO)? else {
            return Ok(());
        };
        let staff = self.peer(ringside_ingest::publisher::SOURCE, Peer::Staff)?;
        let contacts = self.contacts_peer()?;
        let watched = match mode {
            Mode::Polling => "polling",
            _ => "webhook",
        };
        let channel = channels.add(Kind::Telegram, "", watched);
        let inbound = TelegramIn::new(bot.clone(), contacts, self.bus.clone(), groups)
            .with_staff(staff)
            .watched(channel.clone());
        let inbound = Arc::new(inbound);
        if mode == Mode::Polling {
            let wait = Duration::from_secs(settings.telegram_poll_secs);
            let poller = settings.telegram_bot(wait)?.context("the bot")?;
            let polling = telegram::poll::run(inbound, poller, wait, self.shutdown.clone());
            self.workers.spawn(polling);
            return Ok(());
        }
        let secret = settings
            .telegram_webhook_secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .context("RINGSIDE_TELEGRAM_WEBHOOK_SECRET is required in webhook mode")?;
        if let Some(url) = settings
            .telegram_webhook_url
            .as_deref()
            .filter(|u| !u.is_empty())
        {
            let url = url.parse().context("RINGSIDE_TELEGRAM_WEBHOOK_URL")?;
            let secret = secret.to_owned();
            let registering =
                telegram::webhook::register(bot, url, secret, channel, self.shutdown.clone());
            self.workers.spawn(registering);
        }
        let routes = telegram::webhook::router(inbound, secret);
        self.http_routes = std::mem::take(&mut self.http_routes).merge(routes);
        Ok(())
    }

    /// Contacts as ingest asks it who sent something.
    fn contacts_peer(&self) -> anyhow::Result<ringside_ingest::peers::Contacts> {
        let channel = self.peer(ringside_ingest::publisher::SOURCE, Peer::Contacts)?;
        Ok(ringside_ingest::peers::Contacts::new(channel))
    }

    /// Binds the gRPC and HTTP listeners and starts serving.
    async fn serve(mut self) -> anyhow::Result<Running> {
        let grpc_services: Vec<&'static str> = [
            self.staff.as_ref().map(|_| "ringside.staff.v1.Staff"),
            self.contacts
                .as_ref()
                .map(|_| "ringside.contacts.v1.Contacts"),
            self.activities
                .as_ref()
                .map(|_| "ringside.activities.v1.Activities"),
            self.deals.as_ref().map(|_| "ringside.deals.v1.Deals"),
            self.notifications
                .as_ref()
                .map(|_| "ringside.notifications.v1.Notifications"),
            self.channels.as_ref().map(|_| "ringside.ingest.v1.Ingest"),
        ]
        .into_iter()
        .flatten()
        .collect();
        // Refusals of the guard go to the audit trail, in any process serving gRPC.
        let audit = match grpc_services.is_empty() {
            true => None,
            false => Some(self.audit()?),
        };
        let settings = self.settings;
        let (grpc, http) = (self.grpc, self.http);
        let (grpc_addr, http_addr) = (grpc.local_addr()?, http.local_addr()?);
        let staff = match self.mode {
            Mode::AllInOne => self.staff.clone(),
            Mode::Serve(_) => None,
        };
        let mut servers = JoinSet::new();
        let grpc_set = GrpcServices {
            staff: self.staff,
            contacts: self.contacts,
            activities: self.activities,
            deals: self.deals,
            notifications: self.notifications,
            channels: self.channels,
        };
        let (routes, health) = grpc_routes(grpc_set, self.key, audit).await?;
        // From here on the services of this process reach each other through it.
        self.loopback.bind(routes.clone());
        let drain = Duration::from_millis(settings.shutdown_drain_ms);
        servers.spawn(serve_grpc(grpc, routes, self.shutdown.clone(), drain));
        let readiness = http::Readiness {
            db: self.db.clone(),
            bus: self.bus.clone(),
        };
        let names = grpc_services.clone();
        servers.spawn(watch_health(
            health,
            names,
            readiness.clone(),
            self.shutdown.clone(),
        ));
        let router = http::router(readiness).merge(self.http_routes);
        servers.spawn(serve_http(http, router, self.shutdown.clone()));
        Ok(Running {
            http_addr,
            grpc_addr,
            ingest: self.ingest,
            db: self.db,
            bus: self.bus,
            grpc_services,
            staff,
            shutdown: self.shutdown,
            work: self.work,
            loopback: self.loopback,
            servers,
            workers: self.workers,
            grace: settings.shutdown_grace(),
        })
    }
}

async fn open_database(settings: &Settings, mode: Mode) -> anyhow::Result<Db> {
    let url = match (mode, &settings.database_url) {
        (Mode::AllInOne, None) => {
            std::fs::create_dir_all(&settings.data_dir)
                .with_context(|| format!("creating {}", settings.data_dir.display()))?;
            settings.embedded_database_url()
        }
        (_, _) => settings.require_database_url()?.to_owned(),
    };
    let db = Db::connect(&url, settings.db_max_connections).await?;
    db.migrate().await?;
    Ok(db)
}

async fn open_bus(
    settings: &Settings,
    mode: Mode,
    db: Option<&Db>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match mode {
        Mode::AllInOne => {
            let db = db.context("the local bus needs the embedded database")?;
            Arc::new(LocalBus::open(db.clone(), shutdown.clone()).await?)
        }
        Mode::Serve(ServiceName::Web) => Arc::new(NoBus),
        Mode::Serve(service) => {
            let name = format!("ringside-{service:?}").to_lowercase();
            let url = settings.require_amqp_url()?;
            let bus = AmqpBus::connect(url, &settings.exchange, &name, shutdown.clone())
                .await
                .context("connecting to RabbitMQ")?;
            declare_topology(&bus, &settings.queue_prefix).await?;
            Arc::new(bus)
        }
    })
}

/// Closes, every half minute, the live cards of calls whose end never came: ringing
/// for longer than `ringing` (ingest closes a call that rings past
/// `RINGSIDE_RING_TIMEOUT_SECS`; this is that and a margin), or answered for longer
/// than ingest tracks a call (4 hours). At shutdown, ends every socket and
/// `Subscribe` stream, which would otherwise hold it for its whole grace.
async fn expire_cards(
    hub: ringside_notifications::hub::Hub,
    ringing: Duration,
    shutdown: CancellationToken,
) {
    const ANSWERED: Duration = Duration::from_secs(4 * 3600 + 10 * 60);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return hub.disconnect_all(),
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
        let expired = hub.expire(ringing, ANSWERED);
        if expired > 0 {
            tracing::info!(expired, "live cards of calls whose end never came closed");
        }
    }
}

/// Every service's durable queue with its bindings, declared by each process at its
/// start: an event published before its consumer first started (ingest up, activities
/// not yet) waits in the consumer's queue rather than being routed nowhere. Live
/// queues are left to their consumers: what they carry is worth nothing later.
async fn declare_topology(bus: &AmqpBus, prefix: &str) -> anyhow::Result<()> {
    let durable = [
        ringside_activities::queue_spec(prefix),
        ringside_deals::queue_spec(prefix),
    ]
    .into_iter()
    .chain(ringside_notifications::queue_specs(prefix))
    .filter(|spec| spec.kind == ringside_bus::QueueKind::Durable);
    for spec in durable {
        bus.declare(&spec)
            .await
            .with_context(|| format!("declaring the queue {}", spec.queue))?;
    }
    Ok(())
}

/// `RINGSIDE_PUSH_URL` is a socket's address that a page served over TLS may open
/// (`wss://` then: a browser refuses a plain socket from an https page).
fn check_push_url(url: &str, secure: bool) -> anyhow::Result<()> {
    let (scheme, _) = match url {
        "" => return Ok(()),
        url => url.split_once("://").unwrap_or(("", url)),
    };
    match (scheme, secure) {
        ("wss", _) | ("ws", false) => Ok(()),
        ("ws", true) => anyhow::bail!(
            "RINGSIDE_PUSH_URL: pages served over TLS (RINGSIDE_SECURE_COOKIES) need a wss:// socket"
        ),
        _ => anyhow::bail!(
            "RINGSIDE_PUSH_URL: a ws:// or wss:// address, like ws://127.0.0.1:8082/agent/ws"
        ),
    }
}

/// The bus of a process that neither publishes nor consumes (`serve web`, which only
/// calls the services): it needs no broker, and refuses anything sent to it.
struct NoBus;

#[async_trait::async_trait]
impl Bus for NoBus {
    async fn send(
        &self,
        _batch: &[ringside_bus::Message],
    ) -> Result<ringside_bus::Confirm, ringside_bus::BusError> {
        Err(ringside_bus::BusError::Closed)
    }

    async fn subscribe(
        &self,
        _spec: ringside_bus::QueueSpec,
    ) -> Result<ringside_bus::Deliveries, ringside_bus::BusError> {
        Err(ringside_bus::BusError::Closed)
    }

    async fn is_ready(&self) -> bool {
        true
    }
}

/// The gRPC services of this process.
struct GrpcServices {
    staff: Option<StaffService>,
    contacts: Option<ContactsService>,
    activities: Option<ActivitiesService>,
    deals: Option<DealsService>,
    notifications: Option<Notifications>,
    channels: Option<ringside_ingest::status::Channels>,
}

/// Every gRPC service of this process behind the guard (the token, then the
/// permission table for the method), with health and
/// reflection (open, so probes and tools need no token): what the gRPC port serves,
/// and what this process's own services call each other through.
async fn grpc_routes(
    services: GrpcServices,
    key: TokenKey,
    audit: Option<Audit>,
) -> anyhow::Result<(Routes, tonic_health::server::HealthReporter)> {
    let (health, health_service) = tonic_health::server::health_reporter();
    if services.contacts.is_some() {
        health.set_serving::<ContactsServer<ContactsGrpc>>().await;
    }
    if services.notifications.is_some() {
        health
            .set_serving::<NotificationsServer<NotificationsGrpc>>()
            .await;
    }
    if services.activities.is_some() {
        health
            .set_serving::<ActivitiesServer<ActivitiesGrpc>>()
            .await;
    }
    if services.deals.is_some() {
        health.set_serving::<DealsServer<DealsGrpc>>().await;
    }
    if services.staff.is_some() {
        health.set_serving::<StaffServer<StaffGrpc>>().await;
    }
    if services.channels.is_some() {
        health.set_serving::<IngestServer<IngestGrpc>>().await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ringside_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let guard = Guard { key, audit };
    let contacts = services
        .contacts
        .map(|c| guard.wrap(ContactsServer::new(ContactsGrpc::new(c))));
    let activities = services
        .activities
        .map(|a| guard.wrap(ActivitiesServer::new(ActivitiesGrpc::new(a))));
    let deals = services
        .deals
        .map(|d| guard.wrap(DealsServer::new(DealsGrpc::new(d))));
    let notifications = services
        .notifications
        .map(|n| guard.wrap(NotificationsServer::new(NotificationsGrpc::new(n))));
    let staff = services
        .staff
        .map(|s| guard.wrap(StaffGrpc::new(s, guard.key.clone()).into_server()));
    let ingest = services
        .channels
        .map(|c| guard.wrap(IngestServer::new(IngestGrpc::new(c))));
    let mut routes = Routes::new(health_service).add_service(reflection);
    if let Some(s) = ingest {
        routes = routes.add_service(s);
    }
    if let Some(s) = staff {
        routes = routes.add_service(s);
    }
    if let Some(s) = contacts {
        routes = routes.add_service(s);
    }
    if let Some(s) = activities {
        routes = routes.add_service(s);
    }
    if let Some(s) = deals {
        routes = routes.add_service(s);
    }
    if let Some(s) = notifications {
        routes = routes.add_service(s);
    }
    Ok((routes.prepare(), health))
}

/// Keeps gRPC health true to the process: each service (and the server, "") is
/// SERVING while its database and bus answer (checked every 2 s), NOT_SERVING when
/// they do not — and from the moment shutdown begins, before the port closes.
async fn watch_health(
    health: tonic_health::server::HealthReporter,
    services: Vec<&'static str>,
    readiness: http::Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use tonic_health::ServingStatus::{NotServing, Serving};
    let names = || services.iter().copied().chain([""]);
    let mut said = None;
    loop {
        let checked = tokio::select! {
            () = shutdown.cancelled() => break,
            checked = readiness.check() => checked,
        };
        let status = match checked {
            (true, true) => Serving,
            _ => NotServing,
        };
        // Only a change is said: each one reaches every `Watch` client.
        if said != Some(status) {
            for name in names() {
                health.set_service_status(name, status).await;
            }
            said = Some(status);
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    for name in names() {
        health.set_service_status(name, NotServing).await;
    }
    Ok(())
}

/// What every gRPC service of this process is guarded with.
struct Guard {
    key: TokenKey,
    audit: Option<Audit>,
}

impl Guard {
    fn wrap<S: tonic::server::NamedService>(&self, inner: S) -> Guarded<S> {
        let guarded = Guarded::new(inner, self.key.clone());
        match &self.audit {
            Some(audit) => guarded.with_audit(audit.clone()),
            None => guarded,
        }
    }
}

/// Serves gRPC until `drain` after shutdown began (health says NOT_SERVING by then).
async fn serve_grpc(
    listener: TcpListener,
    routes: Routes,
    shutdown: CancellationToken,
    drain: Duration,
) -> anyhow::Result<()> {
    let closing = async move {
        shutdown.cancelled().await;
        tokio::time::sleep(drain).await;
    };
    tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a reply larger than one segment waits for the
            // client's delayed ACK (~40 ms).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            closing,
        )
        .await?;
    Ok(())
}

async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true); // pushes go out at once
    });
    // Connect info: web forms are rate-limited per client address.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

impl Running {
    /// All-in-one while no admin can sign in: the admin's login and the secret of a
    /// one-time link that sets their password (see `StaffService::first_admin_link`).
    pub async fn first_admin_link(&self) -> anyhow::Result<Option<(String, String)>> {
        let Some(staff) = &self.staff else {
            return Ok(None);
        };
        let made = staff
            .first_admin_link()
            .await
            .context("the first admin's password link")?;
        Ok(made.map(|(user, secret)| (user.login.unwrap_or(user.id), secret)))
    }

    /// A token that stops the suite when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until `shutdown` is cancelled (or a server fails), then stops in order.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let failure = tokio::select! {
            _ = self.shutdown.cancelled() => None,
            Some(result) = self.servers.join_next() => Some(result),
        };
        self.stop().await?;
        match failure {
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Stops accepting, lets in-flight calls finish, then the workers (the relays
    /// publish what those calls committed), all within the grace period; then closes
    /// the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let work = self.work.clone();
        let drained = tokio::time::timeout(self.grace, async {
            while self.servers.join_next().await.is_some() {}
            work.cancel();
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        work.cancel();
        if drained.is_err() {
            tracing::warn!("shutdown grace period elapsed; abandoning unfinished work");
            self.servers.abort_all();
            self.workers.abort_all();
        }
        self.loopback.unbind();
        if let Some(db) = &self.db {
            db.close().await;
        }
        Ok(())
    }
}
