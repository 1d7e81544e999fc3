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

pub use ringside_identity::fields::{parse_custom_fields, parse_tags};

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
}
