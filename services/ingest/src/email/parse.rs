//! Reading one email: sender, recipients, subject, text (HTML reduced to text), the
//! attachments' metadata, the ids that thread it (Message-ID, In-Reply-To,
//! References), and whether a robot sent it — an auto-reply, a bounce or bulk mail
//! (RFC 3834's `Auto-Submitted`, `Precedence: bulk/list/junk`, `List-Id`, an empty
//! Return-Path, a delivery report) — which is recorded but makes no lead; and
//! whether the receiving server found the sender unproven (the topmost
//! `Authentication-Results`, RFC 8601, the one that server wrote above whatever the
//! sender put lower: DMARC failed, or no SPF or DKIM pass for the From's own domain
//! while one failed or passed for another domain), so nothing answers a From that may
//! be forged.
//!
//! What is kept of a message is capped, so one message always makes an event of a
//! few hundred kilobytes at most (the broker's limit is far above, and a mailbox is
//! never stalled retrying one it cannot carry): the text at [`MAX_TEXT`] characters
//! (the rest replaced by [`CUT`]; the whole message stays in the mailbox), the subject
//! and names, [`MAX_RECIPIENTS`] recipients, [`MAX_ATTACHMENTS`] attachments' details,
//! and [`MAX_REFERENCES`] thread ids (the thread's root and the latest), each id
//! bounded too.

use mail_parser::{MessageParser, MimeHeaders};
use ringside_proto::activities::v1 as apb;
use sha2::{Digest, Sha256};

/// Most characters of a message's text kept.
pub const MAX_TEXT: usize = 100_000;
/// What stands for the text past [`MAX_TEXT`].
pub const CUT: &str = "\n\n[…] (the rest of this message is in the mailbox)";
/// Most characters of a subject or a sender's name kept.
const MAX_LINE: usize = 500;
/// Most recipients kept.
pub const MAX_RECIPIENTS: usize = 50;
/// Most attachments described.
pub const MAX_ATTACHMENTS: usize = 50;
/// Most thread ids kept: the root, and the latest.
pub const MAX_REFERENCES: usize = 20;
/// Longest message id (bytes) or file name (characters) kept.
const MAX_ID: usize = 500;
/// Longest address kept (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;

/// An email as the timeline needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mail {
    /// Without angle brackets; a digest of the message when it has none.
    pub message_id: String,
    /// Lower-cased.
    pub from: String,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<apb::Attachment>,
    /// The ids this message answers, oldest first (References, then In-Reply-To).
    pub references: Vec<String>,
    /// Unix seconds, from the Date header.
    pub date: Option<i64>,
    /// Why a robot sent it, if one did.
    pub automatic: Option<&'static str>,
    /// SPF failed and no DKIM signature passed, as the receiving server said.
    pub sender_unverified: bool,
}

impl Mail {
    /// The thread's key: the first message of the thread, as far as this one knows.
    pub fn thread_root(&self) -> &str {
        self.references.first().unwrap_or(&self.message_id)
    }
}

/// Why a message was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Oversized,
    Malformed,
    NoSender,
}

impl Rejected {
    /// A short reason (an IMAP keyword and a metric label).
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::Oversized => "oversized",
            Rejected::Malformed => "malformed",
            Rejected::NoSender => "no-sender",
        }
    }
}

