//! Reads a normalized SIP message ([`super::normalize`]: CRLF lines, unfolded, full
//! header names) as far as call tracking needs it, and checks what it reads against
//! RFC 3261's grammar: the start line; the one Call-ID, CSeq, To and From; the top
//! Via; the Content-Length against the body that came. A message whose fault is in
//! any of these is refused; a fault in a header tracking never reads (a Date in the
//! wrong zone) is not looked for, since the PBX, not the listener, decides whether
//! to serve the message: a passive listener is not stricter than the PBX.
//!
//! RFC 4475's torture messages are the test bed (`tests/rfc4475.rs`): every valid
//! one is read, and every invalid one whose fault lies in what is read is refused.

use super::Dropped;

/// The largest CSeq number (RFC 3261 8.1.1.5: less than 2**31).
const MAX_CSEQ: u32 = (1 << 31) - 1;

/// The start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { status: u16 },
}

/// A message's start line and headers, checked.
#[derive(Debug)]
pub struct Message<'a> {
    pub start: Start<'a>,
    headers: Vec<(&'a str, &'a str)>,
}

/// A name-addr or addr-spec header (To, From, Contact…): its URI and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub uri: &'a str,
    /// What follows the address: `;tag=…;…`.
    pub params: &'a str,
}

impl<'a> Message<'a> {
    /// The message in `normalized`, or why it is refused.
    pub fn parse(normalized: &'a [u8]) -> Result<Message<'a>, Dropped> {
        let end = (normalized.windows(4))
            .position(|w| w == b"\r\n\r\n")
            .ok_or(Dropped::Truncated)?;
        let head = std::str::from_utf8(&normalized[..end]).map_err(|_| Dropped::NotText)?;
        let body = normalized.len() - end - 4;
        let mut lines = head.split("\r\n");
        let start = start_line(lines.next().unwrap_or_default())?;
        let headers = (lines.map(|l| l.split_once(": ").ok_or(Dropped::Unparseable)))
            .collect::<Result<Vec<_>, _>>()?;
        if !headers.iter().all(|(name, _)| is_token(name)) {
            return Err(Dropped::Unparseable);
        }
        let msg = Message { start, headers };
        msg.check(body)?;
        Ok(msg)
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &'a str> + '_ {
        let name = name.to_owned();
        (self.headers.iter())
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| *v)
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// The one value of a header a message carries once; none or several are
    /// refused.
    fn single(&self, name: &str) -> Result<&'a str, Dropped> {
        let mut values = self.all(name);
        match (values.next(), values.next()) {
            (Some(value), None) => Ok(value),
            (None, _) => Err(Dropped::MissingHeader),
            (Some(_), Some(_)) => Err(Dropped::Unparseable),
        }
    }

    pub fn call_id(&self) -> Result<&'a str, Dropped> {
        self.single("call-id")
    }

    /// The CSeq's method.
    pub fn cseq_method(&self) -> Result<&'a str, Dropped> {
        let cseq = self.single("cseq")?;
        let (number, method) =
            (cseq.split_once(char::is_whitespace)).ok_or(Dropped::Unparseable)?;
        let number = number.parse::<u32>().map_err(|_| Dropped::Unparseable)?;
        let method = method.trim();
        match number <= MAX_CSEQ && is_token(method) {
            true => Ok(method),
            false => Err(Dropped::Unparseable),
        }
    }

    /// The top Via's branch ("" when it has none, as RFC 2543's Vias).
    pub fn branch(&self) -> Result<&'a str, Dropped> {
        let via = self.header("via").ok_or(Dropped::MissingHeader)?;
        let first = split_outside_quotes(via, ',').next().unwrap_or_default();
        let mut parts = split_outside_quotes(first, ';');
        let sent = parts.next().unwrap_or_default();
        let protocol: String = sent.split('/').map(str::trim).collect::<Vec<_>>().join("/");
        let mut words = protocol.splitn(2, char::is_whitespace);
        let (protocol, host) = (words.next().unwrap_or_default(), words.next().unwrap_or(""));
        let transport = (protocol.get(..8))
            .filter(|p| p.eq_ignore_ascii_case("SIP/2.0/"))
            .and_then(|_| protocol.get(8..));
        if !transport.is_some_and(is_token) || host.trim().is_empty() {
            return Err(Dropped::Unparseable);
        }
        let mut branch = "";
        for param in parts {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            let name = name.trim();
            if !is_token(name) {
                return Err(Dropped::Unparseable);
            }
            if name.eq_ignore_ascii_case("branch") {
                branch = value.trim();
            }
        }
        Ok(branch)
    }

    /// Checks what tracking reads: each once, each in its shape, and the body as
    /// long as the message says.
    fn check(&self, body: usize) -> Result<(), Dropped> {
        let call_id = self.call_id()?;
        if call_id.is_empty() || call_id.chars().any(char::is_whitespace) {
            return Err(Dropped::Unparseable);
        }
        let method = self.cseq_method()?;
        if let Start::Request { method: asked, .. } = self.start
            && asked != method
        {
            return Err(Dropped::Unparseable);
        }
        self.branch()?;
        address(self.single("to")?)?;
        address(self.single("from")?)?;
        let mut lengths = self.all("content-length");
        match (lengths.next(), lengths.next()) {
            (None, _) => Ok(()),
            (Some(length), None) => match length.parse::<usize>() {
                Ok(length) if length <= body => Ok(()),
                Ok(_) => Err(Dropped::Truncated),
                Err(_) => Err(Dropped::Unparseable),
            },
            (Some(_), Some(_)) => Err(Dropped::Unparseable),
        }
    }
}

