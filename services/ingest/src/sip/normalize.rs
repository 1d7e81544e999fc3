//! Puts a SIP message in the shape the reader reads: CRLF line endings, unfolded headers,
//! full header names, no space before the colon, `tel:` URIs rewritten as SIP URIs and
//! IPv6 hosts in the request line replaced (we never need the host). The body is kept
//! as it is.

/// Largest header section accepted, in bytes.
pub const MAX_HEADERS: usize = 16 * 1024;

/// Why a message could not be normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    TooLarge,
    NoHeaderEnd,
    NotText,
}

const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("f", "From"),
    ("t", "To"),
    ("v", "Via"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("e", "Content-Encoding"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
];

/// Index just past the blank line ending the headers, and where the headers end.
pub fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = find(bytes, b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = find(bytes, b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether `bytes` is only CRLF keep-alive padding.
pub fn is_keepalive(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| matches!(b, b'\r' | b'\n'))
}

/// The normalized message.
pub fn normalize(bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(Refusal::Empty)?;
    let bytes = &bytes[start..];
    let (end, body_start) = header_end(bytes).ok_or(if bytes.len() > MAX_HEADERS {
        Refusal::TooLarge
    } else {
        Refusal::NoHeaderEnd
    })?;
    if end > MAX_HEADERS {
        return Err(Refusal::TooLarge);
    }
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| Refusal::NotText)?;
    let mut lines = unfold(head);
    let first = lines.first_mut().ok_or(Refusal::Empty)?;
    *first = strip_ipv6_host(&rewrite_tel(first));
    let mut out = String::with_capacity(end + 64);
    for (i, line) in lines.iter().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            out.push_str(&header_line(line));
        }
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&bytes[body_start..]);
    Ok(out)
}

/// Lines of the header section with folded continuation lines joined.
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim_start());
            continue;
        }
        if !line.is_empty() {
            lines.push(line.to_owned());
        }
    }
    lines
}

fn header_line(line: &str) -> String {
    let Some((name, value)) = line.split_once(':') else {
        return line.to_owned();
    };
    let name = name.trim();
    let full = COMPACT
        .iter()
        .find(|(short, _)| name.eq_ignore_ascii_case(short))
        .map_or(name, |(_, full)| full);
    let value = value.trim();
    let value = if uri_header(full) {
        rewrite_tel(value)
    } else {
        value.to_owned()
    };
    format!("{full}: {value}")
}

fn uri_header(name: &str) -> bool {
    [
        "from",
        "to",
        "contact",
        "p-asserted-identity",
        "remote-party-id",
        "p-preferred-identity",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// `tel:+7 912-345;phone-context=…` → `sip:+7912345@tel.invalid`.
fn rewrite_tel(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(pos) = find_ci(rest, "tel:") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 4..];
        let number_len = after
            .find(|c: char| !(c.is_ascii_digit() || "+-.()".contains(c)))
            .unwrap_or(after.len());
        let number: String = after[..number_len]
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let params_len = after[number_len..]
            .find(['>', ',', ' '])
            .unwrap_or(after.len() - number_len);
        out.push_str(&format!("sip:{number}@tel.invalid"));
        rest = &after[number_len + params_len..];
    }
    out.push_str(rest);
    out
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// `INVITE sip:101@[2001:db8::1]:5060 SIP/2.0` → `INVITE sip:101@ipv6.invalid:5060 SIP/2.0`.
fn strip_ipv6_host(line: &str) -> String {
    match (line.find('['), line.find(']')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}ipv6.invalid{}", &line[..open], &line[close + 1..])
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes()).expect("normalizes")).expect("utf-8")
    }

    #[test]
    fn bare_lf_folding_compact_names_and_spaced_colons_are_fixed() {
        let out = norm(
            "INVITE sip:101@pbx SIP/2.0\ni : abc\nf: <sip:1@x>;tag=1\nSubject: a\n  folded\n\nbody",
        );
        assert_eq!(
            out,
            "INVITE sip:101@pbx SIP/2.0\r\nCall-ID: abc\r\nFrom: <sip:1@x>;tag=1\r\nSubject: a folded\r\n\r\nbody"
        );
    }

    #[test]
    fn tel_uris_become_sip_uris() {
        let out = norm(
            "INVITE tel:+7-912-345-67-89 SIP/2.0\r\nFrom: <tel:+79123456789;phone-context=x>;tag=9\r\n\r\n",
        );
        assert!(
            out.starts_with("INVITE sip:+79123456789@tel.invalid SIP/2.0\r\n"),
            "{out}"
        );
        assert!(
            out.contains("From: <sip:+79123456789@tel.invalid>;tag=9"),
            "{out}"
        );
    }

    #[test]
    fn ipv6_request_hosts_are_replaced() {
        let out = norm("INVITE sip:101@[2001:db8::1]:5060 SIP/2.0\r\nCall-ID: a\r\n\r\n");
        assert!(
            out.starts_with("INVITE sip:101@ipv6.invalid:5060 SIP/2.0"),
            "{out}"
        );
    }

    #[test]
    fn hostile_input_is_refused_not_panicked_on() {
        assert_eq!(normalize(b"\r\n\r\n"), Err(Refusal::Empty));
        assert_eq!(
            normalize(b"INVITE sip:1@x SIP/2.0\r\nCall-ID: a"),
            Err(Refusal::NoHeaderEnd)
        );
        let huge = format!(
            "INVITE sip:1@x SIP/2.0\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEADERS)
        );
        assert_eq!(normalize(huge.as_bytes()), Err(Refusal::TooLarge));
        assert_eq!(
            normalize(b"INVITE \xff\xfe SIP/2.0\r\n\r\n"),
            Err(Refusal::NotText)
        );
        assert!(is_keepalive(b"\r\n\r\n"));
    }
}
