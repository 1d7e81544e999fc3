//! The sign-in's second step in the browser: after a password that held, the page
//! asking for a code (with the QR code and key to set an app up, for an admin who
//! must have a second factor and has none yet), its post to `/signin/code`, and the
//! recovery codes shown once when the step set the factor up. The step's challenge
//! rides in the form, never in a URL.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use qrcode::QrCode;
use qrcode::render::svg;
use ringside_kit::net::client_ip;
use ringside_kit::peer::request;
use ringside_proto::staff::v1 as spb;
use serde::Deserialize;
use tonic::Code;

use super::{sign_in_page, sign_in_with_notice};
use crate::Web;
use crate::lang::Lang;
use crate::page::{Chrome, Notice, html};

/// A second factor being set up: its QR code, its key in groups, and both as they
/// go back in the form.
struct Enrol {
    qr: String,
    grouped: String,
    secret: String,
    url: String,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    c: Chrome<'a>,
    notice: Notice,
    enrol: Option<Enrol>,
    challenge: &'a str,
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage<'a> {
    c: Chrome<'a>,
    codes: &'a [String],
}

/// The page asking for a code for `step`, with `notice`. A secret to set up rides
/// along in the form too, so a mistyped first code shows it again.
pub(super) fn code_page(
    web: &Web,
    lang: Lang,
    step: &spb::SecondStep,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let enrol = step.enrol.as_ref().map(|e| Enrol {
        qr: qr_svg(&e.url),
        grouped: grouped(&e.secret),
        secret: e.secret.clone(),
        url: e.url.clone(),
    });
    let page = CodePage {
        c: web.chrome(lang, None).without_lang_switch(),
        notice,
        enrol,
        challenge: &step.challenge,
    };
    html(status, &page, "")
}

/// An `otpauth://` address as an inline SVG QR code ("" when it cannot be one).
fn qr_svg(url: &str) -> String {
    let Ok(code) = QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let image = code.render::<svg::Color>().min_dimensions(200, 200).build();
    // The XML declaration has no place inside HTML.
    image
        .find("<svg")
        .map_or(image.clone(), |at| image[at..].to_owned())
}

/// A base32 key in groups of four, as apps print them.
fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let groups: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
    groups.join(" ")
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    challenge: String,
    code: String,
    #[serde(default)]
    enrol_secret: String,
    #[serde(default)]
    enrol_url: String,
}

/// Whether `challenge` looks like one staff makes (base64url): anything else is
/// not put back into a page.
fn well_formed(challenge: &str) -> bool {
    (20..=100).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) async fn sign_in_with_code(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = Lang::of(&headers);
    let t = lang.tr();
    if !well_formed(&form.challenge) {
        let why = Notice::error(t.step_ended);
        return sign_in_with_notice(&web, lang, StatusCode::BAD_REQUEST, why);
    }
    let enrol = (!form.enrol_secret.is_empty()).then(|| spb::TwoFactorSecret {
        secret: form.enrol_secret.clone(),
        url: form.enrol_url.clone(),
    });
    let asked = spb::SecondStep {
        challenge: form.challenge.clone(),
        enrol,
        ..spb::SecondStep::default()
    };
    let message = spb::SignInWithCodeRequest {
        challenge: form.challenge,
        code: form.code,
        client_address: client_ip(Some(peer), &headers, &web.proxies).to_string(),
    };
    let mut staff = web.sessions.staff();
    match staff.sign_in_with_code(request(message, "")).await {
        Ok(signed) => super::signed_in(&web, &headers, signed.into_inner()).await,
        // A wrong code may be tried again on the same step; an ended step starts over.
        Err(s)
            if s.code() == Code::Unauthenticated
                && s.message() == ringside_proto::staff::WRONG_CODE =>
        {
            let why = Notice::error(t.wrong_code);
            code_page(&web, lang, &asked, StatusCode::UNAUTHORIZED, why)
        }
        Err(s) => sign_in_page(&web, lang, &s),
    }
}

/// The recovery codes a sign-in just made, shown once, with the session's cookie.
pub(super) fn recovery_page(web: &Web, lang: Lang, codes: &[String], cookie: String) -> Response {
    let page = RecoveryPage {
        c: web.chrome(lang, None).without_lang_switch(),
        codes,
    };
    let mut response = html(StatusCode::OK, &page, "");
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_printed_in_groups_and_a_url_becomes_an_svg() {
        assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
        let svg = qr_svg("otpauth://totp/Ringside:a%40b?secret=ABCD&issuer=Ringside");
        assert!(svg.starts_with("<svg"), "{svg:.40}");
        assert!(svg.contains("<path"), "the modules are drawn");
    }

    #[test]
    fn only_a_challenge_staff_could_have_made_goes_back_into_a_page() {
        assert!(well_formed("Zm9vYmFyYmF6cXV4LV9fLS0tYWJjZGVmZ2hpams"));
        assert!(!well_formed("{{notice}}"));
        assert!(!well_formed("\"><script>alert(1)</script>"));
        assert!(!well_formed("short"));
    }
}
