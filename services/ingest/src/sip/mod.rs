//! From bytes to a tracker [`Signal`]: normalize the message's shape
//! ([`normalize`]), read and check what call tracking needs ([`read`]), and keep
//! only that. Anything that fails is a [`Dropped`] reason (a metric label); the
//! message itself is never logged — it carries phone numbers.
//!
//! The reader is the project's own: rsip, tried first, refused three of RFC 4475's
//! thirteen valid messages (an unusual method token, escapes in a display name, a
//! semicolon in a Request-URI's user part — the last is how numbers carry `;npdi`
//! or `;isub`), and call tracking reads only the start line and nine headers.

pub mod framing;
pub mod normalize;
pub mod read;

use crate::tracker::Signal;
use normalize::Refusal;
use read::{Message, Start};

/// Longest Call-ID kept.
const MAX_CALL_ID: usize = 256;

/// Why a packet produced no signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Parsed fine, but not something call tracking follows (OPTIONS, REGISTER,
    /// re-INVITE, ACK, provisional responses, CRLF keep-alives…).
    Irrelevant,
    Empty,
    TooLarge,
    Truncated,
    NotText,
    Unparseable,
    MissingHeader,
}

impl Dropped {
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::Irrelevant => "irrelevant",
            Dropped::Empty => "empty",
            Dropped::TooLarge => "too_large",
            Dropped::Truncated => "truncated",
            Dropped::NotText => "not_text",
            Dropped::Unparseable => "unparseable",
            Dropped::MissingHeader => "missing_header",
        }
    }

    /// Whether this is malformed input (as opposed to a message we do not need).
    pub fn is_error(self) -> bool {
        self != Dropped::Irrelevant
    }
}

impl From<Refusal> for Dropped {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Empty => Dropped::Empty,
            Refusal::TooLarge => Dropped::TooLarge,
            Refusal::NoHeaderEnd => Dropped::Truncated,
            Refusal::NotText => Dropped::NotText,
        }
    }
}

/// Reads one SIP message and says what it means for call tracking.
pub fn interpret(bytes: &[u8]) -> Result<Signal, Dropped> {
    if normalize::is_keepalive(bytes) {
        return Err(Dropped::Irrelevant);
    }
    let normalized = normalize::normalize(bytes)?;
    let msg = Message::parse(&normalized)?;
    let call_id = msg.call_id()?;
    if call_id.len() > MAX_CALL_ID {
        return Err(Dropped::MissingHeader);
    }
    let call_id = call_id.to_owned();
    let branch = msg.branch()?.to_owned();
    match msg.start {
        Start::Request { method, uri } => match method {
            "INVITE" if party(&msg, "to").tag.is_none() => Ok(Signal::Invite {
                call_id,
                branch,
                caller: caller(&msg).unwrap_or_default(),
                callee: party(&msg, "to").user.unwrap_or_default(),
                target: user_of(uri).unwrap_or_default(),
                rings: false,
            }),
            "CANCEL" => Ok(Signal::Cancel { call_id }),
            "BYE" => Ok(Signal::Bye { call_id }),
            _ => Err(Dropped::Irrelevant),
        },
        Start::Response { status } => {
            if msg.cseq_method()? != "INVITE" {
                return Err(Dropped::Irrelevant);
            }
            if matches!(status, 180 | 183) {
                return Ok(Signal::Progress { call_id, branch });
            }
            if status < 200 {
                return Err(Dropped::Irrelevant);
            }
            let responder = party(&msg, "contact")
                .user
                .or_else(|| party(&msg, "to").user);
            Ok(Signal::Final {
                call_id,
                branch,
                status,
                responder,
            })
        }
    }
}

/// Who calls: P-Asserted-Identity, else Remote-Party-ID, else From.
fn caller(msg: &Message) -> Option<String> {
    ["p-asserted-identity", "remote-party-id", "from"]
        .iter()
        .find_map(|name| party(msg, name).user)
}

#[derive(Debug, Default)]
struct Party {
    user: Option<String>,
    tag: Option<String>,
}

/// The user part and tag of the first address in header `name` (none when it is
/// missing or not an address).
fn party(msg: &Message, name: &str) -> Party {
    let Some(value) = msg.header(name).map(first_element) else {
        return Party::default();
    };
    let Ok(address) = read::address(value) else {
        return Party::default();
    };
    Party {
        user: user_of(address.uri),
        tag: tag_of(address.params),
    }
}

/// The first element of a comma-separated header, ignoring commas in quotes or `<>`.
fn first_element(value: &str) -> &str {
    let (mut quoted, mut angled, mut escaped) = (false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' if !quoted && !angled => return value[..i].trim(),
            _ => {}
        }
    }
    value.trim()
}

/// The user part of a URI (`sip:user;npdi@host` → `user`), its escapes decoded
/// (`%2B7912…` → `+7912…`); none when the URI has no user.
fn user_of(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once(':')?;
    let user = rest.split_once('@')?.0;
    let user = user.split([';', ':']).next()?;
    (!user.is_empty()).then(|| unescape(user))
}

/// `%XX` escapes decoded, when they make text; else the user part as written.
fn unescape(user: &str) -> String {
    if !user.contains('%') {
        return user.to_owned();
    }
    let bytes = user.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(text) if !text.contains(char::is_control) => text,
        _ => user.to_owned(),
    }
}

