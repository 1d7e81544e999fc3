//! A real SMTP server for tests: aiosmtpd (PyPI) on a free port, storing what it
//! receives in a maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::eventually;

/// aiosmtpd on a free port, storing what it receives in a maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Smtp {
    /// `None` (the test skips) when aiosmtpd is not installed and CI did not require it.
    pub async fn start() -> Option<Smtp> {
        let present = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            assert!(
                std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_none(),
                "aiosmtpd is not installed (pip install aiosmtpd) but servers are required"
            );
            eprintln!("SKIPPED: aiosmtpd is not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let addr = format!("127.0.0.1:{port}");
        eventually("aiosmtpd to listen", || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.ok().map(|_| ()) }
        })
        .await;
        Some(Smtp {
            child,
            port,
            maildir,
            _dir: dir,
        })
    }

    /// The messages received so far, as raw text.
    pub fn messages(&self) -> Vec<String> {
        read_maildir(&self.maildir)
    }
}

fn read_maildir(maildir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
