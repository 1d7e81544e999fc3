//! The `ringside` binary as an operator uses it: `--help`, `token issue`, `migrate`,
//! and the all-in-one start (addresses and the first admin's one-time password link
//! printed, SIGTERM stops it cleanly).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ringside(data_dir: &std::path::Path) -> Command {
    support::ringside_command(data_dir)
}

#[test]
fn help_lists_every_environment_variable() {
    let out = Command::new(support::ringside_binary())
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf-8");
    for var in [
        "RINGSIDE_DATA_DIR",
        "RINGSIDE_DATABASE_URL",
        "RINGSIDE_AMQP_URL",
        "RINGSIDE_EXCHANGE",
        "RINGSIDE_HTTP_ADDR",
        "RINGSIDE_GRPC_ADDR",
        "RINGSIDE_PEOPLE_KEYS",
        "RINGSIDE_PEOPLE_KEYS_FILE",
        "RINGSIDE_SERVICE_KEYS",
        "RINGSIDE_SERVICE_KEYS_FILE",
        "RINGSIDE_PHONE_REGION",
        "RINGSIDE_DB_MAX_CONNECTIONS",
        "RINGSIDE_SHUTDOWN_GRACE_SECS",
        "RINGSIDE_LOG",
        "RINGSIDE_LOG_FORMAT",
        "RINGSIDE_SIP_ADDR",
        "RINGSIDE_HEP_ADDR",
        "RINGSIDE_SIP_ALLOWED_NETS",
        "RINGSIDE_HEP_AUTH_KEY",
        "RINGSIDE_CALL_WEBHOOK_SECRET",
        "RINGSIDE_FORMS",
        "RINGSIDE_EXTENSION_PATTERN",
        "RINGSIDE_RING_TIMEOUT_SECS",
        "RINGSIDE_MAX_DIALOGS",
        "RINGSIDE_SECURE_COOKIES",
        "RINGSIDE_TRUSTED_PROXIES",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    for sub in ["serve", "migrate", "token", "keys"] {
        assert!(help.contains(sub), "--help does not mention {sub}");
    }
    let out = Command::new(support::ringside_binary())
        .args(["serve", "--help"])
        .output()
        .expect("serve --help");
    assert!(String::from_utf8_lossy(&out.stdout).contains("RINGSIDE_AMQP_URL"));
}

#[test]
fn no_secret_from_the_environment_shows_in_help() {
    let secret = "ab".repeat(32);
    let out = Command::new(support::ringside_binary())
        .arg("--help")
        .env("RINGSIDE_SERVICE_KEYS", &secret)
        .env("RINGSIDE_DATABASE_URL", "postgres://crm:db-pass-42@db/crm")
        .env("RINGSIDE_AMQP_URL", "amqp://crm:mq-pass-42@mq/%2f")
        .output()
        .expect("run --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for shown in [secret.as_str(), "db-pass-42", "mq-pass-42"] {
        assert!(!help.contains(shown), "{shown} in --help");
    }
}

#[test]
fn token_issue_signs_with_the_data_dir_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ringside(dir.path())
        .args(["token", "issue", "--user", "u-42", "--role", "manager"])
        .output()
        .expect("token issue");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let key = data_dir_keys(dir.path());
    let claims = key.verify(token.trim(), "any").expect("the token verifies");
    assert_eq!(
        (claims.sub.as_str(), claims.role),
        ("u-42", ringside_auth::Role::Manager)
    );

    let bad = ringside(dir.path())
        .args(["token", "issue", "--user", "u", "--role", "god"])
        .output()
        .expect("token issue");
    assert!(!bad.status.success(), "an unknown role is refused");
}

/// The key sets `token issue` created under the data dir.
fn data_dir_keys(dir: &std::path::Path) -> ringside_auth::TokenKey {
    let read = |name: &str| {
        let (set, created) = ringside_auth::KeySet::load_or_create(&dir.join(name)).expect(name);
        assert!(!created, "{name} was created by the command");
        set
    };
    ringside_auth::TokenKey::new(read("people.jwks"), read("services.jwks"))
}

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let out = ringside(dir).args(args).output().expect("ringside runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn keys_rotate_in_three_steps_with_an_overlap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issue = ["token", "issue", "--user", "u-1", "--role", "agent"];
    let before = run(dir.path(), &issue);
    let old_kid = data_dir_keys(dir.path()).people().kids()[0].clone();
    let said = run(dir.path(), &["keys", "add", "people"]);
    let new_kid = data_dir_keys(dir.path()).people().kids()[1].clone();
    assert!(said.contains(&new_kid), "{said}");
    let still_old = run(dir.path(), &issue);
    assert!(still_old.starts_with(&before[..10]));
    let header_kid = |token: &str| -> String {
        use base64::Engine;
        let header = token.split('.').next().expect("a header");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("base64url");
        String::from_utf8(bytes).expect("utf-8")
    };
    assert!(
        header_kid(&still_old).contains(&old_kid),
        "added, not signing yet"
    );
    run(dir.path(), &["keys", "promote", "people", &new_kid]);
    let keys = data_dir_keys(dir.path());
    assert_eq!(keys.people().kids()[0], new_kid);
    let after = run(dir.path(), &issue);
    assert!(
        header_kid(&after).contains(&new_kid),
        "the promoted key signs"
    );
    assert!(
        keys.verify(before.trim(), "any").is_ok(),
        "the old key still verifies"
    );
    assert!(keys.verify(after.trim(), "any").is_ok());
    let public = run(dir.path(), &["keys", "public", "people"]);
    assert!(public.contains(&old_kid) && public.contains(&new_kid));
    assert!(!public.contains("\"d\""), "no private half: {public}");

    run(dir.path(), &["keys", "retire", "people", &old_kid]);
    let keys = data_dir_keys(dir.path());
    assert!(keys.verify(before.trim(), "any").is_err(), "retired");
    assert!(keys.verify(after.trim(), "any").is_ok());
    let last = ringside(dir.path())
        .args(["keys", "retire", "people", &new_kid])
        .output()
        .expect("runs");
    assert!(!last.status.success(), "the last key of a set stays");
}

