//! SIP over a byte stream (TCP): messages are delimited by the blank line after the
//! headers plus `Content-Length` bytes of body; CRLF keep-alives between messages are
//! skipped. A stream that cannot be framed is an error and the connection is closed.

use super::normalize::{MAX_HEADERS, header_end};

/// Largest body accepted on a stream.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("headers larger than {MAX_HEADERS} bytes")]
    HeadersTooLarge,
    #[error("bad Content-Length")]
    BadContentLength,
    #[error("body larger than {MAX_BODY} bytes")]
    BodyTooLarge,
}

/// Takes the next complete message off the front of `buf`: `Ok(Some(message))`,
/// `Ok(None)` when more bytes are needed.
pub fn next_message(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, FrameError> {
    let padding = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    buf.drain(..padding);
    if buf.is_empty() {
        return Ok(None);
    }
    let Some((end, body_start)) = header_end(buf) else {
        return if buf.len() > MAX_HEADERS {
            Err(FrameError::HeadersTooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEADERS {
        return Err(FrameError::HeadersTooLarge);
    }
    let body_len = content_length(&buf[..end])?;
    if body_len > MAX_BODY {
        return Err(FrameError::BodyTooLarge);
    }
    let total = body_start + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(buf.drain(..total).collect()))
}

/// The Content-Length header (full or compact `l`); a stream message must have one.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let head = String::from_utf8_lossy(head);
    for line in head.split('\n') {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            return value
                .trim()
                .parse()
                .map_err(|_| FrameError::BadContentLength);
        }
    }
    Err(FrameError::BadContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_by_content_length_and_keepalives_skipped() {
        let mut buf = b"\r\n\r\nOPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcBYE sip:b SIP/2.0\r\nl: 0\r\n\r\nINV".to_vec();
        let first = next_message(&mut buf).expect("ok").expect("first");
        assert!(first.ends_with(b"\r\n\r\nabc"));
        let second = next_message(&mut buf).expect("ok").expect("second");
        assert!(second.starts_with(b"BYE"));
        assert_eq!(next_message(&mut buf), Ok(None), "the third is incomplete");
        assert_eq!(buf, b"INV");
    }

    #[test]
    fn a_body_waits_for_its_bytes() {
        let mut buf = b"MESSAGE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc".to_vec();
        assert_eq!(next_message(&mut buf), Ok(None));
        buf.extend_from_slice(b"defghij");
        assert!(next_message(&mut buf).expect("ok").is_some());
    }

    #[test]
    fn unframeable_streams_are_errors() {
        let mut no_length = b"INVITE sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n".to_vec();
        assert_eq!(
            next_message(&mut no_length),
            Err(FrameError::BadContentLength)
        );
        let mut bad = b"INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n".to_vec();
        assert_eq!(next_message(&mut bad), Err(FrameError::BadContentLength));
        let mut huge = b"INVITE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n".to_vec();
        assert_eq!(next_message(&mut huge), Err(FrameError::BodyTooLarge));
        let mut endless = vec![b'a'; MAX_HEADERS + 1];
        assert_eq!(next_message(&mut endless), Err(FrameError::HeadersTooLarge));
    }
}
