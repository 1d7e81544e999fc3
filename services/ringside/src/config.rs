//! Configuration: one typed struct read from `RINGSIDE_*` environment variables (or
//! the matching flags), with defaults that work on a laptop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ringside_auth::{KeySet, TokenKey};
use ringside_staff::oidc::ProviderConfig;
use ringside_staff::sso::GroupMap;

/// How long one Bot API request may take (a long poll adds its wait). teloxide waits
/// 10 s before reading a 5xx answer; this leaves room to read it.
const TELEGRAM_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings shared by every way of running.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Where the all-in-one mode keeps its SQLite database and signing key.
    #[arg(
        long,
        env = "RINGSIDE_DATA_DIR",
        default_value = "./ringside-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database for `serve` and `migrate` (postgres://…). The all-in-one mode uses
    /// SQLite in the data dir unless this is set.
    #[arg(
        long,
        env = "RINGSIDE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// RabbitMQ for `serve` (amqp://…).
    #[arg(long, env = "RINGSIDE_AMQP_URL", hide_env_values = true, global = true)]
    pub amqp_url: Option<String>,

    /// The topic exchange events are published to.
    #[arg(long, env = "RINGSIDE_EXCHANGE", default_value = ringside_bus::DEFAULT_EXCHANGE, global = true)]
    pub exchange: String,

    /// Prefix of the queue names each consuming service declares (`ringside.activities`).
    #[arg(
        long,
        env = "RINGSIDE_QUEUE_PREFIX",
        default_value = "ringside.",
        global = true
    )]
    pub queue_prefix: String,

    /// HTTP address: the workspace (/), /agent/ws, /healthz, /readyz, /metrics, webhooks.
    #[arg(
        long,
        env = "RINGSIDE_HTTP_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub http_addr: SocketAddr,

    /// gRPC address: every gRPC service of the process, with health and reflection.
    #[arg(
        long,
        env = "RINGSIDE_GRPC_ADDR",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub grpc_addr: SocketAddr,

    /// SIP address (UDP and TCP) for raw SIP copies from the PBX or proxy.
    #[arg(
        long,
        env = "RINGSIDE_SIP_ADDR",
        default_value = "127.0.0.1:5060",
        global = true
    )]
    pub sip_addr: SocketAddr,

    /// HEP address (UDP and TCP) for HEPv3 capture traffic.
    #[arg(
        long,
        env = "RINGSIDE_HEP_ADDR",
        default_value = "127.0.0.1:9060",
        global = true
    )]
    pub hep_addr: SocketAddr,

    /// Source networks whose SIP/HEP packets are read (comma-separated CIDRs).
    #[arg(
        long,
        env = "RINGSIDE_SIP_ALLOWED_NETS",
        default_value = "127.0.0.0/8,::1/128",
        global = true
    )]
    pub sip_allowed_nets: String,

    /// HEPv3 auth key the capture agents must send (unset: not checked).
    #[arg(
        long,
        env = "RINGSIDE_HEP_AUTH_KEY",
        hide_env_values = true,
        global = true
    )]
    pub hep_auth_key: Option<String>,

    /// Shared secret of POST /ingest/calls (X-Ringside-Secret); unset: the webhook is off.
    #[arg(
        long,
        env = "RINGSIDE_CALL_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub call_webhook_secret: Option<String>,

    /// A JSON file describing the web forms served at POST /forms/{form} (field
    /// mapping, allowed origins, redirect, honeypot, limits); unset: no forms.
    #[arg(long, env = "RINGSIDE_FORMS", global = true)]
    pub forms: Option<std::path::PathBuf>,

    /// What an internal extension looks like (a regular expression).
    #[arg(
        long,
        env = "RINGSIDE_EXTENSION_PATTERN",
        default_value = "^[0-9]{2,5}$",
        global = true
    )]
    pub extension_pattern: String,

    /// Seconds between the pings an agent's socket is sent; one that has answered
    /// nothing for two of them is dropped, and its person is offline again (alerts
    /// go by email or Telegram).
    #[arg(
        long,
        env = "RINGSIDE_WS_PING_SECS",
        default_value_t = 10,
        global = true
    )]
    pub ws_ping_secs: u64,

    /// Seconds a call may ring before it is closed as missed.
    #[arg(
        long,
        env = "RINGSIDE_RING_TIMEOUT_SECS",
        default_value_t = 180,
        global = true
    )]
    pub ring_timeout_secs: u64,

    /// Most calls tracked at once (the oldest is dropped to admit a new one).
    #[arg(
        long,
        env = "RINGSIDE_MAX_DIALOGS",
        default_value_t = 50_000,
        global = true
    )]
    pub max_dialogs: usize,

    /// People's token keys, a JSON Web Key Set (Ed25519). Every service needs at least
    /// the public keys; only the all-in-one process and the CLI need the private ones.
    /// Default: the key file.
    #[arg(
        long,
        env = "RINGSIDE_PEOPLE_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub people_keys: Option<String>,

    /// People's key file; created on first use. Default: <data dir>/people.jwks.
    #[arg(long, env = "RINGSIDE_PEOPLE_KEYS_FILE", global = true)]
    pub people_keys_file: Option<PathBuf>,

    /// The services' token keys, a JSON Web Key Set (Ed25519) with private keys: what
    /// services sign their calls to each other with. Default: the key file.
    #[arg(
        long,
        env = "RINGSIDE_SERVICE_KEYS",
        hide_env_values = true,
        global = true
    )]
    pub service_keys: Option<String>,

    /// The services' key file; created on first use. Default: <data dir>/services.jwks.
    #[arg(long, env = "RINGSIDE_SERVICE_KEYS_FILE", global = true)]
    pub service_keys_file: Option<PathBuf>,

    /// Region for phone numbers written without a country code (ISO 3166 code).
    #[arg(
        long,
        env = "RINGSIDE_PHONE_REGION",
        default_value = "RU",
        global = true
    )]
    pub phone_region: String,

    /// The contacts gRPC address `serve activities` asks who a caller is (and `serve
    /// deals` whether a linked company or contact exists).
    #[arg(
        long,
        env = "RINGSIDE_CONTACTS_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub contacts_url: String,

    /// The activities gRPC address `serve notifications` reads timelines from.
    #[arg(
        long,
        env = "RINGSIDE_ACTIVITIES_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub activities_url: String,

    /// The deals gRPC address `serve notifications` reads a caller's open deals from.
    #[arg(
        long,
        env = "RINGSIDE_DEALS_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub deals_url: String,

    /// The notifications gRPC address `serve activities` asks who sits at an extension.
    #[arg(
        long,
        env = "RINGSIDE_NOTIFICATIONS_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub notifications_url: String,

    /// The ingest gRPC address `serve web` asks how the channels are doing (the
    /// admin's channel page).
    #[arg(
        long,
        env = "RINGSIDE_INGEST_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub ingest_url: String,

    /// Where the staff service answers (services mode): who sits at an extension, who
    /// takes new leads, where alerts go, whose Telegram chat is an agent's.
    #[arg(
        long,
        env = "RINGSIDE_STAFF_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub staff_url: String,

    /// Browsers reach Ringside over HTTPS (a TLS ingress in front): the session cookie is
    /// then `__Host-ringside_session`, sent only over TLS (`Secure`).
    #[arg(
        long,
        env = "RINGSIDE_SECURE_COOKIES",
        default_value_t = false,
        global = true
    )]
    pub secure_cookies: bool,

    /// Admins sign in with a second factor (TOTP): an admin without one sets it up at
    /// their next sign-in, and cannot turn it off.
    #[arg(
        long,
        env = "RINGSIDE_ADMIN_TWO_FACTOR",
        default_value_t = false,
        global = true
    )]
    pub admin_two_factor: bool,

    /// Single sign-on: the OpenID Connect provider's issuer (its
    /// `/.well-known/openid-configuration` is read). Unset: passwords only.
    #[arg(long, env = "RINGSIDE_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// Ringside's client id at the provider.
    #[arg(
        long,
        env = "RINGSIDE_OIDC_CLIENT_ID",
        default_value = "ringside",
        global = true
    )]
    pub oidc_client_id: String,

    /// Ringside's client secret at the provider (unset: a public client, PKCE alone).
    #[arg(
        long,
        env = "RINGSIDE_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub oidc_client_secret: Option<String>,

    /// Where the provider sends browsers back: this site's
    /// `/signin/provider/callback` as browsers reach it
    /// (`https://crm.example.com/signin/provider/callback`).
    #[arg(long, env = "RINGSIDE_OIDC_REDIRECT_URL", global = true)]
    pub oidc_redirect_url: Option<String>,

    /// The provider's groups mapped to roles and teams, `group=role` or
    /// `group=team:<id>`, comma-separated (`crm-admins=admin,sales=agent,sales=team:sales`).
    #[arg(long, env = "RINGSIDE_OIDC_GROUPS", default_value = "", global = true)]
    pub oidc_groups: String,

    /// Scopes asked beside `openid email profile`, space-separated (some providers
    /// put groups in the ID token only when `groups` is asked).
    #[arg(long, env = "RINGSIDE_OIDC_SCOPES", default_value = "", global = true)]
    pub oidc_scopes: String,

    /// What the sign-in page's button calls the provider ("Sign in with …"); empty:
    /// "your company account", in the page's language.
    #[arg(long, env = "RINGSIDE_OIDC_NAME", default_value = "", global = true)]
    pub oidc_name: String,

    /// Where the workspace's pages open the call bar's socket when notifications
    /// answers at another address than the pages (`ws://host:port/agent/ws`); empty:
    /// this origin's `/agent/ws` (the all-in-one, or an ingress routing it).
    #[arg(long, env = "RINGSIDE_PUSH_URL", default_value = "", global = true)]
    pub push_url: String,

    /// The workspace's origins (`https://crm.example`, comma-separated) whose pages
    /// may open notifications' socket when they are served from another address.
    #[arg(long, env = "RINGSIDE_WEB_ORIGINS", default_value = "", global = true)]
    pub web_origins: String,

    /// Milliseconds a caller-ID card waits for slow parts before what is known is pushed.
    #[arg(
        long,
        env = "RINGSIDE_CARD_DEADLINE_MS",
        default_value_t = 300,
        global = true
    )]
    pub card_deadline_ms: u64,

    /// SMTP server for alerts to offline agents: `smtp://host:25`,
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…` (TLS); unset: no email.
    #[arg(long, env = "RINGSIDE_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The sender of alert emails.
    #[arg(
        long,
        env = "RINGSIDE_ALERT_FROM",
        default_value = "Ringside <ringside@localhost>",
        global = true
    )]
    pub alert_from: String,

    /// The Telegram bot's token: customers write to it (ingest), agents answer through
    /// it and get alerts from it (notifications); unset: no Telegram.
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_BOT_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub telegram_bot_token: Option<String>,

    /// The Telegram Bot API server (a self-hosted one works too).
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_API_URL",
        default_value = "https://api.telegram.org",
        global = true
    )]
    pub telegram_api_url: String,

    /// How ingest receives the bot's updates: polling, webhook (POST /telegram/webhook)
    /// or off.
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_MODE",
        default_value = "polling",
        global = true
    )]
    pub telegram_mode: String,

    /// The address clients get agents' emails from and answer to (the mailbox ingest
    /// reads); unset: RINGSIDE_ALERT_FROM.
    #[arg(long, env = "RINGSIDE_EMAIL_FROM", global = true)]
    pub email_from: Option<String>,

    /// IMAP mailboxes ingest reads, separated by spaces or commas:
    /// `imaps://user:password@host/INBOX` (percent-encode `@` and `:` in the user and
    /// password). Reading them needs RINGSIDE_DATABASE_URL for the cursors.
    #[arg(
        long,
        env = "RINGSIDE_IMAP_MAILBOXES",
        hide_env_values = true,
        global = true
    )]
    pub imap_mailboxes: Option<String>,

    /// Seconds between polls of a mailbox whose server has no IDLE.
    #[arg(
        long,
        env = "RINGSIDE_IMAP_POLL_SECS",
        default_value_t = 60,
        global = true
    )]
    pub imap_poll_secs: u64,

    /// Longest IDLE before the mailbox is asked again.
    #[arg(
        long,
        env = "RINGSIDE_IMAP_IDLE_SECS",
        default_value_t = 300,
        global = true
    )]
    pub imap_idle_secs: u64,

    /// The folder unreadable mail is copied to (flagged with the reason).
    #[arg(
        long,
        env = "RINGSIDE_IMAP_QUARANTINE",
        default_value = "Quarantine",
        global = true
    )]
    pub imap_quarantine: String,

    /// Days the bus inbox keeps which events each consumer handled, and
    /// notifications which alerts it sent (a redelivery or a repeat comes within
    /// minutes); older rows are pruned every hour.
    #[arg(
        long,
        env = "RINGSIDE_KEEP_CLAIMS_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3650),
        global = true
    )]
    pub keep_claims_days: u64,

    /// Shared secret of POST /ingest/email (raw MIME pushed by a mail provider, with
    /// the secret in X-Ringside-Secret); unset: the route is off.
    #[arg(
        long,
        env = "RINGSIDE_EMAIL_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub email_webhook_secret: Option<String>,

    /// Largest email read (bytes); larger ones are quarantined.
    #[arg(
        long,
        env = "RINGSIDE_EMAIL_MAX_BYTES",
        default_value_t = ringside_ingest::email::DEFAULT_MAX_BYTES,
        global = true
    )]
    pub email_max_bytes: usize,

    /// The automatic answer to a new lead's first email (sent with Auto-Submitted:
    /// auto-replied, never to robots); unset: none.
    #[arg(long, env = "RINGSIDE_EMAIL_AUTO_REPLY", global = true)]
    pub email_auto_reply: Option<String>,

    /// The automatic answer's subject (the client's own is never echoed back: a
    /// forged sender would make it a way to mail anyone anything).
    #[arg(
        long,
        env = "RINGSIDE_EMAIL_AUTO_REPLY_SUBJECT",
        default_value = "We have your message",
        global = true
    )]
    pub email_auto_reply_subject: String,

    /// Reverse proxies in front of the HTTP port (comma-separated CIDRs): behind them, a
    /// web form's or sign-in's client address (for their rate limits) comes from
    /// X-Forwarded-For.
    #[arg(
        long,
        env = "RINGSIDE_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,

    /// The secret given to setWebhook (`secret_token`); required in webhook mode.
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub telegram_webhook_secret: Option<String>,

    /// The public HTTPS address of POST /telegram/webhook (as Telegram reaches it).
    /// When set in webhook mode, the webhook is registered with Telegram at start
    /// (setWebhook with the secret); unset: register it yourself.
    #[arg(long, env = "RINGSIDE_TELEGRAM_WEBHOOK_URL", global = true)]
    pub telegram_webhook_url: Option<String>,

    /// Which group messages become conversations: mentions (of the bot, or replies to
    /// it), all, or off.
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_GROUPS",
        default_value = "mentions",
        global = true
    )]
    pub telegram_groups: String,

    /// Seconds a long poll waits for updates.
    #[arg(
        long,
        env = "RINGSIDE_TELEGRAM_POLL_SECS",
        default_value_t = 25,
        global = true
    )]
    pub telegram_poll_secs: u64,

    /// Which user answers which extension when staff does not know it (or does not
    /// answer), for call-back tasks of clients without an owner:
    /// `ivan=101,102;olga=103`.
    #[arg(
        long,
        env = "RINGSIDE_AGENT_EXTENSIONS",
        default_value = "",
        global = true
    )]
    pub agent_extensions: String,

    /// Who new leads from channels go to: `round_robin` over the agents of
    /// RINGSIDE_ASSIGN_ROLES (and RINGSIDE_ASSIGN_TEAM), or `off` (unassigned).
    #[arg(
        long,
        env = "RINGSIDE_ASSIGN_LEADS",
        default_value = "round_robin",
        global = true
    )]
    pub assign_leads: String,

    /// Agent roles that take new leads (comma-separated).
    #[arg(
        long,
        env = "RINGSIDE_ASSIGN_ROLES",
        default_value = "agent",
        global = true
    )]
    pub assign_roles: String,

    /// Only this team's agents take new leads: a team id (empty: every team).
    #[arg(long, env = "RINGSIDE_ASSIGN_TEAM", default_value = "", global = true)]
    pub assign_team: String,

    /// Skip agents without an open console connection while someone eligible is online.
    #[arg(
        long,
        env = "RINGSIDE_ASSIGN_SKIP_OFFLINE",
        default_value_t = false,
        global = true
    )]
    pub assign_skip_offline: bool,

    /// Minutes within which a missed inbound call must be called back.
    #[arg(
        long,
        env = "RINGSIDE_CALLBACK_MINUTES",
        default_value_t = 15,
        global = true
    )]
    pub callback_minutes: u64,

    /// Most database connections per process.
    #[arg(
        long,
        env = "RINGSIDE_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,

    /// Seconds to finish in-flight work after SIGTERM/SIGINT.
    #[arg(
        long,
        env = "RINGSIDE_SHUTDOWN_GRACE_SECS",
        default_value_t = 10,
        global = true
    )]
    pub shutdown_grace_secs: u64,

    /// Milliseconds the gRPC port keeps answering after SIGTERM, its health already
    /// NOT_SERVING, so load balancers and probes move traffic away before it closes.
    #[arg(
        long,
        env = "RINGSIDE_SHUTDOWN_DRAIN_MS",
        default_value_t = 1000,
        global = true
    )]
    pub shutdown_drain_ms: u64,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(
        long,
        env = "RINGSIDE_LOG",
        default_value = "info,sqlx=warn,lapin=warn",
        global = true
    )]
    pub log: String,

    /// Log format: text or json.
    #[arg(
        long,
        env = "RINGSIDE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
}

