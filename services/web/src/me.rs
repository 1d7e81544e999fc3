//! The person's own settings (`/me`): the language and the time zone staff keeps
//! for them (`UpdateMyPreferences`, which anyone signed in may call for
//! themselves), so every device they sign in on follows them — the language before
//! the browser's, the zone before the device's. The menu's language switch saves
//! the choice here too.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ringside_proto::staff::v1 as spb;
use serde::Deserialize;

use crate::lang::{Lang, Tr};
use crate::page::{Chrome, Notice, failure, html, refusal, see_other};
use crate::{Viewer, Web};

/// The zones offered: Russia's eleven, its neighbours', and a few of the world's
/// (IANA name, English, Russian).
const ZONES: &[(&str, &str, &str)] = &[
    ("Europe/Kaliningrad", "Kaliningrad", "Калининград"),
    ("Europe/Moscow", "Moscow", "Москва"),
    ("Europe/Samara", "Samara", "Самара"),
    ("Asia/Yekaterinburg", "Yekaterinburg", "Екатеринбург"),
    ("Asia/Omsk", "Omsk", "Омск"),
    ("Asia/Novosibirsk", "Novosibirsk", "Новосибирск"),
    ("Asia/Krasnoyarsk", "Krasnoyarsk", "Красноярск"),
    ("Asia/Irkutsk", "Irkutsk", "Иркутск"),
    ("Asia/Yakutsk", "Yakutsk", "Якутск"),
    ("Asia/Vladivostok", "Vladivostok", "Владивосток"),
    ("Asia/Magadan", "Magadan", "Магадан"),
    (
        "Asia/Kamchatka",
        "Petropavlovsk-Kamchatsky",
        "Петропавловск-Камчатский",
    ),
    ("Europe/Minsk", "Minsk", "Минск"),
    ("Asia/Almaty", "Almaty", "Алматы"),
    ("Asia/Tashkent", "Tashkent", "Ташкент"),
    ("Asia/Tbilisi", "Tbilisi", "Тбилиси"),
    ("Europe/London", "London", "Лондон"),
    ("Europe/Berlin", "Berlin", "Берлин"),
    ("America/New_York", "New York", "Нью-Йорк"),
    ("UTC", "UTC", "UTC"),
];

/// A zone as the person reads it.
fn zone_name(t: &'static Tr, zone: &'static (&str, &str, &str)) -> &'static str {
    match t.lang {
        Lang::En => zone.1,
        Lang::Ru => zone.2,
    }
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage<'a> {
    c: Chrome<'a>,
    /// (code, name) of each language, and the person's.
    languages: Vec<(&'static str, &'static str)>,
    locale: String,
    /// (IANA name, name) of each zone offered, and the person's.
    zones: Vec<(String, String)>,
    time_zone: String,
    notice: Notice,
}

pub fn routes() -> axum::Router<Web> {
    use axum::routing::get;
    axum::Router::new().route("/me", get(page).post(save))
}

/// `GET /me`.
pub async fn page(State(web): State<Web>, viewer: Viewer) -> Response {
    show(&web, &viewer, StatusCode::OK, Notice::none())
}

fn show(web: &Web, viewer: &Viewer, status: StatusCode, notice: Notice) -> Response {
    let t = viewer.lang.tr();
    let page = MePage {
        c: viewer.chrome(web),
        languages: [Lang::En, Lang::Ru]
            .into_iter()
            .map(|l| (l.code(), l.tr().language_name))
            .collect(),
        locale: Lang::parse(&viewer.person.locale)
            .map_or("", Lang::code)
            .to_owned(),
        zones: zones(t, &viewer.person.time_zone),
        time_zone: viewer.person.time_zone.clone(),
        notice,
    };
    html(status, &page, &web.push_url)
}

#[derive(Deserialize)]
pub struct Preferences {
    /// `en`, `ru`, or empty: the browser's.
    #[serde(default)]
    lang: String,
    /// One of [`ZONES`], or empty: the device's.
    #[serde(default)]
    time_zone: String,
}

/// `POST /me`: the language and zone kept for the person; the page follows in
/// them. A zone not offered is refused, nothing saved.
pub async fn save(
    State(web): State<Web>,
    viewer: Viewer,
    Form(form): Form<Preferences>,
) -> Response {
    let t = viewer.lang.tr();
    let lang = Lang::parse(&form.lang);
    let zone = form.time_zone.trim();
    let kept = zone == viewer.person.time_zone;
    if (!form.lang.is_empty() && lang.is_none()) || !(zone.is_empty() || offered(zone) || kept) {
        return show(
            &web,
            &viewer,
            StatusCode::BAD_REQUEST,
            Notice::error(t.check_input),
        );
    }
    let message = spb::UpdateMyPreferencesRequest {
        locale: Some(lang.map_or("", Lang::code).to_owned()),
        time_zone: Some(zone.to_owned()),
    };
    let saved = async {
        web.staff()
            .update_my_preferences(viewer.ask(message)?)
            .await
    };
    match saved.await {
        // The language cookie goes, so the saved language is the one followed.
        Ok(_) => see_other("/me", &[crate::signin::forget_language(&web)]),
        Err(s) if s.code() == tonic::Code::Unauthenticated => failure(viewer.chrome(&web), &s),
        Err(s) => {
            let (code, why) = refusal(&s, t, t.went_wrong);
            show(&web, &viewer, code, Notice::error(why))
        }
    }
}

/// Whether `zone` is one the page offers.
fn offered(zone: &str) -> bool {
    ZONES.iter().any(|z| z.0 == zone)
}

/// The zones offered, by name, and the person's own when it is another (set by an
/// admin, say), so saving the page keeps it.
fn zones(t: &'static Tr, own: &str) -> Vec<(String, String)> {
    let mut zones: Vec<(String, String)> = (ZONES.iter())
        .map(|z| (z.0.to_owned(), zone_name(t, z).to_owned()))
        .collect();
    if !own.is_empty() && !offered(own) {
        zones.push((own.to_owned(), own.to_owned()));
    }
    zones
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_offered_is_known_here_and_named_in_both_languages() {
        for zone in ZONES {
            assert!(jiff::tz::TimeZone::get(zone.0).is_ok(), "{}", zone.0);
            assert!(!zone.1.is_empty() && !zone.2.is_empty());
        }
        assert!(offered("Europe/Moscow"));
        assert!(!offered("Mars/Olympus"));
    }
}