/// The `tag` parameter among an address's parameters (`;tag=x;…`).
fn tag_of(params: &str) -> Option<String> {
    read::split_outside_quotes(params, ';')
        .skip(1)
        .find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("tag")
                .then(|| v.trim().to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:101@10.0.0.5:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n\
        From: \"Ivan\" <sip:+79123456789@trunk>;tag=a1\r\n\
        To: <sip:+74951234567@pbx>\r\n\
        Call-ID: call-1@trunk\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn an_initial_invite_is_a_call_attempt() {
        let signal = interpret(INVITE.as_bytes()).expect("signal");
        assert_eq!(
            signal,
            Signal::Invite {
                call_id: "call-1@trunk".into(),
                branch: "z9hG4bK-1".into(),
                caller: "+79123456789".into(),
                callee: "+74951234567".into(),
                target: "101".into(),
                rings: false,
            }
        );
    }

    #[test]
    fn numbers_with_parameters_and_escapes_in_the_user_part_read_as_numbers() {
        let msg = INVITE
            .replace("INVITE sip:101@", "INVITE sip:101;isub=5@")
            .replace(
                "<sip:+79123456789@trunk>",
                "<sip:%2B79123456789;npdi@trunk>",
            );
        let Ok(Signal::Invite { caller, target, .. }) = interpret(msg.as_bytes()) else {
            panic!("invite")
        };
        assert_eq!((caller.as_str(), target.as_str()), ("+79123456789", "101"));
    }

    #[test]
    fn a_branch_is_read_from_a_spaced_via_and_empty_parameters_are_refused() {
        let spaced = INVITE.replace(
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1",
            "Via: SIP / 2.0 / UDP 10.0.0.1:5060 ; branch = z9hG4bK-1",
        );
        let Ok(Signal::Invite { branch, .. }) = interpret(spaced.as_bytes()) else {
            panic!("invite")
        };
        assert_eq!(branch, "z9hG4bK-1");
        let empty = INVITE.replace(";branch=z9hG4bK-1", ";;,;,,");
        assert_eq!(interpret(empty.as_bytes()), Err(Dropped::Unparseable));
    }

    #[test]
    fn a_multibyte_character_where_the_via_protocol_ends_is_refused_not_panicked_on() {
        for via in [
            "SIP/2.0éUDP h",
            "SIP/2.0/€ h",
            "SIP/2.🦀 h",
            "SIP/2.0/UDP\th",
        ] {
            let msg = INVITE.replace("SIP/2.0/UDP 10.0.0.1:5060", via);
            let got = interpret(msg.as_bytes());
            assert!(via.contains('\t') == got.is_ok(), "{via}: {got:?}");
        }
        let tabbed = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1\tINVITE");
        assert!(interpret(tabbed.as_bytes()).is_ok(), "a tab in CSeq");
    }

    #[test]
    fn p_asserted_identity_wins_over_from() {
        let msg = INVITE.replace(
            "CSeq",
            "P-Asserted-Identity: <sip:+79990001122@carrier>\r\nCSeq",
        );
        let Ok(Signal::Invite { caller, .. }) = interpret(msg.as_bytes()) else {
            panic!("invite")
        };
        assert_eq!(caller, "+79990001122");
    }

    #[test]
    fn compact_bare_lf_and_tel_forms_read_the_same() {
        let msg = "INVITE tel:101 SIP/2.0\n\
            v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2\n\
            f : <tel:+7-912-345-67-89>;tag=x\n\
            t: <sip:101@pbx>\n\
            i: call-2\n\
            CSeq: 1\n INVITE\n\
            l: 0\n\n";
        let Ok(Signal::Invite {
            call_id,
            caller,
            target,
            ..
        }) = interpret(msg.as_bytes())
        else {
            panic!("invite from a compact, folded, LF-only message")
        };
        assert_eq!(
            (call_id.as_str(), caller.as_str(), target.as_str()),
            ("call-2", "+79123456789", "101")
        );
    }

    #[test]
    fn final_responses_to_invite_are_signals_and_the_rest_is_irrelevant() {
        let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:101@x>;tag=2\r\nContact: <sip:101@10.0.0.5>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        assert_eq!(
            interpret(ok.as_bytes()),
            Ok(Signal::Final {
                call_id: "c".into(),
                branch: "z9hG4bK-1".into(),
                status: 200,
                responder: Some("101".into())
            })
        );
        let ringing = ok.replace("200 OK", "180 Ringing");
        assert_eq!(
            interpret(ringing.as_bytes()),
            Ok(Signal::Progress {
                call_id: "c".into(),
                branch: "z9hG4bK-1".into()
            }),
            "the callee side rings"
        );
        let trying = ok.replace("200 OK", "100 Trying");
        assert_eq!(interpret(trying.as_bytes()), Err(Dropped::Irrelevant));
        let options = "OPTIONS sip:101@x SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=b\r\nFrom: <sip:scan@x>;tag=1\r\nTo: <sip:101@x>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert_eq!(interpret(options.as_bytes()), Err(Dropped::Irrelevant));
        let reinvite = INVITE.replace(
            "To: <sip:+74951234567@pbx>",
            "To: <sip:+74951234567@pbx>;tag=zz",
        );
        assert_eq!(interpret(reinvite.as_bytes()), Err(Dropped::Irrelevant));
    }

    #[test]
    fn malformed_messages_are_dropped_with_a_reason() {
        assert_eq!(interpret(b"\r\n\r\n"), Err(Dropped::Irrelevant));
        assert_eq!(interpret(&INVITE.as_bytes()[..40]), Err(Dropped::Truncated));
        assert_eq!(
            interpret(b"\x00\x01\x02garbage\r\n\r\n"),
            Err(Dropped::Unparseable)
        );
        let no_call_id = INVITE.replace("Call-ID: call-1@trunk\r\n", "");
        assert_eq!(
            interpret(no_call_id.as_bytes()),
            Err(Dropped::MissingHeader)
        );
    }
}
