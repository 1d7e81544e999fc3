//! Reading IMAP mailboxes. Each configured mailbox has a cursor — its UIDVALIDITY and
//! the last UID filed — kept in the database and advanced only after the message is
//! filed, so a poller killed at any moment starts again where it stopped: nothing is
//! lost, and the one message it may read twice is the same event (its Message-ID).
//! When UIDVALIDITY changes, the mailbox is read again from the start, and the
//! repeats are again the same events. New mail is awaited with IDLE when the server
//! has it, else by polling. A message that cannot be read (too large, malformed,
//! without a sender) is copied to the quarantine folder and flagged with the reason
//! as a keyword (`$Ringside-oversized`); an oversized one is never downloaded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use super::parse::Rejected;
use super::{EmailIn, Outcome};
use crate::status::Channel;

/// Messages fetched per round trip.
const CHUNK: usize = 50;
/// Longest wait for the answer to one command (a body of the largest size included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest pause before reconnecting to a server that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One mailbox to read: `imap://user:password@host:143/INBOX` or `imaps://…:993/…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub user: String,
    password: String,
    pub folder: String,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.port, self.folder)
    }
}

impl Mailbox {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
        let tls = match url.scheme() {
            "imap" => false,
            "imaps" => true,
            other => return Err(format!("{other}: expected imap:// or imaps://")),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let host = url.host_str().ok_or("no host")?.to_owned();
        let user = decode(url.username());
        if user.is_empty() {
            return Err("no user name".into());
        }
        let folder = decode(url.path().trim_start_matches('/'));
        Ok(Mailbox {
            port: url.port().unwrap_or(if tls { 993 } else { 143 }),
            host,
            tls,
            user,
            password: decode(url.password().unwrap_or("")),
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                folder
            },
        })
    }

    /// The cursor's key: which account and folder, without the password.
    pub fn key(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.folder)
    }
}

/// How the poller waits and where unreadable mail goes.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// Between polls, when the server has no IDLE.
    pub poll: Duration,
    /// Longest IDLE before asking again (RFC 2177: under 29 minutes).
    pub idle: Duration,
    pub quarantine: String,
}

/// Where each mailbox's cursor is kept.
#[async_trait]
pub trait Cursors: Send + Sync + 'static {
    /// (UIDVALIDITY, last UID filed), if the mailbox was read before.
    async fn load(&self, mailbox: &str) -> Result<Option<(u32, u32)>, String>;
    async fn save(&self, mailbox: &str, validity: u32, uid: u32) -> Result<(), String>;
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Cursors in the `imap_cursors` table.
pub struct DbCursors(pub ringside_storage::Db);

#[async_trait]
impl Cursors for DbCursors {
    async fn load(&self, mailbox: &str) -> Result<Option<(u32, u32)>, String> {
        use ringside_storage::Row;
        let row = sqlx::query("SELECT uid_validity, last_uid FROM imap_cursors WHERE mailbox = $1")
            .bind(mailbox)
            .fetch_optional(self.0.pool())
            .await
            .map_err(|e| e.to_string())?;
        let Some(row) = row else { return Ok(None) };
        let get = |c: &str| row.try_get::<i64, _>(c).map_err(|e| e.to_string());
        let as_u32 = |v: i64| u32::try_from(v).map_err(|_| "cursor out of range".to_owned());
        Ok(Some((
            as_u32(get("uid_validity")?)?,
            as_u32(get("last_uid")?)?,
        )))
    }

