//! What every page shares: the frame around it ([`Chrome`]: language, the signed-in
//! person, the files it loads, where the call bar's socket is), the headers every
//! answer carries (no caching, no framing, a content security policy that runs only
//! this service's scripts), redirects, and how a service's refusal reads in the
//! person's language.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ringside_auth::policy;
use ringside_kit::browser::Person;
use tonic::{Code, Status};

use crate::assets::{ASSETS, Assets};
use crate::lang::{Lang, Tr};

/// The frame of a page.
pub struct Chrome<'a> {
    pub t: &'static Tr,
    pub person: Option<&'a Person>,
    pub assets: &'static Assets,
    /// The other language's code, for the switch.
    pub other_lang: &'static str,
    /// Where the call bar's socket is ("" for this origin's `/agent/ws`).
    pub push_url: &'a str,
    /// The call bar's strings, as JSON for its script.
    pub bar_text: &'static str,
    /// Whether the page offers the other language: not on a page whose state a
    /// reload would lose (the second step, recovery codes shown once, a link's code).
    pub lang_switch: bool,
    /// Whether the menu offers the reports (the permission table says whether the
    /// person's role reads them; deals decides again when they are asked for).
    pub reports: bool,
    /// Whether the menu offers admin (people, teams, pipelines).
    pub admin: bool,
    /// The page is asked for by a part refreshing itself: a failure changes nothing
    /// on the page (the next refresh may do better).
    pub quiet: bool,
    /// The person's own IANA zone, when the server knows it: the page's times are
    /// shown in it ("": the device's).
    pub time_zone: &'a str,
}

impl<'a> Chrome<'a> {
    pub fn new(lang: Lang, person: Option<&'a Person>, push_url: &'a str) -> Self {
        let t = lang.tr();
        let other_lang = match lang {
            Lang::En => Lang::Ru.code(),
            Lang::Ru => Lang::En.code(),
        };
        Chrome {
            t,
            person,
            assets: &ASSETS,
            other_lang,
            push_url,
            bar_text: match lang {
                Lang::En => &BAR_TEXT[0],
                Lang::Ru => &BAR_TEXT[1],
            },
            lang_switch: true,
            reports: person.is_some_and(|p| policy::allows(p.role, policy::Action::ReadReports)),
            admin: person.is_some_and(|p| policy::allows(p.role, policy::Action::ManagePeople)),
            quiet: false,
            time_zone: "",
        }
    }

    /// This frame without the language switch.
    pub fn without_lang_switch(mut self) -> Self {
        self.lang_switch = false;
        self
    }
}

/// `text` percent-encoded but for the characters an address never needs encoded
/// (letters, digits, `-_.~`): one path segment, or one query value.
pub fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The parts of pages that refresh themselves when the call bar's socket says
/// something changed (htmx names the element asking in `HX-Trigger`).
const REFRESHING: [&str; 3] = ["inbox-list", "thread", "board"];

/// Whether a request is such a part refreshing itself.
pub fn refreshing(headers: &axum::http::HeaderMap) -> bool {
    let trigger = headers.get("hx-trigger").and_then(|v| v.to_str().ok());
    trigger.is_some_and(|t| REFRESHING.contains(&t))
}

/// `name=value&…`, each part percent-encoded; empty values left out.
pub fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encoded(v)))
        .collect();
    parts.join("&")
}

/// The call bar's strings as JSON, made once per language.
static BAR_TEXT: std::sync::LazyLock<[String; 2]> =
    std::sync::LazyLock::new(|| [Lang::En, Lang::Ru].map(|lang| script_json(&lang.tr().bar)));

/// `value` as JSON that can sit inside a `<script>` element: no `<` (so no
/// `</script>` or `<!--`) and no `&` in it.
fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// A line above a form: good news, or why not.
#[derive(Debug, Default)]
pub struct Notice {
    pub text: String,
    pub ok: bool,
}

impl Notice {
    pub fn none() -> Self {
        Notice::default()
    }

    pub fn error(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            ok: false,
        }
    }

    pub fn ok(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            ok: true,
        }
    }
}

/// A moment as a page shows it: in `datetime` for the browser (which shows it in
/// the person's time zone and language), and as UTC text until it does.
#[derive(Debug, Default)]
pub struct When {
    pub iso: String,
    pub text: String,
}