/// The two kinds of token keys: people's (access tokens) and the services' (their
/// calls to each other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyKind {
    People,
    Services,
}

impl Settings {
    /// The defaults with every listener on an ephemeral loopback port: what tests and
    /// benchmarks start a suite with.
    pub fn ephemeral(data_dir: PathBuf) -> Self {
        let any = "127.0.0.1:0".parse().expect("loopback address");
        Settings {
            data_dir,
            database_url: None,
            amqp_url: None,
            exchange: ringside_bus::DEFAULT_EXCHANGE.into(),
            queue_prefix: "ringside.".into(),
            http_addr: any,
            grpc_addr: any,
            sip_addr: any,
            hep_addr: any,
            sip_allowed_nets: "127.0.0.0/8,::1/128".into(),
            hep_auth_key: None,
            call_webhook_secret: None,
            forms: None,
            extension_pattern: "^[0-9]{2,5}$".into(),
            ring_timeout_secs: 180,
            ws_ping_secs: 10,
            max_dialogs: 50_000,
            people_keys: None,
            people_keys_file: None,
            service_keys: None,
            service_keys_file: None,
            phone_region: "RU".into(),
            contacts_url: "http://127.0.0.1:50051".into(),
            activities_url: "http://127.0.0.1:50051".into(),
            deals_url: "http://127.0.0.1:50051".into(),
            notifications_url: "http://127.0.0.1:50051".into(),
            ingest_url: "http://127.0.0.1:50051".into(),
            staff_url: "http://127.0.0.1:50051".into(),
            card_deadline_ms: 300,
            smtp_url: None,
            alert_from: "Ringside <ringside@localhost>".into(),
            telegram_bot_token: None,
            telegram_api_url: "https://api.telegram.org".into(),
            telegram_mode: "polling".into(),
            telegram_webhook_secret: None,
            telegram_webhook_url: None,
            email_from: None,
            trusted_proxies: String::new(),
            email_auto_reply: None,
            email_auto_reply_subject: "We have your message".into(),
            imap_mailboxes: None,
            imap_poll_secs: 1,
            imap_idle_secs: 5,
            imap_quarantine: "Quarantine".into(),
            keep_claims_days: 30,
            email_webhook_secret: None,
            email_max_bytes: ringside_ingest::email::DEFAULT_MAX_BYTES,
            telegram_groups: "mentions".into(),
            telegram_poll_secs: 1,
            agent_extensions: String::new(),
            assign_leads: "round_robin".into(),
            assign_roles: "agent".into(),
            assign_team: String::new(),
            assign_skip_offline: false,
            secure_cookies: false,
            admin_two_factor: false,
            oidc_issuer: None,
            oidc_client_id: "ringside".into(),
            oidc_client_secret: None,
            oidc_redirect_url: None,
            oidc_groups: String::new(),
            oidc_scopes: String::new(),
            oidc_name: String::new(),
            push_url: String::new(),
            web_origins: String::new(),
            callback_minutes: 15,
            db_max_connections: 8,
            shutdown_grace_secs: 5,
            shutdown_drain_ms: 0,
            log: "warn".into(),
            log_format: "text".into(),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The file of one kind of key set.
    pub fn key_file(&self, kind: KeyKind) -> PathBuf {
        let (file, name) = match kind {
            KeyKind::People => (&self.people_keys_file, "people.jwks"),
            KeyKind::Services => (&self.service_keys_file, "services.jwks"),
        };
        file.clone().unwrap_or_else(|| self.data_dir.join(name))
    }

    /// One kind of key set: from its variable, else its file (created when missing).
    /// Returns the set and whether it was created now.
    pub fn key_set(&self, kind: KeyKind) -> anyhow::Result<(KeySet, bool)> {
        self.key_set_made(kind, true)
    }

    /// [`Self::key_set`]; with `create` false a missing file is an error (a service of
    /// its own must be given the keys its peers use, not make its own).
    fn key_set_made(&self, kind: KeyKind, create: bool) -> anyhow::Result<(KeySet, bool)> {
        let (inline, variable) = match kind {
            KeyKind::People => (&self.people_keys, "RINGSIDE_PEOPLE_KEYS"),
            KeyKind::Services => (&self.service_keys, "RINGSIDE_SERVICE_KEYS"),
        };
        if let Some(text) = inline.as_deref().filter(|t| !t.trim().is_empty()) {
            return Ok((KeySet::from_jwks(text).context(variable)?, false));
        }
        let path = self.key_file(kind);
        if !create && !path.exists() {
            anyhow::bail!(
                "no {kind:?} token keys: set {variable} (or its _FILE), the same for every service; `ringside keys list` makes them (see k8s/README.md)"
            );
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(KeySet::load_or_create(&path)?)
    }

    /// The proxies whose `X-Forwarded-For` names the client (forms, sign-in).
    pub fn trusted_proxies(&self) -> anyhow::Result<ringside_kit::net::AllowList> {
        self.trusted_proxies
            .parse()
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_TRUSTED_PROXIES")
    }

    /// The single sign-on provider and how its groups map, when an issuer is set;
    /// an incomplete setting is an error at start, not at someone's sign-in.
    pub fn provider(&self) -> anyhow::Result<Option<(ProviderConfig, GroupMap)>> {
        let Some(issuer) = self.oidc_issuer.clone().filter(|i| !i.trim().is_empty()) else {
            return Ok(None);
        };
        let redirect_url = self
            .oidc_redirect_url
            .clone()
            .context("RINGSIDE_OIDC_REDIRECT_URL must be set with RINGSIDE_OIDC_ISSUER")?;
        let groups: GroupMap = self
            .oidc_groups
            .parse()
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_OIDC_GROUPS")?;
        if groups.role(&groups.groups()).is_none() {
            anyhow::bail!("RINGSIDE_OIDC_GROUPS maps no group to a role: nobody could sign in");
        }
        let config = ProviderConfig {
            issuer,
            client_id: self.oidc_client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url,
            extra_scopes: self
                .oidc_scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        Ok(Some((config, groups)))
    }

    /// The suite's token keys, and whether the people's keys were created just now.
    /// With `create`, missing key files are made (the all-in-one's first start, the
    /// CLI); without, they must exist.
    pub fn token_key(&self, create: bool) -> anyhow::Result<(TokenKey, bool)> {
        let (people, created) = self.key_set_made(KeyKind::People, create)?;
        let (services, _) = self.key_set_made(KeyKind::Services, create)?;
        let key = TokenKey::new(people, services);
        key.check()?;
        Ok((key, created))
    }

    /// The SQLite URL of the all-in-one mode.
    pub fn embedded_database_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("ringside.db").display()
        )
    }

    pub fn require_database_url(&self) -> anyhow::Result<&str> {
        self.database_url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("RINGSIDE_DATABASE_URL is required (postgres://…)"))
    }

    /// The ingest service's configuration.
    pub fn ingest(&self) -> anyhow::Result<ringside_ingest::IngestConfig> {
        let region = self
            .phone_region
            .parse()
            .map_err(|e| anyhow::anyhow!("RINGSIDE_PHONE_REGION: {e}"))?;
        let mut tracker = ringside_ingest::TrackerConfig::new(&self.extension_pattern, region)
            .map_err(|e| anyhow::anyhow!("RINGSIDE_EXTENSION_PATTERN: {e}"))?;
        tracker.ring_timeout = Duration::from_secs(self.ring_timeout_secs);
        tracker.max_dialogs = self.max_dialogs.max(1);
        Ok(ringside_ingest::IngestConfig {
            sip_addr: self.sip_addr,
            hep_addr: self.hep_addr,
            allowed: self
                .sip_allowed_nets
                .parse()
                .map_err(|e| anyhow::anyhow!("RINGSIDE_SIP_ALLOWED_NETS: {e}"))?,
            hep_auth_key: self.hep_auth_key.clone().filter(|k| !k.is_empty()),
            tracker,
        })
    }

    /// The bot, as a service speaks to the Bot API (`extra` added to each request's
    /// time limit: a long poll's wait); `None` when no token is set.
    pub fn telegram_bot(
        &self,
        extra: Duration,
    ) -> anyhow::Result<Option<ringside_telegram::teloxide_core::Bot>> {
        let Some(token) = self.telegram_bot_token.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let bot = ringside_telegram::bot(&self.telegram_api_url, token, TELEGRAM_TIMEOUT + extra)
            .map_err(anyhow::Error::msg)
            .context("RINGSIDE_TELEGRAM_API_URL")?;
        Ok(Some(bot))
    }

    /// The channels notifications sends on — the bot and SMTP, one sender each,
    /// shared by alerts and answers. Must be called inside a Tokio runtime.
    pub fn send_channels(&self) -> anyhow::Result<ringside_notifications::channels::Channels> {
        use ringside_notifications::channels::{
            Channels, email::EmailSender, telegram::TelegramSender,
        };
        let telegram = self.telegram_bot(Duration::ZERO)?;
        let email = match self.smtp_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(
                EmailSender::new(url)
                    .map_err(anyhow::Error::msg)
                    .context("RINGSIDE_SMTP_URL")?,
            ),
            None => None,
        };
        Ok(Channels {
            telegram: telegram.map(|bot| std::sync::Arc::new(TelegramSender::new(bot))),
            email: email.map(std::sync::Arc::new),
        })
    }

