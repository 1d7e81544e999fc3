//! Web forms, end to end: a post from a stranger's browser becomes one lead and a form
//! entry on its timeline, a repeat changes nothing, a known email lands on the same
//! lead, and every bad post is refused with its status and stores nothing — all-in-one
//! and as `serve contacts` + `serve activities` + `serve ingest` on PostgreSQL and
//! RabbitMQ.

use std::path::PathBuf;

use support::{Suite, eventually, http_full};

const SITE: &str = "https://shop.example";

fn forms_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("forms.json");
    let config = serde_json::json!({
        "contact": {
            "fields": { "comment": "message", "company": "org" },
            "custom_fields": { "budget": "budget" },
            "required": ["name"],
            "allowed_origins": [SITE],
            "redirect": format!("{SITE}/thanks"),
            "honeypot": "website",
            "max_body_bytes": 4096,
            "per_ip_per_minute": 100
        },
        "tiny": { "per_ip_per_minute": 2 }
    });
    std::fs::write(&path, config.to_string()).expect("write forms");
    path
}

/// The suite that serves the forms, and the one whose database holds leads and entries.
struct Setup {
    suites: Vec<Suite>,
}

impl Setup {
    fn ingest(&self) -> &Suite {
        self.suites.last().expect("a suite")
    }
    fn db(&self) -> &Suite {
        &self.suites[0]
    }
    async fn leads(&self) -> i64 {
        self.db().count("leads").await
    }
    async fn form_entries(&self) -> i64 {
        self.db()
            .count("activity_entries WHERE kind = 'form'")
            .await
    }
    async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let addr = self.ingest().running.http_addr;
        http_full(addr, "POST", path, headers, body.as_bytes()).await
    }
    async fn stop(self) {
        for suite in self.suites.into_iter().rev() {
            suite.stop().await;
        }
    }
}

async fn setups(dir: &std::path::Path) -> Vec<Setup> {
    let forms = forms_file(dir);
    let path = forms.clone();
    let mut out = vec![Setup {
        suites: vec![support::all_in_one_with(move |s| s.forms = Some(path)).await],
    }];
    if let Some(suites) = support::form_services(forms).await {
        out.push(Setup { suites });
    }
    out
}