impl When {
    pub fn of(at: Option<&prost_types::Timestamp>) -> When {
        let Some(at) = at else {
            return When::default();
        };
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at.seconds) else {
            return When::default();
        };
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        When {
            iso: format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                t.hour(),
                t.minute(),
                t.second()
            ),
            text: format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", t.hour(), t.minute()),
        }
    }
}

/// An amount in minor units with its currency, as `t`'s language writes it:
/// `1,234.50 RUB`; `1 234,50 ₽`.
pub fn money(t: &Tr, minor: i64, currency: &str) -> String {
    let (group, point) = match t.lang {
        Lang::En => (',', '.'),
        Lang::Ru => ('\u{a0}', ','),
    };
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(group);
        }
        grouped.push(digit);
    }
    let currency = match (t.lang, currency) {
        (Lang::Ru, "RUB") => "₽",
        (Lang::Ru, "USD") => "$",
        (Lang::Ru, "EUR") => "€",
        (_, code) => code,
    };
    format!("{sign}{grouped}{point}{:02}\u{a0}{currency}", minor % 100)
}

/// A page with nothing on it but a title and a line (not found, an error).
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    c: Chrome<'a>,
    title: &'a str,
    text: &'a str,
}

/// The content security policy: scripts, styles and images from here only (the QR
/// code is inline SVG, not an image), the socket here or at `push_url`'s origin.
fn policy(push_url: &str) -> String {
    let push = push_origin(push_url);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{push}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// ` ws://host:port` for a socket at another origin ("" for this one).
fn push_origin(push_url: &str) -> String {
    let Some((scheme, rest)) = push_url.split_once("://") else {
        return String::new();
    };
    let host = rest.split('/').next().unwrap_or_default();
    let safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    match safe(scheme) && safe(host) && !host.is_empty() {
        true => format!(" {scheme}://{host}"),
        false => String::new(),
    }
}

/// A rendered page with the headers every page carries.
pub fn html(status: StatusCode, page: &impl Template, push_url: &str) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
        (header::CONTENT_SECURITY_POLICY, policy(push_url)),
    ];
    (status, headers, body).into_response()
}

/// A page saying there is nothing here for this person (what a record they may not
/// see looks like too).
pub fn not_found(c: Chrome) -> Response {
    let (title, text) = (c.t.not_found_title, c.t.not_found);
    let push = c.push_url;
    html(StatusCode::NOT_FOUND, &MessagePage { c, title, text }, push)
}

/// A post another site sent, refused before anything is asked of the services.
pub fn from_another_site(c: Chrome) -> Response {
    let (title, text) = (c.t.error_title, c.t.other_site);
    let push = c.push_url;
    html(StatusCode::FORBIDDEN, &MessagePage { c, title, text }, push)
}