    async fn save(&self, mailbox: &str, validity: u32, uid: u32) -> Result<(), String> {
        sqlx::query(
            "INSERT INTO imap_cursors (mailbox, uid_validity, last_uid, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (mailbox) DO UPDATE SET \
             uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
        )
        .bind(mailbox)
        .bind(i64::from(validity))
        .bind(i64::from(uid))
        .bind(ringside_storage::now_millis())
        .execute(self.0.pool())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

type Session = async_imap::Session<Box<dyn Io>>;

/// Reads `mailbox` until `shutdown`, reconnecting after failures, noting what it
/// reads and fails at on `channel`.
pub async fn run(
    email: Arc<EmailIn>,
    (mailbox, channel): (Mailbox, Arc<Channel>),
    cursors: Arc<dyn Cursors>,
    config: ImapConfig,
    shutdown: CancellationToken,
) {
    if !mailbox.tls && !is_loopback(&mailbox.host) {
        tracing::warn!(mailbox = ?mailbox, "email: imap:// sends the password in clear text; use imaps://");
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let reader = Reader {
            email: &email,
            key: mailbox.key(),
            cursors: cursors.as_ref(),
            config: &config,
            shutdown: &shutdown,
            channel: &channel,
        };
        let ended = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = reader.read(&mailbox) => r,
        };
        if let Err(e) = ended {
            tracing::warn!(mailbox = ?mailbox, error = %e, "email: IMAP session ended; reconnecting");
            channel.failed(&e);
        }
        if started.elapsed() > MAX_BACKOFF {
            backoff = Duration::from_secs(1);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

struct Reader<'a> {
    email: &'a EmailIn,
    key: String,
    cursors: &'a dyn Cursors,
    config: &'a ImapConfig,
    shutdown: &'a CancellationToken,
    channel: &'a Channel,
}

fn imap_error(e: impl std::fmt::Display) -> String {
    format!("IMAP: {e}")
}

impl Reader<'_> {
    /// One session: catch up, then wait for new mail, until shutdown or a failure.
    async fn read(&self, mailbox: &Mailbox) -> Result<(), String> {
        let mut session = connect(mailbox).await?;
        let selected = within(session.select(&mailbox.folder)).await?;
        let validity = selected
            .uid_validity
            .ok_or("the server gave no UIDVALIDITY")?;
        let mut last = match self.cursors.load(&self.key).await? {
            Some((v, uid)) if v == validity => uid,
            Some(_) => {
                tracing::warn!(mailbox = ?mailbox, "email: UIDVALIDITY changed; reading the mailbox again (repeats are the same events)");
                0
            }
            None => 0,
        };
        let idle = within(session.capabilities()).await?.has_str("IDLE");
        loop {
            last = self.catch_up(&mut session, validity, last).await?;
            self.channel.worked();
            session = self.wait(session, idle).await?;
            if self.shutdown.is_cancelled() {
                let _ = session.logout().await;
                return Ok(());
            }
        }
    }

    /// Files every message after `last`, in UID order; returns the new last UID.
    /// Bodies are fetched one at a time, so at most one message is in memory.
    async fn catch_up(
        &self,
        session: &mut Session,
        validity: u32,
        mut last: u32,
    ) -> Result<u32, String> {
        let found = within(session.uid_search(format!("UID {}:*", last.saturating_add(1)))).await?;
        // `n:*` always matches the newest message, even when it is older than n.
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last).collect();
        uids.sort_unstable();
        for chunk in uids.chunks(CHUNK) {
            let sizes = self.sizes(session, chunk).await?;
            for uid in chunk {
                match sizes.get(uid) {
                    Some(size) if *size > self.email.max_bytes() => {
                        metrics::counter!("ringside_email_messages_total", "outcome" => Rejected::Oversized.reason()).increment(1);
                        self.channel.refused(Rejected::Oversized.reason());
                        self.quarantine(session, *uid, Rejected::Oversized).await?;
                    }
                    Some(_) => self.file(session, *uid).await?,
                    None => {
                        tracing::warn!(uid, "email: message gone before it was read (expunged)")
                    }
                }
                self.cursors.save(&self.key, validity, *uid).await?;
                last = *uid;
            }
        }
        Ok(last)
    }

    /// The sizes of `uids` (`RFC822.SIZE`), so that oversized mail is never fetched.
    async fn sizes(
        &self,
        session: &mut Session,
        uids: &[u32],
    ) -> Result<HashMap<u32, usize>, String> {
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let fetches: Vec<_> = within(async {
            session
                .uid_fetch(set, "(UID RFC822.SIZE)")
                .await?
                .try_collect()
                .await
        })
        .await?;
        Ok(fetches
            .iter()
            .filter_map(|f| Some((f.uid?, f.size? as usize)))
            .collect())
    }

    /// Fetches message `uid` and files it (or quarantines it).
    async fn file(&self, session: &mut Session, uid: u32) -> Result<(), String> {
        let fetches: Vec<_> = within(async {
            session
                .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await?
                .try_collect()
                .await
        })
        .await?;
        let Some(raw) = fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body())
        else {
            tracing::warn!(uid, "email: message gone before it was read (expunged)");
            return Ok(());
        };
        let outcome = self
            .email
            .file(raw, self.channel)
            .await
            .map_err(|e| e.to_string())?;
        drop(fetches);
        if let Outcome::Quarantined(why) = outcome {
            self.quarantine(session, uid, why).await?;
        }
        Ok(())
    }

