//! RFC 4475's torture messages (`tests/rfc4475/`, whose README says where the
//! bytes come from) through the SIP reader the listeners use: every valid message
//! is read, every invalid one whose fault lies in what call tracking reads is
//! refused, and nothing panics.

use ringside_ingest::sip::{Dropped, interpret};
use ringside_ingest::tracker::Signal;

/// The messages of one part of the RFC, by name, in name order.
fn messages(part: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rfc4475")
        .join(part);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .map(|p| {
            let name = p.file_stem().unwrap_or_default().to_string_lossy();
            (name.into_owned(), std::fs::read(&p).expect("a message"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_valid_message_is_read() {
    let valid = messages("valid");
    assert_eq!(valid.len(), 13, "RFC 4475 3.1.1 has thirteen");
    let refused: Vec<String> = (valid.iter())
        .filter_map(|(name, bytes)| match interpret(bytes) {
            Err(d) if d.is_error() => Some(format!("{name}: {}", d.reason())),
            _ => None,
        })
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn what_tracking_needs_is_read_from_the_valid_invites() {
    let read = |name: &str| {
        let (_, bytes) = (messages("valid").into_iter())
            .find(|(n, _)| n == name)
            .expect("the message");
        interpret(&bytes)
    };
    // Escapes in user parts mean their characters.
    let Ok(Signal::Invite { caller, callee, .. }) = read("esc01") else {
        panic!("esc01 is an initial INVITE")
    };
    assert_eq!(
        (caller.as_str(), callee.as_str()),
        ("I have spaces", "user")
    );
    // An answer with a reason phrase in UTF-8 and none at all.
    let Ok(Signal::Final { status, .. }) = read("unreason") else {
        panic!("unreason is a final answer")
    };
    assert_eq!(status, 200);
    assert_eq!(
        read("noreason"),
        Err(Dropped::Irrelevant),
        "a 100 is read, not followed"
    );
    // The unusual method, the escapes that are no escapes, the semicolon in a user
    // part: read, and none of them a call.
    for name in ["intmeth", "esc02", "semiuri"] {
        assert_eq!(read(name), Err(Dropped::Irrelevant), "{name}");
    }
    // A To with a tag is a request inside a dialog, not a new call.
    assert_eq!(read("wsinv"), Err(Dropped::Irrelevant));
}

#[test]
fn every_invalid_message_is_refused_where_tracking_reads() {
    let invalid = messages("invalid");
    assert_eq!(invalid.len(), 19, "RFC 4475 3.1.2 has nineteen");
    // Their faults are in what tracking never reads: a Date's zone (the PBX decides
    // whether to serve that INVITE), a REGISTER's Contact.
    let unread = ["baddate", "regbadct"];
    // A length past the body, and `baddn`, whose header section never ends (its
    // fixture has no blank line): the message did not all come.
    let truncated = ["clerr", "baddn"];
    let wrong: Vec<String> = (invalid.iter())
        .filter(|(name, _)| !unread.contains(&name.as_str()))
        .filter_map(|(name, bytes)| {
            let expected = match truncated.contains(&name.as_str()) {
                true => Dropped::Truncated,
                false => Dropped::Unparseable,
            };
            let got = interpret(bytes);
            (got != Err(expected)).then(|| format!("{name}: {got:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}

#[test]
fn the_rest_of_the_rfc_never_panics_and_refuses_what_is_broken() {
    for part in ["transaction", "application", "backcompat"] {
        for (name, bytes) in messages(part) {
            let got = interpret(&bytes);
            let broken = ["insuf", "mcl01", "multi01"].contains(&name.as_str());
            assert!(
                !broken || got.clone().is_err_and(Dropped::is_error),
                "{part}/{name}: {got:?}"
            );
        }
    }
}