/// Reads `raw` (at most `max_bytes`).
pub fn parse(raw: &[u8], max_bytes: usize) -> Result<Mail, Rejected> {
    if raw.len() > max_bytes {
        return Err(Rejected::Oversized);
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(Rejected::Malformed)?;
    if message.headers().is_empty() {
        return Err(Rejected::Malformed);
    }
    let from = message
        .from()
        .and_then(|a| a.first())
        .ok_or(Rejected::NoSender)?;
    let address = from
        .address()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| a.contains('@') && !a.contains(char::is_whitespace))
        .ok_or(Rejected::NoSender)?;
    let message_id = match message.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => format!(
            "sha256-{}@ringside",
            crate::inbound::hex(&Sha256::digest(raw)[..16])
        ),
    };
    let mut references: Vec<String> = ids(message.references());
    for id in ids(message.in_reply_to()) {
        if !references.contains(&id) {
            references.push(id);
        }
    }
    references.retain(|r| r != &message_id);
    let references = root_and_latest(references);
    let automatic = automatic(&message).or_else(|| robot_sender(&address));
    // The topmost: `header_raw` would give the lowest, which the sender may have
    // written.
    let sender_unverified = (message.headers_raw())
        .find(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
        .is_some_and(|(_, results)| unverified(results, &address));
    // An id too long to keep whole is replaced by a digest, not cut: two cut ids
    // could be one.
    let message_id = match message_id.len() > MAX_ID {
        true => format!(
            "sha256-{}@ringside",
            crate::inbound::hex(&Sha256::digest(message_id.as_bytes())[..16])
        ),
        false => message_id,
    };
    Ok(Mail {
        message_id,
        from: address,
        from_name: cut(from.name().unwrap_or("").trim(), MAX_LINE, "…"),
        to: message
            .to()
            .map(|to| {
                to.iter()
                    .filter_map(|a| a.address())
                    .filter(|a| a.len() <= MAX_ADDRESS)
                    .map(str::to_lowercase)
                    .take(MAX_RECIPIENTS)
                    .collect()
            })
            .unwrap_or_default(),
        subject: cut(message.subject().unwrap_or("").trim(), MAX_LINE, "…"),
        text: message
            .body_text(0)
            .map(|t| cut(t.trim(), MAX_TEXT, CUT))
            .unwrap_or_default(),
        attachments: (message.attachments().take(MAX_ATTACHMENTS))
            .map(attachment)
            .collect(),
        references,
        date: message.date().map(|d| d.to_timestamp()),
        automatic,
        sender_unverified,
    })
}

/// Whether an `Authentication-Results` value leaves `from` unproven: DMARC failed;
/// or, DMARC unsaid, neither SPF (`smtp.mailfrom`) nor DKIM (`header.d`) passed for
/// the From's own domain (or one within it, or a parent) while one of them failed, or passed
/// for another domain only (a forger's own).
fn unverified(results: &str, from: &str) -> bool {
    let results = results.to_ascii_lowercase();
    let domain = from.rsplit('@').next().unwrap_or_default();
    // Relaxed alignment: one domain is the other, or within it.
    let aligned = |d: &str| {
        !d.is_empty()
            && (domain == d
                || domain.ends_with(&format!(".{d}"))
                || d.ends_with(&format!(".{domain}")))
    };
    // Each result: its method's verdict and the domain it speaks for.
    let mut verdicts = Vec::new();
    for result in results.split(';').skip(1) {
        let mut words = result.split_whitespace();
        let Some((method, verdict)) = words.next().and_then(|w| w.split_once('=')) else {
            continue;
        };
        let key = match method {
            "spf" => "smtp.mailfrom=",
            "dkim" => "header.d=",
            _ => "",
        };
        let for_domain = (words.filter_map(|w| w.strip_prefix(key)))
            .map(|v| {
                v.rsplit('@')
                    .next()
                    .unwrap_or(v)
                    .trim_end_matches([')', ','])
            })
            .next()
            .unwrap_or_default();
        verdicts.push((method.to_owned(), verdict.to_owned(), aligned(for_domain)));
    }
    let said = |method: &str, verdict: &str| {
        (verdicts.iter()).any(|(m, v, _)| m == method && v == verdict)
    };
    if said("dmarc", "fail") {
        return true;
    }
    if said("dmarc", "pass") {
        return false;
    }
    let passes = |aligned_too: bool| {
        (verdicts.iter())
            .any(|(m, v, a)| (m == "spf" || m == "dkim") && v == "pass" && *a == aligned_too)
    };
    let failed = (verdicts.iter())
        .any(|(m, v, _)| (m == "spf" || m == "dkim") && matches!(v.as_str(), "fail" | "softfail"));
    !passes(true) && (failed || passes(false))
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    value
        .as_text_list()
        .unwrap_or_default()
        .iter()
        .map(|id| id.trim())
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID)
        .map(str::to_owned)
        .collect()
}

/// At most [`MAX_REFERENCES`] ids: the thread's root (what threads it) and the
/// latest (what it answers).
fn root_and_latest(mut ids: Vec<String>) -> Vec<String> {
    if ids.len() > MAX_REFERENCES {
        let latest = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(latest);
    }
    ids
}

/// `text` up to `max` characters, `marker` standing for the rest.
fn cut(text: &str, max: usize, marker: &str) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}{marker}", &text[..at]),
        None => text.to_owned(),
    }
}