/// `INVITE sip:101@pbx SIP/2.0`, or `SIP/2.0 200 OK`: single spaces, a method
/// token, a URI with a scheme and no headers, version 2.0, a code of 100–699.
fn start_line(line: &str) -> Result<Start<'_>, Dropped> {
    if let Some(rest) = strip_version(line).and_then(|r| r.strip_prefix(' ')) {
        let code = rest.get(..3).ok_or(Dropped::Unparseable)?;
        let status = code.parse::<u16>().map_err(|_| Dropped::Unparseable)?;
        let reason_follows = rest.len() == 3 || rest.as_bytes()[3] == b' ';
        return match (100..=699).contains(&status)
            && reason_follows
            && code.bytes().all(|b| b.is_ascii_digit())
        {
            true => Ok(Start::Response { status }),
            false => Err(Dropped::Unparseable),
        };
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Dropped::Unparseable);
    };
    match is_token(method) && request_uri(uri) && strip_version(version) == Some("") {
        true => Ok(Start::Request { method, uri }),
        false => Err(Dropped::Unparseable),
    }
}

/// What follows `SIP/2.0` (in any case) at the start of `text`.
fn strip_version(text: &str) -> Option<&str> {
    let version = text.get(..7)?;
    version.eq_ignore_ascii_case("SIP/2.0").then(|| &text[7..])
}

/// A Request-URI: a scheme, then no space, no angle brackets or quotes, and no
/// headers (`?…` after the host).
fn request_uri(uri: &str) -> bool {
    let host = uri.rsplit('@').next().unwrap_or(uri);
    has_scheme(uri) && !uri.contains(['<', '>', '"', ' ', '\t']) && !host.contains('?')
}

/// `sip:`, `sips:`, `tel:`… (RFC 3986's scheme, then a colon).
fn has_scheme(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// A To, From or Contact value's first address: `"Name" <uri>;params`, `Name
/// <uri>;params` or `uri;params`. An unquoted name is taken as written (RFC 3261
/// wants tokens, but phones write `Иван Петров <sip:…>`, and tracking never reads
/// it); only its quotes must balance.
pub fn address(value: &str) -> Result<Address<'_>, Dropped> {
    let value = value.trim();
    let after_name = match value.strip_prefix('"') {
        Some(quoted) => {
            let close = closing_quote(quoted).ok_or(Dropped::Unparseable)?;
            quoted[close + 1..].trim_start()
        }
        None => value,
    };
    let (uri, params) = match after_name.find('<') {
        Some(open) => {
            let name = &after_name[..open];
            if value.starts_with('"') && !name.trim().is_empty() || name.contains('"') {
                return Err(Dropped::Unparseable);
            }
            let rest = &after_name[open + 1..];
            let close = rest.find('>').ok_or(Dropped::Unparseable)?;
            (&rest[..close], &rest[close + 1..])
        }
        None if value.starts_with('"') => return Err(Dropped::Unparseable),
        None => {
            let end = value.find(';').unwrap_or(value.len());
            (value[..end].trim(), &value[end..])
        }
    };
    match has_scheme(uri) && !uri.contains(char::is_whitespace) {
        true => Ok(Address { uri, params }),
        false => Err(Dropped::Unparseable),
    }
}

/// Where the quoted string in `text` (its opening quote gone) ends, a backslash
/// escaping the character after it.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// `text` split at `sep`, except inside a quoted string.
pub fn split_outside_quotes(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter()
}

/// RFC 3261's token: letters, digits and `-.!%*_+`'~`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_each_form() {
        let quoted = address(r#""J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98"#);
        assert_eq!(
            quoted.map(|a| a.uri),
            Ok("sip:jdrosen@example.com"),
            "an escaped quote inside the name"
        );
        let bare = address("sip:vivekg@example.com ;   tag    = 1918");
        assert_eq!(
            bare.map(|a| (a.uri, a.params)),
            Ok(("sip:vivekg@example.com", ";   tag    = 1918"))
        );
        assert!(address("caller<sip:caller@example.com>;tag=323").is_ok());
        assert!(
            address(r#""Mr. J. User <sip:j.user@example.com>"#).is_err(),
            "unbalanced"
        );
        assert!(
            address("Иван Петров <sip:+79123456789@pbx>").is_ok(),
            "a name as phones write it"
        );
        assert!(
            address(r#"Ivan "the" Petrov <sip:a@b>"#).is_err(),
            "a stray quote"
        );
        assert!(
            address("< sip:t.watson@example.org >").is_err(),
            "spaces in the URI"
        );
        assert!(address("<sip:a@b").is_err(), "no closing bracket");
        assert!(address("no-scheme@example.com").is_err());
    }

    #[test]
    fn start_lines() {
        assert_eq!(
            start_line("SIP/2.0 100 "),
            Ok(Start::Response { status: 100 })
        );
        assert_eq!(
            start_line("SIP/2.0 200"),
            Ok(Start::Response { status: 200 })
        );
        for bad in [
            "SIP/2.0 4294967301 Foo",
            "SIP/7.0 200 OK",
            "SIP/2.0 099 Early",
            "INVITE  sip:a@b SIP/2.0",
            "INVITE sip:a@b SIP/2.0 ",
            "INVITE <sip:a@b> SIP/2.0",
            "INVITE sip:a@b?Route=%3Csip:x%3E SIP/2.0",
            "INVITE sip:a@b SIP/7.0",
            "INV ITE sip:a@b SIP/2.0",
        ] {
            assert_eq!(start_line(bad), Err(Dropped::Unparseable), "{bad}");
        }
        assert!(matches!(
            start_line("!interesting-Method0123456789_*+`.%indeed'~ sip:a?b@c SIP/2.0"),
            Ok(Start::Request { .. })
        ));
    }
}
