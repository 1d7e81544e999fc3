//! Domain types of the contacts service. Identities and their validation come from
//! `ringside-identity`; what is specific to contacts (lead statuses, tags, custom fields)
//! is here.

pub use ringside_identity::*;

/// A lead's place in qualification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadStatus {
    New,
    Working,
    Qualified,
    Disqualified,
}

impl LeadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Working => "working",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Disqualified => "disqualified",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        [
            LeadStatus::New,
            LeadStatus::Working,
            LeadStatus::Qualified,
            LeadStatus::Disqualified,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// new → working → qualified / disqualified; a disqualified lead may be worked
    /// again, a qualified one may go back to working. Staying put is not a change.
    pub fn can_move_to(self, to: LeadStatus) -> bool {
        use LeadStatus::*;
        matches!(
            (self, to),
            (New, Working | Qualified | Disqualified)
                | (Working, Qualified | Disqualified)
                | (Qualified, Working | Disqualified)
                | (Disqualified, Working)
        )
    }
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
    fields: &std::collections::HashMap<String, String>,
) -> Result<std::collections::BTreeMap<String, String>, Invalid> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_status_moves_forward_only_where_allowed() {
        use LeadStatus::*;
        assert!(New.can_move_to(Working));
        assert!(Working.can_move_to(Qualified));
        assert!(Disqualified.can_move_to(Working));
        assert!(!Disqualified.can_move_to(Qualified));
        assert!(!Working.can_move_to(New));
        assert!(!New.can_move_to(New));
    }

    #[test]
    fn tags_are_normalized_and_deduplicated() {
        let tags = parse_tags(&["VIP".into(), " vip ".into(), "b2b".into()]).expect("valid");
        assert_eq!(tags, vec!["vip", "b2b"]);
        assert!(parse_tags(&["  ".into()]).is_err());
    }
}