fn attachment(part: &mail_parser::MessagePart<'_>) -> apb::Attachment {
    let mime_type = part
        .content_type()
        .map(|c| match c.subtype() {
            Some(sub) => format!("{}/{sub}", c.ctype()),
            None => c.ctype().to_owned(),
        })
        .unwrap_or_default();
    apb::Attachment {
        kind: "file".into(),
        file_id: String::new(),
        file_name: cut(part.attachment_name().unwrap_or(""), MAX_ID, "…"),
        mime_type: cut(&mime_type, MAX_ID, ""),
        size: part.len() as i64,
    }
}

/// Why a robot sent this, if one did.
fn automatic(message: &mail_parser::Message<'_>) -> Option<&'static str> {
    let raw = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if raw("Auto-Submitted").is_some_and(|v| !v.is_empty() && !v.starts_with("no")) {
        return Some("auto-submitted");
    }
    // What autoresponders that predate RFC 3834 still send.
    if raw("X-Autoreply").is_some() || raw("X-Autorespond").is_some() {
        return Some("auto-submitted");
    }
    if raw("Precedence")
        .is_some_and(|v| matches!(v.as_str(), "bulk" | "list" | "junk" | "auto_reply"))
    {
        return Some("bulk");
    }
    if raw("List-Id").is_some() || raw("List-Unsubscribe").is_some() {
        return Some("list");
    }
    if raw("Return-Path").is_some_and(|v| v == "<>" || v.is_empty()) {
        return Some("bounce");
    }
    if message.content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    }) {
        return Some("report");
    }
    None
}

