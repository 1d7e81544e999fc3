//! A real IMAP server for tests: Dovecot (Debian's `dovecot-imapd`) started in the
//! foreground on a free loopback port, with one account and maildirs in a temporary
//! directory. Mail is delivered into it with IMAP APPEND, as a mail server would.

use std::process::{Child, Command, Stdio};

use futures::TryStreamExt;

use super::eventually;

pub const USER: &str = "sales@shop.test";
const PASSWORD: &str = "secret";

pub struct Dovecot {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

type Session = async_imap::Session<tokio::net::TcpStream>;

impl Dovecot {
    /// `None` (the test skips) when Dovecot is not installed and CI did not require it.
    pub async fn start() -> Option<Dovecot> {
        if Command::new("dovecot").arg("--version").output().is_err() {
            assert!(
                std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_none(),
                "Dovecot is not installed (apt-get install dovecot-imapd) but servers are required"
            );
            eprintln!("SKIPPED: Dovecot is not installed (apt-get install dovecot-imapd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_str().expect("utf-8 path").to_owned();
        // The mail is owned by nobody; the directories must let it in.
        let mut perms = std::fs::metadata(&root).expect("dir").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
        std::fs::set_permissions(&root, perms).expect("chmod");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        std::fs::write(
            format!("{root}/users"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .expect("users");
        std::fs::write(format!("{root}/dovecot.conf"), config(&root, port)).expect("config");
        let child = Command::new("dovecot")
            .args(["-F", "-c", &format!("{root}/dovecot.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let dovecot = Dovecot { child, port, dir };
        let addr = format!("127.0.0.1:{port}");
        eventually("Dovecot to listen", || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) }
        })
        .await;
        Some(dovecot)
    }

    /// The mailbox URL ingest reads.
    pub fn url(&self) -> String {
        format!(
            "imap://sales%40shop.test:{PASSWORD}@127.0.0.1:{}/INBOX",
            self.port
        )
    }

    pub async fn session(&self) -> Session {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Delivers each of `messages` to the INBOX.
    pub async fn deliver(&self, messages: &[String]) {
        let mut session = self.session().await;
        for raw in messages {
            session
                .append("INBOX", None, None, raw.as_bytes())
                .await
                .expect("append");
        }
        let _ = session.logout().await;
    }

    /// The flags of every message in `folder` (empty when there is no such folder).
    pub async fn flags(&self, folder: &str) -> Vec<Vec<String>> {
        let mut session = self.session().await;
        if session.select(folder).await.is_err() {
            return Vec::new();
        }
        let fetches: Vec<_> = session
            .fetch("1:*", "(FLAGS)")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .unwrap_or_default();
        fetches
            .iter()
            .map(|f| f.flags().map(|flag| format!("{flag:?}")).collect())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(root: &str, port: u16) -> String {
    format!(
        "protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {root}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"
    )
}