#[tokio::test]
async fn token_create_makes_an_api_token_for_a_user_of_the_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), &["migrate"]);
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("ringside.db").display()
    );
    let db = ringside_storage::Db::connect(&url, 1)
        .await
        .expect("the database");
    let staff = ringside_staff::StaffService::new(db.clone());
    let olga = ringside_staff::model::UserSpec {
        name: "Olga".into(),
        ..Default::default()
    };
    staff
        .create_user("admin", Some("olga".into()), olga)
        .await
        .expect("olga");
    let create = ["token", "create", "--user", "olga", "--name", "export"];
    let token = run(dir.path(), &create);
    let owner = staff
        .api_tokens
        .exchange(token.trim())
        .await
        .expect("it works");
    assert_eq!(owner.id, "olga");
    let listed = staff.api_tokens.list("olga").await.expect("listed");
    assert_eq!((listed.len(), listed[0].name.as_str()), (1, "export"));
    let stranger = ringside(dir.path())
        .args(["token", "create", "--user", "nobody", "--name", "x"])
        .output()
        .expect("runs");
    assert!(!stranger.status.success(), "a token for nobody is refused");
    db.close().await;
}

#[test]
fn serve_without_a_database_url_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let no_keys = ringside(dir.path())
        .args(["serve", "contacts"])
        .output()
        .expect("serve");
    assert!(!no_keys.status.success());
    let said = String::from_utf8_lossy(&no_keys.stderr);
    assert!(said.contains("RINGSIDE_PEOPLE_KEYS"), "{said}");
    run(dir.path(), &["keys", "list"]); // makes both sets in the data dir
    let out = ringside(dir.path())
        .args(["serve", "contacts"])
        .output()
        .expect("serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RINGSIDE_DATABASE_URL"));
}

/// An all-in-one process of `dir` and the lines it prints.
struct Started {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

fn start_all_in_one(dir: &std::path::Path) -> Started {
    let mut child = ringside(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Started { child, lines }
}

impl Started {
    /// The banner up to and including the first line `last` accepts (30 s at most).
    fn banner_until(&mut self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        while !lines.last().is_some_and(|l: &String| last(l)) {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("the banner did not finish within 30 s: {lines:?}");
                }
            }
        }
        lines
    }

    /// SIGTERM, and a clean exit within 15 s.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "a clean exit after SIGTERM, got {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running 15 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The first start prints its addresses and a one-time link for the first admin's
/// password (no token); the link sets it once, the admin signs in with it, and the
/// next start prints no link. SIGTERM stops it cleanly each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_prints_a_one_time_link_for_the_admins_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = ringside(dir.path())
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let mut first = start_all_in_one(dir.path());
    let lines = first.banner_until(|l| l.contains("/welcome#"));
    let banner = lines.join("\n");
    assert!(banner.contains("HTTP  http://127.0.0.1:"), "{banner}");
    assert!(banner.contains("gRPC  127.0.0.1:"), "{banner}");
    assert!(banner.contains("SIP   127.0.0.1:"), "{banner}");
    assert!(banner.contains("admin@ringside.localhost"), "{banner}");
    assert!(!banner.contains("eyJ"), "no token is printed: {banner}");
    let link = lines.last().expect("the link").trim();
    let (origin, secret) = link.split_once("/welcome#").expect("a link");
    let addr = origin
        .trim_start_matches("http://")
        .parse()
        .expect("address");

    let (status, page) = support::http(addr, "GET", "/welcome", &[], b"").await;
    assert_eq!(status, 200);
    assert!(page.contains("Set your password"), "{page}");
    let form = format!("code={secret}&password=first+admin+pass&repeat=first+admin+pass");
    let set = |form: String| async move {
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("sec-fetch-site", "same-origin"),
        ];
        support::http(addr, "POST", "/welcome", &headers, form.as_bytes()).await
    };
    let (status, page) = set(form.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your password is set"), "{page}");
    let (status, page) = set(form).await;
    assert_eq!(status, 401, "a used link: {page}");
    assert!(page.contains("not valid"), "{page}");

    let signin = "login=admin%40ringside.localhost&password=first+admin+pass";
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let (status, head, _) =
        support::http_full(addr, "POST", "/signin", &headers, signin.as_bytes()).await;
    assert_eq!(status, 303, "{head}");
    let cookie = support::session_cookie(&head).expect("a session cookie");
    let (status, console) = support::http(addr, "GET", "/", &[("cookie", &cookie)], b"").await;
    assert_eq!(status, 200);
    assert!(console.contains(r#"id="call-bar""#), "{console}");
    first.stop();

    let mut again = start_all_in_one(dir.path());
    let lines = again.banner_until(|l| l.contains("SIP "));
    std::thread::sleep(Duration::from_millis(500));
    let late: Vec<String> = again.lines.try_iter().collect();
    assert!(
        !late.iter().chain(&lines).any(|l| l.contains("/welcome#")),
        "an admin can sign in: no link {lines:?} {late:?}"
    );
    again.stop();
}
