//! A PBX on this machine for the tests: a real Kamailio proxy in front of SIPp
//! "phones" at extensions 101 and 102, mirroring every message to Ringside's ingest
//! as raw SIP or as HEPv3, exactly as a PBX's capture would; and SIPp placing calls
//! through it. Each proxy runs in its own process group, stopped whole when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::Suite;

/// The number the tests' calls come from.
pub const CALLER: &str = "+79123456789";
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sipp")
        .join(name)
}

/// Whether the SIP tools are installed; in CI their absence fails the test.
pub fn tools_present() -> bool {
    let missing: Vec<&str> = ["sipp", "kamailio"]
        .into_iter()
        .filter(|tool| {
            Command::new("which")
                .arg(tool)
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_some() {
        panic!("{missing:?} not installed (Debian packages sip-tester and kamailio)");
    }
    eprintln!("SKIPPED: {missing:?} not installed");
    false
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

/// A process group (a proxy and the workers it forks), stopped whole when dropped:
/// killing only the parent would leave its workers holding their sockets.
pub struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// A child process killed when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How the proxy mirrors its traffic to Ringside.
#[derive(Clone, Copy, Debug)]
pub enum Mirror {
    RawSip,
    Hep,
}

/// Kamailio in front of two SIPp phones, extensions 101 and 102.
pub struct Pbx {
    pub port: u16,
    phone_101: u16,
    phone_102: u16,
    dir: tempfile::TempDir,
    _proxy: Group,
}

impl Pbx {
    pub fn start(suite: &Suite, mirror: Mirror) -> Pbx {
        let bound = suite.running.ingest.expect("ingest runs in this suite");
        let (trace_port, mode, hep) = match mirror {
            Mirror::RawSip => (bound.sip.port(), 4, 0),
            Mirror::Hep => (bound.hep.port(), 1, 1),
        };
        let (port, phone_101, phone_102) = (free_udp_port(), free_udp_port(), free_udp_port());
        let config = std::fs::read_to_string(scenario("kamailio.cfg.in"))
            .expect("config template")
            .replace("@PROXY_PORT@", &port.to_string())
            .replace("@MODULES@", MODULES)
            .replace("@TRACE_PORT@", &trace_port.to_string())
            .replace("@TRACE_MODE@", &mode.to_string())
            .replace("@HEP@", &hep.to_string())
            .replace("@PORT_101@", &phone_101.to_string())
            .replace("@PORT_102@", &phone_102.to_string());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kamailio.cfg");
        std::fs::write(&path, config).expect("write config");
        let proxy = Command::new("kamailio")
            .process_group(0)
            .args(["-DD", "-E", "-f"])
            .arg(&path)
            .arg("-Y")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kamailio");
        std::thread::sleep(Duration::from_millis(700));
        Pbx {
            port,
            phone_101,
            phone_102,
            dir,
            _proxy: Group(proxy),
        }
    }

    /// A phone at `extension` that answers every call with `status` (486, 603…).
    pub fn refusing_phone(&self, extension: &str, status: u16) -> Process {
        let script = std::fs::read_to_string(scenario("uas_refuse.xml"))
            .expect("scenario")
            .replace("@STATUS@", &status.to_string());
        let path = self.dir.path().join(format!("uas_refuse_{status}.xml"));
        std::fs::write(&path, script).expect("write scenario");
        self.phone(extension, &path, &[])
    }

    /// A phone at `extension` playing `script` (extra SIPp arguments after it).
    pub fn phone(&self, extension: &str, script: impl AsRef<Path>, extra: &[&str]) -> Process {
        let port = if extension == "101" {
            self.phone_101
        } else {
            self.phone_102
        };
        let script = script.as_ref();
        let script = if script.is_absolute() {
            script.to_path_buf()
        } else {
            scenario(&script.to_string_lossy())
        };
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(script)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "30s",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp phone");
        Process(child)
    }

    /// A SIP scanner's `count` INVITEs straight to `extension`, each from another
    /// number, which the proxy refuses; waits until they are done.
    pub fn scan(&self, extension: &str, count: u32) {
        let status = Command::new("sipp")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("-sf")
            .arg(scenario("uac_scanner.xml"))
            .args(["-s", extension, "-i", "127.0.0.1"])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-m", &count.to_string(), "-r", &count.to_string()])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run sipp");
        assert!(status.success(), "the scan failed: {status}");
    }

    /// Places a call to `number` with SIPp and waits until the scenario completes.
    pub fn call(&self, number: &str, script: &str, extra: &[&str]) {
        std::thread::sleep(Duration::from_millis(300)); // let the phones bind
        let status = Command::new("sipp")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("-sf")
            .arg(scenario(script))
            .args([
                "-s",
                number,
                "-key",
                "caller",
                CALLER,
                "-i",
                "127.0.0.1",
                "-p",
                &free_udp_port().to_string(),
            ])
            .args(["-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run sipp");
        assert!(status.success(), "the SIPp call failed: {status}");
    }
}
