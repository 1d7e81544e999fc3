//! A form post's body — urlencoded, multipart or JSON — read into input pairs, then
//! mapped onto the fields the CRM knows and checked. Inputs the form does not map are
//! dropped here: nothing a visitor adds reaches a record.

use std::collections::BTreeMap;

use axum::body::Bytes;

use super::config::{CRM_FIELDS, FormConfig};

/// The UTM parameters kept as the lead's source.
const UTM: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

/// A checked submission: the CRM's fields, the custom ones, and where it came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// CRM field → value (`name`, `phone`, `email`, `company`, `comment`), non-empty only.
    pub fields: BTreeMap<String, String>,
    pub custom: BTreeMap<String, String>,
    pub utm: BTreeMap<String, String>,
    /// The page that referred the visitor to the form's page, if the page sent it.
    pub referrer: String,
}

impl Submission {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Why a body could not be read.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// 415: not one of the three encodings.
    Unsupported,
    /// 400: claims an encoding it does not follow.
    Malformed(String),
}

pub type Pairs = Vec<(String, String)>;

/// The body's input pairs, by its content type.
pub async fn read(content_type: &str, body: Bytes) -> Result<Pairs, BodyError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes::<Pairs>(&body)
            .map_err(|e| BodyError::Malformed(e.to_string())),
        "application/json" => json_pairs(&body),
        "multipart/form-data" => multipart_pairs(content_type, body).await,
        _ => Err(BodyError::Unsupported),
    }
}

fn json_pairs(body: &[u8]) -> Result<Pairs, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(BodyError::Malformed("expected a JSON object".into()));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            serde_json::Value::Null => Ok((k, String::new())),
            _ => Err(BodyError::Malformed(format!("{k}: expected text"))),
        })
        .collect()
}

/// Text inputs of a multipart body; uploaded files are not taken.
async fn multipart_pairs(content_type: &str, body: Bytes) -> Result<Pairs, BodyError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| BodyError::Malformed(e.to_string()))?;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut pairs = Vec::new();
    let malformed = |e: multer::Error| BodyError::Malformed(e.to_string());
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.file_name().is_some() {
            continue;
        }
        let name = field.name().unwrap_or_default().to_owned();
        pairs.push((name, field.text().await.map_err(malformed)?));
    }
    Ok(pairs)
}

/// The first non-empty value of `input`.
fn value<'a>(pairs: &'a Pairs, input: &str) -> Option<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == input)
        .map(|(_, v)| v.trim())
        .find(|v| !v.is_empty())
}

/// Whether the honeypot input is filled in.
pub fn is_bot(form: &FormConfig, pairs: &Pairs) -> bool {
    form.honeypot
        .as_deref()
        .is_some_and(|input| value(pairs, input).is_some())
}