    /// The address agents' answers come from (and clients answer to).
    pub fn answers_from(&self) -> &str {
        self.email_from.as_deref().unwrap_or(&self.alert_from)
    }

    /// The activities service's configuration.
    pub fn activities(&self) -> anyhow::Result<ringside_activities::ActivitiesConfig> {
        Ok(ringside_activities::ActivitiesConfig {
            callback_within: Duration::from_secs(self.callback_minutes.saturating_mul(60)),
            agents: ringside_activities::peers::AgentMap::parse(&self.agent_extensions)
                .map_err(|e| anyhow::anyhow!("RINGSIDE_AGENT_EXTENSIONS: {e}"))?,
        })
    }

    /// The IMAP mailbox URLs configured.
    pub fn imap_mailboxes(&self) -> Vec<&str> {
        self.imap_mailboxes
            .as_deref()
            .unwrap_or("")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect()
    }

    /// Contacts' lead assignment rule; `None` when assignment is off.
    pub fn assignment(&self) -> anyhow::Result<Option<ringside_contacts::assign::AssignConfig>> {
        match self.assign_leads.trim() {
            "off" => Ok(None),
            "round_robin" => {
                let roles: Vec<String> = self
                    .assign_roles
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect();
                if let Some(bad) = roles
                    .iter()
                    .find(|r| !["agent", "manager", "admin"].contains(&r.as_str()))
                {
                    anyhow::bail!("RINGSIDE_ASSIGN_ROLES: {bad:?} is not agent, manager or admin");
                }
                let team = ringside_identity::fields::optional_id("team", &self.assign_team)
                    .map_err(|e| anyhow::anyhow!("RINGSIDE_ASSIGN_TEAM must be a team id: {e}"))?;
                Ok(Some(ringside_contacts::assign::AssignConfig {
                    roles,
                    team: team.unwrap_or_default(),
                    skip_offline: self.assign_skip_offline,
                }))
            }
            other => anyhow::bail!("RINGSIDE_ASSIGN_LEADS: {other:?} is not round_robin or off"),
        }
    }

    pub fn require_amqp_url(&self) -> anyhow::Result<&str> {
        self.amqp_url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("RINGSIDE_AMQP_URL is required (amqp://…)"))
    }
}
