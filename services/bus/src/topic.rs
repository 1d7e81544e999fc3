//! AMQP topic matching, so the local bus routes exactly as RabbitMQ does.

/// Whether `routing_key` matches `pattern`: words split on `.`, `*` matches exactly
/// one word, `#` matches zero or more.
pub fn topic_matches(pattern: &str, routing_key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = routing_key.split('.').collect();
    matches_from(&pattern, &key)
}

fn matches_from(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| matches_from(rest, &key[skip..])),
        Some((word, rest)) => match key.split_first() {
            Some((k, key_rest)) => (*word == "*" || word == k) && matches_from(rest, key_rest),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn words_stars_and_hashes_match_like_rabbitmq() {
        assert!(topic_matches("contact.created", "contact.created"));
        assert!(!topic_matches("contact.created", "contact.updated"));
        assert!(topic_matches("contact.*", "contact.merged"));
        assert!(!topic_matches("contact.*", "contact.merged.again"));
        assert!(topic_matches("#", "lead.status_changed"));
        assert!(topic_matches("lead.#", "lead"));
        assert!(topic_matches("*.created", "lead.created"));
        assert!(!topic_matches("*.created", "created"));
        assert!(topic_matches("call.#.ended", "call.x.y.ended"));
    }
}