/// A path, headers, a body and the status it must get.
type BadPost = (&'static str, Vec<(&'static str, &'static str)>, String, u16);

const BROWSER: [(&str, &str); 4] = [
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("Accept", "text/html,application/xhtml+xml"),
    ("Origin", SITE),
    ("Referer", "https://shop.example/contact?utm_source=ads"),
];
const SCRIPT: [(&str, &str); 2] = [("Content-Type", "application/json"), ("Origin", SITE)];

fn location(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_strangers_form_becomes_one_lead_with_its_entry_and_bad_posts_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    for setup in setups(dir.path()).await {
        let name = setup.ingest().name;
        // A stranger's browser posts the form; the browser is sent to the thank-you page.
        let body = "name=%D0%90%D0%BD%D0%BD%D0%B0&email=anna%40example.org&tel=1&phone=%2B7+912+555-00-11\
                    &org=%D0%9B%D1%8E%D1%82%D0%B8%D0%BA&message=Call+me&budget=100k\
                    &utm_campaign=spring&owner_id=boss&website=";
        let (status, head, _) = setup.post("/forms/contact", &BROWSER, body).await;
        assert_eq!(status, 303, "{name}: {head}");
        assert_eq!(location(&head), "https://shop.example/thanks", "{name}");
        eventually("the form entry", || async {
            (setup.form_entries().await == 1).then_some(())
        })
        .await;
        assert_eq!(setup.leads().await, 1, "{name}: one lead");

        // A double click: the same post again changes nothing.
        let (status, _, _) = setup.post("/forms/contact", &BROWSER, body).await;
        assert_eq!(status, 303, "{name}");

        // Every bad post is refused with its status.
        let bad: Vec<BadPost> = vec![
            (
                "/forms/contact",
                SCRIPT.to_vec(),
                r#"{"name":"B","email":"nope"}"#.into(),
                422,
            ),
            (
                "/forms/contact",
                SCRIPT.to_vec(),
                r#"{"email":"b@example.org"}"#.into(),
                422,
            ),
            (
                "/forms/contact",
                SCRIPT.to_vec(),
                r#"{"name":["x"]}"#.into(),
                400,
            ),
            (
                "/forms/contact",
                vec![("Content-Type", "text/plain"), ("Origin", SITE)],
                "name=B".into(),
                415,
            ),
            (
                "/forms/contact",
                vec![
                    ("Content-Type", "application/json"),
                    ("Origin", "https://evil.example"),
                ],
                r#"{"name":"B","email":"b@example.org"}"#.into(),
                403,
            ),
            (
                "/forms/contact",
                SCRIPT.to_vec(),
                format!(
                    r#"{{"name":"B","email":"b@example.org","message":"{}"}}"#,
                    "x".repeat(5000)
                ),
                413,
            ),
            (
                "/forms/nosuch",
                SCRIPT.to_vec(),
                r#"{"name":"B","email":"b@example.org"}"#.into(),
                404,
            ),
        ];
        for (path, headers, body, expected) in &bad {
            let (status, head, reply) = setup.post(path, headers, body).await;
            assert_eq!(
                status, *expected,
                "{name}: {path} {body:.60} → {head}\n{reply}"
            );
        }
        let (_, _, reply) = setup
            .post(
                "/forms/contact",
                &SCRIPT,
                r#"{"name":"B","email":"nope","phone":"12"}"#,
            )
            .await;
        let reply: serde_json::Value = serde_json::from_str(&reply).expect("json");
        assert!(
            reply["fields"]["email"].is_string() && reply["fields"]["phone"].is_string(),
            "{reply}"
        );
        // A browser with errors goes back to its page, which can show them.
        let (status, head, _) = setup
            .post("/forms/contact", &BROWSER, "name=B&email=nope")
            .await;
        assert_eq!(status, 303);
        assert_eq!(
            location(&head),
            "https://shop.example/contact?utm_source=ads&form_errors=email",
            "{name}"
        );
        // A bot fills the honeypot: it hears success, nothing is stored.
        let (status, _, _) = setup
            .post(
                "/forms/contact",
                &BROWSER,
                "name=Bot&email=bot%40spam.example&website=http%3A%2F%2Fspam",
            )
            .await;
        assert_eq!(status, 303, "{name}");
        // The rate limit per address.
        for expected in [201, 201, 429] {
            let (status, head, _) = setup
                .post("/forms/tiny", &SCRIPT, r#"{"email":"c@example.org"}"#)
                .await;
            assert_eq!(status, expected, "{name}: {head}");
        }

        // Anna again, by script, with her email and a new phone: her lead, no new one.
        let (status, _, reply) = setup
            .post(
                "/forms/contact",
                &SCRIPT,
                r#"{"name":"Anna","email":"ANNA@example.org","phone":"+7 912 555 00 99"}"#,
            )
            .await;
        assert_eq!(status, 201, "{name}: {reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply).expect("json");
        let id = reply["submission_id"].as_str().expect("an id").to_owned();
        assert_eq!(id.len(), 32);
        // Activities files in order: once Anna's second post is on the timeline, every
        // earlier post is too.
        let filed = format!("activity_entries WHERE external_key = 'form:{id}'");
        eventually("Anna's second post", || async {
            (setup.db().count(&filed).await == 1).then_some(())
        })
        .await;
        // Anna's two posts and one `tiny` (its two identical posts are one submission):
        // the double click was filed once, and no bad post was filed.
        assert_eq!(setup.form_entries().await, 3, "{name}");
        assert_eq!(
            setup.leads().await,
            2,
            "{name}: Anna's lead and the `tiny` poster's; no bad post left one"
        );
        setup.stop().await;
    }
}
