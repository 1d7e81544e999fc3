//! The `ringside` command line: run the whole suite (no subcommand), one service
//! (`serve`), the migrations (`migrate`), issue a token (`token issue`), or rotate the
//! keys tokens are signed with (`keys add|promote|retire|public|list`). The binary
//! is this module's [`main`] and nothing else, so the system tests build and run the
//! very same program.

use std::time::Duration;

use crate::app::{self, Mode, ServiceName};
use crate::config::{KeyKind, Settings};
use anyhow::Context;
use clap::{Parser, Subcommand};
use ringside_auth::{KeySet, Role};
use ringside_storage::Db;

/// Ringside — a CRM that answers the phone.
///
/// With no subcommand, runs the whole suite in one process on SQLite under the data
/// dir, with the in-process bus. Every option can be set by its RINGSIDE_* variable.
#[derive(Debug, Parser)]
#[command(name = "ringside", version)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one service against RINGSIDE_DATABASE_URL (PostgreSQL) and RINGSIDE_AMQP_URL (RabbitMQ).
    Serve {
        #[arg(value_enum)]
        service: ServiceName,
    },
    /// Applies the database migrations (RINGSIDE_DATABASE_URL, or the embedded database) and exits.
    Migrate,
    /// Manages bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manages the key sets tokens are signed with (their files).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Lists the key ids of both sets, the signing key first.
    List,
    /// Adds a new key to a set: it verifies at once; give the set to every process
    /// before promoting it.
    Add {
        #[arg(value_enum)]
        kind: KeyKind,
    },
    /// Makes a key of the set the one that signs; the old keys still verify.
    Promote {
        #[arg(value_enum)]
        kind: KeyKind,
        /// The key's id, as `keys list` shows it (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Removes a key from a set, once no token it signed is still alive.
    Retire {
        #[arg(value_enum)]
        kind: KeyKind,
        /// The key's id, as `keys list` shows it (it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Prints a set's public keys (JWKS): what services that only verify are given.
    Public {
        #[arg(value_enum)]
        kind: KeyKind,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Makes a personal API token for a user (in the database: RINGSIDE_DATABASE_URL,
    /// or the embedded one) and prints it once; programs exchange it for access tokens
    /// (`Staff/ExchangeApiToken`).
    Create {
        /// The user the token is for.
        #[arg(long)]
        user: String,
        /// What the token is for, as its owner will see it listed.
        #[arg(long)]
        name: String,
        /// Days until the token expires (1 to 366).
        #[arg(long, default_value_t = 90)]
        ttl_days: u64,
        /// At most the user's role (agent, manager, admin); unset: the user's.
        #[arg(long, default_value = "")]
        role: String,
    },
    /// Prints a signed token for a user.
    Issue {
        /// The user id the token names.
        #[arg(long)]
        user: String,
        /// admin, manager or agent (services sign their own tokens).
        #[arg(long)]
        role: Role,
        /// Days until the token expires.
        #[arg(long, default_value_t = 30)]
        ttl_days: u64,
    },
}

/// Parses the command line and does what it says.
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.settings)?;
    match cli.command {
        None => run(&cli.settings, Mode::AllInOne).await,
        Some(Command::Serve { service }) => run(&cli.settings, Mode::Serve(service)).await,
        Some(Command::Migrate) => migrate(&cli.settings).await,
        Some(Command::Token {
            command:
                TokenCommand::Issue {
                    user,
                    role,
                    ttl_days,
                },
        }) => {
            let (key, _) = cli.settings.token_key(true)?;
            let ttl = Duration::from_secs(ttl_days * 86_400);
            println!("{}", key.issue(&user, role, ttl)?);
            Ok(())
        }
        Some(Command::Token {
            command:
                TokenCommand::Create {
                    user,
                    name,
                    ttl_days,
                    role,
                },
        }) => {
            let db = open_database(&cli.settings).await?;
            let staff = ringside_staff::StaffService::new(db.clone());
            let life = Duration::from_secs(ttl_days.saturating_mul(86_400));
            let made = staff.api_tokens.create(&user, &name, life, &role).await;
            db.close().await;
            let (token, _) = made.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{token}");
            Ok(())
        }
        Some(Command::Keys { command }) => keys(&cli.settings, command),
    }
}

/// `ringside keys …`: rotation works on the key files; a set given in a variable is
/// changed where it is kept, then given again.
fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let file_of = |kind: KeyKind| -> anyhow::Result<(KeySet, std::path::PathBuf)> {
        let inline = match kind {
            KeyKind::People => &settings.people_keys,
            KeyKind::Services => &settings.service_keys,
        };
        anyhow::ensure!(
            inline.is_none(),
            "the {kind:?} keys come from a variable here: change them in their file (--data-dir or RINGSIDE_*_KEYS_FILE), then update the variable"
        );
        let (set, _) = settings.key_set(kind)?;
        Ok((set, settings.key_file(kind)))
    };
    match command {
        KeysCommand::List => {
            for kind in [KeyKind::People, KeyKind::Services] {
                let (set, _) = settings.key_set(kind)?;
                println!("{kind:?}: {}", set.kids().join(" "));
            }
        }
        KeysCommand::Add { kind } => {
            let (mut set, path) = file_of(kind)?;
            let kid = set.add();
            set.save(&path)?;
            println!("{kind:?}: {kid} added; give the set to every process, then promote it");
        }
        KeysCommand::Promote { kind, kid } => {
            let (mut set, path) = file_of(kind)?;
            set.promote(&kid)?;
            set.save(&path)?;
            println!(
                "{kind:?}: {kid} signs from now on; retire the old key once its tokens have expired"
            );
        }
        KeysCommand::Retire { kind, kid } => {
            let (mut set, path) = file_of(kind)?;
            set.retire(&kid)?;
            set.save(&path)?;
            println!("{kind:?}: {kid} retired");
        }
        KeysCommand::Public { kind } => {
            let (set, _) = settings.key_set(kind)?;
            println!("{}", set.to_jwks(false));
        }
    }
    Ok(())
}

