//! The channels in admin (`/admin/channels`, an admin's): how each of ingest's
//! channels is doing — the SIP and HEP listeners, the call webhook, the Telegram
//! bot, the mailboxes, the email webhook, the web forms — with what came in, what
//! was refused and why, and the last error; and each web form as the site must post
//! it, with a snippet to paste. Ingest answers (`ListChannels`, which its guard
//! keeps to admins); the channels are set in ingest's settings, not here. When
//! ingest does not answer, the page says so instead of showing nothing.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ringside_auth::policy::Action;
use ringside_proto::ingest::v1 as ipb;
use tonic::Code;

use crate::admin::{Tabs, allows, not_theirs};
use crate::lang::Tr;
use crate::page::{Chrome, When, failure, html};
use crate::{Viewer, Web};

/// One channel's line.
struct ChannelLine {
    kind: &'static str,
    name: String,
    mode: String,
    state: ChannelState,
    received: u64,
    refused: u64,
    last_refusal: String,
    last_refusal_at: When,
    last_error: String,
    last_error_at: When,
    last_ok_at: When,
}

/// How a channel is doing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ChannelState {
    /// It has worked, and nothing failed since.
    Working,
    /// Its last attempt failed, and nothing worked since.
    Failing,
    /// Inputs came, and every one was refused: a wrong secret or source, most likely.
    Refusing,
    /// Nothing has come in or worked yet.
    Quiet,
}

/// One web form, as its page must post it.
struct FormLine {
    key: String,
    action: String,
    fields: Vec<FieldLine>,
    origins: String,
    redirect: String,
    per_minute: u32,
    snippet: String,
}

struct FieldLine {
    label: String,
    input: String,
    required: bool,
}

#[derive(Template)]
#[template(path = "channels.html")]
struct ChannelsPage<'a> {
    c: Chrome<'a>,
    tabs: Tabs,
    /// Ingest did not answer: why, in the person's language.
    unreachable: &'static str,
    since: When,
    channels: Vec<ChannelLine>,
    forms: Vec<FormLine>,
}

pub fn routes() -> axum::Router<Web> {
    axum::Router::new().route("/admin/channels", axum::routing::get(page))
}

/// `GET /admin/channels`.
async fn page(State(web): State<Web>, viewer: Viewer, headers: HeaderMap) -> Response {
    if !allows(&viewer, Action::ReadChannels) {
        return not_theirs(&web, &viewer);
    }
    let t = viewer.lang.tr();
    let asked = async {
        let message = ipb::ListChannelsRequest {};
        web.ingest().list_channels(viewer.ask(message)?).await
    };
    let (answer, unreachable) = match asked.await {
        Ok(answer) => (answer.into_inner(), ""),
        // Ingest is down, or not where web was told it is (another service answers
        // there): the page still opens.
        Err(s)
            if matches!(
                s.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Unimplemented
            ) =>
        {
            (ipb::ListChannelsResponse::default(), t.channels_unreachable)
        }
        Err(s) => return failure(viewer.chrome(&web), &s),
    };
    let origin = origin(&web, &headers);
    let page = ChannelsPage {
        c: viewer.chrome(&web),
        tabs: Tabs::of(&viewer),
        unreachable,
        since: When::of(answer.since.as_ref()),
        channels: answer.channels.iter().map(|c| line(t, c)).collect(),
        forms: (answer.forms.iter())
            .map(|f| form_line(t, f, &origin))
            .collect(),
    };
    html(StatusCode::OK, &page, &web.push_url)
}

fn line(t: &'static Tr, c: &ipb::Channel) -> ChannelLine {
    let state = match (c.failing, c.last_ok_at.is_some(), c.refused > 0) {
        (true, _, _) => ChannelState::Failing,
        (false, true, _) => ChannelState::Working,
        (false, false, true) => ChannelState::Refusing,
        (false, false, false) => ChannelState::Quiet,
    };
    ChannelLine {
        kind: kind_label(t, c.kind()),
        name: c.name.clone(),
        mode: match c.mode.as_str() {
            "polling" => t.ch_polling.to_owned(),
            "webhook" => t.ch_webhook.to_owned(),
            other => other.to_owned(),
        },
        state,
        received: c.received,
        refused: c.refused,
        last_refusal: refusal_label(t, &c.last_refusal),
        last_refusal_at: When::of(c.last_refusal_at.as_ref()),
        last_error: c.last_error.clone(),
        last_error_at: When::of(c.last_error_at.as_ref()),
        last_ok_at: When::of(c.last_ok_at.as_ref()),
    }
}

