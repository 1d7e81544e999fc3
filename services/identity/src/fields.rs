//! Field validation shared by every service's requests: ids, tags, custom fields and
//! money (an ISO 4217 currency and a non-negative amount in minor units).

use std::collections::{BTreeMap, HashMap};

use crate::{Invalid, MAX_ITEMS, optional_text, required_text};

/// Ids are UUIDs; anything much longer is not an id.
pub const MAX_ID: usize = 64;

/// A required id.
pub fn id(field: &str, value: &str) -> Result<String, Invalid> {
    match optional_id(field, value)? {
        Some(id) => Ok(id),
        None => Err(Invalid::new(field, "must not be empty")),
    }
}

/// An optional id: empty is `None`.
pub fn optional_id(field: &str, value: &str) -> Result<Option<String>, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > MAX_ID || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Invalid::new(field, "not an id"));
    }
    Ok(Some(value.to_owned()))
}

/// Most extensions one person answers.
pub const MAX_EXTENSIONS: usize = 20;

/// SIP extensions (`101`, `*55`, `+74951234567`): trimmed, unique, at most
/// [`MAX_EXTENSIONS`], each up to 32 digits, letters and `*#+`.
pub fn extensions(field: &str, raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > MAX_EXTENSIONS {
        return Err(Invalid::new(field, format!("more than {MAX_EXTENSIONS}")));
    }
    let mut out: Vec<String> = Vec::new();
    for ext in raw.iter().map(|e| e.trim()) {
        let ok = !ext.is_empty()
            && ext.len() <= 32
            && ext
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "*#+".contains(c));
        if !ok {
            return Err(Invalid::new(field, format!("{ext:?} is not an extension")));
        }
        if !out.iter().any(|e| e == ext) {
            out.push(ext.to_owned());
        }
    }
    Ok(out)
}

/// A Telegram chat id (a number, negative for groups), or empty.
pub fn telegram_chat_id(field: &str, raw: &str) -> Result<String, Invalid> {
    let chat = optional_text(field, raw)?;
    if !chat.is_empty() && chat.parse::<i64>().is_err() {
        return Err(Invalid::new(field, "a numeric chat id"));
    }
    Ok(chat)
}

/// Validates tags: trimmed, non-empty, lower-cased, unique, bounded.
pub fn parse_tags(tags: &[String]) -> Result<Vec<String>, Invalid> {
    if tags.len() > MAX_ITEMS {
        return Err(Invalid::new("tags", format!("more than {MAX_ITEMS}")));
    }
    let mut out = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = required_text("tags", tag)?.to_lowercase();
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// Validates custom fields: bounded keys and values.
pub fn parse_custom_fields(
    fields: &HashMap<String, String>,
) -> Result<BTreeMap<String, String>, Invalid> {
    if fields.len() > MAX_ITEMS {
        return Err(Invalid::new(
            "custom_fields",
            format!("more than {MAX_ITEMS}"),
        ));
    }
    fields
        .iter()
        .map(|(k, v)| {
            Ok((
                required_text("custom_fields", k)?,
                optional_text("custom_fields", v)?,
            ))
        })
        .collect()
}

/// The active ISO 4217 currency codes (funds and precious metals excluded).
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// An ISO 4217 currency code, upper-cased ("eur" is EUR).
pub fn currency(field: &str, value: &str) -> Result<String, Invalid> {
    let code = value.trim().to_ascii_uppercase();
    match CURRENCIES.binary_search(&code.as_str()) {
        Ok(_) => Ok(code),
        Err(_) if code.is_empty() => Err(Invalid::new(field, "must not be empty")),
        Err(_) => Err(Invalid::new(field, "not an ISO 4217 currency code")),
    }
}

/// An amount in minor units: never negative.
pub fn amount(field: &str, value: i64) -> Result<i64, Invalid> {
    match value {
        v if v < 0 => Err(Invalid::new(field, "must not be negative")),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalized_and_deduplicated() {
        let tags = parse_tags(&["VIP".into(), " vip ".into(), "b2b".into()]).expect("valid");
        assert_eq!(tags, vec!["vip", "b2b"]);
        assert!(parse_tags(&["  ".into()]).is_err());
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert_eq!(currency("c", " eur").unwrap(), "EUR");
        assert_eq!(currency("c", "RUB").unwrap(), "RUB");
        assert!(currency("c", "EURO").is_err());
        assert!(currency("c", "XXX").is_err());
        assert!(currency("c", "").is_err());
        assert_eq!(amount("a", 0).unwrap(), 0);
        assert!(amount("a", -1).is_err());
    }

    #[test]
    fn ids_are_bounded_and_have_no_spaces() {
        assert_eq!(optional_id("id", "  ").unwrap(), None);
        assert!(id("id", "").is_err());
        assert!(id("id", "a b").is_err());
        assert!(id("id", &"x".repeat(65)).is_err());
        assert_eq!(id("id", " abc ").unwrap(), "abc");
    }
}
