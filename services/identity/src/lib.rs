//! Identities: how a channel finds a client. This crate owns the types that validate
//! once — a phone number in E.164 (read in any common format with a default region), a
//! lower-cased email address, a Telegram user id, a web visitor id — and the field-level
//! `Invalid` error they return. Every service that meets a phone number or an email
//! (contacts, ingest, the channels) uses these, so they agree on what is valid. It owns
//! no storage and no rule about who a client is.

pub mod fields;
pub mod paging;

use std::fmt;
use std::str::FromStr;

use phonenumber::country;

/// Why a value was refused; names the field so the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Longest free-text value accepted (names, tags, custom field values), in bytes.
pub const MAX_TEXT: usize = 1024;
/// Most identities, tags or custom fields on one record.
pub const MAX_ITEMS: usize = 100;
/// Fewest trailing digits a phone lookup matches on.
pub const MIN_TAIL_DIGITS: usize = 7;
/// Most trailing digits a phone lookup compares (a national number's length).
pub const MAX_TAIL_DIGITS: usize = 10;

/// A required, trimmed, bounded text field.
pub fn required_text(field: &str, value: &str) -> Result<String, Invalid> {
    let value = optional_text(field, value)?;
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    Ok(value)
}

/// A trimmed, bounded text field that may be empty.
pub fn optional_text(field: &str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.len() > MAX_TEXT {
        return Err(Invalid::new(field, format!("longer than {MAX_TEXT} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// Longest body text accepted (a note, a message), in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// A required, trimmed body text of up to [`MAX_BODY`] bytes: line breaks and tabs
/// are kept, other control characters refused.
pub fn required_body(field: &str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if value.len() > MAX_BODY {
        return Err(Invalid::new(field, format!("longer than {MAX_BODY} bytes")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// Page sizes: 0 asks for the default, larger than the maximum is cut to it.
pub fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, Invalid> {
    match i64::from(requested) {
        0 => Ok(default),
        n if n < 0 => Err(Invalid::new("page_size", "must not be negative")),
        n => Ok(n.min(max)),
    }
}

/// The region a phone number without a country code is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(country::Id);

impl FromStr for PhoneRegion {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        s.trim()
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .map(PhoneRegion)
            .map_err(|_| Invalid::new("region", format!("unknown region {s:?}")))
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        PhoneRegion(country::Id::RU)
    }
}

/// A phone number in E.164 (`+79123456789`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Reads `raw` in any common format; numbers without a country code are read in
    /// `region`. Lenient on purpose: a caller id the numbering plan does not know yet
    /// is still a caller, so anything that parses to 8–15 digits is accepted.
    pub fn parse(raw: &str, region: PhoneRegion) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("phone", "not a phone number");
        if raw.len() > 64 {
            return Err(invalid());
        }
        let number = phonenumber::parse(Some(region.0), raw).map_err(|_| invalid())?;
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        let digits = e164.trim_start_matches('+');
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(PhoneE164(e164))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits reversed, so that "ends with these digits" is an index range scan.
    pub fn reversed_digits(&self) -> String {
        self.0.trim_start_matches('+').chars().rev().collect()
    }
}

/// The trailing digits of a number in any format, reversed, for a suffix lookup;
/// `None` when there are too few digits to mean anything.
pub fn reversed_tail(raw: &str) -> Option<String> {
    let digits: Vec<char> = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_TAIL_DIGITS {
        return None;
    }
    Some(digits.iter().rev().take(MAX_TAIL_DIGITS).collect())
}

/// A lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = |why: &str| Invalid::new("email", why);
        let value = raw.trim().to_lowercase();
        if value.len() > 254 {
            return Err(invalid("longer than 254 bytes"));
        }
        let (local, domain) = value.split_once('@').ok_or_else(|| invalid("missing @"))?;
        let well_formed = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            return Err(invalid("not an email address"));
        }
        Ok(EmailAddress(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kinds of identity a channel finds a client by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Phone,
    Email,
    Telegram,
    WebVisitor,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Phone => "phone",
            IdentityKind::Email => "email",
            IdentityKind::Telegram => "telegram",
            IdentityKind::WebVisitor => "web",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        [
            IdentityKind::Phone,
            IdentityKind::Email,
            IdentityKind::Telegram,
            IdentityKind::WebVisitor,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A normalized identity: how a channel finds a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    /// Validates and normalizes `raw` for `kind`.
    pub fn parse(kind: IdentityKind, raw: &str, region: PhoneRegion) -> Result<Self, Invalid> {
        let value = match kind {
            IdentityKind::Phone => PhoneE164::parse(raw, region)?.0,
            IdentityKind::Email => EmailAddress::parse(raw)?.0,
            IdentityKind::Telegram => parse_telegram_id(raw)?,
            IdentityKind::WebVisitor => parse_visitor_id(raw)?,
        };
        Ok(Identity { kind, value })
    }

    /// Reversed digits for phone identities (the suffix-lookup key).
    pub fn reversed_digits(&self) -> Option<String> {
        (self.kind == IdentityKind::Phone).then(|| PhoneE164(self.value.clone()).reversed_digits())
    }
}

impl fmt::Display for Identity {
    /// Names the kind only: identities are personal data and stay out of messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} identity", self.kind.as_str())
    }
}

fn parse_telegram_id(raw: &str) -> Result<String, Invalid> {
    match raw.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id.to_string()),
        _ => Err(Invalid::new("telegram", "not a Telegram user id")),
    }
}

fn parse_visitor_id(raw: &str) -> Result<String, Invalid> {
    let value = raw.trim();
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Invalid::new("web_visitor", "not a visitor id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ru() -> PhoneRegion {
        "RU".parse().expect("region")
    }

    #[test]
    fn russian_national_format_becomes_e164() {
        let phone = PhoneE164::parse("8 (912) 345-67-89", ru()).expect("parses");
        assert_eq!(phone.as_str(), "+79123456789");
        assert_eq!(phone.reversed_digits(), "98765432197");
    }

    #[test]
    fn international_formats_keep_their_country() {
        let phone = PhoneE164::parse("+44 20 7946 0958", ru()).expect("parses");
        assert_eq!(phone.as_str(), "+442079460958");
    }

    #[test]
    fn garbage_is_not_a_phone() {
        for raw in ["", "abc", "12", "+7 912", &"9".repeat(80)] {
            let err = PhoneE164::parse(raw, ru()).expect_err(raw);
            assert_eq!(err.field, "phone");
        }
    }

    #[test]
    fn tail_needs_seven_digits_and_keeps_ten() {
        assert_eq!(reversed_tail("345-67-8"), None);
        assert_eq!(reversed_tail("345-67-89").as_deref(), Some("9876543"));
        assert_eq!(
            reversed_tail("0079123456789").as_deref(),
            Some("9876543219")
        );
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        let email = EmailAddress::parse(" Ivan.Petrov@Example.COM ").expect("parses");
        assert_eq!(email.as_str(), "ivan.petrov@example.com");
        for raw in [
            "",
            "ivan",
            "@example.com",
            "ivan@",
            "ivan@localhost",
            "a b@c.d",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn telegram_ids_are_positive_integers() {
        let id = Identity::parse(IdentityKind::Telegram, " 12345 ", ru()).expect("parses");
        assert_eq!(id.value, "12345");
        assert!(Identity::parse(IdentityKind::Telegram, "-5", ru()).is_err());
        assert!(Identity::parse(IdentityKind::Telegram, "@ivan", ru()).is_err());
    }
}