fn kind_label(t: &'static Tr, kind: ipb::ChannelKind) -> &'static str {
    use ipb::ChannelKind as K;
    match kind {
        K::Sip => t.ch_sip,
        K::Hep => t.ch_hep,
        K::CallWebhook => t.ch_call_webhook,
        K::Telegram => t.ch_telegram,
        K::Mailbox => t.ch_mailbox,
        K::EmailWebhook => t.ch_email_webhook,
        K::Form => t.ch_form,
        K::CallEvents => t.ch_call_events,
        K::Unspecified => "",
    }
}

/// A refusal's reason in words; the code itself stays beside the ones that are
/// about the input's format, for whoever debugs the sender.
fn refusal_label(t: &'static Tr, code: &str) -> String {
    let words = match code {
        "" => return String::new(),
        "forbidden_source" => t.refused_source,
        "forbidden_origin" => t.refused_origin,
        "bad_secret" | "bad_auth_key" => t.refused_secret,
        "rate_limited" => t.refused_rate,
        "invalid" => t.refused_invalid,
        "oversized" | "too_large" => t.refused_size,
        "honeypot" => t.refused_honeypot,
        "queue_full" => t.refused_dropped,
        other => return format!("{} ({other})", t.refused_malformed),
    };
    words.to_owned()
}

fn form_line(t: &'static Tr, form: &ipb::Form, origin: &str) -> FormLine {
    let action = format!("{origin}{}", form.path);
    let fields: Vec<FieldLine> = (form.fields.iter())
        .map(|f| FieldLine {
            label: field_label(t, f),
            input: f.input.clone(),
            required: form.required.contains(&f.field),
        })
        .collect();
    FormLine {
        key: form.key.clone(),
        snippet: snippet(&action, form, t.form_send),
        action,
        fields,
        origins: match form.allowed_origins.is_empty() {
            true => t.form_any_site.to_owned(),
            false => form.allowed_origins.join(", "),
        },
        redirect: match form.redirect.is_empty() {
            true => t.form_no_redirect.to_owned(),
            false => form.redirect.clone(),
        },
        per_minute: form.per_ip_per_minute,
    }
}

fn field_label(t: &'static Tr, field: &ipb::FormField) -> String {
    let known = match (field.custom, field.field.as_str()) {
        (false, "name") => t.form_f_name,
        (false, "phone") => t.form_f_phone,
        (false, "email") => t.form_f_email,
        (false, "company") => t.form_f_company,
        (false, "comment") => t.form_f_comment,
        _ => return field.field.clone(),
    };
    known.to_owned()
}

/// The HTML a site puts on its page to post `form` to `action`: an input for each
/// field, the hidden honeypot, and a button. (The page escapes it once more to show
/// it.)
fn snippet(action: &str, form: &ipb::Form, send: &str) -> String {
    let mut html = format!("<form method=\"post\" action=\"{}\">\n", escape(action));
    for field in &form.fields {
        let kind = match field.field.as_str() {
            "email" if !field.custom => "email",
            "phone" if !field.custom => "tel",
            _ => "text",
        };
        let required = match form.required.contains(&field.field) {
            true => " required",
            false => "",
        };
        let line = match (field.custom, field.field.as_str()) {
            (false, "comment") => format!(
                "  <textarea name=\"{}\"{required}></textarea>\n",
                escape(&field.input)
            ),
            _ => format!(
                "  <input type=\"{kind}\" name=\"{}\"{required}>\n",
                escape(&field.input)
            ),
        };
        html.push_str(&line);
    }
    if !form.honeypot.is_empty() {
        html.push_str(&format!(
            "  <input type=\"text\" name=\"{}\" hidden tabindex=\"-1\" autocomplete=\"off\">\n",
            escape(&form.honeypot)
        ));
    }
    html.push_str(&format!(
        "  <button type=\"submit\">{}</button>\n</form>",
        escape(send)
    ));
    html
}

/// `text` as HTML may hold it in an attribute or between tags.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where browsers reach this Ringside, as this request came (forms are served on the
/// same address, ingest behind the same ingress).
fn origin(web: &Web, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let scheme = match web.sessions.cookie().is_secure() {
        true => "https",
        false => "http",
    };
    match host.is_empty() {
        true => String::new(),
        false => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ipb::Form {
        let field = |field: &str, input: &str, custom| ipb::FormField {
            field: field.into(),
            input: input.into(),
            custom,
        };
        ipb::Form {
            key: "contact".into(),
            path: "/forms/contact".into(),
            fields: vec![
                field("name", "your-name", false),
                field("email", "email", false),
                field("comment", "message", false),
                field("budget", "b", true),
            ],
            required: vec!["email".into()],
            honeypot: "website".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_snippet_posts_every_mapped_input_with_the_honeypot_hidden() {
        let html = snippet("https://crm.example/forms/contact", &form(), "Send");
        assert!(
            html.starts_with("<form method=\"post\" action=\"https://crm.example/forms/contact\">")
        );
        assert!(html.contains("<input type=\"text\" name=\"your-name\">"));
        assert!(html.contains("<input type=\"email\" name=\"email\" required>"));
        assert!(html.contains("<textarea name=\"message\"></textarea>"));
        assert!(html.contains("<input type=\"text\" name=\"b\">"));
        assert!(html.contains("name=\"website\" hidden"));
        let mut odd = form();
        odd.fields[0].input = "a\"><script>".into();
        let html = snippet("/forms/contact", &odd, "Send");
        assert!(
            html.contains("name=\"a&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
    }

    #[test]
    fn refusals_are_said_in_words_and_format_errors_keep_their_code() {
        let t = crate::lang::Lang::En.tr();
        assert_eq!(refusal_label(t, "bad_auth_key"), t.refused_secret);
        assert_eq!(refusal_label(t, ""), "");
        let malformed = refusal_label(t, "hep_bad_magic");
        assert!(malformed.ends_with("(hep_bad_magic)"), "{malformed}");
    }

    #[test]
    fn a_channel_is_working_only_once_it_worked_and_failing_after_a_failure() {
        let t = crate::lang::Lang::Ru.tr();
        let mut c = ipb::Channel {
            kind: ipb::ChannelKind::Mailbox.into(),
            ..Default::default()
        };
        assert_eq!(line(t, &c).state, ChannelState::Quiet);
        (c.received, c.refused) = (3, 3);
        assert_eq!(line(t, &c).state, ChannelState::Refusing, "all refused");
        c.last_ok_at = Some(prost_types::Timestamp::default());
        assert_eq!(line(t, &c).state, ChannelState::Working);
        c.failing = true;
        assert_eq!(line(t, &c).state, ChannelState::Failing);
        assert_eq!(line(t, &c).kind, t.ch_mailbox);
    }
}
