//! Assembling and running the suite: the database, the bus, the services, and the
//! gRPC and HTTP servers, with an ordered shutdown (stop accepting, drain in-flight
//! calls, flush the outboxes, close the database).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ringside_auth::{GrpcGuard, TokenKey};
use ringside_bus::amqp::AmqpBus;
use ringside_bus::local::LocalBus;
use ringside_bus::{Bus, outbox};
use ringside_contacts::{ContactsGrpc, ContactsService};
use ringside_proto::contacts::v1::contacts_server::ContactsServer;
use ringside_storage::Db;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::http;

/// The services this binary can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    Contacts,
    Ingest,
}

impl ServiceName {
    /// Ingest keeps no tables: it publishes what it sees.
    fn needs_database(self) -> bool {
        self != ServiceName::Ingest
    }
}

/// How to run: everything in one process on the embedded database and the local
/// bus, or one service against PostgreSQL and RabbitMQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AllInOne,
    Serve(ServiceName),
}

impl Mode {
    pub fn services(self) -> Vec<ServiceName> {
        match self {
            Mode::AllInOne => vec![ServiceName::Contacts, ServiceName::Ingest],
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
    shutdown: CancellationToken,
    servers: JoinSet<anyhow::Result<()>>,
    workers: JoinSet<()>,
    grace: Duration,
}

/// Connects, migrates and starts serving. Returns once every listener is bound.
pub async fn start(settings: &Settings, mode: Mode, key: TokenKey) -> anyhow::Result<Running> {
    http::metrics_handle(); // install the recorder before anything counts
    let db = match mode.needs_database() {
        true => Some(open_database(settings, mode).await?),
        false => None,
    };
    let shutdown = CancellationToken::new();
    let bus = open_bus(settings, mode, db.as_ref(), &shutdown).await?;
    let mut workers = JoinSet::new();
    let mut contacts = None;
    let mut http_routes = axum::Router::new();
    let mut ingest = None;
    for service in mode.services() {
        match service {
            ServiceName::Contacts => {
                let db = db.clone().context("contacts needs a database")?;
                let relay = outbox::Relay::new(db.clone(), bus.clone(), ringside_contacts::SOURCE);
                let region = settings
                    .phone_region
                    .parse()
                    .context("RINGSIDE_PHONE_REGION")?;
                contacts = Some(ContactsService::new(db, region, relay.waker()));
                workers.spawn(relay.run(shutdown.clone()));
            }
            ServiceName::Ingest => {
                let (state, bound) = ringside_ingest::start(
                    settings.ingest()?,
                    bus.clone(),
                    shutdown.clone(),
                    &mut workers,
                )
                .await
                .context("binding the SIP/HEP listeners")?;
                if let Some(secret) = settings
                    .call_webhook_secret
                    .as_deref()
                    .filter(|s| !s.is_empty())
                {
                    http_routes = http_routes.merge(ringside_ingest::webhook::router(
                        state,
                        bus.clone(),
                        secret,
                    ));
                }
                ingest = Some(bound);
            }
        }
    }

    let grpc = TcpListener::bind(settings.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC to {}", settings.grpc_addr))?;
    let http = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("binding HTTP to {}", settings.http_addr))?;
    let (grpc_addr, http_addr) = (grpc.local_addr()?, http.local_addr()?);

    let mut servers = JoinSet::new();
    servers.spawn(serve_grpc(grpc, contacts, key, shutdown.clone()));
    let readiness = http::Readiness {
        db: db.clone(),
        bus: bus.clone(),
    };
    let router = http::router(readiness).merge(http_routes);
    servers.spawn(serve_http(http, router, shutdown.clone()));
    Ok(Running {
        http_addr,
        grpc_addr,
        ingest,
        db,
        bus,
        shutdown,
        servers,
        workers,
        grace: settings.shutdown_grace(),
    })
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
        Mode::Serve(service) => {
            let name = format!("ringside-{service:?}").to_lowercase();
            let url = settings.require_amqp_url()?;
            Arc::new(
                AmqpBus::connect(url, &settings.exchange, &name, shutdown.clone())
                    .await
                    .context("connecting to RabbitMQ")?,
            )
        }
    })
}

async fn serve_grpc(
    listener: TcpListener,
    contacts: Option<ContactsService>,
    key: TokenKey,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    if contacts.is_some() {
        health.set_serving::<ContactsServer<ContactsGrpc>>().await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ringside_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let contacts = contacts
        .map(|c| ContactsServer::with_interceptor(ContactsGrpc::new(c), GrpcGuard::new(key)));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_optional_service(contacts)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown.cancelled_owned(),
        )
        .await?;
    Ok(())
}

async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

impl Running {
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

    /// Stops accepting, lets in-flight calls and workers finish within the grace
    /// period, then closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            while self.servers.join_next().await.is_some() {}
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("shutdown grace period elapsed; abandoning unfinished work");
            self.servers.abort_all();
            self.workers.abort_all();
        }
        if let Some(db) = &self.db {
            db.close().await;
        }
        Ok(())
    }
}
