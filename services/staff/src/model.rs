//! Users and teams as the staff service keeps them, and what a request must hold to
//! make or change one (checked once, here).

use ringside_identity::{EmailAddress, Invalid, fields, optional_text, required_text};

/// The roles a person can have (services have their own tokens, not users).
pub const ROLES: &[&str] = &["admin", "manager", "agent"];

/// How much a role may do: 0 the most (admin); `None` for no role.
pub fn rank(role: &str) -> Option<usize> {
    ROLES.iter().position(|r| *r == role)
}
/// Most teams one person belongs to.
const MAX_TEAMS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub id: String,
    pub name: String,
    /// The email they sign in with.
    pub login: Option<String>,
    pub role: String,
    pub team_ids: Vec<String>,
    pub extensions: Vec<String>,
    pub alert_email: String,
    pub telegram_chat_id: String,
    pub locale: String,
    pub time_zone: String,
    pub active: bool,
    /// They sign in with a second factor.
    pub two_factor: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a person is made of, as a request gives it (create and update alike).
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub name: String,
    pub login: String,
    pub role: String,
    pub team_ids: Vec<String>,
    pub extensions: Vec<String>,
    pub alert_email: String,
    pub telegram_chat_id: String,
    pub locale: String,
    pub time_zone: String,
}

impl UserSpec {
    /// Checks and normalizes every field into the user `id`'s details (times and the
    /// active flag are the service's).
    pub fn validated(self, id: String) -> Result<User, Invalid> {
        Ok(User {
            id,
            name: required_text("name", &self.name)?,
            login: optional_email("login", &self.login)?,
            role: role(&self.role)?,
            team_ids: team_ids(&self.team_ids)?,
            extensions: fields::extensions("extensions", &self.extensions)?,
            alert_email: optional_email("alert_email", &self.alert_email)?.unwrap_or_default(),
            telegram_chat_id: fields::telegram_chat_id("telegram_chat_id", &self.telegram_chat_id)?,
            locale: locale(&self.locale)?,
            time_zone: time_zone(&self.time_zone)?,
            active: true,
            two_factor: false,
            created_at: 0,
            updated_at: 0,
        })
    }
}

fn role(raw: &str) -> Result<String, Invalid> {
    match raw.trim() {
        "" => Ok("agent".to_owned()),
        r if ROLES.contains(&r) => Ok(r.to_owned()),
        _ => Err(Invalid::new("role", "admin, manager or agent")),
    }
}

fn optional_email(field: &str, raw: &str) -> Result<Option<String>, Invalid> {
    match raw.trim() {
        "" => Ok(None),
        e => EmailAddress::parse(e)
            .map(|e| Some(e.as_str().to_owned()))
            .map_err(|e| Invalid::new(field, e.reason)),
    }
}

fn team_ids(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > MAX_TEAMS {
        return Err(Invalid::new("team_ids", format!("more than {MAX_TEAMS}")));
    }
    let mut out: Vec<String> = Vec::new();
    for id in raw {
        let id = fields::id("team_ids", id)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A BCP 47 language tag as browsers send it (`ru`, `en-GB`), or empty.
pub fn locale(raw: &str) -> Result<String, Invalid> {
    let value = optional_text("locale", raw)?;
    let mut parts = value.split('-');
    let language = parts.next().unwrap_or("");
    let well_formed = (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_alphabetic())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    match value.is_empty() || well_formed {
        true => Ok(value),
        false => Err(Invalid::new("locale", "a language tag such as ru or en-GB")),
    }
}

/// An IANA time zone name (`Europe/Moscow`, `UTC`), or empty; its shape is checked
/// here, not that the zone exists.
pub fn time_zone(raw: &str) -> Result<String, Invalid> {
    let value = optional_text("time_zone", raw)?;
    let well_formed = value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        && !value.starts_with('/')
        && !value.contains("..");
    match well_formed {
        true => Ok(value),
        false => Err(Invalid::new(
            "time_zone",
            "an IANA zone such as Europe/Moscow",
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub head_ids: Vec<String>,
    pub member_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> UserSpec {
        UserSpec {
            name: " Ольга ".into(),
            login: "Olga@Office.Example".into(),
            extensions: vec!["101".into(), " 101".into(), "*55".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_spec_is_normalized_once() {
        let user = spec().validated("olga".into()).expect("valid");
        assert_eq!(user.name, "Ольга");
        assert_eq!(user.login.as_deref(), Some("olga@office.example"));
        assert_eq!(user.role, "agent");
        assert_eq!(user.extensions, vec!["101", "*55"]);
        assert!(user.active);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut UserSpec);
        let cases: Vec<(&str, Spoil)> = vec![
            ("name", |s| s.name = " ".into()),
            ("login", |s| s.login = "not-an-address".into()),
            ("role", |s| s.role = "service".into()),
            ("role", |s| s.role = "god".into()),
            ("extensions", |s| s.extensions = vec!["1 01".into()]),
            ("alert_email", |s| s.alert_email = "@".into()),
            ("telegram_chat_id", |s| s.telegram_chat_id = "chat".into()),
            ("locale", |s| s.locale = "russian language".into()),
            ("time_zone", |s| s.time_zone = "../etc/passwd".into()),
            ("team_ids", |s| s.team_ids = vec![" ".into()]),
        ];
        for (field, spoil) in cases {
            let mut s = spec();
            spoil(&mut s);
            let err = s.validated("u".into()).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn locales_and_zones_people_use_are_taken() {
        for (locale, zone) in [("ru", "Europe/Moscow"), ("en-GB", "UTC"), ("", "")] {
            let mut s = spec();
            s.locale = locale.into();
            s.time_zone = zone.into();
            let user = s.validated("u".into()).expect("valid");
            assert_eq!(
                (user.locale.as_str(), user.time_zone.as_str()),
                (locale, zone)
            );
        }
    }
}
