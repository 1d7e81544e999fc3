//! Per-form configuration, read from a JSON file (`RINGSIDE_FORMS`): which input holds
//! which field, where posts may come from, where the browser goes afterwards, the
//! honeypot, and the limits.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Largest body a form accepts unless configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Posts per client address and minute unless configured otherwise.
pub const DEFAULT_PER_IP_PER_MINUTE: u32 = 10;

/// Every form, by the name in its URL (`POST /forms/{name}`).
pub type Forms = BTreeMap<String, FormConfig>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    /// Which input holds each of the fields the CRM knows (default: the same name).
    #[serde(default)]
    pub fields: FieldMap,
    /// Custom fields kept on the submission: key → input name.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
    /// Fields that must not be empty (CRM field names or custom keys). A phone or an
    /// email is always required: without one, nobody can answer.
    #[serde(default)]
    pub required: Vec<String>,
    /// Origins (`https://shop.example`) a browser may post from; empty: any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Where a browser goes after a successful post.
    pub redirect: Option<String>,
    /// An input real people leave empty (hidden by the page); a post that fills it is
    /// answered as a success and stored nowhere.
    pub honeypot: Option<String>,
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    #[serde(default = "default_rate")]
    pub per_ip_per_minute: u32,
}

/// Input names of the fields the CRM knows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub comment: Option<String>,
}

/// The CRM fields a form maps, in order.
pub const CRM_FIELDS: [&str; 5] = ["name", "phone", "email", "company", "comment"];

impl FieldMap {
    /// The input that holds CRM field `field`.
    pub fn input<'a>(&'a self, field: &'a str) -> &'a str {
        let configured = match field {
            "name" => &self.name,
            "phone" => &self.phone,
            "email" => &self.email,
            "company" => &self.company,
            "comment" => &self.comment,
            _ => &None,
        };
        configured.as_deref().unwrap_or(field)
    }
}

impl FormConfig {
    /// This form as the admin's channel page shows it, served at `/forms/{key}`.
    pub fn describe(&self, key: &str) -> ringside_proto::ingest::v1::Form {
        use ringside_proto::ingest::v1::FormField;
        let known = CRM_FIELDS.iter().map(|field| FormField {
            field: (*field).to_owned(),
            input: self.fields.input(field).to_owned(),
            custom: false,
        });
        let custom = self.custom_fields.iter().map(|(key, input)| FormField {
            field: key.clone(),
            input: input.clone(),
            custom: true,
        });
        ringside_proto::ingest::v1::Form {
            key: key.to_owned(),
            path: format!("/forms/{key}"),
            fields: known.chain(custom).collect(),
            required: self.required.clone(),
            allowed_origins: self.allowed_origins.clone(),
            redirect: self.redirect.clone().unwrap_or_default(),
            honeypot: self.honeypot.clone().unwrap_or_default(),
            per_ip_per_minute: self.per_ip_per_minute,
            max_body_bytes: self.max_body_bytes as u64,
        }
    }
}

fn default_body_limit() -> usize {
    DEFAULT_BODY_LIMIT
}

fn default_rate() -> u32 {
    DEFAULT_PER_IP_PER_MINUTE
}

impl FormConfig {
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.is_empty() || self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// Reads and checks the forms file.
pub fn load(path: &Path) -> Result<Forms, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &str) -> Result<Forms, String> {
    let forms: Forms = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for (name, form) in &forms {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(format!("form name {name:?}: use letters, digits, - and _"));
        }
        if form.per_ip_per_minute == 0 {
            return Err(format!("form {name}: per_ip_per_minute must be at least 1"));
        }
        for field in &form.required {
            if !CRM_FIELDS.contains(&field.as_str()) && !form.custom_fields.contains_key(field) {
                return Err(format!(
                    "form {name}: required field {field:?} is not mapped"
                ));
            }
        }
    }
    Ok(forms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_mistakes_are_refused() {
        let forms = parse(r#"{"contact": {"fields": {"comment": "message"}}}"#).expect("parse");
        let f = &forms["contact"];
        assert_eq!(f.fields.input("comment"), "message");
        assert_eq!(f.fields.input("email"), "email");
        assert_eq!(f.max_body_bytes, DEFAULT_BODY_LIMIT);
        assert!(f.allows_origin("https://anywhere.example"));
        assert!(
            parse(r#"{"contact": {"fieldz": {}}}"#).is_err(),
            "unknown key"
        );
        assert!(parse(r#"{"a b": {}}"#).is_err(), "bad name");
        assert!(
            parse(r#"{"c": {"required": ["budget"]}}"#).is_err(),
            "required but unmapped"
        );
    }
}