/// A page saying why a service refused, in the person's language. Asked for a
/// part of a page (a list's next items), it takes the page's content instead.
pub fn failure(c: Chrome, status: &Status) -> Response {
    if c.quiet {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut response = match status.code() {
        Code::NotFound => not_found(c),
        _ => {
            let (code, text) = refusal(status, c.t, c.t.went_wrong);
            let (title, push) = (c.t.error_title, c.push_url);
            let text = text.as_str();
            html(code, &MessagePage { c, title, text }, push)
        }
    };
    let swap = [
        ("hx-retarget", "#main"),
        ("hx-reselect", "#main"),
        ("hx-reswap", "outerHTML"),
    ];
    for (name, value) in swap {
        let value = axum::http::HeaderValue::from_static(value);
        response.headers_mut().insert(name, value);
    }
    response
}

/// Where a browser goes next when it is another page than the one it was on: a
/// redirect, or to htmx (`headers` of its request) the page put in place of the
/// content, with its address in the history.
pub fn go_to(headers: &axum::http::HeaderMap, path: &str) -> Response {
    if !headers.contains_key("hx-request") {
        return see_other(path, &[]);
    }
    let location = serde_json::json!({
        "path": path,
        "target": "#main",
        "select": "#main",
        "swap": "outerHTML",
    });
    let value = axum::http::HeaderValue::from_str(&location.to_string());
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = value {
        response.headers_mut().insert("hx-location", value);
    }
    response
}

/// Where a browser goes next, with cookies set on the way.
pub fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    for value in cookies.iter().filter_map(|c| c.parse().ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    response
}

/// A service's refusal as a page shows it: the status, and what the person reads.
/// In English the service's own words where they tell the person what to fix (a
/// wrong password, a bad field, too many tries, a refusal); otherwise, and in
/// Russian, the same by kind (`unauthenticated` says `fallback`, a wrong password or
/// link).
pub fn refusal(status: &Status, t: &'static Tr, fallback: &'static str) -> (StatusCode, String) {
    let code = match status.code() {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::Unavailable | Code::DeadlineExceeded => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let telling = matches!(
        status.code(),
        Code::Unauthenticated
            | Code::InvalidArgument
            | Code::ResourceExhausted
            | Code::PermissionDenied
    );
    let own_words = t.lang == Lang::En && telling;
    let text = match (own_words, code) {
        (true, _) => status.message(),
        (false, StatusCode::SERVICE_UNAVAILABLE) => t.unavailable,
        (false, StatusCode::INTERNAL_SERVER_ERROR) => t.went_wrong,
        (false, _) => translated(status, t, fallback),
    };
    (code, text.to_owned())
}

/// A client error in `t`'s words.
fn translated(status: &Status, t: &'static Tr, fallback: &'static str) -> &'static str {
    use ringside_proto::staff::{STEP_ENDED, WRONG_CODE};
    match (status.code(), status.message()) {
        (Code::Unauthenticated, WRONG_CODE) => t.wrong_code,
        (Code::Unauthenticated, STEP_ENDED) => t.step_ended,
        (Code::Unauthenticated, _) => fallback,
        (Code::ResourceExhausted, _) => t.too_many,
        (Code::PermissionDenied, _) => t.not_allowed,
        (Code::InvalidArgument, _) => t.check_input,
        (Code::NotFound, _) => t.not_found,
        _ => t.not_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{EN, RU};

    #[test]
    fn a_refusal_reads_in_the_persons_language() {
        let wrong = Status::unauthenticated("wrong login or password");
        assert_eq!(
            refusal(&wrong, &EN, EN.wrong_login).1,
            "wrong login or password"
        );
        assert_eq!(refusal(&wrong, &RU, RU.wrong_login).1, RU.wrong_login);
        let code = Status::unauthenticated(ringside_proto::staff::WRONG_CODE);
        assert_eq!(refusal(&code, &RU, RU.wrong_login).1, RU.wrong_code);
        let down = Status::unavailable("staff: connection refused at 10.0.0.7");
        assert_eq!(
            refusal(&down, &EN, EN.went_wrong),
            (StatusCode::SERVICE_UNAVAILABLE, EN.unavailable.to_owned())
        );
        let bug = Status::internal("a stack trace");
        assert_eq!(refusal(&bug, &EN, EN.went_wrong).1, EN.went_wrong);
        let internal_words = Status::failed_precondition("single sign-on is not set up here");
        assert_eq!(refusal(&internal_words, &EN, EN.went_wrong).1, EN.not_now);
    }

    #[test]
    fn json_for_a_script_element_cannot_close_it() {
        let json = script_json(&["</script><!-- & 'x'"]);
        assert!(!json.contains('<') && !json.contains('&'), "{json}");
        let back: Vec<String> = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back, ["</script><!-- & 'x'"]);
    }

    #[test]
    fn amounts_are_grouped_and_moments_are_utc_until_the_browser_says() {
        assert_eq!(money(&EN, 123_456_789, "RUB"), "1,234,567.89\u{a0}RUB");
        assert_eq!(money(&EN, -5, "EUR"), "-0.05\u{a0}EUR");
        assert_eq!(
            money(&RU, 123_456_789, "RUB"),
            "1\u{a0}234\u{a0}567,89\u{a0}₽"
        );
        assert_eq!(money(&RU, 100, "KZT"), "1,00\u{a0}KZT");
        let at = prost_types::Timestamp {
            seconds: 1_764_288_000,
            nanos: 0,
        };
        let when = When::of(Some(&at));
        assert_eq!(when.iso, "2025-11-28T00:00:00Z");
        assert_eq!(when.text, "2025-11-28 00:00 UTC");
        assert_eq!(When::of(None).iso, "");
    }

    #[test]
    fn only_a_clean_socket_origin_goes_into_the_policy() {
        assert_eq!(push_origin(""), "");
        assert_eq!(
            push_origin("ws://127.0.0.1:9000/agent/ws"),
            " ws://127.0.0.1:9000"
        );
        assert_eq!(
            push_origin("wss://push.example/agent/ws"),
            " wss://push.example"
        );
        assert_eq!(push_origin("ws://a; script-src *"), "");
    }
}