/// Maps and checks the pairs; `Err` lists every field in error with why.
pub fn check(form: &FormConfig, pairs: &Pairs) -> Result<Submission, BTreeMap<String, String>> {
    let mut s = Submission::default();
    let mut errors = BTreeMap::new();
    for field in CRM_FIELDS {
        if let Some(v) = value(pairs, form.fields.input(field)) {
            s.fields.insert(field.to_owned(), v.to_owned());
        }
    }
    for (key, input) in &form.custom_fields {
        if let Some(v) = value(pairs, input) {
            s.custom.insert(key.clone(), v.to_owned());
        }
    }
    for key in UTM {
        if let Some(v) = value(pairs, key) {
            s.utm.insert(key.to_owned(), v.to_owned());
        }
    }
    s.referrer = value(pairs, "referrer").unwrap_or_default().to_owned();
    check_lengths(&s, &mut errors);
    check_contact_fields(&s, &mut errors);
    for field in &form.required {
        let given = s.fields.contains_key(field) || s.custom.contains_key(field);
        if !given {
            errors.insert(field.clone(), "required".into());
        }
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

fn check_lengths(s: &Submission, errors: &mut BTreeMap<String, String>) {
    let limit = |field: &str| match field {
        "comment" => 5000,
        "referrer" => 2000,
        "name" | "company" | "email" => 254,
        _ => 1000,
    };
    let all = s.fields.iter().chain(&s.custom).chain(&s.utm);
    for (field, v) in all.chain(std::iter::once((&"referrer".to_owned(), &s.referrer))) {
        let max = limit(field);
        if v.chars().count() > max {
            errors.insert(field.clone(), format!("longer than {max} characters"));
        }
    }
}

fn check_contact_fields(s: &Submission, errors: &mut BTreeMap<String, String>) {
    let (phone, email) = (s.field("phone"), s.field("email"));
    if phone.is_empty() && email.is_empty() {
        errors.insert("phone".into(), "give a phone or an email".into());
        errors.insert("email".into(), "give a phone or an email".into());
    }
    if !phone.is_empty() && !looks_like_phone(phone) {
        errors.insert("phone".into(), "not a phone number".into());
    }
    if !email.is_empty() && !looks_like_email(email) {
        errors.insert("email".into(), "not an email address".into());
    }
}

/// 7 to 15 digits with the usual punctuation (contacts normalizes it to E.164).
fn looks_like_phone(v: &str) -> bool {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let allowed = v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    allowed && (7..=15).contains(&digits)
}

fn looks_like_email(v: &str) -> bool {
    let Some((local, domain)) = v.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::config::parse;

    fn form() -> FormConfig {
        let text = r#"{"f": {"fields": {"comment": "message"}, "custom_fields": {"budget": "b"},
                      "required": ["name"], "honeypot": "website"}}"#;
        parse(text).expect("config").remove("f").expect("form")
    }

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn mapped_inputs_are_kept_and_the_rest_dropped() {
        let p = pairs(&[
            ("name", " Анна "),
            ("email", "anna@example.org"),
            ("message", "Call me"),
            ("b", "100k"),
            ("utm_campaign", "spring"),
            ("owner_id", "boss"),
            ("is_admin", "1"),
        ]);
        let s = check(&form(), &p).expect("valid");
        assert_eq!(s.field("name"), "Анна");
        assert_eq!(s.field("comment"), "Call me");
        assert_eq!(s.custom["budget"], "100k");
        assert_eq!(s.utm["utm_campaign"], "spring");
        let everything = format!("{s:?}");
        assert!(!everything.contains("boss") && !everything.contains("is_admin"));
    }

    #[test]
    fn every_field_in_error_is_listed() {
        let p = pairs(&[("phone", "12"), ("email", "not-an-email"), ("message", "")]);
        let errors = check(&form(), &p).expect_err("invalid");
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["email", "name", "phone"]);
        let none = check(&form(), &pairs(&[("name", "A")])).expect_err("no contact");
        assert!(none.contains_key("phone") && none.contains_key("email"));
        let long = "x".repeat(5001);
        let errors = check(
            &form(),
            &pairs(&[("name", "A"), ("email", "a@b.c"), ("message", &long)]),
        );
        assert!(errors.expect_err("too long").contains_key("comment"));
    }

    #[test]
    fn the_honeypot_tells_bots() {
        assert!(is_bot(&form(), &pairs(&[("website", "http://spam")])));
        assert!(!is_bot(&form(), &pairs(&[("website", "")])));
    }

    #[tokio::test]
    async fn the_three_encodings_read_the_same() {
        let urlencoded = read(
            "application/x-www-form-urlencoded",
            Bytes::from_static(b"name=%D0%90&email=a%40b.c"),
        )
        .await;
        let json = read(
            "application/json; charset=utf-8",
            Bytes::from_static(r#"{"name":"А","email":"a@b.c"}"#.as_bytes()),
        )
        .await;
        let multipart_body = "--XX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nА\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.c\r\n\
             --XX\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\r\n%PDF\r\n--XX--\r\n";
        let multipart = read(
            "multipart/form-data; boundary=XX",
            Bytes::from(multipart_body.to_owned()),
        )
        .await;
        let expected = pairs(&[("name", "А"), ("email", "a@b.c")]);
        assert_eq!(urlencoded.expect("urlencoded"), expected);
        assert_eq!(multipart.expect("multipart"), expected);
        let mut json = json.expect("json");
        json.sort();
        let mut sorted = expected.clone();
        sorted.sort();
        assert_eq!(json, sorted);
        assert_eq!(
            read("text/plain", Bytes::new()).await,
            Err(BodyError::Unsupported)
        );
        assert!(matches!(
            read("application/json", Bytes::from_static(b"[1]")).await,
            Err(BodyError::Malformed(_))
        ));
        assert!(matches!(
            read("multipart/form-data", Bytes::new()).await,
            Err(BodyError::Malformed(_))
        ));
    }
}