fn init_tracing(settings: &Settings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log).context("RINGSIDE_LOG")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format.as_str() {
        "json" => builder.json().init(),
        "text" => builder.init(),
        other => anyhow::bail!("RINGSIDE_LOG_FORMAT must be text or json, not {other:?}"),
    }
    Ok(())
}

async fn run(settings: &Settings, mode: Mode) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM that arrives while starting still stops us cleanly.
    let signal = shutdown_signal()?;
    let (key, _) = settings.token_key(mode == Mode::AllInOne)?;
    let running = app::start(settings, mode, key.clone()).await?;
    let shutdown = running.shutdown_token();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down: draining in-flight work");
        shutdown.cancel();
    });
    let first_admin = running.first_admin_link().await?;
    print_banner(settings, mode, &running, first_admin);
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// What a newcomer needs after start: where things are, and how to authenticate.
fn print_banner(
    settings: &Settings,
    mode: Mode,
    running: &app::Running,
    first_admin: Option<(String, String)>,
) {
    match mode {
        Mode::AllInOne => println!(
            "Ringside is running (all-in-one, data in {})",
            settings.data_dir.display()
        ),
        Mode::Serve(service) => println!("Ringside {service:?} is running"),
    }
    let paths = match mode {
        Mode::AllInOne => "workspace /, /signin, /agent/ws, /healthz /readyz /metrics",
        Mode::Serve(ServiceName::Web) => "workspace /, /signin, /healthz /readyz /metrics",
        Mode::Serve(ServiceName::Notifications) => "/agent/ws, /healthz /readyz /metrics",
        Mode::Serve(_) => "/healthz /readyz /metrics",
    };
    println!("  HTTP  http://{}  ({paths})", running.http_addr);
    let mut grpc = vec!["health", "reflection"];
    grpc.extend(&running.grpc_services);
    println!("  gRPC  {}  ({})", running.grpc_addr, grpc.join(", "));
    if let Some(bound) = running.ingest {
        println!(
            "  SIP   {} (UDP, TCP)   HEP  {} (UDP, TCP)",
            bound.sip, bound.hep
        );
    }
    if let Some((login, secret)) = first_admin {
        println!("  First admin: open this one-time link (valid a day) to set the password");
        println!(
            "  of {login}, then sign in at http://{}/",
            running.http_addr
        );
        println!("  http://{}/welcome#{secret}", running.http_addr);
    }
}

/// The database of these settings (RINGSIDE_DATABASE_URL, or the embedded one),
/// migrated.
async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = match &settings.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&settings.data_dir)?;
            settings.embedded_database_url()
        }
    };
    let db = Db::connect(&url, 1).await?;
    db.migrate().await?;
    Ok(db)
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_database(settings).await?.close().await;
    println!("migrations applied");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_may_start_with_a_hyphen() {
        // Key ids are base64url: one in 64 starts with '-', which is not an option.
        for step in ["promote", "retire"] {
            let cli = Cli::try_parse_from(["ringside", "keys", step, "people", "-7FpqLpHlR_n7"]);
            assert!(cli.is_ok(), "{step}: {:?}", cli.err());
        }
    }
}
