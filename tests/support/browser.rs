//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`),
//! with the plain HTTP client of this module: no browser-automation crate needed; and
//! axe-core, run inside the page, for what a screen reader or a keyboard user meets.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// How long a wait for the page lasts: what it waits for often crosses the bus
/// (an event, its consumer, a push, a refresh), which under the whole suite's load
/// on two cores takes seconds; a page that never gets there still fails in bounded
/// time.
const WAIT: Duration = Duration::from_secs(20);

/// The WebDriver name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether Chromium and ChromeDriver are installed; in CI their absence fails the test.
pub fn present() -> bool {
    let ok = ["chromium", "chromedriver"].iter().all(|tool| {
        Command::new("which")
            .arg(tool)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok && std::env::var_os(ringside_storage::testing::REQUIRE_VAR).is_some() {
        panic!(
            "chromium or chromedriver is not installed (Debian packages chromium, chromium-driver)"
        );
    }
    if !ok {
        eprintln!("SKIPPED: chromium or chromedriver is not installed");
    }
    ok
}

pub struct Browser {
    driver: Child,
    addr: std::net::SocketAddr,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session.
    pub async fn start() -> Browser {
        Browser::start_in_zone("").await
    }

    /// [`Browser::start`] with the browser's clock in time zone `zone` (an IANA name;
    /// empty: the machine's).
    pub async fn start_in_zone(zone: &str) -> Browser {
        Browser::launch(zone, true).await
    }

    /// A browser that runs no page's scripts (as with scripts turned off): the
    /// tests' own WebDriver scripts still run.
    pub async fn start_without_scripts() -> Browser {
        Browser::launch("", false).await
    }

    async fn launch(zone: &str, scripts: bool) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut driver = Command::new("chromedriver");
        if !zone.is_empty() {
            driver.env("TZ", zone);
        }
        let driver = driver
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = ([127, 0, 0, 1], port).into();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // 2 blocks, 1 allows.
        let javascript = if scripts { 1 } else { 2 };
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            "prefs": {"profile.managed_default_content_settings.javascript": javascript}
        }}}});
        let created = browser.call("POST", "/session", caps).await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let headers = [("content-type", "application/json")];
        let (status, text) = super::http(self.addr, method, path, &headers, body.as_bytes()).await;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            status == 200 || value["value"]["error"].is_string(),
            "{method} {path}: {status} {text}"
        );
        value["value"].clone()
    }

    fn path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session)
    }

    /// Wraps up the call of `card` (a CSS selector) with a follow-up `title` due at
    /// `due` (a `datetime-local` value), and waits until the card says it is saved.
    pub async fn follow_up(&self, card: &str, title: &str, due: &str) {
        self.type_into(&format!("{card} .follow-up"), title).await;
        let set = "document.querySelector(arguments[0]).value = arguments[1]; return 1";
        let field = format!("{card} .follow-up-due");
        self.execute(set, json!([field, due])).await;
        self.click(&format!("{card} .save-note")).await;
        self.wait_text(&format!("{card} .saved"), |t| t == "saved")
            .await;
    }

    /// The page as the browser paints it, as PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let shot = self
            .call("GET", &self.path("/screenshot"), Value::Null)
            .await;
        let encoded = shot.as_str().expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64 PNG")
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.path("/url"), json!({"url": url}))
            .await;
    }

    /// The element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .call(
                "POST",
                &self.path("/element"),
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits ([`WAIT`] at most) for an element matching `css` whose text satisfies
    /// `ok`.
    pub async fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Some(id) = self.find(css).await {
                let text = self
                    .call(
                        "GET",
                        &self.path(&format!("/element/{id}/text")),
                        Value::Null,
                    )
                    .await;
                last = text.as_str().unwrap_or_default().to_owned();
                if ok(&last) {
                    return last;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css}: last text {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until nothing matches `css` ([`WAIT`] at most).
    pub async fn wait_gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.find(css).await.is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{css} is still there"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await.unwrap_or_else(|| panic!("no {css}"));
        self.call(
            "POST",
            &self.path(&format!("/element/{id}/value")),
            json!({"text": text}),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await.unwrap_or_else(|| panic!("no {css}"));
        self.call(
            "POST",
            &self.path(&format!("/element/{id}/click")),
            json!({}),
        )
        .await;
    }

    /// Opens `base` (the console) as `id`, who has the tests' password: the browser is
    /// sent to the sign-in page, signs in there, and waits until the console is online.
    pub async fn sign_in(&self, base: &str, id: &str, name: &str) {
        self.sign_in_by_form(base, id, name).await;
        // The call bar's socket is open.
        self.wait_text("#call-bar.online #status", |_| true).await;
    }

    /// [`Browser::sign_in`] up to the page signed in, with no script of the page's
    /// needed.
    pub async fn sign_in_by_form(&self, base: &str, id: &str, name: &str) {
        self.goto(base).await;
        self.type_into("#login", &super::login_of(id)).await;
        self.type_into("#password", super::PASSWORD).await;
        self.click("#signin-button").await;
        self.wait_text("#user-menu", |t| t == name).await;
    }

    /// Runs `script` in the page (a function body; `arguments` are `args`) and
    /// returns what it returns (a promise is awaited).
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.call("POST", &self.path("/execute/sync"), body).await
    }

    /// The serious and critical accessibility violations axe-core (vendored in
    /// `tests/vendor`, MPL-2.0) finds on the page: rule id and the elements.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        const AXE: &str = include_str!("../vendor/axe-core-4.14.1/axe.min.js");
        self.execute(AXE, json!([])).await;
        let run = "return axe.run(document).then(r => r.violations \
                   .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                   .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))";
        let found = self.execute(run, json!([])).await;
        let found = found
            .as_array()
            .unwrap_or_else(|| panic!("axe.run gave {found}"));
        found
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Pages from now on see a person who prefers a dark scheme (Chromium's
    /// DevTools, through chromedriver).
    pub async fn dark(&self) {
        let features = json!([{"name": "prefers-color-scheme", "value": "dark"}]);
        let dark = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": features}});
        self.call("POST", &self.path("/goog/cdp/execute"), dark)
            .await;
    }

    /// Presses `key` (a character, or a WebDriver key code) on the page.
    pub async fn press(&self, key: &str) {
        let keys = json!([{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]);
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.call("POST", &self.path("/actions"), actions).await;
    }

    /// Makes the window `width` × `height` CSS pixels (a phone's is 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.call("POST", &self.path("/window/rect"), rect).await;
    }

    /// The words of the page a person reads or hears: its title, visible text, and
    /// the text of placeholders, labels for assistive technology, titles and buttons.
    pub async fn words(&self) -> String {
        let script = "const attrs = [...document.querySelectorAll('[placeholder],[aria-label],[title],[alt],input[type=submit]')] \
                      .flatMap(e => ['placeholder', 'aria-label', 'title', 'alt', 'value'].map(a => e.getAttribute(a) || '')); \
                      return [document.title, document.body.innerText, ...attrs].join('\\n')";
        let words = self.execute(script, json!([])).await;
        words.as_str().unwrap_or_default().to_owned()
    }

    /// Whether the page is wider than the window (it scrolls sideways).
    pub async fn scrolls_sideways(&self) -> bool {
        let script = "return document.documentElement.scrollWidth > window.innerWidth";
        self.execute(script, json!([])).await == json!(true)
    }

    pub async fn quit(self) {
        self.call("DELETE", &self.path(""), Value::Null).await;
    }
}
