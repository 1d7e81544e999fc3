//! From bytes to a tracker [`Signal`]: normalize what rsip cannot read, parse with
//! rsip, and keep only what call tracking needs. Anything that fails is a
//! [`Dropped`] reason (a metric label); the message itself is never logged — it
//! carries phone numbers.

pub mod framing;
pub mod normalize;

use rsip::prelude::*;
use rsip::{Header, Method, SipMessage};

use crate::tracker::Signal;
use normalize::Refusal;

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
    // rsip's errors quote the message: map them to a reason, never print them.
    let msg = SipMessage::try_from(normalized.as_slice()).map_err(|_| Dropped::Unparseable)?;
    let call_id = header(&msg, "call-id").ok_or(Dropped::MissingHeader)?;
    if call_id.is_empty() || call_id.len() > MAX_CALL_ID {
        return Err(Dropped::MissingHeader);
    }
    let call_id = call_id.to_owned();
    let cseq = msg
        .cseq_header()
        .and_then(|c| c.typed())
        .map_err(|_| Dropped::MissingHeader)?;
    let branch = msg
        .via_header()
        .ok()
        .and_then(|v| v.typed().ok())
        .and_then(|v| v.branch().map(|b| b.value().to_owned()))
        .unwrap_or_default();
    match &msg {
        SipMessage::Request(req) => match req.method {
            Method::Invite if party(&msg, "to").tag.is_none() => Ok(Signal::Invite {
                call_id,
                branch,
                caller: caller(&msg).unwrap_or_default(),
                callee: party(&msg, "to").user.unwrap_or_default(),
                target: req
                    .uri
                    .user()
                    .map(str::to_owned)
                    .or_else(|| user_of(&req.uri.to_string()))
                    .unwrap_or_default(),
            }),
            Method::Cancel => Ok(Signal::Cancel { call_id }),
            Method::Bye => Ok(Signal::Bye { call_id }),
            _ => Err(Dropped::Irrelevant),
        },
        SipMessage::Response(resp) => {
            let status = resp.status_code.code();
            if cseq.method != Method::Invite || status < 200 {
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
fn caller(msg: &SipMessage) -> Option<String> {
    ["p-asserted-identity", "remote-party-id", "from"]
        .iter()
        .find_map(|name| party(msg, name).user)
}

/// The value of the first header called `name` (case-insensitive).
fn header<'a>(msg: &'a SipMessage, name: &str) -> Option<&'a str> {
    msg.headers().iter().find_map(|h| {
        let (n, v) = match h {
            Header::CallId(x) => ("call-id", x.value()),
            Header::From(x) => ("from", x.value()),
            Header::To(x) => ("to", x.value()),
            Header::Contact(x) => ("contact", x.value()),
            Header::Other(n, v) => (n.as_str(), v.as_str()),
            _ => return None,
        };
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[derive(Debug, Default)]
struct Party {
    user: Option<String>,
    tag: Option<String>,
}

/// The user part and tag of a name-addr header; rsip's typed parser first, a plain
/// string reading where it gives up (dots in the user part, quoted parameters…).
fn party(msg: &SipMessage, name: &str) -> Party {
    let Some(value) = header(msg, name).map(first_element) else {
        return Party::default();
    };
    match rsip::headers::From::new(value).typed() {
        Ok(typed) => Party {
            user: typed
                .uri
                .user()
                .map(str::to_owned)
                .or_else(|| user_of(value)),
            tag: typed.tag().map(|t| t.value().to_owned()),
        },
        Err(_) => Party {
            user: user_of(value),
            tag: tag_of(value),
        },
    }
}

/// The first element of a comma-separated header, ignoring commas in quotes or `<>`.
fn first_element(value: &str) -> &str {
    let (mut quoted, mut angled) = (false, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angled = true,
            '>' if !quoted => angled = false,
            ',' if !quoted && !angled => return value[..i].trim(),
            _ => {}
        }
    }
    value.trim()
}

/// The user part of the URI in `value` (`"A" <sip:user@host>;tag=x` or `sip:user@host`).
fn user_of(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(open), Some(close)) if close > open => &value[open + 1..close],
        _ => value.split(';').next()?.trim(),
    };
    let (_, rest) = uri.split_once(':')?;
    let user = rest.split_once('@')?.0;
    let user = user.split([';', ':']).next()?;
    (!user.is_empty()).then(|| user.to_owned())
}

fn tag_of(value: &str) -> Option<String> {
    let params = value.rfind('>').map_or(value, |i| &value[i..]);
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("tag").then(|| v.trim().to_owned())
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
            }
        );
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
        assert_eq!(interpret(ringing.as_bytes()), Err(Dropped::Irrelevant));
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