    /// Copies message `uid` to the quarantine folder and flags it with the reason.
    async fn quarantine(
        &self,
        session: &mut Session,
        uid: u32,
        why: Rejected,
    ) -> Result<(), String> {
        tracing::warn!(uid, reason = why.reason(), "email: message quarantined");
        // Flagged first, so that the copy carries the reason too.
        let flag = format!("+FLAGS ($Ringside-{})", why.reason());
        let _: Vec<_> = within(async {
            session
                .uid_store(uid.to_string(), flag)
                .await?
                .try_collect()
                .await
        })
        .await?;
        // The folder may exist already; COPY says so if it truly is missing.
        let _ = within(session.create(&self.config.quarantine)).await;
        within(session.uid_copy(uid.to_string(), &self.config.quarantine)).await
    }

    /// Waits for new mail (IDLE, or a poll interval), or shutdown. Mail the server
    /// announced while the reader was busy (`EXISTS` among the answers to its
    /// commands) is not waited for.
    async fn wait(&self, session: Session, idle: bool) -> Result<Session, String> {
        let mut announced = false;
        while let Ok(response) = session.unsolicited_responses.try_recv() {
            announced |= matches!(response, async_imap::types::UnsolicitedResponse::Exists(_));
        }
        if announced {
            return Ok(session);
        }
        if !idle {
            tokio::select! {
                _ = self.shutdown.cancelled() => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
            return Ok(session);
        }
        let mut handle = session.idle();
        within(handle.init()).await?;
        {
            let (news, _stop) = handle.wait_with_timeout(self.config.idle);
            tokio::select! {
                _ = self.shutdown.cancelled() => {}
                r = news => { r.map_err(imap_error)?; }
            }
        }
        within(handle.done()).await
    }
}

/// An IMAP command, bounded in time: a half-open connection must not hang the reader.
async fn within<T>(
    command: impl std::future::Future<Output = async_imap::error::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(result) => result.map_err(imap_error),
        Err(_) => Err(format!(
            "IMAP: no answer within {}s",
            COMMAND_TIMEOUT.as_secs()
        )),
    }
}

async fn connect(mailbox: &Mailbox) -> Result<Session, String> {
    let login = async {
        let addr = (mailbox.host.as_str(), mailbox.port);
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(imap_error)?;
        let stream: Box<dyn Io> = match mailbox.tls {
            true => Box::new(tls(&mailbox.host, tcp).await?),
            false => Box::new(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        client
            .read_response()
            .await
            .map_err(imap_error)?
            .ok_or("IMAP: closed before the greeting")?;
        client
            .login(&mailbox.user, &mailbox.password)
            .await
            .map_err(|(e, _)| imap_error(e))
    };
    tokio::time::timeout(Duration::from_secs(30), login)
        .await
        .map_err(|_| "IMAP: no session within 30 s".to_owned())?
}

async fn tls(
    host: &str,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(imap_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(imap_error)?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(imap_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_url_names_its_account_and_folder() {
        let m =
            Mailbox::parse("imaps://sales%40shop.example:p%40ss@mail.shop.example/Sales%20leads")
                .unwrap();
        assert!(m.tls);
        assert_eq!((m.host.as_str(), m.port), ("mail.shop.example", 993));
        assert_eq!(m.user, "sales@shop.example");
        assert_eq!(m.password, "p@ss");
        assert_eq!(m.folder, "Sales leads");
        assert!(!format!("{m:?}").contains("p@ss"));
        let plain = Mailbox::parse("imap://u:p@127.0.0.1:1143").unwrap();
        assert_eq!(
            (plain.port, plain.folder.as_str(), plain.tls),
            (1143, "INBOX", false)
        );
        assert!(Mailbox::parse("pop3://u@h").is_err());
        assert!(Mailbox::parse("imap://h/INBOX").is_err());
    }
}