/// Mailboxes no person reads.
fn robot_sender(address: &str) -> Option<&'static str> {
    let local = address.split('@').next().unwrap_or("");
    matches!(
        local,
        "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "donotreply" | "do-not-reply"
    )
    .then_some("robot-sender")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn mail(headers: &str, body: &str) -> String {
        format!("{headers}\r\n\r\n{body}")
            .replace("\n", "\r\n")
            .replace("\r\r", "\r")
    }

    #[test]
    fn a_reply_in_html_with_an_attachment_is_read_with_its_thread() {
        let raw = mail(
            "From: \"Анна Клиент\" <Anna@Example.ORG>\nTo: sales@shop.example\nSubject: Re: Счёт\n\
             Message-ID: <r2@example.org>\nIn-Reply-To: <r1@shop.example>\n\
             References: <root@example.org> <r1@shop.example>\n\
             Date: Mon, 23 Nov 2026 10:00:00 +0300\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=b",
            "--b\nContent-Type: text/html; charset=utf-8\n\n<p>Оплатили <b>сегодня</b></p>\n\
             --b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"pay.pdf\"\n\
             Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n",
        );
        let m = parse(raw.as_bytes(), MAX).expect("parsed");
        assert_eq!(m.from, "anna@example.org");
        assert_eq!(m.from_name, "Анна Клиент");
        assert_eq!(m.message_id, "r2@example.org");
        assert_eq!(m.references, ["root@example.org", "r1@shop.example"]);
        assert_eq!(m.thread_root(), "root@example.org");
        assert!(
            m.text.contains("Оплатили") && m.text.contains("сегодня") && !m.text.contains("<b>"),
            "{}",
            m.text
        );
        assert_eq!(m.attachments[0].file_name, "pay.pdf");
        assert_eq!(m.attachments[0].mime_type, "application/pdf");
        assert_eq!(m.automatic, None);
    }

    #[test]
    fn a_sender_the_receiving_server_could_not_prove_is_marked() {
        let base = "From: boss@bank.example\nMessage-ID: <a@b>\nSubject: hi";
        for (results, unproven) in [
            (
                "mx.shop.example; spf=fail smtp.mailfrom=bank.example; dkim=none",
                true,
            ),
            (
                "mx.shop.example;\n spf=softfail (sender not allowed); dkim=fail header.d=x",
                true,
            ),
            (
                "mx.shop.example; spf=fail smtp.mailfrom=x; dkim=pass header.d=bank.example",
                false,
            ),
            (
                "mx.shop.example; spf=pass smtp.mailfrom=bank.example; dkim=none",
                false,
            ),
            (
                "mx.shop.example; spf=pass smtp.mailfrom=mail.bank.example",
                false,
            ),
            // A forger's own domain passes; the From's does not.
            (
                "mx.shop.example; spf=pass smtp.mailfrom=evil.example; dkim=none",
                true,
            ),
            (
                "mx.shop.example; spf=none; dkim=pass header.d=evil.example",
                true,
            ),
            (
                "mx.shop.example; dmarc=fail header.from=bank.example; spf=pass smtp.mailfrom=bank.example",
                true,
            ),
            (
                "mx.shop.example; dmarc=pass header.from=bank.example",
                false,
            ),
            ("mx.shop.example; none", false),
        ] {
            let raw = mail(
                &format!("Authentication-Results: {results}\n{base}"),
                "text",
            );
            let m = parse(raw.as_bytes(), MAX).expect("parsed");
            assert_eq!(m.sender_unverified, unproven, "{results}");
        }
        let raw = mail(base, "text");
        assert!(
            !parse(raw.as_bytes(), MAX)
                .expect("parsed")
                .sender_unverified
        );
        // The sender's own header, below the receiving server's, decides nothing.
        let forged = mail(
            &format!(
                "Authentication-Results: mx.shop.example; spf=fail smtp.mailfrom=bank.example; dkim=none\n\
                 {base}\nAuthentication-Results: mx.shop.example; spf=pass smtp.mailfrom=bank.example; dkim=pass header.d=bank.example"
            ),
            "text",
        );
        assert!(
            parse(forged.as_bytes(), MAX)
                .expect("parsed")
                .sender_unverified
        );
    }

    #[test]
    fn a_huge_message_is_kept_within_bounds() {
        let refs: Vec<String> = (0..500).map(|i| format!("<r{i}@example.org>")).collect();
        let to: Vec<String> = (0..200).map(|i| format!("u{i}@shop.example")).collect();
        let parts: String = (0..100)
            .map(|i| {
                format!(
                    "--b\nContent-Type: application/pdf\nContent-Disposition: attachment; \
                     filename=\"f{i}.pdf\"\n\nx\n"
                )
            })
            .collect();
        let raw = mail(
            &format!(
                "From: x@example.org\nTo: {}\nMessage-ID: <big@example.org>\nReferences: {}\n\
                 Subject: {}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
                to.join(", "),
                refs.join(" "),
                "с".repeat(2_000),
            ),
            &format!(
                "--b\nContent-Type: text/plain; charset=utf-8\n\n{}\n{parts}--b--\n",
                "ж".repeat(3_000_000)
            ),
        );
        let m = parse(raw.as_bytes(), 64 << 20).expect("parsed");
        assert_eq!(m.text.chars().count(), MAX_TEXT + CUT.chars().count());
        assert!(m.text.ends_with(CUT));
        assert_eq!(m.subject.chars().count(), MAX_LINE + 1);
        assert_eq!(m.to.len(), MAX_RECIPIENTS);
        assert_eq!(m.attachments.len(), MAX_ATTACHMENTS);
        assert_eq!(m.references.len(), MAX_REFERENCES);
        assert_eq!(m.thread_root(), "r0@example.org", "the root stays");
        assert_eq!(
            m.references.last().map(String::as_str),
            Some("r499@example.org")
        );
    }

    #[test]
    fn robots_are_recognised() {
        let base = "From: x@example.org\nMessage-ID: <a@b>\nSubject: hi";
        for (extra, why) in [
            ("Auto-Submitted: auto-replied", Some("auto-submitted")),
            ("Auto-Submitted: no", None),
            ("Precedence: bulk", Some("bulk")),
            ("List-Id: <news.example.org>", Some("list")),
            ("Return-Path: <>", Some("bounce")),
            ("X-Autoreply: yes", Some("auto-submitted")),
            ("List-Unsubscribe: <mailto:u@example.org>", Some("list")),
        ] {
            let raw = mail(&format!("{base}\n{extra}"), "text");
            assert_eq!(
                parse(raw.as_bytes(), MAX).expect("parsed").automatic,
                why,
                "{extra}"
            );
        }
    }

    #[test]
    fn what_cannot_be_read_is_rejected_with_a_reason() {
        let big = mail("From: x@example.org", &"a".repeat(2000));
        assert_eq!(parse(big.as_bytes(), 1000), Err(Rejected::Oversized));
        assert_eq!(
            parse(mail("Subject: nobody", "x").as_bytes(), MAX),
            Err(Rejected::NoSender)
        );
        assert_eq!(
            parse(mail("From: not an address", "x").as_bytes(), MAX),
            Err(Rejected::NoSender)
        );
        assert!(parse(b"\x00\x01\x02", MAX).is_err());
    }
}
